package test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// errCode is the err_code of an API answer (0: none).
func errCode(m map[string]any) float64 {
	if e, ok := m["error"].(map[string]any); ok {
		code, _ := e["err_code"].(float64)
		return code
	}
	return 0
}

// consumerLeader asks for a consumer's info until its leader answers and
// returns the leader's name.
func consumerLeader(t *testing.T, js jetstream.JetStream, stream, name string) string {
	t.Helper()
	var lead string
	waitFor(t, 20*time.Second, "the info of consumer "+name, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return false
		}
		ci := c.CachedInfo()
		if ci.Cluster != nil {
			lead = ci.Cluster.Leader
		}
		return lead != ""
	})
	return lead
}

// CONSUMER.LEADER.STEPDOWN on an R3 stream: one success answer, the
// consumer's leader moves to another replica and the consumer goes on
// from its acknowledged state; the reference's errors and its answers for
// an R1 stream and a body that is not JSON.
func TestJetStreamClusterConsumerStepdown(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "CS", 3)
	asyncPublish(t, js, "CS.a", 0, 10)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, "CS", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before := consumerLeader(t, js, "CS", "D")
	got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", "")
	if got["success"] != true || got["type"] != "io.nats.jetstream.api.v1.consumer_leader_stepdown_response" {
		t.Fatalf("stepdown answered %v", got)
	}
	var after string
	waitFor(t, 20*time.Second, "a new consumer leader", func() bool {
		after = consumerLeader(t, js, "CS", "D")
		return after != before
	})
	// The consumer resumes after what was acknowledged.
	var m jetstream.Msg
	waitFor(t, 20*time.Second, "the next message from the new leader", func() bool {
		c, err := js.Consumer(ctx, "CS", "D")
		if err != nil {
			return false
		}
		m, err = c.Next(jetstream.FetchMaxWait(2 * time.Second))
		return err == nil
	})
	if md, _ := m.Metadata(); md.Sequence.Stream != 5 {
		t.Fatalf("after the stepdown the consumer delivered sequence %d, want 5", md.Sequence.Stream)
	}

	// The preferred server, then errors as the reference's.
	before = after
	for _, s := range servers {
		if s.Name() != before {
			got = one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", `{"placement":{"preferred":"`+s.Name()+`"}}`)
			if got["success"] != true {
				t.Fatalf("stepdown to %s answered %v", s.Name(), got)
			}
			waitFor(t, 20*time.Second, "leader "+s.Name(), func() bool { return consumerLeader(t, js, "CS", "D") == s.Name() })
			break
		}
	}
	for subj, want := range map[string]float64{
		"$JS.API.CONSUMER.LEADER.STEPDOWN.CS.NOPE": 10014,
		"$JS.API.CONSUMER.LEADER.STEPDOWN.NOPE.D":  10059,
	} {
		if got := one(t, nc, subj, ""); errCode(got) != want {
			t.Fatalf("%s answered %v, want %v", subj, got, want)
		}
	}
	if got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", `{"placement":{"preferred":"s9"}}`); errCode(got) != 10005 {
		t.Fatalf("an unknown preferred server answered %v", got)
	}
	if got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", `garbage`); got["success"] != true {
		t.Fatalf("a body that is not JSON answered %v (the reference ignores it)", got)
	}
	// An R1 stream's consumer: success, as the reference.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ONE", Subjects: []string{"one"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "ONE", jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatal(err)
	}
	if got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.ONE.D", ""); got["success"] != true {
		t.Fatalf("an R1 consumer's stepdown answered %v", got)
	}
}

// Without a cluster the stepdown needs clustering, as the reference says.
func TestJetStreamConsumerStepdownNeedsCluster(t *testing.T) {
	opts := DefaultTestOptions()
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	s := RunServer(t, opts)
	nc := connect(t, s)
	msg, err := nc.Request("$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"io.nats.jetstream.api.v1.consumer_leader_stepdown_response","error":{"code":503,"err_code":10010,"description":"JetStream clustering support required"}}`; string(msg.Data) != want {
		t.Fatalf("got %s\nwant %s", msg.Data, want)
	}
}

var _ = nats.NewInbox
