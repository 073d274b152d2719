package srdb

import (
	"slices"
	"strings"
)

// Schema evolution: EnsureTable, AddField, DropField.
//
// A table's schema is a list of slots (see Schema): slot i is field i of
// every ROW1 row. Evolution never rewrites a row or an SST:
//
//   - AddField appends a slot. A row written before it has fewer fields
//     than the schema has slots, and the ROW1 decoder reads every field past
//     a row's FieldCount as NULL, which is why an added field must be
//     Nullable. An insert that encoded its row under the previous schema
//     (it raced the AddField) stores exactly such a row: still valid.
//   - DropField marks its slot dropped. Rows keep their bytes, but nothing
//     reads the slot any more (Fields, Get, Scan, Data, queries), inserts
//     and updates store NULL in it, its index is dropped, and its name can
//     never be used again on that table: old rows and the index sections of
//     old SSTs still hold values under it, which a new field of that name
//     would otherwise inherit.
//
// Each change is one atomic write of schema.json (temp, fsync, rename,
// fsync dir), made under idx.ddlMu like CreateIndex and DropIndex, and only
// then published to readers and writers. A crash before the rename leaves
// the old schema, after it the new one; either decodes every row on disk.
//
// Kill points: "schema.add_field.after_tmp_sync", "schema.add_field.after_rename",
// "schema.add_field.after_schema" (the schema is durable and published), and
// the same three for "schema.drop_field".

// EnsureTable opens or creates the table name. When the table
// does not exist it is created with s, like CreateTable. When it exists its
// schema is compared with s by field name, type and Nullable (Comment and
// field order are ignored):
//
//   - every field of the table must be in s with the same type and
//     Nullable;
//   - a field of s the table lacks must be Nullable and is added (AddField;
//     old rows read it as NULL);
//   - an index s declares and the table lacks is created (CreateIndex); an
//     index of the table that s does not declare is kept. An index s
//     declares unique (WithUniqueIndex) is made unique (CreateUniqueIndex,
//     which fails with ErrDuplicateKey when stored rows share a key); a
//     unique index s does not declare unique stays unique.
//
// Any other difference is ErrSchemaViolation naming the first differing
// field (the table's fields in order, then s's), and nothing is changed. A
// nil or zero Schema, or one whose Name() is not name, is ErrInvalidSchema.
// Running EnsureTable again with the same schema is cheap and changes
// nothing, so a program can call it on every start.
func (db *Database) EnsureTable(name string, s *Schema) (*Table, error) {
	if err := validateName("table", name); err != nil {
		return nil, err
	}
	if err := s.checkBuilt("EnsureTable", name); err != nil {
		return nil, err
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil, ErrClosed
	}
	if err, ok := db.broken[name]; ok {
		db.mu.Unlock()
		return nil, err
	}
	t, ok := db.tables[name]
	if !ok {
		t, err := db.createTableLocked(name, s)
		db.mu.Unlock()
		return t, err
	}
	db.mu.Unlock()
	// Outside db.mu: an added index is built over the table's rows, which
	// must not hold up every other table's Table and CreateTable calls.
	if err := t.ensureSchema(s); err != nil {
		return nil, err
	}
	return t, nil
}

// ensureSchema brings t's schema to s as EnsureTable describes.
func (t *Table) ensureSchema(s *Schema) error {
	add, err := schemaDiff(t.Schema(), s)
	if err != nil {
		return withTable(err, t.name)
	}
	if len(add) > 0 {
		if err := t.addFields(add, true); err != nil {
			return err
		}
	}
	for _, f := range s.Fields() {
		if !f.Indexed || !indexableType(f.Type) {
			continue
		}
		if cur, _ := t.Schema().Field(f.Name); cur.Indexed && !t.isBuilding(f.Name) {
			continue
		}
		if err := t.CreateIndex(f.Name); err != nil {
			return err
		}
	}
	for _, c := range s.composite {
		if t.Schema().hasComposite(c) && !t.isBuilding(compositeIndexName(c)) {
			continue
		}
		if err := t.CreateIndex(c...); err != nil {
			return err
		}
	}
	for _, name := range s.unique { // WithUniqueIndex
		if t.Schema().isUnique(name) {
			continue
		}
		if err := t.CreateUniqueIndex(strings.Split(name, compositeIndexSep)...); err != nil {
			return err
		}
	}
	return nil
}

// schemaDiff compares the schema of a table (cur) with the one a caller
// declares (want) and returns the fields of want that cur lacks (each
// Nullable, Indexed cleared: indexes are created afterwards), or an
// ErrSchemaViolation naming the first difference that adding Nullable
// fields cannot resolve.
func schemaDiff(cur, want *Schema) ([]Field, error) {
	for _, f := range cur.Fields() {
		g, ok := want.Field(f.Name)
		switch {
		case !ok:
			return nil, fieldError(CodeSchemaViolation, f.Name, "the table has field %q (%s) and the schema does not (EnsureTable never drops a field; DropField does)", f.Name, f.Type)
		case g.Type != f.Type:
			return nil, fieldError(CodeSchemaViolation, f.Name, "field %q is %s in the table and %s in the schema", f.Name, f.Type, g.Type)
		case g.Nullable != f.Nullable:
			return nil, fieldError(CodeSchemaViolation, f.Name, "field %q is %s in the table and %s in the schema", f.Name, nullability(f.Nullable), nullability(g.Nullable))
		}
	}
	var add []Field
	for _, g := range want.Fields() {
		if cur.fieldIndex(g.Name) >= 0 {
			continue
		}
		if err := cur.checkAddable(g); err != nil {
			e := *err
			e.Code = CodeSchemaViolation
			return nil, &e
		}
		g.Indexed = false
		add = append(add, g)
	}
	return add, nil
}

