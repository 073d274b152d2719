package srdb

import (
	"bytes"
	"cmp"
	"math"
	"math/big"
	mathrand "math/rand"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// idxRefCompare is the reference order of the values of type t, written with
// Go's own comparisons: the order the index keys must reproduce. NULL (nil)
// sorts first; floats treat -0 = +0 and put every NaN after +Inf.
func idxRefCompare(t FieldType, a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch t {
	case Int:
		return cmp.Compare(a.(int), b.(int))
	case Int8:
		return cmp.Compare(a.(int8), b.(int8))
	case Int16:
		return cmp.Compare(a.(int16), b.(int16))
	case Int32, Rune:
		return cmp.Compare(a.(int32), b.(int32))
	case Int64:
		return cmp.Compare(a.(int64), b.(int64))
	case Duration:
		return cmp.Compare(a.(time.Duration), b.(time.Duration))
	case Uint:
		return cmp.Compare(a.(uint), b.(uint))
	case Uint8, Byte:
		return cmp.Compare(a.(uint8), b.(uint8))
	case Uint16:
		return cmp.Compare(a.(uint16), b.(uint16))
	case Uint32:
		return cmp.Compare(a.(uint32), b.(uint32))
	case Uint64:
		return cmp.Compare(a.(uint64), b.(uint64))
	case Float32:
		return cmp.Compare(a.(float32), b.(float32)) // NaN first in cmp; fixed below
	case Float64:
		return cmp.Compare(a.(float64), b.(float64))
	case Bool:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case String:
		return strings.Compare(a.(string), b.(string))
	case Bytes:
		return bytes.Compare(a.([]byte), b.([]byte))
	case Time:
		return a.(time.Time).Compare(b.(time.Time))
	case Decimal:
		return a.(decimal.Decimal).Cmp(b.(decimal.Decimal))
	}
	panic("type " + t.String())
}

// idxRefCompareFloat wraps idxRefCompare for floats: cmp.Compare puts NaN
// first, the index puts it last.
func idxRefCompareFull(t FieldType, a, b any) int {
	if (t == Float32 || t == Float64) && a != nil && b != nil {
		an, bn := idxIsNaN(a), idxIsNaN(b)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		}
	}
	return idxRefCompare(t, a, b)
}

func idxIsNaN(v any) bool {
	switch x := v.(type) {
	case float32:
		return x != x
	case float64:
		return x != x
	}
	return false
}

