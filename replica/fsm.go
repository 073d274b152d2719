package replica

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/srdb-go/srdb"
)

// The state machine.
//
// Every node applies the committed log entries in order to its own
// srdb.Database. Determinism: the leader converted every row to canonical
// values and fixed its _time before proposing (node.go), and a table assigns
// _seq as lastSeq+1 under its write lock, so the same entries applied to the
// same state assign the same seqs on every node. A command that fails
// validation (schema violation, unknown table or row, …) fails on every node
// alike and changes nothing: srdb.Batch.Commit checks every operation before
// it writes and assigns no seq to a batch it refuses.
//
// Which entries are applied durably: the database has a table MetaTable with
// one row (seq 1) holding the index of the last entry applied. A write
// command is applied as ONE srdb.Batch holding its operations and the update
// of that row, so after a crash the database holds a command's rows exactly
// when it holds its index (a Batch is all or nothing, and durable when Commit
// returns whatever the durability mode). Raft replays the entries after its
// last snapshot at restart; the FSM skips those at or below its applied
// index. A schema command (CreateTable, AddField, CreateIndex, SetOptions,
// DropTable) is durable when the core returns and its index is recorded by a
// second Batch just after: a crash in between replays it, and replaying it on
// the state it already produced fails (table exists, field exists, …) or
// repeats it (SetOptions, DeleteBefore) — either way the state is the one it
// produced, which is all the FSM must reproduce. The database runs in
// DurabilitySync so that DeleteBefore and the schema commands are durable
// before their index is.
//
// Errors that are not the command's fault (an I/O error, a read-only table)
// cannot be assumed to happen on every node: the node stops applying (every
// later entry answers ErrNodeFailed), records nothing, and shuts its raft
// down; after a restart it replays from its applied index.

// MetaTable is the table of the database where a node keeps the raft index
// it has applied (one row, seq 1, field applied_index). It is written only
// by the state machine: Node refuses client writes to it.
const MetaTable = "replica_meta"

// metaField is the field of MetaTable holding the applied index.
const metaField = "applied_index"

// metaSchema is the schema of MetaTable.
func metaSchema() (*srdb.Schema, error) {
	return srdb.NewSchema(MetaTable, []srdb.Field{{Name: metaField, Type: srdb.Int64, Comment: "raft index of the last log entry applied"}})
}

// ErrNodeFailed is returned (wrapped) by every write and by the state
// machine once applying a committed entry failed on this node for a reason
// that is not the entry's (an I/O error, a read-only table): the node has
// stopped applying and shut down its raft; restart it.
var ErrNodeFailed = errors.New("replica: node failed while applying the log")

// applyResult is what the FSM returns for a command entry (the ApplyFuture
// response on the leader): the seqs of the rows it inserted, or the error.
type applyResult struct {
	seqs []int64
	err  error
}

// fsm is the raft.FSM of a Node.
type fsm struct {
	node *Node

	// mu guards db: Apply, Snapshot and reads hold it shared; Restore holds
	// it exclusively while it swaps the database directory.
	mu sync.RWMutex
	db *srdb.Database

	applied atomic.Uint64 // index of the last command entry applied durably
	// failed is the error that stopped the node (nil while healthy).
	failed atomic.Pointer[error]
}

// loadApplied reads the applied index from the meta table of db, creating
// the table (index 0) in a new database.
func loadApplied(db *srdb.Database) (uint64, error) {
	t, err := db.Table(MetaTable)
	if srdb.ErrorCode(err) == srdb.CodeTableNotFound {
		s, err := metaSchema()
		if err != nil {
			return 0, err
		}
		if t, err = db.CreateTable(MetaTable, s); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	}
	r, err := t.Get(1)
	if srdb.IsNotFound(err) {
		if _, err := t.Insert(map[string]any{metaField: int64(0)}); err != nil {
			return 0, err
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, _ := r.Get(metaField)
	n, ok := v.(int64)
	if !ok || n < 0 {
		return 0, &srdb.Error{Code: srdb.CodeCorrupted, Table: MetaTable, Field: metaField, Offset: -1, Msg: fmt.Sprintf("applied index %v", v)}
	}
	return uint64(n), nil
}

// deterministic reports whether err is the command's own fault, so every
// node that applies the same entry to the same state gets it too. The
// codes of the environment (I/O, corruption, a closed or read-only
// database, an error that is not a *srdb.Error) are not; every other code
// is a verdict on the command (a schema violation, a missing row, an
// existing table, and codes the core may add for input, such as a
// duplicate key).
func deterministic(err error) bool {
	if errors.Is(err, ErrNodeFailed) {
		return false
	}
	var e *srdb.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case srdb.CodeGeneral, srdb.CodeClosed, srdb.CodeCanceled, srdb.CodeDatabase, srdb.CodeLocked,
		srdb.CodeReadOnly, srdb.CodeStorage, srdb.CodeCorrupted:
		return false
	}
	return true
}

// Apply applies one entry (raft.FSM).
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order (raft.BatchingFSM).
// Consecutive insert-only commands are committed as one srdb.Batch (one
// fsync per table for all of them); inserting rows in one batch or in
// several in the same order assigns the same seqs, so the grouping (which
// differs from node to node) does not change the result. If the group is
// refused, its commands are applied one by one, each with its own outcome.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]any, len(logs))
	var group []int // positions in logs of the pending insert-only commands
	cmds := make([]*command, len(logs))
	flush := func() {
		f.applyInserts(logs, cmds, group, out)
		group = group[:0]
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if l.Index <= f.applied.Load() {
			out[i] = applyResult{err: fmt.Errorf("replica: entry %d was applied before a restart", l.Index)}
			continue
		}
		if p := f.failed.Load(); p != nil {
			out[i] = applyResult{err: *p}
			continue
		}
		c, err := decodeCommand(l.Data)
		if err != nil {
			// Every node decodes the same bytes: refused alike.
			out[i] = applyResult{err: err}
			continue
		}
		cmds[i] = c
		if c.insertOnly() {
			group = append(group, i)
			continue
		}
		flush()
		out[i] = f.applyOne(l.Index, c)
	}
	flush()
	return out
}

