package srdb

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// This file holds the condition language of queries: the Expr values users
// build (Eq, In, And, …), their compilation against a table's schema into a
// tree of typed leaves (query_value.go converts the values), and the
// evaluation of that tree on an encoded row without decoding it.

// Expr is one condition of a query, built with the free functions Eq, NotEq,
// Lt, Gt, Lte, Gte, In, NotIn, Between, Contains, StartsWith, EndsWith,
// IsNull, NotNull and combined with And, Or and Not:
//
//	q.Where(srdb.Or(srdb.Eq("channel_id", "a"), srdb.Eq("channel_id", "b")),
//	        srdb.Not(srdb.Eq("msg_type", 3)))
//
// An Expr is immutable and may be reused in several queries and tables; the
// field names and values are checked against the schema when a query runs
// (Rows, Count, …), which returns ErrInvalidQuery for an unknown field or a
// value that cannot be compared with the field. The zero Expr is invalid.
type Expr struct{ n *exprNode }

// exprOp is the operator of an Expr node.
type exprOp uint8

const (
	opInvalid exprOp = iota
	opEq
	opNotEq
	opLt
	opGt
	opLte
	opGte
	opIn
	opNotIn
	opBetween
	opContains
	opStartsWith
	opEndsWith
	opIsNull
	opNotNull
	opAnd
	opOr
	opNot
)

// exprOpNames spell each operator in Explain output and Expr.String.
var exprOpNames = [...]string{
	opInvalid: "?", opEq: "=", opNotEq: "!=", opLt: "<", opGt: ">", opLte: "<=", opGte: ">=",
	opIn: "IN", opNotIn: "NOT IN", opBetween: "BETWEEN", opContains: "CONTAINS",
	opStartsWith: "STARTS WITH", opEndsWith: "ENDS WITH", opIsNull: "IS NULL",
	opNotNull: "IS NOT NULL", opAnd: "AND", opOr: "OR", opNot: "NOT",
}

func (op exprOp) String() string {
	if int(op) < len(exprOpNames) {
		return exprOpNames[op]
	}
	return "?"
}

// exprNode is the content of an Expr: a leaf (field, operator, arguments as
// the caller gave them) or a combination of kids.
type exprNode struct {
	op    exprOp
	field string
	args  []any
	kids  []Expr
}

func leafExpr(op exprOp, field string, args ...any) Expr {
	return Expr{&exprNode{op: op, field: field, args: args}}
}

// Eq matches rows whose field equals v. Comparison follows the field's type
// (see Query); a NULL field never matches.
func Eq(field string, v any) Expr { return leafExpr(opEq, field, v) }

// NotEq matches rows whose field is not NULL and differs from v.
func NotEq(field string, v any) Expr { return leafExpr(opNotEq, field, v) }

// Lt matches rows whose field is less than v.
func Lt(field string, v any) Expr { return leafExpr(opLt, field, v) }

// Gt matches rows whose field is greater than v.
func Gt(field string, v any) Expr { return leafExpr(opGt, field, v) }

// Lte matches rows whose field is less than or equal to v.
func Lte(field string, v any) Expr { return leafExpr(opLte, field, v) }

// Gte matches rows whose field is greater than or equal to v.
func Gte(field string, v any) Expr { return leafExpr(opGte, field, v) }

// In matches rows whose field equals one of vs. In with no values matches
// nothing. A single slice argument (other than a []byte for a Bytes field or
// a slice for an Array field) is taken as the list of values.
func In(field string, vs ...any) Expr { return leafExpr(opIn, field, slices.Clone(vs)...) }

// NotIn matches rows whose field is not NULL and equals none of vs.
func NotIn(field string, vs ...any) Expr { return leafExpr(opNotIn, field, slices.Clone(vs)...) }

// Between matches rows whose field lies in [lo, hi], both ends included.
func Between(field string, lo, hi any) Expr { return leafExpr(opBetween, field, lo, hi) }

