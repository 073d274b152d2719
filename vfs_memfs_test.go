package srdb

import (
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file holds memFS, the in-memory FS of the power-loss tests.
// It is a test file: the tests of every area and the reliability suite use
// it, and it stays out of importers' binaries. Its own tests are in
// vfs_mem_test.go.
//
// # Crash model
//
// Every file keeps two versions of its bytes: its current contents and its
// synced contents, which File.Sync makes durable. Every directory keeps two
// versions of its entries: its current entries and its durable entries, which
// SyncDir of that directory makes durable, plus the ordered list of entry
// changes (create, mkdir, rename, remove) made since. crashClone builds the
// disk as it would look after a power cut:
//
//   - A directory shows its durable entries, then its pending changes in
//     order, each kept with probability p, stopping at the first one dropped
//     (a prefix, as a journal would replay them). So a create followed by a
//     rename of the same name is never half applied. Directories decide
//     independently of each other: a rename from one directory into another
//     may show up in both, in neither, or in one of them. A file reached
//     through two names becomes two independent files; a directory reached
//     twice (possible only after renames of directories) is kept at its first
//     place in sorted path order and dropped at the others.
//   - A file shows its synced bytes. If it was truncated below its synced
//     size since the last Sync, the truncation is kept with probability p.
//     Then every 4 KiB block (memBlockSize) written since the last Sync is
//     kept with probability p, in increasing block order, each independently:
//     a kept block replaces the bytes of that block with the current ones
//     (up to the current size). The size is the larger of the (possibly
//     truncated) synced size and the end of the last kept block; a gap between
//     the synced size and a kept block reads as zeros, as a file whose size
//     reached the disk before its data would.
//   - Files and directories not reachable from the root through the chosen
//     entries are gone.
//
// p = 0 gives exactly the synced state, p = 1 exactly the current state.
//
// Paths are cleaned and resolved from a single root "/"; a relative path
// "a/b" names the same file as "/a/b".

// memBlockSize is the granularity at which unsynced file data survives a
// simulated power cut.
const memBlockSize = 4096

// memFS is an in-memory FS that models what survives a power cut (see the
// crash model above). It is safe for concurrent use.
//
// Lock order: opMu, then mu. Mutating operations (those for which
// fsOp.mutating is true: create, write, sync, syncdir, rename, remove,
// truncate, mkdir, lock) hold opMu across the op hook and the operation, so
// the hook sees a file system no other mutation can change until it returns;
// it may call crashClone, opCount and the read-only methods, but must not
// mutate m.
type memFS struct {
	opMu sync.Mutex   // opMu serialises mutating operations and the op hook
	ops  atomic.Int64 // mutating operations started; written under opMu
	hook atomic.Pointer[func(opIndex int, op fsOp, path string) error]

	mu    sync.Mutex      // mu guards root, every memNode, every memFile's off and closed, locks
	root  *memNode        // the directory "/"
	locks map[string]bool // cleaned paths locked through Lock
}

// memNode is a file or a directory of memFS. All fields are guarded by the
// owning memFS's mu.
type memNode struct {
	dir bool

	// File state (dir == false).
	data   []byte             // current contents
	synced []byte             // contents at the last Sync; aliases data only while shared
	shared bool               // synced and data are one slice (crash clones), copied on first change
	dirty  map[int64]struct{} // blocks of data written since the last Sync
	minLen int                // smallest size since the last Sync (truncations)

	// Directory state (dir == true).
	entries map[string]*memNode // current entries
	durable map[string]*memNode // entries at the last SyncDir
	pending []memDirOp          // entry changes since the last SyncDir, oldest first
}

// memDirOp is one change to the entries of one directory. A rename inside one
// directory is a single change (from removed, name set); a rename between
// directories is a removal in the source and a set in the destination.
type memDirOp struct {
	name string   // entry set to node, or removed if node is nil
	node *memNode // new target of name; nil removes name
	from string   // entry removed by the same change (same-directory rename)
}

// apply applies the change to a set of entries.
func (op memDirOp) apply(ents map[string]*memNode) {
	if op.from != "" {
		delete(ents, op.from)
	}
	if op.node == nil {
		delete(ents, op.name)
	} else {
		ents[op.name] = op.node
	}
}

func newMemDirNode() *memNode {
	return &memNode{dir: true, entries: map[string]*memNode{}, durable: map[string]*memNode{}}
}

func newMemFileNode() *memNode {
	return &memNode{data: []byte{}, synced: []byte{}, dirty: map[int64]struct{}{}}
}

// newMemFS returns an empty memFS holding only the root directory.
func newMemFS() *memFS {
	return &memFS{root: newMemDirNode(), locks: map[string]bool{}}
}

// setOpHook installs (or, with nil, removes) a function called before every
// mutating operation with its index (0, 1, 2, … in the order the operations
// run, see opCount), its kind and its path (for File methods, the name the
// file was opened with). A non-nil error makes the operation fail with that
// error without doing anything; a power-loss test takes a crashClone at
// index k and returns an error from then on to stop the workload.
// The hook runs under memFS's op lock: it must not mutate the memFS.
func (m *memFS) setOpHook(h func(opIndex int, op fsOp, path string) error) {
	if h == nil {
		m.hook.Store(nil)
		return
	}
	m.hook.Store(&h)
}

// opCount returns the number of mutating operations started so far
// (including ones the hook failed).
func (m *memFS) opCount() int { return int(m.ops.Load()) }

// mutate runs a mutating operation: it takes the op lock, numbers the
// operation, calls the hook, then runs fn under mu.
func (m *memFS) mutate(op fsOp, path string, fn func() error) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	idx := int(m.ops.Add(1) - 1)
	if h := m.hook.Load(); h != nil {
		if err := (*h)(idx, op, path); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn()
}

// memPathError returns the *os.PathError the os package would return.
func memPathError(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}

// memErrno returns the cause inside a *os.PathError, or err itself.
func memErrno(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// memSplit cleans name and splits it into its components below the root.
// The root itself has no components.
func memSplit(name string) []string {
	p := filepath.Clean(string(filepath.Separator) + name)
	if p == string(filepath.Separator) {
		return nil
	}
	return strings.Split(p[1:], string(filepath.Separator))
}

// memKey returns the cleaned absolute form of name.
func memKey(name string) string {
	return filepath.Clean(string(filepath.Separator) + name)
}

// lookupLocked returns the node named name. op names the operation in errors.
func (m *memFS) lookupLocked(op, name string) (*memNode, error) {
	if name == "" {
		return nil, memPathError(op, name, syscall.ENOENT)
	}
	n := m.root
	for _, part := range memSplit(name) {
		if !n.dir {
			return nil, memPathError(op, name, syscall.ENOTDIR)
		}
		next := n.entries[part]
		if next == nil {
			return nil, memPathError(op, name, syscall.ENOENT)
		}
		n = next
	}
	return n, nil
}

// parentLocked returns the directory that holds name and name's last
// component. The root has no parent: EINVAL.
func (m *memFS) parentLocked(op, name string) (*memNode, string, error) {
	parts := memSplit(name)
	if name == "" {
		return nil, "", memPathError(op, name, syscall.ENOENT)
	}
	if len(parts) == 0 {
		return nil, "", memPathError(op, name, syscall.EINVAL)
	}
	dir := m.root
	for _, part := range parts[:len(parts)-1] {
		next := dir.entries[part]
		if next == nil {
			return nil, "", memPathError(op, name, syscall.ENOENT)
		}
		if !next.dir {
			return nil, "", memPathError(op, name, syscall.ENOTDIR)
		}
		dir = next
	}
	return dir, parts[len(parts)-1], nil
}

// setEntry points name of directory d at n (nil removes it) and records the
// change as pending until SyncDir.
func (d *memNode) setEntry(name string, n *memNode) {
	op := memDirOp{name: name, node: n}
	op.apply(d.entries)
	d.pending = append(d.pending, op)
}

// syncDir makes the current entries of directory d durable.
func (d *memNode) syncDir() {
	d.durable = maps.Clone(d.entries)
	d.pending = nil
}

// markDirty records that bytes [from, to) of file n changed.
func (n *memNode) markDirty(from, to int) {
	for b := from / memBlockSize; b*memBlockSize < to; b++ {
		n.dirty[int64(b)] = struct{}{}
	}
}

// unshare gives file n its own synced copy before data changes.
func (n *memNode) unshare() {
	if n.shared {
		n.synced = slices.Clone(n.synced)
		n.shared = false
	}
}

// resize sets the size of file n, zero-filling any growth.
func (n *memNode) resize(size int) {
	n.unshare()
	old := len(n.data)
	switch {
	case size < old:
		n.data = n.data[:size]
		n.minLen = min(n.minLen, size)
	case size > old:
		n.data = memGrow(n.data, size)
		n.markDirty(old, size)
	}
}

// memGrow returns b extended with zeros to size bytes.
func memGrow(b []byte, size int) []byte {
	old := len(b)
	b = slices.Grow(b, size-old)[:size]
	clear(b[old:])
	return b
}

// writeAt writes p at offset off of file n, zero-filling any gap.
func (n *memNode) writeAt(p []byte, off int) {
	n.unshare()
	end := off + len(p)
	if end > len(n.data) {
		n.resize(end)
	}
	copy(n.data[off:], p)
	n.markDirty(off, end)
}

// syncFile makes the current contents of file n durable.
func (n *memNode) syncFile() {
	if n.shared {
		return // nothing changed since the crash clone made it
	}
	size := len(n.data)
	if size <= len(n.synced) {
		n.synced = n.synced[:size]
	} else {
		n.synced = memGrow(n.synced, size)
	}
	for b := range n.dirty {
		start := int(b) * memBlockSize
		if start >= size {
			continue
		}
		end := min(start+memBlockSize, size)
		copy(n.synced[start:end], n.data[start:end])
	}
	clear(n.dirty)
	n.minLen = size
}

// crashData returns the contents of file n after a power cut, keeping each
// unsynced change when keep returns true (see the crash model).
func (n *memNode) crashData(keep func() bool) []byte {
	res := make([]byte, len(n.synced), max(len(n.synced), len(n.data)))
	copy(res, n.synced)
	if n.minLen < len(res) && keep() {
		res = res[:n.minLen]
	}
	blocks := slices.Sorted(maps.Keys(n.dirty))
	for _, b := range blocks {
		start := int(b) * memBlockSize
		if start >= len(n.data) || !keep() {
			continue
		}
		end := min(start+memBlockSize, len(n.data))
		if end > len(res) {
			res = memGrow(res, end)
		}
		copy(res[start:end], n.data[start:end])
	}
	return res
}

// crashClone returns a new, independent memFS holding what the disk would
// hold after a power cut at this instant: the synced state plus each unsynced
// change kept with probability keepUnsynced (see the crash model at the top
// of this file). rng makes the choices and may be nil when keepUnsynced is 0
// or 1. The clone is fully synced, has no hook, no locks and no open files;
// the same rng state and file system give the same clone.
func (m *memFS) crashClone(rng *rand.Rand, keepUnsynced float64) *memFS {
	keep := func() bool {
		switch {
		case keepUnsynced <= 0:
			return false
		case keepUnsynced >= 1:
			return true
		}
		return rng.Float64() < keepUnsynced
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := memCrash{keep: keep, files: map[*memNode]*memCrashFile{}, placed: map[*memNode]bool{}}
	return &memFS{root: c.dir(m.root), locks: map[string]bool{}}
}

// memCrash carries the state of one crashClone walk.
type memCrash struct {
	keep   func() bool
	files  map[*memNode]*memCrashFile // crash contents of each file, decided once
	placed map[*memNode]bool          // directories already placed in the clone
}

// memCrashFile is the crash contents of a file; used is set once a clone
// node owns data, so that a second name gets a copy.
type memCrashFile struct {
	data []byte
	used bool
}

// dir returns the crash image of directory d as a fully synced node.
func (c *memCrash) dir(d *memNode) *memNode {
	c.placed[d] = true
	ents := maps.Clone(d.durable)
	for _, op := range d.pending {
		if !c.keep() {
			break
		}
		op.apply(ents)
	}
	out := newMemDirNode()
	for _, name := range slices.Sorted(maps.Keys(ents)) {
		n := ents[name]
		if n.dir {
			if c.placed[n] {
				continue
			}
			out.entries[name] = c.dir(n)
			continue
		}
		f := c.files[n]
		if f == nil {
			f = &memCrashFile{data: n.crashData(c.keep)}
			c.files[n] = f
		}
		data := f.data
		if f.used {
			data = slices.Clone(data)
		}
		f.used = true
		out.entries[name] = &memNode{data: data, synced: data, shared: true,
			dirty: map[int64]struct{}{}, minLen: len(data)}
	}
	out.durable = maps.Clone(out.entries)
	return out
}

// syncAll makes the whole current state durable, as if every file and
// directory had been synced. Tests call it after setting up a database.
func (m *memFS) syncAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if !n.dir {
			n.syncFile()
			return
		}
		n.syncDir()
		for _, e := range n.entries {
			walk(e)
		}
	}
	walk(m.root)
}

// readFile returns a copy of the current contents of a file. It is not a
// mutating operation and does not reach the hook.
func (m *memFS) readFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, memPathError("read", name, syscall.EISDIR)
	}
	return slices.Clone(n.data), nil
}

