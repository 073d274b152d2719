package srdb_test

// Runnable examples of the main API; go doc shows them beside the functions
// they name, and go test checks their output.

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/srdb-go/srdb"
)

// exampleEpoch is the _time of the examples' rows, so their output is stable.
var exampleEpoch = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

// openExample opens a database in a fresh temporary directory and creates a
// chat-message table in it; cleanup closes and removes it.
func openExample() (db *srdb.Database, msgs *srdb.Table, cleanup func()) {
	dir, err := os.MkdirTemp("", "srdb-example-")
	if err != nil {
		log.Fatal(err)
	}
	db, err = srdb.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	schema, err := srdb.NewSchema("messages", []srdb.Field{
		{Name: "channel_id", Type: srdb.String, Indexed: true},
		{Name: "from_uid", Type: srdb.String},
		{Name: "msg_id", Type: srdb.Int64, Indexed: true},
		{Name: "body", Type: srdb.String, Nullable: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	msgs, err = db.CreateTable("messages", schema)
	if err != nil {
		log.Fatal(err)
	}
	return db, msgs, func() {
		if err := db.Close(); err != nil {
			log.Fatal(err)
		}
		os.RemoveAll(dir)
	}
}

// insertMessages inserts n messages spread over channels "a" and "b", one
// second apart, as one atomic batch.
func insertMessages(msgs *srdb.Table, n int) {
	batch := make([]map[string]any, n)
	for i := range batch {
		batch[i] = map[string]any{
			"channel_id": []string{"a", "b"}[i%2],
			"from_uid":   fmt.Sprintf("u%d", i%3),
			"msg_id":     int64(100 + i),
			"body":       fmt.Sprintf("message %d", i),
			"_time":      exampleEpoch.Add(time.Duration(i) * time.Second),
		}
	}
	if _, err := msgs.Insert(batch); err != nil {
		log.Fatal(err)
	}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "srdb-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	opts := srdb.DefaultOptions()
	opts.Durability = srdb.DurabilitySync // Insert returns after the WAL is fsynced
	db, err := srdb.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	fmt.Println(db.Tables())
	// Output: []
}

func ExampleTable_Insert() {
	db, msgs, cleanup := openExample()
	defer cleanup()
	_ = db

	// One row: a map (or a struct) gets the next seq.
	seq, err := msgs.Insert(map[string]any{"channel_id": "a", "from_uid": "u1", "msg_id": 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first row:", seq)

	// A slice is one atomic batch with consecutive seqs.
	seq, err = msgs.Insert([]map[string]any{
		{"channel_id": "a", "from_uid": "u2", "msg_id": 2},
		{"channel_id": "b", "from_uid": "u1", "msg_id": 3, "body": "hi"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("batch starts at:", seq)

	// A missing non-nullable field is refused and nothing is written.
	_, err = msgs.Insert(map[string]any{"channel_id": "a"})
	fmt.Println(errors.Is(err, srdb.ErrSchemaViolation))
	// Output:
	// first row: 1
	// batch starts at: 2
	// true
}

func ExampleTable_Get() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 3)

	row, err := msgs.Get(2)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := row.Get("body")
	fmt.Println(row.Seq(), row.Time().Format(time.RFC3339), body)

	_, err = msgs.Get(99)
	fmt.Println(srdb.IsNotFound(err))
	// Output:
	// 2 2026-01-02T15:04:06Z message 1
	// true
}

func ExampleTable_Update() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 2)

	// An update writes a new version of the row under the same seq.
	if err := msgs.Update(1, map[string]any{"body": "edited"}); err != nil {
		log.Fatal(err)
	}
	row, _ := msgs.Get(1)
	body, _ := row.Get("body")
	fmt.Println(body)

	if err := msgs.Delete(2); err != nil {
		log.Fatal(err)
	}
	n, _ := msgs.Query().Count()
	fmt.Println(n, "row left")
	// Output:
	// edited
	// 1 row left
}

// The last N messages of a channel, newest first, then the page before them:
// both are index range reads of N rows whatever the channel's size.
func ExampleQuery_OrderByDesc() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 20)

	last, err := msgs.Query().Eq("channel_id", "a").OrderByDesc("_seq").Limit(3).Rows()
	if err != nil {
		log.Fatal(err)
	}
	var oldest int64
	for last.Next() {
		id, _ := last.Row().Get("msg_id")
		fmt.Println(last.Row().Seq(), id)
		oldest = last.Row().Seq()
	}
	if err := last.Close(); err != nil {
		log.Fatal(err)
	}

	fmt.Println("page back:")
	page, err := msgs.Query().Eq("channel_id", "a").Lt("_seq", oldest).OrderByDesc("_seq").Limit(3).Rows()
	if err != nil {
		log.Fatal(err)
	}
	defer page.Close()
	for page.Next() {
		fmt.Println(page.Row().Seq())
	}
	// Output:
	// 19 118
	// 17 116
	// 15 114
	// page back:
	// 13
	// 11
	// 9
}

func ExampleQuery_Scan() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 6)

	// Struct fields map to table fields by their srdb tag or their name;
	// _seq and _time can be scanned too.
	type message struct {
		Seq     int64     `srdb:"_seq"`
		Time    time.Time `srdb:"_time"`
		Channel string    `srdb:"channel_id"`
		MsgID   int64     `srdb:"msg_id"`
	}
	var out []message
	err := msgs.Query().Eq("from_uid", "u0").Scan(&out)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range out {
		fmt.Println(m.Seq, m.Time.Format("15:04:05"), m.Channel, m.MsgID)
	}
	// Output:
	// 1 15:04:05 a 100
	// 4 15:04:08 b 103
}

