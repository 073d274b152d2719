package srdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Named types used to check that conversions look at the Kind.
type (
	convMyInt    int32
	convMyUint   uint16
	convMyFloat  float64
	convMyString string
	convMyBool   bool
	convMyBytes  []byte
	convMyByte   uint8
)

// accepted is one value a field type must accept, and what it becomes.
type accepted struct {
	name string
	in   any
	want any
}

// rejected is one value a field type must reject; msg lists substrings of
// the error message.
type rejected struct {
	name string
	in   any
	msg  []string
}

// checkConversions runs accept and reject tables against a field of type ft.
func checkConversions(t *testing.T, ft FieldType, acc []accepted, rej []rejected) {
	t.Helper()
	f := Field{Name: "f", Type: ft}
	for _, tc := range acc {
		t.Run("accept/"+tc.name, func(t *testing.T) {
			got, err := convertValue(f, tc.in)
			require.NoError(t, err)
			assertSameValue(t, tc.want, got)
		})
	}
	for _, tc := range rej {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			got, err := convertValue(f, tc.in)
			require.Error(t, err, "accepted as %#v", got)
			assertViolation(t, err, "f", tc.msg...)
		})
	}
}

// assertViolation checks err is ErrSchemaViolation naming field, whose
// message contains every substring of msg.
func assertViolation(t *testing.T, err error, field string, msg ...string) {
	t.Helper()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrSchemaViolation), "%v is not ErrSchemaViolation", err)
	assert.Equal(t, CodeSchemaViolation, ErrorCode(err))
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, field, e.Field)
	for _, m := range msg {
		assert.Contains(t, err.Error(), m)
	}
}

// assertSameValue compares values including their dynamic Go type; floats
// compare NaN equal to NaN, decimals and times exactly (digits, exponent,
// instant and zone offset).
func assertSameValue(t *testing.T, want, got any) {
	t.Helper()
	require.Equal(t, reflect.TypeOf(want), reflect.TypeOf(got), "got %#v", got)
	switch w := want.(type) {
	case float64:
		g := got.(float64)
		if math.IsNaN(w) {
			assert.True(t, math.IsNaN(g))
			return
		}
		assert.Equal(t, math.Float64bits(w), math.Float64bits(g), "want %v got %v", w, g)
	case float32:
		g := got.(float32)
		if math.IsNaN(float64(w)) {
			assert.True(t, math.IsNaN(float64(g)))
			return
		}
		assert.Equal(t, math.Float32bits(w), math.Float32bits(g), "want %v got %v", w, g)
	case decimal.Decimal:
		g := got.(decimal.Decimal)
		assert.Equal(t, w.String(), g.String())
		assert.Equal(t, w.Exponent(), g.Exponent())
		assert.True(t, w.Equal(g))
	case time.Time:
		g := got.(time.Time)
		assert.True(t, w.Equal(g), "want %v got %v", w, g)
		_, wo := w.Zone()
		_, gotOff := g.Zone()
		assert.Equal(t, wo, gotOff, "zone offset")
		assert.Equal(t, g, g.Round(0), "monotonic reading must be stripped")
	default:
		assert.Equal(t, want, got)
	}
}

// ---- integers ----

// intTarget describes an integer field type: its range and how to build
// its canonical value.
type intTarget struct {
	ft       FieldType
	min, max *big.Int
	canon    func(*big.Int) any
}

func intTargets() []intTarget {
	bi := big.NewInt
	bu := func(u uint64) *big.Int { return new(big.Int).SetUint64(u) }
	return []intTarget{
		{Int, bi(math.MinInt), bi(math.MaxInt), func(b *big.Int) any { return int(b.Int64()) }},
		{Int8, bi(math.MinInt8), bi(math.MaxInt8), func(b *big.Int) any { return int8(b.Int64()) }},
		{Int16, bi(math.MinInt16), bi(math.MaxInt16), func(b *big.Int) any { return int16(b.Int64()) }},
		{Int32, bi(math.MinInt32), bi(math.MaxInt32), func(b *big.Int) any { return int32(b.Int64()) }},
		{Int64, bi(math.MinInt64), bi(math.MaxInt64), func(b *big.Int) any { return b.Int64() }},
		{Rune, bi(math.MinInt32), bi(math.MaxInt32), func(b *big.Int) any { return rune(b.Int64()) }},
		{Duration, bi(math.MinInt64), bi(math.MaxInt64), func(b *big.Int) any { return time.Duration(b.Int64()) }},
		{Uint, bi(0), bu(math.MaxUint), func(b *big.Int) any { return uint(b.Uint64()) }},
		{Uint8, bi(0), bi(math.MaxUint8), func(b *big.Int) any { return uint8(b.Uint64()) }},
		{Byte, bi(0), bi(math.MaxUint8), func(b *big.Int) any { return byte(b.Uint64()) }},
		{Uint16, bi(0), bi(math.MaxUint16), func(b *big.Int) any { return uint16(b.Uint64()) }},
		{Uint32, bi(0), bi(math.MaxUint32), func(b *big.Int) any { return uint32(b.Uint64()) }},
		{Uint64, bi(0), bu(math.MaxUint64), func(b *big.Int) any { return b.Uint64() }},
	}
}

