package test

import (
	"bufio"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// leafHub runs a hub with a leaf node listener on a random port.
func leafHub(t *testing.T, edit func(o *server.Options)) *server.Server {
	t.Helper()
	o := DefaultTestOptions()
	o.LeafNode.Host = "127.0.0.1"
	o.LeafNode.Port = server.RANDOM_PORT
	if edit != nil {
		edit(o)
	}
	return RunServer(t, o)
}

// leafOf runs a server soliciting the hub's leaf node port with the
// given URL user info ("" for none) and local account.
func leafOf(t *testing.T, hubLeafPort int, userinfo, localAcc string, edit func(o *server.Options)) *server.Server {
	t.Helper()
	o := DefaultTestOptions()
	u, _ := url.Parse("nats://" + userinfo + "127.0.0.1:" + strconv.Itoa(hubLeafPort))
	o.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, LocalAccount: localAcc}}
	o.LeafNode.ReconnectDelay = 50 * time.Millisecond
	if edit != nil {
		edit(o)
	}
	return RunServer(t, o)
}

func waitLeafs(t *testing.T, n int, servers ...*server.Server) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d leaf connection(s)", n), func() bool {
		for _, s := range servers {
			if s.NumLeafNodes() != n {
				return false
			}
		}
		return true
	})
}

// waitLeafSub waits until s's leaf connection has been told about subject.
func waitLeafSub(t *testing.T, s *server.Server, subject string) {
	t.Helper()
	waitFor(t, 5*time.Second, "leaf interest in "+subject, func() bool {
		for _, l := range s.Leafz(server.LeafzOptions{Subscriptions: true}).Leafs {
			if slices.Contains(l.Subs, subject) {
				return true
			}
		}
		return false
	})
}

func flushed(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A leaf behind a hub with user/password: messages, headers and requests
// cross in both directions, interest goes away on unsubscribe.
func TestLeafPubSubRequestBothWays(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.LeafNode.Username, o.LeafNode.Password = "leaf", "s3cret"
	})
	leaf := leafOf(t, hub.LeafAddr().Port, "leaf:s3cret@", "", nil)
	waitLeafs(t, 1, hub, leaf)
	hc, lc := connect(t, hub), connect(t, leaf)

	for _, dir := range []struct {
		name     string
		sub, pub *nats.Conn
		subSrv   *server.Server // whose interest must reach the other side
		other    *server.Server
	}{{"leaf to hub", hc, lc, hub, leaf}, {"hub to leaf", lc, hc, leaf, hub}} {
		subject := "dir." + strings.ReplaceAll(dir.name, " ", "_")
		sub, err := dir.sub.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		flushed(t, dir.sub)
		waitLeafSub(t, dir.other, subject)
		m := nats.NewMsg(subject)
		m.Header.Set("X-Leaf", "yes")
		m.Data = []byte("hello " + dir.name)
		if err := dir.pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		got, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
		if string(got.Data) != "hello "+dir.name || got.Header.Get("X-Leaf") != "yes" {
			t.Fatalf("%s: got %q %v", dir.name, got.Data, got.Header)
		}
		// Request/reply: the responder on the subscribing side.
		svc := subject + ".svc"
		rs, err := dir.sub.Subscribe(svc, func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
		if err != nil {
			t.Fatal(err)
		}
		flushed(t, dir.sub)
		waitLeafSub(t, dir.other, svc)
		resp, err := dir.pub.Request(svc, []byte("ping"), 2*time.Second)
		if err != nil || string(resp.Data) != "re:ping" {
			t.Fatalf("%s request: %v %v", dir.name, resp, err)
		}
		rs.Unsubscribe()
		sub.Unsubscribe()
		flushed(t, dir.sub)
		waitFor(t, 5*time.Second, "interest removed", func() bool {
			for _, l := range dir.other.Leafz(server.LeafzOptions{Subscriptions: true}).Leafs {
				if slices.Contains(l.Subs, subject) || slices.Contains(l.Subs, svc) {
					return false
				}
			}
			return true
		})
	}
}

