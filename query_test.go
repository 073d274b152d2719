package srdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryTypesFields is a schema with one field of most types, for the
// semantics tests.
func queryTypesFields() []Field {
	return []Field{
		{Name: "i8", Type: Int8},
		{Name: "i64", Type: Int64},
		{Name: "u64", Type: Uint64},
		{Name: "f32", Type: Float32},
		{Name: "f64", Type: Float64},
		{Name: "dec", Type: Decimal},
		{Name: "tm", Type: Time},
		{Name: "dur", Type: Duration},
		{Name: "flag", Type: Bool},
		{Name: "r", Type: Rune},
		{Name: "name", Type: String, Nullable: true},
		{Name: "blob", Type: Bytes, Nullable: true},
		{Name: "obj", Type: Object, Nullable: true},
		{Name: "arr", Type: Array, Nullable: true},
	}
}

// queryTypesRows are the rows of the types table; row k has seq k+1.
func queryTypesRows() []map[string]any {
	utc := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CEST", 2*3600)
	return []map[string]any{
		{"i8": int8(-5), "i64": int64(-1), "u64": uint64(0), "f32": float32(0.1), "f64": 0.1,
			"dec": "1.50", "tm": utc, "dur": time.Second, "flag": true, "r": 'a',
			"name": "alpha", "blob": []byte("abc"), "obj": map[string]any{"k": 1}, "arr": []any{1, 2}},
		{"i8": int8(0), "i64": int64(2), "u64": uint64(math.MaxInt64), "f32": float32(2.5), "f64": 2.5,
			"dec": "2", "tm": utc.In(paris).Add(time.Hour), "dur": 2 * time.Second, "flag": false, "r": 'é',
			"name": nil, "blob": nil, "obj": nil, "arr": nil},
		{"i8": int8(7), "i64": int64(3), "u64": uint64(math.MaxUint64), "f32": float32(-1), "f64": math.Inf(1),
			"dec": "-0.001", "tm": utc.Add(-time.Hour), "dur": time.Minute, "flag": true, "r": 'z',
			"name": "beta", "blob": []byte(""), "obj": map[string]any{"k": 2}, "arr": []any{"x"}},
		{"i8": int8(127), "i64": int64(math.MaxInt64), "u64": uint64(1 << 63), "f32": float32(math.NaN()), "f64": math.Copysign(0, -1),
			"dec": "100", "tm": utc.Add(time.Hour), "dur": -time.Second, "flag": false, "r": 'b',
			"name": "", "blob": []byte("xyzabc"), "obj": map[string]any{}, "arr": []any{}},
	}
}

