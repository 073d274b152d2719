package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sstV2Fixture is an SST written by the engine before the _time index
// (format version 2): sstTestEntries(3*leafCap+17, 1, 1, 9, 40) and a
// section 99/"other" holding "payload".
const sstV2Fixture = "testdata/sst/v2-000007.sst"

// TestSSTVersion2FileReadable opens the version-2 fixture: every entry,
// both scans, the section and verify read as before, and the file has no
// _time index (queries read all its rows whose range overlaps).
func TestSSTVersion2FileReadable(t *testing.T) {
	data, err := os.ReadFile(filepath.FromSlash(sstV2Fixture))
	require.NoError(t, err)
	fs := newSSTMemFS()
	require.NoError(t, fs.writeFile("d/000007.sst", data))
	r := sstOpen(t, fs, "d", 7)
	require.EqualValues(t, 2, r.hdr.version)
	sstCheckAll(t, r, sstTestEntries(3*leafCap+17, 1, 1, 9, 40))
	b, ok, err := r.section(99, "other")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("payload"), b)
	ti, err := r.timeIndex()
	require.NoError(t, err)
	require.Nil(t, ti)
	require.NoError(t, r.verify(func(seq int64, _ []byte) (int64, error) {
		return sstTestEntries(3*leafCap+17, 1, 1, 9, 40)[seq-1].time, nil
	}))
}

// sstV3Fixture is an SST written by the engine before data blocks (format
// version 3): sstCorruptFixture(t, 800), i.e. sstTestEntries(800, 3, 2, 9,
// 48) and a section 7/"idx".
const sstV3Fixture = "testdata/sst/v3-000001.sst"

// TestSSTVersion3FileReadable opens the version-3 fixture: every entry,
// both scans, the _time index and verify read as before.
func TestSSTVersion3FileReadable(t *testing.T) {
	data, err := os.ReadFile(filepath.FromSlash(sstV3Fixture))
	require.NoError(t, err)
	fs := newSSTMemFS()
	require.NoError(t, fs.writeFile("d/000001.sst", data))
	r := sstOpen(t, fs, "d", 1)
	require.EqualValues(t, 3, r.hdr.version)
	es := sstTestEntries(800, 3, 2, 9, 48)
	sstCheckAll(t, r, es)
	ti, err := r.timeIndex()
	require.NoError(t, err)
	require.NotNil(t, ti)
	require.NoError(t, r.verify(func(seq int64, _ []byte) (int64, error) { return es[(seq-3)/2].time, nil }))
}

// sstTimeFixture builds a version-3 file with several time blocks and
// returns the FS, its bytes, its entries and the section's location.
func sstTimeFixture(t *testing.T) (*memFS, []byte, []sstTestEntry, sstSection) {
	t.Helper()
	fs, data, es := sstCorruptFixture(t, 800)
	r := sstOpen(t, fs, "d", 1)
	require.EqualValues(t, sstFormatVersion, r.hdr.version)
	var sec sstSection
	for _, s := range r.secs {
		if s.kind == sstSectionTime {
			sec = s
		}
	}
	require.NotZero(t, sec.off)
	ti, err := r.timeIndex()
	require.NoError(t, err)
	require.Greater(t, len(ti.blocks), 3)
	return fs, data, es, sec
}

// sstResealSection recomputes the CRC of section sec in the directory of
// data, and the directory's own CRC.
func sstResealSection(t *testing.T, data []byte, sec sstSection) {
	t.Helper()
	h, problem, _ := decodeSSTHeader(data)
	require.Empty(t, problem)
	dir := data[h.dirOff : h.dirOff+h.dirLen]
	c := byteCursor{b: dir, off: 8}
	for !c.bad && c.off < len(dir) {
		kind := c.u16()
		name := string(c.bytes(int(c.u8())))
		c.u64()
		c.u64()
		at := c.off
		c.u32()
		if kind == sec.kind && name == sec.name {
			binary.LittleEndian.PutUint32(dir[at:], checksum(data[sec.off:sec.off+sec.length]))
		}
	}
	binary.LittleEndian.PutUint32(dir, checksum(dir[4:]))
}

