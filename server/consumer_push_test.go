package server

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// pushIdle reports whether c is idle as an unbound push consumer must be:
// not queued for a worker, no timer armed, not waiting for commits.
func pushIdle(c *consumer) bool {
	c.mu.Lock()
	armed := !c.armedAt.IsZero()
	c.mu.Unlock()
	r := &c.st.cons
	r.mu.RLock()
	_, hungry := r.hungry[c]
	r.mu.RUnlock()
	return c.sched.Load() == 0 && !armed && !hungry
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Push consumers without interest cost no goroutine, no armed timer and
// no wake-up per commit, even with heartbeats and flow control
// configured; binding one arms its heartbeat, unbinding disarms it.
func TestPushConsumerIdleCost(t *testing.T) {
	st := retentionStream(t, StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: MemoryStorage})
	publishAndWait(t, st, "s.a", "s.b")
	st.ja.js.consumerWork() // the shared workers exist before counting
	before := runtime.NumGoroutine()
	const n = 500
	cons := make([]*consumer, n)
	for i := range cons {
		cfg := &ConsumerConfig{Durable: fmt.Sprintf("C%d", i), DeliverSubject: fmt.Sprintf("d.%d", i),
			AckPolicy: AckExplicit, AckWait: 30 * time.Second, MaxDeliver: -1, MaxAckPending: 1000,
			FlowControl: true, Heartbeat: 100 * time.Millisecond}
		cfg.Name = cfg.Durable
		c, e := st.createConsumer(cfg.Name, cfg)
		if e != nil {
			t.Fatal(e)
		}
		cons[i] = c
	}
	publishAndWait(t, st, "s.c")
	for i, c := range cons {
		waitFor(t, fmt.Sprintf("consumer %d idle", i), func() bool { return pushIdle(c) })
	}
	if d := runtime.NumGoroutine() - before; d > 5 {
		t.Fatalf("%d goroutines more for %d idle push consumers", d, n)
	}

	c := cons[7]
	var got atomic.Int32
	s := st.ja.js.srv
	unsub, err := s.SubscribeInternal(st.ja.acc, "d.7", "", func(_, _ string, hdr, _ []byte) { got.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	// 3 messages, then a heartbeat after 100 ms idle.
	waitFor(t, "deliveries and a heartbeat", func() bool { return got.Load() >= 4 })
	c.mu.Lock()
	armed, bound := !c.armedAt.IsZero(), c.push.bound
	c.mu.Unlock()
	if !armed || !bound {
		t.Fatalf("bound consumer: armed %v, bound %v", armed, bound)
	}
	unsub()
	publishAndWait(t, st, "s.d") // wakes it once if it was waiting
	waitFor(t, "the unbound consumer idle", func() bool { return pushIdle(c) })
	for i, o := range cons {
		if !pushIdle(o) {
			t.Fatalf("consumer %d not idle", i)
		}
	}
}

// BenchmarkPushDeliver measures push delivery from a memory stream to an
// internal subscriber: time and allocations per message delivered.
func BenchmarkPushDeliver(b *testing.B) {
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		b.Fatal("not ready")
	}
	defer s.Shutdown()
	ja := s.js.Load().lookupAccount(DEFAULT_GLOBAL_ACCOUNT)
	scfg := StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: MemoryStorage}
	setStreamDefaults(&scfg)
	st, err := ja.addStream(&scfg, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		st.onPublish("s.a", "", nil, []byte("x"))
	}
	for deadline := time.Now().Add(10 * time.Second); st.cons.committed.Load() < uint64(b.N); {
		if time.Now().After(deadline) {
			b.Fatal("ingest stuck")
		}
		time.Sleep(time.Millisecond)
	}
	cfg := &ConsumerConfig{Name: "B", DeliverSubject: "d.b", AckPolicy: AckNone, MaxDeliver: -1}
	if _, e := st.createConsumer(cfg.Name, cfg); e != nil {
		b.Fatal(e)
	}
	var got atomic.Int64
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	unsub, err := st.ja.js.srv.SubscribeInternal(st.ja.acc, "d.b", "", func(_, _ string, _, _ []byte) {
		if got.Add(1) == int64(b.N) {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	<-done
	b.StopTimer()
	unsub()
}
