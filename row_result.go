package srdb

import (
	"time"
	"unsafe"
)

// Row is one row returned by Get, GetPartial or a query. It owns its values
// (nothing aliases the database's files or memtables) and is safe to keep
// and to read from several goroutines.
type Row struct {
	schema    *Schema
	seq       int64
	timeNanos int64
	vals      []any  // by field index; nil = NULL or not decoded
	decoded   []bool // by field index; nil when every field was decoded
}

// decodeResultRow decodes buf into a Row. fields lists the field indexes to
// decode; nil decodes all of them.
//
// The bytes of the String and Bytes values are copied once, into one
// buffer per row, which the values share (strings view it, byte slices are
// capacity-clipped windows of it, so appending to one never reaches
// another). The Row, its values, their boxes and (up to 4 KiB) that buffer
// are one allocation (row_mem.go), instead of one per value. Nothing is
// ever written to the buffer after decoding.
func decodeResultRow(s *Schema, buf []byte, fields []int) (*Row, error) {
	view, err := parseRow(buf)
	if err != nil {
		return nil, err
	}
	return decodeResultView(s, view, fields)
}

// decodeResultView is decodeResultRow of a row already parsed.
func decodeResultView(s *Schema, view rowView, fields []int) (*Row, error) {
	types := s.types()
	var decoded []bool
	if fields != nil {
		decoded = make([]bool, len(types))
		for _, i := range fields {
			if i < 0 || i >= len(types) {
				return nil, newError(CodeInvalidArgument, "field index %d outside the schema's %d fields", i, len(types))
			}
			decoded[i] = true
		}
	}
	want := func(i int) bool { return (decoded == nil || decoded[i]) && !s.isDropped(i) }
	size := 0
	for i, t := range types {
		if want(i) && (t == String || t == Bytes) {
			b, _ := view.field(i)
			size += len(b)
		}
	}
	mem := s.rowLayout()
	row, base, shared := mem.newRow(size)
	vals := row.vals
	for i, t := range types {
		if !want(i) {
			continue
		}
		b, ok := view.field(i)
		box := mem.boxes[i].kind
		switch {
		case !ok: // NULL
		case box == rowBoxWord && len(b) == mem.boxes[i].width:
			vals[i] = mem.putWord(base, i, b)
		case t != String && t != Bytes:
			v, err := view.decodeValue(i, t, b)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		case len(b) == 0 && t == String:
			vals[i] = ""
		case len(b) == 0 && box == rowBoxBytes:
			vals[i] = mem.putBytes(base, i, []byte{})
		case len(b) == 0:
			vals[i] = []byte{}
		default:
			start := len(shared)
			shared = append(shared, b...)
			c := shared[start:len(shared):len(shared)]
			switch {
			case box == rowBoxString:
				vals[i] = mem.putString(base, i, unsafe.String(unsafe.SliceData(c), len(c)))
			case box == rowBoxBytes:
				vals[i] = mem.putBytes(base, i, c)
			case t == String:
				vals[i] = unsafe.String(unsafe.SliceData(c), len(c))
			default:
				vals[i] = c
			}
		}
	}
	row.schema, row.seq, row.timeNanos, row.decoded = s, view.seq(), view.timeNanos(), decoded
	return row, nil
}

// Seq returns the row's _seq (0 for a nil Row).
func (r *Row) Seq() int64 {
	if r == nil {
		return 0
	}
	return r.seq
}

// Time returns the row's _time (the zero time.Time for a nil or zero Row).
func (r *Row) Time() time.Time {
	if r.isZero() {
		return time.Time{}
	}
	return time.Unix(0, r.timeNanos)
}

// isZero reports whether r is nil or a zero Row value (one not returned by
// Get or a query): it has no schema and no values.
func (r *Row) isZero() bool { return r == nil || r.schema == nil }

// Get returns the value of a field ("_seq" and "_time" included) and whether
// the row has it. A NULL returns (nil, true); a field that does not exist or
// was not selected returns (nil, false).
func (r *Row) Get(field string) (any, bool) {
	if r.isZero() {
		return nil, false
	}
	switch field {
	case "_seq":
		return r.seq, true
	case "_time":
		return r.Time(), true
	}
	i := r.schema.fieldIndex(field)
	if i < 0 || i >= len(r.vals) || (r.decoded != nil && !r.decoded[i]) {
		return nil, false
	}
	return r.vals[i], true
}

// Data returns the row as a map from field name to value, with "_seq" and
// "_time". Fields not selected are absent; NULLs are present as nil. A nil
// or zero Row returns nil.
func (r *Row) Data() map[string]any {
	if r.isZero() {
		return nil
	}
	fields := r.schema.fields
	m := make(map[string]any, len(fields)+2)
	m["_seq"] = r.seq
	m["_time"] = r.Time()
	for i, f := range fields {
		if i >= len(r.vals) || (r.decoded != nil && !r.decoded[i]) || r.schema.isDropped(i) {
			continue
		}
		m[f.Name] = r.vals[i]
	}
	return m
}
