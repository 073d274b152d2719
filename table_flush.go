package srdb

import (
	"encoding/binary"
	"log/slog"
	"time"
)

// flushLoop runs in the background for the table's lifetime: whenever woken
// it writes the oldest immutable memtables to L0 SSTs, one at a time, until
// none is left. A flush failure makes the table read-only (the rows stay in
// their WAL and are recovered at the next Open).
func (t *Table) flushLoop() {
	defer t.bg.Done()
	for {
		select {
		case <-t.done:
			return
		case <-t.flushWake:
		}
		for {
			select {
			case <-t.done:
				return
			default:
			}
			if t.readOnlyErr() != nil {
				break
			}
			imm := t.oldestImm()
			if imm == nil {
				break
			}
			if !t.waitForL0Room() { // L0 write stall (compaction.go)
				break
			}
			if err := t.flushMemtable(imm); err != nil {
				t.fail(err)
				t.writeMu.Lock()
				t.spaceCond.Broadcast()
				t.writeMu.Unlock()
				break
			}
		}
	}
}

// oldestImm returns the oldest immutable memtable (the next to flush), or
// nil when none waits.
func (t *Table) oldestImm() *memtable {
	t.stateMu.RLock()
	defer t.stateMu.RUnlock()
	if len(t.imms) == 0 {
		return nil
	}
	return t.imms[0]
}

// Flush writes every memtable (the active one included) to SSTs and waits
// until they are durable in the MANIFEST. After Flush returns nil every row
// inserted before the call is in an SST. Close and DropTable wait for a
// Flush in progress to finish its current memtable; it then returns
// ErrClosed.
func (t *Table) Flush() error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	// Register with bg so that Close (and DropTable) waits for this flush
	// instead of tearing the table down under it.
	if err := t.enterBackground(); err != nil {
		return err
	}
	defer t.bg.Done()
	if err := t.beginWrite(); err != nil {
		return err
	}
	err := t.switchMemtableLocked()
	t.writeMu.Unlock()
	if err != nil {
		return err
	}
	// Flush in the caller's goroutine, oldest first; the background flusher
	// may be working on the oldest one concurrently, which flushOne handles.
	for {
		if err := t.readOnlyErr(); err != nil {
			return err
		}
		if err := t.checkOpen(); err != nil {
			return err
		}
		imm := t.oldestImm()
		if imm == nil {
			return nil
		}
		if err := t.flushMemtable(imm); err != nil {
			return t.fail(err)
		}
	}
}

// flushMemtable writes imm to a new L0 SST and installs it. Only one flush
// runs at a time per table (flushMu); if imm was flushed by someone else
// while we waited, it returns nil.
//
// Steps and their kill points:
//
//  1. close imm's WAL (final fsync) — its rows are durable in the WAL;
//  2. write the SST to a temp name, fsync, rename, fsync dir
//     ("sst.before_rename" inside the writer, "flush.after_sst");
//  3. log a VersionEdit adding the file and advancing logNum past imm's WAL
//     ("flush.after_manifest") — from here the SST is the rows' home;
//  4. swap the read state: the new version in, imm out;
//  5. delete WALs older than logNum ("flush.after_wal_delete").
//
// A crash before 3 leaves an orphan SST (removed at Open) and the WAL
// (replayed); after 3 the WAL is obsolete and removed at Open if step 5 did
// not run.
//
// A failed flush makes the table read-only before it releases flushMu, and
// the error returned is then the table's CodeReadOnly error.
func (t *Table) flushMemtable(imm *memtable) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	// A flush that failed while we waited for flushMu may have logged its
	// SST already (a failure after the MANIFEST append): flushing imm again
	// would name a second SST holding the same rows. The table is read-only
	// from that failure on; Open sorts out what the MANIFEST says. For that
	// the failure must be recorded while flushMu is still held: the next
	// flush (the background flusher, an explicit Flush, an index build)
	// may be waiting for it.
	if err := t.readOnlyErr(); err != nil {
		return err
	}
	if err := t.flushMemtableLocked(imm); err != nil {
		return t.fail(err)
	}
	return nil
}

