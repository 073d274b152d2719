package srdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGroupIdxEntries checks the grouping sort against the comparison sort
// on few and many distinct keys, and that it refuses (the caller then falls
// back) arrival orders that are not seq order and keys that are prefixes
// of one another; where it applies, the section encoded from the groups
// must be byte for byte the one encoded from the sorted entries.
func TestGroupIdxEntries(t *testing.T) {
	for _, tc := range []struct {
		keys      int
		n         int
		seqOrder  bool
		prefixes  bool
		wantGroup bool
	}{
		{keys: 1, n: 1000, seqOrder: true, wantGroup: true},
		{keys: 50, n: 5000, seqOrder: true, wantGroup: true},
		{keys: 1000, n: 60000, seqOrder: true, wantGroup: true},
		{keys: 5000, n: 5000, seqOrder: true, wantGroup: false},
		{keys: 50, n: 5000, seqOrder: false, wantGroup: false},
		{keys: 50, n: 5000, seqOrder: true, prefixes: true, wantGroup: false},
	} {
		name := fmt.Sprintf("keys=%d/n=%d/seqOrder=%v/prefixes=%v", tc.keys, tc.n, tc.seqOrder, tc.prefixes)
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(tc.keys*7 + tc.n)))
			buf := getIdxBuildBuf()
			seqs := rng.Perm(tc.n)
			if tc.seqOrder {
				slices.Sort(seqs)
			}
			for i := 0; i < tc.n; i++ {
				k := rng.Intn(tc.keys)
				key, err := encodeIndexKey(String, fmt.Sprintf("key-%05d", k))
				require.NoError(t, err)
				if tc.prefixes && k%5 == 0 {
					key = key[:1+k%4] // a prefix of other keys
				}
				start := len(buf.arena)
				// Seqs of many bytes, so that the entries of a key and of
				// one it is a prefix of interleave.
				buf.arena = appendIndexSeq(append(buf.arena, key...), int64(seqs[i]+1)<<40|int64(rng.Intn(1<<20)))
				buf.refs = append(buf.refs, idxBuildRef{off: uint32(start), n: uint32(len(buf.arena) - start)})
			}
			var want [][]byte
			for _, r := range buf.refs {
				want = append(want, buf.entry(r))
			}
			slices.SortFunc(want, bytes.Compare)
			wantSection := encodeIndexSection([]FieldType{String}, len(want), func(k int) []byte { return want[k] })

			g, ok := groupIdxEntries(buf)
			require.Equal(t, tc.wantGroup, ok)
			if ok {
				require.Equal(t, len(want), g.len())
				for k := range want {
					require.Equal(t, want[k], g.appendEntry(nil, k), "entry %d", k)
				}
				var enc idxSectionEncoder
				enc.reset()
				g.encode(&enc)
				require.Equal(t, wantSection, enc.finish([]FieldType{String}))
			}
			sortIdxBuildRefs(buf)
			for k, r := range buf.refs {
				require.Equal(t, want[k], buf.entry(r))
			}
		})
	}
}

// TestIdxSectionEncoderMatchesReference compares the section encoder with
// a plain transcription of the layout (encodeIndexSectionRef below) on
// entries with long and short shared prefixes, keys longer than a block,
// composite types and block counts that hit the 16-entry restart and 4 KiB
// block boundaries: the format is frozen, the bytes must not change.
func TestIdxSectionEncoderMatchesReference(t *testing.T) {
	r := randv2.New(randv2.NewPCG(31, 32))
	for _, tc := range []struct{ n, nkeys int }{{1, 1}, {15, 3}, {16, 3}, {17, 3}, {300, 10}, {5000, 40}, {20000, 2000}} {
		es := idxTestEntries(r, tc.n, tc.nkeys)
		for _, typs := range [][]FieldType{{String}, {String, Int64, Bool}} {
			want := encodeIndexSectionRef(typs, len(es), func(k int) []byte { return es[k] })
			got := encodeIndexSection(typs, len(es), func(k int) []byte { return es[k] })
			require.Equal(t, want, got, "n=%d keys=%d types=%v", tc.n, tc.nkeys, typs)

			// The same entries through addKeySeq.
			var enc idxSectionEncoder
			enc.reset()
			for k, e := range es {
				key := e[:len(e)-idxSeqSize]
				same := k > 0 && bytes.Equal(key, es[k-1][:len(es[k-1])-idxSeqSize])
				enc.addKeySeq(key, binary.BigEndian.Uint64(e[len(e)-idxSeqSize:]), same)
			}
			require.Equal(t, want, enc.finish(typs), "addKeySeq n=%d keys=%d", tc.n, tc.nkeys)
		}
	}
	require.Equal(t, encodeIndexSectionRef([]FieldType{Int64}, 0, nil), encodeIndexSection([]FieldType{Int64}, 0, nil))
}

