package srdb

// Database.Checkpoint: an online, consistent copy of every table (see
// docs/ARCHITECTURE.md "Checkpoints"). The copy is built in a temporary
// sibling of the destination and renamed into place once complete, so no
// crash leaves a destination directory that Open accepts but is incomplete.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
)

// checkpointTmpInfix is put between the destination's name and a random hex
// suffix to name the directory a checkpoint is built in
// ("backup.checkpoint-tmp-1a2b3c4d5e6f7a8b"). A directory of that name is a
// leftover of a crashed or failed Checkpoint and may be deleted.
const checkpointTmpInfix = ".checkpoint-tmp-"

// checkpointCopyChunk is the buffer size of a file copy.
const checkpointCopyChunk = 1 << 20

// Kill points of Checkpoint (see killPoint and docs/RELIABILITY.md).
// writeFileAtomic adds "checkpoint.schema.*", "checkpoint.current.*" and
// "checkpoint.meta.*" (after_tmp_sync, after_rename).
const (
	kpCheckpointAfterMkdir    = "checkpoint.after_mkdir"    // temporary directory created
	kpCheckpointAfterCapture  = "checkpoint.after_capture"  // a table's consistency point taken, files pinned
	kpCheckpointAfterWALs     = "checkpoint.after_wals"     // a table's WALs copied
	kpCheckpointAfterSSTs     = "checkpoint.after_ssts"     // a table's SSTs linked or copied
	kpCheckpointAfterManifest = "checkpoint.after_manifest" // a table's MANIFEST written and fsynced
	kpCheckpointAfterTable    = "checkpoint.after_table"    // a table's directory complete and fsynced
	kpCheckpointBeforeRename  = "checkpoint.before_rename"  // database.meta written, about to rename
	kpCheckpointAfterRename   = "checkpoint.after_rename"   // renamed, parent not yet fsynced
)

