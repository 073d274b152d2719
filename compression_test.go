package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"
)

// compressionWords is the vocabulary of chatText.
var compressionWords = strings.Fields(`the a to and of you i it in is that for on
with this be are have not at was do we can but so if just what my your all me
they will get know like about up out one from there now when how time go see
good think no more yes ok well meeting today tomorrow thanks please send file
link call later update team project channel message review deploy build test`)

// chatText returns a deterministic chat-like message of 20–400 bytes for k:
// words of a small vocabulary, the frequent ones most often (Zipf-like).
func chatText(k int64) string {
	rng := rand.New(rand.NewPCG(uint64(k), 0x5eed))
	zipf := rand.NewZipf(rng, 1.2, 1, uint64(len(compressionWords)-1))
	n := 20 + rng.IntN(381)
	var sb strings.Builder
	for sb.Len() < n {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(compressionWords[zipf.Uint64()])
	}
	return sb.String()[:n]
}

// sstBlockCodecs returns how many data blocks of r are stored with each
// codec.
func sstBlockCodecs(t *testing.T, r *sstReader) map[byte]int {
	t.Helper()
	out := map[byte]int{}
	it := r.newIter()
	var last uint64
	for ok := it.first(); ok; ok = it.next() {
		if off := it.leaf().off; off != last {
			last = off
			for end := off; ; {
				blk, problem, _ := parseSSTBlock(r.data[:end], sstHeaderSize, true)
				require.Empty(t, problem)
				out[blk.codec]++
				if blk.rawOff == 0 {
					break
				}
				end = blk.start
			}
		}
	}
	require.NoError(t, it.err())
	return out
}

// sstTextEntries returns n entries with chat-text values (every 9th a
// tombstone).
func sstTextEntries(n int) []sstTestEntry {
	es := sstTestEntries(n, 1, 1, 9, 10)
	for i := range es {
		if es[i].kind == kindSet {
			es[i].value = []byte(chatText(es[i].seq))
		}
	}
	return es
}

// sstBuildCompressed writes es as d/000001.sst with compression c.
func sstBuildCompressed(t *testing.T, c Compression, es []sstTestEntry) (*memFS, []byte) {
	t.Helper()
	fs := newSSTMemFS()
	w, err := newSSTWriterCompressed(fs, "d", 1, c)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, w.add(e.seq, e.kind, e.time, e.value))
	}
	require.NoError(t, w.addSection(7, "idx", bytes.Repeat([]byte{1, 2, 3}, 100)))
	_, err = w.finish()
	require.NoError(t, err)
	data, err := fs.readFile("d/000001.sst")
	require.NoError(t, err)
	return fs, data
}

// TestCompressionBlockRoundTrip encodes text and random blocks with every
// codec: text shrinks with S2 and zstd, random bytes are stored raw (codec
// 0, never bigger than the records plus the trailer), and every block
// decodes to its records.
func TestCompressionBlockRoundTrip(t *testing.T) {
	var text []byte
	for k := int64(0); len(text) < 60<<10; k++ {
		text = append(text, chatText(k)...)
	}
	random := sstTestValue(1, 60<<10)
	for _, c := range []Compression{CompressionNone, CompressionFast, CompressionDense} {
		small := bytes.Repeat([]byte("ok thanks "), 20) // 200 B: a zstd frame without its content size
		for _, raw := range [][]byte{text, random, {1, 2, 3, 4}, small} {
			blk, err := appendSSTBlock([]byte("prefix"), raw, 0, blockCodec(c))
			require.NoError(t, err)
			require.Equal(t, "prefix", string(blk[:6]))
			info, problem, _ := parseSSTBlock(blk, 6, true)
			require.Empty(t, problem)
			require.EqualValues(t, 6, info.start)
			got, problem := inflateSSTBlock(info, blockRawLimit(0))
			require.Empty(t, problem)
			require.True(t, bytes.Equal(raw, got), "%v", c)
			require.LessOrEqual(t, len(blk)-6, len(raw)+sstBlockTrailerSize)
			if c == CompressionNone || len(raw) < 100 || &raw[0] == &random[0] {
				require.EqualValues(t, blockCodecRaw, info.codec, "%v", c)
			} else if len(raw) < 1000 {
				require.EqualValues(t, blockCodec(c), info.codec, "%v", c)
			} else {
				require.EqualValues(t, blockCodec(c), info.codec, "%v", c)
				require.Less(t, len(info.stored), len(raw)/2, "%v: text should compress 2x", c)
			}
		}
	}
}

