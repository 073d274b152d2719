package srdb

import (
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueryCorruptSST flips bytes in the row data of an SST: queries report
// ErrCorrupted through Rows.Err / Count, never panic or return a wrong row.
func TestQueryCorruptSST(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Durability: DurabilityNone, DisableAutoCompaction: true}
	db := openTestDB(t, dir, opts)
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 2000; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	num := tbl.Stats().Levels[0].Files[0].Num
	path := makeFilepath(db.tableDir("messages"), fileTypeSST, num)
	require.NoError(t, db.Close())

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	// Damage the middle of the file (row records), well past the header.
	for i := len(data) / 2; i < len(data)/2+64; i++ {
		data[i] ^= 0x5a
	}
	require.NoError(t, os.WriteFile(path, data, 0o600))

	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err = db.Table("messages")
	require.NoError(t, err)
	for _, q := range []*Query{
		tbl.Query().Eq("from_uid", "nobody"),
		tbl.Query().OrderByDesc("_seq"),
		tbl.Query().OrderBy("from_uid").Limit(3),
	} {
		rows, err := q.Rows()
		require.NoError(t, err)
		for rows.Next() {
			row := rows.Row()
			want := imTableRow(row.Seq())
			got, _ := row.Get("msg_id")
			require.Equal(t, want["msg_id"], got, "a row that comes back is the right one")
		}
		err = rows.Close()
		require.Error(t, err)
		assert.True(t, IsCorrupted(err), "%v", err)
	}
	_, err = tbl.Query().Eq("from_uid", "nobody").Count()
	assert.True(t, IsCorrupted(err), "Count: %v", err)
	n, err := tbl.Query().Count()
	require.NoError(t, err, "a count without conditions reads no row")
	assert.Equal(t, 2000, n)
}

