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

// compactionDropPagesEvery is the output volume between two dropInputPages.
const compactionDropPagesEvery = 8 << 20

// pageDropper is implemented by MappedFiles that can drop their pages from
// the resident set (osMapping).
type pageDropper interface {
	DropPages() error
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
