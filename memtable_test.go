package srdb

import (
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func memCollect(t *testing.T, m *memtable) (seqs []int64, rows []string) {
	t.Helper()
	it := m.newIter()
	for ok := it.first(); ok; ok = it.next() {
		seqs = append(seqs, it.seq())
		rows = append(rows, string(it.value()))
	}
	return seqs, rows
}

func TestMemtableInOrderAppends(t *testing.T) {
	m := newMemtable(7)
	for s := int64(1); s <= 1000; s++ {
		m.add(s, kindSet, s*10, []byte(fmt.Sprintf("row-%d", s)))
	}
	seqs, rows := memCollect(t, m)
	require.Len(t, seqs, 1000)
	for i, s := range seqs {
		require.Equal(t, int64(i+1), s)
		require.Equal(t, fmt.Sprintf("row-%d", s), rows[i])
	}
	st := m.stats()
	require.Equal(t, int64(1), st.minSeq)
	require.Equal(t, int64(1000), st.maxSeq)
	require.Equal(t, int64(10), st.minTime)
	require.Equal(t, int64(10000), st.maxTime)
	require.Equal(t, uint64(7), m.logNum)
	require.Empty(t, m.late, "in-order appends must not use the late list")
}

func TestMemtableOutOfOrderAndOverwrite(t *testing.T) {
	m := newMemtable(1)
	model := map[int64]string{}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5000; i++ {
		seq := int64(rng.Intn(2000) + 1)
		if rng.Intn(10) == 0 {
			m.add(seq, kindDelete, 0, nil)
			model[seq] = "<del>"
			continue
		}
		v := fmt.Sprintf("v%d-%d", seq, i)
		m.add(seq, kindSet, int64(i), []byte(v))
		model[seq] = v
	}
	want := make([]int64, 0, len(model))
	for s := range model {
		want = append(want, s)
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })

	it := m.newIter()
	var got []int64
	for ok := it.first(); ok; ok = it.next() {
		got = append(got, it.seq())
		if it.kind() == kindDelete {
			require.Equal(t, "<del>", model[it.seq()])
			require.Empty(t, it.value())
		} else {
			require.Equal(t, model[it.seq()], string(it.value()))
		}
	}
	require.Equal(t, want, got)

	// Backwards gives the reverse.
	var back []int64
	for ok := it.last(); ok; ok = it.prev() {
		back = append(back, it.seq())
	}
	for i, j := 0, len(back)-1; i < j; i, j = i+1, j-1 {
		back[i], back[j] = back[j], back[i]
	}
	require.Equal(t, want, back)

	for s, v := range model {
		e, ok := m.get(s)
		require.True(t, ok)
		if v == "<del>" {
			require.Equal(t, kindDelete, e.kind)
		} else {
			require.Equal(t, v, string(m.rowBytes(e)))
		}
	}
	_, ok := m.get(99999)
	require.False(t, ok)
}

func TestMemtableSeek(t *testing.T) {
	m := newMemtable(1)
	for _, s := range []int64{10, 20, 30, 5, 25} { // 5 and 25 arrive late
		m.add(s, kindSet, 0, []byte{byte(s)})
	}
	it := m.newIter()
	cases := []struct {
		seek   int64
		ge, le int64 // 0 = invalid
	}{
		{1, 5, 0}, {5, 5, 5}, {6, 10, 5}, {21, 25, 20}, {30, 30, 30}, {31, 0, 30},
	}
	for _, c := range cases {
		if c.ge == 0 {
			require.False(t, it.seekGE(c.seek), "seekGE(%d)", c.seek)
		} else {
			require.True(t, it.seekGE(c.seek))
			require.Equal(t, c.ge, it.seq(), "seekGE(%d)", c.seek)
		}
		if c.le == 0 {
			require.False(t, it.seekLE(c.seek), "seekLE(%d)", c.seek)
		} else {
			require.True(t, it.seekLE(c.seek))
			require.Equal(t, c.le, it.seq(), "seekLE(%d)", c.seek)
		}
	}
	// Stepping from a seek works in both directions.
	require.True(t, it.seekGE(20))
	require.True(t, it.next())
	require.Equal(t, int64(25), it.seq())
	require.True(t, it.prev())
	require.True(t, it.prev())
	require.Equal(t, int64(10), it.seq())
}

func TestMemtableLargeRowsAndSize(t *testing.T) {
	m := newMemtable(1)
	big := make([]byte, memArenaChunk) // own chunk
	for i := range big {
		big[i] = byte(i)
	}
	m.add(1, kindSet, 0, []byte("small-1"))
	m.add(2, kindSet, 0, big)
	m.add(3, kindSet, 0, []byte("small-3"))
	e1, _ := m.get(1)
	e2, _ := m.get(2)
	e3, _ := m.get(3)
	require.Equal(t, "small-1", string(m.rowBytes(e1)))
	require.Equal(t, big, m.rowBytes(e2))
	require.Equal(t, "small-3", string(m.rowBytes(e3)))
	require.GreaterOrEqual(t, m.approximateSize(), int64(len(big)+14))
}

// TestMemtableConcurrentReadersAndWriter runs under -race: iterators and gets
// while a writer appends and overwrites.
func TestMemtableConcurrentReadersAndWriter(t *testing.T) {
	m := newMemtable(1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		for s := int64(1); s <= 20000; s++ {
			m.add(s, kindSet, s, []byte(fmt.Sprintf("r%d", s)))
			if s%7 == 0 {
				m.add(s/2, kindSet, s, []byte(fmt.Sprintf("u%d", s/2)))
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				it := m.newIter()
				prev := int64(0)
				for ok := it.first(); ok; ok = it.next() {
					if it.seq() <= prev {
						t.Errorf("iterator not increasing: %d after %d", it.seq(), prev)
						return
					}
					prev = it.seq()
					v := string(it.value())
					if v != fmt.Sprintf("r%d", prev) && v != fmt.Sprintf("u%d", prev) {
						t.Errorf("seq %d has row %q", prev, v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 20000, m.len())
}
