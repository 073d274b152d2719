// Package replica runs an SRDB database as the state machine of a raft
// group (github.com/hashicorp/raft, with raft-boltdb as log and stable
// store): a Node proposes writes on the leader, applies the committed log in
// order on every node, snapshots by srdb Checkpoint and restores by swapping
// the database directory. docs/CLUSTER.md describes the model and its
// guarantees.
//
// Writes go to the leader: on a follower they return a *NotLeaderError
// naming the leader (the node does not forward; a client retries there). A
// write returns after its log entry is committed by a majority and applied
// on the leader. Reads take a Consistency: Linearizable (leader only; a raft
// Barrier first) or StaleOK (any node, its local state).
package replica

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/srdb-go/srdb"
)

// Config configures a Node.
type Config struct {
	// ID is the node's raft server ID, unique in the group and stable
	// across restarts.
	ID string
	// Dir holds the node's state: data/ (the srdb database) and raft/ (the
	// raft log, stable store and snapshots). Created when missing.
	Dir string
	// BindAddr is the TCP address of the raft transport ("127.0.0.1:0"
	// picks a free port; Addr reports it). Ignored when Transport is set.
	BindAddr string
	// Advertise is the address other nodes reach this one at, when it is
	// not BindAddr's (a bind to 0.0.0.0). Ignored when Transport is set.
	Advertise string
	// Transport replaces the TCP transport (raft.NewInmemTransport in
	// tests, or a transport on a custom stream layer). The Node closes it
	// in Close when it implements io.Closer.
	Transport raft.Transport
	// Options are the database's options (nil: srdb.DefaultOptions()).
	// Durability is forced to DurabilitySync: the applied index must not be
	// durable before what it covers (fsm.go).
	Options *srdb.Options
	// Raft overrides the raft configuration (nil: raft.DefaultConfig());
	// LocalID is set from ID. Tests shorten the timeouts and lower
	// SnapshotThreshold / TrailingLogs.
	Raft *raft.Config
	// SnapshotRetain is how many raft snapshots to keep (default 2).
	SnapshotRetain int
	// ApplyTimeout bounds how long a write waits to be enqueued and
	// committed (default 10s).
	ApplyTimeout time.Duration
	// Logger receives the node's and raft's messages (nil: discarded).
	Logger *slog.Logger
}

// Node is one member of a replicated SRDB group. Its methods are safe for
// concurrent use.
type Node struct {
	id      string
	dir     string
	cfg     Config
	logger  *slog.Logger
	fsm     *fsm
	raft    *raft.Raft
	trans   raft.Transport
	store   *raftboltdb.BoltStore
	snapSeq counter // names of checkpoint directories
	swaps   counter // databases replaced by a snapshot restore

	closeOnce sync.Once
	closeErr  error
	// shutMu guards shut, set once raft is shut down (Close or a failure).
	shutMu sync.Mutex
	shut   bool
	// stopped is closed when raft is being shut down: waits on raft futures
	// end then (a future raft never answers must not hang a caller).
	stopped chan struct{}
}

// NotLeaderError is returned by a write (and a Linearizable read) on a node
// that is not the leader. errors.Is(err, ErrNotLeader) holds. Leader and
// LeaderID are empty while no leader is known.
type NotLeaderError struct {
	Leader   string // raft address of the leader, if known
	LeaderID string
	Cause    error // the raft error (raft.ErrNotLeader, raft.ErrLeadershipLost, …)
}

// ErrNotLeader matches every *NotLeaderError with errors.Is.
var ErrNotLeader = errors.New("replica: not the leader")

// Error describes the error.
func (e *NotLeaderError) Error() string {
	msg := "replica: not the leader"
	if e.Leader != "" {
		msg += fmt.Sprintf(" (leader %s at %s)", e.LeaderID, e.Leader)
	} else {
		msg += " (no leader known)"
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is reports whether target is ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Unwrap returns the raft error.
func (e *NotLeaderError) Unwrap() error { return e.Cause }

// ErrOutcomeUnknown wraps the error of a write whose entry may or may not be
// committed: leadership was lost after it was proposed, or the wait timed
// out. The write may appear later; retrying an insert may duplicate it.
var ErrOutcomeUnknown = errors.New("replica: write outcome unknown")

// NewNode opens (or creates) the node's database and raft state in
// cfg.Dir and starts raft. A new group is then formed with Bootstrap on one
// node; a restarted node rejoins by itself.
func NewNode(cfg Config) (_ *Node, err error) {
	if cfg.ID == "" || cfg.Dir == "" {
		return nil, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "replica.NewNode: Config.ID and Config.Dir are required"}
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.SnapshotRetain <= 0 {
		cfg.SnapshotRetain = 2
	}
	n := &Node{id: cfg.ID, dir: cfg.Dir, cfg: cfg, logger: cfg.Logger, stopped: make(chan struct{})}
	if n.logger == nil {
		n.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "raft"), 0o700); err != nil {
		return nil, err
	}
	if err := recoverDirs(cfg.Dir); err != nil {
		return nil, err
	}
	db, err := srdb.Open(filepath.Join(cfg.Dir, "data"), n.dbOptions())
	if err != nil {
		return nil, err
	}
	closeOnErr := []func() error{db.Close}
	defer func() {
		if err != nil {
			for i := len(closeOnErr) - 1; i >= 0; i-- {
				_ = closeOnErr[i]()
			}
		}
	}()
	applied, err := loadApplied(db)
	if err != nil {
		return nil, err
	}
	n.fsm = &fsm{node: n, db: db}
	n.fsm.applied.Store(applied)

	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft-" + cfg.ID, Output: io.Discard, Level: hclog.Off})
	if cfg.Logger != nil {
		hlog = hclog.New(&hclog.LoggerOptions{Name: "raft-" + cfg.ID, Output: slogWriter{cfg.Logger}, Level: hclog.Info})
	}
	n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft", "raft.db")})
	if err != nil {
		return nil, err
	}
	closeOnErr = append(closeOnErr, n.store.Close)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, "raft"), cfg.SnapshotRetain, hlog)
	if err != nil {
		return nil, err
	}
	n.trans = cfg.Transport
	if n.trans == nil {
		var adv net.Addr // nil: the listener's address
		if cfg.Advertise != "" {
			a, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
			if err != nil {
				return nil, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "replica.NewNode: Advertise " + cfg.Advertise, Err: err}
			}
			adv = a
		}
		t, err := raft.NewTCPTransportWithLogger(cfg.BindAddr, adv, 4, 10*time.Second, hlog)
		if err != nil {
			return nil, err
		}
		n.trans = t
	}
	if c, ok := n.trans.(io.Closer); ok {
		closeOnErr = append(closeOnErr, c.Close)
	}
	rc := raft.DefaultConfig()
	if cfg.Raft != nil {
		c := *cfg.Raft
		rc = &c
	}
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	// BatchApplyCh stays off: raft leaves the futures buffered in its apply
	// channel unanswered when it shuts down (their callers would wait
	// forever); unbuffered, concurrent applies are still batched.
	rc.BatchApplyCh = false
	n.raft, err = raft.NewRaft(rc, n.fsm, n.store, n.store, snaps, n.trans)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// dbOptions are the database options: cfg.Options with DurabilitySync.
