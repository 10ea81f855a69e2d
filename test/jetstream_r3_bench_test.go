package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkJetStreamR3 runs replicated JetStream workloads on a 3-node
// cluster of our binary and, when it is installed (refBinary), of the
// reference's, one
// after the other on the same machine:
//
//   - publish: async publishes (256 pending) of 128-byte messages to an R3
//     file stream, each acknowledged (the shared bench's js-r3-async);
//   - kv-put: 16 workers putting 128-byte values to 1000 keys of an R3
//     bucket (each Put waits for its acknowledgement);
//   - kv-get: 16 workers getting those keys.
//
// Each reports its rate (msgs/s, puts/s, gets/s) and the CPU the three
// servers spent per operation. Run it with a fixed count, e.g.
//
//	go test ./test -run XXX -bench JetStreamR3 -benchtime 20000x
//
// The bucket is made by CreateKeyValue; a server that refuses it (rollups
// on replicated streams not supported yet) gets the same stream without
// allow_rollup_hdrs, which puts and gets do not use.
func BenchmarkJetStreamR3(b *testing.B) {
	for _, bin := range []struct{ name, path string }{{"ours", serverBin}, {"ref", refBinary()}} {
		if bin.path == "" {
			continue
		}
		b.Run(bin.name, func(b *testing.B) {
			c := startBenchJSCluster(b, bin.path, 3)
			nc, err := nats.Connect(c[0].url())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
			if err != nil {
				b.Fatal(err)
			}
			b.Run("publish", func(b *testing.B) { benchR3Publish(b, c, js) })
			b.Run("kv-put", func(b *testing.B) { benchR3KV(b, c, js, false) })
			b.Run("kv-get", func(b *testing.B) { benchR3KV(b, c, js, true) })
		})
	}
}

// benchNames numbers the streams and buckets of one cluster: each run of
// a sub-benchmark (b.N grows) gets fresh ones.
var benchNames atomic.Int64

func benchR3Publish(b *testing.B, c []*node, js jetstream.JetStream) {
	name := "R3PUB" + strconv.FormatInt(benchNames.Add(1), 10)
	subj := strings.ToLower(name) + ".x"
	if _, err := js.CreateStream(b.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{subj}, Replicas: 3}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 128)
	ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute)
	defer cancel()
	cpu := clusterCPU(b, c)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := js.PublishAsync(subj, payload, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatalf("%d publishes still pending", js.PublishAsyncPending())
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	reportClusterCPU(b, c, cpu)
}

// benchR3KV puts (or, with get, gets) b.N values with 16 workers.
func benchR3KV(b *testing.B, c []*node, js jetstream.JetStream, get bool) {
	const workers, keys = 16, 1000
	kv := benchBucket(b, js, "R3KV"+strconv.FormatInt(benchNames.Add(1), 10))
	val := make([]byte, 128)
	if get {
		for k := 0; k < keys; k++ {
			if _, err := kv.Put(b.Context(), "k"+strconv.Itoa(k), val); err != nil {
				b.Fatal(err)
			}
		}
	}
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	cpu := clusterCPU(b, c)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) || failed.Load() != nil {
					return
				}
				key := "k" + strconv.FormatInt(i%keys, 10)
				ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
				var err error
				if get {
					_, err = kv.Get(ctx, key)
				} else {
					_, err = kv.Put(ctx, key, val)
				}
				cancel()
				if err != nil {
					err = fmt.Errorf("op %d on %s: %w", i, key, err)
					failed.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	unit := "puts/s"
	if get {
		unit = "gets/s"
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), unit)
	reportClusterCPU(b, c, cpu)
}

// benchBucket creates an R3 bucket (see BenchmarkJetStreamR3 for the
// fallback without rollups).
func benchBucket(b *testing.B, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	ctx := b.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3})
	if err == nil {
		return kv
	}
	if !strings.Contains(err.Error(), "not supported yet") {
		b.Fatal(err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "KV_" + bucket, Subjects: []string{"$KV." + bucket + ".>"},
		Replicas: 3, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DenyDelete: true, AllowDirect: true,
		Duplicates: 2 * time.Minute, MaxMsgs: -1, MaxBytes: -1, MaxMsgSize: -1, MaxConsumers: -1})
	if err != nil {
		b.Fatal(err)
	}
	if kv, err = js.KeyValue(ctx, bucket); err != nil {
		b.Fatal(err)
	}
	return kv
}

// startBenchJSCluster starts n JetStream servers of bin, each with its own
// store, routed to the first, and waits until the cluster creates an R3
// stream (a meta leader is elected and knows every server).
func startBenchJSCluster(b *testing.B, bin string, n int) []*node {
	dir := b.TempDir()
	nodes := make([]*node, n)
	routes := make([]string, n)
	for i := range nodes {
		nodes[i] = &node{bin: bin, port: freePort(b), clusterPort: freePort(b)}
		routes[i] = "nats://127.0.0.1:" + strconv.Itoa(nodes[i].clusterPort)
	}
	for i, nd := range nodes {
		// Every server lists every route (its own is recognised and
		// dropped): the reference's JetStream refuses to start on a
		// server without routes of its own.
		name := "r3b" + strconv.Itoa(i)
		nd.extra = []string{"-n", name, "-js", "-sd", filepath.Join(dir, name), "--routes", strings.Join(routes, ",")}
		nd.start(b, nil)
	}
	nc, err := nats.Connect(nodes[0].url())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	waitFor(b, 60*time.Second, "an R3 stream created", func() bool {
		ctx, cancel := context.WithTimeout(b.Context(), 3*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3READY", Subjects: []string{"r3ready"}, Replicas: 3})
		return err == nil
	})
	return nodes
}

// clusterCPU is the CPU time the nodes' processes have used so far.
func clusterCPU(b *testing.B, nodes []*node) time.Duration {
	var sum time.Duration
	for _, nd := range nodes {
		sum += procCPU(b, nd.p.cmd.Process.Pid)
	}
	return sum
}

// reportClusterCPU reports the nodes' CPU since start per operation.
func reportClusterCPU(b *testing.B, nodes []*node, start time.Duration) {
	used := clusterCPU(b, nodes) - start
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "server-cpu-us/op")
}

// procCPU reads a process's user+system CPU time from /proc (clock ticks
// of 10 ms); 0 where /proc is not there.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
