package srdb

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	iofs "io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// walBufferLimit is the size of encoded but unwritten records at which
	// append hands the buffer to write(2) itself (in every mode; in
	// DurabilityNone it is the only write before sync/close).
	walBufferLimit = 1 << 20
	// walMaxSpareCap is the largest buffer kept for reuse after a write; a
	// buffer grown beyond it by a huge record is dropped so that one large
	// record does not pin its memory for the life of the WAL.
	walMaxSpareCap = 8 << 20
	// walPreallocMin and walPreallocMax bound the space the write leader
	// reserves past the bytes written (see "Preallocation" on walWriter):
	// the first reservation is walPreallocMin, each later one doubles the
	// last, up to walPreallocMax. A table that writes little reserves
	// little; one that fills a 16 MiB memtable extends its WAL about ten
	// times.
	walPreallocMin = 64 << 10
	walPreallocMax = 4 << 20
)

// walWriter appends records to one WAL file and makes them durable according
// to its Durability mode.
//
// # Use
//
// The table calls append under its own write lock (so records are appended in
// seq order) and then commit outside that lock; concurrent commits share
// write(2) and fsync calls (group commit):
//
//	end, err := w.append(walRecordBatch, seq, payload) // cheap, in memory
//	...release the table lock...
//	err = w.commit(end) // returns when the record is as durable as the mode promises
//
// # Leaders
//
// At most one goroutine at a time is in write(2) (the write leader, writing
// flag) and at most one in fsync (the sync leader, syncing flag). A goroutine
// that needs bytes written or synced becomes the leader if the slot is free,
// otherwise it waits on cond. The write leader takes the whole buffer and
// writes it with ONE write call, so every record appended so far rides along;
// the sync leader fsyncs everything written so far, covering every waiter
// whose record was in those bytes. In DurabilitySync a committer does not
// start a write while an fsync is running (it could not return earlier
// anyway), so records arriving during an fsync are gathered into the next
// single write + fsync (see waitLocked). In DurabilityInterval the syncer's
// fsync never blocks commits: writes go on while it runs.
//
// The leaders call File.Write and File.Sync of the same file concurrently
// (the DurabilityInterval syncer fsyncs while commits write), which the FS's
// files must allow; os.File does.
//
// # Preallocation
//
// When its file can Preallocate (vfs.go), the writer keeps the file's size
// ahead of the bytes written: before a write that would pass the reserved
// size (alloc), the write leader reserves more, walPreallocMin at first and
// double the last step after that, up to walPreallocMax. A write then lands
// inside the file, and the sync leader syncs with SyncData (fdatasync) when
// the file has it, so an fsync of DurabilitySync has no file size or
// modification time to write back, only the data. On this project's ext4
// test machine that made a write + sync of a few hundred bytes ~1.5× as fast
// (docs/BENCHMARKS.md, "WAL preallocation").
//
// The reserved bytes read as zeros. Replay stops at them like at any torn
// tail; in the newest WAL it cuts them off (wal_reader.go), and close cuts
// them off itself before it returns — a memtable switch closes the old WAL
// before it creates the next one — so a WAL that is not the newest never
// ends in zeros, and a cleanly closed one is exactly its records. If
// Preallocate fails (a file system without fallocate, or no space), the
// writer stops reserving and appends as before: a real lack of space then
// fails the write itself.
//
// # Failure
//
// The first failed write or fsync is sticky (failed): it is returned by every
// later append, sync and by every commit not already covered, and nothing is
// retried — after a failed fsync the kernel may have dropped the dirty pages,
// so a retry that succeeded would acknowledge bytes that are not on disk.
type walWriter struct {
	path   string
	f      File
	num    uint64 // log number, from the header
	salt   uint64 // header salt, repeated in every sync mark
	mode   Durability
	logger *slog.Logger

	// stop and done run the DurabilityInterval syncer goroutine: close closes
	// stop and waits for done. Both nil in the other modes.
	stop chan struct{}
	done chan struct{}

	closeOnce sync.Once
	closeErr  error // result of the first close, written inside closeOnce

	// mu guards the fields below. It is never held across write(2) or fsync:
	// a leader sets writing or syncing, drops mu around the I/O and retakes
	// it to publish the result. Lock order: the table's write lock, then mu.
	mu sync.Mutex
	// cond (on mu) is broadcast whenever written, synced, writing, syncing or
	// failed change.
	cond     sync.Cond
	buf      []byte // encoded bytes at offsets [appended-len(buf), appended), not yet given to write(2)
	spare    []byte // empty buffer swapped in for buf while the write leader writes
	appended int64  // offset past the last appended record, sync marks included
	dataEnd  int64  // offset past the last appended record that is not a sync mark
	written  int64  // bytes handed to the kernel by a successful write(2)
	synced   int64  // bytes covered by a successful fsync
	marked   int64  // largest offset claimed by a sync mark appended so far
	writing  bool   // a write leader is in write(2)
	syncing  bool   // a sync leader is in fsync
	closed   bool   // close has begun: append refuses, fsyncs append no more marks
	// committers counts goroutines inside commit; a write leader yields
	// once before writing only when it is not alone (see waitLocked).
	committers int
	// inserters, when set (setInserters), counts goroutines between the
	// start of an Insert and the end of its commit: a write leader also
	// yields once when others are on their way to append (see waitLocked).
	inserters *atomic.Int32
	failed    error // sticky first write/fsync error; never cleared

	// prealloc is the file's Preallocate, nil when it has none or after one
	// failed; alloc is the file size reserved so far (0: none) and step the
	// last reservation's size. The write leader changes them, under mu,
	// only while it holds the writing flag; close reads them once no write
	// can start.
	prealloc    filePreallocator
	alloc, step int64

	// counters, when set (setCounters), receives the writer's I/O counts.
	counters *walCounters
}