func (n *Node) dbOptions() *srdb.Options {
	o := srdb.DefaultOptions()
	if n.cfg.Options != nil {
		c := *n.cfg.Options
		o = &c
	}
	o.Durability = srdb.DurabilitySync
	return o
}

// slogWriter passes raft's log lines to a slog.Logger.
type slogWriter struct{ l *slog.Logger }

// Write logs p, one raft log line, at Info.
func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Info(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// Server names a member of the group.
type Server struct {
	ID   string // raft server ID
	Addr string // raft transport address
}

// Bootstrap forms a new group of servers (this node among them). Call it
// on one node of a new group; on a node that has raft state already it
// does nothing and returns nil, so a restart can call it again.
func (n *Node) Bootstrap(servers ...Server) error {
	c := raft.Configuration{}
	for _, s := range servers {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Addr)})
	}
	err := n.raft.BootstrapCluster(c).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	return err
}

// Join adds a voter to the group; call it on the leader. A server that is a
// member with the same address already is left as it is.
func (n *Node) Join(id, addr string) error {
	return n.wait(n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.cfg.ApplyTimeout))
}

// Remove removes a server from the group; call it on the leader.
func (n *Node) Remove(id string) error {
	return n.wait(n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout))
}

// ID returns the node's raft server ID.
func (n *Node) ID() string { return n.id }

// Addr returns the node's raft transport address.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// IsLeader reports whether the node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the ID and address of the leader as this node knows it
// (empty when none is known).
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// AppliedIndex returns the raft index of the last command this node has
// applied to its database.
func (n *Node) AppliedIndex() uint64 { return n.fsm.applied.Load() }

// Raft returns the underlying raft instance (stats, snapshots, membership).
func (n *Node) Raft() *raft.Raft { return n.raft }

// Err returns the error that stopped the node (ErrNodeFailed wrapping the
// cause), or nil while it applies the log.
func (n *Node) Err() error {
	if p := n.fsm.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// shutdownRaft shuts raft down once (Close or a failure).
func (n *Node) shutdownRaft() error {
	n.shutMu.Lock()
	defer n.shutMu.Unlock()
	if n.shut {
		return nil
	}
	n.shut = true
	close(n.stopped)
	if n.raft == nil {
		return nil
	}
	return n.raft.Shutdown().Error()
}

// Close shuts raft down, then closes the transport (when it is an
// io.Closer), the raft store and the database. It is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		errs := []error{n.shutdownRaft()}
		if c, ok := n.trans.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
		errs = append(errs, n.store.Close())
		n.fsm.mu.Lock()
		errs = append(errs, n.fsm.db.Close())
		n.fsm.mu.Unlock()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// wait returns the error of raft future f, or, once the node stops, an
// error saying the outcome is unknown (raft may never answer f then).
func (n *Node) wait(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return n.raftErr(err)
	case <-n.stopped:
		select {
		case err := <-done:
			return n.raftErr(err)
		default:
		}
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, &srdb.Error{Code: srdb.CodeClosed, Offset: -1, Msg: "replica: node shut down while waiting for raft"})
	}
}

// notLeader returns the error of a request that needs the leader.
func (n *Node) notLeader(cause error) error {
	id, addr := n.Leader()
	return &NotLeaderError{Leader: addr, LeaderID: id, Cause: cause}
}

// raftErr maps the error of a raft future.
func (n *Node) raftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return n.notLeader(err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return &srdb.Error{Code: srdb.CodeGeneral, Offset: -1, Msg: "replica: the write was not proposed in time (not applied)", Err: err}
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, n.notLeader(err))
	case errors.Is(err, raft.ErrRaftShutdown):
		if f := n.Err(); f != nil {
			return f
		}
		return &srdb.Error{Code: srdb.CodeClosed, Offset: -1, Msg: "replica: node is shut down", Err: err}
	}
	return err
}
