package srdb

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// ROW1 is the binary encoding of one row: the value a WAL record and an SST
// data block carry. Its offset table lets a reader decode one field without
// touching the others (GetPartial, Select, filtering on one field).
//
// The layout is frozen once written to disk; a new layout gets a new magic
// ("ROW2"), which this reader refuses.
//
//	offset 0        4          12          20       22                       22+E·N
//	       +--------+----------+-----------+--------+------------------------+-------+
//	       | Magic  | Seq      | Time      | Count  | N × entry              | data  |
//	       | "ROW1" | int64    | int64     | uint16 | offset     | size      | …     |
//	       +--------+----------+-----------+--------+------------+-----------+-------+
//	         4 B      8 B        8 B         2 B      E/2 B        E/2 B
//
//	Magic       the four ASCII bytes "ROW1" (the "1" is the format version)
//	Seq         the row's _seq
//	Time        the row's _time in Unix nanoseconds
//	Count       bits 0–14: N, the FieldCount (0 … 32767); field i of the
//	            schema is entry i; a schema field with index ≥ N reads as NULL
//	            (the row was written before the field was added).
//	            bit 15: the entry width. 1 = narrow entries, E = 4 bytes
//	            (offset u16, size u16, NULL size 0xFFFF); 0 = wide entries,
//	            E = 8 bytes (offset u32, size u32, NULL size 0xFFFFFFFF)
//	entry i     offset: start of field i, relative to the start of the data
//	            area; size: its length in bytes. NULL is offset 0 and the
//	            width's NULL size. Every non-NULL entry satisfies offset+size
//	            ≤ the length of the data area (computed without wrapping).
//	data        the encoded field values, back to back in field order; the
//	            per-type encodings are listed above appendRowValue (rowvalue.go)
//
// The encoder writes narrow entries whenever the data area fits in 0xFFFE
// bytes (every row of a typical schema: it saves 4 bytes per field), and wide
// entries otherwise; the decoder accepts both.
//
// All integers are little-endian. The row's total length is not stored: the
// container (WAL record, SST block) delimits it and enforces MaxRowSize.
const (
	rowMagic       = "ROW1"
	rowMagicPrefix = "ROW" // a magic with this prefix and another version digit is a newer format
	rowMagicSize   = len(rowMagic)
	rowSeqOffset   = rowMagicSize       // int64
	rowTimeOffset  = rowSeqOffset + 8   // int64, Unix nanoseconds
	rowCountOffset = rowTimeOffset + 8  // uint16: FieldCount and the entry width bit
	rowHeaderSize  = rowCountOffset + 2 // start of the offset table
	rowCountMask   = 0x7FFF             // Count bits holding FieldCount
	rowNarrowBit   = 0x8000             // Count bit set when entries are narrow
	rowMaxFields   = rowCountMask       // FieldCount is 15 bits

	// Wide entries: offset u32 | size u32.
	rowWideEntrySize = 8
	rowWideNull      = math.MaxUint32    // size that marks a NULL field
	rowWideMaxData   = rowWideNull - 1   // every offset and size fits a uint32 and is not the NULL size
	rowNarrowEntry   = 4                 // narrow entries: offset u16 | size u16
	rowNarrowNull    = math.MaxUint16    // size that marks a NULL field
	rowNarrowMaxData = rowNarrowNull - 1 // largest data area narrow entries can describe
)

// rowEntryWidth describes one of the two offset-table entry widths.
type rowEntryWidth struct {
	size    int    // bytes per entry
	null    uint32 // the size value that marks NULL
	maxData uint64 // largest data area the entries can describe
}

var (
	rowWide   = rowEntryWidth{size: rowWideEntrySize, null: rowWideNull, maxData: rowWideMaxData}
	rowNarrow = rowEntryWidth{size: rowNarrowEntry, null: rowNarrowNull, maxData: rowNarrowMaxData}
)

// get reads the entry at buf[pos:]: the field's offset and size.
func (w rowEntryWidth) get(buf []byte, pos int) (off, size uint32) {
	if w.size == rowNarrowEntry {
		return uint32(binary.LittleEndian.Uint16(buf[pos:])), uint32(binary.LittleEndian.Uint16(buf[pos+2:]))
	}
	return binary.LittleEndian.Uint32(buf[pos:]), binary.LittleEndian.Uint32(buf[pos+4:])
}

