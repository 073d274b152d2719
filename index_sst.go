package srdb

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"sync"
)

// Index section constants; the layout is drawn above encodeIndexSection.
// Frozen for section format versions 2 (one field) and 3 (a composite
// index; version 1 stored entries whole).
const (
	idxSectionMagic      = "SRDBIDXS"
	idxSectionVersion    = 2 // a single-field index
	idxSectionVersion3   = 3 // a composite index: more field types in the header
	idxHeaderSize        = 40
	idxHeaderCRCOff      = idxHeaderSize - 4
	idxBlockTarget       = 4 << 10 // a block is closed once its entries reach this size
	idxBlockCountSize    = 2       // u16 entry count in the block trailer
	idxBlockCRCSize      = 4
	idxBlockTrailer      = idxBlockCountSize + idxBlockCRCSize
	idxBlockOffSize      = 2  // u16 start offset per restart point
	idxRestartInterval   = 16 // every 16th entry of a block is stored whole
	idxBlockMetaSize     = 16
	idxIndexCRCSize      = 4
	idxMinEntrySize      = 1 + idxSeqSize // a NULL key and a seq
	idxMinEncodedEntry   = 3              // shared (1 B) | unshared (1 B) | ≥ 1 new byte
	idxMaxBlockEntries   = math.MaxUint16
	idxMaxSectionEntries = math.MaxUint32 // entries of one field in one builder (offsets are uint32)
)

// indexSectionBuilder collects the index entries of the rows of one SST
// being written and writes one index section per indexed field. Flush and
// compaction use it the same way:
//
//	b := newIndexSectionBuilder(t.Schema())
//	for each entry written to the sstWriter w:
//	    w.add(seq, kind, timeNanos, row); b.add(seq, kind, row)
//	b.writeTo(w) // before w.finish
//
// Memory: the builder keeps every entry of the file until writeTo, in a
// compact form while the entries allow (index_sst_build.go): a field whose
// keys repeat (channel_id) ≈ 1–3 B per row, one whose values grow with the
// seq (msg_id) ≈ 12 B per row (its encoded section, written as the rows
// arrive); other fields about len(key) + 8 (seq) + 8 (offset, length)
// bytes per row, plus, transiently in writeTo, 12 B per entry to sort
// them and one encoded section (≈ entries + 2 B each + 16 B per 4 KiB
// block). The buffers come from pools
// (idxBuildBufPool, idxSectionEncoderPool) and go back to them in writeTo,
// so successive flushes and compaction outputs reuse them instead of
// growing fresh ones entry by entry.
type indexSectionBuilder struct {
	fields  []idxField
	bufs    []*idxBuildBuf // bufs[i] collects fields[i]; nil until its first entry
	scratch []byte         // the entry being added
	err     error          // first failure, returned by every later call
}

// idxBuildBuf holds the entries of one field in one of three forms (mode;
// index_sst_build.go): grouped by key, a stream of ascending entries, or
// flat — their bytes back to back in arena and their (offset, length) in
// refs, in arrival order. groupOf … seqs are groupIdxEntries' scratch
// space, kept for reuse.
type idxBuildBuf struct {
	mode   idxBuildMode
	n      int  // entries added
	sorted bool // every entry so far was greater than the one before
	tooBig bool // the entries passed 4 GiB in the flat form: unusable

	// The grouped form: group g has key gkeys[g] (groups maps it back to
	// g), its seqs as uvarint deltas in gseqs[g] (the first one whole),
	// the largest in glast[g].
	groups map[string]int32
	gkeys  []string
	gseqs  [][]byte
	glast  []uint64

	// The stream form: the section encoder holding the entries, the last
	// two entries (last[li] the latest) and the number of distinct keys.
	enc   *idxSectionEncoder
	last  [2][]byte
	li    int
	skeys int

	// The flat form.
	arena []byte
	refs  []idxBuildRef

	groupOf map[string]int32
	ids     []int32
	first   []idxBuildRef
	lastSeq []uint64
	seqs    []uint64
}

type idxBuildRef struct{ off, n uint32 }

func (b *idxBuildBuf) entry(r idxBuildRef) []byte { return b.arena[r.off : r.off+r.n] }

// idxBuildBufPool recycles the idxBuildBufs of finished builders.
var idxBuildBufPool = sync.Pool{New: func() any { return new(idxBuildBuf) }}

// getIdxBuildBuf returns an empty idxBuildBuf, with the capacity of a
// recycled one when the pool has one.
func getIdxBuildBuf() *idxBuildBuf {
	b := idxBuildBufPool.Get().(*idxBuildBuf)
	b.reset()
	return b
}

// newIndexSectionBuilder returns a builder for the fields s indexes. With no
// indexed field it still works (add and writeTo do nothing).
func newIndexSectionBuilder(s *Schema) *indexSectionBuilder {
	fs := indexedFields(s)
	return &indexSectionBuilder{fields: fs, bufs: make([]*idxBuildBuf, len(fs))}
}