func openTypesTable(t *testing.T) *Table {
	t.Helper()
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	t.Cleanup(func() { db.Close() })
	s, err := NewSchema("types", queryTypesFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("types", s)
	require.NoError(t, err)
	_, err = tbl.Insert(queryTypesRows())
	require.NoError(t, err)
	return tbl
}

// querySeqs runs q and returns the seqs of its rows, in order.
func querySeqs(t *testing.T, q *Query) []int64 {
	t.Helper()
	rows, err := q.Rows()
	require.NoError(t, err)
	var seqs []int64
	for rows.Next() {
		seqs = append(seqs, rows.Row().Seq())
	}
	require.NoError(t, rows.Close())
	return seqs
}

// TestQueryTypedComparisons checks every operator against field types,
// with arguments of other Go types, both before and after the rows reach an
// SST.
func TestQueryTypedComparisons(t *testing.T) {
	tbl := openTypesTable(t)
	utc := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		e    Expr
		want []int64
	}{
		// integers across widths and kinds
		{Eq("i8", 7), []int64{3}},
		{Eq("i8", 7.0), []int64{3}},
		{Eq("i8", 7.5), nil},
		{Eq("i8", 1000), nil},
		{Lt("i8", 1000), []int64{1, 2, 3, 4}},
		{Gt("i8", -1000.5), []int64{1, 2, 3, 4}},
		{Lt("i8", 0.5), []int64{1, 2}},
		{Lte("i8", -5), []int64{1}},
		{Gte("i8", uint64(math.MaxUint64)), nil},
		{Between("i8", -4.9, 7), []int64{2, 3}},
		{Gt("i64", uint64(1<<63)), nil},
		{Lt("i64", uint64(1<<63)), []int64{1, 2, 3, 4}},
		{Eq("i64", int64(math.MaxInt64)), []int64{4}},
		{Eq("i64", float64(math.MaxInt64)), nil}, // 2^63 as a float is not MaxInt64
		{Gt("i64", 2.5), []int64{3, 4}},
		{Lt("i64", math.Inf(1)), []int64{1, 2, 3, 4}},
		{Gt("i64", math.Inf(1)), nil},
		{Eq("i64", math.NaN()), nil},
		{NotEq("i64", math.NaN()), []int64{1, 2, 3, 4}},
		{Gt("u64", uint64(math.MaxInt64)), []int64{3, 4}},
		{Gt("u64", int64(math.MaxInt64)), []int64{3, 4}},
		{Eq("u64", uint64(math.MaxUint64)), []int64{3}},
		{Gte("u64", 9.3e18), []int64{3}}, // 2^63 < 9.3e18 < MaxUint64
		{Lt("u64", -1), nil},
		{Gte("u64", -1), []int64{1, 2, 3, 4}},
		{In("u64", -1, 0, uint64(1<<63), 2.5), []int64{1, 4}},
		{NotIn("u64", -1, 0, uint64(1<<63)), []int64{2, 3}},
		{In("u64", []any{0, uint64(1 << 63)}), []int64{1, 4}},
		{In("i64", []int64{2, 3}), []int64{2, 3}},
		// floats: arguments round to the field's width like inserted values
		{Eq("f32", 0.1), []int64{1}},
		{Lte("f32", 0.1), []int64{1, 3}},
		{Lt("f32", 0.1), []int64{3}},
		{Eq("f32", 2.5), []int64{2}},
		{Eq("f32", 2), nil},
		{Gt("f32", 1e300), nil},
		{Lt("f32", 1e300), []int64{1, 2, 3}},  // not NaN
		{NotEq("f32", 2.5), []int64{1, 3, 4}}, // NaN differs from everything
		{Eq("f64", 0.0), []int64{4}},          // -0 == 0
		{Gt("f64", math.MaxFloat64), []int64{3}},
		{Eq("f64", math.Inf(1)), []int64{3}},
		{Gte("f64", uint64(1<<63)), []int64{3}},
		// decimals compare exactly, with strings, ints and floats
		{Eq("dec", "1.5"), []int64{1}},
		{Eq("dec", 2), []int64{2}},
		{Lt("dec", 0), []int64{3}},
		{Between("dec", 1.5, "100.00"), []int64{1, 2, 4}},
		{Gt("dec", decimal.RequireFromString("99.999999999999999999")), []int64{4}},
		// times by instant, whatever the zone
		{Eq("tm", utc.Add(time.Hour)), []int64{2, 4}},
		{Eq("tm", "2024-05-01T15:00:00+02:00"), []int64{2, 4}},
		{Lt("tm", utc), []int64{3}},
		{Between("tm", utc, utc.Add(time.Hour)), []int64{1, 2, 4}},
		// durations, runes, bools
		{Gt("dur", "1s"), []int64{2, 3}},
		{Lte("dur", time.Second), []int64{1, 4}},
		{Eq("r", "é"), []int64{2}},
		{Lt("r", 'b'), []int64{1}},
		{Eq("flag", true), []int64{1, 3}},
		{NotEq("flag", true), []int64{2, 4}},
		// strings and bytes, bytewise; NULL matches only IsNull
		{Eq("name", "alpha"), []int64{1}},
		{Eq("name", []byte("beta")), []int64{3}},
		{In("name", []byte("beta")), []int64{3}},
		{Lt("name", "b"), []int64{1, 4}},
		{NotEq("name", "alpha"), []int64{3, 4}},
		{NotIn("name", "alpha"), []int64{3, 4}},
		{Not(Eq("name", "alpha")), []int64{3, 4}},
		{IsNull("name"), []int64{2}},
		{NotNull("name"), []int64{1, 3, 4}},
		{Or(IsNull("name"), Eq("name", "beta")), []int64{2, 3}},
		{Not(Or(IsNull("name"), Eq("name", "beta"))), []int64{1, 4}},
		{Contains("blob", "abc"), []int64{1, 4}},
		{Contains("blob", ""), []int64{1, 3, 4}},
		{StartsWith("name", "al"), []int64{1}},
		{EndsWith("blob", "bc"), []int64{1, 4}},
		{Eq("blob", ""), []int64{3}},
		{Gt("blob", []byte("abc")), []int64{4}},
		// JSON values: equality of the canonical JSON
		{Eq("obj", map[string]any{"k": 1}), []int64{1}},
		{Eq("obj", map[string]int{"k": 2}), []int64{3}},
		{In("arr", []any{"x"}, []any{}), []int64{3, 4}},
		{NotEq("arr", []any{}), []int64{1, 3}},
		// system fields
		{Eq("_seq", 2), []int64{2}},
		{In("_seq", 4, 1, 99), []int64{1, 4}},
		{Between("_seq", 1.5, 3), []int64{2, 3}},
		{IsNull("_seq"), nil},
		{NotNull("_time"), []int64{1, 2, 3, 4}},
		// combinations
		{And(), []int64{1, 2, 3, 4}},
		{Or(), nil},
		{And(Gt("i64", 0), Or(Eq("flag", true), Eq("r", 'b'))), []int64{3, 4}},
		{Not(And(Gt("i64", 0), Eq("flag", true))), []int64{1, 2, 4}},
	}
	check := func(label string) {
		for _, c := range cases {
			got := querySeqs(t, tbl.Query().Where(c.e))
			assert.Equal(t, c.want, got, "%s: %s", label, c.e)
			n, err := tbl.Query().Where(c.e).Count()
			require.NoError(t, err)
			assert.Equal(t, len(c.want), n, "%s: Count %s", label, c.e)
		}
	}
	check("memtable")
	require.NoError(t, tbl.Flush())
	check("sst")
}

