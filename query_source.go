package srdb

import (
	"errors"
	"slices"
)

// The rowSources of the access paths other than an index: the scan (over
// readState.newIter, table_read.go), a list of seqs, nothing.

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
		run, err := p.withTimeWindows(rs, st)
		if err != nil {
			return nil, p, err
		}
		src, err := newIndexRowSource(run, rs, st)
		if errors.Is(err, errIndexNotReady) {
			st.indexFallbacks++
			return p.scanFallback().source(rs, st, needRow)
		}
		return src, p, err
	}
	wins, windowed, err := p.timeWindows(rs, st)
	if err != nil {
		return nil, p, err
	}
	it := rs.newIter(iterBounds{seqLo: p.seqLo, seqHi: p.seqHi, timeBound: p.timeBound, timeLo: p.timeLo, timeHi: p.timeHi}, st)
	if windowed {
		it = newWindowIter(it, wins)
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

// scanSource walks the live rows of [seqLo, seqHi] in seq order (skipping
// tombstones) and evaluates the filter on each encoded row.
type scanSource struct {
	it internalIterator
	// sst is the SST iterator whose entry it stands on, when it has
	// one (sstCursorOf; forward scans only): the following entries of the
	// same leaf are read through it directly.
	sst     *sstIter
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
				s.sst = sstCursorOf(s.it)
			}
		case s.p.reverse:
			ok = s.it.prev()
		case s.sst != nil && s.sst.nextInLeaf():
			ok = true
			s.st.leafSteps++
		default:
			ok = s.it.next()
			s.sst = sstCursorOf(s.it)
		}
		if !ok {
			return s.stop(s.it.err())
		}
		var seq int64
		var kind entryKind
		if c := s.sst; c != nil {
			seq, kind = c.seq(), c.kind()
		} else {
			seq, kind = s.it.seq(), s.it.kind()
		}
		if seq > s.p.seqHi || seq < s.p.seqLo {
			return s.stop(nil)
		}
		s.st.entriesScanned++
		if err := s.intr.step(s.p); err != nil {
			return s.stop(err)
		}
		if kind == kindDelete {
			continue
		}
		s.cur.seq = seq
		s.buf = nil
		if s.needRow {
			var buf []byte
			if c := s.sst; c != nil {
				buf = c.value()
			} else {
				buf = s.it.value()
			}
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

// readRow looks seq up in the pinned read state rs for a point or index
// source and parses the row; found is false when the row is missing or
// deleted (no match). buf aliases memory rs pins. It counts the lookup and
// the row read in st.
func (rs *readState) readRow(seq int64, st *queryStats) (view rowView, buf []byte, found bool, err error) {
	st.lookups++
	kind, buf, err := rs.get(seq)
	if err != nil || kind != kindSet {
		return rowView{}, nil, false, err
	}
	if view, err = parseRow(buf); err != nil {
		return rowView{}, nil, false, err
	}
	st.rowsRead++
	return view, buf, true, nil
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
	view, buf, found, err := s.rs.readRow(seq, s.st)
	if err != nil || !found {
		return false, err
	}
	s.cur = evalRow{seq: seq, view: view}
	s.buf = buf
	return s.filter.matches(&s.cur)
}

func (s *pointSource) seq() int64   { return s.cur.seq }
func (s *pointSource) row() []byte  { return s.buf }
func (s *pointSource) err() error   { return s.failed }
func (s *pointSource) close() error { s.i = len(s.seqs); return s.failed }
