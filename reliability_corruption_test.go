package srdb

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The corruption matrix: a small database on the OS file system
// (so mmap is real), one mutation of one file per case, then Open and every
// read. See docs/RELIABILITY.md, "Corruption matrix".

// corruptFileKinds are the file kinds of the matrix; "index" aims at the
// index-section bytes of the SSTs, "timeindex" at their _time index section.
var corruptFileKinds = []string{"WAL", "SST", "MANIFEST", "CURRENT", "schema.json", "database.meta", "index", "timeindex"}

// corruptMutations are the mutation kinds, applied round-robin.
var corruptMutations = []string{"bitflip", "zeropage", "truncate", "delete", "garbage", "older"}

// pristineDB is the database every mutation starts from, in memory.
type pristineDB struct {
	files   map[string][]byte // relative path → content
	older   map[string][]byte // the same, after the first flush only
	rows    int64             // keys 1..rows, seq == key
	walPath string            // relative path of the newest WAL
	walEnd  map[int64]int64   // key → WAL size once its Insert returned (rows in the WAL only)
	index   map[string][][2]int64
	timeIx  map[string][2]int64 // SST → its _time index section [start, end)
}

// readTree reads every regular file under dir into a map.
func readTree(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	}))
	return out
}

// treeDigest returns, for every entry under dir (directories included), its
// relative path and a hash of its content, so a failed Open can be checked
// to leave the directory byte-identical (and a difference names the file).
func treeDigest(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%d bytes %x", len(b), sha256.Sum256(b))
		return nil
	}))
	return out
}

// writeTree writes files under dir (which must not exist).
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	for rel, b := range files {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
}

// buildPristine makes the matrix database: table m, keys 1..40 flushed, a
// snapshot, keys 41..80 flushed, CreateIndex on from_uid (so SSTs carry two
// index sections), AddField and DropField of "gone" (schema.json format 2),
// keys 81..100 left in the WAL.
func buildPristine(t *testing.T) *pristineDB {
	return buildPristineWith(t, CompressionDefault)
}

