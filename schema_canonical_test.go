package srdb

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// canonicalMsg is a struct row with a _time field and types that need
// converting (a named int, a pointer).
type canonicalMsg struct {
	Channel string    `srdb:"channel"`
	N       myInt     `srdb:"n"`
	Price   *float64  `srdb:"price;nullable"`
	At      time.Time `srdb:"_time"`
}

type myInt int32

func canonicalSchema(t *testing.T, name string) *Schema {
	t.Helper()
	s, err := NewSchema(name, []Field{
		{Name: "channel", Type: String},
		{Name: "n", Type: Int64},
		{Name: "price", Type: Float64, Nullable: true},
		{Name: "amount", Type: Decimal, Nullable: true},
		{Name: "meta", Type: Object, Nullable: true},
		{Name: "when", Type: Time, Nullable: true},
	})
	require.NoError(t, err)
	return s
}

// TestCanonicalRowsInsertSameRows inserts data directly into one table and
// its CanonicalRows into another: the stored rows are equal, and the
// canonical maps hold only canonical types.
func TestCanonicalRowsInsertSameRows(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	a, err := db.CreateTable("a", canonicalSchema(t, "a"))
	require.NoError(t, err)
	b, err := db.CreateTable("b", canonicalSchema(t, "b"))
	require.NoError(t, err)

	p := 2.5
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	data := []any{
		map[string]any{"channel": "c", "n": 7, "amount": "1.25", "meta": map[string]any{"k": 1}, "when": at, "_time": at},
		canonicalMsg{Channel: "s", N: 9, Price: &p, At: at},
		&canonicalMsg{Channel: "t", N: 10},
	}
	rows, err := a.Schema().CanonicalRows(data)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.IsType(t, int64(0), rows[0]["n"])
	assert.IsType(t, decimal.Decimal{}, rows[0]["amount"])
	assert.IsType(t, map[string]any{}, rows[0]["meta"])
	assert.Equal(t, at.UnixNano(), rows[0]["_time"].(time.Time).UnixNano())
	assert.Equal(t, at.UnixNano(), rows[1]["_time"].(time.Time).UnixNano())
	_, hasTime := rows[2]["_time"]
	assert.False(t, hasTime, "a zero _time is not given")
	_, hasPrice := rows[2]["price"]
	assert.False(t, hasPrice, "NULL is absent")

	// Fix the time of the last row so both tables store the same one.
	rows[2]["_time"] = at
	data[2] = map[string]any{"channel": "t", "n": int64(10), "_time": at}
	_, err = a.Insert(data)
	require.NoError(t, err)
	_, err = b.Insert(rows)
	require.NoError(t, err)
	for seq := int64(1); seq <= 3; seq++ {
		ra, err := a.Get(seq)
		require.NoError(t, err)
		rb, err := b.Get(seq)
		require.NoError(t, err)
		assert.Equal(t, ra.Time().UnixNano(), rb.Time().UnixNano())
		assert.Equal(t, ra.Data(), rb.Data(), "seq %d", seq)
	}
}

// TestCanonicalRowsErrors: the errors Insert gives, naming the field and
// the row of a slice.
func TestCanonicalRowsErrors(t *testing.T) {
	s := canonicalSchema(t, "a")
	for _, data := range []any{nil, []any{}, 5, map[string]any{"channel": "c"}, []map[string]any{{"channel": "c", "n": 1}, {"n": "x"}}} {
		_, err := s.CanonicalRows(data)
		var e *Error
		require.True(t, errors.As(err, &e), "%v: %v", data, err)
	}
	_, err := s.CanonicalRows([]map[string]any{{"channel": "c", "n": 1}, {"channel": "c", "n": "x"}})
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, "n", e.Field)
	assert.Contains(t, e.Msg, "row 1")
	_, err = (*Schema)(nil).CanonicalRows(map[string]any{})
	assert.Equal(t, CodeInvalidSchema, ErrorCode(err))
}

// TestCanonicalChanges converts Update's values and refuses what Update
// refuses.
func TestCanonicalChanges(t *testing.T) {
	s := canonicalSchema(t, "a")
	c, err := s.CanonicalChanges(map[string]any{"n": myInt(3), "price": nil})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"n": int64(3), "price": nil}, c)
	for _, bad := range []map[string]any{nil, {"nope": 1}, {"_time": time.Now()}, {"_seq": 1}, {"n": "x"}, {"channel": nil}} {
		_, err := s.CanonicalChanges(bad)
		assert.Equal(t, CodeSchemaViolation, ErrorCode(err), "%v", bad)
	}
}
