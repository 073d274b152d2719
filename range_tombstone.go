package srdb

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// A range tombstone hides, in one record, every row of a seq range that
// existed when it was written, optionally only those older than a time:
//
//	hidden(seq, _time) = seqLo <= seq < seqHi  &&  (timeBefore == anyTime || _time < timeBefore)
//
// DeleteRange(lo, hi) writes {lo, min(hi, last seq + 1), anyTime}; DeleteBefore(cutoff)
// writes {1, last seq + 1, cutoff}; TableOptions.MaxAge applies
// {1, ∞, now − MaxAge} at read time without writing anything. Because seqs
// are assigned in increasing order and never reused, bounding seqHi by the
// last seq assigned when the tombstone is logged makes it hide exactly the
// rows that existed then: a row inserted later has a larger seq, whatever
// its _time. Update and Delete of a hidden row fail (ErrNotFound), so no
// newer version of a hidden seq is ever written.
//
// Where they live (see docs/ARCHITECTURE.md, "Deleting ranges"):
//   - in the WAL, as a walRecordRangeDelete record, and in the memtable that
//     record went into (memtable.rangeDels), with the op of the write, so a
//     reader's snapshot sees it exactly when it sees a row written at the
//     same moment;
//   - in the version (version.dels, MANIFEST tags tagAddRangeDel /
//     tagDropRangeDel) from the flush of that memtable on, or earlier when
//     the call dropped whole SSTs it covers;
//   - compactions drop the entries a version's tombstones hide, and an edit
//     drops a tombstone from the version once no SST of it holds an entry it
//     can hide (versionSet.pruneRangeDels).
type rangeTombstone struct {
	seqLo, seqHi int64 // the seqs [seqLo, seqHi)
	timeBefore   int64 // only rows with _time < timeBefore; anyTime: every row
}

// anyTime is the timeBefore of a tombstone without a time condition.
const anyTime = math.MaxInt64

// timed reports whether t hides only rows older than timeBefore.
func (t rangeTombstone) timed() bool { return t.timeBefore != anyTime }

// hides reports whether t hides the row version (seq, timeNanos).
func (t rangeTombstone) hides(seq, timeNanos int64) bool {
	return seq >= t.seqLo && seq < t.seqHi && (!t.timed() || timeNanos < t.timeBefore)
}

// covers reports whether every row t hides is hidden by u too.
func (u rangeTombstone) covers(t rangeTombstone) bool {
	return u.seqLo <= t.seqLo && u.seqHi >= t.seqHi && u.timeBefore >= t.timeBefore
}

// mayHideIn reports whether an SST with these properties can hold a row t
// hides (a tombstone entry never counts: its seq's rows are gone anyway).
func (t rangeTombstone) mayHideIn(f *fileMeta) bool {
	if f.maxSeq < t.seqLo || f.minSeq >= t.seqHi {
		return false
	}
	if !t.timed() {
		return true
	}
	return f.hasTime && f.minTime < t.timeBefore
}

// dropsFile reports whether the SST f can leave the LSM tree without being
// read: t hides every row in it, and losing its tombstone entries revives
// nothing. Untimed: every seq of f is in t's range, so the seqs its
// tombstones delete are hidden by t as well. Timed: every row of f is older
// than timeBefore and f has no tombstone (one could be the newest version
// of a row t does not hide, in a deeper level).
func (t rangeTombstone) dropsFile(f *fileMeta) bool {
	if f.minSeq < t.seqLo || f.maxSeq >= t.seqHi {
		return false
	}
	if !t.timed() {
		return true
	}
	return f.numTombstones == 0 && f.hasTime && f.maxTime < t.timeBefore
}

func (t rangeTombstone) String() string {
	if !t.timed() {
		return fmt.Sprintf("seqs [%d, %d)", t.seqLo, t.seqHi)
	}
	return fmt.Sprintf("seqs [%d, %d) with _time < %d", t.seqLo, t.seqHi, t.timeBefore)
}

// Encoding of a range tombstone, in WAL records and MANIFEST tags:
//
//	+--------------+--------------+---------------------+
//	| seqLo        | seqHi        | timeBefore          |
//	| uvarint      | uvarint      | varint (ns; MaxInt64 = any time)
//	+--------------+--------------+---------------------+
func appendRangeTombstone(dst []byte, t rangeTombstone) []byte {
	dst = binary.AppendUvarint(dst, uint64(t.seqLo))
	dst = binary.AppendUvarint(dst, uint64(t.seqHi))
	return binary.AppendVarint(dst, t.timeBefore)
}

// decodeRangeTombstone reads a range tombstone from the start of b and
// returns it with the number of bytes read; n <= 0 when b does not hold a
// valid one (seqLo >= 1, seqLo < seqHi, both within int64).
func decodeRangeTombstone(b []byte) (t rangeTombstone, n int) {
	lo, n1 := binary.Uvarint(b)
	if n1 <= 0 {
		return t, 0
	}
	hi, n2 := binary.Uvarint(b[n1:])
	if n2 <= 0 {
		return t, 0
	}
	tb, n3 := binary.Varint(b[n1+n2:])
	if n3 <= 0 || lo < 1 || lo >= hi || hi > math.MaxInt64 {
		return t, 0
	}
	return rangeTombstone{seqLo: int64(lo), seqHi: int64(hi), timeBefore: tb}, n1 + n2 + n3
}

// addRangeTombstone returns list with t added, keeping the list free of
// tombstones another one covers (list is not modified).
func addRangeTombstone(list []rangeTombstone, t rangeTombstone) []rangeTombstone {
	out := make([]rangeTombstone, 0, len(list)+1)
	for _, u := range list {
		if u.covers(t) {
			return list
		}
		if !t.covers(u) {
			out = append(out, u)
		}
	}
	return append(out, t)
}

