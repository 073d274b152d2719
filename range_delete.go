package srdb

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"slices"
	"time"
)

// Deleting many rows in one durable write: DeleteRange and DeleteBefore log
// one range tombstone (range_tombstone.go) whatever the number of rows it
// hides; Query.Delete logs the tombstones of every row it matched in one WAL
// record. Either is applied all or none, after a crash too, and readers see
// it from the moment the call returns.
//
// WAL payload of a walRecordRangeDelete record (the record's Seq field is
// the tombstone's seqLo):
//
//	+--------------------------------------------+-----------+
//	| range tombstone (appendRangeTombstone)     | hidden    |
//	| seqLo uvarint | seqHi uvarint | timeBefore | uvarint   |
//	+--------------------------------------------+-----------+
//
// hidden is the number of live rows the tombstone hid when it was written:
// replay subtracts it from the memtable's row delta, as the write did.
//
// WAL payload of a walRecordDeleteBatch record (Seq = the first seq):
//
//	+-----------+----------+----------+-----+
//	| count     | seq 1    | seq 2 −  | ... |
//	| uvarint   | − Seq    | seq 1    |     |
//	|           | uvarint  | uvarint  |     |
//	+-----------+----------+----------+-----+
//
// The seqs are strictly increasing (so every delta after the first is ≥ 1);
// each was a live row when the record was written.

// DeleteRange deletes every row with lo <= _seq < hi that exists when it is
// called, in one durable write (a range tombstone), whatever their number.
// A row inserted later is never hidden by it, even with a seq below hi
// (seqs are never reused), and the row at hi is kept. Reads stop returning
// the rows when DeleteRange returns; SSTs holding only such rows are
// dropped from the table at once (their disk space is returned without
// rewriting them), other files lose the rows at their next compaction.
// lo > hi is ErrInvalidArgument; an empty range deletes nothing.
func (t *Table) DeleteRange(lo, hi int64) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if err := t.refuseReadOnly("DeleteRange"); err != nil {
		return err
	}
	if lo > hi {
		return tableError(CodeInvalidArgument, t.name, "DeleteRange(%d, %d): lo is above hi", lo, hi)
	}
	lo = max(lo, 1)
	if lo >= hi {
		return nil
	}
	_, err := t.writeRangeTombstone(rangeTombstone{seqLo: lo, seqHi: hi, timeBefore: anyTime})
	return err
}

// DeleteBefore deletes every row whose _time is before cutoff and that
// exists when it is called, in one durable write, like DeleteRange: a row
// inserted later is never hidden by it, whatever its _time (MaxAge, in
// TableOptions, is the standing rule for that).
func (t *Table) DeleteBefore(cutoff time.Time) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if err := t.refuseReadOnly("DeleteBefore"); err != nil {
		return err
	}
	tb, ok := timeBeforeNanos(cutoff)
	if !ok {
		return nil // before any time a row can carry
	}
	_, err := t.writeRangeTombstone(rangeTombstone{seqLo: 1, seqHi: math.MaxInt64, timeBefore: tb})
	return err
}

// timeBeforeNanos converts cutoff to the timeBefore of a tombstone: false
// when no _time (Unix nanoseconds in an int64) is before it; anyTime - 1 when
// every one but the largest is.
func timeBeforeNanos(cutoff time.Time) (int64, bool) {
	switch {
	case cutoff.Before(time.Unix(0, math.MinInt64).Add(time.Nanosecond)):
		return 0, false
	case !cutoff.Before(time.Unix(0, math.MaxInt64)):
		return anyTime - 1, true
	}
	return cutoff.UnixNano(), true
}

