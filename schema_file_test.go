package srdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSchemaFile = "messages/schema.json"

func allTypesSchema(tb testing.TB) *Schema {
	tb.Helper()
	var fields []Field
	for ft := Int; ft < numFieldTypes; ft++ {
		fields = append(fields, Field{
			Name: "f_" + ft.String(), Type: ft,
			Indexed: ft%2 == 0 && indexableType(ft), Nullable: ft%3 == 0,
			Comment: fmt.Sprintf("type %s <&> \"quoted\" é \u2028", ft),
		})
	}
	s, err := NewSchema("all_types", fields)
	require.NoError(tb, err)
	return s
}

func TestSchemaFileRoundTrip(t *testing.T) {
	for _, s := range []*Schema{imSchema(t), allTypesSchema(t)} {
		data, err := encodeSchemaFile(s)
		require.NoError(t, err)
		assert.True(t, json.Valid(data))
		got, err := decodeSchemaFile(data, testSchemaFile)
		require.NoError(t, err)
		assert.Equal(t, s.Name(), got.Name())
		assert.Equal(t, s.Fields(), got.Fields())
		// Encoding is deterministic.
		again, err := encodeSchemaFile(got)
		require.NoError(t, err)
		assert.Equal(t, data, again)
	}
	_, err := encodeSchemaFile(nil)
	assert.Error(t, err)
}

func TestSchemaFileLayout(t *testing.T) {
	s, err := NewSchema("t", []Field{{Name: "msg_id", Type: Int64, Indexed: true, Comment: "id"}})
	require.NoError(t, err)
	data, err := encodeSchemaFile(s)
	require.NoError(t, err)
	body := `{
    "name": "t",
    "fields": [
      {
        "name": "msg_id",
        "type": "int64",
        "indexed": true,
        "nullable": false,
        "comment": "id"
      }
    ]
  }`
	want := fmt.Sprintf("{\n  \"format\": 1,\n  \"crc32c\": \"%08x\",\n  \"schema\": %s\n}\n",
		crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli)), body)
	assert.Equal(t, want, string(data))
}

// rewriteSchemaFile builds a schema.json with a body of our choosing and a
// correct checksum, to reach the checks behind the CRC.
func rewriteSchemaFile(format int, body string) []byte {
	return fmt.Appendf(nil, "{\"format\": %d, \"crc32c\": \"%08x\", \"schema\": %s}",
		format, checksum([]byte(body)), body)
}

