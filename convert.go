package srdb

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// This file holds the insert-time conversion rules: every value a
// caller hands to Insert or Update is checked against its field and turned
// into the canonical Go value of the field type (see FieldType), or nil for
// NULL. Every rejection is ErrSchemaViolation naming the field, the expected
// type and the Go type received.

// Decimal limits. shopspring/decimal refuses to decode exponents beyond
// decimal.MaxDecodeExponent, so a larger one could be stored but never read
// back; and parsing a decimal string is quadratic in its length, so the text
// is bounded before it is parsed.
const (
	maxDecimalDigits  = 10000                   // digits of the coefficient
	maxDecimalTextLen = 2*maxDecimalDigits + 32 // bytes of a decimal string
	maxQuotedValueLen = 64                      // bytes of a string value quoted in an error
)

// Float limits used by the float → integer rule: a float64 x converts to
// int64 exactly when -2^63 <= x < 2^63, and to uint64 when 0 <= x < 2^64.
const (
	twoPow63 = float64(1 << 63)
	twoPow64 = twoPow63 * 2
)

// The instants representable as int64 nanoseconds since the Unix epoch, the
// range of _time (years 1677 to 2262).
var (
	minRowTime = time.Unix(0, math.MinInt64)
	maxRowTime = time.Unix(0, math.MaxInt64)
)

// rowValues is a row after conversion: vals[i] is the canonical value of
// schema field i (nil for NULL); timeNanos is the row time when the caller
// supplied _time (hasTime), otherwise the engine uses the insert time.
type rowValues struct {
	vals      []any
	timeNanos int64
	hasTime   bool
}

// convertValue checks v against field f and returns the canonical Go value
// of f.Type, or nil for NULL. A nil interface or nil pointer is NULL and is
// allowed only when f is Nullable. convert_test.go holds the full table of
// accepted conversions.
func convertValue(f Field, v any) (any, error) {
	return convertField(&f, v, 0)
}

// convertField is convertValue on a *Field (no copy on the hot path). depth
// counts the pointers followed so far.
func convertField(f *Field, v any, depth int) (any, error) {
	// Fast path: the concrete types callers use most, with no reflection.
	switch x := v.(type) {
	case nil:
		return nullValue(f, v)
	case string:
		switch f.Type {
		case String:
			return v, nil
		case Bytes:
			return []byte(x), nil
		}
		return convertString(f, v, x)
	case int64:
		if f.Type == Int64 {
			return v, nil
		}
		return convertSigned(f, v, x)
	case int:
		if f.Type == Int {
			return v, nil
		}
		return convertSigned(f, v, int64(x))
	case int32:
		if f.Type == Int32 || f.Type == Rune {
			return v, nil
		}
		return convertSigned(f, v, int64(x))
	case int16:
		if f.Type == Int16 {
			return v, nil
		}
		return convertSigned(f, v, int64(x))
	case int8:
		if f.Type == Int8 {
			return v, nil
		}
		return convertSigned(f, v, int64(x))
	case uint8:
		if f.Type == Uint8 || f.Type == Byte {
			return v, nil
		}
		return convertUnsigned(f, v, uint64(x))
	case uint16:
		if f.Type == Uint16 {
			return v, nil
		}
		return convertUnsigned(f, v, uint64(x))
	case uint32:
		if f.Type == Uint32 {
			return v, nil
		}
		return convertUnsigned(f, v, uint64(x))
	case uint64:
		if f.Type == Uint64 {
			return v, nil
		}
		return convertUnsigned(f, v, x)
	case uint:
		if f.Type == Uint {
			return v, nil
		}
		return convertUnsigned(f, v, uint64(x))
	case float64:
		if f.Type == Float64 {
			return v, nil
		}
		return convertFloat(f, v, x, 64)
	case float32:
		if f.Type == Float32 {
			return v, nil
		}
		return convertFloat(f, v, float64(x), 32)
	case bool:
		if f.Type == Bool {
			return v, nil
		}
		return nil, mismatchError(f, v)
	case []byte:
		if f.Type == Bytes {
			b := make([]byte, len(x))
			copy(b, x)
			return b, nil
		}
		return convertReflect(f, v, depth)
	case time.Time:
		if f.Type == Time {
			return canonicalTime(v, x), nil
		}
		return nil, mismatchError(f, v)
	case time.Duration:
		if f.Type == Duration {
			return v, nil
		}
		return convertSigned(f, v, int64(x))
	case decimal.Decimal:
		if f.Type == Decimal {
			return checkDecimal(f, v, x)
		}
		return nil, mismatchError(f, v)
	case map[string]any:
		if f.Type == Object {
			if x == nil {
				return map[string]any{}, nil
			}
			return convertJSON(f, v)
		}
		return nil, mismatchError(f, v)
	case []any:
		if f.Type == Array {
			if x == nil {
				return []any{}, nil
			}
			return convertJSON(f, v)
		}
		return nil, mismatchError(f, v)
	case json.Number:
		return convertJSONNumber(f, v, x)
	case json.RawMessage:
		switch f.Type {
		case Object, Array:
			return convertJSON(f, v)
		case Bytes:
			return append(make([]byte, 0, len(x)), x...), nil
		}
		return nil, mismatchError(f, v)
	}
	return convertReflect(f, v, depth)
}

