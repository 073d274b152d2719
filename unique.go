package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Unique indexes.
//
// A unique index is an ordinary index — a field marked Indexed, or a
// composite index — that the schema also lists as unique (Schema.unique,
// "unique" in schema.json): no two live rows may hold the same key. A key
// with a NULL component never conflicts (SQL semantics), and a deleted or
// expired row holds no key.
//
// Enforcement. Every write of a table (Insert, Update, Upsert, a Batch's
// part) holds the table's writeMu from its read of the newest state to its
// WAL append, so the check "no live row holds this key" and the write that
// relies on it cannot interleave with another write of the same key. The
// check (uniqueCheck.owner) looks the key up in the index over a read state
// pinned with every operation applied so far, committed or not (pinLatest:
// an earlier write either commits, or fails and takes this one down with
// it — see Table.Update), and re-checks each candidate against its newest
// version, since index entries of superseded versions stay until
// compaction. Inside a Batch, or a multi-row Insert, the rows the write
// itself inserts or changes are overlaid (claims, inserted, and the
// batch's own view of each row: tableBatch.current).
//
// Making an existing index unique (CreateUniqueIndex) builds the index if
// needed, then marks it pending under writeMu — every write from then on
// is checked as if the index were unique — and verifies the rows already
// stored without blocking writes (findDuplicate). Only when no key is held
// twice does schema.json say unique; a crash before that leaves the index
// as it was (not unique), and a duplicate found leaves the table as the
// call found it.

// Upsert, with one unique index, finds the row holding the new row's key:
// none — the row is inserted; one — the row is replaced by a new version
// under the same seq. The replacement keeps the row's _time: every version
// of a seq shares one _time in this engine (the _time windows of files and
// memtables, the _time index sections, retention and DeleteBefore's
// tombstones all rely on it), so Upsert is "Update every field".

// uniqueFields returns the unique indexes of s (a subset of
// indexedFields, in its order), computed once per schema; callers must not
// modify the list. setUnique runs before the schema is shared, so the
// cache never sees a schema without its unique list.
func uniqueFields(s *Schema) []idxField {
	s.uniqueOnce.Do(func() {
		for _, f := range indexedFields(s) {
			if s.isUnique(f.name) {
				s.uniques = append(s.uniques, f)
			}
		}
	})
	return s.uniques
}

// setUnique validates names (index names of s, each once) and stores them
// sorted as the unique indexes of s, which must be newly built (not yet
// shared).
func (s *Schema) setUnique(names []string) error {
	for i, name := range names {
		if _, ok := indexNamed(s, name); !ok {
			return fieldError(CodeInvalidSchema, name, "table %q: unique index %q: no such index", s.name, name)
		}
		if slices.Contains(names[:i], name) {
			return fieldError(CodeInvalidSchema, name, "table %q: unique index %q declared twice", s.name, name)
		}
	}
	if len(names) == 0 {
		s.unique = nil
		return nil
	}
	s.unique = slices.Sorted(slices.Values(names))
	return nil
}

// carryUnique gives to (newly built from from) the unique indexes of from
// that to still has (an index dropped with its field, or by DropIndex, is
// no longer unique), and returns it. A nil to is returned as is.
func carryUnique(from, to *Schema) *Schema {
	if to == nil || from == nil || len(from.unique) == 0 {
		return to
	}
	var keep []string
	for _, name := range from.unique {
		if _, ok := indexNamed(to, name); ok {
			keep = append(keep, name)
		}
	}
	to.unique = keep // every kept name is an index of to: setUnique's checks hold
	return to
}

// UniqueIndexes returns the names of the unique indexes of the schema
// (field names, and composite index names "a,b"), sorted; nil when there
// is none.
func (s *Schema) UniqueIndexes() []string {
	if s == nil || len(s.unique) == 0 {
		return nil
	}
	return slices.Clone(s.unique)
}

// isUnique reports whether the index called name is unique in s.
func (s *Schema) isUnique(name string) bool {
	return s != nil && slices.Contains(s.unique, name)
}

