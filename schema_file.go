package srdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// schema.json format constants. Frozen once on disk: a change needs a new
// schemaFileFormat, and decodeSchemaFile refuses versions it does not know.
const (
	schemaFileName    = "schema.json" // per table directory
	schemaFileFormat  = 1             // value of "format" when no field is dropped
	schemaFileFormat2 = 2             // value of "format" when a field carries "dropped" (DropField)
	schemaFileFormat3 = 3             // value of "format" when the schema has composite "indexes"
	schemaFileFormat4 = 4             // value of "format" when the schema has "unique" indexes
	schemaFileMaxSize = 16 << 20      // larger files are rejected unread
	schemaCRCHexLen   = 8             // "crc32c" is 8 lower-case hex digits
)

// schemaFileJSON is the top-level object of schema.json. Schema stays raw so
// the checksum is verified over the exact bytes stored in the file.
type schemaFileJSON struct {
	Format int             `json:"format"`
	CRC32C string          `json:"crc32c"`
	Schema json.RawMessage `json:"schema"`
}

// schemaJSON is the "schema" object of schema.json.
type schemaJSON struct {
	Name    string      `json:"name"`
	Fields  []fieldJSON `json:"fields"`
	Indexes [][]string  `json:"indexes,omitempty"` // format 3 and 4
	Unique  []string    `json:"unique,omitempty"`  // format 4 only
}

// fieldJSON is one element of "fields"; Type is a FieldType name.
type fieldJSON struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Indexed  bool   `json:"indexed"`
	Nullable bool   `json:"nullable"`
	Comment  string `json:"comment"`
	Dropped  bool   `json:"dropped,omitempty"` // format 2 only
}

