package srdb

// SST files: the immutable, sorted-by-seq files that memtable flushes and
// compactions write. This file holds what the writer (sstable_writer.go),
// the reader (sstable_reader.go) and the iterator (sstable_iter.go) share:
// file names, the entry kinds, the file properties, the header, footer and
// section-directory layouts, the record layout and the checksum helper. The
// B+Tree node layout lives in btree.go. docs/FORMAT.md ("## SST",
// "## B+Tree node") describes every byte.
//
// File layout (format version 4, sstFormatVersion; version 3 is the same
// with the records of each leaf stored one by one instead of as data blocks
// (compression.go), and version 2 is version 3 without the _time index
// section; both are still read):
//
//	+----------------------+ 0
//	| header (256 B)       |  magic, version, props, tree root and height,
//	|                      |  section directory location, CRC
//	+----------------------+ sstHeaderSize
//	| data blocks and      |  the records of each leaf as data blocks
//	| B+Tree nodes,        |  (raw or compressed), then the leaf node itself;
//	| interleaved          |  every internal node follows its children
//	+----------------------+ treeEnd
//	| section payloads     |  the _time index (sstable_timeindex.go), then
//	|                      |  the opaque blobs added with addSection
//	+----------------------+ dirOff
//	| section directory    |  (kind, name, offset, length, CRC) per section
//	+----------------------+ fileSize - sstFooterSize
//	| footer (32 B)        |  copy of the header CRC, file size, magic
//	+----------------------+ fileSize
//
// The builder streams: records are written as rows arrive and every node is
// written once it is full (when the next entry for its level arrives), so
// memory stays at one 4 KiB node per tree level plus a 256 KiB write buffer
// whatever the file size, and the _time index blocks (32 B per 128 rows,
// written after the tree). The header is
// known only at the end; File has no WriteAt, so finish writes a zero
// placeholder first and, after the footer, reopens the temp file with
// OpenReadWrite, whose write position is 0, and overwrites the placeholder
// with the real header before the single fsync. The footer repeats the
// header's CRC so that the reader knows header and footer belong to the same
// build.
//
// These constants describe data already on disk: they are frozen for format
// versions 2 to 4. A change of layout needs a new version.

import (
	"encoding/binary"
	"strconv"
)

// entryKind says what an SST entry (and a memtable entry) holds.
type entryKind uint8

const (
	// kindSet is a row version: the value is an encoded ROW1 row.
	kindSet entryKind = 1
	// kindDelete is a tombstone: the row of that seq is deleted; the value
	// is empty.
	kindDelete entryKind = 2
)

