package srdb

import (
	"cmp"
	"math/rand"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"unsafe"

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

// TestOSMappingEvictPages checks that evicting a mapping's pages drops the
// file's pages from the page cache (mincore reports none resident, where
// DropPages alone leaves them cached) and keeps the bytes readable and
// unchanged, twice in a row, and that a closed mapping ignores the call.
func TestOSMappingEvictPages(t *testing.T) {
	fs := OSFS()
	path := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 16*4096)
	rand.New(rand.NewSource(2)).Read(want)
	f, err := fs.Create(path)
	require.NoError(t, err)
	_, err = f.Write(want)
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // clean pages: the page cache may drop them
	require.NoError(t, f.Close())

	m, err := fs.Map(path)
	require.NoError(t, err)
	require.Equal(t, want, m.Bytes())
	require.NoError(t, m.(pageDropper).DropPages())
	require.Equal(t, 16, residentPages(t, m.Bytes()), "DropPages leaves the page cache alone")
	e, ok := m.(pageEvicter)
	require.True(t, ok, "OS mappings can evict their pages")
	for i := 0; i < 2; i++ {
		require.NoError(t, e.EvictPages())
		require.Zero(t, residentPages(t, m.Bytes()), "pages cached after EvictPages #%d", i+1)
		require.Equal(t, want, m.Bytes(), "bytes after EvictPages #%d", i+1)
	}
	require.NoError(t, m.Close())
	require.NoError(t, e.EvictPages(), "a closed mapping ignores EvictPages")
}

// residentPages returns how many pages of the mapping b are in the page
// cache (mincore).
func residentPages(t *testing.T, b []byte) int {
	vec := make([]byte, (len(b)+4095)/4096)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
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

// TestEvictDoneInputs checks that evictDoneInputs evicts exactly the inputs
// whose seqs all lie below the merge position, once each: their pages leave
// the page cache, the others' stay.
func TestEvictDoneInputs(t *testing.T) {
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db := openTestDB(t, t.TempDir(), opts)
	tbl := createIMTable(t, db)
	for f := int64(0); f < 3; f++ { // three L0 files: seqs 1-300, 301-600, 601-900
		for i := f*300 + 1; i <= f*300+300; i++ {
			r := imTableRow(i)
			r["payload"] = make([]byte, 1000)
			_, err := tbl.Insert(r)
			require.NoError(t, err)
		}
		require.NoError(t, tbl.Flush())
	}
	v := tbl.vs.current()
	defer v.unref()
	plan := pickManualCompaction(v)
	require.NotNil(t, plan)
	files := slices.Clone(v.files(0))
	require.Len(t, files, 3)
	slices.SortFunc(files, func(a, b *fileMeta) int { return cmp.Compare(a.minSeq, b.minSeq) })
	resident := func(f *fileMeta) int {
		r, err := tbl.cache.get(f.num)
		require.NoError(t, err)
		for i := range r.data { // fault every page in
			_ = r.data[i]
		}
		return residentPages(t, r.data)
	}
	for _, f := range files {
		require.NotZero(t, resident(f))
	}
	evicted := map[uint64]bool{}
	tbl.evictDoneInputs(plan, 601, evicted) // the merge is at seq 601
	require.Equal(t, map[uint64]bool{files[0].num: true, files[1].num: true}, evicted)
	for i, f := range files {
		r, err := tbl.cache.get(f.num)
		require.NoError(t, err)
		n := residentPages(t, r.data)
		if i < 2 {
			require.Zero(t, n, "file %d evicted", i)
		} else {
			require.NotZero(t, n, "file %d still read", i)
		}
	}
	tbl.evictDoneInputs(plan, 1000, evicted)
	require.Len(t, evicted, 3)
}
