package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/srdb-go/srdb"
)

// This file watches the database: a sampler reads every table's Stats a few
// times a second, turns the counter deltas into rates and the flush and
// compaction counters into an event log, and hands the snapshot to the
// /api/activity and /api/events (server-sent events) endpoints.

const maxEvents = 200 // events kept for the log

// tableActivity is the live state of one table in an activity snapshot.
type tableActivity struct {
	Name          string  `json:"name"`
	Rows          int64   `json:"rows"`
	DiskBytes     int64   `json:"disk_bytes"`
	MemBytes      int64   `json:"memtable_bytes"`
	MemLimit      int64   `json:"memtable_limit"`
	MemRows       int     `json:"memtable_rows"`
	Immutable     int     `json:"immutable"`
	ImmBytes      int64   `json:"immutable_bytes"`
	WALBytes      int64   `json:"wal_bytes"`
	Flushes       int64   `json:"flushes"`
	Compactions   int64   `json:"compactions"`
	WriteRate     float64 `json:"write_rate"` // inserts+updates+deletes per second
	ReadRate      float64 `json:"read_rate"`  // Gets plus rows the UI read, per second
	LevelFiles    []int   `json:"level_files"`
	LevelBytes    []int64 `json:"level_bytes"`
	Running       string  `json:"running,omitempty"` // the compaction running now, described
	Stalled       bool    `json:"stalled"`
	WriteAmp      float64 `json:"write_amp"`
	ReadOnly      bool    `json:"read_only,omitempty"`
	lastWrites    int64
	lastReads     int64
	lastRunning   string // identifies the running compaction ("" when none)
	lastFlushed   int64
	lastCompacted int64
	lastMoves     int64
}

// event is one line of the activity log.
type event struct {
	ID    int64  `json:"id"`
	Time  string `json:"time"` // RFC 3339, milliseconds
	Table string `json:"table"`
	Kind  string `json:"kind"` // flush, compaction-start, compaction-done, stall
	Text  string `json:"text"`
}

// activitySnapshot is the body of /api/activity and of each event of
// /api/events.
type activitySnapshot struct {
	Time   string           `json:"time"`
	Tables []*tableActivity `json:"tables"`
	Events []event          `json:"events"` // newest last
}

// activity samples the database's tables.
type activity struct {
	db       *srdb.Database
	memLimit int64
	uiReads  func(table string) int64

	// mu guards the fields below.
	mu      sync.Mutex
	prev    map[string]*tableActivity // last sample per table
	prevAt  time.Time
	events  []event
	nextID  int64
	snap    []byte        // the latest snapshot, JSON
	changed chan struct{} // closed and replaced by each sample
}

// newActivity returns a sampler of db's tables and takes its first sample.
// memLimit is the memtable flush threshold shown beside each memtable;
// uiReads reports the rows the UI itself read from a table.
func newActivity(db *srdb.Database, memLimit int64, uiReads func(string) int64) *activity {
	a := &activity{db: db, memLimit: memLimit, uiReads: uiReads, prev: map[string]*tableActivity{}, changed: make(chan struct{})}
	a.sample(time.Now())
	return a
}

// run samples every interval until ctx is cancelled.
func (a *activity) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			a.sample(now)
		}
	}
}

