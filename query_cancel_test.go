package srdb

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// errAfterCtx is a context whose Err turns to err after `after` calls: a
// query that polls it stops at a known point of its scan, without timing.
type errAfterCtx struct {
	context.Context
	after int64
	calls atomic.Int64
	err   error
}

func (c *errAfterCtx) Err() error {
	if c.calls.Add(1) > c.after {
		return c.err
	}
	return nil
}

// cancelTerminals runs each terminal method of q and returns its error.
var cancelTerminals = []struct {
	name string
	run  func(q *Query) error
}{
	{"Rows", func(q *Query) error {
		r, err := q.Rows()
		if err != nil {
			return err
		}
		for r.Next() {
		}
		if err := r.Err(); err != nil {
			if cerr := r.Close(); cerr != err {
				return errors.New("Rows.Close did not return Err")
			}
			return err
		}
		return r.Close()
	}},
	{"Count", func(q *Query) error { _, err := q.Count(); return err }},
	{"Scan slice", func(q *Query) error { var out []map[string]any; return q.Scan(&out) }},
	{"Scan struct", func(q *Query) error {
		var out struct {
			MsgID int64 `srdb:"msg_id"`
		}
		return q.Scan(&out)
	}},
	{"Paginate", func(q *Query) error {
		r, _, err := q.Paginate(2, 10)
		if err != nil {
			return err
		}
		for r.Next() {
		}
		return r.Close()
	}},
	{"First", func(q *Query) error { _, err := q.First(); return err }},
	{"Last", func(q *Query) error { _, err := q.Last(); return err }},
	{"Last with Limit", func(q *Query) error { _, err := q.Limit(5000).Last(); return err }},
}

// requireCanceled checks that err is the query's context error, named with
// the table.
func requireCanceled(t *testing.T, err, want error, msg string) {
	t.Helper()
	require.ErrorIs(t, err, want, msg)
	require.ErrorIs(t, err, ErrCanceled, msg)
	var e *Error
	require.True(t, errors.As(err, &e), msg)
	require.Equal(t, "messages", e.Table, msg)
}

// TestQueryWithContextDone: a context already cancelled or past its
// deadline stops every terminal before it reads a row.
func TestQueryWithContextDone(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl := createIMTable(t, db)
	fillIMTable(t, tbl, 2000, 1000)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, stop := context.WithTimeout(context.Background(), -time.Second)
	defer stop()
	for _, c := range []struct {
		ctx  context.Context
		want error
	}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		for _, term := range cancelTerminals {
			for _, shape := range []func() *Query{
				func() *Query { return tbl.Query() },                          // no condition: Count reads a counter
				func() *Query { return tbl.Query().Eq("from_uid", "nobody") }, // scan matching nothing
			} {
				st := &queryStats{}
				q := shape().WithContext(c.ctx)
				q.stats = st
				requireCanceled(t, term.run(q), c.want, term.name)
				require.Zero(t, st.entriesScanned, term.name)
			}
		}
	}
	// Without a context, or with a live one, the query runs.
	n, err := tbl.Query().WithContext(context.Background()).Eq("msg_type", 1).Count()
	require.NoError(t, err)
	require.Equal(t, 500, n)
	var nilCtx context.Context                       // a caller's unset context
	_, err = tbl.Query().WithContext(nilCtx).Count() // a nil context is a query error, not a panic
	require.ErrorIs(t, err, ErrInvalidQuery)
}

