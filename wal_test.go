package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Helpers.

// walRec is one replayed record, data copied.
type walRec struct {
	typ  walRecordType
	seq  int64
	data []byte
}

// walPayload returns a deterministic payload of n bytes for seq.
func walPayload(seq int64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(seq), uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func walReplayAll(fs FS, path string, newest bool) ([]walRec, walReplayResult, error) {
	var recs []walRec
	res, err := replayWAL(fs, path, newest, nil, func(typ walRecordType, seq int64, data []byte) error {
		recs = append(recs, walRec{typ, seq, bytes.Clone(data)})
		return nil
	})
	return recs, res, err
}

// walReplayLive reads the records of a WAL a writer still appends to,
// changing nothing (the read-only replay): such a file ends in the space the
// writer reserved past its records, which a replay of the newest WAL would
// cut off and one of an older WAL would call damage.
func walReplayLive(fs FS, path string) ([]walRec, walReplayResult, error) {
	var recs []walRec
	res, err := replayWALMode(fs, path, true, true, nil, func(typ walRecordType, seq int64, data []byte) error {
		recs = append(recs, walRec{typ, seq, bytes.Clone(data)})
		return nil
	})
	return recs, res, err
}

// walLiveImage returns the bytes w has written to its file so far, without
// the space reserved past them.
func walLiveImage(t testing.TB, fs FS, path string, w *walWriter) []byte {
	t.Helper()
	w.mu.Lock()
	written := w.written
	w.mu.Unlock()
	b := walReadFile(t, fs, path)
	require.GreaterOrEqual(t, int64(len(b)), written)
	return b[:written]
}

func walReadFile(t testing.TB, fs FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	require.NoError(t, err)
	return b
}

func walWriteFile(t testing.TB, fs FS, path string, b []byte) {
	t.Helper()
	f, err := fs.Create(path)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// walOffsets returns the start offset of every record (sync marks included)
// of a valid WAL image, in order, and their types.
func walOffsets(t testing.TB, b []byte) (offs []int64, types []walRecordType) {
	t.Helper()
	off := walHeaderSize
	for off < len(b) {
		require.GreaterOrEqual(t, len(b)-off, walRecHeaderSize)
		h := decodeWALRecordHeader(b[off:])
		require.Empty(t, h.check())
		offs = append(offs, int64(off))
		types = append(types, h.typ)
		off += int(h.size())
	}
	require.Equal(t, len(b), off)
	return offs, types
}

// walDataOffsets returns walOffsets without the sync marks.
func walDataOffsets(t testing.TB, b []byte) []int64 {
	offs, types := walOffsets(t, b)
	var out []int64
	for i, o := range offs {
		if types[i] != walRecordSyncMark {
			out = append(out, o)
		}
	}
	return out
}

// walAppendCommit appends and commits one record, failing the test on error.
func walAppendCommit(t testing.TB, w *walWriter, typ walRecordType, seq int64, data []byte) int64 {
	t.Helper()
	end, err := w.append(typ, seq, data)
	require.NoError(t, err)
	require.NoError(t, w.commit(end))
	return end
}

func walRequireCorruptAt(t *testing.T, err error, path string, off int64) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrCorrupted)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, path, e.File)
	assert.Equal(t, off, e.Offset, "error: %v", err)
	assert.Contains(t, err.Error(), fmt.Sprintf("at offset %d", off))
}

var walAllModes = []Durability{DurabilitySync, DurabilityInterval, DurabilityNone}

// ---------------------------------------------------------------------------
// Format.

func TestWALFormatConstants(t *testing.T) {
	assert.Equal(t, 32, walHeaderSize)
	assert.Equal(t, 21, walRecHeaderSize)
	assert.Equal(t, 13, walRecLengthBase)
	assert.Equal(t, 45, walSyncMarkSize)

	rec := appendWALRecord(nil, walRecordUpdate, -7, []byte("abc"))
	require.Len(t, rec, walRecHeaderSize+3)
	assert.Equal(t, uint32(13+3), binary.LittleEndian.Uint32(rec[4:]))
	assert.Equal(t, byte(walRecordUpdate), rec[8])
	assert.Equal(t, uint64(math.MaxUint64-6), binary.LittleEndian.Uint64(rec[9:]))
	assert.Equal(t, uint32(3), binary.LittleEndian.Uint32(rec[17:]))
	// The CRC covers every byte after itself, Length included.
	for i := 4; i < len(rec); i++ {
		c := bytes.Clone(rec)
		c[i] ^= 0x01
		h := decodeWALRecordHeader(c)
		if h.check() == "" {
			assert.NotEqual(t, h.crc, walCRC(c[4:]), "flip at %d undetected", i)
		}
	}
	h, problem := decodeWALHeader(appendWALHeader(nil, walHeader{version: 1, logNum: 9, salt: 42}))
	require.Empty(t, problem)
	assert.Equal(t, walHeader{version: 1, logNum: 9, salt: 42}, h)
}

func walCRC(b []byte) uint32 { return checksum(b) }

// ---------------------------------------------------------------------------
// Writer.

func TestWALRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 20, 21, 255, 256, 4095, 4096, 4097, 65536, 1 << 20}
	r := rand.New(rand.NewPCG(1, 2))
	for range 60 {
		sizes = append(sizes, r.IntN(10000))
	}
	seqs := []int64{math.MinInt64, -1, 0, math.MaxInt64}
	for _, mode := range walAllModes {
		t.Run(mode.String(), func(t *testing.T) {
			fs := OSFS()
			path := filepath.Join(t.TempDir(), "000007.wal")
			w, err := createWAL(fs, path, 7, mode, time.Hour, nil)
			require.NoError(t, err)
			assert.Equal(t, uint64(7), w.logNum())
			var want []walRec
			for i, n := range sizes {
				typ := walRecordType(i%3 + 1)
				seq := int64(i + 1)
				if i < len(seqs) {
					seq = seqs[i]
				}
				data := walPayload(seq, n)
				end, err := w.append(typ, seq, data)
				require.NoError(t, err)
				require.Equal(t, w.size(), end)
				require.NoError(t, w.commit(end))
				want = append(want, walRec{typ, seq, data})
				if i == len(sizes)/2 {
					require.NoError(t, w.sync())
				}
			}
			// A type the table may add later is stored as well.
			walAppendCommit(t, w, walRecordType(9), 99, []byte("future"))
			want = append(want, walRec{9, 99, []byte("future")})
			require.NoError(t, w.close())
			size := w.size()

			for _, newest := range []bool{false, true} {
				got, res, err := walReplayAll(fs, path, newest)
				require.NoError(t, err)
				require.Equal(t, len(want), len(got))
				for i := range want {
					require.Equal(t, want[i], got[i], "record %d", i)
				}
				assert.Equal(t, len(want), res.records)
				assert.Equal(t, int64(99), res.lastSeq)
				assert.Equal(t, uint64(7), res.logNum)
				assert.Equal(t, size, res.validEnd)
				assert.False(t, res.truncated)
				assert.False(t, res.headerMissing)
			}
			st, err := fs.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, size, st.Size())

			// A cleanly closed WAL ends with a sync mark claiming every byte
			// before it.
			b := walReadFile(t, fs, path)
			offs, types := walOffsets(t, b)
			last := offs[len(offs)-1]
			require.Equal(t, walRecordSyncMark, types[len(types)-1])
			synced, ok := decodeWALSyncMark(b[last+walRecHeaderSize:], binary.LittleEndian.Uint64(b[walHeaderSaltOff:]))
			require.True(t, ok)
			assert.Equal(t, last, synced)
			assert.Equal(t, synced, walReplayResultOf(t, fs, path).syncedClaim)
		})
	}
}

// walReplayResultOf replays path (not newest) and returns the result.
func walReplayResultOf(t *testing.T, fs FS, path string) walReplayResult {
	t.Helper()
	_, r, err := walReplayAll(fs, path, false)
	require.NoError(t, err)
	return r
}

func TestWALCreate(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS(OSFS())
	path := filepath.Join(dir, "1.wal")
	w, err := createWAL(ffs, path, 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	writes, syncs := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
	assert.Equal(t, 1, writes, "header written in one call")
	assert.Equal(t, 1, syncs, "file fsynced")
	assert.Equal(t, 1, ffs.opCountOf(fsOpSyncDir), "directory fsynced")
	assert.Equal(t, walHeaderSize64, w.size())
	assert.Equal(t, walHeaderSize64, w.syncedOffset())

	// An existing file is never overwritten.
	_, err = createWAL(ffs, path, 1, DurabilitySync, 0, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, iofs.ErrExist)
	require.NoError(t, w.close())
	got, _, err := walReplayAll(OSFS(), path, false)
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = createWAL(ffs, filepath.Join(dir, "2.wal"), 2, Durability(7), 0, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = createWAL(ffs, filepath.Join(dir, "missing", "3.wal"), 3, DurabilitySync, 0, nil)
	assert.ErrorIs(t, err, ErrIO)
}

func TestWALAppendRejects(t *testing.T) {
	w, err := createWAL(newMemFS(), "w", 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	defer w.close()
	_, err = w.append(walRecordSyncMark, 1, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.ErrorIs(t, w.commit(w.size()+1), ErrInvalidArgument)
	assert.ErrorIs(t, w.commit(0), ErrInvalidArgument)
	assert.NoError(t, w.err(), "argument errors are not sticky")
	walAppendCommit(t, w, walRecordBatch, 1, []byte("x"))
}

func TestWALIntervalCommitWritesWithoutFsync(t *testing.T) {
	ffs := newFaultFS(OSFS())
	path := filepath.Join(t.TempDir(), "1.wal")
	w, err := createWAL(ffs, path, 1, DurabilityInterval, time.Hour, nil)
	require.NoError(t, err)
	var ends []int64
	for i := range 10 {
		ends = append(ends, walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i), 300)))
		// After commit the bytes are in the kernel: a fresh reader sees them.
		got, _, err := walReplayLive(OSFS(), path)
		require.NoError(t, err)
		require.Len(t, got, i+1)
		written, _ := ffs.writeCoverage()
		assert.GreaterOrEqual(t, written, ends[i])
	}
	syncs := ffs.opCountOf(fsOpSync)
	assert.Equal(t, 1, syncs, "no fsync besides the header's")
	assert.Equal(t, walHeaderSize64, w.syncedOffset())

	require.NoError(t, w.sync())
	syncs = ffs.opCountOf(fsOpSync)
	assert.Equal(t, 2, syncs)
	assert.Equal(t, ends[9], w.syncedOffset())
	// Nothing new: sync must not fsync again, nor append endless sync marks.
	require.NoError(t, w.sync())
	require.NoError(t, w.sync())
	syncs = ffs.opCountOf(fsOpSync)
	assert.Equal(t, 2, syncs)
	require.NoError(t, w.close())
}

func TestWALNoneBuffersUntilSync(t *testing.T) {
	ffs := newFaultFS(OSFS())
	path := filepath.Join(t.TempDir(), "1.wal")
	w, err := createWAL(ffs, path, 1, DurabilityNone, 0, nil)
	require.NoError(t, err)
	var end int64
	for i := range 10 {
		end = walAppendCommit(t, w, walRecordDelete, int64(i+1), walPayload(int64(i), 100))
	}
	writes, syncs := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
	assert.Equal(t, 1, writes, "only the header was written")
	assert.Equal(t, 1, syncs)
	assert.Len(t, walReadFile(t, OSFS(), path), walHeaderSize)
	assert.Equal(t, end, w.size())

	require.NoError(t, w.sync())
	got, _, err := walReplayLive(OSFS(), path)
	require.NoError(t, err)
	assert.Len(t, got, 10)
	assert.Equal(t, end, w.syncedOffset())
	syncs = ffs.opCountOf(fsOpSync)
	assert.Equal(t, 2, syncs)

	// The buffer is written (without fsync) once it exceeds its limit.
	big := walPayload(1, walBufferLimit/4)
	for i := range 5 {
		end = walAppendCommit(t, w, walRecordBatch, int64(100+i), big)
	}
	written, _ := ffs.writeCoverage()
	assert.Greater(t, written, int64(walBufferLimit))
	syncs = ffs.opCountOf(fsOpSync)
	assert.Equal(t, 2, syncs)
	require.NoError(t, w.close())
	got, _, err = walReplayAll(OSFS(), path, false)
	require.NoError(t, err)
	assert.Len(t, got, 15)
	assert.Equal(t, end+int64(walSyncMarkSize), w.size(), "the final sync mark follows the last record")
}

func TestWALSyncCommitFsyncs(t *testing.T) {
	ffs := newFaultFS(OSFS())
	path := filepath.Join(t.TempDir(), "1.wal")
	w, err := createWAL(ffs, path, 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	for i := range 5 {
		end := walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i), 256))
		assert.GreaterOrEqual(t, w.syncedOffset(), end)
		_, synced := ffs.writeCoverage()
		assert.GreaterOrEqual(t, synced, end)
		syncs := ffs.opCountOf(fsOpSync)
		assert.Equal(t, i+2, syncs)
	}
	require.NoError(t, w.close())
	b := walReadFile(t, OSFS(), path)
	_, types := walOffsets(t, b)
	// Each commit wrote the previous fsync's sync mark along with its record.
	assert.Equal(t, []walRecordType{1, 0x7f, 1, 0x7f, 1, 0x7f, 1, 0x7f, 1, 0x7f}, types)
}

