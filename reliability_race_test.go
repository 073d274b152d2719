//go:build race

package srdb

// reliabilityUnderRace is true in race builds. The crash loop and the power
// loss sweep skip there: the race detector slows them about tenfold, and CI
// runs them in a step of their own without it
// (go test -count=1 -run '^TestReliability' .).
const reliabilityUnderRace = true
