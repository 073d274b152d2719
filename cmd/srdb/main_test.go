package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/srdb-go/srdb"
	"github.com/stretchr/testify/require"
)

// The tests build the srdb binary once and run it on databases they write,
// comparing its output with testdata/*.golden. go test -update rewrites
// the golden files.

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var binary string // the srdb binary built by TestMain

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "srdb-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "srdb")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// base is the _time of the first row of the test database.
var base = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// makeDB writes the test database: table messages (one field of most
// types, an index on channel, 12 rows in two SSTs, row 3 deleted) and
// table events (3 rows, one SST). Every _time is fixed so that the output
// is the same on every run.
func makeDB(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	s, err := srdb.NewSchema("messages", []srdb.Field{
		{Name: "channel", Type: srdb.String, Indexed: true, Comment: "chat channel"},
		{Name: "body", Type: srdb.String, Nullable: true},
		{Name: "n", Type: srdb.Int64},
		{Name: "score", Type: srdb.Float64},
		{Name: "price", Type: srdb.Decimal},
		{Name: "at", Type: srdb.Time},
		{Name: "wait", Type: srdb.Duration},
		{Name: "payload", Type: srdb.Bytes, Nullable: true},
		{Name: "meta", Type: srdb.Object, Nullable: true},
		{Name: "ok", Type: srdb.Bool},
	})
	require.NoError(t, err)
	msgs, err := db.CreateTable("messages", s)
	require.NoError(t, err)
	scores := []float64{0.5, math.NaN(), math.Inf(1), math.Inf(-1), -2.25, 1e21}
	zone := time.FixedZone("X", 2*3600)
	for i := 0; i < 12; i++ {
		row := map[string]any{
			"_time":   base.Add(time.Duration(i) * time.Second),
			"channel": fmt.Sprintf("c%d", i%3),
			"n":       int64(i * 10),
			"score":   scores[i%len(scores)],
			"price":   decimal.RequireFromString(fmt.Sprintf("%d.%02d", 1000000000000+i, i)),
			"at":      time.Date(2025, 6, 7, 8, 9, 10, i, zone),
			"wait":    time.Duration(i) * 1500 * time.Millisecond,
			"ok":      i%2 == 0,
		}
		if i%4 != 1 {
			row["body"] = fmt.Sprintf("hello \"world\" %d, <tag>", i)
		}
		if i%3 == 0 {
			row["payload"] = []byte{0, 1, 2, byte(i), 0xff}
			row["meta"] = map[string]any{"k": i, "s": "x,y"}
		}
		_, err := msgs.Insert(row)
		require.NoError(t, err)
		if i == 5 {
			require.NoError(t, msgs.Flush())
		}
	}
	require.NoError(t, msgs.Delete(3))
	require.NoError(t, msgs.Flush())

	as, err := srdb.NewSchema("accounts", []srdb.Field{{Name: "email", Type: srdb.String}}, srdb.WithUniqueIndex("email"))
	require.NoError(t, err)
	accounts, err := db.CreateTable("accounts", as)
	require.NoError(t, err)
	_, err = accounts.Insert([]map[string]any{{"_time": base, "email": "a@example.com"}, {"_time": base, "email": "b@example.com"}})
	require.NoError(t, err)
	require.NoError(t, accounts.Flush())

	es, err := srdb.NewSchema("events", []srdb.Field{{Name: "kind", Type: srdb.String}})
	require.NoError(t, err)
	events, err := db.CreateTable("events", es)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := events.Insert(map[string]any{"_time": base.Add(time.Duration(i) * time.Minute), "kind": fmt.Sprintf("k%d", i)})
		require.NoError(t, err)
	}
	require.NoError(t, events.Flush())
	require.NoError(t, events.SetOptions(srdb.TableOptions{MaxBytes: 1 << 30}))
	for g, pos := range map[string]int64{"mailer": 7, "archiver": 0} {
		c, err := msgs.Consumer(g)
		require.NoError(t, err)
		if pos > 0 {
			require.NoError(t, c.Commit(pos))
		}
	}
	require.NoError(t, db.Close())
	return dir
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// runSRDB runs the binary with args.
func runSRDB(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// volatile masks the statistics that depend on timing: Open flushes the
// replayed (empty) WAL in the background, so whether that flush has run
// when Stats is read varies from run to run.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^(immutable memtables\s+)\d+ \(\d+ bytes\)$`), "${1}N (N bytes)"},
	{regexp.MustCompile(`(?m)\d+ flushes \(\d+ bytes\)$`), "N flushes (N bytes)"},
	{regexp.MustCompile(`"(ImmutableCount|ImmutableBytes|Flushes|FlushedBytes)": \d+`), `"$1": N`},
}

