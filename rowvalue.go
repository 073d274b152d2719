package srdb

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"time"

	"github.com/shopspring/decimal"
)

// Field layouts of the variable-width types, as offsets within the field.
const (
	rowDecimalExpSize    = 4                        // int32 exponent
	rowDecimalSignOffset = rowDecimalExpSize        // 1-byte sign
	rowDecimalFixedSize  = rowDecimalSignOffset + 1 // the magnitude follows
	rowDecimalNegative   = 1                        // sign byte of a negative coefficient

	rowTimeSecSize       = 8                        // int64 unix seconds
	rowTimeNsecOffset    = rowTimeSecSize           // uint32 nanoseconds
	rowTimeZoneOffset    = rowTimeNsecOffset + 4    // int32 zone offset, seconds east of UTC
	rowTimeNameLenOffset = rowTimeZoneOffset + 4    // uint16 zone name length
	rowTimeFixedSize     = rowTimeNameLenOffset + 2 // the zone name follows
	rowTimeMaxZoneName   = math.MaxUint16           // longest zone name the length can hold

	rowNanosPerSecond = uint32(time.Second / time.Nanosecond) // nanoseconds must be below this

	rowBoolFalse = 0 // the only two valid Bool bytes
	rowBoolTrue  = 1
)

// appendRowValue appends the encoding of v, the non-nil value of field i of
// type t, to dst. v must have the canonical Go type of t; anything else is a
// CodeSchemaViolation error. It uses no reflection, so a fixed-width, String
// or Bytes value allocates nothing when dst has room.
//
// The per-type encodings of a non-NULL field value in the ROW1 data area
// (little-endian; the entry's size delimits each value):
//
//	Int, Int64, Duration      8 B  two's complement int64 (Int is 64-bit)
//	Uint, Uint64              8 B  uint64
//	Int8 / Uint8, Byte        1 B
//	Int16 / Uint16            2 B
//	Int32, Rune / Uint32      4 B
//	Float32                   4 B  IEEE 754 bits (NaN payload, -0 and ±Inf kept)
//	Float64                   8 B  IEEE 754 bits
//	Bool                      1 B  0 = false, 1 = true; any other byte is corrupt
//	String, Bytes             the raw bytes (size 0 = empty, distinct from NULL)
//	Decimal                   exponent int32 (4 B) | sign (1 B: 0 = zero or
//	                          positive, 1 = negative) | magnitude of the
//	                          coefficient, big-endian, no leading zero byte
//	                          (empty for zero). value = ±magnitude × 10^exponent,
//	                          coefficient and exponent kept exactly as given.
//	Time                      unix seconds int64 (8 B) | nanoseconds uint32
//	                          (4 B, < 1e9) | zone offset int32 (4 B, seconds
//	                          east of UTC) | zone name length uint16 (2 B) |
//	                          zone name (the abbreviation from Time.Zone)
//	Object, Array             JSON text (encoding/json); an Object must decode
//	                          to a JSON object, an Array to a JSON array
//
// On decode a Time gets time.UTC for ("UTC", 0), time.Local when the name
// and offset equal those of the local zone at that instant, and otherwise
// time.FixedZone(name, offset): the instant, the nanoseconds and the printed
// zone survive a round trip (the location's IANA name does not).
func appendRowValue(dst []byte, i int, t FieldType, v any) ([]byte, error) {
	le := binary.LittleEndian
	switch t {
	case Int:
		if x, ok := v.(int); ok {
			return le.AppendUint64(dst, uint64(int64(x))), nil
		}
	case Int8:
		if x, ok := v.(int8); ok {
			return append(dst, byte(x)), nil
		}
	case Int16:
		if x, ok := v.(int16); ok {
			return le.AppendUint16(dst, uint16(x)), nil
		}
	case Int32, Rune:
		if x, ok := v.(int32); ok {
			return le.AppendUint32(dst, uint32(x)), nil
		}
	case Int64:
		if x, ok := v.(int64); ok {
			return le.AppendUint64(dst, uint64(x)), nil
		}
	case Uint:
		if x, ok := v.(uint); ok {
			return le.AppendUint64(dst, uint64(x)), nil
		}
	case Uint8, Byte:
		if x, ok := v.(uint8); ok {
			return append(dst, x), nil
		}
	case Uint16:
		if x, ok := v.(uint16); ok {
			return le.AppendUint16(dst, x), nil
		}
	case Uint32:
		if x, ok := v.(uint32); ok {
			return le.AppendUint32(dst, x), nil
		}
	case Uint64:
		if x, ok := v.(uint64); ok {
			return le.AppendUint64(dst, x), nil
		}
	case Float32:
		if x, ok := v.(float32); ok {
			return le.AppendUint32(dst, math.Float32bits(x)), nil
		}
	case Float64:
		if x, ok := v.(float64); ok {
			return le.AppendUint64(dst, math.Float64bits(x)), nil
		}
	case String:
		if x, ok := v.(string); ok {
			return append(dst, x...), nil
		}
	case Bytes:
		if x, ok := v.([]byte); ok {
			return append(dst, x...), nil
		}
	case Bool:
		if x, ok := v.(bool); ok {
			if x {
				return append(dst, rowBoolTrue), nil
			}
			return append(dst, rowBoolFalse), nil
		}
	case Duration:
		if x, ok := v.(time.Duration); ok {
			return le.AppendUint64(dst, uint64(x)), nil
		}
	case Decimal:
		if x, ok := v.(decimal.Decimal); ok {
			return appendRowDecimal(dst, x), nil
		}
	case Time:
		if x, ok := v.(time.Time); ok {
			return appendRowTime(dst, i, x)
		}
	case Object:
		if x, ok := v.(map[string]any); ok {
			if x == nil {
				return append(dst, "{}"...), nil
			}
			return appendRowJSON(dst, i, t, x)
		}
	case Array:
		if x, ok := v.([]any); ok {
			if x == nil {
				return append(dst, "[]"...), nil
			}
			return appendRowJSON(dst, i, t, x)
		}
	default:
		return dst, newError(CodeInvalidArgument, "ROW1 encode: field %d has invalid type %d", i, uint8(t))
	}
	return dst, newError(CodeSchemaViolation, "ROW1 encode: field %d: %s field cannot hold a value of Go type %T", i, t, v)
}

