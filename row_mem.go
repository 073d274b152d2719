package srdb

import (
	"reflect"
	"slices"
	"sync/atomic"
	"unsafe"
)

// A decoded Row is one allocation. Building a Row the plain way costs an
// allocation for the Row, one for its values, one for the copied bytes of
// its strings and byte slices, and one per value the interface conversion
// boxes (every string, byte slice and integer or float wider than a byte):
// seven for a row of the IM schema, most of the cost of a query that
// returns rows (BenchmarkQueryFilteredScanIM).
//
// rowMem lays the Row, its []any values, the boxes those values point to
// and the copied bytes out in one struct type per schema shape, built with
// reflect.StructOf so that the garbage collector knows which words are
// pointers:
//
//	struct {
//		R Row         // the Row; R.vals is V[:]
//		V [n]any      // the values, by field index
//		S [ns]string  // the boxes of the String values (they view T)
//		B [nb][]byte  // the boxes of the Bytes values (windows of T)
//		W [nw]uint64  // the boxes of the 2-, 4- and 8-byte numbers
//		T [k*64]byte  // the copied bytes of the String and Bytes values
//	}
//
// decodeResultRow allocates one such struct per row (T sized up to the
// next multiple of 64 bytes; a row with more than 4 KiB to copy gets a
// separate buffer instead of T), writes each value into its box and points
// the value's interface at the box (boxAt) instead of at a copy on the
// heap. The boxes and T are written once, before the Row is returned, and
// never again, as the values of interfaces must be. Values of the other
// types (Bool and the 1-byte integers, which the runtime boxes without
// allocating, Time, Decimal, Object, Array) are converted the plain way.
type rowMem struct {
	fields  []reflect.StructField // of the struct above, without T
	typ     reflect.Type          // the struct above without T
	valsOff uintptr
	boxes   []rowBox // by field index
	// tails[k] is the struct above with T [k*rowMemTailStep]byte, built on
	// first use.
	tails [rowMemTailMax/rowMemTailStep + 1]atomic.Pointer[rowMemTail]
}

// rowMemTail is a row struct type with a byte tail, and the tail's offset.
type rowMemTail struct {
	typ reflect.Type
	off uintptr
}

// The byte tails of the row structs: their sizes are multiples of
// rowMemTailStep up to rowMemTailMax (a row with more bytes to copy gets a
// separate buffer).
const (
	rowMemTailStep = 64
	rowMemTailMax  = 4096
)

// rowBox is how decodeResultRow stores the value of one field.
type rowBox struct {
	kind  rowBoxKind
	off   uintptr // offset of the box in the struct
	width int     // rowBoxWord: the value's size in bytes (2, 4 or 8)
	zero  any     // a value of the field's Go type: its type word is reused
}

// rowBoxKind says where a field's value lives.
type rowBoxKind uint8

const (
	rowBoxNone   rowBoxKind = iota // converted to an interface the plain way
	rowBoxString                   // in S
	rowBoxBytes                    // in B
	rowBoxWord                     // in W
)

// rowLayout returns the layout of the rows of s, built on first use.
func (s *Schema) rowLayout() *rowMem {
	s.rowMemOnce.Do(func() { s.rowMemVal = newRowMem(s.types()) })
	return s.rowMemVal
}

// newRowMem builds the layout of rows of the given field types.
func newRowMem(types []FieldType) *rowMem {
	m := &rowMem{boxes: make([]rowBox, len(types))}
	var ns, nb, nw int
	for i, t := range types {
		b := &m.boxes[i]
		switch {
		case !boxesWork:
		case t.class() == classString:
			b.kind, b.zero, b.off = rowBoxString, any(""), uintptr(ns)
			ns++
		case t.class() == classBytes:
			b.kind, b.zero, b.off = rowBoxBytes, any([]byte(nil)), uintptr(nb)
			nb++
		case t.class() == classSigned || t.class() == classUnsigned || t.class() == classFloat:
			var zero any
			switch t.class() {
			case classSigned:
				zero = signedValue(t, 0)
			case classUnsigned:
				zero = unsignedValue(t, 0)
			default:
				zero = floatZero(t)
			}
			w, _ := t.fixedWidth()
			if size := reflect.TypeOf(zero).Size(); w >= 2 && uintptr(w) == size {
				b.kind, b.zero, b.width, b.off = rowBoxWord, zero, w, uintptr(nw)
				nw++
			}
		}
	}
	m.fields = []reflect.StructField{
		{Name: "R", Type: reflect.TypeFor[Row]()},
		{Name: "V", Type: reflect.ArrayOf(len(types), reflect.TypeFor[any]())},
		{Name: "S", Type: reflect.ArrayOf(ns, reflect.TypeFor[string]())},
		{Name: "B", Type: reflect.ArrayOf(nb, reflect.TypeFor[[]byte]())},
		{Name: "W", Type: reflect.ArrayOf(nw, reflect.TypeFor[uint64]())},
	}
	m.typ = reflect.StructOf(m.fields)
	m.valsOff = m.typ.Field(1).Offset
	area := map[rowBoxKind]reflect.StructField{rowBoxString: m.typ.Field(2), rowBoxBytes: m.typ.Field(3), rowBoxWord: m.typ.Field(4)}
	for i := range m.boxes {
		if b := &m.boxes[i]; b.kind != rowBoxNone {
			f := area[b.kind]
			b.off = f.Offset + b.off*f.Type.Elem().Size()
		}
	}
	return m
}

