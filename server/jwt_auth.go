package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// jwtConn is what a connection authenticated by a user JWT keeps: the
// claims, for re-checks when its account's claims change, and the limits
// granted, which its reader folds into its own (loadJWTLimits).
type jwtConn struct {
	user   *jwt.UserClaims
	token  string // the user JWT, for events; empty for auth callout users
	limits atomic.Pointer[jwt.NatsLimits]
	expiry *time.Timer // guarded by client.mu
}

// authJWT authenticates a CONNECT in operator mode, logging as the
// reference does. A connection refused for its account's connection limit
// is closed here, with that error instead of the authorization violation.
func (s *Server) authJWT(c *client, co *ClientOpts) (*authResult, bool) {
	res, err := s.checkUserJWT(c, co, true)
	return s.jwtAuthOutcome(c, res, err)
}

// jwtAuthOutcome logs and acts on the result of a JWT check: a connectError
// closes the connection with its own error; other refusals are logged as
// the reference does and left to the caller's authorization violation.
func (s *Server) jwtAuthOutcome(c *client, res *authResult, err error) (*authResult, bool) {
	if err == nil {
		return res, true
	}
	var ce *connectError
	if errors.As(err, &ce) {
		s.Errorf("%s - %s", c.logPrefix(), ce.text)
		c.closeWithErr(ce.text, ce.reason)
		return nil, false
	}
	if le, ok := err.(loggedError); ok {
		s.Errorf("%s - %s", c.logPrefix(), le.Error())
	} else {
		s.Debugf("%s - %v", c.logPrefix(), err)
	}
	s.Errorf("%s - authentication error", c.logPrefix())
	return nil, false
}

// loggedError is a refusal the reference logs at error level.
type loggedError string

func (e loggedError) Error() string { return string(e) }

// connectError refuses a CONNECT with an error of its own.
type connectError struct {
	text   string
	reason ClosedState
}

func (e *connectError) Error() string { return e.text }

// checkUserJWT verifies a user JWT and everything it restricts. With
// limitConns, the account's connection limit is checked too (not when an
// accepted connection is checked again).
func (s *Server) checkUserJWT(c *client, co *ClientOpts, limitConns bool) (*authResult, error) {
	if co.JWT == "" {
		return nil, errors.New("Authentication requires a user JWT")
	}
	uc, err := jwt.DecodeUserClaims(co.JWT)
	if err != nil {
		return nil, fmt.Errorf("User JWT not valid: %v", err)
	}
	vr := jwt.CreateValidationResults()
	uc.Validate(vr)
	if vr.IsBlocking(true) {
		return nil, fmt.Errorf("User JWT no longer valid: %+v", vr)
	}
	accPub := uc.Issuer
	if uc.IssuerAccount != "" {
		accPub = uc.IssuerAccount
	}
	acc, st, err := s.lookupJWTAccount(accPub)
	if err != nil && acc == nil {
		if sys := s.SystemAccount(); sys != nil && sys.Name == accPub {
			acc, err = sys, nil // bootstrapping: the bare system account
		} else {
			return nil, fmt.Errorf("Account JWT lookup error: %v", err)
		}
	}
	if st != nil && st.claims.IsClaimRevoked(uc) {
		return nil, errors.New("User authentication revoked")
	}
	upl, perms, err := s.userGrantsFor(uc, acc, st)
	if err != nil {
		return nil, err
	}
	if upl.BearerToken && st != nil && st.claims.Limits.DisallowBearer {
		return nil, errors.New("BearerToken not allowed")
	}
	if err := checkUserRestrictions(c, co, uc, upl); err != nil {
		return nil, err
	}
	if st != nil && st.claims.Authorization.IsEnabled() && !st.claims.Authorization.AuthUsers.Contains(uc.Subject) {
		if !limitConns && c.jwtConn() != nil {
			return c.calloutIdentity(), nil // vouched for by the service at connect
		}
		return s.operatorCallout(c, co, acc, st, limitConns) // jwt_callout.go
	}
	if limitConns && st != nil {
		if s.clientLimitReached(acc, jwtLimit(st.claims.Limits.Conn)) {
			return nil, &connectError{errMaxAccountConns, MaxAccountConnectionsExceeded}
		}
	}
	s.Debugf("%s - Authenticated JWT: Client %q (claim-name: %q, claim-tags: %q) signed with %q by Account %q",
		c.logPrefix(), uc.Subject, uc.Name, uc.Tags, uc.Issuer, accPub)
	jc := &jwtConn{user: uc, token: co.JWT}
	limits := upl.NatsLimits
	jc.limits.Store(&limits)
	return &authResult{user: uc.Subject, perms: perms, acc: acc.Name, jwt: jc}, nil
}

