package srdb

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultWorkload exercises every operation kind of faultFS and carries on
// after failures where it can. It returns the injected errors it saw.
func faultWorkload(fsys FS, root string) []error {
	d := func(name string) string { return filepath.Join(root, name) }
	var injected []error
	ok := func(err error) bool {
		if errors.Is(err, errInjectedFault) {
			injected = append(injected, err)
		}
		return err == nil
	}
	okN := func(_ int, err error) bool { return ok(err) }
	buf := make([]byte, 5)

	ok(fsys.MkdirAll(d("d")))
	if f, err := fsys.Create(d("d/a")); ok(err) {
		okN(f.Write([]byte("hello")))
		ok(f.Sync())
		okN(f.ReadAt(buf, 0))
		ok(f.Truncate(3))
		_, err := f.Stat()
		ok(err)
		ok(f.Close())
	}
	ok(fsys.SyncDir(d("d")))
	ok(fsys.Rename(d("d/a"), d("d/b")))
	_, err := fsys.List(d("d"))
	ok(err)
	_, err = fsys.Stat(d("d/b"))
	ok(err)
	if f, err := fsys.Open(d("d/b")); ok(err) {
		okN(f.Read(buf))
		ok(f.Close())
	}
	if f, err := fsys.OpenReadWrite(d("d/b")); ok(err) {
		okN(f.Write([]byte("xy")))
		ok(f.Close())
	}
	if m, err := fsys.Map(d("d/b")); ok(err) {
		ok(m.Close())
	}
	if l, err := fsys.Lock(d("d/LOCK")); ok(err) {
		ok(l.Close())
	}
	ok(fsys.Remove(d("d/b")))
	ok(fsys.RemoveAll(d("d")))
	return injected
}

func TestFaultFSCountsEveryOperationKind(t *testing.T) {
	f := newFaultFS(newMemFS())
	require.Empty(t, faultWorkload(f, "/"))
	kinds := map[fsOp]bool{}
	for _, e := range f.opLog() {
		kinds[e.Op] = true
		assert.NoError(t, e.Err)
	}
	for op := range numFSOps {
		assert.True(t, kinds[op], "workload should exercise %s", op)
	}
	assert.Equal(t, 24, f.opCount())
	assert.Equal(t, 5, f.opCountOf(fsOpClose), "3 files, 1 mapping, 1 lock")
	assert.Equal(t, 2, f.opCountOf(fsOpWrite))
	assert.Equal(t, 2, f.opCountOf(fsOpRemove))
	assert.Equal(t, f.opCount(), f.opCountOf(fsOpAny))
	mut := 0
	for _, e := range f.opLog() {
		if e.Op.mutating() {
			mut++
		}
	}
	assert.Equal(t, mut, f.opCountOf(fsOpMutating))

	// Indices in the log are 0, 1, 2, … in order.
	for i, e := range f.opLog() {
		assert.EqualValues(t, i, e.Index)
	}

	f.reset()
	assert.Zero(t, f.opCount())
	assert.Empty(t, f.opLog())
}

func TestFaultFSOverOSFS(t *testing.T) {
	dir := t.TempDir()
	f := newFaultFS(OSFS())
	require.Empty(t, faultWorkload(f, dir))
	assert.Equal(t, 24, f.opCount())
	names, err := OSFS().List(dir)
	require.NoError(t, err)
	assert.Empty(t, names)

	// Every index fails once, on the real file system too.
	for i := range 24 {
		dir := t.TempDir()
		f := newFaultFS(OSFS())
		f.failAt(i, failOnce, faultEIO)
		require.Len(t, faultWorkload(f, dir), 1, "op %d", i)
	}
}

func TestFaultFSFailOnceAtEveryIndex(t *testing.T) {
	n := newFaultFS(newMemFS())
	faultWorkload(n, "/")
	total := n.opCount()
	for i := range total {
		f := newFaultFS(newMemFS())
		f.failAt(i, failOnce, faultEIO)
		seen := faultWorkload(f, "/")
		require.Equal(t, 1, f.faultsInjected(), "op %d", i)
		require.Len(t, seen, 1, "op %d: the injected error must reach the caller", i)
		assert.ErrorIs(t, seen[0], syscall.EIO)
		for _, e := range f.opLog() {
			if e.Index == int64(i) {
				assert.Error(t, e.Err, "op %d", i)
			} else {
				assert.NoError(t, e.Err, "op %d must pass (fault at %d)", e.Index, i)
			}
		}
	}
}

