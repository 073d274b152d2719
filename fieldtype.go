package srdb

import (
	"math"
	"reflect"
	"time"

	"github.com/shopspring/decimal"
)

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

// The 22 field types. TypeInvalid, the zero value, is none of them.
const (
	TypeInvalid FieldType = iota // zero value, never valid in a schema
	Int                          // int (64-bit on every supported platform)
	Int8                         // int8
	Int16                        // int16
	Int32                        // int32
	Int64                        // int64
	Uint                         // uint
	Uint8                        // uint8
	Uint16                       // uint16
	Uint32                       // uint32
	Uint64                       // uint64
	Float32                      // float32
	Float64                      // float64
	String                       // string (UTF-8 not enforced; bytes compare bytewise)
	Bool                         // bool
	Byte                         // byte
	Rune                         // rune
	Decimal                      // shopspring decimal.Decimal, exact
	Time                         // time.Time, nanosecond precision, zone kept
	Duration                     // time.Duration
	Object                       // map/struct, stored as JSON
	Array                        // slice/array, stored as JSON
	Bytes                        // []byte, raw

	numFieldTypes // one past the last valid type
)

// The long spellings of the field types, from before the short names were
// the only ones the documentation uses. They are the same values.
const (
	// TypeInt is the long spelling of Int.
	//
	// Deprecated: use Int.
	TypeInt = Int
	// TypeInt8 is the long spelling of Int8.
	//
	// Deprecated: use Int8.
	TypeInt8 = Int8
	// TypeInt16 is the long spelling of Int16.
	//
	// Deprecated: use Int16.
	TypeInt16 = Int16
	// TypeInt32 is the long spelling of Int32.
	//
	// Deprecated: use Int32.
	TypeInt32 = Int32
	// TypeInt64 is the long spelling of Int64.
	//
	// Deprecated: use Int64.
	TypeInt64 = Int64
	// TypeUint is the long spelling of Uint.
	//
	// Deprecated: use Uint.
	TypeUint = Uint
	// TypeUint8 is the long spelling of Uint8.
	//
	// Deprecated: use Uint8.
	TypeUint8 = Uint8
	// TypeUint16 is the long spelling of Uint16.
	//
	// Deprecated: use Uint16.
	TypeUint16 = Uint16
	// TypeUint32 is the long spelling of Uint32.
	//
	// Deprecated: use Uint32.
	TypeUint32 = Uint32
	// TypeUint64 is the long spelling of Uint64.
	//
	// Deprecated: use Uint64.
	TypeUint64 = Uint64
	// TypeFloat32 is the long spelling of Float32.
	//
	// Deprecated: use Float32.
	TypeFloat32 = Float32
	// TypeFloat64 is the long spelling of Float64.
	//
	// Deprecated: use Float64.
	TypeFloat64 = Float64
	// TypeString is the long spelling of String.
	//
	// Deprecated: use String.
	TypeString = String
	// TypeBool is the long spelling of Bool.
	//
	// Deprecated: use Bool.
	TypeBool = Bool
	// TypeByte is the long spelling of Byte.
	//
	// Deprecated: use Byte.
	TypeByte = Byte
	// TypeRune is the long spelling of Rune.
	//
	// Deprecated: use Rune.
	TypeRune = Rune
	// TypeDecimal is the long spelling of Decimal.
	//
	// Deprecated: use Decimal.
	TypeDecimal = Decimal
	// TypeTime is the long spelling of Time.
	//
	// Deprecated: use Time.
	TypeTime = Time
	// TypeDuration is the long spelling of Duration.
	//
	// Deprecated: use Duration.
	TypeDuration = Duration
	// TypeObject is the long spelling of Object.
	//
	// Deprecated: use Object.
	TypeObject = Object
	// TypeArray is the long spelling of Array.
	//
	// Deprecated: use Array.
	TypeArray = Array
	// TypeBytes is the long spelling of Bytes.
	//
	// Deprecated: use Bytes.
	TypeBytes = Bytes
)

// typeClass groups the field types that the codecs, comparisons and index
// keys treat alike. Code that needs the group asks the class, never a list
// of types.
type typeClass uint8

const (
	classInvalid  typeClass = iota
	classSigned             // Int…Int64, Rune, Duration: two's complement integers
	classUnsigned           // Uint…Uint64, Byte
	classFloat              // Float32, Float64: IEEE 754
	classBool               // Bool: one byte, 0 or 1
	classString             // String: raw bytes
	classBytes              // Bytes: raw bytes
	classDecimal            // Decimal
	classTime               // Time
	classJSON               // Object, Array: JSON text
)

// typeDesc describes one field type: what the per-type code would otherwise
// re-derive in a switch.
type typeDesc struct {
	name      string       // the name String returns and schema.json stores
	class     typeClass    // how the type is encoded, compared and keyed
	width     uint8        // encoded size in a ROW1 row; 0 for variable-width types
	min       int64        // integer classes and Bool: the smallest value
	max       uint64       // integer classes and Bool: the largest value
	indexable bool         // a field of the type can carry a secondary index
	goType    reflect.Type // the canonical Go type of a value (see FieldType)
}

