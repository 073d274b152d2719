package srdb

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// processCPUTime returns the user and system CPU time this process has used
// so far (every goroutine and the runtime's own threads).
func processCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchIMRows returns n IM rows of about 240 logical bytes:
// 1,000 channels, a 200-byte payload.
func benchIMRows(n int) []map[string]any {
	rng := rand.New(rand.NewSource(42))
	rows := make([]map[string]any, n)
	for i := range rows {
		payload := make([]byte, 200)
		rng.Read(payload)
		rows[i] = map[string]any{
			"channel_id": fmt.Sprintf("channel-%04d", rng.Intn(1000)),
			"from_uid":   fmt.Sprintf("user-%06d", rng.Intn(100000)),
			"msg_id":     int64(i + 1),
			"msg_type":   uint8(rng.Intn(4)),
			"payload":    payload,
		}
	}
	return rows
}

// BenchmarkInsert inserts one IM row per call, from 1 and 8 goroutines, in
// each durability mode, on the real file system.
func BenchmarkInsert(b *testing.B) {
	rows := benchIMRows(4096)
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval, DurabilityNone} {
		for _, goroutines := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode, goroutines), func(b *testing.B) {
				opts := DefaultOptions()
				opts.Durability = mode
				cfs := &walCountingFS{FS: OSFS()}
				opts.FS = cfs
				db, err := Open(b.TempDir(), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				s, _ := NewSchema("messages", imTableFields())
				tbl, err := db.CreateTable("messages", s)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				writes0, syncs0 := cfs.writes.Load(), cfs.syncs.Load()
				cpu0 := processCPUTime(b)
				var next atomic.Int64
				var wg sync.WaitGroup
				for g := 0; g < goroutines; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := tbl.Insert(rows[i%int64(len(rows))]); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				// CPU per row (user + system, the background flush
				// included): with 2 cores and 8 inserters the
				// throughput is bounded by 2 s / this.
				b.ReportMetric(float64(processCPUTime(b)-cpu0)/float64(b.N), "cpuns/op")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(cfs.writes.Load()-writes0)/float64(b.N), "walwrites/op")
				b.ReportMetric(float64(cfs.syncs.Load()-syncs0)/float64(b.N), "walsyncs/op")
			})
		}
	}
}

// benchTable returns a table holding n IM rows; flushed puts them in SSTs.
func benchTable(b *testing.B, n int, flushed bool) (*Database, *Table) {
	b.Helper()
	db, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := NewSchema("messages", imTableFields())
	tbl, err := db.CreateTable("messages", s)
	if err != nil {
		b.Fatal(err)
	}
	rows := benchIMRows(1000)
	batch := make([]map[string]any, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, rows[i%len(rows)])
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := tbl.Insert(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if flushed {
		if err := tbl.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	return db, tbl
}

func benchGet(b *testing.B, n int, flushed bool) {
	db, tbl := benchTable(b, n, flushed)
	defer db.Close()
	rng := rand.New(rand.NewSource(1))
	seqs := make([]int64, 1<<16)
	for i := range seqs {
		seqs[i] = int64(rng.Intn(n) + 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tbl.Get(seqs[i&(len(seqs)-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetMemtable reads random rows held in the memtable.
func BenchmarkGetMemtable(b *testing.B) { benchGet(b, 100_000, false) }

// BenchmarkGetSST reads random rows from L0 SSTs (after Flush).
func BenchmarkGetSST(b *testing.B) { benchGet(b, 200_000, true) }

// BenchmarkScanMemtable scans a table whose 100,000 rows are all in the
// active memtable with a filter that matches nothing (Count decodes no Row
// values): the memtable iterator's per-entry cost.
func BenchmarkScanMemtable(b *testing.B) {
	const n = 100_000
	db, tbl := benchTable(b, n, false)
	defer db.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := tbl.Query().Eq("from_uid", "nobody").Count()
		if err != nil {
			b.Fatal(err)
		}
		if got != 0 {
			b.Fatalf("scan counted %d rows, want 0", got)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// walCountingFS counts the Write and Sync calls on WAL files (names ending
// in ".wal"): write(2) and fsync per inserted row are noise-free measures of
// how well concurrent inserters share them.
type walCountingFS struct {
	FS
	writes, syncs atomic.Int64
}

func (fs *walCountingFS) Create(name string) (File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".wal") {
		return f, err
	}
	return &walCountingFile{File: f, fs: fs}, nil
}

type walCountingFile struct {
	File
	fs *walCountingFS
}

func (f *walCountingFile) Write(p []byte) (int, error) {
	f.fs.writes.Add(1)
	return f.File.Write(p)
}

func (f *walCountingFile) Sync() error {
	f.fs.syncs.Add(1)
	return f.File.Sync()
}

// SyncData counts like Sync and forwards the optional File method (vfs.go).
func (f *walCountingFile) SyncData() error {
	f.fs.syncs.Add(1)
	if ds, ok := f.File.(fileDataSyncer); ok {
		return ds.SyncData()
	}
	return f.File.Sync()
}

// Preallocate forwards the optional File method (vfs.go).
func (f *walCountingFile) Preallocate(size int64) error {
	if p, ok := f.File.(filePreallocator); ok {
		return p.Preallocate(size)
	}
	return errors.ErrUnsupported
}