func TestFaultFSFailFromThenOn(t *testing.T) {
	n := newFaultFS(newMemFS())
	faultWorkload(n, "/")
	total := n.opCount()
	for i := range total {
		f := newFaultFS(newMemFS())
		f.failAt(i, failFromThenOn, faultEIO)
		seen := faultWorkload(f, "/")
		require.Equal(t, f.opCount()-i, f.faultsInjected(), "op %d", i)
		require.Len(t, seen, f.faultsInjected())
		for _, e := range f.opLog() {
			assert.Equal(t, e.Index >= int64(i), e.Err != nil, "op %d (fault from %d)", e.Index, i)
		}
		f.clearFaults()
		_, err := f.Stat("/")
		require.NoError(t, err, "clearFaults stops failing")
	}
}

func TestFaultFSFailedCloseStillCloses(t *testing.T) {
	mem := newMemFS()
	f := newFaultFS(mem)
	file, err := f.Create("/a")
	require.NoError(t, err)
	f.failNth(fsOpClose, 0, failOnce, faultEIO)
	err = file.Close()
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, file.(*faultFile).inner.Close(), fs.ErrClosed, "inner file must be closed")

	l, err := f.Lock("/LOCK")
	require.NoError(t, err)
	f.failNth(fsOpClose, 1, failOnce, faultEIO)
	require.ErrorIs(t, l.Close(), errInjectedFault)
	l2, err := f.Lock("/LOCK")
	require.NoError(t, err, "a lock whose release failed is released anyway")
	require.NoError(t, l2.Close())
}

func TestFaultFSShortWrite(t *testing.T) {
	mem := newMemFS()
	f := newFaultFS(mem)
	file, err := f.Create("/w")
	require.NoError(t, err)
	f.failNth(fsOpWrite, 1, failOnce, faultShortWrite)
	n, err := file.Write([]byte("0123"))
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = file.Write([]byte("abcdefghij"))
	require.Equal(t, 5, n)
	require.ErrorIs(t, err, io.ErrShortWrite)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorIs(t, err, errInjectedFault)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "write", pe.Op)
	assert.Equal(t, "/w", pe.Path)
	n, err = file.Write([]byte("Z"))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, file.Close())
	got, err := mem.readFile("/w")
	require.NoError(t, err)
	assert.Equal(t, "0123abcdeZ", string(got))
}

func TestFaultFSSilentShortWrite(t *testing.T) {
	mem := newMemFS()
	f := newFaultFS(mem)
	file, err := f.Create("/w")
	require.NoError(t, err)
	f.failNth(fsOpWrite, 0, failOnce, faultSilentShortWrite)
	n, err := file.Write([]byte("abcdefghij"))
	require.NoError(t, err, "a silent short write reports no error")
	require.Equal(t, 5, n)
	assert.Equal(t, 1, f.faultsInjected())
	log := f.opLog()
	require.ErrorIs(t, log[len(log)-1].Err, io.ErrShortWrite, "the log records the fault")
	_, err = f.Stat("/w")
	require.NoError(t, err, "the kind applies to writes only")
	n, err = file.Write([]byte("Z"))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, file.Close())
	got, err := mem.readFile("/w")
	require.NoError(t, err)
	assert.Equal(t, "abcdeZ", string(got))
}

