package srdb

// The MANIFEST and CURRENT files of a table's version set: the file layout,
// reading CURRENT, replaying a MANIFEST (with the torn-tail rule), appending
// records, creating a new MANIFEST and rolling over to it. The version set
// that drives them is version_set.go; the edit encoding is version_edit.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"strings"
)

// MANIFEST file layout. Frozen: these sizes and values are on disk.
//
//	+----------------------+----------------------+----------------------+
//	| magic "SRDBMANI" (8) | version u32 LE (4)   | crc u32 LE (4)       |  header, 16 bytes:
//	+----------------------+----------------------+----------------------+  crc = CRC32-C(bytes 0..11)
//	| record 0: snapshot edit (comparator, counters, every file, every property)
//	| record 1: delta edit
//	| …
//
//	record := crc u32 LE (4) | length u32 LE (4) | edit [length]   (edit: see versionEdit.encode)
//	          crc = CRC32-C(length field ‖ edit)
//
// A MANIFEST is only ever appended to, one record per logAndApply, each
// fsynced before the new version is installed. CURRENT holds the name of
// the live MANIFEST followed by "\n" and nothing else.
const (
	manifestMagic        = "SRDBMANI"
	manifestFormat       = uint32(1) // the only version this code reads and writes
	manifestMagicLen     = 8         // len(manifestMagic)
	manifestVersionOff   = manifestMagicLen
	manifestHeaderCRCOff = manifestVersionOff + 4
	manifestHeaderSize   = manifestHeaderCRCOff + 4

	recordCRCOff     = 0
	recordLenOff     = recordCRCOff + 4
	recordHeaderSize = recordLenOff + 4

	// maxManifestRecord bounds one edit record (a snapshot of ~500k files).
	// A length above it is corruption; logAndApply refuses to write one.
	maxManifestRecord = 32 << 20
	// manifestTailScanBudget bounds the bytes checksummed while deciding
	// whether a bad record is a torn tail or corruption (see classifyTail).
	manifestTailScanBudget = 256 << 20
	// maxCurrentSize bounds the CURRENT file ("MANIFEST-" + digits + "\n").
	maxCurrentSize = 64

	// defaultMaxManifestSize is the MANIFEST size beyond which logAndApply
	// rolls over to a new MANIFEST holding a snapshot.
	defaultMaxManifestSize = 4 << 20
)

// Kill points of MANIFEST updates (see killPoint). writeFileAtomic adds
// "current.after_tmp_sync" and "current.after_rename" when CURRENT changes.
const (
	kpManifestBeforeAppend = "manifest.before_append"
	kpManifestAfterAppend  = "manifest.after_append"
	kpManifestAfterSync    = "manifest.after_sync"
	kpManifestAfterNewFile = "manifest.after_new_file"
	kpManifestAfterCurrent = "manifest.after_current"
	currentKillPrefix      = "current"
)

// readCurrent returns the MANIFEST number CURRENT names.
func readCurrent(fs FS, dir string) (uint64, error) {
	path := makeFilepath(dir, fileTypeCurrent, 0)
	f, err := fs.Open(path)
	if errors.Is(err, iofs.ErrNotExist) {
		names, lerr := fs.List(dir)
		if lerr != nil {
			return 0, ioError("list", dir, lerr)
		}
		for _, name := range names {
			if typ, _, ok := parseFilename(name); ok && typ == fileTypeManifest {
				return 0, corruptionError(currentName, -1, "missing while %s exists", name)
			}
		}
		return 0, newError(CodeNotFound, "%s holds no CURRENT and no MANIFEST: not a table", dir)
	}
	if err != nil {
		return 0, ioError("open", currentName, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCurrentSize+1))
	if err != nil {
		return 0, ioError("read", currentName, err)
	}
	if len(data) > maxCurrentSize {
		return 0, corruptionError(currentName, maxCurrentSize, "longer than %d bytes", maxCurrentSize)
	}
	name, ok := strings.CutSuffix(string(data), "\n")
	if !ok {
		return 0, corruptionError(currentName, int64(len(data)), "%q does not end in a newline", data)
	}
	typ, num, ok := parseFilename(name)
	if !ok || typ != fileTypeManifest {
		return 0, corruptionError(currentName, 0, "%q does not name a MANIFEST", name)
	}
	return num, nil
}

// manifestReplay is the outcome of reading a MANIFEST.
type manifestReplay struct {
	v            *version // built, not installed
	maxFileNum   uint64   // largest file number the version names
	logNum       uint64
	nextFileNum  uint64
	lastSeq      int64
	liveRows     int64
	records      int   // good records
	goodLen      int64 // end of the last good record
	fileSize     int64 // size of the file; > goodLen after a torn tail
	snapshotSize int64 // bytes of record 0
}

