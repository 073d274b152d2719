package srdb

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// taggedIter is a sliceIter whose values name the child ("i:seq"), and
// which fails (err set, unpositioned) when it steps onto failAt.
type taggedIter struct {
	sliceIter
	tag    int
	failAt int64
	fault  error
}

func (c *taggedIter) check() bool {
	if c.fault == nil && c.sliceIter.valid() && c.sliceIter.seq() == c.failAt {
		c.fault = errors.New("injected")
	}
	return c.valid()
}
func (c *taggedIter) first() bool           { c.sliceIter.first(); return c.check() }
func (c *taggedIter) last() bool            { c.sliceIter.last(); return c.check() }
func (c *taggedIter) seekGE(seq int64) bool { c.sliceIter.seekGE(seq); return c.check() }
func (c *taggedIter) seekLE(seq int64) bool { c.sliceIter.seekLE(seq); return c.check() }
func (c *taggedIter) next() bool            { c.sliceIter.next(); return c.check() }
func (c *taggedIter) prev() bool            { c.sliceIter.prev(); return c.check() }
func (c *taggedIter) valid() bool           { return c.fault == nil && c.sliceIter.valid() }
func (c *taggedIter) err() error            { return c.fault }
func (c *taggedIter) value() []byte         { return []byte(fmt.Sprintf("%d:%d", c.tag, c.seq())) }

// TestMergingIterMatchesModel walks merges of 1 to 30 overlapping sources
// with random moves in both directions and seeks, against the model: every
// seq of any source once, from the source of lowest index. A source that
// fails mid-walk must fail the merge (err set, invalid from then on).
func TestMergingIterMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for round := 0; round < 300; round++ {
		n := 1 + rng.Intn(30)
		winner := map[int64]int{}
		children := make([]internalIterator, n)
		closes := 0
		fail := round%5 == 4
		var failAt int64 = -1
		for i := range children {
			var seqs []int64
			for s := int64(1); s <= 200; s++ {
				if rng.Intn(n+1) == 0 {
					seqs = append(seqs, s)
					if _, ok := winner[s]; !ok {
						winner[s] = i
					}
				}
			}
			c := &taggedIter{sliceIter: *newSliceIter(seqs, &closes), tag: i, failAt: -1}
			if fail && i == n-1 && len(seqs) > 0 {
				c.failAt = seqs[rng.Intn(len(seqs))]
				failAt = c.failAt
			}
			children[i] = c
		}
		var all []int64
		for s := range winner {
			all = append(all, s)
		}
		slices.Sort(all)
		m := newMergingIter(children)
		pos := -1 // index in all of the model's position; -1 or len(all): none
		failed := false
		for op := 0; op < 400 && !failed; op++ {
			var ok bool
			switch k := rng.Intn(10); {
			case k == 0:
				ok, pos = m.first(), 0
			case k == 1:
				ok, pos = m.last(), len(all)-1
			case k == 2:
				s := int64(rng.Intn(210))
				ok, pos = m.seekGE(s), len(all)
				if i, found := slices.BinarySearch(all, s); found || i < len(all) {
					pos = i
				}
			case k == 3:
				s := int64(rng.Intn(210))
				i, found := slices.BinarySearch(all, s)
				if !found {
					i--
				}
				ok, pos = m.seekLE(s), i
			case k < 7:
				if pos < 0 || pos >= len(all) {
					continue
				}
				ok = m.next()
				pos++
			default:
				if pos < 0 || pos >= len(all) {
					continue
				}
				ok = m.prev()
				pos--
			}
			if m.err() != nil {
				require.True(t, fail, "round %d: unexpected error %v", round, m.err())
				require.False(t, ok)
				require.False(t, m.valid())
				failed = true
				continue
			}
			want := pos >= 0 && pos < len(all)
			require.Equal(t, want, ok, "round %d op %d", round, op)
			if want {
				s := all[pos]
				require.NotEqual(t, failAt, s, "round %d: the merge stood on the failing entry", round)
				require.Equal(t, s, m.seq(), "round %d op %d", round, op)
				require.Equal(t, fmt.Sprintf("%d:%d", winner[s], s), string(m.value()), "round %d op %d", round, op)
			}
		}
		if failed {
			require.False(t, m.next())
			require.Error(t, m.err())
		}
		require.Equal(t, m.err(), m.close())
		require.Equal(t, n, closes)
	}
}
