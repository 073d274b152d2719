package srdb

import (
	"bytes"
	"errors"
	iofs "io/fs"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSSTFileName(t *testing.T) {
	require.Equal(t, "000123.sst", sstName(123))
	require.Equal(t, "000000.sst", sstName(0))
	require.Equal(t, "1234567.sst", sstName(1234567))
	for _, n := range []uint64{0, 1, 999999, 1000000, math.MaxUint64} {
		typ, got, ok := parseFilename(sstName(n))
		require.True(t, ok, n)
		require.Equal(t, fileTypeSST, typ)
		require.Equal(t, n, got)
	}
	for _, bad := range []string{"", ".sst", "123.sst", "00123.sst", "000123.sst.tmp", "000123.SST",
		"0000123.sst", "+00123.sst", "-00123.sst", "00012a.sst", "000123", "99999999999999999999.sst", "000123.sstx"} {
		typ, _, ok := parseFilename(bad)
		require.False(t, ok && typ == fileTypeSST, bad)
	}
}

// TestSSTShapes writes trees whose leaves and internal nodes are exactly
// full, one entry over, and so on, and checks every entry, every gap, both
// scan directions and verify.
func TestSSTShapes(t *testing.T) {
	cases := []struct {
		n      int
		height int
	}{
		{1, 1},
		{2, 1},
		{leafCap - 1, 1},
		{leafCap, 1},
		{leafCap + 1, 2},
		{2 * leafCap, 2},
		{2*leafCap + 1, 2},
		{5*leafCap + 17, 2},
		{leafCap * innerCap, 2},
		{leafCap*innerCap + 1, 3},
	}
	for _, c := range cases {
		fs := newSSTMemFS()
		es := sstTestEntries(c.n, 5, 3, 11, 40)
		p := sstBuild(t, fs, "d", 1, es)
		r := sstOpen(t, fs, "d", 1)
		require.Equal(t, c.height, r.hdr.height, "n=%d", c.n)
		require.Equal(t, p, r.props())
		sstCheckAll(t, r, es)
		for _, seq := range []int64{math.MinInt64, -1, 0, 4, es[len(es)-1].seq + 1, math.MaxInt64} {
			_, _, found, err := r.get(seq)
			require.NoError(t, err)
			require.False(t, found, seq)
		}
	}
}

// TestSSTOSFS runs a round trip through the OS file system, so the reader
// works on a real mmap.
func TestSSTOSFS(t *testing.T) {
	dir := t.TempDir()
	fs := OSFS()
	es := sstTestEntries(3*leafCap+5, 1, 1, 0, 300)
	p := sstBuild(t, fs, dir, 42, es)
	fi, err := fs.Stat(dir + "/000042.sst")
	require.NoError(t, err)
	require.Equal(t, uint64(fi.Size()), p.size)
	r := sstOpen(t, fs, dir, 42)
	sstCheckAll(t, r, es)
	names, err := fs.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"000042.sst"}, names)

	// An empty file maps to no bytes and is corrupt, not a crash.
	f, err := fs.Create(dir + "/000043.sst")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = openSST(fs, dir, 43)
	sstRequireCorrupted(t, err)
}

func TestSSTManyKeys(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	dir := t.TempDir()
	fs := OSFS()
	w, err := newSSTWriter(fs, dir, 7)
	require.NoError(t, err)
	val := make([]byte, 16)
	for i := 1; i <= n; i++ {
		seq := int64(2 * i)
		putSSTTestSeq(val, seq)
		require.NoError(t, w.add(seq, kindSet, seq*10, val))
	}
	p, err := w.finish()
	require.NoError(t, err)
	require.Equal(t, uint64(n), p.numEntries)
	r := sstOpen(t, fs, dir, 7)
	require.Equal(t, 3, r.hdr.height)
	for i := 1; i <= n; i++ {
		seq := int64(2 * i)
		kind, v, found, err := r.get(seq)
		if err != nil || !found || kind != kindSet || len(v) != 16 || int64(sstLE64(v)) != seq {
			t.Fatalf("get %d: %v %v %v %x", seq, kind, found, err, v)
		}
		if _, _, found, _ := r.get(seq - 1); found {
			t.Fatalf("get %d found", seq-1)
		}
	}
	it := r.newIter()
	count := 0
	for ok := it.first(); ok; ok = it.next() {
		count++
		if it.seq() != int64(2*count) || int64(sstLE64(it.value())) != it.seq() {
			t.Fatalf("scan at %d: seq %d", count, it.seq())
		}
	}
	require.NoError(t, it.err())
	require.Equal(t, n, count)
	require.NoError(t, r.verify(nil))
}

