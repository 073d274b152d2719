package srdb

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"
)

// Scanning copies rows into Go values: Row.Scan fills one struct or map,
// Query.Scan fills a slice of them or the first row. Struct fields map to
// table fields exactly as StructToFields and Insert map them (srdb tags,
// snake_case names, embedded structs flattened), so the struct a table was
// declared with scans back without extra tags. A field tagged srdb:"_seq"
// receives the row's seq (any integer kind), one tagged srdb:"_time" its
// time (time.Time, *time.Time, or an int64 kind for Unix nanoseconds).

// scanPlan is how one Go struct type maps onto one schema for Scan.
type scanPlan struct {
	cols []scanCol
	err  error // the type cannot be scanned from this schema; returned on every use
}

// scanCol maps a Go struct field (by index path) to a schema field index, or
// to refSeq / refTime.
type scanCol struct {
	index  []int
	col    int
	goName string
}

// scanError builds the CodeInvalidArgument error of a failed scan.
func scanError(field, format string, args ...any) *Error {
	return fieldError(CodeInvalidArgument, field, "Scan: "+format, args...)
}

// scanPlanFor returns the scan plan of struct type t for s, cached on s
// (like insert plans): a schema replaced by a schema change takes its plans
// with it when it is no longer referenced.
func scanPlanFor(s *Schema, t reflect.Type) *scanPlan {
	if p, ok := s.scanPlans.Load(t); ok {
		return p.(*scanPlan)
	}
	p, _ := s.scanPlans.LoadOrStore(t, buildScanPlan(s, t))
	return p.(*scanPlan)
}

// buildScanPlan maps the columns of struct type t to the fields of s and
// checks that each Go type can receive its field's values. A Go field with
// no table field (one the table never had, or a dropped one) is not part of
// the plan: Scan leaves it as it is (sqlx semantics), so a struct that
// gained a field scans rows of a table that has not.
func buildScanPlan(s *Schema, t reflect.Type) *scanPlan {
	cols, err := structColumns(t)
	if err != nil {
		e := *(err.(*Error))
		e.Code = CodeInvalidArgument
		return &scanPlan{err: &e}
	}
	p := &scanPlan{}
	for _, c := range cols {
		sc := scanCol{index: c.index, goName: c.goName}
		ft := TypeInvalid
		switch c.name {
		case sysFieldSeq:
			sc.col = refSeq
		case sysFieldTime:
			sc.col = refTime
		default:
			sc.col = s.fieldIndex(c.name)
			if sc.col < 0 {
				continue // the table has no such field: left as it is
			}
			ft = s.fields[sc.col].Type
		}
		if !scanCompatible(c.typ, sc.col, ft) {
			what := ft.String()
			if sc.col < 0 {
				what = c.name
			}
			return &scanPlan{err: scanError(c.name, "Go field %s of type %v cannot hold %s values", c.goName, c.typ, what)}
		}
		p.cols = append(p.cols, sc)
	}
	return p
}

// scanCompatible reports whether Go type t (pointers stripped) can receive
// values of field type ft (col refSeq / refTime for the system fields).
func scanCompatible(t reflect.Type, col int, ft FieldType) bool {
	for depth := 0; t.Kind() == reflect.Pointer; depth++ {
		if depth == maxPointerDepth {
			return false
		}
		t = t.Elem()
	}
	k := t.Kind()
	if k == reflect.Interface {
		return t.NumMethod() == 0
	}
	isInt := k >= reflect.Int && k <= reflect.Uintptr
	isFloat := k == reflect.Float32 || k == reflect.Float64
	isBytes := k == reflect.Slice && t.Elem().Kind() == reflect.Uint8
	switch col {
	case refSeq:
		return isInt
	case refTime:
		return t == schTimeType || k == reflect.Int64
	}
	switch ft.class() {
	case classSigned, classUnsigned:
		return isInt || isFloat
	case classFloat:
		return isFloat
	case classBool:
		return k == reflect.Bool
	case classString, classBytes:
		return k == reflect.String || isBytes
	case classDecimal:
		return t == schDecimalType || k == reflect.String
	case classTime:
		return t == schTimeType
	}
	switch ft {
	case Object:
		return t == schRawJSONType || k == reflect.Map || (k == reflect.Struct && t != schTimeType && t != schDecimalType)
	case Array:
		return t == schRawJSONType || (k == reflect.Slice && !isBytes) || k == reflect.Array
	}
	return false
}

