package srdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vfsErrClass names the kind of an error the way the conformance transcript
// compares them: the errno, or a sentinel, never the message.
func vfsErrClass(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, fs.ErrClosed):
		return "closed"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.As(err, &errno):
		return "errno " + errno.Error()
	}
	return "other error"
}

// vfsConformance runs a fixed script of operations on fsys inside dir (an
// existing, empty directory) and returns one line per step: what was done,
// the error class and any data read. memFS must produce the same transcript
// as the OS.
func vfsConformance(fsys FS, dir string) []string {
	var out []string
	logf := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	p := func(name string) string { return filepath.Join(dir, name) }
	readAll := func(name string) string {
		f, err := fsys.Open(name)
		if err != nil {
			return vfsErrClass(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return vfsErrClass(err)
		}
		return fmt.Sprintf("%q", b)
	}
	write := func(f File, s string) string {
		n, err := f.Write([]byte(s))
		return fmt.Sprintf("%d %s", n, vfsErrClass(err))
	}
	read := func(f File, size int) string {
		buf := make([]byte, size)
		n, err := f.Read(buf)
		return fmt.Sprintf("%q %s", buf[:n], vfsErrClass(err))
	}
	readAt := func(f File, size int, off int64) string {
		buf := make([]byte, size)
		n, err := f.ReadAt(buf, off)
		return fmt.Sprintf("%q %s", buf[:n], vfsErrClass(err))
	}
	stat := func(name string) string {
		fi, err := fsys.Stat(name)
		if err != nil {
			return vfsErrClass(err)
		}
		if fi.IsDir() {
			return fmt.Sprintf("dir %s", fi.Name())
		}
		return fmt.Sprintf("file %s size %d", fi.Name(), fi.Size())
	}
	list := func(name string) string {
		names, err := fsys.List(name)
		return fmt.Sprintf("%v %s", names, vfsErrClass(err))
	}

	// Directories.
	logf("mkdirall a/b/c: %s", vfsErrClass(fsys.MkdirAll(p("a/b/c"))))
	logf("mkdirall again: %s", vfsErrClass(fsys.MkdirAll(p("a/b/c"))))
	logf("stat a: %s", stat(p("a")))

	// Create, sequential writes, reads.
	f, err := fsys.Create(p("a/f1"))
	logf("create a/f1: %s", vfsErrClass(err))
	if err == nil {
		logf("write: %s", write(f, "hello"))
		logf("write: %s", write(f, " world"))
		logf("sync: %s", vfsErrClass(f.Sync()))
		fi, err := f.Stat()
		logf("file stat: %s %s %d %v", vfsErrClass(err), fi.Name(), fi.Size(), fi.IsDir())
		logf("close: %s", vfsErrClass(f.Close()))
		logf("close twice: %s", vfsErrClass(f.Close()))
		logf("write closed: %s", write(f, "x"))
		logf("read closed: %s", read(f, 1))
		logf("readat closed: %s", readAt(f, 1, 0))
		logf("sync closed: %s", vfsErrClass(f.Sync()))
	}
	logf("contents: %s", readAll(p("a/f1")))
	logf("stat a/f1: %s", stat(p("a/f1")))

	// Read-only handle.
	f, err = fsys.Open(p("a/f1"))
	logf("open: %s", vfsErrClass(err))
	if err == nil {
		logf("write read-only: %s", write(f, "x"))
		logf("truncate read-only: %s", vfsErrClass(f.Truncate(0)))
		logf("read: %s", read(f, 4))
		logf("read: %s", read(f, 4))
		logf("read: %s", read(f, 4))
		logf("read at eof: %s", read(f, 4))
		logf("readat: %s", readAt(f, 5, 6))
		logf("readat past end: %s", readAt(f, 10, 6))
		logf("readat beyond: %s", readAt(f, 4, 100))
		logf("readat empty at end: %s", readAt(f, 0, 11))
		f.Close()
	}

	// Read-write handle: one offset shared by Read and Write, no append.
	f, err = fsys.OpenReadWrite(p("a/f1"))
	logf("openrw: %s", vfsErrClass(err))
	if err == nil {
		logf("write at 0: %s", write(f, "J"))
		logf("read: %s", read(f, 4))
		logf("write at 5: %s", write(f, "XX"))
		logf("contents: %s", readAll(p("a/f1")))
		logf("truncate 3: %s", vfsErrClass(f.Truncate(3)))
		logf("contents: %s", readAll(p("a/f1")))
		logf("truncate 6: %s", vfsErrClass(f.Truncate(6)))
		logf("write past end: %s", write(f, "Z"))
		logf("contents: %s", readAll(p("a/f1")))
		logf("truncate -1: %s", vfsErrClass(f.Truncate(-1)))
		f.Close()
	}

	// Create truncates an existing file.
	f, err = fsys.Create(p("a/f1"))
	logf("create existing: %s", vfsErrClass(err))
	if err == nil {
		logf("stat after create: %s", stat(p("a/f1")))
		logf("write: %s", write(f, "one"))
		f.Close()
	}

	// Missing files.
	_, err = fsys.Open(p("nope"))
	logf("open missing: %s", vfsErrClass(err))
	_, err = fsys.OpenReadWrite(p("nope"))
	logf("openrw missing: %s", vfsErrClass(err))
	logf("stat missing: %s", stat(p("nope")))
	logf("remove missing: %s", vfsErrClass(fsys.Remove(p("nope"))))
	logf("list missing: %s", list(p("nope")))
	_, err = fsys.Create(p("nope/f"))
	logf("create in missing dir: %s", vfsErrClass(err))
	logf("rename missing: %s", vfsErrClass(fsys.Rename(p("nope"), p("a/x"))))
	logf("mkdirall through file: %s", vfsErrClass(fsys.MkdirAll(p("a/f1/x"))))
	logf("mkdirall of file: %s", vfsErrClass(fsys.MkdirAll(p("a/f1"))))
	_, err = fsys.Create(p("a/f1/x"))
	logf("create below file: %s", vfsErrClass(err))
	_, err = fsys.Create(p("a/b"))
	logf("create over dir: %s", vfsErrClass(err))
	_, err = fsys.OpenReadWrite(p("a/b"))
	logf("openrw dir: %s", vfsErrClass(err))
	logf("list file: %s", list(p("a/f1")))

	// Rename over an existing file, rename onto a directory.
	f, err = fsys.Create(p("a/f2"))
	logf("create a/f2: %s", vfsErrClass(err))
	if err == nil {
		logf("write: %s", write(f, "two"))
		f.Close()
	}
	logf("rename f2 over f1: %s", vfsErrClass(fsys.Rename(p("a/f2"), p("a/f1"))))
	logf("contents f1: %s", readAll(p("a/f1")))
	logf("stat f2: %s", stat(p("a/f2")))
	logf("list a: %s", list(p("a")))
	logf("rename file onto dir: %s", vfsErrClass(fsys.Rename(p("a/f1"), p("a/b"))))
	logf("rename to itself: %s", vfsErrClass(fsys.Rename(p("a/f1"), p("a/f1"))))
	logf("rename dir below itself: %s", vfsErrClass(fsys.Rename(p("a/b"), p("a/b/c/d"))))
	logf("rename dir: %s", vfsErrClass(fsys.Rename(p("a/b"), p("bb"))))
	logf("list bb: %s", list(p("bb")))
	logf("rename across dirs: %s", vfsErrClass(fsys.Rename(p("a/f1"), p("bb/f1"))))
	logf("contents bb/f1: %s", readAll(p("bb/f1")))

	// List is sorted.
	logf("mkdirall l: %s", vfsErrClass(fsys.MkdirAll(p("l"))))
	for _, name := range []string{"z", "m", "c", "b10", "b2"} {
		f, err := fsys.Create(p("l/" + name))
		if err == nil {
			f.Close()
		}
	}
	logf("list l: %s", list(p("l")))

	// Remove.
	logf("remove non-empty dir: %s", vfsErrClass(fsys.Remove(p("l"))))
	logf("remove empty dir: %s", vfsErrClass(fsys.Remove(p("bb/c"))))
	logf("remove file: %s", vfsErrClass(fsys.Remove(p("l/z"))))
	logf("list l: %s", list(p("l")))
	logf("removeall l: %s", vfsErrClass(fsys.RemoveAll(p("l"))))
	logf("stat l: %s", stat(p("l")))
	logf("removeall missing: %s", vfsErrClass(fsys.RemoveAll(p("l"))))

	// Directory handles.
	f, err = fsys.Open(p("a"))
	logf("open dir: %s", vfsErrClass(err))
	if err == nil {
		logf("read dir: %s", read(f, 4))
		logf("sync dir handle: %s", vfsErrClass(f.Sync()))
		logf("close dir: %s", vfsErrClass(f.Close()))
	}
	logf("syncdir: %s", vfsErrClass(fsys.SyncDir(p("a"))))
	logf("syncdir missing: %s", vfsErrClass(fsys.SyncDir(p("nope"))))

	// Locks.
	l1, err := fsys.Lock(p("LOCK"))
	logf("lock: %s", vfsErrClass(err))
	_, err = fsys.Lock(p("LOCK"))
	logf("lock twice: %s", vfsErrClass(err))
	if l1 != nil {
		logf("unlock: %s", vfsErrClass(l1.Close()))
	}
	l2, err := fsys.Lock(p("LOCK"))
	logf("relock: %s", vfsErrClass(err))
	if l2 != nil {
		logf("unlock: %s", vfsErrClass(l2.Close()))
	}
	logf("stat LOCK: %s", stat(p("LOCK")))

	// Map.
	m, err := fsys.Map(p("bb/f1"))
	logf("map: %s", vfsErrClass(err))
	if err == nil {
		logf("mapped: %q", m.Bytes())
		logf("unmap: %s", vfsErrClass(m.Close()))
	}
	if f, err := fsys.Create(p("empty")); err == nil {
		f.Close()
	}
	m, err = fsys.Map(p("empty"))
	logf("map empty: %s", vfsErrClass(err))
	if err == nil {
		logf("mapped empty: %d", len(m.Bytes()))
		logf("unmap: %s", vfsErrClass(m.Close()))
	}
	_, err = fsys.Map(p("nope"))
	logf("map missing: %s", vfsErrClass(err))
	logf("list root: %s", list(dir))
	return out
}

func TestMemFSConformsToOSFS(t *testing.T) {
	osDir := t.TempDir()
	want := vfsConformance(OSFS(), osDir)

	mem := newMemFS()
	require.NoError(t, mem.MkdirAll(osDir)) // the same path, so transcripts match
	got := vfsConformance(mem, osDir)
	require.Equal(t, want, got)

	// A relative directory behaves the same.
	mem2 := newMemFS()
	require.NoError(t, mem2.MkdirAll("db"))
	require.Equal(t, want, vfsConformance(mem2, "db"))
}

// TestVFSConformanceCanFail checks the transcript comparison notices a
// difference: a file system whose List is unsorted fails it.
func TestVFSConformanceCanFail(t *testing.T) {
	mem := newMemFS()
	require.NoError(t, mem.MkdirAll("/x"))
	want := vfsConformance(mem, "/x")
	bad := newMemFS()
	require.NoError(t, bad.MkdirAll("/x"))
	got := vfsConformance(unsortedListFS{bad}, "/x")
	require.NotEqual(t, want, got)
}

type unsortedListFS struct{ *memFS }

func (u unsortedListFS) List(dir string) ([]string, error) {
	names, err := u.memFS.List(dir)
	slices.Reverse(names)
	return names, err
}

func TestMemFSFileInfo(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.writeFile("/d/f", []byte("abc")))
	fi, err := m.Stat("/d/f")
	require.NoError(t, err)
	assert.Equal(t, "f", fi.Name())
	assert.EqualValues(t, 3, fi.Size())
	assert.Equal(t, fs.FileMode(0o600), fi.Mode())
	assert.False(t, fi.IsDir())
	assert.True(t, fi.ModTime().IsZero())
	assert.Nil(t, fi.Sys())
	fi, err = m.Stat("/d")
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	assert.Equal(t, fs.ModeDir|0o700, fi.Mode())
	_, err = m.Stat("")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestMemFSMapIsPrivateCopy(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.writeFile("/f", []byte("before")))
	mf, err := m.Map("/f")
	require.NoError(t, err)
	require.NoError(t, m.writeFile("/f", []byte("AFTER!")))
	assert.Equal(t, "before", string(mf.Bytes()))
	require.NoError(t, mf.Close())
}

