package srdb

import (
	"encoding/binary"
	"math"
	"math/big"
)

// Order-preserving index keys.
//
// A secondary index stores, for every row version, the field's value encoded
// as a byte string whose bytewise order (bytes.Compare) is the field type's
// comparison order, followed by the row's seq as 8 big-endian bytes (see
// index.go). Every key is prefix-free — no key of a type is a proper prefix of
// another key of the same type — so the concatenation key ‖ seq still orders
// by key first, then by seq, and a range over keys is a range over entries.
//
// Key layout (frozen: keys are stored in SST index sections):
//
//	NULL        0x00
//	non-NULL    0x01 | body
//
// NULLs are indexed (one byte), so IsNull can use the index and every row has
// exactly one entry per indexed field; they sort before every value. The
// body per type:
//
//	Int8/16/32/64, Int,    two's complement of the type's width, big-endian,
//	Rune, Duration         sign bit flipped (Int and Duration: 8 bytes)
//	Uint8/16/32/64, Uint,  the type's width, big-endian
//	Byte
//	Bool                   0x00 false, 0x01 true
//	Float32, Float64       IEEE 754 bits (4 / 8 bytes) big-endian; positive
//	                       numbers get the sign bit set, negative numbers all
//	                       bits inverted. -0 is encoded as +0 (they compare
//	                       equal); every NaN is encoded as the canonical quiet
//	                       NaN and sorts after +Inf (all NaNs are one key).
//	String, Bytes          the bytes with each 0x00 written as 0x00 0xFF,
//	                       then the terminator 0x00 0x01 (so "a" < "a\x00" <
//	                       "a\x01" < "ab", and no key is a prefix of another)
//	Time                   the instant only (the zone is ignored): Unix
//	                       seconds as int64 big-endian with the sign bit
//	                       flipped (8 B), then nanoseconds uint32 big-endian
//	                       (4 B). Covers every time.Time, not only the
//	                       ±292-year range of int64 nanoseconds.
//	Decimal                class byte: 0x00 negative, 0x01 zero, 0x02
//	                       positive; zero has nothing more. Otherwise the
//	                       value is 0.d1d2…dn × 10^A with d1 ≠ 0 and dn ≠ 0
//	                       (trailing zeros of the coefficient stripped, so
//	                       1.50 and 1.5 are one key) and
//	                         mag := A as int64 big-endian, sign bit flipped
//	                                (8 B) | digits packed two per byte as
//	                                1 + 10·d(2i) + d(2i+1) (an odd last digit
//	                                is padded with 0) | terminator 0x00
//	                       A positive value stores mag, a negative one every
//	                       byte of mag inverted (so a larger magnitude sorts
//	                       lower). Exact for any precision.
//	Object, Array          not indexable (CreateIndex returns ErrInvalidSchema)
//
// A prefix key (encodeIndexPrefix, for StartsWith on String and Bytes) is
// 0x01 followed by the escaped prefix without terminator: exactly the keys of
// the values that start with the prefix begin with it.
const (
	idxTagNull  = 0x00 // key of a NULL
	idxTagValue = 0x01 // first byte of the key of every non-NULL value

	idxEscByte = 0x00 // in String/Bytes bodies 0x00 is escaped as 0x00 0xFF
	idxEscNext = 0xFF
	idxTermEnd = 0x01 // terminator: 0x00 0x01

	idxDecNegative = 0x00 // Decimal class bytes
	idxDecZero     = 0x01
	idxDecPositive = 0x02
	idxDecDigitEnd = 0x00 // terminator of the packed digits

	idxSeqSize = 8 // big-endian seq appended to a key to form an entry
)

// indexableType reports whether a field of type t can carry a secondary
// index (every type but Object and Array, whose JSON has no useful order).
func indexableType(t FieldType) bool {
	return t.desc().indexable
}

// encodeIndexKey returns the index key of v, a value of a field of type t.
// v is nil (NULL) or the canonical Go value of t (see FieldType); any other
// Go type, and Object or Array fields, are ErrInvalidQuery errors.
func encodeIndexKey(t FieldType, v any) ([]byte, error) {
	return appendIndexKey(nil, t, v)
}

