package srdb

// Read-only attach (Options.ReadOnly, Database.Refresh): a Database that
// reads a directory another Database may be writing, and changes nothing in
// it. See docs/OPERATIONS.md "Attaching tools" and docs/ARCHITECTURE.md
// "Read-only attach".

import (
	"bytes"
	"errors"
	"io"

	"log/slog"
	"path/filepath"
	"sort"
	"time"
)

// roSnapshotAttempts bounds the attempts at capturing a consistent snapshot
// of one table; roSnapshotBackoff is the pause between two. An attempt
// fails when the writer moved on under it (rolled the MANIFEST over,
// removed an SST or a WAL the attempt was about to read, was half way
// through rotating its WAL); after the last attempt its error is returned.
const (
	roSnapshotAttempts = 20
	roSnapshotBackoff  = 10 * time.Millisecond
)

// readOnlyError is the error of every write API of a ReadOnly database.
func readOnlyError(op, table string) error {
	return tableError(CodeReadOnly, table, "%s: database opened with Options.ReadOnly", op)
}

// refuseReadOnly returns readOnlyError for a table of a ReadOnly database.
func (t *Table) refuseReadOnly(op string) error {
	if t.db != nil && t.db.opts.ReadOnly {
		return readOnlyError(op, t.name)
	}
	return nil
}

// nopCloser stands in for the LOCK of a ReadOnly database, which takes none.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// openReadOnly is Open with Options.ReadOnly: no lock, no directory or file
// created, nothing written or removed. A directory without database.meta is
// not a database yet: ErrNotFound.
func openReadOnly(dir string, o *Options) (*Database, error) {
	db := &Database{dir: dir, opts: o, fs: o.FS, lock: nopCloser{}, tables: map[string]*Table{}, broken: map[string]error{},
		compactionSlots: make(chan struct{}, o.CompactionWorkers)}
	names, err := db.readMetaReadOnly()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		t, err := openTableReadOnly(db, name, db.tableDir(name))
		if err != nil {
			o.Logger.Error("srdb: table failed to open", slog.String("table", name), slog.Any("err", err))
			db.broken[name] = withTable(err, name)
			continue
		}
		db.tables[name] = t
	}
	return db, nil
}

// readMetaReadOnly reads database.meta without ever creating it.
func (db *Database) readMetaReadOnly() ([]string, error) {
	path := filepath.Join(db.dir, dbMetaName)
	raw, err := readWholeFile(db.fs, path)
	if err != nil {
		if isNotExist(err) {
			return nil, fileError(CodeNotFound, path, "ReadOnly Open: no database (database.meta missing): %w", err)
		}
		return nil, err
	}
	return decodeMetaFile(raw, path)
}

// roSnapshot is one table's state as read from its directory: a built (not
// installed) version with every SST it names mapped in the table cache, and
// the WALs at or after its log number replayed into memtables.
type roSnapshot struct {
	schema      *Schema
	manifestNum uint64
	r           *manifestReplay
	mems        []*memtable // oldest first
	lastSeq     int64
	liveRows    int64
	// wals are the WALs replayed into mems, each kept open (a Checkpoint
	// copies its replayed prefix even after the writer removed it).
	wals []roWAL
}

// roWAL is a WAL a ReadOnly snapshot replayed: its number, the open file
// and the length replayed (the end of its last whole record).
type roWAL struct {
	num    uint64
	f      File
	length int64
}

// sameWAL reports whether f, WAL number num as opened now, is the file the
// snapshot s replayed under that number (same header, hence same salt). It
// reports true when s is nil or did not hold that WAL.
func (s *roSnapshot) sameWAL(num uint64, f File) (bool, error) {
	if s == nil {
		return true, nil
	}
	for _, w := range s.wals {
		if w.num != num {
			continue
		}
		var a, b [walHeaderSize]byte
		if _, err := w.f.ReadAt(a[:], 0); err != nil {
			return false, ioError("read", makeFilename(fileTypeWAL, num), err)
		}
		if _, err := f.ReadAt(b[:], 0); err != nil {
			return false, ioError("read", makeFilename(fileTypeWAL, num), err)
		}
		return a == b, nil
	}
	return true, nil
}