func putSSTTestSeq(b []byte, seq int64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(seq >> (8 * i))
	}
}

func sstLE64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func TestSSTTombstonesAndSizes(t *testing.T) {
	fs := newSSTMemFS()
	big := sstTestValue(99, 1<<20)
	es := []sstTestEntry{
		{seq: 1, kind: kindSet, time: 50, value: []byte{}},
		{seq: 2, kind: kindDelete},
		{seq: 3, kind: kindSet, time: -7, value: big},
		{seq: 10, kind: kindSet, time: 40, value: []byte("x")},
		{seq: 11, kind: kindDelete},
		{seq: math.MaxInt64, kind: kindSet, time: 1 << 62, value: sstTestValue(5, 127)},
	}
	sstBuild(t, fs, "d", 3, es)
	r := sstOpen(t, fs, "d", 3)
	sstCheckAll(t, r, es)
	p := r.props()
	require.True(t, p.hasTime)
	require.Equal(t, int64(-7), p.minTime)
	require.Equal(t, int64(1<<62), p.maxTime)
	require.Equal(t, uint64(2), p.numTombstones)
	require.Equal(t, uint64(1+len(big)+127), p.rawRowBytes)

	kind, v, found, err := r.get(1)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, kindSet, kind)
	require.Empty(t, v)
	kind, v, found, err = r.get(2)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, kindDelete, kind)
	require.Empty(t, v)

	// A file of tombstones only has no time range.
	es = []sstTestEntry{{seq: 4, kind: kindDelete}, {seq: 8, kind: kindDelete, time: 99}}
	sstBuild(t, fs, "d", 4, es)
	r = sstOpen(t, fs, "d", 4)
	p = r.props()
	require.False(t, p.hasTime)
	require.Zero(t, p.minTime)
	require.Zero(t, p.maxTime)
	require.Equal(t, uint64(2), p.numTombstones)
	es[1].time = 0 // ignored by the writer
	sstCheckAll(t, r, es)
}

