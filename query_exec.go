package srdb

import (
	"bytes"
	"cmp"
	"container/heap"
	"errors"
	"math"
	"slices"
	"sort"

	"github.com/shopspring/decimal"
)

// This file runs plans: a rowSource per access path yields the rows that
// match the filter, in the access path's order, as encoded bytes; a
// sortSource reorders them when the plan needs a sort; Rows (rows.go)
// applies Offset and Limit and decodes the rows it returns, and count
// counts without decoding.

// queryStats counts the work of query executions. The executor increments
// it; tests read it to pin down the cost of each plan so that a planner
// regression fails a test instead of only slowing a benchmark. A Rows is
// used by one goroutine, so the counters are plain integers.
type queryStats struct {
	entriesScanned int64 // table entries (rows or tombstones) a scan stepped over
	rowsRead       int64 // encoded rows fetched and parsed (scan values, lookups that found a row)
	lookups        int64 // point lookups of a seq in the read state
	entriesVisited int64 // index entries visited
	rowsDecoded    int64 // Row values built for the caller
	fieldsDecoded  int64 // field values decoded for the caller (Rows) or read as sort keys
	sortedRows     int64 // rows held by a sort
	indexFallbacks int64 // index plans that ran as scans (index not ready for the read state)
	filesSkipped   int64 // SSTs left out of a scan by the _time bounds
	memsSkipped    int64 // memtables left out of a scan by the _time bounds
}

// indexSource is how the planner and executor reach secondary indexes. The
// table's implementation (tableIndexSource) calls index.go; tests substitute
// a fake.
type indexSource interface {
	// ready reports whether field has an index that is complete (built over
	// all existing rows) and may be used to answer queries.
	ready(field string) bool
	// encodeKey encodes a canonical value of type ft as an index key;
	// bytes.Compare order of keys is the type's order.
	encodeKey(ft FieldType, v any) ([]byte, error)
	// open returns a cursor over the (key, seq) entries of field in r, in
	// (key, seq) order or its reverse. Each (key, seq) comes once; an entry
	// may be stale (the row changed or was deleted since), so the caller
	// re-checks every candidate against the newest row. An error matching
	// errIndexNotReady means a source of rs lacks the index: the query must
	// be answered without it.
	open(rs *readState, field string, r indexRange, reverse bool) (indexCursor, error)
	// eqBeforeSeq is the range key = v AND _seq < beforeSeq, so a reverse
	// walk starts at (v, beforeSeq-1) without visiting newer entries.
	eqBeforeSeq(key []byte, beforeSeq int64) indexRange
	// eqAfterSeq is the range key = v AND _seq > afterSeq, so a forward
	// walk starts at (v, afterSeq+1).
	eqAfterSeq(key []byte, afterSeq int64) indexRange
	// rowKey appends the index key of field f of an encoded row to dst
	// (the key encodeKey gives its value), without decoding the value.
	rowKey(dst []byte, v rowView, f fieldRef) ([]byte, error)
}

// indexCursor walks index entries; see indexSource.open. key's slice is
// valid until the next call to next.
type indexCursor interface {
	next() bool
	seq() int64
	key() []byte
	err() error
	close() error
}

// tableIndexSource is the table's own indexes (index.go).
type tableIndexSource struct{ t *Table }

func (x tableIndexSource) ready(field string) bool { return x.t.indexReady(field) }

func (x tableIndexSource) encodeKey(ft FieldType, v any) ([]byte, error) {
	return encodeIndexKey(ft, v)
}

// open returns errIndexNotReady (unwrapped, for errors.Is) when a source of
// rs does not index the field yet; the executor then scans instead.
func (x tableIndexSource) open(rs *readState, field string, r indexRange, reverse bool) (indexCursor, error) {
	it, err := x.t.newIndexIter(rs, field, r, reverse)
	if err != nil {
		return nil, err
	}
	return it, nil
}

func (x tableIndexSource) eqAfterSeq(key []byte, afterSeq int64) indexRange {
	return indexRangeForEqAfterSeq(key, afterSeq)
}

func (x tableIndexSource) rowKey(dst []byte, v rowView, f fieldRef) ([]byte, error) {
	return appendIndexKeyFromRow(dst, v, f.idx, f.ft)
}

func (x tableIndexSource) eqBeforeSeq(key []byte, beforeSeq int64) indexRange {
	return indexRangeForEqBeforeSeq(key, beforeSeq)
}

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