// replayManifest reads MANIFEST-num of vs.dir.
func (vs *versionSet) replayManifest(num uint64) (*manifestReplay, error) {
	name := makeFilename(fileTypeManifest, num)
	f, err := vs.fs.Open(makeFilepath(vs.dir, fileTypeManifest, num))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, corruptionError(currentName, 0, "names %s, which does not exist", name)
	}
	if err != nil {
		return nil, ioError("open", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, ioError("stat", name, err)
	}
	return replayManifestFrom(f, fi.Size(), name)
}

// replayManifestFrom replays the MANIFEST bytes of r (size bytes, called
// name in errors) into a version. See recoverVersionSet for the policy on
// bad records; it never allocates more than maxManifestRecord (plus a
// record header) at a time.
func replayManifestFrom(r io.ReaderAt, size int64, name string) (*manifestReplay, error) {
	if size < manifestHeaderSize {
		return nil, corruptionError(name, 0, "%d bytes is shorter than the %d-byte header", size, manifestHeaderSize)
	}
	var hdr [manifestHeaderSize]byte
	if err := readFullAt(r, hdr[:], 0); err != nil {
		return nil, ioError("read", name, err)
	}
	if string(hdr[:manifestMagicLen]) != manifestMagic {
		return nil, corruptionError(name, 0, "bad magic %q", hdr[:manifestMagicLen])
	}
	if got, want := binary.LittleEndian.Uint32(hdr[manifestHeaderCRCOff:]),
		checksum(hdr[:manifestHeaderCRCOff]); got != want {
		return nil, corruptionError(name, manifestHeaderCRCOff, "header checksum %#08x, want %#08x", got, want)
	}
	if v := binary.LittleEndian.Uint32(hdr[manifestVersionOff:]); v != manifestFormat {
		return nil, corruptionError(name, manifestVersionOff, "unknown format version %d", v)
	}

	res := &manifestReplay{fileSize: size}
	b := newVersionBuilder(nil)
	off := int64(manifestHeaderSize)
	for off < size {
		payload, reason, err := readManifestRecord(r, off, size, name)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			if res.records == 0 {
				return nil, corruptionError(name, off, "no complete snapshot record: %s", reason)
			}
			torn, why, err := classifyTail(r, off, size, name)
			if err != nil {
				return nil, err
			}
			if !torn {
				return nil, corruptionError(name, off, "%s (%s)", reason, why)
			}
			break // a torn tail: the record was never acknowledged
		}
		e, err := decodeVersionEditAt(payload, name, off+recordHeaderSize)
		if err != nil {
			return nil, err
		}
		if res.records == 0 {
			if e.comparator == "" || !e.hasLogNum || !e.hasNextFileNum || !e.hasLastSeq {
				return nil, corruptionError(name, off, "first record is not a snapshot")
			}
		}
		if e.comparator != "" && e.comparator != versionComparator {
			return nil, corruptionError(name, off, "comparator %q, want %q", e.comparator, versionComparator)
		}
		if e.hasLogNum {
			res.logNum = e.logNum
		}
		if e.hasNextFileNum {
			res.nextFileNum = e.nextFileNum
		}
		if e.hasLastSeq {
			res.lastSeq = max(res.lastSeq, e.lastSeq)
		}
		if e.hasLiveRows {
			res.liveRows = e.liveRows
		}
		if err := b.apply(e); err != nil {
			return nil, corruptionError(name, off, "record does not apply: %v", err)
		}
		recLen := int64(recordHeaderSize + len(payload))
		if res.records == 0 {
			res.snapshotSize = recLen
		}
		res.records++
		off += recLen
		res.goodLen = off
	}
	if res.records == 0 {
		return nil, corruptionError(name, manifestHeaderSize, "no records")
	}
	v, err := b.build()
	if err != nil {
		return nil, corruptionError(name, -1, "version: %v", err)
	}
	res.v = v
	res.maxFileNum = b.maxFileNum()
	return res, nil
}

