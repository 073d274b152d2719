package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allRowTypes lists the 22 field types in enum order.
func allRowTypes() []FieldType {
	types := make([]FieldType, 0, numFieldTypes-1)
	for t := Int; t < numFieldTypes; t++ {
		types = append(types, t)
	}
	return types
}

// rowValueEqual reports whether two decoded values of type t are the same
// value: floats by bit pattern (NaN, -0), decimals by coefficient and
// exponent, times by instant, nanoseconds and zone (name and offset), byte
// slices by content, everything else by reflect.DeepEqual.
func rowValueEqual(t FieldType, a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch t {
	case Float32:
		x, ok1 := a.(float32)
		y, ok2 := b.(float32)
		return ok1 && ok2 && math.Float32bits(x) == math.Float32bits(y)
	case Float64:
		x, ok1 := a.(float64)
		y, ok2 := b.(float64)
		return ok1 && ok2 && math.Float64bits(x) == math.Float64bits(y)
	case Decimal:
		x, ok1 := a.(decimal.Decimal)
		y, ok2 := b.(decimal.Decimal)
		// Not x.Equal(y): that rescales, which is unbounded for fuzzed exponents.
		return ok1 && ok2 && x.Exponent() == y.Exponent() && x.Coefficient().Cmp(y.Coefficient()) == 0
	case Time:
		x, ok1 := a.(time.Time)
		y, ok2 := b.(time.Time)
		if !ok1 || !ok2 {
			return false
		}
		xn, xo := x.Zone()
		yn, yo := y.Zone()
		return x.Unix() == y.Unix() && x.Nanosecond() == y.Nanosecond() && xn == yn && xo == yo
	case Bytes:
		x, ok1 := a.([]byte)
		y, ok2 := b.([]byte)
		return ok1 && ok2 && bytes.Equal(x, y)
	}
	return reflect.DeepEqual(a, b)
}

// requireRowValue checks that got is want decoded back, including the Go
// type and, for a Time, the printed form.
func requireRowValue(t *testing.T, typ FieldType, want, got any) {
	t.Helper()
	if want != nil {
		require.IsType(t, want, got, "type %s", typ)
	}
	require.True(t, rowValueEqual(typ, want, got), "type %s: want %#v, got %#v", typ, want, got)
	if typ == Time && want != nil {
		require.Equal(t, want.(time.Time).Round(0).String(), got.(time.Time).String())
	}
}

func mustDecimal(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	require.NoError(t, err)
	return d
}

func tokyo(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return loc
}

// rowRoundTripCases returns, per type, values that must survive a round trip.
func rowRoundTripCases(t *testing.T) map[FieldType][]any {
	big16 := strings.Repeat("0123456789abcdef", 1<<20) // 16 MiB
	if testing.Short() {
		big16 = big16[:1<<20]
	}
	nsTime := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)
	return map[FieldType][]any{
		Int:     {0, 1, -1, math.MinInt, math.MaxInt},
		Int8:    {int8(0), int8(math.MinInt8), int8(math.MaxInt8), int8(-1)},
		Int16:   {int16(0), int16(math.MinInt16), int16(math.MaxInt16)},
		Int32:   {int32(0), int32(math.MinInt32), int32(math.MaxInt32)},
		Int64:   {int64(0), int64(math.MinInt64), int64(math.MaxInt64), int64(-42)},
		Uint:    {uint(0), uint(math.MaxUint)},
		Uint8:   {uint8(0), uint8(math.MaxUint8)},
		Uint16:  {uint16(0), uint16(math.MaxUint16)},
		Uint32:  {uint32(0), uint32(math.MaxUint32)},
		Uint64:  {uint64(0), uint64(math.MaxUint64), uint64(1 << 63)},
		Float32: {float32(0), float32(math.Copysign(0, -1)), float32(math.NaN()), math.Float32frombits(0x7fa00001), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32), float32(-1.5)},
		Float64: {0.0, math.Copysign(0, -1), math.NaN(), math.Float64frombits(0x7ff4000000000001), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, -1.5e-300},
		String:  {"", "a", "héllo, 世界", "\x00\xff\xfe not utf-8", big16},
		Bool:    {true, false},
		Byte:    {byte(0), byte(0xff)},
		Rune:    {'é', rune(math.MaxInt32), rune(-1), rune(0)},
		Decimal: {
			mustDecimal(t, "123456789012345678901234567890.123456789"),
			mustDecimal(t, "-98765432109876543210987654321098765"),
			decimal.Zero,
			decimal.Decimal{},
			decimal.New(0, -7),
			decimal.New(1, -1000),
			decimal.New(-123456789, math.MinInt32),
			decimal.New(5, math.MaxInt32),
			decimal.New(100, 0), // kept as 100×10^0, not 1×10^2
			mustDecimal(t, "-0.000000000000000000000000000000000001"),
		},
		Time: {
			nsTime,
			time.Date(2024, 7, 1, 12, 0, 0, 1, time.Local),
			time.Date(2024, 7, 1, 12, 0, 0, 999999999, tokyo(t)),
			time.Date(1969, 12, 31, 23, 59, 59, 500, time.FixedZone("NST", -(3*3600+30*60))),
			time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)),
			time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC", 0)),
			time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC", 7200)),
			time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			time.Time{},
			time.Now(), // carries a monotonic reading, which is dropped
		},
		Duration: {time.Duration(0), time.Duration(math.MinInt64), time.Duration(math.MaxInt64), -time.Nanosecond},
		Object: {
			map[string]any{},
			map[string]any{"a": 1.5, "b": "x", "c": true, "d": nil,
				"nested": map[string]any{"list": []any{1.0, "two", []any{}, map[string]any{"deep": false}}},
				"<html>": "&"},
		},
		Array: {
			[]any{},
			[]any{1.0, -2.5, "s", nil, true, []any{[]any{map[string]any{"k": []any{3.0}}}}},
		},
		Bytes: {[]byte{}, []byte{0, 1, 2, 0xff}, []byte(big16)},
	}
}

