package srdb

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSortIdxBuildRefs checks the grouping sort against the comparison sort
// on few and many distinct keys, keys that are prefixes of each other, and
// arrival orders that are and are not seq order (which must fall back).
func TestSortIdxBuildRefs(t *testing.T) {
	for _, tc := range []struct {
		keys      int
		n         int
		seqOrder  bool
		wantGroup bool
	}{
		{keys: 1, n: 1000, seqOrder: true, wantGroup: true},
		{keys: 50, n: 5000, seqOrder: true, wantGroup: true},
		{keys: 5000, n: 5000, seqOrder: true, wantGroup: false},
		{keys: 50, n: 5000, seqOrder: false, wantGroup: false},
	} {
		t.Run(fmt.Sprintf("keys=%d/n=%d/seqOrder=%v", tc.keys, tc.n, tc.seqOrder), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(tc.keys*7 + tc.n)))
			var buf idxBuildBuf
			seqs := rng.Perm(tc.n)
			if tc.seqOrder {
				slices.Sort(seqs)
			}
			for i := 0; i < tc.n; i++ {
				k := rng.Intn(tc.keys)
				key := []byte(fmt.Sprintf("key-%05d", k))
				if k%5 == 0 {
					key = key[:1+k%4] // prefixes of the others too
				}
				start := len(buf.arena)
				buf.arena = appendIndexSeq(append(buf.arena, key...), int64(seqs[i]+1))
				buf.refs = append(buf.refs, idxBuildRef{off: uint32(start), n: uint32(len(buf.arena) - start)})
			}
			want := slices.Clone(buf.refs)
			slices.SortFunc(want, func(x, y idxBuildRef) int { return bytes.Compare(buf.entry(x), buf.entry(y)) })

			grouped := buf
			grouped.refs = slices.Clone(buf.refs)
			require.Equal(t, tc.wantGroup, sortIdxBuildRefsGrouped(&grouped))
			if tc.wantGroup {
				require.Equal(t, want, grouped.refs)
			}
			sortIdxBuildRefs(&buf)
			require.Equal(t, want, buf.refs)
		})
	}
}
