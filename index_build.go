package srdb

import (
	"errors"
	"log/slog"
	"slices"
	"time"
)

// CreateIndex on a populated table, DropIndex, and the index checks.
//
// CreateIndex(fields...) runs these steps (for a composite index "field"
// below is its name, the fields joined with ","), each durable before the next, under
// Table.idx.ddlMu (one index change at a time):
//
//  1. MANIFEST: add field to the property propIndexBuilding (kill point
//     "index_build.after_marker"). From here a restart resumes the build.
//  2. schema.json with the field Indexed, written atomically, and the new
//     schema published (kill points "index_build.schema.after_tmp_sync",
//     "index_build.schema.after_rename", "index_build.after_schema"). Every
//     memtable created from now on indexes the field, every flush and
//     compaction writes its section.
//  3. Memtables: the active memtable is rotated (or, when it is still
//     empty, starts indexing the field), and every immutable memtable that
//     does not index the field is flushed ("index_build.after_flush").
//  4. SSTs: every live SST without the field's section is rewritten — the
//     same entries plus the sections — to a new file, and one version edit
//     swaps old for new ("index_build.after_sst" once a new file is durable,
//     "index_build.after_swap" once its edit is). An L1+ file is rewritten
//     on its own. L0 is ordered by file number (newest first), so a
//     rewritten L0 file may not get a number above a newer L0 file it does
//     not replace: the L0 files from the oldest one lacking a section to the
//     newest are rewritten together, in ascending order, under flushMu (no
//     flush can add an L0 file in between), and swapped by one edit.
//  5. MANIFEST: remove field from propIndexBuilding
//     ("index_build.after_done"); indexReady turns true.
//
// A crash anywhere leaves old files live until the edit that replaces them
// is durable (new files no version names are removed at Open) and the
// marker set, so Open resumes the build in the background (steps 3–5).
// Until the build completes queries do not use the index (indexReady is
// false, and newIndexIter refuses a read state with a source that does not
// index the field), so they are answered by a scan: index and data never
// disagree. Inserts, updates, deletes and queries proceed during a build.
//
// DropIndex(field) writes schema.json without the flag (kill points
// "index_drop.schema.*", "index_drop.after_schema") and drops the field from
// propIndexBuilding when a build was pending ("index_drop.after_manifest").
// Sections of a dropped index stay in their files, ignored, until compaction
// rewrites them; should the field be indexed again they are still valid
// (a section describes only its own file's immutable rows).

// propIndexBuilding is the MANIFEST table property listing the indexes
// (field names, composite index names) whose CreateIndex build has not
// completed (encodeIndexNames format). Only indexes the schema has count;
// others are stale and dropped by the next update of the property.
const propIndexBuilding = "indexes.building"

// maxBuildConflicts bounds how often a build retries after a concurrent
// compaction replaced a file it was rewriting.
const maxBuildConflicts = 1000

// CreateIndex adds a secondary index and builds it over the rows already
// in the table; it returns when the index is complete and durable. With one
// field it indexes that field (Field.Indexed); with 2 to 4 it adds a
// composite index over the fields in that order, named by them joined with
// "," in Indexes ("channel_id,msg_seq"): its key is the tuple of their
// values, so Eq on the leading fields plus a range or an order on the next
// one is one index range (docs/QUERY.md). Inserts, updates and queries
// continue while it runs (queries do not use the index until it is
// complete). Creating an index that exists returns nil (after finishing
// its build if one was interrupted). An unknown field is ErrInvalidSchema
// (ErrInvalidName for a malformed name), as are no field, more than 4, a
// field named twice and system fields; Object and Array fields cannot be
// indexed (ErrInvalidSchema).
func (t *Table) CreateIndex(fields ...string) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	d, err := t.indexDef(fields, true)
	if err != nil {
		return err
	}
	end, err := t.beginDDL()
	if err != nil {
		return err
	}
	defer end()

	s := t.Schema()
	if !d.in(s) {
		building := t.buildingNames()
		if err := t.writeBuildingLocked(append(building, d.name)); err != nil {
			return withTable(err, t.name)
		}
		if err := killPoint("index_build.after_marker"); err != nil {
			return err
		}
		s2, err := d.with(s, true)
		if err != nil {
			return withTable(err, t.name)
		}
		if err := t.writeSchemaLocked(s2, "index_build.schema"); err != nil {
			return withTable(err, t.name)
		}
		if err := killPoint("index_build.after_schema"); err != nil {
			return err
		}
	} else if !t.isBuilding(d.name) {
		return nil
	}
	return withTable(t.buildIndexesLocked(), t.name)
}

