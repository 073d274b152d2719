package srdb

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queryModelCompact runs a full compaction of the table between the model
// test's rounds, so every query is also checked against compacted files.
var queryModelCompact = func(t *Table) error { return t.Compact() }

// qmRow is the model's copy of one row of the IM table.
type qmRow struct {
	live    bool
	ch      string
	from    string
	msgID   int64
	typ     uint8
	payload []byte // nil = NULL
	tn      int64  // _time, Unix ns
}

// qmVal is a field value of the model: an integer (also _seq), an instant
// ('t', Unix ns), a string or bytes.
type qmVal struct {
	null bool
	kind byte // 'i', 't', 's', 'b'
	i    int64
	s    string
	b    []byte
}

func (r *qmRow) get(field string, seq int64) qmVal {
	switch field {
	case "_seq":
		return qmVal{kind: 'i', i: seq}
	case "_time":
		return qmVal{kind: 't', i: r.tn}
	case "channel_id":
		return qmVal{kind: 's', s: r.ch}
	case "from_uid":
		return qmVal{kind: 's', s: r.from}
	case "msg_id":
		return qmVal{kind: 'i', i: r.msgID}
	case "msg_type":
		return qmVal{kind: 'i', i: int64(r.typ)}
	case "payload":
		if r.payload == nil {
			return qmVal{null: true}
		}
		return qmVal{kind: 'b', b: r.payload}
	}
	panic("unknown field " + field)
}

func (r *qmRow) data(seq int64) map[string]any {
	var p any
	if r.payload != nil {
		p = r.payload
	}
	return map[string]any{
		"_seq": seq, "channel_id": r.ch, "from_uid": r.from, "msg_id": r.msgID,
		"msg_type": r.typ, "payload": p,
	}
}

// qmCmpInt compares integer x with a Go number exactly, by a method of its
// own (no big.Rat, unlike the engine). ok is false for NaN.
func qmCmpInt(x int64, a any) (int, bool) {
	switch y := a.(type) {
	case int:
		return cmp.Compare(x, int64(y)), true
	case int64:
		return cmp.Compare(x, y), true
	case int8:
		return cmp.Compare(x, int64(y)), true
	case int32:
		return cmp.Compare(x, int64(y)), true
	case uint8:
		return cmp.Compare(x, int64(y)), true
	case uint64:
		if y > math.MaxInt64 {
			return -1, true
		}
		return cmp.Compare(x, int64(y)), true
	case float64:
		switch {
		case math.IsNaN(y):
			return 0, false
		case y >= 1<<63:
			return -1, true
		case y < -(1 << 63):
			return 1, true
		}
		fl := math.Floor(y)
		xi := int64(fl)
		switch {
		case x < xi:
			return -1, true
		case x > xi:
			return 1, true
		case fl == y:
			return 0, true
		}
		return -1, true // x == floor(y) < y
	}
	panic(fmt.Sprintf("model: unexpected numeric argument %T", a))
}

func qmBytesOf(a any) []byte {
	switch x := a.(type) {
	case string:
		return []byte(x)
	case []byte:
		return x
	}
	panic(fmt.Sprintf("model: unexpected string argument %T", a))
}

// qmCmp compares a non-NULL model value with a query argument.
func qmCmp(v qmVal, a any) (int, bool) {
	switch v.kind {
	case 'i':
		return qmCmpInt(v.i, a)
	case 't':
		return cmp.Compare(v.i, a.(time.Time).UnixNano()), true
	case 's':
		return strings.Compare(v.s, string(qmBytesOf(a))), true
	default:
		return bytes.Compare(v.b, qmBytesOf(a)), true
	}
}

func qmValCmp(a, b qmVal) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return -1
	case b.null:
		return 1
	}
	switch a.kind {
	case 'i', 't':
		return cmp.Compare(a.i, b.i)
	case 's':
		return strings.Compare(a.s, b.s)
	}
	return bytes.Compare(a.b, b.b)
}

func qmTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// qmEval evaluates a condition on a model row under three-valued logic,
// straight from the Expr as written.
func qmEval(e Expr, r *qmRow, seq int64) tri {
	n := e.n
	switch n.op {
	case opAnd:
		res := triTrue
		for _, k := range n.kids {
			switch qmEval(k, r, seq) {
			case triFalse:
				return triFalse
			case triNull:
				res = triNull
			}
		}
		return res
	case opOr:
		res := triFalse
		for _, k := range n.kids {
			switch qmEval(k, r, seq) {
			case triTrue:
				return triTrue
			case triNull:
				res = triNull
			}
		}
		return res
	case opNot:
		switch qmEval(n.kids[0], r, seq) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triNull
	}
	v := r.get(n.field, seq)
	switch n.op {
	case opIsNull:
		return qmTri(v.null)
	case opNotNull:
		return qmTri(!v.null)
	}
	if v.null {
		return triNull
	}
	eq := func(a any) bool { c, ok := qmCmp(v, a); return ok && c == 0 }
	rel := func(a any, want func(int) bool) bool { c, ok := qmCmp(v, a); return ok && want(c) }
	raw := func() []byte {
		if v.kind == 's' {
			return []byte(v.s)
		}
		return v.b
	}
	switch n.op {
	case opEq:
		return qmTri(eq(n.args[0]))
	case opNotEq:
		return qmTri(!eq(n.args[0]))
	case opLt:
		return qmTri(rel(n.args[0], func(c int) bool { return c < 0 }))
	case opLte:
		return qmTri(rel(n.args[0], func(c int) bool { return c <= 0 }))
	case opGt:
		return qmTri(rel(n.args[0], func(c int) bool { return c > 0 }))
	case opGte:
		return qmTri(rel(n.args[0], func(c int) bool { return c >= 0 }))
	case opBetween:
		return qmTri(rel(n.args[0], func(c int) bool { return c >= 0 }) && rel(n.args[1], func(c int) bool { return c <= 0 }))
	case opIn, opNotIn:
		found := slices.ContainsFunc(n.args, eq)
		return qmTri(found == (n.op == opIn))
	case opContains:
		return qmTri(bytes.Contains(raw(), qmBytesOf(n.args[0])))
	case opStartsWith:
		return qmTri(bytes.HasPrefix(raw(), qmBytesOf(n.args[0])))
	case opEndsWith:
		return qmTri(bytes.HasSuffix(raw(), qmBytesOf(n.args[0])))
	}
	panic("model: operator " + n.op.String())
}

// qmModel is the expected content of the table.
type qmModel struct {
	rows  []qmRow // rows[seq-1]
	live  []int64 // live seqs, unordered
	where map[int64]int
}

func (m *qmModel) addLive(seq int64) {
	m.where[seq] = len(m.live)
	m.live = append(m.live, seq)
}

func (m *qmModel) removeLive(seq int64) {
	i := m.where[seq]
	last := m.live[len(m.live)-1]
	m.live[i] = last
	m.where[last] = i
	m.live = m.live[:len(m.live)-1]
	delete(m.where, seq)
}

// qmSpec is one random query.
type qmSpec struct {
	conds  []Expr
	order  []orderBy
	limit  int
	offset int
	sel    []string
}

func (s qmSpec) String() string {
	var b strings.Builder
	for i, c := range s.conds {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(c.String())
	}
	for _, o := range s.order {
		fmt.Fprintf(&b, " ORDER %s desc=%v", o.field, o.desc)
	}
	fmt.Fprintf(&b, " LIMIT %d OFFSET %d SELECT %v", s.limit, s.offset, s.sel)
	return b.String()
}

func (s qmSpec) query(tbl *Table, fake *queryFakeIndex) *Query {
	q := tbl.Query()
	q.ix = queryFakeIndexAdapter{fake}
	q.Where(s.conds...)
	for _, o := range s.order {
		if o.desc {
			q.OrderByDesc(o.field)
		} else {
			q.OrderBy(o.field)
		}
	}
	if s.limit >= 0 {
		q.Limit(s.limit)
	}
	if s.offset > 0 {
		q.Offset(s.offset)
	}
	if s.sel != nil {
		q.Select(s.sel...)
	}
	return q
}

// qmGen generates random rows and queries.
type qmGen struct {
	rng    *rand.Rand
	base   int64 // _time of seq 0
	maxSeq int64
}

const qmChannels = 40

func (g *qmGen) channel() string {
	if g.rng.Intn(3) == 0 {
		return fmt.Sprintf("ch-%02d", g.rng.Intn(5))
	}
	return fmt.Sprintf("ch-%02d", g.rng.Intn(qmChannels))
}

func (g *qmGen) payload() []byte {
	if g.rng.Intn(10) == 0 {
		return nil
	}
	b := make([]byte, g.rng.Intn(17))
	for i := range b {
		b[i] = "abcde"[g.rng.Intn(5)]
	}
	return b
}

