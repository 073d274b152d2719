package srdb

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNilAndZeroReceivers calls every exported method of Database, Table,
// Query, Rows, Row, Schema and Error on a nil pointer and on a zero value
// (issue 12): none may panic. A method with an error result returns a typed
// *Error (ErrClosed for the handles Database, Table, Query and Rows;
// ErrInvalidArgument or ErrInvalidQuery otherwise); one without returns its
// zero values.
func TestNilAndZeroReceivers(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "n", Type: Int64}})
	require.NoError(t, err)
	type recv struct {
		name string
		db   *Database
		tbl  *Table
		q    *Query
		rows *Rows
		row  *Row
		sch  *Schema
		e    *Error
	}
	receivers := []recv{
		{name: "nil"},
		{name: "zero", db: &Database{}, tbl: &Table{}, q: &Query{}, rows: &Rows{}, row: &Row{}, sch: &Schema{}, e: &Error{}},
	}
	// errCase is a method with an error result; want is the code it must
	// carry (any *Error when 0: a query without a usable table is
	// ErrInvalidQuery when it has no table at all, ErrClosed otherwise).
	type errCase struct {
		name string
		want int
		call func(r recv) error
	}
	errCases := []errCase{
		{"Database.Check", CodeClosed, func(r recv) error { return r.db.Check() }},
		{"Database.CreateTable", CodeClosed, func(r recv) error { _, err := r.db.CreateTable("t", s); return err }},
		{"Database.Table", CodeClosed, func(r recv) error { _, err := r.db.Table("t"); return err }},
		{"Database.DropTable", CodeClosed, func(r recv) error { return r.db.DropTable("t") }},
		{"Database.Close", CodeClosed, func(r recv) error { return r.db.Close() }},
		{"Table.Insert", CodeClosed, func(r recv) error { _, err := r.tbl.Insert(map[string]any{"n": 1}); return err }},
		{"Table.Get", CodeClosed, func(r recv) error { _, err := r.tbl.Get(1); return err }},
		{"Table.GetPartial", CodeClosed, func(r recv) error { _, err := r.tbl.GetPartial(1, "n"); return err }},
		{"Table.Update", CodeClosed, func(r recv) error { return r.tbl.Update(1, map[string]any{"n": 2}) }},
		{"Table.Delete", CodeClosed, func(r recv) error { return r.tbl.Delete(1) }},
		{"Table.Flush", CodeClosed, func(r recv) error { return r.tbl.Flush() }},
		{"Table.Compact", CodeClosed, func(r recv) error { return r.tbl.Compact() }},
		{"Table.CreateIndex", CodeClosed, func(r recv) error { return r.tbl.CreateIndex("n") }},
		{"Table.DropIndex", CodeClosed, func(r recv) error { return r.tbl.DropIndex("n") }},
		{"Table.CreateUniqueIndex", CodeClosed, func(r recv) error { return r.tbl.CreateUniqueIndex("n") }},
		{"Table.Upsert", CodeClosed, func(r recv) error { _, err := r.tbl.Upsert(map[string]any{"n": 1}); return err }},
		{"Table.Query().Count", 0, func(r recv) error { _, err := r.tbl.Query().Eq("n", 1).Count(); return err }},
		{"Table.Query().Rows", 0, func(r recv) error { _, err := r.tbl.Query().Rows(); return err }},
		{"Query.Rows", 0, func(r recv) error { _, err := r.q.Rows(); return err }},
		{"Query.First", 0, func(r recv) error { _, err := r.q.First(); return err }},
		{"Query.Last", 0, func(r recv) error { _, err := r.q.Last(); return err }},
		{"Query.Count", 0, func(r recv) error { _, err := r.q.Count(); return err }},
		{"Query.Scan", 0, func(r recv) error { var out []map[string]any; return r.q.Scan(&out) }},
		{"Query.Paginate", 0, func(r recv) error { _, _, err := r.q.Paginate(1, 10); return err }},
		{"Query.Explain", 0, func(r recv) error { _, err := r.q.Explain(); return err }},
		{"Query builders then Count", 0, func(r recv) error {
			q := r.q.Where(Eq("n", 1)).Eq("n", 1).NotEq("n", 2).Lt("n", 3).Gt("n", 0).Lte("n", 3).Gte("n", 0).
				In("n", 1).NotIn("n", 2).Between("n", 0, 3).Contains("n", "x").StartsWith("n", "x").
				EndsWith("n", "x").IsNull("n").NotNull("n").Select("n").OrderBy("n").OrderByDesc("n").
				Limit(1).Offset(1)
			_, err := q.Count()
			return err
		}},
		{"Row.Scan", CodeInvalidArgument, func(r recv) error { var m map[string]any; return r.row.Scan(&m) }},
		{"Row.Scan struct", CodeInvalidArgument, func(r recv) error { var v struct{ N int64 }; return r.row.Scan(&v) }},
	}
	// zeroCase is a method without an error result: it must return the
	// zero values of its results.
	type zeroCase struct {
		name string
		call func(r recv) any // the method's results
		want any
	}
	zeroCases := []zeroCase{
		{"Database.Tables", func(r recv) any { return r.db.Tables() }, []string(nil)},
		{"Database.Dir", func(r recv) any { return r.db.Dir() }, ""},
		{"Database.Metrics", func(r recv) any { return r.db.Metrics() }, Metrics{}},
		{"Table.Name", func(r recv) any { return r.tbl.Name() }, ""},
		{"Table.Schema", func(r recv) any { return r.tbl.Schema() }, (*Schema)(nil)},
		{"Table.Indexes", func(r recv) any { return r.tbl.Indexes() }, []string(nil)},
		{"Table.Stats", func(r recv) any { return r.tbl.Stats() }, TableStats{}},
		{"Rows.Next", func(r recv) any { return r.rows.Next() }, false},
		{"Rows.Row", func(r recv) any { return r.rows.Row() }, (*Row)(nil)},
		{"Rows.Err", func(r recv) any { return r.rows.Err() }, nil},
		{"Rows.Close", func(r recv) any { return r.rows.Close() }, nil},
		{"Row.Seq", func(r recv) any { return r.row.Seq() }, int64(0)},
		{"Row.Time", func(r recv) any { return r.row.Time() }, time.Time{}},
		{"Row.Get", func(r recv) any { v, ok := r.row.Get("n"); return []any{v, ok} }, []any{nil, false}},
		{"Row.Get _seq", func(r recv) any { v, ok := r.row.Get("_seq"); return []any{v, ok} }, []any{nil, false}},
		{"Row.Data", func(r recv) any { return r.row.Data() }, map[string]any(nil)},
		{"Schema.Name", func(r recv) any { return r.sch.Name() }, ""},
		{"Schema.Fields", func(r recv) any { return r.sch.Fields() }, []Field(nil)},
		{"Schema.Field", func(r recv) any { f, ok := r.sch.Field("n"); return []any{f, ok} }, []any{Field{}, false}},
		{"Schema.NumFields", func(r recv) any { return r.sch.NumFields() }, 0},
		{"Schema.String", func(r recv) any { return r.sch.String() }, ""},
		{"Schema.UniqueIndexes", func(r recv) any { return r.sch.UniqueIndexes() }, []string(nil)},
	}
	panics := 0
	for _, r := range receivers {
		for _, c := range errCases {
			name := fmt.Sprintf("%s %s", r.name, c.name)
			var err error
			if !assertNoPanic(t, name, func() { err = c.call(r) }) {
				panics++
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s: got %v (%T), want an *Error", name, err, err)
				continue
			}
			if c.want != 0 && e.Code != c.want {
				t.Errorf("%s: code %d (%v), want %d", name, e.Code, err, c.want)
			}
		}
		for _, c := range zeroCases {
			name := fmt.Sprintf("%s %s", r.name, c.name)
			var got any
			if !assertNoPanic(t, name, func() { got = c.call(r) }) {
				panics++
				continue
			}
			if r.name == "zero" && c.name == "Schema.Fields" {
				// A zero Schema has no fields: nil or empty are both fine.
				require.Empty(t, got, name)
				continue
			}
			if r.name == "zero" && c.name == "Schema.String" {
				require.Equal(t, "()", got, name) // no name, no fields
				continue
			}
			require.Equal(t, c.want, got, name)
		}
		// Error is on every error path; a nil *Error still prints.
		name := r.name + " Error.Error"
		assertNoPanic(t, name, func() { _ = r.e.Error(); _ = r.e.Unwrap(); _ = r.e.Is(ErrClosed) })
	}
	require.Zero(t, panics, "calls that panicked")
}

// assertNoPanic runs fn and reports (as a test error) a panic in it.
func assertNoPanic(t *testing.T, name string, fn func()) (ok bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", name, p)
			ok = false
		}
	}()
	fn()
	return true
}
