package test

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// pushMsg is one MSG or HMSG read off a raw connection.
type pushMsg struct {
	subject, sid, reply string
	hdr, body           string
}

// readPush reads the next message, answering PINGs on the way.
func readPush(rc *rawConn) pushMsg {
	rc.t.Helper()
	line := rc.readLine()
	for line == "PING" || line == "PONG" || strings.HasPrefix(line, "INFO ") {
		if line == "PING" {
			rc.send("PONG\r\n")
		}
		line = rc.readLine()
	}
	f := strings.Fields(line)
	if len(f) < 4 || (f[0] != "MSG" && f[0] != "HMSG") {
		rc.t.Fatalf("expected a message, got %q", line)
	}
	m := pushMsg{subject: f[1], sid: f[2]}
	total, _ := strconv.Atoi(f[len(f)-1])
	hlen, args := 0, f[3:len(f)-1]
	if f[0] == "HMSG" {
		hlen, _ = strconv.Atoi(f[len(f)-2])
		args = args[:len(args)-1]
	}
	if len(args) == 1 {
		m.reply = args[0]
	}
	buf := make([]byte, total+2)
	rc.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(rc.br, buf); err != nil {
		rc.t.Fatalf("read payload: %v", err)
	}
	m.hdr, m.body = string(buf[:hlen]), string(buf[hlen:total])
	return m
}

// String keeps failure messages short: bodies can be 64 KiB.
func (m pushMsg) String() string {
	return fmt.Sprintf("{%s %s %s hdr=%q body=%d bytes}", m.subject, m.sid, m.reply, m.hdr, len(m.body))
}

// ackSeqs returns the stream and consumer sequences of a delivery's ack
// reply subject.
func ackSeqs(t *testing.T, m pushMsg) (sseq, cseq int) {
	t.Helper()
	tok := strings.Split(m.reply, ".")
	if len(tok) != 9 || tok[0] != "$JS" || tok[1] != "ACK" {
		t.Fatalf("not a delivery: %v", m)
	}
	sseq, _ = strconv.Atoi(tok[5])
	cseq, _ = strconv.Atoi(tok[6])
	return sseq, cseq
}

// rawSub connects a raw client with headers and subscribes.
func rawSub(t *testing.T, s *server.Server, subs ...string) *rawConn {
	t.Helper()
	rc := dialRaw(t, s)
	rc.send(`CONNECT {"verbose":false,"headers":true,"protocol":1}` + "\r\n")
	for _, sub := range subs {
		rc.send("SUB " + sub + "\r\n")
	}
	return rc
}

// syncRaw waits until the server has processed what rc sent, skipping
// any message that arrives meanwhile.
func syncRaw(rc *rawConn) {
	rc.t.Helper()
	rc.send("PING\r\n")
	for {
		line := rc.readLine()
		switch {
		case line == "PONG":
			return
		case strings.HasPrefix(line, "MSG ") || strings.HasPrefix(line, "HMSG "):
			f := strings.Fields(line)
			n, _ := strconv.Atoi(f[len(f)-1])
			if _, err := io.ReadFull(rc.br, make([]byte, n+2)); err != nil {
				rc.t.Fatalf("read payload: %v", err)
			}
		}
	}
}

// consumerInfo fetches a consumer's info as a map.
func consumerInfo(t *testing.T, nc *nats.Conn, stream, name string) map[string]any {
	t.Helper()
	m := jsReq(t, nc, "$JS.API.CONSUMER.INFO."+stream+"."+name, "")
	if _, _, d := apiErr(m); d != "" {
		t.Fatalf("info %s: %s", name, d)
	}
	return m
}

