package srdb

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
)

// walReadWindow is how many bytes replay reads from the file at a time.
const walReadWindow = 1 << 20

// walReplayResult reports what replayWAL found.
type walReplayResult struct {
	logNum  uint64 // log number from the header (0 when headerMissing)
	records int    // records passed to the callback
	lastSeq int64  // seq of the last record passed to the callback (0 if none)
	// validEnd is the offset just past the last valid record (or the header):
	// the size of the file after replay.
	validEnd int64
	// syncedClaim is the largest offset claimed by a valid sync mark read in
	// order (walHeaderSize if none): every byte before it was fsynced.
	syncedClaim int64
	// truncated is set when a torn or garbled tail of the newest WAL was cut
	// off; truncatedBytes is how many bytes were dropped.
	truncated      bool
	truncatedBytes int64
	// headerMissing is set for a newest WAL whose header never reached disk
	// (shorter than a header, or a header's worth of zero bytes): the crash happened inside
	// createWAL, before any record could be acknowledged. The file was
	// truncated to 0 bytes; it holds no records and the caller should remove
	// it before creating the next WAL (an empty file that is not the newest
	// WAL is ErrCorrupted).
	headerMissing bool
	// stopped is set, in a read-only replay only, when replay stopped at a
	// torn or damaged record at validEnd (or found no header: then
	// headerMissing is set too) and left the file as it was.
	stopped bool
}

// replayWAL reads the WAL at path and calls fn for every record in order,
// sync marks excepted. data aliases a buffer that is valid only during the
// call. If fn returns an error replay stops and returns it (an *Error without
// a file gets this file and the record's offset).
//
// Replay stops at the first record at offset X that is torn or fails its
// length or checksum checks, and then decides:
//
//   - not the newest WAL: older WALs were fully synced when they were
//     rotated, so any damage is ErrCorrupted naming the file and X;
//   - newest WAL, and a valid sync mark after X claims an offset > X: the
//     damaged bytes had been fsynced, so this is real corruption:
//     ErrCorrupted;
//   - newest WAL otherwise: a crash artefact (a torn write, unsynced
//     blocks lost at a power cut, or the zeros of the space the writer
//     reserved ahead of its writes and did not get to cut off). It is
//     logged, the file is truncated to X and fsynced, and replay returns
//     normally with truncated set.
//
// A clean end (EOF right after a whole record) is not an error. A damaged
// record is never passed to fn. The header must be valid (else ErrCorrupted),
// except in a newest WAL shorter than a header or a header of zeros, which is
// reported as headerMissing (see walReplayResult). The newest WAL is fsynced
// before replay returns, so that the records just replayed are durable before
// the caller starts a newer WAL after it.
func replayWAL(fs FS, path string, newest bool, logger *slog.Logger,
	fn func(typ walRecordType, seq int64, data []byte) error) (res walReplayResult, err error) {
	return replayWALMode(fs, path, newest, false, logger, fn)
}

