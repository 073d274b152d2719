package srdb

import "sort"

// internalIterator walks entries (seq, kind, value) of one source — a
// memtable, an SST, a level of SSTs, or a merge of those — in seq order, in
// both directions.
//
// The protocol is position, check, step: first/last/seekGE/seekLE position
// the iterator and report whether it is on an entry; next/prev step and
// report the same; seq/kind/value read the current entry and are only
// meaningful while valid. value aliases memory owned by the source (a
// memtable arena or a mapped SST) that stays valid while the version or
// memtable it came from is pinned; copy it before handing it to a user. err
// is sticky: once an iterator fails it stays invalid and err says why. close
// releases resources and returns err; it is safe to call twice.
type internalIterator interface {
	first() bool
	last() bool
	seekGE(seq int64) bool
	seekLE(seq int64) bool
	next() bool
	prev() bool
	valid() bool
	seq() int64
	kind() entryKind
	value() []byte
	err() error
	close() error
}

// sstCursorer is implemented by the iterators that can name the SST
// iterator their current entry comes from, when stepping that SST iterator
// forward is the same as stepping them: an sstIter, and a levelIter whose
// current part is one. A forward scan then steps through the entries of a
// leaf with direct calls (sstIter.nextInLeaf, seq, kind, value) instead of
// through each layer of the iterator stack, which cost more than reading
// the entries.
type sstCursorer interface {
	sstCursor() *sstIter
}

// sstCursorOf returns the SST iterator whose entry it stands on (see
// sstCursorer), or nil when it has none.
func sstCursorOf(it internalIterator) *sstIter {
	if c, ok := it.(sstCursorer); ok {
		return c.sstCursor()
	}
	return nil
}

// mergingIter merges several sources into one stream holding each seq once:
// when several sources hold the same seq, the one with the lowest index in
// children (the newest: active memtable, immutable memtables newest first,
// L0 newest first, then L1, L2, …) wins and the older versions are skipped.
// Tombstones are returned like rows; tableIter hides them.
//
// Invariant while moving forward: every child is positioned at its first
// entry with seq >= the current seq (or exhausted). Moving backward: at its
// last entry with seq <= the current seq. A change of direction re-seeks all
// children, which with integer keys is exact (seekLE(cur-1) / seekGE(cur+1)).
//
// seqs caches each child's position (its seq, or -1 once it is exhausted:
// seqs are ≥ 1), refreshed whenever the child moves, so that a step
// compares integers instead of asking every child for valid, seq and err
// through the interface (a compaction of 24 L0 files spent half its CPU
// there). A child changes only when it moves, except that value may fail
// it, which value itself handles.
type mergingIter struct {
	children []internalIterator
	seqs     []int64 // seqs[i]: children[i]'s current seq, -1 when it is exhausted
	cur      int     // index of the child holding the current entry; -1 if none
	forward  bool    // direction of the invariant above
	failed   error
}

func newMergingIter(children []internalIterator) *mergingIter {
	return &mergingIter{children: children, seqs: make([]int64, len(children)), cur: -1, forward: true}
}

// refresh records the position of child i after it moved; false when it
// failed (m.failed is then set).
func (m *mergingIter) refresh(i int) bool {
	c := m.children[i]
	if err := c.err(); err != nil {
		m.failed = err
		return false
	}
	m.seqs[i] = -1
	if c.valid() {
		m.seqs[i] = c.seq()
	}
	return true
}

// refreshAll refreshes every child after all were positioned, then picks.
func (m *mergingIter) refreshAll() bool {
	for i := range m.children {
		if !m.refresh(i) {
			m.cur = -1
			return false
		}
	}
	return m.pick()
}

// pick chooses the current child from the cached positions.
func (m *mergingIter) pick() bool {
	m.cur = -1
	best := int64(-1)
	for i, s := range m.seqs {
		if s < 0 {
			continue
		}
		if m.cur < 0 || (m.forward && s < best) || (!m.forward && s > best) {
			m.cur, best = i, s
		}
	}
	return m.cur >= 0
}

func (m *mergingIter) first() bool {
	if m.failed != nil {
		return false
	}
	m.forward = true
	for _, c := range m.children {
		c.first()
	}
	return m.refreshAll()
}

