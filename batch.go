package srdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// Atomic writes across tables.
//
// Every table keeps its own WAL. A Batch is committed by appending the
// WHOLE batch — the records of every table it touches — as one
// walRecordMultiTable record to the WAL of EACH table it touches, fsyncing
// all of them, and only then acknowledging. After a crash, one surviving
// copy is enough: Open replays each table's WALs (a table applies its own
// parts of the records it finds), then, for every batch record some table
// replayed, applies the parts of the tables that lack it (Database
// .repairBatches), logging them in those tables' WALs. A table knows which
// batches it has: batch ids are assigned in increasing order under the
// write locks of every table a batch touches, so each table receives its
// batches in id order and "has batch id" is "its highest batch id >= id"
// (kept in its MANIFEST, propMaxBatch, once flushed, and replayed from its
// WALs otherwise). A copy can be gone only after a table flushed its
// memtable holding the batch, which happens after the commit returned, when
// every copy was durable.
//
// walRecordMultiTable payload (the record's Seq field is 0):
//
//	+----------+---------+------------------------------------------------------------+
//	| batch id | parts   | part × parts                                               |
//	| uvarint  | uvarint | tableLen uvarint | table | type u8 | seq uvarint |          |
//	|          |         | payloadLen uvarint | payload (that record type's payload)  |
//	+----------+---------+------------------------------------------------------------+
//
// A part is one record of a table's own kinds (walRecordBatch,
// walRecordUpdate, walRecordDelete, walRecordRangeDelete), in the order of
// the batch's operations.

// walRecordMultiTable is a Batch: see above.
const walRecordMultiTable walRecordType = 6

// propMaxBatch is the MANIFEST property holding the highest batch id whose
// parts the table's SSTs hold (uvarint).
const propMaxBatch = "batch"

// Batch collects writes to any tables of one database, committed all or
// nothing by Commit (after a crash too). Build it with Database.NewBatch and
// the chainable Insert, Update, Delete and DeleteRange; the first invalid
// call is remembered and returned by Commit. A Batch is not safe for
// concurrent use; it can be committed once.
type Batch struct {
	db        *Database
	ops       []batchOp
	committed bool
}

// batchOpKind says what a batch operation does.
type batchOpKind uint8

const (
	batchInsert batchOpKind = iota + 1
	batchUpdate
	batchDelete
	batchDeleteRange
	batchUpsert
)

func (k batchOpKind) String() string {
	switch k {
	case batchInsert:
		return "Insert"
	case batchUpdate:
		return "Update"
	case batchDelete:
		return "Delete"
	case batchUpsert:
		return "Upsert"
	}
	return "DeleteRange"
}

// batchOp is one operation of a Batch.
type batchOp struct {
	kind    batchOpKind
	table   string
	data    any            // Insert, Upsert
	seq     int64          // Update, Delete
	changes map[string]any // Update
	lo, hi  int64          // DeleteRange
}

// NewBatch returns an empty batch of writes to the tables of db.
func (db *Database) NewBatch() *Batch { return &Batch{db: db} }

// Insert adds the insertion of data into table (a map, a struct, or a slice
// of them, as Table.Insert takes). Commit returns the seqs of the rows.
func (b *Batch) Insert(table string, data any) *Batch {
	return b.add(batchOp{kind: batchInsert, table: table, data: data})
}

// Update adds an update of the row with the given seq of table (as
// Table.Update). The row must exist before the batch or be updated earlier
// in it; it cannot be a row the batch inserts.
func (b *Batch) Update(table string, seq int64, changes map[string]any) *Batch {
	return b.add(batchOp{kind: batchUpdate, table: table, seq: seq, changes: changes})
}

// Upsert adds the upsert of one row into table (as Table.Upsert: keyed on
// the table's one unique index, the row holding the key gets a new version
// with every field replaced, else the row is inserted). The key is looked
// up as the batch's earlier operations leave the table: a row the batch
// inserted earlier is replaced in place. Commit returns the row's seq.
func (b *Batch) Upsert(table string, data any) *Batch {
	return b.add(batchOp{kind: batchUpsert, table: table, data: data})
}

