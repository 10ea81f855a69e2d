package test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// rawConsumerSetup starts a server with stream P (subject p, three
// messages "hello1".."hello3") and returns a raw connection subscribed to
// _INBOX.x with sid 1.
func rawConsumerSetup(t *testing.T, consumerCfg string) *rawConn {
	t.Helper()
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.P", `{"name":"P","subjects":["p"]}`)
	for i := 1; i <= 3; i++ {
		if _, err := nc.Request("p", []byte(fmt.Sprintf("hello%d", i)), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if m := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.P.C", consumerCfg); m["error"] != nil {
		t.Fatalf("create: %v", m["error"])
	}
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"headers\":true,\"verbose\":false}\r\nSUB _INBOX.x 1\r\nPING\r\n")
	rc.expect("PONG")
	return rc
}

// pullRaw sends one MSG.NEXT with reply _INBOX.x.
func pullRaw(rc *rawConn, body string) {
	rc.send(fmt.Sprintf("PUB $JS.API.CONSUMER.MSG.NEXT.P.C _INBOX.x %d\r\n%s\r\n", len(body), body))
}

// expectStatus reads one header-only reply and compares its header block.
func expectStatus(t *testing.T, rc *rawConn, want string) {
	t.Helper()
	subj, hdr, body := readRawMsg(rc)
	if subj != "_INBOX.x" || hdr != want || body != "" {
		t.Fatalf("got %q %q %q, want header %q", subj, hdr, body, want)
	}
}

// expectDelivery reads one delivery and checks its payload and ack reply
// (the time stamp token masked).
func expectDelivery(t *testing.T, rc *rawConn, body, ack string) {
	t.Helper()
	line := rc.readLine()
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "MSG" {
		t.Fatalf("expected a delivery, got %q", line)
	}
	toks := strings.Split(f[3], ".")
	if len(toks) == 9 {
		toks[7] = "TS"
	}
	if got := strings.Join(toks, "."); got != ack {
		t.Fatalf("ack reply %q, want %q", got, ack)
	}
	if got := rc.readLine(); got != body {
		t.Fatalf("payload %q, want %q", got, body)
	}
}

// The request checks answer with the reference's exact status lines
// (observed on v2.15.2).
func TestJetStreamConsumerPullRequestErrorsExact(t *testing.T) {
	rc := rawConsumerSetup(t, `{"stream_name":"P","config":{"durable_name":"C","ack_policy":"explicit","max_batch":5,"max_expires":2000000000,"max_bytes":1000,"max_waiting":1}}`)
	for _, tc := range []struct{ body, hdr string }{
		{`{"batch":6}`, "NATS/1.0 409 Exceeded MaxRequestBatch of 5\r\n\r\n"},
		{`{"batch":1,"expires":3000000000}`, "NATS/1.0 409 Exceeded MaxRequestExpires of 2s\r\n\r\n"},
		{`{"batch":1,"max_bytes":2000}`, "NATS/1.0 409 Exceeded MaxRequestMaxBytes of 1000\r\n\r\n"},
		{`{"batch":1,"expires":100000000,"idle_heartbeat":60000000}`, "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n"},
		{`{"batch":"x"}`, "NATS/1.0 400 Bad Request - json: cannot unmarshal string into Go struct field JSApiConsumerGetNextRequest.batch of type int\r\n\r\n"},
	} {
		pullRaw(rc, tc.body)
		expectStatus(t, rc, tc.hdr)
	}
}

// Requests take turns; max_bytes ends a request with 409 Message Size
// Exceeds MaxBytes or 409 Batch Completed; no_wait ends with 404; expiry
// with 408, each with what the request still wanted.
func TestJetStreamConsumerPullStatusSequence(t *testing.T) {
	rc := rawConsumerSetup(t, `{"stream_name":"P","config":{"durable_name":"C","ack_policy":"explicit"}}`)
	pullRaw(rc, `{"batch":3,"max_bytes":10}`)
	expectStatus(t, rc, "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 10\r\n\r\n")
	pullRaw(rc, `{"batch":1,"max_bytes":1000,"expires":100000000}`)
	expectDelivery(t, rc, "hello1", "$JS.ACK.P.C.1.1.1.TS.2")
	expectStatus(t, rc, "NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: 0\r\nNats-Pending-Bytes: 954\r\n\r\n")
	pullRaw(rc, `{"batch":5,"no_wait":true}`)
	expectDelivery(t, rc, "hello2", "$JS.ACK.P.C.1.2.2.TS.1")
	expectDelivery(t, rc, "hello3", "$JS.ACK.P.C.1.3.3.TS.0")
	expectStatus(t, rc, "NATS/1.0 404 No Messages\r\n\r\n")
	pullRaw(rc, `{"batch":4,"expires":50000000,"max_bytes":500}`)
	expectStatus(t, rc, "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 4\r\nNats-Pending-Bytes: 500\r\n\r\n")
	pullRaw(rc, `{"batch":2,"expires":50000000}`)
	expectStatus(t, rc, "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n")
	pullRaw(rc, `abc`) // not a number nor JSON: one message
	rc.send("PUB p 6\r\nhello4\r\n")
	expectDelivery(t, rc, "hello4", "$JS.ACK.P.C.1.4.4.TS.0")
}