func TestRowRoundTripEveryType(t *testing.T) {
	cases := rowRoundTripCases(t)
	require.Len(t, cases, 22)
	for typ, values := range cases {
		t.Run(typ.String(), func(t *testing.T) {
			for k, want := range values {
				// The value sits between a NULL and a String so that offsets
				// other than 0 are exercised.
				types := []FieldType{typ, String, typ, typ}
				vals := []any{want, "mid", nil, want}
				buf, err := encodeRow(nil, int64(k)+1, 1700000000123456789, types, vals)
				require.NoError(t, err, "value %d", k)

				seq, ts, got, err := decodeRow(buf, types)
				require.NoError(t, err, "value %d", k)
				require.Equal(t, int64(k)+1, seq)
				require.Equal(t, int64(1700000000123456789), ts)
				require.Len(t, got, 4)
				requireRowValue(t, typ, want, got[0])
				require.Equal(t, "mid", got[1])
				require.Nil(t, got[2])
				requireRowValue(t, typ, want, got[3])
			}
		})
	}
}

func TestRowRoundTripNormalizesNilJSON(t *testing.T) {
	types := []FieldType{Object, Array, Bytes}
	buf, err := encodeRow(nil, 1, 1, types, []any{map[string]any(nil), []any(nil), []byte(nil)})
	require.NoError(t, err)
	_, _, got, err := decodeRow(buf, types)
	require.NoError(t, err)
	// A typed nil is a value, not NULL: it comes back empty.
	require.Equal(t, map[string]any{}, got[0])
	require.Equal(t, []any{}, got[1])
	require.Equal(t, []byte{}, got[2])
}

func TestRowJSONNumbersComeBackAsFloat64(t *testing.T) {
	types := []FieldType{Object, Array}
	buf, err := encodeRow(nil, 1, 1, types, []any{map[string]any{"n": 7}, []any{int64(3), uint8(4)}})
	require.NoError(t, err)
	_, _, got, err := decodeRow(buf, types)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"n": 7.0}, got[0])
	require.Equal(t, []any{3.0, 4.0}, got[1])
}

func TestRowDecimalExact(t *testing.T) {
	for _, s := range []string{
		"123456789012345678901234567890.123456789",
		"-123456789012345678901234567890.123456789",
		"0", "-0.00", "0.000000000000000000000000000000000000000000001",
		"99999999999999999999999999999999999999999999999999999999999999",
	} {
		d := mustDecimal(t, s)
		buf, err := encodeRow(nil, 1, 1, []FieldType{Decimal}, []any{d})
		require.NoError(t, err)
		_, _, got, err := decodeRow(buf, []FieldType{Decimal})
		require.NoError(t, err)
		g := got[0].(decimal.Decimal)
		require.Equal(t, d.String(), g.String(), s)
		require.True(t, d.Equal(g), s)
		require.Equal(t, d.Exponent(), g.Exponent(), s)
		require.Equal(t, 0, d.Coefficient().Cmp(g.Coefficient()), s)
	}
}

func TestRowDecimalEncodingBytes(t *testing.T) {
	// -258 × 10^-2: exponent -2, sign 1, magnitude 0x01 0x02.
	buf, err := encodeRow(nil, 0, 0, []FieldType{Decimal}, []any{decimal.New(-258, -2)})
	require.NoError(t, err)
	v, err := parseRow(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{0xfe, 0xff, 0xff, 0xff, 1, 0x01, 0x02}, v.raw(0))

	buf, err = encodeRow(nil, 0, 0, []FieldType{Decimal}, []any{decimal.Zero})
	require.NoError(t, err)
	v, err = parseRow(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 0, 0, 0, 0}, v.raw(0))
}

func TestRowTimeLocation(t *testing.T) {
	tk := tokyo(t)
	at := time.Date(2024, 7, 1, 12, 0, 0, 0, tk)
	name, off := at.Zone()

	// The zone of the "local" location at that instant is restored as that location.
	require.Same(t, tk, rowTimeLocation(at, []byte(name), off, tk))
	// "UTC"/0 is always time.UTC.
	require.Same(t, time.UTC, rowTimeLocation(at, []byte("UTC"), 0, tk))
	// Anything else is a fixed zone that prints the same.
	loc := rowTimeLocation(at, []byte(name), off, time.UTC)
	gn, goff := at.In(loc).Zone()
	require.Equal(t, name, gn)
	require.Equal(t, off, goff)
	require.Equal(t, at.String(), at.In(loc).String())
	// Same name, other offset: not the local zone.
	loc = rowTimeLocation(at, []byte(name), off+60, tk)
	require.NotSame(t, tk, loc)
}

func TestRowTimeLocalRoundTrip(t *testing.T) {
	want := time.Date(2024, 1, 15, 8, 30, 0, 42, time.Local)
	buf, err := encodeRow(nil, 1, 1, []FieldType{Time}, []any{want})
	require.NoError(t, err)
	_, _, got, err := decodeRow(buf, []FieldType{Time})
	require.NoError(t, err)
	g := got[0].(time.Time)
	requireRowValue(t, Time, want, g)
	if name, off := want.Zone(); name == "UTC" && off == 0 {
		require.Same(t, time.UTC, g.Location())
	} else {
		require.Same(t, time.Local, g.Location())
	}
}

