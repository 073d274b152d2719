package srdb

// TEMPORARY until the sst branch is merged.
type entryKind uint8

const (
	kindSet    entryKind = 1
	kindDelete entryKind = 2
)

// TEMPORARY until the version branch is merged.
type fileMeta struct {
	num            uint64
	size           uint64
	minSeq, maxSeq int64
}
