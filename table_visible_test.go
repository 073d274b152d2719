package srdb

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of write visibility (Table.visible): no reader sees a write before
// its WAL commit succeeded, and never a write whose call returned an error.

// visFields is the schema of the visibility tests: ch is indexed.
func visFields() []Field {
	return []Field{
		{Name: "ch", Type: String, Indexed: true},
		{Name: "n", Type: Int64},
	}
}

// visOpen opens a database on fs with one table "v" (created when missing).
func visOpen(t *testing.T, fs FS, d Durability) (*Database, *Table) {
	t.Helper()
	o := DefaultOptions()
	o.FS = fs
	o.Durability = d
	o.SyncInterval = time.Hour // no background fsync: the test decides which I/O fails
	o.DisableAutoCompaction = true
	db, err := Open("/db", o)
	require.NoError(t, err)
	tbl, err := db.Table("v")
	if errors.Is(err, ErrTableNotFound) {
		s, serr := NewSchema("v", visFields())
		require.NoError(t, serr)
		tbl, err = db.CreateTable("v", s)
	}
	require.NoError(t, err)
	return db, tbl
}

// visRow is the row with value n.
func visRow(n int64) map[string]any { return map[string]any{"ch": "c", "n": n} }

// visSeen is what readers see: seq → n.
type visSeen map[int64]int64

// visRequireVisible checks that every way of reading tbl sees exactly want
// (seq → n): Get of every seq assigned, a scan, Count, Stats().Rows and an
// index query.
func visRequireVisible(t *testing.T, tbl *Table, want visSeen, what string) {
	t.Helper()
	collect := func(q *Query) visSeen {
		rows, err := q.Rows()
		require.NoError(t, err, what)
		got := visSeen{}
		for rows.Next() {
			n, _ := rows.Row().Get("n")
			got[rows.Row().Seq()] = n.(int64)
		}
		require.NoError(t, rows.Close(), what)
		return got
	}
	require.Equal(t, want, collect(tbl.Query()), "%s: scan", what)
	require.Equal(t, want, collect(tbl.Query().Eq("ch", "c")), "%s: index query", what)
	require.Equal(t, want, collect(tbl.Query().OrderByDesc("_seq")), "%s: reverse scan", what)
	n, err := tbl.Query().Count()
	require.NoError(t, err, what)
	require.Equal(t, len(want), n, "%s: Count", what)
	n, err = tbl.Query().Eq("ch", "c").Count()
	require.NoError(t, err, what)
	require.Equal(t, len(want), n, "%s: Count via the index", what)
	st := tbl.Stats()
	require.Equal(t, int64(len(want)), st.Rows, "%s: Stats().Rows", what)
	for seq := int64(1); seq <= st.LastSeq+1; seq++ {
		r, err := tbl.Get(seq)
		v, ok := want[seq]
		if !ok {
			require.ErrorIs(t, err, ErrNotFound, "%s: Get(%d)", what, seq)
			continue
		}
		require.NoError(t, err, "%s: Get(%d)", what, seq)
		got, _ := r.Get("n")
		require.Equal(t, v, got, "%s: Get(%d)", what, seq)
		r, err = tbl.GetPartial(seq, "n")
		require.NoError(t, err, "%s: GetPartial(%d)", what, seq)
		got, _ = r.Get("n")
		require.Equal(t, v, got, "%s: GetPartial(%d)", what, seq)
	}
}

// visWrite is one kind of write a test makes fail.
type visWrite struct {
	name string
	// do runs the write against tbl whose acknowledged content is acked;
	// it returns the content readers must see if it succeeds.
	do func(tbl *Table, acked visSeen) (visSeen, error)
}

// visWrites are the writes under test: a one-row Insert, a batch, an
// Update and a Delete (of a row still in the memtable, and of a flushed
// one: acked holds seqs 1–4 flushed and 5–8 in the memtable).
func visWrites() []visWrite {
	clone := func(m visSeen) visSeen {
		c := visSeen{}
		for k, v := range m {
			c[k] = v
		}
		return c
	}
	var out []visWrite
	out = append(out, visWrite{"Insert", func(tbl *Table, acked visSeen) (visSeen, error) {
		seq := tbl.Stats().LastSeq + 1 // Insert returns 0 on error
		_, err := tbl.Insert(visRow(100))
		next := clone(acked)
		next[seq] = 100
		return next, err
	}})
	out = append(out, visWrite{"batch", func(tbl *Table, acked visSeen) (visSeen, error) {
		seq := tbl.Stats().LastSeq + 1
		_, err := tbl.Insert([]map[string]any{visRow(101), visRow(102), visRow(103)})
		next := clone(acked)
		for i := int64(0); i < 3; i++ {
			next[seq+i] = 101 + i
		}
		return next, err
	}})
	for _, seq := range []int64{2, 6} {
		where := map[int64]string{2: "SST", 6: "memtable"}[seq]
		out = append(out, visWrite{"Update of a row in the " + where, func(tbl *Table, acked visSeen) (visSeen, error) {
			err := tbl.Update(seq, map[string]any{"n": int64(-seq)})
			next := clone(acked)
			next[seq] = -seq
			return next, err
		}})
		out = append(out, visWrite{"Delete of a row in the " + where, func(tbl *Table, acked visSeen) (visSeen, error) {
			err := tbl.Delete(seq)
			next := clone(acked)
			delete(next, seq)
			return next, err
		}})
	}
	return out
}

