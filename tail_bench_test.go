package srdb

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchTailTable opens a database in a temporary directory (DurabilityInterval,
// the default) with the IM table.
func benchTailTable(b *testing.B) (*Database, *Table) {
	b.Helper()
	db, err := Open(b.TempDir(), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := NewSchema("messages", imTableFields())
	tbl, err := db.CreateTable("messages", s)
	if err != nil {
		b.Fatal(err)
	}
	return db, tbl
}

// BenchmarkTailLatency measures the delay from Insert's return to the
// delivery of its row by tails waiting in Next, with 1, 8 and 64 tails: one
// row per op, inserted once every tail delivered the previous one (each
// row wakes idle tails). It reports the median and 99th percentile over
// every (row, tail) pair; a tail that delivers before Insert returned (the
// row is visible a moment before) counts 0.
//
//	go test -run '^$' -bench BenchmarkTailLatency -benchtime 2000x .
func BenchmarkTailLatency(b *testing.B) {
	rows := benchIMRows(1024)
	for _, tails := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("tails=%d", tails), func(b *testing.B) {
			db, tbl := benchTailTable(b)
			defer db.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			delivered := make([][]time.Time, tails) // per tail, by seq-1
			step := make(chan struct{}, tails)
			var wg sync.WaitGroup
			for i := 0; i < tails; i++ {
				r, err := tbl.Tail(ctx, 1)
				if err != nil {
					b.Fatal(err)
				}
				delivered[i] = make([]time.Time, 0, b.N)
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					defer r.Close()
					for len(delivered[i]) < b.N && r.Next() {
						delivered[i] = append(delivered[i], time.Now())
						step <- struct{}{}
					}
				}(i)
			}
			acked := make([]time.Time, b.N)
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				if _, err := tbl.Insert(rows[n%len(rows)]); err != nil {
					b.Fatal(err)
				}
				acked[n] = time.Now()
				for i := 0; i < tails; i++ {
					<-step
				}
			}
			b.StopTimer()
			wg.Wait()
			delays := make([]time.Duration, 0, b.N*tails)
			for i := range delivered {
				if len(delivered[i]) != b.N {
					b.Fatalf("tail %d delivered %d of %d rows", i, len(delivered[i]), b.N)
				}
				for n, at := range delivered[i] {
					delays = append(delays, max(at.Sub(acked[n]), 0))
				}
			}
			slices.Sort(delays)
			b.ReportMetric(float64(delays[len(delays)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(delays[len(delays)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}

// BenchmarkTailProducer measures one producer inserting IM rows at full
// speed, one row per Insert, alone and with 4 consumer groups following it
// (each a goroutine calling Consumer.Next and committing every 1,000 rows).
// rows/s is the producer's rate; group-rows/s the rate of the slowest
// group (rows it read while the producer ran, per second).
//
//	go test -run '^$' -bench BenchmarkTailProducer -benchtime 200000x .
func BenchmarkTailProducer(b *testing.B) {
	rows := benchIMRows(4096)
	for _, groups := range []int{0, 4} {
		b.Run(fmt.Sprintf("consumers=%d", groups), func(b *testing.B) {
			db, tbl := benchTailTable(b)
			defer db.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			last := make([]int64, groups)
			for g := 0; g < groups; g++ {
				c, err := tbl.Consumer(fmt.Sprintf("group-%d", g))
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for {
						row, err := c.Next(ctx)
						if err != nil {
							return
						}
						last[g] = row.Seq()
						if last[g]%1000 == 0 {
							if err := c.Commit(last[g]); err != nil {
								b.Error(err)
								return
							}
						}
					}
				}(g)
			}
			b.ResetTimer()
			start := time.Now()
			for n := 0; n < b.N; n++ {
				if _, err := tbl.Insert(rows[n%len(rows)]); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
			if groups > 0 {
				slowest := slices.Min(last)
				b.ReportMetric(float64(slowest)/elapsed.Seconds(), "group-rows/s")
			}
		})
	}
}
