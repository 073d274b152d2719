package srdb

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func imRow() map[string]any {
	return map[string]any{
		"channel_id": "ch-0042",
		"from_uid":   "user-123456",
		"msg_id":     int64(9876543210),
		"msg_type":   uint8(1),
		"payload":    make([]byte, 200),
	}
}

func TestRowFromMap(t *testing.T) {
	s := imSchema(t)
	r, err := s.rowFromMap(imRow())
	require.NoError(t, err)
	assert.Equal(t, []any{"ch-0042", "user-123456", int64(9876543210), uint8(1), make([]byte, 200)}, r.vals)
	assert.False(t, r.hasTime)

	// JSON-style input: float64 numbers, string payload.
	m := map[string]any{"channel_id": "c", "from_uid": "u", "msg_id": 12.0, "msg_type": 3.0, "payload": "p"}
	r, err = s.rowFromMap(m)
	require.NoError(t, err)
	assert.Equal(t, []any{"c", "u", int64(12), uint8(3), []byte("p")}, r.vals)
}

func TestRowFromMapTime(t *testing.T) {
	s := imSchema(t)
	ts := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600))
	for _, tc := range []struct {
		name string
		v    any
		want int64
		has  bool
	}{
		{"time", ts, ts.UnixNano(), true},
		{"pointer", &ts, ts.UnixNano(), true},
		{"RFC3339Nano", "2030-01-02T03:04:05.000000006+01:00", ts.UnixNano(), true},
		{"epoch", time.Unix(0, 0), 0, true},
		{"before epoch", time.Unix(-5, 0), -5e9, true},
		{"min", time.Unix(0, math.MinInt64), math.MinInt64, true},
		{"max", time.Unix(0, math.MaxInt64), math.MaxInt64, true},
		{"nil", nil, 0, false},
		{"nil pointer", (*time.Time)(nil), 0, false},
		{"zero time", time.Time{}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := imRow()
			m["_time"] = tc.v
			r, err := s.rowFromMap(m)
			require.NoError(t, err)
			assert.Equal(t, tc.has, r.hasTime)
			assert.Equal(t, tc.want, r.timeNanos)
		})
	}
	for _, tc := range []struct {
		name string
		v    any
		msg  string
	}{
		{"int", 12345, "expected time.Time or an RFC 3339 string, got int"},
		{"bad string", "soon", `"soon" is not an RFC 3339 time`},
		{"too late", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), "outside the range"},
		{"too early", time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), "outside the range"},
		{"duration", time.Second, "got time.Duration"},
	} {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			m := imRow()
			m["_time"] = tc.v
			_, err := s.rowFromMap(m)
			assertViolation(t, err, "_time", tc.msg)
		})
	}
}

func TestRowFromMapErrors(t *testing.T) {
	s := imSchema(t)
	_, err := s.rowFromMap(nil)
	assertViolation(t, err, "", "nil row")

	_, err = s.rowFromMap(map[string]any{})
	assertViolation(t, err, "channel_id", "missing value for non-nullable string field")

	m := imRow()
	delete(m, "msg_id")
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "msg_id", "missing value")

	m = imRow()
	m["msg_id"] = nil
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "msg_id", "NULL value for non-nullable int64 field")

	m = imRow()
	m["extra"] = 1
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "extra", "unknown field", `table "messages"`)

	m = imRow()
	m["zz"], m["aa"], m["mm"] = 1, 2, 3
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "aa", "3 unknown keys", "aa, mm, zz") // stable: smallest key named

	m = imRow()
	m["_seq"] = int64(5)
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "_seq", "assigned by the database")

	m = imRow()
	m["Channel_ID"] = "x" // names are case sensitive
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "Channel_ID", "unknown field")

	m = imRow()
	m["msg_type"] = 256
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "msg_type", "256 (int) is out of range for uint8")

	m = imRow()
	m["payload"] = 12
	_, err = s.rowFromMap(m)
	assertViolation(t, err, "payload", "expected bytes, got int")
}

func TestRowFromMapNullable(t *testing.T) {
	s, err := NewSchema("t", []Field{
		{Name: "a", Type: Int, Nullable: true},
		{Name: "b", Type: String, Nullable: true},
	})
	require.NoError(t, err)
	r, err := s.rowFromMap(map[string]any{})
	require.NoError(t, err)
	assert.Equal(t, []any{nil, nil}, r.vals)
	r, err = s.rowFromMap(map[string]any{"a": nil, "b": (*string)(nil)})
	require.NoError(t, err)
	assert.Equal(t, []any{nil, nil}, r.vals)
	r, err = s.rowFromMap(map[string]any{"_time": time.Unix(1, 0)})
	require.NoError(t, err)
	assert.Equal(t, []any{nil, nil}, r.vals)
	assert.Equal(t, int64(1e9), r.timeNanos)
}