// idxBoundaryValues lists the edge values of each type.
func idxBoundaryValues(t FieldType) []any {
	switch t {
	case Int:
		return []any{math.MinInt, math.MinInt + 1, -1, 0, 1, math.MaxInt - 1, math.MaxInt}
	case Int8:
		return []any{int8(math.MinInt8), int8(-1), int8(0), int8(1), int8(math.MaxInt8)}
	case Int16:
		return []any{int16(math.MinInt16), int16(-256), int16(-1), int16(0), int16(1), int16(255), int16(math.MaxInt16)}
	case Int32, Rune:
		return []any{int32(math.MinInt32), int32(-1), int32(0), int32(1), int32(math.MaxInt32)}
	case Int64:
		return []any{int64(math.MinInt64), int64(-1 << 32), int64(-1), int64(0), int64(1), int64(1 << 32), int64(math.MaxInt64)}
	case Duration:
		return []any{time.Duration(math.MinInt64), -time.Second, time.Duration(0), time.Nanosecond, time.Duration(math.MaxInt64)}
	case Uint:
		return []any{uint(0), uint(1), uint(math.MaxInt64), uint(math.MaxInt64) + 1, uint(math.MaxUint)}
	case Uint8, Byte:
		return []any{uint8(0), uint8(1), uint8(127), uint8(128), uint8(255)}
	case Uint16:
		return []any{uint16(0), uint16(255), uint16(256), uint16(math.MaxUint16)}
	case Uint32:
		return []any{uint32(0), uint32(1), uint32(1 << 31), uint32(math.MaxUint32)}
	case Uint64:
		return []any{uint64(0), uint64(1), uint64(1 << 63), uint64(math.MaxUint64)}
	case Float32:
		return []any{float32(math.Inf(-1)), float32(-math.MaxFloat32), float32(-1), float32(-math.SmallestNonzeroFloat32),
			float32(math.Copysign(0, -1)), float32(0), float32(math.SmallestNonzeroFloat32), float32(1), float32(math.MaxFloat32),
			float32(math.Inf(1)), float32(math.NaN()), math.Float32frombits(0xFFC00001)}
	case Float64:
		return []any{math.Inf(-1), -math.MaxFloat64, -1.0, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0.0,
			math.SmallestNonzeroFloat64, 1.0, math.MaxFloat64, math.Inf(1), math.NaN(), math.Float64frombits(0xFFF8000000000042)}
	case Bool:
		return []any{false, true}
	case String:
		return []any{"", "\x00", "\x00\x00", "\x00\x01", "\x01", "a", "a\x00", "a\x00\x00", "a\x00b", "a\x01", "a\xff", "ab", "b", "\xff", "\xff\xff"}
	case Bytes:
		return []any{[]byte{}, []byte{0}, []byte{0, 0}, []byte{0, 1}, []byte{0, 0xFF}, []byte{1}, []byte("a"), []byte("a\x00"), []byte{0xFF}, []byte{0xFF, 0}}
	case Time:
		return []any{time.Time{}, time.Unix(-1<<40, 0), time.Unix(-1, 999_999_999), time.Unix(0, 0), time.Unix(0, 1),
			time.Unix(1<<33, 5).In(time.FixedZone("X", 3600)), time.Unix(1<<40, 999_999_999), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}
	case Decimal:
		vals := []any{}
		for _, s := range []string{"0", "0.000", "-0", "1", "1.0", "1.5", "1.50", "-1.5", "10", "9.99", "0.1", "0.01", "-0.01",
			"123456789012345678901234567890", "123456789012345678901234567891", "123456789012345678901234567890.5",
			"-123456789012345678901234567890", "-123456789012345678901234567891", "0.000000000000000000000000000001",
			"0.0000000000000000000000000000011", "1e-300", "1e300", "-1e300", "99", "100", "101", "999999999999999999999999999999"} {
			vals = append(vals, decimal.RequireFromString(s))
		}
		return vals
	}
	return nil
}

// idxRandomValue returns a random value of type t, biased towards close
// values so that equal and near-equal pairs are common.
func idxRandomValue(t FieldType, r *rand.Rand) any {
	if r.IntN(20) == 0 {
		vals := idxBoundaryValues(t)
		return vals[r.IntN(len(vals))]
	}
	small := r.IntN(2) == 0
	i64 := func() int64 {
		if small {
			return r.Int64N(21) - 10
		}
		return int64(r.Uint64())
	}
	switch t {
	case Int:
		return int(i64())
	case Int8:
		return int8(i64())
	case Int16:
		return int16(i64())
	case Int32, Rune:
		return int32(i64())
	case Int64:
		return i64()
	case Duration:
		return time.Duration(i64())
	case Uint:
		return uint(i64())
	case Uint8, Byte:
		return uint8(i64())
	case Uint16:
		return uint16(i64())
	case Uint32:
		return uint32(i64())
	case Uint64:
		return uint64(i64())
	case Float32:
		if small {
			return float32(r.IntN(9)-4) / 4
		}
		return math.Float32frombits(r.Uint32())
	case Float64:
		if small {
			return float64(r.IntN(9)-4) / 4
		}
		return math.Float64frombits(r.Uint64())
	case Bool:
		return r.IntN(2) == 0
	case String, Bytes:
		n := r.IntN(6)
		b := make([]byte, n)
		for i := range b {
			switch r.IntN(4) {
			case 0:
				b[i] = 0
			case 1:
				b[i] = 0xFF
			default:
				b[i] = byte('a' + r.IntN(3))
			}
		}
		if t == String {
			return string(b)
		}
		return b
	case Time:
		if small {
			return time.Unix(r.Int64N(5)-2, r.Int64N(3)).In(time.FixedZone("Z", int(r.IntN(5)-2)*3600))
		}
		return time.Unix(r.Int64N(1<<50)-1<<49, r.Int64N(1e9))
	case Decimal:
		if small {
			return decimal.New(r.Int64N(2001)-1000, int32(r.IntN(7)-3))
		}
		// Up to ~40 digits, wide exponents.
		c := new(big.Int).Rand(mathrand.New(randSource{r}), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(1+r.IntN(40))), nil))
		if r.IntN(2) == 0 {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(r.IntN(80)-40))
	}
	panic("type " + t.String())
}

