package srdb

import (
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Leveled compaction (L0 … L6). The picker (compaction_picker.go) chooses
// input files; runCompaction merges them into new SSTs of the output level
// and installs the result with one VersionEdit:
//
//  1. merge the inputs (newest version of each seq wins; a tombstone is
//     dropped, with the rows it covers, when no level deeper than the output
//     holds a file whose seq range contains it) into output SSTs cut at the
//     output level's target size. Each output is written to a temp name,
//     fsynced, renamed and the directory fsynced (sstWriter.finish);
//     kill point "compaction.before_output_sync" before each finish,
//     "compaction.after_output" once all are durable;
//  2. logAndApply one edit deleting every input and adding every output
//     ("compaction.after_manifest") — from here the outputs are the rows'
//     home;
//  3. swap the table's pinned version under stateMu, as a flush does, and
//     release the compaction's pin of the input version. The inputs become
//     obsolete and are unmapped and removed (versionSetOptions.onObsolete)
//     once no reader pins a version naming them — at once when none does
//     ("compaction.after_delete").
//
// A crash before 2 leaves output files no version names (removed at Open)
// and the inputs live; after 2 the inputs are unreferenced and removed at
// Open if step 3 did not get to it. Rows are never in zero or two live
// places of one level.
//
// # Concurrency
//
// One compaction per table at a time (compactionState.mu), at most
// Options.CompactionWorkers background compactions per Database at a time
// (Database.compactionSlots). A compaction takes no table lock while it reads
// and writes SSTs: inserts, flushes and reads go on. It takes stateMu only
// to swap the pinned version and writeMu only to wake stalled writers.
//
// # Write stalls
//
// When L0 holds L0StopWritesTrigger files or more and auto compaction is on,
// the background flusher waits before writing another L0 file until
// compaction brings L0 below the trigger (logged, counted in
// TableStats.Compaction). Full memtables then pile up, and once
// MaxImmutableMemTables of them wait, inserts wait too (the existing
// back-pressure on spaceCond), so memory stays bounded. Close stops the
// waiting flusher, and writers waiting on spaceCond get ErrClosed. An
// explicit Flush (and so Compact) never waits for L0. With auto compaction
// off nothing ever stalls: L0 grows until Compact is called.

// Kill points of a compaction (see killPoint).
const (
	kpCompactionBeforeOutputSync = "compaction.before_output_sync"
	kpCompactionAfterOutput      = "compaction.after_output"
	kpCompactionAfterManifest    = "compaction.after_manifest"
	kpCompactionAfterDelete      = "compaction.after_delete"
)

// compactionCloseCheckEvery is how many merged entries a compaction writes
// between two checks for Close.
const compactionCloseCheckEvery = 1024

// compactionState is the compaction part of a Table.
//
// Lock order: mu is taken before every other lock of the table (it is held
// across a whole compaction, whose commit takes versionSet.mu, stateMu and
// writeMu); infoMu is a leaf.
type compactionState struct {
	// wake (capacity 1) tells the background worker a compaction may be
	// due. Made by startCompactions before the flusher starts.
	wake chan struct{}

	// mu serialises the compactions of the table (background and Compact)
	// and guards cursor. Held for a whole compaction, I/O included. Never
	// taken while holding writeMu, flushMu or stateMu.
	mu     sync.Mutex
	cursor [numLevels]int64 // per level: largest seq of the last file picked

	// infoMu guards the fields below it (Stats reads them; the worker and
	// Compact write them).
	infoMu  sync.Mutex
	idle    *sync.Cond      // on infoMu; broadcast when the worker goes idle
	pending bool            // a wake was sent and the worker has not taken it yet
	busy    bool            // the worker is picking or running compactions
	running *CompactionInfo // the compaction in progress, nil when none
	lastErr string          // last compaction error
	// changed is closed (and replaced) whenever a compaction attempt ends
	// or the worker exits; a stalled flusher waits on it.
	changed chan struct{}

	// stallStart is when the current L0 stall began; only the flusher
	// goroutine touches it. stalled mirrors "a stall is on" for Stats.
	stallStart time.Time
	stalled    atomic.Bool

	// Counters, written by whoever did the work.
	count        atomic.Int64 // compactions completed (moves included)
	moves        atomic.Int64 // of which trivial moves
	bytesRead    atomic.Int64 // input bytes of rewriting compactions
	bytesWritten atomic.Int64 // output bytes
	nanos        atomic.Int64 // time spent in compactions
	progress     atomic.Int64 // output bytes written so far by the running compaction
	stalls       atomic.Int64 // L0 write stalls begun
	stallNanos   atomic.Int64 // time spent in finished L0 stalls
}

// CompactionInfo describes a compaction in progress.
type CompactionInfo struct {
	Level        int       // input level that was due (manual: the shallowest level with files)
	OutputLevel  int       // level receiving the output
	Inputs       []uint64  // input file numbers
	InputBytes   int64     // total size of the inputs
	BytesWritten int64     // output bytes written so far
	Manual       bool      // started by Table.Compact
	Move         bool      // files re-levelled without a rewrite
	Score        float64   // score of Level when picked (0 for manual)
	Started      time.Time // when it began
}

// CompactionStats is the compaction activity of a table since Open.
type CompactionStats struct {
	Count        int64         // compactions completed, trivial moves included
	Moves        int64         // compactions that re-levelled files without rewriting them
	BytesRead    int64         // SST bytes read by compactions
	BytesWritten int64         // SST bytes written by compactions
	Duration     time.Duration // total time spent compacting
	// WriteAmplification is (FlushedBytes + BytesWritten) / FlushedBytes:
	// SST bytes written per byte flushed (WAL bytes not counted); 0 before
	// the first flush.
	WriteAmplification float64
	Running            *CompactionInfo // the compaction in progress; nil when none
	LastError          string          // the last compaction error, "" when none
	WriteStalls        int64           // times flushes (and so, soon, inserts) waited for L0 compaction
	WriteStallTime     time.Duration   // time spent in those waits (finished ones)
	Stalled            bool            // the flusher is waiting for L0 compaction now
}

// startCompactions prepares the compaction state and, unless auto
// compaction is disabled, starts the background worker. Called by start
// before the flusher runs.
func (t *Table) startCompactions() {
	t.compact.wake = make(chan struct{}, 1)
	t.compact.idle = sync.NewCond(&t.compact.infoMu)
	t.compact.changed = make(chan struct{})
	if t.opts.DisableAutoCompaction {
		return
	}
	t.bg.Add(1)
	go t.compactionLoop()
	t.maybeScheduleCompaction() // recovered L0 files may already be due
}

// maybeScheduleCompaction wakes the background worker (after a flush). It
// never blocks.
func (t *Table) maybeScheduleCompaction() {
	if t.opts.DisableAutoCompaction || t.compact.wake == nil {
		return
	}
	t.compact.infoMu.Lock()
	t.compact.pending = true
	t.compact.infoMu.Unlock()
	select {
	case t.compact.wake <- struct{}{}:
	default:
	}
}

// compactionLoop is the background worker of one table: whenever woken it
// runs compactions while a level is due. A failed compaction makes the table
// read-only, like a failed flush (its inputs stay live; nothing is lost).
func (t *Table) compactionLoop() {
	defer t.bg.Done()
	defer t.setCompactionIdle()
	for {
		select {
		case <-t.done:
			return
		case <-t.compact.wake:
		}
		t.compact.infoMu.Lock()
		t.compact.pending = false
		t.compact.busy = true
		t.compact.infoMu.Unlock()
		for {
			did, err := t.compactOnce()
			if err != nil {
				if !errors.Is(err, ErrClosed) {
					t.fail(err)
					t.wakeWriters()
				}
				break
			}
			if !did {
				break
			}
		}
		t.setCompactionIdle()
	}
}

// setCompactionIdle marks the worker idle and wakes waitForCompactions and
// a stalled flusher.
func (t *Table) setCompactionIdle() {
	t.compact.infoMu.Lock()
	t.compact.busy = false
	t.compact.idle.Broadcast()
	t.signalCompactionChangeLocked()
	t.compact.infoMu.Unlock()
}

// signalCompactionChangeLocked wakes everyone waiting on compact.changed.
// The caller holds infoMu.
func (t *Table) signalCompactionChangeLocked() {
	close(t.compact.changed)
	t.compact.changed = make(chan struct{})
}

// waitForCompactions blocks until the background worker has nothing left
// to do (no wake pending, no compaction running; it stops only when no
// level is due), or the table is closed or read-only. It returns at once
// when auto compaction is disabled. Tests use it instead of sleeping.
func (t *Table) waitForCompactions() {
	if t.opts.DisableAutoCompaction {
		return
	}
	c := &t.compact
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	for (c.pending || c.busy) && t.checkOpen() == nil && t.readOnlyErr() == nil {
		c.idle.Wait()
	}
}

// compactOnce runs the most urgent due compaction, if any, holding a
// database-wide slot. It reports whether one ran.
func (t *Table) compactOnce() (bool, error) {
	if err := t.checkOpen(); err != nil {
		return false, err
	}
	if err := t.readOnlyErr(); err != nil {
		return false, nil // the table no longer changes; nothing to do
	}
	t.compact.mu.Lock()
	defer t.compact.mu.Unlock()
	if slots := t.compactionSlots(); slots != nil {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-t.done:
			return false, ErrClosed
		}
	}
	v := t.vs.current()
	plan := pickCompaction(v, t.opts, &t.compact.cursor)
	if plan == nil {
		v.unref()
		return false, nil
	}
	return true, t.runCompaction(v, plan)
}