func (m *mergingIter) last() bool {
	if m.failed != nil {
		return false
	}
	m.forward = false
	for _, c := range m.children {
		c.last()
	}
	return m.refreshAll()
}

func (m *mergingIter) seekGE(seq int64) bool {
	if m.failed != nil {
		return false
	}
	m.forward = true
	for _, c := range m.children {
		c.seekGE(seq)
	}
	return m.refreshAll()
}

func (m *mergingIter) seekLE(seq int64) bool {
	if m.failed != nil {
		return false
	}
	m.forward = false
	for _, c := range m.children {
		c.seekLE(seq)
	}
	return m.refreshAll()
}

func (m *mergingIter) next() bool {
	if m.failed != nil || m.cur < 0 {
		return false
	}
	cur := m.seqs[m.cur]
	if !m.forward {
		if cur == maxSeq {
			m.cur = -1
			return false
		}
		return m.seekGE(cur + 1)
	}
	for i, s := range m.seqs {
		if s == cur {
			m.children[i].next()
			if !m.refresh(i) {
				m.cur = -1
				return false
			}
		}
	}
	return m.pick()
}

func (m *mergingIter) prev() bool {
	if m.failed != nil || m.cur < 0 {
		return false
	}
	cur := m.seqs[m.cur]
	if m.forward {
		if cur == minSeq {
			m.cur = -1
			return false
		}
		return m.seekLE(cur - 1)
	}
	for i, s := range m.seqs {
		if s == cur {
			m.children[i].prev()
			if !m.refresh(i) {
				m.cur = -1
				return false
			}
		}
	}
	return m.pick()
}

func (m *mergingIter) valid() bool     { return m.failed == nil && m.cur >= 0 }
func (m *mergingIter) seq() int64      { return m.seqs[m.cur] }
func (m *mergingIter) kind() entryKind { return m.children[m.cur].kind() }

// value returns the current entry's value. A source that fails to read it
// (a record failing its checksum) makes the merge fail: value returns nil
// and every later step returns false with err set — never a silent skip.
func (m *mergingIter) value() []byte {
	c := m.children[m.cur]
	v := c.value()
	if err := c.err(); err != nil {
		m.failed = err
		return nil
	}
	return v
}
func (m *mergingIter) err() error { return m.failed }