// walCounters counts WAL I/O across the WALs of a table (they rotate with
// the memtable; the counters outlive them). A writer adds to them under
// its mu right after each successful write or fsync (an atomic add, no
// further lock); Metrics reads them without a lock.
type walCounters struct {
	writes    atomic.Int64 // successful write(2) calls
	bytes     atomic.Int64 // bytes written by them
	syncs     atomic.Int64 // successful fsyncs of WAL data
	syncNanos atomic.Int64 // time spent in those fsyncs
}

// createWAL creates the WAL file path for log number logNum, writes its
// header, and fsyncs the file and its directory (so the new name survives a
// crash) before returning a writer positioned after the header. It fails if
// path already exists. In DurabilityInterval it starts the background syncer
// that fsyncs every syncInterval while there are unsynced records.
func createWAL(fs FS, path string, logNum uint64, mode Durability, syncInterval time.Duration,
	logger *slog.Logger) (*walWriter, error) {
	if mode < DurabilitySync || mode > DurabilityNone {
		return nil, newError(CodeInvalidArgument, "wal %s: durability %d is not a Durability", path, int(mode))
	}
	if _, err := fs.Stat(path); err == nil {
		return nil, ioError("create", path, iofs.ErrExist)
	} else if !errors.Is(err, iofs.ErrNotExist) {
		return nil, ioError("stat", path, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var saltBytes [8]byte
	_, _ = rand.Read(saltBytes[:]) // never fails (crypto/rand since Go 1.24)
	hdr := walHeader{version: walFormatVersion, logNum: logNum, salt: binary.LittleEndian.Uint64(saltBytes[:])}

	f, err := fs.Create(path)
	if err != nil {
		return nil, ioError("create", path, err)
	}
	fail := func(err error) (*walWriter, error) {
		f.Close()
		return nil, err
	}
	b := appendWALHeader(make([]byte, 0, walHeaderSize), hdr)
	if n, err := f.Write(b); err != nil || n != len(b) {
		return fail(ioError("write", path, walOrShortWrite(err)))
	}
	if err := killPoint("wal.create.after_header"); err != nil {
		return fail(err)
	}
	// The header must be durable before any record is acknowledged: replay
	// treats a missing header as "crashed inside createWAL, no records".
	if err := f.Sync(); err != nil {
		return fail(ioError("fsync", path, err))
	}
	if err := killPoint("wal.create.after_sync"); err != nil {
		return fail(err)
	}
	// The directory entry must be durable too, or a power cut could lose the
	// whole file with every record acknowledged in it.
	dir := filepath.Dir(path)
	if err := fs.SyncDir(dir); err != nil {
		return fail(ioError("fsync dir", dir, err))
	}

	w := &walWriter{
		path: path, f: f, num: logNum, salt: hdr.salt, mode: mode, logger: logger,
		appended: walHeaderSize64, dataEnd: walHeaderSize64, written: walHeaderSize64,
		synced: walHeaderSize64, marked: walHeaderSize64,
	}
	if p, ok := f.(filePreallocator); ok {
		w.prealloc = p
	}
	w.cond.L = &w.mu
	if mode == DurabilityInterval {
		if syncInterval <= 0 {
			syncInterval = DefaultSyncInterval
		}
		w.stop = make(chan struct{})
		w.done = make(chan struct{})
		go w.runSyncer(syncInterval)
	}
	return w, nil
}

// walOrShortWrite returns err, or io.ErrShortWrite when a Write returned fewer
// bytes than asked without an error.
func walOrShortWrite(err error) error {
	if err == nil {
		return io.ErrShortWrite
	}
	return err
}

// append encodes one record into the in-memory buffer (copying data) and
// returns the file offset just past it, the value to pass to commit. It does
// no I/O unless the buffer has reached walBufferLimit. Safe for concurrent
// use, but callers serialise appends to keep records in seq order.
// walRecordSyncMark is refused, and so is data over maxWALRecord.
func (w *walWriter) append(typ walRecordType, seq int64, data []byte) (end int64, err error) {
	if typ == walRecordSyncMark {
		return 0, newError(CodeInvalidArgument, "wal %s: record type %d is reserved", w.path, typ)
	}
	if len(data) > maxWALRecord {
		return 0, w.recordTooLarge(len(data))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.appendableLocked(); err != nil {
		return 0, err
	}
	w.buf = appendWALRecord(w.buf, typ, seq, data)
	return w.recordAppendedLocked(walRecHeaderSize + len(data))
}

// recordTooLarge is the error of a record of n bytes over maxWALRecord.
func (w *walWriter) recordTooLarge(n int) error {
	return newError(CodeInvalidArgument, "wal %s: record of %d bytes is over the %d-byte limit", w.path, n, maxWALRecord)
}

// appendableLocked returns why no record may be appended now (the sticky
// failure, or the writer is closed), or nil. w.mu is held.
func (w *walWriter) appendableLocked() error {
	if w.failed != nil {
		return w.failed
	}
	if w.closed {
		return w.closedError()
	}
	return nil
}

// recordAppendedLocked accounts for a record of n bytes just appended to
// buf and returns the end offset to commit, writing the buffer out when it
// has grown past walBufferLimit and no write is in progress. w.mu is held.
func (w *walWriter) recordAppendedLocked(n int) (end int64, err error) {
	w.appended += int64(n)
	w.dataEnd = w.appended
	end = w.appended
	if len(w.buf) >= walBufferLimit && !w.writing {
		w.writeLocked()
		if w.failed != nil {
			return end, w.failed
		}
	}
	return end, nil
}

// commit returns when the record ending at end (a value returned by append)
// is as durable as the mode promises: DurabilitySync — written and fsynced;
// DurabilityInterval — written to the kernel; DurabilityNone — nothing (the
// buffer is written when it fills and by sync and close). Concurrent commits
// share one write(2) and, in DurabilitySync, one fsync (see walWriter).
//
// It returns nil only when those bytes are covered; a commit whose bytes were
// already covered before a failure still returns nil (it is the truth), every
// other commit after a failure returns the sticky error.
func (w *walWriter) commit(end int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end > w.appended || end < walHeaderSize64 {
		return newError(CodeInvalidArgument, "wal %s: commit of offset %d outside [%d, %d]",
			w.path, end, walHeaderSize64, w.appended)
	}
	if w.mode == DurabilityNone {
		if end <= w.synced {
			return nil
		}
		return w.failed
	}
	w.committers++
	defer func() { w.committers-- }()
	return w.waitLocked(end, w.mode == DurabilitySync)
}

// sync writes and fsyncs every buffered record. It is a no-op when no record
// (other than sync marks) is unsynced. Used by Flush, Close, memtable switch
// and the DurabilityInterval syncer.
func (w *walWriter) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	if w.synced >= w.dataEnd {
		return nil
	}
	return w.waitLocked(w.appended, true)
}

// close syncs everything, appends a final sync mark claiming it all and
// syncs again, stops the syncer and closes the file. Commits still waiting
// are released: with success if their bytes were covered, else with the
// error. It is idempotent: later calls return the first call's result.
func (w *walWriter) close() error {
	w.closeOnce.Do(func() { w.closeErr = w.doClose() })
	return w.closeErr
}

func (w *walWriter) doClose() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}

	w.mu.Lock()
	err := w.failed
	if err == nil && w.synced < w.dataEnd {
		err = w.waitLocked(w.appended, true)
	}
	if err == nil && w.synced > w.marked {
		w.appendSyncMarkLocked(w.synced)
	}
	if err == nil && w.synced < w.appended {
		err = w.waitLocked(w.appended, true) // closed: this fsync appends no further mark
	}
	if err == nil && w.alloc > w.appended {
		err = w.cutReservedLocked()
	}
	w.cond.Broadcast()
	w.mu.Unlock()

	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = ioError("close", w.path, cerr)
	}
	return err
}

