package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/srdb-go/srdb"
)

// engine is one store under test, opened on one directory. insert and
// insertBatch are safe for concurrent use; the read methods are called from
// one goroutine.
type engine interface {
	// insert stores one row as one atomic write (row plus index entries)
	// and returns its seq.
	insert(r *msgRow) (int64, error)
	// insertBatch stores rows as one atomic write and returns the first seq.
	insertBatch(rows []msgRow) (int64, error)
	// get fills r with the row of seq; errNotFound when there is none.
	get(seq int64, r *msgRow) error
	// lastN fills out with the newest rows of channel whose seq is below
	// before (0: no bound), newest first, at most len(out); it returns how
	// many. errUnsupported when the engine cannot answer yet.
	lastN(channel string, before int64, out []seqRow) (int, error)
	// scan reads every row, decodes the rows whose msg_type equals msgType
	// and returns how many rows it read and how many matched.
	// errUnsupported when the engine cannot answer yet.
	scan(msgType uint8) (scanned, matched int64, err error)
	// finish makes everything durable and settled: flush memtables and run
	// a full compaction where the engine has them.
	finish() error
	// close releases the store.
	close() error
}

// engineOptions selects the durability and sizing of an opened engine.
type engineOptions struct {
	// sync acknowledges a write only after fsync (SRDB DurabilitySync,
	// Pebble Sync, bbolt with fsync). Otherwise the engine's fast mode:
	// SRDB DurabilityInterval, Pebble NoSync, bbolt NoSync.
	sync bool
	// writers is the number of goroutines that will insert (bbolt groups
	// that many concurrent writes into one transaction).
	writers int
	// bigMemtable keeps every row of the kill test in the WAL (SRDB and
	// Pebble memtables of 1 GiB) instead of flushing part of it.
	bigMemtable bool
}

// engineSpec names an engine and says how to open it.
type engineSpec struct {
	name string // as given to -engines
	// title is the column heading in reports.
	title string
	// fastMode and syncMode describe the durability settings used.
	fastMode, syncMode string
	open               func(dir string, o engineOptions) (engine, error)
}

var (
	errNotFound    = errors.New("bench: row not found")
	errUnsupported = errors.New("bench: not supported by this build")
)

// engineSpecs lists the engines in report order.
var engineSpecs = []engineSpec{
	{name: "srdb", title: "SRDB", fastMode: "DurabilityInterval", syncMode: "DurabilitySync", open: openSRDB},
	{name: "srdb-fast", title: "SRDB Fast", fastMode: "DurabilityInterval", syncMode: "DurabilitySync", open: openSRDBCompressed(srdb.CompressionFast)},
	{name: "srdb-dense", title: "SRDB Dense", fastMode: "DurabilityInterval", syncMode: "DurabilitySync", open: openSRDBCompressed(srdb.CompressionDense)},
	{name: "pebble", title: "Pebble", fastMode: "NoSync", syncMode: "Sync", open: openPebble},
	{name: "pebble-zstd", title: "Pebble zstd", fastMode: "NoSync", syncMode: "Sync", open: openPebbleZstd},
	{name: "bbolt", title: "bbolt", fastMode: "NoSync=true", syncMode: "NoSync=false, db.Batch", open: openBbolt},
}

// lookupEngine returns the spec named name.
func lookupEngine(name string) (engineSpec, error) {
	for _, s := range engineSpecs {
		if s.name == name {
			return s, nil
		}
	}
	names := make([]string, len(engineSpecs))
	for i, s := range engineSpecs {
		names[i] = s.name
	}
	return engineSpec{}, fmt.Errorf("unknown engine %q (have %s)", name, strings.Join(names, ", "))
}

// parseEngines turns "srdb,pebble" into specs, keeping report order.
func parseEngines(list string) ([]engineSpec, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(strings.ToLower(n))
		if n == "" {
			continue
		}
		if _, err := lookupEngine(n); err != nil {
			return nil, err
		}
		want[n] = true
	}
	var out []engineSpec
	for _, s := range engineSpecs {
		if want[s.name] {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no engine selected")
	}
	return out, nil
}

// dirBytes returns the total size of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted values,
// nearest-rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// sortedCopy returns v sorted ascending, leaving v alone.
func sortedCopy(v []float64) []float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s
}