func TestRowNullInEveryType(t *testing.T) {
	types := allRowTypes()
	vals := make([]any, len(types))
	buf, err := encodeRow(nil, 9, 10, types, vals)
	require.NoError(t, err)
	require.Len(t, buf, rowHeaderSize+len(types)*rowNarrowEntry, "NULLs take no data bytes; entries are narrow")

	_, _, got, err := decodeRow(buf, types)
	require.NoError(t, err)
	require.Equal(t, vals, got)

	v, err := parseRow(buf)
	require.NoError(t, err)
	for i, typ := range types {
		require.True(t, v.isNull(i))
		require.Nil(t, v.raw(i))
		x, err := v.value(i, typ)
		require.NoError(t, err)
		require.Nil(t, x)
		pos := rowHeaderSize + i*rowNarrowEntry
		require.Equal(t, uint16(0), binary.LittleEndian.Uint16(buf[pos:]))
		require.Equal(t, uint16(0xFFFF), binary.LittleEndian.Uint16(buf[pos+2:]))
	}
	_, ok, err := v.int64At(0, Int)
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = v.uint64At(9, Uint64)
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = v.float64At(11, Float64)
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = v.boolAt(13)
	require.NoError(t, err)
	require.False(t, ok)
	b, ok := v.bytesAt(12)
	require.False(t, ok)
	require.Nil(t, b)
}

func TestRowAllTypesInOneRow(t *testing.T) {
	cases := rowRoundTripCases(t)
	types := allRowTypes()
	vals := make([]any, len(types))
	for i, typ := range types {
		vs := cases[typ]
		vals[i] = vs[len(vs)/2]
	}
	vals[5] = nil // one NULL in the middle
	buf, err := encodeRow(nil, 1, 2, types, vals)
	require.NoError(t, err)
	_, _, got, err := decodeRow(buf, types)
	require.NoError(t, err)
	for i, typ := range types {
		requireRowValue(t, typ, vals[i], got[i])
	}
	// Any subset, in any order, with repeats.
	want := []int{21, 0, 17, 17, 5, 12}
	sub, err := decodeRowFields(buf, types, want)
	require.NoError(t, err)
	require.Len(t, sub, len(want))
	for k, i := range want {
		requireRowValue(t, types[i], vals[i], sub[k])
	}
}