// Queue groups: a publisher's own side serves its queue group when it has
// a member; otherwise each message reaches exactly one member across the
// leaf connection.
func TestLeafQueueGroups(t *testing.T) {
	hub := leafHub(t, nil)
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", nil)
	waitLeafs(t, 1, hub, leaf)
	hc, lc := connect(t, hub), connect(t, leaf)
	var hubN, leafN atomic.Int32
	for i := 0; i < 2; i++ {
		if _, err := hc.QueueSubscribe("work", "q", func(*nats.Msg) { hubN.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	flushed(t, hc)
	waitLeafSub(t, leaf, "work")
	const n = 50
	for i := 0; i < n; i++ {
		lc.Publish("work", []byte("x"))
	}
	flushed(t, lc)
	waitFor(t, 5*time.Second, "queue deliveries", func() bool { return hubN.Load() == n })
	// A member on the leaf takes the leaf's publishes, none cross.
	if _, err := lc.QueueSubscribe("work", "q", func(*nats.Msg) { leafN.Add(1) }); err != nil {
		t.Fatal(err)
	}
	flushed(t, lc)
	for i := 0; i < n; i++ {
		lc.Publish("work", []byte("x"))
	}
	flushed(t, lc)
	waitFor(t, 5*time.Second, "local queue deliveries", func() bool { return leafN.Load() == n })
	// Round trip through the hub so any stray delivery would have arrived.
	flushed(t, hc)
	if _, err := lc.Request("nobody", nil, 200*time.Millisecond); err == nil {
		t.Fatal("request to nobody answered")
	}
	if got := hubN.Load(); got != n {
		t.Fatalf("hub members got %d, want %d (exactly once)", got, n)
	}
}

// Account binding: the users of the authorization block bind leaf
// connections to their accounts; the leaf binds its local account. Other
// accounts on either side see nothing.
func TestLeafAccountBinding(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "A"}, {Name: "B"}}
		o.Users = []*server.User{{Username: "ua", Password: "pa", Account: "A"}, {Username: "ub", Password: "pb", Account: "B"}}
		o.LeafNode.Users = []*server.User{{Username: "la", Password: "lp", Account: "A"}}
	})
	leaf := leafOf(t, hub.LeafAddr().Port, "la:lp@", "X", func(o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "X"}, {Name: "Y"}}
		o.Users = []*server.User{{Username: "ux", Password: "px", Account: "X"}, {Username: "uy", Password: "py", Account: "Y"}}
	})
	waitLeafs(t, 1, hub, leaf)
	if z := hub.Leafz(server.LeafzOptions{}); z.Leafs[0].Account != "A" || z.Leafs[0].IsSpoke {
		t.Fatalf("hub side: %+v", z.Leafs[0])
	}
	if z := leaf.Leafz(server.LeafzOptions{}); z.Leafs[0].Account != "X" || !z.Leafs[0].IsSpoke {
		t.Fatalf("leaf side: %+v", z.Leafs[0])
	}
	ca := connect(t, hub, nats.UserInfo("ua", "pa"))
	cb := connect(t, hub, nats.UserInfo("ub", "pb"))
	cx := connect(t, leaf, nats.UserInfo("ux", "px"))
	cy := connect(t, leaf, nats.UserInfo("uy", "py"))
	sa, _ := ca.SubscribeSync("acct")
	sb, _ := cb.SubscribeSync("acct")
	flushed(t, ca)
	flushed(t, cb)
	waitLeafSub(t, leaf, "acct")
	sy, _ := cy.SubscribeSync("acct")
	flushed(t, cy)
	cx.Publish("acct", []byte("from X"))
	flushed(t, cx)
	if m, err := sa.NextMsg(2 * time.Second); err != nil || string(m.Data) != "from X" {
		t.Fatalf("account A: %v %v", m, err)
	}
	// Account Y on the leaf publishes on the same subject: not bound.
	cy.Publish("acct", []byte("from Y"))
	flushed(t, cy)
	if m, err := sy.NextMsg(time.Second); err != nil || string(m.Data) != "from Y" {
		t.Fatalf("Y's own: %v %v", m, err)
	}
	if m, err := sa.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("account A got %q from Y", m.Data)
	}
	if m, err := sb.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("account B got %q", m.Data)
	}
}