// covers reports whether the builder writes a section for every field s
// indexes. A compaction that made its builder from an older schema must
// check it against t.Schema() under flushMu right before installing its
// outputs, and redo the work when it is false (a CreateIndex happened
// meanwhile); otherwise it could install a file without a section after the
// build checked every file.
func (b *indexSectionBuilder) covers(s *Schema) bool {
	for _, f := range indexedFields(s) {
		if !slices.ContainsFunc(b.fields, f.equal) {
			return false
		}
	}
	return true
}

// add records the index entries of one SST entry: for a kindSet entry, one
// entry per indexed field; tombstones have none. row is not retained.
func (b *indexSectionBuilder) add(seq int64, kind entryKind, row []byte) error {
	if b.err != nil {
		return b.err
	}
	if kind != kindSet || len(b.fields) == 0 {
		return nil
	}
	v, err := parseRow(row)
	if err != nil {
		b.err = err
		return err
	}
	for i := range b.fields {
		f := &b.fields[i]
		buf := b.bufs[i]
		if buf == nil {
			buf = getIdxBuildBuf()
			b.bufs[i] = buf
		}
		e, err := f.appendKey(b.scratch[:0], v)
		if err != nil {
			b.err = err
			return err
		}
		e = appendIndexSeq(e, seq)
		b.scratch = e
		if !buf.add(e) {
			b.err = newError(CodeInvalidArgument, "index section of field %q exceeds 4 GiB", f.name)
			return b.err
		}
	}
	return nil
}

// writeTo sorts the entries of each index and adds its section to w (kind
// sstSectionIndex, name = the index name: the field name, or for a
// composite index its fields joined with ","). It must be called after the last
// w.add and before w.finish; the builder's memory goes back to the pools.
func (b *indexSectionBuilder) writeTo(w *sstWriter) error {
	if b.err != nil {
		return b.err
	}
	enc := idxSectionEncoderPool.Get().(*idxSectionEncoder)
	defer idxSectionEncoderPool.Put(enc)
	for i, f := range b.fields {
		data, err := b.encode(i, f.types(), enc)
		if err != nil {
			b.err = err
			return err
		}
		// addSection writes data (an encoder's buffer) before it returns.
		err = w.addSection(sstSectionIndex, f.name, data)
		if buf := b.bufs[i]; buf != nil {
			b.bufs[i] = nil
			idxBuildBufPool.Put(buf)
		}
		if err != nil {
			b.err = err
			return err
		}
	}
	return nil
}

// encode returns the index section of field i (of types typs), built with
// enc unless the field's own encoder holds its entries (the stream form,
// index_sst_build.go): the result is that encoder's buffer, valid until it
// is used again.
func (b *indexSectionBuilder) encode(i int, typs []FieldType, enc *idxSectionEncoder) ([]byte, error) {
	enc.reset()
	buf := b.bufs[i]
	if buf == nil {
		return enc.finish(typs), nil
	}
	if buf.mode == idxBuildStream && buf.enc != nil {
		return buf.enc.finish(typs), nil
	}
	if buf.encodeGrouped(enc) {
		return enc.finish(typs), nil
	}
	if err := b.flat(i); err != nil {
		return nil, err
	}
	if !buf.sorted {
		if g, ok := groupIdxEntries(buf); ok { // index_sst_sort.go
			g.encode(enc)
			return enc.finish(typs), nil
		}
		sortIdxBuildRefs(buf)
		buf.sorted = true
	}
	for _, r := range buf.refs {
		enc.add(buf.entry(r))
	}
	return enc.finish(typs), nil
}

// flat turns the entries of field i into the flat form (arena and refs).
func (b *indexSectionBuilder) flat(i int) error {
	if buf := b.bufs[i]; buf.tooBig || buf.mode != idxBuildFlat && !buf.toFlat() {
		return newError(CodeInvalidArgument, "index section of field %q exceeds 4 GiB", b.fields[i].name)
	}
	return nil
}

// sorted returns the number of entries of field i (b.fields[i]) and an
// accessor of them in ascending order (Check compares them with a file's
// section). A returned entry is valid until the next call of the accessor.
func (b *indexSectionBuilder) sorted(i int) (int, func(k int) []byte, error) {
	buf := b.bufs[i]
	if buf == nil {
		return 0, func(int) []byte { return nil }, nil
	}
	if err := b.flat(i); err != nil {
		return 0, nil, err
	}
	if !buf.sorted {
		if g, ok := groupIdxEntries(buf); ok {
			var scratch []byte
			return g.len(), func(k int) []byte {
				scratch = g.appendEntry(scratch[:0], k)
				return scratch
			}, nil
		}
		sortIdxBuildRefs(buf)
		buf.sorted = true
	}
	return len(buf.refs), func(k int) []byte { return buf.entry(buf.refs[k]) }, nil
}