func TestRowLayoutBytes(t *testing.T) {
	types := []FieldType{Int16, String, Bool, Uint32}
	vals := []any{int16(-2), "hi", nil, uint32(0xAABBCCDD)}
	buf, err := encodeRow([]byte("prefix"), 0x0102030405060708, -2, types, vals)
	require.NoError(t, err)
	head := []byte("prefix")
	head = append(head, 'R', 'O', 'W', '1')
	head = append(head, 8, 7, 6, 5, 4, 3, 2, 1)                         // Seq
	head = append(head, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // Time
	data := []byte{0xfe, 0xff, 'h', 'i', 0xdd, 0xcc, 0xbb, 0xaa}

	want := bytes.Clone(head)
	want = append(want, 4, 0x80)          // Count: 4 fields, narrow entries
	want = append(want, 0, 0, 2, 0)       // field 0: offset 0 size 2
	want = append(want, 2, 0, 2, 0)       // field 1: offset 2 size 2
	want = append(want, 0, 0, 0xff, 0xff) // field 2: NULL
	want = append(want, 4, 0, 4, 0)       // field 3: offset 4 size 4
	want = append(want, data...)
	require.Equal(t, want, buf)

	wide, fits, err := encodeRowWidth([]byte("prefix"), 0x0102030405060708, -2, types, vals, rowWide)
	require.NoError(t, err)
	require.True(t, fits)
	want = bytes.Clone(head)
	want = append(want, 4, 0)                               // Count: 4 fields, wide entries
	want = append(want, 0, 0, 0, 0, 2, 0, 0, 0)             // field 0: offset 0 size 2
	want = append(want, 2, 0, 0, 0, 2, 0, 0, 0)             // field 1: offset 2 size 2
	want = append(want, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff) // field 2: NULL
	want = append(want, 4, 0, 0, 0, 4, 0, 0, 0)             // field 3: offset 4 size 4
	want = append(want, data...)
	buf = wide
	require.Equal(t, want, buf)
}

func TestRowTimeEncodingBytes(t *testing.T) {
	tm := time.Date(1970, 1, 1, 1, 0, 1, 5, time.FixedZone("AB", 3600))
	buf, err := encodeRow(nil, 0, 0, []FieldType{Time}, []any{tm})
	require.NoError(t, err)
	v, err := parseRow(buf)
	require.NoError(t, err)
	want := []byte{1, 0, 0, 0, 0, 0, 0, 0, // unix seconds 1
		5, 0, 0, 0, // nanoseconds
		0x10, 0x0e, 0, 0, // offset 3600
		2, 0, 'A', 'B'} // zone name
	require.Equal(t, want, v.raw(0))
}

func TestRowZeroFields(t *testing.T) {
	buf, err := encodeRow(nil, -5, 77, nil, nil)
	require.NoError(t, err)
	require.Len(t, buf, rowHeaderSize)
	seq, ts, vals, err := decodeRow(buf, nil)
	require.NoError(t, err)
	require.Equal(t, int64(-5), seq)
	require.Equal(t, int64(77), ts)
	require.Empty(t, vals)

	// A schema that gained fields since: all of them read as NULL.
	_, _, vals, err = decodeRow(buf, []FieldType{Int64, String})
	require.NoError(t, err)
	require.Equal(t, []any{nil, nil}, vals)
}

func TestRowManyFields(t *testing.T) {
	n := rowMaxFields
	types := make([]FieldType, n)
	vals := make([]any, n)
	for i := range types {
		switch i % 3 {
		case 0:
			types[i], vals[i] = Uint16, uint16(i)
		case 1:
			types[i], vals[i] = String, strings.Repeat("x", i%7)
		default:
			types[i] = Int64 // NULL
		}
	}
	buf, err := encodeRow(nil, 1, 1, types, vals)
	require.NoError(t, err)
	v, err := parseRow(buf)
	require.NoError(t, err)
	require.Equal(t, n, v.numFields())
	_, _, got, err := decodeRow(buf, types)
	require.NoError(t, err)
	require.Equal(t, vals, got)

	_, err = encodeRow(nil, 1, 1, make([]FieldType, n+1), make([]any, n+1))
	require.Error(t, err)
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
}

func TestRowFieldBeyondCountReadsAsNull(t *testing.T) {
	buf, err := encodeRow(nil, 1, 1, []FieldType{Int64}, []any{int64(5)})
	require.NoError(t, err)
	types := []FieldType{Int64, Int64, String}
	_, _, vals, err := decodeRow(buf, types)
	require.NoError(t, err)
	require.Equal(t, []any{int64(5), nil, nil}, vals)

	v, err := parseRow(buf)
	require.NoError(t, err)
	for _, i := range []int{1, 2, 1000, -1} {
		require.True(t, v.isNull(i), "field %d", i)
		_, ok, err := v.int64At(i, Int64)
		require.NoError(t, err)
		require.False(t, ok)
		x, err := v.value(i, String)
		require.NoError(t, err)
		require.Nil(t, x)
	}
	// A row with more fields than the types given: extra fields are ignored.
	_, _, vals, err = decodeRow(buf, nil)
	require.NoError(t, err)
	require.Empty(t, vals)
}

// fieldData returns the position in buf of field i's data.
func fieldData(t *testing.T, buf []byte, i int) int {
	t.Helper()
	v, err := parseRow(buf)
	require.NoError(t, err)
	require.False(t, v.isNull(i))
	return v.fieldPos(i)
}

func TestRowPartialDecodeTouchesOnlyAskedFields(t *testing.T) {
	types := []FieldType{Bool, String, Int64, Object, Decimal, Time, Uint8}
	vals := []any{true, "keep", int64(-77), map[string]any{"a": 1.0}, decimal.New(12, 3),
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), uint8(200)}
	buf, err := encodeRow(nil, 1, 1, types, vals)
	require.NoError(t, err)

	// Corrupt the data of every field not asked for: each would fail to decode.
	buf[fieldData(t, buf, 0)] = 7                        // Bool byte neither 0 nor 1
	copy(buf[fieldData(t, buf, 3):], "{{{{{{{")          // invalid JSON
	buf[fieldData(t, buf, 4)+rowDecimalSignOffset] = 9   // bad Decimal sign
	buf[fieldData(t, buf, 5)+rowTimeNsecOffset+3] = 0xff // nanoseconds ≥ 1e9
	buf[fieldData(t, buf, 5)+rowTimeNameLenOffset] = 200 // zone name past the field

	got, err := decodeRowFields(buf, types, []int{1, 2, 6})
	require.NoError(t, err)
	require.Equal(t, []any{"keep", int64(-77), uint8(200)}, got)

	v, err := parseRow(buf)
	require.NoError(t, err)
	n, ok, err := v.int64At(2, Int64)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(-77), n)

	// Asking for any corrupted field, or decoding the whole row, fails.
	for _, i := range []int{0, 3, 4, 5} {
		_, err := decodeRowFields(buf, types, []int{1, i})
		require.ErrorIs(t, err, ErrCorrupted, "field %d", i)
	}
	_, _, _, err = decodeRow(buf, types)
	require.ErrorIs(t, err, ErrCorrupted)
	_, _, err = v.boolAt(0)
	require.ErrorIs(t, err, ErrCorrupted)

	_, err = decodeRowFields(buf, types, []int{7})
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
	_, err = decodeRowFields(buf, types, []int{-1})
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
}

// putEntry overwrites the offset-table entry of field i, in width w.
func putEntry(buf []byte, w rowEntryWidth, i int, off, size uint32) {
	w.put(buf, rowHeaderSize+i*w.size, off, size)
}

func TestRowMalformedHeaderIsCorrupted(t *testing.T) {
	for _, w := range []rowEntryWidth{rowNarrow, rowWide} {
		t.Run(fmt.Sprintf("entries of %d bytes", w.size), func(t *testing.T) { rowMalformedHeader(t, w) })
	}
}

