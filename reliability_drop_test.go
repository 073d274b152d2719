package srdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// DropTable racing the table's own work (issue 12): Flush, Compact, Insert,
// Update, Get, Query and CreateIndex running in other goroutines while the
// table is dropped. No call may panic; each returns nil or a typed error
// (ErrClosed, ErrTableNotFound); DropTable returns nil; afterwards the
// table's directory is gone, Tables() lacks it, a CreateTable of the same
// name starts empty, and no goroutine or descriptor is left behind.

// errCheckNotClean marks a Database.Check failure: never allowed, since the
// database stays open.
var errCheckNotClean = errors.New("Check reported a problem")

// dropRaceAllowed reports whether err is an outcome a call racing DropTable
// may have: none, or the table is closed / gone.
func dropRaceAllowed(err error) bool {
	if errors.Is(err, errCheckNotClean) {
		return false
	}
	return err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrTableNotFound)
}

// TestReliabilityDropTableRacesWork drops a busy table again and again.
func TestReliabilityDropTableRacesWork(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.MemTableSize = 64 << 10 // background flushes and compactions too
	opts.Durability = DurabilityNone
	db, err := Open(dir, opts)
	require.NoError(t, err)
	// Warm-up so the runtime's one-time descriptors do not count as leaks.
	s, err := NewSchema("m", faultFields())
	require.NoError(t, err)
	base := leakBaseline{fds: settleFDs(t, openFDs(t)), goroutines: settleGoroutines(runtime.NumGoroutine())}

	n := soakIterations(t, 40)
	tableDir := filepath.Join(dir, tablesDirName, "m")
	for i := 0; i < n; i++ {
		tbl, err := db.CreateTable("m", s)
		require.NoError(t, err, "iteration %d", i)
		// The new table must not see the rows of the dropped one.
		require.EqualValues(t, 0, tbl.Stats().Rows, "iteration %d: rows of the dropped table", i)
		c, err := tbl.Query().Count()
		require.NoError(t, err)
		require.Zero(t, c, "iteration %d", i)
		for k := int64(1); k <= 50; k++ {
			_, err := tbl.Insert(faultRow(k))
			require.NoError(t, err)
			if k%20 == 0 {
				require.NoError(t, tbl.Flush())
			}
		}

		var wg sync.WaitGroup
		errc := make(chan error, 64)
		stop := make(chan struct{})
		loop := func(what string, fn func(k int64) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int64(100); ; k++ {
					err := fn(k)
					if !dropRaceAllowed(err) {
						errc <- fmt.Errorf("%s: %w", what, err)
						return
					}
					if err != nil {
						return // closed: the table is gone
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
		}
		loop("Flush", func(int64) error { return tbl.Flush() })
		loop("Compact", func(int64) error { return tbl.Compact() })
		loop("Insert", func(k int64) error { _, err := tbl.Insert(faultRow(k)); return err })
		loop("Update", func(k int64) error { return tbl.Update(1+k%50, map[string]any{"msg_id": k}) })
		loop("Get", func(k int64) error { _, err := tbl.Get(1 + k%50); return err })
		loop("Query", func(int64) error {
			_, err := tbl.Query().Eq("channel_id", "ch-1").OrderByDesc("_seq").Limit(5).Count()
			return err
		})
		loop("Rows", func(int64) error {
			rows, err := tbl.Query().Rows()
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			return errors.Join(rows.Err(), rows.Close())
		})
		if i%2 == 0 {
			// Check of the whole database: a table dropped under it is
			// not a problem to report.
			loop("Check", func(int64) error {
				if err := db.Check(); err != nil {
					return fmt.Errorf("%w (the database is open)", errors.Join(err, errCheckNotClean))
				}
				return nil
			})
		}
		if i%4 == 0 {
			loop("CreateIndex", func(k int64) error {
				if k%2 == 0 {
					return tbl.CreateIndex("from_uid")
				}
				return tbl.DropIndex("from_uid")
			})
		}
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		require.NoError(t, db.DropTable("m"), "iteration %d", i)
		close(stop)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("iteration %d: a call racing DropTable: %v", i, err)
		}
		_, err = os.Stat(tableDir)
		require.True(t, os.IsNotExist(err), "iteration %d: %s still exists (%v)", i, tableDir, err)
		require.NotContains(t, db.Tables(), "m")
		_, err = db.Table("m")
		require.ErrorIs(t, err, ErrTableNotFound)

		// The dropped handle answers with a typed error, never a panic.
		_, err = tbl.Insert(faultRow(1))
		require.ErrorIs(t, err, ErrClosed)
		_, err = tbl.Get(1)
		require.ErrorIs(t, err, ErrClosed)
		_, err = tbl.Query().Count()
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, tbl.Flush(), ErrClosed)
		require.ErrorIs(t, tbl.Compact(), ErrClosed)
	}
	entries, err := os.ReadDir(filepath.Join(dir, tablesDirName))
	require.NoError(t, err)
	require.Empty(t, entries)
	base.requireNoLeak(t, "after the DropTable races")
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}
