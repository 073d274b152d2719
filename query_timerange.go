package srdb

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// _time ranges (docs/QUERY.md, "Time ranges"). A plan with _time bounds
// (timeBound: Eq/In/Between/Lt/Gt/… on _time among the top-level AND terms)
// first turns the bounds into seq windows — ranges of seqs outside which no
// row of the pinned read state can have a _time in the bounds — and then:
//
//   - a scan visits only the seqs of the windows (windowIter over the same
//     merged iterator as any scan: newest version wins, tombstones hide);
//   - an index plan drops the index candidates outside the windows before
//     looking their rows up (windowIndexSource).
//
// The windows come from each source whose seq range meets the plan's _seq
// bounds and whose [minTime, maxTime] meets the _time bounds:
//
//   - an SST of format version 3: its _time index (sstable_timeindex.go),
//     O(log blocks) to find the blocks, one window per run of adjacent
//     candidate blocks;
//   - an SST of format version 2 (no _time index): its whole seq range;
//   - a memtable: the same blocks over its entries in seq order, built as
//     the memtable grows and kept (memtable_timeindex.go); a memtable also
//     holds the Updates of old rows, so its seq range may span the table,
//     and the block rules keep its windows as tight as its entries.
//
// Sources whose time range misses the bounds give no window: their
// tombstones still hide older versions, because the iterator the windows
// restrict is built as before (newSourcesIter keeps sources with
// tombstones), and a row's _time never changes (Update keeps it), so every
// version of a seq has the time of its first insert. Every row read is
// still checked against the whole filter, _time condition included: the
// windows only decide which seqs are read, and a window too wide costs
// reads, never a wrong answer.

// timeIndexDisabled turns the _time windows off (the plan of the version-2
// engine: a scan of every row of the overlapping sources). Tests set it to
// compare both plans and the benchmarks to measure before and after; it is
// never set otherwise.
var timeIndexDisabled bool

// timeWindows returns the seq windows of the plan's _time bounds in the
// pinned read state rs, sorted, disjoint and inside [p.seqLo, p.seqHi].
// ok is false when the plan has no _time bounds (or the windows are
// disabled): read every seq.
func (p *plan) timeWindows(rs *readState, st *queryStats) (wins []seqWindow, ok bool, err error) {
	if !p.timeBound || timeIndexDisabled {
		return nil, false, nil
	}
	lo, hi := p.timeLo, p.timeHi
	seqOK := func(a, b int64) bool { return b >= p.seqLo && a <= p.seqHi }
	timeOK := func(has bool, a, b int64) bool { return has && b >= lo && a <= hi }
	for _, m := range rs.mems {
		ms := m.stats()
		if ms.entries == 0 || !seqOK(ms.minSeq, ms.maxSeq) || !timeOK(ms.hasTime, ms.minTime, ms.maxTime) {
			continue
		}
		wins = m.timeWindows(lo, hi, wins)
	}
	for level := range rs.v.levels {
		for _, f := range rs.v.levels[level] {
			if !seqOK(f.minSeq, f.maxSeq) || !timeOK(f.hasTime, f.minTime, f.maxTime) {
				continue
			}
			r, err := rs.t.cache.get(f.num)
			if err != nil {
				return nil, false, withTable(err, p.t.name)
			}
			ti, err := r.timeIndex()
			if err != nil {
				return nil, false, withTable(err, p.t.name)
			}
			if ti == nil { // format version 2: every seq of the file
				wins = append(wins, seqWindow{f.minSeq, f.maxSeq})
				continue
			}
			var skipped int
			wins, skipped = ti.windows(lo, hi, wins)
			if st != nil {
				st.timeBlocksSkipped += int64(skipped)
			}
		}
	}
	return mergeSeqWindows(wins, p.seqLo, p.seqHi), true, nil
}

