package srdb

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemtablePositionLookup mixes in-order appends, gaps, updates of
// present seqs, and writes of seqs older than the first entry or never seen
// (which take the index map instead of the positional fast path), and checks
// every get against a model, plus the sorted iteration order.
func TestMemtablePositionLookup(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		m := newMemtable(1)
		model := map[int64]int64{} // seq → timeNanos of the newest version
		next := int64(1000 + rng.Intn(100))
		if rng.Intn(2) == 0 {
			// Start with an out-of-order write so that base is "wrong".
			m.add(5, kindSet, 5, []byte("old"))
			model[5] = 5
		}
		for i := 0; i < 3000; i++ {
			var seq int64
			switch r := rng.Intn(10); {
			case r < 6:
				seq = next
				next++
			case r < 7:
				next += int64(1 + rng.Intn(5)) // a gap (failed batch)
				seq = next
				next++
			default:
				seq = int64(rng.Intn(int(next + 10))) // present, older or beyond
			}
			ts := int64(i)
			m.add(seq, kindSet, ts, []byte{byte(i)})
			model[seq] = ts
			if seq >= next {
				next = seq + 1
			}
		}
		for seq := int64(0); seq < next+20; seq++ {
			e, ok := m.get(seq)
			want, present := model[seq]
			require.Equal(t, present, ok, "seed %d seq %d", seed, seq)
			if ok {
				require.Equal(t, seq, e.seq)
				require.Equal(t, want, e.timeNanos, "seed %d seq %d", seed, seq)
			}
		}
		require.Equal(t, len(model), m.len())
		prev := int64(-1)
		it := m.newIter()
		n := 0
		for ok := it.first(); ok; ok = it.next() {
			require.Greater(t, it.seq(), prev)
			prev = it.seq()
			n++
		}
		require.Equal(t, len(model), n)
	}
}