func nullability(nullable bool) string {
	if nullable {
		return "nullable"
	}
	return "not nullable"
}

// checkAddable returns why f cannot be added to s (ErrInvalidSchema naming
// the field), or nil.
func (s *Schema) checkAddable(f Field) *Error {
	if err := validateField(&f); err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return fieldError(CodeInvalidSchema, f.Name, "%v", err)
	}
	if !f.Nullable {
		return fieldError(CodeInvalidSchema, f.Name, "new field %q must be Nullable: rows written before it have no value for it", f.Name)
	}
	for i := range s.fields {
		if s.fields[i].Name != f.Name {
			continue
		}
		if s.isDropped(i) {
			return fieldError(CodeInvalidSchema, f.Name, "field %q was dropped; the name of a dropped field cannot be used again (old rows still hold values under it)", f.Name)
		}
		return fieldError(CodeInvalidSchema, f.Name, "field %q already exists", f.Name)
	}
	if s.visible >= maxSchemaFields {
		return fieldError(CodeInvalidSchema, f.Name, "table %q has %d fields, the limit", s.name, s.visible)
	}
	if len(s.fields) >= maxSchemaSlots {
		return fieldError(CodeInvalidSchema, f.Name, "table %q has %d fields counting dropped ones, the limit", s.name, len(s.fields))
	}
	return nil
}

// AddField adds a field to the table. f must be Nullable: rows
// written before the call read it as NULL (no row or file is rewritten).
// Its name must be new: an existing field, or a field dropped with
// DropField, is ErrInvalidSchema naming it, as is an invalid Field. With
// f.Indexed the field's index is then created as by CreateIndex (a crash in
// between leaves the field without its index; EnsureTable or CreateIndex
// completes it). The field exists durably, for every later Insert, Get and
// Query, when AddField returns nil.
func (t *Table) AddField(f Field) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if err := t.Schema().checkAddable(f); err != nil {
		return withTable(err, t.name)
	}
	indexed := f.Indexed
	f.Indexed = false
	if err := t.addFields([]Field{f}, false); err != nil {
		return err
	}
	if indexed {
		return t.CreateIndex(f.Name)
	}
	return nil
}

// addFields appends the fields (Nullable, not Indexed) to the schema in one
// durable schema.json write. With existingOK (EnsureTable), a field that
// exists by then with the same type and nullability (a concurrent
// EnsureTable added it) is skipped; otherwise it is an error.
func (t *Table) addFields(add []Field, existingOK bool) error {
	end, err := t.beginDDL()
	if err != nil {
		return err
	}
	defer end()

	s := t.Schema()
	fields := slices.Clone(s.fields)
	dropped := s.dropped
	for _, f := range add {
		if g, ok := s.Field(f.Name); ok && existingOK && g.Type == f.Type && g.Nullable == f.Nullable {
			continue
		}
		if err := s.checkAddable(f); err != nil {
			return withTable(err, t.name)
		}
		fields = append(fields, f)
		if dropped != nil {
			dropped = append(slices.Clip(dropped), false)
		}
	}
	if len(fields) == len(s.fields) {
		return nil
	}
	s2, err := newSchemaFull(s.name, fields, dropped, s.composite)
	if err != nil {
		return withTable(err, t.name)
	}
	s2 = carryUnique(s, s2)
	if err := t.writeSchemaLocked(s2, "schema.add_field"); err != nil {
		return withTable(err, t.name)
	}
	return killPoint("schema.add_field.after_schema")
}

// DropField removes a field from the table: from then on no
// read returns it, Insert and Update refuse it as an unknown field, queries
// naming it are ErrInvalidQuery, and its index is dropped. Rows are not
// rewritten: the field's slot stays in the row format, new rows store NULL
// in it, and its name cannot be added again. Every composite index using
// the field is dropped with it. An unknown field is
// ErrInvalidSchema; dropping the last field is refused (ErrInvalidSchema).
// The change is durable when DropField returns nil.
func (t *Table) DropField(name string) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	end, err := t.beginDDL()
	if err != nil {
		return err
	}
	defer end()

	s := t.Schema()
	i := s.fieldIndex(name)
	if i < 0 {
		if err := validateName("field", name); err != nil {
			return withTable(err, t.name)
		}
		return tableFieldError(CodeInvalidSchema, t.name, name, "DropField: table has no field %q", name)
	}
	if s.visible == 1 {
		return tableFieldError(CodeInvalidSchema, t.name, name, "DropField: %q is the table's last field", name)
	}
	dropped := make([]bool, len(s.fields))
	copy(dropped, s.dropped)
	dropped[i] = true
	kept, gone := s.compositeWithout(name) // its composite indexes go too
	s2, err := newSchemaFull(s.name, s.fields, dropped, kept)
	if err != nil {
		return withTable(err, t.name)
	}
	s2 = carryUnique(s, s2) // a unique index on the field goes with it
	if err := t.writeSchemaLocked(s2, "schema.drop_field"); err != nil {
		return withTable(err, t.name)
	}
	if err := killPoint("schema.drop_field.after_schema"); err != nil {
		return err
	}
	// A pending build of its indexes is void now (loadIndexBuilds ignores
	// it at Open too; this keeps the MANIFEST property tidy).
	for _, idx := range append([]string{name}, gone...) {
		if _, err := t.voidBuildLocked(idx); err != nil {
			return withTable(err, t.name)
		}
	}
	return nil
}
