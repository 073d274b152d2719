package srdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// newTable builds the in-memory shell of a table; openTable and createTable
// fill it.
func newTable(db *Database, name, dir string, s *Schema) *Table {
	t := &Table{
		db:            db,
		name:          name,
		dir:           dir,
		opts:          db.opts,
		fs:            db.opts.FS,
		logger:        db.opts.Logger.With(slog.String("table", name)),
		cache:         newTableCache(db.opts.FS, dir, db.opts.MaxRowSize),
		flushWake:     make(chan struct{}, 1),
		retentionWake: make(chan struct{}, 1),
		pinsDrained:   make(chan struct{}),
		done:          make(chan struct{}),
	}
	t.schema.Store(s)
	t.spaceCond = sync.NewCond(&t.writeMu)
	return t
}

// versionSetOptionsFor returns the version set options of a table: obsolete
// SSTs are unmapped and removed as soon as no version pins them.
func (t *Table) versionSetOptions() versionSetOptions {
	return versionSetOptions{
		logger:         t.logger,
		checkRecovered: checkLogWALs,
		onObsolete: func(num uint64) {
			if err := t.cache.evict(num); err != nil {
				t.logger.Warn("srdb: closing obsolete SST", slog.Uint64("file", num), slog.Any("err", err))
			}
			if t.db.opts.ReadOnly {
				return // the writer removes its files (readonly.go)
			}
			path := makeFilepath(t.dir, fileTypeSST, num)
			if err := t.fs.Remove(path); err != nil {
				t.logger.Warn("srdb: removing obsolete SST", slog.String("file", path), slog.Any("err", err))
			}
		},
	}
}

// createTable makes the directory, schema.json, MANIFEST and first WAL of a
// new table. Kill points: "table_create.after_mkdir",
// "table_create.after_schema", "table_create.after_manifest". A crash at any
// of them leaves a directory that database.meta does not name yet; Open
// removes it.
func createTable(db *Database, name, dir string, s *Schema) (_ *Table, err error) {
	fs := db.opts.FS
	if err := fs.MkdirAll(dir); err != nil {
		return nil, ioError("mkdir", dir, err)
	}
	// The new directory's entry lives in its parent: make it durable before
	// anything inside it is relied on.
	if err := fs.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, ioError("fsync dir", filepath.Dir(dir), err)
	}
	if err := killPoint("table_create.after_mkdir"); err != nil {
		return nil, err
	}
	data, err := encodeSchemaFile(s)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(fs, dir, schemaFileName, data, "schema"); err != nil {
		return nil, err
	}
	if err := killPoint("table_create.after_schema"); err != nil {
		return nil, err
	}
	t := newTable(db, name, dir, s)
	vs, err := createVersionSet(fs, dir, t.versionSetOptions())
	if err != nil {
		return nil, err
	}
	t.vs = vs
	if err := killPoint("table_create.after_manifest"); err != nil {
		vs.close()
		return nil, err
	}
	if err := t.start(nil); err != nil {
		vs.close()
		return nil, err
	}
	return t, nil
}

