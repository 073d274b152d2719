package srdb

import (
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// memtable holds the newest writes of a table in memory until a background
// flush turns it into an L0 SST.
//
// Layout: encoded rows are appended to an arena of large byte chunks (so the
// garbage collector sees a handful of pointers, not one per row); ents holds
// one memEntry per seq in insertion order; order lists ents positions sorted
// by seq (the "sorted slice"). Finding the position of a seq (the "map" of
// the design) is arithmetic in the usual case: inserts get consecutive seqs
// and are applied in seq order, so the entry of seq usually sits at position
// seq - base of ents (base = the first entry's seq). Only entries that do
// not sit there (Updates and Deletes of older seqs, gaps after a failed
// batch) go into the index map, which therefore stays empty during an
// append-only ingest: no hashing and no map growth per insert or per
// replayed row. Inserts arrive in seq order almost always, so appending to
// order keeps it sorted in O(1). An Update of a seq that is older than the
// newest one and not yet in this memtable goes to late instead; late is
// merged into a fresh order slice the next time an iterator needs sorted
// order, so a run of out-of-order updates costs one sort, not one memmove
// each.
//
// An entry is replaced in place when its seq is written again (Update,
// Delete); the old bytes stay in the arena until the memtable is flushed.
//
// Visibility (see Table.visible): every entry records the write operation
// (op) that stored it, and a reader passes the watermark it captured when it
// pinned its read state (snap); an entry with op > snap belongs to a write
// whose WAL commit has not succeeded (yet, or ever) and must not be seen.
// So that such a reader can still see the version it replaced, an entry
// replaced in place by a write with op > 0 moves to superseded, and
// prevOf[position] names it (each superseded entry names its own
// predecessor in prev): getAt and memIter walk that chain to the newest
// version with op <= snap, or report the seq absent from this memtable when
// none is (older sources then answer). Inserts never touch prevOf or
// superseded, and replayed writes (op 0, visible to every reader) replace
// in place without keeping the old entry.
//
// Readers copy a memEntry under mu (read lock) and then read its row bytes
// without the lock: arena bytes are written once, before the entry that
// points at them is published, and never modified.
type memtable struct {
	// logNum is the WAL file holding this memtable's writes; set at creation.
	logNum uint64

	// wal is the writer of that WAL while the memtable is active or waits
	// for its flush; the flush closes it. Set at creation.
	wal *walWriter
	// idx is the memtable's secondary index (index_memtable.go); set at
	// creation, fed by add (an Insert's rows when the index is next read or
	// changed: memtable_deferred_index.go). nil (memtables built by tests)
	// indexes nothing.
	idx *memIndexSet
	// rowDelta counts rows this memtable's writes added minus those they
	// deleted (updates count zero). The MANIFEST keeps the running total of
	// flushed memtables, so Stats knows the exact row count without a scan.
	// It counts a write when it is applied, before its WAL commit; that is
	// exact for every memtable that reaches the MANIFEST: a memtable becomes
	// immutable (flushable) only through a memtable switch, which first
	// closes its WAL — writing and fsyncing every record, so every commit
	// into it succeeds — and fails the table instead when that close fails;
	// a failed table never switches, and Close flushes nothing.
	rowDelta atomic.Int64

	// rangeDels are the range tombstones logged into this memtable's WAL
	// (range_tombstone.go), each with the op that wrote it (0 when
	// replayed). Copy-on-write: appended under Table.writeMu (or by replay)
	// and read without a lock.
	rangeDels atomic.Pointer[[]memRangeDel]
	// maxBatch is the highest id of a Batch with parts in this memtable
	// (0: none); the flush records it in the MANIFEST (propMaxBatch).
	maxBatch atomic.Uint64
	// timeBlocks is the _time summary _time range queries read
	// (memtable_timeindex.go); it has its own lock.
	timeBlocks memTimeBlocks

	// idxMu serialises every change of idx: the index work of addOp and
	// addRangeDelOp, and the catch-up of deferred inserts
	// (memtable_deferred_index.go). Lock order: Table.writeMu, idxMu, mu.
	idxMu sync.Mutex
	// idxScratch is catchUpIndexLocked's reusable batch; idxMu guards it.
	idxScratch []replayRow
	// idxPending counts the rows addInserts stored without indexing them:
	// always the last idxPending entries of ents (see
	// memtable_deferred_index.go). Changed under mu (write lock), so that
	// it and len(ents) read under mu agree; also read atomically, without
	// mu, by the fast check of catchUpIndexLocked.
	idxPending atomic.Int64
	// idxRead is set by the first index read of the memtable (catchUpIndex):
	// from then on an Insert indexes its rows at once, and so do the
	// Inserts into the memtable that replaces this one as the active one
	// (idxEager). A memtable no index read reached defers them again.
	idxRead atomic.Bool
	// idxEager, set at creation (before the memtable is published), makes
	// Inserts index at once from the start: the predecessor was read.
	idxEager bool

	// chunks owns the arena's mappings when it lives outside the Go heap
	// (memtable_arena.go); nil: heap chunks. Set before the memtable is
	// shared.
	chunks *memChunks
	// refs counts the references to an off-heap arena: the table's while
	// the memtable is active or immutable, and one per read state pinning
	// it; the arena is unmapped at zero (memtable_arena.go).
	refs atomic.Int32
	// ownerGone is set once the table's reference was dropped.
	ownerGone atomic.Bool

	// mu guards every field below.
	mu         sync.RWMutex
	base       int64           // seq of ents[0]; ents[seq-base] is seq's entry when it is "in place"
	index      map[int64]int32 // seq → position in ents, for entries not in place
	ents       []memEntry      // every seq once, in first-insertion order
	order      []int32         // positions in ents sorted by seq (excluding late)
	late       []int32         // positions inserted out of seq order, unsorted
	arena      [][]byte        // chunks of encoded rows
	cur        int32           // arena chunk small rows are appended to; -1 before the first
	size       int64           // approximate memory charged to this memtable
	minSeq     int64           // smallest seq present (0 when empty)
	maxSeq     int64           // largest seq present
	minTime    int64           // smallest _time of a live row
	maxTime    int64           // largest _time of a live row
	hasTime    bool            // minTime/maxTime are set
	numDeletes int             // entries that are tombstones
	// prevOf maps a position in ents whose entry replaced an older version
	// to that version's index in superseded; nil until the first such write.
	prevOf     map[int32]int32
	superseded []memVersion // versions replaced in place, kept for older snapshots
}

// memVersion is a version of a seq replaced in place: the entry and the
// index in superseded of the version it replaced in turn (-1: none).
type memVersion struct {
	e    memEntry
	prev int32
}

// memEntry describes one version of one seq (ents holds the newest).
type memEntry struct {
	seq       int64
	timeNanos int64
	op        int64 // write operation that stored it (Table.lastOp); 0 for replayed rows
	kind      entryKind
	// unindexed is set once a range tombstone of this memtable hid the
	// row and its index entries were removed (takeHidden). It sits in the
	// padding after kind: the entry stays 40 bytes.
	unindexed bool
	chunk     int32  // arena chunk holding the row bytes
	off       uint32 // offset of the row in the chunk
	n         uint32 // length of the row (0 for a tombstone)
}

const (
	memArenaChunk    = 1 << 20 // bytes per arena chunk
	memEntryOverhead = 48      // bytes charged per entry for index, ents and order
)

func newMemtable(logNum uint64) *memtable {
	return &memtable{logNum: logNum, index: make(map[int64]int32), cur: -1}
}

// add records the newest version of seq as written by op 0 (WAL replay,
// tests): visible to every reader. See addOp.
func (m *memtable) add(seq int64, kind entryKind, timeNanos int64, row []byte) {
	m.addOp(0, seq, kind, timeNanos, row)
}

// addOp records the newest version of seq, stored by write operation op (a
// reader whose snapshot is below op does not see it). row is copied into
// the arena; it is nil for a tombstone (kindDelete).
//
// A row version is indexed before it becomes visible, so a reader that sees
// it also finds its index entries (an entry without its row yet is only a
// candidate that fails the re-check). The entries of the version it
// replaces in this memtable, if any, are removed after (memIndexSet.unindex;
// readers whose snapshot predates op still see them).
func (m *memtable) addOp(op int64, seq int64, kind entryKind, timeNanos int64, row []byte) {
	m.idxMu.Lock()
	m.catchUpIndexLocked() // the deferred inserts come first, as they were written
	if kind == kindSet {
		m.idx.add(seq, row)
	}
	m.mu.Lock()
	old := m.replacedRowLocked(seq)
	m.addLocked(op, seq, kind, timeNanos, row)
	m.mu.Unlock()
	if old != nil {
		m.idx.unindex(seq, old, row, op)
	}
	m.idxMu.Unlock()
}

// replacedRowLocked returns the row bytes of the newest version of seq in
// this memtable (aliasing the arena), or nil when there is none or it is a
// tombstone: what a new version of seq replaces. Caller holds mu.
func (m *memtable) replacedRowLocked(seq int64) []byte {
	if m.idx == nil {
		return nil
	}
	pos, ok := m.posLocked(seq)
	if !ok {
		return nil
	}
	e := m.ents[pos]
	if e.kind != kindSet || e.n == 0 {
		return nil
	}
	c := m.arena[e.chunk]
	return c[e.off : e.off+e.n : e.off+e.n]
}

// addLocked is addOp without the index; it returns the copy of row in the
// arena (nil for a tombstone). Caller holds mu.
func (m *memtable) addLocked(op int64, seq int64, kind entryKind, timeNanos int64, row []byte) (stored []byte) {
	e := memEntry{seq: seq, timeNanos: timeNanos, op: op, kind: kind}
	if len(row) > 0 {
		e.chunk, e.off = m.allocLocked(len(row))
		e.n = uint32(len(row))
		stored = m.arena[e.chunk][e.off : e.off+e.n : e.off+e.n]
		copy(stored, row)
	}
	m.size += int64(len(row))
	if kind == kindDelete {
		m.numDeletes++
	} else {
		if !m.hasTime || timeNanos < m.minTime {
			m.minTime = timeNanos
		}
		if !m.hasTime || timeNanos > m.maxTime {
			m.maxTime = timeNanos
		}
		m.hasTime = true
	}
	if pos, ok := m.posLocked(seq); ok {
		if m.ents[pos].kind == kindDelete {
			m.numDeletes--
		}
		if op > 0 {
			m.keepSupersededLocked(pos)
		}
		m.ents[pos] = e
		return stored
	}
	pos := int32(len(m.ents))
	if pos == 0 {
		m.base = seq
	}
	m.ents = append(m.ents, e)
	if seq-m.base != int64(pos) {
		m.index[seq] = pos
	}
	m.size += memEntryOverhead
	switch {
	case len(m.ents) == 1:
		m.minSeq, m.maxSeq = seq, seq
		m.order = append(m.order, pos)
	case seq > m.maxSeq:
		m.maxSeq = seq
		m.order = append(m.order, pos)
	default:
		if seq < m.minSeq {
			m.minSeq = seq
		}
		m.late = append(m.late, pos)
	}
	return stored
}

// posLocked returns the position in ents of seq's entry. Caller holds mu
// (read or write).
func (m *memtable) posLocked(seq int64) (int32, bool) {
	if d := seq - m.base; d >= 0 && d < int64(len(m.ents)) && m.ents[d].seq == seq {
		return int32(d), true
	}
	if len(m.index) == 0 {
		return 0, false
	}
	pos, ok := m.index[seq]
	return pos, ok
}

// keepSupersededLocked moves the entry at pos to superseded before it is
// replaced in place, so that readers whose snapshot predates the new version
// still find it. Caller holds mu (write).
func (m *memtable) keepSupersededLocked(pos int32) {
	prev := int32(-1)
	if i, ok := m.prevOf[pos]; ok {
		prev = i
	}
	if m.prevOf == nil {
		m.prevOf = make(map[int32]int32)
	}
	m.prevOf[pos] = int32(len(m.superseded))
	m.superseded = append(m.superseded, memVersion{e: m.ents[pos], prev: prev})
	m.size += memEntryOverhead
}

// visibleLocked returns the newest version at pos whose op is at most snap;
// false when every version here is newer than snap. Caller holds mu (read
// or write).
func (m *memtable) visibleLocked(pos int32, snap int64) (memEntry, bool) {
	e := m.ents[pos]
	if e.op <= snap {
		return e, true
	}
	i, ok := m.prevOf[pos]
	for ok && i >= 0 {
		v := m.superseded[i]
		if v.e.op <= snap {
			return v.e, true
		}
		i = v.prev
	}
	return memEntry{}, false
}

// allocLocked reserves n bytes in the arena and returns where. Rows larger
// than a quarter chunk get a chunk of their own so they do not waste the
// tail of the shared one.
func (m *memtable) allocLocked(n int) (chunk int32, off uint32) {
	if n > memArenaChunk/4 {
		m.arena = append(m.arena, m.newChunk(n)[:n])
		return int32(len(m.arena) - 1), 0
	}
	if m.cur < 0 || len(m.arena[m.cur])+n > cap(m.arena[m.cur]) {
		m.arena = append(m.arena, m.newChunk(memArenaChunk))
		m.cur = int32(len(m.arena) - 1)
	}
	c := m.arena[m.cur]
	off = uint32(len(c))
	m.arena[m.cur] = c[:len(c)+n]
	return m.cur, off
}

// addDelta adds to the memtable's row delta; called under Table.writeMu.
func (m *memtable) addDelta(d int64) { m.rowDelta.Add(d) }

// delta returns the memtable's row delta.
func (m *memtable) delta() int64 { return m.rowDelta.Load() }

// rowBytes returns the row of e; the slice aliases the arena and must not be
// modified.
func (m *memtable) rowBytes(e memEntry) []byte {
	if e.n == 0 {
		return nil
	}
	m.mu.RLock()
	c := m.arena[e.chunk]
	m.mu.RUnlock()
	return c[e.off : e.off+e.n : e.off+e.n]
}

// get returns the newest version of seq held by this memtable, visible or
// not: for writers (under Table.writeMu), flush and Check.
func (m *memtable) get(seq int64) (memEntry, bool) { return m.getAt(seq, memAllOps) }

// getAt returns the newest version of seq whose op is at most snap; false
// when this memtable holds no such version (older sources then answer).
func (m *memtable) getAt(seq int64, snap int64) (memEntry, bool) {
	m.mu.RLock()
	pos, ok := m.posLocked(seq)
	var e memEntry
	if ok {
		e, ok = m.visibleLocked(pos, snap)
	}
	m.mu.RUnlock()
	return e, ok
}

// memAllOps is the snapshot that sees every version (the newest one).
const memAllOps = math.MaxInt64

// approximateSize returns the bytes charged to the memtable, its index
// included.
func (m *memtable) approximateSize() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.size + m.idx.size()
}

