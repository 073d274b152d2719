package srdb

// Resident memory of compaction inputs (target: peak RSS during a 1M-row
// ingest, flush and compaction under 150 MB with default options).
//
// SSTs are read through read-only shared mappings. Every page a compaction
// touches stays in the process's resident set (RssFile) until the mapping
// is closed, so a full compaction of 370 MB of SSTs showed a peak RSS of
// ~370 MB although its heap stayed under 50 MB. Every
// compactionDropPagesEvery bytes of output, dropInputPages asks the kernel
// to drop the input mappings' pages from the resident set (MADV_DONTNEED on
// a file mapping: the pages stay in the page cache and fault back in, with
// the same bytes, on the next access). It is only a hint: FS mappings that
// cannot drop pages (memFS, the private-copy fallback) ignore it.

// An input the merge has read to the end (its largest seq is behind the
// merge) is also evicted from the page cache (evictDoneInputs): the pages
// the outputs need next are then the ones just freed rather than memory
// the process never touched, which costs several times more on a virtual
// machine whose memory the host backs lazily (see osMapping.EvictPages).

// compactionDropPagesEvery is the output volume between two dropInputPages.
const compactionDropPagesEvery = 8 << 20

// pageDropper is implemented by MappedFiles that can drop their pages from
// the resident set (osMapping).
type pageDropper interface {
	DropPages() error
}

// pageEvicter is implemented by MappedFiles that can also drop their file's
// pages from the page cache (osMapping).
type pageEvicter interface {
	EvictPages() error
}

// evictPages drops r's pages from the resident set and the page cache if
// its mapping supports it; errors are ignored (a hint).
func (r *sstReader) evictPages() {
	if d, ok := r.m.(pageEvicter); ok && r.data != nil {
		_ = d.EvictPages()
	}
}

// dropPages drops r's mapped pages from the resident set if its mapping
// supports it; errors are ignored (a hint).
func (r *sstReader) dropPages() {
	if d, ok := r.m.(pageDropper); ok && r.data != nil {
		_ = d.DropPages()
	}
}

// dropInputPages drops the resident pages of every input of plan that is
// open in the table cache. The inputs stay mapped: the compaction's version
// pins them.
func (t *Table) dropInputPages(plan *compactionPlan) {
	for _, files := range plan.inputs {
		for _, f := range files {
			if r, err := t.cache.get(f.num); err == nil {
				r.dropPages()
			}
		}
	}
}

// evictDoneInputs evicts every input of plan whose entries all lie below
// seq (the merge has passed them; they are only read again by queries still
// pinning an older version, from disk) and that is not in evicted yet, and
// adds it there.
func (t *Table) evictDoneInputs(plan *compactionPlan, seq int64, evicted map[uint64]bool) {
	for _, files := range plan.inputs {
		for _, f := range files {
			if f.maxSeq >= seq || evicted[f.num] {
				continue
			}
			evicted[f.num] = true
			if r, err := t.cache.get(f.num); err == nil {
				r.evictPages()
			}
		}
	}
}
