package test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// infoFields decodes the TLS fields of an INFO line.
func infoFields(t testing.TB, line string) (required, verify, available bool) {
	t.Helper()
	var info server.Info
	body := strings.TrimSpace(strings.TrimPrefix(line, "INFO "))
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("bad INFO %q: %v", line, err)
	}
	return info.TLSRequired, info.TLSVerify, info.TLSAvailable
}

// roundTrip proves a connection carries messages both ways.
func roundTrip(t testing.TB, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.SubscribeSync("tls.rt")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("tls.rt", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if string(m.Data) != "secret" {
		t.Fatalf("round trip: got %q", m.Data)
	}
}

func TestTLSRequiredInfoAndTraffic(t *testing.T) {
	e := newTLSEnv(t)
	s, logs := runLoggedServer(t, e.opts())
	logs.waitLog(t, "[INF] TLS required for client connections")

	rc := dialRaw(t, s)
	req, ver, avail := infoFields(t, rc.info)
	if !req || ver || avail {
		t.Fatalf("INFO tls_required/verify/available = %v/%v/%v, want true/false/false", req, ver, avail)
	}
	// A client speaking clear text after INFO is not a TLS client.
	rc.send("CONNECT {}\r\nPING\r\n")
	rc.expectClosed()
	logs.waitLog(t, "[ERR]", "TLS handshake error: tls: first record does not look like a TLS handshake")
	logs.waitLog(t, "Client connection closed: TLS Handshake Failure")

	nc := connect(t, s, nats.Secure(e.clientTLS()))
	roundTrip(t, nc)
	st, err := nc.TLSConnectionState()
	if err != nil || st.Version < tls.VersionTLS12 {
		t.Fatalf("connection state: %v version %x", err, st.Version)
	}
	logs.waitLog(t, "[DBG]", "TLS handshake complete")
	logs.waitLog(t, "[DBG]", "TLS version 1.3, cipher suite TLS_")

	// A client that wants no TLS cannot connect.
	if _, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0)); err == nil {
		t.Fatal("plain client connected to a TLS-required server")
	}
}