// golden compares text with testdata/name.golden, or rewrites it with
// -update. dir, when not "", is replaced by $DB first.
func golden(t *testing.T, name, dir, text string) {
	t.Helper()
	if dir != "" {
		text = strings.ReplaceAll(text, dir, "$DB")
	}
	for _, m := range volatile {
		text = m.re.ReplaceAllString(text, m.with)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test -update")
	require.Equal(t, string(want), text, "output differs from %s (go test -update rewrites it)", path)
}

// transcript renders a result for a golden file: stdout, then stderr and
// the exit status.
func (r result) transcript() string {
	var b strings.Builder
	b.WriteString(r.stdout)
	if r.stderr != "" {
		b.WriteString("--- stderr ---\n")
		b.WriteString(r.stderr)
	}
	fmt.Fprintf(&b, "--- exit %d ---\n", r.code)
	return b.String()
}

// TestCommands runs each command on a fresh copy of the test database and
// compares stdout, stderr and the exit status with its golden file.
func TestCommands(t *testing.T) {
	cases := []struct {
		name string
		args []string // "$DB" is the database directory
		code int
	}{
		{"tables", []string{"tables", "$DB"}, 0},
		{"tables_json", []string{"tables", "--json", "$DB"}, 0},
		{"schema", []string{"schema", "$DB", "messages"}, 0},
		{"schema_json", []string{"schema", "$DB", "messages", "--json"}, 0},
		{"schema_options", []string{"schema", "$DB", "events"}, 0},
		{"schema_unique", []string{"schema", "$DB", "accounts"}, 0},
		{"schema_unique_json", []string{"schema", "$DB", "accounts", "--json"}, 0},
		{"consumers", []string{"consumers", "$DB", "messages"}, 0},
		{"consumers_json", []string{"consumers", "$DB", "messages", "--json"}, 0},
		{"consumers_none", []string{"consumers", "$DB", "events"}, 0},
		{"stats", []string{"stats", "$DB", "messages"}, 0},
		{"stats_json", []string{"stats", "--json", "$DB", "messages"}, 0},
		{"lsm", []string{"lsm", "$DB", "messages"}, 0},
		{"lsm_json", []string{"lsm", "$DB", "messages", "--json"}, 0},
		{"get", []string{"get", "$DB", "messages", "2"}, 0},
		{"get_fields_csv", []string{"get", "$DB", "messages", "4", "--fields", "body,payload", "--csv"}, 0},
		{"get_deleted", []string{"get", "$DB", "messages", "3"}, 1},
		{"get_bad_seq", []string{"get", "$DB", "messages", "x"}, 2},
		{"dump", []string{"dump", "$DB", "messages"}, 0},
		{"dump_csv", []string{"dump", "--csv", "$DB", "messages"}, 0},
		{"scan_where", []string{"scan", "$DB", "messages", "--where", "channel = c1", "--where", "n>=40", "--select", "n,channel"}, 0},
		{"scan_order_limit", []string{"scan", "$DB", "messages", "--order", "n", "--desc", "--limit", "3", "--offset", "1", "--select", "n"}, 0},
		{"scan_in_between", []string{"scan", "$DB", "messages", "--where", "channel in c0,c2", "--where", "_seq between 4,9", "--select", "channel", "--csv"}, 0},
		{"scan_text_ops", []string{"scan", "$DB", "messages", "--where", "body contains \"world\" 1", "--where", "body suffix <tag>", "--select", "body"}, 0},
		{"scan_null", []string{"scan", "$DB", "messages", "--where", "body null", "--select", "body"}, 0},
		{"scan_typed_values", []string{"scan", "$DB", "messages", "--where", "price > 1000000000005.05", "--where", "wait <= 12s",
			"--where", "ok = true", "--where", "_time >= 2026-01-02T03:04:11Z", "--select", "price,wait,ok"}, 0},
		{"scan_bytes_time", []string{"scan", "$DB", "messages", "--where", "payload prefix AAEC", "--where", "at < 2025-06-07T06:09:10.000000007Z", "--select", "payload,at"}, 0},
		{"scan_inf", []string{"scan", "$DB", "messages", "--where", "score >= +Inf", "--select", "score"}, 0},
		{"scan_bad_limit", []string{"scan", "$DB", "messages", "--limit", "-1"}, 2},
		{"scan_unknown_field", []string{"scan", "$DB", "messages", "--where", "nope = 1"}, 2},
		{"scan_bad_value", []string{"scan", "$DB", "messages", "--where", "n < ten"}, 2},
		{"scan_bad_op", []string{"scan", "$DB", "messages", "--where", "n like 1"}, 2},
		{"scan_missing_table", []string{"scan", "$DB", "nope"}, 1},
		{"scan_json_csv", []string{"scan", "--json", "--csv", "$DB", "messages"}, 2},
		{"compact", []string{"compact", "$DB", "messages"}, 0},
		{"compact_all_json", []string{"compact", "--all", "--json", "$DB"}, 0},
		{"compact_usage", []string{"compact", "$DB"}, 2},
		{"compact_missing_table", []string{"compact", "$DB", "nope"}, 1},
		{"scan_bad_order", []string{"scan", "$DB", "messages", "--order", "nope"}, 2},
		{"scan_contains_int", []string{"scan", "$DB", "messages", "--where", "n contains 1"}, 2},
		{"check", []string{"check", "$DB"}, 0},
		{"check_json", []string{"check", "--json", "$DB"}, 0},
		{"missing_table", []string{"schema", "$DB", "nope"}, 1},
		{"no_args", nil, 2},
		{"unknown_command", []string{"verify", "$DB"}, 2},
		{"tail", []string{"tail", "$DB", "messages", "--select", "n"}, 0},
		{"tail_n", []string{"tail", "-n", "3", "$DB", "messages"}, 0},
		{"tail_n0_csv", []string{"tail", "-n", "0", "--csv", "$DB", "messages", "--select", "n"}, 0},
		{"tail_from", []string{"tail", "$DB", "messages", "--from", "8", "--select", "channel,n"}, 0},
		{"tail_where_csv", []string{"tail", "$DB", "messages", "--where", "channel in c0,c2", "-n", "3", "--select", "channel,body", "--csv"}, 0},
		{"tail_from_where", []string{"tail", "$DB", "messages", "--from", "2", "--where", "n < 50", "--select", "n"}, 0},
		{"tail_n_and_from", []string{"tail", "-n", "3", "--from", "2", "$DB", "messages"}, 2},
		{"tail_bad_n", []string{"tail", "-n", "-1", "$DB", "messages"}, 2},
		{"tail_bad_from", []string{"tail", "--from", "x", "$DB", "messages"}, 2},
		{"tail_bad_interval", []string{"tail", "-f", "--interval", "0s", "$DB", "messages"}, 2},
		{"tail_bad_where", []string{"tail", "$DB", "messages", "--where", "nope = 1"}, 2},
		{"tail_missing_table", []string{"tail", "$DB", "nope"}, 1},
		{"tail_usage", []string{"tail", "$DB"}, 2},
		{"unknown_flag", []string{"tables", "--bogus", "$DB"}, 2},
		{"too_many_args", []string{"check", "a", "b"}, 2},
		{"help", []string{"help"}, 0},
		{"help_dash", []string{"--help"}, 0},
		{"help_scan", []string{"help", "scan"}, 0},
	}
	for _, c := range commands {
		cases = append(cases, struct {
			name string
			args []string
			code int
		}{"help_" + c.name + "_flag", []string{c.name, "--help"}, 0})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := ""
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "$DB" {
					if dir == "" {
						dir = makeDB(t)
					}
					args[i] = dir
				}
			}
			r := runSRDB(t, args...)
			require.Equal(t, tc.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			if tc.code == 0 {
				require.Empty(t, r.stderr)
			} else {
				require.NotEmpty(t, r.stderr, "an error goes to stderr")
			}
			if tc.code == 2 {
				require.Empty(t, r.stdout, "a usage error prints nothing on stdout")
				require.Contains(t, r.stderr, "usage: srdb")
			}
			golden(t, tc.name, dir, r.transcript())
		})
	}
}

