package srdb

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryScanMsg is the IM table's row as a struct, with the system fields.
type queryScanMsg struct {
	Seq       int64     `srdb:"_seq"`
	Time      time.Time `srdb:"_time"`
	ChannelID string    `srdb:"channel_id"`
	FromUID   string
	MsgID     int64
	MsgType   uint8
	Payload   *[]byte // nullable
}

func TestQueryScanStructs(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl := createIMTable(t, db)
	when := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	_, err := tbl.Insert([]map[string]any{
		{"channel_id": "a", "from_uid": "u1", "msg_id": int64(10), "msg_type": uint8(1), "payload": []byte("hi"), "_time": when},
		{"channel_id": "a", "from_uid": "u2", "msg_id": int64(20), "msg_type": uint8(2)},
		{"channel_id": "b", "from_uid": "u1", "msg_id": int64(30), "msg_type": uint8(3), "payload": []byte("yo")},
	})
	require.NoError(t, err)

	var msgs []queryScanMsg
	require.NoError(t, tbl.Query().Eq("channel_id", "a").Scan(&msgs))
	require.Len(t, msgs, 2)
	assert.EqualValues(t, 1, msgs[0].Seq)
	assert.True(t, msgs[0].Time.Equal(when))
	assert.Equal(t, "u1", msgs[0].FromUID)
	assert.EqualValues(t, 10, msgs[0].MsgID)
	require.NotNil(t, msgs[0].Payload)
	assert.Equal(t, []byte("hi"), *msgs[0].Payload)
	assert.Nil(t, msgs[1].Payload, "NULL into a pointer is nil")

	// The slice is replaced, not appended to.
	require.NoError(t, tbl.Query().Eq("channel_id", "b").Scan(&msgs))
	require.Len(t, msgs, 1)
	assert.EqualValues(t, 3, msgs[0].Seq)

	var ptrs []*queryScanMsg
	require.NoError(t, tbl.Query().OrderByDesc("_seq").Scan(&ptrs))
	require.Len(t, ptrs, 3)
	assert.EqualValues(t, 30, ptrs[0].MsgID)

	var maps []map[string]any
	require.NoError(t, tbl.Query().Select("msg_id").Scan(&maps))
	require.Len(t, maps, 3)
	assert.True(t, maps[0]["_time"].(time.Time).Equal(when))
	delete(maps[0], "_time")
	assert.Equal(t, map[string]any{"_seq": int64(1), "msg_id": int64(10)}, maps[0])

	var one queryScanMsg
	require.NoError(t, tbl.Query().Eq("from_uid", "u2").Scan(&one))
	assert.EqualValues(t, 2, one.Seq)
	var m map[string]any
	require.NoError(t, tbl.Query().Eq("msg_id", 30).Scan(&m))
	assert.Equal(t, "b", m["channel_id"])
	err = tbl.Query().Eq("msg_id", 99).Scan(&one)
	assert.True(t, IsNotFound(err))

	// Select leaves the other struct fields alone.
	partial := queryScanMsg{FromUID: "keep"}
	require.NoError(t, tbl.Query().Select("msg_id").Eq("_seq", 3).Scan(&partial))
	assert.EqualValues(t, 30, partial.MsgID)
	assert.Equal(t, "keep", partial.FromUID)
	assert.EqualValues(t, 3, partial.Seq)

	// Row.Scan with other Go types of compatible kinds.
	type wide struct {
		Seq       uint32  `srdb:"_seq"`
		TimeNS    int64   `srdb:"_time"`
		ChannelID []byte  `srdb:"channel_id"`
		FromUID   any     `srdb:"from_uid"`
		MsgID     float64 `srdb:"msg_id"`
		MsgType   int16   `srdb:"msg_type"`
		Payload   string  `srdb:"payload"`
	}
	row, err := tbl.Get(1)
	require.NoError(t, err)
	var w wide
	require.NoError(t, row.Scan(&w))
	assert.Equal(t, wide{Seq: 1, TimeNS: when.UnixNano(), ChannelID: []byte("a"), FromUID: "u1", MsgID: 10, MsgType: 1, Payload: "hi"}, w)
	var pw *wide
	require.NoError(t, row.Scan(&pw), "a **T is allocated")
	assert.Equal(t, w, *pw)
	row2, err := tbl.Get(2)
	require.NoError(t, err)
	w.Payload = "stale"
	require.NoError(t, row2.Scan(&w))
	assert.Equal(t, "", w.Payload, "NULL into a non-pointer is the zero value")
}

