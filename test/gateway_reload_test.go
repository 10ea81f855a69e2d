package test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// A reload may change what the gateway tls block holds: a certificate
// renewed in place is used by the next connections (a cluster trusting
// only the new certificate's CA gets in), open ones stay. Every other
// gateway change is refused, as the reference refuses it.
func TestGatewayReloadTLS(t *testing.T) {
	one, two := newTestCA(t, "one"), newTestCA(t, "two")
	dir := t.TempDir()
	cert, key, bundle := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "cas.pem")
	first := gatewayCert(t, one, "first")
	copyFile(t, first.certFile, cert)
	copyFile(t, first.keyFile, key)
	writeBundle(t, bundle, one.file, two.file)
	port := freePort(t)
	block := func(extra string) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\ngateway {\n name: A\n listen: \"127.0.0.1:%d\"\n tls { cert_file: %q, key_file: %q, ca_file: %q }\n %s\n}\n",
			port, cert, key, bundle, extra)
	}
	cfg := writeConf(t, dir, "gw.conf", block(""))
	sa := runConfigServer(t, cfg)

	remote := []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", port)}}}}
	ob := gatewayOptions("b", "B")
	ob.Gateway.TLS = gatewayTLSOpts(one, gatewayCert(t, one, "b"))
	ob.Gateway.TLS.CaFile = bundle
	ob.Gateway.Gateways = remote
	sb := RunServer(t, ob)
	waitFor(t, 5*time.Second, "B over TLS", func() bool { return sb.NumOutboundGateways() == 1 && sa.NumInboundGateways() == 1 })

	// C trusts only CA two: refused until A's certificate is renewed.
	oc := gatewayOptions("c", "C")
	oc.Gateway.TLS = gatewayTLSOpts(two, gatewayCert(t, two, "c"))
	oc.Gateway.Gateways = remote
	sc, lc := runLoggedServer(t, oc)
	lc.waitLog(t, "Error connecting to explicit gateway", "TLS:")

	second := gatewayCert(t, two, "second")
	copyFile(t, second.certFile, cert)
	copyFile(t, second.keyFile, key)
	if err := sa.Reload(); err != nil {
		t.Fatalf("reload with a renewed gateway certificate: %v", err)
	}
	waitFor(t, 10*time.Second, "C after the renewal", func() bool { return sc.NumOutboundGateways() == 1 })
	if sb.NumOutboundGateways() != 1 {
		t.Fatal("the open gateway connection was dropped by the reload")
	}

	for _, change := range []string{
		`gateways [ { name: X, url: "nats://127.0.0.1:1" } ]`,
		`authorization { user: a, password: b }`,
		`advertise: "127.0.0.1:9999"`,
		`connect_retries: 3`,
		`reject_unknown_cluster: true`,
	} {
		if err := os.WriteFile(cfg, []byte(block(change)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := sa.Reload(); err == nil || !strings.Contains(err.Error(), "config reload not supported for Gateway") {
			t.Errorf("%s: reload error %v", change, err)
		}
	}
	noTLS := fmt.Sprintf("listen: 127.0.0.1:-1\ngateway { name: A, listen: \"127.0.0.1:%d\" }\n", port)
	if err := os.WriteFile(cfg, []byte(noTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sa.Reload(); err == nil || !strings.Contains(err.Error(), "config reload not supported for Gateway") {
		t.Errorf("removing gateway TLS: reload error %v", err)
	}
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(block("")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sa.Reload(); err == nil || !strings.Contains(err.Error(), "gateway tls") {
		t.Fatalf("a broken gateway certificate: reload error %v", err)
	}
}

func writeBundle(t *testing.T, dst string, files ...string) {
	t.Helper()
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(dst, all, 0o600); err != nil {
		t.Fatal(err)
	}
}