func TestTLSVerifyClientCertificates(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.TLS.Verify = true
	s, logs := runLoggedServer(t, o)

	_, ver, _ := infoFields(t, dialRaw(t, s).info)
	if !ver {
		t.Fatal("INFO lacks tls_verify")
	}
	good := e.ca.clientCert(t, "alice", pkix.Name{CommonName: "alice"}, nil, nil)
	roundTrip(t, connect(t, s, nats.Secure(e.clientTLS(good))))

	t.Run("no client certificate", func(t *testing.T) {
		_, err := nats.Connect(s.ClientURL(), nats.Secure(e.clientTLS()), nats.MaxReconnects(0))
		if err == nil {
			t.Fatal("connected without a client certificate")
		}
		line := logs.waitLog(t, "[ERR]", "TLS handshake error: tls: client didn't provide a certificate")
		if !strings.Contains(line, "127.0.0.1:") {
			t.Fatalf("no remote address in %q", line)
		}
	})
	t.Run("client certificate of another CA", func(t *testing.T) {
		other := newTestCA(t, "other")
		stranger := other.clientCert(t, "mallory", pkix.Name{CommonName: "mallory"}, nil, nil)
		cfg := e.clientTLS()
		// Go clients only volunteer a certificate of a CA the server names.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &stranger.tls, nil
		}
		if _, err := nats.Connect(s.ClientURL(), nats.Secure(cfg), nats.MaxReconnects(0)); err == nil {
			t.Fatal("connected with a certificate of an unknown CA")
		}
		logs.waitLog(t, "[ERR]", "TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority")
	})
	t.Run("expired client certificate", func(t *testing.T) {
		old := e.ca.issue(t, "old", &x509.Certificate{
			Subject:     pkix.Name{CommonName: "old"},
			NotBefore:   time.Now().Add(-48 * time.Hour),
			NotAfter:    time.Now().Add(-24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if _, err := nats.Connect(s.ClientURL(), nats.Secure(e.clientTLS(old)), nats.MaxReconnects(0)); err == nil {
			t.Fatal("connected with an expired certificate")
		}
		line := logs.waitLog(t, "[ERR]", "TLS handshake error:", "certificate has expired or is not yet valid")
		fp := sha256.Sum256(old.leaf.Raw)
		if want := fmt.Sprintf("(CN=old SHA-256: %x)", fp); !strings.HasSuffix(line, want) {
			t.Fatalf("refused certificate not named: %q, want suffix %q", line, want)
		}
	})
}

func TestTLSClientDistrustsServer(t *testing.T) {
	e := newTLSEnv(t)
	s, logs := runLoggedServer(t, e.opts())
	other := newTestCA(t, "other")
	cfg := &tls.Config{RootCAs: other.pool(), ServerName: "127.0.0.1"}
	if _, err := nats.Connect(s.ClientURL(), nats.Secure(cfg), nats.MaxReconnects(0)); err == nil {
		t.Fatal("client accepted a server certificate of an unknown CA")
	}
	logs.waitLog(t, "[ERR]", "TLS handshake error: remote error: tls: bad certificate")
	logs.waitLog(t, "Client connection closed: TLS Handshake Failure")
}

func TestTLSMinVersion(t *testing.T) {
	e := newTLSEnv(t)
	s, logs := runLoggedServer(t, e.opts())
	old := e.clientTLS()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, _, err := tlsDial(t, s, old); err == nil {
		t.Fatal("TLS 1.1 accepted by default")
	}
	logs.waitLog(t, "[ERR]", "TLS handshake error: tls: client offered only unsupported versions")
	v12 := e.clientTLS()
	v12.MaxVersion = tls.VersionTLS12
	if _, _, err := tlsDial(t, s, v12); err != nil {
		t.Fatalf("TLS 1.2 refused by default: %v", err)
	}

	o := e.opts()
	o.TLS.MinVersion = "1.3"
	s13, _ := runLoggedServer(t, o)
	if _, _, err := tlsDial(t, s13, v12); err == nil {
		t.Fatal("TLS 1.2 accepted with min_version 1.3")
	}
	if _, _, err := tlsDial(t, s13, e.clientTLS()); err != nil {
		t.Fatalf("TLS 1.3 refused: %v", err)
	}
}

func TestTLSCipherSuitesAndCurves(t *testing.T) {
	e := newTLSEnv(t)
	s, _ := runLoggedServer(t, e.opts())
	offer := func(s *server.Server, suite uint16, curve tls.CurveID) error {
		cfg := e.clientTLS()
		if suite != 0 {
			cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, []uint16{suite}
		}
		if curve != 0 {
			cfg.CurvePreferences = []tls.CurveID{curve}
		}
		_, _, err := tlsDial(t, s, cfg)
		return err
	}
	// The defaults: ECDHE with AEAD or CBC-SHA; never CBC-SHA256 or RC4.
	for _, id := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA} {
		if err := offer(s, id, 0); err != nil {
			t.Errorf("default refused %s: %v", tls.CipherSuiteName(id), err)
		}
	}
	for _, id := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA} {
		if offer(s, id, 0) == nil {
			t.Errorf("default accepted %s", tls.CipherSuiteName(id))
		}
	}
	for _, c := range []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
		tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521} {
		if err := offer(s, 0, c); err != nil {
			t.Errorf("default refused curve %v: %v", c, err)
		}
	}

	o := e.opts()
	o.TLS.Ciphers = []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}
	o.TLS.CurvePreferences = []string{"CurveP384"}
	s2, _ := runLoggedServer(t, o)
	if err := offer(s2, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.CurveP384); err != nil {
		t.Fatalf("configured suite refused: %v", err)
	}
	if offer(s2, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0) == nil {
		t.Fatal("suite outside cipher_suites accepted")
	}
	if offer(s2, 0, tls.CurveP256) == nil {
		t.Fatal("curve outside curve_preferences accepted")
	}
}

