package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const fsMarker = "ZQXMARKER"

// fsFilesContaining lists the files under dir whose bytes contain marker.
func fsFilesContaining(t *testing.T, dir, marker string) []string {
	t.Helper()
	var hits []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if os.IsNotExist(err) {
			return nil // A temp file renamed away by a background rewrite.
		}
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(marker)) {
			hits = append(hits, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func fsOpenT(t *testing.T, fcfg FileStoreConfig, cfg *StreamConfig) *FileStore {
	t.Helper()
	fs, err := NewFileStore(fcfg, cfg)
	if err != nil {
		t.Fatalf("NewFileStore: %v", err)
	}
	t.Cleanup(func() { fs.Stop() })
	return fs
}

func fsStoreMarked(t *testing.T, st StreamStore, n int, tag string) {
	t.Helper()
	for i := 0; i < n; i++ {
		hdr := []byte("NATS/1.0\r\nX-" + fsMarker + ": " + fsMarker + "\r\n\r\n")
		storeMust(t, st, "sub."+fsMarker+"."+tag, hdr, []byte(fmt.Sprintf("%s payload %s %d", fsMarker, tag, i)))
	}
}

func fsCheckMarked(t *testing.T, st StreamStore, want int) {
	t.Helper()
	var s StreamState
	st.FastState(&s)
	if s.Msgs != uint64(want) {
		t.Fatalf("msgs = %d, want %d", s.Msgs, want)
	}
	var sm StoreMsg
	loaded := 0
	for seq := s.FirstSeq; seq <= s.LastSeq; seq++ {
		m, err := st.LoadMsg(seq, &sm)
		if errors.Is(err, ErrStoreMsgNotFound) {
			continue
		}
		if err != nil || !bytes.Contains(m.Msg, []byte(fsMarker)) {
			t.Fatalf("load %d: %v", seq, err)
		}
		loaded++
	}
	if loaded != want {
		t.Fatalf("loaded %d, want %d", loaded, want)
	}
}

func TestFileStoreEncryptionHidesEverything(t *testing.T) {
	for _, c := range []StoreCipher{ChaCha, AES} {
		t.Run(c.String(), func(t *testing.T) {
			dir := t.TempDir()
			fcfg := FileStoreConfig{Dir: dir, BlockSize: 2048, Cipher: c, Key: []byte("k1")}
			cfg := &StreamConfig{Name: "S", Subjects: []string{"sub." + fsMarker + ".>"}, Compression: S2Compression}
			fs := fsOpenT(t, fcfg, cfg)
			fsStoreMarked(t, fs, 40, "a")
			fs.RemoveMsg(3)
			o, _ := fs.ConsumerStore("C")
			o.Update(&ConsumerState{Delivered: SequencePair{1, 1}})
			if hits := fsFilesContaining(t, dir, fsMarker); len(hits) > 0 {
				t.Fatalf("marker readable while running in %v", hits)
			}
			fs.Stop()
			if hits := fsFilesContaining(t, dir, fsMarker); len(hits) > 0 {
				t.Fatalf("marker readable after stop in %v", hits)
			}
			fs = fsOpenT(t, fcfg, cfg)
			fsCheckMarked(t, fs, 39)
		})
	}
}

func TestFileStoreWrongKey(t *testing.T) {
	for _, c := range []struct {
		cipher StoreCipher
		msg    string
	}{
		{ChaCha, "Error decrypting our stream metafile: chacha20poly1305: message authentication failed"},
		{AES, "Error decrypting our stream metafile: cipher: message authentication failed"},
	} {
		t.Run(c.cipher.String(), func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			fcfg := FileStoreConfig{Dir: dir, Cipher: c.cipher, Key: []byte("right")}
			fs := fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
			fsStoreMarked(t, fs, 3, "a")
			fs.Stop()
			bad := fcfg
			bad.Key = []byte("wrong")
			if _, err := NewFileStore(bad, &StreamConfig{Name: "S"}); err == nil || err.Error() != c.msg {
				t.Fatalf("wrong key: %v", err)
			}
			none := fcfg
			none.Key = nil
			if _, err := NewFileStore(none, &StreamConfig{Name: "S"}); err == nil {
				t.Fatal("opened an encrypted stream without a key")
			}
			// Other streams with the same (wrong) settings still work.
			ok := fsOpenT(t, FileStoreConfig{Dir: other, Cipher: c.cipher, Key: []byte("wrong")}, &StreamConfig{Name: "T"})
			storeMust(t, ok, "t", nil, []byte("fine"))
			// And the right key still opens the failed stream, intact.
			fsCheckMarked(t, fsOpenT(t, fcfg, &StreamConfig{Name: "S"}), 3)
		})
	}
}

func fsBlockCiphers(t *testing.T, dir string) map[StoreCipher]int {
	t.Helper()
	out := map[StoreCipher]int{}
	blks, _ := filepath.Glob(filepath.Join(dir, fsMsgsDir, "*.blk"))
	for _, p := range blks {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := fsParseBlkHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[h.cipher]++
	}
	return out
}

func TestFileStoreCipherChange(t *testing.T) {
	dir := t.TempDir()
	fcfg := FileStoreConfig{Dir: dir, BlockSize: 1024, Cipher: ChaCha, Key: []byte("same")}
	fs := fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	fsStoreMarked(t, fs, 10, "a")
	fs.Stop()
	fcfg.Cipher = AES
	fs = fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	fsStoreMarked(t, fs, 10, "b")
	fsCheckMarked(t, fs, 20)
	fs.Stop()
	got := fsBlockCiphers(t, dir)
	if got[ChaCha] == 0 || got[AES] == 0 || got[NoCipher] != 0 {
		t.Fatalf("block ciphers %v", got)
	}
	fsCheckMarked(t, fsOpenT(t, fcfg, &StreamConfig{Name: "S"}), 20)
}

func TestFileStoreEnableEncryptionAndEncryptExisting(t *testing.T) {
	dir := t.TempDir()
	fcfg := FileStoreConfig{Dir: dir, BlockSize: 1024}
	fs := fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	fsStoreMarked(t, fs, 10, "old")
	fs.Stop()
	if len(fsFilesContaining(t, dir, fsMarker)) == 0 {
		t.Fatal("clear store does not contain its data")
	}
	fcfg.Key, fcfg.Cipher = []byte("now"), ChaCha
	fs = fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	fsStoreMarked(t, fs, 10, "new")
	fsCheckMarked(t, fs, 20)
	fs.Stop()
	// As in the reference, old blocks stay clear, new ones are encrypted.
	if got := fsBlockCiphers(t, dir); got[NoCipher] == 0 || got[ChaCha] == 0 {
		t.Fatalf("block ciphers %v", got)
	}
	for _, p := range fsFilesContaining(t, dir, fsMarker) {
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(".new")) {
			t.Fatalf("new data readable in %s", p)
		}
	}
	fcfg.EncryptExisting = true
	fs = fsOpenT(t, fcfg, &StreamConfig{Name: "S"})
	storeWaitFor(t, 10*time.Second, "old blocks re-encrypted", func() bool {
		return len(fsFilesContaining(t, dir, fsMarker)) == 0
	})
	fsCheckMarked(t, fs, 20)
	fs.Stop()
	if got := fsBlockCiphers(t, dir); got[NoCipher] != 0 {
		t.Fatalf("clear blocks left: %v", got)
	}
	fcfg.EncryptExisting = false
	fsCheckMarked(t, fsOpenT(t, fcfg, &StreamConfig{Name: "S"}), 20)
}

