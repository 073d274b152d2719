package main

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/srdb-go/srdb"
)

// This file renders rows as JSON lines or CSV and parses the values of
// --where filters. The renderings (also in README.md, "Command-line tool"):
//
//	type                  JSON                         CSV
//	ints, uints, byte     number                       digits
//	rune                  number (the code point)      digits
//	float32, float64      number; NaN, +Inf, -Inf as   the same text
//	                      the strings "NaN", "+Inf",
//	                      "-Inf" (JSON has no such
//	                      numbers)
//	decimal               string, exact digits         exact digits
//	string                string (bytes that are not   the text
//	                      UTF-8 become U+FFFD)
//	bool                  true / false                 true / false
//	time, _time           string, RFC 3339 with ns     the same text
//	                      (_time in UTC; a time
//	                      field keeps its zone)
//	duration              string ("1m30s")             the same text
//	bytes                 string, standard base64      standard base64
//	object, array         the JSON value               its JSON text
//	NULL                  null                         empty
//
// A filter value is read the same way back (bytes as base64, duration as
// "1m30s" or nanoseconds, time as RFC 3339; _time also as Unix ns).

// column is one output column: a system field or a schema field.
type column struct {
	name string
	typ  srdb.FieldType // TypeInvalid for _seq and _time
}

// rowValue returns column c of r (nil for NULL).
func rowValue(r *srdb.Row, c column) any {
	switch c.name {
	case "_seq":
		return r.Seq()
	case "_time":
		return r.Time().UTC()
	}
	v, _ := r.Get(c.name)
	return v
}

// appendJSONValue appends the JSON of v (see the file comment).
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case float64:
		return appendFloat(b, x, 64), nil
	case float32:
		return appendFloat(b, float64(x), 32), nil
	case []byte:
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(x)), nil
	case time.Time:
		return strconv.AppendQuote(b, x.Format(time.RFC3339Nano)), nil
	case time.Duration:
		return strconv.AppendQuote(b, x.String()), nil
	case fmt.Stringer: // decimal.Decimal: its exact digits
		return appendJSONString(b, x.String())
	case string:
		return appendJSONString(b, x)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// appendJSONString appends s as a JSON string. Bytes that are not valid
// UTF-8 become U+FFFD (encoding/json's rule).
func appendJSONString(b []byte, s string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return b, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// appendFloat appends a float as a JSON number, or NaN/±Inf as a string.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// csvValue returns the CSV cell of v (see the file comment).
func csvValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case float64:
		return floatText(x, 64), nil
	case float32:
		return floatText(float64(x), 32), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case time.Duration:
		return x.String(), nil
	case map[string]any, []any:
		b, err := appendJSONValue(nil, x)
		return string(b), err
	case fmt.Stringer:
		return x.String(), nil
	}
	return fmt.Sprint(v), nil
}

func floatText(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// rowWriter writes rows as JSON lines or CSV.
type rowWriter struct {
	cols []column
	csv  *csv.Writer // nil for JSON lines
	out  io.Writer
	buf  []byte
}

// newRowWriter returns a writer of cols to out; a CSV writer writes the
// header line first.
func newRowWriter(out io.Writer, cols []column, asCSV bool) (*rowWriter, error) {
	w := &rowWriter{cols: cols, out: out}
	if asCSV {
		w.csv = csv.NewWriter(out)
		head := make([]string, len(cols))
		for i, c := range cols {
			head[i] = c.name
		}
		if err := w.csv.Write(head); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// write writes one row.
func (w *rowWriter) write(r *srdb.Row) error {
	if w.csv != nil {
		rec := make([]string, len(w.cols))
		for i, c := range w.cols {
			s, err := csvValue(rowValue(r, c))
			if err != nil {
				return fmt.Errorf("row %d field %s: %w", r.Seq(), c.name, err)
			}
			rec[i] = s
		}
		return w.csv.Write(rec)
	}
	b := append(w.buf[:0], '{')
	for i, c := range w.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c.name) // field names are ASCII identifiers
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, rowValue(r, c)); err != nil {
			return fmt.Errorf("row %d field %s: %w", r.Seq(), c.name, err)
		}
	}
	b = append(b, '}', '\n')
	w.buf = b
	_, err := w.out.Write(b)
	return err
}

// flush flushes a CSV writer.
func (w *rowWriter) flush() error {
	if w.csv != nil {
		w.csv.Flush()
		return w.csv.Error()
	}
	return nil
}

