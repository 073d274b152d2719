package srdb

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkFlush measures writing one full memtable of IM rows (default
// MemTableSize, 16 MiB: about 60,000 rows with 1,000 channels, growing
// msg_id and 200 random payload bytes, channel_id and msg_id indexed) to an
// L0 SST, as the flush does: records, B+Tree, _time index and the two index
// sections. "discard" writes to a file system that drops the bytes (the
// flush's CPU alone); "os" to the OS file system, write(2) and fsync
// included. The memtable is built once, outside the timing. Run with
//
//	go test -run '^$' -bench BenchmarkFlush -benchtime 20x -count 5
func BenchmarkFlush(b *testing.B) {
	s, err := NewSchema("messages", imTableFields())
	require.NoError(b, err)
	m := benchIMMemtable(b, s, DefaultMemTableSize)
	run := func(b *testing.B, fs FS, dir string) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := writeMemtableSST(fs, dir, uint64(i+1), CompressionDefault, s, m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*m.len())/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("discard", func(b *testing.B) { run(b, &sstDiscardFS{FS: newSSTMemFS(), sizes: map[string]int64{}}, "d") })
	b.Run("os", func(b *testing.B) { run(b, OSFS(), b.TempDir()) })
}

// benchIMMemtable returns a memtable (indexing the fields s indexes) holding
// IM rows of the bench/ shape with seqs 1, 2, … until it holds size bytes.
func benchIMMemtable(b *testing.B, s *Schema, size int64) *memtable {
	rng := rand.New(rand.NewSource(1))
	m := newMemtable(1)
	m.idx = newMemIndexSet(s)
	row := map[string]any{}
	payload := make([]byte, imBenchPayload)
	var buf []byte
	for seq := int64(1); m.approximateSize() < size; seq++ {
		rng.Read(payload)
		row["channel_id"] = "channel-" + string(rune('0'+rng.Intn(10))) + string(rune('0'+rng.Intn(10))) + string(rune('0'+rng.Intn(10)))
		row["from_uid"] = "user-" + string(rune('0'+rng.Intn(10))) + string(rune('0'+rng.Intn(10)))
		row["msg_id"] = 1_000_000_000 + seq
		row["msg_type"] = uint8(rng.Intn(8))
		row["payload"] = payload
		rv, err := s.rowFromMap(row)
		require.NoError(b, err)
		timeNanos := 1_700_000_000_000_000_000 + seq*1000
		buf, err = encodeRow(buf[:0], seq, timeNanos, s.types(), rv.vals)
		require.NoError(b, err)
		m.add(seq, kindSet, timeNanos, buf)
	}
	return m
}