// Checkpoint writes a consistent copy of the database to dir while reads and
// writes go on. Every write acknowledged before the call is in the copy, and
// nothing that was not written is; each table is copied as of one moment
// (tables are copied one after another, so two tables' moments differ).
// Immutable SSTs are hard-linked where the file system allows (FS.Link) and
// copied otherwise; WALs, the MANIFEST, CURRENT and schema.json are written
// fresh. The result is a database directory that Open opens and Check
// passes.
//
// dir must not exist (its parent must): an existing dir, a dir inside the
// database directory, or an empty name is ErrInvalidArgument naming dir.
// The copy is built in a sibling "<dir>.checkpoint-tmp-<random hex>",
// fsynced, and renamed to dir only when complete: after a crash or an error
// there is either no dir at all or a complete one (a leftover temporary
// directory may be deleted). A table that failed to open, or that became
// read-only after a failed write, makes Checkpoint fail with that table's
// error. CreateTable, DropTable and Close wait for a Checkpoint in progress;
// a table's flushes wait while its WALs are copied (writes go on until its
// memtables are full).
func (db *Database) Checkpoint(dir string) (err error) {
	if err := db.usable(); err != nil {
		return err
	}
	if dir == "" {
		return newError(CodeInvalidArgument, "Checkpoint: empty directory name")
	}
	if db.opts.ReadOnly {
		// The snapshots must stay put while they are copied.
		db.refreshMu.Lock()
		defer db.refreshMu.Unlock()
	}
	dir = filepath.Clean(dir)
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	if err := db.checkCheckpointDir(dir); err != nil {
		return err
	}
	if len(db.broken) > 0 {
		broken := make([]string, 0, len(db.broken))
		for name := range db.broken {
			broken = append(broken, name)
		}
		sort.Strings(broken)
		return tableError(CodeInvalidArgument, broken[0], "Checkpoint: table failed to open: %w", db.broken[broken[0]])
	}
	fs := db.fs
	parent := filepath.Dir(dir)
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return newError(CodeGeneral, "Checkpoint: random suffix: %w", err)
	}
	tmp := dir + checkpointTmpInfix + hex.EncodeToString(suffix[:])
	renamed := false
	defer func() {
		if err == nil {
			return
		}
		// Best effort: whatever is left is either the temporary directory
		// (never mistaken for dir) or a dir whose parent was not fsynced.
		gone := tmp
		if renamed {
			gone = dir
		}
		if rerr := fs.RemoveAll(gone); rerr != nil {
			db.opts.Logger.Warn("srdb: Checkpoint cannot remove its partial copy", slog.String("dir", gone), slog.Any("err", rerr))
		}
	}()
	tablesDir := filepath.Join(tmp, tablesDirName)
	if err := fs.MkdirAll(tablesDir); err != nil {
		return ioError("mkdir", tablesDir, err)
	}
	if err := killPoint(kpCheckpointAfterMkdir); err != nil {
		return err
	}
	names := make([]string, 0, len(db.tables))
	for name := range db.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.tables[name].checkpointTo(filepath.Join(tablesDir, name)); err != nil {
			return withTable(err, name)
		}
	}
	if err := fs.SyncDir(tablesDir); err != nil {
		return ioError("fsync dir", tablesDir, err)
	}
	// database.meta last: a temporary directory with table directories and
	// no database.meta is refused by Open (loadMeta). writeFileAtomic also
	// fsyncs tmp, making the entry of tables/ durable.
	meta, err := encodeMetaFile(names)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(fs, tmp, dbMetaName, meta, "checkpoint.meta"); err != nil {
		return err
	}
	if err := killPoint(kpCheckpointBeforeRename); err != nil {
		return err
	}
	// Re-check just before the rename: rename(2) replaces an empty
	// directory, and dir must not have appeared meanwhile.
	if err := db.checkCheckpointDir(dir); err != nil {
		return err
	}
	if err := fs.Rename(tmp, dir); err != nil {
		return ioError("rename", tmp, err)
	}
	renamed = true
	if err := killPoint(kpCheckpointAfterRename); err != nil {
		return err
	}
	if err := fs.SyncDir(parent); err != nil {
		return ioError("fsync dir", parent, err)
	}
	return nil
}

// checkCheckpointDir refuses a destination that exists, is the database
// directory or lies inside it, or whose parent is missing.
func (db *Database) checkCheckpointDir(dir string) error {
	bad := func(msg string) error {
		return fileError(CodeInvalidArgument, dir, "Checkpoint: %s", msg)
	}
	absDir, err1 := filepath.Abs(dir)
	absDB, err2 := filepath.Abs(db.dir)
	if err := errors.Join(err1, err2); err != nil {
		return fileError(CodeInvalidArgument, dir, "Checkpoint: %w", err)
	}
	if absDir == absDB || strings.HasPrefix(absDir, absDB+string(filepath.Separator)) {
		return bad("destination is inside the database directory")
	}
	if _, err := db.fs.Stat(dir); err == nil {
		return bad("destination already exists")
	} else if !isNotExist(err) {
		return ioError("stat", dir, err)
	}
	parent := filepath.Dir(dir)
	if fi, err := db.fs.Stat(parent); err != nil {
		if isNotExist(err) {
			return bad("parent directory does not exist")
		}
		return ioError("stat", parent, err)
	} else if !fi.IsDir() {
		return bad("parent is not a directory")
	}
	return nil
}

// checkpointWAL is a WAL a table checkpoint copies: its number and how many
// bytes (-1: the whole file, which no one writes any more).
type checkpointWAL struct {
	num    uint64
	length int64
}

