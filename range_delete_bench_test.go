package srdb

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// rdBenchOpen opens a DurabilitySync database in a temp dir on the real
// file system with table "m" (channel indexed, a text payload).
func rdBenchOpen(b *testing.B) (*Database, *Table) {
	b.Helper()
	o := DefaultOptions()
	o.Durability = DurabilitySync
	o.RetentionInterval = time.Hour
	db, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSchema("m", []Field{
		{Name: "channel", Type: String, Indexed: true},
		{Name: "body", Type: String},
	})
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := db.CreateTable("m", s)
	if err != nil {
		b.Fatal(err)
	}
	return db, tbl
}

// rdBenchFill inserts n rows of channel ch, interleaved with as many rows of
// other channels, in batches of 1,000.
func rdBenchFill(b *testing.B, tbl *Table, ch string, n int) {
	b.Helper()
	rows := make([]map[string]any, 0, 1000)
	for i := 0; i < 2*n; i++ {
		c := ch
		if i%2 == 1 {
			c = fmt.Sprintf("other-%d", i%97)
		}
		rows = append(rows, map[string]any{"channel": c, "body": "a message of a chat channel, about sixty bytes long"})
		if len(rows) == cap(rows) || i == 2*n-1 {
			if _, err := tbl.Insert(rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
}

// BenchmarkTruncateChannel deletes the 5,000 rows of one channel (spread
// among as many rows of other channels) in DurabilitySync mode: with one
// Query.Delete (one WAL record, one fsync) and, for reference, with a
// Delete per row (5,000 fsyncs, measured on 500 rows and scaled in the
// metric). The goal: Query.Delete of 5,000 rows in ≤ 10 ms.
func BenchmarkTruncateChannel(b *testing.B) {
	const rows = 5000
	b.Run("QueryDelete", func(b *testing.B) {
		db, tbl := rdBenchOpen(b)
		defer db.Close()
		i := 0
		for b.Loop() {
			b.StopTimer()
			ch := fmt.Sprintf("ch-%d", i)
			i++
			rdBenchFill(b, tbl, ch, rows)
			b.StartTimer()
			n, err := tbl.Query().Eq("channel", ch).Delete()
			if err != nil || n != rows {
				b.Fatal(n, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/truncate")
	})
	b.Run("DeletePerRow", func(b *testing.B) {
		const sample = 500
		db, tbl := rdBenchOpen(b)
		defer db.Close()
		i := 0
		for b.Loop() {
			b.StopTimer()
			ch := fmt.Sprintf("ch-%d", i)
			i++
			rdBenchFill(b, tbl, ch, sample)
			seqs, err := tbl.Query().Eq("channel", ch).Select("_seq").Rows()
			if err != nil {
				b.Fatal(err)
			}
			var list []int64
			for seqs.Next() {
				list = append(list, seqs.Row().Seq())
			}
			seqs.Close()
			b.StartTimer()
			for _, s := range list {
				if err := tbl.Delete(s); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000*rows/sample, "ms/truncate")
	})
}

// BenchmarkDeleteBeforeHalf is the lifecycle figure of docs/BENCHMARKS.md:
// 1M IM rows over 10 simulated days (1,000 channels), then DeleteBefore of
// the oldest 5 days. It reports the share of the SST bytes returned at once
// (whole files dropped) and after one compaction cycle, and Get and
// last-20-of-a-channel latencies before and after. Run it once:
//
//	go test -run '^$' -bench BenchmarkDeleteBeforeHalf -benchtime 1x .
func BenchmarkDeleteBeforeHalf(b *testing.B) {
	const (
		rows     = 1_000_000
		channels = 1000
		span     = 10 * 24 * time.Hour
	)
	for range b.N {
		b.StopTimer()
		o := DefaultOptions()
		o.RetentionInterval = time.Hour
		db, err := Open(b.TempDir(), o)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := NewSchema("m", []Field{{Name: "channel", Type: String, Indexed: true}, {Name: "body", Type: String}})
		tbl, err := db.CreateTable("m", s)
		if err != nil {
			b.Fatal(err)
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		batch := make([]map[string]any, 0, 1000)
		for i := 0; i < rows; i++ {
			batch = append(batch, map[string]any{
				"channel": fmt.Sprintf("ch-%04d", i%channels),
				"body":    fmt.Sprintf("message %d of the channel, some text of about sixty bytes", i),
				"_time":   base.Add(time.Duration(int64(span) / rows * int64(i))),
			})
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
		tbl.waitForCompactions()
		reads := func(lo int64) (getP50, last20P50 time.Duration) {
			var gets, lasts []time.Duration
			for i := 0; i < 20000; i++ {
				seq := lo + int64(i*7919)%(rows-lo+1)
				t0 := time.Now()
				if _, err := tbl.Get(seq); err != nil {
					b.Fatal(err)
				}
				gets = append(gets, time.Since(t0))
			}
			for i := 0; i < 2000; i++ {
				t0 := time.Now()
				rs, err := tbl.Query().Eq("channel", fmt.Sprintf("ch-%04d", i*7%channels)).OrderByDesc("_seq").Limit(20).Rows()
				if err != nil {
					b.Fatal(err)
				}
				for rs.Next() {
				}
				rs.Close()
				lasts = append(lasts, time.Since(t0))
			}
			return median(gets), median(lasts)
		}
		before := tbl.Stats().DiskBytes
		getBefore, lastBefore := reads(rows/2 + 1)
		b.StartTimer()
		t0 := time.Now()
		if err := tbl.DeleteBefore(base.Add(span / 2)); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		b.StopTimer()
		atOnce := tbl.Stats().DiskBytes
		tbl.maybeScheduleCompaction()
		tbl.waitForCompactions()
		after := tbl.Stats().DiskBytes
		getAfter, lastAfter := reads(rows/2 + 1)
		b.ReportMetric(100*float64(before-atOnce)/float64(before), "%freed-at-once")
		b.ReportMetric(100*float64(before-after)/float64(before), "%freed-after-compaction")
		b.ReportMetric(float64(took.Milliseconds()), "ms-DeleteBefore")
		b.ReportMetric(float64(getBefore.Nanoseconds()), "get-p50-ns-before")
		b.ReportMetric(float64(getAfter.Nanoseconds()), "get-p50-ns-after")
		b.ReportMetric(float64(lastBefore.Microseconds()), "last20-p50-us-before")
		b.ReportMetric(float64(lastAfter.Microseconds()), "last20-p50-us-after")
		b.Logf("SST bytes: %d before, %d right after DeleteBefore, %d after compaction", before, atOnce, after)
		db.Close()
		b.StartTimer()
	}
}

// median returns the median of d (which it sorts).
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
