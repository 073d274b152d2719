package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/srdb-go/srdb"
)

// This file holds the commands that describe a database: tables, schema,
// stats and lsm.

func jsonFlag(fs *flag.FlagSet, o *cmdOpts) {
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
}

var tablesCommand = &command{
	name:    "tables",
	args:    "DIR",
	summary: "list the tables: rows, size, SST files, indexes",
	details: "SIZE is the bytes of the table's live SSTs (memtables and WAL not counted).\n" +
		"A table that fails to open is reported on stderr and makes the exit status 1.\n",
	nargs:    [2]int{1, 1},
	setFlags: jsonFlag,
	run:      runTables,
	readOnly: true,
}

// tableInfo is one line of `srdb tables`.
type tableInfo struct {
	Name    string   `json:"name"`
	Rows    int64    `json:"rows"`
	Bytes   int64    `json:"bytes"`
	Files   int      `json:"files"`
	Indexes []string `json:"indexes"`
	Error   string   `json:"error,omitempty"` // the table failed to open
}

func runTables(e *env, c *command, o *cmdOpts, args []string) int {
	db, code := openDB(e, c, args[0])
	if db == nil {
		return code
	}
	status := exitOK
	var infos []tableInfo
	for _, name := range db.Tables() {
		t, err := db.Table(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "srdb tables: table %q: %v\n", name, err)
			infos = append(infos, tableInfo{Name: name, Indexes: []string{}, Error: err.Error()})
			status = exitFailure
			continue
		}
		st := t.Stats()
		infos = append(infos, tableInfo{Name: name, Rows: st.Rows, Bytes: st.DiskBytes,
			Files: numFiles(st), Indexes: nonNil(t.Indexes())})
	}
	if o.json {
		if infos == nil {
			infos = []tableInfo{}
		}
		if err := writeJSON(e, infos); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	tw := newTextTable(e.stdout)
	fmt.Fprintln(tw, "NAME\tROWS\tSIZE\tFILES\tINDEXES")
	for _, in := range infos {
		if in.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tFAILED TO OPEN\n", in.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", in.Name, in.Rows, humanBytes(in.Bytes), in.Files, dashIfEmpty(strings.Join(in.Indexes, ",")))
	}
	tw.Flush()
	return closeDB(e, c, db, status)
}

var schemaCommand = &command{
	name:    "schema",
	args:    "DIR TABLE",
	summary: "print a table's fields (name, type, flags, comment) and indexes",
	details: "The system fields _seq and _time come first, flagged \"system\".\n",
	nargs:   [2]int{2, 2}, setFlags: jsonFlag, run: runSchema,
	readOnly: true,
}

