//go:build !race

package srdb

// reliabilityUnderRace is true in race builds; see reliability_race_test.go.
const reliabilityUnderRace = false