// convertReflect handles what the fast path does not know: pointers, named
// types (type MyInt int32), maps, structs, slices and arrays.
func convertReflect(f *Field, v any, depth int) (any, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nullValue(f, v)
		}
		if depth >= maxPointerDepth {
			return nil, violation(f, "%T: more than %d levels of pointers", v, maxPointerDepth)
		}
		return convertField(f, rv.Elem().Interface(), depth+1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return convertSigned(f, v, rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return convertUnsigned(f, v, rv.Uint())
	case reflect.Float32:
		return convertFloat(f, v, rv.Float(), 32)
	case reflect.Float64:
		return convertFloat(f, v, rv.Float(), 64)
	case reflect.String:
		if f.Type == String {
			return rv.String(), nil
		}
		return convertString(f, v, rv.String())
	case reflect.Bool:
		if f.Type == Bool {
			return rv.Bool(), nil
		}
	case reflect.Slice:
		isBytes := rv.Type().Elem().Kind() == reflect.Uint8
		switch {
		case f.Type == Bytes && isBytes:
			src := rv.Bytes()
			b := make([]byte, len(src))
			copy(b, src)
			return b, nil
		case f.Type == Array && isBytes:
			return nil, violation(f, "expected array, got %T (a byte slice; use a bytes field)", v)
		case f.Type == Array:
			if rv.IsNil() {
				return []any{}, nil
			}
			return convertJSON(f, v)
		}
	case reflect.Array:
		switch f.Type {
		case Bytes:
			if rv.Type().Elem().Kind() == reflect.Uint8 {
				b := make([]byte, rv.Len())
				for i := range b {
					b[i] = byte(rv.Index(i).Uint())
				}
				return b, nil
			}
		case Array:
			return convertJSON(f, v)
		}
	case reflect.Map:
		if f.Type == Object {
			if rv.IsNil() {
				return map[string]any{}, nil
			}
			return convertJSON(f, v)
		}
	case reflect.Struct:
		if f.Type == Object && rv.Type() != schTimeType && rv.Type() != schDecimalType {
			return convertJSON(f, v)
		}
	}
	return nil, mismatchError(f, v)
}

// convertSigned stores the signed integer n (received as orig) in field f.
func convertSigned(f *Field, orig any, n int64) (any, error) {
	d := f.Type.desc()
	switch d.class {
	case classSigned:
		if n < d.min || n > int64(d.max) {
			return nil, rangeError(f, orig)
		}
		return signedValue(f.Type, n), nil
	case classUnsigned:
		if n < 0 {
			return nil, negativeError(f, orig)
		}
		return convertUnsigned(f, orig, uint64(n))
	case classFloat:
		if f.Type == Float32 {
			return float32(n), nil
		}
		return float64(n), nil
	case classDecimal:
		return decimal.NewFromInt(n), nil
	}
	return nil, mismatchError(f, orig)
}

