package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Secondary indexes.
//
// An index on a field never diverges from the rows because it is stored
// next to them:
//
//   - every SST carries, for each index (a field, or a composite index over
//     2 to 4 fields: schema_index.go) the table had when the file was
//     written, an index section (index_sst.go) holding one entry per row
//     version (kindSet entry) of that file: the field's index key
//     (index_key.go; for a composite index the concatenation of its fields'
//     keys) followed by the row's seq, sorted. The section is
//     written by the same flush or compaction, into the same file, so it
//     exists exactly as long as the rows it describes;
//   - every memtable keeps an in-memory index of the row versions it received
//     (index_memtable.go).
//
// An index lookup (newIndexIter) merges the memtable indexes and the
// sections of every live SST of a pinned read state. The result is a set of
// candidate seqs: an entry may be stale (the row was updated to another value
// in a newer source, or deleted), so the caller re-checks each candidate
// against the newest row version. What the index guarantees is the other
// direction: the newest version of every live row has its entry in the
// source that holds that version, so no matching row is ever missed.
//
// Entry = key ‖ seq (8 bytes, big-endian). Keys are prefix-free, so entries
// compare bytewise by key, then seq. Each (key, seq) pair is returned once
// even when several sources hold it.
//
// Readiness: an index is usable for a read state only when every source of
// it indexes the field — every non-empty memtable has a memIndex for it and
// every SST has its section. newIndexIter checks that for the state it is
// given and returns errIndexNotReady otherwise, so a query that raced a
// CreateIndex falls back to a scan instead of missing rows. indexReady is the
// cheap hint the planner asks first: false while a CreateIndex build is in
// progress (index_build.go).

// sstSectionIndex is the SST section kind of index sections; the section
// name is the field name.
const sstSectionIndex uint16 = 1

// errIndexNotReady is returned by newIndexIter when a source of the read
// state does not index the field yet (a CreateIndex build is in progress or
// was interrupted): the caller must answer the query without the index.
var errIndexNotReady = errors.New("srdb: index is not ready")

// idxField is one index of a schema: a single-field index (rest is nil)
// or a composite index over the field at pos followed by rest.
type idxField struct {
	name string    // the field's name, or the fields joined with "," (compositeIndexName)
	pos  int       // position in the schema and in ROW1 rows of the (first) field
	typ  FieldType // type of the (first) field
	rest []idxCol  // the further fields of a composite index, in key order
}

// idxCol is a field of a composite index after its first.
type idxCol struct {
	name string
	pos  int
	typ  FieldType
}

// appendKey appends the index key of row v: the key of each field of the
// index (index_key.go), back to back. Keys of single values are
// prefix-free and order-preserving, so their concatenation is too: tuples
// compare component by component, and the keys sharing the leading
// components' values are one contiguous range.
func (f *idxField) appendKey(dst []byte, v rowView) ([]byte, error) {
	dst, err := appendIndexKeyFromRow(dst, v, f.pos, f.typ)
	for _, c := range f.rest {
		if err != nil {
			break
		}
		dst, err = appendIndexKeyFromRow(dst, v, c.pos, c.typ)
	}
	return dst, err
}

// equal reports whether f and g are the same index over the same slots.
func (f idxField) equal(g idxField) bool {
	return f.name == g.name && f.pos == g.pos && f.typ == g.typ && slices.Equal(f.rest, g.rest)
}

// types returns the field types of the index in key order.
func (f idxField) types() []FieldType {
	ts := []FieldType{f.typ}
	for _, c := range f.rest {
		ts = append(ts, c.typ)
	}
	return ts
}

// indexedFields lists the indexes of s: the fields s marks Indexed whose
// type can be indexed, in schema order, then the composite indexes in
// declaration order. (Indexed on an Object or Array field is ignored.) The
// list is computed once per schema and shared: callers must not modify it.
func indexedFields(s *Schema) []idxField {
	s.indexesOnce.Do(func() { s.indexes = computeIndexedFields(s) })
	return s.indexes
}

// computeIndexedFields is indexedFields, uncached.
func computeIndexedFields(s *Schema) []idxField {
	var out []idxField
	for i, f := range s.fields {
		if f.Indexed && indexableType(f.Type) {
			out = append(out, idxField{name: f.Name, pos: i, typ: f.Type})
		}
	}
	for _, c := range s.composite {
		f := idxField{name: compositeIndexName(c)}
		for j, name := range c {
			i := s.fieldIndex(name)
			if j == 0 {
				f.pos, f.typ = i, s.fields[i].Type
			} else {
				f.rest = append(f.rest, idxCol{name: name, pos: i, typ: s.fields[i].Type})
			}
		}
		out = append(out, f)
	}
	return out
}

