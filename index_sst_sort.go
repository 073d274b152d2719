package srdb

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sort"
)

// Sorting the index entries of one SST (flush and compaction output).
//
// The entries of a field arrive in seq order, each key ‖ seq. An indexed
// field usually has few distinct values relative to the rows of a file
// (channel_id: 1,000 channels over 200,000 rows), so instead of a
// comparison sort of every entry (n log n byte comparisons) groupIdxEntries
// groups the entries by key with a hash map, sorts the distinct keys only,
// and places each entry's seq with a stable counting sort: inside a group
// the seqs keep their arrival order, which is their sorted order because
// the seq is the entry's big-endian suffix (and keys are prefix-free, so no
// entry of one key sorts between two of another). The result is compact:
// each distinct key once, then the seqs in entry order, which the section
// encoder reads sequentially (idxGroups.encode) instead of chasing every
// entry through the arena. When the keys are mostly distinct, a group's
// seqs do not arrive ascending, or two keys are prefixes of one another,
// it does not apply and the caller falls back to the plain comparison sort;
// the entries are identical either way.

// idxGroupMaxDistinct returns the largest number of distinct keys for which
// grouping is used for n entries.
func idxGroupMaxDistinct(n int) int { return n/8 + 64 }

// idxGroups is the sorted form of the entries of one field made by
// groupIdxEntries.
type idxGroups struct {
	keys [][]byte // the distinct keys, ascending (aliasing the arena)
	ends []int    // ends[g]: the number of entries of keys[0..g]
	seqs []uint64 // the seqs in entry order: keys[0]'s ascending, then keys[1]'s, …
}

// len returns the number of entries.
func (g *idxGroups) len() int { return len(g.seqs) }

// appendEntry appends entry k (in ascending order) to dst.
func (g *idxGroups) appendEntry(dst []byte, k int) []byte {
	i := sort.Search(len(g.ends), func(i int) bool { return g.ends[i] > k })
	return binary.BigEndian.AppendUint64(append(dst, g.keys[i]...), g.seqs[k])
}

// encode adds every entry to enc, in ascending order.
func (g *idxGroups) encode(enc *idxSectionEncoder) {
	k := 0
	for i, key := range g.keys {
		for j := k; j < g.ends[i]; j++ {
			enc.addKeySeq(key, g.seqs[j], j > k)
		}
		k = g.ends[i]
	}
}

// sortIdxBuildRefs sorts buf.refs by entry bytes with a comparison sort.
func sortIdxBuildRefs(buf *idxBuildBuf) {
	slices.SortFunc(buf.refs, func(x, y idxBuildRef) int { return bytes.Compare(buf.entry(x), buf.entry(y)) })
}

// groupIdxEntries returns the entries of buf in the grouped sorted form, or
// false when grouping does not apply (see above). The result aliases buf's
// arena and scratch buffers: it is valid until buf is reused or released.
func groupIdxEntries(buf *idxBuildBuf) (*idxGroups, bool) {
	n := len(buf.refs)
	limit := idxGroupMaxDistinct(n)
	if buf.groupOf == nil {
		buf.groupOf = make(map[string]int32, min(limit, 4096))
	}
	clear(buf.groupOf)
	ids := slices.Grow(buf.ids[:0], n)[:n] // group of each entry
	first := buf.first[:0]                 // first entry of each group
	lastSeq := buf.lastSeq[:0]             // seq of the latest entry of each group
	defer func() { buf.ids, buf.first, buf.lastSeq = ids, first, lastSeq }()
	for i, r := range buf.refs {
		e := buf.entry(r)
		if len(e) < idxSeqSize {
			return nil, false
		}
		key := e[:len(e)-idxSeqSize]
		seq := binary.BigEndian.Uint64(e[len(e)-idxSeqSize:])
		g, ok := buf.groupOf[string(key)]
		if !ok {
			if len(first) >= limit {
				return nil, false
			}
			g = int32(len(first))
			buf.groupOf[string(key)] = g
			first = append(first, r)
			lastSeq = append(lastSeq, seq)
		} else {
			if seq <= lastSeq[g] {
				return nil, false // not in seq order: let the comparison sort decide
			}
			lastSeq[g] = seq
		}
		ids[i] = g
	}
	key := func(g int32) []byte {
		e := buf.entry(first[g])
		return e[:len(e)-idxSeqSize]
	}
	// Rank the groups by key.
	order := make([]int32, len(first))
	for g := range order {
		order[g] = int32(g)
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(key(a), key(b)) })
	out := &idxGroups{keys: make([][]byte, len(order)), ends: make([]int, len(order))}
	for i, g := range order {
		out.keys[i] = key(g)
		if i > 0 && bytes.HasPrefix(out.keys[i], out.keys[i-1]) {
			return nil, false // entries of the two keys could interleave
		}
	}
	// start[g]: where group g's seqs begin in the output. lastSeq is
	// reused to hold it: the seqs were only needed for the order check.
	count := make([]int, len(first))
	for _, g := range ids {
		count[g]++
	}
	pos := 0
	for i, g := range order {
		lastSeq[g] = uint64(pos)
		pos += count[g]
		out.ends[i] = pos
	}
	seqs := slices.Grow(buf.seqs[:0], n)[:n]
	for i, r := range buf.refs {
		g := ids[i]
		e := buf.entry(r)
		seqs[lastSeq[g]] = binary.BigEndian.Uint64(e[len(e)-idxSeqSize:])
		lastSeq[g]++
	}
	buf.seqs = seqs
	out.seqs = seqs
	return out, true
}
