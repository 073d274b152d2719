package srdb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIndexLevelSourceMatchesModel: with many small files in L1+ (and a few
// in L0 and the memtable), Eq on an indexed field — last n, page back,
// page forward, In, Count — returns exactly the model's rows, and a last-n
// or page-back query positions in about one file of the deep level instead
// of all of them (levelIdxSource, and the files skipped by the seq bound).
func TestIndexLevelSourceMatchesModel(t *testing.T) {
	small := int64(64 << 10)
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true,
		TargetFileSizes: []int64{small, small, small, small, small, small, small}})
	defer db.Close()
	tbl := createIMTable(t, db)
	const channels = 40
	bySeq := map[string][]int64{} // channel → seqs, ascending
	insert := func(n int) {
		rows := make([]map[string]any, n)
		for i := range rows {
			rows[i] = map[string]any{"channel_id": fmt.Sprintf("c%02d", (len(bySeq["_n"])+i)%channels), "from_uid": "u", "msg_id": int64(i), "msg_type": 1, "payload": make([]byte, 150)}
		}
		first, err := tbl.Insert(rows)
		require.NoError(t, err)
		for i, r := range rows {
			ch := r["channel_id"].(string)
			bySeq[ch] = append(bySeq[ch], first+int64(i))
		}
		bySeq["_n"] = append(bySeq["_n"], make([]int64, n)...)
	}
	insert(20000)
	require.NoError(t, tbl.Compact())
	insert(1000)
	require.NoError(t, tbl.Flush())
	insert(500) // in the memtable
	deep := 0
	for _, l := range tbl.Stats().Levels[1:] {
		deep = max(deep, len(l.Files))
	}
	require.GreaterOrEqual(t, deep, 20, "many files in one deep level")

	r := rand.New(rand.NewPCG(91, 92))
	for range 300 {
		ch := fmt.Sprintf("c%02d", r.IntN(channels))
		seqs := bySeq[ch]
		x := 1 + r.Int64N(seqs[len(seqs)-1]+10)
		n := 1 + r.IntN(40)
		// Page back: the n newest below x.
		var want []int64
		for i := len(seqs) - 1; i >= 0 && len(want) < n; i-- {
			if seqs[i] < x {
				want = append(want, seqs[i])
			}
		}
		landed := tbl.idx.visited.Load() // entries the index sources landed on, positioning included
		q := tbl.Query().Eq("channel_id", ch).Lt("_seq", x).OrderByDesc("_seq").Limit(n)
		require.Equal(t, want, querySeqs(t, q), "%s before %d limit %d", ch, x, n)
		require.LessOrEqual(t, tbl.idx.visited.Load()-landed, int64(n+8), "entries landed on: the files of the deep level are not all positioned")
		// Page forward: the n oldest above x.
		want = want[:0]
		for _, s := range seqs {
			if s > x && len(want) < n {
				want = append(want, s)
			}
		}
		require.Equal(t, want, querySeqs(t, tbl.Query().Eq("channel_id", ch).Gt("_seq", x).Limit(n)), "%s after %d limit %d", ch, x, n)
		// Two channels merged, newest first.
		ch2 := fmt.Sprintf("c%02d", r.IntN(channels))
		both := slices.Clone(seqs)
		if ch2 != ch {
			both = append(both, bySeq[ch2]...)
		}
		slices.Sort(both)
		slices.Reverse(both)
		require.Equal(t, both[:min(n, len(both))], querySeqs(t, tbl.Query().In("channel_id", ch, ch2).OrderByDesc("_seq").Limit(n)))
	}
	for c := range channels {
		ch := fmt.Sprintf("c%02d", c)
		got, err := tbl.Query().Eq("channel_id", ch).Count()
		require.NoError(t, err)
		require.Equal(t, len(bySeq[ch]), got)
	}
	require.NoError(t, db.Check())
}
