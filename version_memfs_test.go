package srdb

import (
	"io"
	iofs "io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// vtMemFS is a minimal in-memory FS for the version set tests and fuzzers:
// fast (no fsync) and cloneable. Paths are cleaned slash paths; directories
// are implicit. Sync, SyncDir and Lock are no-ops.
type vtMemFS struct {
	mu    sync.Mutex
	files map[string]*vtMemData // guarded by mu
}

type vtMemData struct {
	mu   sync.Mutex
	data []byte // guarded by mu
}

func newVTMemFS() *vtMemFS { return &vtMemFS{files: map[string]*vtMemData{}} }

func vtNotExist(op, name string) error {
	return &iofs.PathError{Op: op, Path: name, Err: iofs.ErrNotExist}
}

// read returns a copy of a file's bytes (nil if absent).
func (fs *vtMemFS) read(name string) []byte {
	fs.mu.Lock()
	d := fs.files[path.Clean(name)]
	fs.mu.Unlock()
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.data)
}

// write replaces a file's bytes.
func (fs *vtMemFS) write(name string, b []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files[path.Clean(name)] = &vtMemData{data: slices.Clone(b)}
}

func (fs *vtMemFS) open(name string, create, trunc bool) (File, error) {
	name = path.Clean(name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ok := fs.files[name]
	if !ok {
		if !create {
			return nil, vtNotExist("open", name)
		}
		d = &vtMemData{}
		fs.files[name] = d
	}
	if trunc {
		d.mu.Lock()
		d.data = nil
		d.mu.Unlock()
	}
	return &vtMemFile{name: name, d: d}, nil
}

func (fs *vtMemFS) Create(name string) (File, error)        { return fs.open(name, true, true) }
func (fs *vtMemFS) Open(name string) (File, error)          { return fs.open(name, false, false) }
func (fs *vtMemFS) OpenReadWrite(name string) (File, error) { return fs.open(name, false, false) }

func (fs *vtMemFS) Rename(oldname, newname string) error {
	oldname, newname = path.Clean(oldname), path.Clean(newname)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ok := fs.files[oldname]
	if !ok {
		return vtNotExist("rename", oldname)
	}
	delete(fs.files, oldname)
	fs.files[newname] = d
	return nil
}

func (fs *vtMemFS) Remove(name string) error {
	name = path.Clean(name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.files[name]; !ok {
		return vtNotExist("remove", name)
	}
	delete(fs.files, name)
	return nil
}

func (fs *vtMemFS) RemoveAll(name string) error {
	name = path.Clean(name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for n := range fs.files {
		if n == name || strings.HasPrefix(n, name+"/") {
			delete(fs.files, n)
		}
	}
	return nil
}

func (fs *vtMemFS) MkdirAll(string) error { return nil }

func (fs *vtMemFS) List(dir string) ([]string, error) {
	dir = path.Clean(dir)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var names []string
	for n := range fs.files {
		if rest, ok := strings.CutPrefix(n, dir+"/"); ok && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (fs *vtMemFS) Stat(name string) (os.FileInfo, error) {
	name = path.Clean(name)
	fs.mu.Lock()
	d, ok := fs.files[name]
	fs.mu.Unlock()
	if !ok {
		return nil, vtNotExist("stat", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return vtMemInfo{name: path.Base(name), size: int64(len(d.data))}, nil
}

func (fs *vtMemFS) SyncDir(string) error { return nil }

func (fs *vtMemFS) Lock(string) (io.Closer, error) { return io.NopCloser(nil), nil }

func (fs *vtMemFS) Map(name string) (MappedFile, error) {
	return nil, &iofs.PathError{Op: "map", Path: name, Err: iofs.ErrInvalid}
}

type vtMemFile struct {
	name string
	d    *vtMemData
	off  int64
}

func (f *vtMemFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *vtMemFile) ReadAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if off < 0 {
		return 0, iofs.ErrInvalid
	}
	if off >= int64(len(f.d.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *vtMemFile) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	end := f.off + int64(len(p))
	if end > int64(len(f.d.data)) {
		f.d.data = append(f.d.data, make([]byte, end-int64(len(f.d.data)))...)
	}
	copy(f.d.data[f.off:], p)
	f.off = end
	return len(p), nil
}

func (f *vtMemFile) Close() error { return nil }
func (f *vtMemFile) Sync() error  { return nil }

func (f *vtMemFile) Truncate(size int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if size < int64(len(f.d.data)) {
		f.d.data = f.d.data[:size]
	} else {
		f.d.data = append(f.d.data, make([]byte, size-int64(len(f.d.data)))...)
	}
	return nil
}

func (f *vtMemFile) Stat() (os.FileInfo, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return vtMemInfo{name: path.Base(f.name), size: int64(len(f.d.data))}, nil
}

type vtMemInfo struct {
	name string
	size int64
}

func (i vtMemInfo) Name() string       { return i.name }
func (i vtMemInfo) Size() int64        { return i.size }
func (i vtMemInfo) Mode() os.FileMode  { return 0o600 }
func (i vtMemInfo) ModTime() time.Time { return time.Time{} }
func (i vtMemInfo) IsDir() bool        { return false }
func (i vtMemInfo) Sys() any           { return nil }