// buildPristineWith is buildPristine with the table's TableOptions.Compression
// set to c before the first row (its SSTs then hold compressed blocks).
func buildPristineWith(t *testing.T, c Compression) *pristineDB {
	dir := filepath.Join(t.TempDir(), "pristine")
	opts := DefaultOptions()
	opts.Durability = DurabilitySync
	opts.DisableAutoCompaction = true
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := NewSchema("m", faultFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	if c != CompressionDefault {
		require.NoError(t, tbl.SetOptions(TableOptions{Compression: c}))
	}
	p := &pristineDB{walEnd: map[int64]int64{}, index: map[string][][2]int64{}, timeIx: map[string][2]int64{}}
	insert := func(k int64) {
		seq, err := tbl.Insert(faultRow(k))
		require.NoError(t, err)
		require.Equal(t, k, seq)
	}
	for k := int64(1); k <= 40; k++ {
		insert(k)
	}
	require.NoError(t, tbl.Flush())
	p.older = readTree(t, dir)
	for k := int64(41); k <= 80; k++ {
		insert(k)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, tbl.CreateIndex("from_uid"))
	// A field added and dropped: schema.json is format 2 (a dropped slot)
	// and the rows below carry its NULL entry.
	require.NoError(t, tbl.AddField(Field{Name: "gone", Type: Int64, Nullable: true}))
	require.NoError(t, tbl.DropField("gone"))
	// Table options: the MANIFEST carries the property (limits no row of
	// the test reaches).
	require.NoError(t, tbl.SetOptions(TableOptions{MaxAge: 100 * 365 * 24 * time.Hour, MaxBytes: 1 << 40, Compression: c}))
	walName := func() string {
		names, err := os.ReadDir(filepath.Join(dir, "tables", "m"))
		require.NoError(t, err)
		var wals []string
		for _, n := range names {
			if strings.HasSuffix(n.Name(), ".wal") {
				wals = append(wals, n.Name())
			}
		}
		sort.Strings(wals)
		return filepath.Join("tables", "m", wals[len(wals)-1])
	}
	for k := int64(81); k <= 100; k++ {
		insert(k)
		// The end of k's record: the file itself is longer while the
		// writer has space reserved past it (wal_writer.go).
		p.walEnd[k] = tbl.wal.dataEndOffset()
	}
	p.walPath = walName()
	require.NoError(t, db.Close())
	p.rows = 100
	p.files = readTree(t, dir)
	// Index section ranges of every SST.
	for rel := range p.files {
		if !strings.HasSuffix(rel, ".sst") {
			continue
		}
		_, num, ok := parseFilename(filepath.Base(rel))
		require.True(t, ok)
		r, err := openSST(OSFS(), filepath.Join(dir, "tables", "m"), num)
		require.NoError(t, err)
		if c != CompressionDefault && c != CompressionNone {
			require.Positive(t, sstBlockCodecs(t, r)[blockCodec(c)], "%s holds no %v block", rel, c)
		}
		for _, sec := range r.secs {
			if sec.kind == sstSectionIndex {
				p.index[rel] = append(p.index[rel], [2]int64{int64(sec.off), int64(sec.off + sec.length)})
			}
			if sec.kind == sstSectionTime {
				p.timeIx[rel] = [2]int64{int64(sec.off), int64(sec.off + sec.length)}
			}
		}
		require.NoError(t, r.close())
	}
	require.NotEmpty(t, p.index, "pristine SSTs carry no index section")
	require.NotEmpty(t, p.timeIx, "pristine SSTs carry no _time index")
	return p
}

// filesOfKind returns the relative paths of one file kind, sorted.
func (p *pristineDB) filesOfKind(kind string) []string {
	var out []string
	for rel := range p.files {
		b := filepath.Base(rel)
		var ok bool
		switch kind {
		case "WAL":
			ok = strings.HasSuffix(b, ".wal")
		case "SST":
			ok = strings.HasSuffix(b, ".sst")
		case "index":
			ok = len(p.index[rel]) > 0
		case "timeindex":
			_, ok = p.timeIx[rel]
		case "MANIFEST":
			ok = strings.HasPrefix(b, "MANIFEST-")
		default:
			ok = b == kind
		}
		if ok {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out
}

// corruptCase is one mutation: the file, what was done, and the new content
// (nil when the file is deleted).
type corruptCase struct {
	kind, mutation, file string
	detail               string
	content              []byte
	deleted              bool
	// tornWAL: the mutation cut the newest WAL at tornAt bytes, so Open
	// must recover exactly the records that end at or before it.
	tornWAL bool
	tornAt  int64
}

func (c corruptCase) String() string {
	return fmt.Sprintf("%s %s %s (%s)", c.kind, c.mutation, c.file, c.detail)
}

// makeMutation builds mutation m of a file of kind.
func (p *pristineDB) makeMutation(rng *rand.Rand, kind, m string) corruptCase {
	files := p.filesOfKind(kind)
	file := files[rng.IntN(len(files))]
	orig := p.files[file]
	c := corruptCase{kind: kind, mutation: m, file: file}
	// lo, hi bound the bytes a positional mutation may touch.
	lo, hi := int64(0), int64(len(orig))
	if kind == "index" {
		r := p.index[file][rng.IntN(len(p.index[file]))]
		lo, hi = r[0], r[1]
	}
	if kind == "timeindex" {
		lo, hi = p.timeIx[file][0], p.timeIx[file][1]
	}
	b := slices.Clone(orig)
	switch m {
	case "bitflip":
		off := lo + rng.Int64N(hi-lo)
		bit := rng.IntN(8)
		b[off] ^= 1 << bit
		c.detail = fmt.Sprintf("offset %d bit %d", off, bit)
	case "zeropage":
		page := (lo + rng.Int64N(hi-lo)) &^ 4095
		end := min(page+4096, int64(len(b)))
		if kind == "index" || kind == "timeindex" {
			// Zero a 4 KiB window inside the section (sections are
			// smaller than a page here).
			page = lo + rng.Int64N(hi-lo)
			end = min(page+4096, hi)
		}
		clear(b[page:end])
		c.detail = fmt.Sprintf("zero [%d,%d)", page, end)
		if slices.Equal(b, orig) {
			b[page] ^= 0xff
			c.detail += " (page was zero: flipped a byte)"
		}
	case "truncate":
		n := lo + rng.Int64N(hi-lo)
		b = b[:n]
		c.detail = fmt.Sprintf("to %d of %d bytes", n, len(orig))
		if file == p.walPath {
			c.tornWAL, c.tornAt = true, n
		}
	case "delete":
		c.deleted = true
		c.detail = "deleted"
		b = nil
	case "garbage":
		g := make([]byte, 1+rng.IntN(5000))
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		if rng.IntN(3) == 0 {
			clear(g) // zero bytes: a preallocated tail
		}
		b = append(b, g...)
		c.detail = fmt.Sprintf("%d bytes appended", len(g))
	case "older":
		if old, ok := p.older[file]; ok && !slices.Equal(old, orig) {
			b = slices.Clone(old)
			c.detail = "version after the first flush"
		} else if file == p.walPath {
			// The WAL as it was after an earlier Insert returned.
			k := 81 + rng.Int64N(20)
			b = b[:p.walEnd[k]]
			c.tornWAL, c.tornAt = true, p.walEnd[k]
			c.detail = fmt.Sprintf("WAL as of key %d (%d bytes)", k, p.walEnd[k])
		} else {
			// Another, older file of the same kind under this name.
			var other []string
			for _, f := range p.filesOfKind(kind) {
				if f != file {
					other = append(other, f)
				}
			}
			for f := range p.older {
				if strings.HasSuffix(f, filepath.Ext(file)) && f != file && !slices.Contains(other, f) && filepath.Ext(file) != "" {
					other = append(other, f)
				}
			}
			if len(other) == 0 {
				// No older version exists (CURRENT, database.meta):
				// fall back to a bit flip so the case still damages.
				off := rng.Int64N(int64(len(b)))
				b[off] ^= 0x10
				c.mutation = "bitflip"
				c.detail = fmt.Sprintf("no older version; offset %d flipped", off)
				break
			}
			f := other[rng.IntN(len(other))]
			if old, ok := p.older[f]; ok {
				b = slices.Clone(old)
			} else {
				b = slices.Clone(p.files[f])
			}
			c.detail = "content of " + f
		}
	}
	c.content = b
	return c
}

// corruptTally counts outcomes per file kind.
type corruptTally map[string]map[string]int

func (ct corruptTally) add(kind, outcome string) {
	if ct[kind] == nil {
		ct[kind] = map[string]int{}
	}
	ct[kind][outcome]++
}

// requireNamedCorruption checks that err is ErrCorrupted and names a file.
func requireNamedCorruption(t *testing.T, err error, what string) {
	t.Helper()
	require.True(t, IsCorrupted(err), "%s: want ErrCorrupted, got %v", what, err)
	var e *Error
	found := false
	for _, x := range flattenErrors(err) {
		if errors.As(x, &e) && e.Code == CodeCorrupted && e.File != "" {
			found = true
		}
	}
	require.True(t, found, "%s: corruption error names no file: %v", what, err)
}

// flattenErrors returns err and, for joined errors, each part.
func flattenErrors(err error) []error {
	out := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
	}
	return out
}

// runCorruptCase copies the pristine database to dir, applies c, opens it
// and reads everything back; it returns the outcome's name.
func runCorruptCase(t *testing.T, p *pristineDB, dir string, c corruptCase) string {
	t.Helper()
	what := c.String()
	files := make(map[string][]byte, len(p.files))
	for rel, b := range p.files {
		files[rel] = b
	}
	if c.deleted {
		delete(files, c.file)
	} else {
		files[c.file] = c.content
	}
	writeTree(t, dir, files)
	before := treeDigest(t, dir)
	wd := watchdog{what: what}
	opts := DefaultOptions()
	opts.Durability = DurabilitySync
	opts.DisableAutoCompaction = true
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	alloc0 := ms.TotalAlloc
	defer func() {
		runtime.ReadMemStats(&ms)
		require.Less(t, ms.TotalAlloc-alloc0, uint64(256<<20), "%s: allocated %d bytes", what, ms.TotalAlloc-alloc0)
	}()

	var db *Database
	var err error
	wd.do("Open", func() { db, err = Open(dir, opts) })
	if err != nil {
		requireNamedCorruption(t, err, what+": Open")
		require.Equal(t, before, treeDigest(t, dir), "%s: failed Open changed the directory", what)
		return "Open: ErrCorrupted"
	}
	defer func() { wd.do("Close", func() { _ = db.Close() }) }()
	var tbl *Table
	wd.do("Table", func() { tbl, err = db.Table("m") })
	if err != nil {
		requireNamedCorruption(t, err, what+": Table")
		wd.do("Close", func() { require.NoError(t, db.Close()) })
		require.Equal(t, before, treeDigest(t, dir), "%s: table failed to open but its directory changed", what)
		return "table: ErrCorrupted"
	}
	// Expected rows: all, or for a torn newest WAL exactly the records
	// complete within the cut.
	want := map[int64]bool{}
	for k := int64(1); k <= p.rows; k++ {
		if end, inWAL := p.walEnd[k]; c.tornWAL && inWAL && end > c.tornAt {
			continue
		}
		want[k] = true
	}
	damaged := false // some read reported ErrCorrupted
	readErr := func(err error, call string) {
		if err == nil {
			return
		}
		require.True(t, IsCorrupted(err), "%s: %s: want nil or ErrCorrupted, got %v", what, call, err)
		damaged = true
	}
	checkRow := func(r *Row, call string) {
		v, ok := r.Get("msg_id")
		require.True(t, ok, "%s: %s: seq %d without msg_id", what, call, r.Seq())
		k, _ := v.(int64)
		require.Equal(t, r.Seq(), k, "%s: %s: wrong row", what, call)
		require.True(t, want[k], "%s: %s: row %d should not exist", what, call, k)
		for f, wv := range faultRow(k) {
			got, ok := r.Get(f)
			require.True(t, ok, "%s: %s: seq %d lacks %s", what, call, k, f)
			require.Equal(t, wv, got, "%s: %s: seq %d field %s: wrong value", what, call, k, f)
		}
	}
	missingGets := 0
	wd.do("Get all", func() {
		for k := int64(1); k <= p.rows; k++ {
			r, err := tbl.Get(k)
			switch {
			case err == nil:
				checkRow(r, "Get")
			case IsNotFound(err):
				if want[k] {
					missingGets++
				}
			default:
				readErr(err, fmt.Sprintf("Get(%d)", k))
			}
		}
	})
	scan := func(call string, q *Query, expect func(k int64) bool) {
		seen := 0
		var rerr error
		wd.do(call, func() {
			rows, err := q.Rows()
			if err != nil {
				rerr = err
				return
			}
			for rows.Next() {
				checkRow(rows.Row(), call)
				seen++
			}
			rerr = rows.Err()
			_ = rows.Close()
		})
		readErr(rerr, call)
		if rerr == nil {
			n := 0
			for k := range want {
				if expect(k) {
					n++
				}
			}
			require.Equal(t, n, seen, "%s: %s: rows silently missing", what, call)
		}
	}
	scan("scan", tbl.Query(), func(int64) bool { return true })
	scan("scan desc", tbl.Query().OrderByDesc("_seq"), func(int64) bool { return true })
	for ch := 0; ch < 7; ch++ {
		scan("index channel_id", tbl.Query().Eq("channel_id", fmt.Sprintf("ch-%d", ch)), func(k int64) bool { return k%7 == int64(ch) })
	}
	// _time ranges: every row (all times are positive), and with an index.
	scan("time range", tbl.Query().Gte("_time", int64(1)), func(int64) bool { return true })
	scan("time range desc", tbl.Query().Gte("_time", int64(1)).OrderByDesc("_seq").Limit(1000), func(int64) bool { return true })
	scan("time range index channel_id", tbl.Query().Eq("channel_id", "ch-2").Gte("_time", int64(1)), func(k int64) bool { return k%7 == 2 })
	if tbl.indexReady("from_uid") {
		scan("index from_uid", tbl.Query().Eq("from_uid", "u3").OrderByDesc("_seq").Limit(100), func(k int64) bool { return k%5 == 3 })
	}
	var cerr error
	wd.do("Check", func() { cerr = db.Check() })
	readErr(cerr, "Check")
	if missingGets > 0 {
		require.True(t, damaged, "%s: %d rows silently missing from Get and nothing reported corruption", what, missingGets)
	}
	if damaged {
		require.Error(t, cerr, "%s: reads found corruption, Check did not", what)
		return "opened, reads: ErrCorrupted"
	}
	if c.tornWAL {
		// The torn tail was cut off before new appends: a new row lands
		// after the complete records and survives a reopen.
		var seq int64
		wd.do("Insert after torn tail", func() { seq, err = tbl.Insert(faultRow(int64(len(want)) + 1)) })
		require.NoError(t, err, what)
		wd.do("Close", func() { require.NoError(t, db.Close()) })
		wd.do("reopen", func() { db, err = Open(dir, opts) })
		require.NoError(t, err, what)
		tbl, err = db.Table("m")
		require.NoError(t, err, what)
		_, err = tbl.Get(seq)
		require.NoError(t, err, "%s: row inserted after the torn tail lost", what)
		require.NoError(t, db.Check(), what)
		if len(want) < int(p.rows) {
			return "torn WAL tail: prefix recovered"
		}
	}
	return "opened, all rows correct"
}

// TestReliabilityCorruptionMatrix applies at least 200 mutations (×
// soakFactor) to each file kind and checks the outcome of each.
func TestReliabilityCorruptionMatrix(t *testing.T) {
	runCorruptionMatrix(t, buildPristine(t), corruptFileKinds, soakIterations(t, 204))
}

// TestReliabilityCorruptionMatrixCompressed is the matrix on the SST kinds
// of a database whose table compresses its blocks with S2 (Fast) and with
// zstd (Dense): a damaged compressed block is ErrCorrupted, never a panic
// or a wrong row.
func TestReliabilityCorruptionMatrixCompressed(t *testing.T) {
	for _, c := range []Compression{CompressionFast, CompressionDense} {
		t.Run(c.String(), func(t *testing.T) {
			runCorruptionMatrix(t, buildPristineWith(t, c), []string{"SST", "index", "timeindex"}, soakIterations(t, 102))
		})
	}
}

// runCorruptionMatrix applies per mutations to each file kind of p and
// checks the outcome of each.
func runCorruptionMatrix(t *testing.T, p *pristineDB, kinds []string, per int) {
	work := t.TempDir()
	tally := corruptTally{}
	start := time.Now()
	total := 0
	for _, kind := range kinds {
		ki := slices.Index(corruptFileKinds, kind)
		rng := rand.New(rand.NewPCG(uint64(ki)+1, 6))
		for i := 0; i < per; i++ {
			c := p.makeMutation(rng, kind, corruptMutations[i%len(corruptMutations)])
			dir := filepath.Join(work, fmt.Sprintf("c%d", total))
			outcome := runCorruptCase(t, p, dir, c)
			tally.add(kind, c.mutation+" → "+outcome)
			tally.add(kind, "total")
			require.NoError(t, os.RemoveAll(dir))
			total++
			if t.Failed() {
				return
			}
		}
	}
	for _, kind := range kinds {
		keys := make([]string, 0, len(tally[kind]))
		for k := range tally[kind] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "\n    %-60s %d", k, tally[kind][k])
		}
		t.Logf("%s: %d mutations%s", kind, tally[kind]["total"], sb.String())
	}
	t.Logf("corruption matrix: %d mutations in %v", total, time.Since(start).Round(time.Millisecond))
}