// indexNamed returns the index of s called name (a field name or a
// composite index name) and whether s has it.
func indexNamed(s *Schema, name string) (idxField, bool) {
	if !strings.Contains(name, compositeIndexSep) {
		i := s.fieldIndex(name)
		if i < 0 || !s.fields[i].Indexed || !indexableType(s.fields[i].Type) {
			return idxField{}, false
		}
		return idxField{name: name, pos: i, typ: s.fields[i].Type}, true
	}
	for _, f := range indexedFields(s) {
		if f.name == name {
			return f, true
		}
	}
	return idxField{}, false
}

// appendIndexSeq appends seq as the 8 big-endian bytes that end an entry.
func appendIndexSeq(dst []byte, seq int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(seq))
}

// indexRange describes a range of index keys (encoded with encodeIndexKey /
// encodeIndexPrefix).
//
// lo and hi bound the keys: nil means unbounded over the non-NULL values
// (NULL entries are returned only when lo is the NULL key, see
// indexRangeIsNull). A bound may also be a whole entry (key ‖ 8-byte seq),
// which bounds the seq inside that key: see indexRangeForEqBeforeSeq. The
// exact rule: an entry e (key ‖ seq) is inside when
//
//	lo inclusive: e ≥ lo            hi inclusive: e ≤ hi ‖ FF FF FF FF FF FF FF FF
//	lo exclusive: e > lo ‖ FF…FF    hi exclusive: e < hi
//
// so for a bound that is a key, inclusive/exclusive mean key ≥ / > lo and
// key ≤ / < hi.
//
// prefix, when non-nil, restricts the range further to the keys that start
// with it (StartsWith: encodeIndexPrefix).
type indexRange struct {
	lo, hi                   []byte
	loInclusive, hiInclusive bool
	prefix                   []byte

	// oneKey is set when every entry of the range has the same key (a
	// whole key: Eq on a field or on every field of a composite index,
	// IsNull). The range's entries are then in seq order, and the files of
	// a level L1+, which partition the seqs, hold them in file order:
	// newIndexIter reads such a level one file after the other
	// (levelIdxSource) instead of positioning in every file.
	oneKey bool
	// seqLo and seqHi bound the seqs of the range's entries (inclusive;
	// seqHi 0: unbounded), so newIndexIter skips the files whose seq
	// range is outside.
	seqLo, seqHi int64
}

// seqSpan returns the inclusive seq bounds of the range's entries.
func (r indexRange) seqSpan() (lo, hi int64) {
	lo, hi = r.seqLo, r.seqHi
	if hi == 0 {
		hi = math.MaxInt64
	}
	return lo, hi
}

// indexRangeForEq returns the range of the entries of key, a whole key
// (every field of the index).
func indexRangeForEq(key []byte) indexRange {
	return indexRange{lo: key, hi: key, loInclusive: true, hiInclusive: true, oneKey: true}
}

// indexRangeForEqBeforeSeq returns the range of the entries of key whose seq
// is < beforeSeq: "Eq(v) AND _seq < x" as one range, so a reverse iteration
// starts at (v, x-1) — paging backwards through a channel.
func indexRangeForEqBeforeSeq(key []byte, beforeSeq int64) indexRange {
	return indexRange{lo: key, loInclusive: true, hi: appendIndexSeq(slices.Clip(key), beforeSeq), oneKey: true, seqHi: max(beforeSeq-1, 0)}
}

// indexRangeForEqAfterSeq returns the range of the entries of key whose seq
// is > afterSeq ("Eq(v) AND _seq > x", paging forwards).
func indexRangeForEqAfterSeq(key []byte, afterSeq int64) indexRange {
	return indexRange{lo: appendIndexSeq(slices.Clip(key), afterSeq), hi: key, hiInclusive: true, oneKey: true, seqLo: afterSeq + 1}
}

// indexRangeIsNull returns the range of the NULL entries (IsNull).
func indexRangeIsNull() indexRange {
	k := []byte{idxTagNull}
	return indexRange{lo: k, hi: k, loInclusive: true, hiInclusive: true, oneKey: true}
}

// idxBound is one end of a range over entries, normalised from an
// indexRange: entries e with e > key (or ≥ when incl) for a lower bound,
// e < key (or ≤) for an upper bound. An unset bound admits everything.
type idxBound struct {
	key  []byte
	incl bool
	set  bool
}