// TestQueryBuilderMethods checks that every builder method adds its
// condition (ANDed) like the free function.
func TestQueryBuilderMethods(t *testing.T) {
	tbl := openTypesTable(t)
	q := func() *Query { return tbl.Query() }
	assert.Equal(t, []int64{3}, querySeqs(t, q().Eq("i8", 7)))
	assert.Equal(t, []int64{1, 2, 4}, querySeqs(t, q().NotEq("i8", 7)))
	assert.Equal(t, []int64{1, 2}, querySeqs(t, q().Lt("i8", 7)))
	assert.Equal(t, []int64{1, 2, 3}, querySeqs(t, q().Lte("i8", 7)))
	assert.Equal(t, []int64{4}, querySeqs(t, q().Gt("i8", 7)))
	assert.Equal(t, []int64{3, 4}, querySeqs(t, q().Gte("i8", 7)))
	assert.Equal(t, []int64{1, 3}, querySeqs(t, q().In("i8", -5, 7)))
	assert.Equal(t, []int64{2, 4}, querySeqs(t, q().NotIn("i8", -5, 7)))
	assert.Equal(t, []int64{2, 3}, querySeqs(t, q().Between("i8", 0, 7)))
	assert.Equal(t, []int64{1}, querySeqs(t, q().Contains("name", "lph")))
	assert.Equal(t, []int64{3}, querySeqs(t, q().StartsWith("name", "be")))
	assert.Equal(t, []int64{1}, querySeqs(t, q().EndsWith("name", "ha")))
	assert.Equal(t, []int64{2}, querySeqs(t, q().IsNull("name")))
	assert.Equal(t, []int64{1, 3, 4}, querySeqs(t, q().NotNull("name")))
	assert.Equal(t, []int64{3}, querySeqs(t, q().Gt("i8", 0).Lt("i8", 100)), "conditions are ANDed")
	assert.Equal(t, []int64{3}, querySeqs(t, q().Where(Gt("i8", 0), Lt("i8", 100))))
}

