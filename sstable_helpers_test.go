package srdb

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sstMemFS is a minimal in-memory FS for the SST tests: fast enough for
// hundreds of corrupted copies and fuzzing, and it lets a test edit a file's
// bytes directly. Map returns the stored slice itself.
type sstMemFS struct {
	mu    sync.Mutex // mu guards files
	files map[string][]byte
}

func newSSTMemFS() *sstMemFS { return &sstMemFS{files: map[string][]byte{}} }

func (m *sstMemFS) get(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[filepath.Clean(name)]
	return b, ok
}

func (m *sstMemFS) set(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[filepath.Clean(name)] = b
}

func (m *sstMemFS) Create(name string) (File, error) {
	m.set(name, nil)
	return &sstMemFile{fs: m, name: filepath.Clean(name)}, nil
}

func (m *sstMemFS) Open(name string) (File, error) {
	if _, ok := m.get(name); !ok {
		return nil, iofs.ErrNotExist
	}
	return &sstMemFile{fs: m, name: filepath.Clean(name)}, nil
}

func (m *sstMemFS) OpenReadWrite(name string) (File, error) { return m.Open(name) }

func (m *sstMemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[filepath.Clean(oldname)]
	if !ok {
		return iofs.ErrNotExist
	}
	delete(m.files, filepath.Clean(oldname))
	m.files[filepath.Clean(newname)] = b
	return nil
}

func (m *sstMemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[filepath.Clean(name)]; !ok {
		return iofs.ErrNotExist
	}
	delete(m.files, filepath.Clean(name))
	return nil
}

func (m *sstMemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := filepath.Clean(name) + string(filepath.Separator)
	for k := range m.files {
		if k == filepath.Clean(name) || strings.HasPrefix(k, prefix) {
			delete(m.files, k)
		}
	}
	return nil
}

func (m *sstMemFS) MkdirAll(string) error { return nil }

