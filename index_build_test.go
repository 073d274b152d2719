package srdb

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// idxBaseFS returns a closed database (memFS) holding a populated table
// "m" — SSTs in L0 and L1, updates, deletes and rows only in the WAL — and
// the expected "from" key of every live row.
func idxBaseFS(t *testing.T, rows int64) (*memFS, map[int64][]byte) {
	fs := newMemFS()
	db, tbl := idxOpenTable(t, fs, true, 32<<10)
	idxPopulate(t, tbl, rows)
	want := idxLiveKeys(t, tbl, "from")
	require.NoError(t, db.Close())
	fs.syncAll()
	return fs, want
}

// idxCheckRecovered opens a crashed copy and checks that the rows are
// intact and that, once the build resumed by Open (or a new CreateIndex)
// completes, every index equals the scan.
func idxCheckRecovered(t *testing.T, fs *memFS, want map[int64][]byte, what string) {
	t.Helper()
	db, tbl := idxOpenTable(t, fs, false, 32<<10)
	defer func() { require.NoError(t, db.Close(), what) }()
	require.NoError(t, tbl.waitIndexBuilds(), what)
	if !tbl.indexReady("from") {
		f, _ := tbl.Schema().Field("from")
		require.NoError(t, tbl.CreateIndex("from"), "%s (indexed %v)", what, f.Indexed)
	}
	require.Equal(t, want, idxLiveKeys(t, tbl, "from"), what)
	for _, f := range []string{"ch", "n", "from"} {
		idxRequireMatchesScan(t, tbl, f)
	}
}

var errIdxInjected = errors.New("injected kill point")

// TestCreateIndexCrashAtEveryKillPoint fails each step of CreateIndex (the
// kill point hook returns an error, as a crash there would stop the work),
// takes the on-disk state as a crash would leave it (everything handed to
// the file system, and only what was synced), reopens, and checks that the
// build resumes and index == scan.
func TestCreateIndexCrashAtEveryKillPoint(t *testing.T) {
	base, want := idxBaseFS(t, 1200)
	points := []string{
		"index_build.after_marker",
		"index_build.schema.after_tmp_sync",
		"index_build.schema.after_rename",
		"index_build.after_schema",
		"flush.after_sst",
		"flush.after_manifest",
		"index_build.after_flush",
		"sst.before_rename",
		"index_build.after_sst",
		"index_build.after_swap",
		"index_build.after_done",
	}
	for _, point := range points {
		for _, keep := range []float64{0, 1} {
			t.Run(point, func(t *testing.T) {
				fs := base.crashClone(nil, 1)
				db, tbl := idxOpenTable(t, fs, false, 32<<10)
				// The replayed memtables may already be flushed in the
				// background by now; a row inserted and deleted makes sure
				// CreateIndex has a memtable of its own to flush (and so
				// reaches the flush.* points), without changing live rows.
				seq, err := tbl.Insert(idxTestRow(1_000_000))
				require.NoError(t, err)
				require.NoError(t, tbl.Delete(seq))
				var hits atomic.Int32
				setKillPointHook(func(name string) error {
					if name == point && hits.Add(1) == 1 {
						return errIdxInjected
					}
					return nil
				})
				err = tbl.CreateIndex("from")
				setKillPointHook(nil)
				require.Positive(t, hits.Load(), "kill point %s not reached", point)
				require.Error(t, err)
				crashed := fs.crashClone(rand.New(rand.NewPCG(1, 2)), keep)
				_ = db.Close()
				idxCheckRecovered(t, crashed, want, point)
			})
		}
	}
}

// TestCreateIndexResumesInTheBackground: a build interrupted after its
// marker is finished by Open without a new CreateIndex call.
func TestCreateIndexResumesInTheBackground(t *testing.T) {
	base, want := idxBaseFS(t, 1200)
	fs := base.crashClone(nil, 1)
	db, tbl := idxOpenTable(t, fs, false, 32<<10)
	setKillPointHook(func(name string) error {
		if name == "index_build.after_swap" {
			return errIdxInjected
		}
		return nil
	})
	require.ErrorIs(t, tbl.CreateIndex("from"), errIdxInjected)
	setKillPointHook(nil)
	require.False(t, tbl.indexReady("from"))
	require.Contains(t, tbl.Indexes(), "from")
	crashed := fs.crashClone(nil, 0)
	require.NoError(t, db.Close())

	db2, tbl2 := idxOpenTable(t, crashed, false, 32<<10)
	defer db2.Close()
	require.NoError(t, tbl2.waitIndexBuilds())
	require.True(t, tbl2.indexReady("from"))
	require.Empty(t, tbl2.buildingNames())
	require.Equal(t, want, idxLiveKeys(t, tbl2, "from"))
	idxRequireMatchesScan(t, tbl2, "from")
}

