package srdb

import (
	"context"
	"math"
	"slices"
)

// Query is a chainable query over one table:
//
//	rows, err := msgs.Query().
//		Eq("channel_id", "general").
//		Lt("_seq", before).
//		OrderByDesc("_seq").
//		Limit(20).
//		Rows()
//
// Conditions added by the builder methods (Eq, Lt, In, …) and by Where are
// ANDed; group them with Or, And and Not (see Expr). Comparisons follow the
// field's type: integers and floats of any Go width compare by value
// (an Int64 field against int, uint64 above MaxInt64 or 2.5 alike), Decimal
// exactly, Time by instant, strings and bytes bytewise. A NULL field
// matches only IsNull: NotEq, NotIn, comparisons and Not of them do not
// match it. "_seq" and "_time" can be filtered, ordered and selected like
// fields; _time compares with time.Time, RFC 3339 strings or Unix
// nanoseconds.
//
// Mistakes — an unknown field, a value that cannot be compared with the
// field's type, Contains on a number, a negative Limit — are recorded by the
// builder and returned as ErrInvalidQuery by the terminal method (Rows,
// First, Last, Count, Scan, Paginate, Explain) before any row is read.
//
// The builder methods change the Query and return it; a Query is not safe
// for concurrent use, but its terminal methods do not change it, so one
// Query can run several times. docs/QUERY.md describes how each shape of
// query is executed and what it costs; Explain shows the chosen plan.
type Query struct {
	t      *Table
	conds  []Expr
	sel    []string
	hasSel bool
	order  []orderBy
	limit  int // -1: no limit
	offset int
	err    error // first builder error, returned by the terminals

	// ctx stops the terminals once done (WithContext); nil: never.
	ctx context.Context

	// ix reaches the secondary indexes; nil means the table's own. Tests
	// substitute a fake.
	ix indexSource
	// stats, when set, receives the counters of every execution (tests).
	stats *queryStats
}

// orderBy is one OrderBy / OrderByDesc call.
type orderBy struct {
	field string
	desc  bool
}

// Query starts a query over the table's live rows.
func (t *Table) Query() *Query {
	return &Query{t: t, limit: -1}
}

// setErr records the first builder error.
func (q *Query) setErr(err error) {
	if q.err == nil {
		q.err = err
	}
}

// Where adds conditions (ANDed with the others).
func (q *Query) Where(e ...Expr) *Query {
	if q == nil {
		return nil
	}
	q.conds = append(q.conds, e...)
	return q
}

// Eq adds the condition field = v.
func (q *Query) Eq(field string, v any) *Query { return q.Where(Eq(field, v)) }

// NotEq adds the condition field != v (NULL does not match).
func (q *Query) NotEq(field string, v any) *Query { return q.Where(NotEq(field, v)) }

// Lt adds the condition field < v.
func (q *Query) Lt(field string, v any) *Query { return q.Where(Lt(field, v)) }

// Gt adds the condition field > v.
func (q *Query) Gt(field string, v any) *Query { return q.Where(Gt(field, v)) }

// Lte adds the condition field <= v.
func (q *Query) Lte(field string, v any) *Query { return q.Where(Lte(field, v)) }

// Gte adds the condition field >= v.
func (q *Query) Gte(field string, v any) *Query { return q.Where(Gte(field, v)) }

// In adds the condition "field is one of vs".
func (q *Query) In(field string, vs ...any) *Query { return q.Where(In(field, vs...)) }

// NotIn adds the condition "field is none of vs" (NULL does not match).
func (q *Query) NotIn(field string, vs ...any) *Query { return q.Where(NotIn(field, vs...)) }

// Between adds the condition lo <= field <= hi.
func (q *Query) Between(field string, lo, hi any) *Query { return q.Where(Between(field, lo, hi)) }

// Contains adds the condition "the String or Bytes field contains s".
func (q *Query) Contains(field, s string) *Query { return q.Where(Contains(field, s)) }