// Compact runs a full manual compaction and waits for it: it flushes the
// memtables, then merges every SST of every level into the deepest
// non-empty level (L1 when only L0 has files), dropping every deleted row
// and every overwritten version. Inserts and reads go on meanwhile; rows
// flushed during the compaction stay in L0. It works whether or not auto
// compaction is enabled and does not take a CompactionWorkers slot (it runs
// in the caller's goroutine). Close makes it return ErrClosed. A failure to
// write the outputs is returned and changes nothing; a failure to commit
// them makes the table read-only.
func (t *Table) Compact() error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	// Register with bg, flush included, so that Close (and DropTable) waits
	// for us before it unmaps or removes files.
	if err := t.enterBackground(); err != nil {
		return err
	}
	defer t.bg.Done()
	if err := t.Flush(); err != nil {
		return err
	}

	t.compact.mu.Lock()
	defer t.compact.mu.Unlock()
	if err := t.readOnlyErr(); err != nil {
		return err
	}
	v := t.vs.current()
	plan := pickManualCompaction(v)
	if plan == nil {
		v.unref()
		return nil
	}
	err := t.runCompaction(v, plan)
	if err != nil && !errors.Is(err, ErrClosed) && t.vs.err() != nil {
		t.fail(err)
		t.wakeWriters()
	}
	// Background work may be due now (e.g. the output level over budget).
	t.maybeScheduleCompaction()
	return withTable(err, t.name)
}