// encodeIndexSection returns the index section of n entries, entry(k) being
// the k-th in ascending order (the entries must be sorted and distinct), of
// an index over fields of types typs (1 to 4, in key order).
//
// Index section (payload of an SST section of kind sstSectionIndex named
// after the index; little-endian; offsets relative to the section start):
//
//	+------------------------------+ 0
//	| header (40 B)                |
//	|   0  8  magic "SRDBIDXS"     |
//	|   8  2  version: 2 for one   |
//	|         field, 3 for a       |
//	|         composite index      |
//	|  10  1  (first) field type   |
//	|  11  1  v2: reserved, 0      |
//	|         v3: field count k,   |
//	|         2 to 4               |
//	|  12  4  block count n        |
//	|  16  8  entry count          |
//	|  24  8  block index offset   |
//	|  32  4  v2: reserved, 0      |
//	|         v3: types of fields  |
//	|         2..k, one byte each, |
//	|         then 0 bytes         |
//	|  36  4  CRC32-C of [0, 36)   |
//	+------------------------------+ 40
//	| block 0 … block n-1          |  contiguous, in entry order
//	+------------------------------+ block index offset
//	| block index: n × 16 B        |  per block: offset u64 | length u32 |
//	|                              |  offset of its first entry in the heap u32
//	| first-entry heap             |  a copy of each block's first entry, back
//	|                              |  to back (entry i ends where i+1 starts,
//	|                              |  the last one at the CRC)
//	| CRC32-C of index and heap    |  4 B
//	+------------------------------+ end of section
//
// Block (entries are added until they reach idxBlockTarget = 4 KiB, so
// every restart offset fits a u16; a single entry may make a block larger):
//
//	+------------------------------------------+
//	| entry 0 | entry 1 | … | entry c-1        |  ascending; entry = shared uvarint |
//	|                                          |  unshared uvarint | unshared bytes
//	| restart offsets: r × u16                 |  r = ⌈c / 16⌉: where entries 0, 16,
//	|                                          |  32, … start (their shared is 0)
//	| c: u16 (≥ 1)                             |
//	| CRC32-C of the block bytes before it: u32|
//	+------------------------------------------+
//
// An entry (key ‖ seq, 8 B big-endian) is stored as the length of the prefix
// it shares with the entry before it in the block, then the rest of it:
// entries of one channel differ only in the last bytes of their seq, so a
// 23-byte channel entry takes about 4 bytes. Every 16th entry (a restart
// point) shares nothing, so a reader decodes one restart run (≤ 16 entries)
// at a time and searches a block by binary search over its restart points. The sparse block index lets a range lookup
// binary-search the blocks by their first entries — kept whole in the heap,
// so the search touches a few cache lines, not one page per probe — and then
// read sequentially.
//
// A single-field section is written as version 2, byte for byte what
// earlier versions wrote. An entry's key is the concatenation of the keys of
// its fields' values (idxField.appendKey; index_key.go), then the seq.
func encodeIndexSection(typs []FieldType, n int, entry func(k int) []byte) []byte {
	var enc idxSectionEncoder
	enc.reset()
	for k := 0; k < n; k++ {
		enc.add(entry(k))
	}
	return enc.finish(typs)
}

// idxSectionEncoder writes an index section (layout above) entry by entry:
// reset, then add (or addKeySeq) the entries in ascending order, then
// finish. One section uses add or addKeySeq, not both. Its buffers are
// reused from section to section (idxSectionEncoderPool).
type idxSectionEncoder struct {
	out      []byte // the header's room, then the blocks
	metas    []byte // block index
	heap     []byte // first-entry heap
	restarts []byte // restart offsets of the open block

	blockStart int // offset in out of the open block
	count      int // entries in the open block
	heapAt     int // offset in heap of the open block's first entry
	n          int // entries added

	prev    []byte // add: the previous entry (the caller's bytes)
	prevKey []byte // addKeySeq: the previous entry's key and seq
	prevSeq uint64
}

// idxSectionEncoderPool recycles idxSectionEncoders.
var idxSectionEncoderPool = sync.Pool{New: func() any { return new(idxSectionEncoder) }}

// reset empties e for a new section, keeping its buffers.
func (e *idxSectionEncoder) reset() {
	var zero [idxHeaderSize]byte
	e.out = append(e.out[:0], zero[:]...)
	e.metas, e.heap, e.restarts = e.metas[:0], e.heap[:0], e.restarts[:0]
	e.blockStart, e.count, e.heapAt, e.n = len(e.out), 0, 0, 0
	e.prev, e.prevKey, e.prevSeq = nil, nil, 0
}

// closeBlock ends the open block: its restart offsets, count and CRC, and
// its entry in the block index.
func (e *idxSectionEncoder) closeBlock() {
	e.out = append(e.out, e.restarts...)
	e.out = binary.LittleEndian.AppendUint16(e.out, uint16(e.count))
	e.out = binary.LittleEndian.AppendUint32(e.out, checksum(e.out[e.blockStart:]))
	e.metas = binary.LittleEndian.AppendUint64(e.metas, uint64(e.blockStart))
	e.metas = binary.LittleEndian.AppendUint32(e.metas, uint32(len(e.out)-e.blockStart))
	e.metas = binary.LittleEndian.AppendUint32(e.metas, uint32(e.heapAt))
	e.blockStart, e.count, e.restarts = len(e.out), 0, e.restarts[:0]
}

// open starts an entry: it closes the open block when it is full, and
// reports whether the entry is a restart point (stored whole, recorded in
// the restart offsets).
func (e *idxSectionEncoder) open() (restart bool) {
	if e.count > 0 && (len(e.out)-e.blockStart >= idxBlockTarget || e.count == idxMaxBlockEntries) {
		e.closeBlock()
	}
	if e.count%idxRestartInterval == 0 {
		e.restarts = binary.LittleEndian.AppendUint16(e.restarts, uint16(len(e.out)-e.blockStart))
		return true
	}
	return false
}

