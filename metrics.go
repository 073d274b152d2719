package srdb

import (
	"time"
)

// Metrics is a snapshot of the counters and gauges of a database and each
// of its tables, for monitoring (see docs/OPERATIONS.md and the Prometheus
// collector in the module github.com/srdb-go/srdb/contrib/prometheus).
//
// Every field is either a gauge (a current value: it can go down) or a
// counter (monotonic since the table was opened: it only grows while the
// Database stays open, and restarts from zero at the next Open). Byte
// fields are bytes, time.Duration fields are the total time spent. The
// engine computes no rates: read and write rates (rows inserted per
// second, gets per second, WAL fsyncs per second, …) are the difference of
// two snapshots' counters divided by the time between them, which is what
// Prometheus' rate() and the web UI do.
type Metrics struct {
	// Tables holds one entry per open table, sorted by name.
	Tables []TableMetrics
	// Total sums every numeric field of Tables (Levels level by level);
	// its Name is "", and each of its bools is true when it is true for
	// at least one table.
	Total TableMetrics
	// BrokenTables (gauge) is the number of tables named in
	// database.meta that failed to open (Open logged why; Table returns
	// the error).
	BrokenTables int
}

// TableMetrics are the counters and gauges of one table. See Metrics for
// what counter and gauge mean.
type TableMetrics struct {
	Name string // table name

	// Gauges: size and state now.
	Rows               int64          // live rows (inserted and not deleted), exact
	LastSeq            int64          // highest seq assigned
	MemTableBytes      int64          // bytes in the active memtable
	MemTableRows       int64          // entries (rows and tombstones) in the active memtable
	ImmutableMemTables int64          // full memtables waiting for their flush
	ImmutableBytes     int64          // bytes in those memtables
	WALBytes           int64          // size of the active memtable's WAL
	DiskBytes          int64          // bytes of all live SSTs (the sum of Levels' Bytes)
	Levels             []LevelMetrics // always numLevels (7) entries, L0 first
	OpenFiles          int64          // SSTs open (memory-mapped) in the table cache
	CompactionRunning  bool           // a compaction of this table is in progress
	Stalled            bool           // the flusher waits for L0 compaction now (see WriteStalls)
	ReadOnly           bool           // a failed write made the table read-only (Table.Stats says why)

	// Counters: writes and reads since Open.
	Inserts int64 // rows inserted (Insert, InsertMany: one per row)
	Updates int64 // Update calls that wrote
	Deletes int64 // rows deleted: Delete, DeleteRange, DeleteBefore, Query.Delete, retention
	// DroppedFiles and DroppedBytes count the SSTs range deletes and
	// retention removed whole (no rewrite) and their bytes.
	DroppedFiles int64
	DroppedBytes int64
	Gets         int64 // Get and GetPartial calls
	Queries      int64 // query executions that passed planning: Rows, Count, Paginate (once), and First, Last, Scan through Rows
	QueryRows    int64 // rows returned by Rows.Next, counted when the Rows is closed or exhausted

	// Counters: flushes and compactions since Open.
	Flushes                int64         // memtables flushed to an L0 SST
	FlushedBytes           int64         // SST bytes written by flushes
	Compactions            int64         // compactions completed, trivial moves included
	CompactionMoves        int64         // of which moved files without rewriting them
	CompactionBytesRead    int64         // SST bytes read by compactions
	CompactionBytesWritten int64         // SST bytes written by compactions
	CompactionTime         time.Duration // time spent compacting

	// Counters: write stalls since Open. A write stall of the first kind
	// (L0 has L0StopWritesTrigger files) stops the flusher until a
	// compaction makes room; inserts wait only once the immutable
	// memtables are full, which the second kind counts.
	WriteStalls       int64         // L0 stalls begun
	WriteStallTime    time.Duration // time spent in L0 stalls that ended
	MemTableStalls    int64         // writes (and Flush, CreateIndex calls) that waited for a memtable flush (MaxImmutableMemTables reached)
	MemTableStallTime time.Duration // time those writes waited

	// Counters: WAL I/O since Open, over every WAL the table wrote.
	WALWrites       int64         // write(2) calls (one per group commit)
	WALBytesWritten int64         // bytes they wrote (records and sync marks)
	WALSyncs        int64         // successful fsyncs of WAL data
	WALSyncTime     time.Duration // time spent in those fsyncs

	// Counters: the table cache since Open. SSTs are memory-mapped: a hit
	// is a lookup of an SST whose reader was already open, a miss one that
	// had to open and map the file.
	CacheHits   int64
	CacheMisses int64

	// The cache of decompressed data blocks (compressed tables only; raw
	// blocks are read in place): BlockCacheBytes (gauge) is the memory it
	// holds now (at most 4 MiB per table), hits and misses (counters) are
	// lookups of a compressed block since Open.
	BlockCacheBytes  int64
	BlockCacheHits   int64
	BlockCacheMisses int64
}

