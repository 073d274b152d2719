package srdb

import (
	"cmp"
	"errors"
	"slices"
	"sort"
)

// The rowSources of the access paths other than an index: the scan (and
// the iterator it walks), a list of seqs, nothing.

// rowSource yields the rows of an access path that match the plan's filter.
// Protocol: next positions on the following row and reports whether there
// is one; seq and row read it (row's bytes stay valid until the next call,
// and may be nil when the source was told it need not read rows); err is
// sticky and is checked after next returns false; close releases the
// source's iterators (not the read state) and returns err.
type rowSource interface {
	next() bool
	seq() int64
	row() []byte
	err() error
	close() error
}

// source opens the plan's access path over the pinned read state rs and
// returns it with the plan it runs: p, or a scan when p's index turns out not
// to be ready for rs (a CreateIndex is building it). needRow false lets a
// scan skip reading rows its filter does not need.
func (p *plan) source(rs *readState, st *queryStats, needRow bool) (rowSource, *plan, error) {
	needRow = needRow || p.filter.needsView()
	switch p.access {
	case accEmpty:
		return emptySource{}, p, nil
	case accPoints:
		seqs := p.points
		if p.reverse {
			seqs = slices.Clone(seqs)
			slices.Reverse(seqs)
		}
		return &pointSource{t: p.t, p: p, rs: rs, seqs: seqs, filter: p.filter, st: st}, p, nil
	case accIndex:
		src, err := newIndexRowSource(p, rs, st)
		if errors.Is(err, errIndexNotReady) {
			st.indexFallbacks++
			return p.scanFallback().source(rs, st, needRow)
		}
		return src, p, err
	}
	it, err := p.t.newQueryScanIter(rs, p, st)
	if err != nil {
		return nil, nil, withTable(err, p.t.name)
	}
	return &scanSource{it: it, p: p, needRow: needRow, st: st}, p, nil
}

// scanFallback returns p with its index access replaced by a scan (same
// filter, order, window).
func (p *plan) scanFallback() *plan {
	fb := *p
	fb.access, fb.ix, fb.reverse, fb.sort = accScan, nil, false, false
	shape, desc, _ := fb.orderShape()
	fb.seqOrdered(shape, desc)
	return &fb
}

// emptySource yields nothing.
type emptySource struct{}

func (emptySource) next() bool   { return false }
func (emptySource) seq() int64   { return 0 }
func (emptySource) row() []byte  { return nil }
func (emptySource) err() error   { return nil }
func (emptySource) close() error { return nil }

// scanPart is one source of a scan: a memtable or an SST, with the seq
// range of its entries and its recency (0 = newest).
type scanPart struct {
	lo, hi int64
	rank   int
	it     internalIterator
}

// newQueryScanIter builds the iterator of a scan over rs: every entry (rows
// and tombstones, newest version of each seq) of the sources that can hold
// a matching row, in seq order.
//
// A source is left out when its seq range misses [seqLo, seqHi], or when its
// [minTime, maxTime] misses the _time bounds and it holds no tombstone (a
// tombstone hides older versions of its seq in other sources; Update keeps a
// row's _time, so a newer version of a row never has a time its older
// versions lack).
//
// Sources whose seq ranges overlap are merged (newest wins); groups that do
// not overlap each other — the usual case for an append-only table, where
// each flush covers a new range of seqs — are chained one after the other,
// which costs one iterator step per entry instead of a step of every source.
func (t *Table) newQueryScanIter(rs *readState, p *plan, st *queryStats) (internalIterator, error) {
	var parts []scanPart
	closeAll := func() {
		for _, pt := range parts {
			pt.it.close()
		}
	}
	timeOK := func(hasTime bool, lo, hi int64, tombstones bool) bool {
		return !p.timeBound || tombstones || (hasTime && hi >= p.timeLo && lo <= p.timeHi)
	}
	seqOK := func(lo, hi int64) bool { return hi >= p.seqLo && lo <= p.seqHi }
	rank := 0
	for _, m := range rs.mems {
		rank++
		ms := m.stats()
		if !timeOK(ms.hasTime, ms.minTime, ms.maxTime, ms.deletes > 0) {
			st.memsSkipped++
			continue
		}
		it := m.newIterAt(rs.snap)
		if len(it.order) == 0 {
			continue
		}
		// The iterator visits the entries present now: take the range from
		// them, not from stats that later updates may widen.
		lo, hi := it.seqAt(0), it.seqAt(len(it.order)-1)
		if !seqOK(lo, hi) {
			continue
		}
		parts = append(parts, scanPart{lo: lo, hi: hi, rank: rank, it: it})
	}
	for level := 0; level < numLevels; level++ {
		for _, f := range rs.v.levels[level] {
			rank++
			if !seqOK(f.minSeq, f.maxSeq) {
				continue
			}
			if !timeOK(f.hasTime, f.minTime, f.maxTime, f.numTombstones > 0) {
				st.filesSkipped++
				continue
			}
			r, err := t.cache.get(f.num)
			if err != nil {
				closeAll()
				return nil, err
			}
			parts = append(parts, scanPart{lo: f.minSeq, hi: f.maxSeq, rank: rank, it: r.newIter()})
		}
	}
	slices.SortFunc(parts, func(a, b scanPart) int { return cmp.Compare(a.lo, b.lo) })
	var chain seqChain
	for i := 0; i < len(parts); {
		j, hi := i+1, parts[i].hi
		for ; j < len(parts) && parts[j].lo <= hi; j++ {
			hi = max(hi, parts[j].hi)
		}
		group := parts[i:j]
		var it internalIterator = group[0].it
		if len(group) > 1 {
			slices.SortFunc(group, func(a, b scanPart) int { return cmp.Compare(a.rank, b.rank) })
			children := make([]internalIterator, len(group))
			for k, g := range group {
				children[k] = g.it
			}
			it = newMergingIter(children)
		}
		chain.parts = append(chain.parts, scanPart{lo: parts[i].lo, hi: hi, it: it})
		i = j
	}
	if len(chain.parts) == 1 {
		return chain.parts[0].it, nil
	}
	chain.cur = -1
	return &chain, nil
}

