package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkLeafPubSub measures messages across a leaf connection for our
// binary and the reference's, side by side: a hub and a leaf of the same
// binary, a nats.go publisher on the leaf and a subscriber on the hub,
// 128-byte messages. Compare the msgs/s of the pairs, for example with
// -benchtime=300000x -count=3.
func BenchmarkLeafPubSub(b *testing.B) {
	for _, bin := range []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}} {
		if bin.path == "" {
			continue
		}
		b.Run(bin.name, func(b *testing.B) { benchLeafBinary(b, bin.path, 128, "off") })
	}
}

// BenchmarkLeafPubSubCompressed is BenchmarkLeafPubSub with each
// binary's default leaf compression (s2_auto: S2 framing, uncompressed
// blocks on loopback).
func BenchmarkLeafPubSubCompressed(b *testing.B) {
	for _, bin := range []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}} {
		if bin.path == "" {
			continue
		}
		b.Run(bin.name, func(b *testing.B) { benchLeafBinary(b, bin.path, 128, "") })
	}
}

// startLeafPair runs a hub and a leaf of bin and returns their client URLs
// once the leaf is connected; both are killed when the benchmark ends.
func startLeafPair(b *testing.B, bin, compression string) (hubURL, leafURL string) {
	b.Helper()
	ports := [3]int{freePort(b), freePort(b), freePort(b)}
	dir := b.TempDir()
	confs := []string{
		fmt.Sprintf("listen: \"127.0.0.1:%d\"\nleafnodes { listen: \"127.0.0.1:%d\" }\n", ports[0], ports[1]),
		fmt.Sprintf("listen: \"127.0.0.1:%d\"\nleafnodes { remotes [ { url: \"nats://127.0.0.1:%d\" %s } ] }\n", ports[2], ports[1], compressionKey(compression)),
	}
	for i, body := range confs {
		p := filepath.Join(dir, fmt.Sprintf("s%d.conf", i))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", p)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", ports[0]), fmt.Sprintf("nats://127.0.0.1:%d", ports[2])
}

// compressionKey is a remote's compression key, none for "" (the default).
func compressionKey(mode string) string {
	if mode == "" {
		return ""
	}
	return ", compression: " + mode
}

func connectRetry(b *testing.B, url string) *nats.Conn {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(url, nats.NoReconnect())
		if err == nil {
			return nc
		}
		if time.Now().After(deadline) {
			b.Fatalf("connect %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchLeafBinary publishes b.N messages on the leaf, at most a window
// ahead of the hub's subscriber, once the subscriber's interest crossed.
func benchLeafBinary(b *testing.B, bin string, size int, compression string) {
	hubURL, leafURL := startLeafPair(b, bin, compression)
	sub := connectRetry(b, hubURL)
	defer sub.Close()
	pub := connectRetry(b, leafURL)
	defer pub.Close()
	var got atomic.Int64
	s, err := sub.Subscribe("bench", func(*nats.Msg) { got.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, size)
	deadline := time.Now().Add(15 * time.Second)
	for got.Load() == 0 { // the leaf connects and learns the interest
		if time.Now().After(deadline) {
			b.Fatal("interest never crossed the leaf connection")
		}
		_ = pub.Publish("bench", payload)
		_ = pub.Flush()
		time.Sleep(10 * time.Millisecond)
	}
	// Drain the probes: the count settles once a flush round trip through
	// both servers has passed them.
	_ = pub.Flush()
	_ = sub.Flush()
	base := got.Load()
	n := int64(b.N)
	const window = 5000
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := int64(0); i < n; i++ {
		waitWindow(b, &got, base+i-window, sub)
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	_ = pub.Flush()
	waitWindow(b, &got, base+n-1, sub)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}