// Delete adds the deletion of the row with the given seq of table (as
// Table.Delete).
func (b *Batch) Delete(table string, seq int64) *Batch {
	return b.add(batchOp{kind: batchDelete, table: table, seq: seq})
}

// DeleteRange adds the deletion of every row of table with lo <= _seq < hi
// that exists before the batch (as Table.DeleteRange; rows the batch
// inserts are not covered).
func (b *Batch) DeleteRange(table string, lo, hi int64) *Batch {
	return b.add(batchOp{kind: batchDeleteRange, table: table, lo: lo, hi: hi})
}

func (b *Batch) add(op batchOp) *Batch {
	if b != nil {
		b.ops = append(b.ops, op)
	}
	return b
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.ops)
}

// batchError is the error of operation i of a batch: err (its code, field,
// file and cause kept) naming the operation and the table.
func batchError(i int, op batchOp, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return tableError(CodeInvalidArgument, op.table, "batch operation %d (%s): %v", i+1, op.kind, err)
	}
	out := *e
	out.Table = op.table
	prefix := fmt.Sprintf("batch operation %d (%s)", i+1, op.kind)
	if out.Msg == "" || out.Msg == codeNames[out.Code] {
		out.Msg = prefix
	} else {
		out.Msg = prefix + ": " + out.Msg
	}
	return &out
}

// tableBatch is what a commit does to one table: the parts it logs and
// applies, and the bookkeeping to apply them.
type tableBatch struct {
	t        *Table
	parts    []batchPart
	inserted int64 // rows inserted
	deleted  int64 // rows deleted (point and range)
	updated  int64
	// pending state of the batch for later operations on the same table:
	// rows it deleted, and the newest version it wrote of a row.
	gone    map[int64]bool
	version map[int64][]byte
	ranges  []rangeTombstone // DeleteRange parts so far
	nextSeq int64            // the seq the next inserted row gets
	// uniq checks the keys of the table's unique indexes (nil when it has
	// none); insertedAt locates each row the batch inserts: seq → (part,
	// row) in parts, so that an Upsert of its key can replace it.
	uniq       *uniqueCheck
	insertedAt map[int64][2]int
	end        int64 // WAL offset past the batch record
	op         int64
}

// batchPart is one record of a table in a batch.
type batchPart struct {
	typ     walRecordType
	seq     int64
	payload []byte
	// what applying it does to the memtable
	rows   []encodedRow // walRecordBatch
	row    []byte       // walRecordUpdate
	time   int64        // walRecordUpdate
	tomb   rangeTombstone
	hidden int64 // walRecordRangeDelete
}