// encodeSchemaFile renders the schema.json of s (written by the caller with
// writeFileAtomic). The file is indented UTF-8 JSON:
//
//	{
//	  "format": 1,                      schemaFileFormat, or 2 (schemaFileFormat2)
//	                                    when a field is "dropped", or 3
//	                                    (schemaFileFormat3) when "indexes" is
//	                                    present (fields may then be "dropped"),
//	                                    or 4 (schemaFileFormat4) when "unique"
//	                                    is (the others may then be present)
//	  "crc32c": "1c2d3e4f",             CRC32-C of the bytes of the "schema"
//	                                    value exactly as stored: from its '{'
//	                                    to its matching '}', indentation included
//	  "schema": {
//	    "name": "messages",             table name (names.go rules)
//	    "fields": [                     slots in row order: field i is field i
//	      {                             of every ROW1 row; 1..1024 not dropped,
//	                                    at most 4096 in all
//	        "name": "channel_id",       field name, unique across all slots
//	        "type": "string",           FieldType.String()
//	        "indexed": true,
//	        "nullable": false,
//	        "comment": "",              at most 1024 bytes
//	        "dropped": true             format 2 only, and only when true: the
//	                                    field was dropped (DropField); the slot
//	                                    stays so old rows decode, new rows
//	                                    store NULL, the name is never reused
//	      }
//	    ],
//	    "indexes": [                    format 3 or 4, and only when not empty:
//	      ["channel_id", "msg_seq"]     the composite indexes, each 2 to 4
//	    ],                              visible indexable fields in key order
//	    "unique": [                     format 4 only, and only when not empty:
//	      "channel_id,msg_seq"          the unique indexes by name (a field
//	    ]                               name or a composite index name), sorted
//	  }
//	}
//
// The "schema" value is marshalled first and spliced into the outer object
// byte for byte, so the checksummed bytes are the stored bytes. A schema
// with no dropped field and no composite index is written as format 1, byte
// for byte what earlier versions wrote, so they can still open it; one with
// a dropped field and no composite index as format 2, and one without a
// unique index as format 3 or lower, as before.
func encodeSchemaFile(s *Schema) ([]byte, error) {
	if s == nil {
		return nil, newError(CodeInvalidSchema, "nil schema")
	}
	format := schemaFileFormat
	body := schemaJSON{Name: s.name, Fields: make([]fieldJSON, len(s.fields))}
	for i, f := range s.fields {
		body.Fields[i] = fieldJSON{
			Name:     f.Name,
			Type:     f.Type.String(),
			Indexed:  f.Indexed,
			Nullable: f.Nullable,
			Comment:  f.Comment,
			Dropped:  s.isDropped(i),
		}
		if s.isDropped(i) {
			format = schemaFileFormat2
		}
	}
	if len(s.composite) > 0 {
		body.Indexes = s.CompositeIndexes()
		format = schemaFileFormat3
	}
	if len(s.unique) > 0 {
		body.Unique = s.UniqueIndexes()
		format = schemaFileFormat4
	}
	raw, err := json.MarshalIndent(body, "  ", "  ")
	if err != nil {
		return nil, newError(CodeInvalidSchema, "encode schema %q: %w", s.name, err)
	}
	var b bytes.Buffer
	b.Grow(len(raw) + 64)
	fmt.Fprintf(&b, "{\n  \"format\": %d,\n  \"crc32c\": \"%0*x\",\n  \"schema\": ", format, schemaCRCHexLen, checksum(raw))
	b.Write(raw)
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// decodeSchemaFile parses and verifies the contents of a schema.json; file
// names it in errors. Every problem — bad or truncated JSON, trailing data,
// unknown keys, an unknown format version, a checksum mismatch, an unknown
// type name, a schema NewSchema rejects, a file over 16 MiB — is ErrCorrupted
// naming the file (and the byte offset when the JSON decoder knows it).
func decodeSchemaFile(data []byte, file string) (*Schema, error) {
	if len(data) > schemaFileMaxSize {
		return nil, corruptionError(file, -1, "schema file is %d bytes, larger than the %d-byte limit", len(data), schemaFileMaxSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, corruptionError(file, -1, "schema file is empty")
	}
	top, err := decodeSchemaTop(data)
	if err != nil {
		return nil, schemaJSONError(file, data, err)
	}
	if top.Format < schemaFileFormat || top.Format > schemaFileFormat4 {
		return nil, corruptionError(file, -1, "unsupported schema format version %d (want %d to %d)", top.Format, schemaFileFormat, schemaFileFormat4)
	}
	want, err := parseSchemaCRC(top.CRC32C)
	if err != nil {
		return nil, corruptionError(file, -1, "%v", err)
	}
	if got := checksum(top.Schema); got != want {
		return nil, corruptionError(file, -1, "checksum mismatch: stored crc32c %08x, computed %08x", want, got)
	}
	var body schemaJSON
	if err := strictJSONDecode(top.Schema, &body); err != nil {
		return nil, corruptionError(file, -1, "\"schema\" object: %v", err)
	}
	fields := make([]Field, len(body.Fields))
	dropped := make([]bool, len(body.Fields))
	anyDropped := false
	for i, fj := range body.Fields {
		t, ok := parseFieldType(fj.Type)
		if !ok {
			return nil, corruptionError(file, -1, "field %d (%q): unknown type %q", i, fj.Name, fj.Type)
		}
		if fj.Dropped && (fj.Indexed || !fj.Nullable) {
			return nil, corruptionError(file, -1, "field %d (%q): a dropped field must be nullable and not indexed", i, fj.Name)
		}
		fields[i] = Field{Name: fj.Name, Type: t, Indexed: fj.Indexed, Nullable: fj.Nullable, Comment: fj.Comment}
		dropped[i] = fj.Dropped
		anyDropped = anyDropped || fj.Dropped
	}
	if (len(body.Unique) > 0) != (top.Format == schemaFileFormat4) {
		return nil, corruptionError(file, -1, "schema format version %d with %d unique indexes (format 4 if and only if there is one)", top.Format, len(body.Unique))
	}
	if top.Format != schemaFileFormat4 && (len(body.Indexes) > 0) != (top.Format == schemaFileFormat3) {
		return nil, corruptionError(file, -1, "schema format version %d with %d composite indexes (format 3 if and only if there is one)", top.Format, len(body.Indexes))
	}
	if top.Format < schemaFileFormat3 && anyDropped != (top.Format == schemaFileFormat2) {
		return nil, corruptionError(file, -1, "schema format version %d with dropped fields: %v (format 2 if and only if a field is dropped)", top.Format, anyDropped)
	}
	s, err := newSchemaFull(body.Name, fields, dropped, body.Indexes)
	if err == nil {
		if !slices.IsSorted(body.Unique) {
			err = fmt.Errorf("\"unique\" is not sorted: %q", body.Unique)
		} else {
			err = s.setUnique(body.Unique)
		}
	}
	if err != nil {
		return nil, corruptionError(file, -1, "stored schema is invalid: %s", strings.TrimPrefix(err.Error(), "srdb: "))
	}
	return s, nil
}

// decodeSchemaTop decodes the top-level object. Its keys must be exactly
// "format", "crc32c" and "schema": encoding/json matches struct keys case
// insensitively, so the object is read as a map, where a flipped case bit in
// a key is caught as an unknown key.
func decodeSchemaTop(data []byte) (schemaFileJSON, error) {
	var top schemaFileJSON
	var m map[string]json.RawMessage
	if err := strictJSONDecode(data, &m); err != nil {
		return top, err
	}
	for k := range m {
		if k != "format" && k != "crc32c" && k != "schema" {
			return top, fmt.Errorf("unknown key %q in the top-level object", quoteShortRaw(k))
		}
	}
	for _, k := range []string{"format", "crc32c", "schema"} {
		if m[k] == nil {
			return top, fmt.Errorf("missing key %q in the top-level object", k)
		}
	}
	if err := json.Unmarshal(m["format"], &top.Format); err != nil {
		return top, fmt.Errorf("\"format\": %v", err)
	}
	if err := json.Unmarshal(m["crc32c"], &top.CRC32C); err != nil {
		return top, fmt.Errorf("\"crc32c\": %v", err)
	}
	if raw := m["schema"]; len(raw) == 0 || raw[0] != '{' {
		return top, fmt.Errorf("\"schema\" is not an object")
	}
	top.Schema = m["schema"]
	return top, nil
}

// strictJSONDecode decodes exactly one JSON value into v, rejecting unknown
// object keys and anything but white space after the value.
func strictJSONDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &trailingDataError{offset: dec.InputOffset()}
	}
	return nil
}

