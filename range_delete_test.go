package srdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rdFields is the schema of the range-delete tests: an indexed channel and
// a value.
func rdFields() []Field {
	return []Field{
		{Name: "ch", Type: String, Indexed: true},
		{Name: "n", Type: Int64},
	}
}

// rdOpen opens (or creates) table "r" on fs.
func rdOpen(t *testing.T, fs FS, tweak ...func(*Options)) (*Database, *Table) {
	t.Helper()
	o := DefaultOptions()
	o.FS = fs
	o.Durability = DurabilitySync
	o.DisableAutoCompaction = true
	o.RetentionInterval = time.Hour // tests enforce retention explicitly
	for _, f := range tweak {
		f(o)
	}
	db, err := Open("/db", o)
	require.NoError(t, err)
	tbl, err := db.Table("r")
	if errors.Is(err, ErrTableNotFound) {
		s, serr := NewSchema("r", rdFields())
		require.NoError(t, serr)
		tbl, err = db.CreateTable("r", s)
	}
	require.NoError(t, err)
	return db, tbl
}

// rdInsert inserts n rows (channel "c<i%3>", n = i) and returns the first seq.
func rdInsert(t *testing.T, tbl *Table, from, n int) int64 {
	t.Helper()
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{"ch": fmt.Sprintf("c%d", (from+i)%3), "n": int64(from + i)}
	}
	first, err := tbl.Insert(rows)
	require.NoError(t, err)
	return first
}

// rdModel is the set of seqs a test expects to be live.
type rdModel map[int64]bool

// rdCheck compares every read path with the model: Get of every seq up to
// the last one, forward and backward scans, Count, an index query per
// channel and a _seq range query.
func rdCheck(t *testing.T, tbl *Table, live rdModel, what string) {
	t.Helper()
	last := tbl.Stats().LastSeq
	for seq := int64(1); seq <= last; seq++ {
		_, err := tbl.Get(seq)
		if live[seq] {
			require.NoError(t, err, "%s: Get(%d)", what, seq)
		} else {
			require.ErrorIs(t, err, ErrNotFound, "%s: Get(%d) of a deleted row", what, seq)
		}
	}
	var want []int64
	for seq := int64(1); seq <= last; seq++ {
		if live[seq] {
			want = append(want, seq)
		}
	}
	scan := func(q *Query) []int64 {
		rows, err := q.Rows()
		require.NoError(t, err)
		defer rows.Close()
		var got []int64
		for rows.Next() {
			got = append(got, rows.Row().Seq())
		}
		require.NoError(t, rows.Err())
		return got
	}
	require.Equal(t, want, scan(tbl.Query()), "%s: forward scan", what)
	back := scan(tbl.Query().OrderByDesc("_seq"))
	require.Len(t, back, len(want), "%s: backward scan", what)
	for i := range back {
		require.Equal(t, want[len(want)-1-i], back[i], "%s: backward scan", what)
	}
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	require.Equal(t, len(want), n, "%s: Count", what)
	require.EqualValues(t, len(want), tbl.Stats().Rows, "%s: Stats().Rows", what)
	total := 0
	for c := 0; c < 3; c++ {
		got := scan(tbl.Query().Eq("ch", fmt.Sprintf("c%d", c)))
		for _, s := range got {
			require.True(t, live[s], "%s: index query of c%d returned deleted seq %d", what, c, s)
		}
		total += len(got)
		cnt, err := tbl.Query().Eq("ch", fmt.Sprintf("c%d", c)).Count()
		require.NoError(t, err)
		require.Equal(t, len(got), cnt, "%s: index Count of c%d", what, c)
	}
	require.Equal(t, len(want), total, "%s: index queries", what)
	if len(want) > 0 {
		mid := want[len(want)/2]
		got := scan(tbl.Query().Gte("_seq", mid))
		require.Equal(t, want[len(want)/2:], got, "%s: _seq range", what)
	}
}

