package srdb

// Compression of SST data blocks (format version 4, sstable.go).
//
// From version 4 on, the records of each B+Tree leaf (exactly the version-3
// records, each with its CRC) are stored right before the leaf node as one
// or more data blocks: with a codec, runs of about 16 KiB of records are
// compressed together (so short chat rows compress as well as long ones,
// and a Get decompresses one run, not the leaf's 272 rows); without one, the
// leaf's records are one raw block. The leaf entries' record offsets are
// offsets into the leaf's raw records (the blocks' raw bytes one after the
// other); a record never spans two blocks. A block that does not shrink by
// at least 1/4 (S2) or 1/8 (zstd) is stored raw (codec 0): it is never
// bigger than its records
// plus the 20-byte trailer, and a raw block is read in place from the
// mapping like a version-3 leaf; consecutive raw blocks of a leaf are
// merged into one, so incompressible rows cost no more than without a
// codec. The B+Tree nodes, the _time index and the
// index sections stay uncompressed.
//
// Codecs (github.com/klauspost/compress; docs/BENCHMARKS.md has the figures
// that chose them): CompressionFast is S2 in block format (s2.Encode, a
// Snappy-class codec, faster to decode than Snappy), CompressionDense is
// zstd at its default level (zstd.SpeedDefault) without the frame checksum
// (the block CRC covers the stored bytes).

import (
	"container/list"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Compression selects the codec of the SST data blocks a table writes from
// now on: flushes and compactions write with the table's current codec, so
// a level may mix files of several codecs (every file stays readable).
type Compression uint8

const (
	// CompressionDefault in TableOptions inherits Options.Compression; in
	// Options it means CompressionNone.
	CompressionDefault Compression = iota
	// CompressionNone stores the records raw.
	CompressionNone
	// CompressionFast compresses each leaf's records with S2 (a
	// Snappy-class codec): cheap to write and to read.
	CompressionFast
	// CompressionDense compresses each leaf's records with zstd: smaller
	// files, slower writes and reads than CompressionFast.
	CompressionDense
)

// String returns "default", "none", "fast", "dense" or "compression(N)".
func (c Compression) String() string {
	switch c {
	case CompressionDefault:
		return "default"
	case CompressionNone:
		return "none"
	case CompressionFast:
		return "fast"
	case CompressionDense:
		return "dense"
	}
	return "compression(" + strconv.Itoa(int(c)) + ")"
}

// valid reports whether c is one of the constants.
func (c Compression) valid() bool { return c <= CompressionDense }

// Codec ids stored in a block trailer.
const (
	blockCodecRaw  = 0 // stored bytes are the raw records
	blockCodecS2   = 1 // s2 block format (CompressionFast)
	blockCodecZstd = 2 // one zstd frame with its content size (CompressionDense)
)

// Block constants; the layout is drawn above appendSSTBlock.
const (
	sstBlockTrailerSize = 20
	// sstBlockTargetFast and sstBlockTargetDense are the raw sizes at which
	// a writer with codec S2 or zstd ends a block and starts the next one of
	// the same leaf: they bound what a Get decompresses to find one row.
	// S2 keeps 0.47 of chat-text rows at 8 KiB, 0.46 at 16 KiB and 0.42 at
	// 64 KiB (docs/BENCHMARKS.md), and the decompression dominates a Get of
	// a compressed row, so Fast takes 8 KiB; Dense is the choice for disk,
	// so zstd gets 16 KiB (32 KiB saved 3 more bytes per chat row and
	// doubled the Get time).
	sstBlockTargetFast  = 8 << 10
	sstBlockTargetDense = 16 << 10
	// sstBlockTarget is the largest of them (it bounds the raw length a
	// reader accepts for a compressed block).
	sstBlockTarget = sstBlockTargetDense
	// sstLeafRawTarget is the raw size of its records at which a writer
	// ends a leaf before its 272 entries (rows under 3.8 KiB fill the
	// entries first); it bounds the records a writer buffers. Without a
	// codec the leaf's records are one block.
	sstLeafRawTarget = 1 << 20
	// sstBlockMaxRaw bounds the raw records of a leaf (offsets and lengths
	// are 32-bit): sstLeafRawTarget plus one value of at most
	// sstMaxBlockValue stays below it.
	sstBlockMaxRaw = 1<<32 - 1
	// sstMaxBlockValue is the largest value a version-4 writer accepts
	// (MaxRowSize is at most 1 GiB).
	sstMaxBlockValue = 1 << 31
	// sstBlockMinSavingFast and sstBlockMinSavingDense: a block is stored
	// compressed only when that saves at least 1/N of its raw size;
	// otherwise reading it would cost a decompression for little disk. IM
	// rows with 200 random payload bytes save 13 % with S2 (their headers,
	// names and seqs compress) for 3× the Get time: Fast, which promises
	// speed, keeps them raw (saving ≥ 1/4); Dense, which promises disk,
	// takes them (≥ 1/8).
	sstBlockMinSavingFast  = 4
	sstBlockMinSavingDense = 8
)

// blockRawLimit is the largest raw length a reader accepts for a compressed
// block of a table whose rows are at most maxRowSize bytes: a writer with a
// codec ends a block once it reaches sstBlockTarget, so a block holds at
// most sstBlockTarget bytes plus one record. A compressed block declaring
// more is corrupt, whatever its stored bytes would inflate to (no zip bombs).
func blockRawLimit(maxRowSize int) uint64 {
	if maxRowSize <= 0 {
		maxRowSize = DefaultMaxRowSize
	}
	return sstBlockTarget + uint64(maxRowSize) + sstRecordCRCSize
}

// blockTargetOf returns the raw block size a writer with codec aims at.
func blockTargetOf(codec byte) int {
	switch codec {
	case blockCodecS2:
		return sstBlockTargetFast
	case blockCodecZstd:
		return sstBlockTargetDense
	}
	return sstLeafRawTarget // a raw leaf is one block
}

// blockCodec returns the trailer codec id of a table's compression
// (CompressionDefault and CompressionNone: raw).
func blockCodec(c Compression) byte {
	switch c {
	case CompressionFast:
		return blockCodecS2
	case CompressionDense:
		return blockCodecZstd
	}
	return blockCodecRaw
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

// zstdCodec returns the shared zstd encoder and decoder (both safe for
// concurrent EncodeAll/DecodeAll). The decoder stops at cap(dst): a frame
// never inflates past the buffer its declared size sized.
func zstdCodec() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderCRC(false),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true))
		if zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(sstBlockMaxRaw))
	})
	return zstdEnc, zstdDec, zstdErr
}

