package srdb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// idxTestFields: two indexed fields, and "from" and "d" to index later.
func idxTestFields() []Field {
	return []Field{
		{Name: "ch", Type: String, Indexed: true},
		{Name: "n", Type: Int64, Indexed: true, Nullable: true},
		{Name: "from", Type: String},
		{Name: "d", Type: Decimal, Nullable: true},
		{Name: "payload", Type: Bytes, Nullable: true},
	}
}

func idxTestRow(i int64) map[string]any {
	var n any = i * 7 % 1000
	if i%11 == 0 {
		n = nil
	}
	var d any = decimal.New(i%50-25, int32(i%5)-2)
	if i%9 == 0 {
		d = nil
	}
	return map[string]any{
		"ch":      fmt.Sprintf("ch-%02d", i%23),
		"n":       n,
		"from":    fmt.Sprintf("u%d", i%17),
		"d":       d,
		"payload": []byte(fmt.Sprintf("p%d", i)),
	}
}

func idxOpenTable(t *testing.T, fs FS, create bool, memSize int64) (*Database, *Table) {
	t.Helper()
	opts := DefaultOptions()
	opts.FS = fs
	opts.Durability = DurabilityNone
	opts.MemTableSize = memSize
	// The index tests place files in levels themselves and count kill
	// points: background compaction would reshuffle files under them.
	opts.DisableAutoCompaction = true
	db, err := Open("/db", opts)
	require.NoError(t, err)
	if create {
		s, err := NewSchema("m", idxTestFields())
		require.NoError(t, err)
		tbl, err := db.CreateTable("m", s)
		require.NoError(t, err)
		return db, tbl
	}
	tbl, err := db.Table("m")
	require.NoError(t, err)
	return db, tbl
}

// idxLiveKeys scans the live rows and returns seq → index key of field.
func idxLiveKeys(t testing.TB, tbl *Table, field string) map[int64][]byte {
	s := tbl.Schema()
	f, ok := indexNamed(s, field) // a composite index, or an indexed field
	if !ok {
		pos := s.fieldIndex(field)
		f = idxField{name: field, pos: pos, typ: s.fields[pos].Type}
	}
	out := map[int64][]byte{}
	it, err := tbl.newTableIter()
	require.NoError(t, err)
	for ok := it.first(); ok; ok = it.next() {
		v, err := parseRow(it.value())
		require.NoError(t, err)
		k, err := f.appendKey(nil, v)
		require.NoError(t, err)
		out[it.seq()] = k
	}
	require.NoError(t, it.close())
	return out
}

// idxRecheck reports whether candidate (key, seq) matches the newest version
// of the row, read with Get: the query engine's re-check.
func idxRecheck(t testing.TB, tbl *Table, field string, key []byte, seq int64) bool {
	row, err := tbl.Get(seq)
	if IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	var k []byte
	for _, name := range strings.Split(field, compositeIndexSep) { // a composite index's fields
		v, _ := row.Get(name)
		f, _ := tbl.Schema().Field(name)
		k, err = appendIndexKey(k, f.Type, v)
		require.NoError(t, err)
	}
	return bytes.Equal(k, key)
}

// idxIterate runs newIndexIter on a fresh read state and returns the
// entries, checking that they are distinct and strictly ordered.
func idxIterate(t testing.TB, tbl *Table, field string, r indexRange, reverse bool) [][]byte {
	rs := mustPin(tbl)
	defer rs.release()
	it, err := tbl.newIndexIter(rs, field, r, reverse)
	require.NoError(t, err)
	var out [][]byte
	for it.next() {
		e := slices.Clone(it.entry())
		require.Equal(t, e[:len(e)-idxSeqSize], it.key())
		if n := len(out); n > 0 {
			c := bytes.Compare(e, out[n-1])
			require.True(t, (!reverse && c > 0) || (reverse && c < 0), "entries out of order or repeated")
		}
		out = append(out, e)
	}
	require.NoError(t, it.close())
	return out
}

