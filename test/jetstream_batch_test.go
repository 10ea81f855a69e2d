package test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// pubHdr publishes with headers ("K: v" pairs) and returns the reply's
// payload, or "<none>" when no reply comes within wait.
func pubHdr(t *testing.T, nc *nats.Conn, subj, body string, wait time.Duration, hdrs ...string) string {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte(body)
	for _, h := range hdrs {
		k, v, _ := strings.Cut(h, ": ")
		m.Header.Add(k, v)
	}
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	m.Reply = inbox
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	r, err := sub.NextMsg(wait)
	if err != nil {
		return "<none>"
	}
	return string(r.Data)
}

func batchHdrs(id string, seq int, extra ...string) []string {
	return append([]string{"Nats-Batch-Id: " + id, fmt.Sprintf("Nats-Batch-Sequence: %d", seq)}, extra...)
}

const (
	errIncomplete = `{"error":{"code":400,"err_code":10176,"description":"atomic publish batch is incomplete"},"stream":"A","seq":0}`
	errDupMsgID   = `{"error":{"code":400,"err_code":10201,"description":"atomic publish batch contains duplicate message id"},"stream":"A","seq":0}`
)

// Every reply of an atomic batch, byte for byte as the reference gives them
// (observed on v2.15.2), through one stream's life.
func TestJetStreamAtomicBatchReplies(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A","subjects":["a.>"],"allow_atomic":true}`)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.B", `{"name":"B","subjects":["b.>"]}`)
	w := time.Second
	for i, tc := range []struct {
		subj string
		hdrs []string
		want string
	}{
		{"b.1", batchHdrs("x1", 1), `{"error":{"code":400,"err_code":10174,"description":"atomic publish is disabled"},"stream":"B","seq":0}`},
		{"a.1", batchHdrs("b1", 1), ``},
		{"a.2", batchHdrs("b1", 2), ``},
		{"a.3", batchHdrs("b1", 3, "Nats-Batch-Commit: 1"), `{"stream":"A","seq":3,"batch":"b1","count":3}`},
		{"a.1", batchHdrs("b2", 1), ``},
		{"a.2", batchHdrs("b2", 2, "Nats-Batch-Commit: eob"), `{"stream":"A","seq":4,"batch":"b2","count":1}`},
		{"a.1", batchHdrs("b3", 1, "Nats-Batch-Commit: 1"), `{"stream":"A","seq":5,"batch":"b3","count":1}`},
		{"a.1", batchHdrs("b4", 1, "Nats-Batch-Commit: eob"), errIncomplete},
		{"a.1", batchHdrs("b5", 1, "Nats-Batch-Commit: 2"), `{"error":{"code":400,"err_code":10200,"description":"atomic publish batch commit is invalid"},"stream":"A","seq":0}`},
		{"a.1", []string{"Nats-Batch-Id: b6"}, `{"error":{"code":400,"err_code":10175,"description":"atomic publish sequence is missing"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("b7", 2), errIncomplete},
		{"a.1", batchHdrs("b8", 1), ``},
		{"a.1", batchHdrs("b8", 3), errIncomplete},
		{"a.1", batchHdrs("b8", 2), errIncomplete},
		{"a.1", batchHdrs("g2", 1), ``},
		{"a.1", []string{"Nats-Batch-Id: g2"}, `{"error":{"code":400,"err_code":10175,"description":"atomic publish sequence is missing"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("g2", 2, "Nats-Batch-Commit: 1"), `{"stream":"A","seq":7,"batch":"g2","count":2}`},
		{"a.1", batchHdrs("g3", 1), ``},
		{"a.1", batchHdrs("g3", 2, "Nats-Batch-Commit: bad"), `{"error":{"code":400,"err_code":10200,"description":"atomic publish batch commit is invalid"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("g3", 2, "Nats-Batch-Commit: 1"), errIncomplete},
		{"a.1", batchHdrs(strings.Repeat("i", 65), 1), `{"error":{"code":400,"err_code":10179,"description":"atomic publish batch ID is invalid"},"stream":"A","seq":0}`},
		{"a.1", []string{"Nats-Batch-Sequence: 1"}, `{"stream":"A","seq":8}`},
		{"a.1", batchHdrs("c1", 1, "Nats-Msg-Id: m1"), ``},
		{"a.1", batchHdrs("c1", 2, "Nats-Msg-Id: m1"), ``},
		{"a.1", batchHdrs("c1", 3, "Nats-Batch-Commit: 1"), errDupMsgID},
		{"a.1", batchHdrs("c2", 1, "Nats-Msg-Id: m7"), ``},
		{"a.1", batchHdrs("c2", 2, "Nats-Msg-Id: m8", "Nats-Batch-Commit: 1"), `{"stream":"A","seq":10,"batch":"c2","count":2}`},
		{"a.1", batchHdrs("c3", 1, "Nats-Msg-Id: m7", "Nats-Batch-Commit: 1"), errDupMsgID},
		{"a.1", batchHdrs("c4", 1, "Nats-Expected-Last-Msg-Id: m8"), ``},
		{"a.1", batchHdrs("c4", 2, "Nats-Batch-Commit: 1"), `{"error":{"code":400,"err_code":10177,"description":"atomic publish unsupported header used: Nats-Expected-Last-Msg-Id"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("c5", 1, "Nats-Expected-Last-Sequence: 10"), ``},
		{"a.1", batchHdrs("c5", 2, "Nats-Expected-Last-Sequence: 11", "Nats-Batch-Commit: 1"), `{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("c6", 1, "Nats-Expected-Last-Sequence: 99", "Nats-Batch-Commit: 1"), `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 10"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("c7", 1, "Nats-Required-Api-Level: 9"), `{"error":{"code":412,"err_code":10185,"description":"JetStream minimum api level required"},"stream":"A","seq":0}`},
		{"a.1", batchHdrs("c8", 1, "Nats-Required-Api-Level: 2", "Nats-Batch-Commit: 1"), `{"stream":"A","seq":11,"batch":"c8","count":1}`},
		{"a.1", batchHdrs("big", 1001), `{"error":{"code":400,"err_code":10199,"description":"atomic publish batch is too large: 1000"},"stream":"A","seq":0}`},
	} {
		if got := pubHdr(t, nc, tc.subj, "x", w, tc.hdrs...); got != tc.want {
			t.Fatalf("%d %v:\n got %s\nwant %s", i, tc.hdrs, got, tc.want)
		}
	}
	// eob marks the last stored message as the commit; the api level
	// header is never stored. (nats.go writes headers in map order.)
	for seq, id := range map[int]string{4: "b2", 11: "c8"} {
		m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.A", fmt.Sprintf(`{"seq":%d}`, seq))
		raw, _ := json.Marshal(m["message"].(map[string]any)["hdrs"])
		var b []byte
		_ = json.Unmarshal(raw, &b)
		hdrs := string(b)
		if !strings.Contains(hdrs, "Nats-Batch-Commit: 1\r\n") || !strings.Contains(hdrs, "Nats-Batch-Id: "+id+"\r\n") ||
			!strings.Contains(hdrs, "Nats-Batch-Sequence: 1\r\n") || strings.Contains(hdrs, "Api-Level") {
			t.Fatalf("seq %d headers %q", seq, hdrs)
		}
	}
}

// The in-flight limits: the 51st open batch of a stream is dropped without
// a reply, or refused with 10210 when it is a commit; older batches still
// commit. A batch on a full stream (discard new) stores nothing.
func TestJetStreamAtomicBatchLimits(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A","subjects":["a.>"],"allow_atomic":true}`)
	for i := 1; i <= 50; i++ {
		m := nats.NewMsg("a.x")
		m.Header.Set("Nats-Batch-Id", fmt.Sprintf("j%d", i))
		m.Header.Set("Nats-Batch-Sequence", "1")
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if got := pubHdr(t, nc, "a.x", "m", 300*time.Millisecond, batchHdrs("j51", 1)...); got != "<none>" {
		t.Fatalf("51st batch answered %s", got)
	}
	want := `{"error":{"code":429,"err_code":10210,"description":"atomic publish too many inflight"},"stream":"A","seq":0}`
	if got := pubHdr(t, nc, "a.x", "m", time.Second, batchHdrs("j52", 1, "Nats-Batch-Commit: 1")...); got != want {
		t.Fatalf("52nd batch: %s", got)
	}
	if got := pubHdr(t, nc, "a.x", "m", time.Second, batchHdrs("j1", 2, "Nats-Batch-Commit: 1")...); got != `{"stream":"A","seq":2,"batch":"j1","count":2}` {
		t.Fatalf("j1 commit: %s", got)
	}

	jsReq(t, nc, "$JS.API.STREAM.CREATE.F", `{"name":"F","subjects":["f.>"],"allow_atomic":true,"discard":"new","max_msgs":3}`)
	pubHdr(t, nc, "f.1", "x", time.Second, batchHdrs("f1", 1)...)
	pubHdr(t, nc, "f.1", "x", time.Second, batchHdrs("f1", 2)...)
	pubHdr(t, nc, "f.1", "x", time.Second, batchHdrs("f1", 3)...)
	got := pubHdr(t, nc, "f.1", "x", time.Second, batchHdrs("f1", 4, "Nats-Batch-Commit: 1")...)
	if got != `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"F","seq":0}` {
		t.Fatalf("over max_msgs: %s", got)
	}
	info := jsReq(t, nc, "$JS.API.STREAM.INFO.F", "")
	if n := info["state"].(map[string]any)["messages"].(float64); n != 0 {
		t.Fatalf("refused batch stored %v messages", n)
	}
}

// Config: the req level and the field order as the reference answers;
// schedules enable roll-ups, refuse discard new and cannot be disabled.
func TestJetStreamBatchScheduleConfig(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	req := func(subj, body string) string {
		t.Helper()
		msg, err := nc.Request(subj, []byte(body), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg.Data)
	}
	got := req("$JS.API.STREAM.CREATE.C", `{"name":"C","subjects":["c.>"],"allow_atomic":true,"allow_msg_schedules":true,"allow_batched":true}`)
	if !strings.Contains(got, `"allow_rollup_hdrs":true,"consumer_limits":{},"allow_msg_ttl":false,"allow_atomic":true,"allow_msg_schedules":true,"allow_batched":true,"metadata":{"_nats.level":"5","_nats.req.level":"4","_nats.ver":"2.15.2"}`) {
		t.Fatalf("create: %s", got)
	}
	for _, tc := range []struct{ subj, body, want string }{
		{"$JS.API.STREAM.CREATE.D", `{"name":"D","subjects":["d.>"],"allow_msg_schedules":true,"discard":"new"}`,
			`{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10052,"description":"message scheduling cannot use discard new"}}`},
		{"$JS.API.STREAM.CREATE.D", `{"name":"D","subjects":["d.>"],"allow_msg_schedules":true,"pedantic":true}`,
			`{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10052,"description":"message scheduling cannot be set if roll-ups are disabled"}}`},
	} {
		if got := req(tc.subj, tc.body); got != tc.want {
			t.Fatalf("%s:\n got %s\nwant %s", tc.body, got, tc.want)
		}
	}
	got = req("$JS.API.STREAM.CREATE.D", `{"name":"D","subjects":["d.>"],"allow_msg_schedules":true,"deny_purge":true}`)
	if !strings.Contains(got, `"deny_purge":false,"allow_rollup_hdrs":true`) || !strings.Contains(got, `"_nats.req.level":"2"`) {
		t.Fatalf("schedules with deny_purge: %s", got)
	}
	req("$JS.API.STREAM.CREATE.E", `{"name":"E","subjects":["e.>"]}`)
	if got := req("$JS.API.STREAM.UPDATE.E", `{"name":"E","subjects":["e.>"],"allow_msg_schedules":true,"allow_atomic":true}`); !strings.Contains(got, `"allow_atomic":true,"allow_msg_schedules":true,"metadata"`) {
		t.Fatalf("update: %s", got)
	}
	want := `{"type":"io.nats.jetstream.api.v1.stream_update_response","error":{"code":500,"err_code":10052,"description":"message schedules can not be disabled"}}`
	if got := req("$JS.API.STREAM.UPDATE.E", `{"name":"E","subjects":["e.>"]}`); got != want {
		t.Fatalf("disable schedules: %s", got)
	}
	if got := req("$JS.API.STREAM.UPDATE.E", `{"name":"E","subjects":["e.>"],"allow_msg_schedules":true}`); !strings.Contains(got, `"allow_msg_schedules":true,"metadata":{"_nats.level":"5","_nats.req.level":"2"`) {
		t.Fatalf("disable atomic: %s", got)
	}
}

// fastPub publishes body on subj with a fast batch reply subject.
func fastPub(t *testing.T, nc *nats.Conn, subj, reply string) {
	t.Helper()
	if err := nc.PublishRequest(subj, reply, []byte("m")); err != nil {
		t.Fatal(err)
	}
}

// expectReplies reads n messages from sub and compares "subject payload"
// lines, in order.
func expectReplies(t *testing.T, sub *nats.Subscription, want ...string) {
	t.Helper()
	for i, w := range want {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("reply %d: %v (want %s)", i, err, w)
		}
		if got := m.Subject + " " + string(m.Data); got != w {
			t.Fatalf("reply %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

// The fast batch protocol, byte for byte as the reference answers
// (observed on v2.15.2): flow acks, commit, end-of-batch, gaps in both
// modes, pattern and id errors.
func TestJetStreamFastBatch(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.FB", `{"name":"FB","subjects":["fb.>"],"allow_batched":true}`)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.FC", `{"name":"FC","subjects":["fc.>"]}`)
	sub, err := nc.SubscribeSync("rp.>")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"rp.x.B1.10.ok.1.0.$FI", "rp.x.B1.10.ok.2.1.$FI", "rp.x.B1.10.ok.3.1.$FI", "rp.x.B1.10.ok.4.2.$FI"} {
		fastPub(t, nc, "fb.a", r)
	}
	expectReplies(t, sub, `rp.x.B1.10.ok.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`rp.x.B1.10.ok.4.2.$FI {"stream":"FB","seq":4,"batch":"B1","count":4}`)
	for _, r := range []string{"rp.y.B2.10.ok.1.0.$FI", "rp.y.B2.10.ok.2.1.$FI", "rp.y.B2.10.ok.3.3.$FI"} {
		fastPub(t, nc, "fb.a", r)
	}
	expectReplies(t, sub, `rp.y.B2.10.ok.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`rp.y.B2.10.ok.3.3.$FI {"stream":"FB","seq":6,"batch":"B2","count":2}`)
	for _, r := range []string{"rp.z.B4.10.ok.1.0.$FI", "rp.z.B4.10.ok.3.1.$FI", "rp.z.B4.10.ok.4.2.$FI"} {
		fastPub(t, nc, "fb.a", r)
	}
	expectReplies(t, sub, `rp.z.B4.10.ok.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`rp.z.B4.10.ok.3.1.$FI {"type":"gap","last_seq":2,"seq":3}`,
		`rp.z.B4.10.ok.4.2.$FI {"stream":"FB","seq":9,"batch":"B4","count":4}`)
	for _, r := range []string{"rp.w.B5.10.fail.1.0.$FI", "rp.w.B5.10.fail.3.1.$FI", "rp.w.B5.10.fail.4.2.$FI"} {
		fastPub(t, nc, "fb.a", r)
	}
	expectReplies(t, sub, `rp.w.B5.10.fail.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`rp.w.B5.10.fail.3.1.$FI {"type":"gap","last_seq":2,"seq":3}`,
		`rp.w.B5.10.fail.3.1.$FI {"stream":"FB","seq":10,"batch":"B5","count":1}`,
		`rp.w.B5.10.fail.4.2.$FI {"error":{"code":400,"err_code":10208,"description":"batch publish ID unknown"},"stream":"FB","seq":0}`)
	fastPub(t, nc, "fc.a", "rp.z.B3.10.ok.1.0.$FI")
	expectReplies(t, sub, `rp.z.B3.10.ok.1.0.$FI {"error":{"code":400,"err_code":10205,"description":"batch publish is disabled"},"stream":"FC","seq":0}`)
	pattern := `{"error":{"code":400,"err_code":10206,"description":"batch publish pattern is invalid"},"stream":"FB","seq":0}`
	long := strings.Repeat("I", 65)
	for _, r := range []string{"rp.v.B7.10.ok.1.9.$FI", "rp.v.B8.10.ok.x.1.$FI", "rp.v.B9.10.maybe.1.0.$FI", "rp.v." + long + ".10.ok.1.0.$FI",
		"rp.v.B10.10.ok.1.2.$FI", "rp.v.B11.10.ok.1.0.$FI", "rp.v.B11.10.ok.1.4.$FI", "rp.v.B13.0.ok.1.0.$FI"} {
		fastPub(t, nc, "fb.a", r)
	}
	expectReplies(t, sub, "rp.v.B7.10.ok.1.9.$FI "+pattern, "rp.v.B8.10.ok.x.1.$FI "+pattern, "rp.v.B9.10.maybe.1.0.$FI "+pattern,
		"rp.v."+long+`.10.ok.1.0.$FI {"error":{"code":400,"err_code":10207,"description":"batch publish ID is invalid"},"stream":"FB","seq":0}`,
		`rp.v.B10.10.ok.1.2.$FI {"stream":"FB","seq":11,"batch":"B10","count":1}`,
		`rp.v.B11.10.ok.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`rp.v.B11.10.ok.1.4.$FI {"type":"ack","seq":0,"msgs":10}`,
		// Another batch is open: ack every message, then twice as many.
		`rp.v.B13.0.ok.1.0.$FI {"type":"ack","seq":0,"msgs":1}`,
		`rp.v.B13.0.ok.1.0.$FI {"type":"ack","seq":1,"msgs":2}`)
	info := jsReq(t, nc, "$JS.API.STREAM.INFO.FB", "")
	if n := info["state"].(map[string]any)["messages"].(float64); n != 13 {
		t.Fatalf("stored %v messages, want 13", n)
	}
}

// An atomic batch counts against the account's storage limit as a whole:
// a commit that would take account D over its 1000 bytes stores nothing and
// answers 10002; a smaller batch still fits afterwards.
func TestJetStreamAtomicBatchAccountLimit(t *testing.T) {
	s, _ := runJSConf(t, limitsConf, "")
	d := connect(t, s, nats.UserInfo("d", "d"))
	jsErrOf(t, "create", jsReq(t, d, "$JS.API.STREAM.CREATE.F", `{"name":"F","subjects":["f.>"],"allow_atomic":true}`), 0, "")
	payload := strings.Repeat("x", 250)
	send := func(id string, n int) string {
		for i := 1; i < n; i++ {
			if r := pubHdr(t, d, "f.a", payload, time.Second, batchHdrs(id, i)...); r != "" {
				t.Fatalf("staged message %d answered %q", i, r)
			}
		}
		return pubHdr(t, d, "f.a", payload, 2*time.Second, batchHdrs(id, n, "Nats-Batch-Commit: 1")...)
	}
	if r := send("big", 4); !strings.Contains(r, `"err_code":10002`) {
		t.Fatalf("over the account limit: %s", r)
	}
	if r := send("small", 2); r != `{"stream":"F","seq":2,"batch":"small","count":2}` {
		t.Fatalf("within the limit: %s", r)
	}
}

// A committed atomic batch and a fast batch are republished message by
// message, each Nats-Last-Sequence counting the batch's earlier messages on
// the subject (observed on the reference v2.15.2).
func TestJetStreamBatchRepublish(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.R", `{"name":"R","subjects":["r.>"],"allow_atomic":true,"allow_batched":true,"republish":{"src":">","dest":"rp.>"}}`)
	sub, err := nc.SubscribeSync("rp.>")
	if err != nil {
		t.Fatal(err)
	}
	pubHdr(t, nc, "r.a", "one", 200*time.Millisecond, batchHdrs("B", 1)...)
	pubHdr(t, nc, "r.b", "two", 200*time.Millisecond, batchHdrs("B", 2)...)
	if r := pubHdr(t, nc, "r.a", "three", 2*time.Second, batchHdrs("B", 3, "Nats-Batch-Commit: 1")...); r != `{"stream":"R","seq":3,"batch":"B","count":3}` {
		t.Fatalf("commit: %s", r)
	}
	fastPub(t, nc, "r.a", "x.y.F.10.ok.1.0.$FI")
	fastPub(t, nc, "r.a", "x.y.F.10.ok.2.2.$FI")
	for i, want := range []struct{ subj, seq, last string }{
		{"rp.r.a", "1", "0"}, {"rp.r.b", "2", "0"}, {"rp.r.a", "3", "1"}, {"rp.r.a", "4", "3"}, {"rp.r.a", "5", "4"},
	} {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("republished message %d: %v", i, err)
		}
		if m.Subject != want.subj || m.Header.Get("Nats-Sequence") != want.seq || m.Header.Get("Nats-Last-Sequence") != want.last {
			t.Fatalf("republished message %d: %s seq %s last %s, want %+v", i, m.Subject,
				m.Header.Get("Nats-Sequence"), m.Header.Get("Nats-Last-Sequence"), want)
		}
	}
}

// Nats-TTL inside an atomic batch is checked at commit as for a single
// publish (10166 disabled, 10165 invalid; observed on the reference) and
// the stored messages expire with it.
func TestJetStreamAtomicBatchTTL(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t.>"],"allow_atomic":true,"allow_msg_ttl":true}`)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.Q", `{"name":"Q","subjects":["q.>"],"allow_atomic":true}`)
	commit := func(subj, id, ttl string) string {
		pubHdr(t, nc, subj, "one", 200*time.Millisecond, batchHdrs(id, 1, "Nats-TTL: "+ttl)...)
		return pubHdr(t, nc, subj, "two", 2*time.Second, batchHdrs(id, 2, "Nats-Batch-Commit: 1")...)
	}
	if r := commit("q.a", "B1", "1s"); !strings.Contains(r, `"err_code":10166`) {
		t.Fatalf("ttl on a stream without allow_msg_ttl: %s", r)
	}
	if r := commit("t.a", "B2", "bad"); !strings.Contains(r, `"err_code":10165`) {
		t.Fatalf("invalid ttl: %s", r)
	}
	if r := commit("t.a", "B3", "1s"); r != `{"stream":"T","seq":2,"batch":"B3","count":2}` {
		t.Fatalf("commit: %s", r)
	}
	msgs := func() float64 {
		return jsReq(t, nc, "$JS.API.STREAM.INFO.T", "")["state"].(map[string]any)["messages"].(float64)
	}
	if n := msgs(); n != 2 {
		t.Fatalf("stored %v messages, want 2", n)
	}
	// The first message had a TTL of 1s; the second none.
	waitFor(t, 5*time.Second, "the batch message with a TTL to expire", func() bool { return msgs() == 1 })
}

// Nats-Rollup inside an atomic batch: refused where roll-ups are not
// allowed (10111), and otherwise it removes what was stored before the
// batch, never the batch's own messages (observed on the reference).
func TestJetStreamAtomicBatchRollup(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.R", `{"name":"R","subjects":["r.>"],"allow_atomic":true,"allow_rollup_hdrs":true}`)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.Q", `{"name":"Q","subjects":["q.>"],"allow_atomic":true}`)
	commit := func(subj, id, rollup string) string {
		pubHdr(t, nc, subj, "one", 200*time.Millisecond, batchHdrs(id, 1, "Nats-Rollup: "+rollup)...)
		return pubHdr(t, nc, subj, "two", 2*time.Second, batchHdrs(id, 2, "Nats-Rollup: "+rollup, "Nats-Batch-Commit: 1")...)
	}
	if r := commit("q.a", "B1", "sub"); !strings.Contains(r, `"err_code":10111,"description":"rollup not permitted"`) {
		t.Fatalf("rollup not allowed: %s", r)
	}
	for _, subj := range []string{"r.a", "r.a", "r.a", "r.b"} {
		jsReq(t, nc, subj, "x")
	}
	state := func() (float64, float64) {
		st := jsReq(t, nc, "$JS.API.STREAM.INFO.R", "")["state"].(map[string]any)
		return st["messages"].(float64), st["first_seq"].(float64)
	}
	if r := commit("r.a", "B2", "sub"); r != `{"stream":"R","seq":6,"batch":"B2","count":2}` {
		t.Fatalf("commit: %s", r)
	}
	if n, first := state(); n != 3 || first != 4 {
		t.Fatalf("after a subject roll-up: %v messages from %v, want 3 from 4", n, first)
	}
	if r := commit("r.c", "B3", "all"); r != `{"stream":"R","seq":8,"batch":"B3","count":2}` {
		t.Fatalf("commit: %s", r)
	}
	if n, first := state(); n != 2 || first != 7 {
		t.Fatalf("after a stream roll-up: %v messages from %v, want 2 from 7", n, first)
	}
}

// An atomic batch on a counter stream: every message needs Nats-Incr
// (10169), each stores the running total up to itself, and the commit's
// PubAck has no val (all observed on the reference v2.15.2).
func TestJetStreamAtomicBatchCounters(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.C", `{"name":"C","subjects":["c.>"],"allow_atomic":true,"allow_msg_counter":true}`)
	if r := pubHdr(t, nc, "c.a", "", time.Second, "Nats-Incr: 2"); r != `{"stream":"C","seq":1,"val":"2"}` {
		t.Fatalf("counter publish: %s", r)
	}
	pubHdr(t, nc, "c.a", "", 200*time.Millisecond, batchHdrs("B", 1, "Nats-Incr: 5")...)
	pubHdr(t, nc, "c.b", "", 200*time.Millisecond, batchHdrs("B", 2, "Nats-Incr: 1")...)
	if r := pubHdr(t, nc, "c.a", "", time.Second, batchHdrs("B", 3, "Nats-Incr: 7", "Nats-Batch-Commit: 1")...); r != `{"stream":"C","seq":4,"batch":"B","count":3}` {
		t.Fatalf("commit: %s", r)
	}
	pubHdr(t, nc, "c.a", "", 200*time.Millisecond, batchHdrs("X", 1, "Nats-Incr: 5")...)
	want := `{"error":{"code":400,"err_code":10169,"description":"message counter increment is missing"},"stream":"C","seq":0}`
	if r := pubHdr(t, nc, "c.a", "", time.Second, batchHdrs("X", 2, "Nats-Batch-Commit: 1")...); r != want {
		t.Fatalf("commit without an increment: %s", r)
	}
	for seq, total := range map[int]string{2: "7", 3: "1", 4: "14"} {
		m := jsReq(t, nc, "$JS.API.STREAM.MSG.GET.C", fmt.Sprintf(`{"seq":%d}`, seq))
		data, _ := base64.StdEncoding.DecodeString(m["message"].(map[string]any)["data"].(string))
		if string(data) != `{"val":"`+total+`"}` {
			t.Fatalf("seq %d holds %s, want total %s", seq, data, total)
		}
	}
}

// Nats-TTL on a fast batch message: refused where TTLs are disabled (the
// error, then the commit of what was stored) and otherwise honoured, as
// the reference answers (observed on v2.15.2).
func TestJetStreamFastBatchTTL(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.FB", `{"name":"FB","subjects":["fb.>"],"allow_batched":true,"allow_msg_ttl":true}`)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.FQ", `{"name":"FQ","subjects":["fq.>"],"allow_batched":true}`)
	sub, err := nc.SubscribeSync("x.>")
	if err != nil {
		t.Fatal(err)
	}
	ttlPub := func(subj, reply string) {
		m := nats.NewMsg(subj)
		m.Reply, m.Data = reply, []byte("m")
		m.Header.Set("Nats-TTL", "1s")
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	ttlPub("fq.a", "x.y.B0.10.ok.1.2.$FI")
	expectReplies(t, sub,
		`x.y.B0.10.ok.1.2.$FI {"type":"err","seq":1,"error":{"code":400,"err_code":10166,"description":"per-message TTL is disabled"}}`,
		`x.y.B0.10.ok.1.2.$FI {"stream":"FQ","seq":0,"batch":"B0","count":0}`)
	ttlPub("fb.a", "x.y.B1.10.ok.1.0.$FI")
	fastPub(t, nc, "fb.a", "x.y.B1.10.ok.2.2.$FI")
	expectReplies(t, sub, `x.y.B1.10.ok.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`x.y.B1.10.ok.2.2.$FI {"stream":"FB","seq":2,"batch":"B1","count":2}`)
	waitFor(t, 5*time.Second, "the fast batch message with a TTL to expire", func() bool {
		return jsReq(t, nc, "$JS.API.STREAM.INFO.FB", "")["state"].(map[string]any)["messages"].(float64) == 1
	})
}
