package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fsKindOf returns a store kind for the file store with the given options;
// each opened store gets its own directory and reopen restarts it there.
func fsKindOf(name string, mod func(*FileStoreConfig)) storeKind {
	dirs := map[StreamStore]FileStoreConfig{}
	open := func(t *testing.T, fcfg FileStoreConfig, cfg *StreamConfig) StreamStore {
		t.Helper()
		fs, err := NewFileStore(fcfg, cfg)
		if err != nil {
			t.Fatalf("NewFileStore: %v", err)
		}
		dirs[fs] = fcfg
		t.Cleanup(func() { fs.Stop() })
		return fs
	}
	return storeKind{
		name: name,
		open: func(t *testing.T, cfg *StreamConfig) StreamStore {
			if strings.Contains(name, "s2") {
				c := *cfg
				c.Compression = S2Compression
				cfg = &c
			}
			fcfg := FileStoreConfig{Dir: t.TempDir(), BlockSize: 1024}
			if mod != nil {
				mod(&fcfg)
			}
			return open(t, fcfg, cfg)
		},
		reopen: func(t *testing.T, st StreamStore) StreamStore {
			t.Helper()
			fcfg := dirs[st]
			var s StreamState
			st.FastState(&s)
			fs := st.(*FileStore)
			fs.mu.Lock()
			cfg := fs.cfg
			fs.mu.Unlock()
			if err := st.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			return open(t, fcfg, &cfg)
		},
	}
}

func init() {
	storeKindsExtra = append(storeKindsExtra,
		fsKindOf("file", nil),
		fsKindOf("file-s2", nil),
		fsKindOf("file-chacha-s2", func(c *FileStoreConfig) { c.Cipher, c.Key = ChaCha, []byte("secret key") }),
		fsKindOf("file-aes-always", func(c *FileStoreConfig) { c.Cipher, c.Key, c.SyncAlways = AES, []byte("secret key"), true }),
	)
}

func fsDirSize(t *testing.T, dir string) int64 {
	var n int64
	for _, p := range fsListFiles(t, filepath.Join(dir, fsMsgsDir)) {
		if st, err := os.Stat(p); err == nil && strings.HasSuffix(p, ".blk") {
			n += st.Size()
		}
	}
	return n
}

func TestFileStoreCompactsMostlyDeletedBlocks(t *testing.T) {
	dir := t.TempDir()
	fcfg := FileStoreConfig{Dir: dir, BlockSize: 4096}
	fs := fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	for i := 0; i < 400; i++ {
		storeMust(t, fs, fmt.Sprintf("c.%d", i%10), nil, bytes.Repeat([]byte{'x'}, 100))
	}
	before := fsDirSize(t, dir)
	for seq := uint64(1); seq <= 400; seq++ {
		if seq%10 != 0 {
			if ok, err := fs.RemoveMsg(seq); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
	}
	// What remains: 40 messages and the 360 tombstones that make the
	// removals durable.
	after := fsDirSize(t, dir)
	if after > before/2 {
		t.Fatalf("blocks not compacted: %d bytes before, %d after", before, after)
	}
	fs.Stop()
	fs = fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	s := fs.State()
	if s.Msgs != 40 || s.FirstSeq != 10 || s.LastSeq != 400 {
		t.Fatalf("state after compaction and restart: %+v", s)
	}
	for seq := uint64(10); seq <= 400; seq += 10 {
		storeCheckMsg(t, fs, seq, "c.9", nil, bytes.Repeat([]byte{'x'}, 100))
	}
}

func TestFileStoreEraseOverwrites(t *testing.T) {
	for _, c := range []struct {
		name string
		s2   bool
	}{{"plain", false}, {"s2", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := &StreamConfig{Name: "S"}
			if c.s2 {
				cfg.Compression = S2Compression
			}
			fs := fsOpenT(t, FileStoreConfig{Dir: dir, BlockSize: 1024}, cfg)
			for i := 0; i < 30; i++ {
				payload := []byte("ordinary payload")
				if i == 4 || i == 27 {
					payload = []byte("secret " + fsMarker)
				}
				storeMust(t, fs, "e", nil, payload)
			}
			fs.Stop()
			if len(fsFilesContaining(t, dir, fsMarker)) == 0 {
				t.Fatal("marker not stored")
			}
			fs = fsOpenT(t, FileStoreConfig{Dir: dir, BlockSize: 1024}, cfg)
			for _, seq := range []uint64{5, 28} {
				if ok, err := fs.EraseMsg(seq); !ok || err != nil {
					t.Fatal(ok, err)
				}
			}
			if hits := fsFilesContaining(t, dir, fsMarker); len(hits) > 0 {
				t.Fatalf("erased payload still on disk in %v", hits)
			}
			fs.Stop()
			fs = fsOpenT(t, FileStoreConfig{Dir: dir, BlockSize: 1024}, cfg)
			if s := fs.State(); s.Msgs != 28 || s.Lost != nil {
				t.Fatalf("state after erase and restart: %+v", s)
			}
		})
	}
}