// DropIndex removes the secondary index on the fields (one field, or the
// fields of a composite index in its order). Dropping an index that does
// not exist returns nil; an unknown field is ErrInvalidSchema. The index's
// data is ignored from then on and disappears as compaction rewrites files.
func (t *Table) DropIndex(fields ...string) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	d, err := t.indexDef(fields, false)
	if err != nil {
		return err
	}
	end, err := t.beginDDL()
	if err != nil {
		return err
	}
	defer end()
	return t.dropIndexLocked(d)
}

// dropIndexLocked is DropIndex once the index is resolved. Caller holds
// idx.ddlMu (beginDDL).
func (t *Table) dropIndexLocked(d indexDef) error {
	s := t.Schema()
	if !d.in(s) {
		return nil
	}
	s2, err := d.with(s, false)
	if err != nil {
		return withTable(err, t.name)
	}
	if err := t.writeSchemaLocked(s2, "index_drop.schema"); err != nil {
		return withTable(err, t.name)
	}
	if err := killPoint("index_drop.after_schema"); err != nil {
		return err
	}
	if voided, err := t.voidBuildLocked(d.name); err != nil || !voided {
		return withTable(err, t.name)
	}
	return killPoint("index_drop.after_manifest")
}

// indexDef is the index CreateIndex or DropIndex names.
type indexDef struct {
	name   string   // index name: the field, or the fields joined with ","
	fields []string // 1 to 4 fields
}

// indexDef checks the fields of CreateIndex (create) or DropIndex against
// the current schema and returns the index they name. The checks are
// repeated on the schema of the moment under ddlMu (with).
func (t *Table) indexDef(fields []string, create bool) (indexDef, error) {
	s := t.Schema()
	switch len(fields) {
	case 0:
		return indexDef{}, tableError(CodeInvalidSchema, t.name, "an index needs at least one field")
	case 1:
		field := fields[0]
		f, ok := s.Field(field)
		if !ok {
			_, err := s.withIndexed(field, create)
			return indexDef{}, withTable(err, t.name)
		}
		if create && !indexableType(f.Type) {
			return indexDef{}, tableFieldError(CodeInvalidSchema, t.name, field, "%s fields cannot be indexed", f.Type)
		}
		return indexDef{name: field, fields: fields}, nil
	}
	d := indexDef{name: compositeIndexName(fields), fields: slices.Clone(fields)}
	if _, err := s.withComposite(d.fields, true); err != nil { // validates the fields
		return indexDef{}, withTable(err, t.name)
	}
	return d, nil
}

// in reports whether s has the index.
func (d indexDef) in(s *Schema) bool {
	if len(d.fields) == 1 {
		f, _ := s.Field(d.name)
		return f.Indexed
	}
	return s.hasComposite(d.fields)
}

// with returns s with the index added (on) or removed.
func (d indexDef) with(s *Schema, on bool) (*Schema, error) {
	if len(d.fields) == 1 {
		return s.withIndexed(d.name, on)
	}
	return s.withComposite(d.fields, on)
}

