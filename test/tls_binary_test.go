package test

import (
	"crypto/x509/pkix"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// The binary serves TLS from the command line alone and refuses clients
// without a certificate when --tlsverify is given.
func TestBinaryTLSFlags(t *testing.T) {
	e := newTLSEnv(t)
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-D",
		"--tlsverify", "--tlscert", e.srv.certFile, "--tlskey", e.srv.keyFile, "--tlscacert", e.ca.file)
	p.waitOutput("Server is ready")
	if !strings.Contains(p.output(), "[INF] TLS required for client connections") {
		t.Fatalf("no TLS notice in:\n%s", p.output())
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	cert := e.ca.clientCert(t, "cli", pkix.Name{CommonName: "cli"}, nil, nil)
	nc, err := nats.Connect(url, nats.Secure(e.clientTLS(cert)))
	if err != nil {
		t.Fatalf("client with certificate: %v", err)
	}
	defer nc.Close()
	roundTrip(t, nc)
	if _, err := nats.Connect(url, nats.Secure(e.clientTLS()), nats.MaxReconnects(0)); err == nil {
		t.Fatal("client without certificate connected")
	}
	p.waitOutput("TLS handshake error: tls: client didn't provide a certificate")
	p.waitOutput("Client connection closed: TLS Handshake Failure")
}

func TestBinaryTLSFlagErrors(t *testing.T) {
	out, code := runBin(t, "--tls")
	if code != 1 || !strings.Contains(out, "nats-server: TLS Server certificate must be present and valid") {
		t.Fatalf("--tls without certificate: exit %d, %q", code, out)
	}
	out, code = runBin(t, "--tlscert", "/nonexistent.pem", "--tlskey", "/nonexistent.key")
	if code != 1 || !strings.Contains(out, "error parsing X509 certificate/key pair: open /nonexistent.pem") {
		t.Fatalf("missing certificate file: exit %d, %q", code, out)
	}
}

func TestBinaryHelpTLS(t *testing.T) {
	out, code := runBin(t, "--help_tls")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"TLS configuration is specified in the tls section", "Available cipher suites include:",
		"    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n", "Available curve preferences include:", "    SecP256r1MLKEM768\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help_tls lacks %q", want)
		}
	}
}