// TestFileStoreConcurrentUse runs writers, removers, readers and purges at
// once (meant for -race), then checks a restart sees the same state.
func TestFileStoreConcurrentUse(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprintf("always=%v", always), func(t *testing.T) {
			fcfg := FileStoreConfig{Dir: t.TempDir(), BlockSize: 2048, SyncAlways: always, Cipher: ChaCha, Key: []byte("k")}
			cfg := &StreamConfig{Name: "C", Compression: S2Compression, MaxMsgsPer: 50}
			fs := fsOpenT(t, fcfg, cfg)
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < 150; i++ {
						seq, _, err := fs.StoreMsg(fmt.Sprintf("c.%d.%d", w, i%5), nil, []byte("concurrent payload"), 0)
						if err != nil {
							t.Error(err)
							return
						}
						if i%3 == 0 {
							fs.RemoveMsg(seq - 1)
						}
					}
				}(w)
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				var sm StoreMsg
				for i := 0; i < 300; i++ {
					fs.LoadNextMsg("c.1.*", uint64(i), &sm)
					fs.LoadLastMsg("c.2.3", &sm)
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					fs.PurgeEx("c.3.>", 0, 2)
					fs.EraseMsg(uint64(10 * (i + 1)))
				}
			}()
			wg.Wait()
			want := fs.State()
			fs.Stop()
			fs = fsOpenT(t, fcfg, cfg)
			got := fs.State()
			got.FirstTime, got.LastTime, want.FirstTime, want.LastTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("state after restart\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestFileStoreConfigPersisted(t *testing.T) {
	fcfg := FileStoreConfig{Dir: t.TempDir()}
	fs := fsOpenT(t, fcfg, &StreamConfig{Name: "S", MaxMsgs: 10})
	fs.Stop()
	fs = fsOpenT(t, fcfg, &StreamConfig{Name: "S", MaxMsgs: 20, Subjects: []string{"x.>"}})
	fs.Stop()
	got, err := ReadFileStoreConfig(fcfg, "S")
	if err != nil || got.MaxMsgs != 20 || len(got.Subjects) != 1 || got.Storage != FileStorage {
		t.Fatalf("stored config %+v %v", got, err)
	}
	fs = fsOpenT(t, fcfg, got)
	if err := fs.UpdateConfig(&StreamConfig{Name: "S", MaxMsgs: 30}); err != nil {
		t.Fatal(err)
	}
	if err := fs.UpdateConfig(&StreamConfig{Name: "other"}); err == nil {
		t.Fatal("renamed a stream through UpdateConfig")
	}
	fs.Stop()
	if got, _ := ReadFileStoreConfig(fcfg, "S"); got.MaxMsgs != 30 || got.Storage != FileStorage {
		t.Fatalf("updated config not stored: %+v", got)
	}
}

// With the default cache budget, a stream written far past it keeps only a
// few blocks' worth of decoded content on the heap: the blocks a writer has
// sealed are not held until the budget is full.
func TestFileStoreDefaultCacheBoundsHeap(t *testing.T) {
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	fs := fsOpenT(t, FileStoreConfig{Dir: t.TempDir()}, &StreamConfig{Name: "S"})
	msg := bytes.Repeat([]byte{'x'}, 64<<10)
	const total = 48 << 20
	for i := 0; i < total/len(msg); i++ {
		storeMust(t, fs, "big", nil, msg)
	}
	// Sealed blocks become evictable once the writer has them on disk.
	const limit = 16 << 20
	deadline := time.Now().Add(10 * time.Second)
	for grown := heap() - base; grown > limit; grown = heap() - base {
		if time.Now().After(deadline) {
			t.Fatalf("heap grew by %d MiB after writing %d MiB; want at most %d MiB",
				grown>>20, total>>20, limit>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
