package server

import (
	"strings"

	"github.com/natsforge/nats-server/conf"
)

// Gateway authorization, as the reference v2.15.2's (observed): one user
// and password that soliciting clusters present in CONNECT (from the
// user:pass@ of the URL they solicit), checked by the accepting server; a
// refusal is logged "authentication error - User ..." and answered -ERR
// 'Authorization Violation'. Tokens and user lists are refused with the
// reference's words; permissions are accepted and, as with the reference,
// not applied to gateway traffic (a warning says so). With the tls block's
// verify_and_map the other cluster's certificate must map to the
// configured user (its password is then not checked).

// parseGatewayAuth reads the gateway block's authorization.
func (c *cfg) parseGatewayAuth(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	g := &c.o.Gateway
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "user", "username":
			g.Username, _ = c.str(key, e)
		case "pass", "password":
			g.Password, _ = c.str(key, e)
		case "timeout":
			g.AuthTimeout = c.authTimeout(key, e)
		case "token":
			c.errorf(v, "Gateway authorization does not support tokens")
		case "users":
			c.errorf(v, "Gateway authorization does not allow multiple users")
		case "permissions":
			c.warnf(e, "gateway authorization permissions are not applied to gateway traffic (as with the reference)")
		default:
			c.unknownField(e, key)
		}
	}
}

// gatewayAuthorized checks an inbound connection's CONNECT against the
// gateway authorization.
func (c *client) gatewayAuthorized(o *Options, ci *gatewayConnectInfo) bool {
	g := &o.Gateway
	if g.Username == "" {
		return true
	}
	if g.TLS == nil || !g.TLS.Map {
		return c.peerCredentialsOK(g.Username, g.Password, ci.User, ci.Pass)
	}
	debug := func(format string, a ...any) {
		c.srv.Debugf("%s - "+format, append([]any{c.logPrefix()}, a...)...)
	}
	if findCertUser(c.peerCert(), []*User{{Username: g.Username}}, debug) == nil {
		c.logAuthError("")
		return false
	}
	return true
}