// TestQueryFloatIndexZeros checks that -0 and +0, equal as values, are both
// found through an index (whose keys may tell them apart).
func TestQueryFloatIndexZeros(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	s, err := NewSchema("f", []Field{{Name: "x", Type: Float64, Indexed: true}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("f", s)
	require.NoError(t, err)
	fake := newQueryFakeIndex("x")
	for i, v := range []float64{-1, math.Copysign(0, -1), 0, 1, math.NaN()} {
		_, err := tbl.Insert(map[string]any{"x": v})
		require.NoError(t, err)
		fake.add("x", Float64, v, int64(i+1))
	}
	run := func(q *Query) []int64 {
		q.ix = queryFakeIndexAdapter{fake}
		plan, err := q.Explain()
		require.NoError(t, err)
		require.Contains(t, plan, "access: index x")
		return querySeqs(t, q)
	}
	assert.Equal(t, []int64{2, 3}, run(tbl.Query().Eq("x", 0)))
	assert.Equal(t, []int64{2, 3}, run(tbl.Query().In("x", math.Copysign(0, -1))))
	assert.Equal(t, []int64{2, 3, 4}, run(tbl.Query().Gte("x", 0)))
	assert.Equal(t, []int64{4}, run(tbl.Query().Gt("x", 0)))
	assert.Equal(t, []int64{1, 2, 3}, run(tbl.Query().Lte("x", 0)))
	assert.Equal(t, []int64{1}, run(tbl.Query().Lt("x", 0)))
	assert.Equal(t, []int64{1, 2, 3, 4}, run(tbl.Query().Between("x", -1, 1)))
	assert.Empty(t, run(tbl.Query().Eq("x", 0.5)))
}

// TestQueryNullableIndexOrder: an index need not hold NULLs, so ordering by
// a nullable indexed field walks the index only when a condition excludes
// NULL; otherwise it sorts.
func TestQueryNullableIndexOrder(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	s, err := NewSchema("n", []Field{{Name: "k", Type: Int64, Indexed: true, Nullable: true}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("n", s)
	require.NoError(t, err)
	fake := newQueryFakeIndex("k")
	for i, v := range []any{int64(3), nil, int64(1), nil, int64(2)} {
		_, err := tbl.Insert(map[string]any{"k": v})
		require.NoError(t, err)
		fake.add("k", Int64, v, int64(i+1)) // NULLs are not indexed
	}
	q := tbl.Query().OrderBy("k")
	q.ix = queryFakeIndexAdapter{fake}
	plan, err := q.Explain()
	require.NoError(t, err)
	assert.Contains(t, plan, "(sorted")
	assert.Equal(t, []int64{2, 4, 3, 5, 1}, querySeqs(t, q))
	q = tbl.Query().NotNull("k").OrderByDesc("k")
	q.ix = queryFakeIndexAdapter{fake}
	plan, err = q.Explain()
	require.NoError(t, err)
	assert.Contains(t, plan, "whole index")
	assert.Equal(t, []int64{1, 5, 3}, querySeqs(t, q))
}

// TestQueryConcurrent runs queries while writers insert, update, delete and
// flush (run it with -race): every result is well formed.
func TestQueryConcurrent(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, MemTableSize: 64 << 10})
	defer db.Close()
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 2000; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	n := 3000
	if raceEnabled {
		n = 1000
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		for i := 1; i <= n; i++ {
			seq, err := tbl.Insert(imTableRow(int64(2000 + i)))
			if err != nil {
				t.Error(err)
				return
			}
			switch i % 10 {
			case 3:
				err = tbl.Update(seq-100, map[string]any{"msg_type": uint8(7)})
			case 6:
				err = tbl.Delete(seq - 200)
			case 9:
				if i%100 == 99 {
					err = tbl.Flush()
				}
			}
			if err != nil && !IsNotFound(err) {
				t.Error(err)
				return
			}
		}
	}()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				var q *Query
				switch k % 4 {
				case 0:
					q = tbl.Query().Eq("msg_type", 7)
				case 1:
					q = tbl.Query().OrderByDesc("_seq").Limit(50)
				case 2:
					q = tbl.Query().Eq("channel_id", fmt.Sprintf("ch-%03d", k%97)).OrderBy("msg_id").Limit(20)
				default:
					q = tbl.Query().Between("_seq", 500, 1500)
				}
				rows, err := q.Rows()
				if err != nil {
					t.Error(err)
					return
				}
				prev := int64(-1)
				for rows.Next() {
					row := rows.Row()
					if k%4 == 1 && prev >= 0 && row.Seq() >= prev {
						t.Errorf("seq %d after %d in a descending scan", row.Seq(), prev)
					}
					prev = row.Seq()
					if v, _ := row.Get("msg_id"); v == nil {
						t.Errorf("row %d without msg_id", row.Seq())
					}
				}
				if err := rows.Close(); err != nil {
					t.Error(err)
					return
				}
				if _, err := q.Count(); err != nil {
					t.Error(err)
					return
				}
			}
		}(r)
	}
	wg.Wait()
	cnt, err := tbl.Query().Count()
	require.NoError(t, err)
	scanned, err := tbl.Query().Where(And()).Count()
	require.NoError(t, err)
	assert.Equal(t, cnt, scanned, "the live-row counter agrees with a scan")
}

// TestQueryIndexNotReadyFallsBack: when the index turns out not to be
// ready for the pinned read state (a CreateIndex is building it), the query
// runs as a scan and returns the same rows.
func TestQueryIndexNotReadyFallsBack(t *testing.T) {
	tbl, fake := queryPlanTable(t, 1000, 2)
	for _, mk := range []func() *Query{
		func() *Query { return tbl.Query().Eq("channel_id", "ch-3").OrderByDesc("_seq").Limit(5) },
		func() *Query { return tbl.Query().In("channel_id", "ch-3", "ch-4") },
		func() *Query { return tbl.Query().Between("msg_id", 100, 300).OrderByDesc("msg_id") },
		func() *Query { return tbl.Query().OrderBy("msg_id").Limit(7) },
		func() *Query { return tbl.Query().Eq("channel_id", "ch-1").OrderBy("from_uid") },
	} {
		fake.notReady = false
		want, st, plan := queryRun(t, mk(), fake)
		require.Contains(t, plan, "access: index")
		require.Zero(t, st.indexFallbacks)
		fake.notReady = true
		got, st, _ := queryRun(t, mk(), fake)
		assert.Equal(t, want, got, plan)
		assert.EqualValues(t, 1, st.indexFallbacks)
		assert.NotZero(t, st.entriesScanned)
		q := mk()
		q.ix = queryFakeIndexAdapter{fake}
		n, err := q.Count()
		require.NoError(t, err)
		assert.Equal(t, len(want), n)
	}
}
