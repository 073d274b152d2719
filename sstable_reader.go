package srdb

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
)

// sstReader reads one SST file through a read-only memory mapping. Nodes and
// records are read in place: get and the iterators return values that alias
// the mapping, valid until close; a caller copies them before handing them
// to a user.
//
// Every node is checked (magic, version, level, count, first key) each time
// a lookup visits it, its CRC on the first visit of each mapping (nodeOK).
// The bytes of a record are covered by the CRC of its data block (format
// version 4: checked on the first use of a raw block in each mapping,
// blockOK, and before every decompression) and by its own CRC, which reads
// check only in versions 2 and 3, where no block CRC covers the record (in
// version 4 the block CRC covers the record's bytes, its own CRC included,
// and the leaf's CRC its seq and kind: a second pass over the same bytes
// would cost a scan ~15% of its time and catch nothing more). verify
// (Check) checks every CRC of every version each time. The descent is
// bounded by the height in the header and each step must land on a node of
// the next lower level, so a garbled or cyclic child pointer ends in
// ErrCorrupted, never in a loop.
//
// get, props, section, verify and newIter are safe for concurrent use; an
// sstIter is not. close must not run while any other method does (the lead
// unmaps a file only after the last reader that pinned its version is done).
type sstReader struct {
	name string // base name, for errors
	m    MappedFile
	data []byte // the mapping; nil after close

	hdr  sstHeader
	secs []sstSection
	// secOK[i] is set once section i's payload CRC has been checked.
	secOK []atomic.Bool
	// idxSecs[i] is the reader of index section i once opened
	// (indexSection; its header checked), shared by every later lookup.
	idxSecs []atomic.Pointer[idxSectionReader]
	// nodeOK remembers the nodes whose CRC has been checked, so a lookup
	// checks each node's CRC once per mapping instead of at every visit
	// (the CRC of a 4 KiB node was ~30% of a point lookup). Nodes are 4 KiB
	// and never overlap, so at most one node starts in each 4 KiB slot of
	// the file: nodeOK[off/4096] holds off+1 once the node at off passed.
	// The exact offset is stored, so a damaged child pointer into the same
	// slot is still checked. The mapping is read-only and the file
	// immutable; verify (Check) checks every CRC again regardless.
	nodeOK []atomic.Uint64
	// timeIx is the _time index, decoded on first use (sstable_timeindex.go).
	timeIx sstTimeIndexState
	// blockOK is nodeOK for the data blocks of format version 4: slot
	// leafOff/4096 holds leafOff+1 once the CRC of the block before the
	// leaf at leafOff passed.
	blockOK []atomic.Uint64
	// blocks caches decompressed blocks (the table's; nil: no cache) and
	// maxBlockRaw is the largest raw length a compressed block may declare
	// (blockRawLimit of the table's MaxRowSize). The table cache sets both
	// right after openSST, before the reader is shared.
	blocks      *blockCache
	maxBlockRaw uint64
}

// sstBlockFormatVersion is the first format version that stores the records
// of each leaf as a data block (compression.go).
const sstBlockFormatVersion = 4

// openSST maps <dir>/<fileNum>.sst and checks its header, footer, region
// bounds, section directory and root node. Any problem is ErrCorrupted
// naming the file and offset; a missing file is an I/O error.
func openSST(fs FS, dir string, fileNum uint64) (*sstReader, error) {
	name := sstName(fileNum)
	path := filepath.Join(dir, name)
	m, err := fs.Map(path)
	if err != nil {
		return nil, ioError("map", path, err)
	}
	r := &sstReader{name: name, m: m, data: m.Bytes(), maxBlockRaw: blockRawLimit(DefaultMaxRowSize)}
	if err := r.init(fileNum); err != nil {
		_ = m.Close()
		return nil, err
	}
	return r, nil
}

