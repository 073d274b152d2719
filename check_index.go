package srdb

import (
	"bytes"
	"fmt"
	"slices"
)

// Check's verification of the secondary indexes (Database.Check, check.go).

// checkIndexes verifies the indexes against the rows, in both directions,
// for Database.Check:
//
//   - every SST has a section for each ready index, and each section's
//     entries are exactly those of the file's row versions (every block
//     checksum and bound is verified too): no entry without a row, no row
//     without its entry;
//   - every memtable row version has its entry in the memtable's index.
//
// Since the newest version of each live row lives in one source, whose index
// holds its entry, this proves that an index lookup finds every live row.
// Indexes whose build is pending are checked where their sections exist.
func (t *Table) checkIndexes() error {
	s := t.Schema()
	fields := indexedFields(s)
	if len(fields) == 0 {
		return nil
	}
	// Readiness is read before the pin: a build finishing after it makes
	// the index ready while the pinned state still holds the files it
	// replaced, which rightly lack the section.
	ready := make(map[string]bool, len(fields))
	for _, f := range fields {
		ready[f.name] = t.indexReady(f.name)
	}
	rs, err := t.pin()
	if err != nil {
		return err
	}
	defer rs.release()
	for _, m := range rs.mems {
		if err := t.checkMemtableIndex(m, fields, ready); err != nil {
			return withTable(err, t.name)
		}
	}
	for level := range rs.v.levels {
		for _, f := range rs.v.levels[level] {
			if err := t.checkSSTIndex(f, s, fields, ready); err != nil {
				return withTable(err, t.name)
			}
		}
	}
	return nil
}

// checkMemtableIndex checks that every row version of m has its entries,
// except the rows a range tombstone of m hides (their entries were removed
// with it: memtable.addRangeDelOp).
// ready[field] says whether the index was ready when the state was pinned.
func (t *Table) checkMemtableIndex(m *memtable, fields []idxField, ready map[string]bool) error {
	m.catchUpIndex()
	if err := m.idx.err(); err != nil {
		return err
	}
	dels := m.rangeDelsAt(nil, memAllOps)
	it := m.newIter()
	var e []byte
	var got [][]byte
	for ok := it.first(); ok; ok = it.next() {
		if it.kind() != kindSet {
			continue
		}
		v, err := parseRow(it.value())
		if err != nil {
			return err
		}
		if slices.ContainsFunc(dels, func(d rangeTombstone) bool { return d.hides(it.seq(), v.timeNanos()) }) {
			continue
		}
		for _, f := range fields {
			mi := m.idx.field(f.name)
			if mi == nil {
				if ready[f.name] {
					return newError(CodeCorrupted, "memtable %d has rows but no index on %q", m.logNum, f.name)
				}
				continue
			}
			if e, err = f.appendKey(e[:0], v); err != nil {
				return err
			}
			e = appendIndexSeq(e, it.seq())
			b := idxBound{key: e, incl: true, set: true}
			got, _ = mi.collect(got[:0], nil, b, b, false, 1, nil)
			if len(got) != 1 {
				return newError(CodeCorrupted, "memtable %d: index %q has no entry for seq %d", m.logNum, f.name, it.seq())
			}
		}
	}
	return nil
}

// checkSSTIndex compares each index section of f with the entries computed
// from f's rows.
// ready is as for checkMemtableIndex.
func (t *Table) checkSSTIndex(f *fileMeta, s *Schema, fields []idxField, ready map[string]bool) error {
	r, err := t.cache.get(f.num)
	if err != nil {
		return err
	}
	b := newIndexSectionBuilder(s)
	it := r.newIter()
	for ok := it.first(); ok; ok = it.next() {
		val := it.value()
		if it.err() != nil {
			break
		}
		if err := b.add(it.seq(), it.kind(), val); err != nil {
			return locateRowError(err, r.name, -1)
		}
	}
	if err := it.close(); err != nil {
		return err
	}
	for i, fld := range fields {
		sec, found, err := r.indexSection(fld.name)
		if err != nil {
			return err
		}
		if !found || !sec.indexes(fld) {
			if ready[fld.name] {
				return corruptionError(r.name, -1, "no index section for ready index %q", fld.name)
			}
			continue
		}
		n, entry, err := b.sorted(i)
		if err != nil {
			return err
		}
		k := 0
		err = sec.verify(func(e []byte) error {
			if k >= n || !bytes.Equal(e, entry(k)) {
				want := "nothing"
				if k < n {
					want = fmt.Sprintf("%x", entry(k))
				}
				return sec.corrupt(-1, "index %q: entry %d is %x, the rows say %s", fld.name, k, e, want)
			}
			k++
			return nil
		})
		if err != nil {
			return err
		}
		if k != n {
			return sec.corrupt(-1, "index %q: %d entries, the file has %d row versions", fld.name, k, n)
		}
	}
	return nil
}
