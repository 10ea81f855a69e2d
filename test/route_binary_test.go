package test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// refBin is the reference server, installed outside the repository
// (DEVELOPERS.md); the mixed-cluster tests skip without it.
func refBin(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "natsref", "nats-server")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("reference server not installed at %s (see DEVELOPERS.md): mixed-cluster test skipped", p)
	}
	return p
}

// node is one server process of a cluster test.
type node struct {
	bin               string
	port, clusterPort int
	p                 *proc
	extra             []string // more arguments
}

func (n *node) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// start runs the node with the seed as its only route (none for the seed).
func (n *node) start(t *testing.T, seed *node) {
	t.Helper()
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.port),
		"--cluster", "nats://127.0.0.1:" + strconv.Itoa(n.clusterPort), "--cluster_name", "bin"}
	if seed != nil && seed != n {
		args = append(args, "--routes", "nats://127.0.0.1:"+strconv.Itoa(seed.clusterPort))
	}
	n.p = startBinAt(t, n.bin, append(args, n.extra...)...)
	n.p.waitOutput("Server is ready")
}

// newNodes prepares one node per binary, with free ports.
func newNodes(t *testing.T, bins ...string) []*node {
	nodes := make([]*node, len(bins))
	for i, b := range bins {
		nodes[i] = &node{bin: b, port: freePort(t), clusterPort: freePort(t)}
	}
	return nodes
}

// checkAllPairs publishes on every server to a subscriber on every other
// one, plain and with a reply, waiting for the routes (and gossip) first,
// then checks that the subscriber's unsubscribe reaches every server.
func checkAllPairs(t *testing.T, nodes []*node) {
	t.Helper()
	conns := make([]*nats.Conn, len(nodes))
	for i, n := range nodes {
		nc, err := nats.Connect(n.url(), nats.NoReconnect())
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	for j, sub := range conns {
		s, _ := sub.Subscribe("pair."+strconv.Itoa(j), func(m *nats.Msg) { m.Respond(m.Data) })
		sub.Flush()
		for i, pub := range conns {
			if i == j {
				continue
			}
			waitFor(t, 10*time.Second, "route "+strconv.Itoa(i)+"->"+strconv.Itoa(j), func() bool {
				_, err := pub.Request("pair."+strconv.Itoa(j), []byte("x"), 200*time.Millisecond)
				return err == nil
			})
		}
		// The unsubscribe reaches every server: requests then find no one.
		s.Unsubscribe()
		for i, pub := range conns {
			if i == j {
				continue
			}
			waitFor(t, 10*time.Second, "unsubscribe "+strconv.Itoa(j)+" seen by "+strconv.Itoa(i), func() bool {
				_, err := pub.Request("pair."+strconv.Itoa(j), []byte("x"), 200*time.Millisecond)
				return err == nats.ErrNoResponders
			})
		}
	}
}

// checkQueueOnce sends n messages from nodes[0] to a queue group with a
// member on every other server: each is delivered exactly once.
func checkQueueOnce(t *testing.T, nodes []*node, n int) {
	t.Helper()
	pub, err := nats.Connect(nodes[0].url())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var got atomic.Int64
	seen := make([]atomic.Int32, n)
	var subs []*nats.Conn
	for _, nd := range nodes[1:] {
		nc, err := nats.Connect(nd.url())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.QueueSubscribe("qwork", "g", func(m *nats.Msg) {
			i, _ := strconv.Atoi(string(m.Data))
			if i >= 0 && i < n {
				seen[i].Add(1)
			}
			got.Add(1)
		})
		subs = append(subs, nc)
	}
	barrier(t, pub, subs...)
	for i := 0; i < n; i++ {
		pub.Publish("qwork", []byte(strconv.Itoa(i)))
	}
	pub.Flush()
	waitFor(t, 10*time.Second, "queue deliveries", func() bool { return got.Load() >= int64(n) })
	barrier(t, pub, subs...)
	for i := range seen {
		if c := seen[i].Load(); c != 1 {
			t.Fatalf("message %d delivered %d times", i, c)
		}
	}
}

func TestRouteBinarySeedOnlyClusterAndRestart(t *testing.T) {
	nodes := newNodes(t, serverBin, serverBin, serverBin)
	for _, n := range nodes {
		n.start(t, nodes[0])
	}
	checkAllPairs(t, nodes)
	checkQueueOnce(t, nodes, 10000)

	// A server killed outright comes back on its ports and rejoins.
	nodes[2].p.cmd.Process.Signal(syscall.SIGKILL)
	nodes[2].p.waitExit(5 * time.Second)
	nodes[2].start(t, nodes[0])
	checkAllPairs(t, nodes)
}

func TestRouteMixedClusterWithReference(t *testing.T) {
	ref := refBin(t)
	for _, c := range []struct {
		name string
		bins []string
	}{
		{"reference seed", []string{ref, serverBin, ref}},
		{"our seed", []string{serverBin, ref, serverBin}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes := newNodes(t, c.bins...)
			for _, n := range nodes {
				n.start(t, nodes[0])
			}
			checkAllPairs(t, nodes)
			checkQueueOnce(t, nodes, 2000)
			// Restart each kind of server: the mesh reforms.
			for _, i := range []int{1, 2} {
				nodes[i].p.cmd.Process.Signal(syscall.SIGTERM)
				nodes[i].p.waitExit(10 * time.Second)
				nodes[i].start(t, nodes[0])
			}
			checkAllPairs(t, nodes)
		})
	}
}

// Reference servers configured with s2_fast and ours (accept, the
// default) compress with each other, whichever side solicits, over full
// pools, and traffic flows between every pair.
func TestRouteMixedCompressionPools(t *testing.T) {
	ref := refBin(t)
	nodes := newNodes(t, serverBin, ref, ref)
	conf := filepath.Join(t.TempDir(), "ref.conf")
	os.WriteFile(conf, []byte("cluster { compression: s2_fast }\n"), 0o644)
	for _, n := range nodes[1:] {
		n.extra = []string{"-c", conf}
	}
	for _, n := range nodes {
		n.start(t, nodes[0])
	}
	checkAllPairs(t, nodes)
}

// TLS routes with verify between ours and the reference, both ways.
func TestRouteMixedTLS(t *testing.T) {
	ref := refBin(t)
	ca := newTestCA(t, "mixed-ca")
	cert := ca.issue(t, "route", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "route"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	conf := filepath.Join(t.TempDir(), "tls.conf")
	body := "cluster { tls { cert_file: \"" + cert.certFile + "\", key_file: \"" + cert.keyFile +
		"\", ca_file: \"" + ca.file + "\", verify: true } }\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	nodes := newNodes(t, serverBin, ref, serverBin)
	for _, n := range nodes {
		n.extra = []string{"-c", conf}
	}
	for _, n := range nodes {
		n.start(t, nodes[0])
	}
	checkAllPairs(t, nodes)
}