// smallFlushedDB makes a database with table m: rows 1..10 flushed to an SST,
// rows 11..15 in the WAL. It returns the directory.
func smallFlushedDB(t *testing.T) string {
	opts := DefaultOptions()
	opts.Durability = DurabilitySync
	opts.DisableAutoCompaction = true
	return flushedFaultDB(t, opts, 15)
}

// flushedFaultDB makes a database in a new temp directory with table m
// (faultFields): rows 1..10 flushed to an SST, rows 11..rows left in the
// WAL. It returns the directory.
func flushedFaultDB(t *testing.T, opts *Options, rows int64) string {
	dir := t.TempDir()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	s, err := NewSchema("m", faultFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	for k := int64(1); k <= rows; k++ {
		_, err := tbl.Insert(faultRow(k))
		require.NoError(t, err)
		if k == 10 {
			require.NoError(t, tbl.Flush())
		}
	}
	require.NoError(t, db.Close())
	return dir
}

// requireOpenCorrupt opens dir and requires that table m (or the whole Open)
// fails with ErrCorrupted and that the directory is left as it was.
func requireOpenCorrupt(t *testing.T, dir string) {
	t.Helper()
	before := treeDigest(t, dir)
	db, err := Open(dir, nil)
	if err == nil {
		_, err = db.Table("m")
		require.NoError(t, db.Close())
	}
	requireNamedCorruption(t, err, dir)
	require.Equal(t, before, treeDigest(t, dir))
}

// TestMissingDatabaseMetaIsCorruption: found by the corruption matrix. Open
// took a missing database.meta for a new database, wrote an empty one and
// removed every table directory as an orphan — all data gone without an
// error. Table directories without database.meta are now ErrCorrupted.
func TestMissingDatabaseMetaIsCorruption(t *testing.T) {
	dir := smallFlushedDB(t)
	require.NoError(t, os.Remove(filepath.Join(dir, dbMetaName)))
	requireOpenCorrupt(t, dir)
}

// TestMissingSchemaIsCorruption: found by the corruption matrix. A table
// named by database.meta whose schema.json is gone failed with an I/O error
// rather than ErrCorrupted.
func TestMissingSchemaIsCorruption(t *testing.T) {
	dir := smallFlushedDB(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "tables", "m", schemaFileName)))
	requireOpenCorrupt(t, dir)
}

