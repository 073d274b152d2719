package srdb

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// Sorting: the order keys of a row, their comparison, and sortSource, which
// keeps every matching row or the best Offset+Limit of them in a heap.

// sortKey is one order key of a row, read from its encoded bytes.
type sortKey struct {
	null bool
	domValue
}

// sortEntry is a row held by a sort: its keys and a copy of its bytes.
type sortEntry struct {
	seq  int64
	keys []sortKey
	buf  []byte
}

// sortKeys reads the plan's order keys from a row.
func (p *plan) sortKeys(seq int64, v rowView, st *queryStats) ([]sortKey, error) {
	keys := make([]sortKey, len(p.order))
	for n, k := range p.order {
		key := &keys[n]
		switch k.ref.idx {
		case refSeq:
			key.i = seq
			continue
		case refTime:
			key.i = v.timeNanos()
			continue
		}
		raw, ok := v.field(k.ref.idx)
		if !ok {
			key.null = true
			continue
		}
		st.fieldsDecoded++
		good := true
		switch k.dom {
		case domInt:
			key.i, good = rawInt(k.ref.ft, raw)
		case domUint:
			key.u, good = rawUint(k.ref.ft, raw)
		case domFloat:
			key.f, good = rawFloat(k.ref.ft, raw)
		case domBytes:
			key.b = slices.Clone(raw)
		case domTime:
			key.t, good = rawTimeKey(raw)
		case domDecimal:
			d, err := v.decodeDecimal(k.ref.idx, raw)
			if err != nil {
				return nil, err
			}
			key.d = d
		}
		if !good {
			return nil, v.fieldCorrupt(k.ref.idx, k.ref.ft, "%d bytes do not hold a %s", len(raw), k.ref.ft)
		}
	}
	return keys, nil
}

// compareEntries orders two sorted rows: by the order keys (NULL first,
// each key's direction applied), then by seq in the direction of the first
// key, so a descending order is the exact reverse of the ascending one.
func (p *plan) compareEntries(a, b *sortEntry) int {
	for n, k := range p.order {
		c := compareSortKeys(k.dom, &a.keys[n], &b.keys[n])
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := cmp.Compare(a.seq, b.seq)
	if len(p.order) > 0 && p.order[0].desc {
		c = -c
	}
	return c
}

func compareSortKeys(dom valDomain, a, b *sortKey) int {
	switch {
	case a.null || b.null:
		switch {
		case a.null && b.null:
			return 0
		case a.null:
			return -1
		}
		return 1
	}
	return a.domValue.compare(dom, &b.domValue)
}

// sortHeapSize is how many rows a sort keeps when Limit is set.
func sortHeapSize(offset, limit int) int {
	if limit > math.MaxInt-offset {
		return math.MaxInt
	}
	return offset + limit
}

// sortSource drains its input on the first call to next and yields the rows
// in the plan's order. With a Limit it keeps only the best Offset+Limit rows
// in a heap; without one it holds every matching row.
type sortSource struct {
	p      *plan
	in     rowSource
	st     *queryStats
	ents   []sortEntry
	i      int
	loaded bool
	failed error
}

func (s *sortSource) load() error {
	keep := -1
	if s.p.limit >= 0 {
		keep = sortHeapSize(s.p.offset, s.p.limit)
	}
	// A max-heap of the kept entries: the worst kept row on top.
	h := &sliceHeap[sortEntry]{less: func(a, b *sortEntry) bool { return s.p.compareEntries(a, b) > 0 }}
	for keep != 0 && s.in.next() {
		buf := s.in.row()
		view, err := parseRow(buf)
		if err != nil {
			return err
		}
		keys, err := s.p.sortKeys(s.in.seq(), view, s.st)
		if err != nil {
			return err
		}
		e := sortEntry{seq: s.in.seq(), keys: keys}
		switch {
		case keep < 0 || len(h.items) < keep:
			e.buf = slices.Clone(buf)
			h.items = append(h.items, e)
			if keep >= 0 {
				heap.Fix(h, len(h.items)-1) // sift the new entry up
			}
			s.st.sortedRows++
		case s.p.compareEntries(&e, &h.items[0]) < 0:
			e.buf = slices.Clone(buf)
			h.items[0] = e
			heap.Fix(h, 0)
		}
	}
	if err := s.in.err(); err != nil {
		return err
	}
	s.ents = h.items
	slices.SortFunc(s.ents, func(a, b sortEntry) int { return s.p.compareEntries(&a, &b) })
	return nil
}

func (s *sortSource) next() bool {
	if !s.loaded {
		s.loaded = true
		if err := s.load(); err != nil {
			s.failed = withTable(err, s.p.t.name)
			s.ents = nil
			return false
		}
		s.i = -1
	}
	if s.failed != nil || s.i+1 >= len(s.ents) {
		s.i = len(s.ents)
		return false
	}
	s.i++
	return true
}

func (s *sortSource) seq() int64  { return s.ents[s.i].seq }
func (s *sortSource) row() []byte { return s.ents[s.i].buf }
func (s *sortSource) err() error {
	if s.failed != nil {
		return s.failed
	}
	return s.in.err()
}

func (s *sortSource) close() error {
	s.ents = nil
	s.i = 0
	s.loaded = true
	err := s.in.close()
	if s.failed != nil {
		return s.failed
	}
	return err
}
