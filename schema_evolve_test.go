package srdb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Schema evolution: AddField, DropField, EnsureTable, Scan of
// struct fields the table lacks, and the schema checks of CreateTable.

func evolveFields() []Field {
	return []Field{
		{Name: "channel", Type: String, Indexed: true},
		{Name: "n", Type: Int64},
		{Name: "body", Type: String},
	}
}

func evolveSchema(t *testing.T, name string, fields []Field) *Schema {
	t.Helper()
	s, err := NewSchema(name, fields)
	require.NoError(t, err)
	return s
}

func evolveRow(i int) map[string]any {
	return map[string]any{"channel": fmt.Sprintf("c%d", i%3), "n": int64(i), "body": fmt.Sprintf("body-%d", i)}
}

// errField returns the Field of err's *Error ("" when none).
func errField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// countQuery counts the rows of q, failing the test on an error.
func countQuery(t *testing.T, q *Query) int {
	t.Helper()
	n, err := q.Count()
	require.NoError(t, err)
	return n
}

// TestAddFieldOldRowsReadNull: rows written before AddField (in an SST and
// in the memtable) read the new field as NULL through Get, Data, Query and
// Scan; rows written after carry it; all of it survives Flush, Compact
// (mixing files of both generations) and reopen; the new field can be
// indexed over the old rows.
func TestAddFieldOldRowsReadNull(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Durability: DurabilityNone, DisableAutoCompaction: true}
	db := openTestDB(t, dir, opts)
	tbl, err := db.CreateTable("ev", evolveSchema(t, "ev", evolveFields()))
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		_, err := tbl.Insert(evolveRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush()) // seqs 1-4 in an SST written before the field existed
	for i := 5; i <= 6; i++ {
		_, err := tbl.Insert(evolveRow(i))
		require.NoError(t, err)
	}
	sstBefore := tbl.vs.liveFiles()

	// Refusals first: nothing changes.
	err = tbl.AddField(Field{Name: "note", Type: String})
	assert.True(t, errors.Is(err, ErrInvalidSchema), "non-nullable: %v", err)
	assert.Equal(t, "note", errField(err))
	err = tbl.AddField(Field{Name: "n", Type: Int64, Nullable: true})
	assert.True(t, errors.Is(err, ErrInvalidSchema), "existing: %v", err)
	err = tbl.AddField(Field{Name: "_x", Type: Int64, Nullable: true})
	assert.True(t, errors.Is(err, ErrInvalidName), "reserved: %v", err)
	err = tbl.AddField(Field{Name: "o", Type: Object, Nullable: true, Indexed: true})
	assert.True(t, errors.Is(err, ErrInvalidSchema), "indexed object: %v", err)
	assert.Equal(t, 3, tbl.Schema().NumFields())

	require.NoError(t, tbl.AddField(Field{Name: "note", Type: String, Nullable: true, Comment: "added"}))
	assert.Equal(t, "ev(channel string indexed, n int64, body string, note string nullable)", tbl.Schema().String())
	for i := 7; i <= 8; i++ {
		r := evolveRow(i)
		r["note"] = fmt.Sprintf("note-%d", i)
		_, err := tbl.Insert(r)
		require.NoError(t, err)
	}
	// AddField rewrote no SST.
	for num := range sstBefore {
		assert.True(t, tbl.vs.liveFiles()[num], "SST %d is still live", num)
	}

	type evRow struct {
		Seq     int64 `srdb:"_seq"`
		Channel string
		N       int64
		Body    string
		Note    *string
	}
	check := func(tbl *Table, stage string) {
		t.Helper()
		for seq := int64(1); seq <= 8; seq++ {
			row, err := tbl.Get(seq)
			require.NoError(t, err, stage)
			v, ok := row.Get("note")
			assert.True(t, ok, "%s seq %d: note is a field", stage, seq)
			if seq <= 6 {
				assert.Nil(t, v, "%s seq %d: old row reads NULL", stage, seq)
			} else {
				assert.Equal(t, fmt.Sprintf("note-%d", seq), v, "%s seq %d", stage, seq)
			}
			d := row.Data()
			assert.Contains(t, d, "note", stage)
			var s evRow
			require.NoError(t, row.Scan(&s), stage)
			assert.Equal(t, seq, s.N, stage)
			assert.Equal(t, seq > 6, s.Note != nil, "%s seq %d", stage, seq)
		}
		assert.Equal(t, 6, countQuery(t, tbl.Query().IsNull("note")), stage)
		assert.Equal(t, 2, countQuery(t, tbl.Query().NotNull("note")), stage)
		assert.Equal(t, 1, countQuery(t, tbl.Query().Eq("note", "note-8")), stage)
		var all []evRow
		require.NoError(t, tbl.Query().OrderBy("_seq").Scan(&all), stage)
		require.Len(t, all, 8, stage)
		assert.Nil(t, all[0].Note, stage)
		require.NotNil(t, all[7].Note, stage)
		assert.Equal(t, "note-8", *all[7].Note, stage)
	}
	check(tbl, "memtable+SST")
	require.NoError(t, tbl.Flush())
	check(tbl, "after flush")
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, opts)
	tbl, err = db.Table("ev")
	require.NoError(t, err)
	f, ok := tbl.Schema().Field("note")
	require.True(t, ok)
	assert.Equal(t, Field{Name: "note", Type: String, Nullable: true, Comment: "added"}, f)
	check(tbl, "after reopen")
	require.NoError(t, tbl.Compact())
	check(tbl, "after compact")

	// An index on the added field covers the old rows (as NULL).
	require.NoError(t, tbl.CreateIndex("note"))
	assert.True(t, tbl.indexReady("note"))
	check(tbl, "indexed")
	assert.Equal(t, 1, countQuery(t, tbl.Query().Eq("note", "note-7")))
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err = db.Table("ev")
	require.NoError(t, err)
	check(tbl, "indexed, reopened")
	require.NoError(t, db.Check())
}