// String returns "set", "delete" or "kind(N)".
func (k entryKind) String() string {
	switch k {
	case kindSet:
		return "set"
	case kindDelete:
		return "delete"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// sstProps describes one SST file. The writer returns it from finish, the
// reader from props; the lead keeps it in the MANIFEST so that reads skip
// files by seq and time range without opening them.
type sstProps struct {
	fileNum uint64
	size    uint64 // bytes of the whole file
	entryProps
}

// entryProps are the seq and _time ranges and the counts of the entries of
// one SST: the header stores them (sstProps) and the MANIFEST keeps a copy
// per file (fileMeta), so a read can skip a file without opening it.
type entryProps struct {
	minSeq        int64  // smallest seq of any entry
	maxSeq        int64  // largest seq of any entry
	minTime       int64  // smallest _time (ns) of the kindSet entries; 0 when !hasTime
	maxTime       int64  // largest _time (ns) of the kindSet entries; 0 when !hasTime
	hasTime       bool   // false when every entry is a tombstone
	numEntries    uint64 // entries, tombstones included
	numTombstones uint64 // kindDelete entries
	rawRowBytes   uint64 // sum of the value lengths (encoded rows before SST overhead)
}

// addEntry accounts for one more entry, in ascending seq order: a set entry
// with its row's _time and value length, or a tombstone (timeNanos and
// valueLen unused). The SST writer and the verifier both count through it.
func (p *entryProps) addEntry(seq int64, kind entryKind, timeNanos int64, valueLen int) {
	if p.numEntries == 0 {
		p.minSeq = seq
	}
	p.maxSeq = seq
	p.numEntries++
	if kind == kindDelete {
		p.numTombstones++
		return
	}
	if !p.hasTime || timeNanos < p.minTime {
		p.minTime = timeNanos
	}
	if !p.hasTime || timeNanos > p.maxTime {
		p.maxTime = timeNanos
	}
	p.hasTime = true
	p.rawRowBytes += uint64(valueLen)
}

// sstFormatVersion is the version of the file layout written in the header
// and the footer. Readers accept sstOldestFormatVersion up to it and refuse
// every other value.
//
// Version 3 added the _time index section (sstable_timeindex.go), which
// every version-3 file carries; a version-2 file has none, and a _time range
// query reads all of its rows whose file range overlaps (the plan of the
// version-2 engine).
//
// Version 4 stores the records of each leaf as data blocks before the leaf
// (raw or compressed, compression.go); the leaf entries' record offsets are
// offsets into the leaf's raw records. Versions 2 and 3 store the
// records one by one and the leaf entries hold their file offsets.
const (
	sstFormatVersion       = 4
	sstOldestFormatVersion = 2
)

// Header constants; the layout is drawn above sstHeader.encode.
const (
	sstHeaderSize     = 256
	sstHeaderMagic    = "SRDBSSTH"
	sstHeaderCRCOff   = sstHeaderSize - 4
	sstHeaderUsedSize = 136 // bytes before the reserved area
	sstFlagHasTime    = 1 << 0
	sstKnownFlags     = sstFlagHasTime
)

// Footer constants; the layout is drawn above encodeSSTFooter.
const (
	sstFooterSize  = 32
	sstFooterMagic = "SRDBSSTF"
)

// Data record constants; the layout is drawn above sstWriter.add.
const (
	sstRecordCRCSize = 4
	sstRecordMinSize = sstRecordCRCSize // a tombstone: the CRC alone
	sstMaxValueLen   = 1<<32 - 1        // values must fit the 32-bit length of the format
)

// Section directory constants; the layout is drawn above
// encodeSSTSectionDir.
const (
	sstDirHeaderSize     = 8
	sstDirEntryFixedSize = 2 + 1 + 8 + 8 + 4
	sstMaxSectionName    = 255
)

// sstHeader is the decoded header of an SST file.
type sstHeader struct {
	version  uint16 // format version read from the file; encode writes sstFormatVersion
	props    sstProps
	height   int
	treeEnd  uint64
	rootOff  uint64
	numNodes uint64
	dirOff   uint64
	dirLen   uint64
}

// encode returns the 256 header bytes, CRC included.
//
// Header (256 bytes at offset 0, little-endian):
//
//	off  size  field
//	  0     8  magic "SRDBSSTH"
//	  8     2  format version (4; 3 without data blocks, 2 without a _time index)
//	 10     2  header size (256)
//	 12     4  node size (4096)
//	 16     4  flags: bit 0 = hasTime; other bits 0
//	 20     2  tree height (1 = the root is a leaf)
//	 22     2  reserved, 0
//	 24     8  file number
//	 32     8  file size
//	 40     8  min seq
//	 48     8  max seq
//	 56     8  min _time (ns) of the kindSet entries
//	 64     8  max _time (ns) of the kindSet entries
//	 72     8  number of entries
//	 80     8  number of tombstones
//	 88     8  raw row bytes (sum of value lengths)
//	 96     8  treeEnd: end of the records-and-nodes region
//	104     8  root node offset
//	112     8  number of B+Tree nodes
//	120     8  section directory offset
//	128     8  section directory length
//	136   116  reserved, 0
//	252     4  CRC32-C of bytes [0, 252)
func (h *sstHeader) encode() []byte {
	b := make([]byte, 0, sstHeaderSize)
	b = append(b, sstHeaderMagic...)
	b = binary.LittleEndian.AppendUint16(b, sstFormatVersion)
	b = binary.LittleEndian.AppendUint16(b, sstHeaderSize)
	b = binary.LittleEndian.AppendUint32(b, sstNodeSize)
	var flags uint32
	if h.props.hasTime {
		flags |= sstFlagHasTime
	}
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.height))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, h.props.fileNum)
	b = binary.LittleEndian.AppendUint64(b, h.props.size)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.props.minSeq))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.props.maxSeq))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.props.minTime))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.props.maxTime))
	b = binary.LittleEndian.AppendUint64(b, h.props.numEntries)
	b = binary.LittleEndian.AppendUint64(b, h.props.numTombstones)
	b = binary.LittleEndian.AppendUint64(b, h.props.rawRowBytes)
	b = binary.LittleEndian.AppendUint64(b, h.treeEnd)
	b = binary.LittleEndian.AppendUint64(b, h.rootOff)
	b = binary.LittleEndian.AppendUint64(b, h.numNodes)
	b = binary.LittleEndian.AppendUint64(b, h.dirOff)
	b = binary.LittleEndian.AppendUint64(b, h.dirLen)
	b = b[:sstHeaderSize] // reserved bytes: make zeroed them
	binary.LittleEndian.PutUint32(b[sstHeaderCRCOff:], checksum(b[:sstHeaderCRCOff]))
	return b
}

