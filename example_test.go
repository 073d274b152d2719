package srdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/srdb-go/srdb"
)

// A query bound to a context stops with the context's error once it is done:
// here a deadline bounds a Count, and an already cancelled context stops
// the next query before it reads a row.
func ExampleQuery_WithContext() {
	dir, err := os.MkdirTemp("", "srdb-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := srdb.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	s, err := srdb.NewSchema("events", []srdb.Field{{Name: "kind", Type: srdb.String}})
	if err != nil {
		panic(err)
	}
	events, err := db.CreateTable("events", s)
	if err != nil {
		panic(err)
	}
	for _, kind := range []string{"click", "view", "click"} {
		if _, err := events.Insert(map[string]any{"kind": kind}); err != nil {
			panic(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := events.Query().Eq("kind", "click").WithContext(ctx).Count()
	fmt.Println(n, err)

	gone, stop := context.WithCancel(context.Background())
	stop() // the client went away
	_, err = events.Query().Eq("kind", "click").WithContext(gone).Rows()
	fmt.Println(errors.Is(err, context.Canceled), srdb.ErrorCode(err) == srdb.CodeCanceled)
	// Output:
	// 2 <nil>
	// true true
}