func TestSchemaFileCorrupt(t *testing.T) {
	good, err := encodeSchemaFile(imSchema(t))
	require.NoError(t, err)
	crcOf := func(body string) string { return fmt.Sprintf("%08x", checksum([]byte(body))) }
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "empty"},
		{"blank", []byte(" \n"), "empty"},
		{"not JSON", []byte("hello"), "invalid JSON"},
		{"array", []byte("[]"), "invalid JSON"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"trailing garbage", append(append([]byte{}, good...), "{}"...), "after the JSON object"},
		{"too big", append(bytes.Repeat([]byte(" "), schemaFileMaxSize), good...), "larger than"},
		{"format 5", bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": 5`), 1), "unsupported schema format version 5"},
		{"format 4 without a unique index", bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": 4`), 1), "format 4 if and only if"},
		{"unique index in format 3", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}],"indexes":[["a","b"]],"unique":["a,b"]}`), "format 4 if and only if"},
		{"unique index that is no index", rewriteSchemaFile(4, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}],"unique":["a"]}`), "no such index"},
		{"unique index of a dropped field", rewriteSchemaFile(4, `{"name":"t","fields":[{"name":"a","type":"int","indexed":true},{"name":"b","type":"int","nullable":true,"dropped":true}],"unique":["b"]}`), "no such index"},
		{"unique indexes not sorted", rewriteSchemaFile(4, `{"name":"t","fields":[{"name":"a","type":"int","indexed":true},{"name":"b","type":"int","indexed":true}],"unique":["b","a"]}`), "not sorted"},
		{"unique index twice", rewriteSchemaFile(4, `{"name":"t","fields":[{"name":"a","type":"int","indexed":true}],"unique":["a","a"]}`), "declared twice"},
		{"format 3 without a composite index", bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": 3`), 1), "format 3 if and only if"},
		{"composite index in format 1", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}],"indexes":[["a","b"]]}`), "format 3 if and only if"},
		{"composite index of an unknown field", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"}],"indexes":[["a","b"]]}`), "no such field"},
		{"composite index of a dropped field", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","nullable":true,"dropped":true}],"indexes":[["a","b"]]}`), "no such field"},
		{"composite index of one field", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"}],"indexes":[["a"]]}`), "2 to 4 fields"},
		{"composite index of an object", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"o","type":"object"}],"indexes":[["a","o"]]}`), "cannot be indexed"},
		{"composite index twice", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}],"indexes":[["a","b"],["a","b"]]}`), "declared twice"},
		{"valid composite", rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","nullable":true,"dropped":true},{"name":"c","type":"string"}],"indexes":[["c","a"]]}`), ""},
		{"format 2 without a dropped field", bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": 2`), 1), "format 2 if and only if a field is dropped"},
		{"format string", bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": "1"`), 1), "format"},
		{"format float", bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": 1.5`), 1), "format"},
		{"upper-case key", bytes.Replace(good, []byte(`"format"`), []byte(`"Format"`), 1), "unknown key"},
		{"extra key", bytes.Replace(good, []byte(`"format": 1,`), []byte(`"format": 1, "x": 0,`), 1), `unknown key "x"`},
		{"missing crc", []byte(`{"format": 1, "schema": {}}`), `missing key "crc32c"`},
		{"missing schema", []byte(`{"format": 1, "crc32c": "00000000"}`), `missing key "schema"`},
		{"schema null", []byte(`{"format": 1, "crc32c": "00000000", "schema": null}`), "not an object"},
		{"crc upper case", bytes.Replace(good, []byte(`"crc32c": "`), []byte(`"crc32c": "X`), 1), "crc32c"},
		{"crc short", []byte(`{"format": 1, "crc32c": "abc", "schema": {}}`), "8 lower-case hex digits"},
		{"crc not hex", []byte(`{"format": 1, "crc32c": "zzzzzzzz", "schema": {}}`), "8 lower-case hex digits"},
		{"crc number", []byte(`{"format": 1, "crc32c": 12345678, "schema": {}}`), "crc32c"},
		{"checksum mismatch", bytes.Replace(good, []byte(`"msg_id"`), []byte(`"msg_ix"`), 1), "checksum mismatch"},
		{"tampered type", bytes.Replace(good, []byte(`"uint8"`), []byte(`"int8"`), 1), "checksum mismatch"},
		{"unknown type", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int128"}]}`), `unknown type "int128"`},
		{"invalid type name", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"invalid"}]}`), `unknown type "invalid"`},
		{"bad table name", rewriteSchemaFile(1, `{"name":"../x","fields":[{"name":"a","type":"int"}]}`), "stored schema is invalid"},
		{"reserved field", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"_seq","type":"int"}]}`), "reserved"},
		{"no fields", rewriteSchemaFile(1, `{"name":"t","fields":[]}`), "at least one field"},
		{"null fields", rewriteSchemaFile(1, `{"name":"t","fields":null}`), "at least one field"},
		{"duplicate", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`), "duplicate"},
		{"unknown inner key", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int","x":1}]}`), "unknown field"},
		{"inner wrong type", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":5}]}`), "schema"},
		{"valid hand-written", rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int"}]}`), ""},
		{"crc of other body", []byte(`{"format": 1, "crc32c": "` + crcOf(`{}`) + `", "schema": {} }`), `table name "" is empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s *Schema
			var err error
			require.NotPanics(t, func() { s, err = decodeSchemaFile(tc.data, testSchemaFile) })
			if tc.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
			assertCorrupt(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func assertCorrupt(t *testing.T, err error) {
	t.Helper()
	assert.True(t, errors.Is(err, ErrCorrupted), "%v is not ErrCorrupted", err)
	assert.True(t, IsCorrupted(err))
	assert.Equal(t, CodeCorrupted, ErrorCode(err))
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, testSchemaFile, e.File)
	assert.Contains(t, err.Error(), testSchemaFile)
}

// TestSchemaFileEveryBitFlip flips each bit of a schema.json: every flip
// must be detected (the format leaves no byte unchecked).
func TestSchemaFileEveryBitFlip(t *testing.T) {
	good, err := encodeSchemaFile(imSchema(t))
	require.NoError(t, err)
	for i := range good {
		for bit := range 8 {
			data := bytes.Clone(good)
			data[i] ^= 1 << bit
			if i == len(good)-1 && isJSONSpace(data[i]) {
				continue // the final newline turned into other white space
			}
			s, err := decodeSchemaFile(data, testSchemaFile)
			if err == nil {
				t.Fatalf("flip of bit %d at offset %d (%q → %q) not detected: %v", bit, i, good[i], data[i], s)
			}
			assertCorrupt(t, err)
		}
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// TestSchemaFileEveryTruncation cuts the file at every length.
func TestSchemaFileEveryTruncation(t *testing.T) {
	good, err := encodeSchemaFile(imSchema(t))
	require.NoError(t, err)
	for n := range len(good) - 1 { // dropping only the final newline is harmless
		_, err := decodeSchemaFile(good[:n], testSchemaFile)
		require.Error(t, err, "truncated to %d bytes", n)
		assertCorrupt(t, err)
	}
	_, err = decodeSchemaFile(good[:len(good)-1], testSchemaFile)
	require.NoError(t, err)
}

func TestSchemaFileOffsets(t *testing.T) {
	good, err := encodeSchemaFile(imSchema(t))
	require.NoError(t, err)
	_, err = decodeSchemaFile(good[:40], testSchemaFile)
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, int64(40), e.Offset, "truncation is reported at the end of the data")

	bad := bytes.Clone(good)
	bad[2] = '!'
	_, err = decodeSchemaFile(bad, testSchemaFile)
	require.True(t, errors.As(err, &e))
	assert.Equal(t, int64(3), e.Offset, "syntax errors carry the decoder's offset")
	assert.Contains(t, err.Error(), "at offset 3")
}

// FuzzDecodeSchemaFile: decoding arbitrary bytes never panics, fails only
// with ErrCorrupted, and what decodes re-encodes to an equal schema.
func FuzzDecodeSchemaFile(f *testing.F) {
	for _, s := range []*Schema{imSchema(f), allTypesSchema(f)} {
		data, err := encodeSchemaFile(s)
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(`{"format":1,"crc32c":"00000000","schema":{}}`))
	f.Add(rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int","comment":"\u0000"}]}`))
	f.Add([]byte(`{"format":1,"crc32c":"00000000","schema":{"name":"t","fields":[{"name":"a","type":"int"}]},"schema":{}}`))
	f.Add([]byte(strings.Repeat("[", 10000)))
	f.Add([]byte(`{"name":"t","fields":[{"name":"a","type":"int","indexed":true,"nullable":true,"comment":"x"}]}`))
	f.Add([]byte{})
	// An index on an Object field: rejected by NewSchema, so ErrCorrupted.
	f.Add(rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"object","indexed":true}]}`))
	// Format 2: dropped fields (DropField).
	dropped, err := newSchemaSlots("messages", imSchema(f).fields, []bool{false, true, false, true, false})
	require.NoError(f, err)
	data, err := encodeSchemaFile(dropped)
	require.NoError(f, err)
	f.Add(data)
	f.Add(rewriteSchemaFile(2, `{"name":"t","fields":[{"name":"a","type":"int","nullable":true,"dropped":true},{"name":"a","type":"int"}]}`))
	f.Add(rewriteSchemaFile(1, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","nullable":true,"dropped":true}]}`))
	// Format 3: composite indexes.
	f.Add(rewriteSchemaFile(3, `{"name":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}],"indexes":[["b","a"]]}`))
	// Format 4: unique indexes.
	f.Add(rewriteSchemaFile(4, `{"name":"t","fields":[{"name":"a","type":"int","indexed":true},{"name":"b","type":"string"}],"indexes":[["b","a"]],"unique":["a","b,a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeSchemaFile(t, data)
		// Mutations rarely keep the checksum valid: also feed the bytes as
		// the "schema" value of a file with a correct checksum, so the
		// decoder behind the CRC check is fuzzed too.
		if len(data) > 0 && data[0] == '{' {
			checkDecodeSchemaFile(t, rewriteSchemaFile(1, string(data)))
			checkDecodeSchemaFile(t, rewriteSchemaFile(2, string(data)))
			checkDecodeSchemaFile(t, rewriteSchemaFile(3, string(data)))
			checkDecodeSchemaFile(t, rewriteSchemaFile(4, string(data)))
		}
	})
}

// checkDecodeSchemaFile decodes data and, when it is valid, checks that the
// schema round-trips through encodeSchemaFile.
func checkDecodeSchemaFile(t *testing.T, data []byte) {
	s, err := decodeSchemaFile(data, testSchemaFile)
	if err != nil {
		if !errors.Is(err, ErrCorrupted) {
			t.Fatalf("error %v is not ErrCorrupted", err)
		}
		return
	}
	out, err := encodeSchemaFile(s)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	s2, err := decodeSchemaFile(out, testSchemaFile)
	if err != nil {
		t.Fatalf("decode of re-encoded file: %v", err)
	}
	if s2.String() != s.String() || fmt.Sprint(s2.Fields()) != fmt.Sprint(s.Fields()) ||
		fmt.Sprint(s2.fields, s2.dropped, s2.composite, s2.unique) != fmt.Sprint(s.fields, s.dropped, s.composite, s.unique) {
		t.Fatalf("round trip changed the schema: %v vs %v", s, s2)
	}
}

// FuzzNewSchema builds schemas from fuzzed names and type bytes: NewSchema
// never panics, accepts exactly the valid definitions, and what it accepts
// survives a schema.json round trip.
func FuzzNewSchema(f *testing.F) {
	f.Add("t", "a", byte(Int), "b", byte(String), false, "")
	f.Add("messages", "channel_id", byte(String), "channel_id", byte(Int), true, "c")
	f.Add("t", "_seq", byte(Int64), "x", byte(0), false, "")
	f.Add("../x", "a", byte(200), "b", byte(numFieldTypes), true, "\xff")
	f.Fuzz(func(t *testing.T, table, n1 string, t1 byte, n2 string, t2 byte, flag bool, comment string) {
		fields := []Field{
			{Name: n1, Type: FieldType(t1), Indexed: flag, Comment: comment},
			{Name: n2, Type: FieldType(t2), Nullable: flag},
		}
		s, err := NewSchema(table, fields)
		valid := nameRE.MatchString(table) && nameRE.MatchString(n1) && nameRE.MatchString(n2) && n1 != n2 &&
			FieldType(t1).Valid() && FieldType(t2).Valid() && len(comment) <= maxFieldCommentLen && utf8Valid(comment)
		if valid != (err == nil) {
			t.Fatalf("NewSchema(%q, %+v) = %v, want valid=%v", table, fields, err, valid)
		}
		if err != nil {
			code := ErrorCode(err)
			if code != CodeInvalidName && code != CodeInvalidSchema {
				t.Fatalf("unexpected code %d: %v", code, err)
			}
			return
		}
		data, err := encodeSchemaFile(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeSchemaFile(data, testSchemaFile)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if fmt.Sprint(got.Fields()) != fmt.Sprint(fields) || got.Name() != table {
			t.Fatalf("round trip: %v vs %v", got.Fields(), fields)
		}
	})
}

// TestSchemaFileUniqueRoundTrip: a schema with unique indexes is written as
// format 4 with a sorted "unique" list and reads back equal; without them
// the file stays format 3 or lower, byte for byte as before.
func TestSchemaFileUniqueRoundTrip(t *testing.T) {
	fields := []Field{{Name: "ch", Type: String}, {Name: "id", Type: Int64}, {Name: "email", Type: String}}
	s, err := NewSchema("t", fields, WithUniqueIndex("email"), WithUniqueIndex("ch", "id"))
	require.NoError(t, err)
	require.Equal(t, []string{"ch,id", "email"}, s.UniqueIndexes())
	data, err := encodeSchemaFile(s)
	require.NoError(t, err)
	require.Contains(t, string(data), `"format": 4`)
	require.Contains(t, string(data), "\"unique\": [\n      \"ch,id\",\n      \"email\"\n    ]")
	got, err := decodeSchemaFile(data, testSchemaFile)
	require.NoError(t, err)
	require.Equal(t, s.UniqueIndexes(), got.UniqueIndexes())
	require.Equal(t, s.CompositeIndexes(), got.CompositeIndexes())
	again, err := encodeSchemaFile(got)
	require.NoError(t, err)
	require.Equal(t, data, again)

	plain, err := NewSchema("t", fields, WithIndex("ch", "id"))
	require.NoError(t, err)
	data, err = encodeSchemaFile(plain)
	require.NoError(t, err)
	require.Contains(t, string(data), `"format": 3`)
	require.NotContains(t, string(data), "unique")

	// Schema changes keep uniqueness where the index survives.
	s2, err := s.withIndexed("email", false)
	require.NoError(t, err)
	require.Equal(t, []string{"ch,id"}, s2.UniqueIndexes())
	s3, err := s.withComposite([]string{"ch", "id"}, false)
	require.NoError(t, err)
	require.Equal(t, []string{"email"}, s3.UniqueIndexes())
}