// appendRowDecimal appends d as exponent | sign | big-endian magnitude.
func appendRowDecimal(dst []byte, d decimal.Decimal) []byte {
	coef := d.Coefficient() // a copy; the Decimal is not touched
	dst = binary.LittleEndian.AppendUint32(dst, uint32(d.Exponent()))
	if coef.Sign() < 0 {
		dst = append(dst, rowDecimalNegative)
	} else {
		dst = append(dst, 0)
	}
	n := (coef.BitLen() + 7) / 8
	dst = rowExtend(dst, n)
	coef.FillBytes(dst[len(dst)-n:]) // absolute value, exactly n bytes
	return dst
}

// appendRowTime appends tm as seconds | nanoseconds | zone offset | zone name.
func appendRowTime(dst []byte, i int, tm time.Time) ([]byte, error) {
	name, offset := tm.Zone()
	if len(name) > rowTimeMaxZoneName {
		return dst, newError(CodeSchemaViolation, "ROW1 encode: field %d: time zone name of %d bytes is too long", i, len(name))
	}
	if offset < math.MinInt32 || offset > math.MaxInt32 {
		return dst, newError(CodeSchemaViolation, "ROW1 encode: field %d: time zone offset %d s does not fit int32", i, offset)
	}
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, uint64(tm.Unix()))
	dst = le.AppendUint32(dst, uint32(tm.Nanosecond()))
	dst = le.AppendUint32(dst, uint32(int32(offset)))
	dst = le.AppendUint16(dst, uint16(len(name)))
	return append(dst, name...), nil
}

// appendRowJSON appends the JSON encoding of an Object or Array value.
func appendRowJSON(dst []byte, i int, t FieldType, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, newError(CodeSchemaViolation, "ROW1 encode: field %d: %s value is not JSON-encodable: %w", i, t, err)
	}
	return append(dst, b...), nil
}

// decodeValue decodes the non-NULL bytes b of field i as type t (t valid).
func (v rowView) decodeValue(i int, t FieldType, b []byte) (any, error) {
	if w, fixed := t.fixedWidth(); fixed && len(b) != w {
		return nil, v.fieldCorrupt(i, t, "%d bytes, want %d", len(b), w)
	}
	le := binary.LittleEndian
	switch t.class() {
	case classSigned:
		return signedValue(t, leInt(b)), nil
	case classUnsigned:
		return unsignedValue(t, leUint(b)), nil
	case classFloat:
		if t == Float32 {
			return math.Float32frombits(le.Uint32(b)), nil
		}
		return math.Float64frombits(le.Uint64(b)), nil
	case classBool:
		return v.decodeBool(i, b)
	case classString:
		return string(b), nil
	case classBytes:
		return append(make([]byte, 0, len(b)), b...), nil
	case classDecimal:
		return v.decodeDecimal(i, b)
	case classTime:
		return v.decodeTime(i, b)
	case classJSON:
		return v.decodeJSON(i, t, b)
	}
	return nil, newError(CodeInvalidArgument, "ROW1 decode: field %d has invalid type %d", i, uint8(t))
}