// Commit applies the batch: every operation or none, after a crash too. It
// returns the seq of every inserted row, in the order of the operations.
// The batch is durable when Commit returns nil, whatever the durability
// mode: the WAL of every table it touches is fsynced, and so is every write
// to those tables acknowledged before it (a batch is a durability barrier). An invalid operation
// (unknown table, schema violation, missing row, …) is returned naming the
// operation and the table, and nothing is written. A failed write or fsync
// makes every table the batch touches read-only (as a failed write does to
// one table): after a reopen the batch is then either wholly present or
// wholly absent.
func (b *Batch) Commit() ([]int64, error) {
	if b == nil || b.db == nil {
		return nil, newError(CodeInvalidArgument, "Commit of a nil Batch")
	}
	db := b.db
	if err := db.usable(); err != nil {
		return nil, err
	}
	if b.committed {
		return nil, newError(CodeInvalidArgument, "Batch committed twice")
	}
	b.committed = true
	if len(b.ops) == 0 {
		return nil, nil
	}
	// Resolve the tables and encode the inserted rows outside the locks.
	byName := map[string]*tableBatch{}
	prepared := make([][]encodedRow, len(b.ops))
	var scratch []*insertScratch
	defer func() {
		for _, sc := range scratch {
			sc.release()
		}
	}()
	for i, op := range b.ops {
		tb := byName[op.table]
		if tb == nil {
			t, err := db.Table(op.table)
			if err != nil {
				return nil, batchError(i, op, err)
			}
			if err := t.refuseReadOnly("Batch.Commit"); err != nil {
				return nil, batchError(i, op, err)
			}
			tb = &tableBatch{t: t, gone: map[int64]bool{}, version: map[int64][]byte{}}
			byName[op.table] = tb
		}
		switch op.kind {
		case batchInsert, batchUpsert:
			sc := getInsertScratch()
			scratch = append(scratch, sc)
			rows, err := tb.t.prepareRows(sc, op.data)
			if err == nil && len(rows) == 0 {
				err = newError(CodeInvalidArgument, "Insert of an empty slice")
			}
			if err == nil && op.kind == batchUpsert && len(rows) != 1 {
				err = newError(CodeInvalidArgument, "Upsert takes one row, not %d", len(rows))
			}
			if err != nil {
				return nil, batchError(i, op, err)
			}
			prepared[i] = rows
		case batchUpdate:
			if len(op.changes) == 0 {
				return nil, batchError(i, op, newError(CodeInvalidArgument, "Update with no changes"))
			}
		case batchDeleteRange:
			if op.lo > op.hi {
				return nil, batchError(i, op, newError(CodeInvalidArgument, "DeleteRange(%d, %d): lo is above hi", op.lo, op.hi))
			}
		}
	}
	tables := make([]*tableBatch, 0, len(byName))
	for _, tb := range byName {
		tables = append(tables, tb)
	}
	slices.SortFunc(tables, func(a, b *tableBatch) int { return strings.Compare(a.t.name, b.t.name) })

	// Take the write lock of every table, in name order (no deadlock
	// between batches), and build the records against the newest state.
	locked := 0
	unlock := func() {
		for _, tb := range tables[:locked] {
			tb.t.writeMu.Unlock()
		}
		locked = 0
	}
	defer func() {
		for _, tb := range tables {
			tb.uniq.release()
		}
	}()
	for _, tb := range tables {
		if err := tb.t.beginWrite(); err != nil {
			unlock()
			return nil, withTable(err, tb.t.name)
		}
		locked++
		tb.nextSeq = tb.t.lastSeq + 1
		tb.uniq = tb.t.newUniqueCheckLocked(tb.t.Schema(), tb, true)
	}
	// Make every earlier write of these tables durable first (a no-op in
	// DurabilitySync): a batch may update a row inserted just before, and
	// once one table's copy of the batch is durable, recovery completes the
	// batch in the others — which needs what it builds on to be there.
	for _, tb := range tables {
		if err := tb.t.wal.sync(); err != nil {
			err = tb.t.fail(err)
			unlock()
			return nil, err
		}
	}
	var seqs []int64
	for i, op := range b.ops {
		tb := byName[op.table]
		part, seq, err := tb.build(op, prepared[i])
		if err != nil {
			unlock()
			return nil, batchError(i, op, err)
		}
		switch {
		case op.kind == batchInsert:
			for k := range part.rows {
				seqs = append(seqs, part.seq+int64(k))
			}
		case op.kind == batchUpsert:
			seqs = append(seqs, seq)
		}
		if part.typ == walRecordBatch {
			for k := range part.rows {
				if tb.insertedAt == nil {
					tb.insertedAt = map[int64][2]int{}
				}
				tb.insertedAt[part.seq+int64(k)] = [2]int{len(tb.parts), k}
			}
		}
		tb.parts = append(tb.parts, part)
	}
	for _, tb := range tables {
		for k := range tb.parts { // an Upsert may have replaced an inserted row
			if p := &tb.parts[k]; p.typ == walRecordBatch {
				p.payload = encodeBatchRows(p.rows)
			}
		}
	}
	id := db.batchSeq.Add(1)
	payload := encodeBatchRecord(id, tables)
	if len(payload) > maxWALRecord {
		unlock()
		return nil, newError(CodeInvalidArgument, "batch of %d bytes exceeds the WAL record limit %d", len(payload), maxWALRecord)
	}
	// From the first append on, a failure leaves the outcome to recovery:
	// every table touched turns read-only (failAll), so none of them
	// acknowledges a later write that could contradict it.
	failAll := func(err error) error {
		for _, tb := range tables {
			tb.t.fail(err)
		}
		return err
	}
	for _, tb := range tables {
		end, err := tb.t.wal.append(walRecordMultiTable, 0, payload)
		if err != nil {
			err = failAll(withTable(err, tb.t.name))
			unlock()
			return nil, err
		}
		tb.end = end
	}
	wals := make([]*walWriter, len(tables))
	for k, tb := range tables {
		wals[k] = tb.t.wal
		tb.apply(id)
	}
	unlock()
	if err := killPoint("batch.after_append"); err != nil {
		return nil, failAll(err)
	}
	for k, tb := range tables {
		// Durable whatever the mode: commit, then fsync unless that
		// happened already (Sync mode, or a memtable switch closed the WAL).
		err := wals[k].commit(tb.end)
		if err == nil && wals[k].syncedOffset() < tb.end {
			err = wals[k].sync()
		}
		if err != nil {
			return nil, failAll(withTable(err, tb.t.name))
		}
		if k == 0 {
			if err := killPoint("batch.after_first_sync"); err != nil {
				return nil, failAll(err)
			}
		}
	}
	for _, tb := range tables {
		t := tb.t
		t.stats.inserts.Add(tb.inserted)
		t.stats.updates.Add(tb.updated)
		t.stats.deletes.Add(tb.deleted)
		t.liveRows.Add(tb.inserted - tb.deleted)
		t.publishVisible(tb.op)
		t.opsDone.Add(1)
		if tb.updated+tb.deleted > 0 {
			t.noteMutation() // a Tail's read-ahead must see them (tail.go)
		}
	}
	return seqs, nil
}

