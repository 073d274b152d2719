package main

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/srdb-go/srdb"
)

// This file holds the commands that check and rewrite a database: check
// and compact.

var checkCommand = &command{
	name:    "check",
	args:    "DIR",
	summary: "verify every file of the database (Database.Check); exit 1 on problems",
	details: "Runs Database.Check: every checksum, the B+Tree invariants, the MANIFEST\n" +
		"against the files on disk, seq order and uniqueness, row counts, and the\n" +
		"secondary indexes against the rows. Prints a report per table: SST files,\n" +
		"bytes, rows, indexes and every problem found. Exit status 0: healthy,\n" +
		"1: problems found, a table failed to open, or the database cannot be opened.\n\n" +
		"Opening is recovery: it takes the LOCK, truncates a torn WAL tail, removes\n" +
		"files no MANIFEST names and flushes replayed WALs; it never changes a row.\n" +
		"Run it on a copy to keep a damaged directory byte-identical.\n",
	nargs: [2]int{1, 1}, setFlags: jsonFlag, run: runCheck,
}

// checkTable is one table of the check report.
type checkTable struct {
	Name     string   `json:"name"`
	Files    int      `json:"files"`
	Bytes    int64    `json:"bytes"`
	Rows     int64    `json:"rows"`
	Indexes  []string `json:"indexes"`
	Error    string   `json:"error,omitempty"` // the table failed to open
	Problems []string `json:"problems"`
}

// checkReport is the JSON of `srdb check --json`.
type checkReport struct {
	Dir      string       `json:"dir"`
	Tables   []checkTable `json:"tables"`
	Problems []string     `json:"problems"` // naming no table
	OK       bool         `json:"ok"`
}

func runCheck(e *env, c *command, o *cmdOpts, args []string) int {
	dir := args[0]
	db, code := openDB(e, c, dir)
	if db == nil {
		return code
	}
	bar := startProgress(e, "check "+dir, 0)
	err := db.Check()
	bar.finish()
	problems := map[string][]string{} // table ("" for none) → problems
	for _, pe := range splitErrors(err) {
		if pe == nil {
			continue
		}
		var se *srdb.Error
		table := ""
		if errors.As(pe, &se) {
			table = se.Table
		}
		problems[table] = append(problems[table], pe.Error())
	}
	rep := checkReport{Dir: dir, Tables: []checkTable{}, Problems: []string{}}
	bad := 0
	for _, name := range db.Tables() {
		ct := checkTable{Name: name, Indexes: []string{}, Problems: []string{}}
		t, err := db.Table(name)
		if err != nil {
			// Check reports the open error again: it is the table's only problem.
			bad++
			ct.Error = err.Error()
			delete(problems, name)
			rep.Tables = append(rep.Tables, ct)
			continue
		}
		st := t.Stats()
		ct.Files, ct.Bytes, ct.Rows, ct.Indexes = numFiles(st), st.DiskBytes, st.Rows, nonNil(t.Indexes())
		if ps := problems[name]; len(ps) > 0 {
			bad++
			ct.Problems = ps
		}
		delete(problems, name)
		rep.Tables = append(rep.Tables, ct)
	}
	// Problems naming no open table.
	var rest []string
	for table := range problems {
		rest = append(rest, table)
	}
	sort.Strings(rest)
	for _, table := range rest {
		bad++
		rep.Problems = append(rep.Problems, problems[table]...)
	}
	rep.OK = bad == 0
	status := exitOK
	if !rep.OK {
		status = exitFailure
	}
	if o.json {
		if err := writeJSON(e, rep); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	out := e.stdout
	fmt.Fprintf(out, "srdb check %s\n", dir)
	for _, ct := range rep.Tables {
		if ct.Error != "" {
			fmt.Fprintf(out, "table %s: FAILED TO OPEN: %s\n", ct.Name, ct.Error)
			continue
		}
		state := "ok"
		if len(ct.Problems) > 0 {
			state = fmt.Sprintf("%d problem(s)", len(ct.Problems))
		}
		fmt.Fprintf(out, "table %s: %d SST files (%d bytes), %d rows, %d indexes [%s]: %s\n",
			ct.Name, ct.Files, ct.Bytes, ct.Rows, len(ct.Indexes), strings.Join(ct.Indexes, ","), state)
		for _, p := range ct.Problems {
			fmt.Fprintf(out, "  - %s\n", p)
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(out, "problem: %s\n", p)
	}
	if !rep.OK {
		fmt.Fprintf(out, "%d table(s), PROBLEMS FOUND\n", len(rep.Tables))
	} else {
		fmt.Fprintf(out, "%d table(s), ok\n", len(rep.Tables))
	}
	return closeDB(e, c, db, status)
}

var compactCommand = &command{
	name:    "compact",
	args:    "DIR TABLE | --all DIR",
	summary: "run a full manual compaction of a table, or of every table",
	details: "Table.Compact: flushes the memtables, then merges every SST into the deepest\n" +
		"non-empty level, dropping deleted rows and overwritten versions. Prints the\n" +
		"SST files and bytes before and after.\n",
	nargs: [2]int{1, 2},
	setFlags: func(fs *flag.FlagSet, o *cmdOpts) {
		jsonFlag(fs, o)
		fs.BoolVar(&o.all, "all", false, "compact every table")
	},
	run: runCompact,
}

// compactResult is one table of `srdb compact --json`.
type compactResult struct {
	Table       string `json:"table"`
	FilesBefore int    `json:"files_before"`
	BytesBefore int64  `json:"bytes_before"`
	FilesAfter  int    `json:"files_after"`
	BytesAfter  int64  `json:"bytes_after"`
	Error       string `json:"error,omitempty"`
}

func runCompact(e *env, c *command, o *cmdOpts, args []string) int {
	if o.all != (len(args) == 1) {
		return usageError(e, c, errors.New("want DIR TABLE, or --all DIR"))
	}
	db, code := openDB(e, c, args[0])
	if db == nil {
		return code
	}
	names := db.Tables()
	if !o.all {
		names = args[1:]
	}
	status := exitOK
	results := []compactResult{}
	bar := startProgress(e, "compact", int64(len(names)))
	for _, name := range names {
		r := compactResult{Table: name}
		t, err := db.Table(name)
		if err == nil {
			before := t.Stats()
			r.FilesBefore, r.BytesBefore = numFiles(before), before.DiskBytes
			err = t.Compact()
			after := t.Stats()
			r.FilesAfter, r.BytesAfter = numFiles(after), after.DiskBytes
		}
		if err != nil {
			r.Error = err.Error()
			status = failf(e, c, "table %q: %v", name, err)
		}
		results = append(results, r)
		bar.add(1)
	}
	bar.finish()
	if o.json {
		if err := writeJSON(e, results); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	for _, r := range results {
		if r.Error != "" {
			continue // reported on stderr above
		}
		fmt.Fprintf(e.stdout, "table %s: %d SST files (%d bytes) -> %d SST files (%d bytes)\n",
			r.Table, r.FilesBefore, r.BytesBefore, r.FilesAfter, r.BytesAfter)
	}
	return closeDB(e, c, db, status)
}
