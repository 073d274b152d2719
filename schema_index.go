package srdb

import (
	"slices"
	"strings"
)

// Composite indexes in the schema.
//
// A single-field index is the Field.Indexed flag. A composite index — an
// index over 2 to 4 fields, in order — is a list kept by the schema beside
// its fields and named by its fields joined with "," ("channel_id,msg_seq"):
// that name is what Table.Indexes lists, what propIndexBuilding records and
// what names the index section of each SST. Declare one with WithIndex in
// NewSchema, or add one with Table.CreateIndex(fields...).

// maxIndexFields is the most fields a composite index may have.
const maxIndexFields = 4

// compositeIndexSep joins the field names of a composite index into its
// name. It cannot occur in a field name (names.go).
const compositeIndexSep = ","

// SchemaOption declares something about a table beyond its fields; pass
// options to NewSchema. Make one with WithIndex.
type SchemaOption struct {
	index  []string // WithIndex, WithUniqueIndex
	unique bool     // WithUniqueIndex
}

// WithIndex declares an index over the named fields, in order: a composite
// index with 2 to 4 fields (named "a,b" in Table.Indexes), or, with one
// field, the same as setting that field's Indexed. NewSchema checks the
// fields (each must exist, be indexable — not Object or Array — and appear
// once) and reports a bad declaration as ErrInvalidSchema.
//
//	s, err := srdb.NewSchema("messages", fields, srdb.WithIndex("channel_id", "msg_seq"))
func WithIndex(fields ...string) SchemaOption {
	return SchemaOption{index: slices.Clone(fields)}
}

// WithUniqueIndex declares a unique index over the named fields (one, or 2
// to 4 for a composite index, checked as WithIndex checks them): no two
// live rows may hold the same key, and Insert, Update and Batch refuse a
// duplicate with ErrDuplicateKey (see Table.CreateUniqueIndex).
//
//	s, err := srdb.NewSchema("messages", fields, srdb.WithUniqueIndex("channel_id", "msg_id"))
func WithUniqueIndex(fields ...string) SchemaOption {
	return SchemaOption{index: slices.Clone(fields), unique: true}
}

// newSchemaFromOptions is NewSchema: the fields with the options applied.
func newSchemaFromOptions(name string, fields []Field, opts []SchemaOption) (*Schema, error) {
	var composite [][]string
	var unique []string
	for _, o := range opts {
		if o.unique && len(o.index) > 0 {
			unique = append(unique, compositeIndexName(o.index))
		}
		switch len(o.index) {
		case 0:
			return nil, newError(CodeInvalidSchema, "table %q: WithIndex with no field", name)
		case 1:
			i := slices.IndexFunc(fields, func(f Field) bool { return f.Name == o.index[0] })
			if i < 0 {
				return nil, fieldError(CodeInvalidSchema, o.index[0], "table %q: WithIndex names no field %q", name, o.index[0])
			}
			if !fields[i].Indexed {
				fields = slices.Clone(fields)
				fields[i].Indexed = true
			}
		default:
			composite = append(composite, o.index)
		}
	}
	s, err := newSchemaFull(name, fields, nil, composite)
	if err != nil {
		return nil, err
	}
	if err := s.setUnique(unique); err != nil {
		return nil, err
	}
	return s, nil
}

// compositeIndexName returns the name of the index over fields.
func compositeIndexName(fields []string) string {
	return strings.Join(fields, compositeIndexSep)
}

// setComposite validates the composite indexes of s (whose fields are set)
// and stores a copy of them: 2 to 4 distinct, visible, indexable fields
// each, no index declared twice, a name that fits an SST section name.
func (s *Schema) setComposite(composite [][]string) error {
	for _, c := range composite {
		name := compositeIndexName(c)
		if len(c) < 2 || len(c) > maxIndexFields {
			return fieldError(CodeInvalidSchema, name, "table %q: a composite index has 2 to %d fields, not %d", s.name, maxIndexFields, len(c))
		}
		if len(name) > sstMaxSectionName {
			return fieldError(CodeInvalidSchema, name, "table %q: index name (its fields joined with %q) is %d bytes, the limit is %d", s.name, compositeIndexSep, len(name), sstMaxSectionName)
		}
		for j, f := range c {
			if f == sysFieldSeq || f == sysFieldTime {
				return fieldError(CodeInvalidSchema, name, "table %q: index field %q: system fields cannot be index fields (every index entry already ends with the row's _seq)", s.name, f)
			}
			fld, ok := s.Field(f)
			if !ok {
				if err := validateName("field", f); err != nil {
					return err
				}
				return fieldError(CodeInvalidSchema, name, "table %q: index field %q: no such field", s.name, f)
			}
			if !indexableType(fld.Type) {
				return fieldError(CodeInvalidSchema, name, "table %q: index field %q: %s fields cannot be indexed", s.name, f, fld.Type)
			}
			if slices.Contains(c[:j], f) {
				return fieldError(CodeInvalidSchema, name, "table %q: field %q appears twice in the index", s.name, f)
			}
		}
		if slices.ContainsFunc(s.composite, func(d []string) bool { return slices.Equal(c, d) }) {
			return fieldError(CodeInvalidSchema, name, "table %q: index (%s) declared twice", s.name, name)
		}
		s.composite = append(s.composite, slices.Clone(c))
	}
	return nil
}

// hasComposite reports whether s declares the composite index over fields.
func (s *Schema) hasComposite(fields []string) bool {
	return slices.ContainsFunc(s.composite, func(c []string) bool { return slices.Equal(c, fields) })
}

// withComposite returns a copy of s with the composite index over fields
// added (on) or removed. Adding one s has, or removing one it lacks, is not
// an error. A bad index is ErrInvalidSchema (see setComposite).
func (s *Schema) withComposite(fields []string, on bool) (*Schema, error) {
	comp := slices.Clone(s.composite)
	has := s.hasComposite(fields)
	switch {
	case on && !has:
		comp = append(comp, fields)
	case !on && has:
		comp = slices.DeleteFunc(comp, func(c []string) bool { return slices.Equal(c, fields) })
	}
	s2, err := newSchemaFull(s.name, s.fields, s.dropped, comp)
	return carryUnique(s, s2), err
}

// compositeWithout returns the composite indexes of s that do not use
// field (DropField drops the others), and the names of those it left out.
func (s *Schema) compositeWithout(field string) (kept [][]string, gone []string) {
	for _, c := range s.composite {
		if slices.Contains(c, field) {
			gone = append(gone, compositeIndexName(c))
		} else {
			kept = append(kept, c)
		}
	}
	return kept, gone
}

// CompositeIndexes returns the fields of each composite index the schema
// declares, in declaration order (a copy; nil when there is none).
// Single-field indexes are the fields marked Indexed.
func (s *Schema) CompositeIndexes() [][]string {
	if s == nil || len(s.composite) == 0 {
		return nil
	}
	out := make([][]string, len(s.composite))
	for i, c := range s.composite {
		out[i] = slices.Clone(c)
	}
	return out
}
