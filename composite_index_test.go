package srdb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCompositeKeyOrder: the key of a tuple (the concatenation of its
// fields' keys) orders bytewise exactly as the tuples compare field by
// field (NULL first, strings bytewise with 0x00 bytes and prefixes), and
// the keys sharing a leading value form one contiguous run.
func TestCompositeKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	strs := []any{nil, "", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "\x00", "\xff"}
	ints := []any{nil, int64(-5), int64(-1), int64(0), int64(1), int64(1 << 40)}
	type tup struct {
		s, u any
		i    any
		key  []byte
	}
	cmpAny := func(a, b any) int {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		case b == nil:
			return 1
		}
		switch x := a.(type) {
		case string:
			return strings.Compare(x, b.(string))
		case int64:
			y := b.(int64)
			return map[bool]int{true: -1, false: 1}[x < y] * map[bool]int{true: 0, false: 1}[x == y]
		}
		panic("type")
	}
	var ts []tup
	for range 400 {
		x := tup{s: strs[rng.IntN(len(strs))], i: ints[rng.IntN(len(ints))], u: strs[rng.IntN(len(strs))]}
		var err error
		x.key, err = appendIndexKey(nil, String, x.s)
		require.NoError(t, err)
		x.key, err = appendIndexKey(x.key, Int64, x.i)
		require.NoError(t, err)
		x.key, err = appendIndexKey(x.key, String, x.u)
		require.NoError(t, err)
		ts = append(ts, x)
	}
	for _, a := range ts {
		for _, b := range ts {
			want := cmpAny(a.s, b.s)
			if want == 0 {
				want = cmpAny(a.i, b.i)
			}
			if want == 0 {
				want = cmpAny(a.u, b.u)
			}
			require.Equal(t, want, bytes.Compare(a.key, b.key), "%q %v %q vs %q %v %q", a.s, a.i, a.u, b.s, b.i, b.u)
			// Same leading value ⇔ the key starts with that value's key.
			pre, _ := appendIndexKey(nil, String, a.s)
			require.Equal(t, cmpAny(a.s, b.s) == 0, bytes.HasPrefix(b.key, pre))
		}
	}
}

// TestIndexSectionVersion3 encodes and reads back the section of a
// composite index (header version 3 with the field types), and refuses a
// damaged field count or type byte.
func TestIndexSectionVersion3(t *testing.T) {
	var es [][]byte
	for i := range 300 {
		k, _ := appendIndexKey(nil, String, fmt.Sprintf("c%02d", i%7))
		k, _ = appendIndexKey(k, Int64, int64(i))
		es = append(es, appendIndexSeq(k, int64(i+1)))
	}
	slices.SortFunc(es, bytes.Compare)
	b := encodeIndexSection([]FieldType{String, Int64, Bool}, len(es), func(k int) []byte { return es[k] })
	require.Equal(t, uint16(idxSectionVersion3), uint16(b[8])|uint16(b[9])<<8)
	s, err := openIndexSection(b, "x.sst", 0)
	require.NoError(t, err)
	require.Equal(t, String, s.typ)
	require.Equal(t, []FieldType{Int64, Bool}, s.rest)
	require.True(t, s.indexes(idxField{typ: String, rest: []idxCol{{typ: Int64}, {typ: Bool}}}))
	require.False(t, s.indexes(idxField{typ: String, rest: []idxCol{{typ: Int64}}}))
	require.False(t, s.indexes(idxField{typ: String}))
	n := 0
	require.NoError(t, s.verify(func(e []byte) error {
		require.Equal(t, es[n], e)
		n++
		return nil
	}))
	require.Equal(t, len(es), n)

	// A single-field section is still version 2.
	one := encodeIndexSection([]FieldType{String}, 1, func(int) []byte { return es[0] })
	require.Equal(t, byte(idxSectionVersion), one[8])
	require.Equal(t, []byte{0, 0, 0, 0}, one[32:36])

	for _, tc := range []struct {
		off  int
		val  byte
		what string
	}{{11, 1, "composite index of 1 fields"}, {11, 5, "composite index of 5 fields"}, {32, byte(Object), "not indexable"}, {34, 1, "reserved"}} {
		bad := slices.Clone(b)
		bad[tc.off] = tc.val
		binaryPutCRC(bad)
		_, err := openIndexSection(bad, "x.sst", 0)
		require.ErrorIs(t, err, ErrCorrupted, tc.what)
		require.Contains(t, err.Error(), tc.what)
	}
}