// put writes an entry at buf[pos:]; off and size must fit the width.
func (w rowEntryWidth) put(buf []byte, pos int, off, size uint32) {
	if w.size == rowNarrowEntry {
		binary.LittleEndian.PutUint16(buf[pos:], uint16(off))
		binary.LittleEndian.PutUint16(buf[pos+2:], uint16(size))
		return
	}
	binary.LittleEndian.PutUint32(buf[pos:], off)
	binary.LittleEndian.PutUint32(buf[pos+4:], size)
}

// encodeRow appends the ROW1 encoding of a row to dst and returns the
// extended slice. vals[i] is the value of a field of type types[i]: nil for
// NULL or the canonical Go value of the type (see FieldType). A value of
// another Go type is a CodeSchemaViolation error, never a panic; on any error
// dst is returned with its original length.
//
// With enough capacity in dst and no Decimal, Object or Array value, encodeRow
// does not allocate.
func encodeRow(dst []byte, seq int64, timeNanos int64, types []FieldType, vals []any) ([]byte, error) {
	n := len(types)
	if len(vals) != n {
		return dst, newError(CodeInvalidArgument, "ROW1 encode: %d values for %d field types", len(vals), n)
	}
	if n > rowMaxFields {
		return dst, newError(CodeInvalidArgument, "ROW1 encode: %d fields, at most %d allowed", n, rowMaxFields)
	}
	out, fits, err := encodeRowWidth(dst, seq, timeNanos, types, vals, rowNarrow)
	if err != nil || fits {
		return out, err
	}
	// The data area outgrew narrow entries: encode again with wide ones.
	out, fits, err = encodeRowWidth(dst, seq, timeNanos, types, vals, rowWide)
	if err == nil && !fits {
		return dst, newError(CodeInvalidArgument, "ROW1 encode: data area exceeds %d bytes", uint64(rowWideMaxData))
	}
	return out, err
}

// encodeRowWidth is encodeRow with a given entry width. fits is false (and
// dst returned with its original length) when the data area outgrows what
// the width can describe.
func encodeRowWidth(dst []byte, seq, timeNanos int64, types []FieldType, vals []any, w rowEntryWidth) (out []byte, fits bool, err error) {
	n := len(types)
	start := len(dst)
	count := uint16(n)
	if w == rowNarrow {
		count |= rowNarrowBit
	}
	dst = append(dst, rowMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(seq))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(timeNanos))
	dst = binary.LittleEndian.AppendUint16(dst, count)
	table := len(dst)
	dst = rowExtend(dst, n*w.size) // every entry is written below
	dataStart := len(dst)
	for i, t := range types {
		if vals[i] == nil {
			w.put(dst, table+i*w.size, 0, w.null)
			continue
		}
		fieldStart := len(dst)
		dst, err = appendRowValue(dst, i, t, vals[i])
		if err != nil {
			return dst[:start], false, err
		}
		if uint64(len(dst)-dataStart) > w.maxData {
			return dst[:start], false, nil
		}
		w.put(dst, table+i*w.size, uint32(fieldStart-dataStart), uint32(len(dst)-fieldStart))
	}
	return dst, true, nil
}

// rowExtend returns dst extended by n bytes of unspecified content, growing
// it only when its capacity is short.
func rowExtend(dst []byte, n int) []byte {
	return slices.Grow(dst, n)[:len(dst)+n]
}

// rowView is a parsed, validated view of one encoded row. It does not copy:
// raw and bytesAt return slices of the buffer passed to parseRow, which must
// not change while the view is used. parseRow has checked that every entry
// of the offset table lies inside the data area, so field access needs no
// further bounds check. A rowView is a small value; copy it freely.
type rowView struct {
	buf  []byte // the whole encoded row
	n    int    // FieldCount
	data int    // offset of the data area in buf
	wide bool   // the offset table's entries are wide (else narrow)
}

// parseRow checks the magic, the header, the field count and every entry of
// the offset table of an untrusted encoded row, and returns a view over it.
// It allocates nothing and reads none of the field data. Every failure
// satisfies errors.Is(err, ErrCorrupted); see locateRowError to name the file.
func parseRow(buf []byte) (rowView, error) {
	// Fast path: a valid row with narrow entries (every row of a typical
	// schema); anything else, problems included, is parsed field by field.
	if len(buf) >= rowHeaderSize && string(buf[:rowMagicSize]) == rowMagic {
		if count := binary.LittleEndian.Uint16(buf[rowCountOffset:]); count&rowNarrowBit != 0 {
			n := int(count & rowCountMask)
			data := rowHeaderSize + n*rowNarrowEntry
			if data <= len(buf) && narrowEntriesOK(buf[rowHeaderSize:data], uint64(len(buf)-data)) {
				return rowView{buf: buf, n: n, data: data}, nil
			}
		}
	}
	return parseRowEntries(buf)
}

