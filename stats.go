package srdb

// TableStats is a snapshot of a table's size and activity, cheap enough to
// poll (the web UI does, several times a second).
type TableStats struct {
	Name           string       // table name
	Rows           int64        // live rows (inserted and not deleted), exact
	LastSeq        int64        // highest seq assigned
	MemTableBytes  int64        // bytes in the active memtable
	MemTableRows   int          // entries in the active memtable
	ImmutableCount int          // memtables waiting for their flush
	ImmutableBytes int64        // bytes in those memtables
	WALBytes       int64        // bytes in the WAL of the active memtable
	Levels         []LevelStats // one per level, L0 first
	DiskBytes      int64        // bytes of all live SSTs
	Flushes        int64        // memtable flushes since Open
	FlushedBytes   int64        // SST bytes written by flushes since Open
	Inserts        int64        // rows inserted since Open
	Updates        int64        // Update calls since Open
	Deletes        int64        // rows deleted since Open: Delete, DeleteRange, DeleteBefore, Query.Delete, retention
	DroppedFiles   int64        // SSTs removed whole since Open because range deletes or retention hid every row
	DroppedBytes   int64        // bytes of those SSTs
	Options        TableOptions // the table's options (SetOptions)
	Gets           int64        // Get and GetPartial calls since Open
	ReadOnly       bool         // a failed write made the table read-only
	ReadOnlyReason string       // the error that did, when ReadOnly

	// Compaction is the compaction activity: counters, write stalls and the
	// compaction running now.
	Compaction CompactionStats
}

// LevelStats describes one level of the LSM tree.
type LevelStats struct {
	Level int         // 0 … 6
	Files []FileStats // the level's SSTs: newest first in L0, by seq in L1+
	Bytes int64       // total file bytes

	// Score is the compaction score: for L0 files / L0CompactionTrigger,
	// for L1–L5 Bytes / MaxBytes, 0 for L6. The level is due at ≥ 1.
	Score float64
	// MaxBytes is the byte budget of the level (0 for L0 and L6).
	MaxBytes int64
}

// FileStats describes one SST.
type FileStats struct {
	Num        uint64 // file number (the name is %06d.sst)
	Bytes      int64  // file size
	MinSeq     int64  // smallest seq in the file
	MaxSeq     int64  // largest seq in the file
	MinTime    int64  // smallest row _time (unix ns); 0 when the file has only tombstones
	MaxTime    int64  // largest row _time (unix ns)
	Entries    int64  // rows and tombstones
	Tombstones int64  // tombstones
}

// Stats returns a snapshot of the table's size and activity (zero for a
// nil or zero Table).
func (t *Table) Stats() TableStats {
	if t == nil || t.done == nil {
		return TableStats{} // nil or zero Table
	}
	s := TableStats{
		Name:         t.name,
		Rows:         t.liveRows.Load(),
		LastSeq:      t.seqHigh.Load(),
		Flushes:      t.stats.flushes.Load(),
		FlushedBytes: t.stats.flushedBytes.Load(),
		Inserts:      t.stats.inserts.Load(),
		Updates:      t.stats.updates.Load(),
		Deletes:      t.stats.deletes.Load(),
		DroppedFiles: t.stats.filesDropped.Load(),
		DroppedBytes: t.stats.bytesDropped.Load(),
		Options:      t.Options(),
		Gets:         t.stats.gets.Load(),
	}
	if err := t.readOnlyErr(); err != nil {
		s.ReadOnly = true
		s.ReadOnlyReason = err.Error()
	}
	rs, err := t.pin()
	if err != nil {
		t.compactionStats(&s, nil)
		return s
	}
	defer rs.release()
	for i, m := range rs.mems {
		st := m.stats()
		if i == 0 {
			s.MemTableBytes = st.size
			s.MemTableRows = st.entries
			if m.wal != nil {
				s.WALBytes = m.wal.size()
			}
			continue
		}
		s.ImmutableCount++
		s.ImmutableBytes += st.size
	}
	for level := 0; level < numLevels; level++ {
		ls := LevelStats{Level: level}
		for _, f := range rs.v.levels[level] {
			ls.Files = append(ls.Files, FileStats{
				Num: f.num, Bytes: int64(f.size), MinSeq: f.minSeq, MaxSeq: f.maxSeq,
				MinTime: f.minTime, MaxTime: f.maxTime,
				Entries: int64(f.numEntries), Tombstones: int64(f.numTombstones),
			})
			ls.Bytes += int64(f.size)
		}
		s.DiskBytes += ls.Bytes
		s.Levels = append(s.Levels, ls)
	}
	t.compactionStats(&s, rs.v)
	return s
}
