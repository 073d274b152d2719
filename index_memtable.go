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
// memtable feeds it every row version it receives (memtable.add; an
// Insert's rows once a reader or another write needs them:
// memtable_deferred_index.go), so the set holds an entry (key ‖ seq) for
// every row version it received. When a
// later write of the same memtable replaces that version — a Delete, or an
// Update that changes the field — memtable.addOp removes the old entry
// (unindex), so an indexed lookup costs O(live matches) instead of O(every
// version the memtable ever held). The removal is remembered with the
// write's op (memIndex.removed) for the readers whose snapshot predates that
// write. Entries of versions held by older memtables or SSTs stay (readers
// re-check every candidate against the row version of their snapshot, and
// compaction drops them).
//
// The field list is fixed, except that addField may extend it while the
// memtable is still empty (CreateIndex on a table whose active memtable has
// no rows yet). Adds and removals happen under memtable.idxMu (or during WAL
// replay, single goroutine); readers run concurrently.
type memIndexSet struct {
	// mu guards fields.
	mu     sync.RWMutex
	fields []*memIndex

	bytes atomic.Int64          // memory charged to the entries, for the flush threshold
	fault atomic.Pointer[error] // first row whose key could not be computed
	buf   []byte                // scratch entry; used only by add and unindex (writers are serialised)
	cbuf  []byte                // scratch key of unindex
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

// indexed returns the field indexes of the set (none for a nil set).
func (m *memIndexSet) indexed() []*memIndex {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.fields
}

// add indexes one row version: for each field, the entry key(row.field) ‖
// seq. A row whose key cannot be computed (corrupt bytes that passed
// parseRow) is not indexed and records the set's sticky error, which every
// index iterator over this memtable then returns.
func (m *memIndexSet) add(seq int64, row []byte) {
	fields := m.indexed()
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

// unindex removes the entries of the row version old of seq that a write by
// op replaced: a tombstone (cur nil) or a new version cur, whose entries add
// already made (an entry whose key cur shares is kept). op 0 (WAL replay)
// forgets the entries at once; a larger op keeps them for the readers whose
// snapshot is below op (memIndex.remove). A row that cannot be parsed was
// never indexed (add recorded the fault): there is nothing to remove.
func (m *memIndexSet) unindex(seq int64, old, cur []byte, op int64) {
	fields := m.indexed()
	if len(fields) == 0 {
		return
	}
	ov, err := parseRow(old)
	if err != nil {
		return
	}
	var nv rowView
	hasCur := cur != nil
	if hasCur {
		if nv, err = parseRow(cur); err != nil {
			hasCur = false // cur's entries were never made; remove old's
		}
	}
	curKey := m.cbuf[:0]
	defer func() { m.cbuf = curKey }()
	for _, f := range fields {
		e, err := f.field.appendKey(m.buf[:0], ov)
		if err != nil {
			continue
		}
		if hasCur {
			if curKey, err = f.field.appendKey(curKey[:0], nv); err == nil && bytes.Equal(curKey, e) {
				m.buf = e
				continue // the new version keeps this entry
			}
		}
		e = appendIndexSeq(e, seq)
		m.buf = e
		m.bytes.Add(f.remove(e, op))
	}
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
	memIdxArenaChunk  = 64 << 10 // bytes per key arena chunk
	memIdxBlockMax    = 512      // key ids per sorted block before it splits
	memIdxKeyCost     = 32       // bytes charged per distinct key (record, order slot, cache slot)
	memIdxSeqCost     = 8        // bytes charged per additional seq of a key
	memIdxBatch       = 32       // entries a reader copies out per lock
	memIdxRemovalCost = 24       // bytes charged per removed entry kept for older snapshots, besides its bytes
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
	// removed lists the entries remove took out for a write with op > 0,
	// in the order of the removals (so by op, which grows: writes are
	// serialised): a reader whose snapshot is below an entry's op still
	// sees the entry (collect with a memIdxRemovals).
	removed []memIdxRemoval
}

// memIdxRemoval is an entry removed from a memIndex by the write op; its
// bytes (key ‖ seq) are in the arena.
type memIdxRemoval struct {
	ref memIdxRef
	op  int64
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
func (mi *memIndex) keyLocked(id int32) []byte { return mi.bytesLocked(mi.keys[id].ref) }

// bytesLocked returns the arena bytes r names. Caller holds mu.
func (mi *memIndex) bytesLocked(r memIdxRef) []byte {
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

// splitIdxEntry returns the key and the seq of entry e (key ‖ 8-byte
// big-endian seq); false when e is too short to be an entry.
func splitIdxEntry(e []byte) (key []byte, seq int64, ok bool) {
	if len(e) < idxMinEntrySize {
		return nil, 0, false
	}
	return e[:len(e)-idxSeqSize], int64(binary.BigEndian.Uint64(e[len(e)-idxSeqSize:])), true
}

// insert adds entry e (key ‖ seq) unless it is already present, and returns
// the bytes of memory it charged.
func (mi *memIndex) insert(e []byte) int64 {
	key, seq, ok := splitIdxEntry(e)
	if !ok {
		return 0
	}
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

// remove takes entry e (key ‖ seq) out of the index, if present, and
// returns the bytes of memory it charged: a write by op replaced the row
// version e indexes. With op > 0 the entry is appended to removed for the
// readers whose snapshot predates op (the write is not yet visible when it
// is applied, so every reader at that moment has such a snapshot); op 0
// (WAL replay, no reader) just forgets it.
//
// Cost: a key search (O(log keys)), then O(1) for the only seq of a key or
// the first or last seq of its run (a retention delete of a channel's
// oldest row, a delete of its newest), O(min(i, n-i)) for seq i of a run
// of n otherwise.
func (mi *memIndex) remove(e []byte, op int64) int64 {
	key, seq, ok := splitIdxEntry(e)
	if !ok {
		return 0
	}
	mi.mu.Lock()
	defer mi.mu.Unlock()
	if len(mi.order) == 0 {
		return 0
	}
	bi, j, found := mi.findKeyLocked(key)
	if !found {
		return 0
	}
	id := mi.order[bi][j]
	k := &mi.keys[id]
	if k.run < 0 {
		if k.seq0 != seq {
			return 0
		}
		mi.dropKeyLocked(bi, j, key)
	} else {
		run := mi.runs[k.run]
		i, found := slices.BinarySearch(run, seq)
		if !found {
			return 0
		}
		switch {
		case len(run) == 1:
			mi.runs[k.run] = nil
			mi.dropKeyLocked(bi, j, key)
		case i < len(run)/2: // shift the seqs before i up, drop the first slot
			copy(run[1:i+1], run[:i])
			mi.runs[k.run] = run[1:]
		default:
			mi.runs[k.run] = slices.Delete(run, i, i+1)
		}
	}
	mi.n--
	if op == 0 {
		return 0
	}
	mi.removed = append(mi.removed, memIdxRemoval{ref: mi.storeLocked(e), op: op})
	return int64(len(e)) + memIdxRemovalCost
}

// dropKeyLocked takes the key at order position (bi, j), which has no seq
// left, out of order and the cache. Its id stays allocated (ids are
// positions in keys); a later insert of the same key makes a new one.
func (mi *memIndex) dropKeyLocked(bi, j int, key []byte) {
	blk := slices.Delete(mi.order[bi], j, j+1)
	if len(blk) == 0 {
		mi.order = slices.Delete(mi.order, bi, bi+1)
	} else {
		mi.order[bi] = blk
	}
	h := maphash.Bytes(mi.seed, key)
	if id, ok := mi.cache[h]; ok && bytes.Equal(mi.keyLocked(id), key) {
		delete(mi.cache, h)
	}
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

// removedAfter reports whether an entry was removed by a write newer than
// snap (one a reader with that snapshot must still see).
func (mi *memIndex) removedAfter(snap int64) bool {
	if snap == memAllOps {
		return false
	}
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return len(mi.removed) > 0 && mi.removed[len(mi.removed)-1].op > snap
}

// memIdxPos is a position in a memIndex: key position (block, index in
// block) and seq index in that key's seqs.
type memIdxPos struct{ bi, j, s int }

// memIdxRemovals is a reader's view of memIndex.removed: the removed
// entries a reader whose snapshot is snap must still see (removed by writes
// with op > snap), within its range, gathered as the removals happen.
type memIdxRemovals struct {
	snap int64
	// seen is how many of memIndex.removed were examined (a prefix: entries
	// are only appended).
	seen int
	// pending holds the entries gathered and not yet returned, sorted in
	// the iteration direction.
	pending [][]byte
}

// gatherLocked adds to rm.pending the removals made since the last call
// that rm's snapshot must see and that lie in [lo, hi]. Caller holds mu.
func (mi *memIndex) gatherLocked(rm *memIdxRemovals, lo, hi idxBound, reverse bool) {
	if rm.seen == 0 {
		// The removals by ops up to snap (a prefix, by op) are not seen.
		rm.seen = sort.Search(len(mi.removed), func(i int) bool { return mi.removed[i].op > rm.snap })
	}
	added := false
	for _, r := range mi.removed[rm.seen:] {
		if r.op <= rm.snap {
			continue
		}
		e := mi.bytesLocked(r.ref)
		if lo.lowerOK(e) && hi.upperOK(e) {
			rm.pending = append(rm.pending, e)
			added = true
		}
	}
	rm.seen = len(mi.removed)
	if added {
		slices.SortFunc(rm.pending, func(a, b []byte) int {
			if reverse {
				return bytes.Compare(b, a)
			}
			return bytes.Compare(a, b)
		})
		// An entry removed twice (re-added in between) comes once.
		rm.pending = slices.CompactFunc(rm.pending, bytes.Equal)
	}
}

// collect appends to dst up to limit entries in the iteration direction,
// starting after the entry from (exclusive) or, when from is nil, at the
// range's start bound, and stopping at the far bound. The entries are
// copied into fresh memory. It returns dst and whether the range may hold
// more entries after the last one collected.
//
// With rm, the entries removed by writes newer than rm's snapshot are
// merged in (see memIdxRemovals); without, collect sees the newest state.
func (mi *memIndex) collect(dst [][]byte, from []byte, lo, hi idxBound, reverse bool, limit int, rm *memIdxRemovals) ([][]byte, bool) {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	if rm != nil {
		mi.gatherLocked(rm, lo, hi, reverse)
		// Drop what lies at or before from (returned, or passed while
		// the entry was still live).
		if from != nil {
			k := 0
			for k < len(rm.pending) && !idxAfter(rm.pending[k], from, reverse) {
				k++
			}
			rm.pending = rm.pending[k:]
		}
		if len(rm.pending) > 0 {
			start := len(dst)
			dst, more := mi.collectLocked(dst, from, lo, hi, reverse, limit)
			return mergeRemovals(dst, start, rm, reverse, limit, more)
		}
	}
	return mi.collectLocked(dst, from, lo, hi, reverse, limit)
}

// idxAfter reports whether entry e comes after from in the iteration
// direction.
func idxAfter(e, from []byte, reverse bool) bool {
	c := bytes.Compare(e, from)
	if reverse {
		return c < 0
	}
	return c > 0
}

// mergeRemovals merges rm.pending into the entries dst[start:] (both sorted
// in the iteration direction), keeps the first limit of the merge, and
// returns dst and whether more entries may follow: more (the live entries
// were cut at limit) or pending entries left over. An entry both live and
// pending (a row updated back to an old value) comes once. The pending
// entries returned are consumed; the ones left stay for the next call.
func mergeRemovals(dst [][]byte, start int, rm *memIdxRemovals, reverse bool, limit int, more bool) ([][]byte, bool) {
	live := slices.Clone(dst[start:])
	dst = dst[:start]
	i, p := 0, 0
	for len(dst)-start < limit && (i < len(live) || p < len(rm.pending)) {
		switch {
		case p == len(rm.pending):
			dst = append(dst, live[i])
			i++
		case i == len(live):
			dst = append(dst, append([]byte(nil), rm.pending[p]...))
			p++
		default:
			c := bytes.Compare(live[i], rm.pending[p])
			if reverse {
				c = -c
			}
			switch {
			case c < 0:
				dst = append(dst, live[i])
				i++
			case c > 0:
				dst = append(dst, append([]byte(nil), rm.pending[p]...))
				p++
			default:
				dst = append(dst, live[i])
				i, p = i+1, p+1
			}
		}
	}
	rm.pending = rm.pending[p:]
	// Live entries cut by limit are found again after the last entry
	// returned; more tells the caller to come back.
	return dst, more || i < len(live) || len(rm.pending) > 0
}

// collectLocked is collect over the live entries. Caller holds mu.
func (mi *memIndex) collectLocked(dst [][]byte, from []byte, lo, hi idxBound, reverse bool, limit int) ([][]byte, bool) {
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
	// withRemovals makes the source merge in rm, the entries removed by
	// writes newer than the reader's snapshot (false: the reader sees the
	// newest state).
	withRemovals bool
	rm           memIdxRemovals
	batch        [][]byte
	pos          int
	more         bool // the range may hold entries after batch
	cur          []byte
}

func (s *memIdxSource) seekStart() bool {
	s.batch, s.more = s.mi.collect(s.batch[:0], nil, s.lo, s.hi, s.reverse, memIdxBatch, s.removals())
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
		s.batch, s.more = s.mi.collect(s.batch[:0], s.cur, s.lo, s.hi, s.reverse, memIdxBatch, s.removals())
		s.pos = 0
	}
	return s.load()
}

// removals returns the source's view of the removed entries, or nil.
func (s *memIdxSource) removals() *memIdxRemovals {
	if !s.withRemovals {
		return nil
	}
	return &s.rm
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
