package srdb

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// This file holds faultFS, the FS wrapper of the fault sweep (TestReliabilityFaultSweep): it
// counts every operation on the FS and on the files, mappings and locks it
// hands out, and fails the operation of a chosen index. It is a test file:
// the tests of every area use it, and it stays out of importers' binaries.
// Its own tests are in vfs_fault_test.go.

// fsOp names a kind of FS, File, MappedFile or lock operation. memFS passes it
// to its op hook and faultFS counts and filters by it.
type fsOp int

// The operation kinds. OpenReadWrite counts as fsOpOpen, Link (which
// creates a name) as fsOpCreate, RemoveAll as fsOpRemove, MkdirAll as fsOpMkdir, FS.Stat and File.Stat as fsOpStat,
// File.Preallocate (a size change) as fsOpTruncate, and
// closing a File, a MappedFile or a lock as fsOpClose.
const (
	fsOpCreate fsOp = iota
	fsOpOpen
	fsOpRead
	fsOpReadAt
	fsOpWrite
	fsOpSync
	fsOpSyncDir
	fsOpRename
	fsOpRemove
	fsOpTruncate
	fsOpMap
	fsOpList
	fsOpStat
	fsOpMkdir
	fsOpLock
	fsOpClose
	numFSOps // number of real operation kinds; the classes below come after

	// fsOpAny is a class for failNth: every operation counts.
	fsOpAny fsOp = 100
	// fsOpMutating is a class for failNth: only the operations that change
	// the file system count (see fsOp.mutating).
	fsOpMutating fsOp = 101
)

var fsOpNames = [numFSOps]string{
	fsOpCreate:   "create",
	fsOpOpen:     "open",
	fsOpRead:     "read",
	fsOpReadAt:   "readat",
	fsOpWrite:    "write",
	fsOpSync:     "sync",
	fsOpSyncDir:  "syncdir",
	fsOpRename:   "rename",
	fsOpRemove:   "remove",
	fsOpTruncate: "truncate",
	fsOpMap:      "map",
	fsOpList:     "list",
	fsOpStat:     "stat",
	fsOpMkdir:    "mkdir",
	fsOpLock:     "lock",
	fsOpClose:    "close",
}

// String returns the lower-case name of the operation ("write", "syncdir").
func (o fsOp) String() string {
	switch {
	case o >= 0 && o < numFSOps:
		return fsOpNames[o]
	case o == fsOpAny:
		return "any"
	case o == fsOpMutating:
		return "mutating"
	}
	return fmt.Sprintf("fsOp(%d)", int(o))
}

// mutating reports whether the operation can change what is stored: create,
// write, sync, syncdir, rename, remove, truncate, mkdir and lock (which
// creates the lock file when it is missing). These are the operations memFS
// passes to its op hook.
func (o fsOp) mutating() bool {
	switch o {
	case fsOpCreate, fsOpWrite, fsOpSync, fsOpSyncDir, fsOpRename, fsOpRemove,
		fsOpTruncate, fsOpMkdir, fsOpLock:
		return true
	}
	return false
}

// faultMode says how long an armed fault lasts.
type faultMode int

const (
	// failOnce fails only the operation of the chosen index.
	failOnce faultMode = iota
	// failFromThenOn fails the operation of the chosen index and every
	// matching operation after it, until clearFaults or reset.
	failFromThenOn
)

// faultKind is the failure injected.
//
// A kind applies to a set of operations; an operation outside that set is
// counted but never failed, even when its index is the chosen one (with
// failOnce the fault is then simply not injected, which a sweep notices
// through faultsInjected). To aim at, say, the third fsync, use
// failNth(fsOpSync, 2, …) rather than a global index.
type faultKind int

const (
	// faultEIO fails any operation with syscall.EIO.
	faultEIO faultKind = iota
	// faultENOSPC fails a mutating operation with syscall.ENOSPC.
	faultENOSPC
	// faultShortWrite makes a Write write the first half of its bytes and
	// return an error matching both io.ErrShortWrite and syscall.ENOSPC.
	// Applies to writes only.
	faultShortWrite
	// faultSyncError fails a File.Sync or FS.SyncDir with syscall.EIO
	// without syncing anything. Applies to sync and syncdir only.
	faultSyncError
	// faultRenameError fails a Rename with syscall.EIO, leaving both names
	// untouched. Applies to rename only.
	faultRenameError
	// faultSilentShortWrite makes a Write write the first half of its bytes
	// and return that count with a nil error, breaking the io.Writer
	// contract: the caller must check the count. The op log still records
	// the fault. Applies to writes only.
	faultSilentShortWrite
)

