package srdb

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Table is one typed table of a Database: its schema, its write-ahead log,
// its memtables and its SSTs. All methods are safe for concurrent use.
//
// Locking (acquire in this order, never the reverse):
//
//	idx.ddlMu — CreateIndex, DropIndex and index builds (index_build.go);
//	           held across a whole build.
//	compact.mu — one compaction at a time (compaction.go); held across the
//	           compaction's I/O, taken before any lock below; index
//	           rewrites take it too, so they and compactions exclude each other.
//	flushMu  — one flush at a time (table_flush.go); held across the flush's
//	           I/O. A flush takes writeMu under it (to wake stalled writers),
//	           index rewrites take it under compact.mu.
//	writeMu  — writers: seq and op assignment, WAL append, memtable insert,
//	           memtable switch. Never held across an fsync except inside a memtable
//	           switch (creating the next WAL) and never taken by readers.
//	stateMu  — the read state (active memtable, immutable memtables, pinned
//	           version). Held only to copy or swap pointers.
//	memtable.mu, versionSet.mu, tableCache.mu — leaf locks.
//
// consumers.mu (consumer.go) is taken with none of the locks above held;
// versionSet.mu is taken under it. tails.mu (tail.go) is a leaf lock.
//
// Rows.mu (rows.go) is taken with none of the locks above held (by a Rows'
// own calls and by close's invalidateRows); rows.mu is a leaf lock under it.
type Table struct {
	db     *Database
	name   string
	dir    string
	opts   *Options
	fs     FS
	logger *slog.Logger
	schema atomic.Pointer[Schema]
	vs     *versionSet
	cache  *tableCache

	// writeMu guards the fields below it and serialises writers.
	writeMu   sync.Mutex
	lastSeq   int64      // highest seq assigned; published to seqHigh
	lastOp    int64      // number of the last write operation; published to opHigh
	wal       *walWriter // WAL of the active memtable
	closed    bool       // Close has begun; writers get ErrClosed
	spaceCond *sync.Cond // on writeMu; signalled when an immutable memtable is flushed

	// flushMu serialises flushes (the background flusher and Flush) and
	// guards flushedLiveRows, the live-row total of everything flushed, as
	// recorded in the MANIFEST.
	flushMu         sync.Mutex
	flushedLiveRows int64

	// pendingMu guards pendingOutputs: SSTs a flush or compaction is
	// writing that no version names yet. Check must not call them orphans.
	pendingMu      sync.Mutex
	pendingOutputs map[uint64]struct{}

	// stateMu guards the read state below it.
	stateMu sync.RWMutex
	mem     *memtable   // active memtable, receives writes
	imms    []*memtable // immutable memtables waiting for flush, oldest first
	current *version    // version pinned by the table (one ref)
	roSnap  *roSnapshot // Options.ReadOnly: the installed snapshot (readonly.go)

	// liveRows counts rows that exist (inserted, not deleted) as of the
	// writes that succeeded: a writer adds its delta after its WAL commit
	// succeeded, just before publishing its op to visible. Read atomically
	// by Stats and Count.
	liveRows atomic.Int64
	seqHigh  atomic.Int64 // copy of lastSeq for lock-free readers
	opHigh   atomic.Int64 // copy of lastOp
	// opsDone counts the write operations that succeeded and finished
	// (counters updated, op published); opsDone == opHigh means no write
	// is in flight (Check compares liveRows with a scan only then). It
	// stops matching for good after a failed write.
	opsDone atomic.Int64

	// visible is the op watermark of readers: pin captures it, and memtable
	// versions stored by an op above the captured value are invisible (a
	// WAL commit not yet, or never, succeeded). Every write operation takes
	// the next op under writeMu (lastOp) once its WAL record is appended,
	// and tags its memtable versions with it; publishVisible raises visible
	// to it after w.commit(end) succeeded, and a memtable switch raises it
	// to lastOp once the old WAL is closed. Replayed rows carry op 0 and are
	// visible to all.
	//
	// Publishing max(visible, op) — not waiting for every smaller op — is
	// sound because WAL durability is prefix-closed (wal_writer.go):
	// written and synced only grow, and commit(end) checks coverage before
	// the sticky error, so commit(end) returning nil means every record
	// before end is as durable as the mode promises, and every commit of a
	// smaller end returns nil as well, even after a later failure. Records
	// of an older memtable's WAL are covered too: a switch closes (writes
	// and fsyncs) the old WAL before the new one takes a record, and a
	// failed close fails the table. Conversely a failed commit leaves its
	// WAL failed (the sticky error) and the table read-only (fail), so no
	// later op can be appended or commit: a write whose call returned an
	// error stays invisible until the table is closed. (A smaller op may
	// become visible a moment before its own call returns, when a later
	// op's commit covered it: that call is then certain to succeed.)
	visible atomic.Int64
	// inserters counts Insert calls in progress (a hint for the WAL's group
	// commit, see walWriter.inserters).
	inserters atomic.Int32

	// failure is the sticky error that made the table read-only (a failed
	// WAL or MANIFEST write or fsync, or a failed background flush). Once
	// set it is never cleared; every later write returns it.
	failure atomic.Pointer[error]

	// activePins counts pinned read states; closing is set by Close, which
	// then waits on pinsDrained until activePins reaches zero.
	activePins      atomic.Int64
	closing         atomic.Bool
	pinsDrained     chan struct{}
	pinsDrainedOnce sync.Once

	// rows is the set of open Rows, which close invalidates (rows.go).
	rows rowsRegistry

	// tails wakes Tails and Consumers when rows become visible (tail.go).
	tails tailState
	// consumers serialises consumer-group position changes (consumer.go).
	consumers consumerState

	flushWake chan struct{} // capacity 1: a flush may be due
	// retentionWake (capacity 1) asks the retention loop to check
	// TableOptions now (SetOptions, a flush); tableOpts holds them.
	retentionWake chan struct{}
	// retentionMu serialises enforceRetention: the background loop and a
	// direct caller never enforce at the same time, so a caller that returns
	// has seen any enforcement in progress finish.
	retentionMu sync.Mutex
	// retentionLast is when retention last wrote a MaxAge tombstone
	// (guarded by retentionMu).
	retentionLast time.Time
	tableOpts     atomic.Pointer[TableOptions]
	// maxBatch is the highest id of a Batch the table holds (guarded by
	// writeMu; set at Open from the MANIFEST and the WALs). While Open
	// replays, collectBatches makes applyWALRecord keep the batch records
	// it meets in replayedBatches for Database.repairBatches.
	maxBatch        uint64
	collectBatches  bool
	replayedBatches []replayedBatch
	// clock, when set (tests only), replaces time.Now for MaxAge.
	clock atomic.Pointer[func() time.Time]
	done  chan struct{} // closed by Close to stop background goroutines
	bg    sync.WaitGroup

	// compact is the background and manual compaction state (compaction.go).
	compact compactionState

	stats tableCounters

	// idx is the secondary-index bookkeeping (index.go, index_build.go).
	idx tableIndexState
}

