package replica

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/srdb-go/srdb"
)

// cutStream is a raft.StreamLayer over a loopback TCP listener that a test
// can cut: every connection in and out is closed and new ones are refused
// until Heal. Cutting it is "closing the node's transport" without closing
// raft, i.e. a network partition of that node.
type cutStream struct {
	net.Listener
	mu    sync.Mutex // guards cut and conns
	cut   bool
	conns map[net.Conn]bool
}

func newCutStream(t *testing.T, addr string) *cutStream {
	t.Helper()
	var (
		l   net.Listener
		err error
	)
	// A restarted node rebinds its port; the old socket may linger briefly.
	for try := 0; try < 50; try++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return &cutStream{Listener: l, conns: map[net.Conn]bool{}}
}

func (s *cutStream) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut {
		c.Close()
		return nil, errors.New("cutStream: partitioned")
	}
	s.conns[c] = true
	return c, nil
}

func (s *cutStream) Accept() (net.Conn, error) {
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c, err := s.track(c); err == nil {
			return c, nil
		}
	}
}

func (s *cutStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	cut := s.cut
	s.mu.Unlock()
	if cut {
		return nil, errors.New("cutStream: partitioned")
	}
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

// Cut partitions the node: closes every connection and refuses new ones.
func (s *cutStream) Cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	for c := range s.conns {
		c.Close()
	}
	clear(s.conns)
}

// Heal ends the partition.
func (s *cutStream) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = false
}

// testRaftConfig is a raft configuration with short timeouts for loopback
// tests.
func testRaftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotInterval = time.Hour // tests snapshot on demand
	c.SnapshotThreshold = 1 << 40
	return c
}

// cluster is a raft group of nodes on loopback TCP, each in its own dir.
type cluster struct {
	t       *testing.T
	mu      sync.Mutex // guards nodes (writers read it while the test stops nodes)
	nodes   []*Node    // nil while a node is stopped
	streams []*cutStream
	dirs    []string
	addrs   []string
	conf    func() *raft.Config
}

func newCluster(t *testing.T, size int, conf func() *raft.Config) *cluster {
	t.Helper()
	if conf == nil {
		conf = testRaftConfig
	}
	c := &cluster{t: t, conf: conf, nodes: make([]*Node, size), streams: make([]*cutStream, size), dirs: make([]string, size), addrs: make([]string, size)}
	base := t.TempDir()
	for i := range size {
		c.dirs[i] = filepath.Join(base, fmt.Sprintf("n%d", i))
		c.addrs[i] = "127.0.0.1:0"
		c.start(i)
		c.addrs[i] = c.nodes[i].Addr()
	}
	var servers []Server
	for i := range size {
		servers = append(servers, Server{ID: c.id(i), Addr: c.addrs[i]})
	}
	if err := c.nodes[0].Bootstrap(servers...); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	c.leader(10 * time.Second)
	return c
}

func (c *cluster) id(i int) string { return fmt.Sprintf("n%d", i) }

// start starts node i (again) on its dir and address.
func (c *cluster) start(i int) {
	c.t.Helper()
	s := newCutStream(c.t, c.addrs[i])
	trans := raft.NewNetworkTransportWithLogger(s, 4, 2*time.Second, hclog.NewNullLogger())
	n, err := NewNode(Config{ID: c.id(i), Dir: c.dirs[i], Transport: trans, Raft: c.conf(), ApplyTimeout: 5 * time.Second})
	if err != nil {
		s.Close()
		c.t.Fatalf("start node %d: %v", i, err)
	}
	c.mu.Lock()
	c.nodes[i], c.streams[i] = n, s
	c.mu.Unlock()
}

