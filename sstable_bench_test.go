package srdb

import (
	"testing"
)

// sstBenchRowSize is the value size of the benchmarks: about one row of the
// IM workload of SPEC §7.
const sstBenchRowSize = 250

// BenchmarkSSTWrite measures add (plus finish once per million rows) of
// 250-byte rows to an SST on the OS file system.
func BenchmarkSSTWrite(b *testing.B) {
	dir := b.TempDir()
	fs := OSFS()
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
// directory of b and opens it.
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
		ok := it.first()
		for i := 0; i < b.N; i++ {
			if !ok {
				ok = it.first()
			}
			if len(it.value()) != sstBenchRowSize {
				b.Fatal("bad value", it.err())
			}
			ok = it.next()
		}
		if it.err() != nil {
			b.Fatal(it.err())
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