// seqChain concatenates iterators whose seq ranges do not overlap, sorted
// by range: the internalIterator of a scan whose sources are disjoint. It
// is only stepped in the direction it was positioned in (first or seekGE
// then next; last or seekLE then prev), which is all scans need.
type seqChain struct {
	parts  []scanPart
	cur    int // part the iterator stands in; -1 or len(parts) when none
	failed error
}

// settle checks part i after a move that returned ok.
func (c *seqChain) settle(i int, ok bool) bool {
	if ok {
		c.cur = i
		return true
	}
	if err := c.parts[i].it.err(); err != nil {
		c.failed = err
		c.cur = -1
	}
	return false
}

func (c *seqChain) forwardFrom(i int) bool {
	for ; i < len(c.parts) && c.failed == nil; i++ {
		if c.settle(i, c.parts[i].it.first()) {
			return true
		}
	}
	c.cur = len(c.parts)
	return false
}

func (c *seqChain) backwardFrom(i int) bool {
	for ; i >= 0 && c.failed == nil; i-- {
		if c.settle(i, c.parts[i].it.last()) {
			return true
		}
	}
	c.cur = -1
	return false
}

func (c *seqChain) first() bool { return c.failed == nil && c.forwardFrom(0) }
func (c *seqChain) last() bool  { return c.failed == nil && c.backwardFrom(len(c.parts)-1) }

func (c *seqChain) seekGE(seq int64) bool {
	if c.failed != nil {
		return false
	}
	i := sort.Search(len(c.parts), func(i int) bool { return c.parts[i].hi >= seq })
	if i < len(c.parts) && c.settle(i, c.parts[i].it.seekGE(seq)) {
		return true
	}
	return c.forwardFrom(i + 1)
}

func (c *seqChain) seekLE(seq int64) bool {
	if c.failed != nil {
		return false
	}
	i := sort.Search(len(c.parts), func(i int) bool { return c.parts[i].lo > seq }) - 1
	if i >= 0 && c.settle(i, c.parts[i].it.seekLE(seq)) {
		return true
	}
	return c.backwardFrom(i - 1)
}

func (c *seqChain) next() bool {
	if !c.valid() {
		return false
	}
	if c.settle(c.cur, c.parts[c.cur].it.next()) {
		return true
	}
	return c.forwardFrom(c.cur + 1)
}

func (c *seqChain) prev() bool {
	if !c.valid() {
		return false
	}
	if c.settle(c.cur, c.parts[c.cur].it.prev()) {
		return true
	}
	return c.backwardFrom(c.cur - 1)
}

func (c *seqChain) valid() bool {
	return c.failed == nil && c.cur >= 0 && c.cur < len(c.parts) && c.parts[c.cur].it.valid()
}
func (c *seqChain) seq() int64      { return c.parts[c.cur].it.seq() }
func (c *seqChain) kind() entryKind { return c.parts[c.cur].it.kind() }
func (c *seqChain) value() []byte   { return c.parts[c.cur].it.value() }
func (c *seqChain) err() error      { return c.failed }

