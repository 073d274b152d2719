package srdb

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenCreatesAndLocks(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	require.NoError(t, err)
	_, err = Open(dir, nil)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrLocked), "second opener: %v", err)
	require.Equal(t, CodeLocked, ErrorCode(err))
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")
	db, err = Open(dir, nil)
	require.NoError(t, err, "lock released by Close")
	require.NoError(t, db.Close())
}

func TestCreateDropTables(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir, nil)
	schemaOf := func(name string) *Schema {
		s, err := NewSchema(name, imTableFields())
		require.NoError(t, err)
		return s
	}
	for _, name := range []string{"b", "a", "c_1"} {
		_, err := db.CreateTable(name, schemaOf(name))
		require.NoError(t, err)
	}
	s := schemaOf("a")
	_, err := db.CreateTable("a", s)
	require.True(t, errors.Is(err, ErrTableExists))
	require.Equal(t, []string{"a", "b", "c_1"}, db.Tables())
	for _, bad := range []string{"", "..", "../x", "a/b", "a\x00b", "1abc", string(make([]byte, 65))} {
		_, err := db.CreateTable(bad, s)
		require.True(t, errors.Is(err, ErrInvalidName), "name %q: %v", bad, err)
		require.True(t, errors.Is(db.DropTable(bad), ErrInvalidName))
	}
	_, err = db.Table("zzz")
	require.True(t, errors.Is(err, ErrTableNotFound))
	require.True(t, errors.Is(db.DropTable("zzz"), ErrTableNotFound))

	tb, err := db.Table("b")
	require.NoError(t, err)
	_, err = tb.Insert(imTableRow(1))
	require.NoError(t, err)
	require.NoError(t, db.DropTable("b"))
	_, err = os.Stat(filepath.Join(dir, tablesDirName, "b"))
	require.True(t, os.IsNotExist(err), "dropped table directory removed")
	_, err = tb.Insert(imTableRow(2))
	require.True(t, IsClosed(err), "insert into a dropped table: %v", err)
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, nil)
	defer db.Close()
	require.Equal(t, []string{"a", "c_1"}, db.Tables())
	// Recreating a dropped name starts empty.
	tb, err = db.CreateTable("b", schemaOf("b"))
	require.NoError(t, err)
	_, err = tb.Get(1)
	require.True(t, IsNotFound(err))
}

func TestCorruptSchemaLeavesOtherTablesWorking(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir, nil)
	for _, name := range []string{"good", "bad"} {
		s, err := NewSchema(name, imTableFields())
		require.NoError(t, err)
		tb, err := db.CreateTable(name, s)
		require.NoError(t, err)
		_, err = tb.Insert(imTableRow(1))
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())
	path := filepath.Join(dir, tablesDirName, "bad", schemaFileName)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0x20
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	db = openTestDB(t, dir, nil)
	defer db.Close()
	_, err = db.Table("bad")
	require.True(t, IsCorrupted(err), "got %v", err)
	good, err := db.Table("good")
	require.NoError(t, err)
	_, err = good.Get(1)
	require.NoError(t, err)
	names := db.Tables()
	sort.Strings(names)
	require.Equal(t, []string{"bad", "good"}, names)
}

func TestCorruptDatabaseMetaFailsOpen(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir, nil)
	s, _ := NewSchema("a", imTableFields())
	_, err := db.CreateTable("a", s)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	path := filepath.Join(dir, dbMetaName)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, mutate := range []func([]byte) []byte{
		func(b []byte) []byte { return b[:len(b)/2] },
		func(b []byte) []byte { c := append([]byte{}, b...); c[len(c)-5] ^= 1; return c },
		func(b []byte) []byte { return append(append([]byte{}, b...), "garbage"...) },
	} {
		require.NoError(t, os.WriteFile(path, mutate(raw), 0o600))
		_, err := Open(dir, nil)
		require.True(t, IsCorrupted(err), "got %v", err)
	}
}

func TestUseAfterClose(t *testing.T) {
	db := openTestDB(t, t.TempDir(), nil)
	tbl := createIMTable(t, db)
	seq, err := tbl.Insert(imTableRow(1))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = tbl.Insert(imTableRow(2))
	require.True(t, IsClosed(err))
	_, err = tbl.Get(seq)
	require.True(t, IsClosed(err))
	require.True(t, IsClosed(tbl.Update(seq, map[string]any{"msg_id": int64(3)})))
	require.True(t, IsClosed(tbl.Delete(seq)))
	require.True(t, IsClosed(tbl.Flush()))
	_, err = db.Table("messages")
	require.True(t, IsClosed(err))
	_, err = db.CreateTable("messages", tbl.Schema())
	require.True(t, IsClosed(err))
	require.Nil(t, db.Tables())
}

func TestOrphanTableDirectoryRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir, nil)
	require.NoError(t, db.Close())
	orphan := filepath.Join(dir, tablesDirName, "ghost")
	require.NoError(t, os.MkdirAll(orphan, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(orphan, "000001.wal"), []byte("x"), 0o600))
	db = openTestDB(t, dir, nil)
	defer db.Close()
	_, err := os.Stat(orphan)
	require.True(t, os.IsNotExist(err))
	require.Empty(t, db.Tables())
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := openTestDB(t, dir, nil)
	tbl := createIMTable(t, db)
	_, err := tbl.Insert(imTableRow(1))
	require.NoError(t, err)
	require.NoError(t, tbl.Flush())
	require.NoError(t, db.Close())
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		if info.IsDir() {
			require.Equal(t, os.FileMode(0o700), info.Mode().Perm(), p)
		} else {
			require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), p)
		}
		return nil
	}))
}

func TestCheckHealthyAndDamaged(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.MemTableSize = 16 << 10
	db := openTestDB(t, dir, opts)
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 500; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Delete(7))
	require.NoError(t, tbl.Flush())
	require.NoError(t, db.Check())
	require.NoError(t, db.Close())

	// Flip one byte in the middle of an SST: Check (or Open) must say so.
	tdir := filepath.Join(dir, tablesDirName, "messages")
	names, err := os.ReadDir(tdir)
	require.NoError(t, err)
	var sst string
	for _, e := range names {
		if typ, _, ok := parseFilename(e.Name()); ok && typ == fileTypeSST {
			sst = filepath.Join(tdir, e.Name())
			break
		}
	}
	require.NotEmpty(t, sst)
	raw, err := os.ReadFile(sst)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0x40
	require.NoError(t, os.WriteFile(sst, raw, 0o600))

	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer db.Close()
	err = db.Check()
	require.Error(t, err)
	require.True(t, IsCorrupted(err), "got %v", err)
	require.Contains(t, err.Error(), "messages")
}
