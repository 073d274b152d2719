package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
)

// metric is one row of the report.
type metric struct {
	label  string
	higher bool                     // higher is better
	get    func(*engineRun) float64 // NaN when not measured
	format func(float64) string
}

var nan = math.NaN()

// orNaN maps a zero (not measured) to NaN.
func orNaN(v float64) float64 {
	if v == 0 {
		return nan
	}
	return v
}

func fmtRate(v float64) string { return formatCount(int64(math.Round(v))) + " rows/s" }
func fmtMicros(v float64) string {
	return fmt.Sprintf("%.1f µs", v)
}
func fmtMillis(v float64) string { return fmt.Sprintf("%.1f ms", v*1e3) }
func fmtSec(v float64) string    { return fmt.Sprintf("%.2f s", v) }
func fmtMB(v float64) string     { return fmt.Sprintf("%.1f MB", v/1e6) }

// metrics lists the report rows in order. rows is -n.
func metrics(c *config) []metric {
	rate := func(pick func(*engineRun) *childResult) func(*engineRun) float64 {
		return func(e *engineRun) float64 { return orNaN(pick(e).RowsPerSec) }
	}
	read := func(f func(*childResult) float64) func(*engineRun) float64 {
		return func(e *engineRun) float64 { return orNaN(f(e.read)) }
	}
	return []metric{
		{"ingest, 1 goroutine, 1 row/call, fast durability", true, rate(func(e *engineRun) *childResult { return e.ingest1 }), fmtRate},
		{"ingest, 8 goroutines, 1 row/call, fast durability", true, rate(func(e *engineRun) *childResult { return e.ingest8 }), fmtRate},
		{fmt.Sprintf("ingest, 1 goroutine, %d rows/call, fast durability", c.batch), true, rate(func(e *engineRun) *childResult { return e.batch }), fmtRate},
		{fmt.Sprintf("ingest, 8 goroutines, 1 row/call, fsync per ack (%s rows)", formatCount(c.syncN)), true, rate(func(e *engineRun) *childResult { return e.sync8 }), fmtRate},
		{"peak RSS, 1-goroutine ingest + flush/compaction", false, func(e *engineRun) float64 { return orNaN(float64(e.ingest1.PeakRSS)) }, fmtMB},
		{"disk per row after flush/compaction", false, func(e *engineRun) float64 {
			return orNaN(float64(e.ingest1.DiskBytes) / float64(c.rows))
		}, func(v float64) string { return fmt.Sprintf("%.1f B (%.2f× logical)", v, v/logicalRowBytes) }},
		{"flush + compaction after ingest", false, func(e *engineRun) float64 { return e.ingest1.FinishSec }, fmtSec},
		{"Open after clean close", false, read(func(r *childResult) float64 { return r.OpenSec }), fmtMillis},
		{"Get(seq) after reopen, p50", false, read(func(r *childResult) float64 { return r.GetP50 }), fmtMicros},
		{"Get(seq) after reopen, p99", false, read(func(r *childResult) float64 { return r.GetP99 }), fmtMicros},
		{"last 20 of a channel, p50", false, read(func(r *childResult) float64 { return r.Last20P50 }), fmtMicros},
		{"last 20 of a channel, p99", false, read(func(r *childResult) float64 { return r.Last20P99 }), fmtMicros},
		{"page back (20 before a seq), p50", false, read(func(r *childResult) float64 { return r.PageP50 }), fmtMicros},
		{"page back (20 before a seq), p99", false, read(func(r *childResult) float64 { return r.PageP99 }), fmtMicros},
		{"filtered full scan (msg_type = 3, 1 in 8)", true, read(func(r *childResult) float64 { return r.ScanPerSec }), fmtRate},
		{fmt.Sprintf("Open after SIGKILL, %s rows in the WAL", formatCount(c.killN)), false, func(e *engineRun) float64 { return orNaN(e.kill.OpenSec) }, fmtMillis},
		{"acknowledged rows lost by the SIGKILL", false, func(e *engineRun) float64 { return float64(e.kill.Lost) }, func(v float64) string { return formatCount(int64(v)) }},
	}
}

