package srdb

import (
	"testing"
)

// BenchmarkVersionSetCurrent measures pinning and releasing the current
// version, which every read does.
func BenchmarkVersionSetCurrent(b *testing.B) {
	w := newVTWorkload(b, newMemFS(), 1<<30, 20)
	for range 50 {
		w.step()
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.vs.current().unref()
		}
	})
}

// BenchmarkVersionOverlapping measures the L1+ binary search for a point.
func BenchmarkVersionOverlapping(b *testing.B) {
	e := &versionEdit{}
	for i := range int64(1000) {
		e.addFile(1, vtMeta(uint64(i+1), i*100, i*100+99))
	}
	v := vtBuild(&testing.T{}, e)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		seq := int64(i*7919) % 100000
		if len(v.overlapping(1, seq, seq)) != 1 {
			b.Fatal("miss")
		}
	}
}

// BenchmarkLogAndApply measures a flush (add an L0 file) on top of a
// table of 6,000 files in L2-L6, on an in-memory FS (no fsync cost):
// encoding, version building and installation. Each op is two edits: the
// flush and a second one dropping the file again, so L0 stays small.
func BenchmarkLogAndApply(b *testing.B) {
	w := newVTWorkload(b, newMemFS(), 4<<20, 21)
	w.vs.opts.onObsolete = nil // the benchmark writes no SST files
	big := &versionEdit{}
	for l := 2; l < numLevels; l++ {
		for i := range int64(1200) {
			num := w.vs.newFileNum()
			big.addFile(l, vtMeta(num, i*10, i*10+9))
		}
	}
	if err := w.vs.logAndApply(big); err != nil {
		b.Fatal(err)
	}
	w.seq = 1 << 20
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e := &versionEdit{}
		m := vtMeta(w.vs.newFileNum(), w.seq+1, w.seq+100)
		w.seq += 100
		e.addFile(0, m)
		if err := w.vs.logAndApply(e); err != nil {
			b.Fatal(err)
		}
		d := &versionEdit{}
		d.deleteFile(0, m.num)
		if err := w.vs.logAndApply(d); err != nil {
			b.Fatal(err)
		}
	}
}