func TestMemFSHelpers(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.writeFile("/a/b/f", []byte("x")))
	require.NoError(t, m.writeFile("g", []byte("yz")))
	assert.Equal(t, []string{"/a/", "/a/b/", "/a/b/f", "/g"}, m.listAll())
	b, err := m.readFile("/g")
	require.NoError(t, err)
	assert.Equal(t, "yz", string(b))
	b[0] = 'Q' // readFile returns a copy
	b, err = m.readFile("g")
	require.NoError(t, err)
	assert.Equal(t, "yz", string(b))
	_, err = m.readFile("/nope")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = m.readFile("/a")
	assert.Error(t, err)
}

// memSetup returns a memFS with dir /db made durable.
func memSetup(t *testing.T) *memFS {
	t.Helper()
	m := newMemFS()
	require.NoError(t, m.MkdirAll("/db"))
	m.syncAll()
	return m
}

func memMustRead(t *testing.T, m *memFS, name string) string {
	t.Helper()
	b, err := m.readFile(name)
	require.NoError(t, err)
	return string(b)
}

func memWrite(t *testing.T, f File, s string) {
	t.Helper()
	n, err := f.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

func TestMemCrashUnsyncedDataLostOrKept(t *testing.T) {
	m := memSetup(t)
	f, err := m.Create("/db/f")
	require.NoError(t, err)
	memWrite(t, f, "synced;")
	require.NoError(t, f.Sync())
	require.NoError(t, m.SyncDir("/db"))
	memWrite(t, f, "unsynced")

	assert.Equal(t, "synced;", memMustRead(t, m.crashClone(nil, 0), "/db/f"))
	assert.Equal(t, "synced;unsynced", memMustRead(t, m.crashClone(nil, 1), "/db/f"))
	// Within one 4 KiB block the unsynced tail is kept or lost as a whole.
	for seed := range uint64(20) {
		got := memMustRead(t, m.crashClone(rand.New(rand.NewPCG(seed, 1)), 0.5), "/db/f")
		assert.Contains(t, []string{"synced;", "synced;unsynced"}, got)
	}
	// The original is untouched by cloning.
	assert.Equal(t, "synced;unsynced", memMustRead(t, m, "/db/f"))
}

func TestMemCrashSyncedDataAlwaysKept(t *testing.T) {
	m := memSetup(t)
	f, err := m.Create("/db/f")
	require.NoError(t, err)
	synced := bytes.Repeat([]byte("s"), 3*memBlockSize+100)
	memWrite(t, f, string(synced))
	require.NoError(t, f.Sync())
	require.NoError(t, m.SyncDir("/db"))
	memWrite(t, f, strings.Repeat("u", 2*memBlockSize))
	for _, p := range []float64{0, 0.5, 1} {
		for seed := range uint64(10) {
			got := memMustRead(t, m.crashClone(rand.New(rand.NewPCG(seed, 2)), p), "/db/f")
			require.GreaterOrEqual(t, len(got), len(synced))
			require.Equal(t, string(synced), got[:len(synced)], "p=%v seed=%d", p, seed)
		}
	}
}

func TestMemCrashEntryOfSyncedFileNeedsSyncDir(t *testing.T) {
	m := memSetup(t)
	f, err := m.Create("/db/f")
	require.NoError(t, err)
	memWrite(t, f, "data")
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())

	_, err = m.crashClone(nil, 0).Stat("/db/f")
	assert.ErrorIs(t, err, fs.ErrNotExist, "entry never synced must vanish")
	assert.Equal(t, "data", memMustRead(t, m.crashClone(nil, 1), "/db/f"))

	require.NoError(t, m.SyncDir("/db"))
	assert.Equal(t, "data", memMustRead(t, m.crashClone(nil, 0), "/db/f"))
}