// withUnique returns a copy of s in which the index called name (which s
// must have) is unique.
func (s *Schema) withUnique(name string) (*Schema, error) {
	s2, err := newSchemaFull(s.name, s.fields, s.dropped, s.composite)
	if err != nil {
		return nil, err
	}
	if err := s2.setUnique(append(slices.Clone(s.unique), name)); err != nil {
		return nil, err
	}
	return s2, nil
}

// CreateUniqueIndex makes the index over fields (one field, or 2 to 4 for
// a composite index, as CreateIndex takes them) unique, creating and
// building it first when the table lacks it. From then on Insert, Update,
// Upsert and Batch refuse a row whose key a live row already holds with an
// error satisfying errors.Is(err, ErrDuplicateKey); a key with a NULL
// component never conflicts. Rows already stored are verified first: when
// two live rows share a key it returns ErrDuplicateKey naming both seqs
// and leaves the table as it found it (an index it created for the call is
// dropped again). Writes continue while it verifies. Making a unique index
// unique again returns nil. The change is durable when it returns nil.
func (t *Table) CreateUniqueIndex(fields ...string) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	d, err := t.indexDef(fields, true)
	if err != nil {
		return err
	}
	if s := t.Schema(); s.isUnique(d.name) && !t.isBuilding(d.name) {
		return nil
	}
	existed := d.in(t.Schema())
	if err := t.CreateIndex(fields...); err != nil {
		return err
	}
	end, err := t.beginDDL()
	if err != nil {
		return err
	}
	defer end()
	s := t.Schema()
	if !d.in(s) || t.isBuilding(d.name) {
		return tableFieldError(CodeInvalidSchema, t.name, d.name, "CreateUniqueIndex: the index was dropped while it was being built")
	}
	if s.isUnique(d.name) {
		return nil
	}
	// Pending: from here every write checks the key (under writeMu, so no
	// write that did not check it can follow the pin below unnoticed).
	t.writeMu.Lock()
	if t.closed {
		t.writeMu.Unlock()
		return tableClosedError(t.name)
	}
	if t.idx.uniquePending == nil {
		t.idx.uniquePending = map[string]bool{}
	}
	t.idx.uniquePending[d.name] = true
	t.writeMu.Unlock()
	defer func() {
		t.writeMu.Lock()
		delete(t.idx.uniquePending, d.name)
		t.writeMu.Unlock()
	}()
	if err := killPoint("index_unique.after_pending"); err != nil {
		return err
	}
	rs, err := t.pinLatest()
	if err != nil {
		return err
	}
	dup := t.findDuplicate(rs, s, d.name)
	rs.release()
	if dup != nil {
		if !existed && isCode(dup, CodeDuplicateKey) {
			if err := t.dropIndexLocked(d); err != nil {
				return withTable(fmt.Errorf("%w (and dropping the index again failed: %v)", dup, err), t.name)
			}
		}
		return dup
	}
	if err := killPoint("index_unique.after_verify"); err != nil {
		return err
	}
	s2, err := s.withUnique(d.name)
	if err != nil {
		return withTable(err, t.name)
	}
	if err := t.writeSchemaLocked(s2, "index_unique.schema"); err != nil {
		return withTable(err, t.name)
	}
	return killPoint("index_unique.after_schema")
}

// isCode reports whether err is an SRDB *Error with the given code.
func isCode(err error, code int) bool { return ErrorCode(err) == code }

