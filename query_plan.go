package srdb

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The planner turns a Query into a plan: which rows to visit (the access
// path), in which order, whether a sort is needed, and which fields to
// decode. It reads the top-level AND terms of the conditions; Or and Not are
// only evaluated as filters. Every plan re-evaluates the whole condition on
// each candidate row, so an access path only has to return a superset of
// the matching rows: a wrong or stale index entry costs a lookup, never a
// wrong answer.
//
// Access paths, in order of preference (docs/QUERY.md has the costs):
//
//  1. points — Eq/In on _seq: one lookup per listed seq.
//  2a. composite index — Eq/In on leading fields of a ready composite
//     index, plus a range on the next one (query_composite.go), when it
//     constrains more fields than a single-field Eq or yields the order
//     that one would sort.
//  2b. index Eq/In — Eq/In on a field whose index is ready: one index range
//     per value, each candidate seq looked up and re-checked. Ordered by
//     _seq (or unordered) the ranges are merged by seq and start at the
//     _seq bounds, so Eq(f).OrderByDesc("_seq").Limit(n) reads n rows.
//  3. scan of a _seq range bounded on both sides.
//  4. index range — Between/Lt/Gt/Lte/Gte/StartsWith on an indexed field,
//     unless the order is _seq (a seq-ordered scan can stop early).
//  5. full index — OrderBy on an indexed field with no better path, to
//     stream in index order.
//  6. scan — every live row in seq order within the _seq bounds, leaving
//     out SSTs and memtables whose _time range cannot match; with _time
//     bounds only the seqs of the _time windows are read (query_timerange.go),
//     and an index plan with _time bounds looks up only the candidates in
//     those windows.
//
// The result streams when the access path yields the requested order (_seq
// order from scans, points and seq-merged index ranges; field order from an
// index on that field). Otherwise the matching rows are sorted: a heap of
// Offset+Limit rows when Limit is set, all of them when it is not.

// planPurpose says what a plan is for.
type planPurpose uint8

const (
	planRows  planPurpose = iota // return rows (Rows, First, Scan, …)
	planCount                    // count rows: order and projection do not matter
)

// accessKind is the access path of a plan.
type accessKind uint8

const (
	accEmpty  accessKind = iota // the conditions cannot match
	accScan                     // seq-ordered scan of [seqLo, seqHi]
	accPoints                   // lookups of the seqs in points
	accIndex                    // index ranges (see indexPlan)
)

// orderKey is one resolved OrderBy key.
type orderKey struct {
	ref  fieldRef
	dom  valDomain
	desc bool
}

// plan is a compiled, planned query. It holds no pins; open a source with a
// pinned read state to run it.
type plan struct {
	t         *Table
	s         *Schema
	filter    *cnode // nil matches every row
	conds     []Expr // the conditions as written (filterText)
	access    accessKind
	emptyWhy  string
	reverse   bool // visit in descending order (seq, or key for index ranges)
	seqLo     int64
	seqHi     int64
	points    []int64 // accPoints: ascending
	timeLo    int64   // _time bounds of the conditions (Unix ns, inclusive)
	timeHi    int64
	timeBound bool
	timeSkips string // Explain: what the _time bounds skip now (explainTimeSkips); "" otherwise
	ix        *indexPlan
	order     []orderKey
	sort      bool  // the access path does not give the order: sort
	proj      []int // fields to decode; nil = all
	limit     int   // -1: none
	offset    int
	countAll  bool // no condition: Count reads the live-row counter

	// ctx is the query's context (WithContext); nil: none.
	ctx context.Context
}

// indexPlan is the index part of an accIndex plan.
type indexPlan struct {
	src      indexSource
	field    fieldRef
	ranges   []indexRange  // in the order they are read
	keys     [][]byte      // the key of each range when each is one key (Eq/In), else nil
	bySeq    bool          // merge the ranges by seq instead of reading them one after the other
	keyCheck bool          // a seq may sit under several keys: accept it only under its current one
	what     func() string // for Explain: formatted only when asked (planning runs per query)

	// A composite index (query_composite.go): field is its first field.
	name string     // the index's name ("a,b")
	more []fieldRef // its further fields, in key order
	// suffixFrom, when set (several prefix tuples, the order on the last
	// field), merges the ranges by the key after each range's prefix tuple
	// (suffixFrom[i] bytes for range i), then seq.
	suffixFrom []int
}

// plan compiles and plans q against the table's current schema. It does no
// I/O: every mistake in the query is reported here.
func (q *Query) plan(purpose planPurpose) (*plan, error) {
	if q == nil || q.t == nil {
		return nil, queryError("", "query has no table")
	}
	t := q.t
	if q.err != nil {
		return nil, withTable(q.err, t.name)
	}
	if err := t.checkOpen(); err != nil {
		return nil, err
	}
	s := t.Schema()
	p := &plan{
		t: t, s: s, limit: q.limit, offset: q.offset, ctx: q.ctx,
		seqLo: 1, seqHi: maxSeq, timeLo: math.MinInt64, timeHi: math.MaxInt64,
	}
	if err := p.compileConds(q.conds); err != nil {
		return nil, withTable(err, t.name)
	}
	if err := p.compileSelect(q.hasSel, q.sel); err != nil {
		return nil, withTable(err, t.name)
	}
	if err := p.compileOrder(q.order); err != nil {
		return nil, withTable(err, t.name)
	}
	if purpose == planCount { // checked above, irrelevant to a count
		p.order, p.proj = nil, nil
	}
	p.countAll = p.filter == nil
	ix := q.ix
	if ix == nil {
		ix = tableIndexSource{t}
	}
	p.chooseAccess(ix)
	return p, nil
}

// compileConds compiles the conditions into one filter.
func (p *plan) compileConds(conds []Expr) error {
	var kids []*cnode
	for _, e := range conds {
		c, err := compileExpr(p.s, e)
		if err != nil {
			return err
		}
		kids = append(kids, c)
	}
	switch len(kids) {
	case 0:
	case 1:
		p.filter = kids[0]
	default:
		p.filter = &cnode{kind: cAnd, kids: kids}
	}
	p.conds = conds
	return nil
}

// filterText is the Explain text of the conditions ("none" without any),
// formatted only when asked.
func (p *plan) filterText() string {
	if len(p.conds) == 0 {
		return "none"
	}
	texts := make([]string, len(p.conds))
	for i, e := range p.conds {
		texts[i] = e.String()
	}
	return strings.Join(texts, " AND ")
}

// compileSelect resolves the selected fields.
func (p *plan) compileSelect(has bool, names []string) error {
	if !has {
		return nil
	}
	p.proj = make([]int, 0, len(names))
	for _, name := range names {
		if name == sysFieldSeq || name == sysFieldTime {
			continue
		}
		i := p.s.fieldIndex(name)
		if i < 0 {
			return queryError(name, "Select: unknown field (table %q has no field %q)", p.s.name, name)
		}
		if !slices.Contains(p.proj, i) {
			p.proj = append(p.proj, i)
		}
	}
	return nil
}

// compileOrder resolves the order keys. Keys after a _seq key cannot break
// any tie and are dropped, as is a final _seq key in the direction of the
// first key (the implicit tie-breaker).
func (p *plan) compileOrder(order []orderBy) error {
	for _, o := range order {
		ref, err := resolveField(p.s, o.field)
		if err != nil {
			return err
		}
		dom := domainOf(ref)
		if dom == domJSON {
			return queryError(o.field, "cannot order by a %s field", ref.ft)
		}
		p.order = append(p.order, orderKey{ref: ref, dom: dom, desc: o.desc})
		if ref.idx == refSeq {
			break
		}
	}
	if n := len(p.order); n > 1 && p.order[n-1].ref.idx == refSeq && p.order[n-1].desc == p.order[0].desc {
		p.order = p.order[:n-1]
	}
	return nil
}

// orderShape classifies the requested order.
type orderShape uint8

const (
	orderNone  orderShape = iota // no OrderBy: access order
	orderSeq                     // by _seq
	orderField                   // by one schema field (and _seq for ties)
	orderOther                   // anything else: needs a sort unless an index gives it
)

func (p *plan) orderShape() (orderShape, bool, fieldRef) {
	if len(p.order) == 0 {
		return orderNone, false, fieldRef{}
	}
	k := p.order[0]
	switch {
	case k.ref.idx == refSeq:
		return orderSeq, k.desc, k.ref
	case k.ref.idx >= 0 && len(p.order) == 1:
		return orderField, k.desc, k.ref
	}
	return orderOther, k.desc, k.ref
}

// setEmpty makes the plan return nothing.
func (p *plan) setEmpty(why string) {
	p.access = accEmpty
	p.emptyWhy = why
	p.ix = nil
	p.sort = false
}

// chooseAccess picks the access path (see the file comment).
func (p *plan) chooseAccess(ix indexSource) {
	conj := p.filter.conjuncts()
	var points []int64
	havePoints := false
	eqCands := map[string]*leafCond{}
	rangeCands := map[string]*leafCond{}
	prefixCands := map[string]*leafCond{}
	var candOrder []string // field names in the order their first condition appears
	for _, c := range conj {
		if c.kind != cLeaf {
			continue
		}
		l := c.leaf
		if l.empty && (l.form == formRange || l.form == formIn) {
			p.setEmpty(l.text() + " matches no value")
			return
		}
		switch l.ref.idx {
		case refSeq:
			switch l.form {
			case formRange:
				p.seqLo, p.seqHi = max(p.seqLo, l.lo.i), min(p.seqHi, l.hi.i)
			case formIn:
				if havePoints {
					points = intersectSorted(points, l.set.i)
				} else {
					points, havePoints = slices.Clone(l.set.i), true
				}
			case formNull:
				p.setEmpty("_seq is never NULL")
				return
			}
		case refTime:
			switch l.form {
			case formRange:
				p.timeLo, p.timeHi = max(p.timeLo, l.lo.i), min(p.timeHi, l.hi.i)
				p.timeBound = true
			case formIn:
				p.timeLo, p.timeHi = max(p.timeLo, l.set.i[0]), min(p.timeHi, l.set.i[len(l.set.i)-1])
				p.timeBound = true
			case formNull:
				p.setEmpty("_time is never NULL")
				return
			}
		default:
			if !ix.ready(l.ref.name) {
				continue
			}
			name := l.ref.name
			known := eqCands[name] != nil || rangeCands[name] != nil || prefixCands[name] != nil
			switch l.form {
			case formIn:
				if cur := eqCands[name]; cur == nil || l.set.len() < cur.set.len() {
					eqCands[name] = l
				}
			case formRange:
				if cur := rangeCands[name]; cur == nil {
					cp := *l
					rangeCands[name] = &cp
				} else {
					if l.lo.ok {
						cur.tighten(true, l.lo)
					}
					if l.hi.ok {
						cur.tighten(false, l.hi)
					}
					if cur.empty {
						p.setEmpty(name + " ranges do not overlap")
						return
					}
				}
			case formPrefix:
				if prefixCands[name] == nil {
					prefixCands[name] = l
				}
			default:
				continue
			}
			if !known {
				candOrder = append(candOrder, name)
			}
		}
	}
	if p.seqLo > p.seqHi {
		p.setEmpty("_seq bounds do not overlap")
		return
	}
	if p.timeLo > p.timeHi {
		p.setEmpty("_time bounds do not overlap")
		return
	}
	shape, desc, oref := p.orderShape()
	if havePoints {
		lo, _ := slices.BinarySearch(points, p.seqLo)
		hi, found := slices.BinarySearch(points, p.seqHi)
		if found {
			hi++
		}
		p.points = points[lo:hi]
		if len(p.points) == 0 {
			p.setEmpty("no listed _seq lies within the _seq bounds")
			return
		}
		p.access = accPoints
		p.seqOrdered(shape, desc)
		return
	}
	// pick returns the candidate of the order field, else the first one.
	pick := func(cands map[string]*leafCond) *leafCond {
		if shape == orderField {
			if l := cands[oref.name]; l != nil {
				return l
			}
		}
		for _, name := range candOrder {
			if l := cands[name]; l != nil {
				return l
			}
		}
		return nil
	}
	// A composite index wins over a single-field Eq when it constrains more
	// fields or yields the order the other does not (query_composite.go).
	if c := p.pickComposite(ix, shape, oref); c != nil {
		l := pick(eqCands)
		singleStreams := l != nil && (shape == orderNone || shape == orderSeq || (shape == orderField && oref.idx == l.ref.idx))
		if (l == nil || c.constrained > 1 || (c.streams && !singleStreams)) && p.planComposite(ix, c, shape, desc) {
			return
		}
	}
	if l := pick(eqCands); l != nil && p.planIndexEq(ix, l, shape, desc, oref) {
		return
	}
	if p.seqLo > 1 && p.seqHi < maxSeq {
		p.access = accScan
		p.seqOrdered(shape, desc)
		return
	}
	if shape != orderSeq {
		if l := pick(rangeCands); l != nil && p.planIndexRange(ix, l, shape, desc, oref) {
			return
		}
		if l := pick(prefixCands); l != nil && p.planIndexRange(ix, l, shape, desc, oref) {
			return
		}
	}
	if shape == orderField && ix.ready(oref.name) && (!oref.nullable || p.excludesNull(oref)) {
		if p.planIndexFull(ix, oref, desc) {
			return
		}
	}
	p.access = accScan
	p.seqOrdered(shape, desc)
}

// seqOrdered sets the direction and sort flag of an access path that yields
// rows in seq order (scans, points).
func (p *plan) seqOrdered(shape orderShape, desc bool) {
	switch shape {
	case orderNone:
	case orderSeq:
		p.reverse = desc
	default:
		p.sort = true
	}
}

// excludesNull reports whether some AND term is never true for a NULL ref.
func (p *plan) excludesNull(ref fieldRef) bool {
	for _, c := range p.filter.conjuncts() {
		if c.kind == cLeaf && c.leaf.ref.idx == ref.idx && c.leaf.form != formNull {
			return true
		}
	}
	return false
}

// planIndexEq plans an Eq/In on an indexed field. It returns false (and
// leaves the plan alone) when the index cannot encode the values.
func (p *plan) planIndexEq(ix indexSource, l *leafCond, shape orderShape, desc bool, oref fieldRef) bool {
	keys, err := indexKeysForSet(ix, l)
	if err != nil || len(keys) == 0 {
		return false
	}
	ip := &indexPlan{src: ix, field: l.ref, keys: keys, keyCheck: len(keys) > 1}
	n := len(keys)
	ip.what = func() string { return fmt.Sprintf("%s (%d key%s)", l.text(), n, plural(n)) }
	switch {
	case shape == orderField && oref.idx == l.ref.idx:
		p.reverse = desc
	case shape == orderNone || shape == orderSeq:
		ip.bySeq = true
		p.reverse = shape == orderSeq && desc
	default:
		p.sort = true
	}
	order := keys
	if p.reverse && !ip.bySeq {
		order = slices.Clone(keys)
		slices.Reverse(order)
		ip.keys = order
	}
	for _, k := range order {
		switch {
		case ip.bySeq && p.reverse && p.seqHi < maxSeq:
			// Start each reverse range at (key, seqHi): O(log N) to the
			// first candidate instead of walking the key's newer seqs.
			ip.ranges = append(ip.ranges, ix.eqBeforeSeq(k, p.seqHi+1))
		case ip.bySeq && !p.reverse && p.seqLo > 1:
			ip.ranges = append(ip.ranges, ix.eqAfterSeq(k, p.seqLo-1))
		default:
			ip.ranges = append(ip.ranges, indexRangeForEq(k))
		}
	}
	p.access = accIndex
	p.ix = ip
	return true
}

// planIndexRange plans a range or prefix condition on an indexed field.
func (p *plan) planIndexRange(ix indexSource, l *leafCond, shape orderShape, desc bool, oref fieldRef) bool {
	r, err := indexRangeFor(ix, l)
	if err != nil {
		return false
	}
	ip := &indexPlan{src: ix, field: l.ref, ranges: []indexRange{r}, keyCheck: true}
	ip.what = l.text
	if l.form == formRange {
		ip.what = func() string { return fmt.Sprintf("%s in %s", l.ref.name, formatRange(l)) }
	}
	switch {
	case shape == orderField && oref.idx == l.ref.idx:
		p.reverse = desc
	case shape == orderNone:
	default:
		p.sort = true
	}
	p.access = accIndex
	p.ix = ip
	return true
}

// planIndexFull plans a walk of a whole index to stream in its order.
//
// Float keys sort NaN after +Inf (the frozen key encoding, index_key.go),
// but the query order puts NaN before every other value, as the in-memory
// sort does. So a float index is read as two ranges — the NaN key, then
// every key below it — ascending, and in the reverse order descending.
// NULL keys sort below both; they are in the second range, ahead of -Inf,
// and this path is only taken when NULL cannot match.
func (p *plan) planIndexFull(ix indexSource, ref fieldRef, desc bool) bool {
	ranges := []indexRange{{}}
	what := ref.name + " (whole index, for the order)"
	if ref.ft.class() == classFloat {
		var nan any = math.NaN()
		if ref.ft == Float32 {
			nan = float32(math.NaN())
		}
		k, err := ix.encodeKey(ref.ft, nan)
		if err != nil {
			return false
		}
		nanKeys := indexRange{lo: k, hi: k, loInclusive: true, hiInclusive: true}
		below := indexRange{hi: k}
		ranges = []indexRange{nanKeys, below}
		if desc {
			ranges = []indexRange{below, nanKeys}
		}
		what = ref.name + " (whole index, for the order; NaN read as lowest)"
	}
	p.access = accIndex
	p.reverse = desc
	p.ix = &indexPlan{src: ix, field: ref, ranges: ranges, keyCheck: true, what: func() string { return what }}
	return true
}

// indexKeysForSet encodes the values of an Eq/In leaf as index keys, sorted
// and without duplicates. A float zero is looked up under both -0 and +0.
func indexKeysForSet(ix indexSource, l *leafCond) ([][]byte, error) {
	var keys [][]byte
	for i, v := range l.set.canon {
		vals := []any{v}
		if l.dom == domFloat && l.set.f[i] == 0 {
			vals = []any{l.floatCanon(0), l.floatCanon(math.Copysign(0, -1))}
		}
		for _, x := range vals {
			k, err := ix.encodeKey(l.ref.ft, x)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal), nil
}

// indexRangeFor encodes a range or prefix leaf as one index range. Open
// sides stay nil (unbounded).
func indexRangeFor(ix indexSource, l *leafCond) (indexRange, error) {
	var r indexRange
	enc := func(v any) ([]byte, error) { return ix.encodeKey(l.ref.ft, v) }
	var err error
	switch l.form {
	case formPrefix:
		if r.lo, err = enc(l.bytesCanon(l.pat)); err != nil {
			return r, err
		}
		r.loInclusive = true
		if succ, ok := prefixSuccessor(l.pat); ok {
			if r.hi, err = enc(l.bytesCanon(succ)); err != nil {
				return r, err
			}
		}
		return r, nil
	case formRange:
		if l.lo.ok {
			lo := l.lo.canon
			if l.dom == domFloat && l.lo.f == 0 {
				lo = l.floatCanon(zeroFor(l.lo.incl)) // include -0 / exclude +0 too
			}
			if r.lo, err = enc(lo); err != nil {
				return r, err
			}
			r.loInclusive = l.lo.incl
		}
		if l.hi.ok {
			hi := l.hi.canon
			if l.dom == domFloat && l.hi.f == 0 {
				hi = l.floatCanon(zeroFor(!l.hi.incl))
			}
			if r.hi, err = enc(hi); err != nil {
				return r, err
			}
			r.hiInclusive = l.hi.incl
		}
		return r, nil
	}
	return r, queryError(l.ref.name, "no index range for %s", l.text())
}

// zeroFor returns -0 when neg is true, else +0.
func zeroFor(neg bool) float64 {
	if neg {
		return math.Copysign(0, -1)
	}
	return 0
}

// prefixSuccessor returns the smallest byte string greater than every
// string starting with p, or false when there is none (p empty or all
// 0xFF).
func prefixSuccessor(p []byte) ([]byte, bool) {
	s := slices.Clone(p)
	for len(s) > 0 && s[len(s)-1] == 0xFF {
		s = s[:len(s)-1]
	}
	if len(s) == 0 {
		return nil, false
	}
	s[len(s)-1]++
	return s, true
}

// merged reports whether the ranges are read all at once, merged.
func (ip *indexPlan) merged() bool { return ip.bySeq || ip.suffixFrom != nil }

// indexName returns the name of the index the plan reads.
func (ip *indexPlan) indexName() string {
	if ip.name != "" {
		return ip.name
	}
	return ip.field.name
}

// rowKey appends the index key of the row v (the key its entry has).
func (ip *indexPlan) rowKey(dst []byte, v rowView) ([]byte, error) {
	dst, err := ip.src.rowKey(dst, v, ip.field)
	for _, f := range ip.more {
		if err != nil {
			break
		}
		dst, err = ip.src.rowKey(dst, v, f)
	}
	return dst, err
}

// intersectSorted returns the values present in both sorted slices.
func intersectSorted(a, b []int64) []int64 {
	var out []int64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// String describes the plan, one aspect per line (Explain).
func (p *plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table: %s\n", p.t.name)
	dir := "forward"
	if p.reverse {
		dir = "reverse"
	}
	switch p.access {
	case accEmpty:
		fmt.Fprintf(&b, "access: none (%s)\n", p.emptyWhy)
	case accPoints:
		fmt.Fprintf(&b, "access: seq lookups (%d seq%s), %s\n", len(p.points), plural(len(p.points)), dir)
	case accScan:
		fmt.Fprintf(&b, "access: scan _seq in [%d, %d], %s", p.seqLo, p.seqHi, dir)
		if p.timeBound {
			fmt.Fprintf(&b, ", _time in [%s, %s] via the SST _time index (%s)", explainNanos(p.timeLo), explainNanos(p.timeHi), p.timeSkipText())
		}
		b.WriteByte('\n')
	case accIndex:
		how := "in key order"
		if p.ix.bySeq {
			how = "merged by _seq"
		} else if p.ix.suffixFrom != nil {
			how = "merged by " + p.order[0].ref.name
		}
		fmt.Fprintf(&b, "access: index %s, %d range%s %s, %s", p.ix.what(), len(p.ix.ranges), plural(len(p.ix.ranges)), how, dir)
		if p.seqLo > 1 || p.seqHi < maxSeq {
			fmt.Fprintf(&b, ", _seq in [%d, %d]", p.seqLo, p.seqHi)
		}
		if p.timeBound {
			fmt.Fprintf(&b, ", candidates outside _time [%s, %s] not looked up (SST _time index: %s)", explainNanos(p.timeLo), explainNanos(p.timeHi), p.timeSkipText())
		}
		b.WriteString(", each candidate re-checked on its newest row")
		if p.ix.keyCheck {
			b.WriteString(" under its current key")
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "filter: %s\n", p.filterText())
	b.WriteString("order: ")
	if len(p.order) == 0 {
		b.WriteString("none (access order)")
	}
	for i, k := range p.order {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.ref.name)
		if k.desc {
			b.WriteString(" desc")
		}
	}
	switch {
	case len(p.order) == 0:
	case !p.sort:
		b.WriteString(" (streamed)")
	case p.limit >= 0:
		fmt.Fprintf(&b, " (sorted: heap of the best %d)", sortHeapSize(p.offset, p.limit))
	default:
		b.WriteString(" (sorted in memory: every matching row)")
	}
	b.WriteString("\nselect: ")
	if p.proj == nil {
		b.WriteString("all fields")
	} else {
		names := []string{sysFieldSeq, sysFieldTime}
		for _, i := range p.proj {
			names = append(names, p.s.fields[i].Name)
		}
		b.WriteString(strings.Join(names, ", "))
	}
	b.WriteString("\nwindow: ")
	if p.limit >= 0 {
		fmt.Fprintf(&b, "limit %d", p.limit)
	} else {
		b.WriteString("no limit")
	}
	fmt.Fprintf(&b, ", offset %d\n", p.offset)
	return b.String()
}

// explainNanos prints a _time bound for Explain: RFC 3339 with nanoseconds,
// or -∞ / ∞ for the ends of the int64 range (no bound on that side).
func explainNanos(ns int64) string {
	switch ns {
	case math.MinInt64:
		return "-∞"
	case math.MaxInt64:
		return "∞"
	}
	return time.Unix(0, ns).UTC().Format(explainTimeLayout)
}
