package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// authConfigured reports whether clients must authenticate.
func authConfigured(o *Options) bool {
	return o.Username != "" || o.Authorization != "" || len(o.Users) > 0 || len(o.Nkeys) > 0 || operatorMode(o)
}

// nonceRequired reports whether INFO must carry a nonce for nkey signing.
func nonceRequired(o *Options) bool { return len(o.Nkeys) > 0 || operatorMode(o) }

// newNonce returns a random challenge for nkey authentication.
func newNonce() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authResult is who a connection authenticated as.
type authResult struct {
	user  string
	perms *Permissions
	acc   string
	jwt   *jwtConn // operator mode: the user JWT's claims
}

// checkAuthentication validates CONNECT credentials and logs a failure
// without leaking any secret. On success it returns the identity.
func (s *Server) checkAuthentication(c *client, co *ClientOpts) (*authResult, bool) {
	o := s.getOpts()
	if s.jwt != nil {
		return s.authJWT(c, co) // jwt_auth.go
	}
	if o.AuthCallout != nil && !calloutBypass(o, co) {
		return s.authCallout(c, co) // jwt_callout.go, websocket clients too
	}
	if c.mq != nil {
		return s.mqttCheckAuthentication(c, co) // mqtt_conn.go, over websocket too
	}
	if c.ws != nil {
		return s.wsCheckAuthentication(c, co) // websocket.go
	}
	if certMapConfigured(o) {
		return s.checkCertAuth(c, o, co) // verify_and_map, tls_auth.go
	}
	res, ok := authenticate(o, co, c.nonce)
	if ok {
		return res, true
	}
	s.logAuthFailure(c, co)
	return nil, false
}

// logAuthFailure logs a refused CONNECT in the reference's words, naming
// the nkey or user but never a secret.
func (s *Server) logAuthFailure(c *client, co *ClientOpts) {
	switch {
	case co.Nkey != "":
		s.Errorf("%s - authentication error - Nkey %q", c.logPrefix(), co.Nkey)
	case co.Username != "":
		s.Errorf("%s - authentication error - User %q", c.logPrefix(), co.Username)
	default:
		s.Errorf("%s - authentication error", c.logPrefix())
	}
}

// authenticate is the credential check proper, shared with reload.
func authenticate(o *Options, co *ClientOpts, nonce string) (*authResult, bool) {
	return authenticateAs(o, co, nonce, ConnectionTypeStandard, o.NoAuthUser)
}

// authenticateAs checks credentials for a connection of type connType
// (allowed_connection_types), with noAuthUser for one that gives none.
func authenticateAs(o *Options, co *ClientOpts, nonce, connType, noAuthUser string) (*authResult, bool) {
	if co.Nkey != "" && len(o.Nkeys) > 0 {
		return authNkey(o, co, nonce, connType)
	}
	if len(o.Users) > 0 {
		user := co.Username
		if user == "" && co.Password == "" && co.Token == "" && noAuthUser != "" {
			user = noAuthUser
			for _, u := range o.Users {
				if u.Username == user && allowsConn(u.AllowedConnectionTypes, connType) {
					return &authResult{user: u.Username, perms: userPerms(o, u.Permissions), acc: u.Account}, true
				}
			}
			return nil, false
		}
		for _, u := range o.Users {
			if u.Username == user && allowsConn(u.AllowedConnectionTypes, connType) && comparePasswords(u.Password, co.Password) {
				return &authResult{user: u.Username, perms: userPerms(o, u.Permissions), acc: u.Account}, true
			}
		}
		return nil, false
	}
	switch {
	case o.Authorization != "":
		if comparePasswords(o.Authorization, co.Token) {
			return &authResult{perms: o.DefaultPermissions}, true
		}
	case o.Username != "":
		if co.Username == o.Username && comparePasswords(o.Password, co.Password) {
			return &authResult{user: co.Username, perms: o.DefaultPermissions}, true
		}
	case len(o.Nkeys) == 0:
		return &authResult{perms: o.DefaultPermissions}, true
	}
	return nil, false
}

func userPerms(o *Options, p *Permissions) *Permissions {
	if p == nil {
		return o.DefaultPermissions
	}
	return p
}

// authNkey verifies the client's signature of our nonce with its nkey.
func authNkey(o *Options, co *ClientOpts, nonce, connType string) (*authResult, bool) {
	for _, nu := range o.Nkeys {
		if nu.Nkey != co.Nkey || !allowsConn(nu.AllowedConnectionTypes, connType) {
			continue
		}
		if !verifyNonce(co.Nkey, nonce, co.Sig) {
			return nil, false
		}
		return &authResult{user: nu.Nkey, perms: userPerms(o, nu.Permissions), acc: nu.Account}, true
	}
	return nil, false
}

// comparePasswords checks a client secret against a configured one, which
// may be a bcrypt hash. Plain secrets compare in constant time.
func comparePasswords(configured, given string) bool {
	if isBcrypt(configured) {
		return bcrypt.CompareHashAndPassword([]byte(configured), []byte(given)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(configured), []byte(given)) == 1
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// recheckClientsAuth re-validates every connection after the authorization
// configuration changed: those no longer allowed are closed, the others get
// their new permissions.
func (s *Server) recheckClientsAuth() {
	o := s.getOpts()
	clients := s.clientList()
	for _, c := range clients {
		c.mu.Lock()
		co := c.opts
		nonce := c.nonce
		connected := c.authDone
		c.mu.Unlock()
		if !connected {
			continue
		}
		res, ok := s.authenticateClient(o, c, &co, nonce)
		if !ok {
			s.Noticef("%s - authentication error after reload - closing", c.logPrefix())
			c.closeWithErr("Authorization Violation", AuthenticationViolation)
			continue
		}
		c.setPermissions(res.perms)
		c.dropDeniedSubs()
	}
}

// dropDeniedSubs removes the subscriptions that new permissions no longer
// allow, telling the client of each as the reference does (observed on
// v2.15.2): -ERR 'Permissions Violation for Subscription to "<subject>"
// (sid "<sid>")', the connection staying open.
func (c *client) dropDeniedSubs() {
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	c.mu.Unlock()
	for _, sub := range subs {
		if c.canSubscribe(sub.subject, sub.queue) {
			continue
		}
		c.unsubscribeAfterMax(sub)
		what := "\"" + sub.subject + "\""
		if sub.queue != "" {
			what += " using queue \"" + sub.queue + "\""
		}
		// Not the connection's reader: queue and wake its writer (sendErr
		// would leave the flush to the reader's next read).
		c.mu.Lock()
		if c.mq == nil { // MQTT has no error text
			c.queueOutbound([]byte("-ERR 'Permissions Violation for Subscription to " + what + " (sid \"" + sub.sid + "\")'\r\n"))
		}
		user := c.user
		c.mu.Unlock()
		c.signalFlush()
		c.srv.Noticef("Removed sub %q (sid %q) for User %q - not authorized", sub.subject, sub.sid, user)
	}
}

// hasPlaintextPasswords is true when a configured password is not a bcrypt
// hash: the reference warns about it at start-up.
func hasPlaintextPasswords(o *Options) bool {
	if o.Password != "" && !isBcrypt(o.Password) {
		return true
	}
	for _, u := range o.Users {
		if u.Password != "" && !isBcrypt(u.Password) {
			return true
		}
	}
	return false
}
