package srdb

import (
	"encoding/binary"
	"time"
)

// WAL payload of a walRecordBatch record (the record's Seq field is the seq
// of the first row; rows carry their own seqs, which replay checks):
//
//	+-----------+---------------------+-----------+-----+
//	| count     | len(row 1) | row 1  | len(row2) | ... |
//	| uvarint   | uvarint    | ROW1   | uvarint   |     |
//	+-----------+---------------------+-----------+-----+
//
// A walRecordUpdate record carries one ROW1 row (Seq = the row's seq); a
// walRecordDelete record carries no payload (Seq = the deleted seq).

// maxBatchRows caps the rows of one Insert call (one WAL record).
const maxBatchRows = 1 << 20

// encodedRow is one validated row ready for the WAL and the memtable.
type encodedRow struct {
	timeNanos int64
	buf       []byte // ROW1 with seq 0; the seq is patched in under writeMu
}

// Insert appends rows. data is a map[string]any, a struct or *struct, or a
// slice of maps or structs; a slice is one atomic batch (all rows or none)
// and gets consecutive seqs. Insert returns the seq of the first row.
//
// The rows are acknowledged according to Options.Durability: when Insert
// returns nil in DurabilitySync mode the WAL record is fsynced; in
// DurabilityInterval mode it has been written to the kernel. Readers see
// the rows only once that holds (see Table.visible): never when Insert
// returns an error.
func (t *Table) Insert(data any) (int64, error) {
	return t.writeRows(data, func(rows []encodedRow) (int64, error) {
		if len(rows) == 0 {
			return 0, tableError(CodeInvalidArgument, t.name, "Insert of an empty slice")
		}
		return t.commitInsert(rows)
	})
}

// writeRows encodes data (as Insert takes it) and hands the rows to write,
// counting the caller as an inserter meanwhile (the WAL's group commit
// waits for inserters: wal_writer.go). The rows' buffers are valid until
// write returns.
func (t *Table) writeRows(data any, write func(rows []encodedRow) (int64, error)) (int64, error) {
	if err := t.checkOpen(); err != nil {
		return 0, err
	}
	t.inserters.Add(1)
	defer t.inserters.Add(-1)
	sc := getInsertScratch()
	defer sc.release()
	rows, err := t.prepareRows(sc, data)
	if err != nil {
		return 0, withTable(err, t.name)
	}
	return write(rows)
}

// beginWrite takes writeMu, checks the table accepts writes and makes room
// in the active memtable. On success the caller holds writeMu.
func (t *Table) beginWrite() error {
	t.writeMu.Lock()
	if t.closed {
		t.writeMu.Unlock()
		return tableClosedError(t.name)
	}
	if err := t.readOnlyErr(); err != nil {
		t.writeMu.Unlock()
		return err
	}
	// Switch a full memtable (waiting for flush back-pressure if needed)
	// before anything of this write is logged, so that a write refused
	// here — the table closed or failed while waiting — left no trace.
	if err := t.maybeSwitchMemtableLocked(); err != nil {
		t.writeMu.Unlock()
		return err
	}
	return nil
}

// commitInsert assigns seqs, logs and applies the batch (invisible to
// readers), then waits for the durability the mode promises and makes it
// visible.
func (t *Table) commitInsert(rows []encodedRow) (int64, error) {
	if err := t.beginWrite(); err != nil {
		return 0, err
	}
	first := t.lastSeq + 1
	for i := range rows {
		patchRowSeq(rows[i].buf, first+int64(i))
	}
	if u := t.newUniqueCheckLocked(t.Schema(), nil, len(rows) > 1); u != nil {
		for i := range rows {
			if err := u.admit(rows[i].buf, first+int64(i), true); err != nil {
				u.release()
				t.writeMu.Unlock()
				return 0, withTable(err, t.name)
			}
		}
		u.release()
	}
	return t.commitInsertLocked(rows)
}

// commitInsertLocked is commitInsert once the rows are checked and carry
// their seqs (lastSeq+1 on); the caller holds writeMu, which this releases.
func (t *Table) commitInsertLocked(rows []encodedRow) (int64, error) {
	first := t.lastSeq + 1
	w := t.wal
	end, err := w.appendBatch(first, rows) // wal_writer_batch.go
	if err != nil {
		err = t.fail(err)
		t.writeMu.Unlock()
		return 0, err
	}
	t.lastSeq = first + int64(len(rows)) - 1
	t.seqHigh.Store(t.lastSeq)
	op := t.nextOpLocked()
	mem := t.mem
	mem.addInserts(op, first, rows) // index entries deferred: memtable_deferred_index.go
	// The memtable's delta may count an op whose commit fails: a memtable
	// whose WAL failed never reaches the MANIFEST (see memtable.rowDelta).
	mem.addDelta(int64(len(rows)))
	t.writeMu.Unlock()
	if err := w.commit(end); err != nil {
		return 0, t.fail(err)
	}
	t.stats.inserts.Add(int64(len(rows)))
	t.liveRows.Add(int64(len(rows)))
	t.publishVisible(op)
	t.opsDone.Add(1)
	return first, nil
}