// Contains matches String and Bytes fields holding s (bytewise).
func Contains(field, s string) Expr { return leafExpr(opContains, field, s) }

// StartsWith matches String and Bytes fields beginning with s.
func StartsWith(field, s string) Expr { return leafExpr(opStartsWith, field, s) }

// EndsWith matches String and Bytes fields ending with s.
func EndsWith(field, s string) Expr { return leafExpr(opEndsWith, field, s) }

// IsNull matches rows whose field is NULL (including rows written before a
// nullable field existed). It is the only condition a NULL field satisfies.
func IsNull(field string) Expr { return leafExpr(opIsNull, field) }

// NotNull matches rows whose field is not NULL.
func NotNull(field string) Expr { return leafExpr(opNotNull, field) }

// And matches rows matching every e; And() matches every row.
func And(e ...Expr) Expr { return Expr{&exprNode{op: opAnd, kids: slices.Clone(e)}} }

// Or matches rows matching at least one e; Or() matches no row.
func Or(e ...Expr) Expr { return Expr{&exprNode{op: opOr, kids: slices.Clone(e)}} }

// Not matches rows for which e is false. A condition that compares a NULL
// field is neither true nor false (SQL's UNKNOWN), so Not(Eq("f", 1)) does
// not match rows where f is NULL, exactly like NotEq("f", 1).
func Not(e Expr) Expr { return Expr{&exprNode{op: opNot, kids: []Expr{e}}} }

// String returns the condition in a readable, SQL-like form, e.g.
// `(channel_id = "a" OR msg_type IN (1, 2))`.
func (e Expr) String() string {
	var b strings.Builder
	e.format(&b)
	return b.String()
}

func (e Expr) format(b *strings.Builder) {
	n := e.n
	if n == nil {
		b.WriteString("<invalid>")
		return
	}
	switch n.op {
	case opAnd, opOr:
		if len(n.kids) == 0 {
			if n.op == opAnd {
				b.WriteString("TRUE")
			} else {
				b.WriteString("FALSE")
			}
			return
		}
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				fmt.Fprintf(b, " %s ", n.op)
			}
			k.format(b)
		}
		b.WriteByte(')')
	case opNot:
		b.WriteString("NOT ")
		if len(n.kids) == 1 {
			n.kids[0].format(b)
		}
	case opIsNull, opNotNull:
		fmt.Fprintf(b, "%s %s", n.field, n.op)
	case opIn, opNotIn:
		fmt.Fprintf(b, "%s %s (", n.field, n.op)
		for i, a := range n.args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatQueryArg(a))
		}
		b.WriteByte(')')
	case opBetween:
		if len(n.args) == 2 {
			fmt.Fprintf(b, "%s BETWEEN %s AND %s", n.field, formatQueryArg(n.args[0]), formatQueryArg(n.args[1]))
		}
	default:
		if len(n.args) == 1 {
			fmt.Fprintf(b, "%s %s %s", n.field, n.op, formatQueryArg(n.args[0]))
		}
	}
}

// formatQueryArg prints a query argument for Explain: strings quoted and
// cut, byte slices as quoted text, times in RFC 3339 with nanoseconds in UTC
// (never the monotonic clock reading %v adds), a decimal whose exponent is
// beyond ±decimal.MaxDecodeExponent as coefficient "e" exponent (its plain
// form would have as many digits), everything else with %v.
func formatQueryArg(a any) string {
	switch x := a.(type) {
	case string:
		return quoteShort(x)
	case []byte:
		return quoteShort(string(x))
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format(explainTimeLayout)
	case *time.Time:
		if x != nil {
			return x.UTC().Format(explainTimeLayout)
		}
	case decimal.Decimal:
		if exp := int64(x.Exponent()); exp > int64(decimal.MaxDecodeExponent) || exp < -int64(decimal.MaxDecodeExponent) {
			return fmt.Sprintf("%se%d", x.Coefficient(), exp)
		}
	}
	return fmt.Sprintf("%v", a)
}

