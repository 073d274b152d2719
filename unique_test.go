package srdb

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// uqOpen opens a database on fs with table "msgs" (ch, id, body; id
// Nullable), created when missing, without a unique index.
func uqOpen(t *testing.T, fs FS) (*Database, *Table) {
	t.Helper()
	o := DefaultOptions()
	o.FS = fs
	o.Durability = DurabilityNone
	o.DisableAutoCompaction = true
	o.RetentionInterval = time.Hour
	db, err := Open("/db", o)
	require.NoError(t, err)
	s, err := NewSchema("msgs", []Field{
		{Name: "ch", Type: String},
		{Name: "id", Type: Int64, Nullable: true},
		{Name: "body", Type: String},
	})
	require.NoError(t, err)
	tbl, err := db.EnsureTable("msgs", s)
	require.NoError(t, err)
	return db, tbl
}

func uqRow(ch string, id any, body string) map[string]any {
	return map[string]any{"ch": ch, "id": id, "body": body}
}

// uqLive returns key "ch/id" → seqs of the live rows holding it.
func uqLive(t *testing.T, tbl *Table) map[string][]int64 {
	t.Helper()
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]int64{}
	for rows.Next() {
		r := rows.Row()
		ch, _ := r.Get("ch")
		id, _ := r.Get("id")
		k := fmt.Sprintf("%v/%v", ch, id)
		out[k] = append(out[k], r.Seq())
	}
	require.NoError(t, rows.Err())
	return out
}

func TestUniqueIndexRefusesDuplicates(t *testing.T) {
	fs := newMemFS()
	db, tbl := uqOpen(t, fs)
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))
	require.Equal(t, []string{"ch,id"}, tbl.Schema().UniqueIndexes())

	s1, err := tbl.Insert(uqRow("a", 1, "x"))
	require.NoError(t, err)
	_, err = tbl.Insert(uqRow("a", 1, "y"))
	require.ErrorIs(t, err, ErrDuplicateKey)
	require.Contains(t, err.Error(), fmt.Sprintf("_seq %d", s1))
	require.Contains(t, err.Error(), `ch="a", id=1`)
	require.Equal(t, CodeDuplicateKey, ErrorCode(err))
	_, err = tbl.Insert(uqRow("b", 1, "y")) // another channel: another key
	require.NoError(t, err)

	// A multi-row Insert with a duplicate inside, or against the table, is
	// refused whole.
	_, err = tbl.Insert([]map[string]any{uqRow("c", 1, ""), uqRow("c", 2, ""), uqRow("c", 1, "")})
	require.ErrorIs(t, err, ErrDuplicateKey)
	_, err = tbl.Insert([]map[string]any{uqRow("c", 3, ""), uqRow("a", 1, "")})
	require.ErrorIs(t, err, ErrDuplicateKey)
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	// NULL never conflicts.
	for range 3 {
		_, err = tbl.Insert(uqRow("a", nil, "null"))
		require.NoError(t, err)
	}

	// Update: onto a held key refused; keeping its own key fine.
	s3, err := tbl.Insert(uqRow("a", 3, ""))
	require.NoError(t, err)
	require.ErrorIs(t, tbl.Update(s3, map[string]any{"id": 1}), ErrDuplicateKey)
	require.NoError(t, tbl.Update(s3, map[string]any{"body": "same key"}))
	require.NoError(t, tbl.Update(s3, map[string]any{"id": 4}))
	_, err = tbl.Insert(uqRow("a", 3, "freed by the update"))
	require.NoError(t, err)

	// Delete and DeleteRange free keys; an SST holds them as well as the
	// memtable, and a reopen keeps the index unique.
	require.NoError(t, tbl.Delete(s1))
	s4, err := tbl.Insert(uqRow("a", 1, "again"))
	require.NoError(t, err)
	require.NoError(t, tbl.Flush())
	_, err = tbl.Insert(uqRow("a", 1, "dup of an SST row"))
	require.ErrorIs(t, err, ErrDuplicateKey)
	require.NoError(t, tbl.DeleteRange(s4, s4+1))
	_, err = tbl.Insert(uqRow("a", 1, "after DeleteRange"))
	require.NoError(t, err)
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())

	db, tbl = uqOpen(t, fs)
	defer db.Close()
	require.Equal(t, []string{"ch,id"}, tbl.Schema().UniqueIndexes())
	_, err = tbl.Insert(uqRow("a", 1, "after reopen"))
	require.ErrorIs(t, err, ErrDuplicateKey)
	require.NoError(t, db.Check())
	for k, seqs := range uqLive(t, tbl) {
		if !strings.HasSuffix(k, "<nil>") {
			require.Len(t, seqs, 1, "key %s", k)
		}
	}
}