// tableCounters are monotonically increasing activity counters, updated
// atomically by whoever does the work.
type tableCounters struct {
	flushes      atomic.Int64
	flushedBytes atomic.Int64
	inserts      atomic.Int64
	updates      atomic.Int64
	deletes      atomic.Int64
	// filesDropped and bytesDropped count the SSTs range deletes and
	// retention removed whole (range_delete.go) and their bytes.
	filesDropped atomic.Int64
	bytesDropped atomic.Int64
	gets         atomic.Int64
	queries      atomic.Int64 // Rows, Count and Paginate calls that passed planning (metrics.go)
	queryRows    atomic.Int64 // rows returned by Rows.Next, added when a Rows is released

	// memStalls counts memtable switches (writes, Flush, CreateIndex)
	// that waited for a memtable flush (MaxImmutableMemTables reached);
	// memStallNanos is their total wait.
	memStalls     atomic.Int64
	memStallNanos atomic.Int64

	// wal counts the I/O of every WAL the table has written since Open
	// (each walWriter points at it, see walWriter.setCounters).
	wal walCounters
}

// Name returns the table's name ("" for a nil Table).
func (t *Table) Name() string {
	if t == nil {
		return ""
	}
	return t.name
}

// Schema returns the table's schema (nil for a nil or zero Table).
func (t *Table) Schema() *Schema {
	if t == nil {
		return nil
	}
	return t.schema.Load()
}