// findDuplicate walks the index called name over rs in key order and
// returns ErrDuplicateKey naming the first key two live rows hold (NULL
// components excluded), an error if the walk failed, or nil.
func (t *Table) findDuplicate(rs *readState, s *Schema, name string) error {
	f, ok := indexNamed(s, name)
	if !ok {
		return nil
	}
	it, err := t.newIndexIter(rs, name, indexRange{}, false)
	if err != nil {
		if err == errIndexNotReady {
			return t.findDuplicateByScan(rs, f)
		}
		return err
	}
	defer it.close()
	var curKey, scratch []byte
	var holder int64
	for it.next() {
		key, seq := it.key(), it.seq()
		if !bytes.Equal(key, curKey) {
			curKey = append(curKey[:0], key...)
			holder = 0
		}
		v, live, err := rowAt(rs, seq)
		if err != nil {
			return withTable(err, t.name)
		}
		if !live || f.hasNull(v) {
			continue
		}
		if scratch, err = f.appendKey(scratch[:0], v); err != nil {
			return withTable(err, t.name)
		}
		if !bytes.Equal(scratch, curKey) {
			continue // a stale entry: the row holds another key now
		}
		if holder != 0 {
			return duplicateKeyError(t.name, f, v, holder, fmt.Sprintf("rows _seq %d and _seq %d both hold it", holder, seq))
		}
		holder = seq
	}
	return withTable(it.err(), t.name)
}

// findDuplicateByScan is findDuplicate for a read state some source of
// which does not index f yet: every live row's key, kept in a map.
func (t *Table) findDuplicateByScan(rs *readState, f idxField) error {
	it := t.newTableIterFrom(rs)
	defer it.close()
	seen := map[string]int64{}
	var key []byte
	for ok := it.first(); ok; ok = it.next() {
		v, err := parseRow(it.value())
		if err != nil {
			return withTable(err, t.name)
		}
		if f.hasNull(v) {
			continue
		}
		if key, err = f.appendKey(key[:0], v); err != nil {
			return withTable(err, t.name)
		}
		if holder, dup := seen[string(key)]; dup {
			return duplicateKeyError(t.name, f, v, holder, fmt.Sprintf("rows _seq %d and _seq %d both hold it", holder, it.seq()))
		}
		seen[string(key)] = it.seq()
	}
	return it.err()
}

// rowAt returns the newest version of seq in rs, parsed, and whether the
// row is live (not deleted, hidden or absent).
func rowAt(rs *readState, seq int64) (rowView, bool, error) {
	kind, val, err := rs.get(seq)
	if err != nil || kind != kindSet {
		return rowView{}, false, err
	}
	v, err := parseRow(val)
	return v, err == nil, err
}

// hasNull reports whether a field of the index is NULL in row v (such a
// key never conflicts).
func (f *idxField) hasNull(v rowView) bool {
	if v.isNull(f.pos) {
		return true
	}
	for _, c := range f.rest {
		if v.isNull(c.pos) {
			return true
		}
	}
	return false
}

// duplicateKeyError is the ErrDuplicateKey error of a row v whose key in
// the unique index f is held by the row holder; why says more.
func duplicateKeyError(table string, f idxField, v rowView, holder int64, why string) error {
	return &Error{
		Code:   CodeDuplicateKey,
		Table:  table,
		Field:  f.name,
		Offset: -1,
		Msg:    fmt.Sprintf("unique index %q: key %s is held by the row with _seq %d (%s)", f.name, describeKey(f, v), holder, why),
	}
}

// describeKey renders the key of row v in index f as (a="x", b=42).
func describeKey(f idxField, v rowView) string {
	cols := append([]idxCol{{name: strings.SplitN(f.name, compositeIndexSep, 2)[0], pos: f.pos, typ: f.typ}}, f.rest...)
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		val, err := v.value(c.pos, c.typ)
		switch x := val.(type) {
		case string:
			fmt.Fprintf(&b, "%s=%q", c.name, truncateForMessage(x))
		case []byte:
			fmt.Fprintf(&b, "%s=%x", c.name, x[:min(len(x), 32)])
		default:
			if err != nil {
				fmt.Fprintf(&b, "%s=?", c.name)
			} else {
				fmt.Fprintf(&b, "%s=%v", c.name, x)
			}
		}
	}
	b.WriteByte(')')
	return b.String()
}

// truncateForMessage shortens s to at most 64 bytes for an error message.
func truncateForMessage(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}

