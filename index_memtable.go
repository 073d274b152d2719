package srdb

import (
	"bytes"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// memIndexSet is the in-memory secondary index of one memtable: one
// memIndex per field the table indexed when the memtable was created. The
// memtable feeds it every row version it receives (memtable.add), so the
// set holds an entry (key ‖ seq) for every version ever added — a row
// updated in place keeps the entry of its old value (stale; readers re-check
// candidates against the newest row). Deletes add nothing.
//
// The field list is fixed, except that addField may extend it while the
// memtable is still empty (CreateIndex on a table whose active memtable has
// no rows yet). Adds happen under Table.writeMu (or during WAL replay, single
// goroutine); readers run concurrently.
type memIndexSet struct {
	// mu guards fields.
	mu     sync.RWMutex
	fields []*memIndex

	bytes atomic.Int64          // memory charged to the entries, for the flush threshold
	fault atomic.Pointer[error] // first row whose key could not be computed
	buf   []byte                // scratch entry; used only by add (writers are serialised)
}

// newMemIndexSet returns the index set for a memtable of a table with schema
// s: one memIndex per indexed, indexable field (possibly none; a set is
// never nil for a table's memtables, so addField can extend it).
func newMemIndexSet(s *Schema) *memIndexSet {
	m := &memIndexSet{}
	for _, f := range indexedFields(s) {
		m.fields = append(m.fields, newMemIndex(f))
	}
	return m
}

// field returns the index of the named field, or nil when the set does not
// index it. A nil set indexes nothing.
func (m *memIndexSet) field(name string) *memIndex {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, f := range m.fields {
		if f.field.name == name {
			return f
		}
	}
	return nil
}

// addField starts indexing f. The caller guarantees that the memtable holds
// no row yet (it holds Table.writeMu and checked memtable.empty).
func (m *memIndexSet) addField(f idxField) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.fields {
		if x.field.name == f.name {
			return
		}
	}
	m.fields = append(m.fields, newMemIndex(f))
}

// add indexes one row version: for each field, the entry key(row.field) ‖
// seq. A row whose key cannot be computed (corrupt bytes that passed
// parseRow) is not indexed and records the set's sticky error, which every
// index iterator over this memtable then returns.
func (m *memIndexSet) add(seq int64, row []byte) {
	if m == nil {
		return
	}
	m.mu.RLock()
	fields := m.fields
	m.mu.RUnlock()
	if len(fields) == 0 {
		return
	}
	v, err := parseRow(row)
	if err != nil {
		m.setFault(err)
		return
	}
	for _, f := range fields {
		e, err := appendIndexKeyFromRow(m.buf[:0], v, f.field.pos, f.field.typ)
		if err != nil {
			m.setFault(err)
			continue
		}
		e = appendIndexSeq(e, seq)
		m.buf = e
		m.bytes.Add(f.insert(e))
	}
}

func (m *memIndexSet) setFault(err error) {
	m.fault.CompareAndSwap(nil, &err)
}

// err returns the sticky error of add, or nil.
func (m *memIndexSet) err() error {
	if m == nil {
		return nil
	}
	if p := m.fault.Load(); p != nil {
		return *p
	}
	return nil
}

// size returns the memory charged to the set's entries.
func (m *memIndexSet) size() int64 {
	if m == nil {
		return 0
	}
	return m.bytes.Load()
}

// Memory layout constants of a memIndex.
const (
	memIdxArenaChunk = 64 << 10 // bytes per arena chunk
	memIdxBlockMax   = 256      // entries per sorted block before it splits
	memIdxRefSize    = 12       // bytes charged per entry for its memIdxRef
	memIdxBatch      = 32       // entries a reader copies out per lock
)

// memIndex is the ordered set of entries (key ‖ seq, compared bytewise) of
// one field in one memtable.
//
// Entries live in an arena of 64 KiB chunks (entries larger than a quarter
// chunk get their own chunk); the order is kept in a list of sorted blocks of
// at most memIdxBlockMax references, every entry of block i smaller than
// every entry of block i+1 (a two-level B-tree). References hold no pointers,
// so the garbage collector sees one pointer per block and per chunk, not one
// per entry. Inserting costs a binary search over the blocks, one inside the
// block and a copy of at most memIdxBlockMax references; an entry larger
// than the last one (msg_id-like fields, or a field whose rows arrive in
// value order) is appended in O(1).
//
// Arena bytes are written once, before the reference that names them is
// published under mu, and never changed, so a reader may keep the slices it
// copied out after releasing mu.
type memIndex struct {
	field idxField

	// mu guards every field below.
	mu     sync.RWMutex
	arena  [][]byte      // chunks; an entry never spans two chunks
	blocks [][]memIdxRef // sorted blocks, none empty
	n      int           // entries
}