// parseRowEntries is parseRow checking the entries one by one, naming the
// first problem.
func parseRowEntries(buf []byte) (rowView, error) {
	if len(buf) < rowHeaderSize {
		return rowView{}, rowCorrupt(0, "%d bytes, shorter than the %d-byte header", len(buf), rowHeaderSize)
	}
	if magic := buf[:rowMagicSize]; string(magic) != rowMagic {
		if string(magic[:len(rowMagicPrefix)]) == rowMagicPrefix {
			return rowView{}, rowCorrupt(0, "unsupported row format version %q (this reader knows %q)", magic, rowMagic)
		}
		return rowView{}, rowCorrupt(0, "bad magic %q, want %q", magic, rowMagic)
	}
	count := binary.LittleEndian.Uint16(buf[rowCountOffset:])
	n := int(count & rowCountMask)
	w := rowWide
	if count&rowNarrowBit != 0 {
		w = rowNarrow
	}
	data := rowHeaderSize + n*w.size
	if len(buf) < data {
		return rowView{}, rowCorrupt(rowCountOffset,
			"offset table of %d fields needs %d bytes, row has %d", n, data, len(buf))
	}
	dataLen := uint64(len(buf) - data)
	for i := 0; i < n; i++ {
		pos := rowHeaderSize + i*w.size
		off, size := w.get(buf, pos)
		if size == w.null {
			if off != 0 {
				return rowView{}, rowCorrupt(pos, "field %d: NULL entry with offset %d, want 0", i, off)
			}
			continue
		}
		if uint64(off)+uint64(size) > dataLen { // uint64: offset+size cannot wrap
			return rowView{}, rowCorrupt(pos,
				"field %d: offset %d + size %d is past the %d-byte data area", i, off, size, dataLen)
		}
	}
	return rowView{buf: buf, n: n, data: data, wide: w == rowWide}, nil
}

// narrowEntriesOK reports whether every narrow entry of table (an offset
// table of 4-byte entries) passes parseRow's checks for a data area of
// dataLen bytes, in one pass of 32-bit loads.
func narrowEntriesOK(table []byte, dataLen uint64) bool {
	for pos := 0; pos+rowNarrowEntry <= len(table); pos += rowNarrowEntry {
		e := binary.LittleEndian.Uint32(table[pos:])
		off, size := e&rowNarrowNull, e>>16
		if size == rowNarrowNull {
			if off != 0 {
				return false
			}
		} else if uint64(off+size) > dataLen { // 17 bits at most: no wrap
			return false
		}
	}
	return true
}

// seq returns the row's _seq (0 for a zero rowView that parseRow did not make).
func (v rowView) seq() int64 {
	if len(v.buf) < rowHeaderSize {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(v.buf[rowSeqOffset:]))
}

// timeNanos returns the row's _time in Unix nanoseconds (0 for a zero rowView).
func (v rowView) timeNanos() int64 {
	if len(v.buf) < rowHeaderSize {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(v.buf[rowTimeOffset:]))
}

// numFields returns the row's FieldCount.
func (v rowView) numFields() int { return v.n }

// entryPos returns the position in buf of field i's offset-table entry.
// i must be in [0, n).
func (v rowView) entryPos(i int) int { return rowHeaderSize + i*v.entryWidth().size }

// entryWidth returns the width of the offset table's entries.
func (v rowView) entryWidth() rowEntryWidth {
	if v.wide {
		return rowWide
	}
	return rowNarrow
}

