package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// walFuzzSeeds returns WAL images for the fuzzer's corpus: valid files of
// each writer mode with several records and sync marks, and a few damaged
// ones.
func walFuzzSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		nil,
		make([]byte, walHeaderSize),
		walBuild(tb, nil, nil, false),
		walBuild(tb, []int{0, 1, 30, 200}, nil, false),
		walBuild(tb, []int{10, 20, 30, 40, 50}, map[int]bool{1: true, 3: true}, true),
		walBuild(tb, []int{5, 500, 5}, map[int]bool{0: true}, false),
	}
	fs := newMemFS()
	w, err := createWAL(fs, "sync", 3, DurabilitySync, 0, nil)
	require.NoError(tb, err)
	for i := range 4 {
		walAppendCommit(tb, w, walRecordType(i%3+1), int64(i+1), walPayload(int64(i), 17*i))
	}
	require.NoError(tb, w.close())
	img := walReadFile(tb, fs, "sync")
	seeds = append(seeds, img)
	torn := append([]byte(nil), img[:len(img)-60]...)
	garbled := append([]byte(nil), img...)
	garbled[walHeaderSize+30] ^= 0x20
	seeds = append(seeds, torn, garbled, append(append([]byte(nil), img...), 0, 0, 0, 0, 0))
	return seeds
}

// FuzzReadWAL feeds arbitrary bytes to replayWAL, as an older WAL and as the
// newest one. It must never panic, allocate beyond the input's size, or
// return anything but success or ErrCorrupted; a newest WAL that replays
// must be left holding exactly the replayed prefix and replay again
// identically.
func FuzzReadWAL(f *testing.F) {
	for _, s := range walFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := newMemFS()
		walWriteFile(t, fs, "old", b)
		oldRecs, _, oldErr := walReplayAll(fs, "old", false)
		if oldErr != nil {
			require.ErrorIs(t, oldErr, ErrCorrupted)
		}
		require.True(t, bytes.Equal(b, walReadFile(t, fs, "old")), "an older WAL is never modified")

		walWriteFile(t, fs, "new", b)
		newRecs, res, newErr := walReplayAll(fs, "new", true)
		if newErr != nil {
			require.ErrorIs(t, newErr, ErrCorrupted)
			require.Error(t, oldErr, "damage in the newest WAL is damage in an older one too")
			require.True(t, bytes.Equal(b, walReadFile(t, fs, "new")), "a failed replay leaves the file untouched")
			return
		}
		after := walReadFile(t, fs, "new")
		require.Equal(t, int64(len(after)), res.validEnd)
		require.True(t, bytes.Equal(b[:len(after)], after), "replay only ever cuts a tail")
		require.Equal(t, int64(len(b)-len(after)), res.truncatedBytes)
		require.Equal(t, len(b) != len(after), res.truncated)
		require.Len(t, newRecs, res.records)
		if oldErr == nil {
			require.False(t, res.truncated)
		} else if !res.headerMissing {
			require.True(t, res.truncated)
		}
		// The records passed before any damage are the same either way.
		require.Equal(t, oldRecs, newRecs)

		again, res2, err := walReplayAll(fs, "new", true)
		require.NoError(t, err)
		require.False(t, res2.truncated)
		require.Equal(t, newRecs, again)
		if !res.headerMissing {
			// Now clean: it replays as an older WAL too.
			again, _, err = walReplayAll(fs, "new", false)
			require.NoError(t, err)
			require.Equal(t, newRecs, again)
		}
	})
}

// TestWALFuzzSeedsAreValid checks that the valid seeds really are valid, so
// the fuzzer starts from files that reach deep into the reader.
func TestWALFuzzSeedsAreValid(t *testing.T) {
	valid := 0
	for _, s := range walFuzzSeeds(t) {
		fs := newMemFS()
		walWriteFile(t, fs, "w", s)
		recs, _, err := walReplayAll(fs, "w", false)
		if err == nil && len(recs) >= 3 {
			valid++
		} else if err != nil && !errors.Is(err, ErrCorrupted) {
			t.Fatal(err)
		}
	}
	require.GreaterOrEqual(t, valid, 3)
}

// FuzzApplyWALRecord feeds arbitrary payloads of every record type to the
// replay of a record into a memtable (the decoders of batches, range
// deletes and delete batches): it returns nil or ErrCorrupted naming the
// table, never panics, and the highest seq it reports is not below the
// record's.
func FuzzApplyWALRecord(f *testing.F) {
	f.Add(uint8(walRecordRangeDelete), int64(3), binary.AppendUvarint(appendRangeTombstone(nil, rangeTombstone{3, 10, anyTime}), 7))
	f.Add(uint8(walRecordRangeDelete), int64(1), binary.AppendUvarint(appendRangeTombstone(nil, rangeTombstone{1, 50, 1e18}), 0))
	f.Add(uint8(walRecordDeleteBatch), int64(5), []byte{3, 0, 2, 9})
	f.Add(uint8(walRecordDelete), int64(5), []byte(nil))
	f.Add(uint8(walRecordBatch), int64(1), []byte{1, 0})
	multi := []byte{7, 2, 1, 'f', 3, 9, 0, 4, 'o', 't', 'h', 'r', 3, 5, 0}
	f.Add(uint8(walRecordMultiTable), int64(0), multi)
	s, err := NewSchema("f", []Field{{Name: "v", Type: Int64, Indexed: true}})
	require.NoError(f, err)
	tbl := &Table{name: "f"}
	tbl.schema.Store(s)
	f.Fuzz(func(t *testing.T, typ uint8, seq int64, data []byte) {
		m := newMemtable(1)
		m.idx = newMemIndexSet(s)
		ix := newReplayIndexer(m)
		hi, err := tbl.applyWALRecord(m, ix, "000001.wal", walRecordType(typ), seq, data)
		ix.finish()
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupted)
			return
		}
		require.GreaterOrEqual(t, hi, seq)
	})
}
