package srdb

// The _time index of an SST (format version 3): a summary of the _time of
// the file's rows, so that a _time range query reads the rows whose time can
// lie in the range instead of every row of every file whose [minTime,
// maxTime] overlaps it.
//
// The file's rows (its kindSet entries, in seq order) are cut into blocks
// of at most sstTimeBlockRows consecutive rows whose seqs span fewer than
// sstTimeBlockSpan, a new block starting too where the seqs jump by more
// than sstTimeBlockGap (tombstones belong to no block). These bounds matter
// for a file whose seqs are sparse — the Updates of old rows that an L0 file
// holds beside its new rows: a block's window is read through the merged
// iterator of every source, so a block spanning many seqs would read the
// dense rows of the other sources in between; an isolated row gets a
// block, so a window, of its own. For each block the index holds the seqs
// of its first and last row and the smallest and largest _time among its
// rows. Rows are nearly in time order (a row's _time is its insert time
// unless the writer sets it, and an Update keeps it), so the blocks that
// can hold a time range are few and contiguous; out-of-order rows only
// widen the [min, max] of their own block and never hide a row.
//
// Finding the blocks of a range [lo, hi] in O(log blocks): prefMax[i] is
// the largest maxTime of blocks 0..i and sufMin[i] the smallest minTime of
// blocks i..n-1; both are non-decreasing. Every block before the first i
// with prefMax[i] >= lo ends before lo, every block after the last i with
// sufMin[i] <= hi starts after hi: two binary searches bound the candidate
// blocks, and each candidate is then kept only if its own [min, max]
// overlaps [lo, hi] (an out-of-order row widens the bounds to the blocks
// around it; the per-block check keeps the rows read to those blocks).
//
// The result is a list of seq windows (seqWindow): every row of the file
// whose _time is in [lo, hi] has a seq inside one of them. The query scan
// (query_timerange.go) visits only those seqs, through the same merged
// iterator as any scan, and re-checks the _time condition on every row:
// the index only decides which seqs are read, never which rows match.

import (
	"encoding/binary"
	"sort"
	"sync"
)

const (
	// sstSectionTime is the section kind of the _time index; there is one
	// such section, named sstTimeSectionName, in every version-3 file. Kinds
	// below 16 are left to the index sections (index.go).
	sstSectionTime     uint16 = 16
	sstTimeSectionName        = "_time"

	// sstTimeBlockRows is the most rows a block holds, sstTimeBlockSpan
	// the most seqs it spans (lastSeq - firstSeq < sstTimeBlockSpan).
	// Frozen for section version 1: the reader checks both.
	sstTimeBlockRows = 128
	sstTimeBlockSpan = 2 * sstTimeBlockRows
	// sstTimeBlockGap: a row more than this many seqs after the previous
	// one starts a new block, so that isolated rows (Updates of old rows)
	// get blocks, and windows, of their own.
	sstTimeBlockGap     = 8
	sstTimeIndexVersion = 1
	sstTimeHeaderSize   = 8
	sstTimeBlockSize    = 32
)

// sstTimeBlock is one block of the _time index.
type sstTimeBlock struct {
	firstSeq, lastSeq int64 // seqs of the block's first and last row
	minTime, maxTime  int64 // smallest and largest _time (ns) of its rows
}

// sstTimeIndexBuilder accumulates the blocks while an sstWriter adds rows.
// Its memory is sstTimeBlockSize bytes per sstTimeBlockRows rows (0.25 B a
// row).
type sstTimeIndexBuilder struct {
	blocks []sstTimeBlock
	cur    sstTimeBlock
	n      int // rows in cur
}

// add accounts for one row (a kindSet entry), in ascending seq order.
func (b *sstTimeIndexBuilder) add(seq, timeNanos int64) {
	if b.n > 0 && (seq-b.cur.firstSeq >= sstTimeBlockSpan || seq-b.cur.lastSeq > sstTimeBlockGap) {
		b.blocks = append(b.blocks, b.cur)
		b.n = 0
	}
	if b.n == 0 {
		b.cur = sstTimeBlock{firstSeq: seq, minTime: timeNanos, maxTime: timeNanos}
	}
	b.cur.lastSeq = seq
	b.cur.minTime = min(b.cur.minTime, timeNanos)
	b.cur.maxTime = max(b.cur.maxTime, timeNanos)
	if b.n++; b.n == sstTimeBlockRows {
		b.blocks = append(b.blocks, b.cur)
		b.n = 0
	}
}

