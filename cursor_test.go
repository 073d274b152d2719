package srdb

import (
	"errors"
	"testing"
)

// TestByteCursorPastEnd: a read past the end returns zero, sets bad, leaves
// off where the failed read began, and every later read fails too, even one
// that would fit.
func TestByteCursorPastEnd(t *testing.T) {
	c := byteCursor{b: []byte{1, 2, 0, 0, 0, 9}}
	if v := c.u16(); v != 0x0201 || c.bad || c.off != 2 {
		t.Fatalf("u16 = %#x bad=%v off=%d", v, c.bad, c.off)
	}
	if v := c.u64(); v != 0 || !c.bad || c.off != 2 {
		t.Fatalf("u64 past the end = %#x bad=%v off=%d, want 0 true 2", v, c.bad, c.off)
	}
	if v := c.u8(); v != 0 || c.off != 2 {
		t.Fatalf("u8 after bad = %d off=%d, want 0 2 (bad is sticky)", v, c.off)
	}
	if b := c.bytes(-1); b != nil {
		t.Fatalf("bytes(-1) = %v", b)
	}
	c = byteCursor{b: []byte{0x80}} // truncated varint
	if v := c.uvarint(); v != 0 || !c.bad || c.off != 0 {
		t.Fatalf("truncated uvarint = %d bad=%v off=%d", v, c.bad, c.off)
	}
	c = byteCursor{b: []byte{3, 0xAA, 0xBB, 0xCC}, file: "f", base: 100}
	n := c.uvarint()
	s := c.sub(int(n))
	if c.bad || s.bad || s.remaining() != 3 || !c.empty() {
		t.Fatalf("sub: bad=%v/%v remaining=%d", c.bad, s.bad, s.remaining())
	}
	s.u8()
	err := s.errorf("boom %d", 7)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeCorrupted || e.File != "f" || e.Offset != 102 {
		t.Fatalf("errorf = %#v, want ErrCorrupted in f at 102", err)
	}
	if s.sub(5); !s.bad {
		t.Fatal("sub past the end did not set bad")
	}
}