// TestLostManifestEditsAreCorruption: found by the corruption matrix. A
// MANIFEST cut back to an earlier record boundary (or its older copy) reads
// like one whose last append was torn by a crash; Open accepted it, deleted
// the SSTs of the lost edits as unreferenced and returned a table missing
// their rows. The WALs the log number relies on show the loss: the WAL the
// log number names, or before the first flush the table's first WAL, must
// exist. Likewise a deleted WAL.
func TestLostManifestEditsAreCorruption(t *testing.T) {
	t.Run("manifest cut to its snapshot", func(t *testing.T) {
		dir := smallFlushedDB(t)
		path := filepath.Join(dir, "tables", "m", "MANIFEST-000001")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		r, err := newVersionSet(OSFS(), filepath.Dir(path), versionSetOptions{}).replayManifest(1)
		require.NoError(t, err)
		require.Less(t, manifestHeaderSize+r.snapshotSize, int64(len(b)))
		require.NoError(t, os.WriteFile(path, b[:manifestHeaderSize+r.snapshotSize], 0o600))
		requireOpenCorrupt(t, dir)
	})
	t.Run("wal of the log number deleted", func(t *testing.T) {
		dir := smallFlushedDB(t)
		wals, err := filepath.Glob(filepath.Join(dir, "tables", "m", "*.wal"))
		require.NoError(t, err)
		require.Len(t, wals, 1)
		require.NoError(t, os.Remove(wals[0]))
		requireOpenCorrupt(t, dir)
	})
	// Found by the soak run of the matrix: a WAL of the log number cut
	// inside its header was taken for a crash inside createWAL and
	// dropped with its rows; its header was fsynced before the edit that
	// named it, so this is damage.
	for _, n := range []int{0, 17, walHeaderSize} {
		t.Run(fmt.Sprintf("wal of the log number cut to %d bytes", n), func(t *testing.T) {
			dir := smallFlushedDB(t)
			wals, err := filepath.Glob(filepath.Join(dir, "tables", "m", "*.wal"))
			require.NoError(t, err)
			require.Len(t, wals, 1)
			b, err := os.ReadFile(wals[0])
			require.NoError(t, err)
			if n == walHeaderSize {
				b = make([]byte, n) // a zeroed header
			}
			require.NoError(t, os.WriteFile(wals[0], b[:n], 0o600))
			requireOpenCorrupt(t, dir)
		})
	}
	t.Run("healthy", func(t *testing.T) {
		dir := smallFlushedDB(t)
		db, err := Open(dir, nil)
		require.NoError(t, err)
		tbl, err := db.Table("m")
		require.NoError(t, err)
		require.EqualValues(t, 15, tbl.Stats().Rows)
		require.NoError(t, db.Close())
	})
}