// Waiting requests are served one message each in turn, and a full
// waiting queue refuses with 409 Exceeded MaxWaiting.
func TestJetStreamConsumerPullTurnsAndMaxWaiting(t *testing.T) {
	rc := rawConsumerSetup(t, `{"stream_name":"P","config":{"durable_name":"C","ack_policy":"none","deliver_policy":"new","max_waiting":2}}`)
	rc.send("SUB _INBOX.r1 11\r\nSUB _INBOX.r2 12\r\n")
	for _, r := range []string{"_INBOX.r1", "_INBOX.r2"} {
		rc.send(fmt.Sprintf("PUB $JS.API.CONSUMER.MSG.NEXT.P.C %s 11\r\n{\"batch\":2}\r\n", r))
	}
	pullRaw(rc, `{"batch":1}`)
	expectStatus(t, rc, "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n")
	rc.send("PUB p 1\r\na\r\nPUB p 1\r\nb\r\nPUB p 1\r\nc\r\nPUB p 1\r\nd\r\n")
	var got []string
	for i := 0; i < 4; i++ {
		line := rc.readLine()
		got = append(got, strings.Fields(line)[2]+":"+rc.readLine())
	}
	if strings.Join(got, " ") != "11:a 12:b 11:c 12:d" {
		t.Fatalf("deliveries %v", got)
	}
}

