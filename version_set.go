package srdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

var manifestCRCTable = crc32.MakeTable(crc32.Castagnoli)

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

// versionSetOptions configures a versionSet. The zero value is valid.
type versionSetOptions struct {
	// maxManifestSize is the size in bytes beyond which the MANIFEST rolls
	// over (default 4 MiB). Roll-over also waits until the deltas are at
	// least as large as the snapshot, so a huge snapshot does not make every
	// edit roll over.
	maxManifestSize int64
	// logger receives recovery events (default: discard).
	logger *slog.Logger
	// onObsolete is called exactly once for each file that no live version
	// contains any more, after the edit removing it is durable and after the
	// last reader pinning it let go. It is called without any lock of the
	// version set held, from whichever goroutine dropped the last pin. The
	// table cache uses it to unmap the file and remove it. May be nil.
	onObsolete func(num uint64)
	// checkRecovered, when set, is called by recoverVersionSet with the
	// directory listing, the replayed log number and the MANIFEST number,
	// after the MANIFEST checks and before recovery changes anything (such
	// as truncating a torn tail); an error fails the recovery. Tables use
	// checkLogWALs. May be nil.
	checkRecovered func(names []string, logNum, manifestNum uint64) error
}

// resolve returns o with defaults filled in.
func (o versionSetOptions) resolve() versionSetOptions {
	if o.maxManifestSize <= 0 {
		o.maxManifestSize = defaultMaxManifestSize
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// versionSet is the MANIFEST-backed history of one table's LSM tree: the
// current version, the versions readers still pin, and the table counters.
//
// # Concurrency
//
// current, newFileNum, markFileNumUsed, lastSeq, setLastSeq, logNum and
// liveFiles are safe from any goroutine and never wait for I/O.
// logAndApply calls are serialised by mu, which each holds across its
// MANIFEST append and fsync (a flush commit waits for a compaction commit;
// simple and correct, and commits are rare). Readers never take mu.
//
// # Durability
//
// logAndApply installs a new version only after its edit is fsynced; the
// files the edit drops therefore become obsolete (and are deleted by
// onObsolete) only after the edit that drops them is durable. A failed
// write, fsync or CURRENT update makes the version set fail stickily:
// every later logAndApply returns the same error and the table is
// read-only.
type versionSet struct {
	fs   FS
	dir  string
	opts versionSetOptions

	// Counters, readable without locks. nextNum is advanced by newFileNum
	// and markFileNumUsed from any goroutine; seq only grows (setLastSeq and
	// logAndApply); logNumber and rows are written only by logAndApply
	// under mu.
	nextNum   atomic.Uint64
	seq       atomic.Int64
	logNumber atomic.Uint64
	rows      atomic.Int64 // liveRows of the last edit

	// cur is the current version; the version set holds one pin on it.
	// Stored only under mu; loaded lock-free by current.
	cur atomic.Pointer[version]

	// mu serialises writers of the MANIFEST (logAndApply, close) and guards
	// the fields below. Held across the MANIFEST append and fsync. Lock
	// order: mu before refMu.
	mu           sync.Mutex
	manifest     File   // open for appending; nil after close
	manifestNum  uint64 // file number of the live MANIFEST
	manifestSize int64  // bytes of the live MANIFEST
	snapshotSize int64  // bytes of its first (snapshot) record
	closed       bool

	// failErr is the sticky error of a failed MANIFEST update. Stored once
	// under mu; loaded without it so that writers can check it cheaply.
	failErr atomic.Pointer[Error]

	// refMu guards live, removing and the refs of every fileMeta. It is held only for
	// in-memory bookkeeping, never across I/O or onObsolete.
	refMu sync.Mutex
	live  map[*version]struct{} // versions with refs > 0
	// removing counts, per file, the releaseVersion calls still running
	// onObsolete for it (see isRemoving): Check must not take such a file,
	// no longer live but not yet removed, for an orphan.
	removing map[uint64]int
}

// newVersionSet returns an empty, not yet usable version set; create and
// recover fill it in.
func newVersionSet(fs FS, dir string, opts versionSetOptions) *versionSet {
	return &versionSet{
		fs:   fs,
		dir:  dir,
		opts: opts.resolve(),
		live: make(map[*version]struct{}),
	}
}

// createVersionSet initialises the version set of a new, empty table in
// dir: it writes MANIFEST-000001 holding a snapshot of the empty version,
// then CURRENT naming it (writeFileAtomic). It refuses a directory that
// already has a CURRENT or a MANIFEST.
func createVersionSet(fs FS, dir string, opts versionSetOptions) (*versionSet, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, ioError("list", dir, err)
	}
	for _, name := range names {
		if typ, _, ok := parseFilename(name); ok && (typ == fileTypeCurrent || typ == fileTypeManifest) {
			return nil, newError(CodeInvalidArgument, "create version set in %s: %s already exists", dir, name)
		}
	}
	vs := newVersionSet(fs, dir, opts)
	vs.nextNum.Store(1)
	num := vs.newFileNum()
	v, err := newVersionBuilder(nil).build()
	if err != nil {
		return nil, newError(CodeInvalidArgument, "create version set: %v", err)
	}
	counters := &versionEdit{}
	counters.setLogNum(0)
	counters.setNextFileNum(vs.nextNum.Load())
	counters.setLastSeq(0)
	counters.setLiveRows(0)
	snap := vs.snapshot(v, counters).encode()
	f, size, err := vs.createManifest(num, snap)
	if err != nil {
		return nil, err
	}
	if err := killPoint(kpManifestAfterNewFile); err != nil {
		f.Close()
		vs.removeQuietly(makeFilename(fileTypeManifest, num))
		return nil, err
	}
	if err := vs.setCurrent(num); err != nil {
		f.Close()
		return nil, err
	}
	if err := killPoint(kpManifestAfterCurrent); err != nil {
		f.Close()
		return nil, err
	}
	vs.manifest, vs.manifestNum, vs.manifestSize = f, num, size
	vs.snapshotSize = size - manifestHeaderSize
	vs.install(v)
	return vs, nil
}

// recoverVersionSet opens the version set of an existing table: it reads
// CURRENT, replays the MANIFEST it names, and checks that every SST of the
// resulting version exists with its recorded size. A torn last record (a
// crash in the middle of an append that was never acknowledged) is dropped
// and the MANIFEST truncated before it, with a warning logged — only after
// every check passed, so a failed recovery leaves the directory untouched.
//
// Errors: ErrCorrupted naming the file (and offset) for a malformed CURRENT,
// a CURRENT missing while a MANIFEST exists, a missing MANIFEST, any
// malformed record before the last, or a missing or wrong-size SST; an
// ErrNotFound-coded error when the directory holds neither CURRENT nor a
// MANIFEST (not a table).
func recoverVersionSet(fs FS, dir string, opts versionSetOptions) (*versionSet, error) {
	vs := newVersionSet(fs, dir, opts)
	num, err := readCurrent(fs, dir)
	if err != nil {
		return nil, err
	}
	r, err := vs.replayManifest(num)
	if err != nil {
		return nil, err
	}
	for _, f := range r.v.allFiles() {
		name := makeFilename(fileTypeSST, f.num)
		fi, err := fs.Stat(makeFilepath(dir, fileTypeSST, f.num))
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, corruptionError(name, -1, "SST named by %s is missing", makeFilename(fileTypeManifest, num))
		}
		if err != nil {
			return nil, ioError("stat", name, err)
		}
		if fi.Size() < 0 || uint64(fi.Size()) != f.size {
			return nil, corruptionError(name, -1, "SST is %d bytes, %s records %d",
				fi.Size(), makeFilename(fileTypeManifest, num), f.size)
		}
	}
	// Never hand out a number a file in the directory already carries
	// (a WAL rotated after the last edit, an orphan SST not yet removed).
	names, err := fs.List(dir)
	if err != nil {
		return nil, ioError("list", dir, err)
	}
	next := max(r.nextFileNum, num+1, r.maxFileNum+1)
	for _, name := range names {
		// (A number of 2^64-1 cannot be reached by the counter; skip it
		// rather than wrap around.)
		if _, n, ok := parseFilename(name); ok && n >= next && n < math.MaxUint64 {
			next = n + 1
		}
	}
	if opts.checkRecovered != nil {
		if err := opts.checkRecovered(names, r.logNum, num); err != nil {
			return nil, err
		}
	}
	vs.nextNum.Store(next)
	vs.seq.Store(r.lastSeq)
	vs.logNumber.Store(r.logNum)
	vs.rows.Store(r.liveRows)

	f, err := vs.openManifestForAppend(num, r)
	if err != nil {
		return nil, err
	}
	vs.manifest, vs.manifestNum, vs.manifestSize = f, num, r.goodLen
	vs.snapshotSize = r.snapshotSize
	vs.install(r.v)
	return vs, nil
}

