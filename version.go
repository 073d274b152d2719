package srdb

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync/atomic"
)

// version is one immutable state of a table's LSM tree: the SSTs of each
// level and the table properties. Readers pin the version they read with
// ref (versionSet.current returns it already pinned) and release it with
// unref; the files of a version are not closed or deleted while it is
// pinned.
//
// Level invariants, established when the version is built and never
// repaired silently:
//   - L0 is sorted by file number, descending: newest file first, so that a
//     read consults the newest L0 file first. L0 files may overlap. File
//     numbers therefore must be allocated in the order memtables are flushed.
//   - L1 … L6 are sorted by minSeq ascending and do not overlap:
//     files[i].maxSeq < files[i+1].minSeq.
//
// Everything but refs is immutable; the slices returned by the accessors
// are shared and must not be modified.
type version struct {
	vs     *versionSet // owner; nil for versions never installed
	levels [numLevels][]*fileMeta
	props  map[string]string // table properties; shared, read-only
	// indexNames is the decoded propIndexes (nil when unset).
	indexNames []string
	// dels are the range tombstones of the table (range_tombstone.go): no
	// one covers another. delSet arranges them for reads (nil when none).
	dels   []rangeTombstone
	delSet *deleteSet

	// refs counts the pins: one held by the version set while the version
	// is current, plus one per reader. Atomic so that pinning never takes a
	// lock; once it reaches 0 the version is dead and can never be pinned
	// again (tryRef fails).
	refs atomic.Int32
}

// ref pins v. The caller must already hold a pin of v (to pin the current
// version, use versionSet.current).
func (v *version) ref() {
	if v.refs.Add(1) <= 1 && versionInvariants {
		panic(fmt.Sprintf("srdb: ref of a dead version (refs now %d)", v.refs.Load()))
	}
}

