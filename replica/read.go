package replica

import (
	"context"

	"github.com/srdb-go/srdb"
)

// Consistency is what a read may miss.
type Consistency int

const (
	// Linearizable reads run on the leader after a raft Barrier: an entry
	// committed by a majority of the current term and applied here with
	// everything before it. The read sees every write acknowledged before
	// it began, and a deposed leader cannot answer (its Barrier fails). It
	// costs one log round trip per read.
	Linearizable Consistency = iota
	// StaleOK reads run on any node against what it has applied: they may
	// miss recent writes (by the follower's replication lag, or more on a
	// node cut off from the leader) but never see a write that is not
	// committed.
	StaleOK
)

// Read runs fn on the node's database with the given consistency. fn must
// not keep the database, its tables or rows after it returns (a snapshot
// restore may close and replace the database once no read runs), and must
// only read: a write through the database would bypass the log and make this
// node diverge (use the Node's write methods). On a follower a Linearizable
// read is a *NotLeaderError.
func (n *Node) Read(c Consistency, fn func(db *srdb.Database) error) error {
	if c == Linearizable {
		if !n.IsLeader() {
			return n.notLeader(nil)
		}
		if err := n.wait(n.raft.Barrier(n.cfg.ApplyTimeout)); err != nil {
			return err
		}
	} else if c != StaleOK {
		return &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "replica: unknown Consistency"}
	}
	if err := n.Err(); err != nil {
		return err
	}
	return n.withDB(fn)
}

// Tail calls fn with each row of table with _seq >= fromSeq in seq order as
// this node applies it, then waits for new rows, until ctx is done (the
// error then wraps ctx.Err()), fn returns an error (returned), or the node
// closes. It follows srdb.Table.Tail on the node's database and carries on
// from the next seq when a snapshot restore replaces the database, so fn
// sees every row once, in order, with no gap. On a follower the rows are
// the committed ones it has applied (StaleOK).
func (n *Node) Tail(ctx context.Context, table string, fromSeq int64, fn func(*srdb.Row) error) error {
	next := max(fromSeq, 1)
	for {
		n.fsm.mu.RLock()
		db := n.fsm.db
		t, err := db.Table(table)
		var rows *srdb.Rows
		if err == nil {
			rows, err = t.Tail(ctx, next)
		}
		n.fsm.mu.RUnlock()
		if err != nil {
			return err
		}
		for rows.Next() {
			r := rows.Row()
			if err := fn(r); err != nil {
				rows.Close()
				return err
			}
			next = r.Seq() + 1
		}
		err = rows.Close()
		if !srdb.IsClosed(err) {
			return err
		}
		// The database closed: a restore swapped it (go on with the new
		// one), or the node is closing or failed (stop).
		n.fsm.mu.RLock()
		swapped := n.fsm.db != db
		n.fsm.mu.RUnlock()
		if !swapped {
			return err
		}
	}
}