// TestSSTIterPositions seeks to every seq of and around a three-level
// tree in both directions and steps both ways from each landing point.
func TestSSTIterPositions(t *testing.T) {
	fs := newSSTMemFS()
	n := leafCap*innerCap + 2*leafCap + 3 // three levels, ragged right edge
	es := sstTestEntries(n, 10, 2, 0, 0)
	sstBuild(t, fs, "d", 1, es)
	r := sstOpen(t, fs, "d", 1)
	require.Equal(t, 3, r.hdr.height)
	minSeq, maxSeq := es[0].seq, es[n-1].seq
	idxGE := func(seq int64) int { // first index with es[i].seq >= seq
		if seq <= minSeq {
			return 0
		}
		return int((seq - minSeq + 1) / 2)
	}
	it := r.newIter()
	check := func(ok bool, i int, what string, seq int64) {
		t.Helper()
		if i < 0 || i >= n {
			if ok || it.valid() {
				t.Fatalf("%s(%d): want exhausted, at %d", what, seq, it.seq())
			}
			return
		}
		if !ok || !it.valid() || it.seq() != es[i].seq {
			t.Fatalf("%s(%d): want seq %d, got ok=%v seq=%d err=%v", what, seq, es[i].seq, ok, it.seq(), it.err())
		}
	}
	// Probe every leaf boundary region densely and the rest sparsely.
	var probes []int64
	for s := minSeq - 3; s <= maxSeq+3; s++ {
		i := idxGE(s)
		if i%leafCap < 2 || i%leafCap > leafCap-3 || i%97 == 0 || i < 4 || i > n-4 {
			probes = append(probes, s)
		}
	}
	probes = append(probes, math.MinInt64, math.MaxInt64)
	for _, s := range probes {
		ge := n
		if s <= maxSeq {
			ge = idxGE(s)
		}
		le := ge - 1 // last index with seq <= s
		if ge < n && es[ge].seq == s {
			le = ge
		}
		check(it.seekGE(s), ge, "seekGE", s)
		if ge < n {
			check(it.next(), ge+1, "seekGE+next", s)
			check(it.prev(), ge, "seekGE+next+prev", s)
			check(it.prev(), ge-1, "seekGE+next+prev+prev", s)
		}
		check(it.seekLE(s), le, "seekLE", s)
		if le >= 0 {
			check(it.prev(), le-1, "seekLE+prev", s)
			if le-1 >= 0 {
				check(it.next(), le, "seekLE+prev+next", s)
				check(it.next(), le+1, "seekLE+prev+next+next", s)
			}
		}
	}
	// Exhaustion and re-positioning.
	check(it.last(), n-1, "last", 0)
	check(it.next(), n, "last+next", 0)
	require.False(t, it.next(), "further past the end")
	require.Nil(t, it.value())
	require.Zero(t, it.seq())
	check(it.prev(), n-1, "last+next+prev", 0)
	check(it.first(), 0, "first", 0)
	check(it.prev(), -1, "first+prev", 0)
	require.False(t, it.prev(), "further before the start")
	check(it.next(), 0, "first+prev+next", 0)
	check(it.seekGE(maxSeq+1), n, "seekGE past the end", maxSeq+1)
	check(it.prev(), n-1, "seekGE past the end + prev", maxSeq+1)
	check(it.seekLE(minSeq-1), -1, "seekLE before the start", minSeq-1)
	check(it.next(), 0, "seekLE before the start + next", minSeq-1)
	require.NoError(t, it.err())
	// An unpositioned iterator.
	it2 := r.newIter()
	require.False(t, it2.valid())
	require.False(t, it2.next())
	require.False(t, it2.prev())
}

func TestSSTSections(t *testing.T) {
	fs := newSSTMemFS()
	es := sstTestEntries(500, 1, 1, 0, 20)
	w, err := newSSTWriter(fs, "d", 9)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.add(e.seq, e.kind, e.time, e.value))
	}
	idx := bytes.Repeat([]byte("index-entry;"), 1000)
	require.NoError(t, w.addSection(1, "channel_id", idx))
	require.NoError(t, w.addSection(2, "channel_id", []byte("other kind")))
	require.NoError(t, w.addSection(1, "empty", nil))
	// Duplicate, bad names, and adds after the tree is closed are refused.
	require.ErrorIs(t, w.addSection(1, "channel_id", []byte("dup")), ErrInvalidArgument)
	require.ErrorIs(t, w.addSection(1, "", nil), ErrInvalidArgument)
	require.ErrorIs(t, w.addSection(1, string(make([]byte, 256)), nil), ErrInvalidArgument)
	require.ErrorIs(t, w.add(10_000, kindSet, 0, nil), ErrInvalidArgument)
	_, err = w.finish()
	require.NoError(t, err)

	r := sstOpen(t, fs, "d", 9)
	sstCheckAll(t, r, es)
	b, ok, err := r.section(1, "channel_id")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, idx, b)
	b, ok, err = r.section(2, "channel_id")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("other kind"), b)
	b, ok, err = r.section(1, "empty")
	require.NoError(t, err)
	require.True(t, ok)
	require.Empty(t, b)
	_, ok, err = r.section(3, "channel_id")
	require.NoError(t, err)
	require.False(t, ok)

	// A flipped payload byte is found by section and by verify; the rest of
	// the file still reads.
	data, err := fs.readFile("d/000009.sst")
	require.NoError(t, err)
	bad := bytes.Clone(data)
	bad[r.secs[1].off+100] ^= 0x10 // secs[0] is the _time index
	require.NoError(t, fs.writeFile("d/000009.sst", bad))
	r2 := sstOpen(t, fs, "d", 9)
	_, _, err = r2.section(1, "channel_id")
	sstRequireCorrupted(t, err)
	sstRequireCorrupted(t, r2.verify(nil))
	_, ok, err = r2.section(2, "channel_id")
	require.NoError(t, err)
	require.True(t, ok)
	_, _, found, err := r2.get(250)
	require.NoError(t, err)
	require.True(t, found)

	// Sections without entries are refused like an empty file.
	w, err = newSSTWriter(fs, "d", 10)
	require.NoError(t, err)
	require.ErrorIs(t, w.addSection(1, "x", []byte("y")), ErrInvalidArgument)
	_, err = w.finish()
	require.Error(t, err)
	_, err = fs.Stat("d/000010.sst.tmp")
	require.ErrorIs(t, err, iofs.ErrNotExist)
}