// applyInserts applies the insert-only commands logs[group[k]], together
// when there are several.
func (f *fsm) applyInserts(logs []*raft.Log, cmds []*command, group []int, out []any) {
	if len(group) == 0 {
		return
	}
	if len(group) > 1 && f.failed.Load() == nil {
		b := f.db.NewBatch()
		for _, i := range group {
			for _, o := range cmds[i].ops {
				b.Insert(o.table, o.rows)
			}
		}
		last := logs[group[len(group)-1]].Index
		b.Update(MetaTable, 1, map[string]any{metaField: int64(last)})
		seqs, err := b.Commit()
		if err == nil {
			f.applied.Store(last)
			for _, i := range group {
				n := 0
				for _, o := range cmds[i].ops {
					n += len(o.rows)
				}
				out[i] = applyResult{seqs: seqs[:n:n]}
				seqs = seqs[n:]
			}
			return
		}
		if !deterministic(err) {
			f.fail(err)
		}
		// Refused as a whole: one by one below, each with its own result.
	}
	for _, i := range group {
		out[i] = f.applyOne(logs[i].Index, cmds[i])
	}
}

// applyOne applies command c at log index idx and records idx.
func (f *fsm) applyOne(idx uint64, c *command) applyResult {
	if p := f.failed.Load(); p != nil {
		return applyResult{err: *p}
	}
	var (
		seqs []int64
		err  error
	)
	meta := map[string]any{metaField: int64(idx)}
	switch c.kind {
	case cmdBatch:
		b := f.db.NewBatch()
		for _, o := range c.ops {
			switch o.kind {
			case opInsert:
				b.Insert(o.table, o.rows)
			case opUpdate:
				b.Update(o.table, o.seq, o.changes)
			case opDelete:
				b.Delete(o.table, o.seq)
			case opDeleteRange:
				b.DeleteRange(o.table, o.lo, o.hi)
			case opUpsert:
				b.Upsert(o.table, o.rows[0])
			}
		}
		b.Update(MetaTable, 1, meta)
		seqs, err = b.Commit()
		if err == nil {
			f.applied.Store(idx)
			return applyResult{seqs: seqs}
		}
	default:
		err = f.applySchema(c)
		if err == nil {
			if _, err = f.db.NewBatch().Update(MetaTable, 1, meta).Commit(); err == nil {
				f.applied.Store(idx)
				return applyResult{}
			}
			err = fmt.Errorf("%w: recording index %d: %w", ErrNodeFailed, idx, err)
		}
	}
	if !deterministic(err) {
		err = f.fail(err)
	}
	return applyResult{err: err}
}

// applySchema applies a command that is not a batch of row writes.
func (f *fsm) applySchema(c *command) error {
	if c.kind == cmdCreateTable {
		opts := make([]srdb.SchemaOption, 0, len(c.indexes)+len(c.unique))
		for _, ix := range c.indexes {
			if !slices.ContainsFunc(c.unique, func(u []string) bool { return slices.Equal(u, ix) }) {
				opts = append(opts, srdb.WithIndex(ix...))
			}
		}
		for _, ix := range c.unique {
			opts = append(opts, srdb.WithUniqueIndex(ix...))
		}
		s, err := srdb.NewSchema(c.table, c.fields, opts...)
		if err != nil {
			return err
		}
		_, err = f.db.CreateTable(c.table, s)
		return err
	}
	if c.kind == cmdDropTable {
		return f.db.DropTable(c.table)
	}
	t, err := f.db.Table(c.table)
	if err != nil {
		return err
	}
	switch c.kind {
	case cmdDeleteBefore:
		return t.DeleteBefore(time.Unix(0, c.cutoff))
	case cmdAddField:
		return t.AddField(c.fields[0])
	case cmdCreateIndex:
		return t.CreateIndex(c.indexes[0]...)
	case cmdCreateUniqueIndex:
		return t.CreateUniqueIndex(c.indexes[0]...)
	case cmdSetOptions:
		return t.SetOptions(c.options)
	}
	return &srdb.Error{Code: srdb.CodeCorrupted, Table: c.table, Offset: -1, Msg: fmt.Sprintf("raft log command kind %d", c.kind)}
}

// fail stops the node after a failure that may not happen on other nodes
// and returns the error every later write gets.
func (f *fsm) fail(cause error) error {
	err := cause
	if !errors.Is(err, ErrNodeFailed) {
		err = fmt.Errorf("%w: %w", ErrNodeFailed, cause)
	}
	if f.failed.CompareAndSwap(nil, &err) {
		f.node.logger.Error("replica: applying the log failed; shutting raft down", "id", f.node.id, "err", cause)
		go f.node.shutdownRaft() // not from the FSM goroutine: Shutdown waits for it
	}
	return err
}