// String returns the name of the fault kind.
func (k faultKind) String() string {
	switch k {
	case faultEIO:
		return "EIO"
	case faultENOSPC:
		return "ENOSPC"
	case faultShortWrite:
		return "short write"
	case faultSyncError:
		return "fsync error"
	case faultRenameError:
		return "rename error"
	case faultSilentShortWrite:
		return "silent short write"
	}
	return fmt.Sprintf("faultKind(%d)", int(k))
}

// appliesTo reports whether the kind can fail an operation of kind op.
func (k faultKind) appliesTo(op fsOp) bool {
	switch k {
	case faultEIO:
		return true
	case faultENOSPC:
		return op.mutating()
	case faultShortWrite, faultSilentShortWrite:
		return op == fsOpWrite
	case faultSyncError:
		return op == fsOpSync || op == fsOpSyncDir
	case faultRenameError:
		return op == fsOpRename
	}
	return false
}

// cause returns the error the kind injects.
func (k faultKind) cause() error {
	switch k {
	case faultENOSPC:
		return syscall.ENOSPC
	case faultShortWrite:
		return fmt.Errorf("%w: %w", io.ErrShortWrite, syscall.ENOSPC)
	case faultSilentShortWrite:
		return io.ErrShortWrite // logged only; the Write returns nil
	}
	return syscall.EIO
}

// errInjectedFault matches (errors.Is) every error faultFS injects, so a test
// can tell injected faults from real ones.
var errInjectedFault = errors.New("injected fault")

// injectedFault is the cause of an injected failure, wrapped by faultFS in an
// *os.PathError (or *os.LinkError for rename) naming the operation and path.
// It matches errInjectedFault and the errno of its kind.
type injectedFault struct {
	index int64     // global index of the failed operation
	op    fsOp      // operation that failed
	kind  faultKind // what was injected
	err   error     // errno (or short-write error) returned
}

func (e *injectedFault) Error() string {
	return fmt.Sprintf("injected %s at op %d (%s): %v", e.kind, e.index, e.op, e.err)
}

// Unwrap exposes both errInjectedFault and the errno.
func (e *injectedFault) Unwrap() []error { return []error{errInjectedFault, e.err} }

// faultSpec is an armed fault: fail operations of class whose index within
// that class is n (failOnce) or ≥ n (failFromThenOn).
type faultSpec struct {
	class fsOp // fsOpAny, fsOpMutating or one real kind
	n     int64
	mode  faultMode
	kind  faultKind
}

// faultLogEntry is one operation seen by faultFS.
type faultLogEntry struct {
	Index int64  // global index (position in opCount order)
	Op    fsOp   // operation kind
	Path  string // path named by the operation (the file's name for File ops)
	Err   error  // injected error, nil if the operation was passed through
}

func (e faultLogEntry) String() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s %s: %v", e.Index, e.Op, e.Path, e.Err)
	}
	return fmt.Sprintf("%d %s %s", e.Index, e.Op, e.Path)
}

// faultLogSize is how many of the latest operations faultFS keeps in its log.
const faultLogSize = 1024

// faultFS wraps an FS, counts every operation made through it or through the
// Files, MappedFiles and locks it returned, and injects the armed fault.
//
// Indices start at 0 and are taken in the order operations begin; under
// concurrency each index is still given to exactly one operation, so failOnce
// fails exactly one. A failed operation does not reach the inner FS, except
// for Close (the inner file is closed anyway so that no descriptor leaks, then
// the error is returned) and short writes (half the bytes are written).
//
// Counters and the armed fault are atomics; the op log has its own mutex.
// failAt, failNth and clearFaults may be called at any time; reset only when
// no operation is in flight.
type faultFS struct {
	inner FS

	total    atomic.Int64           // operations started, all kinds
	mutating atomic.Int64           // mutating operations started
	perOp    [numFSOps]atomic.Int64 // operations started, per kind
	injected atomic.Int64           // faults injected
	fault    atomic.Pointer[faultSpec]
	spared   atomic.Uint32 // bit op set: operations of kind op are never failed
	written  atomic.Int64  // bytes written by passed-through File.Writes
	synced   atomic.Int64  // written as of the start of the latest good File.Sync
	// observer, when set, is called with every injected failure, in the
	// goroutine of the failing operation, before the operation returns.
	observer atomic.Pointer[func(faultLogEntry)]

	logMu   sync.Mutex      // logMu guards log and logNext
	log     []faultLogEntry // ring buffer of the latest faultLogSize operations
	logNext int             // next slot of log once it is full
}

