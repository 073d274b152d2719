package srdb

// The B+Tree of an SST file: fixed 4 KiB nodes keyed by seq. Leaves hold one
// entry per row (seq, record offset, kind); internal nodes hold one
// (separator, child offset) pair per child, where the separator is the
// smallest seq of the child's subtree. The tree is built bottom-up from the
// sorted stream of rows (btreeNodeBuilder, used by sstWriter) and read in
// place from the mapped file (the accessors below, used by sstReader and
// sstIter): no node is ever copied or decoded into a Go structure.
//
// Node layout (sstNodeSize bytes, little-endian):
//
//	off  size  field
//	  0     4  CRC32-C of bytes [4, 4096)
//	  4     2  magic 0x4E42 ("BN")
//	  6     1  node format version (2)
//	  7     1  level: 0 = leaf, height-1 = root
//	  8     2  entry count n (1 ≤ n ≤ capacity of the level)
//	 10     …  n entries, then zero bytes up to 4096
//
// Leaf entry (15 bytes):                Internal entry (14 bytes):
//
//	off  size  field                      off  size  field
//	  0     8  seq (int64)                  0     8  separator seq (int64)
//	  8     6  record offset (uint48)       8     6  child node offset (uint48)
//	 14     1  kind (1 set, 2 delete)
//
// The record offset is an offset into the leaf's raw records (its data
// blocks, decompressed) in SST format version 4 (compression.go), a file
// offset in versions 2 and 3.
//
// The row's _time is not in the leaf: it is in the row (ROW1 header); the
// file's time range is in the SST header, which is what queries skip files
// by, and the _time index section (sstable_timeindex.go) has the time range
// of each block of 128 rows, which is what they skip rows inside a file by.
//
// Entries are sorted by strictly increasing seq; the first separator of a
// node equals the first seq of its subtree, so a reader checks on every
// descent that the child it lands on starts with the separator it followed.
//
// These constants describe data already on disk: they are frozen for node
// format version 2.

import "encoding/binary"

const (
	sstNodeSize = 4096

	nodeCRCOff     = 0
	nodeMagicOff   = 4
	nodeVersionOff = 6
	nodeLevelOff   = 7
	nodeCountOff   = 8
	nodeHeaderSize = 10

	nodeMagic   = 0x4E42
	nodeVersion = 2 // version 1 leaves also held the row's _time (23-byte entries)

	leafSeqOff    = 0
	leafRecOff    = 8
	leafKindOff   = 14
	leafEntrySize = 15
	leafCap       = (sstNodeSize - nodeHeaderSize) / leafEntrySize // 272

	innerKeyOff    = 0
	innerChildOff  = 8
	innerEntrySize = 14
	innerCap       = (sstNodeSize - nodeHeaderSize) / innerEntrySize // 291

	// sstMaxOffset is the largest offset a uint48 field holds.
	sstMaxOffset = 1<<48 - 1
	// sstMaxHeight bounds the tree height. A tree of height 8 holds more
	// than 272·291⁷ entries, far beyond any file; the bound lets iterators
	// keep their descent stack in a fixed array.
	sstMaxHeight = 8
)

// btreeNodeCapacity returns the number of entries a node of the level holds.
func btreeNodeCapacity(level int) int {
	if level == 0 {
		return leafCap
	}
	return innerCap
}

// btreeNodeBuilder accumulates the entries of the node being filled at one
// level while sstWriter builds the tree bottom-up.
type btreeNodeBuilder struct {
	buf      [sstNodeSize]byte
	count    int    // entries in buf
	firstKey int64  // seq of entry 0; the separator of this node in its parent
	emitted  uint64 // nodes of this level already written
}

// full reports whether the node of the given level has no room left.
func (nb *btreeNodeBuilder) full(level int) bool { return nb.count >= btreeNodeCapacity(level) }

// addLeaf appends a leaf entry. The caller checks full first.
func (nb *btreeNodeBuilder) addLeaf(seq int64, recOff uint64, kind entryKind) {
	if nb.count == 0 {
		nb.firstKey = seq
	}
	e := nb.buf[nodeHeaderSize+nb.count*leafEntrySize:]
	binary.LittleEndian.PutUint64(e[leafSeqOff:], uint64(seq))
	btreePutU48(e[leafRecOff:], recOff)
	e[leafKindOff] = byte(kind)
	nb.count++
}

// addInner appends an internal entry. The caller checks full first.
func (nb *btreeNodeBuilder) addInner(key int64, child uint64) {
	if nb.count == 0 {
		nb.firstKey = key
	}
	e := nb.buf[nodeHeaderSize+nb.count*innerEntrySize:]
	binary.LittleEndian.PutUint64(e[innerKeyOff:], uint64(key))
	btreePutU48(e[innerChildOff:], child)
	nb.count++
}