// beginDDL takes idx.ddlMu and registers the caller as background work (so
// that closing the table waits for it); end undoes both.
func (t *Table) beginDDL() (end func(), err error) {
	if err := t.refuseReadOnly("schema or index change"); err != nil {
		return nil, err
	}
	t.idx.ddlMu.Lock()
	if err := t.enterBackground(); err != nil {
		t.idx.ddlMu.Unlock()
		return nil, err
	}
	return func() {
		t.bg.Done()
		t.idx.ddlMu.Unlock()
	}, nil
}

// voidBuildLocked removes field from the MANIFEST's pending index builds
// (its index or the field itself was dropped) and reports whether it was
// there. Caller holds idx.ddlMu.
func (t *Table) voidBuildLocked(field string) (bool, error) {
	if !t.isBuilding(field) {
		return false, nil
	}
	building := slices.DeleteFunc(t.buildingNames(), func(n string) bool { return n == field })
	return true, t.writeBuildingLocked(building)
}

// enterBackground registers the caller in t.bg so that Close waits for it
// (and does not unmap files under it); it fails after Close began. The
// caller calls t.bg.Done.
func (t *Table) enterBackground() error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.closed {
		return tableClosedError(t.name)
	}
	if err := t.readOnlyErr(); err != nil {
		return err
	}
	t.bg.Add(1)
	return nil
}

// isBuilding reports whether field's build is pending.
func (t *Table) isBuilding(field string) bool {
	t.idx.mu.Lock()
	defer t.idx.mu.Unlock()
	return t.idx.building[field]
}

