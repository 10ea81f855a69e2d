package test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

var compressModes = []string{"off", "accept", "s2_fast", "s2_better", "s2_best", "s2_auto"}

// slowAuto are s2_auto thresholds no loopback round trip reaches: such a
// route stays at s2_uncompressed, whatever the machine's load.
var slowAuto = []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour}

// wantCompression is what /routez shows on a server in mode ours for a
// route to a server in mode theirs, as the reference negotiates (observed
// on v2.15.2): off wins, two accepts are off, accept takes the other's
// mode (s2_fast for s2_auto), and s2_auto starts uncompressed.
func wantCompression(ours, theirs string) string {
	if ours == "off" || theirs == "off" || (ours == "accept" && theirs == "accept") {
		return "off"
	}
	mode := ours
	if ours == "accept" {
		mode = theirs
		if theirs == "s2_auto" {
			mode = "s2_fast"
		}
	}
	if mode == "s2_auto" {
		return "s2_uncompressed"
	}
	return mode
}

// routeCompressions maps each remote's name to the compression /routez
// shows for its route connections (which must all agree).
func routeCompressions(t *testing.T, monitor string) map[string]string {
	t.Helper()
	rz := getMap(t, monitor+"/routez")
	out := make(map[string]string)
	routes, _ := rz["routes"].([]any)
	for _, e := range routes {
		r := e.(map[string]any)
		name, _ := r["remote_name"].(string)
		c, _ := r["compression"].(string)
		if prev, ok := out[name]; ok && prev != c {
			out[name] = "mixed: " + prev + "/" + c
			continue
		}
		out[name] = c
	}
	return out
}

func compressOptions(name, mode string) *server.Options {
	o := clusterOptions(name)
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	o.Cluster.PoolSize = 1
	o.Cluster.Compression = server.CompressionOpts{Mode: mode}
	if mode == "s2_auto" {
		o.Cluster.Compression.RTTThresholds = slowAuto
	}
	return o
}

// Every pair of modes between two of our servers: both sides show the
// negotiated level in /routez and messages cross both ways.
func TestRouteCompressionEveryPairOfModes(t *testing.T) {
	for _, ma := range compressModes {
		for _, mb := range compressModes {
			a := RunServer(t, compressOptions("a", ma))
			ob := compressOptions("b", mb)
			ob.Routes = []*url.URL{routeURL(t, a, "")}
			b := RunServer(t, ob)
			waitFor(t, 10*time.Second, "the route", func() bool { return a.NumRoutes() == 2 && b.NumRoutes() == 2 })
			if got, want := routeCompressions(t, monitorURL(a))["b"], wantCompression(ma, mb); got != want {
				t.Errorf("accepting %s, soliciting %s: accepting side shows %q, want %q", ma, mb, got, want)
			}
			if got, want := routeCompressions(t, monitorURL(b))["a"], wantCompression(mb, ma); got != want {
				t.Errorf("accepting %s, soliciting %s: soliciting side shows %q, want %q", ma, mb, got, want)
			}
			checkEcho(t, connect(t, a), connect(t, b))
			checkEcho(t, connect(t, b), connect(t, a))
			b.Shutdown()
			a.Shutdown()
		}
	}
}