// closeROWALs closes the WAL files of a snapshot.
func closeROWALs(wals []roWAL) error {
	var errs []error
	for _, w := range wals {
		if err := w.f.Close(); err != nil {
			errs = append(errs, ioError("close", makeFilename(fileTypeWAL, w.num), err))
		}
	}
	return errors.Join(errs...)
}

// openTableReadOnly opens a table of a ReadOnly database: its snapshot is
// installed as the read state; no WAL, flusher or compaction is started, and
// the table's sticky failure is set so that every write path refuses.
func openTableReadOnly(db *Database, name, dir string) (*Table, error) {
	t := newTable(db, name, dir, nil)
	t.vs = newVersionSet(db.opts.FS, dir, t.versionSetOptions())
	snap, err := t.captureReadOnly(nil)
	if err != nil {
		t.cache.close()
		return nil, err
	}
	t.schema.Store(snap.schema)
	var e error = readOnlyError("write", name)
	t.failure.Store(&e)
	t.installReadOnly(snap)
	if err := t.loadTableOptions(); err != nil {
		t.close()
		return nil, err
	}
	if err := t.loadIndexBuilds(); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// captureReadOnly takes a consistent snapshot of the table directory,
// retrying while the writer changes it under the attempt. live, when not
// nil, is the version the table shows now: files it shares with the new
// snapshot must be the same files (else the table was dropped and created
// again: errTableReplaced).
func (t *Table) captureReadOnly(live *version) (*roSnapshot, error) {
	var err error
	for attempt := 0; attempt < roSnapshotAttempts; attempt++ {
		if attempt > 0 {
			time.Sleep(roSnapshotBackoff)
		}
		var snap *roSnapshot
		snap, err = t.captureReadOnlyOnce(live)
		if err == nil {
			return snap, nil
		}
		if errors.Is(err, errTableReplaced) {
			return nil, err
		}
		t.logger.Debug("srdb: read-only snapshot attempt failed", slog.Int("attempt", attempt), slog.Any("err", err))
	}
	return nil, err
}

// errTableReplaced reports that a table's directory now holds another table
// of the same name (DropTable then CreateTable by the writer).
var errTableReplaced = errors.New("table was dropped and created again")

// captureReadOnlyOnce is one attempt of captureReadOnly:
//
//  1. read schema.json and CURRENT, replay the MANIFEST CURRENT names (up
//     to its last whole record: the writer may be appending one);
//  2. map every SST of that version (a mapping outlives the writer's
//     removal of the file);
//  3. list the WALs at or after its log number and replay them, opened
//     read-only, each up to its first torn record (the newest is being
//     appended to; an older one must be whole);
//  4. read CURRENT and the MANIFEST again: if the log number moved, the
//     writer flushed a WAL of step 3 and may have removed it before the
//     listing, so the attempt is void; so it is if schema.json changed
//     (AddField, DropField, an index change) since step 1.
//
// The writer removes a WAL only after a MANIFEST edit moved the log number
// past it, and an SST only after an edit dropped it, so a snapshot that
// passed step 4 is one state the writer had: the version plus every row of
// the WALs that it had written when they were read.
func (t *Table) captureReadOnlyOnce(live *version) (_ *roSnapshot, err error) {
	fs, dir := t.fs, t.dir
	schemaPath := filepath.Join(dir, schemaFileName)
	s, raw, err := readTableSchema(fs, dir)
	if err != nil {
		return nil, err
	}
	num, err := readCurrent(fs, dir)
	if err != nil {
		return nil, err
	}
	if live != nil && num < t.vs.manifestNum {
		return nil, errTableReplaced
	}
	r, err := t.vs.replayManifest(num)
	if err != nil {
		return nil, err
	}
	var prev *roSnapshot
	if live != nil {
		t.stateMu.RLock()
		prev = t.roSnap
		t.stateMu.RUnlock()
	}
	// A live table's log number and file numbers never go back: lower ones
	// come from a table created again under the same name.
	if prev != nil && (r.logNum < prev.r.logNum || r.nextFileNum < prev.r.nextFileNum) {
		return nil, errTableReplaced
	}
	// Step 2, and the identity check against the live version.
	shared := map[uint64]*fileMeta{}
	if live != nil {
		for _, f := range live.allFiles() {
			shared[f.num] = f
		}
	}
	var mapped []uint64
	var held []roWAL
	defer func() {
		if err != nil {
			for _, n := range mapped {
				_ = t.cache.evict(n)
			}
			_ = closeROWALs(held)
		}
	}()
	for _, f := range r.v.allFiles() {
		if old, ok := shared[f.num]; ok {
			if !old.sameFile(f) {
				return nil, errTableReplaced
			}
			continue
		}
		if _, ok := t.cache.cached(f.num); !ok {
			mapped = append(mapped, f.num)
		}
		if _, err := t.cache.get(f.num); err != nil {
			return nil, err
		}
	}
	// Step 3.
	names, err := fs.List(dir)
	if err != nil {
		return nil, ioError("list", dir, err)
	}
	if err := checkLogWALs(names, r.logNum, num); err != nil {
		return nil, err
	}
	var wals []uint64
	for _, n := range names {
		if typ, wn, ok := parseFilename(n); ok && typ == fileTypeWAL && wn >= r.logNum {
			wals = append(wals, wn)
		}
	}
	sort.Slice(wals, func(i, j int) bool { return wals[i] < wals[j] })
	snap := &roSnapshot{schema: s, manifestNum: num, r: r, lastSeq: r.lastSeq, liveRows: r.liveRows}
	for i, wn := range wals {
		m := newMemtable(wn)
		m.offHeap()
		m.idx = newMemIndexSet(s)
		path := makeFilepath(dir, fileTypeWAL, wn)
		ix := newReplayIndexer(m)
		newest := i == len(wals)-1
		res, err := replayWALMode(fs, path, newest, true, t.logger, func(typ walRecordType, seq int64, data []byte) error {
			hi, err := t.applyWALRecord(m, ix, path, typ, seq, data)
			if hi > snap.lastSeq {
				snap.lastSeq = hi
			}
			return err
		})
		ix.finish()
		if err != nil {
			return nil, err
		}
		if res.stopped && !newest {
			// The writer had not finished this WAL when a newer one was
			// listed (it creates the next WAL before closing this one).
			return nil, corruptionError(path, res.validEnd, "read-only replay: WAL not the newest ends in a torn record")
		}
		if res.headerMissing {
			continue
		}
		f, err := fs.Open(path)
		if err != nil {
			return nil, ioError("open", path, err)
		}
		held = append(held, roWAL{num: wn, f: f, length: res.validEnd})
		// A WAL is only appended to: one the previous snapshot also read must
		// have the same header (its salt is drawn when the file is created),
		// else the table was created again and numbered its files anew.
		if same, err := prev.sameWAL(wn, f); err != nil {
			return nil, err
		} else if !same {
			return nil, errTableReplaced
		}
		snap.liveRows += m.delta()
		snap.mems = append(snap.mems, m)
	}
	// Step 4.
	num2, err := readCurrent(fs, dir)
	if err != nil {
		return nil, err
	}
	if num2 != num {
		return nil, newError(CodeGeneral, "read-only snapshot: MANIFEST rolled over during the attempt")
	}
	r2, err := t.vs.replayManifest(num)
	if err != nil {
		return nil, err
	}
	if r2.logNum != r.logNum {
		return nil, newError(CodeGeneral, "read-only snapshot: log number moved during the attempt")
	}
	// The schema the rows were decoded with must be the one that goes with
	// the version (its index properties): unchanged since step 1.
	raw2, err := readWholeFile(fs, schemaPath)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(raw, raw2) {
		return nil, newError(CodeGeneral, "read-only snapshot: schema.json changed during the attempt")
	}
	snap.wals = held
	return snap, nil
}

// cached returns the open reader of file num, if any.
func (c *tableCache) cached(num uint64) (*sstReader, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.readers[num]
	return r, ok
}

// installReadOnly makes snap the table's read state: its version becomes
// the version set's current one (files it shares with the live versions
// keep their *fileMeta, so their reference counts carry over and a file
// is unmapped only when no version names it), its memtables the immutable
// memtables under an empty active one. Rows open on the old state keep it
// until they are released. It returns false, changing nothing, after Close
// began. Caller holds no table lock.
func (t *Table) installReadOnly(snap *roSnapshot) bool {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.closed {
		_ = closeROWALs(snap.wals)
		return false
	}
	vs, r := t.vs, snap.r
	vs.mu.Lock()
	if cur := vs.cur.Load(); cur != nil {
		byNum := map[uint64]*fileMeta{}
		for _, f := range cur.allFiles() {
			byNum[f.num] = f
		}
		for l := range r.v.levels {
			for i, f := range r.v.levels[l] {
				if old, ok := byNum[f.num]; ok {
					r.v.levels[l][i] = old
				}
			}
		}
	}
	old := vs.cur.Load()
	vs.manifestNum = snap.manifestNum
	vs.nextNum.Store(max(r.nextFileNum, r.maxFileNum+1))
	vs.seq.Store(r.lastSeq)
	vs.logNumber.Store(r.logNum)
	vs.rows.Store(r.liveRows)
	vs.install(r.v)
	vs.mu.Unlock()

	t.schema.Store(snap.schema)
	t.lastSeq = snap.lastSeq
	t.seqHigh.Store(snap.lastSeq)
	t.liveRows.Store(snap.liveRows)
	t.flushedLiveRows = r.liveRows
	active := newMemtable(vs.nextNum.Load())
	active.offHeap()
	active.idx = newMemIndexSet(snap.schema)

	t.stateMu.Lock()
	prev := t.current
	t.current = vs.current()
	oldMem, oldImms := t.mem, t.imms
	t.mem = active
	t.imms = snap.mems
	oldWALs := t.roSnap
	t.roSnap = snap
	t.stateMu.Unlock()
	if oldWALs != nil {
		if err := closeROWALs(oldWALs.wals); err != nil {
			t.logger.Warn("srdb: closing replayed WALs", slog.Any("err", err))
		}
	}
	// Rows open on the old state hold their own references to its
	// memtables (memtable_arena.go).
	for _, m := range append(oldImms, oldMem) {
		if m != nil {
			m.unrefOwned()
		}
	}
	if prev != nil {
		prev.unref()
	}
	if old != nil {
		old.unref() // the version set's pin of the replaced version
	}
	t.noteMutation() // the new snapshot may update or delete rows a tail read ahead
	t.tails.notify()
	return true
}

// ReadOnly reports whether the database was opened with Options.ReadOnly
// (false for a nil or zero Database).
func (db *Database) ReadOnly() bool {
	return db.usable() == nil && db.opts.ReadOnly
}

// Refresh catches a ReadOnly database up with the writer's newest state:
// every table shows a new consistent snapshot (each as of the moment it is
// read; two tables' moments differ), tables created since appear, and
// tables dropped since disappear: a *Table handle of a dropped table
// returns ErrClosed from then on, as after DropTable. Rows open before
// Refresh keep reading the state they started on. A table the writer
// dropped and created again under the same name gets a new *Table (the old
// handle is closed). A table that fails to load is reported by Table(name)
// and the others are refreshed; Refresh returns the first such error.
// Without Options.ReadOnly Refresh returns ErrInvalidArgument.
func (db *Database) Refresh() error {
	if err := db.usable(); err != nil {
		return err
	}
	if !db.opts.ReadOnly {
		return newError(CodeInvalidArgument, "Refresh: only a database opened with Options.ReadOnly refreshes")
	}
	db.refreshMu.Lock()
	defer db.refreshMu.Unlock()
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	names, err := db.readMetaReadOnly()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	db.mu.Lock()
	var gone []*Table
	for n, t := range db.tables {
		if !want[n] {
			gone = append(gone, t)
			delete(db.tables, n)
		}
	}
	for n := range db.broken {
		if !want[n] {
			delete(db.broken, n)
		}
	}
	tables := make(map[string]*Table, len(db.tables))
	for n, t := range db.tables {
		tables[n] = t
	}
	db.mu.Unlock()

	var errs []error
	for _, t := range gone {
		if err := t.close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range names {
		t, ok := tables[n]
		if ok {
			err := t.refreshReadOnly()
			if err == nil {
				continue
			}
			if !errors.Is(err, errTableReplaced) {
				errs = append(errs, withTable(err, n))
				continue
			}
			if err := t.close(); err != nil {
				errs = append(errs, err)
			}
		}
		nt, err := openTableReadOnly(db, n, db.tableDir(n))
		db.mu.Lock()
		if db.closed {
			db.mu.Unlock()
			if nt != nil {
				nt.close()
			}
			return ErrClosed
		}
		if err != nil {
			delete(db.tables, n)
			db.broken[n] = withTable(err, n)
			errs = append(errs, db.broken[n])
		} else {
			delete(db.broken, n)
			db.tables[n] = nt
		}
		db.mu.Unlock()
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// refreshReadOnly captures and installs a new snapshot of t.
func (t *Table) refreshReadOnly() error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	cur := t.vs.current()
	snap, err := t.captureReadOnly(cur)
	cur.unref()
	if err != nil {
		return err
	}
	if !t.installReadOnly(snap) {
		return t.closedError()
	}
	if err := t.loadTableOptions(); err != nil {
		return err
	}
	return t.loadIndexBuilds()
}

// checkpointReadOnlyTo is checkpointTo for a table of a ReadOnly database:
// it copies the installed snapshot (Database.Checkpoint holds refreshMu, so
// it stays installed). The WALs are copied up to the length replayed, from
// the files the snapshot holds open; the SSTs are hard-linked, or copied
// from their mappings when linking fails (the writer may have removed
// them) or links a file of another size; then MANIFEST, CURRENT and
// schema.json as checkpointTo writes them.
func (t *Table) checkpointReadOnlyTo(dst string) error {
	fs := t.fs
	if err := fs.MkdirAll(dst); err != nil {
		return ioError("mkdir", dst, err)
	}
	t.stateMu.RLock()
	snap := t.roSnap
	t.stateMu.RUnlock()
	if snap == nil || t.checkOpen() != nil {
		return t.closedError()
	}
	v, counters := t.vs.checkpointState()
	defer v.unref()
	if err := killPoint(kpCheckpointAfterCapture); err != nil {
		return err
	}
	next := counters.nextFileNum
	for _, w := range snap.wals {
		next = max(next, w.num+1)
		if err := copyReaderN(fs, w.f, makeFilename(fileTypeWAL, w.num), makeFilepath(dst, fileTypeWAL, w.num), w.length); err != nil {
			return err
		}
	}
	if err := killPoint(kpCheckpointAfterWALs); err != nil {
		return err
	}
	for _, f := range v.allFiles() {
		src, out := makeFilepath(t.dir, fileTypeSST, f.num), makeFilepath(dst, fileTypeSST, f.num)
		if err := fs.Link(src, out); err == nil {
			if fi, err := fs.Stat(out); err == nil && fi.Size() >= 0 && uint64(fi.Size()) == f.size {
				continue
			}
			if err := fs.Remove(out); err != nil {
				return ioError("remove", out, err)
			}
		}
		r, err := t.cache.get(f.num)
		if err != nil {
			return err
		}
		if err := writeFileSynced(fs, out, r.data); err != nil {
			return err
		}
	}
	if err := killPoint(kpCheckpointAfterSSTs); err != nil {
		return err
	}
	return t.writeCheckpointMeta(dst, v, counters, next, snap.schema)
}

// copyReaderN copies the first n bytes of the open file in (called name in
// errors) to the new file dst and fsyncs it.
func copyReaderN(fs FS, in io.ReaderAt, name, dst string, n int64) error {
	buf := make([]byte, n)
	if k, err := in.ReadAt(buf, 0); int64(k) < n {
		if err == nil || errors.Is(err, io.EOF) {
			return corruptionError(name, int64(k), "file ended before the %d bytes Checkpoint copies", n)
		}
		return ioError("read", name, err)
	}
	return writeFileSynced(fs, dst, buf)
}
