package srdb

import (
	"math"
	"reflect"
	"testing"
)

// TestTypeDescsAgree checks the descriptor table against the codec: every
// valid type's canonical Go value encodes to its ROW1 width and decodes back
// to a value of that Go type, integer ranges round-trip through the
// conversion at both ends, and one past them is refused.
func TestTypeDescsAgree(t *testing.T) {
	s := allTypesSchema(t)
	for i, f := range s.fields {
		d := f.Type.desc()
		if !f.Type.Valid() || d.goType == nil || d.name != f.Type.String() {
			t.Fatalf("%s: descriptor %+v", f.Type, d)
		}
		if d.indexable != (d.class != classJSON) {
			t.Errorf("%s: indexable %v", f.Type, d.indexable)
		}
		if !d.class.isInteger() && d.class != classBool {
			continue
		}
		for _, x := range []uint64{uint64(d.min), d.max} {
			var in any = x
			switch d.class {
			case classSigned:
				in = int64(x)
			case classBool:
				in = x == 1
			}
			cv, err := convertValue(f, in)
			if err != nil {
				t.Fatalf("%s: convert %v: %v", f.Type, in, err)
			}
			raw, err := appendRowValue(nil, i, f.Type, cv)
			if err != nil || len(raw) != int(d.width) {
				t.Fatalf("%s: encode %v: %d bytes, %v", f.Type, cv, len(raw), err)
			}
			got, err := rowView{}.decodeValue(i, f.Type, raw)
			if err != nil || got != cv || reflect.TypeOf(got) != d.goType {
				t.Fatalf("%s: decode = %#v, %v; want %#v", f.Type, got, err, cv)
			}
		}
		if d.class == classBool {
			continue
		}
		// The range is exactly the Go type's.
		gv := reflect.New(d.goType).Elem()
		if d.class == classSigned {
			if gv.OverflowInt(d.min) || gv.OverflowInt(int64(d.max)) ||
				(d.min > math.MinInt64 && !gv.OverflowInt(d.min-1)) ||
				(d.max < math.MaxInt64 && !gv.OverflowInt(int64(d.max)+1)) {
				t.Errorf("%s: range [%d, %d] is not %s's", f.Type, d.min, d.max, d.goType)
			}
		} else if d.min != 0 || gv.OverflowUint(d.max) || (d.max < math.MaxUint64 && !gv.OverflowUint(d.max+1)) {
			t.Errorf("%s: range [%d, %d] is not %s's", f.Type, d.min, d.max, d.goType)
		}
		if d.max < math.MaxInt64 {
			if _, err := convertValue(f, int64(d.max)+1); err == nil {
				t.Errorf("%s: max+1 accepted", f.Type)
			}
		}
		if d.min > math.MinInt64 && d.class == classSigned {
			if _, err := convertValue(f, d.min-1); err == nil {
				t.Errorf("%s: min-1 accepted", f.Type)
			}
		}
	}
}
