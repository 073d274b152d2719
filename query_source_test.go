package srdb

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScanLeafCursorMatchesModel runs scans over a table whose rows lie in
// compacted L1 files (chained by a levelIter), an L0 file and the memtable,
// with deletes and updates, and compares their rows with a model. Forward
// scans step within SST leaves through their cursor (scanSource.sst):
// most entries are reached that way, and seq bounds that start or end in
// the middle of a leaf, tombstones inside leaves, limits and offsets come
// out as through the iterator stack.
func TestScanLeafCursorMatchesModel(t *testing.T) {
	opts := &Options{MemTableSize: 64 << 10, Durability: DurabilityNone, DisableAutoCompaction: true,
		TargetFileSizes: []int64{0, 64 << 10}}
	db := openTestDB(t, t.TempDir(), opts)
	tbl := createIMTable(t, db)
	live := map[int64]uint8{} // seq → msg_type
	insert := func(n int) {
		for k := 0; k < n; k++ {
			row := imTableRow(int64(len(live) + k))
			seq, err := tbl.Insert(row)
			require.NoError(t, err)
			live[seq] = row["msg_type"].(uint8)
		}
	}
	insert(6000)
	for seq := int64(3); seq <= 6000; seq += 7 {
		require.NoError(t, tbl.Delete(seq))
		delete(live, seq)
	}
	for seq := int64(5); seq <= 6000; seq += 11 {
		if _, ok := live[seq]; ok {
			require.NoError(t, tbl.Update(seq, map[string]any{"msg_type": uint8(9)}))
			live[seq] = 9
		}
	}
	require.NoError(t, tbl.Compact())
	insert(700)
	require.NoError(t, tbl.Flush())
	insert(300)
	st := tbl.Stats()
	require.Greater(t, len(st.Levels[1].Files), 1, "several L1 files")
	require.NotEmpty(t, st.Levels[0].Files)

	model := func(lo, hi int64, typ int) []int64 {
		var out []int64
		for seq, ty := range live {
			if seq >= lo && seq <= hi && (typ < 0 || int(ty) == typ) {
				out = append(out, seq)
			}
		}
		slices.Sort(out)
		return out
	}
	maxSeq := int64(len(live)) * 2
	cases := []struct {
		lo, hi int64
		typ    int
	}{
		{1, maxSeq, -1}, {1, maxSeq, 2}, {1, maxSeq, 9}, {1234, 3456, -1}, {1234, 3456, 1},
		{5999, 6400, -1}, {77, 78, -1}, {4000, maxSeq, 3},
	}
	for _, c := range cases {
		for _, desc := range []bool{false, true} {
			what := fmt.Sprintf("seqs [%d, %d], msg_type %d, desc %v", c.lo, c.hi, c.typ, desc)
			q := tbl.Query().Between("_seq", c.lo, c.hi)
			if c.typ >= 0 {
				q.Eq("msg_type", uint8(c.typ))
			}
			if desc {
				q.OrderByDesc("_seq")
			}
			stats := &queryStats{}
			q.stats = stats
			got := querySeqs(t, q)
			want := model(c.lo, c.hi, c.typ)
			if desc {
				slices.Reverse(want)
			}
			require.Equal(t, want, got, what)
			if !desc && c.hi-c.lo > 1000 {
				require.Greater(t, stats.leafSteps, stats.entriesScanned*3/4, what)
			}
			if desc {
				require.Zero(t, stats.leafSteps, what)
			}
			n, err := tbl.Query().Between("_seq", c.lo, c.hi).Where(Eq("msg_type", uint8(max(c.typ, 0)))).Count()
			require.NoError(t, err)
			require.Equal(t, len(model(c.lo, c.hi, max(c.typ, 0))), n, what)
		}
	}
	// Limit and Offset stop and resume in the middle of leaves.
	all := model(1, maxSeq, 2)
	for _, off := range []int{0, 1, 37, 500} {
		got := querySeqs(t, tbl.Query().Eq("msg_type", uint8(2)).Offset(off).Limit(101))
		require.Equal(t, all[off:off+101], got, "offset %d", off)
	}
}
