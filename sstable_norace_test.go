//go:build !race

package srdb

// sstRaceEnabled shrinks the largest SST tests under the race detector,
// which slows them about tenfold.
const sstRaceEnabled = false
