package test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// traceConf: A publishes and maps; B exports a service without tracing
// (svc.>) and one with (tsvc.>), imports A's stream untraced and C's traced.
const traceConf = `listen: 127.0.0.1:%d
server_name: tracer
accounts {
  A {
    users [
      {user: a, password: a}
      {user: deny, password: a, permissions: {subscribe: {allow: ">", deny: "foo.secret"}, publish: {deny: "nope.>"}}}
      {user: nodest, password: a, permissions: {publish: {allow: ["foo.>"]}}}
    ]
    exports [ {stream: "feed.>"} ]
    imports [
      {service: {account: B, subject: "svc.>"}}
      {service: {account: B, subject: "tsvc.>"}, to: "tlocal.>"}
    ]
    mappings { "foo.map": "foo.mapped" }
    msg_trace: { dest: "acc.trace", sampling: 100 }
  }
  B {
    users [ {user: b, password: b} ]
    exports [ {service: "svc.>"}, {service: "tsvc.>", allow_trace: true} ]
    imports [
      {stream: {account: A, subject: "feed.>"}, prefix: "fromA"}
      {stream: {account: C, subject: "cfeed.>"}, allow_trace: true}
    ]
  }
  C {
    users [ {user: c, password: c} ]
    exports [ {stream: "cfeed.>"} ]
  }
}
`

func runTraceServer(t *testing.T) *server.Server {
	t.Helper()
	return runConfigServer(t, writeConf(t, t.TempDir(), "trace.conf", fmt.Sprintf(traceConf, freePort(t))))
}

// traceDoc is the trace document as a client decodes it.
type traceDoc struct {
	Server struct {
		Name string `json:"name"`
		ID   string `json:"id"`
		Ver  string `json:"ver"`
		Seq  uint64 `json:"seq"`
	} `json:"server"`
	Request struct {
		Header  map[string][]string `json:"header"`
		MsgSize int                 `json:"msgsize"`
	} `json:"request"`
	Hops   int              `json:"hops"`
	Events []map[string]any `json:"events"`
	raw    string
}

// nextTrace waits for one trace document on sub.
func nextTrace(t *testing.T, sub *nats.Subscription) *traceDoc {
	t.Helper()
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("no trace on %s: %v", sub.Subject, err)
	}
	var d traceDoc
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("trace is not JSON: %v: %q", err, m.Data)
	}
	d.raw = string(m.Data)
	return &d
}

// summary lists the events as "type key=value ..." lines of the given keys.
func (d *traceDoc) summary(keys ...string) []string {
	var out []string
	for _, e := range d.Events {
		line := fmt.Sprint(e["type"])
		for _, k := range keys {
			if v, ok := e[k]; ok {
				line += fmt.Sprintf(" %s=%v", k, v)
			}
		}
		out = append(out, line)
	}
	return out
}

func expectEvents(t *testing.T, d *traceDoc, want ...string) {
	t.Helper()
	got := d.summary("acc", "subj", "to", "from", "name", "sub", "queue", "error")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s\nraw: %s", strings.Join(got, "\n"), strings.Join(want, "\n"), d.raw)
	}
}

func traceMsg(subject string, kv ...string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte("hello")
	for i := 0; i+1 < len(kv); i += 2 {
		m.Header.Add(kv[i], kv[i+1])
	}
	return m
}

func expectNoMsg(t *testing.T, sub *nats.Subscription, what string) {
	t.Helper()
	if m, err := sub.NextMsg(150 * time.Millisecond); err == nil {
		t.Fatalf("%s: got %q %v", what, m.Subject, m.Header)
	}
}

