package srdb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// idxTestEntries returns n distinct sorted entries of String keys drawn from
// nkeys values (so keys repeat with different seqs), some of them long
// enough to get a block of their own.
func idxTestEntries(r *rand.Rand, n, nkeys int) [][]byte {
	seen := map[string]bool{}
	var es [][]byte
	for len(es) < n {
		k := r.IntN(nkeys)
		s := fmt.Sprintf("k%05d", k)
		if k%97 == 0 {
			s += string(bytes.Repeat([]byte{byte('a' + k%26)}, 5000+k)) // > one block
		}
		if k%13 == 0 {
			s += "\x00z"
		}
		key, _ := encodeIndexKey(String, s)
		e := appendIndexSeq(key, 1+r.Int64N(1<<40))
		if seen[string(e)] {
			continue
		}
		seen[string(e)] = true
		es = append(es, e)
	}
	slices.SortFunc(es, bytes.Compare)
	return es
}

func idxEncode(es [][]byte) []byte {
	return encodeIndexSection([]FieldType{String}, len(es), func(k int) []byte { return es[k] })
}

// idxCollect iterates a source to its end.
func idxCollect(t testing.TB, src idxSource) ([][]byte, error) {
	var out [][]byte
	for ok := src.seekStart(); ok; ok = src.step() {
		out = append(out, slices.Clone(src.entry()))
		if len(out) > 1<<20 {
			t.Fatal("source does not end")
		}
	}
	return out, src.err()
}

// idxBrute returns the entries of es inside [lo, hi] in the direction asked.
func idxBrute(es [][]byte, lo, hi idxBound, reverse bool) [][]byte {
	var out [][]byte
	for _, e := range es {
		if lo.lowerOK(e) && hi.upperOK(e) {
			out = append(out, e)
		}
	}
	if reverse {
		slices.Reverse(out)
	}
	return out
}

// idxRandomRange returns a random indexRange over the keys of es (or
// around them).
func idxRandomRange(r *rand.Rand, es [][]byte) indexRange {
	pick := func() []byte {
		if len(es) == 0 || r.IntN(8) == 0 {
			k, _ := encodeIndexKey(String, fmt.Sprintf("k%05d", r.IntN(1000)))
			return k
		}
		e := es[r.IntN(len(es))]
		switch r.IntN(3) {
		case 0:
			return e // a whole entry: a seq bound
		default:
			return e[:len(e)-idxSeqSize]
		}
	}
	var ir indexRange
	if r.IntN(5) > 0 {
		ir.lo, ir.loInclusive = pick(), r.IntN(2) == 0
	}
	if r.IntN(5) > 0 {
		ir.hi, ir.hiInclusive = pick(), r.IntN(2) == 0
	}
	if r.IntN(6) == 0 {
		p := pick()
		ir.prefix = p[:1+r.IntN(min(len(p), 5))]
	}
	return ir
}

func TestIndexSectionRoundTripAndRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 2, 300, 3000} {
		es := idxTestEntries(r, n, 400)
		b := idxEncode(es)
		sec, err := openIndexSection(b, "test.sst", 100)
		require.NoError(t, err)
		require.Equal(t, uint64(n), sec.nentries)
		var all [][]byte
		require.NoError(t, sec.verify(func(e []byte) error { all = append(all, slices.Clone(e)); return nil }))
		require.Equal(t, len(es), len(all))
		for i := range es {
			require.Equal(t, es[i], all[i])
		}
		for range 300 {
			ir := idxRandomRange(r, es)
			lo, hi := ir.bounds()
			for _, reverse := range []bool{false, true} {
				got, err := idxCollect(t, &sstIdxSource{s: sec, lo: lo, hi: hi, reverse: reverse})
				require.NoError(t, err)
				want := idxBrute(es, lo, hi, reverse)
				require.Equal(t, len(want), len(got), "range %+v reverse %v", ir, reverse)
				for i := range want {
					require.Equal(t, want[i], got[i])
				}
			}
		}
	}
}