// checkpointTo writes a consistent copy of the table to the new directory
// dst:
//
//  1. Consistency point, under flushMu (held until the WALs are copied, so
//     that no flush deletes one meanwhile): under writeMu, the active WAL and
//     the end of its last appended record (a record boundary covering
//     every acknowledged write) and the immutable memtables' WALs; then the current version,
//     pinned, with its counters (one moment, under the version set's mu) and
//     the schema (read before and after: unchanged means it matches the
//     version's properties).
//  2. The active WAL is written and fsynced up to at least that length, so
//     the copy holds only records whose commit succeeds.
//  3. The WALs at or after the version's log number are copied (the active
//     one up to the recorded length); flushMu is released.
//  4. The version's SSTs are hard-linked or copied; the pin keeps a
//     compaction from deleting them meanwhile.
//  5. MANIFEST-<next file number> holding one snapshot record of the
//     version, CURRENT, schema.json (whose atomic write fsyncs dst last).
func (t *Table) checkpointTo(dst string) error {
	if t.db.opts.ReadOnly {
		return t.checkpointReadOnlyTo(dst)
	}
	if err := t.readOnlyErr(); err != nil {
		return err
	}
	fs := t.fs
	if err := fs.MkdirAll(dst); err != nil {
		return ioError("mkdir", dst, err)
	}
	t.flushMu.Lock()
	flushLocked := true
	defer func() {
		if flushLocked {
			t.flushMu.Unlock()
		}
	}()

	t.writeMu.Lock()
	if t.closed {
		t.writeMu.Unlock()
		return t.closedError()
	}
	active := t.wal
	activeEnd := active.dataEndOffset()
	wals := []checkpointWAL{{num: active.logNum(), length: activeEnd}}
	t.stateMu.RLock()
	for _, m := range t.imms {
		wals = append(wals, checkpointWAL{num: m.logNum, length: -1})
	}
	t.stateMu.RUnlock()
	t.writeMu.Unlock()

	// No flush runs (flushMu), so the log number cannot move past a WAL
	// listed above; compactions and index rewrites may install versions.
	var (
		v        *version
		counters *versionEdit
		schema   *Schema
	)
	for {
		s := t.Schema()
		v, counters = t.vs.checkpointState()
		if t.Schema() == s {
			schema = s
			break
		}
		v.unref()
	}
	defer v.unref()
	if err := killPoint(kpCheckpointAfterCapture); err != nil {
		return err
	}

	if err := active.sync(); err != nil {
		return err
	}
	sort.Slice(wals, func(i, j int) bool { return wals[i].num < wals[j].num })
	for _, w := range wals {
		if w.num < counters.logNum {
			continue // flushed: its rows are in the version's SSTs
		}
		src := makeFilepath(t.dir, fileTypeWAL, w.num)
		if err := copyFileN(fs, src, makeFilepath(dst, fileTypeWAL, w.num), w.length); err != nil {
			return err
		}
	}
	t.flushMu.Unlock()
	flushLocked = false
	if err := killPoint(kpCheckpointAfterWALs); err != nil {
		return err
	}

	for _, f := range v.allFiles() {
		src, out := makeFilepath(t.dir, fileTypeSST, f.num), makeFilepath(dst, fileTypeSST, f.num)
		if err := fs.Link(src, out); err != nil {
			t.logger.Debug("srdb: Checkpoint copies an SST it cannot link", slog.String("file", src), slog.Any("err", err))
			if err := copyFileN(fs, src, out, -1); err != nil {
				return err
			}
		}
	}
	if err := killPoint(kpCheckpointAfterSSTs); err != nil {
		return err
	}

	// The MANIFEST takes the next file number, above every file copied.
	return t.writeCheckpointMeta(dst, v, counters, counters.nextFileNum, schema)
}