func (g *qmGen) row(seq int64) qmRow {
	tn := g.base + seq*1000 + g.rng.Int63n(500)
	if g.rng.Intn(33) == 0 {
		tn = g.base + g.rng.Int63n(max(g.maxSeq, 1)*1000)
	}
	return qmRow{
		live: true, ch: g.channel(), from: fmt.Sprintf("u%03d", g.rng.Intn(200)),
		msgID: g.rng.Int63n(2_000_000) - 1000, typ: uint8(g.rng.Intn(10)), payload: g.payload(), tn: tn,
	}
}

func (g *qmGen) seq() int64 { return 1 + g.rng.Int63n(g.maxSeq+5) }

func (g *qmGen) timeArg() time.Time {
	return time.Unix(0, g.base+g.rng.Int63n((g.maxSeq+5)*1000))
}

// msgIDArg returns an argument for the Int64 msg_id in a random Go type.
func (g *qmGen) msgIDArg() any {
	x := g.rng.Int63n(2_000_000) - 1000
	switch g.rng.Intn(9) {
	case 0:
		return int(x)
	case 1:
		return float64(x) + 0.5
	case 2:
		return float64(x)
	case 3:
		return uint64(1<<63) + uint64(g.rng.Intn(10))
	case 4:
		return []any{math.Inf(1), math.Inf(-1), -1e30, 1e30, math.NaN()}[g.rng.Intn(5)]
	case 5:
		return int8(g.rng.Intn(256) - 128)
	}
	return x
}

// msgTypeArg returns an argument for the Uint8 msg_type, often outside its
// range or not integral.
func (g *qmGen) msgTypeArg() any {
	switch g.rng.Intn(8) {
	case 0:
		return -1
	case 1:
		return 300
	case 2:
		return float64(g.rng.Intn(10)) + 0.5
	case 3:
		return uint8(g.rng.Intn(10))
	case 4:
		return uint64(1 << 63)
	}
	return g.rng.Intn(11)
}

func (g *qmGen) strArg(field string) any {
	var s string
	switch field {
	case "channel_id":
		s = g.channel()
		if g.rng.Intn(10) == 0 {
			s = "ch-9x"
		}
	case "from_uid":
		s = fmt.Sprintf("u%03d", g.rng.Intn(210))
	default:
		s = string(g.payload())
	}
	if g.rng.Intn(4) == 0 {
		return []byte(s)
	}
	return s
}

func (g *qmGen) fragment() string {
	n := g.rng.Intn(3) + 1
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdeuch-0123"[g.rng.Intn(13)]
	}
	return string(b)
}

// arg returns a comparison argument for field.
func (g *qmGen) arg(field string) any {
	switch field {
	case "_seq":
		if g.rng.Intn(5) == 0 {
			return float64(g.seq()) - 0.5
		}
		return g.seq()
	case "_time":
		return g.timeArg()
	case "msg_id":
		return g.msgIDArg()
	case "msg_type":
		return g.msgTypeArg()
	}
	return g.strArg(field)
}

func (g *qmGen) leaf() Expr {
	fields := []string{"channel_id", "channel_id", "from_uid", "msg_id", "msg_id", "msg_type", "payload", "_seq", "_seq", "_time"}
	f := fields[g.rng.Intn(len(fields))]
	strField := f == "channel_id" || f == "from_uid" || f == "payload"
	ops := []exprOp{opEq, opNotEq, opLt, opGt, opLte, opGte, opIn, opNotIn, opBetween, opIsNull, opNotNull}
	if strField {
		ops = append(ops, opContains, opStartsWith, opEndsWith, opStartsWith)
	}
	if f == "_seq" || f == "channel_id" || f == "msg_id" {
		ops = append(ops, opEq, opIn, opBetween)
	}
	switch op := ops[g.rng.Intn(len(ops))]; op {
	case opEq:
		return Eq(f, g.arg(f))
	case opNotEq:
		return NotEq(f, g.arg(f))
	case opLt:
		return Lt(f, g.arg(f))
	case opGt:
		return Gt(f, g.arg(f))
	case opLte:
		return Lte(f, g.arg(f))
	case opGte:
		return Gte(f, g.arg(f))
	case opIn, opNotIn:
		vs := make([]any, g.rng.Intn(5))
		for i := range vs {
			vs[i] = g.arg(f)
		}
		if op == opIn {
			return In(f, vs...)
		}
		return NotIn(f, vs...)
	case opBetween:
		lo := g.arg(f)
		if f == "_seq" {
			s := g.seq()
			return Between(f, s, s+g.rng.Int63n(3000))
		}
		if f == "_time" {
			t := g.timeArg()
			return Between(f, t, t.Add(time.Duration(g.rng.Int63n(int64(g.maxSeq)*1000/4+1))))
		}
		return Between(f, lo, g.arg(f))
	case opIsNull:
		return IsNull(f)
	case opNotNull:
		return NotNull(f)
	case opContains:
		return Contains(f, g.fragment())
	case opStartsWith:
		if f == "channel_id" {
			return StartsWith(f, "ch-"+fmt.Sprint(g.rng.Intn(5)))
		}
		return StartsWith(f, g.fragment())
	default:
		return EndsWith(f, g.fragment())
	}
}