// Scan copies the row into dest: a pointer to a struct (see StructToFields
// for how fields are matched; pointer fields receive NULL as nil, other
// fields receive NULL as their zero value; fields not selected by the
// query, and fields the table does not have, are left as they are, so a
// fresh struct keeps their zero value) or a *map[string]any (replaced by
// Data()).
// A Go field that cannot hold its field's values, or a number that does not
// fit it, is an error with code CodeInvalidArgument naming the field.
func (r *Row) Scan(dest any) error {
	if r.isZero() {
		return scanError("", "nil or zero Row (not returned by Get or a query)")
	}
	if m, ok := dest.(*map[string]any); ok {
		if m == nil {
			return scanError("", "nil *map[string]any")
		}
		*m = r.Data()
		return nil
	}
	rv := reflect.ValueOf(dest)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return scanError("", "destination must be a non-nil pointer to a struct or a map[string]any, got %T", dest)
	}
	v := rv.Elem()
	for depth := 0; v.Kind() == reflect.Pointer; depth++ {
		if depth == maxPointerDepth {
			return scanError("", "destination %T has too many pointer levels", dest)
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return scanError("", "destination must point to a struct or a map[string]any, got %T", dest)
	}
	return r.scanStruct(v)
}

// scanStruct fills struct value v (addressable).
func (r *Row) scanStruct(v reflect.Value) error {
	p := scanPlanFor(r.schema, v.Type())
	if p.err != nil {
		return p.err
	}
	for _, c := range p.cols {
		var val any
		var ft FieldType
		switch c.col {
		case refSeq:
			val, ft = r.seq, Int64
		case refTime:
			val, ft = r.Time(), Time
		default:
			if c.col >= len(r.vals) || (r.decoded != nil && !r.decoded[c.col]) {
				continue // not selected
			}
			val, ft = r.vals[c.col], r.schema.fields[c.col].Type
		}
		fv, ok, err := fieldByIndexAlloc(v, c.index, val != nil, c.goName)
		if err != nil {
			return err
		}
		if !ok {
			continue // NULL under a nil embedded pointer: leave it nil
		}
		if err := scanAssign(fv, val, ft, c.col == refTime); err != nil {
			name := ""
			if c.col >= 0 {
				name = r.schema.fields[c.col].Name
			} else if c.col == refSeq {
				name = sysFieldSeq
			} else {
				name = sysFieldTime
			}
			return scanError(name, "Go field %s (%v): %v", c.goName, fv.Type(), err)
		}
	}
	return nil
}

// fieldByIndexAlloc returns the field at index path of struct v, allocating
// nil embedded pointers on the way when alloc is true (else reporting false
// for a field under a nil pointer). A nil embedded pointer to an unexported
// struct type cannot be set by reflection (as encoding/json, it is an
// error naming goName, the Go field, rather than a panic).
func fieldByIndexAlloc(v reflect.Value, index []int, alloc bool, goName string) (reflect.Value, bool, error) {
	for n, i := range index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !alloc {
					return reflect.Value{}, false, nil
				}
				if !v.CanSet() {
					return reflect.Value{}, false, scanError("", "Go field %s: cannot set the nil embedded pointer to unexported struct type %v", goName, v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true, nil
}

// scanConvError is the cause of a failed scan of one value.
type scanConvError struct{ msg string }

func (e *scanConvError) Error() string { return e.msg }

func convErr(format string, args ...any) error {
	return &scanConvError{msg: fmt.Sprintf(format, args...)}
}

// scanAssign stores the canonical value v of a field of type ft into dst.
func scanAssign(dst reflect.Value, v any, ft FieldType, isTime bool) error {
	if v == nil {
		dst.SetZero()
		return nil
	}
	if dst.Kind() == reflect.Pointer {
		p := reflect.New(dst.Type().Elem())
		if err := scanAssign(p.Elem(), v, ft, isTime); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	}
	sv := reflect.ValueOf(v)
	if dst.Kind() == reflect.Interface {
		if !sv.Type().AssignableTo(dst.Type()) {
			return convErr("a %T does not implement %v", v, dst.Type())
		}
		dst.Set(sv)
		return nil
	}
	if sv.Type() == dst.Type() {
		if b, ok := v.([]byte); ok { // Row values are shared: never alias them
			dst.SetBytes(append([]byte(nil), b...))
			return nil
		}
		dst.Set(sv)
		return nil
	}
	if dst.Type() == schRawJSONType && (ft == Object || ft == Array) {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		dst.SetBytes(b)
		return nil
	}
	switch k := dst.Kind(); {
	case isTime && k == reflect.Int64:
		dst.SetInt(v.(time.Time).UnixNano())
		return nil
	case k >= reflect.Int && k <= reflect.Int64:
		switch sk := sv.Kind(); {
		case sk >= reflect.Int && sk <= reflect.Int64:
			if n := sv.Int(); !dst.OverflowInt(n) {
				dst.SetInt(n)
				return nil
			}
		case sk >= reflect.Uint && sk <= reflect.Uintptr:
			if n := sv.Uint(); n <= math.MaxInt64 && !dst.OverflowInt(int64(n)) {
				dst.SetInt(int64(n))
				return nil
			}
		default:
			return convErr("cannot store a %T", v)
		}
		return convErr("value %v does not fit", v)
	case k >= reflect.Uint && k <= reflect.Uintptr:
		switch sk := sv.Kind(); {
		case sk >= reflect.Int && sk <= reflect.Int64:
			if n := sv.Int(); n >= 0 && !dst.OverflowUint(uint64(n)) {
				dst.SetUint(uint64(n))
				return nil
			}
		case sk >= reflect.Uint && sk <= reflect.Uintptr:
			if n := sv.Uint(); !dst.OverflowUint(n) {
				dst.SetUint(n)
				return nil
			}
		default:
			return convErr("cannot store a %T", v)
		}
		return convErr("value %v does not fit", v)
	case k == reflect.Float32 || k == reflect.Float64:
		var f float64
		switch sk := sv.Kind(); {
		case sk == reflect.Float32 || sk == reflect.Float64:
			f = sv.Float()
		case sk >= reflect.Int && sk <= reflect.Int64:
			f = float64(sv.Int())
		case sk >= reflect.Uint && sk <= reflect.Uintptr:
			f = float64(sv.Uint())
		default:
			return convErr("cannot store a %T", v)
		}
		if k == reflect.Float32 && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
			return convErr("value %v does not fit", v)
		}
		dst.SetFloat(f)
		return nil
	case k == reflect.Bool && sv.Kind() == reflect.Bool:
		dst.SetBool(sv.Bool())
		return nil
	case k == reflect.String:
		switch x := v.(type) {
		case string:
			dst.SetString(x)
			return nil
		case []byte:
			dst.SetString(string(x))
			return nil
		case decimalValue:
			dst.SetString(x.String())
			return nil
		}
	case k == reflect.Slice && dst.Type().Elem().Kind() == reflect.Uint8 && ft != Array:
		switch x := v.(type) {
		case string:
			dst.SetBytes([]byte(x))
			return nil
		case []byte:
			dst.SetBytes(append([]byte(nil), x...))
			return nil
		}
	case ft == Object || ft == Array:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, dst.Addr().Interface())
	}
	return convErr("cannot store a %T", v)
}

