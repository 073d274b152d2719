package srdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Helpers: a small schema, an in-memory model and a full comparison.

// compactionFields is the schema of the compaction tests: k is the insert
// number, ver the version tag an Update changes.
func compactionFields() []Field {
	return []Field{
		{Name: "k", Type: Int64},
		{Name: "ver", Type: String},
		{Name: "payload", Type: Bytes},
	}
}

const (
	compactionFieldK   = 0
	compactionFieldVer = 1
)

func compactionRow(k int64) map[string]any {
	return map[string]any{
		"k":       k,
		"ver":     fmt.Sprintf("k%d-v0", k),
		"payload": bytes.Repeat([]byte{byte(k)}, 48+int(k%32)),
	}
}

// compactionModel is what the table must hold: seq → ver of its newest
// version; deleted seqs are absent.
type compactionModel struct {
	rows    map[int64]string
	deleted []int64
	maxSeq  int64
	nextK   int64
}

func newCompactionModel() *compactionModel {
	return &compactionModel{rows: map[int64]string{}}
}

// insert adds n rows in batches of batch.
func (m *compactionModel) insert(t testing.TB, tbl *Table, n, batch int) {
	t.Helper()
	for done := 0; done < n; done += batch {
		b := make([]map[string]any, min(batch, n-done))
		for i := range b {
			m.nextK++
			b[i] = compactionRow(m.nextK)
		}
		first, err := tbl.Insert(b)
		require.NoError(t, err)
		for i := range b {
			seq := first + int64(i)
			m.rows[seq] = b[i]["ver"].(string)
			m.maxSeq = max(m.maxSeq, seq)
		}
	}
}

// mutate updates nUpd and deletes nDel random live rows.
func (m *compactionModel) mutate(t testing.TB, tbl *Table, rng *rand.Rand, nUpd, nDel int) {
	t.Helper()
	pick := func() int64 {
		for {
			seq := rng.Int63n(m.maxSeq) + 1
			if _, ok := m.rows[seq]; ok {
				return seq
			}
		}
	}
	for i := 0; i < nUpd && len(m.rows) > 0; i++ {
		seq := pick()
		ver := fmt.Sprintf("s%d-u%d", seq, rng.Intn(1_000_000))
		require.NoError(t, tbl.Update(seq, map[string]any{"ver": ver}))
		m.rows[seq] = ver
	}
	for i := 0; i < nDel && len(m.rows) > 0; i++ {
		seq := pick()
		require.NoError(t, tbl.Delete(seq))
		delete(m.rows, seq)
		m.deleted = append(m.deleted, seq)
	}
}

// compactionRowVer returns the seq and ver field of an encoded row.
func compactionRowVer(row []byte) (int64, string, error) {
	v, err := parseRow(row)
	if err != nil {
		return 0, "", err
	}
	ver, err := v.value(compactionFieldVer, String)
	if err != nil {
		return 0, "", err
	}
	return v.seq(), ver.(string), nil
}

// verify compares the table with the model: a full forward scan returns
// every live row once, in seq order, in its newest version and no deleted
// row; a backward scan counts the same; Get agrees on a sample of live rows
// and on every deleted one; Stats().Rows is exact.
func (m *compactionModel) verify(t testing.TB, tbl *Table, what string) {
	t.Helper()
	want := slices.Sorted(func(yield func(int64) bool) {
		for s := range m.rows {
			if !yield(s) {
				return
			}
		}
	})
	it, err := tbl.newTableIter()
	require.NoError(t, err)
	i := 0
	// No require per row: it costs more than the scan under -race.
	for ok := it.first(); ok; ok = it.next() {
		seq, ver, err := compactionRowVer(it.value())
		switch {
		case err != nil:
			t.Fatalf("%s: seq %d: %v", what, it.seq(), err)
		case seq != it.seq():
			t.Fatalf("%s: entry of seq %d holds row %d", what, it.seq(), seq)
		case i >= len(want):
			t.Fatalf("%s: scan returned seq %d after the last live row", what, seq)
		case want[i] != seq:
			_, live := m.rows[seq]
			t.Fatalf("%s: scan position %d: got seq %d (live in model: %v), want %d", what, i, seq, live, want[i])
		case m.rows[seq] != ver:
			t.Fatalf("%s: seq %d: version %q, want %q", what, seq, ver, m.rows[seq])
		}
		i++
	}
	require.NoError(t, it.close())
	require.Equal(t, len(want), i, "%s: forward scan row count", what)

	it, err = tbl.newTableIter()
	require.NoError(t, err)
	n := 0
	for ok := it.last(); ok; ok = it.prev() {
		n++
	}
	require.NoError(t, it.close())
	require.Equal(t, len(want), n, "%s: backward scan row count", what)

	for j := 0; j < len(want); j += 97 {
		row, err := tbl.Get(want[j])
		require.NoError(t, err, "%s: Get(%d)", what, want[j])
		got, _ := row.Get("ver")
		require.Equal(t, m.rows[want[j]], got, "%s: Get(%d) version", what, want[j])
	}
	for _, seq := range m.deleted {
		if _, err := tbl.Get(seq); !IsNotFound(err) {
			t.Fatalf("%s: deleted seq %d: Get returned %v", what, seq, err)
		}
	}
	require.Equal(t, int64(len(want)), tbl.Stats().Rows, "%s: Stats().Rows", what)
}