func TestMemCrashDirectoryCreationNeedsParentSync(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.writeFile("/db/t/f", []byte("x")))
	m.syncAll()
	require.NoError(t, m.MkdirAll("/db/t2/sub"))
	f, err := m.Create("/db/t2/sub/g")
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, m.SyncDir("/db/t2/sub"))
	require.NoError(t, m.SyncDir("/db/t2"))

	// /db was never synced after t2 was made: the whole subtree is gone.
	assert.Equal(t, []string{"/db/", "/db/t/", "/db/t/f"}, m.crashClone(nil, 0).listAll())
	require.NoError(t, m.SyncDir("/db"))
	assert.Equal(t, []string{"/db/", "/db/t/", "/db/t/f", "/db/t2/", "/db/t2/sub/", "/db/t2/sub/g"},
		m.crashClone(nil, 0).listAll())
}

func TestMemCrashRenameDurability(t *testing.T) {
	m := memSetup(t)
	require.NoError(t, m.writeFile("/db/CURRENT", []byte("old")))
	m.syncAll()

	f, err := m.Create("/db/CURRENT.tmp")
	require.NoError(t, err)
	memWrite(t, f, "new")
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, m.Rename("/db/CURRENT.tmp", "/db/CURRENT"))

	lost := m.crashClone(nil, 0)
	assert.Equal(t, "old", memMustRead(t, lost, "/db/CURRENT"))
	assert.Equal(t, []string{"/db/", "/db/CURRENT"}, lost.listAll())
	kept := m.crashClone(nil, 1)
	assert.Equal(t, "new", memMustRead(t, kept, "/db/CURRENT"))
	assert.Equal(t, []string{"/db/", "/db/CURRENT"}, kept.listAll())
	seen := map[string]bool{}
	for seed := range uint64(40) {
		c := m.crashClone(rand.New(rand.NewPCG(seed, 3)), 0.5)
		got := memMustRead(t, c, "/db/CURRENT")
		require.Contains(t, []string{"old", "new"}, got)
		seen[got] = true
	}
	assert.Len(t, seen, 2, "p=0.5 should keep the rename for some seeds and not others")

	require.NoError(t, m.SyncDir("/db"))
	assert.Equal(t, "new", memMustRead(t, m.crashClone(nil, 0), "/db/CURRENT"))
}