// current returns the newest version of seq as the batch so far leaves it:
// the row it last wrote, or the table's newest version (committed or not;
// the caller holds writeMu). ErrNotFound when the batch or the table
// deleted it.
func (tb *tableBatch) current(seq int64) ([]byte, error) {
	if tb.gone[seq] {
		return nil, rowNotFound(seq, "deleted earlier in the batch")
	}
	for _, d := range tb.ranges {
		if d.hides(seq, 0) {
			return nil, rowNotFound(seq, "deleted earlier in the batch")
		}
	}
	if seq >= tb.t.lastSeq+1 {
		return nil, rowNotFound(seq, "a batch cannot change a row it inserts")
	}
	if buf, ok := tb.version[seq]; ok {
		return buf, nil
	}
	return tb.t.lookup(seq, true)
}

// build turns op into the record of tb's table, against the newest state
// and the batch's earlier operations. rows are op's prepared rows (Insert,
// Upsert). A DeleteRange that hides nothing, and an Upsert that replaced a
// row the batch inserts, yield a part of type 0 (not logged). seq is the
// row an Upsert wrote.
func (tb *tableBatch) build(op batchOp, rows []encodedRow) (part batchPart, seq int64, err error) {
	t := tb.t
	switch op.kind {
	case batchInsert:
		first := tb.nextSeq
		for i := range rows {
			patchRowSeq(rows[i].buf, first+int64(i))
			if err := tb.uniq.admit(rows[i].buf, first+int64(i), true); err != nil {
				return batchPart{}, 0, err
			}
		}
		tb.nextSeq += int64(len(rows))
		tb.inserted += int64(len(rows))
		return batchPart{typ: walRecordBatch, seq: first, rows: rows}, 0, nil // payload: Commit
	case batchUpsert:
		return tb.buildUpsert(rows[0])
	case batchUpdate:
		buf, err := tb.current(op.seq)
		if err != nil {
			return batchPart{}, 0, err
		}
		s := t.Schema()
		old, err := decodeResultRow(s, buf, nil)
		if err != nil {
			return batchPart{}, 0, err
		}
		vals, err := s.applyChanges(old.vals, op.changes)
		if err != nil {
			return batchPart{}, 0, err
		}
		row, err := encodeRow(nil, op.seq, old.timeNanos, s.types(), vals)
		if err != nil {
			return batchPart{}, 0, err
		}
		part, err := tb.updatePart(op.seq, old.timeNanos, row)
		return part, 0, err
	case batchDelete:
		if _, err := tb.current(op.seq); err != nil {
			return batchPart{}, 0, err
		}
		tb.gone[op.seq] = true
		tb.deleted++
		return batchPart{typ: walRecordDelete, seq: op.seq}, 0, nil
	}
	d := rangeTombstone{seqLo: max(op.lo, 1), seqHi: min(op.hi, t.lastSeq+1), timeBefore: anyTime}
	if d.seqLo >= d.seqHi {
		return batchPart{}, 0, nil
	}
	n, err := tb.countLiveIn(d)
	if err != nil {
		return batchPart{}, 0, err
	}
	for _, e := range tb.ranges { // rows an earlier DeleteRange counted
		lo, hi := max(e.seqLo, d.seqLo), min(e.seqHi, d.seqHi)
		if lo < hi {
			k, err := tb.countLiveIn(rangeTombstone{seqLo: lo, seqHi: hi, timeBefore: anyTime})
			if err != nil {
				return batchPart{}, 0, err
			}
			n -= k
		}
	}
	tb.ranges = append(tb.ranges, d)
	tb.deleted += n
	payload := binary.AppendUvarint(appendRangeTombstone(nil, d), uint64(n))
	return batchPart{typ: walRecordRangeDelete, seq: d.seqLo, payload: payload, tomb: d, hidden: n}, 0, nil
}