func ExampleQuery_Paginate() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 7)

	rows, total, err := msgs.Query().OrderByDesc("msg_id").Paginate(2, 3)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	fmt.Println("total", total)
	for rows.Next() {
		id, _ := rows.Row().Get("msg_id")
		fmt.Println(id)
	}
	// Output:
	// total 7
	// 103
	// 102
	// 101
}

func ExampleQuery_Where() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 10)

	// (from u1 OR msg_id >= 108) AND channel b
	n, err := msgs.Query().
		Where(srdb.Or(srdb.Eq("from_uid", "u1"), srdb.Gte("msg_id", 108))).
		Eq("channel_id", "b").
		Count()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
	// Output: 3
}

func ExampleTable_CreateIndex() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	insertMessages(msgs, 10)

	// The index is built over the rows already stored; queries use it once
	// it is complete.
	if err := msgs.CreateIndex("from_uid"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(msgs.Indexes())
	plan, err := msgs.Query().Eq("from_uid", "u2").Explain()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan[:len("table: messages\naccess: index from_uid")], "\n")
	// Output:
	// [channel_id from_uid msg_id]
	// table: messages
	// access: index from_uid
}

func ExampleWithIndex() {
	dir, err := os.MkdirTemp("", "srdb-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := srdb.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// A per-channel message sequence, indexed with the channel: Eq on the
	// channel plus a range or order on msg_seq is one index range.
	schema, err := srdb.NewSchema("chat", []srdb.Field{
		{Name: "channel_id", Type: srdb.String},
		{Name: "msg_seq", Type: srdb.Int64},
		{Name: "text", Type: srdb.String},
	}, srdb.WithIndex("channel_id", "msg_seq"))
	if err != nil {
		log.Fatal(err)
	}
	chat, err := db.CreateTable("chat", schema)
	if err != nil {
		log.Fatal(err)
	}
	for i := int64(1); i <= 50; i++ {
		ch := []string{"a", "b"}[i%2]
		if _, err := chat.Insert(map[string]any{"channel_id": ch, "msg_seq": (i + 1) / 2, "text": fmt.Sprint("hello ", i)}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(chat.Indexes())
	// Page back in channel "a": the 3 messages before msg_seq 10.
	rows, err := chat.Query().Eq("channel_id", "a").Lt("msg_seq", 10).OrderByDesc("msg_seq").Limit(3).Rows()
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		seq, _ := rows.Row().Get("msg_seq")
		fmt.Print(seq, " ")
	}
	fmt.Println()
	// Output:
	// [channel_id,msg_seq]
	// 9 8 7
}

// A message and its channel's last message id in one atomic write: after a
// crash both are there or neither is.
func ExampleDatabase_NewBatch() {
	db, msgs, cleanup := openExample()
	defer cleanup()
	schema, err := srdb.NewSchema("channels", []srdb.Field{
		{Name: "channel_id", Type: srdb.String},
		{Name: "last_msg_id", Type: srdb.Int64},
	})
	if err != nil {
		log.Fatal(err)
	}
	channels, err := db.CreateTable("channels", schema)
	if err != nil {
		log.Fatal(err)
	}
	chSeq, err := channels.Insert(map[string]any{"channel_id": "general", "last_msg_id": int64(0)})
	if err != nil {
		log.Fatal(err)
	}
	seqs, err := db.NewBatch().
		Insert("messages", map[string]any{"channel_id": "general", "from_uid": "ann", "msg_id": int64(7), "body": "hi", "_time": exampleEpoch}).
		Update("channels", chSeq, map[string]any{"last_msg_id": int64(7)}).
		Commit()
	if err != nil {
		log.Fatal(err)
	}
	ch, _ := channels.Get(chSeq)
	last, _ := ch.Get("last_msg_id")
	n, _ := msgs.Query().Count()
	fmt.Println("inserted seqs:", seqs, "messages:", n, "last_msg_id:", last)
	// Output: inserted seqs: [1] messages: 1 last_msg_id: 7
}
