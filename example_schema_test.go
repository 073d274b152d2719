package srdb_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/srdb-go/srdb"
)

// EnsureTable opens a table or creates it, so a program can call it on every
// start; a later version of the program may add Nullable fields.
func ExampleDatabase_EnsureTable() {
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

	v1, _ := srdb.NewSchema("users", []srdb.Field{{Name: "name", Type: srdb.String}})
	users, err := db.EnsureTable("users", v1) // creates the table
	if err != nil {
		log.Fatal(err)
	}
	if _, err := users.Insert(map[string]any{"name": "ada"}); err != nil {
		log.Fatal(err)
	}

	// Version 2 of the program adds a Nullable field: EnsureTable adds it,
	// and the row written before reads it as NULL.
	v2, _ := srdb.NewSchema("users", []srdb.Field{
		{Name: "name", Type: srdb.String},
		{Name: "email", Type: srdb.String, Nullable: true},
	})
	users, err = db.EnsureTable("users", v2)
	if err != nil {
		log.Fatal(err)
	}
	row, _ := users.Get(1)
	email, _ := row.Get("email")
	fmt.Println(users.Schema(), email)

	// A field that is not Nullable cannot be added to existing rows.
	v3, _ := srdb.NewSchema("users", append(v2.Fields(), srdb.Field{Name: "age", Type: srdb.Int}))
	_, err = db.EnsureTable("users", v3)
	fmt.Println(errors.Is(err, srdb.ErrSchemaViolation))
	// Output:
	// users(name string, email string nullable) <nil>
	// true
}
