package replica

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/srdb-go/srdb"
)

// Writes: each is validated and made deterministic on the leader (rows
// converted to canonical values against the leader's schema, a row without
// _time given the leader's clock), proposed as one log entry, and answered
// once a majority committed it and the leader applied it. The answer is the
// apply's: the seqs the state machine assigned, or the error it got (which
// every node got).

// Batch collects writes to tables of the group, committed as one log entry
// and applied all or nothing on every node (srdb.Batch semantics). Build it
// with Node.NewBatch; it is not safe for concurrent use.
type Batch struct {
	n         *Node
	ops       []batchOp
	committed bool
}

// batchOp is one write of a Batch, as the caller gave it.
type batchOp struct {
	kind    opKind
	table   string
	data    any
	seq     int64
	changes map[string]any
	lo, hi  int64
}

// String names the operation as error messages do.
func (k opKind) String() string {
	switch k {
	case opInsert:
		return "Insert"
	case opUpdate:
		return "Update"
	case opDelete:
		return "Delete"
	case opUpsert:
		return "Upsert"
	}
	return "DeleteRange"
}

// NewBatch returns an empty batch of writes.
func (n *Node) NewBatch() *Batch { return &Batch{n: n} }

// Insert adds the insertion of data (a map, a struct, or a slice of them,
// as srdb.Table.Insert takes) into table.
func (b *Batch) Insert(table string, data any) *Batch {
	b.ops = append(b.ops, batchOp{kind: opInsert, table: table, data: data})
	return b
}

// Update adds an update of row seq of table (as srdb.Batch.Update).
func (b *Batch) Update(table string, seq int64, changes map[string]any) *Batch {
	b.ops = append(b.ops, batchOp{kind: opUpdate, table: table, seq: seq, changes: changes})
	return b
}

// Upsert adds the upsert of one row (a map or a struct) into table, keyed
// on the table's unique index (as srdb.Batch.Upsert). Commit returns the
// row's seq among the inserted ones, in order.
func (b *Batch) Upsert(table string, data any) *Batch {
	b.ops = append(b.ops, batchOp{kind: opUpsert, table: table, data: data})
	return b
}

// Delete adds the deletion of row seq of table.
func (b *Batch) Delete(table string, seq int64) *Batch {
	b.ops = append(b.ops, batchOp{kind: opDelete, table: table, seq: seq})
	return b
}

// DeleteRange adds the deletion of the rows of table with lo <= _seq < hi
// that exist when the batch is applied.
func (b *Batch) DeleteRange(table string, lo, hi int64) *Batch {
	b.ops = append(b.ops, batchOp{kind: opDeleteRange, table: table, lo: lo, hi: hi})
	return b
}

// Commit proposes the batch and returns the seqs of the inserted rows, in
// order, once it is committed and applied on the leader. On a follower it
// is a *NotLeaderError; an error wrapping ErrOutcomeUnknown means the batch
// may still be applied.
func (b *Batch) Commit() ([]int64, error) {
	if b == nil || b.n == nil {
		return nil, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "Commit of a nil Batch"}
	}
	if b.committed {
		return nil, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "Batch committed twice"}
	}
	b.committed = true
	if len(b.ops) == 0 {
		return nil, nil
	}
	n := b.n
	if !n.IsLeader() {
		return nil, n.notLeader(nil)
	}
	c := &command{kind: cmdBatch, ops: make([]op, 0, len(b.ops))}
	now := time.Now()
	err := n.withDB(func(db *srdb.Database) error {
		for i, bo := range b.ops {
			o, err := canonicalOp(db, bo, now)
			if err != nil {
				return opError(i, bo, err)
			}
			c.ops = append(c.ops, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return n.propose(c)
}

// canonicalOp converts a write against the table's current schema.
func canonicalOp(db *srdb.Database, bo batchOp, now time.Time) (op, error) {
	o := op{kind: bo.kind, table: bo.table, seq: bo.seq, lo: bo.lo, hi: bo.hi}
	if err := userTable(bo.table); err != nil {
		return o, err
	}
	t, err := db.Table(bo.table)
	if err != nil {
		return o, err
	}
	switch bo.kind {
	case opInsert, opUpsert:
		if o.rows, err = t.Schema().CanonicalRows(bo.data); err != nil {
			return o, err
		}
		if bo.kind == opUpsert && len(o.rows) != 1 {
			return o, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: fmt.Sprintf("Upsert takes one row, not %d", len(o.rows))}
		}
		for _, r := range o.rows {
			if _, ok := r["_time"]; !ok {
				r["_time"] = now
			}
		}
	case opUpdate:
		if len(bo.changes) == 0 {
			return o, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: "Update with no changes"}
		}
		o.changes, err = t.Schema().CanonicalChanges(bo.changes)
	case opDeleteRange:
		if bo.lo > bo.hi {
			return o, &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: fmt.Sprintf("DeleteRange(%d, %d): lo is above hi", bo.lo, bo.hi)}
		}
	}
	return o, err
}