// writeRangeTombstone logs d (its seqHi lowered to the last seq assigned:
// only rows that exist now are hidden), applies it to the active memtable
// and waits for its commit, then drops the SSTs it hides entirely. It
// returns the number of live rows d hid; with none it writes nothing.
func (t *Table) writeRangeTombstone(d rangeTombstone) (int64, error) {
	if err := t.beginWrite(); err != nil {
		return 0, err
	}
	d.seqHi = min(d.seqHi, t.lastSeq+1)
	if d.seqLo >= d.seqHi {
		t.writeMu.Unlock()
		return 0, nil
	}
	n, err := t.countHiddenLatest(d)
	if err != nil || n == 0 {
		t.writeMu.Unlock()
		return 0, withTable(err, t.name)
	}
	payload := binary.AppendUvarint(appendRangeTombstone(nil, d), uint64(n))
	w := t.wal
	end, err := w.append(walRecordRangeDelete, d.seqLo, payload)
	if err != nil {
		err = t.fail(err)
		t.writeMu.Unlock()
		return 0, err
	}
	op := t.nextOpLocked()
	t.mem.addRangeDelOp(op, d)
	t.mem.addDelta(-n) // see commitInsert
	t.writeMu.Unlock()
	if err := t.commitDeletes(w, end, op, n); err != nil {
		return 0, err
	}
	if err := killPoint("range_delete.after_wal"); err != nil {
		return n, t.fail(err)
	}
	return n, t.dropHiddenFiles(d, w)
}

// countHiddenLatest counts the live rows d would hide in the newest state
// (every write, committed or not; the caller holds writeMu), against the
// tombstones the row counter reflects (not the MaxAge rule).
func (t *Table) countHiddenLatest(d rangeTombstone) (int64, error) {
	rs, err := t.pinLatest()
	if err != nil {
		return 0, err
	}
	defer rs.release()
	rs.setDeletes(false)
	return countHidden(rs, d)
}

// countHidden counts the live rows of rs (which must see every write, see
// pinLatest) that d hides and rs does not hide already.
func countHidden(rs *readState, d rangeTombstone) (int64, error) {
	b := iterBounds{seqLo: d.seqLo, seqHi: d.seqHi - 1}
	if d.timed() {
		b.timeBound, b.timeLo, b.timeHi = true, math.MinInt64, d.timeBefore-1
	}
	it := rs.newIter(b, nil)
	var n int64
	for ok := it.seekGE(d.seqLo); ok && it.seq() < d.seqHi; ok = it.next() {
		if it.kind() != kindSet {
			continue
		}
		if d.timed() {
			tn, err := storedRowTime(it.seq(), it.value())
			if err != nil {
				it.close()
				return 0, err
			}
			if tn >= d.timeBefore {
				continue
			}
		}
		n++
	}
	return n, it.close()
}

// dropHiddenFiles removes from the LSM tree, in one MANIFEST edit that also
// records d in the version, every SST whose rows d hides entirely
// (rangeTombstone.dropsFile); their space returns once no reader pins them.
// w is the WAL d was logged in: it is synced first (a no-op in
// DurabilitySync), so that the MANIFEST never drops rows whose tombstone a
// crash could still lose. An edit that conflicts with a compaction that
// replaced some of the files meanwhile is retried on the new version.
func (t *Table) dropHiddenFiles(d rangeTombstone, w *walWriter) error {
	for attempt := 0; ; attempt++ {
		v := t.vs.current()
		drops := hiddenFiles(v, d)
		v.unref()
		if len(drops) == 0 {
			return nil
		}
		if attempt == 0 {
			if err := w.sync(); err != nil && !errors.Is(err, ErrClosed) {
				return t.fail(err)
			}
			if err := killPoint("range_delete.before_manifest"); err != nil {
				return t.fail(err)
			}
		}
		t.flushMu.Lock()
		v = t.vs.current()
		edit := &versionEdit{addedDels: []rangeTombstone{d}}
		var bytes int64
		for _, f := range hiddenFiles(v, d) {
			edit.deleteFile(f.level, f.meta.num)
			bytes += int64(f.meta.size)
		}
		v.unref()
		err := t.vs.logAndApply(edit)
		if err == nil {
			t.installVersion(nil)
		}
		t.flushMu.Unlock()
		if errors.Is(err, errEditConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return t.failManifest(err)
		}
		t.stats.filesDropped.Add(int64(len(edit.deletedFiles)))
		t.stats.bytesDropped.Add(bytes)
		t.logger.Info("srdb: dropped SSTs a range delete hides",
			slog.String("table", t.name), slog.String("tombstone", d.String()),
			slog.Int("files", len(edit.deletedFiles)), slog.Int64("bytes", bytes))
		if err := killPoint("range_delete.after_manifest"); err != nil {
			return t.fail(err)
		}
		t.maybeScheduleCompaction()
		return nil
	}
}