func (g *qmGen) cond(depth int) Expr {
	if depth < 2 {
		switch g.rng.Intn(12) {
		case 0:
			return Or(g.cond(depth+1), g.cond(depth+1))
		case 1:
			return Not(g.cond(depth + 1))
		case 2:
			return And(g.cond(depth+1), g.cond(depth+1))
		case 3:
			return Or(g.cond(depth+1), g.cond(depth+1), g.cond(depth+1))
		}
	}
	return g.leaf()
}

func (g *qmGen) spec() qmSpec {
	s := qmSpec{limit: -1}
	for n := g.rng.Intn(4); n > 0; n-- {
		s.conds = append(s.conds, g.cond(0))
	}
	orderFields := []string{"_seq", "_seq", "msg_id", "channel_id", "msg_type", "from_uid", "payload", "_time"}
	if g.rng.Intn(10) < 7 {
		for n := 1 + g.rng.Intn(2); n > 0; n-- {
			s.order = append(s.order, orderBy{field: orderFields[g.rng.Intn(len(orderFields))], desc: g.rng.Intn(2) == 0})
		}
	}
	if g.rng.Intn(2) == 0 {
		s.limit = g.rng.Intn(60)
	}
	if g.rng.Intn(3) == 0 {
		s.offset = g.rng.Intn(120)
	}
	if g.rng.Intn(3) == 0 {
		all := []string{"channel_id", "from_uid", "msg_id", "msg_type", "payload", "_seq", "_time"}
		s.sel = []string{}
		for _, f := range all {
			if g.rng.Intn(2) == 0 {
				s.sel = append(s.sel, f)
			}
		}
	}
	return s
}

