package server

import (
	"bytes"
	"crypto/cipher"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fsLogs collects a store's log lines safely (the rekey worker logs from
// its own goroutine).
type fsLogs struct {
	mu    sync.Mutex
	lines []string
}

func (l *fsLogs) logf(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
}

func (l *fsLogs) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// memBlockCiphers returns the cipher and key generation of every block
// file under dir on mem.
func memBlockCiphers(t *testing.T, mem *memFS, dir string) map[string]fsBlkHeader {
	t.Helper()
	ents, err := mem.ReadDir(filepath.Join(dir, fsMsgsDir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fsBlkHeader{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".blk") {
			continue
		}
		data, err := mem.ReadFile(filepath.Join(dir, fsMsgsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h, err := fsParseBlkHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = h
	}
	return out
}

// memFilesContaining lists the files on mem whose bytes contain marker.
func memFilesContaining(mem *memFS, marker string) []string {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	var hits []string
	for p, n := range mem.cur {
		if !n.dir && bytes.Contains(n.ino.data, []byte(marker)) {
			hits = append(hits, p)
		}
	}
	return hits
}

func fsClearBlocks(hdrs map[string]fsBlkHeader) []string {
	var clear []string
	for name, h := range hdrs {
		if h.cipher == NoCipher {
			clear = append(clear, name)
		}
	}
	return clear
}

// TestFileStoreEncryptExistingSkipsAndRetries makes one block impossible to
// rewrite (its rename fails): encrypt_existing must encrypt every other
// block, log the one it skipped with the reason, and encrypt it once the
// fault is gone, on its retry timer or at the next start.
func TestFileStoreEncryptExistingSkipsAndRetries(t *testing.T) {
	for _, retry := range []string{"timer", "restart"} {
		t.Run(retry, func(t *testing.T) {
			mem := newMemFS()
			fcfg := FileStoreConfig{Dir: "/js/S", BlockSize: 256, fsys: mem}
			cfg := &StreamConfig{Name: "S"}
			fs := fsOpenT(t, fcfg, cfg)
			fsStoreMarked(t, fs, 40, "a")
			fs.Stop()
			if n := len(fsClearBlocks(memBlockCiphers(t, mem, fcfg.Dir))); n < 5 {
				t.Fatalf("only %d blocks", n)
			}
			var failing atomic.Bool
			failing.Store(true)
			mem.setFault(func(op, name string) error {
				if failing.Load() && op == "rename" && strings.HasSuffix(name, "/2.blk.tmp") {
					return memErr(op, name, syscall.EIO)
				}
				return nil
			})
			logs := &fsLogs{}
			fcfg.Cipher, fcfg.Key, fcfg.EncryptExisting, fcfg.Logf = AES, []byte("k"), true, logs.logf
			fcfg.rekeyRetry = time.Hour
			if retry == "timer" {
				fcfg.rekeyRetry = 20 * time.Millisecond
			}
			fs = fsOpenT(t, fcfg, cfg)
			ok := memWaitFor(5*time.Second, func() bool {
				clear := fsClearBlocks(memBlockCiphers(t, mem, fcfg.Dir))
				return len(clear) == 1 && clear[0] == "2.blk" && logs.has("block 2 failed, skipped")
			})
			if !ok {
				t.Fatalf("blocks left clear: %v, logs %q", fsClearBlocks(memBlockCiphers(t, mem, fcfg.Dir)), logs.lines)
			}
			if !logs.has("input/output error") {
				t.Fatalf("the reason is not logged: %q", logs.lines)
			}
			fsCheckMarked(t, fs, 40)
			failing.Store(false)
			if retry == "restart" {
				fs.Stop()
				fs = fsOpenT(t, fcfg, cfg)
			}
			if !memWaitFor(5*time.Second, func() bool { return len(fsClearBlocks(memBlockCiphers(t, mem, fcfg.Dir))) == 0 }) {
				t.Fatalf("block 2 never retried: logs %q", logs.lines)
			}
			fsCheckMarked(t, fs, 40)
			fs.Stop()
			if hits := memFilesContaining(mem, fsMarker); len(hits) > 0 {
				t.Fatalf("clear text left in %v", hits)
			}
		})
	}
}

// fsTryOpenBlocks decodes every block file under dir with stream key skey
// (generation ignored), returning how many opened and how many failed.
func fsTryOpenBlocks(t *testing.T, dir string, skey []byte) (opened, failed int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, fsMsgsDir, "*.blk"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := fsDecodeBlock(data, func(h *fsBlkHeader) (cipher.AEAD, error) {
			return fsNewAEAD(h.cipher, fsDerive(skey, "block:"+string(h.salt[:])))
		})
		if err == nil && d != nil && d.bad == 0 && bytes.Contains(d.plain, []byte(fsMarker)) {
			opened++
		} else {
			failed++
		}
	}
	return opened, failed
}

// TestFileStoreFullKeyRotation: with prev_key alone, the old server key and
// an old copy of meta.key still decrypt every block; with a full rotation
// (RotateStreamKey) they decrypt nothing, while the stream kept taking
// writes and serving reads during the rotation and the new key opens all.
func TestFileStoreFullKeyRotation(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			dir := t.TempDir()
			k1, k2 := []byte("old server key"), []byte("new server key")
			fcfg := FileStoreConfig{Dir: dir, BlockSize: 512, Cipher: ChaCha, Key: k1}
			cfg := &StreamConfig{Name: "R"}
			fs := fsOpenT(t, fcfg, cfg)
			fsStoreMarked(t, fs, 30, "a")
			cs := &ConsumerState{Delivered: SequencePair{4, 12}, AckFloor: SequencePair{2, 7}}
			if o, err := fs.ConsumerStore("dur"); err != nil || o.Update(cs) != nil {
				t.Fatal(err)
			}
			fs.Stop()
			oldKeyFile, err := os.ReadFile(filepath.Join(dir, fsKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			ring, _, _, err := fsOpenStreamKey(oldKeyFile, &fcfg, "R")
			if err != nil {
				t.Fatal(err)
			}
			oldSkey := ring[0].key

			logs := &fsLogs{}
			rcfg := fcfg
			rcfg.Key, rcfg.PrevKey, rcfg.RotateStreamKey, rcfg.Logf = k2, k1, full, logs.logf
			fs = fsOpenT(t, rcfg, cfg)
			// Online: writes and reads go on while blocks are rewritten.
			fsStoreMarked(t, fs, 10, "b")
			fsCheckMarked(t, fs, 40)
			if full && !memWaitFor(5*time.Second, func() bool { return logs.has("full key rotation complete") }) {
				t.Fatalf("rotation did not complete: %q", logs.lines)
			}
			fs.Stop()

			opened, failed := fsTryOpenBlocks(t, dir, oldSkey)
			if full && opened > 0 {
				t.Fatalf("after a full rotation the old stream key still opens %d blocks", opened)
			}
			if !full && failed > 0 {
				t.Fatalf("prev_key alone: %d blocks no longer open with the old stream key", failed)
			}
			// The old server key with the old meta.key, as a thief would try.
			stolen := t.TempDir()
			fsCopyDir(t, dir, stolen)
			os.WriteFile(filepath.Join(stolen, fsKeyFile), oldKeyFile, 0o640)
			scfg := fcfg
			scfg.Dir = stolen
			_, err = ReadFileStoreConfig(scfg, "R")
			if full != (err != nil) {
				t.Fatalf("full=%v: reading the config with the old key material: %v", full, err)
			}
			if hits := fsFilesContaining(t, dir, fsMarker); len(hits) > 0 {
				t.Fatalf("clear text in %v", hits)
			}
			// The new key alone opens everything.
			ncfg := fcfg
			ncfg.Key = k2
			fs = fsOpenT(t, ncfg, cfg)
			fsCheckMarked(t, fs, 40)
			o, _ := fs.ConsumerStore("dur")
			if got, err := o.State(); err != nil || got.Delivered != cs.Delivered || got.AckFloor != cs.AckFloor {
				t.Fatalf("consumer state after rotation: %+v %v", got, err)
			}
		})
	}
}

// TestFileStoreKeyRotationResumes: a rotation cut short (a block that
// cannot be rewritten, then a crash) resumes at the next start even without
// prev_key, since meta.key keeps the old stream key until no block needs it.
func TestFileStoreKeyRotationResumes(t *testing.T) {
	mem := newMemFS()
	k1, k2 := []byte("old"), []byte("new")
	fcfg := FileStoreConfig{Dir: "/js/R", BlockSize: 256, Cipher: AES, Key: k1, SyncAlways: true, fsys: mem}
	cfg := &StreamConfig{Name: "R"}
	fs := fsOpenT(t, fcfg, cfg)
	fsStoreMarked(t, fs, 30, "a")
	fs.Stop()
	gens := map[uint8]bool{}
	for _, h := range memBlockCiphers(t, mem, fcfg.Dir) {
		gens[h.keyGen] = true
	}
	mem.setFault(func(op, name string) error {
		if op == "rename" && strings.HasSuffix(name, "/3.blk.tmp") {
			return memErr(op, name, syscall.ENOSPC)
		}
		return nil
	})
	logs := &fsLogs{}
	rcfg := fcfg
	rcfg.Key, rcfg.PrevKey, rcfg.RotateStreamKey, rcfg.Logf, rcfg.rekeyRetry = k2, k1, true, logs.logf, time.Hour
	fs = fsOpenT(t, rcfg, cfg)
	if !memWaitFor(5*time.Second, func() bool { return logs.has("block 3 failed, skipped") }) {
		t.Fatalf("no skip logged: %q", logs.lines)
	}
	crashed := mem.crashCopy()
	fs.Stop()
	ncfg := fcfg
	ncfg.Key, ncfg.Logf, ncfg.fsys = k2, logs.logf, crashed
	fs = fsOpenT(t, ncfg, cfg)
	fsCheckMarked(t, fs, 30)
	if !memWaitFor(5*time.Second, func() bool { return logs.has("full key rotation complete") }) {
		t.Fatalf("rotation not resumed: %q", logs.lines)
	}
	for name, h := range memBlockCiphers(t, crashed, fcfg.Dir) {
		if gens[h.keyGen] {
			t.Fatalf("%s still under the old stream key (generation %d)", name, h.keyGen)
		}
	}
	fs.Stop()
	fs = fsOpenT(t, ncfg, cfg)
	fsCheckMarked(t, fs, 30)
}