// Wrong credentials are refused by the hub with the reference's error and
// the connection closed; a leaf with them never registers.
func TestLeafBadCredentialsRefused(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.LeafNode.Username, o.LeafNode.Password = "leaf", "right"
	})
	conn, err := net.Dial("tcp", hub.LeafAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	info, _ := br.ReadString('\n')
	if !strings.HasPrefix(info, "INFO ") || !strings.Contains(info, `"auth_required":true`) || !strings.Contains(info, `"nonce"`) {
		t.Fatalf("INFO: %q", info)
	}
	fmt.Fprintf(conn, "CONNECT {\"user\":\"leaf\",\"pass\":\"wrong\",\"server_id\":\"X\",\"protocol\":3}\r\nLS+ foo\r\n")
	line, _ := br.ReadString('\n')
	if line != "-ERR 'Authorization Violation'\r\n" {
		t.Fatalf("got %q", line)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection left open")
	}
	if hub.NumLeafNodes() != 0 {
		t.Fatal("refused leaf registered")
	}
}

// Restart of either side: the leaf reconnects to a restarted hub (same
// port) and interest is exchanged again; a restarted leaf comes back.
func TestLeafRestartEitherSide(t *testing.T) {
	port := freePort(t)
	hubOpts := func() *server.Options {
		o := DefaultTestOptions()
		o.LeafNode.Host, o.LeafNode.Port = "127.0.0.1", port
		return o
	}
	hub, err := server.NewServer(hubOpts())
	if err != nil {
		t.Fatal(err)
	}
	go hub.Start()
	if !hub.ReadyForConnections(5 * time.Second) {
		t.Fatal("hub not ready")
	}
	leaf := leafOf(t, port, "", "", nil)
	waitLeafs(t, 1, hub, leaf)
	lc := connect(t, leaf)
	sub, _ := lc.SubscribeSync("after.restart")
	flushed(t, lc)

	hub.Shutdown()
	waitLeafs(t, 0, leaf)
	hub = RunServer(t, hubOpts())
	waitLeafs(t, 1, hub, leaf)
	waitLeafSub(t, hub, "after.restart")
	hc := connect(t, hub)
	hc.Publish("after.restart", []byte("back"))
	flushed(t, hc)
	if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "back" {
		t.Fatalf("after hub restart: %v %v", m, err)
	}

	leaf.Shutdown()
	waitLeafs(t, 0, hub)
	leaf2 := leafOf(t, port, "", "", nil)
	waitLeafs(t, 1, hub, leaf2)
}