// expected evaluates spec on the model by brute force: the matching seqs in
// the spec's order (seq order without one), and the window of them.
func (m *qmModel) expected(s qmSpec) (all, window []int64) {
	for i := range m.rows {
		r := &m.rows[i]
		if !r.live {
			continue
		}
		seq := int64(i + 1)
		ok := true
		for _, c := range s.conds {
			if qmEval(c, r, seq) != triTrue {
				ok = false
				break
			}
		}
		if ok {
			all = append(all, seq)
		}
	}
	if len(s.order) > 0 {
		slices.SortFunc(all, func(a, b int64) int {
			ra, rb := &m.rows[a-1], &m.rows[b-1]
			for _, o := range s.order {
				c := qmValCmp(ra.get(o.field, a), rb.get(o.field, b))
				if o.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			c := cmp.Compare(a, b)
			if s.order[0].desc {
				c = -c
			}
			return c
		})
	}
	window = all[min(s.offset, len(all)):]
	if s.limit >= 0 {
		window = window[:min(s.limit, len(window))]
	}
	return all, window
}

// qmCheck runs one spec against the table and the model (and its Count
// when withCount).
func qmCheck(t *testing.T, tbl *Table, fake *queryFakeIndex, m *qmModel, s qmSpec, label string, withCount bool) {
	t.Helper()
	all, want := m.expected(s)
	q := s.query(tbl, fake)
	plan, err := q.Explain()
	require.NoError(t, err, "%s: %s", label, s)
	ctx := func() string { return fmt.Sprintf("%s: %s\n%s", label, s, plan) }

	rows, err := q.Rows()
	require.NoError(t, err, ctx())
	var got []int64
	for rows.Next() {
		row := rows.Row()
		got = append(got, row.Seq())
		mr := &m.rows[row.Seq()-1]
		if !mr.live {
			t.Fatalf("%s\nreturned dead seq %d", ctx(), row.Seq())
		}
		if !qmRowEqual(mr, row, s.sel) {
			t.Fatalf("%s\nseq %d: want %v, got %v", ctx(), row.Seq(), mr.data(row.Seq()), row.Data())
		}
	}
	require.NoError(t, rows.Close(), ctx())
	switch {
	case len(s.order) > 0:
		require.True(t, slices.Equal(want, got), "%s\nwant %v\ngot  %v", ctx(), want, got)
	case s.limit < 0 && s.offset == 0:
		slices.Sort(got)
		require.True(t, slices.Equal(want, got), "%s\nwant %v\ngot  %v", ctx(), want, got)
	default: // a window of an unspecified order: right size, matching rows, once each
		require.Len(t, got, len(want), ctx())
		slices.Sort(got)
		require.Len(t, slices.Compact(slices.Clone(got)), len(got), "%s: duplicates", ctx())
		for _, seq := range got {
			_, found := slices.BinarySearch(all, seq)
			require.True(t, found, "%s: seq %d does not match", ctx(), seq)
		}
	}
	if withCount {
		n, err := q.Count()
		require.NoError(t, err, ctx())
		require.Equal(t, len(want), n, "%s: Count", ctx())
	}
}

// qmRowEqual compares a returned row with the model row: _time, and every
// field in sel (all when sel is nil); the others must be absent.
func qmRowEqual(mr *qmRow, row *Row, sel []string) bool {
	if row.Time() != time.Unix(0, mr.tn) {
		return false
	}
	for k, want := range mr.data(row.Seq()) {
		got, ok := row.Get(k)
		if sel != nil && k != "_seq" && !slices.Contains(sel, k) {
			if ok {
				return false
			}
			continue
		}
		if !ok {
			return false
		}
		if wb, isBytes := want.([]byte); isBytes {
			gb, _ := got.([]byte)
			if !bytes.Equal(wb, gb) || gb == nil {
				return false
			}
			continue
		}
		if want != got {
			return false
		}
	}
	return true
}

// qmFirstLast checks First, Last and Paginate for a spec.
func qmFirstLast(t *testing.T, tbl *Table, fake *queryFakeIndex, m *qmModel, s qmSpec, label string) {
	t.Helper()
	if len(s.order) == 0 {
		s.order = []orderBy{{field: "_seq"}}
	}
	all, want := m.expected(s)
	q := s.query(tbl, fake)
	first, err := q.First()
	last, err2 := q.Last()
	if len(want) == 0 {
		require.True(t, IsNotFound(err), "%s: %s: First: %v", label, s, err)
		require.True(t, IsNotFound(err2), "%s: %s: Last: %v", label, s, err2)
	} else {
		require.NoError(t, err)
		require.NoError(t, err2)
		require.Equal(t, want[0], first.Seq(), "%s: %s: First", label, s)
		require.Equal(t, want[len(want)-1], last.Seq(), "%s: %s: Last", label, s)
	}
	size := 1 + len(all)/3
	for page := 1; page <= 4; page++ {
		rows, total, err := q.Paginate(page, size)
		require.NoError(t, err)
		require.Equal(t, len(all), total, "%s: %s: Paginate total", label, s)
		var got []int64
		for rows.Next() {
			got = append(got, rows.Row().Seq())
		}
		require.NoError(t, rows.Close())
		lo := min((page-1)*size, len(all))
		require.True(t, slices.Equal(all[lo:min(lo+size, len(all))], got), "%s: %s: page %d: want %v, got %v", label, s, page, all[lo:min(lo+size, len(all))], got)
	}
}

// TestQueryModel inserts random IM rows (with updates and deletes) across
// memtables and several SSTs, then compares hundreds of random queries —
// every operator, Or/Not, orders, limits, offsets, Select — with a brute
// force evaluation over an in-memory copy, before and after Flush, after
// reopening, and after compaction when queryModelCompact is set. Indexed
// fields use the fake index, which keeps stale entries.
func TestQueryModel(t *testing.T) {
	n, perPhase := 100_000, 80
	if raceEnabled || testing.Short() {
		n, perPhase = 20_000, 40
	}
	dir := t.TempDir()
	// About ten SSTs whatever n is (a row encodes to ~100 bytes).
	opts := &Options{MemTableSize: int64(n) * 10, Durability: DurabilityNone, DisableAutoCompaction: true}
	db := openTestDB(t, dir, opts)
	tbl := createIMTable(t, db)
	s := tbl.Schema()
	fake := newQueryFakeIndex("channel_id", "msg_id")
	g := &qmGen{rng: rand.New(rand.NewSource(1)), base: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), maxSeq: int64(n)}
	m := &qmModel{where: map[int64]int{}}

	const batch = 100
	start := time.Now()
	for len(m.rows) < n {
		rows := make([]map[string]any, batch)
		for i := range rows {
			seq := int64(len(m.rows) + 1)
			r := g.row(seq)
			m.rows = append(m.rows, r)
			d := r.data(seq)
			delete(d, "_seq")
			if r.payload == nil {
				delete(d, "payload")
			}
			d["_time"] = time.Unix(0, r.tn)
			rows[i] = d
		}
		first, err := tbl.Insert(rows)
		require.NoError(t, err)
		for i := range rows {
			seq := first + int64(i)
			require.Equal(t, int64(len(m.rows)-batch+i+1), seq)
			m.addLive(seq)
			fake.addRow(s, rows[i], seq)
		}
		for k := 0; k < 3 && len(m.live) > 0; k++ { // updates, some of them of rows in older SSTs
			seq := m.live[g.rng.Intn(len(m.live))]
			r := &m.rows[seq-1]
			ch := map[string]any{}
			switch g.rng.Intn(4) {
			case 0:
				r.ch = g.channel()
				ch["channel_id"] = r.ch
			case 1:
				r.msgID = g.rng.Int63n(2_000_000) - 1000
				ch["msg_id"] = r.msgID
			case 2:
				r.payload = g.payload()
				if r.payload == nil {
					ch["payload"] = nil
				} else {
					ch["payload"] = r.payload
				}
			default:
				r.typ = uint8(g.rng.Intn(10))
				r.from = fmt.Sprintf("u%03d", g.rng.Intn(200))
				ch["msg_type"], ch["from_uid"] = r.typ, r.from
			}
			require.NoError(t, tbl.Update(seq, ch))
			fake.addRow(s, ch, seq)
		}
		for k := 0; k < 2 && len(m.live) > 0; k++ {
			seq := m.live[g.rng.Intn(len(m.live))]
			require.NoError(t, tbl.Delete(seq))
			m.rows[seq-1].live = false
			m.removeLive(seq)
		}
	}
	require.Greater(t, len(tbl.Stats().Levels[0].Files), 2, "the data should span several SSTs")

	t.Logf("inserted %d rows in %v", n, time.Since(start))
	phaseN := func(label string, seed int64, perPhase int) {
		defer func(t0 time.Time) { t.Logf("%s: %d queries in %v", label, perPhase, time.Since(t0)) }(time.Now())
		g.rng = rand.New(rand.NewSource(seed))
		cnt, err := tbl.Query().Count()
		require.NoError(t, err)
		require.Equal(t, len(m.live), cnt, "%s: Count()", label)
		for i := 0; i < perPhase; i++ {
			spec := g.spec()
			qmCheck(t, tbl, fake, m, spec, fmt.Sprintf("%s query %d", label, i), i%2 == 0)
			if i%16 == 0 {
				qmFirstLast(t, tbl, fake, m, spec, fmt.Sprintf("%s query %d", label, i))
			}
		}
	}
	phase := func(label string, seed int64) { phaseN(label, seed, perPhase) }
	phase("memtable+SSTs", 2)
	qmDeletes(t, tbl, fake, g, m, n)
	phase("after range deletes", 6)
	require.NoError(t, tbl.Flush())
	phase("flushed", 3)
	require.NoError(t, db.Close())
	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err := db.Table("messages")
	require.NoError(t, err)
	phase("reopened", 4)
	if queryModelCompact != nil {
		require.NoError(t, queryModelCompact(tbl))
		phase("compacted", 5)
	}

	// Failed writes: in an incarnation where every write(2) fails from the
	// write on (DurabilityInterval, so the commit is that write), an Insert
	// batch, an Update and a Delete each return an error. The model does not
	// change: readers must not see the failed write, neither right away nor
	// after a Flush attempt, nor after a reopen (its record never reached
	// the file).
	ffs := newFaultFS(OSFS())
	failOpts := *opts
	failOpts.FS, failOpts.Durability, failOpts.SyncInterval = ffs, DurabilityInterval, time.Hour
	for k, kind := range []string{"Insert", "Update", "Delete"} {
		require.NoError(t, db.Close())
		db = openTestDB(t, dir, &failOpts)
		tbl, err = db.Table("messages")
		require.NoError(t, err)
		ffs.failNth(fsOpWrite, ffs.opCountOf(fsOpWrite), failFromThenOn, faultEIO)
		seq := m.live[g.rng.Intn(len(m.live))]
		switch kind {
		case "Insert":
			rows := make([]map[string]any, 10)
			for i := range rows {
				r := g.row(int64(len(m.rows) + 1 + i))
				rows[i] = r.data(0)
				delete(rows[i], "_seq")
				if r.payload == nil {
					delete(rows[i], "payload")
				}
				rows[i]["_time"] = time.Unix(0, r.tn)
			}
			_, err = tbl.Insert(rows)
		case "Update":
			err = tbl.Update(seq, map[string]any{"channel_id": g.channel(), "msg_id": int64(-seq)})
		default:
			err = tbl.Delete(seq)
		}
		require.Error(t, err, "failed %s", kind)
		phaseN("failed "+kind, int64(6+k), perPhase/4)
		require.Error(t, tbl.Flush(), "Flush after a failed %s", kind)
		phaseN("failed "+kind+", Flush attempted", int64(9+k), perPhase/4)
		_ = db.Close()
		ffs.clearFaults()
	}
	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err = db.Table("messages")
	require.NoError(t, err)
	phase("reopened after failed writes", 12)
}