// indexRowSource reads index ranges, looks each candidate seq up and
// re-checks it. In sequential mode the ranges are read one after the other;
// in merge mode (plan.ix.bySeq) all are open at once and merged by seq.
type indexRowSource struct {
	p  *plan
	ip *indexPlan
	rs *readState
	st *queryStats

	ri    int         // sequential: index of the next range to open
	cur   indexCursor // sequential: the open cursor
	heads ixHeap      // merge: one positioned cursor per unfinished range
	stale int         // merge: heads[0] was consumed and must advance; -1 none

	sourceEnd
	ev     evalRow
	buf    []byte
	keyBuf []byte // scratch for the current key of a candidate
	intr   interrupter
}

// ixHead is a positioned cursor of a merge.
type ixHead struct {
	c   indexCursor
	seq int64
}

// ixHeap orders heads by seq: smallest first, or largest when desc.
type ixHeap struct {
	h    []ixHead
	desc bool
}

func (h *ixHeap) Len() int { return len(h.h) }
func (h *ixHeap) Less(i, j int) bool {
	if h.desc {
		return h.h[i].seq > h.h[j].seq
	}
	return h.h[i].seq < h.h[j].seq
}
func (h *ixHeap) Swap(i, j int) { h.h[i], h.h[j] = h.h[j], h.h[i] }
func (h *ixHeap) Push(x any)    { h.h = append(h.h, x.(ixHead)) }
func (h *ixHeap) Pop() any {
	x := h.h[len(h.h)-1]
	h.h = h.h[:len(h.h)-1]
	return x
}

func newIndexRowSource(p *plan, rs *readState, st *queryStats) (rowSource, error) {
	s := &indexRowSource{p: p, ip: p.ix, rs: rs, st: st, stale: -1}
	s.heads.desc = p.reverse
	if !p.ix.bySeq {
		// Open the first range now: readiness is decided here, per read
		// state, so every later range of the same state opens too.
		c, err := p.ix.src.open(rs, p.ix.field.name, p.ix.ranges[0], p.reverse)
		if err != nil {
			return nil, err
		}
		s.cur, s.ri = c, 1
		return s, nil
	}
	for _, r := range p.ix.ranges {
		c, err := p.ix.src.open(rs, p.ix.field.name, r, p.reverse)
		if err != nil {
			s.close()
			return nil, err
		}
		if ok, err := s.advance(c); err != nil {
			s.close()
			return nil, err
		} else if ok {
			s.heads.h = append(s.heads.h, ixHead{c: c, seq: c.seq()})
		}
	}
	heap.Init(&s.heads)
	return s, nil
}

// advance moves c to its next entry within the plan's seq bounds. A cursor
// of one key yields seqs in order, so it stops at the first seq past the
// bounds; entries before the bounds are skipped. It closes c when done.
func (s *indexRowSource) advance(c indexCursor) (bool, error) {
	oneKey := s.ip.keys != nil
	var stopped error
	for c.next() {
		s.st.entriesVisited++
		if stopped = s.intr.step(s.p); stopped != nil {
			break
		}
		seq := c.seq()
		if seq >= s.p.seqLo && seq <= s.p.seqHi {
			return true, nil
		}
		past := (!s.p.reverse && seq > s.p.seqHi) || (s.p.reverse && seq < s.p.seqLo)
		if past && oneKey {
			break
		}
	}
	err := c.err()
	if cerr := c.close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = stopped
	}
	if err != nil {
		return false, withTable(err, s.p.t.name)
	}
	return false, nil
}

func (s *indexRowSource) next() bool {
	if s.done {
		return false
	}
	for {
		seq, key, ok, err := s.candidate()
		if err != nil {
			return s.stop(err)
		}
		if !ok {
			return s.stop(nil)
		}
		match, err := s.consider(seq, key)
		if err != nil {
			return s.stop(err)
		}
		if match {
			return true
		}
	}
}

// candidate returns the next (seq, key) entry of the ranges.
func (s *indexRowSource) candidate() (int64, []byte, bool, error) {
	if s.ip.bySeq {
		if s.stale >= 0 {
			top := s.heads.h[0]
			ok, err := s.advance(top.c)
			if err != nil {
				return 0, nil, false, err
			}
			if ok {
				s.heads.h[0].seq = top.c.seq()
				heap.Fix(&s.heads, 0)
			} else {
				heap.Pop(&s.heads)
			}
			s.stale = -1
		}
		if len(s.heads.h) == 0 {
			return 0, nil, false, nil
		}
		s.stale = 0
		top := s.heads.h[0]
		return top.seq, top.c.key(), true, nil
	}
	for {
		if s.cur == nil {
			if s.ri >= len(s.ip.ranges) {
				return 0, nil, false, nil
			}
			c, err := s.ip.src.open(s.rs, s.ip.field.name, s.ip.ranges[s.ri], s.p.reverse)
			if err != nil {
				return 0, nil, false, withTable(err, s.p.t.name)
			}
			s.ri++
			s.cur = c
		}
		ok, err := s.advance(s.cur)
		if err != nil {
			s.cur = nil
			return 0, nil, false, err
		}
		if ok {
			return s.cur.seq(), s.cur.key(), true, nil
		}
		s.cur = nil // advance closed it
	}
}

