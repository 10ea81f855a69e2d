//go:build race

package server

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts through pools are only meaningful without it.
const raceEnabled = true
