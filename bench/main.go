// Command bench runs the IM workload on SRDB, Pebble and bbolt in one
// run and prints a Markdown table of medians with SRDB/peer ratios and the
// performance floors (docs/BENCHMARKS.md). -payload text swaps the random
// payloads for chat-like text, and the engines srdb-fast, srdb-dense and
// pebble-zstd measure compression.
//
// It is its own Go module so SRDB's importers never pull Pebble or bbolt.
// Run it from this directory:
//
//	cd bench && go run . -engines srdb,pebble,bbolt -n 1000000 -runs 3
//
// Each measurement runs in a child process (this binary, re-executed), on a
// fresh directory per engine:
//
//  1. ingest n rows, 1 goroutine, one row per Insert, fast durability
//     (SRDB DurabilityInterval, Pebble NoSync, bbolt NoSync), then flush and
//     full compaction; peak RSS (VmHWM) and disk bytes are taken here;
//  2. reopen that directory: Get by random seq, last 20 of a random channel,
//     page back (20 before a random seq), filtered full scan on msg_type;
//  3. ingest n rows with 8 goroutines, one row per call, fast durability;
//  4. ingest n rows with 1 goroutine in batches (-batch rows per call);
//  5. ingest -sync-n rows with 8 goroutines, one row per call, fsync before
//     every acknowledgement (SRDB DurabilitySync, Pebble Sync, bbolt with
//     fsync through db.Batch);
//  6. ingest -kill-n rows into the WAL (memtables of 1 GiB), SIGKILL the
//     child, then time Open in a new child and count lost rows.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if spec, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childMain(spec))
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	engines []engineSpec
	rows    int64
	runs    int
	seed    uint64
	syncN   int64
	killN   int64
	batch   int
	gets    int
	queries int
	dir     string
	out     string
	profile string // directory for CPU profiles of the children
	text    bool   // -payload text
	// loadAvg holds /proc/loadavg's 1-minute figure before each engine's
	// phases and at the end: other work on the machine skews the figures.
	loadAvg []float64
	args    []string // as given, for the report
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	engines := fl.String("engines", "srdb,pebble,bbolt", "comma-separated engines: srdb, srdb-fast, srdb-dense, pebble (Snappy), pebble-zstd, bbolt")
	payload := fl.String("payload", "random", "payload of the rows: random (200 B of random bytes) or text (chat-like words, 20–380 B)")
	c := &config{args: args}
	fl.Int64Var(&c.rows, "n", 1000000, "rows per ingest")
	fl.IntVar(&c.runs, "runs", 3, "repeated runs; the report shows medians")
	fl.Uint64Var(&c.seed, "seed", 1, "seed of the row generator and of the random reads")
	fl.Int64Var(&c.syncN, "sync-n", 50000, "rows of the fsync-per-ack ingest (capped at -n)")
	fl.Int64Var(&c.killN, "kill-n", 500000, "rows in the WAL when the child is killed (capped at -n)")
	fl.IntVar(&c.batch, "batch", 100, "rows per call in the batched ingest")
	fl.IntVar(&c.gets, "gets", 100000, "random Gets after reopen")
	fl.IntVar(&c.queries, "queries", 10000, "last-20 queries (and as many page-back queries)")
	fl.StringVar(&c.dir, "dir", "", "directory for the stores (default: a new temporary directory, removed after)")
	fl.StringVar(&c.out, "out", "", "also write the Markdown report to this file")
	fl.StringVar(&c.profile, "cpuprofile", "", "write a CPU profile of every measurement to this directory (run<N>-<engine>-<phase>.pprof)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	switch *payload {
	case "random":
	case "text":
		c.text = true
	default:
		return nil, fmt.Errorf("-payload %q: want random or text", *payload)
	}
	payloadText = c.text
	var err error
	if c.engines, err = parseEngines(*engines); err != nil {
		return nil, err
	}
	if c.rows < 1 || c.runs < 1 || c.syncN < 1 || c.killN < 1 || c.batch < 1 || c.gets < 1 || c.queries < 1 {
		return nil, errors.New("-n, -runs, -sync-n, -kill-n, -batch, -gets and -queries must be positive")
	}
	c.syncN = min(c.syncN, c.rows)
	c.killN = min(c.killN, c.rows)
	return c, nil
}

// run is the parent: it measures every engine -runs times and writes the
// report to stdout.
func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	results, err := collect(c, stderr)
	if err != nil {
		return err
	}
	report := renderReport(c, results)
	if _, err := io.WriteString(stdout, report); err != nil {
		return err
	}
	if c.out != "" {
		return os.WriteFile(c.out, []byte(report), 0o644)
	}
	return nil
}

// collect runs every phase of every engine -runs times in child processes,
// printing progress to progressOut, and returns the results by engine name.
func collect(c *config, progressOut io.Writer) (results map[string][]engineRun, err error) {
	root := c.dir
	if root == "" {
		if root, err = os.MkdirTemp("", "srdb-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(root)
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	results = map[string][]engineRun{}
	defer func() { c.loadAvg = append(c.loadAvg, loadAvg1()) }()
	for r := 1; r <= c.runs; r++ {
		for _, spec := range c.engines {
			c.loadAvg = append(c.loadAvg, loadAvg1())
			name := fmt.Sprintf("run%d-%s", r, spec.name)
			er, err := runEngine(c, spec, filepath.Join(root, name), name, func(phase, msg string) {
				fmt.Fprintf(progressOut, "run %d/%d %-6s %-9s %s\n", r, c.runs, spec.name, phase, msg)
			})
			if err != nil {
				return nil, fmt.Errorf("run %d, %s: %w", r, spec.name, err)
			}
			results[spec.name] = append(results[spec.name], *er)
		}
	}
	return results, nil
}

// loadAvg1 returns the 1-minute load average, NaN where unknown.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nan
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nan
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return nan
	}
	return v
}