// randSource adapts math/rand/v2 to the math/rand Source big.Int.Rand wants.
type randSource struct{ r *rand.Rand }

func (s randSource) Int63() int64 { return s.r.Int64() }
func (s randSource) Seed(int64)   {}

// indexableTypes lists every type that takes an index.
func indexableTypes() []FieldType {
	var ts []FieldType
	for t := Int; t < numFieldTypes; t++ {
		if indexableType(t) {
			ts = append(ts, t)
		}
	}
	return ts
}

func sign(x int) int { return cmp.Compare(x, 0) }

func TestIndexKeyOrderProperty(t *testing.T) {
	pairs := 20000
	if testing.Short() {
		pairs = 4000
	}
	for _, typ := range indexableTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(typ), 7))
			check := func(a, b any) {
				ka, err := encodeIndexKey(typ, a)
				require.NoError(t, err)
				kb, err := encodeIndexKey(typ, b)
				require.NoError(t, err)
				want := sign(idxRefCompareFull(typ, a, b))
				require.Equal(t, want, sign(bytes.Compare(ka, kb)), "%v vs %v: keys %x %x", a, b, ka, kb)
				// Prefix-free: a shorter key is never a prefix of a different key.
				if want != 0 {
					require.False(t, bytes.HasPrefix(ka, kb) || bytes.HasPrefix(kb, ka), "%x / %x", ka, kb)
				}
				// Entries (key ‖ seq) order by key first.
				if want != 0 {
					ea := appendIndexSeq(append([]byte(nil), ka...), 1<<62)
					eb := appendIndexSeq(append([]byte(nil), kb...), 1)
					require.Equal(t, want, sign(bytes.Compare(ea, eb)))
				}
			}
			bound := append(idxBoundaryValues(typ), nil)
			for _, a := range bound {
				for _, b := range bound {
					check(a, b)
				}
			}
			for range pairs {
				a, b := idxRandomValue(typ, r), idxRandomValue(typ, r)
				if r.IntN(50) == 0 {
					a = nil
				}
				check(a, b)
			}
		})
	}
}

// TestIndexKeyFromRowMatchesValue: the key computed from ROW1 bytes equals
// the key computed from the Go value.
func TestIndexKeyFromRowMatchesValue(t *testing.T) {
	types := indexableTypes()
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		vals := make([]any, len(types))
		for i, typ := range types {
			if r.IntN(10) > 0 {
				vals[i] = idxRandomValue(typ, r)
			}
		}
		row, err := encodeRow(nil, 1, 1, types, vals)
		require.NoError(t, err)
		v, err := parseRow(row)
		require.NoError(t, err)
		for i, typ := range types {
			want, err := encodeIndexKey(typ, vals[i])
			require.NoError(t, err)
			got, err := appendIndexKeyFromRow(nil, v, i, typ)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s %v", typ, vals[i])
		}
	}
}

// TestIndexKeyDecimalExtremeExponents checks a hand-sorted list (the
// reference comparison, decimal.Cmp, would have to build 10^(2^31)).
func TestIndexKeyDecimalExtremeExponents(t *testing.T) {
	sorted := []decimal.Decimal{
		decimal.New(-99, math.MaxInt32-1), // -9.9e(2^31-1)
		decimal.New(-1, math.MaxInt32),
		decimal.RequireFromString("-1e300"),
		decimal.RequireFromString("-1.5"),
		decimal.New(-7, math.MinInt32),
		decimal.New(-6, math.MinInt32),
		decimal.Zero,
		decimal.New(123, math.MinInt32),
		decimal.New(124, math.MinInt32),
		decimal.New(1, math.MinInt32+5),
		decimal.RequireFromString("1e-300"),
		decimal.RequireFromString("1"),
		decimal.RequireFromString("1e300"),
		decimal.New(1, math.MaxInt32),
		decimal.New(99, math.MaxInt32-1),
	}
	for i := range sorted {
		for j := range sorted {
			ki, kj := k2(t, Decimal, sorted[i]), k2(t, Decimal, sorted[j])
			require.Equal(t, sign(i-j), sign(bytes.Compare(ki, kj)), "value %d vs %d", i, j)
		}
	}
}

