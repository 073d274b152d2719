package srdb

import (
	"errors"
	"sync"
	"sync/atomic"
)

// tableCache keeps one open (memory-mapped) sstReader per live SST of a
// table, opened on first use. A reader is closed — and its file removed —
// only when the version set reports the file obsolete, i.e. no pinned
// version names it any more, so no reader can be using the mapping.
type tableCache struct {
	fs  FS
	dir string
	// blocks caches the table's decompressed data blocks, and maxBlockRaw
	// bounds the raw length of a compressed block (blockRawLimit of the
	// table's MaxRowSize); both are handed to every reader opened here.
	blocks      *blockCache
	maxBlockRaw uint64

	// mu guards readers.
	mu      sync.Mutex
	readers map[uint64]*sstReader
	closed  bool

	// hits and misses count get calls that found an open reader and that
	// had to open (map) the file; updated under mu, read without it.
	hits   atomic.Int64
	misses atomic.Int64
}

// newTableCache returns an empty cache of the SSTs in dir, for a table
// whose rows are at most maxRowSize bytes.
func newTableCache(fs FS, dir string, maxRowSize int) *tableCache {
	return &tableCache{fs: fs, dir: dir, readers: make(map[uint64]*sstReader),
		blocks: newBlockCache(blockCacheBytes), maxBlockRaw: blockRawLimit(maxRowSize)}
}

// get returns the reader of file num, opening it if needed.
func (c *tableCache) get(num uint64) (*sstReader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if r, ok := c.readers[num]; ok {
		c.hits.Add(1)
		return r, nil
	}
	c.misses.Add(1)
	r, err := openSST(c.fs, c.dir, num)
	if err != nil {
		return nil, err
	}
	r.blocks, r.maxBlockRaw = c.blocks, c.maxBlockRaw
	c.readers[num] = r
	return r, nil
}

// evict closes the reader of file num if it is open.
func (c *tableCache) evict(num uint64) error {
	c.mu.Lock()
	r, ok := c.readers[num]
	delete(c.readers, num)
	c.mu.Unlock()
	c.blocks.dropFile(num)
	if ok {
		return r.close()
	}
	return nil
}

// close closes every reader.
func (c *tableCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for num, r := range c.readers {
		if err := r.close(); err != nil {
			errs = append(errs, err)
		}
		delete(c.readers, num)
	}
	c.closed = true
	return errors.Join(errs...)
}

// openReaders returns the number of open (mapped) readers.
func (c *tableCache) openReaders() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.readers)
}
