package server

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/natsforge/nats-server/conf"
)

// Leaf node defaults, as the reference's.
const (
	DEFAULT_LEAF_NODE_RECONNECT = time.Second // first retry of a remote
	leafReconnectMax            = 30 * time.Second
	DEFAULT_LEAF_AUTH_TIMEOUT   = 2.0 // seconds
	DEFAULT_LEAF_TLS_TIMEOUT    = 2.0 // seconds, shown in /varz
	leafFirstInfoTimeout        = time.Second
)

// LeafNodeOpts is the leafnodes block: the listener other servers connect
// to as leaf nodes (Port != 0), and the remotes this server solicits.
type LeafNodeOpts struct {
	Host        string
	Port        int
	Advertise   string
	NoAdvertise bool
	// Authorization of accepted leaf connections: one user, a token, or a
	// list of users each bound to an account. Without any, leaf nodes log
	// in like clients (the top-level users) or, without those, into Account
	// (the global account by default).
	Username    string
	Password    string
	Token       string
	Nkey        string // a public user nkey the leaf signs the nonce with
	Users       []*User
	Account     string
	AuthTimeout float64
	// ReconnectDelay is the first wait before a remote is dialed again; it
	// doubles up to leafReconnectMax while the remote stays unreachable.
	ReconnectDelay time.Duration
	Remotes        []*RemoteLeafOpts
	// TLS makes the listener TLS only, handshake first (leafnode_tls.go).
	TLS *TLSConfigOpts
	// Compression is what accepted leaf connections offer, and the
	// remotes' default (leafnode_compress.go); s2_auto by default.
	Compression CompressionOpts
	// WriteDeadline bounds a write on a leaf connection (the server's
	// write_deadline when 0).
	WriteDeadline time.Duration
	// MinVersion refuses leaf nodes whose CONNECT names an older server
	// version (at least 2.8.0, as the reference).
	MinVersion string
}

// RemoteLeafOpts is one entry of leafnodes.remotes: a hub this server
// connects to as a leaf node, binding LocalAccount to the account the hub
// gives its credentials.
type RemoteLeafOpts struct {
	URLs         []*url.URL
	LocalAccount string // "account"; the global account by default
	// DenyImports are subjects not taken from the hub: no interest in them
	// is told to it and its messages on them are dropped. DenyExports are
	// subjects not sent to the hub.
	DenyImports []string
	DenyExports []string
	// TLS is the remote's tls block: the client side of the handshake.
	TLS *TLSConfigOpts
	// Credentials is a user credentials file (JWT and nkey seed, as nsc
	// writes it): the JWT goes in CONNECT with the hub's nonce signed.
	Credentials string
	// Compression is the remote's mode; the leafnodes block's by default.
	Compression CompressionOpts
	// Disabled remotes are never dialed; NoRandomize dials the URLs in
	// their order instead of from a random one.
	Disabled    bool
	NoRandomize bool
	// FirstInfoTimeout bounds the wait for the hub's first INFO after the
	// dial (leafFirstInfoTimeout by default), as the reference's.
	FirstInfoTimeout time.Duration
	// Hub makes this server the hub of the connection it solicits (the
	// other side its spoke): CONNECT says is_hub.
	Hub bool
	// Nkey is a user nkey seed: its public key and the hub's nonce signed
	// with it go in CONNECT (not with Credentials).
	Nkey string
	// Websocket applies to ws:// and wss:// URLs (leafnode_ws.go):
	// ws_compression offers permessage-deflate, ws_no_masking asks the hub
	// to accept unmasked frames.
	Websocket struct {
		Compression bool
		NoMasking   bool
	}
}

// permissions are the deny lists as the leaf connection's permissions,
// seen as the hub's: it may not publish what is not imported, nor
// subscribe to what is not exported.
func (r *RemoteLeafOpts) permissions() *Permissions {
	if len(r.DenyImports) == 0 && len(r.DenyExports) == 0 {
		return nil
	}
	return &Permissions{Publish: &SubjectPermission{Deny: r.DenyImports}, Subscribe: &SubjectPermission{Deny: r.DenyExports}}
}

