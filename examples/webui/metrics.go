package main

import (
	"bufio"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/srdb-go/srdb"
)

// The --metrics endpoint: db.Metrics() in the Prometheus text exposition
// format (version 0.0.4), written here with the standard library so that
// the web UI stays in the root module. The names, types and help texts are
// those of the collector in github.com/srdb-go/srdb/contrib/prometheus
// (docs/OPERATIONS.md lists them); TestWebUIServesTheSameNames in that
// module fails when the two lists drift apart.

// metricsContentType is the media type of the text exposition format.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// promFamily is one per-table metric family: srdb_table_<name>{table=...}.
type promFamily struct {
	name    string // without the srdb_table_ prefix
	help    string
	counter bool
	value   func(*srdb.TableMetrics) float64
}

func i64(v int64) float64 { return float64(v) }

func b01(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// promFamilies lists the per-table families in the collector's order.
var promFamilies = []promFamily{
	{"rows", "Live rows (inserted and not deleted).", false, func(m *srdb.TableMetrics) float64 { return i64(m.Rows) }},
	{"last_seq", "Highest seq assigned.", false, func(m *srdb.TableMetrics) float64 { return i64(m.LastSeq) }},
	{"memtable_bytes", "Bytes in the active memtable.", false, func(m *srdb.TableMetrics) float64 { return i64(m.MemTableBytes) }},
	{"memtable_entries", "Entries (rows and tombstones) in the active memtable.", false, func(m *srdb.TableMetrics) float64 { return i64(m.MemTableRows) }},
	{"immutable_memtables", "Full memtables waiting for their flush.", false, func(m *srdb.TableMetrics) float64 { return i64(m.ImmutableMemTables) }},
	{"immutable_memtable_bytes", "Bytes in the memtables waiting for their flush.", false, func(m *srdb.TableMetrics) float64 { return i64(m.ImmutableBytes) }},
	{"wal_bytes", "Size of the active memtable's WAL.", false, func(m *srdb.TableMetrics) float64 { return i64(m.WALBytes) }},
	{"disk_bytes", "Bytes of all live SSTs.", false, func(m *srdb.TableMetrics) float64 { return i64(m.DiskBytes) }},
	{"open_files", "SSTs open (memory-mapped) in the table cache.", false, func(m *srdb.TableMetrics) float64 { return i64(m.OpenFiles) }},
	{"compaction_running", "1 while a compaction of the table is in progress.", false, func(m *srdb.TableMetrics) float64 { return b01(m.CompactionRunning) }},
	{"write_stalled", "1 while the flusher waits for L0 compaction (a write stall).", false, func(m *srdb.TableMetrics) float64 { return b01(m.Stalled) }},
	{"read_only", "1 once a failed write made the table read-only.", false, func(m *srdb.TableMetrics) float64 { return b01(m.ReadOnly) }},

	{"inserted_rows_total", "Rows inserted since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.Inserts) }},
	{"updates_total", "Update calls since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.Updates) }},
	{"deletes_total", "Rows deleted since Open (Delete, range deletes, Query.Delete, retention).", true, func(m *srdb.TableMetrics) float64 { return i64(m.Deletes) }},
	{"dropped_ssts_total", "SSTs removed whole by range deletes and retention since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.DroppedFiles) }},
	{"dropped_sst_bytes_total", "Bytes of the SSTs removed whole since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.DroppedBytes) }},
	{"gets_total", "Get and GetPartial calls since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.Gets) }},
	{"queries_total", "Query executions since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.Queries) }},
	{"query_rows_total", "Rows returned by queries since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.QueryRows) }},
	{"flushes_total", "Memtables flushed to L0 since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.Flushes) }},
	{"flushed_bytes_total", "SST bytes written by flushes since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.FlushedBytes) }},
	{"compactions_total", "Compactions completed since Open, trivial moves included.", true, func(m *srdb.TableMetrics) float64 { return i64(m.Compactions) }},
	{"compaction_moves_total", "Compactions that moved files without rewriting them, since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.CompactionMoves) }},
	{"compaction_read_bytes_total", "SST bytes read by compactions since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.CompactionBytesRead) }},
	{"compaction_written_bytes_total", "SST bytes written by compactions since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.CompactionBytesWritten) }},
	{"compaction_seconds_total", "Time spent compacting since Open.", true, func(m *srdb.TableMetrics) float64 { return m.CompactionTime.Seconds() }},
	{"write_stalls_total", "L0 write stalls begun since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.WriteStalls) }},
	{"write_stall_seconds_total", "Time spent in L0 write stalls that ended, since Open.", true, func(m *srdb.TableMetrics) float64 { return m.WriteStallTime.Seconds() }},
	{"memtable_stalls_total", "Writes that waited for a memtable flush since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.MemTableStalls) }},
	{"memtable_stall_seconds_total", "Time writes waited for a memtable flush since Open.", true, func(m *srdb.TableMetrics) float64 { return m.MemTableStallTime.Seconds() }},
	{"wal_writes_total", "WAL write calls (one per group commit) since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.WALWrites) }},
	{"wal_written_bytes_total", "Bytes written to WALs since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.WALBytesWritten) }},
	{"wal_syncs_total", "WAL fsyncs since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.WALSyncs) }},
	{"wal_sync_seconds_total", "Time spent in WAL fsyncs since Open.", true, func(m *srdb.TableMetrics) float64 { return m.WALSyncTime.Seconds() }},
	{"cache_hits_total", "Table cache lookups that found the SST open, since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.CacheHits) }},
	{"cache_misses_total", "Table cache lookups that opened the SST, since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.CacheMisses) }},
	{"block_cache_bytes", "Bytes of decompressed data blocks cached now.", false, func(m *srdb.TableMetrics) float64 { return i64(m.BlockCacheBytes) }},
	{"block_cache_hits_total", "Compressed block lookups served by the block cache, since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.BlockCacheHits) }},
	{"block_cache_misses_total", "Compressed block lookups that decompressed the block, since Open.", true, func(m *srdb.TableMetrics) float64 { return i64(m.BlockCacheMisses) }},
}

// handleMetrics serves db.Metrics() in the Prometheus text format.
func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", metricsContentType)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriter(w)
	writeMetrics(bw, s.db.Metrics())
	_ = bw.Flush() // a client that went away is not our error
}

// writeMetrics writes m in the text exposition format: for each family a
// HELP and a TYPE line, then one sample line per table (per table and
// level for the level gauges):
//
//	# HELP srdb_table_rows Live rows (inserted and not deleted).
//	# TYPE srdb_table_rows gauge
//	srdb_table_rows{table="messages"} 200000
func writeMetrics(w *bufio.Writer, m srdb.Metrics) {
	header := func(name, help, typ string) {
		w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n# TYPE " + name + " " + typ + "\n")
	}
	sample := func(name, labels string, v float64) {
		w.WriteString(name)
		if labels != "" {
			w.WriteString("{" + labels + "}")
		}
		w.WriteString(" " + formatSample(v) + "\n")
	}
	header("srdb_tables", "Open tables.", "gauge")
	sample("srdb_tables", "", float64(len(m.Tables)))
	header("srdb_broken_tables", "Tables named in database.meta that failed to open.", "gauge")
	sample("srdb_broken_tables", "", float64(m.BrokenTables))
	for _, f := range promFamilies {
		typ := "gauge"
		if f.counter {
			typ = "counter"
		}
		name := "srdb_table_" + f.name
		header(name, f.help, typ)
		for i := range m.Tables {
			sample(name, `table="`+escapeLabel(m.Tables[i].Name)+`"`, f.value(&m.Tables[i]))
		}
	}
	for _, lf := range []struct {
		name, help string
		value      func(srdb.LevelMetrics) int64
	}{
		{"srdb_table_level_files", "SSTs in the LSM level.", func(l srdb.LevelMetrics) int64 { return l.Files }},
		{"srdb_table_level_bytes", "Bytes of the SSTs in the LSM level.", func(l srdb.LevelMetrics) int64 { return l.Bytes }},
	} {
		header(lf.name, lf.help, "gauge")
		for _, t := range m.Tables {
			for _, l := range t.Levels {
				labels := `table="` + escapeLabel(t.Name) + `",level="` + strconv.Itoa(l.Level) + `"`
				sample(lf.name, labels, float64(lf.value(l)))
			}
		}
	}
}

// formatSample formats a sample value: integers without exponent, other
// values in Go's shortest float form (which Prometheus parses).
func formatSample(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeLabel escapes a label value: backslash, double quote, line feed.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
