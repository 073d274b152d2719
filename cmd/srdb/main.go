// Command srdb is the command-line tool of SRDB: it lists, describes,
// reads, checks, compacts and backs up the tables of a database directory.
//
// Usage:
//
//	srdb COMMAND [flags] DIR [ARGS]
//	srdb help [COMMAND]
//
// Commands: tables, schema, stats, lsm, get, scan, dump, tail, check,
// compact, backup.
// `srdb help` lists them and `srdb COMMAND --help` describes one. Flags may
// come before or after the positional arguments; `--` ends the flags.
//
// Exit status: 0 success (check: the database is healthy), 1 a runtime
// failure (the database cannot be opened, a table or row does not exist;
// check: problems were found), 2 a usage error (unknown command or flag,
// wrong arguments, a bad filter). Usage errors and failures go to stderr,
// data and help text to stdout.
//
// Work that runs over a second (dump, scan, check, compact) draws a
// progress bar on stderr when stderr is a terminal; dump and scan draw it
// only when stdout is not a terminal too, so that it never lands between
// the rows.
//
// The read commands (tables, schema, stats, lsm, get, scan, dump, tail)
// open the database with Options.ReadOnly: they take no LOCK, change
// nothing in the directory and run beside a live writer, showing the state
// as of their Open; `tail -f` then calls Database.Refresh every --interval
// to see the writer's new rows. check, compact and backup open it for
// writing: opening is recovery, takes the directory's LOCK and may flush a
// replayed WAL (docs/RELIABILITY.md), so they refuse a database another
// process has open.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/srdb-go/srdb"
)

// Exit statuses.
const (
	exitOK      = 0 // success; check: the database is healthy
	exitFailure = 1 // runtime failure; check: problems were found
	exitUsage   = 2 // bad command line
)

// command is one subcommand.
type command struct {
	name     string
	args     string // the positional arguments, e.g. "DIR TABLE SEQ"
	summary  string // one line for `srdb help`
	details  string // paragraphs for `srdb COMMAND --help`
	nargs    [2]int // smallest and largest number of positional arguments
	setFlags func(fs *flag.FlagSet, o *cmdOpts)
	run      func(e *env, c *command, o *cmdOpts, args []string) int
	// readOnly commands open the database with Options.ReadOnly: beside a
	// live writer, changing nothing in the directory.
	readOnly bool
}

// cmdOpts holds the parsed flags of every command; each command defines
// (and reads) only its own.
type cmdOpts struct {
	json   bool
	csv    bool
	fields string // get --fields, scan --select
	where  []string
	order  string
	desc   bool
	limit  int
	offset int
	all    bool
	// tail
	n        int   // -n: the last n rows
	nSet     bool  // -n was given
	from     int64 // --from: every row with _seq >= from
	fromSet  bool  // --from was given
	follow   bool  // -f
	interval time.Duration
}

// env is where a command writes, and whether stdout and stderr are
// terminals (for the progress bar).
type env struct {
	stdout, stderr       io.Writer
	stdoutTTY, stderrTTY bool
}

// commands lists the commands in the order `srdb help` shows them.
var commands = []*command{
	tablesCommand, schemaCommand, statsCommand, lsmCommand,
	getCommand, scanCommand, dumpCommand, tailCommand, checkCommand,
	compactCommand, backupCommand, consumersCommand,
}

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdoutTTY: isTerminal(os.Stdout), stderrTTY: isTerminal(os.Stderr)}
	os.Exit(run(os.Args[1:], e))
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// notYet is the part of the usage text naming the commands and modes the
// tool is meant to have and this version still lacks.
const notYet = `Not yet available:
  check, compact and backup beside a live writer: they open the database
            for writing (the LOCK, recovery); the read commands open it
            read-only and run beside one.
`

// shortMainUsage follows a usage error naming no command.
const shortMainUsage = "usage: srdb COMMAND [flags] DIR [ARGS]\nRun 'srdb help' for the list of commands.\n"

// mainUsage is the text of `srdb help` (and of `srdb` alone, on stderr).
func mainUsage() string {
	var b strings.Builder
	b.WriteString("usage: srdb COMMAND [flags] DIR [ARGS]\n       srdb help [COMMAND]\n\n")
	b.WriteString("srdb reads, checks, compacts and backs up an SRDB database directory.\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'srdb COMMAND --help' for a command's flags.\n")
	b.WriteString("Exit status: 0 success, 1 failure (check: problems found), 2 usage error.\n\n")
	b.WriteString(notYet)
	return b.String()
}

