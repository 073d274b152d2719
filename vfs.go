package srdb

import (
	"errors"
	"io"
	iofs "io/fs"
	"os"
)

// FS is the file system SRDB does all of its I/O through. The default,
// OSFS(), uses the operating system; tests inject faults and simulate power
// loss by passing another implementation in Options.FS.
//
// Paths are slash- or OS-separated paths as produced by path/filepath.Join.
// Implementations must be safe for concurrent use.
type FS interface {
	// Create creates or truncates the named file for writing, mode 0600.
	Create(name string) (File, error)
	// Open opens the named file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing (used to
	// truncate a torn WAL tail).
	OpenReadWrite(name string) (File, error)
	// Rename atomically renames oldname to newname, replacing newname.
	// The rename is durable only after SyncDir of the directory.
	Rename(oldname, newname string) error
	// Link makes newname a second name (a hard link) of the existing file
	// oldname. It fails if newname exists, and where the file system cannot
	// link (another device, no hard links): Database.Checkpoint then copies.
	// The new name is durable only after SyncDir of its directory.
	Link(oldname, newname string) error
	// Remove removes the named file or empty directory.
	Remove(name string) error
	// RemoveAll removes a directory tree.
	RemoveAll(name string) error
	// MkdirAll creates a directory and its parents, mode 0700.
	MkdirAll(name string) error
	// List returns the names (not paths) of the entries of a directory,
	// sorted.
	List(dir string) ([]string, error)
	// Stat returns file information.
	Stat(name string) (os.FileInfo, error)
	// SyncDir fsyncs a directory so that creations, renames and removals of
	// its entries survive power loss.
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on the named file, creating it
	// if needed. It fails at once (does not wait) when another process holds
	// the lock. Closing the returned io.Closer releases the lock.
	Lock(name string) (io.Closer, error)
	// Map maps the named file read-only into memory. The file must not be
	// modified while it is mapped.
	Map(name string) (MappedFile, error)
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync flushes the file's data to stable storage (fdatasync or fsync).
	Sync() error
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Stat returns file information.
	Stat() (os.FileInfo, error)
}

// Optional File methods. A File may also have these methods; SRDB uses them
// when present (OSFS's files have both) and does without them otherwise:
//
//	Preallocate(size int64) error // make the file at least size bytes long,
//	                              // the new bytes reading as zeros (fallocate)
//	SyncData() error              // Sync, minus metadata that reading the
//	                              // data back does not need (fdatasync)
//
// The WAL writer uses them: it reserves the space of the records it is
// about to write ahead of time, so that an append does not change the
// file's size, and then syncs with SyncData, which has no size or time to
// write back (see wal_writer.go, "Preallocation").
type (
	filePreallocator interface{ Preallocate(size int64) error }
	fileDataSyncer   interface{ SyncData() error }
)

// MappedFile is a read-only memory mapping of a whole file.
type MappedFile interface {
	// Bytes returns the mapped contents. The slice stays valid until Close
	// and must never be written to.
	Bytes() []byte
	// Close unmaps the file. Bytes must not be used afterwards.
	Close() error
}

// isNotExist reports whether err says a file does not exist, for any FS.
func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }
