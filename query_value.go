package srdb

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// This file converts the values of a query condition, once when the query is
// compiled, into the domain in which the field's stored values are compared:
//
//	domain     field types                               compared as
//	domInt     Int…Int64, Rune, Duration, _seq, _time    int64
//	domUint    Uint…Uint64, Byte, Bool (0/1)              uint64
//	domFloat   Float32, Float64                           float64 (a Float32 widens exactly)
//	domBytes   String, Bytes                              bytes, lexicographically
//	domTime    Time                                       instant (Unix s, ns), zone ignored
//	domDecimal Decimal                                    exact (decimal.Cmp)
//	domJSON    Object, Array                              equality of the JSON text only
//
// Numeric arguments are held exactly (big.Rat) and every comparison is
// rewritten into an equivalent one on the field's own values: x < 2.5 on an
// integer field becomes x <= 2, x > 300 on a Uint8 field matches nothing,
// x < uint64(1<<63) on an Int64 field matches every non-NULL value, and
// Eq(int8 field, 1000) matches nothing. So the per-row test is one or two
// native comparisons, whatever mix of Go types the caller used. For Float32
// and Float64 fields an argument is first rounded to the field's width, as
// Insert rounds a value (see floatRound).

// decimalValue is the Decimal type, named here so query_expr.go needs no
// import of the decimal package.
type decimalValue = decimal.Decimal

// valDomain is how a field's stored values are compared (see above).
type valDomain uint8

const (
	domInt valDomain = iota
	domUint
	domFloat
	domBytes
	domTime
	domDecimal
	domJSON
)

// leafForm is the normalized shape of a leaf condition.
type leafForm uint8

const (
	formRange    leafForm = iota // lo <= x <= hi (each bound optional, inclusive or not)
	formIn                       // x is one of set
	formNotIn                    // x is none of set
	formNull                     // x is NULL
	formNotNull                  // x is not NULL
	formContains                 // pat occurs in x
	formPrefix                   // x starts with pat
	formSuffix                   // x ends with pat
)

// qbound is one end of a range, in the fields of its domain. For domInt and
// domUint both ends always hold a value (the domain's extreme when the
// condition leaves that side open) and are inclusive; ok says whether the
// condition bounds that side. canon is the bound as the canonical Go value
// of the field's type (for index keys).
type qbound struct {
	ok   bool
	incl bool
	domValue
	canon any
}

// domValue is a value in the representation of its domain (valDomain):
// only the field of the domain is set. Query bounds and sort keys hold
// their values this way and compare them with compare.
type domValue struct {
	i int64
	u uint64
	f float64
	b []byte
	t timeKey
	d decimal.Decimal
}

// compare orders a and b, values of domain dom (floats: NaN first, as
// cmp.Compare does).
func (a *domValue) compare(dom valDomain, b *domValue) int {
	switch dom {
	case domInt:
		return cmp.Compare(a.i, b.i)
	case domUint:
		return cmp.Compare(a.u, b.u)
	case domFloat:
		return cmp.Compare(a.f, b.f)
	case domBytes:
		return bytes.Compare(a.b, b.b)
	case domTime:
		return a.t.compare(b.t)
	case domDecimal:
		return a.d.Cmp(b.d)
	}
	return 0
}

// qset is the value list of an In / NotIn (Eq and NotEq are one-element
// lists), sorted and without duplicates in the slice of its domain; canon
// holds the same values as canonical Go values, in the same order.
type qset struct {
	i     []int64
	u     []uint64
	f     []float64
	b     [][]byte
	t     []timeKey
	d     []decimal.Decimal
	canon []any
}

func (s *qset) len() int { return len(s.canon) }

// leafCond is a compiled leaf condition.
type leafCond struct {
	src   Expr   // the condition as written, for Explain (text)
	op    exprOp // the operator as written
	ref   fieldRef
	dom   valDomain
	form  leafForm
	empty bool // formRange / formIn: no value can match
	lo    qbound
	hi    qbound
	set   qset
	pat   []byte
}

