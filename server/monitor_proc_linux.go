package server

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// processUsage returns the resident set size in bytes and the average CPU
// use in percent since start, from /proc/self/stat (fields utime, stime in
// clock ticks, rss in pages). Falls back to the Go runtime's view on error.
func processUsage(start time.Time) (int64, float64) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return runtimeUsage()
	}
	// The command name may hold spaces; fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return runtimeUsage()
	}
	f := bytes.Fields(b[i+1:])
	// After ')' field 0 is state (3rd overall): utime is 14th, stime 15th,
	// rss 24th overall.
	if len(f) < 22 {
		return runtimeUsage()
	}
	utime, _ := strconv.ParseInt(string(f[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(f[12]), 10, 64)
	rss, _ := strconv.ParseInt(string(f[21]), 10, 64)
	const ticks = 100 // USER_HZ, fixed at 100 on Linux for user space
	cpuSecs := float64(utime+stime) / ticks
	var cpu float64
	if el := time.Since(start).Seconds(); el > 0 {
		cpu = float64(int64(cpuSecs/el*1000+0.5)) / 10
	}
	return rss * int64(os.Getpagesize()), cpu
}
