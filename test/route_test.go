package test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// clusterOptions are loopback options with a random cluster port.
func clusterOptions(name string) *server.Options {
	o := DefaultTestOptions()
	o.ServerName = name
	o.Cluster.Name = "rc"
	o.Cluster.Host = "127.0.0.1"
	o.Cluster.Port = server.RANDOM_PORT
	return o
}

// routeURL is the nats-route URL of s's route listener.
func routeURL(t testing.TB, s *server.Server, userinfo string) *url.URL {
	t.Helper()
	a := s.ClusterAddr()
	if a == nil {
		t.Fatal("no route listener")
	}
	u, err := url.Parse("nats-route://" + userinfo + a.String())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// runCluster starts n servers; every server but the first names only the
// first as its route (the seed), so gossip has to complete the mesh.
func runCluster(t testing.TB, n int, mod func(i int, o *server.Options)) []*server.Server {
	t.Helper()
	servers := make([]*server.Server, n)
	for i := range servers {
		o := clusterOptions("s" + strconv.Itoa(i))
		if i > 0 {
			o.Routes = []*url.URL{routeURL(t, servers[0], "")}
		}
		if mod != nil {
			mod(i, o)
		}
		servers[i] = RunServer(t, o)
	}
	return servers
}

// waitMesh waits until every server has routes to every other one, with
// the reference's number of connections per pair (pool of 3, plus the
// system account's own).
func waitMesh(t testing.TB, servers []*server.Server) {
	t.Helper()
	// 20 s: a restarted server's mesh re-forms through gossip and 1 s
	// jittered redials, and took over 10 s once while CI compiled.
	waitFor(t, 20*time.Second, "the full mesh", func() bool {
		for _, s := range servers {
			if s.NumRemotes() != len(servers)-1 || s.NumRoutes() != 4*(len(servers)-1) {
				return false
			}
		}
		return true
	})
}

// barrier proves that pub's server knows every subscription made so far on
// the connections subs: each subscribes a fresh subject after its real
// subscriptions, and pub publishes to it until it arrives. A server
// forwards one connection's interest in order, so the real subscriptions
// are known once the barrier's is.
func barrier(t testing.TB, pub *nats.Conn, subs ...*nats.Conn) {
	t.Helper()
	for i, nc := range subs {
		subj := nats.NewInbox()
		ch := make(chan struct{}, 1)
		sub, err := nc.Subscribe(subj, func(*nats.Msg) {
			select {
			case ch <- struct{}{}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		deadline := time.Now().Add(10 * time.Second)
		for done := false; !done; {
			pub.Publish(subj, nil)
			pub.Flush()
			select {
			case <-ch:
				done = true
			case <-time.After(20 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatalf("barrier %d: interest never reached the publisher's server", i)
				}
			}
		}
		sub.Unsubscribe()
	}
}

func TestRouteSeedFormsFullMesh(t *testing.T) {
	servers := runCluster(t, 3, nil)
	waitMesh(t, servers)
	// Clients are told every server's address.
	nc := connect(t, servers[0])
	waitFor(t, 5*time.Second, "discovered servers", func() bool { return len(nc.DiscoveredServers()) == 2 })
	for _, u := range nc.DiscoveredServers() {
		found := false
		for _, s := range servers[1:] {
			if strings.HasSuffix(u, s.Addr().String()) {
				found = true
			}
		}
		if !found {
			t.Fatalf("unknown discovered server %s", u)
		}
	}
}

func TestRoutePubSubRequestAndUnsub(t *testing.T) {
	servers := runCluster(t, 3, nil)
	waitMesh(t, servers)
	pub, sub := connect(t, servers[0]), connect(t, servers[2])
	got := make(chan *nats.Msg, 10)
	s1, _ := sub.ChanSubscribe("foo.*", got)
	sub.Subscribe("svc", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	barrier(t, pub, sub)

	hm := nats.NewMsg("foo.bar")
	hm.Header.Set("X-Test", "1")
	hm.Data = []byte("with header")
	pub.PublishMsg(hm)
	pub.Publish("foo.baz", []byte("plain"))
	for _, want := range []string{"with header", "plain"} {
		select {
		case m := <-got:
			if string(m.Data) != want {
				t.Fatalf("got %q, want %q", m.Data, want)
			}
			if want == "with header" && m.Header.Get("X-Test") != "1" {
				t.Fatalf("header lost across the route: %v", m.Header)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("message %q not routed", want)
		}
	}
	r, err := pub.Request("svc", []byte("q"), 2*time.Second)
	if err != nil || string(r.Data) != "re:q" {
		t.Fatalf("request across the cluster: %v %v", r, err)
	}

	// After the unsubscribe reaches server 0, nothing more is routed.
	s1.Unsubscribe()
	barrier(t, pub, sub)
	pub.Publish("foo.bar", []byte("late"))
	pub.Flush()
	barrier(t, pub, sub)
	select {
	case m := <-got:
		t.Fatalf("delivered after unsubscribe: %q", m.Data)
	default:
	}
	// No responders travel across routes too.
	if _, err := pub.Request("nobody.home", nil, time.Second); err != nats.ErrNoResponders {
		t.Fatalf("expected no responders, got %v", err)
	}
}

func TestRouteQueueGroupDeliversOnceAcrossCluster(t *testing.T) {
	servers := runCluster(t, 3, nil)
	waitMesh(t, servers)
	pub := connect(t, servers[0])
	var counts [2]atomic.Int64
	var plain atomic.Int64
	var subs []*nats.Conn
	for i := 1; i <= 2; i++ {
		nc := connect(t, servers[i])
		idx := i - 1
		for j := 0; j < 2; j++ {
			nc.QueueSubscribe("work", "q", func(*nats.Msg) { counts[idx].Add(1) })
		}
		subs = append(subs, nc)
	}
	watcher := connect(t, servers[2])
	seen := make(map[string]int)
	var mu sync.Mutex
	watcher.Subscribe("work", func(m *nats.Msg) {
		plain.Add(1)
		mu.Lock()
		seen[string(m.Data)]++
		mu.Unlock()
	})
	subs = append(subs, watcher)
	barrier(t, pub, subs...)
	const n = 10000
	for i := 0; i < n; i++ {
		pub.Publish("work", []byte(strconv.Itoa(i)))
	}
	pub.Flush()
	waitFor(t, 10*time.Second, "every message", func() bool {
		return counts[0].Load()+counts[1].Load() >= n && plain.Load() >= n
	})
	barrier(t, pub, subs...)
	if total := counts[0].Load() + counts[1].Load(); total != n {
		t.Fatalf("queue group got %d messages for %d published", total, n)
	}
	if counts[0].Load() == 0 || counts[1].Load() == 0 {
		t.Fatalf("one server's members got nothing: %d/%d", counts[0].Load(), counts[1].Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n || plain.Load() != n {
		t.Fatalf("plain subscriber: %d distinct of %d deliveries, want %d each", len(seen), plain.Load(), n)
	}

	// A member on the publisher's own server takes everything.
	var local atomic.Int64
	pub.QueueSubscribe("work", "q", func(*nats.Msg) { local.Add(1) })
	pub.Flush()
	before := counts[0].Load() + counts[1].Load()
	for i := 0; i < 100; i++ {
		pub.Publish("work", nil)
	}
	pub.Flush()
	waitFor(t, 5*time.Second, "local member", func() bool { return local.Load() == 100 })
	barrier(t, pub, subs...)
	if after := counts[0].Load() + counts[1].Load(); after != before {
		t.Fatalf("remote members got %d messages a local member took", after-before)
	}
}

func TestRouteAuthorization(t *testing.T) {
	seed := RunServer(t, func() *server.Options {
		o := clusterOptions("seed")
		o.Cluster.Username, o.Cluster.Password = "ruser", "rpass"
		return o
	}())
	good := clusterOptions("good")
	good.Routes = []*url.URL{routeURL(t, seed, "ruser:rpass@")}
	gs := RunServer(t, good)
	waitMesh(t, []*server.Server{seed, gs})

	bad := clusterOptions("bad")
	bad.Routes = []*url.URL{routeURL(t, seed, "ruser:wrong@")}
	bs, logs := runLoggedServer(t, bad)
	logs.waitLog(t, "Authorization Violation")
	// It took the seed's INFO for a route until the seed refused it.
	waitFor(t, 2*time.Second, "the refused route to go", func() bool { return bs.NumRemotes() == 0 })
	if seed.NumRemotes() != 1 {
		t.Fatalf("a route with bad credentials was accepted: %d/%d", bs.NumRemotes(), seed.NumRemotes())
	}
}

func TestRouteClusterNameMismatchAndSelf(t *testing.T) {
	a := RunServer(t, clusterOptions("a"))
	o := clusterOptions("b")
	o.Cluster.Name = "other"
	o.Routes = []*url.URL{routeURL(t, a, "")}
	b, logs := runLoggedServer(t, o)
	logs.waitLog(t, "does not match")
	if a.NumRemotes() != 0 || b.NumRemotes() != 0 {
		t.Fatal("servers of different clusters were joined")
	}

	// A server whose routes include itself ignores that one.
	self := clusterOptions("self")
	self.Cluster.Port = freePort(t)
	self.Routes = []*url.URL{{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(self.Cluster.Port)}}
	ss, slog := runLoggedServer(t, self)
	slog.waitLog(t, "route to self")
	if ss.NumRemotes() != 0 {
		t.Fatal("a route to self was registered")
	}
}

func TestRouteRestartRejoins(t *testing.T) {
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		if i == 2 {
			o.Cluster.Port = freePort(t)
		}
	})
	waitMesh(t, servers)
	port := servers[2].ClusterAddr().Port
	servers[2].Shutdown()
	waitFor(t, 5*time.Second, "the others to drop it", func() bool {
		return servers[0].NumRemotes() == 1 && servers[1].NumRemotes() == 1
	})
	o := clusterOptions("s2again")
	o.Cluster.Port = port
	o.Routes = []*url.URL{routeURL(t, servers[0], "")}
	servers[2] = RunServer(t, o)
	waitMesh(t, servers)
	pub, sub := connect(t, servers[1]), connect(t, servers[2])
	ch := make(chan *nats.Msg, 1)
	sub.ChanSubscribe("again", ch)
	barrier(t, pub, sub)
	pub.Publish("again", []byte("x"))
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("not routed to the restarted server")
	}
}

func TestRouteSeedRestartIsRedialled(t *testing.T) {
	seedPort := freePort(t)
	servers := runCluster(t, 2, func(i int, o *server.Options) {
		if i == 0 {
			o.Cluster.Port = seedPort
		}
	})
	waitMesh(t, servers)
	servers[0].Shutdown()
	waitFor(t, 5*time.Second, "the route to drop", func() bool { return servers[1].NumRemotes() == 0 })
	o := clusterOptions("seed-again")
	o.Cluster.Port = seedPort
	servers[0] = RunServer(t, o)
	waitMesh(t, servers)
}

func TestRouteClientFailoverToDiscoveredServer(t *testing.T) {
	servers := runCluster(t, 3, nil)
	waitMesh(t, servers)
	reconnected := make(chan string, 1)
	nc := connect(t, servers[0], nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0),
		nats.ReconnectHandler(func(c *nats.Conn) { reconnected <- c.ConnectedUrl() }))
	waitFor(t, 5*time.Second, "discovered servers", func() bool { return len(nc.DiscoveredServers()) == 2 })
	servers[0].Shutdown()
	select {
	case u := <-reconnected:
		if strings.HasSuffix(u, servers[0].Addr().String()) {
			t.Fatalf("reconnected to the server that went away: %s", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client did not fail over to a discovered server")
	}
}

func TestRouteSystemPingGathersEveryServer(t *testing.T) {
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "SYS"}}
		o.SystemAccount = "SYS"
		o.Users = []*server.User{{Username: "sys", Password: "sys", Account: "SYS"}}
	})
	waitMesh(t, servers)
	nc := connect(t, servers[0], nats.UserInfo("sys", "sys"))
	inbox := nats.NewInbox()
	sub, _ := nc.SubscribeSync(inbox)
	nc.Flush()
	// The other servers may not know the inbox yet: ask until all answer.
	names := map[string]bool{}
	waitFor(t, 10*time.Second, "every server's answer", func() bool {
		nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil)
		for {
			m, err := sub.NextMsg(100 * time.Millisecond)
			if err != nil {
				break
			}
			var r struct {
				Server struct {
					Name    string `json:"name"`
					Cluster string `json:"cluster"`
				} `json:"server"`
				Stats struct {
					Routes        []map[string]any `json:"routes"`
					ActiveServers int              `json:"active_servers"`
				} `json:"statsz"`
			}
			if json.Unmarshal(m.Data, &r) == nil && r.Server.Cluster == "rc" &&
				len(r.Stats.Routes) == 8 && r.Stats.ActiveServers == 3 {
				names[r.Server.Name] = true
			}
		}
		return len(names) == 3
	})
}

func TestRouteAccountsStayApart(t *testing.T) {
	servers := runCluster(t, 2, func(i int, o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "A"}, {Name: "B"}}
		o.Users = []*server.User{{Username: "a", Password: "a", Account: "A"}, {Username: "b", Password: "b", Account: "B"}}
		o.Cluster.PinnedAccounts = []string{"B"}
	})
	waitFor(t, 10*time.Second, "the mesh with B's own route", func() bool {
		return servers[0].NumRoutes() == 5 && servers[1].NumRoutes() == 5
	})
	subA := connect(t, servers[1], nats.UserInfo("a", "a"))
	subB := connect(t, servers[1], nats.UserInfo("b", "b"))
	pubA := connect(t, servers[0], nats.UserInfo("a", "a"))
	pubB := connect(t, servers[0], nats.UserInfo("b", "b"))
	chA, chB := make(chan *nats.Msg, 4), make(chan *nats.Msg, 4)
	subA.ChanSubscribe("x", chA)
	subB.ChanSubscribe("x", chB)
	barrier(t, pubA, subA)
	barrier(t, pubB, subB)
	pubA.Publish("x", []byte("from A"))
	pubB.Publish("x", []byte("from B"))
	for _, c := range []struct {
		ch   chan *nats.Msg
		want string
	}{{chA, "from A"}, {chB, "from B"}} {
		select {
		case m := <-c.ch:
			if string(m.Data) != c.want {
				t.Fatalf("got %q, want %q", m.Data, c.want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s not routed", c.want)
		}
	}
	barrier(t, pubA, subA)
	barrier(t, pubB, subB)
	if len(chA)+len(chB) != 0 {
		t.Fatal("a message crossed accounts")
	}
}

func TestRouteOptionsRefused(t *testing.T) {
	for _, c := range []struct{ conf, want string }{
		{"cluster { port: -1, tls { cert_file: x } }", "key_file"},
		{"cluster { port: -1, name: \"a b\" }", "cannot contain spaces"},
		{"cluster { port: -1, bogus: 1 }", "unknown field"},
		{"jetstream: enabled\ncluster { port: -1 }", "jetstream cluster requires `server_name` to be set"},
		{"server_name: a\njetstream: enabled\ncluster { port: -1 }", "jetstream cluster requires `cluster.name` to be set"},
		{"cluster { port: -1, routes: [\"nats://\"] }", "route url"},
	} {
		dir := t.TempDir()
		p := writeConf(t, dir, "c.conf", c.conf)
		o, err := server.ProcessConfigFile(p)
		if err == nil {
			_, err = server.NewServer(o)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.conf, err, c.want)
		}
	}
}

