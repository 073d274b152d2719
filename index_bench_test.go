package srdb

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

// idxBenchTable holds a 1M-row IM table shared by the lookup benchmarks
// (built once per process: about 5 s).
var idxBenchTable struct {
	once sync.Once
	db   *Database
	tbl  *Table
	rows int64
}

func idxBenchIM(b *testing.B) *Table {
	idxBenchTable.once.Do(func() {
		dir, err := os.MkdirTemp("", "srdb-idxbench") // shared by several benchmarks, so not b.TempDir
		if err != nil {
			b.Fatal(err)
		}
		opts := DefaultOptions()
		opts.Durability = DurabilityNone
		db, err := Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := NewSchema("messages", imTableFields())
		tbl, err := db.CreateTable("messages", s)
		if err != nil {
			b.Fatal(err)
		}
		const n, batch = 1_000_000, 1000
		payload := make([]byte, 200)
		for i := int64(0); i < n; i += batch {
			rows := make([]map[string]any, batch)
			for k := range rows {
				id := i + int64(k)
				rows[k] = map[string]any{
					"channel_id": fmt.Sprintf("channel-%04d", id%1000),
					"from_uid":   fmt.Sprintf("user-%d", id%5000),
					"msg_id":     id,
					"msg_type":   uint8(id % 4),
					"payload":    payload,
				}
			}
			if _, err := tbl.Insert(rows); err != nil {
				b.Fatal(err)
			}
		}
		if err := tbl.Flush(); err != nil {
			b.Fatal(err)
		}
		idxBenchTable.db, idxBenchTable.tbl, idxBenchTable.rows = db, tbl, n
	})
	return idxBenchTable.tbl
}

// BenchmarkIndexLastNOfChannel: Eq(channel_id) reverse, 20 candidates, over
// 1M rows in SSTs (index entries only; no row reads).
func BenchmarkIndexLastNOfChannel(b *testing.B) {
	tbl := idxBenchIM(b)
	r := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	var visited int64
	for i := 0; i < b.N; i++ {
		key, _ := encodeIndexKey(String, fmt.Sprintf("channel-%04d", r.IntN(1000)))
		rs := mustPin(tbl)
		it, err := tbl.newIndexIter(rs, "channel_id", indexRangeForEq(key), true)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < 20 && it.next(); n++ {
		}
		visited += it.entriesVisited()
		it.close()
		rs.release()
	}
	b.ReportMetric(float64(visited)/float64(b.N), "entries/op")
	rs := mustPin(tbl)
	b.ReportMetric(float64(len(rs.v.allFiles())), "ssts")
	rs.release()
}

// BenchmarkIndexEqLookup: Eq(msg_id) (one candidate) over 1M rows.
func BenchmarkIndexEqLookup(b *testing.B) {
	tbl := idxBenchIM(b)
	r := rand.New(rand.NewPCG(2, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key, _ := encodeIndexKey(Int64, r.Int64N(idxBenchTable.rows))
		rs := mustPin(tbl)
		it, err := tbl.newIndexIter(rs, "msg_id", indexRangeForEq(key), false)
		if err != nil {
			b.Fatal(err)
		}
		if !it.next() {
			b.Fatal("msg_id not found")
		}
		it.close()
		rs.release()
	}
}

// BenchmarkIndexEqLookupAndGet is BenchmarkIndexEqLookup plus the re-check
// read of the row (Get), as a query does it.
func BenchmarkIndexEqLookupAndGet(b *testing.B) {
	tbl := idxBenchIM(b)
	r := rand.New(rand.NewPCG(3, 3))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key, _ := encodeIndexKey(Int64, r.Int64N(idxBenchTable.rows))
		rs := mustPin(tbl)
		it, err := tbl.newIndexIter(rs, "msg_id", indexRangeForEq(key), false)
		if err != nil {
			b.Fatal(err)
		}
		if !it.next() {
			b.Fatal("msg_id not found")
		}
		if _, err := tbl.Get(it.seq()); err != nil {
			b.Fatal(err)
		}
		it.close()
		rs.release()
	}
}

// BenchmarkMemIndexInsert: one field, 1,000 distinct string values, seqs
// ascending (the channel_id pattern).
func BenchmarkMemIndexInsert(b *testing.B) {
	mi := newMemIndex(idxField{name: "c", typ: String})
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i], _ = encodeIndexKey(String, fmt.Sprintf("channel-%04d", i))
	}
	r := rand.New(rand.NewPCG(4, 4))
	e := make([]byte, 0, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e = appendIndexSeq(append(e[:0], keys[r.IntN(len(keys))]...), int64(i+1))
		mi.insert(e)
	}
}

// BenchmarkMemIndexSetAdd: the per-row cost the write path pays for the IM
// schema's two indexes (parse, two keys, two inserts).
func BenchmarkMemIndexSetAdd(b *testing.B) {
	s, _ := NewSchema("messages", imTableFields())
	set := newMemIndexSet(s)
	rows := make([][]byte, 1000)
	for i := range rows {
		rows[i], _ = encodeRow(nil, 0, 0, s.types(), []any{fmt.Sprintf("channel-%04d", i), "u", int64(i), uint8(1), make([]byte, 200)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row := rows[i%len(rows)]
		patchRowSeq(row, int64(i+1))
		set.add(int64(i+1), row)
	}
}

// BenchmarkInsertIMIndexed measures single-row Inserts of the IM schema
// (DurabilityInterval, one goroutine) with its two indexes, and with none
// (sub-benchmark "none") for the comparison.
func BenchmarkInsertIMIndexed(b *testing.B) {
	for _, indexed := range []bool{true, false} {
		name := "two-indexes"
		if !indexed {
			name = "none"
		}
		b.Run(name, func(b *testing.B) {
			db, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fields := imTableFields()
			for i := range fields {
				fields[i].Indexed = fields[i].Indexed && indexed
			}
			s, _ := NewSchema("messages", fields)
			tbl, err := db.CreateTable("messages", s)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 200)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tbl.Insert(map[string]any{
					"channel_id": fmt.Sprintf("channel-%04d", i%1000),
					"from_uid":   "user-1",
					"msg_id":     int64(i),
					"msg_type":   uint8(1),
					"payload":    payload,
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
