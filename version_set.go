package srdb

// The version set of a table: the current version (which SSTs are live, per
// level) and its counters, changed only by logAndApply, which appends an edit
// to the MANIFEST (manifest.go) and installs the new version; recovery at
// Open; file numbers. Files no live version needs are found and released in
// obsolete.go.

import (
	"errors"
	iofs "io/fs"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// versionSetOptions configures a versionSet. The zero value is valid.
type versionSetOptions struct {
	// maxManifestSize is the size in bytes beyond which the MANIFEST rolls
	// over (default 4 MiB). Roll-over also waits until the deltas are at
	// least as large as the snapshot, so a huge snapshot does not make every
	// edit roll over.
	maxManifestSize int64
	// logger receives recovery events (default: discard).
	logger *slog.Logger
	// onObsolete is called exactly once for each file that no live version
	// contains any more, after the edit removing it is durable and after the
	// last reader pinning it let go. It is called without any lock of the
	// version set held, from whichever goroutine dropped the last pin. The
	// table cache uses it to unmap the file and remove it. May be nil.
	onObsolete func(num uint64)
	// checkRecovered, when set, is called by recoverVersionSet with the
	// directory listing, the replayed log number and the MANIFEST number,
	// after the MANIFEST checks and before recovery changes anything (such
	// as truncating a torn tail); an error fails the recovery. Tables use
	// checkLogWALs. May be nil.
	checkRecovered func(names []string, logNum, manifestNum uint64) error
}

// resolve returns o with defaults filled in.
func (o versionSetOptions) resolve() versionSetOptions {
	if o.maxManifestSize <= 0 {
		o.maxManifestSize = defaultMaxManifestSize
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// versionSet is the MANIFEST-backed history of one table's LSM tree: the
// current version, the versions readers still pin, and the table counters.
//
// # Concurrency
//
// current, newFileNum, markFileNumUsed, lastSeq, setLastSeq, logNum and
// liveFiles are safe from any goroutine and never wait for I/O.
// logAndApply calls are serialised by mu, which each holds across its
// MANIFEST append and fsync (a flush commit waits for a compaction commit;
// simple and correct, and commits are rare). Readers never take mu.
//
// # Durability
//
// logAndApply installs a new version only after its edit is fsynced; the
// files the edit drops therefore become obsolete (and are deleted by
// onObsolete) only after the edit that drops them is durable. A failed
// write, fsync or CURRENT update makes the version set fail stickily:
// every later logAndApply returns the same error and the table is
// read-only.
type versionSet struct {
	fs   FS
	dir  string
	opts versionSetOptions

	// Counters, readable without locks. nextNum is advanced by newFileNum
	// and markFileNumUsed from any goroutine; seq only grows (setLastSeq and
	// logAndApply); logNumber and rows are written only by logAndApply
	// under mu.
	nextNum   atomic.Uint64
	seq       atomic.Int64
	logNumber atomic.Uint64
	rows      atomic.Int64 // liveRows of the last edit

	// cur is the current version; the version set holds one pin on it.
	// Stored only under mu; loaded lock-free by current.
	cur atomic.Pointer[version]

	// mu serialises writers of the MANIFEST (logAndApply, close) and guards
	// the fields below. Held across the MANIFEST append and fsync. Lock
	// order: mu before refMu.
	mu           sync.Mutex
	manifest     File   // open for appending; nil after close
	manifestNum  uint64 // file number of the live MANIFEST
	manifestSize int64  // bytes of the live MANIFEST
	snapshotSize int64  // bytes of its first (snapshot) record
	closed       bool

	// failErr is the sticky error of a failed MANIFEST update. Stored once
	// under mu; loaded without it so that writers can check it cheaply.
	failErr atomic.Pointer[Error]

	// refMu guards live, removing and the refs of every fileMeta. It is held only for
	// in-memory bookkeeping, never across I/O or onObsolete.
	refMu sync.Mutex
	live  map[*version]struct{} // versions with refs > 0
	// removing counts, per file, the releaseVersion calls still running
	// onObsolete for it (see isRemoving): Check must not take such a file,
	// no longer live but not yet removed, for an orphan.
	removing map[uint64]int
}

// newVersionSet returns an empty, not yet usable version set; create and
// recover fill it in.
func newVersionSet(fs FS, dir string, opts versionSetOptions) *versionSet {
	return &versionSet{
		fs:   fs,
		dir:  dir,
		opts: opts.resolve(),
		live: make(map[*version]struct{}),
	}
}

// createVersionSet initialises the version set of a new, empty table in
// dir: it writes MANIFEST-000001 holding a snapshot of the empty version,
// then CURRENT naming it (writeFileAtomic). It refuses a directory that
// already has a CURRENT or a MANIFEST.
func createVersionSet(fs FS, dir string, opts versionSetOptions) (*versionSet, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, ioError("list", dir, err)
	}
	for _, name := range names {
		if typ, _, ok := parseFilename(name); ok && (typ == fileTypeCurrent || typ == fileTypeManifest) {
			return nil, newError(CodeInvalidArgument, "create version set in %s: %s already exists", dir, name)
		}
	}
	vs := newVersionSet(fs, dir, opts)
	vs.nextNum.Store(1)
	num := vs.newFileNum()
	v, err := newVersionBuilder(nil).build()
	if err != nil {
		return nil, newError(CodeInvalidArgument, "create version set: %v", err)
	}
	counters := &versionEdit{}
	counters.setLogNum(0)
	counters.setNextFileNum(vs.nextNum.Load())
	counters.setLastSeq(0)
	counters.setLiveRows(0)
	snap := vs.snapshot(v, counters).encode()
	f, size, err := vs.createManifest(num, snap)
	if err != nil {
		return nil, err
	}
	if err := killPoint(kpManifestAfterNewFile); err != nil {
		f.Close()
		vs.removeQuietly(makeFilename(fileTypeManifest, num))
		return nil, err
	}
	if err := vs.setCurrent(num); err != nil {
		f.Close()
		return nil, err
	}
	if err := killPoint(kpManifestAfterCurrent); err != nil {
		f.Close()
		return nil, err
	}
	vs.manifest, vs.manifestNum, vs.manifestSize = f, num, size
	vs.snapshotSize = size - manifestHeaderSize
	vs.install(v)
	return vs, nil
}

// recoverVersionSet opens the version set of an existing table: it reads
// CURRENT, replays the MANIFEST it names, and checks that every SST of the
// resulting version exists with its recorded size. A torn last record (a
// crash in the middle of an append that was never acknowledged) is dropped
// and the MANIFEST truncated before it, with a warning logged — only after
// every check passed, so a failed recovery leaves the directory untouched.
//
// Errors: ErrCorrupted naming the file (and offset) for a malformed CURRENT,
// a CURRENT missing while a MANIFEST exists, a missing MANIFEST, any
// malformed record before the last, or a missing or wrong-size SST; an
// ErrNotFound-coded error when the directory holds neither CURRENT nor a
// MANIFEST (not a table).
func recoverVersionSet(fs FS, dir string, opts versionSetOptions) (*versionSet, error) {
	vs := newVersionSet(fs, dir, opts)
	num, err := readCurrent(fs, dir)
	if err != nil {
		return nil, err
	}
	r, err := vs.replayManifest(num)
	if err != nil {
		return nil, err
	}
	for _, f := range r.v.allFiles() {
		name := makeFilename(fileTypeSST, f.num)
		fi, err := fs.Stat(makeFilepath(dir, fileTypeSST, f.num))
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, corruptionError(name, -1, "SST named by %s is missing", makeFilename(fileTypeManifest, num))
		}
		if err != nil {
			return nil, ioError("stat", name, err)
		}
		if fi.Size() < 0 || uint64(fi.Size()) != f.size {
			return nil, corruptionError(name, -1, "SST is %d bytes, %s records %d",
				fi.Size(), makeFilename(fileTypeManifest, num), f.size)
		}
	}
	// Never hand out a number a file in the directory already carries
	// (a WAL rotated after the last edit, an orphan SST not yet removed).
	names, err := fs.List(dir)
	if err != nil {
		return nil, ioError("list", dir, err)
	}
	next := max(r.nextFileNum, num+1, r.maxFileNum+1)
	for _, name := range names {
		// (A number of 2^64-1 cannot be reached by the counter; skip it
		// rather than wrap around.)
		if _, n, ok := parseFilename(name); ok && n >= next && n < math.MaxUint64 {
			next = n + 1
		}
	}
	if opts.checkRecovered != nil {
		if err := opts.checkRecovered(names, r.logNum, num); err != nil {
			return nil, err
		}
	}
	vs.nextNum.Store(next)
	vs.seq.Store(r.lastSeq)
	vs.logNumber.Store(r.logNum)
	vs.rows.Store(r.liveRows)

	f, err := vs.openManifestForAppend(num, r)
	if err != nil {
		return nil, err
	}
	vs.manifest, vs.manifestNum, vs.manifestSize = f, num, r.goodLen
	vs.snapshotSize = r.snapshotSize
	vs.install(r.v)
	return vs, nil
}

// checkLogWALs checks, given the directory listing, that the WALs the
// replayed MANIFEST (number manifestNum, log number logNum) relies on exist:
//
//   - logNum > 0: the WAL of that number was durable before the edit that
//     named it, and is deleted only after a later edit moves the log number
//     past it;
//   - logNum == 0 (never flushed): no WAL was ever deleted, so the table's
//     first WAL, which CreateTable numbers right after the first MANIFEST,
//     is still there (a rolled-over MANIFEST has a larger number).
//
// Otherwise the MANIFEST lost edits (cut back to an older state) or a WAL was
// deleted, and rows with them: ErrCorrupted, before recovery changes a byte.
func checkLogWALs(names []string, logNum, manifestNum uint64) error {
	var wals []uint64
	for _, name := range names {
		if typ, n, ok := parseFilename(name); ok && typ == fileTypeWAL && n >= logNum {
			wals = append(wals, n)
		}
	}
	if logNum > 0 && !slices.Contains(wals, logNum) {
		return corruptionError(makeFilename(fileTypeWAL, logNum), -1, "WAL named by the log number of %s is missing", makeFilename(fileTypeManifest, manifestNum))
	}
	if logNum == 0 && (len(wals) == 0 || slices.Min(wals) > manifestNum+1) {
		return corruptionError(makeFilename(fileTypeManifest, manifestNum), -1, "log number 0 (never flushed) but the table's first WAL is gone: the MANIFEST lost edits")
	}
	return nil
}

// install makes v (refs 0, fresh from a builder) the current version, with
// the version set's pin. Called with mu held, or before vs is shared.
func (vs *versionSet) install(v *version) {
	v.vs = vs
	v.refs.Store(1)
	vs.refMu.Lock()
	vs.live[v] = struct{}{}
	for l := range v.levels {
		for _, f := range v.levels[l] {
			f.refs++
		}
	}
	vs.refMu.Unlock()
	vs.cur.Store(v)
}

// current returns the current version, pinned: the caller must unref it.
func (vs *versionSet) current() *version {
	for {
		v := vs.cur.Load()
		if v.tryRef() {
			return v
		}
		// v died between the load and the pin: a newer one is installed.
	}
}

// newFileNum hands out a new file number (for a WAL, SST or MANIFEST).
func (vs *versionSet) newFileNum() uint64 { return vs.nextNum.Add(1) - 1 }

// markFileNumUsed makes sure newFileNum never returns n or less.
func (vs *versionSet) markFileNumUsed(n uint64) {
	for {
		cur := vs.nextNum.Load()
		if cur > n || vs.nextNum.CompareAndSwap(cur, n+1) {
			return
		}
	}
}

// lastSeq returns the highest seq assigned or known.
func (vs *versionSet) lastSeq() int64 { return vs.seq.Load() }

// setLastSeq raises lastSeq to s; it never lowers it. The next logAndApply
// records it.
func (vs *versionSet) setLastSeq(s int64) {
	for {
		cur := vs.seq.Load()
		if cur >= s || vs.seq.CompareAndSwap(cur, s) {
			return
		}
	}
}

// liveRows returns the live-row count recorded by the last edit (see
// versionEdit.liveRows).
func (vs *versionSet) liveRows() int64 { return vs.rows.Load() }

// logNum returns the number of the oldest WAL still needed; WALs with a
// smaller number are obsolete.
func (vs *versionSet) logNum() uint64 { return vs.logNumber.Load() }

// manifestFileNum returns the number of the live MANIFEST.
func (vs *versionSet) manifestFileNum() uint64 {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.manifestNum
}

// err returns the sticky error of a failed MANIFEST update, or nil.
func (vs *versionSet) err() error {
	if e := vs.failErr.Load(); e != nil {
		return e
	}
	return nil
}

// logAndApply appends e to the MANIFEST, fsyncs it, and installs the
// resulting version as current; the previous current version loses the
// version set's pin afterwards (its files that no live version contains
// become obsolete once readers release them).
//
// It fills in e's counters: logNum (kept when e sets it, which must not
// lower it), nextFileNum (always the current value), lastSeq (the larger of
// e's and the version set's) and liveRows (kept when e sets it, else the
// current value). Added files must carry fresh numbers from newFileNum (a
// number once deleted is never added again); the version set copies their
// fileMeta.
//
// Errors: an edit that does not apply (deleting a file that is not there,
// overlapping L1+ files, a file number never handed out, …) is returned as
// an ErrInvalidArgument-coded error and changes nothing. A failed write,
// fsync, CURRENT update or kill point makes the set fail stickily: that
// error (coded ErrReadOnly, wrapping the cause) is returned now and by every
// later call. The outcome of a failed call is unknown (the edit may be
// durable): the caller must neither delete the files it added nor assume
// they are live; Open sorts it out. After close: ErrClosed.
func (vs *versionSet) logAndApply(e *versionEdit) error {
	vs.mu.Lock()
	old, err := vs.logAndApplyLocked(e)
	vs.mu.Unlock()
	if old != nil {
		old.unref() // outside mu: may call onObsolete
	}
	return err
}

// errEditConflict marks an edit that does not apply to the current version
// (it deletes a file the version no longer has, or its result breaks a level
// invariant). Nothing was written to the MANIFEST. A compaction whose inputs
// were replaced meanwhile gets it and discards its outputs.
var errEditConflict = errors.New("version edit conflicts with the current version")

// editConflict wraps a version builder's error with errEditConflict.
func editConflict(err error) error {
	return newError(CodeInvalidArgument, "version edit: %v: %w", err, errEditConflict)
}

func (vs *versionSet) logAndApplyLocked(e *versionEdit) (*version, error) {
	if vs.closed {
		return nil, newError(CodeClosed, "version set of %s is closed", vs.dir)
	}
	if sticky := vs.failErr.Load(); sticky != nil {
		return nil, sticky
	}
	if e.comparator != "" && e.comparator != versionComparator {
		return nil, newError(CodeInvalidArgument, "version edit: comparator %q, want %q", e.comparator, versionComparator)
	}
	if e.hasNextFileNum && e.nextFileNum > 0 {
		vs.markFileNumUsed(e.nextFileNum - 1)
	}
	next := vs.nextNum.Load()
	if !e.hasLogNum {
		e.setLogNum(vs.logNumber.Load())
	} else if e.logNum < vs.logNumber.Load() {
		return nil, newError(CodeInvalidArgument, "version edit: logNum %d below the current %d", e.logNum, vs.logNumber.Load())
	}
	if e.logNum >= next {
		return nil, newError(CodeInvalidArgument, "version edit: logNum %d was never handed out (next is %d)", e.logNum, next)
	}
	for _, a := range e.addedFiles {
		if a.meta != nil && a.meta.num >= next {
			return nil, newError(CodeInvalidArgument, "version edit: file %d was never handed out (next is %d)", a.meta.num, next)
		}
	}
	if !e.hasLastSeq || e.lastSeq < vs.seq.Load() {
		e.setLastSeq(vs.seq.Load())
	}
	if !e.hasLiveRows {
		e.setLiveRows(vs.rows.Load())
	}

	base := vs.cur.Load()
	b := newVersionBuilder(base)
	if err := b.apply(e); err != nil {
		return nil, editConflict(err)
	}
	v, err := b.build()
	if err != nil {
		return nil, editConflict(err)
	}
	v.pruneRangeDels(e)

	roll := vs.rollOverDueLocked()
	var newNum uint64
	if roll {
		newNum = vs.newFileNum()
	}
	e.setNextFileNum(vs.nextNum.Load())
	var rec []byte
	if roll {
		rec = vs.snapshot(v, e).encode()
		if len(rec) > maxManifestRecord {
			// A version too large for one snapshot record: keep appending
			// deltas to the current MANIFEST rather than refuse the edit.
			vs.opts.logger.Warn("manifest: snapshot exceeds the record limit; not rolling over",
				"dir", vs.dir, "bytes", len(rec), "limit", maxManifestRecord)
			roll = false
		}
	}
	if !roll {
		rec = e.encode()
	}
	if len(rec) > maxManifestRecord {
		return nil, newError(CodeInvalidArgument, "version edit: %d bytes exceeds the record limit %d", len(rec), maxManifestRecord)
	}

	if roll {
		err = vs.rollOverLocked(newNum, rec)
	} else {
		buf := appendManifestRecord(nil, rec)
		if err = vs.writeSynced(vs.manifest, makeFilename(fileTypeManifest, vs.manifestNum), buf); err == nil {
			vs.manifestSize += int64(len(buf))
		}
	}
	if err != nil {
		sticky := fileError(CodeReadOnly, makeFilename(fileTypeManifest, vs.manifestNum), "MANIFEST update failed; table is read-only: %w", err)
		vs.failErr.Store(sticky)
		return nil, sticky
	}

	vs.logNumber.Store(e.logNum)
	vs.rows.Store(e.liveRows)
	vs.setLastSeq(e.lastSeq)
	vs.install(v)
	return base, nil
}

// close closes the MANIFEST. Later logAndApply calls return ErrClosed; the
// current version stays readable (and pinned by the set: closing does not
// make its files obsolete). A second close returns nil.
func (vs *versionSet) close() error {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.closed {
		return nil
	}
	vs.closed = true
	if vs.manifest == nil {
		return nil
	}
	f := vs.manifest
	vs.manifest = nil
	if err := f.Close(); err != nil {
		return ioError("close", makeFilename(fileTypeManifest, vs.manifestNum), err)
	}
	return nil
}