func (m *sstMemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for k := range m.files {
		if filepath.Dir(k) == filepath.Clean(dir) {
			names = append(names, filepath.Base(k))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *sstMemFS) Stat(name string) (iofs.FileInfo, error) {
	b, ok := m.get(name)
	if !ok {
		return nil, iofs.ErrNotExist
	}
	return sstMemInfo{name: filepath.Base(name), size: int64(len(b))}, nil
}

func (m *sstMemFS) SyncDir(string) error { return nil }

func (m *sstMemFS) Lock(string) (io.Closer, error) { return io.NopCloser(nil), nil }

func (m *sstMemFS) Map(name string) (MappedFile, error) {
	b, ok := m.get(name)
	if !ok {
		return nil, iofs.ErrNotExist
	}
	return sstMemMapping{b: b}, nil
}

type sstMemMapping struct{ b []byte }

func (mm sstMemMapping) Bytes() []byte { return mm.b }
func (mm sstMemMapping) Close() error  { return nil }

// sstMemFile is an open file of sstMemFS with its own position.
type sstMemFile struct {
	fs   *sstMemFS
	name string
	pos  int64
}

func (f *sstMemFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *sstMemFile) ReadAt(p []byte, off int64) (int, error) {
	b, _ := f.fs.get(f.name)
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *sstMemFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	b := f.fs.files[f.name]
	end := f.pos + int64(len(p))
	if end > int64(len(b)) {
		nb := make([]byte, end, max(end, 2*int64(cap(b))))
		copy(nb, b)
		b = nb
	}
	copy(b[f.pos:], p)
	f.fs.files[f.name] = b
	f.pos = end
	return len(p), nil
}

func (f *sstMemFile) Close() error { return nil }
func (f *sstMemFile) Sync() error  { return nil }

func (f *sstMemFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	b := f.fs.files[f.name]
	if size <= int64(len(b)) {
		f.fs.files[f.name] = b[:size]
	} else {
		f.fs.files[f.name] = append(b, make([]byte, size-int64(len(b)))...)
	}
	return nil
}

func (f *sstMemFile) Stat() (iofs.FileInfo, error) { return f.fs.Stat(f.name) }

type sstMemInfo struct {
	name string
	size int64
}

func (i sstMemInfo) Name() string        { return i.name }
func (i sstMemInfo) Size() int64         { return i.size }
func (i sstMemInfo) Mode() iofs.FileMode { return 0o600 }
func (i sstMemInfo) ModTime() time.Time  { return time.Time{} }
func (i sstMemInfo) IsDir() bool         { return false }
func (i sstMemInfo) Sys() any            { return nil }

// sstFaultMode says how sstFaultFS fails the chosen operation.
type sstFaultMode int

const (
	sstFaultErr   sstFaultMode = iota // the operation returns an error
	sstFaultShort                     // a write writes half its bytes and reports no error
)

type sstInjectedError struct{ op string }

func (e sstInjectedError) Error() string { return "injected failure of " + e.op }

// sstFaultFS wraps an FS and fails its failAt-th counted operation (once,
// or from then on when sticky). Counted: Create, OpenReadWrite, Rename,
// SyncDir and every File Write, Sync, Close and Stat. Remove is never
// failed, so cleanup after a failure is observable.
type sstFaultFS struct {
	FS
	mu     sync.Mutex // mu guards ops and fired
	ops    int
	failAt int
	sticky bool
	mode   sstFaultMode
	fired  bool
}

// fail reports whether the operation op must fail now.
func (f *sstFaultFS) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.ops
	f.ops++
	if n == f.failAt || (f.sticky && n > f.failAt) {
		f.fired = true
		return true
	}
	return false
}

func (f *sstFaultFS) Create(name string) (File, error) {
	if f.fail() {
		return nil, sstInjectedError{"create"}
	}
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &sstFaultFile{File: file, fs: f}, nil
}

func (f *sstFaultFS) OpenReadWrite(name string) (File, error) {
	if f.fail() {
		return nil, sstInjectedError{"open"}
	}
	file, err := f.FS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &sstFaultFile{File: file, fs: f}, nil
}

func (f *sstFaultFS) Rename(oldname, newname string) error {
	if f.fail() {
		return sstInjectedError{"rename"}
	}
	return f.FS.Rename(oldname, newname)
}

func (f *sstFaultFS) SyncDir(dir string) error {
	if f.fail() {
		return sstInjectedError{"syncdir"}
	}
	return f.FS.SyncDir(dir)
}

type sstFaultFile struct {
	File
	fs *sstFaultFS
}

func (f *sstFaultFile) Write(p []byte) (int, error) {
	if f.fs.fail() {
		if f.fs.mode == sstFaultShort && len(p) > 1 {
			return f.File.Write(p[:len(p)/2])
		}
		return 0, sstInjectedError{"write"}
	}
	return f.File.Write(p)
}

func (f *sstFaultFile) Sync() error {
	if f.fs.fail() {
		return sstInjectedError{"sync"}
	}
	return f.File.Sync()
}

func (f *sstFaultFile) Close() error {
	err := f.File.Close()
	if f.fs.fail() {
		return sstInjectedError{"close"}
	}
	return err
}

func (f *sstFaultFile) Stat() (iofs.FileInfo, error) {
	if f.fs.fail() {
		return nil, sstInjectedError{"stat"}
	}
	return f.File.Stat()
}

// sstTestEntry is one entry to write in a test SST.
type sstTestEntry struct {
	seq   int64
	kind  entryKind
	time  int64
	value []byte
}

// sstTestValue returns a deterministic value of size n for seq.
func sstTestValue(seq int64, n int) []byte {
	v := make([]byte, n)
	x := uint64(seq)*0x9E3779B97F4A7C15 + 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = byte(x)
	}
	return v
}