// replayWALMode is replayWAL; with readOnly set (Options.ReadOnly) it opens
// the file read-only and changes nothing: a WAL another process may be
// appending to ends at its first torn or damaged record, or lacks its
// header, as a matter of course, so replay stops there, sets stopped (and
// headerMissing) and returns normally, without truncating, fsyncing or
// checking sync marks, whether or not the WAL is the newest: the caller
// decides (readonly.go).
func replayWALMode(fs FS, path string, newest, readOnly bool, logger *slog.Logger,
	fn func(typ walRecordType, seq int64, data []byte) error) (res walReplayResult, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var f File
	if newest && !readOnly {
		f, err = fs.OpenReadWrite(path) // may need to truncate and fsync
	} else {
		f, err = fs.Open(path)
	}
	if err != nil {
		return res, ioError("open", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = ioError("close", path, cerr)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return res, ioError("stat", path, err)
	}
	r := &walFileReader{f: f, path: path, size: st.Size()}

	// The header. createWAL fsyncs the header before anything else is
	// written, so a crash inside it leaves at most a header's worth of
	// bytes: a longer file that reads as all zeros lost synced data and is
	// corruption, not a crash artefact.
	missing := r.size < walHeaderSize64
	if r.size == walHeaderSize64 {
		missing, err = r.allZero(0, r.size)
		if err != nil {
			return res, err
		}
	}
	if missing && readOnly {
		res.headerMissing, res.stopped = true, true
		return res, nil
	}
	if missing {
		if !newest {
			return res, corruptionError(path, 0, "wal header missing (file of %d bytes)", r.size)
		}
		res.headerMissing = true
		if r.size > 0 {
			logger.Warn("wal: newest log has no header (crash while creating it); truncating to empty",
				slog.String("file", path), slog.Int64("dropped_bytes", r.size))
			if err := r.truncate(0); err != nil {
				return res, err
			}
			res.truncated, res.truncatedBytes = true, r.size
		}
		return res, nil
	}
	hb, err := r.at(0, walHeaderSize)
	if err != nil {
		return res, err
	}
	hdr, problem := decodeWALHeader(hb)
	if problem != "" {
		return res, corruptionError(path, 0, "wal %s", problem)
	}
	res.logNum = hdr.logNum
	res.syncedClaim = walHeaderSize64

	// The records.
	off := walHeaderSize64
	damage := "" // why the record at off is unusable
	for off < r.size {
		rec, problem, err := r.record(off, hdr.salt)
		if err != nil {
			return res, err
		}
		if problem != "" {
			damage = problem
			break
		}
		if rec.hdr.typ == walRecordSyncMark {
			res.syncedClaim = max(res.syncedClaim, rec.synced)
		} else {
			if err := fn(rec.hdr.typ, rec.hdr.seq, rec.data); err != nil {
				return res, withWALContext(err, path, off)
			}
			res.records++
			res.lastSeq = rec.hdr.seq
		}
		off += rec.hdr.size()
	}
	res.validEnd = off

	if readOnly {
		res.stopped = damage != ""
		return res, nil
	}
	if damage != "" {
		if !newest {
			return res, corruptionError(path, off, "wal record: %s (in a WAL that is not the newest, %d bytes follow)",
				damage, r.size-off)
		}
		// A tail of zeros is the space the writer reserved ahead of its
		// writes (wal_writer.go, "Preallocation"), or blocks a power cut
		// left unwritten: the usual end of a WAL whose writer did not
		// close it, not worth a warning. It holds no sync mark, so only
		// another tail is searched for one.
		zeros, err := r.allZero(off, r.size)
		if err != nil {
			return res, err
		}
		if !zeros {
			claim, markOff, err := r.findSyncClaim(off, hdr.salt)
			if err != nil {
				return res, err
			}
			if claim > off {
				return res, corruptionError(path, off,
					"wal record: %s, but the sync mark at offset %d says every byte before offset %d was fsynced",
					damage, markOff, claim)
			}
		}
		if zeros {
			logger.Info("wal: cutting the unwritten tail of newest log (space reserved ahead of writes)",
				slog.String("file", path), slog.Int64("offset", off),
				slog.Int64("dropped_bytes", r.size-off))
		} else {
			logger.Warn("wal: truncating torn tail of newest log (crash artefact)",
				slog.String("file", path), slog.Int64("offset", off),
				slog.Int64("dropped_bytes", r.size-off), slog.String("reason", damage))
		}
		if err := r.truncate(off); err != nil {
			return res, err
		}
		res.truncated, res.truncatedBytes = true, r.size-off
		return res, nil
	}
	if newest {
		if err := f.Sync(); err != nil {
			return res, ioError("fsync", path, err)
		}
	}
	return res, nil
}

// withWALContext gives an *Error returned by the replay callback the file
// and record offset when it names no file itself.
func withWALContext(err error, path string, off int64) error {
	var e *Error
	if !errors.As(err, &e) || e.File != "" {
		return err
	}
	c := *e
	c.File, c.Offset = path, off
	return &c
}

// walFileReader reads a WAL file through a window buffer with ReadAt.
type walFileReader struct {
	f       File
	path    string
	size    int64  // file size at open
	buf     []byte // window: the bytes at file offsets [bufOff, bufOff+len(buf))
	bufOff  int64
	scratch [walSyncMarkSize]byte // for sync mark candidates, apart from the window
}

// at returns the n bytes at off, which the caller has checked to lie within
// the file. The slice is valid until the next call.
func (r *walFileReader) at(off int64, n int) ([]byte, error) {
	end := off + int64(n)
	if off >= r.bufOff && end <= r.bufOff+int64(len(r.buf)) {
		return r.buf[off-r.bufOff : end-r.bufOff], nil
	}
	want := int64(max(n, walReadWindow))
	if rem := r.size - off; want > rem {
		want = rem // >= n: the caller checked
	}
	if int64(cap(r.buf)) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	k, err := r.f.ReadAt(r.buf, off)
	if int64(k) < want {
		r.buf = r.buf[:0]
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the file shrank under us
		}
		return nil, ioError("read", r.path, err)
	}
	r.bufOff = off
	return r.buf[:n], nil
}

// walZeroWindow is a window of zeros for allZero to compare with (never
// written: its pages stay the kernel's shared zero page).
var walZeroWindow [walReadWindow]byte