// cutReservedLocked cuts the file back to its records, dropping the space
// reserved past them (see Preallocation), and fsyncs the new size, so that
// the WAL ends at its last record before close returns. close calls it once
// everything is written and synced; w.mu is held (no I/O of the writer can
// be in progress).
func (w *walWriter) cutReservedLocked() error {
	if err := killPoint("wal.close.before_cut"); err != nil {
		return err
	}
	if err := w.f.Truncate(w.appended); err != nil {
		return ioError("truncate", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return ioError("fsync", w.path, err)
	}
	w.alloc = w.appended
	return nil
}

// err returns the sticky error, or nil while the writer is healthy.
func (w *walWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// size returns the bytes appended so far, header and buffered records
// included: the file size once everything is written.
func (w *walWriter) size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appended
}

// syncedOffset returns the offset before which every byte is fsynced.
func (w *walWriter) syncedOffset() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// logNum returns the log number written in the header.
func (w *walWriter) logNum() uint64 { return w.num }

// setInserters gives the writer the table's count of Inserts in progress
// (see waitLocked).
func (w *walWriter) setInserters(n *atomic.Int32) {
	w.mu.Lock()
	w.inserters = n
	w.mu.Unlock()
}

// setCounters gives the writer the table's WAL counters.
func (w *walWriter) setCounters(c *walCounters) {
	w.mu.Lock()
	w.counters = c
	w.mu.Unlock()
}

// closedError is returned by append after close.
func (w *walWriter) closedError() error {
	return fileError(CodeClosed, w.path, "wal closed")
}

// waitLocked returns once the bytes before end are written (and fsynced when
// durable), leading the write or fsync itself when no other goroutine is, or
// the sticky error if they can no longer be. w.mu is held, and is dropped
// while waiting and during the I/O.
func (w *walWriter) waitLocked(end int64, durable bool) error {
	yielded := false
	for {
		if w.written >= end && (!durable || w.synced >= end) {
			return nil
		}
		if w.failed != nil {
			return w.failed
		}
		switch {
		case w.written < end:
			// A durable waiter does not start a write during an fsync: it
			// could not return before the fsync after it anyway, and waiting
			// lets every record arriving meanwhile share that next write.
			// Before leading a write when other committers are around, it
			// yields the processor once: goroutines just released by the
			// previous write or fsync are runnable and typically append
			// their next record within microseconds, so they join this
			// write (and fsync) instead of waiting for the next one.
			// Measured with 8 committers: records per fsync ~4.4 -> ~7.7
			// (Sync), write(2) calls per record ~0.95 -> ~0.17 (Interval).
			// A lone committer never yields. The table's count of Inserts
			// in progress (inserters) counts too: with 8 inserting
			// goroutines it cut write(2) calls per row from ~0.37 to
			// ~0.15 (BenchmarkInsert interval/goroutines=8, walwrites/op).
			// Only a scheduling hint: correctness never depends on it.
			switch {
			case w.writing || (durable && w.syncing):
				w.cond.Wait()
			case !yielded && (w.committers > 1 || w.inserters != nil && w.inserters.Load() > 1):
				yielded = true
				w.mu.Unlock()
				runtime.Gosched()
				w.mu.Lock()
			default:
				w.writeLocked()
			}
		case !w.syncing:
			w.syncLocked()
		default:
			w.cond.Wait()
		}
	}
}

// writeLocked makes the caller the write leader: it hands the whole buffer
// to ONE write call. w.mu is held on entry and exit, dropped during the
// write; w.writing must be false.
func (w *walWriter) writeLocked() {
	buf := w.buf
	if len(buf) == 0 {
		return
	}
	w.buf, w.spare = w.spare[:0], nil
	w.writing = true
	reserve := w.reserveLocked(w.written + int64(len(buf)))
	w.mu.Unlock()

	var perr error
	if reserve > 0 {
		perr = w.prealloc.Preallocate(reserve)
	}
	n, err := w.f.Write(buf)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}

	w.mu.Lock()
	w.writing = false
	if reserve > 0 {
		w.reservedLocked(reserve, perr)
	}
	if err != nil {
		w.failLocked(ioError("write", w.path, err))
	} else {
		w.written += int64(len(buf))
		if w.counters != nil {
			w.counters.writes.Add(1)
			w.counters.bytes.Add(int64(len(buf)))
		}
	}
	if cap(buf) <= walMaxSpareCap {
		w.spare = buf[:0]
	}
	w.cond.Broadcast()
}