// leafEnabled reports whether the options ask for leaf nodes at all.
func (o *Options) leafEnabled() bool {
	return o.LeafNode.Port != 0 || len(o.LeafNode.Remotes) > 0
}

// parseLeafnodes reads leafnodes { ... } (alias leaf).
func parseLeafnodes(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	lo := &c.o.LeafNode
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "listen":
			c.hostPort(key, e, &lo.Host, &lo.Port)
		case "host", "net":
			lo.Host, _ = c.str(key, e)
		case "port":
			if n, ok := c.int64(key, e); ok && c.inBound(e, "leafnodes port", n, false, portNumber) {
				lo.Port = int(n)
			}
		case "advertise":
			lo.Advertise, _ = c.str(key, e)
		case "no_advertise":
			lo.NoAdvertise, _ = c.bool(key, e)
		case "authorization":
			c.parseLeafAuth(key, e)
		case "reconnect", "reconnect_delay":
			c.leafDuration(key, e, &lo.ReconnectDelay)
		case "remotes":
			c.parseLeafRemotes(key, e)
		case "compression":
			c.leafCompression(key, e, &lo.Compression)
		case "tls":
			lo.TLS = c.parseTLS(key, e)
		case "min_version", "minimum_version":
			c.leafMinVersion(key, e)
		case "write_deadline":
			c.leafDuration(key, e, &lo.WriteDeadline)
		case "isolate_leafnode_interest":
			c.o.unsupported = append(c.o.unsupported, keyPos(e)+": leafnodes "+strings.ToLower(key))
		default:
			c.unknownField(e, key)
		}
	}
}

// leafMinVersion reads min_version, with the reference's errors.
func (c *cfg) leafMinVersion(k string, e *conf.Value) {
	v, ok := c.str(k, e)
	if !ok {
		return
	}
	if _, ok := parseSemver(v); !ok {
		c.errorf(e, "invalid leafnode's minimum version: invalid semver")
		return
	}
	if !versionAtLeast(v, "2.8.0") {
		c.errorf(e, "the minimum version should be at least 2.8.0")
		return
	}
	c.o.LeafNode.MinVersion = v
}