// appendIndexKey appends the index key of v to dst (see encodeIndexKey). On
// error dst is returned unchanged. The value is encoded as in a ROW1 row
// first, so that the key comes from the one encoder a stored field's key
// comes from (appendIndexKeyRaw).
func appendIndexKey(dst []byte, t FieldType, v any) ([]byte, error) {
	if v == nil {
		return append(dst, idxTagNull), nil
	}
	if !indexableType(t) {
		return dst, newError(CodeInvalidQuery, "%s values have no index key", t)
	}
	var scratch [rowTimeFixedSize]byte
	raw, err := appendRowValue(scratch[:0], 0, t, v)
	if err != nil {
		return dst, newError(CodeInvalidQuery, "%s index key: value of Go type %T", t, v)
	}
	return appendIndexKeyRaw(dst, rowView{}, 0, t, raw)
}

// encodeIndexPrefix returns the key prefix shared by exactly the keys of the
// String or Bytes values that start with p (p is a string or []byte). Use it
// as indexRange.prefix for StartsWith.
func encodeIndexPrefix(t FieldType, p any) ([]byte, error) {
	if t != String && t != Bytes {
		return nil, newError(CodeInvalidQuery, "prefix index key of a %s field", t)
	}
	dst := []byte{idxTagValue}
	switch x := p.(type) {
	case string:
		return idxAppendEscaped(dst, x), nil
	case []byte:
		return idxAppendEscaped(dst, x), nil
	}
	return nil, newError(CodeInvalidQuery, "prefix index key: value of Go type %T", p)
}

// appendIndexKeyFromRow appends the index key of field i (of type t) of the
// parsed row v, reading the ROW1 bytes directly (no boxing for fixed-width,
// String and Bytes fields). A field value that does not decode is
// ErrCorrupted.
func appendIndexKeyFromRow(dst []byte, v rowView, i int, t FieldType) ([]byte, error) {
	raw, ok := v.field(i)
	if !ok {
		return append(dst, idxTagNull), nil
	}
	if !indexableType(t) {
		return dst, newError(CodeInvalidArgument, "%s field %d is not indexable", t, i)
	}
	return appendIndexKeyRaw(dst, v, i, t, raw)
}

// appendIndexKeyRaw appends the index key of raw, the ROW1 encoding of a
// non-NULL value of the indexable type t (field i of v, which names the
// field in a corruption error). On error dst is returned unchanged.
func appendIndexKeyRaw(dst []byte, v rowView, i int, t FieldType, raw []byte) ([]byte, error) {
	be, le := binary.BigEndian, binary.LittleEndian
	if w, fixed := t.fixedWidth(); fixed && len(raw) != w {
		return dst, v.fieldCorrupt(i, t, "%d bytes, want %d", len(raw), w)
	}
	dst = append(dst, idxTagValue)
	switch t.class() {
	case classSigned:
		return idxAppendInt(dst, len(raw), true, uint64(leInt(raw))), nil
	case classUnsigned:
		return idxAppendInt(dst, len(raw), false, leUint(raw)), nil
	case classBool:
		if raw[0] > 1 {
			return dst[:len(dst)-1], v.fieldCorrupt(i, t, "bool byte 0x%02x", raw[0])
		}
		return append(dst, raw[0]), nil
	case classFloat:
		if t == Float32 {
			return be.AppendUint32(dst, idxFloat32Bits(math.Float32frombits(le.Uint32(raw)))), nil
		}
		return be.AppendUint64(dst, idxFloat64Bits(math.Float64frombits(le.Uint64(raw)))), nil
	case classString, classBytes:
		return idxAppendEscapedTerm(dst, raw), nil
	case classTime:
		if len(raw) < rowTimeFixedSize {
			return dst[:len(dst)-1], v.fieldCorrupt(i, t, "%d bytes, want at least %d", len(raw), rowTimeFixedSize)
		}
		nsec := le.Uint32(raw[rowTimeNsecOffset:])
		if nsec >= rowNanosPerSecond {
			return dst[:len(dst)-1], v.fieldCorrupt(i, t, "nanoseconds %d out of range", nsec)
		}
		return idxAppendTime(dst, int64(le.Uint64(raw)), nsec), nil
	case classDecimal:
		d, err := v.decodeDecimal(i, raw)
		if err != nil {
			return dst[:len(dst)-1], err
		}
		return idxAppendDecimal(dst, d.Coefficient(), int64(d.Exponent())), nil
	}
	return dst[:len(dst)-1], newError(CodeInvalidArgument, "%s field %d is not indexable", t, i)
}

