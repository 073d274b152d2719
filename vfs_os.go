package srdb

import (
	"errors"
	"io"
	"os"
	"sort"
	"syscall"
	"unsafe"

	"golang.org/x/exp/mmap"
)

// This is the only file of the package that calls the os package's file
// functions; everything else goes through FS so that tests can inject faults.
// .ci/run greps for violations.

// OSFS returns the FS backed by the operating system.
func OSFS() FS { return osFS{} }

type osFS struct{}

const (
	fileMode = 0o600 // every file SRDB creates
	dirMode  = 0o700 // every directory SRDB creates
)

func (osFS) Create(name string) (File, error) {
	return asOSFile(os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, fileMode))
}

func (osFS) Open(name string) (File, error) { return asOSFile(os.Open(name)) }

func (osFS) OpenReadWrite(name string) (File, error) {
	return asOSFile(os.OpenFile(name, os.O_RDWR, 0))
}

// osFile is an *os.File with the optional File methods (vfs.go):
// Preallocate and SyncData.
type osFile struct{ *os.File }

// asOSFile wraps the result of an os open call.
func asOSFile(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Preallocate makes the file at least size bytes long with fallocate(2)
// (mode 0: the blocks are allocated and the size set; the new bytes read
// as zeros). A file already that long is left as it is. File systems
// without fallocate return an error (EOPNOTSUPP); callers then write
// without preallocating.
func (f osFile) Preallocate(size int64) error {
	fi, err := f.File.Stat()
	if err != nil {
		return err
	}
	cur := fi.Size()
	if size <= cur {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = syscall.Fallocate(int(fd), 0, cur, size-cur)
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: ferr}
	}
	return nil
}

// SyncData flushes the file's data, and the metadata needed to read it back
// (its size, its block map), to stable storage: fdatasync(2).
func (f osFile) SyncData() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Link(oldname, newname string) error   { return os.Link(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) RemoveAll(name string) error          { return os.RemoveAll(name) }
func (osFS) MkdirAll(name string) error           { return os.MkdirAll(name, dirMode) }
func (osFS) Stat(name string) (os.FileInfo, error) {
	return os.Stat(name)
}

func (osFS) List(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Lock takes flock(LOCK_EX|LOCK_NB) on the named file. flock locks belong to
// the open file description, so a second Open in the same process also fails,
// which is what we want: one Database per directory.
func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// Map maps the file with golang.org/x/exp/mmap.
func (osFS) Map(name string) (MappedFile, error) {
	r, err := mmap.Open(name)
	if err != nil {
		return nil, err
	}
	m, err := newOSMapping(r)
	if err != nil {
		return nil, err
	}
	m.name = name
	return m, nil
}

// osMapping exposes the bytes of an x/exp/mmap mapping so that B+Tree nodes
// and rows are read in place rather than copied by ReadAt.
//
// mmap.ReaderAt keeps the mapping as its only field, `data []byte`, but does
// not export it. newOSMapping reads that field through unsafe and then checks
// it against the public API (length and the bytes at the first, middle and
// last offsets). If a future version of x/exp/mmap changes its layout, the
// check fails and the mapping falls back to a private copy read through
// ReadAt: slower, never wrong.
type osMapping struct {
	r      *mmap.ReaderAt
	data   []byte
	mapped bool   // data is the kernel mapping itself, not a private copy
	name   string // the file mapped (EvictPages)
}

func newOSMapping(r *mmap.ReaderAt) (*osMapping, error) {
	m := &osMapping{r: r}
	if view, ok := mmapView(r); ok {
		m.data, m.mapped = view, true
		return m, nil
	}
	buf := make([]byte, r.Len())
	if _, err := r.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		r.Close()
		return nil, err
	}
	m.data = buf
	return m, nil
}

// mmapView returns the mapped bytes of r, or false if they cannot be reached
// safely.
func mmapView(r *mmap.ReaderAt) ([]byte, bool) {
	if unsafe.Sizeof(*r) != unsafe.Sizeof([]byte(nil)) {
		return nil, false
	}
	view := *(*[]byte)(unsafe.Pointer(r))
	n := r.Len()
	if len(view) != n {
		return nil, false
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if i >= 0 && i < n && view[i] != r.At(i) {
			return nil, false
		}
	}
	return view[:n:n], true
}

func (m *osMapping) Bytes() []byte { return m.data }

// DropPages removes the mapping's pages from the process's resident set
// (madvise MADV_DONTNEED). The mapping stays valid: the next access to a
// page faults it back in from the page cache, with the same bytes (the file
// is read-only and never modified while mapped). Compaction calls it on its
// inputs as it reads through them, so that reading a few hundred MB of SSTs
// does not count them all in the process's RSS at once. A private copy (the
// fallback of newOSMapping) is left alone: DONTNEED would zero it.
func (m *osMapping) DropPages() error {
	if !m.mapped || len(m.data) == 0 {
		return nil
	}
	return syscall.Madvise(m.data, syscall.MADV_DONTNEED)
}

// EvictPages drops the mapping's pages from the resident set (DropPages)
// and then the file's pages from the page cache (posix_fadvise
// POSIX_FADV_DONTNEED, through a new descriptor of the same file: the page
// cache is the file's, whatever the descriptor). The mapping stays valid: a
// later access reads the page back from disk, with the same bytes. The page
// cache keeps pages some process maps, so the DropPages comes first.
// Compaction calls it on an input it has read to the end: the pages the
// outputs then need are the ones just freed, which on a virtual machine
// whose memory the host backs lazily costs several times less than pages
// never touched before (a 300 MB write took 1.0 s into new pages, 0.1 s
// into freed ones, here). A hint: errors are ignored.
func (m *osMapping) EvictPages() error {
	if err := m.DropPages(); err != nil || !m.mapped || m.name == "" {
		return err
	}
	f, err := os.Open(m.name)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, fd, 0, 0, fadvDontNeed, 0, 0)
	})
	return nil
}

// fadvDontNeed is POSIX_FADV_DONTNEED (linux/fadvise.h).
const fadvDontNeed = 4

func (m *osMapping) Close() error {
	m.data, m.mapped = nil, false
	return m.r.Close()
}

// mapAnon returns n bytes (n > 0) of fresh zeroed memory outside the Go
// heap: a private anonymous mapping, rounded up to whole pages (len and cap
// are the mapped length), which the garbage collector neither scans nor
// counts toward its goal. The memtable arenas use it (memtable_arena.go).
// The caller must unmapAnon it and must not touch it afterwards. It names
// no file: it lives here because this file holds the package's system
// calls.
func mapAnon(n int) ([]byte, error) {
	page := syscall.Getpagesize()
	return syscall.Mmap(-1, 0, (n+page-1)&^(page-1), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

// unmapAnon returns a mapping of mapAnon (the whole slice it returned) to
// the kernel.
func unmapAnon(b []byte) error { return syscall.Munmap(b) }