// LevelMetrics are the gauges of one LSM level.
type LevelMetrics struct {
	Level int   // 0 … 6
	Files int64 // SSTs in the level
	Bytes int64 // their total size
}

// Metrics returns a snapshot of the database's counters and gauges. It
// does no file I/O and holds each lock it takes only to read a few fields
// (the database's and each table's read locks, a memtable's read lock, the
// active WAL writer's and the table cache's mutexes), never across I/O;
// it is safe to call concurrently with every other method. The snapshot is not atomic across tables or
// fields. A nil, zero or closed Database returns the zero Metrics (no
// tables, Total zero with nil Levels).
func (db *Database) Metrics() Metrics {
	var m Metrics
	if db == nil || db.fs == nil {
		return m
	}
	tables, broken, ok := db.openTables()
	if !ok {
		return m
	}
	m.BrokenTables = len(broken)

	m.Total.Levels = newLevelMetrics()
	for _, t := range tables {
		tm := t.metrics()
		m.Tables = append(m.Tables, tm)
		m.Total.add(&tm)
	}
	return m
}

func newLevelMetrics() []LevelMetrics {
	ls := make([]LevelMetrics, numLevels)
	for i := range ls {
		ls[i].Level = i
	}
	return ls
}

// metrics gathers t's counters and gauges (see Database.Metrics).
func (t *Table) metrics() TableMetrics {
	c := &t.compact
	m := TableMetrics{
		Name:    t.name,
		Rows:    t.liveRows.Load(),
		LastSeq: t.seqHigh.Load(),
		Levels:  newLevelMetrics(),
		Stalled: c.stalled.Load(),

		Inserts:      t.stats.inserts.Load(),
		Updates:      t.stats.updates.Load(),
		Deletes:      t.stats.deletes.Load(),
		DroppedFiles: t.stats.filesDropped.Load(),
		DroppedBytes: t.stats.bytesDropped.Load(),
		Gets:         t.stats.gets.Load(),
		Queries:      t.stats.queries.Load(),
		QueryRows:    t.stats.queryRows.Load(),

		Flushes:                t.stats.flushes.Load(),
		FlushedBytes:           t.stats.flushedBytes.Load(),
		Compactions:            c.count.Load(),
		CompactionMoves:        c.moves.Load(),
		CompactionBytesRead:    c.bytesRead.Load(),
		CompactionBytesWritten: c.bytesWritten.Load(),
		CompactionTime:         time.Duration(c.nanos.Load()),

		WriteStalls:       c.stalls.Load(),
		WriteStallTime:    time.Duration(c.stallNanos.Load()),
		MemTableStalls:    t.stats.memStalls.Load(),
		MemTableStallTime: time.Duration(t.stats.memStallNanos.Load()),

		WALWrites:       t.stats.wal.writes.Load(),
		WALBytesWritten: t.stats.wal.bytes.Load(),
		WALSyncs:        t.stats.wal.syncs.Load(),
		WALSyncTime:     time.Duration(t.stats.wal.syncNanos.Load()),
	}
	m.ReadOnly = t.readOnlyErr() != nil
	if t.cache != nil {
		m.CacheHits = t.cache.hits.Load()
		m.CacheMisses = t.cache.misses.Load()
		m.OpenFiles = int64(t.cache.openReaders())
		m.BlockCacheBytes = t.cache.blocks.bytes.Load()
		m.BlockCacheHits = t.cache.blocks.hits.Load()
		m.BlockCacheMisses = t.cache.blocks.misses.Load()
	}
	if c.idle != nil { // set by startCompactions
		c.infoMu.Lock()
		m.CompactionRunning = c.running != nil
		c.infoMu.Unlock()
	}
	rs, err := t.pin()
	if err != nil {
		return m // closed meanwhile: counters only
	}
	defer rs.release()
	for i, mem := range rs.mems {
		st := mem.stats()
		if i == 0 {
			m.MemTableBytes = st.size
			m.MemTableRows = int64(st.entries)
			if mem.wal != nil {
				m.WALBytes = mem.wal.size()
			}
			continue
		}
		m.ImmutableMemTables++
		m.ImmutableBytes += st.size
	}
	for level := 0; level < numLevels; level++ {
		for _, f := range rs.v.levels[level] {
			m.Levels[level].Files++
			m.Levels[level].Bytes += int64(f.size)
		}
		m.DiskBytes += m.Levels[level].Bytes
	}
	return m
}