// waitInfo polls a consumer's info until ok says so.
func waitInfo(t *testing.T, nc *nats.Conn, stream, name, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ci := consumerInfo(t, nc, stream, name)
		if ok(ci) {
			return ci
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: consumer info %v", what, ci)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pushBound(ci map[string]any) bool { b, _ := ci["push_bound"].(bool); return b }

func seqOf(ci map[string]any, which, field string) int {
	m, _ := ci[which].(map[string]any)
	f, _ := m[field].(float64)
	return int(f)
}

// pushSetup starts a server with stream S on s.> holding n messages of
// size bytes, and a core connection for the API.
func pushSetup(t *testing.T, n, size int) (*server.Server, *nats.Conn) {
	t.Helper()
	s, _ := runJS(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, _, d := apiErr(jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"]}`)); d != "" {
		t.Fatal(d)
	}
	body := []byte(strings.Repeat("x", size))
	for i := 0; i < n; i++ {
		if _, err := nc.Request("s.a", body, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return s, nc
}

func createConsumer(t *testing.T, nc *nats.Conn, name, cfg string) map[string]any {
	t.Helper()
	return jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S."+name,
		fmt.Sprintf(`{"stream_name":"S","config":{"name":%q,%s}}`, name, cfg))
}

// A push consumer delivers while its deliver subject has interest only:
// messages published while nobody listens wait for the next subscriber,
// and push_bound follows the subscription.
func TestJetStreamPushDeliversOnlyWithInterest(t *testing.T) {
	s, nc := pushSetup(t, 3, 2)
	ci := createConsumer(t, nc, "P", `"durable_name":"P","deliver_subject":"dlv","ack_policy":"explicit"`)
	if pushBound(ci) {
		t.Fatalf("bound without interest: %v", ci)
	}
	rc := rawSub(t, s, "dlv 1")
	for i := 1; i <= 3; i++ {
		m := readPush(rc)
		sseq, cseq := ackSeqs(t, m)
		if m.subject != "s.a" || m.sid != "1" || sseq != i || cseq != i || m.body != "xx" {
			t.Fatalf("delivery %d: %v", i, m)
		}
		if !strings.HasSuffix(m.reply, "."+strconv.Itoa(3-i)) {
			t.Fatalf("pending count in %q", m.reply)
		}
	}
	waitInfo(t, nc, "S", "P", "bound", pushBound)
	rc.send("UNSUB 1\r\n")
	syncRaw(rc)
	waitInfo(t, nc, "S", "P", "unbound", func(ci map[string]any) bool { return !pushBound(ci) })
	for i := 0; i < 2; i++ {
		if _, err := nc.Request("s.b", []byte("later"), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Had the server delivered into the void, the next subscriber would
	// see consumer sequence 6, not 4 (nothing is redelivered for 30 s).
	rc.send("SUB dlv 2\r\n")
	for i := 4; i <= 5; i++ {
		m := readPush(rc)
		sseq, cseq := ackSeqs(t, m)
		if m.subject != "s.b" || m.sid != "2" || sseq != i || cseq != i {
			t.Fatalf("after rebinding, delivery %d: %v", i, m)
		}
	}
}

// With a deliver group, only members of that queue group are interest;
// once one is there, delivery is an ordinary publish to the subject.
func TestJetStreamPushDeliverGroup(t *testing.T) {
	s, nc := pushSetup(t, 1, 1)
	createConsumer(t, nc, "Q", `"deliver_subject":"dq","deliver_group":"G","ack_policy":"none"`)
	createConsumer(t, nc, "N", `"deliver_subject":"dn","ack_policy":"none"`)
	rc := rawSub(t, s, "dq 1", "dq H 2", "dn G 3")
	syncRaw(rc)
	for _, name := range []string{"Q", "N"} {
		if ci := consumerInfo(t, nc, "S", name); pushBound(ci) {
			t.Fatalf("%s bound by the wrong subscribers: %v", name, ci)
		}
	}
	rc.send("SUB dq G 4\r\n")
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		m := readPush(rc)
		if m.subject != "s.a" || got[m.sid] {
			t.Fatalf("unexpected %v", m)
		}
		got[m.sid] = true
	}
	if !got["1"] || !got["2"] || !got["4"] {
		t.Fatalf("deliveries reached %v", got)
	}
	waitInfo(t, nc, "S", "Q", "bound by its group", pushBound)
}

var fcSubject = regexp.MustCompile(`^\$JS\.FC\.S\.F\.[0-9A-Za-z]{4}$`)

// expectDeliveries reads deliveries with consumer sequences from..to.
func expectDeliveries(t *testing.T, rc *rawConn, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		m := readPush(rc)
		if m.hdr != "" {
			t.Fatalf("expected delivery %d, got status %q", i, m.hdr)
		}
		if _, cseq := ackSeqs(t, m); cseq != i {
			t.Fatalf("expected delivery %d, got %d", i, cseq)
		}
	}
}

// expectFlowControl reads a flow-control request and returns its reply.
func expectFlowControl(t *testing.T, rc *rawConn) string {
	t.Helper()
	m := readPush(rc)
	if m.subject != "df" || m.hdr != "NATS/1.0 100 FlowControl Request\r\n\r\n" || m.body != "" || !fcSubject.MatchString(m.reply) {
		t.Fatalf("expected a flow-control request, got %v", m)
	}
	return m.reply
}

// expectStalled reads until a heartbeat that says delivery waits for the
// answer to fc after cseq deliveries.
func expectStalled(t *testing.T, rc *rawConn, cseq int, fc string) {
	t.Helper()
	m := readPush(rc)
	want := fmt.Sprintf("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %d\r\nNats-Last-Stream: %d\r\nNats-Consumer-Stalled: %s\r\n\r\n", cseq, cseq, fc)
	if m.subject != "df" || m.reply != "" || m.hdr != want {
		t.Fatalf("expected a stalled heartbeat %q, got %v", want, m)
	}
}

// Flow control as the reference: a request once half the window (2 MiB
// at first) is out, a stall at the whole window until the answer, and a
// window twice as large after each answer.
func TestJetStreamPushFlowControlWindow(t *testing.T) {
	const size = 65512 // with subject and ack reply, 16 messages pass 1 MiB
	s, nc := pushSetup(t, 90, size)
	createConsumer(t, nc, "F", `"deliver_subject":"df","ack_policy":"none","flow_control":true,"idle_heartbeat":200000000`)
	rc := rawSub(t, s, "df 1")
	expectDeliveries(t, rc, 1, 16)
	fc1 := expectFlowControl(t, rc)
	expectDeliveries(t, rc, 17, 32)
	expectStalled(t, rc, 32, fc1)
	rc.send("PUB $JS.FC.S.F.zzzz 0\r\n\r\n") // not the outstanding request: ignored
	expectStalled(t, rc, 32, fc1)
	rc.send("PUB " + fc1 + " 0\r\n\r\n")
	// 16 out after the answer, window 4 MiB: the next request at 2 MiB.
	expectDeliveries(t, rc, 33, 48)
	fc2 := expectFlowControl(t, rc)
	expectDeliveries(t, rc, 49, 80)
	expectStalled(t, rc, 80, fc2)
	rc.send("PUB " + fc2 + " 0\r\n\r\n")
	expectDeliveries(t, rc, 81, 90)
}

// An ephemeral created without a name (CONSUMER.CREATE.<stream>, as the C
// client does) gets its flow-control requests under the name the server
// chose, and an answer there releases the stall: with an empty name in the
// reply subject the answer found no consumer and delivery stopped for good.
func TestJetStreamPushFlowControlUnnamedEphemeral(t *testing.T) {
	const size = 65512
	s, nc := pushSetup(t, 40, size)
	ci := jsReq(t, nc, "$JS.API.CONSUMER.CREATE.S",
		`{"stream_name":"S","config":{"deliver_subject":"df","ack_policy":"none","flow_control":true,"idle_heartbeat":200000000}}`)
	name, _ := ci["name"].(string)
	if name == "" {
		t.Fatalf("no generated name in %v", ci)
	}
	rc := rawSub(t, s, "df 1")
	expectDeliveries(t, rc, 1, 16)
	m := readPush(rc)
	want := regexp.MustCompile(`^\$JS\.FC\.S\.` + regexp.QuoteMeta(name) + `\.[0-9A-Za-z]{4}$`)
	if m.hdr != "NATS/1.0 100 FlowControl Request\r\n\r\n" || !want.MatchString(m.reply) {
		t.Fatalf("expected a flow-control request naming %s, got %v", name, m)
	}
	expectDeliveries(t, rc, 17, 32)
	expectStalled(t, rc, 32, m.reply)
	rc.send("PUB " + m.reply + " 0\r\n\r\n")
	expectDeliveries(t, rc, 33, 40)
}

// Idle heartbeats: on the deliver subject, without reply, after
// idle_heartbeat without deliveries, and only while bound. Nats-Last-Stream
// is the last stream sequence the consumer passed, also one its filter
// skipped.
func TestJetStreamPushIdleHeartbeat(t *testing.T) {
	s, nc := pushSetup(t, 2, 1)
	if _, err := nc.Request("s.other", nil, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	createConsumer(t, nc, "H", `"deliver_subject":"dh","ack_policy":"none","filter_subject":"s.a","idle_heartbeat":100000000`)
	rc := rawSub(t, s, "dh 1")
	expectDeliveriesOn := func(n int) {
		for i := 1; i <= n; i++ {
			if m := readPush(rc); m.hdr != "" {
				t.Fatalf("expected a delivery, got %v", m)
			}
		}
	}
	expectDeliveriesOn(2)
	start := time.Now()
	for i := 0; i < 2; i++ {
		m := readPush(rc)
		want := "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 2\r\nNats-Last-Stream: 3\r\n\r\n"
		if m.subject != "dh" || m.reply != "" || m.hdr != want || m.body != "" {
			t.Fatalf("heartbeat %d: %v", i, m)
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("two heartbeats 100ms apart came within %v", d)
	}
	// Unbound: no heartbeat; the next subscriber's first frame is one.
	rc.send("UNSUB 1\r\n")
	syncRaw(rc)
	waitInfo(t, nc, "S", "H", "unbound", func(ci map[string]any) bool { return !pushBound(ci) })
	// Unbound for longer than idle_heartbeat: the next heartbeat still
	// waits idle_heartbeat from the binding, not from the last one.
	time.Sleep(250 * time.Millisecond)
	rc.send("SUB dh 2\r\n")
	bound := time.Now()
	if m := readPush(rc); m.sid != "2" || !strings.HasPrefix(m.hdr, "NATS/1.0 100 Idle Heartbeat\r\n") {
		t.Fatalf("after rebinding: %v", m)
	}
	if d := time.Since(bound); d < 80*time.Millisecond {
		t.Fatalf("heartbeat %v after binding, want idle_heartbeat", d)
	}
}

// Ack policy flow_control: the answer to a flow-control request acks up
// to its Nats-Last-Stream, and an idle heartbeat with acks pending is
// followed by a request.
func TestJetStreamPushAckFlowControl(t *testing.T) {
	s, nc := pushSetup(t, 40, 65512)
	ci := createConsumer(t, nc, "F", `"deliver_subject":"df","ack_policy":"flow_control","flow_control":true,"idle_heartbeat":1000000000`)
	if _, _, d := apiErr(ci); d != "" {
		t.Fatal(d)
	}
	rc := rawSub(t, s, "df 1")
	expectDeliveries(t, rc, 1, 16)
	fc := expectFlowControl(t, rc)
	expectDeliveries(t, rc, 17, 32)
	hdr := "NATS/1.0\r\nNats-Last-Consumer: 10\r\nNats-Last-Stream: 10\r\n\r\n"
	rc.send(fmt.Sprintf("HPUB %s %d %d\r\n%s\r\n", fc, len(hdr), len(hdr), hdr))
	expectDeliveries(t, rc, 33, 40)
	waitInfo(t, nc, "S", "F", "acked to 10", func(ci map[string]any) bool {
		return seqOf(ci, "ack_floor", "stream_seq") == 10 && ci["num_ack_pending"] == float64(30)
	})
	m := readPush(rc)
	if m.hdr != "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 40\r\nNats-Last-Stream: 40\r\n\r\n" {
		t.Fatalf("expected a heartbeat, got %v", m)
	}
	fc = expectFlowControl(t, rc)
	hdr = "NATS/1.0\r\nNats-Last-Consumer: 40\r\nNats-Last-Stream: 40\r\n\r\n"
	rc.send(fmt.Sprintf("HPUB %s %d %d\r\n%s\r\n", fc, len(hdr), len(hdr), hdr))
	waitInfo(t, nc, "S", "F", "all acked", func(ci map[string]any) bool {
		return seqOf(ci, "ack_floor", "stream_seq") == 40 && ci["num_ack_pending"] == float64(0)
	})
}

// headers_only: the stored headers plus Nats-Msg-Size, no body.
func TestJetStreamPushHeadersOnly(t *testing.T) {
	s, nc := pushSetup(t, 1, 6)
	m := nats.NewMsg("s.h")
	m.Header.Set("Foo", "bar")
	m.Data = []byte("hdrbody")
	if _, err := nc.RequestMsg(m, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	createConsumer(t, nc, "H", `"deliver_subject":"dh","ack_policy":"none","headers_only":true`)
	rc := rawSub(t, s, "dh 1")
	want := []string{"NATS/1.0\r\nNats-Msg-Size: 6\r\n\r\n", "NATS/1.0\r\nFoo: bar\r\nNats-Msg-Size: 7\r\n\r\n"}
	for i, w := range want {
		if got := readPush(rc); got.hdr != w || got.body != "" {
			t.Fatalf("delivery %d: %v", i+1, got)
		}
	}
}

// rate_limit_bps spaces deliveries: 10 messages of ~550 bytes at 44,000
// bits per second take about a second.
func TestJetStreamPushRateLimit(t *testing.T) {
	s, nc := pushSetup(t, 10, 500)
	createConsumer(t, nc, "R", `"deliver_subject":"dr","ack_policy":"none","rate_limit_bps":44000`)
	rc := rawSub(t, s, "dr 1")
	start := time.Now()
	for i := 0; i < 10; i++ {
		readPush(rc)
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Fatalf("10 rate-limited messages in %v", d)
	}
}

// Moving a push consumer to another deliver subject is refused while the
// old one has interest (10013), allowed once it has none.
func TestJetStreamPushDeliverSubjectUpdate(t *testing.T) {
	s, nc := pushSetup(t, 1, 1)
	cfg := `"durable_name":"D","deliver_subject":%q,"ack_policy":"explicit"`
	createConsumer(t, nc, "D", fmt.Sprintf(cfg, "d1"))
	rc := rawSub(t, s, "d1 1")
	readPush(rc)
	m := createConsumer(t, nc, "D", fmt.Sprintf(cfg, "d2"))
	if code, errCode, d := apiErr(m); code != 400 || errCode != 10013 || d != "consumer name already in use" {
		t.Fatalf("moving a bound consumer: %v", m)
	}
	if m := createConsumer(t, nc, "D", fmt.Sprintf(cfg, "d1")); !pushBound(m) {
		t.Fatalf("same config again: %v", m)
	}
	rc.send("UNSUB 1\r\n")
	syncRaw(rc)
	if _, _, d := apiErr(createConsumer(t, nc, "D", fmt.Sprintf(cfg, "d2"))); d != "" {
		t.Fatalf("moving an unbound consumer: %s", d)
	}
	if _, err := nc.Request("s.a", []byte("new"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	rc.send("SUB d1 2\r\nSUB d2 3\r\n")
	if m := readPush(rc); m.sid != "3" || m.body != "new" {
		t.Fatalf("after the move: %v", m)
	}
}

// Unacknowledged push deliveries come again after ack_wait while bound,
// with the delivery count in the ack reply.
func TestJetStreamPushAckWaitRedelivery(t *testing.T) {
	s, nc := pushSetup(t, 1, 1)
	createConsumer(t, nc, "W", `"deliver_subject":"dw","ack_policy":"explicit","ack_wait":200000000`)
	rc := rawSub(t, s, "dw 1")
	first := readPush(rc)
	start := time.Now()
	again := readPush(rc)
	// Not before ack_wait, and on its own timer: not at the next state
	// flush (1 s) or heartbeat.
	if d := time.Since(start); d < 150*time.Millisecond || d > 700*time.Millisecond {
		t.Fatalf("redelivered after %v, ack_wait is 200ms", d)
	}
	if !strings.HasPrefix(first.reply, "$JS.ACK.S.W.1.1.1.") || !strings.HasPrefix(again.reply, "$JS.ACK.S.W.2.1.2.") {
		t.Fatalf("delivery %v, redelivery %v", first, again)
	}
	rc.send("PUB " + again.reply + " 0\r\n\r\n")
	waitInfo(t, nc, "S", "W", "acked", func(ci map[string]any) bool { return seqOf(ci, "ack_floor", "stream_seq") == 1 })
}

// replay_policy original on a push consumer: messages go out as far
// apart as they were stored.
func TestJetStreamPushReplayOriginal(t *testing.T) {
	s, nc := pushSetup(t, 1, 1)
	time.Sleep(300 * time.Millisecond) // the gap to replay
	if _, err := nc.Request("s.a", []byte("y"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	createConsumer(t, nc, "O", `"deliver_subject":"do","ack_policy":"none","replay_policy":"original"`)
	rc := rawSub(t, s, "do 1")
	readPush(rc)
	start := time.Now()
	if m := readPush(rc); m.body != "y" {
		t.Fatalf("second delivery %v", m)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("messages stored 300ms apart replayed %v apart", d)
	}
}

// An ephemeral push consumer lives while its deliver subject has
// interest, and is deleted inactive_threshold after it lost it.
func TestJetStreamPushInactiveThreshold(t *testing.T) {
	s, nc := pushSetup(t, 1, 1)
	createConsumer(t, nc, "E", `"deliver_subject":"de","ack_policy":"none","inactive_threshold":300000000`)
	rc := rawSub(t, s, "de 1")
	readPush(rc)
	time.Sleep(700 * time.Millisecond) // bound for more than the threshold
	if ci := consumerInfo(t, nc, "S", "E"); !pushBound(ci) {
		t.Fatalf("bound consumer: %v", ci)
	}
	rc.send("UNSUB 1\r\n")
	syncRaw(rc)
	unbound := time.Now()
	deadline := unbound.Add(5 * time.Second)
	for {
		m := jsReq(t, nc, "$JS.API.CONSUMER.INFO.S.E", "")
		if _, errCode, _ := apiErr(m); errCode == 10014 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unbound ephemeral consumer not deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(unbound); d < 250*time.Millisecond {
		t.Fatalf("deleted %v after unbinding, inactive_threshold is 300ms", d)
	}
}

// nats.go's ordered consumer (ephemeral push, flow control, heartbeats,
// memory storage) reads a stream of more than the first flow-control
// window in order.
func TestJetStreamPushOrderedConsumerNatsGo(t *testing.T) {
	const n = 3000 // ~3 MiB: several flow-control rounds
	s, nc := pushSetup(t, n, 1000)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	next := uint64(1)
	sub, err := js.Subscribe("s.>", func(m *nats.Msg) {
		md, err := m.Metadata()
		if err != nil || md.Sequence.Stream != next {
			select {
			case done <- fmt.Errorf("got %v (%v), want stream seq %d", md, err, next):
			default:
			}
			return
		}
		if next == n {
			done <- nil
		}
		next++
	}, nats.OrderedConsumer())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ordered consumer stopped at %d of %d", next-1, n)
	}
	ci, err := sub.ConsumerInfo()
	if err != nil || !ci.Config.FlowControl || !ci.Config.MemoryStorage || ci.Config.Heartbeat == 0 || !ci.PushBound {
		t.Fatalf("ordered consumer info %+v %v", ci, err)
	}
	_ = s
}

// nats.go's push subscriptions on durables: Subscribe with manual acks,
// ChanSubscribe, and QueueSubscribe sharing the messages out.
func TestJetStreamPushDurableNatsGo(t *testing.T) {
	_, nc := pushSetup(t, 20, 4)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 100)
	sub, err := js.Subscribe("s.>", func(m *nats.Msg) { got <- m }, nats.Durable("D"), nats.ManualAck(), nats.AckExplicit())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		select {
		case m := <-got:
			if md, _ := m.Metadata(); md == nil || md.Sequence.Stream != uint64(i) {
				t.Fatalf("message %d: %v", i, md)
			}
			if err := m.AckSync(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not delivered", i)
		}
	}
	ci, err := sub.ConsumerInfo()
	if err != nil || ci.AckFloor.Stream != 20 || ci.NumAckPending != 0 || !ci.PushBound {
		t.Fatalf("after acks: %+v %v", ci, err)
	}
	sub.Unsubscribe()

	ch := make(chan *nats.Msg, 100)
	csub, err := js.ChanSubscribe("s.>", ch, nats.Durable("C"), nats.AckNone())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("chan message %d not delivered", i)
		}
	}
	csub.Unsubscribe()

	counts := make([]int, 2)
	total := make(chan struct{}, 100)
	for i := range counts {
		i := i
		if _, err := js.QueueSubscribe("s.>", "workers", func(m *nats.Msg) {
			counts[i]++
			m.Ack()
			total <- struct{}{}
		}, nats.Durable("workers"), nats.ManualAck()); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		select {
		case <-total:
		case <-time.After(5 * time.Second):
			t.Fatalf("queue got %d of 20", i)
		}
	}
	select {
	case <-total:
		t.Fatal("a message went to both queue members")
	case <-time.After(100 * time.Millisecond):
	}
	ci2, err := js.ConsumerInfo("S", "workers")
	if err != nil || ci2.Config.DeliverGroup != "workers" || ci2.Delivered.Stream != 20 {
		t.Fatalf("queue consumer: %+v %v", ci2, err)
	}
}

// KV watchers of nats.go's legacy and jetstream APIs (ordered push
// consumers with deliver last_per_subject) see each key's current value
// once, the end of the initial values, then updates.
func TestJetStreamPushKVWatchNatsGo(t *testing.T) {
	s, _ := runJS(t)
	nc, js := jsConnect(t, s.ClientURL())
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, kvp := range [][2]string{{"a", "1"}, {"b", "1"}, {"a", "2"}} {
		if _, err := kv.Put(ctx, kvp[0], []byte(kvp[1])); err != nil {
			t.Fatal(err)
		}
	}
	legacy, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	lkv, err := legacy.KeyValue("B")
	if err != nil {
		t.Fatal(err)
	}
	lw, err := lkv.WatchAll()
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Stop()
	jw, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer jw.Stop()
	watchers := []struct {
		name string
		next func() (key, val string, op string, end bool)
	}{
		{"legacy", func() (string, string, string, bool) {
			select {
			case e := <-lw.Updates():
				if e == nil {
					return "", "", "", true
				}
				return e.Key(), string(e.Value()), e.Operation().String(), false
			case <-time.After(5 * time.Second):
				t.Fatal("legacy watcher got nothing")
			}
			return "", "", "", true
		}},
		{"jetstream", func() (string, string, string, bool) {
			select {
			case e := <-jw.Updates():
				if e == nil {
					return "", "", "", true
				}
				return e.Key(), string(e.Value()), e.Operation().String(), false
			case <-time.After(5 * time.Second):
				t.Fatal("jetstream watcher got nothing")
			}
			return "", "", "", true
		}},
	}
	for _, w := range watchers {
		var initial []string
		for {
			k, v, _, end := w.next()
			if end {
				break
			}
			initial = append(initial, k+"="+v)
		}
		if strings.Join(initial, " ") != "b=1 a=2" {
			t.Fatalf("%s watcher's initial values: %v", w.name, initial)
		}
	}
	if _, err := kv.Put(ctx, "c", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, w := range watchers {
		if k, v, op, _ := w.next(); k+"="+v+" "+op != "c=3 KeyValuePutOp" {
			t.Fatalf("%s watcher's update: %s=%s %s", w.name, k, v, op)
		}
		if k, _, op, _ := w.next(); k+" "+op != "a KeyValueDeleteOp" {
			t.Fatalf("%s watcher's delete: %s %s", w.name, k, op)
		}
	}
}

// A push consumer whose deliver subject reaches another account through a
// stream import delivers there, as the reference does: on the imported
// deliver subject, showing the stream's subject and the ack reply.
func TestJetStreamPushAcrossStreamImport(t *testing.T) {
	conf := `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE" }
accounts {
  A { jetstream: enabled, users [{user: a, password: a}], exports [{stream: "accI.>"}, {service: "$JS.API.>"}] }
  I { users [{user: i, password: i}], imports [{stream: {account: A, subject: "accI.>"}}, {service: {account: A, subject: "$JS.API.>"}, to: "fromA.>"}] }
}
`
	s, _ := runJSConf(t, conf, "")
	na := connect(t, s, nats.UserInfo("a", "a"))
	ni := connect(t, s, nats.UserInfo("i", "i"))
	jsReq(t, na, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s"]}`)
	sub, _ := ni.SubscribeSync("accI.deliver")
	ni.Flush()
	m, err := ni.Request("fromA.CONSUMER.CREATE.S.C", []byte(`{"stream_name":"S","config":{"name":"C","deliver_subject":"accI.deliver","ack_policy":"none"}}`), 2*time.Second)
	if err != nil || !strings.Contains(string(m.Data), `"push_bound":true`) {
		t.Fatalf("create: %v %s", err, m.Data)
	}
	if _, err := na.Request("s", []byte("hello"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal("no delivery across the import:", err)
	}
	if got.Subject != "s" || string(got.Data) != "hello" || !strings.HasPrefix(got.Reply, "$JS.ACK.S.C.1.1.1.") {
		t.Fatalf("got %q %q reply %q", got.Subject, got.Data, got.Reply)
	}
}

// crossAccountConf is nats.js's jetstreamExportServerConf: account A reaches
// JS's API under IPA.>, its acks, and a stream export of A.>.
const crossAccountConf = `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE" }
accounts {
  JS { jetstream: enabled, users [{user: js, password: js}],
    exports [{service: "$JS.API.>", response_type: stream}, {service: "$JS.ACK.>", response_type: stream}, {stream: "A.>", accounts: [A]}] }
  A { users [{user: a, password: a}],
    imports [{service: {subject: "$JS.API.>", account: JS}, to: "IPA.>"}, {service: {subject: "$JS.ACK.>", account: JS}}, {stream: {subject: "A.>", account: JS}}] }
}`

// A stream import of the deliver subject does not bind a push consumer by
// itself: only a subscriber in the importing account does, and its
// arrival and departure are seen (nats.js "cross account subscribe": a
// consumer shown bound is refused as "already bound").
func TestJetStreamPushBoundAcrossStreamImport(t *testing.T) {
	s, _ := runJSConf(t, crossAccountConf, "")
	njs := connect(t, s, nats.UserInfo("js", "js"))
	na := connect(t, s, nats.UserInfo("a", "a"))
	jsOK(t, njs, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s"]}`)
	ci := jsOK(t, na, "IPA.CONSUMER.CREATE.S.me", `{"stream_name":"S","config":{"durable_name":"me","deliver_subject":"A.dlv","ack_policy":"explicit"}}`)
	if pushBound(ci) {
		t.Fatalf("bound with no subscriber in A: %v", ci)
	}
	sub, err := na.SubscribeSync("A.dlv")
	if err != nil {
		t.Fatal(err)
	}
	na.Flush()
	waitInfo(t, njs, "S", "me", "bound by A's subscriber", pushBound)
	pub(t, njs, "s", "hello")
	if m, err := sub.NextMsg(2 * time.Second); err != nil || m.Subject != "s" || string(m.Data) != "hello" {
		t.Fatalf("delivery: %v %v", m, err)
	}
	sub.Unsubscribe()
	na.Flush()
	waitInfo(t, njs, "S", "me", "unbound", func(ci map[string]any) bool { return !pushBound(ci) })
}

// A pull request sent through a service import gets the messages with the
// stream's subject and their ack replies, on the requester's reply subject,
// as the reference does (nats.js "cross account pull").
func TestJetStreamPullAcrossServiceImport(t *testing.T) {
	s, _ := runJSConf(t, crossAccountConf, "")
	njs := connect(t, s, nats.UserInfo("js", "js"))
	na := connect(t, s, nats.UserInfo("a", "a"))
	jsOK(t, njs, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s"]}`)
	pub(t, njs, "s", "1")
	pub(t, njs, "s", "2")
	jsOK(t, njs, "$JS.API.CONSUMER.CREATE.S.me", `{"stream_name":"S","config":{"durable_name":"me","ack_policy":"explicit"}}`)
	sub, err := na.SubscribeSync("A.inbox.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := na.PublishRequest("IPA.CONSUMER.MSG.NEXT.S.me", "A.inbox.1", []byte(`{"batch":2,"expires":2000000000}`)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Subject != "s" || string(m.Data) != fmt.Sprint(i) || !strings.HasPrefix(m.Reply, fmt.Sprintf("$JS.ACK.S.me.1.%d.%d.", i, i)) {
			t.Fatalf("message %d: %q %q reply %q", i, m.Subject, m.Data, m.Reply)
		}
		// The ack travels back through A's import of $JS.ACK.>.
		if _, err := na.Request(m.Reply, nil, 2*time.Second); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	waitInfo(t, njs, "S", "me", "both acked", func(ci map[string]any) bool { return seqOf(ci, "ack_floor", "stream_seq") == 2 })
}
