package srdb

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkWALAppend measures append+commit of 256-byte records on the real
// disk (b.TempDir) with 1, 8 and 64 goroutines, appending under a shared
// lock as the table does and committing outside it. records/s is the
// throughput of the whole group; fsyncs/op counts the file's fsyncs per
// record, which group commit drives below 1 in DurabilitySync; writes/op
// counts write(2) calls per record (shared by concurrent committers).
func BenchmarkWALAppend(b *testing.B) {
	for _, mode := range walAllModes {
		for _, g := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/%d", mode, g), func(b *testing.B) { benchWALAppend(b, mode, g) })
		}
	}
}

func benchWALAppend(b *testing.B, mode Durability, goroutines int) {
	ffs := newFaultFS(OSFS())
	w, err := createWAL(ffs, filepath.Join(b.TempDir(), "1.wal"), 1, mode, DefaultSyncInterval, nil)
	require.NoError(b, err)
	payload := walPayload(1, 256)
	var (
		tableMu sync.Mutex // stands for the table's write lock
		seq     int64      // guarded by tableMu
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	writes0, syncs0 := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				tableMu.Lock()
				seq++
				end, err := w.append(walRecordBatch, seq, payload)
				tableMu.Unlock()
				if err == nil {
					err = w.commit(end)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	writes, syncs := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(syncs-syncs0)/float64(b.N), "fsyncs/op")
	b.ReportMetric(float64(writes-writes0)/float64(b.N), "writes/op")
	require.NoError(b, w.close())
}

// BenchmarkWALReplay measures replay of a 100,000-record WAL of 256-byte
// records (the Open-after-crash path).
func BenchmarkWALReplay(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "1.wal")
	w, err := createWAL(OSFS(), path, 1, DurabilityNone, 0, nil)
	require.NoError(b, err)
	payload := walPayload(1, 256)
	for i := range n {
		_, err := w.append(walRecordBatch, int64(i+1), payload)
		require.NoError(b, err)
	}
	require.NoError(b, w.close())
	b.SetBytes(w.size())
	b.ResetTimer()
	for b.Loop() {
		res, err := replayWAL(OSFS(), path, false, nil, func(walRecordType, int64, []byte) error { return nil })
		if err != nil || res.records != n {
			b.Fatal(err, res.records)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// walSlowSyncFS makes every file Sync take a fixed time, so that group
// commit can be measured independently of a noisy shared disk.
type walSlowSyncFS struct {
	FS
	delay time.Duration
	syncs atomic.Int64
}

func (fs *walSlowSyncFS) Create(name string) (File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &walSlowSyncFile{File: f, fs: fs}, nil
}

type walSlowSyncFile struct {
	File
	fs *walSlowSyncFS
}

func (f *walSlowSyncFile) Sync() error {
	f.fs.syncs.Add(1)
	time.Sleep(f.fs.delay) // simulated device latency, not synchronisation
	return nil
}

// BenchmarkWALGroupCommit measures DurabilitySync group commit against a
// simulated device: an in-memory file whose fsync sleeps 1 ms. The ideal is
// goroutines/1ms records per second and 1/goroutines fsyncs per record; the
// benchmark isolates the writer's grouping from a noisy shared disk.
func BenchmarkWALGroupCommit(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("fsync=1ms/%d", g), func(b *testing.B) {
			fs := &walSlowSyncFS{FS: newMemFS(), delay: time.Millisecond}
			w, err := createWAL(fs, "1.wal", 1, DurabilitySync, 0, nil)
			require.NoError(b, err)
			payload := walPayload(1, 256)
			var (
				tableMu sync.Mutex
				seq     int64
				next    atomic.Int64
				wg      sync.WaitGroup
			)
			syncs0 := fs.syncs.Load()
			b.ResetTimer()
			start := time.Now()
			for range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						tableMu.Lock()
						seq++
						end, err := w.append(walRecordBatch, seq, payload)
						tableMu.Unlock()
						if err == nil {
							err = w.commit(end)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(fs.syncs.Load()-syncs0)/float64(b.N), "fsyncs/op")
			require.NoError(b, w.close())
		})
	}
}

// walPlainFS hides the optional File methods (Preallocate, SyncData) of
// the files it creates: a WAL on it appends and fsyncs as before the
// writer reserved space (wal_writer.go, "Preallocation").
type walPlainFS struct{ FS }

func (fs walPlainFS) Create(name string) (File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return struct{ File }{f}, nil
}

// BenchmarkWALSyncedCommit measures one DurabilitySync append+commit of a
// 300-byte record at a time (one goroutine: every commit is a write and an
// fsync) on the real disk, with the file's optional methods (reserved
// space + fdatasync) and without them (appends that grow the file +
// fsync). The ratio is what preallocation buys per sync on this disk.
func BenchmarkWALSyncedCommit(b *testing.B) {
	for _, c := range []struct {
		name string
		fs   FS
	}{{"append+fsync", walPlainFS{OSFS()}}, {"reserved+fdatasync", OSFS()}} {
		b.Run(c.name, func(b *testing.B) {
			w, err := createWAL(c.fs, filepath.Join(b.TempDir(), "1.wal"), 1, DurabilitySync, 0, nil)
			require.NoError(b, err)
			payload := walPayload(1, 300)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				end, err := w.append(walRecordBatch, int64(i+1), payload)
				if err == nil {
					err = w.commit(end)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
			require.NoError(b, w.close())
		})
	}
}