// The leafnodes block as nats.js's test launcher writes it is accepted;
// keys not served yet are refused with "not supported yet".
func TestLeafConfigBlock(t *testing.T) {
	dir := t.TempDir()
	ok := writeConf(t, dir, "ok.conf", `
port: -1
leafnodes { listen: "127.0.0.1:-1", no_advertise: true, reconnect: "2s",
  authorization { users: [ {user: a, password: b, account: A} ], timeout: 3 } }
accounts { A {} }
websocket { port: -1, no_tls: true }
`)
	o, err := server.ProcessConfigFile(ok)
	if err != nil {
		t.Fatal(err)
	}
	if o.LeafNode.Host != "127.0.0.1" || o.LeafNode.Port != -1 || !o.LeafNode.NoAdvertise || o.LeafNode.ReconnectDelay != 2*time.Second ||
		len(o.LeafNode.Users) != 1 || o.LeafNode.Users[0].Account != "A" || o.LeafNode.AuthTimeout != 3 {
		t.Fatalf("parsed %+v", o.LeafNode)
	}
	s := RunServer(t, o)
	if s.LeafAddr() == nil || s.LeafAddr().Port == 0 {
		t.Fatal("no leaf listener")
	}
	o, err = server.ProcessConfigFile(writeConf(t, dir, "refused.conf", `leafnodes { remotes [ { url: "nats://127.0.0.1:1", proxy: { url: "http://p:1" } } ] }`))
	if err == nil {
		_, err = server.NewServer(o)
	}
	if err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("proxy: expected not supported yet, got %v", err)
	}
	o, err = server.ProcessConfigFile(writeConf(t, dir, "badtls.conf", `leafnodes { listen: "127.0.0.1:-1", tls { cert_file: "nope.pem", key_file: "nope.pem" } }`))
	if err == nil {
		_, err = server.NewServer(o)
	}
	if err == nil || !strings.Contains(err.Error(), "leafnode tls") {
		t.Fatalf("bad tls files: %v", err)
	}
	o, err = server.ProcessConfigFile(writeConf(t, dir, "nocreds.conf", `leafnodes { remotes [ { url: "nats://127.0.0.1:1", credentials: "missing.creds" } ] }`))
	if err == nil {
		_, err = server.NewServer(o)
	}
	if err == nil || !strings.Contains(err.Error(), "missing.creds") {
		t.Fatalf("missing credentials file: %v", err)
	}
	_, err = server.ProcessConfigFile(writeConf(t, dir, "typo.conf", `leafnodes { lisen: 1 }`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "lisen"`) {
		t.Fatalf("typo: %v", err)
	}
}

// /leafz and /varz over HTTP, in the reference's shape.
func TestLeafMonitoring(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) { o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT })
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", nil)
	waitLeafs(t, 1, hub, leaf)
	lc := connect(t, leaf)
	lc.SubscribeSync("mon.x")
	flushed(t, lc)
	waitLeafSub(t, hub, "mon.x")
	base := "http://" + hub.MonitorAddr().String()
	var z struct {
		NumLeafs int `json:"leafnodes"`
		Leafs    []struct {
			Name    string   `json:"name"`
			IsSpoke bool     `json:"is_spoke"`
			Account string   `json:"account"`
			Subs    []string `json:"subscriptions_list"`
		} `json:"leafs"`
	}
	getJSON(t, base+"/leafz?subs=1", &z)
	if z.NumLeafs != 1 || z.Leafs[0].Name != leaf.ID() || z.Leafs[0].IsSpoke || z.Leafs[0].Account != "$G" || !slices.Contains(z.Leafs[0].Subs, "mon.x") {
		t.Fatalf("/leafz: %+v", z)
	}
	var v struct {
		Leaf struct {
			Host        string  `json:"host"`
			Port        int     `json:"port"`
			AuthTimeout float64 `json:"auth_timeout"`
		} `json:"leaf"`
		Leafs int `json:"leafnodes"`
	}
	getJSON(t, base+"/varz", &v)
	if v.Leafs != 1 || v.Leaf.Port != hub.LeafAddr().Port || v.Leaf.Host != "127.0.0.1" || v.Leaf.AuthTimeout != 2 {
		t.Fatalf("/varz: %+v", v)
	}
	var az struct {
		Account struct {
			Leafs int `json:"leafnode_connections"`
		} `json:"account_detail"`
	}
	getJSON(t, base+"/accountz?acc=$G", &az)
	if az.Account.Leafs != 1 {
		t.Fatalf("/accountz leafnode_connections: %+v", az)
	}
}

// Interop: our leaf on a reference hub, and a reference leaf on our hub;
// messages and requests both ways, queue groups across.
func TestLeafInteropWithReference(t *testing.T) {
	ref := refBin(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, hubBin, leafBin string }{
		{"our leaf on reference hub", ref, serverBin},
		{"reference leaf on our hub", serverBin, ref},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			hubPort, hubLeafPort, leafPort := freePort(t), freePort(t), freePort(t)
			hubConf := writeConf(t, dir, "hub.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nleafnodes { listen: \"127.0.0.1:%d\", authorization { user: lu, password: lp } }\n", hubPort, hubLeafPort))
			leafConf := writeConf(t, dir, "leaf.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nleafnodes { remotes [ { url: \"nats://lu:lp@127.0.0.1:%d\" } ], reconnect: \"100ms\" }\n", leafPort, hubLeafPort))
			hp := startBinAt(t, tc.hubBin, "-c", hubConf)
			hp.waitOutput("Server is ready")
			lp := startBinAt(t, tc.leafBin, "-c", leafConf)
			lp.waitOutput("Leafnode connection created")
			hc := dialNATS(t, hubPort)
			lc := dialNATS(t, leafPort)
			checkLeafPath(t, hc, lc, "i.hub")
			checkLeafPath(t, lc, hc, "i.leaf")
		})
	}
}

func dialNATS(t *testing.T, port int) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(port), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// checkLeafPath subscribes (plain, queue and a responder) on sc and
// publishes from pc until the interest has crossed, then checks delivery.
func checkLeafPath(t *testing.T, sc, pc *nats.Conn, subject string) {
	t.Helper()
	sub, _ := sc.SubscribeSync(subject)
	var qn atomic.Int32
	sc.QueueSubscribe(subject+".q", "g", func(*nats.Msg) { qn.Add(1) })
	sc.QueueSubscribe(subject+".q", "g", func(*nats.Msg) { qn.Add(1) })
	sc.Subscribe(subject+".svc", func(m *nats.Msg) { m.Respond([]byte("ok")) })
	flushed(t, sc)
	// The request waits for the responder's interest to cross.
	waitFor(t, 10*time.Second, "request across the leaf", func() bool {
		r, err := pc.Request(subject+".svc", nil, 200*time.Millisecond)
		return err == nil && string(r.Data) == "ok"
	})
	pc.Publish(subject, []byte("plain"))
	for i := 0; i < 10; i++ {
		pc.Publish(subject+".q", []byte("q"))
	}
	flushed(t, pc)
	if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "plain" {
		t.Fatalf("plain: %v %v", m, err)
	}
	waitFor(t, 5*time.Second, "queue messages", func() bool { return qn.Load() >= 10 })
	// A round trip through both servers, then the count must be exact.
	if _, err := pc.Request(subject+".svc", nil, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if qn.Load() != 10 {
		t.Fatalf("queue group got %d messages, want 10", qn.Load())
	}
}

// Two servers that are each other's leaf form a cycle: the loop
// detection subject comes back, both sides log the reference's error and
// close, and the soliciting sides wait 30 s before trying again. Checked
// with our binary on both sides and mixed with the reference.
func TestLeafLoopDetected(t *testing.T) {
	bins := [][2]string{{serverBin, serverBin}}
	if ref := refBinary(); ref != "" {
		bins = append(bins, [2]string{serverBin, ref})
	}
	for _, pair := range bins {
		dir := t.TempDir()
		pa, pb := freePort(t), freePort(t)
		conf := func(name string, listen, remote int) string {
			return writeConf(t, dir, name, fmt.Sprintf("host: 127.0.0.1\nport: -1\nleafnodes { listen: \"127.0.0.1:%d\", reconnect: \"100ms\", remotes [ { url: \"nats://127.0.0.1:%d\" } ] }\n", listen, remote))
		}
		a := startBinAt(t, pair[0], "-c", conf("a.conf", pa, pb))
		b := startBinAt(t, pair[1], "-c", conf("b.conf", pb, pa))
		want := `Loop detected for leafnode account="$G". Delaying attempt to reconnect for 30s`
		a.waitOutput(want)
		b.waitOutput(want)
	}
}

// A leaf on one server of a cluster: its interest reaches the other
// server over the route, messages from there reach the leaf, and a
// message from the leaf crosses the route once; a queue group spread over
// the cluster and the leaf gets each message once.
func TestLeafWithRoutes(t *testing.T) {
	cl := runCluster(t, 2, func(i int, o *server.Options) {
		if i == 0 {
			o.LeafNode.Host, o.LeafNode.Port = "127.0.0.1", server.RANDOM_PORT
		}
	})
	waitMesh(t, cl)
	leaf := leafOf(t, cl[0].LeafAddr().Port, "", "", nil)
	waitLeafs(t, 1, cl[0], leaf)
	c0, c1, lc := connect(t, cl[0]), connect(t, cl[1]), connect(t, leaf)

	onLeaf, _ := lc.SubscribeSync("far")
	onB, _ := c1.SubscribeSync("near")
	flushed(t, lc)
	flushed(t, c1)
	barrier(t, c1, lc) // the leaf's interest reached server 1 over the route
	barrier(t, lc, c1) // server 1's interest reached the leaf through the hub
	c1.Publish("far", []byte("b to leaf"))
	lc.Publish("near", []byte("leaf to b"))
	flushed(t, c1)
	flushed(t, lc)
	if m, err := onLeaf.NextMsg(2 * time.Second); err != nil || string(m.Data) != "b to leaf" {
		t.Fatalf("to the leaf: %v %v", m, err)
	}
	if m, err := onB.NextMsg(2 * time.Second); err != nil || string(m.Data) != "leaf to b" {
		t.Fatalf("from the leaf: %v %v", m, err)
	}
	// Once: a round trip later nothing more arrived.
	barrier(t, lc, c1)
	barrier(t, c1, lc)
	if m, err := onB.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("duplicate %q", m.Data)
	}
	if m, err := onLeaf.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("duplicate %q", m.Data)
	}

	var n atomic.Int32
	for _, nc := range []*nats.Conn{c1, lc} {
		nc.QueueSubscribe("qw", "g", func(*nats.Msg) { n.Add(1) })
		flushed(t, nc)
	}
	barrier(t, c0, c1, lc)
	const total = 40
	for i := 0; i < total; i++ {
		c0.Publish("qw", nil)
	}
	flushed(t, c0)
	waitFor(t, 5*time.Second, "queue deliveries", func() bool { return n.Load() >= total })
	barrier(t, c0, c1, lc)
	if n.Load() != total {
		t.Fatalf("queue group got %d, want %d", n.Load(), total)
	}
}

// JetStream domains across a leaf: the hub's JetStream (domain HUB) is
// reached from the leaf's clients as $JS.HUB.API, while the leaf's own
// JetStream (domain LEAF) answers $JS.API there; each side's stream
// takes the messages published on the other side.
func TestLeafJetStreamDomains(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, t.TempDir(), "HUB"
	})
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, t.TempDir(), "LEAF"
	})
	waitLeafs(t, 1, hub, leaf)
	lc := connect(t, leaf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitLeafSub(t, leaf, "$JS.HUB.API.>")
	hubJS, err := jetstream.NewWithDomain(lc, "HUB")
	if err != nil {
		t.Fatal(err)
	}
	st, err := hubJS.CreateStream(ctx, jetstream.StreamConfig{Name: "ONHUB", Subjects: []string{"hub.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.Name != "ONHUB" {
		t.Fatal("stream info")
	}
	localJS, _ := jetstream.New(lc)
	if _, err := localJS.CreateStream(ctx, jetstream.StreamConfig{Name: "ONLEAF", Subjects: []string{"leaf.>"}}); err != nil {
		t.Fatal(err)
	}
	// The leaf's stream is its own: the hub's domain does not list it.
	names := hubJS.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if !slices.Equal(got, []string{"ONHUB"}) {
		t.Fatalf("hub streams %v", got)
	}
	waitLeafSub(t, leaf, "hub.>")
	ack, err := hubJS.Publish(ctx, "hub.x", []byte("from the leaf"))
	if err != nil || ack.Stream != "ONHUB" || ack.Domain != "HUB" {
		t.Fatalf("publish across: %+v %v", ack, err)
	}
	hc := connect(t, hub)
	hjs, _ := jetstream.New(hc)
	waitLeafSub(t, hub, "leaf.>")
	ack, err = hjs.Publish(ctx, "leaf.y", []byte("from the hub"))
	if err != nil || ack.Stream != "ONLEAF" || ack.Domain != "LEAF" {
		t.Fatalf("publish to the leaf's stream: %+v %v", ack, err)
	}
}

// deny_imports and deny_exports on a remote, and a leaf user's
// permissions on the hub: denied subjects do not cross, others do.
func TestLeafDenyListsAndPermissions(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.LeafNode.Users = []*server.User{{Username: "l", Password: "p", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Deny: []string{"hubdeny.in"}},
			Subscribe: &server.SubjectPermission{Deny: []string{"hubdeny.out"}},
		}}}
	})
	leaf := leafOf(t, hub.LeafAddr().Port, "l:p@", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].DenyImports = []string{"noimport.>"}
		o.LeafNode.Remotes[0].DenyExports = []string{"noexport.>"}
	})
	waitLeafs(t, 1, hub, leaf)
	hc, lc := connect(t, hub), connect(t, leaf)
	onHub, _ := hc.SubscribeSync(">")
	onLeaf, _ := lc.SubscribeSync(">")
	flushed(t, hc)
	flushed(t, lc)
	waitLeafSub(t, leaf, ">")
	waitLeafSub(t, hub, ">")
	for _, s := range []string{"noexport.x", "hubdeny.in", "ok.up"} {
		lc.Publish(s, []byte(s))
	}
	for _, s := range []string{"noimport.x", "hubdeny.out", "ok.down"} {
		hc.Publish(s, []byte(s))
	}
	flushed(t, lc)
	flushed(t, hc)
	expectOnly := func(sub *nats.Subscription, own []string, crossed string) {
		t.Helper()
		want := append(append([]string{}, own...), crossed)
		var got []string
		for len(got) < len(want) {
			m, err := sub.NextMsg(2 * time.Second)
			if err != nil {
				t.Fatalf("got %v, want %v: %v", got, want, err)
			}
			got = append(got, m.Subject)
		}
		// Anything denied would have arrived before the allowed message
		// published after it on the same path.
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
			t.Fatalf("denied %q crossed", m.Subject)
		}
	}
	expectOnly(onHub, []string{"noimport.x", "hubdeny.out", "ok.down"}, "ok.up")
	expectOnly(onLeaf, []string{"noexport.x", "hubdeny.in", "ok.up"}, "ok.down")
}

// TLS leaf connections, handshake first as the reference: our hub and
// our leaf; a plain leaf on a TLS hub never registers; and both mixes
// with the reference, with verify (client certificates) on the hub.
func TestLeafTLS(t *testing.T) {
	ca := newTestCA(t, "leafca")
	// One certificate for both ends, as servers usually have.
	srv := ca.issue(t, "leafsrv", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	hub := leafHub(t, func(o *server.Options) {
		o.LeafNode.TLS = &server.TLSConfigOpts{CertFile: srv.certFile, KeyFile: srv.keyFile, CaFile: ca.file, Verify: true}
	})
	port := hub.LeafAddr().Port
	leaf := leafOf(t, port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].URLs[0].Scheme = "tls"
		o.LeafNode.Remotes[0].TLS = &server.TLSConfigOpts{CertFile: srv.certFile, KeyFile: srv.keyFile, CaFile: ca.file}
	})
	waitLeafs(t, 1, hub, leaf)
	hc, lc := connect(t, hub), connect(t, leaf)
	checkLeafPath(t, hc, lc, "tls.a")
	// Without a client certificate the hub refuses the handshake.
	plain := leafOf(t, port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].TLS = &server.TLSConfigOpts{CaFile: ca.file}
	})
	// None of its attempts registers.
	time.Sleep(300 * time.Millisecond) // several attempts at 50 ms; nothing to await for a refusal
	if hub.NumLeafNodes() != 1 || plain.NumLeafNodes() != 0 {
		t.Fatalf("leaf without certificate: hub %d, leaf %d", hub.NumLeafNodes(), plain.NumLeafNodes())
	}

	ref := refBinary()
	if ref == "" {
		t.Skip("reference server not installed at ~/.cache/natsref/nats-server: TLS interop skipped")
	}
	dir := t.TempDir()
	tlsBlock := fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q }", srv.certFile, srv.keyFile, ca.file)
	for _, pair := range [][2]string{{ref, serverBin}, {serverBin, ref}} {
		hubPort, hubLeafPort, leafPort := freePort(t), freePort(t), freePort(t)
		hp := startBinAt(t, pair[0], "-c", writeConf(t, dir, "hub.conf", fmt.Sprintf(
			"host: 127.0.0.1\nport: %d\nleafnodes { listen: \"127.0.0.1:%d\", tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true } }\n",
			hubPort, hubLeafPort, srv.certFile, srv.keyFile, ca.file)))
		hp.waitOutput("Server is ready")
		lp := startBinAt(t, pair[1], "-c", writeConf(t, dir, "leaf.conf", fmt.Sprintf(
			"host: 127.0.0.1\nport: %d\nleafnodes { reconnect: \"100ms\", remotes [ { url: \"tls://127.0.0.1:%d\", %s } ] }\n", leafPort, hubLeafPort, tlsBlock)))
		lp.waitOutput("Leafnode connection created")
		checkLeafPath(t, dialNATS(t, hubPort), dialNATS(t, leafPort), "tls.mixed")
		hp.cmd.Process.Kill()
		lp.cmd.Process.Kill()
		<-hp.done
		<-lp.done
	}
}

// A leaf with credentials on an operator-mode hub: the user JWT and the
// signed nonce bind the leaf to the JWT's account; a JWT that does not
// allow LEAFNODE connections is refused.
func TestLeafCredentialsOperatorHub(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", nil)
	e.extras = "leafnodes { listen: \"127.0.0.1:-1\" }\n"
	hub := e.run(e.memConfig(acc))
	userOpt, _, _ := e.user(acc, nil, nil)
	hc := connect(t, hub, userOpt)
	sub, _ := hc.SubscribeSync("creds.x")
	flushed(t, hc)

	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].Credentials = e.creds(acc, nil)
	})
	waitLeafs(t, 1, hub, leaf)
	if z := hub.Leafz(server.LeafzOptions{}); z.Leafs[0].Account != acc.pub {
		t.Fatalf("bound to %q, want %q", z.Leafs[0].Account, acc.pub)
	}
	waitLeafSub(t, leaf, "creds.x")
	lc := connect(t, leaf)
	lc.Publish("creds.x", []byte("signed"))
	flushed(t, lc)
	if m, err := sub.NextMsg(2 * time.Second); err != nil || string(m.Data) != "signed" {
		t.Fatalf("%v %v", m, err)
	}

	denied := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].Credentials = e.creds(acc, func(uc *jwt.UserClaims) {
			uc.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeStandard}
		})
	})
	time.Sleep(300 * time.Millisecond) // several refused attempts at 50 ms; nothing to await for a refusal
	if denied.NumLeafNodes() != 0 || hub.NumLeafNodes() != 1 {
		t.Fatalf("STANDARD-only JWT accepted as a leaf: %d %d", denied.NumLeafNodes(), hub.NumLeafNodes())
	}
}

// A remote URL with the leaf:// scheme dials plain TCP, as the reference
// does (nats.js "kv - mirror cross domain" writes leaf://host:port).
func TestLeafRemoteLeafScheme(t *testing.T) {
	hub := leafHub(t, nil)
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "leaf.conf",
		fmt.Sprintf("port: -1\nleafnodes { remotes [ { url: \"leaf://127.0.0.1:%d\" } ] }\n", hub.LeafAddr().Port)))
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	leaf := RunServer(t, o)
	waitLeafs(t, 1, hub, leaf)
}