// idxRequireMatchesScan checks index == scan for field in both directions:
// every live row's (value, seq) is a candidate of the full range and of the
// Eq lookup of its value, and every candidate that passes the re-check is a
// live row with that value.
func idxRequireMatchesScan(t testing.TB, tbl *Table, field string) {
	t.Helper()
	require.True(t, tbl.indexReady(field), "index %s not ready", field)
	live := idxLiveKeys(t, tbl, field)
	all := indexRange{lo: []byte{idxTagNull}, loInclusive: true}
	for _, reverse := range []bool{false, true} {
		got := idxIterate(t, tbl, field, all, reverse)
		cand := make(map[string]bool, len(got))
		for _, e := range got {
			cand[string(e)] = true
		}
		for seq, k := range live {
			require.True(t, cand[string(appendIndexSeq(slices.Clone(k), seq))], "live seq %d (key %x) missing from index %s", seq, k, field)
		}
	}
	byKey := map[string][]int64{}
	for seq, k := range live {
		byKey[string(k)] = append(byKey[string(k)], seq)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 40 {
		keys = keys[:40]
	}
	for _, k := range keys {
		want := byKey[k]
		slices.Sort(want)
		for _, reverse := range []bool{false, true} {
			var got []int64
			for _, e := range idxIterate(t, tbl, field, indexRangeForEq([]byte(k)), reverse) {
				seq := (&indexIter{cur: e}).seq()
				require.Equal(t, k, string(e[:len(e)-idxSeqSize]))
				if idxRecheck(t, tbl, field, []byte(k), seq) {
					require.Equal(t, k, string(live[seq]), "candidate %d passes the re-check but is not live with that value", seq)
					got = append(got, seq)
				}
			}
			if reverse {
				slices.Reverse(got)
			}
			require.Equal(t, want, got, "index %s key %x", field, k)
		}
	}
	require.NoError(t, tbl.checkIndexes())
}

// idxMoveToL1 moves the L0 files nums to L1 (a trivial move, as compaction
// would), so that tests exercise both L0 and L1+ files.
func idxMoveToL1(t *testing.T, tbl *Table, nums ...uint64) {
	tbl.flushMu.Lock()
	defer tbl.flushMu.Unlock()
	v := tbl.vs.current()
	defer v.unref()
	edit := &versionEdit{}
	for _, f := range v.levels[0] {
		if slices.Contains(nums, f.num) {
			edit.deleteFile(0, f.num)
			edit.addFile(1, f.clone())
		}
	}
	require.NoError(t, tbl.vs.logAndApply(edit))
	tbl.installVersion(nil)
}

func idxL0Nums(tbl *Table) []uint64 {
	rs := mustPin(tbl)
	defer rs.release()
	var nums []uint64
	for _, f := range rs.v.levels[0] {
		nums = append(nums, f.num)
	}
	return nums
}

// idxPopulate inserts n rows in batches with flushes, moves the first
// two SSTs to L1 (when the table was empty), then updates (changing indexed values) and deletes rows
// spread over every source, leaving some in the memtable. It returns the
// highest seq.
func idxPopulate(t *testing.T, tbl *Table, n int64) int64 {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 99))
	batch := n / 6
	seq := tbl.seqHigh.Load()
	fresh := seq == 0
	for part := 0; part < 6; part++ {
		rows := make([]map[string]any, 0, batch)
		for i := int64(0); i < batch; i++ {
			rows = append(rows, idxTestRow(seq+i+1))
		}
		first, err := tbl.Insert(rows)
		require.NoError(t, err)
		seq = first + batch - 1
		if part < 4 {
			require.NoError(t, tbl.Flush())
		}
		if part == 1 && fresh {
			idxMoveToL1(t, tbl, idxL0Nums(tbl)...)
		}
		if part >= 2 {
			for range batch / 10 {
				s := 1 + r.Int64N(seq)
				switch r.IntN(3) {
				case 0:
					err = tbl.Delete(s)
				default:
					err = tbl.Update(s, map[string]any{"ch": fmt.Sprintf("ch-%02d", r.IntN(23)), "n": r.Int64N(1000), "from": "upd"})
				}
				if err != nil {
					require.True(t, IsNotFound(err), "%v", err)
				}
			}
		}
	}
	return seq
}