// sample reads every table's stats and publishes a new snapshot.
func (a *activity) sample(now time.Time) {
	var tables []*tableActivity
	type found struct {
		t  *tableActivity
		st srdb.TableStats
	}
	var cur []found
	for _, name := range a.db.Tables() {
		t, err := a.db.Table(name)
		if err != nil {
			continue
		}
		st := t.Stats()
		ta := &tableActivity{
			Name: name, Rows: st.Rows, DiskBytes: st.DiskBytes, MemBytes: st.MemTableBytes, MemLimit: a.memLimit,
			MemRows: st.MemTableRows, Immutable: st.ImmutableCount, ImmBytes: st.ImmutableBytes, WALBytes: st.WALBytes,
			Flushes: st.Flushes, Compactions: st.Compaction.Count, Stalled: st.Compaction.Stalled,
			WriteAmp: st.Compaction.WriteAmplification, ReadOnly: st.ReadOnly,
			lastWrites: st.Inserts + st.Updates + st.Deletes, lastReads: st.Gets + a.uiReads(name),
			lastFlushed: st.FlushedBytes, lastCompacted: st.Compaction.BytesWritten, lastMoves: st.Compaction.Moves,
		}
		for _, l := range st.Levels {
			ta.LevelFiles = append(ta.LevelFiles, len(l.Files))
			ta.LevelBytes = append(ta.LevelBytes, l.Bytes)
		}
		if r := st.Compaction.Running; r != nil {
			ta.Running = describeCompaction(r)
			ta.lastRunning = fmt.Sprint(r.Started.UnixNano(), r.Level, r.OutputLevel)
		}
		tables = append(tables, ta)
		cur = append(cur, found{ta, st})
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	dt := now.Sub(a.prevAt).Seconds()
	for _, c := range cur {
		ta, p := c.t, a.prev[c.t.Name]
		if p == nil {
			continue
		}
		if dt > 0 {
			ta.WriteRate = max(0, float64(ta.lastWrites-p.lastWrites)/dt)
			ta.ReadRate = max(0, float64(ta.lastReads-p.lastReads)/dt)
		}
		if n := ta.Flushes - p.Flushes; n > 0 {
			a.addEventLocked(now, ta.Name, "flush", fmt.Sprintf("flushed %d memtable(s) to L0: %s", n, sizeText(ta.lastFlushed-p.lastFlushed)))
		}
		if ta.lastRunning != "" && ta.lastRunning != p.lastRunning {
			a.addEventLocked(now, ta.Name, "compaction-start", "started "+ta.Running)
		}
		if n := ta.Compactions - p.Compactions; n > 0 {
			moves := ta.lastMoves - p.lastMoves
			text := fmt.Sprintf("%d compaction(s) done", n)
			if moves > 0 {
				text += fmt.Sprintf(" (%d by moving files down a level)", moves)
			}
			a.addEventLocked(now, ta.Name, "compaction-done", fmt.Sprintf("%s, %s written; write amplification %.2f",
				text, sizeText(ta.lastCompacted-p.lastCompacted), ta.WriteAmp))
		}
		if ta.Stalled && !p.Stalled {
			a.addEventLocked(now, ta.Name, "stall", "writes wait for L0 compaction")
		}
	}
	a.prev = map[string]*tableActivity{}
	for _, c := range cur {
		a.prev[c.t.Name] = c.t
	}
	a.prevAt = now
	if tables == nil {
		tables = []*tableActivity{}
	}
	snap := activitySnapshot{Time: now.UTC().Format(time.RFC3339Nano), Tables: tables, Events: slices.Clone(a.events)}
	if snap.Events == nil {
		snap.Events = []event{}
	}
	a.snap, _ = json.Marshal(snap)
	close(a.changed)
	a.changed = make(chan struct{})
}

// addEventLocked appends an event, dropping the oldest beyond maxEvents.
func (a *activity) addEventLocked(now time.Time, table, kind, text string) {
	a.nextID++
	a.events = append(a.events, event{ID: a.nextID, Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Table: table, Kind: kind, Text: text})
	if len(a.events) > maxEvents {
		a.events = slices.Delete(a.events, 0, len(a.events)-maxEvents)
	}
}

// latest returns the latest snapshot and a channel closed at the next one.
func (a *activity) latest() ([]byte, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap, a.changed
}

// describeCompaction is one line about a running compaction.
func describeCompaction(r *srdb.CompactionInfo) string {
	kind := "compaction"
	switch {
	case r.Move:
		kind = "move"
	case r.Manual:
		kind = "manual compaction"
	}
	return fmt.Sprintf("%s L%d→L%d, %d file(s), %s in, %s written", kind, r.Level, r.OutputLevel,
		len(r.Inputs), sizeText(r.InputBytes), sizeText(r.BytesWritten))
}

// sizeText formats a byte count (1.5 MiB).
func sizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}

// handleActivity serves GET /api/activity: the latest snapshot.
func (s *server) handleActivity(w http.ResponseWriter, r *http.Request) {
	b, _ := s.act.latest()
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// handleEvents serves GET /api/events: a server-sent event stream with one
// "activity" event per sample. The stream ends after eventStreamLifetime
// (the browser's EventSource reconnects) and when the server shuts down.
func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.streams.Add(1) > maxEventStreams {
		s.streams.Add(-1)
		writeError(w, http.StatusTooManyRequests, "too many event streams", 0)
		return
	}
	defer s.streams.Add(-1)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	end := time.NewTimer(eventStreamLifetime)
	defer end.Stop()
	for {
		snap, next := s.act.latest()
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: activity\ndata: %s\n\n", snap); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-next:
		case <-r.Context().Done():
			return
		case <-end.C:
			return
		}
	}
}