// domainOf returns the comparison domain of a field.
func domainOf(ref fieldRef) valDomain {
	if ref.idx < 0 {
		return domInt
	}
	switch ref.ft.class() {
	case classSigned:
		return domInt
	case classUnsigned, classBool:
		return domUint
	case classFloat:
		return domFloat
	case classString, classBytes:
		return domBytes
	case classTime:
		return domTime
	case classDecimal:
		return domDecimal
	}
	return domJSON
}

// text is the condition as written (Explain and error messages).
func (l *leafCond) text() string { return l.src.String() }

// leafArgCounts is the number of values each operator takes, when not 1
// (-1: any number).
var leafArgCounts = map[exprOp]int{opIsNull: 0, opNotNull: 0, opBetween: 2, opIn: -1, opNotIn: -1}

// compileLeaf checks the arguments of one leaf against its field and
// normalizes them (see the file comment).
func compileLeaf(ref fieldRef, op exprOp, args []any, src Expr) (*leafCond, error) {
	l := &leafCond{src: src, op: op, ref: ref, dom: domainOf(ref)}
	n, ok := leafArgCounts[op]
	if !ok {
		n = 1
	}
	if n >= 0 && len(args) != n {
		return nil, queryError(ref.name, "%s takes %d values, got %d", op, n, len(args))
	}
	switch op {
	case opIsNull:
		l.form = formNull
		return l, nil
	case opNotNull:
		l.form = formNotNull
		return l, nil
	case opContains, opStartsWith, opEndsWith:
		if l.dom != domBytes || ref.idx < 0 {
			return nil, queryError(ref.name, "%s needs a string or bytes field, %s is %s", op, ref.name, ref.ft)
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, queryError(ref.name, "%s needs a string, got %T", op, args[0])
		}
		l.form = map[exprOp]leafForm{opContains: formContains, opStartsWith: formPrefix, opEndsWith: formSuffix}[op]
		l.pat = []byte(s)
		return l, nil
	case opEq, opNotEq, opIn, opNotIn:
		l.form = formIn
		if op == opNotEq || op == opNotIn {
			l.form = formNotIn
		}
		if op == opIn || op == opNotIn {
			args = expandInArgs(ref.ft, args)
		}
		if err := l.buildSet(args); err != nil {
			return nil, err
		}
		l.empty = l.set.len() == 0
		return l, nil
	case opLt, opGt, opLte, opGte, opBetween:
		if l.dom == domJSON {
			return nil, queryError(ref.name, "%s cannot be compared with %s (only =, !=, IN, NOT IN and NULL tests)", ref.ft, op)
		}
		l.form = formRange
		l.initRange()
		if op == opBetween {
			if err := l.addBound(opGte, args[0]); err != nil {
				return nil, err
			}
			return l, l.addBound(opLte, args[1])
		}
		return l, l.addBound(op, args[0])
	}
	return nil, queryError(ref.name, "unknown operator %d", op)
}

// nilArgError rejects a nil comparison value.
func nilArgError(ref fieldRef) error {
	return queryError(ref.name, "nil value: use IsNull or NotNull to test for NULL")
}

// argError reports a value that cannot be compared with the field.
func argError(ref fieldRef, v any, detail string) error {
	what := ref.ft.String()
	if ref.idx == refTime {
		what = "time"
	}
	if detail != "" {
		return queryError(ref.name, "cannot compare %s field with %T (%s)", what, v, detail)
	}
	return queryError(ref.name, "cannot compare %s field with %T", what, v)
}

// convertArg converts v with the insert rules (convertValue) for the field's
// type, as ErrInvalidQuery on failure.
func convertArg(ref fieldRef, v any) (any, error) {
	cv, err := convertValue(Field{Name: ref.name, Type: ref.ft, Nullable: true}, v)
	if err != nil {
		msg := err.Error()
		if e, ok := err.(*Error); ok {
			msg = e.Msg
		}
		return nil, argError(ref, v, msg)
	}
	if cv == nil {
		return nil, nilArgError(ref)
	}
	return cv, nil
}

// ---- integer domains ----

var (
	bigMinInt64 = big.NewInt(math.MinInt64)
	bigMaxInt64 = big.NewInt(math.MaxInt64)
)