// appendSSTBlock appends the stored form of raw, the records at offset
// rawOff of a leaf's records, compressed with codec when that saves enough
// (see sstBlockMinSavingFast), and its trailer, to dst. rawOff+len(raw) ≤ sstBlockMaxRaw.
//
// Data block (version 4; the blocks of a leaf follow each other in raw
// order right before the leaf node, which starts where the last trailer
// ends):
//
//	off  size  field
//	  0     s  stored bytes: the raw records (codec 0) or their compressed form
//	  s     1  codec: 0 raw, 1 S2 block, 2 zstd frame (with its content size
//	           from 256 raw bytes on)
//	s+1     3  reserved, 0
//	s+4     4  raw offset o (uint32): where the block's records start in the
//	           leaf's records; 0 for the leaf's first block, and each
//	           block starts where the previous one ends
//	s+8     4  raw length r (uint32): bytes of the records once decompressed
//	s+12    4  stored length s (uint32); s == r for codec 0
//	s+16    4  CRC32-C of the stored bytes ‖ bytes [s, s+16) of the trailer
//
// The raw records are those of format version 3 (sstWriter.add): CRC32-C of
// seq ‖ kind ‖ value, then the value, back to back; the leaf entries'
// record offsets are offsets into the leaf's records, record i ends where
// record i+1 starts and the leaf's last one where its last block ends. A
// record lies in one block.
func appendSSTBlock(dst, raw []byte, rawOff uint64, codec byte) ([]byte, error) {
	start := len(dst)
	dst, codec, err := appendSSTCompressed(dst, raw, codec)
	if err != nil {
		return dst, err
	}
	return appendSSTBlockTrailer(dst, start, rawOff, len(raw), codec), nil
}

// appendSSTCompressed appends raw compressed with codec to dst when that
// saves at least 1/sstBlockMinSavingFast (S2) or 1/sstBlockMinSavingDense
// (zstd) of its size, else raw itself, and returns the
// codec it used.
func appendSSTCompressed(dst, raw []byte, codec byte) ([]byte, byte, error) {
	start := len(dst)
	stored := raw
	minSaving := sstBlockMinSavingDense
	switch codec {
	case blockCodecS2:
		if n := s2.MaxEncodedLen(len(raw)); n > 0 {
			dst = slices.Grow(dst, n)
			stored = s2.Encode(dst[start:start+n], raw)
		}
		minSaving = sstBlockMinSavingFast
	case blockCodecZstd:
		enc, _, err := zstdCodec()
		if err != nil {
			return dst, codec, newError(CodeGeneral, "zstd: %v", err)
		}
		stored = enc.EncodeAll(raw, dst[start:start])
	}
	if codec == blockCodecRaw || len(stored) > len(raw)-len(raw)/minSaving {
		codec, stored = blockCodecRaw, raw
	}
	// The encoders wrote into dst's spare capacity (or a buffer of their
	// own): append copies, or moves the bytes onto themselves.
	return append(dst[:start], stored...), codec, nil
}

