package server

import (
	"testing"
	"time"
)

// fakeConsumer is a consumer as the retention seam sees it.
type fakeConsumer struct {
	filter string
	start  uint64 // first sequence it delivers
	acked  map[uint64]bool
}

func (c *fakeConsumer) Interested(subject string) bool {
	return SubjectMatchesFilter(subject, c.filter)
}
func (c *fakeConsumer) Acked(seq uint64) bool { return seq < c.start || c.acked[seq] }

// retentionStream starts a JetStream server and adds a stream to it.
func retentionStream(t *testing.T, cfg StreamConfig) *stream {
	t.Helper()
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(s.Shutdown)
	ja := s.js.Load().lookupAccount(DEFAULT_GLOBAL_ACCOUNT)
	setStreamDefaults(&cfg)
	st, err := ja.addStream(&cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// publishAndWait stores subjects through the ingest queue, in order.
func publishAndWait(t *testing.T, st *stream, subjects ...string) {
	t.Helper()
	var before StreamState
	st.store.FastState(&before)
	for _, subj := range subjects {
		st.onPublish(subj, "", nil, []byte("x"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ss StreamState
		st.store.FastState(&ss)
		if ss.LastSeq == before.LastSeq+uint64(len(subjects)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest stuck at %d", ss.LastSeq)
		}
		time.Sleep(time.Millisecond)
	}
}

func stored(st *stream) (msgs, first, last uint64) {
	var ss StreamState
	st.store.FastState(&ss)
	return ss.Msgs, ss.FirstSeq, ss.LastSeq
}

// The seam part 2's consumers call: interest keeps what an interested
// consumer has not acknowledged, workqueue removes on the ack.
func TestRetentionConsumerSeam(t *testing.T) {
	st := retentionStream(t, StreamConfig{Name: "I", Subjects: []string{"i.*"}, Retention: InterestPolicy, Storage: MemoryStorage})
	a := &fakeConsumer{filter: "i.a", acked: map[uint64]bool{}}
	all := &fakeConsumer{filter: "i.*", start: 3, acked: map[uint64]bool{}}
	st.addRetentionConsumer("A", a)
	publishAndWait(t, st, "i.a", "i.b")
	st.addRetentionConsumer("ALL", all)
	publishAndWait(t, st, "i.a", "i.c")
	if n, _, _ := stored(st); n != 3 { // i.b came before any consumer wanted it
		t.Fatalf("stored %d", n)
	}
	a.acked[1], a.acked[3] = true, true
	st.consumerAcked(1, "i.a") // nobody else wanted 1
	st.consumerAcked(3, "i.a") // ALL still needs 3
	if n, first, _ := stored(st); n != 2 || first != 3 {
		t.Fatalf("after acks: %d from %d", n, first)
	}
	all.acked[3] = true
	st.consumerAcked(3, "i.a")
	st.removeRetentionConsumer("ALL") // 4 (i.c) was only ALL's
	if n, _, last := stored(st); n != 0 || last != 4 {
		t.Fatalf("after removal: %d, last %d", n, last)
	}

	wq := retentionStream(t, StreamConfig{Name: "W", Subjects: []string{"w.*"}, Retention: WorkQueuePolicy})
	publishAndWait(t, wq, "w.a", "w.b")
	w := &fakeConsumer{filter: "w.a", acked: map[uint64]bool{1: true}}
	wq.addRetentionConsumer("W", w)
	wq.consumerAcked(1, "w.a")
	wq.removeRetentionConsumer("W") // workqueue keeps what is left
	if n, first, _ := stored(wq); n != 1 || first != 2 {
		t.Fatalf("workqueue: %d from %d", n, first)
	}
	// Limits retention ignores acks.
	lim := retentionStream(t, StreamConfig{Name: "L", Subjects: []string{"l"}})
	publishAndWait(t, lim, "l")
	lim.addRetentionConsumer("C", &fakeConsumer{filter: "l", acked: map[uint64]bool{1: true}})
	lim.consumerAcked(1, "l")
	if n, _, _ := stored(lim); n != 1 {
		t.Fatalf("limits: %d", n)
	}
}
