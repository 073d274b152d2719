package srdb

// This file and its neighbours run plans: a rowSource per access path
// (query_source.go, query_index.go) yields the rows that match the filter, in
// the access path's order, as encoded bytes; a sortSource (query_sort.go)
// reorders them when the plan needs a sort; Rows (rows.go) applies Offset
// and Limit and decodes the rows it returns, and count counts without
// decoding.

// queryStats counts the work of query executions. The executor increments
// it; tests read it to pin down the cost of each plan so that a planner
// regression fails a test instead of only slowing a benchmark. A Rows is
// used by one goroutine, so the counters are plain integers.
type queryStats struct {
	entriesScanned int64 // table entries (rows or tombstones) a scan stepped over
	leafSteps      int64 // of those, entries reached within an SST leaf through the scan's cursor (scanSource.sst)
	rowsRead       int64 // encoded rows fetched and parsed (scan values, lookups that found a row)
	lookups        int64 // point lookups of a seq in the read state
	entriesVisited int64 // index entries visited
	rowsDecoded    int64 // Row values built for the caller
	fieldsDecoded  int64 // field values decoded for the caller (Rows) or read as sort keys
	sortedRows     int64 // rows held by a sort
	indexFallbacks int64 // index plans that ran as scans (index not ready for the read state)
	filesSkipped   int64 // SSTs left out of a scan by the _time bounds
	memsSkipped    int64 // memtables left out of a scan by the _time bounds
	// timeBlocksSkipped counts the _time index blocks (128 rows each) left
	// out between the first and last candidate block of a file.
	timeBlocksSkipped int64
}

// sliceHeap is a container/heap.Interface over a slice ordered by less: the
// shape of the executor's heaps (the heads of an index merge, the rows a
// sort keeps).
type sliceHeap[T any] struct {
	items []T
	less  func(a, b *T) bool
}

func (h *sliceHeap[T]) Len() int           { return len(h.items) }
func (h *sliceHeap[T]) Less(i, j int) bool { return h.less(&h.items[i], &h.items[j]) }
func (h *sliceHeap[T]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *sliceHeap[T]) Push(x any)         { h.items = append(h.items, x.(T)) }
func (h *sliceHeap[T]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// count counts the plan's matching rows in rs without decoding any (Offset
// and Limit are applied by the caller; with a Limit it stops counting at
// Offset+Limit).
func (p *plan) count(rs *readState, st *queryStats) (int64, error) {
	src, _, err := p.source(rs, st, false)
	if err != nil {
		return 0, withTable(err, p.t.name)
	}
	stopAt := int64(-1)
	if p.limit >= 0 {
		stopAt = int64(sortHeapSize(p.offset, p.limit))
	}
	var n int64
	for (stopAt < 0 || n < stopAt) && src.next() {
		n++
	}
	err = src.err()
	if cerr := src.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}