func TestDeleteRangeHidesRowsEverywhere(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	live := rdModel{}
	// Rows in an L1 file, in L0 files and in the memtable.
	for b := 0; b < 4; b++ {
		first := rdInsert(t, tbl, b*50, 50)
		for i := int64(0); i < 50; i++ {
			live[first+i] = true
		}
		require.NoError(t, tbl.Flush())
		if b == 0 {
			require.NoError(t, tbl.Compact())
		}
	}
	first := rdInsert(t, tbl, 200, 50)
	for i := int64(0); i < 50; i++ {
		live[first+i] = true
	}
	require.NoError(t, tbl.Delete(30)) // a point tombstone inside the range
	delete(live, 30)

	// A range across the L1 file, two L0 files and the memtable.
	require.NoError(t, tbl.DeleteRange(20, 230))
	for s := int64(20); s < 230; s++ {
		delete(live, s)
	}
	rdCheck(t, tbl, live, "after DeleteRange")

	// Hidden rows cannot be updated or deleted again.
	require.ErrorIs(t, tbl.Update(100, map[string]any{"n": int64(1)}), ErrNotFound)
	require.ErrorIs(t, tbl.Delete(100), ErrNotFound)

	// A range reaching past the last seq covers only the rows that exist.
	require.NoError(t, tbl.DeleteRange(245, 1_000_000))
	for s := int64(245); s <= 250; s++ {
		delete(live, s)
	}
	first = rdInsert(t, tbl, 300, 10)
	require.EqualValues(t, 251, first, "seqs are never reused")
	for i := int64(0); i < 10; i++ {
		live[first+i] = true
	}
	rdCheck(t, tbl, live, "after inserts past a range")

	// Empty, inverted and out-of-range arguments.
	require.NoError(t, tbl.DeleteRange(5, 5))
	require.NoError(t, tbl.DeleteRange(-10, 1))
	require.Equal(t, CodeInvalidArgument, ErrorCode(tbl.DeleteRange(9, 3)))

	// Through a flush, a full compaction, and a reopen.
	require.NoError(t, tbl.Flush())
	rdCheck(t, tbl, live, "after Flush")
	require.NoError(t, tbl.Compact())
	rdCheck(t, tbl, live, "after Compact")
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
	db, tbl = rdOpen(t, fs)
	rdCheck(t, tbl, live, "after reopen")
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}

func TestDeleteRangeReplayedFromWAL(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	live := rdModel{}
	first := rdInsert(t, tbl, 0, 40)
	require.NoError(t, tbl.Flush())
	rdInsert(t, tbl, 40, 40)
	for i := int64(0); i < 80; i++ {
		live[first+i] = true
	}
	require.NoError(t, tbl.DeleteRange(10, 60))
	for s := int64(10); s < 60; s++ {
		delete(live, s)
	}
	// A crash: the WAL holds the range tombstone, nothing flushed it.
	crashed := fs.crashClone(nil, 0)
	require.NoError(t, db.Close())
	db, tbl = rdOpen(t, crashed)
	rdCheck(t, tbl, live, "after crash and replay")
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}

func TestDeleteRangeDropsWholeFiles(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	defer db.Close()
	for b := 0; b < 4; b++ {
		rdInsert(t, tbl, b*100, 100)
		require.NoError(t, tbl.Flush())
	}
	before := tbl.Stats()
	// Files hold seqs 1-100, 101-200, 201-300, 301-400: [1, 251) drops two
	// whole and leaves the third partly covered.
	require.NoError(t, tbl.DeleteRange(1, 251))
	after := tbl.Stats()
	require.Equal(t, countFiles(before)-2, countFiles(after), "two SSTs dropped without a compaction")
	require.EqualValues(t, 2, tbl.stats.filesDropped.Load())
	require.Positive(t, tbl.stats.bytesDropped.Load())
	require.EqualValues(t, 150, after.Rows)
	// The dropped files are gone from the directory.
	names, err := fs.List("/db/tables/r")
	require.NoError(t, err)
	ssts := 0
	for _, n := range names {
		if typ, _, ok := parseFilename(n); ok && typ == fileTypeSST {
			ssts++
		}
	}
	require.Equal(t, countFiles(after), ssts)
	// The partly covered file loses its hidden rows at compaction, and the
	// tombstone leaves the version once no SST can hold a row it hides.
	require.NoError(t, tbl.Compact())
	v := tbl.vs.current()
	dels := v.dels
	v.unref()
	require.Empty(t, dels, "range tombstone kept after every row it hid was dropped")
	live := rdModel{}
	for s := int64(251); s <= 400; s++ {
		live[s] = true
	}
	rdCheck(t, tbl, live, "after Compact")
	require.NoError(t, db.Check())
}

