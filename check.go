package srdb

import (
	"errors"
	"fmt"
)

// Check verifies every table of the database and returns nil when all is
// healthy, or an error joining every problem found (each satisfies
// errors.Is(err, ErrCorrupted) and names its table and file). It reads every
// live file in full, so it costs a full scan; it runs concurrently with reads
// and writes.
//
// Per table it checks: every SST's header, footer, B+Tree nodes, records and
// sections (checksums, key order, counts, ranges) against its MANIFEST entry;
// that the table directory holds no SST the MANIFEST does not name and lacks
// none it does; that a merged scan returns strictly increasing seqs whose
// rows decode, carry the seq they are stored under, and number exactly
// Stats().Rows; that every secondary index holds exactly the entries of the
// rows of its memtable or SST, in both directions. Tables that failed to
// open are reported with their error.
func (db *Database) Check() error {
	if err := db.usable(); err != nil {
		return err
	}
	tables, errs, ok := db.openTables()
	if !ok {
		return ErrClosed
	}
	for _, t := range tables {
		if err := t.check(); err != nil {
			if errors.Is(err, ErrClosed) && db.droppedMeanwhile(t) {
				continue // DropTable closed it under us: nothing to check
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// droppedMeanwhile reports whether t is no longer the open table of its name
// while the database is still open (a DropTable ran).
func (db *Database) droppedMeanwhile(t *Table) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return !db.closed && db.tables[t.name] != t
}

// check verifies one table; see Database.Check.
func (t *Table) check() error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	var errs []error
	report := func(err error) { errs = append(errs, withTable(err, t.name)) }

	writesBefore := t.writeCount()
	// quiet: no write in flight, so the pin below sees exactly the writes
	// liveRows counts (opsDone read first: see Table.opsDone).
	opsDone := t.opsDone.Load()
	opsBefore := t.opHigh.Load()
	quiet := opsDone == opsBefore
	rs, err := t.pin()
	if err != nil {
		return err
	}
	defer rs.release()
	// The scan counts what the row counter reflects: rows MaxAge expired are
	// only counted out once a range tombstone makes it durable.
	rs.setDeletes(false)

	// Files named by the version exist, verify, and match their metadata.
	named := map[uint64]bool{}
	for level := 0; level < numLevels; level++ {
		for _, f := range rs.v.levels[level] {
			named[f.num] = true
			r, err := t.cache.get(f.num)
			if err != nil {
				report(err)
				continue
			}
			if err := r.verify(storedRowTime); err != nil {
				report(err)
				continue
			}
			p := r.props()
			if p.minSeq != f.minSeq || p.maxSeq != f.maxSeq || p.numEntries != f.numEntries ||
				p.numTombstones != f.numTombstones || p.size != f.size {
				report(corruptionError(sstName(f.num), -1,
					"file properties (seq %d..%d, %d entries, %d tombstones, %d bytes) differ from the MANIFEST (seq %d..%d, %d entries, %d tombstones, %d bytes)",
					p.minSeq, p.maxSeq, p.numEntries, p.numTombstones, p.size,
					f.minSeq, f.maxSeq, f.numEntries, f.numTombstones, f.size))
			}
		}
	}

	// No SST on disk that no live version names. Flushes and compactions
	// run concurrently: a file they are writing is pending, a file they
	// just made obsolete may vanish, so a candidate is reported only if it
	// still exists once the live set and the pending set were read after
	// the listing, and no released version is still removing it.
	names, err := t.fs.List(t.dir)
	if err != nil {
		report(ioError("list", t.dir, err))
	} else if t.refuseReadOnly("Check") == nil { // a ReadOnly snapshot lags the writer's files
		var candidates []uint64
		for _, n := range names {
			if typ, num, ok := parseFilename(n); ok && typ == fileTypeSST && !named[num] {
				candidates = append(candidates, num)
			}
		}
		for _, num := range candidates {
			// A file only moves forwards through pending (being written)
			// → live (named by a version; installed before its pending
			// state ends) → removing (obsolete; marked under the same
			// lock that drops it from the live set) → gone. Reading the
			// states in that order, each after the one before, cannot miss
			// a file that moved on meanwhile; reading the live set once
			// before the loop could (an index build resumed by Open
			// installed its output between the two reads).
			if t.isPendingOutput(num) || t.vs.liveFiles()[num] || t.vs.isRemoving(num) {
				continue
			}
			path := makeFilepath(t.dir, fileTypeSST, num)
			if _, err := t.fs.Stat(path); err != nil {
				continue
			}
			report(corruptionError(path, -1, "SST file not named by the MANIFEST"))
		}
	}

	// A merged scan: seqs strictly increasing, rows decode and carry their
	// own seq, the count matches the exact live-row counter.
	it := t.newTableIterFrom(rs)
	var n int64
	prev := int64(0)
	types := t.Schema().types()
	for ok := it.first(); ok; ok = it.next() {
		seq := it.seq()
		if seq <= prev {
			report(corruptionError("", -1, "scan returned seq %d after %d", seq, prev))
			break
		}
		prev = seq
		if _, _, _, err := decodeRow(it.value(), types); err != nil {
			report(fmt.Errorf("seq %d: %w", seq, err))
			continue
		}
		if v, _ := parseRow(it.value()); v.seq() != seq {
			report(corruptionError("", -1, "row stored under seq %d says seq %d", seq, v.seq()))
		}
		n++
	}
	if err := it.err(); err != nil {
		report(err)
	}
	it.close()
	// The row counter can only be compared when no write was in flight at
	// the pin and none ran during the scan (the scan saw a pinned state, the
	// counter moves on; a write's rows become visible a moment apart from
	// its counter update).
	if rows := t.liveRows.Load(); len(errs) == 0 && rows != n && quiet &&
		t.opHigh.Load() == opsBefore && t.writeCount() == writesBefore {
		report(corruptionError("", -1, "scan found %d live rows, the row counter says %d", n, rows))
	}
	// Secondary indexes against the rows, both directions (checkIndexes).
	// Like the row counter, a finding is reported only when no write ran
	// meanwhile, since the check reads a state that writes move on from.
	if len(errs) == 0 {
		if err := t.checkIndexes(); err != nil && t.writeCount() == writesBefore {
			report(err)
		}
	}
	// Unique indexes: no key held by two live rows of the pinned state.
	if len(errs) == 0 {
		if s := t.Schema(); len(s.unique) > 0 {
			rs.setDeletes(true) // expired rows hold no key
			if err := t.checkUnique(rs, s); err != nil {
				report(err)
			}
		}
	}
	return errors.Join(errs...)
}

// writeCount returns the number of inserted rows, updates and deletes since
// Open; it changes whenever the table's content does.
func (t *Table) writeCount() int64 {
	return t.stats.inserts.Load() + t.stats.updates.Load() + t.stats.deletes.Load()
}