func TestWALIntervalSyncerFsyncs(t *testing.T) {
	ffs := newFaultFS(OSFS())
	path := filepath.Join(t.TempDir(), "1.wal")
	w, err := createWAL(ffs, path, 1, DurabilityInterval, time.Millisecond, nil)
	require.NoError(t, err)
	end := walAppendCommit(t, w, walRecordBatch, 1, []byte("tick"))
	// The 30 s are a hang guard, not a timing assertion.
	require.Eventually(t, func() bool {
		_, synced := ffs.writeCoverage()
		return synced >= end
	}, 30*time.Second, time.Millisecond, "the interval syncer never fsynced the WAL")
	require.NoError(t, w.close())
	require.NoError(t, w.close())
}

func TestWALCloseIdempotent(t *testing.T) {
	for _, mode := range walAllModes {
		t.Run(mode.String(), func(t *testing.T) {
			ffs := newFaultFS(newMemFS())
			w, err := createWAL(ffs, "w", 1, mode, time.Hour, nil)
			require.NoError(t, err)
			end := walAppendCommit(t, w, walRecordBatch, 1, []byte("a"))
			require.NoError(t, w.close())
			syncs := ffs.opCountOf(fsOpSync)
			require.NoError(t, w.close())
			syncs2 := ffs.opCountOf(fsOpSync)
			assert.Equal(t, syncs, syncs2, "a second close does no I/O")
			_, err = w.append(walRecordBatch, 2, nil)
			assert.ErrorIs(t, err, ErrClosed)
			assert.NoError(t, w.commit(end), "covered by close")
			assert.NoError(t, w.sync())
			assert.NoError(t, w.err())
			assert.Equal(t, w.size(), w.syncedOffset())
		})
	}
	// Closing an empty WAL leaves just the header.
	fs := newMemFS()
	w, err := createWAL(fs, "e", 1, DurabilityInterval, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, w.close())
	assert.Len(t, walReadFile(t, fs, "e"), walHeaderSize)
}