// TestCompressionSSTRoundTrip writes the same chat-text and random-value
// entries with every codec: each file reads back equal (get, both scans,
// seeks, verify), text files use the codec and are smaller, random files
// store their blocks raw and are no bigger than without compression.
func TestCompressionSSTRoundTrip(t *testing.T) {
	for _, name := range []string{"text", "random", "mixed"} {
		es := sstTextEntries(3*leafCap + 17)
		switch name {
		case "random":
			es = sstTestEntries(3*leafCap+17, 1, 1, 9, 400)
		case "mixed": // runs of 100 text rows and 100 random rows
			for i := range es {
				if es[i].kind == kindSet && (i/100)%2 == 1 {
					es[i].value = sstTestValue(es[i].seq, len(es[i].value))
				}
			}
		}
		sizes := map[Compression]int{}
		for _, c := range []Compression{CompressionNone, CompressionFast, CompressionDense} {
			fs, data := sstBuildCompressed(t, c, es)
			sizes[c] = len(data)
			r := sstOpen(t, fs, "d", 1)
			require.EqualValues(t, sstFormatVersion, r.hdr.version)
			sstCheckAll(t, r, es)
			codecs := sstBlockCodecs(t, r)
			switch {
			case c == CompressionNone || name == "random":
				require.Equal(t, map[byte]int{blockCodecRaw: codecs[blockCodecRaw]}, codecs, "%s %v", name, c)
				require.Equal(t, (3*leafCap+17+leafCap-1)/leafCap, codecs[blockCodecRaw], "%s %v: one raw block per leaf", name, c)
			case name == "mixed":
				require.Positive(t, codecs[blockCodec(c)], "%s %v: %v", name, c, codecs)
				require.Positive(t, codecs[blockCodecRaw], "%s %v: %v", name, c, codecs)
			default:
				require.Positive(t, codecs[blockCodec(c)], "%s %v: %v", name, c, codecs)
			}
			require.NoError(t, r.close())
		}
		switch name {
		case "text":
			require.Less(t, sizes[CompressionFast], sizes[CompressionNone]*2/3, "%v", sizes)
			require.Less(t, sizes[CompressionDense], sizes[CompressionNone]*2/3, "%v", sizes)
		case "mixed":
			require.Less(t, sizes[CompressionFast], sizes[CompressionNone]*9/10, "%v", sizes)
			require.Less(t, sizes[CompressionDense], sizes[CompressionNone]*9/10, "%v", sizes)
		default:
			require.LessOrEqual(t, sizes[CompressionFast], sizes[CompressionNone], "%v", sizes)
			require.LessOrEqual(t, sizes[CompressionDense], sizes[CompressionNone], "%v", sizes)
		}
		t.Logf("%s: bytes none %d fast %d dense %d", name, sizes[CompressionNone], sizes[CompressionFast], sizes[CompressionDense])
	}
}

