// Command quickstart is SRDB's demo: it creates a chat-message table in a
// temporary directory, inserts 200,000 rows, reads some back and prints what
// it measured.
//
//	go run ./examples/quickstart
package main

import (
	"fmt"
	"log"
	"math/rand"
	"os"
	"time"

	"github.com/srdb-go/srdb"
)

// Message is one chat message; the srdb tags give the schema.
type Message struct {
	ChannelID string `srdb:"channel_id;indexed;comment:conversation"`
	FromUID   string `srdb:"from_uid"`
	MsgID     int64  `srdb:"msg_id;indexed"`
	MsgType   uint8  `srdb:"msg_type"`
	Payload   []byte `srdb:"payload"`
}

const rows = 200_000

func main() {
	dir, err := os.MkdirTemp("", "srdb-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := srdb.Open(dir, nil) // nil: default options (DurabilityInterval)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	fields, err := srdb.StructToFields(Message{})
	if err != nil {
		log.Fatal(err)
	}
	schema, err := srdb.NewSchema("messages", fields)
	if err != nil {
		log.Fatal(err)
	}
	msgs, err := db.EnsureTable("messages", schema) // open-or-create: safe to run on every start
	if err != nil {
		log.Fatal(err)
	}

	rng := rand.New(rand.NewSource(1))
	payload := make([]byte, 200)
	batch := make([]Message, 0, 100)
	start := time.Now()
	for i := 0; i < rows; i++ {
		rng.Read(payload)
		batch = append(batch, Message{
			ChannelID: fmt.Sprintf("channel-%04d", rng.Intn(1000)),
			FromUID:   fmt.Sprintf("user-%05d", rng.Intn(50000)),
			MsgID:     int64(i + 1),
			MsgType:   uint8(rng.Intn(4)),
			Payload:   append([]byte(nil), payload...),
		})
		if len(batch) == cap(batch) {
			if _, err := msgs.Insert(batch); err != nil {
				log.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	took := time.Since(start)
	fmt.Printf("inserted %d rows in batches of 100 in %v (%.0f rows/s)\n", rows, took.Round(time.Millisecond), rows/took.Seconds())

	start = time.Now()
	one := time.Now()
	if _, err := msgs.Insert(map[string]any{
		"channel_id": "channel-0001", "from_uid": "user-00001", "msg_id": int64(rows + 1),
		"msg_type": uint8(1), "payload": []byte("hello"),
	}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("one more row inserted as a map in %v\n", time.Since(one).Round(time.Microsecond))

	if err := msgs.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("flushed memtables to SSTs in %v\n", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	const gets = 10_000
	for i := 0; i < gets; i++ {
		if _, err := msgs.Get(int64(rng.Intn(rows) + 1)); err != nil {
			log.Fatal(err)
		}
	}
	per := time.Since(start) / gets
	fmt.Printf("%d random Gets from SSTs: %v each\n", gets, per)

	for _, seq := range []int64{1, rows / 2, rows + 1} {
		row, err := msgs.Get(seq)
		if err != nil {
			log.Fatal(err)
		}
		ch, _ := row.Get("channel_id")
		from, _ := row.Get("from_uid")
		id, _ := row.Get("msg_id")
		fmt.Printf("  _seq=%d _time=%s channel_id=%v from_uid=%v msg_id=%v\n",
			row.Seq(), row.Time().Format(time.RFC3339Nano), ch, from, id)
	}
	st := msgs.Stats()
	fmt.Printf("table %q: %d rows, %d bytes in SSTs\n", st.Name, st.Rows, st.DiskBytes)
}