// trailingDataError reports bytes after the JSON value of a metadata file.
type trailingDataError struct{ offset int64 }

func (e *trailingDataError) Error() string {
	return fmt.Sprintf("unexpected data after the JSON value at offset %d", e.offset)
}

// schemaJSONError turns a decoding error of the top-level object into
// ErrCorrupted, with the offset when the decoder reports one.
func schemaJSONError(file string, data []byte, err error) error {
	var (
		syn   *json.SyntaxError
		typ   *json.UnmarshalTypeError
		trail *trailingDataError
	)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return corruptionError(file, int64(len(data)), "truncated JSON")
	case errors.As(err, &syn):
		return corruptionError(file, syn.Offset, "invalid JSON: %v", err)
	case errors.As(err, &typ):
		return corruptionError(file, typ.Offset, "invalid JSON value: %v", err)
	case errors.As(err, &trail):
		return corruptionError(file, trail.offset, "unexpected data after the JSON object")
	}
	return corruptionError(file, -1, "invalid JSON: %v", err)
}

// parseSchemaCRC parses the "crc32c" value: exactly 8 lower-case hex digits.
func parseSchemaCRC(s string) (uint32, error) {
	if len(s) != schemaCRCHexLen || strings.ToLower(s) != s {
		return 0, fmt.Errorf("crc32c %q is not %d lower-case hex digits", quoteShortRaw(s), schemaCRCHexLen)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("crc32c %q is not %d lower-case hex digits", quoteShortRaw(s), schemaCRCHexLen)
	}
	return uint32(v), nil
}

// quoteShortRaw cuts s for an error message that quotes it with %q.
func quoteShortRaw(s string) string {
	if len(s) > maxQuotedValueLen {
		return s[:maxQuotedValueLen] + "…"
	}
	return s
}

// readTableSchema reads and decodes the schema.json of the table directory
// dir; it returns the file's bytes too. A missing file is ErrCorrupted:
// database.meta names the table, so its schema must be there.
func readTableSchema(fs FS, dir string) (*Schema, []byte, error) {
	path := filepath.Join(dir, schemaFileName)
	raw, err := readWholeFile(fs, path)
	if err != nil {
		if isNotExist(err) {
			return nil, nil, corruptionError(path, -1, "missing")
		}
		return nil, nil, err
	}
	s, err := decodeSchemaFile(raw, path)
	if err != nil {
		return nil, nil, err
	}
	return s, raw, nil
}