// TestWALGroupCommit runs 16 goroutines appending under a shared lock (as the
// table does) and committing outside it. It checks that no commit returns
// before its bytes are written (and fsynced in Sync mode), as seen by the
// file system, and that every committed record replays in append order.
func TestWALGroupCommit(t *testing.T) {
	const goroutines = 16
	perG := 200
	if testing.Short() {
		perG = 50
	}
	for _, mode := range walAllModes {
		t.Run(mode.String(), func(t *testing.T) {
			ffs := newFaultFS(OSFS())
			path := filepath.Join(t.TempDir(), "1.wal")
			w, err := createWAL(ffs, path, 1, mode, time.Millisecond, nil)
			require.NoError(t, err)
			var (
				tableMu sync.Mutex // stands for the table's write lock
				nextSeq int64
				wg      sync.WaitGroup
				bad     atomic.Int64
			)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perG {
						tableMu.Lock()
						nextSeq++
						seq := nextSeq
						end, err := w.append(walRecordBatch, seq, walPayload(seq, 16+(g*i)%300))
						tableMu.Unlock()
						if err != nil {
							bad.Add(1)
							return
						}
						if err := w.commit(end); err != nil {
							bad.Add(1)
							return
						}
						written, synced := ffs.writeCoverage()
						switch mode {
						case DurabilitySync:
							if synced < end {
								bad.Add(1)
							}
						case DurabilityInterval:
							if written < end {
								bad.Add(1)
							}
						}
					}
				}()
			}
			wg.Wait()
			require.Zero(t, bad.Load(), "commits failed or returned before their bytes were covered")
			syncs := ffs.opCountOf(fsOpSync)
			require.NoError(t, w.close())
			t.Logf("%s: %d records, %d fsyncs during the run", mode, goroutines*perG, syncs-1)

			got, _, err := walReplayAll(OSFS(), path, true)
			require.NoError(t, err)
			require.Len(t, got, goroutines*perG)
			for i, r := range got {
				require.Equal(t, int64(i+1), r.seq, "append order preserved")
				require.Equal(t, walPayload(r.seq, len(r.data)), r.data)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Sticky errors.

func TestWALStickyWriteError(t *testing.T) {
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval} {
		t.Run(mode.String(), func(t *testing.T) {
			ffs := newFaultFS(OSFS())
			path := filepath.Join(t.TempDir(), "1.wal")
			w, err := createWAL(ffs, path, 1, mode, time.Hour, nil)
			require.NoError(t, err)
			end1 := walAppendCommit(t, w, walRecordBatch, 1, walPayload(1, 100))
			writes, syncs := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
			ffs.failNth(fsOpWrite, writes, failOnce, faultShortWrite) // half the bytes, then an error

			end2, err := w.append(walRecordBatch, 2, walPayload(2, 100))
			require.NoError(t, err, "append does no I/O")
			err = w.commit(end2)
			require.Error(t, err)
			require.ErrorIs(t, err, errInjectedFault)
			require.ErrorIs(t, err, ErrIO)
			assert.Contains(t, err.Error(), path)
			first := err

			_, err = w.append(walRecordBatch, 3, nil)
			assert.Same(t, first, err)
			assert.Same(t, first, w.commit(end2))
			assert.Same(t, first, w.sync())
			assert.Same(t, first, w.err())
			assert.NoError(t, w.commit(end1), "record 1 was covered before the failure")
			assert.Same(t, first, w.close())
			assert.Same(t, first, w.close())

			// Nothing was retried.
			writes2, syncs2 := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
			assert.Equal(t, writes+1, writes2)
			assert.Equal(t, syncs, syncs2)

			// Record 1 survives; the half-written record 2 is a torn tail.
			got, res, err := walReplayAll(OSFS(), path, true)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.True(t, res.truncated)
		})
	}
}

func TestWALStickySyncError(t *testing.T) {
	for _, mode := range walAllModes {
		t.Run(mode.String(), func(t *testing.T) {
			ffs := newFaultFS(OSFS())
			ffs.failNth(fsOpSync, 1, failOnce, faultSyncError) // the header's fsync is the first
			path := filepath.Join(t.TempDir(), "1.wal")
			w, err := createWAL(ffs, path, 1, mode, time.Hour, nil)
			require.NoError(t, err)

			// Concurrent committers waiting on the failing fsync all fail.
			var ends []int64
			for i := range 8 {
				end, err := w.append(walRecordBatch, int64(i+1), walPayload(int64(i), 64))
				require.NoError(t, err)
				ends = append(ends, end)
			}
			var first error
			switch mode {
			case DurabilitySync:
				errs := make([]error, len(ends))
				var wg sync.WaitGroup
				for i, end := range ends {
					wg.Add(1)
					go func() { defer wg.Done(); errs[i] = w.commit(end) }()
				}
				wg.Wait()
				for _, err := range errs {
					require.ErrorIs(t, err, errInjectedFault)
				}
				first = errs[0]
			default:
				for _, end := range ends {
					require.NoError(t, w.commit(end))
				}
				first = w.sync()
				require.ErrorIs(t, first, errInjectedFault)
			}
			require.ErrorIs(t, first, ErrIO)
			assert.Contains(t, first.Error(), "fsync")
			syncs := ffs.opCountOf(fsOpSync)

			_, err = w.append(walRecordBatch, 100, nil)
			assert.Same(t, w.err(), err)
			assert.ErrorIs(t, w.sync(), errInjectedFault)
			if mode != DurabilityInterval {
				assert.ErrorIs(t, w.commit(ends[0]), errInjectedFault, "not acknowledged after the failure")
			}
			assert.ErrorIs(t, w.close(), errInjectedFault)
			syncs2 := ffs.opCountOf(fsOpSync)
			assert.Equal(t, syncs, syncs2, "a failed fsync is never retried")
			assert.Equal(t, walHeaderSize64, w.syncedOffset())
		})
	}
}

// TestWALStickyErrorFaultSweep fails the n-th write or fsync for every n in a
// small workload and checks that no commit succeeds whose bytes were not
// covered when it returned and that every call after the failure fails.
func TestWALStickyErrorFaultSweep(t *testing.T) {
	for _, kind := range []string{"write", "sync"} {
		for n := 1; n <= 14; n++ {
			for _, mode := range []Durability{DurabilitySync, DurabilityInterval} {
				ffs := newFaultFS(newMemFS())
				if kind == "write" { // half the bytes, then an error
					ffs.failNth(fsOpWrite, n-1, failOnce, faultShortWrite)
				} else {
					ffs.failNth(fsOpSync, n-1, failOnce, faultSyncError)
				}
				w, err := createWAL(ffs, "w", 1, mode, time.Hour, nil)
				if err != nil {
					require.ErrorIs(t, err, errInjectedFault)
					continue
				}
				acked := []int64{}
				failed := false
				for i := range 10 {
					end, err := w.append(walRecordBatch, int64(i+1), walPayload(int64(i), 50))
					if err == nil {
						err = w.commit(end)
					}
					if err == nil && i%3 == 2 {
						err = w.sync()
					}
					if err != nil {
						require.ErrorIs(t, err, errInjectedFault)
						failed = true
						continue
					}
					require.False(t, failed, "%s %d %s: success after a failure", kind, n, mode)
					acked = append(acked, int64(i+1))
				}
				if err := w.close(); err != nil {
					require.ErrorIs(t, err, errInjectedFault)
				}
				got, _, err := walReplayAll(ffs.inner, "w", true)
				require.NoError(t, err)
				seqs := []int64{}
				for _, r := range got {
					seqs = append(seqs, r.seq)
				}
				// Every acknowledged record is there (the mem FS loses nothing
				// written), and no record appears out of order.
				require.GreaterOrEqual(t, len(seqs), len(acked), "%s %d %s", kind, n, mode)
				assert.Equal(t, acked, seqs[:len(acked)])
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Replay policy.

// walBuild writes records of the given sizes (seqs 1..n, types cycling
// through 1..3) with a None-mode writer, calling sync after the records whose
// index is in syncAfter, and returns the file image: closed (ending with the
// final sync mark) when closeIt, else with every record written but nothing
// after the last sync covered by a sync mark.
func walBuild(t testing.TB, sizes []int, syncAfter map[int]bool, closeIt bool) []byte {
	t.Helper()
	fs := newMemFS()
	w, err := createWAL(fs, "build", 1, DurabilityNone, 0, nil)
	require.NoError(t, err)
	for i, n := range sizes {
		_, err := w.append(walRecordType(i%3+1), int64(i+1), walPayload(int64(i+1), n))
		require.NoError(t, err)
		if syncAfter[i] {
			require.NoError(t, w.sync())
		}
	}
	if closeIt {
		require.NoError(t, w.close())
	} else {
		// Write everything without a trailing mark.
		w.mu.Lock()
		w.writeLocked()
		written := w.written
		w.mu.Unlock()
		require.NoError(t, w.err())
		// The records only, without the space reserved past them (the
		// tests of a reserved tail add it themselves).
		return walReadFile(t, fs, "build")[:written]
	}
	return walReadFile(t, fs, "build")
}

func walCheckSeqs(t *testing.T, got []walRec, n int) {
	t.Helper()
	require.Len(t, got, n)
	for i, r := range got {
		require.Equal(t, int64(i+1), r.seq)
		require.Equal(t, walPayload(r.seq, len(r.data)), r.data)
	}
}

func TestWALTornTailEveryOffset(t *testing.T) {
	sizes := []int{10, 300, 0, 77, 1500}
	img := walBuild(t, sizes, map[int]bool{1: true}, false)
	offs := walDataOffsets(t, img)
	lastStart := offs[len(offs)-1]
	require.Equal(t, int64(len(img)), lastStart+walRecHeaderSize+1500)

	for cut := lastStart; cut < int64(len(img)); cut++ {
		fs := newMemFS()
		walWriteFile(t, fs, "1.wal", img[:cut])
		got, res, err := walReplayAll(fs, "1.wal", true)
		require.NoError(t, err, "cut at %d", cut)
		walCheckSeqs(t, got, len(sizes)-1)
		assert.Equal(t, lastStart, res.validEnd)
		assert.Equal(t, cut > lastStart, res.truncated, "cut %d", cut)
		assert.Equal(t, cut-lastStart, res.truncatedBytes)
		require.Equal(t, img[:lastStart], walReadFile(t, fs, "1.wal"), "file truncated to the last whole record")

		if cut%97 != 0 && cut != lastStart+1 {
			continue // the reopen scenario on a sample of cuts
		}
		// The table then starts WAL 2 and appends; WAL 1 is no longer the
		// newest and must now replay cleanly.
		w, err := createWAL(fs, "2.wal", 2, DurabilitySync, 0, nil)
		require.NoError(t, err)
		walAppendCommit(t, w, walRecordBatch, int64(len(sizes)), walPayload(int64(len(sizes)), 33))
		require.NoError(t, w.close())
		got1, res1, err := walReplayAll(fs, "1.wal", false)
		require.NoError(t, err)
		walCheckSeqs(t, got1, len(sizes)-1)
		assert.False(t, res1.truncated)
		got2, _, err := walReplayAll(fs, "2.wal", true)
		require.NoError(t, err)
		walCheckSeqs(t, append(got1, got2...), len(sizes))
		// Replaying WAL 1 as newest again changes nothing.
		got1b, res1b, err := walReplayAll(fs, "1.wal", true)
		require.NoError(t, err)
		assert.Equal(t, got1, got1b)
		assert.False(t, res1b.truncated)
	}
}

func TestWALTornTailOfSyncModeWAL(t *testing.T) {
	// A real Sync-mode file: records interleaved with sync marks. Cutting
	// anywhere after the last mark's claim is a crash artefact.
	fs := newMemFS()
	w, err := createWAL(fs, "w", 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	for i := range 6 {
		walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i+1), 100))
	}
	img := walLiveImage(t, fs, "w", w)
	require.NoError(t, w.close())
	offs := walDataOffsets(t, img)
	for cut := offs[5] + 1; cut < int64(len(img)); cut++ {
		fs := newMemFS()
		walWriteFile(t, fs, "w", img[:cut])
		got, res, err := walReplayAll(fs, "w", true)
		require.NoError(t, err)
		walCheckSeqs(t, got, 5)
		assert.True(t, res.truncated)
		assert.Equal(t, offs[5]-int64(walSyncMarkSize), res.syncedClaim, "the mark after record 5 claims it")
	}
}

func TestWALGarbledSyncedRecordIsCorruption(t *testing.T) {
	fs := newMemFS()
	w, err := createWAL(fs, "w", 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	for i := range 20 {
		walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i+1), 64))
	}
	require.NoError(t, w.close())
	img := walReadFile(t, fs, "w")
	offs := walDataOffsets(t, img)
	start, end := offs[9], offs[10]
	for _, newest := range []bool{true, false} {
		for i := start; i < end; i++ {
			b := bytes.Clone(img)
			b[i] ^= 0x40
			walWriteFile(t, fs, "bad", b)
			var n int
			_, err := replayWAL(fs, "bad", newest, nil, func(walRecordType, int64, []byte) error { n++; return nil })
			if i >= start+walRecHeaderSize+64 {
				// The byte belongs to the sync mark after record 10.
				require.Error(t, err)
				require.ErrorIs(t, err, ErrCorrupted)
				continue
			}
			walRequireCorruptAt(t, err, "bad", start)
			assert.Equal(t, 9, n, "the records before the damage, never the damaged one")
			assert.Equal(t, b, walReadFile(t, fs, "bad"), "a corrupt WAL is left untouched")
		}
	}
}

func TestWALGarbledUnsyncedTailIsTruncated(t *testing.T) {
	sizes := []int{40, 40, 40, 40, 40}
	for _, syncAfter := range []map[int]bool{nil, {1: true}} {
		img := walBuild(t, sizes, syncAfter, false)
		offs := walDataOffsets(t, img)
		for victim := 2; victim < 5; victim++ {
			b := bytes.Clone(img)
			b[offs[victim]+walRecHeaderSize+5] ^= 0xff
			fs := newMemFS()
			walWriteFile(t, fs, "w", b)
			got, res, err := walReplayAll(fs, "w", true)
			require.NoError(t, err)
			walCheckSeqs(t, got, victim)
			assert.True(t, res.truncated)
			assert.Equal(t, int64(len(b))-offs[victim], res.truncatedBytes)
			assert.Len(t, walReadFile(t, fs, "w"), int(offs[victim]))

			// The same damage in a WAL that is not the newest is corruption.
			walWriteFile(t, fs, "old", b)
			_, _, err = walReplayAll(fs, "old", false)
			walRequireCorruptAt(t, err, "old", offs[victim])
		}
	}
}

func TestWALZeroedPageInSyncedWALIsCorruption(t *testing.T) {
	fs := newMemFS()
	w, err := createWAL(fs, "w", 1, DurabilitySync, 0, nil)
	require.NoError(t, err)
	for i := range 100 {
		walAppendCommit(t, w, walRecordBatch, int64(i+1), walPayload(int64(i+1), 256))
	}
	require.NoError(t, w.close())
	img := walReadFile(t, fs, "w")
	offs, _ := walOffsets(t, img)
	for _, page := range []int64{0, 4096, 8192, 16384} {
		b := bytes.Clone(img)
		clear(b[page : page+4096])
		walWriteFile(t, fs, "z", b)
		_, _, err := walReplayAll(fs, "z", true)
		if page == 0 {
			walRequireCorruptAt(t, err, "z", 0) // the header is gone
			continue
		}
		// The damage is reported at the record that holds the page's first byte.
		i := sort.Search(len(offs), func(i int) bool { return offs[i] > page }) - 1
		walRequireCorruptAt(t, err, "z", offs[i])
	}
}

func TestWALNonNewestDamageIsCorruption(t *testing.T) {
	img := walBuild(t, []int{30, 30, 30}, nil, false)
	fs := newMemFS()
	// A torn tail in an old WAL.
	walWriteFile(t, fs, "old", img[:len(img)-3])
	_, _, err := walReplayAll(fs, "old", false)
	offs := walDataOffsets(t, img)
	walRequireCorruptAt(t, err, "old", offs[2])
	// Appended garbage.
	walWriteFile(t, fs, "old", append(bytes.Clone(img), 1, 2, 3))
	_, _, err = walReplayAll(fs, "old", false)
	walRequireCorruptAt(t, err, "old", int64(len(img)))
	// A zero-length or header-less old WAL.
	walWriteFile(t, fs, "old", nil)
	_, _, err = walReplayAll(fs, "old", false)
	walRequireCorruptAt(t, err, "old", 0)
}

func TestWALHeaderDamage(t *testing.T) {
	img := walBuild(t, []int{10, 10}, nil, true)
	fs := newMemFS()
	for i := range walHeaderSize {
		for _, newest := range []bool{true, false} {
			b := bytes.Clone(img)
			b[i] ^= 0x10
			walWriteFile(t, fs, "h", b)
			_, _, err := walReplayAll(fs, "h", newest)
			walRequireCorruptAt(t, err, "h", 0)
		}
	}
	// A valid checksum over an unknown version is refused too.
	b := bytes.Clone(img)
	binary.LittleEndian.PutUint32(b[walHeaderVersionOff:], 2)
	binary.LittleEndian.PutUint32(b[walHeaderCRCOff:], walCRC(b[:walHeaderCRCOff]))
	walWriteFile(t, fs, "h", b)
	_, _, err := walReplayAll(fs, "h", true)
	walRequireCorruptAt(t, err, "h", 0)
	assert.Contains(t, err.Error(), "version")
	// A zeroed header with records after it is corruption, not "missing".
	b = bytes.Clone(img)
	clear(b[:walHeaderSize])
	walWriteFile(t, fs, "h", b)
	_, _, err = walReplayAll(fs, "h", true)
	walRequireCorruptAt(t, err, "h", 0)
}

// TestWALZeroedBeyondHeaderIsCorruption: createWAL fsyncs the header before
// anything else is written, so a newest WAL longer than a header that reads
// as all zeros lost synced bytes (a zeroed page). Taking it for a crash
// inside createWAL silently dropped every acknowledged record in it (found by
// the corruption matrix); it is ErrCorrupted.
func TestWALZeroedBeyondHeaderIsCorruption(t *testing.T) {
	for _, n := range []int{walHeaderSize + 1, 3126, 4096, 9000} {
		fs := newMemFS()
		walWriteFile(t, fs, "w", make([]byte, n))
		_, _, err := walReplayAll(fs, "w", true)
		walRequireCorruptAt(t, err, "w", 0)
		require.Len(t, walReadFile(t, fs, "w"), n, "a corrupt WAL is not truncated")
	}
}

func TestWALHeaderMissingInNewest(t *testing.T) {
	img := walBuild(t, nil, nil, false)
	require.Len(t, img, walHeaderSize)
	cases := map[string][]byte{
		"empty":    {},
		"short":    img[:walHeaderSize-1],
		"one byte": img[:1],
		"zero hdr": make([]byte, walHeaderSize),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			fs := newMemFS()
			walWriteFile(t, fs, "w", b)
			got, res, err := walReplayAll(fs, "w", true)
			require.NoError(t, err)
			assert.Empty(t, got)
			assert.True(t, res.headerMissing)
			assert.Equal(t, len(b) > 0, res.truncated)
			assert.Equal(t, int64(len(b)), res.truncatedBytes)
			assert.Empty(t, walReadFile(t, fs, "w"))

			walWriteFile(t, fs, "old", b)
			_, _, err = walReplayAll(fs, "old", false)
			walRequireCorruptAt(t, err, "old", 0)
		})
	}
}