// len returns the number of distinct seqs (rows and tombstones).
func (m *memtable) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.ents)
}

// empty reports whether nothing was ever added.
func (m *memtable) empty() bool { return m.len() == 0 && m.rangeDels.Load() == nil }

// memtableStats is a consistent summary used by flush and Stats.
type memtableStats struct {
	entries, deletes int
	size             int64
	minSeq, maxSeq   int64
	minTime, maxTime int64
	hasTime          bool
}

func (m *memtable) stats() memtableStats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return memtableStats{
		entries: len(m.ents), deletes: m.numDeletes, size: m.size,
		minSeq: m.minSeq, maxSeq: m.maxSeq,
		minTime: m.minTime, maxTime: m.maxTime, hasTime: m.hasTime,
	}
}

// sortedPositions returns the positions of all entries sorted by seq. The
// returned slice is never modified afterwards, so iterators may keep it.
func (m *memtable) sortedPositions() []int32 {
	m.mu.RLock()
	if len(m.late) == 0 {
		o := m.order[:len(m.order):len(m.order)]
		m.mu.RUnlock()
		return o
	}
	m.mu.RUnlock()

	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.late) == 0 {
		return m.order[:len(m.order):len(m.order)]
	}
	late := slices.Clone(m.late)
	sort.Slice(late, func(i, j int) bool { return m.ents[late[i]].seq < m.ents[late[j]].seq })
	merged := make([]int32, 0, len(m.order)+len(late))
	i, j := 0, 0
	for i < len(m.order) && j < len(late) {
		if m.ents[m.order[i]].seq < m.ents[late[j]].seq {
			merged = append(merged, m.order[i])
			i++
		} else {
			merged = append(merged, late[j])
			j++
		}
	}
	merged = append(merged, m.order[i:]...)
	merged = append(merged, late[j:]...)
	// Fold late into order for good: order is replaced by a new slice (the
	// old one may be held by iterators), late is emptied.
	m.order = merged
	m.late = nil
	return merged[:len(merged):len(merged)]
}