// scanOnlyIndex is an indexSource that offers no index: the planner then
// answers every query by a scan (and sorts for an OrderBy on a field).
type scanOnlyIndex struct{ indexSource }

func (scanOnlyIndex) ready(string) bool { return false }

// qfOrderCmp is the documented order of float values: NULL (nil) first,
// then NaN, then -Inf … +Inf, with -0 equal to +0.
func qfOrderCmp(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	f := func(v any) float64 {
		if x, ok := v.(float32); ok {
			return float64(x)
		}
		return v.(float64)
	}
	return cmp.Compare(f(a), f(b)) // NaN first, -0 == +0
}

// TestQueryPlanFloatOrderEquivalence is the plan-equivalence property for
// float fields (issue 12): random queries over an indexed nullable Float64
// and an indexed Float32 holding NULL, NaN, ±Inf, -0 and +0 return exactly
// the same rows in the same order through the real index (whole-index walk
// for the order, index ranges) and through a scan with an in-memory sort,
// and that order is the documented one: NULL, NaN, then -Inf … +Inf (-0 and
// +0 tie, ties in _seq order, reversed by OrderByDesc).
func TestQueryPlanFloatOrderEquivalence(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true})
	defer db.Close()
	s, err := NewSchema("fl", []Field{
		{Name: "d", Type: Float64, Indexed: true, Nullable: true},
		{Name: "f", Type: Float32, Indexed: true},
	})
	require.NoError(t, err)
	tbl, err := db.CreateTable("fl", s)
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(12))
	specials := []float64{math.NaN(), math.Inf(-1), math.Inf(1), math.Copysign(0, -1), 0, 1, -1, 2.5, -2.5}
	val := func() float64 {
		if rng.Intn(2) == 0 {
			return specials[rng.Intn(len(specials))]
		}
		return float64(rng.Intn(7) - 3)
	}
	const n = 600
	for i := 0; i < n; i++ {
		row := map[string]any{"f": float32(val())}
		if rng.Intn(8) != 0 {
			row["d"] = val()
		}
		_, err := tbl.Insert(row)
		require.NoError(t, err)
		switch i {
		case n / 3, 2 * n / 3: // rows in two SSTs and the memtable
			require.NoError(t, tbl.Flush())
		}
	}
	for i := 0; i < 20; i++ { // a few stale index entries
		require.NoError(t, tbl.Update(int64(1+rng.Intn(n)), map[string]any{"d": val(), "f": float32(val())}))
	}

	cond := func(field string) Expr {
		v := val()
		var arg any = v
		if field == "f" {
			arg = float32(v)
		}
		switch rng.Intn(9) {
		case 0:
			return NotEq(field, arg)
		case 1:
			return Gt(field, arg)
		case 2:
			return Lte(field, arg)
		case 3:
			return Between(field, arg, val())
		case 4:
			return NotIn(field, arg, val())
		case 5:
			return In(field, arg, val(), math.NaN())
		case 6:
			return NotNull(field)
		case 7:
			return Or(Eq(field, arg), IsNull(field))
		}
		return Eq(field, arg)
	}
	usedIndex, usedWhole := 0, 0
	for i := 0; i < 300; i++ {
		field := []string{"d", "f"}[rng.Intn(2)]
		build := func(q *Query) *Query {
			r := rand.New(rand.NewSource(int64(i))) // same query for both plans
			saved := rng
			rng = r
			defer func() { rng = saved }()
			if rng.Intn(4) != 0 {
				q.Where(cond(field))
			}
			if rng.Intn(5) == 0 {
				q.Where(cond([]string{"d", "f"}[rng.Intn(2)]))
			}
			desc := rng.Intn(2) == 0
			if desc {
				q.OrderByDesc(field)
			} else {
				q.OrderBy(field)
			}
			if rng.Intn(4) == 0 {
				q.OrderBy([]string{"d", "f", "_seq"}[rng.Intn(3)])
			}
			if rng.Intn(3) == 0 {
				q.Limit(rng.Intn(40))
			}
			if rng.Intn(3) == 0 {
				q.Offset(rng.Intn(40))
			}
			return q
		}
		qi := build(tbl.Query())
		qs := build(tbl.Query())
		qs.ix = scanOnlyIndex{tableIndexSource{tbl}}
		plan, err := qi.Explain()
		require.NoError(t, err)
		if strings.Contains(plan, "access: index") {
			usedIndex++
		}
		if strings.Contains(plan, "whole index") {
			usedWhole++
		}
		splan, err := qs.Explain()
		require.NoError(t, err)
		require.NotContains(t, splan, "access: index")

		got, want := querySeqs(t, qi), querySeqs(t, qs)
		require.Equal(t, want, got, "query %d: index plan and scan differ\nindex plan:\n%s\nscan plan:\n%s", i, plan, splan)

		// The scan's order is the documented one on the first key.
		desc := qi.order[0].desc
		var prev *Row
		for _, seq := range want {
			row, err := tbl.Get(seq)
			require.NoError(t, err)
			if prev != nil {
				a, _ := prev.Get(field)
				b, _ := row.Get(field)
				c := qfOrderCmp(a, b)
				if desc {
					c = -c
				}
				require.LessOrEqual(t, c, 0, "query %d: %v before %v\n%s", i, a, b, splan)
			}
			prev = row
		}
	}
	t.Logf("%d of 300 queries used an index, %d the whole index for the order", usedIndex, usedWhole)
	require.Greater(t, usedWhole, 20, "too few whole-index walks to test the order")
}

