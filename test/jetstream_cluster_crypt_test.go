package test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// filesContaining lists the files under dir holding needle.
func filesContaining(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(needle)) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

// With JetStream encryption on, the meta group's raft log and snapshot
// hold nothing in clear (a stream's subjects are in its assignment); a
// server restarts and recovers with its key, and refuses to start with a
// wrong one, saying why.
func TestJetStreamClusterRaftLogEncrypted(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	opts := make([]*server.Options, 3)
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		o.JetStream = true
		o.StoreDir = t.TempDir()
		o.JetStreamKey = "cluster-secret"
		opts[i] = o
	})
	waitMetaLeader(t, servers)
	nc := connect(t, servers[0])
	m := one(t, nc, "$JS.API.STREAM.CREATE.SECRETSTREAM", `{"name":"SECRETSTREAM","subjects":["secretsubj.>"]}`)
	if m["did_create"] != true {
		t.Fatalf("create: %v", m)
	}
	if _, err := nc.Request("secretsubj.a", []byte("SECRET-PAYLOAD"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		dir := filepath.Join(opts[i].StoreDir, "jetstream_cluster")
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("no raft directory on %s: %v", s.Name(), err)
		}
		for _, needle := range []string{"secretsubj", "SECRETSTREAM", "SECRET-PAYLOAD"} {
			if hits := filesContaining(t, opts[i].StoreDir, needle); len(hits) > 0 {
				t.Fatalf("%q in clear on %s: %v", needle, s.Name(), hits)
			}
		}
	}
	// A restart with the key recovers the assignment from the sealed log.
	servers[2].Shutdown()
	servers[2].WaitForShutdown()
	servers[2] = RunServer(t, opts[2])
	waitMetaLeader(t, servers)
	nc2 := connect(t, servers[2])
	waitFor(t, 10*time.Second, "the stream through the restarted server", func() bool {
		got := answers(t, nc2, "$JS.API.STREAM.INFO.SECRETSTREAM", "", 500*time.Millisecond)
		return len(got) == 1 && got[0]["config"] != nil
	})
	// A wrong key is refused with a clear error, not served.
	servers[2].Shutdown()
	servers[2].WaitForShutdown()
	bad := *opts[2]
	bad.JetStreamKey = "wrong-secret"
	s, err := server.NewServer(&bad)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	err = s.StartAndCheck()
	if err == nil || !strings.Contains(err.Error(), "decrypting") {
		t.Fatalf("start with a wrong key: %v", err)
	}
	t.Logf("refused: %v", err)
}