func TestSSTWriterArguments(t *testing.T) {
	fs := newSSTMemFS()
	w, err := newSSTWriter(fs, "d", 5)
	require.NoError(t, err)
	_, err = fs.Stat("d/000005.sst.tmp")
	require.NoError(t, err, "the file is built under its temp name")
	require.ErrorIs(t, w.add(0, kindSet, 0, nil), ErrInvalidArgument)
	require.ErrorIs(t, w.add(-5, kindSet, 0, nil), ErrInvalidArgument)
	require.ErrorIs(t, w.add(1, entryKind(3), 0, nil), ErrInvalidArgument)
	require.ErrorIs(t, w.add(1, 0, 0, nil), ErrInvalidArgument)
	require.ErrorIs(t, w.add(1, kindDelete, 0, []byte("v")), ErrInvalidArgument)
	require.NoError(t, w.add(5, kindSet, 0, []byte("a")))
	require.ErrorIs(t, w.add(5, kindSet, 0, []byte("b")), ErrInvalidArgument)
	require.ErrorIs(t, w.add(4, kindSet, 0, []byte("b")), ErrInvalidArgument)
	require.NoError(t, w.add(6, kindSet, 0, []byte("c")), "the writer survives refused arguments")
	p, err := w.finish()
	require.NoError(t, err)
	require.Equal(t, uint64(2), p.numEntries)
	require.ErrorIs(t, w.add(7, kindSet, 0, nil), ErrInvalidArgument)
	_, err = w.finish()
	require.ErrorIs(t, err, ErrInvalidArgument)
	w.abort() // no-op after finish
	names, _ := fs.List("d")
	require.Equal(t, []string{"000005.sst"}, names, "temp file gone after finish")
	r := sstOpen(t, fs, "d", 5)
	sstCheckAll(t, r, []sstTestEntry{{seq: 5, kind: kindSet, value: []byte("a")}, {seq: 6, kind: kindSet, value: []byte("c")}})

	// An empty SST is refused and leaves nothing behind.
	w, err = newSSTWriter(fs, "e", 1)
	require.NoError(t, err)
	_, err = w.finish()
	require.ErrorIs(t, err, ErrInvalidArgument)
	names, _ = fs.List("e")
	require.Empty(t, names)

	// abort removes the temp file; later calls fail.
	w, err = newSSTWriter(fs, "f", 1)
	require.NoError(t, err)
	require.NoError(t, w.add(1, kindSet, 0, []byte("x")))
	w.abort()
	w.abort()
	names, _ = fs.List("f")
	require.Empty(t, names)
	require.Error(t, w.add(2, kindSet, 0, nil))
	_, err = w.finish()
	require.Error(t, err)
	names, _ = fs.List("f")
	require.Empty(t, names)
}

