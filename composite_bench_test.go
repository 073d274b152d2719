package srdb

import (
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"
)

// The composite index benchmark: 1M IM rows (1,000 channels, ~200-byte
// payloads) with a per-channel message sequence msg_seq (1, 2, 3, … in
// each channel), indexed (channel_id, msg_seq), plus the single-field
// channel_id and msg_id indexes of the IM table. Built once per benchmark
// binary on the in-memory FS with the shape of the query benchmarks
// (64 MiB memtables, no compaction: six L0 files), so the figures are CPU
// and memory, not disk.

type compositeBenchData struct {
	tbl    *Table
	perCh  []int64 // messages per channel
	err    error
	builds time.Duration
}

var (
	compositeBenchOnce sync.Once
	compositeBench     compositeBenchData
)

func compositeBenchTable(b *testing.B) *compositeBenchData {
	if testing.Short() {
		b.Skip("1M-row dataset skipped in -short mode")
	}
	compositeBenchOnce.Do(func() {
		start := time.Now()
		compositeBench.err = buildCompositeBench(&compositeBench)
		compositeBench.builds = time.Since(start)
	})
	if compositeBench.err != nil {
		b.Fatal(compositeBench.err)
	}
	b.Logf("%d-row dataset built in %v", queryBenchRows, compositeBench.builds)
	return &compositeBench
}

func buildCompositeBench(d *compositeBenchData) error {
	opts := &Options{FS: newMemFS(), Durability: DurabilityNone, DisableAutoCompaction: true, MemTableSize: 64 << 20}
	db, err := Open("bench", opts)
	if err != nil {
		return err
	}
	s, err := NewSchema("messages", []Field{
		{Name: "channel_id", Type: String, Indexed: true},
		{Name: "msg_seq", Type: Int64},
		{Name: "from_uid", Type: String},
		{Name: "msg_id", Type: Int64, Indexed: true},
		{Name: "msg_type", Type: Uint8},
		{Name: "payload", Type: Bytes},
	}, WithIndex("channel_id", "msg_seq"))
	if err != nil {
		return err
	}
	tbl, err := db.CreateTable("messages", s)
	if err != nil {
		return err
	}
	d.perCh = make([]int64, queryBenchChannels)
	rng := rand.New(rand.NewSource(1))
	payload := make([]byte, 200)
	const batch = 1000
	rows := make([]map[string]any, batch)
	for done := 0; done < queryBenchRows; done += batch {
		for i := range rows {
			rng.Read(payload)
			ch := rng.Intn(queryBenchChannels)
			d.perCh[ch]++
			rows[i] = map[string]any{
				"channel_id": fmt.Sprintf("channel-%04d", ch),
				"msg_seq":    d.perCh[ch],
				"from_uid":   fmt.Sprintf("user-%05d", rng.Intn(50000)),
				"msg_id":     int64(done + i + 1),
				"msg_type":   uint8(rng.Intn(4)),
				"payload":    append([]byte(nil), payload...),
			}
		}
		if _, err := tbl.Insert(rows); err != nil {
			return err
		}
	}
	if err := tbl.Flush(); err != nil {
		return err
	}
	d.tbl = tbl
	return nil
}

// compositeBenchTimed runs op b.N times and reports the median and 99th
// percentile of its latency ("p50-µs", "p99-µs") and the rows it returned
// per call.
func compositeBenchTimed(b *testing.B, op func() int) {
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1024)
	rows := 0
	for b.Loop() {
		t0 := time.Now()
		rows += op()
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		b.ReportMetric(float64(rows)/float64(len(lat)), "rows/op")
	}
}

// BenchmarkQueryCompositeIndex: reads of a channel through the composite
// index (channel_id, msg_seq), in one run:
//
//   - range20: 20 messages in the middle of a channel by msg_seq
//     (Eq(channel_id).Between(msg_seq, m, m+19).OrderBy(msg_seq));
//   - last20: the newest 20 by msg_seq (OrderByDesc(msg_seq).Limit(20));
//   - pageback20: the 20 before a msg_seq in the channel (Lt(msg_seq));
//   - last20-seq: the newest 20 by _seq through the single-field
//     channel_id index, for comparison;
//   - newest-of-10-channels: In(10 channels).OrderByDesc(msg_seq).Limit(1),
//     the ranges merged by msg_seq;
//   - last1-each-of-10: the newest message of each of 10 channels, one
//     Eq(channel_id).OrderByDesc(msg_seq).Limit(1) query per channel.
func BenchmarkQueryCompositeIndex(b *testing.B) {
	d := compositeBenchTable(b)
	chName := func(ch int) string { return fmt.Sprintf("channel-%04d", ch) }
	b.Run("range20", func(b *testing.B) {
		rng := rand.New(rand.NewSource(3))
		compositeBenchTimed(b, func() int {
			ch := rng.Intn(queryBenchChannels)
			n := d.perCh[ch]
			m := n/4 + rng.Int63n(n/2)
			return queryBenchDrain(b, d.tbl.Query().Eq("channel_id", chName(ch)).Between("msg_seq", m, m+19).OrderBy("msg_seq"))
		})
	})
	b.Run("last20", func(b *testing.B) {
		rng := rand.New(rand.NewSource(4))
		compositeBenchTimed(b, func() int {
			ch := rng.Intn(queryBenchChannels)
			return queryBenchDrain(b, d.tbl.Query().Eq("channel_id", chName(ch)).OrderByDesc("msg_seq").Limit(20))
		})
	})
	b.Run("pageback20", func(b *testing.B) {
		rng := rand.New(rand.NewSource(5))
		compositeBenchTimed(b, func() int {
			ch := rng.Intn(queryBenchChannels)
			x := 21 + rng.Int63n(d.perCh[ch]-20)
			return queryBenchDrain(b, d.tbl.Query().Eq("channel_id", chName(ch)).Lt("msg_seq", x).OrderByDesc("msg_seq").Limit(20))
		})
	})
	b.Run("last20-seq", func(b *testing.B) {
		rng := rand.New(rand.NewSource(4))
		compositeBenchTimed(b, func() int {
			ch := rng.Intn(queryBenchChannels)
			return queryBenchDrain(b, d.tbl.Query().Eq("channel_id", chName(ch)).OrderByDesc("_seq").Limit(20))
		})
	})
	b.Run("newest-of-10-channels", func(b *testing.B) {
		rng := rand.New(rand.NewSource(6))
		compositeBenchTimed(b, func() int {
			chs := make([]any, 10)
			for i := range chs {
				chs[i] = chName(rng.Intn(queryBenchChannels))
			}
			return queryBenchDrain(b, d.tbl.Query().In("channel_id", chs...).OrderByDesc("msg_seq").Limit(1))
		})
	})
	b.Run("last1-each-of-10", func(b *testing.B) {
		rng := rand.New(rand.NewSource(7))
		compositeBenchTimed(b, func() int {
			n := 0
			for range 10 {
				n += queryBenchDrain(b, d.tbl.Query().Eq("channel_id", chName(rng.Intn(queryBenchChannels))).OrderByDesc("msg_seq").Limit(1))
			}
			return n
		})
	})
}