// countFiles returns the number of SSTs in s.
func countFiles(s TableStats) int {
	n := 0
	for _, l := range s.Levels {
		n += len(l.Files)
	}
	return n
}

func TestDeleteBefore(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	live := rdModel{}
	insertAt := func(i int, at time.Time) int64 {
		seq, err := tbl.Insert(map[string]any{"ch": fmt.Sprintf("c%d", i%3), "n": int64(i), "_time": at})
		require.NoError(t, err)
		live[seq] = true
		return seq
	}
	// 10 days of rows, one file per day, a few out of time order.
	var late int64
	for day := 0; day < 10; day++ {
		for i := 0; i < 20; i++ {
			insertAt(day*20+i, base.Add(time.Duration(day)*24*time.Hour+time.Duration(i)*time.Minute))
		}
		if day == 6 {
			late = insertAt(999, base.Add(time.Hour)) // day 0's time, inserted on day 6
		}
		require.NoError(t, tbl.Flush())
	}
	cutoff := base.Add(5 * 24 * time.Hour)
	require.NoError(t, tbl.DeleteBefore(cutoff))
	for s := int64(1); s <= 100; s++ {
		delete(live, s)
	}
	delete(live, late)
	rdCheck(t, tbl, live, "after DeleteBefore")
	require.EqualValues(t, 5, tbl.stats.filesDropped.Load(), "the five whole days went without a compaction")

	// A row inserted after the call with an old _time stays.
	old := insertAt(1000, base)
	rdCheck(t, tbl, live, "after inserting an old row")
	require.True(t, live[old])
	require.NoError(t, tbl.Compact())
	rdCheck(t, tbl, live, "after Compact")
	require.NoError(t, db.Close())
	db, tbl = rdOpen(t, fs)
	rdCheck(t, tbl, live, "after reopen")
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}

func TestQueryDelete(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	live := rdModel{}
	first := rdInsert(t, tbl, 0, 300)
	for i := int64(0); i < 300; i++ {
		live[first+i] = true
	}
	require.NoError(t, tbl.Flush())
	rdInsert(t, tbl, 300, 30)
	for i := int64(300); i < 330; i++ {
		live[first+i] = true
	}
	// The oldest 10 rows of channel c1.
	n, err := tbl.Query().Eq("ch", "c1").OrderBy("_seq").Limit(10).Delete()
	require.NoError(t, err)
	require.Equal(t, 10, n)
	deleted := 0
	for s := int64(1); deleted < 10; s++ {
		if (s-1)%3 == 1 {
			delete(live, s)
			deleted++
		}
	}
	rdCheck(t, tbl, live, "after deleting the oldest 10 of c1")

	// Every row of c2 (index path), then a filter on a non-indexed field.
	n, err = tbl.Query().Eq("ch", "c2").Delete()
	require.NoError(t, err)
	require.Equal(t, 110, n)
	for s := range live {
		if (s-1)%3 == 2 {
			delete(live, s)
		}
	}
	n, err = tbl.Query().Gte("n", int64(320)).Delete()
	require.NoError(t, err)
	for s := range live {
		if s-1 >= 320 {
			delete(live, s)
		}
	}
	require.Equal(t, 6, n) // 320..329 without c2's four
	rdCheck(t, tbl, live, "after Query.Delete")
	n, err = tbl.Query().Eq("ch", "c2").Delete()
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to delete")

	crashed := fs.crashClone(nil, 0)
	require.NoError(t, db.Close())
	db, tbl = rdOpen(t, crashed)
	rdCheck(t, tbl, live, "after crash and replay")
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}