func TestMemCrashBlockGranularity(t *testing.T) {
	const blocks = 4
	m := memSetup(t)
	require.NoError(t, m.writeFile("/db/f", bytes.Repeat([]byte("a"), blocks*memBlockSize)))
	m.syncAll()
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	memWrite(t, f, strings.Repeat("b", blocks*memBlockSize))

	patterns := map[string]bool{}
	for seed := range uint64(64) {
		rng := func() *rand.Rand { return rand.New(rand.NewPCG(seed, 4)) }
		got := memMustRead(t, m.crashClone(rng(), 0.5), "/db/f")
		require.Len(t, got, blocks*memBlockSize)
		var pattern []byte
		for b := range blocks {
			blk := got[b*memBlockSize : (b+1)*memBlockSize]
			c := blk[0]
			require.Equal(t, strings.Repeat(string(c), memBlockSize), blk, "block %d torn", b)
			pattern = append(pattern, c)
		}
		patterns[string(pattern)] = true
		// Deterministic: the same seed gives the same clone.
		require.Equal(t, got, memMustRead(t, m.crashClone(rng(), 0.5), "/db/f"))
	}
	assert.Greater(t, len(patterns), 4, "blocks must be kept independently: %v", patterns)
}

func TestMemCrashExtendedFileHasZeroGaps(t *testing.T) {
	const syncedLen = 100
	m := memSetup(t)
	require.NoError(t, m.writeFile("/db/f", bytes.Repeat([]byte("s"), syncedLen)))
	m.syncAll()
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	cur := bytes.Repeat([]byte("u"), 3*memBlockSize+10)
	memWrite(t, f, string(cur))

	sawGap := false
	for seed := range uint64(64) {
		got := []byte(memMustRead(t, m.crashClone(rand.New(rand.NewPCG(seed, 5)), 0.5), "/db/f"))
		// Size is the synced size or the end of the last kept block.
		require.Contains(t, []int{syncedLen, memBlockSize, 2 * memBlockSize, 3 * memBlockSize, len(cur)}, len(got))
		for b := 0; b*memBlockSize < len(got); b++ {
			blk := got[b*memBlockSize : min((b+1)*memBlockSize, len(got))]
			if bytes.Equal(blk, cur[b*memBlockSize:b*memBlockSize+len(blk)]) {
				continue // kept
			}
			// Lost: synced bytes, then zeros.
			want := make([]byte, len(blk))
			if b == 0 {
				copy(want, bytes.Repeat([]byte("s"), syncedLen))
			}
			require.Equal(t, want, blk, "seed %d block %d", seed, b)
			if b > 0 {
				sawGap = true
			}
		}
	}
	assert.True(t, sawGap, "some seed should keep a later block and lose an earlier one")
}