// encode closes the block being filled and returns the section payload.
//
// _time index section (kind 16, name "_time"; little-endian; its CRC32-C is
// in the section directory like every section's):
//
//	off  size  field
//	  0     1  section version (1)
//	  1     1  reserved, 0
//	  2     2  most rows per block (128)
//	  4     4  block count n: ceil(rows / 128) ≤ n ≤ rows (0 when the file
//	           holds only tombstones)
//	  8  32·n  per block (≤ 128 rows, last seq - first seq < 256, cut
//	           where seqs jump by more than 8), in seq order:
//	           8  seq of its first row
//	           8  seq of its last row
//	           8  smallest _time (ns) of its rows
//	           8  largest _time (ns) of its rows
func (b *sstTimeIndexBuilder) encode() []byte {
	if b.n > 0 {
		b.blocks = append(b.blocks, b.cur)
		b.n = 0
	}
	out := make([]byte, 0, sstTimeHeaderSize+sstTimeBlockSize*len(b.blocks))
	out = append(out, sstTimeIndexVersion, 0)
	out = binary.LittleEndian.AppendUint16(out, sstTimeBlockRows)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(b.blocks)))
	for _, blk := range b.blocks {
		out = binary.LittleEndian.AppendUint64(out, uint64(blk.firstSeq))
		out = binary.LittleEndian.AppendUint64(out, uint64(blk.lastSeq))
		out = binary.LittleEndian.AppendUint64(out, uint64(blk.minTime))
		out = binary.LittleEndian.AppendUint64(out, uint64(blk.maxTime))
	}
	return out
}

// sstTimeIndex is the decoded _time index of one SST.
type sstTimeIndex struct {
	blocks  []sstTimeBlock
	prefMax []int64 // prefMax[i] = max maxTime of blocks[0..i]
	sufMin  []int64 // sufMin[i] = min minTime of blocks[i..]
}

// seqWindow is an inclusive range of seqs [lo, hi].
type seqWindow struct{ lo, hi int64 }

// windows appends to out the seq windows of the blocks whose [minTime,
// maxTime] overlaps [lo, hi], adjacent blocks merged into one window unless
// a seq gap cut them (more than sstTimeBlockGap), in
// ascending order, and returns out and the number of blocks left out
// between the first and the last candidate. Every row of the file with a
// _time in [lo, hi] lies in one of the windows.
func (ti *sstTimeIndex) windows(lo, hi int64, out []seqWindow) ([]seqWindow, int) {
	n := len(ti.blocks)
	first := sort.Search(n, func(i int) bool { return ti.prefMax[i] >= lo })
	end := sort.Search(n, func(i int) bool { return ti.sufMin[i] > hi })
	skipped := 0
	prev := -2
	for i := first; i < end; i++ {
		blk := &ti.blocks[i]
		if blk.maxTime < lo || blk.minTime > hi {
			skipped++
			continue
		}
		if prev == i-1 && blk.firstSeq-out[len(out)-1].hi <= sstTimeBlockGap {
			out[len(out)-1].hi = blk.lastSeq
		} else {
			out = append(out, seqWindow{blk.firstSeq, blk.lastSeq})
		}
		prev = i
	}
	return out, skipped
}

// sstTimeIndexState is the lazily decoded _time index of a reader.
type sstTimeIndexState struct {
	once sync.Once
	ti   *sstTimeIndex // nil when the file has none (format version 2)
	err  error
}

// timeIndex returns the file's _time index, decoded and checked on the
// first call: nil (and no error) for a version-2 file, which has none. A
// damaged index is ErrCorrupted naming the file and the offset of the bad
// bytes; the caller fails the query rather than guess.
func (r *sstReader) timeIndex() (*sstTimeIndex, error) {
	if r.data == nil {
		return nil, r.closedError()
	}
	st := &r.timeIx
	st.once.Do(func() { st.ti, st.err = r.decodeTimeIndex() })
	return st.ti, st.err
}

