package server

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Run with a small -benchtime (e.g. -benchtime=2000x or 1s): the machine is
// shared.

type fsBenchMode struct {
	name string
	mod  func(*FileStoreConfig, *StreamConfig)
}

var fsBenchModes = []fsBenchMode{
	{"plain", func(*FileStoreConfig, *StreamConfig) {}},
	{"s2", func(_ *FileStoreConfig, c *StreamConfig) { c.Compression = S2Compression }},
	{"chacha", func(f *FileStoreConfig, _ *StreamConfig) { f.Cipher, f.Key = ChaCha, []byte("bench key") }},
	{"aes", func(f *FileStoreConfig, _ *StreamConfig) { f.Cipher, f.Key = AES, []byte("bench key") }},
}

func fsBenchOpen(b *testing.B, m fsBenchMode, sync bool) *FileStore {
	fcfg := FileStoreConfig{Dir: b.TempDir(), SyncAlways: sync}
	cfg := &StreamConfig{Name: "B"}
	m.mod(&fcfg, cfg)
	fs, err := NewFileStore(fcfg, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Stop() })
	return fs
}

// BenchmarkFileStoreAppend measures stores with the default sync interval
// (nothing is fsynced during the run: the figure for "no fsync" too).
func BenchmarkFileStoreAppend(b *testing.B) {
	for _, size := range []int{128, 4096} {
		for _, m := range fsBenchModes {
			b.Run(fmt.Sprintf("%dB/%s", size, m.name), func(b *testing.B) {
				fs := fsBenchOpen(b, m, false)
				msg := make([]byte, size)
				rand.Read(msg)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, _, err := fs.StoreMsg("bench.subject", nil, msg, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFileStoreAppendAlways measures sync_interval: always with N
// concurrent writers sharing fsyncs (group commit).
func BenchmarkFileStoreAppendAlways(b *testing.B) {
	for _, size := range []int{128, 4096} {
		for _, writers := range []int{1, 16, 64} {
			for _, m := range []fsBenchMode{fsBenchModes[0], fsBenchModes[2]} {
				b.Run(fmt.Sprintf("%dB/%dw/%s", size, writers, m.name), func(b *testing.B) {
					fs := fsBenchOpen(b, m, true)
					msg := make([]byte, size)
					b.SetBytes(int64(size))
					b.ResetTimer()
					var wg sync.WaitGroup
					per := (b.N + writers - 1) / writers
					for w := 0; w < writers; w++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := 0; i < per; i++ {
								if _, _, err := fs.StoreMsg("bench.subject", nil, msg, 0); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
				})
			}
		}
	}
}

func fsBenchFill(b *testing.B, st StreamStore, n, size, subjects int) {
	msg := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, _, err := st.StoreMsg(fmt.Sprintf("kv.%d", i%subjects), nil, msg, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileStoreRead measures sequential and random loads over 100k
// messages of 128 bytes, cold caches excluded, and last-by-subject over 1000
// subjects.
func BenchmarkFileStoreRead(b *testing.B) {
	const n = 100_000
	for _, m := range fsBenchModes {
		fs := fsBenchOpen(b, m, false)
		fsBenchFill(b, fs, n, 128, 1000)
		var sm StoreMsg
		b.Run("seq/"+m.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := fs.LoadMsg(uint64(i%n)+1, &sm); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("random/"+m.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := fs.LoadMsg(uint64(rng.Intn(n))+1, &sm); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("last-by-subject/"+m.name, func(b *testing.B) {
			subjs := make([]string, 1000)
			for i := range subjs {
				subjs[i] = fmt.Sprintf("kv.%d", i)
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := fs.LoadLastMsg(subjs[i%1000], &sm); err != nil {
					b.Fatal(err)
				}
			}
		})
		fs.Stop()
	}
}

// BenchmarkFileStoreStartup measures opening a store of 1M 128-byte
// messages, from its indexes and (rebuild) with the indexes removed.
func BenchmarkFileStoreStartup(b *testing.B) {
	const n = 1_000_000
	for _, m := range fsBenchModes[:3] {
		dir := b.TempDir()
		fcfg := FileStoreConfig{Dir: dir}
		cfg := &StreamConfig{Name: "B"}
		m.mod(&fcfg, cfg)
		fs, err := NewFileStore(fcfg, cfg)
		if err != nil {
			b.Fatal(err)
		}
		fsBenchFill(b, fs, n, 128, 1000)
		fs.Stop()
		for _, rebuild := range []bool{false, true} {
			name := m.name
			if rebuild {
				name += "/rebuild"
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if rebuild {
						idx, _ := filepath.Glob(filepath.Join(dir, fsMsgsDir, "*.idx"))
						for _, p := range idx {
							os.Remove(p)
						}
					}
					start := time.Now()
					fs, err := NewFileStore(fcfg, cfg)
					if err != nil {
						b.Fatal(err)
					}
					var s StreamState
					fs.FastState(&s)
					if s.Msgs != n {
						b.Fatalf("recovered %d messages", s.Msgs)
					}
					b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/open")
					fs.Stop()
				}
			})
		}
		os.RemoveAll(dir)
	}
}

// BenchmarkMemStoreAppend is the memory store's append for comparison.
func BenchmarkMemStoreAppend(b *testing.B) {
	for _, size := range []int{128, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ms, _ := NewMemStore(&StreamConfig{Name: "M", MaxMsgs: 100_000})
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := ms.StoreMsg("bench.subject", nil, msg, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