// levelFile is an SST and its level.
type levelFile struct {
	level int
	meta  *fileMeta
}

// hiddenFiles returns the SSTs of v whose rows d hides entirely.
func hiddenFiles(v *version, d rangeTombstone) []levelFile {
	var out []levelFile
	for level, files := range v.levels {
		for _, f := range files {
			if d.dropsFile(f) {
				out = append(out, levelFile{level, f})
			}
		}
	}
	return out
}

// Delete deletes every row the query matches — its conditions, OrderBy,
// Offset and Limit apply, so "the oldest 100 rows of this channel" is
// Eq(...).OrderBy("_seq").Limit(100).Delete() — and returns how many. The
// rows are deleted all or none, after a crash too, in one durable write: a
// WAL record holding a tombstone per row. The query runs under the table's
// write lock against the newest version of every row, so no write
// interleaves between matching and deleting. Select is ignored.
func (q *Query) Delete() (int, error) {
	p, err := q.plan(planRows)
	if err != nil {
		return 0, err
	}
	t := p.t
	if err := t.refuseReadOnly("Query.Delete"); err != nil {
		return 0, err
	}
	if err := p.interrupted(); err != nil {
		return 0, err
	}
	if err := t.beginWrite(); err != nil {
		return 0, err
	}
	seqs, err := p.matchSeqs(q.newStats())
	if err != nil || len(seqs) == 0 {
		t.writeMu.Unlock()
		return 0, withTable(err, t.name)
	}
	slices.Sort(seqs)
	payload := binary.AppendUvarint(make([]byte, 0, 2+len(seqs)*3), uint64(len(seqs)))
	prev := seqs[0]
	for _, s := range seqs {
		payload = binary.AppendUvarint(payload, uint64(s-prev))
		prev = s
	}
	w := t.wal
	end, err := w.append(walRecordDeleteBatch, seqs[0], payload)
	if err != nil {
		err = t.fail(err)
		t.writeMu.Unlock()
		return 0, err
	}
	op := t.nextOpLocked()
	for _, s := range seqs {
		t.mem.addOp(op, s, kindDelete, 0, nil)
	}
	n := int64(len(seqs))
	t.mem.addDelta(-n) // see commitInsert
	t.writeMu.Unlock()
	if err := t.commitDeletes(w, end, op, n); err != nil {
		return 0, err
	}
	return len(seqs), nil
}

// commitDeletes waits for the commit of a write that deleted n rows (op,
// its WAL record ending at end in w; writeMu released), then counts it and
// makes it visible: the second half of writeRangeTombstone and
// Query.Delete, as in commitInsert.
func (t *Table) commitDeletes(w *walWriter, end, op, n int64) error {
	if err := w.commit(end); err != nil {
		return t.fail(err)
	}
	t.stats.deletes.Add(n)
	t.liveRows.Add(-n)
	t.publishVisible(op)
	t.opsDone.Add(1)
	t.noteMutation()
	return nil
}

// matchSeqs returns the seqs of the rows p returns (its window applied),
// reading the newest version of every row. Caller holds writeMu.
func (p *plan) matchSeqs(st *queryStats) ([]int64, error) {
	rs, err := p.t.pinLatest()
	if err != nil {
		return nil, err
	}
	defer rs.release()
	src, eff, err := p.source(rs, st, p.sort)
	if err != nil {
		return nil, err
	}
	if eff.sort {
		src = &sortSource{p: eff, in: src, st: st}
	}
	var seqs []int64
	skip, left := p.offset, p.limit
	for left != 0 && src.next() {
		if skip > 0 {
			skip--
			continue
		}
		if len(seqs) == maxBatchRows {
			src.close()
			return nil, tableError(CodeInvalidArgument, p.t.name, "Query.Delete of more than %d rows (narrow the query or use DeleteRange)", maxBatchRows)
		}
		seqs = append(seqs, src.seq())
		if left > 0 {
			left--
		}
	}
	err = src.err()
	if cerr := src.close(); err == nil {
		err = cerr
	}
	return seqs, err
}