// uniqueCheck answers, for one write under the table's writeMu, which live
// row holds a key of a unique index: the table's newest state (committed or
// not), overlaid with what the write itself did so far (the rows it
// inserted or changed, and in a Batch its own view of each row).
type uniqueCheck struct {
	t *Table
	// multi: the write checks several rows (a multi-row Insert, a Batch),
	// so the keys each row takes must be remembered for the next rows.
	multi bool
	idx   []idxField       // the unique indexes, pending ones included
	rs    *readState       // pinned on first use, with every op (pinLatest)
	tb    *tableBatch      // the batch being built, or nil
	ins   map[int64][]byte // rows this write inserted: seq → current ROW1
	// claims[i]: key of index i → the seq this write gave it to (a hint,
	// re-checked: a later operation may have changed or deleted that row)
	claims []map[string]int64
	key    []byte // scratch of admit
	keyBuf []byte // scratch of keyIs
}

// newUniqueCheckLocked returns the check of a write to t with schema s, or
// nil when the table has no unique index. tb is the batch the write
// belongs to, if any; multi says the write checks several rows. Caller
// holds writeMu while it uses the check (its answers hold only until the
// lock is let go); release unpins the check's read state and may come
// later.
func (t *Table) newUniqueCheckLocked(s *Schema, tb *tableBatch, multi bool) *uniqueCheck {
	if len(s.unique) == 0 && len(t.idx.uniquePending) == 0 {
		return nil
	}
	u := &uniqueCheck{t: t, tb: tb, multi: multi || tb != nil, idx: uniqueFields(s)}
	if len(t.idx.uniquePending) > 0 {
		u.idx = nil
		for _, f := range indexedFields(s) {
			if s.isUnique(f.name) || t.idx.uniquePending[f.name] {
				u.idx = append(u.idx, f)
			}
		}
	}
	if len(u.idx) == 0 {
		return nil
	}
	if u.multi {
		u.claims = make([]map[string]int64, len(u.idx))
	}
	return u
}

// state returns the read state of the check, pinning it on first use:
// every operation of the table so far, committed or not (pinLatest).
func (u *uniqueCheck) state() (*readState, error) {
	if u.rs == nil {
		rs, err := u.t.pinLatest()
		if err != nil {
			return nil, err
		}
		u.rs = rs
	}
	return u.rs, nil
}

// release unpins the read state. Safe on a nil check and to call twice.
func (u *uniqueCheck) release() {
	if u != nil && u.rs != nil {
		u.rs.release()
		u.rs = nil
	}
}

// admit checks that row (ROW1, about to become the newest version of seq)
// holds no key another live row holds, and records its keys. inserted says
// seq is a row this write inserts.
func (u *uniqueCheck) admit(row []byte, seq int64, inserted bool) error {
	if u == nil {
		return nil
	}
	v, err := parseRow(row)
	if err != nil {
		return err
	}
	for i := range u.idx {
		f := &u.idx[i]
		if f.hasNull(v) {
			continue
		}
		if u.key, err = f.appendKey(u.key[:0], v); err != nil {
			return err
		}
		holder, found, err := u.owner(i, u.key)
		if err != nil {
			return err
		}
		if found && holder != seq {
			return duplicateKeyError(u.t.name, *f, v, holder, "a row's key must be unique")
		}
		if !u.multi {
			continue // the write's only row: no later row to check against it
		}
		if u.claims[i] == nil {
			u.claims[i] = map[string]int64{}
		}
		u.claims[i][string(u.key)] = seq
	}
	if inserted && u.multi {
		if u.ins == nil {
			u.ins = map[int64][]byte{}
		}
		u.ins[seq] = row
	}
	return nil
}

// owner returns the live row holding key in unique index i, as the write
// so far leaves the table.
func (u *uniqueCheck) owner(i int, key []byte) (int64, bool, error) {
	if u.multi {
		if seq, ok := u.claims[i][string(key)]; ok {
			if held, err := u.holds(i, seq, key); err != nil || held {
				return seq, held, err
			}
		}
	}
	rs, err := u.state()
	if err != nil {
		return 0, false, err
	}
	f := u.idx[i]
	it, err := u.t.newIndexIter(rs, f.name, indexRangeForEq(key), false)
	if err == errIndexNotReady {
		return u.ownerByScan(i, key)
	}
	if err != nil {
		return 0, false, err
	}
	defer it.close()
	for it.next() {
		seq := it.seq()
		if _, mine := u.ins[seq]; mine {
			continue // its current key is in claims
		}
		held, err := u.holds(i, seq, key)
		if err != nil || held {
			return seq, held, err
		}
	}
	return 0, false, it.err()
}

