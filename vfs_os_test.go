package srdb

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/exp/mmap"
)

func TestOSFSLockTwice(t *testing.T) {
	fsys := OSFS()
	name := filepath.Join(t.TempDir(), "LOCK")
	l1, err := fsys.Lock(name)
	require.NoError(t, err)
	_, err = fsys.Lock(name)
	require.ErrorIs(t, err, ErrLocked)
	assert.Equal(t, CodeLocked, ErrorCode(err))
	require.NoError(t, l1.Close())

	l2, err := fsys.Lock(name)
	require.NoError(t, err, "a released lock can be taken again")
	_, err = fsys.Lock(name)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, l2.Close())
}

func TestOSFSMapMatchesFile(t *testing.T) {
	fsys := OSFS()
	dir := t.TempDir()
	big := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(big)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"empty", nil}, {"one byte", []byte{7}}, {"1MiB", big}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			f, err := fsys.Create(path)
			require.NoError(t, err)
			_, err = f.Write(tc.data)
			require.NoError(t, err)
			require.NoError(t, f.Close())

			m, err := fsys.Map(path)
			require.NoError(t, err)
			require.Len(t, m.Bytes(), len(tc.data))
			require.True(t, bytes.Equal(tc.data, m.Bytes()), "mapped bytes differ from the file")
			if len(tc.data) > 0 {
				// Zero copy: Bytes is the mapping itself, not a copy.
				om := m.(*osMapping)
				view, ok := mmapView(om.r)
				require.True(t, ok)
				assert.Equal(t, unsafe.SliceData(view), unsafe.SliceData(m.Bytes()))
			}
			require.NoError(t, m.Close())
		})
	}
	_, err := fsys.Map(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestMmapViewOnThisPlatform checks that the unsafe view of x/exp/mmap's
// private field works with the pinned version, so SST reads are zero-copy.
func TestMmapViewOnThisPlatform(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	r, err := mmap.Open(path)
	require.NoError(t, err)
	defer r.Close()
	view, ok := mmapView(r)
	require.True(t, ok, "mmapView must reach the mapping on this platform")
	require.Equal(t, data, view)
	require.Equal(t, len(view), cap(view), "the view must not allow appends into the mapping")
}

func TestOSFSListSorted(t *testing.T) {
	fsys := OSFS()
	dir := t.TempDir()
	for _, name := range []string{"zeta", "alpha", "000010.sst", "000002.sst", "MANIFEST"} {
		f, err := fsys.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	require.NoError(t, fsys.MkdirAll(filepath.Join(dir, "beta")))
	names, err := fsys.List(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"000002.sst", "000010.sst", "MANIFEST", "alpha", "beta", "zeta"}, names)
	assert.True(t, slices.IsSorted(names))
	_, err = fsys.List(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestOSFSPermissions(t *testing.T) {
	fsys := OSFS()
	dir := t.TempDir()
	nested := filepath.Join(dir, "a", "b", "c")
	require.NoError(t, fsys.MkdirAll(nested))
	for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), nested} {
		fi, err := fsys.Stat(d)
		require.NoError(t, err)
		require.True(t, fi.IsDir())
		assert.Zero(t, fi.Mode().Perm()&0o077, "%s: mode %v is open to group/other", d, fi.Mode())
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm()&0o700, d)
	}

	f, err := fsys.Create(filepath.Join(nested, "file"))
	require.NoError(t, err)
	fi, err := f.Stat()
	require.NoError(t, err)
	assert.Zero(t, fi.Mode().Perm()&0o077, "file mode %v is open to group/other", fi.Mode())
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm()&0o600)
	require.NoError(t, f.Close())

	l, err := fsys.Lock(filepath.Join(dir, "LOCK"))
	require.NoError(t, err)
	fi, err = fsys.Stat(filepath.Join(dir, "LOCK"))
	require.NoError(t, err)
	assert.Zero(t, fi.Mode().Perm()&0o077)
	require.NoError(t, l.Close())

	require.NoError(t, writeFileAtomic(fsys, dir, "CURRENT", []byte("x"), "test"))
	fi, err = fsys.Stat(filepath.Join(dir, "CURRENT"))
	require.NoError(t, err)
	assert.Zero(t, fi.Mode().Perm()&0o077)
}

func TestOSFSFileOperations(t *testing.T) {
	fsys := OSFS()
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	f, err := fsys.Create(path)
	require.NoError(t, err)
	_, err = f.Write([]byte("hello world"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(5))
	require.NoError(t, f.Close())
	require.NoError(t, fsys.SyncDir(dir))

	f, err = fsys.OpenReadWrite(path)
	require.NoError(t, err)
	buf := make([]byte, 10)
	n, err := f.ReadAt(buf, 0)
	assert.Equal(t, "hello", string(buf[:n]))
	assert.Error(t, err) // io.EOF: short read
	require.NoError(t, f.Close())

	require.NoError(t, fsys.Rename(path, filepath.Join(dir, "g")))
	_, err = fsys.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, fsys.Remove(filepath.Join(dir, "g")))
	require.ErrorIs(t, fsys.SyncDir(filepath.Join(dir, "missing")), os.ErrNotExist)
	require.NoError(t, fsys.MkdirAll(filepath.Join(dir, "t", "u")))
	require.NoError(t, fsys.RemoveAll(filepath.Join(dir, "t")))
	names, err := fsys.List(dir)
	require.NoError(t, err)
	assert.Empty(t, names)
}

