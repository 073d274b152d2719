package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/srdb-go/srdb"
)

// This file holds the JSON API handlers; README.md documents each endpoint.

// tableSummary is one entry of GET /api/tables.
type tableSummary struct {
	Name       string   `json:"name"`
	Rows       int64    `json:"rows"`
	DiskBytes  int64    `json:"disk_bytes"`
	MemBytes   int64    `json:"memtable_bytes"`
	Fields     int      `json:"fields"`
	Indexes    []string `json:"indexes"`
	Unique     []string `json:"unique,omitempty"` // the unique ones among Indexes
	Levels     int      `json:"levels"`           // levels holding files
	Files      int      `json:"files"`
	ReadOnly   bool     `json:"read_only,omitempty"`
	OpenFailed string   `json:"error,omitempty"` // why the table could not be opened
}

// handleInfo serves GET /api/info: the database directory and the limits
// the UI needs.
func (s *server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"dir":                s.cfg.dir,
		"page_max":           s.cfg.pageMax,
		"memtable_limit":     s.cfg.memTableSize,
		"query_timeout_ms":   s.cfg.queryTimeout.Milliseconds(),
		"operators":          operatorNames,
		"sample_interval_ms": sampleInterval.Milliseconds(),
	})
}

// handleTables serves GET /api/tables.
func (s *server) handleTables(w http.ResponseWriter, r *http.Request) {
	out := []tableSummary{}
	for _, name := range s.db.Tables() {
		t, err := s.db.Table(name)
		if err != nil {
			out = append(out, tableSummary{Name: name, Indexes: []string{}, OpenFailed: err.Error()})
			continue
		}
		st := t.Stats()
		ts := tableSummary{
			Name: name, Rows: st.Rows, DiskBytes: st.DiskBytes, MemBytes: st.MemTableBytes + st.ImmutableBytes,
			Fields: t.Schema().NumFields(), Indexes: nonNil(t.Indexes()), Unique: t.Schema().UniqueIndexes(), ReadOnly: st.ReadOnly,
		}
		for _, l := range st.Levels {
			if len(l.Files) > 0 {
				ts.Levels++
				ts.Files += len(l.Files)
			}
		}
		out = append(out, ts)
	}
	writeJSON(w, out)
}

// fieldInfo describes one column in API responses.
type fieldInfo struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	Indexed  bool   `json:"indexed"`
	Comment  string `json:"comment"`
	System   bool   `json:"system,omitempty"` // _seq and _time
	Unique   bool   `json:"unique,omitempty"` // a unique index on this field alone
}

// systemFields are the two columns every row has.
var systemFields = []fieldInfo{
	{Name: "_seq", Type: "int64", Indexed: true, System: true, Comment: "row sequence number: unique, increasing, never reused"},
	{Name: "_time", Type: "time", System: true, Comment: "row timestamp (nanoseconds)"},
}

// schemaInfo returns the columns of t: the system fields first.
func schemaInfo(t *srdb.Table) []fieldInfo {
	out := append([]fieldInfo(nil), systemFields...)
	indexed := map[string]bool{}
	for _, n := range t.Indexes() {
		indexed[n] = true
	}
	unique := map[string]bool{}
	for _, n := range t.Schema().UniqueIndexes() {
		unique[n] = true
	}
	for _, f := range t.Schema().Fields() {
		out = append(out, fieldInfo{
			Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable,
			Indexed: f.Indexed || indexed[f.Name], Comment: f.Comment, Unique: unique[f.Name],
		})
	}
	return out
}

// table looks up the {table} path value, writing the error when it fails.
func (s *server) table(w http.ResponseWriter, r *http.Request) (*srdb.Table, bool) {
	t, err := s.db.Table(r.PathValue("table"))
	if err != nil {
		writeDBError(w, err)
		return nil, false
	}
	return t, true
}

// consumerInfo is one consumer group of a table: its committed position
// and its lag (live rows after the position).
type consumerInfo struct {
	Group    string `json:"group"`
	Position int64  `json:"position"`
	Lag      int64  `json:"lag"`
}

