package srdb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// btOpen opens a database on fs with tables "messages" (channel, n) and
// "register" (channel, last, count), created when missing.
func btOpen(t *testing.T, fs FS, d Durability) (*Database, *Table, *Table) {
	t.Helper()
	o := DefaultOptions()
	o.FS = fs
	o.Durability = d
	o.SyncInterval = time.Hour
	o.DisableAutoCompaction = true
	o.RetentionInterval = time.Hour
	db, err := Open("/db", o)
	require.NoError(t, err)
	ms, _ := NewSchema("messages", []Field{{Name: "channel", Type: String, Indexed: true}, {Name: "n", Type: Int64}})
	rs, _ := NewSchema("register", []Field{{Name: "channel", Type: String}, {Name: "count", Type: Int64}})
	msgs, err := db.EnsureTable("messages", ms)
	require.NoError(t, err)
	reg, err := db.EnsureTable("register", rs)
	require.NoError(t, err)
	return db, msgs, reg
}

// btSend commits one message of channel ch and the register row's count
// (row seq regSeq) in one batch.
func btSend(tb testing.TB, db *Database, regSeq, count int64) ([]int64, error) {
	return db.NewBatch().
		Insert("messages", map[string]any{"channel": "c", "n": count}).
		Update("register", regSeq, map[string]any{"count": count}).
		Commit()
}

// btCheckInvariant requires that the register's count equals the number of
// messages, and returns it.
func btCheckInvariant(t *testing.T, msgs, reg *Table, regSeq int64, what string) int64 {
	t.Helper()
	n, err := msgs.Query().Count()
	require.NoError(t, err, what)
	r, err := reg.Get(regSeq)
	require.NoError(t, err, what)
	c, _ := r.Get("count")
	require.EqualValues(t, n, c, "%s: messages and the register disagree", what)
	require.EqualValues(t, n, msgs.Stats().Rows, "%s: row counter", what)
	return int64(n)
}

func TestBatchCommitAcrossTables(t *testing.T) {
	fs := newMemFS()
	db, msgs, reg := btOpen(t, fs, DurabilityInterval)
	regSeq, err := reg.Insert(map[string]any{"channel": "c", "count": int64(0)})
	require.NoError(t, err)
	for i := int64(1); i <= 20; i++ {
		seqs, err := btSend(t, db, regSeq, i)
		require.NoError(t, err)
		require.Equal(t, []int64{i}, seqs)
		if i == 10 {
			require.NoError(t, msgs.Flush())
		}
	}
	btCheckInvariant(t, msgs, reg, regSeq, "after commits")

	// Several operations on one table in one batch, and a DeleteRange.
	seqs, err := db.NewBatch().
		Insert("messages", []map[string]any{{"channel": "d", "n": int64(100)}, {"channel": "d", "n": int64(101)}}).
		Delete("messages", 3).
		DeleteRange("messages", 5, 8).
		Update("register", regSeq, map[string]any{"count": int64(20 + 2 - 1 - 3)}).
		Commit()
	require.NoError(t, err)
	require.Equal(t, []int64{21, 22}, seqs)
	btCheckInvariant(t, msgs, reg, regSeq, "after a mixed batch")
	for _, s := range []int64{3, 5, 6, 7} {
		_, err := msgs.Get(s)
		require.ErrorIs(t, err, ErrNotFound)
	}

	// Reopen (the WALs replay the batch records) and crash (a clone).
	require.NoError(t, db.Close())
	db, msgs, reg = btOpen(t, fs, DurabilityInterval)
	btCheckInvariant(t, msgs, reg, regSeq, "after reopen")
	require.NoError(t, db.Check())
	_, err = btSend(t, db, regSeq, 19)
	require.NoError(t, err)
	crashed := fs.crashClone(nil, 0) // Commit fsyncs even in Interval mode
	require.NoError(t, db.Close())
	db, msgs, reg = btOpen(t, crashed, DurabilityInterval)
	require.EqualValues(t, 19, btCheckInvariant(t, msgs, reg, regSeq, "after a crash"))
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}