// TestQueryInvalid checks that mistakes are ErrInvalidQuery from every
// terminal, before any row is read.
func TestQueryInvalid(t *testing.T) {
	tbl := openTypesTable(t)
	bad := map[string]func() *Query{
		"unknown field":       func() *Query { return tbl.Query().Eq("nope", 1) },
		"reserved field":      func() *Query { return tbl.Query().Eq("_other", 1) },
		"string for int":      func() *Query { return tbl.Query().Eq("i64", "12") },
		"int for string":      func() *Query { return tbl.Query().Eq("name", 12) },
		"bool for int":        func() *Query { return tbl.Query().Lt("i8", true) },
		"int for bool":        func() *Query { return tbl.Query().Eq("flag", 1) },
		"bad time":            func() *Query { return tbl.Query().Lt("tm", "yesterday") },
		"bad _time":           func() *Query { return tbl.Query().Gt("_time", "x") },
		"string for _seq":     func() *Query { return tbl.Query().Eq("_seq", "1") },
		"nil value":           func() *Query { return tbl.Query().Eq("name", nil) },
		"nil in In":           func() *Query { return tbl.Query().In("name", "a", nil) },
		"contains on int":     func() *Query { return tbl.Query().Contains("i64", "1") },
		"prefix on _seq":      func() *Query { return tbl.Query().StartsWith("_seq", "1") },
		"range on object":     func() *Query { return tbl.Query().Lt("obj", map[string]any{}) },
		"bad decimal":         func() *Query { return tbl.Query().Eq("dec", "1.2.3") },
		"zero Expr":           func() *Query { return tbl.Query().Where(Expr{}) },
		"zero Expr in Or":     func() *Query { return tbl.Query().Where(Or(Eq("i8", 1), Expr{})) },
		"select unknown":      func() *Query { return tbl.Query().Select("i8", "nope") },
		"order unknown":       func() *Query { return tbl.Query().OrderBy("nope") },
		"order by object":     func() *Query { return tbl.Query().OrderByDesc("obj") },
		"negative limit":      func() *Query { return tbl.Query().Limit(-1) },
		"negative offset":     func() *Query { return tbl.Query().Offset(-3) },
		"between on JSON":     func() *Query { return tbl.Query().Between("arr", []any{}, []any{1}) },
		"nested bad in Not":   func() *Query { return tbl.Query().Where(Not(And(Eq("i8", 1), Gt("zz", 2)))) },
		"error then valid":    func() *Query { return tbl.Query().Limit(-1).Limit(5) },
		"deeply nested Exprs": func() *Query { return tbl.Query().Where(queryDeepExpr(maxExprDepth + 2)) },
	}
	for name, mk := range bad {
		st := &queryStats{}
		run := map[string]func(q *Query) error{
			"Rows":     func(q *Query) error { _, err := q.Rows(); return err },
			"First":    func(q *Query) error { _, err := q.First(); return err },
			"Last":     func(q *Query) error { _, err := q.Last(); return err },
			"Count":    func(q *Query) error { _, err := q.Count(); return err },
			"Explain":  func(q *Query) error { _, err := q.Explain(); return err },
			"Paginate": func(q *Query) error { _, _, err := q.Paginate(1, 10); return err },
			"Scan":     func(q *Query) error { var out []map[string]any; return q.Scan(&out) },
		}
		for term, f := range run {
			q := mk()
			q.stats = st
			err := f(q)
			require.Error(t, err, "%s: %s", name, term)
			assert.True(t, errors.Is(err, ErrInvalidQuery), "%s: %s: %v", name, term, err)
			assert.Equal(t, CodeInvalidQuery, ErrorCode(err))
		}
		assert.Equal(t, queryStats{}, *st, "%s: no row may be read", name)
	}
	var e *Error
	_, err := tbl.Query().Eq("i64", "x").Rows()
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "i64", e.Field)
	assert.Equal(t, "types", e.Table)

	_, _, err = tbl.Query().Paginate(0, 10)
	assert.True(t, errors.Is(err, ErrInvalidQuery))
	_, _, err = tbl.Query().Paginate(1, 0)
	assert.True(t, errors.Is(err, ErrInvalidQuery))
	_, _, err = tbl.Query().Paginate(math.MaxInt, 2)
	assert.True(t, errors.Is(err, ErrInvalidQuery))

	var nilQ *Query
	assert.Nil(t, nilQ.Eq("a", 1).Where(Eq("b", 2)).Select("x").OrderBy("y").OrderByDesc("z").Limit(1).Offset(1))
	_, err = nilQ.Rows()
	assert.True(t, errors.Is(err, ErrInvalidQuery))
	_, err = nilQ.Count()
	assert.True(t, errors.Is(err, ErrInvalidQuery))
	_, err = nilQ.First()
	assert.True(t, errors.Is(err, ErrInvalidQuery))
	assert.True(t, errors.Is(nilQ.Scan(&[]map[string]any{}), ErrInvalidQuery))
}

