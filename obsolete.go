package srdb

// Obsolete files: which SSTs, MANIFESTs, WALs and temp files of a table no
// live version needs, and the release of a version's files when its last
// reader unpins it (the only moment an SST may be deleted).

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
)

// removeQuietly removes a file of vs.dir, logging a failure.
func (vs *versionSet) removeQuietly(name string) {
	if err := vs.fs.Remove(filepath.Join(vs.dir, name)); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		vs.opts.logger.Warn("manifest: cannot remove file", "dir", vs.dir, "file", name, "err", err)
	}
}

// releaseVersion is called by the last unref of v: it drops v's hold on its
// files and reports the files that became obsolete.
func (vs *versionSet) releaseVersion(v *version) {
	var obsolete []uint64
	vs.refMu.Lock()
	delete(vs.live, v)
	for l := range v.levels {
		for _, f := range v.levels[l] {
			f.refs--
			switch {
			case f.refs == 0:
				obsolete = append(obsolete, f.num)
			case f.refs < 0 && versionInvariants:
				vs.refMu.Unlock()
				panic(fmt.Sprintf("srdb: file %d refs below zero", f.num))
			}
		}
	}
	if vs.removing == nil {
		vs.removing = make(map[uint64]int)
	}
	for _, num := range obsolete {
		vs.removing[num]++
	}
	vs.refMu.Unlock()
	if vs.opts.onObsolete != nil {
		for _, num := range obsolete {
			vs.opts.onObsolete(num)
		}
	}
	vs.refMu.Lock()
	for _, num := range obsolete {
		if vs.removing[num]--; vs.removing[num] <= 0 {
			delete(vs.removing, num)
		}
	}
	vs.refMu.Unlock()
}

// liveFiles returns the numbers of the SSTs of every live version (the
// current one and those readers still pin).
func (vs *versionSet) liveFiles() map[uint64]bool {
	live := make(map[uint64]bool)
	vs.refMu.Lock()
	defer vs.refMu.Unlock()
	for v := range vs.live {
		for l := range v.levels {
			for _, f := range v.levels[l] {
				live[f.num] = true
			}
		}
	}
	return live
}

// isRemoving reports whether releaseVersion is still removing file num
// (its onObsolete runs): the file may still be on disk although no live
// version names it.
func (vs *versionSet) isRemoving(num uint64) bool {
	vs.refMu.Lock()
	defer vs.refMu.Unlock()
	return vs.removing[num] > 0
}

// unreferencedFiles returns, among the base names of the table directory
// listing names, those the version set does not need: SSTs no live version
// names, MANIFESTs other than the live one, WALs numbered below logNum, and
// temp files. Call it at Open, before any flush or compaction runs (an SST
// being written is not yet named by any version). CURRENT, schema.json and
// unknown names are never returned.
func (vs *versionSet) unreferencedFiles(names []string) []string {
	live := vs.liveFiles()
	manifestNum := vs.manifestFileNum()
	logNum := vs.logNum()
	var out []string
	for _, name := range names {
		typ, num, ok := parseFilename(name)
		if !ok {
			continue
		}
		switch {
		case typ == fileTypeSST && !live[num],
			typ == fileTypeManifest && num != manifestNum,
			typ == fileTypeWAL && num < logNum,
			typ == fileTypeTemp:
			out = append(out, name)
		}
	}
	return out
}