func TestTableOptionsMaxAge(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	now := time.Now()
	live := rdModel{}
	// Five "days" of rows (one SST each), the newest being now.
	for day := 4; day >= 0; day-- {
		for i := 0; i < 10; i++ {
			seq, err := tbl.Insert(map[string]any{"ch": fmt.Sprintf("c%d", i%3), "n": int64(i),
				"_time": now.Add(-time.Duration(day)*24*time.Hour - time.Duration(i)*time.Minute)})
			require.NoError(t, err)
			if day < 2 {
				live[seq] = true
			}
		}
		require.NoError(t, tbl.Flush())
	}
	require.Equal(t, TableOptions{}, tbl.Options())
	opts := TableOptions{MaxAge: 36 * time.Hour}
	require.NoError(t, tbl.SetOptions(opts))
	require.Equal(t, opts, tbl.Options())
	// Reads hide expired rows at once, before anything is enforced; the
	// counters follow once retention runs.
	_, err := tbl.Get(1)
	require.ErrorIs(t, err, ErrNotFound)
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	require.Equal(t, len(live), n, "Count before enforcement")
	require.NoError(t, tbl.enforceRetention())
	require.EqualValues(t, 3, tbl.stats.filesDropped.Load(), "three whole days of expired rows dropped")
	rdCheck(t, tbl, live, "after MaxAge enforcement")
	require.NoError(t, db.Check())

	// Durable: the options survive a crash, and so does the enforcement.
	crashed := fs.crashClone(nil, 0)
	require.NoError(t, db.Close())
	db, tbl = rdOpen(t, crashed)
	require.Equal(t, opts, tbl.Options())
	rdCheck(t, tbl, live, "after crash")
	require.NoError(t, db.Check())

	// Clearing the options.
	require.NoError(t, tbl.SetOptions(TableOptions{}))
	require.NoError(t, db.Close())
	db, tbl = rdOpen(t, crashed)
	require.Equal(t, TableOptions{}, tbl.Options())
	require.Equal(t, CodeInvalidArgument, ErrorCode(tbl.SetOptions(TableOptions{MaxAge: -1})))
	require.Equal(t, CodeInvalidArgument, ErrorCode(tbl.SetOptions(TableOptions{MaxBytes: -1})))
	require.NoError(t, db.Close())
}