func TestUniqueSingleFieldAndDeclared(t *testing.T) {
	o := DefaultOptions()
	o.FS = newMemFS()
	db, err := Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("users", []Field{{Name: "email", Type: String}, {Name: "name", Type: String}}, WithUniqueIndex("email"))
	require.NoError(t, err)
	require.Equal(t, []string{"email"}, s.UniqueIndexes())
	tbl, err := db.CreateTable("users", s)
	require.NoError(t, err)
	require.Equal(t, []string{"email"}, tbl.Indexes())
	_, err = tbl.Insert(map[string]any{"email": "a@x", "name": "A"})
	require.NoError(t, err)
	_, err = tbl.Insert(map[string]any{"email": "a@x", "name": "B"})
	require.ErrorIs(t, err, ErrDuplicateKey)

	_, err = NewSchema("u", []Field{{Name: "email", Type: String}}, WithUniqueIndex("nope"))
	require.ErrorIs(t, err, ErrInvalidSchema)

	// EnsureTable makes a declared unique index unique on an existing table.
	s0, _ := NewSchema("t2", []Field{{Name: "k", Type: Int64}})
	t2, err := db.EnsureTable("t2", s0)
	require.NoError(t, err)
	_, err = t2.Insert(map[string]any{"k": 1})
	require.NoError(t, err)
	s1, _ := NewSchema("t2", []Field{{Name: "k", Type: Int64}}, WithUniqueIndex("k"))
	t2, err = db.EnsureTable("t2", s1)
	require.NoError(t, err)
	require.Equal(t, []string{"k"}, t2.Schema().UniqueIndexes())
	_, err = t2.Insert(map[string]any{"k": 1})
	require.ErrorIs(t, err, ErrDuplicateKey)
}

func TestCreateUniqueIndexOverDuplicates(t *testing.T) {
	db, tbl := uqOpen(t, newMemFS())
	defer db.Close()
	a, err := tbl.Insert(uqRow("a", 1, ""))
	require.NoError(t, err)
	_, err = tbl.Insert(uqRow("a", 2, ""))
	require.NoError(t, err)
	b, err := tbl.Insert(uqRow("a", 1, ""))
	require.NoError(t, err)
	require.NoError(t, tbl.Flush())

	err = tbl.CreateUniqueIndex("ch", "id")
	require.ErrorIs(t, err, ErrDuplicateKey)
	require.Contains(t, err.Error(), fmt.Sprintf("rows _seq %d and _seq %d", a, b))
	require.Empty(t, tbl.Indexes(), "the index made for the call is dropped again")
	require.Empty(t, tbl.Schema().UniqueIndexes())

	// An index that existed stays, not unique.
	require.NoError(t, tbl.CreateIndex("ch", "id"))
	require.ErrorIs(t, tbl.CreateUniqueIndex("ch", "id"), ErrDuplicateKey)
	require.Equal(t, []string{"ch,id"}, tbl.Indexes())
	require.Empty(t, tbl.Schema().UniqueIndexes())

	// Once the duplicate is gone it succeeds; a second call is a no-op.
	require.NoError(t, tbl.Delete(b))
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))
	require.Equal(t, []string{"ch,id"}, tbl.Schema().UniqueIndexes())

	// DropIndex drops uniqueness with the index.
	require.NoError(t, tbl.DropIndex("ch", "id"))
	require.Empty(t, tbl.Schema().UniqueIndexes())
	_, err = tbl.Insert(uqRow("a", 1, ""))
	require.NoError(t, err)
}

// TestCreateUniqueIndexChecksWritesWhileVerifying: a write that lands
// while CreateUniqueIndex verifies the stored rows is checked already.
func TestCreateUniqueIndexChecksWritesWhileVerifying(t *testing.T) {
	db, tbl := uqOpen(t, newMemFS())
	defer db.Close()
	_, err := tbl.Insert(uqRow("a", 1, ""))
	require.NoError(t, err)
	var dupErr error
	setKillPointHook(func(name string) error {
		if name == "index_unique.after_pending" {
			_, dupErr = tbl.Insert(uqRow("a", 1, "during the verification"))
		}
		return nil
	})
	defer setKillPointHook(nil)
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))
	require.ErrorIs(t, dupErr, ErrDuplicateKey)
}

