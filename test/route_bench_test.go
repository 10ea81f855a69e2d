package test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkRouteCompressedPubSub is routed pub/sub over s2_fast routes
// between two server processes (ours, then the reference's): a publisher
// on the first, a subscriber on the second, 128-byte messages (zeros, as
// the shared bench's routed-pubsub). It reports messages per second
// delivered.
func BenchmarkRouteCompressedPubSub(b *testing.B) {
	bins := map[string]string{"ours": serverBin}
	home, _ := os.UserHomeDir()
	if p := filepath.Join(home, ".cache", "natsref", "nats-server"); fileExists(p) {
		bins["reference"] = p
	}
	for _, name := range []string{"ours", "reference"} {
		bin, ok := bins[name]
		if !ok {
			continue
		}
		for _, mode := range []string{"s2_fast", "off"} {
			b.Run(name+"/"+mode, func(b *testing.B) { benchRouted(b, bin, mode) })
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func benchRouted(b *testing.B, bin, mode string) {
	conf := filepath.Join(b.TempDir(), "c.conf")
	if err := os.WriteFile(conf, []byte("cluster { compression: "+mode+" }\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	nodes := []*node{{bin: bin, port: freePort(b), clusterPort: freePort(b)}, {bin: bin, port: freePort(b), clusterPort: freePort(b)}}
	for _, n := range nodes {
		n.extra = []string{"-c", conf}
		n.start(b, nodes[0])
	}
	pub, err := nats.Connect(nodes[0].url())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := nats.Connect(nodes[1].url())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	s, err := sub.Subscribe("bench.routed", func(*nats.Msg) {
		if got.Add(1) == target {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	s.SetPendingLimits(-1, -1)
	sub.Flush()
	barrier(b, pub, sub)
	payload := make([]byte, 128)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		pub.Publish("bench.routed", payload)
	}
	pub.Flush()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d messages delivered", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
