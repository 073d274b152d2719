package srdb

import (
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"
)

// The query benchmarks share one table of 1M IM rows (the IM workload: 1,000
// channels, ~200-byte payloads), all in SSTs, built once per benchmark
// binary. It lives in an in-memory file system so that nothing is left on
// disk when the binary exits (SSTs are read through the same mapping
// interface as on disk, with the pages already resident); bench/ measures
// the on-disk case.
//
// channel_id and msg_id are indexed (imTableFields). The "table" variants
// run on the table's own indexes; the "fakeindex" variants run the
// planner's index paths over the test fake (an in-memory sorted list with
// O(log N) seeks), which isolates the cost of the executor (lookups,
// re-checks) from the cost of the index itself.
//
// Every benchmark reports allocations; the shapes are those the planner must
// make cheap (docs/QUERY.md).

const (
	queryBenchRows     = 1_000_000
	queryBenchChannels = 1000
)

type queryBenchData struct {
	db   *Database
	tbl  *Table
	fake *queryFakeIndex
	err  error
}

var (
	queryBenchOnce sync.Once
	queryBench     queryBenchData
)

func queryBenchTable(b *testing.B) *queryBenchData {
	if testing.Short() {
		b.Skip("1M-row dataset skipped in -short mode")
	}
	queryBenchOnce.Do(func() {
		start := time.Now()
		queryBench.err = buildQueryBench(&queryBench)
		b.Logf("built %d-row dataset in %v", queryBenchRows, time.Since(start))
	})
	if queryBench.err != nil {
		b.Fatal(queryBench.err)
	}
	return &queryBench
}

func buildQueryBench(d *queryBenchData) error {
	// 64 MiB memtables (the default before it became 16 MiB) keep the
	// dataset's shape — six L0 files, no compaction — the same as when the
	// figures in docs/BENCHMARKS.md were first taken, so runs compare.
	opts := &Options{FS: newMemFS(), Durability: DurabilityNone, DisableAutoCompaction: true, MemTableSize: 64 << 20}
	db, err := Open("bench", opts)
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
	fake := newQueryFakeIndex("channel_id", "msg_id")
	rng := rand.New(rand.NewSource(1))
	payload := make([]byte, 200)
	const batch = 1000
	rows := make([]map[string]any, batch)
	for done := 0; done < queryBenchRows; done += batch {
		for i := range rows {
			rng.Read(payload)
			rows[i] = map[string]any{
				"channel_id": fmt.Sprintf("channel-%04d", rng.Intn(queryBenchChannels)),
				"from_uid":   fmt.Sprintf("user-%05d", rng.Intn(50000)),
				"msg_id":     int64(done + i + 1),
				"msg_type":   uint8(rng.Intn(4)),
				"payload":    append([]byte(nil), payload...),
			}
		}
		first, err := tbl.Insert(rows)
		if err != nil {
			return err
		}
		for i, r := range rows {
			fake.addRow(s, r, first+int64(i))
		}
	}
	if err := tbl.Flush(); err != nil {
		return err
	}
	fake.sorted("channel_id")
	fake.sorted("msg_id")
	d.db, d.tbl, d.fake = db, tbl, fake
	return nil
}

// query returns a query over the table, on the fake index when fake.
func (d *queryBenchData) query(fake bool) *Query {
	q := d.tbl.Query()
	if fake {
		q.ix = queryFakeIndexAdapter{d.fake}
	}
	return q
}