// appendSSTBlockTrailer appends the trailer of the block whose stored bytes
// are dst[start:] (see appendSSTBlock).
func appendSSTBlockTrailer(dst []byte, start int, rawOff uint64, rawLen int, codec byte) []byte {
	var t [sstBlockTrailerSize]byte
	t[0] = codec
	binary.LittleEndian.PutUint32(t[4:], uint32(rawOff))
	binary.LittleEndian.PutUint32(t[8:], uint32(rawLen))
	binary.LittleEndian.PutUint32(t[12:], uint32(len(dst)-start))
	crc := crc32.Update(0, crcTable, dst[start:])
	crc = crc32.Update(crc, crcTable, t[:16])
	binary.LittleEndian.PutUint32(t[16:], crc)
	return append(dst, t[:]...)
}

// sstBlockInfo describes one block as its trailer declares it.
type sstBlockInfo struct {
	codec  byte
	rawOff uint64 // offset of the block's records in the leaf's records
	rawLen uint64
	start  uint64 // offset of the stored bytes in the buffer given to parseSSTBlock
	stored []byte // the stored bytes
}

// rawEnd returns where the block's records end in the leaf's records.
func (b *sstBlockInfo) rawEnd() uint64 { return b.rawOff + b.rawLen }

// parseSSTBlock reads the block that ends at len(b) (b is a file's bytes up
// to the leaf the block belongs to; the block may not start before lo). With
// checkCRC it checks the trailer CRC. It returns a problem message and the
// offset in b of the offending field, or "".
func parseSSTBlock(b []byte, lo uint64, checkCRC bool) (blk sstBlockInfo, problem string, at int64) {
	end := uint64(len(b))
	if end < lo+sstBlockTrailerSize {
		return blk, "no room for the block trailer", int64(end)
	}
	tOff := end - sstBlockTrailerSize
	t := b[tOff:end]
	blk.codec = t[0]
	if t[1] != 0 || t[2] != 0 || t[3] != 0 {
		return blk, "reserved block trailer bytes not zero", int64(tOff + 1)
	}
	blk.rawOff = uint64(binary.LittleEndian.Uint32(t[4:]))
	blk.rawLen = uint64(binary.LittleEndian.Uint32(t[8:]))
	storedLen := uint64(binary.LittleEndian.Uint32(t[12:]))
	if storedLen > tOff-lo {
		return blk, "stored length " + strconv.FormatUint(storedLen, 10) + " runs before the block region", int64(tOff + 12)
	}
	if blk.rawLen == 0 || blk.rawEnd() > sstBlockMaxRaw {
		return blk, "raw length " + strconv.FormatUint(blk.rawLen, 10) + " at raw offset " + strconv.FormatUint(blk.rawOff, 10) + " out of range", int64(tOff + 4)
	}
	blk.start = tOff - storedLen
	blk.stored = b[blk.start:tOff:tOff]
	if checkCRC && !sstBlockCRCOK(b, blk) {
		return blk, "block checksum mismatch", int64(blk.start)
	}
	switch blk.codec {
	case blockCodecRaw:
		if storedLen != blk.rawLen {
			return blk, "raw block with stored length " + strconv.FormatUint(storedLen, 10) + " != raw length " + strconv.FormatUint(blk.rawLen, 10), int64(tOff + 8)
		}
	case blockCodecS2, blockCodecZstd:
	default:
		return blk, "unknown block codec " + strconv.Itoa(int(blk.codec)), int64(tOff)
	}
	return blk, "", -1
}

// sstBlockCRCOK reports whether the CRC in the trailer of blk (parsed from
// b by parseSSTBlock) matches its stored bytes and trailer fields.
func sstBlockCRCOK(b []byte, blk sstBlockInfo) bool {
	tOff := blk.start + uint64(len(blk.stored))
	t := b[tOff : tOff+sstBlockTrailerSize]
	crc := crc32.Update(0, crcTable, blk.stored)
	crc = crc32.Update(crc, crcTable, t[:16])
	return crc == binary.LittleEndian.Uint32(t[16:])
}

