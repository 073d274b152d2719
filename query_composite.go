package srdb

import (
	"fmt"
	"slices"
	"strings"
)

// Planning with composite indexes.
//
// A composite index over (c1, …, ck) stores, per row version, the key
// key(c1) ‖ … ‖ key(ck) ‖ seq (idxField.appendKey). Single-value keys are
// prefix-free and order-preserving, so for fixed values of c1..cj the
// entries form one contiguous run, ordered by c(j+1), then the later
// fields, then seq. The planner uses that run:
//
//   - prefix: Eq/In conditions on c1..cj (j ≥ 1; the Cartesian product of
//     their values, at most maxCompositePrefixes tuples, one range each);
//   - next: a range (Gt/Gte/Lt/Lte/Between) or StartsWith on c(j+1)
//     narrows each range further; without one the range is the whole run
//     (NULLs of c(j+1) included).
//
// With Eq on every field (j = k) each range is one full key, whose entries
// are in seq order: the ranges merge by seq like a single-field Eq, so
// OrderBy/OrderByDesc("_seq").Limit(n) reads n candidates. With one prefix
// tuple and the order on c(j+1) = ck (the last field, so ties come in seq
// order) the range is read forward or backward in key order and the result
// streams: Eq(channel).OrderByDesc(msg_seq).Limit(20) reads 20 candidates
// from the end of the channel's run, and with Lt(msg_seq, x) it starts at
// x. Any other order is sorted (a heap of Offset+Limit rows with Limit).

// maxCompositePrefixes bounds the prefix tuples (index ranges) of one
// composite index plan; a query with more In values falls back to fewer
// prefix fields or another access path.
const maxCompositePrefixes = 256

// compositeChoice is a candidate composite index plan.
type compositeChoice struct {
	idx         idxField
	cols        []fieldRef  // the index's fields in key order
	prefix      []*leafCond // Eq/In conditions on cols[0..j)
	next        *leafCond   // range or prefix condition on cols[j], or nil
	tuples      int         // prefix tuples (product of the set sizes)
	constrained int         // j, plus one with next
	streams     bool        // the access path yields the requested order
	ordered     bool        // the query has an order (Explain)
}

// pickComposite returns the best ready composite index for the AND terms
// of the query, or nil: the one constraining the most fields, then the one
// that yields the requested order, then the first declared.
func (p *plan) pickComposite(ix indexSource, shape orderShape, oref fieldRef) *compositeChoice {
	if len(p.s.composite) == 0 {
		return nil // the common case: no work, no allocation
	}
	var best *compositeChoice
	var eq, rng map[int]*leafCond
	for _, f := range indexedFields(p.s) {
		if f.rest == nil || !ix.ready(f.name) {
			continue
		}
		if eq == nil {
			eq, rng = p.leafCandidates()
		}
		c := compositeFor(p.s, f, eq, rng, shape, oref)
		if c == nil {
			continue
		}
		if best == nil || c.constrained > best.constrained || (c.constrained == best.constrained && c.streams && !best.streams) {
			best = c
		}
	}
	return best
}

// compositeFor matches the AND terms (eq, rng: see leafCandidates)
// against index f of schema s.
func compositeFor(s *Schema, f idxField, eq, rng map[int]*leafCond, shape orderShape, oref fieldRef) *compositeChoice {
	names := []string{s.fields[f.pos].Name}
	for _, c := range f.rest {
		names = append(names, c.name)
	}
	c := &compositeChoice{idx: f, tuples: 1}
	for _, n := range names {
		ref, err := resolveField(s, n)
		if err != nil {
			return nil
		}
		c.cols = append(c.cols, ref)
	}
	for _, ref := range c.cols {
		l := eq[ref.idx]
		if l == nil || c.tuples*l.set.len() > maxCompositePrefixes {
			break
		}
		c.prefix = append(c.prefix, l)
		c.tuples *= l.set.len()
	}
	j := len(c.prefix)
	if j == 0 {
		return nil
	}
	c.constrained = j
	if j < len(c.cols) {
		if l := rng[c.cols[j].idx]; l != nil {
			c.next = l
			c.constrained++
		}
	}
	c.ordered = shape != orderNone
	switch shape {
	case orderNone:
		c.streams = true
	case orderSeq:
		c.streams = j == len(c.cols)
	case orderField:
		// Float keys put NaN after +Inf, the query order before -Inf
		// (planIndexFull): a float field is sorted.
		// Several prefix tuples are merged by the last field's key.
		c.streams = j == len(c.cols)-1 && oref.idx == c.cols[j].idx && oref.ft.class() != classFloat
	}
	return c
}

// leafCandidates returns, per schema field, the smallest Eq/In condition
// and the intersection of the range conditions (or else the first
// StartsWith) among the AND terms.
func (p *plan) leafCandidates() (eq, rng map[int]*leafCond) {
	eq, rng = map[int]*leafCond{}, map[int]*leafCond{}
	for _, c := range p.filter.conjuncts() {
		if c.kind != cLeaf || c.leaf.ref.idx < 0 || c.leaf.empty {
			continue
		}
		l := c.leaf
		switch l.form {
		case formIn:
			if cur := eq[l.ref.idx]; cur == nil || l.set.len() < cur.set.len() {
				eq[l.ref.idx] = l
			}
		case formRange:
			cur := rng[l.ref.idx]
			if cur == nil || cur.form != formRange {
				cp := *l
				rng[l.ref.idx] = &cp
				continue
			}
			if l.lo.ok {
				cur.tighten(true, l.lo)
			}
			if l.hi.ok {
				cur.tighten(false, l.hi)
			}
		case formPrefix:
			if rng[l.ref.idx] == nil {
				rng[l.ref.idx] = l
			}
		}
	}
	return eq, rng
}

