package test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// gatewayCert is a certificate for both ends of a gateway connection
// (server and client use), valid for 127.0.0.1 and localhost.
func gatewayCert(t testing.TB, ca *testCA, name string) *issued {
	return ca.issue(t, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
}

func gatewayTLSOpts(ca *testCA, cert *issued) *server.TLSConfigOpts {
	return &server.TLSConfigOpts{CertFile: cert.certFile, KeyFile: cert.keyFile, CaFile: ca.file}
}

// checkGatewayPath waits until a message published on pub reaches sub
// across the gateways.
func checkGatewayPath(t *testing.T, pub, sub *nats.Conn, subject string) {
	t.Helper()
	var got atomic.Int64
	s, err := sub.Subscribe(subject, func(*nats.Msg) { got.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	sub.Flush()
	waitGatewayInterest(t, pub, subject, &got)
}

// Two clusters of two servers joined over TLS, implicit gateways included:
// messages cross both ways.
func TestGatewayTLS(t *testing.T) {
	ca := newTestCA(t, "gw")
	cert := gatewayCert(t, ca, "gw")
	a, b := runSupercluster(t, func(o *server.Options) { o.Gateway.TLS = gatewayTLSOpts(ca, cert) })
	checkGatewayPath(t, connect(t, a[1]), connect(t, b[1]), "tls.ab")
	checkGatewayPath(t, connect(t, b[0]), connect(t, a[0]), "tls.ba")
}

// /gatewayz shows each connection's TLS; /varz the gateway block's, with
// the reference's values: verify always on, auth_timeout = tls timeout + 1.
func TestGatewayTLSMonitoring(t *testing.T) {
	ca := newTestCA(t, "gw")
	cert := gatewayCert(t, ca, "gw")
	oa := gatewayOptions("a", "A")
	oa.Gateway.TLS = gatewayTLSOpts(ca, cert)
	sa := RunServer(t, oa)
	sb, base := runMonitored(t, func(o *server.Options) {
		*o = *gatewayOptions("b", "B")
		o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
		o.Gateway.TLS = gatewayTLSOpts(ca, cert)
		o.Gateway.TLS.Timeout = 0.5
		o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{gatewayURL(t, sa)}}}
	})
	waitFor(t, 5*time.Second, "gateways", func() bool {
		return sb.NumOutboundGateways() == 1 && sb.NumInboundGateways() == 1
	})
	gz := getMap(t, base+"/gatewayz")
	out := gz["outbound_gateways"].(map[string]any)["A"].(map[string]any)["connection"].(map[string]any)
	in := gz["inbound_gateways"].(map[string]any)["A"].([]any)[0].(map[string]any)["connection"].(map[string]any)
	for _, conn := range []map[string]any{out, in} {
		if conn["tls_version"] != "1.3" || !strings.HasPrefix(conn["tls_cipher_suite"].(string), "TLS_") {
			t.Fatalf("gatewayz connection without TLS: %v", conn)
		}
	}
	v := getMap(t, base+"/varz")["gateway"].(map[string]any)
	if v["tls_required"] != true || v["tls_verify"] != true || v["tls_timeout"] != 0.5 || v["auth_timeout"] != 1.5 {
		t.Fatalf("varz gateway TLS fields: %v", v)
	}
	if na, _ := time.Parse(time.RFC3339, fmt.Sprint(v["tls_cert_not_after"])); !na.Equal(cert.leaf.NotAfter.Truncate(time.Second)) {
		t.Fatalf("tls_cert_not_after %v, want %v", v["tls_cert_not_after"], cert.leaf.NotAfter)
	}
}

// What a TLS gateway refuses: a cluster soliciting in clear, one with a
// certificate of another CA, one whose key is not pinned. A gateways-list
// entry's own tls block is enough to solicit a TLS cluster; insecure skips
// checking the cluster solicited.
func TestGatewayTLSRefusals(t *testing.T) {
	ca := newTestCA(t, "gw")
	cert := gatewayCert(t, ca, "gw")
	oa := gatewayOptions("a", "A")
	oa.Gateway.TLS = gatewayTLSOpts(ca, cert)
	sa, la := runLoggedServer(t, oa)
	remote := func(tlsOpts *server.TLSConfigOpts) []*server.RemoteGatewayOpts {
		return []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{gatewayURL(t, sa)}, TLS: tlsOpts}}
	}

	plain := gatewayOptions("p", "P")
	plain.Gateway.Gateways = remote(nil)
	sp := RunServer(t, plain)
	la.waitLog(t, "TLS gateway handshake error")

	other := newTestCA(t, "other")
	stranger := gatewayOptions("s", "S")
	stranger.Gateway.TLS = gatewayTLSOpts(other, gatewayCert(t, other, "stranger"))
	stranger.Gateway.Gateways = remote(nil)
	ss, ls := runLoggedServer(t, stranger)
	ls.waitLog(t, "Error connecting to explicit gateway", "TLS:")
	if sp.NumOutboundGateways() != 0 || ss.NumOutboundGateways() != 0 || sa.NumInboundGateways() != 0 {
		t.Fatalf("refused clusters registered: plain %d, stranger %d, A inbound %d",
			sp.NumOutboundGateways(), ss.NumOutboundGateways(), sa.NumInboundGateways())
	}

	// No gateway tls block, only the entry's: B's connection to A is TLS.
	ob := gatewayOptions("b", "B")
	ob.Gateway.Gateways = remote(gatewayTLSOpts(ca, cert))
	sb := RunServer(t, ob)
	waitFor(t, 5*time.Second, "B's outbound TLS gateway", func() bool { return sb.NumOutboundGateways() == 1 })

	// pinned_certs on the gateway block: a certificate of the right CA but
	// another key is refused.
	pinned := gatewayOptions("c", "C")
	pinned.Gateway.TLS = gatewayTLSOpts(ca, cert)
	pinned.Gateway.TLS.PinnedCerts = []string{server.CertPinKey(gatewayCert(t, ca, "someone").leaf)}
	pinned.Gateway.Gateways = remote(nil)
	sc, lc := runLoggedServer(t, pinned)
	lc.waitLog(t, "TLS: peer certificate not in pinned_certs")
	if sc.NumOutboundGateways() != 0 {
		t.Fatal("a gateway outside pinned_certs registered")
	}

	// insecure: D trusts only another CA, yet reaches A (which still
	// verifies D's certificate, issued by its CA).
	oi := gatewayOptions("d", "D")
	oi.Gateway.TLS = gatewayTLSOpts(other, gatewayCert(t, ca, "d"))
	oi.Gateway.TLS.Insecure = true
	oi.Gateway.Gateways = remote(nil)
	sd := RunServer(t, oi)
	waitFor(t, 5*time.Second, "insecure D's outbound gateway", func() bool { return sd.NumOutboundGateways() == 1 })
}