// seal fills in the node header and CRC, zeroes the unused tail and returns
// the node bytes, valid until the next add. The caller then resets count.
func (nb *btreeNodeBuilder) seal(level int) []byte {
	entrySize := innerEntrySize
	if level == 0 {
		entrySize = leafEntrySize
	}
	clear(nb.buf[nodeHeaderSize+nb.count*entrySize:])
	binary.LittleEndian.PutUint16(nb.buf[nodeMagicOff:], nodeMagic)
	nb.buf[nodeVersionOff] = nodeVersion
	nb.buf[nodeLevelOff] = byte(level)
	binary.LittleEndian.PutUint16(nb.buf[nodeCountOff:], uint16(nb.count))
	binary.LittleEndian.PutUint32(nb.buf[nodeCRCOff:], checksum(nb.buf[nodeMagicOff:]))
	return nb.buf[:]
}

// btreeCheckNode checks the header and, with checkCRC, the CRC of node n
// (exactly sstNodeSize bytes) expected at the given level. It returns the
// entry count, or a problem message.
func btreeCheckNode(n []byte, level int, checkCRC bool) (int, string) {
	if binary.LittleEndian.Uint16(n[nodeMagicOff:]) != nodeMagic {
		return 0, "bad node magic"
	}
	if n[nodeVersionOff] != nodeVersion {
		return 0, "unknown node version"
	}
	if checkCRC && binary.LittleEndian.Uint32(n[nodeCRCOff:]) != checksum(n[nodeMagicOff:]) {
		return 0, "node checksum mismatch"
	}
	if int(n[nodeLevelOff]) != level {
		return 0, "node at the wrong level"
	}
	count := int(binary.LittleEndian.Uint16(n[nodeCountOff:]))
	if count < 1 || count > btreeNodeCapacity(level) {
		return 0, "node entry count out of range"
	}
	return count, ""
}

// Accessors of node entries. n is a whole node whose count was checked by
// btreeCheckNode and i < count, so every index stays inside n.

func leafSeq(n []byte, i int) int64 {
	return int64(binary.LittleEndian.Uint64(n[nodeHeaderSize+i*leafEntrySize+leafSeqOff:]))
}

func leafRecordOff(n []byte, i int) uint64 {
	return btreeGetU48(n[nodeHeaderSize+i*leafEntrySize+leafRecOff:])
}

func leafKind(n []byte, i int) entryKind {
	return entryKind(n[nodeHeaderSize+i*leafEntrySize+leafKindOff])
}

// leafSeqBytes returns the 8 stored bytes of the seq of entry i; record
// checksums start with them.
func leafSeqBytes(n []byte, i int) []byte {
	o := nodeHeaderSize + i*leafEntrySize + leafSeqOff
	return n[o : o+8]
}

// leafKindBytes returns the stored kind byte of entry i; record checksums
// include it after the seq.
func leafKindBytes(n []byte, i int) []byte {
	o := nodeHeaderSize + i*leafEntrySize + leafKindOff
	return n[o : o+1]
}

func innerKey(n []byte, i int) int64 {
	return int64(binary.LittleEndian.Uint64(n[nodeHeaderSize+i*innerEntrySize+innerKeyOff:]))
}

func innerChild(n []byte, i int) uint64 {
	return btreeGetU48(n[nodeHeaderSize+i*innerEntrySize+innerChildOff:])
}

// nodeFirstKey returns the first seq of a node of the given level.
func nodeFirstKey(n []byte, level int) int64 {
	if level == 0 {
		return leafSeq(n, 0)
	}
	return innerKey(n, 0)
}

// leafSearchGE returns the index of the first entry with seq ≥ key, or count
// when there is none.
func leafSearchGE(n []byte, count int, key int64) int {
	lo, hi := 0, count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if leafSeq(n, mid) < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// leafSearchLE returns the index of the last entry with seq ≤ key, or -1
// when there is none.
func leafSearchLE(n []byte, count int, key int64) int {
	lo, hi := 0, count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if leafSeq(n, mid) <= key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// innerSearchLE returns the index of the last separator ≤ key, or -1 when
// key is below the first separator.
func innerSearchLE(n []byte, count int, key int64) int {
	lo, hi := 0, count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if innerKey(n, mid) <= key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// btreePutU48 stores the low 48 bits of v little-endian in b[0:6].
func btreePutU48(b []byte, v uint64) {
	_ = b[5]
	binary.LittleEndian.PutUint32(b, uint32(v))
	binary.LittleEndian.PutUint16(b[4:], uint16(v>>32))
}

// btreeGetU48 loads a little-endian uint48 from b[0:6].
func btreeGetU48(b []byte) uint64 {
	_ = b[5]
	return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint16(b[4:]))<<32
}