// TestWALSyncMarkSalt shows why sync marks carry the header's salt: bytes in
// a user payload that look like a sync mark must not turn a torn tail into
// "corruption" (which would stop the database from opening), while a real
// mark must.
func TestWALSyncMarkSalt(t *testing.T) {
	fs := newMemFS()
	w, err := createWAL(fs, "w", 1, DurabilityNone, 0, nil)
	require.NoError(t, err)
	salt := w.salt
	_, err = w.append(walRecordBatch, 1, []byte("first"))
	require.NoError(t, err)
	_, err = w.append(walRecordBatch, 2, []byte("second"))
	require.NoError(t, err)
	claim := walHeaderSize64 + walRecHeaderSize + 5 + walRecHeaderSize // inside record 2
	forged := appendWALSyncMark(nil, salt^1, claim)
	real := appendWALSyncMark(nil, salt, claim)
	payload := append(append(bytes.Repeat([]byte{'x'}, 100), forged...), real...)
	_, err = w.append(walRecordBatch, 3, payload)
	require.NoError(t, err)
	w.mu.Lock()
	w.writeLocked()
	w.mu.Unlock()
	img := walLiveImage(t, fs, "w", w)
	offs := walDataOffsets(t, img)
	realAt := int64(bytes.LastIndex(img, []byte(walSyncMagic))) - walRecHeaderSize

	// Damage in record 2, a mark-looking payload with the wrong salt after it.
	b := bytes.Clone(img)
	b[offs[1]+walRecHeaderSize] ^= 1
	b2 := bytes.Clone(b)
	copy(b2[realAt:], make([]byte, walSyncMarkSize)) // remove the genuine-salt mark
	walWriteFile(t, fs, "forged", b2)
	got, res, err := walReplayAll(fs, "forged", true)
	require.NoError(t, err)
	assert.Len(t, got, 1)
	assert.True(t, res.truncated)

	// With the file's own salt the mark is believed: damage before its claim.
	walWriteFile(t, fs, "real", b)
	_, _, err = walReplayAll(fs, "real", true)
	walRequireCorruptAt(t, err, "real", offs[1])
	assert.Contains(t, err.Error(), fmt.Sprintf("sync mark at offset %d", realAt))
}

