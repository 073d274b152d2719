package srdb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Layer benchmarks of the write path below Table.Insert (see also
// BenchmarkWALAppend for the WAL per durability mode and BenchmarkInsert for
// the whole path): converting and encoding a row, and adding it to a
// memtable with the IM table's two indexes. All CPU, no I/O.

// benchIMStruct is the IM row as a struct (the form bench/ inserts).
type benchIMStruct struct {
	ChannelID string `srdb:"channel_id"`
	FromUID   string `srdb:"from_uid"`
	MsgID     int64  `srdb:"msg_id"`
	MsgType   uint8  `srdb:"msg_type"`
	Payload   []byte `srdb:"payload"`
}

// BenchmarkPrepareRows measures Insert's conversion and ROW1 encoding of one
// IM row (map and struct form) and of a 100-row batch, outside any lock.
func BenchmarkPrepareRows(b *testing.B) {
	db := openBenchDB(b)
	defer db.Close()
	tbl := createBenchIMTable(b, db)
	maps := benchIMRows(1024)
	structs := make([]benchIMStruct, len(maps))
	for i, m := range maps {
		structs[i] = benchIMStruct{
			ChannelID: m["channel_id"].(string), FromUID: m["from_uid"].(string),
			MsgID: m["msg_id"].(int64), MsgType: m["msg_type"].(uint8), Payload: m["payload"].([]byte),
		}
	}
	run := func(name string, rowsPerOp int, arg func(i int) any) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				sc := getInsertScratch()
				if _, err := tbl.prepareRows(sc, arg(i)); err != nil {
					b.Fatal(err)
				}
				sc.release()
			}
			b.ReportMetric(float64(b.N*rowsPerOp)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	run("map", 1, func(i int) any { return maps[i%len(maps)] })
	run("struct", 1, func(i int) any { return &structs[i%len(structs)] })
	run("map-batch100", 100, func(i int) any { j := (i * 100) % 900; return maps[j : j+100] })
	run("struct-batch100", 100, func(i int) any { j := (i * 100) % 900; return structs[j : j+100] })
}

// BenchmarkMemtableAdd measures memtable.add of encoded IM rows with
// consecutive seqs into a memtable indexing channel_id and msg_id (WAL
// replay per row, and every write but Insert); indexes=deferred is
// memtable.addInserts, what Insert does under writeMu (the index entries
// are left to the first index read); a fresh memtable every 50,000 rows
// (about the default 16 MiB).
func BenchmarkMemtableAdd(b *testing.B) {
	for _, mode := range []string{"false", "true", "deferred"} {
		indexed := mode != "false"
		b.Run("indexes="+mode, func(b *testing.B) {
			s, err := NewSchema("messages", imTableFields())
			require.NoError(b, err)
			var rows [][]byte
			for _, m := range benchIMRows(1024) {
				rv, err := s.rowFromMap(m)
				require.NoError(b, err)
				buf, err := encodeRow(nil, 0, 1, s.types(), rv.vals)
				require.NoError(b, err)
				rows = append(rows, buf)
			}
			newMem := func() *memtable {
				m := newMemtable(1)
				if indexed {
					m.idx = newMemIndexSet(s)
				}
				return m
			}
			m := newMem()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%50_000 == 0 && i > 0 {
					m = newMem()
				}
				row := rows[i%len(rows)]
				patchRowSeq(row, int64(i+1))
				if mode == "deferred" {
					one := [1]encodedRow{{timeNanos: 1, buf: row}}
					m.addInserts(int64(i+1), int64(i+1), one[:])
				} else {
					m.add(int64(i+1), kindSet, 1, row)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func openBenchDB(b *testing.B) *Database {
	b.Helper()
	db, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	return db
}

func createBenchIMTable(b *testing.B, db *Database) *Table {
	b.Helper()
	s, err := NewSchema("messages", imTableFields())
	require.NoError(b, err)
	tbl, err := db.CreateTable("messages", s)
	require.NoError(b, err)
	return tbl
}
