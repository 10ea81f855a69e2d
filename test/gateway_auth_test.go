package test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// The gateway authorization block, accepted and refused as the reference.
func TestGatewayAuthorizationConfig(t *testing.T) {
	checkConfigErrors(t, []configCase{
		{`gateway { name: A, port: -1, authorization { token: abc } }`, "Gateway authorization does not support tokens"},
		{`gateway { name: A, port: -1, authorization { users: [{user: a, password: b}] } }`, "Gateway authorization does not allow multiple users"},
		{`gateway { name: A, port: -1, authorization { nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4 } }`, `unknown field "nkey"`},
		{`gateway { name: A, port: -1, authorization { user: a, password: b, timeout: "abc" } }`, `invalid duration "abc"`},
	})
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "ok.conf",
		`gateway { name: A, port: -1, authorization { user: a, password: b, timeout: "3s", permissions { publish: "x" } } }`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Gateway.Username != "a" || o.Gateway.Password != "b" || o.Gateway.AuthTimeout != 3 {
		t.Fatalf("gateway authorization: %+v", o.Gateway)
	}
}

// A refused cluster is logged in the reference's words; the right
// credentials are then accepted.
func TestGatewayAuthorizationLog(t *testing.T) {
	oa := gatewayOptions("a", "A")
	oa.Gateway.Username, oa.Gateway.Password = "gw", "secret"
	sa, la := runLoggedServer(t, oa)
	u := gatewayURL(t, sa)
	u.User = url.UserPassword("gw", "wrong")
	ob := gatewayOptions("b", "B")
	ob.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{u}}}
	sb, lb := runLoggedServer(t, ob)
	la.waitLog(t, "[ERR]", `authentication error - User "gw"`)
	lb.waitLog(t, "Gateway Error", "Authorization Violation")
	if sa.NumInboundGateways() != 0 {
		t.Fatal("a cluster with a wrong password was registered")
	}
	sb.Shutdown()
	u.User = url.UserPassword("gw", "secret")
	sc := RunServer(t, ob)
	waitFor(t, 5*time.Second, "authorized gateway", func() bool { return sc.NumOutboundGateways() == 1 && sa.NumInboundGateways() == 1 })
}

// With verify_and_map, the other cluster's certificate must map to the
// gateway user; no password is asked.
func TestGatewayVerifyAndMap(t *testing.T) {
	ca := newTestCA(t, "gw")
	certFor := func(cn string) *issued {
		return ca.issue(t, cn, &x509.Certificate{
			Subject: pkix.Name{CommonName: cn}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		})
	}
	oa := gatewayOptions("a", "A")
	oa.Gateway.TLS = gatewayTLSOpts(ca, certFor("gwpeer"))
	oa.Gateway.TLS.Map = true
	oa.Gateway.Username = "CN=gwpeer"
	sa, la := runLoggedServer(t, oa)
	remote := []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{gatewayURL(t, sa)}}}

	ob := gatewayOptions("b", "B")
	ob.Gateway.TLS = gatewayTLSOpts(ca, certFor("intruder"))
	ob.Gateway.Gateways = remote
	RunServer(t, ob)
	la.waitLog(t, "[ERR]", "authentication error")
	if sa.NumInboundGateways() != 0 {
		t.Fatal("a certificate not mapped to the gateway user was accepted")
	}

	oc := gatewayOptions("c", "C")
	oc.Gateway.TLS = gatewayTLSOpts(ca, certFor("gwpeer"))
	oc.Gateway.Gateways = remote
	sc := RunServer(t, oc)
	waitFor(t, 5*time.Second, "mapped gateway", func() bool { return sc.NumOutboundGateways() == 1 && sa.NumInboundGateways() == 1 })
}

// Our cluster and a reference cluster both requiring gateway credentials,
// each soliciting the other with user:pass@ URLs.
func TestGatewayAuthBinaryInterop(t *testing.T) {
	refBin(t)
	rGW := freePort(t)
	o := gatewayOptions("a0", "A")
	o.Gateway.Username, o.Gateway.Password = "ours", "p1"
	o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "R", URLs: []*url.URL{{Scheme: "nats", User: url.UserPassword("theirs", "p2"), Host: "127.0.0.1:" + strconv.Itoa(rGW)}}}}
	sa := RunServer(t, o)
	aURL := gatewayURL(t, sa)
	aURL.User = url.UserPassword("ours", "p1")
	r := startRefGatewayCluster(t, aURL.String(), rGW, `authorization { user: theirs, password: p2 }`)
	waitFor(t, 15*time.Second, "gateways with the reference, authenticated", func() bool {
		return sa.NumOutboundGateways() == 1 && sa.NumInboundGateways() == 2
	})
	ref := dialNATS(t, r[1].port)
	checkGatewayPath(t, connect(t, sa), ref, "auth.interop.out")
	checkGatewayPath(t, ref, connect(t, sa), "auth.interop.in")
	if out := r[0].p.output() + r[1].p.output(); strings.Contains(out, "authentication error") {
		t.Fatalf("the reference refused us: %s", out)
	}
}
