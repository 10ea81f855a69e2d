package server

import "time"

// User is a user with a password, from authorization { users: [...] }.
type User struct {
	Username    string       `json:"user"`
	Password    string       `json:"-"`
	Permissions *Permissions `json:"permissions,omitempty"`
	Account     string       `json:"account,omitempty"`
}

// NkeyUser is a user identified by an nkey public key.
type NkeyUser struct {
	Nkey        string       `json:"user"`
	Permissions *Permissions `json:"permissions,omitempty"`
	Account     string       `json:"account,omitempty"`
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
type TLSConfigOpts struct {
	CertFile          string
	KeyFile           string
	CaFile            string
	Verify            bool
	Insecure          bool
	Map               bool
	CheckKnownURLs    bool
	Timeout           float64
	Ciphers           []string
	CurvePreferences  []string
	PinnedCerts       []string
	MinVersion        string
	HandshakeFirst    bool
	FallbackDelay     time.Duration
	AllowNonTLS       bool
	CertStore         string
	CertMatch         string
	OCSPPeer          bool
	ConnectionRateLim int
}
