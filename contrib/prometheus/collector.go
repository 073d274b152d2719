// Package prometheus exports the metrics of an SRDB database
// (srdb.Database.Metrics) to Prometheus.
//
//	db, _ := srdb.Open(dir, nil)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(srdbprom.NewCollector(db))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Each scrape takes one db.Metrics() snapshot (no file I/O). Every
// srdb.TableMetrics field becomes one metric family labelled with the
// table ("table"); level gauges also carry a "level" label ("0" … "6").
// Counters end in _total, times are in seconds and sizes in bytes. The
// sums in Metrics.Total are not exported: sum() over the table label gives
// them. The names are listed in docs/OPERATIONS.md; the web UI's --metrics
// endpoint (examples/webui) serves the same names.
package prometheus

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/srdb-go/srdb"
)

// Option configures a collector.
type Option func(*config)

type config struct {
	constLabels prometheus.Labels
}

// WithConstLabels adds labels with fixed values to every metric, e.g.
// {"db": "messages"} to tell apart several databases in one process.
func WithConstLabels(l prometheus.Labels) Option {
	return func(c *config) { c.constLabels = l }
}

// tableMetric is one per-table metric family and how to read it.
type tableMetric struct {
	name  string // full metric name
	help  string
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*srdb.TableMetrics) float64
}

// collector implements prometheus.Collector over db.Metrics().
type collector struct {
	db           *srdb.Database
	tables       []tableMetric
	levelFiles   *prometheus.Desc
	levelBytes   *prometheus.Desc
	openTables   *prometheus.Desc
	brokenTables *prometheus.Desc
}