// echoResponder subscribes a responder that echoes on nc, and makes nc's
// request inbox exist (a request to itself), so that both are known to
// other servers once routed; it returns the responder's subject.
func echoResponder(t *testing.T, nc *nats.Conn) string {
	t.Helper()
	subj := nats.NewInbox()
	if _, err := nc.Subscribe(subj, func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request(subj, nil, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	return subj
}

var echoPayload = bytes.Repeat([]byte("compress me "), 500)

// checkEchoTo makes requests with a payload large enough to be compressed
// until subj's responder answers, and checks the echo.
func checkEchoTo(t *testing.T, pub *nats.Conn, subj string) {
	t.Helper()
	waitFor(t, 10*time.Second, "an echo across the route", func() bool {
		m, err := pub.Request(subj, echoPayload, 200*time.Millisecond)
		if err != nil {
			return false
		}
		if !bytes.Equal(m.Data, echoPayload) {
			t.Fatalf("echo differs: %d bytes, want %d", len(m.Data), len(echoPayload))
		}
		return true
	})
}

// checkEcho checks a request from pub to a responder on sub's server.
func checkEcho(t *testing.T, pub, sub *nats.Conn) {
	t.Helper()
	echoResponder(t, pub)
	checkEchoTo(t, pub, echoResponder(t, sub))
}

// countingProxy forwards one TCP listener to target and counts the bytes
// that go each way.
type countingProxy struct {
	l          net.Listener
	toTarget   atomic.Int64
	fromTarget atomic.Int64
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      []net.Conn
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{l: l}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(c, d, &p.toTarget)
			go p.pipe(d, c, &p.fromTarget)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) pipe(src, dst net.Conn, n *atomic.Int64) {
	defer p.wg.Done()
	buf := make([]byte, 32*1024)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

func (p *countingProxy) addr() string { return p.l.Addr().String() }

// routedBytes sends n compressible messages from a client of the soliciting
// server (whose routes go through a counting proxy) to a subscriber of the
// accepting one, checks that each arrives intact, and returns the bytes
// the proxy carried towards the accepting server and the payload bytes.
func routedBytes(t *testing.T, mode string, thresholds []time.Duration) (wire, payload int64) {
	oa := compressOptions("a", mode)
	oa.Cluster.Compression.RTTThresholds = thresholds
	a := RunServer(t, oa)
	proxy := newCountingProxy(t, a.ClusterAddr().String())
	ob := compressOptions("b", mode)
	ob.Cluster.Compression.RTTThresholds = thresholds
	ob.Routes = []*url.URL{{Scheme: "nats-route", Host: proxy.addr()}}
	b := RunServer(t, ob)
	defer a.Shutdown()
	defer b.Shutdown()
	waitFor(t, 10*time.Second, "the route", func() bool { return a.NumRoutes() == 2 && b.NumRoutes() == 2 })
	sub, pub := connect(t, a), connect(t, b)
	const n = 2000
	var got atomic.Int64
	var bad atomic.Int64
	body := bytes.Repeat([]byte("0123456789abcdef"), 64)
	sub.Subscribe("bulk", func(m *nats.Msg) {
		if !bytes.Equal(m.Data, body) {
			bad.Add(1)
		}
		got.Add(1)
	})
	barrier(t, pub, sub)
	before := proxy.toTarget.Load()
	for i := 0; i < n; i++ {
		pub.Publish("bulk", body)
	}
	pub.Flush()
	waitFor(t, 10*time.Second, "every message", func() bool { return got.Load() >= n })
	if bad.Load() != 0 || got.Load() != n {
		t.Fatalf("%s: %d messages damaged, %d received of %d", mode, bad.Load(), got.Load(), n)
	}
	return proxy.toTarget.Load() - before, int64(n * len(body))
}

// Compression is real: s2_fast carries a compressible stream in a fraction
// of its size; off carries every byte (and the protocol's).
func TestRouteCompressionShrinksTheWire(t *testing.T) {
	wire, payload := routedBytes(t, "s2_fast", nil)
	if wire*5 > payload {
		t.Fatalf("s2_fast: %d bytes on the wire for %d payload bytes", wire, payload)
	}
	wire, payload = routedBytes(t, "off", nil)
	if wire < payload {
		t.Fatalf("off: %d bytes on the wire for %d payload bytes", wire, payload)
	}
	// s2_auto below its first threshold writes stored (uncompressed) S2
	// chunks: no smaller than the payload, still a valid stream.
	wire, payload = routedBytes(t, "s2_auto", slowAuto)
	if wire < payload {
		t.Fatalf("s2_auto uncompressed: %d bytes on the wire for %d payload bytes", wire, payload)
	}
}

// s2_auto moves up a level for every threshold the measured round trip
// reaches: with thresholds of a nanosecond, the first PONG makes it s2_best.
func TestRouteCompressionAutoFollowsRTT(t *testing.T) {
	tiny := []time.Duration{time.Nanosecond, 2 * time.Nanosecond, 3 * time.Nanosecond}
	oa := compressOptions("a", "s2_auto")
	oa.Cluster.Compression.RTTThresholds = tiny
	a := RunServer(t, oa)
	ob := compressOptions("b", "s2_auto")
	ob.Cluster.Compression.RTTThresholds = tiny
	ob.Routes = []*url.URL{routeURL(t, a, "")}
	b := RunServer(t, ob)
	waitFor(t, 10*time.Second, "s2_best after the first round trip", func() bool {
		return routeCompressions(t, monitorURL(a))["b"] == "s2_best" && routeCompressions(t, monitorURL(b))["a"] == "s2_best"
	})
	checkEcho(t, connect(t, a), connect(t, b))
}

func TestRouteCompressionConfig(t *testing.T) {
	for _, c := range []struct {
		conf, mode, err string
	}{
		{"compression: on", "s2_fast", ""},
		{"compression: true", "s2_fast", ""},
		{"compression: false", "off", ""},
		{"compression: S2_Best", "s2_best", ""},
		{"compression: {mode: s2_auto}", "s2_auto", ""},
		{"compression: {mode: s2_auto, rtt_thresholds: [5ms, 20ms]}", "s2_auto", ""},
		{"compression: bogus", "", `unsupported compression mode "bogus"`},
		{"compression: s2_uncompressed", "", `unsupported compression mode "s2_uncompressed"`},
		{"compression: {mode: s2_auto, rtt_thresholds: [50ms, 20ms]}", "", "RTT threshold values [50ms 20ms] should be in ascending order"},
		{"compression: {mode: s2_auto, rtt_thresholds: [\"-1ms\"]}", "", `compression mode "s2_auto" requires at least one RTT threshold`},
		{"compression: 1", "", `field "compression" should be a boolean or a structure`},
		{"compression: {mode: s2_auto, bogus: 1}", "", `unknown field "bogus"`},
	} {
		p := writeConf(t, t.TempDir(), "c.conf", "cluster { port: -1, "+c.conf+" }")
		o, err := server.ProcessConfigFile(p)
		if c.err != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.err)) {
				t.Errorf("%s: got %v, want %q", c.conf, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.conf, err)
			continue
		}
		if o.Cluster.Compression.Mode != c.mode {
			t.Errorf("%s: mode %q, want %q", c.conf, o.Cluster.Compression.Mode, c.mode)
		}
	}
	// No compression block: the route INFO says accept, as the reference's.
	s := RunServer(t, clusterOptions("d"))
	c, err := net.Dial("tcp", s.ClusterAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, `"compression":"accept"`) {
		t.Fatalf("route INFO %q (%v), want compression accept", line, err)
	}
}

// startRefCompress runs a reference server in a compression mode with
// routes, and returns its client port and monitoring URL.
func startRefCompress(t *testing.T, bin, name, mode string, routes []string) (p *proc, clientPort int, monitor string) {
	t.Helper()
	clientPort, httpPort := freePort(t), freePort(t)
	comp := "compression: " + mode
	if mode == "s2_auto" {
		comp = "compression: {mode: s2_auto, rtt_thresholds: [1h, 2h, 3h]}"
	}
	var rl string
	for _, r := range routes {
		rl += strconv.Quote(r) + ", "
	}
	conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\ncluster { name: rc, listen: 127.0.0.1:%d, pool_size: 1, %s, routes: [%s] }\n",
		name, clientPort, httpPort, freePort(t), comp, rl)
	path := filepath.Join(t.TempDir(), "ref.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startBinAt(t, bin, "-c", path)
	p.waitOutput("Server is ready")
	return p, clientPort, "http://127.0.0.1:" + strconv.Itoa(httpPort)
}

// Every pair of modes against the reference: for each reference mode, a
// reference server and one of our servers per mode, half of which it
// solicits while the other half solicit it (alternating with the
// reference's mode, so that every pair is seen from both sides across the
// modes); every route shows the reference's negotiated level on both
// sides and carries messages both ways.
func TestRouteMixedCompressionEveryPairOfModes(t *testing.T) {
	ref := refBin(t)
	for ri, rm := range compressModes {
		t.Run("reference "+rm, func(t *testing.T) {
			servers := make([]*server.Server, len(compressModes))
			var routes []string
			for i, m := range compressModes {
				if (i+ri)%2 == 0 {
					servers[i] = RunServer(t, compressOptions("acc-"+m, m))
					routes = append(routes, routeURL(t, servers[i], "").String())
				}
			}
			_, cport, mon := startRefCompress(t, ref, "ref", rm, routes)
			refURL := &url.URL{Scheme: "nats-route", Host: refClusterAddr(t, mon)}
			for i, m := range compressModes {
				if servers[i] == nil {
					o := compressOptions("sol-"+m, m)
					o.Routes = []*url.URL{refURL}
					servers[i] = RunServer(t, o)
				}
			}
			waitFor(t, 20*time.Second, "routes to the reference", func() bool {
				rc := routeCompressions(t, mon)
				for _, s := range servers {
					if _, ok := rc[s.Name()]; !ok {
						return false
					}
					if _, ok := routeCompressions(t, monitorURL(s))["ref"]; !ok {
						return false
					}
				}
				return true
			})
			rc := routeCompressions(t, mon)
			for i, s := range servers {
				m := compressModes[i]
				if got, want := rc[s.Name()], wantCompression(rm, m); got != want {
					t.Errorf("reference %s with our %s: reference shows %q, want %q", rm, s.Name(), got, want)
				}
				if got, want := routeCompressions(t, monitorURL(s))["ref"], wantCompression(m, rm); got != want {
					t.Errorf("reference %s with our %s: we show %q, want %q", rm, s.Name(), got, want)
				}
			}
			rnc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(cport))
			if err != nil {
				t.Fatal(err)
			}
			defer rnc.Close()
			// Responders and request inboxes everywhere first, so that their
			// interest crosses the routes in parallel.
			refSubj := echoResponder(t, rnc)
			conns := make([]*nats.Conn, len(servers))
			subjs := make([]string, len(servers))
			for i, s := range servers {
				conns[i] = connect(t, s)
				subjs[i] = echoResponder(t, conns[i])
			}
			for i := range servers {
				checkEchoTo(t, conns[i], refSubj)
				checkEchoTo(t, rnc, subjs[i])
			}
			for _, s := range servers {
				s.Shutdown()
			}
		})
	}
}