// explainTimeLayout is RFC 3339 with all nine digits of the nanoseconds.
const explainTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// checkQueryDecimals refuses, before anything else looks at them, decimal
// arguments that Insert would refuse for a Decimal field (checkDecimal: an
// exponent beyond ±decimal.MaxDecodeExponent or more than maxDecimalDigits
// digits), whatever the field's type. Printing, converting or comparing such
// a value costs time in proportion to its exponent (seconds at 2^24, never
// ending at 2^30), and no stored value can equal it. The error is
// ErrInvalidQuery naming the field.
func checkQueryDecimals(ref fieldRef, op exprOp, args []any) error {
	if op == opIn || op == opNotIn {
		args = expandInArgs(ref.ft, args)
	}
	for _, v := range args {
		d, ok := v.(decimal.Decimal)
		if !ok {
			continue
		}
		if _, err := checkDecimal(&Field{Name: ref.name, Type: Decimal}, v, d); err != nil {
			msg := err.Error()
			if e, ok := err.(*Error); ok {
				msg = e.Msg
			}
			return queryError(ref.name, "%s", msg)
		}
	}
	return nil
}

// tri is the result of a condition on one row under SQL's three-valued
// logic: a comparison with a NULL field is triNull (unknown), and a row
// matches only when the whole condition is triTrue.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
)

func boolTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// cnodeKind says what a compiled node does.
type cnodeKind uint8

const (
	cLeaf cnodeKind = iota
	cAnd
	cOr
	cNot
)

// cnode is a compiled condition: a leaf bound to a schema field with its
// values converted to the field's domain, or a combination of kids.
type cnode struct {
	kind cnodeKind
	kids []*cnode
	leaf *leafCond
}

// References to the system fields in fieldRef.idx.
const (
	refSeq  = -1
	refTime = -2
)

// fieldRef is a field named by a query, resolved against the schema.
type fieldRef struct {
	name     string
	idx      int       // schema field index, or refSeq / refTime
	ft       FieldType // the field's type; Int64 for _seq and _time
	nullable bool
	indexed  bool
}

// resolveField looks a query field name up: a schema field, "_seq" or
// "_time". Anything else is ErrInvalidQuery.
func resolveField(s *Schema, name string) (fieldRef, error) {
	switch name {
	case sysFieldSeq:
		return fieldRef{name: name, idx: refSeq, ft: Int64}, nil
	case sysFieldTime:
		return fieldRef{name: name, idx: refTime, ft: Int64}, nil
	}
	i := s.fieldIndex(name)
	if i < 0 {
		return fieldRef{}, queryError(name, "unknown field (table %q has no field %q)", s.name, name)
	}
	f := s.fields[i]
	return fieldRef{name: name, idx: i, ft: f.Type, nullable: f.Nullable, indexed: f.Indexed}, nil
}

// queryError builds an ErrInvalidQuery naming field (may be empty).
func queryError(field, format string, args ...any) *Error {
	return fieldError(CodeInvalidQuery, field, format, args...)
}

// compileExpr checks e against schema s and compiles it. It does no I/O.
func compileExpr(s *Schema, e Expr) (*cnode, error) {
	return compileExprDepth(s, e, 0)
}

// maxExprDepth bounds the nesting of And/Or/Not so a hostile expression
// cannot exhaust the stack of the evaluator.
const maxExprDepth = 64