// tls options refused for gateways, and unreadable files reported at
// start.
func TestGatewayTLSConfigErrors(t *testing.T) {
	checkConfigErrors(t, []configCase{
		{`gateway { name: A, port: -1, tls { ocsp_peer: true } }`, "gateway tls: tls: ocsp_peer: not supported yet"},
		{`gateway { name: A, port: -1, tls { verify_cert_and_check_known_urls: true } }`, "not supported yet"},
		{`gateway { name: A, port: -1, tls { cert_file: "/nonexistent.pem", key_file: "/nonexistent.pem" } }`, "gateway tls:"},
		{`gateway { name: A, port: -1, gateways [ { name: B, url: "nats://127.0.0.1:1", tls { ca_file: "/nonexistent.pem" } } ] }`, `gateway "B" tls:`},
	})
}

// Our cluster and a reference cluster gatewayed over TLS, each soliciting
// the other: messages cross both ways.
func TestGatewayTLSBinaryInterop(t *testing.T) {
	refBin(t)
	ca := newTestCA(t, "gw")
	cert := gatewayCert(t, ca, "gw")
	rGW := freePort(t)
	o := gatewayOptions("a0", "A")
	o.Gateway.TLS = gatewayTLSOpts(ca, cert)
	o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "R", URLs: []*url.URL{{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(rGW)}}}}
	sa := RunServer(t, o)
	tlsBlock := fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q }", cert.certFile, cert.keyFile, ca.file)
	r := startRefGatewayCluster(t, gatewayURL(t, sa).String(), rGW, tlsBlock)
	waitFor(t, 15*time.Second, "gateways with the reference over TLS", func() bool {
		return sa.NumOutboundGateways() == 1 && sa.NumInboundGateways() == 2
	})
	ref := dialNATS(t, r[1].port)
	checkGatewayPath(t, connect(t, sa), ref, "tls.interop.out")
	checkGatewayPath(t, ref, connect(t, sa), "tls.interop.in")
}
