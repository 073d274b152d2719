//go:build !race

package srdb

// raceEnabled is true in race builds; see race_test.go.
const raceEnabled = false
