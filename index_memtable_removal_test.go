package srdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// memIndexRequireShape checks the structure of mi: every block non-empty,
// at most memIdxBlockMax ids, keys strictly ascending across blocks, every
// key with at least one seq, seqs sorted, and n equal to the entries.
func memIndexRequireShape(t *testing.T, mi *memIndex) {
	t.Helper()
	var prev []byte
	var one [1]int64
	n := 0
	for _, blk := range mi.order {
		require.NotEmpty(t, blk)
		require.LessOrEqual(t, len(blk), memIdxBlockMax)
		for _, id := range blk {
			k := mi.keyLocked(id)
			require.Positive(t, bytes.Compare(k, prev))
			prev = k
			seqs := mi.seqsLocked(id, &one)
			require.NotEmpty(t, seqs, "a key without seqs stays in order")
			require.True(t, slices.IsSorted(seqs))
			n += len(seqs)
		}
	}
	require.Equal(t, n, mi.n)
}

func memIndexModelSorted(model map[string]bool) [][]byte {
	out := make([][]byte, 0, len(model))
	for e := range model {
		out = append(out, []byte(e))
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// TestMemIndexRemoveMatchesModel inserts and removes entries at random
// (WAL replay style, op 0: nothing is kept) and compares every range, in
// both directions, with a model: removing the only seq of a key, the first,
// last or a middle seq of a run, emptying a block, re-adding a removed key.
func TestMemIndexRemoveMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, keys := range []int{50, 3000} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			mi := newMemIndex(idxField{name: "f", typ: String})
			model := map[string]bool{}
			var present [][]byte
			for step := 0; step < 20000; step++ {
				if len(present) > 0 && r.IntN(5) < 2 {
					i := r.IntN(len(present))
					e := present[i]
					present[i] = present[len(present)-1]
					present = present[:len(present)-1]
					require.Zero(t, mi.remove(e, 0), "op 0 keeps nothing")
					delete(model, string(e))
					// Removing it again, or an entry never added, changes nothing.
					mi.remove(e, 0)
					mi.remove(idxMemEntry(keys+1, 7), 0)
					continue
				}
				e := idxMemEntry(r.IntN(keys), int64(1+r.IntN(4000)))
				mi.insert(e)
				if !model[string(e)] {
					model[string(e)] = true
					present = append(present, e)
				}
				if step%2000 == 0 {
					memIndexRequireShape(t, mi)
				}
			}
			memIndexRequireShape(t, mi)
			require.Empty(t, mi.removed)
			sorted := memIndexModelSorted(model)
			require.Equal(t, len(sorted), mi.len())
			for range 60 {
				ir := idxRandomRange(r, sorted)
				lo, hi := ir.bounds()
				for _, reverse := range []bool{false, true} {
					require.Equal(t, idxBrute(sorted, lo, hi, reverse), idxMemCollect(t, mi, ir, reverse), "range %+v reverse %v", ir, reverse)
				}
			}
			// Empty it completely, then use it again.
			for _, e := range present {
				mi.remove(e, 0)
			}
			require.Zero(t, mi.len())
			require.Empty(t, mi.order)
			mi.insert(idxMemEntry(3, 9))
			mi.insert(idxMemEntry(3, 10))
			memIndexRequireShape(t, mi)
			require.Len(t, idxMemCollect(t, mi, indexRange{}, false), 2)
		})
	}
}

// memIndexSnapCollect reads mi through a source with snapshot snap.
func memIndexSnapCollect(t *testing.T, mi *memIndex, ir indexRange, reverse bool, snap int64) [][]byte {
	t.Helper()
	lo, hi := ir.bounds()
	src := &memIdxSource{mi: mi, lo: lo, hi: hi, reverse: reverse, withRemovals: true}
	src.rm.snap = snap
	got, err := idxCollect(t, src)
	require.NoError(t, err)
	return got
}

