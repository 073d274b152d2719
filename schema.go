package srdb

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Schema limits. They bound what NewSchema and schema.json accept.
const (
	maxSchemaFields    = 1024 // fields per table (not counting dropped ones)
	maxSchemaSlots     = 4096 // row positions per table, dropped fields included
	maxFieldCommentLen = 1024 // bytes of Field.Comment
)

// Field describes one column of a table.
type Field struct {
	Name     string    // column name: ^[A-Za-z][A-Za-z0-9_]{0,63}$
	Type     FieldType // one of the 22 field types
	Indexed  bool      // keep a secondary index on this field
	Nullable bool      // the field may be absent or nil in a row
	Comment  string    // free text shown by tools, at most 1024 bytes of UTF-8
}

// Schema is the validated, immutable definition of a table's fields. Build it
// with NewSchema (or from a struct with StructToFields). A *Schema is safe for
// concurrent use.
//
// Internally a schema is a list of slots: slot i is field i of every ROW1 row
// of the table. AddField appends a slot; DropField keeps the slot of the
// dropped field (rows written before the drop still carry its value there)
// but marks it dropped: it is invisible to Fields, Field, queries and
// inserts, new rows store NULL in it, and its name is never reused (see
// docs/FORMAT.md, schema.json).
type Schema struct {
	name    string
	fields  []Field        // every slot in row order, dropped ones included; never modified after construction
	dropped []bool         // dropped[i]: slot i is a dropped field; nil when none is
	visible int            // number of slots not dropped
	byName  map[string]int // name of a field that is not dropped → its slot
	// nameKeys[i] is nameKey of slot i's name (0 for a dropped slot), for
	// schemas of up to nameKeyLookupMax slots; nil for larger ones.
	nameKeys []uint32
	typs     []FieldType // fields[i].Type, cached for the row codec
	plans    sync.Map    // reflect.Type → *structPlan, see rowFromStruct
	// scanPlans: reflect.Type → *scanPlan, see scanPlanFor
	scanPlans sync.Map
	// composite lists the composite indexes (2 to 4 fields each, in key
	// order), in declaration order; never modified after construction.
	// Single-field indexes are Field.Indexed (schema_index.go).
	composite [][]string
	// unique names the indexes (a field name, or a composite index name)
	// that are unique: no two live rows hold the same non-NULL key
	// (unique.go). Sorted; never modified once the schema is shared.
	unique []string

	// The indexes of the schema (indexedFields) and its unique ones
	// (uniqueFields), computed once on first use: every write and index
	// lookup asks. Read-only once computed.
	indexesOnce sync.Once
	indexes     []idxField
	uniqueOnce  sync.Once
	uniques     []idxField

	// The memory layout of the decoded rows (row_mem.go), computed once on
	// first use. Read-only once computed.
	rowMemOnce sync.Once
	rowMemVal  *rowMem
}

// nameKeyLookupMax is the largest number of slots of a schema whose
// fieldIndex searches nameKeys rather than byName.
const nameKeyLookupMax = 16

// nameKey summarizes a field name, never empty, in a nonzero word: its
// length and its first and last bytes.
func nameKey(name string) uint32 {
	if name == "" {
		return 0
	}
	return uint32(len(name))<<16 | uint32(name[0])<<8 | uint32(name[len(name)-1])
}

// NewSchema validates the fields and returns the schema of a table called
// name. It checks the table name and every field name (names.go; names starting
// with '_' are reserved for _seq and _time), rejects duplicate names (case
// sensitive), unknown types, Indexed on an Object or Array field, comments
// over 1024 bytes or not UTF-8, and schemas with no fields or more than 1024. Errors are ErrInvalidName or
// ErrInvalidSchema naming the field. The fields slice is copied.
//
// Options declare more than the fields: WithIndex declares a composite
// index (an index over several fields in order, see Table.CreateIndex).
func NewSchema(name string, fields []Field, opts ...SchemaOption) (*Schema, error) {
	return newSchemaFromOptions(name, fields, opts)
}

