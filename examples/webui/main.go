// Command webui is a browser UI for an SRDB database: browse tables, their
// schemas and rows, and watch the LSM tree, flushes and compactions live.
//
//	go run ./examples/webui serve --db ./data [--addr 127.0.0.1:8080] [--demo]
//
// It opens the database read-write in this process (an SRDB directory is
// opened by one process at a time) and serves a single page plus the JSON
// API described in README.md. With --demo it first fills the directory with
// a demo chat database (several tables, 200k+ rows, several levels of SSTs,
// built with small memtable and level sizes so the tree is deep) and keeps
// inserting, updating, expiring and reading rows in the background while it
// serves, so the tree changes shape on screen.
//
// It binds loopback by default. Bound to any other address it requires a
// token (--token, or a generated one printed at start); open the printed URL
// once and the browser keeps the token in a cookie.
//
// With --metrics it also serves /metrics: db.Metrics() in the Prometheus
// text format, behind the same host and token checks (a scraper sends the
// token as "Authorization: Bearer TOKEN").
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/srdb-go/srdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webui:", err)
		os.Exit(1)
	}
}

const usage = `usage: webui serve --db DIR [flags]

Serves a web UI for the SRDB database in DIR (created when missing; with
--read-only, DIR must be a database, which another process may be writing).

flags:
`

// cliConfig is the parsed command line of "serve".
type cliConfig struct {
	dir        string
	addr       string
	demo       bool
	demoRows   int
	demoRate   int
	token      string
	allowHosts string
	pageMax    int
	timeout    time.Duration
	verbose    bool
	metrics    bool
	readOnly   bool
	refresh    time.Duration
}

// parseArgs parses "serve" and its flags.
func parseArgs(args []string, stderr io.Writer) (*cliConfig, error) {
	fs := flag.NewFlagSet("webui serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	c := &cliConfig{}
	fs.StringVar(&c.dir, "db", "", "database directory (required)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address; a non-loopback address requires a token")
	fs.BoolVar(&c.demo, "demo", false, "fill the database with demo tables first and keep writing to them while serving")
	fs.IntVar(&c.demoRows, "demo-rows", 200_000, "rows of the demo messages table (other demo tables scale with it)")
	fs.IntVar(&c.demoRate, "demo-rate", 500, "rows per second the demo writer inserts while serving (0: none)")
	fs.StringVar(&c.token, "token", "", "access token (generated and printed when bound to a non-loopback address)")
	fs.StringVar(&c.allowHosts, "allow-host", "", "extra comma-separated host names accepted in the Host header")
	fs.IntVar(&c.pageMax, "page-max", defaultPageMax, "largest page size the row browser may request")
	fs.DurationVar(&c.timeout, "query-timeout", defaultQueryTimeout, "time limit of one query")
	fs.BoolVar(&c.verbose, "v", false, "log engine events (flushes, compactions) to stderr")
	fs.BoolVar(&c.metrics, "metrics", false, "also serve /metrics (db.Metrics in the Prometheus text format; same host and token checks)")
	fs.BoolVar(&c.readOnly, "read-only", false, "open the database with Options.ReadOnly: beside a live writer, changing nothing in the directory")
	fs.DurationVar(&c.refresh, "refresh", 2*time.Second, "with --read-only: how often to catch up with the writer (Database.Refresh)")
	if len(args) == 0 || args[0] != "serve" {
		fs.Usage()
		return nil, errors.New(`the only command is "serve"`)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.dir == "" {
		fs.Usage()
		return nil, errors.New("--db DIR is required")
	}
	if c.demoRows < 0 || c.demoRate < 0 || c.pageMax < 1 || c.timeout <= 0 || c.refresh <= 0 {
		return nil, errors.New("--demo-rows and --demo-rate must be >= 0, --page-max, --query-timeout and --refresh > 0")
	}
	if c.readOnly && c.demo {
		return nil, errors.New("--read-only and --demo exclude each other (the demo writes)")
	}
	return c, nil
}

// run is main without the process exit: it serves until ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	opts := srdb.DefaultOptions()
	if c.demo {
		if err := checkDemoDir(c.dir); err != nil {
			return err
		}
		opts = demoOptions()
	}
	if c.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	opts.ReadOnly = c.readOnly
	db, err := srdb.Open(c.dir, opts)
	if err != nil {
		return err
	}
	defer db.Close()

	if c.demo {
		fmt.Fprintf(stdout, "filling %s with the demo database (%d messages)...\n", c.dir, c.demoRows)
		start := time.Now()
		if err := fillDemo(ctx, db, c.demoRows); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(stdout, "demo database ready in %v\n", time.Since(start).Round(time.Millisecond))
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	bound := ln.Addr().(*net.TCPAddr)
	token, err := tokenFor(c.token, bound.IP)
	if err != nil {
		ln.Close()
		return err
	}
	hosts := allowedHosts(c.addr, bound, c.allowHosts)
	s := newServer(db, serverConfig{
		token:        token,
		hosts:        hosts,
		memTableSize: opts.MemTableSize,
		pageMax:      c.pageMax,
		queryTimeout: c.timeout,
		dir:          c.dir,
		metrics:      c.metrics,
	})

	var wg sync.WaitGroup
	bgCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() { defer wg.Done(); s.act.run(bgCtx, sampleInterval) }()
	if c.readOnly {
		wg.Add(1)
		go func() { defer wg.Done(); refreshLoop(bgCtx, db, c.refresh, stderr) }()
	}
	if c.demo && c.demoRate > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runDemoWriter(bgCtx, db, c.demoRate, c.demoRows); err != nil && bgCtx.Err() == nil {
				fmt.Fprintln(stderr, "webui: demo writer stopped:", err)
			}
		}()
	}

	hs := newHTTPServer(s.handler(), bgCtx)
	url := "http://" + bound.String() + "/"
	if token != "" {
		url += "?token=" + token
	}
	fmt.Fprintf(stdout, "SRDB web UI for %s listening on %s\n", c.dir, url)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancel() // ends event streams so Shutdown does not wait for them
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := hs.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tokenFor returns the access token: the --token flag when given, else a
// random one when ip is not loopback, else "" (no token).
func tokenFor(flagToken string, ip net.IP) (string, error) {
	if flagToken != "" || ip.IsLoopback() {
		return flagToken, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// allowedHosts returns the host names accepted in the Host header: the
// loopback names, the host of the --addr flag and of the bound address, the
// machine's interface addresses and host name when bound to every interface,
// and the --allow-host list.
func allowedHosts(addr string, bound *net.TCPAddr, extra string) map[string]bool {
	hosts := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	if h, _, err := net.SplitHostPort(addr); err == nil && h != "" {
		hosts[strings.ToLower(h)] = true
	}
	hosts[bound.IP.String()] = true
	if bound.IP.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					hosts[n.IP.String()] = true
				}
			}
		}
		if name, err := os.Hostname(); err == nil {
			hosts[strings.ToLower(name)] = true
		}
	}
	for _, h := range strings.Split(extra, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts[strings.ToLower(h)] = true
		}
	}
	return hosts
}

// refreshLoop catches a --read-only database up with its writer every
// interval until ctx is done; a failed Refresh is reported and retried at
// the next tick (the tables keep their last snapshot).
func refreshLoop(ctx context.Context, db *srdb.Database, interval time.Duration, stderr io.Writer) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := db.Refresh(); err != nil && ctx.Err() == nil {
				fmt.Fprintln(stderr, "webui: refresh:", err)
			}
		}
	}
}
