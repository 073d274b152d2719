package srdb

// sstIterFrame is one level of an iterator's descent: the node it stands on
// and the entry it follows there.
type sstIterFrame struct {
	node  []byte // the node's bytes in the mapping
	off   uint64 // the node's file offset
	count int    // entries in node
	idx   int    // current entry
}

// sstIter walks the entries of one SST in seq order, forwards and
// backwards. It keeps a stack of (node, index) frames from the root to the
// current leaf, so both directions work without sibling pointers, and moving
// costs no allocation.
//
// Use: position with first, last, seekGE or seekLE, then step with next or
// prev; each returns whether the iterator stands on an entry. A move that
// runs off an edge leaves the iterator just outside it: prev after running
// past the end (next, or seekGE beyond the last seq) moves to the last entry,
// next after running before the start moves to the first; next and prev on
// an unpositioned iterator, or further away from the edge, return false.
// A corrupt node or
// record stops the iteration: the call returns false, valid is false, and
// err reports the problem from then on (errors are sticky; nothing is
// skipped). Consecutive entries must have strictly increasing seqs, checked
// on every step, so a damaged tree can never make an iteration loop.
//
// seq and kind read the leaf entry. value reads and checks the
// record; it returns nil and stops the iterator when the record is corrupt,
// so a caller checks err after the loop. Values alias the mapping and are
// valid until the reader is closed. An sstIter is not safe for concurrent
// use; several iterators over one reader are.
type sstIter struct {
	r      *sstReader
	frames [sstMaxHeight]sstIterFrame // frames[0] is the root, frames[h-1] the leaf
	h      int
	pos    bool  // standing on an entry
	edge   int8  // when !pos: sstPastEnd or sstBeforeStart after a move ran off an edge, else 0
	fault  error // sticky error
	val    []byte
	valSet bool // val holds the current entry's checked value
	// blk is a data block of the leaf at blkLeaf-1 (format version ≥ 4;
	// blkLeaf 0: none): a scan decompresses (or looks up) each block once,
	// whatever the number of values it reads in it.
	blk     sstLeafBlock
	blkLeaf uint64
}

// newIter returns an unpositioned iterator over r.
func (r *sstReader) newIter() *sstIter {
	return &sstIter{r: r, h: r.hdr.height}
}

// Values of sstIter.edge.
const (
	sstBeforeStart = -1
	sstPastEnd     = 1
)

// descend modes.
const (
	sstDescendFirst = iota // leftmost entries
	sstDescendLast         // rightmost entries
	sstDescendGE           // toward the first entry ≥ seq
	sstDescendLE           // toward the last entry ≤ seq
)

// descend loads the nodes from depth d down to the leaf, starting with the
// node at off whose first key must be key, choosing in each node the entry
// the mode asks for. On a leaf in GE mode the index may be count (all
// entries < seq) and in LE mode -1 (all entries > seq); the caller fixes
// that up.
func (it *sstIter) descend(d int, off uint64, key int64, mode int, seq int64) bool {
	for ; d < it.h; d++ {
		level := it.h - 1 - d
		n, count, err := it.r.node(off, level, key)
		if err != nil {
			return it.fail(err)
		}
		f := &it.frames[d]
		f.node, f.off, f.count = n, off, count
		switch mode {
		case sstDescendFirst:
			f.idx = 0
		case sstDescendLast:
			f.idx = count - 1
		case sstDescendGE:
			if level == 0 {
				f.idx = leafSearchGE(n, count, seq)
			} else {
				f.idx = max(innerSearchLE(n, count, seq), 0)
			}
		case sstDescendLE:
			if level == 0 {
				f.idx = leafSearchLE(n, count, seq)
			} else {
				f.idx = max(innerSearchLE(n, count, seq), 0)
			}
		}
		if level > 0 {
			off, key = innerChild(n, f.idx), innerKey(n, f.idx)
		}
	}
	it.pos = true
	it.edge = 0
	it.valSet = false
	return true
}

// fail records err, unpositions the iterator and returns false.
func (it *sstIter) fail(err error) bool {
	if it.fault == nil {
		it.fault = err
	}
	it.pos = false
	it.edge = 0
	return false
}

// start resets the position before a seek; it returns false when the
// iterator already failed.
func (it *sstIter) start() bool {
	it.pos = false
	it.edge = 0
	it.valSet = false
	return it.fault == nil
}

// first moves to the smallest seq.
func (it *sstIter) first() bool {
	if !it.start() {
		return false
	}
	return it.descend(0, it.r.hdr.rootOff, it.r.hdr.props.minSeq, sstDescendFirst, 0)
}

// last moves to the largest seq.
func (it *sstIter) last() bool {
	if !it.start() {
		return false
	}
	return it.descend(0, it.r.hdr.rootOff, it.r.hdr.props.minSeq, sstDescendLast, 0)
}

// seekGE moves to the first entry with seq ≥ seq.
func (it *sstIter) seekGE(seq int64) bool {
	if !it.start() {
		return false
	}
	p := &it.r.hdr.props
	if seq > p.maxSeq {
		it.edge = sstPastEnd
		return false
	}
	if seq <= p.minSeq {
		return it.first()
	}
	if !it.descend(0, it.r.hdr.rootOff, p.minSeq, sstDescendGE, seq) {
		return false
	}
	leaf := &it.frames[it.h-1]
	if leaf.idx < leaf.count {
		return true
	}
	// Every entry of this leaf is < seq: the answer starts the next leaf.
	leaf.idx = leaf.count - 1
	return it.step(true)
}

