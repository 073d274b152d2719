package srdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func idxMemEntry(k int, seq int64) []byte {
	key, _ := encodeIndexKey(String, fmt.Sprintf("v%05d", k))
	return appendIndexSeq(key, seq)
}

func idxMemCollect(t testing.TB, mi *memIndex, ir indexRange, reverse bool) [][]byte {
	lo, hi := ir.bounds()
	got, err := idxCollect(t, &memIdxSource{mi: mi, lo: lo, hi: hi, reverse: reverse})
	require.NoError(t, err)
	return got
}

func TestMemIndexOrderAndRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		order string
		keys  int
	}{{"random", 300}, {"random", 9000}, {"ascending", 300}, {"ascending", 9000}, {"descending", 9000}} {
		t.Run(fmt.Sprintf("%s/%d", tc.order, tc.keys), func(t *testing.T) {
			order := tc.order
			mi := newMemIndex(idxField{name: "f", typ: String})
			var es [][]byte
			for i := 0; i < 6000; i++ {
				es = append(es, idxMemEntry(r.IntN(tc.keys), int64(1+r.IntN(100000))))
			}
			switch order {
			case "ascending":
				slices.SortFunc(es, bytes.Compare)
			case "descending":
				slices.SortFunc(es, func(a, b []byte) int { return bytes.Compare(b, a) })
			}
			model := map[string]bool{}
			for _, e := range es {
				charged := mi.insert(e)
				if model[string(e)] {
					require.Zero(t, charged, "duplicate entry charged")
				}
				model[string(e)] = true
			}
			sorted := make([][]byte, 0, len(model))
			for e := range model {
				sorted = append(sorted, []byte(e))
			}
			slices.SortFunc(sorted, bytes.Compare)
			require.Equal(t, len(sorted), mi.len())
			// Every block is non-empty and sorted, and ordered with its
			// neighbours; every key's seqs are sorted.
			var prev []byte
			var one [1]int64
			for _, blk := range mi.order {
				require.NotEmpty(t, blk)
				require.LessOrEqual(t, len(blk), memIdxBlockMax)
				for _, id := range blk {
					k := mi.keyLocked(id)
					require.Positive(t, bytes.Compare(k, prev))
					prev = k
					require.True(t, slices.IsSorted(mi.seqsLocked(id, &one)))
				}
			}
			for range 60 {
				ir := idxRandomRange(r, sorted)
				lo, hi := ir.bounds()
				for _, reverse := range []bool{false, true} {
					got := idxMemCollect(t, mi, ir, reverse)
					want := idxBrute(sorted, lo, hi, reverse)
					require.Equal(t, len(want), len(got), "range %+v reverse %v", ir, reverse)
					for i := range want {
						require.Equal(t, want[i], got[i])
					}
				}
			}
		})
	}
}

// TestMemIndexConcurrentInsertAndIterate runs one writer against readers
// iterating in both directions (go test -race): every iteration is strictly
// ordered and holds at least every entry inserted before it started.
func TestMemIndexConcurrentInsertAndIterate(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	r := rand.New(rand.NewPCG(41, 42))
	es := make([][]byte, n)
	for i := range es {
		es[i] = idxMemEntry(r.IntN(50), int64(i+1))
	}
	mi := newMemIndex(idxField{name: "f", typ: String})
	var inserted atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, e := range es {
			mi.insert(e)
			inserted.Store(int64(i + 1))
		}
	}()
	errc := make(chan error, 4)
	for reader := 0; reader < 3; reader++ {
		wg.Add(1)
		go func(reader int) {
			defer wg.Done()
			reverse := reader%2 == 1
			for {
				before := int(inserted.Load())
				var ir indexRange
				if reader == 2 {
					k, _ := encodeIndexKey(String, "v00007")
					ir = indexRangeForEq(k)
				}
				lo, hi := ir.bounds()
				src := &memIdxSource{mi: mi, lo: lo, hi: hi, reverse: reverse}
				seen := map[string]bool{}
				var prev []byte
				for ok := src.seekStart(); ok; ok = src.step() {
					e := src.entry()
					if prev != nil {
						c := bytes.Compare(e, prev)
						if (!reverse && c <= 0) || (reverse && c >= 0) {
							errc <- fmt.Errorf("reader %d: out of order", reader)
							return
						}
					}
					prev = e
					seen[string(e)] = true
				}
				for _, e := range es[:before] {
					if lo.lowerOK(e) && hi.upperOK(e) && !seen[string(e)] {
						errc <- fmt.Errorf("reader %d: entry inserted before the iteration is missing", reader)
						return
					}
				}
				if before == n {
					return
				}
			}
		}(reader)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	require.Equal(t, n, mi.len())
}

// TestMemIndexSetFollowsMemtable: the memtable feeds its index set on every
// version; an update adds the new value and removes the old one, a delete
// removes the deleted row's entries.
func TestMemIndexSetFollowsMemtable(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "a", Type: Int64, Indexed: true}, {Name: "b", Type: String}})
	require.NoError(t, err)
	m := newMemtable(1)
	m.idx = newMemIndexSet(s)
	require.Nil(t, m.idx.field("b"))
	row := func(seq int64, a int64) []byte {
		b, err := encodeRow(nil, seq, 0, s.types(), []any{a, "x"})
		require.NoError(t, err)
		return b
	}
	before := m.approximateSize()
	m.add(1, kindSet, 0, row(1, 10))
	m.add(2, kindSet, 0, row(2, 20))
	m.add(1, kindSet, 0, row(1, 30)) // update of seq 1
	m.add(2, kindDelete, 0, nil)
	mi := m.idx.field("a")
	require.NotNil(t, mi)
	require.Equal(t, 1, mi.len()) // (30,1); (10,1) and (20,2) removed
	require.Greater(t, m.approximateSize(), before+3*9)
	k30, _ := encodeIndexKey(Int64, int64(30))
	got := idxMemCollect(t, mi, indexRangeForEq(k30), false)
	require.Len(t, got, 1)
	require.Equal(t, int64(1), (&indexIter{cur: got[0]}).seq())

	// addField extends an empty memtable's set only once.
	m2 := newMemtable(2)
	m2.idx = newMemIndexSet(s)
	m2.idx.addField(idxField{name: "b", pos: 1, typ: String})
	m2.idx.addField(idxField{name: "b", pos: 1, typ: String})
	require.NotNil(t, m2.idx.field("b"))
	m2.add(5, kindSet, 0, row(5, 1))
	kx, _ := encodeIndexKey(String, "x")
	require.Len(t, idxMemCollect(t, m2.idx.field("b"), indexRangeForEq(kx), true), 1)
}