func queryDeepExpr(depth int) Expr {
	e := Eq("i8", 1)
	for i := 0; i < depth; i++ {
		e = Not(e)
	}
	return e
}

// TestQueryClosedTable checks terminals after Close.
func TestQueryClosedTable(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	tbl := createIMTable(t, db)
	_, err := tbl.Insert(imTableRow(1))
	require.NoError(t, err)
	q := tbl.Query().Eq("msg_id", 1)
	require.NoError(t, db.Close())
	_, err = q.Rows()
	assert.True(t, IsClosed(err), "%v", err)
	_, err = q.Count()
	assert.True(t, IsClosed(err), "%v", err)
}

// TestQueryOrderLimitOffset checks ordering (NULLs first ascending, last
// descending, ties by seq), Limit, Offset, First, Last and Paginate.
func TestQueryOrderLimitOffset(t *testing.T) {
	tbl := openTypesTable(t)
	_, err := tbl.Insert(map[string]any{"i8": int8(7), "i64": int64(0), "u64": uint64(0), "f32": float32(0), "f64": 0.0,
		"dec": "0", "tm": time.Now(), "dur": 0, "flag": false, "r": 'q', "name": "beta"})
	require.NoError(t, err) // seq 5: ties with seq 3 on i8 and name
	for _, flush := range []bool{false, true} {
		if flush {
			require.NoError(t, tbl.Flush())
		}
		assert.Equal(t, []int64{1, 2, 3, 5, 4}, querySeqs(t, tbl.Query().OrderBy("i8")))
		assert.Equal(t, []int64{4, 5, 3, 2, 1}, querySeqs(t, tbl.Query().OrderByDesc("i8")))
		assert.Equal(t, []int64{2, 4, 1, 3, 5}, querySeqs(t, tbl.Query().OrderBy("name")), "NULL first, then bytewise, ties by seq")
		assert.Equal(t, []int64{5, 3, 1, 4, 2}, querySeqs(t, tbl.Query().OrderByDesc("name")))
		assert.Equal(t, []int64{5, 3, 1, 4, 2}, querySeqs(t, tbl.Query().OrderByDesc("name").OrderByDesc("_seq")))
		assert.Equal(t, []int64{3, 5, 1, 4, 2}, querySeqs(t, tbl.Query().OrderByDesc("name").OrderBy("_seq")))
		assert.Equal(t, []int64{4, 5, 2, 3, 1}, querySeqs(t, tbl.Query().OrderBy("flag").OrderByDesc("i8")))
		assert.Equal(t, []int64{3, 1, 2, 4}, querySeqs(t, tbl.Query().Lt("_seq", 5).OrderBy("tm")))
		assert.Equal(t, []int64{3, 1, 2, 4}, querySeqs(t, tbl.Query().Lt("_seq", 5).OrderBy("dec")))
		assert.Equal(t, []int64{4, 3, 1, 2}, querySeqs(t, tbl.Query().Lt("_seq", 5).OrderBy("f32")), "NaN first")
		assert.Equal(t, []int64{5, 4, 3, 2, 1}, querySeqs(t, tbl.Query().OrderByDesc("_seq")))
		assert.Equal(t, []int64{3, 2}, querySeqs(t, tbl.Query().OrderByDesc("_seq").Offset(2).Limit(2)))
		assert.Equal(t, []int64{3, 5}, querySeqs(t, tbl.Query().OrderBy("i8").Offset(2).Limit(2)))
		assert.Empty(t, querySeqs(t, tbl.Query().OrderBy("i8").Offset(10)))
		assert.Empty(t, querySeqs(t, tbl.Query().Limit(0)))

		first, err := tbl.Query().Gt("i8", 0).First()
		require.NoError(t, err)
		assert.EqualValues(t, 3, first.Seq())
		last, err := tbl.Query().Gt("i8", 0).Last()
		require.NoError(t, err)
		assert.EqualValues(t, 5, last.Seq())
		last, err = tbl.Query().OrderBy("i8").Limit(3).Last()
		require.NoError(t, err)
		assert.EqualValues(t, 3, last.Seq())
		first, err = tbl.Query().OrderByDesc("name").Offset(1).First()
		require.NoError(t, err)
		assert.EqualValues(t, 3, first.Seq())
		_, err = tbl.Query().Eq("i8", 99).First()
		assert.True(t, IsNotFound(err))
		_, err = tbl.Query().Eq("i8", 99).Last()
		assert.True(t, IsNotFound(err))
		_, err = tbl.Query().OrderBy("i8").Offset(5).Last()
		assert.True(t, IsNotFound(err))

		n, err := tbl.Query().Offset(1).Limit(3).Count()
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		n, err = tbl.Query().Offset(4).Count()
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		n, err = tbl.Query().Gt("i8", 0).Offset(1).Count()
		require.NoError(t, err)
		assert.Equal(t, 2, n)

		for page, want := range map[int][]int64{1: {5, 4}, 2: {3, 2}, 3: {1}, 4: nil} {
			rows, total, err := tbl.Query().OrderByDesc("_seq").Limit(1).Offset(3).Paginate(page, 2)
			require.NoError(t, err)
			assert.Equal(t, 5, total)
			var got []int64
			for rows.Next() {
				got = append(got, rows.Row().Seq())
			}
			require.NoError(t, rows.Close())
			assert.Equal(t, want, got, "page %d", page)
		}
	}
}

