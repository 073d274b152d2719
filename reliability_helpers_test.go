package srdb

import (
	"os"
	"testing"
)

// The reliability tests are all named TestReliability…; .ci/run runs
// them in a step of their own (`go test -run '^TestReliability'`) so that
// their time is visible, and skips them in the main race run.
//
// Soak mode: SRDB_SOAK=1 multiplies every reliability test's iteration
// count by soakMultiplier (docs/RELIABILITY.md, "Soak").

// soakMultiplier is how much longer the reliability tests run under SRDB_SOAK=1.
const soakMultiplier = 10

// soakFactor returns soakMultiplier when SRDB_SOAK=1 is set, else 1.
func soakFactor() int {
	if os.Getenv("SRDB_SOAK") == "1" {
		return soakMultiplier
	}
	return 1
}

// soakIterations scales a CI iteration count by soakFactor and logs the
// figure, so every run's output states how much it did.
func soakIterations(t testing.TB, ci int) int {
	n := ci * soakFactor()
	t.Logf("iterations: %d (SRDB_SOAK=%q)", n, os.Getenv("SRDB_SOAK"))
	return n
}

// IsNotFoundTable reports whether err is ErrTableNotFound.
func IsNotFoundTable(err error) bool { return ErrorCode(err) == CodeTableNotFound }

// mustGet returns field f of r (nil when absent).
func mustGet(r *Row, f string) any {
	v, _ := r.Get(f)
	return v
}