// checkLogWALs checks, given the directory listing, that the WALs the
// replayed MANIFEST (number manifestNum, log number logNum) relies on exist:
//
//   - logNum > 0: the WAL of that number was durable before the edit that
//     named it, and is deleted only after a later edit moves the log number
//     past it;
//   - logNum == 0 (never flushed): no WAL was ever deleted, so the table's
//     first WAL, which CreateTable numbers right after the first MANIFEST,
//     is still there (a rolled-over MANIFEST has a larger number).
//
// Otherwise the MANIFEST lost edits (cut back to an older state) or a WAL was
// deleted, and rows with them: ErrCorrupted, before recovery changes a byte.
func checkLogWALs(names []string, logNum, manifestNum uint64) error {
	var wals []uint64
	for _, name := range names {
		if typ, n, ok := parseFilename(name); ok && typ == fileTypeWAL && n >= logNum {
			wals = append(wals, n)
		}
	}
	if logNum > 0 && !slices.Contains(wals, logNum) {
		return corruptionError(makeFilename(fileTypeWAL, logNum), -1, "WAL named by the log number of %s is missing", makeFilename(fileTypeManifest, manifestNum))
	}
	if logNum == 0 && (len(wals) == 0 || slices.Min(wals) > manifestNum+1) {
		return corruptionError(makeFilename(fileTypeManifest, manifestNum), -1, "log number 0 (never flushed) but the table's first WAL is gone: the MANIFEST lost edits")
	}
	return nil
}

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
		crc32.Checksum(hdr[:manifestHeaderCRCOff], manifestCRCTable); got != want {
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
	return crc32.Update(crc32.Checksum(lenField, manifestCRCTable), manifestCRCTable, payload)
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
	binary.LittleEndian.PutUint32(hdr[manifestHeaderCRCOff:], crc32.Checksum(hdr[:manifestHeaderCRCOff], manifestCRCTable))
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

// removeQuietly removes a file of vs.dir, logging a failure.
func (vs *versionSet) removeQuietly(name string) {
	if err := vs.fs.Remove(filepath.Join(vs.dir, name)); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		vs.opts.logger.Warn("manifest: cannot remove file", "dir", vs.dir, "file", name, "err", err)
	}
}

