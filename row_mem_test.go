package srdb

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestResultRowBoxesMatchPlainDecode decodes a value of every type, between
// a String and a NULL, with decodeResultRow (values boxed in the row's
// memory, row_mem.go) and with decodeRow (plain interface conversions):
// both give the same values of the same Go types, projections included.
// The values stay intact after the encoded row is overwritten and after a
// garbage collection that runs while only the values, not their Row, are
// referenced.
func TestResultRowBoxesMatchPlainDecode(t *testing.T) {
	require.True(t, boxesWork, "boxAt must work on this platform")
	cases := rowRoundTripCases(t)
	require.Len(t, cases, 22)
	for typ, values := range cases {
		t.Run(typ.String(), func(t *testing.T) {
			s, err := NewSchema("t", []Field{
				{Name: "a", Type: typ},
				{Name: "mid", Type: String},
				{Name: "n", Type: typ, Nullable: true},
				{Name: "b", Type: typ},
			})
			require.NoError(t, err)
			for k, want := range values {
				vals := []any{want, "mid", nil, want}
				buf, err := encodeRow(nil, int64(k)+1, 1700000000123456789, s.types(), vals)
				require.NoError(t, err)
				_, _, plain, err := decodeRow(buf, s.types())
				require.NoError(t, err)
				for _, fields := range [][]int{nil, {0, 2}, {3}} {
					r, err := decodeResultRow(s, buf, fields)
					require.NoError(t, err)
					got := make([]any, 4)
					for i, name := range []string{"a", "mid", "n", "b"} {
						v, ok := r.Get(name)
						require.Equal(t, fields == nil || containsInt(fields, i), ok, "value %d field %s", k, name)
						if ok {
							requireRowValue(t, s.types()[i], plain[i], v)
						}
						got[i] = v
					}
					r = nil
					clear(buf[rowHeaderSize:])
					runtime.GC()
					for i := range got {
						if got[i] != nil {
							requireRowValue(t, s.types()[i], plain[i], got[i])
						}
					}
					buf, err = encodeRow(nil, int64(k)+1, 1700000000123456789, s.types(), vals)
					require.NoError(t, err)
				}
			}
		})
	}
}

// containsInt reports whether xs holds x.
func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestResultRowIsOneAllocation pins the cost of decoding a row of the IM
// schema: one allocation holds the Row, its values, their boxes and the
// copied bytes of its strings and byte slices (it was seven: the Row, the
// values, the bytes, and one per boxed string, byte slice and int64). A
// row with more than rowMemTailMax bytes to copy takes a second one.
func TestResultRowIsOneAllocation(t *testing.T) {
	s, err := NewSchema("messages", imTableFields())
	require.NoError(t, err)
	for _, c := range []struct {
		payload int
		allocs  float64
	}{{0, 1}, {200, 1}, {rowMemTailMax - 23, 1}, {rowMemTailMax, 2}} {
		buf, err := encodeRow(nil, 7, 8, s.types(), []any{"channel-0001", "user-000001", int64(1 << 40), uint8(3), make([]byte, c.payload)})
		require.NoError(t, err)
		var r *Row
		allocs := testing.AllocsPerRun(100, func() {
			if r, err = decodeResultRow(s, buf, nil); err != nil {
				t.Fatal(err)
			}
		})
		require.Equal(t, c.allocs, allocs, "payload of %d bytes", c.payload)
		p, _ := r.Get("payload")
		require.Len(t, p, c.payload)
		require.Equal(t, c.payload, cap(p.([]byte)), "capacity clipped")
		ch, _ := r.Get("channel_id")
		require.Equal(t, "channel-0001", ch)
	}
}