// decodeJSON decodes the JSON text of an Object or Array field.
func (v rowView) decodeJSON(i int, t FieldType, b []byte) (any, error) {
	if t == Object {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, v.fieldCorrupt(i, t, "invalid JSON: %w", err)
		}
		if m == nil { // the JSON literal null
			return nil, v.fieldCorrupt(i, t, "JSON null is not an object")
		}
		return m, nil
	}
	var a []any
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, v.fieldCorrupt(i, t, "invalid JSON: %w", err)
	}
	if a == nil {
		return nil, v.fieldCorrupt(i, t, "JSON null is not an array")
	}
	return a, nil
}

// leUint reads b, the 1, 2, 4 or 8 little-endian bytes of a stored
// integer, zero-extended; leInt sign-extends. They are the one reader of
// stored integers (decode, rowView.intBits, the filters' rawInt and
// rawUint, index keys); each caller checks the width against the type's
// layout first. Both are small enough to inline.
func leUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// leInt is leUint sign-extended from the top bit of b.
func leInt(b []byte) int64 {
	s := 64 - 8*uint(len(b))
	return int64(leUint(b)<<s) >> s
}

// decodeBool decodes a 1-byte Bool.
func (v rowView) decodeBool(i int, b []byte) (bool, error) {
	if len(b) != 1 {
		return false, v.fieldCorrupt(i, Bool, "%d bytes, want 1", len(b))
	}
	switch b[0] {
	case rowBoolFalse:
		return false, nil
	case rowBoolTrue:
		return true, nil
	}
	return false, v.fieldCorrupt(i, Bool, "byte 0x%02x is neither 0 nor 1", b[0])
}

// decodeDecimal decodes exponent | sign | magnitude, accepting only the
// canonical form appendRowDecimal writes. The magnitude is at most the field
// size, so the allocation is bounded by the input.
func (v rowView) decodeDecimal(i int, b []byte) (decimal.Decimal, error) {
	c := byteCursor{b: b}
	exp := c.u32()
	sign := c.u8()
	if c.bad {
		return decimal.Decimal{}, v.fieldCorrupt(i, Decimal, "%d bytes, want at least %d", len(b), rowDecimalFixedSize)
	}
	mag := c.rest()
	switch {
	case sign > rowDecimalNegative:
		return decimal.Decimal{}, v.fieldCorrupt(i, Decimal, "sign byte 0x%02x is neither 0 nor 1", sign)
	case len(mag) > 0 && mag[0] == 0:
		return decimal.Decimal{}, v.fieldCorrupt(i, Decimal, "coefficient has a leading zero byte")
	case len(mag) == 0 && sign == rowDecimalNegative:
		return decimal.Decimal{}, v.fieldCorrupt(i, Decimal, "negative zero coefficient")
	}
	coef := new(big.Int).SetBytes(mag)
	if sign == rowDecimalNegative {
		coef.Neg(coef)
	}
	return decimal.NewFromBigInt(coef, int32(exp)), nil
}

// decodeTime decodes seconds | nanoseconds | zone offset | zone name and
// restores the location (see the table above appendRowValue).
func (v rowView) decodeTime(i int, b []byte) (time.Time, error) {
	c := byteCursor{b: b}
	sec := c.u64()
	nsec := c.u32()
	offset := c.u32()
	nameLen := c.u16()
	if c.bad {
		return time.Time{}, v.fieldCorrupt(i, Time, "%d bytes, want at least %d", len(b), rowTimeFixedSize)
	}
	name := c.bytes(int(nameLen))
	if c.bad || !c.empty() {
		return time.Time{}, v.fieldCorrupt(i, Time, "zone name of %d bytes does not fill the %d-byte field", nameLen, len(b))
	}
	if nsec >= rowNanosPerSecond {
		return time.Time{}, v.fieldCorrupt(i, Time, "nanoseconds %d out of range", nsec)
	}
	tm := time.Unix(int64(sec), int64(nsec))
	return tm.In(rowTimeLocation(tm, name, int(int32(offset)), time.Local)), nil
}

// rowTimeLocation picks the location a decoded Time gets from its stored zone
// name and offset: time.UTC for ("UTC", 0), local when local's zone at the
// instant tm has that name and offset, else a fixed zone. local is a
// parameter so that tests can exercise a non-UTC local zone.
func rowTimeLocation(tm time.Time, name []byte, offset int, local *time.Location) *time.Location {
	if offset == 0 && string(name) == "UTC" {
		return time.UTC
	}
	if lname, loffset := tm.In(local).Zone(); loffset == offset && lname == string(name) {
		return local
	}
	return time.FixedZone(string(name), offset)
}
