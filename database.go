package srdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Database is an open SRDB directory: a set of tables. All methods are safe
// for concurrent use. A directory is opened for writing by one Database at a
// time (an exclusive flock on dir/LOCK); a second Open fails with ErrLocked.
// Any number of Databases opened with Options.ReadOnly may read it beside
// the writer (readonly.go).
//
// Directory layout:
//
//	dir/LOCK               flock held while open
//	dir/database.meta      table list and format version (JSON + CRC)
//	dir/tables/<name>/     one directory per table: schema.json, CURRENT,
//	                       MANIFEST-*, *.wal, *.sst
type Database struct {
	dir  string
	opts *Options
	fs   FS
	lock io.Closer

	// mu guards the fields below. Table opening and closing happen under
	// it; row reads and writes never take it.
	mu     sync.RWMutex
	tables map[string]*Table
	broken map[string]error // tables named in database.meta that failed to open
	closed bool

	// compactionSlots is the database-wide compaction semaphore (capacity
	// Options.CompactionWorkers), made by Open and shared by every table.
	compactionSlots chan struct{}

	// refreshMu serialises Refresh calls (Options.ReadOnly, readonly.go);
	// taken before mu.
	refreshMu sync.Mutex
	// batchSeq is the id of the last Batch committed (or found at Open);
	// Commit takes the next under the write locks of its tables.
	batchSeq atomic.Uint64
}

// droppedDirSuffix names the directory of a table being dropped
// (tables/<name>.dropped, see DropTable).
const droppedDirSuffix = ".dropped"

// metaFormat is the format version of database.meta.
const metaFormat = 1

// Open opens (creating if needed) the database in dir. A nil opts means
// DefaultOptions(). Every table named in database.meta is opened and
// recovered; a table that fails to open (for example a corrupt schema.json)
// does not stop the others: Table(name) reports its error. With
// opts.ReadOnly, Open takes no lock, creates and changes nothing, and a
// directory without database.meta is ErrNotFound (see Options.ReadOnly).
func Open(dir string, opts *Options) (_ *Database, err error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, newError(CodeInvalidArgument, "Open: empty directory name")
	}
	if o.ReadOnly {
		return openReadOnly(dir, o)
	}
	fs := o.FS
	if err := fs.MkdirAll(dir); err != nil {
		return nil, ioError("mkdir", dir, err)
	}
	if err := fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, ioError("fsync dir", filepath.Dir(dir), err)
	}
	lock, err := fs.Lock(filepath.Join(dir, lockName))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fileError(CodeLocked, filepath.Join(dir, lockName), "database is locked by another process or Database")
		}
		return nil, ioError("lock", filepath.Join(dir, lockName), err)
	}
	db := &Database{dir: dir, opts: o, fs: fs, lock: lock, tables: map[string]*Table{}, broken: map[string]error{},
		compactionSlots: make(chan struct{}, o.CompactionWorkers)}
	defer func() {
		if err != nil {
			db.closeTables()
			lock.Close()
		}
	}()
	names, err := db.loadMeta()
	if err != nil {
		return nil, err
	}
	if err := fs.MkdirAll(filepath.Join(dir, tablesDirName)); err != nil {
		return nil, ioError("mkdir", filepath.Join(dir, tablesDirName), err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return nil, ioError("fsync dir", dir, err)
	}
	for _, name := range names {
		t, err := openTable(db, name, db.tableDir(name))
		if err != nil {
			o.Logger.Error("srdb: table failed to open", slog.String("table", name), slog.Any("err", err))
			db.broken[name] = withTable(err, name)
			continue
		}
		db.tables[name] = t
	}
	if err := db.repairBatches(); err != nil {
		return nil, err
	}
	if err := db.removeOrphanTableDirs(names); err != nil {
		return nil, err
	}
	return db, nil
}

