package srdb

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// lookup pins the current read state and finds the newest version of seq in
// it (readState.get). It returns the encoded row (copied out of the SST or
// memtable arena, so it outlives the read state), or an
// ErrNotFound error naming seq when the row does not exist or its newest
// version is a tombstone. Readers see the versions of the writes that
// succeeded (the read state's snapshot); latest sees uncommitted ones too,
// for a writer's read-modify-write under writeMu.
func (t *Table) lookup(seq int64, latest bool) ([]byte, error) {
	if high := t.seqHigh.Load(); seq <= 0 || seq > high {
		if seq <= 0 {
			return nil, rowNotFound(seq, "seqs start at 1")
		}
		return nil, rowNotFound(seq, fmt.Sprintf("the last seq assigned is %d", high))
	}
	pin := t.pin
	if latest {
		pin = t.pinLatest
	}
	rs, err := pin()
	if err != nil {
		return nil, err
	}
	defer rs.release()
	kind, val, err := rs.get(seq)
	switch {
	case err != nil:
		return nil, err
	case kind == 0:
		return nil, rowNotFound(seq, "")
	case kind == kindDelete:
		return nil, rowNotFound(seq, "it was deleted")
	}
	return append([]byte(nil), val...), nil
}

// get finds the newest version of seq in the pinned read state rs: the
// active memtable, the immutable memtables newest first (versions up to
// rs.snap), the L0 files newest first, then one file per level found by
// binary search of the level's seq ranges. kind is 0 when no source holds
// seq, kindDelete when its newest version is a tombstone. val aliases memory
// rs pins (an SST mapping or a memtable arena): valid until rs.release.
//
// A row a range tombstone of rs hides (rs.dels) is reported as kindDelete.
func (rs *readState) get(seq int64) (kind entryKind, val []byte, err error) {
	for _, m := range rs.mems {
		if e, ok := m.getAt(seq, rs.snap); ok {
			if e.kind == kindDelete || rs.dels.hides(seq, e.timeNanos) {
				return kindDelete, nil, nil
			}
			return e.kind, m.rowBytes(e), nil
		}
	}
	kind, val, _, err = rs.t.lookupVersion(rs.v, seq)
	if err == nil && kind == kindSet && rs.dels != nil {
		if tn, ok := entryTime(val); ok && rs.dels.hides(seq, tn) {
			return kindDelete, nil, nil
		}
	}
	return kind, val, err
}

// rowNotFound is the ErrNotFound error of Get, GetPartial, Update and Delete:
// it names the seq and, when known, why there is no such row.
func rowNotFound(seq int64, why string) *Error {
	msg := fmt.Sprintf("no row with _seq %d", seq)
	if why != "" {
		msg += " (" + why + ")"
	}
	return newError(CodeNotFound, "%s", msg)
}

// lookupVersion searches the SSTs of v for seq (see readState.get). The
// returned value aliases the mapped file and is valid while v is pinned.
func (t *Table) lookupVersion(v *version, seq int64) (entryKind, []byte, bool, error) {
	for level := 0; level < numLevels; level++ {
		files := v.levels[level]
		if level == 0 {
			for _, f := range files { // newest first
				if seq < f.minSeq || seq > f.maxSeq {
					continue
				}
				if kind, val, found, err := t.getFromFile(f, seq); err != nil || found {
					return kind, val, found, err
				}
			}
			continue
		}
		i := sort.Search(len(files), func(i int) bool { return files[i].maxSeq >= seq })
		if i < len(files) && files[i].minSeq <= seq {
			if kind, val, found, err := t.getFromFile(files[i], seq); err != nil || found {
				return kind, val, found, err
			}
		}
	}
	return 0, nil, false, nil
}

func (t *Table) getFromFile(f *fileMeta, seq int64) (entryKind, []byte, bool, error) {
	r, err := t.cache.get(f.num)
	if err != nil {
		return 0, nil, false, err
	}
	kind, val, found, err := r.get(seq)
	if err != nil {
		return 0, nil, false, withTable(err, t.name)
	}
	return kind, val, found, nil
}

// getRow returns the newest version of seq decoded with schema s (one
// snapshot the caller also uses, so that a concurrent AddField cannot hand
// it rows and field indexes of two different schemas); see lookup for
// latest. fields lists the field indexes to decode; nil decodes all.
func (t *Table) getRow(s *Schema, seq int64, fields []int, latest bool) (*Row, error) {
	buf, err := t.lookup(seq, latest)
	if err != nil {
		return nil, err
	}
	return decodeResultRow(s, buf, fields)
}