// TestMemIndexRemovalsSeenBySnapshot: a reader whose snapshot is below the
// op of a removal still gets the removed entry, merged in order with the
// live ones (across batch boundaries, in both directions, an entry both
// live again and removed once coming once); a reader at or above it does
// not.
func TestMemIndexRemovalsSeenBySnapshot(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	mi := newMemIndex(idxField{name: "f", typ: String})
	type removal struct {
		e  []byte
		op int64
	}
	live := map[string]bool{}
	var present [][]byte
	var removals []removal
	op := int64(0)
	for step := 0; step < 6000; step++ {
		if len(present) > 0 && r.IntN(3) == 0 {
			op++
			for range 1 + r.IntN(3) { // several removals by one write
				if len(present) == 0 {
					break
				}
				i := r.IntN(len(present))
				e := present[i]
				present[i] = present[len(present)-1]
				present = present[:len(present)-1]
				require.Positive(t, mi.remove(e, op))
				delete(live, string(e))
				removals = append(removals, removal{e, op})
			}
			continue
		}
		// Re-adding a removed entry (an Update back to an old value)
		// happens too.
		e := idxMemEntry(r.IntN(200), int64(1+r.IntN(3000)))
		if len(removals) > 0 && r.IntN(10) == 0 {
			e = removals[r.IntN(len(removals))].e
		}
		mi.insert(e)
		if !live[string(e)] {
			live[string(e)] = true
			present = append(present, e)
		}
	}
	memIndexRequireShape(t, mi)
	require.Len(t, mi.removed, len(removals))
	for _, snap := range []int64{0, 1, op / 3, op / 2, op - 1, op, memAllOps} {
		want := map[string]bool{}
		for e := range live {
			want[e] = true
		}
		for _, rm := range removals {
			if rm.op > snap {
				want[string(rm.e)] = true
			}
		}
		sorted := memIndexModelSorted(want)
		require.True(t, mi.removedAfter(snap) == (snap < op), "snap %d", snap)
		for i := range 40 {
			ir := indexRange{}
			if i > 0 {
				ir = idxRandomRange(r, sorted)
			}
			lo, hi := ir.bounds()
			for _, reverse := range []bool{false, true} {
				require.Equal(t, idxBrute(sorted, lo, hi, reverse), memIndexSnapCollect(t, mi, ir, reverse, snap), "snap %d range %+v reverse %v", snap, ir, reverse)
			}
		}
	}
}

// TestMemIndexRemovalDuringIteration: entries removed by writes newer than
// the reader's snapshot while it iterates — ahead of it, behind it, the
// one it stands on — do not disturb it: it returns exactly the entries of
// its snapshot, once each, in order.
func TestMemIndexRemovalDuringIteration(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, reverse := range []bool{false, true} {
		mi := newMemIndex(idxField{name: "f", typ: String})
		var all [][]byte
		for k := range 300 {
			for s := range 1 + k%4 {
				e := idxMemEntry(k, int64(1000*s+k))
				mi.insert(e)
				all = append(all, e)
			}
		}
		slices.SortFunc(all, bytes.Compare)
		// Removals by op 1 and 2 are part of the snapshot (snap 2).
		mi.remove(all[10], 1)
		mi.remove(all[11], 2)
		want := slices.Clone(all)
		want = slices.Delete(want, 10, 12)
		if reverse {
			slices.Reverse(want)
		}
		src := &memIdxSource{mi: mi, reverse: reverse, withRemovals: true}
		src.rm.snap = 2
		op := int64(3)
		var got [][]byte
		remaining := map[string]bool{}
		for _, e := range want {
			remaining[string(e)] = true
		}
		for ok := src.seekStart(); ok; ok = src.step() {
			got = append(got, slices.Clone(src.entry()))
			// The current entry, and others at random.
			mi.remove(src.entry(), op)
			delete(remaining, string(src.entry()))
			for e := range remaining {
				if r.IntN(6) == 0 {
					mi.remove([]byte(e), op)
					delete(remaining, e)
				}
				break
			}
			op++
		}
		require.Equal(t, want, got, "reverse %v", reverse)
		require.Zero(t, mi.len())
	}
}

