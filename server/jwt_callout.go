package server

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Auth callout (config mode): a CONNECT from anyone but the auth_users is
// sent, as an authorization request JWT signed by the server, to the
// service listening on $SYS.REQ.USER.AUTH in the callout account. The
// service answers with an authorization response JWT signed by the issuer
// key, carrying either an error or a user JWT whose audience names the
// account the user is bound to, with its permissions and expiry. With an
// xkey, the request is sealed to the service's curve key and the answer to
// the server's (announced in the Nats-Server-Xkey header). Only the
// connecting client waits for the answer, at most the auth timeout.

const (
	calloutSubject     = "$SYS.REQ.USER.AUTH"
	calloutXKeyHeader  = "Nats-Server-Xkey"
	calloutReplyPrefix = "_INBOX.callout."
)

// validateConfigCallout checks auth_callout in config mode.
func validateConfigCallout(o *Options) error {
	ac := o.AuthCallout
	if ac == nil {
		return nil
	}
	if len(ac.AuthUsers) == 0 {
		return fmtErr("auth_callout: auth_users must list the users of the callout service")
	}
	for _, name := range ac.AuthUsers {
		if !configuredUser(o, name) {
			return fmtErr("auth_callout: auth user %q is not a configured user", name)
		}
	}
	if ac.Account != "" && ac.Account != DEFAULT_GLOBAL_ACCOUNT && !configuredAccount(o, ac.Account) {
		return fmtErr("auth_callout: account %q is not configured", ac.Account)
	}
	// As the reference: the names must be configured accounts (not $G, not
	// "*"), and only that is checked; the service may still map a user to
	// any configured account.
	for _, name := range ac.AllowedAccounts {
		if !configuredAccount(o, name) {
			return fmtErr("auth_callout allowed account %q not found in configured accounts", name)
		}
	}
	return nil
}

func configuredUser(o *Options, name string) bool {
	for _, u := range o.Users {
		if u.Username == name {
			return true
		}
	}
	for _, u := range o.Nkeys {
		if u.Nkey == name {
			return true
		}
	}
	return false
}

func configuredAccount(o *Options, name string) bool {
	for _, a := range o.Accounts {
		if a.Name == name {
			return true
		}
	}
	return false
}

// calloutBypass reports whether the CONNECT is from an auth user, which
// authenticates as configured.
func calloutBypass(o *Options, co *ClientOpts) bool {
	for _, u := range o.AuthCallout.AuthUsers {
		if u == co.Username || (co.Nkey != "" && u == co.Nkey) {
			return true
		}
	}
	return false
}

// calloutState routes the services' answers to the waiting connections:
// one reply subscription per callout account, made on first use.
type calloutState struct {
	mu       sync.Mutex
	waiting  map[string]chan []byte
	prefixes map[*Account]string
}

var errCalloutTimeout = errors.New("auth callout timed out")

// calloutAccountError is an answer binding the user to an account that does
// not exist (an empty audience included), which the reference logs apart.
type calloutAccountError struct{ target, callout string }

func (e *calloutAccountError) Error() string {
	return fmt.Sprintf("No valid account %q for auth callout response on account %q: %v", e.target, e.callout, errAccountMissing)
}

// authCallout asks the callout service and authenticates by its answer.
func (s *Server) authCallout(c *client, co *ClientOpts) (*authResult, bool) {
	res, err := s.callout(c, co)
	var ae *calloutAccountError
	switch {
	case errors.As(err, &ae):
		s.Errorf("%s - authentication error - User %q", c.logPrefix(), co.Username)
		s.Warnf("%v", err)
		return nil, false
	case err != nil:
		s.Errorf("%s - authentication error - %v", c.logPrefix(), err)
		return nil, false
	}
	return res, true
}

func (s *Server) callout(c *client, co *ClientOpts) (*authResult, error) {
	o := s.getOpts()
	ao := o.AuthCallout
	acc := s.gacc
	if ao.Account != "" && ao.Account != DEFAULT_GLOBAL_ACCOUNT {
		var ok bool
		if acc, ok = s.LookupAccount(ao.Account); !ok {
			return nil, fmt.Errorf("auth callout account %q not found", ao.Account)
		}
	}
	isIssuer := func(issuer, _ string) bool { return issuer == ao.Issuer }
	uc, err := s.calloutAsk(c, co, acc, ao.XKey, secondsToDuration(o.AuthTimeout), isIssuer)
	if err != nil {
		return nil, err
	}
	if uc.Issuer != ao.Issuer {
		return nil, errors.New("auth callout user JWT not issued by the issuer")
	}
	accName := uc.Audience
	if _, ok := s.LookupAccount(accName); !ok {
		return nil, &calloutAccountError{target: accName, callout: acc.Name}
	}
	return calloutAuthResult(uc, accName, jwtPermissions(&uc.Permissions)), nil
}

