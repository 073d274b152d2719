package srdb

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// sliceIter is an internalIterator over sorted seqs (rows whose value is
// the seq in decimal), counting its closes.
type sliceIter struct {
	seqs   []int64
	pos    int // -1 or len(seqs) when unpositioned
	closes *int
}

func newSliceIter(seqs []int64, closes *int) *sliceIter {
	return &sliceIter{seqs: seqs, pos: -1, closes: closes}
}

func (s *sliceIter) at(i int) bool {
	s.pos = max(-1, min(i, len(s.seqs)))
	return s.valid()
}
func (s *sliceIter) first() bool { return s.at(0) }
func (s *sliceIter) last() bool  { return s.at(len(s.seqs) - 1) }
func (s *sliceIter) seekGE(seq int64) bool {
	return s.at(sort.Search(len(s.seqs), func(i int) bool { return s.seqs[i] >= seq }))
}
func (s *sliceIter) seekLE(seq int64) bool {
	return s.at(sort.Search(len(s.seqs), func(i int) bool { return s.seqs[i] > seq }) - 1)
}
func (s *sliceIter) next() bool      { return s.valid() && s.at(s.pos+1) }
func (s *sliceIter) prev() bool      { return s.valid() && s.at(s.pos-1) }
func (s *sliceIter) valid() bool     { return s.pos >= 0 && s.pos < len(s.seqs) }
func (s *sliceIter) seq() int64      { return s.seqs[s.pos] }
func (s *sliceIter) kind() entryKind { return kindSet }
func (s *sliceIter) value() []byte   { return []byte(fmt.Sprint(s.seqs[s.pos])) }
func (s *sliceIter) err() error      { return nil }
func (s *sliceIter) close() error    { *s.closes++; return nil }

// TestLevelIterConcatenatesFilesAndOpenIterators walks a levelIter whose
// parts are lazily opened files and already-open iterators (the chain of a
// table iterator) with random moves in both directions and seeks, against
// the sorted list of its seqs; files are opened only when reached and
// closed when left, open parts are closed once, by close.
func TestLevelIterConcatenatesFilesAndOpenIterators(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 50; round++ {
		var parts []levelPart
		var all []int64
		fileSeqs := map[*fileMeta][]int64{}
		openCloses, fileCloses, opens, live := 0, 0, 0, 0
		seq := int64(0)
		for p := 0; p < 1+rng.Intn(6); p++ {
			var seqs []int64
			for k := 0; k < 1+rng.Intn(4); k++ {
				seq += 1 + int64(rng.Intn(3))
				seqs = append(seqs, seq)
			}
			all = append(all, seqs...)
			part := levelPart{lo: seqs[0], hi: seqs[len(seqs)-1]}
			if rng.Intn(2) == 0 {
				part.it = newSliceIter(seqs, &openCloses)
			} else {
				part.file = &fileMeta{num: uint64(p + 1), entryProps: entryProps{minSeq: seqs[0], maxSeq: seqs[len(seqs)-1]}}
				fileSeqs[part.file] = seqs
			}
			parts = append(parts, part)
		}
		numOpen := len(parts) - len(fileSeqs)
		open := func(f *fileMeta) (internalIterator, error) {
			opens++
			live++
			closes := new(int)
			it := newSliceIter(fileSeqs[f], closes)
			return &closeHook{sliceIter: it, onClose: func() { live--; fileCloses++ }}, nil
		}
		l := &levelIter{parts: parts, open: open, idx: -1}
		pos := -1 // index in all of the model's position; -1 or len(all) when none
		for step := 0; step < 60; step++ {
			var ok bool
			switch op := rng.Intn(6); {
			case op == 0:
				ok, pos = l.first(), 0
			case op == 1:
				ok, pos = l.last(), len(all)-1
			case op == 2:
				s := int64(rng.Intn(int(seq) + 2))
				ok, pos = l.seekGE(s), sort.Search(len(all), func(i int) bool { return all[i] >= s })
			case op == 3:
				s := int64(rng.Intn(int(seq) + 2))
				ok, pos = l.seekLE(s), sort.Search(len(all), func(i int) bool { return all[i] > s })-1
			case op == 4:
				if pos < 0 || pos >= len(all) {
					continue
				}
				ok, pos = l.next(), pos+1
			default:
				if pos < 0 || pos >= len(all) {
					continue
				}
				ok, pos = l.prev(), pos-1
			}
			want := pos >= 0 && pos < len(all)
			require.Equal(t, want, ok, "round %d step %d", round, step)
			require.Equal(t, want, l.valid())
			if want {
				require.Equal(t, all[pos], l.seq())
				require.Equal(t, fmt.Sprint(all[pos]), string(l.value()))
			}
			require.LessOrEqual(t, live, 1, "at most one file open at a time")
			require.Zero(t, openCloses, "open parts stay open until close")
		}
		require.NoError(t, l.close())
		require.Zero(t, live, "every opened file closed")
		require.Equal(t, opens, fileCloses)
		require.Equal(t, numOpen, openCloses, "each open part closed once")
		require.NoError(t, l.close())
		require.Equal(t, numOpen, openCloses, "a second close closes nothing")
	}
}

