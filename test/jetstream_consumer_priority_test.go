package test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// Priority groups, pause, unpin and reset, compared with the reference's
// answers (observed on v2.15.2).

// prioFixture is a server with stream S on s.> and a core connection.
type prioFixture struct {
	t   *testing.T
	dir string
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newPrioFixture(t *testing.T) *prioFixture {
	t.Helper()
	dir := t.TempDir()
	s := runJSDir(t, dir)
	nc, js := jsConnect(t, s.ClientURL())
	f := &prioFixture{t: t, dir: dir, srv: s, nc: nc, js: js}
	if m := jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"]}`); m["error"] != nil {
		t.Fatalf("stream: %v", m["error"])
	}
	return f
}

// consumer creates consumer name with the config's JSON fields.
func (f *prioFixture) consumer(name, fields string) {
	f.t.Helper()
	body := fmt.Sprintf(`{"stream_name":"S","config":{"durable_name":%q,"ack_policy":"explicit"%s}}`, name, fields)
	if m := jsReq(f.t, f.nc, "$JS.API.CONSUMER.CREATE.S."+name, body); m["error"] != nil {
		f.t.Fatalf("create %s: %v", name, m["error"])
	}
}

// publish stores n messages on s.<i>, numbered from first.
func (f *prioFixture) publish(first, n int) {
	f.t.Helper()
	for i := first; i < first+n; i++ {
		if _, err := f.js.Publish(context.Background(), "s."+strconv.Itoa(i), []byte("m"+strconv.Itoa(i))); err != nil {
			f.t.Fatal(err)
		}
	}
}

// inbox subscribes to a new inbox.
func (f *prioFixture) inbox() (string, *nats.Subscription) {
	f.t.Helper()
	in := nats.NewInbox()
	sub, err := f.nc.SubscribeSync(in)
	if err != nil {
		f.t.Fatal(err)
	}
	return in, sub
}

// pull sends a pull request to consumer name; the server has queued it
// when pull returns.
func (f *prioFixture) pull(name, inbox, body string) {
	f.t.Helper()
	if err := f.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.S."+name, inbox, []byte(body)); err != nil {
		f.t.Fatal(err)
	}
	if err := f.nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
}

// next is the next message on sub.
func (f *prioFixture) next(sub *nats.Subscription) *nats.Msg {
	f.t.Helper()
	m, err := sub.NextMsg(3 * time.Second)
	if err != nil {
		f.t.Fatalf("next on %s: %v", sub.Subject, err)
	}
	return m
}

// status reads a status message and checks "code description" and the
// pending counts ("" when the status has none).
func (f *prioFixture) status(sub *nats.Subscription, want, pending string) {
	f.t.Helper()
	m := f.next(sub)
	got := m.Header.Get("Status") + " " + m.Header.Get("Description")
	pend := m.Header.Get("Nats-Pending-Messages")
	if pend != "" {
		pend += "/" + m.Header.Get("Nats-Pending-Bytes")
	}
	if got != want || pend != pending || len(m.Data) != 0 {
		f.t.Fatalf("status %q pending %q data %q, want %q pending %q", got, pend, m.Data, want, pending)
	}
}

// delivery reads a delivery and checks its payload; it returns its pin.
func (f *prioFixture) delivery(sub *nats.Subscription, data string) string {
	f.t.Helper()
	m := f.next(sub)
	if string(m.Data) != data || m.Header.Get("Status") != "" {
		f.t.Fatalf("got %q %v, want delivery %q", m.Data, m.Header, data)
	}
	return m.Header.Get("Nats-Pin-Id")
}

// none checks that nothing arrives on sub for a short while.
func (f *prioFixture) none(sub *nats.Subscription) {
	f.t.Helper()
	if m, err := sub.NextMsg(150 * time.Millisecond); err == nil {
		f.t.Fatalf("unexpected %q %v", m.Data, m.Header)
	}
}

