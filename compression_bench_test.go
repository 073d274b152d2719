package srdb

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// compressionBenchRow returns the IM-like row k: a channel, a sender, a
// message id and a 20–400 byte body, chat text or random bytes of the
// same length.
func compressionBenchRow(k int64, random bool) map[string]any {
	body := []byte(chatText(k))
	if random {
		body = sstTestValue(k, len(body))
	}
	return map[string]any{
		"channel_id": fmt.Sprintf("ch-%d", k%500),
		"from_uid":   fmt.Sprintf("u%d", k%10007),
		"msg_id":     k,
		"body":       body,
	}
}

// compressionBenchFields is the schema of compressionBenchRow.
func compressionBenchFields() []Field {
	return []Field{
		{Name: "channel_id", Type: String, Indexed: true},
		{Name: "from_uid", Type: String},
		{Name: "msg_id", Type: Int64},
		{Name: "body", Type: Bytes},
	}
}

// compressionBenchBlock returns about 64 KiB of a leaf's raw records
// (CRC, ROW1 row) of consecutive IM rows; a table with a codec compresses
// them in blocks of sstBlockTarget.
func compressionBenchBlock(b *testing.B, random bool) []byte {
	types := []FieldType{String, String, Int64, Bytes}
	var blk []byte
	for k := int64(1); len(blk) < 64<<10; k++ {
		r := compressionBenchRow(k, random)
		blk = append(blk, byte(k), byte(k>>8), 0x5a, 0xa5) // a CRC's worth of noise
		var err error
		if blk, err = encodeRow(blk, k, 1_700_000_000_000_000_000+k*1e9, types,
			[]any{r["channel_id"], r["from_uid"], r["msg_id"], r["body"]}); err != nil {
			b.Fatal(err)
		}
	}
	return blk
}

// BenchmarkBlockCodec measures the candidate codecs on data blocks of IM rows
// (chat text or random bodies) of 8 KiB (Fast), 16 KiB (Dense) and 64 KiB: MB/s of
// raw bytes encoded and decoded, and the stored/raw ratio. S2 (s2.Encode)
// is CompressionFast and zstd SpeedDefault is CompressionDense
// (docs/BENCHMARKS.md).
func BenchmarkBlockCodec(b *testing.B) {
	zfast, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
	zdef, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
	zdec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	s2dec := func(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }
	zstdDec := func(dst, src []byte) ([]byte, error) { return zdec.DecodeAll(src, dst[:0]) }
	codecs := []benchCodec{
		{"s2", s2.Encode, s2dec},
		{"s2-better", s2.EncodeBetter, s2dec},
		{"snappy", s2.EncodeSnappy, s2dec},
		{"zstd-fastest", func(dst, src []byte) []byte { return zfast.EncodeAll(src, dst[:0]) }, zstdDec},
		{"zstd-default", func(dst, src []byte) []byte { return zdef.EncodeAll(src, dst[:0]) }, zstdDec},
	}
	for _, payload := range []string{"text", "random"} {
		for _, size := range []int{8 << 10, 16 << 10, 64 << 10} {
			raw := compressionBenchBlock(b, payload == "random")[:size]
			compressionBenchCodecs(b, fmt.Sprintf("%s/%dK", payload, size>>10), raw, codecs)
		}
	}
}

// benchCodec is one codec BenchmarkBlockCodec measures.
type benchCodec struct {
	name string
	enc  func(dst, src []byte) []byte
	dec  func(dst, src []byte) ([]byte, error)
}

// compressionBenchCodecs runs the encode and decode benchmarks of every
// codec on raw, named prefix/codec/op.
func compressionBenchCodecs(b *testing.B, prefix string, raw []byte, codecs []benchCodec) {
	{
		payload := prefix
		for _, c := range codecs {
			stored := c.enc(make([]byte, s2.MaxEncodedLen(len(raw))), raw)
			stored = append([]byte(nil), stored...)
			ratio := float64(len(stored)) / float64(len(raw))
			b.Run(payload+"/"+c.name+"/encode", func(b *testing.B) {
				dst := make([]byte, s2.MaxEncodedLen(len(raw)))
				b.SetBytes(int64(len(raw)))
				for i := 0; i < b.N; i++ {
					c.enc(dst, raw)
				}
				b.ReportMetric(ratio, "stored/raw")
			})
			b.Run(payload+"/"+c.name+"/decode", func(b *testing.B) {
				dst := make([]byte, 0, len(raw))
				b.SetBytes(int64(len(raw)))
				for i := 0; i < b.N; i++ {
					if _, err := c.dec(dst, stored); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ratio, "stored/raw")
			})
		}
	}
}

// BenchmarkCompressionDiskPerRow inserts 200k IM rows (chat text or random
// bodies) into a table of each codec, flushes and compacts, then reports
// disk bytes per row (live SSTs), the logical row bytes per row, a
// filtered full scan (rows/s) and Get(seq) after reopen (mean and p99 ns).
// One iteration is one whole run; use -benchtime=1x -count=3.
func BenchmarkCompressionDiskPerRow(b *testing.B) {
	const rows = 200_000
	for _, payload := range []string{"text", "random"} {
		for _, c := range []Compression{CompressionNone, CompressionFast, CompressionDense} {
			b.Run(payload+"/"+c.String(), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					compressionBenchRun(b, rows, payload == "random", c)
				}
			})
		}
	}
}

func compressionBenchRun(b *testing.B, rows int64, random bool, c Compression) {
	b.StopTimer()
	dir := filepath.Join(b.TempDir(), "db")
	opts := DefaultOptions()
	opts.Compression = c
	db, err := Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSchema("im", compressionBenchFields())
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := db.CreateTable("im", s)
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]any, 0, 1000)
	var logical int64
	start := time.Now()
	for k := int64(1); k <= rows; k++ {
		batch = append(batch, compressionBenchRow(k, random))
		if len(batch) == cap(batch) {
			if _, err := tbl.Insert(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := tbl.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := tbl.Compact(); err != nil {
		b.Fatal(err)
	}
	ingest := time.Since(start)
	m := db.Metrics().Tables[0]
	rs, err := tbl.pin()
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range rs.v.levels {
		for _, f := range level {
			logical += int64(f.rawRowBytes)
		}
	}
	rs.release()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	db, err = Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tbl, err = db.Table("im")
	if err != nil {
		b.Fatal(err)
	}
	scanStart := time.Now()
	n, err := tbl.Query().Eq("from_uid", "u7").Count()
	if err != nil || n == 0 {
		b.Fatal(n, err)
	}
	scan := time.Since(scanStart)
	lat := make([]time.Duration, 0, 20000)
	for k := int64(1); k <= 20000; k++ {
		seq := 1 + (k*7919)%rows
		t0 := time.Now()
		if _, err := tbl.Get(seq); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(m.DiskBytes)/float64(rows), "disk-B/row")
	b.ReportMetric(float64(logical)/float64(rows), "row-B/row")
	b.ReportMetric(float64(rows)/ingest.Seconds(), "ingest-rows/s")
	b.ReportMetric(float64(rows)/scan.Seconds(), "scan-rows/s")
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "get-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "get-p99-ns")
}