func TestIndexIterMergesMemtablesAndSSTs(t *testing.T) {
	fs := newMemFS()
	db, tbl := idxOpenTable(t, fs, true, 64<<10)
	defer db.Close()
	idxPopulate(t, tbl, 3000)
	rs := mustPin(tbl)
	require.NotEmpty(t, rs.v.levels[0])
	require.NotEmpty(t, rs.v.levels[1])
	rs.release()
	for _, f := range []string{"ch", "n"} {
		idxRequireMatchesScan(t, tbl, f)
	}
	// Stale entries exist: more candidates than live rows.
	live := idxLiveKeys(t, tbl, "ch")
	all := idxIterate(t, tbl, "ch", indexRange{lo: []byte{idxTagNull}, loInclusive: true}, false)
	require.Greater(t, len(all), len(live))

	// Range and prefix lookups agree with the scan after the re-check.
	lo, _ := encodeIndexKey(Int64, int64(100))
	hi, _ := encodeIndexKey(Int64, int64(250))
	nLive := idxLiveKeys(t, tbl, "n")
	want := 0
	for _, k := range nLive {
		if bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 {
			want++
		}
	}
	got := 0
	for _, e := range idxIterate(t, tbl, "n", indexRange{lo: lo, loInclusive: true, hi: hi}, true) {
		it := indexIter{cur: e}
		if idxRecheck(t, tbl, "n", it.key(), it.seq()) {
			got++
		}
	}
	require.Equal(t, want, got)
	p, _ := encodeIndexPrefix(String, "ch-1")
	got = 0
	for _, e := range idxIterate(t, tbl, "ch", indexRange{prefix: p}, false) {
		it := indexIter{cur: e}
		if idxRecheck(t, tbl, "ch", it.key(), it.seq()) {
			got++
		}
	}
	want = 0
	for _, k := range live {
		if bytes.HasPrefix(k, p) {
			want++
		}
	}
	require.Equal(t, want, got)

	// The index survives a restart (memtables rebuilt from the WAL).
	require.NoError(t, db.Close())
	db2, tbl2 := idxOpenTable(t, fs, false, 64<<10)
	defer db2.Close()
	for _, f := range []string{"ch", "n"} {
		idxRequireMatchesScan(t, tbl2, f)
	}
}

func TestIndexIterErrors(t *testing.T) {
	db, tbl := idxOpenTable(t, newMemFS(), true, 1<<20)
	defer db.Close()
	_, err := tbl.Insert(idxTestRow(1))
	require.NoError(t, err)
	rs := mustPin(tbl)
	defer rs.release()
	_, err = tbl.newIndexIter(rs, "nope", indexRange{}, false)
	require.ErrorIs(t, err, ErrInvalidQuery)
	_, err = tbl.newIndexIter(rs, "from", indexRange{}, false)
	require.ErrorIs(t, err, errIndexNotReady)
	require.False(t, tbl.indexReady("from"))
	require.False(t, tbl.indexReady("nope"))
	require.True(t, tbl.indexReady("ch"))
	require.Equal(t, []string{"ch", "n"}, tbl.Indexes())
	it, err := tbl.newIndexIter(rs, "ch", indexRange{}, false)
	require.NoError(t, err)
	require.True(t, it.next())
	require.Equal(t, int64(1), it.seq())
	require.False(t, it.next())
	require.NoError(t, it.close())
	require.NoError(t, it.close())
	require.False(t, it.next())
}

