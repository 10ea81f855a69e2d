//go:build race

package logger

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts of pooled paths are only meaningful without it.
const raceEnabled = true
