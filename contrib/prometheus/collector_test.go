package prometheus

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/srdb-go/srdb"
)

// openActiveDB opens a database with two tables and a fixed history:
// "events" got 5 inserts, 1 update, 1 delete, 2 gets, one query reading
// every row and one flush; "empty" nothing.
func openActiveDB(t *testing.T) *srdb.Database {
	t.Helper()
	db, err := srdb.Open(t.TempDir(), &srdb.Options{Durability: srdb.DurabilityNone, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, name := range []string{"events", "empty"} {
		s, err := srdb.NewSchema(name, []srdb.Field{{Name: "n", Type: srdb.Int64}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateTable(name, s); err != nil {
			t.Fatal(err)
		}
	}
	tbl, err := db.Table("events")
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 5; i++ {
		if _, err := tbl.Insert(map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tbl.Update(1, map[string]any{"n": int64(10)}); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Delete(2); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{1, 3} {
		if _, err := tbl.Get(seq); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tbl.Query().Rows()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Flush(); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCollectorValues(t *testing.T) {
	db := openActiveDB(t)
	c := NewCollector(db, WithConstLabels(prometheus.Labels{"db": "test"}))
	want := `
# HELP srdb_broken_tables Tables named in database.meta that failed to open.
# TYPE srdb_broken_tables gauge
srdb_broken_tables{db="test"} 0
# HELP srdb_tables Open tables.
# TYPE srdb_tables gauge
srdb_tables{db="test"} 2
# HELP srdb_table_rows Live rows (inserted and not deleted).
# TYPE srdb_table_rows gauge
srdb_table_rows{db="test",table="empty"} 0
srdb_table_rows{db="test",table="events"} 4
# HELP srdb_table_inserted_rows_total Rows inserted since Open.
# TYPE srdb_table_inserted_rows_total counter
srdb_table_inserted_rows_total{db="test",table="empty"} 0
srdb_table_inserted_rows_total{db="test",table="events"} 5
# HELP srdb_table_updates_total Update calls since Open.
# TYPE srdb_table_updates_total counter
srdb_table_updates_total{db="test",table="empty"} 0
srdb_table_updates_total{db="test",table="events"} 1
# HELP srdb_table_deletes_total Rows deleted since Open (Delete, range deletes, Query.Delete, retention).
# TYPE srdb_table_deletes_total counter
srdb_table_deletes_total{db="test",table="empty"} 0
srdb_table_deletes_total{db="test",table="events"} 1
# HELP srdb_table_gets_total Get and GetPartial calls since Open.
# TYPE srdb_table_gets_total counter
srdb_table_gets_total{db="test",table="empty"} 0
srdb_table_gets_total{db="test",table="events"} 2
# HELP srdb_table_queries_total Query executions since Open.
# TYPE srdb_table_queries_total counter
srdb_table_queries_total{db="test",table="empty"} 0
srdb_table_queries_total{db="test",table="events"} 1
# HELP srdb_table_query_rows_total Rows returned by queries since Open.
# TYPE srdb_table_query_rows_total counter
srdb_table_query_rows_total{db="test",table="empty"} 0
srdb_table_query_rows_total{db="test",table="events"} 4
# HELP srdb_table_flushes_total Memtables flushed to L0 since Open.
# TYPE srdb_table_flushes_total counter
srdb_table_flushes_total{db="test",table="empty"} 0
srdb_table_flushes_total{db="test",table="events"} 1
# HELP srdb_table_memtable_entries Entries (rows and tombstones) in the active memtable.
# TYPE srdb_table_memtable_entries gauge
srdb_table_memtable_entries{db="test",table="empty"} 0
srdb_table_memtable_entries{db="test",table="events"} 0
# HELP srdb_table_level_files SSTs in the LSM level.
# TYPE srdb_table_level_files gauge
srdb_table_level_files{db="test",level="0",table="empty"} 0
srdb_table_level_files{db="test",level="0",table="events"} 1
srdb_table_level_files{db="test",level="1",table="empty"} 0
srdb_table_level_files{db="test",level="1",table="events"} 0
srdb_table_level_files{db="test",level="2",table="empty"} 0
srdb_table_level_files{db="test",level="2",table="events"} 0
srdb_table_level_files{db="test",level="3",table="empty"} 0
srdb_table_level_files{db="test",level="3",table="events"} 0
srdb_table_level_files{db="test",level="4",table="empty"} 0
srdb_table_level_files{db="test",level="4",table="events"} 0
srdb_table_level_files{db="test",level="5",table="empty"} 0
srdb_table_level_files{db="test",level="5",table="events"} 0
srdb_table_level_files{db="test",level="6",table="empty"} 0
srdb_table_level_files{db="test",level="6",table="events"} 0
# HELP srdb_table_compactions_total Compactions completed since Open, trivial moves included.
# TYPE srdb_table_compactions_total counter
srdb_table_compactions_total{db="test",table="empty"} 0
srdb_table_compactions_total{db="test",table="events"} 0
# HELP srdb_table_write_stalls_total L0 write stalls begun since Open.
# TYPE srdb_table_write_stalls_total counter
srdb_table_write_stalls_total{db="test",table="empty"} 0
srdb_table_write_stalls_total{db="test",table="events"} 0
# HELP srdb_table_read_only 1 once a failed write made the table read-only.
# TYPE srdb_table_read_only gauge
srdb_table_read_only{db="test",table="empty"} 0
srdb_table_read_only{db="test",table="events"} 0
`
	names := []string{
		"srdb_broken_tables", "srdb_tables", "srdb_table_rows", "srdb_table_inserted_rows_total",
		"srdb_table_updates_total", "srdb_table_deletes_total", "srdb_table_gets_total",
		"srdb_table_queries_total", "srdb_table_query_rows_total", "srdb_table_flushes_total",
		"srdb_table_memtable_entries", "srdb_table_level_files", "srdb_table_compactions_total",
		"srdb_table_write_stalls_total", "srdb_table_read_only",
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// 40 per-table families, 2 level families × 7 levels, for 2 tables,
	// plus the 2 database gauges.
	if n, want := testutil.CollectAndCount(c), 2*(40+2*7)+2; n != want {
		t.Fatalf("collected %d metrics, want %d", n, want)
	}
	// The gauges that depend on file sizes are positive.
	for _, name := range []string{"srdb_table_disk_bytes", "srdb_table_wal_bytes", "srdb_table_flushed_bytes_total"} {
		if v := value(t, c, name, "events"); v <= 0 {
			t.Errorf("%s{table=\"events\"} = %v, want > 0", name, v)
		}
	}
}

// value returns the value of name{table=table} collected from c.
func value(t *testing.T, c prometheus.Collector, name, table string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 256)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `"`+name+`"`) {
			continue
		}
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "table" && l.GetValue() == table {
				if d.Counter != nil {
					return d.GetCounter().GetValue()
				}
				return d.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{table=%q}", name, table)
	return 0
}

func TestCollectorLint(t *testing.T) {
	db := openActiveDB(t)
	problems, err := testutil.CollectAndLint(NewCollector(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorClosedAndNilDB(t *testing.T) {
	db := openActiveDB(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*srdb.Database{db, nil} {
		want := `
# HELP srdb_tables Open tables.
# TYPE srdb_tables gauge
srdb_tables 0
`
		if err := testutil.CollectAndCompare(NewCollector(d), strings.NewReader(want), "srdb_tables"); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CollectAndCount(NewCollector(d)); n != 2 {
			t.Fatalf("closed/nil db: %d metrics, want the 2 database gauges", n)
		}
	}
}

// TestWebUIServesTheSameNames checks that the web UI's own encoder
// (examples/webui/metrics.go, which cannot import this module) lists the
// same per-table families, in the same order, with the same help texts and
// types, and the same database and level families.
func TestWebUIServesTheSameNames(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "webui", "metrics.go"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("not in the srdb repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(nil).(*collector)
	fam := regexp.MustCompile(`(?m)^\t\{"([a-z0-9_]+)", "([^"]*)", (true|false), func`)
	var got []string
	for _, m := range fam.FindAllStringSubmatch(string(src), -1) {
		typ := "gauge"
		if m[3] == "true" {
			typ = "counter"
		}
		got = append(got, "srdb_table_"+m[1]+" "+typ+" "+m[2])
	}
	var want []string
	for _, tm := range c.tables {
		typ := "gauge"
		if tm.typ == prometheus.CounterValue {
			typ = "counter"
		}
		want = append(want, tm.name+" "+typ+" "+tm.help)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("web UI families:\n%s\ncollector families:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, d := range []*prometheus.Desc{c.levelFiles, c.levelBytes, c.openTables, c.brokenTables} {
		// Desc.String: Desc{fqName: "NAME", help: "HELP", …}
		m := regexp.MustCompile(`fqName: "([^"]*)", help: "([^"]*)"`).FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		if !strings.Contains(string(src), `"`+m[1]+`", "`+m[2]+`"`) {
			t.Errorf("web UI lacks %s with help %q", m[1], m[2])
		}
	}
}
