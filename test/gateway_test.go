package test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// gatewayOptions are loopback options for server name in cluster gw, with
// random client, route and gateway ports.
func gatewayOptions(name, gw string) *server.Options {
	o := clusterOptions(name)
	o.Cluster.Name = gw
	o.Gateway.Name = gw
	o.Gateway.Host = "127.0.0.1"
	o.Gateway.Port = server.RANDOM_PORT
	return o
}

func gatewayURL(t testing.TB, s *server.Server) *url.URL {
	t.Helper()
	a := s.GatewayAddr()
	if a == nil {
		t.Fatal("no gateway listener")
	}
	return &url.URL{Scheme: "nats", Host: a.String()}
}

// runSupercluster starts cluster A (two servers, no gateways configured)
// and cluster B (two servers naming only A's first server): A's second
// server and B's servers find the rest through the gateway INFO and the
// routes' gossip. It waits until every server has an outbound gateway.
func runSupercluster(t testing.TB, mod func(o *server.Options)) (a, b []*server.Server) {
	t.Helper()
	for i := 0; i < 2; i++ {
		o := gatewayOptions("a"+strconv.Itoa(i), "A")
		if i > 0 {
			o.Routes = []*url.URL{routeURL(t, a[0], "")}
		}
		if mod != nil {
			mod(o)
		}
		a = append(a, RunServer(t, o))
	}
	for i := 0; i < 2; i++ {
		o := gatewayOptions("b"+strconv.Itoa(i), "B")
		o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{gatewayURL(t, a[0])}}}
		if i > 0 {
			o.Routes = []*url.URL{routeURL(t, b[0], "")}
		}
		if mod != nil {
			mod(o)
		}
		b = append(b, RunServer(t, o))
	}
	all := append(append([]*server.Server{}, a...), b...)
	waitFor(t, 10*time.Second, "gateways", func() bool {
		for _, s := range all {
			if s.NumOutboundGateways() != 1 || s.NumRoutes() == 0 {
				return false
			}
		}
		return true
	})
	return a, b
}

// waitGatewayInterest waits until publishing on subject from pub reaches
// the subscription counter: interest crosses gateways asynchronously.
func waitGatewayInterest(t testing.TB, pub *nats.Conn, subject string, got *atomic.Int64) {
	t.Helper()
	waitFor(t, 5*time.Second, "interest in "+subject, func() bool {
		pub.Publish(subject, []byte("probe"))
		pub.Flush()
		time.Sleep(10 * time.Millisecond)
		return got.Load() > 0
	})
}