// usable returns ErrClosed for a nil Database or a zero Database value (one
// not returned by Open): every exported method checks it first, so none
// panics, and none touches the file system, on such a receiver.
func (db *Database) usable() error {
	if db == nil || db.fs == nil {
		return newError(CodeClosed, "nil or zero Database (not returned by Open)")
	}
	return nil
}

func (db *Database) tableDir(name string) string {
	return filepath.Join(db.dir, tablesDirName, name)
}

// database.meta layout (JSON, written with writeFileAtomic):
//
//	{"format":1,"crc32c":"1a2b3c4d","meta":{"tables":["events","messages"]}}
//
// crc32c is the CRC32-C of the exact bytes of the "meta" value.
type metaFile struct {
	Format int             `json:"format"`
	CRC    string          `json:"crc32c"`
	Meta   json.RawMessage `json:"meta"`
}

type metaBody struct {
	Tables []string `json:"tables"`
}

// loadMeta reads database.meta, creating it for a new database.
func (db *Database) loadMeta() ([]string, error) {
	path := filepath.Join(db.dir, dbMetaName)
	if _, err := db.fs.Stat(path); err != nil {
		if !isNotExist(err) {
			return nil, ioError("stat", path, err)
		}
		// A new database writes database.meta before it creates tables/,
		// and the file is only ever replaced atomically: table directories
		// without it mean it was lost, not that the database is new.
		root := filepath.Join(db.dir, tablesDirName)
		if entries, err := db.fs.List(root); err == nil && len(entries) > 0 {
			return nil, corruptionError(path, -1, "missing, but %s holds %d table directories", root, len(entries))
		}
		if err := db.writeMeta(nil); err != nil {
			return nil, err
		}
		return nil, nil
	}
	raw, err := readWholeFile(db.fs, path)
	if err != nil {
		return nil, err
	}
	return decodeMetaFile(raw, path)
}

// decodeMetaFile parses and verifies database.meta.
func decodeMetaFile(raw []byte, path string) ([]string, error) {
	var mf metaFile
	if err := json.Unmarshal(raw, &mf); err != nil {
		return nil, corruptionError(path, -1, "not valid JSON: %v", err)
	}
	if mf.Format != metaFormat {
		return nil, corruptionError(path, -1, "unknown format version %d", mf.Format)
	}
	if want := fmt.Sprintf("%08x", checksum(mf.Meta)); mf.CRC != want {
		return nil, corruptionError(path, -1, "checksum mismatch (stored %q, computed %q)", mf.CRC, want)
	}
	var body metaBody
	if err := json.Unmarshal(mf.Meta, &body); err != nil {
		return nil, corruptionError(path, -1, "bad meta body: %v", err)
	}
	seen := map[string]bool{}
	for _, n := range body.Tables {
		if err := validateName("table", n); err != nil || seen[n] {
			return nil, corruptionError(path, -1, "bad or duplicate table name %q", n)
		}
		seen[n] = true
	}
	return body.Tables, nil
}

// encodeMetaFile renders database.meta for the given tables.
func encodeMetaFile(tables []string) ([]byte, error) {
	sorted := append([]string{}, tables...)
	sort.Strings(sorted)
	if sorted == nil {
		sorted = []string{}
	}
	body, err := json.Marshal(metaBody{Tables: sorted})
	if err != nil {
		return nil, err
	}
	return json.Marshal(metaFile{Format: metaFormat, CRC: fmt.Sprintf("%08x", checksum(body)), Meta: body})
}

// writeMeta replaces database.meta atomically.
func (db *Database) writeMeta(tables []string) error {
	data, err := encodeMetaFile(tables)
	if err != nil {
		return err
	}
	return writeFileAtomic(db.fs, db.dir, dbMetaName, data, "meta")
}