func compileExprDepth(s *Schema, e Expr, depth int) (*cnode, error) {
	n := e.n
	if n == nil {
		return nil, queryError("", "empty Expr (build conditions with Eq, In, And, …)")
	}
	if depth > maxExprDepth {
		return nil, queryError("", "conditions nested deeper than %d levels", maxExprDepth)
	}
	switch n.op {
	case opAnd, opOr, opNot:
		if n.op == opNot && len(n.kids) != 1 {
			return nil, queryError("", "NOT takes exactly one condition")
		}
		c := &cnode{kind: cAnd}
		switch n.op {
		case opOr:
			c.kind = cOr
		case opNot:
			c.kind = cNot
		}
		for _, k := range n.kids {
			kc, err := compileExprDepth(s, k, depth+1)
			if err != nil {
				return nil, err
			}
			c.kids = append(c.kids, kc)
		}
		return c, nil
	}
	ref, err := resolveField(s, n.field)
	if err != nil {
		return nil, err
	}
	// Before anything prints or converts the arguments (e.String() below).
	if err := checkQueryDecimals(ref, n.op, n.args); err != nil {
		return nil, err
	}
	l, err := compileLeaf(ref, n.op, n.args, e)
	if err != nil {
		return nil, err
	}
	return &cnode{kind: cLeaf, leaf: l}, nil
}

// conjuncts returns the top-level AND terms of c (flattening nested Ands).
func (c *cnode) conjuncts() []*cnode {
	if c == nil {
		return nil
	}
	if c.kind != cAnd {
		return []*cnode{c}
	}
	var out []*cnode
	for _, k := range c.kids {
		out = append(out, k.conjuncts()...)
	}
	return out
}

// needsView reports whether evaluating c reads the encoded row (anything
// other than _seq).
func (c *cnode) needsView() bool {
	if c == nil {
		return false
	}
	if c.kind == cLeaf {
		return c.leaf.ref.idx != refSeq
	}
	for _, k := range c.kids {
		if k.needsView() {
			return true
		}
	}
	return false
}

// evalRow is what a condition is evaluated on: the seq from the iterator
// and, when the condition needs it, the parsed row.
type evalRow struct {
	seq  int64
	view rowView
}

// eval evaluates c on r under three-valued logic.
func (c *cnode) eval(r *evalRow) (tri, error) {
	switch c.kind {
	case cLeaf:
		return c.leaf.eval(r)
	case cAnd:
		res := triTrue
		for _, k := range c.kids {
			v, err := k.eval(r)
			if err != nil {
				return triFalse, err
			}
			if v == triFalse {
				return triFalse, nil
			}
			if v == triNull {
				res = triNull
			}
		}
		return res, nil
	case cOr:
		res := triFalse
		for _, k := range c.kids {
			v, err := k.eval(r)
			if err != nil {
				return triFalse, err
			}
			if v == triTrue {
				return triTrue, nil
			}
			if v == triNull {
				res = triNull
			}
		}
		return res, nil
	default: // cNot
		v, err := c.kids[0].eval(r)
		switch {
		case err != nil:
			return triFalse, err
		case v == triTrue:
			return triFalse, nil
		case v == triFalse:
			return triTrue, nil
		}
		return triNull, nil
	}
}

// matches reports whether c is true for r; a nil c matches every row.
func (c *cnode) matches(r *evalRow) (bool, error) {
	if c == nil {
		return true, nil
	}
	v, err := c.eval(r)
	return v == triTrue, err
}

// eval evaluates one leaf. The field's bytes are read straight from the
// encoded row; only Decimal fields are decoded into Go values.
func (l *leafCond) eval(r *evalRow) (tri, error) {
	var raw []byte
	switch l.ref.idx {
	case refSeq:
		return l.evalInt(r.seq), nil
	case refTime:
		return l.evalInt(r.view.timeNanos()), nil
	default:
		b, ok := r.view.field(l.ref.idx)
		switch l.form {
		case formNull:
			return boolTri(!ok), nil
		case formNotNull:
			return boolTri(ok), nil
		}
		if !ok {
			return triNull, nil
		}
		raw = b
	}
	switch l.dom {
	case domInt:
		x, ok := rawInt(l.ref.ft, raw)
		if !ok {
			return triFalse, l.corrupt(r)
		}
		return l.evalInt(x), nil
	case domUint:
		x, ok := rawUint(l.ref.ft, raw)
		if !ok {
			return triFalse, l.corrupt(r)
		}
		return l.evalUint(x), nil
	case domFloat:
		x, ok := rawFloat(l.ref.ft, raw)
		if !ok {
			return triFalse, l.corrupt(r)
		}
		return l.evalFloat(x), nil
	case domBytes:
		return l.evalBytes(raw), nil
	case domTime:
		k, ok := rawTimeKey(raw)
		if !ok {
			return triFalse, l.corrupt(r)
		}
		return l.evalTime(k), nil
	case domDecimal:
		d, err := r.view.decodeDecimal(l.ref.idx, raw)
		if err != nil {
			return triFalse, err
		}
		return l.evalDecimal(d), nil
	default: // domJSON: equality of the JSON text only
		found := slices.ContainsFunc(l.set.b, func(v []byte) bool { return bytes.Equal(v, raw) })
		return boolTri(found == (l.form == formIn)), nil
	}
}