// intDomainRange returns the smallest and largest value of an integer-domain
// field.
func intDomainRange(ref fieldRef) (lo, hi *big.Int) {
	if ref.idx < 0 {
		return bigMinInt64, bigMaxInt64
	}
	d := ref.ft.desc()
	return big.NewInt(d.min), new(big.Int).SetUint64(d.max)
}

// numArg is a numeric query argument held exactly: NaN, ±Inf, or a finite
// rational. A float64 argument also keeps its value (f, isFloat) so that it
// is compared with Float64 fields directly.
type numArg struct {
	nan     bool
	inf     int // +1 or -1 for ±Inf
	r       *big.Rat
	isFloat bool
	f       float64
}

func ratNum(r *big.Rat) numArg { return numArg{r: r} }

func floatNum(f float64) numArg {
	switch {
	case math.IsNaN(f):
		return numArg{nan: true, isFloat: true, f: f}
	case math.IsInf(f, 1):
		return numArg{inf: 1, isFloat: true, f: f}
	case math.IsInf(f, -1):
		return numArg{inf: -1, isFloat: true, f: f}
	}
	return numArg{r: new(big.Rat).SetFloat64(f), isFloat: true, f: f}
}

// maxQueryDecimalExp bounds the exponent of a Decimal argument compared with
// a numeric field: its exact value is materialized as a fraction.
const maxQueryDecimalExp = 10000

// numFromGo returns the exact value of a Go number (any int, uint or float
// kind, decimal.Decimal, json.Number); ok is false for anything else.
func numFromGo(v any) (numArg, bool) {
	switch x := v.(type) {
	case int:
		return ratNum(new(big.Rat).SetInt64(int64(x))), true
	case int64:
		return ratNum(new(big.Rat).SetInt64(x)), true
	case uint64:
		return ratNum(new(big.Rat).SetUint64(x)), true
	case float64:
		return floatNum(x), true
	case float32:
		return floatNum(float64(x)), true
	case decimal.Decimal:
		if e := x.Exponent(); e > maxQueryDecimalExp || e < -maxQueryDecimalExp {
			return numArg{}, false
		}
		return ratNum(x.Rat()), true
	case json.Number:
		if len(x) > maxDecimalTextLen {
			return numArg{}, false
		}
		d, err := decimal.NewFromString(string(x))
		if err != nil {
			return numArg{}, false
		}
		return numFromGo(d)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ratNum(new(big.Rat).SetInt64(rv.Int())), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return ratNum(new(big.Rat).SetUint64(rv.Uint())), true
	case reflect.Float32, reflect.Float64:
		return floatNum(rv.Float()), true
	}
	return numArg{}, false
}

// numArgFor converts a comparison argument of a numeric-domain field (or of
// _seq / _time) to an exact number. Non-numeric arguments go through the
// insert conversion of the field's type first (a Duration field accepts
// "1s", a Rune field "x", a Bool field true). _time accepts time.Time and
// RFC 3339 strings (compared by instant) and integers (Unix nanoseconds).
func numArgFor(ref fieldRef, v any) (numArg, error) {
	if v == nil {
		return numArg{}, nilArgError(ref)
	}
	if ref.idx == refTime {
		return timeNanosArg(ref, v)
	}
	if ref.ft == Bool {
		cv, err := convertArg(ref, v)
		if err != nil {
			return numArg{}, err
		}
		if cv.(bool) {
			return ratNum(big.NewRat(1, 1)), nil
		}
		return ratNum(new(big.Rat)), nil
	}
	if n, ok := numFromGo(v); ok {
		return n, nil
	}
	if ref.idx == refSeq {
		return numArg{}, argError(ref, v, "_seq compares with numbers")
	}
	cv, err := convertArg(ref, v)
	if err != nil {
		return numArg{}, err
	}
	if n, ok := numFromGo(cv); ok {
		return n, nil
	}
	return numArg{}, argError(ref, v, "")
}