// updatePart checks row (the new version of seq, whose _time is
// timeNanos) and returns its walRecordUpdate part.
func (tb *tableBatch) updatePart(seq, timeNanos int64, row []byte) (batchPart, error) {
	if len(row) > tb.t.opts.MaxRowSize {
		return batchPart{}, newError(CodeSchemaViolation, "row of %d bytes exceeds MaxRowSize %d", len(row), tb.t.opts.MaxRowSize)
	}
	if err := tb.uniq.admit(row, seq, false); err != nil {
		return batchPart{}, err
	}
	tb.version[seq] = row
	tb.updated++
	return batchPart{typ: walRecordUpdate, seq: seq, payload: row, row: row, time: timeNanos}, nil
}

// buildUpsert is build of an Upsert of r: the row holding r's key, as the
// batch so far leaves the table, gets r as its new version (keeping its
// _time); a row the batch inserted is replaced in its insert part; with
// no such row r is inserted.
func (tb *tableBatch) buildUpsert(r encodedRow) (batchPart, int64, error) {
	row := r.buf
	target, found, err := tb.uniq.upsertTarget(tb.t.Schema(), row)
	if err != nil {
		return batchPart{}, 0, err
	}
	if !found {
		part, _, err := tb.build(batchOp{kind: batchInsert}, []encodedRow{r})
		return part, part.seq, err
	}
	if at, mine := tb.insertedAt[target]; mine {
		old := &tb.parts[at[0]].rows[at[1]]
		patchRowSeq(row, target)
		patchRowTime(row, old.timeNanos)
		if err := tb.uniq.admit(row, target, true); err != nil {
			return batchPart{}, 0, err
		}
		old.buf = row
		return batchPart{}, target, nil
	}
	cur, err := tb.current(target)
	if err != nil {
		return batchPart{}, 0, err
	}
	v, err := parseRow(cur)
	if err != nil {
		return batchPart{}, 0, err
	}
	tn := v.timeNanos()
	patchRowSeq(row, target)
	patchRowTime(row, tn)
	part, err := tb.updatePart(target, tn, row)
	return part, target, err
}

