package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Defaults of a tls { } block, as the reference applies them.
const (
	// DEFAULT_TLS_TIMEOUT is how long a client has to complete the handshake.
	DEFAULT_TLS_TIMEOUT = 2 * time.Second
	// DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK is the wait of handshake_first: auto
	// before a client that sends no ClientHello gets the INFO in clear text.
	DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK = 50 * time.Millisecond
)

// cipherSuiteIDs maps every name --help_tls lists to its suite: the secure
// and the insecure ones (the latter only with allow_insecure_cipher_suites).
var cipherSuiteIDs = func() map[string]*tls.CipherSuite {
	m := make(map[string]*tls.CipherSuite)
	for _, cs := range tls.CipherSuites() {
		m[cs.Name] = cs
	}
	for _, cs := range tls.InsecureCipherSuites() {
		m[cs.Name] = cs
	}
	return m
}()

// curveIDs are the key exchanges curve_preferences may name, in the order
// --help_tls prints them.
var curveIDs = []tls.CurveID{
	tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
	tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521,
}

// defaultCipherSuites are the TLS 1.2 suites offered when cipher_suites is not
// set: ECDHE key exchange only, AEAD or CBC-SHA, the set the reference
// v2.15.2 accepts (observed by offering each suite alone). TLS 1.3 suites are
// not configurable in Go and are always on.
func defaultCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
}

// defaultCurvePreferences are the key exchanges offered when
// curve_preferences is not set: the post-quantum hybrids first, then the
// classic curves. The reference accepts each of them alone and picks
// X25519MLKEM768 for a client that offers everything.
func defaultCurvePreferences() []tls.CurveID {
	return append([]tls.CurveID(nil), curveIDs...)
}

// TLSHelp is the --help_tls text: the tls block's shape and the cipher
// suites and curves that cipher_suites and curve_preferences accept.
func TLSHelp() string {
	var b strings.Builder
	b.WriteString(`
TLS configuration is specified in the tls section of a configuration file:

e.g.

    tls {
        cert_file:      "./certs/server-cert.pem"
        key_file:       "./certs/server-key.pem"
        ca_file:        "./certs/ca.pem"
        verify:         true
        verify_and_map: true

        cipher_suites: [
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]
        curve_preferences: [
            "CurveP256",
            "CurveP384",
            "CurveP521"
        ]
    }

Available cipher suites include:
`)
	for _, cs := range tls.CipherSuites() {
		b.WriteString("    " + cs.Name + "\n")
	}
	for _, cs := range tls.InsecureCipherSuites() {
		b.WriteString("    " + cs.Name + "\n")
	}
	b.WriteString("\nAvailable curve preferences include:\n")
	for _, c := range curveIDs {
		b.WriteString("    " + c.String() + "\n")
	}
	return b.String()
}

// parseCipherSuite returns the suite called name, refusing an insecure one
// unless allowInsecure.
func parseCipherSuite(name string, allowInsecure bool) (uint16, error) {
	cs, ok := cipherSuiteIDs[name]
	if !ok {
		return 0, fmt.Errorf("unrecognized cipher %s", name)
	}
	if cs.Insecure && !allowInsecure {
		return 0, fmt.Errorf("insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: %s", name)
	}
	return cs.ID, nil
}

// parseCurve returns the key exchange called name.
func parseCurve(name string) (tls.CurveID, error) {
	for _, c := range curveIDs {
		if c.String() == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unrecognized curve preference %s", name)
}

// ParseTLSVersion reads min_version: "1.2" or "1.3"; older versions are
// refused, as with the reference. Empty means the default, TLS 1.2.
func ParseTLSVersion(v string) (uint16, error) {
	switch strings.TrimSpace(v) {
	case "":
		return tls.VersionTLS12, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0":
		return 0, errors.New("unsupported TLS version: TLS 1.0")
	case "1.1":
		return 0, errors.New("unsupported TLS version: TLS 1.1")
	}
	return 0, fmt.Errorf("unknown version: %s", v)
}

// PinnedCertSet holds pinned_certs: lowercase hex SHA-256 digests of the DER
// SubjectPublicKeyInfo of the certificates a peer may present.
type PinnedCertSet map[string]struct{}

// ParsePinnedCerts validates pinned_certs entries (64 hex digits each, any
// case) and returns them as a set.
func ParsePinnedCerts(keys []string) (PinnedCertSet, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	set := make(PinnedCertSet, len(keys))
	for _, k := range keys {
		k = strings.ToLower(strings.TrimSpace(k))
		if b, err := hex.DecodeString(k); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("'pinned_certs' key %s does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo", k)
		}
		set[k] = struct{}{}
	}
	return set, nil
}

