package replica

import (
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
// restore may close and replace the database once no read runs); writes
// through it are refused in spirit: they would bypass the log and make this
// node diverge, so use the Node's write methods. On a follower a
// Linearizable read is a *NotLeaderError.
func (n *Node) Read(c Consistency, fn func(db *srdb.Database) error) error {
	if c == Linearizable {
		if !n.IsLeader() {
			return n.notLeader(nil)
		}
		if err := n.raft.Barrier(n.cfg.ApplyTimeout).Error(); err != nil {
			return n.raftErr(err)
		}
	} else if c != StaleOK {
		return &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "replica: unknown Consistency"}
	}
	if err := n.Err(); err != nil {
		return err
	}
	return n.withDB(fn)
}