// allZero reports whether every byte in [from, to) is zero.
func (r *walFileReader) allZero(from, to int64) (bool, error) {
	for off := from; off < to; {
		n := int(min(to-off, walReadWindow))
		b, err := r.at(off, n)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(b, walZeroWindow[:n]) {
			return false, nil
		}
		off += int64(n)
	}
	return true, nil
}

// walRecordView is one record read by walFileReader.record.
type walRecordView struct {
	hdr    walRecordHeader
	data   []byte // aliases the window
	synced int64  // the claimed offset, for a sync mark
}

// record reads and checks the record at off. problem is non-empty when the
// record is torn or damaged (a crash artefact or corruption, for the caller
// to decide); err is an I/O error.
func (r *walFileReader) record(off int64, salt uint64) (rec walRecordView, problem string, err error) {
	remain := r.size - off
	if remain < walRecHeaderSize {
		return rec, "torn record header", nil
	}
	b, err := r.at(off, walRecHeaderSize)
	if err != nil {
		return rec, "", err
	}
	rec.hdr = decodeWALRecordHeader(b)
	if p := rec.hdr.check(); p != "" {
		return rec, p, nil
	}
	if rec.hdr.size() > remain {
		return rec, "record extends past the end of the file", nil
	}
	b, err = r.at(off, int(rec.hdr.size()))
	if err != nil {
		return rec, "", err
	}
	if checksum(b[walRecLengthOff:]) != rec.hdr.crc {
		return rec, "checksum mismatch", nil
	}
	rec.data = b[walRecHeaderSize:]
	if rec.hdr.typ == walRecordSyncMark {
		synced, ok := decodeWALSyncMark(rec.data, salt)
		if !ok || synced < walHeaderSize64 || synced > off {
			return rec, "invalid sync mark", nil
		}
		rec.synced = synced
	}
	return rec, "", nil
}

// findSyncClaim looks in [from, size) for a valid sync mark claiming an
// offset beyond from, which proves that the damage at from had been fsynced.
// Candidates are found by their magic with bytes.Index and each is confirmed
// by its whole record checksum, the header salt and claim <= its own offset
// (so a mark starting before from could never claim beyond it). It returns
// the first such claim and the mark's offset, or claim 0 when there is none.
func (r *walFileReader) findSyncClaim(from int64, salt uint64) (claim, markOff int64, err error) {
	magic := []byte(walSyncMagic)
	for pos := from; r.size-pos >= int64(len(magic)); {
		n := int(min(r.size-pos, walReadWindow))
		b, err := r.at(pos, n)
		if err != nil {
			return 0, 0, err
		}
		// Candidates are checked through scratch, so b stays valid meanwhile.
		for i := 0; ; i++ {
			j := bytes.Index(b[i:], magic)
			if j < 0 {
				break
			}
			i += j
			start := pos + int64(i) - walRecHeaderSize
			synced, ok, err := r.syncMarkAt(start, salt)
			if err != nil {
				return 0, 0, err
			}
			if ok && synced > from {
				return synced, start, nil
			}
		}
		if pos+int64(n) >= r.size {
			break
		}
		pos += int64(n - (len(magic) - 1)) // overlap: a magic may straddle windows
	}
	return 0, 0, nil
}

// syncMarkAt reports whether a valid sync mark record starts at off, and the
// offset it claims. It reads into scratch, leaving the window alone.
func (r *walFileReader) syncMarkAt(off int64, salt uint64) (int64, bool, error) {
	if off < walHeaderSize64 || r.size-off < int64(walSyncMarkSize) {
		return 0, false, nil
	}
	b := r.scratch[:]
	if k, err := r.f.ReadAt(b, off); k < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, false, ioError("read", r.path, err)
	}
	h := decodeWALRecordHeader(b)
	if h.typ != walRecordSyncMark || h.check() != "" || h.size() != int64(walSyncMarkSize) ||
		checksum(b[walRecLengthOff:]) != h.crc {
		return 0, false, nil
	}
	synced, ok := decodeWALSyncMark(b[walRecHeaderSize:], salt)
	if !ok || synced < walHeaderSize64 || synced > off {
		return 0, false, nil
	}
	return synced, true, nil
}

// truncate cuts the file to size and fsyncs it, so that the dropped bytes
// cannot reappear after a crash and new records never follow garbage.
func (r *walFileReader) truncate(size int64) error {
	if err := r.f.Truncate(size); err != nil {
		return ioError("truncate", r.path, err)
	}
	if err := r.f.Sync(); err != nil {
		return ioError("fsync", r.path, err)
	}
	return nil
}
