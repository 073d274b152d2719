package srdb

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The leak test: open/close cycles and failed opens on the OS file
// system leave no file descriptor and no goroutine behind. See
// docs/RELIABILITY.md, "Leak test".

// openFDs returns the number of open file descriptors of the process.
func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// settleFDs waits (polling, bounded) until at most base descriptors are
// open and returns the last count (the runtime may close some lazily).
func settleFDs(t *testing.T, base int) int {
	n := openFDs(t)
	for deadline := time.Now().Add(2 * time.Second); n > base && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		runtime.GC()
		n = openFDs(t)
	}
	return n
}

// leakBaseline records the descriptor and goroutine counts to return to.
type leakBaseline struct{ fds, goroutines int }

// requireNoLeak checks both counts against the baseline.
func (b leakBaseline) requireNoLeak(t *testing.T, what string) {
	t.Helper()
	if n := settleFDs(t, b.fds); n > b.fds {
		entries, _ := os.ReadDir("/proc/self/fd")
		var targets []string
		for _, e := range entries {
			l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
			targets = append(targets, l)
		}
		t.Fatalf("%s: %d descriptors open, %d at the start: %v", what, n, b.fds, targets)
	}
	if n := settleGoroutines(b.goroutines); n > b.goroutines {
		t.Fatalf("%s: %d goroutines, %d at the start\n%s", what, n, b.goroutines, goroutineDump())
	}
}

// leakDB creates a database with table m and 20 rows, 10 flushed and 10 in
// the WAL, and returns its directory.
func leakDB(t *testing.T) string { return flushedFaultDB(t, nil, 20) }

// TestReliabilityOpenCloseNoLeak opens and closes a database 200 times (×
// soakFactor), reading and writing in each cycle, then checks descriptors
// and goroutines.
func TestReliabilityOpenCloseNoLeak(t *testing.T) {
	dir := leakDB(t)
	// One warm-up cycle: the runtime opens some descriptors once (the
	// netpoller) on first use.
	db, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	base := leakBaseline{fds: settleFDs(t, openFDs(t)), goroutines: settleGoroutines(runtime.NumGoroutine())}
	n := soakIterations(t, 200)
	key := int64(1000)
	for i := 0; i < n; i++ {
		db, err := Open(dir, nil)
		require.NoError(t, err)
		tbl, err := db.Table("m")
		require.NoError(t, err)
		seq, err := tbl.Insert(faultRow(key))
		require.NoError(t, err)
		key++
		_, err = tbl.Get(seq)
		require.NoError(t, err)
		_, err = tbl.Query().Eq("channel_id", "ch-1").Count()
		require.NoError(t, err)
		if i%50 == 49 {
			require.NoError(t, tbl.Flush())
		}
		require.NoError(t, db.Close())
	}
	base.requireNoLeak(t, "after open/close cycles")
	db, err = Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, db.Check())
	tbl, err := db.Table("m")
	require.NoError(t, err)
	require.EqualValues(t, 20+n, tbl.Stats().Rows)
	require.NoError(t, db.Close())
	t.Logf("%d open/close cycles, %d descriptors and %d goroutines at the end as at the start", n, base.fds, base.goroutines)
}

// TestReliabilityFailedOpenNoLeak makes Open (or a table's open) fail 50
// times (× soakFactor) in ten different ways and checks that each failure
// releases everything.
func TestReliabilityFailedOpenNoLeak(t *testing.T) {
	pristine := leakDB(t)
	files := readTree(t, pristine)
	work := t.TempDir()
	type failure struct {
		name   string
		damage func(t *testing.T, dir string) // makes the next Open fail
		code   int
		table  bool // Open succeeds; Table("m") fails
	}
	write := func(rel string, b []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, rel), b, 0o600))
		}
	}
	remove := func(rel string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { require.NoError(t, os.RemoveAll(filepath.Join(dir, rel))) }
	}
	failures := []failure{
		{"corrupt CURRENT", write("tables/m/CURRENT", []byte("MANIFEST-9x\n")), CodeCorrupted, true},
		{"bad database.meta", write(dbMetaName, []byte(`{"format":1}`)), CodeCorrupted, false},
		{"database.meta of another format", write(dbMetaName, []byte(`{"format":7,"crc32c":"0","meta":{}}`)), CodeCorrupted, false},
		{"missing table directory", remove("tables/m"), CodeCorrupted, true},
		{"missing MANIFEST", remove("tables/m/MANIFEST-000001"), CodeCorrupted, true},
		{"corrupt schema.json", write("tables/m/schema.json", []byte("{")), CodeCorrupted, true},
		{"SST shorter than the MANIFEST says", func(t *testing.T, dir string) {
			ssts, err := filepath.Glob(filepath.Join(dir, "tables", "m", "*.sst"))
			require.NoError(t, err)
			require.NotEmpty(t, ssts)
			b, err := os.ReadFile(ssts[0])
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(ssts[0], b[:len(b)-1], 0o600))
		}, CodeCorrupted, true},
		{"corrupt WAL record", func(t *testing.T, dir string) {
			wals, err := filepath.Glob(filepath.Join(dir, "tables", "m", "*.wal"))
			require.NoError(t, err)
			require.NotEmpty(t, wals)
			b, err := os.ReadFile(wals[0])
			require.NoError(t, err)
			b[walHeaderSize+20] ^= 0xff // first record: a sync mark follows
			require.NoError(t, os.WriteFile(wals[0], b, 0o600))
		}, CodeCorrupted, true},
		{"tables is a file", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, tablesDirName)))
			require.NoError(t, os.WriteFile(filepath.Join(dir, tablesDirName), nil, 0o600))
		}, CodeStorage, false},
		{"locked", nil, CodeLocked, false},
	}
	// Warm-up and baseline.
	db, err := Open(pristine, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	base := leakBaseline{fds: settleFDs(t, openFDs(t)), goroutines: settleGoroutines(runtime.NumGoroutine())}
	n := soakIterations(t, 50)
	for i := 0; i < n; i++ {
		f := failures[i%len(failures)]
		dir := filepath.Join(work, "db")
		require.NoError(t, os.RemoveAll(dir))
		writeTree(t, dir, files)
		var holder *Database
		if f.damage != nil {
			f.damage(t, dir)
		} else {
			holder, err = Open(dir, nil)
			require.NoError(t, err)
		}
		db, err := Open(dir, nil)
		if f.table {
			require.NoError(t, err, f.name)
			_, err = db.Table("m")
			require.NoError(t, db.Close(), f.name)
		}
		require.Error(t, err, f.name)
		require.Equal(t, f.code, ErrorCode(err), "%s: %v", f.name, err)
		if holder != nil {
			require.NoError(t, holder.Close())
		}
		base.requireNoLeak(t, f.name)
	}
	t.Logf("%d failed opens (%d kinds), no descriptor or goroutine left behind", n, len(failures))
}