// removeOrphanTableDirs deletes table directories that database.meta does
// not name: leftovers of a CreateTable or DropTable interrupted by a crash.
func (db *Database) removeOrphanTableDirs(named []string) error {
	root := filepath.Join(db.dir, tablesDirName)
	entries, err := db.fs.List(root)
	if err != nil {
		return ioError("list", root, err)
	}
	keep := map[string]bool{}
	for _, n := range named {
		keep[n] = true
	}
	removed := false
	for _, e := range entries {
		if keep[e] {
			continue
		}
		db.opts.Logger.Info("srdb: removing orphan table directory", slog.String("dir", e))
		if err := db.fs.RemoveAll(filepath.Join(root, e)); err != nil {
			return ioError("remove", filepath.Join(root, e), err)
		}
		removed = true
	}
	if removed {
		if err := db.fs.SyncDir(root); err != nil {
			return ioError("fsync dir", root, err)
		}
	}
	return nil
}

// tableNamesLocked returns every table name in database.meta (open and
// broken). Caller holds mu.
func (db *Database) tableNamesLocked() []string {
	names := make([]string, 0, len(db.tables)+len(db.broken))
	for n := range db.tables {
		names = append(names, n)
	}
	for n := range db.broken {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CreateTable creates a table with the given schema. The name must match
// ^[A-Za-z][A-Za-z0-9_]{0,63}$; an existing name returns ErrTableExists
// (EnsureTable opens or creates). A nil schema, one not made by NewSchema
// (a zero Schema{}), or one whose Name() is not name is ErrInvalidSchema.
// The table exists durably when CreateTable returns nil.
func (db *Database) CreateTable(name string, s *Schema) (*Table, error) {
	if err := db.usable(); err != nil {
		return nil, err
	}
	if err := validateName("table", name); err != nil {
		return nil, err
	}
	if err := s.checkBuilt("CreateTable", name); err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	return db.createTableLocked(name, s)
}

// createTableLocked is CreateTable once the arguments are checked. Caller
// holds mu (and has checked closed).
func (db *Database) createTableLocked(name string, s *Schema) (*Table, error) {
	if db.opts.ReadOnly {
		return nil, readOnlyError("CreateTable", name)
	}
	if _, ok := db.tables[name]; ok {
		return nil, tableError(CodeTableExists, name, "table already exists")
	}
	if _, ok := db.broken[name]; ok {
		return nil, tableError(CodeTableExists, name, "table already exists (and failed to open)")
	}
	dir := db.tableDir(name)
	// A leftover directory of an interrupted create is removed first.
	if err := db.fs.RemoveAll(dir); err != nil {
		return nil, ioError("remove", dir, err)
	}
	t, err := createTable(db, name, dir, s)
	if err != nil {
		return nil, withTable(err, name)
	}
	if err := db.writeMeta(append(db.tableNamesLocked(), name)); err != nil {
		t.close()
		return nil, withTable(err, name)
	}
	db.tables[name] = t
	return t, nil
}

// Table returns the open table with the given name. An invalid name returns
// ErrInvalidName, an unknown name ErrTableNotFound; a table that failed to
// open returns its error (for example ErrCorrupted).
func (db *Database) Table(name string) (*Table, error) {
	if err := db.usable(); err != nil {
		return nil, err
	}
	if err := validateName("table", name); err != nil {
		return nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	if t, ok := db.tables[name]; ok {
		return t, nil
	}
	if err, ok := db.broken[name]; ok {
		return nil, err
	}
	return nil, tableError(CodeTableNotFound, name, "table not found")
}

// DropTable closes a table and removes it with all its data. It can only ever
// remove that table's own directory. Rows still open on the table are
// invalidated as by Close. database.meta is updated first, so a
// crash part way leaves an orphan directory that Open removes.
//
// Work on the table in other goroutines is stopped first: the background
// flusher and compaction worker, and every Flush, Compact, CreateIndex or
// DropIndex running in a caller's goroutine, are joined (each finishes the
// file it is writing or abandons it, then returns ErrClosed) before any
// file is removed, so nothing writes into the directory being removed.
// Every later call on a *Table handle of the dropped table returns
// ErrClosed. A CreateTable of the same name may follow at once: the old
// directory is renamed aside (to a name no table can have) before it is
// removed, so nothing the old table still holds refers to the new one's
// files.
func (db *Database) DropTable(name string) error {
	if err := db.usable(); err != nil {
		return err
	}
	if err := validateName("table", name); err != nil {
		return err
	}
	if db.opts.ReadOnly {
		return readOnlyError("DropTable", name)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	t, open := db.tables[name]
	_, broken := db.broken[name]
	if !open && !broken {
		return tableError(CodeTableNotFound, name, "table not found")
	}
	rest := make([]string, 0)
	for _, n := range db.tableNamesLocked() {
		if n != name {
			rest = append(rest, n)
		}
	}
	if err := db.writeMeta(rest); err != nil {
		return withTable(err, name)
	}
	delete(db.tables, name)
	delete(db.broken, name)
	var errs []error
	if open {
		if err := t.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killPoint("table_drop.after_meta"); err != nil {
		return err
	}
	// Rename, then remove: a file the old table still references (a
	// version a reader pins and later releases) resolves under the old
	// path, never to a file of a new table of the same name. The trash
	// name contains a '.', which no table name can (validateName), and
	// Open removes it as an orphan after a crash. A leftover of an earlier
	// failed drop is removed first so that the rename can succeed.
	dir, trash := db.tableDir(name), db.tableDir(name+droppedDirSuffix)
	err := db.fs.RemoveAll(trash)
	if err == nil {
		err = db.fs.Rename(dir, trash)
	}
	if err != nil {
		if !isNotExist(err) { // not a broken table without a directory
			db.opts.Logger.Warn("srdb: DropTable removes the directory in place",
				slog.String("table", name), slog.Any("err", err))
		}
		trash = dir
	}
	if err := db.fs.RemoveAll(trash); err != nil {
		errs = append(errs, ioError("remove", trash, err))
	}
	if err := db.fs.SyncDir(filepath.Join(db.dir, tablesDirName)); err != nil {
		errs = append(errs, ioError("fsync dir", tablesDirName, err))
	}
	return withTable(errors.Join(errs...), name)
}

// Tables returns the names of all tables, sorted, including tables that
// failed to open (nil after Close and for a nil or zero Database).
func (db *Database) Tables() []string {
	if db.usable() != nil {
		return nil
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil
	}
	return db.tableNamesLocked()
}

// Close makes every table's WAL durable, stops background work, releases
// every file and the directory lock. A second Close returns nil. Close
// never waits on what a caller holds: every Rows still open is invalidated
// (Next returns false, Err an error matching ErrClosed) and its files are
// released by Close. It waits only for calls in progress inside the
// engine, which stop early with ErrClosed: a query polls for it every few
// thousand rows it examines, and a Rows.Next running in another goroutine
// returns before the files it reads are released.
func (db *Database) Close() error {
	if err := db.usable(); err != nil {
		return err
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	err := db.closeTables()
	if lerr := db.lock.Close(); lerr != nil {
		err = errors.Join(err, ioError("unlock", lockName, lerr))
	}
	return err
}

// closeTables closes every open table and joins their errors.
func (db *Database) closeTables() error {
	db.mu.Lock()
	tables := make([]*Table, 0, len(db.tables))
	for _, t := range db.tables {
		tables = append(tables, t)
	}
	db.mu.Unlock()
	var errs []error
	for _, t := range tables {
		if err := t.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dir returns the database directory ("" for a nil Database).
func (db *Database) Dir() string {
	if db == nil {
		return ""
	}
	return db.dir
}

// openTables returns the open tables sorted by name and the errors of the
// tables that failed to open, as of one moment; ok is false once the
// database is closed.
func (db *Database) openTables() (tables []*Table, broken []error, ok bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, nil, false
	}
	tables = make([]*Table, 0, len(db.tables))
	for _, t := range db.tables {
		tables = append(tables, t)
	}
	slices.SortFunc(tables, func(a, b *Table) int { return strings.Compare(a.name, b.name) })
	for _, err := range db.broken {
		broken = append(broken, err)
	}
	return tables, broken, true
}