func TestQueryScanErrors(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl := createIMTable(t, db)
	_, err := tbl.Insert(map[string]any{"channel_id": "a", "from_uid": "u", "msg_id": int64(1000), "msg_type": uint8(200)})
	require.NoError(t, err)
	row, err := tbl.Get(1)
	require.NoError(t, err)

	isArg := func(err error) bool { return errors.Is(err, ErrInvalidArgument) }
	type unknown struct {
		ChannelID string
		Extra     int
	}
	type badType struct {
		MsgID string `srdb:"msg_id"`
	}
	type tooSmall struct {
		MsgID int8 `srdb:"msg_id"`
	}
	type unsignedNeg struct {
		MsgType int8 `srdb:"msg_type"` // 200 does not fit
	}
	type badSeq struct {
		Seq string `srdb:"_seq"`
	}
	type skip struct {
		ChannelID string
		Extra     int `srdb:"-"`
	}
	// A Go field the table does not have is left as it is (sqlx
	// semantics), not an error.
	u := unknown{Extra: 7}
	require.NoError(t, row.Scan(&u))
	assert.Equal(t, unknown{ChannelID: "a", Extra: 7}, u)
	assert.True(t, isArg(row.Scan(&badType{})))
	assert.True(t, isArg(row.Scan(&tooSmall{})))
	assert.True(t, isArg(row.Scan(&unsignedNeg{})))
	assert.True(t, isArg(row.Scan(&badSeq{})))
	assert.NoError(t, row.Scan(&skip{}))
	assert.True(t, isArg(row.Scan(nil)))
	assert.True(t, isArg(row.Scan(skip{})), "not a pointer")
	assert.True(t, isArg(row.Scan((*skip)(nil))))
	var n int
	assert.True(t, isArg(row.Scan(&n)))
	var nilRow *Row
	assert.True(t, isArg(nilRow.Scan(&skip{})))

	// Query.Scan checks the destination before reading rows.
	for _, dest := range []any{nil, []skip{}, &n, &[]int{}, &map[string]int{}} {
		q := tbl.Query()
		st := &queryStats{}
		q.stats = st
		assert.Error(t, q.Scan(dest), "%T", dest)
		assert.Equal(t, queryStats{}, *st, "%T", dest)
	}
}

func TestQueryScanAllTypes(t *testing.T) {
	tbl := openTypesTable(t)
	type all struct {
		Seq  int64           `srdb:"_seq"`
		I8   int8            `srdb:"i8"`
		I64  int64           `srdb:"i64"`
		U64  uint64          `srdb:"u64"`
		F32  float32         `srdb:"f32"`
		F64  float64         `srdb:"f64"`
		Dec  decimal.Decimal `srdb:"dec"`
		Tm   time.Time       `srdb:"tm"`
		Dur  time.Duration   `srdb:"dur"`
		Flag bool            `srdb:"flag"`
		R    rune            `srdb:"r"`
		Name *string         `srdb:"name"`
		Blob []byte          `srdb:"blob"`
		Obj  struct {
			K int `json:"k"`
		} `srdb:"obj"`
		Arr json.RawMessage `srdb:"arr"`
	}
	var rows []all
	require.NoError(t, tbl.Query().Scan(&rows))
	require.Len(t, rows, 4)
	r := rows[0]
	assert.EqualValues(t, -5, r.I8)
	assert.Equal(t, float32(0.1), r.F32)
	assert.True(t, r.Dec.Equal(decimal.RequireFromString("1.5")))
	assert.Equal(t, time.Second, r.Dur)
	assert.Equal(t, 'a', r.R)
	require.NotNil(t, r.Name)
	assert.Equal(t, "alpha", *r.Name)
	assert.Equal(t, 1, r.Obj.K)
	assert.JSONEq(t, "[1,2]", string(r.Arr))
	assert.Nil(t, rows[1].Name)
	assert.Nil(t, rows[1].Arr)
	assert.Equal(t, uint64(1<<63), rows[3].U64)

	type asString struct {
		Dec string `srdb:"dec"`
	}
	var s asString
	first, err := tbl.Get(1)
	require.NoError(t, err)
	require.NoError(t, first.Scan(&s))
	assert.Equal(t, "1.5", s.Dec)

	// Row values are not aliased by scanned byte slices.
	var a all
	require.NoError(t, first.Scan(&a))
	a.Blob[0] = 'X'
	v, _ := first.Get("blob")
	assert.Equal(t, []byte("abc"), v)
}