// mergeSeqWindows sorts wins, merges the ones that overlap or touch, and
// clips them to [lo, hi]. It reuses wins' storage.
func mergeSeqWindows(wins []seqWindow, lo, hi int64) []seqWindow {
	slices.SortFunc(wins, func(a, b seqWindow) int { return cmp.Compare(a.lo, b.lo) })
	out := wins[:0]
	for _, w := range wins {
		w.lo, w.hi = max(w.lo, lo), min(w.hi, hi)
		if w.lo > w.hi {
			continue
		}
		if n := len(out); n > 0 && (w.lo <= out[n-1].hi || w.lo-1 == out[n-1].hi) {
			out[n-1].hi = max(out[n-1].hi, w.hi)
			continue
		}
		out = append(out, w)
	}
	return out
}

// windowIter restricts an iterator to the seqs of sorted, disjoint windows:
// it yields the entries of it whose seq lies in one of them, in both
// directions, seeking past the gaps. Invariant while positioned: the current
// entry lies in wins[w].
type windowIter struct {
	it   internalIterator
	wins []seqWindow
	w    int
	pos  bool
}

func newWindowIter(it internalIterator, wins []seqWindow) *windowIter {
	return &windowIter{it: it, wins: wins}
}

// settleForward moves forward from the entry ok reports to the first one
// inside a window at or after wins[w].
func (x *windowIter) settleForward(ok bool) bool {
	for ok {
		s := x.it.seq()
		if x.w < len(x.wins) && s >= x.wins[x.w].lo && s <= x.wins[x.w].hi {
			x.pos = true // still in the current window: the usual step
			return true
		}
		x.w += sort.Search(len(x.wins)-x.w, func(i int) bool { return x.wins[x.w+i].hi >= s })
		if x.w == len(x.wins) {
			break
		}
		if s >= x.wins[x.w].lo {
			x.pos = true
			return true
		}
		ok = x.it.seekGE(x.wins[x.w].lo)
	}
	x.pos = false
	return false
}

// settleBackward moves backward from the entry ok reports to the last one
// inside a window at or before wins[w].
func (x *windowIter) settleBackward(ok bool) bool {
	for ok {
		s := x.it.seq()
		if x.w < len(x.wins) && s >= x.wins[x.w].lo && s <= x.wins[x.w].hi {
			x.pos = true
			return true
		}
		x.w = sort.Search(min(x.w+1, len(x.wins)), func(i int) bool { return x.wins[i].lo > s }) - 1
		if x.w < 0 {
			x.w = 0
			break
		}
		if s <= x.wins[x.w].hi {
			x.pos = true
			return true
		}
		ok = x.it.seekLE(x.wins[x.w].hi)
	}
	x.pos = false
	return false
}

func (x *windowIter) seekGE(seq int64) bool {
	x.w = sort.Search(len(x.wins), func(i int) bool { return x.wins[i].hi >= seq })
	if x.w == len(x.wins) {
		x.pos = false
		return false
	}
	return x.settleForward(x.it.seekGE(max(seq, x.wins[x.w].lo)))
}

func (x *windowIter) seekLE(seq int64) bool {
	x.w = sort.Search(len(x.wins), func(i int) bool { return x.wins[i].lo > seq }) - 1
	if x.w < 0 {
		x.w, x.pos = 0, false
		return false
	}
	return x.settleBackward(x.it.seekLE(min(seq, x.wins[x.w].hi)))
}

func (x *windowIter) first() bool { return x.seekGE(minSeq) }
func (x *windowIter) last() bool  { return x.seekLE(maxSeq) }

func (x *windowIter) next() bool {
	if !x.pos {
		return false
	}
	return x.settleForward(x.it.next())
}

func (x *windowIter) prev() bool {
	if !x.pos {
		return false
	}
	return x.settleBackward(x.it.prev())
}

func (x *windowIter) valid() bool     { return x.pos && x.it.valid() }
func (x *windowIter) seq() int64      { return x.it.seq() }
func (x *windowIter) kind() entryKind { return x.it.kind() }
func (x *windowIter) value() []byte   { return x.it.value() }
func (x *windowIter) err() error      { return x.it.err() }
func (x *windowIter) close() error    { x.pos = false; return x.it.close() }

