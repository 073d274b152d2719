//go:build race

package srdb

// raceEnabled is true in race builds (norace_test.go has the false one). The
// race detector slows the engine about tenfold, so the largest tests shrink
// under it, and the crash loop and the power-loss sweep skip there: CI runs
// them in a step of their own without it
// (go test -count=1 -run '^TestReliability' .).
const raceEnabled = true