// openTable recovers an existing table: schema, MANIFEST, WAL replay. Files
// that no version names (orphans of a crashed flush or compaction, temp
// files) and WALs older than the MANIFEST's log number are removed.
func openTable(db *Database, name, dir string) (_ *Table, err error) {
	fs := db.opts.FS
	s, _, err := readTableSchema(fs, dir)
	if err != nil {
		return nil, err
	}
	t := newTable(db, name, dir, s)
	vs, err := recoverVersionSet(fs, dir, t.versionSetOptions())
	if err != nil {
		return nil, err
	}
	t.vs = vs
	defer func() {
		if err != nil {
			vs.close()
			t.cache.close()
		}
	}()

	// Sort the directory: live files, WALs to replay, garbage.
	names, err := fs.List(dir)
	if err != nil {
		return nil, ioError("list", dir, err)
	}
	var wals []uint64
	for _, n := range names {
		if typ, num, ok := parseFilename(n); ok && typ == fileTypeWAL && num >= vs.logNum() {
			wals = append(wals, num)
		}
	}
	if err := checkLogWALHeader(fs, dir, vs.logNum()); err != nil {
		return nil, err
	}
	garbage := vs.unreferencedFiles(names)
	for _, n := range garbage {
		t.logger.Info("srdb: removing obsolete file", slog.String("file", n))
		if err := fs.Remove(filepath.Join(dir, n)); err != nil {
			return nil, ioError("remove", n, err)
		}
	}
	if len(garbage) > 0 {
		if err := fs.SyncDir(dir); err != nil {
			return nil, ioError("fsync dir", dir, err)
		}
	}
	sort.Slice(wals, func(i, j int) bool { return wals[i] < wals[j] })

	// Replay every WAL into its own memtable; they become immutable
	// memtables flushed in the background, so Open costs only the replay.
	var replayed []*memtable
	lastSeq := vs.lastSeq()
	t.collectBatches = true
	defer func() { t.collectBatches = false }()
	live64 := vs.liveRows()
	for i, num := range wals {
		m := newMemtable(num)
		m.offHeap()
		m.idx = newMemIndexSet(s)
		path := makeFilepath(dir, fileTypeWAL, num)
		ix := newReplayIndexer(m)
		res, err := replayWAL(fs, path, i == len(wals)-1, t.logger, func(typ walRecordType, seq int64, data []byte) error {
			hi, err := t.applyWALRecord(m, ix, path, typ, seq, data)
			if hi > lastSeq {
				lastSeq = hi
			}
			return err
		})
		ix.finish()
		if err != nil {
			return nil, err
		}
		if res.headerMissing {
			// A crash inside createWAL: the file holds nothing. Remove it now,
			// or it would read as a damaged older WAL once a newer one exists.
			if err := fs.Remove(path); err != nil {
				return nil, ioError("remove", path, err)
			}
			if err := fs.SyncDir(dir); err != nil {
				return nil, ioError("fsync dir", dir, err)
			}
			continue
		}
		// An empty replayed memtable is kept too: its flush writes no SST
		// but advances logNum past its WAL, which then goes.
		live64 += m.delta()
		replayed = append(replayed, m)
	}
	t.lastSeq = lastSeq
	t.seqHigh.Store(lastSeq)
	t.liveRows.Store(live64)
	if t.maxBatch, err = loadMaxBatch(vs); err != nil {
		return nil, withTable(err, t.name)
	}
	for _, m := range replayed {
		t.maxBatch = max(t.maxBatch, m.maxBatch.Load())
	}
	t.flushedLiveRows = vs.liveRows()
	if err := t.loadTableOptions(); err != nil {
		return nil, err
	}
	if err := t.loadIndexBuilds(); err != nil {
		return nil, err
	}
	if err := t.start(replayed); err != nil {
		return nil, err
	}
	t.resumeIndexBuilds()
	return t, nil
}

// applyWALRecord applies one replayed WAL record to m (its indexes through
// ix, see table_replay.go) and returns the highest seq it names.
func (t *Table) applyWALRecord(m *memtable, ix *replayIndexer, path string, typ walRecordType, seq int64, data []byte) (int64, error) {
	bad := func(format string, args ...any) (int64, error) {
		e := corruptionError(path, -1, format, args...)
		e.Table = t.name
		return seq, e
	}
	switch typ {
	case walRecordBatch:
		count, n := binary.Uvarint(data)
		if n <= 0 || count == 0 || count > maxBatchRows {
			return bad("batch record at seq %d: bad row count", seq)
		}
		data = data[n:]
		for i := uint64(0); i < count; i++ {
			l, n := binary.Uvarint(data)
			if n <= 0 || l > uint64(len(data)-n) {
				return bad("batch record at seq %d: row %d length out of range", seq, i)
			}
			row := data[n : n+int(l)]
			data = data[n+int(l):]
			view, err := parseRow(row)
			if err != nil {
				return bad("batch record at seq %d: row %d: %v", seq, i, err)
			}
			if view.seq() != seq+int64(i) {
				return bad("batch record at seq %d: row %d has seq %d", seq, i, view.seq())
			}
			ix.add(m, view.seq(), kindSet, view.timeNanos(), row)
		}
		if len(data) != 0 {
			return bad("batch record at seq %d: %d trailing bytes", seq, len(data))
		}
		m.addDelta(int64(count))
		return seq + int64(count) - 1, nil
	case walRecordUpdate:
		view, err := parseRow(data)
		if err != nil || view.seq() != seq {
			return bad("update record for seq %d: bad row", seq)
		}
		ix.add(m, seq, kindSet, view.timeNanos(), data)
		return seq, nil
	case walRecordDelete:
		ix.add(m, seq, kindDelete, 0, nil)
		m.addDelta(-1)
		return seq, nil
	case walRecordRangeDelete:
		d, n := decodeRangeTombstone(data)
		if n <= 0 || d.seqLo != seq {
			return bad("range delete record at seq %d: bad tombstone", seq)
		}
		hidden, k := binary.Uvarint(data[n:])
		if k <= 0 || n+k != len(data) || hidden > uint64(d.seqHi-d.seqLo) {
			return bad("range delete record at seq %d: bad row count", seq)
		}
		ix.addRangeDel(m, d)
		m.addDelta(-int64(hidden))
		return d.seqHi - 1, nil
	case walRecordMultiTable:
		id, parts, ok := decodeBatchRecord(data)
		if !ok || seq != 0 {
			return bad("batch record: malformed")
		}
		hi := int64(0)
		for _, p := range parts {
			if p.table != t.name {
				continue
			}
			h, err := t.applyWALRecord(m, ix, path, p.typ, p.seq, p.payload)
			if err != nil {
				return h, err
			}
			hi = max(hi, h)
		}
		m.noteBatch(id)
		if t.collectBatches {
			t.replayedBatches = append(t.replayedBatches, replayedBatch{id: id, payload: slices.Clone(data)})
		}
		return hi, nil
	case walRecordDeleteBatch:
		count, n := binary.Uvarint(data)
		if n <= 0 || count == 0 || count > uint64(len(data)) || seq < 1 {
			return bad("delete batch record at seq %d: bad count or seq", seq)
		}
		data = data[n:]
		cur := seq
		for i := uint64(0); i < count; i++ {
			delta, k := binary.Uvarint(data)
			if k <= 0 || (i == 0) != (delta == 0) || delta > uint64(math.MaxInt64-cur) {
				return bad("delete batch record at seq %d: bad seq %d", seq, i)
			}
			data = data[k:]
			cur += int64(delta)
			ix.add(m, cur, kindDelete, 0, nil)
		}
		if len(data) != 0 {
			return bad("delete batch record at seq %d: %d trailing bytes", seq, len(data))
		}
		m.addDelta(-int64(count))
		return cur, nil
	}
	return bad("unknown record type %d", typ)
}

