package srdb

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
)

// The compact forms of an idxBuildBuf (the index entries of one field of
// one SST being written).
//
// Flush and compaction add a file's rows in seq order, so a field's entries
// (key ‖ 8-byte big-endian seq) arrive either grouped by few repeating keys
// with growing seqs (channel_id) or already ascending (msg_id). Kept whole
// (arena + refs, the flat form) they cost len(key) + 16 bytes each — 31 B
// for a channel id, 25 B for an int64 — and were most of a compaction's
// heap: ≈ 10 MB live per 55 MB output of the IM rows, which the collector
// doubled. A buffer therefore starts in the stream form and changes form
// when the entries stop fitting it; every form yields the same entries, so
// the section written is byte for byte the same:
//
//   - stream: while each entry is greater than the one before (arrival
//     order is sorted order), the entries go straight into the section's
//     encoder (idxSectionEncoder, prefix-compressed blocks): ≈ 12 B per
//     entry for an int64 key growing with the seq, and writeTo only
//     finishes the section. Leaving the form decodes the blocks written so
//     far (eachStreamEntry).
//   - grouped: one group per distinct key (the key once, its seqs as
//     uvarint deltas, each > 0), while the keys are few (at most a quarter
//     of the entries, checked from idxGroupCheckMin entries on) and each
//     key's seqs grow. ≈ 1–3 B per entry. Encoding sorts the keys and
//     writes each group's entries (idxSectionEncoder.addKeySeq), which is
//     the sorted order when no key is a prefix of another.
//   - flat: arena + refs, sorted at encoding (groupIdxEntries or a
//     comparison sort), for every other arrival.
//
// stream → grouped at the first entry out of order (the stream's entries
// ascend, so each key's seqs do) unless its keys are already too many
// (stream → flat), grouped → flat when a key's seq does not grow or the
// keys are too many; a buffer never goes back.

// idxBuildMode is the form of an idxBuildBuf.
type idxBuildMode uint8

const (
	idxBuildStream idxBuildMode = iota // the zero value: a fresh buffer
	idxBuildGrouped
	idxBuildFlat
)

// idxGroupCheckMin is the number of entries from which a grouped buffer
// checks (at every power of two) that its keys are at most a quarter of its
// entries; below it a group costs little whatever the keys.
const idxGroupCheckMin = 4096

// reset empties b for a new field, keeping its buffers' capacity.
func (b *idxBuildBuf) reset() {
	b.arena, b.refs, b.sorted = b.arena[:0], b.refs[:0], true
	b.mode, b.n, b.tooBig = idxBuildStream, 0, false
	if b.groups == nil {
		b.groups = make(map[string]int32)
	}
	b.dropGroups()
	b.dropStream()
}

// add appends entry e (key ‖ seq; e is not retained). It returns false when
// the field's entries would exceed what a section can index (4 Gi entries,
// 4 GiB of flat entries).
func (b *idxBuildBuf) add(e []byte) bool {
	if uint64(b.n) >= idxMaxSectionEntries || b.tooBig {
		return false
	}
	if b.mode == idxBuildStream {
		if b.n == 0 || bytes.Compare(b.last[b.li], e) < 0 {
			b.addStream(e)
			b.n++
			return true
		}
		b.sorted = false
		// e is out of order.
		if b.skeys > 64+b.n/4 {
			if !b.toFlat() {
				return false
			}
		} else if !b.toGrouped() {
			return false
		}
	}
	if b.mode == idxBuildGrouped {
		// Queued in the flat fields and folded into the groups in
		// batches: the groups' map stays in cache while a batch is folded,
		// instead of being looked up between the row work of each entry.
		b.arena = append(b.arena, e...)
		b.refs = append(b.refs, idxBuildRef{off: uint32(len(b.arena) - len(e)), n: uint32(len(e))})
		b.n++
		if len(b.refs) == idxGroupFold && !b.fold() {
			return !b.tooBig // fold turned b flat
		}
		if b.mode == idxBuildGrouped && b.n >= idxGroupCheckMin && b.n&(b.n-1) == 0 && len(b.gkeys) > b.n/4 {
			return b.toFlat()
		}
		return true
	}
	if !b.addFlat(e) {
		return false
	}
	b.n++
	return true
}