// readOnlyErr returns the sticky failure, or nil. A failed MANIFEST update
// is one the moment the version set records it, before the flush or
// compaction that ran it gets back to fail the table: a write that starts
// after that is refused, not acknowledged into a table that can no longer
// flush.
func (t *Table) readOnlyErr() error {
	if p := t.failure.Load(); p != nil {
		return *p
	}
	if t.vs != nil {
		if err := t.vs.err(); err != nil {
			return t.fail(err)
		}
	}
	return nil
}

// fail records err as the table's sticky failure (the first one wins) and
// logs it. It returns the error writers will see from now on.
func (t *Table) fail(err error) error {
	wrapped := tableError(CodeReadOnly, t.name, "table is read-only after a failed write: %w", err)
	var e error = wrapped
	if t.failure.CompareAndSwap(nil, &e) {
		t.logger.Error("srdb: table became read-only", slog.String("table", t.name), slog.Any("err", err))
	}
	return t.readOnlyErr()
}

// newOutputFileNum allocates a file number for an SST a flush or compaction
// is about to write and records it as pending until doneOutput.
func (t *Table) newOutputFileNum() uint64 {
	num := t.vs.newFileNum()
	t.pendingMu.Lock()
	if t.pendingOutputs == nil {
		t.pendingOutputs = make(map[uint64]struct{})
	}
	t.pendingOutputs[num] = struct{}{}
	t.pendingMu.Unlock()
	return num
}

// doneOutput ends the pending state of an output file (it is now named by
// the MANIFEST, or was abandoned).
func (t *Table) doneOutput(num uint64) {
	t.pendingMu.Lock()
	delete(t.pendingOutputs, num)
	t.pendingMu.Unlock()
}

// isPendingOutput reports whether num is an SST still being written.
func (t *Table) isPendingOutput(num uint64) bool {
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	_, ok := t.pendingOutputs[num]
	return ok
}

// installVersion makes the version set's current version the read state's
// version and releases the one it replaces; with flushed non-nil (the
// oldest immutable memtable, just written to an SST the new version names)
// it also drops that memtable from the read state in the same swap. It is
// the one place the read state's version changes: flushes, compactions and
// index rewrites install through it after their logAndApply.
//
// It loads the version set's current version under stateMu: of two
// installs racing (say a compaction and an index rewrite, each after its
// own logAndApply), the one that takes stateMu last loads the newest
// version, so an older version never replaces a newer one.
func (t *Table) installVersion(flushed *memtable) {
	t.stateMu.Lock()
	v := t.vs.current()
	old := t.current
	t.current = v
	removed := flushed != nil && len(t.imms) > 0 && t.imms[0] == flushed
	if removed {
		// A new slice: t.imms[1:] would keep the flushed memtable (its
		// entries and index) reachable through the backing array until
		// a later append reallocated it.
		t.imms = slices.Clone(t.imms[1:])
	}
	t.stateMu.Unlock()
	if removed {
		// Readers that pinned it keep their references; the arena goes
		// when the last one releases (memtable_arena.go).
		flushed.unrefOwned()
	}
	if old != nil {
		old.unref()
	}
}

// readState is a consistent snapshot of where rows live: the memtables and a
// pinned version. release must be called exactly once.
type readState struct {
	t    *Table
	mems []*memtable // newest first: active, then immutables newest first
	v    *version
	// snap is Table.visible when the state was pinned: memtable versions
	// with a larger op are not seen (memtable.getAt, newIterAt).
	snap int64
	// dels are the range tombstones the state applies (the version's, the
	// memtables' up to snap, and the MaxAge rule as of the pin); nil when
	// none. See range_tombstone.go.
	dels *deleteSet
}

// setDeletes computes rs.dels for rs.snap; withMaxAge false leaves the
// MaxAge rule out (what the row counter reflects).
func (rs *readState) setDeletes(withMaxAge bool) {
	rs.dels = rs.v.delSet
	var extra []rangeTombstone
	for _, m := range rs.mems {
		extra = m.rangeDelsAt(extra, rs.snap)
	}
	if rule, ok := rs.t.maxAgeRule(); ok && withMaxAge {
		extra = append(extra, rule)
	}
	if len(extra) > 0 {
		rs.dels = newDeleteSet(rs.v.dels, extra)
	}
}