func calloutAuthResult(uc *jwt.UserClaims, accName string, perms *Permissions) *authResult {
	jc := &jwtConn{user: uc}
	limits := uc.NatsLimits
	jc.limits.Store(&limits)
	name := uc.Name
	if name == "" {
		name = uc.Subject
	}
	return &authResult{user: name, perms: perms, acc: accName, jwt: jc}
}

// calloutAsk sends the authorization request to the service in acc and
// returns the user JWT of its answer, checked: signed by an issuer isIssuer
// accepts (given the issuer and its issuer_account), for this user.
func (s *Server) calloutAsk(c *client, co *ClientOpts, acc *Account, xkey string, timeout time.Duration,
	isIssuer func(issuer, issuerAccount string) bool) (*jwt.UserClaims, error) {
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	userPub, _ := ukp.PublicKey()
	req, err := s.calloutRequest(c, co, userPub)
	if err != nil {
		return nil, err
	}
	var hdr []byte
	if xkey != "" {
		if req, err = s.xkp.Seal(req, xkey); err != nil {
			return nil, err
		}
		xpub, _ := s.xkp.PublicKey()
		hdr = []byte("NATS/1.0\r\n" + calloutXKeyHeader + ": " + xpub + "\r\n\r\n")
	}
	answer, err := s.calloutExchange(acc, hdr, req, timeout)
	if err != nil {
		return nil, err
	}
	if xkey != "" {
		if answer, err = s.xkp.Open(answer, xkey); err != nil {
			return nil, fmt.Errorf("auth callout response not decrypted: %v", err)
		}
	}
	return s.calloutUser(userPub, string(answer), isIssuer)
}

// calloutRequest builds the signed authorization request.
func (s *Server) calloutRequest(c *client, co *ClientOpts, userPub string) ([]byte, error) {
	rc := jwt.NewAuthorizationRequestClaims(userPub)
	rc.Audience = "nats-authorization-request"
	xpub, _ := s.xkp.PublicKey()
	rc.Server = jwt.ServerID{Name: s.info.Name, Host: s.getOpts().Host, ID: s.info.ID, Version: VERSION, XKey: xpub}
	rc.UserNkey = userPub
	rc.ClientInformation = jwt.ClientInformation{Host: c.host, ID: c.cid, User: co.Username, Name: co.Name,
		Kind: "Client", Type: "nats", Nonce: c.nonce}
	rc.ConnectOptions = jwt.ConnectOptions{JWT: co.JWT, Nkey: co.Nkey, SignedNonce: co.Sig, Token: co.Token,
		Username: co.Username, Password: co.Password, Name: co.Name, Lang: co.Lang, Version: co.Version, Protocol: co.Protocol}
	if c.tls.conn != nil {
		rc.TLS = &jwt.ClientTLS{}
	}
	token, err := rc.Encode(s.kp)
	return []byte(token), err
}

// calloutExchange publishes the request in acc and waits for its answer.
func (s *Server) calloutExchange(acc *Account, hdr, req []byte, timeout time.Duration) ([]byte, error) {
	st := &s.callouts
	prefix, err := s.calloutReplies(acc)
	if err != nil {
		return nil, err
	}
	reply := prefix + randToken(10)
	ch := make(chan []byte, 1)
	st.mu.Lock()
	st.waiting[reply] = ch
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.waiting, reply)
		st.mu.Unlock()
	}()
	s.PublishInternal(acc, calloutSubject, reply, hdr, req)
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case b := <-ch:
		return b, nil
	case <-t.C:
		return nil, errCalloutTimeout
	case <-s.quitCh:
		return nil, errCalloutTimeout
	}
}