// reserveLocked returns the file size to Preallocate before a write that
// ends at end, or 0 when the space is reserved already or the file cannot
// preallocate (see Preallocation). w.mu is held by the write leader.
func (w *walWriter) reserveLocked(end int64) int64 {
	if w.prealloc == nil || end <= w.alloc || w.closed {
		return 0
	}
	step := min(max(2*w.step, walPreallocMin), walPreallocMax)
	w.step = step
	return max(w.alloc, end) + step
}

// reservedLocked records the outcome of the write leader's Preallocate of
// size bytes: on success the file is that long; on failure the writer stops
// preallocating (and logs why once). A failed fallocate may still have
// lengthened the file, so alloc takes size either way: close then cuts the
// file back to its records. w.mu is held.
func (w *walWriter) reservedLocked(size int64, err error) {
	w.alloc = size
	if err != nil {
		w.prealloc = nil
		w.logger.Info("wal: the file system cannot reserve space ahead of writes; appending without it",
			slog.String("file", w.path), slog.Any("err", err))
	}
}

// syncData syncs the file's data: SyncData (fdatasync) when the file has it,
// else Sync.
func (w *walWriter) syncData() error {
	if ds, ok := w.f.(fileDataSyncer); ok {
		return ds.SyncData()
	}
	return w.f.Sync()
}

