package test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

func TestRouteAuthConfig(t *testing.T) {
	for _, c := range []struct{ conf, want string }{
		{`authorization { token: "tok" }`, "Cluster authorization does not support tokens"},
		{`authorization { users: [{user: a, password: b}] }`, "Cluster authorization does not allow multiple users"},
		{`authorization { nkey: x }`, `unknown field "nkey"`},
		{`pool_size: -2`, "invalid cluster pool_size of -2"},
		{`permissions { import: { allow: ["a..b"] } }`, "invalid subject"},
	} {
		p := writeConf(t, t.TempDir(), "c.conf", "cluster { port: -1, "+c.conf+" }")
		if _, err := server.ProcessConfigFile(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.conf, err, c.want)
		}
	}
	// Permissions inside authorization are the route permissions, with
	// the reference's deprecation warning.
	p := writeConf(t, t.TempDir(), "c.conf", `cluster { port: -1, authorization { user: u, password: p, permissions { publish: "imp.>", subscribe: "exp.>" } }, pool_size: -1 }`)
	o, err := server.ProcessConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rp := o.Cluster.Permissions
	if rp == nil || rp.Import == nil || rp.Import.Allow[0] != "imp.>" || rp.Export == nil || rp.Export.Allow[0] != "exp.>" {
		t.Fatalf("authorization permissions not taken as route permissions: %+v", rp)
	}
	if o.Cluster.PoolSize != -1 {
		t.Fatalf("pool_size %d, want -1", o.Cluster.PoolSize)
	}
	if w := fmt.Sprint(o.ConfigWarnings()); !strings.Contains(w, `setting "permissions" within cluster authorization block is deprecated`) {
		t.Fatalf("warnings %s", w)
	}
}

// A refused route is logged on both sides in the reference's words.
func TestRouteAuthFailureLogs(t *testing.T) {
	so := clusterOptions("seed")
	so.Cluster.Username, so.Cluster.Password = "ruser", "rpass"
	seed, seedLog := runLoggedServer(t, so)
	bad := clusterOptions("bad")
	bad.Routes = []*url.URL{routeURL(t, seed, "ruser:wrong@")}
	_, badLog := runLoggedServer(t, bad)
	seedLog.waitLog(t, `authentication error - User "ruser"`)
	seedLog.waitLog(t, "Router connection closed: Authentication Failure")
	badLog.waitLog(t, "Route Error 'Authorization Violation'")

	anon := clusterOptions("anon")
	anon.Routes = []*url.URL{routeURL(t, seed, "")}
	runLoggedServer(t, anon)
	waitFor(t, 3*time.Second, "a refusal without a user name", func() bool {
		line := seedLog.find("authentication error")
		for line != "" && strings.Contains(line, "User") {
			line = seedLog.findAfter(line, "authentication error")
		}
		return line != ""
	})
}

// permissionProbe subscribes subsA on a and subsB on b, publishes each
// side's subjects from the other side, and returns what each received
// from the other server.
func permissionProbe(t *testing.T, a, b *nats.Conn, subsA, subsB []string) (gotA, gotB map[string]bool) {
	t.Helper()
	collect := func(nc *nats.Conn, subjects []string) (map[string]bool, chan string) {
		got := make(map[string]bool)
		ch := make(chan string, 64)
		for _, s := range subjects {
			nc.Subscribe(s, func(m *nats.Msg) { ch <- m.Subject })
		}
		nc.Flush()
		return got, ch
	}
	gotA, chA := collect(a, subsA)
	gotB, chB := collect(b, subsB)
	// Barriers: interest both ways is known once a fresh subject crosses.
	barrier(t, b, a)
	barrier(t, a, b)
	for _, s := range subsA {
		b.Publish(s, nil)
	}
	for _, s := range subsB {
		a.Publish(s, nil)
	}
	a.Flush()
	b.Flush()
	// What crosses arrives before a later request's answer on the same
	// routes does.
	barrier(t, a, b)
	barrier(t, b, a)
	for len(chA) > 0 {
		gotA[<-chA] = true
	}
	for len(chB) > 0 {
		gotB[<-chB] = true
	}
	return gotA, gotB
}