// checkUserRestrictions checks the nonce signature and the user's
// connection types, source networks and connect times.
func checkUserRestrictions(c *client, co *ClientOpts, uc *jwt.UserClaims, upl *jwt.UserPermissionLimits) error {
	if !allowsClientTypes(upl.AllowedConnectionTypes, c.connType()) {
		return errors.New("Connection type not allowed")
	}
	if !upl.BearerToken {
		if co.Sig == "" {
			return errors.New("Signature missing")
		}
		if !verifyNonce(uc.Subject, c.nonce, co.Sig) {
			return errors.New("Signature not verified")
		}
	}
	if len(upl.Src) > 0 && !sourceAllowed(upl.Src, c.host) {
		return loggedError("Bad src Ip " + c.host)
	}
	if len(upl.Times) > 0 {
		if _, ok := connectWindowEnd(upl.Times, upl.Locale, time.Now()); !ok {
			return loggedError("Outside connect times")
		}
	}
	return nil
}

func allowsClientTypes(types jwt.StringList, connType string) bool {
	if len(types) == 0 {
		return true
	}
	set := make(map[string]struct{}, len(types))
	for _, t := range types {
		set[strings.ToUpper(t)] = struct{}{}
	}
	return allowsConn(set, connType)
}

// verifyNonce checks a signature of the nonce by the user's nkey; the
// signature comes base64 URL-encoded, with or without padding.
func verifyNonce(userPub, nonce, sig string) bool {
	if nonce == "" {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			if raw, err = base64.URLEncoding.DecodeString(sig); err != nil {
				return false
			}
		}
	}
	pub, err := nkeys.FromPublicKey(userPub)
	return err == nil && pub.Verify([]byte(nonce), raw) == nil
}