func TestMemCrashTruncation(t *testing.T) {
	m := memSetup(t)
	require.NoError(t, m.writeFile("/db/f", bytes.Repeat([]byte("s"), 10000)))
	m.syncAll()
	f, err := m.OpenReadWrite("/db/f")
	require.NoError(t, err)
	require.NoError(t, f.Truncate(100))
	assert.Len(t, memMustRead(t, m.crashClone(nil, 0), "/db/f"), 10000)
	assert.Len(t, memMustRead(t, m.crashClone(nil, 1), "/db/f"), 100)
	require.NoError(t, f.Sync())
	assert.Len(t, memMustRead(t, m.crashClone(nil, 0), "/db/f"), 100)

	// Create over an existing file truncates it; unsynced, the old data stays.
	require.NoError(t, m.writeFile("/db/g", []byte("old contents")))
	m.syncAll()
	g, err := m.Create("/db/g")
	require.NoError(t, err)
	memWrite(t, g, "NEW")
	assert.Equal(t, "old contents", memMustRead(t, m.crashClone(nil, 0), "/db/g"))
	assert.Equal(t, "NEW", memMustRead(t, m.crashClone(nil, 1), "/db/g"))
	require.NoError(t, g.Sync())
	assert.Equal(t, "NEW", memMustRead(t, m.crashClone(nil, 0), "/db/g"))
}

