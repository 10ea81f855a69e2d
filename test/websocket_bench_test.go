package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// refBinary is the reference server to compare with: $NATS_REF_BIN, else
// the copy the shared bench installs; empty when there is none.
func refBinary() string {
	if p := os.Getenv("NATS_REF_BIN"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "natsref", "nats-server")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// BenchmarkWebsocketPubSub runs the same websocket workload against our
// binary and the reference's, side by side: one nats.go publisher and one
// nats.go subscriber, both over ws://, b.N messages. Compare the msgs/s of
// the pairs, for example with -benchtime=200000x -count=3.
func BenchmarkWebsocketPubSub(b *testing.B) {
	bins := []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}}
	for _, size := range []int{16, 128, 1024} {
		for _, compress := range []bool{false, true} {
			for _, bin := range bins {
				if bin.path == "" {
					continue
				}
				b.Run(fmt.Sprintf("size=%d/compress=%v/%s", size, compress, bin.name), func(b *testing.B) {
					benchWSBinary(b, bin.path, size, compress)
				})
			}
		}
	}
}

// waitWindow waits until the subscriber has received more than floor
// messages, failing after 10 s without progress (a server that dropped the
// subscriber as a slow consumer).
func waitWindow(b *testing.B, got *atomic.Int64, floor int64, sub *nats.Conn) {
	last, since := got.Load(), time.Now()
	for got.Load() <= floor {
		if g := got.Load(); g != last {
			last, since = g, time.Now()
		} else if time.Since(since) > 10*time.Second {
			b.Fatalf("subscriber stuck at %d messages (status %v, last error %v)", g, sub.Status(), sub.LastError())
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// startWSBinary runs bin with a websocket listener and returns its ws URL;
// the process is killed by pid when the benchmark ends.
func startWSBinary(b *testing.B, bin string) string {
	b.Helper()
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	conf := filepath.Join(b.TempDir(), "ws.conf")
	body := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nwebsocket { listen: \"127.0.0.1:%d\", no_tls: true, compression: true }\n", ports[0], ports[1])
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("ws://127.0.0.1:%d", ports[1])
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[1]), time.Second)
		if err == nil {
			c.Close()
			return url
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not listen: %v", bin, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchWSBinary publishes b.N messages of size bytes through the server,
// at most window messages ahead of the subscriber, so that both servers
// are measured delivering rather than dropping a slow consumer.
func benchWSBinary(b *testing.B, bin string, size int, compress bool) {
	url := startWSBinary(b, bin)
	sub, err := nats.Connect(url, nats.Compression(compress), nats.NoReconnect())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	pub, err := nats.Connect(url, nats.Compression(compress), nats.NoReconnect())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	s, err := sub.Subscribe("bench", func(*nats.Msg) {
		if got.Add(1) == n {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26) // compressible, as text usually is
	}
	const window = 5000
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := int64(0); i < n; i++ {
		waitWindow(b, &got, i-window, sub)
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	_ = pub.Flush()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("received %d of %d", got.Load(), n)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}
