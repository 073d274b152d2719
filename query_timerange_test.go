package srdb

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// trRow is the model of one row of the _time range tests.
type trRow struct {
	live bool
	ch   string
	tn   int64
}

// trTable is a table whose rows sit in L1 (compacted), L0 (flushed) and the
// memtable, with updates and deletes in the newer layers over rows of the
// older ones, and the model of its rows.
type trTable struct {
	tbl   *Table
	model []trRow // index seq-1
	base  int64
}

// trTimeFor returns the _time of the row of seq: near time order (a jitter
// of a few rows) or, with adversarial, often far from it, including the
// ends of the int64 range.
func trTimeFor(rng *rand.Rand, base, seq int64, adversarial bool) int64 {
	tn := base + seq*1000 + rng.Int63n(5000)
	if adversarial {
		switch rng.Intn(40) {
		case 0:
			return base + rng.Int63n(4000*1000) - 500*1000
		case 1:
			return math.MinInt64 + rng.Int63n(10)
		case 2:
			return math.MaxInt64 - rng.Int63n(10)
		case 3:
			return base - seq*1000 // a descending run
		}
	}
	return tn
}

func newTRTable(t *testing.T, seed int64, adversarial bool) *trTable {
	t.Helper()
	db := openTestDB(t, "db", &Options{FS: newMemFS(), Durability: DurabilityNone, DisableAutoCompaction: true})
	t.Cleanup(func() { _ = db.Close() })
	tbl := createIMTable(t, db)
	rng := rand.New(rand.NewSource(seed))
	tr := &trTable{tbl: tbl, base: 1_700_000_000_000_000_000}
	insert := func(n int) {
		rows := make([]map[string]any, n)
		first := int64(len(tr.model) + 1)
		for i := range rows {
			seq := first + int64(i)
			r := trRow{live: true, ch: fmt.Sprintf("ch-%d", rng.Intn(7)), tn: trTimeFor(rng, tr.base, seq, adversarial)}
			tr.model = append(tr.model, r)
			rows[i] = map[string]any{"_time": time.Unix(0, r.tn), "channel_id": r.ch, "from_uid": "u", "msg_id": seq, "msg_type": uint8(1), "payload": []byte("p")}
		}
		first, err := tbl.Insert(rows)
		require.NoError(t, err)
		require.Equal(t, int64(len(tr.model)-n+1), first)
	}
	churn := func(n int) { // updates (keeping _time) and deletes of older rows
		for range n {
			seq := 1 + rng.Int63n(int64(len(tr.model)))
			r := &tr.model[seq-1]
			if !r.live {
				continue
			}
			if rng.Intn(2) == 0 {
				require.NoError(t, tbl.Delete(seq))
				r.live = false
				continue
			}
			r.ch = fmt.Sprintf("ch-%d", rng.Intn(7))
			require.NoError(t, tbl.Update(seq, map[string]any{"channel_id": r.ch}))
		}
	}
	insert(1500)
	require.NoError(t, tbl.CreateIndex("channel_id"))
	require.NoError(t, tbl.Compact()) // L1
	insert(700)
	churn(60)
	require.NoError(t, tbl.Flush()) // L0
	insert(900)
	churn(60)
	insert(300)
	require.NoError(t, tbl.Flush()) // a second L0 file
	insert(400)                     // memtable
	churn(40)
	return tr
}

// trQuery is one random _time range query and its expected seqs.
type trQuery struct {
	q    *Query
	text string
	want []int64
}