// fieldInfo is one field of `srdb schema --json`.
type fieldInfo struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Indexed  bool   `json:"indexed"`
	Nullable bool   `json:"nullable"`
	System   bool   `json:"system,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

func runSchema(e *env, c *command, o *cmdOpts, args []string) int {
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	fields := []fieldInfo{
		{Name: "_seq", Type: "int64", System: true},
		{Name: "_time", Type: "time", System: true},
	}
	for _, f := range t.Schema().Fields() {
		fields = append(fields, fieldInfo{Name: f.Name, Type: f.Type.String(), Indexed: f.Indexed, Nullable: f.Nullable, Comment: f.Comment})
	}
	status := exitOK
	if o.json {
		opts := t.Options()
		v := map[string]any{"table": t.Name(), "fields": fields, "indexes": nonNil(t.Indexes()),
			"options": map[string]any{"max_age": opts.MaxAge.String(), "max_age_ns": int64(opts.MaxAge), "max_bytes": opts.MaxBytes,
				"compression": opts.Compression.String()}}
		if u := t.Schema().UniqueIndexes(); len(u) > 0 {
			v["unique"] = u // only when there is one: older outputs stay as they were
		}
		if err := writeJSON(e, v); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	fmt.Fprintf(e.stdout, "table %s\n", t.Name())
	tw := newTextTable(e.stdout)
	fmt.Fprintln(tw, "FIELD\tTYPE\tFLAGS\tCOMMENT")
	for _, f := range fields {
		var flags []string
		if f.System {
			flags = append(flags, "system")
		}
		if f.Indexed {
			flags = append(flags, "indexed")
		}
		if f.Nullable {
			flags = append(flags, "nullable")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Type, dashIfEmpty(strings.Join(flags, ",")), f.Comment)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "indexes: %s\n", dashIfEmpty(strings.Join(t.Indexes(), ", ")))
	if u := t.Schema().UniqueIndexes(); len(u) > 0 {
		fmt.Fprintf(e.stdout, "unique: %s\n", strings.Join(u, ", "))
	}
	fmt.Fprintf(e.stdout, "options: %s\n", describeOptions(t.Options()))
	return closeDB(e, c, db, status)
}

var statsCommand = &command{
	name:    "stats",
	args:    "DIR TABLE",
	summary: "print a table's statistics (Table.Stats)",
	details: "Counters \"since Open\" count this process's work, so they are 0 for a fresh\n" +
		"open. --json prints Table.Stats as encoding/json renders it (Go field names,\n" +
		"durations in nanoseconds).\n",
	nargs: [2]int{2, 2}, setFlags: jsonFlag, run: runStats,
	readOnly: true,
}

func runStats(e *env, c *command, o *cmdOpts, args []string) int {
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	st := t.Stats()
	status := exitOK
	if o.json {
		if err := writeJSON(e, st); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	tw := newTextTable(e.stdout)
	line := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	line("table", st.Name)
	line("rows", st.Rows)
	line("last seq", st.LastSeq)
	line("disk", fmt.Sprintf("%d bytes in %d SST files", st.DiskBytes, numFiles(st)))
	line("memtable", fmt.Sprintf("%d bytes, %d entries", st.MemTableBytes, st.MemTableRows))
	line("immutable memtables", fmt.Sprintf("%d (%d bytes)", st.ImmutableCount, st.ImmutableBytes))
	line("wal", fmt.Sprintf("%d bytes", st.WALBytes))
	for _, l := range st.Levels {
		line(fmt.Sprintf("L%d", l.Level), fmt.Sprintf("%d files, %d bytes, score %.2f", len(l.Files), l.Bytes, l.Score))
	}
	line("since open", fmt.Sprintf("%d inserts, %d updates, %d deletes, %d gets, %d flushes (%d bytes)",
		st.Inserts, st.Updates, st.Deletes, st.Gets, st.Flushes, st.FlushedBytes))
	cs := st.Compaction
	line("compactions", fmt.Sprintf("%d (%d moves), %d bytes read, %d bytes written, %s, write amplification %.2f",
		cs.Count, cs.Moves, cs.BytesRead, cs.BytesWritten, cs.Duration, cs.WriteAmplification))
	line("write stalls", fmt.Sprintf("%d (%s)", cs.WriteStalls, cs.WriteStallTime))
	if cs.LastError != "" {
		line("last compaction error", cs.LastError)
	}
	if st.ReadOnly && !db.ReadOnly() { // srdb's own read-only opening is no failure
		line("read-only", st.ReadOnlyReason)
	}
	tw.Flush()
	return closeDB(e, c, db, status)
}

var lsmCommand = &command{
	name:    "lsm",
	args:    "DIR TABLE",
	summary: "print a table's LSM tree: levels and their SST files",
	details: "Per level: file count, bytes, compaction score (due at >= 1) and byte budget;\n" +
		"per file: number, bytes, seq range, _time range (UTC), entries and tombstones.\n" +
		"L0 lists the newest file first, L1-L6 by seq.\n",
	nargs: [2]int{2, 2}, setFlags: jsonFlag, run: runLSM,
	readOnly: true,
}

// lsmLevel and lsmFile are the JSON of `srdb lsm --json`.
type lsmLevel struct {
	Level    int       `json:"level"`
	Bytes    int64     `json:"bytes"`
	Score    float64   `json:"score"`
	MaxBytes int64     `json:"max_bytes"`
	Files    []lsmFile `json:"files"`
}

type lsmFile struct {
	Num        uint64 `json:"num"`
	Bytes      int64  `json:"bytes"`
	MinSeq     int64  `json:"min_seq"`
	MaxSeq     int64  `json:"max_seq"`
	MinTime    string `json:"min_time"`
	MaxTime    string `json:"max_time"`
	Entries    int64  `json:"entries"`
	Tombstones int64  `json:"tombstones"`
}

func runLSM(e *env, c *command, o *cmdOpts, args []string) int {
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	st := t.Stats()
	levels := []lsmLevel{}
	for _, l := range st.Levels {
		ll := lsmLevel{Level: l.Level, Bytes: l.Bytes, Score: l.Score, MaxBytes: l.MaxBytes, Files: []lsmFile{}}
		for _, f := range l.Files {
			ll.Files = append(ll.Files, lsmFile{Num: f.Num, Bytes: f.Bytes, MinSeq: f.MinSeq, MaxSeq: f.MaxSeq,
				MinTime: nanosText(f.MinTime), MaxTime: nanosText(f.MaxTime), Entries: f.Entries, Tombstones: f.Tombstones})
		}
		levels = append(levels, ll)
	}
	status := exitOK
	if o.json {
		v := map[string]any{"table": st.Name, "bytes": st.DiskBytes, "levels": levels}
		if err := writeJSON(e, v); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	fmt.Fprintf(e.stdout, "table %s: %d SST files, %d bytes\n", st.Name, numFiles(st), st.DiskBytes)
	for _, l := range levels {
		budget := ""
		if l.MaxBytes > 0 {
			budget = fmt.Sprintf(" of %d", l.MaxBytes)
		}
		fmt.Fprintf(e.stdout, "L%d: %d files, %d bytes%s, score %.2f\n", l.Level, len(l.Files), l.Bytes, budget, l.Score)
		if len(l.Files) == 0 {
			continue
		}
		tw := newTextTable(e.stdout)
		fmt.Fprintln(tw, "  FILE\tBYTES\tSEQ\tTIME\tENTRIES\tTOMBSTONES")
		for _, f := range l.Files {
			fmt.Fprintf(tw, "  %06d.sst\t%d\t%d..%d\t%s .. %s\t%d\t%d\n",
				f.Num, f.Bytes, f.MinSeq, f.MaxSeq, f.MinTime, f.MaxTime, f.Entries, f.Tombstones)
		}
		tw.Flush()
	}
	return closeDB(e, c, db, status)
}

// textTable aligns tab-separated columns (text/tabwriter) and drops the
// padding tabwriter leaves at the end of a line.
type textTable struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
	out io.Writer
}

func newTextTable(out io.Writer) *textTable {
	t := &textTable{out: out}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

// Write adds text to the table.
func (t *textTable) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the aligned table to its output.
func (t *textTable) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		nl := strings.HasSuffix(line, "\n")
		b.WriteString(strings.TrimRight(line, " \n"))
		if nl {
			b.WriteByte('\n')
		}
	}
	t.buf.Reset()
	_, err := io.WriteString(t.out, b.String())
	return err
}

// numFiles returns the number of SSTs in st.
func numFiles(st srdb.TableStats) int {
	n := 0
	for _, l := range st.Levels {
		n += len(l.Files)
	}
	return n
}

// nanosText formats Unix nanoseconds as RFC 3339 in UTC.
func nanosText(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// humanBytes formats n as "512 B", "1.5 KiB", "3.2 MiB", …
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeJSON writes v to stdout as indented JSON without HTML escaping.
func writeJSON(e *env, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := e.stdout.Write(buf.Bytes())
	return err
}

// describeOptions renders a table's options (retention, compression) for
// `srdb schema`.
func describeOptions(o srdb.TableOptions) string {
	var parts []string
	if o.MaxAge > 0 {
		parts = append(parts, "max age "+o.MaxAge.String())
	}
	if o.MaxBytes > 0 {
		parts = append(parts, fmt.Sprintf("max bytes %d", o.MaxBytes))
	}
	if o.Compression != srdb.CompressionDefault {
		parts = append(parts, "compression "+o.Compression.String())
	}
	return dashIfEmpty(strings.Join(parts, ", "))
}

var consumersCommand = &command{
	name:    "consumers",
	args:    "DIR TABLE",
	summary: "list a table's consumer groups: committed position and lag",
	details: "POSITION is the last seq the group committed (0 before any commit); LAG is the\n" +
		"number of live rows after it (rows deleted or expired meanwhile are not counted).\n",
	nargs: [2]int{2, 2}, setFlags: jsonFlag, run: runConsumers,
	readOnly: true,
}

// consumerInfo is one line of `srdb consumers`.
type consumerInfo struct {
	Group    string `json:"group"`
	Position int64  `json:"position"`
	Lag      int64  `json:"lag"`
}

func runConsumers(e *env, c *command, o *cmdOpts, args []string) int {
	db, t, code := openTable(e, c, args[0], args[1])
	if db == nil {
		return code
	}
	positions := t.ConsumerPositions()
	infos := []consumerInfo{}
	for _, g := range t.Consumers() {
		pos := positions[g]
		lag, err := t.Query().Gt("_seq", pos).Count()
		if err != nil {
			return closeDB(e, c, db, failf(e, c, "group %q: %v", g, err))
		}
		infos = append(infos, consumerInfo{Group: g, Position: pos, Lag: int64(lag)})
	}
	status := exitOK
	if o.json {
		if err := writeJSON(e, infos); err != nil {
			status = failf(e, c, "%v", err)
		}
		return closeDB(e, c, db, status)
	}
	tw := newTextTable(e.stdout)
	fmt.Fprintln(tw, "GROUP\tPOSITION\tLAG")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", in.Group, in.Position, in.Lag)
	}
	tw.Flush()
	return closeDB(e, c, db, status)
}