// runCompaction executes plan against v and installs the result. It takes
// over the caller's pin of v and releases it. Caller holds compact.mu.
func (t *Table) runCompaction(v *version, plan *compactionPlan) (err error) {
	pinned := true
	release := func() {
		if pinned {
			pinned = false
			v.unref() // may remove the inputs (onObsolete)
		}
	}
	defer release()
	defer func() {
		for _, num := range plan.outputNums {
			t.doneOutput(num)
		}
	}()
	start := time.Now()
	inputs := plan.inputFiles()
	info := &CompactionInfo{
		Level: plan.level, OutputLevel: plan.outLevel, InputBytes: plan.inputBytes(),
		Manual: plan.manual, Move: plan.move, Score: plan.score, Started: start,
	}
	for _, f := range inputs {
		info.Inputs = append(info.Inputs, f.num)
	}
	t.compact.progress.Store(0)
	t.compact.infoMu.Lock()
	t.compact.running = info
	t.compact.infoMu.Unlock()
	defer func() {
		t.compact.infoMu.Lock()
		t.compact.running = nil
		if err != nil && !errors.Is(err, ErrClosed) {
			t.compact.lastErr = err.Error()
		}
		t.signalCompactionChangeLocked()
		t.compact.infoMu.Unlock()
		if err != nil && !errors.Is(err, ErrClosed) {
			t.logger.Error("srdb: compaction failed", slog.Int("level", plan.level),
				slog.Int("output_level", plan.outLevel), slog.Any("err", err))
		}
	}()

	edit := &versionEdit{}
	var outputs []*fileMeta
	if plan.move {
		for _, f := range inputs {
			edit.deleteFile(plan.level, f.num)
			edit.addFile(plan.outLevel, f.clone())
		}
	} else {
		outputs, err = t.writeCompactionOutputs(v, plan)
		if err != nil {
			return err
		}
		if err := killPoint(kpCompactionAfterOutput); err != nil {
			t.removeCompactionOutputs(outputs)
			return err
		}
		if err := t.checkOpen(); err != nil {
			t.removeCompactionOutputs(outputs)
			return err
		}
		// An index created while the outputs were written is missing from
		// their sections: drop them; the inputs stay and a later
		// compaction redoes the work with the new schema.
		if !newIndexSectionBuilder(plan.schema).covers(t.Schema()) {
			t.logger.Info("srdb: compaction discarded: an index was created meanwhile")
			t.removeCompactionOutputs(outputs)
			return nil
		}
		for l := range plan.inputs {
			for _, f := range plan.inputs[l] {
				edit.deleteFile(l, f.num)
			}
		}
		for _, m := range outputs {
			edit.addFile(plan.outLevel, m)
		}
	}
	if err := t.vs.logAndApply(edit); err != nil {
		if errors.Is(err, errEditConflict) {
			// The edit no longer applies to the current version (an input
			// was replaced meanwhile); nothing was written to the
			// MANIFEST. Drop the outputs; the table stays writable.
			t.logger.Warn("srdb: compaction discarded: its inputs changed", slog.Any("err", err))
			t.removeCompactionOutputs(outputs)
			return nil
		}
		// The outcome is unknown (the edit may be durable): keep the
		// outputs; Open sorts it out.
		return err
	}
	kerr := killPoint(kpCompactionAfterManifest)
	t.installVersion(nil)
	release()
	t.wakeWriters()
	if kerr != nil {
		return kerr
	}
	if err := killPoint(kpCompactionAfterDelete); err != nil {
		return err
	}

	var written int64
	for _, m := range outputs {
		written += int64(m.size)
	}
	c := &t.compact
	c.count.Add(1)
	if plan.move {
		c.moves.Add(1)
	} else {
		c.bytesRead.Add(info.InputBytes)
		c.bytesWritten.Add(written)
	}
	took := time.Since(start)
	c.nanos.Add(int64(took))
	t.logger.Info("srdb: compaction done",
		slog.Int("level", plan.level), slog.Int("output_level", plan.outLevel),
		slog.Bool("manual", plan.manual), slog.Bool("move", plan.move),
		slog.Int("inputs", len(inputs)), slog.Int64("input_bytes", info.InputBytes),
		slog.Int("outputs", len(outputs)), slog.Int64("output_bytes", written),
		slog.Duration("took", took))
	return nil
}