// drain reads every row of q and returns how many there were.
func queryBenchDrain(b *testing.B, q *Query) int {
	rows, err := q.Rows()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// queryBenchTimed runs op b.N times and reports the 99th percentile of its
// latency as the "p99-µs" metric.
func queryBenchTimed(b *testing.B, op func()) {
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1024)
	for b.Loop() {
		t0 := time.Now()
		op()
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
}

func queryBenchVariants(b *testing.B, run func(b *testing.B, d *queryBenchData, fake bool)) {
	d := queryBenchTable(b)
	b.Run("table", func(b *testing.B) { run(b, d, false) })
	b.Run("fakeindex", func(b *testing.B) { run(b, d, true) })
}

// BenchmarkQueryLast20OfChannel: the last 20 messages of a channel, and the
// 20 before a seq (page back).
func BenchmarkQueryLast20OfChannel(b *testing.B) {
	queryBenchVariants(b, func(b *testing.B, d *queryBenchData, fake bool) {
		rng := rand.New(rand.NewSource(2))
		queryBenchTimed(b, func() {
			ch := fmt.Sprintf("channel-%04d", rng.Intn(queryBenchChannels))
			q := d.query(fake).Eq("channel_id", ch).OrderByDesc("_seq").Limit(20)
			if rng.Intn(2) == 0 {
				q.Lt("_seq", 1+rng.Int63n(queryBenchRows))
			}
			queryBenchDrain(b, q)
		})
	})
}

// BenchmarkQueryGet: Get(seq) of a row in an SST, and the same through a
// query (Eq on _seq).
func BenchmarkQueryGet(b *testing.B) {
	d := queryBenchTable(b)
	rng := rand.New(rand.NewSource(3))
	b.Run("Get", func(b *testing.B) {
		queryBenchTimed(b, func() {
			if _, err := d.tbl.Get(1 + rng.Int63n(queryBenchRows)); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("EqSeqFirst", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.tbl.Query().Eq("_seq", 1+rng.Int63n(queryBenchRows)).First(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkQueryEqIndex: Eq on the indexed msg_id (one row).
func BenchmarkQueryEqIndex(b *testing.B) {
	queryBenchVariants(b, func(b *testing.B, d *queryBenchData, fake bool) {
		rng := rand.New(rand.NewSource(4))
		b.ReportAllocs()
		for b.Loop() {
			if n := queryBenchDrain(b, d.query(fake).Eq("msg_id", 1+rng.Int63n(queryBenchRows))); n != 1 {
				b.Fatalf("%d rows", n)
			}
		}
	})
}

// BenchmarkQueryBetweenIndex: Between on the indexed msg_id (100 rows).
func BenchmarkQueryBetweenIndex(b *testing.B) {
	queryBenchVariants(b, func(b *testing.B, d *queryBenchData, fake bool) {
		rng := rand.New(rand.NewSource(5))
		b.ReportAllocs()
		for b.Loop() {
			lo := 1 + rng.Int63n(queryBenchRows-100)
			if n := queryBenchDrain(b, d.query(fake).Between("msg_id", lo, lo+99)); n != 100 {
				b.Fatalf("%d rows", n)
			}
		}
	})
}

// BenchmarkQueryFilteredScan: a filter on a non-indexed field over every
// row (target: 5M rows/s); rows/s counts the rows examined.
func BenchmarkQueryFilteredScan(b *testing.B) {
	d := queryBenchTable(b)
	rng := rand.New(rand.NewSource(6))
	b.ReportAllocs()
	for b.Loop() {
		queryBenchDrain(b, d.tbl.Query().Eq("from_uid", fmt.Sprintf("user-%05d", rng.Intn(50000))))
	}
	b.ReportMetric(float64(queryBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkQueryCount: Count without conditions (the live-row counter) and
// with a filter (a scan that decodes nothing).
func BenchmarkQueryCount(b *testing.B) {
	d := queryBenchTable(b)
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if n, err := d.tbl.Query().Count(); err != nil || n != queryBenchRows {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("filtered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.tbl.Query().Eq("msg_type", 1).Count(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(queryBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// queryBenchRowsPerSec reports rows returned per second of benchmark time.
func queryBenchRowsPerSec(b *testing.B, rows int) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkQuerySeqRange: a _seq range of 100 rows (binary search of the
// files by seq range, then the B+Tree), forwards and backwards.
func BenchmarkQuerySeqRange(b *testing.B) {
	d := queryBenchTable(b)
	for _, desc := range []bool{false, true} {
		b.Run(map[bool]string{false: "asc", true: "desc"}[desc], func(b *testing.B) {
			rng := rand.New(rand.NewSource(7))
			rows := 0
			b.ReportAllocs()
			for b.Loop() {
				lo := 1 + rng.Int63n(queryBenchRows-100)
				q := d.tbl.Query().Between("_seq", lo, lo+99)
				if desc {
					q.OrderByDesc("_seq")
				}
				if n := queryBenchDrain(b, q); n != 100 {
					b.Fatalf("%d rows", n)
				}
				rows += 100
			}
			queryBenchRowsPerSec(b, rows)
		})
	}
}

// BenchmarkQueryIndexShapes: the other operators answered
// from an index — In, Lt, Gt on msg_id and StartsWith on channel_id — on
// the table's own indexes.
func BenchmarkQueryIndexShapes(b *testing.B) {
	d := queryBenchTable(b)
	rng := rand.New(rand.NewSource(8))
	shapes := []struct {
		name string
		want int
		q    func() *Query
	}{
		{"In5", 5, func() *Query {
			base := 1 + rng.Int63n(queryBenchRows-1000)
			return d.tbl.Query().In("msg_id", base, base+100, base+200, base+300, base+400)
		}},
		{"Lt100", 100, func() *Query { return d.tbl.Query().Lt("msg_id", int64(101)) }},
		{"Gt100", 100, func() *Query { return d.tbl.Query().Gt("msg_id", int64(queryBenchRows-100)) }},
		{"StartsWithLimit100", 100, func() *Query {
			return d.tbl.Query().StartsWith("channel_id", fmt.Sprintf("channel-%03d", rng.Intn(queryBenchChannels/10))).Limit(100)
		}},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			rows := 0
			b.ReportAllocs()
			for b.Loop() {
				if n := queryBenchDrain(b, sh.q()); n != sh.want {
					b.Fatalf("%d rows, want %d", n, sh.want)
				}
				rows += sh.want
			}
			queryBenchRowsPerSec(b, rows)
		})
	}
}

// BenchmarkQuerySelect: a full scan returning one field (Select decodes only
// it) against the same scan returning every field.
func BenchmarkQuerySelect(b *testing.B) {
	d := queryBenchTable(b)
	for _, sel := range [][]string{{"msg_id"}, nil} {
		name := "all-fields"
		if sel != nil {
			name = "msg_id"
		}
		b.Run(name, func(b *testing.B) {
			rows := 0
			b.ReportAllocs()
			for b.Loop() {
				q := d.tbl.Query().Limit(100_000)
				if sel != nil {
					q.Select(sel...)
				}
				r, err := q.Rows()
				if err != nil {
					b.Fatal(err)
				}
				for r.Next() {
					if _, ok := r.Row().Get("msg_id"); !ok {
						b.Fatal("msg_id missing")
					}
					rows++
				}
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
			}
			queryBenchRowsPerSec(b, rows)
		})
	}
}

// BenchmarkQueryScanStructs: the last 20 messages of a channel scanned
// into structs, by Query.Scan (decoded straight from the rows' bytes:
// query_scan_direct.go) and, for comparison in the same run, by Rows with
// Row.Scan per row (a Row of boxed values, then a reflective copy).
func BenchmarkQueryScanStructs(b *testing.B) {
	d := queryBenchTable(b)
	type msg struct {
		Seq       int64     `srdb:"_seq"`
		Time      time.Time `srdb:"_time"`
		ChannelID string    `srdb:"channel_id"`
		FromUID   string    `srdb:"from_uid"`
		MsgID     int64     `srdb:"msg_id"`
		MsgType   uint8     `srdb:"msg_type"`
		Payload   []byte    `srdb:"payload"`
	}
	query := func(rng *rand.Rand) *Query {
		ch := fmt.Sprintf("channel-%04d", rng.Intn(queryBenchChannels))
		return d.tbl.Query().Eq("channel_id", ch).OrderByDesc("_seq").Limit(20)
	}
	b.Run("Query.Scan", func(b *testing.B) {
		rng := rand.New(rand.NewSource(2))
		queryBenchTimed(b, func() {
			var out []msg
			if err := query(rng).Scan(&out); err != nil || len(out) != 20 {
				b.Fatal(err, len(out))
			}
		})
	})
	b.Run("Rows+Row.Scan", func(b *testing.B) {
		rng := rand.New(rand.NewSource(2))
		queryBenchTimed(b, func() {
			rows, err := query(rng).Rows()
			if err != nil {
				b.Fatal(err)
			}
			out := make([]msg, 0, 16)
			for rows.Next() {
				var m msg
				if err := rows.Row().Scan(&m); err != nil {
					b.Fatal(err)
				}
				out = append(out, m)
			}
			if err := rows.Close(); err != nil || len(out) != 20 {
				b.Fatal(err, len(out))
			}
		})
	})
}

// The IM filtered-scan dataset: the shape of bench/'s "filtered full scan"
// (bench/srdb_query.go) at a smaller size. imScanBenchRows rows of the IM
// table with msg_type uniform over 8 values and 200 random payload bytes,
// inserted as structs with default options, then flushed and compacted (so
// every row is in an L1+ SST, as after bench/'s ingest).
const imScanBenchRows = 400_000

// imScanMsg is bench/'s msgRow.
type imScanMsg struct {
	ChannelID string `srdb:"channel_id;indexed"`
	FromUID   string `srdb:"from_uid"`
	MsgID     int64  `srdb:"msg_id;indexed"`
	MsgType   uint8  `srdb:"msg_type"`
	Payload   []byte `srdb:"payload"`
}

var (
	imScanBenchOnce sync.Once
	imScanBench     queryBenchData
	imScanMatches   int // rows with msg_type 3
)

func imScanBenchTable(b *testing.B) *queryBenchData {
	if testing.Short() {
		b.Skip("IM scan dataset skipped in -short mode")
	}
	imScanBenchOnce.Do(func() {
		start := time.Now()
		imScanBench.err = buildIMScanBench(&imScanBench)
		b.Logf("built %d-row IM dataset in %v", imScanBenchRows, time.Since(start))
	})
	if imScanBench.err != nil {
		b.Fatal(imScanBench.err)
	}
	return &imScanBench
}

func buildIMScanBench(d *queryBenchData) error {
	opts := DefaultOptions()
	opts.FS, opts.Durability = newMemFS(), DurabilityNone
	db, err := Open("imscan", opts)
	if err != nil {
		return err
	}
	fields, err := StructToFields(imScanMsg{})
	if err != nil {
		return err
	}
	s, err := NewSchema("messages", fields)
	if err != nil {
		return err
	}
	tbl, err := db.CreateTable("messages", s)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(9))
	batch := make([]imScanMsg, 1000)
	for done := 0; done < imScanBenchRows; done += len(batch) {
		for i := range batch {
			m := &batch[i]
			m.ChannelID = fmt.Sprintf("channel-%04d", rng.Intn(1000))
			m.FromUID = fmt.Sprintf("user-%06d", rng.Intn(100000))
			m.MsgID = int64(1_000_000_000 + done + i)
			m.MsgType = uint8(rng.Intn(8))
			if m.MsgType == 3 {
				imScanMatches++
			}
			m.Payload = make([]byte, 200)
			rng.Read(m.Payload)
		}
		if _, err := tbl.Insert(batch); err != nil {
			return err
		}
	}
	if err := tbl.Compact(); err != nil {
		return err
	}
	d.db, d.tbl = db, tbl
	return nil
}

// BenchmarkQueryFilteredScanIM is bench/'s filtered full scan: Eq on the
// non-indexed msg_type (1 row in 8) over every row, each match read as a
// Row and its five fields fetched by name and type-asserted, as bench/'s
// srdbFill does. rows/s counts the rows examined.
func BenchmarkQueryFilteredScanIM(b *testing.B) {
	d := imScanBenchTable(b)
	b.ReportAllocs()
	for b.Loop() {
		rows, err := d.tbl.Query().Eq("msg_type", uint8(3)).Rows()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var m imScanMsg
		for rows.Next() {
			row := rows.Row()
			var ok [5]bool
			var v any
			v, _ = row.Get("channel_id")
			m.ChannelID, ok[0] = v.(string)
			v, _ = row.Get("from_uid")
			m.FromUID, ok[1] = v.(string)
			v, _ = row.Get("msg_id")
			m.MsgID, ok[2] = v.(int64)
			v, _ = row.Get("msg_type")
			m.MsgType, ok[3] = v.(uint8)
			v, _ = row.Get("payload")
			m.Payload, ok[4] = v.([]byte)
			if ok != [5]bool{true, true, true, true, true} || m.MsgType != 3 {
				b.Fatalf("row %d: %v %+v", row.Seq(), ok, m)
			}
			n++
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if n != imScanMatches {
			b.Fatalf("%d matches, want %d", n, imScanMatches)
		}
	}
	b.ReportMetric(float64(imScanBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkQueryFilteredScanIMCount is BenchmarkQueryFilteredScanIM
// counting the matches instead of reading them: the cost of the scan and
// the filter alone.
func BenchmarkQueryFilteredScanIMCount(b *testing.B) {
	d := imScanBenchTable(b)
	b.ReportAllocs()
	for b.Loop() {
		n, err := d.tbl.Query().Eq("msg_type", uint8(3)).Count()
		if err != nil || n != imScanMatches {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(imScanBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