func TestRouteFlags(t *testing.T) {
	o := parseFlags(t, "--cluster", "nats://u:p@127.0.0.1:6333", "--routes", "nats://127.0.0.1:6334,nats://127.0.0.1:6335",
		"--cluster_name", "cn", "--cluster_advertise", "10.0.0.1:6333", "--no_advertise", "--connect_retries", "7")
	c := o.Cluster
	if c.Host != "127.0.0.1" || c.Port != 6333 || c.Username != "u" || c.Password != "p" || c.Name != "cn" ||
		c.Advertise != "10.0.0.1:6333" || !c.NoAdvertise || c.ConnectRetries != 7 || len(o.Routes) != 2 ||
		o.Routes[1].Host != "127.0.0.1:6335" {
		t.Fatalf("cluster flags not applied: %+v routes %v", c, o.Routes)
	}
}

func parseFlags(t *testing.T, args ...string) *server.Options {
	t.Helper()
	o, _, err := server.ConfigureOptions(flag.NewFlagSet("nats-server", flag.ContinueOnError), args)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return o
}

func TestRouteMonitoring(t *testing.T) {
	servers := runCluster(t, 2, func(i int, o *server.Options) {
		if i == 0 {
			o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
		}
	})
	waitMesh(t, servers)
	base := "http://" + servers[0].MonitorAddr().String()
	sub := connect(t, servers[1])
	sub.Subscribe("watched.subject", func(*nats.Msg) {})
	barrier(t, connect(t, servers[0]), sub)

	rz := getMap(t, base+"/routez?subs=1")
	if rz["num_routes"].(float64) != 4 {
		t.Fatalf("num_routes %v, want 4", rz["num_routes"])
	}
	var sysRoutes int
	listed := false
	for _, e := range rz["routes"].([]any) {
		r := e.(map[string]any)
		for _, k := range []string{"rid", "remote_id", "remote_name", "did_solicit", "is_configured", "ip", "port",
			"start", "last_activity", "uptime", "idle", "pending_size", "in_msgs", "out_msgs", "in_bytes",
			"out_bytes", "subscriptions", "compression"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("route entry without %q: %v", k, r)
			}
		}
		if r["remote_id"] != servers[1].ID() || r["remote_name"] != "s1" {
			t.Fatalf("remote %v/%v, want %s/s1", r["remote_id"], r["remote_name"], servers[1].ID())
		}
		if r["account"] == "$SYS" {
			sysRoutes++
		}
		for _, s := range asStrings(r["subscriptions_list"]) {
			if s == "watched.subject" {
				listed = true
			}
		}
	}
	if sysRoutes != 1 || !listed {
		t.Fatalf("system account routes %d (want 1); remote subscription listed: %v", sysRoutes, listed)
	}

	v := getMap(t, base+"/varz")
	c := v["cluster"].(map[string]any)
	if c["name"] != "rc" || int(c["cluster_port"].(float64)) != servers[0].ClusterAddr().Port || c["pool_size"].(float64) != 3 {
		t.Fatalf("varz cluster section: %v", c)
	}
	if v["routes"].(float64) != 4 || v["remotes"].(float64) != 1 {
		t.Fatalf("varz routes %v remotes %v, want 4 and 1", v["routes"], v["remotes"])
	}
}

func asStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestRouteTLSWithVerify(t *testing.T) {
	ca := newTestCA(t, "route-ca")
	routeCert := func(ca *testCA, name string) *issued {
		return ca.issue(t, name, &x509.Certificate{
			Subject:     pkix.Name{CommonName: name},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		})
	}
	cert := routeCert(ca, "route")
	tlsOpts := func(c *issued, caFile string) *server.TLSConfigOpts {
		return &server.TLSConfigOpts{CertFile: c.certFile, KeyFile: c.keyFile, CaFile: caFile, Verify: true}
	}
	servers := runCluster(t, 3, func(i int, o *server.Options) { o.Cluster.TLS = tlsOpts(cert, ca.file) })
	waitMesh(t, servers)
	pub, sub := connect(t, servers[0]), connect(t, servers[2])
	ch := make(chan *nats.Msg, 1)
	sub.ChanSubscribe("secure", ch)
	barrier(t, pub, sub)
	pub.Publish("secure", []byte("x"))
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("not routed over TLS")
	}

	// A server whose certificate the cluster's CA did not sign is refused,
	// and so is one without TLS.
	other := newTestCA(t, "other-ca")
	o := clusterOptions("stranger")
	o.Cluster.TLS = tlsOpts(routeCert(other, "stranger"), ca.file)
	o.Routes = []*url.URL{routeURL(t, servers[0], "")}
	stranger, logs := runLoggedServer(t, o)
	// With TLS 1.3 the client side learns of the refusal on its first read.
	logs.waitLog(t, "Router connection closed")
	plain := clusterOptions("plain")
	plain.Routes = []*url.URL{routeURL(t, servers[0], "")}
	p, plog := runLoggedServer(t, plain)
	plog.waitLog(t, "Router connection closed")
	waitFor(t, 2*time.Second, "the refused routes to go", func() bool {
		return stranger.NumRemotes() == 0 && p.NumRemotes() == 0
	})
	if servers[0].NumRemotes() != 2 {
		t.Fatalf("untrusted routes joined: %d %d %d", stranger.NumRemotes(), p.NumRemotes(), servers[0].NumRemotes())
	}
}