// TestMemCrashDirOpsArePrefix checks that a directory keeps a prefix of its
// unsynced changes: listing after a crash is always one of the states the
// directory went through.
func TestMemCrashDirOpsArePrefix(t *testing.T) {
	m := memSetup(t)
	var states [][]string
	record := func() { states = append(states, m.listAll()) }
	record()
	create := func(name string) {
		f, err := m.Create(name)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	create("/db/a")
	record()
	create("/db/b")
	record()
	require.NoError(t, m.Rename("/db/a", "/db/c"))
	record()
	require.NoError(t, m.Remove("/db/b"))
	record()
	create("/db/d")
	record()

	seen := map[int]bool{}
	for seed := range uint64(200) {
		got := m.crashClone(rand.New(rand.NewPCG(seed, 6)), 0.5).listAll()
		i := slices.IndexFunc(states, func(s []string) bool { return slices.Equal(s, got) })
		require.GreaterOrEqual(t, i, 0, "seed %d: %v is not a prefix state", seed, got)
		seen[i] = true
	}
	assert.Len(t, seen, len(states), "every prefix should occur over 200 seeds")
}

func TestMemCrashRemoveAllUnsynced(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.writeFile("/db/t/a", []byte("a")))
	require.NoError(t, m.writeFile("/db/t/s/b", []byte("b")))
	m.syncAll()
	before := m.listAll()
	require.NoError(t, m.RemoveAll("/db/t"))
	assert.Equal(t, []string{"/db/"}, m.listAll())
	assert.Equal(t, before, m.crashClone(nil, 0).listAll())
	assert.Equal(t, []string{"/db/"}, m.crashClone(nil, 1).listAll())
	require.NoError(t, m.SyncDir("/db"))
	assert.Equal(t, []string{"/db/"}, m.crashClone(nil, 0).listAll())
}

func TestMemCrashCrossDirRenameGivesIndependentFiles(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.writeFile("/a/f", []byte("data")))
	require.NoError(t, m.MkdirAll("/b"))
	m.syncAll()
	require.NoError(t, m.Rename("/a/f", "/b/f"))
	require.NoError(t, m.SyncDir("/b"))
	// /a's removal is not durable, /b's addition is: the file shows twice.
	c := m.crashClone(nil, 0)
	assert.Equal(t, []string{"/a/", "/a/f", "/b/", "/b/f"}, c.listAll())
	require.NoError(t, c.writeFile("/a/f", []byte("changed")))
	assert.Equal(t, "data", memMustRead(t, c, "/b/f"))
}

func TestMemCrashDirectoryCycleIsBroken(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.MkdirAll("/A/B"))
	m.syncAll()
	require.NoError(t, m.Rename("/A/B", "/B"))     // A: remove B; root: add B
	require.NoError(t, m.Rename("/A", "/B/A"))     // root: remove A; B: add A
	require.NoError(t, m.SyncDir("/B"))            // B's entry A is durable
	require.NoError(t, m.SyncDir("/"))             // root: B, no A
	require.NoError(t, m.writeFile("/B/A/f", nil)) // keep A's node busy
	// Root durable {B}; B durable {A}; A durable {B} (its removal unsynced).
	c := m.crashClone(nil, 0)
	assert.Equal(t, []string{"/B/", "/B/A/"}, c.listAll())
}

func TestMemCrashCloneIsIndependent(t *testing.T) {
	m := memSetup(t)
	require.NoError(t, m.writeFile("/db/f", []byte("orig")))
	m.syncAll()
	c := m.crashClone(nil, 1)
	require.NoError(t, c.writeFile("/db/f", []byte("clone")))
	require.NoError(t, m.writeFile("/db/g", []byte("orig2")))
	assert.Equal(t, "orig", memMustRead(t, m, "/db/f"))
	assert.Equal(t, []string{"/db/", "/db/f"}, c.listAll())
	// The clone is fully synced: a second crash with p=0 keeps everything
	// it started with.
	c2 := m.crashClone(nil, 1)
	assert.Equal(t, c2.listAll(), c2.crashClone(nil, 0).listAll())
	assert.Equal(t, memMustRead(t, c2, "/db/g"), memMustRead(t, c2.crashClone(nil, 0), "/db/g"))
}

// TestMemCrashCloneCopyOnWrite checks that a clone's files, whose synced and
// current bytes start as one slice, keep their synced bytes when written.
func TestMemCrashCloneCopyOnWrite(t *testing.T) {
	m := memSetup(t)
	require.NoError(t, m.writeFile("/db/f", []byte("0123456789")))
	m.syncAll()
	c := m.crashClone(nil, 0)
	c.syncAll() // nothing to do, must not break sharing semantics
	f, err := c.OpenReadWrite("/db/f")
	require.NoError(t, err)
	memWrite(t, f, "AB")
	assert.Equal(t, "AB23456789", memMustRead(t, c, "/db/f"))
	assert.Equal(t, "0123456789", memMustRead(t, c.crashClone(nil, 0), "/db/f"))
	require.NoError(t, f.Truncate(4))
	assert.Equal(t, "0123456789", memMustRead(t, c.crashClone(nil, 0), "/db/f"))
	require.NoError(t, f.Sync())
	assert.Equal(t, "AB23", memMustRead(t, c.crashClone(nil, 0), "/db/f"))
	assert.Equal(t, "0123456789", memMustRead(t, m, "/db/f"))

	c2 := m.crashClone(nil, 0)
	g, err := c2.OpenReadWrite("/db/f")
	require.NoError(t, err)
	require.NoError(t, g.Truncate(20)) // growth in place must not reach synced
	assert.Equal(t, "0123456789", memMustRead(t, c2.crashClone(nil, 0), "/db/f"))
}

