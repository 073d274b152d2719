package srdb

// Scripted planner tests: each file under testdata/query is a script of
// commands run against a fresh database, each followed by the output it must
// produce. Regenerate the expected outputs after a deliberate change with
//
//	go test -run TestQueryScripts -rewrite .
//
// and read the diff before committing it.
//
// Script format (in the spirit of Pebble's datadriven tests):
//
//	# a comment
//	command [key=value ...]
//	input line
//	...
//	----
//	expected output line
//	...
//	(a blank line or the end of the file ends the case)
//
// Commands:
//
//	table NAME             input: one field per line, "name Type [indexed] [nullable]",
//	                       or "index F1 F2 ..." declaring a composite index (WithIndex)
//	insert                 input: one JSON object per line (one row each; "_time"
//	                       may be an RFC 3339 string, else rows get 2026-01-01
//	                       plus one second per row)
//	insert-gen n=N         input: one JSON template; "$i" becomes the row number
//	                       (0..N-1) and "$i%K" the row number modulo K; one batch
//	update seq=S           input: a JSON object of changes
//	delete seq=S
//	flush | compact | reopen
//	create-index FIELD... | drop-index FIELD...
//	query [rows=N]         input: one builder call per line (see queryScriptCall);
//	                       output: Explain, the cost counters, then the first N
//	                       rows (default 10) as "seq {json of Data()}"
//	count                  input: as query; output: Count()

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptEpoch is the _time of a script's first row that does not give one;
// each further row is one second later, so outputs are reproducible.
var scriptEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var rewriteScripts = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/query scripts")

// scriptCase is one command of a script with its expected output.
type scriptCase struct {
	line     int      // line of the command in the file
	cmd      string   // command name
	args     []string // key=value or bare words after the command
	input    []string // lines before "----"
	expected string   // lines after "----", joined with "\n"
}

func TestQueryScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "query", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no scripts under testdata/query")
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			cases := parseScript(t, path)
			r := &scriptRunner{t: t, dir: t.TempDir(), clock: scriptEpoch}
			r.open()
			defer func() { require.NoError(t, r.db.Close()) }()
			changed := false
			for i := range cases {
				c := &cases[i]
				got := strings.TrimRight(r.run(c), "\n")
				if got == c.expected {
					continue
				}
				if *rewriteScripts {
					c.expected, changed = got, true
					continue
				}
				t.Errorf("%s:%d: %s\n--- expected\n%s\n--- got\n%s", path, c.line, c.cmd, c.expected, got)
			}
			if changed {
				writeScript(t, path, cases)
			}
		})
	}
}

// parseScript reads a script file into its cases.
func parseScript(t *testing.T, path string) []scriptCase {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var cases []scriptCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := strings.Fields(line)
		c := scriptCase{line: n, cmd: words[0], args: words[1:]}
		for {
			l, ok := next()
			require.True(t, ok, "%s:%d: %s has no ---- line", path, c.line, c.cmd)
			if l == "----" {
				break
			}
			c.input = append(c.input, l)
		}
		var out []string
		for {
			l, ok := next()
			if !ok || l == "" {
				break
			}
			out = append(out, l)
		}
		c.expected = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	require.NoError(t, sc.Err())
	return cases
}

// writeScript writes cases back with their (new) expected outputs, keeping
// the comments that stood before each command.
func writeScript(t *testing.T, path string, cases []scriptCase) {
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(old), "\n")
	var b strings.Builder
	prev := 0 // lines of the old file already handled
	for _, c := range cases {
		// Comments and blank lines between the previous case and this one.
		for _, l := range lines[prev : c.line-1] {
			if strings.HasPrefix(l, "#") {
				b.WriteString(l + "\n")
			}
		}
		b.WriteString(strings.Join(append([]string{c.cmd}, c.args...), " ") + "\n")
		for _, l := range c.input {
			b.WriteString(l + "\n")
		}
		b.WriteString("----\n")
		if c.expected != "" {
			b.WriteString(c.expected + "\n")
		}
		b.WriteString("\n")
		// Skip this case's input, separator and old output in the old file.
		prev = c.line + len(c.input) + 1
		for prev < len(lines) && lines[prev] != "" {
			prev++
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.TrimRight(b.String(), "\n")+"\n"), 0o644))
}

// scriptRunner holds the database a script runs against.
type scriptRunner struct {
	t     *testing.T
	dir   string
	db    *Database
	table *Table
	name  string
	clock time.Time // _time of the next row that does not give one
}

