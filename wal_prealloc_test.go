package srdb

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The WAL writer reserves file space ahead of its writes and cuts it off on
// close (wal_writer.go, "Preallocation"). These tests pin the reservation
// steps, the cut, the replay of a WAL whose writer died with space reserved,
// the fallback when Preallocate fails, and the use of SyncData.

// walFileSize returns the size of the file at path.
func walFileSize(t *testing.T, fs FS, path string) int64 {
	t.Helper()
	st, err := fs.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

// TestWALPreallocationReservesAheadAndCloseCuts: on the real file system and
// on memFS, the file is longer than the bytes written while the writer is
// open (the reservations double from walPreallocMin), and close leaves
// exactly the records, ending in a sync mark.
func TestWALPreallocationReservesAheadAndCloseCuts(t *testing.T) {
	for _, c := range []struct {
		name string
		fs   FS
		path string
	}{
		{"os", OSFS(), filepath.Join(t.TempDir(), "1.wal")},
		{"mem", newMemFS(), "1.wal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := createWAL(c.fs, c.path, 1, DurabilitySync, 0, nil)
			require.NoError(t, err)
			assert.Equal(t, walHeaderSize64, walFileSize(t, c.fs, c.path), "nothing reserved before the first write")

			payload := walPayload(1, 1000)
			var sizes []int64
			for i := range 400 {
				end := walAppendCommit(t, w, walRecordBatch, int64(i+1), payload)
				size := walFileSize(t, c.fs, c.path)
				require.Greater(t, size, end, "record %d: the file is not longer than its records", i+1)
				if len(sizes) == 0 || sizes[len(sizes)-1] != size {
					sizes = append(sizes, size)
				}
			}
			// The reservations are 64 KiB, 128 KiB, 256 KiB, ... past the
			// end of the write that needed them, which passed the previous
			// size by less than a record and a sync mark.
			require.GreaterOrEqual(t, len(sizes), 3, "reservations %v", sizes)
			slack := int64(walRecHeaderSize + len(payload) + walSyncMarkSize)
			step := int64(walPreallocMin)
			assert.Equal(t, step, sizes[0]-walHeaderSize64-int64(walRecHeaderSize+len(payload)))
			for i := 1; i < len(sizes); i++ {
				step = min(2*step, walPreallocMax)
				grew := sizes[i] - sizes[i-1]
				assert.True(t, grew >= step && grew <= step+slack, "reservation %d grew the file by %d, want %d (+ < %d): %v", i, grew, step, slack, sizes)
			}

			require.NoError(t, w.close())
			b := walReadFile(t, c.fs, c.path)
			assert.Equal(t, w.size(), int64(len(b)), "close cut the file to its records")
			_, types := walOffsets(t, b) // fails on trailing zeros
			assert.Equal(t, walRecordSyncMark, types[len(types)-1])
			got, res, err := walReplayAll(c.fs, c.path, false) // an older WAL: must end cleanly
			require.NoError(t, err)
			assert.Len(t, got, 400)
			assert.False(t, res.truncated)
		})
	}
}

// TestWALReservedTailReplay: a WAL whose writer died with space reserved
// ends in zeros. As the newest WAL it replays every record, is cut back to
// them and logged at INFO (not as a torn tail); as an older WAL the same
// bytes are corruption (so close must cut them, which the rotation tests
// check).
func TestWALReservedTailReplay(t *testing.T) {
	fs := newMemFS()
	w, err := createWAL(fs, "w", 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	for i := range 20 {
		walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i+1), 300))
	}
	written := int64(len(walLiveImage(t, fs, "w", w)))
	crashed := fs.crashClone(nil, 1) // the writer never closes: a kill -9
	img := walReadFile(t, crashed, "w")
	require.Greater(t, int64(len(img)), written)
	require.Equal(t, make([]byte, int64(len(img))-written), img[written:], "the reserved tail reads as zeros")

	_, _, err = walReplayAll(crashed, "w", false)
	walRequireCorruptAt(t, err, "w", written)

	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	var seqs []int64
	res, err := replayWAL(crashed, "w", true, logger, func(_ walRecordType, seq int64, _ []byte) error {
		seqs = append(seqs, seq)
		return nil
	})
	require.NoError(t, err)
	assert.Len(t, seqs, 20)
	assert.True(t, res.truncated)
	assert.Equal(t, written, res.validEnd)
	assert.Equal(t, int64(len(img))-written, res.truncatedBytes)
	assert.Equal(t, written, walFileSize(t, crashed, "w"))
	out := logBuf.String()
	assert.Contains(t, out, "level=INFO")
	assert.Contains(t, out, "space reserved ahead of writes")
	assert.NotContains(t, out, "level=WARN")
	require.NoError(t, w.close())
}