// flushMemtableLocked is flushMemtable's work; t.flushMu is held.
func (t *Table) flushMemtableLocked(imm *memtable) error {
	t.stateMu.RLock()
	still := len(t.imms) > 0 && t.imms[0] == imm
	var nextLog uint64
	if len(t.imms) > 1 {
		nextLog = t.imms[1].logNum
	} else {
		nextLog = t.mem.logNum
	}
	t.stateMu.RUnlock()
	if !still {
		return nil
	}
	start := time.Now()
	if imm.wal != nil {
		if err := imm.wal.close(); err != nil {
			return err
		}
	}
	st := imm.stats()
	edit := &versionEdit{}
	edit.setLogNum(nextLog)
	edit.setLastSeq(t.seqHigh.Load())
	edit.setLiveRows(t.flushedLiveRows + imm.delta())
	edit.addedDels = imm.rangeDelsAt(nil, memAllOps) // now kept by the version
	if id := imm.maxBatch.Load(); id > 0 {
		edit.setProperty(propMaxBatch, string(binary.AppendUvarint(nil, id)))
	}
	var props sstProps
	if st.entries > 0 {
		num := t.newOutputFileNum()
		defer t.doneOutput(num)
		var err error
		if props, err = writeMemtableSST(t.fs, t.dir, num, t.compression(), t.Schema(), imm); err != nil {
			return err
		}
		if err := killPoint("flush.after_sst"); err != nil {
			return err
		}
		edit.addFile(0, metaFromProps(props))
	}
	if err := t.vs.logAndApply(edit); err != nil {
		return err
	}
	t.flushedLiveRows += imm.delta()
	if err := killPoint("flush.after_manifest"); err != nil {
		return err
	}
	t.installVersion(imm)

	t.writeMu.Lock()
	t.spaceCond.Broadcast()
	t.writeMu.Unlock()

	if err := t.removeObsoleteWALs(nextLog); err != nil {
		// The MANIFEST already says these WALs are obsolete; Open removes
		// them if we cannot now. Not a reason to stop writing.
		t.logger.Warn("srdb: removing obsolete WAL", slog.String("table", t.name), slog.Any("err", err))
	}
	t.stats.flushes.Add(1)
	t.stats.flushedBytes.Add(int64(props.size))
	t.maybeScheduleCompaction()
	t.logger.Info("srdb: flushed memtable",
		slog.String("table", t.name), slog.Int("entries", st.entries),
		slog.Uint64("sst", props.fileNum), slog.Uint64("bytes", props.size),
		slog.Duration("took", time.Since(start)))
	return nil
}

// writeMemtableSST writes every entry of imm (which has at least one) to
// the durable SST <dir>/<num>.sst with compression c and the index sections
// of the fields s indexes, and returns its properties. On failure the temp
// file is removed.
func writeMemtableSST(fs FS, dir string, num uint64, c Compression, s *Schema, imm *memtable) (sstProps, error) {
	w, err := newSSTWriterCompressed(fs, dir, num, c)
	if err != nil {
		return sstProps{}, err
	}
	ib := newIndexSectionBuilder(s)
	fm := imm.frozen()
	for i := range fm.order {
		e := fm.entry(i)
		row := fm.row(e)
		if err := w.add(e.seq, e.kind, e.timeNanos, row); err != nil {
			w.abort()
			return sstProps{}, err
		}
		if err := ib.add(e.seq, e.kind, row); err != nil {
			w.abort()
			return sstProps{}, err
		}
	}
	if err := ib.writeTo(w); err != nil {
		w.abort()
		return sstProps{}, err
	}
	props, err := w.finish()
	if err != nil {
		w.abort()
		return sstProps{}, err
	}
	return props, nil
}

// removeObsoleteWALs deletes WAL files numbered below logNum.
func (t *Table) removeObsoleteWALs(logNum uint64) error {
	names, err := t.fs.List(t.dir)
	if err != nil {
		return ioError("list", t.dir, err)
	}
	removed := false
	for _, name := range names {
		typ, num, ok := parseFilename(name)
		if !ok || typ != fileTypeWAL || num >= logNum {
			continue
		}
		if err := t.fs.Remove(makeFilepath(t.dir, fileTypeWAL, num)); err != nil {
			return ioError("remove", name, err)
		}
		removed = true
	}
	if removed {
		if err := killPoint("flush.after_wal_delete"); err != nil {
			return err
		}
		return t.fs.SyncDir(t.dir)
	}
	return nil
}

// metaFromProps turns the properties of a finished SST into the MANIFEST's
// description of the file.
func metaFromProps(p sstProps) *fileMeta {
	return &fileMeta{num: p.fileNum, size: p.size, entryProps: p.entryProps}
}