// TestCompressionZipBomb forges compressed blocks whose trailer declares a
// raw length above the limit, or below what the stored bytes inflate to:
// both are refused as corrupt, and no buffer beyond the declared length is
// made.
func TestCompressionZipBomb(t *testing.T) {
	big := make([]byte, 1<<20) // zeros: 1 MiB inflates from a few bytes
	for _, codec := range []byte{blockCodecS2, blockCodecZstd} {
		blk, err := appendSSTBlock(nil, big, 0, codec)
		require.NoError(t, err)
		info, problem, _ := parseSSTBlock(blk, 0, true)
		require.Empty(t, problem)
		require.EqualValues(t, codec, info.codec)
		require.Less(t, len(info.stored), 1<<10)

		// Over the limit: refused before decoding.
		_, problem = inflateSSTBlock(info, 64<<10)
		require.Contains(t, problem, "above the limit")

		// Declared smaller than the content (trailer resealed).
		forged := bytes.Clone(blk)
		tr := forged[len(forged)-sstBlockTrailerSize:]
		binary.LittleEndian.PutUint32(tr[8:], 4096)
		crc := checksum(append(bytes.Clone(forged[:len(forged)-sstBlockTrailerSize]), tr[:16]...))
		binary.LittleEndian.PutUint32(tr[16:], crc)
		info, problem, _ = parseSSTBlock(forged, 0, true)
		require.Empty(t, problem)
		out, problem := inflateSSTBlock(info, blockRawLimit(0))
		require.NotEmpty(t, problem, "codec %d", codec)
		require.Nil(t, out)
	}
	// A zstd frame too small to carry its content size, declared smaller
	// than it inflates to: the decoder stops at the declared length.
	small := bytes.Repeat([]byte("ok "), 80)
	blk, err := appendSSTBlock(nil, small, 0, blockCodecZstd)
	require.NoError(t, err)
	info, problem, _ := parseSSTBlock(blk, 0, false)
	require.Empty(t, problem)
	require.EqualValues(t, blockCodecZstd, info.codec)
	info.rawLen = 100
	out, problem := inflateSSTBlock(info, blockRawLimit(0))
	require.NotEmpty(t, problem)
	require.Nil(t, out)
	info.rawLen = uint64(len(small))
	out, problem = inflateSSTBlock(info, blockRawLimit(0))
	require.Empty(t, problem)
	require.Equal(t, small, out)

	// An S2 stream whose own header declares more than the trailer.
	stored := s2.Encode(nil, big)
	_, problem = inflateSSTBlock(sstBlockInfo{codec: blockCodecS2, rawLen: 10, stored: stored}, blockRawLimit(0))
	require.Contains(t, problem, "declared length")
}

// TestCompressionCorruptSST flips bytes across a compressed file (blocks,
// trailers, leaves): every read either returns the right rows or
// ErrCorrupted naming the file, and verify reports every flip.
func TestCompressionCorruptSST(t *testing.T) {
	es := sstTextEntries(2*leafCap + 40)
	for _, c := range []Compression{CompressionFast, CompressionDense} {
		fs, data := sstBuildCompressed(t, c, es)
		r := sstOpen(t, fs, "d", 1)
		require.Positive(t, sstBlockCodecs(t, r)[blockCodec(c)])
		treeEnd := r.hdr.treeEnd
		require.NoError(t, r.close())
		rng := rand.New(rand.NewPCG(uint64(c), 9))
		for i := 0; i < 150; i++ {
			d := bytes.Clone(data)
			at := sstHeaderSize + rng.IntN(int(treeEnd)-sstHeaderSize)
			d[at] ^= byte(1 + rng.IntN(255))
			require.NoError(t, fs.writeFile("d/000001.sst", d))
			what := fmt.Sprintf("%v flip at %d", c, at)
			require.True(t, sstCheckDamaged(t, fs, es, false, what), what)
		}
	}
}

