package srdb

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
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
		e, err := f.field.appendKey(m.buf[:0], v)
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
	memIdxArenaChunk = 64 << 10 // bytes per key arena chunk
	memIdxBlockMax   = 512      // key ids per sorted block before it splits
	memIdxKeyCost    = 32       // bytes charged per distinct key (record, order slot, cache slot)
	memIdxSeqCost    = 8        // bytes charged per additional seq of a key
	memIdxBatch      = 32       // entries a reader copies out per lock
)

// memIndex is the ordered set of entries (key ‖ seq, compared bytewise) of
// one field in one memtable.
//
// It is organised around the distinct keys, because rows arrive in seq order
// and index values repeat (a channel id) or grow (a message id):
//
//   - keys lists every distinct key once, in arrival order (a key id is its
//     position): its bytes in an arena of 64 KiB chunks and its seqs, sorted
//     — the only seq inline (seq0) or, from the second one on, a run in
//     runs. A new seq of a known key is almost always the largest: an
//     append.
//   - order holds the key ids sorted by key, in blocks of at most
//     memIdxBlockMax ids (a two-level B-tree); a key larger than every
//     other (msg_id-like values) is appended in O(1).
//   - cache maps a hash of a key to its id, so that a repeated key is found
//     without a binary search through the arena (whose probes are cache
//     misses). It is only a cache: a miss falls back to the search, which
//     then fills it.
//
// Insert cost: O(1) for a growing or repeated key with a growing seq, a
// binary search (O(log keys)) for a new key inside the range, an insertion
// into the key's run for an out-of-order seq (an Update of an older row).
// Memory: the key bytes once per distinct key plus memIdxKeyCost, and 8
// bytes per further seq; the garbage collector sees one pointer per block,
// per arena chunk and per key with several seqs, not one per entry.
//
// Readers copy entries out (key ‖ seq into fresh buffers) under the read
// lock, so what they hold stays valid and unchanged after they release it.
type memIndex struct {
	field idxField
	seed  maphash.Seed

	// mu guards every field below.
	mu    sync.RWMutex
	arena [][]byte         // key bytes; a key never spans two chunks
	keys  []memIdxKey      // by key id
	order [][]int32        // key ids sorted by key, in non-empty blocks
	runs  [][]int64        // sorted seqs of the keys with several
	cache map[uint64]int32 // maphash of a key → its id (a cache)
	n     int              // entries (key, seq)
}

// memIdxKey is one distinct key of a memIndex.
type memIdxKey struct {
	ref  memIdxRef
	seq0 int64 // the key's seq while run < 0
	run  int32 // index into runs, or -1
}

// memIdxRef names bytes in the arena.
type memIdxRef struct {
	chunk, off, n uint32
}

func newMemIndex(f idxField) *memIndex {
	return &memIndex{field: f, seed: maphash.MakeSeed(), cache: make(map[uint64]int32)}
}

// keyLocked returns the bytes of key id. Caller holds mu.
func (mi *memIndex) keyLocked(id int32) []byte {
	r := mi.keys[id].ref
	c := mi.arena[r.chunk]
	return c[r.off : r.off+r.n : r.off+r.n]
}

// seqsLocked returns the sorted seqs of key id: one[:] holding the only
// one, or the key's run (aliasing the index: the caller copies what it
// keeps before releasing mu).
func (mi *memIndex) seqsLocked(id int32, one *[1]int64) []int64 {
	k := &mi.keys[id]
	if k.run < 0 {
		one[0] = k.seq0
		return one[:]
	}
	return mi.runs[k.run]
}

// insert adds entry e (key ‖ seq) unless it is already present, and returns
// the bytes of memory it charged.
func (mi *memIndex) insert(e []byte) int64 {
	if len(e) < idxMinEntrySize {
		return 0
	}
	key := e[:len(e)-idxSeqSize]
	seq := int64(binary.BigEndian.Uint64(e[len(e)-idxSeqSize:]))
	mi.mu.Lock()
	defer mi.mu.Unlock()
	nb := len(mi.order)
	if nb == 0 {
		mi.order = append(mi.order, append(make([]int32, 0, memIdxBlockMax), mi.newKeyLocked(key, seq)))
		return mi.keyCharge(key)
	}
	last := mi.order[nb-1]
	lastID := last[len(last)-1]
	switch c := bytes.Compare(key, mi.keyLocked(lastID)); {
	case c == 0:
		return mi.addSeqLocked(lastID, seq)
	case c > 0: // a new largest key
		id := mi.newKeyLocked(key, seq)
		if len(last) >= memIdxBlockMax {
			mi.order = append(mi.order, append(make([]int32, 0, memIdxBlockMax), id))
		} else {
			mi.order[nb-1] = append(last, id)
		}
		return mi.keyCharge(key)
	}
	h := maphash.Bytes(mi.seed, key)
	if id, ok := mi.cache[h]; ok && bytes.Equal(mi.keyLocked(id), key) {
		return mi.addSeqLocked(id, seq)
	}
	bi, j, found := mi.findKeyLocked(key)
	if found {
		id := mi.order[bi][j]
		mi.cache[h] = id
		return mi.addSeqLocked(id, seq)
	}
	id := mi.newKeyLocked(key, seq)
	mi.cache[h] = id
	blk := slices.Insert(mi.order[bi], j, id)
	if len(blk) > memIdxBlockMax {
		// Split in halves. The left half keeps the backing array (its
		// spare capacity is no longer referenced: the right half is a
		// copy).
		half := len(blk) / 2
		right := make([]int32, len(blk)-half, memIdxBlockMax)
		copy(right, blk[half:])
		mi.order[bi] = blk[:half]
		mi.order = slices.Insert(mi.order, bi+1, right)
	} else {
		mi.order[bi] = blk
	}
	return mi.keyCharge(key)
}