// seqSpan is a range of seqs [lo, hi).
type seqSpan struct{ lo, hi int64 }

// deleteSet is the range tombstones one read state applies, arranged for
// lookups: the untimed ones merged into sorted disjoint spans (binary
// search, and an iterator skips a span with one seek), the timed ones in a
// short list checked against each row's _time. Immutable once built.
type deleteSet struct {
	spans []seqSpan
	timed []rangeTombstone
}

// newDeleteSet builds the set of the tombstones of lists; nil when there
// are none.
func newDeleteSet(lists ...[]rangeTombstone) *deleteSet {
	var d deleteSet
	for _, l := range lists {
		for _, t := range l {
			if t.timed() {
				d.timed = addRangeTombstone(d.timed, t)
			} else {
				d.spans = append(d.spans, seqSpan{t.seqLo, t.seqHi})
			}
		}
	}
	if len(d.spans) == 0 && len(d.timed) == 0 {
		return nil
	}
	if len(d.spans) > 1 {
		slices.SortFunc(d.spans, func(a, b seqSpan) int {
			switch {
			case a.lo < b.lo:
				return -1
			case a.lo > b.lo:
				return 1
			}
			return 0
		})
		merged := d.spans[:1]
		for _, s := range d.spans[1:] {
			last := &merged[len(merged)-1]
			if s.lo <= last.hi {
				last.hi = max(last.hi, s.hi)
				continue
			}
			merged = append(merged, s)
		}
		d.spans = merged
	}
	return &d
}

// spanAt returns the untimed span holding seq.
func (d *deleteSet) spanAt(seq int64) (seqSpan, bool) {
	i, _ := slices.BinarySearchFunc(d.spans, seq, func(s seqSpan, seq int64) int {
		switch {
		case s.hi <= seq:
			return -1
		case s.lo > seq:
			return 1
		}
		return 0
	})
	if i < len(d.spans) && d.spans[i].lo <= seq && seq < d.spans[i].hi {
		return d.spans[i], true
	}
	return seqSpan{}, false
}

// hides reports whether the row version (seq, timeNanos) is hidden. A nil
// set hides nothing.
func (d *deleteSet) hides(seq, timeNanos int64) bool {
	if d == nil {
		return false
	}
	if _, ok := d.spanAt(seq); ok {
		return true
	}
	for _, t := range d.timed {
		if t.hides(seq, timeNanos) {
			return true
		}
	}
	return false
}

// hidesByTime reports whether a timed tombstone hides the row version
// (seq, timeNanos).
func (d *deleteSet) hidesByTime(seq, timeNanos int64) bool {
	for _, t := range d.timed {
		if t.hides(seq, timeNanos) {
			return true
		}
	}
	return false
}

// entryTime returns the _time of an encoded row (ROW1 header), or false when
// row is too short to hold one (the row's reader reports that).
func entryTime(row []byte) (int64, bool) {
	if len(row) < rowTimeOffset+8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(row[rowTimeOffset:])), true
}

// hideIter is an internalIterator that leaves out the entries a deleteSet
// hides: it seeks past an untimed span in one step and steps over the rows
// a timed tombstone hides. Tombstone entries outside the spans pass through
// (the caller skips them as before).
type hideIter struct {
	in internalIterator
	d  *deleteSet
}

// withDeleteSet wraps it so that it leaves out what d hides; it is it
// itself when d is nil.
func withDeleteSet(it internalIterator, d *deleteSet) internalIterator {
	if d == nil {
		return it
	}
	return &hideIter{in: it, d: d}
}

// hiddenAt reports whether the entry the inner iterator is on is hidden
// and, when an untimed span hides it, that span.
func (h *hideIter) hiddenAt() (span seqSpan, inSpan, hidden bool) {
	seq := h.in.seq()
	if s, ok := h.d.spanAt(seq); ok {
		return s, true, true
	}
	if len(h.d.timed) == 0 || h.in.kind() != kindSet {
		return seqSpan{}, false, false
	}
	tn, ok := entryTime(h.in.value())
	return seqSpan{}, false, ok && h.d.hidesByTime(seq, tn)
}

func (h *hideIter) forward(ok bool) bool {
	for ok {
		span, inSpan, hidden := h.hiddenAt()
		switch {
		case inSpan:
			if span.hi == math.MaxInt64 {
				return false
			}
			ok = h.in.seekGE(span.hi)
		case hidden:
			ok = h.in.next()
		default:
			return true
		}
	}
	return false
}

func (h *hideIter) backward(ok bool) bool {
	for ok {
		span, inSpan, hidden := h.hiddenAt()
		switch {
		case inSpan:
			if span.lo <= minSeq {
				return false
			}
			ok = h.in.seekLE(span.lo - 1)
		case hidden:
			ok = h.in.prev()
		default:
			return true
		}
	}
	return false
}

func (h *hideIter) first() bool           { return h.forward(h.in.first()) }
func (h *hideIter) last() bool            { return h.backward(h.in.last()) }
func (h *hideIter) seekGE(seq int64) bool { return h.forward(h.in.seekGE(seq)) }
func (h *hideIter) seekLE(seq int64) bool { return h.backward(h.in.seekLE(seq)) }
func (h *hideIter) next() bool            { return h.forward(h.in.next()) }
func (h *hideIter) prev() bool            { return h.backward(h.in.prev()) }
func (h *hideIter) valid() bool           { return h.in.valid() }
func (h *hideIter) seq() int64            { return h.in.seq() }
func (h *hideIter) kind() entryKind       { return h.in.kind() }
func (h *hideIter) value() []byte         { return h.in.value() }
func (h *hideIter) err() error            { return h.in.err() }
func (h *hideIter) close() error          { return h.in.close() }