// inflateSSTBlock returns the raw bytes of blk: the stored bytes themselves
// for a raw block, else a new buffer of exactly blk.rawLen bytes. A
// compressed block declaring more than limit raw bytes, or whose stored
// bytes do not decode to exactly the declared length, is refused before
// any buffer larger than the declared length is allocated.
func inflateSSTBlock(blk sstBlockInfo, limit uint64) ([]byte, string) {
	if blk.codec == blockCodecRaw {
		return blk.stored, ""
	}
	if blk.rawLen > limit {
		return nil, "block declares " + strconv.FormatUint(blk.rawLen, 10) + " raw bytes, above the limit of " + strconv.FormatUint(limit, 10)
	}
	switch blk.codec {
	case blockCodecS2:
		n, err := s2.DecodedLen(blk.stored)
		if err != nil || uint64(n) != blk.rawLen {
			return nil, "s2 block does not decode to its declared length"
		}
		out := make([]byte, n)
		got, err := s2.Decode(out, blk.stored)
		if err != nil || len(got) != n {
			return nil, "s2 block does not decode"
		}
		return got, ""
	case blockCodecZstd:
		_, dec, err := zstdCodec()
		if err != nil {
			return nil, "zstd: " + err.Error()
		}
		// The encoder writes the content size for frames of 256 bytes and
		// more; when present it must match. Either way the decoder stops
		// at the buffer's capacity, the declared raw length.
		var h zstd.Header
		if err := h.Decode(blk.stored); err != nil || (h.HasFCS && h.FrameContentSize != blk.rawLen) {
			return nil, "zstd frame does not declare the block's raw length"
		}
		out, err := dec.DecodeAll(blk.stored, make([]byte, 0, blk.rawLen))
		if err != nil || uint64(len(out)) != blk.rawLen {
			return nil, "zstd frame does not decode to its declared length"
		}
		return out, ""
	}
	return nil, "unknown block codec " + strconv.Itoa(int(blk.codec))
}

// blockCacheBytes is the capacity of a table's cache of decompressed blocks.
// A block is at most sstBlockTarget plus one row, so it holds a few hundred
// blocks: enough for the scans and last-N queries in flight to stay in
// their current block, and for recently read rows, small beside the
// memtables.
const blockCacheBytes = 4 << 20

// blockKey names one block: the SST file and the offset of its stored
// bytes.
type blockKey struct {
	fileNum uint64
	off     uint64
}

// blockCacheEntry is one cached block in blockCache.lru.
type blockCacheEntry struct {
	key blockKey
	raw []byte
}

// blockCache keeps recently decompressed blocks of one table, least
// recently used first out, within a byte budget. Cached slices are never
// written after they are cached, and an evicted one is only dropped (the
// GC frees it once no value aliases it), so a row value that aliases a
// block stays valid however long the caller keeps it.
type blockCache struct {
	capacity int64

	// mu guards entries and lru.
	mu      sync.Mutex
	entries map[blockKey]*list.Element
	lru     list.List // front: most recently used

	// bytes (the raw bytes cached), hits and misses are written under mu
	// and read without it by Metrics.
	bytes  atomic.Int64
	hits   atomic.Int64
	misses atomic.Int64
}

// newBlockCache returns an empty cache of capacity bytes.
func newBlockCache(capacity int64) *blockCache {
	return &blockCache{capacity: capacity, entries: make(map[blockKey]*list.Element)}
}

// get returns the cached block of key; a nil cache holds nothing.
func (c *blockCache) get(key blockKey) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	c.lru.MoveToFront(e)
	return e.Value.(*blockCacheEntry).raw, true
}

// put caches raw under key, evicting the least recently used blocks beyond
// the capacity. A block larger than the whole capacity is not cached.
func (c *blockCache) put(key blockKey, raw []byte) {
	if c == nil || int64(len(raw)) > c.capacity {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return // another reader decompressed it meanwhile
	}
	c.entries[key] = c.lru.PushFront(&blockCacheEntry{key: key, raw: raw})
	n := c.bytes.Add(int64(len(raw)))
	for n > c.capacity {
		n = c.removeLocked(c.lru.Back())
	}
}

// removeLocked drops e and returns the bytes left. Caller holds mu.
func (c *blockCache) removeLocked(e *list.Element) int64 {
	ent := c.lru.Remove(e).(*blockCacheEntry)
	delete(c.entries, ent.key)
	return c.bytes.Add(-int64(len(ent.raw)))
}

// dropFile forgets every block of file fileNum (its reader was closed).
func (c *blockCache) dropFile(fileNum uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*blockCacheEntry).key.fileNum == fileNum {
			c.removeLocked(e)
		}
		e = next
	}
}