// frozenMemtable is a view of a memtable that takes no more writes (an
// immutable memtable: writes go to the active one under Table.writeMu, and
// the switch that made it immutable held writeMu too), read without the
// per-entry locking of memIter: the flush walks it.
type frozenMemtable struct {
	order []int32    // positions in ents sorted by seq
	ents  []memEntry // the newest version of every entry
	arena [][]byte   // the chunks holding their rows
}

// frozen returns the frozenMemtable of m, which must take no more writes.
func (m *memtable) frozen() frozenMemtable {
	order := m.sortedPositions()
	m.mu.RLock()
	defer m.mu.RUnlock()
	return frozenMemtable{order: order, ents: m.ents[:len(m.ents):len(m.ents)], arena: m.arena[:len(m.arena):len(m.arena)]}
}

// entry returns the i-th entry in seq order (0 ≤ i < len(f.order)).
func (f *frozenMemtable) entry(i int) memEntry { return f.ents[f.order[i]] }

// row returns the row of e, an entry of f (nil for a tombstone).
func (f *frozenMemtable) row(e memEntry) []byte {
	if e.n == 0 {
		return nil
	}
	c := f.arena[e.chunk]
	return c[e.off : e.off+e.n : e.off+e.n]
}

// memIter iterates a memtable in seq order in both directions. It sees the
// entries present when it was created (later appends are not visited) with
// their newest version whose op is at most snap at the time each is read; a
// seq with no such version is skipped.
type memIter struct {
	m     *memtable
	order []int32
	snap  int64 // versions with a larger op are invisible
	i     int   // position in order; -1 or len(order) when not valid
	cur   memEntry
}