// newSchemaSlots builds a schema from its slots (see Schema): fields[i] is
// slot i, dropped[i] (dropped may be nil) marks a dropped field. A dropped
// slot is stored Nullable and not Indexed whatever fields says. Names are
// unique across all slots, dropped ones included, so the name of a dropped
// field can never come back on another slot.
func newSchemaSlots(name string, fields []Field, dropped []bool) (*Schema, error) {
	return newSchemaFull(name, fields, dropped, nil)
}

// newSchemaFull is newSchemaSlots with the composite indexes of the schema
// (each 2 to 4 visible, indexable, distinct fields; see schema_index.go).
func newSchemaFull(name string, fields []Field, dropped []bool, composite [][]string) (*Schema, error) {
	if err := validateName("table", name); err != nil {
		return nil, err
	}
	if dropped != nil && len(dropped) != len(fields) {
		return nil, newError(CodeInvalidSchema, "table %q: %d drop marks for %d fields", name, len(dropped), len(fields))
	}
	if len(fields) > maxSchemaSlots {
		return nil, newError(CodeInvalidSchema, "table %q: %d fields (dropped ones included), the limit is %d", name, len(fields), maxSchemaSlots)
	}
	s := &Schema{
		name:   name,
		fields: make([]Field, len(fields)),
		byName: make(map[string]int, len(fields)),
		typs:   make([]FieldType, len(fields)),
	}
	copy(s.fields, fields)
	for _, d := range dropped {
		if d {
			s.dropped = slices.Clone(dropped)
			break
		}
	}
	for i := range s.fields {
		f := &s.fields[i]
		if s.isDropped(i) {
			f.Nullable, f.Indexed = true, false
		}
		if err := validateField(f); err != nil {
			return nil, err
		}
		if j, dup := s.byName[f.Name]; dup {
			if s.isDropped(i) || s.isDropped(j) {
				return nil, fieldError(CodeInvalidSchema, f.Name, "field name %q belonged to a dropped field (fields %d and %d); the name of a dropped field cannot be reused", f.Name, j, i)
			}
			return nil, fieldError(CodeInvalidSchema, f.Name, "duplicate field name (fields %d and %d)", j, i)
		}
		s.byName[f.Name] = i
		s.typs[i] = f.Type
		if !s.isDropped(i) {
			s.visible++
		}
	}
	for i := range s.dropped {
		if s.dropped[i] {
			delete(s.byName, s.fields[i].Name)
		}
	}
	if len(s.fields) <= nameKeyLookupMax {
		s.nameKeys = make([]uint32, len(s.fields))
		for i := range s.fields {
			if !s.isDropped(i) {
				s.nameKeys[i] = nameKey(s.fields[i].Name)
			}
		}
	}
	if s.visible == 0 {
		return nil, newError(CodeInvalidSchema, "table %q: a schema needs at least one field", name)
	}
	if s.visible > maxSchemaFields {
		return nil, newError(CodeInvalidSchema, "table %q: %d fields, the limit is %d", name, s.visible, maxSchemaFields)
	}
	if err := s.setComposite(composite); err != nil {
		return nil, err
	}
	return s, nil
}

// isDropped reports whether slot i belongs to a dropped field.
func (s *Schema) isDropped(i int) bool { return s.dropped != nil && s.dropped[i] }

// checkBuilt returns an ErrInvalidSchema error for a nil schema or one not
// made by NewSchema (a zero Schema{} has no name and no fields), and for a
// schema whose name is not table: CreateTable and EnsureTable refuse both
// before touching the disk.
func (s *Schema) checkBuilt(op, table string) error {
	if s == nil {
		return tableError(CodeInvalidSchema, table, "%s with a nil schema", op)
	}
	if s.name == "" || s.visible == 0 || s.byName == nil || len(s.typs) != len(s.fields) {
		return tableError(CodeInvalidSchema, table, "%s with a Schema not made by NewSchema (a zero Schema{} has no fields)", op)
	}
	if s.name != table {
		return tableError(CodeInvalidSchema, table, "%s: the schema is named %q, not %q (NewSchema's name must be the table's)", op, s.name, table)
	}
	return nil
}

