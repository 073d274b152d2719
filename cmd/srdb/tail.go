package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/srdb-go/srdb"
)

// tailCommand prints the newest rows of a table and, with -f, follows it.
var tailCommand = &command{
	name:    "tail",
	args:    "DIR TABLE",
	summary: "print the last rows of a table; -f follows it, printing new rows",
	details: "Prints the last -n rows (default 10) in _seq order, or with --from every row\n" +
		"with _seq >= SEQ, as JSON lines or CSV; --where and --select work as in scan\n" +
		"(the last N rows are the last N that match).\n\n" +
		"With -f it then follows the table until SIGINT or SIGTERM (exit status 0):\n" +
		"every --interval it calls Database.Refresh and prints the rows with a _seq\n" +
		"above the last one it has seen, in _seq order. A table dropped while it\n" +
		"follows is exit status 1 (so is one dropped and created again, when\n" +
		"Refresh gives it a new handle). srdb opens the\n" +
		"database read-only, beside the writer; a separate process sees the\n" +
		"writer's new rows only through Refresh, so -f polls: a row shows up within\n" +
		"about one --interval of being written (the writer's WAL or a flush makes\n" +
		"it visible). Rows updated or deleted after they were printed are not\n" +
		"printed again. An in-process Table.Tail with sub-millisecond wakeups is\n" +
		"not built yet.\n\n" + valuesHelp,
	nargs: [2]int{2, 2},
	setFlags: func(fs *flag.FlagSet, o *cmdOpts) {
		formatFlags(fs, o)
		filterFlags(fs, o)
		o.n = 10
		fs.Func("n", "print the last `N` rows (default 10)", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a row count", s)
			}
			o.n, o.nSet = n, true
			return nil
		})
		fs.Func("from", "print every row with _seq >= `SEQ` instead of the last N", func(s string) error {
			seq, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a _seq", s)
			}
			o.from, o.fromSet = seq, true
			return nil
		})
		fs.BoolVar(&o.follow, "f", false, "follow: then print new rows as the writer adds them, until SIGINT/SIGTERM")
		o.interval = 500 * time.Millisecond
		fs.Func("interval", "with -f, call Database.Refresh every `DUR` (default 500ms)", func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a positive duration", s)
			}
			o.interval = d
			return nil
		})
	},
	run:      runTail,
	readOnly: true,
}

// tailer prints the rows of one table of a ReadOnly database.
type tailer struct {
	e     *env
	c     *command
	o     *cmdOpts
	db    *srdb.Database
	t     *srdb.Table
	where []srdb.Expr
	names []string // --select, nil for all fields
	w     *rowWriter
	// last is the highest _seq printed or passed over: the rows up to it
	// have been looked at, the next poll starts after it.
	last int64
}

func runTail(e *env, c *command, o *cmdOpts, args []string) int {
	if o.nSet && o.fromSet {
		return usageError(e, c, errors.New("-n and --from exclude each other"))
	}
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	s := t.Schema()
	cols, names, err := columns(s, o.fields)
	if err != nil {
		db.Close()
		return usageError(e, c, fmt.Errorf("--select: %v", err))
	}
	tl := &tailer{e: e, c: c, o: o, db: db, t: t, names: names}
	for _, w := range o.where {
		ex, err := parseWhere(s, w)
		if err != nil {
			db.Close()
			return usageError(e, c, err)
		}
		tl.where = append(tl.where, ex)
	}
	if tl.w, err = newRowWriter(e.stdout, cols, o.csv); err != nil {
		return closeDB(e, c, db, failf(e, c, "%v", err))
	}
	status := tl.printStart()
	if status == exitOK && o.follow {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		status = tl.follow(ctx)
		stop()
	}
	return closeDB(e, c, db, status)
}

// query returns a query of t with the --where conditions and --select.
func (tl *tailer) query() *srdb.Query {
	q := tl.t.Query()
	if len(tl.where) > 0 {
		q.Where(tl.where...)
	}
	if tl.names != nil {
		q.Select(tl.names...)
	}
	return q
}