// timeNanosArg converts an argument of _time to Unix nanoseconds, exactly
// (an instant outside the int64 range stays outside it).
func timeNanosArg(ref fieldRef, v any) (numArg, error) {
	var tm time.Time
	switch x := v.(type) {
	case time.Time:
		tm = x
	case *time.Time:
		if x == nil {
			return numArg{}, nilArgError(ref)
		}
		tm = *x
	case string:
		var err error
		if tm, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return numArg{}, argError(ref, v, "not an RFC 3339 time")
		}
	default:
		if n, ok := numFromGo(v); ok {
			return n, nil
		}
		return numArg{}, argError(ref, v, "_time compares with time.Time, RFC 3339 strings or Unix nanoseconds")
	}
	ns := new(big.Int).Mul(big.NewInt(tm.Unix()), big.NewInt(int64(time.Second)))
	ns.Add(ns, big.NewInt(int64(tm.Nanosecond())))
	return ratNum(new(big.Rat).SetInt(ns)), nil
}

// ratFloor / ratCeil round a rational down / up to an integer.
func ratFloor(r *big.Rat) *big.Int {
	// Div is Euclidean division; with the positive denominator of a Rat
	// that is floor division.
	return new(big.Int).Div(r.Num(), r.Denom())
}

func ratCeil(r *big.Rat) *big.Int {
	q := ratFloor(r)
	if !r.IsInt() {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// canonInt returns x as the canonical Go value of an integer-domain field
// (x is within the field's range).
func canonInt(ref fieldRef, x int64) any {
	if ref.idx < 0 {
		return x
	}
	return signedValue(ref.ft, x)
}

// canonUint is canonInt for the unsigned domain (and Bool).
func canonUint(ref fieldRef, x uint64) any {
	return unsignedValue(ref.ft, x)
}

// intBound builds the (inclusive) bound for integer value x.
func (l *leafCond) intBound(x *big.Int) qbound {
	b := qbound{ok: true, incl: true}
	if l.dom == domUint {
		b.u = x.Uint64()
		b.canon = canonUint(l.ref, b.u)
	} else {
		b.i = x.Int64()
		b.canon = canonInt(l.ref, b.i)
	}
	return b
}

// goInt64 returns v as an int64 when it is a Go signed integer (the common
// argument of a range on an integer field: no big.Rat needed).
func goInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	}
	return 0, false
}

// addIntBound is addBound for a signed-integer field and an int64
// argument x, in int64 arithmetic; it intersects exactly as the big.Int
// path does (lower: op is > or >=).
func (l *leafCond) addIntBound(lower bool, op exprOp, x int64) {
	dlo, dhi := int64(math.MinInt64), int64(math.MaxInt64)
	if l.ref.idx >= 0 {
		d := l.ref.ft.desc()
		dlo, dhi = d.min, int64(d.max)
	}
	y := x
	switch op {
	case opLt: // x-1, and below every value when x is the smallest int64
		if x == math.MinInt64 {
			l.empty = true
			return
		}
		y = x - 1
	case opGt:
		if x == math.MaxInt64 {
			l.empty = true
			return
		}
		y = x + 1
	}
	b := qbound{ok: true, incl: true, domValue: domValue{i: y}, canon: canonInt(l.ref, y)}
	if lower {
		switch {
		case y > dhi:
			l.empty = true
			return
		case y < dlo:
			return
		}
		if !l.lo.ok || l.cmpBoundVals(b, l.lo) > 0 {
			l.lo = b
		}
	} else {
		switch {
		case y < dlo:
			l.empty = true
			return
		case y > dhi:
			return
		}
		if !l.hi.ok || l.cmpBoundVals(b, l.hi) < 0 {
			l.hi = b
		}
	}
	l.checkEmpty()
}

// ---- float domain ----

// floatRound converts a numeric argument of a Float32 or Float64 field the
// way Insert converts a value: to the nearest value of the field's width,
// so that Eq("f32", 0.1) matches the 0.1 stored in a Float32 field. It
// returns that value as down == up with exact true. Only an argument beyond
// the width's finite range is compared exactly: then down and up are the
// nearest values below and above it (the largest finite value and +Inf,
// say) and exact is false. q is not NaN.
func floatRound(q numArg, f32 bool) (down, up float64, exact bool) {
	if q.inf != 0 {
		x := math.Inf(q.inf)
		return x, x, true
	}
	var c float64
	switch {
	case q.isFloat && !f32:
		return q.f, q.f, true
	case q.isFloat:
		c = float64(float32(q.f))
	case f32:
		c32, _ := q.r.Float32()
		c = float64(c32)
	default:
		c, _ = q.r.Float64()
	}
	if !math.IsInf(c, 0) {
		return c, c, true
	}
	maxF := math.MaxFloat64
	if f32 {
		maxF = math.MaxFloat32
	}
	if c > 0 {
		return maxF, c, false
	}
	return c, -maxF, false
}