// StartsWith adds the condition "the String or Bytes field starts with s".
func (q *Query) StartsWith(field, s string) *Query { return q.Where(StartsWith(field, s)) }

// EndsWith adds the condition "the String or Bytes field ends with s".
func (q *Query) EndsWith(field, s string) *Query { return q.Where(EndsWith(field, s)) }

// IsNull adds the condition "field is NULL".
func (q *Query) IsNull(field string) *Query { return q.Where(IsNull(field)) }

// NotNull adds the condition "field is not NULL".
func (q *Query) NotNull(field string) *Query { return q.Where(NotNull(field)) }

// Select limits the fields decoded into each Row; the others are not
// decoded and Row.Get reports them absent. _seq and _time are always
// present. Several calls add up. Without Select every field is decoded.
func (q *Query) Select(fields ...string) *Query {
	if q == nil {
		return nil
	}
	q.sel = append(q.sel, fields...)
	q.hasSel = true
	return q
}

// OrderBy sorts the result by field, ascending; "_seq" and "_time" are
// allowed. Several calls add tie-breakers; rows still tied come in _seq
// order (descending when the first key is descending). NULL sorts before
// every value. Without OrderBy the order is that of the access path
// (docs/QUERY.md); First and Last then use _seq order.
func (q *Query) OrderBy(field string) *Query {
	if q == nil {
		return nil
	}
	q.order = append(q.order, orderBy{field: field})
	return q
}

// OrderByDesc is OrderBy, descending: the exact reverse of the ascending
// order, so NULLs come last.
func (q *Query) OrderByDesc(field string) *Query {
	if q == nil {
		return nil
	}
	q.order = append(q.order, orderBy{field: field, desc: true})
	return q
}

// Limit returns at most n rows (0 returns none). A negative n is
// ErrInvalidQuery.
func (q *Query) Limit(n int) *Query {
	if q == nil {
		return nil
	}
	if n < 0 {
		q.setErr(queryError("", "negative Limit %d", n))
		return q
	}
	q.limit = n
	return q
}

// Offset skips the first n rows of the result. A negative n is
// ErrInvalidQuery.
func (q *Query) Offset(n int) *Query {
	if q == nil {
		return nil
	}
	if n < 0 {
		q.setErr(queryError("", "negative Offset %d", n))
		return q
	}
	q.offset = n
	return q
}

// clone returns an independent copy of q.
func (q *Query) clone() *Query {
	c := *q
	c.conds = slices.Clone(q.conds)
	c.sel = slices.Clone(q.sel)
	c.order = slices.Clone(q.order)
	return &c
}

// Rows runs the query and returns a cursor over its rows. The caller must
// Close it: an open Rows pins the table files it reads (see Rows).
func (q *Query) Rows() (*Rows, error) {
	p, err := q.plan(planRows)
	if err != nil {
		return nil, err
	}
	p.t.stats.queries.Add(1)
	if err := p.interrupted(); err != nil {
		return nil, err
	}
	rs, err := p.t.pin()
	if err != nil {
		return nil, err
	}
	return p.openRows(rs, q.newStats())
}

// newStats returns the counters an execution updates.
func (q *Query) newStats() *queryStats {
	if q.stats != nil {
		return q.stats
	}
	return &queryStats{}
}

// First returns the first row of the result, or an error satisfying
// errors.Is(err, ErrNotFound) when it is empty. Without OrderBy that is the
// matching row with the lowest _seq.
func (q *Query) First() (*Row, error) {
	if q == nil {
		return nil, queryError("", "nil Query")
	}
	c := q.clone()
	if len(c.order) == 0 {
		c.order = []orderBy{{field: sysFieldSeq}}
	}
	if c.limit < 0 || c.limit > 1 {
		c.limit = 1
	}
	return c.firstRow()
}