// node returns node i (nil while stopped).
func (c *cluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// running returns the running nodes.
func (c *cluster) running() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// leaderNode returns the running leader, or nil.
func (c *cluster) leaderNode() *Node {
	for _, n := range c.running() {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

// stop closes node i (like a killed process: raft stops; acknowledged
// writes are durable in its dirs).
func (c *cluster) stop(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return
	}
	if err := n.Close(); err != nil {
		c.t.Errorf("close node %d: %v", i, err)
	}
}

// leader waits for a leader among the running nodes and returns its index.
func (c *cluster) leader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i := range c.nodes {
			if n := c.node(i); n != nil && n.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return -1
}

// converge waits until every running node has applied the leader's last
// command index and checks that their databases are identical.
func (c *cluster) converge(timeout time.Duration) {
	c.t.Helper()
	l := c.leader(timeout)
	// A barrier makes the leader apply everything committed.
	if err := c.node(l).raft.Barrier(timeout).Error(); err != nil {
		c.t.Fatalf("barrier: %v", err)
	}
	want := c.node(l).AppliedIndex()
	deadline := time.Now().Add(timeout)
	for {
		behind := ""
		for _, n := range c.running() {
			if n.AppliedIndex() < want {
				behind += fmt.Sprintf(" %s at %d;", n.ID(), n.AppliedIndex())
			}
		}
		if behind == "" {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not converge to index %d within %v:%s", want, timeout, behind)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ref *Node
	for _, n := range c.running() {
		if ref == nil {
			ref = n
			continue
		}
		compareNodes(c.t, ref, n)
	}
	for _, n := range c.running() {
		if err := n.Read(StaleOK, func(db *srdb.Database) error { return db.Check() }); err != nil {
			c.t.Errorf("node %s: Check: %v", n.ID(), err)
		}
	}
}

// dump is every row of every user table of a node: table → rows in seq
// order, each seq, time and fields.
type dumpRow struct {
	Seq  int64
	Time int64
	Data map[string]any
}

func dumpNode(t *testing.T, n *Node) map[string][]dumpRow {
	t.Helper()
	out := map[string][]dumpRow{}
	err := n.Read(StaleOK, func(db *srdb.Database) error { return dumpDB(db, out) })
	if err != nil {
		t.Fatalf("dump %s: %v", n.ID(), err)
	}
	return out
}

func dumpDB(db *srdb.Database, out map[string][]dumpRow) error {
	for _, name := range db.Tables() {
		if name == MetaTable {
			continue
		}
		tb, err := db.Table(name)
		if err != nil {
			return err
		}
		rows, err := tb.Query().OrderBy("_seq").Rows()
		if err != nil {
			return err
		}
		list := []dumpRow{}
		for rows.Next() {
			r := rows.Row()
			list = append(list, dumpRow{Seq: r.Seq(), Time: r.Time().UnixNano(), Data: r.Data()})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		out[name+" schema "+tb.Schema().String()+fmt.Sprint(tb.Indexes(), tb.Options())] = nil
		out[name] = list
	}
	return nil
}

// compareNodes fails unless a and b hold the same tables and rows.
func compareNodes(t *testing.T, a, b *Node) {
	t.Helper()
	compareDumps(t, a.ID(), dumpNode(t, a), b.ID(), dumpNode(t, b))
}

func compareDumps(t *testing.T, an string, da map[string][]dumpRow, bn string, db map[string][]dumpRow) {
	t.Helper()
	for name := range da {
		if _, ok := db[name]; !ok {
			t.Errorf("%s has %q, %s does not", an, name, bn)
		}
	}
	for name, rb := range db {
		ra, ok := da[name]
		if !ok {
			t.Errorf("%s has %q, %s does not", bn, name, an)
			continue
		}
		if len(ra) != len(rb) {
			t.Errorf("table %s: %s has %d rows, %s has %d", name, an, len(ra), bn, len(rb))
		}
		for i := range min(len(ra), len(rb)) {
			if !reflect.DeepEqual(ra[i], rb[i]) {
				t.Errorf("table %s row %d: %s has %+v, %s has %+v", name, i, an, ra[i], bn, rb[i])
				break
			}
		}
	}
}

// insert inserts data through the current leader, waiting out an election
// (up to 20s); a write whose outcome is unknown is an error (a retry could
// store it twice and the callers count rows). Safe from any goroutine.
func (c *cluster) insert(table string, data any) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := c.leaderNode()
		if n != nil {
			_, err := n.Insert(table, data)
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) {
				return fmt.Errorf("insert: %w", err)
			}
		}
		if time.Now().After(deadline) {
			return errors.New("insert: no leader for 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// snapshotAll makes every running node but skip take a raft snapshot (and
// truncate its log), so whichever of them leads must send skip a snapshot.
func (c *cluster) snapshotAll(skip int) {
	c.t.Helper()
	for i := range c.nodes {
		if n := c.node(i); n != nil && i != skip {
			if err := n.raft.Snapshot().Error(); err != nil {
				c.t.Fatalf("snapshot of %s: %v", n.ID(), err)
			}
		}
	}
}
