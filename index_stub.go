package srdb

import "errors"

// TEMPORARY stand-in for the secondary-index API of index.go (branch
// "index"), so that the query engine builds and runs before that branch is
// merged. The lead deletes this file at the merge. With it no index is ever
// ready, so every query falls back to scans.

// indexRange selects index keys: lo/hi bounds (nil: unbounded) with their
// inclusivity, or a key prefix.
type indexRange struct {
	lo, hi                   []byte
	loInclusive, hiInclusive bool
	prefix                   []byte
}

// indexIter walks the (key, seq) entries of an index range.
type indexIter struct{}

func (t *Table) newIndexIter(rs *readState, field string, r indexRange, reverse bool) (*indexIter, error) {
	return nil, newError(CodeGeneral, "secondary indexes are not available in this build (index field %q)", field)
}

func (it *indexIter) next() bool   { return false }
func (it *indexIter) seq() int64   { return 0 }
func (it *indexIter) key() []byte  { return nil }
func (it *indexIter) err() error   { return nil }
func (it *indexIter) close() error { return nil }

func encodeIndexKey(t FieldType, v any) ([]byte, error) {
	return nil, newError(CodeGeneral, "secondary indexes are not available in this build")
}

func indexRangeForEqBeforeSeq(key []byte, beforeSeq int64) indexRange {
	return indexRange{lo: key, hi: key, loInclusive: true, hiInclusive: true}
}

func indexRangeForEqAfterSeq(key []byte, afterSeq int64) indexRange {
	return indexRange{lo: key, hi: key, loInclusive: true, hiInclusive: true}
}

func (t *Table) indexReady(field string) bool { return false }

// errIndexNotReady is returned by newIndexIter when a source of the read
// state does not index the field yet: the caller answers without the index.
var errIndexNotReady = errors.New("srdb: index is not ready")

// appendIndexKeyFromRow appends the index key of field i (type t) of a row.
func appendIndexKeyFromRow(dst []byte, v rowView, i int, t FieldType) ([]byte, error) {
	return dst, newError(CodeGeneral, "secondary indexes are not available in this build")
}