// field returns the bytes of field i (aliasing buf, capacity clipped so an
// append cannot overwrite the next field) and true, or nil and false when the
// field is NULL or i is outside [0, FieldCount).
func (v rowView) field(i int) ([]byte, bool) {
	if uint(i) >= uint(v.n) {
		return nil, false
	}
	// The entry is read in place rather than through rowEntryWidth.get,
	// which made the compiler copy v on every call: field is the inner loop
	// of filters and decoding.
	var off, size uint32
	if !v.wide {
		e := binary.LittleEndian.Uint32(v.buf[rowHeaderSize+i*rowNarrowEntry:])
		if off, size = e&rowNarrowNull, e>>16; size == rowNarrowNull {
			return nil, false
		}
	} else {
		e := binary.LittleEndian.Uint64(v.buf[rowHeaderSize+i*rowWideEntrySize:])
		if off, size = uint32(e), uint32(e>>32); size == rowWideNull {
			return nil, false
		}
	}
	start := v.data + int(off)
	end := start + int(size)
	return v.buf[start:end:end], true
}

// fieldPos returns the position in the row of field i's first data byte, or
// of its entry when the field is NULL or absent; used in error messages.
func (v rowView) fieldPos(i int) int {
	if i < 0 || i >= v.n {
		return rowCountOffset
	}
	pos := v.entryPos(i)
	w := v.entryWidth()
	off, size := w.get(v.buf, pos)
	if size == w.null {
		return pos
	}
	return v.data + int(off)
}

// isNull reports whether field i is NULL. A field index ≥ FieldCount (a field
// added after the row was written) or < 0 reads as NULL.
func (v rowView) isNull(i int) bool {
	_, ok := v.field(i)
	return !ok
}

// raw returns the encoded bytes of field i, aliasing the row buffer, or nil
// when the field is NULL.
func (v rowView) raw(i int) []byte {
	b, _ := v.field(i)
	return b
}

// bytesAt returns the bytes of a String or Bytes field without copying (the
// slice aliases the row buffer) and true, or nil and false for NULL.
func (v rowView) bytesAt(i int) ([]byte, bool) { return v.field(i) }

// value decodes field i as type t into its canonical Go value (see
// FieldType), or nil for NULL. Strings, byte slices and JSON values are
// copied, so the result does not alias the row buffer. A value that does not
// decode (wrong width, a Bool byte other than 0/1, bad Decimal or Time bytes,
// invalid JSON) is ErrCorrupted.
func (v rowView) value(i int, t FieldType) (any, error) {
	if !t.Valid() {
		return nil, newError(CodeInvalidArgument, "ROW1 decode: field %d has invalid type %d", i, uint8(t))
	}
	b, ok := v.field(i)
	if !ok {
		return nil, nil
	}
	return v.decodeValue(i, t, b)
}

// intBits reads an integer-typed field (every signed and unsigned width, Byte,
// Rune, Duration) as 64 bits: sign-extended when signed reports true, else
// zero-extended. null is true for a NULL field.
func (v rowView) intBits(i int, t FieldType) (u uint64, signed, null bool, err error) {
	b, ok := v.field(i)
	if !ok {
		return 0, false, true, nil
	}
	c := t.class()
	if !c.isInteger() {
		return 0, false, false, newError(CodeInvalidArgument, "ROW1 decode: field %d: %s is not an integer type", i, t)
	}
	if w, _ := t.fixedWidth(); len(b) != w {
		return 0, false, false, v.fieldCorrupt(i, t, "%d bytes, want %d", len(b), w)
	}
	if c == classSigned {
		return uint64(leInt(b)), true, false, nil
	}
	return leUint(b), false, false, nil
}

// int64At reads an integer-typed field (Int…Int64, Uint…Uint64, Byte, Rune,
// Duration) without allocating. ok is false for NULL. An unsigned value above
// math.MaxInt64 is an error: read it with uint64At.
func (v rowView) int64At(i int, t FieldType) (val int64, ok bool, err error) {
	u, signed, null, err := v.intBits(i, t)
	if err != nil || null {
		return 0, false, err
	}
	if !signed && u > math.MaxInt64 {
		return 0, false, newError(CodeInvalidArgument, "ROW1 decode: field %d: %s value %d overflows int64, use uint64At", i, t, u)
	}
	return int64(u), true, nil
}

// uint64At reads an integer-typed field like int64At; a negative signed value
// is an error.
func (v rowView) uint64At(i int, t FieldType) (val uint64, ok bool, err error) {
	u, signed, null, err := v.intBits(i, t)
	if err != nil || null {
		return 0, false, err
	}
	if signed && int64(u) < 0 {
		return 0, false, newError(CodeInvalidArgument, "ROW1 decode: field %d: %s value %d is negative", i, t, int64(u))
	}
	return u, true, nil
}