// TestQuerySelect checks that Select decodes only the selected fields.
func TestQuerySelect(t *testing.T) {
	tbl := openTypesTable(t)
	st := &queryStats{}
	q := tbl.Query().Select("name", "_seq", "i8", "name").OrderBy("i8")
	q.stats = st
	rows, err := q.Rows()
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		row := rows.Row()
		n++
		_, ok := row.Get("name")
		assert.True(t, ok)
		_, ok = row.Get("i8")
		assert.True(t, ok)
		_, ok = row.Get("blob")
		assert.False(t, ok, "not selected")
		_, ok = row.Get("_time")
		assert.True(t, ok)
		assert.Len(t, row.Data(), 4) // _seq, _time, name, i8
	}
	require.NoError(t, rows.Close())
	assert.Equal(t, 4, n)
	assert.EqualValues(t, 4, st.rowsDecoded)
	assert.EqualValues(t, 4*2+4, st.fieldsDecoded, "two fields per row, plus the sort key")

	st = &queryStats{}
	q = tbl.Query().Select()
	q.stats = st
	row, err := q.First()
	require.NoError(t, err)
	assert.Len(t, row.Data(), 2, "only _seq and _time")
	assert.EqualValues(t, 0, st.fieldsDecoded)
}

// TestExprString checks the readable form of conditions.
func TestExprString(t *testing.T) {
	e := And(Or(Eq("a", "x"), In("b", 1, 2)), Not(IsNull("c")), Between("d", 1, 2.5), StartsWith("e", "p"))
	assert.Equal(t, `((a = "x" OR b IN (1, 2)) AND NOT c IS NULL AND d BETWEEN 1 AND 2.5 AND e STARTS WITH "p")`, e.String())
	assert.Equal(t, "TRUE", And().String())
	assert.Equal(t, "FALSE", Or().String())
	assert.Equal(t, "<invalid>", Expr{}.String())
	assert.Equal(t, `f CONTAINS "x"`, Contains("f", "x").String())
	assert.Equal(t, `f NOT IN ()`, NotIn("f").String())
}

// TestQueryInArgsCopied checks that In keeps its own copy of the values.
func TestQueryInArgsCopied(t *testing.T) {
	tbl := openTypesTable(t)
	vals := []any{-5, 7}
	e := In("i8", vals...)
	vals[0] = 0
	assert.Equal(t, []int64{1, 3}, querySeqs(t, tbl.Query().Where(e)))
}