// median returns the median of the non-NaN values, NaN when there are none.
func median(vals []float64) float64 {
	var ok []float64
	for _, v := range vals {
		if !math.IsNaN(v) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return nan
	}
	s := sortedCopy(ok)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medians returns, per engine name, the median of each metric over the runs.
func medians(ms []metric, results map[string][]engineRun) map[string][]float64 {
	out := map[string][]float64{}
	for name, runs := range results {
		row := make([]float64, len(ms))
		for i, m := range ms {
			vals := make([]float64, len(runs))
			for j := range runs {
				vals[j] = m.get(&runs[j])
			}
			row[i] = median(vals)
		}
		out[name] = row
	}
	return out
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// renderReport renders the Markdown report: settings, the median table with
// ratios, the performance floors, and every run's values.
func renderReport(c *config, results map[string][]engineRun) string {
	ms := metrics(c)
	med := medians(ms, results)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("Command: `cd bench && go run . %s`\n\n", strings.Join(c.args, " "))
	p("Machine: %d CPUs (%s), %s %s/%s, GOMAXPROCS %d.\n\n", runtime.NumCPU(), cpuModel(),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	if len(c.loadAvg) > 0 {
		lo, hi := c.loadAvg[0], c.loadAvg[0]
		for _, v := range c.loadAvg {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		p("1-minute load average during the run: %.1f to %.1f (sampled before each engine's phases; "+
			"the bench itself accounts for up to about 2 on 2 cores; the rest is other work competing with it).\n\n", lo, hi)
	}
	payload := fmt.Sprintf("%d B random", payloadBytes)
	if c.text {
		payload = fmt.Sprintf("chat-like text of %d–%d B (mean %d; Zipf words)", textMinBytes, textMinBytes+textSpan-1, payloadBytes)
	}
	p("Workload: IM rows {channel_id String indexed (1,000 channels), from_uid String, msg_id Int64 indexed, "+
		"msg_type Uint8, payload Bytes %s}, %d logical bytes per row with the seq; n = %s rows per ingest; "+
		"medians of %d runs; seed %d.\n\n", payload, logicalRowBytes, formatCount(c.rows), c.runs, c.seed)
	p("Durability: fast = ")
	var fast, sync []string
	for _, s := range c.engines {
		fast = append(fast, s.title+" "+s.fastMode)
		sync = append(sync, s.title+" "+s.syncMode)
	}
	p("%s; fsync per ack = %s. ", strings.Join(fast, ", "), strings.Join(sync, ", "))
	p("Pebble and bbolt store each row under its big-endian seq plus a channel index key, in the same batch/transaction.\n\n")
	if !srdbQueryAvailable {
		p("SRDB last-20, page back and filtered scan: n/a.\n\n")
	}
	if !srdbHasCompact() {
		p("SRDB has no Table.Compact in this build: its disk use is measured after Flush only (L0 files, no compaction).\n\n")
	}

	srdbRow, haveSRDB := med["srdb"]
	var peers []engineSpec
	for _, s := range c.engines {
		if !strings.HasPrefix(s.name, "srdb") {
			peers = append(peers, s)
		}
	}
	p("| metric | better |")
	for _, s := range c.engines {
		p(" %s |", s.title)
	}
	if haveSRDB {
		for _, s := range peers {
			p(" SRDB/%s |", s.title)
		}
	}
	p("\n|---|---|")
	for range c.engines {
		p("---:|")
	}
	if haveSRDB {
		for range peers {
			p("---:|")
		}
	}
	p("\n")
	for i, m := range ms {
		better := "lower"
		if m.higher {
			better = "higher"
		}
		p("| %s | %s |", m.label, better)
		for _, s := range c.engines {
			p(" %s |", fmtOrNA(med[s.name][i], m.format))
		}
		if haveSRDB {
			for _, s := range peers {
				if i == mKillLost { // a ratio of counts of zero means nothing
					p(" – |")
					continue
				}
				p(" %s |", fmtRatio(srdbRow[i], med[s.name][i]))
			}
		}
		p("\n")
	}
	if haveSRDB {
		p("\n%s", renderFloors(c, ms, med))
	}

	p("\nAll runs:\n\n| metric | engine |")
	for r := 1; r <= c.runs; r++ {
		p(" run %d |", r)
	}
	p("\n|---|---|%s\n", strings.Repeat("---:|", c.runs))
	for _, m := range ms {
		for _, s := range c.engines {
			p("| %s | %s |", m.label, s.title)
			for _, er := range results[s.name] {
				p(" %s |", fmtOrNA(m.get(&er), m.format))
			}
			p("\n")
		}
	}
	return b.String()
}

func fmtOrNA(v float64, f func(float64) string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return f(v)
}

func fmtRatio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// Metric indexes used by the floors (positions in metrics()).
const (
	mIngest1 = iota
	mIngest8
	mBatch
	mSync8
	mRSS
	mDisk
	mFinish
	mOpen
	mGetP50
	mGetP99
	mLast20P50
	mLast20P99
	mPageP50
	mPageP99
	mScan
	mKillOpen
	mKillLost
)

// renderFloors checks SRDB's medians against each performance floor.
func renderFloors(c *config, ms []metric, med map[string][]float64) string {
	s := med["srdb"]
	pebble, havePebble := med["pebble"]
	var b strings.Builder
	b.WriteString("Performance floors (SRDB medians):\n\n| floor | measured | verdict |\n|---|---|---|\n")
	row := func(floor, measured string, ok, known bool) {
		v := "n/a"
		if known {
			v = "meets"
			if !ok {
				v = "**misses**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", floor, measured, v)
	}
	val := func(i int) (string, float64, bool) {
		return fmtOrNA(s[i], ms[i].format), s[i], !math.IsNaN(s[i])
	}
	m, v, ok := val(mIngest1)
	row("ingest, 1 goroutine, DurabilityInterval ≥ 300k rows/s", m, v >= 300000, ok)
	if havePebble {
		r := s[mIngest1] / pebble[mIngest1]
		row("… and ≥ 1.3× Pebble NoSync (1 goroutine)", fmtRatio(s[mIngest1], pebble[mIngest1]), r >= 1.3, !math.IsNaN(r))
	}
	m, v, ok = val(mIngest8)
	row("ingest, 8 goroutines ≥ 500k rows/s", m, v >= 500000, ok)
	if havePebble {
		r := s[mSync8] / pebble[mSync8]
		row("ingest, DurabilitySync, 8 goroutines ≥ 2× Pebble Sync", fmtRatio(s[mSync8], pebble[mSync8])+" ("+fmtOrNA(s[mSync8], fmtRate)+")", r >= 2, !math.IsNaN(r))
	}
	m, v, ok = val(mGetP99)
	row("Get(seq) after reopen p99 < 20 µs", m, v < 20, ok)
	m, v, ok = val(mLast20P99)
	row("last 20 of a channel p99 < 150 µs", m, v < 150, ok)
	m, v, ok = val(mPageP99)
	row("page back p99 < 150 µs", m, v < 150, ok)
	m, v, ok = val(mScan)
	row("filtered full scan ≥ 5M rows/s", m, v >= 5e6, ok)
	m, v, ok = val(mKillOpen)
	row(fmt.Sprintf("Open after kill -9 with %s rows in the WAL < 0.5 s", formatCount(c.killN)), m, v < 0.5, ok)
	m, v, ok = val(mKillLost)
	row("… 0 acknowledged rows lost", m, v == 0, ok)
	m, v, ok = val(mRSS)
	row("peak RSS during the ingest < 150 MB (default options)", m, v < 150e6, ok)
	m, v, ok = val(mDisk)
	row(fmt.Sprintf("disk after compaction ≤ 1.3 × logical (%d B/row → ≤ %.0f B)", logicalRowBytes, 1.3*logicalRowBytes), m, v <= 1.3*logicalRowBytes, ok)
	return b.String()
}