func TestMemFSRemovedOpenFileKeepsData(t *testing.T) {
	m := memSetup(t)
	f, err := m.Create("/db/f")
	require.NoError(t, err)
	memWrite(t, f, "abc")
	require.NoError(t, m.Remove("/db/f"))
	memWrite(t, f, "def")
	buf := make([]byte, 6)
	n, err := f.ReadAt(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, "abcdef", string(buf[:n]))
	require.NoError(t, f.Close())
}

func TestMemFSOpHook(t *testing.T) {
	m := newMemFS()
	type call struct {
		i    int
		op   fsOp
		path string
	}
	var calls []call
	m.setOpHook(func(i int, op fsOp, path string) error {
		calls = append(calls, call{i, op, path})
		return nil
	})
	require.NoError(t, m.MkdirAll("/d"))
	f, err := m.Create("/d/f")
	require.NoError(t, err)
	memWrite(t, f, "x")
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(0))
	_, err = f.Stat() // not mutating
	require.NoError(t, err)
	require.NoError(t, f.Close()) // not mutating
	_, err = m.List("/d")         // not mutating
	require.NoError(t, err)
	require.NoError(t, m.Rename("/d/f", "/d/g"))
	require.NoError(t, m.SyncDir("/d"))
	l, err := m.Lock("/d/LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, m.Remove("/d/g"))
	require.NoError(t, m.RemoveAll("/d"))
	assert.Equal(t, []call{
		{0, fsOpMkdir, "/d"}, {1, fsOpCreate, "/d/f"}, {2, fsOpWrite, "/d/f"}, {3, fsOpSync, "/d/f"},
		{4, fsOpTruncate, "/d/f"}, {5, fsOpRename, "/d/f"}, {6, fsOpSyncDir, "/d"}, {7, fsOpLock, "/d/LOCK"},
		{8, fsOpRemove, "/d/g"}, {9, fsOpRemove, "/d"},
	}, calls)
	assert.Equal(t, 10, m.opCount())

	// A hook error fails the operation without performing it.
	stop := errors.New("power cut")
	m.setOpHook(func(int, fsOp, string) error { return stop })
	_, err = m.Create("/f")
	assert.ErrorIs(t, err, stop)
	m.setOpHook(nil)
	_, err = m.Stat("/f")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, 11, m.opCount())
}

// memCrashSweep runs work on a fresh memFS from setup once to count its
// mutating operations, then for every crash index k (including "after the
// last operation") and every p, runs it again, takes a crash clone before
// operation k, and calls check on the clone.
func memCrashSweep(t *testing.T, setup func() *memFS, work func(m *memFS) error,
	check func(t *testing.T, k int, p float64, clone *memFS)) {
	t.Helper()
	m := setup()
	base := m.opCount()
	require.NoError(t, work(m))
	n := m.opCount() - base
	require.Positive(t, n)
	errCrashed := errors.New("crashed")
	for k := 0; k <= n; k++ {
		for _, p := range []float64{0, 0.5, 1} {
			for seed := range uint64(3) {
				m := setup()
				rng := rand.New(rand.NewPCG(uint64(k), seed))
				var clone *memFS
				m.setOpHook(func(i int, op fsOp, path string) error {
					if clone == nil && i-base == k {
						clone = m.crashClone(rng, p)
					}
					if clone != nil {
						return errCrashed
					}
					return nil
				})
				err := work(m)
				if clone == nil {
					require.NoError(t, err)
					clone = m.crashClone(rng, p)
				} else {
					require.ErrorIs(t, err, errCrashed)
				}
				check(t, k, p, clone)
			}
		}
	}
}