// newIter iterates every entry's newest version, visible or not: for flush
// and Check. Readers use newIterAt.
func (m *memtable) newIter() *memIter { return m.newIterAt(memAllOps) }

// newIterAt iterates the versions a reader with snapshot snap may see.
func (m *memtable) newIterAt(snap int64) *memIter {
	return &memIter{m: m, order: m.sortedPositions(), snap: snap, i: -1}
}

// load reads the entry at i, moving by dir (+1 or -1) past entries with no
// version visible at snap; when none is left i ends at -1 or len(order).
func (it *memIter) load(dir int) bool {
	m := it.m
	for it.i >= 0 && it.i < len(it.order) {
		pos := it.order[it.i]
		m.mu.RLock()
		it.cur = m.ents[pos]
		ok := it.cur.op <= it.snap
		if !ok {
			it.cur, ok = m.visibleLocked(pos, it.snap)
		}
		m.mu.RUnlock()
		if ok {
			return true
		}
		it.i += dir
	}
	return false
}

func (it *memIter) seqAt(i int) int64 {
	it.m.mu.RLock()
	s := it.m.ents[it.order[i]].seq
	it.m.mu.RUnlock()
	return s
}

func (it *memIter) first() bool { it.i = 0; return it.load(1) }
func (it *memIter) last() bool  { it.i = len(it.order) - 1; return it.load(-1) }