// Messages cross in both directions, from and to either server of each
// cluster, exactly once each.
func TestGatewayPubSubBothWays(t *testing.T) {
	a, b := runSupercluster(t, nil)
	all := append(append([]*server.Server{}, a...), b...)
	conns := make([]*nats.Conn, len(all))
	for i, s := range all {
		conns[i] = connect(t, s)
	}
	counts := make([]atomic.Int64, len(all))
	for i, nc := range conns {
		i := i
		nc.Subscribe("gw.to."+strconv.Itoa(i), func(m *nats.Msg) {
			if string(m.Data) != "probe" {
				counts[i].Add(1)
			}
		})
		nc.Flush()
	}
	probes := make([]atomic.Int64, len(all))
	for i, nc := range conns {
		i := i
		nc.Subscribe("gw.probe."+strconv.Itoa(i), func(*nats.Msg) { probes[i].Add(1) })
		nc.Flush()
	}
	// Each server of A publishes to each server of B and back.
	for i := range all {
		for j := range all {
			if (i < 2) == (j < 2) {
				continue
			}
			waitGatewayInterest(t, conns[i], "gw.probe."+strconv.Itoa(j), &probes[j])
			probes[j].Store(0)
		}
	}
	const n = 50
	for i := range all {
		for j := range all {
			if (i < 2) == (j < 2) {
				continue
			}
			for k := 0; k < n; k++ {
				conns[i].Publish("gw.to."+strconv.Itoa(j), []byte("m"))
			}
			conns[i].Flush()
		}
	}
	for j := range all {
		waitFor(t, 5*time.Second, "messages to "+strconv.Itoa(j), func() bool { return counts[j].Load() >= 2*n })
	}
	time.Sleep(100 * time.Millisecond) // let any duplicate arrive
	for j := range all {
		if got := counts[j].Load(); got != 2*n {
			t.Fatalf("server %d received %d messages, want %d (each exactly once)", j, got, 2*n)
		}
	}
	// Headers cross too.
	hdrs := make(chan nats.Header, 1)
	conns[3].Subscribe("gw.hdr", func(m *nats.Msg) { hdrs <- m.Header })
	conns[3].Flush()
	var hp atomic.Int64
	conns[3].Subscribe("gw.hdr.probe", func(*nats.Msg) { hp.Add(1) })
	conns[3].Flush()
	waitGatewayInterest(t, conns[0], "gw.hdr.probe", &hp)
	m := nats.NewMsg("gw.hdr")
	m.Header.Set("K", "V")
	conns[0].PublishMsg(m)
	select {
	case h := <-hdrs:
		if h.Get("K") != "V" {
			t.Fatalf("header lost: %v", h)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("message with headers did not cross")
	}
}

// A request crosses to a responder in the other cluster (on a server that
// is not the one the gateway connects to) and the answer comes back, both
// ways; the responder sees the requester's own reply subject.
func TestGatewayRequestReply(t *testing.T) {
	a, b := runSupercluster(t, nil)
	for _, dir := range []struct {
		name     string
		req, rsp *server.Server
	}{{"B to A", b[1], a[1]}, {"A to B", a[0], b[1]}} {
		t.Run(dir.name, func(t *testing.T) {
			rsp := connect(t, dir.rsp)
			replies := make(chan string, 10)
			subj := "svc." + strings.ReplaceAll(dir.name, " ", "")
			rsp.Subscribe(subj, func(m *nats.Msg) {
				replies <- m.Reply
				m.Respond(append([]byte("re:"), m.Data...))
			})
			rsp.Flush()
			req := connect(t, dir.req)
			var resp *nats.Msg
			waitFor(t, 5*time.Second, "an answer", func() bool {
				var err error
				resp, err = req.Request(subj, []byte("q"), 200*time.Millisecond)
				return err == nil
			})
			if string(resp.Data) != "re:q" {
				t.Fatalf("answer %q", resp.Data)
			}
			if r := <-replies; strings.HasPrefix(r, "_GR_.") {
				t.Fatalf("responder saw the gateway prefix: %q", r)
			}
		})
	}
}

// Queue groups prefer a member in the publisher's cluster; without one,
// one member in the other cluster gets each message (never both).
func TestGatewayQueuePrefersLocalCluster(t *testing.T) {
	a, b := runSupercluster(t, nil)
	var inA, inB atomic.Int64
	qa := connect(t, a[1])
	qa.QueueSubscribe("work", "workers", func(*nats.Msg) { inA.Add(1) })
	qa.Flush()
	qb := connect(t, b[1])
	subB, _ := qb.QueueSubscribe("work", "workers", func(*nats.Msg) { inB.Add(1) })
	qb.Flush()
	pub := connect(t, b[0])
	// B's own member is known on b0 through the route; A's through the
	// gateway. Wait for the latter by removing B's member first.
	subB.Unsubscribe()
	qb.Flush()
	waitFor(t, 5*time.Second, "the queue group in A", func() bool {
		pub.Publish("work", nil)
		pub.Flush()
		time.Sleep(10 * time.Millisecond)
		return inA.Load() > 0
	})
	qb.QueueSubscribe("work", "workers", func(*nats.Msg) { inB.Add(1) })
	qb.Flush()
	waitFor(t, 5*time.Second, "the local member", func() bool {
		inA.Store(0)
		inB.Store(0)
		pub.Publish("work", nil)
		pub.Flush()
		time.Sleep(20 * time.Millisecond)
		return inB.Load() == 1 && inA.Load() == 0
	})
	inA.Store(0)
	inB.Store(0)
	const n = 200
	for i := 0; i < n; i++ {
		pub.Publish("work", nil)
	}
	pub.Flush()
	waitFor(t, 5*time.Second, "queue deliveries", func() bool { return inA.Load()+inB.Load() >= n })
	time.Sleep(50 * time.Millisecond)
	if inA.Load() != 0 || inB.Load() != n {
		t.Fatalf("with a local member: A got %d, B got %d, want 0 and %d", inA.Load(), inB.Load(), n)
	}
	// A plain subscriber in A still gets everything alongside the group.
	var plain atomic.Int64
	ps := connect(t, a[0])
	ps.Subscribe("work", func(*nats.Msg) { plain.Add(1) })
	ps.Flush()
	waitFor(t, 5*time.Second, "plain interest across", func() bool {
		pub.Publish("work", nil)
		pub.Flush()
		time.Sleep(10 * time.Millisecond)
		return plain.Load() > 0
	})
	if inA.Load() != 0 {
		t.Fatalf("the remote queue member got %d messages while a local one exists", inA.Load())
	}
}

// The system account's interest crosses gateways: $SYS.REQ.SERVER.PING
// from one cluster is answered by all four servers.
func TestGatewaySystemPing(t *testing.T) {
	a, b := runSupercluster(t, func(o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "SYS"}}
		o.SystemAccount = "SYS"
		o.Users = []*server.User{{Username: "sys", Password: "sys", Account: "SYS"}, {Username: "u", Password: "u"}}
	})
	_ = a
	nc, err := nats.Connect(b[1].ClientURL(), nats.UserInfo("sys", "sys"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, 10*time.Second, "four PING answers", func() bool { return len(pingAnswers(nc)) == 4 })
}