// opError names operation i of a batch and its table in err.
func opError(i int, bo batchOp, err error) error {
	var e *srdb.Error
	if !errors.As(err, &e) {
		return &srdb.Error{Code: srdb.CodeInvalidArgument, Table: bo.table, Offset: -1, Msg: fmt.Sprintf("batch operation %d (%s)", i+1, bo.kind), Err: err}
	}
	out := *e
	out.Table = bo.table
	out.Msg = fmt.Sprintf("batch operation %d (%s): %s", i+1, bo.kind, e.Msg)
	return &out
}

// userTable refuses the table the state machine keeps for itself.
func userTable(name string) error {
	if name == MetaTable {
		return &srdb.Error{Code: srdb.CodeInvalidName, Table: name, Offset: -1, Msg: "table " + MetaTable + " belongs to the replica state machine"}
	}
	return nil
}

// withDB runs fn on the current database (a restore cannot swap it
// meanwhile).
func (n *Node) withDB(fn func(db *srdb.Database) error) error {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	return fn(n.fsm.db)
}

// propose encodes c, proposes it and returns the apply's result.
func (n *Node) propose(c *command) ([]int64, error) {
	if !n.IsLeader() {
		return nil, n.notLeader(nil)
	}
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	f := n.raft.Apply(data, n.cfg.ApplyTimeout)
	if err := n.wait(f); err != nil {
		return nil, err
	}
	r, ok := f.Response().(applyResult)
	if !ok {
		return nil, &srdb.Error{Code: srdb.CodeGeneral, Offset: -1, Msg: fmt.Sprintf("replica: unexpected apply response %T", f.Response())}
	}
	return r.seqs, r.err
}

// Insert inserts data into table (as srdb.Table.Insert: a map, a struct or
// a slice of them, one atomic batch) and returns the seq of the first row.
func (n *Node) Insert(table string, data any) (int64, error) {
	seqs, err := n.NewBatch().Insert(table, data).Commit()
	if err != nil {
		return 0, err
	}
	if len(seqs) == 0 {
		return 0, &srdb.Error{Code: srdb.CodeGeneral, Table: table, Offset: -1, Msg: "replica: insert applied no row"}
	}
	return seqs[0], nil
}

// Update writes a new version of row seq of table (as srdb.Table.Update).
func (n *Node) Update(table string, seq int64, changes map[string]any) error {
	_, err := n.NewBatch().Update(table, seq, changes).Commit()
	return err
}

// Delete deletes row seq of table.
func (n *Node) Delete(table string, seq int64) error {
	_, err := n.NewBatch().Delete(table, seq).Commit()
	return err
}

// DeleteRange deletes the rows of table with lo <= _seq < hi (as
// srdb.Table.DeleteRange).
func (n *Node) DeleteRange(table string, lo, hi int64) error {
	_, err := n.NewBatch().DeleteRange(table, lo, hi).Commit()
	return err
}

// DeleteBefore deletes the rows of table whose _time is before cutoff and
// that exist when the entry is applied (as srdb.Table.DeleteBefore).
func (n *Node) DeleteBefore(table string, cutoff time.Time) error {
	if err := n.checkTable(table); err != nil {
		return err
	}
	_, err := n.propose(&command{kind: cmdDeleteBefore, table: table, cutoff: clampNanos(cutoff)})
	return err
}

// clampNanos is cutoff in Unix nanoseconds, clamped to the int64 range
// (DeleteBefore treats both ends as "every row" / "none").
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, -1<<63)):
		return -1 << 63
	case t.After(time.Unix(0, 1<<63-1)):
		return 1<<63 - 1
	}
	return t.UnixNano()
}

