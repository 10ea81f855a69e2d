package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ackFixture is a stream S (subjects s.>) with a pull consumer C and a
// core connection for raw requests.
type ackFixture struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream
}

func newAckFixture(t *testing.T, n int, cfg string) *ackFixture {
	t.Helper()
	s, _ := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"]}`)
	cpublishN(t, js, "s.a", n)
	if m := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S.C", `{"stream_name":"S","config":`+cfg+`}`); m["error"] != nil {
		t.Fatalf("create: %v", m["error"])
	}
	return &ackFixture{t: t, nc: nc, js: js}
}

// next pulls batch messages (expiring after wait) and returns the
// deliveries, stopping at the first status or at wait.
func (f *ackFixture) next(batch int, wait time.Duration) []*nats.Msg {
	f.t.Helper()
	inbox := nats.NewInbox()
	sub, err := f.nc.SubscribeSync(inbox)
	if err != nil {
		f.t.Fatal(err)
	}
	defer sub.Unsubscribe()
	body := fmt.Sprintf(`{"batch":%d,"expires":%d}`, batch, wait.Nanoseconds())
	if err := f.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.S.C", inbox, []byte(body)); err != nil {
		f.t.Fatal(err)
	}
	var out []*nats.Msg
	for len(out) < batch {
		m, err := sub.NextMsg(wait + time.Second)
		if err != nil {
			f.t.Fatalf("next: %v", err)
		}
		if m.Header.Get("Status") != "" {
			break
		}
		out = append(out, m)
	}
	return out
}