func TestRouteReloadRoutesAndRefusals(t *testing.T) {
	b := RunServer(t, clusterOptions("b"))
	c := RunServer(t, clusterOptions("c"))
	dir := t.TempDir()
	conf := func(routes ...*server.Server) string {
		var list []string
		for _, r := range routes {
			list = append(list, `"`+routeURL(t, r, "").String()+`"`)
		}
		return "listen: 127.0.0.1:-1\nserver_name: a\ncluster { name: rc, listen: 127.0.0.1:-1, no_advertise: false, routes: [" +
			strings.Join(list, ", ") + "] }\n"
	}
	p := writeConf(t, dir, "a.conf", conf(b))
	o, err := server.ProcessConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	a := RunServer(t, o)
	waitFor(t, 10*time.Second, "a route to b", func() bool { return b.NumRemotes() == 1 && a.NumRemotes() == 1 })

	// A new route is solicited; c learns b through gossip.
	writeConf(t, dir, "a.conf", conf(b, c))
	if err := a.Reload(); err != nil {
		t.Fatalf("reload adding a route: %v", err)
	}
	waitMesh(t, []*server.Server{a, b, c})

	// A removed configured route is closed and not retried.
	writeConf(t, dir, "a.conf", conf(c))
	if err := a.Reload(); err != nil {
		t.Fatalf("reload removing a route: %v", err)
	}
	waitFor(t, 5*time.Second, "the removed route to close", func() bool {
		return a.NumRemotes() == 1 && b.NumRemotes() == 1 && c.NumRemotes() == 2
	})

	// What cannot change live is refused, naming it.
	writeConf(t, dir, "a.conf", strings.Replace(conf(c), "name: rc", "name: other", 1))
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "cluster name") {
		t.Fatalf("expected the cluster name change refused, got %v", err)
	}
}