// TestIndexRangeHelpers checks the seq-bounded helpers on a section: Eq(v)
// AND _seq < x iterated backwards starts at (v, x-1).
func TestIndexRangeHelpers(t *testing.T) {
	var es [][]byte
	for _, v := range []string{"a", "b", "c"} {
		for seq := int64(1); seq <= 100; seq++ {
			k, _ := encodeIndexKey(String, v)
			es = append(es, appendIndexSeq(k, seq*3))
		}
	}
	sec, err := openIndexSection(idxEncode(es), "t", 0)
	require.NoError(t, err)
	seqs := func(ir indexRange, reverse bool) []int64 {
		lo, hi := ir.bounds()
		got, err := idxCollect(t, &sstIdxSource{s: sec, lo: lo, hi: hi, reverse: reverse})
		require.NoError(t, err)
		var out []int64
		for _, e := range got {
			it := indexIter{cur: e}
			out = append(out, it.seq())
		}
		return out
	}
	kb, _ := encodeIndexKey(String, "b")
	got := seqs(indexRangeForEqBeforeSeq(kb, 30), true)
	require.Equal(t, []int64{27, 24, 21, 18, 15, 12, 9, 6, 3}, got)
	got = seqs(indexRangeForEqBeforeSeq(kb, 31), true)
	require.Equal(t, int64(30), got[0])
	got = seqs(indexRangeForEqAfterSeq(kb, 294), false)
	require.Equal(t, []int64{297, 300}, got)
	require.Len(t, seqs(indexRangeForEq(kb), false), 100)
	require.Len(t, seqs(indexRange{lo: kb, loInclusive: false}, false), 100) // only "c"
	require.Len(t, seqs(indexRange{hi: kb, hiInclusive: false}, true), 100)  // only "a"
	require.Empty(t, seqs(indexRangeIsNull(), false))
	p, _ := encodeIndexPrefix(String, "")
	require.Len(t, seqs(indexRange{prefix: p}, false), 300)
}

// TestIndexSectionInSST writes sections through the builder into a real
// SST and reads them back through the SST reader.
func TestIndexSectionInSST(t *testing.T) {
	fs := newSSTMemFS()
	s, err := NewSchema("t", []Field{
		{Name: "ch", Type: String, Indexed: true},
		{Name: "n", Type: Int64, Indexed: true, Nullable: true},
		{Name: "o", Type: Object}, // not indexable (NewSchema refuses Indexed): no section
	})
	require.NoError(t, err)
	w, err := newSSTWriter(fs, "/d", 7)
	require.NoError(t, err)
	b := newIndexSectionBuilder(s)
	type row struct {
		seq int64
		ch  string
		n   any
	}
	var rows []row
	for seq := int64(1); seq <= 2000; seq++ {
		kind := kindSet
		var buf []byte
		if seq%10 == 0 {
			kind = kindDelete
		} else {
			var n any = -seq
			if seq%7 == 0 {
				n = nil
			}
			rows = append(rows, row{seq, fmt.Sprintf("ch%d", seq%37), n})
			buf, err = encodeRow(nil, seq, seq, s.types(), []any{rows[len(rows)-1].ch, n, map[string]any{}})
			require.NoError(t, err)
		}
		require.NoError(t, w.add(seq, kind, seq, buf))
		require.NoError(t, b.add(seq, kind, buf))
	}
	require.NoError(t, b.writeTo(w))
	_, err = w.finish()
	require.NoError(t, err)

	rd := sstOpen(t, fs, "/d", 7)
	require.NoError(t, rd.verify(nil))
	_, found, err := rd.indexSection("o")
	require.NoError(t, err)
	require.False(t, found)
	sec, found, err := rd.indexSection("ch")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, String, sec.typ)
	require.Equal(t, uint64(len(rows)), sec.nentries)
	// Eq("ch5") in reverse: the seqs of ch5, newest first.
	k, _ := encodeIndexKey(String, "ch5")
	lo, hi := indexRangeForEq(k).bounds()
	got, err := idxCollect(t, &sstIdxSource{s: sec, lo: lo, hi: hi, reverse: true})
	require.NoError(t, err)
	var want []int64
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].ch == "ch5" {
			want = append(want, rows[i].seq)
		}
	}
	require.Equal(t, len(want), len(got))
	for i, e := range got {
		require.Equal(t, want[i], (&indexIter{cur: e}).seq())
	}
	// NULLs are indexed under the NULL key; Int64 keys order numerically.
	sec, _, err = rd.indexSection("n")
	require.NoError(t, err)
	lo, hi = indexRangeIsNull().bounds()
	got, err = idxCollect(t, &sstIdxSource{s: sec, lo: lo, hi: hi})
	require.NoError(t, err)
	nulls := 0
	for _, r := range rows {
		if r.n == nil {
			nulls++
		}
	}
	require.Len(t, got, nulls)
	lo, hi = indexRange{}.bounds()
	got, err = idxCollect(t, &sstIdxSource{s: sec, lo: lo, hi: hi})
	require.NoError(t, err)
	require.Len(t, got, len(rows)-nulls)
	first := (&indexIter{cur: got[0]}).seq()
	require.Equal(t, int64(1999), first, "most negative n first")

	// A flipped byte in the section payload is caught by the section CRC.
	raw, err := fs.readFile("/d/" + sstName(7))
	require.NoError(t, err)
	bad := slices.Clone(raw)
	for _, s := range rd.secs {
		if s.name == "ch" {
			bad[s.off+s.length/2] ^= 0x40
		}
	}
	require.NoError(t, fs.writeFile("/d/"+sstName(7), bad))
	rd2 := sstOpen(t, fs, "/d", 7)
	_, _, err = rd2.indexSection("ch")
	sstRequireCorrupted(t, err)
}