// ---- rowFromStruct ----

type imMessage struct {
	ChannelID string `srdb:";indexed"`
	FromUID   string
	MsgID     int64 `srdb:";indexed"`
	MsgType   uint8
	Payload   []byte
	Internal  string    `srdb:"-"`
	Seq       int64     `srdb:"_seq"`
	SentAt    time.Time `srdb:"_time"`
	private   int
}

func TestRowFromStruct(t *testing.T) {
	fields, err := StructToFields(imMessage{})
	require.NoError(t, err)
	s, err := NewSchema("messages", fields)
	require.NoError(t, err)
	assert.Equal(t, imSchema(t).Fields(), s.Fields())

	ts := time.Date(2025, 6, 7, 8, 9, 10, 11, time.UTC)
	msg := imMessage{ChannelID: "c", FromUID: "u", MsgID: 7, MsgType: 2, Payload: []byte{1}, Internal: "x", Seq: 99, SentAt: ts, private: 1}
	for _, in := range []any{msg, &msg} {
		r, err := s.rowFromStruct(reflect.ValueOf(in))
		require.NoError(t, err)
		assert.Equal(t, []any{"c", "u", int64(7), uint8(2), []byte{1}}, r.vals)
		assert.True(t, r.hasTime)
		assert.Equal(t, ts.UnixNano(), r.timeNanos)
	}
	// A pointer to a pointer works; the payload is copied.
	pp := &msg
	r, err := s.rowFromStruct(reflect.ValueOf(&pp))
	require.NoError(t, err)
	msg.Payload[0] = 9
	assert.Equal(t, []byte{1}, r.vals[4])

	// A zero _time field leaves the time to the engine.
	msg.SentAt = time.Time{}
	r, err = s.rowFromStruct(reflect.ValueOf(msg))
	require.NoError(t, err)
	assert.False(t, r.hasTime)
	// An out-of-range one is rejected.
	msg.SentAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = s.rowFromStruct(reflect.ValueOf(msg))
	assertViolation(t, err, "_time", "outside the range")

	// The same struct type converts through the cached plan.
	_, ok := s.plans.Load(reflect.TypeFor[imMessage]())
	assert.True(t, ok)
}

func TestRowFromStructMapping(t *testing.T) {
	s, err := NewSchema("t", []Field{
		{Name: "id", Type: Int64},
		{Name: "created", Type: Time, Nullable: true},
		{Name: "note", Type: String, Nullable: true},
		{Name: "score", Type: Float32, Nullable: true},
		{Name: "age", Type: Uint8},
	})
	require.NoError(t, err)

	// A struct with fewer fields: absent nullable fields are NULL; types
	// convert (int → uint8, float64 → float32); embedded structs flatten.
	type small struct {
		embeddedBase           // id, created
		*embeddedExtra         // note, through a pointer
		Age            int     `srdb:"age"`
		Score          float64 `srdb:"score"`
	}
	ts := time.Unix(100, 0).UTC()
	r, err := s.rowFromStruct(reflect.ValueOf(small{embeddedBase: embeddedBase{ID: 1, Created: ts}, Age: 30, Score: 0.5}))
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), ts, nil, float32(0.5), uint8(30)}, r.vals)
	assert.False(t, r.hasTime)

	r, err = s.rowFromStruct(reflect.ValueOf(small{embeddedExtra: &embeddedExtra{Note: "n"}, Age: 1}))
	require.NoError(t, err)
	assert.Equal(t, []any{int64(0), time.Time{}, "n", float32(0), uint8(1)}, r.vals)

	_, err = s.rowFromStruct(reflect.ValueOf(small{Age: 300}))
	assertViolation(t, err, "age", "300 (int) is out of range for uint8")

	// Pointer fields: nil is NULL.
	type ptrs struct {
		ID    *int64
		Age   uint8
		Score *float32
	}
	r, err = s.rowFromStruct(reflect.ValueOf(ptrs{ID: ptr(int64(5))}))
	require.NoError(t, err)
	assert.Equal(t, []any{int64(5), nil, nil, nil, uint8(0)}, r.vals)
	_, err = s.rowFromStruct(reflect.ValueOf(ptrs{}))
	assertViolation(t, err, "id", "NULL value (nil *int64)")

	// _time through a pointer.
	type withTimePtr struct {
		ID  int64
		Age uint8
		At  *time.Time `srdb:"_time"`
	}
	r, err = s.rowFromStruct(reflect.ValueOf(withTimePtr{At: &ts}))
	require.NoError(t, err)
	assert.True(t, r.hasTime)
	assert.Equal(t, ts.UnixNano(), r.timeNanos)
	r, err = s.rowFromStruct(reflect.ValueOf(withTimePtr{}))
	require.NoError(t, err)
	assert.False(t, r.hasTime)

	// A non-nullable field reached through a nil embedded pointer.
	type idHolder struct{ ID int64 }
	type viaNilPtr struct {
		*idHolder
		Age uint8
	}
	_, err = s.rowFromStruct(reflect.ValueOf(viaNilPtr{}))
	assertViolation(t, err, "id", "NULL value")
	r, err = s.rowFromStruct(reflect.ValueOf(viaNilPtr{idHolder: &idHolder{ID: 3}}))
	require.NoError(t, err)
	assert.Equal(t, int64(3), r.vals[0])
}

