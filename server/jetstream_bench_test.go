package server

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The js-async family of ../shared/bench in process, for profiles:
//
//	go test -run XXX -bench JetStreamPublish -benchtime 100000x -cpuprofile cpu.out ./server
//
// The client shares the process, so read the server's functions in the
// profile, not the totals.

func jsBenchServer(b *testing.B, mod func(*Options)) (*Server, *nats.Conn) {
	o := &Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: b.TempDir()}
	if mod != nil {
		mod(o)
	}
	s, err := NewServer(o)
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		b.Fatal("server not ready")
	}
	b.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return s, nc
}

// jsBenchStream creates the benchmarks' file stream BENCH on bench.> and
// returns a context bounding the benchmark's waits.
func jsBenchStream(b *testing.B, js jetstream.JetStream) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b.Cleanup(cancel)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}}); err != nil {
		b.Fatal(err)
	}
	return ctx
}

func benchPublishAsync(b *testing.B, mod func(*Options)) {
	s, nc := jsBenchServer(b, mod)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		b.Fatal(err)
	}
	ctx := jsBenchStream(b, js)
	fs, _ := s.js.Load().lookupAccount(DEFAULT_GLOBAL_ACCOUNT).lookupStream("BENCH").store.(*FileStore)
	syncs := fs.syncs.Load()
	msg := make([]byte, 128)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := js.PublishAsync("bench.x", msg); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("acks missing")
	}
	if n := fs.syncs.Load() - syncs; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "msgs/fsync")
	}
}

func BenchmarkJetStreamPublishAsync(b *testing.B) { benchPublishAsync(b, nil) }

func BenchmarkJetStreamPublishAsyncEncrypted(b *testing.B) {
	benchPublishAsync(b, func(o *Options) { o.JetStreamKey = "bench key" })
}

func BenchmarkJetStreamPublishAsyncDurable(b *testing.B) {
	benchPublishAsync(b, func(o *Options) { o.JetStreamSyncAlways = true })
}

func BenchmarkJetStreamPublishSync(b *testing.B) {
	_, nc := jsBenchServer(b, nil)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := jsBenchStream(b, js)
	msg := make([]byte, 128)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := js.Publish(ctx, "bench.x", msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamPublishPath is the server's side of a publish to a file
// stream without a client: stream.onPublish as the publisher's read loop
// calls it, then the ingest goroutine's check, store and commit (allocs/op
// counts both goroutines). The reply subject has no subscriber, so the
// PubAck is built and matched but goes nowhere.
func BenchmarkStreamPublishPath(b *testing.B) {
	s, nc := jsBenchServer(b, nil)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	jsBenchStream(b, js)
	st := s.js.Load().lookupAccount(DEFAULT_GLOBAL_ACCOUNT).lookupStream("BENCH")
	msg := make([]byte, 128)
	const reply = "_INBOX.bench.reply.token"
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.onPublish("bench.x", reply, nil, msg)
		if i%1024 == 1023 {
			jsBenchWaitStored(b, st, uint64(i+1))
		}
	}
	jsBenchWaitStored(b, st, uint64(b.N))
}

// jsBenchWaitStored waits until the stream holds n messages, so the queue
// stays far from its limit.
func jsBenchWaitStored(b *testing.B, st *stream, n uint64) {
	var ss StreamState
	for deadline := time.Now().Add(time.Minute); ; {
		st.store.FastState(&ss)
		if ss.Msgs >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("stored %d of %d", ss.Msgs, n)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
