package test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsforge/nats-server/server"
)

// The jetstream block of a config file, with the key taken from the
// environment, drives an encrypted file store: nothing of the message is
// readable on disk, the same config reads it back, another key is refused
// with the reference's error.
func TestJetStreamBlockDrivesEncryptedStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("JS_KEY", "s3cr3t-server-key")
	cfg := writeConf(t, dir, "js.conf", fmt.Sprintf(`
jetstream {
  store_dir: %q
  cipher: aes
  key: $JS_KEY
  sync_interval: always
}
`, filepath.Join(dir, "store")))
	o, err := server.ProcessConfigFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := o.StreamFileStoreConfig("$G", "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "store", "jetstream", "$G", "streams", "ORDERS"); fc.Dir != want || !fc.SyncAlways {
		t.Fatalf("store config %+v", fc)
	}
	sc := &server.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: server.FileStorage}
	fs1, err := server.NewFileStore(fc, sc)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-7f3a9c"
	if _, _, err := fs1.StoreMsg("orders."+marker, []byte("NATS/1.0\r\nX: "+marker+"\r\n\r\n"), []byte(marker), 0); err != nil {
		t.Fatal(err)
	}
	fs1.Stop()

	err = filepath.WalkDir(dir+"/store", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the message in clear", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	fs2, err := server.NewFileStore(fc, sc)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := fs2.LoadMsg(1, nil)
	if err != nil || string(sm.Msg) != marker || sm.Subject != "orders."+marker {
		t.Fatalf("reading back: %v %+v", err, sm)
	}
	fs2.Stop()

	wrong := fc
	wrong.Key = []byte("another-key")
	if _, err := server.NewFileStore(wrong, sc); err == nil || !strings.Contains(err.Error(), "Error decrypting our stream metafile: cipher: message authentication failed") {
		t.Fatalf("wrong key: %v", err)
	}
}
