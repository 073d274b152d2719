package srdb

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"
)

// numLevels is the number of LSM levels, L0 … L6.
const numLevels = 7

// versionComparator names the key order of every SST of a table: keys are
// int64 seqs in ascending order. A snapshot edit records it and recovery
// refuses a MANIFEST that names another order.
const versionComparator = "srdb.seq.v1"

// propIndexes is the table property holding the names of the table's
// secondary indexes (see versionEdit.setIndexes).
const propIndexes = "indexes"

// fileMeta describes one SST of a version. Everything but refs is immutable
// once the file is part of a version; several versions (and several levels
// over time, after a move) share the same *fileMeta.
type fileMeta struct {
	num  uint64 // file number: makeFilename(fileTypeSST, num)
	size uint64 // bytes on disk; recovery checks it with Stat
	entryProps

	// refs is the number of live versions that contain this file. When it
	// drops to 0 the file is obsolete and versionSetOptions.onObsolete is
	// called once. refs is guarded by versionSet.refMu.
	refs int32
}

// clone returns a copy of m with refs zeroed. It reads only the immutable
// fields, so it may run while other goroutines update m.refs.
func (m *fileMeta) clone() *fileMeta {
	return &fileMeta{num: m.num, size: m.size, entryProps: m.entryProps}
}

// sameFile reports whether m and o describe the same file identically
// (every field but refs, which it does not read).
func (m *fileMeta) sameFile(o *fileMeta) bool {
	return *m.clone() == *o.clone()
}

// overlaps reports whether the seq range of m intersects [lo, hi].
func (m *fileMeta) overlaps(lo, hi int64) bool {
	return m.minSeq <= hi && lo <= m.maxSeq
}

// deletedFileEntry names a file removed from a level by an edit.
type deletedFileEntry struct {
	level int
	num   uint64
}

// newFileEntry is a file added to a level by an edit.
type newFileEntry struct {
	level int
	meta  *fileMeta
}

// versionEdit is one change of a table's version set, the unit appended to
// the MANIFEST: files added to and deleted from levels, the counters of the
// table (oldest live WAL, next file number, last seq) and table properties.
// A snapshot edit (the first record of every MANIFEST) carries the
// comparator, every counter, every file and every property; later records
// carry only what changed (logAndApply fills in the counters).
//
// A file moved between levels (a "trivial move" compaction) is a delete at
// the old level plus an add of the identical fileMeta at the new level in one
// edit; the version set keeps sharing the same file.
type versionEdit struct {
	comparator string // set in snapshots only

	hasLogNum bool
	// logNum is the number of the oldest WAL that still holds rows not yet
	// in an SST; WALs with a smaller number are obsolete.
	logNum uint64

	hasNextFileNum bool
	nextFileNum    uint64 // the next file number to hand out

	hasLastSeq bool
	lastSeq    int64 // the highest seq ever assigned or known; ≥ 0

	hasLiveRows bool
	// liveRows is the number of rows (inserted, not deleted) stored in the
	// table's SSTs, as counted by the table when it committed the edit.
	liveRows int64

	deletedFiles map[deletedFileEntry]bool
	addedFiles   []newFileEntry

	// setProps and delProps change table properties (generic key → value
	// strings, e.g. propIndexes). A key is in at most one of them.
	setProps map[string]string
	delProps map[string]bool

	// addedDels and droppedDels are range tombstones (range_tombstone.go)
	// added to and dropped from the version.
	addedDels   []rangeTombstone
	droppedDels []rangeTombstone
}

// setLogNum records the oldest WAL still needed.
func (e *versionEdit) setLogNum(n uint64) { e.hasLogNum, e.logNum = true, n }

// setNextFileNum records the next file number to hand out.
func (e *versionEdit) setNextFileNum(n uint64) { e.hasNextFileNum, e.nextFileNum = true, n }

// setLastSeq records the highest seq ever assigned.
func (e *versionEdit) setLastSeq(s int64) { e.hasLastSeq, e.lastSeq = true, s }

