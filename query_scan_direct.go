package srdb

import (
	"math"
	"reflect"
	"time"
)

// Query.Scan into structs decodes each result row straight from its ROW1
// bytes into the struct's fields (scanRaw), instead of building a Row —
// a boxed value per field — and copying those by reflection (Row.Scan).
// The common pairs (an integer, float, bool, string or byte-slice field into
// a Go field of the same family, _seq and _time) are decoded in place; every
// other pair (pointers, interfaces, Decimal, Time, Object, Array, numbers
// converted across families) decodes the value as a Row would and assigns it
// with scanAssign, so both paths store the same values and report the same
// errors (TestQueryScanDirectMatchesRowScan).

// scanRaw fills struct value v (addressable) from the encoded row buf of a
// table with schema s, as Row.Scan would from the Row of buf.
func (p *scanPlan) scanRaw(s *Schema, v reflect.Value, buf []byte) error {
	view, err := parseRow(buf)
	if err != nil {
		return err
	}
	for _, c := range p.cols {
		if err := p.scanColumn(s, v, view, c); err != nil {
			return err
		}
	}
	return nil
}

// scanColumn stores column c of row view into struct v.
func (p *scanPlan) scanColumn(s *Schema, v reflect.Value, view rowView, c scanCol) error {
	var (
		b    []byte
		null bool
		ft   FieldType
		name string
	)
	switch c.col {
	case refSeq:
		ft, name = Int64, sysFieldSeq
	case refTime:
		ft, name = Time, sysFieldTime
	default:
		ft, name = s.fields[c.col].Type, s.fields[c.col].Name
		var ok bool
		b, ok = view.field(c.col)
		null = !ok
	}
	fv, ok, err := fieldByIndexAlloc(v, c.index, !null, c.goName)
	if err != nil {
		return err
	}
	if !ok {
		return nil // NULL under a nil embedded pointer: leave it nil
	}
	done, err := scanFast(fv, view, c.col, ft, b, null)
	if err == nil && !done {
		var val any
		switch {
		case c.col == refSeq:
			val = view.seq()
		case c.col == refTime:
			val = time.Unix(0, view.timeNanos())
		case !null:
			val, err = view.decodeValue(c.col, ft, b)
		}
		if err == nil {
			err = scanAssign(fv, val, ft, c.col == refTime)
		}
	}
	if err != nil {
		if _, conv := err.(*scanConvError); !conv {
			return err // a damaged row: ErrCorrupted
		}
		return scanError(name, "Go field %s (%v): %v", c.goName, fv.Type(), err)
	}
	return nil
}

// scanFast stores the value of column col (field type ft; its bytes b, or
// null) into dst when the pair is a common one, and reports whether it did.
// It stores exactly what scanAssign would store from the decoded value.
func scanFast(dst reflect.Value, view rowView, col int, ft FieldType, b []byte, null bool) (bool, error) {
	k := dst.Kind()
	if k == reflect.Pointer || k == reflect.Interface {
		return false, nil
	}
	switch col {
	case refSeq:
		return scanInt(dst, view.seq())
	case refTime:
		switch {
		case dst.Type() == schTimeType:
			*(dst.Addr().Interface().(*time.Time)) = time.Unix(0, view.timeNanos())
			return true, nil
		case k == reflect.Int64:
			dst.SetInt(view.timeNanos())
			return true, nil
		}
		return false, nil
	}
	if null {
		dst.SetZero()
		return true, nil
	}
	if w, fixed := ft.fixedWidth(); fixed && len(b) != w {
		return false, view.fieldCorrupt(col, ft, "%d bytes, want %d", len(b), w)
	}
	switch ft.class() {
	case classSigned:
		return scanInt(dst, leInt(b))
	case classUnsigned:
		return scanUint(dst, leUint(b))
	case classFloat:
		f := math.Float64frombits(leUint(b))
		if ft == Float32 {
			f = float64(math.Float32frombits(uint32(leUint(b))))
		} else if k == reflect.Float32 {
			return false, nil // the range check is scanAssign's
		}
		if k != reflect.Float32 && k != reflect.Float64 {
			return false, nil
		}
		dst.SetFloat(f)
		return true, nil
	case classBool:
		if k != reflect.Bool {
			return false, nil
		}
		x, err := view.decodeBool(col, b)
		if err != nil {
			return false, err
		}
		dst.SetBool(x)
		return true, nil
	case classString, classBytes:
		switch {
		case k == reflect.String && dst.Type().Kind() == reflect.String:
			dst.SetString(string(b))
			return true, nil
		case k == reflect.Slice && dst.Type().Elem().Kind() == reflect.Uint8:
			dst.SetBytes(append([]byte(nil), b...))
			return true, nil
		}
	}
	return false, nil
}

// scanInt stores the signed integer x into an integer or float dst, as
// scanAssign does (an overflow is a conversion error).
func scanInt(dst reflect.Value, x int64) (bool, error) {
	switch k := dst.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		if dst.OverflowInt(x) {
			return false, convErr("value %v does not fit", x)
		}
		dst.SetInt(x)
	case k >= reflect.Uint && k <= reflect.Uintptr:
		if x < 0 || dst.OverflowUint(uint64(x)) {
			return false, convErr("value %v does not fit", x)
		}
		dst.SetUint(uint64(x))
	case k == reflect.Float64:
		dst.SetFloat(float64(x))
	default:
		return false, nil
	}
	return true, nil
}

// scanUint is scanInt for an unsigned x.
func scanUint(dst reflect.Value, x uint64) (bool, error) {
	switch k := dst.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		if x > math.MaxInt64 || dst.OverflowInt(int64(x)) {
			return false, convErr("value %v does not fit", x)
		}
		dst.SetInt(int64(x))
	case k >= reflect.Uint && k <= reflect.Uintptr:
		if dst.OverflowUint(x) {
			return false, convErr("value %v does not fit", x)
		}
		dst.SetUint(x)
	case k == reflect.Float64:
		dst.SetFloat(float64(x))
	default:
		return false, nil
	}
	return true, nil
}
