package srdb

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenSST feeds arbitrary bytes to the SST reader as file 000001.sst:
// open, point lookups, seeks, scans in both directions, sections and verify
// must never panic or hang, and every error must be ErrCorrupted. A scan
// longer than the file could hold entries counts as a hang (a visited-node
// loop).
//
// Each input is tried twice: as it is, and with every checksum recomputed
// (sstFuzzReseal). Random bytes almost never carry valid CRCs, so the second
// run is what lets the fuzzer build forged trees — cycles, shared children,
// wild offsets, unsorted nodes — and reach the structural checks behind the
// checksums.
func FuzzOpenSST(f *testing.F) {
	seeds := [][]sstTestEntry{
		sstTestEntries(1, 1, 1, 0, 10),
		sstTestEntries(3, 5, 3, 2, 30),
		sstTestEntries(leafCap+2, 1, 2, 5, 3),
		{{seq: 1, kind: kindDelete}, {seq: math.MaxInt64, kind: kindSet, time: -1, value: []byte("x")}},
	}
	// Compressed files: chat text in blocks of S2 and zstd (several blocks
	// per leaf), and runs of random rows between them (raw blocks).
	text := sstTextEntries(leafCap + 30)
	for i := range text {
		if i%100 >= 70 && text[i].kind == kindSet {
			text[i].value = sstTestValue(text[i].seq, len(text[i].value))
		}
	}
	seeds = append(seeds, text, text)
	codecs := []Compression{CompressionNone, CompressionFast, CompressionNone, CompressionDense, CompressionNone, CompressionFast, CompressionDense}
	for i, es := range seeds {
		fs := newSSTMemFS()
		w, err := newSSTWriterCompressed(fs, "d", 1, codecs[i])
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range es {
			if err := w.add(e.seq, e.kind, e.time, e.value); err != nil {
				f.Fatal(err)
			}
		}
		if i%2 == 1 {
			if err := w.addSection(uint16(i), "sec", []byte("payload")); err != nil {
				f.Fatal(err)
			}
		}
		if _, err := w.finish(); err != nil {
			f.Fatal(err)
		}
		data, err := fs.readFile("d/000001.sst")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, d := range sstCyclicSeeds(f) {
		f.Add(d)
	}
	// Rows out of time order over several _time index blocks.
	rng := rand.New(rand.NewSource(1))
	es := sstTestEntries(3*sstTimeBlockRows+5, 1, 3, 11, 2)
	for i := range es {
		if es[i].kind == kindSet {
			es[i].time = trTimeFor(rng, 0, es[i].seq, true)
		}
	}
	f.Add(sstFuzzBuild(f, es))
	// The version-2 fixture (no _time index) as file 1: the resealed run
	// reads it.
	if v2, err := os.ReadFile(filepath.FromSlash(sstV2Fixture)); err == nil {
		binary.LittleEndian.PutUint64(v2[24:], 1)
		f.Add(v2)
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sstFuzzOne(t, data)
		sstFuzzOne(t, sstFuzzReseal(data))
	})
}