// lowerOK reports whether e satisfies b taken as a lower bound.
func (b idxBound) lowerOK(e []byte) bool {
	if !b.set {
		return true
	}
	c := bytes.Compare(e, b.key)
	return c > 0 || (c == 0 && b.incl)
}

// upperOK reports whether e satisfies b taken as an upper bound.
func (b idxBound) upperOK(e []byte) bool {
	if !b.set {
		return true
	}
	c := bytes.Compare(e, b.key)
	return c < 0 || (c == 0 && b.incl)
}

// idxMaxSeqSuffix is appended to a key to make a bound above every entry of
// that key (seqs are positive, so their first byte is below 0xFF).
var idxMaxSeqSuffix = []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

// bounds normalises r into entry bounds (see indexRange).
func (r indexRange) bounds() (lo, hi idxBound) {
	if r.lo == nil {
		lo = idxBound{key: []byte{idxTagValue}, incl: true, set: true}
	} else if r.loInclusive {
		lo = idxBound{key: r.lo, incl: true, set: true}
	} else {
		lo = idxBound{key: append(slices.Clip(r.lo), idxMaxSeqSuffix...), set: true}
	}
	if r.hi == nil {
		hi = idxBound{key: []byte{idxTagValue + 1}, set: true}
	} else if r.hiInclusive {
		hi = idxBound{key: append(slices.Clip(r.hi), idxMaxSeqSuffix...), incl: true, set: true}
	} else {
		hi = idxBound{key: r.hi, set: true}
	}
	if r.prefix != nil {
		plo := idxBound{key: r.prefix, incl: true, set: true}
		if c := bytes.Compare(plo.key, lo.key); c > 0 || (c == 0 && !lo.incl) {
			lo = plo
		}
		if succ := idxPrefixSuccessor(r.prefix); succ != nil {
			phi := idxBound{key: succ, set: true}
			if c := bytes.Compare(phi.key, hi.key); c < 0 || (c == 0 && hi.incl) {
				hi = phi
			}
		}
	}
	return lo, hi
}

// tableIndexState is the index bookkeeping of a Table (Table.idx).
type tableIndexState struct {
	// ddlMu serialises CreateIndex, DropIndex and index builds (held for a
	// whole build). Lock order: after Database.mu, before Table.writeMu.
	ddlMu sync.Mutex

	// mu guards building: indexed fields whose build has not completed
	// (mirrors the MANIFEST property propIndexBuilding).
	mu       sync.Mutex
	building map[string]bool

	// resume counts the background build Open started to finish an
	// interrupted CreateIndex (waitIndexBuilds waits for it).
	resume sync.WaitGroup
	// resumeErr is the error of the last background build, if any.
	resumeErr atomic.Pointer[error]

	// uniquePending lists the indexes CreateUniqueIndex is verifying:
	// writes check them as if the schema said unique (unique.go).
	// Table.writeMu guards it.
	uniquePending map[string]bool

	// visited counts the index entries that closed index iterators
	// visited (statistics and planner tests).
	visited atomic.Int64
}

// Indexes returns the names of the table's indexes, sorted: the name of
// each indexed field, and for a composite index its fields joined with ","
// ("channel_id,msg_seq"). An index whose CreateIndex build has not
// completed yet is listed (queries do not use it until it is ready).
func (t *Table) Indexes() []string {
	s := t.Schema()
	if s == nil {
		return nil // nil or zero Table
	}
	fs := indexedFields(s)
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	slices.Sort(names)
	return names
}

// indexReady reports whether the planner may use the index named field (a
// field name or a composite index name): the index exists and no
// CreateIndex build of it is in progress.
// newIndexIter still checks every source of the read state it is given.
func (t *Table) indexReady(field string) bool {
	if _, ok := indexNamed(t.Schema(), field); !ok {
		return false
	}
	t.idx.mu.Lock()
	defer t.idx.mu.Unlock()
	return !t.idx.building[field]
}

// idxSource is one sorted input of an indexIter: a memtable index or an SST
// index section, restricted to the iterator's range and walked in its
// direction. seekStart positions at the first entry of the range in that
// direction, step moves on; both return false at the end of the range or on
// error (err). entry aliases memory that stays valid while the read state is
// pinned.
type idxSource interface {
	seekStart() bool
	step() bool
	entry() []byte
	err() error
}

