package test

import (
	"testing"
	"time"
)

// processCPU is not measured on Windows.
func processCPU() time.Duration { return 0 }

// reportCPU reports nothing on Windows.
func reportCPU(*testing.B, time.Duration) {}