// handleTable serves GET /api/tables/{table}: schema, indexes, stats and
// consumer groups.
func (s *server) handleTable(w http.ResponseWriter, r *http.Request) {
	t, ok := s.table(w, r)
	if !ok {
		return
	}
	consumers, err := s.consumers(r.Context(), t)
	if err != nil {
		writeDBError(w, err)
		return
	}
	st := t.Stats()
	writeJSON(w, map[string]any{
		"name":       st.Name,
		"fields":     schemaInfo(t),
		"indexes":    nonNil(t.Indexes()),
		"unique":     nonNil(t.Schema().UniqueIndexes()),
		"rows":       st.Rows,
		"last_seq":   st.LastSeq,
		"disk_bytes": st.DiskBytes,
		"inserts":    st.Inserts,
		"updates":    st.Updates,
		"deletes":    st.Deletes,
		"consumers":  consumers,
	})
}

// consumers returns the table's consumer groups sorted by name, each with
// its lag counted like a query (bounded by the query timeout). It only
// looks: it never creates a group.
func (s *server) consumers(ctx context.Context, t *srdb.Table) ([]consumerInfo, error) {
	out := []consumerInfo{}
	for group, pos := range t.ConsumerPositions() {
		var lag int
		err := s.runQuery(ctx, func(ctx context.Context) error {
			var err error
			lag, err = t.Query().Gt("_seq", pos).WithContext(ctx).Count()
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, consumerInfo{Group: group, Position: pos, Lag: int64(lag)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// rowsResponse is the body of GET /api/tables/{table}/rows.
type rowsResponse struct {
	Columns []fieldInfo `json:"columns"`
	Rows    []gridRow   `json:"rows"`
	Total   int         `json:"total"`
	Page    int         `json:"page"`
	Size    int         `json:"size"`
	Pages   int         `json:"pages"`
	Plan    string      `json:"plan"`
	TookMS  float64     `json:"took_ms"`
}

// gridRow is one row of the grid: its seq and one cell per column, a cell
// being the value's text (cut at maxCellText characters) or null for NULL.
type gridRow struct {
	Seq   int64     `json:"seq"`
	Cells []*string `json:"cells"`
}

// handleRows serves GET /api/tables/{table}/rows: one page of a query.
//
// Parameters: page (1-based, default 1), size (default 50, at most
// --page-max), select (comma-separated columns; default all), order (a
// column), desc (1 for descending), where (a JSON array of conditions, see
// parseWhere).
func (s *server) handleRows(w http.ResponseWriter, r *http.Request) {
	t, ok := s.table(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, err := intParam(q.Get("page"), 1, 1, 1<<40)
	if err != nil {
		writeError(w, http.StatusBadRequest, "page: "+err.Error(), 0)
		return
	}
	size, err := intParam(q.Get("size"), defaultPageSize, 1, s.cfg.pageMax)
	if err != nil {
		writeError(w, http.StatusBadRequest, "size: "+err.Error(), 0)
		return
	}
	if (page-1)*size > maxOffset {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("page %d of %d rows starts beyond the first %d rows: narrow the query with a filter (for example on _seq)", page, size, maxOffset), 0)
		return
	}
	all := schemaInfo(t)
	cols := all
	if q.Has("select") { // "select=" alone keeps only _seq and _time
		cols, err = pickColumns(all, strings.Split(q.Get("select"), ","))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), 0)
			return
		}
	}
	conds, err := parseWhere(t.Schema(), q.Get("where"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), 0)
		return
	}
	query := t.Query().Where(conds...)
	var names []string
	for _, c := range cols {
		if !c.System {
			names = append(names, c.Name)
		}
	}
	if q.Has("select") {
		query.Select(names...)
	}
	if o := q.Get("order"); o != "" {
		if q.Get("desc") == "1" || q.Get("desc") == "true" {
			query.OrderByDesc(o)
		} else {
			query.OrderBy(o)
		}
	}
	plan, err := query.Explain()
	if err != nil {
		writeDBError(w, err)
		return
	}
	start := time.Now()
	res := rowsResponse{Columns: cols, Rows: []gridRow{}, Page: page, Size: size, Plan: plan}
	err = s.runQuery(r.Context(), func(ctx context.Context) error {
		rows, total, err := query.WithContext(ctx).Paginate(page, size)
		if err != nil {
			return err
		}
		defer rows.Close()
		res.Total = total
		for rows.Next() {
			row := rows.Row()
			g := gridRow{Seq: row.Seq(), Cells: make([]*string, len(cols))}
			for i, c := range cols {
				v, ok := row.Get(c.Name)
				if !ok || v == nil {
					continue
				}
				text := cutText(cellText(v), maxCellText)
				g.Cells[i] = &text
			}
			res.Rows = append(res.Rows, g)
		}
		return rows.Close()
	})
	if err != nil {
		writeDBError(w, err)
		return
	}
	s.readCounter(t.Schema().Name()).Add(int64(len(res.Rows)))
	res.Pages = (res.Total + size - 1) / size
	res.TookMS = float64(time.Since(start).Microseconds()) / 1000
	writeJSON(w, res)
}

// runQuery runs fn under the query timeout and the concurrency limit. fn
// gives the context to its query (Query.WithContext), which stops with the
// context's error — context.DeadlineExceeded when the time is up,
// context.Canceled when the client goes away — while it counts or reads
// rows, so fn returns promptly and holds its semaphore slot no longer.
func (s *server) runQuery(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.queryTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.queries <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.queries }()
	return fn(ctx)
}