// TestCompressionTableQueriesEqual fills three tables with the same chat
// rows, one per codec, flushes them into several SSTs and compacts: Get,
// full scan, an index query, last-N, a _time range and Count agree, and
// the compressed tables take less disk.
func TestCompressionTableQueriesEqual(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	type result struct {
		disk int64
		dump []string
	}
	results := map[Compression]result{}
	for _, c := range []Compression{CompressionNone, CompressionFast, CompressionDense} {
		dir := filepath.Join(t.TempDir(), c.String())
		opts := DefaultOptions()
		opts.Compression = c
		opts.DisableAutoCompaction = true
		db, err := Open(dir, opts)
		require.NoError(t, err)
		s, err := NewSchema("chat", []Field{
			{Name: "channel_id", Type: String, Indexed: true},
			{Name: "body", Type: String},
		})
		require.NoError(t, err)
		tbl, err := db.CreateTable("chat", s)
		require.NoError(t, err)
		const n = 3000
		for k := int64(1); k <= n; k++ {
			_, err := tbl.Insert(map[string]any{"_time": base.Add(time.Duration(k) * time.Second),
				"channel_id": fmt.Sprintf("ch-%d", k%13), "body": chatText(k)})
			require.NoError(t, err)
			if k%1000 == 0 {
				require.NoError(t, tbl.Flush())
			}
		}
		for k := int64(5); k <= n; k += 50 {
			require.NoError(t, tbl.Delete(k))
		}
		require.NoError(t, tbl.Flush())
		require.NoError(t, tbl.Compact())

		var dump []string
		add := func(what string, rows *Rows, err error) {
			require.NoError(t, err)
			for rows.Next() {
				dump = append(dump, fmt.Sprintf("%s %d %v %v", what, rows.Row().Seq(), rows.Row().Time().UnixNano(), rows.Row().Data()))
			}
			require.NoError(t, rows.Err())
			require.NoError(t, rows.Close())
		}
		for k := int64(1); k <= n; k += 7 {
			row, err := tbl.Get(k)
			if err != nil {
				require.ErrorIs(t, err, ErrNotFound)
				dump = append(dump, fmt.Sprintf("get %d missing", k))
				continue
			}
			dump = append(dump, fmt.Sprintf("get %d %v", k, row.Data()))
		}
		rows, err := tbl.Query().Rows()
		add("scan", rows, err)
		rows, err = tbl.Query().Eq("channel_id", "ch-3").Rows()
		add("eq", rows, err)
		rows, err = tbl.Query().Eq("channel_id", "ch-5").OrderByDesc("_seq").Limit(20).Rows()
		add("last20", rows, err)
		rows, err = tbl.Query().Between("_time", base.Add(1000*time.Second), base.Add(1100*time.Second)).Rows()
		add("time", rows, err)
		cnt, err := tbl.Query().Contains("body", "meeting").Count()
		require.NoError(t, err)
		dump = append(dump, fmt.Sprintf("count %d", cnt))
		require.NoError(t, db.Check())
		m := db.Metrics().Tables[0]
		if c != CompressionNone {
			require.Positive(t, m.BlockCacheHits, "a scan stays in its block")
			require.Positive(t, m.BlockCacheMisses)
			require.Positive(t, m.BlockCacheBytes)
			require.LessOrEqual(t, m.BlockCacheBytes, int64(blockCacheBytes))
		} else {
			require.Zero(t, m.BlockCacheHits+m.BlockCacheMisses+m.BlockCacheBytes)
		}
		results[c] = result{disk: m.DiskBytes, dump: dump}
		require.NoError(t, db.Close())
	}
	none := results[CompressionNone]
	require.Greater(t, len(none.dump), 3000)
	for _, c := range []Compression{CompressionFast, CompressionDense} {
		require.Equal(t, none.dump, results[c].dump, "%v", c)
		require.Less(t, results[c].disk, none.disk*2/3, "%v", c)
	}
	t.Logf("disk: none %d fast %d dense %d", none.disk, results[CompressionFast].disk, results[CompressionDense].disk)
}

// TestCompressionMixedLevels changes a table's codec between flushes (none,
// fast, dense, back to none): the files of every codec are read side by
// side, the options survive a reopen, and a compaction rewrites everything
// with the current codec.
func TestCompressionMixedLevels(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := NewSchema("m", faultFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	codecs := []Compression{CompressionDefault, CompressionFast, CompressionDense, CompressionNone, CompressionFast}
	k := int64(0)
	for _, c := range codecs {
		require.NoError(t, tbl.SetOptions(TableOptions{MaxBytes: 1 << 40, Compression: c}))
		require.Equal(t, c, tbl.Options().Compression)
		for i := 0; i < 300; i++ {
			k++
			_, err := tbl.Insert(faultRow(k))
			require.NoError(t, err)
		}
		require.NoError(t, tbl.Flush())
	}
	check := func(tbl *Table) {
		for j := int64(1); j <= k; j++ {
			row, err := tbl.Get(j)
			require.NoError(t, err)
			v, _ := row.Get("payload")
			require.Equal(t, faultRow(j)["payload"], v, "row %d", j)
		}
		n, err := tbl.Query().Count()
		require.NoError(t, err)
		require.EqualValues(t, k, n)
	}
	fileCodecs := func(tbl *Table) map[byte]int {
		out := map[byte]int{}
		rs, err := tbl.pin()
		require.NoError(t, err)
		defer rs.release()
		for _, level := range rs.v.levels {
			for _, f := range level {
				r, err := tbl.cache.get(f.num)
				require.NoError(t, err)
				for c, n := range sstBlockCodecs(t, r) {
					out[c] += n
				}
			}
		}
		return out
	}
	check(tbl)
	mixed := fileCodecs(tbl)
	require.Positive(t, mixed[blockCodecRaw])
	require.Positive(t, mixed[blockCodecS2])
	require.Positive(t, mixed[blockCodecZstd])
	require.NoError(t, db.Close())

	db, err = Open(dir, opts)
	require.NoError(t, err)
	tbl, err = db.Table("m")
	require.NoError(t, err)
	require.Equal(t, TableOptions{MaxBytes: 1 << 40, Compression: CompressionFast}, tbl.Options())
	check(tbl)
	require.NoError(t, tbl.SetOptions(TableOptions{Compression: CompressionDense}))
	require.NoError(t, tbl.Compact())
	check(tbl)
	after := fileCodecs(tbl)
	require.Zero(t, after[blockCodecS2], "%v", after)
	require.Positive(t, after[blockCodecZstd], "%v", after)
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())
}