// countLiveIn counts the rows of d that were live before the batch and that
// its Deletes did not take (what a DeleteRange of d hides now, or what an
// earlier DeleteRange of the batch counted in d).
func (tb *tableBatch) countLiveIn(d rangeTombstone) (int64, error) {
	n, err := tb.t.countHiddenLatest(d)
	for seq := range tb.gone {
		if d.hides(seq, 0) {
			n--
		}
	}
	return n, err
}

// apply logs nothing: it applies the parts to the active memtable under
// writeMu as the write operation op (invisible until published), after the
// batch record was appended to the table's WAL.
func (tb *tableBatch) apply(id uint64) {
	t := tb.t
	tb.op = t.nextOpLocked()
	m := t.mem
	for _, p := range tb.parts {
		switch p.typ {
		case walRecordBatch:
			for i, r := range p.rows {
				m.addOp(tb.op, p.seq+int64(i), kindSet, r.timeNanos, r.buf)
			}
			m.addDelta(int64(len(p.rows)))
		case walRecordUpdate:
			m.addOp(tb.op, p.seq, kindSet, p.time, p.row)
		case walRecordDelete:
			m.addOp(tb.op, p.seq, kindDelete, 0, nil)
			m.addDelta(-1)
		case walRecordRangeDelete:
			m.addRangeDelOp(tb.op, p.tomb)
			m.addDelta(-p.hidden)
		}
	}
	t.lastSeq = tb.nextSeq - 1
	t.seqHigh.Store(t.lastSeq)
	m.noteBatch(id)
	t.maxBatch = max(t.maxBatch, id)
}

// encodeBatchRows encodes rows as a walRecordBatch payload (layout above
// encodedRow in table_write.go).
func encodeBatchRows(rows []encodedRow) []byte {
	n := uvarintLen(uint64(len(rows)))
	for i := range rows {
		n += uvarintLen(uint64(len(rows[i].buf))) + len(rows[i].buf)
	}
	b := binary.AppendUvarint(make([]byte, 0, n), uint64(len(rows)))
	for i := range rows {
		b = binary.AppendUvarint(b, uint64(len(rows[i].buf)))
		b = append(b, rows[i].buf...)
	}
	return b
}

// encodeBatchRecord encodes the walRecordMultiTable payload of batch id:
// the parts of each table, tables in name order, each table's parts in the
// order of the operations (layout at the top of this file).
func encodeBatchRecord(id uint64, tables []*tableBatch) []byte {
	var b []byte
	b = binary.AppendUvarint(b, id)
	parts := 0
	for _, tb := range tables {
		for _, p := range tb.parts {
			if p.typ != 0 {
				parts++
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(parts))
	for _, tb := range tables {
		for _, p := range tb.parts {
			if p.typ == 0 {
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(tb.t.name)))
			b = append(b, tb.t.name...)
			b = append(b, byte(p.typ))
			b = binary.AppendUvarint(b, uint64(p.seq))
			b = binary.AppendUvarint(b, uint64(len(p.payload)))
			b = append(b, p.payload...)
		}
	}
	return b
}

// decodedPart is a part of a decoded batch record.
type decodedPart struct {
	table   string
	typ     walRecordType
	seq     int64
	payload []byte // aliases the record
}

// decodeBatchRecord decodes a walRecordMultiTable payload; ok is false when
// it is malformed.
func decodeBatchRecord(b []byte) (id uint64, parts []decodedPart, ok bool) {
	c := &byteCursor{b: b}
	id = c.uvarint()
	n := c.uvarint()
	if c.bad || id == 0 || n == 0 || n > uint64(len(b)) {
		return 0, nil, false
	}
	parts = make([]decodedPart, 0, n)
	for range n {
		l := c.uvarint()
		if c.bad || l == 0 || l > uint64(c.remaining()) {
			return 0, nil, false
		}
		name := string(c.bytes(int(l)))
		if c.remaining() < 1 {
			return 0, nil, false
		}
		typ := walRecordType(c.u8())
		seq := c.uvarint()
		pl := c.uvarint()
		if c.bad || seq > 1<<62 || pl > uint64(c.remaining()) {
			return 0, nil, false
		}
		switch typ {
		case walRecordBatch, walRecordUpdate, walRecordDelete, walRecordRangeDelete:
		default:
			return 0, nil, false
		}
		parts = append(parts, decodedPart{table: name, typ: typ, seq: int64(seq), payload: c.bytes(int(pl))})
	}
	if !c.empty() {
		return 0, nil, false
	}
	return id, parts, true
}

// replayedBatch is a batch record a table found in its WALs at Open, kept
// for Database.repairBatches.
type replayedBatch struct {
	id      uint64
	payload []byte
}

// repairBatches completes, after every table replayed its WALs at Open, the
// batches some table holds and others lack (a crash during Commit): each
// table that lacks one gets its parts, logged in its WAL and fsynced. It
// also sets the next batch id past every one known.
func (db *Database) repairBatches() error {
	records := map[uint64][]byte{}
	var maxID uint64
	for _, t := range db.tables {
		maxID = max(maxID, t.maxBatch)
		for _, r := range t.replayedBatches {
			records[r.id] = r.payload
			maxID = max(maxID, r.id)
		}
		t.replayedBatches = nil
	}
	db.batchSeq.Store(maxID)
	ids := slices.Sorted(maps.Keys(records))
	for _, id := range ids {
		_, parts, ok := decodeBatchRecord(records[id])
		if !ok { // the replay decoded it already: cannot happen
			return corruptionError("", -1, "batch %d: malformed record", id)
		}
		var names []string
		for _, p := range parts {
			if !slices.Contains(names, p.table) {
				names = append(names, p.table)
			}
		}
		for _, name := range names {
			t := db.tables[name]
			if t == nil {
				db.opts.Logger.Warn("srdb: batch names a table that is gone or failed to open",
					slog.Uint64("batch", id), slog.String("table", name))
				continue
			}
			if t.maxBatch >= id {
				continue
			}
			if err := t.repairBatch(id, records[id]); err != nil {
				return err
			}
		}
	}
	return nil
}

// repairBatch applies the parts of batch id (payload: its record) that
// belong to t, which lacks it: logs the record in t's WAL, applies it to
// the active memtable like a replayed record, and fsyncs.
func (t *Table) repairBatch(id uint64, payload []byte) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	path := makeFilepath(t.dir, fileTypeWAL, t.wal.logNum())
	before := t.mem.delta()
	end, err := t.wal.append(walRecordMultiTable, 0, payload)
	if err != nil {
		return t.fail(err)
	}
	ix := newReplayIndexer(t.mem)
	hi, err := t.applyWALRecord(t.mem, ix, path, walRecordMultiTable, 0, payload)
	ix.finish()
	if err != nil {
		return err
	}
	if err := t.wal.commit(end); err != nil {
		return t.fail(err)
	}
	if err := t.wal.sync(); err != nil {
		return t.fail(err)
	}
	t.lastSeq = max(t.lastSeq, hi)
	t.seqHigh.Store(t.lastSeq)
	t.liveRows.Add(t.mem.delta() - before)
	t.maxBatch = id
	t.logger.Info("srdb: completed a batch a crash interrupted", slog.Uint64("batch", id))
	return killPoint("batch.after_repair")
}

// loadMaxBatch returns the highest batch id the SSTs of vs hold
// (propMaxBatch; 0 when unset).
func loadMaxBatch(vs *versionSet) (uint64, error) {
	v := vs.current()
	raw, ok := v.property(propMaxBatch)
	v.unref()
	if !ok {
		return 0, nil
	}
	id, n := binary.Uvarint([]byte(raw))
	if n <= 0 || n != len(raw) {
		return 0, corruptionError(makeFilename(fileTypeManifest, vs.manifestFileNum()), -1, "table property %q: bad batch id", propMaxBatch)
	}
	return id, nil
}
