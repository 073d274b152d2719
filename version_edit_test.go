package srdb

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// vtMeta returns a file of seq range [lo, hi] with plausible other fields.
func vtMeta(num uint64, lo, hi int64) *fileMeta {
	return &fileMeta{num: num, size: 1000 + num, entryProps: entryProps{
		minSeq: lo, maxSeq: hi, minTime: lo * 1000, maxTime: hi * 1000, hasTime: true,
		numEntries: uint64(hi - lo + 1), rawRowBytes: uint64(hi-lo+1) * 240,
	}}
}

// vtFullEdit returns an edit with every kind of field set.
func vtFullEdit() *versionEdit {
	e := &versionEdit{comparator: versionComparator}
	e.setLogNum(17)
	e.setNextFileNum(1 << 40)
	e.setLastSeq(math.MaxInt64)
	e.setLiveRows(-12345)
	e.deleteFile(0, 3)
	e.deleteFile(6, 1<<63)
	e.deleteFile(2, 9)
	e.addFile(0, vtMeta(20, 100, 200))
	e.addFile(6, &fileMeta{num: 21, size: 1 << 50, entryProps: entryProps{minSeq: math.MinInt64, maxSeq: math.MaxInt64,
		numEntries: 5, numTombstones: 5}})
	e.addFile(3, &fileMeta{num: 22, size: 4096, entryProps: entryProps{minSeq: -5, maxSeq: -1, hasTime: true,
		minTime: math.MinInt64, maxTime: math.MaxInt64, numEntries: 1 << 62, numTombstones: 1, rawRowBytes: 1 << 63}})
	e.setProperty("answer", "42")
	e.setProperty("empty", "")
	e.setProperty("binary", "\x00\xff\n")
	e.deleteProperty("old")
	e.setIndexes([]string{"channel_id", "msg_id"})
	return e
}

func TestVersionEditRoundTrip(t *testing.T) {
	for _, e := range []*versionEdit{{}, vtFullEdit()} {
		b := e.encode()
		got, err := decodeVersionEdit(b)
		require.NoError(t, err)
		if len(e.deletedFiles) == 0 {
			got.deletedFiles = e.deletedFiles
		}
		if len(e.setProps) == 0 {
			got.setProps = e.setProps
		}
		require.Equal(t, e, got)
		require.Equal(t, b, got.encode(), "encoding is deterministic")
	}
}

func TestVersionEditEncodingIsDeterministic(t *testing.T) {
	a, b := vtFullEdit(), vtFullEdit()
	// Maps are iterated in random order; the bytes must not depend on it.
	for range 20 {
		require.Equal(t, a.encode(), b.encode())
	}
}

