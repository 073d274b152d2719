package srdb

import (
	"encoding/binary"
)

// This file holds the on-disk format of the write-ahead log shared by the
// writer (wal_writer.go) and the reader (wal_reader.go). docs/FORMAT.md
// ("## WAL") describes the same bytes for readers of the documentation.
//
// A WAL file is a header followed by records:
//
//	+-------------+----------+----------+-----+----------+
//	| file header | record 1 | record 2 | ... | record n |
//	+-------------+----------+----------+-----+----------+
//
// Every integer is little-endian. The layout is frozen once written: a change
// needs a new walFormatVersion, and readers refuse versions they do not know.

// walRecordType says what a record's payload is. The table layer interprets
// the payloads; the WAL only stores (type, seq, data).
type walRecordType uint8

// Record types. The values are stored on disk and never change meaning.
const (
	walRecordBatch  walRecordType = 1 // one Insert: a batch of rows, written as one record
	walRecordUpdate walRecordType = 2 // a new version of an existing row
	walRecordDelete walRecordType = 3 // a tombstone
	// walRecordRangeDelete is a range tombstone (DeleteRange, DeleteBefore,
	// retention): see range_delete.go for its payload.
	walRecordRangeDelete walRecordType = 4
	// walRecordDeleteBatch is the tombstones of one Query.Delete, applied
	// all or none: see range_delete.go for its payload.
	walRecordDeleteBatch walRecordType = 5
	// walRecordSyncMark is internal to the WAL: "every byte of this file
	// before offset S was fsynced" (see the sync mark layout below). The
	// writer refuses it in append and the reader never passes it to the
	// replay callback.
	walRecordSyncMark walRecordType = 0x7f
)

// File header.
//
//	 0                   8           12                20                28        32
//	+-------------------+-----------+-----------------+-----------------+---------+
//	| magic "SRDBWAL1"  | version   | log number      | salt            | CRC32-C |
//	| 8 bytes           | uint32    | uint64          | uint64          | uint32  |
//	+-------------------+-----------+-----------------+-----------------+---------+
//	|<------------------------ CRC covers bytes 0..27 ------------------>|
//
// The salt is a random number drawn when the file is created. Sync marks carry
// it, so bytes that merely look like a sync mark (a user payload, a record of
// another WAL) are never taken for one.
const (
	walMagic            = "SRDBWAL1"
	walFormatVersion    = uint32(1)
	walHeaderMagicLen   = len(walMagic)
	walHeaderVersionOff = walHeaderMagicLen         // 8
	walHeaderLogNumOff  = walHeaderVersionOff + 4   // 12
	walHeaderSaltOff    = walHeaderLogNumOff + 8    // 20
	walHeaderCRCOff     = walHeaderSaltOff + 8      // 28
	walHeaderSize       = walHeaderCRCOff + 4       // 32
	walHeaderSize64     = int64(walHeaderSize)      // walHeaderSize as a file offset
	walSyncMagic        = "SRDBSYNC"                // first bytes of a sync mark's payload
	walSyncMarkDataLen  = len(walSyncMagic) + 8 + 8 // magic | salt | synced offset
)

// walHeader is the decoded file header.
type walHeader struct {
	version uint32
	logNum  uint64
	salt    uint64
}

// appendWALHeader appends the encoded header (layout above) to dst.
func appendWALHeader(dst []byte, h walHeader) []byte {
	start := len(dst)
	dst = append(dst, walMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, h.version)
	dst = binary.LittleEndian.AppendUint64(dst, h.logNum)
	dst = binary.LittleEndian.AppendUint64(dst, h.salt)
	return binary.LittleEndian.AppendUint32(dst, checksum(dst[start:]))
}

// decodeWALHeader decodes the header at the start of b. problem is "" for a
// valid header, else it says what is wrong.
func decodeWALHeader(b []byte) (h walHeader, problem string) {
	if len(b) < walHeaderSize {
		return h, "short header"
	}
	c := byteCursor{b: b[:walHeaderSize]}
	magic := c.bytes(walHeaderMagicLen)
	h.version = c.u32()
	h.logNum = c.u64()
	h.salt = c.u64()
	sum := c.u32()
	switch {
	case string(magic) != walMagic:
		return h, "bad magic"
	case checksum(b[:walHeaderCRCOff]) != sum:
		return h, "header checksum mismatch"
	case h.version != walFormatVersion:
		return h, "unsupported format version"
	}
	return h, ""
}

