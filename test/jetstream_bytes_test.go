package test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// refBytes is a message's accounted size as the reference v2.15.2 reports it
// (observed: "f.ab" with "hello" is 39 bytes in a file stream, 61 with the
// 18-byte header block "NATS/1.0\r\nX: 1\r\n\r\n"; 25 and 43 in memory).
func refBytes(st jetstream.StorageType, subj string, hdr, msg int) uint64 {
	n := uint64(len(subj) + hdr + msg)
	if st == jetstream.MemoryStorage {
		return n + 16
	}
	if hdr > 0 {
		n += 4
	}
	return n + 30
}

const bytesHdrBlock = "NATS/1.0\r\nX: 1\r\n\r\n"

// bytesPublish stores n messages on subj, every second one with the header
// X: 1, and returns their accounted bytes.
func bytesPublish(ctx context.Context, t *testing.T, js jetstream.JetStream, st jetstream.StorageType, subj string, n int) uint64 {
	t.Helper()
	var sum uint64
	for i := 0; i < n; i++ {
		m := &nats.Msg{Subject: subj, Data: []byte("hello")}
		hdr := 0
		if i%2 == 1 {
			m.Header = nats.Header{"X": []string{"1"}}
			hdr = len(bytesHdrBlock)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		sum += refBytes(st, subj, hdr, 5)
	}
	return sum
}

func bytesCheck(ctx context.Context, t *testing.T, what string, js jetstream.JetStream, want map[string]uint64) {
	t.Helper()
	for name, b := range want {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("%s: %s: %v", what, name, err)
		}
		if got := s.CachedInfo().State.Bytes; got != b {
			t.Fatalf("%s: stream %s has %d bytes, want %d", what, name, got, b)
		}
	}
}

// StreamInfo bytes and the account's usage are the reference's, for file
// (plain, compressed, encrypted) and memory streams, with and without
// headers, and stay so across a kill -9 and a clean restart of the binary.
func TestJetStreamBytesAsReference(t *testing.T) {
	for _, key := range []string{"", `, key: "bytes-key"`} {
		dir := t.TempDir()
		port := freePort(t)
		conf := writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q%s }\n",
			port, filepath.Join(dir, "store"), key))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, js := startJSBin(t, conf, port)
		want := map[string]uint64{}
		for _, c := range []jetstream.StreamConfig{
			{Name: "F", Subjects: []string{"f.ab"}},
			{Name: "FC", Subjects: []string{"fc.abc"}, Compression: jetstream.S2Compression},
			{Name: "M", Subjects: []string{"m.ab"}, Storage: jetstream.MemoryStorage},
		} {
			if _, err := js.CreateStream(ctx, c); err != nil {
				t.Fatal(err)
			}
			want[c.Name] = bytesPublish(ctx, t, js, c.Storage, c.Subjects[0], 40)
		}
		if one := refBytes(jetstream.FileStorage, "f.ab", 0, 5); one != 39 || refBytes(jetstream.MemoryStorage, "f.ab", len(bytesHdrBlock), 5) != 43 {
			t.Fatalf("formula: %d", one)
		}
		bytesCheck(ctx, t, "stored", js, want)
		ai, err := js.AccountInfo(ctx)
		if err != nil || ai.Store != want["F"]+want["FC"] || ai.Memory != want["M"] {
			t.Fatalf("account usage %+v %v, want store %d memory %d", ai, err, want["F"]+want["FC"], want["M"])
		}
		// Memory streams do not outlive the process, here as on the reference.
		delete(want, "M")
		for round, stop := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
			p.cmd.Process.Signal(stop)
			p.waitExit(5 * time.Second)
			p, js = startJSBin(t, conf, port)
			bytesCheck(ctx, t, fmt.Sprintf("after %v", stop), js, want)
			// Removals are counted too, a message with and one without headers.
			s, _ := js.Stream(ctx, "F")
			for _, seq := range []uint64{uint64(10 + 2*round), uint64(11 + 2*round)} {
				if err := s.DeleteMsg(ctx, seq); err != nil {
					t.Fatal(err)
				}
			}
			want["F"] -= 39 + 61
		}
		bytesCheck(ctx, t, "after removals", js, want)
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.waitExit(5 * time.Second)
		cancel()
	}
}

// max_bytes (discard old and new) and the account's max_file and max_mem
// cut off at the same message as the reference (observed on v2.15.2 with
// these figures: 38 bytes a message on "D00" in a file stream, 23 on "L1"
// in memory).
func TestJetStreamBytesLimitsAsReference(t *testing.T) {
	s, _ := runJSConf(t, `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE" }
accounts {
  A { jetstream: enabled, users [{user: a, password: a}] }
  L { jetstream { max_file: 74, max_mem: 46 }, users [{user: l, password: l}] }
}
`, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub := func(js jetstream.JetStream, c jetstream.StreamConfig, n int) (*jetstream.StreamInfo, []int) {
		t.Helper()
		st, err := js.CreateStream(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var codes []int
		for i := 0; i < n; i++ {
			var apiErr *jetstream.APIError
			if _, err := js.Publish(ctx, c.Subjects[0], []byte("hello")); errors.As(err, &apiErr) {
				codes = append(codes, int(apiErr.ErrorCode))
			} else if err != nil {
				t.Fatal(err)
			}
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info, codes
	}
	js, _ := jetstream.New(connect(t, s, nats.UserInfo("a", "a")))
	for _, tc := range []struct {
		cfg                jetstream.StreamConfig
		msgs, bytes, first uint64
		refused            int
	}{
		{jetstream.StreamConfig{Name: "D00", MaxBytes: 76}, 2, 76, 4, 0},
		{jetstream.StreamConfig{Name: "D01", MaxBytes: 76, Discard: jetstream.DiscardNew}, 2, 76, 1, 3},
		{jetstream.StreamConfig{Name: "D10", MaxBytes: 76, Storage: jetstream.MemoryStorage}, 3, 72, 3, 0},
		{jetstream.StreamConfig{Name: "D11", MaxBytes: 76, Storage: jetstream.MemoryStorage, Discard: jetstream.DiscardNew}, 3, 72, 1, 2},
	} {
		tc.cfg.Subjects = []string{tc.cfg.Name}
		info, codes := pub(js, tc.cfg, 5)
		if info.State.Msgs != tc.msgs || info.State.Bytes != tc.bytes || info.State.FirstSeq != tc.first || len(codes) != tc.refused {
			t.Fatalf("%s: %+v refused %v", tc.cfg.Name, info.State, codes)
		}
		for _, c := range codes {
			if c != 10077 {
				t.Fatalf("%s: refused with %v", tc.cfg.Name, codes)
			}
		}
	}
	jl, _ := jetstream.New(connect(t, s, nats.UserInfo("l", "l")))
	for _, c := range []jetstream.StreamConfig{{Name: "L0"}, {Name: "L1", Storage: jetstream.MemoryStorage}} {
		c.Subjects = []string{c.Name}
		info, codes := pub(jl, c, 6)
		if info.State.Msgs != 2 || len(codes) != 4 || codes[0] != 10002 {
			t.Fatalf("%s: %+v refused %v", c.Name, info.State, codes)
		}
	}
	ai, err := jl.AccountInfo(ctx)
	if err != nil || ai.Store != 74 || ai.Memory != 46 {
		t.Fatalf("account usage %+v %v", ai, err)
	}
}
