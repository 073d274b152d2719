package srdb

import (
	"bytes"
	"cmp"
	"container/heap"
)

// The executor's side of secondary indexes: the indexSource adapter over
// the table's indexes and indexRowSource, which reads index ranges and
// looks their candidate rows up.

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

// indexRowSource reads index ranges, looks each candidate seq up and
// re-checks it. In sequential mode the ranges are read one after the other;
// in merge mode (plan.ix.bySeq) all are open at once and merged by seq, or
// (plan.ix.suffixFrom) by the key after each range's prefix tuple, then seq.
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
	c      indexCursor
	seq    int64
	from   int    // suffix merge: length of the range's prefix tuple
	suffix []byte // suffix merge: c.key()[from:], valid until c moves
}

// setSuffix points h.suffix at the part of its cursor's key after the
// prefix tuple (suffix merges only).
func (h *ixHead) setSuffix() {
	if k := h.c.key(); h.from > 0 && h.from <= len(k) {
		h.suffix = k[h.from:]
	}
}

// ixHeap orders heads by seq: smallest first, or largest for a reverse
// plan (less is set by newIndexRowSource).
type ixHeap = sliceHeap[ixHead]

func newIndexRowSource(p *plan, rs *readState, st *queryStats) (rowSource, error) {
	s := &indexRowSource{p: p, ip: p.ix, rs: rs, st: st, stale: -1}
	if p.reverse {
		s.heads.less = func(a, b *ixHead) bool { return a.seq > b.seq }
	} else {
		s.heads.less = func(a, b *ixHead) bool { return a.seq < b.seq }
	}
	if p.ix.suffixFrom != nil {
		// By the key after the prefix tuple (the ordered field), then seq.
		rev := p.reverse
		s.heads.less = func(a, b *ixHead) bool {
			c := bytes.Compare(a.suffix, b.suffix)
			if c == 0 {
				c = cmp.Compare(a.seq, b.seq)
			}
			return (c < 0) != rev && c != 0
		}
	}
	if !p.ix.merged() {
		// Open the first range now: readiness is decided here, per read
		// state, so every later range of the same state opens too.
		c, err := p.ix.src.open(rs, p.ix.indexName(), p.ix.ranges[0], p.reverse)
		if err != nil {
			return nil, err
		}
		s.cur, s.ri = c, 1
		return s, nil
	}
	for i, r := range p.ix.ranges {
		c, err := p.ix.src.open(rs, p.ix.indexName(), r, p.reverse)
		if err != nil {
			s.close()
			return nil, err
		}
		if ok, err := s.advance(c); err != nil {
			s.close()
			return nil, err
		} else if ok {
			h := ixHead{c: c, seq: c.seq()}
			if p.ix.suffixFrom != nil {
				h.from = p.ix.suffixFrom[i]
				h.setSuffix()
			}
			s.heads.items = append(s.heads.items, h)
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
	if s.ip.merged() {
		if s.stale >= 0 {
			top := s.heads.items[0]
			ok, err := s.advance(top.c)
			if err != nil {
				return 0, nil, false, err
			}
			if ok {
				s.heads.items[0].seq = top.c.seq()
				s.heads.items[0].setSuffix()
				heap.Fix(&s.heads, 0)
			} else {
				heap.Pop(&s.heads)
			}
			s.stale = -1
		}
		if len(s.heads.items) == 0 {
			return 0, nil, false, nil
		}
		s.stale = 0
		top := s.heads.items[0]
		return top.seq, top.c.key(), true, nil
	}
	for {
		if s.cur == nil {
			if s.ri >= len(s.ip.ranges) {
				return 0, nil, false, nil
			}
			c, err := s.ip.src.open(s.rs, s.ip.indexName(), s.ip.ranges[s.ri], s.p.reverse)
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
	view, buf, found, err := s.rs.readRow(seq, s.st)
	if err != nil || !found {
		return false, err
	}
	if s.ip.keyCheck {
		// The seq may sit under several keys of the ranges (old versions
		// of the row); accept it only under the key of its newest value,
		// so each row comes once without remembering the seqs seen.
		k, err := s.ip.rowKey(s.keyBuf[:0], view)
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
	for _, h := range s.heads.items {
		s.record(s.p.t.name, h.c.close())
	}
	s.heads.items = nil
	return s.failed
}

// ---- sorting ----
