package srdb

import "testing"

// The benchmarks use the IM workload row (see imCodecRow): channel_id String,
// from_uid String, msg_id Int64, msg_type Uint8, payload Bytes of 200 B.

func BenchmarkEncodeRow(b *testing.B) {
	types, vals := imCodecRow()
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = encodeRow(dst[:0], 42, 1700000000000000000, types, vals); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}

func benchIMRowBytes(b *testing.B) []byte {
	types, vals := imCodecRow()
	buf, err := encodeRow(nil, 42, 1700000000000000000, types, vals)
	if err != nil {
		b.Fatal(err)
	}
	return buf
}

func BenchmarkDecodeRowAll(b *testing.B) {
	types, _ := imCodecRow()
	buf := benchIMRowBytes(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, _, _, err := decodeRow(buf, types); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRowOneField(b *testing.B) {
	buf := benchIMRowBytes(b)
	b.Run("msg_id_int64At", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := parseRow(buf)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok, err := v.int64At(2, Int64); err != nil || !ok {
				b.Fatal(err)
			}
		}
	})
	b.Run("msg_type_int64At", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := parseRow(buf)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok, err := v.int64At(3, Uint8); err != nil || !ok {
				b.Fatal(err)
			}
		}
	})
	b.Run("channel_id_bytesAt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := parseRow(buf)
			if err != nil {
				b.Fatal(err)
			}
			if s, ok := v.bytesAt(0); !ok || len(s) == 0 {
				b.Fatal("no channel_id")
			}
		}
	})
	b.Run("channel_id_value", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := parseRow(buf)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.value(0, String); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("msg_id_decodeRowFields", func(b *testing.B) {
		types, _ := imCodecRow()
		want := []int{2}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRowFields(buf, types, want); err != nil {
				b.Fatal(err)
			}
		}
	})
}