// TestHelpForEveryCommand: -h and --help print the same usage on stdout.
func TestHelpForEveryCommand(t *testing.T) {
	for _, c := range commands {
		long := runSRDB(t, c.name, "--help")
		short := runSRDB(t, c.name, "-h")
		require.Equal(t, long, short, c.name)
		require.Equal(t, 0, long.code)
		require.Contains(t, long.stdout, "usage: srdb "+c.name)
		require.Contains(t, long.stdout, "--help")
	}
}

// TestCompactKeepsRows: compact rewrites the files but what dump prints
// stays the same, and the result passes check.
func TestCompactKeepsRows(t *testing.T) {
	dir := makeDB(t)
	before := runSRDB(t, "dump", dir, "messages")
	require.Equal(t, 0, before.code)
	r := runSRDB(t, "compact", dir, "messages")
	require.Equal(t, 0, r.code, r.stderr)
	lsm := runSRDB(t, "lsm", "--json", dir, "messages")
	require.Contains(t, lsm.stdout, `"num"`)
	after := runSRDB(t, "dump", dir, "messages")
	require.Equal(t, before.stdout, after.stdout)
	require.Equal(t, 0, runSRDB(t, "check", dir).code)
}

func TestCheckCorruptSST(t *testing.T) {
	dir := makeDB(t)
	ssts, err := filepath.Glob(filepath.Join(dir, "tables", "events", "*.sst"))
	require.NoError(t, err)
	require.Len(t, ssts, 1)
	data, err := os.ReadFile(ssts[0])
	require.NoError(t, err)
	data[len(data)/2] ^= 0x40 // a bit flip inside the rows
	require.NoError(t, os.WriteFile(ssts[0], data, 0o600))

	r := runSRDB(t, "check", dir)
	require.Equal(t, 1, r.code, r.stdout)
	require.Contains(t, r.stdout, "table events:")
	require.Contains(t, r.stdout, "problem(s)")
	require.Contains(t, r.stdout, filepath.Base(ssts[0]), "the report names the damaged file")
	require.Contains(t, r.stdout, "table messages: 2 SST files")
	require.Contains(t, r.stdout, "PROBLEMS FOUND")
	require.Empty(t, r.stderr)

	j := runSRDB(t, "check", "--json", dir)
	require.Equal(t, 1, j.code)
	require.Contains(t, j.stdout, `"ok": false`)
}

