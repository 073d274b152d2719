package srdb

// FieldType is the type of a schema field. The numeric values are stored in
// schema.json (as names) and must never be reordered.
//
// After validation on insert every non-NULL value is held in its canonical Go
// type, the type a Row returns from Get and Data:
//
//	Int      int              Uint     uint             Float32  float32
//	Int8     int8             Uint8    uint8            Float64  float64
//	Int16    int16            Uint16   uint16           String   string
//	Int32    int32            Uint32   uint32           Bool     bool
//	Int64    int64            Uint64   uint64           Byte     byte (uint8)
//	Rune     rune (int32)     Decimal  decimal.Decimal  Time     time.Time
//	Duration time.Duration    Object   map[string]any   Array    []any
//	Bytes    []byte
//
// Object and Array are stored as JSON, so after a round trip their numbers
// come back as float64 (encoding/json's rules). A NULL is a nil interface.
type FieldType uint8

// The 22 field types.
const (
	TypeInvalid  FieldType = iota // zero value, never valid in a schema
	TypeInt                       // int (64-bit on every supported platform)
	TypeInt8                      // int8
	TypeInt16                     // int16
	TypeInt32                     // int32
	TypeInt64                     // int64
	TypeUint                      // uint
	TypeUint8                     // uint8
	TypeUint16                    // uint16
	TypeUint32                    // uint32
	TypeUint64                    // uint64
	TypeFloat32                   // float32
	TypeFloat64                   // float64
	TypeString                    // string (UTF-8 not enforced; bytes compare bytewise)
	TypeBool                      // bool
	TypeByte                      // byte
	TypeRune                      // rune
	TypeDecimal                   // shopspring decimal.Decimal, exact
	TypeTime                      // time.Time, nanosecond precision, zone kept
	TypeDuration                  // time.Duration
	TypeObject                    // map/struct, stored as JSON
	TypeArray                     // slice/array, stored as JSON
	TypeBytes                     // []byte, raw

	numFieldTypes // one past the last valid type
)

// Short aliases (srdb.Int, srdb.String, …) used in schema literals.
const (
	Int      = TypeInt
	Int8     = TypeInt8
	Int16    = TypeInt16
	Int32    = TypeInt32
	Int64    = TypeInt64
	Uint     = TypeUint
	Uint8    = TypeUint8
	Uint16   = TypeUint16
	Uint32   = TypeUint32
	Uint64   = TypeUint64
	Float32  = TypeFloat32
	Float64  = TypeFloat64
	String   = TypeString
	Bool     = TypeBool
	Byte     = TypeByte
	Rune     = TypeRune
	Decimal  = TypeDecimal
	Time     = TypeTime
	Duration = TypeDuration
	Object   = TypeObject
	Array    = TypeArray
	Bytes    = TypeBytes
)

var fieldTypeNames = [numFieldTypes]string{
	TypeInvalid:  "invalid",
	TypeInt:      "int",
	TypeInt8:     "int8",
	TypeInt16:    "int16",
	TypeInt32:    "int32",
	TypeInt64:    "int64",
	TypeUint:     "uint",
	TypeUint8:    "uint8",
	TypeUint16:   "uint16",
	TypeUint32:   "uint32",
	TypeUint64:   "uint64",
	TypeFloat32:  "float32",
	TypeFloat64:  "float64",
	TypeString:   "string",
	TypeBool:     "bool",
	TypeByte:     "byte",
	TypeRune:     "rune",
	TypeDecimal:  "decimal",
	TypeTime:     "time",
	TypeDuration: "duration",
	TypeObject:   "object",
	TypeArray:    "array",
	TypeBytes:    "bytes",
}

// String returns the lower-case name of the type ("int64", "decimal", …),
// the same name schema.json uses.
func (t FieldType) String() string {
	if t < numFieldTypes {
		return fieldTypeNames[t]
	}
	return "invalid"
}

// Valid reports whether t is one of the 22 field types.
func (t FieldType) Valid() bool { return t > TypeInvalid && t < numFieldTypes }

// parseFieldType maps a name produced by String back to its type.
func parseFieldType(name string) (FieldType, bool) {
	for t := TypeInt; t < numFieldTypes; t++ {
		if fieldTypeNames[t] == name {
			return t, true
		}
	}
	return TypeInvalid, false
}

// fixedWidth returns the encoded size of a fixed-width type in a ROW1 row and
// true, or 0 and false for variable-width types (String, Decimal, Time,
// Object, Array, Bytes).
func (t FieldType) fixedWidth() (int, bool) {
	switch t {
	case TypeInt8, TypeUint8, TypeBool, TypeByte:
		return 1, true
	case TypeInt16, TypeUint16:
		return 2, true
	case TypeInt32, TypeUint32, TypeFloat32, TypeRune:
		return 4, true
	case TypeInt, TypeInt64, TypeUint, TypeUint64, TypeFloat64, TypeDuration:
		return 8, true
	}
	return 0, false
}