// consider looks candidate seq up and re-checks it on the newest row.
func (s *indexRowSource) consider(seq int64, key []byte) (bool, error) {
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
	if s.ip.keyCheck {
		// The seq may sit under several keys of the ranges (old versions
		// of the row); accept it only under the key of its newest value,
		// so each row comes once without remembering the seqs seen.
		k, err := s.ip.src.rowKey(s.keyBuf[:0], view, s.ip.field)
		if err != nil {
			return false, err
		}
		s.keyBuf = k
		if !bytes.Equal(k, key) {
			return false, nil
		}
	}
	s.ev = evalRow{seq: seq, view: view}
	s.buf = buf
	return s.p.filter.matches(&s.ev)
}

func (s *indexRowSource) stop(err error) bool { return s.end(s.p.t.name, err) }

func (s *indexRowSource) seq() int64  { return s.ev.seq }
func (s *indexRowSource) row() []byte { return s.buf }

func (s *indexRowSource) close() error {
	s.done = true
	if s.cur != nil {
		s.record(s.p.t.name, s.cur.close())
		s.cur = nil
	}
	for _, h := range s.heads.h {
		s.record(s.p.t.name, h.c.close())
	}
	s.heads.h = nil
	return s.failed
}

// ---- sorting ----

// sortKey is one order key of a row, read from its encoded bytes.
type sortKey struct {
	null bool
	i    int64
	u    uint64
	f    float64
	b    []byte
	t    timeKey
	d    decimal.Decimal
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
	switch dom {
	case domInt:
		return cmp.Compare(a.i, b.i)
	case domUint:
		return cmp.Compare(a.u, b.u)
	case domFloat:
		return cmp.Compare(a.f, b.f) // NaN first
	case domBytes:
		return bytes.Compare(a.b, b.b)
	case domTime:
		return a.t.compare(b.t)
	case domDecimal:
		return a.d.Cmp(b.d)
	}
	return 0
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

// worstFirst is a max-heap of sort entries (the worst kept row on top).
type worstFirst struct {
	p    *plan
	ents []sortEntry
}

func (h *worstFirst) Len() int           { return len(h.ents) }
func (h *worstFirst) Less(i, j int) bool { return h.p.compareEntries(&h.ents[i], &h.ents[j]) > 0 }
func (h *worstFirst) Swap(i, j int)      { h.ents[i], h.ents[j] = h.ents[j], h.ents[i] }
func (h *worstFirst) Push(x any)         { h.ents = append(h.ents, x.(sortEntry)) }
func (h *worstFirst) Pop() any {
	x := h.ents[len(h.ents)-1]
	h.ents = h.ents[:len(h.ents)-1]
	return x
}

func (s *sortSource) load() error {
	keep := -1
	if s.p.limit >= 0 {
		keep = sortHeapSize(s.p.offset, s.p.limit)
	}
	h := &worstFirst{p: s.p}
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
		case keep < 0 || len(h.ents) < keep:
			e.buf = slices.Clone(buf)
			h.ents = append(h.ents, e)
			if keep >= 0 {
				heap.Fix(h, len(h.ents)-1) // sift the new entry up
			}
			s.st.sortedRows++
		case s.p.compareEntries(&e, &h.ents[0]) < 0:
			e.buf = slices.Clone(buf)
			h.ents[0] = e
			heap.Fix(h, 0)
		}
	}
	if err := s.in.err(); err != nil {
		return err
	}
	s.ents = h.ents
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

// count counts the plan's matching rows in rs without decoding any (Offset
// and Limit are applied by the caller; with a Limit it stops counting at
// Offset+Limit).
func (p *plan) count(rs *readState, st *queryStats) (int64, error) {
	src, _, err := p.source(rs, st, false)
	if err != nil {
		return 0, withTable(err, p.t.name)
	}
	stopAt := int64(-1)
	if p.limit >= 0 {
		stopAt = int64(sortHeapSize(p.offset, p.limit))
	}
	var n int64
	for (stopAt < 0 || n < stopAt) && src.next() {
		n++
	}
	err = src.err()
	if cerr := src.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}