func (r *scriptRunner) open() {
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db, err := Open(r.dir, opts)
	require.NoError(r.t, err)
	r.db = db
	if r.name != "" {
		r.table, err = db.Table(r.name)
		require.NoError(r.t, err)
	}
}

// run executes one case and returns its output.
func (r *scriptRunner) run(c *scriptCase) string {
	if c.cmd != "table" && r.table == nil {
		return "error: no table yet"
	}
	switch c.cmd {
	case "table":
		return r.createTable(c)
	case "insert":
		var rows []map[string]any
		for _, l := range c.input {
			rows = append(rows, r.timed(r.parseRow(l)))
		}
		return r.result(r.table.Insert(rows))
	case "insert-gen":
		n := r.intArg(c, "n")
		rows := make([]map[string]any, n)
		for i := range rows {
			rows[i] = r.timed(r.parseRow(expandTemplate(strings.Join(c.input, "\n"), i)))
		}
		return r.result(r.table.Insert(rows))
	case "update":
		return r.errResult(r.table.Update(int64(r.intArg(c, "seq")), r.parseRow(strings.Join(c.input, "\n"))))
	case "delete":
		return r.errResult(r.table.Delete(int64(r.intArg(c, "seq"))))
	case "flush":
		return r.errResult(r.table.Flush())
	case "compact":
		return r.errResult(r.table.Compact())
	case "reopen":
		require.NoError(r.t, r.db.Close())
		r.open()
		return "ok"
	case "create-index":
		return r.errResult(r.table.CreateIndex(c.args...))
	case "drop-index":
		return r.errResult(r.table.DropIndex(c.args...))
	case "query":
		limit := 10
		if hasArg(c, "rows") {
			limit = r.intArg(c, "rows")
		}
		return r.query(c, limit)
	case "count":
		q, err := r.buildQuery(c.input)
		if err != nil {
			return "error: " + err.Error()
		}
		n, err := q.Count()
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("count: %d", n)
	}
	r.t.Fatalf("line %d: unknown command %q", c.line, c.cmd)
	return ""
}

func (r *scriptRunner) createTable(c *scriptCase) string {
	var fields []Field
	var opts []SchemaOption
	for _, l := range c.input {
		w := strings.Fields(l)
		require.GreaterOrEqual(r.t, len(w), 2, "line %d: field line %q", c.line, l)
		if w[0] == "index" {
			opts = append(opts, WithIndex(w[1:]...))
			continue
		}
		ft, ok := parseFieldType(strings.ToLower(w[1]))
		require.True(r.t, ok, "line %d: unknown type %q", c.line, w[1])
		f := Field{Name: w[0], Type: ft}
		for _, o := range w[2:] {
			switch o {
			case "indexed":
				f.Indexed = true
			case "nullable":
				f.Nullable = true
			default:
				r.t.Fatalf("line %d: unknown field option %q", c.line, o)
			}
		}
		fields = append(fields, f)
	}
	s, err := NewSchema(c.args[0], fields, opts...)
	if err != nil {
		return "error: " + err.Error()
	}
	tbl, err := r.db.CreateTable(c.args[0], s)
	if err != nil {
		return "error: " + err.Error()
	}
	r.table, r.name = tbl, c.args[0]
	return "ok"
}

// parseRow decodes a JSON object; numbers stay json.Number so integer
// fields get exact values, and a "_time" string is parsed as RFC 3339.
func (r *scriptRunner) parseRow(s string) map[string]any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	require.NoError(r.t, d.Decode(&m), "row %q", s)
	for k, v := range m {
		switch v := v.(type) {
		case json.Number:
			if i, err := v.Int64(); err == nil {
				m[k] = i
			} else {
				f, err := v.Float64()
				require.NoError(r.t, err)
				m[k] = f
			}
		case string:
			if k == "_time" {
				tm, err := time.Parse(time.RFC3339Nano, v)
				require.NoError(r.t, err)
				m[k] = tm
			}
		}
	}
	return m
}

// timed gives row the runner's clock as its _time unless it has one.
func (r *scriptRunner) timed(row map[string]any) map[string]any {
	if _, ok := row["_time"]; !ok {
		row["_time"] = r.clock
		r.clock = r.clock.Add(time.Second)
	}
	return row
}

var templateVar = regexp.MustCompile(`\$i(%[0-9]+)?`)

// expandTemplate replaces "$i" with i and "$i%K" with i mod K.
func expandTemplate(tmpl string, i int) string {
	return templateVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		if len(m) > 2 {
			k, _ := strconv.Atoi(m[3:])
			return strconv.Itoa(i % k)
		}
		return strconv.Itoa(i)
	})
}