// pickColumns returns the columns named in sel, in the order of all.
func pickColumns(all []fieldInfo, sel []string) ([]fieldInfo, error) {
	want := map[string]bool{}
	for _, n := range sel {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, c := range all {
			if c.Name == n {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("select: no column %q", n)
		}
		want[n] = true
	}
	var out []fieldInfo
	for _, c := range all {
		if want[c.Name] || c.System {
			out = append(out, c)
		}
	}
	return out, nil
}

// intParam parses an optional integer parameter within [lo, hi].
func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	return n, nil
}

// condition is one element of the where parameter:
//
//	{"field": "channel_id", "op": "eq", "value": "room-01"}
//	{"field": "msg_id", "op": "between", "values": ["10", "20"]}
//	{"field": "topic", "op": "isnull"}
//
// Values are strings (as typed into the filter builder) or JSON numbers
// and booleans; they are converted to the field's type.
type condition struct {
	Field  string            `json:"field"`
	Op     string            `json:"op"`
	Value  json.RawMessage   `json:"value"`
	Values []json.RawMessage `json:"values"`
}

// operatorNames lists the filter operators with the number of values each
// takes (-1: a list).
var operatorNames = []map[string]any{
	{"op": "eq", "label": "=", "args": 1},
	{"op": "neq", "label": "≠", "args": 1},
	{"op": "lt", "label": "<", "args": 1},
	{"op": "lte", "label": "≤", "args": 1},
	{"op": "gt", "label": ">", "args": 1},
	{"op": "gte", "label": "≥", "args": 1},
	{"op": "between", "label": "between", "args": 2},
	{"op": "in", "label": "in", "args": -1},
	{"op": "notin", "label": "not in", "args": -1},
	{"op": "contains", "label": "contains", "args": 1},
	{"op": "startswith", "label": "starts with", "args": 1},
	{"op": "endswith", "label": "ends with", "args": 1},
	{"op": "isnull", "label": "is null", "args": 0},
	{"op": "notnull", "label": "is not null", "args": 0},
}