// TestCommonPrefixLen checks the word-at-a-time prefix length against a
// byte loop for every length and mismatch position up to 20 bytes.
func TestCommonPrefixLen(t *testing.T) {
	for la := 0; la <= 20; la++ {
		for lb := 0; lb <= 20; lb++ {
			for diff := 0; diff <= 20; diff++ {
				a := bytes.Repeat([]byte{7}, la)
				b := bytes.Repeat([]byte{7}, lb)
				if diff < lb {
					b[diff] = 9
				}
				want := 0
				for want < la && want < lb && a[want] == b[want] {
					want++
				}
				require.Equal(t, want, commonPrefixLen(a, b), "la=%d lb=%d diff=%d", la, lb, diff)
			}
		}
	}
}

// encodeIndexSectionRef is the index section encoder as first written, kept
// as the reference the optimized encoder must match byte for byte.
func encodeIndexSectionRef(typs []FieldType, n int, entry func(k int) []byte) []byte {
	size := idxHeaderSize + idxIndexCRCSize
	for k := 0; k < n; k++ {
		size += len(entry(k))/4 + 3
	}
	size += (size/idxBlockTarget + 1) * (idxBlockTrailer + idxBlockMetaSize + 32)
	out := make([]byte, idxHeaderSize, size)
	var metas, heap, restarts []byte
	var prev []byte
	blockStart, count, heapAt := len(out), 0, 0
	closeBlock := func() {
		out = append(out, restarts...)
		out = binary.LittleEndian.AppendUint16(out, uint16(count))
		out = binary.LittleEndian.AppendUint32(out, checksum(out[blockStart:]))
		metas = binary.LittleEndian.AppendUint64(metas, uint64(blockStart))
		metas = binary.LittleEndian.AppendUint32(metas, uint32(len(out)-blockStart))
		metas = binary.LittleEndian.AppendUint32(metas, uint32(heapAt))
		blockStart, count, restarts = len(out), 0, restarts[:0]
	}
	for k := 0; k < n; k++ {
		e := entry(k)
		if count > 0 && (len(out)-blockStart >= idxBlockTarget || count == idxMaxBlockEntries) {
			closeBlock()
		}
		shared := 0
		if count%idxRestartInterval == 0 {
			restarts = binary.LittleEndian.AppendUint16(restarts, uint16(len(out)-blockStart))
		} else {
			for shared < len(e) && shared < len(prev) && e[shared] == prev[shared] {
				shared++
			}
		}
		if count == 0 {
			heapAt = len(heap)
			heap = append(heap, e...)
		}
		out = binary.AppendUvarint(out, uint64(shared))
		out = binary.AppendUvarint(out, uint64(len(e)-shared))
		out = append(out, e[shared:]...)
		prev = e
		count++
	}
	if count > 0 {
		closeBlock()
	}
	nblocks := len(metas) / idxBlockMetaSize
	indexOff := len(out)
	out = append(out, metas...)
	out = append(out, heap...)
	out = binary.LittleEndian.AppendUint32(out, checksum(out[indexOff:]))

	h := make([]byte, 0, idxHeaderSize)
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
	h = binary.LittleEndian.AppendUint64(h, uint64(n))
	h = binary.LittleEndian.AppendUint64(h, uint64(indexOff))
	h = append(h, more[:]...)
	h = binary.LittleEndian.AppendUint32(h, checksum(h))
	copy(out, h)
	return out
}