// decodeTimeIndex reads and checks the _time index section: its CRC (by
// section), version, block count (the one the file's row count implies),
// and that the blocks are in seq order inside the file's seq range, each
// with first ≤ last seq and min ≤ max time inside the file's time range,
// and that together they reach the file's min and max time.
func (r *sstReader) decodeTimeIndex() (*sstTimeIndex, error) {
	if r.hdr.version < 3 {
		return nil, nil
	}
	b, ok, err := r.section(sstSectionTime, sstTimeSectionName)
	if err != nil {
		return nil, err
	}
	if !ok { // init refuses such a file; kept for safety
		return nil, r.corrupt(int64(r.hdr.dirOff), "format version %d file without a _time index", r.hdr.version)
	}
	base := r.timeSectionOff()
	p := &r.hdr.props
	rows := p.numEntries - p.numTombstones
	least := (rows + sstTimeBlockRows - 1) / sstTimeBlockRows
	if len(b) < sstTimeHeaderSize {
		return nil, r.corrupt(base, "_time index of %d bytes is too short", len(b))
	}
	c := byteCursor{b: b}
	if v := c.u8(); v != sstTimeIndexVersion {
		return nil, r.corrupt(base, "_time index version %d", v)
	}
	if c.u8() != 0 {
		return nil, r.corrupt(base+1, "_time index reserved byte not zero")
	}
	if v := c.u16(); v != sstTimeBlockRows {
		return nil, r.corrupt(base+2, "_time index of %d rows per block", v)
	}
	count := uint64(c.u32())
	if count < least || count > rows {
		return nil, r.corrupt(base+4, "_time index has %d blocks for the file's %d rows", count, rows)
	}
	if uint64(len(b)-sstTimeHeaderSize) != count*sstTimeBlockSize {
		return nil, r.corrupt(base, "_time index of %d bytes for %d blocks", len(b), count)
	}
	ti := &sstTimeIndex{
		blocks:  make([]sstTimeBlock, count),
		prefMax: make([]int64, count),
		sufMin:  make([]int64, count),
	}
	prevLast := p.minSeq - 1
	for i := range ti.blocks {
		at := base + int64(c.off)
		blk := sstTimeBlock{firstSeq: c.i64(), lastSeq: c.i64(), minTime: c.i64(), maxTime: c.i64()}
		switch {
		case blk.firstSeq <= prevLast || blk.lastSeq < blk.firstSeq || blk.lastSeq > p.maxSeq ||
			blk.lastSeq-blk.firstSeq >= sstTimeBlockSpan:
			return nil, r.corrupt(at, "_time index block %d: seqs [%d, %d] out of order or outside [%d, %d]", i, blk.firstSeq, blk.lastSeq, prevLast+1, p.maxSeq)
		case blk.minTime > blk.maxTime || blk.minTime < p.minTime || blk.maxTime > p.maxTime:
			return nil, r.corrupt(at, "_time index block %d: time range [%d, %d] invalid for the file's [%d, %d]", i, blk.minTime, blk.maxTime, p.minTime, p.maxTime)
		}
		prevLast = blk.lastSeq
		ti.blocks[i] = blk
		ti.prefMax[i] = blk.maxTime
		if i > 0 {
			ti.prefMax[i] = max(blk.maxTime, ti.prefMax[i-1])
		}
	}
	for i := len(ti.blocks) - 1; i >= 0; i-- {
		ti.sufMin[i] = ti.blocks[i].minTime
		if i+1 < len(ti.blocks) {
			ti.sufMin[i] = min(ti.sufMin[i], ti.sufMin[i+1])
		}
	}
	if count > 0 && (ti.prefMax[count-1] != p.maxTime || ti.sufMin[0] != p.minTime) {
		return nil, r.corrupt(base, "_time index spans [%d, %d], the file [%d, %d]", ti.sufMin[0], ti.prefMax[count-1], p.minTime, p.maxTime)
	}
	return ti, nil
}

// checkTimeIndex is verify's check of the _time index: the index must
// decode, and, when verify read the rows' times (haveTimes), be byte for
// byte the index rebuilt from the rows it walked.
func (r *sstReader) checkTimeIndex(rebuilt *sstTimeIndexBuilder, haveTimes bool) error {
	ti, err := r.timeIndex()
	if err != nil || ti == nil || !haveTimes {
		return err
	}
	want := rebuilt.encode()
	got, _, err := r.section(sstSectionTime, sstTimeSectionName)
	if err != nil {
		return err
	}
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) || got[i] != want[i] {
			return r.corrupt(r.timeSectionOff()+int64(i), "_time index disagrees with the rows")
		}
	}
	return nil
}

// timeSectionOff returns the file offset of the _time index section (0
// when there is none).
func (r *sstReader) timeSectionOff() int64 {
	for _, s := range r.secs {
		if s.kind == sstSectionTime && s.name == sstTimeSectionName {
			return int64(s.off)
		}
	}
	return 0
}