// CertPinKey is the pinned_certs entry of a certificate.
func CertPinKey(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// TLSTimeout is the handshake timeout of a tls block: timeout in
// fractional seconds, DEFAULT_TLS_TIMEOUT when unset or not positive.
func TLSTimeout(t *TLSConfigOpts) time.Duration {
	if t == nil || t.Timeout <= 0 {
		return DEFAULT_TLS_TIMEOUT
	}
	return time.Duration(t.Timeout * float64(time.Second))
}

// GenTLSConfig builds the crypto/tls configuration of a tls block. It is the
// piece every listener and outgoing connection shares: certificate and key,
// CA bundle (trusted for client certificates and for servers we dial), client
// verification, cipher suites, curves and minimum version. Connection-level
// options (timeout, pinned_certs, handshake_first, verify_and_map) are
// applied by the caller around the handshake.
func GenTLSConfig(t *TLSConfigOpts) (*tls.Config, error) {
	if t == nil {
		return nil, errors.New("no TLS configuration")
	}
	cfg := &tls.Config{
		CipherSuites:     defaultCipherSuites(),
		CurvePreferences: defaultCurvePreferences(),
		// Outgoing connections only; a server never skips client checks.
		InsecureSkipVerify: t.Insecure,
	}
	if err := loadKeyPair(cfg, t); err != nil {
		return nil, err
	}
	if t.CaFile != "" {
		pool, err := loadCAFile(t.CaFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.RootCAs = pool, pool
	}
	if t.Verify || t.Map || t.CheckKnownURLs {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if len(t.Ciphers) > 0 {
		cfg.CipherSuites = cfg.CipherSuites[:0]
		for _, name := range t.Ciphers {
			id, err := parseCipherSuite(name, t.AllowInsecureCiphers)
			if err != nil {
				return nil, err
			}
			cfg.CipherSuites = append(cfg.CipherSuites, id)
		}
	}
	if len(t.CurvePreferences) > 0 {
		cfg.CurvePreferences = cfg.CurvePreferences[:0]
		for _, name := range t.CurvePreferences {
			c, err := parseCurve(name)
			if err != nil {
				return nil, err
			}
			cfg.CurvePreferences = append(cfg.CurvePreferences, c)
		}
	}
	v, err := ParseTLSVersion(t.MinVersion)
	if err != nil {
		return nil, err
	}
	cfg.MinVersion = v
	if _, err := ParsePinnedCerts(t.PinnedCerts); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadKeyPair loads cert_file and key_file; both or neither must be set (a
// tls block without a certificate serves allow_non_tls behind a proxy).
func loadKeyPair(cfg *tls.Config, t *TLSConfigOpts) error {
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return nil
	case t.CertFile == "":
		return errors.New("missing 'cert_file' in TLS configuration")
	case t.KeyFile == "":
		return errors.New("missing 'key_file' in TLS configuration")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return fmt.Errorf("error parsing X509 certificate/key pair: %v", err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return nil
}

func loadCAFile(name string) (*x509.CertPool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("failed to parse root ca certificate")
	}
	return pool, nil
}

// validateClientTLS checks what only the client listener refuses: options of
// other contexts and features this server does not serve yet.
func validateClientTLS(t *TLSConfigOpts) error {
	if t.CheckKnownURLs {
		return errors.New("verify_cert_and_check_known_urls not supported in this context")
	}
	return tlsOptsNotServed(t)
}

// tlsOptsNotServed refuses the tls options no listener of this server
// applies yet.
func tlsOptsNotServed(t *TLSConfigOpts) error {
	switch {
	case t.OCSPPeer:
		return errors.New("tls: ocsp_peer: not supported yet by this server")
	case t.CertStore != "":
		return errors.New("cert_store not compatible with current operating system")
	case t.CertMatch != "":
		return errors.New("tls: cert_match: not supported yet by this server")
	case t.ConnectionRateLim > 0:
		return errors.New("tls: connection_rate_limit: not supported yet by this server")
	}
	return nil
}

// tlsFlagNames are the command-line flags that configure client TLS.
var tlsFlagNames = []string{"tls", "tlsverify", "tlscert", "tlskey", "tlscacert"}

// tlsFlags are --tls, --tlsverify, --tlscert, --tlskey and --tlscacert.
type tlsFlags struct {
	enable, verify bool
	cert, key, ca  string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enable, "tls", false, "")
	fs.BoolVar(&f.verify, "tlsverify", false, "")
	fs.StringVar(&f.cert, "tlscert", "", "")
	fs.StringVar(&f.key, "tlskey", "", "")
	fs.StringVar(&f.ca, "tlscacert", "", "")
}

// apply turns the flags given into o.TLS. As with the reference, any TLS
// flag enables TLS unless --tls=false is given, --tlsverify implies --tls,
// and the flags replace a configuration file's tls block as a whole.
func (f *tlsFlags) apply(o *Options, set map[string]bool) error {
	var on bool
	switch {
	case set["tls"]:
		on = f.enable || f.verify
	default:
		on = set["tlsverify"] && f.verify || set["tlscert"] || set["tlskey"] || set["tlscacert"]
	}
	if !on {
		return nil
	}
	if f.cert == "" || f.key == "" {
		return errors.New("TLS Server certificate must be present and valid")
	}
	o.TLS = &TLSConfigOpts{CertFile: f.cert, KeyFile: f.key, CaFile: f.ca, Verify: f.verify}
	return nil
}

// defaultAuthTimeout is the authorization timeout when none is set: with
// TLS, a second more than the handshake timeout so that a slow handshake
// does not eat the time to authenticate, as the reference does.
func defaultAuthTimeout(o *Options) float64 {
	if o.TLS != nil {
		return TLSTimeout(o.TLS).Seconds() + 1
	}
	return AUTH_TIMEOUT.Seconds()
}