// idxGroupFold is the number of entries a grouped buffer queues before it
// folds them into its groups (a divisor of idxGroupCheckMin, so the queue
// is empty at every check).
const idxGroupFold = 1024

// fold adds the queued entries of a grouped buffer to their groups. When
// one does not fit (not key ‖ seq, or its seq does not grow its group's)
// the buffer turns flat and fold returns false (b.tooBig tells whether that
// failed, past 4 GiB).
func (b *idxBuildBuf) fold() bool {
	for i, r := range b.refs {
		if !b.addGrouped(b.entry(r)) {
			b.refs = b.refs[i:]
			b.toFlat()
			return false
		}
	}
	b.arena, b.refs = b.arena[:0], b.refs[:0]
	return true
}

// toGrouped turns a stream buffer into the grouped form. Its entries
// ascend, so every key's seqs grow and each one joins its group — unless an
// entry is not key ‖ seq: then it becomes flat.
func (b *idxBuildBuf) toGrouped() bool {
	b.mode = idxBuildGrouped
	ok := true
	b.eachStreamEntry(func(e []byte) { ok = ok && b.addGrouped(e) })
	if !ok {
		b.dropGroups()
		b.mode = idxBuildStream
		return b.toFlat()
	}
	b.dropStream()
	return true
}

// dropStream forgets the stream (the encoder's capacity stays for reuse).
func (b *idxBuildBuf) dropStream() {
	if b.enc != nil {
		b.enc.reset()
	}
	b.skeys, b.li = 0, 0
	b.last[0], b.last[1] = b.last[0][:0], b.last[1][:0]
}

// addGrouped adds e to its key's group; false (nothing added) when e is not
// key ‖ seq or its seq does not grow its group's.
func (b *idxBuildBuf) addGrouped(e []byte) bool {
	key, s, ok := splitIdxEntry(e)
	if !ok {
		return false
	}
	seq := uint64(s)
	g, found := b.groups[string(key)]
	if !found {
		g = int32(len(b.gkeys))
		k := string(key)
		b.groups[k] = g
		b.gkeys = append(b.gkeys, k)
		b.glast = append(b.glast, seq)
		if len(b.gseqs) < cap(b.gseqs) {
			b.gseqs = b.gseqs[:g+1]
			b.gseqs[g] = b.gseqs[g][:0]
		} else {
			b.gseqs = append(b.gseqs, nil)
		}
		b.gseqs[g] = binary.AppendUvarint(b.gseqs[g], seq)
		return true
	}
	if seq <= b.glast[g] {
		return false
	}
	b.gseqs[g] = binary.AppendUvarint(b.gseqs[g], seq-b.glast[g])
	b.glast[g] = seq
	return true
}

// sortedGroups returns the group ids ordered by key, and false when a key
// is a prefix of another (the entries of the two could then interleave, so
// key order is not entry order).
func (b *idxBuildBuf) sortedGroups() ([]int32, bool) {
	order := make([]int32, len(b.gkeys))
	for g := range order {
		order[g] = int32(g)
	}
	slices.SortFunc(order, func(x, y int32) int { return strings.Compare(b.gkeys[x], b.gkeys[y]) })
	for i := 1; i < len(order); i++ {
		if strings.HasPrefix(b.gkeys[order[i]], b.gkeys[order[i-1]]) {
			return order, false
		}
	}
	return order, true
}

// eachGroupEntry calls fn with every entry of group g in seq order: its key
// and seq.
func (b *idxBuildBuf) eachGroupEntry(g int32, fn func(key string, seq uint64)) {
	p := b.gseqs[g]
	var seq uint64
	for len(p) > 0 {
		d, n := binary.Uvarint(p)
		p = p[n:]
		seq += d
		fn(b.gkeys[g], seq)
	}
}

// addStream adds e, greater than every entry before it, to the encoder.
// The encoder keeps the previous entry (to share its prefix) until the next
// add, so the entries are copied into two buffers used in turn.
func (b *idxBuildBuf) addStream(e []byte) {
	if b.enc == nil {
		b.enc = new(idxSectionEncoder)
		b.enc.reset()
	}
	prev := b.last[b.li]
	if b.n == 0 || len(e) < idxSeqSize || len(prev) < idxSeqSize ||
		!bytes.Equal(e[:len(e)-idxSeqSize], prev[:len(prev)-idxSeqSize]) {
		b.skeys++
	}
	b.li ^= 1
	b.last[b.li] = append(b.last[b.li][:0], e...)
	b.enc.add(b.last[b.li])
}