func (l *leafCond) floatCanon(f float64) any {
	if l.ref.ft == Float32 {
		return float32(f)
	}
	return f
}

// ---- ranges ----

// initRange sets both ends of a range to "unbounded" (for the integer
// domains: the domain's extremes, inclusive).
func (l *leafCond) initRange() {
	l.lo, l.hi = qbound{}, qbound{}
	switch l.dom {
	case domInt:
		dlo, dhi := int64(math.MinInt64), int64(math.MaxInt64)
		if l.ref.idx >= 0 {
			d := l.ref.ft.desc()
			dlo, dhi = d.min, int64(d.max)
		}
		l.lo = qbound{incl: true, domValue: domValue{i: dlo}, canon: canonInt(l.ref, dlo)}
		l.hi = qbound{incl: true, domValue: domValue{i: dhi}, canon: canonInt(l.ref, dhi)}
	case domUint:
		lo, hi := intDomainRange(l.ref)
		l.lo, l.hi = l.intBound(lo), l.intBound(hi)
		l.lo.ok, l.hi.ok = false, false
	}
}

// addBound intersects the range with "x op v" (op one of < > <= >=).
func (l *leafCond) addBound(op exprOp, v any) error {
	if v == nil {
		return nilArgError(l.ref)
	}
	lower := op == opGt || op == opGte
	incl := op == opLte || op == opGte
	switch l.dom {
	case domInt, domUint:
		if x, ok := goInt64(v); ok && l.dom == domInt {
			l.addIntBound(lower, op, x)
			return nil
		}
		q, err := numArgFor(l.ref, v)
		if err != nil {
			return err
		}
		dlo, dhi := intDomainRange(l.ref)
		var x *big.Int
		switch {
		case q.nan:
			l.empty = true
			return nil
		case q.inf != 0:
			if (q.inf > 0) == lower { // x > +Inf, x < -Inf
				l.empty = true
			}
			return nil // x < +Inf, x > -Inf: no bound
		case op == opLt:
			x = new(big.Int).Sub(ratCeil(q.r), big.NewInt(1))
		case op == opLte:
			x = ratFloor(q.r)
		case op == opGt:
			x = new(big.Int).Add(ratFloor(q.r), big.NewInt(1))
		default: // opGte
			x = ratCeil(q.r)
		}
		if lower {
			if x.Cmp(dhi) > 0 {
				l.empty = true
				return nil
			}
			if x.Cmp(dlo) < 0 {
				return nil
			}
			b := l.intBound(x)
			if !l.lo.ok || l.cmpBoundVals(b, l.lo) > 0 {
				l.lo = b
			}
		} else {
			if x.Cmp(dlo) < 0 {
				l.empty = true
				return nil
			}
			if x.Cmp(dhi) > 0 {
				return nil
			}
			b := l.intBound(x)
			if !l.hi.ok || l.cmpBoundVals(b, l.hi) < 0 {
				l.hi = b
			}
		}
		l.checkEmpty()
		return nil
	case domFloat:
		q, err := numArgFor(l.ref, v)
		if err != nil {
			return err
		}
		if q.nan {
			l.empty = true
			return nil
		}
		down, up, exact := floatRound(q, l.ref.ft == Float32)
		b := qbound{ok: true, incl: true}
		switch {
		case exact:
			b.f, b.incl = down, incl
		case lower:
			b.f = up
		default:
			b.f = down
		}
		b.canon = l.floatCanon(b.f)
		l.tighten(lower, b)
		return nil
	case domBytes:
		x, err := bytesArg(l.ref, v)
		if err != nil {
			return err
		}
		l.tighten(lower, qbound{ok: true, incl: incl, domValue: domValue{b: x}, canon: l.bytesCanon(x)})
		return nil
	case domTime:
		cv, err := convertArg(l.ref, v)
		if err != nil {
			return err
		}
		tm := cv.(time.Time)
		l.tighten(lower, qbound{ok: true, incl: incl, domValue: domValue{t: timeKey{sec: tm.Unix(), nsec: int32(tm.Nanosecond())}}, canon: tm})
		return nil
	case domDecimal:
		cv, err := convertArg(l.ref, v)
		if err != nil {
			return err
		}
		d := cv.(decimal.Decimal)
		l.tighten(lower, qbound{ok: true, incl: incl, domValue: domValue{d: d}, canon: d})
		return nil
	}
	return queryError(l.ref.name, "%s cannot be compared with %s", l.ref.ft, op)
}