// TestSSTTimeIndexDamaged: a _time index whose bytes are damaged (CRC) or
// forged with a valid CRC but impossible contents is ErrCorrupted naming
// the file and an offset inside the section, from timeIndex, from a _time
// window lookup and from verify; the rows still read.
func TestSSTTimeIndexDamaged(t *testing.T) {
	fs, orig, es, sec := sstTimeFixture(t)
	le := binary.LittleEndian
	blk := func(i int) uint64 { return sec.off + sstTimeHeaderSize + uint64(i)*sstTimeBlockSize }
	cases := []struct {
		name   string
		forged bool // CRC resealed
		edit   func(d []byte)
	}{
		{"bit flip", false, func(d []byte) { d[blk(1)+3] ^= 0x20 }},
		{"version", true, func(d []byte) { d[sec.off] = 2 }},
		{"reserved", true, func(d []byte) { d[sec.off+1] = 1 }},
		{"rows per block", true, func(d []byte) { le.PutUint16(d[sec.off+2:], 64) }},
		{"block count", true, func(d []byte) { le.PutUint32(d[sec.off+4:], le.Uint32(d[sec.off+4:])+1) }},
		{"block count zero", true, func(d []byte) { le.PutUint32(d[sec.off+4:], 0) }},
		{"seqs out of order", true, func(d []byte) { copy(d[blk(2):blk(2)+8], d[blk(1):blk(1)+8]) }},
		{"last before first", true, func(d []byte) { le.PutUint64(d[blk(2)+8:], le.Uint64(d[blk(2):])-1) }},
		{"span too wide", true, func(d []byte) { le.PutUint64(d[blk(2):], le.Uint64(d[blk(2)+8:])-sstTimeBlockSpan) }},
		{"min after max", true, func(d []byte) { copy(d[blk(1)+16:blk(1)+24], d[blk(2)+24:blk(2)+32]) }},
		{"time beyond the file", true, func(d []byte) { le.PutUint64(d[blk(1)+24:], le.Uint64(d[blk(1)+24:])+1<<50) }},
		{"misses the file's max", true, func(d []byte) {
			last := int(le.Uint32(d[sec.off+4:])) - 1
			for i := 0; i <= last; i++ { // shrink every block's max below the file's
				le.PutUint64(d[blk(i)+24:], max(le.Uint64(d[blk(i)+16:]), le.Uint64(d[blk(i)+24:])-1))
			}
		}},
	}
	for _, c := range cases {
		d := bytes.Clone(orig)
		c.edit(d)
		if c.forged {
			sstResealSection(t, d, sec)
		}
		require.NoError(t, fs.writeFile("d/000001.sst", d))
		r := sstOpen(t, fs, "d", 1)
		_, err := r.timeIndex()
		sstRequireCorrupted(t, err, c.name)
		var e *Error
		require.True(t, errors.As(err, &e), c.name)
		require.Equal(t, "000001.sst", e.File, c.name)
		require.GreaterOrEqual(t, e.Offset, int64(sec.off), "%s: %v", c.name, err)
		require.Less(t, e.Offset, int64(sec.off+sec.length), "%s: %v", c.name, err)
		sstRequireCorrupted(t, r.verify(nil), c.name)
		_, err = r.timeIndex() // sticky
		sstRequireCorrupted(t, err, c.name)
		require.True(t, sstCheckDamaged(t, fs, es, c.forged, c.name), c.name)
	}

	// A forged index that is consistent in itself but lies about the rows
	// (one block's range narrowed) decodes; verify with the rows' times
	// (Database.Check) finds it.
	d := bytes.Clone(orig)
	le.PutUint64(d[blk(2)+24:], le.Uint64(d[blk(2)+16:]))
	sstResealSection(t, d, sec)
	require.NoError(t, fs.writeFile("d/000001.sst", d))
	r := sstOpen(t, fs, "d", 1)
	_, err := r.timeIndex()
	require.NoError(t, err)
	timeOf := func(seq int64, _ []byte) (int64, error) { return es[(seq-3)/2].time, nil }
	err = r.verify(timeOf)
	sstRequireCorrupted(t, err)
	require.Contains(t, err.Error(), "_time index disagrees with the rows")

	// A version-3 file whose directory lost the _time index section (its
	// kind changed) is refused at open.
	d = bytes.Clone(orig)
	h, _, _ := decodeSSTHeader(d)
	dir := d[h.dirOff : h.dirOff+h.dirLen]
	i := bytes.Index(dir, []byte("\x05_time"))
	require.Greater(t, i, 2)
	le.PutUint16(dir[i-2:], sstSectionTime+1)
	le.PutUint32(dir, checksum(dir[4:]))
	require.NoError(t, fs.writeFile("d/000001.sst", d))
	_, err = openSST(fs, "d", 1)
	sstRequireCorrupted(t, err)
	require.Contains(t, err.Error(), "without a _time index")

	// A version-3 file relabelled version 2 (header and footer resealed)
	// opens, and its _time index is ignored: no windows, every row read.
	// (Version 4 stores records in data blocks, so only a version-3 file
	// has the layout of version 2.)
	d, err = os.ReadFile(filepath.FromSlash(sstV3Fixture))
	require.NoError(t, err)
	le.PutUint16(d[8:], 2)
	le.PutUint32(d[sstHeaderCRCOff:], checksum(d[:sstHeaderCRCOff]))
	copy(d[len(d)-sstFooterSize:], encodeSSTFooterVersion(2, le.Uint32(d[sstHeaderCRCOff:]), uint64(len(d))))
	require.NoError(t, fs.writeFile("d/000001.sst", d))
	r = sstOpen(t, fs, "d", 1)
	ti, err := r.timeIndex()
	require.NoError(t, err)
	require.Nil(t, ti)
	sstCheckAll(t, r, es)
}
