package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Every measurement runs in a child process (this binary re-executed with
// childEnv set to a JSON childTask), so each engine gets a fresh heap and its
// own peak RSS, and the kill test can SIGKILL it.
const childEnv = "SRDB_BENCH_CHILD"

// Child phases.
const (
	phaseIngest   = "ingest"   // fresh dir: insert Rows rows, optionally finish
	phaseRead     = "read"     // reopen an ingested dir: gets, last-20, page back, scan
	phaseKillFill = "killfill" // insert Rows rows, print readyLine, wait to be killed
	phaseKillOpen = "killopen" // time Open after the kill, count lost rows
)

// readyLine is what a killfill child prints once every row is acknowledged.
const readyLine = "READY"

// childTask is one measurement, sent from the parent to a child.
type childTask struct {
	Phase   string `json:"phase"`
	Engine  string `json:"engine"`
	Dir     string `json:"dir"`
	Seed    uint64 `json:"seed"`
	Rows    int64  `json:"rows"`    // rows to insert, or rows in the store
	Writers int    `json:"writers"` // inserting goroutines
	Batch   int    `json:"batch"`   // rows per insert call; 0 or 1 = one row per call
	Sync    bool   `json:"sync"`    // fsync before each acknowledgement
	Finish  bool   `json:"finish"`  // flush + compact after the ingest, then measure disk
	BigMem  bool   `json:"bigMem"`  // keep every row in the WAL (kill test)
	Gets    int    `json:"gets"`    // random Gets in the read phase
	Queries int    `json:"queries"` // last-20 and page-back queries in the read phase
	Profile string `json:"profile"` // write a CPU profile of the child here ("" = none)
	Text    bool   `json:"text"`    // chat-like text payloads (-payload text)
}

// childResult is what a child reports. Latencies are in microseconds; NaN
// fields are encoded as null and mean "not measured".
type childResult struct {
	RowsPerSec  float64 `json:"rowsPerSec,omitempty"`
	IngestSec   float64 `json:"ingestSec,omitempty"`
	FinishSec   float64 `json:"finishSec,omitempty"`
	PeakRSS     int64   `json:"peakRSS,omitempty"` // bytes (VmHWM)
	DiskBytes   int64   `json:"diskBytes,omitempty"`
	OpenSec     float64 `json:"openSec,omitempty"`
	GetP50      float64 `json:"getP50,omitempty"`
	GetP99      float64 `json:"getP99,omitempty"`
	Last20P50   float64 `json:"last20P50,omitempty"`
	Last20P99   float64 `json:"last20P99,omitempty"`
	PageP50     float64 `json:"pageP50,omitempty"`
	PageP99     float64 `json:"pageP99,omitempty"`
	ScanPerSec  float64 `json:"scanPerSec,omitempty"`
	Lost        int64   `json:"lost"`
	Unsupported bool    `json:"unsupported,omitempty"` // last-20 / scan not available
}

// childMain runs the task in env and prints its result as one JSON line.
func childMain(spec string) int {
	var task childTask
	if err := json.Unmarshal([]byte(spec), &task); err != nil {
		fmt.Fprintln(os.Stderr, "bench child: bad task:", err)
		return 2
	}
	payloadText = task.Text
	if task.Profile != "" {
		f, err := os.Create(task.Profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench child: cpu profile:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	res, err := runTask(task)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench child %s/%s: %v\n", task.Engine, task.Phase, err)
		return 1
	}
	out, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	fmt.Println(string(out))
	return 0
}

func runTask(task childTask) (*childResult, error) {
	spec, err := lookupEngine(task.Engine)
	if err != nil {
		return nil, err
	}
	opts := engineOptions{sync: task.Sync, writers: max(task.Writers, 1), bigMemtable: task.BigMem}
	switch task.Phase {
	case phaseIngest:
		return runIngest(spec, opts, task)
	case phaseRead:
		return runRead(spec, opts, task)
	case phaseKillFill:
		return runKillFill(spec, opts, task)
	case phaseKillOpen:
		return runKillOpen(spec, opts, task)
	}
	return nil, fmt.Errorf("unknown phase %q", task.Phase)
}

// ingest inserts rows 0..task.Rows-1 with task.Writers goroutines, each
// call inserting one row or task.Batch rows. It returns the elapsed time.
func ingest(e engine, task childTask) (time.Duration, error) {
	step := int64(max(task.Batch, 1))
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	var failed atomic.Bool
	start := time.Now()
	for w := 0; w < max(task.Writers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]msgRow, step)
			for !failed.Load() {
				lo := next.Add(step) - step
				if lo >= task.Rows {
					return
				}
				hi := min(lo+step, task.Rows)
				var err error
				if step == 1 {
					genRow(task.Seed, lo, &batch[0])
					_, err = e.insert(&batch[0])
				} else {
					for i := lo; i < hi; i++ {
						genRow(task.Seed, i, &batch[i-lo])
					}
					_, err = e.insertBatch(batch[:hi-lo])
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("insert of row %d: %w", lo, err) })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

func runIngest(spec engineSpec, opts engineOptions, task childTask) (*childResult, error) {
	e, err := spec.open(task.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	elapsed, err := ingest(e, task)
	if err != nil {
		e.close()
		return nil, err
	}
	res := &childResult{IngestSec: elapsed.Seconds(), RowsPerSec: float64(task.Rows) / elapsed.Seconds()}
	if task.Finish {
		t0 := time.Now()
		if err := e.finish(); err != nil {
			e.close()
			return nil, fmt.Errorf("flush/compact: %w", err)
		}
		res.FinishSec = time.Since(t0).Seconds()
	}
	res.PeakRSS = peakRSS()
	if err := e.close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	if task.Finish {
		if res.DiskBytes, err = dirBytes(task.Dir); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkRow compares a row read back with the generated row of index seq-1
// (the stores were filled by one writer, so seq s holds row s-1).
func checkRow(seed uint64, seq int64, got *msgRow) error {
	var want msgRow
	genRow(seed, seq-1, &want)
	if !equalRows(&want, got) {
		return fmt.Errorf("seq %d: read back a row that differs from the one inserted", seq)
	}
	return nil
}

// channelSeqs returns, per channel index, the seqs of its rows ascending
// (seq s holds row s-1: the store was filled by one writer).
func channelSeqs(seed uint64, rows int64) [][]int64 {
	out := make([][]int64, numChannels)
	for i := int64(0); i < rows; i++ {
		ch := rowHash(seed, i) % numChannels
		out[ch] = append(out[ch], i+1)
	}
	return out
}

// checkQuery verifies a last-N answer against the channel's seqs: exactly
// the newest rows below before (when > 0), newest first, with the values
// inserted.
func checkQuery(seed uint64, chIdx int, seqs []int64, before int64, rows []seqRow) error {
	channel := channelNames[chIdx]
	end := len(seqs)
	if before > 0 {
		end = sort.Search(len(seqs), func(i int) bool { return seqs[i] >= before })
	}
	n := min(end, queryLen)
	if len(rows) != n {
		return fmt.Errorf("last %d of %s before %d: got %d rows, want %d", queryLen, channel, before, len(rows), n)
	}
	want := seqs[end-n : end]
	for i := range rows {
		r := &rows[i]
		if w := want[n-1-i]; r.seq != w {
			return fmt.Errorf("last %d of %s before %d: row %d has seq %d, want %d", queryLen, channel, before, i, r.seq, w)
		}
		if r.row.ChannelID != channel {
			return fmt.Errorf("channel %s: seq %d belongs to %s", channel, r.seq, r.row.ChannelID)
		}
		if err := checkRow(seed, r.seq, &r.row); err != nil {
			return err
		}
	}
	return nil
}

// queryLen is the N of "last N messages of a channel".
const queryLen = 20

func runRead(spec engineSpec, opts engineOptions, task childTask) (*childResult, error) {
	t0 := time.Now()
	e, err := spec.open(task.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	res := &childResult{OpenSec: time.Since(t0).Seconds()}
	err = measureReads(e, task, res)
	return res, errors.Join(err, e.close())
}

// measureReads runs the read measurements on an open engine.
func measureReads(e engine, task childTask, res *childResult) error {
	rng := rand.New(rand.NewPCG(task.Seed, 0x5eed))

	// Get by seq, uniformly over the table.
	lat := make([]float64, task.Gets)
	var r msgRow
	for i := range lat {
		seq := 1 + rng.Int64N(task.Rows)
		t := time.Now()
		err := e.get(seq, &r)
		lat[i] = float64(time.Since(t).Nanoseconds()) / 1e3
		if err != nil {
			return fmt.Errorf("get %d: %w", seq, err)
		}
		if i < 1000 {
			if err := checkRow(task.Seed, seq, &r); err != nil {
				return err
			}
		}
	}
	s := sortedCopy(lat)
	res.GetP50, res.GetP99 = percentile(s, 50), percentile(s, 99)

	// Last 20 of a random channel, then page back from a random seq.
	out := make([]seqRow, queryLen)
	bySeq := channelSeqs(task.Seed, task.Rows)
	for pass := 0; pass < 2; pass++ {
		lat = lat[:0]
		for i := 0; i < task.Queries; i++ {
			chIdx := rng.IntN(numChannels)
			ch := channelNames[chIdx]
			var before int64
			if pass == 1 {
				before = 1 + rng.Int64N(task.Rows)
			}
			t := time.Now()
			n, err := e.lastN(ch, before, out)
			d := float64(time.Since(t).Nanoseconds()) / 1e3
			if errors.Is(err, errUnsupported) {
				res.Unsupported = true
				break
			}
			if err != nil {
				return fmt.Errorf("last %d of %s before %d: %w", queryLen, ch, before, err)
			}
			if err := checkQuery(task.Seed, chIdx, bySeq[chIdx], before, out[:n]); err != nil {
				return err
			}
			lat = append(lat, d)
		}
		if res.Unsupported {
			break
		}
		s = sortedCopy(lat)
		if pass == 0 {
			res.Last20P50, res.Last20P99 = percentile(s, 50), percentile(s, 99)
		} else {
			res.PageP50, res.PageP99 = percentile(s, 50), percentile(s, 99)
		}
	}

	// Filtered full scan on the non-indexed msg_type.
	t := time.Now()
	scanned, matched, err := e.scan(scanMsgType)
	elapsed := time.Since(t)
	switch {
	case errors.Is(err, errUnsupported):
		res.Unsupported = true
	case err != nil:
		return fmt.Errorf("scan: %w", err)
	default:
		if scanned != task.Rows {
			return fmt.Errorf("scan read %d rows, the store has %d", scanned, task.Rows)
		}
		if want := expectedMatches(task.Seed, task.Rows, scanMsgType); matched != want {
			return fmt.Errorf("scan matched %d rows, want %d", matched, want)
		}
		res.ScanPerSec = float64(scanned) / elapsed.Seconds()
	}
	return nil
}

// runKillFill inserts the rows, reports readyLine and waits for SIGKILL
// (or for stdin to close, so an abandoned child does not linger).
func runKillFill(spec engineSpec, opts engineOptions, task childTask) (*childResult, error) {
	e, err := spec.open(task.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if _, err := ingest(e, task); err != nil {
		return nil, err
	}
	fmt.Println(readyLine)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return nil, errors.New("killfill child was not killed")
}

// runKillOpen times Open after the kill and counts acknowledged rows that
// are missing or wrong.
func runKillOpen(spec engineSpec, opts engineOptions, task childTask) (*childResult, error) {
	t0 := time.Now()
	e, err := spec.open(task.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open after kill: %w", err)
	}
	res := &childResult{OpenSec: time.Since(t0).Seconds()}
	var r msgRow
	for seq := int64(1); seq <= task.Rows; seq++ {
		err := e.get(seq, &r)
		if errors.Is(err, errNotFound) {
			res.Lost++
			continue
		}
		if err != nil {
			e.close()
			return nil, fmt.Errorf("get %d after kill: %w", seq, err)
		}
		if seq%97 == 0 {
			if err := checkRow(task.Seed, seq, &r); err != nil {
				e.close()
				return nil, err
			}
		}
	}
	return res, e.close()
}

// peakRSS returns the process's peak resident set size in bytes: VmHWM from
// /proc/self/status, or getrusage's maxrss where /proc is missing.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				f := strings.Fields(rest) // "12345 kB"
				if len(f) == 2 && f[1] == "kB" {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						return kb << 10
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		return ru.Maxrss << 10 // kB on Linux
	}
	return 0
}
