package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/srdb-go/srdb"
	"github.com/stretchr/testify/require"
)

// makeDB creates a database with one table of n rows flushed to SSTs.
func makeDB(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	db, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	s, err := srdb.NewSchema("messages", []srdb.Field{
		{Name: "channel", Type: srdb.String, Indexed: true},
		{Name: "body", Type: srdb.String},
	})
	require.NoError(t, err)
	tbl, err := db.CreateTable("messages", s)
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		_, err := tbl.Insert(map[string]any{"channel": fmt.Sprintf("c%d", i%7), "body": fmt.Sprintf("message %d", i)})
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, db.Close())
	return dir
}

func TestCheckHealthyDatabase(t *testing.T) {
	dir := makeDB(t, 500)
	var out bytes.Buffer
	require.Equal(t, exitOK, run([]string{"check", dir}, &out), out.String())
	require.Contains(t, out.String(), "table messages: 1 SST files")
	require.Contains(t, out.String(), "500 rows")
	require.Contains(t, out.String(), "1 table(s), ok")
}

func TestCheckCorruptSST(t *testing.T) {
	dir := makeDB(t, 500)
	ssts, err := filepath.Glob(filepath.Join(dir, "tables", "messages", "*.sst"))
	require.NoError(t, err)
	require.Len(t, ssts, 1)
	data, err := os.ReadFile(ssts[0])
	require.NoError(t, err)
	data[len(data)/2] ^= 0x40 // a bit flip inside the rows
	require.NoError(t, os.WriteFile(ssts[0], data, 0o600))

	var out bytes.Buffer
	require.Equal(t, exitProblems, run([]string{"check", dir}, &out), out.String())
	require.Contains(t, out.String(), "table messages:")
	require.Contains(t, out.String(), "problem(s)")
	require.Contains(t, out.String(), filepath.Base(ssts[0]), "the report names the damaged file")
	require.Contains(t, out.String(), "PROBLEMS FOUND")
}

func TestCheckBrokenTable(t *testing.T) {
	dir := makeDB(t, 10)
	schema := filepath.Join(dir, "tables", "messages", "schema.json")
	require.NoError(t, os.WriteFile(schema, []byte("{}"), 0o600))
	var out bytes.Buffer
	require.Equal(t, exitProblems, run([]string{"check", dir}, &out), out.String())
	require.Contains(t, out.String(), "table messages: FAILED TO OPEN")
}

func TestCheckUsageAndOpenErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"check"}, {"verify", "x"}, {"check", "a", "b"}} {
		var out bytes.Buffer
		require.Equal(t, exitUsage, run(args, &out), "%q", args)
		require.Contains(t, out.String(), "usage:")
	}
	missing := filepath.Join(t.TempDir(), "nothing-here")
	var out bytes.Buffer
	require.Equal(t, exitUsage, run([]string{"check", missing}, &out))
	require.Contains(t, out.String(), "not an SRDB database")
	_, err := os.Stat(missing)
	require.True(t, os.IsNotExist(err), "check must not create the directory")

	// A database in use by another Database: the LOCK refuses a second open.
	dir := makeDB(t, 1)
	db, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	out.Reset()
	require.Equal(t, exitUsage, run([]string{"check", dir}, &out))
	require.Contains(t, out.String(), "open")
}