// TestQueryScanDirectMatchesRowScan: Query.Scan into structs decodes the
// rows straight from their bytes (query_scan_direct.go); every struct shape
// below must come out exactly as Row.Scan fills it from the Row, value for
// value, and fail with the same error code and field where Row.Scan fails.
func TestQueryScanDirectMatchesRowScan(t *testing.T) {
	tbl := openTypesTable(t)
	// A field added after the rows were written: old rows read NULL.
	require.NoError(t, tbl.AddField(Field{Name: "late", Type: Int32, Nullable: true}))
	_, err := tbl.Insert(map[string]any{"i8": int8(1), "i64": int64(1), "u64": uint64(1), "f32": float32(1), "f64": 1.0,
		"dec": "1", "tm": time.Unix(5, 0), "dur": time.Minute, "flag": true, "r": 'z', "late": int32(-9)})
	require.NoError(t, err)
	type Inner struct {
		Late int64 `srdb:"late"`
	}
	type wide struct {
		Seq  uint32    `srdb:"_seq"`
		When time.Time `srdb:"_time"`
		I8   int64     `srdb:"i8"`
		I64  float64   `srdb:"i64"`
		U64  uint64    `srdb:"u64"`
		F32  float64   `srdb:"f32"`
		F64  float64   `srdb:"f64"`
		Dec  string    `srdb:"dec"`
		Tm   *time.Time
		Dur  time.Duration `srdb:"dur"`
		Flag bool          `srdb:"flag"`
		R    int32         `srdb:"r"`
		Blob []byte        `srdb:"blob"`
		Any  any           `srdb:"obj"`
		Arr  []any         `srdb:"arr"`
		*Inner
	}
	type named string
	type narrow struct {
		When int64   `srdb:"_time"`
		Name named   `srdb:"name"`
		Blob string  `srdb:"blob"`
		F64  float32 `srdb:"f64"`
		I8   int8    `srdb:"i8"`
		U64  float64 `srdb:"u64"`
		Dur  int64   `srdb:"dur"`
		Flag bool    `srdb:"flag"`
	}
	type overflow struct {
		I64 int64 `srdb:"i64"`
		U64 int64 `srdb:"u64"` // MaxUint64 does not fit: an error on row 3
	}
	type ptrs struct {
		I64  *int64  `srdb:"i64"`
		Flag *bool   `srdb:"flag"`
		Late *uint16 `srdb:"late"` // -9 does not fit: an error on the last row
	}
	viaRows := func(newDest func() any) ([]any, error) {
		rows, err := tbl.Query().Rows()
		require.NoError(t, err)
		defer rows.Close()
		var out []any
		for rows.Next() {
			d := newDest()
			if err := rows.Row().Scan(d); err != nil {
				return out, err
			}
			out = append(out, reflect.ValueOf(d).Elem().Interface())
		}
		return out, rows.Err()
	}
	check := func(name string, wantErr bool, newDest func() any, direct func() ([]any, error)) {
		want, werr := viaRows(newDest)
		got, gerr := direct()
		require.Equal(t, wantErr, werr != nil, "%s: Row.Scan: %v", name, werr)
		if werr != nil || gerr != nil {
			require.Error(t, werr, name)
			require.Error(t, gerr, "%s: Row.Scan failed with %v", name, werr)
			require.Equal(t, ErrorCode(werr), ErrorCode(gerr), name)
			var we, ge *Error
			require.True(t, errors.As(werr, &we) && errors.As(gerr, &ge), name)
			require.Equal(t, we.Field, ge.Field, name)
			return
		}
		require.Equal(t, len(want), len(got), name)
		for i := range want {
			require.True(t, sameScanned(reflect.ValueOf(want[i]), reflect.ValueOf(got[i])), "%s row %d:\n%+v\n%+v", name, i, want[i], got[i])
		}
	}
	check("wide", false, func() any { return &wide{} }, func() ([]any, error) {
		var out []wide
		err := tbl.Query().Scan(&out)
		return toAnys(out), err
	})
	check("wide pointers", false, func() any { return &wide{} }, func() ([]any, error) {
		var out []*wide
		err := tbl.Query().Scan(&out)
		var anys []any
		for _, p := range out {
			anys = append(anys, *p)
		}
		return anys, err
	})
	check("narrow", false, func() any { return &narrow{} }, func() ([]any, error) {
		var out []narrow
		err := tbl.Query().Scan(&out)
		return toAnys(out), err
	})
	check("overflow", true, func() any { return &overflow{} }, func() ([]any, error) {
		var out []overflow
		err := tbl.Query().Scan(&out)
		return toAnys(out), err
	})
	check("ptrs", true, func() any { return &ptrs{} }, func() ([]any, error) {
		var out []ptrs
		err := tbl.Query().Scan(&out)
		return toAnys(out), err
	})
	// wide.Inner is allocated for a row whose late is not NULL, and left
	// nil for the others.
	var ws []wide
	require.NoError(t, tbl.Query().Scan(&ws))
	require.Nil(t, ws[0].Inner)
	require.NotNil(t, ws[len(ws)-1].Inner)
	require.Equal(t, int64(-9), ws[len(ws)-1].Late)

	// A nil embedded pointer to an unexported struct cannot be set by
	// reflection: an error from both paths, never a panic.
	type hidden struct {
		Name *string `srdb:"name"`
	}
	type outer struct {
		I8 int8 `srdb:"i8"`
		*hidden
	}
	check("unexported embedded pointer", true, func() any { return &outer{} }, func() ([]any, error) {
		var out []outer
		err := tbl.Query().Scan(&out)
		return toAnys(out), err
	})
}

func toAnys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// sameScanned is reflect.DeepEqual with NaN equal to NaN (a scanned NaN
// must come out of both Scan paths alike).
func sameScanned(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		return x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y)
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameScanned(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[time.Time]() {
			return reflect.DeepEqual(a.Interface(), b.Interface())
		}
		for i := range a.NumField() {
			if !sameScanned(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Kind() == reflect.Slice && a.IsNil() != b.IsNil() {
			return false
		}
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameScanned(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !sameScanned(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