// engineRun holds one run's results for one engine.
type engineRun struct {
	ingest1, ingest8, batch, sync8, read, kill *childResult
}

// runEngine runs every phase for one engine under dir, removing each store
// once measured.
func runEngine(c *config, spec engineSpec, dir, name string, progress func(phase, msg string)) (*engineRun, error) {
	var er engineRun
	base := childTask{Engine: spec.name, Seed: c.seed, Rows: c.rows, Writers: 1, Text: c.text}
	if c.profile != "" {
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			return nil, err
		}
	}
	profile := func(t *childTask, phase string) {
		if c.profile != "" {
			t.Profile = filepath.Join(c.profile, name+"-"+phase+".pprof")
		}
	}
	step := func(name string, task childTask, dst **childResult, show func(*childResult) string) error {
		task.Dir = filepath.Join(dir, name)
		profile(&task, name)
		var res *childResult
		var err error
		if task.Phase == phaseKillFill {
			res, err = runKill(task)
		} else {
			res, err = runChild(task)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*dst = res
		progress(name, show(res))
		return nil
	}
	rate := func(r *childResult) string { return fmt.Sprintf("%s rows/s", formatCount(int64(r.RowsPerSec))) }

	t := base
	t.Phase, t.Finish = phaseIngest, true
	if err := step("ingest-1", t, &er.ingest1, func(r *childResult) string {
		return fmt.Sprintf("%s, flush+compact %.2fs, peak RSS %.1f MB, %.1f B/row",
			rate(r), r.FinishSec, float64(r.PeakRSS)/1e6, float64(r.DiskBytes)/float64(c.rows))
	}); err != nil {
		return nil, err
	}
	t = base
	t.Phase, t.Gets, t.Queries = phaseRead, c.gets, c.queries
	t.Dir = filepath.Join(dir, "ingest-1")
	profile(&t, "read")
	res, err := runChild(t)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	er.read = res
	progress("read", fmt.Sprintf("open %.1fms, get p50/p99 %.1f/%.1fµs, last20 %.1f/%.1fµs, page %.1f/%.1fµs, scan %s rows/s",
		res.OpenSec*1e3, res.GetP50, res.GetP99, res.Last20P50, res.Last20P99, res.PageP50, res.PageP99, formatCount(int64(res.ScanPerSec))))
	os.RemoveAll(t.Dir)

	t = base
	t.Phase, t.Writers = phaseIngest, 8
	if err := step("ingest-8", t, &er.ingest8, rate); err != nil {
		return nil, err
	}
	t = base
	t.Phase, t.Batch = phaseIngest, c.batch
	if err := step("batch", t, &er.batch, rate); err != nil {
		return nil, err
	}
	t = base
	t.Phase, t.Writers, t.Sync, t.Rows = phaseIngest, 8, true, c.syncN
	if err := step("sync-8", t, &er.sync8, rate); err != nil {
		return nil, err
	}
	t = base
	t.Phase, t.Rows, t.BigMem = phaseKillFill, c.killN, true
	if err := step("kill", t, &er.kill, func(r *childResult) string {
		return fmt.Sprintf("open after SIGKILL %.1fms, %d lost", r.OpenSec*1e3, r.Lost)
	}); err != nil {
		return nil, err
	}
	return &er, os.RemoveAll(dir)
}

// childCommand prepares this binary as a child running task.
func childCommand(task childTask) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(task)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// runChild runs task in a child process and returns its result.
func runChild(task childTask) (*childResult, error) {
	cmd, err := childCommand(task)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("child %s: %w", task.Phase, err)
	}
	return parseResult(out)
}

// parseResult decodes the last line a child printed.
func parseResult(out []byte) (*childResult, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res childResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return nil, fmt.Errorf("child printed %q: %w", out, err)
	}
	return &res, nil
}

// runKill fills a store in a child, kills it with SIGKILL as soon as it
// reports every row acknowledged, then measures the reopen in a new child.
func runKill(task childTask) (*childResult, error) {
	cmd, err := childCommand(task)
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe() // closed on our exit: an orphan child ends
	if err != nil {
		return nil, err
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == readyLine {
			ready = true
			break
		}
	}
	killErr := cmd.Process.Signal(syscall.SIGKILL)
	waitErr := cmd.Wait()
	if !ready {
		return nil, fmt.Errorf("killfill child ended before %s: %v", readyLine, waitErr)
	}
	if killErr != nil {
		return nil, fmt.Errorf("SIGKILL: %w", killErr)
	}
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) {
		return nil, fmt.Errorf("killfill child: unexpected end %v", waitErr)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return nil, fmt.Errorf("killfill child was not killed by SIGKILL: %v", waitErr)
	}
	task.Phase = phaseKillOpen
	return runChild(task)
}
