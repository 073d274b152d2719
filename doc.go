// Package srdb is an embedded, append-only row / time-series storage engine.
//
// A program opens a directory, declares tables with a typed schema, appends
// rows at high rates, and reads them back by sequence number. Every row gets
// a _seq (int64, strictly increasing per table, never reused) and a _time
// (nanoseconds; the inserted "_time" value or the insert time).
//
// # Life of a handle
//
//	db, err := srdb.Open("./data", nil) // nil: DefaultOptions()
//	if err != nil { … }
//	defer db.Close()
//
//	schema, err := srdb.NewSchema("messages", []srdb.Field{
//		{Name: "channel_id", Type: srdb.String, Indexed: true},
//		{Name: "msg_id", Type: srdb.Int64},
//		{Name: "payload", Type: srdb.Bytes, Nullable: true},
//	})
//	msgs, err := db.EnsureTable("messages", schema) // opens the table, or creates it
//
//	seq, err := msgs.Insert(map[string]any{"channel_id": "general", "msg_id": 1})
//	row, err := msgs.Get(seq)
//	id, _ := row.Get("msg_id")
//	err = msgs.Update(seq, map[string]any{"payload": []byte("edited")})
//	err = msgs.Delete(seq)
//
// # Schema evolution
//
// EnsureTable compares an existing table with the schema by field name,
// type and Nullable: a Nullable field the schema adds is added (AddField),
// an index it declares is created, and any other difference is
// ErrSchemaViolation naming the field. Table.AddField adds a Nullable field
// (rows written before it read NULL); Table.DropField removes a field and its
// index (its name cannot be used again on that table). Neither rewrites a
// row or a file. Row.Scan and Query.Scan leave a struct field the table does
// not have at its zero value.
//
// # Following a table
//
// Table.Tail returns a Rows that delivers the rows from a seq on and then
// blocks in Next for each new one, waking when its Insert is acknowledged.
// Table.Consumer gives a named consumer group whose position (Commit,
// SeekTo) is durable in the table's MANIFEST, for at-least-once processing
// across restarts. The rules are in docs/STREAMS.md.
//
// # Concurrency
//
// Database, Table and their methods are safe for concurrent use by many
// goroutines. Writers to one table are serialised only for the moment it
// takes to assign seqs and append to the WAL buffer; concurrent writers in
// DurabilitySync mode share fsyncs (group commit). Readers never block
// writers. A Row is owned by the caller. A query bound to a context
// (Query.WithContext) stops with the context's error once it is done.
// Database.Close never waits on a Rows left open: it invalidates it (Next
// returns false, Err matches ErrClosed) and releases its files.
//
// # Durability
//
// A write is acknowledged (Insert/Update/Delete returns nil) when its WAL
// record is:
//
//   - DurabilitySync: fsynced. Survives process crash and power loss.
//   - DurabilityInterval (default): written to the kernel; fsynced within
//     SyncInterval. Survives a process crash; power loss may lose the writes
//     acknowledged since the last sync.
//   - DurabilityNone: buffered in the process; Flush, Close and memtable
//     switches make it durable.
//
// A failed WAL or MANIFEST write or fsync makes the table read-only with a
// sticky error (code CodeReadOnly): nothing is retried and nothing is
// acknowledged after it. Reopen the database to recover.
//
// Readers (Get, queries, Count, Stats) see a write once its WAL record is
// as durable as the mode promises: never while the call is still waiting
// for that, and never a write whose call returned an error. After a restart
// such a failed write may be present (whole) or absent: its record can have
// reached the file before the failure.
//
// # Errors
//
// Every error is an *Error with a numeric Code; compare with errors.Is
// against ErrNotFound, ErrClosed, ErrCorrupted, ErrTableExists,
// ErrTableNotFound, ErrSchemaViolation, ErrInvalidName, ErrInvalidQuery.
//
// No exported function or method panics. On a nil pointer or a zero value
// (a Database not returned by Open, a Table not returned by CreateTable or
// Table) the methods return ErrClosed — ErrInvalidQuery for a Query without
// a table, ErrInvalidArgument for Row.Scan — and methods without an error
// result return zero values. After DropTable, every method of the dropped
// table's *Table returns ErrClosed.
package srdb