// sstFuzzBuild writes es as d/000001.sst and returns the file's bytes.
func sstFuzzBuild(f *testing.F, es []sstTestEntry) []byte {
	fs := newSSTMemFS()
	w, err := newSSTWriter(fs, "d", 1)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range es {
		if err := w.add(e.seq, e.kind, e.time, e.value); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := w.finish(); err != nil {
		f.Fatal(err)
	}
	data, err := fs.readFile("d/000001.sst")
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// sstFuzzOne runs every read path over data as an SST file.
func sstFuzzOne(t *testing.T, data []byte) {
	{
		fs := newSSTMemFS()
		if err := fs.writeFile("d/000001.sst", data); err != nil {
			t.Fatal(err)
		}
		check := func(err error, what string) {
			if err != nil && !errors.Is(err, ErrCorrupted) {
				t.Fatalf("%s: %v is not ErrCorrupted", what, err)
			}
		}
		r, err := openSST(fs, "d", 1)
		if err != nil {
			check(err, "open")
			return
		}
		defer r.close()
		p := r.props()
		probes := []int64{math.MinInt64, 0, p.minSeq, p.minSeq + 1, p.minSeq/2 + p.maxSeq/2, p.maxSeq - 1, p.maxSeq, math.MaxInt64}
		for _, seq := range probes {
			_, _, _, err := r.get(seq)
			check(err, "get")
		}
		budget := len(data)/leafEntrySize + 2
		it := r.newIter()
		steps := 0
		for ok := it.first(); ok; ok = it.next() {
			_ = it.value()
			if steps++; steps > budget {
				t.Fatalf("forward scan of more than %d entries", budget)
			}
		}
		check(it.err(), "forward scan")
		it = r.newIter()
		steps = 0
		for ok := it.last(); ok; ok = it.prev() {
			_ = it.value()
			if steps++; steps > budget {
				t.Fatalf("backward scan of more than %d entries", budget)
			}
		}
		check(it.err(), "backward scan")
		for _, seq := range probes {
			it = r.newIter()
			if it.seekGE(seq) {
				_ = it.value()
				it.next()
				it.prev()
			}
			check(it.err(), "seekGE")
			it = r.newIter()
			if it.seekLE(seq) {
				_ = it.value()
				it.prev()
				it.next()
			}
			check(it.err(), "seekLE")
		}
		for _, s := range r.secs {
			_, _, err := r.section(s.kind, s.name)
			check(err, "section")
		}
		ti, err := r.timeIndex()
		check(err, "time index")
		if ti != nil {
			for _, lo := range []int64{math.MinInt64, p.minTime - 1, p.minTime, p.minTime/2 + p.maxTime/2, p.maxTime, math.MaxInt64} {
				wins, _ := ti.windows(lo, lo/2+p.maxTime/2, nil)
				for i, w := range wins {
					if w.lo > w.hi || w.lo < p.minSeq || w.hi > p.maxSeq || (i > 0 && w.lo <= wins[i-1].hi) {
						t.Fatalf("time index windows %v outside [%d, %d] or out of order", wins, p.minSeq, p.maxSeq)
					}
				}
			}
		}
		check(r.verify(nil), "verify")
	}
}

// sstFuzzReseal returns a copy of data in which every checksum the reader
// would check is recomputed, reading the layout from the (unchecked) header:
// records of every leaf-looking node, nodes (found by their magic at any
// offset of the tree region), section payloads, the section directory, the
// header and the footer.
func sstFuzzReseal(data []byte) []byte {
	d := append([]byte(nil), data...)
	size := uint64(len(d))
	if size < sstHeaderSize+sstFooterSize {
		return d
	}
	// Offsets of header fields, from the layout above sstHeader.encode.
	const (
		treeEndOff = 96
		dirOffOff  = 120
		dirLenOff  = 128
	)
	le := binary.LittleEndian
	treeEnd := min(le.Uint64(d[treeEndOff:]), size)
	dirOff, dirLen := le.Uint64(d[dirOffOff:]), le.Uint64(d[dirLenOff:])
	var nodes []uint64
	for off := uint64(sstHeaderSize); off+sstNodeSize <= treeEnd; off++ {
		if le.Uint16(d[off+nodeMagicOff:]) == nodeMagic && d[off+nodeVersionOff] == nodeVersion {
			nodes = append(nodes, off)
		}
	}
	for _, off := range nodes {
		n := d[off : off+sstNodeSize]
		count := int(le.Uint16(n[nodeCountOff:]))
		if n[nodeLevelOff] != 0 || count > leafCap {
			continue
		}
		if le.Uint16(d[8:]) >= sstBlockFormatVersion {
			sstFuzzResealBlocks(d, off, n, count)
			continue
		}
		for i := 0; i < count; i++ {
			rec := leafRecordOff(n, i)
			end := off
			if i+1 < count {
				end = leafRecordOff(n, i+1)
			}
			if rec < sstHeaderSize || end > off || rec+sstRecordMinSize > end {
				continue
			}
			crc := crc32.Update(0, crcTable, leafSeqBytes(n, i))
			crc = crc32.Update(crc, crcTable, leafKindBytes(n, i))
			crc = crc32.Update(crc, crcTable, d[rec+sstRecordCRCSize:end])
			le.PutUint32(d[rec:], crc)
		}
	}
	for _, off := range nodes {
		sstResealNode(d, off)
	}
	if dirLen >= sstDirHeaderSize && dirOff <= size && dirLen <= size-dirOff {
		dir := d[dirOff : dirOff+dirLen]
		c := byteCursor{b: dir, off: 4}
		count := int(c.u32())
		for i := 0; i < count && !c.bad; i++ {
			c.u16()
			c.bytes(int(c.u8()))
			off, length := c.u64(), c.u64()
			at := c.off
			c.u32()
			if !c.bad && off <= size && length <= size-off {
				le.PutUint32(dir[at:], checksum(d[off:off+length]))
			}
		}
		le.PutUint32(dir, checksum(dir[4:]))
	}
	le.PutUint32(d[sstHeaderCRCOff:], checksum(d[:sstHeaderCRCOff]))
	copy(d[size-sstFooterSize:], encodeSSTFooterVersion(le.Uint16(d[8:]), le.Uint32(d[sstHeaderCRCOff:]), size))
	return d
}

// sstFuzzResealBlocks recomputes, in a version-4 file, the record CRCs in
// the raw data blocks of the leaf n at off and every block CRC of the leaf
// (a compressed block's records stay as they are).
func sstFuzzResealBlocks(d []byte, off uint64, n []byte, count int) {
	le := binary.LittleEndian
	end := off
	for b := 0; b <= leafCap; b++ {
		info, problem, _ := parseSSTBlock(d[:end], sstHeaderSize, false)
		if problem != "" {
			return
		}
		if info.codec == blockCodecRaw {
			for i := 0; i < count; i++ {
				rec := leafRecordOff(n, i)
				stop := info.rawEnd()
				if i+1 < count {
					stop = leafRecordOff(n, i+1)
				}
				if rec < info.rawOff || stop > info.rawEnd() || rec+sstRecordMinSize > stop {
					continue
				}
				at := info.start + rec - info.rawOff
				crc := crc32.Update(0, crcTable, leafSeqBytes(n, i))
				crc = crc32.Update(crc, crcTable, leafKindBytes(n, i))
				crc = crc32.Update(crc, crcTable, d[at+sstRecordCRCSize:at+stop-rec])
				le.PutUint32(d[at:], crc)
			}
		}
		t := d[end-sstBlockTrailerSize : end]
		crc := crc32.Update(0, crcTable, d[info.start:end-sstBlockTrailerSize])
		crc = crc32.Update(crc, crcTable, t[:16])
		le.PutUint32(t[16:], crc)
		if info.rawOff == 0 {
			return
		}
		end = info.start
	}
}
