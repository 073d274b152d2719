package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/srdb-go/srdb"
)

// This file renders row values as text. The page shows every value with
// textContent, so the text is never interpreted as HTML; it is produced
// here so that each type has one rendering (Decimal exact, Time RFC 3339,
// Bytes as hex, Object/Array as JSON).

// cellText returns the one-line text of a value for a grid cell.
func cellText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return "0x" + hex.EncodeToString(x[:min(len(x), (maxCellText-2)/2)])
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case map[string]any, []any:
		return jsonText(x, "")
	case fmt.Stringer: // decimal.Decimal: its exact digits
		return x.String()
	}
	return fmt.Sprint(v)
}

// jsonText encodes an Object or Array value as JSON text, indented when
// indent is not "". '<', '>' and '&' stay as they are: the page renders
// text, so there is nothing to escape them from.
func jsonText(v any, indent string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n"))
}

// cutText cuts s to at most n runes, marking the cut with an ellipsis.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}

// fieldDetail is one field of the row-detail panel. Text is the value as
// text; Bytes fields also carry Hex and Base64, Object and Array fields
// pretty-printed JSON in Text. Truncated says the value was longer than
// maxDetailBytes and was cut.
type fieldDetail struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Null      bool   `json:"null"`
	Text      string `json:"text"`
	Hex       string `json:"hex,omitempty"`
	Base64    string `json:"base64,omitempty"`
	Length    int    `json:"length,omitempty"` // bytes of a Bytes value, runes of a String
	Truncated bool   `json:"truncated,omitempty"`
}

// detailOf renders one field for the detail panel.
func detailOf(f srdb.Field, v any) fieldDetail {
	d := fieldDetail{Name: f.Name, Type: f.Type.String()}
	if v == nil {
		d.Null = true
		return d
	}
	switch x := v.(type) {
	case []byte:
		d.Length = len(x)
		b := x
		if len(b) > maxDetailBytes/2 {
			b, d.Truncated = b[:maxDetailBytes/2], true
		}
		d.Hex = hexDump(b)
		d.Base64 = base64.StdEncoding.EncodeToString(b)
		d.Text = fmt.Sprintf("%d bytes", len(x))
		return d
	case map[string]any, []any:
		d.Text = jsonText(x, "  ")
	case string:
		d.Length = utf8.RuneCountInString(x)
		d.Text = x
	default:
		d.Text = cellText(v)
	}
	if len(d.Text) > maxDetailBytes {
		d.Text, d.Truncated = cutText(d.Text[:maxDetailBytes], maxDetailBytes), true
	}
	return d
}

// hexDump formats b as lines of 16 bytes: offset, hex, and ASCII.
//
//	00000000  3c 69 6d 67 20 73 72 63  3d 78 3e 00 01 02 03 04  |<img src=x>.....|
func hexDump(b []byte) string {
	return hex.Dump(b)
}
