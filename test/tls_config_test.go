package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The tls block from a config file, and new certificates applied by reload.
func TestTLSFromConfigFileAndReload(t *testing.T) {
	one, two := newTLSEnv(t), newTLSEnv(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := func(e *tlsEnv) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\ntls {\n  cert_file: %q\n  key_file: %q\n  timeout: 0.5\n}\n",
			port, e.srv.certFile, e.srv.keyFile)
	}
	cfg := writeConf(t, dir, "tls.conf", conf(one))
	s := runConfigServer(t, cfg)
	rc := dialRaw(t, s)
	if want := `"tls_required":true`; !strings.Contains(rc.info, want) {
		t.Fatalf("INFO without %s: %s", want, rc.info)
	}
	old := connect(t, s, nats.Secure(one.clientTLS()))

	writeConf(t, dir, "tls.conf", conf(two))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	connect(t, s, nats.Secure(two.clientTLS()))
	if nc, err := nats.Connect(s.ClientURL(), nats.Secure(one.clientTLS())); err == nil {
		nc.Close()
		t.Fatal("a client trusting only the old CA must fail after the certificate changed")
	}
	// Open connections keep their session.
	if err := old.Flush(); err != nil {
		t.Fatalf("existing TLS connection broken by reload: %v", err)
	}
}

// A PING due while a client is still upgrading to TLS must not be written in
// clear text into the handshake.
func TestTLSNoPingDuringHandshake(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.PingInterval = 20 * time.Millisecond
	o.TLS.Timeout = 2
	s := RunServer(t, o)
	c, err := net.DialTimeout("tcp", s.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := readLineRaw(c); err != nil {
		t.Fatal(err)
	}
	// Several ping intervals pass before the client starts the handshake.
	time.Sleep(120 * time.Millisecond)
	tc := tls.Client(c, e.clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake after ping intervals: %v", err)
	}
	io.WriteString(tc, "CONNECT {\"verbose\":false}\r\nPING\r\n")
	br := bufio.NewReader(tc)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "PONG\r\n" {
			return
		}
	}
}
