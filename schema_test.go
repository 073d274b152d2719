package srdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imFields is the IM workload row.
func imFields() []Field {
	return []Field{
		{Name: "channel_id", Type: String, Indexed: true},
		{Name: "from_uid", Type: String},
		{Name: "msg_id", Type: Int64, Indexed: true},
		{Name: "msg_type", Type: Uint8},
		{Name: "payload", Type: Bytes},
	}
}

func imSchema(tb testing.TB) *Schema {
	tb.Helper()
	s, err := NewSchema("messages", imFields())
	require.NoError(tb, err)
	return s
}

func TestNewSchemaValid(t *testing.T) {
	s := imSchema(t)
	assert.Equal(t, "messages", s.Name())
	assert.Equal(t, 5, s.NumFields())
	assert.Equal(t, imFields(), s.Fields())
	assert.Equal(t, []FieldType{String, String, Int64, Uint8, Bytes}, s.types())
	assert.Equal(t, "messages(channel_id string indexed, from_uid string, msg_id int64 indexed, msg_type uint8, payload bytes)", s.String())

	f, ok := s.Field("msg_id")
	require.True(t, ok)
	assert.Equal(t, Field{Name: "msg_id", Type: Int64, Indexed: true}, f)
	_, ok = s.Field("MSG_ID") // names are case sensitive
	assert.False(t, ok)
	_, ok = s.Field("_seq")
	assert.False(t, ok)

	for i, f := range imFields() {
		assert.Equal(t, i, s.fieldIndex(f.Name))
	}
	assert.Equal(t, -1, s.fieldIndex("nope"))
	assert.Equal(t, -1, s.fieldIndex(""))
}

func TestNewSchemaCopiesInput(t *testing.T) {
	in := imFields()
	s, err := NewSchema("messages", in)
	require.NoError(t, err)
	in[0].Name = "changed"
	in[1].Type = Bool
	assert.Equal(t, "channel_id", s.Fields()[0].Name)
	assert.Equal(t, String, s.Fields()[1].Type)

	out := s.Fields()
	out[0].Name = "changed"
	out[2].Indexed = false
	assert.Equal(t, imFields(), s.Fields(), "Fields must return a copy")
}

func TestNewSchemaAllTypes(t *testing.T) {
	var fields []Field
	for ft := Int; ft < numFieldTypes; ft++ {
		fields = append(fields, Field{Name: "f_" + ft.String(), Type: ft, Nullable: ft%2 == 0, Indexed: ft%3 == 0 && indexableType(ft)})
	}
	s, err := NewSchema("all", fields)
	require.NoError(t, err)
	assert.Equal(t, 22, s.NumFields())
	assert.Equal(t, fields, s.Fields())
}