// binaryPutCRC rewrites the header CRC of an index section.
func binaryPutCRC(b []byte) {
	c := checksum(b[:idxHeaderCRCOff])
	b[idxHeaderCRCOff], b[idxHeaderCRCOff+1], b[idxHeaderCRCOff+2], b[idxHeaderCRCOff+3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}

// TestCompositeIndexSchema: declaring composite indexes with WithIndex,
// the checks NewSchema and CreateIndex make, schema.json round trip.
func TestCompositeIndexSchema(t *testing.T) {
	fields := []Field{{Name: "ch", Type: String}, {Name: "n", Type: Int64}, {Name: "o", Type: Object, Nullable: true}, {Name: "b", Type: Bool}}
	s, err := NewSchema("m", fields, WithIndex("ch", "n"), WithIndex("b"))
	require.NoError(t, err)
	require.Equal(t, [][]string{{"ch", "n"}}, s.CompositeIndexes())
	f, _ := s.Field("b")
	require.True(t, f.Indexed, "WithIndex of one field sets Indexed")
	require.Contains(t, s.String(), "index(ch,n)")
	data, err := encodeSchemaFile(s)
	require.NoError(t, err)
	require.Contains(t, string(data), `"format": 3`)
	s2, err := decodeSchemaFile(data, "schema.json")
	require.NoError(t, err)
	require.Equal(t, s.CompositeIndexes(), s2.CompositeIndexes())

	for _, tc := range []struct {
		idx []string
		msg string
	}{
		{[]string{}, "no field"},
		{[]string{"ch", "zz"}, "no such field"},
		{[]string{"ch", "o"}, "cannot be indexed"},
		{[]string{"ch", "ch"}, "twice"},
		{[]string{"ch", "n", "b", "ch", "n"}, "2 to 4"},
		{[]string{"ch", "_seq"}, "system fields"},
		{[]string{"ch", "../x"}, "invalid"},
	} {
		_, err := NewSchema("m", fields, WithIndex(tc.idx...))
		require.Error(t, err, "%v", tc.idx)
		if tc.msg == "invalid" {
			require.Equal(t, CodeInvalidName, ErrorCode(err), "%v: %v", tc.idx, err)
			continue
		}
		require.Equal(t, CodeInvalidSchema, ErrorCode(err), "%v: %v", tc.idx, err)
		require.Contains(t, err.Error(), tc.msg, "%v", tc.idx)
	}
	_, err = NewSchema("m", fields, WithIndex("ch", "n"), WithIndex("ch", "n"))
	require.ErrorContains(t, err, "declared twice")

	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	plain, err := NewSchema("m", fields)
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", plain)
	require.NoError(t, err)
	for _, idx := range [][]string{{}, {"ch", "zz"}, {"ch", "o"}, {"ch", "ch"}, {"ch", "n", "b", "ch", "n"}, {"ch", "_time"}} {
		err := tbl.CreateIndex(idx...)
		require.Error(t, err, "%v", idx)
		var e *Error
		require.True(t, errors.As(err, &e), "%v", idx)
		require.Equal(t, "m", e.Table)
	}
	require.NoError(t, tbl.DropIndex("ch", "n"), "dropping an index that does not exist")
	require.Empty(t, tbl.Indexes())
}

func imCompositeRow(i int) map[string]any {
	var body any = fmt.Sprintf("m%d", i)
	if i%13 == 0 {
		body = nil
	}
	return map[string]any{"ch": fmt.Sprintf("c%d", i%5), "n": int64(i / 5), "from": fmt.Sprintf("u%d", i%3), "body": body}
}

func imCompositeFields() []Field {
	return []Field{{Name: "ch", Type: String}, {Name: "n", Type: Int64}, {Name: "from", Type: String}, {Name: "body", Type: String, Nullable: true}}
}

// TestCompositeIndexLifecycle: CreateIndex(a, b) over rows in SSTs and
// the memtable, Indexes, Check (both directions), queries, reopen,
// DropField of one of its fields drops it, DropIndex.
func TestCompositeIndexLifecycle(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Durability: DurabilityNone, DisableAutoCompaction: true}
	db := openTestDB(t, dir, opts)
	s, err := NewSchema("m", imCompositeFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	for i := range 1000 {
		_, err := tbl.Insert(imCompositeRow(i))
		require.NoError(t, err)
		if i == 400 || i == 800 {
			require.NoError(t, tbl.Flush())
		}
	}
	require.NoError(t, tbl.CreateIndex("ch", "n"))
	require.NoError(t, tbl.CreateIndex("ch", "from", "n"))
	require.NoError(t, tbl.CreateIndex("ch", "n"), "again: nil")
	require.Equal(t, []string{"ch,from,n", "ch,n"}, tbl.Indexes())
	require.NoError(t, db.Check())
	idxRequireMatchesScan(t, tbl, "ch,n")
	idxRequireMatchesScan(t, tbl, "ch,from,n")

	last := func(tbl *Table) []int64 {
		q := tbl.Query().Eq("ch", "c2").Lt("n", 150).OrderByDesc("n").Limit(3)
		plan, err := q.Explain()
		require.NoError(t, err)
		require.Contains(t, plan, "access: index (ch,n)")
		require.Contains(t, plan, "reverse")
		return querySeqs(t, q)
	}
	require.Equal(t, []int64{748, 743, 738}, last(tbl)) // n 149, 148, 147 of c2: i = 5n+2, seq = i+1
	q := tbl.Query().Eq("ch", "c1").Eq("from", "u2").Gte("n", 100).OrderBy("n").Limit(2)
	plan, err := q.Explain()
	require.NoError(t, err)
	require.Contains(t, plan, "access: index (ch,from,n)")
	require.Equal(t, []int64{507, 522}, querySeqs(t, q)) // i = 506 (n 101, u2), 521 (n 104)

	require.NoError(t, db.Close())
	db = openTestDB(t, dir, opts)
	tbl, err = db.Table("m")
	require.NoError(t, err)
	require.Equal(t, []string{"ch,from,n", "ch,n"}, tbl.Indexes())
	require.Equal(t, []int64{748, 743, 738}, last(tbl))
	require.NoError(t, tbl.Compact())
	require.Equal(t, []int64{748, 743, 738}, last(tbl))

	require.NoError(t, tbl.DropField("from"))
	require.Equal(t, []string{"ch,n"}, tbl.Indexes(), "DropField drops the composite indexes using the field")
	require.NoError(t, db.Check())
	require.NoError(t, tbl.DropIndex("ch", "n"))
	require.Empty(t, tbl.Indexes())
	plan, err = tbl.Query().Eq("ch", "c2").Lt("n", 150).OrderByDesc("n").Limit(3).Explain()
	require.NoError(t, err)
	require.Contains(t, plan, "access: scan")
	require.NoError(t, db.Close())
	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err = db.Table("m")
	require.NoError(t, err)
	require.Empty(t, tbl.Indexes())
	require.NoError(t, db.Check())
}

// TestCompositeIndexEnsureTable: EnsureTable creates a composite index the
// schema declares and the table lacks (and never drops one).
func TestCompositeIndexEnsureTable(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	s, err := NewSchema("m", imCompositeFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	for i := range 50 {
		_, err := tbl.Insert(imCompositeRow(i))
		require.NoError(t, err)
	}
	s2, err := NewSchema("m", imCompositeFields(), WithIndex("ch", "n"))
	require.NoError(t, err)
	tbl, err = db.EnsureTable("m", s2)
	require.NoError(t, err)
	require.Equal(t, []string{"ch,n"}, tbl.Indexes())
	_, err = db.EnsureTable("m", s)
	require.NoError(t, err)
	require.Equal(t, []string{"ch,n"}, tbl.Indexes())
	require.NoError(t, db.Check())
}

// TestOpenIndexV2Database opens a database written before composite
// indexes (testdata/index/db_index_v2: single-field index sections of
// format version 2 in an SST, rows 21-30 in the WAL), uses its indexes,
// builds a composite index over the old files and reopens.
func TestOpenIndexV2Database(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "index", "db_index_v2"))))
	opts := &Options{Durability: DurabilitySync}
	db := openTestDB(t, dir, opts)
	require.NoError(t, db.Check())
	tbl, err := db.Table("messages")
	require.NoError(t, err)
	require.Equal(t, []string{"channel_id", "msg_seq"}, tbl.Indexes())
	q := tbl.Query().Eq("channel_id", "c1").OrderByDesc("_seq").Limit(3)
	plan, err := q.Explain()
	require.NoError(t, err)
	require.Contains(t, plan, "access: index channel_id")
	require.Equal(t, []int64{28, 25, 22}, querySeqs(t, q))
	require.Equal(t, 10, countQuery(t, tbl.Query().Eq("channel_id", "c2")))
	rs := mustPin(tbl)
	sr, err := tbl.cache.get(rs.v.levels[0][0].num)
	require.NoError(t, err)
	sec, found, err := sr.indexSection("channel_id")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, byte(idxSectionVersion), sec.b[8], "the fixture holds a version 2 section")
	rs.release()

	require.NoError(t, tbl.CreateIndex("channel_id", "msg_seq"))
	require.NoError(t, db.Check())
	q = tbl.Query().Eq("channel_id", "c1").Lt("msg_seq", 9).OrderByDesc("msg_seq").Limit(2)
	plan, err = q.Explain()
	require.NoError(t, err)
	require.Contains(t, plan, "access: index (channel_id,msg_seq)")
	require.Equal(t, []int64{22, 19}, querySeqs(t, q)) // msg_seq 8, 7 of c1
	require.NoError(t, db.Close())
	db = openTestDB(t, dir, opts)
	defer db.Close()
	require.NoError(t, db.Check())
	tbl, err = db.Table("messages")
	require.NoError(t, err)
	require.Equal(t, []int64{22, 19}, querySeqs(t, tbl.Query().Eq("channel_id", "c1").Lt("msg_seq", 9).OrderByDesc("msg_seq").Limit(2)))
}