// seekLE moves to the last entry with seq ≤ seq.
func (it *sstIter) seekLE(seq int64) bool {
	if !it.start() {
		return false
	}
	p := &it.r.hdr.props
	if seq < p.minSeq {
		it.edge = sstBeforeStart
		return false
	}
	if seq >= p.maxSeq {
		return it.last()
	}
	if !it.descend(0, it.r.hdr.rootOff, p.minSeq, sstDescendLE, seq) {
		return false
	}
	leaf := &it.frames[it.h-1]
	if leaf.idx >= 0 {
		return true
	}
	// The leaf starts with the separator followed (≤ seq), so this happens
	// only in a damaged tree; treat it like a position before the leaf.
	leaf.idx = 0
	return it.step(false)
}

// next moves to the following entry; from before the start it moves to the
// first entry.
func (it *sstIter) next() bool {
	if !it.valid() {
		if it.edge == sstBeforeStart && it.fault == nil {
			return it.first()
		}
		return false
	}
	return it.step(true)
}

// prev moves to the preceding entry; from past the end it moves to the last
// entry.
func (it *sstIter) prev() bool {
	if !it.valid() {
		if it.edge == sstPastEnd && it.fault == nil {
			return it.last()
		}
		return false
	}
	return it.step(false)
}

// step moves one entry forward or backward from a valid leaf position,
// climbing to the nearest ancestor that has a sibling in that direction and
// descending to the sibling's edge. It checks that the seq moves in the
// step's direction.
func (it *sstIter) step(forward bool) bool {
	leaf := &it.frames[it.h-1]
	old := leafSeq(leaf.node, leaf.idx)
	it.valSet = false
	if !it.stepPos(forward) {
		return false
	}
	cur := leafSeq(leaf.node, leaf.idx)
	if (forward && cur <= old) || (!forward && cur >= old) {
		return it.fail(it.r.corrupt(int64(leaf.off), "seq %d follows %d out of order", cur, old))
	}
	return true
}

// stepPos does the index arithmetic of step.
func (it *sstIter) stepPos(forward bool) bool {
	leaf := &it.frames[it.h-1]
	if forward && leaf.idx+1 < leaf.count {
		leaf.idx++
		return true
	}
	if !forward && leaf.idx > 0 {
		leaf.idx--
		return true
	}
	for d := it.h - 2; d >= 0; d-- {
		f := &it.frames[d]
		if forward && f.idx+1 < f.count {
			f.idx++
			return it.descend(d+1, innerChild(f.node, f.idx), innerKey(f.node, f.idx), sstDescendFirst, 0)
		}
		if !forward && f.idx > 0 {
			f.idx--
			return it.descend(d+1, innerChild(f.node, f.idx), innerKey(f.node, f.idx), sstDescendLast, 0)
		}
	}
	it.pos = false
	if forward {
		it.edge = sstPastEnd
	} else {
		it.edge = sstBeforeStart
	}
	return false
}

// nextInLeaf is next for a following entry in the current leaf: it moves
// there and reports true, or reports false without moving when the
// iterator is not valid or stands on the leaf's last entry (next then
// climbs to the next leaf). It checks the seq order as step does. A scan
// calls it directly (sstCursor) to save the layers of iterators above.
func (it *sstIter) nextInLeaf() bool {
	if !it.valid() {
		return false
	}
	f := &it.frames[it.h-1]
	if f.idx+1 >= f.count {
		return false
	}
	if old, cur := leafSeq(f.node, f.idx), leafSeq(f.node, f.idx+1); cur <= old {
		return it.fail(it.r.corrupt(int64(f.off), "seq %d follows %d out of order", cur, old))
	}
	f.idx++
	it.valSet = false
	return true
}

// sstCursor returns it: an sstIter is its own cursor (see sstCursorOf).
func (it *sstIter) sstCursor() *sstIter { return it }

// valid reports whether the iterator stands on an entry.
func (it *sstIter) valid() bool { return it.pos && it.fault == nil && it.r.data != nil }

// leaf returns the current leaf frame; only called when valid.
func (it *sstIter) leaf() *sstIterFrame { return &it.frames[it.h-1] }

// seq returns the current entry's seq, 0 when not valid.
func (it *sstIter) seq() int64 {
	if !it.valid() {
		return 0
	}
	f := it.leaf()
	return leafSeq(f.node, f.idx)
}

// kind returns the current entry's kind, 0 when not valid.
func (it *sstIter) kind() entryKind {
	if !it.valid() {
		return 0
	}
	f := it.leaf()
	return leafKind(f.node, f.idx)
}

// value returns the current entry's value after checking its record, or nil
// when not valid. When the record is corrupt it returns nil, stops the
// iterator and err reports why. The slice aliases the mapping.
func (it *sstIter) value() []byte {
	if !it.valid() {
		return nil
	}
	if it.valSet {
		return it.val
	}
	f := it.leaf()
	var v []byte
	var err error
	if it.r.hdr.version >= sstBlockFormatVersion {
		if off := leafRecordOff(f.node, f.idx); it.blkLeaf != f.off+1 || !it.blk.contains(off) {
			blk, err := it.r.blockFor(f.off, off, false)
			if err != nil {
				it.fail(err)
				return nil
			}
			it.blk, it.blkLeaf = blk, f.off+1
		}
		v, _, err = it.r.blockRecord(f.node, f.count, f.off, f.idx, &it.blk)
	} else {
		v, _, err = it.r.recordSpan(f.node, f.off, f.idx, it.blk, false)
	}
	if err != nil {
		it.fail(err)
		return nil
	}
	it.val, it.valSet = v, true
	return v
}

// err returns the error that stopped the iterator, or nil.
func (it *sstIter) err() error { return it.fault }

// close unpositions the iterator and returns its error. Calling it twice is
// safe.
func (it *sstIter) close() error {
	it.pos = false
	it.edge = 0
	it.val, it.valSet = nil, false
	it.blk, it.blkLeaf = sstLeafBlock{}, 0
	return it.fault
}