// TestQueryJSONNumberArgs checks json.Number arguments (decoded JSON).
func TestQueryJSONNumberArgs(t *testing.T) {
	tbl := openTypesTable(t)
	assert.Equal(t, []int64{3}, querySeqs(t, tbl.Query().Eq("i8", json.Number("7"))))
	assert.Equal(t, []int64{2, 3, 4}, querySeqs(t, tbl.Query().Gt("i64", json.Number("1.5"))))
	assert.Equal(t, []int64{3, 4}, querySeqs(t, tbl.Query().Gt("u64", json.Number("9223372036854775807"))))
}

// TestQueryUpdatesAndDeletes checks that queries see the newest version of
// each row, across memtables and SSTs.
func TestQueryUpdatesAndDeletes(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, MemTableSize: 64 << 10})
	defer db.Close()
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 300; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.Update(5, map[string]any{"msg_type": uint8(9)}))
	require.NoError(t, tbl.Delete(9))
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.Update(13, map[string]any{"msg_type": uint8(9)}))
	require.NoError(t, tbl.Delete(5))
	assert.Equal(t, []int64{13}, querySeqs(t, tbl.Query().Eq("msg_type", 9)))
	assert.Empty(t, querySeqs(t, tbl.Query().In("_seq", 5, 9)))
	assert.Equal(t, []int64{8, 10}, querySeqs(t, tbl.Query().Between("_seq", 8, 10).Where(Not(Eq("msg_type", 9)))))
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	assert.Equal(t, 298, n)
	seqs := querySeqs(t, tbl.Query().OrderByDesc("_seq"))
	assert.Len(t, seqs, 298)
	assert.True(t, slices.IsSortedFunc(seqs, func(a, b int64) int { return int(b - a) }))
}

// TestIntRangeFastPathMatchesExact: a range on a signed-integer field with
// a Go int argument is normalised in int64 arithmetic (addIntBound); the
// same bound given as a decimal.Decimal takes the exact big.Rat path. Both
// must give the same range, for every operator, width and edge value.
func TestIntRangeFastPathMatchesExact(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "i8", Type: Int8}, {Name: "i16", Type: Int16}, {Name: "i32", Type: Int32},
		{Name: "i64", Type: Int64}, {Name: "d", Type: Duration}, {Name: "r", Type: Rune}})
	require.NoError(t, err)
	values := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 31, -1<<31 - 1, -32769, -32768, -129, -128, -127, -1, 0, 1,
		126, 127, 128, 32767, 32768, 1<<31 - 1, 1 << 31, math.MaxInt64 - 1, math.MaxInt64}
	ops := []exprOp{opLt, opLte, opGt, opGte}
	fields := []string{"i8", "i16", "i32", "i64", "d", "r", "_seq"}
	for _, f := range fields {
		ref, err := resolveField(s, f)
		require.NoError(t, err)
		for _, op := range ops {
			for _, v := range values {
				fast, err := compileLeaf(ref, op, []any{v}, leafExpr(op, f, v))
				require.NoError(t, err)
				exact, err := compileLeaf(ref, op, []any{decimal.NewFromInt(v)}, leafExpr(op, f, v))
				require.NoError(t, err)
				what := fmt.Sprintf("%s %s %d", f, op, v)
				require.Equal(t, exact.empty, fast.empty, what)
				if !exact.empty {
					require.Equal(t, fmt.Sprintf("%+v %+v", exact.lo, exact.hi), fmt.Sprintf("%+v %+v", fast.lo, fast.hi), what)
				}
			}
		}
		// Between: two bounds on one leaf.
		for _, lo := range values {
			for _, hi := range []int64{-129, 0, 127, math.MaxInt64} {
				fast, err := compileLeaf(ref, opBetween, []any{lo, hi}, Between(f, lo, hi))
				require.NoError(t, err)
				exact, err := compileLeaf(ref, opBetween, []any{decimal.NewFromInt(lo), decimal.NewFromInt(hi)}, Between(f, lo, hi))
				require.NoError(t, err)
				what := fmt.Sprintf("%s between %d and %d", f, lo, hi)
				require.Equal(t, exact.empty, fast.empty, what)
				if !exact.empty {
					require.Equal(t, fmt.Sprintf("%+v %+v", exact.lo, exact.hi), fmt.Sprintf("%+v %+v", fast.lo, fast.hi), what)
				}
			}
		}
	}
}