func (tr *trTable) randomQuery(rng *rand.Rand) trQuery {
	n := int64(len(tr.model))
	var lo, hi int64 // inclusive bounds of the model
	switch rng.Intn(6) {
	case 0: // anywhere, any width
		lo = tr.base + rng.Int63n(n*1000+10000) - 5000
		hi = lo + rng.Int63n(n*1000/4)
	case 1: // the extremes
		lo, hi = math.MinInt64, tr.base+rng.Int63n(n*1000)
	case 2:
		lo, hi = tr.base+rng.Int63n(n*1000), math.MaxInt64
	default: // narrow: about 1–100 rows
		lo = tr.base + rng.Int63n(n*1000)
		hi = lo + rng.Int63n(100_000)
	}
	q := tr.tbl.Query()
	var text []string
	switch rng.Intn(3) {
	case 0:
		q.Between("_time", time.Unix(0, lo), time.Unix(0, hi))
		text = append(text, fmt.Sprintf("Between(%d,%d)", lo, hi))
	case 1:
		if lo > math.MinInt64 {
			q.Gt("_time", lo-1) // integers are Unix ns
		}
		if hi < math.MaxInt64 {
			q.Lt("_time", time.Unix(0, hi+1))
		}
		text = append(text, fmt.Sprintf("Gt(%d)Lt(%d)", lo-1, hi+1))
	default:
		q.Gte("_time", time.Unix(0, lo)).Lte("_time", time.Unix(0, hi))
		text = append(text, fmt.Sprintf("Gte(%d)Lte(%d)", lo, hi))
	}
	ch := ""
	if rng.Intn(3) == 0 {
		ch = fmt.Sprintf("ch-%d", rng.Intn(7))
		q.Eq("channel_id", ch)
		text = append(text, "Eq(channel_id,"+ch+")")
	}
	seqLo, seqHi := int64(1), n
	if rng.Intn(5) == 0 {
		seqLo = 1 + rng.Int63n(n)
		seqHi = seqLo + rng.Int63n(n)
		q.Between("_seq", seqLo, seqHi)
		text = append(text, fmt.Sprintf("_seq[%d,%d]", seqLo, seqHi))
	}
	want := []int64{}
	for i, r := range tr.model {
		seq := int64(i + 1)
		if r.live && r.tn >= lo && r.tn <= hi && (ch == "" || r.ch == ch) && seq >= seqLo && seq <= seqHi {
			want = append(want, seq)
		}
	}
	switch rng.Intn(3) {
	case 0:
		q.OrderByDesc("_seq")
		slices.Reverse(want)
		text = append(text, "desc")
	case 1:
		q.OrderBy("_seq")
	}
	if rng.Intn(3) == 0 {
		off, lim := rng.Intn(20), rng.Intn(30)
		q.Offset(off).Limit(lim)
		text = append(text, fmt.Sprintf("offset %d limit %d", off, lim))
		want = want[min(off, len(want)):]
		want = want[:min(lim, len(want))]
	}
	return trQuery{q: q, text: strings.Join(text, " "), want: want}
}

func trNonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// TestQueryTimeRangeMatchesModel runs random _time range queries (asc,
// desc, Limit/Offset, with an indexed Eq and _seq bounds) over near-sorted
// and adversarial times spread over L1, L0 and the memtable, with updates
// and deletes on top, and checks each against the model, with the _time
// index and without it (the plan of the version-2 engine), and the count.
func TestQueryTimeRangeMatchesModel(t *testing.T) {
	for _, adversarial := range []bool{false, true} {
		t.Run(fmt.Sprintf("adversarial=%v", adversarial), func(t *testing.T) {
			tr := newTRTable(t, 7, adversarial)
			rng := rand.New(rand.NewSource(11))
			for i := range 300 {
				tq := tr.randomQuery(rng)
				got := querySeqs(t, tq.q)
				require.Equal(t, tq.want, trNonNil(got), "query %d: %s", i, tq.text)
				timeIndexDisabled = true
				old := querySeqs(t, tq.q)
				timeIndexDisabled = false
				require.Equal(t, tq.want, trNonNil(old), "query %d without the _time index: %s", i, tq.text)
				n, err := tq.q.Count()
				require.NoError(t, err)
				require.Equal(t, len(tq.want), n, "count %d: %s", i, tq.text)
			}
		})
	}
}

// TestQueryTimeRangeReadsTheRange checks the cost: over near-sorted times, a
// narrow range reads about its own rows, not the rows of the files it
// overlaps, forward and backward, and an indexed Eq with a _time range
// looks up only the candidates in the range.
func TestQueryTimeRangeReadsTheRange(t *testing.T) {
	tr := newTRTable(t, 3, false)
	lo := tr.base + 1000*1000 // rows ~1000-1050 (L0), and the range below (L1)
	for _, r := range []struct{ lo, hi int64 }{{lo, lo + 50_000}, {tr.base + 200_000, tr.base + 260_000}, {tr.base + 3500_000, tr.base + 3550_000}} {
		for _, desc := range []bool{false, true} {
			q := tr.tbl.Query().Between("_time", r.lo, r.hi)
			if desc {
				q.OrderByDesc("_seq")
			}
			st := &queryStats{}
			q.stats = st
			seqs := querySeqs(t, q)
			require.NotEmpty(t, seqs)
			// The range's rows, plus the edges of the candidate blocks: the
			// dense source's, and the blocks of the sparse Updates the L0
			// files hold (each spans < sstTimeBlockSpan seqs).
			t.Logf("range %v desc %v: %d rows, %d entries", r, desc, len(seqs), st.entriesScanned)
			require.LessOrEqual(t, st.entriesScanned, int64(len(seqs)+3*sstTimeBlockSpan), "range %v desc %v: %d rows, %d entries", r, desc, len(seqs), st.entriesScanned)

			timeIndexDisabled = true
			st0 := &queryStats{}
			q.stats = st0
			require.Equal(t, seqs, querySeqs(t, q))
			timeIndexDisabled = false
			t.Logf("without the _time index: %d entries", st0.entriesScanned)
			require.Greater(t, st0.entriesScanned, 2*st.entriesScanned, "without the index the whole files are read")
		}
	}
	q := tr.tbl.Query().Eq("channel_id", "ch-3").Between("_time", lo, lo+200_000)
	st := &queryStats{}
	q.stats = st
	seqs := querySeqs(t, q)
	require.NotEmpty(t, seqs)
	require.LessOrEqual(t, st.lookups, int64(len(seqs)+2*sstTimeBlockRows), "index candidates outside the _time windows are not looked up")
	plan, err := q.Explain()
	require.NoError(t, err)
	require.Contains(t, plan, "_time index")
}