// pingAnswers sends $SYS.REQ.SERVER.PING and returns the names of the
// servers that answered within 300 ms of each other.
func pingAnswers(nc *nats.Conn) map[string]bool {
	inbox := nats.NewInbox()
	sub, _ := nc.SubscribeSync(inbox)
	defer sub.Unsubscribe()
	nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil)
	seen := map[string]bool{}
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			return seen
		}
		var r struct {
			Server struct{ Name string } `json:"server"`
		}
		json.Unmarshal(m.Data, &r)
		seen[r.Server.Name] = true
	}
}

// A raw gateway connection sees the protocol: INFO with the gateway
// fields, then after CONNECT/INFO every account switched to interest-only
// mode (gateway_cmd 2, RS+ list, gateway_cmd 3), RS+/RS- on changes, RMSG
// delivered with the reply prefix stripped for clients, and A- for an
// account the server does not have.
func TestGatewayRawProtocol(t *testing.T) {
	o := gatewayOptions("g0", "A")
	s := RunServer(t, o)
	nc := connect(t, s)
	nc.Subscribe("before", func(*nats.Msg) {})
	nc.QueueSubscribe("q.sub", "grp", func(*nats.Msg) {})
	nc.Flush()
	rc := dialRawAddr(t, s.GatewayAddr().String())
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.info, "INFO ")), &info); err != nil {
		t.Fatalf("INFO: %v", err)
	}
	if info["gateway"] != "A" || info["gateway_nrp"] != true || info["gateway_iom"] != true || info["gateway_url"] == nil {
		t.Fatalf("gateway INFO fields: %s", rc.info)
	}
	rc.send(`CONNECT {"echo":false,"verbose":false,"pedantic":false,"tls_required":false,"headers":false,"name":"FAKEID","cluster":"","gateway":"Z"}` + "\r\n")
	rc.send(`INFO {"server_id":"FAKEID","server_name":"z","gateway":"Z","gateway_urls":["127.0.0.1:1"],"gateway_nrp":true,"gateway_iom":true}` + "\r\n")
	lines := map[string]bool{}
	deadline := time.Now().Add(3 * time.Second)
	for !(lines[`RS+ $G before`] && lines[`RS+ $G q.sub grp 1`] && lines[cmdLine(3, "$G")]) && time.Now().Before(deadline) {
		lines[rc.readLine()] = true
	}
	for _, want := range []string{cmdLine(2, "$G"), `RS+ $G before`, `RS+ $G q.sub grp 1`, cmdLine(3, "$G")} {
		if !lines[want] {
			t.Fatalf("missing %q in %v", want, lines)
		}
	}
	sub, _ := nc.SubscribeSync("later")
	nc.Flush()
	rc.expectLineSkipping("RS+ $G later")
	rc.send("RMSG $G later _GR_.abcdef.ghijkl._INBOX.x 2\r\nhi\r\nHMSG $G later 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil || string(m.Data) != "hi" || m.Reply != "_INBOX.x" {
		t.Fatalf("RMSG delivery: %v %+v", err, m)
	}
	if m, err = sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "hi" {
		t.Fatalf("HMSG delivery: %v %+v", err, m)
	}
	sub.Unsubscribe()
	nc.Flush()
	rc.expectLineSkipping("RS- $G later")
	rc.send("RMSG NOPE x 1\r\nx\r\n")
	rc.expectLineSkipping("A- NOPE")
}

func cmdLine(cmd int, acc string) string {
	b, _ := json.Marshal([]byte(acc))
	return `INFO {"server_id":"","server_name":"","version":"","proto":0,"go":"","host":"","port":0,"headers":false,"max_payload":0,"gateway":"A","gateway_cmd":` +
		strconv.Itoa(cmd) + `,"gateway_cmd_payload":` + string(b) + `}`
}