// calloutReplies returns the reply prefix of acc's callout answers,
// subscribing it the first time.
func (s *Server) calloutReplies(acc *Account) (string, error) {
	st := &s.callouts
	st.mu.Lock()
	defer st.mu.Unlock()
	if p, ok := st.prefixes[acc]; ok {
		return p, nil
	}
	if st.prefixes == nil {
		st.prefixes, st.waiting = map[*Account]string{}, map[string]chan []byte{}
	}
	prefix := calloutReplyPrefix + randToken(8) + "."
	_, err := s.SubscribeInternal(acc, prefix+"*", "", func(subject, _ string, _, msg []byte) {
		st.mu.Lock()
		ch := st.waiting[subject]
		delete(st.waiting, subject)
		st.mu.Unlock()
		if ch != nil {
			ch <- append([]byte(nil), msg...)
		}
	})
	if err != nil {
		return "", err
	}
	st.prefixes[acc] = prefix
	return prefix, nil
}

// calloutUser verifies the service's answer and returns its user JWT.
func (s *Server) calloutUser(userPub, token string, isIssuer func(issuer, issuerAccount string) bool) (*jwt.UserClaims, error) {
	arc, err := jwt.DecodeAuthorizationResponseClaims(strings.TrimSpace(token))
	if err != nil {
		return nil, fmt.Errorf("auth callout response not valid: %v", err)
	}
	switch {
	case !isIssuer(arc.Issuer, arc.IssuerAccount):
		return nil, errors.New("auth callout response issuer is not the configured issuer")
	case arc.Subject != userPub:
		return nil, errors.New("auth callout response is for another user")
	case arc.Audience != s.info.ID:
		return nil, errors.New("auth callout response is for another server")
	case arc.Error != "":
		return nil, fmt.Errorf("auth callout service refused: %s", arc.Error)
	}
	uc, err := jwt.DecodeUserClaims(arc.Jwt)
	if err != nil {
		return nil, fmt.Errorf("auth callout user JWT not valid: %v", err)
	}
	vr := jwt.CreateValidationResults()
	uc.Validate(vr)
	switch {
	case vr.IsBlocking(true):
		return nil, errors.New("auth callout user JWT no longer valid")
	case uc.Subject != userPub:
		return nil, errors.New("auth callout user JWT is for another user")
	}
	return uc, nil
}

// calloutIdentity keeps what the callout service granted an accepted
// connection when the configuration is checked again.
func (c *client) calloutIdentity() *authResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := &authResult{user: c.user}
	if c.perms != nil {
		res.perms = c.perms.conf
	}
	return res
}

// operatorCallout authenticates, through the account's callout service, a
// user of an account with external authorization that is not one of its
// auth users (typically a sentinel whose JWT only leads here). The answer
// must be signed by the account (or one of its signing keys); its user JWT
// must be issued by the account itself or one of its allowed accounts,
// which the connection is then bound to.
func (s *Server) operatorCallout(c *client, co *ClientOpts, acc *Account, st *accountJWT, limitConns bool) (*authResult, error) {
	auth := &st.claims.Authorization
	isIssuer := func(issuer, issuerAccount string) bool {
		return issuer == acc.Name || (issuerAccount == acc.Name && st.claims.SigningKeys.Contains(issuer))
	}
	uc, err := s.calloutAsk(c, co, acc, auth.XKey, secondsToDuration(s.getOpts().AuthTimeout), isIssuer)
	if err != nil {
		return nil, err
	}
	target := uc.Issuer
	if uc.IssuerAccount != "" {
		target = uc.IssuerAccount
	}
	if target != acc.Name && !auth.AllowedAccounts.Contains(target) && !auth.AllowedAccounts.Contains("*") {
		return nil, fmt.Errorf("auth callout mapped the user to account %q, which it may not", target)
	}
	tacc, tst, err := s.lookupJWTAccount(target)
	if err != nil {
		return nil, fmt.Errorf("auth callout target account lookup failed: %v", err)
	}
	if tst.claims.IsClaimRevoked(uc) {
		return nil, errors.New("User authentication revoked")
	}
	_, perms, err := s.userGrantsFor(uc, tacc, tst)
	if err != nil {
		return nil, err
	}
	if limitConns {
		if s.clientLimitReached(tacc, jwtLimit(tst.claims.Limits.Conn)) {
			return nil, &connectError{errMaxAccountConns, MaxAccountConnectionsExceeded}
		}
	}
	res := calloutAuthResult(uc, tacc.Name, perms)
	res.user = uc.Subject
	return res, nil
}