// wakeWriters wakes writers waiting on spaceCond (a memtable flush or L0
// compaction finished, or the table failed).
func (t *Table) wakeWriters() {
	t.writeMu.Lock()
	t.spaceCond.Broadcast()
	t.writeMu.Unlock()
}

// writeCompactionOutputs merges the inputs of plan and writes the output
// SSTs. On error every output written so far is removed.
func (t *Table) writeCompactionOutputs(v *version, plan *compactionPlan) (outputs []*fileMeta, err error) {
	it := t.newSourcesIter(nil, 0, &plan.inputs, allEntries, nil)
	defer func() {
		if cerr := it.close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			t.removeCompactionOutputs(outputs)
			outputs = nil
		}
	}()

	drop := newTombstoneDropper(v, plan.outLevel)
	cutter := newOutputCutter(v, plan.outLevel)
	target := t.opts.targetFileSize(plan.outLevel)
	// With MaxAge set, an output holds the rows of one time slice
	// (retentionSlice): rows are nearly in time order, so a file expires
	// whole and retention drops it without a rewrite.
	slice := retentionSlice(t.Options())
	sliceEnd := int64(math.MaxInt64) // the current output's slice ends there
	var w *sstWriter
	// Each output carries the secondary-index sections of its own rows,
	// built from the schema as it is now (an index created meanwhile is
	// added to these outputs by the index build, which rewrites files that
	// lack its section).
	schema := t.Schema()
	plan.schema = schema
	var ib *indexSectionBuilder
	var done int64 // bytes of the finished outputs
	defer func() {
		if w != nil {
			w.abort()
		}
	}()
	finish := func() error {
		if err := ib.writeTo(w); err != nil {
			return err
		}
		if err := killPoint(kpCompactionBeforeOutputSync); err != nil {
			return err
		}
		props, err := w.finish()
		w = nil
		if err != nil {
			return err
		}
		outputs = append(outputs, metaFromProps(props))
		done += int64(props.size)
		t.compact.progress.Store(done)
		return nil
	}
	var n int
	prev := int64(0)
	var dropped int64 // output bytes at the last dropInputPages
	evicted := map[uint64]bool{}
	for ok := it.first(); ok; ok = it.next() {
		if n++; n%compactionCloseCheckEvery == 0 {
			if err := t.checkOpen(); err != nil {
				return outputs, err
			}
			if w != nil {
				t.compact.progress.Store(done + int64(w.off))
				if out := done + int64(w.off); out-dropped >= compactionDropPagesEvery {
					t.evictDoneInputs(plan, it.seq(), evicted) // compaction_pages.go
					t.dropInputPages(plan)
					dropped = out
				}
			}
		}
		seq, kind := it.seq(), it.kind()
		if kind == kindDelete && drop.canDrop(seq) {
			continue
		}
		var timeNanos int64
		val := it.value()
		if err := iterFault(it); err != nil {
			return outputs, err
		}
		if kind == kindSet {
			if timeNanos, err = storedRowTime(seq, val); err != nil {
				return outputs, locateRowError(err, "compaction input", -1)
			}
		}
		if v.delSet != nil && hiddenEntry(v.delSet, seq, kind, timeNanos) {
			continue // a range tombstone of v hides it for good (range_tombstone.go)
		}
		newSlice := slice > 0 && kind == kindSet && timeNanos >= sliceEnd
		if w != nil && (int64(w.off) >= target || cutter.cutBefore(prev, seq) || newSlice) {
			if err := finish(); err != nil {
				return outputs, err
			}
			sliceEnd = math.MaxInt64
		}
		if slice > 0 && kind == kindSet && sliceEnd == math.MaxInt64 {
			sliceEnd = sliceAfter(timeNanos, slice)
		}
		if w == nil {
			num := t.newOutputFileNum()
			plan.outputNums = append(plan.outputNums, num)
			if w, err = newSSTWriterCompressed(t.fs, t.dir, num, t.compression()); err != nil {
				return outputs, err
			}
			ib = newIndexSectionBuilder(schema)
		}
		if err := w.add(seq, kind, timeNanos, val); err != nil {
			return outputs, err
		}
		if err := ib.add(seq, kind, val); err != nil {
			return outputs, err
		}
		prev = seq
	}
	if err := it.err(); err != nil {
		return outputs, err
	}
	if w != nil {
		if err := finish(); err != nil {
			return outputs, err
		}
	}
	return outputs, nil
}