// NewCollector returns a collector exporting db's metrics. Register it
// with a prometheus.Registerer. A nil or closed db exports only the
// database gauges (zero tables).
func NewCollector(db *srdb.Database, opts ...Option) prometheus.Collector {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	c := &collector{db: db}
	table := []string{"table"}
	add := func(name, help string, typ prometheus.ValueType, value func(*srdb.TableMetrics) float64) {
		c.tables = append(c.tables, tableMetric{
			name:  "srdb_table_" + name,
			help:  help,
			desc:  prometheus.NewDesc("srdb_table_"+name, help, table, cfg.constLabels),
			typ:   typ,
			value: value,
		})
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	i := func(v int64) float64 { return float64(v) }
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}

	add("rows", "Live rows (inserted and not deleted).", gauge, func(m *srdb.TableMetrics) float64 { return i(m.Rows) })
	add("last_seq", "Highest seq assigned.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.LastSeq) })
	add("memtable_bytes", "Bytes in the active memtable.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.MemTableBytes) })
	add("memtable_entries", "Entries (rows and tombstones) in the active memtable.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.MemTableRows) })
	add("immutable_memtables", "Full memtables waiting for their flush.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.ImmutableMemTables) })
	add("immutable_memtable_bytes", "Bytes in the memtables waiting for their flush.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.ImmutableBytes) })
	add("wal_bytes", "Size of the active memtable's WAL.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.WALBytes) })
	add("disk_bytes", "Bytes of all live SSTs.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.DiskBytes) })
	add("open_files", "SSTs open (memory-mapped) in the table cache.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.OpenFiles) })
	add("compaction_running", "1 while a compaction of the table is in progress.", gauge, func(m *srdb.TableMetrics) float64 { return b(m.CompactionRunning) })
	add("write_stalled", "1 while the flusher waits for L0 compaction (a write stall).", gauge, func(m *srdb.TableMetrics) float64 { return b(m.Stalled) })
	add("read_only", "1 once a failed write made the table read-only.", gauge, func(m *srdb.TableMetrics) float64 { return b(m.ReadOnly) })

	add("inserted_rows_total", "Rows inserted since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.Inserts) })
	add("updates_total", "Update calls since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.Updates) })
	add("deletes_total", "Rows deleted since Open (Delete, range deletes, Query.Delete, retention).", counter, func(m *srdb.TableMetrics) float64 { return i(m.Deletes) })
	add("dropped_ssts_total", "SSTs removed whole by range deletes and retention since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.DroppedFiles) })
	add("dropped_sst_bytes_total", "Bytes of the SSTs removed whole since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.DroppedBytes) })
	add("gets_total", "Get and GetPartial calls since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.Gets) })
	add("queries_total", "Query executions since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.Queries) })
	add("query_rows_total", "Rows returned by queries since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.QueryRows) })
	add("flushes_total", "Memtables flushed to L0 since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.Flushes) })
	add("flushed_bytes_total", "SST bytes written by flushes since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.FlushedBytes) })
	add("compactions_total", "Compactions completed since Open, trivial moves included.", counter, func(m *srdb.TableMetrics) float64 { return i(m.Compactions) })
	add("compaction_moves_total", "Compactions that moved files without rewriting them, since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.CompactionMoves) })
	add("compaction_read_bytes_total", "SST bytes read by compactions since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.CompactionBytesRead) })
	add("compaction_written_bytes_total", "SST bytes written by compactions since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.CompactionBytesWritten) })
	add("compaction_seconds_total", "Time spent compacting since Open.", counter, func(m *srdb.TableMetrics) float64 { return m.CompactionTime.Seconds() })
	add("write_stalls_total", "L0 write stalls begun since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.WriteStalls) })
	add("write_stall_seconds_total", "Time spent in L0 write stalls that ended, since Open.", counter, func(m *srdb.TableMetrics) float64 { return m.WriteStallTime.Seconds() })
	add("memtable_stalls_total", "Writes that waited for a memtable flush since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.MemTableStalls) })
	add("memtable_stall_seconds_total", "Time writes waited for a memtable flush since Open.", counter, func(m *srdb.TableMetrics) float64 { return m.MemTableStallTime.Seconds() })
	add("wal_writes_total", "WAL write calls (one per group commit) since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.WALWrites) })
	add("wal_written_bytes_total", "Bytes written to WALs since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.WALBytesWritten) })
	add("wal_syncs_total", "WAL fsyncs since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.WALSyncs) })
	add("wal_sync_seconds_total", "Time spent in WAL fsyncs since Open.", counter, func(m *srdb.TableMetrics) float64 { return m.WALSyncTime.Seconds() })
	add("cache_hits_total", "Table cache lookups that found the SST open, since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.CacheHits) })
	add("cache_misses_total", "Table cache lookups that opened the SST, since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.CacheMisses) })
	add("block_cache_bytes", "Bytes of decompressed data blocks cached now.", gauge, func(m *srdb.TableMetrics) float64 { return i(m.BlockCacheBytes) })
	add("block_cache_hits_total", "Compressed block lookups served by the block cache, since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.BlockCacheHits) })
	add("block_cache_misses_total", "Compressed block lookups that decompressed the block, since Open.", counter, func(m *srdb.TableMetrics) float64 { return i(m.BlockCacheMisses) })

	level := []string{"table", "level"}
	c.levelFiles = prometheus.NewDesc("srdb_table_level_files", "SSTs in the LSM level.", level, cfg.constLabels)
	c.levelBytes = prometheus.NewDesc("srdb_table_level_bytes", "Bytes of the SSTs in the LSM level.", level, cfg.constLabels)
	c.openTables = prometheus.NewDesc("srdb_tables", "Open tables.", nil, cfg.constLabels)
	c.brokenTables = prometheus.NewDesc("srdb_broken_tables", "Tables named in database.meta that failed to open.", nil, cfg.constLabels)
	return c
}

// Describe sends the descriptor of every metric the collector exports.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.tables {
		ch <- m.desc
	}
	ch <- c.levelFiles
	ch <- c.levelBytes
	ch <- c.openTables
	ch <- c.brokenTables
}

// Collect takes one snapshot of the database's metrics and sends them.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	ch <- prometheus.MustNewConstMetric(c.openTables, prometheus.GaugeValue, float64(len(m.Tables)))
	ch <- prometheus.MustNewConstMetric(c.brokenTables, prometheus.GaugeValue, float64(m.BrokenTables))
	for ti := range m.Tables {
		tm := &m.Tables[ti]
		for _, d := range c.tables {
			ch <- prometheus.MustNewConstMetric(d.desc, d.typ, d.value(tm), tm.Name)
		}
		for _, l := range tm.Levels {
			lv := strconv.Itoa(l.Level)
			ch <- prometheus.MustNewConstMetric(c.levelFiles, prometheus.GaugeValue, float64(l.Files), tm.Name, lv)
			ch <- prometheus.MustNewConstMetric(c.levelBytes, prometheus.GaugeValue, float64(l.Bytes), tm.Name, lv)
		}
	}
}