// lsmFile is one SST in GET /api/tables/{table}/lsm.
type lsmFile struct {
	Num        uint64 `json:"num"`
	Bytes      int64  `json:"bytes"`
	MinSeq     int64  `json:"min_seq"`
	MaxSeq     int64  `json:"max_seq"`
	MinTime    string `json:"min_time"`
	MaxTime    string `json:"max_time"`
	Entries    int64  `json:"entries"`
	Tombstones int64  `json:"tombstones"`
	Compacting bool   `json:"compacting"` // an input of the running compaction
}

// lsmLevel is one level in GET /api/tables/{table}/lsm.
type lsmLevel struct {
	Level    int       `json:"level"`
	Bytes    int64     `json:"bytes"`
	MaxBytes int64     `json:"max_bytes"`
	Score    float64   `json:"score"`
	Files    []lsmFile `json:"files"`
}

// handleLSM serves GET /api/tables/{table}/lsm: the live version's levels
// and files, the memtables and the compaction state.
func (s *server) handleLSM(w http.ResponseWriter, r *http.Request) {
	t, ok := s.table(w, r)
	if !ok {
		return
	}
	st := t.Stats()
	compacting := map[uint64]bool{}
	var running map[string]any
	if c := st.Compaction.Running; c != nil {
		for _, n := range c.Inputs {
			compacting[n] = true
		}
		running = map[string]any{
			"level": c.Level, "output_level": c.OutputLevel, "inputs": c.Inputs, "input_bytes": c.InputBytes,
			"bytes_written": c.BytesWritten, "manual": c.Manual, "move": c.Move, "score": c.Score,
			"started": c.Started.UTC().Format(time.RFC3339Nano), "text": describeCompaction(c),
		}
	}
	levels := []lsmLevel{}
	for _, l := range st.Levels {
		ll := lsmLevel{Level: l.Level, Bytes: l.Bytes, MaxBytes: l.MaxBytes, Score: l.Score, Files: []lsmFile{}}
		for _, f := range l.Files {
			ll.Files = append(ll.Files, lsmFile{
				Num: f.Num, Bytes: f.Bytes, MinSeq: f.MinSeq, MaxSeq: f.MaxSeq,
				MinTime: nanosText(f.MinTime), MaxTime: nanosText(f.MaxTime),
				Entries: f.Entries, Tombstones: f.Tombstones, Compacting: compacting[f.Num],
			})
		}
		levels = append(levels, ll)
	}
	c := st.Compaction
	writeJSON(w, map[string]any{
		"name": st.Name, "rows": st.Rows, "last_seq": st.LastSeq, "disk_bytes": st.DiskBytes,
		"memtable_bytes": st.MemTableBytes, "memtable_rows": st.MemTableRows, "memtable_limit": s.cfg.memTableSize,
		"immutable": st.ImmutableCount, "immutable_bytes": st.ImmutableBytes, "wal_bytes": st.WALBytes,
		"flushes": st.Flushes, "flushed_bytes": st.FlushedBytes,
		"levels": levels,
		"compaction": map[string]any{
			"count": c.Count, "moves": c.Moves, "bytes_read": c.BytesRead, "bytes_written": c.BytesWritten,
			"duration_ms": c.Duration.Milliseconds(), "write_amp": c.WriteAmplification, "running": running,
			"last_error": c.LastError, "write_stalls": c.WriteStalls, "stall_ms": c.WriteStallTime.Milliseconds(),
			"stalled": c.Stalled,
		},
		"read_only": st.ReadOnly, "read_only_reason": st.ReadOnlyReason,
		"retention": retentionInfo(st),
	})
}

// nanosText formats Unix nanoseconds as RFC 3339 ("" for 0).
func nanosText(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// retentionInfo describes the table's retention options (and codec) and what range
// deletes and retention dropped whole.
func retentionInfo(st srdb.TableStats) map[string]any {
	maxAge := ""
	if st.Options.MaxAge > 0 {
		maxAge = st.Options.MaxAge.String()
	}
	return map[string]any{
		"max_age": maxAge, "max_bytes": st.Options.MaxBytes, "compression": st.Options.Compression.String(),
		"dropped_files": st.DroppedFiles, "dropped_bytes": st.DroppedBytes, "deletes": st.Deletes,
	}
}
