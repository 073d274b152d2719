package srdb

import "sync"

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
// table is closed, so always Close it; Close is idempotent.
//
// Closing the table (Database.Close, DropTable) does not wait for the Rows
// still open: it invalidates them and releases their files itself. From
// then on Next returns false and Err returns an error matching ErrClosed; a
// Next running at that moment in another goroutine stops within a few
// thousand rows examined, and the files are released only after it
// returns, so a Rows never reads released memory.
//
// A Rows returned by Table.Tail follows the table instead of running a
// query: see Tail for when its Next blocks and ends.
//
// A Rows is not safe for concurrent use (except with the table being closed,
// as above). The Row values it returns own their data and may be kept and
// shared. Rows sees the memtable rows present when each is read: rows
// inserted during the iteration may or may not appear.
type Rows struct {
	p    *plan
	st   *queryStats
	skip int // Offset rows still to skip
	left int // rows still to return; -1: no limit
	row  *Row

	// mu guards the fields below. Next, Err and Close hold it for the whole
	// call, and so does the table's close when it invalidates a Rows left
	// open (Table.invalidateRows), so the read state is released exactly
	// once and never while Next reads from it. Lock order: mu before
	// rowsRegistry.mu.
	mu     sync.Mutex
	rs     *readState // pinned read state; nil once released
	src    rowSource
	err    error
	closed bool

	// returned counts the rows Next returned; release adds it to the
	// table's counters (metrics.go). Guarded by mu.
	returned int64

	// tail is set for a Rows returned by Table.Tail (tail.go), which uses
	// none of the fields above but row.
	tail *tailRows
}

// rowsRegistry is a table's set of Rows that still hold a pinned read
// state, so that closing the table can invalidate them instead of waiting
// for their callers.
type rowsRegistry struct {
	// mu guards the fields below. It is a leaf lock: taken under Rows.mu
	// (release), never held while taking one.
	mu     sync.Mutex
	open   map[*Rows]struct{}
	closed bool // the table is closing: no Rows may register
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
	r := &Rows{p: eff, rs: rs, src: src, st: st, skip: p.offset, left: p.limit}
	if !p.t.registerRows(r) {
		src.close()
		rs.release()
		return nil, p.t.closedError()
	}
	return r, nil
}

// registerRows records r as open, or reports false once the table is
// closing (the caller then releases what r holds).
func (t *Table) registerRows(r *Rows) bool {
	t.rows.mu.Lock()
	defer t.rows.mu.Unlock()
	if t.rows.closed {
		return false
	}
	if t.rows.open == nil {
		t.rows.open = make(map[*Rows]struct{})
	}
	t.rows.open[r] = struct{}{}
	return true
}

// invalidateRows stops every Rows still open: no Rows registers after it
// starts, and each open one releases its read state, with ErrClosed as its
// error, as soon as a Next running in another goroutine returns (a Next
// polls the table's closing every interruptEvery entries, so that is soon).
// Called by close after done is closed.
func (t *Table) invalidateRows() {
	t.rows.mu.Lock()
	t.rows.closed = true
	open := make([]*Rows, 0, len(t.rows.open))
	for r := range t.rows.open {
		open = append(open, r)
	}
	t.rows.mu.Unlock()
	for _, r := range open {
		r.mu.Lock()
		if r.rs != nil {
			r.release()
			if r.err == nil {
				r.err = tableError(CodeClosed, t.name, "the table was closed while the Rows was open")
			}
		}
		r.mu.Unlock()
	}
}

// Next advances to the next row and reports whether there is one. It
// returns false at the end of the result and after an error (see Err); the
// pinned files are released then.
func (r *Rows) Next() bool {
	if r == nil {
		return false
	}
	if r.tail != nil {
		return r.tailNext()
	}
	return r.nextInto(r.decodeRow)
}

// decodeRow is Next's fill (nextInto): it builds the Row of buf.
func (r *Rows) decodeRow(buf []byte) error {
	row, err := decodeResultRow(r.p.s, buf, r.p.proj)
	r.row = row
	return err
}

// advanceLocked moves to the next result row (Offset and Limit applied)
// and returns its encoded bytes, which may alias a mapped file the Rows
// keeps pinned: valid while r.mu is held and until the next advance. At
// the end, or on an error, it releases the Rows and returns false. Caller
// holds r.mu; r.tail is nil.
func (r *Rows) advanceLocked() ([]byte, bool) {
	if r.rs == nil {
		return nil, false
	}
	if r.left == 0 {
		r.release()
		return nil, false
	}
	for ; r.skip > 0; r.skip-- {
		if !r.src.next() {
			r.release()
			return nil, false
		}
	}
	if !r.src.next() {
		r.release()
		return nil, false
	}
	r.returned++
	if r.left > 0 {
		r.left--
	}
	return r.src.row(), true
}

// countDecoded adds a row handed to the caller to the query's statistics.
func (r *Rows) countDecoded() {
	r.st.rowsDecoded++
	if r.p.proj == nil {
		r.st.fieldsDecoded += int64(len(r.p.s.fields))
	} else {
		r.st.fieldsDecoded += int64(len(r.p.proj))
	}
}

// nextInto is Next for Query.Scan: it moves to the next row and hands its
// encoded bytes to fill while r.mu is held (so that Close cannot unmap them
// meanwhile), without building a Row. It returns false at the end or on an
// error (Err reports it, fill's included).
func (r *Rows) nextInto(fill func(buf []byte) error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.row = nil
	buf, ok := r.advanceLocked()
	if !ok {
		return false
	}
	if err := fill(buf); err != nil {
		r.err = withTable(err, r.p.t.name)
		r.release()
		return false
	}
	r.countDecoded()
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
// has not ended yet) normally: ErrClosed when the table was closed first,
// CodeCanceled (wrapping ctx.Err()) when the query's context ended it.
func (r *Rows) Err() error {
	if r == nil {
		return nil
	}
	if r.tail != nil {
		return r.tail.tailErr()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close releases the pinned files and returns Err. It is safe to call more
// than once and after Next returned false.
func (r *Rows) Close() error {
	if r == nil {
		return nil
	}
	if r.tail != nil {
		return r.tail.tailClose()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	r.closed = true
	r.row = nil
	return r.err
}

// release closes the source, unpins the read state and leaves the table's
// registry, once. Caller holds r.mu.
func (r *Rows) release() {
	if r.rs == nil {
		return
	}
	if err := r.src.close(); err != nil && r.err == nil {
		r.err = err
	}
	t := r.rs.t
	t.stats.queryRows.Add(r.returned)
	r.rs.release()
	r.rs = nil
	t.rows.mu.Lock()
	delete(t.rows.open, r)
	t.rows.mu.Unlock()
}