// corrupt reports a field whose stored width does not fit its type.
func (l *leafCond) corrupt(r *evalRow) error {
	b, _ := r.view.field(l.ref.idx)
	w, _ := l.ref.ft.fixedWidth()
	return r.view.fieldCorrupt(l.ref.idx, l.ref.ft, "%d bytes, want %d", len(b), w)
}

func (l *leafCond) evalInt(x int64) tri {
	switch l.form {
	case formRange:
		return boolTri(!l.empty && x >= l.lo.i && x <= l.hi.i)
	case formIn, formNotIn:
		found := len(l.set.i) == 1 && l.set.i[0] == x // Eq, NotEq: no search
		if len(l.set.i) > 1 {
			_, found = slices.BinarySearch(l.set.i, x)
		}
		return boolTri(found == (l.form == formIn))
	case formNull:
		return triFalse
	}
	return triTrue // formNotNull
}

func (l *leafCond) evalUint(x uint64) tri {
	switch l.form {
	case formRange:
		return boolTri(!l.empty && x >= l.lo.u && x <= l.hi.u)
	case formIn, formNotIn:
		found := len(l.set.u) == 1 && l.set.u[0] == x // Eq, NotEq: no search
		if len(l.set.u) > 1 {
			_, found = slices.BinarySearch(l.set.u, x)
		}
		return boolTri(found == (l.form == formIn))
	}
	return triTrue
}

func (l *leafCond) evalFloat(x float64) tri {
	switch l.form {
	case formRange:
		if l.empty {
			return triFalse
		}
		if l.lo.ok && (x < l.lo.f || (x == l.lo.f && !l.lo.incl) || x != x) {
			return triFalse
		}
		if l.hi.ok && (x > l.hi.f || (x == l.hi.f && !l.hi.incl) || x != x) {
			return triFalse
		}
		return triTrue
	case formIn, formNotIn:
		found := false
		if x == x { // NaN equals nothing
			_, found = slices.BinarySearch(l.set.f, x)
		}
		return boolTri(found == (l.form == formIn))
	}
	return triTrue
}

func (l *leafCond) evalBytes(x []byte) tri {
	switch l.form {
	case formRange:
		if l.empty {
			return triFalse
		}
		if l.lo.ok {
			if c := bytes.Compare(x, l.lo.b); c < 0 || (c == 0 && !l.lo.incl) {
				return triFalse
			}
		}
		if l.hi.ok {
			if c := bytes.Compare(x, l.hi.b); c > 0 || (c == 0 && !l.hi.incl) {
				return triFalse
			}
		}
		return triTrue
	case formIn, formNotIn:
		found := false
		if len(l.set.b) <= 8 {
			for _, v := range l.set.b {
				if bytes.Equal(v, x) {
					found = true
					break
				}
			}
		} else {
			_, found = slices.BinarySearchFunc(l.set.b, x, bytes.Compare)
		}
		return boolTri(found == (l.form == formIn))
	case formContains:
		return boolTri(bytes.Contains(x, l.pat))
	case formPrefix:
		return boolTri(bytes.HasPrefix(x, l.pat))
	case formSuffix:
		return boolTri(bytes.HasSuffix(x, l.pat))
	}
	return triTrue
}

