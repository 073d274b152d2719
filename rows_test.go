package srdb

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rowsPins returns the reference count of the table's current version: one
// for the table plus one per pinned read state.
func rowsPins(t *Table) int32 {
	t.stateMu.RLock()
	defer t.stateMu.RUnlock()
	return t.current.refs.Load()
}

func TestRowsPinLifecycle(t *testing.T) {
	tbl, _ := queryPlanTable(t, 500, 1)
	base := rowsPins(tbl)

	// Close before the end releases the pin; Close is idempotent.
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	assert.Equal(t, base+1, rowsPins(tbl), "an open Rows pins the read state")
	require.True(t, rows.Next())
	require.NoError(t, rows.Close())
	assert.Equal(t, base, rowsPins(tbl))
	require.NoError(t, rows.Close())
	assert.Equal(t, base, rowsPins(tbl))
	assert.False(t, rows.Next(), "Next after Close")
	assert.Nil(t, rows.Row())
	assert.NoError(t, rows.Err())

	// Reading to the end releases it before Close.
	for _, q := range []*Query{
		tbl.Query(),
		tbl.Query().OrderBy("from_uid"),             // sort
		tbl.Query().In("_seq", 1, 2, 3),             // points
		tbl.Query().OrderByDesc("_seq").Limit(3),    // stops at the limit
		tbl.Query().Eq("_seq", 1).Eq("_seq", 2),     // empty plan
		tbl.Query().OrderBy("msg_type").Offset(499), // sort with offset
	} {
		rows, err := q.Rows()
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			n++
			require.NotNil(t, rows.Row())
		}
		assert.Equal(t, base, rowsPins(tbl), "released at the end (%d rows)", n)
		assert.Nil(t, rows.Row())
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}

	// Count, First, Last, Scan and Paginate release what they pin.
	_, err = tbl.Query().Eq("msg_type", 1).Count()
	require.NoError(t, err)
	_, err = tbl.Query().Eq("msg_type", 1).First()
	require.NoError(t, err)
	_, err = tbl.Query().Eq("msg_type", 1).Limit(5).Last()
	require.NoError(t, err)
	var out []map[string]any
	require.NoError(t, tbl.Query().Limit(3).Scan(&out))
	rows, total, err := tbl.Query().Paginate(2, 10)
	require.NoError(t, err)
	assert.Equal(t, 500, total)
	assert.Equal(t, base+1, rowsPins(tbl))
	require.NoError(t, rows.Close())
	assert.Equal(t, base, rowsPins(tbl))

	var nilRows *Rows
	assert.False(t, nilRows.Next())
	assert.Nil(t, nilRows.Row())
	assert.NoError(t, nilRows.Err())
	assert.NoError(t, nilRows.Close())
}

// TestRowsSurviveFlush reads through a Rows while the table flushes: the
// pinned read state keeps the memtable and the old version readable, and
// the result is the one of the moment Rows was opened (for rows present
// then).
func TestRowsSurviveFlush(t *testing.T) {
	tbl, _ := queryPlanTable(t, 600, 1) // 300 rows in an SST, 300 in the memtable
	old := func() *version {
		tbl.stateMu.RLock()
		defer tbl.stateMu.RUnlock()
		return tbl.current
	}()
	rows, err := tbl.Query().OrderBy("_seq").Rows()
	require.NoError(t, err)
	var seqs []int64
	for i := 0; i < 10 && rows.Next(); i++ {
		seqs = append(seqs, rows.Row().Seq())
	}
	require.NoError(t, tbl.Delete(400))
	require.NoError(t, tbl.Flush())
	assert.NotSame(t, old, func() *version {
		tbl.stateMu.RLock()
		defer tbl.stateMu.RUnlock()
		return tbl.current
	}(), "the flush installed a new version")
	assert.EqualValues(t, 1, old.refs.Load(), "the old version lives on for the Rows")
	for rows.Next() {
		seqs = append(seqs, rows.Row().Seq())
	}
	require.NoError(t, rows.Close())
	assert.EqualValues(t, 0, old.refs.Load(), "released at Close")
	// Seq 400 was deleted in the memtable the Rows reads, after it opened:
	// the Rows reads the snapshot it pinned, which still holds the row.
	assert.Len(t, seqs, 600)
	assert.Contains(t, seqs, int64(400))
}