// planComposite makes c the access path. It returns false (and leaves the
// plan alone) when a value cannot be encoded or the conditions cannot match.
func (p *plan) planComposite(ix indexSource, c *compositeChoice, shape orderShape, desc bool) bool {
	if c.next != nil && c.next.empty {
		return false
	}
	// The prefix tuples, as concatenated keys, in ascending order: the
	// product of sorted component key lists in lexicographic order is
	// sorted, the keys being prefix-free.
	prefixes := [][]byte{nil}
	for _, l := range c.prefix {
		keys, err := indexKeysForSet(ix, l)
		if err != nil || len(keys) == 0 {
			return false
		}
		var out [][]byte
		for _, pre := range prefixes {
			for _, k := range keys {
				out = append(out, append(slices.Clip(pre), k...))
			}
		}
		prefixes = out
	}
	full := len(c.prefix) == len(c.cols)
	ip := &indexPlan{src: ix, name: c.idx.name, field: c.cols[0], more: c.cols[1:], keyCheck: !full || len(prefixes) > 1}
	var next indexRange
	if c.next != nil {
		r, err := indexRangeFor(ix, c.next)
		if err != nil {
			return false
		}
		next = r
	}
	switch {
	case shape == orderNone:
		ip.bySeq = full
	case shape == orderSeq && full:
		ip.bySeq = true
		p.reverse = desc
	case c.streams:
		p.reverse = desc
		if len(prefixes) > 1 {
			for _, pre := range prefixes {
				ip.suffixFrom = append(ip.suffixFrom, len(pre))
			}
		}
	default:
		p.sort = true
	}
	if p.reverse && !ip.merged() {
		slices.Reverse(prefixes)
	}
	for _, pre := range prefixes {
		switch {
		case full && ip.bySeq && p.reverse && p.seqHi < maxSeq:
			ip.ranges = append(ip.ranges, ix.eqBeforeSeq(pre, p.seqHi+1))
		case full && ip.bySeq && !p.reverse && p.seqLo > 1:
			ip.ranges = append(ip.ranges, ix.eqAfterSeq(pre, p.seqLo-1))
		case full:
			ip.ranges = append(ip.ranges, indexRangeForEq(pre))
		default:
			ip.ranges = append(ip.ranges, compositeRange(pre, c.next != nil, next))
		}
	}
	if full {
		ip.keys = prefixes
	}
	n, keyCheck := len(prefixes), ip.keyCheck
	ip.what = func() string { return c.describe(n, keyCheck) }
	p.access = accIndex
	p.ix = ip
	return true
}

// compositeRange returns the range of the entries whose key starts with
// the prefix tuple pre and whose next field lies in next (when hasNext;
// next's bounds are keys of that field's values, nil when open). Every
// bound is a key prefix: lo inclusive, hi exclusive.
//
//	no condition on the next field:  [pre, succ(pre))
//	lower bound v inclusive:         pre ‖ key(v)
//	lower bound v exclusive:         succ(pre ‖ key(v))  (skips every entry
//	                                 with v, whatever the later fields)
//	no lower bound:                  pre ‖ 0x01          (skips NULLs)
//	upper bound v inclusive:         succ(pre ‖ key(v))
//	upper bound v exclusive:         pre ‖ key(v)
//	no upper bound:                  pre ‖ 0x02          (after every value)
//
// succ(k) (idxPrefixSuccessor) exists: every key starts with 0x00 or 0x01.
func compositeRange(pre []byte, hasNext bool, next indexRange) indexRange {
	cat := func(k []byte) []byte { return append(slices.Clip(pre), k...) }
	if !hasNext {
		return indexRange{lo: pre, loInclusive: true, hi: idxPrefixSuccessor(pre)}
	}
	r := indexRange{loInclusive: true}
	switch {
	case next.lo == nil:
		r.lo = cat([]byte{idxTagValue})
	case next.loInclusive:
		r.lo = cat(next.lo)
	default:
		r.lo = idxPrefixSuccessor(cat(next.lo))
	}
	switch {
	case next.hi == nil:
		r.hi = cat([]byte{idxTagValue + 1})
	case next.hiInclusive:
		r.hi = idxPrefixSuccessor(cat(next.hi))
	default:
		r.hi = cat(next.hi)
	}
	return r
}

// describe is the Explain text of the index part: which index and why.
func (c *compositeChoice) describe(ranges int, keyCheck bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "(%s): ", c.idx.name)
	var parts []string
	for _, l := range c.prefix {
		parts = append(parts, l.text())
	}
	if c.next != nil {
		if c.next.form == formRange {
			parts = append(parts, fmt.Sprintf("%s in %s", c.next.ref.name, formatRange(c.next)))
		} else {
			parts = append(parts, c.next.text())
		}
	}
	b.WriteString(strings.Join(parts, " AND "))
	fmt.Fprintf(&b, " (%d of %d fields", c.constrained, len(c.cols))
	if len(c.prefix) == len(c.cols) {
		b.WriteString(", whole keys")
	}
	if c.streams && c.ordered {
		b.WriteString(", yields the order")
	}
	fmt.Fprintf(&b, "; %d prefix%s)", ranges, pluralES(ranges))
	return b.String()
}

func pluralES(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}
