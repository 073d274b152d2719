package srdb

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// newSSTMemFS returns a memFS holding the directories the SST tests write
// their files in ("d", "e", "f"; "/d" is "d").
func newSSTMemFS() *memFS {
	fs := newMemFS()
	for _, dir := range []string{"d", "e", "f"} {
		if err := fs.MkdirAll(dir); err != nil {
			panic(err) // a fresh memFS has room for three directories
		}
	}
	return fs
}

// sstTestEntry is one entry to write in a test SST.
type sstTestEntry struct {
	seq   int64
	kind  entryKind
	time  int64
	value []byte
}

// sstTestValue returns a deterministic value of size n for seq.
func sstTestValue(seq int64, n int) []byte {
	v := make([]byte, n)
	x := uint64(seq)*0x9E3779B97F4A7C15 + 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = byte(x)
	}
	return v
}

// sstTestEntries returns n entries with seqs first, first+step, …; every
// tombstoneEvery-th entry (when > 0) is a tombstone; values are 0–maxLen
// bytes; times wander around seq so that min/max time are not the first and
// last entries.
func sstTestEntries(n int, first, step int64, tombstoneEvery, maxLen int) []sstTestEntry {
	es := make([]sstTestEntry, n)
	for i := range es {
		seq := first + int64(i)*step
		e := sstTestEntry{seq: seq, kind: kindSet, time: 1_700_000_000_000_000_000 + seq*1000 + int64(i%7)*5000 - 15000}
		if tombstoneEvery > 0 && i%tombstoneEvery == tombstoneEvery-1 {
			e.kind, e.time = kindDelete, 0
		} else {
			e.value = sstTestValue(seq, int(uint64(seq)*7919%uint64(maxLen+1)))
		}
		es[i] = e
	}
	return es
}

// sstWantProps returns the properties a file of es must have (without
// fileNum and size).
func sstWantProps(es []sstTestEntry) sstProps {
	var p sstProps
	for _, e := range es {
		if p.numEntries == 0 {
			p.minSeq = e.seq
		}
		p.maxSeq = e.seq
		p.numEntries++
		if e.kind == kindDelete {
			p.numTombstones++
			continue
		}
		if !p.hasTime || e.time < p.minTime {
			p.minTime = e.time
		}
		if !p.hasTime || e.time > p.maxTime {
			p.maxTime = e.time
		}
		p.hasTime = true
		p.rawRowBytes += uint64(len(e.value))
	}
	return p
}

// sstBuild writes es as SST fileNum in dir and returns its properties.
func sstBuild(t testing.TB, fs FS, dir string, fileNum uint64, es []sstTestEntry) sstProps {
	t.Helper()
	w, err := newSSTWriter(fs, dir, fileNum)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.add(e.seq, e.kind, e.time, e.value))
	}
	p, err := w.finish()
	require.NoError(t, err)
	return p
}

// sstOpen opens SST fileNum and registers its close.
func sstOpen(t testing.TB, fs FS, dir string, fileNum uint64) *sstReader {
	t.Helper()
	r, err := openSST(fs, dir, fileNum)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.close() })
	return r
}

// sstCheckAll checks that r holds exactly es: props, get of every entry
// and of the gaps, a forward and a backward scan, and verify.
func sstCheckAll(t *testing.T, r *sstReader, es []sstTestEntry) {
	t.Helper()
	want := sstWantProps(es)
	got := r.props()
	want.fileNum, want.size = got.fileNum, got.size
	require.Equal(t, want, got)
	for i, e := range es {
		kind, v, found, err := r.get(e.seq)
		if err != nil || !found || kind != e.kind || !bytes.Equal(e.value, v) {
			t.Fatalf("get(%d): kind %v found %v err %v, value of %d bytes (want %d)", e.seq, kind, found, err, len(v), len(e.value))
		}
		if i > 0 && es[i-1].seq+1 < e.seq {
			if _, _, found, err := r.get(e.seq - 1); found || err != nil {
				t.Fatalf("get(%d) of a gap: found %v err %v", e.seq-1, found, err)
			}
		}
	}
	it := r.newIter()
	i := 0
	for ok := it.first(); ok; ok = it.next() {
		if i >= len(es) {
			t.Fatalf("forward scan: more than %d entries", len(es))
		}
		e := es[i]
		if it.seq() != e.seq || it.kind() != e.kind || !bytes.Equal(e.value, it.value()) {
			t.Fatalf("forward scan at %d: got seq %d kind %v", i, it.seq(), it.kind())
		}
		i++
	}
	require.NoError(t, it.err())
	require.Equal(t, len(es), i)
	i = len(es) - 1
	for ok := it.last(); ok; ok = it.prev() {
		if i < 0 || it.seq() != es[i].seq || !bytes.Equal(es[i].value, it.value()) {
			t.Fatalf("backward scan at %d: got seq %d", i, it.seq())
		}
		i--
	}
	require.NoError(t, it.close())
	require.Equal(t, -1, i)
	require.NoError(t, r.verify(nil))
}

// sstRequireCorrupted fails unless err satisfies errors.Is(err, ErrCorrupted).
func sstRequireCorrupted(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	if !errors.Is(err, ErrCorrupted) {
		t.Fatalf("want ErrCorrupted, got %v %v", err, msgAndArgs)
	}
}
