package srdb

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// The _time range benchmarks run on a table of their own: 1M IM rows whose
// _time is set by the writer — 1 µs apart in seq order, each moved by up to
// ±5 µs (rows nearly, not strictly, in time order) — compacted into L1 (the
// shape of a table at rest), in an in-memory file system like the other
// query benchmarks. Each shape runs with the _time windows ("timeindex")
// and without them ("scan": the plan before the SST _time index, which
// reads every row of the files whose [minTime, maxTime] overlaps the range),
// in the same binary, so before and after are measured in one run.

type timeBenchData struct {
	tbl  *Table
	base int64
	err  error
}

var (
	timeBenchOnce sync.Once
	timeBench     timeBenchData
)

const timeBenchStep = int64(time.Microsecond)

// at returns the nominal _time of seq (the row's own time is within ±5 µs).
func (d *timeBenchData) at(seq int64) int64 { return d.base + seq*timeBenchStep }

func timeBenchTable(b *testing.B) *timeBenchData {
	if testing.Short() {
		b.Skip("1M-row dataset skipped in -short mode")
	}
	timeBenchOnce.Do(func() {
		start := time.Now()
		timeBench.err = buildTimeBench(&timeBench)
		b.Logf("built %d-row _time dataset in %v", queryBenchRows, time.Since(start))
	})
	if timeBench.err != nil {
		b.Fatal(timeBench.err)
	}
	return &timeBench
}

func buildTimeBench(d *timeBenchData) error {
	opts := &Options{FS: newMemFS(), Durability: DurabilityNone, DisableAutoCompaction: true}
	db, err := Open("timebench", opts)
	if err != nil {
		return err
	}
	s, err := NewSchema("messages", imTableFields())
	if err != nil {
		return err
	}
	tbl, err := db.CreateTable("messages", s)
	if err != nil {
		return err
	}
	d.base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	rng := rand.New(rand.NewSource(1))
	payload := make([]byte, 200)
	const batch = 1000
	rows := make([]map[string]any, batch)
	for done := 0; done < queryBenchRows; done += batch {
		for i := range rows {
			seq := int64(done + i + 1)
			rng.Read(payload)
			rows[i] = map[string]any{
				"_time":      time.Unix(0, d.at(seq)+rng.Int63n(11*timeBenchStep)-5*timeBenchStep),
				"channel_id": fmt.Sprintf("channel-%04d", rng.Intn(queryBenchChannels)),
				"from_uid":   fmt.Sprintf("user-%05d", rng.Intn(50000)),
				"msg_id":     seq,
				"msg_type":   uint8(rng.Intn(4)),
				"payload":    append([]byte(nil), payload...),
			}
		}
		if _, err := tbl.Insert(rows); err != nil {
			return err
		}
	}
	if err := tbl.Compact(); err != nil {
		return err
	}
	d.tbl = tbl
	return nil
}