// writeCheckpointMeta ends the checkpoint of a table into dst, whose WALs
// and SSTs are in place: a MANIFEST-mnum holding one snapshot record of v
// with counters, CURRENT naming it, and schema.json.
func (t *Table) writeCheckpointMeta(dst string, v *version, counters *versionEdit, mnum uint64, schema *Schema) error {
	fs := t.fs
	counters.setNextFileNum(mnum + 1)
	rec := t.vs.snapshot(v, counters).encode()
	if len(rec) > maxManifestRecord {
		return newError(CodeInvalidArgument, "Checkpoint: snapshot of %d bytes exceeds the MANIFEST record limit %d", len(rec), maxManifestRecord)
	}
	buf := appendManifestRecord(appendManifestHeader(nil), rec)
	if err := writeFileSynced(fs, makeFilepath(dst, fileTypeManifest, mnum), buf); err != nil {
		return err
	}
	if err := killPoint(kpCheckpointAfterManifest); err != nil {
		return err
	}
	if err := writeFileAtomic(fs, dst, currentName, []byte(makeFilename(fileTypeManifest, mnum)+"\n"), "checkpoint.current"); err != nil {
		return err
	}
	data, err := encodeSchemaFile(schema)
	if err != nil {
		return err
	}
	// writeFileAtomic fsyncs dst after its rename: every entry made above
	// (WALs, SSTs, MANIFEST, CURRENT, schema.json) is durable from here on.
	if err := writeFileAtomic(fs, dst, schemaFileName, data, "checkpoint.schema"); err != nil {
		return err
	}
	return killPoint(kpCheckpointAfterTable)
}

// dataEndOffset returns the offset just past the last appended record that
// is not a sync mark: a record boundary that sync makes written. (The sync
// mark an fsync appends stays buffered until the next write, so the
// appended size may be beyond what sync writes.)
func (w *walWriter) dataEndOffset() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dataEnd
}

// checkpointState returns the current version, pinned (the caller must
// unref it), and the counters that go with it (log number, next file
// number, last seq, live rows), read at one moment under mu.
func (vs *versionSet) checkpointState() (*version, *versionEdit) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	v := vs.current()
	c := &versionEdit{}
	c.setLogNum(vs.logNumber.Load())
	c.setNextFileNum(vs.nextNum.Load())
	c.setLastSeq(vs.seq.Load())
	c.setLiveRows(vs.rows.Load())
	return v, c
}

// copyFileN copies the first n bytes of src (the whole file when n < 0) to
// the new file dst and fsyncs it. A src shorter than n is an error.
func copyFileN(fs FS, src, dst string, n int64) error {
	in, err := fs.Open(src)
	if err != nil {
		return ioError("open", src, err)
	}
	defer in.Close() // read-only: a close error loses nothing
	if n < 0 {
		fi, err := in.Stat()
		if err != nil {
			return ioError("stat", src, err)
		}
		n = fi.Size()
	}
	out, err := fs.Create(dst)
	if err != nil {
		return ioError("create", dst, err)
	}
	buf := make([]byte, min(n, checkpointCopyChunk))
	for off := int64(0); off < n; {
		chunk := buf[:min(int64(len(buf)), n-off)]
		k, err := in.ReadAt(chunk, off)
		if k < len(chunk) {
			out.Close()
			if err == nil || errors.Is(err, io.EOF) {
				return corruptionError(src, off+int64(k), "file ended before the %d bytes Checkpoint copies", n)
			}
			return ioError("read", src, err)
		}
		if w, err := out.Write(chunk); err != nil || w != len(chunk) {
			out.Close()
			if err == nil {
				err = io.ErrShortWrite
			}
			return ioError("write", dst, err)
		}
		off += int64(k)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return ioError("fsync", dst, err)
	}
	if err := out.Close(); err != nil {
		return ioError("close", dst, err)
	}
	return nil
}

// writeFileSynced writes data to the new file path and fsyncs it.
func writeFileSynced(fs FS, path string, data []byte) error {
	f, err := fs.Create(path)
	if err != nil {
		return ioError("create", path, err)
	}
	if w, err := f.Write(data); err != nil || w != len(data) {
		f.Close()
		if err == nil {
			err = io.ErrShortWrite
		}
		return ioError("write", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ioError("fsync", path, err)
	}
	if err := f.Close(); err != nil {
		return ioError("close", path, err)
	}
	return nil
}