func TestWALReplayCallbackError(t *testing.T) {
	img := walBuild(t, []int{5, 5, 5}, nil, true)
	offs := walDataOffsets(t, img)
	fs := newMemFS()
	walWriteFile(t, fs, "w", img)
	n := 0
	_, err := replayWAL(fs, "w", false, nil, func(walRecordType, int64, []byte) error {
		n++
		if n == 2 {
			return newError(CodeCorrupted, "bad payload")
		}
		return nil
	})
	walRequireCorruptAt(t, err, "w", offs[1])
	assert.Contains(t, err.Error(), "bad payload")

	plain := errors.New("stop")
	_, err = replayWAL(fs, "w", false, nil, func(walRecordType, int64, []byte) error { return plain })
	assert.Same(t, plain, err)
}

func TestWALReaderLengthChecks(t *testing.T) {
	img := walBuild(t, []int{8}, nil, false)
	set := func(mut func(b []byte)) []byte {
		b := bytes.Clone(img)
		mut(b[walHeaderSize:])
		// Re-checksum so that only the length check can catch it.
		binary.LittleEndian.PutUint32(b[walHeaderSize:], walCRC(b[walHeaderSize+4:]))
		return b
	}
	cases := map[string][]byte{
		"data over limit": set(func(r []byte) {
			binary.LittleEndian.PutUint32(r[walRecDataLenOff:], maxWALRecord+1)
			binary.LittleEndian.PutUint32(r[walRecLengthOff:], walRecLengthBase+maxWALRecord+1)
		}),
		"length disagrees": set(func(r []byte) { binary.LittleEndian.PutUint32(r[walRecLengthOff:], 13+7) }),
		"length huge":      set(func(r []byte) { binary.LittleEndian.PutUint32(r[walRecLengthOff:], math.MaxUint32) }),
		"past the end": set(func(r []byte) {
			binary.LittleEndian.PutUint32(r[walRecLengthOff:], 13+100)
			binary.LittleEndian.PutUint32(r[walRecDataLenOff:], 100)
		}),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			fs := newMemFS()
			walWriteFile(t, fs, "w", b)
			_, _, err := walReplayAll(fs, "w", false)
			walRequireCorruptAt(t, err, "w", walHeaderSize64)
			got, res, err := walReplayAll(fs, "w", true)
			require.NoError(t, err)
			assert.Empty(t, got)
			assert.True(t, res.truncated)
		})
	}
}

