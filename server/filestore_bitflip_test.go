package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// fsLogicalAt maps file offset pos of a block to the logical content offset
// whose byte it carries: in a clear block the byte itself, in an encrypted
// one a ciphertext byte of a frame. -1 for framing bytes (header, nonce,
// tag), which the test does not aim at.
func fsLogicalAt(file []byte, h fsBlkHeader, pos int) int {
	if !h.framed() {
		return pos - fsBlkHdrSize
	}
	for p := fsBlkHdrSize; p+fsFrameHdr <= len(file); {
		blen := int(binary.LittleEndian.Uint32(file[p:]))
		off := int(binary.LittleEndian.Uint64(file[p+4:]))
		ct := p + fsFrameHdr + fsNonceSize
		end := p + fsFrameHdr + blen - 16 // Both AEADs have 16-byte tags.
		if pos >= ct && pos < end {
			return off + pos - ct
		}
		p += fsFrameHdr + blen
	}
	return -1
}

// fsSeqAt returns the message sequence of the record holding logical
// offset l of content plain, 0 if that record is not a message.
func fsSeqAt(plain []byte, hkey []byte, l int) uint64 {
	var r fsRec
	for p := 0; p < len(plain); p += r.rlen {
		if fsParseRecord(plain[p:], hkey, &r) != nil {
			return 0
		}
		if l >= p && l < p+r.rlen {
			if r.kind == fsKindMsg {
				return r.seq
			}
			return 0
		}
	}
	return 0
}

// TestFileStoreBitFlipLosesOneRecord flips one bit inside a record of a
// block (clear, or inside a frame's ciphertext when encrypted, in frames
// written per batch and in 64 KiB frames of rewritten blocks), with and
// without the block's index: the store opens, serves every other message
// exactly, refuses the one hit, and logs the damage.
func TestFileStoreBitFlipLosesOneRecord(t *testing.T) {
	variants := []struct {
		name    string
		cipher  StoreCipher
		rewrite bool
	}{
		{"plain", NoCipher, false},
		{"chacha", ChaCha, false},
		{"aes-rewritten", AES, true},
		{"chacha-rewritten", ChaCha, true},
	}
	rng := rand.New(rand.NewSource(7))
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			base := t.TempDir()
			fcfg := FileStoreConfig{Dir: base, BlockSize: 8 << 10}
			if v.cipher != NoCipher {
				fcfg.Cipher, fcfg.Key = v.cipher, []byte("bit flip key")
			}
			cfg := &StreamConfig{Name: "F"}
			fs := fsOpenT(t, fcfg, cfg)
			orig := map[uint64][]byte{}
			for i := 0; i < 150; i++ {
				msg := []byte(fmt.Sprintf("payload %d %s", i, bytes.Repeat([]byte{'x'}, i%50)))
				orig[storeMust(t, fs, "f."+fmt.Sprint(i%3), nil, msg)] = msg
			}
			if v.rewrite {
				fs.wmu.Lock()
				fs.mu.Lock()
				for _, b := range fs.blks {
					if b != fs.active && fs.loadBlockLocked(b) == nil {
						if err := fs.rewriteBlockLocked(b, b.plain, false); err != nil {
							t.Fatal(err)
						}
						fs.writeIdxLocked(b)
					}
				}
				fs.mu.Unlock()
				fs.wmu.Unlock()
			}
			plains := map[string][]byte{}
			hdrs := map[string]fsBlkHeader{}
			fs.mu.Lock()
			for _, b := range fs.blks {
				fs.loadBlockLocked(b)
				plains[filepath.Base(b.path)] = append([]byte(nil), b.plain[:b.plainLen]...)
				hdrs[filepath.Base(b.path)] = b.hdr
			}
			hkey := fs.hkey
			fs.mu.Unlock()
			fs.Stop()
			names := make([]string, 0, len(plains))
			for n := range plains {
				names = append(names, n)
			}
			for iter := 0; iter < 30; iter++ {
				name := names[iter%len(names)]
				dir := t.TempDir()
				fsCopyDir(t, base, dir)
				path := filepath.Join(dir, fsMsgsDir, name)
				data, _ := os.ReadFile(path)
				pos, l := 0, -1
				for try := 0; try < 100 && l < 0; try++ {
					pos = fsBlkHdrSize + rng.Intn(len(data)-fsBlkHdrSize)
					l = fsLogicalAt(data, hdrs[name], pos)
				}
				hit := fsSeqAt(plains[name], hkey, l)
				data[pos] ^= 1 << rng.Intn(8)
				os.WriteFile(path, data, 0o640)
				withIdx := iter%2 == 0
				if !withIdx {
					os.Remove(filepath.Join(dir, fsMsgsDir, name[:len(name)-4]+".idx"))
				}
				what := fmt.Sprintf("%s byte %d (seq %d, index %v)", name, pos, hit, withIdx)
				fsCheckOneLost(t, what, dir, fcfg, cfg, orig, hit)
			}
		})
	}
}

func fsCheckOneLost(t *testing.T, what, dir string, fcfg FileStoreConfig, cfg *StreamConfig, orig map[uint64][]byte, hit uint64) {
	t.Helper()
	logs := &fsLogs{}
	fcfg.Dir, fcfg.Logf = dir, logs.logf
	fs, err := NewFileStore(fcfg, cfg)
	if err != nil {
		t.Fatalf("%s: open: %v", what, err)
	}
	defer fs.Stop()
	var sm StoreMsg
	for seq, msg := range orig {
		m, err := fs.LoadMsg(seq, &sm)
		if seq == hit {
			if err == nil && !bytes.Equal(m.Msg, msg) {
				t.Fatalf("%s: wrong payload served for the record hit", what)
			}
			continue
		}
		if err != nil || !bytes.Equal(m.Msg, msg) {
			t.Fatalf("%s: seq %d lost too: %v (logs %q)", what, seq, err, logs.lines)
		}
	}
	if hit == 0 {
		return
	}
	if _, err := fs.LoadMsg(hit, &sm); err == nil {
		t.Fatalf("%s: the record hit was served", what)
	}
	// The loss is reported where a replica repairs from (store_repair.go).
	if from := fs.lostFromSeq(); from == 0 || from > hit {
		t.Fatalf("%s: lost from %d, the record hit is %d", what, from, hit)
	}
	if len(logs.lines) == 0 {
		t.Fatalf("%s: damage not logged", what)
	}
}