func TestBatchInvalidWritesNothing(t *testing.T) {
	db, msgs, reg := btOpen(t, newMemFS(), DurabilitySync)
	defer db.Close()
	regSeq, err := reg.Insert(map[string]any{"channel": "c", "count": int64(0)})
	require.NoError(t, err)
	before := msgs.Stats()
	cases := []struct {
		b    *Batch
		code int
		text string
	}{
		{db.NewBatch().Insert("messages", map[string]any{"channel": "c", "n": int64(1)}).Insert("nope", map[string]any{}), ErrorCode(ErrTableNotFound), `batch operation 2 (Insert)`},
		{db.NewBatch().Insert("messages", map[string]any{"channel": "c", "n": "x"}), CodeSchemaViolation, `batch operation 1 (Insert)`},
		{db.NewBatch().Insert("messages", map[string]any{"channel": "c", "n": int64(1)}).Update("register", 999, map[string]any{"count": int64(1)}), CodeNotFound, `batch operation 2 (Update)`},
		{db.NewBatch().Delete("register", regSeq).Update("register", regSeq, map[string]any{"count": int64(1)}), CodeNotFound, `deleted earlier in the batch`},
		{db.NewBatch().DeleteRange("messages", 5, 2), CodeInvalidArgument, `lo is above hi`},
		{db.NewBatch().Insert("messages", []map[string]any{}), CodeInvalidArgument, `empty slice`},
	}
	for i, c := range cases {
		_, err := c.b.Commit()
		require.Error(t, err, "case %d", i)
		require.Equal(t, c.code, ErrorCode(err), "case %d: %v", i, err)
		require.Contains(t, err.Error(), c.text, "case %d", i)
	}
	after := msgs.Stats()
	require.Equal(t, before.Rows, after.Rows)
	require.Equal(t, before.LastSeq, after.LastSeq, "a refused batch assigns no seq")
	r, err := reg.Get(regSeq)
	require.NoError(t, err)
	c, _ := r.Get("count")
	require.EqualValues(t, 0, c)
	b := db.NewBatch().Insert("messages", map[string]any{"channel": "c", "n": int64(1)})
	_, err = b.Commit()
	require.NoError(t, err)
	_, err = b.Commit()
	require.Error(t, err, "a batch commits once")
	var nilBatch *Batch
	_, err = nilBatch.Insert("messages", nil).Commit()
	require.Error(t, err)
}

// TestBatchCrashAtEachStep crashes a two-table commit at each of its kill
// points (a memFS crash image keeping none, all, or a random half of the
// unsynced writes) and requires that the reopened database holds the batch
// in both tables or in neither, and every batch acknowledged before.
func TestBatchCrashAtEachStep(t *testing.T) {
	for _, point := range []string{"batch.after_append", "batch.after_first_sync"} {
		for _, keep := range []float64{0, 0.5, 1} {
			for seed := uint64(1); seed <= 4; seed++ {
				name := fmt.Sprintf("%s/keep%.1f/%d", point, keep, seed)
				fs := newMemFS()
				db, _, reg := btOpen(t, fs, DurabilityInterval)
				regSeq, err := reg.Insert(map[string]any{"channel": "c", "count": int64(0)})
				require.NoError(t, err)
				for i := int64(1); i <= 5; i++ {
					_, err := btSend(t, db, regSeq, i)
					require.NoError(t, err)
				}
				var crashed *memFS
				rng := rand.New(rand.NewPCG(seed, 9))
				setKillPointHook(func(p string) error {
					if p == point && crashed == nil {
						crashed = fs.crashClone(rng, keep)
						return errors.New("crash here")
					}
					return nil
				})
				_, err = btSend(t, db, regSeq, 6)
				setKillPointHook(nil)
				require.Error(t, err, name)
				require.NotNil(t, crashed, name)
				db.Close()
				db, msgs, reg := btOpen(t, crashed, DurabilityInterval)
				n := btCheckInvariant(t, msgs, reg, regSeq, name)
				require.Contains(t, []int64{5, 6}, n, name)
				require.NoError(t, db.Check(), name)
				if point == "batch.after_first_sync" {
					require.EqualValues(t, 6, n, "%s: one table's copy survives: the batch is completed", name)
				}
				// The repaired database takes new batches.
				_, err = btSend(t, db, regSeq, n+1)
				require.NoError(t, err, name)
				btCheckInvariant(t, msgs, reg, regSeq, name+" then a commit")
				require.NoError(t, db.Close())
			}
		}
	}
}

