package srdb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestResultRowValuesShareOneCopyWithoutAliasing checks decodeResultRow's
// shared buffer: String and Bytes values are copies of the encoded row that
// do not alias it, an append to a Bytes value cannot reach the next value,
// writing into one changes no other, and empty and NULL values keep their
// meaning (empty Bytes is a non-nil empty slice).
func TestResultRowValuesShareOneCopyWithoutAliasing(t *testing.T) {
	s, err := NewSchema("t", []Field{
		{Name: "a", Type: String},
		{Name: "b", Type: Bytes},
		{Name: "c", Type: String},
		{Name: "n", Type: Int64},
		{Name: "e", Type: Bytes},
		{Name: "es", Type: String},
		{Name: "z", Type: Bytes, Nullable: true},
	})
	require.NoError(t, err)
	buf, err := encodeRow(nil, 7, 8, s.types(), []any{"abc", []byte("xyz"), "def", int64(5), []byte{}, "", nil})
	require.NoError(t, err)
	for _, fields := range [][]int{nil, {0, 1, 2, 4, 5, 6}} {
		r, err := decodeResultRow(s, buf, fields)
		require.NoError(t, err)
		b, _ := r.Get("b")
		bs := b.([]byte)
		require.Equal(t, []byte("xyz"), bs)
		require.Equal(t, len(bs), cap(bs), "capacity clipped")
		_ = append(bs, '!', '!', '!')
		bs[0] = 'Q'
		c, _ := r.Get("c")
		require.Equal(t, "def", c)
		a, _ := r.Get("a")
		require.Equal(t, "abc", a)
		clear(buf[rowHeaderSize:]) // the row owns its values
		require.Equal(t, "abc", a)
		require.Equal(t, "def", c)
		e, _ := r.Get("e")
		require.NotNil(t, e)
		require.Equal(t, []byte{}, e)
		es, _ := r.Get("es")
		require.Equal(t, "", es)
		z, ok := r.Get("z")
		require.True(t, ok)
		require.Nil(t, z)
		if fields != nil {
			_, ok := r.Get("n")
			require.False(t, ok, "not selected")
		}
		buf, err = encodeRow(nil, 7, 8, s.types(), []any{"abc", []byte("xyz"), "def", int64(5), []byte{}, "", nil})
		require.NoError(t, err)
	}
}