func TestFaultFSWriteCoverage(t *testing.T) {
	f := newFaultFS(newMemFS())
	a, err := f.Create("/a")
	require.NoError(t, err)
	b, err := f.Create("/b")
	require.NoError(t, err)
	_, err = a.Write([]byte("12345"))
	require.NoError(t, err)
	written, synced := f.writeCoverage()
	assert.Equal(t, [2]int64{5, 0}, [2]int64{written, synced})
	_, err = b.Write([]byte("678"))
	require.NoError(t, err)
	require.NoError(t, b.Sync())
	written, synced = f.writeCoverage()
	assert.Equal(t, [2]int64{8, 8}, [2]int64{written, synced}, "all files together")

	f.failNth(fsOpWrite, f.opCountOf(fsOpWrite), failOnce, faultShortWrite)
	_, err = a.Write([]byte("abcd"))
	require.ErrorIs(t, err, errInjectedFault)
	f.failNth(fsOpSync, f.opCountOf(fsOpSync), failOnce, faultSyncError)
	require.Error(t, a.Sync())
	written, synced = f.writeCoverage()
	assert.Equal(t, [2]int64{8, 8}, [2]int64{written, synced}, "neither the short write nor the failed sync counts")
	_, err = a.Write([]byte("x"))
	require.NoError(t, err)
	written, synced = f.writeCoverage()
	assert.Equal(t, [2]int64{9, 8}, [2]int64{written, synced})
	f.reset()
	written, synced = f.writeCoverage()
	assert.Equal(t, [2]int64{0, 0}, [2]int64{written, synced})
}

func TestFaultFSSpareOps(t *testing.T) {
	mem := newMemFS()
	f := newFaultFS(mem)
	require.NoError(t, mem.writeFile("/a", []byte("1")))
	require.NoError(t, mem.writeFile("/b", []byte("2")))
	f.spareOps(fsOpRemove, fsOpStat)
	f.failAt(0, failFromThenOn, faultEIO)
	require.NoError(t, f.Remove("/a"), "spared: counted, not failed")
	_, err := f.Stat("/b")
	require.NoError(t, err)
	_, err = f.List("/")
	require.ErrorIs(t, err, syscall.EIO, "other kinds still fail")
	assert.Equal(t, 3, f.opCount())
	assert.Equal(t, 1, f.faultsInjected())
	f.reset()
	f.failAt(0, failOnce, faultEIO)
	require.ErrorIs(t, f.Remove("/b"), syscall.EIO, "reset forgets the spared kinds")
}

func TestFaultFSKindsApplyToTheirOperations(t *testing.T) {
	// A sync error armed at a write index does nothing; at a sync index it
	// fails the sync without syncing.
	mem := newMemFS()
	f := newFaultFS(mem)
	file, err := f.Create("/s") // op 0
	require.NoError(t, err)
	f.failAt(1, failOnce, faultSyncError)
	_, err = file.Write([]byte("x")) // op 1: not a sync
	require.NoError(t, err)
	assert.Zero(t, f.faultsInjected())

	f.failNth(fsOpSync, 1, failOnce, faultSyncError)
	require.NoError(t, file.Sync())
	require.ErrorIs(t, file.Sync(), syscall.EIO)
	require.NoError(t, file.Sync())
	f.failNth(fsOpSyncDir, 0, failFromThenOn, faultSyncError)
	require.ErrorIs(t, f.SyncDir("/"), syscall.EIO)
	require.ErrorIs(t, f.SyncDir("/"), syscall.EIO)
	_, err = file.Write([]byte("y"))
	require.NoError(t, err, "writes are not fsyncs")
	require.NoError(t, file.Close())

	f.reset()

	// A rename error leaves both names as they were.
	require.NoError(t, mem.writeFile("/r1", []byte("1")))
	require.NoError(t, mem.writeFile("/r2", []byte("2")))
	f.failNth(fsOpRename, 0, failOnce, faultRenameError)
	err = f.Rename("/r1", "/r2")
	require.ErrorIs(t, err, syscall.EIO)
	var le *fs.PathError
	assert.False(t, errors.As(err, &le), "rename errors are *os.LinkError")
	got, err := mem.readFile("/r2")
	require.NoError(t, err)
	assert.Equal(t, "2", string(got))
	require.NoError(t, f.Rename("/r1", "/r2"))

	// ENOSPC applies to mutating operations only.
	f.reset()
	f.failNth(fsOpAny, 0, failFromThenOn, faultENOSPC)
	_, err = f.Stat("/r2")
	require.NoError(t, err)
	_, err = f.List("/")
	require.NoError(t, err)
	require.ErrorIs(t, f.MkdirAll("/x"), syscall.ENOSPC)
	_, err = f.Create("/y")
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, 2, f.faultsInjected())

	// The mutating class counts only mutating operations.
	f.reset()
	f.failNth(fsOpMutating, 1, failOnce, faultEIO)
	_, err = f.Stat("/r2") // not counted by the class
	require.NoError(t, err)
	require.NoError(t, f.MkdirAll("/m1")) // mutating #0
	_, err = f.List("/")
	require.NoError(t, err)
	require.ErrorIs(t, f.MkdirAll("/m2"), syscall.EIO) // mutating #1
	require.NoError(t, f.MkdirAll("/m3"))
}