// readManifestRecord reads the record at off. A record that is incomplete,
// too long or fails its checksum is returned as a non-empty reason (the
// caller decides between torn tail and corruption); err is for I/O errors.
func readManifestRecord(r io.ReaderAt, off, size int64, name string) (payload []byte, reason string, err error) {
	if size-off < recordHeaderSize {
		return nil, fmt.Sprintf("record header cut short: %d bytes left", size-off), nil
	}
	var hdr [recordHeaderSize]byte
	if err := readFullAt(r, hdr[:], off); err != nil {
		return nil, "", ioError("read", name, err)
	}
	n := binary.LittleEndian.Uint32(hdr[recordLenOff:])
	if n > maxManifestRecord {
		return nil, fmt.Sprintf("record length %d exceeds %d", n, maxManifestRecord), nil
	}
	if int64(n) > size-off-recordHeaderSize {
		return nil, fmt.Sprintf("record length %d overruns the file", n), nil
	}
	payload = make([]byte, n)
	if err := readFullAt(r, payload, off+recordHeaderSize); err != nil {
		return nil, "", ioError("read", name, err)
	}
	if got, want := binary.LittleEndian.Uint32(hdr[recordCRCOff:]), recordCRC(hdr[recordLenOff:], payload); got != want {
		return nil, fmt.Sprintf("record checksum %#08x, want %#08x", got, want), nil
	}
	return payload, "", nil
}

// readFullAt fills p from r at off. io.ReaderAt may report io.EOF along
// with a complete read that ends at the end of the input (and does so for an
// empty p at the end); that is not an error here.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// recordCRC is the CRC32-C of a record's length field followed by its edit.
func recordCRC(lenField, payload []byte) uint32 {
	return crc32.Update(checksum(lenField), crcTable, payload)
}

// classifyTail decides whether the bad record at off is a torn tail or
// corruption. Every append is fsynced before the next starts and recovery
// truncates a torn tail before appending again, so a crash can leave at most
// one bad record, and nothing valid after it. The tail is torn when it is no
// longer than one record and no valid record (matching checksum) starts at
// any later byte. When that cannot be shown within manifestTailScanBudget
// checksummed bytes, it is treated as corruption (the safe answer).
func classifyTail(r io.ReaderAt, off, size int64, name string) (torn bool, why string, err error) {
	tailLen := size - off
	if tailLen > recordHeaderSize+maxManifestRecord {
		return false, fmt.Sprintf("%d bytes follow, more than one record", tailLen), nil
	}
	tail := make([]byte, tailLen)
	if err := readFullAt(r, tail, off); err != nil {
		return false, "", ioError("read", name, err)
	}
	budget := int64(manifestTailScanBudget)
	for p := 1; p+recordHeaderSize <= len(tail); p++ {
		n := binary.LittleEndian.Uint32(tail[p+recordLenOff:])
		if n > maxManifestRecord || int64(n) > int64(len(tail)-p-recordHeaderSize) {
			continue
		}
		if budget -= int64(n) + 4; budget < 0 {
			return false, "too much data after it to tell a torn tail from corruption", nil
		}
		end := p + recordHeaderSize + int(n)
		if binary.LittleEndian.Uint32(tail[p+recordCRCOff:]) == recordCRC(tail[p+recordLenOff:p+recordHeaderSize], tail[p+recordHeaderSize:end]) {
			return false, fmt.Sprintf("a valid record follows at offset %d", off+int64(p)), nil
		}
	}
	return true, "", nil
}