// TestMemIndexSetUnindex: a delete removes the entries of the row it
// deletes; an update removes only the entries whose key changed; a row the
// set never indexed (unparsable) is ignored.
func TestMemIndexSetUnindex(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "a", Type: Int64, Indexed: true}, {Name: "b", Type: String, Indexed: true}})
	require.NoError(t, err)
	m := newMemtable(1)
	m.idx = newMemIndexSet(s)
	row := func(seq, a int64, b string) []byte {
		buf, err := encodeRow(nil, seq, 0, s.types(), []any{a, b})
		require.NoError(t, err)
		return buf
	}
	m.addOp(1, 1, kindSet, 0, row(1, 10, "x"))
	m.addOp(2, 2, kindSet, 0, row(2, 20, "x"))
	m.addOp(3, 1, kindSet, 0, row(1, 11, "x")) // a changes, b does not
	ma, mb := m.idx.field("a"), m.idx.field("b")
	require.Equal(t, 2, ma.len(), "(11,1) (20,2)")
	require.Equal(t, 2, mb.len(), "(x,1) (x,2)")
	require.Len(t, ma.removed, 1)
	require.Empty(t, mb.removed)
	m.addOp(4, 2, kindDelete, 0, nil)
	require.Equal(t, 1, ma.len())
	require.Equal(t, 1, mb.len())
	// A reader at snapshot 2 still finds (10,1), (20,2) and (x,2).
	k10, _ := encodeIndexKey(Int64, int64(10))
	require.Len(t, memIndexSnapCollect(t, ma, indexRangeForEq(k10), false, 2), 1)
	require.Len(t, memIndexSnapCollect(t, ma, indexRange{}, false, 2), 3)
	require.Len(t, memIndexSnapCollect(t, mb, indexRange{}, true, 3), 2)
	require.Len(t, memIndexSnapCollect(t, mb, indexRange{}, true, 4), 1)
	// Deleting a seq whose version is already a tombstone, or that this
	// memtable never held, changes nothing.
	m.addOp(5, 2, kindDelete, 0, nil)
	m.addOp(6, 99, kindDelete, 0, nil)
	require.Equal(t, 1, ma.len())
	require.Len(t, ma.removed, 2)
	// An unparsable old version was never indexed: unindex ignores it.
	m.idx.unindex(1, []byte{1, 2, 3}, nil, 7)
	require.Equal(t, 1, ma.len())
	require.Nil(t, m.idx.err())
}

// TestIndexEqAfterDeleteCyclesCostsLiveMatches is the SPEC §13 case: a
// value inserted and deleted 50,000 times in the active memtable, then
// inserted once more. Eq on it visits one index entry, not 50,001, before
// any flush; so does Eq on a value updated away 20,000 times.
func TestIndexEqAfterDeleteCyclesCostsLiveMatches(t *testing.T) {
	cycles := 50000
	if testing.Short() {
		cycles = 5000
	}
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true, MemTableSize: 256 << 20})
	defer db.Close()
	tbl := createIMTable(t, db)
	row := func(ch string, id int64) map[string]any {
		return map[string]any{"channel_id": ch, "from_uid": "u", "msg_id": id, "msg_type": 1}
	}
	for i := range cycles {
		seq, err := tbl.Insert(row("hot", int64(i)))
		require.NoError(t, err)
		require.NoError(t, tbl.Delete(seq))
	}
	last, err := tbl.Insert(row("hot", -1))
	require.NoError(t, err)
	moved, err := tbl.Insert(row("busy", -2))
	require.NoError(t, err)
	for i := range cycles / 2 {
		ch := "busy"
		if i%2 == 0 {
			ch = "elsewhere"
		}
		require.NoError(t, tbl.Update(moved, map[string]any{"channel_id": ch}))
	}
	require.Empty(t, tbl.Stats().Levels[0].Files, "nothing flushed: the memtable index answers")

	for _, c := range []struct {
		ch   string
		want int64
	}{{"hot", last}, {"busy", moved}} {
		st := &queryStats{}
		q := tbl.Query().Eq("channel_id", c.ch)
		q.stats = st
		r, err := q.First()
		require.NoError(t, err)
		require.Equal(t, c.want, r.Seq())
		require.LessOrEqual(t, st.entriesVisited, int64(2), "%s: entries visited", c.ch)
		n, err := tbl.Query().Eq("channel_id", c.ch).Count()
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	n, err := tbl.Query().Eq("channel_id", "elsewhere").Count()
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, db.Check())
	// Flushed, the same answers.
	require.NoError(t, tbl.Flush())
	r, err := tbl.Query().Eq("channel_id", "hot").First()
	require.NoError(t, err)
	require.Equal(t, last, r.Seq())
	require.NoError(t, db.Check())
}