// validateField checks one field definition on its own.
func validateField(f *Field) error {
	if isReservedFieldName(f.Name) {
		e := newError(CodeInvalidName, "field name %q is reserved: names starting with '_' belong to system fields (%s, %s)", f.Name, sysFieldSeq, sysFieldTime)
		e.Field = f.Name
		return e
	}
	if err := validateName("field", f.Name); err != nil {
		if e, ok := err.(*Error); ok {
			e.Field = f.Name
		}
		return err
	}
	if !f.Type.Valid() {
		return fieldError(CodeInvalidSchema, f.Name, "invalid field type %d", uint8(f.Type))
	}
	if f.Indexed && !indexableType(f.Type) {
		return fieldError(CodeInvalidSchema, f.Name, "%s fields cannot be indexed (their JSON has no useful order)", f.Type)
	}
	if len(f.Comment) > maxFieldCommentLen {
		return fieldError(CodeInvalidSchema, f.Name, "comment is %d bytes long, the limit is %d", len(f.Comment), maxFieldCommentLen)
	}
	if !utf8.ValidString(f.Comment) {
		return fieldError(CodeInvalidSchema, f.Name, "comment is not valid UTF-8")
	}
	return nil
}

// fieldError builds an *Error of the given code with Field set.
func fieldError(code int, field, format string, args ...any) *Error {
	e := newError(code, format, args...)
	e.Field = field
	return e
}