// corrupt returns an ErrCorrupted error for this file at offset off.
func (r *sstReader) corrupt(off int64, format string, args ...any) error {
	return corruptionError(r.name, off, format, args...)
}

// init validates the file layout (see sstable.go).
func (r *sstReader) init(fileNum uint64) error {
	size := uint64(len(r.data))
	const minSize = sstHeaderSize + sstRecordMinSize + sstNodeSize + sstDirHeaderSize + sstFooterSize
	if size < minSize {
		return r.corrupt(int64(size), "file of %d bytes is too short", size)
	}
	h, problem, at := decodeSSTHeader(r.data)
	if problem != "" {
		return r.corrupt(at, "%s", problem)
	}
	footerOff := size - sstFooterSize
	hcrc, fsize, fversion, problem, at := decodeSSTFooter(r.data[footerOff:])
	if problem != "" {
		return r.corrupt(int64(footerOff)+at, "%s", problem)
	}
	if fversion != h.version {
		return r.corrupt(int64(footerOff)+16, "footer of format version %d, header of %d", fversion, h.version)
	}
	if hcrc != binary.LittleEndian.Uint32(r.data[sstHeaderCRCOff:]) {
		return r.corrupt(int64(footerOff), "footer belongs to another header")
	}
	if fsize != size || h.props.size != size {
		return r.corrupt(int64(footerOff), "file is %d bytes, header and footer say %d and %d", size, h.props.size, fsize)
	}
	if h.props.fileNum != fileNum {
		return r.corrupt(0, "header names file number %d", h.props.fileNum)
	}
	p := &h.props
	switch {
	case h.height < 1 || h.height > sstMaxHeight:
		return r.corrupt(0, "tree height %d out of range", h.height)
	case h.treeEnd < sstHeaderSize+sstRecordMinSize+sstNodeSize || h.treeEnd > footerOff:
		return r.corrupt(0, "tree region end %d out of range", h.treeEnd)
	case h.dirOff < h.treeEnd || h.dirOff > footerOff || h.dirLen != footerOff-h.dirOff:
		return r.corrupt(0, "section directory [%d,+%d) out of range", h.dirOff, h.dirLen)
	case h.rootOff < sstHeaderSize || h.rootOff > h.treeEnd-sstNodeSize:
		return r.corrupt(0, "root offset %d out of range", h.rootOff)
	case h.numNodes < 1 || h.numNodes > (h.treeEnd-sstHeaderSize)/sstNodeSize:
		return r.corrupt(0, "node count %d out of range", h.numNodes)
	case p.numEntries < 1 || p.numEntries > (h.treeEnd-sstHeaderSize)/sstRecordMinSize || p.numEntries > h.numNodes*leafCap:
		return r.corrupt(0, "entry count %d out of range", p.numEntries)
	case p.numTombstones > p.numEntries:
		return r.corrupt(0, "%d tombstones among %d entries", p.numTombstones, p.numEntries)
	case p.minSeq < 1 || p.maxSeq < p.minSeq || uint64(p.maxSeq-p.minSeq) < p.numEntries-1:
		return r.corrupt(0, "seq range [%d,%d] invalid for %d entries", p.minSeq, p.maxSeq, p.numEntries)
	case p.hasTime != (p.numTombstones < p.numEntries):
		return r.corrupt(0, "time flag disagrees with the tombstone count")
	case p.hasTime && p.minTime > p.maxTime, !p.hasTime && (p.minTime != 0 || p.maxTime != 0):
		return r.corrupt(0, "time range [%d,%d] invalid", p.minTime, p.maxTime)
	case h.version < sstBlockFormatVersion && p.rawRowBytes > h.treeEnd,
		p.rawRowBytes/sstMaxBlockValue > p.numEntries:
		return r.corrupt(0, "raw row bytes %d exceed the file", p.rawRowBytes)
	}
	r.hdr = h
	secs, problem, at := decodeSSTSectionDir(r.data[h.dirOff:footerOff], h.treeEnd, h.dirOff)
	if problem != "" {
		return r.corrupt(int64(h.dirOff)+at, "%s", problem)
	}
	r.secs = secs
	if h.version >= 3 && r.timeSectionOff() == 0 {
		return r.corrupt(int64(h.dirOff), "format version %d file without a _time index section", h.version)
	}
	r.secOK = make([]atomic.Bool, len(secs))
	r.idxSecs = make([]atomic.Pointer[idxSectionReader], len(secs))
	r.nodeOK = make([]atomic.Uint64, h.treeEnd/sstNodeSize+1)
	if h.version >= sstBlockFormatVersion {
		r.blockOK = make([]atomic.Uint64, h.treeEnd/sstNodeSize+1)
	}
	if _, _, err := r.node(h.rootOff, h.height-1, p.minSeq); err != nil {
		return err
	}
	return nil
}

