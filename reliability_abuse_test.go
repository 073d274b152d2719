package srdb

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The API abuse table: bad arguments and misuse of every public
// method, each answered by an *Error of the right code, never a panic, and
// nothing created or removed outside the database directory. See
// docs/RELIABILITY.md, "API abuse".

// abuseCase is one call and the error code it must return.
type abuseCase struct {
	name string
	code int
	call func() error
}

// runAbuseCases runs the cases and checks each error: an *Error (as
// returned, not only somewhere in its chain) with the expected code. With a
// table, each case must also leave no read state pinned (a leaked pin makes
// Close wait forever).
func runAbuseCases(t *testing.T, tbl *Table, cases []abuseCase) {
	t.Helper()
	for _, c := range cases {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s: panic: %v", c.name, r)
				}
			}()
			err = c.call()
		}()
		if tbl != nil && tbl.activePins.Load() != 0 {
			t.Errorf("%s: %d read states left pinned", c.name, tbl.activePins.Load())
			tbl.activePins.Store(0)
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: error %T (%v) is not an *Error", c.name, err, err)
			continue
		}
		if e.Code != c.code {
			t.Errorf("%s: code %d, want %d: %v", c.name, e.Code, c.code, err)
		}
	}
}

// badNames are invalid names (empty, dot names, separators, NUL, 65
// characters) plus path tricks.
var badNames = []string{"", "..", ".", "../x", "a/b", "a\\b", "/abs", "a\x00b", strings.Repeat("a", 65),
	"../../victim", "x/../../victim", "é", " a", "a b", "_seq", "1a"}

// abuseFields is the schema of the abuse table.
func abuseFields() []Field {
	return []Field{
		{Name: "name", Type: String, Indexed: true},
		{Name: "n", Type: Int64},
		{Name: "u", Type: Uint8},
		{Name: "f", Type: Float64, Nullable: true},
		{Name: "b", Type: Bytes, Nullable: true},
		{Name: "at", Type: Time, Nullable: true},
	}
}

// abuseRow is a valid row of the abuse table with overrides applied.
func abuseRow(over map[string]any) map[string]any {
	r := map[string]any{"name": "x", "n": int64(1), "u": uint8(1)}
	for k, v := range over {
		if v == nil {
			delete(r, k)
			continue
		}
		r[k] = v
	}
	return r
}

// listTree returns every path under root, sorted, with file sizes.
func listTree(t *testing.T, root string) []string {
	var out []string
	require.NoError(t, filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if fi.IsDir() {
			out = append(out, rel+"/")
		} else {
			out = append(out, rel)
		}
		return nil
	}))
	sort.Strings(out)
	return out
}