// columns returns the output columns for the comma-separated list sel
// (every column when sel is ""): _seq and _time always come first.
func columns(s *srdb.Schema, sel string) ([]column, []string, error) {
	cols := []column{{name: "_seq"}, {name: "_time"}}
	if sel == "" {
		for _, f := range s.Fields() {
			cols = append(cols, column{name: f.Name, typ: f.Type})
		}
		return cols, nil, nil
	}
	var names []string
	seen := map[string]bool{}
	for _, n := range strings.Split(sel, ",") {
		n = strings.TrimSpace(n)
		if n == "_seq" || n == "_time" {
			continue
		}
		f, ok := s.Field(n)
		if !ok {
			return nil, nil, fmt.Errorf("table %s has no field %q", s.Name(), n)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		cols = append(cols, column{name: n, typ: f.Type})
		names = append(names, n)
	}
	return cols, names, nil
}

// parseWhere parses one --where condition, "FIELD OP [VALUE]", into a query
// expression; values are read according to the field's type.
func parseWhere(s *srdb.Schema, cond string) (srdb.Expr, error) {
	rest := strings.TrimSpace(cond)
	i := 0
	for i < len(rest) && (rest[i] == '_' || rest[i] >= '0' && rest[i] <= '9' ||
		rest[i] >= 'a' && rest[i] <= 'z' || rest[i] >= 'A' && rest[i] <= 'Z') {
		i++
	}
	field := rest[:i]
	if field == "" {
		return srdb.Expr{}, fmt.Errorf("--where %q: want 'FIELD OP VALUE'", cond)
	}
	rest = strings.TrimSpace(rest[i:])
	op := ""
	for _, sym := range []string{"<=", ">=", "!=", "=", "<", ">"} {
		if strings.HasPrefix(rest, sym) {
			op = sym
			break
		}
	}
	if op == "" {
		j := strings.IndexAny(rest, " \t")
		if j < 0 {
			j = len(rest)
		}
		op = strings.ToLower(rest[:j])
	}
	value := strings.TrimSpace(rest[len(op):])
	typ, err := fieldType(s, field)
	if err != nil {
		return srdb.Expr{}, fmt.Errorf("--where %q: %v", cond, err)
	}
	e, err := buildExpr(field, typ, op, value)
	if err != nil {
		return srdb.Expr{}, fmt.Errorf("--where %q: %v", cond, err)
	}
	return e, nil
}

// whereOps is the operator list of the scan help text.
const whereOps = "= != < > <= >= in notin between contains prefix suffix null notnull"

// buildExpr builds the condition field op value.
func buildExpr(field string, typ srdb.FieldType, op, value string) (srdb.Expr, error) {
	one := func() (any, error) {
		if value == "" {
			return nil, fmt.Errorf("%s needs a value", op)
		}
		return parseValue(field, typ, unquote(value))
	}
	switch op {
	case "=", "!=", "<", ">", "<=", ">=":
		v, err := one()
		if err != nil {
			return srdb.Expr{}, err
		}
		return map[string]func(string, any) srdb.Expr{
			"=": srdb.Eq, "!=": srdb.NotEq, "<": srdb.Lt, ">": srdb.Gt, "<=": srdb.Lte, ">=": srdb.Gte,
		}[op](field, v), nil
	case "in", "notin", "between":
		parts, err := splitList(value)
		if err != nil {
			return srdb.Expr{}, err
		}
		if len(parts) == 0 || (op == "between" && len(parts) != 2) {
			return srdb.Expr{}, fmt.Errorf("%s needs %s", op, map[bool]string{true: "two values LO,HI", false: "values A,B,…"}[op == "between"])
		}
		vs := make([]any, len(parts))
		for i, p := range parts {
			if vs[i], err = parseValue(field, typ, p); err != nil {
				return srdb.Expr{}, err
			}
		}
		switch op {
		case "in":
			return srdb.In(field, vs...), nil
		case "notin":
			return srdb.NotIn(field, vs...), nil
		}
		return srdb.Between(field, vs[0], vs[1]), nil
	case "contains", "prefix", "suffix":
		if typ != srdb.String && typ != srdb.Bytes {
			return srdb.Expr{}, fmt.Errorf("%s needs a string or bytes field, %s is %s", op, field, typeName(typ, field))
		}
		pat := unquote(value)
		if typ == srdb.Bytes {
			b, err := base64.StdEncoding.DecodeString(pat)
			if err != nil {
				return srdb.Expr{}, fmt.Errorf("%q is not base64 (bytes values are written in standard base64)", pat)
			}
			pat = string(b)
		}
		return map[string]func(string, string) srdb.Expr{
			"contains": srdb.Contains, "prefix": srdb.StartsWith, "suffix": srdb.EndsWith,
		}[op](field, pat), nil
	case "null", "notnull":
		if value != "" {
			return srdb.Expr{}, fmt.Errorf("%s takes no value", op)
		}
		if op == "null" {
			return srdb.IsNull(field), nil
		}
		return srdb.NotNull(field), nil
	}
	return srdb.Expr{}, fmt.Errorf("unknown operator %q (want one of: %s)", op, whereOps)
}

// fieldType returns the type of field (TypeInvalid for _seq and _time).
func fieldType(s *srdb.Schema, field string) (srdb.FieldType, error) {
	if field == "_seq" || field == "_time" {
		return srdb.TypeInvalid, nil
	}
	f, ok := s.Field(field)
	if !ok {
		return 0, fmt.Errorf("table %s has no field %q", s.Name(), field)
	}
	return f.Type, nil
}

func typeName(typ srdb.FieldType, field string) string {
	switch field {
	case "_seq":
		return "int64"
	case "_time":
		return "time"
	}
	return typ.String()
}

// unquote returns s without its quotes when s is a JSON string literal
// (so a value can have leading or trailing spaces, or be empty: '""').
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		var u string
		if json.Unmarshal([]byte(s), &u) == nil {
			return u
		}
	}
	return s
}