// TestCreateCompositeIndexCrashAtEveryKillPoint is
// TestCreateIndexCrashAtEveryKillPoint for a composite index: a crash at
// each step of the build leaves a table that reopens, resumes the build,
// and whose index equals the scan.
func TestCreateCompositeIndexCrashAtEveryKillPoint(t *testing.T) {
	base, _ := idxBaseFS(t, 1200)
	const name = "from,n"
	for _, point := range []string{
		"index_build.after_marker",
		"index_build.schema.after_rename",
		"index_build.after_schema",
		"flush.after_manifest",
		"index_build.after_flush",
		"index_build.after_sst",
		"index_build.after_swap",
		"index_build.after_done",
	} {
		t.Run(point, func(t *testing.T) {
			fs := base.crashClone(nil, 1)
			db, tbl := idxOpenTable(t, fs, false, 32<<10)
			seq, err := tbl.Insert(idxTestRow(1_000_000))
			require.NoError(t, err)
			require.NoError(t, tbl.Delete(seq))
			var hits atomic.Int32
			setKillPointHook(func(n string) error {
				if n == point && hits.Add(1) == 1 {
					return errIdxInjected
				}
				return nil
			})
			err = tbl.CreateIndex("from", "n")
			setKillPointHook(nil)
			require.Positive(t, hits.Load(), "kill point %s not reached", point)
			require.Error(t, err)
			crashed := fs.crashClone(rand.New(rand.NewPCG(1, 2)), 0)
			_ = db.Close()

			db2, tbl2 := idxOpenTable(t, crashed, false, 32<<10)
			defer func() { require.NoError(t, db2.Close()) }()
			require.NoError(t, tbl2.waitIndexBuilds())
			if !tbl2.indexReady(name) {
				require.NoError(t, tbl2.CreateIndex("from", "n"))
			}
			require.Contains(t, tbl2.Indexes(), name)
			idxRequireMatchesScan(t, tbl2, name)
		})
	}
}