// add appends entry, which must be greater than the previous one and stay
// unmodified until the next add.
func (e *idxSectionEncoder) add(entry []byte) {
	shared := 0
	if !e.open() {
		shared = commonPrefixLen(entry, e.prev)
	}
	if e.count == 0 {
		e.heapAt = len(e.heap)
		e.heap = append(e.heap, entry...)
	}
	e.out = binary.AppendUvarint(e.out, uint64(shared))
	e.out = binary.AppendUvarint(e.out, uint64(len(entry)-shared))
	e.out = append(e.out, entry[shared:]...)
	e.prev = entry
	e.count++
	e.n++
}

// addKeySeq appends the entry key ‖ seq (8 B big-endian), which must be
// greater than the previous one; sameKey tells that the previous entry has
// the same key (then only the seq's bytes are compared). key must stay
// unmodified until the next addKeySeq.
func (e *idxSectionEncoder) addKeySeq(key []byte, seq uint64, sameKey bool) {
	var sb [idxSeqSize]byte
	binary.BigEndian.PutUint64(sb[:], seq)
	shared := 0
	if !e.open() {
		if sameKey {
			shared = len(key) + bits.LeadingZeros64(seq^e.prevSeq)/8
		} else {
			shared = commonPrefixLen(key, e.prevKey)
			if shared == len(key) || shared == len(e.prevKey) { // one key is a prefix of the other
				prev := binary.BigEndian.AppendUint64(slices.Clip(e.prevKey), e.prevSeq)
				shared = commonPrefixLen(binary.BigEndian.AppendUint64(slices.Clip(key), seq), prev)
			}
		}
	}
	if e.count == 0 {
		e.heapAt = len(e.heap)
		e.heap = append(append(e.heap, key...), sb[:]...)
	}
	e.out = binary.AppendUvarint(e.out, uint64(shared))
	e.out = binary.AppendUvarint(e.out, uint64(len(key)+idxSeqSize-shared))
	if shared < len(key) {
		e.out = append(append(e.out, key[shared:]...), sb[:]...)
	} else {
		e.out = append(e.out, sb[shared-len(key):]...)
	}
	e.prevKey, e.prevSeq = key, seq
	e.count++
	e.n++
}

// finish closes the last block, writes the block index, the heap and the
// header of a section over fields of types typs, and returns the section
// (e's buffer: valid until e is reset).
func (e *idxSectionEncoder) finish(typs []FieldType) []byte {
	if e.count > 0 {
		e.closeBlock()
	}
	nblocks := len(e.metas) / idxBlockMetaSize
	indexOff := len(e.out)
	e.out = append(e.out, e.metas...)
	e.out = append(e.out, e.heap...)
	e.out = binary.LittleEndian.AppendUint32(e.out, checksum(e.out[indexOff:]))

	h := e.out[:0:idxHeaderSize]
	h = append(h, idxSectionMagic...)
	var more [4]byte // v3: types of fields 2..k
	if len(typs) == 1 {
		h = binary.LittleEndian.AppendUint16(h, idxSectionVersion)
		h = append(h, byte(typs[0]), 0)
	} else {
		h = binary.LittleEndian.AppendUint16(h, idxSectionVersion3)
		h = append(h, byte(typs[0]), byte(len(typs)))
		for i, t := range typs[1:] {
			more[i] = byte(t)
		}
	}
	h = binary.LittleEndian.AppendUint32(h, uint32(nblocks))
	h = binary.LittleEndian.AppendUint64(h, uint64(e.n))
	h = binary.LittleEndian.AppendUint64(h, uint64(indexOff))
	h = append(h, more[:]...)
	binary.LittleEndian.AppendUint32(h, checksum(h))
	return e.out
}

// commonPrefixLen returns the length of the longest common prefix of a
// and b, comparing 8 bytes at a time.
func commonPrefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// idxSectionReader reads one index section in place (the bytes alias the
// SST mapping). Opening it checks only the header and the section's bounds
// (O(1)): the SST reader has verified the CRC of the whole section payload
// once (sstReader.section), and every access below is bounds-checked, so a
// damaged section yields ErrCorrupted naming the file and offset, never a
// panic. verify checks everything, block and block index CRCs included.
type idxSectionReader struct {
	file     string
	base     int64 // file offset of the section, for errors
	b        []byte
	typ      FieldType   // type of the (first) field
	rest     []FieldType // version 3: types of the further fields
	nblocks  int
	nentries uint64
	indexOff int // block index
	heapOff  int // first-entry heap
	heapEnd  int
}

// indexSection returns the index section called field (an index name) in
// r, or found=false when the file has none (written before the index
// existed).
//
// The section reader is made once per mapping and shared: it holds only the
// checked header and the (immutable) section bytes.
func (r *sstReader) indexSection(field string) (*idxSectionReader, bool, error) {
	i := slices.IndexFunc(r.secs, func(s sstSection) bool { return s.kind == sstSectionIndex && s.name == field })
	cached := i >= 0 && i < len(r.idxSecs)
	if cached && r.data != nil {
		if s := r.idxSecs[i].Load(); s != nil {
			return s, true, nil
		}
	}
	b, ok, err := r.section(sstSectionIndex, field)
	if err != nil || !ok {
		return nil, ok, err
	}
	s, err := openIndexSection(b, r.name, int64(r.secs[i].off))
	if err != nil {
		return nil, false, err
	}
	if cached {
		r.idxSecs[i].Store(s)
	}
	return s, true, nil
}