// convertUnsigned stores the unsigned integer u (received as orig) in f.
func convertUnsigned(f *Field, orig any, u uint64) (any, error) {
	d := f.Type.desc()
	switch d.class {
	case classUnsigned:
		if u > d.max {
			return nil, rangeError(f, orig)
		}
		return unsignedValue(f.Type, u), nil
	case classSigned:
		if u > math.MaxInt64 {
			return nil, rangeError(f, orig)
		}
		return convertSigned(f, orig, int64(u))
	case classFloat:
		if f.Type == Float32 {
			return float32(u), nil
		}
		return float64(u), nil
	case classDecimal:
		return decimal.NewFromUint64(u), nil
	}
	return nil, mismatchError(f, orig)
}

// convertFloat stores the float x (received as orig, of the given bit size)
// in f. Integer fields accept only finite integral values in range (JSON
// numbers arrive as float64); float32 fields accept float64 values within
// the float32 range, NaN and ±Inf.
func convertFloat(f *Field, orig any, x float64, bits int) (any, error) {
	switch f.Type {
	case Float64:
		return x, nil
	case Float32:
		if bits == 64 && !math.IsNaN(x) && !math.IsInf(x, 0) && math.Abs(x) > math.MaxFloat32 {
			return nil, rangeError(f, orig)
		}
		return float32(x), nil
	case Decimal:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, violation(f, "value %v (%T) is not a finite number for decimal field", orig, orig)
		}
		if bits == 32 {
			return decimal.NewFromFloat32(float32(x)), nil
		}
		return decimal.NewFromFloat(x), nil
	}
	if f.Type.class().isInteger() {
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return nil, violation(f, "value %v (%T) is not a finite number for %s field", orig, orig, f.Type)
		case x != math.Trunc(x):
			return nil, violation(f, "value %v (%T) has a fractional part, %s field needs an integer", orig, orig, f.Type)
		case x >= -twoPow63 && x < twoPow63:
			return convertSigned(f, orig, int64(x))
		case x >= 0 && x < twoPow64:
			return convertUnsigned(f, orig, uint64(x))
		case x < 0 && f.Type.class() == classUnsigned:
			return nil, negativeError(f, orig)
		}
		return nil, rangeError(f, orig)
	}
	return nil, mismatchError(f, orig)
}

// convertString stores the string s (received as orig) in a field that is
// not String or Bytes: Time (RFC 3339), Decimal, Duration
// (time.ParseDuration) and Rune (exactly one rune).
func convertString(f *Field, orig any, s string) (any, error) {
	switch f.Type {
	case String:
		return s, nil
	case Bytes:
		return []byte(s), nil
	case Time:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, violation(f, "string %s (%T) is not an RFC 3339 time", quoteShort(s), orig)
		}
		return t, nil
	case Decimal:
		if len(s) > maxDecimalTextLen {
			return nil, violation(f, "decimal string of %d bytes (%T) is longer than the limit of %d", len(s), orig, maxDecimalTextLen)
		}
		d, err := decimal.NewFromString(s)
		if err != nil {
			return nil, violation(f, "string %s (%T) is not a decimal number", quoteShort(s), orig)
		}
		return checkDecimal(f, orig, d)
	case Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, violation(f, "string %s (%T) is not a duration (time.ParseDuration)", quoteShort(s), orig)
		}
		return d, nil
	case Rune:
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || size != len(s) || (r == utf8.RuneError && size == 1) {
			return nil, violation(f, "string %s (%T) is not exactly one UTF-8 rune", quoteShort(s), orig)
		}
		return r, nil
	}
	return nil, mismatchError(f, orig)
}

