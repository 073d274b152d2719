package replica

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/srdb-go/srdb"
)

// TestNodeTCPBindPortZero: a node on its own TCP transport bound to port 0
// advertises the port it got (not ":0"), elects itself as a group of one,
// writes, and reopens with its rows and applied index.
func TestNodeTCPBindPortZero(t *testing.T) {
	dir := t.TempDir()
	n, err := NewNode(Config{ID: "solo", Dir: dir, BindAddr: "127.0.0.1:0", Raft: testRaftConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(n.Addr(), ":0") {
		t.Fatalf("advertised address %s", n.Addr())
	}
	if err := n.Bootstrap(Server{ID: "solo", Addr: n.Addr()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !n.IsLeader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
	if err := n.CreateTable("msgs", msgsSchema(t)); err != nil {
		t.Fatal(err)
	}
	seq, err := n.Insert("msgs", []map[string]any{msgRow(1), msgRow(2)})
	if err != nil || seq != 1 {
		t.Fatalf("insert: %d %v", seq, err)
	}
	applied := n.AppliedIndex()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	n, err = NewNode(Config{ID: "solo", Dir: dir, BindAddr: "127.0.0.1:0", Raft: testRaftConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.AppliedIndex() != applied {
		t.Fatalf("applied %d after reopen, %d before", n.AppliedIndex(), applied)
	}
	if got := len(dumpNode(t, n)["msgs"]); got != 2 {
		t.Fatalf("%d rows after reopen", got)
	}
	if _, err := NewNode(Config{Dir: filepath.Join(dir, "x")}); srdb.ErrorCode(err) != srdb.CodeInvalidArgument {
		t.Fatalf("NewNode without ID: %v", err)
	}
}

// TestNodeTailAcrossRestore: a follower's Tail follows the rows it applies;
// the follower is cut off while the leader writes and snapshots past its
// log, so on healing it installs the snapshot into its running node (the
// database is swapped under the Tail); the Tail carries on and delivers
// every row once, in seq order.
func TestNodeTailAcrossRestore(t *testing.T) {
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
	c.converge(10 * time.Second) // the follower has the table
	f := (l + 1) % 3
	follower := c.node(f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu   sync.Mutex // guards seen
		seen []int64
	)
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- follower.Tail(ctx, "msgs", 1, func(r *srdb.Row) error {
			mu.Lock()
			seen = append(seen, r.Seq())
			mu.Unlock()
			return nil
		})
	}()
	insert := func(from, count int64) {
		t.Helper()
		for k := from; k < from+count; k += 20 {
			batch := make([]map[string]any, 20)
			for i := range batch {
				batch[i] = msgRow(k + int64(i))
			}
			if err := c.insert("msgs", batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, 100)
	c.streams[f].Cut()
	insert(100, 2000)
	c.snapshotAll(f)
	insert(2100, 20)
	c.streams[f].Heal()
	c.converge(30 * time.Second)
	if s := follower.swaps.Load(); s != 1 {
		t.Fatalf("follower restored %d snapshots while running, want 1", s)
	}
	const total = 2120
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail delivered %d of %d rows", n, total)
		}
	}
	cancel()
	select {
	case err := <-tailDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Tail ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Tail did not end after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Fatalf("tail delivered %d rows, want %d", len(seen), total)
	}
	for i, s := range seen {
		if s != int64(i+1) {
			t.Fatalf("row %d of the tail has seq %d", i, s)
		}
	}
}

// TestCloseUnblocksWriters: writers racing a leader's Close all return
// (an error for those in flight) instead of waiting forever on a raft
// future that the shut-down raft will never answer.
func TestCloseUnblocksWriters(t *testing.T) {
	for round := range 5 {
		dir := t.TempDir()
		_, trans := raft.NewInmemTransport("")
		n, err := NewNode(Config{ID: "solo", Dir: dir, Transport: trans, Raft: testRaftConfig()})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Bootstrap(Server{ID: "solo", Addr: n.Addr()}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); !n.IsLeader(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no leader")
			}
		}
		if err := n.CreateTable("msgs", msgsSchema(t)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var acked atomic.Int64
		for w := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int64(w); ; k += 64 {
					if _, err := n.Insert("msgs", msgRow(k)); err != nil {
						return
					}
					acked.Add(1)
				}
			}()
		}
		for acked.Load() < 200 {
			time.Sleep(time.Millisecond)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: writers still blocked 10s after Close", round)
		}
	}
}
