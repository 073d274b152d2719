//go:build !race

package srdb

// queryRaceEnabled shrinks the query model test under the race detector,
// which slows it about tenfold.
const queryRaceEnabled = false