// tighten replaces the lower (or upper) bound with b when b is tighter.
func (l *leafCond) tighten(lower bool, b qbound) {
	cur := &l.hi
	if lower {
		cur = &l.lo
	}
	switch {
	case !cur.ok:
		*cur = b
	default:
		c := l.cmpBoundVals(b, *cur)
		if (lower && c > 0) || (!lower && c < 0) {
			*cur = b
		} else if c == 0 && !b.incl {
			cur.incl = false
		}
	}
	l.checkEmpty()
}

// checkEmpty marks the range empty when lo > hi or they meet exclusively.
func (l *leafCond) checkEmpty() {
	if !l.lo.ok && !l.hi.ok {
		return
	}
	if l.dom == domInt || l.dom == domUint {
		// both ends always hold values
		if l.cmpBoundVals(l.lo, l.hi) > 0 {
			l.empty = true
		}
		return
	}
	if !l.lo.ok || !l.hi.ok {
		return
	}
	c := l.cmpBoundVals(l.lo, l.hi)
	if c > 0 || (c == 0 && (!l.lo.incl || !l.hi.incl)) {
		l.empty = true
	}
}

// cmpBoundVals compares the values of two bounds of the leaf's domain.
func (l *leafCond) cmpBoundVals(a, b qbound) int {
	return a.domValue.compare(l.dom, &b.domValue)
}

// ---- bytes ----

// bytesArg converts an argument of a String or Bytes field: a string or a
// byte slice (named types included).
func bytesArg(ref fieldRef, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return slices.Clone(x), nil
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.String:
		return []byte(rv.String()), nil
	case rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8:
		return slices.Clone(rv.Bytes()), nil
	}
	return nil, argError(ref, v, "")
}

func (l *leafCond) bytesCanon(b []byte) any {
	if l.ref.ft == String {
		return string(b)
	}
	return b
}

// ---- sets ----

// setMember is one value of an In list in its domain form and canonical form.
type setMember[T any] struct {
	v     T
	canon any
}

// sortedMembers sorts and dedupes ms and splits them into the domain slice
// and the canonical slice.
func sortedMembers[T any](ms []setMember[T], compare func(a, b T) int) ([]T, []any) {
	slices.SortStableFunc(ms, func(a, b setMember[T]) int { return compare(a.v, b.v) })
	ms = slices.CompactFunc(ms, func(a, b setMember[T]) bool { return compare(a.v, b.v) == 0 })
	vs := make([]T, len(ms))
	cs := make([]any, len(ms))
	for i, m := range ms {
		vs[i], cs[i] = m.v, m.canon
	}
	return vs, cs
}