// TestFailedWriteIsNeverVisible makes the WAL write fail (Interval mode,
// where commit is that write) and the WAL fsync fail (Sync mode) under each
// kind of write. The failed write must stay invisible to every reader —
// right after the error, after a Flush attempt and after a failed Close — and
// after a reopen every acknowledged write is there; the failed one may be
// (its record can have reached the file before the fsync failed), but only
// whole.
func TestFailedWriteIsNeverVisible(t *testing.T) {
	for _, mode := range []Durability{DurabilityInterval, DurabilitySync} {
		for _, w := range visWrites() {
			what := fmt.Sprintf("%s, failed %s", mode, w.name)
			t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
				mem := newMemFS()
				ffs := newFaultFS(mem)
				db, tbl := visOpen(t, ffs, mode)
				acked := visSeen{}
				for n := int64(1); n <= 8; n++ {
					seq, err := tbl.Insert(visRow(n))
					require.NoError(t, err)
					acked[seq] = n
					if n == 4 {
						require.NoError(t, tbl.Flush())
					}
				}
				visRequireVisible(t, tbl, acked, what+": before the fault")

				if mode == DurabilitySync {
					ffs.failNth(fsOpSync, ffs.opCountOf(fsOpSync), failFromThenOn, faultSyncError)
				} else {
					ffs.failNth(fsOpWrite, ffs.opCountOf(fsOpWrite), failFromThenOn, faultEIO)
				}
				intended, err := w.do(tbl, acked)
				require.Error(t, err, what)
				require.True(t, errors.Is(err, syscall.EIO), "%s: %v", what, err)
				require.Positive(t, ffs.faultsInjected(), what)
				visRequireVisible(t, tbl, acked, what+": after the error")
				require.Error(t, tbl.Flush(), what)
				visRequireVisible(t, tbl, acked, what+": after a Flush attempt")
				_ = db.Close()

				ffs.clearFaults()
				db, tbl = visOpen(t, mem, mode)
				defer db.Close()
				require.NoError(t, db.Check())
				rows, err := tbl.Query().Rows()
				require.NoError(t, err)
				got := visSeen{}
				for rows.Next() {
					n, _ := rows.Row().Get("n")
					got[rows.Row().Seq()] = n.(int64)
				}
				require.NoError(t, rows.Close())
				// acked ⊆ got ⊆ acked ∪ failed, whole: got is acked or intended.
				if len(got) != len(acked) || fmt.Sprint(got) != fmt.Sprint(acked) {
					require.Equal(t, intended, got, "%s: after reopen: neither the acknowledged state nor the failed write whole", what)
				}
			})
		}
	}
}

// gateFS is an FS whose WAL fsyncs can be held: while armed, a File.Sync of
// a ".wal" file reports on entered and blocks until release delivers the
// result to return (nil: sync for real).
type gateFS struct {
	FS
	armed   atomic.Bool
	entered chan struct{}
	release chan error
}

func newGateFS(inner FS) *gateFS {
	return &gateFS{FS: inner, entered: make(chan struct{}, 16), release: make(chan error)}
}