// props returns the file's properties.
func (r *sstReader) props() sstProps { return r.hdr.props }

// close unmaps the file. Values returned by get and iterators become
// invalid. A second close returns nil.
func (r *sstReader) close() error {
	if r.data == nil {
		return nil
	}
	r.data = nil
	if err := r.m.Close(); err != nil {
		return ioError("unmap", r.name, err)
	}
	return nil
}

// closedError is returned by reads after close.
func (r *sstReader) closedError() error {
	e := newError(CodeClosed, "sst reader closed")
	e.File = r.name
	return e
}

// node returns the node at off after checking that it lies in the tree
// region, its header and CRC, that it is at the expected level and that its
// first key is firstKey (the separator the caller followed, or minSeq for
// the root). The returned slice aliases the mapping.
func (r *sstReader) node(off uint64, level int, firstKey int64) ([]byte, int, error) {
	return r.checkedNode(off, level, firstKey, false)
}

// checkedNode is node; with alwaysCRC it checks the node's CRC even when a
// previous visit did (verify).
func (r *sstReader) checkedNode(off uint64, level int, firstKey int64, alwaysCRC bool) ([]byte, int, error) {
	if r.data == nil {
		return nil, 0, r.closedError()
	}
	if off < sstHeaderSize || off > r.hdr.treeEnd-sstNodeSize {
		return nil, 0, r.corrupt(int64(off), "node offset outside the tree region")
	}
	n := r.data[off : off+sstNodeSize : off+sstNodeSize]
	slot := &r.nodeOK[off/sstNodeSize]
	crcKnown := !alwaysCRC && slot.Load() == off+1
	count, problem := btreeCheckNode(n, level, !crcKnown)
	if problem != "" {
		return nil, 0, r.corrupt(int64(off), "level %d: %s", level, problem)
	}
	if !crcKnown && level == 0 && r.hdr.version >= sstBlockFormatVersion {
		if i, problem := leafRecordsProblem(n, count); problem != "" {
			return nil, 0, r.corrupt(int64(off), "entry %d: %s", i, problem)
		}
	}
	if !crcKnown {
		slot.Store(off + 1)
	}
	if k := nodeFirstKey(n, level); k != firstKey {
		return nil, 0, r.corrupt(int64(off), "node starts at seq %d, its parent says %d", k, firstKey)
	}
	return n, count, nil
}