// Name returns the table name the schema was created with ("" for a nil
// Schema).
func (s *Schema) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Fields returns a copy of the fields in declaration order (a field added by
// AddField comes after the fields the table was created with; a dropped field
// is not listed). It returns nil for a nil Schema.
func (s *Schema) Fields() []Field {
	if s == nil {
		return nil
	}
	out := make([]Field, 0, s.visible)
	for i, f := range s.fields {
		if !s.isDropped(i) {
			out = append(out, f)
		}
	}
	return out
}

// Field returns the field called name and true, or a zero Field and false.
func (s *Schema) Field(name string) (Field, bool) {
	if s == nil {
		return Field{}, false
	}
	if i, ok := s.byName[name]; ok {
		return s.fields[i], true
	}
	return Field{}, false
}

// NumFields returns the number of fields (system fields not included).
func (s *Schema) NumFields() int {
	if s == nil {
		return 0
	}
	return s.visible
}

// String returns a one-line description such as
// "messages(channel_id string indexed, payload bytes nullable)", with each
// composite index last ("…, index(channel_id,msg_seq))").
func (s *Schema) String() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(s.name)
	b.WriteByte('(')
	first := true
	for i, f := range s.fields {
		if s.isDropped(i) {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(f.Name)
		b.WriteByte(' ')
		b.WriteString(f.Type.String())
		if f.Indexed {
			b.WriteString(" indexed")
			if s.isUnique(f.Name) {
				b.WriteString(" unique")
			}
		}
		if f.Nullable {
			b.WriteString(" nullable")
		}
	}
	for _, c := range s.composite {
		if s.isUnique(compositeIndexName(c)) {
			b.WriteString(", unique index(")
			b.WriteString(compositeIndexName(c))
			b.WriteByte(')')
			continue
		}
		b.WriteString(", index(")
		b.WriteString(compositeIndexName(c))
		b.WriteByte(')')
	}
	b.WriteByte(')')
	return b.String()
}

// fieldIndex returns the slot (position in rows) of the field called name,
// or -1 when there is no such field or it was dropped. Row.Get asks for
// every value it returns; in a schema of up to nameKeyLookupMax slots it
// compares name's nameKey with each slot's (names of a schema rarely share
// one) and the names only on a match, several times faster than hashing
// name for byName.
func (s *Schema) fieldIndex(name string) int {
	if s.nameKeys != nil {
		k := nameKey(name)
		for i, sk := range s.nameKeys {
			if sk == k && s.fields[i].Name == name {
				return i
			}
		}
		return -1
	}
	if i, ok := s.byName[name]; ok {
		return i
	}
	return -1
}

// types returns the field types in field order. The slice is shared and
// cached: callers must not modify it.
func (s *Schema) types() []FieldType { return s.typs }

// withIndexed returns a copy of s in which field's Indexed flag is on. It is
// how CreateIndex / DropIndex derive the new schema; s itself is unchanged.
// Setting the flag to its current value is not an error. An unknown field or
// a system field is ErrInvalidSchema.
func (s *Schema) withIndexed(field string, on bool) (*Schema, error) {
	i := s.fieldIndex(field)
	if i < 0 {
		if err := validateName("index", field); err != nil {
			return nil, err
		}
		return nil, fieldError(CodeInvalidSchema, field, "table %q has no field %q", s.name, field)
	}
	fields := slices.Clone(s.fields)
	fields[i].Indexed = on
	s2, err := newSchemaFull(s.name, fields, s.dropped, s.composite)
	return carryUnique(s, s2), err
}

// maxPointerDepth bounds how many pointer levels StructToFields and the value
// conversions follow (type P *P is legal Go and would otherwise loop).
const maxPointerDepth = 8

// Go types with a meaning of their own in a schema.
var (
	schTimeType     = reflect.TypeFor[time.Time]()
	schDecimalType  = reflect.TypeFor[decimal.Decimal]()
	schDurationType = reflect.TypeFor[time.Duration]()
	schRawJSONType  = reflect.TypeFor[json.RawMessage]()
)

// StructToFields derives schema fields from a Go struct. v is a struct value,
// a pointer to one (it may be nil: only its type is used), or a reflect.Type
// or reflect.Value of either.
//
// Every exported field becomes a schema field named by its tag or, by default,
// by its Go name in snake_case (ChannelID → channel_id, HTTPServer →
// http_server). The srdb tag is
//
//	srdb:"name;indexed;nullable;comment:text;type:byte"
//
// where name may be empty to keep the default, the options come in any order
// (a comment cannot contain ';'), `type:<name>` overrides the inferred type
// with any FieldType name, and `srdb:"-"` skips the field. A field tagged
// `srdb:"_time"` (time.Time or *time.Time) sets the row time on Insert and a
// field tagged `srdb:"_seq"` is filled by Scan; neither is a schema field.
// Embedded structs are flattened (their fields become nullable when embedded
// through a pointer) unless the tag gives the embedded field a name.
//
// Go types map to field types as follows: intN/uintN/floatN to the type of
// the same name (byte is uint8 and rune int32: use type:byte / type:rune),
// string, bool, decimal.Decimal, time.Time, time.Duration, []byte → Bytes,
// other slices and arrays → Array, maps and other structs → Object. A pointer
// to any of these is the same type with Nullable set. Channels, functions,
// complex numbers and interfaces (without a type: option) are rejected with
// ErrInvalidSchema naming the Go field.
func StructToFields(v any) ([]Field, error) {
	var t reflect.Type
	switch x := v.(type) {
	case nil:
		return nil, newError(CodeInvalidSchema, "StructToFields: nil value, want a struct, a pointer to a struct or a reflect.Type")
	case reflect.Type:
		t = x
	case reflect.Value:
		if x.IsValid() {
			t = x.Type()
		}
	default:
		t = reflect.TypeOf(v)
	}
	st, ok := derefStructType(t)
	if !ok {
		return nil, newError(CodeInvalidSchema, "StructToFields: %v is not a struct type", t)
	}
	cols, err := structColumns(st)
	if err != nil {
		return nil, err
	}
	fields := make([]Field, 0, len(cols))
	for i := range cols {
		c := &cols[i]
		if c.name == sysFieldSeq || c.name == sysFieldTime {
			continue
		}
		if isReservedFieldName(c.name) {
			return nil, fieldError(CodeInvalidName, c.name, "Go field %s: field name %q is reserved (names starting with '_' belong to system fields)", c.goName, c.name)
		}
		if err := validateName("field", c.name); err != nil {
			msg := err.Error()
			if e, ok := err.(*Error); ok {
				msg = e.Msg
			}
			return nil, fieldError(CodeInvalidName, c.name, "Go field %s: %s", c.goName, msg)
		}
		ft := c.typeOverride
		if ft == TypeInvalid {
			var ok bool
			if ft, _, ok = inferFieldType(c.typ); !ok {
				return nil, fieldError(CodeInvalidSchema, c.name, "Go field %s: type %v is not supported (add a type:<name> tag option or srdb:\"-\")", c.goName, c.typ)
			}
		}
		nullable := c.typ.Kind() == reflect.Pointer
		fields = append(fields, Field{
			Name:     c.name,
			Type:     ft,
			Indexed:  c.indexed,
			Nullable: c.nullable || nullable || c.viaPtr,
			Comment:  c.comment,
		})
	}
	if len(fields) == 0 {
		return nil, newError(CodeInvalidSchema, "StructToFields: struct %v has no exported fields", st)
	}
	return fields, nil
}

// derefStructType strips up to maxPointerDepth pointers from t and reports
// whether a struct type remains.
func derefStructType(t reflect.Type) (reflect.Type, bool) {
	for depth := 0; t != nil && t.Kind() == reflect.Pointer; depth++ {
		if depth == maxPointerDepth {
			return nil, false
		}
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, false
	}
	return t, true
}

// inferFieldType maps a Go type to a field type; nullable is true when t is
// a pointer. ok is false for types with no field type.
func inferFieldType(t reflect.Type) (ft FieldType, nullable, ok bool) {
	for depth := 0; t.Kind() == reflect.Pointer; depth++ {
		if depth == maxPointerDepth {
			return TypeInvalid, true, false
		}
		t, nullable = t.Elem(), true
	}
	switch t {
	case schTimeType:
		return Time, nullable, true
	case schDecimalType:
		return Decimal, nullable, true
	case schDurationType:
		return Duration, nullable, true
	}
	switch t.Kind() {
	case reflect.Int:
		ft = Int
	case reflect.Int8:
		ft = Int8
	case reflect.Int16:
		ft = Int16
	case reflect.Int32:
		ft = Int32
	case reflect.Int64:
		ft = Int64
	case reflect.Uint:
		ft = Uint
	case reflect.Uint8:
		ft = Uint8
	case reflect.Uint16:
		ft = Uint16
	case reflect.Uint32:
		ft = Uint32
	case reflect.Uint64, reflect.Uintptr:
		ft = Uint64
	case reflect.Float32:
		ft = Float32
	case reflect.Float64:
		ft = Float64
	case reflect.String:
		ft = String
	case reflect.Bool:
		ft = Bool
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			ft = Bytes
		} else {
			ft = Array
		}
	case reflect.Array:
		ft = Array
	case reflect.Map, reflect.Struct:
		ft = Object
	default: // Chan, Func, Complex64/128, Interface, UnsafePointer
		return TypeInvalid, nullable, false
	}
	return ft, nullable, true
}

