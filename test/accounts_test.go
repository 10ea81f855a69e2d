package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// accountsOptions: A exports a stream and a service, B imports both, C is
// on its own, and each has a user.
func accountsOptions() *server.Options {
	o := DefaultTestOptions()
	o.Accounts = []*server.AccountOpts{
		{Name: "A", Exports: []*server.ExportOpts{
			{Stream: "events.>"},
			{Service: "svc.>"},
			{Service: "private.svc", Accounts: []string{"C"}},
			{Service: "stream.svc", ResponseType: "stream"},
		}},
		{Name: "B", Imports: []*server.ImportOpts{
			{Account: "A", Stream: "events.>", Prefix: "fromA"},
			{Account: "A", Service: "svc.echo", To: "echo"},
			{Account: "A", Service: "stream.svc"},
		}},
		{Name: "C"},
	}
	o.Users = []*server.User{
		{Username: "a", Password: "a", Account: "A"},
		{Username: "b", Password: "b", Account: "B"},
		{Username: "c", Password: "c", Account: "C"},
		{Username: "g", Password: "g"},
	}
	return o
}

func TestAccountIsolation(t *testing.T) {
	s := RunServer(t, accountsOptions())
	a := connect(t, s, nats.UserInfo("a", "a"))
	c := connect(t, s, nats.UserInfo("c", "c"))
	g := connect(t, s, nats.UserInfo("g", "g"))
	subA, _ := a.SubscribeSync("shared")
	subC, _ := c.SubscribeSync("shared")
	subG, _ := g.SubscribeSync("shared")
	a.Flush()
	c.Flush()
	g.Flush()
	c.Publish("shared", []byte("from C"))
	c.Flush()
	if m, err := subC.NextMsg(2 * time.Second); err != nil || string(m.Data) != "from C" {
		t.Fatalf("C should get its own message: %v", err)
	}
	for _, s := range []*nats.Subscription{subA, subG} {
		if _, err := s.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatal("message crossed an account boundary")
		}
	}
}

func TestStreamImportWithPrefix(t *testing.T) {
	s := RunServer(t, accountsOptions())
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	c := connect(t, s, nats.UserInfo("c", "c"))
	got, _ := b.SubscribeSync("fromA.events.>")
	notC, _ := c.SubscribeSync(">")
	b.Flush()
	c.Flush()
	a.Publish("events.order.1", []byte("e1"))
	a.Publish("other.thing", []byte("not exported"))
	a.Flush()
	m, err := got.NextMsg(2 * time.Second)
	if err != nil || m.Subject != "fromA.events.order.1" || string(m.Data) != "e1" {
		t.Fatalf("import: %v %v", m, err)
	}
	if m, err := got.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("unexported subject delivered: %q", m.Subject)
	}
	if _, err := notC.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("C imports nothing and must receive nothing")
	}
}

func TestServiceImportAcrossAccounts(t *testing.T) {
	s := RunServer(t, accountsOptions())
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	a.Subscribe("svc.echo", func(m *nats.Msg) { m.Respond(append([]byte("echo:"), m.Data...)) })
	a.Flush()
	for i := 0; i < 20; i++ {
		m, err := b.Request("echo", []byte(fmt.Sprint(i)), 2*time.Second)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(m.Data) != fmt.Sprintf("echo:%d", i) {
			t.Fatalf("got %q", m.Data)
		}
	}
}

