package server

import (
	"strings"
	"testing"
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