// iterFault returns the error of any iterator inside it. A record that
// fails its checksum in sstIter.value unpositions that sstIter, but
// levelIter and mergingIter take a failed child for exhausted when they
// step: the merge goes on without the rest of that file and only close
// reports the error. The compaction would then fail at close (and install
// nothing); checking after every value makes it stop at once and name the
// file and offset.
func iterFault(it internalIterator) error {
	switch x := it.(type) {
	case *mergingIter:
		if x.failed != nil {
			return x.failed
		}
		for _, c := range x.children {
			if err := iterFault(c); err != nil {
				return err
			}
		}
	case *levelIter:
		if x.failed != nil {
			return x.failed
		}
		if x.iter != nil {
			return iterFault(x.iter)
		}
	default:
		return it.err()
	}
	return nil
}

// removeCompactionOutputs deletes outputs no version names (a compaction
// that failed before its edit). Failures are logged: Open removes the files
// anyway.
func (t *Table) removeCompactionOutputs(outputs []*fileMeta) {
	for _, m := range outputs {
		if err := t.cache.evict(m.num); err != nil {
			t.logger.Warn("srdb: closing compaction output", slog.Uint64("file", m.num), slog.Any("err", err))
		}
		path := makeFilepath(t.dir, fileTypeSST, m.num)
		if err := t.fs.Remove(path); err != nil {
			t.logger.Warn("srdb: removing compaction output", slog.String("file", path), slog.Any("err", err))
		}
	}
}