// TestIndexReverseLastNCost: "last 20 messages of a channel" over 100k rows
// in 1,000 channels visits about 20 entries plus one per source.
func TestIndexReverseLastNCost(t *testing.T) {
	rows := int64(100_000)
	memtable := int64(2 << 20)
	if testing.Short() {
		rows, memtable = 30_000, 512<<10 // still several SSTs
	}
	fs := newMemFS()
	opts := DefaultOptions()
	opts.FS = fs
	opts.Durability = DurabilityNone
	opts.MemTableSize = memtable
	db, err := Open("/db", opts)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("msgs", []Field{{Name: "channel", Type: String, Indexed: true}, {Name: "body", Type: Bytes}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("msgs", s)
	require.NoError(t, err)
	const batch = 1000
	for i := int64(0); i < rows; i += batch {
		b := make([]map[string]any, batch)
		for k := range b {
			b[k] = map[string]any{"channel": fmt.Sprintf("c%04d", (i+int64(k))%1000), "body": make([]byte, 40)}
		}
		_, err := tbl.Insert(b)
		require.NoError(t, err)
	}
	rs := mustPin(tbl)
	released := false
	defer func() {
		if !released { // a failed assertion must not leave a pin that Close waits for
			rs.release()
		}
	}()
	sources := len(rs.mems) + len(rs.v.allFiles())
	require.Greater(t, len(rs.v.allFiles()), 1)
	key, _ := encodeIndexKey(String, "c0421")
	it, err := tbl.newIndexIter(rs, "channel", indexRangeForEq(key), true)
	require.NoError(t, err)
	var seqs []int64
	for len(seqs) < 20 && it.next() {
		seqs = append(seqs, it.seq())
	}
	visited := it.entriesVisited()
	require.NoError(t, it.close())
	rs.release()
	released = true
	// The newest 20 rows of channel 421 are seqs rows-1000+422, -2000, …
	for i, seq := range seqs {
		require.Equal(t, rows-1000+422-int64(i)*1000, seq)
	}
	t.Logf("last 20 of a channel over %d rows: %d entries visited with %d sources", rows, visited, sources)
	require.LessOrEqual(t, visited, int64(20+2*sources))

	// Paging back: Eq AND _seq < x starts right below x.
	rs = mustPin(tbl)
	defer rs.release()
	it, err = tbl.newIndexIter(rs, "channel", indexRangeForEqBeforeSeq(key, seqs[19]), true)
	require.NoError(t, err)
	require.True(t, it.next())
	require.Equal(t, seqs[19]-1000, it.seq())
	require.LessOrEqual(t, it.entriesVisited(), int64(1+sources))
	require.NoError(t, it.close())
}

// TestIndexNotReadyForAnOldReadState: a read state pinned before
// CreateIndex has sources without the field: newIndexIter refuses it.
func TestIndexNotReadyForAnOldReadState(t *testing.T) {
	db, tbl := idxOpenTable(t, newMemFS(), true, 64<<10)
	defer db.Close()
	idxPopulate(t, tbl, 600)
	old := mustPin(tbl)
	defer old.release()
	require.NoError(t, tbl.CreateIndex("from"))
	_, err := tbl.newIndexIter(old, "from", indexRange{}, false)
	require.ErrorIs(t, err, errIndexNotReady)
	idxRequireMatchesScan(t, tbl, "from")
}

func TestCreateIndexOnPopulatedTable(t *testing.T) {
	fs := newMemFS()
	db, tbl := idxOpenTable(t, fs, true, 64<<10)
	defer db.Close()
	idxPopulate(t, tbl, 3000)
	before := idxLiveKeys(t, tbl, "from")
	require.False(t, tbl.indexReady("from"))
	require.NoError(t, tbl.CreateIndex("from"))
	require.Equal(t, before, idxLiveKeys(t, tbl, "from"), "the rewrite changed rows")
	require.NoError(t, tbl.CreateIndex("d"))
	require.NoError(t, tbl.CreateIndex("from")) // already there
	require.Equal(t, []string{"ch", "d", "from", "n"}, tbl.Indexes())
	for _, f := range []string{"ch", "n", "from", "d"} {
		idxRequireMatchesScan(t, tbl, f)
	}
	// Every live SST carries the new sections; the schema says so on disk.
	rs := mustPin(tbl)
	for _, f := range rs.v.allFiles() {
		lacks, err := tbl.sstLacks(f, indexedFields(tbl.Schema()))
		require.NoError(t, err)
		require.False(t, lacks, "file %d", f.num)
	}
	rs.release()
	sf, _ := tbl.Schema().Field("from")
	require.True(t, sf.Indexed)

	// Errors: unknown field, bad name, Object/Array.
	require.ErrorIs(t, tbl.CreateIndex("nope"), ErrInvalidSchema)
	require.ErrorIs(t, tbl.CreateIndex("../x"), ErrInvalidName)
	require.ErrorIs(t, tbl.DropIndex("nope"), ErrInvalidSchema)

	// New rows are indexed from now on, across a restart.
	_, err := tbl.Insert(idxTestRow(99999))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	db2, tbl2 := idxOpenTable(t, fs, false, 64<<10)
	defer db2.Close()
	require.NoError(t, tbl2.waitIndexBuilds())
	for _, f := range []string{"ch", "n", "from", "d"} {
		idxRequireMatchesScan(t, tbl2, f)
	}

	// DropIndex: gone from the schema, the list and the planner; indexing
	// again reuses the old sections and rewrites only what lacks them.
	require.NoError(t, tbl2.DropIndex("from"))
	require.NoError(t, tbl2.DropIndex("from"))
	require.Equal(t, []string{"ch", "d", "n"}, tbl2.Indexes())
	require.False(t, tbl2.indexReady("from"))
	rs = mustPin(tbl2)
	_, err = tbl2.newIndexIter(rs, "from", indexRange{}, false)
	rs.release()
	require.ErrorIs(t, err, errIndexNotReady)
	idxPopulate(t, tbl2, 600)
	require.NoError(t, tbl2.CreateIndex("from"))
	idxRequireMatchesScan(t, tbl2, "from")
}

func TestCreateIndexRejectsObjectFields(t *testing.T) {
	db, err := Open("/db", &Options{FS: newMemFS()})
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("o", []Field{{Name: "a", Type: Int64}, {Name: "o", Type: Object}, {Name: "arr", Type: Array}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("o", s)
	require.NoError(t, err)
	require.ErrorIs(t, tbl.CreateIndex("o"), ErrInvalidSchema)
	require.ErrorIs(t, tbl.CreateIndex("arr"), ErrInvalidSchema)
	require.Empty(t, tbl.Indexes())
	// An empty table: the active memtable starts indexing at once.
	require.NoError(t, tbl.CreateIndex("a"))
	_, err = tbl.Insert(map[string]any{"a": int64(5), "o": map[string]any{}, "arr": []any{}})
	require.NoError(t, err)
	idxRequireMatchesScan(t, tbl, "a")
}

// TestCreateIndexRacesWriters builds an index (a single-field one, and a
// composite one) while writers insert, update and delete (go test -race).
func TestCreateIndexRacesWriters(t *testing.T) {
	for _, fields := range [][]string{{"from"}, {"from", "ch"}} {
		t.Run(strings.Join(fields, ","), func(t *testing.T) { testCreateIndexRacesWriters(t, fields) })
	}
}

func testCreateIndexRacesWriters(t *testing.T, fields []string) {
	name := strings.Join(fields, compositeIndexSep)
	db, tbl := idxOpenTable(t, newMemFS(), true, 32<<10)
	defer db.Close()
	idxPopulate(t, tbl, 1200)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 8)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 5))
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				seq, err := tbl.Insert(idxTestRow(10000 + i))
				if err == nil && i%5 == 0 {
					err = tbl.Update(1+r.Int64N(seq), map[string]any{"from": fmt.Sprintf("w%d", i%7)})
					if IsNotFound(err) {
						err = nil
					}
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() { // a reader using the index as soon as it is ready
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rs := mustPin(tbl)
			if tbl.indexReady(name) {
				it, err := tbl.newIndexIter(rs, name, indexRange{}, true)
				if err == nil {
					for n := 0; n < 50 && it.next(); n++ {
					}
					err = it.close()
				}
				if err != nil && !errors.Is(err, errIndexNotReady) {
					errc <- err
				}
			}
			rs.release()
		}
	}()
	err := tbl.CreateIndex(fields...)
	close(stop)
	wg.Wait()
	close(errc)
	require.NoError(t, err)
	for err := range errc {
		require.NoError(t, err)
	}
	idxRequireMatchesScan(t, tbl, name)
}

// TestCheckIndexesDetectsAWrongSection swaps in a file whose section
// disagrees with its rows.
func TestCheckIndexesDetectsAWrongSection(t *testing.T) {
	t.Run("ch", func(t *testing.T) { testCheckIndexesDetectsAWrongSection(t, nil, 0, `index "ch"`) })
	// A composite index over ("from", "n"); only "from" lies, which no
	// single-field index covers.
	t.Run("from,n", func(t *testing.T) {
		testCheckIndexesDetectsAWrongSection(t, []string{"from", "n"}, 2, `index "from,n"`)
	})
}

// testCheckIndexesDetectsAWrongSection creates the index over create (if
// any), then swaps in a copy of an SST whose index sections were computed
// with field lie of one row changed, and expects Check to name want.
func testCheckIndexesDetectsAWrongSection(t *testing.T, create []string, lie int, want string) {
	db, tbl := idxOpenTable(t, newMemFS(), true, 64<<10)
	defer db.Close()
	idxPopulate(t, tbl, 600)
	if create != nil {
		require.NoError(t, tbl.CreateIndex(create...))
	}
	require.NoError(t, tbl.checkIndexes())
	tbl.flushMu.Lock()
	v := tbl.vs.current()
	f := v.levels[0][0]
	r, err := tbl.cache.get(f.num)
	require.NoError(t, err)
	num := tbl.vs.newFileNum()
	w, err := newSSTWriter(tbl.fs, tbl.dir, num)
	require.NoError(t, err)
	b := newIndexSectionBuilder(tbl.Schema())
	it := r.newIter()
	lied := false
	for ok := it.first(); ok; ok = it.next() {
		val := it.value()
		var tm int64
		if it.kind() == kindSet {
			tm, err = storedRowTime(it.seq(), val)
			require.NoError(t, err)
		}
		require.NoError(t, w.add(it.seq(), it.kind(), tm, val))
		if it.kind() == kindSet && !lied {
			// Index another value for this row.
			_, tm, vals, err := decodeRow(val, tbl.Schema().types())
			require.NoError(t, err)
			vals[lie] = "not-the-value"
			val, err = encodeRow(nil, it.seq(), tm, tbl.Schema().types(), vals)
			require.NoError(t, err)
			lied = true
		}
		require.NoError(t, b.add(it.seq(), it.kind(), val))
	}
	require.NoError(t, b.writeTo(w))
	props, err := w.finish()
	require.NoError(t, err)
	edit := &versionEdit{}
	edit.deleteFile(0, f.num)
	edit.addFile(0, metaFromProps(props))
	v.unref()
	require.NoError(t, tbl.vs.logAndApply(edit))
	tbl.installVersion(nil)
	tbl.flushMu.Unlock()
	err = tbl.checkIndexes()
	require.ErrorIs(t, err, ErrCorrupted)
	require.Contains(t, err.Error(), want)
	// Database.Check (and so srdb check) runs the same check.
	err = db.Check()
	require.ErrorIs(t, err, ErrCorrupted)
	require.Contains(t, err.Error(), want)
}

// An index rewrite discards its outputs only when its edit conflicts with
// the current version (errEditConflict, a compaction replaced an input);
// any other refusal of the version set is an error the build reports, not
// a silent "inputs changed".
func TestIndexRewriteReportsAnEditErrorThatIsNoConflict(t *testing.T) {
	db, tbl := idxOpenTable(t, newMemFS(), true, 1<<20)
	defer db.Close()
	edit := &versionEdit{}
	edit.addFile(1, &fileMeta{num: 1 << 40}) // a number never handed out
	tbl.flushMu.Lock()
	ok, err := tbl.applyRewriteLocked(edit, nil)
	tbl.flushMu.Unlock()
	require.False(t, ok)
	require.Error(t, err)
	require.False(t, errors.Is(err, errEditConflict))

	// A real conflict is still a discard: deleting a file the version lacks.
	edit = &versionEdit{}
	edit.deleteFile(1, 1<<20)
	tbl.flushMu.Lock()
	ok, err = tbl.applyRewriteLocked(edit, nil)
	tbl.flushMu.Unlock()
	require.False(t, ok)
	require.NoError(t, err)
}
