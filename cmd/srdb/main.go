// Command srdb is the command-line tool of SRDB.
//
// Usage:
//
//	srdb check DIR
//
// check opens the database in DIR, runs Database.Check (every checksum, the
// B+Tree invariants, the MANIFEST against the files on disk, seq order and
// uniqueness, row counts, the secondary indexes against the rows) and
// prints a report per table: its files, rows and problems. The exit status
// is 0 when the database is healthy, 1 when problems were found and 2 for a
// usage error or a database that cannot be opened.
//
// Opening is recovery: like any Open it takes the directory's LOCK (so the
// database must not be in use by another process), truncates a torn WAL
// tail left by a crash, removes files no MANIFEST names, starts a fresh WAL
// per table and flushes replayed WALs to SSTs. It never changes a row. Run it
// on a copy to keep the directory byte-identical.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/srdb-go/srdb"
)

// Exit statuses of run.
const (
	exitOK       = 0 // the database is healthy
	exitProblems = 1 // Check found problems
	exitUsage    = 2 // bad arguments, or the database could not be opened
)

const usage = "usage: srdb check DIR"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// run executes the command line args (without the program name), writes
// its report to stdout and returns the exit status.
func run(args []string, stdout io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stdout, usage)
		return exitUsage
	}
	return check(args[1], stdout)
}

// check opens dir, checks it and reports per table.
func check(dir string, out io.Writer) int {
	// Open creates a missing directory: make sure this is a database first.
	meta := filepath.Join(dir, "database.meta")
	if _, err := srdb.OSFS().Stat(meta); err != nil {
		fmt.Fprintf(out, "srdb check: %s is not an SRDB database (%v)\n", dir, err)
		return exitUsage
	}
	opts := srdb.DefaultOptions()
	opts.DisableAutoCompaction = true // no background rewrite while checking
	opts.Logger = slog.New(slog.DiscardHandler)
	db, err := srdb.Open(dir, opts)
	if err != nil {
		fmt.Fprintf(out, "srdb check: open %s: %v\n", dir, err)
		return exitUsage
	}
	defer db.Close()

	fmt.Fprintf(out, "srdb check %s\n", dir)
	problems := map[string][]string{} // table ("" for none) → problems
	if err := db.Check(); err != nil {
		for _, e := range splitErrors(err) {
			var se *srdb.Error
			table := ""
			if errors.As(e, &se) {
				table = se.Table
			}
			problems[table] = append(problems[table], e.Error())
		}
	}
	bad := 0
	names := db.Tables()
	for _, name := range names {
		t, err := db.Table(name)
		if err != nil {
			bad++
			fmt.Fprintf(out, "table %s: FAILED TO OPEN: %v\n", name, err)
			continue
		}
		st := t.Stats()
		files := 0
		for _, l := range st.Levels {
			files += len(l.Files)
		}
		ps := problems[name]
		delete(problems, name)
		// A table that failed to open is reported above; Check repeats it.
		status := "ok"
		if len(ps) > 0 {
			bad++
			status = fmt.Sprintf("%d problem(s)", len(ps))
		}
		fmt.Fprintf(out, "table %s: %d SST files (%d bytes), %d rows, %d indexes [%s]: %s\n",
			name, files, st.DiskBytes, st.Rows, len(t.Indexes()), strings.Join(t.Indexes(), ","), status)
		for _, p := range ps {
			fmt.Fprintf(out, "  - %s\n", p)
		}
	}
	// Problems naming no open table (e.g. a table that failed to open).
	for table, ps := range problems {
		if _, err := db.Table(table); table != "" && err != nil {
			continue // already reported as FAILED TO OPEN
		}
		bad++
		for _, p := range ps {
			fmt.Fprintf(out, "problem: %s\n", p)
		}
	}
	if bad > 0 {
		fmt.Fprintf(out, "%d table(s), PROBLEMS FOUND\n", len(names))
		return exitProblems
	}
	fmt.Fprintf(out, "%d table(s), ok\n", len(names))
	return exitOK
}

// splitErrors returns the errors joined in err (errors.Join), or err alone.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}