// Record.
//
//	 0         4         8      9                17        21
//	+---------+---------+------+-----------------+---------+----------------+
//	| CRC32-C | Length  | Type | Seq             | DataLen | Data           |
//	| uint32  | uint32  | u8   | int64           | uint32  | DataLen bytes  |
//	+---------+---------+------+-----------------+---------+----------------+
//	          |<-------------- CRC covers bytes 4 .. 8+Length-1 ---------->|
//	                    |<------------ Length bytes ---------------------->|
//
// Length counts the bytes after the Length field: Length = 13 + DataLen, so a
// whole record is 8 + Length bytes. The redundancy (Length and DataLen must
// agree) and Length >= 13 make an all-zero region never parse as a record.
// DataLen is at most maxWALRecord.
const (
	walRecCRCOff     = 0
	walRecLengthOff  = walRecCRCOff + 4                 // 4
	walRecTypeOff    = walRecLengthOff + 4              // 8
	walRecSeqOff     = walRecTypeOff + 1                // 9
	walRecDataLenOff = walRecSeqOff + 8                 // 17
	walRecHeaderSize = walRecDataLenOff + 4             // 21: bytes before Data
	walRecLengthBase = walRecHeaderSize - walRecTypeOff // 13: Length of a record with no data
	// maxWALRecord caps DataLen (1 GiB). append refuses more and the reader
	// treats more as damage, before allocating anything.
	maxWALRecord = 1 << 30
	// walSyncMarkSize is the size of a whole sync mark record.
	walSyncMarkSize = walRecHeaderSize + walSyncMarkDataLen // 45
)

// appendWALRecord appends one encoded record (layout above) to dst and
// returns the extended slice. len(data) must be at most maxWALRecord.
func appendWALRecord(dst []byte, typ walRecordType, seq int64, data []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // CRC, filled in below
	dst = binary.LittleEndian.AppendUint32(dst, uint32(walRecLengthBase+len(data)))
	dst = append(dst, byte(typ))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(seq))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, data...)
	sum := checksum(dst[start+walRecLengthOff:])
	binary.LittleEndian.PutUint32(dst[start+walRecCRCOff:], sum)
	return dst
}

// walRecordHeader is the decoded fixed part of a record.
type walRecordHeader struct {
	crc     uint32
	length  uint32
	typ     walRecordType
	seq     int64
	dataLen uint32
}

// decodeWALRecordHeader decodes the first walRecHeaderSize bytes of b.
func decodeWALRecordHeader(b []byte) walRecordHeader {
	c := byteCursor{b: b[:walRecHeaderSize]}
	var h walRecordHeader
	h.crc = c.u32()
	h.length = c.u32()
	h.typ = walRecordType(c.u8())
	h.seq = int64(c.u64())
	h.dataLen = c.u32()
	return h
}

// check validates the lengths of h (not the checksum) and returns what is
// wrong, or "".
func (h walRecordHeader) check() string {
	switch {
	case h.dataLen > maxWALRecord:
		return "data length over the 1 GiB limit"
	case uint64(h.length) != walRecLengthBase+uint64(h.dataLen):
		return "record length does not match data length"
	}
	return ""
}

// size returns the size of the whole record, 8 + Length.
func (h walRecordHeader) size() int64 { return int64(walRecTypeOff) + int64(h.length) }

// Sync mark payload (the Data of a walRecordSyncMark record, whose Seq is 0).
//
//	 0                   8                 16                24
//	+-------------------+-----------------+-----------------+
//	| magic "SRDBSYNC"  | salt            | synced offset S |
//	| 8 bytes           | uint64          | int64           |
//	+-------------------+-----------------+-----------------+
//
// salt equals the file header's salt; S <= the offset of the mark itself.
// The writer appends a mark after each successful fsync that covered S, so a
// valid mark is a durable claim that every byte before S had reached stable
// storage. Replay uses it to tell bit rot (damage before some claimed S) from
// the loss of unsynced bytes at a power cut (damage after every claimed S).

// appendWALSyncMark appends a whole sync mark record claiming synced.
func appendWALSyncMark(dst []byte, salt uint64, synced int64) []byte {
	var p [walSyncMarkDataLen]byte
	b := append(p[:0], walSyncMagic...)
	b = binary.LittleEndian.AppendUint64(b, salt)
	b = binary.LittleEndian.AppendUint64(b, uint64(synced))
	return appendWALRecord(dst, walRecordSyncMark, 0, b)
}

// decodeWALSyncMark decodes a sync mark payload. ok is false when data is not
// one or names another salt.
func decodeWALSyncMark(data []byte, salt uint64) (synced int64, ok bool) {
	if len(data) != walSyncMarkDataLen {
		return 0, false
	}
	c := byteCursor{b: data}
	if string(c.bytes(len(walSyncMagic))) != walSyncMagic || c.u64() != salt {
		return 0, false
	}
	return int64(c.u64()), true
}