func TestTLSPinnedCerts(t *testing.T) {
	e := newTLSEnv(t)
	pinned := e.ca.clientCert(t, "pinned", pkix.Name{CommonName: "pinned"}, nil, nil)
	other := e.ca.clientCert(t, "other", pkix.Name{CommonName: "other"}, nil, nil)
	o := e.opts()
	o.TLS.Verify = true
	o.TLS.PinnedCerts = []string{strings.ToUpper(server.CertPinKey(pinned.leaf))}
	s, logs := runLoggedServer(t, o)

	roundTrip(t, connect(t, s, nats.Secure(e.clientTLS(pinned))))
	if _, err := nats.Connect(s.ClientURL(), nats.Secure(e.clientTLS(other)), nats.MaxReconnects(0)); err == nil {
		t.Fatal("connected with a certificate that is not pinned")
	}
	logs.waitLog(t, "[DBG]", "Failed pinned cert test for key id: "+server.CertPinKey(other.leaf))
	logs.waitLog(t, "[ERR]", "TLS handshake error: certificate not pinned")

	// Without verify a client may send no certificate: that is not pinned.
	o2 := e.opts()
	o2.TLS.PinnedCerts = o.TLS.PinnedCerts
	s2, logs2 := runLoggedServer(t, o2)
	if _, err := nats.Connect(s2.ClientURL(), nats.Secure(e.clientTLS()), nats.MaxReconnects(0)); err == nil {
		t.Fatal("connected without a certificate to a pinned server")
	}
	logs2.waitLog(t, "Failed pinned cert test as client did not provide a certificate")
}

func TestTLSHandshakeFirst(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.TLS.HandshakeFirst = true
	o.TLS.Timeout = 0.3
	s, logs := runLoggedServer(t, o)
	logs.waitLog(t, `[WRN] Clients that are not using "TLS Handshake First" option will fail to connect`)

	roundTrip(t, connect(t, s, nats.Secure(e.clientTLS()), nats.TLSHandshakeFirst()))
	// A client waiting for INFO gets nothing and is closed after the timeout.
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	var b [64]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("INFO-first client: read %q, %v after %v; want a close, no data", b[:n], err, time.Since(start))
	}
	logs.waitLog(t, "[DBG]", "TLS handshake error:", "i/o timeout")
	if _, err := nats.Connect(s.ClientURL(), nats.Secure(e.clientTLS()), nats.MaxReconnects(0), nats.Timeout(time.Second)); err == nil {
		t.Fatal("a client without TLS-first connected to handshake_first: true")
	}
}

func TestTLSHandshakeFirstFallback(t *testing.T) {
	e := newTLSEnv(t)
	for _, delay := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond} {
		o := e.opts()
		o.TLS.HandshakeFirst, o.TLS.FallbackDelay = true, delay
		s, logs := runLoggedServer(t, o)
		roundTrip(t, connect(t, s, nats.Secure(e.clientTLS()), nats.TLSHandshakeFirst()))
		// An older client gets INFO in clear after the delay, then upgrades.
		start := time.Now()
		nc := connect(t, s, nats.Secure(e.clientTLS()))
		if took := time.Since(start); took < delay {
			t.Fatalf("INFO came after %v, before the %v fallback", took, delay)
		}
		roundTrip(t, nc)
		if line := logs.find("Clients that are not using"); line != "" {
			t.Fatalf("fallback mode warned: %q", line)
		}
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.TLS.Timeout = 0.25
	s, logs := runLoggedServer(t, o)
	rc := dialRaw(t, s)
	start := time.Now()
	rc.expectClosed()
	if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("closed after %v, want about 250ms", took)
	}
	line := logs.waitLog(t, "TLS handshake error:", "i/o timeout")
	if !strings.HasPrefix(line, "[DBG]") {
		t.Fatalf("a handshake timeout is routine, logged at debug: %q", line)
	}
	logs.waitLog(t, "Client connection closed: TLS Handshake Failure")
}

