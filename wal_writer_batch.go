package srdb

import (
	"encoding/binary"
)

// appendBatch appends one walRecordBatch record holding rows (layout of the
// payload above encodedRow in table_write.go) and returns the offset past
// it, like append. It encodes the payload straight into the write buffer:
// the same bytes as append(walRecordBatch, seq, payload) without first
// assembling payload in a buffer of its own. The rows' seqs must already be
// patched in.
func (w *walWriter) appendBatch(seq int64, rows []encodedRow) (end int64, err error) {
	n := uvarintLen(uint64(len(rows)))
	for i := range rows {
		n += uvarintLen(uint64(len(rows[i].buf))) + len(rows[i].buf)
	}
	if n > maxWALRecord {
		return 0, w.recordTooLarge(n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.appendableLocked(); err != nil {
		return 0, err
	}
	start := len(w.buf)
	b := binary.LittleEndian.AppendUint32(w.buf, 0) // CRC, filled in below
	b = binary.LittleEndian.AppendUint32(b, uint32(walRecLengthBase+n))
	b = append(b, byte(walRecordBatch))
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.AppendUvarint(b, uint64(len(rows)))
	for i := range rows {
		b = binary.AppendUvarint(b, uint64(len(rows[i].buf)))
		b = append(b, rows[i].buf...)
	}
	binary.LittleEndian.PutUint32(b[start+walRecCRCOff:], checksum(b[start+walRecLengthOff:]))
	w.buf = b
	return w.recordAppendedLocked(walRecHeaderSize + n)
}

// uvarintLen returns the length of the uvarint encoding of x.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