func (g *gateFS) Create(name string) (File, error) {
	f, err := g.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".wal") {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

type gateFile struct {
	File
	g *gateFS
}

func (f *gateFile) Sync() error {
	if f.g.armed.Load() {
		f.g.entered <- struct{}{}
		if err := <-f.g.release; err != nil {
			return err
		}
	}
	return f.File.Sync()
}

// TestWriteInvisibleWhileCommitBlocked holds the WAL fsync of each kind of
// write (Sync mode): while the call is blocked in its commit, no reader may
// see it; once the fsync succeeds and the call returns nil, every reader
// does; when the fsync fails, none ever does.
func TestWriteInvisibleWhileCommitBlocked(t *testing.T) {
	for _, w := range visWrites() {
		for _, fail := range []bool{false, true} {
			what := fmt.Sprintf("%s, fsync fails %v", w.name, fail)
			t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
				g := newGateFS(newMemFS())
				db, tbl := visOpen(t, g, DurabilitySync)
				defer db.Close()
				acked := visSeen{}
				for n := int64(1); n <= 8; n++ {
					seq, err := tbl.Insert(visRow(n))
					require.NoError(t, err)
					acked[seq] = n
					if n == 4 {
						require.NoError(t, tbl.Flush())
					}
				}
				g.armed.Store(true)
				type result struct {
					next visSeen
					err  error
				}
				done := make(chan result, 1)
				go func() {
					next, err := w.do(tbl, acked)
					done <- result{next, err}
				}()
				<-g.entered // the write is in its fsync
				released := false
				defer func() { // unblock the write if a check below failed
					if !released {
						g.armed.Store(false)
						g.release <- nil
						<-done
					}
				}()
				visRequireVisible(t, tbl, acked, what+": while the commit is blocked")
				g.armed.Store(false)
				released = true
				if fail {
					g.release <- syscall.EIO
				} else {
					g.release <- nil
				}
				r := <-done
				if fail {
					require.Error(t, r.err, what)
					visRequireVisible(t, tbl, acked, what+": after the error")
					return
				}
				require.NoError(t, r.err, what)
				visRequireVisible(t, tbl, r.next, what+": after success")
			})
		}
	}
}

// TestConcurrentReadersSeeOnlyAcknowledgedWrites runs writers (inserts,
// updates, deletes) on a Sync-mode table whose WAL fsyncs are slow and, after
// a while, fail for good, while readers scan, count and Get. Every row
// version a reader saw must belong to a write that was acknowledged — never
// to one whose call returned an error — and every write acknowledged before
// a read started must be in what that read saw. Run it under -race.
func TestConcurrentReadersSeeOnlyAcknowledgedWrites(t *testing.T) {
	ffs := newFaultFS(newMemFS())
	slow := &slowSyncFS{FS: ffs, delay: 200 * time.Microsecond}
	db, tbl := visOpen(t, slow, DurabilitySync)
	defer db.Close()

	// Each write stores a unique n: a row version is identified by it.
	var nextN atomic.Int64
	var mu sync.Mutex
	ackedN := map[int64]bool{}  // n of every acknowledged insert or update
	failedN := map[int64]bool{} // n of every insert or update that returned an error
	var ackedSeqs []int64       // seqs of acknowledged inserts, for updates and deletes
	var failures atomic.Int64

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for wr := 0; wr < 4; wr++ {
		wg.Add(1)
		go func(wr int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := nextN.Add(1)
				var err error
				switch {
				case wr == 3 && i%3 == 1:
					mu.Lock()
					var seq int64
					if len(ackedSeqs) > 0 {
						seq = ackedSeqs[int(n)%len(ackedSeqs)]
					}
					mu.Unlock()
					if seq == 0 {
						continue
					}
					err = tbl.Update(seq, map[string]any{"n": n})
					if errors.Is(err, ErrNotFound) {
						continue
					}
				case wr == 3 && i%3 == 2:
					continue // deletes would hide what readers must see; updates suffice
				default:
					var seq int64
					seq, err = tbl.Insert(visRow(n))
					if err == nil {
						mu.Lock()
						ackedSeqs = append(ackedSeqs, seq)
						mu.Unlock()
					}
				}
				mu.Lock()
				if err != nil {
					failedN[n] = true
					failures.Add(1)
				} else {
					ackedN[n] = true
				}
				mu.Unlock()
			}
		}(wr)
	}
	seen := make([]map[int64]bool, 3) // n values each reader saw
	var readErr atomic.Pointer[string]
	for rd := range seen {
		seen[rd] = map[int64]bool{}
		wg.Add(1)
		go func(rd int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Rows acknowledged before the read starts must all be seen
				// (an insert's n, unless an acked update replaced it).
				mu.Lock()
				before := len(ackedSeqs)
				mu.Unlock()
				var q *Query
				switch rd {
				case 0:
					q = tbl.Query()
				case 1:
					q = tbl.Query().Eq("ch", "c")
				default:
					q = tbl.Query().OrderByDesc("_seq")
				}
				rows, err := q.Rows()
				if err != nil {
					continue
				}
				count := 0
				for rows.Next() {
					v, _ := rows.Row().Get("n")
					seen[rd][v.(int64)] = true
					count++
				}
				if rows.Close() != nil {
					continue
				}
				if count < before {
					msg := fmt.Sprintf("reader %d saw %d rows, %d inserts were acknowledged before it started", rd, count, before)
					readErr.CompareAndSwap(nil, &msg)
				}
			}
		}(rd)
	}
	time.Sleep(300 * time.Millisecond)
	// From now on every WAL fsync fails: the writes in flight and all
	// later ones return errors, and must never become visible.
	ffs.failNth(fsOpSync, ffs.opCountOf(fsOpSync), failFromThenOn, faultSyncError)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.Nil(t, readErr.Load())
	require.Positive(t, failures.Load(), "no write failed")
	require.NotEmpty(t, ackedN)
	for rd := range seen {
		for n := range seen[rd] {
			require.False(t, failedN[n], "reader %d saw n=%d, whose write returned an error", rd, n)
			require.True(t, ackedN[n], "reader %d saw n=%d, whose write was not acknowledged", rd, n)
		}
	}
	// The final state: exactly the acknowledged writes.
	rows, err := tbl.Query().Rows()
	require.NoError(t, err)
	for rows.Next() {
		v, _ := rows.Row().Get("n")
		require.True(t, ackedN[v.(int64)], "final scan shows n=%d, not acknowledged", v)
	}
	require.NoError(t, rows.Close())
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	mu.Lock()
	require.Equal(t, len(ackedSeqs), n)
	mu.Unlock()
}