// intSource is a Go value holding an integer (or an integral float) and the
// integer it means; integral is false for values no integer field accepts.
type intSource struct {
	in       any
	val      *big.Int
	integral bool
	why      string // expected message fragment when not integral
}

func intSources() []intSource {
	var out []intSource
	add := func(in any, v *big.Int) { out = append(out, intSource{in: in, val: v, integral: true}) }
	bi := big.NewInt
	bu := func(u uint64) *big.Int { return new(big.Int).SetUint64(u) }
	// Every Go integer kind at its limits, around 0 and at the boundaries of
	// the other widths (±1).
	for _, n := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769,
		65535, 65536, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1,
		math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MinInt64} {
		add(n, bi(n))
		add(int(n), bi(n))
		add(time.Duration(n), bi(n))
		add(json.Number(fmt.Sprint(n)), bi(n))
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			add(int32(n), bi(n))
			add(convMyInt(n), bi(n))
		}
		if n >= math.MinInt16 && n <= math.MaxInt16 {
			add(int16(n), bi(n))
		}
		if n >= math.MinInt8 && n <= math.MaxInt8 {
			add(int8(n), bi(n))
		}
		if n >= 0 {
			add(uint64(n), bi(n))
			add(uint(n), bi(n))
			add(uintptr(n), bi(n))
			if n <= math.MaxUint32 {
				add(uint32(n), bi(n))
			}
			if n <= math.MaxUint16 {
				add(uint16(n), bi(n))
				add(convMyUint(n), bi(n))
			}
			if n <= math.MaxUint8 {
				add(uint8(n), bi(n))
				add(convMyByte(n), bi(n))
			}
		}
		// Integral floats (JSON numbers) when exactly representable.
		if f := float64(n); int64(f) == n && f != twoPow63 {
			add(f, bi(n))
			if f32 := float32(n); float64(f32) == f {
				add(f32, bi(n))
			}
		}
	}
	for _, u := range []uint64{math.MaxInt64 + 1, math.MaxUint64} {
		add(u, bu(u))
		add(uint(u), bu(u))
		add(json.Number(fmt.Sprint(u)), bu(u))
	}
	// Floats beyond int64, and beyond uint64.
	add(twoPow63, bu(1<<63))
	add(float64(1<<62)*3, bu(3<<62))
	add(-twoPow63, bi(math.MinInt64))
	p64, _ := new(big.Float).SetFloat64(twoPow64).Int(nil)
	add(twoPow64, p64)
	m1e30, _ := new(big.Float).SetFloat64(-1e30).Int(nil)
	add(-1e30, m1e30)
	add(convMyFloat(42), bi(42))
	add(json.Number("1e3"), bi(1000))
	add(json.Number("1e30"), func() *big.Int { b, _ := new(big.Float).SetFloat64(1e30).Int(nil); return b }())
	bad := func(in any, why string) { out = append(out, intSource{in: in, why: why}) }
	bad(math.NaN(), "not a finite number")
	bad(math.Inf(1), "not a finite number")
	bad(math.Inf(-1), "not a finite number")
	bad(float32(math.NaN()), "not a finite number")
	bad(1.5, "fractional")
	bad(-0.5, "fractional")
	bad(float32(2.25), "fractional")
	bad(math.SmallestNonzeroFloat64, "fractional")
	bad(json.Number("1.5"), "fractional")
	bad(json.Number("x"), "not a number")
	return out
}

func TestConvertIntegers(t *testing.T) {
	for _, tgt := range intTargets() {
		t.Run(tgt.ft.String(), func(t *testing.T) {
			f := Field{Name: "n", Type: tgt.ft}
			for _, src := range intSources() {
				got, err := convertValue(f, src.in)
				label := fmt.Sprintf("%T(%v) into %s", src.in, src.in, tgt.ft)
				switch {
				case !src.integral:
					assertViolation(t, err, "n", src.why, fmt.Sprintf("%T", src.in))
				case src.val.Cmp(tgt.min) >= 0 && src.val.Cmp(tgt.max) <= 0:
					if assert.NoError(t, err, label) {
						assertSameValue(t, tgt.canon(src.val), got)
					}
				case src.val.Sign() < 0 && tgt.min.Sign() == 0:
					assertViolation(t, err, "n", "negative", fmt.Sprintf("(%T)", src.in), tgt.ft.String())
				default:
					assertViolation(t, err, "n", "out of range", fmt.Sprintf("(%T)", src.in), tgt.ft.String())
				}
			}
			// Types no integer field takes.
			for _, in := range []any{"1", true, []byte{1}, time.Unix(1, 0), decimal.NewFromInt(1),
				map[string]any{"a": 1}, []any{1}, complex(1, 0), struct{}{}, convMyString("1")} {
				_, err := convertValue(f, in)
				if tgt.ft == Rune || tgt.ft == Duration {
					if _, ok := in.(string); ok {
						continue // parsed, see TestConvertRune / TestConvertDuration
					}
					if _, ok := in.(convMyString); ok {
						continue
					}
				}
				assertViolation(t, err, "n", "expected "+tgt.ft.String(), fmt.Sprintf("got %T", in))
			}
		})
	}
}

