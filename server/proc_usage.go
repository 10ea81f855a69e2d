package server

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cpuSample remembers the last CPU time reading, so that the CPU figure is
// the percentage used since the previous call, as the reference reports it.
var cpuSample struct {
	sync.Mutex
	at    time.Time
	ticks float64
}

// processUsage returns the resident memory in bytes and the CPU use in
// percent since the previous call. On systems without /proc it reports the
// Go runtime's view of memory and no CPU figure.
func processUsage() (int64, float64) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.Sys), 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: utime is field 14, stime 15, rss 24 (1-based).
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 22 {
		return 0, 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	mem := rss * int64(os.Getpagesize())
	const clkTck = 100 // USER_HZ on Linux
	ticks := utime + stime
	cpuSample.Lock()
	defer cpuSample.Unlock()
	now := time.Now()
	var pct float64
	if !cpuSample.at.IsZero() {
		if el := now.Sub(cpuSample.at).Seconds(); el > 0 {
			pct = (ticks - cpuSample.ticks) / clkTck / el * 100
		}
	} else {
		// First reading: average since the process started.
		pct = 0
	}
	cpuSample.at, cpuSample.ticks = now, ticks
	return mem, float64(int(pct*100)) / 100
}