// tombstoneDropper decides whether a tombstone can be dropped: no level
// deeper than the output level has a file whose seq range contains it (so
// no older version of the row can survive below). Seqs arrive ascending,
// so each deeper level is walked once.
type tombstoneDropper struct {
	levels [][]*fileMeta // the non-empty levels deeper than the output
	pos    []int         // per level: first file whose maxSeq ≥ the last seq asked
}

func newTombstoneDropper(v *version, outLevel int) *tombstoneDropper {
	d := &tombstoneDropper{}
	for l := outLevel + 1; l < numLevels; l++ {
		if files := v.files(l); len(files) > 0 {
			d.levels = append(d.levels, files)
			d.pos = append(d.pos, 0)
		}
	}
	return d
}

// canDrop reports whether the tombstone of seq can be dropped. Calls must
// come with ascending seqs.
func (d *tombstoneDropper) canDrop(seq int64) bool {
	for i, files := range d.levels {
		j := d.pos[i]
		for j < len(files) && files[j].maxSeq < seq {
			j++
		}
		d.pos[i] = j
		if j < len(files) && files[j].minSeq <= seq {
			return false
		}
	}
	return true
}

// outputCutter cuts an output file where the level below the output has a
// whole file between two consecutive output seqs. A tombstone (or update)
// of an old seq otherwise widens an output's range over many files of the
// next level, and compacting it later would rewrite all of them.
type outputCutter struct {
	files []*fileMeta // the level below the output
	pos   int         // first file whose maxSeq ≥ the last seq asked
}

func newOutputCutter(v *version, outLevel int) *outputCutter {
	return &outputCutter{files: v.files(outLevel + 1)}
}

// cutBefore reports whether an output holding prev should end before seq
// (prev < seq; calls come with ascending seqs).
func (c *outputCutter) cutBefore(prev, seq int64) bool {
	cut := false
	for c.pos < len(c.files) && c.files[c.pos].maxSeq < seq {
		if c.files[c.pos].minSeq > prev {
			cut = true
		}
		c.pos++
	}
	return cut
}

// compactionStats fills s.Compaction and the scores of s.Levels from v.
func (t *Table) compactionStats(s *TableStats, v *version) {
	c := &t.compact
	cs := CompactionStats{
		Count:          c.count.Load(),
		Moves:          c.moves.Load(),
		BytesRead:      c.bytesRead.Load(),
		BytesWritten:   c.bytesWritten.Load(),
		Duration:       time.Duration(c.nanos.Load()),
		WriteStalls:    c.stalls.Load(),
		WriteStallTime: time.Duration(c.stallNanos.Load()),
	}
	if s.FlushedBytes > 0 {
		cs.WriteAmplification = float64(s.FlushedBytes+cs.BytesWritten) / float64(s.FlushedBytes)
	}
	c.infoMu.Lock()
	if c.running != nil {
		r := *c.running
		r.Inputs = append([]uint64(nil), r.Inputs...)
		r.BytesWritten = c.progress.Load()
		cs.Running = &r
	}
	cs.LastError = c.lastErr
	c.infoMu.Unlock()
	cs.Stalled = c.stalled.Load()
	s.Compaction = cs
	if v == nil {
		return
	}
	scores := levelScores(v, t.opts)
	for i := range s.Levels {
		l := s.Levels[i].Level
		s.Levels[i].Score = scores[l]
		s.Levels[i].MaxBytes = t.opts.levelMaxBytes(l)
	}
}