func (c *seqChain) close() error {
	err := c.failed
	for _, pt := range c.parts {
		if cerr := pt.it.close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	c.parts = nil
	c.cur = -1
	return err
}

// scanSource walks the live rows of [seqLo, seqHi] in seq order (skipping
// tombstones) and evaluates the filter on each encoded row.
type scanSource struct {
	it      internalIterator
	p       *plan
	needRow bool
	st      *queryStats
	started bool
	sourceEnd
	cur  evalRow
	buf  []byte
	intr interrupter
}

// sourceEnd is the end state scanSource and indexRowSource share: done once
// the source is exhausted, failed or closed, and the first error, named
// with the table.
type sourceEnd struct {
	done   bool
	failed error
}

// record keeps err, named with table, when it is the first error.
func (e *sourceEnd) record(table string, err error) {
	if err != nil && e.failed == nil {
		e.failed = withTable(err, table)
	}
}

// end marks the source done, records err and returns false (for next).
func (e *sourceEnd) end(table string, err error) bool {
	e.done = true
	e.record(table, err)
	return false
}

// err returns the error that ended the source, or nil.
func (e *sourceEnd) err() error { return e.failed }

func (s *scanSource) next() bool {
	if s.done {
		return false
	}
	for {
		var ok bool
		switch {
		case !s.started:
			s.started = true
			if s.p.reverse {
				ok = s.it.seekLE(s.p.seqHi)
			} else {
				ok = s.it.seekGE(s.p.seqLo)
			}
		case s.p.reverse:
			ok = s.it.prev()
		default:
			ok = s.it.next()
		}
		if !ok {
			return s.stop(s.it.err())
		}
		seq := s.it.seq()
		if seq > s.p.seqHi || seq < s.p.seqLo {
			return s.stop(nil)
		}
		s.st.entriesScanned++
		if err := s.intr.step(s.p); err != nil {
			return s.stop(err)
		}
		if s.it.kind() == kindDelete {
			continue
		}
		s.cur.seq = seq
		s.buf = nil
		if s.needRow {
			buf := s.it.value()
			if buf == nil {
				err := s.it.err()
				if err == nil {
					err = corruptionError("", -1, "row %d has no bytes", seq)
				}
				return s.stop(err)
			}
			view, err := parseRow(buf)
			if err != nil {
				return s.stop(err)
			}
			s.st.rowsRead++
			s.cur.view, s.buf = view, buf
		}
		ok, err := s.p.filter.matches(&s.cur)
		if err != nil {
			return s.stop(err)
		}
		if ok {
			return true
		}
	}
}

func (s *scanSource) stop(err error) bool { return s.end(s.p.t.name, err) }

func (s *scanSource) seq() int64  { return s.cur.seq }
func (s *scanSource) row() []byte { return s.buf }

func (s *scanSource) close() error {
	s.done = true
	s.record(s.p.t.name, s.it.close())
	return s.failed
}

// pointSource looks up a list of seqs.
type pointSource struct {
	t      *Table
	p      *plan
	rs     *readState
	seqs   []int64
	i      int
	filter *cnode
	st     *queryStats
	cur    evalRow
	buf    []byte
	failed error
	intr   interrupter
}

func (s *pointSource) next() bool {
	for s.failed == nil && s.i < len(s.seqs) {
		seq := s.seqs[s.i]
		s.i++
		if err := s.intr.step(s.p); err != nil {
			s.failed = err
			return false
		}
		ok, err := s.consider(seq)
		if err != nil {
			s.failed = withTable(err, s.t.name)
			return false
		}
		if ok {
			return true
		}
	}
	return false
}

func (s *pointSource) consider(seq int64) (bool, error) {
	s.st.lookups++
	kind, buf, _, err := s.rs.get(seq) // a missing or deleted row is no match
	if err != nil || kind != kindSet {
		return false, err
	}
	view, err := parseRow(buf)
	if err != nil {
		return false, err
	}
	s.st.rowsRead++
	s.cur = evalRow{seq: seq, view: view}
	s.buf = buf
	return s.filter.matches(&s.cur)
}

func (s *pointSource) seq() int64   { return s.cur.seq }
func (s *pointSource) row() []byte  { return s.buf }
func (s *pointSource) err() error   { return s.failed }
func (s *pointSource) close() error { s.i = len(s.seqs); return s.failed }
