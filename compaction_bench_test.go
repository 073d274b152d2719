package srdb

import (
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Compaction benchmarks (docs/BENCHMARKS.md "## Compaction"). They ingest
// a million rows of the IM workload per iteration, so run them
// alone with -benchtime=1x, e.g.
//
//	go test -run '^$' -bench 'BenchmarkCompaction' -benchtime 1x -count 3 -timeout 60m
//
// SRDB_BENCH_ROWS overrides the row count.

// compactionBenchRows returns the number of rows per iteration.
func compactionBenchRows(b *testing.B) int {
	if s := os.Getenv("SRDB_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("SRDB_BENCH_ROWS=%q", s)
		}
		return n
	}
	return 1_000_000
}

// imBenchRow fills row with IM row i (1,000 channels, a ~200-byte
// payload, about 240 logical bytes) and returns its logical size: the bytes
// of the field values plus 16 for _seq and _time. row and payload are
// reused: Insert encodes the row before it returns.
func imBenchRow(row map[string]any, payload []byte, rng *rand.Rand, i int64) int {
	ch := "ch-" + strconv.Itoa(int(i%1000))
	uid := "u" + strconv.Itoa(int(i%5000))
	rng.Read(payload)
	row["channel_id"] = ch
	row["from_uid"] = uid
	row["msg_id"] = i
	row["msg_type"] = uint8(i % 4)
	row["payload"] = payload
	return len(ch) + len(uid) + 8 + 1 + len(payload) + 16
}

const imBenchPayload = 200

