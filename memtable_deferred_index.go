package srdb

// Deferred indexing of inserted rows.
//
// An Insert stores its rows in the active memtable without making their
// secondary index entries (addInserts): parsing each row, building its keys
// and inserting them into the memIndex cost more CPU than the rest of the
// memtable add, and a memtable whose index nobody reads before its flush
// (an ingest) never needs them — the flush builds the SST's index sections
// from the rows. The entries are made on demand, by catchUpIndex, before
// anything reads or changes the memtable index:
//
//   - every index read (newIndexIter, which also serves the unique checks,
//     and Check) catches up first. The rows a reader's snapshot sees were
//     stored before the reader pinned it, so they are indexed by then: the
//     promise of the eager design ("a reader that sees a row also finds its
//     index entries") holds;
//   - every other write to the memtable (addOp: Update, Delete, Batch,
//     replay; addRangeDelOp) catches up before its own index work, so the
//     index sees the writes in the order they were made, as if each had
//     been indexed at once.
//
// The deferred rows are always the last idxPending entries of ents: an
// insert appends a new entry (its seq is new to the memtable), and any write
// that could append or replace an entry otherwise catches up first. The
// catch-up indexes them oldest first in batches, holding mu only to copy a
// batch out (arena bytes never move), so inserts go on meanwhile: it ends
// when no row is pending. idxMu serialises catch-ups with each other and
// with addOp's index work (the memIndexSet's scratch buffers and its
// order of adds and removals rely on a single writer).
//
// Cost: a reader that comes after many inserts pays for indexing them
// (~0.3 µs per row per indexed field here: ~20 ms for a default 16 MiB
// memtable with two indexes), once; the memory of the entries is charged
// to the memtable (approximateSize) when they are made. So that a workload
// that mixes inserts and index reads pays that at most once, not for every
// memtable, deferring stops where the index is read: once a reader caught
// up on a memtable (idxRead), later Inserts into it index their rows at
// once, as every other write does; so do the Inserts into the next active
// memtable (idxEager, set at the switch). A memtable that lives its whole
// life without an index read hands on deferring again: an ingest with no
// reads pays nothing.

// catchUpBatch is the number of deferred rows catchUpIndexLocked copies out
// under one hold of mu.
const catchUpBatch = 256

// eagerAfterIndexRead enables idxRead (Inserts index at once in a memtable
// whose index was read, and in its successor); tests turn it off to keep
// Inserts deferring while readers catch up.
var eagerAfterIndexRead = true

// addInserts stores the rows of one Insert, written by op with consecutive
// seqs from first, deferring their index entries unless the memtable's
// index is being read (see above). A seq the memtable already holds — never
// the case for an Insert, whose seqs are new — goes through addOp instead.
// Caller holds Table.writeMu.
func (m *memtable) addInserts(op int64, first int64, rows []encodedRow) {
	if m.idxEager || m.idxRead.Load() {
		for i := range rows {
			m.addOp(op, first+int64(i), kindSet, rows[i].timeNanos, rows[i].buf)
		}
		return
	}
	m.mu.Lock()
	for i := range rows {
		seq := first + int64(i)
		if _, ok := m.posLocked(seq); ok {
			m.mu.Unlock()
			for j := i; j < len(rows); j++ {
				m.addOp(op, first+int64(j), kindSet, rows[j].timeNanos, rows[j].buf)
			}
			return
		}
		m.addLocked(op, seq, kindSet, rows[i].timeNanos, rows[i].buf)
		m.idxPending.Add(1)
	}
	m.mu.Unlock()
}

// catchUpIndex makes the index entries of every deferred row; a reader of
// the memtable index calls it first. Inserts index at once from then on.
func (m *memtable) catchUpIndex() {
	if eagerAfterIndexRead && !m.idxRead.Load() {
		m.idxRead.Store(true)
	}
	if m.idxPending.Load() == 0 {
		// Nothing deferred: a catch-up counts rows off only after their
		// entries are made, so a reader need not wait on idxMu for a
		// writer's own index work.
		return
	}
	m.idxMu.Lock()
	defer m.idxMu.Unlock()
	m.catchUpIndexLocked()
}

// catchUpIndexLocked is catchUpIndex; the caller holds idxMu.
func (m *memtable) catchUpIndexLocked() {
	// Without mu: a row a reader's snapshot sees was counted before the
	// reader pinned it, and a writer (under Table.writeMu) races no insert.
	for m.idxPending.Load() > 0 {
		m.mu.RLock()
		pending := int(m.idxPending.Load())
		from := len(m.ents) - pending
		batch := m.idxScratch[:0]
		for _, e := range m.ents[from : from+min(pending, catchUpBatch)] {
			c := m.arena[e.chunk]
			batch = append(batch, replayRow{seq: e.seq, row: c[e.off : e.off+e.n : e.off+e.n]})
		}
		m.mu.RUnlock()
		for _, x := range batch {
			m.idx.add(x.seq, x.row)
		}
		clear(batch) // drop the arena references
		m.idxScratch = batch[:0]
		m.mu.Lock()
		m.idxPending.Add(-int64(len(batch)))
		m.mu.Unlock()
	}
}
