package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jsConf writes a config for the binary on port with the given jetstream
// block body.
func jsConf(t *testing.T, dir string, port int, js string) string {
	t.Helper()
	return writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { %s }\n", port, js))
}

func stopBin(t *testing.T, p *proc) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(10 * time.Second)
}

func publishN(ctx context.Context, t *testing.T, js jetstream.JetStream, subj, format string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := js.Publish(ctx, subj, []byte(fmt.Sprintf(format, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// checkPayloads loads sequences 1..n of stream and checks each against
// format, except skip, which must not be served.
func checkPayloads(ctx context.Context, t *testing.T, js jetstream.JetStream, stream, format string, n int, skip uint64) {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		m, err := st.GetMsg(ctx, seq)
		if seq == skip {
			if err == nil {
				t.Fatalf("seq %d served although its record is damaged: %q", seq, m.Data)
			}
			continue
		}
		if err != nil || string(m.Data) != fmt.Sprintf(format, seq) {
			t.Fatalf("seq %d: %v %v", seq, m, err)
		}
	}
}

// flipInFrame flips one bit inside the ciphertext of frame number n (from
// 0) of an encrypted block file (frame layout: see fsBlkHeader's doc).
func flipInFrame(t *testing.T, data []byte, n int) {
	t.Helper()
	p := 32
	for i := 0; i < n; i++ {
		p += 16 + int(binary.LittleEndian.Uint32(data[p:]))
	}
	blen := int(binary.LittleEndian.Uint32(data[p:]))
	if blen < 12+16+4 || p+16+blen > len(data) {
		t.Fatalf("frame %d: bad length %d", n, blen)
	}
	data[p+16+12+(blen-12-16)/2] ^= 0x10
}

// One flipped bit in a block loses the message it hits and nothing else:
// through the built binary, the server keeps running, logs the damage,
// serves every other message exactly, never the damaged one, and takes new
// messages. The encrypted case flips a bit of a block that encrypt_existing
// rewrote, whose records share one 64 KiB frame: the frame fails its tag,
// yet only the record hit is lost.
func TestJetStreamBinaryBitFlip(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			store := filepath.Join(dir, "store")
			conf := jsConf(t, dir, port, fmt.Sprintf("store_dir: %q", store))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, js := startJSBin(t, conf, port)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FLIP", Subjects: []string{"flip.>"}}); err != nil {
				t.Fatal(err)
			}
			const format = "flip-payload-%03d"
			publishN(ctx, t, js, "flip.x", format, 1, 100)
			stopBin(t, p)

			blk := filepath.Join(store, "jetstream", "$G", "streams", "FLIP", "msgs", "1.blk")
			data, err := os.ReadFile(blk)
			if err != nil {
				t.Fatal(err)
			}
			// The byte to flip, in the block's logical content.
			at := bytes.Index(data, []byte("flip-payload-042")) + 14 - 32
			if encrypted {
				conf = jsConf(t, dir, port, fmt.Sprintf("store_dir: %q, key: \"flip-key\", encrypt_existing: true", store))
				p, _ = startJSBin(t, conf, port)
				waitFor(t, 10*time.Second, "block encrypted", func() bool { return !fsHasPlaintext(store, "flip-payload") })
				stopBin(t, p)
				if data, err = os.ReadFile(blk); err != nil {
					t.Fatal(err)
				}
				// Block header, then frame 0: 16-byte header (body length,
				// logical offset 0, content length), 12-byte nonce, ciphertext.
				if off := binary.LittleEndian.Uint64(data[36:]); off != 0 || data[4] == 0 {
					t.Fatalf("unexpected layout: cipher %d, first frame at offset %d", data[4], off)
				}
				at += 16 + 12
			}
			data[32+at] ^= 0x01
			if err := os.WriteFile(blk, data, 0o640); err != nil {
				t.Fatal(err)
			}

			p, js = startJSBin(t, conf, port)
			checkPayloads(ctx, t, js, "FLIP", format, 100, 42)
			p.waitOutput("corrupt")
			if ack, err := js.Publish(ctx, "flip.x", []byte(fmt.Sprintf(format, 101))); err != nil || ack.Sequence != 101 {
				t.Fatalf("publish after the damage: %+v %v", ack, err)
			}
			stopBin(t, p)
			// Again after a restart.
			p, js = startJSBin(t, conf, port)
			checkPayloads(ctx, t, js, "FLIP", format, 101, 42)
			stopBin(t, p)
		})
	}
}

