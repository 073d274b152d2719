package srdb

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilenamesRoundTrip(t *testing.T) {
	cases := []struct {
		typ  fileType
		num  uint64
		name string
	}{
		{fileTypeWAL, 12, "000012.wal"},
		{fileTypeSST, 12, "000012.sst"},
		{fileTypeSST, 0, "000000.sst"},
		{fileTypeSST, 1234567, "1234567.sst"},
		{fileTypeSST, 1<<64 - 1, "18446744073709551615.sst"},
		{fileTypeManifest, 3, "MANIFEST-000003"},
		{fileTypeTemp, 7, "000007.tmp"},
		{fileTypeCurrent, 0, "CURRENT"},
		{fileTypeSchema, 0, "schema.json"},
		{fileTypeLock, 0, "LOCK"},
		{fileTypeDBMeta, 0, "database.meta"},
	}
	for _, c := range cases {
		require.Equal(t, c.name, makeFilename(c.typ, c.num), "%v %d", c.typ, c.num)
		typ, num, ok := parseFilename(c.name)
		require.True(t, ok, c.name)
		require.Equal(t, c.typ, typ, c.name)
		require.Equal(t, c.num, num, c.name)
	}
	require.Equal(t, filepath.Join("d", "x", "000009.sst"), makeFilepath(filepath.Join("d", "x"), fileTypeSST, 9))
	require.Equal(t, "", makeFilename(fileTypeUnknown, 1))
}

func TestParseFilenameRejects(t *testing.T) {
	for _, name := range []string{
		"", "12.sst", "0000012.sst", "00001x.sst", "000012.SST", "MANIFEST-", "MANIFEST-12",
		"MANIFEST-0000012", "MANIFEST-00001a", "manifest-000001", "CURRENT2", ".tmp", "000012.wal.bak",
		"18446744073709551616.sst", "-00001.sst", "+00001.wal", " 00001.wal", "LOCK ", "schema.json.bak",
	} {
		typ, num, ok := parseFilename(name)
		assert.False(t, ok, "%q", name)
		assert.Equal(t, fileTypeUnknown, typ, "%q", name)
		assert.Zero(t, num, "%q", name)
	}
}

func TestParseFilenameTemp(t *testing.T) {
	for _, name := range []string{"CURRENT.tmp", "schema.json.tmp", "x.tmp", "000012.sst.tmp"} {
		typ, num, ok := parseFilename(name)
		require.True(t, ok, name)
		require.Equal(t, fileTypeTemp, typ, name)
		require.Zero(t, num, name)
	}
}

func TestFileTypeString(t *testing.T) {
	seen := map[string]bool{}
	for typ := fileTypeUnknown; typ <= fileTypeDBMeta; typ++ {
		s := typ.String()
		require.False(t, seen[s], s)
		seen[s] = true
	}
}
