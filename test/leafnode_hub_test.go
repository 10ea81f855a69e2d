package test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// spokeOfTwo runs two hubs and a server soliciting both (hub: true on its
// remotes when asHub), and waits for the three connections.
func spokeOfTwo(t *testing.T, asHub bool) (h1, h2, s *server.Server) {
	t.Helper()
	h1, h2 = leafHub(t, nil), leafHub(t, nil)
	s = leafOf(t, h1.LeafAddr().Port, "", "", func(o *server.Options) {
		u2, _ := url.Parse("nats://127.0.0.1:" + strconv.Itoa(h2.LeafAddr().Port))
		o.LeafNode.Remotes = append(o.LeafNode.Remotes, &server.RemoteLeafOpts{URLs: []*url.URL{u2}})
		for _, r := range o.LeafNode.Remotes {
			r.Hub = asHub
		}
	})
	waitLeafs(t, 1, h1, h2)
	waitLeafs(t, 2, s)
	return h1, h2, s
}

// By default the soliciting server is the spoke of both hubs: it tells
// neither hub the other's interest and passes nothing from one to the
// other, as the reference (is_spoke true on its side only). With hub: true
// it is their hub: interest and messages cross it from one to the other.
func TestLeafHubAndSpoke(t *testing.T) {
	for _, asHub := range []bool{false, true} {
		t.Run(fmt.Sprintf("hub=%v", asHub), func(t *testing.T) {
			h1, h2, s := spokeOfTwo(t, asHub)
			for _, l := range s.Leafz(server.LeafzOptions{}).Leafs {
				if l.IsSpoke == asHub {
					t.Fatalf("middle server is_spoke %v with hub %v", l.IsSpoke, asHub)
				}
			}
			if l := h1.Leafz(server.LeafzOptions{}).Leafs[0]; l.IsSpoke != asHub {
				t.Fatalf("hub's is_spoke %v with hub %v", l.IsSpoke, asHub)
			}
			c1, c2, cs := connect(t, h1), connect(t, h2), connect(t, s)
			far, _ := c2.SubscribeSync("hs.x")
			near, _ := cs.SubscribeSync("hs.x")
			flushed(t, c2)
			flushed(t, cs)
			waitLeafSub(t, h1, "hs.x") // the middle server's own subscription
			waitLeafSub(t, s, "hs.x")  // h2's interest at the middle server
			c1.Publish("hs.x", []byte("from h1"))
			flushed(t, c1)
			if m, err := near.NextMsg(5 * time.Second); err != nil || string(m.Data) != "from h1" {
				t.Fatalf("middle server: %v %v", m, err)
			}
			m, err := far.NextMsg(time.Second) // the message reached the middle server: it went on now or never
			if asHub && (err != nil || string(m.Data) != "from h1") {
				t.Fatalf("hub: h2 did not get h1's message: %v", err)
			}
			if !asHub && err == nil {
				t.Fatalf("spoke passed h1's message to h2: %q", m.Data)
			}
		})
	}
}

// Interop: a reference server soliciting two of ours with hub: true, and
// ours soliciting two reference servers, without and with hub: true.
func TestLeafHubInteropWithReference(t *testing.T) {
	ref := refBin(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, hubs, middle string
		asHub              bool
	}{{"ref_middle_hub", serverBin, ref, true}, {"our_middle_hub", ref, serverBin, true}, {"our_middle_spoke", ref, serverBin, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var ports [2]int
			var leafPorts [2]int
			for i := range ports {
				ports[i], leafPorts[i] = freePort(t), freePort(t)
				p := startBinAt(t, tc.hubs, "-c", writeConf(t, dir, fmt.Sprintf("h%d.conf", i), fmt.Sprintf(
					"host: 127.0.0.1\nport: %d\nleafnodes { listen: \"127.0.0.1:%d\" }\n", ports[i], leafPorts[i])))
				p.waitOutput("Server is ready")
			}
			midPort := freePort(t)
			mp := startBinAt(t, tc.middle, "-c", writeConf(t, dir, "m.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nleafnodes { reconnect: \"100ms\", remotes [ { url: \"nats://127.0.0.1:%d\", hub: %v }, { url: \"nats://127.0.0.1:%d\", hub: %v } ] }\n",
				midPort, leafPorts[0], tc.asHub, leafPorts[1], tc.asHub)))
			waitFor(t, 10*time.Second, "two leaf connections", func() bool {
				return strings.Count(mp.output(), "Leafnode connection created") >= 2
			})
			c1, c2, cm := dialNATS(t, ports[0]), dialNATS(t, ports[1]), dialNATS(t, midPort)
			far, _ := c2.SubscribeSync("hi.x")
			near, _ := cm.SubscribeSync("hi.x")
			flushed(t, c2)
			flushed(t, cm)
			// The middle server's subscription reaches h1: requests through it work.
			cm.Subscribe("hi.svc", func(m *nats.Msg) { m.Respond([]byte("ok")) })
			flushed(t, cm)
			waitFor(t, 10*time.Second, "request from h1 to the middle server", func() bool {
				_, err := c1.Request("hi.svc", nil, 200*time.Millisecond)
				return err == nil
			})
			if tc.asHub {
				checkLeafPath(t, c2, c1, "hi.path") // h1 to h2 through the middle hub
			}
			c1.Publish("hi.x", []byte("from h1"))
			flushed(t, c1)
			if _, err := near.NextMsg(5 * time.Second); err != nil {
				t.Fatalf("middle server: %v", err)
			}
			_, err := far.NextMsg(time.Second)
			if tc.asHub != (err == nil) {
				t.Fatalf("h2 got h1's message: %v, want %v", err == nil, tc.asHub)
			}
		})
	}
}