// TestAddFieldIndexed: AddField with Indexed builds the index at once.
func TestAddFieldIndexed(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl, err := db.CreateTable("ev", evolveSchema(t, "ev", evolveFields()))
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		_, err := tbl.Insert(evolveRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.AddField(Field{Name: "tag", Type: Int32, Nullable: true, Indexed: true}))
	_, err = tbl.Insert(map[string]any{"channel": "x", "n": int64(9), "body": "b", "tag": int32(4)})
	require.NoError(t, err)
	assert.Equal(t, []string{"channel", "tag"}, tbl.Indexes())
	assert.True(t, tbl.indexReady("tag"))
	assert.Equal(t, 1, countQuery(t, tbl.Query().Eq("tag", int32(4))))
	assert.Equal(t, 5, countQuery(t, tbl.Query().IsNull("tag")))
	require.NoError(t, db.Check())
}

// TestDropField drops an indexed and a plain field: reads stop returning
// them, inserts and queries naming them are refused, the name cannot come
// back, and all of it survives reopen and compaction.
func TestDropField(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Durability: DurabilityNone, DisableAutoCompaction: true}
	db := openTestDB(t, dir, opts)
	fields := append(evolveFields(), Field{Name: "score", Type: Int64, Indexed: true})
	tbl, err := db.CreateTable("ev", evolveSchema(t, "ev", fields))
	require.NoError(t, err)
	for i := 1; i <= 6; i++ {
		r := evolveRow(i)
		r["score"] = int64(i * 10)
		_, err := tbl.Insert(r)
		require.NoError(t, err)
		if i == 3 {
			require.NoError(t, tbl.Flush())
		}
	}

	require.NoError(t, tbl.DropField("score")) // indexed: its index goes too
	assert.Equal(t, []string{"channel"}, tbl.Indexes())
	require.NoError(t, tbl.DropField("body")) // not indexed

	err = tbl.DropField("score")
	assert.True(t, errors.Is(err, ErrInvalidSchema), "dropped twice: %v", err)
	assert.True(t, errors.Is(tbl.DropField("nope"), ErrInvalidSchema))
	assert.True(t, errors.Is(tbl.DropField("a/b"), ErrInvalidName))

	check := func(tbl *Table, stage string, c1 int) {
		t.Helper()
		assert.Equal(t, "ev(channel string indexed, n int64)", tbl.Schema().String(), stage)
		assert.Equal(t, 2, tbl.Schema().NumFields(), stage)
		_, ok := tbl.Schema().Field("score")
		assert.False(t, ok, stage)
		for seq := int64(1); seq <= 8; seq++ {
			row, err := tbl.Get(seq)
			if seq > 6 && errors.Is(err, ErrNotFound) {
				continue
			}
			require.NoError(t, err, stage)
			_, ok := row.Get("score")
			assert.False(t, ok, "%s seq %d", stage, seq)
			assert.NotContains(t, row.Data(), "score", stage)
			assert.NotContains(t, row.Data(), "body", stage)
			assert.Len(t, row.Data(), 4, stage) // _seq, _time, channel, n
		}
		_, err := tbl.Query().Eq("score", int64(10)).Count()
		assert.True(t, errors.Is(err, ErrInvalidQuery), "%s: %v", stage, err)
		assert.Equal(t, "score", errField(err), stage)
		_, err = tbl.Query().Select("body").Rows()
		assert.True(t, errors.Is(err, ErrInvalidQuery), "%s: %v", stage, err)
		_, err = tbl.Insert(map[string]any{"channel": "x", "n": int64(1), "score": int64(1)})
		assert.True(t, errors.Is(err, ErrSchemaViolation), "%s: %v", stage, err)
		assert.Equal(t, "score", errField(err), stage)
		err = tbl.AddField(Field{Name: "score", Type: Int64, Nullable: true})
		assert.True(t, errors.Is(err, ErrInvalidSchema), "%s: re-adding a dropped name: %v", stage, err)
		assert.Contains(t, err.Error(), "dropped", stage)
		assert.Equal(t, c1, countQuery(t, tbl.Query().Eq("channel", "c1")), stage)
	}
	check(tbl, "dropped", 2)
	_, err = tbl.Insert(map[string]any{"channel": "c1", "n": int64(7)})
	require.NoError(t, err)
	require.NoError(t, tbl.Update(1, map[string]any{"n": int64(100)}))
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())

	raw, err := os.ReadFile(filepath.Join(dir, tablesDirName, "ev", schemaFileName))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"format": 2`)
	assert.Contains(t, string(raw), `"dropped": true`)

	db = openTestDB(t, dir, opts)
	tbl, err = db.Table("ev")
	require.NoError(t, err)
	check(tbl, "reopened", 3)
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.Compact())
	check(tbl, "compacted", 3)
	// New rows store NULL in the dropped slots.
	row, err := tbl.Get(7)
	require.NoError(t, err)
	v, _ := parseRow(mustRawRow(t, tbl, 7))
	assert.True(t, v.isNull(tbl.schemaSlot(t, "score")) && v.isNull(tbl.schemaSlot(t, "body")), "row %d", row.Seq())
	require.NoError(t, tbl.DropField("n"))
	err = tbl.DropField("channel")
	assert.True(t, errors.Is(err, ErrInvalidSchema), "last field: %v", err)
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err = db.Table("ev")
	require.NoError(t, err)
	assert.Equal(t, "ev(channel string indexed)", tbl.Schema().String())
	assert.Equal(t, 3, countQuery(t, tbl.Query().Eq("channel", "c1")))
}

// schemaSlot returns the row slot of a field, dropped or not.
func (t *Table) schemaSlot(tb testing.TB, name string) int {
	s := t.Schema()
	for i, f := range s.fields {
		if f.Name == name {
			return i
		}
	}
	tb.Fatalf("no slot named %q", name)
	return -1
}

// mustRawRow returns the stored ROW1 bytes of seq.
func mustRawRow(t *testing.T, tbl *Table, seq int64) []byte {
	t.Helper()
	rs, err := tbl.pin()
	require.NoError(t, err)
	defer rs.release()
	it := tbl.newTableIterFrom(rs)
	defer it.close()
	for ok := it.first(); ok; ok = it.next() {
		if it.seq() == seq {
			return append([]byte(nil), it.value()...)
		}
	}
	require.NoError(t, it.err())
	t.Fatalf("seq %d not found", seq)
	return nil
}

// TestEnsureTable: creates a missing table, returns the existing one for an
// equal schema (Comment ignored), adds Nullable fields and declared
// indexes, and refuses every other difference naming the field.
func TestEnsureTable(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Durability: DurabilityNone}
	db := openTestDB(t, dir, opts)
	base := evolveFields()
	tbl, err := db.EnsureTable("ev", evolveSchema(t, "ev", base))
	require.NoError(t, err)
	_, err = tbl.Insert(evolveRow(1))
	require.NoError(t, err)

	same := evolveFields()
	same[1].Comment = "a comment is not a difference"
	tbl2, err := db.EnsureTable("ev", evolveSchema(t, "ev", same))
	require.NoError(t, err)
	assert.Same(t, tbl, tbl2)

	// Refused differences, each naming the field; the table is unchanged.
	refuse := func(fields []Field, field, msg string) {
		t.Helper()
		_, err := db.EnsureTable("ev", evolveSchema(t, "ev", fields))
		require.Error(t, err, field)
		assert.True(t, errors.Is(err, ErrSchemaViolation), "%s: %v", field, err)
		assert.Equal(t, field, errField(err), "%v", err)
		assert.Contains(t, err.Error(), msg)
		assert.Equal(t, "ev(channel string indexed, n int64, body string)", tbl.Schema().String())
	}
	typ := evolveFields()
	typ[1].Type = Int32
	refuse(typ, "n", "int64 in the table and int32 in the schema")
	nul := evolveFields()
	nul[2].Nullable = true
	refuse(nul, "body", "not nullable in the table and nullable in the schema")
	refuse(evolveFields()[:2], "body", "the schema does not")
	refuse(append(evolveFields(), Field{Name: "extra", Type: Int64}), "extra", "must be Nullable")
	// The first difference in the table's field order wins.
	both := evolveFields()
	both[1].Type, both[2].Type = Int32, Bytes
	refuse(both, "n", "int64")

	// A Nullable addition and an index: added.
	more := append(evolveFields(), Field{Name: "extra", Type: Int64, Nullable: true, Indexed: true}, Field{Name: "more", Type: Bool, Nullable: true})
	more[1].Indexed = true
	tbl2, err = db.EnsureTable("ev", evolveSchema(t, "ev", more))
	require.NoError(t, err)
	assert.Same(t, tbl, tbl2)
	assert.Equal(t, "ev(channel string indexed, n int64 indexed, body string, extra int64 indexed nullable, more bool nullable)", tbl.Schema().String())
	assert.True(t, tbl.indexReady("extra") && tbl.indexReady("n"))
	row, err := tbl.Get(1)
	require.NoError(t, err)
	v, ok := row.Get("extra")
	assert.True(t, ok)
	assert.Nil(t, v)

	// An index the schema does not declare is kept; EnsureTable with the
	// original schema now fails only because fields are missing from it.
	noIdx := append(evolveFields(), Field{Name: "extra", Type: Int64, Nullable: true}, Field{Name: "more", Type: Bool, Nullable: true})
	_, err = db.EnsureTable("ev", evolveSchema(t, "ev", noIdx))
	require.NoError(t, err)
	assert.Equal(t, []string{"channel", "extra", "n"}, tbl.Indexes())
	_, err = db.EnsureTable("ev", evolveSchema(t, "ev", base))
	assert.True(t, errors.Is(err, ErrSchemaViolation))
	assert.Equal(t, "extra", errField(err))

	// A dropped name cannot come back through EnsureTable either.
	require.NoError(t, tbl.DropField("more"))
	_, err = db.EnsureTable("ev", evolveSchema(t, "ev", more))
	assert.True(t, errors.Is(err, ErrSchemaViolation), "%v", err)
	assert.Equal(t, "more", errField(err))
	require.NoError(t, db.Close())

	// Run twice across a reopen, as a program does on every start.
	for i := 0; i < 2; i++ {
		db = openTestDB(t, dir, opts)
		tbl, err = db.EnsureTable("ev", evolveSchema(t, "ev", more[:4]))
		require.NoError(t, err)
		assert.Equal(t, 1, countQuery(t, tbl.Query()))
		require.NoError(t, db.Check())
		require.NoError(t, db.Close())
	}
}

// TestCreateTableRefusesBadSchemas: a schema named after another table, a
// zero Schema{} and a nil schema are refused up front by CreateTable and
// EnsureTable with ErrInvalidSchema, and nothing is created.
func TestCreateTableRefusesBadSchemas(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir, nil)
	other := evolveSchema(t, "b", evolveFields())
	for _, c := range []struct {
		name string
		s    *Schema
	}{{"named b", other}, {"zero", &Schema{}}, {"nil", nil}} {
		_, err := db.CreateTable("a", c.s)
		assert.True(t, errors.Is(err, ErrInvalidSchema), "CreateTable %s: %v", c.name, err)
		_, err = db.EnsureTable("a", c.s)
		assert.True(t, errors.Is(err, ErrInvalidSchema), "EnsureTable %s: %v", c.name, err)
	}
	_, err := db.CreateTable("a", other)
	assert.Contains(t, err.Error(), `named "b"`)
	assert.Empty(t, db.Tables())
	require.NoError(t, db.Close())
	db = openTestDB(t, dir, nil)
	defer db.Close()
	assert.Empty(t, db.Tables())
	require.NoError(t, db.Check())
}

// TestScanStructFieldTableLacks: Row.Scan and Query.Scan leave a Go field
// the table does not have (never had, or dropped) as it is.
func TestScanStructFieldTableLacks(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl, err := db.CreateTable("ev", evolveSchema(t, "ev", evolveFields()))
	require.NoError(t, err)
	_, err = tbl.Insert(evolveRow(1))
	require.NoError(t, err)
	require.NoError(t, tbl.DropField("body"))
	type wider struct {
		Channel string
		N       int64
		Body    string  // dropped
		Later   *string // never in the table
		Count   int     `srdb:"count"`
	}
	row, err := tbl.Get(1)
	require.NoError(t, err)
	var w wider
	require.NoError(t, row.Scan(&w))
	assert.Equal(t, wider{Channel: "c1", N: 1}, w)
	var ws []wider
	require.NoError(t, tbl.Query().Scan(&ws))
	assert.Equal(t, []wider{{Channel: "c1", N: 1}}, ws)
	var one wider
	require.NoError(t, tbl.Query().Scan(&one))
	assert.Equal(t, wider{Channel: "c1", N: 1}, one)
}

// TestSchemaFileFormat1StillReads: a schema.json written by the code before
// schema evolution (format 1, kept in testdata) decodes, and a schema with
// no dropped field is still written byte for byte the same way.
func TestSchemaFileFormat1StillReads(t *testing.T) {
	path := filepath.Join("testdata", "schema", "format1_messages.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	s, err := decodeSchemaFile(data, path)
	require.NoError(t, err)
	assert.Equal(t, 5, s.NumFields())
	f, _ := s.Field("from_uid")
	assert.Equal(t, "sender, \"quoted\" ünïcode", f.Comment)
	again, err := encodeSchemaFile(s)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again))

	// Format 2 round trip, and the format/dropped consistency checks.
	s2, err := newSchemaSlots("messages", s.fields, []bool{false, true, false, false, false})
	require.NoError(t, err)
	enc, err := encodeSchemaFile(s2)
	require.NoError(t, err)
	assert.Contains(t, string(enc), `"format": 2`)
	back, err := decodeSchemaFile(enc, path)
	require.NoError(t, err)
	assert.Equal(t, s2.String(), back.String())
	assert.Equal(t, s2.dropped, back.dropped)
	assert.Equal(t, fmt.Sprint(s2.fields), fmt.Sprint(back.fields))
	v1 := strings.Replace(string(enc), `"format": 2`, `"format": 1`, 1)
	_, err = decodeSchemaFile([]byte(v1), path)
	assert.True(t, errors.Is(err, ErrCorrupted), "dropped field in format 1: %v", err)
	_, err = decodeSchemaFile(rewriteSchemaFile(2, `{"name":"t","fields":[{"name":"a","type":"int"}]}`), path)
	assert.True(t, errors.Is(err, ErrCorrupted), "format 2 without a dropped field: %v", err)
	_, err = decodeSchemaFile(rewriteSchemaFile(2, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","dropped":true}]}`), path)
	assert.True(t, errors.Is(err, ErrCorrupted), "dropped field not nullable: %v", err)
	_, err = decodeSchemaFile(rewriteSchemaFile(2, `{"name":"t","fields":[{"name":"a","type":"int","nullable":true,"dropped":true}]}`), path)
	assert.True(t, errors.Is(err, ErrCorrupted), "every field dropped: %v", err)
	_, err = decodeSchemaFile(rewriteSchemaFile(2, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"a","type":"int","nullable":true,"dropped":true}]}`), path)
	assert.True(t, errors.Is(err, ErrCorrupted), "a dropped name reused: %v", err)
}

// TestOpenFormat1Database opens a database directory written by the code
// before schema evolution (testdata/schema/db_format1: rows 1-3 in an SST,
// 4-5 in the WAL) and evolves it.
func TestOpenFormat1Database(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "schema", "db_format1"))))
	opts := &Options{Durability: DurabilitySync}
	db := openTestDB(t, dir, opts)
	require.NoError(t, db.Check())
	fields := []Field{{Name: "channel_id", Type: String, Indexed: true}, {Name: "msg_id", Type: Int64}, {Name: "flag", Type: Bool, Nullable: true}}
	tbl, err := db.EnsureTable("messages", evolveSchema(t, "messages", fields))
	require.NoError(t, err)
	_, err = tbl.Insert(map[string]any{"channel_id": "c", "msg_id": int64(6), "flag": true})
	require.NoError(t, err)
	assert.Equal(t, 4, countQuery(t, tbl.Query().Eq("channel_id", "c")))
	assert.Equal(t, 5, countQuery(t, tbl.Query().IsNull("flag")))
	require.NoError(t, db.Close())
	db = openTestDB(t, dir, opts)
	defer db.Close()
	require.NoError(t, db.Check())
	tbl, err = db.Table("messages")
	require.NoError(t, err)
	assert.Equal(t, 1, countQuery(t, tbl.Query().Eq("flag", true)))
}

// TestSchemaEvolutionRacesInserts: inserts and updates keep going while
// fields are added and dropped; every row stays readable and Check passes
// (an insert that encoded its row under the previous schema is valid under
// the next one).
func TestSchemaEvolutionRacesInserts(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Durability: DurabilityNone, MemTableSize: 64 << 10}
	db := openTestDB(t, dir, opts)
	tbl, err := db.CreateTable("ev", evolveSchema(t, "ev", evolveFields()))
	require.NoError(t, err)
	var stop atomic.Bool
	var inserted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 2000; i++ {
				seq, err := tbl.Insert(map[string]any{"channel": fmt.Sprintf("c%d", w), "n": int64(i), "body": strings.Repeat("x", 100)})
				if err != nil {
					errs <- err
					return
				}
				inserted.Add(1)
				if i%7 == 0 {
					if err := tbl.Update(seq, map[string]any{"n": int64(-i)}); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("f%d", i)
		require.NoError(t, tbl.AddField(Field{Name: name, Type: Int64, Nullable: true, Indexed: i%5 == 0}))
		if i%2 == 1 {
			require.NoError(t, tbl.DropField(name))
		}
		if i%6 == 0 {
			require.NoError(t, tbl.Flush())
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n := int(inserted.Load())
	assert.Equal(t, n, countQuery(t, tbl.Query()))
	assert.Equal(t, n, countQuery(t, tbl.Query().IsNull("f0")))
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
	db = openTestDB(t, dir, opts)
	defer db.Close()
	require.NoError(t, db.Check())
	tbl, err = db.Table("ev")
	require.NoError(t, err)
	assert.Equal(t, 3+10, tbl.Schema().NumFields())
	assert.Equal(t, n, countQuery(t, tbl.Query()))
}

// TestSchemaEvolutionPowerLoss cuts the power at every file-system
// operation of AddField, an Insert using the new field, DropField and Close
// (keeping none, half or all of the unsynced data): the table always opens
// with one of the schemas the sequence went through, every earlier row is
// intact, the new row is there only with its field, and Check passes.
func TestSchemaEvolutionPowerLoss(t *testing.T) {
	open := func(fs FS) (*Database, *Table) {
		opts := DefaultOptions()
		opts.FS = fs
		opts.Durability = DurabilitySync
		opts.DisableAutoCompaction = true
		db, err := Open("/db", opts)
		require.NoError(t, err)
		tbl, err := db.EnsureTable("ev", evolveSchema(t, "ev", evolveFields()))
		require.NoError(t, err)
		return db, tbl
	}
	base := newMemFS()
	db, tbl := open(base)
	for i := 1; i <= 60; i++ {
		_, err := tbl.Insert(evolveRow(i))
		require.NoError(t, err)
		if i == 30 {
			require.NoError(t, tbl.Flush())
		}
	}
	require.NoError(t, db.Close())
	base.syncAll()

	errCrashed := errors.New("power cut")
	work := func(db *Database, tbl *Table) error {
		err := tbl.AddField(Field{Name: "note", Type: String, Nullable: true})
		if err == nil {
			r := evolveRow(61)
			r["note"] = "n61"
			_, err = tbl.Insert(r)
		}
		if err == nil {
			err = tbl.DropField("body")
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	}
	probe := base.crashClone(nil, 1)
	db, tbl = open(probe)
	start := probe.opCount()
	require.NoError(t, work(db, tbl))
	n := probe.opCount() - start
	states := []string{
		"ev(channel string indexed, n int64, body string)",
		"ev(channel string indexed, n int64, body string, note string nullable)",
		"ev(channel string indexed, n int64, note string nullable)",
	}
	ps := []float64{0, 0.5, 1}
	for k := 0; k <= n; k++ {
		p := ps[k%3]
		m := base.crashClone(nil, 1)
		rng := rand.New(rand.NewPCG(uint64(k), 7))
		db, tbl := open(m)
		b := m.opCount()
		var clone *memFS
		m.setOpHook(func(i int, op fsOp, path string) error {
			if clone == nil && i-b == k {
				clone = m.crashClone(rng, p)
			}
			if clone != nil {
				return errCrashed
			}
			return nil
		})
		err := work(db, tbl)
		if clone == nil {
			require.NoError(t, err)
			clone = m.crashClone(rng, p)
		}
		what := fmt.Sprintf("power cut at operation %d of %d (p=%v)", k, n, p)
		opts := DefaultOptions()
		opts.FS = clone
		db2, err := Open("/db", opts)
		require.NoError(t, err, what)
		require.NoError(t, db2.Check(), what)
		tbl2, err := db2.Table("ev")
		require.NoError(t, err, what)
		require.Contains(t, states, tbl2.Schema().String(), what)
		for i := int64(1); i <= 60; i++ {
			row, err := tbl2.Get(i)
			require.NoError(t, err, what)
			v, _ := row.Get("n")
			require.Equal(t, i, v, what)
		}
		if row, err := tbl2.Get(61); err == nil {
			v, ok := row.Get("note")
			require.True(t, ok, "%s: row 61 without the field it was written with", what)
			require.Equal(t, "n61", v, what)
		} else {
			require.True(t, errors.Is(err, ErrNotFound), "%s: %v", what, err)
		}
		require.NoError(t, db2.Close(), what)
	}
	t.Logf("AddField, Insert, DropField, Close: %d file-system operations, power cut at each", n)
}

// TestEnsureTableConcurrent: programs starting at once all get the table,
// and a field they all add is added once.
func TestEnsureTableConcurrent(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	more := append(evolveFields(), Field{Name: "note", Type: String, Nullable: true, Indexed: true})
	for round, fields := range [][]Field{evolveFields(), more} {
		var wg sync.WaitGroup
		tables := make([]*Table, 4)
		errs := make([]error, 4)
		for i := range tables {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				tables[i], errs[i] = db.EnsureTable("ev", evolveSchema(t, "ev", fields))
			}(i)
		}
		wg.Wait()
		for i := range tables {
			require.NoError(t, errs[i], "round %d", round)
			assert.Same(t, tables[0], tables[i])
		}
		if round == 0 {
			_, err := tables[0].Insert(evolveRow(1))
			require.NoError(t, err)
		}
	}
	tbl, err := db.Table("ev")
	require.NoError(t, err)
	assert.Equal(t, "ev(channel string indexed, n int64, body string, note string indexed nullable)", tbl.Schema().String())
	assert.Equal(t, 1, countQuery(t, tbl.Query().IsNull("note")))
	require.NoError(t, db.Check())
}