// Options refused at start-up, with the reference's words.
func TestGatewayConfigErrors(t *testing.T) {
	checkConfigErrors(t, []configCase{
		{"gateway { port: -1 }", "gateway has no name"},
		{"gateway { name: A }", `gateway "A" has no port specified (select -1 for random port)`},
		{"cluster { name: X, port: -1 }\ngateway { name: A, port: -1 }", "cluster name conflicts between cluster and gateway definitions"},
		{`gateway { name: A, port: -1, gateways: [{name: B}] }`, `gateway "B" has no URL`},
		{`gateway { name: A, port: -1, gateways: [{url: "nats://127.0.0.1:1"}] }`, "gateway in the list 0 has no name"},
		{`gateway { name: "A B", port: -1 }`, "gateway name cannot contain spaces"},
		{`gateway { name: A, port: -1, foo: 1 }`, `unknown field "foo"`},
	})
}

// A gateway with authorization refuses a cluster without the credentials
// and accepts one with them in its URL.
func TestGatewayAuthorization(t *testing.T) {
	oa := gatewayOptions("a", "A")
	oa.Gateway.Username, oa.Gateway.Password = "gw", "secret"
	sa := RunServer(t, oa)
	bad := gatewayOptions("b", "B")
	u := gatewayURL(t, sa)
	bad.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{u}}}
	sb := RunServer(t, bad)
	time.Sleep(300 * time.Millisecond)
	if sb.NumOutboundGateways() != 0 || sa.NumInboundGateways() != 0 {
		t.Fatal("a gateway without credentials was accepted")
	}
	good := gatewayOptions("c", "C")
	gu := *u
	gu.User = url.UserPassword("gw", "secret")
	good.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{&gu}}}
	sc := RunServer(t, good)
	waitFor(t, 5*time.Second, "authorized gateway", func() bool { return sc.NumOutboundGateways() == 1 })
}

// The gateway is solicited again after the other cluster restarts.
func TestGatewayReconnect(t *testing.T) {
	oa := gatewayOptions("a", "A")
	sa := RunServer(t, oa)
	ob := gatewayOptions("b", "B")
	ob.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{gatewayURL(t, sa)}}}
	sb := RunServer(t, ob)
	waitFor(t, 5*time.Second, "gateways up", func() bool {
		return sa.NumOutboundGateways() == 1 && sb.NumOutboundGateways() == 1
	})
	port := sb.GatewayAddr().Port
	sb.Shutdown()
	waitFor(t, 5*time.Second, "gateway down", func() bool { return sa.NumOutboundGateways() == 0 })
	ob2 := gatewayOptions("b", "B")
	ob2.Gateway.Port = port
	ob2.Gateway.Gateways = ob.Gateway.Gateways
	sb2 := RunServer(t, ob2)
	waitFor(t, 10*time.Second, "gateways back", func() bool {
		return sa.NumOutboundGateways() == 1 && sb2.NumOutboundGateways() == 1
	})
}

// expectLineSkipping reads lines until want, answering PINGs.
func (rc *rawConn) expectLineSkipping(want string) {
	rc.t.Helper()
	for i := 0; i < 1000; i++ {
		l := rc.readLine()
		if l == want {
			return
		}
		if l == "PING" {
			rc.send("PONG\r\n")
		}
	}
	rc.t.Fatalf("never got %q", want)
}

// A service import works across clusters: the requester's account imports
// the service, the exporter's responder is in the other cluster.
func TestGatewayServiceImport(t *testing.T) {
	a, b := runSupercluster(t, func(o *server.Options) {
		o.Accounts = []*server.AccountOpts{
			{Name: "SVC", Exports: []*server.ExportOpts{{Service: "svc.>"}}},
			{Name: "APP", Imports: []*server.ImportOpts{{Account: "SVC", Service: "svc.>"}}},
		}
		o.Users = []*server.User{{Username: "svc", Password: "p", Account: "SVC"}, {Username: "app", Password: "p", Account: "APP"}}
	})
	rsp, err := nats.Connect(a[1].ClientURL(), nats.UserInfo("svc", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Close()
	rsp.Subscribe("svc.echo", func(m *nats.Msg) { m.Respond(append([]byte("svc:"), m.Data...)) })
	rsp.Flush()
	req, err := nats.Connect(b[1].ClientURL(), nats.UserInfo("app", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	var resp *nats.Msg
	waitFor(t, 5*time.Second, "an answer through the import", func() bool {
		resp, err = req.Request("svc.echo", []byte("hi"), 300*time.Millisecond)
		return err == nil
	})
	if string(resp.Data) != "svc:hi" {
		t.Fatalf("answer %q", resp.Data)
	}
}
