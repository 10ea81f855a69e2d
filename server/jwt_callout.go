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

// calloutState routes the service's answers to the waiting connections.
type calloutState struct {
	once    sync.Once
	mu      sync.Mutex
	waiting map[string]chan []byte
	prefix  string
}

var errCalloutTimeout = errors.New("auth callout timed out")

// authCallout asks the callout service and authenticates by its answer.
func (s *Server) authCallout(c *client, co *ClientOpts) (*authResult, bool) {
	res, err := s.callout(c, co)
	if err != nil {
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
	if ao.XKey != "" {
		if req, err = s.xkp.Seal(req, ao.XKey); err != nil {
			return nil, err
		}
		xpub, _ := s.xkp.PublicKey()
		hdr = []byte("NATS/1.0\r\n" + calloutXKeyHeader + ": " + xpub + "\r\n\r\n")
	}
	answer, err := s.calloutExchange(acc, hdr, req, secondsToDuration(o.AuthTimeout))
	if err != nil {
		return nil, err
	}
	if ao.XKey != "" {
		if answer, err = s.xkp.Open(answer, ao.XKey); err != nil {
			return nil, fmt.Errorf("auth callout response not decrypted: %v", err)
		}
	}
	return s.calloutResult(ao, userPub, string(answer))
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
	st.once.Do(func() {
		st.waiting = map[string]chan []byte{}
		st.prefix = calloutReplyPrefix + randToken(8) + "."
		_, _ = s.SubscribeInternal(acc, st.prefix+"*", "", func(subject, _ string, _, msg []byte) {
			st.mu.Lock()
			ch := st.waiting[subject]
			delete(st.waiting, subject)
			st.mu.Unlock()
			if ch != nil {
				ch <- append([]byte(nil), msg...)
			}
		})
	})
	reply := st.prefix + randToken(10)
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

// calloutResult verifies the service's answer and turns its user JWT into
// the connection's identity.
func (s *Server) calloutResult(ao *AuthCalloutOpts, userPub, token string) (*authResult, error) {
	arc, err := jwt.DecodeAuthorizationResponseClaims(strings.TrimSpace(token))
	if err != nil {
		return nil, fmt.Errorf("auth callout response not valid: %v", err)
	}
	switch {
	case arc.Issuer != ao.Issuer:
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
	case uc.Issuer != ao.Issuer || uc.Subject != userPub:
		return nil, errors.New("auth callout user JWT not issued by the issuer for this user")
	}
	accName := uc.Audience
	if accName == "" {
		accName = DEFAULT_GLOBAL_ACCOUNT
	}
	if accName != DEFAULT_GLOBAL_ACCOUNT {
		if _, ok := s.LookupAccount(accName); !ok {
			return nil, fmt.Errorf("auth callout account %q not found", accName)
		}
	}
	jc := &jwtConn{user: uc}
	limits := uc.NatsLimits
	jc.limits.Store(&limits)
	name := uc.Name
	if name == "" {
		name = uc.Subject
	}
	return &authResult{user: name, perms: jwtPermissions(&uc.Permissions), acc: accName, jwt: jc}, nil
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
