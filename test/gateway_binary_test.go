package test

import (
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// refGatewayNode is a reference server of cluster R with a gateway block.
type refGatewayNode struct {
	port, clusterPort, gwPort int
	p                         *proc
}

func (n *refGatewayNode) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// startRefGatewayCluster starts two reference servers in cluster R, both
// naming gateway A at aURL, the first on gateway port gw0, with a system
// account and a default user; gwExtra goes into the gateway block.
func startRefGatewayCluster(t *testing.T, aURL string, gw0 int, gwExtra string) []*refGatewayNode {
	t.Helper()
	bin := refBin(t)
	dir := t.TempDir()
	nodes := []*refGatewayNode{
		{port: freePort(t), clusterPort: freePort(t), gwPort: gw0},
		{port: freePort(t), clusterPort: freePort(t), gwPort: freePort(t)},
	}
	for i, n := range nodes {
		conf := fmt.Sprintf(`
listen: 127.0.0.1:%d
server_name: r%d
accounts { SYS: { users: [{user: sys, password: sys}] } }
system_account: SYS
authorization { users: [{user: u, password: u}] }
no_auth_user: u
cluster { name: R, listen: 127.0.0.1:%d, routes: ["nats://127.0.0.1:%d"] }
gateway { name: R, listen: 127.0.0.1:%d, gateways: [{name: A, url: %q}]
%s }
`, n.port, i, n.clusterPort, nodes[0].clusterPort, n.gwPort, aURL, gwExtra)
		f := writeConf(t, dir, "r"+strconv.Itoa(i)+".conf", conf)
		n.p = startBinAt(t, bin, "-c", f)
		n.p.waitOutput("Server is ready")
	}
	return nodes
}

// Our cluster A (two servers) gatewayed to a reference cluster R (two
// servers): messages, requests and $SYS.REQ.SERVER.PING cross both ways,
// queue groups prefer the publisher's cluster.
func TestGatewayBinaryInterop(t *testing.T) {
	refBin(t)
	var a []*server.Server
	sysOpts := func(o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "SYS"}}
		o.SystemAccount = "SYS"
		o.Users = []*server.User{{Username: "sys", Password: "sys", Account: "SYS"}, {Username: "u", Password: "u"}}
		o.NoAuthUser = "u"
	}
	rGW := freePort(t)
	for i := 0; i < 2; i++ {
		o := gatewayOptions("a"+strconv.Itoa(i), "A")
		sysOpts(o)
		if i > 0 {
			o.Routes = []*url.URL{routeURL(t, a[0], "")}
		}
		if i == 0 {
			// Names R's first server before it exists: retried until up.
			o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "R", URLs: []*url.URL{{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(rGW)}}}}
		}
		a = append(a, RunServer(t, o))
	}
	r := startRefGatewayCluster(t, gatewayURL(t, a[0]).String(), rGW, "")
	defer func() {
		if t.Failed() {
			t.Logf("DEBUG out %d %d in %d %d\nR0: %s\nR1: %s", a[0].NumOutboundGateways(), a[1].NumOutboundGateways(), a[0].NumInboundGateways(), a[1].NumInboundGateways(), r[0].p.output(), r[1].p.output())
		}
	}()
	waitFor(t, 15*time.Second, "our outbound gateways", func() bool {
		return a[0].NumOutboundGateways() == 1 && a[1].NumOutboundGateways() == 1 &&
			a[0].NumInboundGateways()+a[1].NumInboundGateways() == 2
	})
	ours := []*nats.Conn{connect(t, a[0]), connect(t, a[1])}
	var theirs []*nats.Conn
	for _, n := range r {
		nc, err := nats.Connect(n.url())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		theirs = append(theirs, nc)
	}

	t.Run("pubsub", func(t *testing.T) {
		for _, pair := range []struct {
			name     string
			pub, sub *nats.Conn
		}{{"ours to ref", ours[1], theirs[1]}, {"ref to ours", theirs[0], ours[1]}, {"ours to ref seed", ours[0], theirs[0]}} {
			var got, probes atomic.Int64
			subj := "interop." + strconv.Itoa(int(time.Now().UnixNano()))
			s1, _ := pair.sub.Subscribe(subj, func(m *nats.Msg) {
				if string(m.Data) == "probe" {
					probes.Add(1)
				} else {
					got.Add(1)
				}
			})
			pair.sub.Flush()
			waitGatewayInterest(t, pair.pub, subj, &probes)
			for i := 0; i < 100; i++ {
				pair.pub.Publish(subj, []byte("m"))
			}
			pair.pub.Flush()
			waitFor(t, 5*time.Second, pair.name, func() bool { return got.Load() >= 100 })
			time.Sleep(50 * time.Millisecond)
			if got.Load() != 100 {
				t.Fatalf("%s: %d messages, want 100", pair.name, got.Load())
			}
			s1.Unsubscribe()
		}
	})

	t.Run("request", func(t *testing.T) {
		for i, pair := range []struct{ req, rsp *nats.Conn }{{ours[0], theirs[1]}, {theirs[1], ours[1]}} {
			subj := "interop.svc." + strconv.Itoa(i)
			s1, _ := pair.rsp.Subscribe(subj, func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
			pair.rsp.Flush()
			var resp *nats.Msg
			waitFor(t, 5*time.Second, "answer "+subj, func() bool {
				var err error
				resp, err = pair.req.Request(subj, []byte("x"), 300*time.Millisecond)
				return err == nil
			})
			if string(resp.Data) != "re:x" {
				t.Fatalf("answer %q", resp.Data)
			}
			s1.Unsubscribe()
		}
	})

	t.Run("queue", func(t *testing.T) {
		var inA, inR atomic.Int64
		qa, _ := ours[1].QueueSubscribe("interop.q", "g", func(*nats.Msg) { inA.Add(1) })
		ours[1].Flush()
		qr, _ := theirs[1].QueueSubscribe("interop.q", "g", func(*nats.Msg) { inR.Add(1) })
		theirs[1].Flush()
		defer qa.Unsubscribe()
		defer qr.Unsubscribe()
		for _, side := range []struct {
			name      string
			pub       *nats.Conn
			mine, far *atomic.Int64
		}{{"from ours", ours[0], &inA, &inR}, {"from ref", theirs[0], &inR, &inA}} {
			waitFor(t, 5*time.Second, "local member "+side.name, func() bool {
				inA.Store(0)
				inR.Store(0)
				side.pub.Publish("interop.q", nil)
				side.pub.Flush()
				time.Sleep(20 * time.Millisecond)
				return side.mine.Load() == 1
			})
			inA.Store(0)
			inR.Store(0)
			for i := 0; i < 100; i++ {
				side.pub.Publish("interop.q", nil)
			}
			side.pub.Flush()
			waitFor(t, 5*time.Second, "queue deliveries", func() bool { return side.mine.Load() >= 100 })
			time.Sleep(50 * time.Millisecond)
			if side.mine.Load() != 100 || side.far.Load() != 0 {
				t.Fatalf("%s: local %d, remote %d, want 100 and 0", side.name, side.mine.Load(), side.far.Load())
			}
		}
		// Without a member in the publisher's cluster, the other one serves.
		qr.Unsubscribe()
		theirs[1].Flush()
		waitFor(t, 5*time.Second, "queue served across", func() bool {
			theirs[0].Publish("interop.q", nil)
			theirs[0].Flush()
			time.Sleep(20 * time.Millisecond)
			return inA.Load() > 0
		})
	})

	t.Run("system ping", func(t *testing.T) {
		for _, target := range []string{a[1].ClientURL(), r[1].url()} {
			nc, err := nats.Connect(target, nats.UserInfo("sys", "sys"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			waitFor(t, 10*time.Second, "four PING answers via "+target, func() bool { return len(pingAnswers(nc)) == 4 })
		}
	})
}