// highSeq returns the highest _seq of a live row of t's current snapshot,
// 0 when it has none.
func (tl *tailer) highSeq() (int64, error) {
	r, err := tl.t.Query().Last()
	if errors.Is(err, srdb.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return r.Seq(), nil
}

// printStart prints the last -n rows, or the rows from --from, and sets
// last to the highest _seq of the snapshot.
func (tl *tailer) printStart() int {
	high, err := tl.highSeq()
	if err != nil {
		return failf(tl.e, tl.c, "table %s: %v", tl.t.Name(), err)
	}
	tl.last = high
	if tl.o.fromSet {
		return tl.printQuery(tl.query().Gte("_seq", tl.o.from).Lte("_seq", high).OrderBy("_seq"))
	}
	if tl.o.n == 0 {
		return tl.flush() // the CSV header
	}
	// The last n, newest first, then printed oldest first: at most n rows
	// held.
	rows, err := tl.query().Lte("_seq", high).OrderByDesc("_seq").Limit(tl.o.n).Rows()
	if err != nil {
		return tl.queryFailed(err)
	}
	defer rows.Close()
	var newest []*srdb.Row
	for rows.Next() {
		newest = append(newest, rows.Row())
	}
	if err := rows.Err(); err != nil {
		return tl.queryFailed(err)
	}
	slices.Reverse(newest)
	for _, r := range newest {
		if err := tl.w.write(r); err != nil {
			return failf(tl.e, tl.c, "%v", err)
		}
	}
	return tl.flush()
}

// follow polls the table every --interval until ctx is done (exit 0) or
// an error (exit 1).
func (tl *tailer) follow(ctx context.Context) int {
	tick := time.NewTicker(tl.o.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case <-tick.C:
		}
		if status := tl.poll(); status != exitOK {
			return status
		}
	}
}

// poll refreshes the database and prints the rows after last.
func (tl *tailer) poll() int {
	name := tl.t.Name()
	if err := tl.db.Refresh(); err != nil {
		// Refresh reports the first table that failed to load; another
		// table's failure does not stop this one.
		var se *srdb.Error
		if !errors.As(err, &se) || se.Table == "" || se.Table == name {
			return failf(tl.e, tl.c, "refresh: %v", err)
		}
	}
	t, err := tl.db.Table(name)
	switch {
	case errors.Is(err, srdb.ErrTableNotFound):
		return failf(tl.e, tl.c, "table %s was dropped while it was followed", name)
	case err != nil:
		return failf(tl.e, tl.c, "table %s: %v", name, err)
	case t != tl.t:
		return failf(tl.e, tl.c, "table %s was dropped and created again while it was followed", name)
	}
	high, err := tl.highSeq()
	if err != nil {
		return tl.queryFailed(err)
	}
	if high <= tl.last {
		return exitOK
	}
	q := tl.query().Gt("_seq", tl.last).Lte("_seq", high).OrderBy("_seq")
	tl.last = high
	return tl.printQuery(q)
}

// queryFailed reports a failed query: a bad --where is a usage error, a
// table closed under the query (dropped by the writer) a failure.
func (tl *tailer) queryFailed(err error) int {
	if errors.Is(err, srdb.ErrInvalidQuery) {
		return usageError(tl.e, tl.c, err)
	}
	if errors.Is(err, srdb.ErrClosed) {
		return failf(tl.e, tl.c, "table %s was dropped while it was followed (%v)", tl.t.Name(), err)
	}
	return failf(tl.e, tl.c, "table %s: %v", tl.t.Name(), err)
}

// printQuery prints the rows of q as they stream, then flushes them so
// that a follower sees each batch at once.
func (tl *tailer) printQuery(q *srdb.Query) int {
	rows, err := q.Rows()
	if err != nil {
		return tl.queryFailed(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := tl.w.write(rows.Row()); err != nil {
			return failf(tl.e, tl.c, "%v", err)
		}
	}
	if err := rows.Err(); err != nil {
		return tl.queryFailed(err)
	}
	return tl.flush()
}

// flush flushes the CSV writer.
func (tl *tailer) flush() int {
	if err := tl.w.flush(); err != nil {
		return failf(tl.e, tl.c, "%v", err)
	}
	return exitOK
}