func TestTLSAllowNonTLS(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.AllowNonTLS = true
	s, logs := runLoggedServer(t, o)
	logs.waitLog(t, "[INF] TLS available for client connections")
	req, _, avail := infoFields(t, dialRaw(t, s).info)
	if req || !avail {
		t.Fatalf("INFO tls_required/tls_available = %v/%v, want false/true", req, avail)
	}
	plain := connect(t, s)
	roundTrip(t, plain)
	if _, err := plain.TLSConnectionState(); err == nil {
		t.Fatal("plain connection reports TLS")
	}
	secure := connect(t, s, nats.Secure(e.clientTLS()))
	roundTrip(t, secure)
	if st, err := secure.TLSConnectionState(); err != nil || !st.HandshakeComplete {
		t.Fatalf("secure connection without TLS: %v", err)
	}
	// Both kinds see each other's messages.
	sub, _ := plain.SubscribeSync("mixed")
	plain.Flush()
	secure.Publish("mixed", []byte("x"))
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("plain subscriber missed a TLS publisher: %v", err)
	}
}

// An empty tls block with allow_non_tls serves clients behind a proxy.
func TestTLSEmptyBlockAllowNonTLS(t *testing.T) {
	o := DefaultTestOptions()
	o.TLS = &server.TLSConfigOpts{}
	o.AllowNonTLS = true
	s, _ := runLoggedServer(t, o)
	roundTrip(t, connect(t, s))
}

func TestTLSVerifyAndMap(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.TLS.Map = true
	o.Users = []*server.User{
		{Username: "alice@example.com"},
		{Username: "svc.example.com", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Deny: []string{"forbidden"}}}},
		{Username: "CN=carol,OU=eng,O=Acme,C=US"},
		{Username: "bob", Password: "pw"},
	}
	s, logs := runLoggedServer(t, o)
	_, ver, _ := infoFields(t, dialRaw(t, s).info)
	if !ver {
		t.Fatal("verify_and_map does not announce tls_verify")
	}

	alice := e.ca.clientCert(t, "alice", pkix.Name{CommonName: "alice"}, []string{"nobody@example.com", "alice@example.com"}, []string{"svc.example.com"})
	roundTrip(t, connect(t, s, nats.Secure(e.clientTLS(alice))))
	logs.waitLog(t, `Using email found in cert for auth ["alice@example.com"]`)

	svc := e.ca.clientCert(t, "svc", pkix.Name{CommonName: "svc"}, nil, []string{"svc.example.com"})
	errs := make(chan error, 1)
	nc := connect(t, s, nats.Secure(e.clientTLS(svc)), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		errs <- err
	}))
	logs.waitLog(t, `Using SAN found in cert for auth ["svc.example.com"]`)
	nc.Publish("forbidden", nil)
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `Permissions Violation for Publish to "forbidden"`) {
			t.Fatalf("mapped user's permissions not applied: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("mapped user's permissions not applied")
	}

	carol := e.ca.clientCert(t, "carol", pkix.Name{CommonName: "carol", OrganizationalUnit: []string{"eng"},
		Organization: []string{"Acme"}, Country: []string{"US"}}, nil, nil)
	roundTrip(t, connect(t, s, nats.Secure(e.clientTLS(carol))))
	logs.waitLog(t, `Using DistinguishedNameMatch for auth ["CN=carol,OU=eng,O=Acme,C=US"]`)

	t.Run("unmapped certificate", func(t *testing.T) {
		dave := e.ca.clientCert(t, "dave", pkix.Name{CommonName: "dave"}, nil, nil)
		_, err := nats.Connect(s.ClientURL(), nats.Secure(e.clientTLS(dave)), nats.MaxReconnects(0))
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Fatalf("unmapped certificate: %v, want Authorization Violation", err)
		}
		logs.waitLog(t, `User in cert ["CN=dave"], not found`)
		logs.waitLog(t, "[ERR]", "authentication error")
	})
	t.Run("user and password instead of a mapped certificate", func(t *testing.T) {
		_, err := nats.Connect(s.ClientURL(), nats.Secure(e.clientTLS(alice)), nats.UserInfo("bob", "pw"), nats.MaxReconnects(0))
		if err == nil {
			t.Fatal("CONNECT user accepted while the certificate must decide")
		}
		logs.waitLog(t, `[WRN] User "bob" found in connect proto, but user required from cert`)
		logs.waitLog(t, `[ERR]`, `authentication error - User "alice@example.com"`)
	})
}

