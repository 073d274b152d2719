package srdb

import (
	"fmt"
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