// windowIndexSource is an indexSource whose cursors skip the entries whose
// seq lies outside the windows, so that an index plan with _time bounds
// looks up only the candidates the _time windows allow. p and st are the
// running plan and its counters: a skipped entry counts as visited and the
// cursor polls p's interruption like the executor does.
type windowIndexSource struct {
	indexSource
	wins []seqWindow
	p    *plan
	st   *queryStats
}

func (x windowIndexSource) open(rs *readState, field string, r indexRange, reverse bool) (indexCursor, error) {
	c, err := x.indexSource.open(rs, field, r, reverse)
	if err != nil {
		return nil, err
	}
	return &windowCursor{indexCursor: c, wins: x.wins, p: x.p, st: x.st}, nil
}

// windowCursor is an indexCursor that skips entries outside wins.
type windowCursor struct {
	indexCursor
	wins   []seqWindow
	p      *plan
	st     *queryStats
	intr   interrupter
	failed error // an interruption while skipping; sticky
}

func (c *windowCursor) next() bool {
	if c.failed != nil {
		return false
	}
	for c.indexCursor.next() {
		s := c.indexCursor.seq()
		i := sort.Search(len(c.wins), func(i int) bool { return c.wins[i].hi >= s })
		if i < len(c.wins) && c.wins[i].lo <= s {
			return true
		}
		c.st.entriesVisited++
		if c.failed = c.intr.step(c.p); c.failed != nil {
			return false
		}
	}
	return false
}

func (c *windowCursor) err() error {
	if c.failed != nil {
		return c.failed
	}
	return c.indexCursor.err()
}

// withTimeWindows returns p, or, when p has _time bounds, a copy whose
// index source skips the candidates outside the windows of rs (the copy
// runs; p is what the caller reports as the plan).
func (p *plan) withTimeWindows(rs *readState, st *queryStats) (*plan, error) {
	if p.access != accIndex {
		return p, nil
	}
	wins, ok, err := p.timeWindows(rs, st)
	if err != nil || !ok {
		return p, err
	}
	ip := *p.ix
	cp := *p
	cp.ix = &ip
	ip.src = windowIndexSource{indexSource: p.ix.src, wins: wins, p: &cp, st: st}
	return &cp, nil
}

// explainTimeSkips records, for Explain, how many SSTs and memtables of the
// table's current read state the plan's _time bounds leave out by their
// [minTime, maxTime] (no I/O: the ranges are in the version and the
// memtables). Without _time bounds, or when the table cannot be pinned, it
// records nothing.
func (p *plan) explainTimeSkips() {
	if !p.timeBound || p.access == accEmpty {
		return
	}
	rs, err := p.t.pin()
	if err != nil {
		return
	}
	defer rs.release()
	miss := func(has bool, a, b int64) bool { return !has || b < p.timeLo || a > p.timeHi }
	var files, filesOut, mems, memsOut int
	for _, m := range rs.mems {
		if ms := m.stats(); ms.entries > 0 && ms.maxSeq >= p.seqLo && ms.minSeq <= p.seqHi {
			mems++
			if miss(ms.hasTime, ms.minTime, ms.maxTime) {
				memsOut++
			}
		}
	}
	for level := range rs.v.levels {
		for _, f := range rs.v.levels[level] {
			if f.maxSeq >= p.seqLo && f.minSeq <= p.seqHi {
				files++
				if miss(f.hasTime, f.minTime, f.maxTime) {
					filesOut++
				}
			}
		}
	}
	p.timeSkips = fmt.Sprintf("now %d of %d file%s and %d of %d memtable%s skipped by their _time range", filesOut, files, plural(files), memsOut, mems, plural(mems))
}

// timeSkipText is what Explain says the _time bounds skip.
func (p *plan) timeSkipText() string {
	if p.timeSkips == "" {
		return "files and 128-row blocks outside it skipped"
	}
	return p.timeSkips + ", 128-row blocks inside the others"
}