// structColumn is one Go struct field that maps to a row column (or to the
// system fields _time / _seq).
type structColumn struct {
	name         string       // column name: tag name or snake_case Go name
	goName       string       // Go field path for messages, e.g. "Base.ID"
	index        []int        // reflect index path, through embedded structs
	typ          reflect.Type // Go type of the field
	viaPtr       bool         // reached through an embedded pointer (may be nil)
	indexed      bool         // tag option "indexed"
	nullable     bool         // tag option "nullable"
	comment      string       // tag option "comment:…"
	typeOverride FieldType    // tag option "type:…", TypeInvalid when absent
}

// structColumns lists the columns of struct type t in field order, flattening
// embedded structs. Two Go fields mapping to the same name, a bad tag, or an
// embedded struct that embeds itself are ErrInvalidSchema.
func structColumns(t reflect.Type) ([]structColumn, error) {
	w := structWalker{visiting: map[reflect.Type]bool{}, seen: map[string]string{}}
	if err := w.walk(t, nil, "", false); err != nil {
		return nil, err
	}
	return w.cols, nil
}

// structWalker carries the state of one structColumns traversal.
type structWalker struct {
	cols     []structColumn
	visiting map[reflect.Type]bool // embedded struct types on the current path
	seen     map[string]string     // column name → Go field path
}

