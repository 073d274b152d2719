package srdb

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tableMetrics returns the metrics of the named table in m.
func tableMetrics(t *testing.T, m Metrics, name string) TableMetrics {
	t.Helper()
	for _, tm := range m.Tables {
		if tm.Name == name {
			return tm
		}
	}
	t.Fatalf("no metrics for table %q in %+v", name, m.Tables)
	return TableMetrics{}
}

func TestMetricsCountersMove(t *testing.T) {
	o := DefaultOptions()
	o.Durability = DurabilitySync
	o.DisableAutoCompaction = true
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createIMTable(t, db)
	s, err := NewSchema("aaa", []Field{{Name: "n", Type: Int64}})
	require.NoError(t, err)
	other, err := db.CreateTable("aaa", s)
	require.NoError(t, err)

	m := db.Metrics()
	require.Len(t, m.Tables, 2)
	require.Equal(t, "aaa", m.Tables[0].Name, "sorted by name")
	require.Equal(t, "messages", m.Tables[1].Name)
	require.Len(t, m.Tables[1].Levels, numLevels)
	require.Zero(t, m.Tables[1].Inserts)
	require.Zero(t, m.Total.WALSyncs)

	for i := int64(1); i <= 10; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	_, err = other.Insert([]map[string]any{{"n": int64(1)}, {"n": int64(2)}})
	require.NoError(t, err)
	require.NoError(t, tbl.Update(3, map[string]any{"msg_type": uint8(1)}))
	require.NoError(t, tbl.Delete(4))
	for _, seq := range []int64{1, 2, 5} {
		_, err := tbl.Get(seq)
		require.NoError(t, err)
	}
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Close())
	require.Equal(t, 9, n)
	_, err = tbl.Query().Eq("msg_type", uint8(1)).Count()
	require.NoError(t, err)
	_, err = tbl.Query().Explain() // plans, runs nothing: not a query
	require.NoError(t, err)
	require.Equal(t, int64(2), tableMetrics(t, db.Metrics(), "messages").Queries)
	pg, _, err := tbl.Query().Paginate(2, 3) // one execution, though it plans twice
	require.NoError(t, err)
	require.NoError(t, pg.Close()) // closed before reading: returned no row
	require.Equal(t, int64(3), tableMetrics(t, db.Metrics(), "messages").Queries)
	_, err = tbl.Query().First() // runs Rows: one execution, one row
	require.NoError(t, err)

	m = db.Metrics()
	tm := tableMetrics(t, m, "messages")
	require.Equal(t, int64(10), tm.Inserts)
	require.Equal(t, int64(1), tm.Updates)
	require.Equal(t, int64(1), tm.Deletes)
	require.Equal(t, int64(3), tm.Gets)
	require.Equal(t, int64(4), tm.Queries)
	require.Equal(t, int64(10), tm.QueryRows)
	require.Equal(t, int64(9), tm.Rows)
	require.Equal(t, int64(10), tm.LastSeq)
	require.Positive(t, tm.MemTableBytes)
	require.Positive(t, tm.MemTableRows)
	require.Positive(t, tm.WALBytes)
	// DurabilitySync: every acknowledged write was fsynced, one at a time here.
	require.GreaterOrEqual(t, tm.WALSyncs, int64(12))
	require.GreaterOrEqual(t, tm.WALWrites, int64(12))
	require.Positive(t, tm.WALBytesWritten)
	require.Positive(t, tm.WALSyncTime)
	require.Zero(t, tm.Flushes)
	require.Zero(t, tm.DiskBytes)
	require.Equal(t, int64(12), m.Total.Inserts, "Total sums the tables")
	require.Equal(t, int64(11), m.Total.Rows)

	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.Flush()) // empty: no second SST
	// Only one flush so far, the memtable is empty now.
	_, err = tbl.Get(6) // from the SST: opens it
	require.NoError(t, err)
	_, err = tbl.Get(7) // reader already open
	require.NoError(t, err)
	tm = tableMetrics(t, db.Metrics(), "messages")
	require.Equal(t, int64(1), tm.Flushes)
	require.Positive(t, tm.FlushedBytes)
	require.Equal(t, int64(1), tm.Levels[0].Files)
	require.Equal(t, tm.Levels[0].Bytes, tm.DiskBytes)
	require.Positive(t, tm.DiskBytes)
	require.Zero(t, tm.MemTableRows)
	require.Equal(t, int64(1), tm.OpenFiles)
	require.Positive(t, tm.CacheMisses)
	require.Positive(t, tm.CacheHits)

	for i := int64(11); i <= 20; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.Compact())
	tm = tableMetrics(t, db.Metrics(), "messages")
	require.Equal(t, int64(2), tm.Flushes)
	require.Positive(t, tm.Compactions)
	require.Positive(t, tm.CompactionBytesRead)
	require.Positive(t, tm.CompactionBytesWritten)
	require.Positive(t, tm.CompactionTime)
	require.Zero(t, tm.Levels[0].Files, "compacted out of L0")
	var files int64
	for _, l := range tm.Levels {
		files += l.Files
	}
	require.Positive(t, files)
	require.False(t, tm.CompactionRunning)
	require.False(t, tm.Stalled)
	require.False(t, tm.ReadOnly)
	require.Zero(t, tm.WriteStalls)
	require.Zero(t, tm.MemTableStalls)
}