// qmDeletes runs the deleting calls against the table and the model: a
// DeleteRange of about 1% of the seqs in the middle, a DeleteBefore of
// about the oldest 2% by _time (rows are nearly, not exactly, in time
// order), a MaxAge expiring the next 2% (made durable by retention, then
// cleared), and Query.Delete of random queries (conditions, order, window).
func qmDeletes(t *testing.T, tbl *Table, fake *queryFakeIndex, g *qmGen, m *qmModel, n int) {
	t.Helper()
	kill := func(seq int64) {
		if m.rows[seq-1].live {
			m.rows[seq-1].live = false
			m.removeLive(seq)
		}
	}
	lo := int64(n/2) + g.rng.Int63n(int64(n/10))
	hi := lo + int64(n/100)
	require.NoError(t, tbl.DeleteRange(lo, hi))
	for seq := lo; seq < hi; seq++ {
		kill(seq)
	}
	times := make([]int64, 0, len(m.rows))
	for i := range m.rows {
		times = append(times, m.rows[i].tn)
	}
	slices.Sort(times)
	cutoff := times[len(times)/50]
	require.NoError(t, tbl.DeleteBefore(time.Unix(0, cutoff)))
	for i := range m.rows {
		if m.rows[i].tn < cutoff {
			kill(int64(i + 1))
		}
	}
	// MaxAge with a test clock: rows older than the next 2% by _time
	// expire at once, retention makes it durable, and clearing the options
	// afterwards keeps them deleted.
	cutoff = times[len(times)/25]
	now := time.Unix(0, cutoff).Add(time.Hour)
	clock := func() time.Time { return now }
	tbl.clock.Store(&clock)
	require.NoError(t, tbl.SetOptions(TableOptions{MaxAge: time.Hour}))
	for i := range m.rows {
		if m.rows[i].tn < cutoff {
			kill(int64(i + 1))
		}
	}
	cnt, err := tbl.Query().Count()
	require.NoError(t, err)
	require.Equal(t, len(m.live), cnt, "Count with MaxAge before retention ran")
	require.NoError(t, tbl.enforceRetention())
	require.NoError(t, tbl.SetOptions(TableOptions{}))
	tbl.clock.Store(nil)
	for k := 0; k < 12; k++ {
		spec := g.spec()
		spec.sel = nil
		if g.rng.Intn(2) == 0 {
			spec.limit = 1 + g.rng.Intn(50)
		}
		_, window := m.expected(spec)
		got, err := spec.query(tbl, fake).Delete()
		require.NoError(t, err, "Query.Delete %v", spec)
		require.Equal(t, len(window), got, "Query.Delete %v", spec)
		for _, seq := range window {
			kill(seq)
		}
	}
}