// nextOpLocked numbers the write operation whose WAL record was just
// appended. Caller holds writeMu.
func (t *Table) nextOpLocked() int64 {
	t.lastOp++
	t.opHigh.Store(t.lastOp)
	return t.lastOp
}

// publishVisible makes op, and every op before it, visible to readers that
// pin from now on: visible = max(visible, op). Called after op's WAL commit
// succeeded (see Table.visible for why a smaller op is then safe to show).
func (t *Table) publishVisible(op int64) {
	for {
		v := t.visible.Load()
		if v >= op {
			return
		}
		if t.visible.CompareAndSwap(v, op) {
			t.tails.notify() // wake Tails and Consumers (tail.go)
			return
		}
	}
}

// Update writes a new version of the row with the given seq: the current
// row with changes applied (field → new value; nil sets a Nullable field to
// NULL). The seq and _time stay. Reads and scans see only the newest version,
// once Update returned nil (never after an error). It returns ErrNotFound
// when the row does not exist or was deleted.
func (t *Table) Update(seq int64, changes map[string]any) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if len(changes) == 0 {
		return tableError(CodeInvalidArgument, t.name, "Update with no changes")
	}
	if err := t.beginWrite(); err != nil {
		return err
	}
	// Read, apply and log under writeMu so that a concurrent Delete or
	// Update of the same seq cannot interleave (no lost update, no
	// resurrection of a deleted row). The read sees the newest version,
	// committed or not: a write before this one in the WAL either commits,
	// or fails and takes this one down with it.
	s := t.Schema()
	old, err := t.getRow(s, seq, nil, true)
	if err != nil {
		t.writeMu.Unlock()
		return withTable(err, t.name)
	}
	vals, err := s.applyChanges(old.vals, changes)
	if err != nil {
		t.writeMu.Unlock()
		return withTable(err, t.name)
	}
	buf, err := encodeRow(nil, seq, old.timeNanos, s.types(), vals)
	if err != nil {
		t.writeMu.Unlock()
		return withTable(err, t.name)
	}
	if len(buf) > t.opts.MaxRowSize {
		t.writeMu.Unlock()
		return tableError(CodeSchemaViolation, t.name, "row of %d bytes exceeds MaxRowSize %d", len(buf), t.opts.MaxRowSize)
	}
	if u := t.newUniqueCheckLocked(s, nil, false); u != nil {
		err := u.admit(buf, seq, false)
		u.release()
		if err != nil {
			t.writeMu.Unlock()
			return withTable(err, t.name)
		}
	}
	return t.commitSingleLocked(walRecordUpdate, seq, kindSet, old.timeNanos, buf, 0)
}

// Upsert writes one row (a map or a struct, as Insert takes) keyed on the
// table's unique index (CreateUniqueIndex): when a live row holds the same
// key, that row gets a new version — every field replaced by the new row's,
// under the same seq — and Upsert returns its seq; otherwise the row is
// inserted and Upsert returns the new seq. A key with a NULL component
// matches no row (the row is inserted). The look-up and the write are one
// atomic step against concurrent writers of the table: 8 goroutines
// upserting the same keys leave exactly one row per key.
//
// The replaced row keeps its _time (every version of a seq shares one
// _time here: see unique.go); a new row's _time is set as Insert sets it.
// A table with no unique index, or several, refuses Upsert
// (ErrInvalidQuery); a slice is refused (ErrInvalidArgument: a Batch
// upserts several rows atomically); a row violating another rule is
// refused as Insert refuses it.
func (t *Table) Upsert(data any) (int64, error) {
	return t.writeRows(data, t.upsertRows)
}

// upsertRows is Upsert once the row is encoded.
func (t *Table) upsertRows(rows []encodedRow) (int64, error) {
	if len(rows) != 1 {
		return 0, tableError(CodeInvalidArgument, t.name, "Upsert takes one row, not %d (a Batch upserts several atomically)", len(rows))
	}
	if err := t.beginWrite(); err != nil {
		return 0, err
	}
	s := t.Schema()
	u := t.newUniqueCheckLocked(s, nil, false)
	defer u.release()
	row := rows[0].buf
	target, found, err := u.upsertTarget(s, row)
	if err != nil {
		t.writeMu.Unlock()
		return 0, withTable(err, t.name)
	}
	if !found {
		patchRowSeq(row, t.lastSeq+1)
		if err := u.admit(row, t.lastSeq+1, true); err != nil {
			t.writeMu.Unlock()
			return 0, withTable(err, t.name)
		}
		u.release()
		return t.commitInsertLocked(rows)
	}
	rs, err := u.state()
	if err != nil {
		t.writeMu.Unlock()
		return 0, withTable(err, t.name)
	}
	v, live, err := rowAt(rs, target)
	if err == nil && !live {
		err = rowNotFound(target, "the row holding the key vanished")
	}
	if err != nil {
		t.writeMu.Unlock()
		return 0, withTable(err, t.name)
	}
	tn := v.timeNanos()
	patchRowSeq(row, target)
	patchRowTime(row, tn)
	if err := u.admit(row, target, false); err != nil {
		t.writeMu.Unlock()
		return 0, withTable(err, t.name)
	}
	u.release()
	return target, t.commitSingleLocked(walRecordUpdate, target, kindSet, tn, row, 0)
}