func (mi *memIndex) keyCharge(key []byte) int64 { return int64(len(key)) + memIdxKeyCost }

// findKeyLocked returns the position of key in order, or where it would be
// inserted, and whether it is there.
func (mi *memIndex) findKeyLocked(key []byte) (bi, j int, found bool) {
	// The block holding key's position: the last block whose first key is
	// ≤ key (block 0 when key is below everything).
	bi = sort.Search(len(mi.order), func(i int) bool { return bytes.Compare(mi.keyLocked(mi.order[i][0]), key) > 0 }) - 1
	bi = max(bi, 0)
	blk := mi.order[bi]
	j, found = sort.Find(len(blk), func(k int) int { return bytes.Compare(key, mi.keyLocked(blk[k])) })
	return bi, j, found
}

// newKeyLocked stores a new distinct key with its first seq and returns its
// id.
func (mi *memIndex) newKeyLocked(key []byte, seq int64) int32 {
	mi.keys = append(mi.keys, memIdxKey{ref: mi.storeLocked(key), seq0: seq, run: -1})
	mi.n++
	return int32(len(mi.keys) - 1)
}

// addSeqLocked adds seq to key id's seqs unless present.
func (mi *memIndex) addSeqLocked(id int32, seq int64) int64 {
	k := &mi.keys[id]
	if k.run < 0 {
		if seq == k.seq0 {
			return 0
		}
		run := make([]int64, 2, 4)
		run[0], run[1] = min(k.seq0, seq), max(k.seq0, seq)
		mi.runs = append(mi.runs, run)
		k.run = int32(len(mi.runs) - 1)
		mi.n++
		return 2*memIdxSeqCost + 24 // the run and its slice header
	}
	run := mi.runs[k.run]
	if seq > run[len(run)-1] {
		mi.runs[k.run] = append(run, seq)
	} else {
		j, found := slices.BinarySearch(run, seq)
		if found {
			return 0
		}
		mi.runs[k.run] = slices.Insert(run, j, seq)
	}
	mi.n++
	return memIdxSeqCost
}

// storeLocked copies key into the arena.
func (mi *memIndex) storeLocked(key []byte) memIdxRef {
	n := len(key)
	if n > memIdxArenaChunk/4 {
		mi.arena = append(mi.arena, append([]byte(nil), key...))
		return memIdxRef{chunk: uint32(len(mi.arena) - 1), n: uint32(n)}
	}
	ci := len(mi.arena) - 1
	if ci < 0 || cap(mi.arena[ci]) != memIdxArenaChunk || len(mi.arena[ci])+n > memIdxArenaChunk {
		mi.arena = append(mi.arena, make([]byte, 0, memIdxArenaChunk))
		ci++
	}
	c := mi.arena[ci]
	off := len(c)
	mi.arena[ci] = append(c, key...)
	return memIdxRef{chunk: uint32(ci), off: uint32(off), n: uint32(n)}
}

// len returns the number of entries.
func (mi *memIndex) len() int {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.n
}

// memIdxPos is a position in a memIndex: key position (block, index in
// block) and seq index in that key's seqs.
type memIdxPos struct{ bi, j, s int }