// TestWALReplayLogsTruncation checks that the truncation is logged with the
// file, offset and dropped bytes.
func TestWALReplayLogsTruncation(t *testing.T) {
	img := walBuild(t, []int{10, 10}, nil, false)
	fs := newMemFS()
	walWriteFile(t, fs, "w", img[:len(img)-4])
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	_, err := replayWAL(fs, "w", true, logger, func(walRecordType, int64, []byte) error { return nil })
	require.NoError(t, err)
	out := logBuf.String()
	offs := walDataOffsets(t, img)
	assert.Contains(t, out, "file=w")
	assert.Contains(t, out, fmt.Sprintf("offset=%d", offs[1]))
	assert.Contains(t, out, fmt.Sprintf("dropped_bytes=%d", int64(len(img)-4)-offs[1]))
	assert.True(t, strings.Contains(out, "level=WARN"))
}

// TestWALReplayNewestFsyncs checks that a clean replay of the newest WAL
// fsyncs it (its records must be durable before a newer WAL follows it) and
// that an older WAL is only read.
func TestWALReplayNewestFsyncs(t *testing.T) {
	img := walBuild(t, []int{10, 10}, nil, false)
	ffs := newFaultFS(newMemFS())
	walWriteFile(t, ffs.inner, "w", img)
	_, _, err := walReplayAll(ffs, "w", false)
	require.NoError(t, err)
	writes, syncs := ffs.opCountOf(fsOpWrite), ffs.opCountOf(fsOpSync)
	assert.Zero(t, writes)
	assert.Zero(t, syncs)
	_, res, err := walReplayAll(ffs, "w", true)
	require.NoError(t, err)
	assert.False(t, res.truncated)
	syncs = ffs.opCountOf(fsOpSync)
	assert.Equal(t, 1, syncs)

	// A failing fsync during replay is reported as an I/O error.
	ffs.failNth(fsOpSync, 1, failOnce, faultSyncError)
	_, _, err = walReplayAll(ffs, "w", true)
	assert.ErrorIs(t, err, ErrIO)
	assert.ErrorIs(t, err, errInjectedFault)
}

