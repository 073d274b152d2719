package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/srdb-go/srdb"
)

// This file holds the commands that print rows: get, scan and dump.

// formatFlags defines --json and --csv.
func formatFlags(fs *flag.FlagSet, o *cmdOpts) {
	fs.BoolVar(&o.json, "json", false, "print JSON (the default: one object per row)")
	fs.BoolVar(&o.csv, "csv", false, "print CSV with a header line instead of JSON")
}

// valuesHelp is the part of the help text describing how values print.
const valuesHelp = `Values: numbers as JSON numbers; float NaN and ±Inf as the strings "NaN",
"+Inf", "-Inf" (JSON has no such numbers); decimal as a string of its exact
digits; time and _time as RFC 3339 strings with nanoseconds (_time in UTC);
duration as a string ("1m30s"); bytes as standard base64; object and array
as JSON; NULL as null (an empty cell in CSV).
`

var getCommand = &command{
	name:    "get",
	args:    "DIR TABLE SEQ",
	summary: "print the row with _seq SEQ",
	details: "Prints one JSON object (_seq, _time, then the fields in schema order), or CSV.\n" +
		"A missing row is exit status 1.\n\n" + valuesHelp,
	nargs: [2]int{3, 3},
	setFlags: func(fs *flag.FlagSet, o *cmdOpts) {
		formatFlags(fs, o)
		fs.StringVar(&o.fields, "fields", "", "comma-separated fields to print (default all)")
	},
	run:      runGet,
	readOnly: true,
}

func runGet(e *env, c *command, o *cmdOpts, args []string) int {
	seq, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return usageError(e, c, fmt.Errorf("SEQ %q is not an integer", args[2]))
	}
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	cols, names, err := columns(t.Schema(), o.fields)
	if err != nil {
		db.Close()
		return usageError(e, c, fmt.Errorf("--fields: %v", err))
	}
	var row *srdb.Row
	if o.fields != "" {
		row, err = t.GetPartial(seq, names...)
	} else {
		row, err = t.Get(seq)
	}
	if err != nil {
		return closeDB(e, c, db, failf(e, c, "table %s row %d: %v", t.Name(), seq, err))
	}
	status := exitOK
	w, err := newRowWriter(e.stdout, cols, o.csv)
	if err == nil {
		err = w.write(row)
	}
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		status = failf(e, c, "%v", err)
	}
	return closeDB(e, c, db, status)
}

// filterFlags defines --where and --select (scan and tail).
func filterFlags(fs *flag.FlagSet, o *cmdOpts) {
	fs.Func("where", "a condition `COND`, 'FIELD OP VALUE' (repeatable; ANDed)", func(s string) error {
		o.where = append(o.where, s)
		return nil
	})
	fs.StringVar(&o.fields, "select", "", "comma-separated `FIELDS` to print (default all)")
}

var scanCommand = &command{
	name:    "scan",
	args:    "DIR TABLE",
	summary: "print the rows matching a filter, as JSON lines or CSV",
	details: "Each --where is one condition, 'FIELD OP VALUE'; several are ANDed. Operators:\n" +
		"  " + whereOps + "\n" +
		"in, notin and between take values separated by commas (or a JSON array):\n" +
		"  --where 'channel in c1,c2'  --where 'n between 10,20'  --where 'body null'\n" +
		"A value is read according to the field's type (as printed, see below);\n" +
		"a JSON string literal (\" x \") keeps spaces. _seq and _time can be filtered and\n" +
		"ordered like fields; _time takes RFC 3339 or Unix nanoseconds.\n" +
		"Without --order the rows come in the order of the access path (docs/QUERY.md).\n\n" +
		valuesHelp,
	nargs: [2]int{2, 2},
	setFlags: func(fs *flag.FlagSet, o *cmdOpts) {
		formatFlags(fs, o)
		filterFlags(fs, o)
		fs.StringVar(&o.order, "order", "", "order by `FIELD` (ascending; _seq and _time allowed)")
		fs.BoolVar(&o.desc, "desc", false, "order descending (by --order, or by _seq)")
		o.limit = -1 // all rows
		fs.Func("limit", "print at most `N` rows (default all)", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a row count", s)
			}
			o.limit = n
			return nil
		})
		fs.Func("offset", "skip the first `N` rows", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a row count", s)
			}
			o.offset = n
			return nil
		})
	},
	run:      runScan,
	readOnly: true,
}

var dumpCommand = &command{
	name:    "dump",
	args:    "DIR TABLE",
	summary: "print every row of a table in _seq order, as JSON lines or CSV",
	details: valuesHelp,
	nargs:   [2]int{2, 2}, setFlags: formatFlags, run: runDump,
	readOnly: true,
}

func runScan(e *env, c *command, o *cmdOpts, args []string) int { return runQuery(e, c, o, args) }

func runDump(e *env, c *command, o *cmdOpts, args []string) int {
	o.limit = -1 // dump has no filter: every row, in _seq order
	return runQuery(e, c, o, args)
}

// runQuery opens the table of args and prints the rows of o's query.
func runQuery(e *env, c *command, o *cmdOpts, args []string) int {
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	return closeDB(e, c, db, scanTable(e, c, o, t))
}

// scanTable runs the query of o on t and prints its rows.
func scanTable(e *env, c *command, o *cmdOpts, t *srdb.Table) int {
	s := t.Schema()
	cols, names, err := columns(s, o.fields)
	if err != nil {
		return usageError(e, c, fmt.Errorf("--select: %v", err))
	}
	q := t.Query()
	for _, w := range o.where {
		ex, err := parseWhere(s, w)
		if err != nil {
			return usageError(e, c, err)
		}
		q.Where(ex)
	}
	if names != nil {
		q.Select(names...)
	}
	switch {
	case o.order != "" && o.desc:
		q.OrderByDesc(o.order)
	case o.order != "":
		q.OrderBy(o.order)
	case o.desc:
		q.OrderByDesc("_seq")
	}
	if o.limit >= 0 {
		q.Limit(o.limit)
	}
	if o.offset != 0 {
		q.Offset(o.offset)
	}
	rows, err := q.Rows()
	if err != nil {
		if errors.Is(err, srdb.ErrInvalidQuery) {
			return usageError(e, c, err)
		}
		return failf(e, c, "table %s: %v", t.Name(), err)
	}
	defer rows.Close()
	var total int64
	if c.name == "dump" {
		total = t.Stats().Rows
	}
	be := *e
	if e.stdoutTTY {
		be.stderrTTY = false // the rows go to the same screen: no bar between them
	}
	bar := startProgress(&be, c.name+" "+t.Name(), total)
	defer bar.finish()
	w, err := newRowWriter(e.stdout, cols, o.csv)
	if err != nil {
		return failf(e, c, "%v", err)
	}
	for rows.Next() {
		if err := w.write(rows.Row()); err != nil {
			return failf(e, c, "%v", err)
		}
		bar.add(1)
	}
	if err := rows.Err(); err != nil {
		return failf(e, c, "table %s: %v", t.Name(), err)
	}
	if err := w.flush(); err != nil {
		return failf(e, c, "%v", err)
	}
	return exitOK
}