// refClusterAddr reads the reference's route listener from its /varz.
func refClusterAddr(t *testing.T, monitor string) string {
	t.Helper()
	v := getMap(t, monitor+"/varz")
	c, _ := v["cluster"].(map[string]any)
	port, _ := c["cluster_port"].(float64)
	if port == 0 {
		t.Fatalf("reference /varz without a cluster port: %v", c)
	}
	return "127.0.0.1:" + strconv.Itoa(int(port))
}

// Compression and permissions reload live: the routes are made again with
// the new mode and interest.
func TestRouteReloadCompressionAndPermissions(t *testing.T) {
	ob := compressOptions("b", "s2_fast")
	b := RunServer(t, ob)
	dir := t.TempDir()
	conf := func(extra string) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\nserver_name: a\nhttp: 127.0.0.1:-1\ncluster { name: rc, listen: 127.0.0.1:-1, pool_size: 1, routes: [%q]\n%s\n}\n",
			routeURL(t, b, "").String(), extra)
	}
	p := writeConf(t, dir, "a.conf", conf("compression: off"))
	o, err := server.ProcessConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	a := RunServer(t, o)
	waitFor(t, 10*time.Second, "the route", func() bool { return routeCompressions(t, monitorURL(a))["b"] == "off" })

	writeConf(t, dir, "a.conf", conf("compression: s2_best"))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the route made again, compressed", func() bool {
		return routeCompressions(t, monitorURL(a))["b"] == "s2_best" && routeCompressions(t, monitorURL(b))["a"] == "s2_fast"
	})

	writeConf(t, dir, "a.conf", conf(`compression: s2_best, permissions { import: ["imp.>", "_INBOX.>"] }`))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the permissions in /routez", func() bool {
		_, ok := getMap(t, monitorURL(a)+"/routez")["import"]
		return ok && a.NumRoutes() == 2
	})
	var got map[string]bool
	waitFor(t, 10*time.Second, "the route with the new permissions", func() bool {
		got, _ = permissionProbe(t, connect(t, a), connect(t, b), []string{"imp.1", "x.1"}, nil)
		return got["imp.1"]
	})
	if got["x.1"] {
		t.Fatalf("after the reload, a still imports x.1: %v", got)
	}
}
