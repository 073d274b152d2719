package replica

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/srdb-go/srdb"
)

// msgsSchema is the table the cluster tests write: k is the client's key.
func msgsSchema(t *testing.T) *srdb.Schema {
	t.Helper()
	s, err := srdb.NewSchema("msgs", []srdb.Field{
		{Name: "channel", Type: srdb.String, Indexed: true},
		{Name: "k", Type: srdb.Int64},
		{Name: "body", Type: srdb.String},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msgRow(k int64) map[string]any {
	return map[string]any{"channel": fmt.Sprintf("c%d", k%10), "k": k, "body": fmt.Sprintf("message %d", k)}
}

// writer inserts keys [0, total) through whichever node leads, retrying
// until each is acknowledged; it records the seq acknowledged for each key.
type writer struct {
	c       *cluster
	total   int64
	next    atomic.Int64
	ackedN  atomic.Int64
	mu      sync.Mutex      // guards acked and unknown
	acked   map[int64]int64 // key → seq acknowledged
	unknown map[int64]bool  // keys that got an outcome-unknown error once
}

func newWriter(c *cluster, total int64) *writer {
	return &writer{c: c, total: total, acked: map[int64]int64{}, unknown: map[int64]bool{}}
}

// run starts conc goroutines and returns a channel closed when every key
// is acknowledged or the deadline passed (then err is set).
func (w *writer) run(conc int, deadline time.Time) (done chan struct{}, errp *atomic.Pointer[error]) {
	done = make(chan struct{})
	errp = &atomic.Pointer[error]{}
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := w.next.Add(1) - 1
				if k >= w.total {
					return
				}
				for {
					if time.Now().After(deadline) {
						err := fmt.Errorf("key %d not acknowledged before the deadline", k)
						errp.CompareAndSwap(nil, &err)
						return
					}
					n := w.c.leaderNode()
					if n == nil {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					seq, err := n.Insert("msgs", msgRow(k))
					if err == nil {
						w.mu.Lock()
						w.acked[k] = seq
						w.mu.Unlock()
						w.ackedN.Add(1)
						break
					}
					if errors.Is(err, ErrOutcomeUnknown) {
						w.mu.Lock()
						w.unknown[k] = true
						w.mu.Unlock()
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done, errp
}

// checkAcked verifies on every running node that each acknowledged key is
// there with the acknowledged seq, and that no key is stored twice unless
// a try of it had an unknown outcome.
func (w *writer) checkAcked(t *testing.T) {
	t.Helper()
	for _, n := range w.c.running() {
		d := dumpNode(t, n)
		seen := map[int64][]int64{}
		for _, r := range d["msgs"] {
			k := r.Data["k"].(int64)
			seen[k] = append(seen[k], r.Seq)
		}
		w.mu.Lock()
		lost := 0
		for k, seq := range w.acked {
			found := false
			for _, s := range seen[k] {
				found = found || s == seq
			}
			if !found {
				lost++
				if lost < 5 {
					t.Errorf("%s: acknowledged key %d (seq %d) missing; has seqs %v", n.ID(), k, seq, seen[k])
				}
			}
		}
		for k, seqs := range seen {
			if len(seqs) > 1 && !w.unknown[k] {
				t.Errorf("%s: key %d stored %d times (%v) with no unknown outcome", n.ID(), k, len(seqs), seqs)
			}
		}
		w.mu.Unlock()
		if lost > 0 {
			t.Errorf("%s: %d acknowledged writes lost", n.ID(), lost)
		}
	}
}

// TestClusterLeaderKilled: 3 nodes on loopback TCP, writers insert 10,000
// rows; half way the leader is stopped; a new leader is elected within a
// few seconds; every acknowledged write is on both survivors; the old
// leader restarts and converges; every table is identical and Check clean.
func TestClusterLeaderKilled(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader(5 * time.Second)
	if err := c.node(l).CreateTable("msgs", msgsSchema(t)); err != nil {
		t.Fatal(err)
	}
	const total = 10000
	w := newWriter(c, total)
	start := time.Now()
	done, errp := w.run(16, start.Add(90*time.Second))
	for w.ackedN.Load() < total/2 {
		select {
		case <-done:
			t.Fatalf("writers stopped early: %v", *errp.Load())
		case <-time.After(5 * time.Millisecond):
		}
	}
	old := c.leader(time.Second)
	c.stop(old)
	stopped := time.Now()
	nl := c.leader(5 * time.Second)
	elected := time.Since(stopped)
	t.Logf("leader n%d stopped after %d acks; n%d leads after %v", old, w.ackedN.Load(), nl, elected)
	if elected > 5*time.Second {
		t.Fatalf("new leader after %v", elected)
	}
	<-done
	if p := errp.Load(); p != nil {
		t.Fatal(*p)
	}
	t.Logf("%d inserts acknowledged in %v (%d with an unknown outcome on some try)", total, time.Since(start), len(w.unknown))
	c.converge(20 * time.Second) // the two survivors
	w.checkAcked(t)
	c.start(old)
	c.converge(30 * time.Second) // and the restarted node
	w.checkAcked(t)
}

// TestClusterFollowerDown: with one follower stopped the others go on
// writing; reads: a follower refuses writes and Linearizable reads with the
// leader's address and serves StaleOK reads; the follower converges after
// its restart.
func TestClusterFollowerDown(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader(5 * time.Second)
	leader := c.node(l)
	if err := leader.CreateTable("msgs", msgsSchema(t)); err != nil {
		t.Fatal(err)
	}
	f := (l + 1) % 3
	follower := c.node(f)
	_, err := follower.Insert("msgs", msgRow(0))
	var nle *NotLeaderError
	if !errors.As(err, &nle) || !errors.Is(err, ErrNotLeader) || nle.Leader != leader.Addr() {
		t.Fatalf("insert on a follower: %v (want NotLeaderError naming %s)", err, leader.Addr())
	}
	if err := follower.Read(Linearizable, func(*srdb.Database) error { return nil }); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("linearizable read on a follower: %v", err)
	}
	w := newWriter(c, 1500)
	done, errp := w.run(8, time.Now().Add(60*time.Second))
	for w.ackedN.Load() < 500 {
		time.Sleep(5 * time.Millisecond)
	}
	c.stop(f)
	<-done
	if p := errp.Load(); p != nil {
		t.Fatal(*p)
	}
	var count int
	if err := leader.Read(Linearizable, func(db *srdb.Database) error {
		tb, err := db.Table("msgs")
		if err != nil {
			return err
		}
		count, err = tb.Query().Count()
		return err
	}); err != nil || count != 1500 {
		t.Fatalf("linearizable count on the leader: %d, %v", count, err)
	}
	c.start(f)
	c.converge(30 * time.Second)
	w.checkAcked(t)
	if err := c.node(f).Read(StaleOK, func(db *srdb.Database) error {
		tb, err := db.Table("msgs")
		if err != nil {
			return err
		}
		count, err = tb.Query().Count()
		return err
	}); err != nil || count != 1500 {
		t.Fatalf("stale count on the restarted follower: %d, %v", count, err)
	}
}

// TestClusterPartition: the leader's transport is cut (every connection
// closed, none accepted or dialled); the two others elect a leader and go
// on; a write sent to the cut-off leader is not acknowledged and never
// appears; after the cut heals every node converges.
func TestClusterPartition(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader(5 * time.Second)
	if err := c.node(l).CreateTable("msgs", msgsSchema(t)); err != nil {
		t.Fatal(err)
	}
	w := newWriter(c, 600)
	done, errp := w.run(8, time.Now().Add(60*time.Second))
	for w.ackedN.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	old := c.node(l)
	c.streams[l].Cut()
	cut := time.Now()
	// The isolated leader cannot commit: its write fails.
	_, err := old.Insert("msgs", msgRow(1_000_000))
	if err == nil {
		t.Fatal("a write on the partitioned leader was acknowledged")
	}
	t.Logf("write on the partitioned leader: %v", err)
	var nl int
	deadline := time.Now().Add(5 * time.Second)
	for {
		nl = -1
		for i := range c.nodes {
			if n := c.node(i); i != l && n != nil && n.IsLeader() {
				nl = i
			}
		}
		if nl >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader among the majority within 5s of the cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("n%d leads %v after the cut", nl, time.Since(cut))
	<-done
	if p := errp.Load(); p != nil {
		t.Fatal(*p)
	}
	c.streams[l].Heal()
	c.converge(30 * time.Second)
	w.checkAcked(t)
	for _, n := range c.running() {
		for _, r := range dumpNode(t, n)["msgs"] {
			if r.Data["k"].(int64) == 1_000_000 {
				t.Errorf("%s holds the write the partitioned leader never acknowledged", n.ID())
			}
		}
	}
}

// TestClusterSnapshotCatchUp: a follower is down while 100,000 rows are
// written and the leader snapshots and truncates its log; restarted, the
// follower installs the snapshot (a Checkpoint streamed as tar, restored by
// a directory swap) and the log after it, and converges. Restarted again, it
// keeps its database (raft's restore at start is skipped: the database is
// at or past the snapshot) and replays nothing twice.
func TestClusterSnapshotCatchUp(t *testing.T) {
	conf := func() *raft.Config {
		c := testRaftConfig()
		c.TrailingLogs = 10
		return c
	}
	c := newCluster(t, 3, conf)
	l := c.leader(5 * time.Second)
	leader := c.node(l)
	if err := leader.CreateTable("msgs", msgsSchema(t)); err != nil {
		t.Fatal(err)
	}
	f := (l + 1) % 3
	c.stop(f)
	const rows, per = 100_000, 200
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := next.Add(1) - 1
				if b*per >= rows {
					return
				}
				batch := make([]map[string]any, per)
				for i := range batch {
					batch[i] = msgRow(b*per + int64(i))
				}
				if err := c.insert("msgs", batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c.snapshotAll(f)
	// A few writes after the snapshot: the follower gets them from the log.
	for k := int64(rows); k < rows+20; k++ {
		if err := c.insert("msgs", msgRow(k)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	c.start(f)
	c.converge(60 * time.Second)
	t.Logf("follower caught up with %d rows in %v", rows+20, time.Since(start))
	if s := c.node(f).swaps.Load(); s != 1 {
		t.Fatalf("follower restored %d snapshots, want 1", s)
	}
	applied := c.node(f).AppliedIndex()
	c.stop(f)
	c.start(f)
	if got := c.node(f).swaps.Load(); got != 0 {
		t.Fatalf("restart restored a snapshot over a database that holds it")
	}
	if got := c.node(f).AppliedIndex(); got != applied {
		t.Fatalf("applied index %d after restart, %d before", got, applied)
	}
	c.converge(30 * time.Second)
	for _, n := range c.running() {
		if got := len(dumpNode(t, n)["msgs"]); got != rows+20 {
			t.Errorf("%s has %d rows, want %d", n.ID(), got, rows+20)
		}
	}
}

// TestClusterSchemaCommands: CreateTable, AddField, CreateIndex,
// SetOptions, DeleteRange, DeleteBefore, a cross-table Batch and DropTable
// through the log; refused ones refused on the leader with typed errors.
func TestClusterSchemaCommands(t *testing.T) {
	c := newCluster(t, 3, nil)
	n := c.node(c.leader(5 * time.Second))
	if err := n.CreateTable("msgs", msgsSchema(t)); err != nil {
		t.Fatal(err)
	}
	if err := n.CreateTable("msgs", msgsSchema(t)); srdb.ErrorCode(err) != srdb.CodeTableExists {
		t.Fatalf("second CreateTable: %v", err)
	}
	s2, _ := srdb.NewSchema("seqs", []srdb.Field{{Name: "channel", Type: srdb.String}, {Name: "last", Type: srdb.Int64}})
	if err := n.CreateTable("seqs", s2); err != nil {
		t.Fatal(err)
	}
	for k := range int64(50) {
		if _, err := n.Insert("msgs", msgRow(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Insert("msgs", map[string]any{"k": "x"}); srdb.ErrorCode(err) != srdb.CodeSchemaViolation {
		t.Fatalf("bad row: %v", err)
	}
	if _, err := n.Insert(MetaTable, map[string]any{metaField: int64(1)}); srdb.ErrorCode(err) != srdb.CodeInvalidName {
		t.Fatalf("write to the meta table: %v", err)
	}
	if err := n.AddField("msgs", srdb.Field{Name: "tag", Type: srdb.String, Nullable: true}); err != nil {
		t.Fatal(err)
	}
	if err := n.CreateIndex("msgs", "channel", "k"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetOptions("msgs", srdb.TableOptions{MaxBytes: 1 << 20}); srdb.ErrorCode(err) != srdb.CodeInvalidArgument {
		t.Fatalf("MaxBytes: %v", err)
	}
	if err := n.SetOptions("msgs", srdb.TableOptions{MaxAge: 1000 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	seqs, err := n.NewBatch().
		Insert("msgs", map[string]any{"channel": "c1", "k": int64(100), "body": "b", "tag": "t"}).
		Insert("seqs", map[string]any{"channel": "c1", "last": int64(100)}).
		Update("msgs", 1, map[string]any{"body": "edited"}).
		Delete("msgs", 2).
		Commit()
	if err != nil || len(seqs) != 2 || seqs[0] != 51 || seqs[1] != 1 {
		t.Fatalf("batch: %v %v", seqs, err)
	}
	if _, err := n.NewBatch().Update("msgs", 2, map[string]any{"body": "x"}).Commit(); !srdb.IsNotFound(err) {
		t.Fatalf("update of a deleted row: %v", err)
	}
	if err := n.DeleteRange("msgs", 10, 20); err != nil {
		t.Fatal(err)
	}
	if err := n.DeleteBefore("msgs", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Unique keys and Upsert through the log: a register created unique
	// by channel, upserted alone and inside a batch; a duplicate refused on
	// every node alike.
	s3, _ := srdb.NewSchema("reg", []srdb.Field{{Name: "channel", Type: srdb.String}, {Name: "last", Type: srdb.Int64}}, srdb.WithUniqueIndex("channel"))
	if err := n.CreateTable("reg", s3); err != nil {
		t.Fatal(err)
	}
	r1, err := n.Upsert("reg", map[string]any{"channel": "c1", "last": int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	seqs, err = n.NewBatch().
		Insert("msgs", map[string]any{"channel": "c1", "k": int64(101), "body": "b"}).
		Upsert("reg", map[string]any{"channel": "c1", "last": int64(2)}).
		Commit()
	if err != nil || len(seqs) != 2 || seqs[1] != r1 {
		t.Fatalf("batch with an upsert: %v %v (the register row is seq %d)", seqs, err, r1)
	}
	if _, err := n.Insert("reg", map[string]any{"channel": "c1", "last": int64(3)}); !errors.Is(err, srdb.ErrDuplicateKey) {
		t.Fatalf("duplicate key: %v", err)
	}
	if err := n.CreateUniqueIndex("msgs", "channel", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Insert("msgs", map[string]any{"channel": "c1", "k": int64(101), "body": "again"}); !errors.Is(err, srdb.ErrDuplicateKey) {
		t.Fatalf("duplicate (channel, k): %v", err)
	}
	if err := n.DropTable("seqs"); err != nil {
		t.Fatal(err)
	}
	c.converge(20 * time.Second)
	d := dumpNode(t, n)
	if got := len(d["reg"]); got != 1 {
		t.Fatalf("reg has %d rows", got)
	}
	for _, node := range c.running() {
		id := node.ID()
		err := node.Read(StaleOK, func(db *srdb.Database) error {
			tb, err := db.Table("msgs")
			if err != nil {
				return err
			}
			if u := tb.Schema().UniqueIndexes(); len(u) != 1 || u[0] != "channel,k" {
				return fmt.Errorf("node %s: unique indexes %v", id, u)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(d["msgs"]); got != 52-1-10 {
		t.Fatalf("msgs has %d rows", got)
	}
	if _, ok := d["seqs"]; ok {
		t.Fatal("seqs not dropped")
	}
}

// TestClusterJoinAndRemove: a fourth node with an empty directory joins a
// running group (Join on the leader), catches up from a snapshot and the
// log, and leaves again (Remove); writes go on throughout.
func TestClusterJoinAndRemove(t *testing.T) {
	c := newCluster(t, 3, func() *raft.Config {
		c := testRaftConfig()
		c.TrailingLogs = 5
		return c
	})
	if err := c.insertTable(t); err != nil {
		t.Fatal(err)
	}
	for k := int64(0); k < 500; k += 50 {
		batch := make([]map[string]any, 50)
		for i := range batch {
			batch[i] = msgRow(k + int64(i))
		}
		if err := c.insert("msgs", batch); err != nil {
			t.Fatal(err)
		}
	}
	c.snapshotAll(-1)
	// Node 3: a new directory and address, not bootstrapped.
	c.mu.Lock()
	c.nodes = append(c.nodes, nil)
	c.streams = append(c.streams, nil)
	c.dirs = append(c.dirs, filepath.Join(t.TempDir(), "n3"))
	c.addrs = append(c.addrs, "127.0.0.1:0")
	c.mu.Unlock()
	c.start(3)
	c.addrs[3] = c.node(3).Addr()
	if err := c.node(c.leader(5*time.Second)).Join("n3", c.addrs[3]); err != nil {
		t.Fatalf("join: %v", err)
	}
	if err := c.insert("msgs", msgRow(1000)); err != nil {
		t.Fatal(err)
	}
	c.converge(30 * time.Second)
	if got := len(dumpNode(t, c.node(3))["msgs"]); got != 501 {
		t.Fatalf("the new node has %d rows, want 501", got)
	}
	if s := c.node(3).swaps.Load(); s != 1 {
		t.Fatalf("the new node restored %d snapshots, want 1", s)
	}
	if err := c.node(c.leader(5 * time.Second)).Remove("n3"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	c.stop(3)
	if err := c.insert("msgs", msgRow(1001)); err != nil {
		t.Fatal(err)
	}
	c.converge(30 * time.Second)
}

// insertTable creates the msgs table through the leader.
func (c *cluster) insertTable(t *testing.T) error {
	return c.node(c.leader(5*time.Second)).CreateTable("msgs", msgsSchema(t))
}