func TestMsgTracePlainAndQueueSubscribers(t *testing.T) {
	s := runTraceServer(t)
	tr := connect(t, s, nats.UserInfo("a", "a"), nats.Name("tracer"))
	traces, _ := tr.SubscribeSync("trace.inbox")
	s1 := connect(t, s, nats.UserInfo("a", "a"), nats.Name("sub1"))
	plain, _ := s1.SubscribeSync("foo.x")
	s2 := connect(t, s, nats.UserInfo("a", "a"), nats.Name("sub2"))
	queued, _ := s2.QueueSubscribeSync("foo.x", "q")
	for _, nc := range []*nats.Conn{tr, s1, s2} {
		nc.Flush()
	}
	pub := connect(t, s, nats.UserInfo("a", "a"), nats.Name("pubber"))
	if err := pub.PublishMsg(traceMsg("foo.x", "Nats-Trace-Dest", "trace.inbox", "X-App", "1")); err != nil {
		t.Fatal(err)
	}
	d := nextTrace(t, traces)
	expectEvents(t, d,
		"in acc=A subj=foo.x name=pubber",
		"eg name=sub1 sub=foo.x",
		"eg name=sub2 sub=foo.x queue=q")
	if d.Server.Name != "tracer" || d.Server.ID != s.ID() || d.Server.Ver != server.VERSION || d.Server.Seq == 0 {
		t.Fatalf("server info: %+v", d.Server)
	}
	if got := d.Request.Header; len(got) != 2 || got["Nats-Trace-Dest"][0] != "trace.inbox" || got["X-App"][0] != "1" {
		t.Fatalf("request header %v", got)
	}
	// msgsize is the header block and the payload as published.
	if want := len("NATS/1.0\r\nNats-Trace-Dest: trace.inbox\r\nX-App: 1\r\n\r\n") + 5; d.Request.MsgSize != want {
		t.Fatalf("msgsize %d, want %d", d.Request.MsgSize, want)
	}
	// The reference's field order, and no hops without routes.
	in := regexp.MustCompile(`\{"type":"in","ts":"[^"]+Z","kind":0,"cid":\d+,"name":"pubber","acc":"A","subj":"foo.x"\}`)
	if !in.MatchString(d.raw) || strings.Contains(d.raw, `"hops"`) {
		t.Fatalf("ingress layout: %s", d.raw)
	}
	for _, sub := range []*nats.Subscription{plain, queued} {
		m, err := sub.NextMsg(time.Second)
		if err != nil || m.Header.Get("Nats-Trace-Dest") != "trace.inbox" {
			t.Fatalf("delivery keeps the trace header: %v %v", err, m)
		}
	}
}

func TestMsgTraceOnlyDoesNotDeliver(t *testing.T) {
	s := runTraceServer(t)
	nc := connect(t, s, nats.UserInfo("a", "a"))
	traces, _ := nc.SubscribeSync("trace.inbox")
	target, _ := nc.SubscribeSync("foo.x")
	nc.Flush()
	for _, v := range []string{"true", "1", "ON"} {
		nc.PublishMsg(traceMsg("foo.x", "Nats-Trace-Dest", "trace.inbox", "Nats-Trace-Only", v))
		expectEvents(t, nextTrace(t, traces), "in acc=A subj=foo.x", "eg sub=foo.x")
		expectNoMsg(t, target, "trace only "+v)
	}
	for _, v := range []string{"false", "yes"} {
		nc.PublishMsg(traceMsg("foo.x", "Nats-Trace-Dest", "trace.inbox", "Nats-Trace-Only", v))
		nextTrace(t, traces)
		if _, err := target.NextMsg(time.Second); err != nil {
			t.Fatalf("Nats-Trace-Only: %s must deliver: %v", v, err)
		}
	}
	// Only tracing a request nobody would get answers "no responders".
	_, err := nc.RequestMsg(traceMsg("nobody", "Nats-Trace-Dest", "trace.inbox", "Nats-Trace-Only", "true"), time.Second)
	if err != nats.ErrNoResponders {
		t.Fatalf("request: %v", err)
	}
	expectEvents(t, nextTrace(t, traces), "in acc=A subj=nobody")
}

func TestMsgTraceMappingAndInvalidDest(t *testing.T) {
	s := runTraceServer(t)
	nc := connect(t, s, nats.UserInfo("a", "a"))
	traces, _ := nc.SubscribeSync("trace.>")
	mapped, _ := nc.SubscribeSync("foo.mapped")
	nc.Flush()
	nc.PublishMsg(traceMsg("foo.map", "Nats-Trace-Dest", "trace.inbox"))
	expectEvents(t, nextTrace(t, traces), "in acc=A subj=foo.map", "sm to=foo.mapped", "eg sub=foo.mapped")
	if _, err := mapped.NextMsg(time.Second); err != nil {
		t.Fatal(err)
	}
	// Not a literal subject, or a key in another case: no trace, plain delivery.
	for _, kv := range [][]string{{"Nats-Trace-Dest", "trace.*"}, {"Nats-Trace-Dest", ""}, {"nats-trace-dest", "trace.inbox"}} {
		nc.PublishMsg(traceMsg("foo.mapped", kv...))
		if m, err := mapped.NextMsg(time.Second); err != nil || m.Header.Get(kv[0]) != kv[1] {
			t.Fatalf("%v: %v", kv, err)
		}
		expectNoMsg(t, traces, fmt.Sprint(kv))
	}
}

