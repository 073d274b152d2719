package srdb

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests pin down the cost of each plan with the executor's counters
// (queryStats), so a planner regression — a scan where an index or a seq
// range should serve, a sort where the order streams — fails a test.

var queryPlanBase = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// queryPlanRow is row seq of the plan tests' table: channel ch-(seq%10),
// msg_id seq*10, _time base + seq ms.
func queryPlanRow(seq int64) map[string]any {
	return map[string]any{
		"channel_id": fmt.Sprintf("ch-%d", seq%10),
		"from_uid":   fmt.Sprintf("u%d", seq%7),
		"msg_id":     seq * 10,
		"msg_type":   uint8(seq % 4),
		"payload":    []byte(fmt.Sprintf("p%d", seq)),
		"_time":      queryPlanBase.Add(time.Duration(seq) * time.Millisecond),
	}
}

// queryPlanTable builds an IM table of n rows: files SSTs of equal size
// (disjoint seq and time ranges) and the rest in the memtable, with the
// fake index on channel_id and msg_id.
func queryPlanTable(t *testing.T, n, files int) (*Table, *queryFakeIndex) {
	t.Helper()
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	t.Cleanup(func() { db.Close() })
	tbl := createIMTable(t, db)
	fake := newQueryFakeIndex("channel_id", "msg_id")
	per := n / (files + 1)
	for seq := int64(1); seq <= int64(n); seq++ {
		row := queryPlanRow(seq)
		got, err := tbl.Insert(row)
		require.NoError(t, err)
		require.Equal(t, seq, got)
		fake.addRow(tbl.Schema(), row, seq)
		if seq%int64(per) == 0 && seq/int64(per) <= int64(files) {
			require.NoError(t, tbl.Flush())
		}
	}
	require.Len(t, tbl.Stats().Levels[0].Files, files)
	return tbl, fake
}

// queryRun runs q on the fake index (on no index at all when fake is nil,
// whatever the table's own indexes) and returns its seqs, its counters and
// its plan.
func queryRun(t *testing.T, q *Query, fake *queryFakeIndex) ([]int64, queryStats, string) {
	t.Helper()
	if fake == nil {
		fake = newQueryFakeIndex()
	}
	q.ix = queryFakeIndexAdapter{fake}
	plan, err := q.Explain()
	require.NoError(t, err)
	st := &queryStats{}
	q.stats = st
	seqs := querySeqs(t, q)
	return seqs, *st, plan
}

func querySeqRange(lo, hi, step int64) []int64 {
	var out []int64
	for s := lo; s <= hi; s += step {
		out = append(out, s)
	}
	return out
}

func TestQueryPlanSeqPoints(t *testing.T) {
	tbl, _ := queryPlanTable(t, 2000, 3)
	seqs, st, plan := queryRun(t, tbl.Query().Eq("_seq", 700), nil)
	assert.Equal(t, []int64{700}, seqs)
	assert.Contains(t, plan, "access: seq lookups (1 seq)")
	assert.EqualValues(t, 1, st.lookups)
	assert.EqualValues(t, 1, st.rowsRead)
	assert.Zero(t, st.entriesScanned)

	seqs, st, plan = queryRun(t, tbl.Query().In("_seq", 1999, 5, 1500, 99999).OrderByDesc("_seq"), nil)
	assert.Equal(t, []int64{1999, 1500, 5}, seqs)
	assert.Contains(t, plan, "(streamed)")
	assert.EqualValues(t, 4, st.lookups)
	assert.Zero(t, st.entriesScanned)

	seqs, st, _ = queryRun(t, tbl.Query().In("_seq", 10, 20, 30).Lt("_seq", 25).Eq("msg_type", 2), nil)
	assert.Equal(t, []int64{10}, seqs)
	assert.EqualValues(t, 2, st.lookups, "points outside the _seq bounds are not looked up")

	seqs, st, plan = queryRun(t, tbl.Query().Eq("_seq", 10).Eq("_seq", 11), nil)
	assert.Empty(t, seqs)
	assert.Contains(t, plan, "access: none")
	assert.Zero(t, st.lookups)
}

