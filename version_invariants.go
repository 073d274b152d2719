//go:build invariants || race

package srdb

// versionInvariants turns broken refcount invariants of versions (a ref of a
// dead version, an unref below zero) into panics. It is on in race and
// "invariants" builds (the test runs) and off in production, where such a
// bug is contained instead (the count is clamped at zero).
const versionInvariants = true
