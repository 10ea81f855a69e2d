package server

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// jsDefaultMaxMemory is 75% of the machine's memory, as with the reference.
func jsDefaultMaxMemory() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return jsFallbackMaxMemory
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
				return kb * 1024 / 4 * 3
			}
		}
	}
	return jsFallbackMaxMemory
}

// jsDefaultMaxStore is 75% of the disk space available at dir.
func jsDefaultMaxStore(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return jsFallbackMaxStore
	}
	return int64(st.Bavail) * int64(st.Bsize) / 4 * 3
}