func (it *memIter) next() bool {
	if it.i < len(it.order) {
		it.i++
	}
	return it.load(1)
}

func (it *memIter) prev() bool {
	if it.i >= 0 {
		it.i--
	}
	return it.load(-1)
}

// seekGE positions at the first visible entry with seq >= seq.
func (it *memIter) seekGE(seq int64) bool {
	it.i = sort.Search(len(it.order), func(i int) bool { return it.seqAt(i) >= seq })
	return it.load(1)
}

// seekLE positions at the last visible entry with seq <= seq.
func (it *memIter) seekLE(seq int64) bool {
	it.i = sort.Search(len(it.order), func(i int) bool { return it.seqAt(i) > seq }) - 1
	return it.load(-1)
}

func (it *memIter) valid() bool     { return it.i >= 0 && it.i < len(it.order) }
func (it *memIter) seq() int64      { return it.cur.seq }
func (it *memIter) kind() entryKind { return it.cur.kind }
func (it *memIter) value() []byte   { return it.m.rowBytes(it.cur) }
func (it *memIter) err() error      { return nil }
func (it *memIter) close() error    { return nil }

// memRangeDel is a range tombstone of a memtable and the op that wrote it.
type memRangeDel struct {
	op int64
	t  rangeTombstone
}

// addRangeDel records a range tombstone written by op (0: replayed). Called
// under Table.writeMu or during replay, so there is one writer at a time.
func (m *memtable) addRangeDel(op int64, t rangeTombstone) {
	var next []memRangeDel
	if p := m.rangeDels.Load(); p != nil {
		next = append(next, *p...)
	}
	next = append(next, memRangeDel{op: op, t: t})
	m.rangeDels.Store(&next)
}