// TestWALPreallocateFailureFallsBack: when Preallocate fails the writer
// logs it once, stops reserving, and appends as before; every record
// replays and close leaves a clean file.
func TestWALPreallocateFailureFallsBack(t *testing.T) {
	ffs := newFaultFS(newMemFS())
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	w, err := createWAL(ffs, "w", 1, DurabilitySync, 0, logger)
	require.NoError(t, err)
	// The writer's first Preallocate is the first fsOpTruncate.
	ffs.failNth(fsOpTruncate, ffs.opCountOf(fsOpTruncate), failOnce, faultENOSPC)
	for i := range 300 {
		walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i+1), 500))
	}
	assert.Equal(t, 1, ffs.faultsInjected())
	assert.Equal(t, 1, strings.Count(logBuf.String(), "cannot reserve space"), logBuf.String())
	truncates := ffs.opCountOf(fsOpTruncate)
	assert.Equal(t, 1, truncates, "no Preallocate after the failed one")
	require.NoError(t, w.close())
	b := walReadFile(t, ffs.inner, "w")
	assert.Equal(t, w.size(), int64(len(b)))
	got, _, err := walReplayAll(ffs.inner, "w", false)
	require.NoError(t, err)
	assert.Len(t, got, 300)
}

// walDataSyncFS counts, on the files it creates, the calls of SyncData and
// of Sync.
type walDataSyncFS struct {
	FS
	dataSyncs, syncs int
}

func (fs *walDataSyncFS) Create(name string) (File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &walDataSyncFile{File: f, fs: fs}, nil
}

type walDataSyncFile struct {
	File
	fs *walDataSyncFS
}

func (f *walDataSyncFile) Sync() error { f.fs.syncs++; return f.File.Sync() }

func (f *walDataSyncFile) SyncData() error { f.fs.dataSyncs++; return f.File.Sync() }

func (f *walDataSyncFile) Preallocate(size int64) error {
	return f.File.(filePreallocator).Preallocate(size)
}

// TestWALSyncsDataWithSyncData: the commits of DurabilitySync use the file's
// SyncData (fdatasync) when it has one; a full Sync is kept for the header
// and for close, whose cut changes the file's size.
func TestWALSyncsDataWithSyncData(t *testing.T) {
	fs := &walDataSyncFS{FS: newMemFS()}
	w, err := createWAL(fs, "w", 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, fs.syncs, "the header")
	for i := range 10 {
		walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i+1), 100))
	}
	assert.Equal(t, 10, fs.dataSyncs)
	assert.Equal(t, 1, fs.syncs)
	require.NoError(t, w.close())
	assert.Equal(t, 2, fs.syncs, "close's cut")
}

// TestRotationCutsReservedSpaceOfOlderWAL: a memtable switch closes the old
// WAL, cutting off the space reserved past its records, before the next
// WAL exists; a power cut after the switch then finds an older WAL that
// ends at its last record (an older WAL ending in zeros would be
// corruption) and every acknowledged row.
func TestRotationCutsReservedSpaceOfOlderWAL(t *testing.T) {
	fs := newMemFS()
	opts := DefaultOptions()
	opts.FS = fs
	opts.Durability = DurabilitySync
	opts.MemTableSize = 4 << 10
	opts.DisableAutoCompaction = true
	db := openTestDB(t, "/db", opts)
	tbl := createIMTable(t, db)
	wals := func(fs *memFS) (names []string) {
		list, err := fs.List("/db/tables/messages")
		require.NoError(t, err)
		for _, n := range list {
			if strings.HasSuffix(n, ".wal") {
				names = append(names, n)
			}
		}
		return names
	}
	var acked int64
	var image *memFS
	for i := int64(1); i < 10_000 && image == nil; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
		acked = i
		// Crash while an older WAL still waits for its flush.
		if snap := fs.crashClone(nil, 0); len(wals(snap)) >= 2 {
			image = snap
		}
	}
	require.NotNil(t, image, "no memtable switch")
	names := wals(image)
	for _, n := range names[:len(names)-1] {
		b := walReadFile(t, image, "/db/tables/messages/"+n)
		walOffsets(t, b) // fails on a tail of zeros
	}
	require.NoError(t, db.Close())

	o := DefaultOptions()
	o.FS = image
	db2 := openTestDB(t, "/db", o)
	defer db2.Close()
	require.NoError(t, db2.Check())
	tbl2, err := db2.Table("messages")
	require.NoError(t, err)
	for i := int64(1); i <= acked; i++ {
		_, err := tbl2.Get(i)
		require.NoError(t, err, "row %d acknowledged before the power cut is lost", i)
	}
}