// walImage builds a WAL image by hand: a header with the given salt followed
// by the given encoded records.
func walImage(salt uint64, recs ...[]byte) []byte {
	b := appendWALHeader(nil, walHeader{version: walFormatVersion, logNum: 1, salt: salt})
	for _, r := range recs {
		b = append(b, r...)
	}
	return b
}

func TestWALSyncMarkClaimChecks(t *testing.T) {
	const salt = 77
	r1 := appendWALRecord(nil, walRecordBatch, 1, []byte("one"))
	r2 := appendWALRecord(nil, walRecordBatch, 2, []byte("two"))
	r3 := appendWALRecord(nil, walRecordBatch, 3, []byte("three"))
	markAt := walHeaderSize64 + int64(len(r1)+len(r2))
	fs := newMemFS()

	// In order, a mark claiming more than the bytes before it is damage.
	img := walImage(salt, r1, r2, appendWALSyncMark(nil, salt, markAt+1), r3)
	walWriteFile(t, fs, "w", img)
	_, _, err := walReplayAll(fs, "w", false)
	walRequireCorruptAt(t, err, "w", markAt)
	got, res, err := walReplayAll(fs, "w", true)
	require.NoError(t, err)
	walCheckSeqList(t, got, 1, 2)
	assert.True(t, res.truncated)
	// So is one claiming less than the header.
	walWriteFile(t, fs, "w", walImage(salt, r1, r2, appendWALSyncMark(nil, salt, 3), r3))
	_, _, err = walReplayAll(fs, "w", false)
	walRequireCorruptAt(t, err, "w", markAt)
	// A well-formed one is skipped silently and recorded.
	walWriteFile(t, fs, "w", walImage(salt, r1, r2, appendWALSyncMark(nil, salt, markAt), r3))
	got, res, err = walReplayAll(fs, "w", false)
	require.NoError(t, err)
	walCheckSeqList(t, got, 1, 2, 3)
	assert.Equal(t, markAt, res.syncedClaim)

	// After damage, a mark claiming beyond its own offset proves nothing:
	// the tail is truncated, not reported as corruption.
	bad := bytes.Clone(r2)
	bad[len(bad)-1] ^= 1
	r1At := walHeaderSize64
	walWriteFile(t, fs, "w", walImage(salt, r1, bad, r3, appendWALSyncMark(nil, salt, 1<<20)))
	got, res, err = walReplayAll(fs, "w", true)
	require.NoError(t, err)
	walCheckSeqList(t, got, 1)
	assert.Equal(t, r1At+int64(len(r1)), res.validEnd)
	// So does one whose own checksum fails.
	tailMark := walHeaderSize64 + int64(len(r1)+len(bad)+len(r3))
	rotten := appendWALSyncMark(nil, salt, tailMark)
	rotten[0] ^= 1
	walWriteFile(t, fs, "w", walImage(salt, r1, bad, r3, rotten))
	got, _, err = walReplayAll(fs, "w", true)
	require.NoError(t, err)
	walCheckSeqList(t, got, 1)
	// A proper one makes it corruption.
	walWriteFile(t, fs, "w", walImage(salt, r1, bad, r3, appendWALSyncMark(nil, salt, tailMark)))
	_, _, err = walReplayAll(fs, "w", true)
	walRequireCorruptAt(t, err, "w", r1At+int64(len(r1)))
}

// TestWALSyncMarkAcrossReadWindows puts the magic of the only sync mark
// proving the damage across the boundary of the reader's 1 MiB windows.
func TestWALSyncMarkAcrossReadWindows(t *testing.T) {
	const salt = 5
	r1 := appendWALRecord(nil, walRecordBatch, 1, []byte("one"))
	bad := appendWALRecord(nil, walRecordBatch, 2, []byte("two"))
	bad[len(bad)-1] ^= 1
	x := walHeaderSize64 + int64(len(r1)) // damage offset: the scan starts here
	for _, straddle := range []int{1, 4, 7} {
		// The magic starts straddle bytes before the end of the first window.
		magicAt := x + walReadWindow - int64(straddle)
		fillerData := int(magicAt-walRecHeaderSize-x-int64(len(bad))) - walRecHeaderSize
		filler := appendWALRecord(nil, walRecordBatch, 3, make([]byte, fillerData))
		markAt := x + int64(len(bad)+len(filler))
		require.Equal(t, magicAt, markAt+walRecHeaderSize)
		img := walImage(salt, r1, bad, filler, appendWALSyncMark(nil, salt, markAt))
		fs := newMemFS()
		walWriteFile(t, fs, "w", img)
		_, _, err := walReplayAll(fs, "w", true)
		walRequireCorruptAt(t, err, "w", x)
	}
}

func walCheckSeqList(t *testing.T, got []walRec, seqs ...int64) {
	t.Helper()
	var have []int64
	for _, r := range got {
		have = append(have, r.seq)
	}
	require.Equal(t, seqs, have)
}
