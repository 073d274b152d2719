package srdb

import (
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Canonical forms of writes, for callers that must carry a write to another
// process before it is applied (the replica module proposes writes through a
// raft log): they convert on the proposing side exactly as Insert and Update
// would, so what travels holds only the canonical Go types listed above
// FieldType, and every process that applies it gets the same row.

// CanonicalRows converts data in any form Table.Insert takes (a
// map[string]any, a struct or a pointer to one, or a slice of them) to one
// map per row, in order, as Insert would convert it against s: each non-NULL
// field holds its canonical Go value (see FieldType); a NULL field is absent;
// a row that gives its time (a "_time" key or a field tagged srdb:"_time",
// not zero) carries it under "_time" as a time.Time. Inserting the result
// stores the same rows as inserting data. Errors are those Insert returns for
// the same data (ErrSchemaViolation naming the field; a row of a slice is
// named by its index). MaxRowSize is not checked: the table does that on
// insert.
func (s *Schema) CanonicalRows(data any) ([]map[string]any, error) {
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	switch x := data.(type) {
	case nil:
		return nil, newError(CodeSchemaViolation, "Insert(nil)")
	case map[string]any:
		m, err := s.canonicalRow(x, reflect.Value{})
		if err != nil {
			return nil, err
		}
		return []map[string]any{m}, nil
	case []map[string]any:
		return s.canonicalEach(len(x), func(i int) (any, reflect.Value) { return x[i], reflect.Value{} })
	case []any:
		return s.canonicalEach(len(x), func(i int) (any, reflect.Value) { return x[i], reflect.Value{} })
	}
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, newError(CodeSchemaViolation, "Insert of a nil slice")
		}
		return s.canonicalEach(v.Len(), func(i int) (any, reflect.Value) {
			e := v.Index(i)
			if e.Kind() != reflect.Struct && e.Kind() != reflect.Pointer {
				return e.Interface(), reflect.Value{}
			}
			return nil, e
		})
	case reflect.Struct, reflect.Pointer:
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, newError(CodeSchemaViolation, "Insert of a nil %T", data)
		}
		if v.Kind() == reflect.Struct || v.Elem().Kind() == reflect.Struct {
			m, err := s.canonicalRow(nil, v)
			if err != nil {
				return nil, err
			}
			return []map[string]any{m}, nil
		}
	}
	return nil, newError(CodeSchemaViolation, "Insert takes a map[string]any, a struct or a slice of them, not %T", data)
}

// checkUsable refuses a nil schema or one not made by NewSchema.
func (s *Schema) checkUsable() error {
	if s == nil || s.byName == nil || len(s.typs) != len(s.fields) {
		return newError(CodeInvalidSchema, "a Schema not made by NewSchema")
	}
	return nil
}

// canonicalEach converts the n rows of a slice; row(i) is element i as
// canonicalRow takes it.
func (s *Schema) canonicalEach(n int, row func(i int) (any, reflect.Value)) ([]map[string]any, error) {
	if n == 0 {
		return nil, newError(CodeInvalidArgument, "Insert of an empty slice")
	}
	if n > maxBatchRows {
		return nil, newError(CodeInvalidArgument, "batch of %d rows exceeds the limit of %d", n, maxBatchRows)
	}
	out := make([]map[string]any, n)
	for i := range out {
		v, rv := row(i)
		m, err := s.canonicalRow(v, rv)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				c := *e
				c.Msg = fmt.Sprintf("row %d of the batch: %s", i, e.Msg)
				return nil, &c
			}
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// canonicalRow converts one row: rv when valid (a struct, a pointer to one
// or an interface holding either), else v (a map, a struct or a pointer).
func (s *Schema) canonicalRow(v any, rv reflect.Value) (map[string]any, error) {
	var (
		r   rowValues
		err error
	)
	switch x := v.(type) {
	case map[string]any:
		r, err = s.rowFromMap(x)
	case nil:
		if !rv.IsValid() {
			return nil, newError(CodeSchemaViolation, "nil row")
		}
		r, err = s.rowFromStruct(rv)
	default:
		r, err = s.rowFromStruct(reflect.ValueOf(v))
	}
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(r.vals)+1)
	for i, val := range r.vals {
		if val != nil && !s.isDropped(i) {
			m[s.fields[i].Name] = val
		}
	}
	if r.hasTime {
		m[sysFieldTime] = time.Unix(0, r.timeNanos).UTC()
	}
	return m, nil
}

// CanonicalChanges converts the values of changes, as Table.Update takes
// them, to their canonical Go values against s (nil stays nil: set the
// field to NULL). Updating with the result writes the same row version as
// updating with changes. Errors are those Update returns: a nil map, an
// unknown field, _seq or _time, a value that does not fit its field.
func (s *Schema) CanonicalChanges(changes map[string]any) (map[string]any, error) {
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	if changes == nil {
		return nil, newError(CodeSchemaViolation, "nil changes")
	}
	out := make(map[string]any, len(changes))
	for name, v := range changes {
		i, ok := s.byName[name]
		if !ok || s.isDropped(i) {
			if name == sysFieldTime {
				return nil, fieldError(CodeSchemaViolation, sysFieldTime, "_time cannot be changed by Update")
			}
			return nil, s.unknownKeyError(map[string]any{name: v})
		}
		cv, err := convertField(&s.fields[i], v, 0)
		if err != nil {
			return nil, err
		}
		out[name] = cv
	}
	return out, nil
}