func rowMalformedHeader(t *testing.T, w rowEntryWidth) {
	types := []FieldType{String, Int64, Bytes}
	good, fits, err := encodeRowWidth(nil, 1, 2, types, []any{"abc", int64(1), []byte("xyz")}, w)
	require.NoError(t, err)
	require.True(t, fits)
	rowEntrySize := w.size
	dataLen := len(good) - (rowHeaderSize + 3*rowEntrySize)
	wrapOff := uint32(0xFFFFFFF8) // wide entries: 0xFFFFFFF8+0x10 wraps to 8 in uint32
	if w == rowNarrow {
		wrapOff = 0xFFF8 // narrow: 0xFFF8+0x10 wraps to 8 in uint16
	}
	putEntry := func(b []byte, i int, off, size uint32) { putEntry(b, w, i, off, size) }
	rowNullSize := w.null

	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":              {},
		"nil":                nil,
		"short header":       good[:rowHeaderSize-1],
		"magic only":         []byte("ROW1"),
		"bad magic":          mutate(func(b []byte) []byte { b[0] = 'X'; return b }),
		"newer version":      mutate(func(b []byte) []byte { b[3] = '2'; return b }),
		"lower-case magic":   mutate(func(b []byte) []byte { copy(b, "row1"); return b }),
		"table truncated":    good[:rowHeaderSize+2*rowEntrySize+3],
		"count too large":    mutate(func(b []byte) []byte { b[rowCountOffset] = 200; return b }),
		"count max":          mutate(func(b []byte) []byte { b[rowCountOffset], b[rowCountOffset+1] = 0xff, 0xff; return b }),
		"offset out of data": mutate(func(b []byte) []byte { putEntry(b, 1, uint32(dataLen)+1, 0); return b }),
		"size past end":      mutate(func(b []byte) []byte { putEntry(b, 0, 0, uint32(dataLen)+1); return b }),
		"offset plus size":   mutate(func(b []byte) []byte { putEntry(b, 2, uint32(dataLen-2), 3); return b }),
		// The sum wraps to 8 in the entry's width, inside the 14-byte data area.
		"wrapping offset":  mutate(func(b []byte) []byte { putEntry(b, 0, wrapOff, 0x10); return b }),
		"huge size":        mutate(func(b []byte) []byte { putEntry(b, 0, 0, w.null-1); return b }),
		"null with offset": mutate(func(b []byte) []byte { putEntry(b, 1, 4, rowNullSize); return b }),
		"truncated data":   good[:len(good)-1],
		"data cut in half": good[:len(good)-dataLen/2],
	}
	for name, buf := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseRow(buf)
			require.ErrorIs(t, err, ErrCorrupted)
			require.True(t, IsCorrupted(err))
			require.Equal(t, CodeCorrupted, ErrorCode(err))
			require.Contains(t, err.Error(), "ROW1")
			_, _, _, err = decodeRow(buf, types)
			require.ErrorIs(t, err, ErrCorrupted)
			_, err = decodeRowFields(buf, types, nil)
			require.ErrorIs(t, err, ErrCorrupted)
		})
	}

	// Sanity: the unmutated row and a row with trailing bytes after the data are fine.
	_, err = parseRow(good)
	require.NoError(t, err)
	_, err = parseRow(append(bytes.Clone(good), 0, 0))
	require.NoError(t, err)
}

func TestRowMalformedValueIsCorrupted(t *testing.T) {
	// rawRow builds a row whose only field holds the given bytes.
	rawRow := func(data []byte) []byte {
		buf, err := encodeRow(nil, 1, 1, []FieldType{Bytes}, []any{data})
		require.NoError(t, err)
		return buf
	}
	timeBytes := func(nsec uint32, nameLen uint16, name string) []byte {
		b := binary.LittleEndian.AppendUint64(nil, 100)
		b = binary.LittleEndian.AppendUint32(b, nsec)
		b = binary.LittleEndian.AppendUint32(b, 3600)
		b = binary.LittleEndian.AppendUint16(b, nameLen)
		return append(b, name...)
	}
	cases := []struct {
		name string
		typ  FieldType
		data []byte
	}{
		{"int64 short", Int64, []byte{1, 2, 3, 4, 5, 6, 7}},
		{"int64 long", Int64, make([]byte, 9)},
		{"int empty", Int, []byte{}},
		{"int8 two bytes", Int8, []byte{1, 2}},
		{"uint16 odd", Uint16, []byte{1, 2, 3}},
		{"float32 width", Float32, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"float64 width", Float64, []byte{1, 2, 3, 4}},
		{"duration width", Duration, []byte{1}},
		{"rune width", Rune, []byte{1, 2}},
		{"byte empty", Byte, []byte{}},
		{"bool 2", Bool, []byte{2}},
		{"bool 0xff", Bool, []byte{0xff}},
		{"bool empty", Bool, []byte{}},
		{"decimal short", Decimal, []byte{0, 0, 0, 0}},
		{"decimal sign 2", Decimal, []byte{0, 0, 0, 0, 2, 1}},
		{"decimal leading zero", Decimal, []byte{0, 0, 0, 0, 0, 0, 1}},
		{"decimal negative zero", Decimal, []byte{0, 0, 0, 0, 1}},
		{"time short", Time, make([]byte, rowTimeFixedSize-1)},
		{"time nanos 1e9", Time, timeBytes(1e9, 3, "CET")},
		{"time nanos max", Time, timeBytes(math.MaxUint32, 0, "")},
		{"time zone name past field", Time, timeBytes(0, 4, "CET")},
		{"time bytes after zone name", Time, timeBytes(0, 2, "CET")},
		{"object invalid json", Object, []byte(`{"a":`)},
		{"object null", Object, []byte(`null`)},
		{"object is array", Object, []byte(`[1]`)},
		{"object empty", Object, []byte{}},
		{"object trailing", Object, []byte(`{} {}`)},
		{"array null", Array, []byte(`null`)},
		{"array is object", Array, []byte(`{}`)},
		{"array huge number", Array, []byte(`[1e999]`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := rawRow(c.data)
			v, err := parseRow(buf)
			require.NoError(t, err)
			_, err = v.value(0, c.typ)
			require.ErrorIs(t, err, ErrCorrupted)
			require.Contains(t, err.Error(), "field 0 ("+c.typ.String()+")")
			var e *Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, int64(v.fieldPos(0)), e.Offset)
			_, _, _, err = decodeRow(buf, []FieldType{c.typ})
			require.ErrorIs(t, err, ErrCorrupted)
		})
	}
	// The typed accessors check widths too.
	v, err := parseRow(rawRow([]byte("abc")))
	require.NoError(t, err)
	_, _, err = v.int64At(0, Int64)
	require.ErrorIs(t, err, ErrCorrupted)
	_, _, err = v.uint64At(0, Uint32)
	require.ErrorIs(t, err, ErrCorrupted)
	_, _, err = v.float64At(0, Float64)
	require.ErrorIs(t, err, ErrCorrupted)
	_, _, err = v.boolAt(0)
	require.ErrorIs(t, err, ErrCorrupted)
}