// eachStreamEntry calls fn with every entry added to the stream, in order
// (decoding the encoder's blocks; layout above encodeIndexSection). The
// entry passed aliases a buffer the next call overwrites.
func (b *idxBuildBuf) eachStreamEntry(fn func(e []byte)) {
	enc := b.enc
	if enc == nil {
		return
	}
	var e []byte
	entries := func(p []byte, count int) {
		for ; count > 0; count-- {
			shared, n := binary.Uvarint(p)
			p = p[n:]
			rest, n := binary.Uvarint(p)
			p = p[n:]
			e = append(e[:shared], p[:rest]...)
			p = p[rest:]
			fn(e)
		}
	}
	for m := 0; m+idxBlockMetaSize <= len(enc.metas); m += idxBlockMetaSize {
		off := binary.LittleEndian.Uint64(enc.metas[m:])
		blk := enc.out[off : off+uint64(binary.LittleEndian.Uint32(enc.metas[m+8:]))]
		count := int(binary.LittleEndian.Uint16(blk[len(blk)-idxBlockTrailer:]))
		entries(blk, count)
	}
	entries(enc.out[enc.blockStart:], enc.count)
}

// dropGroups forgets the groups (their capacity stays for reuse; the key
// strings are released).
func (b *idxBuildBuf) dropGroups() {
	clear(b.groups)
	clear(b.gkeys)
	b.gkeys, b.glast, b.gseqs = b.gkeys[:0], b.glast[:0], b.gseqs[:0]
}

// toFlat turns b into the flat form holding the same entries; false when
// they exceed 4 GiB.
func (b *idxBuildBuf) toFlat() bool {
	mode := b.mode
	b.mode, b.sorted = idxBuildFlat, true
	ok := true
	var e []byte
	switch mode {
	case idxBuildGrouped:
		// The queued entries (not folded yet) follow the groups' entries.
		queued, queuedRefs := b.arena, b.refs
		b.arena, b.refs = nil, nil
		for g := range b.gkeys {
			b.eachGroupEntry(int32(g), func(key string, seq uint64) {
				e = binary.BigEndian.AppendUint64(append(e[:0], key...), seq)
				ok = ok && b.addFlat(e)
			})
		}
		for _, r := range queuedRefs {
			ok = ok && b.addFlat(queued[r.off:r.off+r.n])
		}
		b.dropGroups()
	case idxBuildStream:
		b.arena, b.refs = b.arena[:0], b.refs[:0]
		b.eachStreamEntry(func(x []byte) { ok = ok && b.addFlat(x) })
		b.dropStream()
	}
	b.tooBig = !ok
	return ok
}

// addFlat appends e to the flat form; false when the arena would pass
// 4 GiB.
func (b *idxBuildBuf) addFlat(e []byte) bool {
	start := len(b.arena)
	if uint64(start)+uint64(len(e)) > math.MaxUint32 {
		return false
	}
	b.arena = append(b.arena, e...)
	if b.sorted && len(b.refs) > 0 && bytes.Compare(b.entry(b.refs[len(b.refs)-1]), e) >= 0 {
		b.sorted = false
	}
	b.refs = append(b.refs, idxBuildRef{off: uint32(start), n: uint32(len(e))})
	return true
}

// encodeGrouped adds every entry of a grouped buffer to enc in ascending
// order and returns true; false (enc untouched) for another form, or when
// its keys are not prefix-free (the caller flattens it and sorts).
func (b *idxBuildBuf) encodeGrouped(enc *idxSectionEncoder) bool {
	if b.mode != idxBuildGrouped {
		return false
	}
	if !b.fold() {
		return false // now flat (or failed: the caller's flat reports it)
	}
	order, ok := b.sortedGroups()
	if !ok {
		return false
	}
	for _, g := range order {
		key := []byte(b.gkeys[g]) // stays unmodified while enc refers to it
		first := true
		b.eachGroupEntry(g, func(_ string, seq uint64) {
			enc.addKeySeq(key, seq, !first)
			first = false
		})
	}
	return true
}