func TestWriteFileAtomicSurvivesEveryCrashPoint(t *testing.T) {
	oldData := bytes.Repeat([]byte("old "), 3000) // 12000 bytes, 3 blocks
	newData := bytes.Repeat([]byte("NEW!"), 2500) // 10000 bytes
	setup := func() *memFS {
		m := newMemFS()
		if err := m.writeFile("/db/CURRENT", oldData); err != nil {
			t.Fatal(err)
		}
		m.syncAll()
		return m
	}
	work := func(m *memFS) error {
		return writeFileAtomic(m, "/db", "CURRENT", newData, "test")
	}
	var n int
	memCrashSweep(t, setup, work, func(t *testing.T, k int, p float64, c *memFS) {
		got, err := c.readFile("/db/CURRENT")
		require.NoError(t, err, "crash at op %d p=%v", k, p)
		if !bytes.Equal(got, oldData) && !bytes.Equal(got, newData) {
			t.Fatalf("crash at op %d p=%v: CURRENT is neither old nor new (%d bytes)", k, p, len(got))
		}
		n = max(n, k)
	})
	// After the last operation (SyncDir) the new contents are durable.
	m := setup()
	require.NoError(t, work(m))
	for _, p := range []float64{0, 0.5, 1} {
		assert.Equal(t, newData, []byte(memMustRead(t, m.crashClone(rand.New(rand.NewPCG(1, 1)), p), "/db/CURRENT")))
	}
	assert.Equal(t, 5, n, "create, write, sync, rename, syncdir: 5 ops, crash points 0..5")
}

// TestNaiveOverwriteIsCaughtByCrashSweep shows the sweep can fail: writing
// CURRENT in place leaves an empty or torn file at some crash point.
func TestNaiveOverwriteIsCaughtByCrashSweep(t *testing.T) {
	oldData := bytes.Repeat([]byte("old "), 3000)
	newData := bytes.Repeat([]byte("NEW!"), 2500)
	setup := func() *memFS {
		m := newMemFS()
		if err := m.writeFile("/db/CURRENT", oldData); err != nil {
			t.Fatal(err)
		}
		m.syncAll()
		return m
	}
	work := func(m *memFS) error {
		f, err := m.Create("/db/CURRENT")
		if err != nil {
			return err
		}
		if _, err := f.Write(newData); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return f.Close()
	}
	bad := 0
	memCrashSweep(t, setup, work, func(t *testing.T, k int, p float64, c *memFS) {
		got, err := c.readFile("/db/CURRENT")
		if err != nil || (!bytes.Equal(got, oldData) && !bytes.Equal(got, newData)) {
			bad++
		}
	})
	assert.Positive(t, bad, "an in-place overwrite must be caught")
}

func TestMemFSConcurrentUse(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.MkdirAll("/db"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("/db/f%d", g)
			f, err := m.Create(name)
			if !assert.NoError(t, err) {
				return
			}
			for i := range 200 {
				_, err := f.Write([]byte{byte(i)})
				assert.NoError(t, err)
				if i%10 == 0 {
					assert.NoError(t, f.Sync())
					assert.NoError(t, m.SyncDir("/db"))
				}
				buf := make([]byte, 1)
				_, err = f.ReadAt(buf, int64(i))
				assert.NoError(t, err)
			}
			assert.NoError(t, f.Close())
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for range 50 {
			c := m.crashClone(rng, 0.5)
			_ = c.listAll()
			_, _ = m.List("/db")
		}
	}()
	wg.Wait()
	for g := range 4 {
		assert.Len(t, memMustRead(t, m, fmt.Sprintf("/db/f%d", g)), 200)
	}
	// 4 × (create + 200 writes + 20 × (sync + syncdir)) + mkdir.
	assert.Equal(t, 1+4*(1+200+40), m.opCount())
}

// BenchmarkMemFSWriteSync measures a WAL-like pattern: 256-byte appends with
// an fsync every 16 writes.
func BenchmarkMemFSWriteSync(b *testing.B) {
	m := newMemFS()
	f, err := m.Create("/wal")
	require.NoError(b, err)
	rec := make([]byte, 256)
	b.SetBytes(int64(len(rec)))
	for i := 0; b.Loop(); i++ {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMemFSCrashClone measures a p=0.5 clone of 8 files of 1 MiB, each
// with its last 256 KiB unsynced.
func BenchmarkMemFSCrashClone(b *testing.B) {
	m := newMemFS()
	data := bytes.Repeat([]byte("x"), 1<<20)
	for i := range 8 {
		f, err := m.Create(fmt.Sprintf("/f%d", i))
		require.NoError(b, err)
		_, err = f.Write(data[:768<<10])
		require.NoError(b, err)
		require.NoError(b, f.Sync())
		_, err = f.Write(data[768<<10:])
		require.NoError(b, err)
	}
	require.NoError(b, m.SyncDir("/"))
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(8 << 20)
	for b.Loop() {
		_ = m.crashClone(rng, 0.5)
	}
}