func TestFileStoreKeyRotation(t *testing.T) {
	dir := t.TempDir()
	old := FileStoreConfig{Dir: dir, BlockSize: 1024, Cipher: AES, Key: []byte("old key")}
	fs := fsOpenT(t, old, &StreamConfig{Name: "S"})
	fsStoreMarked(t, fs, 10, "a")
	fs.Stop()
	blk := filepath.Join(dir, fsMsgsDir, "1.blk")
	before, _ := os.ReadFile(blk)
	rot := old
	rot.Key, rot.PrevKey = []byte("new key"), []byte("old key")
	fs = fsOpenT(t, rot, &StreamConfig{Name: "S"})
	fsCheckMarked(t, fs, 10)
	fs.Stop()
	if after, _ := os.ReadFile(blk); !bytes.Equal(before, after) {
		t.Fatal("rotation rewrote message blocks")
	}
	rot.PrevKey = nil
	fsCheckMarked(t, fsOpenT(t, rot, &StreamConfig{Name: "S"}), 10)
	if _, err := NewFileStore(old, &StreamConfig{Name: "S"}); err == nil {
		t.Fatal("old key still opens the stream after rotation")
	}
}

func TestFileStoreReadConfig(t *testing.T) {
	dir := t.TempDir()
	fcfg := FileStoreConfig{Dir: dir, Cipher: ChaCha, Key: []byte("k")}
	cfg := &StreamConfig{Name: "S", Subjects: []string{"a.>"}, MaxMsgs: 7, Discard: DiscardNew, Storage: FileStorage}
	fs := fsOpenT(t, fcfg, cfg)
	fs.Stop()
	got, err := ReadFileStoreConfig(fcfg, "S")
	if err != nil || got.MaxMsgs != 7 || got.Discard != DiscardNew || len(got.Subjects) != 1 {
		t.Fatalf("ReadFileStoreConfig = %+v, %v", got, err)
	}
	fcfg.Key = []byte("other")
	if _, err := ReadFileStoreConfig(fcfg, "S"); err == nil || err.Error() != "Error decrypting our stream metafile: chacha20poly1305: message authentication failed" {
		t.Fatalf("wrong key: %v", err)
	}
}