// run executes the command line args (without the program name) and
// returns the exit status.
func run(args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, mainUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(args) > 1 {
			c := findCommand(args[1])
			if c == nil || len(args) > 2 {
				fmt.Fprintf(e.stderr, "srdb help: unknown command %q\n%s", strings.Join(args[1:], " "), shortMainUsage)
				return exitUsage
			}
			fmt.Fprint(e.stdout, commandUsage(c, newFlagSet(c, &cmdOpts{})))
			return exitOK
		}
		fmt.Fprint(e.stdout, mainUsage())
		return exitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "srdb: unknown command %q\n%s", name, shortMainUsage)
		return exitUsage
	}
	o := &cmdOpts{}
	fs := newFlagSet(c, o)
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, commandUsage(c, fs))
		return exitOK
	}
	if err == nil && (len(pos) < c.nargs[0] || len(pos) > c.nargs[1]) {
		err = fmt.Errorf("want %s, got %d argument(s)", c.args, len(pos))
	}
	if err == nil && o.json && o.csv {
		err = errors.New("--json and --csv exclude each other")
	}
	if err != nil {
		return usageError(e, c, err)
	}
	return c.run(e, c, o, pos)
}

// findCommand returns the command called name, or nil.
func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// newFlagSet returns c's flag set, writing into o. It prints nothing:
// run prints the usage and the errors itself.
func newFlagSet(c *command, o *cmdOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("srdb "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.setFlags != nil {
		c.setFlags(fs, o)
	}
	return fs
}

// commandUsage is the text of `srdb COMMAND --help`.
func commandUsage(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: srdb %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
	if c.details != "" {
		fmt.Fprintf(&b, "\n%s", c.details)
	}
	b.WriteString("\nFlags:\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	b.WriteString("  -h, --help\n    \tprint this help\n")
	return b.String()
}

// usageError prints err and c's usage line to stderr and returns
// exitUsage.
func usageError(e *env, c *command, err error) int {
	fmt.Fprintf(e.stderr, "srdb %s: %v\nusage: srdb %s [flags] %s\nRun 'srdb %s --help' for details.\n",
		c.name, err, c.name, c.args, c.name)
	return exitUsage
}

// failf prints a runtime failure of command c to stderr and returns
// exitFailure.
func failf(e *env, c *command, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "srdb %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return exitFailure
}

// parseInterleaved parses fs from args, accepting flags after positional
// arguments too (the flag package stops at the first one), and returns the
// positional arguments. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// openDB opens the database in dir for command c. It refuses a directory
// that is not a database (Open would create one) and explains a LOCK held
// by another process. On failure it prints the error and returns a nil
// database and the exit status.
func openDB(e *env, c *command, dir string) (*srdb.Database, int) {
	meta := filepath.Join(dir, "database.meta")
	if _, err := srdb.OSFS().Stat(meta); err != nil {
		return nil, failf(e, c, "%s is not an SRDB database (%v)", dir, err)
	}
	opts := srdb.DefaultOptions()
	opts.DisableAutoCompaction = true // no background rewrite while the tool runs
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.ReadOnly = c.readOnly
	db, err := srdb.Open(dir, opts)
	if errors.Is(err, srdb.ErrLocked) {
		return nil, failf(e, c, "open %s: the database is in use: another process holds its LOCK. "+
			"srdb %s opens a database for writing, so it cannot run beside a live writer "+
			"(the read commands can); stop the writer or run srdb on a copy (%v)", dir, c.name, err)
	}
	if err != nil {
		return nil, failf(e, c, "open %s: %v", dir, err)
	}
	return db, exitOK
}

// closeDB closes db, reporting a failure to close; status is the exit
// status so far, returned unless closing failed.
func closeDB(e *env, c *command, db *srdb.Database, status int) int {
	if err := db.Close(); err != nil {
		fmt.Fprintf(e.stderr, "srdb %s: close: %v\n", c.name, err)
		return exitFailure
	}
	return status
}

// openTable opens dir and its table name. On failure it prints the error,
// closes what it opened and returns the exit status.
func openTable(e *env, c *command, dir, name string) (*srdb.Database, *srdb.Table, int) {
	db, code := openDB(e, c, dir)
	if db == nil {
		return nil, nil, code
	}
	t, err := db.Table(name)
	if err != nil {
		db.Close()
		return nil, nil, failf(e, c, "table %q: %v", name, err)
	}
	return db, t, exitOK
}

// splitErrors returns the errors joined in err (errors.Join), or err alone.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}