// TestCompositeIndexPlanEquivalence is the plan-equivalence property for
// composite indexes: random queries (Eq/In on random prefixes of the
// index fields, ranges and StartsWith on the next field, orders on the
// index fields, _seq or others, limits, offsets) return exactly the rows,
// in the same order, through the indexes and through a scan with an
// in-memory sort, while rows are inserted, updated (moving between
// channels), deleted, flushed and compacted between rounds.
func TestCompositeIndexPlanEquivalence(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone, DisableAutoCompaction: true, MemTableSize: 64 << 10})
	defer db.Close()
	s, err := NewSchema("m", []Field{
		{Name: "ch", Type: String},
		{Name: "n", Type: Int64, Nullable: true},
		{Name: "from", Type: String},
		{Name: "t", Type: Uint8},
		{Name: "x", Type: Float64, Nullable: true},
	}, WithIndex("ch", "n"), WithIndex("ch", "from", "n"), WithIndex("t", "x"))
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(2026, 17))
	chs := []string{"", "a", "a\x00", "ab", "b", "c"}
	froms := []string{"u0", "u1", "u10", "u2"}
	row := func() map[string]any {
		r := map[string]any{"ch": chs[rng.IntN(len(chs))], "from": froms[rng.IntN(len(froms))], "t": uint8(rng.IntN(4))}
		if rng.IntN(10) != 0 {
			r["n"] = int64(rng.IntN(60) - 10)
		}
		if rng.IntN(6) != 0 {
			r["x"] = float64(rng.IntN(9)-4) / 2
		}
		return r
	}
	var maxSeq int64
	mutate := func(n int) {
		for range n {
			switch k := rng.IntN(10); {
			case k < 7 || maxSeq == 0:
				seq, err := tbl.Insert(row())
				require.NoError(t, err)
				maxSeq = seq
			case k < 9:
				err := tbl.Update(1+rng.Int64N(maxSeq), row())
				require.True(t, err == nil || IsNotFound(err), "%v", err)
			default:
				err := tbl.Delete(1 + rng.Int64N(maxSeq))
				require.True(t, err == nil || IsNotFound(err), "%v", err)
			}
		}
	}
	anyOf := func(vs []string) any { return vs[rng.IntN(len(vs))] }
	nArg := func() any { return int64(rng.IntN(70) - 15) }
	rangeOn := func(q *Query, f string, arg func() any) {
		switch rng.IntN(6) {
		case 0:
			q.Gt(f, arg())
		case 1:
			q.Gte(f, arg())
		case 2:
			q.Lt(f, arg())
		case 3:
			q.Lte(f, arg())
		case 4:
			q.Between(f, arg(), arg())
		default:
			q.Gt(f, arg()).Lte(f, arg())
		}
	}
	used := map[string]int{}
	streamed := 0
	for round := range 8 {
		mutate(400)
		switch round % 4 {
		case 1:
			require.NoError(t, tbl.Flush())
		case 3:
			require.NoError(t, tbl.Compact())
		}
		for i := range 150 {
			seed := uint64(round*1000 + i)
			build := func(q *Query) *Query {
				r := rand.New(rand.NewPCG(seed, 3))
				saved := rng
				rng = r
				defer func() { rng = saved }()
				switch rng.IntN(3) {
				case 0: // (ch, n)
					if rng.IntN(4) == 0 {
						q.In("ch", anyOf(chs), anyOf(chs), anyOf(chs))
					} else {
						q.Eq("ch", anyOf(chs))
					}
					switch rng.IntN(4) {
					case 0:
						rangeOn(q, "n", nArg)
					case 1:
						q.In("n", nArg(), nArg())
					case 2:
						q.IsNull("n")
					}
				case 1: // (ch, from, n)
					q.Eq("ch", anyOf(chs))
					switch rng.IntN(3) {
					case 0:
						q.Eq("from", anyOf(froms))
						if rng.IntN(2) == 0 {
							rangeOn(q, "n", nArg)
						}
					case 1:
						rangeOn(q, "from", func() any { return anyOf(froms) })
					default:
						q.StartsWith("from", []string{"u", "u1", "u2", ""}[rng.IntN(4)])
					}
				default: // (t, x)
					q.In("t", uint8(rng.IntN(4)), uint8(rng.IntN(4)))
					if rng.IntN(2) == 0 {
						rangeOn(q, "x", func() any { return float64(rng.IntN(9)-4) / 2 })
					}
				}
				if rng.IntN(5) == 0 {
					q.Lt("_seq", 1+rng.Int64N(maxSeq+1))
				}
				if rng.IntN(6) == 0 {
					q.NotEq("from", anyOf(froms))
				}
				order := []string{"", "n", "_seq", "from", "x", "ch"}[rng.IntN(6)]
				if order != "" {
					if rng.IntN(2) == 0 {
						q.OrderByDesc(order)
					} else {
						q.OrderBy(order)
					}
				}
				// A window over the access order would pick different rows.
				if rng.IntN(3) != 0 && order != "" {
					q.Limit(rng.IntN(25))
				}
				if rng.IntN(3) == 0 && order != "" {
					q.Offset(rng.IntN(10))
				}
				return q
			}
			qi := build(tbl.Query())
			qs := build(tbl.Query())
			qs.ix = scanOnlyIndex{tableIndexSource{tbl}}
			plan, err := qi.Explain()
			require.NoError(t, err)
			if k := strings.Index(plan, "access: index ("); k >= 0 {
				name := plan[k+len("access: index ("):]
				used[name[:strings.IndexByte(name, ')')]]++
				if strings.Contains(plan, "(streamed)") && !strings.Contains(plan, "order: none") {
					streamed++
				}
			}
			splan, err := qs.Explain()
			require.NoError(t, err)
			require.NotContains(t, splan, "access: index")
			got, want := querySeqs(t, qi), querySeqs(t, qs)
			if len(qi.order) == 0 { // access order: compare as sets
				slices.Sort(got)
				slices.Sort(want)
				n, err := build(tbl.Query()).Count() // the same access path, counting
				require.NoError(t, err)
				require.Equal(t, len(want), n, "round %d query %d: Count\n%s", round, i, plan)
			}
			require.Equal(t, want, got, "round %d query %d: index plan and scan differ\nindex plan:\n%s\nscan plan:\n%s", round, i, plan, splan)
		}
	}
	t.Logf("composite index plans: %v; %d streamed an order", used, streamed)
	for _, name := range []string{"ch,n", "ch,from,n", "t,x"} {
		require.Greater(t, used[name], 40, "too few plans used %s", name)
	}
	require.Greater(t, streamed, 50)
	require.NoError(t, db.Check())
}