func hasArg(c *scriptCase, key string) bool {
	for _, a := range c.args {
		if strings.HasPrefix(a, key+"=") {
			return true
		}
	}
	return false
}

func (r *scriptRunner) intArg(c *scriptCase, key string) int {
	for _, a := range c.args {
		if v, ok := strings.CutPrefix(a, key+"="); ok {
			n, err := strconv.Atoi(v)
			require.NoError(r.t, err, "line %d: %s", c.line, a)
			return n
		}
	}
	r.t.Fatalf("line %d: %s needs %s=", c.line, c.cmd, key)
	return 0
}

func (r *scriptRunner) result(seq int64, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("ok, first seq %d", seq)
}

func (r *scriptRunner) errResult(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

// buildQuery applies one builder call per line:
//
//	eq|noteq|lt|gt|lte|gte FIELD JSON
//	between FIELD JSON JSON
//	in|notin FIELD JSON...
//	contains|startswith|endswith FIELD STRING
//	isnull|notnull FIELD
//	select FIELD...
//	orderby|orderbydesc FIELD
//	limit N | offset N
//
// JSON values are decoded as in parseRow; a value of a "_time" condition is
// an RFC 3339 string.
func (r *scriptRunner) buildQuery(lines []string) (*Query, error) {
	q := r.table.Query()
	for _, l := range lines {
		w := strings.Fields(l)
		if len(w) == 0 {
			continue
		}
		val := func(i int) any {
			require.Greater(r.t, len(w), i, "query line %q", l)
			v := r.parseRow(fmt.Sprintf(`{%q: %s}`, w[1], w[i]))[w[1]]
			return v
		}
		switch w[0] {
		case "eq":
			q = q.Eq(w[1], val(2))
		case "noteq":
			q = q.NotEq(w[1], val(2))
		case "lt":
			q = q.Lt(w[1], val(2))
		case "gt":
			q = q.Gt(w[1], val(2))
		case "lte":
			q = q.Lte(w[1], val(2))
		case "gte":
			q = q.Gte(w[1], val(2))
		case "between":
			q = q.Between(w[1], val(2), val(3))
		case "in", "notin":
			var vs []any
			for i := 2; i < len(w); i++ {
				vs = append(vs, val(i))
			}
			if w[0] == "in" {
				q = q.In(w[1], vs...)
			} else {
				q = q.NotIn(w[1], vs...)
			}
		case "contains":
			q = q.Contains(w[1], val(2).(string))
		case "startswith":
			q = q.StartsWith(w[1], val(2).(string))
		case "endswith":
			q = q.EndsWith(w[1], val(2).(string))
		case "isnull":
			q = q.IsNull(w[1])
		case "notnull":
			q = q.NotNull(w[1])
		case "select":
			q = q.Select(w[1:]...)
		case "orderby":
			q = q.OrderBy(w[1])
		case "orderbydesc":
			q = q.OrderByDesc(w[1])
		case "limit", "offset":
			n, err := strconv.Atoi(w[1])
			require.NoError(r.t, err, "query line %q", l)
			if w[0] == "limit" {
				q = q.Limit(n)
			} else {
				q = q.Offset(n)
			}
		default:
			r.t.Fatalf("unknown query call %q", l)
		}
	}
	return q, nil
}

// query runs the query and prints its plan, its cost and its first rows.
func (r *scriptRunner) query(c *scriptCase, limit int) string {
	q, err := r.buildQuery(c.input)
	if err != nil {
		return "error: " + err.Error()
	}
	plan, err := q.Explain()
	if err != nil {
		return "error: " + err.Error()
	}
	st := &queryStats{}
	q.stats = st
	rows, err := q.Rows()
	if err != nil {
		return "error: " + err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString(strings.TrimRight(plan, "\n") + "\n")
	n := 0
	var body strings.Builder
	for rows.Next() {
		n++
		if n <= limit {
			data, err := json.Marshal(rows.Row().Data())
			require.NoError(r.t, err)
			fmt.Fprintf(&body, "%d %s\n", rows.Row().Seq(), data)
		}
	}
	if err := rows.Err(); err != nil {
		return b.String() + "error: " + err.Error()
	}
	fmt.Fprintf(&b, "cost: %d rows read, %d entries scanned, %d index entries, %d lookups, %d sorted\n",
		st.rowsRead, st.entriesScanned, st.entriesVisited, st.lookups, st.sortedRows)
	fmt.Fprintf(&b, "rows: %d\n", n)
	b.WriteString(body.String())
	if n > limit {
		fmt.Fprintf(&b, "... %d more\n", n-limit)
	}
	return b.String()
}