// Get returns the row with the given seq, or an error satisfying
// errors.Is(err, ErrNotFound) when it does not exist or was deleted.
func (t *Table) Get(seq int64) (*Row, error) {
	if err := t.checkOpen(); err != nil {
		return nil, err
	}
	t.stats.gets.Add(1)
	r, err := t.getRow(t.Schema(), seq, nil, false)
	return r, withTable(err, t.name)
}

// GetPartial is Get decoding only the named fields (plus _seq and _time);
// the other fields are not decoded and Row.Get reports them absent.
func (t *Table) GetPartial(seq int64, fields ...string) (*Row, error) {
	if err := t.checkOpen(); err != nil {
		return nil, err
	}
	s := t.Schema()
	idx := make([]int, 0, len(fields))
	for _, name := range fields {
		if name == "_seq" || name == "_time" {
			continue
		}
		i := s.fieldIndex(name)
		if i < 0 {
			return nil, tableFieldError(CodeInvalidQuery, t.name, name, "unknown field")
		}
		idx = append(idx, i)
	}
	t.stats.gets.Add(1)
	r, err := t.getRow(s, seq, idx, false)
	return r, withTable(err, t.name)
}

// tableIter walks the live rows of a pinned read state in seq order in either
// direction, hiding tombstones and older versions. It is the base of scans,
// queries, Check and the tests' full comparisons.
type tableIter struct {
	t     *Table
	rs    *readState
	owned bool // close releases rs
	merge internalIterator
}

// newTableIter pins the current read state and builds the merged iterator.
// The caller must close it.
func (t *Table) newTableIter() (*tableIter, error) {
	rs, err := t.pin()
	if err != nil {
		return nil, err
	}
	it := t.newTableIterFrom(rs)
	it.owned = true
	return it, nil
}

// newTableIterFrom builds the merged iterator over a read state the caller
// has pinned and keeps pinned until the iterator is closed.
func (t *Table) newTableIterFrom(rs *readState) *tableIter {
	return &tableIter{t: t, rs: rs, merge: rs.newIter(allEntries, nil)}
}

// iterBounds narrow a table iterator to the sources that can hold an entry
// a scan wants: seqs in [seqLo, seqHi] and, with timeBound, rows whose _time
// is in [timeLo, timeHi].
type iterBounds struct {
	seqLo, seqHi   int64
	timeBound      bool
	timeLo, timeHi int64
}

// allEntries are the bounds of an iterator over every source.
var allEntries = iterBounds{seqLo: minSeq, seqHi: maxSeq}

// newIter builds the iterator over the entries of the pinned read state rs
// (memtable versions up to rs.snap) within b; see newSourcesIter. st, when
// not nil, counts the sources the _time bounds leave out.
func (rs *readState) newIter(b iterBounds, st *queryStats) internalIterator {
	return withDeleteSet(rs.t.newSourcesIter(rs.mems, rs.snap, &rs.v.levels, b, st), rs.dels)
}

// openSST opens an iterator over the SST f (through the table cache).
func (t *Table) openSST(f *fileMeta) (internalIterator, error) {
	r, err := t.cache.get(f.num)
	if err != nil {
		return nil, err
	}
	return r.newIter(), nil
}

// iterSource is one source of newSourcesIter: a memtable's iterator or an
// SST, the seq range of its entries and its recency (rank, 1 = newest).
type iterSource struct {
	lo, hi int64
	rank   int
	level  int // of the SST; -1 for a memtable
	mem    internalIterator
	file   *fileMeta
}