func TestMetricsWriteStall(t *testing.T) {
	sig := newSlogSignal("write stall:")
	o := stallOptions(sig)
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	db.compactionSlots <- struct{}{} // the only slot: background compaction must wait

	inserted := make(chan error, 1)
	go func() {
		for i := 0; i < 40; i++ {
			b := make([]map[string]any, 100)
			for j := range b {
				b[j] = compactionRow(int64(i*100 + j + 1))
			}
			if _, err := tbl.Insert(b); err != nil {
				inserted <- err
				return
			}
		}
		inserted <- nil
	}()
	<-sig.ch
	tm := tableMetrics(t, db.Metrics(), "events")
	require.True(t, tm.Stalled)
	require.Equal(t, int64(1), tm.WriteStalls)
	require.True(t, db.Metrics().Total.Stalled)
	// The flusher is stuck, so the writer soon finds the immutable
	// memtables full and waits too.
	deadline := time.Now().Add(10 * time.Second)
	for tableMetrics(t, db.Metrics(), "events").MemTableStalls == 0 {
		require.True(t, time.Now().Before(deadline), "no memtable stall counted")
		time.Sleep(time.Millisecond)
	}

	<-db.compactionSlots // let compaction run
	require.NoError(t, <-inserted)
	require.NoError(t, tbl.Flush())
	tbl.waitForCompactions()
	tm = tableMetrics(t, db.Metrics(), "events")
	require.False(t, tm.Stalled)
	require.Positive(t, tm.WriteStallTime)
	require.Positive(t, tm.MemTableStallTime)
	require.Positive(t, tm.Compactions)
}

func TestMetricsNilZeroClosed(t *testing.T) {
	var nilDB *Database
	require.Equal(t, Metrics{}, nilDB.Metrics())
	require.Equal(t, Metrics{}, (&Database{}).Metrics())

	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	tbl := createIMTable(t, db)
	_, err := tbl.Insert(imTableRow(1))
	require.NoError(t, err)
	require.Len(t, db.Metrics().Tables, 1)
	require.NoError(t, db.Close())
	require.Equal(t, Metrics{}, db.Metrics())
	// A closed table's own gather returns its counters without pinning.
	require.Equal(t, int64(1), tbl.metrics().Inserts)
	require.Zero(t, tbl.metrics().MemTableRows)
}

// TestMetricsConcurrent reads metrics while writers, readers and flushes
// run (meant for -race) and checks that counters never go backwards.
func TestMetricsConcurrent(t *testing.T) {
	o := &Options{Durability: DurabilityNone, MemTableSize: 32 << 10}
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createIMTable(t, db)

	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				seq, err := tbl.Insert(imTableRow(int64(w*perWriter + i)))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tbl.Get(seq); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var prev TableMetrics
		for {
			select {
			case <-stop:
				return
			default:
			}
			m := db.Metrics()
			if len(m.Tables) != 1 {
				t.Errorf("tables: %d", len(m.Tables))
				return
			}
			tm := m.Tables[0]
			if tm.Inserts < prev.Inserts || tm.Gets < prev.Gets || tm.Flushes < prev.Flushes ||
				tm.WALWrites < prev.WALWrites || tm.CacheHits+tm.CacheMisses < prev.CacheHits+prev.CacheMisses {
				t.Errorf("a counter went backwards: %+v after %+v", tm, prev)
				return
			}
			prev = tm
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	tm := db.Metrics().Tables[0]
	require.Equal(t, int64(writers*perWriter), tm.Inserts)
	require.Equal(t, int64(writers*perWriter), tm.Gets)
	require.Positive(t, tm.Flushes, "32 KiB memtables must have flushed")
}
