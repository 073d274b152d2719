package srdb

import "encoding/binary"

// byteCursor reads the fields of an encoded structure front to back: the
// little-endian integers of a ROW1 value, an SST header, footer or section
// directory, a WAL record, and the varints of a version edit. It is the one
// byte reader of the codecs.
//
// Reading past the end never panics: the read returns zero (nil for bytes),
// leaves off where the failed read began and sets bad, which stays set, so
// every later read fails too. A decoder checks bad once after a group of
// reads. For errors that name a place in a file, file and base say where b
// lies: errorf and corruptAt build the ErrCorrupted error with the absolute
// offset base+off.
type byteCursor struct {
	b    []byte
	off  int    // the next byte to read
	bad  bool   // a read ran past the end (or a varint was malformed)
	file string // the file b comes from, for errorf / corruptAt
	base int64  // the offset of b[0] in file
}

// bytes returns the next n bytes (aliasing b), or nil when fewer remain.
func (c *byteCursor) bytes(n int) []byte {
	if c.bad || n < 0 || n > len(c.b)-c.off {
		c.bad = true
		return nil
	}
	v := c.b[c.off : c.off+n : c.off+n]
	c.off += n
	return v
}

func (c *byteCursor) u8() uint8 {
	if v := c.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *byteCursor) u16() uint16 {
	if v := c.bytes(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (c *byteCursor) u32() uint32 {
	if v := c.bytes(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (c *byteCursor) u64() uint64 {
	if v := c.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (c *byteCursor) i64() int64 { return int64(c.u64()) }

// uvarint reads an unsigned varint (encoding/binary); a truncated or
// overlong one sets bad.
func (c *byteCursor) uvarint() uint64 { return readVarint(c, binary.Uvarint) }

// varint reads a zig-zag signed varint, like uvarint.
func (c *byteCursor) varint() int64 { return readVarint(c, binary.Varint) }

// readVarint reads one varint of c with read (binary.Uvarint or
// binary.Varint).
func readVarint[T uint64 | int64](c *byteCursor, read func([]byte) (T, int)) T {
	if c.bad {
		return 0
	}
	v, n := read(c.b[c.off:])
	if n <= 0 {
		c.bad = true
		return 0
	}
	c.off += n
	return v
}

// rest returns every unread byte.
func (c *byteCursor) rest() []byte {
	v := c.b[c.off:]
	c.off = len(c.b)
	return v
}

// remaining returns the number of unread bytes.
func (c *byteCursor) remaining() int { return len(c.b) - c.off }

// empty reports whether every byte has been read.
func (c *byteCursor) empty() bool { return c.off >= len(c.b) }

// sub returns a cursor over the next n bytes, placed in the same file, and
// advances past them; when fewer remain it sets bad and so does the result.
func (c *byteCursor) sub(n int) *byteCursor {
	start := c.off
	b := c.bytes(n)
	return &byteCursor{b: b, bad: c.bad, file: c.file, base: c.base + int64(start)}
}

// corruptAt returns the ErrCorrupted error for the field at off in b: it
// names file and the absolute offset base+off.
func (c *byteCursor) corruptAt(off int, format string, args ...any) error {
	return corruptionError(c.file, c.base+int64(off), format, args...)
}

// errorf is corruptAt at the current offset (where a failed read began).
func (c *byteCursor) errorf(format string, args ...any) error {
	return c.corruptAt(c.off, format, args...)
}