// float64At reads a Float32 (widened) or Float64 field without allocating.
// ok is false for NULL.
func (v rowView) float64At(i int, t FieldType) (val float64, ok bool, err error) {
	if t.class() != classFloat {
		return 0, false, newError(CodeInvalidArgument, "ROW1 decode: field %d: %s is not a float type", i, t)
	}
	b, present := v.field(i)
	if !present {
		return 0, false, nil
	}
	f, good := rawFloat(t, b)
	if !good {
		w, _ := t.fixedWidth()
		return 0, false, v.fieldCorrupt(i, t, "%d bytes, want %d", len(b), w)
	}
	return f, true, nil
}

// boolAt reads a Bool field without allocating. ok is false for NULL; a byte
// other than 0 or 1 is ErrCorrupted.
func (v rowView) boolAt(i int) (val bool, ok bool, err error) {
	b, present := v.field(i)
	if !present {
		return false, false, nil
	}
	val, err = v.decodeBool(i, b)
	return val, err == nil, err
}

// storedRowTime returns the _time of the encoded row stored under seq, read from
// its ROW1 header: the one place the engine reads a row's time without
// parsing the row (compaction computing file time ranges, Check verifying
// them). A row that is not ROW1 or carries another seq is ErrCorrupted.
func storedRowTime(seq int64, row []byte) (int64, error) {
	if len(row) < rowHeaderSize || string(row[:rowMagicSize]) != rowMagic {
		return 0, rowCorrupt(0, "row of seq %d: not a ROW1 row (%d bytes)", seq, len(row))
	}
	if got := int64(binary.LittleEndian.Uint64(row[rowSeqOffset:])); got != seq {
		return 0, rowCorrupt(rowSeqOffset, "row stored under seq %d says seq %d", seq, got)
	}
	return int64(binary.LittleEndian.Uint64(row[rowTimeOffset:])), nil
}

// decodeRow decodes every field of an untrusted encoded row. types[i] is the
// type of field i; fields the row lacks (index ≥ FieldCount) are nil, and
// entries beyond len(types) (fields no longer in the schema) are ignored.
func decodeRow(buf []byte, types []FieldType) (seq, timeNanos int64, vals []any, err error) {
	v, err := parseRow(buf)
	if err != nil {
		return 0, 0, nil, err
	}
	vals = make([]any, len(types))
	for i, t := range types {
		if vals[i], err = v.value(i, t); err != nil {
			return 0, 0, nil, err
		}
	}
	return v.seq(), v.timeNanos(), vals, nil
}

// decodeRowFields decodes only the fields listed in want (indexes into
// types); vals[k] is field want[k]. The data of the other fields is not read.
func decodeRowFields(buf []byte, types []FieldType, want []int) ([]any, error) {
	v, err := parseRow(buf)
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(want))
	for k, i := range want {
		if i < 0 || i >= len(types) {
			return nil, newError(CodeInvalidArgument, "ROW1 decode: field index %d outside the %d field types", i, len(types))
		}
		if vals[k], err = v.value(i, types[i]); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// rowCorrupt returns an ErrCorrupted error for a row-level failure at byte
// pos of the row. File is empty and Offset is relative to the row until
// locateRowError places it in a file.
func rowCorrupt(pos int, format string, args ...any) error {
	return corruptionError("", int64(pos), "ROW1 row byte %d: "+format, append([]any{pos}, args...)...)
}

// fieldCorrupt returns an ErrCorrupted error for field i of type t, naming
// the field and its position in the row.
func (v rowView) fieldCorrupt(i int, t FieldType, format string, args ...any) error {
	pos := v.fieldPos(i)
	return corruptionError("", int64(pos), "ROW1 field %d (%s) at row byte %d: "+format,
		append([]any{i, t, pos}, args...)...)
}

// locateRowError places a ROW1 decode error in the file that holds the row:
// for a corruption error whose File is still empty it returns a copy with
// File set and Offset moved from row-relative to file-relative (rowOffset is
// where the row starts in file). Other errors are returned unchanged.
func locateRowError(err error, file string, rowOffset int64) error {
	var e *Error
	if err == nil || !errors.As(err, &e) || e.Code != CodeCorrupted || e.File != "" {
		return err
	}
	c := *e
	c.File = file
	if c.Offset >= 0 {
		c.Offset += rowOffset
	} else {
		c.Offset = rowOffset
	}
	return &c
}