// indexIter merges the idxSources of one lookup into one stream of distinct
// entries in ascending (or, reverse, descending) order. It is not safe for
// concurrent use. key and seq are valid after next returned true; key
// aliases a buffer of the iterator that the next call of next overwrites.
type indexIter struct {
	t       *Table
	srcs    []idxSource
	heap    []int // indexes into srcs; heap[0] holds the next entry
	reverse bool
	started bool
	cur     []byte // the current entry: curBuf, or nil
	curBuf  []byte // a copy of the current entry, reused (SST sources reuse theirs)
	visited int64  // entries the sources landed on
	fault   error
	closed  bool
}

// newIndexIter returns the candidate seqs whose key in the index named
// field (a field name, or a composite index name "a,b"; in some version of
// the row) lies in r: the entries of the memtables and SSTs of
// the pinned read state rs, merged, in (key, seq) order ascending or
// descending (reverse). Each (key, seq) pair is returned once even if several
// sources hold it. The caller re-checks each candidate against the newest row
// version (an entry may be stale) and keeps rs pinned until close.
//
// Positioning costs O(log n) per source; each next costs O(log sources), so
// reading the first k entries of a range costs O(sources · log n + k) — the
// "last n messages of a channel" lookup is a reverse iteration of
// indexRangeForEq stopped after n candidates.
//
// Errors: an unknown field is ErrInvalidQuery; errIndexNotReady when the
// field is not indexed (any more), or the composite index does not exist or a source of rs does not index it yet —
// answer the query with a scan; ErrCorrupted from a damaged section.
func (t *Table) newIndexIter(rs *readState, field string, r indexRange, reverse bool) (*indexIter, error) {
	s := t.Schema()
	f, ok := indexNamed(s, field)
	if !ok {
		if _, isField := s.Field(field); !isField && !strings.Contains(field, compositeIndexSep) {
			return nil, tableFieldError(CodeInvalidQuery, t.name, field, "unknown field")
		}
		return nil, errIndexNotReady // e.g. dropped since the planner looked
	}
	lo, hi := r.bounds()
	it := &indexIter{t: t, reverse: reverse}
	for _, m := range rs.mems {
		m.catchUpIndex() // every row rs sees is indexed from here on
		if err := m.idx.err(); err != nil {
			return nil, withTable(err, t.name)
		}
		mi := m.idx.field(field)
		if mi == nil {
			if m.empty() {
				continue
			}
			return nil, errIndexNotReady
		}
		if mi.len() == 0 && !mi.removedAfter(rs.snap) {
			// Entries added from now on are newer than the snapshot,
			// and so are their removals.
			continue
		}
		src := &memIdxSource{mi: mi, lo: lo, hi: hi, reverse: reverse}
		if rs.snap != memAllOps {
			// Even with nothing removed yet: a write applied while
			// the iteration runs may remove an entry it must see.
			src.withRemovals, src.rm.snap = true, rs.snap
		}
		it.srcs = append(it.srcs, src)
	}
	seqLo, seqHi := r.seqSpan()
	for level := range rs.v.levels {
		var lvl *levelIdxSource
		for _, fm := range rs.v.levels[level] {
			// Every file is checked for the index (a file without it
			// sends the query to a scan), even one the range skips.
			sr, err := t.cache.get(fm.num)
			if err != nil {
				return nil, withTable(err, t.name)
			}
			sec, found, err := sr.indexSection(field)
			if err != nil {
				return nil, withTable(err, t.name)
			}
			if !found || !sec.indexes(f) {
				return nil, errIndexNotReady
			}
			if sec.nblocks == 0 || !fm.overlaps(seqLo, seqHi) {
				continue
			}
			switch {
			case level == 0 || !r.oneKey:
				it.srcs = append(it.srcs, &sstIdxSource{s: sec, lo: lo, hi: hi, reverse: reverse})
			case lvl == nil:
				lvl = &levelIdxSource{cur: sstIdxSource{lo: lo, hi: hi, reverse: reverse}}
				lvl.files = append(make([]*idxSectionReader, 0, len(rs.v.levels[level])), sec)
				it.srcs = append(it.srcs, lvl)
			default:
				lvl.files = append(lvl.files, sec)
			}
		}
	}
	it.heap = make([]int, 0, len(it.srcs))
	for i, src := range it.srcs {
		if src.seekStart() {
			it.visited++
			it.heap = append(it.heap, i)
			it.up(len(it.heap) - 1)
		} else if err := src.err(); err != nil {
			return nil, withTable(err, t.name)
		}
	}
	return it, nil
}