// leafRecordsProblem checks the entries of a format-4 leaf (count entries)
// against one another: seqs strictly increasing, known kinds, and records
// that tile the leaf's records from offset 0, each at least a record's
// minimum size (a tombstone exactly that) before the next. It returns the
// first offending entry and a problem message, or "".
//
// checkedNode runs it with the leaf's CRC check (once per mapping, and in
// verify). A read of format 4 does not check a record's own CRC
// (recordSpan), which also covered the record's extent; in a leaf forged
// with a valid CRC, an entry whose record offset was moved onto the next
// record made the record before it span two records, and only that CRC
// noticed. This check refuses such a leaf (TestSSTForgedTree). A record's
// end against its block is checked on every read.
func leafRecordsProblem(n []byte, count int) (int, string) {
	if leafRecordOff(n, 0) != 0 {
		return 0, "first record not at offset 0 of the leaf's records"
	}
	for i := 0; i < count; i++ {
		if k := leafKind(n, i); k != kindSet && k != kindDelete {
			return i, "unknown kind " + strconv.Itoa(int(k))
		}
		if i+1 == count {
			break
		}
		if leafSeq(n, i+1) <= leafSeq(n, i) {
			return i + 1, "seqs out of order"
		}
		size := leafRecordOff(n, i+1) - leafRecordOff(n, i) // wraps when out of order
		if size < sstRecordMinSize || size > sstRecordCRCSize+sstMaxValueLen || (leafKind(n, i) == kindDelete && size != sstRecordCRCSize) {
			return i, "record of " + strconv.FormatUint(size, 10) + " bytes does not fit its kind"
		}
	}
	return 0, ""
}

// record returns the value of entry i of leaf n (at leafOff) after checking
// the record's bounds and kind, and its CRC where a read needs it
// (recordSpan). The value aliases the mapping, or a decompressed block that
// is never written again.
func (r *sstReader) record(n []byte, leafOff uint64, i int) ([]byte, error) {
	var lb sstLeafBlock
	if r.hdr.version >= sstBlockFormatVersion {
		var err error
		if lb, err = r.blockFor(leafOff, leafRecordOff(n, i), false); err != nil {
			return nil, err
		}
	}
	v, _, err := r.recordSpan(n, leafOff, i, lb, false)
	return v, err
}

// sstLeafBlock is one data block of a leaf (format version ≥ 4) as a
// reader uses it.
type sstLeafBlock struct {
	raw     []byte // the block's records, raw
	base    uint64 // their offset in the leaf's records
	leafEnd uint64 // where the leaf's records end (its last block's end)
}

// contains reports whether the leaf's record offset off lies in the block.
func (lb *sstLeafBlock) contains(off uint64) bool {
	return lb.raw != nil && off >= lb.base && off-lb.base < uint64(len(lb.raw))
}

// blockFor returns the data block of the leaf at leafOff that holds record
// offset off, walking the leaf's block trailers back from the leaf (a leaf
// has a few blocks; each trailer names its raw offset). The block's raw
// bytes are its stored bytes for a raw block, which alias the mapping, or
// its decompressed bytes, from the block cache when it has them. With fresh
// (verify) every CRC is checked and nothing is cached.
func (r *sstReader) blockFor(leafOff, off uint64, fresh bool) (sstLeafBlock, error) {
	var lb sstLeafBlock
	if r.data == nil {
		return lb, r.closedError()
	}
	if leafOff > r.hdr.treeEnd || leafOff < sstHeaderSize {
		return lb, r.corrupt(int64(leafOff), "leaf offset outside the tree region")
	}
	end := leafOff
	var next uint64 // raw offset of the block after this one
	for n := 0; ; n++ {
		info, problem, at := parseSSTBlock(r.data[:end], sstHeaderSize, false)
		if problem != "" {
			return lb, r.corrupt(at, "block of the leaf at %d: %s", leafOff, problem)
		}
		if n == 0 {
			lb.leafEnd = info.rawEnd()
		} else if info.rawEnd() != next || n > leafCap {
			return lb, r.corrupt(int64(info.start), "block of the leaf at %d ends at raw offset %d, the next starts at %d", leafOff, info.rawEnd(), next)
		}
		if info.rawOff <= off {
			raw, err := r.blockRaw(info, end, leafOff, fresh)
			if err != nil {
				return lb, err
			}
			lb.raw, lb.base = raw, info.rawOff
			return lb, nil
		}
		next, end = info.rawOff, info.start
	}
}