// install makes v (refs 0, fresh from a builder) the current version, with
// the version set's pin. Called with mu held, or before vs is shared.
func (vs *versionSet) install(v *version) {
	v.vs = vs
	v.refs.Store(1)
	vs.refMu.Lock()
	vs.live[v] = struct{}{}
	for l := range v.levels {
		for _, f := range v.levels[l] {
			f.refs++
		}
	}
	vs.refMu.Unlock()
	vs.cur.Store(v)
}

// releaseVersion is called by the last unref of v: it drops v's hold on its
// files and reports the files that became obsolete.
func (vs *versionSet) releaseVersion(v *version) {
	var obsolete []uint64
	vs.refMu.Lock()
	delete(vs.live, v)
	for l := range v.levels {
		for _, f := range v.levels[l] {
			f.refs--
			switch {
			case f.refs == 0:
				obsolete = append(obsolete, f.num)
			case f.refs < 0 && versionInvariants:
				vs.refMu.Unlock()
				panic(fmt.Sprintf("srdb: file %d refs below zero", f.num))
			}
		}
	}
	if vs.removing == nil {
		vs.removing = make(map[uint64]int)
	}
	for _, num := range obsolete {
		vs.removing[num]++
	}
	vs.refMu.Unlock()
	if vs.opts.onObsolete != nil {
		for _, num := range obsolete {
			vs.opts.onObsolete(num)
		}
	}
	vs.refMu.Lock()
	for _, num := range obsolete {
		if vs.removing[num]--; vs.removing[num] <= 0 {
			delete(vs.removing, num)
		}
	}
	vs.refMu.Unlock()
}

// current returns the current version, pinned: the caller must unref it.
func (vs *versionSet) current() *version {
	for {
		v := vs.cur.Load()
		if v.tryRef() {
			return v
		}
		// v died between the load and the pin: a newer one is installed.
	}
}

// newFileNum hands out a new file number (for a WAL, SST or MANIFEST).
func (vs *versionSet) newFileNum() uint64 { return vs.nextNum.Add(1) - 1 }