// buildSet converts the values of Eq/NotEq/In/NotIn. A value the field can
// never hold (2.5 for an integer field, 300 for a Uint8, NaN) is left out: it
// matches no row. A value of a type that cannot be compared with the field is
// ErrInvalidQuery.
func (l *leafCond) buildSet(args []any) error {
	var err error
	switch l.dom {
	case domInt, domUint:
		if l.dom == domUint {
			l.set.u, l.set.canon, err = setOf(l, args, intMember(l, func(b qbound) uint64 { return b.u }), cmp.Compare[uint64])
		} else {
			l.set.i, l.set.canon, err = setOf(l, args, intMember(l, func(b qbound) int64 { return b.i }), cmp.Compare[int64])
		}
	case domFloat:
		l.set.f, l.set.canon, err = setOf(l, args, func(v any) (setMember[float64], bool, error) {
			q, err := numArgFor(l.ref, v)
			if err != nil || q.nan {
				return setMember[float64]{}, false, err
			}
			f, _, exact := floatRound(q, l.ref.ft == Float32)
			return setMember[float64]{f, l.floatCanon(f)}, exact, nil
		}, cmp.Compare[float64])
	case domBytes:
		l.set.b, l.set.canon, err = setOf(l, args, func(v any) (setMember[[]byte], bool, error) {
			b, err := bytesArg(l.ref, v)
			return setMember[[]byte]{b, l.bytesCanon(b)}, err == nil, err
		}, bytes.Compare)
	case domTime:
		l.set.t, l.set.canon, err = setOf(l, args, func(v any) (setMember[timeKey], bool, error) {
			cv, err := convertArg(l.ref, v)
			if err != nil {
				return setMember[timeKey]{}, false, err
			}
			tm := cv.(time.Time)
			return setMember[timeKey]{timeKey{tm.Unix(), int32(tm.Nanosecond())}, tm}, true, nil
		}, timeKey.compare)
	case domDecimal:
		l.set.d, l.set.canon, err = setOf(l, args, func(v any) (setMember[decimal.Decimal], bool, error) {
			cv, err := convertArg(l.ref, v)
			if err != nil {
				return setMember[decimal.Decimal]{}, false, err
			}
			return setMember[decimal.Decimal]{cv.(decimal.Decimal), cv}, true, nil
		}, decimal.Decimal.Cmp)
	default: // domJSON
		l.set.b, l.set.canon, err = setOf(l, args, func(v any) (setMember[[]byte], bool, error) {
			cv, err := convertArg(l.ref, v)
			if err != nil {
				return setMember[[]byte]{}, false, err
			}
			text, err := json.Marshal(cv)
			if err != nil {
				return setMember[[]byte]{}, false, argError(l.ref, v, err.Error())
			}
			return setMember[[]byte]{text, cv}, true, nil
		}, bytes.Compare)
	}
	return err
}

// intMember returns the set member function of an integer-domain field:
// an argument that is not an integer within the field's range is left out.
// pick takes the domain value from the bound intBound builds.
func intMember[T int64 | uint64](l *leafCond, pick func(qbound) T) func(any) (setMember[T], bool, error) {
	dlo, dhi := intDomainRange(l.ref)
	return func(v any) (setMember[T], bool, error) {
		q, err := numArgFor(l.ref, v)
		if err != nil || q.r == nil || !q.r.IsInt() {
			return setMember[T]{}, false, err
		}
		x := q.r.Num()
		if x.Cmp(dlo) < 0 || x.Cmp(dhi) > 0 {
			return setMember[T]{}, false, nil
		}
		b := l.intBound(x)
		return setMember[T]{pick(b), b.canon}, true, nil
	}
}

// setOf converts each argument of an In / NotIn with member, which reports
// false for a value the field can never hold (left out: it matches no
// row), and returns the sorted set without duplicates and the canonical
// values in the same order. A nil argument is an error.
func setOf[T any](l *leafCond, args []any, member func(v any) (setMember[T], bool, error), compare func(a, b T) int) ([]T, []any, error) {
	var ms []setMember[T]
	for _, v := range args {
		if v == nil {
			return nil, nil, nilArgError(l.ref)
		}
		m, keep, err := member(v)
		if err != nil {
			return nil, nil, err
		}
		if keep {
			ms = append(ms, m)
		}
	}
	vs, cs := sortedMembers(ms, compare)
	return vs, cs, nil
}

// formatBound prints a bound's canonical value: "-∞" or "∞" for a missing
// lower or upper bound.
func formatBound(b qbound, lower bool) string {
	switch {
	case b.ok:
		return formatQueryArg(b.canon)
	case lower:
		return "-∞"
	}
	return "∞"
}

// formatRange prints a range leaf's bounds as an interval: "[" and "]" for
// included ends (and missing ones), "(" and ")" for excluded ends.
func formatRange(l *leafCond) string {
	open, end := "[", "]"
	if l.lo.ok && !l.lo.incl {
		open = "("
	}
	if l.hi.ok && !l.hi.incl {
		end = ")"
	}
	return open + formatBound(l.lo, true) + ", " + formatBound(l.hi, false) + end
}
