package srdb

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Reads of a format-4 SST do not check a record's own CRC: the CRC of the
// record's data block covers the same bytes (sstReader.recordSpan). These
// tests flip bytes inside records and check that every read still reports
// ErrCorrupted naming the file, and that verify (Check) still checks the
// record CRCs themselves.

// sstRecordFileOffset returns the file offset of the record of seq in the
// format-4 SST r (its 4-byte CRC, then its value), the record's length and
// the offset of the leaf that holds seq. The leaf's blocks must be raw.
func sstRecordFileOffset(t *testing.T, r *sstReader, seq int64) (off, length, leafOff uint64) {
	t.Helper()
	require.EqualValues(t, sstBlockFormatVersion, r.hdr.version)
	leafOff = r.leafOffsetOf(t, seq)
	n := r.data[leafOff : leafOff+sstNodeSize]
	count := int(binary.LittleEndian.Uint16(n[nodeCountOff:]))
	i := leafSearchGE(n, count, seq)
	require.Less(t, i, count)
	require.Equal(t, seq, leafSeq(n, i))
	recOff := leafRecordOff(n, i)
	lb, err := r.blockFor(leafOff, recOff, true)
	require.NoError(t, err)
	_, stop, err := r.recordSpan(n, leafOff, i, lb, true)
	require.NoError(t, err)
	info := sstBlockHolding(t, r.data, leafOff, func(info sstBlockInfo) bool { return info.rawOff <= recOff })
	require.EqualValues(t, blockCodecRaw, info.codec, "the test needs raw blocks")
	return info.start + (recOff - info.rawOff), stop - recOff, leafOff
}

// sstBlockHolding walks the data blocks of the leaf at leafOff in data
// backwards from the leaf and returns the first for which stop holds.
func sstBlockHolding(t *testing.T, data []byte, leafOff uint64, stop func(sstBlockInfo) bool) sstBlockInfo {
	t.Helper()
	end := leafOff
	for {
		info, problem, _ := parseSSTBlock(data[:end], sstHeaderSize, false)
		require.Empty(t, problem)
		if stop(info) {
			return info
		}
		require.NotZero(t, info.rawOff, "no block of the leaf at %d qualifies", leafOff)
		end = info.start
	}
}

// TestSSTRecordFlipInBlockCaughtWithoutRecordCRC flips a bit in the CRC and
// in the first and last value bytes of records of a format-4 SST with raw
// blocks. On a fresh mapping, get, a forward scan and a backward scan must
// each fail with ErrCorrupted naming the file (the block CRC catches it),
// and verify too. With the block CRC resealed after the flip, so that only
// the record's own CRC is wrong, verify must still report the record.
func TestSSTRecordFlipInBlockCaughtWithoutRecordCRC(t *testing.T) {
	fs, data, es := sstCorruptFixture(t, 800)
	r := sstOpen(t, fs, "d", 1)
	type target struct {
		seq         int64
		at, leafOff uint64
	}
	var targets []target
	for k := 5; k < len(es); k += 97 {
		e := es[k]
		if e.kind != kindSet || len(e.value) < 2 {
			continue
		}
		off, length, leafOff := sstRecordFileOffset(t, r, e.seq)
		require.Equal(t, e.value, data[off+sstRecordCRCSize:off+length], "seq %d", e.seq)
		for _, at := range []uint64{off, off + sstRecordCRCSize, off + length - 1} {
			targets = append(targets, target{e.seq, at, leafOff})
		}
	}
	require.GreaterOrEqual(t, len(targets), 18)
	require.NoError(t, r.close())

	for _, tg := range targets {
		bad := bytes.Clone(data)
		bad[tg.at] ^= 0x10
		require.NoError(t, fs.writeFile("d/000001.sst", bad))

		r := sstOpen(t, fs, "d", 1)
		_, _, _, err := r.get(tg.seq)
		sstRequireCorrupted(t, err, "get, flip at %d", tg.at)
		require.Contains(t, err.Error(), "000001.sst")
		require.Contains(t, err.Error(), "block checksum mismatch")
		require.NoError(t, r.close())

		for _, forward := range []bool{true, false} {
			r := sstOpen(t, fs, "d", 1)
			it := r.newIter()
			ok := it.first()
			if !forward {
				ok = it.last()
			}
			for ; ok; ok = map[bool]func() bool{true: it.next, false: it.prev}[forward]() {
				if it.value() == nil && it.err() != nil {
					break
				}
			}
			sstRequireCorrupted(t, it.err(), "scan (forward %v), flip at %d", forward, tg.at)
			require.Contains(t, it.err().Error(), "000001.sst")
			require.NoError(t, r.close())
		}

		r = sstOpen(t, fs, "d", 1)
		sstRequireCorrupted(t, r.verify(nil), "verify, flip at %d", tg.at)
		require.NoError(t, r.close())
	}

	// Only the record's CRC wrong (its block resealed): verify checks it.
	for _, tg := range targets {
		bad := bytes.Clone(data)
		bad[tg.at] ^= 0x10
		sstResealBlockOf(t, bad, tg.leafOff, tg.at)
		require.NoError(t, fs.writeFile("d/000001.sst", bad))
		r := sstOpen(t, fs, "d", 1)
		err := r.verify(nil)
		sstRequireCorrupted(t, err, "verify, resealed flip at %d", tg.at)
		require.Contains(t, err.Error(), "record checksum mismatch")
		require.NoError(t, r.close())
	}
}