// syncLocked makes the caller the sync leader: one fsync covering every byte
// written so far; afterwards, unless closing, it appends a sync mark claiming
// them. w.mu is held on entry and exit, dropped during the fsync; w.syncing
// must be false.
func (w *walWriter) syncLocked() {
	target := w.written
	w.syncing = true
	w.mu.Unlock()

	start := time.Now()
	err := w.syncData()
	took := time.Since(start)

	w.mu.Lock()
	w.syncing = false
	if err == nil && w.counters != nil {
		w.counters.syncs.Add(1)
		w.counters.syncNanos.Add(int64(took))
	}
	if err != nil {
		w.failLocked(ioError("fsync", w.path, err))
	} else if target > w.synced {
		w.synced = target
		if !w.closed && target > w.marked {
			w.appendSyncMarkLocked(target)
		}
	}
	w.cond.Broadcast()
}

// appendSyncMarkLocked appends a sync mark claiming synced to the buffer; it
// is written with the next write. w.mu is held.
func (w *walWriter) appendSyncMarkLocked(synced int64) {
	w.buf = appendWALSyncMark(w.buf, w.salt, synced)
	w.appended += int64(walSyncMarkSize)
	w.marked = synced
}

// failLocked records the first I/O failure; later ones are dropped (the
// first is the cause). w.mu is held.
func (w *walWriter) failLocked(err error) {
	if w.failed == nil {
		w.failed = err
		w.logger.Error("wal: write-ahead log failed; no further writes are accepted",
			slog.String("file", w.path), slog.Any("err", err))
	}
}

// runSyncer is the DurabilityInterval background goroutine: every interval it
// fsyncs the WAL if any record is unsynced. It stops when stop is closed, or
// after a failure (which is sticky and reaches the table through commit).
func (w *walWriter) runSyncer(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if err := w.sync(); err != nil {
				return
			}
		}
	}
}