// newFaultFS wraps inner with no fault armed.
func newFaultFS(inner FS) *faultFS {
	return &faultFS{inner: inner}
}

// failAt arms a fault at global operation index i (all kinds counted, see
// opCount), replacing any fault armed before.
func (f *faultFS) failAt(i int, mode faultMode, kind faultKind) {
	f.failNth(fsOpAny, i, mode, kind)
}

// failNth arms a fault at the n-th (0-based) operation of class: one kind
// (fsOpWrite, fsOpSync, …), fsOpMutating or fsOpAny. Operations of class
// before the armed call are counted too, so arm it right after reset (or
// read opCountOf first). It replaces any fault armed before.
func (f *faultFS) failNth(class fsOp, n int, mode faultMode, kind faultKind) {
	f.fault.Store(&faultSpec{class: class, n: int64(n), mode: mode, kind: kind})
}

// setObserver installs fn (nil removes it) to be called with every injected
// failure before the failing operation returns, so a test can tell which
// calls ran after a given fault.
func (f *faultFS) setObserver(fn func(faultLogEntry)) {
	if fn == nil {
		f.observer.Store(nil)
		return
	}
	f.observer.Store(&fn)
}

// spareOps makes operations of the given kinds pass even where the armed
// fault matches them (they are still counted), until reset. A test that
// checks the cleanup after a failure spares fsOpRemove, so that a fault
// armed failFromThenOn does not also fail the cleanup.
func (f *faultFS) spareOps(ops ...fsOp) {
	var bits uint32
	for _, op := range ops {
		bits |= 1 << op
	}
	f.spared.Store(bits)
}

// clearFaults disarms the fault; counting goes on.
func (f *faultFS) clearFaults() { f.fault.Store(nil) }

// reset clears the fault, the counters and the log.
func (f *faultFS) reset() {
	f.fault.Store(nil)
	f.spared.Store(0)
	f.written.Store(0)
	f.synced.Store(0)
	f.total.Store(0)
	f.mutating.Store(0)
	for i := range f.perOp {
		f.perOp[i].Store(0)
	}
	f.injected.Store(0)
	f.logMu.Lock()
	f.log, f.logNext = nil, 0
	f.logMu.Unlock()
}

// opCount returns the number of operations started since newFaultFS or reset.
func (f *faultFS) opCount() int { return int(f.total.Load()) }

// opCountOf returns the number of operations of a class (a kind,
// fsOpMutating or fsOpAny) started since newFaultFS or reset.
func (f *faultFS) opCountOf(class fsOp) int {
	switch {
	case class == fsOpAny:
		return int(f.total.Load())
	case class == fsOpMutating:
		return int(f.mutating.Load())
	case class >= 0 && class < numFSOps:
		return int(f.perOp[class].Load())
	}
	return 0
}

// writeCoverage returns how many bytes the Writes passed through to the
// inner FS wrote (all files together; injected short writes not counted),
// and how many of them an fsync covers for sure: the written count as it was
// when the latest successful File.Sync began. A durability test compares an
// acknowledged record's end offset with them.
func (f *faultFS) writeCoverage() (written, synced int64) {
	return f.written.Load(), f.synced.Load()
}

// faultsInjected returns the number of operations failed since newFaultFS or
// reset.
func (f *faultFS) faultsInjected() int { return int(f.injected.Load()) }

// opLog returns the latest operations (at most faultLogSize), oldest first.
func (f *faultFS) opLog() []faultLogEntry {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	out := make([]faultLogEntry, 0, len(f.log))
	out = append(out, f.log[f.logNext:]...)
	return append(out, f.log[:f.logNext]...)
}