// A waiting request gets idle heartbeats carrying the last delivered
// sequences, and 409 Consumer Deleted when the consumer goes.
func TestJetStreamConsumerPullHeartbeatAndDelete(t *testing.T) {
	rc := rawConsumerSetup(t, `{"stream_name":"P","config":{"durable_name":"C","ack_policy":"explicit"}}`)
	pullRaw(rc, `{"batch":1}`)
	expectDelivery(t, rc, "hello1", "$JS.ACK.P.C.1.1.1.TS.2")
	pullRaw(rc, `{"batch":1,"expires":5000000000,"idle_heartbeat":50000000,"max_bytes":5}`)
	expectStatus(t, rc, "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 5\r\n\r\n")
	rc.send("SUB _INBOX.r 2\r\n")
	rc.send("PUB $JS.API.STREAM.PURGE.P _INBOX.r 0\r\n\r\n")
	if subj, _, _ := readRawMsg(rc); subj != "_INBOX.r" {
		t.Fatalf("purge answer on %q", subj)
	}
	pullRaw(rc, `{"batch":1,"expires":5000000000,"idle_heartbeat":50000000}`)
	expectStatus(t, rc, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n")
	expectStatus(t, rc, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n")
	rc.send("PUB $JS.API.CONSUMER.DELETE.P.C _INBOX.r 0\r\n\r\n")
	for {
		subj, hdr, _ := readRawMsg(rc)
		if subj == "_INBOX.x" && strings.Contains(hdr, "Idle Heartbeat") {
			continue
		}
		if subj == "_INBOX.x" {
			if hdr != "NATS/1.0 409 Consumer Deleted\r\n\r\n" {
				t.Fatalf("got %q", hdr)
			}
			return
		}
	}
}

// A request whose requester went away gets nothing: the message goes to
// the next request with consumer sequence 1.
func TestJetStreamConsumerPullRequesterGone(t *testing.T) {
	s, _ := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	gone := connect(t, s)
	if err := gone.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.S.D", "gone.inbox", []byte(`{"batch":5,"expires":5000000000}`)); err != nil {
		t.Fatal(err)
	}
	gone.Flush()
	gone.Close()
	cpublishN(t, js, "s", 1)
	msgs := fetchN(t, c, 1, time.Second)
	md, _ := msgs[0].Metadata()
	if md.Sequence.Consumer != 1 || md.NumDelivered != 1 {
		t.Fatalf("delivered %+v", md)
	}
	_ = nc
}

// nats.go's Consume (expiring requests with heartbeats, refilled as they
// drain) receives every message published while it runs, in order.
func TestJetStreamConsumerConsume(t *testing.T) {
	s, _ := runJS(t)
	_, js := jsConnect(t, s.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.*"}}); err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var got atomic.Int64
	done := make(chan struct{})
	var bad atomic.Value
	cc, err := c.Consume(func(m jetstream.Msg) {
		want := fmt.Sprintf("m%d", got.Load()+1)
		if string(m.Data()) != want {
			bad.Store(fmt.Sprintf("got %q want %q", m.Data(), want))
		}
		m.Ack()
		if got.Add(1) == n {
			close(done)
		}
	}, jetstream.PullMaxMessages(100))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	for i := 1; i <= n; i++ {
		if _, err := js.PublishAsync(fmt.Sprintf("s.%d", i%7), []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("consumed %d of %d", got.Load(), n)
	}
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ci, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.AckFloor.Stream == n && ci.NumAckPending == 0 && ci.NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("info: floor %+v ackpending %d pending %d", ci.AckFloor, ci.NumAckPending, ci.NumPending)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = nats.NewInbox

// headers_only delivers the headers with Nats-Msg-Size and no payload, in
// the reference's bytes.
func TestJetStreamConsumerHeadersOnly(t *testing.T) {
	rc := rawConsumerSetup(t, `{"stream_name":"P","config":{"durable_name":"C","ack_policy":"none","headers_only":true,"deliver_policy":"new"}}`)
	rc.send("HPUB p 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nworld\r\nPUB p 5\r\nhello\r\n")
	pullRaw(rc, `{"batch":2}`)
	for _, want := range []string{"NATS/1.0\r\nX-A: 1\r\nNats-Msg-Size: 5\r\n\r\n", "NATS/1.0\r\nNats-Msg-Size: 5\r\n\r\n"} {
		subj, hdr, body := readRawMsg(rc)
		if subj != "p" || hdr != want || body != "" {
			t.Fatalf("got %q %q %q, want header %q", subj, hdr, body, want)
		}
	}
}

// A pull request for a consumer (or stream) that does not exist reaches
// nobody, as on the reference where the consumer itself subscribes: a
// client that asked for no-responders gets the 503 status at once, one
// that did not gets nothing.
func TestJetStreamPullMissingConsumerNoResponders(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.P", `{"name":"P","subjects":["p"]}`)

	rc := dialRaw(t, s)
	rc.send("CONNECT {\"headers\":true,\"no_responders\":true,\"verbose\":false}\r\nSUB inbox.x 1\r\n")
	for _, subj := range []string{"$JS.API.CONSUMER.MSG.NEXT.P.NONE", "$JS.API.CONSUMER.MSG.NEXT.NOSTREAM.C"} {
		rc.send(fmt.Sprintf("PUB %s inbox.x 2\r\n{}\r\n", subj))
		got, hdr, body := readRawMsg(rc)
		if want := "NATS/1.0 503\r\nNats-Subject: " + subj + "\r\n\r\n"; got != "inbox.x" || hdr != want || body != "" {
			t.Fatalf("%s: got %q %q %q, want header %q", subj, got, hdr, body, want)
		}
	}

	quiet := dialRaw(t, s)
	quiet.send("CONNECT {\"headers\":true,\"verbose\":false}\r\nSUB inbox.y 1\r\nPUB $JS.API.CONSUMER.MSG.NEXT.P.NONE inbox.y 2\r\n{}\r\nPING\r\n")
	quiet.expect("PONG")

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(context.Background(), "P", jetstream.ConsumerConfig{Durable: "GONE"})
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(context.Background(), "P", "GONE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err == nil {
		for range batch.Messages() {
		}
		err = batch.Error()
	}
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("fetch from a deleted consumer: err %v after %v, want a fast failure", err, time.Since(start))
	}
}

// A shutdown ends each waiting pull request with "409 Server Shutdown" and
// what it had left, before the clients are disconnected, as the reference
// does: a client asks again once reconnected and learns that a memory
// consumer is gone (nats.py "ordered consumer messages server restart").
func TestJetStreamPullServerShutdownStatus(t *testing.T) {
	s, nc := pushSetup(t, 0, 0)
	jsOK(t, nc, "$JS.API.CONSUMER.CREATE.S.P", `{"stream_name":"S","config":{"durable_name":"P","ack_policy":"none"}}`)
	rc := rawSub(t, s, "r 1")
	req := `{"batch":10,"expires":10000000000}`
	rc.send(fmt.Sprintf("PUB $JS.API.CONSUMER.MSG.NEXT.S.P r %d\r\n%s\r\n", len(req), req))
	waitInfo(t, nc, "S", "P", "the request to wait", func(ci map[string]any) bool { return ci["num_waiting"] == float64(1) })
	s.Shutdown()
	m := readPush(rc)
	want := "NATS/1.0 409 Server Shutdown\r\nNats-Pending-Messages: 10\r\nNats-Pending-Bytes: 0\r\n\r\n"
	if m.subject != "r" || m.hdr != want {
		t.Fatalf("got %v, want %q", m, want)
	}
}
