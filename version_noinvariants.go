//go:build !invariants && !race

package srdb

// versionInvariants: see version_invariants.go.
const versionInvariants = false