func TestTLSOptionErrors(t *testing.T) {
	e := newTLSEnv(t)
	cases := []struct {
		name string
		mod  func(o *server.Options)
		want string
	}{
		{"missing key", func(o *server.Options) { o.TLS.KeyFile = "" }, "missing 'key_file' in TLS configuration"},
		{"missing cert", func(o *server.Options) { o.TLS.CertFile = "" }, "missing 'cert_file' in TLS configuration"},
		{"bad key pair", func(o *server.Options) { o.TLS.KeyFile = o.TLS.CaFile }, "error parsing X509 certificate/key pair"},
		{"no ca file", func(o *server.Options) { o.TLS.CaFile = "/nonexistent/ca.pem" }, "no such file or directory"},
		{"bad ca file", func(o *server.Options) { o.TLS.CaFile = e.srv.keyFile }, "failed to parse root ca certificate"},
		{"unknown cipher", func(o *server.Options) { o.TLS.Ciphers = []string{"bogus"} }, "unrecognized cipher bogus"},
		{"insecure cipher", func(o *server.Options) { o.TLS.Ciphers = []string{"TLS_RSA_WITH_RC4_128_SHA"} },
			"insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: TLS_RSA_WITH_RC4_128_SHA"},
		{"unknown curve", func(o *server.Options) { o.TLS.CurvePreferences = []string{"bogus"} }, "unrecognized curve preference bogus"},
		{"tls 1.1", func(o *server.Options) { o.TLS.MinVersion = "1.1" }, "unsupported TLS version: TLS 1.1"},
		{"unknown version", func(o *server.Options) { o.TLS.MinVersion = "2.0" }, "unknown version: 2.0"},
		{"bad pin", func(o *server.Options) { o.TLS.PinnedCerts = []string{"abc"} }, "'pinned_certs' key abc does not look like hex-encoded sha256"},
		{"known urls", func(o *server.Options) { o.TLS.CheckKnownURLs = true }, "verify_cert_and_check_known_urls not supported in this context"},
		{"ocsp", func(o *server.Options) { o.TLS.OCSPPeer = true }, "not supported yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := e.opts()
			tc.mod(o)
			_, err := server.NewServer(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewServer error %v, want %q", err, tc.want)
			}
		})
	}
	// An insecure suite is accepted when asked for explicitly.
	o := e.opts()
	o.TLS.Ciphers, o.TLS.AllowInsecureCiphers = []string{"TLS_RSA_WITH_RC4_128_SHA"}, true
	if _, err := server.NewServer(o); err != nil {
		t.Fatalf("allow_insecure_cipher_suites: %v", err)
	}
}