func TestRowEncodeWrongGoTypeIsError(t *testing.T) {
	var nilPtr *int
	wrong := map[FieldType][]any{
		Int:      {int64(1), int32(1), uint(1), 1.0, "1", nilPtr},
		Int8:     {1, int16(1), uint8(1)},
		Int16:    {1, int8(1)},
		Int32:    {1, int64(1), uint32(1)},
		Int64:    {1, time.Duration(1), uint64(1)},
		Uint:     {1, uint64(1)},
		Uint8:    {1, int8(1)},
		Uint16:   {1, int16(1)},
		Uint32:   {1, rune(1)},
		Uint64:   {1, uint(1), int64(1)},
		Float32:  {1.0, 1},
		Float64:  {float32(1), 1},
		String:   {[]byte("x"), 'x', &struct{}{}},
		Bool:     {1, "true"},
		Byte:     {1, int8(1)},
		Rune:     {'x' + 0i, "x", 1},
		Decimal:  {1.5, "1.5", &decimal.Decimal{}},
		Time:     {"2024-01-01T00:00:00Z", int64(0), &time.Time{}},
		Duration: {int64(1), 1.0, "1s"},
		Object:   {map[string]int{}, struct{}{}, []any{}, "{}"},
		Array:    {[]int{1}, map[string]any{}, "[]", [1]any{}},
		Bytes:    {"x", []int8{1}, [3]byte{}},
	}
	require.Len(t, wrong, 22)
	for typ, vals := range wrong {
		for _, val := range vals {
			dst := []byte("keep")
			out, err := encodeRow(dst, 1, 1, []FieldType{String, typ}, []any{"ok", val})
			require.Error(t, err, "%s <- %T", typ, val)
			require.ErrorIs(t, err, ErrSchemaViolation, "%s <- %T", typ, val)
			require.Contains(t, err.Error(), "field 1")
			require.Equal(t, []byte("keep"), out, "dst is returned unchanged")
		}
	}

	// Values JSON cannot encode.
	for _, val := range []any{map[string]any{"x": math.NaN()}, map[string]any{"c": make(chan int)}} {
		_, err := encodeRow(nil, 1, 1, []FieldType{Object}, []any{val})
		require.ErrorIs(t, err, ErrSchemaViolation)
	}
	_, err := encodeRow(nil, 1, 1, []FieldType{Array}, []any{[]any{math.Inf(1)}})
	require.ErrorIs(t, err, ErrSchemaViolation)

	// Invalid field types and mismatched lengths.
	for _, typ := range []FieldType{TypeInvalid, numFieldTypes, 255} {
		_, err := encodeRow(nil, 1, 1, []FieldType{typ}, []any{1})
		require.Equal(t, CodeInvalidArgument, ErrorCode(err))
	}
	_, err = encodeRow(nil, 1, 1, []FieldType{Int}, nil)
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))

	// Time zones the format cannot hold.
	_, err = encodeRow(nil, 1, 1, []FieldType{Time}, []any{time.Unix(0, 0).In(time.FixedZone(strings.Repeat("z", 1<<16), 0))})
	require.ErrorIs(t, err, ErrSchemaViolation)
	if hugeOffset := int64(1) << 40; int64(int(hugeOffset)) == hugeOffset { // 64-bit int
		_, err = encodeRow(nil, 1, 1, []FieldType{Time}, []any{time.Unix(0, 0).In(time.FixedZone("X", int(hugeOffset)))})
		require.ErrorIs(t, err, ErrSchemaViolation)
	}
}

func TestRowDecodeInvalidTypeIsError(t *testing.T) {
	buf, err := encodeRow(nil, 1, 1, []FieldType{Int}, []any{1})
	require.NoError(t, err)
	for _, typ := range []FieldType{TypeInvalid, numFieldTypes, 200} {
		_, _, _, err := decodeRow(buf, []FieldType{typ})
		require.Equal(t, CodeInvalidArgument, ErrorCode(err))
	}
}