// TestSSTTimeIndexWindows checks the windows of the _time index on its own:
// every entry whose time is in the range lies in a window, for random
// near-sorted and adversarial times.
func TestSSTTimeIndexWindows(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for round := range 40 {
		fs := newSSTMemFS()
		n := 1 + rng.Intn(3*sstTimeBlockRows*3)
		es := make([]sstTestEntry, n)
		for i := range es {
			seq := int64(1 + 2*i)
			es[i] = sstTestEntry{seq: seq, kind: kindSet, time: trTimeFor(rng, 0, seq, round%2 == 1), value: []byte("v")}
			if rng.Intn(9) == 0 {
				es[i] = sstTestEntry{seq: seq, kind: kindDelete}
			}
		}
		fileNum := uint64(round + 1)
		sstBuild(t, fs, "d", fileNum, es)
		r := sstOpen(t, fs, "d", fileNum)
		require.NoError(t, r.verify(func(seq int64, v []byte) (int64, error) {
			return es[(seq-1)/2].time, nil
		}))
		ti, err := r.timeIndex()
		require.NoError(t, err)
		if !r.props().hasTime {
			require.Empty(t, ti.blocks)
			continue
		}
		for range 50 {
			lo := rng.Int63n(int64(2*n)*1000) - 1000
			hi := lo + rng.Int63n(200_000)
			wins, _ := ti.windows(lo, hi, nil)
			for _, e := range es {
				if e.kind != kindSet || e.time < lo || e.time > hi {
					continue
				}
				in := slices.ContainsFunc(wins, func(w seqWindow) bool { return w.lo <= e.seq && e.seq <= w.hi })
				require.True(t, in, "round %d: seq %d time %d in [%d,%d] outside %v", round, e.seq, e.time, lo, hi, wins)
			}
		}
	}
}

// TestQueryTimeRangeOverVersion2SST opens a database written before the
// _time index (testdata/schema/db_format1: rows 1-3 in a format-version-2
// SST, 4-5 in the WAL): every _time range gives the rows a full scan gives,
// and after a compaction rewrites the rows into a version-3 file (with a
// _time index) too.
func TestQueryTimeRangeOverVersion2SST(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "schema", "db_format1"))))
	db := openTestDB(t, dir, &Options{Durability: DurabilitySync})
	defer db.Close()
	tbl, err := db.Table("messages")
	require.NoError(t, err)
	fileVersion := func() uint16 {
		rs, err := tbl.pin()
		require.NoError(t, err)
		defer rs.release()
		var f *fileMeta
		for _, files := range rs.v.levels {
			for _, x := range files {
				f = x
			}
		}
		require.NotNil(t, f)
		r, err := tbl.cache.get(f.num)
		require.NoError(t, err)
		return r.hdr.version
	}
	check := func() {
		rows, err := tbl.Query().Rows()
		require.NoError(t, err)
		var seqs, times []int64
		for rows.Next() {
			seqs = append(seqs, rows.Row().Seq())
			times = append(times, rows.Row().Time().UnixNano())
		}
		require.NoError(t, rows.Close())
		require.Len(t, seqs, 5)
		for i := range times {
			for j := range times {
				lo, hi := times[i], times[j]
				want := []int64{}
				for k, tn := range times {
					if tn >= lo && tn <= hi {
						want = append(want, seqs[k])
					}
				}
				got := querySeqs(t, tbl.Query().Between("_time", lo, hi))
				require.Equal(t, want, trNonNil(got), "[%d, %d]", lo, hi)
			}
		}
	}
	require.EqualValues(t, 2, fileVersion())
	check()
	require.NoError(t, tbl.Compact())
	require.EqualValues(t, sstFormatVersion, fileVersion())
	check()
	require.NoError(t, db.Check())
}