// Import limits what a server takes from routes (and the interest it
// sends), export what it serves to them: as observed on the reference.
func TestRoutePermissionsImportExport(t *testing.T) {
	oa := clusterOptions("a")
	oa.HTTPHost, oa.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	oa.Cluster.Permissions = &server.RoutePermissions{
		Import: &server.SubjectPermission{Allow: []string{"imp.>", "_INBOX.>"}},
		Export: &server.SubjectPermission{Allow: []string{"exp.>", "_INBOX.>"}},
	}
	a := RunServer(t, oa)
	ob := clusterOptions("b")
	ob.Routes = []*url.URL{routeURL(t, a, "")}
	b := RunServer(t, ob)
	waitMesh(t, []*server.Server{a, b})
	gotA, gotB := permissionProbe(t, connect(t, a), connect(t, b),
		[]string{"imp.1", "x.1", "exp.1"}, []string{"exp.2", "y.2", "imp.2"})
	if !gotA["imp.1"] || gotA["x.1"] || gotA["exp.1"] || len(gotA) != 1 {
		t.Errorf("a took from the route %v, want only imp.1", gotA)
	}
	if !gotB["exp.2"] || gotB["y.2"] || gotB["imp.2"] || len(gotB) != 1 {
		t.Errorf("a gave the route %v, want only exp.2", gotB)
	}
	rz := getMap(t, "http://"+a.MonitorAddr().String()+"/routez")
	imp, _ := rz["import"].(map[string]any)
	exp, _ := rz["export"].(map[string]any)
	if imp == nil || exp == nil || asStrings(imp["allow"])[0] != "imp.>" || asStrings(exp["allow"])[0] != "exp.>" {
		t.Fatalf("/routez permissions: import %v export %v", rz["import"], rz["export"])
	}
}

// The same rules hold between ours and the reference, whichever has them.
func TestRouteMixedPermissions(t *testing.T) {
	ref := refBin(t)
	for _, permsOnRef := range []bool{true, false} {
		t.Run(fmt.Sprintf("permissions on the reference %v", permsOnRef), func(t *testing.T) {
			perms := `permissions { import: ["imp.>", "_INBOX.>"], export: ["exp.>", "_INBOX.>"] }`
			nodes := newNodes(t, serverBin, ref)
			if !permsOnRef {
				nodes[0].bin, nodes[1].bin = ref, serverBin
			}
			conf := filepath.Join(t.TempDir(), "perms.conf")
			os.WriteFile(conf, []byte("cluster { "+perms+" }\n"), 0o644)
			nodes[1].extra = []string{"-c", conf}
			nodes[1].start(t, nil)
			nodes[0].start(t, nodes[1])
			a, err := nats.Connect(nodes[1].url())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := nats.Connect(nodes[0].url())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			waitFor(t, 10*time.Second, "the route", func() bool {
				_, err := b.Request("exp.ping", nil, 100*time.Millisecond)
				return err == nats.ErrNoResponders || err == nil
			})
			gotA, gotB := permissionProbe(t, a, b, []string{"imp.1", "x.1", "exp.1"}, []string{"exp.2", "y.2", "imp.2"})
			if !gotA["imp.1"] || len(gotA) != 1 || !gotB["exp.2"] || len(gotB) != 1 {
				t.Errorf("with permissions: took %v (want imp.1), gave %v (want exp.2)", gotA, gotB)
			}
		})
	}
}