func TestRowFromStructErrors(t *testing.T) {
	s := imSchema(t)
	tests := []struct {
		name  string
		in    reflect.Value
		field string
		msg   string
	}{
		{"invalid value", reflect.Value{}, "", "nil row"},
		{"nil pointer", reflect.ValueOf((*imMessage)(nil)), "", "nil row"},
		{"not a struct", reflect.ValueOf(42), "", "expected a struct row, got int"},
		{"map", reflect.ValueOf(map[string]any{}), "", "expected a struct row"},
		{"unknown field", reflect.ValueOf(struct {
			imMessage
			Extra int
		}{}), "extra", "Go field Extra"},
		{"missing non-nullable", reflect.ValueOf(struct {
			ChannelID string
		}{}), "from_uid", "missing value"},
		{"bad _time type", reflect.ValueOf(struct {
			ChannelID string
			When      int64 `srdb:"_time"`
		}{}), "_time", "needs time.Time"},
		{"duplicate names", reflect.ValueOf(struct {
			imMessage
			X string `srdb:"channel_id"`
		}{}), "channel_id", "both map to"},
		{"wrong type", reflect.ValueOf(struct {
			ChannelID int
			FromUID   string
			MsgID     int64
			MsgType   uint8
			Payload   []byte
		}{}), "channel_id", "expected string, got int"},
		{"bad tag", reflect.ValueOf(struct {
			ChannelID string `srdb:";bogus"`
		}{}), "", "bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = s.rowFromStruct(tc.in) })
			require.Error(t, err)
			assertViolation(t, err, tc.field, tc.msg)
			// Errors are cached with the plan and returned again.
			_, err2 := s.rowFromStruct(tc.in)
			assert.Equal(t, err.Error(), err2.Error())
		})
	}
	var p ptrLoop
	p = ptrLoop(&p)
	require.NotPanics(t, func() { _, err := s.rowFromStruct(reflect.ValueOf(p)); assert.Error(t, err) })
}

func TestRowFromStructConcurrent(t *testing.T) {
	s := imSchema(t)
	msg := imMessage{ChannelID: "c", FromUID: "u", MsgID: 1, Payload: []byte("p")}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r, err := s.rowFromStruct(reflect.ValueOf(&msg))
				if !assert.NoError(t, err) || !assert.Equal(t, "c", r.vals[0]) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// ---- applyChanges ----

func TestApplyChanges(t *testing.T) {
	s, err := NewSchema("t", []Field{
		{Name: "a", Type: Int64},
		{Name: "b", Type: String, Nullable: true},
		{Name: "c", Type: Bytes},
	})
	require.NoError(t, err)
	vals := []any{int64(1), "x", []byte("y")}

	out, err := s.applyChanges(vals, map[string]any{"a": 2.0, "b": nil})
	require.NoError(t, err)
	assert.Equal(t, []any{int64(2), nil, []byte("y")}, out)
	assert.Equal(t, []any{int64(1), "x", []byte("y")}, vals, "input must not change")

	out, err = s.applyChanges(vals, map[string]any{})
	require.NoError(t, err)
	assert.Equal(t, vals, out)
	out[0] = int64(5)
	assert.Equal(t, int64(1), vals[0], "an empty change set still returns a copy")

	for _, tc := range []struct {
		name    string
		changes map[string]any
		field   string
		msg     string
	}{
		{"nil", nil, "", "nil changes"},
		{"unknown", map[string]any{"zz": 1}, "zz", "unknown field"},
		{"seq", map[string]any{"_seq": 1}, "_seq", "assigned by the database"},
		{"time", map[string]any{"_time": time.Now()}, "_time", "cannot be changed"},
		{"NULL in non-nullable", map[string]any{"a": nil}, "a", "NULL value"},
		{"bad type", map[string]any{"c": 1}, "c", "expected bytes, got int"},
		{"range", map[string]any{"a": uint64(math.MaxUint64)}, "a", "out of range"},
		{"unknown with valid", map[string]any{"a": 1, "bb": 2}, "bb", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.applyChanges(vals, tc.changes)
			assertViolation(t, err, tc.field, tc.msg)
		})
	}
	_, err = s.applyChanges(vals[:2], map[string]any{"a": 1})
	assert.Equal(t, CodeInvalidArgument, ErrorCode(err))
}