// markFileNumUsed makes sure newFileNum never returns n or less.
func (vs *versionSet) markFileNumUsed(n uint64) {
	for {
		cur := vs.nextNum.Load()
		if cur > n || vs.nextNum.CompareAndSwap(cur, n+1) {
			return
		}
	}
}

// lastSeq returns the highest seq assigned or known.
func (vs *versionSet) lastSeq() int64 { return vs.seq.Load() }

// setLastSeq raises lastSeq to s; it never lowers it. The next logAndApply
// records it.
func (vs *versionSet) setLastSeq(s int64) {
	for {
		cur := vs.seq.Load()
		if cur >= s || vs.seq.CompareAndSwap(cur, s) {
			return
		}
	}
}

// liveRows returns the live-row count recorded by the last edit (see
// versionEdit.liveRows).
func (vs *versionSet) liveRows() int64 { return vs.rows.Load() }

// logNum returns the number of the oldest WAL still needed; WALs with a
// smaller number are obsolete.
func (vs *versionSet) logNum() uint64 { return vs.logNumber.Load() }

// manifestFileNum returns the number of the live MANIFEST.
func (vs *versionSet) manifestFileNum() uint64 {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.manifestNum
}

// err returns the sticky error of a failed MANIFEST update, or nil.
func (vs *versionSet) err() error {
	if e := vs.failErr.Load(); e != nil {
		return e
	}
	return nil
}

// logAndApply appends e to the MANIFEST, fsyncs it, and installs the
// resulting version as current; the previous current version loses the
// version set's pin afterwards (its files that no live version contains
// become obsolete once readers release them).
//
// It fills in e's counters: logNum (kept when e sets it, which must not
// lower it), nextFileNum (always the current value), lastSeq (the larger of
// e's and the version set's) and liveRows (kept when e sets it, else the
// current value). Added files must carry fresh numbers from newFileNum (a
// number once deleted is never added again); the version set copies their
// fileMeta.
//
// Errors: an edit that does not apply (deleting a file that is not there,
// overlapping L1+ files, a file number never handed out, …) is returned as
// an ErrInvalidArgument-coded error and changes nothing. A failed write,
// fsync, CURRENT update or kill point makes the set fail stickily: that
// error (coded ErrReadOnly, wrapping the cause) is returned now and by every
// later call. The outcome of a failed call is unknown (the edit may be
// durable): the caller must neither delete the files it added nor assume
// they are live; Open sorts it out. After close: ErrClosed.
func (vs *versionSet) logAndApply(e *versionEdit) error {
	vs.mu.Lock()
	old, err := vs.logAndApplyLocked(e)
	vs.mu.Unlock()
	if old != nil {
		old.unref() // outside mu: may call onObsolete
	}
	return err
}

// errEditConflict marks an edit that does not apply to the current version
// (it deletes a file the version no longer has, or its result breaks a level
// invariant). Nothing was written to the MANIFEST. A compaction whose inputs
// were replaced meanwhile gets it and discards its outputs.
var errEditConflict = errors.New("version edit conflicts with the current version")

// editConflict wraps a version builder's error with errEditConflict.
func editConflict(err error) error {
	return &Error{Code: CodeInvalidArgument, Msg: "version edit: " + err.Error(), Offset: -1, Err: errEditConflict}
}

