package srdb

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInsertDefersMemtableIndex: an Insert stores its rows without indexing
// them; the first index read makes the entries of all of them, and charges
// their memory to the memtable. From then on Inserts into that memtable,
// and into the next active one, index at once; a memtable whose index was
// not read hands on deferring again.
func TestInsertDefersMemtableIndex(t *testing.T) {
	db := openTestDB(t, t.TempDir(), nil)
	defer db.Close()
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 100; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	_, err := tbl.Insert([]map[string]any{imTableRow(101), imTableRow(102)})
	require.NoError(t, err)
	m := tbl.mem
	mi := m.idx.field("channel_id")
	require.Equal(t, 0, mi.len(), "no entry made by the inserts")
	require.EqualValues(t, 102, m.idxPending.Load())
	before := m.approximateSize()

	got, err := tbl.Query().Eq("channel_id", "ch-003").Count()
	require.NoError(t, err)
	require.Equal(t, 2, got, "rows 3 and 100")
	require.Zero(t, m.idxPending.Load())
	require.Equal(t, 102, mi.len())
	require.Equal(t, 102, m.idx.field("msg_id").len())
	require.Greater(t, m.approximateSize(), before, "the entries are charged once made")

	_, err = tbl.Insert(imTableRow(103))
	require.NoError(t, err)
	require.Zero(t, m.idxPending.Load(), "the index was read: inserts index at once")
	require.Equal(t, 103, mi.len())

	require.NoError(t, tbl.Flush())
	require.NotSame(t, m, tbl.mem)
	m = tbl.mem
	_, err = tbl.Insert(imTableRow(104))
	require.NoError(t, err)
	require.Zero(t, m.idxPending.Load(), "the predecessor was read: the successor indexes at once")
	require.Equal(t, 1, m.idx.field("msg_id").len())

	require.NoError(t, tbl.Flush())
	m = tbl.mem
	_, err = tbl.Insert(imTableRow(105))
	require.NoError(t, err)
	require.EqualValues(t, 1, m.idxPending.Load(), "no index read in the predecessor: deferred again")
	got, err = tbl.Query().Eq("msg_id", int64(105)).Count()
	require.NoError(t, err)
	require.Equal(t, 1, got)
}

// keepDeferring turns eagerAfterIndexRead off for the test: Inserts keep
// deferring their index entries however often the index is read.
func keepDeferring(t *testing.T) {
	old := eagerAfterIndexRead
	t.Cleanup(func() { eagerAfterIndexRead = old })
	eagerAfterIndexRead = false
}