// start creates the WAL of a fresh active memtable, installs the read state
// and starts the background flusher. replayed memtables (oldest first) become
// immutable memtables to be flushed.
func (t *Table) start(replayed []*memtable) error {
	num := t.vs.newFileNum()
	w, err := createWAL(t.fs, makeFilepath(t.dir, fileTypeWAL, num), num, t.opts.Durability, t.opts.SyncInterval, t.logger)
	if err != nil {
		return err
	}
	t.wal = w
	w.setInserters(&t.inserters)
	w.setCounters(&t.stats.wal)
	t.mem = newMemtable(num)
	t.mem.offHeap()
	t.mem.idx = newMemIndexSet(t.Schema())
	t.mem.wal = w
	t.imms = replayed
	t.current = t.vs.current()
	t.startCompactions()
	t.bg.Add(2)
	go t.flushLoop()
	go t.retentionLoop()
	if len(replayed) > 0 {
		t.flushWake <- struct{}{}
	}
	return nil
}

// readWholeFile reads a small file (schema.json, database.meta, CURRENT).
// Files over maxMetaFile are corrupt by definition.
func readWholeFile(fs FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, ioError("open", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, ioError("stat", path, err)
	}
	if st.Size() > maxMetaFile {
		return nil, corruptionError(path, -1, "file of %d bytes is larger than any metadata file (%d)", st.Size(), maxMetaFile)
	}
	buf := make([]byte, st.Size())
	if n, err := f.ReadAt(buf, 0); n != len(buf) {
		return nil, ioError("read", path, err)
	}
	return buf, nil
}

// maxMetaFile caps the size of schema.json, database.meta and CURRENT.
const maxMetaFile = 16 << 20

// checkLogWALHeader checks that the WAL the log number names (when it is not
// 0) has a header. Replay takes a newest WAL without one for a crash inside
// createWAL and drops it, but this WAL's header was fsynced before the edit
// that named it: a missing or zeroed header here is damage, and dropping the
// file would lose its rows. It runs before recovery changes anything.
func checkLogWALHeader(fs FS, dir string, logNum uint64) error {
	if logNum == 0 {
		return nil
	}
	path := makeFilepath(dir, fileTypeWAL, logNum)
	f, err := fs.Open(path)
	if err != nil {
		return ioError("open", path, err)
	}
	defer f.Close()
	hdr := make([]byte, walHeaderSize)
	n, err := io.ReadFull(f, hdr)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return ioError("read", path, err)
	}
	if n < walHeaderSize || bytes.Count(hdr, []byte{0}) == walHeaderSize {
		return corruptionError(path, 0, "WAL named by the MANIFEST's log number has no header (%d bytes)", n)
	}
	return nil
}