func TestRouteLameDuckLeavesConnectURLs(t *testing.T) {
	servers := runCluster(t, 2, func(i int, o *server.Options) {
		o.LameDuckDuration, o.LameDuckGracePeriod = 20*time.Second, 19*time.Second
	})
	waitMesh(t, servers)
	connect(t, servers[1]) // keeps server 1 in lame duck mode instead of stopping
	rc := dialRaw(t, servers[0])
	ducking := servers[1].Addr().String()
	if !strings.Contains(rc.info, ducking) {
		t.Fatalf("INFO does not advertise %s: %s", ducking, rc.info)
	}
	rc.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
	go servers[1].LameDuckShutdown()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		line := rc.readLine()
		if strings.HasPrefix(line, "INFO ") && strings.Contains(line, "connect_urls") && !strings.Contains(line, ducking) {
			return
		}
	}
	t.Fatal("clients were not told to leave the server in lame duck mode")
}

// The INFO a server sends its clients when a route brings new connect_urls
// carries each client's own client_id (and no client_ip), as the
// reference's does: nats.c reads its client id from every INFO and answers
// "not supported by server" when one lacks it.
func TestRouteAsyncInfoCarriesClientID(t *testing.T) {
	seed := RunServer(t, clusterOptions("s0"))
	rc := dialRaw(t, seed)
	var first server.Info
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.info, "INFO ")), &first); err != nil || first.CID == 0 {
		t.Fatalf("INFO %q: client_id %d, %v", rc.info, first.CID, err)
	}
	rc.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
	for rc.readLine() != "PONG" { // CONNECT processed: protocol 1 known
	}
	o := clusterOptions("s1")
	o.Routes = []*url.URL{routeURL(t, seed, "")}
	joined := RunServer(t, o)
	waitMesh(t, []*server.Server{seed, joined})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		line := rc.readLine()
		if !strings.HasPrefix(line, "INFO ") || !strings.Contains(line, joined.Addr().String()) {
			continue
		}
		var info server.Info
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
			t.Fatalf("async INFO %q: %v", line, err)
		}
		if info.CID != first.CID || info.ClientIP != "" {
			t.Fatalf("async INFO has client_id %d client_ip %q, want %d and none: %s", info.CID, info.ClientIP, first.CID, line)
		}
		return
	}
	t.Fatal("no INFO with the joined server's connect URL")
}

