package srdb

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Durability says when an Insert, Update or Delete is acknowledged relative to
// the write-ahead log reaching stable storage.
type Durability int

const (
	// DurabilitySync acknowledges a write only after its WAL record is
	// fsynced. Concurrent writers share one fsync (group commit). Neither a
	// process crash nor power loss loses an acknowledged write.
	DurabilitySync Durability = iota
	// DurabilityInterval hands every WAL record to the kernel (write(2))
	// before acknowledging it and fsyncs the WAL every SyncInterval. A
	// process crash loses nothing acknowledged; power loss loses at most the
	// writes acknowledged since the last sync.
	DurabilityInterval
	// DurabilityNone buffers WAL records in the process; only Flush, Close
	// and memtable switches write and fsync them. A crash loses the writes
	// since then.
	DurabilityNone
)

// String returns "sync", "interval" or "none".
func (d Durability) String() string {
	switch d {
	case DurabilitySync:
		return "sync"
	case DurabilityInterval:
		return "interval"
	case DurabilityNone:
		return "none"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Defaults of Options. Each default lives here and nowhere else.
const (
	DefaultMemTableSize        = 16 << 20 // bytes of encoded rows per memtable (see Options.MemTableSize)
	DefaultDurability          = DurabilityInterval
	DefaultSyncInterval        = 100 * time.Millisecond
	DefaultRetentionInterval   = time.Second
	DefaultMaxRowSize          = 64 << 20 // bytes of one encoded row
	DefaultMaxImmutable        = 2        // immutable memtables waiting for flush before inserts wait
	DefaultL0CompactionTrigger = 4        // L0 files that make L0 compaction due
	DefaultL0StopWritesTrigger = 12       // L0 files at which inserts wait for compaction
	DefaultCompactionWorkers   = 1        // concurrent background compactions per database
	DefaultL1MaxBytes          = 64 << 20 // byte budget of L1; each deeper level gets LevelSizeMultiplier times more
	DefaultLevelSizeMultiplier = 10       // growth of the byte budget from one level to the next
)

// defaultTargetFileSizes are the default TargetFileSizes: L0 2 MB, L1 10 MB,
// L2 50 MB, L3 100 MB, L4 and deeper 200 MB. Levels past the end
// of the array use its last element.
var defaultTargetFileSizes = [...]int64{2 << 20, 10 << 20, 50 << 20, 100 << 20, 200 << 20}

// defaultTargetFileSize returns the default TargetFileSizes element of level
// (L4 and deeper share the last one).
func defaultTargetFileSize(level int) int64 {
	return defaultTargetFileSizes[min(max(level, 0), len(defaultTargetFileSizes)-1)]
}

// Options configures a Database. The zero value of a field means "use the
// default" (except Durability, see there); Open copies the struct, so
// changing it afterwards has no effect.
type Options struct {
	// MemTableSize is the flush threshold per table in bytes of encoded rows
	// (default 16 MiB). Up to 1 + MaxImmutableMemTables memtables of this
	// size live in memory per table. Their rows are mapped outside the Go
	// heap and unmapped after their flush (memtable_arena.go); their
	// entries and index (about a quarter of the size) are heap memory,
	// which the GC lets grow to about twice the live data. The default was
	// lowered from 64 MiB, whose 1M-row IM ingest peaked at 284 MB RSS, to
	// 16 MiB (docs/BENCHMARKS.md). Larger memtables mean fewer, larger L0
	// files.
	MemTableSize int64
	// Durability of acknowledged writes. DefaultOptions sets
	// DurabilityInterval; the zero value of the field is DurabilitySync, the
	// safest mode, so a hand-built Options never silently weakens durability.
	Durability Durability
	// SyncInterval is the WAL fsync period for DurabilityInterval
	// (default 100ms).
	SyncInterval time.Duration
	// Logger receives recovery and background-work events
	// (default: discard).
	Logger *slog.Logger
	// FS is the file system (default OSFS()). Tests inject faults through it.
	FS FS
	// MaxRowSize is the largest encoded row accepted by Insert/Update
	// (default 64 MiB).
	MaxRowSize int
	// DisableAutoCompaction turns off background compaction; Compact still
	// works. With it set inserts never wait for L0 (L0StopWritesTrigger is
	// ignored): L0 grows until Compact is called.
	DisableAutoCompaction bool
	// MaxImmutableMemTables is how many full memtables may wait for their
	// background flush before inserts wait (back-pressure; default 2).
	MaxImmutableMemTables int
	// L0CompactionTrigger is the number of L0 files that makes L0
	// compaction due (default 4).
	L0CompactionTrigger int
	// L0StopWritesTrigger is the number of L0 files at which inserts wait
	// for compaction to catch up (default 12). The wait happens when the
	// active memtable is full and would become another immutable memtable;
	// it is logged and counted in TableStats.Compaction.
	L0StopWritesTrigger int
	// CompactionWorkers is the number of concurrent background compactions
	// per database (default 1).
	CompactionWorkers int
	// L1MaxBytes is the byte budget of L1 (default 64 MiB). Level L (1 ≤ L
	// ≤ 5) may hold L1MaxBytes × LevelSizeMultiplier^(L-1) bytes before it
	// is compacted into L+1; L6 has no budget.
	L1MaxBytes int64
	// LevelSizeMultiplier is the growth of the byte budget from one level to
	// the next (default 10).
	LevelSizeMultiplier int
	// TargetFileSizes[L] is the size at which compaction cuts the SSTs it
	// writes to level L (defaults: L0 2 MB, L1 10 MB, L2 50 MB, L3 100 MB,
	// L4+ 200 MB). A missing or zero element takes the default of its
	// level. Compaction never writes to L0 (flushes write one L0 file per
	// memtable), so element 0 is accepted but unused.
	TargetFileSizes []int64
	// RetentionInterval is how often a table with TableOptions.MaxAge or
	// MaxBytes set enforces them in the background (default 1s): expired
	// rows are already invisible to reads, the enforcement makes it
	// durable, corrects the row counter and drops whole SSTs. See
	// Table.SetOptions.
	RetentionInterval time.Duration
	// ReadOnly attaches to a database another Database (usually another
	// process) may be writing, or that sits on a read-only file system:
	// Open takes no lock and changes nothing in the directory (no flush, no
	// WAL, no removal, not even of a torn tail), and every table shows a
	// consistent snapshot as of Open, the rows of its WALs included.
	// Database.Refresh catches up with the writer. Every write (and Flush,
	// Compact, schema and index changes) returns an error of code
	// CodeReadOnly. See docs/OPERATIONS.md.
	ReadOnly bool
	// Compression is the codec of the SST data blocks of every table whose
	// TableOptions.Compression is CompressionDefault (default: the zero
	// value, CompressionDefault, which means CompressionNone). It applies
	// to the files flushes and compactions write from Open on; files of
	// another codec stay readable and are rewritten with this one by their
	// next compaction. See docs/FORMAT.md ("Data block").
	Compression Compression
}

// DefaultOptions returns the options Open uses when given nil.
func DefaultOptions() *Options {
	return &Options{
		MemTableSize:          DefaultMemTableSize,
		Durability:            DefaultDurability,
		SyncInterval:          DefaultSyncInterval,
		MaxRowSize:            DefaultMaxRowSize,
		MaxImmutableMemTables: DefaultMaxImmutable,
		L0CompactionTrigger:   DefaultL0CompactionTrigger,
		L0StopWritesTrigger:   DefaultL0StopWritesTrigger,
		CompactionWorkers:     DefaultCompactionWorkers,
	}
}

// resolve returns a copy of o with every zero field replaced by its default,
// or an error listing every invalid field. o may be nil.
func (o *Options) resolve() (*Options, error) {
	if o == nil {
		o = DefaultOptions()
	}
	r := *o
	if r.MemTableSize == 0 {
		r.MemTableSize = DefaultMemTableSize
	}
	if r.SyncInterval == 0 {
		r.SyncInterval = DefaultSyncInterval
	}
	if r.RetentionInterval == 0 {
		r.RetentionInterval = DefaultRetentionInterval
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.FS == nil {
		r.FS = OSFS()
	}
	if r.MaxRowSize == 0 {
		r.MaxRowSize = DefaultMaxRowSize
	}
	if r.MaxImmutableMemTables == 0 {
		r.MaxImmutableMemTables = DefaultMaxImmutable
	}
	if r.L0CompactionTrigger == 0 {
		r.L0CompactionTrigger = DefaultL0CompactionTrigger
	}
	if r.L0StopWritesTrigger == 0 {
		r.L0StopWritesTrigger = DefaultL0StopWritesTrigger
	}
	if r.CompactionWorkers == 0 {
		r.CompactionWorkers = DefaultCompactionWorkers
	}
	if r.L1MaxBytes == 0 {
		r.L1MaxBytes = DefaultL1MaxBytes
	}
	if r.LevelSizeMultiplier == 0 {
		r.LevelSizeMultiplier = DefaultLevelSizeMultiplier
	}
	sizes := make([]int64, numLevels)
	for l := range sizes {
		if l < len(r.TargetFileSizes) && r.TargetFileSizes[l] != 0 {
			sizes[l] = r.TargetFileSizes[l]
		} else {
			sizes[l] = defaultTargetFileSize(l)
		}
	}
	r.TargetFileSizes = sizes // a copy: the caller's slice is never aliased
	var problems []string
	if r.MemTableSize < 4<<10 {
		problems = append(problems, fmt.Sprintf("MemTableSize %d is below 4 KiB", r.MemTableSize))
	}
	if r.Durability < DurabilitySync || r.Durability > DurabilityNone {
		problems = append(problems, fmt.Sprintf("Durability %d is not a Durability", int(r.Durability)))
	}
	if r.SyncInterval < 0 {
		problems = append(problems, fmt.Sprintf("SyncInterval %v is negative", r.SyncInterval))
	}
	if r.RetentionInterval < 0 {
		problems = append(problems, fmt.Sprintf("RetentionInterval %v is negative", r.RetentionInterval))
	}
	if r.MaxRowSize < 0 || r.MaxRowSize > 1<<30 {
		problems = append(problems, fmt.Sprintf("MaxRowSize %d is outside 1..1 GiB", r.MaxRowSize))
	}
	if r.MaxImmutableMemTables < 0 {
		problems = append(problems, fmt.Sprintf("MaxImmutableMemTables %d is negative", r.MaxImmutableMemTables))
	}
	if r.L0CompactionTrigger < 0 || r.L0StopWritesTrigger < r.L0CompactionTrigger {
		problems = append(problems, fmt.Sprintf("L0 triggers compaction=%d stop=%d: need 0 < compaction <= stop",
			r.L0CompactionTrigger, r.L0StopWritesTrigger))
	}
	if r.CompactionWorkers < 0 {
		problems = append(problems, fmt.Sprintf("CompactionWorkers %d is negative", r.CompactionWorkers))
	}
	if r.L1MaxBytes < 0 {
		problems = append(problems, fmt.Sprintf("L1MaxBytes %d is negative", r.L1MaxBytes))
	}
	if r.LevelSizeMultiplier < 0 {
		problems = append(problems, fmt.Sprintf("LevelSizeMultiplier %d is negative", r.LevelSizeMultiplier))
	}
	if len(o.TargetFileSizes) > numLevels {
		problems = append(problems, fmt.Sprintf("TargetFileSizes has %d elements, more than the %d levels", len(o.TargetFileSizes), numLevels))
	}
	for l, n := range r.TargetFileSizes {
		if n < 0 {
			problems = append(problems, fmt.Sprintf("TargetFileSizes[%d] %d is negative", l, n))
		}
	}
	if !r.Compression.valid() {
		problems = append(problems, fmt.Sprintf("Compression %d is not a Compression", r.Compression))
	}
	if len(problems) > 0 {
		return nil, newError(CodeInvalidArgument, "options: %s", joinProblems(problems))
	}
	return &r, nil
}

func joinProblems(p []string) string {
	s := p[0]
	for _, x := range p[1:] {
		s += "; " + x
	}
	return s
}