// BenchmarkRowFromMap measures the insert hot path for the IM workload row.
func BenchmarkRowFromMap(b *testing.B) {
	s := imSchema(b)
	m := imRow()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.rowFromMap(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRowFromMapJSON is the same row as decoded from JSON (float64
// numbers, base64-less string payload).
func BenchmarkRowFromMapJSON(b *testing.B) {
	s := imSchema(b)
	m := map[string]any{"channel_id": "ch-0042", "from_uid": "user-123456", "msg_id": 9876543210.0, "msg_type": 1.0, "payload": strings.Repeat("p", 200)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.rowFromMap(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRowFromStruct measures struct inserts through the cached plan.
func BenchmarkRowFromStruct(b *testing.B) {
	s := imSchema(b)
	msg := &imMessage{ChannelID: "ch-0042", FromUID: "user-123456", MsgID: 9876543210, MsgType: 1, Payload: make([]byte, 200)}
	v := reflect.ValueOf(msg)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.rowFromStruct(v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRowFromStructDirectReaders covers the plan's direct (no boxing)
// readers for every kind, and their error path, against the generic path.
func TestRowFromStructDirectReaders(t *testing.T) {
	s, err := NewSchema("t", []Field{
		{Name: "s", Type: String},
		{Name: "i", Type: Int16},
		{Name: "u", Type: Uint32},
		{Name: "f", Type: Float32},
		{Name: "b", Type: Bool},
		{Name: "p", Type: Bytes},
		{Name: "d", Type: Decimal},
		{Name: "n", Type: Int64},
		{Name: "x", Type: Float64},
	})
	require.NoError(t, err)
	type kinds struct {
		S convMyString  `srdb:"s"`
		I int8          `srdb:"i"`
		U uint64        `srdb:"u"`
		F float64       `srdb:"f"`
		B convMyBool    `srdb:"b"`
		P convMyBytes   `srdb:"p"`
		D uint16        `srdb:"d"`
		N time.Duration `srdb:"n"`
		X int           `srdb:"x"`
	}
	in := kinds{S: "s", I: -8, U: 32, F: 0.5, B: true, P: convMyBytes("p"), D: 7, N: time.Second, X: 3}
	r, err := s.rowFromStruct(reflect.ValueOf(in))
	require.NoError(t, err)
	want := []any{"s", int16(-8), uint32(32), float32(0.5), true, []byte("p"), nil, int64(time.Second), float64(3)}
	for i, w := range want {
		if i == 6 {
			assert.True(t, decimal.NewFromInt(7).Equal(r.vals[6].(decimal.Decimal)))
			continue
		}
		assertSameValue(t, w, r.vals[i])
	}
	in.P[0] = 'X'
	assert.Equal(t, []byte("p"), r.vals[5], "bytes are copied")

	bad := in
	bad.U = math.MaxUint32 + 1
	_, err = s.rowFromStruct(reflect.ValueOf(bad))
	assertViolation(t, err, "u", "4294967296 (uint64) is out of range for uint32")
	bad = in
	bad.F = 1e300
	_, err = s.rowFromStruct(reflect.ValueOf(bad))
	assertViolation(t, err, "f", "(float64) is out of range for float32")
	bad = in
	bad.X = -1 << 62
	_, err = s.rowFromStruct(reflect.ValueOf(bad))
	require.NoError(t, err, "any int converts to float64")
}