// tryRef pins v unless it is already dead (refs == 0).
func (v *version) tryRef() bool {
	for {
		n := v.refs.Load()
		if n <= 0 {
			return false
		}
		if v.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref releases a pin. The last unref releases the version's files; those
// no other live version contains become obsolete (onObsolete is called for
// each, from this goroutine, without locks held).
func (v *version) unref() {
	n := v.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		if versionInvariants {
			panic("srdb: version unref below zero")
		}
		v.refs.Store(0)
		return
	}
	if v.vs != nil {
		v.vs.releaseVersion(v)
	}
}

// files returns the files of level in the level's order (see version).
func (v *version) files(level int) []*fileMeta {
	if level < 0 || level >= numLevels {
		return nil
	}
	return v.levels[level]
}

// numFiles returns the number of files of level.
func (v *version) numFiles(level int) int { return len(v.files(level)) }

// levelBytes returns the total size of the files of level.
func (v *version) levelBytes(level int) uint64 {
	var n uint64
	for _, f := range v.files(level) {
		n += f.size
	}
	return n
}

// allFiles returns every file of the version, L0 (newest first) to L6.
func (v *version) allFiles() []*fileMeta {
	var all []*fileMeta
	for l := range v.levels {
		all = append(all, v.levels[l]...)
	}
	return all
}

// overlapping returns the files of level whose seq range intersects
// [lo, hi] (inclusive), in the level's order. For L1+ it binary-searches the
// sorted, disjoint level and returns a sub-slice of it (no allocation).
func (v *version) overlapping(level int, lo, hi int64) []*fileMeta {
	files := v.files(level)
	if lo > hi || len(files) == 0 {
		return nil
	}
	if level == 0 {
		var out []*fileMeta
		for _, f := range files {
			if f.overlaps(lo, hi) {
				out = append(out, f)
			}
		}
		return out
	}
	// First file whose maxSeq >= lo; since the level is disjoint and sorted
	// by minSeq, maxSeq is sorted too.
	i := sort.Search(len(files), func(i int) bool { return files[i].maxSeq >= lo })
	j := i
	for j < len(files) && files[j].minSeq <= hi {
		j++
	}
	if i == j {
		return nil
	}
	return files[i:j:j]
}

// property returns the table property key.
func (v *version) property(key string) (string, bool) {
	s, ok := v.props[key]
	return s, ok
}

// indexes returns the names of the table's secondary indexes as last set by
// versionEdit.setIndexes (nil when never set). The slice is shared.
func (v *version) indexes() []string { return v.indexNames }

// versionBuilder accumulates edits on top of a base version and builds the
// resulting version. Recovery replays a whole MANIFEST into one builder;
// logAndApply applies a single edit to the current version. Only the levels
// an edit touches are copied (into a map) and re-sorted; the others share
// the base version's slices, so a flush costs O(size of L0), not O(files).
type versionBuilder struct {
	base *version // nil: start from an empty version
	// levels[l] holds the files of level l once the level is touched; nil
	// means "unchanged from base".
	levels [numLevels]map[uint64]*fileMeta
	props  map[string]string
	// propsChanged tells build to decode the properties again.
	propsChanged bool
	baseIndexes  []string
	// dels are the range tombstones: the base's until an edit changes them.
	dels        []rangeTombstone
	delsChanged bool
}

// newVersionBuilder starts from base (nil: an empty version).
func newVersionBuilder(base *version) *versionBuilder {
	b := &versionBuilder{base: base, props: map[string]string{}}
	if base != nil {
		b.props = base.props
		b.baseIndexes = base.indexNames
		b.dels = base.dels
	}
	return b
}

// baseFiles returns the files of level l in the base version.
func (b *versionBuilder) baseFiles(l int) []*fileMeta {
	if b.base == nil {
		return nil
	}
	return b.base.levels[l]
}

// touch returns the file map of level l, copying it from the base first.
func (b *versionBuilder) touch(l int) map[uint64]*fileMeta {
	if b.levels[l] == nil {
		files := b.baseFiles(l)
		b.levels[l] = make(map[uint64]*fileMeta, len(files)+1)
		for _, f := range files {
			b.levels[l][f.num] = f
		}
	}
	return b.levels[l]
}

// validateFileMeta checks the fields of a file added by an edit.
func validateFileMeta(m *fileMeta) error {
	switch {
	case m == nil:
		return fmt.Errorf("nil file")
	case m.num == 0:
		return fmt.Errorf("file number 0")
	case m.minSeq > m.maxSeq:
		return fmt.Errorf("file %d: minSeq %d > maxSeq %d", m.num, m.minSeq, m.maxSeq)
	case m.hasTime && m.minTime > m.maxTime:
		return fmt.Errorf("file %d: minTime %d > maxTime %d", m.num, m.minTime, m.maxTime)
	case m.numTombstones > m.numEntries:
		return fmt.Errorf("file %d: %d tombstones among %d entries", m.num, m.numTombstones, m.numEntries)
	}
	return nil
}

// apply applies e. Deletions are applied before additions, so a file moved
// between levels (deleted at one, added identically at another) keeps its
// *fileMeta — and with it its reference count. The returned errors are plain
// descriptions; callers classify them (invalid argument in logAndApply,
// corruption in recovery).
func (b *versionBuilder) apply(e *versionEdit) error {
	removed := make(map[uint64]*fileMeta, len(e.deletedFiles))
	for _, d := range e.sortedDeletes() {
		if d.level < 0 || d.level >= numLevels {
			return fmt.Errorf("delete of file %d: level %d out of range", d.num, d.level)
		}
		m := b.touch(d.level)
		f, ok := m[d.num]
		if !ok {
			return fmt.Errorf("delete of file %d from L%d: not there", d.num, d.level)
		}
		delete(m, d.num)
		removed[d.num] = f
	}
	if len(e.addedFiles) > 0 {
		adding := make(map[uint64]int, len(e.addedFiles)) // num → level
		for _, a := range e.addedFiles {
			if a.level < 0 || a.level >= numLevels {
				return fmt.Errorf("add of a file: level %d out of range", a.level)
			}
			if err := validateFileMeta(a.meta); err != nil {
				return err
			}
			if l, dup := adding[a.meta.num]; dup {
				return fmt.Errorf("add of file %d to L%d: also added to L%d", a.meta.num, a.level, l)
			}
			adding[a.meta.num] = a.level
		}
		// One pass over the untouched base levels, one lookup per added
		// file in the touched ones.
		for l := range b.levels {
			if b.levels[l] != nil {
				continue
			}
			for _, f := range b.baseFiles(l) {
				if _, dup := adding[f.num]; dup {
					return fmt.Errorf("add of file %d to L%d: already in L%d", f.num, adding[f.num], l)
				}
			}
		}
		for _, a := range e.addedFiles {
			for l := range b.levels {
				if _, dup := b.levels[l][a.meta.num]; dup {
					return fmt.Errorf("add of file %d to L%d: already in L%d", a.meta.num, a.level, l)
				}
			}
			f := a.meta.clone()
			if old, moved := removed[f.num]; moved {
				if !old.sameFile(f) {
					return fmt.Errorf("move of file %d to L%d: metadata differs from the deleted file", f.num, a.level)
				}
				f = old
			}
			b.touch(a.level)[f.num] = f
		}
	}
	if len(e.setProps) > 0 || len(e.delProps) > 0 {
		if !b.propsChanged {
			b.props = maps.Clone(b.props)
			b.propsChanged = true
		}
		for k := range e.delProps {
			delete(b.props, k)
		}
		for k, v := range e.setProps {
			if e.delProps[k] {
				return fmt.Errorf("property %q both set and deleted", k)
			}
			if k == propIndexes {
				if _, err := decodeIndexNames([]byte(v), "index list", 0); err != nil {
					return fmt.Errorf("property %q: %w", k, err)
				}
			}
			if err := checkConsumerProperty(k, v); err != nil { // consumer.go
				return fmt.Errorf("property %q: %w", k, err)
			}
			b.props[k] = v
		}
	}
	for _, t := range e.droppedDels {
		if i := slices.Index(b.dels, t); i >= 0 {
			b.dels = slices.Delete(slices.Clone(b.dels), i, i+1)
			b.delsChanged = true
		}
	}
	for _, t := range e.addedDels {
		if t.seqLo < 1 || t.seqLo >= t.seqHi {
			return fmt.Errorf("range tombstone %v: empty or below seq 1", t)
		}
		b.dels = addRangeTombstone(b.dels, t)
		b.delsChanged = true
	}
	return nil
}

// maxFileNum returns the largest file number present (0 if none).
func (b *versionBuilder) maxFileNum() uint64 {
	var m uint64
	for l := range b.levels {
		if b.levels[l] != nil {
			for n := range b.levels[l] {
				m = max(m, n)
			}
		} else {
			for _, f := range b.baseFiles(l) {
				m = max(m, f.num)
			}
		}
	}
	return m
}

// build returns the version holding the accumulated files, sorted per level
// and checked against the level invariants (see version). Its refs are 0 and
// it is not yet owned by a version set.
func (b *versionBuilder) build() (*version, error) {
	v := &version{props: b.props, indexNames: b.baseIndexes, dels: b.dels}
	if b.delsChanged || b.base == nil {
		v.delSet = newDeleteSet(v.dels)
	} else {
		v.delSet = b.base.delSet
	}
	if b.propsChanged {
		v.indexNames = nil
		if s, ok := b.props[propIndexes]; ok {
			names, err := decodeIndexNames([]byte(s), "index list", 0)
			if err != nil {
				return nil, fmt.Errorf("property %q: %w", propIndexes, err)
			}
			v.indexNames = names
		}
	}
	for l := range b.levels {
		if b.levels[l] == nil {
			v.levels[l] = b.baseFiles(l) // untouched: shared, already checked
			continue
		}
		if len(b.levels[l]) == 0 {
			continue
		}
		files := slices.Collect(maps.Values(b.levels[l]))
		if l == 0 {
			slices.SortFunc(files, func(x, y *fileMeta) int { return cmp.Compare(y.num, x.num) }) // newest first
		} else {
			slices.SortFunc(files, func(x, y *fileMeta) int {
				return cmp.Or(cmp.Compare(x.minSeq, y.minSeq), cmp.Compare(x.num, y.num))
			})
			for i := 1; i < len(files); i++ {
				p, f := files[i-1], files[i]
				if p.maxSeq >= f.minSeq {
					return nil, fmt.Errorf("level %d invariant: file %d [%d,%d] overlaps file %d [%d,%d]",
						l, p.num, p.minSeq, p.maxSeq, f.num, f.minSeq, f.maxSeq)
				}
			}
		}
		v.levels[l] = files
	}
	return v, nil
}

// pruneRangeDels drops from v (which is not yet installed) the range
// tombstones that no SST of v can hold a hidden row for, recording each in
// e so that the MANIFEST forgets it too. Memtables need no check: a
// tombstone stays in the memtable whose WAL logged it until that memtable is
// flushed, and the flush adds it to the version again, by then with every
// older memtable flushed before it; later writes never touch a hidden seq.
func (v *version) pruneRangeDels(e *versionEdit) {
	if len(v.dels) == 0 {
		return
	}
	var keep []rangeTombstone
	for _, t := range v.dels {
		switch {
		case v.mayHide(t):
			keep = append(keep, t)
		case slices.Contains(e.addedDels, t):
			e.addedDels = slices.DeleteFunc(slices.Clone(e.addedDels), func(u rangeTombstone) bool { return u == t })
		default:
			e.droppedDels = append(e.droppedDels, t)
		}
	}
	if len(keep) != len(v.dels) {
		v.dels = keep
		v.delSet = newDeleteSet(keep)
	}
}

// mayHide reports whether some SST of v may hold a row t hides.
func (v *version) mayHide(t rangeTombstone) bool {
	for _, files := range v.levels {
		for _, f := range files {
			if t.mayHideIn(f) {
				return true
			}
		}
	}
	return false
}