// convertJSONNumber stores a json.Number (from a decoder with UseNumber):
// as the number it spells in numeric fields, as its text in String fields.
func convertJSONNumber(f *Field, orig any, n json.Number) (any, error) {
	switch f.Type.class() {
	case classString, classDecimal:
		return convertString(f, orig, string(n))
	case classFloat:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !isRangeErr(err) {
			return nil, violation(f, "json.Number %s is not a number", quoteShort(string(n)))
		}
		return convertFloat(f, orig, x, 64)
	case classSigned, classUnsigned:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return convertSigned(f, orig, i)
		}
		if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
			return convertUnsigned(f, orig, u)
		}
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !isRangeErr(err) {
			return nil, violation(f, "json.Number %s is not a number", quoteShort(string(n)))
		}
		return convertFloat(f, orig, x, 64)
	}
	return nil, mismatchError(f, orig)
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// checkDecimal accepts d unless it could not be read back: its exponent must
// be within decimal.MaxDecodeExponent and its coefficient at most
// maxDecimalDigits long.
func checkDecimal(f *Field, orig any, d decimal.Decimal) (any, error) {
	exp := int64(d.Exponent())
	if limit := int64(decimal.MaxDecodeExponent); exp > limit || exp < -limit {
		return nil, violation(f, "decimal exponent %d (%T) is beyond the limit of ±%d", exp, orig, limit)
	}
	if n := d.NumDigits(); n > maxDecimalDigits {
		return nil, violation(f, "decimal with %d digits (%T) is longer than the limit of %d", n, orig, maxDecimalDigits)
	}
	if _, ok := orig.(decimal.Decimal); ok {
		return orig, nil
	}
	return d, nil
}

// canonicalTime drops the monotonic clock reading of t, which a stored time
// cannot keep, so the value stored equals the value read back. v is t boxed,
// returned as is when there is nothing to drop (no allocation).
func canonicalTime(v any, t time.Time) any {
	if s := t.Round(0); s != t {
		return s
	}
	return v
}

// convertJSON turns v into the canonical Object (map[string]any) or Array
// ([]any) value by a JSON round trip, so what is stored is exactly what a
// read returns. A json.RawMessage is decoded directly. JSON null is NULL.
func convertJSON(f *Field, v any) (result any, err error) {
	defer func() {
		// A MarshalJSON method of the caller's type may panic; that must
		// not take the database down with it.
		if r := recover(); r != nil {
			result, err = nil, violation(f, "%T cannot be encoded as JSON: panic: %v", v, r)
		}
	}()
	data, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, violation(f, "%T cannot be encoded as JSON: %v", v, err)
		}
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, violation(f, "%T does not hold valid JSON: %v", v, err)
	}
	switch out.(type) {
	case nil:
		return nullValue(f, v)
	case map[string]any:
		if f.Type == Object {
			return out, nil
		}
	case []any:
		if f.Type == Array {
			return out, nil
		}
	}
	return nil, violation(f, "expected %s, got %T which encodes as JSON %s", jsonKindName(f.Type), v, jsonKindOf(out))
}

func jsonKindName(t FieldType) string {
	if t == Array {
		return "array"
	}
	return "object"
}

func jsonKindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// nullValue is the result of a NULL (orig is nil or a nil pointer) in f.
func nullValue(f *Field, orig any) (any, error) {
	if f.Nullable {
		return nil, nil
	}
	if orig == nil {
		return nil, violation(f, "NULL value for non-nullable %s field", f.Type)
	}
	return nil, violation(f, "NULL value (nil %T) for non-nullable %s field", orig, f.Type)
}

// violation builds an ErrSchemaViolation naming field f.
func violation(f *Field, format string, args ...any) *Error {
	return fieldError(CodeSchemaViolation, f.Name, format, args...)
}

// mismatchError reports a value of a Go type the field does not accept.
func mismatchError(f *Field, v any) *Error {
	return violation(f, "expected %s, got %T", f.Type, v)
}

// rangeError reports a number outside the range of the field type.
func rangeError(f *Field, v any) *Error {
	return violation(f, "value %v (%T) is out of range for %s", v, v, f.Type)
}

// negativeError reports a negative number for an unsigned field.
func negativeError(f *Field, v any) *Error {
	return violation(f, "negative value %v (%T) for unsigned %s field", v, v, f.Type)
}

// quoteShort quotes s for an error message, cut to maxQuotedValueLen bytes.
func quoteShort(s string) string {
	if len(s) <= maxQuotedValueLen {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxQuotedValueLen]) + "…"
}