// advisory decodes the next advisory on sub.
func (f *prioFixture) advisory(sub *nats.Subscription) map[string]any {
	f.t.Helper()
	var v map[string]any
	if err := json.Unmarshal(f.next(sub).Data, &v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

// info is consumer name's info as raw JSON fields.
func (f *prioFixture) info(name string) map[string]any {
	f.t.Helper()
	return jsReq(f.t, f.nc, "$JS.API.CONSUMER.INFO.S."+name, "")
}

// The request checks of priority groups answer with the reference's
// status lines, after the request limits and in its order.
func TestJetStreamConsumerPriorityRequestStatuses(t *testing.T) {
	f := newPrioFixture(t)
	f.consumer("N", "")
	f.consumer("O", `,"priority_groups":["A"],"priority_policy":"overflow"`)
	f.consumer("P", `,"priority_groups":["A","B"],"priority_policy":"pinned_client"`)
	in, sub := f.inbox()
	for _, tc := range []struct{ consumer, body, want string }{
		{"N", `{"min_pending":2}`, "400 Bad Request - Not a Overflow Priority consumer"},
		{"N", `{"min_ack_pending":2}`, "400 Bad Request - Not a Overflow Priority consumer"},
		{"N", `{"id":"X"}`, "400 Bad Request - Not a Pinned Client Priority consumer"},
		{"N", `{"priority":10}`, "400 Bad Request - Priority must be between 0 and 9"},
		{"N", `{"group":"A","no_wait":true}`, "404 No Messages"},
		{"O", `{"id":"X","group":"A"}`, "400 Bad Request - Not a Pinned Client Priority consumer"},
		{"O", `{"priority":-1,"group":"A"}`, "400 Bad Request - Priority must be between 0 and 9"},
		{"O", `{"group":"Z","priority":11}`, "400 Bad Request - Priority must be between 0 and 9"},
		{"O", `{"min_pending":3}`, "400 Bad Request - Priority Group missing"},
		{"O", `{"group":"Z"}`, "400 Bad Request - Invalid Priority Group"},
		{"O", `{"group":"Z","idle_heartbeat":5000000000,"expires":1000000000}`, "400 Bad Request - heartbeat value too large"},
		{"P", `{"min_pending":1,"group":"A"}`, "400 Bad Request - Not a Overflow Priority consumer"},
		{"P", `{}`, "400 Bad Request - Priority Group missing"},
	} {
		f.pull(tc.consumer, in, tc.body)
		f.status(sub, tc.want, "")
	}
}

// A pinned_client consumer gives its messages to one client at a time:
// the first request without an id gets a pin (Nats-Pin-Id, PINNED
// advisory, priority_groups in info); other ids are refused, requests
// without one wait; the pin is dropped priority_timeout after the pinned
// client's last request (UNPINNED timeout) and the next message goes to
// a new pin, while a request with the old one ends with 423.
func TestJetStreamConsumerPinnedClient(t *testing.T) {
	f := newPrioFixture(t)
	f.consumer("C", `,"priority_groups":["A","B"],"priority_policy":"pinned_client","priority_timeout":250000000`)
	adv, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.*.S.C")
	ci := f.info("C")
	if pg := fmt.Sprint(ci["priority_groups"]); pg != "[map[group:A pinned_ts:0001-01-01T00:00:00Z]]" {
		t.Fatalf("priority_groups before a pin: %s", pg)
	}
	f.publish(1, 2)
	in1, sub1 := f.inbox()
	f.pull("C", in1, `{"batch":1,"group":"B"}`)
	pin := f.delivery(sub1, "m1")
	if len(pin) != 22 {
		t.Fatalf("pin %q", pin)
	}
	if a := f.advisory(adv); a["type"] != "io.nats.jetstream.advisory.v1.consumer_group_pinned" ||
		a["pinned_id"] != pin || a["group"] != "B" || a["account"] != "$G" || a["consumer"] != "C" {
		t.Fatalf("pinned advisory: %v", a)
	}
	pg := f.info("C")["priority_groups"].([]any)[0].(map[string]any)
	if pg["group"] != "A" || pg["pinned_client_id"] != pin || pg["pinned_ts"] == "0001-01-01T00:00:00Z" {
		t.Fatalf("priority_groups pinned: %v", pg)
	}

	in2, sub2 := f.inbox()
	f.pull("C", in2, `{"batch":1,"group":"A","id":"WRONG"}`)
	f.status(sub2, "423 Nats-Pin-Id mismatch", "")
	f.pull("C", in2, `{"batch":1,"group":"A","expires":10000000000}`) // waits: not the pinned client
	f.pull("C", in1, fmt.Sprintf(`{"batch":1,"group":"A","id":%q}`, pin))
	if got := f.delivery(sub1, "m2"); got != pin {
		t.Fatalf("second delivery pin %q, want %q", got, pin)
	}
	last := time.Now()
	f.pull("C", in1, fmt.Sprintf(`{"batch":5,"group":"A","id":%q,"expires":10000000000}`, pin))

	// No request from the pinned client for priority_timeout (250ms): the
	// pin is dropped (on time, by the consumer's timer), and the next
	// message goes to the first request without an id, with a new pin.
	if a := f.advisory(adv); a["type"] != "io.nats.jetstream.advisory.v1.consumer_group_unpinned" ||
		a["reason"] != "timeout" || a["group"] != "B" {
		t.Fatalf("unpinned advisory: %v", a)
	}
	if d := time.Since(last); d < 250*time.Millisecond || d > 850*time.Millisecond {
		t.Fatalf("unpinned %v after the last request, priority_timeout 250ms", d)
	}
	f.publish(3, 1)
	a := f.advisory(adv)
	pin2 := f.delivery(sub2, "m3")
	if pin2 == "" || pin2 == pin || a["pinned_id"] != pin2 || a["group"] != "A" {
		t.Fatalf("new pin %q after %q, advisory %v", pin2, pin, a)
	}
	f.publish(4, 1)
	f.status(sub1, "423 Nats-Wrong-Pin-Id", "5/0")
	f.none(sub2) // its batch of 1 was served; m4 waits for the pinned client
	f.pull("C", in2, fmt.Sprintf(`{"batch":1,"group":"B","id":%q}`, pin2))
	f.delivery(sub2, "m4")
}

// CONSUMER.UNPIN: its errors, and a pin dropped on request (with the
// UNPINNED advisory, reason admin, also when nothing was pinned); the
// next request gets a new pin. nats.go's UnpinConsumer works.
func TestJetStreamConsumerUnpin(t *testing.T) {
	f := newPrioFixture(t)
	adv, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.S.*")
	f.consumer("C", `,"priority_groups":["A","B"],"priority_policy":"pinned_client"`)
	f.consumer("N", "")
	for _, tc := range []struct {
		subj, body string
		errCode    float64
		desc       string
	}{
		{"C", "", 10025, "invalid JSON: unexpected end of JSON input"},
		{"C", "{}", 10025, "invalid JSON: consumer group not specified"},
		{"C", `{"group":`, 10025, "invalid JSON: unexpected end of JSON input"},
		{"C", `{"group":5}`, 10025, "invalid JSON: json: cannot unmarshal number into Go struct field JSApiConsumerUnpinRequest.group of type string"},
		{"C", `{"group":"A.B"}`, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters"},
		{"C", `{"group":"AAAAAAAAAAAAAAAAA"}`, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters"},
		{"C", `{"group":"Z"}`, 10160, "Provided priority group does not exist for this consumer"},
		{"N", `{"group":"A"}`, 10160, "Provided priority group does not exist for this consumer"},
		{"X", `{"group":"A"}`, 10014, "consumer not found"},
	} {
		m := jsReq(t, f.nc, "$JS.API.CONSUMER.UNPIN.S."+tc.subj, tc.body)
		if _, ec, d := apiErr(m); ec != tc.errCode || d != tc.desc || m["type"] != "io.nats.jetstream.api.v1.consumer_unpin_response" {
			t.Fatalf("unpin %s %s: %v", tc.subj, tc.body, m)
		}
	}
	f.publish(1, 2)
	in, sub := f.inbox()
	f.pull("C", in, `{"group":"A"}`)
	pin := f.delivery(sub, "m1")
	// Unknown fields are ignored (lenient decoding, as the reference).
	if m := jsReq(t, f.nc, "$JS.API.CONSUMER.UNPIN.S.C", `{"group":"B","x":1}`); len(m) != 1 {
		t.Fatalf("unpin: %v", m)
	}
	if a := f.advisory(adv); a["reason"] != "admin" || a["group"] != "B" || a["consumer"] != "C" {
		t.Fatalf("unpinned advisory: %v", a)
	}
	if pg := f.info("C")["priority_groups"].([]any)[0].(map[string]any); pg["pinned_client_id"] != nil || pg["pinned_ts"] != "0001-01-01T00:00:00Z" {
		t.Fatalf("after unpin: %v", pg)
	}
	f.pull("C", in, fmt.Sprintf(`{"group":"A","id":%q}`, pin))
	f.status(sub, "423 Nats-Wrong-Pin-Id", "1/0")
	f.pull("C", in, `{"group":"A"}`)
	if pin2 := f.delivery(sub, "m2"); pin2 == "" || pin2 == pin {
		t.Fatalf("pin after unpin %q (was %q)", pin2, pin)
	}
	st, err := f.js.Stream(context.Background(), "S")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UnpinConsumer(context.Background(), "C", "A"); err != nil {
		t.Fatal(err)
	}
	if a := f.advisory(adv); a["reason"] != "admin" || a["group"] != "A" {
		t.Fatalf("unpinned advisory: %v", a)
	}
}

// Overflow: a request with minimums is served only while the consumer's
// num_pending or num_ack_pending reaches them; a no_wait one that may
// not be served gets 404.
func TestJetStreamConsumerOverflow(t *testing.T) {
	f := newPrioFixture(t)
	f.consumer("O", `,"priority_groups":["A"],"priority_policy":"overflow"`)
	f.publish(1, 2)
	in, sub := f.inbox()
	f.pull("O", in, `{"batch":1,"group":"A","min_pending":3,"no_wait":true}`)
	f.status(sub, "404 No Messages", "")
	f.pull("O", in, `{"batch":5,"group":"A","min_pending":3,"expires":2000000000}`)
	f.none(sub)
	f.publish(3, 3) // pending 5: served while at least 3 are pending
	f.delivery(sub, "m1")
	f.delivery(sub, "m2")
	f.delivery(sub, "m3")
	f.none(sub)
	// Three acks pending: min_ack_pending 3 is reached, 4 is not (nor
	// min_pending 3 with 2 pending); either minimum suffices.
	in2, sub2 := f.inbox()
	f.pull("O", in2, `{"batch":1,"group":"A","min_ack_pending":4,"min_pending":3,"expires":300000000}`)
	f.status(sub2, "408 Request Timeout", "1/0")
	f.pull("O", in2, `{"batch":1,"group":"A","min_ack_pending":3}`)
	f.delivery(sub2, "m4")
	// A request without minimums is always served.
	f.pull("O", in2, `{"batch":1,"group":"A"}`)
	f.delivery(sub2, "m5")
	f.status(sub, "408 Request Timeout", "2/0")
}

// Prioritized: waiting requests are served lowest priority first, those
// of one priority taking turns.
func TestJetStreamConsumerPrioritized(t *testing.T) {
	f := newPrioFixture(t)
	f.consumer("P", `,"priority_groups":["A"],"priority_policy":"prioritized"`)
	subs := map[string]*nats.Subscription{}
	for _, r := range []struct{ name, prio string }{{"a", "5"}, {"b", "1"}, {"c", "0"}, {"d", "1"}} {
		in, sub := f.inbox()
		subs[r.name] = sub
		f.pull("P", in, `{"batch":2,"group":"A","expires":10000000000,"priority":`+r.prio+`}`)
	}
	f.publish(1, 7)
	want := map[string][]string{"c": {"m1", "m2"}, "b": {"m3", "m5"}, "d": {"m4", "m6"}, "a": {"m7"}}
	for name, msgs := range want {
		for _, m := range msgs {
			f.delivery(subs[name], m)
		}
	}
}

// CONSUMER.PAUSE: nothing is delivered while paused (requests wait,
// no_wait gets 404); the pause survives a restart and ends on time (the
// consumer's timer) or on request, with the PAUSE advisories; an update
// keeps it.
func TestJetStreamConsumerPause(t *testing.T) {
	f := newPrioFixture(t)
	adv, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.S.*")
	f.consumer("C", "")
	ctx := context.Background()
	until := time.Now().Add(time.Hour).UTC()
	pr, err := f.js.PauseConsumer(ctx, "S", "C", until)
	if err != nil || !pr.Paused || !pr.PauseUntil.Equal(until) || pr.PauseRemaining <= 59*time.Minute {
		t.Fatalf("pause: %+v %v", pr, err)
	}
	if a := f.advisory(adv); a["paused"] != true || a["pause_until"] != until.Format(time.RFC3339Nano) {
		t.Fatalf("pause advisory: %v", a)
	}
	f.publish(1, 2)
	in, sub := f.inbox()
	f.pull("C", in, `{"no_wait":true}`)
	f.status(sub, "404 No Messages", "")
	ci := f.info("C")
	if ci["paused"] != true || ci["pause_remaining"].(float64) <= 0 || ci["num_pending"] != 2.0 {
		t.Fatalf("info while paused: %v", ci)
	}
	// An update keeps the pause (and says so again).
	f.consumer("C", `,"description":"d"`)
	if a := f.advisory(adv); a["paused"] != true {
		t.Fatalf("update advisory: %v", a)
	}
	// A request resumes it.
	f.pull("C", in, `{"expires":10000000000}`)
	f.none(sub)
	if pr, err := f.js.ResumeConsumer(ctx, "S", "C"); err != nil || pr.Paused {
		t.Fatalf("resume: %+v %v", pr, err)
	}
	if a := f.advisory(adv); a["paused"] != false || a["pause_until"] != "0001-01-01T00:00:00Z" {
		t.Fatalf("resume advisory: %v", a)
	}
	f.delivery(sub, "m1")

	// A short pause outlives a restart and ends by itself.
	until = time.Now().Add(1200 * time.Millisecond).UTC()
	if _, err := f.js.PauseConsumer(ctx, "S", "C", until); err != nil {
		t.Fatal(err)
	}
	f.nc.Close()
	f.srv.Shutdown()
	f.srv = runJSDir(t, f.dir)
	f.nc, f.js = jsConnect(t, f.srv.ClientURL())
	adv, _ = f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.S.*")
	c, err := f.js.Consumer(ctx, "S", "C")
	if err != nil {
		t.Fatal(err)
	}
	if ci := c.CachedInfo(); !ci.Paused || !ci.Config.PauseUntil.Equal(until) {
		t.Fatalf("after restart: paused %v until %v", ci.Paused, ci.Config.PauseUntil)
	}
	in, sub = f.inbox()
	f.pull("C", in, `{"expires":10000000000}`)
	if a := f.advisory(adv); a["paused"] != false || a["pause_until"] != until.Format(time.RFC3339Nano) {
		t.Fatalf("end of pause: %v", a)
	}
	f.delivery(sub, "m2")
	if time.Now().Before(until) {
		t.Fatalf("delivered before the end of the pause")
	}
	if ci := f.info("C"); ci["paused"] != nil || ci["config"].(map[string]any)["pause_until"] == nil {
		t.Fatalf("info after the pause: %v", ci)
	}
}

// pause_until at create pauses the new consumer, with CREATED then PAUSE
// advisories; PAUSE's answers and errors are the reference's.
func TestJetStreamConsumerPauseAtCreateAndErrors(t *testing.T) {
	f := newPrioFixture(t)
	adv, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.*.S.C")
	f.consumer("C", `,"pause_until":"2099-01-01T02:00:00+02:00"`)
	if a := f.advisory(adv); a["action"] != "create" {
		t.Fatalf("created: %v", a)
	}
	if a := f.advisory(adv); a["paused"] != true || a["pause_until"] != "2099-01-01T02:00:00+02:00" {
		t.Fatalf("pause at create: %v", a)
	}
	for _, tc := range []struct{ subj, body, want string }{
		{"C", `{"pause_until":`, `{"type":"io.nats.jetstream.api.v1.consumer_pause_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: unexpected EOF"},"paused":false,"pause_until":"0001-01-01T00:00:00Z"}`},
		{"C", `{"foo":1}`, `{"type":"io.nats.jetstream.api.v1.consumer_pause_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"foo\""},"paused":false,"pause_until":"0001-01-01T00:00:00Z"}`},
		{"X", `{}`, `{"type":"io.nats.jetstream.api.v1.consumer_pause_response","error":{"code":404,"err_code":10014,"description":"consumer not found"},"paused":false,"pause_until":"0001-01-01T00:00:00Z"}`},
		{"C", `{"pause_until":"2099-01-01T02:00:00+02:00"}`, `{"type":"io.nats.jetstream.api.v1.consumer_pause_response","paused":true,"pause_until":"2099-01-01T00:00:00Z","pause_remaining":`},
		{"C", ``, `{"type":"io.nats.jetstream.api.v1.consumer_pause_response","paused":false,"pause_until":"0001-01-01T00:00:00Z"}`},
	} {
		msg, err := f.nc.Request("$JS.API.CONSUMER.PAUSE.S."+tc.subj, []byte(tc.body), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(msg.Data); len(got) < len(tc.want) || got[:len(tc.want)] != tc.want {
			t.Fatalf("pause %s %q:\n got %s\nwant %s", tc.subj, tc.body, got, tc.want)
		}
	}
	// The same time again is no change (no advisory); a resume is one.
	if a := f.advisory(adv); a["paused"] != false || a["pause_until"] != "0001-01-01T00:00:00Z" {
		t.Fatalf("resume advisory: %v", a)
	}
	hdr := nats.Header{"Nats-Required-Api-Level": []string{"9"}}
	msg, err := f.nc.RequestMsg(&nats.Msg{Subject: "$JS.API.CONSUMER.PAUSE.S.C", Header: hdr, Data: []byte("{}")}, 2*time.Second)
	if err != nil || string(msg.Data) != `{"type":"io.nats.jetstream.api.v1.consumer_pause_response","error":{"code":412,"err_code":10185,"description":"JetStream minimum api level required"},"paused":false,"pause_until":"0001-01-01T00:00:00Z"}` {
		t.Fatalf("level: %s %v", msg.Data, err)
	}
}

// CONSUMER.RESET: by default to the ack floor + 1, or to a sequence the
// deliver policy allows; every delivery is forgotten (consumer sequence
// from 1 again, nothing pending or redelivered), and the Nats-Stream-
// Identity header answers one in the request.
func TestJetStreamConsumerReset(t *testing.T) {
	f := newPrioFixture(t)
	f.consumer("C", "")
	f.publish(1, 5)
	in, sub := f.inbox()
	f.pull("C", in, `{"batch":4}`)
	var got []*nats.Msg
	for i := 0; i < 4; i++ {
		got = append(got, f.next(sub))
	}
	if err := got[0].AckSync(); err != nil {
		t.Fatal(err)
	}
	if err := got[2].Nak(); err != nil {
		t.Fatal(err)
	}
	f.pull("C", in, `{"batch":1}`) // the redelivery of m3
	if m := f.next(sub); string(m.Data) != "m3" {
		t.Fatalf("redelivery %q", m.Data)
	}
	ctx := context.Background()
	rr, err := f.js.ResetConsumer(ctx, "S", "C")
	if err != nil {
		t.Fatal(err)
	}
	ci := rr.ConsumerInfo
	if rr.ResetSeq != 2 || ci.Delivered.Consumer != 0 || ci.Delivered.Stream != 1 || ci.Delivered.Last != nil ||
		ci.AckFloor.Stream != 1 || ci.AckFloor.Consumer != 0 || ci.NumAckPending != 0 || ci.NumRedelivered != 0 || ci.NumPending != 4 {
		t.Fatalf("reset: seq %d info %+v", rr.ResetSeq, ci)
	}
	f.pull("C", in, `{"batch":4}`)
	for i := 2; i <= 5; i++ {
		m := f.next(sub)
		md, err := m.Metadata()
		if err != nil || string(m.Data) != "m"+strconv.Itoa(i) || md.Sequence.Consumer != uint64(i-1) || md.NumDelivered != 1 {
			t.Fatalf("after reset: %q %+v %v", m.Data, md, err)
		}
	}
	if rr, err = f.js.ResetConsumerToSequence(ctx, "S", "C", 100); err != nil || rr.ResetSeq != 100 || rr.Delivered.Stream != 99 || rr.NumPending != 0 {
		t.Fatalf("reset to 100: %+v %v", rr, err)
	}

	// The deliver policy decides which sequences may be asked for.
	f.consumer("L", `,"deliver_policy":"last"`)
	f.consumer("Q", `,"deliver_policy":"by_start_sequence","opt_start_seq":3`)
	for _, tc := range []struct{ name, body, want string }{
		{"L", `{"seq":3}`, `{"type":"io.nats.jetstream.api.v1.consumer_reset_response","error":{"code":400,"err_code":10204,"description":"invalid reset: not allowed"},"reset_seq":0}`},
		{"Q", `{"seq":2}`, `{"type":"io.nats.jetstream.api.v1.consumer_reset_response","error":{"code":400,"err_code":10204,"description":"invalid reset: below start seq"},"reset_seq":0}`},
		{"Q", `{"seq":-1}`, `{"type":"io.nats.jetstream.api.v1.consumer_reset_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: cannot unmarshal number -1 into Go struct field JSApiConsumerResetRequest.seq of type uint64"},"reset_seq":0}`},
		{"Q", `abc`, `{"type":"io.nats.jetstream.api.v1.consumer_reset_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: invalid character 'a' looking for beginning of value"},"reset_seq":0}`},
	} {
		msg, err := f.nc.Request("$JS.API.CONSUMER.RESET.S."+tc.name, []byte(tc.body), 2*time.Second)
		if err != nil || string(msg.Data) != tc.want {
			t.Fatalf("reset %s %s: %s %v", tc.name, tc.body, msg.Data, err)
		}
	}
	if rr, err := f.js.ResetConsumerToSequence(ctx, "S", "Q", 3); err != nil || rr.ResetSeq != 3 {
		t.Fatalf("reset Q to 3: %+v %v", rr, err)
	}

	// Nothing answers for a consumer that does not exist (as the
	// reference's consumer leader), and a reset is not audited.
	si := jsReq(t, f.nc, "$JS.API.STREAM.INFO.S", "")
	audit, _ := f.nc.SubscribeSync("$JS.EVENT.ADVISORY.API")
	if _, err := f.nc.Request("$JS.API.CONSUMER.RESET.S.X", nil, 200*time.Millisecond); err != nats.ErrTimeout {
		t.Fatalf("reset of a missing consumer: %v", err)
	}
	hdr := nats.Header{"Nats-Stream-Identity": []string{"whatever"}}
	msg, err := f.nc.RequestMsg(&nats.Msg{Subject: "$JS.API.CONSUMER.RESET.S.C", Header: hdr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if id := msg.Header.Get("Nats-Stream-Identity"); id != base62Hash(si["created"].(string)) {
		t.Fatalf("identity %q for stream created %v", id, si["created"])
	}
	f.none(audit)
}

// base62Hash is the reference's stream identity: SHA-256 of the creation
// time, the first 8 bytes mod 62.
func base62Hash(s string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(s))
	b := make([]byte, 8)
	for i := range b {
		b[i] = digits[int(sum[i])%len(digits)]
	}
	return string(b)
}

// Two nats.go clients consuming one pinned_client group: only the pinned
// one receives; after an unpin the group's messages keep flowing, each
// delivered once.
func TestJetStreamConsumerPinnedConsume(t *testing.T) {
	f := newPrioFixture(t)
	ctx := context.Background()
	c, err := f.js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityGroups: []string{"G"}, PriorityPolicy: jetstream.PriorityPolicyPinned, PinnedTTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string][]string{}
	for _, who := range []string{"x", "y"} {
		cc, err := c.Consume(func(m jetstream.Msg) {
			mu.Lock()
			got[who] = append(got[who], string(m.Data()))
			mu.Unlock()
			_ = m.Ack()
		}, jetstream.PullPriorityGroup("G"), jetstream.PullExpiry(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cc.Stop)
	}
	count := func() (n int, receivers int) {
		mu.Lock()
		defer mu.Unlock()
		for _, msgs := range got {
			n += len(msgs)
			if len(msgs) > 0 {
				receivers++
			}
		}
		return
	}
	f.publish(1, 20)
	waitFor(t, 5*time.Second, "20 messages", func() bool { n, _ := count(); return n == 20 })
	if _, r := count(); r != 1 {
		t.Fatalf("pinned group delivered to %d clients: %v", r, got)
	}
	st, _ := f.js.Stream(ctx, "S")
	if err := st.UnpinConsumer(ctx, "C", "G"); err != nil {
		t.Fatal(err)
	}
	f.publish(21, 20)
	waitFor(t, 10*time.Second, "40 messages", func() bool { n, _ := count(); return n >= 40 })
	mu.Lock()
	defer mu.Unlock()
	var all []string
	for _, msgs := range got {
		all = append(all, msgs...)
	}
	sort.Strings(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("%s delivered twice", all[i])
		}
	}
	if len(all) != 40 {
		t.Fatalf("%d messages delivered", len(all))
	}
}