// setLiveRows records the number of live rows held by the SSTs.
func (e *versionEdit) setLiveRows(n int64) { e.hasLiveRows, e.liveRows = true, n }

// addFile adds the file m to level. The version set copies m; the caller
// may not rely on later changes of m being seen.
func (e *versionEdit) addFile(level int, m *fileMeta) {
	e.addedFiles = append(e.addedFiles, newFileEntry{level: level, meta: m})
}

// deleteFile removes file num from level.
func (e *versionEdit) deleteFile(level int, num uint64) {
	if e.deletedFiles == nil {
		e.deletedFiles = make(map[deletedFileEntry]bool)
	}
	e.deletedFiles[deletedFileEntry{level: level, num: num}] = true
}

// setProperty sets the table property key to value.
func (e *versionEdit) setProperty(key, value string) {
	if e.setProps == nil {
		e.setProps = make(map[string]string)
	}
	delete(e.delProps, key)
	e.setProps[key] = value
}

// deleteProperty removes the table property key.
func (e *versionEdit) deleteProperty(key string) {
	if e.delProps == nil {
		e.delProps = make(map[string]bool)
	}
	delete(e.setProps, key)
	e.delProps[key] = true
}

// setIndexes records the complete list of the table's secondary index
// names (a snapshot, not a delta). Call it only when the list changes.
func (e *versionEdit) setIndexes(names []string) {
	e.setProperty(propIndexes, string(encodeIndexNames(names)))
}

// Edit field tags. Frozen: they are on disk. A reader fails on a tag it does
// not know (an unknown field could change the meaning of the edit).
const (
	tagComparator     = 1  // payload: comparator name
	tagLogNum         = 2  // payload: uvarint
	tagNextFileNum    = 3  // payload: uvarint
	tagLastSeq        = 4  // payload: uvarint (≤ MaxInt64)
	tagDeletedFile    = 5  // payload: level uvarint | num uvarint
	tagNewFile        = 6  // payload: see encodeNewFile
	tagSetProperty    = 7  // payload: keyLen uvarint | key | value
	tagDeleteProperty = 8  // payload: key
	tagLiveRows       = 9  // payload: varint
	tagAddRangeDel    = 10 // payload: a range tombstone (appendRangeTombstone)
	tagDropRangeDel   = 11 // payload: a range tombstone
)

// Flag bits of a tagNewFile payload.
const (
	newFileHasTime   = 1 << 0 // minTime and maxTime follow
	newFileKnownBits = newFileHasTime
)

// maxPropKeyLen bounds the key of a table property.
const maxPropKeyLen = 255

