package anonmem

import (
	"syscall"
	"testing"
)

func TestMapUnmap(t *testing.T) {
	b, err := Map(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != syscall.Getpagesize() {
		t.Fatalf("len %d, want one page", len(b))
	}
	for i := range b {
		if b[i] != 0 {
			t.Fatalf("byte %d is %d", i, b[i])
		}
	}
	b[len(b)-1] = 1
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
}