// memIdxRef names one entry in the arena.
type memIdxRef struct {
	chunk, off, n uint32
}

func newMemIndex(f idxField) *memIndex { return &memIndex{field: f} }

// entryLocked returns the bytes of r. Caller holds mu (read or write).
func (mi *memIndex) entryLocked(r memIdxRef) []byte {
	c := mi.arena[r.chunk]
	return c[r.off : r.off+r.n : r.off+r.n]
}

// insert adds entry e (copied) unless it is already present, and returns the
// bytes of memory it charged.
func (mi *memIndex) insert(e []byte) int64 {
	mi.mu.Lock()
	defer mi.mu.Unlock()
	nb := len(mi.blocks)
	if nb == 0 {
		mi.blocks = append(mi.blocks, []memIdxRef{mi.storeLocked(e)})
		mi.n++
		return int64(len(e)) + memIdxRefSize
	}
	last := mi.blocks[nb-1]
	if c := bytes.Compare(e, mi.entryLocked(last[len(last)-1])); c >= 0 {
		if c == 0 {
			return 0
		}
		r := mi.storeLocked(e)
		if len(last) >= memIdxBlockMax {
			blk := make([]memIdxRef, 1, memIdxBlockMax)
			blk[0] = r
			mi.blocks = append(mi.blocks, blk)
		} else {
			mi.blocks[nb-1] = append(last, r)
		}
		mi.n++
		return int64(len(e)) + memIdxRefSize
	}
	// The block holding e's position: the last block whose first entry is
	// ≤ e (block 0 when e is below everything).
	bi := sort.Search(nb, func(i int) bool { return bytes.Compare(mi.entryLocked(mi.blocks[i][0]), e) > 0 }) - 1
	bi = max(bi, 0)
	blk := mi.blocks[bi]
	j, found := sort.Find(len(blk), func(k int) int { return bytes.Compare(e, mi.entryLocked(blk[k])) })
	if found {
		return 0
	}
	blk = slices.Insert(blk, j, mi.storeLocked(e))
	if len(blk) > memIdxBlockMax {
		// Split in halves. The left half keeps the backing array (its
		// spare capacity is no longer referenced by anyone: the right half
		// is a copy).
		half := len(blk) / 2
		right := make([]memIdxRef, len(blk)-half, memIdxBlockMax)
		copy(right, blk[half:])
		mi.blocks[bi] = blk[:half]
		mi.blocks = slices.Insert(mi.blocks, bi+1, right)
	} else {
		mi.blocks[bi] = blk
	}
	mi.n++
	return int64(len(e)) + memIdxRefSize
}

// storeLocked copies e into the arena. Caller holds mu for writing.
func (mi *memIndex) storeLocked(e []byte) memIdxRef {
	n := len(e)
	if n > memIdxArenaChunk/4 {
		mi.arena = append(mi.arena, append([]byte(nil), e...))
		return memIdxRef{chunk: uint32(len(mi.arena) - 1), n: uint32(n)}
	}
	ci := len(mi.arena) - 1
	if ci < 0 || len(mi.arena[ci])+n > cap(mi.arena[ci]) || cap(mi.arena[ci]) != memIdxArenaChunk {
		mi.arena = append(mi.arena, make([]byte, 0, memIdxArenaChunk))
		ci++
	}
	c := mi.arena[ci]
	off := len(c)
	mi.arena[ci] = append(c, e...)
	return memIdxRef{chunk: uint32(ci), off: uint32(off), n: uint32(n)}
}

// len returns the number of entries.
func (mi *memIndex) len() int {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.n
}

