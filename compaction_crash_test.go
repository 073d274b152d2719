package srdb

import (
	"errors"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Crash tests of compaction (a crash at any point of a compaction loses
// nothing, power loss included). A base database is built once on a memFS; each
// case runs a compaction on an identical copy, takes a crash clone at a
// chosen moment (a named kill point, or before the k-th file-system
// operation), reopens the clone and compares it with the model: every live
// row exactly once, in its newest version, no deleted row, and no file left
// that the MANIFEST does not name.

const compactionCrashDir = "/db"

var errCompactionCrash = errors.New("simulated crash")

// compactionCrashBase is the database every crash case starts from: L1
// files from a first compaction, then L0 files holding updates, deletes and
// new rows that overlap them.
type compactionCrashBase struct {
	fs    *memFS
	model *compactionModel
}

func compactionCrashOptions(fs FS) *Options {
	o := compactionTestOptions(fs)
	o.Durability = DurabilitySync
	o.DisableAutoCompaction = true
	o.MemTableSize = 32 << 10
	o.TargetFileSizes = []int64{0, 24 << 10}
	return o
}

var (
	compactionCrashBaseMu  sync.Mutex
	compactionCrashBaseVal *compactionCrashBase
)

// getCompactionCrashBase builds the base database once per test binary.
func getCompactionCrashBase(t *testing.T) *compactionCrashBase {
	t.Helper()
	compactionCrashBaseMu.Lock()
	defer compactionCrashBaseMu.Unlock()
	if compactionCrashBaseVal != nil {
		return compactionCrashBaseVal
	}
	fs := newMemFS()
	db, err := Open(compactionCrashDir, compactionCrashOptions(fs))
	require.NoError(t, err)
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	rng := rand.New(rand.NewSource(7))
	m.insert(t, tbl, 800, 100)
	require.NoError(t, tbl.Compact())
	m.mutate(t, tbl, rng, 60, 60)
	m.insert(t, tbl, 250, 50)
	require.NoError(t, tbl.Flush())
	m.mutate(t, tbl, rng, 30, 30)
	m.insert(t, tbl, 150, 50)
	require.NoError(t, tbl.Flush())
	per, _ := versionFiles(tbl)
	require.GreaterOrEqual(t, per[0], 2, "base: L0 files")
	require.Greater(t, per[1], 1, "base: L1 files")
	require.NoError(t, db.Close())
	compactionCrashBaseVal = &compactionCrashBase{fs: fs, model: m}
	return compactionCrashBaseVal
}

// openCrashCopy opens a copy of the base and waits for the flush of the
// (empty) replayed memtable, so that the compaction that follows is the
// only thing touching the file system.
func (b *compactionCrashBase) openCrashCopy(t *testing.T) (*memFS, *Database, *Table) {
	t.Helper()
	fs := b.copyFS()
	db, err := Open(compactionCrashDir, compactionCrashOptions(fs))
	require.NoError(t, err)
	tbl, err := db.Table("events")
	require.NoError(t, err)
	require.NoError(t, tbl.Flush())
	// Flush returns once the memtable is out of the read state; the
	// background flusher may still be removing its WAL. Wait for it.
	tbl.flushMu.Lock()
	tbl.flushMu.Unlock() //nolint:staticcheck // empty critical section: a barrier
	return fs, db, tbl
}

// copyFS returns an independent copy of the base file system.
func (b *compactionCrashBase) copyFS() *memFS { return b.fs.crashClone(nil, 1) }

// checkCrashClone opens a crashed file system and checks it against the
// model; with again set it then compacts it once more and checks again.
func (b *compactionCrashBase) checkCrashClone(t *testing.T, clone *memFS, what string, again bool) {
	t.Helper()
	db, err := Open(compactionCrashDir, compactionCrashOptions(clone))
	require.NoError(t, err, "%s: open", what)
	defer db.Close()
	tbl, err := db.Table("events")
	require.NoError(t, err, "%s: table", what)
	checkOnlyLiveFiles(t, clone, tbl, what)
	b.model.verify(t, tbl, what)
	if !again {
		return
	}
	require.NoError(t, tbl.Compact(), "%s: compact after recovery", what)
	b.model.verify(t, tbl, what+", compacted again")
	checkOnlyLiveFiles(t, clone, tbl, what+", compacted again")
}

// checkOnlyLiveFiles checks that the table directory holds exactly the SSTs
// of the current version and no temp file.
func checkOnlyLiveFiles(t *testing.T, fs *memFS, tbl *Table, what string) {
	t.Helper()
	names, err := fs.List(tbl.dir)
	require.NoError(t, err)
	v := tbl.vs.current()
	defer v.unref()
	live := map[string]bool{}
	for _, f := range v.allFiles() {
		live[makeFilename(fileTypeSST, f.num)] = true
	}
	onDisk := map[string]bool{}
	for _, n := range names {
		require.False(t, strings.HasSuffix(n, ".tmp"), "%s: temp file %s left", what, n)
		if typ, _, ok := parseFilename(n); ok && typ == fileTypeSST {
			onDisk[n] = true
		}
	}
	require.Equal(t, live, onDisk, "%s: SSTs on disk vs MANIFEST", what)
}

// compactionKillPoints runs a full compaction of a copy of the base and
// returns the kill points it passes, in order.
func compactionKillPoints(t *testing.T, b *compactionCrashBase) []string {
	t.Helper()
	_, db, tbl := b.openCrashCopy(t)
	defer db.Close()
	var mu sync.Mutex
	var seen []string
	setKillPointHook(func(name string) error {
		mu.Lock()
		seen = append(seen, name)
		mu.Unlock()
		return nil
	})
	defer setKillPointHook(nil)
	require.NoError(t, tbl.Compact())
	setKillPointHook(nil)
	b.model.verify(t, tbl, "uncrashed compaction")
	return seen
}

// TestCompactionCrashAtEveryKillPoint crashes a full compaction at every
// kill point it passes (each occurrence: one per output for
// compaction.before_output_sync and sst.before_rename, the MANIFEST steps,
// …) with unsynced data kept with probability 0, ½ and 1.
func TestCompactionCrashAtEveryKillPoint(t *testing.T) {
	b := getCompactionCrashBase(t)
	points := compactionKillPoints(t, b)
	for _, want := range []string{kpCompactionBeforeOutputSync, kpCompactionAfterOutput, kpCompactionAfterManifest, kpCompactionAfterDelete} {
		require.Contains(t, points, want)
	}
	require.Greater(t, strings.Count(strings.Join(points, " "), kpCompactionBeforeOutputSync), 1, "want several outputs")
	t.Logf("kill points of one compaction: %v", points)

	for i, name := range points {
		for _, p := range []float64{0, 0.5, 1} {
			what := fmt.Sprintf("crash at kill point #%d %s, p=%v", i, name, p)
			fs, db, tbl := b.openCrashCopy(t)
			rng := randv2.New(randv2.NewPCG(uint64(i), 1))
			var clone *memFS
			n := 0
			var mu sync.Mutex
			setKillPointHook(func(kp string) error {
				mu.Lock()
				defer mu.Unlock()
				if clone != nil {
					return errCompactionCrash
				}
				if n == i {
					require.Equal(t, name, kp, "kill point order changed")
					clone = fs.crashClone(rng, p)
					return errCompactionCrash
				}
				n++
				return nil
			})
			err := tbl.Compact()
			setKillPointHook(nil)
			require.ErrorIs(t, err, errCompactionCrash, what)
			require.NotNil(t, clone, what)
			_ = db.Close()
			b.checkCrashClone(t, clone, what, p == 1)
		}
	}
}

// TestCompactionCrashAtEveryFSOperation takes a power-loss clone before
// every file-system operation of a full compaction.
func TestCompactionCrashAtEveryFSOperation(t *testing.T) {
	b := getCompactionCrashBase(t)
	// Count the operations of one compaction.
	fs, db, tbl := b.openCrashCopy(t)
	start := fs.opCount()
	require.NoError(t, tbl.Compact())
	ops := fs.opCount() - start
	require.NoError(t, db.Close())
	require.Greater(t, ops, 10)

	step := 1
	if testing.Short() {
		step = 3
	}
	for k := 0; k <= ops; k += step {
		ps := []float64{0, 1}
		if k%3 == 0 {
			ps = append(ps, 0.5)
		}
		for _, p := range ps {
			what := fmt.Sprintf("crash before op %d of %d, p=%v", k, ops, p)
			fs, db, tbl := b.openCrashCopy(t)
			base := fs.opCount()
			rng := randv2.New(randv2.NewPCG(uint64(k), 2))
			var clone *memFS
			var crashedOp fsOp
			fs.setOpHook(func(i int, op fsOp, path string) error {
				if clone == nil && i-base == k {
					clone = fs.crashClone(rng, p)
					crashedOp = op
				}
				if clone != nil {
					return errCompactionCrash
				}
				return nil
			})
			err := tbl.Compact()
			if clone == nil {
				require.NoError(t, err, what)
				clone = fs.crashClone(rng, p)
			} else if err == nil {
				// Only removing obsolete inputs is best effort (Open
				// removes what is left); every other failure surfaces.
				require.Equal(t, fsOpRemove, crashedOp, "%s: a failed %v went unreported", what, crashedOp)
			}
			fs.setOpHook(nil)
			_ = db.Close()
			b.checkCrashClone(t, clone, what, false)
		}
	}
}

// TestCompactionBackgroundCrash crashes a background L0 compaction at each
// compaction kill point.
func TestCompactionBackgroundCrash(t *testing.T) {
	b := getCompactionCrashBase(t)
	for _, name := range []string{kpCompactionBeforeOutputSync, kpCompactionAfterOutput, kpCompactionAfterManifest, kpCompactionAfterDelete} {
		what := "background crash at " + name
		fs := b.copyFS()
		var clone *memFS
		var mu sync.Mutex
		setKillPointHook(func(kp string) error {
			mu.Lock()
			defer mu.Unlock()
			if clone == nil && kp == name {
				clone = fs.crashClone(nil, 0)
			}
			if clone != nil {
				return errCompactionCrash
			}
			return nil
		})
		o := compactionCrashOptions(fs)
		o.DisableAutoCompaction = false
		o.L0CompactionTrigger = 2 // the base has 2 L0 files: due at Open
		db, err := Open(compactionCrashDir, o)
		require.NoError(t, err)
		tbl, err := db.Table("events")
		require.NoError(t, err)
		tbl.waitForCompactions()
		setKillPointHook(nil)
		mu.Lock()
		require.NotNil(t, clone, what)
		mu.Unlock()
		require.ErrorIs(t, tbl.readOnlyErr(), errCompactionCrash, what)
		_ = db.Close()
		b.checkCrashClone(t, clone, what, true)
	}
}