// blockRaw returns the raw bytes of the block info whose trailer ends at
// end (see blockFor), checking its CRC before its first use (raw blocks:
// once per mapping) and before every decompression.
func (r *sstReader) blockRaw(info sstBlockInfo, end, leafOff uint64, fresh bool) ([]byte, error) {
	key := blockKey{fileNum: r.hdr.props.fileNum, off: info.start}
	if info.codec != blockCodecRaw && !fresh {
		if raw, ok := r.blocks.get(key); ok {
			return raw, nil
		}
	}
	// At most one slot per 4 KiB holds a checked raw block (by its end);
	// two blocks ending in one slot only cost an extra check.
	slot := &r.blockOK[end/sstNodeSize]
	if fresh || info.codec != blockCodecRaw || slot.Load() != end+1 {
		if !sstBlockCRCOK(r.data[:end], info) {
			return nil, r.corrupt(int64(info.start), "block of the leaf at %d: block checksum mismatch", leafOff)
		}
		if info.codec == blockCodecRaw {
			slot.Store(end + 1)
		}
	}
	raw, problem := inflateSSTBlock(info, r.maxBlockRaw)
	if problem != "" {
		return nil, r.corrupt(int64(info.start), "block of the leaf at %d: %s", leafOff, problem)
	}
	if info.codec != blockCodecRaw && !fresh {
		r.blocks.put(key, raw)
	}
	return raw, nil
}

// recordSpan is record that also returns where the record ends: a file
// offset in versions 2 and 3, where the records lie in the tree region, an
// offset in the leaf's records from version 4 on, where lb is the leaf's
// block that holds the record.
//
// The record's own CRC is checked in versions 2 and 3, and with fresh
// (verify) in every version. A read of version 4 leaves it out: lb came
// from blockFor, which checked the CRC of the block over the same bytes
// (the record's CRC and value) in this mapping (raw blocks) or before
// decompressing it, and the leaf n passed its node CRC, which covers the
// seq and kind the record CRC also covers
// (TestSSTRecordFlipInBlockCaughtWithoutRecordCRC).
func (r *sstReader) recordSpan(n []byte, leafOff uint64, i int, lb sstLeafBlock, fresh bool) ([]byte, uint64, error) {
	if r.data == nil {
		return nil, 0, r.closedError()
	}
	if !fresh && r.hdr.version >= sstBlockFormatVersion {
		return r.blockRecord(n, int(binary.LittleEndian.Uint16(n[nodeCountOff:])), leafOff, i, &lb)
	}
	// The records lie in area, which starts at offset lo and ends at hi: the
	// tree region before the leaf (versions 2 and 3) or the leaf's block.
	// Errors name the record's file offset, or the leaf's for a record in
	// a block.
	area, lo, hi, last := r.data, uint64(0), leafOff, leafOff
	inBlock := r.hdr.version >= sstBlockFormatVersion
	if inBlock {
		area, lo, hi, last = lb.raw, lb.base, lb.base+uint64(len(lb.raw)), lb.leafEnd
	}
	at := func(off uint64) int64 {
		if inBlock {
			return int64(leafOff)
		}
		return int64(off)
	}
	off := leafRecordOff(n, i)
	kind := leafKind(n, i)
	// Record i ends where record i+1 starts; the leaf's last one where its
	// leaf starts (versions 2 and 3: the records of a leaf are written
	// right before it) or where the leaf's records end.
	stop := last
	if i+1 < int(binary.LittleEndian.Uint16(n[nodeCountOff:])) {
		stop = leafRecordOff(n, i+1)
	}
	floor := lo
	if !inBlock {
		floor = sstHeaderSize
	}
	if off < floor || stop > hi || off > stop || stop-off < sstRecordMinSize {
		return nil, 0, r.corrupt(int64(leafOff), "entry %d: record [%d, %d) outside [%d, %d) of the leaf at %d", i, off, stop, floor, hi, leafOff)
	}
	if kind != kindSet && kind != kindDelete {
		return nil, 0, r.corrupt(int64(leafOff), "entry %d: unknown kind %d", i, kind)
	}
	start := off + sstRecordCRCSize
	if stop-start > sstMaxValueLen {
		return nil, 0, r.corrupt(at(off), "record of %d bytes is too long", stop-start)
	}
	if kind == kindDelete && stop != start {
		return nil, 0, r.corrupt(at(off), "tombstone with a value")
	}
	if fresh || !inBlock {
		crc := crc32.Update(0, crcTable, leafSeqBytes(n, i))
		crc = crc32.Update(crc, crcTable, leafKindBytes(n, i))
		crc = crc32.Update(crc, crcTable, area[start-lo:stop-lo])
		if crc != binary.LittleEndian.Uint32(area[off-lo:]) {
			return nil, 0, r.corrupt(at(off), "record checksum mismatch (seq %d)", leafSeq(n, i))
		}
	}
	return area[start-lo : stop-lo : stop-lo], stop, nil
}