// TestCompressionOptionsValidation: unknown codecs are refused with a
// typed error naming the table, and Options.Compression is inherited.
func TestCompressionOptionsValidation(t *testing.T) {
	opts := DefaultOptions()
	opts.Compression = CompressionDense + 1
	_, err := Open(t.TempDir(), opts)
	var e *Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, CodeInvalidArgument, e.Code)

	opts.Compression = CompressionDense
	db, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("m", faultFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	require.Equal(t, CompressionDense, tbl.compression())
	require.NoError(t, tbl.SetOptions(TableOptions{Compression: CompressionFast}))
	require.Equal(t, CompressionFast, tbl.compression())
	err = tbl.SetOptions(TableOptions{Compression: 9})
	require.True(t, errors.As(err, &e))
	require.Equal(t, CodeInvalidArgument, e.Code)
	require.Equal(t, "m", e.Table)
	require.Equal(t, CompressionFast, tbl.Options().Compression)
	require.Equal(t, "fast", CompressionFast.String())
	require.Equal(t, "compression(9)", Compression(9).String())
}

// TestCompressionTableOptionsEncoding: options without a codec encode as
// version 1 (byte-identical to the encoding before compression), with one
// as version 2; both decode; a version-2 value with a bad codec is refused.
func TestCompressionTableOptionsEncoding(t *testing.T) {
	old := []byte{1, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0x05} // MaxAge 1s, MaxBytes 5, as encoded before
	o, err := decodeTableOptions(old, "MANIFEST-000001")
	require.NoError(t, err)
	require.Equal(t, TableOptions{MaxAge: time.Second, MaxBytes: 5}, o)
	require.Equal(t, old, encodeTableOptions(o))
	for _, c := range []Compression{CompressionNone, CompressionFast, CompressionDense} {
		o.Compression = c
		b := encodeTableOptions(o)
		require.EqualValues(t, 2, b[0])
		got, err := decodeTableOptions(b, "MANIFEST-000001")
		require.NoError(t, err)
		require.Equal(t, o, got)
	}
	for _, bad := range [][]byte{{2, 0, 0}, {2, 0, 0, 0}, {2, 0, 0, 4}, {2, 0, 0, 1, 0}, {3, 0, 0, 1}} {
		_, err := decodeTableOptions(bad, "MANIFEST-000001")
		require.Error(t, err, "%x", bad)
		var e *Error
		require.True(t, errors.As(err, &e))
		require.Equal(t, CodeCorrupted, e.Code)
	}
}

// TestCompressionBlockCacheBounded: a cache never holds more than its
// capacity, evicts least recently used first, and dropFile forgets a
// file's blocks; a value taken from an evicted block keeps its bytes.
func TestCompressionBlockCacheBounded(t *testing.T) {
	c := newBlockCache(10)
	a := []byte("aaaa")
	c.put(blockKey{1, 1}, a)
	c.put(blockKey{1, 2}, []byte("bbbb"))
	_, ok := c.get(blockKey{1, 1}) // 1/1 is now the most recent
	require.True(t, ok)
	c.put(blockKey{2, 1}, []byte("cccc"))
	require.EqualValues(t, 8, c.bytes.Load())
	_, ok = c.get(blockKey{1, 2})
	require.False(t, ok, "least recently used evicted")
	c.put(blockKey{3, 1}, make([]byte, 11)) // larger than the cache: not cached
	require.EqualValues(t, 8, c.bytes.Load())
	c.dropFile(1)
	_, ok = c.get(blockKey{1, 1})
	require.False(t, ok)
	require.EqualValues(t, 4, c.bytes.Load())
	require.Equal(t, "aaaa", string(a))
	var nilCache *blockCache
	nilCache.put(blockKey{1, 1}, a)
	_, ok = nilCache.get(blockKey{1, 1})
	require.False(t, ok)
	require.True(t, reflect.DeepEqual(c.hits.Load(), int64(1)))
}

