package test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// leafThroughProxy runs a hub (hubMode) and a leaf (leafMode) whose leaf
// connection goes through a counting proxy, and waits for it.
func leafThroughProxy(t *testing.T, hubMode, leafMode string) (hub, leaf *server.Server, p *countingProxy) {
	t.Helper()
	hub = leafHub(t, func(o *server.Options) { o.LeafNode.Compression.Mode = hubMode })
	p = newCountingProxy(t, hub.LeafAddr().String())
	_, port, _ := strings.Cut(p.addr(), ":")
	pn, _ := strconv.Atoi(port)
	leaf = leafOf(t, pn, "", "", func(o *server.Options) { o.LeafNode.Remotes[0].Compression.Mode = leafMode })
	waitLeafs(t, 1, hub, leaf)
	return hub, leaf, p
}

// sendCompressible publishes n compressible 10 KB messages from pub's
// server to a subscriber on sub's, checks each arrives intact and returns
// the payload bytes sent.
func sendCompressible(t *testing.T, sub, pub *server.Server, n int) int64 {
	t.Helper()
	sc, pc := connect(t, sub), connect(t, pub)
	s, _ := sc.SubscribeSync("z.data")
	flushed(t, sc)
	waitLeafSub(t, pub, "z.data")
	payload := bytes.Repeat([]byte("compress me please "), 540)
	for i := 0; i < n; i++ {
		pc.Publish("z.data", payload)
	}
	flushed(t, pc)
	for i := 0; i < n; i++ {
		m, err := s.NextMsg(5 * time.Second)
		if err != nil || !bytes.Equal(m.Data, payload) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return int64(n * len(payload))
}

// Leaf compression between our servers: the modes each side chooses (as
// /leafz shows them), and the bytes on the wire: compressed both ways
// with s2_fast, as is with off.
func TestLeafCompression(t *testing.T) {
	for _, tc := range []struct {
		hub, leaf         string
		hubSees, leafSees string
		smaller           bool
	}{
		{server.CompressionAccept, server.CompressionS2Fast, "s2_fast", "s2_fast", true},
		{server.CompressionS2Best, server.CompressionS2Fast, "s2_best", "s2_fast", true},
		{server.CompressionS2Auto, server.CompressionS2Auto, "s2_uncompressed", "s2_uncompressed", false},
		{server.CompressionOff, server.CompressionS2Fast, "off", "off", false},
		{server.CompressionS2Fast, server.CompressionOff, "off", "off", false},
		{server.CompressionAccept, server.CompressionAccept, "off", "off", false},
	} {
		t.Run(tc.hub+"_"+tc.leaf, func(t *testing.T) {
			hub, leaf, p := leafThroughProxy(t, tc.hub, tc.leaf)
			if got := hub.Leafz(server.LeafzOptions{}).Leafs[0].Compression; got != tc.hubSees {
				t.Fatalf("hub /leafz compression %q, want %q", got, tc.hubSees)
			}
			if got := leaf.Leafz(server.LeafzOptions{}).Leafs[0].Compression; got != tc.leafSees {
				t.Fatalf("leaf /leafz compression %q, want %q", got, tc.leafSees)
			}
			before := p.toTarget.Load()
			sent := sendCompressible(t, hub, leaf, 50)
			up := p.toTarget.Load() - before
			before = p.fromTarget.Load()
			sent += sendCompressible(t, leaf, hub, 50)
			down := p.fromTarget.Load() - before
			if tc.smaller != (up < sent/8 && down < sent/8) || (!tc.smaller && (up < sent/2 || down < sent/2)) {
				t.Fatalf("%d payload bytes each way took %d up and %d down", sent/2, up, down)
			}
		})
	}
}

// Compression with TLS (the hub's clear INFO, then the handshake, then
// the leaf's INFO with its choice inside TLS) and the config forms.
func TestLeafCompressionTLSAndConfig(t *testing.T) {
	hub, leaf := tlsLeafPair(t, func(o *server.Options) { o.LeafNode.Compression.Mode = server.CompressionS2Better })
	if got := leaf.Leafz(server.LeafzOptions{}).Leafs[0].Compression; got != "s2_better" {
		t.Fatalf("leaf compression over TLS %q", got)
	}
	checkLeafPath(t, connect(t, hub), connect(t, leaf), "ztls.a")
	checkLeafPath(t, connect(t, leaf), connect(t, hub), "ztls.b")

	dir := t.TempDir()
	o, err := server.ProcessConfigFile(writeConf(t, dir, "c.conf", `
leafnodes { listen: "127.0.0.1:-1", compression: { mode: s2_auto, rtt_thresholds: ["5ms", "20ms", "40ms"] },
  remotes [ { url: "nats://h:1", compression: false }, { url: "nats://h:2", compression: true }, { url: "nats://h:3" } ] }`))
	if err != nil {
		t.Fatal(err)
	}
	r := o.LeafNode.Remotes
	if o.LeafNode.Compression.Mode != "s2_auto" || len(o.LeafNode.Compression.RTTThresholds) != 3 ||
		r[0].Compression.Mode != "off" || r[1].Compression.Mode != "s2_auto" || r[2].Compression.Mode != "" {
		t.Fatalf("parsed %+v %+v %+v %+v", o.LeafNode.Compression, r[0].Compression, r[1].Compression, r[2].Compression)
	}
	_, err = server.ProcessConfigFile(writeConf(t, dir, "bad.conf", `leafnodes { listen: "127.0.0.1:-1", compression: s2_wrong }`))
	if err == nil || !strings.Contains(err.Error(), `unsupported compression mode "s2_wrong"`) {
		t.Fatalf("bad mode: %v", err)
	}
}

// Interop: the reference's default (s2_auto) against ours, an s2_fast
// leaf with an s2_better hub both ways, and a reference leaf with
// compression off: messages cross and both /leafz show the reference's
// choices.
func TestLeafCompressionInteropWithReference(t *testing.T) {
	ref := refBin(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, hub, leaf, hubMode, leafMode, hubSees, leafSees string }{
		{"our_leaf_default", ref, serverBin, "", "", "s2_uncompressed", "s2_uncompressed"},
		{"ref_leaf_default", serverBin, ref, "", "", "s2_uncompressed", "s2_uncompressed"},
		{"our_leaf_fast", ref, serverBin, "s2_better", "s2_fast", "s2_better", "s2_fast"},
		{"ref_leaf_fast", serverBin, ref, "s2_better", "s2_fast", "s2_better", "s2_fast"},
		{"ref_leaf_off", serverBin, ref, "", "off", "off", "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hubPort, hubLeafPort, leafPort, hubHTTP, leafHTTP := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
			hp := startBinAt(t, tc.hub, "-c", writeConf(t, dir, "hub.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nhttp: \"127.0.0.1:%d\"\nleafnodes { listen: \"127.0.0.1:%d\" %s }\n",
				hubPort, hubHTTP, hubLeafPort, compressionKey(tc.hubMode))))
			hp.waitOutput("Server is ready")
			lp := startBinAt(t, tc.leaf, "-c", writeConf(t, dir, "leaf.conf", fmt.Sprintf(
				"host: 127.0.0.1\nport: %d\nhttp: \"127.0.0.1:%d\"\nleafnodes { reconnect: \"100ms\", remotes [ { url: \"nats://127.0.0.1:%d\" %s } ] }\n",
				leafPort, leafHTTP, hubLeafPort, compressionKey(tc.leafMode))))
			lp.waitOutput("Leafnode connection created")
			checkLeafPath(t, dialNATS(t, hubPort), dialNATS(t, leafPort), "zi.hub")
			checkLeafPath(t, dialNATS(t, leafPort), dialNATS(t, hubPort), "zi.leaf")
			for _, side := range []struct {
				port int
				want string
			}{{hubHTTP, tc.hubSees}, {leafHTTP, tc.leafSees}} {
				var z server.Leafz
				getJSON(t, "http://127.0.0.1:"+strconv.Itoa(side.port)+"/leafz", &z)
				if len(z.Leafs) != 1 || z.Leafs[0].Compression != side.want {
					t.Fatalf("/leafz on port %d: %+v, want compression %q", side.port, z.Leafs, side.want)
				}
			}
		})
	}
}

// tlsLeafPair runs our hub and leaf over TLS (the leaf verifies the
// hub's certificate), edit applied to both, and waits for the connection.
func tlsLeafPair(t *testing.T, edit func(o *server.Options)) (hub, leaf *server.Server) {
	t.Helper()
	ca, srv := leafServerCert(t, "zleafca")
	hub = leafHub(t, func(o *server.Options) {
		o.LeafNode.TLS = &server.TLSConfigOpts{CertFile: srv.certFile, KeyFile: srv.keyFile}
		edit(o)
	})
	leaf = leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].URLs[0].Scheme = "tls"
		o.LeafNode.Remotes[0].TLS = &server.TLSConfigOpts{CaFile: ca.file}
		edit(o) // the remote takes the block's compression
	})
	waitLeafs(t, 1, hub, leaf)
	return hub, leaf
}