func (w *structWalker) walk(t reflect.Type, index []int, goPrefix string, viaPtr bool) error {
	w.visiting[t] = true
	defer delete(w.visiting, t)
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, _ := sf.Tag.Lookup("srdb")
		if tag == "-" {
			continue
		}
		goName := goPrefix + sf.Name
		name, opts, err := parseSRDBTag(tag)
		if err != nil {
			return newError(CodeInvalidSchema, "Go field %s: %w", goName, err)
		}
		path := append(append([]int(nil), index...), i)
		if sf.Anonymous && name == "" {
			et, ptr := sf.Type, false
			if et.Kind() == reflect.Pointer {
				et, ptr = et.Elem(), true
			}
			if et.Kind() == reflect.Struct && et != schTimeType && et != schDecimalType {
				if opts != (srdbTagOptions{}) {
					return newError(CodeInvalidSchema, "Go field %s: an embedded struct takes no tag options unless the tag names it", goName)
				}
				if w.visiting[et] {
					return newError(CodeInvalidSchema, "Go field %s: struct %v embeds itself", goName, et)
				}
				if err := w.walk(et, path, goName+".", viaPtr || ptr); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = snakeCase(sf.Name)
		}
		if prev, dup := w.seen[name]; dup {
			return fieldError(CodeInvalidSchema, name, "Go fields %s and %s both map to field %q", prev, goName, name)
		}
		w.seen[name] = goName
		w.cols = append(w.cols, structColumn{
			name:         name,
			goName:       goName,
			index:        path,
			typ:          sf.Type,
			viaPtr:       viaPtr,
			indexed:      opts.indexed,
			nullable:     opts.nullable,
			comment:      opts.comment,
			typeOverride: opts.typ,
		})
	}
	return nil
}

// srdbTagOptions are the options of an srdb struct tag after the name.
type srdbTagOptions struct {
	indexed  bool
	nullable bool
	comment  string
	typ      FieldType
}

// parseSRDBTag splits `name;indexed;nullable;comment:text;type:int8`.
// Unknown options are an error, so a typo never goes unnoticed. A first part
// holding ':' is an option (`srdb:"type:byte"`), since names cannot.
func parseSRDBTag(tag string) (name string, opts srdbTagOptions, err error) {
	if tag == "" {
		return "", opts, nil
	}
	parts := strings.Split(tag, ";")
	name = strings.TrimSpace(parts[0])
	opts0 := parts[1:]
	if strings.Contains(name, ":") { // `srdb:"type:byte"`: no name, a name never holds ':'
		name, opts0 = "", parts
	}
	for _, p := range opts0 {
		p = strings.TrimSpace(p)
		key, val, hasVal := strings.Cut(p, ":")
		switch {
		case p == "":
		case p == "indexed":
			opts.indexed = true
		case p == "nullable":
			opts.nullable = true
		case hasVal && key == "comment":
			opts.comment = val
		case hasVal && key == "type":
			t, ok := parseFieldType(strings.TrimSpace(val))
			if !ok {
				return "", opts, fmt.Errorf("unknown type %q in srdb tag", val)
			}
			opts.typ = t
		default:
			return "", opts, fmt.Errorf("unknown srdb tag option %q (want indexed, nullable, comment:… or type:…)", p)
		}
	}
	return name, opts, nil
}

// snakeCase converts a Go identifier to snake_case: an underscore goes
// before an upper-case letter that follows a lower-case letter or digit, or
// that starts a new word after an acronym (HTTPServer → http_server,
// UserID2 → user_id2).
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