// TestReliabilityAPIAbuse runs the abuse table against an open database,
// then every public method after Close.
func TestReliabilityAPIAbuse(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	// Bystanders a bad name could reach: siblings of the database
	// directory and of its tables directory.
	require.NoError(t, os.WriteFile(filepath.Join(root, "victim"), []byte("keep"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "x"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "x", "victim"), []byte("keep"), 0o600))
	opts := DefaultOptions()
	opts.MaxRowSize = 1 << 20
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := NewSchema("t", abuseFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("t", s)
	require.NoError(t, err)
	seq, err := tbl.Insert(abuseRow(nil))
	require.NoError(t, err)
	outside := func() []string {
		var out []string
		for _, p := range listTree(t, root) {
			if p != "db/" && !strings.HasPrefix(p, "db/") {
				out = append(out, p)
			}
		}
		return out
	}
	before := outside()

	big := strings.Repeat("x", 16<<20)
	var cases []abuseCase
	add := func(name string, code int, call func() error) {
		cases = append(cases, abuseCase{name, code, call})
	}
	ins := func(data any) func() error {
		return func() error { _, err := tbl.Insert(data); return err }
	}
	// Rows.
	add("Insert(nil)", CodeSchemaViolation, ins(nil))
	add("Insert(nil map)", CodeSchemaViolation, ins(map[string]any(nil)))
	add("Insert(empty map)", CodeSchemaViolation, ins(map[string]any{}))
	add("Insert(empty batch)", CodeInvalidArgument, ins([]map[string]any{}))
	add("Insert(int)", CodeSchemaViolation, ins(42))
	add("Insert(string)", CodeSchemaViolation, ins("row"))
	add("Insert(map[int]any)", CodeSchemaViolation, ins(map[int]any{1: 2}))
	add("Insert(nil *struct)", CodeSchemaViolation, ins((*struct{ Name string })(nil)))
	add("Insert(chan)", CodeSchemaViolation, ins(make(chan int)))
	add("wrong type string→int", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": "one"})))
	add("wrong type slice→string", CodeSchemaViolation, ins(abuseRow(map[string]any{"name": []int{1}})))
	add("wrong type func", CodeSchemaViolation, ins(abuseRow(map[string]any{"name": func() {}})))
	add("missing field", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": nil})))
	add("null in non-nullable", CodeSchemaViolation, ins(map[string]any{"name": nil, "n": int64(1), "u": uint8(1)}))
	add("unknown field", CodeSchemaViolation, ins(abuseRow(map[string]any{"nope": 1})))
	add("invalid field name in row", CodeSchemaViolation, ins(abuseRow(map[string]any{"../x": 1})))
	add("_seq in row", CodeSchemaViolation, ins(abuseRow(map[string]any{"_seq": int64(5)})))
	add("_time of wrong type", CodeSchemaViolation, ins(abuseRow(map[string]any{"_time": "yesterday"})))
	add("uint8 out of range", CodeSchemaViolation, ins(abuseRow(map[string]any{"u": 256})))
	add("uint8 negative", CodeSchemaViolation, ins(abuseRow(map[string]any{"u": -1})))
	add("int64 from huge uint64", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": uint64(math.MaxUint64)})))
	add("int64 from NaN", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": math.NaN()})))
	add("int64 from +Inf", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": math.Inf(1)})))
	add("int64 from 1.5", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": 1.5})))
	add("int64 from 1e300", CodeSchemaViolation, ins(abuseRow(map[string]any{"n": 1e300})))
	add("time from bad string", CodeSchemaViolation, ins(abuseRow(map[string]any{"at": "not a time"})))
	add("row over MaxRowSize", CodeSchemaViolation, ins(abuseRow(map[string]any{"b": make([]byte, 2<<20)})))
	add("16 MiB string over MaxRowSize", CodeSchemaViolation, ins(abuseRow(map[string]any{"name": big})))
	add("batch with one bad row", CodeSchemaViolation, ins([]map[string]any{abuseRow(nil), abuseRow(map[string]any{"u": 300})}))
	add("Get(0)", CodeNotFound, func() error { _, err := tbl.Get(0); return err })
	add("Get(-1)", CodeNotFound, func() error { _, err := tbl.Get(-1); return err })
	add("Get(MaxInt64)", CodeNotFound, func() error { _, err := tbl.Get(math.MaxInt64); return err })
	add("GetPartial unknown field", CodeInvalidQuery, func() error { _, err := tbl.GetPartial(seq, "nope"); return err })
	add("GetPartial bad name", CodeInvalidQuery, func() error { _, err := tbl.GetPartial(seq, "../x"); return err })
	add("Update(0)", CodeNotFound, func() error { return tbl.Update(0, map[string]any{"n": int64(2)}) })
	add("Update nil map", CodeInvalidArgument, func() error { return tbl.Update(seq, nil) })
	add("Update unknown field", CodeSchemaViolation, func() error { return tbl.Update(seq, map[string]any{"nope": 1}) })
	add("Update _seq", CodeSchemaViolation, func() error { return tbl.Update(seq, map[string]any{"_seq": int64(9)}) })
	add("Update NaN into int", CodeSchemaViolation, func() error { return tbl.Update(seq, map[string]any{"n": math.NaN()}) })
	add("Delete(0)", CodeNotFound, func() error { return tbl.Delete(0) })
	add("Delete(-5)", CodeNotFound, func() error { return tbl.Delete(-5) })
	// Queries.
	q := func(f func(*Query) *Query) func() error {
		return func() error {
			rows, err := f(tbl.Query()).Rows()
			if err == nil {
				_ = rows.Close()
			}
			return err
		}
	}
	add("Eq unknown field", CodeInvalidQuery, q(func(x *Query) *Query { return x.Eq("nope", 1) }))
	add("Eq bad name", CodeInvalidQuery, q(func(x *Query) *Query { return x.Eq("../x", 1) }))
	add("Eq wrong type", CodeInvalidQuery, q(func(x *Query) *Query { return x.Eq("n", "one") }))
	add("Lt nil value", CodeInvalidQuery, q(func(x *Query) *Query { return x.Lt("n", nil) }))
	add("Between wrong type", CodeInvalidQuery, q(func(x *Query) *Query { return x.Between("u", "a", "b") }))
	add("Contains on int", CodeInvalidQuery, q(func(x *Query) *Query { return x.Contains("n", "1") }))
	add("Where zero Expr", CodeInvalidQuery, q(func(x *Query) *Query { return x.Where(Expr{}) }))
	add("Select unknown", CodeInvalidQuery, q(func(x *Query) *Query { return x.Select("nope") }))
	add("OrderBy unknown", CodeInvalidQuery, q(func(x *Query) *Query { return x.OrderBy("nope") }))
	add("Limit -1", CodeInvalidQuery, q(func(x *Query) *Query { return x.Limit(-1) }))
	add("Offset -1", CodeInvalidQuery, q(func(x *Query) *Query { return x.Offset(-1) }))
	add("Paginate(0, 10)", CodeInvalidQuery, func() error { _, _, err := tbl.Query().Paginate(0, 10); return err })
	add("Paginate(1, 0)", CodeInvalidQuery, func() error { _, _, err := tbl.Query().Paginate(1, 0); return err })
	add("Paginate(MaxInt, MaxInt)", CodeInvalidQuery, func() error { _, _, err := tbl.Query().Paginate(math.MaxInt, math.MaxInt); return err })
	add("Scan(nil)", CodeInvalidArgument, func() error { return tbl.Query().Scan(nil) })
	add("Scan(non-pointer)", CodeInvalidArgument, func() error { return tbl.Query().Scan([]map[string]any{}) })
	add("Scan(*int)", CodeInvalidArgument, func() error { var x int; return tbl.Query().Scan(&x) })
	add("First on empty result", CodeNotFound, func() error { _, err := tbl.Query().Eq("name", "zzz").First(); return err })
	// Schemas, tables and indexes.
	add("NewSchema no fields", CodeInvalidSchema, func() error { _, err := NewSchema("a", nil); return err })
	add("NewSchema bad type", CodeInvalidSchema, func() error { _, err := NewSchema("a", []Field{{Name: "x", Type: FieldType(200)}}); return err })
	add("NewSchema duplicate", CodeInvalidSchema, func() error {
		_, err := NewSchema("a", []Field{{Name: "x", Type: Int}, {Name: "x", Type: Int}})
		return err
	})
	add("NewSchema indexed Object", CodeInvalidSchema, func() error { _, err := NewSchema("a", []Field{{Name: "x", Type: Object, Indexed: true}}); return err })
	add("NewSchema indexed Array", CodeInvalidSchema, func() error { _, err := NewSchema("a", []Field{{Name: "x", Type: Array, Indexed: true}}); return err })
	add("CreateTable nil schema", CodeInvalidSchema, func() error { _, err := db.CreateTable("ok", nil); return err })
	add("CreateTable existing", CodeTableExists, func() error { _, err := db.CreateTable("t", s); return err })
	add("CreateTable zero Schema", CodeInvalidSchema, func() error { _, err := db.CreateTable("ok", &Schema{}); return err })
	add("CreateTable schema of another name", CodeInvalidSchema, func() error { _, err := db.CreateTable("ok", s); return err })
	add("EnsureTable nil schema", CodeInvalidSchema, func() error { _, err := db.EnsureTable("ok", nil); return err })
	add("EnsureTable zero Schema", CodeInvalidSchema, func() error { _, err := db.EnsureTable("ok", &Schema{}); return err })
	add("EnsureTable schema of another name", CodeInvalidSchema, func() error { _, err := db.EnsureTable("ok", s); return err })
	add("AddField not nullable", CodeInvalidSchema, func() error { return tbl.AddField(Field{Name: "nn", Type: Int64}) })
	add("AddField existing", CodeInvalidSchema, func() error { return tbl.AddField(Field{Name: "n", Type: Int64, Nullable: true}) })
	add("AddField bad type", CodeInvalidSchema, func() error { return tbl.AddField(Field{Name: "bt", Type: FieldType(200), Nullable: true}) })
	add("DropField unknown field", CodeInvalidSchema, func() error { return tbl.DropField("nope") })
	add("Table unknown", CodeTableNotFound, func() error { _, err := db.Table("nope"); return err })
	add("DropTable unknown", CodeTableNotFound, func() error { return db.DropTable("nope") })
	add("CreateIndex unknown field", CodeInvalidSchema, func() error { return tbl.CreateIndex("nope") })
	add("DropIndex unknown field", CodeInvalidSchema, func() error { return tbl.DropIndex("nope") })
	for _, n := range badNames {
		add("NewSchema table "+n, CodeInvalidName, func() error { _, err := NewSchema(n, abuseFields()); return err })
		add("NewSchema field "+n, CodeInvalidName, func() error { _, err := NewSchema("a", []Field{{Name: n, Type: Int}}); return err })
		add("CreateTable "+n, CodeInvalidName, func() error { _, err := db.CreateTable(n, s); return err })
		add("Table "+n, CodeInvalidName, func() error { _, err := db.Table(n); return err })
		add("DropTable "+n, CodeInvalidName, func() error { return db.DropTable(n) })
		add("CreateIndex "+n, CodeInvalidName, func() error { return tbl.CreateIndex(n) })
		add("EnsureTable "+n, CodeInvalidName, func() error { _, err := db.EnsureTable(n, s); return err })
		add("AddField "+n, CodeInvalidName, func() error { return tbl.AddField(Field{Name: n, Type: Int, Nullable: true}) })
		add("DropField "+n, CodeInvalidName, func() error { return tbl.DropField(n) })
		add("DropIndex "+n, CodeInvalidName, func() error { return tbl.DropIndex(n) })
	}
	// Options and Open.
	add("Open empty dir name", CodeInvalidArgument, func() error { _, err := Open("", nil); return err })
	add("Open locked", CodeLocked, func() error { _, err := Open(dir, nil); return err })
	add("Open negative MemTableSize", CodeInvalidArgument, func() error {
		o := DefaultOptions()
		o.MemTableSize = -1
		_, err := Open(filepath.Join(dir, "never"), o)
		return err
	})
	add("Open bad Durability", CodeInvalidArgument, func() error {
		o := DefaultOptions()
		o.Durability = Durability(9)
		_, err := Open(filepath.Join(dir, "never"), o)
		return err
	})
	runAbuseCases(t, tbl, cases)
	t.Logf("open database: %d abuse cases", len(cases))

	// Nothing was created or removed outside the database directory, and
	// the table directory holds only the one table.
	require.Equal(t, before, outside())
	b, err := os.ReadFile(filepath.Join(root, "victim"))
	require.NoError(t, err)
	require.Equal(t, "keep", string(b))
	entries, err := os.ReadDir(filepath.Join(dir, tablesDirName))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	_, err = tbl.Get(seq)
	require.NoError(t, err, "the abuse damaged the table")

	// Use after Close: every public method of Database, Table, Query, Rows.
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	pending := tbl.Query()
	require.NoError(t, rows.Close())
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "double Close")
	closed := []abuseCase{
		{"Database.Check", CodeClosed, db.Check},
		{"Database.CreateTable", CodeClosed, func() error { _, err := db.CreateTable("t", s); return err }},
		{"Database.EnsureTable", CodeClosed, func() error { _, err := db.EnsureTable("t", s); return err }},
		{"Table.AddField", CodeClosed, func() error { return tbl.AddField(Field{Name: "later", Type: Int64, Nullable: true}) }},
		{"Table.DropField", CodeClosed, func() error { return tbl.DropField("n") }},
		{"Database.Table", CodeClosed, func() error { _, err := db.Table("t"); return err }},
		{"Database.DropTable", CodeClosed, func() error { return db.DropTable("t") }},
		{"Table.Insert", CodeClosed, ins(abuseRow(nil))},
		{"Table.Get", CodeClosed, func() error { _, err := tbl.Get(seq); return err }},
		{"Table.GetPartial", CodeClosed, func() error { _, err := tbl.GetPartial(seq, "n"); return err }},
		{"Table.Update", CodeClosed, func() error { return tbl.Update(seq, map[string]any{"n": int64(3)}) }},
		{"Table.Delete", CodeClosed, func() error { return tbl.Delete(seq) }},
		{"Table.Flush", CodeClosed, tbl.Flush},
		{"Table.Compact", CodeClosed, tbl.Compact},
		{"Table.CreateIndex", CodeClosed, func() error { return tbl.CreateIndex("n") }},
		{"Table.DropIndex", CodeClosed, func() error { return tbl.DropIndex("name") }},
		{"Query.Rows", CodeClosed, func() error { _, err := tbl.Query().Rows(); return err }},
		{"Query.Rows built before Close", CodeClosed, func() error { _, err := pending.Rows(); return err }},
		{"Query.First", CodeClosed, func() error { _, err := tbl.Query().First(); return err }},
		{"Query.Last", CodeClosed, func() error { _, err := tbl.Query().Last(); return err }},
		{"Query.Count", CodeClosed, func() error { _, err := tbl.Query().Count(); return err }},
		{"Query.Scan", CodeClosed, func() error { var out []map[string]any; return tbl.Query().Scan(&out) }},
		{"Query.Paginate", CodeClosed, func() error { _, _, err := tbl.Query().Paginate(1, 10); return err }},
		{"Query.Explain", CodeClosed, func() error { _, err := tbl.Query().Explain(); return err }},
	}
	runAbuseCases(t, nil, closed)
	// Methods without an error result must not panic after Close.
	require.NotPanics(t, func() {
		_ = db.Tables()
		_ = db.Dir()
		_ = tbl.Stats()
		_ = tbl.Schema()
		_ = tbl.Name()
		_ = tbl.Indexes()
		require.False(t, rows.Next())
		require.Nil(t, rows.Row())
		require.NoError(t, rows.Close())
		require.NoError(t, rows.Close(), "double Rows.Close")
	})
	t.Logf("after Close: %d cases", len(closed))
	require.Equal(t, before, outside())
}

// TestReliabilityDropTableStaysInside: DropTable removes the table's own
// directory and nothing else, whatever the name; a name that would escape is
// ErrInvalidName before anything is touched.
func TestReliabilityDropTableStaysInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	db, err := Open(dir, nil)
	require.NoError(t, err)
	for _, n := range []string{"a", "ab", "b"} {
		s, err := NewSchema(n, abuseFields())
		require.NoError(t, err)
		_, err = db.CreateTable(n, s)
		require.NoError(t, err)
	}
	// Decoys at paths a careless join could reach.
	for _, p := range []string{"victim", "db/victim", "db/tables/a_x"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte("keep"), 0o600))
	}
	snapshot := func() []string {
		var out []string
		for _, p := range listTree(t, root) {
			if !strings.HasPrefix(p, "db/tables/a/") && p != "db/tables/a/" {
				out = append(out, p)
			}
		}
		return out
	}
	before := snapshot()
	for _, n := range append(badNames, "A", "a ", "a/", "a/.", "a/..", "tables/a") {
		err := db.DropTable(n)
		require.Error(t, err, "%q", n)
	}
	require.Equal(t, before, snapshot(), "a failed DropTable touched something")
	require.NoError(t, db.DropTable("a"))
	after := listTree(t, root)
	var gone []string
	for _, p := range before {
		if !slices.Contains(after, p) {
			gone = append(gone, p)
		}
	}
	require.Empty(t, gone, "DropTable(a) removed more than tables/a")
	require.NotContains(t, after, "db/tables/a/")
	require.Equal(t, []string{"ab", "b"}, db.Tables())
	require.NoError(t, db.Close())
}