func TestGenTLSConfig(t *testing.T) {
	e := newTLSEnv(t)
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: e.srv.certFile, KeyFile: e.srv.keyFile, CaFile: e.ca.file,
		Map: true, Insecure: true, MinVersion: "1.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.MinVersion != tls.VersionTLS13 ||
		!cfg.InsecureSkipVerify || len(cfg.Certificates) != 1 || cfg.ClientCAs == nil || cfg.RootCAs == nil {
		t.Fatalf("unexpected config: auth %v min %x insecure %v certs %d", cfg.ClientAuth, cfg.MinVersion,
			cfg.InsecureSkipVerify, len(cfg.Certificates))
	}
	def, err := server.GenTLSConfig(&server.TLSConfigOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if def.MinVersion != tls.VersionTLS12 || def.ClientAuth != tls.NoClientCert || len(def.CipherSuites) != 10 || len(def.CurvePreferences) != 7 {
		t.Fatalf("defaults: min %x auth %v suites %d curves %d", def.MinVersion, def.ClientAuth, len(def.CipherSuites), len(def.CurvePreferences))
	}
	if _, err := server.GenTLSConfig(nil); err == nil {
		t.Fatal("nil options accepted")
	}
	if d := server.TLSTimeout(&server.TLSConfigOpts{Timeout: 0.5}); d != 500*time.Millisecond {
		t.Fatalf("timeout 0.5 = %v", d)
	}
	if d := server.TLSTimeout(&server.TLSConfigOpts{}); d != 2*time.Second {
		t.Fatalf("default timeout = %v", d)
	}
}

func TestTLSFlags(t *testing.T) {
	e := newTLSEnv(t)
	parse := func(args ...string) (*server.Options, error) {
		o, _, err := server.ConfigureOptions(flag.NewFlagSet("nats-server", flag.ContinueOnError), args)
		return o, err
	}
	o, err := parse("--tlsverify", "--tlscert", e.srv.certFile, "--tlskey", e.srv.keyFile, "--tlscacert", e.ca.file)
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS == nil || !o.TLS.Verify || o.TLS.CertFile != e.srv.certFile || o.TLS.CaFile != e.ca.file {
		t.Fatalf("flags gave %+v", o.TLS)
	}
	if o, err = parse("--tlscert", e.srv.certFile, "--tlskey", e.srv.keyFile); err != nil || o.TLS == nil || o.TLS.Verify {
		t.Fatalf("--tlscert alone: %v %+v", err, o.TLS)
	}
	if o, err = parse("--tls=false", "--tlscert", e.srv.certFile, "--tlskey", e.srv.keyFile); err != nil || o.TLS != nil {
		t.Fatalf("--tls=false: %v %+v", err, o.TLS)
	}
	for _, args := range [][]string{{"--tls"}, {"--tlscacert", e.ca.file}, {"--tlsverify", "--tlscert", e.srv.certFile}} {
		if _, err := parse(args...); err == nil || err.Error() != "TLS Server certificate must be present and valid" {
			t.Fatalf("%v: error %v", args, err)
		}
	}
}

func TestTLSHelp(t *testing.T) {
	h := server.TLSHelp()
	for _, want := range []string{"Available cipher suites include:\n    TLS_AES_128_GCM_SHA256\n",
		"    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n", "    TLS_RSA_WITH_RC4_128_SHA\n",
		"Available curve preferences include:\n", "    X25519MLKEM768\n", "    SecP384r1MLKEM1024\n", "    CurveP521\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("--help_tls lacks %q", want)
		}
	}
}

// A handshake that never completes must not hold up shutdown.
func TestTLSShutdownDuringHandshake(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.TLS.Timeout = 30
	s, logs := runLoggedServer(t, o)
	rc := dialRaw(t, s)
	logs.waitLog(t, "Starting TLS client connection handshake")
	done := make(chan struct{})
	go func() { s.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown blocked by a pending handshake")
	}
	rc.expectClosed()
	if line := logs.find("TLS handshake error"); line != "" {
		t.Fatalf("shutdown logged as a handshake failure: %q", line)
	}
}

// With TLS the default authorization timeout is the handshake timeout plus
// one second, as the reference's varz shows (tls timeout 0.5: auth 1.5).
func TestTLSDefaultAuthTimeout(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.TLS.Timeout = 0.2
	o.Username, o.Password = "u", "p"
	s, _ := runLoggedServer(t, o)
	start := time.Now()
	tc, _, err := tlsDial(t, s, e.clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := readLineRaw(tc)
	took := time.Since(start)
	if err != nil || !strings.Contains(line, "Authentication Timeout") {
		t.Fatalf("got %q, %v", line, err)
	}
	if took < time.Second || took > 1900*time.Millisecond {
		t.Fatalf("authentication timeout after %v, want about 1.2s", took)
	}
}