func TestRouteBothSidesSolicitingKeepOnePool(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	mk := func(name string, own, other int) *server.Options {
		o := clusterOptions(name)
		o.Cluster.Port = own
		o.Routes = []*url.URL{{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(other)}}
		return o
	}
	a := RunServer(t, mk("a", pa, pb))
	b := RunServer(t, mk("b", pb, pa))
	servers := []*server.Server{a, b}
	waitMesh(t, servers)
	// Traffic flows both ways over the connections that were kept.
	for i, pub := range []*nats.Conn{connect(t, a), connect(t, b)} {
		sub := connect(t, servers[1-i])
		ch := make(chan *nats.Msg, 1)
		sub.ChanSubscribe("dup", ch)
		barrier(t, pub, sub)
		pub.Publish("dup", nil)
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			t.Fatalf("not routed from server %d", i)
		}
	}
	if a.NumRoutes() != 4 || b.NumRoutes() != 4 {
		t.Fatalf("duplicate routes kept: %d and %d connections", a.NumRoutes(), b.NumRoutes())
	}
}

func TestRouteSilentPeerIsDropped(t *testing.T) {
	s := RunServer(t, clusterOptions("s"))
	c, err := net.Dial("tcp", s.ClusterAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// It gets our INFO and, saying nothing, is closed after the handshake
	// timeout (the 2 s auth timeout plus a second).
	c.SetReadDeadline(time.Now().Add(6 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a silent route connection was kept")
			}
			return
		}
	}
}