// sstTestEntries returns n entries with seqs first, first+step, …; every
// tombstoneEvery-th entry (when > 0) is a tombstone; values are 0–maxLen
// bytes; times wander around seq so that min/max time are not the first and
// last entries.
func sstTestEntries(n int, first, step int64, tombstoneEvery, maxLen int) []sstTestEntry {
	es := make([]sstTestEntry, n)
	for i := range es {
		seq := first + int64(i)*step
		e := sstTestEntry{seq: seq, kind: kindSet, time: 1_700_000_000_000_000_000 + seq*1000 + int64(i%7)*5000 - 15000}
		if tombstoneEvery > 0 && i%tombstoneEvery == tombstoneEvery-1 {
			e.kind, e.time = kindDelete, 0
		} else {
			e.value = sstTestValue(seq, int(uint64(seq)*7919%uint64(maxLen+1)))
		}
		es[i] = e
	}
	return es
}

// sstWantProps returns the properties a file of es must have (without
// fileNum and size).
func sstWantProps(es []sstTestEntry) sstProps {
	var p sstProps
	for _, e := range es {
		if p.numEntries == 0 {
			p.minSeq = e.seq
		}
		p.maxSeq = e.seq
		p.numEntries++
		if e.kind == kindDelete {
			p.numTombstones++
			continue
		}
		if !p.hasTime || e.time < p.minTime {
			p.minTime = e.time
		}
		if !p.hasTime || e.time > p.maxTime {
			p.maxTime = e.time
		}
		p.hasTime = true
		p.rawRowBytes += uint64(len(e.value))
	}
	return p
}

// sstBuild writes es as SST fileNum in dir and returns its properties.
func sstBuild(t testing.TB, fs FS, dir string, fileNum uint64, es []sstTestEntry) sstProps {
	t.Helper()
	w, err := newSSTWriter(fs, dir, fileNum)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.add(e.seq, e.kind, e.time, e.value))
	}
	p, err := w.finish()
	require.NoError(t, err)
	return p
}

// sstOpen opens SST fileNum and registers its close.
func sstOpen(t testing.TB, fs FS, dir string, fileNum uint64) *sstReader {
	t.Helper()
	r, err := openSST(fs, dir, fileNum)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.close() })
	return r
}

// sstCheckAll checks that r holds exactly es: props, get of every entry
// and of the gaps, a forward and a backward scan, and verify.
func sstCheckAll(t *testing.T, r *sstReader, es []sstTestEntry) {
	t.Helper()
	want := sstWantProps(es)
	got := r.props()
	want.fileNum, want.size = got.fileNum, got.size
	require.Equal(t, want, got)
	for i, e := range es {
		kind, v, found, err := r.get(e.seq)
		if err != nil || !found || kind != e.kind || !bytes.Equal(e.value, v) {
			t.Fatalf("get(%d): kind %v found %v err %v, value of %d bytes (want %d)", e.seq, kind, found, err, len(v), len(e.value))
		}
		if i > 0 && es[i-1].seq+1 < e.seq {
			if _, _, found, err := r.get(e.seq - 1); found || err != nil {
				t.Fatalf("get(%d) of a gap: found %v err %v", e.seq-1, found, err)
			}
		}
	}
	it := r.newIter()
	i := 0
	for ok := it.first(); ok; ok = it.next() {
		if i >= len(es) {
			t.Fatalf("forward scan: more than %d entries", len(es))
		}
		e := es[i]
		if it.seq() != e.seq || it.kind() != e.kind || !bytes.Equal(e.value, it.value()) {
			t.Fatalf("forward scan at %d: got seq %d kind %v", i, it.seq(), it.kind())
		}
		i++
	}
	require.NoError(t, it.err())
	require.Equal(t, len(es), i)
	i = len(es) - 1
	for ok := it.last(); ok; ok = it.prev() {
		if i < 0 || it.seq() != es[i].seq || !bytes.Equal(es[i].value, it.value()) {
			t.Fatalf("backward scan at %d: got seq %d", i, it.seq())
		}
		i--
	}
	require.NoError(t, it.close())
	require.Equal(t, -1, i)
	require.NoError(t, r.verify(nil))
}

// sstRequireCorrupted fails unless err satisfies errors.Is(err, ErrCorrupted).
func sstRequireCorrupted(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	if !errors.Is(err, ErrCorrupted) {
		t.Fatalf("want ErrCorrupted, got %v %v", err, msgAndArgs)
	}
}
