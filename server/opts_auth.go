package server

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"time"
)

// User is a user with a password, from authorization { users: [...] }.
type User struct {
	Username    string       `json:"user"`
	Password    string       `json:"-"`
	Permissions *Permissions `json:"permissions,omitempty"`
	Account     string       `json:"account,omitempty"`
	// AllowedConnectionTypes restricts the kinds of connection the user may
	// log in with (allowed_connection_types); empty allows all.
	AllowedConnectionTypes map[string]struct{} `json:"-"`
}

// NkeyUser is a user identified by an nkey public key.
type NkeyUser struct {
	Nkey                   string              `json:"user"`
	Permissions            *Permissions        `json:"permissions,omitempty"`
	Account                string              `json:"account,omitempty"`
	AllowedConnectionTypes map[string]struct{} `json:"-"`
}

// Connection types of allowed_connection_types, as the reference names
// them. STANDARD (plain or TLS clients) and WEBSOCKET connections are
// served today; the others are accepted so that a configuration shared with
// the reference loads.
const (
	ConnectionTypeStandard   = "STANDARD"
	ConnectionTypeWebsocket  = "WEBSOCKET"
	ConnectionTypeLeafnode   = "LEAFNODE"
	ConnectionTypeLeafnodeWS = "LEAFNODE_WS"
	ConnectionTypeMqtt       = "MQTT"
	ConnectionTypeMqttWS     = "MQTT_WS"
	ConnectionTypeInProcess  = "IN_PROCESS"
)

var knownConnectionTypes = map[string]bool{
	ConnectionTypeStandard: true, ConnectionTypeWebsocket: true, ConnectionTypeLeafnode: true,
	ConnectionTypeLeafnodeWS: true, ConnectionTypeMqtt: true, ConnectionTypeMqttWS: true,
	ConnectionTypeInProcess: true,
}

// allowsClient reports whether a user with these allowed connection types
// may log in over a client connection.
func allowsClient(types map[string]struct{}) bool {
	return allowsConn(types, ConnectionTypeStandard)
}

// allowsConn reports whether a user with these allowed connection types may
// log in over a connection of type connType.
func allowsConn(types map[string]struct{}, connType string) bool {
	if len(types) == 0 {
		return true
	}
	_, ok := types[connType]
	return ok
}

// Permissions are a user's publish, subscribe and response rights.
type Permissions struct {
	Publish   *SubjectPermission  `json:"publish"`
	Subscribe *SubjectPermission  `json:"subscribe"`
	Response  *ResponsePermission `json:"responses,omitempty"`
}

// SubjectPermission lists allowed and denied subjects, wildcards included.
// Subscribe entries may be "subject queue" to grant a queue group only.
type SubjectPermission struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// ResponsePermission lets a responder publish to reply subjects of requests
// it received, up to MaxMsgs responses within Expires.
type ResponsePermission struct {
	MaxMsgs int           `json:"max"`
	Expires time.Duration `json:"ttl"`
}

// Reference defaults for allow_responses: true.
const (
	DEFAULT_ALLOW_RESPONSE_MAX_MSGS   = 1
	DEFAULT_ALLOW_RESPONSE_EXPIRATION = 2 * time.Minute
)

// TLSConfigOpts is a tls { } block as written, before certificates load.
// GenTLSConfig turns it into a *tls.Config; the connection-level options
// (Timeout, PinnedCerts, HandshakeFirst, Map) apply around the handshake.
type TLSConfigOpts struct {
	CertFile string // cert_file, PEM
	KeyFile  string // key_file, PEM
	CaFile   string // ca_file: CAs trusted for peer certificates
	Verify   bool   // verify: require and verify a client certificate
	Insecure bool   // insecure: outgoing connections skip server checks
	// Map is verify_and_map: verify, then map the certificate to a user.
	Map bool
	// CheckKnownURLs is verify_cert_and_check_known_urls (routes, gateways).
	CheckKnownURLs bool
	// Timeout is the handshake timeout in fractional seconds; 0 means 2 s.
	Timeout          float64
	Ciphers          []string // cipher_suites, by Go's names
	CurvePreferences []string // curve_preferences, by Go's names
	// AllowInsecureCiphers is allow_insecure_cipher_suites.
	AllowInsecureCiphers bool
	// PinnedCerts are hex SHA-256 digests of accepted peer public keys.
	PinnedCerts []string
	MinVersion  string // min_version: "1.2" (default) or "1.3"
	// HandshakeFirst makes the server handshake before sending INFO. With a
	// FallbackDelay, a client that sends no ClientHello within it gets the
	// INFO in clear text and must then upgrade as usual.
	HandshakeFirst    bool
	FallbackDelay     time.Duration
	CertStore         string
	CertMatch         string
	OCSPPeer          bool
	ConnectionRateLim int
	// filesDigest fingerprints the certificate, key and CA files as read
	// with the config file, so that a reload notices certificates replaced
	// in place (the usual renewal) and loads them.
	filesDigest string
}

// digestTLSFiles hashes the contents of the files a tls block names; a
// file that cannot be read counts by its error, left to GenTLSConfig to
// report.
func digestTLSFiles(t *TLSConfigOpts) string {
	h := sha256.New()
	for _, name := range []string{t.CertFile, t.KeyFile, t.CaFile} {
		if name == "" {
			h.Write([]byte{0})
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			b = []byte(err.Error())
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