func TestIndexKeySpecialValues(t *testing.T) {
	k := func(typ FieldType, v any) []byte {
		b, err := encodeIndexKey(typ, v)
		require.NoError(t, err)
		return b
	}
	// -0 and +0 are one key; every NaN is one key, after +Inf.
	require.Equal(t, k(Float64, 0.0), k(Float64, math.Copysign(0, -1)))
	require.Equal(t, k(Float64, math.NaN()), k(Float64, math.Float64frombits(0xFFF8000000000042)))
	require.Positive(t, bytes.Compare(k(Float64, math.NaN()), k(Float64, math.Inf(1))))
	require.Equal(t, k(Float32, float32(0)), k(Float32, float32(math.Copysign(0, -1))))
	// Decimals equal in value are one key whatever their scale.
	require.Equal(t, k(Decimal, decimal.RequireFromString("1.5")), k(Decimal, decimal.RequireFromString("1.500")))
	require.Equal(t, k(Decimal, decimal.RequireFromString("0")), k(Decimal, decimal.RequireFromString("-0.00")))
	require.Equal(t, k(Decimal, decimal.New(100, 0)), k(Decimal, decimal.New(1, 2)))
	// Time ignores the zone.
	tm := time.Unix(1700000000, 123)
	require.Equal(t, k(Time, tm.UTC()), k(Time, tm.In(time.FixedZone("EST", -5*3600))))
	// NULL is its own one-byte key, below every value.
	require.Equal(t, []byte{idxTagNull}, k(String, nil))
	require.Negative(t, bytes.Compare(k(String, nil), k(String, "")))

	// Wrong Go types and non-indexable types are errors, not panics.
	_, err := encodeIndexKey(Int64, 5)
	require.ErrorIs(t, err, ErrInvalidQuery)
	_, err = encodeIndexKey(Object, map[string]any{})
	require.ErrorIs(t, err, ErrInvalidQuery)
	_, err = encodeIndexKey(Decimal, "1.5")
	require.ErrorIs(t, err, ErrInvalidQuery)
	require.False(t, indexableType(Object))
	require.False(t, indexableType(Array))
	require.False(t, indexableType(TypeInvalid))
}

func TestIndexPrefixCoversExactlyThePrefixedKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []FieldType{String, Bytes} {
		for range 5000 {
			v := idxRandomValue(typ, r)
			p := idxRandomValue(typ, r)
			kv := k2(t, typ, v)
			kp, err := encodeIndexPrefix(typ, p)
			require.NoError(t, err)
			var want bool
			if typ == String {
				want = strings.HasPrefix(v.(string), p.(string))
			} else {
				want = bytes.HasPrefix(v.([]byte), p.([]byte))
			}
			require.Equal(t, want, bytes.HasPrefix(kv, kp), "%q prefix %q", v, p)
			// The successor bounds the prefixed keys from above.
			if succ := idxPrefixSuccessor(kp); succ != nil {
				require.Equal(t, want, bytes.Compare(kv, kp) >= 0 && bytes.Compare(kv, succ) < 0)
			}
		}
	}
	_, err := encodeIndexPrefix(Int64, "x")
	require.ErrorIs(t, err, ErrInvalidQuery)
	require.Nil(t, idxPrefixSuccessor([]byte{0xFF, 0xFF}))
	require.Equal(t, []byte{1, 3}, idxPrefixSuccessor([]byte{1, 2, 0xFF}))
}

func k2(t *testing.T, typ FieldType, v any) []byte {
	b, err := encodeIndexKey(typ, v)
	require.NoError(t, err)
	return b
}
