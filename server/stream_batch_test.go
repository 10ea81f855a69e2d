package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// An idle atomic batch is abandoned after the batch timeout with the
// reference's advisory; its slot is given back, and its next message is
// refused as incomplete.
func TestAtomicBatchTimeout(t *testing.T) {
	old := jsBatchTimeout
	jsBatchTimeout = 300 * time.Millisecond
	defer func() { jsBatchTimeout = old }()
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("$JS.API.STREAM.CREATE.A", []byte(`{"name":"A","subjects":["a.>"],"allow_atomic":true}`), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.A")
	if err != nil {
		t.Fatal(err)
	}
	send := func(seq string) string {
		m := nats.NewMsg("a.1")
		m.Header.Set("Nats-Batch-Id", "slow")
		m.Header.Set("Nats-Batch-Sequence", seq)
		r, err := nc.RequestMsg(m, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return string(r.Data)
	}
	if got := send("1"); got != "" {
		t.Fatalf("staged: %q", got)
	}
	if s.js.Load().atomicInflight.Load() != 1 {
		t.Fatal("batch not counted")
	}
	msg, err := adv.NextMsg(3 * time.Second)
	if err != nil {
		t.Fatal("no advisory:", err)
	}
	var a map[string]any
	if err := json.Unmarshal(msg.Data, &a); err != nil || a["type"] != jsBatchAbandonedType ||
		a["stream"] != "A" || a["batch"] != "slow" || a["reason"] != "timeout" {
		t.Fatalf("advisory %s", msg.Data)
	}
	if got := send("2"); got != `{"error":{"code":400,"err_code":10176,"description":"atomic publish batch is incomplete"},"stream":"A","seq":0}` {
		t.Fatalf("after timeout: %s", got)
	}
	if n := s.js.Load().atomicInflight.Load(); n != 0 {
		t.Fatalf("%d batches still counted", n)
	}
}