// compactionTestOptions returns options that make a few hundred KB of rows
// spread over several levels.
func compactionTestOptions(fs FS) *Options {
	o := DefaultOptions()
	o.FS = fs
	o.MemTableSize = 128 << 10
	o.L0CompactionTrigger = 4
	o.L0StopWritesTrigger = 1000
	o.L1MaxBytes = 512 << 10
	o.LevelSizeMultiplier = 4
	o.TargetFileSizes = []int64{0, 128 << 10, 256 << 10, 512 << 10, 1 << 20}
	return o
}

func createCompactionTable(t testing.TB, db *Database) *Table {
	t.Helper()
	s, err := NewSchema("events", compactionFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("events", s)
	require.NoError(t, err)
	return tbl
}

func openCompactionTable(t testing.TB, dir string, o *Options) (*Database, *Table) {
	t.Helper()
	db, err := Open(dir, o)
	require.NoError(t, err)
	tbl, err := db.Table("events")
	require.NoError(t, err)
	return db, tbl
}

// checkLevelInvariants checks the pinned version of tbl: L1+ sorted and
// disjoint (the builder checks it too) and every file's metadata sane.
func checkLevelInvariants(t testing.TB, tbl *Table) {
	t.Helper()
	v := tbl.vs.current()
	defer v.unref()
	for l := 1; l < numLevels; l++ {
		files := v.files(l)
		for i := 1; i < len(files); i++ {
			require.Less(t, files[i-1].maxSeq, files[i].minSeq, "L%d files %d and %d overlap", l, files[i-1].num, files[i].num)
		}
	}
}

// versionFiles returns the number of files per level and the total.
func versionFiles(tbl *Table) ([numLevels]int, int) {
	v := tbl.vs.current()
	defer v.unref()
	var per [numLevels]int
	total := 0
	for l := range per {
		per[l] = v.numFiles(l)
		total += per[l]
	}
	return per, total
}

// ---------------------------------------------------------------------------
// Picker and helpers (no I/O).

// testVersion builds a version from files given per level.
func testVersion(t *testing.T, levels map[int][]*fileMeta) *version {
	t.Helper()
	e := &versionEdit{}
	for l, files := range levels {
		for _, f := range files {
			e.addFile(l, f)
		}
	}
	b := newVersionBuilder(nil)
	require.NoError(t, b.apply(e))
	v, err := b.build()
	require.NoError(t, err)
	return v
}

func fm(num uint64, lo, hi int64, size uint64) *fileMeta {
	return &fileMeta{num: num, size: size, entryProps: entryProps{minSeq: lo, maxSeq: hi, numEntries: uint64(hi - lo + 1)}}
}

func fileNums(files []*fileMeta) []uint64 {
	var out []uint64
	for _, f := range files {
		out = append(out, f.num)
	}
	return out
}

func TestCompactionOptionsDefaultsAndBudgets(t *testing.T) {
	o, err := (&Options{}).resolve()
	require.NoError(t, err)
	require.Equal(t, int64(DefaultL1MaxBytes), o.L1MaxBytes)
	require.Equal(t, DefaultLevelSizeMultiplier, o.LevelSizeMultiplier)
	require.Equal(t, []int64{2 << 20, 10 << 20, 50 << 20, 100 << 20, 200 << 20, 200 << 20, 200 << 20}, o.TargetFileSizes)
	require.Equal(t, int64(0), o.levelMaxBytes(0))
	require.Equal(t, int64(64<<20), o.levelMaxBytes(1))
	require.Equal(t, int64(640<<20), o.levelMaxBytes(2))
	require.Equal(t, int64(6400<<20), o.levelMaxBytes(3))
	require.Equal(t, int64(0), o.levelMaxBytes(numLevels-1), "the last level has no budget")

	in := &Options{TargetFileSizes: []int64{0, 7}, CompactionWorkers: 3}
	o, err = in.resolve()
	require.NoError(t, err)
	require.Equal(t, int64(7), o.targetFileSize(1))
	require.Equal(t, int64(50<<20), o.targetFileSize(2), "missing elements take the default")
	o.TargetFileSizes[1] = 99
	require.Equal(t, int64(7), in.TargetFileSizes[1], "resolve must not alias the caller's slice")

	_, err = (&Options{L1MaxBytes: -1, LevelSizeMultiplier: -2, TargetFileSizes: []int64{1, -1}}).resolve()
	require.Error(t, err)
	for _, want := range []string{"L1MaxBytes", "LevelSizeMultiplier", "TargetFileSizes[1]"} {
		require.Contains(t, err.Error(), want)
	}
	_, err = (&Options{TargetFileSizes: make([]int64, numLevels+1)}).resolve()
	require.ErrorContains(t, err, "TargetFileSizes has")
}

func TestCompactionPickerL0TakesAllL0AndOverlappingL1(t *testing.T) {
	o, err := (&Options{L0CompactionTrigger: 2, L1MaxBytes: 1 << 30}).resolve()
	require.NoError(t, err)
	var cursor [numLevels]int64

	// One L0 file: not due.
	v := testVersion(t, map[int][]*fileMeta{0: {fm(10, 50, 60, 100)}})
	require.Nil(t, pickCompaction(v, o, &cursor))
	require.InDelta(t, 0.5, levelScores(v, o)[0], 1e-9)

	// Two overlapping L0 files and L1 files around them: the L1 files
	// overlapping the union [5, 60] are inputs, even 20-30 which overlaps
	// neither L0 file alone.
	v = testVersion(t, map[int][]*fileMeta{
		0: {fm(10, 50, 60, 100), fm(11, 5, 12, 100)},
		1: {fm(1, 1, 4, 100), fm(2, 8, 9, 100), fm(3, 20, 30, 100), fm(4, 55, 70, 100), fm(5, 80, 90, 100)},
	})
	p := pickCompaction(v, o, &cursor)
	require.NotNil(t, p)
	require.Equal(t, 0, p.level)
	require.Equal(t, 1, p.outLevel)
	require.False(t, p.move)
	require.Equal(t, []uint64{11, 10}, fileNums(p.inputs[0]), "all of L0, newest first")
	// 1 [1,4] is the small neighbour just before the range: pulled in.
	require.Equal(t, []uint64{1, 2, 3, 4}, fileNums(p.inputs[1]))
	require.InDelta(t, 1.0, p.score, 1e-9)

	// Disjoint tombstone-free L0 files that overlap no L1 file: a move.
	v = testVersion(t, map[int][]*fileMeta{
		0: {fm(10, 100, 110, 100), fm(11, 111, 120, 100)},
		1: {fm(1, 1, 50, 100)},
	})
	p = pickCompaction(v, o, &cursor)
	require.True(t, p.move)
	require.Empty(t, p.inputs[1])

	// The same with a tombstone: rewritten (it may be dropped).
	withTomb := fm(11, 111, 120, 100)
	withTomb.numTombstones = 1
	v = testVersion(t, map[int][]*fileMeta{0: {fm(10, 100, 110, 100), withTomb}})
	p = pickCompaction(v, o, &cursor)
	require.False(t, p.move)
}

func TestCompactionPickerLevelRoundRobinAndScores(t *testing.T) {
	o, err := (&Options{L0CompactionTrigger: 4, L1MaxBytes: 1000, LevelSizeMultiplier: 10, TargetFileSizes: []int64{0, 0, 1000}}).resolve()
	require.NoError(t, err)
	var cursor [numLevels]int64
	v := testVersion(t, map[int][]*fileMeta{
		0: {fm(20, 500, 510, 10)},
		1: {fm(1, 1, 10, 600), fm(2, 11, 20, 600), fm(3, 21, 30, 600)},
		2: {fm(4, 5, 12, 8000), fm(5, 25, 40, 100)},
	})
	s := levelScores(v, o)
	require.InDelta(t, 0.25, s[0], 1e-9)
	require.InDelta(t, 1.8, s[1], 1e-9)
	require.InDelta(t, 0.81, s[2], 1e-9)
	require.Zero(t, s[numLevels-1])

	var picked []uint64
	for range 4 {
		p := pickCompaction(v, o, &cursor)
		require.NotNil(t, p)
		require.Equal(t, 1, p.level)
		require.Equal(t, 2, p.outLevel)
		require.Len(t, p.inputs[1], 1)
		picked = append(picked, p.inputs[1][0].num)
		lo, hi := seqRange(p.inputs[1])
		for _, f := range v.files(2) {
			if f.overlaps(lo, hi) {
				require.Contains(t, p.inputs[2], f, "overlapping L2 file %d missing", f.num)
			}
		}
	}
	require.Equal(t, []uint64{1, 2, 3, 1}, picked, "round robin through L1, wrapping")

	// File 3 [21,30] overlaps L2 file 5 [25,40]; its left neighbour 4 is
	// not small (8000 ≥ 1000/2): only 5.
	cursor = [numLevels]int64{1: 20}
	p := pickCompaction(v, o, &cursor)
	require.Equal(t, []uint64{3}, fileNums(p.inputs[1]))
	require.Equal(t, []uint64{5}, fileNums(p.inputs[2]))
}

func TestCompactionPickerManual(t *testing.T) {
	require.Nil(t, pickManualCompaction(testVersion(t, nil)))
	// A single clean file in the deepest level: nothing to do.
	require.Nil(t, pickManualCompaction(testVersion(t, map[int][]*fileMeta{3: {fm(1, 1, 9, 10)}})))
	// Only L0: into L1.
	p := pickManualCompaction(testVersion(t, map[int][]*fileMeta{0: {fm(1, 1, 9, 10)}}))
	require.Equal(t, 1, p.outLevel)
	require.True(t, p.manual)
	// Everything into the deepest non-empty level.
	v := testVersion(t, map[int][]*fileMeta{
		0: {fm(9, 1, 100, 10), fm(8, 50, 60, 10)},
		2: {fm(3, 1, 10, 10)},
		4: {fm(4, 11, 20, 10), fm(5, 30, 40, 10)},
	})
	p = pickManualCompaction(v)
	require.Equal(t, 0, p.level)
	require.Equal(t, 4, p.outLevel)
	require.Len(t, p.inputFiles(), 5)
	require.Equal(t, int64(50), p.inputBytes())
}

func TestCompactionTombstoneDropperAndOutputCutter(t *testing.T) {
	v := testVersion(t, map[int][]*fileMeta{
		1: {fm(1, 1, 10, 1)},
		2: {fm(2, 20, 30, 1), fm(3, 50, 60, 1)},
		3: {fm(4, 25, 55, 1)},
	})
	d := newTombstoneDropper(v, 1)
	got := map[int64]bool{}
	for _, seq := range []int64{5, 19, 20, 30, 31, 40, 56, 61, 100} {
		got[seq] = d.canDrop(seq)
	}
	require.Equal(t, map[int64]bool{5: true, 19: true, 20: false, 30: false, 31: false, 40: false, 56: false, 61: true, 100: true}, got)
	d = newTombstoneDropper(v, 3) // nothing below L3
	require.True(t, d.canDrop(30))

	// Output at L1, next level L2 = {[20,30], [50,60]}.
	c := newOutputCutter(v, 1)
	require.False(t, c.cutBefore(1, 5))
	require.True(t, c.cutBefore(5, 40), "[20,30] lies wholly between 5 and 40")
	require.False(t, c.cutBefore(40, 55), "[50,60] contains 55")
	require.False(t, c.cutBefore(55, 70))
	c = newOutputCutter(v, 1)
	require.False(t, c.cutBefore(25, 52), "25 is inside [20,30]")

	_, err := storedRowTime(1, []byte("short"))
	require.ErrorIs(t, err, ErrCorrupted)
}

// ---------------------------------------------------------------------------
// End to end.

// TestCompactionMatchesModel is the main correctness test: rows, random
// Updates and Deletes, background compactions through several levels and
// full manual compactions, compared with the model after each and after a
// reopen. SRDB_LONG=1 runs it with 1M rows.
func TestCompactionMatchesModel(t *testing.T) {
	rows := 100_000
	if os.Getenv("SRDB_LONG") == "1" {
		rows = 1_000_000
	} else if testing.Short() {
		rows = 20_000
	}
	dir := t.TempDir()
	o := compactionTestOptions(nil)
	db := openTestDB(t, dir, o)
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	rng := rand.New(rand.NewSource(1))

	const rounds = 4
	for r := 0; r < rounds; r++ {
		m.insert(t, tbl, rows/rounds, 250)
		m.mutate(t, tbl, rng, rows/40, rows/40)
		require.NoError(t, tbl.Flush())
		tbl.waitForCompactions()
		require.NoError(t, tbl.readOnlyErr())
		checkLevelInvariants(t, tbl)
		m.verify(t, tbl, fmt.Sprintf("round %d after background compactions", r))
		st := tbl.Stats()
		for _, ls := range st.Levels[:numLevels-1] {
			require.Less(t, ls.Score, 1.0, "round %d: L%d still due after waitForCompactions", r, ls.Level)
		}
		if r == 1 || r == rounds-1 {
			require.NoError(t, tbl.Compact())
			checkLevelInvariants(t, tbl)
			m.verify(t, tbl, fmt.Sprintf("round %d after Compact", r))
			// Background compactions may move files on afterwards, but
			// nothing writes: L0 stays empty and no tombstone is left.
			v := tbl.vs.current()
			require.Zero(t, v.numFiles(0), "Compact leaves L0 empty")
			for _, f := range v.allFiles() {
				require.Zero(t, f.numTombstones, "tombstones survive a full compaction in file %d", f.num)
			}
			v.unref()
		}
	}
	st := tbl.Stats()
	require.Positive(t, st.Compaction.Count)
	require.Positive(t, st.Compaction.BytesWritten)
	require.Greater(t, st.Compaction.WriteAmplification, 1.0)
	t.Logf("%d rows: %d compactions (%d moves), read %d MB, wrote %d MB, write amp %.2f, %v",
		rows, st.Compaction.Count, st.Compaction.Moves, st.Compaction.BytesRead>>20,
		st.Compaction.BytesWritten>>20, st.Compaction.WriteAmplification, st.Compaction.Duration)
	require.NoError(t, db.Close())

	db, tbl = openCompactionTable(t, dir, o)
	defer db.Close()
	m.verify(t, tbl, "after reopen")
	m.mutate(t, tbl, rng, 100, 100)
	require.NoError(t, tbl.Compact())
	m.verify(t, tbl, "after reopen and Compact")
}

// TestCompactionDropsDeletedRowsFromDisk checks that deleted rows and
// overwritten versions really leave the files (not just the scans).
func TestCompactionDropsDeletedRowsFromDisk(t *testing.T) {
	o := compactionTestOptions(nil)
	o.DisableAutoCompaction = true
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	m.insert(t, tbl, 5000, 100)
	require.NoError(t, tbl.Flush())
	for seq := int64(1); seq <= 5000; seq += 2 {
		require.NoError(t, tbl.Delete(seq))
		delete(m.rows, seq)
		m.deleted = append(m.deleted, seq)
	}
	for seq := int64(2); seq <= 5000; seq += 4 {
		require.NoError(t, tbl.Update(seq, map[string]any{"ver": "new"}))
		m.rows[seq] = "new"
	}
	require.NoError(t, tbl.Flush())
	before := tbl.Stats()
	require.NoError(t, tbl.Compact())
	after := tbl.Stats()
	m.verify(t, tbl, "after Compact")
	var entries, tombs int64
	for _, ls := range after.Levels {
		for _, f := range ls.Files {
			entries += f.Entries
			tombs += f.Tombstones
		}
	}
	require.Equal(t, int64(len(m.rows)), entries, "one entry per live row")
	require.Zero(t, tombs)
	require.Less(t, after.DiskBytes, before.DiskBytes)
	per, total := versionFiles(tbl)
	require.Equal(t, total, per[1], "everything in L1: %v", per)
	require.Equal(t, int64(1), after.Compaction.Count)
	require.Equal(t, before.DiskBytes, after.Compaction.BytesRead)
	require.Equal(t, after.DiskBytes, after.Compaction.BytesWritten)
}

// TestCompactionKeepsTombstonesOverOlderLevels: a tombstone must survive a
// compaction while a deeper level still holds an older version of its row.
func TestCompactionKeepsTombstonesOverOlderLevels(t *testing.T) {
	o := compactionTestOptions(nil)
	o.DisableAutoCompaction = true
	o.L0CompactionTrigger = 1
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	m.insert(t, tbl, 3000, 100)
	require.NoError(t, tbl.Flush())
	// Push everything to L3 with a manual compaction into L1, then moves.
	require.NoError(t, tbl.Compact())
	for _, target := range []int{2, 3} {
		v := tbl.vs.current()
		e := &versionEdit{}
		for _, f := range v.files(target - 1) {
			e.deleteFile(target-1, f.num)
			e.addFile(target, f.clone())
		}
		v.unref()
		require.NoError(t, tbl.vs.logAndApply(e))
		tbl.installVersion(nil)
	}
	per, _ := versionFiles(tbl)
	require.Positive(t, per[3])

	// Delete rows; flush; run the L0 compaction the background would (into
	// L1): L3 holds the rows, so the tombstones must stay.
	for seq := int64(10); seq < 20; seq++ {
		require.NoError(t, tbl.Delete(seq))
		delete(m.rows, seq)
		m.deleted = append(m.deleted, seq)
	}
	m.insert(t, tbl, 10, 10)
	require.NoError(t, tbl.Flush())
	tbl.compact.mu.Lock()
	v := tbl.vs.current()
	p := pickCompaction(v, tbl.opts, &tbl.compact.cursor)
	require.NotNil(t, p)
	require.Equal(t, 0, p.level)
	require.NoError(t, tbl.runCompaction(v, p))
	tbl.compact.mu.Unlock()
	v = tbl.vs.current()
	var tombs uint64
	for _, f := range v.files(1) {
		tombs += f.numTombstones
	}
	v.unref()
	require.Equal(t, uint64(10), tombs, "tombstones dropped although L3 holds the rows")
	m.verify(t, tbl, "after L0 compaction over L3")

	require.NoError(t, tbl.Compact())
	m.verify(t, tbl, "after full compaction")
}

// TestCompactionAppendOnlyMovesFiles: with appends only, L0 files are
// disjoint and the background compaction moves them without rewriting.
func TestCompactionAppendOnlyMovesFiles(t *testing.T) {
	o := compactionTestOptions(nil)
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	for range 12 {
		m.insert(t, tbl, 500, 100)
		require.NoError(t, tbl.Flush())
	}
	tbl.waitForCompactions()
	st := tbl.Stats()
	require.Positive(t, st.Compaction.Moves)
	require.Equal(t, st.Compaction.Count, st.Compaction.Moves)
	require.Zero(t, st.Compaction.BytesWritten)
	require.InDelta(t, 1.0, st.Compaction.WriteAmplification, 1e-9)
	require.Less(t, len(st.Levels[0].Files), o.L0CompactionTrigger)
	m.verify(t, tbl, "after moves")
}

// ---------------------------------------------------------------------------
// Concurrency.

// TestCompactionConcurrentReadersWritersAndCompactions runs writers
// (inserts, updates, deletes), readers (scans and Gets) and compactions
// (background and manual) at once; run it with -race. Readers check that a
// scan never returns a seq twice or out of order, never misses a row that
// nobody touches, and that Get of such a row always works.
func TestCompactionConcurrentReadersWritersAndCompactions(t *testing.T) {
	o := compactionTestOptions(nil)
	o.MemTableSize = 64 << 10
	o.L0StopWritesTrigger = 8
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	m.insert(t, tbl, 4000, 100) // seqs 1..4000 are stable: never updated or deleted
	const stable = 4000
	require.NoError(t, tbl.Flush())

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		cancel()
	}
	// Writer: appends, then updates and deletes only its own rows.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewSource(2))
		var mine []int64
		for k := int64(1_000_000); ctx.Err() == nil; k++ {
			batch := []map[string]any{compactionRow(k), compactionRow(k + 1)}
			k++
			first, err := tbl.Insert(batch)
			if err != nil {
				report(fmt.Errorf("insert: %w", err))
				return
			}
			mine = append(mine, first, first+1)
			if len(mine) > 10 && rng.Intn(3) == 0 {
				i := rng.Intn(len(mine))
				seq := mine[i]
				if rng.Intn(2) == 0 {
					err = tbl.Update(seq, map[string]any{"ver": "u"})
				} else {
					err = tbl.Delete(seq)
					mine = slices.Delete(mine, i, i+1)
				}
				if err != nil {
					report(fmt.Errorf("update/delete %d: %w", seq, err))
					return
				}
			}
		}
	}()
	// Readers.
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(10 + r)))
			forward := r == 0
			for ctx.Err() == nil {
				it, err := tbl.newTableIter()
				require.NoError(t, err)
				prev, stableSeen := int64(0), 0
				ok, step := it.first(), it.next
				if !forward {
					ok, step = it.last(), it.prev
				}
				for ; ok; ok = step() {
					seq := it.seq()
					if (forward && seq <= prev) || (!forward && prev != 0 && seq >= prev) {
						it.close()
						report(fmt.Errorf("scan %d: seq %d after %d", r, seq, prev))
						return
					}
					prev = seq
					if seq <= stable {
						stableSeen++
					}
				}
				if err := it.close(); err != nil {
					report(fmt.Errorf("scan: %w", err))
					return
				}
				if stableSeen != stable {
					report(fmt.Errorf("scan %d saw %d of the %d stable rows", r, stableSeen, stable))
					return
				}
				for range 200 {
					seq := rng.Int63n(stable) + 1
					row, err := tbl.Get(seq)
					if err != nil {
						report(fmt.Errorf("Get(%d): %w", seq, err))
						return
					}
					if got, _ := row.Get("ver"); got != m.rows[seq] {
						report(fmt.Errorf("Get(%d) = %v, want %v", seq, got, m.rows[seq]))
						return
					}
				}
			}
		}(r)
	}
	// Manual compactions alongside the background ones.
	const manual = 3
	for i := 0; i < manual && ctx.Err() == nil; i++ {
		if err := tbl.Compact(); err != nil {
			report(fmt.Errorf("Compact: %w", err))
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.GreaterOrEqual(t, tbl.Stats().Compaction.Count, int64(manual))
}

// TestCompactionStatsShowRunningCompaction pauses a compaction at a kill
// point and checks what Stats reports meanwhile, and that inserts and reads
// are not blocked by it.
func TestCompactionStatsShowRunningCompaction(t *testing.T) {
	o := compactionTestOptions(nil)
	o.DisableAutoCompaction = true
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	for range 3 {
		m.insert(t, tbl, 500, 100)
		require.NoError(t, tbl.Flush())
	}
	st := tbl.Stats()
	require.Len(t, st.Levels[0].Files, 3)
	require.InDelta(t, 0.75, st.Levels[0].Score, 1e-9)
	require.Equal(t, o.L1MaxBytes, st.Levels[1].MaxBytes)
	require.Nil(t, st.Compaction.Running)

	reached, release := make(chan struct{}), make(chan struct{})
	setKillPointHook(func(name string) error {
		if name == kpCompactionAfterOutput {
			close(reached)
			<-release
		}
		return nil
	})
	defer setKillPointHook(nil)
	done := make(chan error, 1)
	go func() { done <- tbl.Compact() }()
	<-reached

	st = tbl.Stats()
	run := st.Compaction.Running
	require.NotNil(t, run)
	require.True(t, run.Manual)
	require.Equal(t, 0, run.Level)
	require.Equal(t, 1, run.OutputLevel)
	require.Len(t, run.Inputs, 3)
	require.Equal(t, st.Levels[0].Bytes, run.InputBytes)
	require.Positive(t, run.BytesWritten)
	// Inserts, flushes and reads go on while the compaction is paused.
	m.insert(t, tbl, 500, 100)
	require.NoError(t, tbl.Flush())
	m.verify(t, tbl, "during compaction")

	close(release)
	require.NoError(t, <-done)
	st = tbl.Stats()
	require.Nil(t, st.Compaction.Running)
	require.Equal(t, int64(1), st.Compaction.Count)
	require.Positive(t, st.Compaction.Duration)
	require.Len(t, st.Levels[0].Files, 1, "the file flushed during the compaction stays in L0")
	m.verify(t, tbl, "after compaction")
}

// TestCompactionReaderPinsInputs: an iterator opened before a compaction
// keeps reading the input files; they are removed only when it closes.
func TestCompactionReaderPinsInputs(t *testing.T) {
	fs := newMemFS()
	o := compactionTestOptions(fs)
	o.DisableAutoCompaction = true
	db := openTestDB(t, "/db", o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	for range 3 {
		m.insert(t, tbl, 500, 100)
		require.NoError(t, tbl.Flush())
	}
	sstsOnDisk := func() []string {
		names, err := fs.List(tbl.dir)
		require.NoError(t, err)
		var out []string
		for _, n := range names {
			if typ, _, ok := parseFilename(n); ok && typ == fileTypeSST {
				out = append(out, n)
			}
		}
		return out
	}
	inputs := sstsOnDisk()
	require.Len(t, inputs, 3)

	it, err := tbl.newTableIter()
	require.NoError(t, err)
	require.True(t, it.first())
	require.NoError(t, tbl.Compact())
	for _, n := range inputs {
		require.Contains(t, sstsOnDisk(), n, "input removed while an iterator pins it")
	}
	n := 1
	for it.next() {
		n++
	}
	require.NoError(t, it.close())
	require.Equal(t, 1500, n)
	for _, name := range inputs {
		require.NotContains(t, sstsOnDisk(), name, "input not removed after the last reader closed")
	}
	m.verify(t, tbl, "after compaction")
}

// slogSignal is a slog handler that closes ch the first time a record whose
// message contains substr is logged.
type slogSignal struct {
	substr string
	once   *sync.Once
	ch     chan struct{}
}

func newSlogSignal(substr string) slogSignal {
	return slogSignal{substr: substr, once: new(sync.Once), ch: make(chan struct{})}
}

func (h slogSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h slogSignal) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h slogSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h slogSignal) WithGroup(string) slog.Handler      { return h }

// stallOptions makes L0 stall at 2 files while the compaction worker
// cannot get a slot (the test holds it).
func stallOptions(sig slogSignal) *Options {
	o := compactionTestOptions(nil)
	o.MemTableSize = 32 << 10
	o.L0CompactionTrigger = 2
	o.L0StopWritesTrigger = 2
	o.MaxImmutableMemTables = 1
	o.Logger = slog.New(sig)
	return o
}

func TestCompactionWriteStallEndsWhenCompactionRuns(t *testing.T) {
	sig := newSlogSignal("write stall:")
	o := stallOptions(sig)
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	db.compactionSlots <- struct{}{} // the only slot: background compaction must wait

	m := newCompactionModel()
	inserted := make(chan error, 1)
	go func() {
		// Enough rows for many memtables: it can only finish after the
		// stall ends.
		for i := 0; i < 40; i++ {
			b := make([]map[string]any, 100)
			for j := range b {
				b[j] = compactionRow(int64(i*100 + j + 1))
			}
			first, err := tbl.Insert(b)
			if err != nil {
				inserted <- err
				return
			}
			for j := range b {
				m.rows[first+int64(j)] = b[j]["ver"].(string)
			}
		}
		inserted <- nil
	}()
	<-sig.ch
	st := tbl.Stats()
	require.True(t, st.Compaction.Stalled)
	require.Equal(t, int64(1), st.Compaction.WriteStalls)
	require.GreaterOrEqual(t, len(st.Levels[0].Files), 2)
	select {
	case err := <-inserted:
		t.Fatalf("inserts finished during the stall: %v", err)
	default:
	}

	<-db.compactionSlots // let compaction run
	require.NoError(t, <-inserted)
	require.NoError(t, tbl.Flush())
	tbl.waitForCompactions()
	// The writer finished, so the flusher got past the stall: it ended.
	require.Positive(t, tbl.Stats().Compaction.WriteStallTime)
	m.verify(t, tbl, "after the stall")
}

func TestCompactionWriteStallCloseWakesWriters(t *testing.T) {
	sig := newSlogSignal("write stall:")
	o := stallOptions(sig)
	dir := t.TempDir()
	db := openTestDB(t, dir, o)
	tbl := createCompactionTable(t, db)
	db.compactionSlots <- struct{}{}

	inserted := make(chan error, 1)
	go func() {
		for i := int64(1); ; i++ {
			if _, err := tbl.Insert(compactionRow(i)); err != nil {
				inserted <- err
				return
			}
		}
	}()
	<-sig.ch
	require.NoError(t, db.Close()) // must not deadlock with the stalled flusher and writer
	require.ErrorIs(t, <-inserted, ErrClosed)
	<-db.compactionSlots

	db, tbl = openCompactionTable(t, dir, compactionTestOptions(nil))
	defer db.Close()
	require.NoError(t, tbl.Compact())
	checkLevelInvariants(t, tbl)
}

func TestCompactionDisabledNeverStalls(t *testing.T) {
	sig := newSlogSignal("write stall:")
	o := stallOptions(sig)
	o.DisableAutoCompaction = true
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	m.insert(t, tbl, 6000, 100)
	require.NoError(t, tbl.Flush())
	st := tbl.Stats()
	require.Greater(t, len(st.Levels[0].Files), 2*o.L0StopWritesTrigger, "L0 grows freely")
	require.Zero(t, st.Compaction.WriteStalls)
	require.Zero(t, st.Compaction.Count, "no background compaction")
	select {
	case <-sig.ch:
		t.Fatal("stall logged with auto compaction disabled")
	default:
	}
	require.NoError(t, tbl.Compact())
	m.verify(t, tbl, "after Compact")
}

// TestCompactionCloseInterruptsCompact: Close during a Compact makes it
// return ErrClosed, removes its partial outputs and loses nothing.
func TestCompactionCloseInterruptsCompact(t *testing.T) {
	dir := t.TempDir()
	o := compactionTestOptions(nil)
	o.DisableAutoCompaction = true
	o.TargetFileSizes = []int64{0, 16 << 10} // many outputs
	db := openTestDB(t, dir, o)
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	for range 3 {
		m.insert(t, tbl, 2000, 100)
		require.NoError(t, tbl.Flush())
	}
	var once sync.Once
	reached := make(chan struct{})
	setKillPointHook(func(name string) error {
		if name == kpCompactionBeforeOutputSync {
			once.Do(func() { close(reached) })
			<-tbl.done // hold the compaction until Close has begun
		}
		return nil
	})
	defer setKillPointHook(nil)
	done := make(chan error, 1)
	go func() { done <- tbl.Compact() }()
	<-reached
	require.NoError(t, db.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	setKillPointHook(nil)

	db, tbl = openCompactionTable(t, dir, o)
	defer db.Close()
	m.verify(t, tbl, "after reopen")
	require.Zero(t, tbl.Stats().Levels[1].Bytes, "the interrupted compaction installed nothing")
}

// TestCompactionBackgroundFailureMakesTableReadOnly: a failing background
// compaction stops writes (like a failing flush) and loses nothing.
func TestCompactionBackgroundFailureMakesTableReadOnly(t *testing.T) {
	dir := t.TempDir()
	o := compactionTestOptions(nil)
	db := openTestDB(t, dir, o)
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	m.insert(t, tbl, 1000, 100)
	m.mutate(t, tbl, rand.New(rand.NewSource(3)), 50, 50)
	db.compactionSlots <- struct{}{} // hold compaction back while L0 fills
	for range 5 {
		m.mutate(t, tbl, rand.New(rand.NewSource(4)), 10, 0)
		require.NoError(t, tbl.Flush())
	}
	boom := errors.New("injected compaction failure")
	var fired atomic.Bool
	setKillPointHook(func(name string) error {
		if name == kpCompactionAfterOutput {
			fired.Store(true)
			return boom
		}
		return nil
	})
	defer setKillPointHook(nil)
	<-db.compactionSlots
	tbl.waitForCompactions()
	require.True(t, fired.Load())
	require.ErrorIs(t, tbl.readOnlyErr(), boom)
	st := tbl.Stats()
	require.True(t, st.ReadOnly)
	require.Contains(t, st.Compaction.LastError, "injected")
	_, err := tbl.Insert(compactionRow(1))
	require.Error(t, err)
	require.NoError(t, db.Close())
	setKillPointHook(nil)

	db, tbl = openCompactionTable(t, dir, o)
	defer db.Close()
	m.verify(t, tbl, "after reopen")
}

// TestCompactionStopsAtCorruptInput: a row record failing its checksum
// makes the compaction fail with ErrCorrupted naming the file, and changes
// nothing (no row may be dropped because its file was unreadable).
func TestCompactionStopsAtCorruptInput(t *testing.T) {
	dir := t.TempDir()
	o := compactionTestOptions(nil)
	o.DisableAutoCompaction = true
	db := openTestDB(t, dir, o)
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	for range 3 {
		m.insert(t, tbl, 400, 100)
		require.NoError(t, tbl.Flush())
	}
	tdir := tbl.dir
	require.NoError(t, db.Close())

	// Flip a byte of the row holding k=500 ("k500-v0") in its SST.
	names, err := OSFS().List(tdir)
	require.NoError(t, err)
	var victim string
	for _, n := range names {
		if typ, _, ok := parseFilename(n); !ok || typ != fileTypeSST {
			continue
		}
		path := tdir + "/" + n
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		if i := bytes.Index(data, []byte("k500-v0")); i >= 0 {
			data[i+1] ^= 0x20
			require.NoError(t, os.WriteFile(path, data, 0o600))
			victim = n
		}
	}
	require.NotEmpty(t, victim)

	db, tbl = openCompactionTable(t, dir, o)
	defer db.Close()
	before, _ := versionFiles(tbl)
	err = tbl.Compact()
	require.ErrorIs(t, err, ErrCorrupted)
	require.Contains(t, err.Error(), victim)
	after, _ := versionFiles(tbl)
	require.Equal(t, before, after, "a failed compaction changes nothing")
	require.Zero(t, tbl.Stats().Compaction.Count)
	_, err = tbl.Get(500)
	require.ErrorIs(t, err, ErrCorrupted)
}

// TestCompactionSlotsAreDatabaseWide: the tables of one Database share one
// semaphore of CompactionWorkers slots; another Database has its own.
func TestCompactionSlotsAreDatabaseWide(t *testing.T) {
	o := compactionTestOptions(nil)
	o.CompactionWorkers = 2
	db := openTestDB(t, t.TempDir(), o)
	defer db.Close()
	a := createCompactionTable(t, db)
	s, err := NewSchema("other", compactionFields())
	require.NoError(t, err)
	b, err := db.CreateTable("other", s)
	require.NoError(t, err)
	require.NotNil(t, a.compactionSlots())
	require.Equal(t, a.compactionSlots(), b.compactionSlots())
	require.Equal(t, 2, cap(a.compactionSlots()))
	db3 := openTestDB(t, t.TempDir(), nil)
	defer db3.Close()
	require.Equal(t, DefaultCompactionWorkers, cap(db3.compactionSlots))

	db2 := openTestDB(t, t.TempDir(), o)
	defer db2.Close()
	require.NotEqual(t, db.compactionSlots, db2.compactionSlots)
}