// TestQueryWithContextStopsMidScan: a context cancelled while a query runs
// stops it within interruptEvery examined entries, on every access path
// (scan with a filter that matches nothing, index range, points, the fill
// of a sort buffer) and for every terminal.
func TestQueryWithContextStopsMidScan(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	defer db.Close()
	tbl := createIMTable(t, db)
	const n = 20000
	fillIMTable(t, tbl, n, 8000) // two SSTs and a memtable
	require.NoError(t, tbl.CreateIndex("msg_id"))
	seqs := make([]any, 0, n)
	for s := 1; s <= n; s++ {
		seqs = append(seqs, s)
	}
	lastRow, err := tbl.Get(n)
	require.NoError(t, err)
	shapes := []struct {
		name string
		q    func() *Query
	}{
		{"scan", func() *Query { return tbl.Query().Eq("from_uid", "nobody") }},
		// The _time windows hold only the newest rows: the index entries
		// before them are skipped without a lookup, and the skipping stops
		// (ordered by msg_id so that First and Last keep the index).
		{"index range, _time", func() *Query {
			return tbl.Query().Between("msg_id", 1, n).Gte("_time", lastRow.Time()).Eq("from_uid", "nobody").OrderBy("msg_id")
		}},
		{"index range", func() *Query { return tbl.Query().Between("msg_id", 1, n).Eq("from_uid", "nobody") }},
		{"points", func() *Query { return tbl.Query().In("_seq", seqs...).Eq("from_uid", "nobody") }},
		{"sort", func() *Query { return tbl.Query().Gte("msg_type", 0).OrderBy("payload") }}, // matches every row
	}
	// The entries a plan examines: scanned table entries, visited index
	// entries or point lookups, whichever its access path steps over (First
	// and Last order by _seq, which can turn an index range into a scan).
	examined := func(st *queryStats) int64 { return max(st.entriesScanned, st.entriesVisited, st.lookups) }
	for _, sh := range shapes {
		want := map[string]string{"scan": "access: scan", "index range": "access: index", "index range, _time": "access: index", "points": "access: seq lookups", "sort": "sort"}[sh.name]
		require.True(t, strings.Contains(mustExplain(t, sh.q()), want), "%s: plan lacks %q", sh.name, want)
		for _, term := range cancelTerminals {
			for _, want := range []error{context.Canceled, context.DeadlineExceeded} {
				// Err is called at the start, at the first entry, then
				// every interruptEvery entries: it fails at the 3rd
				// periodic check.
				ctx := &errAfterCtx{Context: context.Background(), after: 4, err: want}
				st := &queryStats{}
				q := sh.q().WithContext(ctx)
				q.stats = st
				err := term.run(q)
				msg := sh.name + " / " + term.name
				requireCanceled(t, err, want, msg)
				got := examined(st)
				require.Greater(t, got, int64(2*interruptEvery), msg)
				require.LessOrEqual(t, got, int64(4*interruptEvery), msg)
			}
		}
	}

	// Count of a _seq range reads no row (the B+tree leaves' seqs only):
	// it stops too.
	ctx := &errAfterCtx{Context: context.Background(), after: 4, err: context.Canceled}
	st := &queryStats{}
	q := tbl.Query().Between("_seq", 1, n).WithContext(ctx)
	q.stats = st
	_, err = q.Count()
	requireCanceled(t, err, context.Canceled, "Count of a _seq range")
	require.Zero(t, st.rowsRead)
	require.Greater(t, st.entriesScanned, int64(2*interruptEvery))
	require.LessOrEqual(t, st.entriesScanned, int64(4*interruptEvery))
}

// mustExplain returns q's plan text.
func mustExplain(t *testing.T, q *Query) string {
	t.Helper()
	s, err := q.Explain()
	require.NoError(t, err)
	return s
}

// TestQueryWithContextCancelFromGoroutine: a Count running in one goroutine
// stops with context.Canceled when another goroutine cancels its context.
func TestQueryWithContextCancelFromGoroutine(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	defer db.Close()
	tbl := createIMTable(t, db)
	fillIMTable(t, tbl, 20000, 10000)
	ctx, cancel := context.WithCancel(context.Background())
	// The context's Err is first polled by the query itself; the second
	// poll (the first entry) cancels from another goroutine and waits
	// for it, so the cancel lands while the scan runs.
	polls := &pollHookCtx{Context: ctx}
	polls.hook = func(n int64) {
		if n == 2 {
			done := make(chan struct{})
			go func() { cancel(); close(done) }()
			<-done
		}
	}
	st := &queryStats{}
	q := tbl.Query().Eq("from_uid", "nobody").WithContext(polls)
	q.stats = st
	_, err := q.Count()
	requireCanceled(t, err, context.Canceled, "Count")
	require.Less(t, st.entriesScanned, int64(20000))
}

// pollHookCtx calls hook with the number of each Err call before answering.
type pollHookCtx struct {
	context.Context
	calls atomic.Int64
	hook  func(n int64)
}

func (c *pollHookCtx) Err() error {
	c.hook(c.calls.Add(1))
	return c.Context.Err()
}

// TestQueryStopsWhenTableCloses: a Count running when Database.Close starts
// stops with ErrClosed at its next check instead of holding Close until it
// has scanned the whole table.
func TestQueryStopsWhenTableCloses(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	tbl := createIMTable(t, db)
	fillIMTable(t, tbl, 20000, 10000)
	closed := make(chan error, 1)
	// At the query's first entry, start Close in another goroutine and
	// wait until it has begun (done is closed first thing).
	polls := &pollHookCtx{Context: context.Background()}
	polls.hook = func(n int64) {
		if n == 2 {
			go func() { closed <- db.Close() }()
			<-tbl.done
		}
	}
	st := &queryStats{}
	q := tbl.Query().Eq("from_uid", "nobody").WithContext(polls)
	q.stats = st
	_, err := q.Count()
	require.ErrorIs(t, err, ErrClosed)
	require.Less(t, st.entriesScanned, int64(2*interruptEvery))
	require.NoError(t, <-closed)
}
