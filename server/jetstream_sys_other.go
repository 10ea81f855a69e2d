//go:build !linux

package server

// jsDefaultMaxMemory falls back to the reference's default where the
// machine's memory is not read.
func jsDefaultMaxMemory() int64 { return jsFallbackMaxMemory }

// jsDefaultMaxStore falls back to the reference's default where free disk
// space is not read.
func jsDefaultMaxStore(string) int64 { return jsFallbackMaxStore }