// info is CONSUMER.INFO decoded.
func (f *ackFixture) info() jetstream.ConsumerInfo {
	f.t.Helper()
	msg, err := f.nc.Request("$JS.API.CONSUMER.INFO.S.C", nil, 2*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	var ci jetstream.ConsumerInfo
	if err := json.Unmarshal(msg.Data, &ci); err != nil {
		f.t.Fatal(err)
	}
	return ci
}

// ackSync acks m with body and waits for the ack-of-ack.
func (f *ackFixture) ackSync(m *nats.Msg, body string) {
	f.t.Helper()
	if _, err := f.nc.Request(m.Reply, []byte(body), 2*time.Second); err != nil {
		f.t.Fatalf("ack %q: %v", body, err)
	}
}

// tokens splits an ack reply: deliveries, stream seq, consumer seq, pending.
func tokens(t *testing.T, m *nats.Msg) string {
	t.Helper()
	tk := strings.Split(m.Reply, ".")
	if len(tk) != 9 {
		t.Fatalf("ack reply %q", m.Reply)
	}
	return strings.Join([]string{tk[4], tk[5], tk[6], tk[8]}, ".")
}

// -NAK redelivers at once with the delivery count raised; -NAK with a
// delay (JSON or Go duration) waits for it; +TERM and +ACK end it; every
// answered ack is answered.
func TestJetStreamConsumerNakTermAck(t *testing.T) {
	f := newAckFixture(t, 1, `{"durable_name":"C","ack_policy":"explicit"}`)
	advs, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.>")
	m := f.next(1, time.Second)[0]
	if got := tokens(t, m); got != "1.1.1.0" {
		t.Fatalf("first delivery %s", got)
	}
	f.ackSync(m, "-NAK")
	m = f.next(1, time.Second)[0]
	if got := tokens(t, m); got != "2.1.2.0" {
		t.Fatalf("redelivery %s", got)
	}
	start := time.Now()
	f.ackSync(m, `-NAK {"delay": 300000000}`)
	m = f.next(1, 2*time.Second)[0]
	if d := time.Since(start); d < 300*time.Millisecond || tokens(t, m) != "3.1.3.0" {
		t.Fatalf("delayed redelivery %s after %v", tokens(t, m), d)
	}
	start = time.Now()
	f.ackSync(m, "-NAK 200ms")
	m = f.next(1, 2*time.Second)[0]
	if d := time.Since(start); d < 200*time.Millisecond || tokens(t, m) != "4.1.4.0" {
		t.Fatalf("delayed redelivery %s after %v", tokens(t, m), d)
	}
	f.ackSync(m, "+TERM no good")
	cpublishN(t, f.js, "s.b", 2)
	ms := f.next(2, time.Second)
	f.ackSync(ms[0], "+ACK")
	f.ackSync(ms[1], "")
	ci := f.info()
	if ci.AckFloor.Stream != 3 || ci.AckFloor.Consumer != 6 || ci.NumAckPending != 0 || ci.NumRedelivered != 0 || ci.Delivered.Consumer != 6 {
		t.Fatalf("info %+v %+v pending %d redelivered %d", ci.Delivered, ci.AckFloor, ci.NumAckPending, ci.NumRedelivered)
	}
	var kinds []string
	for {
		a, err := advs.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		var ev struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		json.Unmarshal(a.Data, &ev)
		kinds = append(kinds, strings.TrimPrefix(ev.Type, "io.nats.jetstream.advisory.v1.")+ev.Reason)
	}
	if strings.Join(kinds, ",") != "nak,nak,nak,terminatedno good" {
		t.Fatalf("advisories %v", kinds)
	}
}

// ack_wait redelivers an unacknowledged message; +WPI pushes the
// deadline out; max_deliver stops it with the MAX_DELIVERIES advisory.
func TestJetStreamConsumerAckWaitMaxDeliver(t *testing.T) {
	f := newAckFixture(t, 1, `{"durable_name":"C","ack_policy":"explicit","ack_wait":200000000,"max_deliver":2}`)
	adv, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.S.C")
	m := f.next(1, time.Second)[0]
	start := time.Now()
	time.Sleep(120 * time.Millisecond)
	f.ackSync(m, "+WPI")
	m = f.next(1, 2*time.Second)[0]
	if d := time.Since(start); d < 300*time.Millisecond || tokens(t, m) != "2.1.2.0" {
		t.Fatalf("redelivery %s after %v", tokens(t, m), d)
	}
	if ms := f.next(1, 500*time.Millisecond); len(ms) != 0 {
		t.Fatalf("delivered past max_deliver: %s", tokens(t, ms[0]))
	}
	a, err := adv.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	json.Unmarshal(a.Data, &ev)
	if ev["stream_seq"] != 1.0 || ev["deliveries"] != 2.0 || ev["consumer"] != "C" {
		t.Fatalf("advisory %s", a.Data)
	}
	if ci := f.info(); ci.NumAckPending != 0 || ci.NumRedelivered != 1 || ci.AckFloor.Stream != 0 {
		t.Fatalf("info %+v pending %d redelivered %d", ci.AckFloor, ci.NumAckPending, ci.NumRedelivered)
	}
}

// backoff times each redelivery by its delivery count.
func TestJetStreamConsumerBackoff(t *testing.T) {
	f := newAckFixture(t, 1, `{"durable_name":"C","ack_policy":"explicit","ack_wait":100000000,"backoff":[100000000,400000000],"max_deliver":4}`)
	f.next(1, time.Second)
	start := time.Now()
	f.next(1, 2*time.Second)
	if d := time.Since(start); d < 80*time.Millisecond || d > 350*time.Millisecond {
		t.Fatalf("second delivery after %v", d)
	}
	start = time.Now()
	m := f.next(1, 2*time.Second)[0]
	if d := time.Since(start); d < 380*time.Millisecond || tokens(t, m) != "3.1.3.0" {
		t.Fatalf("third delivery %s after %v", tokens(t, m), d)
	}
}

// max_ack_pending stops deliveries until acks make room; ack all
// acknowledges everything below.
func TestJetStreamConsumerMaxAckPendingAckAll(t *testing.T) {
	f := newAckFixture(t, 5, `{"durable_name":"C","ack_policy":"all","max_ack_pending":2}`)
	ms := f.next(5, 300*time.Millisecond)
	if len(ms) != 2 {
		t.Fatalf("delivered %d with max_ack_pending 2", len(ms))
	}
	f.ackSync(ms[1], "+ACK")
	ci := f.info()
	if ci.AckFloor.Stream != 2 || ci.NumAckPending != 0 || ci.NumPending != 3 {
		t.Fatalf("info %+v pending %d/%d", ci.AckFloor, ci.NumAckPending, ci.NumPending)
	}
	if ms = f.next(5, 300*time.Millisecond); len(ms) != 2 || tokens(t, ms[0]) != "1.3.3.2" {
		t.Fatalf("after ack: %d", len(ms))
	}
}

// A consumer at max_ack_pending still redelivers what its ack wait (or
// backoff) let expire, as the reference does: the redelivery adds nothing
// to the pending count. nats.py's backoff test waits for exactly this.
func TestJetStreamConsumerMaxAckPendingStillRedelivers(t *testing.T) {
	f := newAckFixture(t, 3, `{"durable_name":"C","ack_policy":"explicit","max_ack_pending":2,"backoff":[300000000,600000000]}`)
	if ms := f.next(3, 200*time.Millisecond); len(ms) != 2 {
		t.Fatalf("delivered %d with max_ack_pending 2", len(ms))
	}
	ms := f.next(1, 5*time.Second)
	if len(ms) != 1 || !strings.HasPrefix(tokens(t, ms[0]), "2.1.3.") {
		t.Fatalf("no redelivery of message 1 at the ack pending limit: %d messages", len(ms))
	}
}

// A no_wait request with expires waits for its first message as the
// reference's does (nats.py's fetch probes with one), and once it got
// one ends with 404 when nothing more is there.
func TestJetStreamConsumerNoWaitWithExpiresWaitsForOne(t *testing.T) {
	f := newAckFixture(t, 0, `{"durable_name":"C","ack_policy":"explicit"}`)
	inbox := nats.NewInbox()
	sub, err := f.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"batch":5,"expires":%d,"no_wait":true}`, (10 * time.Second).Nanoseconds())
	if err := f.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.S.C", inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the request waiting", func() bool { return f.info().NumWaiting == 1 })
	if _, err := f.js.Publish(context.Background(), "s.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "s.a" {
		t.Fatalf("first answer: %v %+v", err, m)
	}
	if m, err = sub.NextMsg(5 * time.Second); err != nil || m.Header.Get("Status") != "404" {
		t.Fatalf("after the message: %v %+v", err, m)
	}
}

// +NXT acknowledges and delivers the next message to the ack's reply
// subject; acks on the v2 subject form are understood.
func TestJetStreamConsumerAckNextAndV2(t *testing.T) {
	f := newAckFixture(t, 4, `{"durable_name":"C","ack_policy":"explicit"}`)
	m := f.next(1, time.Second)[0]
	inbox := nats.NewInbox()
	sub, _ := f.nc.SubscribeSync(inbox)
	if err := f.nc.PublishRequest(m.Reply, inbox, []byte("+NXT 2")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 2; i++ {
		n, err := sub.NextMsg(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tokens(t, n))
		if i == 1 {
			m = n
		}
	}
	if strings.Join(got, " ") != "1.2.2.2 1.3.3.1" {
		t.Fatalf("+NXT deliveries %v", got)
	}
	tk := strings.Split(m.Reply, ".")
	v2 := strings.Join(append([]string{"$JS", "ACK", "_", "ABCDEFGH"}, append(tk[2:], "extra")...), ".")
	if _, err := f.nc.Request(v2, []byte("+ACK"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if ci := f.info(); ci.NumAckPending != 1 || ci.AckFloor.Stream != 1 {
		t.Fatalf("info %+v ackpending %d", ci.AckFloor, ci.NumAckPending)
	}
}

// An acknowledgement that was answered survives a restart: it is never
// delivered again, while the unacknowledged one is.
func TestJetStreamConsumerAckSyncDurable(t *testing.T) {
	dir := t.TempDir()
	s := runJSDir(t, dir)
	nc, js := jsConnect(t, s.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	cpublishN(t, js, "s", 3)
	c, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msgs := fetchN(t, c, 3, 200*time.Millisecond)
	if err := msgs[0].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	if err := msgs[2].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	s.Shutdown()
	s = runJSDir(t, dir)
	_, js = jsConnect(t, s.ClientURL())
	c, err = js.Consumer(ctx, "S", "D")
	if err != nil {
		t.Fatal(err)
	}
	// Only m2 comes back (again each 100 ms ack wait).
	msgs = fetchN(t, c, 3, 250*time.Millisecond)
	for i, m := range msgs {
		md, _ := m.Metadata()
		if string(m.Data()) != "m2" || md.NumDelivered != uint64(i+2) || md.Sequence.Consumer != uint64(i+4) {
			t.Fatalf("after restart delivery %d: %q %+v", i, m.Data(), md)
		}
	}
	if len(msgs) == 0 {
		t.Fatal("m2 not redelivered after restart")
	}
}

// An ack request to a consumer that takes no acks (ack policy none), or to
// no consumer, reaches no responder, as with the reference, which
// subscribes only to the acks of consumers that take them (nats.js "no ack
// consumer is ackAck 503").
func TestJetStreamAckNoResponders(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsOK(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A","subjects":["a.>"]}`)
	pub(t, nc, "a.a", "x")
	jsOK(t, nc, "$JS.API.CONSUMER.CREATE.A.n", `{"stream_name":"A","config":{"durable_name":"n","ack_policy":"none"}}`)
	m, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.A.n", []byte(`{"batch":1}`), 2*time.Second)
	if err != nil || !strings.HasPrefix(m.Reply, "$JS.ACK.A.n.") {
		t.Fatalf("next: %v %v", m, err)
	}
	for _, ack := range []string{m.Reply, "$JS.ACK.A.nobody.1.1.1.1.0", "$JS.ACK.B.n.1.1.1.1.0"} {
		if _, err := nc.Request(ack, nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("ack on %s: %v, want no responders", ack, err)
		}
	}
}