// encode serialises the edit:
//
//	edit  := field*                       (no count, no terminator: the record length delimits it)
//	field := tag uvarint | len uvarint | payload [len]byte
//
//	tag  name            payload
//	 1   comparator      name bytes (non-empty)
//	 2   logNum          uvarint
//	 3   nextFileNum     uvarint
//	 4   lastSeq         uvarint (≤ MaxInt64)
//	 5   deletedFile     level uvarint | num uvarint
//	 6   newFile         level uvarint | num uvarint | size uvarint |
//	                     minSeq varint | maxSeq varint | flags uvarint |
//	                     [minTime varint | maxTime varint]   (flags bit 0: hasTime) |
//	                     numEntries uvarint | numTombstones uvarint | rawRowBytes uvarint
//	 7   setProperty     keyLen uvarint | key [keyLen] | value (rest of the payload)
//	 8   deleteProperty  key (the whole payload)
//	 9   liveRows        varint
//	10   addRangeDel     seqLo uvarint | seqHi uvarint | timeBefore varint (MaxInt64: any time)
//	11   dropRangeDel    seqLo uvarint | seqHi uvarint | timeBefore varint
//
// varint is the zig-zag signed varint of encoding/binary. Fields appear in
// the order comparator, logNum, nextFileNum, lastSeq, liveRows, deleted
// files (by level, then number), new files, set properties, deleted
// properties (by key), added range tombstones, dropped range tombstones;
// each scalar at most once. A payload must be consumed
// exactly.
func (e *versionEdit) encode() []byte {
	var buf, p []byte
	field := func(tag uint64, payload []byte) {
		buf = binary.AppendUvarint(buf, tag)
		buf = binary.AppendUvarint(buf, uint64(len(payload)))
		buf = append(buf, payload...)
	}
	if e.comparator != "" {
		field(tagComparator, []byte(e.comparator))
	}
	if e.hasLogNum {
		field(tagLogNum, binary.AppendUvarint(p[:0], e.logNum))
	}
	if e.hasNextFileNum {
		field(tagNextFileNum, binary.AppendUvarint(p[:0], e.nextFileNum))
	}
	if e.hasLastSeq {
		field(tagLastSeq, binary.AppendUvarint(p[:0], uint64(e.lastSeq)))
	}
	if e.hasLiveRows {
		field(tagLiveRows, binary.AppendVarint(p[:0], e.liveRows))
	}
	for _, d := range e.sortedDeletes() {
		p = binary.AppendUvarint(p[:0], uint64(d.level))
		p = binary.AppendUvarint(p, d.num)
		field(tagDeletedFile, p)
	}
	for _, a := range e.addedFiles {
		p = appendNewFile(p[:0], a.level, a.meta)
		field(tagNewFile, p)
	}
	for _, k := range sortedKeys(e.setProps) {
		p = binary.AppendUvarint(p[:0], uint64(len(k)))
		p = append(p, k...)
		p = append(p, e.setProps[k]...)
		field(tagSetProperty, p)
	}
	for _, k := range sortedKeys(e.delProps) {
		field(tagDeleteProperty, []byte(k))
	}
	for _, t := range e.addedDels {
		field(tagAddRangeDel, appendRangeTombstone(p[:0], t))
	}
	for _, t := range e.droppedDels {
		field(tagDropRangeDel, appendRangeTombstone(p[:0], t))
	}
	return buf
}

// appendNewFile appends the tagNewFile payload of m at level (layout in
// encode).
func appendNewFile(p []byte, level int, m *fileMeta) []byte {
	p = binary.AppendUvarint(p, uint64(level))
	p = binary.AppendUvarint(p, m.num)
	p = binary.AppendUvarint(p, m.size)
	p = binary.AppendVarint(p, m.minSeq)
	p = binary.AppendVarint(p, m.maxSeq)
	var flags uint64
	if m.hasTime {
		flags |= newFileHasTime
	}
	p = binary.AppendUvarint(p, flags)
	if m.hasTime {
		p = binary.AppendVarint(p, m.minTime)
		p = binary.AppendVarint(p, m.maxTime)
	}
	p = binary.AppendUvarint(p, m.numEntries)
	p = binary.AppendUvarint(p, m.numTombstones)
	p = binary.AppendUvarint(p, m.rawRowBytes)
	return p
}

