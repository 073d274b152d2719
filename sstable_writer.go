package srdb

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
)

// sstWriteBufferSize is the size of the writer's buffer: adds cost a copy,
// and the file sees few large writes.
const sstWriteBufferSize = 256 << 10

// sstWriter builds one SST file from entries added in strictly increasing
// seq order. It streams: records go to the file with their leaf (as its data
// blocks), every B+Tree node once it is full and the next entry for its
// level arrives, so its memory is one node per tree level plus the write
// buffer and the records of the leaf being filled (raw and encoded: up to
// sstLeafRawTarget plus one row), whatever the size of the file, and the
// _time index blocks it writes after the tree (32 bytes per 128 rows).
//
// The file is built as <dir>/<NNNNNN>.sst.tmp; finish makes it durable and
// renames it to <dir>/<NNNNNN>.sst, abort removes it. After an error the
// writer is unusable: every call returns that error and finish removes the
// temp file. An sstWriter is not safe for concurrent use.
type sstWriter struct {
	fs      FS
	dir     string
	tmpPath string
	path    string

	f   File
	bw  *bufio.Writer
	off uint64 // file offset of the next byte written

	props   sstProps
	levels  [sstMaxHeight]btreeNodeBuilder // levels[0] is the leaf being filled
	hdr     sstHeader                      // tree fields set when the tree is finished
	tree    bool                           // tree written; only sections may follow
	secs    []sstSection
	timeIx  sstTimeIndexBuilder // the _time index, written when the tree ends
	scratch [8 + 1]byte         // seq bytes, kind: the head of a record's CRC; see add

	// codec is the block codec (compression.go) and blockTarget the raw
	// size at which a block ends (and the leaf's next one begins); blk
	// holds the raw records of the leaf being filled, cuts the ends of its
	// finished blocks in blk, and stored the leaf's encoded blocks
	// (buffers reused from leaf to leaf).
	codec       byte
	blockTarget int
	blk         []byte
	cuts        []int
	stored      []byte
	tmp         []byte // one block's compressed bytes

	err  error // first failure, returned by every later call
	done bool  // finish or abort ran
}

// newSSTWriter creates <dir>/<fileNum>.sst.tmp and returns a writer for it
// that stores its data blocks raw.
func newSSTWriter(fs FS, dir string, fileNum uint64) (*sstWriter, error) {
	return newSSTWriterCompressed(fs, dir, fileNum, CompressionNone)
}