// decodeSSTHeader parses and checks the header bytes b (at least
// sstHeaderSize long). It returns a message describing the first problem and
// the offset of the offending field, or "" when the header is sound in
// itself; the reader checks it against the file afterwards.
func decodeSSTHeader(b []byte) (h sstHeader, problem string, at int64) {
	if len(b) < sstHeaderSize {
		return h, "file shorter than the header", 0
	}
	b = b[:sstHeaderSize]
	c := byteCursor{b: b}
	if string(c.bytes(len(sstHeaderMagic))) != sstHeaderMagic {
		return h, "bad header magic", 0
	}
	h.version = c.u16()
	if h.version < sstOldestFormatVersion || h.version > sstFormatVersion {
		return h, "unknown format version " + strconv.Itoa(int(h.version)), int64(c.off - 2)
	}
	if got, want := binary.LittleEndian.Uint32(b[sstHeaderCRCOff:]), checksum(b[:sstHeaderCRCOff]); got != want {
		return h, "header checksum mismatch", sstHeaderCRCOff
	}
	if v := c.u16(); v != sstHeaderSize {
		return h, "unexpected header size " + strconv.Itoa(int(v)), int64(c.off - 2)
	}
	if v := c.u32(); v != sstNodeSize {
		return h, "unexpected node size " + strconv.Itoa(int(v)), int64(c.off - 4)
	}
	flags := c.u32()
	if flags&^sstKnownFlags != 0 {
		return h, "unknown header flags", int64(c.off - 4)
	}
	h.props.hasTime = flags&sstFlagHasTime != 0
	h.height = int(c.u16())
	if c.u16() != 0 {
		return h, "reserved header field not zero", int64(c.off - 2)
	}
	h.props.fileNum = c.u64()
	h.props.size = c.u64()
	h.props.minSeq = c.i64()
	h.props.maxSeq = c.i64()
	h.props.minTime = c.i64()
	h.props.maxTime = c.i64()
	h.props.numEntries = c.u64()
	h.props.numTombstones = c.u64()
	h.props.rawRowBytes = c.u64()
	h.treeEnd = c.u64()
	h.rootOff = c.u64()
	h.numNodes = c.u64()
	h.dirOff = c.u64()
	h.dirLen = c.u64()
	for i := sstHeaderUsedSize; i < sstHeaderCRCOff; i++ {
		if b[i] != 0 {
			return h, "reserved header bytes not zero", int64(i)
		}
	}
	return h, "", -1
}

// encodeSSTFooter returns the 32 footer bytes.
//
// Footer (32 bytes at fileSize-32, little-endian):
//
//	off  size  field
//	  0     4  CRC32-C of bytes [4, 32)
//	  4     4  the header's CRC (binds footer and header of one build)
//	  8     8  file size
//	 16     2  format version (the header's)
//	 18     6  reserved, 0
//	 24     8  magic "SRDBSSTF"
func encodeSSTFooter(headerCRC uint32, fileSize uint64) []byte {
	return encodeSSTFooterVersion(sstFormatVersion, headerCRC, fileSize)
}

// encodeSSTFooterVersion is encodeSSTFooter for a given format version (the
// tests reseal files of older versions with it).
func encodeSSTFooterVersion(version uint16, headerCRC uint32, fileSize uint64) []byte {
	b := make([]byte, 4, sstFooterSize)
	b = binary.LittleEndian.AppendUint32(b, headerCRC)
	b = binary.LittleEndian.AppendUint64(b, fileSize)
	b = binary.LittleEndian.AppendUint16(b, version)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, sstFooterMagic...)
	binary.LittleEndian.PutUint32(b, checksum(b[4:]))
	return b
}