func (m *mergingIter) close() error {
	err := m.failed
	for _, c := range m.children {
		if cerr := c.close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	m.children = nil
	m.cur = -1
	if err != nil {
		m.failed = err
	}
	return err
}

// Bounds of the seq key space. Seqs assigned to rows start at 1.
const (
	minSeq int64 = 0
	maxSeq int64 = 1<<63 - 1
)

// levelIter concatenates parts whose seq ranges do not overlap, sorted by
// range, into one iterator. A part is either an SST, whose iterator is
// opened (by open) only when the walk reaches it and closed when the walk
// leaves it, or an iterator already open (a memtable, a merge of sources
// that overlap), which stays open until close. It is the iterator of a
// level L1+ and the chain of disjoint sources of a table iterator
// (readState.newIter), where it costs one step per entry instead of one step
// of every source. It moves both ways and changes direction.
type levelIter struct {
	parts  []levelPart
	open   func(f *fileMeta) (internalIterator, error)
	idx    int // index of the part iter belongs to; -1 when none
	iter   internalIterator
	failed error
}

// levelPart is one part of a levelIter: the seq range [lo, hi] of its
// entries, and the file to open or the open iterator (it).
type levelPart struct {
	lo, hi int64
	file   *fileMeta
	it     internalIterator
}

// newLevelIter concatenates files (sorted by seq, not overlapping), opening
// each with open when the walk reaches it.
func newLevelIter(files []*fileMeta, open func(f *fileMeta) (internalIterator, error)) *levelIter {
	parts := make([]levelPart, len(files))
	for i, f := range files {
		parts[i] = levelPart{lo: f.minSeq, hi: f.maxSeq, file: f}
	}
	return &levelIter{parts: parts, open: open, idx: -1}
}

// load makes iter the iterator of part i (closing the previous one when it
// was a file's).
func (l *levelIter) load(i int) bool {
	if l.failed != nil {
		return false
	}
	if l.idx == i && l.iter != nil {
		return true
	}
	if l.iter != nil {
		if l.parts[l.idx].it == nil {
			if err := l.iter.close(); err != nil {
				l.failed = err
				l.iter = nil
				return false
			}
		}
		l.iter = nil
	}
	l.idx = i
	if i < 0 || i >= len(l.parts) {
		return false
	}
	if it := l.parts[i].it; it != nil {
		l.iter = it
		return true
	}
	it, err := l.open(l.parts[i].file)
	if err != nil {
		l.failed = err
		return false
	}
	l.iter = it
	return true
}

// settle checks the current part's iterator for an error after a move that
// returned ok false (a move that found an entry has none to report).
func (l *levelIter) settle(ok bool) bool {
	if ok {
		return true
	}
	if l.iter != nil {
		if err := l.iter.err(); err != nil {
			l.failed = err
		}
	}
	return false
}

func (l *levelIter) forwardFrom(i int) bool {
	for ; i < len(l.parts); i++ {
		if !l.load(i) {
			return false
		}
		if l.iter.first() {
			return true
		}
		if l.settle(false); l.failed != nil {
			return false
		}
	}
	l.load(len(l.parts))
	return false
}

func (l *levelIter) backwardFrom(i int) bool {
	for ; i >= 0; i-- {
		if !l.load(i) {
			return false
		}
		if l.iter.last() {
			return true
		}
		if l.settle(false); l.failed != nil {
			return false
		}
	}
	l.load(-1)
	return false
}

func (l *levelIter) first() bool { return l.forwardFrom(0) }
func (l *levelIter) last() bool  { return l.backwardFrom(len(l.parts) - 1) }

func (l *levelIter) seekGE(seq int64) bool {
	i := sort.Search(len(l.parts), func(i int) bool { return l.parts[i].hi >= seq })
	if i >= len(l.parts) {
		l.load(len(l.parts))
		return false
	}
	if !l.load(i) {
		return false
	}
	if l.settle(l.iter.seekGE(seq)) {
		return true
	}
	if l.failed != nil {
		return false
	}
	return l.forwardFrom(i + 1)
}

func (l *levelIter) seekLE(seq int64) bool {
	i := sort.Search(len(l.parts), func(i int) bool { return l.parts[i].lo > seq }) - 1
	if i < 0 {
		l.load(-1)
		return false
	}
	if !l.load(i) {
		return false
	}
	if l.settle(l.iter.seekLE(seq)) {
		return true
	}
	if l.failed != nil {
		return false
	}
	return l.backwardFrom(i - 1)
}

func (l *levelIter) next() bool {
	if l.iter == nil || l.failed != nil {
		return false
	}
	if l.settle(l.iter.next()) {
		return true
	}
	if l.failed != nil {
		return false
	}
	return l.forwardFrom(l.idx + 1)
}

func (l *levelIter) prev() bool {
	if l.iter == nil || l.failed != nil {
		return false
	}
	if l.settle(l.iter.prev()) {
		return true
	}
	if l.failed != nil {
		return false
	}
	return l.backwardFrom(l.idx - 1)
}

// sstCursor returns the current part's SST iterator (sstCursorer): within
// a part, levelIter's steps are its current iterator's.
func (l *levelIter) sstCursor() *sstIter {
	if l.failed != nil || l.iter == nil {
		return nil
	}
	return sstCursorOf(l.iter)
}

func (l *levelIter) valid() bool     { return l.err() == nil && l.iter != nil && l.iter.valid() }
func (l *levelIter) seq() int64      { return l.iter.seq() }
func (l *levelIter) kind() entryKind { return l.iter.kind() }
func (l *levelIter) value() []byte   { return l.iter.value() }

// err returns the sticky error, including one the current part's iterator
// hit lazily (for example in value).
func (l *levelIter) err() error {
	if l.failed == nil && l.iter != nil {
		if err := l.iter.err(); err != nil {
			l.failed = err
		}
	}
	return l.failed
}

// close closes the current file's iterator and every open part, and returns
// the first error.
func (l *levelIter) close() error {
	if l.iter != nil && l.parts[l.idx].it == nil {
		if err := l.iter.close(); err != nil && l.failed == nil {
			l.failed = err
		}
	}
	l.iter = nil
	for _, p := range l.parts {
		if p.it != nil {
			if err := p.it.close(); err != nil && l.failed == nil {
				l.failed = err
			}
		}
	}
	l.parts = nil
	l.idx = -1
	return l.failed
}
