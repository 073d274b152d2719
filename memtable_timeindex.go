package srdb

import (
	"math"
	"sync"
)

// The _time summary of a memtable: the memtable's counterpart of the SST
// _time index (sstable_timeindex.go), so that a _time range query touching
// the memtable examines about one block summary per 128 entries instead of
// every entry's time.
//
// The entries in seq order (the memtable's order slice) are cut into blocks
// with the SST index's rules (at most sstTimeBlockRows entries, spanning
// fewer than sstTimeBlockSpan seqs, cut where the seq jumps by more than
// sstTimeBlockGap). A block records its first and last seq and the smallest
// and largest _time of every version of its entries: the entry's own when it
// is a row, and those of the versions it superseded (kept for older
// snapshots). The blocks are built once, as the order slice grows, and kept
// while it does not change, which is exact for every reader:
//
//   - an order slice is append-only: a later insert in seq order goes after
//     the blocks, and one out of seq order makes the memtable build a new
//     slice (sortedPositions), which resets the blocks;
//   - an entry replaced in place after its block was built is an Update
//     (same _time: Update keeps it) or a Delete (a tombstone; the time of the
//     row it hides was recorded), so the block's range still holds the time
//     of every version any reader can see;
//   - a tombstone that hides a row of another source needs no time of its
//     own: that row's source gives the window (query_timerange.go).
//
// Only closed blocks are kept; the entries after the last closed block (at
// most one block's worth) are summarised at every call.

// memTimeBlocks caches the closed blocks of one order slice of a memtable.
type memTimeBlocks struct {
	// mu guards the fields below. Lock order: mu, then memtable.mu (read).
	mu     sync.Mutex
	base   *int32             // &order[0] of the order slice the blocks describe
	next   int                // index in that order slice after the last closed block
	blocks []memTimeBlockSpan // closed blocks, in order
}

// memTimeBlockSpan is one block of a memtable's _time summary.
type memTimeBlockSpan struct {
	sstTimeBlock
	hasTime bool // some version of an entry is a row (minTime/maxTime are set)
}

// memTimeBlockBuilder accumulates one block.
type memTimeBlockBuilder struct {
	cur memTimeBlockSpan
	n   int
}

// startsNew reports whether an entry of seq must start a new block.
func (b *memTimeBlockBuilder) startsNew(seq int64) bool {
	return b.n > 0 && (b.n == sstTimeBlockRows || seq-b.cur.firstSeq >= sstTimeBlockSpan || seq-b.cur.lastSeq > sstTimeBlockGap)
}

// addLocked adds the entry at position pos of m (m.mu held, read or
// write): its seq and the _time of each of its row versions.
func (b *memTimeBlockBuilder) addLocked(m *memtable, pos int32) {
	e := &m.ents[pos]
	if b.n == 0 {
		b.cur = memTimeBlockSpan{sstTimeBlock: sstTimeBlock{firstSeq: e.seq, minTime: math.MaxInt64, maxTime: math.MinInt64}}
	}
	b.cur.lastSeq = e.seq
	b.n++
	b.time(e)
	i, ok := m.prevOf[pos]
	for ok && i >= 0 {
		v := &m.superseded[i]
		b.time(&v.e)
		i = v.prev
	}
}

func (b *memTimeBlockBuilder) time(e *memEntry) {
	if e.kind != kindSet {
		return
	}
	b.cur.minTime = min(b.cur.minTime, e.timeNanos)
	b.cur.maxTime = max(b.cur.maxTime, e.timeNanos)
	b.cur.hasTime = true
}

// memTimeWindowsStep is how many entries memtable.timeWindows summarises per
// hold of the read lock, so that building the blocks of a large memtable
// does not stall writers.
const memTimeWindowsStep = 4096

// timeWindows appends to out the seq windows of the memtable's blocks whose
// _time range overlaps [lo, hi] (adjacent blocks merged unless a seq gap cut
// them), in seq order. It
// reads block summaries and at most one block's entries, never rows; the
// first call after the order slice changed builds the blocks (a pass over
// the entries).
func (m *memtable) timeWindows(lo, hi int64, out []seqWindow) []seqWindow {
	order := m.sortedPositions()
	if len(order) == 0 {
		return out
	}
	c := &m.timeBlocks
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base != &order[0] || c.next > len(order) {
		c.base, c.next, c.blocks = &order[0], 0, c.blocks[:0]
	}
	var b memTimeBlockBuilder
	for start := c.next; start < len(order); start += memTimeWindowsStep {
		end := min(start+memTimeWindowsStep, len(order))
		m.mu.RLock()
		for i := start; i < end; i++ {
			pos := order[i]
			if b.startsNew(m.ents[pos].seq) {
				c.blocks = append(c.blocks, b.cur)
				c.next = i
				b.n = 0
			}
			b.addLocked(m, pos)
		}
		m.mu.RUnlock()
	}
	prev := false // the last window of out came from the previous block
	add := func(blk *memTimeBlockSpan) {
		if !blk.hasTime || blk.maxTime < lo || blk.minTime > hi {
			prev = false
			return
		}
		if prev && blk.firstSeq-out[len(out)-1].hi <= sstTimeBlockGap {
			out[len(out)-1].hi = blk.lastSeq
		} else {
			out = append(out, seqWindow{blk.firstSeq, blk.lastSeq})
		}
		prev = true
	}
	for i := range c.blocks {
		add(&c.blocks[i])
	}
	if b.n > 0 {
		add(&b.cur) // the open block: summarised again next time
	}
	return out
}