func TestMsgTracePermissionsAndEcho(t *testing.T) {
	s := runTraceServer(t)
	tr := connect(t, s, nats.UserInfo("a", "a"))
	traces, _ := tr.SubscribeSync("trace.inbox")
	tr.Flush()
	denied := connect(t, s, nats.UserInfo("deny", "a"), nats.Name("denied"))
	deniedSub, _ := denied.SubscribeSync("foo.*")
	denied.Flush()
	errs := make(chan error, 4)
	pub := connect(t, s, nats.UserInfo("a", "a"), nats.Name("pub"), nats.NoEcho(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	pub.SubscribeSync("foo.>")
	pub.Flush()

	pub.PublishMsg(traceMsg("foo.secret", "Nats-Trace-Dest", "trace.inbox"))
	got := nextTrace(t, traces).summary("name", "error")
	want := map[string]bool{"in name=pub": true, "eg name=pub error=Not delivered because of no echo": true,
		"eg name=denied error=Not delivered because subscription denies this subject": true}
	if len(got) != 3 || !want[got[0]] || !want[got[1]] || !want[got[2]] {
		t.Fatalf("events %q", got)
	}
	expectNoMsg(t, deniedSub, "denied subject")

	dp := connect(t, s, nats.UserInfo("deny", "a"), nats.Name("dp"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	dp.PublishMsg(traceMsg("nope.x", "Nats-Trace-Dest", "trace.inbox"))
	expectEvents(t, nextTrace(t, traces), `in acc=A subj=nope.x name=dp error=Permissions Violation for Publish to "nope.x"`)

	// A publisher that may not publish on the destination gets the
	// violation for it, and the message goes nowhere.
	nd := connect(t, s, nats.UserInfo("nodest", "a"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	nd.PublishMsg(traceMsg("foo.y", "Nats-Trace-Dest", "trace.inbox"))
	for {
		select {
		case err := <-errs:
			if strings.Contains(err.Error(), `Publish to "trace.inbox"`) {
				expectNoMsg(t, traces, "trace to a forbidden destination")
				expectNoMsg(t, deniedSub, "message with a forbidden destination")
				return
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no permissions violation for the destination")
		}
	}
}

func TestMsgTraceServiceImports(t *testing.T) {
	s := runTraceServer(t)
	a := connect(t, s, nats.UserInfo("a", "a"))
	traces, _ := a.SubscribeSync("trace.inbox")
	a.Flush()
	b := connect(t, s, nats.UserInfo("b", "b"), nats.Name("svcB"))
	svc, _ := b.SubscribeSync("svc.>")
	tsvc, _ := b.SubscribeSync("tsvc.>")
	b.Flush()

	// The export does not allow tracing: the trace stops at the import and
	// the exporter sees the destination disabled.
	a.PublishRequest("svc.x", "reply.1", []byte("hi"))
	a.PublishMsg(&nats.Msg{Subject: "svc.x", Reply: "reply.2", Header: nats.Header{"Nats-Trace-Dest": {"trace.inbox"}}})
	svc.NextMsg(time.Second)
	expectEvents(t, nextTrace(t, traces), "in acc=A subj=svc.x", "si acc=B to=svc.x from=svc.x")
	m, err := svc.NextMsg(time.Second)
	if err != nil || m.Header.Get("Nats-Trace-Dest") != "trace disabled" || !strings.HasPrefix(m.Reply, "_R_.") {
		t.Fatalf("untraced import: %v %+v", err, m)
	}

	// Allowed: the egress in B is traced, and the destination B sees is one
	// of its response subjects that leads nowhere, as with the reference.
	a.PublishMsg(traceMsg("tlocal.y", "Nats-Trace-Dest", "trace.inbox"))
	expectEvents(t, nextTrace(t, traces), "in acc=A subj=tlocal.y", "si acc=B to=tsvc.y from=tlocal.y",
		"eg acc=B name=svcB sub=tsvc.>")
	m, err = tsvc.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	back := m.Header.Get("Nats-Trace-Dest")
	if !strings.HasPrefix(back, "_R_.") {
		t.Fatalf("trace destination in B: %q", back)
	}
	b.Publish(back, []byte("from B"))
	b.Flush()
	expectNoMsg(t, traces, "B's destination must not reach A's")

	// A traced response crosses back as a service import into A, which
	// never allows tracing.
	bTraces, _ := b.SubscribeSync("trace.inbox")
	b.Flush()
	inbox, _ := a.SubscribeSync("reply.3")
	a.Flush()
	a.PublishRequest("svc.x", "reply.3", []byte("q"))
	req, err := svc.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b.PublishMsg(&nats.Msg{Subject: req.Reply, Header: nats.Header{"Nats-Trace-Dest": {"trace.inbox"}}, Data: []byte("r")})
	expectEvents(t, nextTrace(t, bTraces), "in acc=B subj="+req.Reply+" name=svcB", "si acc=A to=reply.3 from="+req.Reply)
	if m, err := inbox.NextMsg(time.Second); err != nil || m.Header.Get("Nats-Trace-Dest") != "trace disabled" {
		t.Fatalf("response: %v %v", err, m)
	}

	// Only tracing stops at an import that does not allow it: no responders.
	_, err = a.RequestMsg(traceMsg("svc.x", "Nats-Trace-Dest", "trace.inbox", "Nats-Trace-Only", "true"), time.Second)
	if err != nats.ErrNoResponders {
		t.Fatalf("trace only across a closed import: %v", err)
	}
	nextTrace(t, traces)
	expectNoMsg(t, svc, "trace only")
}

func TestMsgTraceStreamImports(t *testing.T) {
	s := runTraceServer(t)
	a := connect(t, s, nats.UserInfo("a", "a"))
	aTraces, _ := a.SubscribeSync("trace.inbox")
	a.Flush()
	c := connect(t, s, nats.UserInfo("c", "c"))
	cTraces, _ := c.SubscribeSync("trace.inbox")
	c.Flush()
	// Without interest in the importer, a stream crosses nothing.
	c.PublishMsg(traceMsg("cfeed.z", "Nats-Trace-Dest", "trace.inbox"))
	expectEvents(t, nextTrace(t, cTraces), "in acc=C subj=cfeed.z")

	b := connect(t, s, nats.UserInfo("b", "b"), nats.Name("subB"))
	fromA, _ := b.SubscribeSync("fromA.>")
	fromC, _ := b.SubscribeSync("cfeed.>")
	b.Flush()
	c.PublishMsg(traceMsg("cfeed.z", "Nats-Trace-Dest", "trace.inbox"))
	expectEvents(t, nextTrace(t, cTraces), "in acc=C subj=cfeed.z", "se acc=B to=cfeed.z", "eg acc=B name=subB sub=cfeed.>")
	if _, err := fromC.NextMsg(time.Second); err != nil {
		t.Fatal(err)
	}
	// The import does not allow tracing: the trace ends at the export, the
	// message is delivered with its header, and not at all when only tracing.
	a.PublishMsg(traceMsg("feed.z", "Nats-Trace-Dest", "trace.inbox"))
	expectEvents(t, nextTrace(t, aTraces), "in acc=A subj=feed.z", "se acc=B to=fromA.feed.z")
	if m, err := fromA.NextMsg(time.Second); err != nil || m.Header.Get("Nats-Trace-Dest") != "trace.inbox" {
		t.Fatalf("untraced stream: %v", err)
	}
	a.PublishMsg(traceMsg("feed.z", "Nats-Trace-Dest", "trace.inbox", "Nats-Trace-Only", "true"))
	nextTrace(t, aTraces)
	expectNoMsg(t, fromA, "trace only")
}

func TestMsgTraceTraceparent(t *testing.T) {
	s := runTraceServer(t)
	nc := connect(t, s, nats.UserInfo("a", "a"))
	traces, _ := nc.SubscribeSync("acc.trace")
	target, _ := nc.SubscribeSync("foo.x")
	nc.Flush()
	const id = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"
	for _, c := range []struct {
		key, value string
		traced     bool
	}{
		{"traceparent", id + "01", true},
		{"Traceparent", id + "03", true},
		{"traceparent", id + "00", false},
		{"traceparent", id + "1", false},
		{"traceparent", "00-abc-01", false},
	} {
		// Nats-Trace-Only does not apply to traceparent.
		nc.PublishMsg(traceMsg("foo.x", c.key, c.value, "Nats-Trace-Only", "true"))
		if _, err := target.NextMsg(time.Second); err != nil {
			t.Fatalf("%s: %v", c.value, err)
		}
		if !c.traced {
			expectNoMsg(t, traces, c.value)
			continue
		}
		d := nextTrace(t, traces)
		expectEvents(t, d, "in acc=A subj=foo.x", "eg sub=foo.x")
		if d.Request.Header[c.key][0] != c.value {
			t.Fatalf("request header %v", d.Request.Header)
		}
	}
}

func TestMsgTraceCompressed(t *testing.T) {
	s := runTraceServer(t)
	nc := connect(t, s, nats.UserInfo("a", "a"))
	traces, _ := nc.SubscribeSync("trace.inbox")
	nc.Flush()
	for enc, want := range map[string]string{"gzip, deflate": "gzip", "gzip, snappy": "snappy", "S2": "snappy", "br": "identity"} {
		nc.PublishMsg(traceMsg("foo.x", "Nats-Trace-Dest", "trace.inbox", "Accept-Encoding", enc))
		m, err := traces.NextMsg(2 * time.Second)
		if err != nil || m.Header.Get("Content-Encoding") != want {
			t.Fatalf("%s: %v %v", enc, err, m)
		}
		var r io.Reader = bytes.NewReader(m.Data)
		switch want {
		case "gzip":
			if r, err = gzip.NewReader(r); err != nil {
				t.Fatal(err)
			}
		case "snappy":
			r = s2.NewReader(r)
		}
		body, err := io.ReadAll(r)
		var d traceDoc
		if err != nil || json.Unmarshal(body, &d) != nil || len(d.Events) != 1 || d.Events[0]["type"] != "in" {
			t.Fatalf("%s: %v %q", enc, err, body)
		}
	}
}

func TestMsgTraceConfigErrors(t *testing.T) {
	for conf, want := range map[string]string{
		`msg_trace: { dest: "acc.*" }`:                   `Trace destination "acc.*" is not valid`,
		`trace_dest: "x.>"`:                              `Trace destination "x.>" is not valid`,
		`msg_trace: { dest: "x", sampling: 101 }`:        `Ttrace destination sampling value 101 is invalid, needs to be [1..100]`,
		`msg_trace: { dest: "x", sampling: "0%" }`:       `Ttrace destination sampling value 0 is invalid, needs to be [1..100]`,
		`msg_trace: { dest: "x", sampling: "5x" }`:       `Invalid trace destination sampling value "5x"`,
		`msg_trace: { dest: "x", sampling: true }`:       `Trace destination sampling field "sampling" should be an integer or a percentage, got bool`,
		`msg_trace: { dest: 5 }`:                         `Field "dest" should be a string, got int64`,
		`msg_trace: { dest: "x", bogus: 1 }`:             `Unknown field "bogus" parsing account message trace map/struct "msg_trace"`,
		`trace_dest_sampling: 20`:                        `unknown field "trace_dest_sampling"`,
		`exports [ {service: "s", allow_trace: "yes"} ]`: `expected a boolean`,
	} {
		p := writeConf(t, t.TempDir(), "bad.conf", "accounts { A { "+conf+" } }\n")
		_, err := server.ProcessConfigFile(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", conf, err, want)
		}
	}
}

// The server's own handlers answer a traced request but are no egress.
func TestMsgTraceSystemRequest(t *testing.T) {
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\naccounts { SYS { users [ {user: s, password: s} ] } }\nsystem_account: SYS\n", freePort(t))
	s := runConfigServer(t, writeConf(t, t.TempDir(), "sys.conf", conf))
	nc := connect(t, s, nats.UserInfo("s", "s"))
	traces, _ := nc.SubscribeSync("trace.inbox")
	nc.Flush()
	m, err := nc.RequestMsg(traceMsg("$SYS.REQ.SERVER.PING.IDZ", "Nats-Trace-Dest", "trace.inbox"), 2*time.Second)
	if err != nil || !strings.Contains(string(m.Data), s.ID()) {
		t.Fatalf("IDZ: %v", err)
	}
	expectEvents(t, nextTrace(t, traces), "in acc=SYS subj=$SYS.REQ.SERVER.PING.IDZ")
}
