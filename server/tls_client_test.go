package server

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// tlsFiles writes a self-signed certificate for 127.0.0.1 and its key.
func tlsFiles(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	cert := selfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign})
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	kder, _ := x509.MarshalPKCS8PrivateKey(lastSelfSignedKey)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The state monitoring reads: version and suite, and whether the client
// did the handshake before INFO (connz tls_first).
func TestClientTLSConnState(t *testing.T) {
	certFile, keyFile, pool := tlsFiles(t)
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoSigs: true,
		TLS: &TLSConfigOpts{CertFile: certFile, KeyFile: keyFile, HandshakeFirst: true, FallbackDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("not ready")
	}
	defer s.Shutdown()
	if s.tlsConfig() == nil || s.httpsTLSConfig().ClientAuth != tls.NoClientCert {
		t.Fatal("listener TLS configs not exposed")
	}
	cfg := &tls.Config{RootCAs: pool}
	first, err := nats.Connect(s.ClientURL(), nats.Secure(cfg), nats.TLSHandshakeFirst(), nats.Name("first"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	later, err := nats.Connect(s.ClientURL(), nats.Secure(cfg), nats.Name("later"))
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	clients := s.clientList()
	if len(clients) != 2 {
		t.Fatalf("%d clients", len(clients))
	}
	for _, c := range clients {
		st, isFirst, ok := c.tlsConnState()
		c.mu.Lock()
		name := c.opts.Name
		c.mu.Unlock()
		if !ok || st.Version != tls.VersionTLS13 || isFirst != (name == "first") {
			t.Errorf("%s: ok %v version %x first %v", name, ok, st.Version, isFirst)
		}
	}
}