// slowSyncFS delays every File.Sync of a WAL by delay, widening the window
// between a write's memtable insert and the end of its commit.
type slowSyncFS struct {
	FS
	delay time.Duration
}

func (s *slowSyncFS) Create(name string) (File, error) {
	f, err := s.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".wal") {
		return f, err
	}
	return &slowSyncFile{File: f, delay: s.delay}, nil
}

type slowSyncFile struct {
	File
	delay time.Duration
}

func (f *slowSyncFile) Sync() error {
	time.Sleep(f.delay)
	return f.File.Sync()
}

// TestWriteRefusedOnceManifestFailed is the regression test of a race the
// fault sweep found: a background flush's MANIFEST update failed, and an
// Insert that started after the failed write(2) was still acknowledged
// because the table turned read-only only when the flush got back to it. A
// failed MANIFEST update must refuse every later write at once.
func TestWriteRefusedOnceManifestFailed(t *testing.T) {
	ffs := newFaultFS(newMemFS())
	db, tbl := visOpen(t, ffs, DurabilitySync)
	defer db.Close()
	_, err := tbl.Insert([]map[string]any{visRow(1)})
	require.NoError(t, err)

	// Fail the MANIFEST append of an edit applied the way a flush would,
	// without the flush's own error handling behind it.
	ffs.failAt(ffs.opCount(), failOnce, faultEIO)
	err = tbl.vs.logAndApply(&versionEdit{})
	require.Equal(t, CodeReadOnly, ErrorCode(err), "%v", err)
	ffs.clearFaults()

	_, err = tbl.Insert([]map[string]any{visRow(2)})
	require.ErrorIs(t, err, ErrReadOnly)
	require.True(t, tbl.Stats().ReadOnly)
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "only the acknowledged row is visible")
}

// TestNoFlushAfterFailedFlush: a flush that failed after its MANIFEST
// append leaves its memtable in place and the table read-only. A second
// flush of that memtable (CreateIndex's, waiting for flushMu while the
// background flush failed — CI caught CreateIndex then returning nil) must
// refuse instead of logging a second SST that holds the same rows.
func TestNoFlushAfterFailedFlush(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilitySync)
	defer db.Close()
	_, err := tbl.Insert([]map[string]any{visRow(1), visRow(2)})
	require.NoError(t, err)

	setKillPointHook(func(name string) error {
		if name == "flush.after_manifest" {
			return errIdxInjected
		}
		return nil
	})
	err = tbl.Flush()
	setKillPointHook(nil)
	require.ErrorIs(t, err, ErrReadOnly)
	imm := tbl.oldestImm()
	require.NotNil(t, imm, "the failed flush leaves its memtable")
	liveFiles := func() int {
		v := tbl.vs.current()
		defer v.unref()
		return len(v.allFiles())
	}
	require.Equal(t, 1, liveFiles(), "the failed flush logged its SST")

	require.ErrorIs(t, tbl.flushMemtable(imm), ErrReadOnly)
	require.Equal(t, 1, liveFiles(), "a second SST of the same rows was logged")
	require.ErrorIs(t, tbl.CreateIndex("n"), ErrReadOnly)
}