// typeDescs is the descriptor of every field type, indexed by FieldType.
var typeDescs = [numFieldTypes]typeDesc{
	TypeInvalid: {name: "invalid"},
	Int:         {name: "int", class: classSigned, width: 8, min: math.MinInt, max: math.MaxInt, indexable: true, goType: reflect.TypeFor[int]()},
	Int8:        {name: "int8", class: classSigned, width: 1, min: math.MinInt8, max: math.MaxInt8, indexable: true, goType: reflect.TypeFor[int8]()},
	Int16:       {name: "int16", class: classSigned, width: 2, min: math.MinInt16, max: math.MaxInt16, indexable: true, goType: reflect.TypeFor[int16]()},
	Int32:       {name: "int32", class: classSigned, width: 4, min: math.MinInt32, max: math.MaxInt32, indexable: true, goType: reflect.TypeFor[int32]()},
	Int64:       {name: "int64", class: classSigned, width: 8, min: math.MinInt64, max: math.MaxInt64, indexable: true, goType: reflect.TypeFor[int64]()},
	Uint:        {name: "uint", class: classUnsigned, width: 8, max: math.MaxUint, indexable: true, goType: reflect.TypeFor[uint]()},
	Uint8:       {name: "uint8", class: classUnsigned, width: 1, max: math.MaxUint8, indexable: true, goType: reflect.TypeFor[uint8]()},
	Uint16:      {name: "uint16", class: classUnsigned, width: 2, max: math.MaxUint16, indexable: true, goType: reflect.TypeFor[uint16]()},
	Uint32:      {name: "uint32", class: classUnsigned, width: 4, max: math.MaxUint32, indexable: true, goType: reflect.TypeFor[uint32]()},
	Uint64:      {name: "uint64", class: classUnsigned, width: 8, max: math.MaxUint64, indexable: true, goType: reflect.TypeFor[uint64]()},
	Float32:     {name: "float32", class: classFloat, width: 4, indexable: true, goType: reflect.TypeFor[float32]()},
	Float64:     {name: "float64", class: classFloat, width: 8, indexable: true, goType: reflect.TypeFor[float64]()},
	String:      {name: "string", class: classString, indexable: true, goType: reflect.TypeFor[string]()},
	Bool:        {name: "bool", class: classBool, width: 1, max: 1, indexable: true, goType: reflect.TypeFor[bool]()},
	Byte:        {name: "byte", class: classUnsigned, width: 1, max: math.MaxUint8, indexable: true, goType: reflect.TypeFor[byte]()},
	Rune:        {name: "rune", class: classSigned, width: 4, min: math.MinInt32, max: math.MaxInt32, indexable: true, goType: reflect.TypeFor[rune]()},
	Decimal:     {name: "decimal", class: classDecimal, indexable: true, goType: reflect.TypeFor[decimal.Decimal]()},
	Time:        {name: "time", class: classTime, indexable: true, goType: reflect.TypeFor[time.Time]()},
	Duration:    {name: "duration", class: classSigned, width: 8, min: math.MinInt64, max: math.MaxInt64, indexable: true, goType: reflect.TypeFor[time.Duration]()},
	Object:      {name: "object", class: classJSON, goType: reflect.TypeFor[map[string]any]()},
	Array:       {name: "array", class: classJSON, goType: reflect.TypeFor[[]any]()},
	Bytes:       {name: "bytes", class: classBytes, indexable: true, goType: reflect.TypeFor[[]byte]()},
}

// desc returns the descriptor of t; an out-of-range t gets TypeInvalid's.
func (t FieldType) desc() *typeDesc {
	if t < numFieldTypes {
		return &typeDescs[t]
	}
	return &typeDescs[TypeInvalid]
}

// typeLayout is the part of a descriptor the hot paths (ROW1 decode,
// filters, index keys) read for every value.
type typeLayout struct {
	class typeClass
	width uint8 // typeDesc.width
}

// typeLayouts holds the layout of every FieldType value, copied from
// typeDescs. It covers the whole uint8 range, so a lookup needs no bounds
// check, and an invalid value reads classInvalid, width 0.
var typeLayouts = func() (l [1 << 8]typeLayout) {
	for t, d := range typeDescs {
		l[t] = typeLayout{class: d.class, width: d.width}
	}
	return l
}()

// class returns the class of t (classInvalid for an invalid type).
func (t FieldType) class() typeClass { return typeLayouts[t].class }

// isInteger reports whether t is in the signed or unsigned integer class.
func (c typeClass) isInteger() bool { return c == classSigned || c == classUnsigned }

// String returns the lower-case name of the type ("int64", "decimal", …),
// the same name schema.json uses.
func (t FieldType) String() string {
	return t.desc().name
}

// Valid reports whether t is one of the 22 field types.
func (t FieldType) Valid() bool { return t > TypeInvalid && t < numFieldTypes }

// parseFieldType maps a name produced by String back to its type.
func parseFieldType(name string) (FieldType, bool) {
	for t := Int; t < numFieldTypes; t++ {
		if typeDescs[t].name == name {
			return t, true
		}
	}
	return TypeInvalid, false
}

// fixedWidth returns the encoded size of a fixed-width type in a ROW1 row and
// true, or 0 and false for variable-width types (String, Decimal, Time,
// Object, Array, Bytes).
func (t FieldType) fixedWidth() (int, bool) {
	w := int(typeLayouts[t].width)
	return w, w != 0
}

// signedValue returns x as the canonical Go value of t, a type of
// classSigned; x is within t's range. It is the one place that builds a
// signed integer value of a field type.
func signedValue(t FieldType, x int64) any {
	switch t {
	case Int:
		return int(x)
	case Int8:
		return int8(x)
	case Int16:
		return int16(x)
	case Int32, Rune:
		return int32(x)
	case Duration:
		return time.Duration(x)
	}
	return x
}

// unsignedValue returns u as the canonical Go value of t, a type of
// classUnsigned (or Bool: u != 0); u is within t's range.
func unsignedValue(t FieldType, u uint64) any {
	switch t {
	case Uint:
		return uint(u)
	case Uint8, Byte:
		return uint8(u)
	case Uint16:
		return uint16(u)
	case Uint32:
		return uint32(u)
	case Bool:
		return u != 0
	}
	return u
}
