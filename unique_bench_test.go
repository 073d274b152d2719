package srdb

import (
	"fmt"
	"testing"
)

// BenchmarkUniqueWrites: the cost of a unique index on the write path, one
// row per call (DurabilityNone, in-memory FS, 10,000 keys):
//
//   - insert: Insert into a table without a unique index (the reference);
//   - insert-unique: Insert into a table whose (ch, id) is unique (one
//     index lookup per row);
//   - upsert-update: Upsert of a key that exists (lookup, then a new
//     version of the row);
//   - upsert-insert: Upsert of a new key.
func BenchmarkUniqueWrites(b *testing.B) {
	open := func(b *testing.B, unique bool) *Table {
		o := DefaultOptions()
		o.FS = newMemFS()
		o.Durability = DurabilityNone
		db, err := Open("/db", o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		var opts []SchemaOption
		if unique {
			opts = append(opts, WithUniqueIndex("ch", "id"))
		}
		s, err := NewSchema("msgs", []Field{{Name: "ch", Type: String}, {Name: "id", Type: Int64, Nullable: true}, {Name: "body", Type: String}}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		tbl, err := db.CreateTable("msgs", s)
		if err != nil {
			b.Fatal(err)
		}
		return tbl
	}
	const keys = 10_000
	row := func(i int) map[string]any {
		return uqRow(fmt.Sprintf("c%d", i%100), i, "a message body of some forty bytes......")
	}
	b.Run("insert", func(b *testing.B) {
		tbl := open(b, false)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := tbl.Insert(row(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("insert-unique", func(b *testing.B) {
		tbl := open(b, true)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := tbl.Insert(row(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("upsert-update", func(b *testing.B) {
		tbl := open(b, true)
		for i := range keys {
			if _, err := tbl.Insert(row(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := tbl.Upsert(row(i % keys)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("upsert-insert", func(b *testing.B) {
		tbl := open(b, true)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := tbl.Upsert(row(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
