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

// TestMemtableSnapshotVersions: versions stored by write operations (op) and
// read at every snapshot. getAt and the iterator (both directions, seeks)
// must return, for each seq, the newest version whose op is at most the
// snapshot, and skip a seq that has none — against a model keeping every
// version. Updates and deletes replace entries in place, so this exercises
// the superseded chain, including seqs updated many times and seqs written
// out of order (the index map).
func TestMemtableSnapshotVersions(t *testing.T) {
	type version struct {
		op   int64
		kind entryKind
		row  string
	}
	for seed := int64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewSource(seed))
		m := newMemtable(1)
		model := map[int64][]version{}
		var seqs []int64
		next := int64(100)
		op := int64(0)
		for i := 0; i < 400; i++ {
			op++
			var seq int64
			switch r := rng.Intn(10); {
			case r < 5 || len(seqs) == 0:
				seq = next
				next += int64(1 + rng.Intn(2)) // sometimes a gap
			case r < 6:
				seq = int64(1 + rng.Intn(99)) // older than base: the index map
				if _, ok := model[seq]; ok {
					continue
				}
			default:
				seq = seqs[rng.Intn(len(seqs))]
			}
			kind := kindSet
			if _, ok := model[seq]; ok && rng.Intn(4) == 0 {
				kind = kindDelete
			}
			v := version{op: op, kind: kind}
			var row []byte
			if kind == kindSet {
				v.row = fmt.Sprintf("s%d-op%d", seq, op)
				row = []byte(v.row)
			}
			if _, ok := model[seq]; !ok {
				seqs = append(seqs, seq)
			}
			model[seq] = append(model[seq], v)
			m.addOp(op, seq, kind, 0, row)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		visibleAt := func(seq, snap int64) (version, bool) {
			vs := model[seq]
			for i := len(vs) - 1; i >= 0; i-- {
				if vs[i].op <= snap {
					return vs[i], true
				}
			}
			return version{}, false
		}
		for snap := int64(0); snap <= op; snap += 1 + int64(rng.Intn(7)) {
			var want []int64
			for _, seq := range seqs {
				w, ok := visibleAt(seq, snap)
				e, got := m.getAt(seq, snap)
				require.Equal(t, ok, got, "seed %d snap %d seq %d", seed, snap, seq)
				if ok {
					want = append(want, seq)
					require.Equal(t, w.op, e.op, "seed %d snap %d seq %d", seed, snap, seq)
					require.Equal(t, w.kind, e.kind)
					require.Equal(t, w.row, string(m.rowBytes(e)))
				}
			}
			it := m.newIterAt(snap)
			var fwd, bwd []int64
			for ok := it.first(); ok; ok = it.next() {
				w, _ := visibleAt(it.seq(), snap)
				require.Equal(t, w.kind, it.kind(), "seed %d snap %d seq %d", seed, snap, it.seq())
				require.Equal(t, w.row, string(it.value()))
				fwd = append(fwd, it.seq())
			}
			for ok := it.last(); ok; ok = it.prev() {
				bwd = append([]int64{it.seq()}, bwd...)
			}
			require.Equal(t, want, fwd, "seed %d snap %d forward", seed, snap)
			require.Equal(t, want, bwd, "seed %d snap %d backward", seed, snap)
			for k := 0; k < 20; k++ {
				target := int64(rng.Intn(int(next + 5)))
				i := sort.Search(len(want), func(i int) bool { return want[i] >= target })
				if ok := it.seekGE(target); i < len(want) {
					require.True(t, ok)
					require.Equal(t, want[i], it.seq(), "seed %d snap %d seekGE(%d)", seed, snap, target)
				} else {
					require.False(t, ok)
				}
				j := sort.Search(len(want), func(i int) bool { return want[i] > target }) - 1
				if ok := it.seekLE(target); j >= 0 {
					require.True(t, ok)
					require.Equal(t, want[j], it.seq(), "seed %d snap %d seekLE(%d)", seed, snap, target)
				} else {
					require.False(t, ok)
				}
			}
		}
		// The newest versions (what flush writes) are every op's.
		e, ok := m.get(seqs[0])
		require.True(t, ok)
		require.Equal(t, model[seqs[0]][len(model[seqs[0]])-1].op, e.op)
	}
}