// levelIdxSource reads one key's entries (a oneKey range) from the files of
// one level L1+ one file after the other: the level's files partition the
// seqs, in ascending order, so the key's entries in file i all come before
// those in file i+1. Only the files the iteration reaches are positioned: a
// reverse "last 20 of a channel" usually stops in the newest file. One
// sstIdxSource, with its decode buffers, serves the files in turn.
type levelIdxSource struct {
	files []*idxSectionReader // index sections of the level's files that may hold entries, ascending seqs
	i     int                 // position in files of the current file, in iteration order
	cur   sstIdxSource        // reading file i; carries the range and direction
}

// open positions cur at the start of the i-th file in iteration order.
func (l *levelIdxSource) open(i int) bool {
	f := i
	if l.cur.reverse {
		f = len(l.files) - 1 - i
	}
	l.i = i
	l.cur.s, l.cur.cur, l.cur.fault = l.files[f], nil, nil
	return l.cur.seekStart()
}

func (l *levelIdxSource) seekStart() bool { return l.settle(l.open(0)) }
func (l *levelIdxSource) step() bool      { return l.settle(l.cur.step()) }

// settle moves on to the next file while the current one has no entry left
// (ok false without an error).
func (l *levelIdxSource) settle(ok bool) bool {
	for !ok {
		if l.cur.err() != nil || l.i+1 == len(l.files) {
			return false
		}
		ok = l.open(l.i + 1)
	}
	return true
}

func (l *levelIdxSource) entry() []byte { return l.cur.entry() }
func (l *levelIdxSource) err() error    { return l.cur.err() }

// less orders two sources by their current entry in the iteration direction.
func (it *indexIter) less(a, b int) bool {
	c := bytes.Compare(it.srcs[it.heap[a]].entry(), it.srcs[it.heap[b]].entry())
	if it.reverse {
		return c > 0
	}
	return c < 0
}

func (it *indexIter) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !it.less(i, p) {
			return
		}
		it.heap[i], it.heap[p] = it.heap[p], it.heap[i]
		i = p
	}
}

func (it *indexIter) down(i int) {
	n := len(it.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && it.less(r, l) {
			m = r
		}
		if !it.less(m, i) {
			return
		}
		it.heap[i], it.heap[m] = it.heap[m], it.heap[i]
		i = m
	}
}

// next moves to the next distinct entry and reports whether there is one.
// After false, err tells whether the iteration ended or failed.
func (it *indexIter) next() bool {
	if it.fault != nil || it.closed {
		return false
	}
	if it.started {
		// Advance every source standing on the entry just returned.
		for len(it.heap) > 0 && bytes.Equal(it.srcs[it.heap[0]].entry(), it.cur) {
			src := it.srcs[it.heap[0]]
			if src.step() {
				it.visited++
				it.down(0)
				continue
			}
			if err := src.err(); err != nil {
				it.fault = withTable(err, it.t.name)
				it.cur = nil
				return false
			}
			last := len(it.heap) - 1
			it.heap[0] = it.heap[last]
			it.heap = it.heap[:last]
			it.down(0)
		}
	}
	it.started = true
	if len(it.heap) == 0 {
		it.cur = nil
		return false
	}
	// Copy: a source decodes its entries into a buffer it reuses.
	it.curBuf = append(it.curBuf[:0], it.srcs[it.heap[0]].entry()...)
	it.cur = it.curBuf
	return true
}

// seq returns the seq of the current entry.
func (it *indexIter) seq() int64 {
	if len(it.cur) < idxSeqSize {
		return 0
	}
	return int64(binary.BigEndian.Uint64(it.cur[len(it.cur)-idxSeqSize:]))
}

// key returns the index key of the current entry (aliasing index memory).
func (it *indexIter) key() []byte {
	if len(it.cur) < idxSeqSize {
		return nil
	}
	return it.cur[: len(it.cur)-idxSeqSize : len(it.cur)-idxSeqSize]
}

// entry returns the current entry (key ‖ seq).
func (it *indexIter) entry() []byte { return it.cur }

// entriesVisited returns how many entries the sources have landed on so far
// (positioning included): the cost of the lookup.
func (it *indexIter) entriesVisited() int64 { return it.visited }

// err returns the error that stopped the iteration, or nil.
func (it *indexIter) err() error { return it.fault }

// close ends the iteration and returns its error. It does not release the
// read state (the caller owns it). Calling it twice is safe.
func (it *indexIter) close() error {
	if !it.closed {
		it.closed = true
		it.t.idx.visited.Add(it.visited)
		it.srcs, it.heap, it.cur = nil, nil, nil
	}
	return it.fault
}