// TestBatchConcurrent commits batches from several goroutines beside plain
// inserts (run under -race): the two tables always agree, ids and seqs
// stay consistent through a reopen.
func TestBatchConcurrent(t *testing.T) {
	fs := newMemFS()
	db, msgs, reg := btOpen(t, fs, DurabilitySync)
	var regs []int64
	for g := 0; g < 4; g++ {
		s, err := reg.Insert(map[string]any{"channel": fmt.Sprintf("g%d", g), "count": int64(0)})
		require.NoError(t, err)
		regs = append(regs, s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := int64(1); i <= 50; i++ {
				_, err := db.NewBatch().
					Insert("messages", map[string]any{"channel": fmt.Sprintf("g%d", g), "n": i}).
					Update("register", regs[g], map[string]any{"count": i}).
					Commit()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	check := func(what string) {
		for g := 0; g < 4; g++ {
			n, err := msgs.Query().Eq("channel", fmt.Sprintf("g%d", g)).Count()
			require.NoError(t, err)
			r, err := reg.Get(regs[g])
			require.NoError(t, err)
			c, _ := r.Get("count")
			require.EqualValues(t, n, c, "%s: group %d", what, g)
		}
	}
	check("after commits")
	require.NoError(t, db.Close())
	db, msgs, reg = btOpen(t, fs, DurabilitySync)
	defer db.Close()
	check("after reopen")
	require.EqualValues(t, 200, db.batchSeq.Load(), "batch ids recovered")
}

// TestBatchCrashDuringRepair crashes a commit after the first table's copy
// is durable, then crashes the Open that completes the batch right after
// it logged the repair: the next Open still finds the batch whole.
func TestBatchCrashDuringRepair(t *testing.T) {
	for _, keep := range []float64{0, 0.5, 1} {
		fs := newMemFS()
		db, _, reg := btOpen(t, fs, DurabilityInterval)
		regSeq, err := reg.Insert(map[string]any{"channel": "c", "count": int64(0)})
		require.NoError(t, err)
		_, err = btSend(t, db, regSeq, 1)
		require.NoError(t, err)
		var first *memFS
		setKillPointHook(func(p string) error {
			if p == "batch.after_first_sync" && first == nil {
				first = fs.crashClone(nil, 0)
				return errors.New("crash here")
			}
			return nil
		})
		_, err = btSend(t, db, regSeq, 2)
		require.Error(t, err)
		db.Close()
		var second *memFS
		rng := rand.New(rand.NewPCG(7, uint64(keep*10)))
		setKillPointHook(func(p string) error {
			if p == "batch.after_repair" && second == nil {
				second = first.crashClone(rng, keep)
				return errors.New("crash here")
			}
			return nil
		})
		o := DefaultOptions()
		o.FS = first
		_, err = Open("/db", o)
		setKillPointHook(nil)
		require.Error(t, err, "the repair's kill point fails the Open")
		require.NotNil(t, second)
		db, msgs, reg := btOpen(t, second, DurabilityInterval)
		require.EqualValues(t, 2, btCheckInvariant(t, msgs, reg, regSeq, fmt.Sprintf("keep %.1f", keep)))
		require.NoError(t, db.Check())
		require.NoError(t, db.Close())
	}
}