// TestCreateIndexPowerLoss cuts the power at every file-system operation
// of CreateIndex (keeping each unsynced write with probability 0, ½ or 1,
// rotating with the operation) and checks the recovered copy.
func TestCreateIndexPowerLoss(t *testing.T) {
	base, want := idxBaseFS(t, 600)
	work := func(db *Database, tbl *Table) error {
		err := tbl.CreateIndex("from")
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	}
	probe := base.crashClone(nil, 1)
	db, tbl := idxOpenTable(t, probe, false, 32<<10)
	start := probe.opCount()
	require.NoError(t, work(db, tbl))
	n := probe.opCount() - start
	stride := 1
	if testing.Short() {
		stride = 5
	}
	errCrashed := errors.New("power cut")
	ps := []float64{0, 0.5, 1}
	for k := 0; k <= n; k += stride {
		for _, p := range []float64{ps[k%3]} {
			m := base.crashClone(nil, 1)
			rng := rand.New(rand.NewPCG(uint64(k), 3))
			db, tbl := idxOpenTable(t, m, false, 32<<10)
			b := m.opCount()
			var clone *memFS
			m.setOpHook(func(i int, op fsOp, path string) error {
				if clone == nil && i-b == k {
					clone = m.crashClone(rng, p)
				}
				if clone != nil {
					return errCrashed
				}
				return nil
			})
			err := work(db, tbl)
			if clone == nil {
				require.NoError(t, err)
				clone = m.crashClone(rng, p)
			}
			idxCheckRecovered(t, clone, want, "power cut")
		}
	}
	t.Logf("CreateIndex: %d file-system operations, crashed at every %d", n, stride)
}

// TestDropIndexCrash fails each step of DropIndex: after reopening, the
// field is either still indexed (and complete) or not indexed at all.
func TestDropIndexCrash(t *testing.T) {
	base, _ := idxBaseFS(t, 600)
	for _, point := range []string{"index_drop.schema.after_tmp_sync", "index_drop.schema.after_rename", "index_drop.after_schema"} {
		fs := base.crashClone(nil, 1)
		db, tbl := idxOpenTable(t, fs, false, 32<<10)
		setKillPointHook(func(name string) error {
			if name == point {
				return errIdxInjected
			}
			return nil
		})
		require.ErrorIs(t, tbl.DropIndex("ch"), errIdxInjected, point)
		setKillPointHook(nil)
		crashed := fs.crashClone(nil, 0)
		_ = db.Close()
		db2, tbl2 := idxOpenTable(t, crashed, false, 32<<10)
		if f, _ := tbl2.Schema().Field("ch"); f.Indexed {
			idxRequireMatchesScan(t, tbl2, "ch")
		} else {
			require.NotContains(t, tbl2.Indexes(), "ch")
		}
		require.NoError(t, db2.Close())
	}
	// A drop during a pending build clears the pending marker too.
	fs := base.crashClone(nil, 1)
	db, tbl := idxOpenTable(t, fs, false, 32<<10)
	setKillPointHook(func(name string) error {
		if name == "index_build.after_flush" {
			return errIdxInjected
		}
		return nil
	})
	require.Error(t, tbl.CreateIndex("from"))
	setKillPointHook(nil)
	require.Equal(t, []string{"from"}, tbl.buildingNames())
	require.NoError(t, tbl.DropIndex("from"))
	require.Empty(t, tbl.buildingNames())
	require.NoError(t, db.Close())
	db2, tbl2 := idxOpenTable(t, fs.crashClone(nil, 0), false, 32<<10)
	defer db2.Close()
	require.Empty(t, tbl2.buildingNames())
	require.NotContains(t, tbl2.Indexes(), "from")
	require.NoError(t, tbl2.checkIndexes())
}

// TestCreateIndexFaultSweep fails the i-th file-system operation of
// CreateIndex (once) for every i: the error surfaces or the build copes,
// nothing panics, and after a reopen the rows are intact and the index,
// once complete, equals the scan.
func TestCreateIndexFaultSweep(t *testing.T) {
	base, want := idxBaseFS(t, 600)
	probe := base.crashClone(nil, 1)
	db, tbl := idxOpenTable(t, probe, false, 32<<10)
	start := probe.opCount()
	require.NoError(t, tbl.CreateIndex("from"))
	n := probe.opCount() - start
	require.NoError(t, db.Close())
	errEIO := errors.New("injected EIO")
	failures := 0
	for i := 0; i < n; i++ {
		m := base.crashClone(nil, 1)
		db, tbl := idxOpenTable(t, m, false, 32<<10)
		b := m.opCount()
		m.setOpHook(func(k int, op fsOp, path string) error {
			if k-b == i {
				return errEIO
			}
			return nil
		})
		if err := tbl.CreateIndex("from"); err != nil {
			failures++
			require.ErrorIs(t, err, errEIO, "op %d", i)
		}
		_ = db.Close()
		m.setOpHook(nil)
		idxCheckRecovered(t, m, want, "fault sweep")
	}
	require.Positive(t, failures)
	t.Logf("CreateIndex: %d operations, %d injected failures surfaced", n, failures)
}