func TestTableOptionsMaxAgeBackground(t *testing.T) {
	db, tbl := rdOpen(t, newMemFS(), func(o *Options) { o.RetentionInterval = 5 * time.Millisecond })
	defer db.Close()
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 20; i++ {
		_, err := tbl.Insert(map[string]any{"ch": "a", "n": int64(i), "_time": old})
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	rdInsert(t, tbl, 0, 5)
	require.NoError(t, tbl.SetOptions(TableOptions{MaxAge: time.Minute}))
	require.Eventually(t, func() bool { return tbl.Stats().Rows == 5 && tbl.stats.filesDropped.Load() == 1 },
		5*time.Second, 5*time.Millisecond, "the retention loop enforces MaxAge")
}

func TestTableOptionsMaxBytes(t *testing.T) {
	fs := newMemFS()
	db, tbl := rdOpen(t, fs)
	defer db.Close()
	for b := 0; b < 6; b++ {
		rdInsert(t, tbl, b*200, 200)
		require.NoError(t, tbl.Flush())
	}
	st := tbl.Stats()
	require.Len(t, st.Levels[0].Files, 6)
	perFile := st.DiskBytes / 6
	require.NoError(t, tbl.SetOptions(TableOptions{MaxBytes: 3*perFile + perFile/2}))
	require.NoError(t, tbl.enforceRetention())
	st = tbl.Stats()
	require.Len(t, st.Levels[0].Files, 4, "the two oldest files dropped whole, the third cut")
	// The rows left are a suffix of the seqs that starts inside the third
	// file (2.5 files of bytes had to go); compaction then rewrites that
	// file without the rest.
	first, err := tbl.Query().First()
	require.NoError(t, err)
	require.Greater(t, first.Seq(), int64(401))
	require.Less(t, first.Seq(), int64(601))
	live := rdModel{}
	for s := first.Seq(); s <= 1200; s++ {
		live[s] = true
	}
	rdCheck(t, tbl, live, "after MaxBytes")
	// Compaction rewrites the cut file; the estimate of the cut is by seq
	// share, so a later round may cut a little more until the bound holds.
	for round := 0; round < 3 && tbl.Stats().DiskBytes > 3*perFile+perFile/2; round++ {
		require.NoError(t, tbl.Compact())
		require.NoError(t, tbl.enforceRetention())
	}
	require.NoError(t, tbl.Compact())
	require.LessOrEqual(t, tbl.Stats().DiskBytes, 3*perFile+perFile/2)
	first, err = tbl.Query().First()
	require.NoError(t, err)
	live = rdModel{}
	for s := first.Seq(); s <= 1200; s++ {
		live[s] = true
	}
	require.Greater(t, len(live), 600, "no more than the excess was deleted")
	rdCheck(t, tbl, live, "after MaxBytes and Compact")
	require.NoError(t, db.Check())
}

// TestRetentionHoldsMaxAge ingests 30 simulated days (a test clock) into a
// table with MaxAge = 3 days, enforcing retention every simulated hour with
// background compaction on, and measures the span of _time the SSTs hold:
// it must stay within 3.5 days (whole files expire and are dropped; the
// compaction outputs are cut into MaxAge/8 time slices so that they do).
func TestRetentionHoldsMaxAge(t *testing.T) {
	const (
		perHour = 100
		days    = 30
		maxAge  = 3 * 24 * time.Hour
	)
	dir := t.TempDir()
	o := DefaultOptions()
	o.MemTableSize, o.Durability, o.RetentionInterval = 96<<10, DurabilityNone, time.Hour
	db, err := Open(dir, o)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("r", rdFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("r", s)
	require.NoError(t, err)
	// The clock is read by the table's retention goroutine too.
	var nowNanos atomic.Int64
	nowNanos.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, nowNanos.Load()).UTC() }
	tbl.clock.Store(&clock)
	require.NoError(t, tbl.SetOptions(TableOptions{MaxAge: maxAge}))
	rng := rand.New(rand.NewPCG(1, 2))
	worst := time.Duration(0)
	var rows []map[string]any
	for h := 0; h < days*24; h++ {
		rows = rows[:0]
		now := clock()
		for i := 0; i < perHour; i++ {
			at := now.Add(time.Duration(i) * time.Hour / perHour)
			if rng.IntN(50) == 0 { // a straggler, up to 20 minutes late
				at = at.Add(-time.Duration(rng.IntN(20)) * time.Minute)
			}
			rows = append(rows, map[string]any{"ch": fmt.Sprintf("channel-%d", i%10), "n": int64(h*perHour + i), "_time": at})
		}
		_, err := tbl.Insert(rows)
		require.NoError(t, err)
		now = now.Add(time.Hour)
		nowNanos.Store(now.UnixNano())
		require.NoError(t, tbl.enforceRetention())
		tbl.maybeScheduleCompaction()
		tbl.waitForCompactions()
		if h < 4*24 {
			continue
		}
		v := tbl.vs.current()
		oldest := int64(math.MaxInt64)
		for _, level := range v.levels {
			for _, f := range level {
				if f.hasTime {
					oldest = min(oldest, f.minTime)
				}
			}
		}
		v.unref()
		if oldest != math.MaxInt64 {
			worst = max(worst, now.Sub(time.Unix(0, oldest)))
		}
	}
	// Reads never return an expired row, whatever the files hold.
	now := clock()
	first, err := tbl.Query().OrderBy("_time").First()
	require.NoError(t, err)
	require.False(t, first.Time().Before(now.Add(-maxAge)), "expired row returned")
	st := tbl.Stats()
	t.Logf("MaxAge 3 days, %d rows per simulated hour for %d days: SSTs held at most %.2f days of data; now %d rows, %d SSTs, %d dropped whole (%d bytes); compactions wrote %d bytes (flushes %d)",
		perHour, days, worst.Hours()/24, st.Rows, countFiles(st), st.DroppedFiles, st.DroppedBytes, st.Compaction.BytesWritten, st.FlushedBytes)
	require.LessOrEqual(t, worst, maxAge+maxAge/6, "disk span of data beyond 3.5 days")
}