func TestRowTypedAccessors(t *testing.T) {
	types := []FieldType{Int, Int8, Int16, Int32, Int64, Uint, Uint8,
		Uint16, Uint32, Uint64, Byte, Rune, Duration, Uint64,
		Float32, Float64, Bool, Bool, String, Bytes}
	vals := []any{-1, int8(-2), int16(-3), int32(-4), int64(math.MinInt64), uint(5), uint8(6),
		uint16(7), uint32(math.MaxUint32), uint64(math.MaxInt64), byte(9), rune(-10), -time.Hour, uint64(math.MaxUint64),
		float32(1.5), math.Inf(-1), true, false, "str", []byte{1, 2}}
	buf, err := encodeRow(nil, 1, 1, types, vals)
	require.NoError(t, err)
	v, err := parseRow(buf)
	require.NoError(t, err)

	wantInts := []int64{-1, -2, -3, -4, math.MinInt64, 5, 6, 7, math.MaxUint32, math.MaxInt64, 9, -10, int64(-time.Hour)}
	for i, want := range wantInts {
		got, ok, err := v.int64At(i, types[i])
		require.NoError(t, err, "field %d", i)
		require.True(t, ok)
		require.Equal(t, want, got, "field %d", i)

		u, ok, err := v.uint64At(i, types[i])
		if want < 0 {
			require.Equal(t, CodeInvalidArgument, ErrorCode(err), "field %d", i)
			require.False(t, ok)
		} else {
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, uint64(want), u)
		}
	}
	// uint64 above MaxInt64: int64At refuses, uint64At reads it.
	_, _, err = v.int64At(13, Uint64)
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
	u, ok, err := v.uint64At(13, Uint64)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(math.MaxUint64), u)

	f, ok, err := v.float64At(14, Float32)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1.5, f)
	f, ok, err = v.float64At(15, Float64)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, math.IsInf(f, -1))

	bv, ok, err := v.boolAt(16)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, bv)
	bv, ok, err = v.boolAt(17)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, bv)

	s, ok := v.bytesAt(18)
	require.True(t, ok)
	require.Equal(t, "str", string(s))
	b, ok := v.bytesAt(19)
	require.True(t, ok)
	require.Equal(t, []byte{1, 2}, b)

	// Accessors on the wrong kind of type are argument errors, not corruption.
	for _, typ := range []FieldType{Float64, Bool, String, Decimal, Time, TypeInvalid} {
		_, _, err := v.int64At(0, typ)
		require.Equal(t, CodeInvalidArgument, ErrorCode(err), "%s", typ)
		_, _, err = v.uint64At(0, typ)
		require.Equal(t, CodeInvalidArgument, ErrorCode(err), "%s", typ)
	}
	_, _, err = v.float64At(0, Int)
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
}

func TestRowBytesAtAliasesValueCopies(t *testing.T) {
	types := []FieldType{String, Bytes}
	buf, err := encodeRow(nil, 1, 1, types, []any{"abc", []byte("xyz")})
	require.NoError(t, err)
	v, err := parseRow(buf)
	require.NoError(t, err)

	alias, _ := v.bytesAt(0)
	s, err := v.value(0, String)
	require.NoError(t, err)
	b, err := v.value(1, Bytes)
	require.NoError(t, err)
	raw := v.raw(1)

	// Overwrite the row buffer: aliases see it, decoded values do not.
	buf[v.fieldPos(0)] = 'Z'
	buf[v.fieldPos(1)] = 'Q'
	require.Equal(t, "Zbc", string(alias))
	require.Equal(t, "Qyz", string(raw))
	require.Equal(t, "abc", s)
	require.Equal(t, []byte("xyz"), b)

	// An append to an aliased field cannot overwrite the next field.
	_ = append(alias, '!')
	require.Equal(t, "Qyz", string(v.raw(1)))
}

func TestRowEncodeAppendsAndReusesBuffer(t *testing.T) {
	types := []FieldType{String, Int64}
	first, err := encodeRow(nil, 1, 1, types, []any{"one", int64(1)})
	require.NoError(t, err)
	both, err := encodeRow(bytes.Clone(first), 2, 2, types, []any{"two", int64(2)})
	require.NoError(t, err)
	require.Equal(t, first, both[:len(first)])
	_, _, vals, err := decodeRow(both[len(first):], types)
	require.NoError(t, err)
	require.Equal(t, []any{"two", int64(2)}, vals)

	// An error part-way through leaves dst as it was, even after growth.
	dst := make([]byte, 3, 4)
	out, err := encodeRow(dst, 1, 1, []FieldType{Bytes, Int}, []any{make([]byte, 100), "bad"})
	require.Error(t, err)
	require.Len(t, out, 3)
}

func TestRowEncodeDoesNotAllocate(t *testing.T) {
	types, vals := imCodecRow()
	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		dst, err = encodeRow(dst[:0], 42, 1700000000000000000, types, vals)
		if err != nil {
			panic(err)
		}
	})
	require.Zero(t, allocs)

	v, err := parseRow(dst)
	require.NoError(t, err)
	allocs = testing.AllocsPerRun(100, func() {
		v, _ := parseRow(dst)
		_, _, _ = v.int64At(2, Int64)
		_, _, _ = v.int64At(3, Uint8)
		_, _ = v.bytesAt(0)
	})
	require.Zero(t, allocs)
	n, ok, err := v.int64At(2, Int64)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(1234567890123), n)
}

// imCodecRow returns the field types and values of the IM workload row.
func imCodecRow() ([]FieldType, []any) {
	types := []FieldType{String, String, Int64, Uint8, Bytes}
	payload := bytes.Repeat([]byte{'p'}, 200)
	vals := []any{"channel-000417", "user-0000123456", int64(1234567890123), uint8(1), payload}
	return types, vals
}

