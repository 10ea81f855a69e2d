package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// WebsocketOpts is the websocket { } block: a listener for NATS clients that
// speak the protocol inside WebSocket frames (browsers, nats.ws, nats.js,
// nats.go with ws:// and wss:// URLs). The listener exists only when Port
// is set (-1 for a random port), as with the reference.
type WebsocketOpts struct {
	Host      string
	Port      int
	Advertise string // host:port other servers gossip; shown in /varz
	// NoAuthUser is the user a websocket client without credentials logs in
	// as, instead of the top-level no_auth_user.
	NoAuthUser string
	// Cookies of the upgrade request used as CONNECT credentials when the
	// CONNECT leaves the field empty.
	JWTCookie      string
	UsernameCookie string
	PasswordCookie string
	TokenCookie    string
	// The websocket authorization block: when a user or token is set,
	// websocket clients must use it, whatever the top-level block says.
	Username    string
	Password    string
	Token       string
	AuthTimeout float64 // seconds; 0 means the top-level timeout
	// TLS for wss://; NoTLS must be set to serve ws:// without it.
	TLS   *TLSConfigOpts
	NoTLS bool
	// SameOrigin and AllowedOrigins check the Origin header of browsers.
	SameOrigin     bool
	AllowedOrigins []string
	// Compression offers permessage-deflate (RFC 7692), without context
	// takeover in either direction.
	Compression bool
	// HandshakeTimeout bounds the TLS handshake and the HTTP upgrade
	// together; 0 means defaultWSHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Headers are added to every upgrade response.
	Headers map[string]string
}

// defaultWSHandshakeTimeout applies when handshake_timeout is not set: a
// socket is never left without a deadline before it is a client.
const defaultWSHandshakeTimeout = 2 * time.Second

// parseWebsocket reads websocket { ... } (alias ws).
func parseWebsocket(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	ws := &c.o.Websocket
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "listen":
			c.hostPort(key, e, &ws.Host, &ws.Port)
		case "host", "net":
			ws.Host, _ = c.str(key, e)
		case "port":
			if n, ok := c.int64(key, e); ok && c.inBound(e, "websocket port", n, false, portNumber) {
				ws.Port = int(n)
			}
		case "advertise":
			ws.Advertise, _ = c.str(key, e)
			if _, _, err := parseWSAdvertise(ws.Advertise); err != nil {
				c.errorf(e, "%v", err)
			}
		case "no_tls":
			ws.NoTLS, _ = c.bool(key, e)
		case "tls":
			if t := c.parseTLS(key, e); t != nil {
				t.filesDigest = digestTLSFiles(t)
				ws.TLS = t
			}
		case "same_origin":
			ws.SameOrigin, _ = c.bool(key, e)
		case "allowed_origins", "allowed_origin", "allow_origins", "allow_origin", "origins", "origin":
			ws.AllowedOrigins, _ = c.strList(key, e)
		case "compression":
			ws.Compression, _ = c.bool(key, e)
		case "handshake_timeout":
			if d, ok := c.duration(key, e); ok && c.inBound(e, "websocket handshake_timeout", int64(d), true, notNegative) {
				ws.HandshakeTimeout = d
			}
		case "no_auth_user":
			ws.NoAuthUser, _ = c.str(key, e)
		case "jwt_cookie":
			ws.JWTCookie, _ = c.str(key, e)
		case "user_cookie":
			ws.UsernameCookie, _ = c.str(key, e)
		case "pass_cookie":
			ws.PasswordCookie, _ = c.str(key, e)
		case "token_cookie":
			ws.TokenCookie, _ = c.str(key, e)
		case "authorization", "authentication":
			c.parseWSAuthorization(key, e)
		case "headers":
			c.parseWSHeaders(key, e)
		default:
			c.unknownField(e, key)
		}
	}
}

// parseWSAuthorization reads the websocket block's authorization: a single
// user or a token, and a timeout. Users lists are the top level's business.
func (c *cfg) parseWSAuthorization(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	ws := &c.o.Websocket
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "user", "username":
			ws.Username, _ = c.str(key, e)
		case "pass", "password":
			ws.Password, _ = c.str(key, e)
		case "token":
			ws.Token, _ = c.str(key, e)
		case "timeout":
			ws.AuthTimeout = c.authTimeout(key, e)
		default:
			c.unknownField(e, key)
		}
	}
}

// authTimeout reads an authorization timeout: seconds, or a duration.
func (c *cfg) authTimeout(k string, v *conf.Value) float64 {
	var secs float64
	switch x := v.V.(type) {
	case int64:
		secs = float64(x)
	case float64:
		secs = x
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			c.errorf(v, "error parsing %s: %v", k, err)
			return 0
		}
		secs = d.Seconds()
	default:
		c.errorf(v, "field %q: expected a number of seconds, got %s", k, typeName(v.V))
		return 0
	}
	if secs < 0 {
		c.errorf(v, "invalid authorization timeout of %v, must not be negative", secs)
		return 0
	}
	return secs
}

// parseWSHeaders reads headers { Name: value }, in the reference's words
// for values that are not strings.
func (c *cfg) parseWSHeaders(k string, v *conf.Value) {
	m, ok := v.V.(map[string]*conf.Value)
	if !ok {
		c.errorf(v, "error parsing headers: unsupported type %s", confTypeName(v.V))
		return
	}
	hdrs := make(map[string]string, len(m))
	for _, name := range sortedKeys(m) {
		s, ok := m[name].V.(string)
		if !ok {
			c.errorf(m[name], "error parsing header key %s: unsupported type %s", name, confTypeName(m[name].V))
			continue
		}
		hdrs[name] = s
	}
	c.o.Websocket.Headers = hdrs
}

