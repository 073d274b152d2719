// Package anonmem maps anonymous memory outside the Go heap: private,
// zero-filled pages no file backs, which the garbage collector neither
// scans nor counts toward its heap goal, returned to the kernel by Unmap.
//
// It does no I/O (no file is named, read or written), so it is not behind
// srdb's Options.FS; the root package's rule that only vfs_os.go calls the
// os and syscall file functions (vfs_os_test.go) is about files.
package anonmem

import "syscall"

// Map returns n bytes (n > 0) of fresh zeroed memory, rounded up to whole
// pages (len and cap are the mapped length). The caller must Unmap it and
// must not touch it afterwards.
func Map(n int) ([]byte, error) {
	page := syscall.Getpagesize()
	return syscall.Mmap(-1, 0, (n+page-1)&^(page-1), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

// Unmap returns memory from Map (the whole slice Map returned) to the
// kernel.
func Unmap(b []byte) error { return syscall.Munmap(b) }
