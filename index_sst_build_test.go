package srdb

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIdxBuildBufForms adds the entries of one field in the arrival orders
// flush and compaction produce and in others, and checks the form the
// buffer ends in, its memory per entry, and that the section it encodes is
// byte for byte the one encoded from the sorted entries (and that sorted()
// for Check returns them).
func TestIdxBuildBufForms(t *testing.T) {
	strKey := func(v string) []byte {
		k, err := encodeIndexKey(String, v)
		require.NoError(t, err)
		return k
	}
	intKey := func(v int64) []byte {
		k, err := encodeIndexKey(Int64, v)
		require.NoError(t, err)
		return k
	}
	type entryFn func(rng *rand.Rand, i int) (key []byte, seq int64)
	channel := func(keys int) entryFn {
		return func(rng *rand.Rand, i int) ([]byte, int64) {
			return strKey(fmt.Sprintf("channel-%04d", rng.Intn(keys))), int64(i + 1)
		}
	}
	msgID := func(rng *rand.Rand, i int) ([]byte, int64) { return intKey(1_000_000_000 + int64(i)), int64(i + 1) }
	for _, tc := range []struct {
		name     string
		n        int
		entry    entryFn
		want     idxBuildMode
		maxBytes float64 // form bytes per entry
	}{
		{"channel/1000 keys", 100_000, channel(1000), idxBuildGrouped, 4},
		{"channel/3 keys", 50_000, channel(3), idxBuildGrouped, 3},
		{"channel/few rows", 500, channel(1000), idxBuildGrouped, 40},
		{"msg_id ascending", 100_000, msgID, idxBuildStream, 13},
		{"one row", 1, msgID, idxBuildStream, 200},
		{"ascending, keys repeating in runs", 30_000, func(rng *rand.Rand, i int) ([]byte, int64) {
			return strKey(fmt.Sprintf("day-%04d", i/1000)), int64(i + 1)
		}, idxBuildStream, 6},
		{"short entries", 3000, func(rng *rand.Rand, i int) ([]byte, int64) {
			return nil, int64(3000 - i)
		}, idxBuildFlat, 40},
		{"random unique keys", 20_000, func(rng *rand.Rand, i int) ([]byte, int64) {
			return intKey(rng.Int63()), int64(i + 1)
		}, idxBuildFlat, 40},
		{"descending keys", 20_000, func(rng *rand.Rand, i int) ([]byte, int64) {
			return intKey(int64(1e9 - i)), int64(i + 1)
		}, idxBuildFlat, 40},
		{"grouped, then a seq out of order", 10_000, func(rng *rand.Rand, i int) ([]byte, int64) {
			if i == 7000 {
				return strKey("channel-0001"), 3
			}
			return strKey(fmt.Sprintf("channel-%04d", rng.Intn(10))), int64(i + 10)
		}, idxBuildFlat, 40},
		{"stream, then a smaller key", 10_000, func(rng *rand.Rand, i int) ([]byte, int64) {
			if i == 9000 {
				return intKey(5), int64(i + 1)
			}
			return intKey(1_000_000 + int64(i)), int64(i + 1)
		}, idxBuildFlat, 40},
		{"keys that are prefixes", 10_000, func(rng *rand.Rand, i int) ([]byte, int64) {
			k := strKey(fmt.Sprintf("key-%05d", rng.Intn(20)))
			if i%7 == 0 {
				k = k[:3]
			}
			return k, int64(i+1) << 40
		}, idxBuildGrouped, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(tc.n)))
			b := &indexSectionBuilder{fields: []idxField{{name: "f"}}, bufs: []*idxBuildBuf{getIdxBuildBuf()}}
			buf := b.bufs[0]
			var want [][]byte
			for i := 0; i < tc.n; i++ {
				key, seq := tc.entry(rng, i)
				e := appendIndexSeq(slices.Clone(key), seq)
				require.True(t, buf.add(e))
				want = append(want, e)
			}
			require.Equal(t, tc.want, buf.mode)
			size := len(buf.arena) + 8*len(buf.refs)
			if buf.mode == idxBuildStream {
				size += len(buf.enc.out) + len(buf.enc.metas) + len(buf.enc.heap)
			}
			for g, k := range buf.gkeys {
				size += len(k) + len(buf.gseqs[g])
			}
			require.LessOrEqual(t, float64(size)/float64(tc.n), tc.maxBytes)

			slices.SortFunc(want, bytes.Compare)
			want = slices.CompactFunc(want, bytes.Equal)
			typs := []FieldType{String}
			wantSection := encodeIndexSection(typs, len(want), func(k int) []byte { return want[k] })
			var enc idxSectionEncoder
			got, err := b.encode(0, typs, &enc)
			require.NoError(t, err)
			require.Equal(t, wantSection, got)

			n, entry, err := b.sorted(0)
			require.NoError(t, err)
			require.Equal(t, len(want), n)
			for k := range want {
				require.Equal(t, want[k], entry(k), "entry %d", k)
			}
		})
	}
}
