package srdb

import (
	"path/filepath"
	"strconv"
	"strings"
)

// fileType is the kind of a file in a table (or database) directory. The
// name of every file SRDB creates is made by makeFilename and recognised by
// parseFilename; nothing else formats or parses file numbers.
//
// Numbered files carry a file number handed out by versionSet.newFileNum,
// printed in decimal with at least six digits ("000012"; a number of a
// million or more simply has more digits). Only the canonical spelling is
// recognised: "12.sst" and "0000012.sst" are not SSTs of file 12, so two
// names can never denote the same file.
type fileType int

const (
	fileTypeUnknown  fileType = iota // not a name SRDB makes
	fileTypeWAL                      // "000012.wal": write-ahead log
	fileTypeSST                      // "000012.sst": sorted table
	fileTypeManifest                 // "MANIFEST-000003": version edits
	fileTypeCurrent                  // "CURRENT": names the live MANIFEST
	fileTypeTemp                     // "000012.tmp", "CURRENT.tmp", …: any name ending in ".tmp"
	fileTypeSchema                   // "schema.json": the table's schema
	fileTypeLock                     // "LOCK": database-level exclusive lock
	fileTypeDBMeta                   // "database.meta": database-level table list
)

// Fixed parts of file names. Frozen: they are on disk.
const (
	walSuffix      = ".wal"
	sstSuffix      = ".sst"
	tempSuffix     = ".tmp"
	manifestPrefix = "MANIFEST-"
	currentName    = "CURRENT"
	schemaName     = "schema.json"
	lockName       = "LOCK"
	dbMetaName     = "database.meta"
	tablesDirName  = "tables" // directory of the tables' directories
	fileNumDigits  = 6        // minimum digits of a printed file number
)

// String returns a short human name of the type ("wal", "sst", …).
func (t fileType) String() string {
	switch t {
	case fileTypeWAL:
		return "wal"
	case fileTypeSST:
		return "sst"
	case fileTypeManifest:
		return "manifest"
	case fileTypeCurrent:
		return "current"
	case fileTypeTemp:
		return "temp"
	case fileTypeSchema:
		return "schema"
	case fileTypeLock:
		return "lock"
	case fileTypeDBMeta:
		return "dbmeta"
	}
	return "unknown"
}

// formatFileNum prints num with at least fileNumDigits digits.
func formatFileNum(num uint64) string {
	s := strconv.FormatUint(num, 10)
	if len(s) < fileNumDigits {
		s = strings.Repeat("0", fileNumDigits-len(s)) + s
	}
	return s
}

// parseFileNum parses the canonical spelling of a file number (the one
// formatFileNum produces) and rejects every other.
func parseFileNum(s string) (uint64, bool) {
	if len(s) < fileNumDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || formatFileNum(n) != s {
		return 0, false
	}
	return n, true
}

// makeFilename returns the base name of a file of type typ. num is used by
// the numbered types (WAL, SST, MANIFEST) and by fileTypeTemp ("000012.tmp");
// the other types have fixed names and ignore it. fileTypeUnknown yields "".
func makeFilename(typ fileType, num uint64) string {
	switch typ {
	case fileTypeWAL:
		return formatFileNum(num) + walSuffix
	case fileTypeSST:
		return formatFileNum(num) + sstSuffix
	case fileTypeManifest:
		return manifestPrefix + formatFileNum(num)
	case fileTypeCurrent:
		return currentName
	case fileTypeTemp:
		return formatFileNum(num) + tempSuffix
	case fileTypeSchema:
		return schemaName
	case fileTypeLock:
		return lockName
	case fileTypeDBMeta:
		return dbMetaName
	}
	return ""
}

// sstName returns the file name of SST number num, e.g. "000123.sst".
func sstName(num uint64) string { return makeFilename(fileTypeSST, num) }

// makeFilepath returns dir joined with makeFilename(typ, num).
func makeFilepath(dir string, typ fileType, num uint64) string {
	return filepath.Join(dir, makeFilename(typ, num))
}

// parseFilename recognises a base name made by makeFilename. num is the file
// number for the numbered types and for a numbered temp file, else 0. Any
// name ending in ".tmp" is fileTypeTemp (writeFileAtomic makes "CURRENT.tmp",
// "schema.json.tmp", …). ok is false for names SRDB does not make; typ is
// then fileTypeUnknown.
func parseFilename(name string) (typ fileType, num uint64, ok bool) {
	switch name {
	case currentName:
		return fileTypeCurrent, 0, true
	case schemaName:
		return fileTypeSchema, 0, true
	case lockName:
		return fileTypeLock, 0, true
	case dbMetaName:
		return fileTypeDBMeta, 0, true
	}
	if rest, found := strings.CutPrefix(name, manifestPrefix); found {
		if n, ok := parseFileNum(rest); ok {
			return fileTypeManifest, n, true
		}
		return fileTypeUnknown, 0, false
	}
	if rest, found := strings.CutSuffix(name, tempSuffix); found {
		if rest == "" {
			return fileTypeUnknown, 0, false
		}
		n, _ := parseFileNum(rest)
		return fileTypeTemp, n, true
	}
	if rest, found := strings.CutSuffix(name, walSuffix); found {
		if n, ok := parseFileNum(rest); ok {
			return fileTypeWAL, n, true
		}
		return fileTypeUnknown, 0, false
	}
	if rest, found := strings.CutSuffix(name, sstSuffix); found {
		if n, ok := parseFileNum(rest); ok {
			return fileTypeSST, n, true
		}
	}
	return fileTypeUnknown, 0, false
}