func TestConvertIntegerMessages(t *testing.T) {
	_, err := convertValue(Field{Name: "age", Type: Int8}, 300)
	assertViolation(t, err, "age", "value 300 (int) is out of range for int8")
	_, err = convertValue(Field{Name: "age", Type: Uint16}, int64(-1))
	assertViolation(t, err, "age", "negative value -1 (int64) for unsigned uint16 field")
	_, err = convertValue(Field{Name: "age", Type: Int64}, math.NaN())
	assertViolation(t, err, "age", "NaN (float64) is not a finite number")
	_, err = convertValue(Field{Name: "age", Type: Int32}, "12")
	assertViolation(t, err, "age", "expected int32, got string")
	assert.Equal(t, `srdb: schema violation: field "age": expected int32, got string`, err.Error())
}

// ---- floats ----

func TestConvertFloat64(t *testing.T) {
	checkConversions(t, Float64, []accepted{
		{"float64", 1.25, 1.25},
		{"max", math.MaxFloat64, math.MaxFloat64},
		{"smallest", math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
		{"negative zero", math.Copysign(0, -1), math.Copysign(0, -1)},
		{"NaN", math.NaN(), math.NaN()},
		{"+Inf", math.Inf(1), math.Inf(1)},
		{"-Inf", math.Inf(-1), math.Inf(-1)},
		{"float32", float32(1.5), 1.5},
		{"float32 NaN", float32(math.NaN()), math.NaN()},
		{"float32 max", float32(math.MaxFloat32), float64(float32(math.MaxFloat32))},
		{"int", 3, 3.0},
		{"int64 max", int64(math.MaxInt64), float64(math.MaxInt64)},
		{"int64 min", int64(math.MinInt64), float64(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"uint8", uint8(7), 7.0},
		{"named float", convMyFloat(2.5), 2.5},
		{"named int", convMyInt(-4), -4.0},
		{"duration", time.Duration(5), 5.0},
		{"json.Number", json.Number("1.5e300"), 1.5e300},
		{"json.Number overflow", json.Number("1e999"), math.Inf(1)},
		{"pointer", ptr(2.5), 2.5},
	}, []rejected{
		{"string", "1.5", []string{"expected float64, got string"}},
		{"bool", true, []string{"got bool"}},
		{"decimal", decimal.NewFromFloat(1.5), []string{"got decimal.Decimal"}},
		{"bytes", []byte("1"), []string{"got []uint8"}},
		{"json.Number text", json.Number("abc"), []string{"not a number"}},
	})
}

func TestConvertFloat32(t *testing.T) {
	checkConversions(t, Float32, []accepted{
		{"float32", float32(1.25), float32(1.25)},
		{"float64", 1.25, float32(1.25)},
		{"float64 inexact", 0.1, float32(0.1)},
		{"float64 max32", float64(math.MaxFloat32), float32(math.MaxFloat32)},
		{"float64 -max32", -float64(math.MaxFloat32), float32(-math.MaxFloat32)},
		{"float64 underflow", 1e-50, float32(0)},
		{"NaN", math.NaN(), float32(math.NaN())},
		{"+Inf", math.Inf(1), float32(math.Inf(1))},
		{"-Inf", math.Inf(-1), float32(math.Inf(-1))},
		{"int", 16777217, float32(16777216)},
		{"uint64 max", uint64(math.MaxUint64), float32(math.MaxUint64)},
		{"named float", convMyFloat(0.5), float32(0.5)},
		{"json.Number", json.Number("2.5"), float32(2.5)},
	}, []rejected{
		{"float64 too big", 1e39, []string{"1e+39 (float64) is out of range for float32"}},
		{"float64 too small", -math.MaxFloat64, []string{"out of range for float32"}},
		{"named too big", convMyFloat(1e300), []string{"(srdb.convMyFloat) is out of range"}},
		{"string", "1", []string{"expected float32, got string"}},
		{"bool", false, []string{"got bool"}},
	})
}

// ---- strings, bools, bytes ----

func TestConvertString(t *testing.T) {
	big := strings.Repeat("x", 16<<20)
	checkConversions(t, String, []accepted{
		{"empty", "", ""},
		{"ascii", "hello", "hello"},
		{"utf8", "héllo, 世界", "héllo, 世界"},
		{"invalid utf8 kept bytewise", "\xff\x00", "\xff\x00"},
		{"16 MiB", big, big},
		{"named", convMyString("n"), "n"},
		{"json.Number", json.Number("12"), "12"},
		{"pointer", ptr("p"), "p"},
		{"pointer to pointer", ptr(ptr("pp")), "pp"},
	}, []rejected{
		{"bytes", []byte("abc"), []string{"expected string, got []uint8"}},
		{"named bytes", convMyBytes("abc"), []string{"got srdb.convMyBytes"}},
		{"int", 1, []string{"got int"}},
		{"rune", 'a', []string{"got int32"}},
		{"bool", true, []string{"got bool"}},
		{"time", time.Unix(0, 0), []string{"got time.Time"}},
		{"map", map[string]any{}, []string{"got map[string]interface {}"}},
	})
}

func TestConvertBool(t *testing.T) {
	checkConversions(t, Bool, []accepted{
		{"true", true, true},
		{"false", false, false},
		{"named", convMyBool(true), true},
		{"pointer", ptr(false), false},
	}, []rejected{
		{"int", 1, []string{"expected bool, got int"}},
		{"string", "true", []string{"got string"}},
		{"float", 0.0, []string{"got float64"}},
	})
}

func TestConvertBytes(t *testing.T) {
	big := make([]byte, 16<<20)
	big[len(big)-1] = 7
	checkConversions(t, Bytes, []accepted{
		{"bytes", []byte{1, 2, 3}, []byte{1, 2, 3}},
		{"empty", []byte{}, []byte{}},
		{"nil slice is empty, not NULL", []byte(nil), []byte{}},
		{"string", "abc", []byte("abc")},
		{"named", convMyBytes{9}, []byte{9}},
		{"raw json", json.RawMessage(`{"a":1}`), []byte(`{"a":1}`)},
		{"array", [4]byte{1, 2, 3, 4}, []byte{1, 2, 3, 4}},
		{"named elem array", [2]convMyByte{5, 6}, []byte{5, 6}},
		{"16 MiB", big, big},
		{"pointer", &[]byte{8}, []byte{8}},
	}, []rejected{
		{"int", 1, []string{"expected bytes, got int"}},
		{"ints", []int{1}, []string{"got []int"}},
		{"int array", [2]int{1, 2}, []string{"got [2]int"}},
		{"bool", true, []string{"got bool"}},
		{"map", map[string]any{}, []string{"got map"}},
	})
}

func TestConvertBytesCopies(t *testing.T) {
	f := Field{Name: "b", Type: Bytes}
	src := []byte("hello")
	got, err := convertValue(f, src)
	require.NoError(t, err)
	src[0] = 'X'
	assert.Equal(t, []byte("hello"), got, "the stored value must not alias the caller's slice")

	named := convMyBytes("hello")
	got, err = convertValue(f, named)
	require.NoError(t, err)
	named[0] = 'X'
	assert.Equal(t, []byte("hello"), got)

	raw := json.RawMessage("[1]")
	got, err = convertValue(f, raw)
	require.NoError(t, err)
	raw[0] = 'X'
	assert.Equal(t, []byte("[1]"), got)
}

// ---- byte and rune ----

func TestConvertByte(t *testing.T) {
	checkConversions(t, Byte, []accepted{
		{"byte", byte(200), byte(200)},
		{"int 0", 0, byte(0)},
		{"int 255", 255, byte(255)},
		{"float 255", 255.0, byte(255)},
		{"uint64", uint64(1), byte(1)},
	}, []rejected{
		{"256", 256, []string{"256 (int) is out of range for byte"}},
		{"-1", -1, []string{"negative value -1 (int) for unsigned byte"}},
		{"string", "a", []string{"expected byte, got string"}},
		{"fraction", 1.5, []string{"fractional"}},
	})
}

func TestConvertRune(t *testing.T) {
	checkConversions(t, Rune, []accepted{
		{"rune", 'é', 'é'},
		{"int", 0x10FFFF, rune(0x10FFFF)},
		{"max int32", math.MaxInt32, rune(math.MaxInt32)},
		{"min int32", math.MinInt32, rune(math.MinInt32)},
		{"ascii string", "a", 'a'},
		{"multibyte string", "世", '世'},
		{"emoji", "🙂", '🙂'},
		{"replacement char spelled out", "\uFFFD", '\uFFFD'},
		{"named string", convMyString("z"), 'z'},
		{"float", 97.0, 'a'},
	}, []rejected{
		{"empty string", "", []string{"not exactly one UTF-8 rune"}},
		{"two runes", "ab", []string{`"ab"`, "not exactly one"}},
		{"invalid utf8", "\xff", []string{"not exactly one"}},
		{"truncated utf8", "\xe4\xb8", []string{"not exactly one"}},
		{"too big", int64(math.MaxInt32) + 1, []string{"out of range for rune"}},
		{"too small", int64(math.MinInt32) - 1, []string{"out of range for rune"}},
		{"bool", true, []string{"expected rune, got bool"}},
	})
}

// ---- decimal ----

func TestConvertDecimal(t *testing.T) {
	d30 := "123456789012345678901234567890.123456789012345678901234567891"
	want30, err := decimal.NewFromString(d30)
	require.NoError(t, err)
	require.Equal(t, d30, want30.String())
	dp := decimal.RequireFromString("2.50")
	checkConversions(t, Decimal, []accepted{
		{"decimal", decimal.RequireFromString("1.5"), decimal.RequireFromString("1.5")},
		{"pointer", &dp, dp},
		{"60 digits exact", d30, want30},
		{"negative", "-0.000000000000000000000000000001", decimal.New(-1, -30)},
		{"exponent", "1.5e5", decimal.New(15, 4)},
		{"int", 42, decimal.NewFromInt(42)},
		{"int64 min", int64(math.MinInt64), decimal.NewFromInt(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64), decimal.RequireFromString("18446744073709551615")},
		{"uint8", uint8(8), decimal.NewFromInt(8)},
		{"float64", 0.1, decimal.RequireFromString("0.1")},
		{"float32", float32(0.1), decimal.RequireFromString("0.1")},
		{"json.Number", json.Number("12345678901234567890.5"), decimal.RequireFromString("12345678901234567890.5")},
		{"named string", convMyString("7"), decimal.NewFromInt(7)},
		{"max exponent", decimal.New(1, int32(decimal.MaxDecodeExponent)), decimal.New(1, int32(decimal.MaxDecodeExponent))},
	}, []rejected{
		{"NaN", math.NaN(), []string{"not a finite number", "decimal"}},
		{"Inf", math.Inf(1), []string{"not a finite number"}},
		{"float32 -Inf", float32(math.Inf(-1)), []string{"not a finite number"}},
		{"text", "abc", []string{`"abc"`, "not a decimal"}},
		{"NaN text", "NaN", []string{"not a decimal"}},
		{"empty", "", []string{"not a decimal"}},
		{"two dots", "1.2.3", []string{"not a decimal"}},
		{"huge exponent text", "1e20000", []string{"not a decimal"}},
		{"huge exponent value", decimal.New(1, 20000), []string{"exponent 20000"}},
		{"too many digits", "1" + strings.Repeat("0", maxDecimalDigits), []string{"digits"}},
		{"too long text", strings.Repeat("1", maxDecimalTextLen+1), []string{"longer than the limit"}},
		{"bool", true, []string{"expected decimal, got bool"}},
		{"time", time.Unix(0, 0), []string{"got time.Time"}},
	})
}

func TestConvertDecimalKeepsValue(t *testing.T) {
	// The same decimal.Decimal value is stored, not a re-parse.
	d := decimal.New(150, -2) // "1.50" with exponent -2
	got, err := convertValue(Field{Name: "d", Type: Decimal}, d)
	require.NoError(t, err)
	assert.Equal(t, int32(-2), got.(decimal.Decimal).Exponent())
}

// ---- time and duration ----

func TestConvertTime(t *testing.T) {
	ist := time.FixedZone("", 5*3600+1800)
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, ist)
	now := time.Now() // carries a monotonic reading
	var nilTime *time.Time
	_ = nilTime
	checkConversions(t, Time, []accepted{
		{"time", ts, ts},
		{"utc", ts.UTC(), ts.UTC()},
		{"monotonic stripped", now, now.Round(0)},
		{"pointer", &ts, ts},
		{"RFC3339", "2024-05-06T07:08:09Z", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
		{"RFC3339Nano with zone", "2024-05-06T07:08:09.123456789+05:30", ts},
		{"negative zone", "1999-12-31T23:59:59.5-08:00", time.Date(1999, 12, 31, 23, 59, 59, 500000000, time.FixedZone("", -8*3600))},
		{"far future", "9999-12-31T23:59:59.999999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"zero", time.Time{}, time.Time{}},
	}, []rejected{
		{"date only", "2024-05-06", []string{`"2024-05-06"`, "not an RFC 3339 time"}},
		{"no zone", "2024-05-06T07:08:09", []string{"not an RFC 3339 time"}},
		{"text", "yesterday", []string{"not an RFC 3339"}},
		{"huge text", strings.Repeat("9", 1000), []string{"…", "not an RFC 3339"}},
		{"int", 1700000000, []string{"expected time, got int"}},
		{"duration", time.Second, []string{"got time.Duration"}},
		{"bytes", []byte("2024-05-06T07:08:09Z"), []string{"got []uint8"}},
	})
}

func TestConvertDuration(t *testing.T) {
	checkConversions(t, Duration, []accepted{
		{"duration", 90 * time.Minute, 90 * time.Minute},
		{"int64 nanos", int64(1500), time.Duration(1500)},
		{"int", -3, time.Duration(-3)},
		{"float integral", 1e9, time.Second},
		{"string", "1h30m", 90 * time.Minute},
		{"negative string", "-1.5s", -1500 * time.Millisecond},
		{"max", time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)},
		{"uint64 in range", uint64(math.MaxInt64), time.Duration(math.MaxInt64)},
	}, []rejected{
		{"bad string", "1 hour", []string{`"1 hour"`, "not a duration"}},
		{"fraction", 1.5, []string{"fractional"}},
		{"uint64 too big", uint64(math.MaxInt64) + 1, []string{"out of range for duration"}},
		{"bool", true, []string{"expected duration, got bool"}},
		{"time", time.Unix(0, 0), []string{"got time.Time"}},
	})
}

// ---- object and array ----

type convJSONStruct struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags,omitempty"`
	Inner *struct {
		X float64 `json:"x"`
	} `json:"inner,omitempty"`
	private int
}

func TestConvertObject(t *testing.T) {
	nested := map[string]any{
		"a": 1, "b": "s", "c": []int{1, 2}, "d": map[string]any{"e": []any{true, nil, 1.5, map[string]int{"f": 3}}},
	}
	wantNested := map[string]any{
		"a": float64(1), "b": "s", "c": []any{float64(1), float64(2)},
		"d": map[string]any{"e": []any{true, nil, 1.5, map[string]any{"f": float64(3)}}},
	}
	st := convJSONStruct{Name: "n", Count: 2, private: 9}
	checkConversions(t, Object, []accepted{
		{"empty map", map[string]any{}, map[string]any{}},
		{"nil map is empty, not NULL", map[string]any(nil), map[string]any{}},
		{"nested", nested, wantNested},
		{"typed map", map[string]int{"x": 1}, map[string]any{"x": float64(1)}},
		{"int keys", map[int]string{1: "a"}, map[string]any{"1": "a"}},
		{"named string keys", map[convMyString]bool{"k": true}, map[string]any{"k": true}},
		{"nil typed map", map[string]int(nil), map[string]any{}},
		{"struct", st, map[string]any{"name": "n", "count": float64(2)}},
		{"pointer to struct", &st, map[string]any{"name": "n", "count": float64(2)}},
		{"anonymous struct", struct{ A int }{A: 1}, map[string]any{"A": float64(1)}},
		{"raw object", json.RawMessage(` {"k": [1, "x"]} `), map[string]any{"k": []any{float64(1), "x"}}},
		{"big int loses precision as JSON number", map[string]any{"n": int64(1<<53 + 1)}, map[string]any{"n": float64(1 << 53)}},
		{"16 MiB string", map[string]any{"s": strings.Repeat("y", 16<<20)}, map[string]any{"s": strings.Repeat("y", 16<<20)}},
	}, []rejected{
		{"NaN inside", map[string]any{"x": math.NaN()}, []string{"cannot be encoded as JSON"}},
		{"Inf inside struct", struct{ F float64 }{math.Inf(1)}, []string{"cannot be encoded as JSON"}},
		{"channel inside", map[string]any{"c": make(chan int)}, []string{"cannot be encoded as JSON"}},
		{"func inside", map[string]any{"f": func() {}}, []string{"cannot be encoded as JSON"}},
		{"raw array", json.RawMessage(`[1]`), []string{"expected object", "encodes as JSON array"}},
		{"raw string", json.RawMessage(`"s"`), []string{"encodes as JSON string"}},
		{"raw invalid", json.RawMessage(`{"a":`), []string{"does not hold valid JSON"}},
		{"raw empty", json.RawMessage(``), []string{"does not hold valid JSON"}},
		{"slice", []any{1}, []string{"expected object, got []interface {}"}},
		{"string", `{"a":1}`, []string{"expected object, got string"}},
		{"bytes", []byte(`{"a":1}`), []string{"got []uint8"}},
		{"time", time.Unix(0, 0), []string{"expected object, got time.Time"}},
		{"decimal", decimal.NewFromInt(1), []string{"got decimal.Decimal"}},
		{"int", 1, []string{"got int"}},
		{"bad map key", map[[2]int]int{{1, 2}: 3}, []string{"cannot be encoded as JSON"}},
	})
}

func TestConvertArray(t *testing.T) {
	checkConversions(t, Array, []accepted{
		{"empty", []any{}, []any{}},
		{"nil slice is empty, not NULL", []any(nil), []any{}},
		{"nil typed slice", []int(nil), []any{}},
		{"mixed", []any{1, "a", nil, true, map[string]any{"k": []int{2}}}, []any{float64(1), "a", nil, true, map[string]any{"k": []any{float64(2)}}}},
		{"ints", []int{1, 2, 3}, []any{float64(1), float64(2), float64(3)}},
		{"strings", []string{"a"}, []any{"a"}},
		{"array", [3]int{1, 2, 3}, []any{float64(1), float64(2), float64(3)}},
		{"byte array is numbers", [2]byte{1, 2}, []any{float64(1), float64(2)}},
		{"nested", [][]int{{1}, {2, 3}}, []any{[]any{float64(1)}, []any{float64(2), float64(3)}}},
		{"structs", []convJSONStruct{{Name: "a"}}, []any{map[string]any{"name": "a", "count": float64(0)}}},
		{"raw array", json.RawMessage(`[1,"x"]`), []any{float64(1), "x"}},
		{"pointer", &[]int{4}, []any{float64(4)}},
	}, []rejected{
		{"bytes", []byte{1, 2}, []string{"expected array, got []uint8", "bytes field"}},
		{"named bytes", convMyBytes{1}, []string{"got srdb.convMyBytes"}},
		{"NaN inside", []float64{math.NaN()}, []string{"cannot be encoded as JSON"}},
		{"raw object", json.RawMessage(`{}`), []string{"expected array", "encodes as JSON object"}},
		{"map", map[string]any{}, []string{"expected array, got map"}},
		{"string", "[1]", []string{"expected array, got string"}},
		{"struct", convJSONStruct{}, []string{"got srdb.convJSONStruct"}},
		{"int", 1, []string{"got int"}},
	})
}

// ---- NULL ----

func TestConvertNull(t *testing.T) {
	nullables := map[FieldType]any{
		Int: (*int)(nil), Int8: (*int8)(nil), Uint64: (*uint64)(nil), Float32: (*float32)(nil),
		String: (*string)(nil), Bool: (*bool)(nil), Byte: (*byte)(nil), Rune: (*rune)(nil),
		Decimal: (*decimal.Decimal)(nil), Time: (*time.Time)(nil), Duration: (*time.Duration)(nil),
		Object: (*convJSONStruct)(nil), Array: (*[]int)(nil), Bytes: (*[]byte)(nil),
		Int16: (**int16)(nil), Int32: (*convMyInt)(nil), Int64: (*int64)(nil), Uint: (*uint)(nil),
		Uint8: (*uint8)(nil), Uint16: (*uint16)(nil), Uint32: (*uint32)(nil), Float64: (*float64)(nil),
	}
	require.Len(t, nullables, 22)
	for ft, nilPtr := range nullables {
		t.Run(ft.String(), func(t *testing.T) {
			for _, in := range []any{nil, nilPtr} {
				got, err := convertValue(Field{Name: "f", Type: ft, Nullable: true}, in)
				require.NoError(t, err)
				assert.Nil(t, got)

				_, err = convertValue(Field{Name: "f", Type: ft}, in)
				assertViolation(t, err, "f", "NULL value", "non-nullable "+ft.String())
			}
			// A pointer to a pointer that is nil is NULL too.
			_, err := convertValue(Field{Name: "f", Type: ft}, &nilPtr)
			assert.Error(t, err)
		})
	}
	// The message names the pointer type.
	_, err := convertValue(Field{Name: "f", Type: Int}, (*int)(nil))
	assertViolation(t, err, "f", "nil *int")
	// JSON null in a RawMessage is NULL.
	got, err := convertValue(Field{Name: "f", Type: Object, Nullable: true}, json.RawMessage("null"))
	require.NoError(t, err)
	assert.Nil(t, got)
	_, err = convertValue(Field{Name: "f", Type: Array}, json.RawMessage("null"))
	assertViolation(t, err, "f", "NULL")
}

func TestConvertPointerLoop(t *testing.T) {
	var p ptrLoop
	p = ptrLoop(&p)
	for ft := Int; ft < numFieldTypes; ft++ {
		require.NotPanics(t, func() {
			_, err := convertValue(Field{Name: "f", Type: ft}, p)
			assert.Error(t, err, "%s", ft)
		})
	}
}

// TestConvertNeverPanics feeds odd values to every field type.
func TestConvertNeverPanics(t *testing.T) {
	ch := make(chan int)
	var nilMap map[string]any
	var nilIface any
	odd := []any{
		ch, func() {}, complex(1, 2), complex64(1), reflect.ValueOf(1), reflect.TypeOf(1),
		struct{ a, b int }{}, &struct{ C chan int }{ch}, [0]int{}, [0]byte{}, nilMap, &nilIface,
		errors.New("e"), &big.Int{}, big.NewFloat(1), []any{ch}, map[string]any{"x": ch},
		json.Number(""), json.RawMessage(nil), convMyBytes(nil), uintptr(1), new(any),
		map[any]any{1: 2}, &[]any{nil}, decimal.Decimal{}, time.Time{}, &time.Location{},
	}
	for ft := TypeInvalid; ft <= numFieldTypes; ft++ {
		for _, nullable := range []bool{false, true} {
			for _, v := range odd {
				require.NotPanics(t, func() { _, _ = convertValue(Field{Name: "f", Type: ft, Nullable: nullable}, v) }, "%s %T", ft, v)
			}
		}
	}
	// An invalid field type accepts nothing but NULL.
	_, err := convertValue(Field{Name: "f", Type: TypeInvalid}, 1)
	assertViolation(t, err, "f", "expected invalid")
}

func ptr[T any](v T) *T { return &v }

// convPanicky has a MarshalJSON that panics.
type convPanicky struct{}

func (convPanicky) MarshalJSON() ([]byte, error) { panic("boom") }

func TestConvertJSONMarshalerPanics(t *testing.T) {
	var err error
	require.NotPanics(t, func() {
		_, err = convertValue(Field{Name: "o", Type: Object}, map[string]any{"x": convPanicky{}})
	})
	assertViolation(t, err, "o", "panic: boom")
}

// canonicalTypes is the Go type of each field type's values (FieldType doc).
var canonicalTypes = map[FieldType]reflect.Type{
	Int: reflect.TypeFor[int](), Int8: reflect.TypeFor[int8](), Int16: reflect.TypeFor[int16](),
	Int32: reflect.TypeFor[int32](), Int64: reflect.TypeFor[int64](), Uint: reflect.TypeFor[uint](),
	Uint8: reflect.TypeFor[uint8](), Uint16: reflect.TypeFor[uint16](), Uint32: reflect.TypeFor[uint32](),
	Uint64: reflect.TypeFor[uint64](), Float32: reflect.TypeFor[float32](), Float64: reflect.TypeFor[float64](),
	String: reflect.TypeFor[string](), Bool: reflect.TypeFor[bool](), Byte: reflect.TypeFor[byte](),
	Rune: reflect.TypeFor[rune](), Decimal: reflect.TypeFor[decimal.Decimal](), Time: reflect.TypeFor[time.Time](),
	Duration: reflect.TypeFor[time.Duration](), Object: reflect.TypeFor[map[string]any](),
	Array: reflect.TypeFor[[]any](), Bytes: reflect.TypeFor[[]byte](),
}

// FuzzConvertValue: any value into any field type never panics, fails only
// with ErrSchemaViolation naming the field, and succeeds only with the
// canonical Go type of the field (or nil when the field is nullable).
func FuzzConvertValue(f *testing.F) {
	f.Add(byte(Int8), byte(0), int64(127), 0.0, "")
	f.Add(byte(Uint64), byte(1), int64(-1), 0.0, "")
	f.Add(byte(Int64), byte(2), int64(0), 1e19, "")
	f.Add(byte(Time), byte(3), int64(0), 0.0, "2024-01-02T03:04:05.5+01:00")
	f.Add(byte(Decimal), byte(3), int64(0), 0.0, "1.5e-7")
	f.Add(byte(Object), byte(6), int64(0), 0.0, `{"a":[1]}`)
	f.Add(byte(Array), byte(6), int64(0), 0.0, `[1,{"b":null}]`)
	f.Add(byte(Rune), byte(3), int64(0), 0.0, "é")
	f.Add(byte(Duration), byte(3), int64(0), 0.0, "1h")
	f.Fuzz(func(t *testing.T, ft, kind byte, n int64, x float64, s string) {
		var v any
		switch kind % 14 {
		case 0:
			v = n
		case 1:
			v = uint64(n)
		case 2:
			v = x
		case 3:
			v = s
		case 4:
			v = []byte(s)
		case 5:
			v = float32(x)
		case 6:
			v = json.RawMessage(s)
		case 7:
			v = json.Number(s)
		case 8:
			v = convMyInt(n)
		case 9:
			v = &n
		case 10:
			v = map[string]any{s: x}
		case 11:
			v = []any{n, x, s}
		case 12:
			v = time.Unix(0, n)
		case 13:
			v = decimal.New(n, int32(x))
		}
		typ := FieldType(ft % byte(numFieldTypes+1))
		for _, nullable := range []bool{false, true} {
			got, err := convertValue(Field{Name: "f", Type: typ, Nullable: nullable}, v)
			if err != nil {
				if ErrorCode(err) != CodeSchemaViolation {
					t.Fatalf("%s <- %T(%v): error %v is not a schema violation", typ, v, v, err)
				}
				if e := err.(*Error); e.Field != "f" {
					t.Fatalf("error names field %q", e.Field)
				}
				continue
			}
			if got == nil {
				if !nullable {
					t.Fatalf("%s <- %T(%v): NULL accepted by a non-nullable field", typ, v, v)
				}
				continue
			}
			if want := canonicalTypes[typ]; reflect.TypeOf(got) != want {
				t.Fatalf("%s <- %T(%v): got %T, want %v", typ, v, v, got, want)
			}
		}
	})
}