// sourceAllowed reports whether host is in one of the CIDR blocks.
func sourceAllowed(src jwt.CIDRList, host string) bool {
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, block := range src {
		for _, b := range strings.Split(block, ",") {
			_, n, err := net.ParseCIDR(strings.TrimSpace(b))
			if err == nil && n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// connectWindowEnd finds the time range of times (HH:MM:SS, in locale or
// the server's zone) that now falls in, and when it ends. A range whose
// end is before its start runs over midnight.
func connectWindowEnd(times []jwt.TimeRange, locale string, now time.Time) (time.Time, bool) {
	loc := time.Local
	if locale != "" {
		l, err := time.LoadLocation(locale)
		if err != nil {
			return time.Time{}, false
		}
		loc = l
	}
	now = now.In(loc)
	y, m, d := now.Date()
	for _, tr := range times {
		start, err1 := time.ParseInLocation("15:04:05", tr.Start, loc)
		end, err2 := time.ParseInLocation("15:04:05", tr.End, loc)
		if err1 != nil || err2 != nil {
			continue
		}
		s := time.Date(y, m, d, start.Hour(), start.Minute(), start.Second(), 0, loc)
		e := time.Date(y, m, d, end.Hour(), end.Minute(), end.Second(), 0, loc)
		if !e.After(s) {
			if now.Before(e) {
				s = s.AddDate(0, 0, -1)
			} else {
				e = e.AddDate(0, 0, 1)
			}
		}
		if !now.Before(s) && now.Before(e) {
			return e, true
		}
	}
	return time.Time{}, false
}

// userGrantsFor returns what a user may do: its own permissions and
// limits, or those of the scoped signing key that issued it; permissions
// fall back to the account's default permissions.
func (s *Server) userGrantsFor(uc *jwt.UserClaims, acc *Account, st *accountJWT) (*jwt.UserPermissionLimits, *Permissions, error) {
	upl := &uc.UserPermissionLimits
	if uc.Issuer != acc.Name {
		if st == nil {
			return nil, nil, errors.New("User JWT issuer is not known")
		}
		scope, ok := st.claims.SigningKeys.GetScope(uc.Issuer)
		if !ok {
			return nil, nil, errors.New("User JWT issuer is not known")
		}
		if scope != nil {
			if err := scope.ValidateScopedSigner(uc); err != nil {
				return nil, nil, err
			}
			us, ok := scope.(*jwt.UserScope)
			if !ok {
				return nil, nil, errors.New("unknown signing key scope")
			}
			tpl, err := expandUserTemplate(us.Template, uc, st.claims)
			if err != nil {
				return nil, nil, err
			}
			upl = tpl
		}
	}
	perms := jwtPermissions(&upl.Permissions)
	if perms == nil && st != nil {
		perms = jwtPermissions(&st.claims.DefaultPermissions)
	}
	return upl, perms, nil
}

// userGrants is userGrantsFor for a re-check after an account update.
func (s *Server) userGrants(uc *jwt.UserClaims, acc *Account, st *accountJWT) (*Permissions, jwt.NatsLimits, error) {
	upl, perms, err := s.userGrantsFor(uc, acc, st)
	if err != nil {
		return nil, jwt.NatsLimits{}, err
	}
	return perms, upl.NatsLimits, nil
}

// jwtPermissions converts JWT permissions; nil when they restrict nothing.
func jwtPermissions(p *jwt.Permissions) *Permissions {
	if p.Pub.Empty() && p.Sub.Empty() && p.Resp == nil {
		return nil
	}
	out := &Permissions{}
	if !p.Pub.Empty() {
		out.Publish = &SubjectPermission{Allow: p.Pub.Allow, Deny: p.Pub.Deny}
	}
	if !p.Sub.Empty() {
		out.Subscribe = &SubjectPermission{Allow: p.Sub.Allow, Deny: p.Sub.Deny}
	}
	if p.Resp != nil {
		rp := &ResponsePermission{MaxMsgs: p.Resp.MaxMsgs, Expires: p.Resp.Expires}
		if rp.MaxMsgs <= 0 {
			rp.MaxMsgs = DEFAULT_ALLOW_RESPONSE_MAX_MSGS
		}
		if rp.Expires <= 0 {
			rp.Expires = DEFAULT_ALLOW_RESPONSE_EXPIRATION
		}
		out.Response = rp
	}
	return out
}

// startJWT records an accepted JWT connection and arms its expiry: the
// user JWT's, or the end of its connect time window. Lock held.
func (c *client) startJWT(jc *jwtConn) {
	c.jwt = jc
	end, ok := time.Time{}, false
	if jc.user.Expires > 0 {
		end, ok = time.Unix(jc.user.Expires, 0), true
	}
	if upl := &jc.user.UserPermissionLimits; len(upl.Times) > 0 {
		if e, in := connectWindowEnd(upl.Times, upl.Locale, time.Now()); in && (!ok || e.Before(end)) {
			end, ok = e, true
		}
	}
	if ok {
		jc.expiry = time.AfterFunc(time.Until(end), c.jwtExpired)
	}
}

// jwtExpired disconnects a user whose JWT (or connect window) ran out.
func (c *client) jwtExpired() {
	c.srv.Debugf("%s - User Authentication Expired - Account:%s", c.logPrefix(), c.accountName())
	c.closeWithErr("User Authentication Expired", AuthenticationExpired)
}

// stopJWT stops the expiry timer of a closed connection.
func (c *client) stopJWT() {
	c.mu.Lock()
	if c.jwt != nil && c.jwt.expiry != nil {
		c.jwt.expiry.Stop()
	}
	c.mu.Unlock()
}

// jwtClientInfo adds what the reference's events tell of a JWT user.
// Lock held.
func (c *client) jwtClientInfo(ci *ClientInfo) {
	var tag string
	ci.Jwt, ci.IssuerKey, ci.Tags, tag = c.jwtIdentity()
	if tag != "" {
		ci.NameTag = tag
	}
}

// jwtIdentity is what the reference shows of a JWT user in its events and
// /connz: its JWT, the key that signed it, its tags, and its account's
// name (the name tag). Empty for other users. Lock held.
func (c *client) jwtIdentity() (token, issuer string, tags []string, accName string) {
	if c.acc != nil {
		if st := c.acc.jwtClaims.Load(); st != nil {
			accName = st.claims.Name
		}
	}
	if c.jwt == nil || c.jwt.token == "" {
		return "", "", nil, accName
	}
	if len(c.jwt.user.Tags) > 0 {
		tags = c.jwt.user.Tags
	}
	return c.jwt.token, c.jwt.user.Issuer, tags, accName
}

// jwtConn returns the connection's JWT state, nil if it has none.
func (c *client) jwtConn() *jwtConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jwt
}

// loadJWTLimits folds the payload and subscription limits of the user and
// its account into the reader's own. Reader only, after loadLimits.
func (c *client) loadJWTLimits() {
	jc := c.jwt
	if jc == nil || c.kind != CLIENT { // a leaf's JWT limits only its lifetime
		return
	}
	user := jc.limits.Load()
	var accLimits jwt.NatsLimits
	if st := c.acc.jwtClaims.Load(); st != nil {
		accLimits = st.claims.Limits.NatsLimits
	}
	c.mpay = int32(minLimit(int64(c.mpay), user.Payload, accLimits.Payload))
	c.msubs = int32(minLimit(int64(c.msubs), user.Subs, accLimits.Subs))
}

// minLimit is the smallest of the positive limits, 0 when none is.
func minLimit(limits ...int64) int64 {
	var m int64
	for _, l := range limits {
		if l = jwtLimit(l); l > 0 && (m == 0 || l < m) {
			m = min(l, 1<<31-1)
		}
	}
	return m
}

// authLeafJWT authenticates a leaf node's CONNECT in operator mode, for the
// leaf node code: the user JWT of its credentials with everything a client's
// is checked for (nonce signature or bearer, connection type LEAFNODE, src,
// times, revocation, signing keys and scopes, auth callout). The account's
// leaf connection limit is left to the caller (leafConnLimit), which knows
// how many leaf connections the account has.
func (s *Server) authLeafJWT(c *client, co *ClientOpts) (*authResult, error) {
	return s.checkUserJWT(c, co, false)
}

// leafConnLimit is the leaf node connection limit of an account's JWT
// (`leaf` in its limits), 0 when unlimited or not an operator-mode account.
func leafConnLimit(acc *Account) int64 {
	if st := acc.jwtClaims.Load(); st != nil {
		return jwtLimit(st.claims.Limits.LeafNodeConn)
	}
	return 0
}
