package srdb

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fillIMTable inserts n IM rows in batches of 500 and flushes after every
// flushEvery rows (0: never), so the rows sit in several SSTs and the
// memtable.
func fillIMTable(t testing.TB, tbl *Table, n, flushEvery int) {
	t.Helper()
	batch := make([]map[string]any, 0, 500)
	for i := 1; i <= n; i++ {
		batch = append(batch, imTableRow(int64(i)))
		if len(batch) == cap(batch) || i == n {
			_, err := tbl.Insert(batch)
			require.NoError(t, err)
			batch = batch[:0]
		}
		if flushEvery > 0 && i%flushEvery == 0 {
			require.NoError(t, tbl.Flush())
		}
	}
}

// leakedRowsQuery returns the i-th of a mix of query shapes (scan, index,
// sort, points, filtered scan), each matching more than two rows.
func leakedRowsQuery(tbl *Table, i int) *Query {
	switch i % 5 {
	case 0:
		return tbl.Query()
	case 1:
		return tbl.Query().Eq("channel_id", "ch-005")
	case 2:
		return tbl.Query().OrderBy("from_uid")
	case 3:
		return tbl.Query().In("_seq", 1, 2, 3, 2500, 3100)
	}
	return tbl.Query().Eq("from_uid", "u3").OrderByDesc("_seq")
}

// requireInvalidated checks a Rows the table's close invalidated.
func requireInvalidated(t *testing.T, r *Rows, i int) {
	t.Helper()
	require.NotPanics(t, func() { _ = r.Row() }, "Rows %d", i)
	require.False(t, r.Next(), "Rows %d: Next after Close", i)
	require.Nil(t, r.Row(), "Rows %d", i)
	require.ErrorIs(t, r.Err(), ErrClosed, "Rows %d", i)
	require.Equal(t, CodeClosed, ErrorCode(r.Err()), "Rows %d", i)
	require.ErrorIs(t, r.Close(), ErrClosed, "Rows %d: Close returns Err", i)
	require.ErrorIs(t, r.Close(), ErrClosed, "Rows %d: second Close", i)
	require.False(t, r.Next(), "Rows %d", i)
}

// TestCloseInvalidatesLeakedRows: 100 Rows left open (some never read,
// some part way) do not hold Database.Close: it returns within a second,
// releases their pins, and each then reports ErrClosed. Before the fix Close
// waited for them forever.
func TestCloseInvalidatesLeakedRows(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	tbl := createIMTable(t, db)
	fillIMTable(t, tbl, 3200, 1000) // three SSTs and a memtable
	var open []*Rows
	for i := 0; i < 100; i++ {
		r, err := leakedRowsQuery(tbl, i).Rows()
		require.NoError(t, err)
		for k := 0; k < i%3; k++ {
			require.True(t, r.Next(), "Rows %d row %d", i, k)
		}
		open = append(open, r)
	}
	require.EqualValues(t, 100, tbl.activePins.Load())

	done := make(chan error, 1)
	go func() { done <- db.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Second):
		t.Fatal("Database.Close did not return within 1 s with 100 Rows open")
	}
	require.Zero(t, tbl.activePins.Load(), "Close released every pin")
	require.Empty(t, tbl.rows.open)
	for i, r := range open {
		requireInvalidated(t, r, i)
	}
	_, err := tbl.Query().Rows()
	require.ErrorIs(t, err, ErrClosed)
}

// TestDropTableInvalidatesRows: DropTable of a table with Rows open returns
// promptly (it used to wait for them while holding the database lock) and
// the Rows report ErrClosed; the database stays usable.
func TestDropTableInvalidatesRows(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	tbl := createIMTable(t, db)
	fillIMTable(t, tbl, 3200, 1000)
	var open []*Rows
	for i := 0; i < 10; i++ {
		r, err := leakedRowsQuery(tbl, i).Rows()
		require.NoError(t, err)
		require.True(t, r.Next())
		open = append(open, r)
	}
	done := make(chan error, 1)
	go func() { done <- db.DropTable("messages") }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Second):
		t.Fatal("DropTable did not return within 1 s with 10 Rows open")
	}
	for i, r := range open {
		requireInvalidated(t, r, i)
	}
	require.Empty(t, db.Tables())
	other := createIMTable(t, db)
	_, err := other.Insert(imTableRow(1))
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// TestCloseWhileRowsIterate: Close while goroutines iterate Rows over
// mmapped SSTs (the OS file system), some in the middle of a long Next (a
// filter that matches only the last rows), and one Rows parked between two
// Next calls. Close returns promptly; every iteration ends with all its rows
// or with ErrClosed; nothing reads unmapped memory (that would crash the
// test binary) and -race finds no race between Next and Close's release.
func TestCloseWhileRowsIterate(t *testing.T) {
	for round := 0; round < 4; round++ {
		db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
		tbl := createIMTable(t, db)
		const n = 6000
		fillIMTable(t, tbl, n, 1500)

		// A Rows parked after its first row until Close has returned.
		parked, err := tbl.Query().Rows()
		require.NoError(t, err)
		require.True(t, parked.Next())

		var wg sync.WaitGroup
		var rowsRead atomic.Int64
		started := make(chan struct{}, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for iter := 0; ; iter++ {
					var q *Query
					switch (g + iter) % 4 {
					case 0:
						q = tbl.Query()
					case 1:
						q = tbl.Query().Eq("from_uid", "nobody") // one Next scans the whole table
					case 2:
						q = tbl.Query().OrderBy("payload").Limit(50)
					default:
						q = tbl.Query().Eq("channel_id", "ch-011")
					}
					r, err := q.Rows()
					if err != nil {
						if !IsClosed(err) {
							t.Errorf("goroutine %d: Rows: %v", g, err)
						}
						return
					}
					for r.Next() {
						row := r.Row()
						if p, ok := row.Get("payload"); !ok || len(p.([]byte)) == 0 {
							t.Errorf("goroutine %d: row %d without payload", g, row.Seq())
						}
						rowsRead.Add(1)
					}
					if iter == 0 {
						started <- struct{}{}
					}
					err = r.Err()
					if cerr := r.Close(); cerr != err {
						t.Errorf("goroutine %d: Close returned %v, Err %v", g, cerr, err)
					}
					if err != nil {
						if !IsClosed(err) {
							t.Errorf("goroutine %d: Err: %v", g, err)
						}
						return
					}
				}
			}(g)
		}
		for g := 0; g < 4; g++ {
			<-started
		}
		done := make(chan error, 1)
		go func() { done <- db.Close() }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Database.Close did not return within 5 s while Rows iterate")
		}
		wg.Wait()
		requireInvalidated(t, parked, -1)
		require.Zero(t, tbl.activePins.Load())
		require.Positive(t, rowsRead.Load())
	}
}