// Scan runs the query and copies its result into dest:
//
//   - *[]T, *[]*T (T a struct) or *[]map[string]any: every row, in order;
//     the slice is replaced (not appended to) once all rows are read;
//   - *T (T a struct) or *map[string]any: the first row, or ErrNotFound.
//
// Struct fields are matched as in Row.Scan. The destination type is checked
// before any row is read.
func (q *Query) Scan(dest any) error {
	if q == nil {
		return queryError("", "nil Query")
	}
	rv := reflect.ValueOf(dest)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return scanError("", "destination must be a non-nil pointer, got %T", dest)
	}
	elem := rv.Elem()
	switch elem.Kind() {
	case reflect.Struct, reflect.Map:
		if _, ok := dest.(*map[string]any); !ok && elem.Kind() == reflect.Map {
			return scanError("", "destination map must be a map[string]any, got %T", dest)
		}
		if elem.Kind() == reflect.Struct && q.t != nil {
			if p := scanPlanFor(q.t.Schema(), elem.Type()); p.err != nil {
				return p.err
			}
		}
		row, err := q.First()
		if err != nil {
			return err
		}
		return row.Scan(dest)
	case reflect.Slice:
	default:
		return scanError("", "destination must be *[]T, *[]*T, *[]map[string]any, *T or *map[string]any, got %T", dest)
	}
	et := elem.Type().Elem()
	mapElem := et == reflect.TypeFor[map[string]any]()
	ptrElem := et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct
	structType := et
	if ptrElem {
		structType = et.Elem()
	}
	if !mapElem && structType.Kind() != reflect.Struct {
		return scanError("", "slice elements must be structs, pointers to structs or map[string]any, got %v", et)
	}
	if !mapElem && q.t != nil {
		if p := scanPlanFor(q.t.Schema(), structType); p.err != nil {
			return p.err
		}
	}
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	out := reflect.MakeSlice(elem.Type(), 0, 16)
	if !mapElem && rows.tail == nil && rows.p.proj == nil {
		// Every field selected: decode each row straight into its struct
		// (query_scan_direct.go).
		p := scanPlanFor(rows.p.s, structType)
		if p.err != nil {
			return p.err
		}
		fill := func(buf []byte) error {
			if ptrElem {
				sp := reflect.New(structType)
				if err := p.scanRaw(rows.p.s, sp.Elem(), buf); err != nil {
					return err
				}
				out = reflect.Append(out, sp)
				return nil
			}
			out = reflect.Append(out, reflect.Zero(et))
			return p.scanRaw(rows.p.s, out.Index(out.Len()-1), buf)
		}
		for rows.nextInto(fill) {
		}
		if err := rows.Close(); err != nil {
			return err
		}
		elem.Set(out)
		return nil
	}
	for rows.Next() {
		row := rows.Row()
		switch {
		case mapElem:
			out = reflect.Append(out, reflect.ValueOf(row.Data()))
		case ptrElem:
			p := reflect.New(structType)
			if err := row.scanStruct(p.Elem()); err != nil {
				return err
			}
			out = reflect.Append(out, p)
		default:
			out = reflect.Append(out, reflect.Zero(et))
			if err := row.scanStruct(out.Index(out.Len() - 1)); err != nil {
				return err
			}
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	elem.Set(out)
	return nil
}
