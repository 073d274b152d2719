package srdb

import (
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkQueryLast20Compacted: the last 20 messages of a channel and the
// 20 before a seq on a table shaped like bench/'s after its full
// compaction: 300,000 IM rows (1,000 channels, 200-byte payloads) on disk,
// flushed and compacted with the default options into L1+ files, so an
// index lookup meets several files of one level.
func BenchmarkQueryLast20Compacted(b *testing.B) {
	if testing.Short() {
		b.Skip("300k-row dataset skipped in -short mode")
	}
	const rows, channels = 300000, 1000
	db, err := Open(b.TempDir(), &Options{Durability: DurabilityNone})
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
	rng := rand.New(rand.NewSource(1))
	batch := make([]map[string]any, 1000)
	for done := 0; done < rows; done += len(batch) {
		for i := range batch {
			payload := make([]byte, 200)
			rng.Read(payload)
			batch[i] = map[string]any{"channel_id": fmt.Sprintf("channel-%04d", rng.Intn(channels)), "from_uid": fmt.Sprintf("user-%05d", rng.Intn(50000)),
				"msg_id": int64(done + i + 1), "msg_type": uint8(rng.Intn(8)), "payload": payload}
		}
		if _, err := tbl.Insert(batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := tbl.Compact(); err != nil {
		b.Fatal(err)
	}
	files := 0
	for _, l := range tbl.Stats().Levels {
		files += len(l.Files)
	}
	b.Logf("%d files after Compact", files)
	for _, pageBack := range []bool{false, true} {
		b.Run(map[bool]string{false: "last20", true: "pageback"}[pageBack], func(b *testing.B) {
			rng := rand.New(rand.NewSource(2))
			queryBenchTimed(b, func() {
				q := tbl.Query().Eq("channel_id", fmt.Sprintf("channel-%04d", rng.Intn(channels))).OrderByDesc("_seq").Limit(20)
				if pageBack {
					q.Lt("_seq", 1+rng.Int63n(rows))
				}
				queryBenchDrain(b, q)
			})
		})
	}
}