func (vs *versionSet) logAndApplyLocked(e *versionEdit) (*version, error) {
	if vs.closed {
		return nil, newError(CodeClosed, "version set of %s is closed", vs.dir)
	}
	if sticky := vs.failErr.Load(); sticky != nil {
		return nil, sticky
	}
	if e.comparator != "" && e.comparator != versionComparator {
		return nil, newError(CodeInvalidArgument, "version edit: comparator %q, want %q", e.comparator, versionComparator)
	}
	if e.hasNextFileNum && e.nextFileNum > 0 {
		vs.markFileNumUsed(e.nextFileNum - 1)
	}
	next := vs.nextNum.Load()
	if !e.hasLogNum {
		e.setLogNum(vs.logNumber.Load())
	} else if e.logNum < vs.logNumber.Load() {
		return nil, newError(CodeInvalidArgument, "version edit: logNum %d below the current %d", e.logNum, vs.logNumber.Load())
	}
	if e.logNum >= next {
		return nil, newError(CodeInvalidArgument, "version edit: logNum %d was never handed out (next is %d)", e.logNum, next)
	}
	for _, a := range e.addedFiles {
		if a.meta != nil && a.meta.num >= next {
			return nil, newError(CodeInvalidArgument, "version edit: file %d was never handed out (next is %d)", a.meta.num, next)
		}
	}
	if !e.hasLastSeq || e.lastSeq < vs.seq.Load() {
		e.setLastSeq(vs.seq.Load())
	}
	if !e.hasLiveRows {
		e.setLiveRows(vs.rows.Load())
	}

	base := vs.cur.Load()
	b := newVersionBuilder(base)
	if err := b.apply(e); err != nil {
		return nil, editConflict(err)
	}
	v, err := b.build()
	if err != nil {
		return nil, editConflict(err)
	}

	roll := vs.rollOverDueLocked()
	var newNum uint64
	if roll {
		newNum = vs.newFileNum()
	}
	e.setNextFileNum(vs.nextNum.Load())
	var rec []byte
	if roll {
		rec = vs.snapshot(v, e).encode()
		if len(rec) > maxManifestRecord {
			// A version too large for one snapshot record: keep appending
			// deltas to the current MANIFEST rather than refuse the edit.
			vs.opts.logger.Warn("manifest: snapshot exceeds the record limit; not rolling over",
				"dir", vs.dir, "bytes", len(rec), "limit", maxManifestRecord)
			roll = false
		}
	}
	if !roll {
		rec = e.encode()
	}
	if len(rec) > maxManifestRecord {
		return nil, newError(CodeInvalidArgument, "version edit: %d bytes exceeds the record limit %d", len(rec), maxManifestRecord)
	}

	if roll {
		err = vs.rollOverLocked(newNum, rec)
	} else {
		buf := appendManifestRecord(nil, rec)
		if err = vs.writeSynced(vs.manifest, makeFilename(fileTypeManifest, vs.manifestNum), buf); err == nil {
			vs.manifestSize += int64(len(buf))
		}
	}
	if err != nil {
		sticky := &Error{Code: CodeReadOnly, Msg: "MANIFEST update failed; table is read-only",
			File: makeFilename(fileTypeManifest, vs.manifestNum), Offset: -1, Err: err}
		vs.failErr.Store(sticky)
		return nil, sticky
	}

	vs.logNumber.Store(e.logNum)
	vs.rows.Store(e.liveRows)
	vs.setLastSeq(e.lastSeq)
	vs.install(v)
	return base, nil
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

// liveFiles returns the numbers of the SSTs of every live version (the
// current one and those readers still pin).
func (vs *versionSet) liveFiles() map[uint64]bool {
	live := make(map[uint64]bool)
	vs.refMu.Lock()
	defer vs.refMu.Unlock()
	for v := range vs.live {
		for l := range v.levels {
			for _, f := range v.levels[l] {
				live[f.num] = true
			}
		}
	}
	return live
}

// isRemoving reports whether releaseVersion is still removing file num
// (its onObsolete runs): the file may still be on disk although no live
// version names it.
func (vs *versionSet) isRemoving(num uint64) bool {
	vs.refMu.Lock()
	defer vs.refMu.Unlock()
	return vs.removing[num] > 0
}

// unreferencedFiles returns, among the base names of the table directory
// listing names, those the version set does not need: SSTs no live version
// names, MANIFESTs other than the live one, WALs numbered below logNum, and
// temp files. Call it at Open, before any flush or compaction runs (an SST
// being written is not yet named by any version). CURRENT, schema.json and
// unknown names are never returned.
func (vs *versionSet) unreferencedFiles(names []string) []string {
	live := vs.liveFiles()
	manifestNum := vs.manifestFileNum()
	logNum := vs.logNum()
	var out []string
	for _, name := range names {
		typ, num, ok := parseFilename(name)
		if !ok {
			continue
		}
		switch {
		case typ == fileTypeSST && !live[num],
			typ == fileTypeManifest && num != manifestNum,
			typ == fileTypeWAL && num < logNum,
			typ == fileTypeTemp:
			out = append(out, name)
		}
	}
	return out
}

// close closes the MANIFEST. Later logAndApply calls return ErrClosed; the
// current version stays readable (and pinned by the set: closing does not
// make its files obsolete). A second close returns nil.
func (vs *versionSet) close() error {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.closed {
		return nil
	}
	vs.closed = true
	if vs.manifest == nil {
		return nil
	}
	f := vs.manifest
	vs.manifest = nil
	if err := f.Close(); err != nil {
		return ioError("close", makeFilename(fileTypeManifest, vs.manifestNum), err)
	}
	return nil
}
