package srdb

import (
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodeViaValues is the reference path encodeStructRow must match:
// rowFromStruct then encodeRow.
func encodeViaValues(s *Schema, now int64, v any) ([]byte, int64, error) {
	rv, err := s.rowFromStruct(reflect.ValueOf(v))
	if err != nil {
		return nil, 0, err
	}
	ts := now
	if rv.hasTime {
		ts = rv.timeNanos
	}
	b, err := encodeRow(nil, 0, ts, s.types(), rv.vals)
	return b, ts, err
}

// TestEncodeStructRowMatchesValuePath checks that the direct struct encoder
// gives byte-identical rows (and the same errors) as the generic conversion
// for every direct reader and a spread of generic ones, on random values
// including out-of-range ones.
func TestEncodeStructRowMatchesValuePath(t *testing.T) {
	s, err := NewSchema("t", []Field{
		{Name: "s", Type: String},
		{Name: "p", Type: Bytes, Nullable: true},
		{Name: "n", Type: Int64},
		{Name: "d", Type: Duration},
		{Name: "u64", Type: Uint64},
		{Name: "u8", Type: Uint8},
		{Name: "b", Type: Bool},
		{Name: "i16", Type: Int16},
		{Name: "f", Type: Float32},
		{Name: "tm", Type: Time},
		{Name: "opt", Type: String, Nullable: true},
		{Name: "absent", Type: Int32, Nullable: true},
	})
	require.NoError(t, err)
	type row struct {
		S   convMyString `srdb:"s"`
		P   []byte       `srdb:"p"`
		N   int32        `srdb:"n"`
		D   int64        `srdb:"d"`
		U64 uint16       `srdb:"u64"`
		U8  uint         `srdb:"u8"`
		B   bool         `srdb:"b"`
		I16 int          `srdb:"i16"`
		F   float64      `srdb:"f"`
		Tm  time.Time    `srdb:"tm"`
		Opt *string      `srdb:"opt"`
		At  time.Time    `srdb:"_time"`
	}
	rng := rand.New(rand.NewSource(1))
	const now = int64(1_700_000_000_000_000_000)
	var matched, failed int
	for i := 0; i < 2000; i++ {
		r := row{
			S:   convMyString(make([]byte, rng.Intn(20))),
			N:   rng.Int31() - math.MaxInt32/2,
			D:   rng.Int63(),
			U64: uint16(rng.Intn(1 << 16)),
			U8:  uint(rng.Intn(300)), // > 255 is out of range
			B:   rng.Intn(2) == 0,
			I16: rng.Intn(1<<17) - 1<<16, // often out of range
			F:   rng.NormFloat64(),
			Tm:  time.Unix(rng.Int63n(1e10), rng.Int63n(1e9)).UTC(),
		}
		if rng.Intn(3) > 0 {
			r.P = make([]byte, rng.Intn(50))
			rng.Read(r.P)
		}
		if rng.Intn(2) == 0 {
			o := "opt"
			r.Opt = &o
		}
		if rng.Intn(2) == 0 {
			r.At = time.Unix(0, rng.Int63())
		}
		var in any = r
		if i%2 == 1 {
			in = &r
		}
		want, wantTS, wantErr := encodeViaValues(s, now, in)
		got, gotTS, gotErr := s.encodeStructRow([]byte("prefix"), now, reflect.ValueOf(in))
		if wantErr != nil {
			require.Error(t, gotErr, "row %d", i)
			assert.Equal(t, wantErr.Error(), gotErr.Error(), "row %d", i)
			assert.Equal(t, "prefix", string(got), "row %d: dst keeps its length on error", i)
			failed++
			continue
		}
		require.NoError(t, gotErr, "row %d", i)
		assert.Equal(t, want, got[len("prefix"):], "row %d", i)
		assert.Equal(t, wantTS, gotTS, "row %d", i)
		matched++
	}
	assert.Greater(t, matched, 100)
	assert.Greater(t, failed, 100)
}

// TestInsertScratchReuse inserts rows of every Insert form through the
// pooled scratch buffers, interleaving batch sizes, and reads every row
// back: no row may see bytes of another call's row.
func TestInsertScratchReuse(t *testing.T) {
	db := openTestDB(t, t.TempDir(), nil)
	tbl := createIMTable(t, db)
	rows := benchIMRows(64)
	want := map[int64]map[string]any{}
	seq := func(s int64, err error) int64 { require.NoError(t, err); return s }
	for i := 0; i < 40; i++ {
		switch i % 4 {
		case 0:
			r := rows[i%len(rows)]
			want[seq(tbl.Insert(r))] = r
		case 1:
			batch := rows[:1+i%len(rows)]
			first := seq(tbl.Insert(batch))
			for j, r := range batch {
				want[first+int64(j)] = r
			}
		case 2:
			batch := make([]any, 1+i%7)
			for j := range batch {
				batch[j] = rows[(i+j)%len(rows)]
			}
			first := seq(tbl.Insert(batch))
			for j, r := range batch {
				want[first+int64(j)] = r.(map[string]any)
			}
		case 3:
			_, err := tbl.Insert([]any{rows[0], nil})
			require.Error(t, err)
		}
	}
	for s, r := range want {
		got, err := tbl.Get(s)
		require.NoError(t, err)
		for k, v := range r {
			g, _ := got.Get(k)
			assert.Equal(t, v, g, "seq %d field %s", s, k)
		}
	}
}

// TestEncodeStructRowWideEntries checks the direct struct encoder across the
// narrow/wide offset-table boundary (a data area over 0xFFFE bytes): the
// bytes equal the generic path's and decode back.
func TestEncodeStructRowWideEntries(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "s", Type: String}, {Name: "p", Type: Bytes}, {Name: "n", Type: Int64}})
	require.NoError(t, err)
	type row struct {
		S string `srdb:"s"`
		P []byte `srdb:"p"`
		N int64  `srdb:"n"`
	}
	for _, size := range []int{10, rowNarrowMaxData - 8 - 1, rowNarrowMaxData - 8, rowNarrowMaxData, 200_000} {
		in := row{S: "x", P: make([]byte, size), N: int64(size)}
		got, _, err := s.encodeStructRow(nil, 5, reflect.ValueOf(in))
		require.NoError(t, err)
		want, _, err := encodeViaValues(s, 5, in)
		require.NoError(t, err)
		require.Equal(t, want, got, "payload of %d bytes", size)
		_, _, vals, err := decodeRow(got, s.types())
		require.NoError(t, err)
		require.Equal(t, []any{"x", in.P, int64(size)}, vals)
	}
}