// openIndexSection checks the header of section bytes b.
func openIndexSection(b []byte, file string, base int64) (*idxSectionReader, error) {
	s := &idxSectionReader{file: file, base: base, b: b}
	if len(b) < idxHeaderSize+idxIndexCRCSize {
		return nil, s.corrupt(0, "section of %d bytes is too short", len(b))
	}
	c := byteCursor{b: b[:idxHeaderSize]}
	if string(c.bytes(len(idxSectionMagic))) != idxSectionMagic {
		return nil, s.corrupt(0, "bad magic")
	}
	version := c.u16()
	if version != idxSectionVersion && version != idxSectionVersion3 {
		return nil, s.corrupt(8, "unknown version %d", version)
	}
	if binary.LittleEndian.Uint32(b[idxHeaderCRCOff:]) != checksum(b[:idxHeaderCRCOff]) {
		return nil, s.corrupt(idxHeaderCRCOff, "header checksum mismatch")
	}
	s.typ = FieldType(c.u8())
	count := int(c.u8()) // v3: field count; v2: reserved
	nblocks := uint64(c.u32())
	s.nentries = c.u64()
	indexOff := c.u64()
	more := c.bytes(4) // v3: types of fields 2..k; v2: reserved
	if version == idxSectionVersion3 {
		if count < 2 || count > maxIndexFields {
			return nil, s.corrupt(11, "composite index of %d fields", count)
		}
		for i, t := range more {
			switch {
			case i < count-1 && !indexableType(FieldType(t)):
				return nil, s.corrupt(32+i, "field %d type %d is not indexable", i+2, t)
			case i >= count-1 && t != 0:
				return nil, s.corrupt(32+i, "reserved header bytes not zero")
			case i < count-1:
				s.rest = append(s.rest, FieldType(t))
			}
		}
		count = 0
	}
	switch {
	case !indexableType(s.typ):
		return nil, s.corrupt(10, "field type %d is not indexable", s.typ)
	case count != 0 || (version == idxSectionVersion && binary.LittleEndian.Uint32(more) != 0):
		return nil, s.corrupt(11, "reserved header bytes not zero")
	case nblocks > uint64(len(b)-idxHeaderSize-idxIndexCRCSize)/(idxBlockMetaSize+idxMinEntrySize+idxMinEncodedEntry):
		return nil, s.corrupt(12, "block count %d exceeds the section", nblocks)
	case indexOff < idxHeaderSize || indexOff > uint64(len(b))-idxIndexCRCSize-nblocks*(idxBlockMetaSize+idxMinEntrySize):
		return nil, s.corrupt(24, "block index offset %d does not fit %d blocks in %d bytes", indexOff, nblocks, len(b))
	case s.nentries < nblocks || s.nentries > uint64(indexOff-idxHeaderSize)/idxMinEncodedEntry:
		return nil, s.corrupt(16, "entry count %d invalid for %d blocks", s.nentries, nblocks)
	case nblocks == 0 && (indexOff != idxHeaderSize || len(b) != idxHeaderSize+idxIndexCRCSize):
		return nil, s.corrupt(24, "no blocks but %d bytes of them", len(b)-idxHeaderSize-idxIndexCRCSize)
	}
	s.nblocks, s.indexOff = int(nblocks), int(indexOff)
	s.heapOff, s.heapEnd = s.indexOff+s.nblocks*idxBlockMetaSize, len(b)-idxIndexCRCSize
	return s, nil
}

// indexes reports whether the section can serve index f (the section name
// being f's name): the same field types in the same order. A section that
// does not is treated as missing.
func (s *idxSectionReader) indexes(f idxField) bool {
	if s.typ != f.typ || len(s.rest) != len(f.rest) {
		return false
	}
	for i, c := range f.rest {
		if s.rest[i] != c.typ {
			return false
		}
	}
	return true
}

// corrupt returns an ErrCorrupted error at offset off of the section.
func (s *idxSectionReader) corrupt(off int, format string, args ...any) error {
	at := int64(-1)
	if s.base >= 0 && off >= 0 {
		at = s.base + int64(off)
	}
	return corruptionError(s.file, at, "index section: "+format, args...)
}

// blockMeta returns block i's offset and length, checked against the
// blocks region.
func (s *idxSectionReader) blockMeta(i int) (off, n int, err error) {
	m := s.indexOff + i*idxBlockMetaSize
	o := binary.LittleEndian.Uint64(s.b[m:])
	l := uint64(binary.LittleEndian.Uint32(s.b[m+8:]))
	if o < idxHeaderSize || o > uint64(s.indexOff) || l > uint64(s.indexOff)-o || l < idxBlockTrailer+idxBlockOffSize+idxMinEncodedEntry {
		return 0, 0, s.corrupt(m, "block %d: offset %d, length %d out of range", i, o, l)
	}
	return int(o), int(l), nil
}