func TestWriteFileAtomicOnOSFS(t *testing.T) {
	fsys := OSFS()
	dir := t.TempDir()
	require.NoError(t, writeFileAtomic(fsys, dir, "CURRENT", []byte("one"), "test"))
	require.NoError(t, writeFileAtomic(fsys, dir, "CURRENT", []byte("two"), "test"))
	got, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	require.NoError(t, err)
	assert.Equal(t, "two", string(got))
	names, err := fsys.List(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"CURRENT"}, names, "no temp file left behind")
}

// osFileFuncs lists, per import path, the functions that touch files. Only
// vfs_os.go may call them: everything else goes through FS.
var osFileFuncs = map[string][]string{
	"os": {"Open", "OpenFile", "Create", "Remove", "RemoveAll", "Rename", "Mkdir", "MkdirAll",
		"ReadFile", "WriteFile", "ReadDir", "Stat", "Lstat", "Truncate", "Chmod",
		"CreateTemp", "MkdirTemp", "Link", "Symlink", "Chtimes", "Chown", "Lchown", "DirFS", "NewFile"},
	"syscall": {"Open", "Openat", "Creat", "Mmap", "Munmap", "Flock", "Fsync", "Fdatasync",
		"Ftruncate", "Truncate", "Unlink", "Unlinkat", "Rename", "Renameat", "Mkdir", "Rmdir"},
	"golang.org/x/exp/mmap": {"Open"},
}

// osFileFuncsAllowedIn is the one file allowed to call osFileFuncs.
const osFileFuncsAllowedIn = "vfs_os.go"

// findOSFileCalls returns "file:line: pkg.Func" for every reference in src to
// a function of osFileFuncs, whatever name the package is imported under.
func findOSFileCalls(filename string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	banned := map[string]map[string]bool{} // local package name -> banned funcs
	for _, imp := range file.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		funcs, ok := osFileFuncs[path]
		if !ok {
			continue
		}
		local := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if banned[local] == nil {
			banned[local] = map[string]bool{}
		}
		for _, fn := range funcs {
			banned[local][fn] = true
		}
	}
	var found []string
	ast.Inspect(file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		pkg, ok := sel.X.(*ast.Ident)
		if ok && banned[pkg.Name][sel.Sel.Name] {
			pos := fset.Position(sel.Pos())
			found = append(found, fmt.Sprintf("%s:%d: %s.%s", filepath.Base(pos.Filename), pos.Line, pkg.Name, sel.Sel.Name))
		}
		return true
	})
	return found, nil
}

// TestOnlyVFSOSCallsOSFileFunctions enforces that only vfs_os.go may
// call the os package's file functions, so that every byte of I/O goes
// through Options.FS and can be faulted in tests.
func TestOnlyVFSOSCallsOSFileFunctions(t *testing.T) {
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	checked := 0
	var violations []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		found, err := findOSFileCalls(name, src)
		require.NoError(t, err, name)
		checked++
		if name == osFileFuncsAllowedIn {
			require.NotEmpty(t, found, "the checker should see vfs_os.go's own calls")
			continue
		}
		violations = append(violations, found...)
	}
	require.Greater(t, checked, 5)
	assert.Empty(t, violations, "only %s may call os file functions; use the FS interface", osFileFuncsAllowedIn)
}

func TestFindOSFileCallsCatchesViolations(t *testing.T) {
	src := `package srdb

import (
	stdos "os"
	"syscall"
	xmmap "golang.org/x/exp/mmap"
	"os"
)

func bad() {
	f, _ := stdos.OpenFile("x", 0, 0)
	_ = f
	_ = os.Remove
	_ = syscall.Flock
	_, _ = xmmap.Open("x")
	_ = os.Getenv("HOME") // not a file function
	_ = os.ErrNotExist    // not a function
	_ = syscall.EIO
}
`
	found, err := findOSFileCalls("bad.go", []byte(src))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"bad.go:11: stdos.OpenFile",
		"bad.go:13: os.Remove",
		"bad.go:14: syscall.Flock",
		"bad.go:15: xmmap.Open",
	}, found)
}

// TestMapAnon: mapAnon returns whole zeroed pages that can be written and
// unmapped.
func TestMapAnon(t *testing.T) {
	b, err := mapAnon(10)
	require.NoError(t, err)
	require.Len(t, b, syscall.Getpagesize())
	require.Equal(t, make([]byte, len(b)), b)
	b[len(b)-1] = 1
	require.NoError(t, unmapAnon(b))
}