// sstResealBlockOf recomputes, in bad, the trailer CRC of the data block of
// the leaf at leafOff that holds file offset at.
func sstResealBlockOf(t *testing.T, bad []byte, leafOff, at uint64) {
	t.Helper()
	info := sstBlockHolding(t, bad, leafOff, func(info sstBlockInfo) bool { return info.start <= at })
	tOff := info.start + uint64(len(info.stored))
	binary.LittleEndian.PutUint32(bad[tOff+16:], checksum(bad[info.start:tOff+16]))
}

// TestTableRecordFlipInRawBlockIsCorrupted flips a byte inside a row's
// record in a flushed, uncompressed SST on the OS file system (a real
// mapping): Get of that row, a filtered scan over the table and Check each
// report ErrCorrupted naming the file, each on a freshly opened database.
func TestTableRecordFlipInRawBlockIsCorrupted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := NewSchema("m", imTableFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	for i := int64(1); i <= 3000; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, db.Close())

	tdir := filepath.Join(dir, "tables", "m")
	names, err := filepath.Glob(filepath.Join(tdir, "*.sst"))
	require.NoError(t, err)
	require.Len(t, names, 1)
	name := filepath.Base(names[0])
	typ, num, ok := parseFilename(name)
	require.True(t, ok)
	require.Equal(t, fileTypeSST, typ)
	const seq = 1777
	r, err := openSST(osFS{}, tdir, num)
	require.NoError(t, err)
	off, length, _ := sstRecordFileOffset(t, r, seq)
	require.NoError(t, r.close())

	pristine, err := os.ReadFile(names[0])
	require.NoError(t, err)
	for _, at := range []uint64{off + 1, off + sstRecordCRCSize + length/2} {
		bad := bytes.Clone(pristine)
		bad[at] ^= 0x01
		require.NoError(t, os.WriteFile(names[0], bad, 0o600))
		requireNamesFile := func(err error, what string) {
			t.Helper()
			sstRequireCorrupted(t, err, "%s, flip at %d", what, at)
			require.True(t, strings.Contains(err.Error(), name), "%s: %v does not name %s", what, err, name)
		}

		db, tbl := openTableForTest(t, dir, opts, "m")
		_, err := tbl.Get(seq)
		requireNamesFile(err, "Get")
		require.NoError(t, db.Close())

		db, tbl = openTableForTest(t, dir, opts, "m")
		rows, err := tbl.Query().Eq("msg_type", uint8(seq%4)).Rows()
		require.NoError(t, err)
		for rows.Next() {
		}
		requireNamesFile(rows.Close(), "filtered scan")
		_, err = tbl.Query().Eq("msg_type", uint8(seq%4)).Count()
		requireNamesFile(err, "filtered Count")
		require.NoError(t, db.Close())

		db, _ = openTableForTest(t, dir, opts, "m")
		requireNamesFile(db.Check(), "Check")
		require.NoError(t, db.Close())
	}
}

// openTableForTest opens the database at dir and its table name.
func openTableForTest(t *testing.T, dir string, opts *Options, name string) (*Database, *Table) {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	tbl, err := db.Table(name)
	require.NoError(t, err)
	return db, tbl
}