func TestNewSchemaInvalid(t *testing.T) {
	many := make([]Field, maxSchemaFields+1)
	for i := range many {
		many[i] = Field{Name: fmt.Sprintf("f%d", i), Type: Int}
	}
	tests := []struct {
		name    string
		table   string
		fields  []Field
		code    int
		field   string // expected Error.Field
		message string // substring of the message
	}{
		{"empty table name", "", imFields(), CodeInvalidName, "", "table name"},
		{"path table name", "../x", imFields(), CodeInvalidName, "", `"../x"`},
		{"slash table name", "a/b", imFields(), CodeInvalidName, "", `"a/b"`},
		{"reserved table name", "_t", imFields(), CodeInvalidName, "", `"_t"`},
		{"long table name", strings.Repeat("t", 65), imFields(), CodeInvalidName, "", "65 bytes"},
		{"no fields", "t", nil, CodeInvalidSchema, "", "at least one field"},
		{"empty fields", "t", []Field{}, CodeInvalidSchema, "", "at least one field"},
		{"too many fields", "t", many, CodeInvalidSchema, "", "1025 fields"},
		{"empty field name", "t", []Field{{Name: "", Type: Int}}, CodeInvalidName, "", "field name"},
		{"bad field name", "t", []Field{{Name: "a b", Type: Int}}, CodeInvalidName, "a b", `"a b"`},
		{"NUL field name", "t", []Field{{Name: "a\x00", Type: Int}}, CodeInvalidName, "a\x00", "field name"},
		{"_seq", "t", []Field{{Name: "_seq", Type: Int64}}, CodeInvalidName, "_seq", "reserved"},
		{"_time", "t", []Field{{Name: "x", Type: Int}, {Name: "_time", Type: Time}}, CodeInvalidName, "_time", "reserved"},
		{"_other", "t", []Field{{Name: "_x", Type: Int}}, CodeInvalidName, "_x", "reserved"},
		{"duplicate", "t", []Field{{Name: "a", Type: Int}, {Name: "b", Type: Int}, {Name: "a", Type: String}}, CodeInvalidSchema, "a", "duplicate"},
		{"invalid type", "t", []Field{{Name: "a", Type: TypeInvalid}}, CodeInvalidSchema, "a", "invalid field type 0"},
		{"type out of range", "t", []Field{{Name: "a", Type: numFieldTypes}}, CodeInvalidSchema, "a", "invalid field type"},
		{"type 255", "t", []Field{{Name: "a", Type: 255}}, CodeInvalidSchema, "a", "invalid field type 255"},
		{"long comment", "t", []Field{{Name: "a", Type: Int, Comment: strings.Repeat("c", 1025)}}, CodeInvalidSchema, "a", "comment"},
		{"non-UTF-8 comment", "t", []Field{{Name: "a", Type: Int, Comment: "\xff"}}, CodeInvalidSchema, "a", "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSchema(tc.table, tc.fields)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Equal(t, tc.code, ErrorCode(err), "error: %v", err)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, tc.field, e.Field)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestNewSchemaLimits(t *testing.T) {
	fields := make([]Field, maxSchemaFields)
	for i := range fields {
		fields[i] = Field{Name: fmt.Sprintf("f%d", i), Type: Int}
	}
	fields[0].Comment = strings.Repeat("é", 512) // 1024 bytes
	s, err := NewSchema(strings.Repeat("t", 64), fields)
	require.NoError(t, err)
	assert.Equal(t, maxSchemaFields, s.NumFields())
	// Names differing only by case are distinct fields.
	_, err = NewSchema("t", []Field{{Name: "a", Type: Int}, {Name: "A", Type: Int}})
	require.NoError(t, err)
}

func TestSchemaWithIndexed(t *testing.T) {
	s := imSchema(t)
	s2, err := s.withIndexed("from_uid", true)
	require.NoError(t, err)
	f, _ := s2.Field("from_uid")
	assert.True(t, f.Indexed)
	f, _ = s.Field("from_uid")
	assert.False(t, f.Indexed, "the original schema must not change")

	s3, err := s2.withIndexed("channel_id", false)
	require.NoError(t, err)
	f, _ = s3.Field("channel_id")
	assert.False(t, f.Indexed)
	assert.Equal(t, 2, s3.fieldIndex("msg_id"))

	// Idempotent.
	s4, err := s.withIndexed("msg_id", true)
	require.NoError(t, err)
	assert.Equal(t, s.Fields(), s4.Fields())

	_, err = s.withIndexed("nope", true)
	assert.Equal(t, CodeInvalidSchema, ErrorCode(err))
	_, err = s.withIndexed("../x", true)
	assert.Equal(t, CodeInvalidName, ErrorCode(err))
	_, err = s.withIndexed("_seq", true)
	assert.Equal(t, CodeInvalidName, ErrorCode(err))
}

// ---- StructToFields ----

type embeddedBase struct {
	ID      int64 `srdb:"id;indexed"`
	Created time.Time
}

type embeddedExtra struct {
	Note string
}

// SchemaTestExtra is an exported type for embedding tests.
type SchemaTestExtra struct{ Note string }

type structCases struct {
	embeddedBase
	*embeddedExtra
	ChannelID  string `srdb:";indexed;comment:channel of the message"`
	MsgID      int64
	HTTPServer string
	UserID2    uint32
	Renamed    int8   `srdb:"other_name;nullable"`
	Skipped    string `srdb:"-"`
	hidden     int
	Payload    []byte
	Tags       []string
	Grid       [2][2]int
	Attrs      map[string]any
	Nested     struct{ A int }
	Price      decimal.Decimal
	PricePtr   *decimal.Decimal
	Elapsed    time.Duration
	When       *time.Time
	Kind       uint8 `srdb:"kind;type:byte"`
	Letter     int32 `srdb:"type:rune"`
	Any        any   `srdb:"type:object"`
	Ptr        **int
	Seq        int64     `srdb:"_seq"`
	At         time.Time `srdb:"_time"`
}

func TestStructToFields(t *testing.T) {
	want := []Field{
		{Name: "id", Type: Int64, Indexed: true},
		{Name: "created", Type: Time},
		{Name: "note", Type: String, Nullable: true}, // through an embedded pointer
		{Name: "channel_id", Type: String, Indexed: true, Comment: "channel of the message"},
		{Name: "msg_id", Type: Int64},
		{Name: "http_server", Type: String},
		{Name: "user_id2", Type: Uint32},
		{Name: "other_name", Type: Int8, Nullable: true},
		{Name: "payload", Type: Bytes},
		{Name: "tags", Type: Array},
		{Name: "grid", Type: Array},
		{Name: "attrs", Type: Object},
		{Name: "nested", Type: Object},
		{Name: "price", Type: Decimal},
		{Name: "price_ptr", Type: Decimal, Nullable: true},
		{Name: "elapsed", Type: Duration},
		{Name: "when", Type: Time, Nullable: true},
		{Name: "kind", Type: Byte},
		{Name: "letter", Type: Rune},
		{Name: "any", Type: Object},
		{Name: "ptr", Type: Int, Nullable: true},
	}
	for _, in := range []any{structCases{}, &structCases{}, (*structCases)(nil), reflect.TypeFor[structCases](),
		reflect.TypeFor[*structCases](), reflect.ValueOf(structCases{})} {
		got, err := StructToFields(in)
		require.NoError(t, err, "%T", in)
		assert.Equal(t, want, got, "%T", in)
	}
	s, err := NewSchema("t", want)
	require.NoError(t, err, "StructToFields output must be a valid schema")
	assert.Equal(t, 21, s.NumFields())
}

func TestStructToFieldsIntTypes(t *testing.T) {
	type myInt int32
	type myStr string
	type ints struct {
		A int
		B int8
		C int16
		D int32
		E int64
		F uint
		G uint8
		H uint16
		I uint32
		J uint64
		K float32
		L float64
		M bool
		N myInt
		O myStr
		P byte
		Q rune
		R uintptr
		S json.RawMessage
	}
	got, err := StructToFields(ints{})
	require.NoError(t, err)
	types := make([]FieldType, len(got))
	for i, f := range got {
		types[i] = f.Type
	}
	assert.Equal(t, []FieldType{Int, Int8, Int16, Int32, Int64, Uint, Uint8, Uint16, Uint32, Uint64,
		Float32, Float64, Bool, Int32, String, Uint8, Int32, Uint64, Bytes}, types)
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"ChannelID":  "channel_id",
		"MsgID":      "msg_id",
		"HTTPServer": "http_server",
		"UserID2":    "user_id2",
		"ID":         "id",
		"A":          "a",
		"Name":       "name",
		"already_ok": "already_ok",
		"URLPath":    "url_path",
		"Ab1Cd":      "ab1_cd",
		"X_Y":        "x_y",
		"Über":       "über",
	} {
		assert.Equal(t, want, snakeCase(in), in)
	}
}

// The fields below are never read: they exist for StructToFields to inspect.
var _ = structCases{}.hidden

type selfEmbed struct {
	//lint:ignore U1000 the recursive embedding is what the test gives StructToFields
	*selfEmbed
	X int
}

type cycleA struct {
	*cycleB
	A int
}

type cycleB struct {
	*cycleA
	B int
}

type linked struct {
	Name string
	Next *linked // a pointer to a struct is an Object field, not followed
}

type ptrLoop *ptrLoop

func TestStructToFieldsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   any
		code int
		msg  string
	}{
		{"nil", nil, CodeInvalidSchema, "nil"},
		{"nil reflect.Type", reflect.Type(nil), CodeInvalidSchema, "nil"},
		{"invalid reflect.Value", reflect.Value{}, CodeInvalidSchema, "not a struct"},
		{"reflect.Value of int", reflect.ValueOf(1), CodeInvalidSchema, "not a struct"},
		{"int", 42, CodeInvalidSchema, "not a struct"},
		{"map", map[string]any{}, CodeInvalidSchema, "not a struct"},
		{"pointer to int", new(int), CodeInvalidSchema, "not a struct"},
		{"deep pointer loop", ptrLoop(nil), CodeInvalidSchema, "not a struct"},
		{"no exported fields", struct{ a int }{}, CodeInvalidSchema, "no exported fields"},
		{"empty struct", struct{}{}, CodeInvalidSchema, "no exported fields"},
		{"only skipped", struct {
			A int `srdb:"-"`
		}{}, CodeInvalidSchema, "no exported fields"},
		{"chan", struct{ C chan int }{}, CodeInvalidSchema, "Go field C"},
		{"func", struct{ F func() }{}, CodeInvalidSchema, "Go field F"},
		{"complex", struct{ Z complex128 }{}, CodeInvalidSchema, "complex128"},
		{"interface", struct{ I any }{}, CodeInvalidSchema, "Go field I"},
		{"pointer to chan", struct{ P *chan int }{}, CodeInvalidSchema, "Go field P"},
		{"pointer loop field", struct{ P ptrLoop }{}, CodeInvalidSchema, "Go field P"},
		{"unknown tag option", struct {
			A int `srdb:"a;indxed"`
		}{}, CodeInvalidSchema, "indxed"},
		{"unknown tag type", struct {
			A int `srdb:"a;type:int128"`
		}{}, CodeInvalidSchema, "int128"},
		{"bad tag name", struct {
			A int `srdb:"a-b"`
		}{}, CodeInvalidName, "Go field A"},
		{"reserved tag name", struct {
			A int `srdb:"_a"`
		}{}, CodeInvalidName, "reserved"},
		{"non-ASCII Go name", struct{ Größe int }{}, CodeInvalidName, "Größe"},
		{"duplicate names", struct {
			A int `srdb:"x"`
			B int `srdb:"x"`
		}{}, CodeInvalidSchema, "both map to"},
		{"duplicate via snake case", struct {
			UserID  int
			User_ID int `srdb:"user_id"`
		}{}, CodeInvalidSchema, "both map to"},
		{"duplicate via embedding", struct {
			embeddedBase
			ID int `srdb:"id"`
		}{}, CodeInvalidSchema, "both map to"},
		{"self embedding", selfEmbed{}, CodeInvalidSchema, "embeds itself"},
		{"mutual embedding", cycleA{}, CodeInvalidSchema, "embeds itself"},
		{"options on embedded", struct {
			embeddedBase `srdb:";indexed"`
		}{}, CodeInvalidSchema, "embedded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Field
			var err error
			require.NotPanics(t, func() { got, err = StructToFields(tc.in) })
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Equal(t, tc.code, ErrorCode(err), "%v", err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestStructToFieldsSpecialCases(t *testing.T) {
	// A struct referring to itself through a pointer field is an Object.
	got, err := StructToFields(linked{})
	require.NoError(t, err)
	assert.Equal(t, []Field{{Name: "name", Type: String}, {Name: "next", Type: Object, Nullable: true}}, got)

	// An embedded struct with a tag name is one Object field; embedded
	// time.Time and decimal.Decimal are fields of their own type.
	type withNamedEmbed struct {
		SchemaTestExtra `srdb:"extra"`
		embeddedExtra   `srdb:"hidden"` // unexported: skipped
		time.Time
		decimal.Decimal
	}
	got, err = StructToFields(withNamedEmbed{})
	require.NoError(t, err)
	assert.Equal(t, []Field{{Name: "extra", Type: Object}, {Name: "time", Type: Time}, {Name: "decimal", Type: Decimal}}, got)

	// An unsupported type may be rescued with type:, or skipped with "-".
	type rescued struct {
		I    any      `srdb:"i;type:string;nullable"`
		C    chan int `srdb:"-"`
		Name string
	}
	got, err = StructToFields(rescued{})
	require.NoError(t, err)
	assert.Equal(t, []Field{{Name: "i", Type: String, Nullable: true}, {Name: "name", Type: String}}, got)

	// Spaces around tag parts and empty parts are tolerated; comment keeps
	// its text after the first colon.
	type spaced struct {
		A int `srdb:" a ; indexed ;; comment:a: b "`
	}
	got, err = StructToFields(spaced{})
	require.NoError(t, err)
	assert.Equal(t, []Field{{Name: "a", Type: Int, Indexed: true, Comment: "a: b"}}, got)
}

// TestNewSchemaRejectsIndexedObjectAndArray: an index on an Object or Array
// field used to be accepted and silently never built.
func TestNewSchemaRejectsIndexedObjectAndArray(t *testing.T) {
	for _, ft := range []FieldType{Object, Array} {
		_, err := NewSchema("t", []Field{{Name: "a", Type: Int64}, {Name: "x", Type: ft, Indexed: true}})
		require.Equal(t, CodeInvalidSchema, ErrorCode(err), "%s", ft)
		var e *Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "x", e.Field)
		_, err = NewSchema("t", []Field{{Name: "x", Type: ft}})
		require.NoError(t, err, "%s without an index", ft)
	}
}

// TestSchemaFieldIndexByNameKey checks fieldIndex on both of its paths (the
// name keys of a small schema, the map of a large one): names that share a
// key (length, first and last byte), a dropped slot, unknown names and the
// empty name.
func TestSchemaFieldIndexByNameKey(t *testing.T) {
	for _, n := range []int{5, nameKeyLookupMax, nameKeyLookupMax + 1, 40} {
		var fields []Field
		for i := 0; i < n; i++ {
			fields = append(fields, Field{Name: fmt.Sprintf("f%03dx", i), Type: Int64, Nullable: true}) // one key for all
		}
		dropped := make([]bool, n)
		dropped[1] = true
		s, err := newSchemaFull("t", fields, dropped, nil)
		require.NoError(t, err)
		require.Equal(t, n <= nameKeyLookupMax, s.nameKeys != nil, "%d slots", n)
		for i, f := range fields {
			want := i
			if i == 1 {
				want = -1
			}
			require.Equal(t, want, s.fieldIndex(f.Name), "%d slots: %s", n, f.Name)
		}
		for _, name := range []string{"", "f", "f000", "f000y", "g000x", "f0000x", "_seq"} {
			require.Equal(t, -1, s.fieldIndex(name), "%d slots: %q", n, name)
		}
	}
}