// newSSTWriterCompressed is newSSTWriter storing the data blocks with
// compression c (CompressionDefault and CompressionNone: raw).
func newSSTWriterCompressed(fs FS, dir string, fileNum uint64, c Compression) (*sstWriter, error) {
	path := filepath.Join(dir, sstName(fileNum))
	w := &sstWriter{fs: fs, dir: dir, path: path, tmpPath: path + tempSuffix}
	w.codec = blockCodec(c)
	// A raw block is read in place: no decompression to bound, so without
	// a codec the leaf's records are one block.
	w.blockTarget = blockTargetOf(w.codec)
	w.props.fileNum = fileNum
	f, err := fs.Create(w.tmpPath)
	if err != nil {
		return nil, ioError("create", w.tmpPath, err)
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, sstWriteBufferSize)
	// Placeholder for the header, overwritten by finish.
	var zero [sstHeaderSize]byte
	if err := w.write(zero[:]); err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

// add appends an entry. Seqs must be ≥ 1 and strictly increasing; kindSet
// entries carry an encoded row as value and its _time as timeNanos,
// kindDelete entries an empty value (timeNanos is ignored). value is copied
// before add returns.
//
// Data record (at the offset a leaf entry names inside its leaf's raw
// records, see appendSSTBlock; in versions 2 and 3, at that file offset in
// the tree region):
//
//	off  size  field
//	  0     4  CRC32-C of seq (8 B, little-endian) ‖ kind (1 B) ‖ value,
//	           seq and kind as stored in the leaf entry
//	  4     n  value (empty for a tombstone)
//
// Neither the seq, the kind nor the length is stored in the record: the
// records of a leaf are back to back (versions 2 and 3: right before the
// leaf node), so record i ends where record i+1 starts and the last one
// where the leaf's records end. The seq and kind are part of the checksum,
// so a leaf entry pointing at another row's record, or claiming another
// kind, fails it.
func (w *sstWriter) add(seq int64, kind entryKind, timeNanos int64, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.done || w.tree {
		return newError(CodeInvalidArgument, "sst %s: add after finish, abort or addSection", w.tmpPath)
	}
	if seq < 1 {
		return newError(CodeInvalidArgument, "sst %s: seq %d < 1", w.tmpPath, seq)
	}
	if w.props.numEntries > 0 && seq <= w.props.maxSeq {
		return newError(CodeInvalidArgument, "sst %s: seq %d added after %d", w.tmpPath, seq, w.props.maxSeq)
	}
	switch kind {
	case kindSet:
	case kindDelete:
		if len(value) != 0 {
			return newError(CodeInvalidArgument, "sst %s: tombstone of seq %d with a value", w.tmpPath, seq)
		}
		timeNanos = 0
	default:
		return newError(CodeInvalidArgument, "sst %s: seq %d has unknown kind %d", w.tmpPath, seq, kind)
	}
	if uint64(len(value)) > sstMaxBlockValue {
		return newError(CodeInvalidArgument, "sst %s: value of seq %d is %d bytes", w.tmpPath, seq, len(value))
	}
	if w.levels[0].full(0) || len(w.blk) >= sstLeafRawTarget {
		if err := w.emitNode(0, true); err != nil {
			return err
		}
	}
	blockStart := 0
	if len(w.cuts) > 0 {
		blockStart = w.cuts[len(w.cuts)-1]
	}
	if len(w.blk)-blockStart >= w.blockTarget {
		w.cuts = append(w.cuts, len(w.blk)) // the record starts the leaf's next block
	}
	recOff := uint64(len(w.blk))

	// The record: its CRC, then the value.
	seqBytes := w.scratch[:8]
	binary.LittleEndian.PutUint64(seqBytes, uint64(seq))
	w.scratch[8] = byte(kind)
	crc := crc32.Update(0, crcTable, w.scratch[:9])
	crc = crc32.Update(crc, crcTable, value)
	w.blk = binary.LittleEndian.AppendUint32(w.blk, crc)
	w.blk = append(w.blk, value...)

	w.levels[0].addLeaf(seq, recOff, kind)
	w.props.addEntry(seq, kind, timeNanos, len(value))
	if kind == kindSet {
		w.timeIx.add(seq, timeNanos)
	}
	return nil
}

// estimatedSize returns the bytes written so far (buffered ones included):
// the size the file would have, less the open nodes, section directory and
// footer, if it were finished now. Compaction uses it to cut output files.
func (w *sstWriter) estimatedSize() uint64 { return w.off + uint64(len(w.blk)) }

// write appends b to the file through the buffer.
func (w *sstWriter) write(b []byte) error {
	if _, err := w.bw.Write(b); err != nil {
		return w.fail(ioError("write", w.tmpPath, err))
	}
	w.off += uint64(len(b))
	return nil
}

// fail records err as the writer's sticky error and returns it.
func (w *sstWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// emitNode writes the node being filled at level and, when push is set,
// adds its separator to the parent level (writing the parent first if it is
// full). Nodes are written lazily, when an entry arrives for a full node, so
// the node being filled at a level that has seen entries is never empty.
func (w *sstWriter) emitNode(level int, push bool) error {
	nb := &w.levels[level]
	if level == 0 {
		if err := w.writeBlocks(); err != nil {
			return err
		}
	}
	off := w.off
	if off > sstMaxOffset {
		return w.fail(newError(CodeInvalidArgument, "sst %s: file exceeds the 48-bit offset range", w.tmpPath))
	}
	if err := w.write(nb.seal(level)); err != nil {
		return err
	}
	w.hdr.numNodes++
	nb.emitted++
	nb.count = 0
	if !push {
		return nil
	}
	if level+1 >= sstMaxHeight {
		return w.fail(newError(CodeInvalidArgument, "sst %s: B+Tree taller than %d levels", w.tmpPath, sstMaxHeight))
	}
	parent := &w.levels[level+1]
	if parent.full(level + 1) {
		if err := w.emitNode(level+1, true); err != nil {
			return err
		}
	}
	parent.addInner(nb.firstKey, off)
	return nil
}

// writeBlocks writes the data blocks of the leaf being filled (they come
// right before the leaf) and empties its records: each run of records the
// cuts delimit is compressed, and runs that do not compress are merged into
// one raw block with their raw neighbours (a raw block is read in place,
// there is no decompression to bound), so incompressible rows cost no
// more trailers than without a codec.
func (w *sstWriter) writeBlocks() error {
	if w.codec == blockCodecRaw && len(w.cuts) == 0 {
		// The leaf's records are one raw block: its stored bytes are the
		// records themselves, so its trailer goes right after them in blk,
		// which is written as is — the bytes storedBlocks makes, without
		// its two copies of every record.
		w.blk = appendSSTBlockTrailer(w.blk, 0, 0, len(w.blk), blockCodecRaw)
		err := w.write(w.blk)
		w.blk, w.cuts = w.blk[:0], w.cuts[:0]
		return err
	}
	if err := w.storedBlocks(); err != nil {
		return w.fail(err)
	}
	w.blk, w.cuts = w.blk[:0], w.cuts[:0]
	return w.write(w.stored)
}

// storedBlocks sets w.stored to the stored blocks of the leaf's records
// (w.blk, cut at w.cuts), each with its trailer.
func (w *sstWriter) storedBlocks() error {
	w.stored = w.stored[:0]
	run := -1 // start of the pending raw run, -1: none
	flushRun := func(end int) {
		if run >= 0 {
			mark := len(w.stored)
			w.stored = append(w.stored, w.blk[run:end]...)
			w.stored = appendSSTBlockTrailer(w.stored, mark, uint64(run), end-run, blockCodecRaw)
			run = -1
		}
	}
	start := 0
	for _, end := range append(w.cuts, len(w.blk)) {
		var codec byte
		var err error
		if w.tmp, codec, err = appendSSTCompressed(w.tmp[:0], w.blk[start:end], w.codec); err != nil {
			return err
		}
		if codec == blockCodecRaw {
			if run < 0 {
				run = start
			}
		} else {
			flushRun(start)
			mark := len(w.stored)
			w.stored = append(w.stored, w.tmp...)
			w.stored = appendSSTBlockTrailer(w.stored, mark, uint64(start), end-start, codec)
		}
		start = end
	}
	flushRun(len(w.blk))
	return nil
}

// finishTree writes the nodes still being filled, bottom-up, and records the
// root: the first level that has never written a node holds at least two
// entries (or is the only leaf) and becomes the root.
func (w *sstWriter) finishTree() error {
	if w.err != nil {
		return w.err
	}
	if w.tree {
		return nil
	}
	if w.props.numEntries == 0 {
		return w.fail(newError(CodeInvalidArgument, "sst %s: no entries (empty SST files are not written)", w.tmpPath))
	}
	for level := 0; level < sstMaxHeight; level++ {
		if w.levels[level].emitted > 0 {
			if err := w.emitNode(level, true); err != nil {
				return err
			}
			continue
		}
		w.hdr.height = level + 1
		if err := w.emitNode(level, false); err != nil {
			return err
		}
		w.hdr.rootOff = w.off - sstNodeSize // after a root leaf's data block
		break
	}
	w.hdr.treeEnd = w.off
	w.tree = true
	// The _time index is the first section, right after the tree.
	return w.appendSection(sstSectionTime, sstTimeSectionName, w.timeIx.encode())
}

// addSection appends an opaque section (e.g. the secondary-index entries of
// the file's rows) that the reader returns by (kind, name). The first call
// ends the B+Tree: add fails afterwards. name is 1–255 bytes; a (kind, name)
// pair may appear once, and the writer adds the _time index section
// (sstSectionTime) itself. data is written before addSection returns.
func (w *sstWriter) addSection(kind uint16, name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return newError(CodeInvalidArgument, "sst %s: addSection after finish or abort", w.tmpPath)
	}
	if len(name) == 0 || len(name) > sstMaxSectionName {
		return newError(CodeInvalidArgument, "sst %s: section name of %d bytes", w.tmpPath, len(name))
	}
	for _, s := range w.secs {
		if s.kind == kind && s.name == name {
			return newError(CodeInvalidArgument, "sst %s: duplicate section %d/%q", w.tmpPath, kind, name)
		}
	}
	if kind == sstSectionTime && name == sstTimeSectionName {
		return newError(CodeInvalidArgument, "sst %s: section %d/%q is the writer's _time index", w.tmpPath, kind, name)
	}
	if err := w.finishTree(); err != nil {
		return err
	}
	return w.appendSection(kind, name, data)
}

// appendSection writes a section payload and records it for the directory.
func (w *sstWriter) appendSection(kind uint16, name string, data []byte) error {
	s := sstSection{kind: kind, name: name, off: w.off, length: uint64(len(data)), crc: checksum(data)}
	if err := w.write(data); err != nil {
		return err
	}
	w.secs = append(w.secs, s)
	return nil
}

// finish completes the file and makes it durable under its final name:
//
//  1. write the nodes still open, the section directory and the footer;
//  2. reopen the temp file and overwrite the header placeholder at offset
//     0 (File has no WriteAt; the header is known only now);
//  3. fsync the temp file — every byte is on disk before a name points at it;
//  4. rename it to <NNNNNN>.sst — atomic;
//  5. fsync the directory — the rename survives power loss.
//
// On any failure it removes the temp file (and the renamed file when only
// the directory fsync failed) and returns the error. An SST without entries
// is refused.
func (w *sstWriter) finish() (sstProps, error) {
	if w.err != nil {
		err := w.err
		w.abort()
		return sstProps{}, err
	}
	if w.done {
		return sstProps{}, newError(CodeInvalidArgument, "sst %s: finish after finish or abort", w.tmpPath)
	}
	if err := w.finishFile(); err != nil {
		w.abort()
		return sstProps{}, err
	}
	w.done = true
	if err := killPoint("sst.before_rename"); err != nil {
		_ = w.fs.Remove(w.tmpPath)
		return sstProps{}, w.fail(err)
	}
	if err := w.fs.Rename(w.tmpPath, w.path); err != nil {
		_ = w.fs.Remove(w.tmpPath)
		return sstProps{}, w.fail(ioError("rename", w.tmpPath, err))
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		_ = w.fs.Remove(w.path)
		return sstProps{}, w.fail(ioError("fsync dir", w.dir, err))
	}
	return w.props, nil
}

// finishFile runs steps 1–3 of finish and closes the file.
func (w *sstWriter) finishFile() error {
	if err := w.finishTree(); err != nil {
		return err
	}
	dir := encodeSSTSectionDir(w.secs)
	w.hdr.dirOff = w.off
	w.hdr.dirLen = uint64(len(dir))
	w.props.size = w.off + uint64(len(dir)) + sstFooterSize
	w.hdr.props = w.props
	header := w.hdr.encode()
	if err := w.write(dir); err != nil {
		return err
	}
	footer := encodeSSTFooter(binary.LittleEndian.Uint32(header[sstHeaderCRCOff:]), w.props.size)
	if err := w.write(footer); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(ioError("write", w.tmpPath, err))
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		return w.fail(ioError("close", w.tmpPath, err))
	}

	f, err := w.fs.OpenReadWrite(w.tmpPath)
	if err != nil {
		return w.fail(ioError("open", w.tmpPath, err))
	}
	w.f = f
	if n, err := f.Write(header); err != nil || n != len(header) {
		if err == nil {
			err = newError(CodeStorage, "short write of %d bytes", n)
		}
		return w.fail(ioError("write header", w.tmpPath, err))
	}
	// A file system that appended instead of writing at offset 0 would have
	// grown the file: catch that rather than publish a file without header.
	fi, err := f.Stat()
	if err != nil {
		return w.fail(ioError("stat", w.tmpPath, err))
	}
	if uint64(fi.Size()) != w.props.size {
		return w.fail(newError(CodeStorage, "sst %s: size %d after header write, want %d", w.tmpPath, fi.Size(), w.props.size))
	}
	if err := f.Sync(); err != nil {
		return w.fail(ioError("fsync", w.tmpPath, err))
	}
	w.f = nil
	if err := f.Close(); err != nil {
		return w.fail(ioError("close", w.tmpPath, err))
	}
	return nil
}

// abort closes and removes the temp file. It is idempotent and a no-op after
// a successful finish.
func (w *sstWriter) abort() {
	if w.done {
		return
	}
	w.done = true
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	_ = w.fs.Remove(w.tmpPath)
	if w.err == nil {
		w.err = newError(CodeInvalidArgument, "sst %s: writer aborted", w.tmpPath)
	}
}
