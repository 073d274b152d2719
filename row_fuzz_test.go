package srdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// fuzzRowTypes turns fuzzer bytes into a list of valid field types.
func fuzzRowTypes(b []byte) []FieldType {
	types := make([]FieldType, len(b))
	for i, x := range b {
		types[i] = FieldType(int(x)%int(numFieldTypes-1)) + Int
	}
	return types
}

// fuzzRowTypeBytes is the inverse of fuzzRowTypes for seeding.
func fuzzRowTypeBytes(types []FieldType) []byte {
	b := make([]byte, len(types))
	for i, t := range types {
		b[i] = byte(t - Int)
	}
	return b
}

// FuzzDecodeRow feeds arbitrary bytes to the ROW1 decoder. The first argument
// is the row, the second picks a type list (in addition to several fixed
// lists). Nothing may panic; whatever decodes must re-encode and decode to the
// same values, byte-identically for the non-JSON types (their decoders accept
// only the canonical encoding).
func FuzzDecodeRow(f *testing.F) {
	seedRow := func(types []FieldType, vals []any) {
		buf, err := encodeRow(nil, 7, 1700000000000000000, types, vals)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(buf, fuzzRowTypeBytes(types))
	}
	imTypes, imVals := imCodecRow()
	seedRow(imTypes, imVals)
	tk, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		tk = time.FixedZone("JST", 9*3600)
	}
	all := allRowTypes()
	allVals := []any{-1, int8(-2), int16(300), int32(-70000), int64(math.MinInt64), uint(math.MaxUint), uint8(255),
		uint16(65535), uint32(1 << 31), uint64(math.MaxUint64), float32(-0.5), math.NaN(), "héllo", true, byte(7), 'é',
		decimal.RequireFromString("-123456789012345678901234567890.5"),
		time.Date(2024, 5, 6, 7, 8, 9, 123456789, tk), time.Duration(math.MaxInt64),
		map[string]any{"a": []any{1.0, "x", nil, map[string]any{"b": false}}}, []any{1e300, math.Copysign(0, -1), "s"}, []byte{0, 1, 2}}
	seedRow(all, allVals)
	seedRow(all, make([]any, len(all)))
	seedRow(nil, nil)
	seedRow([]FieldType{Time, Time, Decimal, Decimal},
		[]any{time.Date(1900, 1, 1, 0, 0, 0, 1, time.FixedZone("", -3600)), time.Unix(0, 0).UTC(), decimal.Zero, decimal.New(1, -1000)})
	seedRow([]FieldType{Object, Array, Bool}, []any{map[string]any{}, []any{}, false})

	// Garbage and near misses.
	f.Add([]byte{}, []byte{})
	f.Add([]byte("ROW1"), []byte{0})
	f.Add([]byte("ROW2\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), []byte{})
	hdr := append([]byte("ROW1"), make([]byte, 16)...)
	f.Add(binary.LittleEndian.AppendUint16(bytes.Clone(hdr), 0xffff), []byte{1, 2, 3})
	wrap := binary.LittleEndian.AppendUint16(bytes.Clone(hdr), 1)
	wrap = binary.LittleEndian.AppendUint32(wrap, 0xFFFFFFF8)
	wrap = binary.LittleEndian.AppendUint32(wrap, 0x10)
	f.Add(append(wrap, make([]byte, 16)...), []byte{12})
	f.Add(bytes.Repeat([]byte{0xff}, 64), []byte{5, 17, 18})

	fixedLists := [][]FieldType{all, imTypes, {Object, Array, Decimal, Time}}
	f.Fuzz(func(t *testing.T, buf []byte, typeBytes []byte) {
		if len(typeBytes) > 1024 {
			typeBytes = typeBytes[:1024]
		}
		lists := append(fixedLists[:len(fixedLists):len(fixedLists)], fuzzRowTypes(typeBytes))
		v, err := parseRow(buf)
		if err != nil {
			if !errors.Is(err, ErrCorrupted) {
				t.Fatalf("parseRow error is not ErrCorrupted: %v", err)
			}
			return
		}
		for _, types := range lists {
			fuzzRowAccessors(t, v, types)
			seq, ts, vals, err := decodeRow(buf, types)
			if err != nil {
				if !errors.Is(err, ErrCorrupted) {
					t.Fatalf("decodeRow error is not ErrCorrupted: %v", err)
				}
				continue
			}
			fuzzRowReencode(t, v, seq, ts, types, vals)
		}
	})
}

// fuzzRowAccessors calls every accessor on every field; errors are fine,
// panics are not.
func fuzzRowAccessors(t *testing.T, v rowView, types []FieldType) {
	for i, typ := range types {
		_ = v.isNull(i)
		_ = v.raw(i)
		_, _ = v.bytesAt(i)
		_, _, _ = v.int64At(i, typ)
		_, _, _ = v.uint64At(i, typ)
		_, _, _ = v.float64At(i, typ)
		_, _, _ = v.boolAt(i)
		if _, err := v.value(i, typ); err != nil && !errors.Is(err, ErrCorrupted) {
			t.Fatalf("field %d (%s): error is not ErrCorrupted: %v", i, typ, err)
		}
	}
}

// fuzzRowReencode checks that a decoded row encodes again and decodes to the
// same values.
func fuzzRowReencode(t *testing.T, v rowView, seq, ts int64, types []FieldType, vals []any) {
	buf2, err := encodeRow(nil, seq, ts, types, vals)
	if err != nil {
		t.Fatalf("re-encoding decoded values: %v", err)
	}
	v2, err := parseRow(buf2)
	if err != nil {
		t.Fatalf("parsing re-encoded row: %v", err)
	}
	seq2, ts2, vals2, err := decodeRow(buf2, types)
	if err != nil {
		t.Fatalf("decoding re-encoded row: %v", err)
	}
	if seq2 != seq || ts2 != ts {
		t.Fatalf("seq/time changed: %d/%d -> %d/%d", seq, ts, seq2, ts2)
	}
	for i, typ := range types {
		if !rowValueEqual(typ, vals[i], vals2[i]) {
			t.Fatalf("field %d (%s): %#v re-decoded as %#v", i, typ, vals[i], vals2[i])
		}
		if typ == Object || typ == Array {
			continue // JSON text is normalised (spacing, escapes, number spelling)
		}
		if !bytes.Equal(v.raw(i), v2.raw(i)) || v.isNull(i) != v2.isNull(i) {
			t.Fatalf("field %d (%s): bytes %x re-encoded as %x", i, typ, v.raw(i), v2.raw(i))
		}
	}
}