// BenchmarkQueryTimeRange: _time ranges of 1% of the rows (10,000) at the
// start, middle and end of the table, of 100 rows, the newest 100 of a 1%
// range (OrderByDesc("_seq").Limit(100)), and a 1% range with an indexed
// Eq (channel_id: about 10 rows); the middle 1% also with Select("msg_id")
// (one field decoded per row) and counted (Count: no row built). rows/s
// counts the rows returned; ns/op is the time of one query.
func BenchmarkQueryTimeRange(b *testing.B) {
	d := timeBenchTable(b)
	const pct = queryBenchRows / 100
	shapes := []struct {
		name  string
		min   int  // fewest rows expected
		count bool // Count instead of reading Rows
		q     func(rng *rand.Rand) *Query
	}{
		{"1pct-start", pct - 10, false, func(*rand.Rand) *Query {
			return d.tbl.Query().Gte("_time", d.at(1)-10*timeBenchStep).Lt("_time", d.at(pct+1))
		}},
		{"1pct-middle", pct - 10, false, func(*rand.Rand) *Query {
			return d.tbl.Query().Gte("_time", d.at(queryBenchRows/2)).Lt("_time", d.at(queryBenchRows/2+pct))
		}},
		{"1pct-middle-count", pct - 10, true, func(*rand.Rand) *Query {
			return d.tbl.Query().Gte("_time", d.at(queryBenchRows/2)).Lt("_time", d.at(queryBenchRows/2+pct))
		}},
		{"1pct-middle-select", pct - 10, false, func(*rand.Rand) *Query {
			return d.tbl.Query().Gte("_time", d.at(queryBenchRows/2)).Lt("_time", d.at(queryBenchRows/2+pct)).Select("msg_id")
		}},
		{"1pct-end", pct - 10, false, func(*rand.Rand) *Query {
			return d.tbl.Query().Gte("_time", d.at(queryBenchRows-pct+1))
		}},
		{"100rows-random", 90, false, func(rng *rand.Rand) *Query {
			lo := d.at(1 + rng.Int63n(queryBenchRows-200))
			return d.tbl.Query().Between("_time", lo, lo+100*timeBenchStep-1)
		}},
		{"1pct-desc-limit100", 100, false, func(*rand.Rand) *Query {
			return d.tbl.Query().Gte("_time", d.at(queryBenchRows/2)).Lt("_time", d.at(queryBenchRows/2+pct)).OrderByDesc("_seq").Limit(100)
		}},
		{"1pct-eq-channel", 1, false, func(rng *rand.Rand) *Query {
			ch := fmt.Sprintf("channel-%04d", rng.Intn(queryBenchChannels))
			return d.tbl.Query().Eq("channel_id", ch).Gte("_time", d.at(queryBenchRows/2)).Lt("_time", d.at(queryBenchRows/2+pct))
		}},
	}
	for _, sh := range shapes {
		for _, plan := range []string{"timeindex", "scan"} { // adjacent in time: the machine is shared
			b.Run(sh.name+"/"+plan, func(b *testing.B) {
				timeIndexDisabled = plan == "scan"
				defer func() { timeIndexDisabled = false }()
				rng := rand.New(rand.NewSource(9))
				rows := 0
				b.ReportAllocs()
				for b.Loop() {
					var n int
					if sh.count {
						c, err := sh.q(rng).Count()
						if err != nil {
							b.Fatal(err)
						}
						n = c
					} else {
						n = queryBenchDrain(b, sh.q(rng))
					}
					if n < sh.min {
						b.Fatalf("%d rows, want at least %d", n, sh.min)
					}
					rows += n
				}
				queryBenchRowsPerSec(b, rows)
			})
		}
	}
}

// BenchmarkQueryTimeRangeMemtable: 100 rows out of 60,000 that are all in
// the memtable (64 MiB, not flushed), with the _time windows (a pass over
// the memtable's entry times, no row read) and without them (every row of
// the memtable read).
func BenchmarkQueryTimeRangeMemtable(b *testing.B) {
	db, err := Open("mem", &Options{FS: newMemFS(), Durability: DurabilityNone, DisableAutoCompaction: true, MemTableSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := NewSchema("messages", imTableFields())
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := db.CreateTable("messages", s)
	if err != nil {
		b.Fatal(err)
	}
	const n = 60_000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	rows := make([]map[string]any, 1000)
	for done := 0; done < n; done += len(rows) {
		for i := range rows {
			seq := int64(done + i + 1)
			r := imTableRow(seq)
			r["_time"] = time.Unix(0, base+seq*timeBenchStep)
			rows[i] = r
		}
		if _, err := tbl.Insert(rows); err != nil {
			b.Fatal(err)
		}
	}
	for _, plan := range []string{"timeindex", "scan"} {
		b.Run("100rows/"+plan, func(b *testing.B) {
			timeIndexDisabled = plan == "scan"
			defer func() { timeIndexDisabled = false }()
			rng := rand.New(rand.NewSource(10))
			rows := 0
			b.ReportAllocs()
			for b.Loop() {
				lo := base + (1+rng.Int63n(n-100))*timeBenchStep
				if got := queryBenchDrain(b, tbl.Query().Between("_time", lo, lo+99*timeBenchStep)); got != 100 {
					b.Fatalf("%d rows", got)
				}
				rows += 100
			}
			queryBenchRowsPerSec(b, rows)
		})
	}
}