// TestCompactionCutsOutputsByTimeSlice: with MaxAge set, a compaction cuts
// its outputs at MaxAge/8 time slices, so that each file expires whole.
func TestCompactionCutsOutputsByTimeSlice(t *testing.T) {
	db, tbl := rdOpen(t, newMemFS())
	defer db.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(4 * 24 * time.Hour)
	clock := func() time.Time { return now }
	tbl.clock.Store(&clock)
	require.NoError(t, tbl.SetOptions(TableOptions{MaxAge: 8 * 24 * time.Hour})) // slices of one day
	for h := 0; h < 72; h++ {
		_, err := tbl.Insert(map[string]any{"ch": "c", "n": int64(h), "_time": base.Add(time.Duration(h) * time.Hour)})
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Compact())
	st := tbl.Stats()
	require.Len(t, st.Levels[1].Files, 3, "one output per day")
	for _, f := range st.Levels[1].Files {
		day := time.Duration(24 * time.Hour).Nanoseconds()
		require.Equal(t, f.MinTime/day, f.MaxTime/day, "file %d spans two slices", f.Num)
	}
}

// TestRangeDeleteConcurrent runs inserters, a deleter (DeleteRange of
// everything up to a seq it read, then Query.Delete of a channel) and
// readers together (run it under -race): once a delete returned, no read
// that starts afterwards returns a row it deleted, and rows inserted after
// it stay.
func TestRangeDeleteConcurrent(t *testing.T) {
	db, tbl := rdOpen(t, newMemFS(), func(o *Options) { o.MemTableSize = 64 << 10; o.DisableAutoCompaction = false })
	defer db.Close()
	var deletedBelow atomic.Int64 // every seq below it was deleted by a returned DeleteRange
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := tbl.Insert([]map[string]any{{"ch": fmt.Sprintf("c%d", i%3), "n": int64(i)}}); err != nil {
					report(err)
					return
				}
			}
		}(w)
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				below := deletedBelow.Load()
				rows, err := tbl.Query().Lt("_seq", below).Rows()
				if err != nil {
					report(err)
					return
				}
				for rows.Next() {
					report(fmt.Errorf("seq %d returned after a DeleteRange below %d returned", rows.Row().Seq(), below))
				}
				rows.Close()
				if n, err := tbl.Query().Eq("ch", "c1").Lt("_seq", below).Count(); err != nil || n != 0 {
					report(fmt.Errorf("index count below %d: %d, %v", below, n, err))
				}
			}
		}()
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		last, err := tbl.Query().Last()
		if err != nil {
			continue
		}
		hi := last.Seq() + 1
		require.NoError(t, tbl.DeleteRange(1, hi))
		deletedBelow.Store(hi)
		_, err = tbl.Query().Eq("ch", "c2").Delete()
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	got := 0
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	for rows.Next() {
		got++
	}
	require.NoError(t, rows.Close())
	require.Equal(t, got, n, "Count equals the scan")
	require.NoError(t, db.Check())
}

// TestTailSkipsRowsDeletedAfterReadAhead: a Tail reads rows ahead; a
// DeleteRange, Query.Delete or MaxAge expiry after that read must still keep
// the rows from being delivered.
func TestTailSkipsRowsDeletedAfterReadAhead(t *testing.T) {
	db, tbl := rdOpen(t, newMemFS())
	defer db.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(time.Hour)
	clock := func() time.Time { return now }
	tbl.clock.Store(&clock)
	for i := 0; i < 100; i++ {
		_, err := tbl.Insert(map[string]any{"ch": fmt.Sprintf("c%d", i%3), "n": int64(i), "_time": base.Add(time.Duration(i) * time.Second)})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows, err := tbl.Tail(ctx, 1)
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	require.EqualValues(t, 1, rows.Row().Seq()) // the rest is read ahead
	require.NoError(t, tbl.DeleteRange(10, 50))
	_, err = tbl.Query().Eq("ch", "c2").Gte("_seq", int64(50)).Delete()
	require.NoError(t, err)
	require.NoError(t, tbl.SetOptions(TableOptions{MaxAge: time.Hour - 95*time.Second})) // rows 1..95 by time
	var got []int64
	for len(got) < 3 && rows.Next() {
		got = append(got, rows.Row().Seq())
	}
	require.Equal(t, []int64{97, 98, 100}, got[:3], "rows 2..95 expired or deleted by the range, 96 and 99 by Query.Delete (c2)")
}