// pool_size -1: one connection per pair of servers for every account (the
// system account's too), accounts named on it, ours and the reference's.
func TestRouteNoPooling(t *testing.T) {
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		o.Cluster.PoolSize = -1
		o.Accounts = []*server.AccountOpts{{Name: "A"}, {Name: "B"}}
		o.Users = []*server.User{{Username: "a", Password: "a", Account: "A"}, {Username: "b", Password: "b", Account: "B"}}
	})
	waitFor(t, 10*time.Second, "one connection per pair", func() bool {
		for _, s := range servers {
			if s.NumRemotes() != 2 || s.NumRoutes() != 2 {
				return false
			}
		}
		return true
	})
	for _, user := range []string{"a", "b"} {
		pub := connect(t, servers[0], nats.UserInfo(user, user))
		sub := connect(t, servers[2], nats.UserInfo(user, user))
		ch := make(chan *nats.Msg, 4)
		sub.ChanSubscribe("x", ch)
		barrier(t, pub, sub)
		pub.Publish("x", []byte(user))
		select {
		case m := <-ch:
			if string(m.Data) != user {
				t.Fatalf("account %s got %q", user, m.Data)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("account %s: not routed", user)
		}
		barrier(t, pub, sub)
		if len(ch) != 0 {
			t.Fatalf("account %s: delivered twice or across accounts", user)
		}
	}

	ref := refBin(t)
	nodes := newNodes(t, serverBin, ref, serverBin)
	conf := filepath.Join(t.TempDir(), "nopool.conf")
	os.WriteFile(conf, []byte("cluster { pool_size: -1 }\n"), 0o644)
	for _, n := range nodes {
		n.extra = []string{"-c", conf, "-m", strconv.Itoa(freePort(t))}
	}
	for _, n := range nodes {
		n.start(t, nodes[0])
	}
	checkAllPairs(t, nodes)
	for _, n := range nodes {
		if n.bin != serverBin {
			continue
		}
		monitor := "http://127.0.0.1:" + n.extra[len(n.extra)-1]
		if rz := getMap(t, monitor+"/routez"); rz["num_routes"].(float64) != 2 {
			t.Fatalf("our server has %v route connections, want 2", rz["num_routes"])
		}
	}
}

// Imports configured on one server only: a publisher in the exporting
// account on another server reaches the importer's stream subscriber, and
// a requester through a service import reaches a responder on another
// server; each once. With the import on both servers, still once.
func TestRouteImportOnOneServer(t *testing.T) {
	for _, both := range []bool{false, true} {
		servers := runCluster(t, 2, func(i int, o *server.Options) {
			y := &server.AccountOpts{Name: "Y", Exports: []*server.ExportOpts{{Service: "svc"}, {Stream: "ev.>"}}}
			x := &server.AccountOpts{Name: "X"}
			if i == 0 || both {
				x.Imports = []*server.ImportOpts{{Account: "Y", Service: "svc"}, {Account: "Y", Stream: "ev.>"}}
			}
			o.Accounts = []*server.AccountOpts{y, x}
			o.Users = []*server.User{{Username: "x", Password: "x", Account: "X"}, {Username: "y", Password: "y", Account: "Y"}}
		})
		waitMesh(t, servers)
		x := connect(t, servers[0], nats.UserInfo("x", "x"))
		ev := make(chan *nats.Msg, 4096)
		x.ChanSubscribe("ev.*", ev)
		y := connect(t, servers[1], nats.UserInfo("y", "y"))
		y.Subscribe("svc", func(m *nats.Msg) { m.Respond([]byte("answer")) })
		y.Flush()
		waitFor(t, 10*time.Second, "the service answer across the cluster", func() bool {
			m, err := x.Request("svc", nil, 300*time.Millisecond)
			return err == nil && string(m.Data) == "answer"
		})
		// The stream: publish until the first one arrives, then count.
		waitFor(t, 10*time.Second, "the stream import across the cluster", func() bool {
			y.Publish("ev.probe", nil)
			y.Flush()
			select {
			case <-ev:
				return true
			case <-time.After(50 * time.Millisecond):
				return false
			}
		})
		// A duplicate would come in X's account (the publisher's server
		// carrying it across its own import): a barrier on that path, after
		// the last event came on the exporter's, bounds it.
		x1 := connect(t, servers[1], nats.UserInfo("x", "x"))
		drain := func() int {
			y.Publish("ev.end", nil)
			y.Flush()
			n := 0
			for {
				select {
				case m := <-ev:
					if m.Subject == "ev.end" {
						barrier(t, x1, x)
						return n + len(ev)
					}
					n++
				case <-time.After(5 * time.Second):
					t.Fatal("end marker not delivered")
				}
			}
		}
		drain()
		for len(ev) > 0 {
			<-ev
		}
		for i := 0; i < 10; i++ {
			y.Publish("ev.n", []byte(strconv.Itoa(i)))
		}
		if n := drain(); n != 10 {
			t.Fatalf("import on both servers %v: %d deliveries of 10 events", both, n)
		}
		for _, s := range servers {
			s.Shutdown()
		}
	}
}