// addRangeDelOp records the range tombstone t written by op and removes
// from the memtable index the entries of this memtable's rows t hides, as a
// Delete of each would (readers whose snapshot is below op still see them).
// Caller holds Table.writeMu. WAL replay goes through replayIndexer.addRangeDel.
func (m *memtable) addRangeDelOp(op int64, t rangeTombstone) {
	m.idxMu.Lock()
	defer m.idxMu.Unlock()
	m.catchUpIndexLocked()
	m.addRangeDel(op, t)
	for _, h := range m.takeHidden(t) {
		m.idx.unindex(h.seq, h.old, nil, op)
	}
}

// takeHidden marks the newest row versions of this memtable that t hides
// and whose index entries have not been removed yet, and returns them (old:
// the row, aliasing the arena). A hidden row is never written again (its
// Update and Delete fail), so a marked entry stays the newest version.
func (m *memtable) takeHidden(t rangeTombstone) []replayRow {
	if m.idx == nil || len(m.idx.indexed()) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []replayRow
	for i := range m.ents {
		e := &m.ents[i]
		if e.kind != kindSet || e.unindexed || e.n == 0 || !t.hides(e.seq, e.timeNanos) {
			continue
		}
		e.unindexed = true
		c := m.arena[e.chunk]
		out = append(out, replayRow{seq: e.seq, old: c[e.off : e.off+e.n : e.off+e.n]})
	}
	return out
}

// rangeDelsAt appends to dst the range tombstones a reader with snapshot
// snap sees.
func (m *memtable) rangeDelsAt(dst []rangeTombstone, snap int64) []rangeTombstone {
	p := m.rangeDels.Load()
	if p == nil {
		return dst
	}
	for _, d := range *p {
		if d.op <= snap {
			dst = append(dst, d.t)
		}
	}
	return dst
}

// noteBatch records that the memtable holds parts of batch id.
func (m *memtable) noteBatch(id uint64) {
	if id > m.maxBatch.Load() {
		m.maxBatch.Store(id)
	}
}