// compactionBenchIngest inserts n IM rows one Insert each (1 goroutine) and,
// when updates > 0, that many random Updates of earlier rows spread over
// the run. It returns the logical bytes inserted.
func compactionBenchIngest(b *testing.B, tbl *Table, n, updates int) int64 {
	rng := rand.New(rand.NewSource(1))
	row := map[string]any{}
	payload := make([]byte, imBenchPayload)
	var logical int64
	every := 0
	if updates > 0 {
		every = n / updates
	}
	for i := 1; i <= n; i++ {
		logical += int64(imBenchRow(row, payload, rng, int64(i)))
		if _, err := tbl.Insert(row); err != nil {
			b.Fatal(err)
		}
		if every > 0 && i%every == 0 {
			seq := rng.Int63n(int64(i)) + 1
			if err := tbl.Update(seq, map[string]any{"msg_type": uint8(9)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return logical
}

// getLatencies returns the p50 and p99 of Get of random seqs in [1, n].
func getLatencies(b *testing.B, tbl *Table, n, samples int) (p50, p99 time.Duration) {
	rng := rand.New(rand.NewSource(2))
	d := make([]time.Duration, samples)
	for i := range d {
		seq := rng.Int63n(int64(n)) + 1
		start := time.Now()
		if _, err := tbl.Get(seq); err != nil {
			b.Fatal(err)
		}
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[samples/2], d[samples*99/100]
}

func fileCount(st TableStats) int {
	n := 0
	for _, ls := range st.Levels {
		n += len(ls.Files)
	}
	return n
}

// BenchmarkCompactionIngest ingests 1M IM rows with auto compaction on and
// off (default options otherwise: 16 MiB memtables, DurabilityInterval),
// append-only and with 10% random Updates. It reports insert throughput
// (until the last Insert returns), the files left once flushed and
// compacted, and the p50/p99 of Get afterwards.
func BenchmarkCompactionIngest(b *testing.B) {
	n := compactionBenchRows(b)
	for _, wl := range []struct {
		name    string
		updates int
	}{{"append", 0}, {"update10pct", n / 10}} {
		for _, auto := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/auto=%v", wl.name, auto), func(b *testing.B) {
				for it := 0; it < b.N; it++ {
					b.StopTimer()
					o := DefaultOptions()
					o.DisableAutoCompaction = !auto
					db, err := Open(b.TempDir(), o)
					if err != nil {
						b.Fatal(err)
					}
					s, _ := NewSchema("messages", imTableFields())
					tbl, err := db.CreateTable("messages", s)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					start := time.Now()
					compactionBenchIngest(b, tbl, n, wl.updates)
					ingest := time.Since(start)
					b.StopTimer()
					if err := tbl.Flush(); err != nil {
						b.Fatal(err)
					}
					tbl.waitForCompactions()
					st := tbl.Stats()
					p50, p99 := getLatencies(b, tbl, n, 20_000)
					b.ReportMetric(float64(n)/ingest.Seconds(), "rows/s")
					b.ReportMetric(float64(fileCount(st)), "files")
					b.ReportMetric(float64(len(st.Levels[0].Files)), "L0-files")
					b.ReportMetric(float64(p50.Nanoseconds())/1e3, "get-p50-µs")
					b.ReportMetric(float64(p99.Nanoseconds())/1e3, "get-p99-µs")
					b.ReportMetric(st.Compaction.WriteAmplification, "write-amp")
					b.ReportMetric(float64(st.Compaction.WriteStalls), "stalls")
					b.Logf("%s auto=%v: %d rows in %v; levels %v; compactions %d (moves %d), wrote %d MB",
						wl.name, auto, n, ingest, levelFileCounts(st), st.Compaction.Count,
						st.Compaction.Moves, st.Compaction.BytesWritten>>20)
					if err := db.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func levelFileCounts(st TableStats) []int {
	out := make([]int, len(st.Levels))
	for i, ls := range st.Levels {
		out[i] = len(ls.Files)
	}
	return out
}

// BenchmarkCompactionFull measures Compact on 1M IM rows (ingested with
// auto compaction off, 10% of them updated and 5% deleted, then flushed):
// input MB/s, and the disk bytes per row afterwards against the logical
// and the encoded (ROW1) row bytes.
func BenchmarkCompactionFull(b *testing.B) {
	n := compactionBenchRows(b)
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		o := DefaultOptions()
		o.DisableAutoCompaction = true
		db, err := Open(b.TempDir(), o)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := NewSchema("messages", imTableFields())
		tbl, err := db.CreateTable("messages", s)
		if err != nil {
			b.Fatal(err)
		}
		logical := compactionBenchIngest(b, tbl, n, n/10)
		rng := rand.New(rand.NewSource(3))
		deleted := map[int64]bool{}
		for len(deleted) < n/20 {
			seq := rng.Int63n(int64(n)) + 1
			if deleted[seq] {
				continue
			}
			deleted[seq] = true
			if err := tbl.Delete(seq); err != nil {
				b.Fatal(err)
			}
		}
		if err := tbl.Flush(); err != nil {
			b.Fatal(err)
		}
		before := tbl.Stats()
		b.StartTimer()
		start := time.Now()
		if err := tbl.Compact(); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		after := tbl.Stats()
		live := after.Rows
		// Logical bytes of the live rows: every row has the same shape
		// but for the lengths of channel_id and from_uid; scale.
		liveLogical := float64(logical) * float64(live) / float64(n)
		var row1 int64
		v := tbl.vs.current()
		for _, f := range v.allFiles() {
			row1 += int64(f.rawRowBytes)
		}
		v.unref()
		b.ReportMetric(float64(before.DiskBytes)/1e6/took.Seconds(), "MB/s")
		b.ReportMetric(float64(after.DiskBytes)/float64(live), "disk-B/row")
		b.ReportMetric(liveLogical/float64(live), "logical-B/row")
		b.ReportMetric(float64(row1)/float64(live), "row1-B/row")
		b.ReportMetric(float64(after.DiskBytes)/liveLogical, "disk/logical")
		b.Logf("Compact: %d MB in %d files -> %d MB in %d files (%v) in %v; %d live rows",
			before.DiskBytes>>20, fileCount(before), after.DiskBytes>>20, fileCount(after),
			levelFileCounts(after), took, live)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