// blockRecord is recordSpan for a read of format 4 (count is the number of
// entries of n). The leaf n passed leafRecordsProblem with its CRC in this
// mapping (checkedNode), so its entries' kinds are known and the records
// before its last one have sizes that fit their kinds; left to check are
// that the record lies in lb and that the last record's size fits its kind.
func (r *sstReader) blockRecord(n []byte, count int, leafOff uint64, i int, lb *sstLeafBlock) ([]byte, uint64, error) {
	off, stop := leafRecordOff(n, i), lb.leafEnd
	if i+1 < count {
		stop = leafRecordOff(n, i+1)
	}
	end := lb.base + uint64(len(lb.raw))
	if off < lb.base || stop > end || stop < off+sstRecordMinSize {
		return nil, 0, r.corrupt(int64(leafOff), "entry %d: record [%d, %d) outside [%d, %d) of the leaf at %d", i, off, stop, lb.base, end, leafOff)
	}
	if size := stop - off; size > sstRecordCRCSize+sstMaxValueLen || (leafKind(n, i) == kindDelete && size != sstRecordCRCSize) {
		return nil, 0, r.corrupt(int64(leafOff), "entry %d: record of %d bytes does not fit its kind", i, size)
	}
	return lb.raw[off+sstRecordCRCSize-lb.base : stop-lb.base : stop-lb.base], stop, nil
}

// get looks seq up. found is false when the file has no entry for seq; a
// tombstone is found with kind kindDelete and an empty value. value aliases
// the mapping (valid until close). It visits height nodes, searches each in
// place and allocates nothing unless it returns an error.
func (r *sstReader) get(seq int64) (kind entryKind, value []byte, found bool, err error) {
	if r.data == nil {
		return 0, nil, false, r.closedError()
	}
	if seq < r.hdr.props.minSeq || seq > r.hdr.props.maxSeq {
		return 0, nil, false, nil
	}
	off, key := r.hdr.rootOff, r.hdr.props.minSeq
	for level := r.hdr.height - 1; level > 0; level-- {
		n, count, err := r.node(off, level, key)
		if err != nil {
			return 0, nil, false, err
		}
		// key ≤ seq and the node starts with key, so i ≥ 0.
		i := max(innerSearchLE(n, count, seq), 0)
		off, key = innerChild(n, i), innerKey(n, i)
	}
	n, count, err := r.node(off, 0, key)
	if err != nil {
		return 0, nil, false, err
	}
	i := leafSearchGE(n, count, seq)
	if i == count || leafSeq(n, i) != seq {
		return 0, nil, false, nil
	}
	v, err := r.record(n, off, i)
	if err != nil {
		return 0, nil, false, err
	}
	return leafKind(n, i), v, true, nil
}

