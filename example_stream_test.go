package srdb_test

import (
	"context"
	"fmt"
	"log"
	"time"
)

// A tail delivers the rows from a seq on, then each new row as its Insert
// is acknowledged, until its context ends.
func ExampleTable_Tail() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	if _, err := msgs.Insert(map[string]any{"channel_id": "general", "from_uid": "u1", "msg_id": 1}); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := msgs.Tail(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	go func() { // a writer elsewhere
		for id := int64(2); id <= 3; id++ {
			if _, err := msgs.Insert(map[string]any{"channel_id": "general", "from_uid": "u2", "msg_id": id}); err != nil {
				log.Fatal(err)
			}
		}
	}()
	for n := 0; n < 3 && rows.Next(); n++ {
		id, _ := rows.Row().Get("msg_id")
		fmt.Println(rows.Row().Seq(), id)
	}
	// Output:
	// 1 1
	// 2 2
	// 3 3
}

// A consumer group processes each row at least once across restarts:
// Commit records durably how far it got.
func ExampleTable_Consumer() {
	_, msgs, cleanup := openExample()
	defer cleanup()
	for id := int64(1); id <= 3; id++ {
		if _, err := msgs.Insert(map[string]any{"channel_id": "general", "from_uid": "u1", "msg_id": id}); err != nil {
			log.Fatal(err)
		}
	}
	c, err := msgs.Consumer("indexer")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		row, err := c.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("handled", row.Seq())
		if err := c.Commit(row.Seq()); err != nil {
			log.Fatal(err)
		}
	}
	lag, err := c.Lag()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("position", c.Position(), "lag", lag, "groups", msgs.Consumers())
	// Output:
	// handled 1
	// handled 2
	// position 2 lag 1 groups [indexer]
}