func TestCheckBrokenTable(t *testing.T) {
	dir := makeDB(t)
	schema := filepath.Join(dir, "tables", "events", "schema.json")
	require.NoError(t, os.WriteFile(schema, []byte("{}"), 0o600))
	r := runSRDB(t, "check", dir)
	require.Equal(t, 1, r.code, r.stdout)
	require.Contains(t, r.stdout, "table events: FAILED TO OPEN")
	require.Contains(t, r.stdout, "table messages: 2 SST files")
	golden(t, "check_broken_table", dir, r.transcript())

	// tables lists the others and reports the broken one.
	tr := runSRDB(t, "tables", dir)
	require.Equal(t, 1, tr.code)
	require.Contains(t, tr.stdout, "events    -")
	require.Contains(t, tr.stderr, `table "events"`)
}

func TestNotADatabase(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	for _, args := range [][]string{{"check", missing}, {"tables", missing}, {"dump", missing, "t"}} {
		r := runSRDB(t, args...)
		require.Equal(t, 1, r.code, "%q", args)
		require.Contains(t, r.stderr, "not an SRDB database")
		require.Empty(t, r.stdout)
	}
	_, err := os.Stat(missing)
	require.True(t, os.IsNotExist(err), "srdb must not create the directory")
}

// TestLockedDatabase: beside a writer (here: this process), check,
// compact and backup are refused with an error naming the LOCK; the read
// commands open the database read-only and see the writer's rows, those
// still in its memtable included, without changing a byte.
func TestLockedDatabase(t *testing.T) {
	dir := makeDB(t)
	db, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	for _, args := range [][]string{{"check", dir}, {"compact", "--all", dir}, {"backup", dir, filepath.Join(t.TempDir(), "b")}} {
		r := runSRDB(t, args...)
		require.Equal(t, 1, r.code, "%q", args)
		require.Contains(t, r.stderr, "LOCK")
		require.Contains(t, r.stderr, "the read commands can")
		require.Empty(t, r.stdout)
	}
	ev, err := db.Table("events")
	require.NoError(t, err)
	_, err = ev.Insert(map[string]any{"kind": "written-by-the-live-writer"})
	require.NoError(t, err)
	before := dirFiles(t, dir)
	for _, args := range [][]string{{"tables", dir}, {"schema", dir, "events"}, {"stats", dir, "events"},
		{"lsm", dir, "events"}, {"get", dir, "events", "1"}, {"scan", dir, "events"}, {"dump", dir, "events"}} {
		r := runSRDB(t, args...)
		require.Equal(t, 0, r.code, "%q: %s", args, r.stderr)
		require.NotContains(t, r.stdout, "read-only", "%q", args)
	}
	r := runSRDB(t, "dump", dir, "events")
	require.Contains(t, r.stdout, "written-by-the-live-writer")
	require.Equal(t, before, dirFiles(t, dir), "a read command changed the directory")
}