// openManifestForAppend opens the replayed MANIFEST for appending after its
// last good record, truncating a torn tail first.
func (vs *versionSet) openManifestForAppend(num uint64, r *manifestReplay) (File, error) {
	name := makeFilename(fileTypeManifest, num)
	f, err := vs.fs.OpenReadWrite(makeFilepath(vs.dir, fileTypeManifest, num))
	if err != nil {
		return nil, ioError("open", name, err)
	}
	if r.fileSize > r.goodLen {
		vs.opts.logger.Warn("manifest: dropping torn last record (never acknowledged)",
			"dir", vs.dir, "file", name, "offset", r.goodLen, "bytes", r.fileSize-r.goodLen)
		if err := f.Truncate(r.goodLen); err != nil {
			f.Close()
			return nil, ioError("truncate", name, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, ioError("fsync", name, err)
		}
	}
	// Position the write offset at the end of the last good record. The FS
	// interface has no Seek; use it when the file offers one, else read up
	// to that point.
	if s, ok := f.(io.Seeker); ok {
		_, err = s.Seek(r.goodLen, io.SeekStart)
	} else {
		_, err = io.CopyN(io.Discard, f, r.goodLen)
	}
	if err != nil {
		f.Close()
		return nil, ioError("seek", name, err)
	}
	return f, nil
}

// appendManifestRecord appends the record framing payload (layout above).
func appendManifestRecord(dst, payload []byte) []byte {
	var hdr [recordHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[recordLenOff:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[recordCRCOff:], recordCRC(hdr[recordLenOff:], payload))
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}

// appendManifestHeader appends the 16-byte MANIFEST header.
func appendManifestHeader(dst []byte) []byte {
	var hdr [manifestHeaderSize]byte
	copy(hdr[:], manifestMagic)
	binary.LittleEndian.PutUint32(hdr[manifestVersionOff:], manifestFormat)
	binary.LittleEndian.PutUint32(hdr[manifestHeaderCRCOff:], checksum(hdr[:manifestHeaderCRCOff]))
	return append(dst, hdr[:]...)
}

// snapshot returns the edit describing v in full, with the counters of c
// (an edit whose counters are all set): the first record of every MANIFEST.
func (vs *versionSet) snapshot(v *version, c *versionEdit) *versionEdit {
	e := &versionEdit{comparator: versionComparator}
	e.setLogNum(c.logNum)
	e.setNextFileNum(c.nextFileNum)
	e.setLastSeq(c.lastSeq)
	e.setLiveRows(c.liveRows)
	for l := range v.levels {
		for _, f := range v.levels[l] {
			e.addFile(l, f)
		}
	}
	for k, val := range v.props {
		e.setProperty(k, val)
	}
	e.addedDels = v.dels
	return e
}

// createManifest writes MANIFEST-num holding the header and the snapshot
// record, fsyncs it and the directory (so that the name exists before
// CURRENT can point at it), and returns it open for appending with its size.
// On failure it removes the file.
func (vs *versionSet) createManifest(num uint64, snap []byte) (File, int64, error) {
	name := makeFilename(fileTypeManifest, num)
	f, err := vs.fs.Create(makeFilepath(vs.dir, fileTypeManifest, num))
	if err != nil {
		return nil, 0, ioError("create", name, err)
	}
	buf := appendManifestRecord(appendManifestHeader(nil), snap)
	if err := vs.writeSynced(f, name, buf); err != nil {
		f.Close()
		vs.removeQuietly(name)
		return nil, 0, err
	}
	if err := vs.fs.SyncDir(vs.dir); err != nil {
		f.Close()
		vs.removeQuietly(name)
		return nil, 0, ioError("fsync dir", vs.dir, err)
	}
	return f, int64(len(buf)), nil
}

// writeSynced writes buf to the MANIFEST f and fsyncs it, passing the
// append kill points.
func (vs *versionSet) writeSynced(f File, name string, buf []byte) error {
	if err := killPoint(kpManifestBeforeAppend); err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		return ioError("write", name, err)
	}
	if err := killPoint(kpManifestAfterAppend); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return ioError("fsync", name, err)
	}
	return killPoint(kpManifestAfterSync)
}

// setCurrent points CURRENT at MANIFEST-num durably.
func (vs *versionSet) setCurrent(num uint64) error {
	data := []byte(makeFilename(fileTypeManifest, num) + "\n")
	return writeFileAtomic(vs.fs, vs.dir, currentName, data, currentKillPrefix)
}

// rollOverDueLocked reports whether the next edit should start a new
// MANIFEST: the file reached maxManifestSize and its deltas are at least as
// large as its snapshot (so a huge snapshot is not rewritten on every edit).
func (vs *versionSet) rollOverDueLocked() bool {
	deltas := vs.manifestSize - manifestHeaderSize - vs.snapshotSize
	return vs.manifestSize >= vs.opts.maxManifestSize && deltas >= vs.snapshotSize
}

// rollOverLocked switches to a new MANIFEST-num whose first record is snap:
// write and fsync it (and the directory), point CURRENT at it, then close
// and remove the old MANIFEST — only after CURRENT is durable.
func (vs *versionSet) rollOverLocked(num uint64, snap []byte) error {
	name := makeFilename(fileTypeManifest, num)
	f, size, err := vs.createManifest(num, snap)
	if err != nil {
		return err
	}
	if err := killPoint(kpManifestAfterNewFile); err != nil {
		f.Close()
		vs.removeQuietly(name)
		return err
	}
	if err := vs.setCurrent(num); err != nil {
		// CURRENT may or may not name the new file now: keep both.
		f.Close()
		return err
	}
	old, oldNum := vs.manifest, vs.manifestNum
	vs.manifest, vs.manifestNum, vs.manifestSize = f, num, size
	vs.snapshotSize = size - manifestHeaderSize
	if err := old.Close(); err != nil {
		vs.opts.logger.Warn("manifest: closing the old MANIFEST failed", "dir", vs.dir,
			"file", makeFilename(fileTypeManifest, oldNum), "err", err)
	}
	if err := killPoint(kpManifestAfterCurrent); err != nil {
		return err
	}
	vs.removeQuietly(makeFilename(fileTypeManifest, oldNum))
	vs.opts.logger.Info("manifest: rolled over", "dir", vs.dir, "from", makeFilename(fileTypeManifest, oldNum), "to", name)
	return nil
}