func TestQueryPlanSeqRange(t *testing.T) {
	tbl, _ := queryPlanTable(t, 4000, 3)
	for _, c := range []struct {
		q      *Query
		want   []int64
		points int64
	}{
		{tbl.Query().Between("_seq", 1500, 1599), querySeqRange(1500, 1599, 1), 100},
		{tbl.Query().Gt("_seq", 1500).Lte("_seq", 1520), querySeqRange(1501, 1520, 1), 20},
		{tbl.Query().Lt("_seq", 30).Gte("_seq", 10.5), querySeqRange(11, 29, 1), 19},
		{tbl.Query().Between("_seq", 2990, 3010).Eq("msg_type", 1), []int64{2993, 2997, 3001, 3005, 3009}, 21},
	} {
		seqs, st, plan := queryRun(t, c.q, nil)
		assert.Equal(t, c.want, seqs)
		assert.Contains(t, plan, "access: scan _seq in")
		assert.Equal(t, c.points, st.entriesScanned, plan)
		assert.Equal(t, c.points, st.rowsRead, plan)
	}
	// Newest first, stopping after the limit: O(limit) entries.
	seqs, st, plan := queryRun(t, tbl.Query().OrderByDesc("_seq").Limit(5), nil)
	assert.Equal(t, []int64{4000, 3999, 3998, 3997, 3996}, seqs)
	assert.Contains(t, plan, "order: _seq desc (streamed)")
	assert.EqualValues(t, 5, st.entriesScanned)
	seqs, st, _ = queryRun(t, tbl.Query().Lt("_seq", 1000).OrderByDesc("_seq").Limit(3), nil)
	assert.Equal(t, []int64{999, 998, 997}, seqs)
	assert.EqualValues(t, 3, st.entriesScanned)
	seqs, st, _ = queryRun(t, tbl.Query().Gt("_seq", 3000).Offset(2).Limit(2), nil)
	assert.Equal(t, []int64{3003, 3004}, seqs)
	assert.EqualValues(t, 4, st.entriesScanned)

	// A count of a seq range reads no row at all.
	q := tbl.Query().Between("_seq", 100, 1099)
	st2 := &queryStats{}
	q.stats = st2
	n, err := q.Count()
	require.NoError(t, err)
	assert.Equal(t, 1000, n)
	assert.EqualValues(t, 1000, st2.entriesScanned)
	assert.Zero(t, st2.rowsRead)
}

