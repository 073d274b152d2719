package srdb

import (
	"path/filepath"
)

// writeFileAtomic replaces dir/name with data so that after a crash the file
// holds either its old contents or the new ones, never a mix:
//
//  1. write dir/name.tmp and fsync it — the new bytes are on disk before any
//     name points at them;
//  2. rename it over dir/name — atomic on POSIX file systems;
//  3. fsync dir — the rename itself survives power loss.
//
// It is the only way CURRENT, schema.json and database.meta are written.
// killPrefix names the kill points of the steps ("<prefix>.after_tmp_sync",
// "<prefix>.after_rename").
func writeFileAtomic(fs FS, dir, name string, data []byte, killPrefix string) error {
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return ioError("create", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return ioError("write", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ioError("fsync", tmp, err)
	}
	if err := f.Close(); err != nil {
		return ioError("close", tmp, err)
	}
	if err := killPoint(killPrefix + ".after_tmp_sync"); err != nil {
		return err
	}
	if err := fs.Rename(tmp, final); err != nil {
		return ioError("rename", tmp, err)
	}
	if err := killPoint(killPrefix + ".after_rename"); err != nil {
		return err
	}
	if err := fs.SyncDir(dir); err != nil {
		return ioError("fsync dir", dir, err)
	}
	return nil
}
