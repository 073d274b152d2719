package srdb

import "slices"

// WAL replay at Open (target: Open after kill -9 with 500k rows in the WAL
// in under 0.5 s). Replaying a row has two independent halves: copying it
// into the memtable (arena, entry, seq position) and feeding the memtable's
// secondary indexes (parse the row, build each key, insert it). A
// replayIndexer runs the second half on another goroutine, fed in batches,
// so on a machine with two cores the replay takes about the time of the
// larger half instead of their sum. Nothing reads the memtable during
// replay, and the indexer is always finished before openTable goes on, so
// the result is the same as indexing synchronously: the same rows indexed
// in the same order.

// replayIndexBatch is the number of rows handed to the indexer at once.
const replayIndexBatch = 512

// replayRow is one change to index: seq's new version row (nil for a
// tombstone) and the version old it replaced in the memtable (nil: none),
// both in the memtable arena (stable for the life of the memtable).
type replayRow struct {
	seq      int64
	row, old []byte
}

// replayIndexer feeds the indexes of one replayed memtable from a second
// goroutine. Used by one replaying goroutine; finish must always be called.
type replayIndexer struct {
	m    *memtable
	pend []replayRow      // rows not yet handed over
	ch   chan []replayRow // batches to index; closed by finish
	free chan []replayRow // indexed batches, for reuse
	done chan struct{}    // closed when the indexer goroutine returns
}

// replayParallelIndex enables the replayIndexer; benchmarks turn it off to
// measure the difference.
var replayParallelIndex = true

// newReplayIndexer starts the indexer of m, or returns nil when m indexes
// no field or replayParallelIndex is off (add then applies to m directly).
func newReplayIndexer(m *memtable) *replayIndexer {
	if m.idx == nil || !replayParallelIndex {
		return nil
	}
	m.idx.mu.RLock()
	n := len(m.idx.fields)
	m.idx.mu.RUnlock()
	if n == 0 {
		return nil
	}
	r := &replayIndexer{
		m:    m,
		ch:   make(chan []replayRow, 4),
		free: make(chan []replayRow, 6),
		done: make(chan struct{}),
	}
	go r.run()
	return r
}

func (r *replayIndexer) run() {
	defer close(r.done)
	for batch := range r.ch {
		for _, x := range batch {
			if x.row != nil {
				r.m.idx.add(x.seq, x.row)
			}
			if x.old != nil {
				r.m.idx.unindex(x.seq, x.old, x.row, 0)
			}
		}
		select {
		case r.free <- batch[:0]:
		default:
		}
	}
}

// add applies one replayed row version (or tombstone) to the memtable and
// queues the change of its index entries. r may be nil: m.add then does both.
func (r *replayIndexer) add(m *memtable, seq int64, kind entryKind, timeNanos int64, row []byte) {
	if r == nil {
		m.add(seq, kind, timeNanos, row)
		return
	}
	m.mu.Lock()
	old := m.replacedRowLocked(seq)
	stored := m.addLocked(0, seq, kind, timeNanos, row)
	m.mu.Unlock()
	if kind != kindSet {
		stored = nil
	}
	if stored == nil && old == nil {
		return
	}
	r.queue(replayRow{seq: seq, row: stored, old: old})
}

// addRangeDel applies a replayed range tombstone to m and queues the
// removal of the index entries of the rows it hides in m, after the rows'
// own entries (queued before). r may be nil: m.addRangeDelOp then does both.
func (r *replayIndexer) addRangeDel(m *memtable, d rangeTombstone) {
	if r == nil {
		m.addRangeDelOp(0, d)
		return
	}
	m.addRangeDel(0, d)
	for _, h := range m.takeHidden(d) {
		r.queue(h)
	}
}

// queue hands x to the indexer, in batches of replayIndexBatch.
func (r *replayIndexer) queue(x replayRow) {
	if r.pend == nil {
		select {
		case r.pend = <-r.free:
		default:
			r.pend = make([]replayRow, 0, replayIndexBatch)
		}
	}
	r.pend = append(r.pend, x)
	if len(r.pend) == replayIndexBatch {
		r.ch <- r.pend
		r.pend = nil
	}
}

// finish hands over the last rows and waits until every queued row is
// indexed. A nil r has nothing to finish.
func (r *replayIndexer) finish() {
	if r == nil {
		return
	}
	if len(r.pend) > 0 {
		r.ch <- r.pend
		r.pend = nil
	}
	close(r.ch)
	<-r.done
}

// reserve gives m room for n entries (ents and order) so that a memtable
// filling up to the size of its predecessor does not regrow (and copy)
// them under the table's write lock. Called before m is shared.
func (m *memtable) reserve(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n > len(m.ents) {
		m.ents = slices.Grow(m.ents, n-len(m.ents))
	}
	if n > len(m.order) {
		m.order = slices.Grow(m.order, n-len(m.order))
	}
}