// buildingNames returns the fields whose build is pending, sorted.
func (t *Table) buildingNames() []string {
	t.idx.mu.Lock()
	defer t.idx.mu.Unlock()
	var names []string
	for n, on := range t.idx.building {
		if on {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// writeBuildingLocked makes names the durable list of pending builds
// (propIndexBuilding) and the in-memory one. Caller holds ddlMu.
func (t *Table) writeBuildingLocked(names []string) error {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	edit := &versionEdit{}
	if len(names) == 0 {
		edit.deleteProperty(propIndexBuilding)
	} else {
		edit.setProperty(propIndexBuilding, string(encodeIndexNames(names)))
	}
	t.flushMu.Lock()
	err := t.vs.logAndApply(edit)
	if err == nil {
		t.installVersion(nil)
	}
	t.flushMu.Unlock()
	if err != nil {
		return t.failManifest(err)
	}
	t.idx.mu.Lock()
	t.idx.building = make(map[string]bool, len(names))
	for _, n := range names {
		t.idx.building[n] = true
	}
	t.idx.mu.Unlock()
	return nil
}

// writeSchemaLocked persists s as schema.json and publishes it. Caller
// holds ddlMu.
func (t *Table) writeSchemaLocked(s *Schema, killPrefix string) error {
	data, err := encodeSchemaFile(s)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(t.fs, t.dir, schemaFileName, data, killPrefix); err != nil {
		return err
	}
	t.schema.Store(s)
	return nil
}

// loadIndexBuilds is called by openTable before the table starts: it loads
// the pending builds from the MANIFEST (those of fields the schema indexes).
func (t *Table) loadIndexBuilds() error {
	v := t.vs.current()
	raw, ok := v.property(propIndexBuilding)
	v.unref()
	if !ok {
		return nil
	}
	names, err := decodeIndexNames([]byte(raw), makeFilename(fileTypeManifest, t.vs.manifestFileNum()), -1)
	if err != nil {
		return withTable(err, t.name)
	}
	s := t.Schema()
	building := map[string]bool{}
	for _, n := range names {
		if _, ok := indexNamed(s, n); ok {
			building[n] = true
		}
	}
	t.idx.mu.Lock()
	t.idx.building = building
	t.idx.mu.Unlock()
	return nil
}

// resumeIndexBuilds is called by openTable once the table runs: it finishes
// the pending builds in the background (waitIndexBuilds waits for that).
func (t *Table) resumeIndexBuilds() {
	if len(t.buildingNames()) == 0 {
		return
	}
	if err := t.enterBackground(); err != nil {
		return
	}
	t.idx.resume.Add(1)
	go func() {
		defer t.bg.Done()
		defer t.idx.resume.Done()
		t.idx.ddlMu.Lock()
		defer t.idx.ddlMu.Unlock()
		if len(t.buildingNames()) == 0 {
			return
		}
		t.logger.Info("srdb: resuming index build", slog.Any("fields", t.buildingNames()))
		if err := t.buildIndexesLocked(); err != nil {
			t.idx.resumeErr.Store(&err)
			t.logger.Error("srdb: index build failed", slog.Any("err", err))
		}
	}()
}

// waitIndexBuilds waits for the background build started by Open, if any,
// and returns its error.
func (t *Table) waitIndexBuilds() error {
	t.idx.resume.Wait()
	if p := t.idx.resumeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// buildIndexesLocked runs steps 3–5 for every pending build. Caller holds
// ddlMu and is registered in t.bg.
func (t *Table) buildIndexesLocked() error {
	fields := t.buildingNames()
	if len(fields) == 0 {
		return nil
	}
	start := time.Now()
	if err := t.indexMemtablesLocked(fields); err != nil {
		return err
	}
	if err := killPoint("index_build.after_flush"); err != nil {
		return err
	}
	rewritten, err := t.indexSSTsLocked(fields)
	if err != nil {
		return err
	}
	if err := t.writeBuildingLocked(nil); err != nil {
		return err
	}
	if err := killPoint("index_build.after_done"); err != nil {
		return err
	}
	t.logger.Info("srdb: index built", slog.Any("fields", fields),
		slog.Int("files_rewritten", rewritten), slog.Duration("took", time.Since(start)))
	return nil
}

// memtableLacks reports whether m holds rows but does not index every one
// of fields.
func memtableLacks(m *memtable, fields []string) bool {
	if m.empty() {
		return false
	}
	for _, f := range fields {
		if m.idx.field(f) == nil {
			return true
		}
	}
	return false
}

// indexMemtablesLocked makes every memtable of the read state index fields:
// the active one is rotated (or, empty, extended), the immutable ones that
// lack a field are flushed (their SSTs get the sections, the schema being
// published).
func (t *Table) indexMemtablesLocked(fields []string) error {
	if err := t.beginWrite(); err != nil {
		return err
	}
	var err error
	if t.mem.empty() {
		for _, f := range indexedFields(t.Schema()) {
			if slices.Contains(fields, f.name) {
				t.mem.idx.addField(f)
			}
		}
	} else if memtableLacks(t.mem, fields) {
		err = t.switchMemtableLocked()
	}
	t.writeMu.Unlock()
	if err != nil {
		return err
	}
	for {
		if err := t.checkOpen(); err != nil {
			return err
		}
		if err := t.readOnlyErr(); err != nil {
			return err
		}
		t.stateMu.RLock()
		var imm *memtable
		for _, m := range t.imms {
			if memtableLacks(m, fields) {
				imm = t.imms[0] // flush oldest first, up to the last lacking one
				break
			}
		}
		t.stateMu.RUnlock()
		if imm == nil {
			return nil
		}
		if err := t.flushMemtable(imm); err != nil {
			return t.fail(err)
		}
	}
}

// sstLacks reports whether the SST of f has no section for one of fields.
func (t *Table) sstLacks(f *fileMeta, fields []idxField) (bool, error) {
	r, err := t.cache.get(f.num)
	if err != nil {
		return false, err
	}
	for _, fld := range fields {
		sec, found, err := r.indexSection(fld.name)
		if err != nil {
			return false, err
		}
		if !found || !sec.indexes(fld) {
			return true, nil
		}
	}
	return false, nil
}

// indexSSTsLocked rewrites every live SST that lacks a section of fields
// (step 4) and returns how many files it rewrote.
func (t *Table) indexSSTsLocked(names []string) (int, error) {
	var fields []idxField
	for _, f := range indexedFields(t.Schema()) {
		if slices.Contains(names, f.name) {
			fields = append(fields, f)
		}
	}
	rewritten, conflicts := 0, 0
	for {
		if err := t.checkOpen(); err != nil {
			return rewritten, err
		}
		// The pinned state keeps the files being copied alive even if a
		// concurrent compaction replaces them meanwhile.
		rs, err := t.pin()
		if err != nil {
			return rewritten, err
		}
		n, l0, c, err := t.rewriteDeepFiles(rs.v, fields)
		rs.release()
		rewritten, conflicts = rewritten+n, conflicts+c
		if err != nil {
			return rewritten, err
		}
		if n == 0 && c == 0 && !l0 {
			return rewritten, nil
		}
		if l0 {
			n, ok, err := t.rewriteL0()
			if err != nil {
				return rewritten, err
			}
			if ok {
				rewritten += n
			} else {
				conflicts++
			}
		}
		if conflicts > maxBuildConflicts {
			return rewritten, newError(CodeGeneral, "index build: %d conflicts with concurrent compactions", conflicts)
		}
	}
}

// rewriteDeepFiles rewrites the L1+ files of v that lack a section of
// fields, one edit each. It returns the number rewritten, whether an L0 file
// lacks a section, and the number of conflicts with concurrent compactions.
func (t *Table) rewriteDeepFiles(v *version, fields []idxField) (n int, l0 bool, conflicts int, err error) {
	for level := range v.levels {
		for _, f := range v.levels[level] {
			lacks, err := t.sstLacks(f, fields)
			if err != nil {
				return n, l0, conflicts, err
			}
			if !lacks {
				continue
			}
			if level == 0 {
				l0 = true
				continue
			}
			ok, err := t.rewriteDeepFile(f, level)
			if err != nil {
				return n, l0, conflicts, err
			}
			if ok {
				n++
			} else {
				conflicts++
			}
		}
	}
	return n, l0, conflicts, nil
}

// rewriteDeepFile replaces the L1+ file f by a copy with every index
// section. It returns false (and removes its output) when a concurrent
// compaction replaced f first.
func (t *Table) rewriteDeepFile(f *fileMeta, level int) (bool, error) {
	// Compactions and rewrites exclude each other, so the file cannot be
	// compacted away while it is copied (lock order: compact.mu, flushMu).
	t.compact.mu.Lock()
	defer t.compact.mu.Unlock()
	nm, err := t.rewriteSST(f, t.Schema())
	if err != nil {
		return false, err
	}
	edit := &versionEdit{}
	edit.deleteFile(level, f.num)
	edit.addFile(level, nm)
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	return t.applyRewriteLocked(edit, []*fileMeta{nm})
}

// rewriteL0 rewrites, under flushMu, the L0 files from the oldest one that
// lacks a section to the newest, in ascending file-number order, and swaps
// them with one edit, so that the L0 order (by file number) is unchanged. It
// returns the number of files rewritten, or false when a concurrent
// compaction changed L0 first.
func (t *Table) rewriteL0() (int, bool, error) {
	t.compact.mu.Lock()
	defer t.compact.mu.Unlock()
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	fields := indexedFields(t.Schema())
	v := t.vs.current()
	defer v.unref()
	files := v.levels[0] // newest first
	oldest := -1
	for i, f := range files {
		lacks, err := t.sstLacks(f, fields)
		if err != nil {
			return 0, false, err
		}
		if lacks {
			oldest = i
		}
	}
	if oldest < 0 {
		return 0, true, nil
	}
	edit := &versionEdit{}
	var outs []*fileMeta
	for i := oldest; i >= 0; i-- { // oldest first: new numbers keep the order
		nm, err := t.rewriteSST(files[i], t.Schema())
		if err != nil {
			t.removeOutputs(outs)
			return 0, false, err
		}
		outs = append(outs, nm)
		edit.deleteFile(0, files[i].num)
		edit.addFile(0, nm)
	}
	ok, err := t.applyRewriteLocked(edit, outs)
	return len(outs), ok, err
}

// applyRewriteLocked logs edit and installs the new version. When the edit
// no longer applies (a concurrent compaction removed or moved an input) it
// removes the outputs and returns false. Caller holds flushMu.
func (t *Table) applyRewriteLocked(edit *versionEdit, outs []*fileMeta) (bool, error) {
	defer func() {
		for _, m := range outs {
			t.doneOutput(m.num)
		}
	}()
	if err := killPoint("index_build.after_sst"); err != nil {
		t.removeOutputs(outs)
		return false, err
	}
	err := t.vs.logAndApply(edit)
	if err != nil {
		if errors.Is(err, errEditConflict) {
			t.removeOutputs(outs)
			return false, nil
		}
		return false, t.failManifest(err) // outcome unknown: Open sorts the files out
	}
	t.installVersion(nil)
	if err := killPoint("index_build.after_swap"); err != nil {
		return true, err
	}
	return true, nil
}

// failManifest makes a failed MANIFEST update (sticky in the version set)
// the table's sticky failure too, as a failed flush does; other errors are
// returned unchanged.
func (t *Table) failManifest(err error) error {
	if ErrorCode(err) == CodeReadOnly {
		return t.fail(err)
	}
	return err
}

// removeOutputs deletes files a failed rewrite wrote (no version names them).
func (t *Table) removeOutputs(outs []*fileMeta) {
	for _, m := range outs {
		t.doneOutput(m.num)
		path := makeFilepath(t.dir, fileTypeSST, m.num)
		if err := t.fs.Remove(path); err != nil {
			t.logger.Warn("srdb: removing unused index build output", slog.String("file", path), slog.Any("err", err))
		}
	}
}

// rewriteSST copies every entry of f into a new SST with the index sections
// of s (sections of other kinds are copied verbatim) and returns the new
// file's metadata. The new file is durable; no version names it yet.
func (t *Table) rewriteSST(f *fileMeta, s *Schema) (_ *fileMeta, err error) {
	r, err := t.cache.get(f.num)
	if err != nil {
		return nil, err
	}
	// The output is pending (Check leaves it alone) until the edit naming
	// it is applied or the file is removed (applyRewriteLocked,
	// removeOutputs).
	num := t.newOutputFileNum()
	defer func() {
		if err != nil {
			t.doneOutput(num)
		}
	}()
	w, err := newSSTWriterCompressed(t.fs, t.dir, num, t.compression())
	if err != nil {
		return nil, err
	}
	b := newIndexSectionBuilder(s)
	it := r.newIter()
	n := 0
	for ok := it.first(); ok; ok = it.next() {
		if n++; n%4096 == 0 {
			if err := t.checkOpen(); err != nil {
				w.abort()
				return nil, err
			}
		}
		val := it.value()
		if it.err() != nil {
			break
		}
		var timeNanos int64
		if it.kind() == kindSet {
			if timeNanos, err = storedRowTime(it.seq(), val); err != nil {
				w.abort()
				return nil, locateRowError(err, r.name, -1)
			}
		}
		if err := w.add(it.seq(), it.kind(), timeNanos, val); err != nil {
			w.abort()
			return nil, err
		}
		if err := b.add(it.seq(), it.kind(), val); err != nil {
			w.abort()
			return nil, locateRowError(err, r.name, -1)
		}
	}
	if err := it.close(); err != nil {
		w.abort()
		return nil, err
	}
	for _, sec := range r.secs {
		if sec.kind == sstSectionIndex || sec.kind == sstSectionTime { // rewritten: w builds its own
			continue
		}
		data, _, err := r.section(sec.kind, sec.name)
		if err != nil {
			w.abort()
			return nil, err
		}
		if err := w.addSection(sec.kind, sec.name, data); err != nil {
			w.abort()
			return nil, err
		}
	}
	if err := b.writeTo(w); err != nil {
		w.abort()
		return nil, err
	}
	props, err := w.finish()
	if err != nil {
		return nil, err
	}
	return metaFromProps(props), nil
}