// parseSemver reads "major.minor.patch", with an optional leading "v";
// a "-pre" or "+build" suffix is ignored.
func parseSemver(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || p[0] == '+' {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// versionAtLeast reports whether version v is min or newer; a version
// that does not parse is not.
func versionAtLeast(v, min string) bool {
	a, ok := parseSemver(v)
	b, okMin := parseSemver(min)
	if !ok || !okMin {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

// leafDuration takes a duration string or a number of seconds.
func (c *cfg) leafDuration(k string, e *conf.Value, d *time.Duration) {
	switch x := e.V.(type) {
	case int64:
		if c.inBound(e, "leafnodes "+k, x, false, notNegative) {
			*d = time.Duration(x) * time.Second
		}
	case float64:
		*d = time.Duration(x * float64(time.Second))
	default:
		if v, ok := c.duration(k, e); ok {
			*d = v
		}
	}
}

// leafCompression reads a leaf compression: as the cluster's, except
// that true means s2_auto.
func (c *cfg) leafCompression(k string, e *conf.Value, co *CompressionOpts) {
	if b, ok := e.V.(bool); ok {
		co.Mode = CompressionOff
		if b {
			co.Mode = CompressionS2Auto
		}
		_ = checkRTTThresholds(co)
		return
	}
	c.compressionOpts(k, e, co)
}

// parseLeafAuth reads the leafnodes authorization block.
func (c *cfg) parseLeafAuth(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	lo := &c.o.LeafNode
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "user", "username":
			lo.Username, _ = c.str(key, e)
		case "pass", "password":
			lo.Password, _ = c.str(key, e)
		case "token":
			lo.Token, _ = c.str(key, e)
		case "nkey":
			c.leafAuthNkey(key, e)
		case "account":
			lo.Account, _ = c.str(key, e)
		case "timeout":
			switch x := e.V.(type) {
			case int64:
				lo.AuthTimeout = float64(x)
			case float64:
				lo.AuthTimeout = x
			default:
				c.errorf(e, "field %q: expected a number of seconds, got %s", key, typeName(e.V))
			}
		case "users":
			c.parseLeafUsers(key, e)
		case "proxy_required":
			c.o.unsupported = append(c.o.unsupported, keyPos(e)+": leafnodes authorization "+strings.ToLower(key))
		default:
			c.unknownField(e, key)
		}
	}
}

// parseLeafUsers reads users [{user, password, account}].
func (c *cfg) parseLeafUsers(k string, v *conf.Value) {
	for _, ce := range c.arrayOfMaps(k, v) {
		u := &User{}
		for _, key := range sortedKeys(ce.m) {
			e := ce.m[key]
			switch strings.ToLower(key) {
			case "user", "username":
				u.Username, _ = c.str(key, e)
			case "pass", "password":
				u.Password, _ = c.str(key, e)
			case "account":
				u.Account, _ = c.str(key, e)
			case "permissions":
				u.Permissions = c.parsePermissions(key, e)
			default: // nkey too: the reference does not take it here
				c.unknownField(e, key)
			}
		}
		c.o.LeafNode.Users = append(c.o.LeafNode.Users, u)
	}
}

// parseLeafRemotes reads remotes [{url or urls, account, ...}].
func (c *cfg) parseLeafRemotes(k string, v *conf.Value) {
	for _, ce := range c.arrayOfMaps(k, v) {
		r := &RemoteLeafOpts{}
		refused := len(c.o.unsupported)
		for _, key := range sortedKeys(ce.m) {
			e := ce.m[key]
			switch strings.ToLower(key) {
			case "url", "urls":
				c.leafRemoteURLs(r, key, e)
			case "account", "local":
				r.LocalAccount, _ = c.str(key, e)
			case "compression":
				c.leafCompression(key, e, &r.Compression)
			case "deny_imports", "deny_import":
				r.DenyImports = c.subjectList(key, e)
			case "deny_exports", "deny_export":
				r.DenyExports = c.subjectList(key, e)
			case "tls":
				r.TLS = c.parseTLS(key, e)
			case "credentials":
				r.Credentials, _ = c.str(key, e)
			case "nkey":
				c.leafRemoteNkey(r, key, e)
			case "ws_compression":
				r.Websocket.Compression, _ = c.bool(key, e)
			case "ws_no_masking":
				r.Websocket.NoMasking, _ = c.bool(key, e)
			case "hub":
				r.Hub, _ = c.bool(key, e)
			case "no_randomize", "dont_randomize":
				r.NoRandomize, _ = c.bool(key, e)
			case "disabled":
				r.Disabled, _ = c.bool(key, e)
			case "first_info_timeout":
				c.leafDuration(key, e, &r.FirstInfoTimeout)
			case "jetstream_cluster_migrate", "jetstream_cluster_migrate_delay", "local_is_leaf",
				"proxy", "connect_delay":
				c.o.unsupported = append(c.o.unsupported, keyPos(e)+": leafnodes remotes "+strings.ToLower(key))
			default:
				c.unknownField(e, key)
			}
		}
		if r.Nkey != "" && r.Credentials != "" {
			c.errorf(ce.v, "Remote leafnode can not have both creds and nkey defined")
		}
		if len(r.URLs) == 0 {
			if len(c.o.unsupported) == refused {
				c.errorf(ce.v, "leafnode remote requires at least one url")
			}
			continue
		}
		c.o.LeafNode.Remotes = append(c.o.LeafNode.Remotes, r)
	}
}

// leafRemoteNkey reads a remote's nkey: a seed, as the reference wants.
func (c *cfg) leafRemoteNkey(r *RemoteLeafOpts, k string, e *conf.Value) {
	seed, ok := c.str(k, e)
	if !ok {
		return
	}
	if _, err := nkeys.FromSeed([]byte(seed)); err != nil {
		c.errorf(e, "Remote leafnode nkey is not a valid seed: %q", seed)
		return
	}
	r.Nkey = seed
}

// leafAuthNkey reads the leafnodes authorization's nkey: a public user key.
func (c *cfg) leafAuthNkey(k string, e *conf.Value) {
	key, ok := c.str(k, e)
	if !ok {
		return
	}
	if !nkeys.IsValidPublicUserKey(key) {
		c.errorf(e, "Not a valid public nkey for leafnode authorization")
		return
	}
	c.o.LeafNode.Nkey = key
}

// subjectList reads one subject or a list of them, each checked.
func (c *cfg) subjectList(k string, e *conf.Value) []string {
	var list []string
	if s, ok := e.V.(string); ok {
		list = []string{s}
	} else if l, ok := c.strList(k, e); ok {
		list = l
	}
	for _, s := range list {
		if !IsValidSubject(s) {
			c.errorf(e, "invalid subject %q in %s", s, k)
		}
	}
	return list
}

// leafRemoteURLs takes one URL or a list: nats:// (or no scheme),
// nats-leaf://, leaf://, tls://, ws:// and wss:// (leafnode_ws.go).
func (c *cfg) leafRemoteURLs(r *RemoteLeafOpts, k string, e *conf.Value) {
	var list []string
	if s, ok := e.V.(string); ok {
		list = []string{s}
	} else if l, ok := c.strList(k, e); ok {
		list = l
	} else {
		return
	}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "://") {
			s = "nats-leaf://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			c.errorf(e, "error parsing leafnode remote url [%q]", s)
			continue
		}
		port := "7422"
		switch u.Scheme {
		case "nats", "nats-leaf", "leaf", "tls": // leaf:// dials plain TCP, as on the reference
		case "ws":
			port = "80"
		case "wss":
			port = "443"
		default:
			c.errorf(e, "invalid leafnode remote url scheme %q", u.Scheme)
			continue
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			u.Host = net.JoinHostPort(u.Host, port)
		}
		r.URLs = append(r.URLs, u)
	}
}