// rowFromMap converts a map row (Insert's map form) to field order. Unknown
// keys, a _seq key and missing non-nullable fields are ErrSchemaViolation; a
// _time key (time.Time, *time.Time or RFC 3339 string; nil or the zero time
// mean "not given") sets the row time.
//
// It looks every schema field up in m and only walks m when the counts show
// an unknown key, so a valid row costs one map lookup per field.
func (s *Schema) rowFromMap(m map[string]any) (rowValues, error) {
	return s.rowFromMapInto(make([]any, len(s.fields)), m, false)
}

// rowFromMapInto is rowFromMap writing into vals, which has one nil element
// per schema field. With borrow set a []byte value of a Bytes field is
// stored as given instead of copied: for callers (Insert) that encode the
// row before returning and keep nothing of it.
func (s *Schema) rowFromMapInto(vals []any, m map[string]any, borrow bool) (rowValues, error) {
	if m == nil {
		return rowValues{}, newError(CodeSchemaViolation, "nil row")
	}
	found := 0
	for i := range s.fields {
		if s.isDropped(i) {
			continue // stays NULL; a key of that name is unknown
		}
		f := &s.fields[i]
		v, ok := m[f.Name]
		if !ok {
			if !f.Nullable {
				return rowValues{}, violation(f, "missing value for non-nullable %s field", f.Type)
			}
			continue
		}
		found++
		if _, isBytes := v.([]byte); borrow && isBytes && f.Type == Bytes {
			vals[i] = v
			continue
		}
		cv, err := convertField(f, v, 0)
		if err != nil {
			return rowValues{}, err
		}
		vals[i] = cv
	}
	r := rowValues{vals: vals}
	if found != len(m) {
		if tv, ok := m[sysFieldTime]; ok {
			found++
			var err error
			if r.timeNanos, r.hasTime, err = rowTimeOf(tv); err != nil {
				return rowValues{}, err
			}
		}
		if found != len(m) {
			return rowValues{}, s.unknownKeyError(m)
		}
	}
	return r, nil
}

// rowTimeOf converts the value of a _time key to nanoseconds since the Unix
// epoch. ok is false when v leaves the row time to the engine.
func rowTimeOf(v any) (nanos int64, ok bool, err error) {
	var t time.Time
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return 0, false, nil
		}
		t = *x
	case string:
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return 0, false, fieldError(CodeSchemaViolation, sysFieldTime, "string %s is not an RFC 3339 time", quoteShort(x))
		}
	default:
		return 0, false, fieldError(CodeSchemaViolation, sysFieldTime, "expected time.Time or an RFC 3339 string, got %T", v)
	}
	if t.IsZero() {
		return 0, false, nil
	}
	if t.Before(minRowTime) || t.After(maxRowTime) {
		return 0, false, fieldError(CodeSchemaViolation, sysFieldTime, "time %s is outside the range of int64 nanoseconds (years 1678-2262)", t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), true, nil
}