// add adds o's fields to m (see Metrics.Total).
func (m *TableMetrics) add(o *TableMetrics) {
	m.Rows += o.Rows
	m.LastSeq += o.LastSeq
	m.MemTableBytes += o.MemTableBytes
	m.MemTableRows += o.MemTableRows
	m.ImmutableMemTables += o.ImmutableMemTables
	m.ImmutableBytes += o.ImmutableBytes
	m.WALBytes += o.WALBytes
	m.DiskBytes += o.DiskBytes
	for i := range o.Levels {
		m.Levels[i].Files += o.Levels[i].Files
		m.Levels[i].Bytes += o.Levels[i].Bytes
	}
	m.OpenFiles += o.OpenFiles
	m.CompactionRunning = m.CompactionRunning || o.CompactionRunning
	m.Stalled = m.Stalled || o.Stalled
	m.ReadOnly = m.ReadOnly || o.ReadOnly

	m.Inserts += o.Inserts
	m.Updates += o.Updates
	m.Deletes += o.Deletes
	m.DroppedFiles += o.DroppedFiles
	m.DroppedBytes += o.DroppedBytes
	m.Gets += o.Gets
	m.Queries += o.Queries
	m.QueryRows += o.QueryRows

	m.Flushes += o.Flushes
	m.FlushedBytes += o.FlushedBytes
	m.Compactions += o.Compactions
	m.CompactionMoves += o.CompactionMoves
	m.CompactionBytesRead += o.CompactionBytesRead
	m.CompactionBytesWritten += o.CompactionBytesWritten
	m.CompactionTime += o.CompactionTime

	m.WriteStalls += o.WriteStalls
	m.WriteStallTime += o.WriteStallTime
	m.MemTableStalls += o.MemTableStalls
	m.MemTableStallTime += o.MemTableStallTime

	m.WALWrites += o.WALWrites
	m.WALBytesWritten += o.WALBytesWritten
	m.WALSyncs += o.WALSyncs
	m.WALSyncTime += o.WALSyncTime

	m.CacheHits += o.CacheHits
	m.CacheMisses += o.CacheMisses
	m.BlockCacheBytes += o.BlockCacheBytes
	m.BlockCacheHits += o.BlockCacheHits
	m.BlockCacheMisses += o.BlockCacheMisses
}