// parseWhere turns the where parameter into query conditions (ANDed).
func parseWhere(schema *srdb.Schema, raw string) ([]srdb.Expr, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxWhereLen {
		return nil, fmt.Errorf("where: longer than %d bytes", maxWhereLen)
	}
	var conds []condition
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&conds); err != nil {
		return nil, fmt.Errorf("where: not a JSON array of conditions: %v", err)
	}
	if len(conds) > maxConditions {
		return nil, fmt.Errorf("where: %d conditions, at most %d", len(conds), maxConditions)
	}
	var out []srdb.Expr
	for i, c := range conds {
		e, err := c.expr(schema)
		if err != nil {
			return nil, fmt.Errorf("where[%d] (%s %s): %w", i, c.Field, c.Op, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// expr builds the condition's Expr.
func (c condition) expr(schema *srdb.Schema) (srdb.Expr, error) {
	ft := ""
	switch c.Field {
	case "_seq":
		ft = "int64"
	case "_time":
		ft = "_time"
	default:
		f, ok := schema.Field(c.Field)
		if !ok {
			return srdb.Expr{}, fmt.Errorf("no field %q", c.Field)
		}
		ft = f.Type.String()
	}
	one := func() (any, error) {
		if len(c.Value) == 0 {
			if len(c.Values) == 1 {
				return argValue(ft, c.Values[0])
			}
			return nil, fmt.Errorf("needs a value")
		}
		return argValue(ft, c.Value)
	}
	text := func() (string, error) {
		var s string
		if err := json.Unmarshal(c.Value, &s); err != nil {
			return "", fmt.Errorf("needs a string value")
		}
		return s, nil
	}
	list := func() ([]any, error) {
		vals := c.Values
		if len(vals) == 0 && len(c.Value) > 0 {
			vals = []json.RawMessage{c.Value}
		}
		if len(vals) == 0 || len(vals) > maxInValues {
			return nil, fmt.Errorf("needs 1..%d values", maxInValues)
		}
		out := make([]any, len(vals))
		for i, v := range vals {
			a, err := argValue(ft, v)
			if err != nil {
				return nil, err
			}
			out[i] = a
		}
		return out, nil
	}
	f := c.Field
	switch c.Op {
	case "eq", "neq", "lt", "lte", "gt", "gte":
		v, err := one()
		if err != nil {
			return srdb.Expr{}, err
		}
		return map[string]func(string, any) srdb.Expr{
			"eq": srdb.Eq, "neq": srdb.NotEq, "lt": srdb.Lt, "lte": srdb.Lte, "gt": srdb.Gt, "gte": srdb.Gte,
		}[c.Op](f, v), nil
	case "between":
		if len(c.Values) != 2 {
			return srdb.Expr{}, fmt.Errorf("needs two values")
		}
		lo, err := argValue(ft, c.Values[0])
		if err != nil {
			return srdb.Expr{}, err
		}
		hi, err := argValue(ft, c.Values[1])
		if err != nil {
			return srdb.Expr{}, err
		}
		return srdb.Between(f, lo, hi), nil
	case "in", "notin":
		vs, err := list()
		if err != nil {
			return srdb.Expr{}, err
		}
		if c.Op == "in" {
			return srdb.In(f, vs...), nil
		}
		return srdb.NotIn(f, vs...), nil
	case "contains", "startswith", "endswith":
		s, err := text()
		if err != nil {
			return srdb.Expr{}, err
		}
		return map[string]func(string, string) srdb.Expr{
			"contains": srdb.Contains, "startswith": srdb.StartsWith, "endswith": srdb.EndsWith,
		}[c.Op](f, s), nil
	case "isnull":
		return srdb.IsNull(f), nil
	case "notnull":
		return srdb.NotNull(f), nil
	}
	return srdb.Expr{}, fmt.Errorf("unknown operator %q", c.Op)
}

// argValue converts a filter value to what the query compares with a field
// of type ft: numbers as json.Number (exact), booleans as bool, everything
// else as the string typed (the engine converts strings to Time, Decimal,
// Duration, Bytes …).
func argValue(ft string, raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("bad value %s", raw)
	}
	s, isString := v.(string)
	switch ft {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "byte", "decimal":
		if isString {
			s = strings.TrimSpace(s)
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("%q is not a number", s)
			}
			return json.Number(s), nil
		}
	case "bool":
		if isString {
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("%q is not true or false", s)
			}
			return b, nil
		}
	case "_time":
		if isString {
			s = strings.TrimSpace(s)
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				return json.Number(s), nil // Unix nanoseconds
			}
			return s, nil // RFC 3339
		}
	}
	if v == nil {
		return nil, fmt.Errorf("null is not a value; use is null")
	}
	return v, nil
}

// rowDetail is the body of GET /api/tables/{table}/rows/{seq}.
type rowDetail struct {
	Seq    int64         `json:"seq"`
	Time   string        `json:"time"`
	Fields []fieldDetail `json:"fields"`
}

// handleRow serves GET /api/tables/{table}/rows/{seq}: every field of one
// row, rendered for the detail panel.
func (s *server) handleRow(w http.ResponseWriter, r *http.Request) {
	t, ok := s.table(w, r)
	if !ok {
		return
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "seq: not an integer", 0)
		return
	}
	var row *srdb.Row
	err = s.runQuery(r.Context(), func(context.Context) error {
		var err error
		row, err = t.Get(seq)
		return err
	})
	if err != nil {
		writeDBError(w, err)
		return
	}
	s.readCounter(t.Schema().Name()).Add(1)
	out := rowDetail{Seq: row.Seq(), Time: row.Time().Format(time.RFC3339Nano), Fields: []fieldDetail{}}
	for _, f := range t.Schema().Fields() {
		v, _ := row.Get(f.Name)
		out.Fields = append(out.Fields, detailOf(f, v))
	}
	writeJSON(w, out)
}

// nonNil returns s, or an empty slice for nil (JSON [] rather than null).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