func TestQueryPlanIndexEq(t *testing.T) {
	tbl, fake := queryPlanTable(t, 3000, 3)
	seqs, st, plan := queryRun(t, tbl.Query().Eq("channel_id", "ch-3"), fake)
	assert.Equal(t, querySeqRange(3, 2993, 10), seqs)
	assert.Contains(t, plan, `access: index channel_id = "ch-3" (1 key), 1 range merged by _seq`)
	assert.EqualValues(t, 300, st.entriesVisited)
	assert.EqualValues(t, 300, st.rowsRead)
	assert.Zero(t, st.entriesScanned, "no scan")
	assert.Zero(t, st.fieldsDecoded-300*5, "only the returned rows are decoded")

	// Move rows between channels and delete some: the index keeps the old
	// entries, the re-check drops them, and a row under two keys of an In
	// comes once.
	for _, seq := range []int64{3, 13, 23} {
		require.NoError(t, tbl.Update(seq, map[string]any{"channel_id": "ch-4"}))
		fake.add("channel_id", String, "ch-4", seq)
	}
	require.NoError(t, tbl.Delete(33))
	require.NoError(t, tbl.Flush())
	seqs, st, _ = queryRun(t, tbl.Query().Eq("channel_id", "ch-3"), fake)
	assert.Equal(t, querySeqRange(43, 2993, 10), seqs)
	assert.EqualValues(t, 300, st.entriesVisited, "stale entries are visited")
	seqs, _, _ = queryRun(t, tbl.Query().Eq("channel_id", "ch-4"), fake)
	assert.Equal(t, append([]int64{3, 4, 13, 14, 23, 24}, querySeqRange(34, 2994, 10)...), seqs)
	seqs, st, plan = queryRun(t, tbl.Query().In("channel_id", "ch-3", "ch-4"), fake)
	assert.Contains(t, plan, "(2 keys), 2 ranges merged by _seq")
	assert.Contains(t, plan, "under its current key")
	want := append(querySeqRange(3, 2993, 10), querySeqRange(4, 2994, 10)...)
	want = slices.DeleteFunc(want, func(s int64) bool { return s == 33 })
	slices.Sort(want)
	assert.Equal(t, want, seqs, "seq order, each row once")
	assert.EqualValues(t, 303+300, st.entriesVisited)

	// Ordered by the indexed field: key order, each key in seq order.
	seqs, _, plan = queryRun(t, tbl.Query().In("channel_id", "ch-4", "ch-3").OrderByDesc("channel_id").Limit(3), fake)
	assert.Contains(t, plan, "in key order, reverse")
	assert.Equal(t, []int64{2994, 2984, 2974}, seqs)

	// Other conditions filter the candidates.
	seqs, _, _ = queryRun(t, tbl.Query().Eq("channel_id", "ch-3").Between("_seq", 1000, 1100).Eq("msg_type", 3), fake)
	assert.Equal(t, []int64{1003, 1023, 1043, 1063, 1083}, seqs)

	seqs, st, plan = queryRun(t, tbl.Query().Eq("msg_id", 12340), fake)
	assert.Equal(t, []int64{1234}, seqs)
	assert.Contains(t, plan, "index msg_id")
	assert.EqualValues(t, 1, st.entriesVisited)
	assert.EqualValues(t, 1, st.lookups)
}

func TestQueryPlanLastN(t *testing.T) {
	tbl, fake := queryPlanTable(t, 5000, 4)
	seqs, st, plan := queryRun(t, tbl.Query().Eq("channel_id", "ch-7").OrderByDesc("_seq").Limit(20), fake)
	assert.Equal(t, querySeqRange(4807, 4997, 10), reversed(seqs))
	assert.Contains(t, plan, "order: _seq desc (streamed)")
	assert.EqualValues(t, 20, st.entriesVisited, "O(n) index entries, not the channel's 500")
	assert.EqualValues(t, 20, st.rowsRead)

	// Page back before a seq: the reverse range starts at (value, seq).
	seqs, st, plan = queryRun(t, tbl.Query().Eq("channel_id", "ch-7").Lt("_seq", 2000).OrderByDesc("_seq").Limit(20), fake)
	assert.Equal(t, querySeqRange(1807, 1997, 10), reversed(seqs))
	assert.Contains(t, plan, "_seq in [1, 1999]")
	assert.EqualValues(t, 20, st.entriesVisited, "no entry newer than the page is visited")
	assert.EqualValues(t, 20, st.rowsRead)
	seqs, st, _ = queryRun(t, tbl.Query().Eq("channel_id", "ch-7").Lte("_seq", 1997).OrderByDesc("_seq").Offset(1).Limit(2), fake)
	assert.Equal(t, []int64{1987, 1977}, seqs)
	assert.EqualValues(t, 3, st.entriesVisited)

	// Deleted rows under the key cost a visit each, no more.
	for _, seq := range []int64{4997, 4987} {
		require.NoError(t, tbl.Delete(seq))
	}
	seqs, st, _ = queryRun(t, tbl.Query().Eq("channel_id", "ch-7").OrderByDesc("_seq").Limit(3), fake)
	assert.Equal(t, []int64{4977, 4967, 4957}, seqs)
	assert.EqualValues(t, 5, st.entriesVisited)

	// The oldest messages, forward.
	seqs, st, _ = queryRun(t, tbl.Query().Eq("channel_id", "ch-7").Gt("_seq", 1000).OrderBy("_seq").Limit(2), fake)
	assert.Equal(t, []int64{1007, 1017}, seqs)
	assert.EqualValues(t, 2, st.entriesVisited, "the forward range starts at (value, seq)")
	assert.EqualValues(t, 2, st.lookups)

	first, err := tbl.Query().Eq("channel_id", "ch-7").Last()
	require.NoError(t, err)
	assert.EqualValues(t, 4977, first.Seq())
}