// fsHasPlaintext reports whether any file under root contains one of words.
func fsHasPlaintext(root string, words ...string) bool {
	return fsPlaintextAt(root, words...) != ""
}

// fsPlaintextAt names the first file under root holding one of words, and
// the word; "" when none does.
func fsPlaintextAt(root string, words ...string) string {
	found := ""
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, w := range words {
			if bytes.Contains(data, []byte(w)) {
				found = path + ": " + w
				break
			}
		}
		return nil
	})
	return found
}

// encrypt_existing: a store written without a key is encrypted in place,
// while the server runs, once a key is set.
func TestJetStreamBinaryEncryptExisting(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	store := filepath.Join(dir, "store")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, js := startJSBin(t, jsConf(t, dir, port, fmt.Sprintf("store_dir: %q", store)), port)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OLD", Subjects: []string{"old.>"}}); err != nil {
		t.Fatal(err)
	}
	const format = "clear-payload-%d"
	publishN(ctx, t, js, "old.x", format, 1, 30)
	stopBin(t, p)
	if !fsHasPlaintext(store, "clear-payload") {
		t.Fatal("the store was not written in the clear")
	}

	conf := jsConf(t, dir, port, fmt.Sprintf("store_dir: %q, key: \"now-a-key\", encrypt_existing: true", store))
	p, js = startJSBin(t, conf, port)
	publishN(ctx, t, js, "old.x", format, 31, 40)
	waitFor(t, 10*time.Second, "blocks encrypted", func() bool { return !fsHasPlaintext(store, "clear-payload") })
	checkPayloads(ctx, t, js, "OLD", format, 40, 0)
	stopBin(t, p)
	p, js = startJSBin(t, conf, port)
	checkPayloads(ctx, t, js, "OLD", format, 40, 0)
	stopBin(t, p)
	assertNoPlaintext(t, store, "clear-payload", "old.x")
}

// rotate_stream_keys with prev_key re-encrypts every stream under a new
// stream key: afterwards the old server key with an old copy of meta.key
// opens nothing, while the new key opens everything.
func TestJetStreamBinaryRotateStreamKeys(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	store := filepath.Join(dir, "store")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, js := startJSBin(t, jsConf(t, dir, port, fmt.Sprintf("store_dir: %q, key: \"first-key\"", store)), port)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ROT", Subjects: []string{"rot.>"}}); err != nil {
		t.Fatal(err)
	}
	const format = "rot-payload-%d"
	publishN(ctx, t, js, "rot.x", format, 1, 40)
	stopBin(t, p)
	keyFile := filepath.Join(store, "jetstream", "$G", "streams", "ROT", "meta.key")
	oldKeyFile, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	conf := jsConf(t, dir, port, fmt.Sprintf("store_dir: %q, key: \"second-key\", prev_key: \"first-key\", rotate_stream_keys: true", store))
	p, js = startJSBin(t, conf, port)
	publishN(ctx, t, js, "rot.x", format, 41, 50)
	p.waitOutput("full key rotation complete")
	checkPayloads(ctx, t, js, "ROT", format, 50, 0)
	stopBin(t, p)

	// Old server key plus the old meta.key: the stream does not open.
	stolen := filepath.Join(dir, "stolen")
	if err := os.CopyFS(stolen, os.DirFS(store)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stolen, "jetstream", "$G", "streams", "ROT", "meta.key"), oldKeyFile, 0o640)
	sdir := filepath.Join(dir, "s")
	os.Mkdir(sdir, 0o750)
	p, js = startJSBin(t, jsConf(t, sdir, port, fmt.Sprintf("store_dir: %q, key: \"first-key\"", stolen)), port)
	p.waitOutput("Error decrypting our stream metafile")
	if _, err := js.Stream(ctx, "ROT"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the old key material opened the rotated stream: %v", err)
	}
	stopBin(t, p)

	// The new key alone opens everything.
	p, js = startJSBin(t, jsConf(t, dir, port, fmt.Sprintf("store_dir: %q, key: \"second-key\"", store)), port)
	checkPayloads(ctx, t, js, "ROT", format, 50, 0)
	if strings.Contains(p.output(), "Error decrypting") {
		t.Fatalf("new key: %s", p.output())
	}
	stopBin(t, p)
	assertNoPlaintext(t, store, "rot-payload", "rot.x")
}
