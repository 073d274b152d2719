package srdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"
)

// This file turns the argument of Insert into encoded ROW1 rows without
// per-row garbage: the rows of one call are encoded back to back into one
// reused buffer (insertScratch), map rows are converted into a reused value
// slice, and struct rows are encoded straight from their fields (no boxing
// of each value into an interface) when the Go kind and the field type fit
// exactly. Insert needs the encoded bytes only until commitInsert returns:
// the WAL buffer and the memtable arena copy them.

// insertScratch holds the reusable buffers of one Insert call. It is taken
// from insertScratchPool by Insert and put back when the call returns.
//
//	buf:  | row 0 (ROW1) | row 1 (ROW1) | ... |      ends[i] = end of row i in buf
type insertScratch struct {
	one  [1]encodedRow // rows of a single-row Insert (no slice allocation)
	rows []encodedRow  // rows of a batch
	ends []int         // end offset of each row in buf
	buf  []byte        // the encoded rows, back to back
	vals []any         // converted values of a map row, one per schema field
}

// insertScratchPool recycles insertScratch values between Insert calls.
var insertScratchPool = sync.Pool{New: func() any { return new(insertScratch) }}

// Scratch buffers grown beyond these by one big call are dropped rather
// than pinned in the pool.
const (
	maxPooledInsertBuf  = 1 << 20
	maxPooledInsertRows = 4096
)

func getInsertScratch() *insertScratch { return insertScratchPool.Get().(*insertScratch) }

// release returns sc to the pool; nothing of it may be used afterwards. It
// drops every reference to the caller's values.
func (sc *insertScratch) release() {
	if cap(sc.buf) > maxPooledInsertBuf {
		sc.buf = nil
	}
	if cap(sc.rows) > maxPooledInsertRows {
		sc.rows, sc.ends = nil, nil
	}
	clear(sc.rows[:cap(sc.rows)])
	clear(sc.vals)
	sc.one[0] = encodedRow{}
	insertScratchPool.Put(sc)
}

// prepareRows converts and encodes data outside any lock, into sc. The
// returned rows alias sc and are valid until sc.release.
func (t *Table) prepareRows(sc *insertScratch, data any) ([]encodedRow, error) {
	s := t.Schema()
	now := time.Now().UnixNano()
	sc.buf = sc.buf[:0]
	sc.ends = sc.ends[:0]
	switch x := data.(type) {
	case map[string]any:
		ts, err := t.encodeOne(sc, s, now, x, reflect.Value{})
		if err != nil {
			return nil, err
		}
		sc.one[0] = encodedRow{timeNanos: ts, buf: sc.buf}
		return sc.one[:], nil
	case []map[string]any:
		return t.prepareEach(sc, s, now, len(x), func(i int) (any, reflect.Value) { return x[i], reflect.Value{} })
	case []any:
		return t.prepareEach(sc, s, now, len(x), func(i int) (any, reflect.Value) { return x[i], reflect.Value{} })
	case nil:
		return nil, newError(CodeSchemaViolation, "Insert(nil)")
	}
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, newError(CodeSchemaViolation, "Insert of a nil slice")
		}
		return t.prepareEach(sc, s, now, v.Len(), func(i int) (any, reflect.Value) {
			e := v.Index(i)
			if e.Kind() != reflect.Struct && e.Kind() != reflect.Pointer {
				return e.Interface(), reflect.Value{} // a map or an interface element
			}
			return nil, e
		})
	case reflect.Struct, reflect.Pointer:
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, newError(CodeSchemaViolation, "Insert of a nil %T", data)
		}
		if v.Kind() == reflect.Struct || v.Elem().Kind() == reflect.Struct {
			ts, err := t.encodeOne(sc, s, now, nil, v)
			if err != nil {
				return nil, err
			}
			sc.one[0] = encodedRow{timeNanos: ts, buf: sc.buf}
			return sc.one[:], nil
		}
	}
	return nil, newError(CodeSchemaViolation, "Insert takes a map[string]any, a struct or a slice of them, not %T", data)
}