// Last returns the last row of the result (ErrNotFound when it is empty).
// Without OrderBy that is the matching row with the highest _seq. Without
// Limit and Offset it reads the result backwards, as cheaply as First;
// with them it walks the window.
func (q *Query) Last() (*Row, error) {
	if q == nil {
		return nil, queryError("", "nil Query")
	}
	c := q.clone()
	if len(c.order) == 0 {
		c.order = []orderBy{{field: sysFieldSeq}}
	}
	if c.limit < 0 && c.offset == 0 {
		for i := range c.order {
			c.order[i].desc = !c.order[i].desc
		}
		c.limit = 1
		return c.firstRow()
	}
	rows, err := c.Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var last *Row
	for rows.Next() {
		last = rows.Row()
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if last == nil {
		return nil, c.notFound()
	}
	return last, nil
}

// firstRow runs q and returns its first row.
func (q *Query) firstRow() (*Row, error) {
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if rows.Next() {
		return rows.Row(), nil
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return nil, q.notFound()
}

func (q *Query) notFound() error {
	return tableError(CodeNotFound, q.t.name, "no row matches the query")
}

// Count returns the number of rows Rows would return (Offset and Limit
// apply; Select and OrderBy are ignored). Without conditions it reads the
// table's live-row counter and decodes nothing; with conditions it runs the
// access path and evaluates the conditions on the encoded rows without
// building Row values.
func (q *Query) Count() (int, error) {
	p, err := q.plan(planCount)
	if err != nil {
		return 0, err
	}
	p.t.stats.queries.Add(1)
	if err := p.interrupted(); err != nil {
		return 0, err
	}
	if p.countAll {
		n, err := p.t.countLive()
		if err != nil {
			return 0, err
		}
		return p.window(n), nil
	}
	rs, err := p.t.pin()
	if err != nil {
		return 0, err
	}
	defer rs.release()
	n, err := p.count(rs, q.newStats())
	if err != nil {
		return 0, err
	}
	return p.window(n), nil
}

// window applies Offset and Limit to a number of matching rows.
func (p *plan) window(n int64) int {
	n = max(n-int64(p.offset), 0)
	if p.limit >= 0 {
		n = min(n, int64(p.limit))
	}
	return int(min(n, math.MaxInt))
}

// Paginate returns page number page (1-based) of size rows and the total
// number of matching rows. It replaces the query's Limit and Offset; both
// results come from one pinned state of the table. page < 1 or size < 1 is
// ErrInvalidQuery.
func (q *Query) Paginate(page, size int) (*Rows, int, error) {
	if q == nil {
		return nil, 0, queryError("", "nil Query")
	}
	if page < 1 || size < 1 {
		return nil, 0, queryError("", "Paginate(page %d, size %d): both must be at least 1", page, size)
	}
	if page-1 > (math.MaxInt-size)/size {
		return nil, 0, queryError("", "Paginate(page %d, size %d): offset overflows", page, size)
	}
	c := q.clone()
	c.limit, c.offset = -1, 0
	cp, err := c.plan(planCount)
	if err != nil {
		return nil, 0, err
	}
	c.limit, c.offset = size, (page-1)*size
	p, err := c.plan(planRows)
	if err != nil {
		return nil, 0, err
	}
	p.t.stats.queries.Add(1)
	if err := p.interrupted(); err != nil {
		return nil, 0, err
	}
	rs, err := p.t.pin()
	if err != nil {
		return nil, 0, err
	}
	st := q.newStats()
	var total int64
	if cp.countAll {
		if total, err = cp.t.countLive(); err != nil {
			rs.release()
			return nil, 0, err
		}
	} else if total, err = cp.count(rs, st); err != nil {
		rs.release()
		return nil, 0, err
	}
	rows, err := p.openRows(rs, st)
	if err != nil {
		return nil, 0, err
	}
	return rows, int(min(total, math.MaxInt)), nil
}

// Explain returns the plan the query would run, one aspect per line:
// access path (scan, points, index), filter, order (streamed or sorted),
// projection and window. It reads no rows.
func (q *Query) Explain() (string, error) {
	p, err := q.plan(planRows)
	if err != nil {
		return "", err
	}
	p.explainTimeSkips()
	return p.String(), nil
}