// unknownKeyError names the first (in sorted order, so the message is
// stable) key of m that is not a schema field; _seq gets its own message.
func (s *Schema) unknownKeyError(m map[string]any) error {
	if _, ok := m[sysFieldSeq]; ok {
		return fieldError(CodeSchemaViolation, sysFieldSeq, "_seq is assigned by the database and cannot be written")
	}
	var unknown []string
	for k := range m {
		if _, ok := s.byName[k]; !ok && k != sysFieldTime {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return newError(CodeSchemaViolation, "row does not match the schema") // unreachable: counts disagreed
	}
	slices.Sort(unknown)
	if len(unknown) == 1 {
		return fieldError(CodeSchemaViolation, unknown[0], "unknown field (table %q has no such field)", s.name)
	}
	return fieldError(CodeSchemaViolation, unknown[0], "unknown field (table %q has no such field; %d unknown keys: %s)", s.name, len(unknown), quoteShort(strings.Join(unknown, ", ")))
}

// applyChanges returns a copy of the row vals with the fields named in
// changes replaced by their converted values (Update). nil sets a Nullable
// field to NULL. Unknown fields, _seq and _time are ErrSchemaViolation. An
// empty map returns an unchanged copy; a nil map is an error.
func (s *Schema) applyChanges(vals []any, changes map[string]any) ([]any, error) {
	if changes == nil {
		return nil, newError(CodeSchemaViolation, "nil changes")
	}
	if len(vals) != len(s.fields) {
		return nil, newError(CodeInvalidArgument, "row has %d values, table %q has %d fields", len(vals), s.name, len(s.fields))
	}
	out := make([]any, len(vals))
	copy(out, vals)
	found := 0
	for i := range s.fields {
		if s.isDropped(i) {
			out[i] = nil // the new version keeps no value of a dropped field
			continue
		}
		f := &s.fields[i]
		v, ok := changes[f.Name]
		if !ok {
			continue
		}
		found++
		cv, err := convertField(f, v, 0)
		if err != nil {
			return nil, err
		}
		out[i] = cv
	}
	if found != len(changes) {
		if _, ok := changes[sysFieldTime]; ok {
			return nil, fieldError(CodeSchemaViolation, sysFieldTime, "_time cannot be changed by Update")
		}
		return nil, s.unknownKeyError(changes)
	}
	return out, nil
}

// structPlan is how values of one Go struct type map onto a schema, computed
// once per (schema, type) by structPlanFor and cached in Schema.plans.
type structPlan struct {
	cols      []structPlanCol
	bySchema  []int // bySchema[i] is the element of cols feeding schema field i, or -1
	timeIndex []int // reflect index path of the _time field, nil if none
	err       error // the type does not fit the schema; returned on every use
}

// structPlanCol maps one Go field (by index path) to schema field col.
type structPlanCol struct {
	index  []int
	col    int
	direct structDirect // how to read the value without boxing it first
}

// structDirect says how rowFromStruct reads a Go field whose kind fits the
// schema field directly, skipping reflect.Value.Interface (an allocation per
// field). structGeneric goes through Interface and convertField.
type structDirect uint8

const (
	structGeneric  structDirect = iota
	structString                // string kind into a String field
	structSigned                // int kinds into integer, float, duration or decimal fields
	structUnsigned              // uint kinds into those fields
	structFloat                 // float kinds into float fields
	structBool                  // bool kind into a Bool field
	structBytes                 // byte slice into a Bytes field (copied)
)

// structDirectFor picks the direct reader for Go type t into field type ft.
func structDirectFor(t reflect.Type, ft FieldType) structDirect {
	c := ft.class()
	numeric := c.isInteger() || c == classFloat || c == classDecimal
	switch k := t.Kind(); {
	case k == reflect.String && ft == String:
		return structString
	case k >= reflect.Int && k <= reflect.Int64 && numeric:
		return structSigned
	case k >= reflect.Uint && k <= reflect.Uintptr && numeric:
		return structUnsigned
	case (k == reflect.Float32 || k == reflect.Float64) && c == classFloat:
		return structFloat
	case k == reflect.Bool && ft == Bool:
		return structBool
	case k == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && ft == Bytes:
		return structBytes
	}
	return structGeneric
}

// readStructField converts struct field fv for schema field f, through the
// direct reader when the plan has one. A direct reader that fails retries
// the generic path, whose error names the Go type.
func readStructField(f *Field, fv reflect.Value, d structDirect) (any, error) {
	var (
		v   any
		err error
	)
	switch d {
	case structString:
		return fv.String(), nil
	case structBool:
		return fv.Bool(), nil
	case structBytes:
		src := fv.Bytes()
		b := make([]byte, len(src))
		copy(b, src)
		return b, nil
	case structSigned:
		v, err = convertSigned(f, nil, fv.Int())
	case structUnsigned:
		v, err = convertUnsigned(f, nil, fv.Uint())
	case structFloat:
		bits := 64
		if fv.Kind() == reflect.Float32 {
			bits = 32
		}
		v, err = convertFloat(f, nil, fv.Float(), bits)
	}
	if d != structGeneric && err == nil {
		return v, nil
	}
	if !fv.CanInterface() {
		return nil, violation(f, "struct field of type %v cannot be read", fv.Type())
	}
	return convertField(f, fv.Interface(), 0)
}

// structPlanFor returns the cached plan for struct type t.
func (s *Schema) structPlanFor(t reflect.Type) *structPlan {
	if p, ok := s.plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := s.buildStructPlan(t)
	actual, _ := s.plans.LoadOrStore(t, p)
	return actual.(*structPlan)
}

// buildStructPlan maps the columns of t (same names as StructToFields) to
// schema fields. Go fields unknown to the schema are an error (tag them
// srdb:"-"), as are non-nullable schema fields the struct lacks.
func (s *Schema) buildStructPlan(t reflect.Type) *structPlan {
	cols, err := structColumns(t)
	if err != nil {
		// On Insert a struct that cannot be mapped is a row that does not
		// fit the schema: report it as a schema violation.
		if e, ok := err.(*Error); ok {
			c := *e
			c.Code = CodeSchemaViolation
			err = &c
		}
		return &structPlan{err: err}
	}
	p := &structPlan{}
	covered := make([]bool, len(s.fields))
	for i := range cols {
		c := &cols[i]
		switch c.name {
		case sysFieldSeq:
			continue // filled by Scan, assigned by the database on Insert
		case sysFieldTime:
			if et := c.typ; et != schTimeType && !(et.Kind() == reflect.Pointer && et.Elem() == schTimeType) {
				return &structPlan{err: fieldError(CodeSchemaViolation, sysFieldTime, "Go field %s of type %v: _time needs time.Time or *time.Time", c.goName, et)}
			}
			p.timeIndex = c.index
			continue
		}
		col := s.fieldIndex(c.name)
		if col < 0 {
			return &structPlan{err: fieldError(CodeSchemaViolation, c.name, "Go field %s of %v: unknown field (table %q has no such field; tag it srdb:\"-\" to skip it)", c.goName, t, s.name)}
		}
		covered[col] = true
		p.cols = append(p.cols, structPlanCol{index: c.index, col: col, direct: structDirectFor(c.typ, s.fields[col].Type)})
	}
	p.bySchema = make([]int, len(s.fields))
	for i := range p.bySchema {
		p.bySchema[i] = -1
	}
	for j := range p.cols {
		p.bySchema[p.cols[j].col] = j
	}
	for i, ok := range covered {
		if !ok && !s.fields[i].Nullable {
			f := &s.fields[i]
			return &structPlan{err: violation(f, "missing value for non-nullable %s field (struct %v has no such field)", f.Type, t)}
		}
	}
	return p
}

// rowFromStruct converts a struct or pointer-to-struct row (Insert's struct
// form) to field order, using the same field names as StructToFields. A nil
// pointer is "nil row"; a field reached through a nil embedded pointer is
// NULL; a field tagged srdb:"_time" sets the row time (zero or nil: not
// given); a field tagged srdb:"_seq" is ignored.
func (s *Schema) rowFromStruct(v reflect.Value) (rowValues, error) {
	for depth := 0; v.IsValid() && v.Kind() == reflect.Pointer; depth++ {
		if v.IsNil() || depth == maxPointerDepth {
			return rowValues{}, newError(CodeSchemaViolation, "nil row (%v)", v.Type())
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return rowValues{}, newError(CodeSchemaViolation, "nil row")
	}
	if v.Kind() != reflect.Struct {
		return rowValues{}, newError(CodeSchemaViolation, "expected a struct row, got %v", v.Type())
	}
	p := s.structPlanFor(v.Type())
	if p.err != nil {
		return rowValues{}, p.err
	}
	vals := make([]any, len(s.fields))
	for _, c := range p.cols {
		f := &s.fields[c.col]
		fv, err := v.FieldByIndexErr(c.index)
		if err != nil { // nil embedded pointer: the field is NULL
			if _, err := nullValue(f, nil); err != nil {
				return rowValues{}, err
			}
			continue
		}
		cv, err := readStructField(f, fv, c.direct)
		if err != nil {
			return rowValues{}, err
		}
		vals[c.col] = cv
	}
	r := rowValues{vals: vals}
	if p.timeIndex != nil {
		if fv, err := v.FieldByIndexErr(p.timeIndex); err == nil && fv.CanInterface() {
			var err error
			if r.timeNanos, r.hasTime, err = rowTimeOf(fv.Interface()); err != nil {
				return rowValues{}, err
			}
		}
	}
	return r, nil
}