// section returns the payload of section (kind, name), aliasing the mapping.
// Its CRC is checked on the first call (and on later calls until a check
// succeeds).
func (r *sstReader) section(kind uint16, name string) ([]byte, bool, error) {
	if r.data == nil {
		return nil, false, r.closedError()
	}
	for i := range r.secs {
		s := &r.secs[i]
		if s.kind != kind || s.name != name {
			continue
		}
		b := r.data[s.off : s.off+s.length : s.off+s.length]
		if !r.secOK[i].Load() {
			if checksum(b) != s.crc {
				return nil, false, r.corrupt(int64(s.off), "section %d/%q checksum mismatch", kind, name)
			}
			r.secOK[i].Store(true)
		}
		return b, true, nil
	}
	return nil, false, nil
}

// verify checks the whole file for Database.Check: every node and record
// CRC, levels, separators equal to the first key of their child, seqs
// strictly increasing across the tree, the header's counts, seq and time
// ranges, that records and nodes tile the tree region exactly (records of a
// leaf before the leaf, children before their parent), every section
// CRC, and the _time index (equal to the one the rows give). It visits
// each node once and allocates nothing per node.
//
// The SST layer does not interpret values, so the times of the rows come
// from timeOf (the table passes storedRowTime, which reads the ROW1 header);
// with a nil timeOf the header's time range is taken as it is.
func (r *sstReader) verify(timeOf func(seq int64, value []byte) (int64, error)) error {
	if r.data == nil {
		return r.closedError()
	}
	v := sstVerifier{r: r, lastLeafEnd: sstHeaderSize, recEnd: sstHeaderSize, timeOf: timeOf}
	if err := v.walk(r.hdr.rootOff, r.hdr.height-1, r.hdr.props.minSeq); err != nil {
		return err
	}
	p := r.hdr.props
	got := sstProps{fileNum: p.fileNum, size: p.size, entryProps: v.seen}
	if timeOf == nil && v.seen.hasTime {
		got.minTime, got.maxTime = p.minTime, p.maxTime
	}
	if got != p {
		return r.corrupt(0, "header properties %+v disagree with the tree %+v", p, got)
	}
	if v.nodes != r.hdr.numNodes {
		return r.corrupt(0, "header counts %d nodes, tree has %d", r.hdr.numNodes, v.nodes)
	}
	if v.bytes != r.hdr.treeEnd-sstHeaderSize {
		return r.corrupt(int64(sstHeaderSize), "records and nodes cover %d bytes of a %d-byte region", v.bytes, r.hdr.treeEnd-sstHeaderSize)
	}
	for i := range r.secs {
		if _, _, err := r.section(r.secs[i].kind, r.secs[i].name); err != nil {
			return err
		}
	}
	return r.checkTimeIndex(&v.timeB, timeOf != nil)
}

// leafBlocks returns the data blocks of the leaf at leafOff in raw order,
// each decompressed afresh after its CRC check, and the file offset where
// the first one starts. The first block starts at raw offset 0.
func (v *sstVerifier) leafBlocks(leafOff uint64) (uint64, []sstLeafBlock, error) {
	r := v.r
	var out []sstLeafBlock
	end := leafOff
	for {
		info, problem, at := parseSSTBlock(r.data[:end], sstHeaderSize, false)
		if problem != "" {
			return 0, nil, r.corrupt(at, "block of the leaf at %d: %s", leafOff, problem)
		}
		if len(out) > 0 && info.rawEnd() != out[len(out)-1].base || len(out) > leafCap {
			return 0, nil, r.corrupt(int64(info.start), "block of the leaf at %d out of raw order", leafOff)
		}
		raw, err := r.blockRaw(info, end, leafOff, true)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, sstLeafBlock{raw: raw, base: info.rawOff})
		if info.rawOff == 0 {
			slices.Reverse(out)
			for i := range out {
				out[i].leafEnd = out[len(out)-1].base + uint64(len(out[len(out)-1].raw))
			}
			return info.start, out, nil
		}
		end = info.start
	}
}