// dirFiles returns every file under dir with its bytes.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	}))
	return out
}

// TestBackup: backup writes a copy that dump and check read like the
// original; an existing DEST is refused.
func TestBackup(t *testing.T) {
	dir := makeDB(t)
	dest := filepath.Join(t.TempDir(), "copy")
	r := runSRDB(t, "backup", dir, dest)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, fmt.Sprintf("backup of %s written to %s (3 tables)\n", dir, dest), r.stdout)
	for _, table := range []string{"messages", "events", "accounts"} {
		want := runSRDB(t, "dump", dir, table)
		got := runSRDB(t, "dump", dest, table)
		require.Equal(t, 0, got.code, got.stderr)
		require.Equal(t, want.stdout, got.stdout, table)
	}
	r = runSRDB(t, "check", dest)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	r = runSRDB(t, "backup", dir, dest)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "already exists")
	r = runSRDB(t, "backup", dir)
	require.Equal(t, 2, r.code)
}

// startTail starts `srdb tail -f` with args and returns it, the lines it
// prints (sent as they come; closed at the end of its stdout) and its
// stderr.
func startTail(t *testing.T, args ...string) (*exec.Cmd, <-chan string, *bytes.Buffer) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGINT")
	}
	cmd := exec.Command(binary, append([]string{"tail", "-f", "--interval", "20ms"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, &stderr
}

// readLines receives from lines until it has n of them, or fails after
// 20 s.
func readLines(t *testing.T, lines <-chan string, n int, stderr *bytes.Buffer) []string {
	t.Helper()
	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "srdb tail ended after %d of %d lines: %q\nstderr: %s", len(got), n, got, stderr)
			got = append(got, l)
		case <-timeout:
			require.Failf(t, "timeout", "srdb tail printed %d of %d lines in 20 s: %q", len(got), n, got)
		}
	}
	return got
}

