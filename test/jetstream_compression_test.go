package test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func dirSize(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// compressible is a payload S2 shrinks a lot, different for every i.
func compressible(i int) []byte {
	return []byte(fmt.Sprintf("payload-%05d-%s", i, strings.Repeat("abcdefgh", 256)))
}

// compression "s2" holds end to end, with and without encryption: the same
// messages take far less disk than in a stream without compression, and
// after a restart every one reads back intact. The stream's first_seq,
// description and metadata are kept across the restart too.
func TestJetStreamCompressionEndToEnd(t *testing.T) {
	for _, key := range []string{"", "compress-key"} {
		t.Run(fmt.Sprintf("key=%q", key), func(t *testing.T) {
			o := DefaultTestOptions()
			o.JetStream, o.StoreDir, o.JetStreamKey = true, t.TempDir(), key
			s := RunServer(t, o)
			nc := connect(t, s)
			jsReq(t, nc, "$JS.API.STREAM.CREATE.PLAIN", `{"name":"PLAIN","subjects":["plain"]}`)
			jsReq(t, nc, "$JS.API.STREAM.CREATE.COMP", `{"name":"COMP","subjects":["comp"],"compression":"s2","first_seq":100,"description":"squeezed","metadata":{"owner":"ops"}}`)
			// Blocks are compressed when sealed (4 MiB), as the reference does:
			// 12 MiB leaves at least two sealed blocks.
			const n = 6000
			for i := range n {
				for _, subj := range []string{"plain", "comp"} {
					if err := nc.Publish(subj, compressible(i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			waitFor(t, 10*time.Second, "all messages stored", func() bool {
				p := jsReq(t, nc, "$JS.API.STREAM.INFO.PLAIN", "")["state"].(map[string]any)
				c := jsReq(t, nc, "$JS.API.STREAM.INFO.COMP", "")["state"].(map[string]any)
				return p["messages"] == float64(n) && c["messages"] == float64(n)
			})
			// A message counts in the stream's state once appended; its round's
			// commit (which seals and compresses a full block) may still be
			// under way, so the sizes are awaited.
			streams := filepath.Join(o.StoreDir, "jetstream", "$G", "streams")
			var plain, comp int64
			waitFor(t, 10*time.Second, "s2 to take at most half the disk", func() bool {
				plain, comp = dirSize(t, filepath.Join(streams, "PLAIN")), dirSize(t, filepath.Join(streams, "COMP"))
				return comp*2 <= plain
			})
			t.Logf("on disk: s2 %d bytes, none %d bytes", comp, plain)
			nc.Close()
			s.Shutdown()

			s = RunServer(t, o)
			nc = connect(t, s)
			info := jsReq(t, nc, "$JS.API.STREAM.INFO.COMP", "")
			cfg, st := info["config"].(map[string]any), info["state"].(map[string]any)
			md, _ := cfg["metadata"].(map[string]any)
			if cfg["compression"] != "s2" || cfg["first_seq"] != float64(100) || cfg["description"] != "squeezed" || md["owner"] != "ops" ||
				st["first_seq"] != float64(100) || st["last_seq"] != float64(n+99) || st["messages"] != float64(n) {
				t.Fatalf("after restart: %v", info)
			}
			for _, seq := range []int{100, 2500, n + 99} {
				m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.COMP", fmt.Sprintf(`{"seq":%d}`, seq))["message"].(map[string]any)
				data, _ := base64.StdEncoding.DecodeString(m["data"].(string))
				if !bytes.Equal(data, compressible(seq-100)) {
					t.Fatalf("message %d after restart: %.40q", seq, data)
				}
			}
			if key != "" {
				assertNoPlaintext(t, o.StoreDir, "abcdefgh", "payload-", "squeezed", "owner")
			}
		})
	}
}

// A stream with first_seq starts numbering there, as the reference does
// (state first_seq 100, last_seq 99 while empty); an update may change
// description and metadata (reserved _nats.* keys are the server's).
func TestJetStreamFirstSeqMetadataDescription(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	info := jsReq(t, nc, "$JS.API.STREAM.CREATE.FS", `{"name":"FS","subjects":["fs"],"first_seq":100,"description":"d1","metadata":{"a":"b","_nats.ver":"9","_nats.req.level":"7"}}`)
	st := info["state"].(map[string]any)
	if st["first_seq"] != float64(100) || st["last_seq"] != float64(99) {
		t.Fatalf("empty stream with first_seq: %v", st)
	}
	if md := fmt.Sprint(info["config"].(map[string]any)["metadata"]); md != "map[_nats.level:5 _nats.req.level:0 _nats.ver:2.15.2 a:b]" {
		t.Fatalf("metadata %s", md)
	}
	ack, err := nc.Request("fs", []byte("x"), 2*time.Second)
	if err != nil || string(ack.Data) != `{"stream":"FS","seq":100}` {
		t.Fatalf("ack %s %v", ack.Data, err)
	}
	info = jsReq(t, nc, "$JS.API.STREAM.UPDATE.FS", `{"name":"FS","subjects":["fs"],"first_seq":5,"description":"d2","metadata":{"c":"d"}}`)
	cfg := info["config"].(map[string]any)
	if cfg["description"] != "d2" || fmt.Sprint(cfg["metadata"]) != "map[_nats.level:5 _nats.req.level:0 _nats.ver:2.15.2 c:d]" {
		t.Fatalf("update: %v", cfg)
	}
	r, err := nc.Request("$JS.API.STREAM.CREATE.FS2", []byte(`{"name":"FS2","compression":"lz4"}`), 2*time.Second)
	if err != nil || string(r.Data) != `{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: unknown compression algorithm"}}` {
		t.Fatalf("lz4: %s %v", r.Data, err)
	}
}