// decodeSSTFooter checks the footer bytes b (exactly sstFooterSize long) and
// returns the header CRC, file size and format version it records, or a
// problem message and the offset inside the footer.
func decodeSSTFooter(b []byte) (headerCRC uint32, fileSize uint64, version uint16, problem string, at int64) {
	if len(b) != sstFooterSize {
		return 0, 0, 0, "footer has the wrong size", 0
	}
	if string(b[sstFooterSize-len(sstFooterMagic):]) != sstFooterMagic {
		return 0, 0, 0, "bad footer magic", sstFooterSize - int64(len(sstFooterMagic))
	}
	c := byteCursor{b: b}
	crc := c.u32()
	if crc != checksum(b[4:]) {
		return 0, 0, 0, "footer checksum mismatch", 0
	}
	headerCRC = c.u32()
	fileSize = c.u64()
	if version = c.u16(); version < sstOldestFormatVersion || version > sstFormatVersion {
		return 0, 0, 0, "unknown footer version " + strconv.Itoa(int(version)), int64(c.off - 2)
	}
	for _, x := range c.bytes(6) {
		if x != 0 {
			return 0, 0, 0, "reserved footer bytes not zero", int64(c.off - 6)
		}
	}
	return headerCRC, fileSize, version, "", -1
}

// sstSection is one entry of the section directory.
type sstSection struct {
	kind   uint16
	name   string
	off    uint64
	length uint64
	crc    uint32
}

// encodeSSTSectionDir returns the section directory bytes.
//
// Section directory (at dirOff, dirLen bytes, little-endian):
//
//	off  size  field
//	  0     4  CRC32-C of bytes [4, dirLen)
//	  4     4  number of sections
//	  8     …  per section, in file order:
//	           2  kind
//	           1  name length n (1–255)
//	           n  name
//	           8  payload offset
//	           8  payload length
//	           4  CRC32-C of the payload
//
// Payloads are contiguous and in directory order from treeEnd to dirOff.
func encodeSSTSectionDir(secs []sstSection) []byte {
	n := sstDirHeaderSize
	for _, s := range secs {
		n += sstDirEntryFixedSize + len(s.name)
	}
	b := make([]byte, 4, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(secs)))
	for _, s := range secs {
		b = binary.LittleEndian.AppendUint16(b, s.kind)
		b = append(b, byte(len(s.name)))
		b = append(b, s.name...)
		b = binary.LittleEndian.AppendUint64(b, s.off)
		b = binary.LittleEndian.AppendUint64(b, s.length)
		b = binary.LittleEndian.AppendUint32(b, s.crc)
	}
	binary.LittleEndian.PutUint32(b, checksum(b[4:]))
	return b
}

// decodeSSTSectionDir parses the section directory b, whose payloads must
// tile [payloadStart, payloadEnd) in order. It returns a problem message and
// the offset inside b of the offending field on failure.
func decodeSSTSectionDir(b []byte, payloadStart, payloadEnd uint64) (secs []sstSection, problem string, at int64) {
	if len(b) < sstDirHeaderSize {
		return nil, "section directory too short", 0
	}
	c := byteCursor{b: b}
	if c.u32() != checksum(b[4:]) {
		return nil, "section directory checksum mismatch", 0
	}
	count := uint64(c.u32())
	if count > uint64(len(b)-sstDirHeaderSize)/sstDirEntryFixedSize {
		return nil, "section count exceeds the directory", 4
	}
	secs = make([]sstSection, 0, count)
	next := payloadStart
	for i := uint64(0); i < count; i++ {
		start := int64(c.off)
		s := sstSection{kind: c.u16()}
		nameLen := int(c.u8())
		s.name = string(c.bytes(nameLen))
		s.off = c.u64()
		s.length = c.u64()
		s.crc = c.u32()
		if c.bad {
			return nil, "section entry runs past the directory", start
		}
		if nameLen == 0 {
			return nil, "empty section name", start
		}
		if s.off != next || s.length > payloadEnd-next {
			return nil, "section payload outside its region", start
		}
		for _, o := range secs {
			if o.kind == s.kind && o.name == s.name {
				return nil, "duplicate section", start
			}
		}
		next += s.length
		secs = append(secs, s)
	}
	if c.off != len(b) {
		return nil, "trailing bytes in the section directory", int64(c.off)
	}
	if next != payloadEnd {
		return nil, "section payloads do not fill their region", int64(c.off)
	}
	return secs, "", -1
}