func TestFaultFSFailedSyncIsNotDurable(t *testing.T) {
	mem := newMemFS()
	require.NoError(t, mem.MkdirAll("/d"))
	mem.syncAll()
	f := newFaultFS(mem)
	file, err := f.Create("/d/t")
	require.NoError(t, err)
	require.NoError(t, f.SyncDir("/d"))
	_, err = file.Write([]byte("data"))
	require.NoError(t, err)
	f.failNth(fsOpSync, 0, failOnce, faultSyncError)
	require.Error(t, file.Sync())
	got, err := mem.crashClone(nil, 0).readFile("/d/t")
	require.NoError(t, err)
	assert.Empty(t, got, "a failed fsync must not make data durable")
}

func TestFaultFSReadFaults(t *testing.T) {
	mem := newMemFS()
	require.NoError(t, mem.writeFile("/r", []byte("abc")))
	f := newFaultFS(mem)
	file, err := f.Open("/r")
	require.NoError(t, err)
	f.failNth(fsOpRead, 0, failOnce, faultEIO)
	buf := make([]byte, 3)
	n, err := file.Read(buf)
	require.ErrorIs(t, err, syscall.EIO)
	require.Zero(t, n)
	n, err = file.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "abc", string(buf[:n]))
	f.failNth(fsOpReadAt, 0, failOnce, faultEIO)
	_, err = file.ReadAt(buf, 0)
	require.ErrorIs(t, err, syscall.EIO)
	f.failNth(fsOpMap, 0, failOnce, faultEIO)
	_, err = f.Map("/r")
	require.ErrorIs(t, err, syscall.EIO)
	m, err := f.Map("/r")
	require.NoError(t, err)
	assert.Equal(t, "abc", string(m.Bytes()))
	require.NoError(t, m.Close())
	require.NoError(t, file.Close())
}

func TestFaultFSPassesInnerErrorsThrough(t *testing.T) {
	f := newFaultFS(newMemFS())
	_, err := f.Open("/missing")
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.NotErrorIs(t, err, errInjectedFault)
	assert.Zero(t, f.faultsInjected())
}

func TestFaultFSOpLogIsBounded(t *testing.T) {
	f := newFaultFS(newMemFS())
	for range faultLogSize + 100 {
		_, _ = f.Stat("/")
	}
	log := f.opLog()
	require.Len(t, log, faultLogSize)
	assert.EqualValues(t, 100, log[0].Index)
	assert.EqualValues(t, faultLogSize+99, log[len(log)-1].Index)
	assert.Equal(t, fmt.Sprintf("%d stat /", faultLogSize+99), log[len(log)-1].String())
}

func TestFaultFSConcurrent(t *testing.T) {
	mem := newMemFS()
	f := newFaultFS(mem)
	const goroutines, perG = 8, 100
	const failFrom = 300
	f.failAt(failFrom, failFromThenOn, faultEIO)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				var err error
				if i%2 == 0 {
					_, err = f.Stat("/")
				} else {
					err = f.MkdirAll(fmt.Sprintf("/g%d", g))
				}
				if err != nil {
					assert.ErrorIs(t, err, errInjectedFault)
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, goroutines*perG, f.opCount())
	assert.Equal(t, goroutines*perG-failFrom, f.faultsInjected())
	assert.Equal(t, f.faultsInjected(), failed)
}

func TestFSOpAndFaultKindNames(t *testing.T) {
	assert.Equal(t, "syncdir", fsOpSyncDir.String())
	assert.Equal(t, "any", fsOpAny.String())
	assert.Equal(t, "mutating", fsOpMutating.String())
	assert.Equal(t, "fsOp(55)", fsOp(55).String())
	assert.Equal(t, "short write", faultShortWrite.String())
	assert.Equal(t, "silent short write", faultSilentShortWrite.String())
	assert.Equal(t, "faultKind(9)", faultKind(9).String())
	for op := range numFSOps {
		assert.NotEmpty(t, op.String())
	}
}
