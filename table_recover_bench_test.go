package srdb

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyDirForBench copies the regular files of the tree src to dst (a crash
// image: the source database is still open, its WAL written to the kernel).
func copyDirForBench(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		// fsync the copy: a real crash image's WAL was mostly synced by the
		// DurabilityInterval syncer, so Open's own fsyncs find little to do.
		f, err := os.OpenFile(filepath.Join(dst, rel), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	require.NoError(tb, err)
}

// BenchmarkOpenAfterCrash measures Open of a database whose only table has
// 100,000 IM rows in its WAL and none in an SST (the image of a process
// killed after acknowledging them, the "Open after kill -9" target): almost all
// of it is WAL replay into the memtable and its indexes. rows/s is replayed
// rows per second.
func BenchmarkOpenAfterCrash(b *testing.B) {
	const n = 100_000
	src := b.TempDir()
	opts := DefaultOptions()
	opts.MemTableSize = 1 << 30
	db, err := Open(src, opts)
	require.NoError(b, err)
	s, err := NewSchema("messages", imTableFields())
	require.NoError(b, err)
	tbl, err := db.CreateTable("messages", s)
	require.NoError(b, err)
	rows := benchIMRows(1000)
	for i := 0; i < n; i++ {
		_, err := tbl.Insert(rows[i%len(rows)])
		require.NoError(b, err)
	}
	image := b.TempDir()
	copyDirForBench(b, src, image)
	require.NoError(b, db.Close())

	for _, parallel := range []bool{true, false} {
		b.Run(fmt.Sprintf("parallel-index=%v", parallel), func(b *testing.B) {
			defer func(old bool) { replayParallelIndex = old }(replayParallelIndex)
			replayParallelIndex = parallel
			benchOpenImage(b, image, opts, n)
		})
	}
}

func benchOpenImage(b *testing.B, image string, opts *Options, n int) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "db")
		copyDirForBench(b, image, dir)
		b.StartTimer()
		db, err := Open(dir, opts)
		require.NoError(b, err)
		b.StopTimer()
		tbl, err := db.Table("messages")
		require.NoError(b, err)
		require.EqualValues(b, n, tbl.Stats().Rows)
		require.NoError(b, db.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