// begin counts an operation and returns the fault to inject into it, or nil.
func (f *faultFS) begin(op fsOp, path string) *injectedFault {
	idx := f.total.Add(1) - 1
	opIdx := f.perOp[op].Add(1) - 1
	mutIdx := int64(-1)
	if op.mutating() {
		mutIdx = f.mutating.Add(1) - 1
	}
	var fault *injectedFault
	if s := f.fault.Load(); s != nil && s.kind.appliesTo(op) && f.spared.Load()&(1<<op) == 0 {
		i := int64(-1)
		switch s.class {
		case fsOpAny:
			i = idx
		case fsOpMutating:
			i = mutIdx
		case op:
			i = opIdx
		}
		if i >= 0 && (i == s.n || (s.mode == failFromThenOn && i > s.n)) {
			fault = &injectedFault{index: idx, op: op, kind: s.kind, err: s.kind.cause()}
			f.injected.Add(1)
		}
	}
	var logErr error
	if fault != nil {
		logErr = fault
	}
	e := faultLogEntry{Index: idx, Op: op, Path: path, Err: logErr}
	f.record(e)
	if fault != nil {
		if obs := f.observer.Load(); obs != nil {
			(*obs)(e)
		}
	}
	return fault
}

// record appends an entry to the ring log.
func (f *faultFS) record(e faultLogEntry) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	if len(f.log) < faultLogSize {
		f.log = append(f.log, e)
		return
	}
	f.log[f.logNext] = e
	f.logNext = (f.logNext + 1) % faultLogSize
}

// pathError wraps an injected fault like the os package wraps errnos.
func (fault *injectedFault) pathError(path string) error {
	return &os.PathError{Op: fault.op.String(), Path: path, Err: fault}
}

func (f *faultFS) Create(name string) (File, error) {
	if fault := f.begin(fsOpCreate, name); fault != nil {
		return nil, fault.pathError(name)
	}
	file, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, inner: file, name: name}, nil
}

func (f *faultFS) Open(name string) (File, error) {
	if fault := f.begin(fsOpOpen, name); fault != nil {
		return nil, fault.pathError(name)
	}
	file, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, inner: file, name: name}, nil
}

func (f *faultFS) OpenReadWrite(name string) (File, error) {
	if fault := f.begin(fsOpOpen, name); fault != nil {
		return nil, fault.pathError(name)
	}
	file, err := f.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, inner: file, name: name}, nil
}

func (f *faultFS) Rename(oldname, newname string) error {
	if fault := f.begin(fsOpRename, oldname); fault != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fault}
	}
	return f.inner.Rename(oldname, newname)
}

func (f *faultFS) Link(oldname, newname string) error {
	if fault := f.begin(fsOpCreate, newname); fault != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fault}
	}
	return f.inner.Link(oldname, newname)
}

func (f *faultFS) Remove(name string) error {
	if fault := f.begin(fsOpRemove, name); fault != nil {
		return fault.pathError(name)
	}
	return f.inner.Remove(name)
}

func (f *faultFS) RemoveAll(name string) error {
	if fault := f.begin(fsOpRemove, name); fault != nil {
		return fault.pathError(name)
	}
	return f.inner.RemoveAll(name)
}

func (f *faultFS) MkdirAll(name string) error {
	if fault := f.begin(fsOpMkdir, name); fault != nil {
		return fault.pathError(name)
	}
	return f.inner.MkdirAll(name)
}

func (f *faultFS) List(dir string) ([]string, error) {
	if fault := f.begin(fsOpList, dir); fault != nil {
		return nil, fault.pathError(dir)
	}
	return f.inner.List(dir)
}

func (f *faultFS) Stat(name string) (os.FileInfo, error) {
	if fault := f.begin(fsOpStat, name); fault != nil {
		return nil, fault.pathError(name)
	}
	return f.inner.Stat(name)
}

func (f *faultFS) SyncDir(dir string) error {
	if fault := f.begin(fsOpSyncDir, dir); fault != nil {
		return fault.pathError(dir)
	}
	return f.inner.SyncDir(dir)
}

func (f *faultFS) Lock(name string) (io.Closer, error) {
	if fault := f.begin(fsOpLock, name); fault != nil {
		return nil, fault.pathError(name)
	}
	c, err := f.inner.Lock(name)
	if err != nil {
		return nil, err
	}
	return &faultCloser{fs: f, inner: c, name: name}, nil
}

