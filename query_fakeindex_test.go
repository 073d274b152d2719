package srdb

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"
)

// queryFakeIndex stands in for index.go in the query tests until the index
// branch is merged: an in-memory (key, seq) list per field that, like an
// LSM index before compaction, keeps stale entries — the old value of an
// updated row and the entries of deleted rows stay — so the planner's
// re-check of every candidate against the newest row is exercised. Queries
// use it through Query.ix.
type queryFakeIndex struct {
	mu      sync.Mutex
	ready   map[string]bool
	entries map[string][]queryFakeEntry // sorted by (key, seq), no duplicates
	dirty   map[string]bool
	opens   int // cursors opened
	// notReady makes open fail like an index whose build is in progress.
	notReady bool
}

type queryFakeEntry struct {
	key []byte
	seq int64
}

func newQueryFakeIndex(fields ...string) *queryFakeIndex {
	x := &queryFakeIndex{ready: map[string]bool{}, entries: map[string][]queryFakeEntry{}, dirty: map[string]bool{}}
	for _, f := range fields {
		x.ready[f] = true
	}
	return x
}

// add records that seq has value v in field (on insert and update).
func (x *queryFakeIndex) add(field string, ft FieldType, v any, seq int64) {
	if v == nil {
		return
	}
	k, err := queryFakeEncode(ft, v)
	if err != nil {
		panic(err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entries[field] = append(x.entries[field], queryFakeEntry{key: k, seq: seq})
	x.dirty[field] = true
}

// addRow indexes every ready field of a row given as a map.
func (x *queryFakeIndex) addRow(s *Schema, row map[string]any, seq int64) {
	for name := range x.ready {
		f, ok := s.Field(name)
		if !ok {
			continue
		}
		if v, ok := row[name]; ok {
			x.add(name, f.Type, v, seq)
		}
	}
}

func (x *queryFakeIndex) sorted(field string) []queryFakeEntry {
	x.mu.Lock()
	defer x.mu.Unlock()
	es := x.entries[field]
	if x.dirty[field] {
		slices.SortFunc(es, func(a, b queryFakeEntry) int {
			if c := bytes.Compare(a.key, b.key); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		es = slices.CompactFunc(es, func(a, b queryFakeEntry) bool { return a.seq == b.seq && bytes.Equal(a.key, b.key) })
		x.entries[field] = es
		x.dirty[field] = false
	}
	return es
}

func (x *queryFakeIndex) isReady(field string) bool { return x.ready[field] }

// queryFakeIndexAdapter is the indexSource view of the fake.
type queryFakeIndexAdapter struct{ x *queryFakeIndex }

func (a queryFakeIndexAdapter) ready(field string) bool { return a.x.isReady(field) }

func (a queryFakeIndexAdapter) encodeKey(ft FieldType, v any) ([]byte, error) {
	return queryFakeEncode(ft, v)
}

func (a queryFakeIndexAdapter) rowKey(dst []byte, v rowView, f fieldRef) ([]byte, error) {
	val, err := v.value(f.idx, f.ft)
	if err != nil {
		return nil, err
	}
	if val == nil {
		return append(dst, 0xFF), nil // no key of a value looks like this
	}
	k, err := queryFakeEncode(f.ft, val)
	return append(dst, k...), err
}

// queryFakeSeqMark / queryFakeAfterMark mark a range built by eqBeforeSeq /
// eqAfterSeq: the fake carries the seq bound in the prefix field, which the
// planner never sets.
const (
	queryFakeSeqMark   = "\xffFAKESEQ"
	queryFakeAfterMark = "\xffFAKEAFT"
)

func (a queryFakeIndexAdapter) eqBeforeSeq(key []byte, beforeSeq int64) indexRange {
	p := binary.BigEndian.AppendUint64([]byte(queryFakeSeqMark), uint64(beforeSeq))
	return indexRange{lo: key, hi: key, loInclusive: true, hiInclusive: true, prefix: p}
}

func (a queryFakeIndexAdapter) eqAfterSeq(key []byte, afterSeq int64) indexRange {
	p := binary.BigEndian.AppendUint64([]byte(queryFakeAfterMark), uint64(afterSeq))
	return indexRange{lo: key, hi: key, loInclusive: true, hiInclusive: true, prefix: p}
}

func (a queryFakeIndexAdapter) open(rs *readState, field string, r indexRange, reverse bool) (indexCursor, error) {
	if !a.x.isReady(field) {
		return nil, fmt.Errorf("fake index: field %q not indexed", field)
	}
	if a.x.notReady {
		return nil, errIndexNotReady
	}
	a.x.mu.Lock()
	a.x.opens++
	a.x.mu.Unlock()
	es := a.x.sorted(field)
	before, after := int64(math.MaxInt64), int64(0)
	switch {
	case bytes.HasPrefix(r.prefix, []byte(queryFakeSeqMark)):
		before = int64(binary.BigEndian.Uint64(r.prefix[len(queryFakeSeqMark):]))
	case bytes.HasPrefix(r.prefix, []byte(queryFakeAfterMark)):
		after = int64(binary.BigEndian.Uint64(r.prefix[len(queryFakeAfterMark):]))
	case r.prefix != nil:
		return nil, fmt.Errorf("fake index: prefix ranges are not used by the planner")
	}
	in := func(e queryFakeEntry) bool {
		if r.lo != nil {
			if c := bytes.Compare(e.key, r.lo); c < 0 || (c == 0 && !r.loInclusive) {
				return false
			}
		}
		if r.hi != nil {
			if c := bytes.Compare(e.key, r.hi); c > 0 || (c == 0 && !r.hiInclusive) {
				return false
			}
		}
		return e.seq < before && e.seq > after
	}
	// Binary search to the first / last entry of the range, like a B+tree
	// seek, so that visiting counts only what a real index would visit.
	lo := 0
	if r.lo != nil {
		lo, _ = slices.BinarySearchFunc(es, r.lo, func(e queryFakeEntry, k []byte) int { return bytes.Compare(e.key, k) })
	}
	hi := len(es)
	if r.hi != nil {
		hi, _ = slices.BinarySearchFunc(es, r.hi, func(e queryFakeEntry, k []byte) int {
			if c := bytes.Compare(e.key, k); c != 0 {
				return c
			}
			return -1 // every entry of key k is before "just after k"
		})
	}
	if after != 0 && r.lo != nil {
		// Eq(key) AND seq > after: the first candidate is (key, after+1).
		lo, _ = slices.BinarySearchFunc(es, queryFakeEntry{key: r.lo, seq: after}, func(e queryFakeEntry, t queryFakeEntry) int {
			if c := bytes.Compare(e.key, t.key); c != 0 {
				return c
			}
			if e.seq <= t.seq {
				return -1
			}
			return 1
		})
	}
	if before != math.MaxInt64 && r.hi != nil && r.hiInclusive {
		// Eq(key) AND seq < before: the last candidate is (key, before-1).
		hi, _ = slices.BinarySearchFunc(es, queryFakeEntry{key: r.hi, seq: before}, func(e queryFakeEntry, t queryFakeEntry) int {
			if c := bytes.Compare(e.key, t.key); c != 0 {
				return c
			}
			if e.seq < t.seq {
				return -1
			}
			return 1
		})
	}
	c := &queryFakeCursor{es: es[lo:max(hi, lo)], in: in, i: -1, reverse: reverse}
	if reverse {
		c.i = len(c.es)
	}
	return c, nil
}

// queryFakeCursor walks a slice of the sorted entries, skipping those its
// range excludes (an exclusive bound, the seq bound).
type queryFakeCursor struct {
	es      []queryFakeEntry
	in      func(queryFakeEntry) bool
	i       int
	reverse bool
	closed  bool
}

func (c *queryFakeCursor) next() bool {
	if c.closed {
		return false
	}
	for {
		if c.reverse {
			c.i--
		} else {
			c.i++
		}
		if c.i < 0 || c.i >= len(c.es) {
			return false
		}
		if c.in(c.es[c.i]) {
			return true
		}
	}
}

func (c *queryFakeCursor) seq() int64   { return c.es[c.i].seq }
func (c *queryFakeCursor) key() []byte  { return c.es[c.i].key }
func (c *queryFakeCursor) err() error   { return nil }
func (c *queryFakeCursor) close() error { c.closed = true; return nil }

// queryFakeEncode is an order-preserving key encoding for the types the
// tests index (the fake stores key and seq apart, so strings need no
// terminator).
func queryFakeEncode(ft FieldType, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	switch ft {
	case String:
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case Bytes:
		if b, ok := v.([]byte); ok {
			return slices.Clone(b), nil
		}
	case Int, Int8, Int16, Int32, Int64, Rune, Duration:
		if rv.CanInt() {
			return binary.BigEndian.AppendUint64(nil, uint64(rv.Int())^(1<<63)), nil
		}
	case Uint, Uint8, Uint16, Uint32, Uint64, Byte:
		if rv.CanUint() {
			return binary.BigEndian.AppendUint64(nil, rv.Uint()), nil
		}
	case Float32, Float64:
		if rv.CanFloat() {
			f := rv.Float()
			u := math.Float64bits(f)
			if f < 0 || (f == 0 && math.Signbit(f)) {
				u = ^u
			} else {
				u |= 1 << 63
			}
			return binary.BigEndian.AppendUint64(nil, u), nil
		}
	case Time:
		if tm, ok := v.(time.Time); ok {
			b := binary.BigEndian.AppendUint64(nil, uint64(tm.Unix())^(1<<63))
			return binary.BigEndian.AppendUint32(b, uint32(tm.Nanosecond())), nil
		}
	}
	return nil, fmt.Errorf("fake index: cannot encode %T as %s", v, ft)
}