// firstEntry returns the copy of block i's first entry in the heap (in
// place).
func (s *idxSectionReader) firstEntry(i int) ([]byte, error) {
	m := s.indexOff + i*idxBlockMetaSize + 12
	start := uint64(binary.LittleEndian.Uint32(s.b[m:]))
	end := uint64(s.heapEnd - s.heapOff)
	if i+1 < s.nblocks {
		end = uint64(binary.LittleEndian.Uint32(s.b[m+idxBlockMetaSize:]))
	}
	if (i == 0 && start != 0) || end > uint64(s.heapEnd-s.heapOff) || start+idxMinEntrySize > end {
		return nil, s.corrupt(m, "block %d: first entry [%d, %d) outside the heap", i, start, end)
	}
	a, b := s.heapOff+int(start), s.heapOff+int(end)
	return s.b[a:b:b], nil
}

// idxBlock is a loaded block. Entries are decoded one restart run (the up
// to 16 entries from one restart point to the next) at a time into run, so
// walking a block in either direction decodes each entry once.
type idxBlock struct {
	s        *idxSectionReader
	off      int    // section offset of the block
	b        []byte // the block
	count    int    // entries
	restarts int    // offset of the restart offsets = end of the entries

	run     int    // restart run held in runBuf, -1 when none
	runBuf  []byte // the run's entries, decoded, back to back
	runEnds []int  // runEnds[i]: end of the run's entry i in runBuf
}

// block loads block i and checks its trailer and, with checkCRC, its CRC.
// Lookups skip the CRC: sstReader.section verified the CRC of the whole
// section payload before handing it out, so the block CRCs serve verify,
// which names the damaged block.
func (s *idxSectionReader) block(i int, checkCRC bool) (idxBlock, error) {
	off, n, err := s.blockMeta(i)
	if err != nil {
		return idxBlock{}, err
	}
	b := s.b[off : off+n : off+n]
	crcAt := n - idxBlockCRCSize
	if checkCRC && binary.LittleEndian.Uint32(b[crcAt:]) != checksum(b[:crcAt]) {
		return idxBlock{}, s.corrupt(off, "block %d checksum mismatch", i)
	}
	count := int(binary.LittleEndian.Uint16(b[crcAt-idxBlockCountSize:]))
	nrestarts := (count + idxRestartInterval - 1) / idxRestartInterval
	restarts := crcAt - idxBlockCountSize - nrestarts*idxBlockOffSize
	if count == 0 || restarts < count*idxMinEncodedEntry {
		return idxBlock{}, s.corrupt(off, "block %d: %d entries do not fit its %d bytes", i, count, n)
	}
	return idxBlock{s: s, off: off, b: b, count: count, restarts: restarts, run: -1}, nil
}

// restart returns the offset of restart point r (entry r·16).
func (k *idxBlock) restart(r int) int {
	return int(binary.LittleEndian.Uint16(k.b[k.restarts+r*idxBlockOffSize:]))
}

// entry returns entry j (0 ≤ j < count) of the block, decoded into a buffer
// the block owns: it is valid until entry is called for another restart run
// of this block.
func (k *idxBlock) entry(j int) ([]byte, error) {
	r := j / idxRestartInterval
	if r != k.run {
		if err := k.decodeRun(r); err != nil {
			k.run = -1
			return nil, err
		}
	}
	i := j - r*idxRestartInterval
	start := 0
	if i > 0 {
		start = k.runEnds[i-1]
	}
	return k.runBuf[start:k.runEnds[i]:k.runEnds[i]], nil
}

// decodeRun decodes restart run r, checking every length against the block
// and the entry before it, and that the run ends exactly where the next one
// starts (or, for the last run, where the restart offsets begin).
func (k *idxBlock) decodeRun(r int) error {
	first := r * idxRestartInterval
	n := min(idxRestartInterval, k.count-first)
	at := k.restart(r)
	if r == 0 && at != 0 {
		return k.s.corrupt(k.off+k.restarts, "restart 0 at %d, want 0", at)
	}
	// Size the buffers for the whole run up front (a source reuses them
	// from block to block: sstIdxSource.load): growing them entry by entry
	// cost ~10 allocations per source and lookup. Shared prefixes make the
	// decoded run larger than its encoding; 2× plus a margin covers
	// typical keys, append grows past it if need be.
	runEnd := k.restarts
	if first+n < k.count {
		runEnd = k.restart(r + 1)
	}
	if need := 2*max(runEnd-at, 0) + 64; cap(k.runBuf) < need {
		k.runBuf = make([]byte, 0, need)
	}
	if cap(k.runEnds) < idxRestartInterval {
		k.runEnds = make([]int, 0, idxRestartInterval)
	}
	k.runBuf, k.runEnds = k.runBuf[:0], k.runEnds[:0]
	prevStart := 0
	for i := 0; i < n; i++ {
		j := first + i
		if at >= k.restarts {
			return k.s.corrupt(k.off+at, "entry %d starts at %d, past the entries' end %d", j, at, k.restarts)
		}
		shared, n1 := binary.Uvarint(k.b[at:k.restarts])
		if n1 <= 0 {
			return k.s.corrupt(k.off+at, "entry %d: bad shared length", j)
		}
		unshared, n2 := binary.Uvarint(k.b[at+n1 : k.restarts])
		if n2 <= 0 {
			return k.s.corrupt(k.off+at, "entry %d: bad length", j)
		}
		start := at + n1 + n2
		prevLen := len(k.runBuf) - prevStart
		switch {
		case i == 0 && shared != 0:
			return k.s.corrupt(k.off+at, "restart entry %d shares %d bytes", j, shared)
		case shared > uint64(prevLen):
			return k.s.corrupt(k.off+at, "entry %d shares %d bytes of a %d-byte entry", j, shared, prevLen)
		case unshared == 0 || unshared > uint64(k.restarts-start):
			return k.s.corrupt(k.off+at, "entry %d: %d new bytes do not fit the block", j, unshared)
		case shared+unshared < idxMinEntrySize:
			return k.s.corrupt(k.off+at, "entry %d of %d bytes is too short", j, shared+unshared)
		}
		entryStart := len(k.runBuf)
		// The shared prefix is copied from the previous entry of the same
		// buffer; append copies correctly even when it reallocates.
		k.runBuf = append(k.runBuf, k.runBuf[prevStart:prevStart+int(shared)]...)
		at = start + int(unshared)
		k.runBuf = append(k.runBuf, k.b[start:at]...)
		k.runEnds = append(k.runEnds, len(k.runBuf))
		prevStart = entryStart
	}
	if at != runEnd {
		return k.s.corrupt(k.off+at, "restart run %d ends at %d, the next starts at %d", r, at, runEnd)
	}
	k.run = r
	return nil
}