// TestQueryTimeRangeCorruptTimeIndex: a damaged _time index fails the
// _time range queries that consult it with ErrCorrupted naming the table,
// the file and an offset inside the section — never a wrong answer — while
// other queries still read the rows, and Check reports it.
func TestQueryTimeRangeCorruptTimeIndex(t *testing.T) {
	fs := newMemFS()
	opts := &Options{FS: fs, Durability: DurabilityNone, DisableAutoCompaction: true}
	db := openTestDB(t, "db", opts)
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 600; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	rs, err := tbl.pin()
	require.NoError(t, err)
	f := rs.v.levels[0][0]
	r, err := tbl.cache.get(f.num)
	require.NoError(t, err)
	off := r.timeSectionOff()
	rs.release()
	require.NoError(t, db.Close())

	path := filepath.Join("db", "tables", "messages", sstName(f.num))
	data, err := fs.readFile(path)
	require.NoError(t, err)
	data[off+sstTimeHeaderSize+20] ^= 0x04 // a block's min time
	require.NoError(t, fs.writeFile(path, data))

	db = openTestDB(t, "db", opts)
	defer db.Close()
	tbl, err = db.Table("messages")
	require.NoError(t, err)
	for _, q := range []*Query{
		tbl.Query().Gte("_time", int64(1)),
		tbl.Query().Gte("_time", int64(1)).OrderByDesc("_seq").Limit(3),
		tbl.Query().Eq("channel_id", "ch-001").Gte("_time", int64(1)),
	} {
		_, err := q.Rows()
		if err == nil {
			_, err = q.Count()
		}
		require.True(t, IsCorrupted(err), "want ErrCorrupted, got %v", err)
		var e *Error
		require.True(t, errors.As(err, &e))
		require.Equal(t, "messages", e.Table)
		require.Equal(t, sstName(f.num), e.File)
		require.GreaterOrEqual(t, e.Offset, off)
	}
	n, err := tbl.Query().Count()
	require.NoError(t, err)
	require.Equal(t, 600, n)
	require.Len(t, querySeqs(t, tbl.Query().Eq("channel_id", "ch-001")), 7) // 1, 98, …, 583
	require.True(t, IsCorrupted(db.Check()))
}

