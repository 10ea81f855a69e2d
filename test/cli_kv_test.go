package test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsCLI is the nats command line tool these tests drive: $NATS_CLI, else
// the copy installed in ~/.cache/natscli. The tests skip, saying so, when
// neither exists.
func natsCLI(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("NATS_CLI")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "natscli", "nats")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("the nats CLI is not installed (looked for %s; set NATS_CLI): %v", bin, err)
	}
	return bin
}

// cliRunner runs the nats CLI against one server, with a home directory
// of its own so that no saved context applies.
type cliRunner struct {
	t    *testing.T
	bin  string
	url  string
	home string
}

func newCLI(t *testing.T, url string) *cliRunner {
	return &cliRunner{t: t, bin: natsCLI(t), url: url, home: t.TempDir()}
}

func (c *cliRunner) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--no-context", "-s", c.url}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.home, "XDG_CONFIG_HOME="+c.home)
	return cmd
}

// run runs one command to its end (at most 30 s) and returns its output;
// it fails the test if the command fails.
func (c *cliRunner) run(args ...string) string {
	c.t.Helper()
	out, err := c.try(args...)
	if err != nil {
		c.t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// try runs one command and returns its output and error.
func (c *cliRunner) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.command(ctx, args...).CombinedOutput()
	return string(out), err
}

// want runs a command and checks that its output holds every string.
func (c *cliRunner) want(args []string, wants ...string) string {
	c.t.Helper()
	out := c.run(args...)
	for _, w := range wants {
		if !strings.Contains(out, w) {
			c.t.Fatalf("nats %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// A new user's session with streams and consumers: add, info, ls, next
// (acknowledged), rm.
func TestCLIConsumers(t *testing.T) {
	nc, _, _ := kvSetup(t)
	c := newCLI(t, nc.ConnectedUrl())
	c.want([]string{"stream", "add", "ORDERS", "--subjects", "orders.>", "--storage", "file", "--defaults"}, "Information for Stream ORDERS")
	c.want([]string{"pub", "orders.new", "order {{Count}}", "--count", "3", "--jetstream"}, "Published")
	c.want([]string{"consumer", "add", "ORDERS", "PULL", "--pull", "--deliver", "all", "--ack", "explicit", "--defaults"},
		"Information for Consumer ORDERS > PULL", "Unprocessed Messages: 3")
	c.want([]string{"consumer", "ls", "ORDERS", "--names"}, "PULL")
	c.want([]string{"consumer", "next", "ORDERS", "PULL", "--count", "2"}, "order 1", "order 2", "Acknowledged message")
	var info struct {
		NumPending uint64 `json:"num_pending"`
		AckFloor   struct {
			StreamSeq uint64 `json:"stream_seq"`
		} `json:"ack_floor"`
	}
	out := c.run("consumer", "info", "ORDERS", "PULL", "--json")
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.NumPending != 1 || info.AckFloor.StreamSeq != 2 {
		t.Fatalf("consumer info after next: %+v %v\n%s", info, err, out)
	}
	c.run("consumer", "rm", "ORDERS", "PULL", "-f")
	if out := c.run("consumer", "ls", "ORDERS", "--names"); strings.TrimSpace(out) != "" {
		t.Fatalf("consumer ls after rm: %q", out)
	}
}

// A new user's session with a bucket: add, put, get, history, watch, del,
// ls.
func TestCLIKeyValue(t *testing.T) {
	nc, _, _ := kvSetup(t)
	c := newCLI(t, nc.ConnectedUrl())
	c.want([]string{"kv", "add", "CFG", "--history", "5"}, "Bucket Name: CFG", "History Kept: 5")
	c.run("kv", "put", "CFG", "a", "one")
	c.run("kv", "put", "CFG", "a", "two")
	c.run("kv", "put", "CFG", "b", "bee")
	if out := c.run("kv", "get", "CFG", "a", "--raw"); out != "two" {
		t.Fatalf("kv get --raw: %q", out)
	}
	c.want([]string{"kv", "history", "CFG", "a"}, "one", "two")
	cliWatch(t, c, []string{"kv", "watch", "CFG"}, "PUT CFG > a: two", "PUT CFG > b: bee")
	c.run("kv", "del", "CFG", "b", "-f")
	if out, err := c.try("kv", "get", "CFG", "b"); err == nil {
		t.Fatalf("kv get of a deleted key succeeded: %s", out)
	}
	c.want([]string{"kv", "ls"}, "CFG")
	if out := c.run("kv", "ls", "CFG"); strings.Fields(out)[0] != "a" || strings.Contains(out, "b") {
		t.Fatalf("kv ls CFG: %q", out)
	}
}

// cliWatch starts a watching command, waits until its output holds every
// string, then stops it.
func cliWatch(t *testing.T, c *cliRunner, args []string, wants ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := c.command(ctx, args...)
	var out safeBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	waitFor(t, 10*time.Second, "nats "+strings.Join(args, " ")+" output", func() bool {
		s := out.String()
		for _, w := range wants {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

// A new user's session with an object store: add, put, get (same bytes
// back), ls, rm.
func TestCLIObjectStore(t *testing.T) {
	nc, _, _ := kvSetup(t)
	c := newCLI(t, nc.ConnectedUrl())
	dir := t.TempDir()
	data := make([]byte, 300_000)
	rand.New(rand.NewSource(7)).Read(data)
	in, out := filepath.Join(dir, "blob.bin"), filepath.Join(dir, "blob.out")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.want([]string{"object", "add", "FILES"}, "Bucket Name: FILES")
	c.want([]string{"object", "put", "FILES", in, "--name", "blob"}, "Chunks: 3")
	c.want([]string{"object", "ls", "FILES"}, "blob")
	c.run("object", "get", "FILES", "blob", "-O", out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object get: %d bytes, %v", len(got), err)
	}
	c.run("object", "rm", "FILES", "blob", "-f")
	if out, _ := c.try("object", "ls", "FILES"); strings.Contains(out, "blob") {
		t.Fatalf("object ls after rm: %s", out)
	}
}

// The CLI's JetStream and KV benchmarks run to their end.
func TestCLIBench(t *testing.T) {
	nc, _, _ := kvSetup(t)
	c := newCLI(t, nc.ConnectedUrl())
	c.want([]string{"bench", "js", "pub", "sync", "bench.js", "--create", "--msgs", "2000", "--no-progress"}, "stats:")
	c.want([]string{"bench", "js", "fetch", "--msgs", "2000", "--no-progress"}, "stats:")
	c.want([]string{"bench", "kv", "put", "--msgs", "500", "--no-progress"}, "KV putter stats:")
	c.want([]string{"bench", "kv", "get", "--msgs", "500", "--no-progress"}, "KV getter stats:")
}

// safeBuffer is a bytes.Buffer a command writes while the test reads it.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