func TestIndexSectionBuilderCovers(t *testing.T) {
	s1, err := NewSchema("t", []Field{{Name: "a", Type: Int64, Indexed: true}, {Name: "b", Type: String}})
	require.NoError(t, err)
	s2, err := s1.withIndexed("b", true)
	require.NoError(t, err)
	s3, err := s1.withIndexed("a", false)
	require.NoError(t, err)
	require.True(t, newIndexSectionBuilder(s1).covers(s1))
	require.False(t, newIndexSectionBuilder(s1).covers(s2))
	require.True(t, newIndexSectionBuilder(s2).covers(s1))
	require.True(t, newIndexSectionBuilder(s1).covers(s3))
}

// TestIndexSectionCorruptionNeverPanics mutates encoded sections at random
// and walks them every way: each failure must be ErrCorrupted naming the
// file, and nothing may panic or loop.
func TestIndexSectionCorruptionNeverPanics(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	es := idxTestEntries(r, 600, 150)
	good := idxEncode(es)
	iterations := 3000
	if testing.Short() {
		iterations = 600
	}
	for i := range iterations {
		b := slices.Clone(good)
		switch i % 4 {
		case 0: // a few random bytes
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
		case 1: // truncation
			b = b[:r.IntN(len(b))]
		case 2: // zeroed run
			at := r.IntN(len(b))
			clear(b[at:min(len(b), at+r.IntN(64)+1)])
		case 3: // bytes mutated in the block index (then checksums resealed below)
			at := len(b) - idxIndexCRCSize - 1 - r.IntN(max(1, len(b)/8))
			if at > 0 {
				b[at] ^= byte(1 << r.IntN(8))
			}
		}
		if r.IntN(2) == 0 {
			idxReseal(b) // make the damage reach the structure checks
		}
		idxExercise(t, b)
	}
}

// idxReseal recomputes the header, block and block index CRCs of b where
// its structure still allows, so that mutations test the bounds checks
// rather than only the checksums.
func idxReseal(b []byte) {
	if len(b) < idxHeaderSize+idxIndexCRCSize {
		return
	}
	copy(b[idxHeaderCRCOff:], leU32(checksum(b[:idxHeaderCRCOff])))
	s, err := openIndexSection(b, "x", 0)
	if err != nil {
		return
	}
	for i := 0; i < s.nblocks; i++ {
		off, n, err := s.blockMeta(i)
		if err != nil {
			continue
		}
		copy(b[off+n-4:], leU32(checksum(b[off:off+n-4])))
	}
	copy(b[s.heapEnd:], leU32(checksum(b[s.indexOff:s.heapEnd])))
}

func leU32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// idxExercise opens, verifies and iterates section bytes b in every way,
// requiring that every error is a located ErrCorrupted.
func idxExercise(t testing.TB, b []byte) {
	check := func(err error) {
		if err == nil {
			return
		}
		if !errors.Is(err, ErrCorrupted) {
			t.Fatalf("error is not ErrCorrupted: %v", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.File == "" {
			t.Fatalf("corruption error without a file: %v", err)
		}
	}
	sec, err := openIndexSection(b, "f.sst", 1000)
	check(err)
	if err != nil {
		return
	}
	check(sec.verify(nil))
	k, _ := encodeIndexKey(String, "k00050")
	for _, ir := range []indexRange{{}, indexRangeForEq(k), {lo: k, loInclusive: true}, {hi: k}, indexRangeIsNull(), {lo: []byte{0}, loInclusive: true}} {
		lo, hi := ir.bounds()
		for _, reverse := range []bool{false, true} {
			_, err := idxCollect(t, &sstIdxSource{s: sec, lo: lo, hi: hi, reverse: reverse})
			check(err)
		}
	}
}

// FuzzIndexSection feeds arbitrary bytes to the index section reader.
func FuzzIndexSection(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	f.Add(idxEncode(nil))
	f.Add(idxEncode(idxTestEntries(r, 3, 10)))
	f.Add(idxEncode(idxTestEntries(r, 200, 50)))
	es := idxTestEntries(r, 100, 20) // as the entries of a composite index (version 3 header)
	f.Add(encodeIndexSection([]FieldType{String, Int64, Bool}, len(es), func(k int) []byte { return es[k] }))
	f.Fuzz(func(t *testing.T, b []byte) {
		idxExercise(t, b)
		resealed := slices.Clone(b)
		idxReseal(resealed)
		idxExercise(t, resealed)
	})
}