func TestUpsert(t *testing.T) {
	fs := newMemFS()
	db, tbl := uqOpen(t, fs)
	_, err := tbl.Upsert(uqRow("a", 1, "x"))
	require.ErrorIs(t, err, ErrInvalidQuery, "no unique index")
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))

	s1, err := tbl.Upsert(uqRow("a", 1, "first"))
	require.NoError(t, err)
	r1, err := tbl.Get(s1)
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond)
	s2, err := tbl.Upsert(uqRow("a", 1, "second"))
	require.NoError(t, err)
	require.Equal(t, s1, s2, "the same key updates the same row")
	r2, err := tbl.Get(s1)
	require.NoError(t, err)
	body, _ := r2.Get("body")
	require.Equal(t, "second", body)
	require.Equal(t, r1.Time(), r2.Time(), "the row keeps its _time")
	s3, err := tbl.Upsert(uqRow("a", 2, "other key"))
	require.NoError(t, err)
	require.NotEqual(t, s1, s3)
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	require.EqualValues(t, 2, tbl.Stats().Rows)

	// NULL: never matches, so always inserts.
	n1, err := tbl.Upsert(uqRow("a", nil, ""))
	require.NoError(t, err)
	n2, err := tbl.Upsert(uqRow("a", nil, ""))
	require.NoError(t, err)
	require.NotEqual(t, n1, n2)

	// A deleted row holds no key; after a flush the key is found in an SST.
	require.NoError(t, tbl.Delete(s3))
	s4, err := tbl.Upsert(uqRow("a", 2, "new row"))
	require.NoError(t, err)
	require.NotEqual(t, s3, s4)
	require.NoError(t, tbl.Flush())
	s5, err := tbl.Upsert(uqRow("a", 2, "updated from the SST"))
	require.NoError(t, err)
	require.Equal(t, s4, s5)

	_, err = tbl.Upsert([]map[string]any{uqRow("a", 7, ""), uqRow("a", 8, "")})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = tbl.Upsert(map[string]any{"ch": "a", "id": 9}) // body missing
	require.ErrorIs(t, err, ErrSchemaViolation)

	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
	db, tbl = uqOpen(t, fs)
	defer db.Close()
	r, err := tbl.Get(s5)
	require.NoError(t, err)
	body, _ = r.Get("body")
	require.Equal(t, "updated from the SST", body, "the upsert survives a reopen (WAL replay)")

	// Two unique indexes: Upsert cannot tell which key to go by.
	require.NoError(t, tbl.CreateUniqueIndex("id"))
	_, err = tbl.Upsert(uqRow("z", 1, "zz"))
	require.ErrorIs(t, err, ErrInvalidQuery)
}

// TestUpsertConcurrent: 8 goroutines upsert overlapping keys; exactly one
// row per key remains and it holds one of the written values.
func TestUpsertConcurrent(t *testing.T) {
	db, tbl := uqOpen(t, newMemFS())
	defer db.Close()
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))
	const keys, perG, gs = 50, 300, 8
	var wg sync.WaitGroup
	var fails atomic.Int64
	for g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range perG {
				k := rng.IntN(keys)
				if _, err := tbl.Upsert(uqRow("c", k, fmt.Sprintf("g%d-%d", g, i))); err != nil {
					fails.Add(1)
				}
				if i%97 == 0 {
					_ = tbl.Flush()
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, fails.Load())
	live := uqLive(t, tbl)
	require.Len(t, live, keys)
	for k, seqs := range live {
		require.Len(t, seqs, 1, "key %s", k)
	}
	require.NoError(t, db.Check())
}

func TestBatchUniqueAndUpsert(t *testing.T) {
	db, tbl := uqOpen(t, newMemFS())
	defer db.Close()
	require.NoError(t, tbl.CreateUniqueIndex("ch", "id"))
	a, err := tbl.Insert(uqRow("a", 1, "table row"))
	require.NoError(t, err)

	// A duplicate against the table refuses the whole batch.
	_, err = db.NewBatch().Insert("msgs", uqRow("b", 1, "")).Insert("msgs", uqRow("a", 1, "")).Commit()
	require.ErrorIs(t, err, ErrDuplicateKey)
	require.Contains(t, err.Error(), "batch operation 2 (Insert)")
	// ... and inside the batch.
	_, err = db.NewBatch().Insert("msgs", uqRow("b", 1, "")).Update("msgs", a, map[string]any{"ch": "b"}).Commit()
	require.ErrorIs(t, err, ErrDuplicateKey)
	n, _ := tbl.Query().Count()
	require.EqualValues(t, 1, n, "nothing of a refused batch is written")

	// Keys freed earlier in the batch can be taken: move a to (a,2), insert
	// a new (a,1); delete and re-insert.
	seqs, err := db.NewBatch().
		Update("msgs", a, map[string]any{"id": 2}).
		Insert("msgs", uqRow("a", 1, "new")).
		Commit()
	require.NoError(t, err)
	b := seqs[0]
	seqs, err = db.NewBatch().Delete("msgs", b).Insert("msgs", uqRow("a", 1, "newer")).Commit()
	require.NoError(t, err)
	c := seqs[0]

	// Upsert: of a table row (same seq), of a row the batch inserted (merged
	// into its insert), and of a new key.
	seqs, err = db.NewBatch().
		Upsert("msgs", uqRow("a", 2, "upserted table row")).
		Insert("msgs", uqRow("x", 9, "inserted")).
		Upsert("msgs", uqRow("x", 9, "upserted in batch")).
		Upsert("msgs", uqRow("y", 1, "new key")).
		Commit()
	require.NoError(t, err)
	require.Equal(t, a, seqs[0])
	require.Equal(t, seqs[1], seqs[2], "the upsert replaced the row the batch inserted")
	require.Len(t, seqs, 4)
	get := func(seq int64) string {
		r, err := tbl.Get(seq)
		require.NoError(t, err)
		v, _ := r.Get("body")
		return v.(string)
	}
	require.Equal(t, "upserted table row", get(a))
	require.Equal(t, "upserted in batch", get(seqs[1]))
	require.Equal(t, "new key", get(seqs[3]))
	require.Equal(t, "newer", get(c))
	live := uqLive(t, tbl)
	require.Len(t, live, 4)
	for k, s := range live {
		require.Len(t, s, 1, k)
	}
	require.EqualValues(t, 4, tbl.Stats().Rows)
	require.NoError(t, db.Check())
}

