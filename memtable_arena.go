package srdb

import (
	"runtime"
	"sync"
)

// Memtable arena chunks outside the Go heap.
//
// The encoded rows are most of a memtable's memory (12 of the ~17 MB of a
// full 16 MiB memtable of 250-byte rows). On the Go heap they count twice
// toward the peak resident set: the collector lets the heap grow to twice
// the live data before it collects (GOGC=100), and the live data of an
// ingest is mostly memtables, so each memtable's rows were paid for once
// live and once more as the headroom they buy — and a flushed memtable's
// rows stayed resident as garbage until the next cycle. A 1M-row IM ingest
// peaked at 100–114 MB, about twice its live heap.
//
// The memtables of a table therefore keep their rows in anonymous private
// mappings (memChunks) and unmap them as soon as the memtable is no longer
// used: its bytes never enter the collector's accounting, and they leave
// the resident set the moment the last reader is done.
//
// Lifetime: a memtable counts references (memtable.refs). The table holds
// one while the memtable is its active or an immutable memtable (taken at
// creation, dropped by unrefOwned when a flush installs its SST, when Close
// is done with it, or when a read-only refresh replaces it), and every
// pinned read state holds one per memtable it lists (Table.pin, dropped by
// readState.release). The mappings are unmapped when the count reaches
// zero. Every reader of arena bytes holds a read state or is the table's
// writer or flusher (which hold the table's reference), and nothing hands
// arena bytes past a release: query results and Get copy the row
// (decodeResultRow, Table.lookup). A memtable that becomes unreachable with
// references outstanding (a failed Open dropping its replayed memtables) is
// unmapped by a cleanup when the collector finds it unreachable; no slice
// of its arena can be in use then, because every user reaches the arena
// through the memtable (or a read state listing it) while it uses it.
//
// Memtables built outside a table (tests) keep heap chunks (memChunks is
// nil): their bytes live as long as any slice of them, as before.

// memChunks owns the mappings of one memtable's arena.
type memChunks struct {
	// mu guards maps and freed.
	mu    sync.Mutex
	maps  [][]byte // every mapping, whole (len = mapped length)
	freed bool     // free ran: no mapping may be made or used any more
}

// offHeap makes m allocate its arena chunks outside the Go heap and start
// with the owner's reference (see above). Called once, before m is shared
// and before its first row.
func (m *memtable) offHeap() {
	c := &memChunks{}
	m.chunks = c
	m.refs.Store(1)
	runtime.AddCleanup(m, func(c *memChunks) { c.free() }, c)
}

// newChunk returns an empty chunk with capacity n: a fresh mapping when m's
// arena is off the heap, heap memory otherwise.
func (m *memtable) newChunk(n int) []byte {
	if m.chunks == nil {
		return make([]byte, 0, n)
	}
	return m.chunks.alloc(n)
}

// alloc maps n bytes (rounded up to whole pages; mapAnon in vfs_os.go) and
// returns them as an empty slice of capacity n. A failed mmap (address
// space or map count exhausted) falls back to heap memory, which the
// collector frees as before.
func (c *memChunks) alloc(n int) []byte {
	b, err := mapAnon(n)
	if err != nil {
		return make([]byte, 0, n)
	}
	c.mu.Lock()
	if c.freed {
		// Unreachable for a table's memtables (writes stop before the
		// last reference goes); refuse rather than leak.
		c.mu.Unlock()
		_ = unmapAnon(b)
		panic("srdb: memtable arena used after its release")
	}
	c.maps = append(c.maps, b)
	c.mu.Unlock()
	return b[:0:n]
}

// free unmaps every mapping. Idempotent.
func (c *memChunks) free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		return
	}
	c.freed = true
	for _, b := range c.maps {
		_ = unmapAnon(b)
	}
	c.maps = nil
}

// mapped returns the bytes currently mapped for the arena (0 once freed or
// for a heap arena).
func (c *memChunks) mapped() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, b := range c.maps {
		n += int64(len(b))
	}
	return n
}

// ref takes a reference to m for a read state. A no-op for a heap arena.
func (m *memtable) ref() {
	if m.chunks != nil {
		m.refs.Add(1)
	}
}

// unref drops a reference taken by ref, or the owner's (unrefOwned); the
// last one unmaps the arena.
func (m *memtable) unref() {
	if m.chunks == nil {
		return
	}
	switch n := m.refs.Add(-1); {
	case n == 0:
		m.mu.Lock()
		m.arena = nil // a use after release finds no chunk instead of unmapped memory
		m.mu.Unlock()
		m.chunks.free()
	case n < 0:
		panic("srdb: memtable reference released twice")
	}
}

// unrefOwned drops the table's reference, once: the memtable is no longer
// the table's active or an immutable memtable.
func (m *memtable) unrefOwned() {
	if m.chunks != nil && m.ownerGone.CompareAndSwap(false, true) {
		m.unref()
	}
}