func TestRouteImportsAcrossCluster(t *testing.T) {
	servers := runCluster(t, 2, func(i int, o *server.Options) {
		o.Accounts = []*server.AccountOpts{
			{Name: "Y", Exports: []*server.ExportOpts{{Service: "svc"}, {Stream: "ev.>"}}},
			{Name: "X", Imports: []*server.ImportOpts{{Account: "Y", Service: "svc"}, {Account: "Y", Stream: "ev.>"}}},
		}
		o.Users = []*server.User{{Username: "x", Password: "x", Account: "X"}, {Username: "y", Password: "y", Account: "Y"}}
	})
	waitMesh(t, servers)
	// The responder and the stream's publisher in Y on server 1, the
	// requester and the stream's subscriber in X on server 0.
	y := connect(t, servers[1], nats.UserInfo("y", "y"))
	y.Subscribe("svc", func(m *nats.Msg) { m.Respond([]byte("answer")) })
	x := connect(t, servers[0], nats.UserInfo("x", "x"))
	ev := make(chan *nats.Msg, 4)
	x.ChanSubscribe("ev.*", ev)
	barrier(t, connect(t, servers[0], nats.UserInfo("y", "y")), y)
	waitFor(t, 10*time.Second, "the service answer across the cluster", func() bool {
		m, err := x.Request("svc", nil, 300*time.Millisecond)
		return err == nil && string(m.Data) == "answer"
	})
	x1 := connect(t, servers[1], nats.UserInfo("x", "x")) // X's side of server 1
	barrier(t, x1, x)
	y.Publish("ev.1", []byte("e"))
	select {
	case m := <-ev:
		if string(m.Data) != "e" {
			t.Fatalf("stream import delivered %q", m.Data)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stream import not routed")
	}
	y.Flush()
	barrier(t, x1, x)
	if len(ev) != 0 {
		t.Fatal("stream import delivered twice")
	}
}

func TestRouteTracedMessageIsRouted(t *testing.T) {
	servers := runCluster(t, 2, nil)
	waitMesh(t, servers)
	pub, sub := connect(t, servers[0]), connect(t, servers[1])
	got := make(chan *nats.Msg, 4)
	sub.ChanSubscribe("traced", got)
	traces := make(chan *nats.Msg, 4)
	pub.ChanSubscribe("trace.dest", traces)
	barrier(t, pub, sub)
	m := nats.NewMsg("traced")
	m.Header.Set("Nats-Trace-Dest", "trace.dest")
	m.Data = []byte("t")
	pub.PublishMsg(m)
	pub.Publish("traced", []byte("after"))
	for _, want := range []string{"t", "after"} {
		select {
		case m := <-got:
			if string(m.Data) != want {
				t.Fatalf("got %q, want %q", m.Data, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%q not routed (route broken by the traced message?)", want)
		}
	}
	select {
	case <-traces:
	case <-time.After(2 * time.Second):
		t.Fatal("no trace document")
	}
	if servers[0].NumRoutes() != 4 {
		t.Fatalf("routes after a traced message: %d", servers[0].NumRoutes())
	}
}