// confTypeName is the Go type name the reference puts in its errors.
func confTypeName(v any) string {
	switch v.(type) {
	case map[string]*conf.Value:
		return "map[string]interface {}"
	case []*conf.Value:
		return "[]interface {}"
	}
	return fmt.Sprintf("%T", v)
}

// wsReservedHeaders are set by the upgrade itself and may not be configured.
var wsReservedHeaders = []string{"Upgrade", "Connection", "Host", "Content-Length", "Nats-No-Masking"}

// validateWebsocket checks the block when it enables a listener, in the
// reference's words; without a port the block is inert and not checked.
func validateWebsocket(o *Options) error {
	ws := &o.Websocket
	if ws.Port == 0 {
		return nil
	}
	if ws.TLS == nil && !ws.NoTLS {
		return errors.New("websocket requires TLS configuration")
	}
	if ws.TLS != nil {
		if err := validateWSTLS(ws.TLS); err != nil {
			return err
		}
	}
	if _, _, err := parseWSAdvertise(ws.Advertise); err != nil {
		return err
	}
	if _, err := parseAllowedOrigins(ws.AllowedOrigins); err != nil {
		return err
	}
	if err := validateWSHeaders(ws.Headers); err != nil {
		return err
	}
	if ws.AuthTimeout < 0 {
		return fmt.Errorf("invalid authorization timeout of %v, must not be negative", ws.AuthTimeout)
	}
	if ws.HandshakeTimeout < 0 {
		return fmt.Errorf("invalid websocket handshake_timeout of %v, must not be negative", ws.HandshakeTimeout)
	}
	if ws.JWTCookie != "" && !operatorMode(o) {
		return fmt.Errorf("trusted operators or trusted keys configuration is required for JWT authentication via cookie %q", ws.JWTCookie)
	}
	return validateWSAuth(o)
}

// validateWSTLS refuses what a wss listener cannot honour, and
// certificates that do not load, before anything starts.
func validateWSTLS(t *TLSConfigOpts) error {
	if t.HandshakeFirst {
		return errors.New("websocket tls: handshake_first: not supported yet by this server")
	}
	if err := validateClientTLS(t); err != nil {
		return err
	}
	_, err := GenTLSConfig(t)
	return err
}

// validateWSAuth checks the websocket authorization against the top level.
func validateWSAuth(o *Options) error {
	ws := &o.Websocket
	users := len(o.Users) > 0 || len(o.Nkeys) > 0
	switch {
	case ws.Username != "" && users:
		return errors.New("websocket authentication username not compatible with presence of users/nkeys")
	case ws.Token != "" && users:
		return errors.New("websocket authentication token not compatible with presence of users/nkeys")
	case ws.NoAuthUser == "":
		return nil
	case !users:
		return fmt.Errorf("no_auth_user: %q present, but users/nkeys are not defined", ws.NoAuthUser)
	}
	for _, u := range o.Users {
		if u.Username == ws.NoAuthUser {
			return nil
		}
	}
	for _, u := range o.Nkeys {
		if u.Nkey == ws.NoAuthUser {
			return nil
		}
	}
	return fmt.Errorf("no_auth_user: %q not present as user or nkey in authorization block or account configuration", ws.NoAuthUser)
}

func validateWSHeaders(h map[string]string) error {
	for name := range h {
		if len(name) >= len("Sec-WebSocket-") && strings.EqualFold(name[:len("Sec-WebSocket-")], "Sec-WebSocket-") {
			return fmt.Errorf("websocket: invalid header %q, \"Sec-WebSocket-\" prefix not allowed", name)
		}
		for _, r := range wsReservedHeaders {
			if strings.EqualFold(name, r) {
				return fmt.Errorf("websocket: invalid header %q not allowed", name)
			}
		}
	}
	return nil
}

// parseWSAdvertise reads advertise: "host" or "host:port"; empty is none.
func parseWSAdvertise(adv string) (string, int, error) {
	if adv == "" {
		return "", 0, nil
	}
	host, ps, err := net.SplitHostPort(adv)
	if err != nil {
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			return "", 0, fmt.Errorf("Unable to get websocket connect URLs: %v", err)
		}
		return adv, 0, nil
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("Unable to get websocket connect URLs: invalid port %q in advertise %q", ps, adv)
	}
	return host, port, nil
}

// wsOrigin is an origin reduced to what must match: scheme, host, port.
type wsOrigin struct {
	scheme, host, port string
}

// parseAllowedOrigins checks allowed_origins as the reference does: each an
// absolute http or https URL.
func parseAllowedOrigins(list []string) ([]wsOrigin, error) {
	out := make([]wsOrigin, 0, len(list))
	for _, s := range list {
		u, err := url.ParseRequestURI(s)
		if err != nil {
			return nil, fmt.Errorf("unable to parse allowed origin: %v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("unable to parse allowed origin %q: allowed origins must be absolute URLs with http or https scheme", s)
		}
		out = append(out, originOf(u))
	}
	return out, nil
}

// originOf reduces a URL to its origin, with the scheme's default port
// when none is written and the host in lower case.
func originOf(u *url.URL) wsOrigin {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return wsOrigin{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: port}
}