// TestSSTWriterFaults fails every FS operation of a build in turn (EIO) and
// every write in turn (a silent short write: half the bytes, no error), once
// and from then on: finish (or an earlier call) must report it and leave
// neither the temp nor the final file. Removes are spared, so the cleanup
// after a failure is observable.
func TestSSTWriterFaults(t *testing.T) {
	es := sstTestEntries(3000, 1, 1, 13, 300) // ~0.5 MB: several buffer flushes
	for _, mode := range []faultKind{faultEIO, faultSilentShortWrite} {
		for _, sticky := range []faultMode{failOnce, failFromThenOn} {
			succeeded := false
			for i := 0; i < 1000 && !succeeded; i++ {
				mem := newSSTMemFS()
				ffs := newFaultFS(mem)
				ffs.spareOps(fsOpRemove)
				if mode == faultEIO {
					ffs.failAt(i, sticky, mode)
				} else {
					ffs.failNth(fsOpWrite, i, sticky, mode)
				}
				err := func() error {
					w, err := newSSTWriter(ffs, "d", 1)
					if err != nil {
						return err
					}
					for _, e := range es {
						if err := w.add(e.seq, e.kind, e.time, e.value); err != nil {
							w.abort()
							return err
						}
					}
					_, err = w.finish()
					return err
				}()
				names, _ := mem.List("d")
				if err == nil {
					require.Zero(t, ffs.faultsInjected(), "%s op %d: injected failure not reported", mode, i)
					require.Equal(t, []string{"000001.sst"}, names)
					r := sstOpen(t, mem, "d", 1)
					sstCheckAll(t, r, es)
					succeeded = true
					t.Logf("%s sticky %v: first success after failing each of %d operations", mode, sticky == failFromThenOn, i)
					continue
				}
				require.NotZero(t, ffs.faultsInjected(), "op %d: error without injection: %v", i, err)
				require.Equal(t, CodeStorage, ErrorCode(err), "op %d: %v", i, err)
				require.Empty(t, names, "%s sticky %v op %d: files left: %v", mode, sticky == failFromThenOn, i, names)
			}
			require.True(t, succeeded)
		}
	}
}

func TestSSTKillPoint(t *testing.T) {
	fs := newSSTMemFS()
	hit := 0
	setKillPointHook(func(name string) error {
		if name == "sst.before_rename" {
			hit++
			return errors.New("killed")
		}
		return nil
	})
	defer setKillPointHook(nil)
	w, err := newSSTWriter(fs, "d", 1)
	require.NoError(t, err)
	require.NoError(t, w.add(1, kindSet, 0, []byte("x")))
	_, err = w.finish()
	require.Error(t, err)
	require.Equal(t, 1, hit)
	names, _ := fs.List("d")
	require.Empty(t, names)
}

func TestSSTReaderClose(t *testing.T) {
	fs := newSSTMemFS()
	sstBuild(t, fs, "d", 1, sstTestEntries(10, 1, 1, 0, 10))
	r, err := openSST(fs, "d", 1)
	require.NoError(t, err)
	it := r.newIter()
	require.True(t, it.first())
	require.NoError(t, r.close())
	require.NoError(t, r.close())
	_, _, _, err = r.get(1)
	require.ErrorIs(t, err, ErrClosed)
	require.False(t, it.valid())
	require.Nil(t, it.value())
	require.False(t, it.next())
	require.False(t, it.first())
	require.ErrorIs(t, it.err(), ErrClosed)
	require.ErrorIs(t, r.verify(nil), ErrClosed)
	_, _, err = r.section(1, "x")
	require.ErrorIs(t, err, ErrClosed)

	_, err = openSST(fs, "d", 2)
	require.Error(t, err)
	assert.Equal(t, CodeStorage, ErrorCode(err), "a missing file is an I/O error")
}

func TestSSTZeroAllocs(t *testing.T) {
	fs := newSSTMemFS()
	es := sstTestEntries(5*leafCap*innerCap/4, 1, 1, 0, 30)
	sstBuild(t, fs, "d", 1, es)
	r := sstOpen(t, fs, "d", 1)
	require.Equal(t, 3, r.hdr.height)
	seq := int64(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq = seq*7919%int64(len(es)) + 1
		_, v, found, err := r.get(seq)
		if !found || err != nil || v == nil {
			t.Fatal("get failed")
		}
	})
	require.Zero(t, allocs, "get")
	it := r.newIter()
	require.True(t, it.first())
	allocs = testing.AllocsPerRun(1000, func() {
		if !it.next() || it.value() == nil {
			t.Fatal("next failed")
		}
	})
	require.Zero(t, allocs, "next")
	allocs = testing.AllocsPerRun(100, func() {
		if !it.seekGE(seq) || !it.prev() {
			t.Fatal("seek failed")
		}
	})
	require.Zero(t, allocs, "seekGE+prev")
	w, err := newSSTWriter(fs, "d", 2)
	require.NoError(t, err)
	val := make([]byte, 250)
	next := int64(1)
	allocs = testing.AllocsPerRun(10000, func() {
		if err := w.add(next, kindSet, next, val); err != nil {
			t.Fatal(err)
		}
		next++
	})
	require.Zero(t, allocs, "add")
	w.abort()
}