func (f *faultFS) Map(name string) (MappedFile, error) {
	if fault := f.begin(fsOpMap, name); fault != nil {
		return nil, fault.pathError(name)
	}
	m, err := f.inner.Map(name)
	if err != nil {
		return nil, err
	}
	return &faultMapping{MappedFile: m, fs: f, name: name}, nil
}

// faultFile is a File of faultFS: every method is counted and may fail.
type faultFile struct {
	fs    *faultFS
	inner File
	name  string // path the file was opened with, for errors and the log
}

func (f *faultFile) Read(p []byte) (int, error) {
	if fault := f.fs.begin(fsOpRead, f.name); fault != nil {
		return 0, fault.pathError(f.name)
	}
	return f.inner.Read(p)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if fault := f.fs.begin(fsOpReadAt, f.name); fault != nil {
		return 0, fault.pathError(f.name)
	}
	return f.inner.ReadAt(p, off)
}

// Write writes p, or on an injected short write the first half of p followed
// by the error (by no error for a silent short write).
func (f *faultFile) Write(p []byte) (int, error) {
	fault := f.fs.begin(fsOpWrite, f.name)
	if fault == nil {
		n, err := f.inner.Write(p)
		f.fs.written.Add(int64(n))
		return n, err
	}
	if fault.kind == faultSilentShortWrite {
		return f.inner.Write(p[:len(p)/2])
	}
	if fault.kind != faultShortWrite {
		return 0, fault.pathError(f.name)
	}
	n, err := f.inner.Write(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	return n, fault.pathError(f.name)
}

func (f *faultFile) Sync() error {
	if fault := f.fs.begin(fsOpSync, f.name); fault != nil {
		return fault.pathError(f.name)
	}
	covered := f.fs.written.Load()
	if err := f.inner.Sync(); err != nil {
		return err
	}
	for {
		old := f.fs.synced.Load()
		if old >= covered || f.fs.synced.CompareAndSwap(old, covered) {
			return nil
		}
	}
}

func (f *faultFile) Truncate(size int64) error {
	if fault := f.fs.begin(fsOpTruncate, f.name); fault != nil {
		return fault.pathError(f.name)
	}
	return f.inner.Truncate(size)
}

// Preallocate forwards to the inner file's Preallocate (the optional File
// method of vfs.go), counted and failed as fsOpTruncate; an inner file
// without it returns errors.ErrUnsupported, as a file system without
// fallocate does.
func (f *faultFile) Preallocate(size int64) error {
	if fault := f.fs.begin(fsOpTruncate, f.name); fault != nil {
		return fault.pathError(f.name)
	}
	p, ok := f.inner.(filePreallocator)
	if !ok {
		return errors.ErrUnsupported
	}
	return p.Preallocate(size)
}

func (f *faultFile) Stat() (os.FileInfo, error) {
	if fault := f.fs.begin(fsOpStat, f.name); fault != nil {
		return nil, fault.pathError(f.name)
	}
	return f.inner.Stat()
}

// Close closes the inner file even when a fault is injected, so that a
// failed close never leaks a descriptor.
func (f *faultFile) Close() error {
	fault := f.fs.begin(fsOpClose, f.name)
	err := f.inner.Close()
	if fault != nil {
		return fault.pathError(f.name)
	}
	return err
}

// faultCloser is a lock returned by faultFS.Lock; releasing it is counted as
// a close and always releases the inner lock.
type faultCloser struct {
	fs    *faultFS
	inner io.Closer
	name  string
}

func (c *faultCloser) Close() error {
	fault := c.fs.begin(fsOpClose, c.name)
	err := c.inner.Close()
	if fault != nil {
		return fault.pathError(c.name)
	}
	return err
}

// faultMapping is a mapping returned by faultFS.Map; Bytes is not counted,
// Close is counted as a close and always unmaps.
type faultMapping struct {
	MappedFile
	fs   *faultFS
	name string
}

func (m *faultMapping) Close() error {
	fault := m.fs.begin(fsOpClose, m.name)
	err := m.MappedFile.Close()
	if fault != nil {
		return fault.pathError(m.name)
	}
	return err
}