// collect appends to dst up to max entries in the iteration direction,
// starting after the entry from (exclusive) or, when from is nil, at the
// range's start bound, and stopping at the far bound. It returns dst and
// whether the range may hold more entries after the last one collected.
func (mi *memIndex) collect(dst [][]byte, from []byte, lo, hi idxBound, reverse bool, limit int) ([][]byte, bool) {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	if mi.n == 0 {
		return dst, false
	}
	var bi, j int
	if !reverse {
		start := lo
		if from != nil {
			start = idxBound{key: from, set: true} // strictly after from
		}
		bi, j = mi.seekForwardLocked(start)
		for bi < len(mi.blocks) {
			blk := mi.blocks[bi]
			for ; j < len(blk); j++ {
				e := mi.entryLocked(blk[j])
				if !hi.upperOK(e) {
					return dst, false
				}
				if len(dst) == limit {
					return dst, true
				}
				dst = append(dst, e)
			}
			bi, j = bi+1, 0
		}
		return dst, false
	}
	start := hi
	if from != nil {
		start = idxBound{key: from, set: true} // strictly before from
	}
	bi, j = mi.seekBackwardLocked(start)
	for bi >= 0 {
		blk := mi.blocks[bi]
		for ; j >= 0; j-- {
			e := mi.entryLocked(blk[j])
			if !lo.lowerOK(e) {
				return dst, false
			}
			if len(dst) == limit {
				return dst, true
			}
			dst = append(dst, e)
		}
		bi--
		if bi >= 0 {
			j = len(mi.blocks[bi]) - 1
		}
	}
	return dst, false
}

// seekForwardLocked returns the position of the first entry that satisfies
// lower bound b (all entries when b is unset).
func (mi *memIndex) seekForwardLocked(b idxBound) (int, int) {
	if !b.set {
		return 0, 0
	}
	// First block whose last entry satisfies b.
	bi := sort.Search(len(mi.blocks), func(i int) bool {
		blk := mi.blocks[i]
		return b.lowerOK(mi.entryLocked(blk[len(blk)-1]))
	})
	if bi == len(mi.blocks) {
		return bi, 0
	}
	blk := mi.blocks[bi]
	j := sort.Search(len(blk), func(k int) bool { return b.lowerOK(mi.entryLocked(blk[k])) })
	return bi, j
}

// seekBackwardLocked returns the position of the last entry that satisfies
// upper bound b (bi = -1 when there is none).
func (mi *memIndex) seekBackwardLocked(b idxBound) (int, int) {
	if !b.set {
		bi := len(mi.blocks) - 1
		return bi, len(mi.blocks[bi]) - 1
	}
	// Last block whose first entry satisfies b.
	bi := sort.Search(len(mi.blocks), func(i int) bool { return !b.upperOK(mi.entryLocked(mi.blocks[i][0])) }) - 1
	if bi < 0 {
		return -1, -1
	}
	blk := mi.blocks[bi]
	j := sort.Search(len(blk), func(k int) bool { return !b.upperOK(mi.entryLocked(blk[k])) }) - 1
	return bi, j
}

// memIdxSource iterates one memIndex over a range for an indexIter. It
// copies entries out in batches of memIdxBatch under the index's read lock
// and continues after the last entry it returned, so it never holds the lock
// while the caller works and is not disturbed by concurrent inserts (which it
// may or may not see).
type memIdxSource struct {
	mi      *memIndex
	lo, hi  idxBound
	reverse bool
	batch   [][]byte
	pos     int
	more    bool // the range may hold entries after batch
	cur     []byte
}

func (s *memIdxSource) seekStart() bool {
	s.batch, s.more = s.mi.collect(s.batch[:0], nil, s.lo, s.hi, s.reverse, memIdxBatch)
	s.pos = 0
	return s.load()
}

func (s *memIdxSource) step() bool {
	s.pos++
	if s.pos >= len(s.batch) {
		if !s.more {
			s.cur = nil
			return false
		}
		s.batch, s.more = s.mi.collect(s.batch[:0], s.cur, s.lo, s.hi, s.reverse, memIdxBatch)
		s.pos = 0
	}
	return s.load()
}

func (s *memIdxSource) load() bool {
	if s.pos >= len(s.batch) {
		s.cur = nil
		return false
	}
	s.cur = s.batch[s.pos]
	return true
}

func (s *memIdxSource) entry() []byte { return s.cur }
func (s *memIdxSource) err() error    { return nil }
