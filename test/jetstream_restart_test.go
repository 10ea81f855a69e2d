package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func startJSBin(t *testing.T, conf string, port int) (*proc, jetstream.JetStream) {
	t.Helper()
	p := startBin(t, "-c", conf)
	p.waitOutput("Server is ready")
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return p, js
}

// Acknowledged messages and the stream's config survive a kill -9 and a
// clean restart of the binary; with a key, nothing written through the API
// is readable in the store directory.
func TestJetStreamBinaryRestartEncrypted(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q, key: \"s3cr3t-key\" }\n",
		port, filepath.Join(dir, "store")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	p, js := startJSBin(t, conf, port)
	p.waitOutput("API Level:       5")
	p.waitOutput("  Encryption:      ChaCha20-Poly1305")
	cfg := jetstream.StreamConfig{Name: "SECRETSTREAM", Subjects: []string{"plainsubject.*"}, MaxMsgs: 1000}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if _, err := js.Publish(ctx, "plainsubject.x", []byte(fmt.Sprintf("confidential-payload-%d", i)),
			jetstream.WithMsgID(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(5 * time.Second)

	p, js = startJSBin(t, conf, port)
	p.waitOutput("Restored 50 messages for stream '$G > SECRETSTREAM'")
	checkStream(ctx, t, js, 50)
	// The duplicate window survives the crash.
	if ack, err := js.Publish(ctx, "plainsubject.x", []byte("again"), jetstream.WithMsgID("m50")); err != nil || !ack.Duplicate || ack.Sequence != 50 {
		t.Fatalf("duplicate after restart: %+v %v", ack, err)
	}
	// So does the last message's id.
	if _, err := js.Publish(ctx, "plainsubject.y", []byte("confidential-payload-51"), jetstream.WithExpectLastMsgID("m50")); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(5 * time.Second)

	p, js = startJSBin(t, conf, port)
	checkStream(ctx, t, js, 51)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(5 * time.Second)
	assertNoPlaintext(t, filepath.Join(dir, "store"), "confidential-payload", "plainsubject", "SECRETSTREAM\"", "max_msgs")
}

func checkStream(ctx context.Context, t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	st, err := js.Stream(ctx, "SECRETSTREAM")
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if info.State.Msgs != n || info.State.LastSeq != n || info.Config.MaxMsgs != 1000 || info.Config.Subjects[0] != "plainsubject.*" {
		t.Fatalf("after restart: %+v %+v", info.State, info.Config)
	}
	m, err := st.GetMsg(ctx, n)
	if err != nil || string(m.Data) != fmt.Sprintf("confidential-payload-%d", n) {
		t.Fatalf("last message: %v %v", m, err)
	}
}

func assertNoPlaintext(t *testing.T, root string, words ...string) {
	t.Helper()
	files := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, w := range words {
			if bytes.Contains(data, []byte(w)) {
				t.Errorf("%s holds %q in clear", path, w)
			}
		}
		return nil
	})
	if files < 3 {
		t.Fatalf("only %d files under %s", files, root)
	}
}

// -js with -sd starts JetStream with the reference's banner; -sd alone does
// not, as with the reference.
func TestJetStreamBinaryFlags(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	p := startBin(t, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	p.waitOutput("Server is ready")
	for _, line := range []string{"Starting JetStream", "---------------- JETSTREAM ----------------",
		"  Strict:          true", "  Max Memory:      ", "  Max Storage:     ",
		fmt.Sprintf("  Store Directory: %q", filepath.Join(dir, "jetstream")), "  API Level:       5",
		"-------------------------------------------", "to start JetStream"} {
		if !strings.Contains(p.output(), line) {
			t.Errorf("missing %q in:\n%s", line, p.output())
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(5 * time.Second)

	p = startBin(t, "-sd", dir, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	p.waitOutput("Server is ready")
	if strings.Contains(p.output(), "JetStream") {
		t.Errorf("-sd alone started JetStream:\n%s", p.output())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(5 * time.Second)
}

// A wrong key leaves the stream unusable with the reference's log line,
// while the server and core NATS keep working.
func TestJetStreamBinaryWrongKey(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	store := filepath.Join(dir, "store")
	conf := writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q, key: \"right\" }\n", port, store))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, js := startJSBin(t, conf, port)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S"}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "S", []byte("x")); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(5 * time.Second)

	conf = writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q, key: \"wrong\" }\n", port, store))
	p, js = startJSBin(t, conf, port)
	p.waitOutput("Error decrypting our stream metafile")
	if _, err := js.Stream(ctx, "S"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("stream with the wrong key: %v", err)
	}
	nc := js.Conn()
	sub, err := nc.SubscribeSync("core")
	if err != nil {
		t.Fatal(err)
	}
	nc.Publish("core", []byte("still here"))
	if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "still here" {
		t.Fatalf("core NATS: %v %v", m, err)
	}
}