// prepareEach encodes the n rows of a batch; row(i) returns element i as an
// interface value or, for slices of structs, as a reflect.Value (so a struct
// element is not copied into an interface); see encodeOne.
func (t *Table) prepareEach(sc *insertScratch, s *Schema, now int64, n int, row func(i int) (any, reflect.Value)) ([]encodedRow, error) {
	if n > maxBatchRows {
		return nil, newError(CodeInvalidArgument, "batch of %d rows exceeds the limit of %d", n, maxBatchRows)
	}
	if cap(sc.rows) < n {
		sc.rows = make([]encodedRow, n)
		sc.ends = make([]int, 0, n)
	}
	rows := sc.rows[:n]
	for i := range rows {
		v, rv := row(i)
		ts, err := t.encodeOne(sc, s, now, v, rv)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				c := *e
				c.Msg = fmt.Sprintf("row %d of the batch: %s", i, e.Msg)
				return nil, &c
			}
			return nil, err
		}
		rows[i].timeNanos = ts
		sc.ends = append(sc.ends, len(sc.buf))
	}
	// Slice buf only now: it may have moved while it grew.
	start := 0
	for i := range rows {
		end := sc.ends[i]
		rows[i].buf = sc.buf[start:end:end]
		start = end
	}
	return rows, nil
}

// encodeOne converts one row and appends its ROW1 encoding, with seq 0, to
// sc.buf. The row is rv when rv is valid (a struct, a pointer to one, or an
// interface holding either), else v (a map[string]any, a struct or a
// pointer to one). It returns the row's time: the row's _time if given,
// else now.
func (t *Table) encodeOne(sc *insertScratch, s *Schema, now int64, v any, rv reflect.Value) (int64, error) {
	start := len(sc.buf)
	var (
		buf []byte
		ts  = now
		err error
	)
	if rv.IsValid() {
		v = nil
	}
	switch x := v.(type) {
	case map[string]any:
		if cap(sc.vals) < len(s.fields) {
			sc.vals = make([]any, len(s.fields))
		}
		vals := sc.vals[:len(s.fields)]
		clear(vals)
		var rv rowValues
		if rv, err = s.rowFromMapInto(vals, x, true); err != nil {
			return 0, err
		}
		if rv.hasTime {
			ts = rv.timeNanos
		}
		buf, err = encodeRow(sc.buf, 0, ts, s.types(), vals)
	case nil:
		if !rv.IsValid() {
			return 0, newError(CodeSchemaViolation, "nil row")
		}
		buf, ts, err = s.encodeStructRow(sc.buf, now, rv)
	default:
		buf, ts, err = s.encodeStructRow(sc.buf, now, reflect.ValueOf(v))
	}
	if err != nil {
		return 0, err
	}
	sc.buf = buf
	if n := len(buf) - start; n > t.opts.MaxRowSize {
		sc.buf = buf[:start]
		return 0, newError(CodeSchemaViolation, "row of %d bytes exceeds MaxRowSize %d", n, t.opts.MaxRowSize)
	}
	return ts, nil
}