// TestIndexRowsSnapshotSeesRowsDeletedMeanwhile: a Rows over an index
// returns the rows of its snapshot although they are deleted or moved to
// another key while it reads (their entries are removed from the memtable
// index at once); a query started after sees the new state.
func TestIndexRowsSnapshotSeesRowsDeletedMeanwhile(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	defer db.Close()
	tbl := createIMTable(t, db)
	var seqs []int64
	for i := range 200 {
		seq, err := tbl.Insert(map[string]any{"channel_id": "c", "from_uid": "u", "msg_id": int64(i), "msg_type": 1})
		require.NoError(t, err)
		seqs = append(seqs, seq)
	}
	for _, reverse := range []bool{false, true} {
		q := tbl.Query().Eq("channel_id", "c")
		if reverse {
			q = q.OrderByDesc("_seq")
		}
		rows, err := q.Rows()
		require.NoError(t, err)
		var got []int64
		first := true
		for rows.Next() {
			got = append(got, rows.Row().Seq())
			if first { // every row goes while the Rows reads
				first = false
				for i, s := range seqs {
					if i%2 == 0 {
						require.NoError(t, tbl.Delete(s))
					} else {
						require.NoError(t, tbl.Update(s, map[string]any{"channel_id": "d"}))
					}
				}
			}
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		want := slices.Clone(seqs)
		if reverse {
			slices.Reverse(want)
		}
		require.Equal(t, want, got, "reverse %v", reverse)
		n, err := tbl.Query().Eq("channel_id", "c").Count()
		require.NoError(t, err)
		require.Zero(t, n)
		// Put them back for the next direction.
		seqs = seqs[:0]
		for i := range 200 {
			seq, err := tbl.Insert(map[string]any{"channel_id": "c", "from_uid": "u", "msg_id": int64(i), "msg_type": 1})
			require.NoError(t, err)
			seqs = append(seqs, seq)
		}
	}
	require.NoError(t, db.Check())
}

// removalReplayTable opens a database on a fresh memFS with room for every
// row in one memtable, with the replay's parallel indexer on or off for
// the rest of the test, and creates the IM table "m".
func removalReplayTable(t *testing.T, parallel bool) (*memFS, *Database, *Table) {
	t.Helper()
	old := replayParallelIndex
	t.Cleanup(func() { replayParallelIndex = old })
	replayParallelIndex = parallel
	fs := newMemFS()
	db, _ := rdOpen(t, fs, func(o *Options) { o.MemTableSize = 64 << 20 })
	s, err := NewSchema("m", imTableFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	return fs, db, tbl
}

// replayedIndexEntries attaches read-only to fs (a crash copy: the WAL is
// replayed into memtables a read-only attach never flushes) and returns the
// number of entries of the memtable index of field of table "m".
func replayedIndexEntries(t *testing.T, fs FS, field string) int {
	t.Helper()
	db, err := Open("/db", &Options{FS: fs, ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	tbl, err := db.Table("m")
	require.NoError(t, err)
	rs, err := tbl.pin()
	require.NoError(t, err)
	defer rs.release()
	require.Empty(t, rs.v.levels[0], "replayed into memtables")
	n := 0
	for _, m := range rs.mems {
		n += m.idx.field(field).len()
	}
	return n
}

// TestIndexRemovalReplayedFromWAL: deletes and updates replayed from the WAL
// after a crash remove the entries of the versions they replace, with the
// replay's parallel indexer and without it: the memtable index holds exactly
// the entries of the live rows, and queries and Check agree.
func TestIndexRemovalReplayedFromWAL(t *testing.T) {
	for _, parallel := range []bool{true, false} {
		t.Run(fmt.Sprintf("parallel=%v", parallel), func(t *testing.T) {
			fs, db, tbl := removalReplayTable(t, parallel)
			live := map[int64]string{}
			for i := range 3000 {
				ch := fmt.Sprintf("c%d", i%7)
				seq, err := tbl.Insert(map[string]any{"channel_id": ch, "from_uid": "u", "msg_id": int64(i), "msg_type": 1})
				require.NoError(t, err)
				live[seq] = ch
				switch i % 5 {
				case 1:
					require.NoError(t, tbl.Delete(seq))
					delete(live, seq)
				case 2:
					require.NoError(t, tbl.Update(seq, map[string]any{"channel_id": "moved"}))
					live[seq] = "moved"
				}
			}
			crashed := fs.crashClone(nil, 0)
			require.NoError(t, db.Close())
			for _, f := range []string{"channel_id", "msg_id"} {
				require.Equal(t, len(live), replayedIndexEntries(t, crashed, f), "%s: one entry per live row", f)
			}
			want := map[string]int{}
			for _, ch := range live {
				want[ch]++
			}
			db, err := Open("/db", &Options{FS: crashed, Durability: DurabilitySync, DisableAutoCompaction: true})
			require.NoError(t, err)
			defer db.Close()
			tbl, err = db.Table("m")
			require.NoError(t, err)
			for ch, n := range want {
				got, err := tbl.Query().Eq("channel_id", ch).Count()
				require.NoError(t, err)
				require.Equal(t, n, got, ch)
			}
			require.NoError(t, db.Check())
		})
	}
}

// TestMemIndexConcurrentRemoveAndIterate runs one writer inserting and
// removing entries (each step one write op, published after it is applied,
// as the table's visibility watermark is) against readers iterating in both
// directions with the snapshot published when they start (go test -race):
// every iteration is strictly ordered and holds every entry of its
// snapshot — added at or before it and not removed at or before it.
func TestMemIndexConcurrentRemoveAndIterate(t *testing.T) {
	steps := 20000
	if testing.Short() {
		steps = 4000
	}
	type life struct {
		e           []byte
		added, gone int64 // ops; gone 0: still there
	}
	mi := newMemIndex(idxField{name: "f", typ: String})
	var (
		mu        sync.Mutex
		history   []*life
		published atomic.Int64
		done      atomic.Bool
	)
	go func() {
		defer done.Store(true)
		r := rand.New(rand.NewPCG(81, 82))
		var present []*life
		seq := int64(0)
		for op := int64(1); op <= int64(steps); op++ {
			if len(present) > 0 && r.IntN(3) == 0 {
				i := r.IntN(len(present))
				l := present[i]
				present[i] = present[len(present)-1]
				present = present[:len(present)-1]
				mi.remove(l.e, op)
				mu.Lock()
				l.gone = op
				mu.Unlock()
			} else {
				seq++
				l := &life{e: idxMemEntry(r.IntN(300), seq), added: op}
				mu.Lock()
				history = append(history, l)
				mu.Unlock()
				mi.insert(l.e)
				present = append(present, l)
			}
			published.Store(op)
		}
	}()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for reader := range 2 {
		wg.Add(1)
		go func(reverse bool) {
			defer wg.Done()
			for !done.Load() {
				snap := published.Load()
				src := &memIdxSource{mi: mi, reverse: reverse, withRemovals: true}
				src.rm.snap = snap
				got := map[string]bool{}
				var prev []byte
				for ok := src.seekStart(); ok; ok = src.step() {
					e := src.entry()
					if prev != nil && !idxAfter(e, prev, reverse) {
						errc <- fmt.Errorf("entry %x repeated or out of order after %x", e, prev)
						return
					}
					prev = slices.Clone(e)
					got[string(e)] = true
				}
				mu.Lock()
				for _, l := range history {
					if l.added <= snap && (l.gone == 0 || l.gone > snap) && !got[string(l.e)] {
						mu.Unlock()
						errc <- fmt.Errorf("snapshot %d: entry %x (added %d, removed %d) missing", snap, l.e, l.added, l.gone)
						return
					}
				}
				mu.Unlock()
			}
		}(reader == 1)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
}

// TestIndexRangeDeleteRemovesMemtableEntries: DeleteRange and DeleteBefore
// remove the memtable index entries of the rows they hide in the same
// memtable (live, in a Batch, and when replayed from the WAL, with and
// without the parallel replay indexer), so Eq walks only live entries; a
// Rows opened before still returns its rows.
func TestIndexRangeDeleteRemovesMemtableEntries(t *testing.T) {
	for _, parallel := range []bool{true, false} {
		t.Run(fmt.Sprintf("parallel=%v", parallel), func(t *testing.T) {
			fs, db, tbl := removalReplayTable(t, parallel)
			base := time.Unix(1_700_000_000, 0)
			insert := func(n int, at time.Time) []int64 {
				var seqs []int64
				for i := range n {
					seq, err := tbl.Insert(map[string]any{"_time": at.Add(time.Duration(i) * time.Millisecond), "channel_id": "hot", "from_uid": "u", "msg_id": int64(i), "msg_type": 1})
					require.NoError(t, err)
					seqs = append(seqs, seq)
				}
				return seqs
			}
			old := insert(3000, base)                      // hidden by DeleteBefore
			mid := insert(3000, base.Add(time.Hour))       // hidden by DeleteRange
			inBatch := insert(1000, base.Add(2*time.Hour)) // hidden by a Batch's DeleteRange
			live := insert(50, base.Add(3*time.Hour))

			rows, err := tbl.Query().Eq("channel_id", "hot").Rows() // before the deletes
			require.NoError(t, err)
			require.NoError(t, tbl.DeleteBefore(base.Add(30*time.Minute)))
			require.NoError(t, tbl.DeleteRange(mid[0], mid[len(mid)-1]+1))
			b := db.NewBatch()
			b.DeleteRange("m", inBatch[0], inBatch[len(inBatch)-1]+1)
			_, err = b.Commit()
			require.NoError(t, err)
			n := 0
			for rows.Next() {
				n++
			}
			require.NoError(t, rows.Close())
			require.Equal(t, len(old)+len(mid)+len(inBatch)+len(live), n, "the Rows opened before sees its snapshot")

			landed := tbl.idx.visited.Load()
			got, err := tbl.Query().Eq("channel_id", "hot").Count()
			require.NoError(t, err)
			require.Equal(t, len(live), got)
			require.LessOrEqual(t, tbl.idx.visited.Load()-landed, int64(len(live)+2), "only live entries are walked")
			require.NoError(t, db.Check())

			crashed := fs.crashClone(nil, 0)
			require.NoError(t, db.Close())
			require.Equal(t, len(live), replayedIndexEntries(t, crashed, "channel_id"), "replayed range deletes removed the hidden rows' entries")
			ro, err := Open("/db", &Options{FS: crashed, ReadOnly: true})
			require.NoError(t, err)
			defer ro.Close()
			rt, err := ro.Table("m")
			require.NoError(t, err)
			got, err = rt.Query().Eq("channel_id", "hot").Count()
			require.NoError(t, err)
			require.Equal(t, len(live), got)
		})
	}
}
