package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of the CA certificate
	dir  string
}

var serialSeq struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serialSeq.Lock()
	defer serialSeq.Unlock()
	serialSeq.n++
	return big.NewInt(serialSeq.n)
}

// newTestCA creates a CA valid for a day, written under t.TempDir().
func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	ca.file = writePEM(t, ca.dir, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// issued is a certificate and key signed by a testCA, as files and in memory.
type issued struct {
	certFile, keyFile string
	tls               tls.Certificate
	leaf              *x509.Certificate
}

// issue signs tmpl (serial, key usage and, unless set, validity filled in).
func (ca *testCA) issue(t testing.TB, name string, tmpl *x509.Certificate) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = nextSerial()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	is := &issued{
		certFile: writePEM(t, ca.dir, name+"-cert.pem", "CERTIFICATE", der),
		keyFile:  writePEM(t, ca.dir, name+"-key.pem", "PRIVATE KEY", kder),
	}
	is.leaf, _ = x509.ParseCertificate(der)
	is.tls = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: is.leaf}
	return is
}

// serverCert is valid for 127.0.0.1 and localhost.
func (ca *testCA) serverCert(t testing.TB) *issued {
	return ca.issue(t, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// clientCert is a client certificate with the given subject and SANs.
func (ca *testCA) clientCert(t testing.TB, name string, subject pkix.Name, emails, dns []string) *issued {
	return ca.issue(t, name, &x509.Certificate{
		Subject:        subject,
		EmailAddresses: emails,
		DNSNames:       dns,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureLog records every log line, debug included.
type captureLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *captureLog) add(level, format string, v ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(format, v...))
	l.mu.Unlock()
}

func (l *captureLog) Noticef(f string, v ...any) { l.add("[INF]", f, v...) }
func (l *captureLog) Warnf(f string, v ...any)   { l.add("[WRN]", f, v...) }
func (l *captureLog) Fatalf(f string, v ...any)  { l.add("[FTL]", f, v...) }
func (l *captureLog) Errorf(f string, v ...any)  { l.add("[ERR]", f, v...) }
func (l *captureLog) Debugf(f string, v ...any)  { l.add("[DBG]", f, v...) }
func (l *captureLog) Tracef(f string, v ...any)  { l.add("[TRC]", f, v...) }

// find returns the first line containing every part, "" if none.
func (l *captureLog) find(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}

// findAfter returns the first line after the line prev that contains
// part, "" if none.
func (l *captureLog) findAfter(prev, part string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := false
	for _, line := range l.lines {
		if seen && strings.Contains(line, part) {
			return line
		}
		if line == prev {
			seen = true
		}
	}
	return ""
}

// waitLog waits until a line holds every part and returns it.
func (l *captureLog) waitLog(t testing.TB, parts ...string) string {
	t.Helper()
	var line string
	waitFor(t, 3*time.Second, fmt.Sprintf("log line with %q", parts), func() bool {
		line = l.find(parts...)
		return line != ""
	})
	return line
}

// runLoggedServer starts a server whose log, debug included, the test reads.
func runLoggedServer(t testing.TB, opts *server.Options) (*server.Server, *captureLog) {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	l := &captureLog{}
	s.SetLogger(l, true, false)
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s, l
}

// tlsEnv is a CA with a server certificate and options serving it.
type tlsEnv struct {
	ca  *testCA
	srv *issued
}

func newTLSEnv(t testing.TB) *tlsEnv {
	ca := newTestCA(t, "nats-test")
	return &tlsEnv{ca: ca, srv: ca.serverCert(t)}
}

// opts returns loopback options with a tls block serving the server
// certificate and trusting the CA for client certificates.
func (e *tlsEnv) opts() *server.Options {
	o := DefaultTestOptions()
	o.TLS = &server.TLSConfigOpts{CertFile: e.srv.certFile, KeyFile: e.srv.keyFile, CaFile: e.ca.file}
	return o
}

// clientTLS is a client configuration trusting the CA, with certs if any.
func (e *tlsEnv) clientTLS(certs ...*issued) *tls.Config {
	cfg := &tls.Config{RootCAs: e.ca.pool(), ServerName: "127.0.0.1"}
	for _, c := range certs {
		cfg.Certificates = append(cfg.Certificates, c.tls)
	}
	return cfg
}

// tlsDial reads the clear-text INFO, then handshakes with cfg.
func tlsDial(t testing.TB, s *server.Server, cfg *tls.Config) (*tls.Conn, string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(3 * time.Second))
	info, err := readLineRaw(c)
	if err != nil {
		t.Fatalf("reading INFO: %v", err)
	}
	tc := tls.Client(c, cfg)
	return tc, info, tc.Handshake()
}

// readLineRaw reads one line byte by byte, so that nothing after it is
// consumed before a TLS handshake takes over the connection.
func readLineRaw(c net.Conn) (string, error) {
	var b []byte
	var one [1]byte
	for {
		if _, err := c.Read(one[:]); err != nil {
			return string(b), err
		}
		b = append(b, one[0])
		if one[0] == '\n' {
			return string(b), nil
		}
	}
}