// floatZero returns the zero value of a float field type's Go type.
func floatZero(t FieldType) any {
	if t == Float32 {
		return float32(0)
	}
	return float64(0)
}

// newRow allocates the memory of one row and returns its Row, with vals
// set, the base of the memory for the boxes (put*), and an empty buffer
// with room for exactly tail bytes (nil when tail is 0).
func (m *rowMem) newRow(tail int) (*Row, unsafe.Pointer, []byte) {
	var shared []byte
	typ := m.typ
	var t *rowMemTail
	switch {
	case tail > rowMemTailMax:
		shared = make([]byte, 0, tail)
	case tail > 0:
		t = m.tail((tail + rowMemTailStep - 1) / rowMemTailStep)
		typ = t.typ
	}
	base := reflect.New(typ).UnsafePointer()
	if t != nil {
		shared = unsafe.Slice((*byte)(unsafe.Add(base, t.off)), tail)[:0]
	}
	r := (*Row)(base)
	r.vals = unsafe.Slice((*any)(unsafe.Add(base, m.valsOff)), len(m.boxes))
	return r, base, shared
}

// tail returns the row struct with a tail of k steps.
func (m *rowMem) tail(k int) *rowMemTail {
	if t := m.tails[k].Load(); t != nil {
		return t
	}
	typ := reflect.StructOf(append(slices.Clip(m.fields), reflect.StructField{Name: "T", Type: reflect.ArrayOf(k*rowMemTailStep, reflect.TypeFor[byte]())}))
	t := &rowMemTail{typ: typ, off: typ.Field(len(m.fields)).Offset}
	m.tails[k].Store(t)
	return t
}

// putString stores s in field i's box and returns it as an interface.
func (m *rowMem) putString(base unsafe.Pointer, i int, s string) any {
	p := unsafe.Add(base, m.boxes[i].off)
	*(*string)(p) = s
	return boxAt(m.boxes[i].zero, p)
}

// putBytes stores b in field i's box and returns it as an interface.
func (m *rowMem) putBytes(base unsafe.Pointer, i int, b []byte) any {
	p := unsafe.Add(base, m.boxes[i].off)
	*(*[]byte)(p) = b
	return boxAt(m.boxes[i].zero, p)
}

// putWord stores the little-endian stored bytes raw of a number field i
// (exactly the box's width: the caller checked) in its box, as a value of
// the field's Go type, and returns it as an interface.
func (m *rowMem) putWord(base unsafe.Pointer, i int, raw []byte) any {
	b := &m.boxes[i]
	p := unsafe.Add(base, b.off)
	x := leUint(raw)
	switch b.width {
	case 2:
		*(*uint16)(p) = uint16(x)
	case 4:
		*(*uint32)(p) = uint32(x)
	default:
		*(*uint64)(p) = x
	}
	return boxAt(b.zero, p)
}

// efaceWords is the memory layout of an interface{} value: its dynamic
// type and a pointer to its value (for the types rowMem boxes, which are
// not pointer-shaped: the runtime never stores those in the data word
// itself).
type efaceWords struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// boxAt returns an interface of zero's dynamic type whose value is the one
// at p, without copying it: what any(*p) would be, minus the allocation of
// the copy. The value at p must never change afterwards.
func boxAt(zero any, p unsafe.Pointer) any {
	(*efaceWords)(unsafe.Pointer(&zero)).data = p
	return zero
}

// boxesWork reports whether boxAt builds the interfaces it should on this
// platform and toolchain (checked once, against ordinary conversions);
// without it every value is converted the plain way, slower and never
// wrong.
var boxesWork = func() bool {
	s, b := "boxed", []byte("bytes")
	i16, u32, f64 := int16(-12345), uint32(3_000_000_000), 2.5
	if unsafe.Sizeof(efaceWords{}) != unsafe.Sizeof(any(nil)) {
		return false
	}
	got := []any{
		boxAt(any(""), unsafe.Pointer(&s)),
		boxAt(any(int16(0)), unsafe.Pointer(&i16)),
		boxAt(any(uint32(0)), unsafe.Pointer(&u32)),
		boxAt(any(float64(0)), unsafe.Pointer(&f64)),
	}
	want := []any{"boxed", int16(-12345), uint32(3_000_000_000), 2.5}
	for k := range got {
		if got[k] != want[k] {
			return false
		}
	}
	bb, ok := boxAt(any([]byte(nil)), unsafe.Pointer(&b)).([]byte)
	return ok && string(bb) == "bytes" && len(bb) == 5
}()