func TestLocateRowError(t *testing.T) {
	_, err := parseRow([]byte("XOW1-and-more-bytes-here"))
	require.Error(t, err)
	located := locateRowError(err, "000007.sst", 4096)
	require.ErrorIs(t, located, ErrCorrupted)
	var e *Error
	require.True(t, errors.As(located, &e))
	require.Equal(t, "000007.sst", e.File)
	require.Equal(t, int64(4096), e.Offset)
	require.Contains(t, located.Error(), "file 000007.sst at offset 4096")

	// The original is not modified, and located errors are left alone.
	require.True(t, errors.As(err, &e))
	require.Empty(t, e.File)
	require.Equal(t, located, locateRowError(located, "other", 1))

	// Non-corruption errors and nil pass through.
	require.NoError(t, locateRowError(nil, "f", 1))
	other := newError(CodeInvalidArgument, "x")
	require.Same(t, other, locateRowError(other, "f", 1))
	plain := errors.New("plain")
	require.Equal(t, plain, locateRowError(plain, "f", 1))
}

func TestRowFieldCorruptOffsetIsFieldPosition(t *testing.T) {
	types := []FieldType{String, Bool}
	buf, err := encodeRow(nil, 1, 1, types, []any{"abcd", true})
	require.NoError(t, err)
	pos := fieldData(t, buf, 1)
	buf[pos] = 3
	_, _, _, err = decodeRow(buf, types)
	require.Error(t, err)
	located := locateRowError(err, "wal-1", 100)
	var e *Error
	require.True(t, errors.As(located, &e))
	require.Equal(t, int64(100+pos), e.Offset)
	assert.Contains(t, err.Error(), "field 1 (bool)")
}

func TestRowDecodedDecimalIsIndependent(t *testing.T) {
	d := mustDecimal(t, "-123456789012345678901234567890")
	buf, err := encodeRow(nil, 1, 1, []FieldType{Decimal}, []any{d})
	require.NoError(t, err)
	_, _, vals, err := decodeRow(buf, []FieldType{Decimal})
	require.NoError(t, err)
	for i := range buf {
		buf[i] = 0
	}
	require.Equal(t, d.String(), vals[0].(decimal.Decimal).String())
	require.Equal(t, 0, new(big.Int).Neg(vals[0].(decimal.Decimal).Coefficient()).Cmp(new(big.Int).Neg(d.Coefficient())))
}

func TestRowDecodeAllocationIsBoundedByInput(t *testing.T) {
	// Rows whose header claims far more than the buffer holds: a decoder that
	// trusted the claims would allocate megabytes or gigabytes.
	manyFields := binary.LittleEndian.AppendUint16(append([]byte("ROW1"), make([]byte, 16)...), 0xffff)
	hugeSize, err := encodeRow(nil, 1, 1, []FieldType{Bytes}, []any{[]byte("abc")})
	require.NoError(t, err)
	putEntry(hugeSize, rowNarrow, 0, 0, rowNarrowMaxData)
	hugeName, err := encodeRow(nil, 1, 1, []FieldType{Time}, []any{time.Unix(1, 0).UTC()})
	require.NoError(t, err)
	v, err := parseRow(hugeName)
	require.NoError(t, err)
	binary.LittleEndian.PutUint16(hugeName[v.fieldPos(0)+rowTimeNameLenOffset:], 0xffff)

	types := allRowTypes()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 100
	for range runs {
		for _, buf := range [][]byte{manyFields, hugeSize, hugeName} {
			_, _, _, err := decodeRow(buf, types)
			require.ErrorIs(t, err, ErrCorrupted)
			_, _, _, err = decodeRow(buf, []FieldType{Time})
			require.ErrorIs(t, err, ErrCorrupted)
		}
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	require.Less(t, perRun, uint64(64<<10), "bytes allocated per run of 6 failed decodes")
}

// TestRowEntryWidthFollowsDataSize checks that the encoder picks narrow
// entries exactly while the data area fits them, wide entries beyond, and
// that both widths decode to the same values.
func TestRowEntryWidthFollowsDataSize(t *testing.T) {
	types := []FieldType{Int64, Bytes, String}
	// Int64 takes 8 data bytes, Bytes and String their length.
	for _, payload := range []int{0, 100, rowNarrowMaxData - 8 - 3, rowNarrowMaxData - 8 - 2, 1 << 20} {
		vals := []any{int64(-7), bytes.Repeat([]byte{0xAB}, payload), "abc"}
		buf, err := encodeRow(nil, 5, 6, types, vals)
		require.NoError(t, err)
		dataLen := 8 + payload + 3
		count := binary.LittleEndian.Uint16(buf[rowCountOffset:])
		require.Equal(t, uint16(3), count&rowCountMask)
		if dataLen <= rowNarrowMaxData {
			require.NotZero(t, count&rowNarrowBit, "data area of %d bytes: narrow entries", dataLen)
			require.Len(t, buf, rowHeaderSize+3*rowNarrowEntry+dataLen)
		} else {
			require.Zero(t, count&rowNarrowBit, "data area of %d bytes: wide entries", dataLen)
			require.Len(t, buf, rowHeaderSize+3*rowWideEntrySize+dataLen)
		}
		seq, ts, got, err := decodeRow(buf, types)
		require.NoError(t, err)
		require.Equal(t, int64(5), seq)
		require.Equal(t, int64(6), ts)
		require.Equal(t, vals, got)

		// The same row in wide entries decodes identically.
		wide, fits, err := encodeRowWidth(nil, 5, 6, types, vals, rowWide)
		require.NoError(t, err)
		require.True(t, fits)
		_, _, got, err = decodeRow(wide, types)
		require.NoError(t, err)
		require.Equal(t, vals, got)
	}
}