func TestVersionEditIndexes(t *testing.T) {
	for _, names := range [][]string{{}, {"a"}, {"channel_id", "msg_id", "x"}} {
		e := &versionEdit{}
		e.setIndexes(names)
		got, err := decodeVersionEdit(e.encode())
		require.NoError(t, err)
		decoded, err := decodeIndexNames([]byte(got.setProps[propIndexes]), "x", 0)
		require.NoError(t, err)
		require.Equal(t, names, decoded)
	}
	_, err := decodeIndexNames([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, "x", 0)
	require.ErrorIs(t, err, ErrCorrupted)
	_, err = decodeIndexNames([]byte{2, 1, 'a'}, "x", 0)
	require.ErrorIs(t, err, ErrCorrupted)
	_, err = decodeIndexNames([]byte{1, 1, 'a', 'b'}, "x", 0)
	require.ErrorIs(t, err, ErrCorrupted)
}

func TestVersionEditPropertySetThenDelete(t *testing.T) {
	e := &versionEdit{}
	e.setProperty("k", "v")
	e.deleteProperty("k")
	require.Empty(t, e.setProps)
	require.True(t, e.delProps["k"])
	e.setProperty("k", "w")
	require.Empty(t, e.delProps)
	require.Equal(t, "w", e.setProps["k"])
}

// vtField encodes one raw field.
func vtField(tag uint64, payload []byte) []byte {
	b := binary.AppendUvarint(nil, tag)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

func vtUvarints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func TestDecodeVersionEditRejects(t *testing.T) {
	newFile := func(flags uint64) []byte {
		p := vtUvarints(1, 5, 100)
		p = binary.AppendVarint(p, 1)
		p = binary.AppendVarint(p, 2)
		return append(p, vtUvarints(flags, 1, 0, 10)...)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	cases := map[string][]byte{
		"unknown tag":           vtField(99, nil),
		"tag zero":              vtField(0, nil),
		"bad tag varint":        {0x80},
		"bad length varint":     {tagLogNum, 0xff},
		"field overruns":        {tagLogNum, 5, 1},
		"huge field length":     cat(vtUvarints(tagLogNum, 1<<62), []byte{1}),
		"empty logNum":          vtField(tagLogNum, nil),
		"trailing in logNum":    vtField(tagLogNum, []byte{1, 2}),
		"repeated logNum":       cat(vtField(tagLogNum, []byte{1}), vtField(tagLogNum, []byte{1})),
		"repeated lastSeq":      cat(vtField(tagLastSeq, []byte{1}), vtField(tagLastSeq, []byte{2})),
		"repeated liveRows":     cat(vtField(tagLiveRows, []byte{1}), vtField(tagLiveRows, []byte{2})),
		"bad liveRows":          vtField(tagLiveRows, []byte{0x80}),
		"repeated comparator":   cat(vtField(tagComparator, []byte("a")), vtField(tagComparator, []byte("a"))),
		"empty comparator":      vtField(tagComparator, nil),
		"lastSeq too big":       vtField(tagLastSeq, vtUvarints(1<<63)),
		"overlong uvarint":      vtField(tagNextFileNum, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
		"delete level 7":        vtField(tagDeletedFile, vtUvarints(7, 1)),
		"delete no num":         vtField(tagDeletedFile, vtUvarints(1)),
		"delete twice":          cat(vtField(tagDeletedFile, vtUvarints(1, 1)), vtField(tagDeletedFile, vtUvarints(1, 1))),
		"new file level 9":      vtField(tagNewFile, append(vtUvarints(9), newFile(0)[1:]...)),
		"new file unknown flag": vtField(tagNewFile, newFile(2)),
		"new file time missing": vtField(tagNewFile, newFile(newFileHasTime)),
		"new file cut":          vtField(tagNewFile, newFile(0)[:6]),
		"new file trailing":     vtField(tagNewFile, append(newFile(0), 0)),
		"prop empty key":        vtField(tagSetProperty, vtUvarints(0)),
		"prop key too long":     vtField(tagSetProperty, vtUvarints(maxPropKeyLen+1)),
		"prop key overruns":     vtField(tagSetProperty, []byte{5, 'a'}),
		"prop repeated":         cat(vtField(tagSetProperty, []byte{1, 'a', 'x'}), vtField(tagDeleteProperty, []byte("a"))),
		"del prop repeated":     cat(vtField(tagDeleteProperty, []byte("a")), vtField(tagDeleteProperty, []byte("a"))),
		"del prop empty":        vtField(tagDeleteProperty, nil),
	}
	for name, b := range cases {
		_, err := decodeVersionEdit(b)
		require.Error(t, err, name)
		require.ErrorIs(t, err, ErrCorrupted, name)
		var e *Error
		require.True(t, errors.As(err, &e), name)
		require.NotEmpty(t, e.File, name)
		require.GreaterOrEqual(t, e.Offset, int64(0), name)
	}
	// Sanity: the valid variant of the new-file field decodes.
	_, err := decodeVersionEdit(vtField(tagNewFile, newFile(0)))
	require.NoError(t, err)
}

func TestDecodeVersionEditEveryPrefixAndFlip(t *testing.T) {
	b := vtFullEdit().encode()
	for i := 0; i < len(b); i++ {
		e, err := decodeVersionEdit(b[:i])
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupted, "prefix %d", i)
		} else {
			require.NotNil(t, e)
		}
		for bit := 0; bit < 8; bit++ {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << bit
			if _, err := decodeVersionEdit(c); err != nil {
				require.ErrorIs(t, err, ErrCorrupted, "flip %d.%d", i, bit)
			}
		}
	}
}

func TestDecodeVersionEditErrorOffset(t *testing.T) {
	b := append(vtField(tagLogNum, []byte{1}), vtField(77, nil)...)
	_, err := decodeVersionEditAt(b, "MANIFEST-000009", 1000)
	var e *Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "MANIFEST-000009", e.File)
	require.Equal(t, int64(1003), e.Offset)
	require.Contains(t, err.Error(), "unknown tag 77")
}
