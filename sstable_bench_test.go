package srdb

import (
	iofs "io/fs"
	"sync"
	"testing"
)

// sstBenchRowSize is the value size of the benchmarks: about one row of the
// IM workload.
const sstBenchRowSize = 250

// BenchmarkSSTWrite measures add (plus finish once per million rows) of
// 250-byte rows: "os" writes to the OS file system (write(2) of the buffer
// and one fsync per file included), "discard" to a file system that drops
// the bytes, which isolates the writer's own cost.
func BenchmarkSSTWrite(b *testing.B) {
	b.Run("os", func(b *testing.B) { sstBenchWrite(b, OSFS(), b.TempDir()) })
	b.Run("discard", func(b *testing.B) { sstBenchWrite(b, &sstDiscardFS{FS: newSSTMemFS(), sizes: map[string]int64{}}, "d") })
}

func sstBenchWrite(b *testing.B, fs FS, dir string) {
	val := sstTestValue(1, sstBenchRowSize)
	const perFile = 1_000_000
	var w *sstWriter
	fileNum := uint64(0)
	b.SetBytes(sstBenchRowSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w == nil {
			fileNum++
			var err error
			if w, err = newSSTWriter(fs, dir, fileNum); err != nil {
				b.Fatal(err)
			}
		}
		seq := int64(i%perFile) + 1
		if err := w.add(seq, kindSet, seq, val); err != nil {
			b.Fatal(err)
		}
		if seq == perFile {
			if _, err := w.finish(); err != nil {
				b.Fatal(err)
			}
			w = nil
		}
	}
	if w != nil {
		if _, err := w.finish(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// sstBenchFile writes n rows of 250 bytes with seqs 1..n to SST 1 in a new
// directory of b, opens it and reads it once.
func sstBenchFile(b *testing.B, n int) *sstReader {
	dir := b.TempDir()
	fs := OSFS()
	w, err := newSSTWriter(fs, dir, 1)
	if err != nil {
		b.Fatal(err)
	}
	val := sstTestValue(1, sstBenchRowSize)
	for seq := int64(1); seq <= int64(n); seq++ {
		if err := w.add(seq, kindSet, seq, val); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.finish(); err != nil {
		b.Fatal(err)
	}
	r, err := openSST(fs, dir, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.close() })
	// Touch every page of the fresh mapping (and check the file), so the
	// benchmarks measure lookups rather than first-touch page faults.
	if err := r.verify(nil); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSSTGet looks up random seqs in an SST of one million 250-byte
// rows (height 3) through the mmap; 0 allocs/op.
func BenchmarkSSTGet(b *testing.B) {
	const n = 1_000_000
	r := sstBenchFile(b, n)
	b.Run("1M", func(b *testing.B) {
		b.ReportAllocs()
		x := uint64(88172645463325252)
		for i := 0; i < b.N; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			seq := int64(x%n) + 1
			_, v, found, err := r.get(seq)
			if err != nil || !found || len(v) != sstBenchRowSize {
				b.Fatalf("get %d: %v %v", seq, found, err)
			}
		}
	})
}

// BenchmarkSSTScan iterates forward over an SST of one million 250-byte
// rows, reading (and checking) every value.
func BenchmarkSSTScan(b *testing.B) {
	const n = 1_000_000
	r := sstBenchFile(b, n)
	b.Run("1M", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(sstBenchRowSize)
		it := r.newIter()
		for i := 0; i < b.N; i++ {
			// Walk the file, starting over at its end.
			if (i == 0 || !it.next()) && !it.first() {
				b.Fatal("empty file", it.err())
			}
			if len(it.value()) != sstBenchRowSize {
				b.Fatal("bad value", it.err())
			}
		}
		if it.err() != nil {
			b.Fatal(it.err())
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// sstDiscardFS is a file system whose files drop their bytes and only keep
// their size (enough for sstWriter.finish, which only writes, syncs and
// stats them). Rename and Remove are no-ops; the rest goes to FS (a memFS).
type sstDiscardFS struct {
	FS
	mu    sync.Mutex // mu guards sizes
	sizes map[string]int64
}

func (d *sstDiscardFS) Create(name string) (File, error) {
	d.mu.Lock()
	d.sizes[name] = 0
	d.mu.Unlock()
	return &sstDiscardFile{fs: d, name: name}, nil
}

func (d *sstDiscardFS) OpenReadWrite(name string) (File, error) {
	return &sstDiscardFile{fs: d, name: name}, nil
}

func (d *sstDiscardFS) Rename(oldname, newname string) error { return nil }
func (d *sstDiscardFS) Remove(name string) error             { return nil }

// sstDiscardFile is a file of sstDiscardFS. It has no File to read from or
// truncate: the writer only writes, syncs, stats and closes.
type sstDiscardFile struct {
	File // nil
	fs   *sstDiscardFS
	name string
	pos  int64
}

func (f *sstDiscardFile) Write(p []byte) (int, error) {
	f.pos += int64(len(p))
	f.fs.mu.Lock()
	f.fs.sizes[f.name] = max(f.fs.sizes[f.name], f.pos)
	f.fs.mu.Unlock()
	return len(p), nil
}

func (f *sstDiscardFile) Close() error { return nil }
func (f *sstDiscardFile) Sync() error  { return nil }

func (f *sstDiscardFile) Stat() (iofs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return memFileInfo{name: f.name, size: f.fs.sizes[f.name]}, nil
}