// setLeafDefaults fills the leafnodes block's unset fields.
func setLeafDefaults(o *Options) {
	lo := &o.LeafNode
	if !o.leafEnabled() {
		return
	}
	if lo.Port != 0 && lo.Host == "" {
		lo.Host = DEFAULT_HOST
	}
	if lo.AuthTimeout == 0 {
		lo.AuthTimeout = DEFAULT_LEAF_AUTH_TIMEOUT
	}
	if lo.ReconnectDelay == 0 {
		lo.ReconnectDelay = DEFAULT_LEAF_NODE_RECONNECT
	}
	if lo.Compression.Mode == "" {
		lo.Compression = CompressionOpts{Mode: CompressionS2Auto}
		_ = checkRTTThresholds(&lo.Compression)
	}
	for _, r := range lo.Remotes {
		if r.Compression.Mode == "" {
			r.Compression = lo.Compression
		}
		if r.FirstInfoTimeout <= 0 {
			r.FirstInfoTimeout = leafFirstInfoTimeout
		}
	}
}

// validateLeafnodes checks the block, in the reference's words where it
// has them.
func validateLeafnodes(o *Options) error {
	lo := &o.LeafNode
	if !o.leafEnabled() {
		return nil
	}
	if lo.Port < -1 || lo.Port > 65535 {
		return fmtErr("invalid leafnodes port %d, must be a port from 0 to 65535, or -1 for a random one", lo.Port)
	}
	if lo.Username != "" && len(lo.Users) > 0 {
		return fmtErr("can not have a single user/pass and a users array")
	}
	for _, r := range lo.Remotes {
		if len(r.URLs) == 0 {
			return fmtErr("leafnode remote requires at least one url")
		}
	}
	if lo.Advertise != "" {
		if _, _, err := net.SplitHostPort(lo.Advertise); err != nil && strings.ContainsAny(lo.Advertise, "/ \t") {
			return fmtErr("invalid leafnodes advertise %q", lo.Advertise)
		}
	}
	return nil
}

// String is how a refused reload shows the block: without credentials.
func (lo LeafNodeOpts) String() string {
	return "leafnodes{listen: " + net.JoinHostPort(lo.Host, strconv.Itoa(lo.Port)) +
		", remotes: " + strconv.Itoa(len(lo.Remotes)) + "}"
}
