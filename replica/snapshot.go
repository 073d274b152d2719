package replica

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/srdb-go/srdb"
)

// Snapshots.
//
// FSM.Snapshot (not concurrent with Apply) takes a srdb Checkpoint of the
// database into a directory under <Dir>/snapshots.tmp: hard links of the
// SSTs, copies of the rest, so it is quick. Persist (concurrent with Apply)
// streams that directory to raft's snapshot store; Release removes it.
//
// Stream:
//
//	+----------------+-------------------------+------------------------------+
//	| magic "SRDBSNP1" | applied index u64 LE  | tar of the checkpoint (files |
//	| 8 bytes        | 8 bytes                 | and dirs, relative paths)    |
//	+----------------+-------------------------+------------------------------+
//
// Restore reads the applied index first. At or below the node's own applied
// index (raft restores its newest snapshot at every start; the database
// already holds it and more) it reads nothing else. Otherwise it unpacks the
// tar into <Dir>/data.new (every file and directory fsynced), checks that it
// opens, closes the running database, renames data to data.old and data.new
// to data, fsyncs <Dir>, reopens data and removes data.old. A crash at any
// step leaves either the old directory (data, or data.old restored by
// recoverDirs at the next start; raft then restores the snapshot again) or
// the complete new one.

const snapshotMagic = "SRDBSNP1"

// Snapshot captures the database for raft (raft.FSM).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if p := f.failed.Load(); p != nil {
		return nil, *p
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := f.node
	dir := filepath.Join(n.dir, "snapshots.tmp", fmt.Sprintf("%d-%d", f.applied.Load(), n.snapSeq.Add(1)))
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if err := f.db.Checkpoint(dir); err != nil {
		return nil, err
	}
	return &snapshot{dir: dir, index: f.applied.Load()}, nil
}

// snapshot is a checkpoint directory waiting to be streamed.
type snapshot struct {
	dir   string
	index uint64
}

// Persist streams the checkpoint to sink (raft.FSMSnapshot).
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	err := writeSnapshot(w, s.dir, s.index)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release removes the checkpoint directory (raft.FSMSnapshot).
func (s *snapshot) Release() { _ = os.RemoveAll(s.dir) }

// writeSnapshot writes the stream of the checkpoint in dir to w.
func writeSnapshot(w io.Writer, dir string, index uint64) error {
	var hdr [16]byte
	copy(hdr[:8], snapshotMagic)
	binary.LittleEndian.PutUint64(hdr[8:], index)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return fmt.Errorf("replica: snapshot: %s is not a regular file", path)
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()}
		if info.IsDir() {
			h.Typeflag = tar.TypeDir
			return tw.WriteHeader(h)
		}
		h.Typeflag = tar.TypeReg
		h.Size = info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		n, err := io.Copy(tw, file)
		if err == nil && n != h.Size {
			err = fmt.Errorf("replica: snapshot: %s changed size while streamed", path)
		}
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// snapshotError is a malformed snapshot stream.
func snapshotError(format string, args ...any) error {
	return &srdb.Error{Code: srdb.CodeCorrupted, File: "raft snapshot", Offset: -1, Msg: fmt.Sprintf(format, args...)}
}

// Restore replaces the database by the snapshot in rc (raft.FSM).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var hdr [16]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		return snapshotError("header: %v", err)
	}
	if string(hdr[:8]) != snapshotMagic {
		return snapshotError("magic %q", hdr[:8])
	}
	index := binary.LittleEndian.Uint64(hdr[8:])
	if index <= f.applied.Load() {
		return nil // the database holds it already (a restart)
	}
	n := f.node
	newDir := filepath.Join(n.dir, "data.new")
	if err := os.RemoveAll(newDir); err != nil {
		return err
	}
	if err := untar(rc, newDir); err != nil {
		_ = os.RemoveAll(newDir)
		return err
	}
	// It must open before it replaces anything.
	check, err := srdb.Open(newDir, n.dbOptions())
	if err != nil {
		_ = os.RemoveAll(newDir)
		return fmt.Errorf("replica: snapshot at index %d does not open: %w", index, err)
	}
	got, err := loadApplied(check)
	if cerr := check.Close(); err == nil {
		err = cerr
	}
	if err == nil && got != index {
		err = snapshotError("header says index %d, its %s table %d", index, MetaTable, got)
	}
	if err != nil {
		_ = os.RemoveAll(newDir)
		return err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		n.logger.Warn("replica: closing the database before a restore", "id", n.id, "err", err)
	}
	dataDir := filepath.Join(n.dir, "data")
	oldDir := filepath.Join(n.dir, "data.old")
	swapErr := os.RemoveAll(oldDir)
	if swapErr == nil {
		swapErr = os.Rename(dataDir, oldDir)
	}
	if swapErr == nil {
		swapErr = os.Rename(newDir, dataDir)
	}
	if swapErr == nil {
		swapErr = syncDir(n.dir)
	}
	db, err := srdb.Open(dataDir, n.dbOptions())
	if err != nil {
		// Whatever directory is in place, this node cannot serve: stop it.
		return f.fail(errors.Join(swapErr, err))
	}
	f.db = db
	if swapErr != nil {
		return f.fail(swapErr)
	}
	f.applied.Store(index)
	n.swaps.Add(1)
	_ = os.RemoveAll(oldDir)
	return nil
}

// untar unpacks the tar stream r into the new directory dir, fsyncing
// every file and directory. Only plain relative paths inside dir are
// accepted.
func untar(r io.Reader, dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	dirs := []string{dir}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return snapshotError("tar: %v", err)
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) || strings.Contains(h.Name, `\`) {
			return snapshotError("path %q leaves the directory", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, path)
		case tar.TypeReg:
			if err := writeFileSync(path, tr, h.Size); err != nil {
				return err
			}
		default:
			return snapshotError("%q: tar entry type %q", h.Name, h.Typeflag)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeFileSync creates path with the size bytes of r and fsyncs it.
func writeFileSync(path string, r io.Reader, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(file, io.LimitReader(r, size))
	if err == nil && n != size {
		err = snapshotError("%s: %d of %d bytes", filepath.Base(path), n, size)
	}
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory (its entries).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// recoverDirs finishes or undoes a directory swap a crash interrupted (see
// above): data.new is incomplete or unused; data.old is the database when
// data is missing, else garbage.
func recoverDirs(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "data.new")); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, "snapshots.tmp")); err != nil {
		return err
	}
	data, old := filepath.Join(dir, "data"), filepath.Join(dir, "data.old")
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	if _, err := os.Stat(data); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(old, data); err != nil {
			return err
		}
		return syncDir(dir)
	}
	return os.RemoveAll(old)
}

// counter is an atomic counter (snapshot directory names, swaps).
type counter = atomic.Uint64