// Delete removes the row with the given seq (a tombstone hides every older
// version) for readers once Delete returned nil. It returns ErrNotFound when
// the row does not exist.
func (t *Table) Delete(seq int64) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if err := t.beginWrite(); err != nil {
		return err
	}
	if _, err := t.lookup(seq, true); err != nil { // newest version, as in Update
		t.writeMu.Unlock()
		return withTable(err, t.name)
	}
	return t.commitSingleLocked(walRecordDelete, seq, kindDelete, 0, nil, -1)
}

// commitSingleLocked logs and applies one Update or Delete; the caller holds
// writeMu, which this releases.
func (t *Table) commitSingleLocked(typ walRecordType, seq int64, kind entryKind, timeNanos int64, row []byte, delta int64) error {
	w := t.wal
	end, err := w.append(typ, seq, row)
	if err != nil {
		err = t.fail(err)
		t.writeMu.Unlock()
		return err
	}
	op := t.nextOpLocked()
	t.mem.addOp(op, seq, kind, timeNanos, row)
	t.mem.addDelta(delta) // see commitInsert
	t.writeMu.Unlock()
	if err := w.commit(end); err != nil {
		return t.fail(err)
	}
	if kind == kindDelete {
		t.stats.deletes.Add(1)
	} else {
		t.stats.updates.Add(1)
	}
	t.liveRows.Add(delta)
	t.publishVisible(op)
	t.noteMutation()
	t.opsDone.Add(1)
	return nil
}

// maybeSwitchMemtableLocked turns a full active memtable into an immutable
// one, starts a new WAL for its successor and wakes the flusher. When too
// many immutable memtables wait for their flush it waits for one to finish
// (back-pressure) rather than let memory grow without bound. Caller holds
// writeMu.
func (t *Table) maybeSwitchMemtableLocked() error {
	if t.mem.approximateSize() < t.opts.MemTableSize {
		return nil
	}
	return t.switchMemtableLocked()
}

// switchMemtableLocked rotates the active memtable and WAL unconditionally
// (when the memtable is non-empty). Caller holds writeMu.
func (t *Table) switchMemtableLocked() error {
	if t.mem.empty() {
		return nil
	}
	var waitStart time.Time // set when this write stalls (metrics.go)
	defer func() {
		if !waitStart.IsZero() {
			t.stats.memStallNanos.Add(int64(time.Since(waitStart)))
		}
	}()
	for t.numImmutables() >= t.opts.MaxImmutableMemTables {
		if waitStart.IsZero() {
			waitStart = time.Now()
			t.stats.memStalls.Add(1)
		}
		if t.closed {
			return tableClosedError(t.name)
		}
		if err := t.readOnlyErr(); err != nil {
			return err
		}
		t.logger.Debug("srdb: insert waits for a memtable flush", "table", t.name, "immutables", t.numImmutables())
		t.spaceCond.Wait()
	}
	// The old WAL is complete (appends happen under writeMu): write, fsync
	// and close it before the next WAL exists. Replay treats damage in a WAL
	// that is not the newest as corruption, so no crash may leave an older
	// WAL torn — a SIGKILL cutting short a write of DurabilityNone's buffer
	// or a power cut dropping unsynced blocks would — and no newer WAL may
	// hold rows while an older one lost some (survivors stay a prefix of the
	// seqs). flushMemtable's close of the same WAL is then a no-op.
	if err := t.wal.close(); err != nil {
		return t.fail(err)
	}
	// Every op so far is durable now, and its commit certain to succeed
	// (commit checks coverage first): show them before they can reach an
	// SST, which has no ops to hide them by.
	t.publishVisible(t.lastOp)
	num := t.vs.newFileNum()
	w, err := createWAL(t.fs, makeFilepath(t.dir, fileTypeWAL, num), num, t.opts.Durability, t.opts.SyncInterval, t.logger)
	if err != nil {
		return t.fail(err)
	}
	if err := killPoint("wal.after_create"); err != nil {
		w.close()
		return t.fail(err)
	}
	next := newMemtable(num)
	next.offHeap()
	next.reserve(t.mem.len() + t.mem.len()/8) // table_replay.go
	next.idx = newMemIndexSet(t.Schema())
	next.idxEager = t.mem.idxRead.Load() // memtable_deferred_index.go
	next.wal = w
	w.setInserters(&t.inserters)
	w.setCounters(&t.stats.wal)
	t.stateMu.Lock()
	t.imms = append(t.imms, t.mem)
	t.mem = next
	t.stateMu.Unlock()
	t.wal = w
	select {
	case t.flushWake <- struct{}{}:
	default:
	}
	return nil
}

func (t *Table) numImmutables() int {
	t.stateMu.RLock()
	defer t.stateMu.RUnlock()
	return len(t.imms)
}

// patchRowSeq writes seq into the Seq field of an encoded ROW1 row.
func patchRowSeq(row []byte, seq int64) {
	binary.LittleEndian.PutUint64(row[rowSeqOffset:], uint64(seq))
}