func TestSSTEstimatedSize(t *testing.T) {
	fs := newSSTMemFS()
	w, err := newSSTWriter(fs, "d", 1)
	require.NoError(t, err)
	require.Equal(t, uint64(sstHeaderSize), w.estimatedSize())
	prev := w.estimatedSize()
	for seq := int64(1); seq <= 1000; seq++ {
		require.NoError(t, w.add(seq, kindSet, seq, make([]byte, 100)))
		require.Greater(t, w.estimatedSize(), prev)
		prev = w.estimatedSize()
	}
	p, err := w.finish()
	require.NoError(t, err)
	require.LessOrEqual(t, prev, p.size)
	require.Less(t, p.size-prev, uint64(sstMaxHeight*sstNodeSize))
}

// TestSSTConcurrentReads runs lookups, scans and section reads on one
// reader from several goroutines (meaningful under -race).
func TestSSTConcurrentReads(t *testing.T) {
	fs := newSSTMemFS()
	es := sstTestEntries(3000, 1, 1, 7, 40)
	w, err := newSSTWriter(fs, "d", 1)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.add(e.seq, e.kind, e.time, e.value))
	}
	require.NoError(t, w.addSection(1, "s", []byte("section")))
	_, err = w.finish()
	require.NoError(t, err)
	r := sstOpen(t, fs, "d", 1)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(es); i += 4 {
				_, v, found, err := r.get(es[i].seq)
				if err != nil || !found || !bytes.Equal(v, es[i].value) {
					errs <- errors.New("get mismatch")
					return
				}
			}
			it := r.newIter()
			n := 0
			for ok := it.last(); ok; ok = it.prev() {
				_ = it.value()
				n++
			}
			if it.err() != nil || n != len(es) {
				errs <- errors.New("scan mismatch")
			}
			if b, ok, err := r.section(1, "s"); err != nil || !ok || string(b) != "section" {
				errs <- errors.New("section mismatch")
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSSTVerifyChecksTimeRangeAgainstRows checks that verify, given the row
// time reader the table uses, recomputes the header's time range from the
// rows themselves (the leaves carry no time since node format version 2).
func TestSSTVerifyChecksTimeRangeAgainstRows(t *testing.T) {
	types := []FieldType{String}
	row := func(seq, tm int64) []byte {
		b, err := encodeRow(nil, seq, tm, types, []any{"v"})
		require.NoError(t, err)
		return b
	}
	fs := newSSTMemFS()
	good := []sstTestEntry{
		{seq: 1, kind: kindSet, time: 500, value: row(1, 500)},
		{seq: 2, kind: kindDelete},
		{seq: 3, kind: kindSet, time: -7, value: row(3, -7)},
	}
	sstBuild(t, fs, "d", 1, good)
	require.NoError(t, sstOpen(t, fs, "d", 1).verify(storedRowTime))

	// The writer was told another time than the row holds: the header's
	// range no longer matches the rows.
	lying := slices.Clone(good)
	lying[2].time = 9
	sstBuild(t, fs, "d", 2, lying)
	r := sstOpen(t, fs, "d", 2)
	require.NoError(t, r.verify(nil), "without a row reader the header range is taken as is")
	err := r.verify(storedRowTime)
	require.ErrorIs(t, err, ErrCorrupted)
	require.Contains(t, err.Error(), "header properties")

	// A row stored under another seq is corruption that names the file.
	wrong := slices.Clone(good)
	wrong[0].value = row(7, 500)
	sstBuild(t, fs, "d", 3, wrong)
	err = sstOpen(t, fs, "d", 3).verify(storedRowTime)
	require.ErrorIs(t, err, ErrCorrupted)
	require.Contains(t, err.Error(), "says seq 7")
	var e *Error
	require.ErrorAs(t, err, &e)
	require.NotEmpty(t, e.File)
}