// TestCheckFindsDuplicateKeys: a table whose schema says unique while two
// live rows share a key (written here behind the engine's back) fails
// Check, naming the index and both seqs.
func TestCheckFindsDuplicateKeys(t *testing.T) {
	db, tbl := uqOpen(t, newMemFS())
	defer db.Close()
	a, err := tbl.Insert(uqRow("a", 1, ""))
	require.NoError(t, err)
	b, err := tbl.Insert(uqRow("a", 1, ""))
	require.NoError(t, err)
	require.NoError(t, tbl.CreateIndex("ch", "id"))
	s2, err := tbl.Schema().withUnique("ch,id")
	require.NoError(t, err)
	end, err := tbl.beginDDL()
	require.NoError(t, err)
	require.NoError(t, tbl.writeSchemaLocked(s2, "test"))
	end()
	err = db.Check()
	require.ErrorIs(t, err, ErrCorrupted)
	require.Contains(t, err.Error(), fmt.Sprintf("rows _seq %d and _seq %d", a, b))
	require.Contains(t, err.Error(), `unique index "ch,id"`)
}

// TestCreateUniqueIndexCrashAtEveryKillPoint stops CreateUniqueIndex at
// each step, takes the state a crash would leave, reopens: the table is
// either unique or not (never half), Check is clean, and a new call
// completes.
func TestCreateUniqueIndexCrashAtEveryKillPoint(t *testing.T) {
	base := newMemFS()
	db, tbl := uqOpen(t, base)
	for i := range 200 {
		_, err := tbl.Insert(uqRow(fmt.Sprintf("c%d", i%7), i, "x"))
		require.NoError(t, err)
		if i == 120 {
			require.NoError(t, tbl.Flush())
		}
	}
	require.NoError(t, db.Close())
	base.syncAll()
	for _, point := range []string{
		"index_build.after_marker", "index_build.after_done",
		"index_unique.after_pending", "index_unique.after_verify",
		"index_unique.schema.after_tmp_sync", "index_unique.schema.after_rename",
		"index_unique.after_schema",
	} {
		for _, keep := range []float64{0, 1} {
			t.Run(fmt.Sprintf("%s/keep=%v", point, keep), func(t *testing.T) {
				fs := base.crashClone(nil, 1)
				db, tbl := uqOpen(t, fs)
				var hits atomic.Int32
				setKillPointHook(func(name string) error {
					if name == point && hits.Add(1) == 1 {
						return errIdxInjected
					}
					return nil
				})
				err := tbl.CreateUniqueIndex("ch", "id")
				setKillPointHook(nil)
				require.Positive(t, hits.Load(), "kill point %s not reached", point)
				require.Error(t, err)
				crashed := fs.crashClone(rand.New(rand.NewPCG(3, 4)), keep)
				_ = db.Close()

				db2, tbl2 := uqOpen(t, crashed)
				defer func() { require.NoError(t, db2.Close()) }()
				require.NoError(t, tbl2.waitIndexBuilds())
				require.NoError(t, db2.Check())
				n, err := tbl2.Query().Count()
				require.NoError(t, err)
				require.EqualValues(t, 200, n)
				require.NoError(t, tbl2.CreateUniqueIndex("ch", "id"))
				_, err = tbl2.Insert(uqRow("c0", 0, "dup"))
				require.ErrorIs(t, err, ErrDuplicateKey)
				require.NoError(t, db2.Check())
			})
		}
	}
}