// A request crossing a service import carries Nats-Request-Info naming
// the requesting account and its round trip, after the request's own
// headers, as the reference adds it (nats.js msg.requestInfo() reads it).
func TestServiceImportRequestInfoHeader(t *testing.T) {
	s := RunServer(t, accountsOptions())
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	got := make(chan nats.Header, 1)
	a.Subscribe("svc.echo", func(m *nats.Msg) {
		got <- m.Header
		m.Respond(nil)
	})
	flushed(t, a)
	req := nats.NewMsg("echo")
	req.Header.Set("X-Mine", "1")
	if _, err := b.RequestMsg(req, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	h := <-got
	var info struct {
		Acc string `json:"acc"`
		RTT int64  `json:"rtt"`
	}
	if err := json.Unmarshal([]byte(h.Get("Nats-Request-Info")), &info); err != nil || info.Acc != "B" || info.RTT <= 0 {
		t.Fatalf("Nats-Request-Info %q: %+v %v", h.Get("Nats-Request-Info"), info, err)
	}
	if h.Get("X-Mine") != "1" {
		t.Fatalf("the request's own header lost: %v", h)
	}
	// Within an account nothing is added.
	a.Subscribe("local", func(m *nats.Msg) {
		got <- m.Header
		m.Respond(nil)
	})
	flushed(t, a)
	if _, err := a.Request("local", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h.Get("Nats-Request-Info") != "" {
		t.Fatalf("header added inside an account: %v", h)
	}
}

func TestServiceImportTimesOutWithoutResponder(t *testing.T) {
	s := RunServer(t, accountsOptions())
	b := connect(t, s, nats.UserInfo("b", "b"))
	_, err := b.Request("echo", nil, 200*time.Millisecond)
	if err == nil {
		t.Fatal("no responder in A: the request must fail")
	}
}

func TestServiceSingletonVersusStreamResponses(t *testing.T) {
	s := RunServer(t, accountsOptions())
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	// Both services answer twice; singleton lets one answer through.
	handler := func(m *nats.Msg) {
		m.Respond([]byte("1"))
		m.Respond([]byte("2"))
	}
	a.Subscribe("svc.echo", handler)
	a.Subscribe("stream.svc", handler)
	a.Flush()
	for _, tc := range []struct {
		subject string
		want    int
	}{{"echo", 1}, {"stream.svc", 2}} {
		inbox := nats.NewInbox()
		sub, _ := b.SubscribeSync(inbox)
		b.PublishRequest(tc.subject, inbox, nil)
		b.Flush()
		n := 0
		for {
			if _, err := sub.NextMsg(300 * time.Millisecond); err != nil {
				break
			}
			n++
		}
		if n != tc.want {
			t.Fatalf("%s: %d responses crossed, want %d", tc.subject, n, tc.want)
		}
	}
}

func TestImportErrorsAtStartup(t *testing.T) {
	cases := []struct {
		name string
		accs []*server.AccountOpts
		want string
	}{
		{"unknown account", []*server.AccountOpts{{Name: "B", Imports: []*server.ImportOpts{{Account: "Z", Stream: "x"}}}}, `unknown account "Z"`},
		{"not exported", []*server.AccountOpts{{Name: "A"}, {Name: "B", Imports: []*server.ImportOpts{{Account: "A", Stream: "x"}}}}, `account "A" does not export it`},
		{"restricted", []*server.AccountOpts{
			{Name: "A", Exports: []*server.ExportOpts{{Service: "svc", Accounts: []string{"C"}}}},
			{Name: "B", Imports: []*server.ImportOpts{{Account: "A", Service: "svc"}}}, {Name: "C"}}, `not authorized`},
		{"cycle", []*server.AccountOpts{
			{Name: "A", Exports: []*server.ExportOpts{{Stream: "x.>"}}, Imports: []*server.ImportOpts{{Account: "B", Stream: "x.>"}}},
			{Name: "B", Exports: []*server.ExportOpts{{Stream: "x.>"}}, Imports: []*server.ImportOpts{{Account: "A", Stream: "x.>"}}}}, `forms a cycle`},
	}
	for _, tc := range cases {
		o := DefaultTestOptions()
		o.Accounts = tc.accs
		_, err := server.NewServer(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestMappingFunctions(t *testing.T) {
	o := DefaultTestOptions()
	// Expected results were recorded from the reference server.
	cases := []struct{ src, dst, pub, want string }{
		{"lit", "LIT", "lit", "LIT"},
		{"d.*.*", "D.$2.$1", "d.one.two", "D.two.one"},
		{"w.*", "W.{{wildcard(1)}}", "w.x", "W.x"},
		{"fw.>", "FW.>", "fw.a.b.c", "FW.a.b.c"},
		{"p.*", "P.{{partition(5,1)}}.{{wildcard(1)}}", "p.hello", "P.3.hello"},
		{"pa.*", "PA.{{partition(5,1)}}", "pa.a", "PA.0"},
		{"pp.*.*", "PP.{{partition(7,1,2)}}", "pp.x.y", "PP.4"},
		{"sfl.*", "SFL.{{SplitFromLeft(1,2)}}", "sfl.abcdef", "SFL.ab.cdef"},
		{"sfr.*", "SFR.{{splitfromright(1,2)}}", "sfr.abcdef", "SFR.abcd.ef"},
		{"slfl.*", "SLFL.{{slicefromleft(1,2)}}", "slfl.abcde", "SLFL.ab.cd.e"},
		{"slfr.*", "SLFR.{{slicefromright(1,2)}}", "slfr.abcde", "SLFR.a.bc.de"},
		{"sp.*", "SP.{{split(1,-)}}", "sp.-a--b-", "SP.a.b"},
		{"l.*", "L.{{left(1,2)}}", "l.abcdef", "L.ab"},
		{"r.*", "R.{{right(1,2)}}", "r.abcdef", "R.ef"},
	}
	for _, c := range cases {
		o.Mappings = append(o.Mappings, &server.MappingOpts{Source: c.src, Dests: []server.MappingDest{{Subject: c.dst, Weight: 100}}})
	}
	s := RunServer(t, o)
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync(">")
	nc.Flush()
	for _, c := range cases {
		nc.Publish(c.pub, nil)
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != c.want {
			t.Errorf("%s -> %s on %q: got %q, want %q", c.src, c.dst, c.pub, m.Subject, c.want)
		}
	}
}

func TestMappingErrors(t *testing.T) {
	for _, dst := range []string{"X.$3", "X.{{nosuch(1)}}", "X.{{partition(0,1)}}", "X.>"} {
		o := DefaultTestOptions()
		o.Mappings = []*server.MappingOpts{{Source: "a.*.*", Dests: []server.MappingDest{{Subject: dst, Weight: 100}}}}
		if _, err := server.NewServer(o); err == nil || !strings.Contains(err.Error(), "invalid mapping destination") {
			t.Errorf("%q: got %v", dst, err)
		}
	}
}

func TestWeightedMapping(t *testing.T) {
	o := DefaultTestOptions()
	o.Mappings = []*server.MappingOpts{{Source: "canary", Dests: []server.MappingDest{
		{Subject: "v1", Weight: 70}, {Subject: "v2", Weight: 20}}}} // 10% keep "canary"
	s := RunServer(t, o)
	nc := connect(t, s)
	counts := map[string]int{}
	sub, _ := nc.SubscribeSync("*")
	nc.Flush()
	const n = 5000
	for i := 0; i < n; i++ {
		nc.Publish("canary", nil)
	}
	nc.Flush()
	for i := 0; i < n; i++ {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		counts[m.Subject]++
	}
	// Binomial: sigma is at most ~33 messages; 5% of n is a safe bound.
	for subj, pct := range map[string]int{"v1": 70, "v2": 20, "canary": 10} {
		want := n * pct / 100
		if d := counts[subj] - want; d > n/20 || d < -n/20 {
			t.Errorf("%s got %d, want about %d (%v)", subj, counts[subj], want, counts)
		}
	}
}