func reversed(s []int64) []int64 {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestQueryPlanIndexRange(t *testing.T) {
	tbl, fake := queryPlanTable(t, 3000, 2)
	seqs, st, plan := queryRun(t, tbl.Query().Between("msg_id", 10000, 10099), fake)
	assert.Equal(t, querySeqRange(1000, 1009, 1), seqs)
	assert.Contains(t, plan, "index msg_id in [10000, 10099]")
	assert.EqualValues(t, 10, st.entriesVisited)
	assert.Zero(t, st.entriesScanned)

	seqs, st, _ = queryRun(t, tbl.Query().Gt("msg_id", 29950.5).Lt("msg_id", 1e9), fake)
	assert.Equal(t, querySeqRange(2996, 3000, 1), seqs)
	assert.EqualValues(t, 5, st.entriesVisited)

	seqs, st, plan = queryRun(t, tbl.Query().Lt("msg_id", 50).OrderByDesc("msg_id"), fake)
	assert.Equal(t, []int64{4, 3, 2, 1}, seqs)
	assert.Contains(t, plan, "order: msg_id desc (streamed)")
	assert.EqualValues(t, 4, st.entriesVisited)

	seqs, st, plan = queryRun(t, tbl.Query().StartsWith("channel_id", "ch-1").Lt("_seq", 100000), fake)
	assert.Contains(t, plan, `index channel_id STARTS WITH "ch-1"`)
	assert.Equal(t, querySeqRange(1, 2991, 10), seqs)
	assert.EqualValues(t, 300, st.entriesVisited)

	// Ordered by _seq, a range on an index does not serve: a seq-ordered scan
	// streams and stops at the limit.
	seqs, _, plan = queryRun(t, tbl.Query().Gt("msg_id", 100).OrderByDesc("_seq").Limit(2), fake)
	assert.Contains(t, plan, "access: scan")
	assert.Equal(t, []int64{3000, 2999}, seqs)
}

func TestQueryPlanTimeSkipsFiles(t *testing.T) {
	tbl, _ := queryPlanTable(t, 4000, 3) // files: seqs 1-1000, 1001-2000, 2001-3000; memtable 3001-4000
	at := func(seq int64) time.Time { return queryPlanBase.Add(time.Duration(seq) * time.Millisecond) }
	seqs, st, plan := queryRun(t, tbl.Query().Between("_time", at(1200), at(1299)), nil)
	assert.Equal(t, querySeqRange(1200, 1299, 1), seqs)
	assert.Contains(t, plan, "via the SST _time index (now 2 of 3 files and 1 of 1 memtable skipped by their _time range")
	assert.EqualValues(t, 2, st.filesSkipped)
	assert.EqualValues(t, 1, st.memsSkipped)
	// The file's _time index: the blocks 1129-1256 and 1257-1384 hold the
	// range; the 1000 entries of the file were read before it.
	assert.EqualValues(t, 2*sstTimeBlockRows, st.entriesScanned, "only the blocks of the range are read")

	seqs, st, _ = queryRun(t, tbl.Query().Gte("_time", at(3995)), nil)
	assert.Equal(t, querySeqRange(3995, 4000, 1), seqs)
	assert.EqualValues(t, 3, st.filesSkipped)

	// A file holding a tombstone is never skipped: it hides an older row.
	require.NoError(t, tbl.Delete(1250))
	require.NoError(t, tbl.Flush()) // seqs 3001-4000 and the tombstone of 1250
	seqs, st, _ = queryRun(t, tbl.Query().Between("_time", at(1249), at(1251)), nil)
	assert.Equal(t, []int64{1249, 1251}, seqs)
	assert.EqualValues(t, 2, st.filesSkipped, "the file with the tombstone is read although its rows are out of range")
	seqs, _, _ = queryRun(t, tbl.Query().In("_time", at(1250), at(1251)), nil)
	assert.Equal(t, []int64{1251}, seqs)

	// Updates keep the row time, so the row stays in range.
	require.NoError(t, tbl.Update(1260, map[string]any{"msg_type": uint8(9)}))
	require.NoError(t, tbl.Flush())
	seqs, _, _ = queryRun(t, tbl.Query().Between("_time", at(1200), at(1299)).Eq("msg_type", 9), nil)
	assert.Equal(t, []int64{1260}, seqs)

	seqs, _, _ = queryRun(t, tbl.Query().Gt("_time", at(5000)), nil)
	assert.Empty(t, seqs)
	seqs, _, plan = queryRun(t, tbl.Query().Gt("_time", at(2000)).Lt("_time", at(1000)), nil)
	assert.Empty(t, seqs)
	assert.Contains(t, plan, "access: none")
}

func TestQueryPlanOrder(t *testing.T) {
	tbl, fake := queryPlanTable(t, 3000, 2)
	// OrderBy an indexed field streams from the whole index.
	seqs, st, plan := queryRun(t, tbl.Query().OrderByDesc("msg_id").Limit(3), fake)
	assert.Equal(t, []int64{3000, 2999, 2998}, seqs)
	assert.Contains(t, plan, "whole index")
	assert.Contains(t, plan, "(streamed)")
	assert.EqualValues(t, 3, st.entriesVisited)
	assert.Zero(t, st.sortedRows)

	// Without the index the same order needs a sort: a heap of the limit.
	seqs, st, plan = queryRun(t, tbl.Query().OrderByDesc("msg_id").Limit(3), nil)
	assert.Equal(t, []int64{3000, 2999, 2998}, seqs)
	assert.Contains(t, plan, "(sorted: heap of the best 3)")
	assert.EqualValues(t, 3, st.sortedRows)
	assert.EqualValues(t, 3000, st.entriesScanned)

	// A non-indexed order: heap of Offset+Limit, or every row.
	seqs, st, plan = queryRun(t, tbl.Query().OrderBy("from_uid").OrderByDesc("_seq").Offset(2).Limit(3), fake)
	assert.Equal(t, []int64{2982, 2975, 2968}, seqs) // from_uid u0: seqs divisible by 7, newest first
	assert.Contains(t, plan, "(sorted: heap of the best 5)")
	assert.EqualValues(t, 5, st.sortedRows)
	_, st, plan = queryRun(t, tbl.Query().OrderBy("payload").Lt("_seq", 100000), fake)
	assert.Contains(t, plan, "sorted in memory: every matching row")
	assert.EqualValues(t, 3000, st.sortedRows)

	// _time orders sort; _seq orders stream.
	_, _, plan = queryRun(t, tbl.Query().OrderBy("_time").Limit(1), fake)
	assert.Contains(t, plan, "(sorted")
	_, st, plan = queryRun(t, tbl.Query().Eq("msg_type", 3).OrderBy("_seq"), fake)
	assert.Contains(t, plan, "(streamed)")
	assert.Zero(t, st.sortedRows)

	// An Eq index with another order: the (small) result is sorted.
	seqs, _, plan = queryRun(t, tbl.Query().Eq("channel_id", "ch-2").OrderByDesc("msg_type").Limit(2), fake)
	assert.Contains(t, plan, "index channel_id")
	assert.Contains(t, plan, "(sorted")
	assert.Equal(t, []int64{2982, 2962}, seqs) // msg_type 0 or 2 in ch-2: 2 first, newest first
}

func TestQueryPlanCount(t *testing.T) {
	tbl, fake := queryPlanTable(t, 2000, 2)
	count := func(q *Query) (int, queryStats) {
		q.ix = queryFakeIndexAdapter{fake}
		st := &queryStats{}
		q.stats = st
		n, err := q.Count()
		require.NoError(t, err)
		return n, *st
	}
	n, st := count(tbl.Query())
	assert.Equal(t, 2000, n)
	assert.Equal(t, queryStats{}, st, "no condition: the live-row counter, nothing read")
	n, st = count(tbl.Query().OrderBy("from_uid").Select("payload"))
	assert.Equal(t, 2000, n)
	assert.Equal(t, queryStats{}, st)

	n, st = count(tbl.Query().Eq("msg_type", 1))
	assert.Equal(t, 500, n)
	assert.EqualValues(t, 2000, st.rowsRead)
	assert.Zero(t, st.rowsDecoded, "no Row is built")
	assert.Zero(t, st.fieldsDecoded, "the filter reads the encoded field")

	n, st = count(tbl.Query().Eq("channel_id", "ch-5").Gt("msg_type", 0))
	assert.Equal(t, 200, n)
	assert.EqualValues(t, 200, st.entriesVisited)
	assert.Zero(t, st.fieldsDecoded)
	assert.Zero(t, st.entriesScanned)

	n, _ = count(tbl.Query().Eq("msg_type", 1).Offset(10).Limit(20))
	assert.Equal(t, 20, n)
	n, st = count(tbl.Query().Lt("_seq", 1000).Limit(5))
	assert.Equal(t, 5, n)
	assert.EqualValues(t, 5, st.entriesScanned, "stops at Offset+Limit")

	require.NoError(t, tbl.Delete(7))
	n, st = count(tbl.Query())
	assert.Equal(t, 1999, n)
	assert.Zero(t, st.entriesScanned)
}

// TestQueryPlanStreams checks that scans and index walks hold no rows: the
// result is produced while it is read.
func TestQueryPlanStreams(t *testing.T) {
	tbl, fake := queryPlanTable(t, 2000, 2)
	for _, q := range []*Query{
		tbl.Query(),
		tbl.Query().Eq("msg_type", 2).OrderByDesc("_seq"),
		tbl.Query().OrderBy("msg_id"),
		tbl.Query().In("channel_id", "ch-1", "ch-2").OrderByDesc("_seq"),
	} {
		q.ix = queryFakeIndexAdapter{fake}
		st := &queryStats{}
		q.stats = st
		rows, err := q.Rows()
		require.NoError(t, err)
		require.True(t, rows.Next())
		assert.LessOrEqual(t, st.rowsRead, int64(4), "the first row needs only a few reads")
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
		assert.Zero(t, st.sortedRows)
	}
}

// TestQueryPlanExplain checks the whole Explain text of a typical query.
func TestQueryPlanExplain(t *testing.T) {
	tbl, fake := queryPlanTable(t, 100, 1)
	q := tbl.Query().Eq("channel_id", "ch-1").Lt("_seq", 50).OrderByDesc("_seq").Select("payload").Limit(20)
	q.ix = queryFakeIndexAdapter{fake}
	plan, err := q.Explain()
	require.NoError(t, err)
	assert.Equal(t, strings.Join([]string{
		"table: messages",
		`access: index channel_id = "ch-1" (1 key), 1 range merged by _seq, reverse, _seq in [1, 49], each candidate re-checked on its newest row`,
		`filter: channel_id = "ch-1" AND _seq < 50`,
		"order: _seq desc (streamed)",
		"select: _seq, _time, payload",
		"window: limit 20, offset 0",
		"",
	}, "\n"), plan)
	plan, err = tbl.Query().Explain()
	require.NoError(t, err)
	assert.Contains(t, plan, "access: scan _seq in [1, 9223372036854775807], forward\nfilter: none\norder: none (access order)\nselect: all fields\nwindow: no limit, offset 0")
}