// newSourcesIter builds the one iterator stack of the engine: every entry
// (rows and tombstones, the newest version of each seq) of mems (newest
// first, each read up to snap) and of the SSTs of levels (L0 newest first,
// deeper levels sorted by seq and disjoint), in seq order. Table iterators,
// query scans and compactions all walk it.
//
// A source is left out when its seq range misses [b.seqLo, b.seqHi], or when
// its [minTime, maxTime] misses the _time bounds and it holds no tombstone
// (a tombstone hides older versions of its seq in other sources; Update
// keeps a row's _time, so a newer version of a row never has a time its
// older versions lack).
//
// Sources whose seq ranges overlap are merged (newest wins; the SSTs of one
// level L1+ in the group concatenated by one levelIter); groups that do not
// overlap each other — the usual case for an append-only table, where each
// flush covers a new range of seqs — are chained one after the other by a
// levelIter, which costs one iterator step per entry instead of a step of
// every source. SSTs are opened only when the walk reaches them.
func (t *Table) newSourcesIter(mems []*memtable, snap int64, levels *[numLevels][]*fileMeta, b iterBounds, st *queryStats) internalIterator {
	timeOK := func(hasTime bool, lo, hi int64, tombstones bool) bool {
		return !b.timeBound || tombstones || (hasTime && hi >= b.timeLo && lo <= b.timeHi)
	}
	seqOK := func(lo, hi int64) bool { return hi >= b.seqLo && lo <= b.seqHi }
	var srcs []iterSource
	rank := 0
	for _, m := range mems {
		rank++
		if b.timeBound {
			if ms := m.stats(); !timeOK(ms.hasTime, ms.minTime, ms.maxTime, ms.deletes > 0) {
				if st != nil {
					st.memsSkipped++
				}
				continue
			}
		}
		it := m.newIterAt(snap)
		if len(it.order) == 0 {
			continue
		}
		// The iterator visits the entries present now: take the range from
		// them, not from stats that later updates may widen.
		lo, hi := it.seqAt(0), it.seqAt(len(it.order)-1)
		if !seqOK(lo, hi) {
			continue
		}
		srcs = append(srcs, iterSource{lo: lo, hi: hi, rank: rank, level: -1, mem: it})
	}
	for level := range levels {
		for _, f := range levels[level] {
			rank++
			if !seqOK(f.minSeq, f.maxSeq) {
				continue
			}
			if !timeOK(f.hasTime, f.minTime, f.maxTime, f.numTombstones > 0) {
				if st != nil {
					st.filesSkipped++
				}
				continue
			}
			srcs = append(srcs, iterSource{lo: f.minSeq, hi: f.maxSeq, rank: rank, level: level, file: f})
		}
	}
	slices.SortFunc(srcs, func(a, b iterSource) int { return cmp.Compare(a.lo, b.lo) })
	var chain []levelPart
	for i := 0; i < len(srcs); {
		j, hi := i+1, srcs[i].hi
		for ; j < len(srcs) && srcs[j].lo <= hi; j++ {
			hi = max(hi, srcs[j].hi)
		}
		part := levelPart{lo: srcs[i].lo, hi: hi, file: srcs[i].file, it: srcs[i].mem}
		if group := srcs[i:j]; len(group) > 1 {
			part.file, part.it = nil, t.mergeGroup(group)
		}
		chain = append(chain, part)
		i = j
	}
	if len(chain) == 1 && chain[0].it != nil {
		return chain[0].it
	}
	return &levelIter{parts: chain, open: t.openSST, idx: -1}
}

// mergeGroup merges sources whose seq ranges overlap, newest first: each
// memtable and L0 file on its own, the files of one level L1+ concatenated.
func (t *Table) mergeGroup(group []iterSource) internalIterator {
	slices.SortFunc(group, func(a, b iterSource) int { return cmp.Compare(a.rank, b.rank) })
	children := make([]internalIterator, 0, len(group))
	for k := 0; k < len(group); {
		g := group[k]
		if g.mem != nil {
			children = append(children, g.mem)
			k++
			continue
		}
		n := 1
		for g.level > 0 && k+n < len(group) && group[k+n].level == g.level {
			n++
		}
		files := make([]*fileMeta, n)
		for x := range files {
			files[x] = group[k+x].file
		}
		children = append(children, newLevelIter(files, t.openSST))
		k += n
	}
	return newMergingIter(children)
}

// skipForward / skipBackward move past tombstones.
func (it *tableIter) skipForward(ok bool) bool {
	for ok && it.merge.kind() == kindDelete {
		ok = it.merge.next()
	}
	return ok
}

func (it *tableIter) skipBackward(ok bool) bool {
	for ok && it.merge.kind() == kindDelete {
		ok = it.merge.prev()
	}
	return ok
}

func (it *tableIter) first() bool { return it.skipForward(it.merge.first()) }
func (it *tableIter) last() bool  { return it.skipBackward(it.merge.last()) }
func (it *tableIter) next() bool  { return it.skipForward(it.merge.next()) }
func (it *tableIter) prev() bool  { return it.skipBackward(it.merge.prev()) }
func (it *tableIter) seq() int64  { return it.merge.seq() }

// value returns the encoded row; it aliases memory pinned by the iterator.
func (it *tableIter) value() []byte { return it.merge.value() }
func (it *tableIter) err() error    { return withTable(it.merge.err(), it.t.name) }

// close releases the pinned state and returns the iteration error, if any.
func (it *tableIter) close() error {
	if it.rs == nil {
		return it.err()
	}
	err := it.merge.close()
	if it.owned {
		it.rs.release()
	}
	it.rs = nil
	return withTable(err, it.t.name)
}
