package srdb

import (
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOSMappingDropPages checks that dropping the pages of a mapping keeps
// its bytes readable and unchanged (they fault back in from the file), on a
// file of several pages, twice in a row, and that a closed mapping ignores
// the call.
func TestOSMappingDropPages(t *testing.T) {
	fs := OSFS()
	path := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 5*4096+123)
	rand.New(rand.NewSource(1)).Read(want)
	f, err := fs.Create(path)
	require.NoError(t, err)
	_, err = f.Write(want)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	m, err := fs.Map(path)
	require.NoError(t, err)
	d, ok := m.(pageDropper)
	require.True(t, ok, "OS mappings can drop their pages")
	require.Equal(t, want, m.Bytes())
	for i := 0; i < 2; i++ {
		require.NoError(t, d.DropPages())
		require.Equal(t, want, m.Bytes(), "bytes after DropPages #%d", i+1)
	}
	require.NoError(t, m.Close())
	require.NoError(t, d.DropPages(), "a closed mapping ignores DropPages")
}

// TestCompactionDropsInputPagesKeepsRows compacts a table whose inputs are
// far larger than compactionDropPagesEvery on the OS file system, so the
// pages of every input are dropped several times mid-merge, and checks
// every row afterwards.
func TestCompactionDropsInputPagesKeepsRows(t *testing.T) {
	opts := DefaultOptions()
	opts.MemTableSize = 4 << 20
	opts.DisableAutoCompaction = true
	db := openTestDB(t, t.TempDir(), opts)
	tbl := createIMTable(t, db)
	const n = 60_000 // ~23 MB of rows: 5-6 L0 files, 2+ page drops
	batch := make([]map[string]any, 0, 500)
	for i := int64(1); i <= n; i++ {
		r := imTableRow(i)
		r["payload"] = make([]byte, 300) // ~23 MB in all
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			_, err := tbl.Insert(batch)
			require.NoError(t, err)
			batch = batch[:0]
		}
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.Compact())
	require.NoError(t, db.Check())
	for i := int64(1); i <= n; i += 97 {
		row, err := tbl.Get(i)
		require.NoError(t, err)
		id, _ := row.Get("msg_id")
		require.Equal(t, i, id)
	}
	cnt, err := tbl.Query().Count()
	require.NoError(t, err)
	require.EqualValues(t, n, cnt)
}