// closeHook runs onClose when the iterator is closed.
type closeHook struct {
	*sliceIter
	onClose func()
}

func (c *closeHook) close() error { c.onClose(); return nil }

// TestTableIterWalksChainedAndMergedSources walks the table iterator with
// random direction changes over disjoint sources (flushed L0 files, L1
// after a compaction, memtables: chained by a levelIter) and overlapping
// ones (updates and deletes of old rows in later memtables and files:
// merged), against the model of live seqs.
func TestTableIterWalksChainedAndMergedSources(t *testing.T) {
	opts := DefaultOptions()
	opts.FS = newMemFS()
	opts.DisableAutoCompaction = true
	db := openTestDB(t, "/db", opts)
	defer db.Close()
	tbl := createIMTable(t, db)
	live := map[int64]bool{}
	rng := rand.New(rand.NewSource(2))
	for batch := int64(0); batch < 6; batch++ {
		for i := int64(1); i <= 50; i++ {
			seq, err := tbl.Insert(imTableRow(batch*50 + i))
			require.NoError(t, err)
			live[seq] = true
		}
		if batch == 4 { // touch rows of batch 3: these two files overlap
			for k := 0; k < 8; k++ {
				seq := int64(151 + rng.Intn(50))
				if !live[seq] {
					continue
				}
				if k%2 == 0 {
					require.NoError(t, tbl.Delete(seq))
					delete(live, seq)
				} else {
					require.NoError(t, tbl.Update(seq, map[string]any{"msg_type": uint8(9)}))
				}
			}
		}
		if batch == 2 {
			require.NoError(t, tbl.Compact())
		}
		if batch < 5 {
			require.NoError(t, tbl.Flush())
		}
	}
	var want []int64
	for s := range live {
		want = append(want, s)
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })

	it, err := tbl.newTableIter()
	require.NoError(t, err)
	defer it.close()
	chain, ok := it.merge.(*levelIter)
	require.True(t, ok, "disjoint sources are chained")
	merged := 0
	for _, p := range chain.parts {
		if _, ok := p.it.(*mergingIter); ok {
			merged++
		}
	}
	require.Greater(t, len(chain.parts), merged, "some sources stand alone in the chain")
	require.Positive(t, merged, "overlapping sources are merged")
	pos := -1
	for step := 0; step < 300; step++ {
		// A run of moves in one direction, so that walks reach the middle.
		if rng.Intn(10) == 0 || pos < 0 || pos >= len(want) {
			if rng.Intn(2) == 0 {
				require.True(t, it.first())
				pos = 0
			} else {
				require.True(t, it.last())
				pos = len(want) - 1
			}
			require.Equal(t, want[pos], it.seq(), "step %d", step)
		}
		forward := rng.Intn(2) == 0
		for n := 1 + rng.Intn(120); n > 0 && pos >= 0 && pos < len(want); n-- {
			var ok bool
			if forward {
				ok, pos = it.next(), pos+1
			} else {
				ok, pos = it.prev(), pos-1
			}
			require.Equal(t, pos >= 0 && pos < len(want), ok, "step %d", step)
			if ok {
				require.Equal(t, want[pos], it.seq(), "step %d", step)
			}
		}
	}
	require.NoError(t, it.close())
}