// idxAppendInt appends the body of the key of an integer of width bytes
// held in u (sign-extended when signed): big-endian, with the sign bit of a
// signed value flipped so that unsigned byte order is numeric order.
func idxAppendInt(dst []byte, width int, signed bool, u uint64) []byte {
	if signed {
		u ^= 1 << (width*8 - 1)
	}
	be := binary.BigEndian
	switch width {
	case 1:
		return append(dst, byte(u))
	case 2:
		return be.AppendUint16(dst, uint16(u))
	case 4:
		return be.AppendUint32(dst, uint32(u))
	}
	return be.AppendUint64(dst, u)
}

// idxFloat64Bits maps f to a uint64 whose unsigned order is f's order, with
// -0 = +0 and every NaN above +Inf.
func idxFloat64Bits(f float64) uint64 {
	switch {
	case f != f:
		return math.Float64bits(math.NaN()) | 1<<63 // canonical NaN, positive
	case f == 0:
		return 1 << 63 // +0 and -0
	}
	b := math.Float64bits(f)
	if b&(1<<63) != 0 {
		return ^b
	}
	return b | 1<<63
}

// idxFloat32Bits is idxFloat64Bits for float32.
func idxFloat32Bits(f float32) uint32 {
	switch {
	case f != f:
		return math.Float32bits(float32(math.NaN())) | 1<<31
	case f == 0:
		return 1 << 31
	}
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

// idxAppendEscaped appends s with every 0x00 written as 0x00 0xFF.
func idxAppendEscaped[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == idxEscByte {
			dst = append(dst, idxEscByte, idxEscNext)
			continue
		}
		// Copy the run up to the next 0x00 in one append.
		j := i + 1
		for j < len(s) && s[j] != idxEscByte {
			j++
		}
		dst = append(dst, s[i:j]...)
		i = j - 1
	}
	return dst
}

// idxAppendEscapedTerm appends the escaped s and the terminator.
func idxAppendEscapedTerm[S string | []byte](dst []byte, s S) []byte {
	return append(idxAppendEscaped(dst, s), idxEscByte, idxTermEnd)
}

// idxAppendTime appends the body of a Time key.
func idxAppendTime(dst []byte, sec int64, nsec uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(sec)^(1<<63))
	return binary.BigEndian.AppendUint32(dst, nsec)
}

// idxAppendDecimal appends the body of the Decimal key of coef × 10^exp.
// coef is not modified.
func idxAppendDecimal(dst []byte, coef *big.Int, exp int64) []byte {
	switch coef.Sign() {
	case 0:
		return append(dst, idxDecZero)
	case -1:
		dst = append(dst, idxDecNegative)
	default:
		dst = append(dst, idxDecPositive)
	}
	digits := coef.Append(nil, 10)
	if digits[0] == '-' {
		digits = digits[1:]
	}
	adj := exp + int64(len(digits)) // value = 0.d1d2… × 10^adj
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, uint64(adj)^(1<<63))
	for i := 0; i < len(digits); i += 2 {
		hi := digits[i] - '0'
		lo := byte(0)
		if i+1 < len(digits) {
			lo = digits[i+1] - '0'
		}
		dst = append(dst, 1+10*hi+lo)
	}
	dst = append(dst, idxDecDigitEnd)
	if coef.Sign() < 0 {
		for i := start; i < len(dst); i++ {
			dst[i] = ^dst[i]
		}
	}
	return dst
}

// idxPrefixSuccessor returns the smallest byte string greater than every
// string that starts with p, or nil when there is none (p is all 0xFF).
func idxPrefixSuccessor(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xFF {
			s := append([]byte(nil), p[:i+1]...)
			s[i]++
			return s
		}
	}
	return nil
}