// writeFile creates (or truncates) a file, its parent directories included,
// and writes data, like os.WriteFile. It goes through the ordinary methods,
// so it counts as mutating operations and reaches the hook; it syncs
// nothing (see syncAll).
func (m *memFS) writeFile(name string, data []byte) error {
	if err := m.MkdirAll(filepath.Dir(memKey(name))); err != nil {
		return err
	}
	f, err := m.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// listAll returns the path of every file and directory reachable from the
// root, sorted; directory paths end in "/". Tests diff it between states.
func (m *memFS) listAll() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	var walk func(prefix string, d *memNode)
	walk = func(prefix string, d *memNode) {
		for _, name := range slices.Sorted(maps.Keys(d.entries)) {
			n := d.entries[name]
			p := prefix + "/" + name
			if n.dir {
				out = append(out, p+"/")
				walk(p, n)
			} else {
				out = append(out, p)
			}
		}
	}
	walk("", m.root)
	return out
}

// Create creates or truncates the named file for reading and writing.
func (m *memFS) Create(name string) (File, error) {
	var f *memFile
	err := m.mutate(fsOpCreate, name, func() error {
		n, err := m.createLocked("open", name)
		if err != nil {
			return err
		}
		n.resize(0)
		f = &memFile{fs: m, node: n, name: name, readable: true, writable: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// createLocked returns the file called name, creating it if it is missing.
func (m *memFS) createLocked(op, name string) (*memNode, error) {
	dir, base, err := m.parentLocked(op, name)
	if err != nil {
		return nil, err
	}
	n := dir.entries[base]
	switch {
	case n == nil:
		n = newMemFileNode()
		dir.setEntry(base, n)
	case n.dir:
		return nil, memPathError(op, name, syscall.EISDIR)
	}
	return n, nil
}

// Open opens the named file (or directory) read-only.
func (m *memFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, node: n, name: name, readable: true}, nil
}

// OpenReadWrite opens an existing file for reading and writing at offset 0.
func (m *memFS) OpenReadWrite(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, memPathError("open", name, syscall.EISDIR)
	}
	return &memFile{fs: m, node: n, name: name, readable: true, writable: true}, nil
}

// Rename renames oldname to newname, replacing a file called newname, with
// the errors of os.Rename: ENOENT for a missing oldname or parent, EEXIST
// when newname is a directory, EINVAL when moving a directory below itself.
func (m *memFS) Rename(oldname, newname string) error {
	return m.mutate(fsOpRename, oldname, func() error {
		linkErr := func(err error) error {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
		}
		odir, obase, err := m.parentLocked("rename", oldname)
		if err != nil {
			return linkErr(memErrno(err))
		}
		n := odir.entries[obase]
		if n == nil {
			return linkErr(syscall.ENOENT)
		}
		ndir, nbase, err := m.parentLocked("rename", newname)
		if err != nil {
			return linkErr(memErrno(err))
		}
		if odir == ndir && obase == nbase {
			return nil
		}
		switch target := ndir.entries[nbase]; {
		case target != nil && target.dir:
			return linkErr(syscall.EEXIST) // what os.Rename reports on Unix
		case target != nil && n.dir:
			return linkErr(syscall.ENOTDIR)
		}
		if n.dir && strings.HasPrefix(memKey(newname), memKey(oldname)+string(filepath.Separator)) {
			return linkErr(syscall.EINVAL)
		}
		if odir == ndir {
			op := memDirOp{name: nbase, node: n, from: obase}
			op.apply(odir.entries)
			odir.pending = append(odir.pending, op)
			return nil
		}
		odir.setEntry(obase, nil)
		ndir.setEntry(nbase, n)
		return nil
	})
}

// Link makes newname a second name of the file oldname (a hard link: both
// names reach one node until a crash clone splits them, see the crash model),
// with the errors of os.Link: ENOENT for a missing oldname or parent, EEXIST
// when newname exists, EPERM when oldname is a directory. It is passed to the
// op hook as fsOpCreate.
func (m *memFS) Link(oldname, newname string) error {
	return m.mutate(fsOpCreate, newname, func() error {
		linkErr := func(err error) error {
			return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
		}
		n, err := m.lookupLocked("link", oldname)
		if err != nil {
			return linkErr(memErrno(err))
		}
		if n.dir {
			return linkErr(syscall.EPERM)
		}
		dir, base, err := m.parentLocked("link", newname)
		if err != nil {
			return linkErr(memErrno(err))
		}
		if dir.entries[base] != nil {
			return linkErr(syscall.EEXIST)
		}
		dir.setEntry(base, n)
		return nil
	})
}

// Remove removes a file or an empty directory.
func (m *memFS) Remove(name string) error {
	return m.mutate(fsOpRemove, name, func() error {
		dir, base, err := m.parentLocked("remove", name)
		if err != nil {
			if len(memSplit(name)) == 0 && name != "" {
				return memPathError("remove", name, syscall.EBUSY)
			}
			return err
		}
		n := dir.entries[base]
		switch {
		case n == nil:
			return memPathError("remove", name, syscall.ENOENT)
		case n.dir && len(n.entries) > 0:
			return memPathError("remove", name, syscall.ENOTEMPTY)
		}
		dir.setEntry(base, nil)
		return nil
	})
}

// RemoveAll removes name and everything below it, entry by entry as the os
// package does (each removal pending in its own directory). A missing name is
// not an error.
func (m *memFS) RemoveAll(name string) error {
	return m.mutate(fsOpRemove, name, func() error {
		if name == "" {
			return nil
		}
		dir, base, err := m.parentLocked("unlinkat", name)
		if err != nil {
			if len(memSplit(name)) == 0 {
				return memPathError("RemoveAll", name, syscall.EINVAL)
			}
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		n := dir.entries[base]
		if n == nil {
			return nil
		}
		memRemoveTree(n)
		dir.setEntry(base, nil)
		return nil
	})
}

// memRemoveTree removes every entry below directory d, deepest first.
func memRemoveTree(d *memNode) {
	if !d.dir {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(d.entries)) {
		memRemoveTree(d.entries[name])
		d.setEntry(name, nil)
	}
}

// MkdirAll creates a directory and its missing parents. An existing file in
// the way is ENOTDIR.
func (m *memFS) MkdirAll(name string) error {
	return m.mutate(fsOpMkdir, name, func() error {
		if name == "" {
			return memPathError("mkdir", name, syscall.ENOENT)
		}
		d := m.root
		for _, part := range memSplit(name) {
			next := d.entries[part]
			if next == nil {
				next = newMemDirNode()
				d.setEntry(part, next)
			} else if !next.dir {
				return memPathError("mkdir", name, syscall.ENOTDIR)
			}
			d = next
		}
		return nil
	})
}

// List returns the sorted names of the entries of a directory.
func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, memPathError("readdirent", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(n.entries)), nil
}

// Stat returns information about a file or directory.
func (m *memFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("stat", name)
	if err != nil {
		return nil, err
	}
	return n.infoLocked(name), nil
}

// SyncDir makes the entries of a directory durable. Unlike the OS FS, a
// file path is refused with ENOTDIR: syncing a file's "directory" is a bug
// of the caller.
func (m *memFS) SyncDir(dir string) error {
	return m.mutate(fsOpSyncDir, dir, func() error {
		n, err := m.lookupLocked("open", dir)
		if err != nil {
			return err
		}
		if !n.dir {
			return memPathError("sync", dir, syscall.ENOTDIR)
		}
		n.syncDir()
		return nil
	})
}

// Lock takes the in-memory lock of name, creating the file if needed. A
// second Lock of the same path fails with ErrLocked until the first is
// closed.
func (m *memFS) Lock(name string) (io.Closer, error) {
	var l *memLock
	err := m.mutate(fsOpLock, name, func() error {
		if _, err := m.createLocked("open", name); err != nil {
			return err
		}
		key := memKey(name)
		if m.locks[key] {
			return ErrLocked
		}
		m.locks[key] = true
		l = &memLock{fs: m, key: key, name: name}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Map returns a private copy of the file's current contents.
func (m *memFS) Map(name string) (MappedFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, memPathError("mmap", name, syscall.ENODEV)
	}
	return &memMapping{data: slices.Clone(n.data)}, nil
}

// memMapping is a MappedFile of memFS: a copy taken at Map time.
type memMapping struct {
	data []byte
}

func (mm *memMapping) Bytes() []byte { return mm.data }

func (mm *memMapping) Close() error {
	mm.data = nil
	return nil
}

// memLock is a lock taken by memFS.Lock.
type memLock struct {
	fs     *memFS
	key    string // cleaned path in fs.locks
	name   string // path as given, for errors
	closed bool   // guarded by fs.mu
}

// Close releases the lock; a second Close fails like closing a file twice.
func (l *memLock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.closed {
		return memPathError("close", l.name, os.ErrClosed)
	}
	l.closed = true
	delete(l.fs.locks, l.key)
	return nil
}

// memFile is an open file of memFS with os.File semantics: Read and Write
// share one offset, Write writes at it (no append mode), a read-only handle
// refuses writes.
type memFile struct {
	fs       *memFS
	node     *memNode
	name     string // path as opened, for errors and the hook
	readable bool
	writable bool

	off    int64 // guarded by fs.mu
	closed bool  // guarded by fs.mu
}

// checkLocked returns the error of an operation on a closed handle.
func (f *memFile) checkLocked(op string) error {
	if f.closed {
		return memPathError(op, f.name, os.ErrClosed)
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("read"); err != nil {
		return 0, err
	}
	if f.node.dir {
		return 0, memPathError("read", f.name, syscall.EISDIR)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("read"); err != nil {
		return 0, err
	}
	if f.node.dir {
		return 0, memPathError("read", f.name, syscall.EISDIR)
	}
	if off < 0 {
		return 0, memPathError("readat", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	var n int
	err := f.fs.mutate(fsOpWrite, f.name, func() error {
		if err := f.checkLocked("write"); err != nil {
			return err
		}
		if !f.writable {
			return memPathError("write", f.name, syscall.EBADF)
		}
		f.node.writeAt(p, int(f.off))
		f.off += int64(len(p))
		n = len(p)
		return nil
	})
	return n, err
}

// Sync makes the file's contents durable; on a directory handle it makes the
// directory's entries durable, as fsync of a directory does.
func (f *memFile) Sync() error {
	return f.fs.mutate(fsOpSync, f.name, func() error {
		if err := f.checkLocked("sync"); err != nil {
			return err
		}
		if f.node.dir {
			f.node.syncDir()
		} else {
			f.node.syncFile()
		}
		return nil
	})
}

func (f *memFile) Truncate(size int64) error {
	return f.fs.mutate(fsOpTruncate, f.name, func() error {
		if err := f.checkLocked("truncate"); err != nil {
			return err
		}
		if !f.writable || size < 0 {
			return memPathError("truncate", f.name, syscall.EINVAL)
		}
		f.node.resize(int(size))
		return nil
	})
}

// Preallocate makes the file at least size bytes long, zero-filled (the
// optional File method of vfs.go, fallocate in OSFS). It counts as
// fsOpTruncate, and like a Truncate the new length is durable only after a
// Sync: a power cut may keep or drop the zeros.
func (f *memFile) Preallocate(size int64) error {
	return f.fs.mutate(fsOpTruncate, f.name, func() error {
		if err := f.checkLocked("preallocate"); err != nil {
			return err
		}
		if !f.writable || size < 0 {
			return memPathError("preallocate", f.name, syscall.EINVAL)
		}
		if size > int64(len(f.node.data)) {
			f.node.resize(int(size))
		}
		return nil
	})
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("stat"); err != nil {
		return nil, err
	}
	return f.node.infoLocked(f.name), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("close"); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// infoLocked returns the FileInfo of n reached through path name.
func (n *memNode) infoLocked(name string) os.FileInfo {
	info := memFileInfo{name: filepath.Base(memKey(name)), dir: n.dir}
	if !n.dir {
		info.size = int64(len(n.data))
	}
	return info
}

// memFileInfo is the os.FileInfo of memFS: name, size and kind; the mode is
// the one SRDB creates files and directories with, the time is zero.
type memFileInfo struct {
	name string
	size int64
	dir  bool
}

func (i memFileInfo) Name() string { return i.name }
func (i memFileInfo) Size() int64  { return i.size }
func (i memFileInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | dirMode
	}
	return fileMode
}
func (i memFileInfo) ModTime() time.Time { return time.Time{} }
func (i memFileInfo) IsDir() bool        { return i.dir }
func (i memFileInfo) Sys() any           { return nil }