// ownerByScan is owner for a read state some source of which does not
// index u.idx[i] yet (not expected for a unique index, whose build is
// complete before it is unique; kept so that a write is never wrongly
// refused or admitted): every live row is examined.
func (u *uniqueCheck) ownerByScan(i int, key []byte) (int64, bool, error) {
	it := u.t.newTableIterFrom(u.rs)
	defer it.close()
	for ok := it.first(); ok; ok = it.next() {
		seq := it.seq()
		if _, mine := u.ins[seq]; mine {
			continue
		}
		held, err := u.holds(i, seq, key)
		if err != nil || held {
			return seq, held, err
		}
	}
	return 0, false, it.err()
}

// holds reports whether the current version of seq (as the write so far
// leaves it) is live and holds key in unique index i.
func (u *uniqueCheck) holds(i int, seq int64, key []byte) (bool, error) {
	var row []byte
	switch buf, mine := u.ins[seq]; {
	case mine:
		row = buf
	case u.tb != nil:
		buf, err := u.tb.current(seq)
		if isCode(err, CodeNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		row = buf
	default:
		rs, err := u.state()
		if err != nil {
			return false, err
		}
		v, live, err := rowAt(rs, seq)
		if err != nil || !live {
			return false, err
		}
		return u.keyIs(i, v, key)
	}
	v, err := parseRow(row)
	if err != nil {
		return false, err
	}
	return u.keyIs(i, v, key)
}

// keyIs reports whether row v holds key in unique index i.
func (u *uniqueCheck) keyIs(i int, v rowView, key []byte) (bool, error) {
	f := &u.idx[i]
	if f.hasNull(v) {
		return false, nil
	}
	var err error
	u.keyBuf, err = f.appendKey(u.keyBuf[:0], v)
	return err == nil && bytes.Equal(u.keyBuf, key), err
}

// upsertTarget returns the seq of the live row holding the key that row
// has in the table's one unique index, if any. A table with no unique
// index, or several, refuses Upsert (ErrInvalidQuery).
func (u *uniqueCheck) upsertTarget(s *Schema, row []byte) (int64, bool, error) {
	if len(s.unique) != 1 {
		return 0, false, newError(CodeInvalidQuery, "Upsert needs exactly one unique index to find the row by; the table has %d (%s)", len(s.unique), strings.Join(s.unique, "; "))
	}
	if u == nil {
		return 0, false, newError(CodeInvalidQuery, "Upsert: no unique index")
	}
	i := slices.IndexFunc(u.idx, func(f idxField) bool { return f.name == s.unique[0] })
	if i < 0 {
		return 0, false, newError(CodeInvalidQuery, "Upsert: unique index %q not found", s.unique[0])
	}
	v, err := parseRow(row)
	if err != nil {
		return 0, false, err
	}
	f := &u.idx[i]
	if f.hasNull(v) {
		return 0, false, nil // a NULL component matches no row: insert
	}
	key, err := f.appendKey(nil, v)
	if err != nil {
		return 0, false, err
	}
	return u.owner(i, key)
}

// patchRowTime writes timeNanos into the _time field of an encoded ROW1 row.
func patchRowTime(row []byte, timeNanos int64) {
	binary.LittleEndian.PutUint64(row[rowTimeOffset:], uint64(timeNanos))
}

// checkUnique verifies, for Database.Check, that no two live rows of the
// pinned state rs hold the same key of a unique index.
func (t *Table) checkUnique(rs *readState, s *Schema) error {
	for _, name := range s.unique {
		if err := t.findDuplicate(rs, s, name); err != nil {
			if isCode(err, CodeDuplicateKey) {
				var e *Error
				if errors.As(err, &e) {
					return corruptionError("", -1, "%s", e.Msg)
				}
			}
			return err
		}
	}
	return nil
}