// collect appends to dst up to limit entries in the iteration direction,
// starting after the entry from (exclusive) or, when from is nil, at the
// range's start bound, and stopping at the far bound. The entries are
// copied into fresh memory. It returns dst and whether the range may hold
// more entries after the last one collected.
func (mi *memIndex) collect(dst [][]byte, from []byte, lo, hi idxBound, reverse bool, limit int) ([][]byte, bool) {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	if mi.n == 0 {
		return dst, false
	}
	var buf, scratch []byte
	var one [1]int64
	emit := func(key []byte, seq int64) []byte {
		start := len(buf)
		buf = appendIndexSeq(append(buf, key...), seq)
		return buf[start:len(buf):len(buf)]
	}
	if !reverse {
		start := lo
		if from != nil {
			start = idxBound{key: from, set: true} // strictly after from
		}
		p, ok := mi.seekForwardLocked(start, &scratch)
		for ok {
			id := mi.order[p.bi][p.j]
			key, seqs := mi.keyLocked(id), mi.seqsLocked(id, &one)
			for ; p.s < len(seqs); p.s++ {
				scratch = appendIndexSeq(append(scratch[:0], key...), seqs[p.s])
				if !hi.upperOK(scratch) {
					return dst, false
				}
				if len(dst) == limit {
					return dst, true
				}
				dst = append(dst, emit(key, seqs[p.s]))
			}
			p, ok = mi.nextKeyLocked(p)
		}
		return dst, false
	}
	start := hi
	if from != nil {
		start = idxBound{key: from, set: true} // strictly before from
	}
	p, ok := mi.seekBackwardLocked(start, &scratch)
	for ok {
		id := mi.order[p.bi][p.j]
		key, seqs := mi.keyLocked(id), mi.seqsLocked(id, &one)
		for ; p.s >= 0; p.s-- {
			scratch = appendIndexSeq(append(scratch[:0], key...), seqs[p.s])
			if !lo.lowerOK(scratch) {
				return dst, false
			}
			if len(dst) == limit {
				return dst, true
			}
			dst = append(dst, emit(key, seqs[p.s]))
		}
		p, ok = mi.prevKeyLocked(p)
	}
	return dst, false
}

// nextKeyLocked moves p to the first seq of the next key.
func (mi *memIndex) nextKeyLocked(p memIdxPos) (memIdxPos, bool) {
	p.j++
	if p.j >= len(mi.order[p.bi]) {
		p.bi, p.j = p.bi+1, 0
		if p.bi >= len(mi.order) {
			return p, false
		}
	}
	p.s = 0
	return p, true
}

// prevKeyLocked moves p to the last seq of the previous key.
func (mi *memIndex) prevKeyLocked(p memIdxPos) (memIdxPos, bool) {
	p.j--
	if p.j < 0 {
		p.bi--
		if p.bi < 0 {
			return p, false
		}
		p.j = len(mi.order[p.bi]) - 1
	}
	var one [1]int64
	p.s = len(mi.seqsLocked(mi.order[p.bi][p.j], &one)) - 1
	return p, true
}

// seekForwardLocked returns the position of the first entry that satisfies
// lower bound b (all entries when b is unset). scratch is a reusable buffer.
func (mi *memIndex) seekForwardLocked(b idxBound, scratch *[]byte) (memIdxPos, bool) {
	if !b.set {
		return memIdxPos{}, true
	}
	// The entries of key k are k ‖ seq, between k ‖ seqs[0] and k ‖
	// seqs[last]: find the first key whose largest entry satisfies b.
	var one [1]int64
	ok := func(id int32, s int64) bool {
		*scratch = appendIndexSeq(append((*scratch)[:0], mi.keyLocked(id)...), s)
		return b.lowerOK(*scratch)
	}
	lastOK := func(id int32) bool {
		seqs := mi.seqsLocked(id, &one)
		return ok(id, seqs[len(seqs)-1])
	}
	bi := sort.Search(len(mi.order), func(i int) bool { blk := mi.order[i]; return lastOK(blk[len(blk)-1]) })
	if bi == len(mi.order) {
		return memIdxPos{}, false
	}
	blk := mi.order[bi]
	j := sort.Search(len(blk), func(k int) bool { return lastOK(blk[k]) })
	id := blk[j]
	seqs := mi.seqsLocked(id, &one)
	s := sort.Search(len(seqs), func(k int) bool { return ok(id, seqs[k]) })
	return memIdxPos{bi: bi, j: j, s: s}, true
}

// seekBackwardLocked returns the position of the last entry that satisfies
// upper bound b (all entries when b is unset).
func (mi *memIndex) seekBackwardLocked(b idxBound, scratch *[]byte) (memIdxPos, bool) {
	var one [1]int64
	if !b.set {
		bi := len(mi.order) - 1
		j := len(mi.order[bi]) - 1
		return memIdxPos{bi: bi, j: j, s: len(mi.seqsLocked(mi.order[bi][j], &one)) - 1}, true
	}
	ok := func(id int32, s int64) bool {
		*scratch = appendIndexSeq(append((*scratch)[:0], mi.keyLocked(id)...), s)
		return b.upperOK(*scratch)
	}
	firstOK := func(id int32) bool { return ok(id, mi.seqsLocked(id, &one)[0]) }
	// The last key whose smallest entry satisfies b.
	bi := sort.Search(len(mi.order), func(i int) bool { return !firstOK(mi.order[i][0]) }) - 1
	if bi < 0 {
		return memIdxPos{}, false
	}
	blk := mi.order[bi]
	j := sort.Search(len(blk), func(k int) bool { return !firstOK(blk[k]) }) - 1
	id := blk[j]
	seqs := mi.seqsLocked(id, &one)
	s := sort.Search(len(seqs), func(k int) bool { return !ok(id, seqs[k]) }) - 1
	return memIdxPos{bi: bi, j: j, s: s}, true
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
