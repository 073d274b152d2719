package srdb

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nameRE is the reference definition of a valid name.
var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

func TestValidateName(t *testing.T) {
	valid := []string{
		"a", "Z", "abc", "a1", "a_b", "A_", "messages", "Channel_ID_2",
		"a" + strings.Repeat("b", 63), // 64 bytes, the maximum
	}
	for _, name := range valid {
		t.Run("valid/"+name[:min(len(name), 16)], func(t *testing.T) {
			require.NoError(t, validateName("table", name))
		})
	}
	invalid := []struct{ name, why string }{
		{"", "empty"},
		{".", "dot"},
		{"..", "dot dot"},
		{"../x", "parent path"},
		{"a/b", "separator"},
		{`a\b`, "backslash"},
		{"a\x00b", "NUL"},
		{"\x00", "only NUL"},
		{"a" + strings.Repeat("b", 64), "65 bytes"},
		{"_seq", "reserved"},
		{"_", "underscore only"},
		{"1abc", "digit first"},
		{"a-b", "dash"},
		{"a b", "space"},
		{" a", "leading space"},
		{"a.b", "dot inside"},
		{"é", "non-ASCII letter"},
		{"aé", "non-ASCII inside"},
		{"a\n", "newline"},
		{"\xff", "invalid UTF-8"},
	}
	for _, kind := range []string{"table", "field", "index"} {
		for _, tc := range invalid {
			t.Run(kind+"/"+tc.why, func(t *testing.T) {
				err := validateName(kind, tc.name)
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrInvalidName), "error %v is not ErrInvalidName", err)
				assert.Equal(t, CodeInvalidName, ErrorCode(err))
				assert.Contains(t, err.Error(), kind+" name")
				// The name appears quoted (Go %q) so control bytes are visible.
				assert.Contains(t, err.Error(), quoteForTest(tc.name))
			})
		}
	}
}

// quoteForTest is how validateName prints a name (%q).
func quoteForTest(s string) string { return strconv.Quote(s) }

func TestIsReservedFieldName(t *testing.T) {
	assert.True(t, isReservedFieldName("_seq"))
	assert.True(t, isReservedFieldName("_time"))
	assert.True(t, isReservedFieldName("_x"))
	assert.False(t, isReservedFieldName("x_"))
	assert.False(t, isReservedFieldName(""))
}

// FuzzValidateName checks validateName against the regular expression
// nameRE and that a valid name is always one safe path element.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"", "a", "..", "../x", "a/b", "a\x00", "_seq", "Abc_09",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "é", "\xff", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := validateName("field", name)
		want := nameRE.MatchString(name)
		if want != (err == nil) {
			t.Fatalf("validateName(%q) = %v, regexp match = %v", name, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("validateName(%q) error %v is not ErrInvalidName", name, err)
			}
			return
		}
		if strings.ContainsAny(name, "/\\.\x00") || !utf8.ValidString(name) || len(name) > maxNameLen {
			t.Fatalf("validateName accepted unsafe name %q", name)
		}
	})
}

func BenchmarkValidateName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if validateName("field", "channel_id") != nil {
			b.Fatal("rejected")
		}
	}
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
