package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamMsgs is the stream's message count from STREAM.INFO.
func streamMsgs(t *testing.T, f *ackFixture, stream string) float64 {
	t.Helper()
	m := jsReq(t, f.nc, "$JS.API.STREAM.INFO."+stream, "")
	return m["state"].(map[string]any)["messages"].(float64)
}

// createCons creates consumer name on stream S with cfg and returns its
// info (fails on an error answer).
func createCons(t *testing.T, f *ackFixture, name, cfg string) map[string]any {
	t.Helper()
	m := jsReq(t, f.nc, "$JS.API.CONSUMER.CREATE.S."+name, `{"stream_name":"S","config":`+cfg+`}`)
	if m["error"] != nil {
		t.Fatalf("create %s: %v", name, m["error"])
	}
	return m
}

func seqPair(m map[string]any, key string) string {
	p := m[key].(map[string]any)
	return fmt.Sprintf("%v/%v", p["consumer_seq"], p["stream_seq"])
}

// Each deliver policy starts where the reference starts (delivered and
// ack floor at the sequence before, num_pending what is left), filters
// select, and last_per_subject delivers each subject's last message first.
func TestJetStreamConsumerDeliverPolicies(t *testing.T) {
	f := newAckFixture(t, 0, `{"durable_name":"C"}`)
	for _, x := range []string{"a", "b", "a", "c", "b", "a"} {
		cpublishN(t, f.js, "s."+x, 1)
	}
	for _, tc := range []struct {
		name, cfg  string
		start      string
		pending    float64
		deliveries string
	}{
		{"ALL", `{"ack_policy":"none"}`, "0/0", 6, "s.a s.b s.a s.c s.b s.a"},
		{"LAST", `{"ack_policy":"none","deliver_policy":"last","filter_subject":"s.b"}`, "0/4", 1, "s.b"},
		{"NEW", `{"ack_policy":"none","deliver_policy":"new"}`, "0/6", 0, ""},
		{"SEQ", `{"ack_policy":"none","deliver_policy":"by_start_sequence","opt_start_seq":3}`, "0/2", 4, "s.a s.c s.b s.a"},
		{"LPS", `{"ack_policy":"none","deliver_policy":"last_per_subject","filter_subject":"s.*"}`, "0/3", 3, "s.c s.b s.a"},
		{"MULTI", `{"ack_policy":"none","filter_subjects":["s.c","s.b"]}`, "0/0", 3, "s.b s.c s.b"},
	} {
		m := createCons(t, f, tc.name, tc.cfg)
		if got := seqPair(m, "delivered"); got != tc.start || seqPair(m, "ack_floor") != tc.start || m["num_pending"] != tc.pending {
			t.Fatalf("%s: delivered %s floor %s pending %v", tc.name, got, seqPair(m, "ack_floor"), m["num_pending"])
		}
		c, err := f.js.Consumer(context.Background(), "S", tc.name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if tc.pending > 0 {
			for _, msg := range fetchN(t, c, int(tc.pending), 200*time.Millisecond) {
				got = append(got, msg.Subject())
			}
		}
		if strings.Join(got, " ") != tc.deliveries {
			t.Fatalf("%s: delivered %v", tc.name, got)
		}
	}
	// by_start_time: from the first message stored at or after the time.
	time.Sleep(5 * time.Millisecond)
	at := time.Now().UTC()
	cpublishN(t, f.js, "s.d", 2)
	m := createCons(t, f, "TIME", fmt.Sprintf(`{"ack_policy":"none","deliver_policy":"by_start_time","opt_start_time":%q}`, at.Format(time.RFC3339Nano)))
	if seqPair(m, "delivered") != "0/6" || m["num_pending"] != 2.0 {
		t.Fatalf("TIME: %s pending %v", seqPair(m, "delivered"), m["num_pending"])
	}
}

// num_pending stays exact through publishes, deliveries, acks, deletes
// and purges.
func TestJetStreamConsumerNumPendingExact(t *testing.T) {
	f := newAckFixture(t, 10, `{"durable_name":"C","ack_policy":"explicit","filter_subject":"s.a"}`)
	cpublishN(t, f.js, "s.b", 5)
	check := func(what string, want uint64) {
		t.Helper()
		if ci := f.info(); ci.NumPending != want {
			t.Fatalf("%s: num_pending %d, want %d", what, ci.NumPending, want)
		}
	}
	check("start", 10)
	ms := f.next(3, time.Second)
	check("after 3 deliveries", 7)
	f.ackSync(ms[0], "+ACK")
	check("after an ack", 7)
	jsReq(t, f.nc, "$JS.API.STREAM.MSG.DELETE.S", `{"seq":5}`)
	jsReq(t, f.nc, "$JS.API.STREAM.MSG.DELETE.S", `{"seq":12}`)
	check("after deletes", 6)
	cpublishN(t, f.js, "s.a", 2)
	check("after publishes", 8)
	jsReq(t, f.nc, "$JS.API.STREAM.PURGE.S", `{"filter":"s.a","keep":3}`)
	check("after a purge", 3)
	if tk := tokens(t, f.next(1, time.Second)[0]); !strings.HasSuffix(tk, ".2") {
		t.Fatalf("ack reply pending after purge: %s", tk)
	}
}

// On a workqueue stream an acknowledged message is removed; on an
// interest stream once every interested consumer acknowledged it.
func TestJetStreamConsumerRetention(t *testing.T) {
	s, _ := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	f := &ackFixture{t: t, nc: nc, js: js}
	jsReq(t, nc, "$JS.API.STREAM.CREATE.W", `{"name":"W","subjects":["w"],"retention":"workqueue"}`)
	cpublishN(t, js, "w", 3)
	jsReq(t, nc, "$JS.API.CONSUMER.CREATE.W.C", `{"stream_name":"W","config":{"durable_name":"C","ack_policy":"explicit"}}`)
	c, _ := js.Consumer(context.Background(), "W", "C")
	for _, m := range fetchN(t, c, 2, 200*time.Millisecond) {
		if err := m.DoubleAck(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, f, "W"); n != 1 {
		t.Fatalf("workqueue keeps %v messages", n)
	}

	jsReq(t, nc, "$JS.API.STREAM.CREATE.I", `{"name":"I","subjects":["i.*"],"retention":"interest"}`)
	jsReq(t, nc, "$JS.API.CONSUMER.CREATE.I.A", `{"stream_name":"I","config":{"durable_name":"A","ack_policy":"explicit"}}`)
	jsReq(t, nc, "$JS.API.CONSUMER.CREATE.I.B", `{"stream_name":"I","config":{"durable_name":"B","ack_policy":"explicit","filter_subject":"i.b"}}`)
	cpublishN(t, js, "i.a", 1)
	cpublishN(t, js, "i.b", 1)
	ca, _ := js.Consumer(context.Background(), "I", "A")
	cb, _ := js.Consumer(context.Background(), "I", "B")
	for _, m := range fetchN(t, ca, 2, 200*time.Millisecond) {
		m.DoubleAck(context.Background())
	}
	if n := streamMsgs(t, f, "I"); n != 1 {
		t.Fatalf("interest keeps %v messages after A acked, want 1 (B's)", n)
	}
	fetchN(t, cb, 1, 200*time.Millisecond)[0].DoubleAck(context.Background())
	if n := streamMsgs(t, f, "I"); n != 0 {
		t.Fatalf("interest keeps %v messages after both acked", n)
	}
}

// An ephemeral consumer goes after inactive_threshold without requests
// (with the DELETED advisory); pull requests keep it alive.
func TestJetStreamConsumerInactiveThreshold(t *testing.T) {
	f := newAckFixture(t, 1, `{"name":"C","ack_policy":"explicit","inactive_threshold":300000000}`)
	adv, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.DELETED.S.C")
	start := time.Now()
	f.next(1, time.Second)
	f.next(1, 400*time.Millisecond) // waits past the threshold: still active
	if m := jsReq(t, f.nc, "$JS.API.CONSUMER.INFO.S.C", ""); m["error"] != nil {
		t.Fatalf("deleted while a request waited: %v", m["error"])
	}
	if _, err := adv.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("no deleted advisory: %v", err)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("deleted after %v", d)
	}
	if m := jsReq(t, f.nc, "$JS.API.CONSUMER.INFO.S.C", ""); m["error"] == nil {
		t.Fatal("still there")
	}
}

// A mem_storage consumer of a file stream keeps nothing on disk.
func TestJetStreamConsumerMemStorage(t *testing.T) {
	s, dir := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	f := &ackFixture{t: t, nc: nc, js: js}
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s"]}`)
	cpublishN(t, js, "s", 2)
	createCons(t, f, "MEMCONSUMER", `{"durable_name":"MEMCONSUMER","ack_policy":"explicit","mem_storage":true}`)
	c, _ := js.Consumer(context.Background(), "S", "MEMCONSUMER")
	fetchN(t, c, 1, 200*time.Millisecond)[0].DoubleAck(context.Background())
	if ci, _ := c.Info(context.Background()); ci.AckFloor.Stream != 1 || ci.NumPending != 1 {
		t.Fatalf("info %+v pending %d", ci.AckFloor, ci.NumPending)
	}
	if fsHasPlaintext(dir, "MEMCONSUMER") {
		t.Fatal("mem_storage consumer written to disk")
	}
}

// replay_policy original spaces deliveries as the messages were stored.
func TestJetStreamConsumerReplayOriginal(t *testing.T) {
	f := newAckFixture(t, 1, `{"durable_name":"C","ack_policy":"none","replay_policy":"original"}`)
	time.Sleep(300 * time.Millisecond)
	cpublishN(t, f.js, "s.a", 1)
	f.next(1, time.Second)
	start := time.Now()
	f.next(1, 2*time.Second)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("second message after %v, stored 300ms after the first", d)
	}
}

var _ = json.Marshal
var _ = jetstream.AckAllPolicy

// pause_until holds deliveries back until it passes; INFO says paused.
func TestJetStreamConsumerPauseUntil(t *testing.T) {
	until := time.Now().Add(400 * time.Millisecond).UTC()
	f := newAckFixture(t, 1, fmt.Sprintf(`{"durable_name":"C","ack_policy":"explicit","pause_until":%q}`, until.Format(time.RFC3339Nano)))
	m := jsReq(t, f.nc, "$JS.API.CONSUMER.INFO.S.C", "")
	if m["paused"] != true || m["pause_remaining"].(float64) <= 0 {
		t.Fatalf("info: paused %v remaining %v", m["paused"], m["pause_remaining"])
	}
	f.next(1, 2*time.Second)
	if time.Now().Before(until) {
		t.Fatalf("delivered %v before pause_until", time.Until(until))
	}
	if m := jsReq(t, f.nc, "$JS.API.CONSUMER.INFO.S.C", ""); m["paused"] != nil {
		t.Fatalf("still paused: %v", m["paused"])
	}
}