// pinLatest is pin for a writer holding writeMu: the state sees every
// version, committed or not (see lookup), and every range tombstone.
func (t *Table) pinLatest() (*readState, error) {
	rs, err := t.pin()
	if err != nil {
		return nil, err
	}
	rs.snap = memAllOps
	rs.setDeletes(true)
	return rs, nil
}

// release unpins the state. Safe to call twice.
func (rs *readState) release() {
	if rs.v == nil {
		return
	}
	rs.v.unref()
	rs.v = nil
	for _, m := range rs.mems {
		m.unref()
	}
	rs.t.unpinned()
}

// pin returns the current read state with its version referenced, or
// ErrClosed once Close has begun tearing the table down. Close waits until
// every pinned state is released before it unmaps any file, so a reader
// never touches unmapped memory.
func (t *Table) pin() (*readState, error) {
	t.stateMu.RLock()
	defer t.stateMu.RUnlock()
	if t.current == nil {
		return nil, t.closedError()
	}
	t.activePins.Add(1)
	rs := &readState{t: t, mems: make([]*memtable, 0, 1+len(t.imms)), v: t.current, snap: t.visible.Load()}
	rs.mems = append(rs.mems, t.mem)
	for i := len(t.imms) - 1; i >= 0; i-- {
		rs.mems = append(rs.mems, t.imms[i])
	}
	for _, m := range rs.mems {
		m.ref() // the arena stays mapped until release (memtable_arena.go)
	}
	rs.v.ref()
	rs.setDeletes(true)
	return rs, nil
}

// unpinned counts a released read state and wakes Close after the last one.
func (t *Table) unpinned() {
	if t.activePins.Add(-1) == 0 && t.closing.Load() {
		t.pinsDrainedOnce.Do(func() { close(t.pinsDrained) })
	}
}

// waitForReaders blocks until every pinned read state is released. Called
// by close after no new pin can start.
func (t *Table) waitForReaders() {
	t.closing.Store(true)
	if t.activePins.Load() == 0 {
		return
	}
	t.logger.Info("srdb: Close waits for reads in progress", slog.Int64("pins", t.activePins.Load()))
	<-t.pinsDrained
}

func (t *Table) closedError() error {
	return tableClosedError(t.name)
}

// checkOpen returns ErrClosed after Close, and for a nil Table or a zero
// Table value (one not returned by CreateTable or Database.Table): every
// exported method of Table starts with it, so none panics on such a
// receiver.
func (t *Table) checkOpen() error {
	if t == nil || t.done == nil {
		return newError(CodeClosed, "nil or zero Table (not returned by CreateTable or Database.Table)")
	}
	select {
	case <-t.done:
		return t.closedError()
	default:
		return nil
	}
}

// Close waits for a running flush, makes the WAL durable and releases every
// file. Rows still in memtables are replayed from the WAL at the next Open.
// Calling Close twice returns nil the second time. The Database closes its
// tables; users normally call Database.Close.
func (t *Table) close() error {
	t.writeMu.Lock()
	if t.closed {
		t.writeMu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	t.spaceCond.Broadcast()
	t.writeMu.Unlock()

	t.bg.Wait() // flush and compaction goroutines have stopped

	var errs []error
	t.writeMu.Lock()
	if t.wal != nil {
		if err := t.wal.close(); err != nil {
			errs = append(errs, err)
		}
	}
	t.writeMu.Unlock()
	// No new pins from here on; then release the pins of the Rows left
	// open, wait for the reads in progress (they poll done and stop), and
	// only then release the version and unmap files.
	t.stateMu.Lock()
	cur := t.current
	t.current = nil
	mem, imms := t.mem, t.imms
	t.stateMu.Unlock()
	t.invalidateRows()
	t.waitForReaders()
	for _, m := range imms {
		if m.wal != nil {
			if err := m.wal.close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// No reader is left: the memtables' arenas go (memtable_arena.go).
	for _, m := range append(imms, mem) {
		if m != nil {
			m.unrefOwned()
		}
	}
	if cur != nil {
		cur.unref()
	}
	if err := t.vs.close(); err != nil {
		errs = append(errs, err)
	}
	if err := t.cache.close(); err != nil {
		errs = append(errs, err)
	}
	if t.roSnap != nil { // no lock: current is nil, nothing installs any more
		errs = append(errs, closeROWALs(t.roSnap.wals))
	}
	return withTable(errors.Join(errs...), t.name)
}