// TestDeferredIndexMatchesEager feeds the same random writes to two
// memtables: one indexing every row at once (addOp), one deferring the
// inserts (addInserts) and catching up before each read. Inserts of one or
// several rows, Updates (of a deferred row, of a row indexed already, of a
// seq the memtable does not hold, which appends an entry out of seq order),
// Deletes and range tombstones interleave, and reads at random snapshots
// must find the same entries, removals included, in both directions, with
// the same memory charged. Seed 3 lets the first read end the deferring
// (eagerAfterIndexRead); the others keep deferring after every read.
func TestDeferredIndexMatchesEager(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "a", Type: Int64, Indexed: true}, {Name: "b", Type: String, Indexed: true}, {Name: "c", Type: Int64}})
	require.NoError(t, err)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if seed != 3 {
				keepDeferring(t)
			}
			r := rand.New(rand.NewPCG(seed, 71))
			eager, lazy := newMemtable(1), newMemtable(1)
			eager.idx, lazy.idx = newMemIndexSet(s), newMemIndexSet(s)
			row := func(seq, tn int64) []byte {
				buf, err := encodeRow(nil, seq, tn, s.types(), []any{r.Int64N(20), fmt.Sprintf("k%d", r.IntN(15)), r.Int64()})
				require.NoError(t, err)
				return buf
			}
			const firstSeq = 1000 // seqs below were "flushed": Updates of them append out of order
			next, op := int64(firstSeq), int64(0)
			hidden := map[int64]bool{} // hidden by a range tombstone: never written again
			pick := func() int64 {
				if r.IntN(8) == 0 {
					return 1 + r.Int64N(firstSeq-1)
				}
				return firstSeq + r.Int64N(max(next-firstSeq, 1))
			}
			reads := 0
			for step := 0; step < 3000; step++ {
				switch k := r.IntN(100); {
				case k < 62: // Insert of 1..3 rows
					n := 1 + r.IntN(3)
					op++
					rows := make([]encodedRow, n)
					for i := range rows {
						tn := r.Int64N(1000)
						rows[i] = encodedRow{timeNanos: tn, buf: row(next+int64(i), tn)}
						eager.addOp(op, next+int64(i), kindSet, tn, rows[i].buf)
					}
					lazy.addInserts(op, next, rows)
					next += int64(n)
				case k < 80: // Update
					seq := pick()
					if hidden[seq] {
						continue
					}
					op++
					tn := r.Int64N(1000)
					b := row(seq, tn)
					eager.addOp(op, seq, kindSet, tn, b)
					lazy.addOp(op, seq, kindSet, tn, b)
				case k < 92: // Delete
					seq := pick()
					if hidden[seq] {
						continue
					}
					op++
					eager.addOp(op, seq, kindDelete, 0, nil)
					lazy.addOp(op, seq, kindDelete, 0, nil)
				case k < 95: // range tombstone
					lo := pick()
					d := rangeTombstone{seqLo: lo, seqHi: lo + 1 + r.Int64N(30), timeBefore: anyTime}
					if r.IntN(2) == 0 {
						d.timeBefore = r.Int64N(1000)
					}
					for seq := d.seqLo; seq < d.seqHi; seq++ {
						// A hidden row is refused by Update and Delete from
						// now on (the table checks): mark every candidate.
						hidden[seq] = true
					}
					op++
					eager.addRangeDelOp(op, d)
					lazy.addRangeDelOp(op, d)
				default: // read
					reads++
					lazy.catchUpIndex()
					require.Zero(t, lazy.idxPending.Load())
					require.Equal(t, eager.idx.size(), lazy.idx.size())
					for _, f := range []string{"a", "b"} {
						em, lm := eager.idx.field(f), lazy.idx.field(f)
						require.Equal(t, em.len(), lm.len())
						snap := r.Int64N(op + 2)
						for _, reverse := range []bool{false, true} {
							require.Equal(t, memIndexSnapCollect(t, em, indexRange{}, reverse, snap),
								memIndexSnapCollect(t, lm, indexRange{}, reverse, snap), "field %s snap %d step %d", f, snap, step)
						}
						lm.mu.RLock()
						memIndexRequireShape(t, lm)
						lm.mu.RUnlock()
					}
				}
			}
			require.Greater(t, reads, 50)
		})
	}
}

// TestDeferredIndexConcurrentReaders: while goroutines insert rows (and
// update some, which catches up on the writer's side) in small memtables
// that switch and flush, index queries on other goroutines find every row
// acknowledged before they started: the rows a reader's snapshot sees are
// indexed by the time it reads the memtable index. As configured, and with
// Inserts that keep deferring (keepDeferring), so that catch-ups race with
// them all along. Run with -race too.
func TestDeferredIndexConcurrentReaders(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepDeferring=%v", keep), func(t *testing.T) {
			if keep {
				keepDeferring(t)
			}
			deferredIndexConcurrentReaders(t)
		})
	}
}

func deferredIndexConcurrentReaders(t *testing.T) {
	opts := DefaultOptions()
	opts.MemTableSize = 64 << 10
	db := openTestDB(t, t.TempDir(), opts)
	defer db.Close()
	tbl := createIMTable(t, db)
	const writers, perWriter = 4, 1500
	var acked atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				row := imTableRow(int64(i))
				row["channel_id"] = "hot"
				seq, err := tbl.Insert(row)
				if err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
				if i%10 == 0 {
					if err := tbl.Update(seq, map[string]any{"from_uid": "updated"}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	var rg sync.WaitGroup
	var queries atomic.Int64
	for rd := 0; rd < 2; rd++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for !done.Load() {
				want := acked.Load()
				got, err := tbl.Query().Eq("channel_id", "hot").Count()
				if err != nil {
					t.Error(err)
					return
				}
				if int64(got) < want {
					t.Errorf("index query found %d rows, %d were acknowledged before it", got, want)
					return
				}
				queries.Add(1)
			}
		}()
	}
	wg.Wait()
	done.Store(true)
	rg.Wait()
	require.Positive(t, queries.Load())
	got, err := tbl.Query().Eq("channel_id", "hot").Count()
	require.NoError(t, err)
	require.Equal(t, writers*perWriter, got)
	require.NoError(t, db.Check())
}
