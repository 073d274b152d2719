package srdb

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Sorting the index entries of one SST (flush and compaction output).
//
// The entries of a field arrive in seq order, each key ‖ seq. An indexed
// field usually has few distinct values relative to the rows of a file
// (channel_id: 1,000 channels over 200,000 rows), so instead of a
// comparison sort of every entry (n log n byte comparisons, the largest
// CPU cost of a flush in the profiles) sortIdxBuildRefs groups the entries
// by key with a hash map, sorts the distinct keys only, and places each
// entry with a stable counting sort: inside a group entries keep their
// arrival (seq) order, which is their sorted order because the seq is the
// entry's big-endian suffix. When the keys are mostly distinct, or the
// arrival order is not seq order after all, it falls back to the plain
// comparison sort; the result is identical either way.

// idxGroupMaxDistinct returns the largest number of distinct keys for which
// grouping is used for n entries.
func idxGroupMaxDistinct(n int) int { return n/8 + 64 }

// sortIdxBuildRefs sorts buf.refs by entry bytes (see above).
func sortIdxBuildRefs(buf *idxBuildBuf) {
	if !sortIdxBuildRefsGrouped(buf) {
		slices.SortFunc(buf.refs, func(x, y idxBuildRef) int { return bytes.Compare(buf.entry(x), buf.entry(y)) })
	}
}

// sortIdxBuildRefsGrouped is the grouping sort; it returns false, leaving
// buf.refs unchanged, when it does not apply.
func sortIdxBuildRefsGrouped(buf *idxBuildBuf) bool {
	n := len(buf.refs)
	if n < 2 {
		return true
	}
	limit := idxGroupMaxDistinct(n)
	groupOf := make(map[string]int32, min(limit, 4096))
	ids := make([]int32, n)  // group of each entry
	first := []idxBuildRef{} // first entry of each group
	lastSeq := []uint64{}    // seq of the latest entry of each group
	for i, r := range buf.refs {
		e := buf.entry(r)
		if len(e) < idxSeqSize {
			return false
		}
		key := e[:len(e)-idxSeqSize]
		seq := binary.BigEndian.Uint64(e[len(e)-idxSeqSize:])
		g, ok := groupOf[string(key)]
		if !ok {
			if len(first) >= limit {
				return false
			}
			g = int32(len(first))
			groupOf[string(key)] = g
			first = append(first, r)
			lastSeq = append(lastSeq, seq)
		} else {
			if seq <= lastSeq[g] {
				return false // not in seq order: let the comparison sort decide
			}
			lastSeq[g] = seq
		}
		ids[i] = g
	}
	// Rank the groups by key.
	order := make([]int32, len(first))
	for g := range order {
		order[g] = int32(g)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ea, eb := buf.entry(first[a]), buf.entry(first[b])
		return bytes.Compare(ea[:len(ea)-idxSeqSize], eb[:len(eb)-idxSeqSize])
	})
	// start[g]: where group g's entries begin in the output.
	count := make([]int32, len(first))
	for _, g := range ids {
		count[g]++
	}
	start := make([]int32, len(first))
	pos := int32(0)
	for _, g := range order {
		start[g] = pos
		pos += count[g]
	}
	out := make([]idxBuildRef, n)
	for i, r := range buf.refs {
		g := ids[i]
		out[start[g]] = r
		start[g]++
	}
	buf.refs = out
	return true
}