func (l *leafCond) evalTime(k timeKey) tri {
	switch l.form {
	case formRange:
		if l.empty {
			return triFalse
		}
		if l.lo.ok {
			if c := k.compare(l.lo.t); c < 0 || (c == 0 && !l.lo.incl) {
				return triFalse
			}
		}
		if l.hi.ok {
			if c := k.compare(l.hi.t); c > 0 || (c == 0 && !l.hi.incl) {
				return triFalse
			}
		}
		return triTrue
	case formIn, formNotIn:
		found := slices.ContainsFunc(l.set.t, func(v timeKey) bool { return v == k })
		return boolTri(found == (l.form == formIn))
	}
	return triTrue
}

func (l *leafCond) evalDecimal(d decimalValue) tri {
	switch l.form {
	case formRange:
		if l.empty {
			return triFalse
		}
		if l.lo.ok {
			if c := d.Cmp(l.lo.d); c < 0 || (c == 0 && !l.lo.incl) {
				return triFalse
			}
		}
		if l.hi.ok {
			if c := d.Cmp(l.hi.d); c > 0 || (c == 0 && !l.hi.incl) {
				return triFalse
			}
		}
		return triTrue
	case formIn, formNotIn:
		found := slices.ContainsFunc(l.set.d, func(v decimalValue) bool { return v.Cmp(d) == 0 })
		return boolTri(found == (l.form == formIn))
	}
	return triTrue
}

// rawInt reads a signed integer field (Int…Int64, Rune, Duration) from its
// encoded bytes; false when the width is wrong.
func rawInt(ft FieldType, b []byte) (int64, bool) {
	if l := typeLayouts[ft]; l.class != classSigned || len(b) != int(l.width) {
		return 0, false
	}
	return leInt(b), true
}

// rawUint reads an unsigned integer field (Uint…Uint64, Byte) or a Bool
// (as 0 or 1) from its encoded bytes; false when the bytes are invalid.
func rawUint(ft FieldType, b []byte) (uint64, bool) {
	l := typeLayouts[ft]
	if len(b) != int(l.width) || (l.class != classUnsigned && l.class != classBool) {
		return 0, false
	}
	u := leUint(b)
	return u, l.class == classUnsigned || u == rowBoolFalse || u == rowBoolTrue
}

// rawFloat reads a Float32 (widened, exactly) or Float64 field.
func rawFloat(ft FieldType, b []byte) (float64, bool) {
	switch {
	case ft == Float64 && len(b) == 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), true
	case ft == Float32 && len(b) == 4:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), true
	}
	return 0, false
}

// timeKey is an instant: Unix seconds and nanoseconds, the first two parts
// of a stored Time field. Comparing keys compares instants, whatever zone
// the values were written in.
type timeKey struct {
	sec  int64
	nsec int32
}

func (k timeKey) compare(o timeKey) int {
	if c := cmp.Compare(k.sec, o.sec); c != 0 {
		return c
	}
	return cmp.Compare(k.nsec, o.nsec)
}

// rawTimeKey reads the instant of an encoded Time field.
func rawTimeKey(b []byte) (timeKey, bool) {
	c := byteCursor{b: b}
	sec := c.u64()
	nsec := c.u32()
	if c.bad || nsec >= rowNanosPerSecond {
		return timeKey{}, false
	}
	return timeKey{sec: int64(sec), nsec: int32(nsec)}, true
}

// expandInArgs turns In("f", []T{…}) into In("f", …) unless the single
// slice is itself a value of the field (a []byte of a Bytes field, a slice
// of an Array field).
func expandInArgs(ft FieldType, args []any) []any {
	if len(args) != 1 || args[0] == nil {
		return args
	}
	rv := reflect.ValueOf(args[0])
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return args
	}
	if ft == Array || ((ft == Bytes || ft == String) && rv.Type().Elem().Kind() == reflect.Uint8) {
		return args
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}
