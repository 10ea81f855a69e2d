//go:build !linux

package server

import "time"

// processUsage returns the memory the Go runtime holds; CPU use is not
// measured on this platform yet.
func processUsage(_ time.Time) (int64, float64) { return runtimeUsage() }