// TestQueryTimeRangeDuringWrites runs _time range queries while rows are
// inserted, old rows updated (their _time kept) and memtables flushed and
// compacted in the background: a range over rows written before it started
// always returns exactly them (run with -race).
func TestQueryTimeRangeDuringWrites(t *testing.T) {
	db := openTestDB(t, "db", &Options{FS: newMemFS(), Durability: DurabilityNone, MemTableSize: 64 << 10})
	defer db.Close()
	tbl := createIMTable(t, db)
	base := int64(1_700_000_000_000_000_000)
	row := func(seq int64) map[string]any {
		r := imTableRow(seq)
		r["_time"] = time.Unix(0, base+seq*1000)
		return r
	}
	const before = 2000
	for seq := int64(1); seq <= before; seq++ {
		_, err := tbl.Insert(row(seq))
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() {
		defer close(done)
		rng := rand.New(rand.NewSource(1))
		for seq := int64(before + 1); seq <= before+3000; seq++ {
			if _, err := tbl.Insert(row(seq)); err != nil {
				done <- err
				return
			}
			if seq%7 == 0 {
				if err := tbl.Update(1+rng.Int63n(before), map[string]any{"msg_type": uint8(9)}); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	rng := rand.New(rand.NewSource(2))
	for running := true; running; {
		select {
		case err, ok := <-done:
			require.NoError(t, err)
			running = ok
		default:
		}
		lo := 1 + rng.Int63n(before-100)
		hi := lo + rng.Int63n(100)
		q := tbl.Query().Between("_time", base+lo*1000, base+hi*1000)
		desc := rng.Intn(2) == 0
		if desc {
			q.OrderByDesc("_seq")
		}
		got := querySeqs(t, q)
		want := querySeqRange(lo, hi, 1)
		if desc {
			slices.Reverse(want)
		}
		require.Equal(t, want, got, "[%d, %d] desc %v", lo, hi, desc)
	}
	require.NoError(t, db.Check())
}

// trSourceSeqs runs q's plan over the pinned read state rs (as Rows does)
// and returns the seqs it yields.
func trSourceSeqs(t *testing.T, q *Query, rs *readState) []int64 {
	t.Helper()
	p, err := q.plan(planRows)
	if err != nil {
		t.Error(err)
		return nil
	}
	src, _, err := p.source(rs, &queryStats{}, true)
	if err != nil {
		t.Error(err)
		return nil
	}
	seqs := []int64{}
	for src.next() {
		seqs = append(seqs, src.seq())
	}
	if err := src.close(); err != nil {
		t.Error(err)
	}
	return seqs
}

// TestMemtableTimeWindowsSnapshots: the memtable's cached _time blocks stay
// exact for a reader whose snapshot predates later writes, whether the
// blocks were built before those writes or after them: rows deleted or
// updated in place after the reader pinned its state are still found at
// their time, and rows inserted later extend the blocks.
func TestMemtableTimeWindowsSnapshots(t *testing.T) {
	db := openTestDB(t, "db", &Options{FS: newMemFS(), Durability: DurabilityNone, DisableAutoCompaction: true})
	defer db.Close()
	tbl := createIMTable(t, db)
	base := int64(1_700_000_000_000_000_000)
	insert := func(lo, hi int64) {
		for seq := lo; seq <= hi; seq++ {
			r := imTableRow(seq)
			r["_time"] = time.Unix(0, base+seq*1000)
			got, err := tbl.Insert(r)
			require.NoError(t, err)
			require.Equal(t, seq, got)
		}
	}
	between := func(lo, hi int64) *Query { return tbl.Query().Between("_time", base+lo*1000, base+hi*1000) }
	insert(1, 1000)
	// Deleted ranges: a few rows, then a whole block of the memtable (seqs
	// 385-512 are the 4th block of 128), whose only times are then those of
	// the versions the tombstones superseded.
	for _, c := range []struct {
		buildFirst     bool
		delLo, delHi   int64
		updLo, updHi   int64
		probeLo, probe int64
	}{{true, 100, 110, 200, 210, 100, 120}, {false, 385, 512, 600, 610, 380, 520}} {
		require.Equal(t, querySeqRange(c.probeLo, c.probe, 1), querySeqs(t, between(c.probeLo, c.probe))) // builds the blocks
		rs, err := tbl.pin()
		require.NoError(t, err)
		for seq := c.delLo; seq <= c.delHi; seq++ {
			require.NoError(t, tbl.Delete(seq))
		}
		for seq := c.updLo; seq <= c.updHi; seq++ {
			require.NoError(t, tbl.Update(seq, map[string]any{"msg_type": uint8(7)}))
		}
		var live []int64
		for seq := c.probeLo; seq <= c.probe; seq++ {
			if seq < c.delLo || seq > c.delHi {
				live = append(live, seq)
			}
		}
		if !c.buildFirst {
			// Drop the cached blocks so that the next query rebuilds them
			// over the tombstones (as a memtable does when its order slice
			// changes: after an Update of a seq it did not hold).
			m := rs.mems[0]
			m.timeBlocks.mu.Lock()
			m.timeBlocks.base = nil
			m.timeBlocks.mu.Unlock()
			require.Equal(t, live, querySeqs(t, between(c.probeLo, c.probe)))
		}
		// The old snapshot still sees the deleted and the updated rows.
		old := trSourceSeqs(t, between(c.probeLo, c.probe), rs)
		oldUpd := trSourceSeqs(t, between(c.updLo-5, c.updHi+5), rs)
		rs.release() // before any assertion: a failed one must not leave the state pinned
		require.Equal(t, querySeqRange(c.probeLo, c.probe, 1), old)
		require.Equal(t, querySeqRange(c.updLo-5, c.updHi+5, 1), oldUpd)
		require.Equal(t, live, querySeqs(t, between(c.probeLo, c.probe)))
		require.Equal(t, querySeqRange(c.updLo, c.updHi, 1), querySeqs(t, between(c.updLo, c.updHi).Eq("msg_type", 7)))
	}
	insert(1001, 1100)
	require.Equal(t, querySeqRange(990, 1050, 1), querySeqs(t, between(990, 1050)))
	require.NoError(t, tbl.Flush())
	require.Equal(t, querySeqRange(990, 1050, 1), querySeqs(t, between(990, 1050)))
}