// splitList splits the value list of in / notin / between: a JSON array,
// or values separated by commas.
func splitList(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, fmt.Errorf("value list %s is not a JSON array: %v", s, err)
		}
		out := make([]string, len(raw))
		for i, r := range raw {
			out[i] = unquote(string(r))
		}
		return out, nil
	}
	if s == "" {
		return nil, nil
	}
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = unquote(strings.TrimSpace(out[i]))
	}
	return out, nil
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

// parseValue reads a filter value for a field of type typ (see the file
// comment). Numbers stay exact (json.Number): the query compares them with
// the field's values exactly, whatever their width.
func parseValue(field string, typ srdb.FieldType, s string) (any, error) {
	bad := func(want string) error {
		return fmt.Errorf("%q is not %s (field %s is %s)", s, want, field, typeName(typ, field))
	}
	switch field {
	case "_seq":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, bad("an integer")
		}
		return n, nil
	case "_time":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil // Unix nanoseconds
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, bad("an RFC 3339 time or Unix nanoseconds")
		}
		return t, nil
	}
	switch typ {
	case srdb.Int, srdb.Int8, srdb.Int16, srdb.Int32, srdb.Int64,
		srdb.Uint, srdb.Uint8, srdb.Uint16, srdb.Uint32, srdb.Uint64, srdb.Byte:
		if !isJSONNumber(s) {
			return nil, bad("a number")
		}
		return json.Number(s), nil
	case srdb.Float32, srdb.Float64:
		if isJSONNumber(s) {
			return json.Number(s), nil
		}
		switch strings.ToLower(s) {
		case "nan":
			return math.NaN(), nil
		case "inf", "+inf":
			return math.Inf(1), nil
		case "-inf":
			return math.Inf(-1), nil
		}
		return nil, bad("a number, NaN, +Inf or -Inf")
	case srdb.Rune:
		if isJSONNumber(s) {
			return json.Number(s), nil
		}
		return s, nil // one character; the query checks it
	case srdb.Decimal:
		if !isJSONNumber(s) {
			return nil, bad("a decimal number")
		}
		return s, nil // the query reads the exact digits
	case srdb.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, bad("true or false")
		}
		return b, nil
	case srdb.String:
		return s, nil
	case srdb.Bytes:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, bad("standard base64")
		}
		return b, nil
	case srdb.Time:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, bad("an RFC 3339 time")
		}
		return t, nil
	case srdb.Duration:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Duration(n), nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, bad("a duration (1m30s) or nanoseconds")
		}
		return d, nil
	case srdb.Object, srdb.Array:
		if !json.Valid([]byte(s)) {
			return nil, bad("JSON")
		}
		return json.RawMessage(s), nil
	}
	return nil, bad("a value of a known type")
}
