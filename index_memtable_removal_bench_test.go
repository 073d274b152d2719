package srdb

import (
	"fmt"
	"testing"
)

// BenchmarkQueryEqAfterDeletes: Eq(channel).First() on a channel whose row
// was inserted and deleted 50,000 times in the active memtable (then
// inserted once more), and a Count over the same channel: SPEC §13 asks
// O(live matches) for both. The memtable is large enough that nothing is
// flushed.
func BenchmarkQueryEqAfterDeletes(b *testing.B) {
	for _, cycles := range []int{1000, 50000} {
		b.Run(fmt.Sprintf("cycles=%d", cycles), func(b *testing.B) {
			db, err := Open(b.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true, MemTableSize: 256 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s, err := NewSchema("m", imTableFields())
			if err != nil {
				b.Fatal(err)
			}
			tbl, err := db.CreateTable("m", s)
			if err != nil {
				b.Fatal(err)
			}
			row := map[string]any{"channel_id": "hot", "from_uid": "u", "msg_id": int64(1), "msg_type": 1}
			for range cycles {
				seq, err := tbl.Insert(row)
				if err != nil {
					b.Fatal(err)
				}
				if err := tbl.Delete(seq); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := tbl.Insert(row); err != nil {
				b.Fatal(err)
			}
			b.Run("First", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tbl.Query().Eq("channel_id", "hot").First(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Count", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n, err := tbl.Query().Eq("channel_id", "hot").Count(); err != nil || n != 1 {
						b.Fatal(n, err)
					}
				}
			})
		})
	}
}
