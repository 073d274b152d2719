package srdb

// Rows is a cursor over the result of a query:
//
//	rows, err := q.Rows()
//	if err != nil { … }
//	defer rows.Close()
//	for rows.Next() {
//		row := rows.Row()
//		…
//	}
//	if err := rows.Err(); err != nil { … }
//
// Rows streams: it reads and decodes one row per Next, and its memory does
// not grow with the size of the result — except when the query's order
// cannot come from its access path (OrderBy on a field without an index,
// on _time, or on a field other than the one an Eq/In index serves): then
// the first Next sorts the matching rows, keeping Offset+Limit of them when
// Limit is set and every one otherwise (docs/QUERY.md).
//
// A Rows pins the table files it reads (its read state) from Query.Rows
// until Next returns false or Close is called: compaction can replace those
// files meanwhile, but they are not deleted while pinned. A Rows that is
// never closed (and not read to the end) keeps its files on disk until the
// table is closed, so always Close it; Close is idempotent. Close every Rows
// before closing the Database.
//
// A Rows is not safe for concurrent use. The Row values it returns own their
// data and may be kept and shared. Rows sees the memtable rows present when
// each is read: rows inserted during the iteration may or may not appear.
type Rows struct {
	p      *plan
	rs     *readState // pinned read state; nil once released
	src    rowSource
	st     *queryStats
	skip   int // Offset rows still to skip
	left   int // rows still to return; -1: no limit
	row    *Row
	err    error
	closed bool
}

// openRows runs p over the pinned read state rs, which the Rows owns from
// now on.
func (p *plan) openRows(rs *readState, st *queryStats) (*Rows, error) {
	src, eff, err := p.source(rs, st, true)
	if err != nil {
		rs.release()
		return nil, withTable(err, p.t.name)
	}
	if eff.sort {
		src = &sortSource{p: eff, in: src, st: st}
	}
	return &Rows{p: eff, rs: rs, src: src, st: st, skip: p.offset, left: p.limit}, nil
}

// Next advances to the next row and reports whether there is one. It
// returns false at the end of the result and after an error (see Err); the
// pinned files are released then.
func (r *Rows) Next() bool {
	if r == nil || r.rs == nil {
		return false
	}
	r.row = nil
	if r.left == 0 {
		r.release()
		return false
	}
	for ; r.skip > 0; r.skip-- {
		if !r.src.next() {
			r.release()
			return false
		}
	}
	if !r.src.next() {
		r.release()
		return false
	}
	row, err := decodeResultRow(r.p.s, r.src.row(), r.p.proj)
	if err != nil {
		r.err = withTable(err, r.p.t.name)
		r.release()
		return false
	}
	r.st.rowsDecoded++
	if r.p.proj == nil {
		r.st.fieldsDecoded += int64(len(r.p.s.fields))
	} else {
		r.st.fieldsDecoded += int64(len(r.p.proj))
	}
	r.row = row
	if r.left > 0 {
		r.left--
	}
	return true
}

// Row returns the current row: the one the last successful Next moved to,
// or nil before the first Next and after the end.
func (r *Rows) Row() *Row {
	if r == nil {
		return nil
	}
	return r.row
}

// Err returns the error that ended the iteration, or nil when it ended (or
// has not ended yet) normally.
func (r *Rows) Err() error {
	if r == nil {
		return nil
	}
	return r.err
}

// Close releases the pinned files and returns Err. It is safe to call more
// than once and after Next returned false.
func (r *Rows) Close() error {
	if r == nil {
		return nil
	}
	r.release()
	r.closed = true
	r.row = nil
	return r.err
}

// release closes the source and unpins the read state, once.
func (r *Rows) release() {
	if r.rs == nil {
		return
	}
	if err := r.src.close(); err != nil && r.err == nil {
		r.err = err
	}
	r.rs.release()
	r.rs = nil
}