// drainLines receives from lines until srdb tail closes its stdout, or
// fails after 20 s (the cleanup of startTail then kills it).
func drainLines(t *testing.T, lines <-chan string) []string {
	t.Helper()
	var got []string
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return got
			}
			got = append(got, l)
		case <-timeout:
			require.Failf(t, "timeout", "srdb tail did not end in 20 s; it printed %q", got)
		}
	}
}

// TestTailFollow: `srdb tail -f`, a separate read-only process, prints the
// rows this process (the writer) inserts, in batches with a flush and a
// full compaction between them, each row once and in _seq order, and
// exits 0 on SIGINT.
func TestTailFollow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	s, err := srdb.NewSchema("log", []srdb.Field{{Name: "k", Type: srdb.Int64}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("log", s)
	require.NoError(t, err)
	insert := func(from, to int) {
		for k := from; k < to; k++ {
			_, err := tbl.Insert(map[string]any{"k": k})
			require.NoError(t, err)
		}
	}
	var want []string
	expect := func(from, to int) {
		for k := from; k < to; k++ {
			want = append(want, fmt.Sprintf(`{"_seq":%d,"k":%d}`, k+1, k))
		}
	}
	insert(0, 5)
	require.NoError(t, tbl.Flush())
	expect(3, 5) // -n 2: the last two rows before it started

	cmd, lines, stderr := startTail(t, dir, "log", "-n", "2", "--select", "k")
	var got []string
	got = append(got, readLines(t, lines, len(want), stderr)...)
	require.Equal(t, want, stripTime(got))

	// Batch 2 stays in the writer's WAL and memtable: Refresh replays the
	// WAL. Batches 1 and 3 are flushed and then compacted away under the
	// reader.
	batches := [][2]int{{5, 30}, {30, 31}, {31, 80}, {80, 120}}
	for i, b := range batches {
		insert(b[0], b[1])
		if i != 2 {
			require.NoError(t, tbl.Flush())
		}
		if i%2 == 1 {
			require.NoError(t, tbl.Compact())
		}
		expect(b[0], b[1])
		got = append(got, readLines(t, lines, len(want)-len(got), stderr)...)
	}
	time.Sleep(100 * time.Millisecond) // five more polls: nothing new to print
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	got = append(got, drainLines(t, lines)...)
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr)
	require.Empty(t, stderr.String())
	require.Equal(t, want, stripTime(got))
}

// stripTime removes the "_time" member from JSON lines.
func stripTime(lines []string) []string {
	re := regexp.MustCompile(`,"_time":"[^"]*"`)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = re.ReplaceAllString(l, "")
	}
	return out
}

// TestTailFollowDropped: a table dropped while `srdb tail -f` follows it
// ends the tail with exit status 1 and a message naming the drop.
func TestTailFollowDropped(t *testing.T) {
	dir := makeDB(t)
	db, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	cmd, lines, stderr := startTail(t, dir, "events", "-n", "1", "--select", "kind")
	first := readLines(t, lines, 1, stderr)
	require.Contains(t, first[0], `"kind":"k2"`)
	require.NoError(t, db.DropTable("events"))
	require.Empty(t, drainLines(t, lines))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode(), "stderr: %s", stderr)
	require.Contains(t, stderr.String(), "srdb tail: table events was dropped")
}