// sstVerifier carries the running state of verify's depth-first walk.
type sstVerifier struct {
	r           *sstReader
	nodes       uint64
	bytes       uint64                                       // bytes of the nodes and records seen
	seen        entryProps                                   // the entries walked so far; seen.maxSeq is the last seq (0 before the first)
	timeOf      func(seq int64, value []byte) (int64, error) // a row's _time; nil: not checked
	recEnd      uint64                                       // end of the last record seen
	lastLeafEnd uint64                                       // end of the last leaf seen
	timeB       sstTimeIndexBuilder                          // the _time index of the rows walked (when timeOf is set)
}

// walk checks the subtree of the node at off. The recursion depth is the
// tree height (≤ sstMaxHeight), and the node budget from the header stops a
// walk over a tree whose nodes are shared.
func (v *sstVerifier) walk(off uint64, level int, firstKey int64) error {
	r := v.r
	n, count, err := r.checkedNode(off, level, firstKey, true)
	if err != nil {
		return err
	}
	v.nodes++
	if v.nodes > r.hdr.numNodes {
		return r.corrupt(int64(off), "tree has more than the %d nodes of the header", r.hdr.numNodes)
	}
	v.bytes += sstNodeSize
	if level > 0 {
		for i := 0; i < count; i++ {
			if i > 0 && innerKey(n, i) <= innerKey(n, i-1) {
				return r.corrupt(int64(off), "separators out of order at entry %d", i)
			}
			child := innerChild(n, i)
			if child >= off {
				return r.corrupt(int64(off), "child %d at %d is not before its parent", i, child)
			}
			if err := v.walk(child, level-1, innerKey(n, i)); err != nil {
				return err
			}
		}
		return nil
	}
	// From version 4 on the records are in the leaf's data blocks, which
	// lie between the previous leaf and this one; the records tile the
	// leaf's records from offset 0 (each one ends where the next starts,
	// in the same block; checkedNode checked the offsets against one
	// another, leafRecordsProblem, and recordSpan checks each against its
	// block).
	var blocks []sstLeafBlock
	inBlock := r.hdr.version >= sstBlockFormatVersion
	if inBlock {
		first, bs, err := v.leafBlocks(off)
		if err != nil {
			return err
		}
		if first < v.lastLeafEnd {
			return r.corrupt(int64(first), "blocks of the leaf at %d overlap the previous leaf", off)
		}
		v.bytes += off - first
		blocks = bs
	}
	for i := 0; i < count; i++ {
		seq := leafSeq(n, i)
		if seq <= v.seen.maxSeq {
			return r.corrupt(int64(off), "seq %d after %d", seq, v.seen.maxSeq)
		}
		var lb sstLeafBlock
		if inBlock {
			for len(blocks) > 1 && !blocks[0].contains(leafRecordOff(n, i)) {
				blocks = blocks[1:]
			}
			lb = blocks[0]
		}
		val, stop, err := r.recordSpan(n, off, i, lb, true)
		if err != nil {
			return err
		}
		if !inBlock {
			recOff := leafRecordOff(n, i)
			if recOff < v.recEnd || recOff < v.lastLeafEnd || stop > off {
				return r.corrupt(int64(recOff), "record of seq %d overlaps another record or node", seq)
			}
			v.recEnd = stop
			v.bytes += stop - recOff
		}
		kind := leafKind(n, i)
		var t int64
		if kind != kindDelete && v.timeOf != nil {
			if t, err = v.timeOf(seq, val); err != nil {
				at := int64(stop) - int64(len(val))
				if inBlock {
					at = int64(off) // the row is inside the leaf's block
				}
				return locateRowError(err, r.name, at)
			}
		}
		v.seen.addEntry(seq, kind, t, len(val))
		if kind == kindSet {
			v.timeB.add(seq, t)
		}
	}
	if off < v.lastLeafEnd {
		return r.corrupt(int64(off), "leaf before the previous leaf")
	}
	v.lastLeafEnd = off + sstNodeSize
	return nil
}