// l0Stalled reports whether L0 has reached L0StopWritesTrigger files with
// auto compaction on.
func (t *Table) l0Stalled() bool {
	if t.opts.DisableAutoCompaction || t.opts.L0StopWritesTrigger <= 0 {
		return false
	}
	v := t.vs.current()
	n := v.numFiles(0)
	v.unref()
	return n >= t.opts.L0StopWritesTrigger
}

// waitForL0Room is called by the background flusher before it writes an L0
// file: while L0 has L0StopWritesTrigger files or more (and auto compaction
// is on) it waits for compaction. It returns false when the flusher should
// stop instead: the table closed or became read-only.
func (t *Table) waitForL0Room() bool {
	c := &t.compact
	for {
		c.infoMu.Lock()
		changed := c.changed
		c.infoMu.Unlock()
		if t.checkOpen() != nil || t.readOnlyErr() != nil {
			t.endL0Stall()
			return false
		}
		if !t.l0Stalled() {
			t.endL0Stall()
			return true
		}
		if !c.stalled.Load() {
			c.stalled.Store(true)
			c.stallStart = time.Now()
			c.stalls.Add(1)
			t.logger.Warn("srdb: write stall: flush waits for L0 compaction; inserts wait once the immutable memtables are full",
				slog.Int("l0_stop_writes_trigger", t.opts.L0StopWritesTrigger))
		}
		t.maybeScheduleCompaction()
		select {
		case <-changed:
		case <-t.done:
		}
	}
}

// endL0Stall ends the current L0 stall, if any. Flusher goroutine only.
func (t *Table) endL0Stall() {
	c := &t.compact
	if !c.stalled.Load() {
		return
	}
	d := time.Since(c.stallStart)
	c.stallNanos.Add(int64(d))
	c.stalled.Store(false)
	t.logger.Info("srdb: write stall over", slog.Duration("waited", d))
}

// compactionSlots returns the database-wide compaction semaphore, or nil for
// a table opened without a Database (tests), which compacts unthrottled.
func (t *Table) compactionSlots() chan struct{} {
	if t.db == nil {
		return nil
	}
	return t.db.compactionSlots
}

// hiddenEntry reports whether the entry (seq, kind, timeNanos) can leave the
// LSM tree because d hides it: a row d hides, or a tombstone of a seq an
// untimed tombstone hides. Hidden seqs are never written again, and d stays
// in the version while any SST may hold an entry it hides
// (version.pruneRangeDels), so dropping the entry changes no read.
func hiddenEntry(d *deleteSet, seq int64, kind entryKind, timeNanos int64) bool {
	if kind == kindDelete {
		_, ok := d.spanAt(seq)
		return ok
	}
	return d.hides(seq, timeNanos)
}

// retentionSlice is the time span of the rows one compaction output holds
// when MaxAge is set: an eighth of MaxAge, so that the data kept on disk
// spans at most about MaxAge + MaxAge/8 before whole files expire. 0 (no
// time cut) without MaxAge.
func retentionSlice(o TableOptions) int64 {
	if o.MaxAge <= 0 {
		return 0
	}
	return max(int64(o.MaxAge/8), 1)
}

// sliceAfter returns the end of the time slice of width w holding tn.
func sliceAfter(tn, w int64) int64 {
	b := tn / w
	if tn < 0 && tn%w != 0 {
		b--
	}
	if b >= math.MaxInt64/w-1 {
		return math.MaxInt64 - 1
	}
	return (b + 1) * w
}