// TestCreateCompositeIndexPowerLoss cuts the power at every file-system
// operation of CreateIndex("from", "n") (keeping each unsynced write with
// probability 0, ½ or 1, rotating with the operation): the recovered copy
// opens, its rows are intact, and the composite index, once its build
// completes (resumed by Open or run again), equals the scan.
func TestCreateCompositeIndexPowerLoss(t *testing.T) {
	const name = "from,n"
	base, want := idxBaseFS(t, 600)
	work := func(db *Database, tbl *Table) error {
		err := tbl.CreateIndex("from", "n")
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	}
	probe := base.crashClone(nil, 1)
	db, tbl := idxOpenTable(t, probe, false, 32<<10)
	start := probe.opCount()
	require.NoError(t, work(db, tbl))
	n := probe.opCount() - start
	stride := 1
	if testing.Short() {
		stride = 5
	}
	errCrashed := errors.New("power cut")
	ps := []float64{0, 0.5, 1}
	for k := 0; k <= n; k += stride {
		m := base.crashClone(nil, 1)
		rng := rand.New(rand.NewPCG(uint64(k), 3))
		db, tbl := idxOpenTable(t, m, false, 32<<10)
		b := m.opCount()
		var clone *memFS
		m.setOpHook(func(i int, op fsOp, path string) error {
			if clone == nil && i-b == k {
				clone = m.crashClone(rng, ps[k%3])
			}
			if clone != nil {
				return errCrashed
			}
			return nil
		})
		err := work(db, tbl)
		if clone == nil {
			require.NoError(t, err)
			clone = m.crashClone(rng, ps[k%3])
		}
		db2, tbl2 := idxOpenTable(t, clone, false, 32<<10)
		require.NoError(t, tbl2.waitIndexBuilds(), "op %d", k)
		if !tbl2.indexReady(name) {
			require.NoError(t, tbl2.CreateIndex("from", "n"), "op %d", k)
		}
		require.Equal(t, want, idxLiveKeys(t, tbl2, "from"), "op %d", k)
		idxRequireMatchesScan(t, tbl2, name)
		require.NoError(t, db2.Close())
	}
	t.Logf("CreateIndex(from, n): %d file-system operations, crashed at every %d", n, stride)
}
