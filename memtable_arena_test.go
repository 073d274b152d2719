package srdb

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// activeMemtable returns tbl's active memtable.
func activeMemtable(tbl *Table) *memtable {
	tbl.stateMu.RLock()
	defer tbl.stateMu.RUnlock()
	return tbl.mem
}

// TestMemtableArenaOffHeap: a table's memtable keeps its rows in mappings
// outside the Go heap, which stay mapped while a reader pins the memtable
// across its flush and are unmapped when the last one releases it; a row
// Get returned before the flush is the caller's own copy.
func TestMemtableArenaOffHeap(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	const n = 2000
	for i := int64(1); i <= n; i++ {
		_, err := tbl.Insert(visRow(i))
		require.NoError(t, err)
	}
	m := activeMemtable(tbl)
	require.Positive(t, m.chunks.mapped(), "the active memtable's rows are mapped outside the heap")

	got, err := tbl.lookup(5, false)
	require.NoError(t, err)
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	require.True(t, rows.Next())

	require.NoError(t, tbl.Flush())
	require.NotSame(t, m, activeMemtable(tbl))
	require.Positive(t, m.chunks.mapped(), "a pinned memtable stays mapped after its flush")
	seen := int64(1)
	for rows.Next() {
		seen++
		v, _ := rows.Row().Get("n")
		require.Equal(t, seen, v)
	}
	require.NoError(t, rows.Err())
	require.EqualValues(t, n, seen)
	require.Zero(t, m.chunks.mapped(), "the last release unmaps the flushed memtable's arena")
	require.Zero(t, m.refs.Load())

	// The bytes lookup returned are a copy: reading them after the arena
	// is gone neither faults nor sees other bytes.
	v, err := parseRow(got)
	require.NoError(t, err)
	require.EqualValues(t, 5, v.seq())
}

// TestMemtableArenaFreedAtClose: Close unmaps the arenas of the memtables
// it leaves to WAL replay.
func TestMemtableArenaFreedAtClose(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	for i := int64(1); i <= 100; i++ {
		_, err := tbl.Insert(visRow(i))
		require.NoError(t, err)
	}
	m := activeMemtable(tbl)
	require.Positive(t, m.chunks.mapped())
	require.NoError(t, db.Close())
	require.Zero(t, m.chunks.mapped())
	require.Zero(t, m.refs.Load())
}

// TestMemtableArenaCleanup: an off-heap memtable dropped without its
// references released (a failed Open's replayed memtables) is unmapped once
// the collector finds it unreachable.
func TestMemtableArenaCleanup(t *testing.T) {
	c := func() *memChunks {
		m := newMemtable(1)
		m.offHeap()
		m.add(1, kindSet, 0, make([]byte, 100))
		m.add(2, kindSet, 0, make([]byte, memArenaChunk/2)) // a chunk of its own
		require.Len(t, m.chunks.maps, 2)
		return m.chunks
	}()
	require.Positive(t, c.mapped())
	deadline := time.Now().Add(10 * time.Second)
	for c.mapped() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.Zero(t, c.mapped())
}

// TestMemtableArenaFreedByRefresh: a read-only Refresh unmaps the arenas of
// the memtables it replaces once no Rows pins them.
func TestMemtableArenaFreedByRefresh(t *testing.T) {
	dir := t.TempDir()
	w := openTestDB(t, dir, &Options{Durability: DurabilityInterval, DisableAutoCompaction: true})
	defer w.Close()
	wt := createIMTable(t, w)
	for i := int64(1); i <= 100; i++ { // memtable and WAL only
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	r, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer r.Close()
	rt, err := r.Table("messages")
	require.NoError(t, err)
	rt.stateMu.RLock()
	require.Len(t, rt.imms, 1)
	replayed := rt.imms[0]
	rt.stateMu.RUnlock()
	require.Positive(t, replayed.chunks.mapped())

	open, err := rt.Query().Rows()
	require.NoError(t, err)
	require.NoError(t, r.Refresh())
	require.Positive(t, replayed.chunks.mapped(), "the open Rows pins the replaced memtable")
	n := 0
	for open.Next() {
		n++
	}
	require.NoError(t, open.Err())
	require.Equal(t, 100, n)
	require.Zero(t, replayed.chunks.mapped(), "released with the last Rows")
}