// search returns the first entry j in [0, count) for which pred is true
// (count if none); pred must be monotone. It binary-searches the restart
// points, then walks the at most 16 entries after the last restart for
// which pred is false.
func (k *idxBlock) search(pred func(e []byte) bool) (int, error) {
	// The first restart point whose entry satisfies pred.
	lo, err := idxSearch((k.count+idxRestartInterval-1)/idxRestartInterval, k.restartEntry, pred)
	if err != nil {
		return 0, err
	}
	if lo == 0 {
		return 0, nil
	}
	j := (lo - 1) * idxRestartInterval
	for end := min(lo*idxRestartInterval, k.count); j < end; j++ {
		e, err := k.entry(j)
		if err != nil {
			return 0, err
		}
		if pred(e) {
			return j, nil
		}
	}
	return j, nil
}

// restartEntry returns the entry at restart point r in place, without
// decoding its run: a restart entry shares nothing, so its bytes are whole
// in the block. The checks are decodeRun's for a first entry.
func (k *idxBlock) restartEntry(r int) ([]byte, error) {
	at := k.restart(r)
	if (r == 0 && at != 0) || at >= k.restarts {
		return nil, k.s.corrupt(k.off+k.restarts, "restart %d at %d outside the entries", r, at)
	}
	shared, n1 := binary.Uvarint(k.b[at:k.restarts])
	if n1 <= 0 || shared != 0 {
		return nil, k.s.corrupt(k.off+at, "restart entry %d: bad shared length", r*idxRestartInterval)
	}
	unshared, n2 := binary.Uvarint(k.b[at+n1 : k.restarts])
	start := at + n1 + n2
	if n2 <= 0 || unshared < idxMinEntrySize || unshared > uint64(k.restarts-start) {
		return nil, k.s.corrupt(k.off+at, "restart entry %d: %d bytes do not fit the block", r*idxRestartInterval, unshared)
	}
	end := start + int(unshared)
	return k.b[start:end:end], nil
}

// sstIdxSource walks an index section over a range, in either direction,
// for an indexIter. It checks that consecutive entries strictly increase
// (decrease in reverse), so a damaged section cannot make it repeat.
type sstIdxSource struct {
	s       *idxSectionReader
	lo, hi  idxBound
	reverse bool
	bi      int // current block
	blk     idxBlock
	j       int    // current entry in blk
	cur     []byte // the current entry, a copy owned by the source (nil at the end)
	buf     []byte // cur's storage, reused
	fault   error
}

func (x *sstIdxSource) entry() []byte { return x.cur }
func (x *sstIdxSource) err() error    { return x.fault }

func (x *sstIdxSource) fail(err error) bool {
	x.fault, x.cur = err, nil
	return false
}

// searchBlocks returns the first block i in [0, nblocks) for which pred of
// its first entry is true (nblocks if none); pred must be monotone.
func (x *sstIdxSource) searchBlocks(pred func(e []byte) bool) (int, error) {
	return idxSearch(x.s.nblocks, x.s.firstEntry, pred)
}