// encodeStructRow appends the ROW1 encoding (seq 0) of the struct row v — a
// struct, a pointer to one, or an interface holding either — to dst and
// returns the row time (its _time field if set, else now). It gives the
// same bytes as rowFromStruct followed by encodeRow; the fields whose Go
// kind matches the schema type exactly are appended directly from the
// struct, the others go through readStructField.
func (s *Schema) encodeStructRow(dst []byte, now int64, v reflect.Value) ([]byte, int64, error) {
	for depth := 0; v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface); depth++ {
		if v.IsNil() || depth == maxPointerDepth {
			if v.IsNil() && v.Kind() == reflect.Interface {
				return dst, 0, newError(CodeSchemaViolation, "nil row")
			}
			return dst, 0, newError(CodeSchemaViolation, "nil row (%v)", v.Type())
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return dst, 0, newError(CodeSchemaViolation, "nil row")
	}
	if v.Kind() != reflect.Struct {
		return dst, 0, newError(CodeSchemaViolation, "expected a struct row, got %v", v.Type())
	}
	p := s.structPlanFor(v.Type())
	if p.err != nil {
		return dst, 0, p.err
	}
	ts := now
	if p.timeIndex != nil {
		if fv, err := v.FieldByIndexErr(p.timeIndex); err == nil && fv.CanInterface() {
			t, ok, err := rowTimeOf(fv.Interface())
			if err != nil {
				return dst, 0, err
			}
			if ok {
				ts = t
			}
		}
	}
	if n := len(s.types()); n > rowMaxFields {
		return dst, 0, newError(CodeInvalidArgument, "ROW1 encode: %d fields, at most %d allowed", n, rowMaxFields)
	}
	out, fits, err := s.encodeStructFields(dst, ts, v, p, rowNarrow)
	if err != nil || fits {
		return out, ts, err
	}
	// The data area outgrew narrow entries: encode again with wide ones.
	out, fits, err = s.encodeStructFields(dst, ts, v, p, rowWide)
	if err == nil && !fits {
		return dst, 0, newError(CodeInvalidArgument, "ROW1 encode: data area exceeds %d bytes", uint64(rowWideMaxData))
	}
	return out, ts, err
}

// encodeStructFields is the ROW1 encoding of encodeStructRow with a given
// offset-table entry width (see encodeRowWidth): fits is false, and dst
// returned with its original length, when the data area outgrows it.
func (s *Schema) encodeStructFields(dst []byte, ts int64, v reflect.Value, p *structPlan, w rowEntryWidth) (out []byte, fits bool, err error) {
	types := s.types()
	n := len(types)
	count := uint16(n)
	if w == rowNarrow {
		count |= rowNarrowBit
	}
	start := len(dst)
	dst = append(dst, rowMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ts))
	dst = binary.LittleEndian.AppendUint16(dst, count)
	table := len(dst)
	dst = rowExtend(dst, n*w.size)
	dataStart := len(dst)
	le := binary.LittleEndian
	for i, typ := range types {
		fieldStart := len(dst)
		null := true
		if j := p.bySchema[i]; j >= 0 {
			c := &p.cols[j]
			f := &s.fields[i]
			fv, err := v.FieldByIndexErr(c.index)
			switch {
			case err != nil: // nil embedded pointer: the field is NULL
				if _, err := nullValue(f, nil); err != nil {
					return dst[:start], false, err
				}
			case c.direct == structString && typ == String:
				dst, null = append(dst, fv.String()...), false
			case c.direct == structBytes && typ == Bytes:
				dst, null = append(dst, fv.Bytes()...), false
			case c.direct == structSigned && (typ == Int64 || typ == Duration):
				dst, null = le.AppendUint64(dst, uint64(fv.Int())), false
			case c.direct == structUnsigned && typ == Uint64:
				dst, null = le.AppendUint64(dst, fv.Uint()), false
			case c.direct == structUnsigned && (typ == Uint8 || typ == Byte) && fv.Uint() <= 0xff:
				dst, null = append(dst, byte(fv.Uint())), false
			case c.direct == structBool && typ == Bool:
				b := byte(rowBoolFalse)
				if fv.Bool() {
					b = rowBoolTrue
				}
				dst, null = append(dst, b), false
			default:
				cv, err := readStructField(f, fv, c.direct)
				if err != nil {
					return dst[:start], false, err
				}
				if cv != nil {
					if dst, err = appendRowValue(dst, i, typ, cv); err != nil {
						return dst[:start], false, err
					}
					null = false
				}
			}
		} else if _, err := nullValue(&s.fields[i], nil); err != nil {
			return dst[:start], false, err
		}
		if null {
			w.put(dst, table+i*w.size, 0, w.null)
			continue
		}
		if uint64(len(dst)-dataStart) > w.maxData {
			return dst[:start], false, nil
		}
		w.put(dst, table+i*w.size, uint32(fieldStart-dataStart), uint32(len(dst)-fieldStart))
	}
	return dst, true, nil
}