// FuzzDecodeBlock feeds arbitrary bytes to the block parser and decoder with
// a small raw-size limit: no panic, a raw block is returned in place, and a
// decoded block is exactly its declared length and never above the limit.
func FuzzDecodeBlock(f *testing.F) {
	text := []byte(chatText(1) + chatText(2) + chatText(3))
	for _, codec := range []byte{blockCodecRaw, blockCodecS2, blockCodecZstd} {
		b, err := appendSSTBlock(nil, text, 0, codec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	big, _ := appendSSTBlock(nil, make([]byte, 1<<20), 0, blockCodecZstd)
	f.Add(big, false)
	const limit = 4096
	f.Fuzz(func(t *testing.T, b []byte, checkCRC bool) {
		info, problem, at := parseSSTBlock(b, 0, checkCRC)
		if problem != "" {
			if at < 0 || at > int64(len(b)) {
				t.Fatalf("problem %q at %d outside %d bytes", problem, at, len(b))
			}
			return
		}
		raw, problem := inflateSSTBlock(info, limit)
		if problem != "" {
			return
		}
		if uint64(len(raw)) != info.rawLen {
			t.Fatalf("decoded %d bytes, declared %d", len(raw), info.rawLen)
		}
		if info.codec != blockCodecRaw && len(raw) > limit {
			t.Fatalf("decoded %d bytes past the limit", len(raw))
		}
	})
}

// TestCompressionConcurrentReads runs Gets and scans of a compressed table
// from several goroutines (the block cache is shared; run with -race).
func TestCompressionConcurrentReads(t *testing.T) {
	opts := DefaultOptions()
	opts.Compression = CompressionFast
	db, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("m", faultFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	const n = 2000
	for k := int64(1); k <= n; k++ {
		_, err := tbl.Insert(faultRow(k))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 3; i++ {
				for k := int64(1 + g); k <= n; k += 37 {
					row, err := tbl.Get(k)
					if err != nil {
						errs <- err
						return
					}
					if v, _ := row.Get("msg_id"); v != k {
						errs <- fmt.Errorf("row %d has msg_id %v", k, v)
						return
					}
				}
				cnt, err := tbl.Query().Count()
				if err == nil && cnt != n {
					err = fmt.Errorf("count %d", cnt)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		require.NoError(t, <-errs)
	}
}

// TestCompressionIteratorKeepsBlock: a forward scan of a compressed file
// looks each block up once (one cache miss per block, no hit: the iterator
// keeps its current block for every value in it), a backward scan finds
// each block in the cache once (but the one it holds), and Gets of rows of one block decompress
// it once.
func TestCompressionIteratorKeepsBlock(t *testing.T) {
	es := sstTextEntries(3*leafCap + 17)
	fs, _ := sstBuildCompressed(t, CompressionFast, es)
	r := sstOpen(t, fs, "d", 1)
	blocks := sstBlockCodecs(t, r)[blockCodecS2]
	require.Greater(t, blocks, 10)
	r.blocks = newBlockCache(blockCacheBytes)
	it := r.newIter()
	n := 0
	for ok := it.first(); ok; ok = it.next() {
		require.NotNil(t, it.value())
		n++
	}
	require.NoError(t, it.err())
	require.Equal(t, len(es), n)
	require.EqualValues(t, blocks, r.blocks.misses.Load(), "one decompression per block")
	require.Zero(t, r.blocks.hits.Load(), "values of the current block come from the iterator")
	for ok := it.last(); ok; ok = it.prev() {
		require.NotNil(t, it.value())
	}
	require.NoError(t, it.err())
	require.EqualValues(t, blocks, r.blocks.misses.Load())
	// The iterator still holds the last block from the forward scan.
	require.EqualValues(t, blocks-1, r.blocks.hits.Load(), "a backward scan finds each other block once")
	for _, e := range es[:20] {
		_, _, found, err := r.get(e.seq)
		require.NoError(t, err)
		require.True(t, found)
	}
	require.EqualValues(t, blocks, r.blocks.misses.Load(), "Gets hit the cached blocks")
	require.NoError(t, r.close())
}