// sortedDeletes returns the deleted files ordered by level, then number.
func (e *versionEdit) sortedDeletes() []deletedFileEntry {
	d := make([]deletedFileEntry, 0, len(e.deletedFiles))
	for k := range e.deletedFiles {
		d = append(d, k)
	}
	sort.Slice(d, func(i, j int) bool {
		if d[i].level != d[j].level {
			return d[i].level < d[j].level
		}
		return d[i].num < d[j].num
	})
	return d
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The readers below take the fields of an encoded edit (or of any
// varint-encoded payload) from a byteCursor placed in its file (file, base).
// Each returns an ErrCorrupted error naming the file and the absolute offset
// of the field it could not read; what names the field.

// editUvarint reads an unsigned varint.
func editUvarint(c *byteCursor, what string) (uint64, error) {
	v := c.uvarint()
	if c.bad {
		return 0, c.errorf("version edit: bad %s varint", what)
	}
	return v, nil
}

// editVarint reads a zig-zag signed varint.
func editVarint(c *byteCursor, what string) (int64, error) {
	v := c.varint()
	if c.bad {
		return 0, c.errorf("version edit: bad %s varint", what)
	}
	return v, nil
}

// editBytes returns the next n bytes (aliasing the buffer), checking n
// against the remaining length first.
func editBytes(c *byteCursor, n uint64, what string) ([]byte, error) {
	if n > uint64(c.remaining()) {
		return nil, c.errorf("version edit: %s of %d bytes overruns the %d bytes left", what, n, c.remaining())
	}
	return c.bytes(int(n)), nil
}

// editSub returns a cursor over the next n bytes and advances past them.
func editSub(c *byteCursor, n uint64, what string) (*byteCursor, error) {
	if n > uint64(c.remaining()) {
		return nil, c.errorf("version edit: %s of %d bytes overruns the %d bytes left", what, n, c.remaining())
	}
	return c.sub(int(n)), nil
}

// editLevel reads a level number and checks it is < numLevels.
func editLevel(c *byteCursor) (int, error) {
	at := c.off
	l, err := editUvarint(c, "level")
	if err != nil {
		return 0, err
	}
	if l >= numLevels {
		return 0, c.corruptAt(at, "version edit: level %d out of range", l)
	}
	return int(l), nil
}

// decodeVersionEdit decodes the bytes made by encode. Malformed input of
// any kind yields an error matching ErrCorrupted; it never panics and never
// allocates more than a small multiple of len(b).
func decodeVersionEdit(b []byte) (*versionEdit, error) {
	return decodeVersionEditAt(b, "version edit", 0)
}

// decodeVersionEditAt is decodeVersionEdit reporting errors against file at
// offset base + the offset within b.
func decodeVersionEditAt(b []byte, file string, base int64) (*versionEdit, error) {
	c := &byteCursor{b: b, file: file, base: base}
	e := &versionEdit{}
	seen := make(map[uint64]bool) // scalar tags already read
	for !c.empty() {
		fieldAt := c.off
		tag, err := editUvarint(c, "tag")
		if err != nil {
			return nil, err
		}
		n, err := editUvarint(c, "field length")
		if err != nil {
			return nil, err
		}
		p, err := editSub(c, n, "field")
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagComparator, tagLogNum, tagNextFileNum, tagLastSeq, tagLiveRows:
			if seen[tag] {
				return nil, c.corruptAt(fieldAt, "version edit: tag %d repeated", tag)
			}
			seen[tag] = true
		}
		switch tag {
		case tagComparator:
			if n == 0 {
				return nil, p.errorf("version edit: empty comparator")
			}
			e.comparator = string(p.rest())
		case tagLogNum:
			if e.logNum, err = editUvarint(p, "logNum"); err != nil {
				return nil, err
			}
			e.hasLogNum = true
		case tagNextFileNum:
			if e.nextFileNum, err = editUvarint(p, "nextFileNum"); err != nil {
				return nil, err
			}
			e.hasNextFileNum = true
		case tagLastSeq:
			s, err := editUvarint(p, "lastSeq")
			if err != nil {
				return nil, err
			}
			if s > math.MaxInt64 {
				return nil, c.corruptAt(fieldAt, "version edit: lastSeq %d out of range", s)
			}
			e.setLastSeq(int64(s))
		case tagLiveRows:
			if e.liveRows, err = editVarint(p, "liveRows"); err != nil {
				return nil, err
			}
			e.hasLiveRows = true
		case tagDeletedFile:
			level, err := editLevel(p)
			if err != nil {
				return nil, err
			}
			num, err := editUvarint(p, "file number")
			if err != nil {
				return nil, err
			}
			d := deletedFileEntry{level: level, num: num}
			if e.deletedFiles[d] {
				return nil, c.corruptAt(fieldAt, "version edit: file %d deleted twice from L%d", num, level)
			}
			e.deleteFile(level, num)
		case tagNewFile:
			level, m, err := decodeNewFile(p)
			if err != nil {
				return nil, err
			}
			e.addFile(level, m)
		case tagSetProperty:
			kl, err := editUvarint(p, "property key length")
			if err != nil {
				return nil, err
			}
			if kl == 0 || kl > maxPropKeyLen {
				return nil, p.errorf("version edit: property key length %d out of range", kl)
			}
			k, err := editBytes(p, kl, "property key")
			if err != nil {
				return nil, err
			}
			key := string(k)
			if _, dup := e.setProps[key]; dup || e.delProps[key] {
				return nil, c.corruptAt(fieldAt, "version edit: property %q repeated", key)
			}
			e.setProperty(key, string(p.rest()))
		case tagDeleteProperty:
			if n == 0 || n > maxPropKeyLen {
				return nil, p.errorf("version edit: property key length %d out of range", n)
			}
			key := string(p.rest())
			if _, dup := e.setProps[key]; dup || e.delProps[key] {
				return nil, c.corruptAt(fieldAt, "version edit: property %q repeated", key)
			}
			e.deleteProperty(key)
		case tagAddRangeDel, tagDropRangeDel:
			at := p.off
			b := p.rest()
			t, n := decodeRangeTombstone(b)
			if n <= 0 || n != len(b) {
				return nil, p.corruptAt(at, "version edit: bad range tombstone")
			}
			if tag == tagAddRangeDel {
				e.addedDels = append(e.addedDels, t)
			} else {
				e.droppedDels = append(e.droppedDels, t)
			}
		default:
			return nil, c.corruptAt(fieldAt, "version edit: unknown tag %d", tag)
		}
		if !p.empty() {
			return nil, p.errorf("version edit: %d trailing bytes in field with tag %d", p.remaining(), tag)
		}
	}
	return e, nil
}

// decodeNewFile decodes a tagNewFile payload (layout in encode).
func decodeNewFile(p *byteCursor) (int, *fileMeta, error) {
	level, err := editLevel(p)
	if err != nil {
		return 0, nil, err
	}
	m := &fileMeta{}
	if m.num, err = editUvarint(p, "file number"); err != nil {
		return 0, nil, err
	}
	if m.size, err = editUvarint(p, "file size"); err != nil {
		return 0, nil, err
	}
	if m.minSeq, err = editVarint(p, "minSeq"); err != nil {
		return 0, nil, err
	}
	if m.maxSeq, err = editVarint(p, "maxSeq"); err != nil {
		return 0, nil, err
	}
	flagsAt := p.off
	flags, err := editUvarint(p, "flags")
	if err != nil {
		return 0, nil, err
	}
	if flags&^newFileKnownBits != 0 {
		return 0, nil, p.corruptAt(flagsAt, "version edit: unknown file flags %#x", flags)
	}
	if flags&newFileHasTime != 0 {
		m.hasTime = true
		if m.minTime, err = editVarint(p, "minTime"); err != nil {
			return 0, nil, err
		}
		if m.maxTime, err = editVarint(p, "maxTime"); err != nil {
			return 0, nil, err
		}
	}
	if m.numEntries, err = editUvarint(p, "numEntries"); err != nil {
		return 0, nil, err
	}
	if m.numTombstones, err = editUvarint(p, "numTombstones"); err != nil {
		return 0, nil, err
	}
	if m.rawRowBytes, err = editUvarint(p, "rawRowBytes"); err != nil {
		return 0, nil, err
	}
	return level, m, nil
}

// encodeIndexNames encodes the value of propIndexes:
//
//	count uvarint | (len uvarint | name [len])*count
func encodeIndexNames(names []string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	return b
}

// decodeIndexNames decodes the value of propIndexes. The count is checked
// against the bytes present before the slice is allocated.
func decodeIndexNames(v []byte, file string, base int64) ([]string, error) {
	c := &byteCursor{b: v, file: file, base: base}
	n, err := editUvarint(c, "index count")
	if err != nil {
		return nil, err
	}
	if n > uint64(len(v)) { // every name takes at least one byte
		return nil, c.errorf("index list: count %d exceeds its %d bytes", n, len(v))
	}
	names := make([]string, 0, n)
	for range n {
		l, err := editUvarint(c, "index name length")
		if err != nil {
			return nil, err
		}
		s, err := editBytes(c, l, "index name")
		if err != nil {
			return nil, err
		}
		names = append(names, string(s))
	}
	if !c.empty() {
		return nil, c.errorf("index list: %d trailing bytes", c.remaining())
	}
	return names, nil
}