// checkTable refuses MetaTable and a table the leader does not have.
func (n *Node) checkTable(table string) error {
	if err := userTable(table); err != nil {
		return err
	}
	return n.withDB(func(db *srdb.Database) error {
		_, err := db.Table(table)
		return err
	})
}

// CreateTable creates table name with schema s on every node (s must be
// named name, as srdb.Database.CreateTable requires; its fields and
// composite indexes are replicated).
func (n *Node) CreateTable(name string, s *srdb.Schema) error {
	if err := userTable(name); err != nil {
		return err
	}
	if s == nil || s.NumFields() == 0 {
		return &srdb.Error{Code: srdb.CodeInvalidSchema, Table: name, Offset: -1, Msg: "CreateTable with a nil or empty schema"}
	}
	if s.Name() != name {
		return &srdb.Error{Code: srdb.CodeInvalidSchema, Table: name, Offset: -1, Msg: fmt.Sprintf("CreateTable: the schema is named %q, not %q", s.Name(), name)}
	}
	c := &command{kind: cmdCreateTable, table: name, fields: s.Fields(), indexes: s.CompositeIndexes()}
	for _, u := range s.UniqueIndexes() {
		c.unique = append(c.unique, strings.Split(u, ","))
	}
	_, err := n.propose(c)
	return err
}

// DropTable drops table name on every node.
func (n *Node) DropTable(name string) error {
	if err := userTable(name); err != nil {
		return err
	}
	_, err := n.propose(&command{kind: cmdDropTable, table: name})
	return err
}

// AddField adds a Nullable field to table on every node (as
// srdb.Table.AddField).
func (n *Node) AddField(table string, f srdb.Field) error {
	if err := n.checkTable(table); err != nil {
		return err
	}
	_, err := n.propose(&command{kind: cmdAddField, table: table, fields: []srdb.Field{f}})
	return err
}

// CreateIndex builds an index over fields of table on every node (as
// srdb.Table.CreateIndex; the entry's apply, and so every later write,
// waits for the build).
func (n *Node) CreateIndex(table string, fields ...string) error {
	if err := n.checkTable(table); err != nil {
		return err
	}
	_, err := n.propose(&command{kind: cmdCreateIndex, table: table, indexes: [][]string{fields}})
	return err
}

// CreateUniqueIndex makes the index over fields of table unique on every
// node (as srdb.Table.CreateUniqueIndex: built first when missing; refused
// with ErrDuplicateKey on every node alike when two rows share a key).
func (n *Node) CreateUniqueIndex(table string, fields ...string) error {
	if err := n.checkTable(table); err != nil {
		return err
	}
	_, err := n.propose(&command{kind: cmdCreateUniqueIndex, table: table, indexes: [][]string{fields}})
	return err
}

// Upsert writes one row into table keyed on its unique index (as
// srdb.Table.Upsert) and returns the row's seq: the row holding the key
// gets a new version, else the row is inserted.
func (n *Node) Upsert(table string, data any) (int64, error) {
	seqs, err := n.NewBatch().Upsert(table, data).Commit()
	if err != nil {
		return 0, err
	}
	if len(seqs) != 1 {
		return 0, &srdb.Error{Code: srdb.CodeGeneral, Table: table, Offset: -1, Msg: fmt.Sprintf("replica: Upsert applied %d rows", len(seqs))}
	}
	return seqs[0], nil
}

// SetOptions sets table's options on every node. MaxAge is a standing rule
// each node applies with its own clock (a row disappears on every node
// when that node's clock passes its expiry; nothing about _seq depends on
// it). MaxBytes is refused (ErrInvalidArgument): it deletes rows by the
// size of each node's files, which differ between nodes; delete with
// DeleteRange or DeleteBefore from the leader instead.
func (n *Node) SetOptions(table string, o srdb.TableOptions) error {
	if err := n.checkTable(table); err != nil {
		return err
	}
	if o.MaxBytes != 0 {
		return &srdb.Error{Code: srdb.CodeInvalidArgument, Table: table, Field: "MaxBytes", Offset: -1, Msg: "MaxBytes is not replicated: it depends on each node's file sizes (delete with DeleteRange or DeleteBefore instead)"}
	}
	if o.MaxAge < 0 {
		return &srdb.Error{Code: srdb.CodeInvalidArgument, Table: table, Field: "MaxAge", Offset: -1, Msg: "negative MaxAge"}
	}
	_, err := n.propose(&command{kind: cmdSetOptions, table: table, options: o})
	return err
}