// idxSearch returns the first i in [0, n) for which pred(at(i)) is true (n
// if none), by binary search; pred must be monotone. An error of at stops
// the search.
func idxSearch(n int, at func(i int) ([]byte, error), pred func(e []byte) bool) (int, error) {
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := at(mid)
		if err != nil {
			return 0, err
		}
		if pred(e) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// searchEntries is searchBlocks over the entries of the current block.
func (x *sstIdxSource) searchEntries(pred func(e []byte) bool) (int, error) {
	return x.blk.search(pred)
}

func (x *sstIdxSource) load(bi int) error {
	blk, err := x.s.block(bi, false)
	if err != nil {
		return err
	}
	blk.runBuf, blk.runEnds = x.blk.runBuf[:0], x.blk.runEnds[:0] // reuse the decode buffers
	x.bi, x.blk = bi, blk
	return nil
}

func (x *sstIdxSource) seekStart() bool {
	if x.s.nblocks == 0 {
		return false
	}
	if !x.reverse {
		// Entries ≥ lo may start in the block before the first block whose
		// first entry satisfies lo.
		i, err := x.searchBlocks(x.lo.lowerOK)
		if err != nil {
			return x.fail(err)
		}
		if err := x.load(max(i-1, 0)); err != nil {
			return x.fail(err)
		}
		j, err := x.searchEntries(x.lo.lowerOK)
		if err != nil {
			return x.fail(err)
		}
		if j == x.blk.count {
			if x.bi+1 >= x.s.nblocks {
				return false
			}
			if err := x.load(x.bi + 1); err != nil {
				return x.fail(err)
			}
			j = 0
		}
		return x.land(j, nil)
	}
	// The last block whose first entry satisfies hi holds the last entry
	// that does.
	i, err := x.searchBlocks(func(e []byte) bool { return !x.hi.upperOK(e) })
	if err != nil {
		return x.fail(err)
	}
	if i == 0 {
		return false
	}
	if err := x.load(i - 1); err != nil {
		return x.fail(err)
	}
	j, err := x.searchEntries(func(e []byte) bool { return !x.hi.upperOK(e) })
	if err != nil {
		return x.fail(err)
	}
	if j == 0 { // the block index lied about the first entry
		return x.fail(x.s.corrupt(x.blk.off, "block %d out of order with the block index", x.bi))
	}
	return x.land(j-1, nil)
}

// land makes entry j of the current block current, checking it against
// prev (the entry before it in the iteration, nil at the start) and the
// range's far bound.
func (x *sstIdxSource) land(j int, prev []byte) bool {
	e, err := x.blk.entry(j)
	if err != nil {
		return x.fail(err)
	}
	if prev != nil {
		c := bytes.Compare(e, prev)
		if (!x.reverse && c <= 0) || (x.reverse && c >= 0) {
			return x.fail(x.s.corrupt(x.blk.off, "block %d: entry %d out of order", x.bi, j))
		}
	}
	if (!x.reverse && !x.hi.upperOK(e)) || (x.reverse && !x.lo.lowerOK(e)) {
		x.cur = nil
		return false
	}
	x.buf = append(x.buf[:0], e...)
	x.j, x.cur = j, x.buf
	return true
}

func (x *sstIdxSource) step() bool {
	if x.cur == nil {
		return false
	}
	prev := x.cur
	j := x.j
	if !x.reverse {
		j++
		if j >= x.blk.count {
			if x.bi+1 >= x.s.nblocks {
				x.cur = nil
				return false
			}
			if err := x.load(x.bi + 1); err != nil {
				return x.fail(err)
			}
			j = 0
		}
	} else {
		j--
		if j < 0 {
			if x.bi == 0 {
				x.cur = nil
				return false
			}
			if err := x.load(x.bi - 1); err != nil {
				return x.fail(err)
			}
			j = x.blk.count - 1
		}
	}
	return x.land(j, prev)
}

// verify checks the whole section for Check: the block index CRC, that the
// blocks tile the blocks region in order, every block's CRC and bounds, that
// the entries strictly increase across the section, the entry count, and
// calls fn for each entry in order (fn may be nil; its error stops the walk;
// e is valid only during the call).
func (s *idxSectionReader) verify(fn func(e []byte) error) error {
	if binary.LittleEndian.Uint32(s.b[s.heapEnd:]) != checksum(s.b[s.indexOff:s.heapEnd]) {
		return s.corrupt(s.heapEnd, "block index checksum mismatch")
	}
	next := idxHeaderSize
	var prev []byte
	var total uint64
	for i := 0; i < s.nblocks; i++ {
		off, n, err := s.blockMeta(i)
		if err != nil {
			return err
		}
		if off != next {
			return s.corrupt(s.indexOff+i*idxBlockMetaSize, "block %d at %d, want %d", i, off, next)
		}
		next = off + n
		blk, err := s.block(i, true)
		if err != nil {
			return err
		}
		first, err := s.firstEntry(i)
		if err != nil {
			return err
		}
		if e, err := blk.entry(0); err != nil {
			return err
		} else if !bytes.Equal(e, first) {
			return s.corrupt(off, "block %d: first entry differs from the block index", i)
		}
		for j := 0; j < blk.count; j++ {
			e, err := blk.entry(j)
			if err != nil {
				return err
			}
			if prev != nil && bytes.Compare(prev, e) >= 0 {
				return s.corrupt(off, "block %d: entry %d out of order", i, j)
			}
			prev = append(prev[:0], e...)
			total++
			if fn != nil {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
	}
	if next != s.indexOff {
		return s.corrupt(next, "blocks end at %d, the block index starts at %d", next, s.indexOff)
	}
	if total != s.nentries {
		return s.corrupt(16, "header counts %d entries, the blocks hold %d", s.nentries, total)
	}
	return nil
}
