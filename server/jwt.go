package server

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Operator mode: accounts and users are JWTs. An operator (or a bare
// trusted key) issues accounts, directly or through its signing keys; an
// account issues users, directly or through its signing keys, which may be
// scoped (the key imposes a template of permissions and limits). The
// resolver (jwt_resolver*.go) finds account JWTs by public key; an account
// is registered the first time a user of it connects, and claim updates
// apply to it live (jwt_account.go).

// jwtState is the server's operator-mode runtime; nil in config mode.
type jwtState struct {
	trusted  map[string]bool // operator subjects, their signing keys, trusted_keys
	resolver accountResolver
	// bootstrapping: the system account runs without its JWT until pushed.
	bootstrapping bool
	// applyMu serializes installing and updating account claims: imports
	// of one account read the exports of another. Never held while fetching.
	applyMu sync.Mutex
	// remote: the other servers' counts of each account's connections
	// (jwt_limits_cluster.go).
	remote remoteConns
}

var (
	errAccountNotTrusted = errors.New("account not trusted")
	errAccountInvalid    = errors.New("account validation failed")
	errAccountMissing    = errors.New("account missing")
)

// setOperatorDefaults takes the system account, and the URL resolver when
// none is configured, from the operator JWT, as the reference does.
func setOperatorDefaults(o *Options) {
	for _, op := range o.TrustedOperators {
		if o.SystemAccount == "" && op.SystemAccount != "" {
			o.SystemAccount = op.SystemAccount
		}
		if o.Resolver.Type == "" && op.AccountServerURL != "" {
			o.Resolver = ResolverOpts{Type: ResolverURL, URL: op.AccountServerURL}
		}
	}
}

// configureOperator sets up operator mode: the trusted keys and the
// resolver. Called by NewServer before the system account exists.
func (s *Server) configureOperator(o *Options) error {
	if !operatorMode(o) {
		return nil
	}
	st := &jwtState{trusted: map[string]bool{}}
	for _, k := range o.TrustedKeys {
		st.trusted[k] = true
	}
	for _, op := range o.TrustedOperators {
		st.trusted[op.Subject] = true
		for _, k := range op.SigningKeys {
			st.trusted[k] = true
		}
	}
	r, err := newAccountResolver(o)
	if err != nil {
		return err
	}
	st.resolver = r
	s.jwt = st
	return nil
}

// startOperator loads the system account's JWT once the system account
// exists, then lets the resolver serve its requests. A MEMORY or URL
// resolver must know the system account; the directory resolvers start
// with a bare one until its JWT is pushed, as the reference does.
func (s *Server) startOperator() error {
	if s.jwt == nil {
		return nil
	}
	s.subscribeRemoteConns()
	// Without a system account in the config or the operator JWT, the
	// reference starts with a bare $SYS and a warning; so do we.
	if sys := s.SystemAccount(); sys != nil && s.getOpts().SystemAccount != "" {
		if _, _, err := s.lookupJWTAccount(sys.Name); err != nil {
			if !s.jwt.resolver.bootstraps() {
				return fmtErr("error resolving system account: %v", err)
			}
			s.jwt.bootstrapping = true
		}
	}
	return s.jwt.resolver.start(s)
}

// logOperatorMode logs the trusted operators and the resolver at start-up.
func (s *Server) logOperatorMode() {
	if s.jwt == nil {
		return
	}
	s.Noticef("Trusted Operators")
	for _, op := range s.getOpts().TrustedOperators {
		s.Noticef("  System  : %q", op.Audience)
		s.Noticef("  Operator: %q", op.Name)
		s.Noticef("  Issued  : %v", time.Unix(op.IssuedAt, 0))
		exp := "Never"
		if op.Expires > 0 {
			exp = time.Unix(op.Expires, 0).String()
		}
		s.Noticef("  Expires : %s", exp)
	}
	if s.getOpts().SystemAccount == "" {
		s.Warnf("Trusted Operators should utilize a System Account")
	}
	s.warnPreloadIssues()
	if r, ok := s.jwt.resolver.(*dirResolver); ok {
		if r.opts.Type == ResolverFull {
			s.Noticef("Managing all jwt in exclusive directory %s", r.opts.Dir)
		} else {
			s.Noticef("Managing some jwt in exclusive directory %s", r.opts.Dir)
		}
	}
	if s.jwt.bootstrapping {
		s.Noticef("Using bootstrapping system account")
	}
}

// isTrusted reports whether key may issue accounts.
func (st *jwtState) isTrusted(key string) bool { return st.trusted[key] }

// verifyAccountJWT decodes an account JWT (which checks its signature) and
// checks that a trusted operator issued it and that it is valid now.
func (s *Server) verifyAccountJWT(token string) (*jwt.AccountClaims, error) {
	ac, err := jwt.DecodeAccountClaims(strings.TrimSpace(token))
	if err != nil {
		return nil, err
	}
	if !s.jwt.isTrusted(ac.Issuer) {
		return nil, errAccountNotTrusted
	}
	vr := jwt.CreateValidationResults()
	ac.Validate(vr)
	if vr.IsBlocking(true) {
		return ac, errAccountInvalid
	}
	return ac, nil
}

// lookupJWTAccount returns the account with public key pub, fetching and
// installing it if it is not registered yet. Only the caller waits for the
// fetch: no lock is held meanwhile.
func (s *Server) lookupJWTAccount(pub string) (*Account, *accountJWT, error) {
	if acc, ok := s.LookupAccount(pub); ok {
		if st := acc.jwtClaims.Load(); st != nil {
			return acc, st, nil
		}
	}
	start := time.Now()
	token, err := s.jwt.resolver.fetch(pub)
	if took := time.Since(start); took > time.Second {
		s.Warnf("Account [%s] fetch took %v", pub, took)
	} else if err == nil {
		s.Debugf("Account [%s] fetch took %v", pub, took)
	}
	if err != nil {
		if err != errAccountMissing {
			s.Warnf("Account fetch failed: %v", err)
		}
		return nil, nil, err
	}
	ac, err := s.verifyAccountJWT(token)
	if err != nil {
		return nil, nil, err
	}
	if ac.Subject != pub {
		return nil, nil, errors.New("subject does not match jwt content")
	}
	acc := s.installAccount(ac, token)
	return acc, acc.jwtClaims.Load(), nil
}

// accountForRoute returns the account a route's interest names. In
// operator mode an account no user of this server uses yet is registered
// bare (its claims come with its first user), so that the interest other
// servers announce for it is kept: a user connecting here later publishes
// to their subscribers.
func (s *Server) accountForRoute(name string) *Account {
	if acc, ok := s.LookupAccount(name); ok || s.jwt == nil || !nkeys.IsValidPublicAccountKey(name) {
		return acc
	}
	fresh := NewAccount(name)
	acc := s.registerAccount(fresh)
	if acc == fresh {
		s.addSystemImports(acc)
	}
	return acc
}

// installAccount registers the account of verified claims, or updates the
// registered one, and applies the claims.
func (s *Server) installAccount(ac *jwt.AccountClaims, token string) *Account {
	acc, applied := s.swapAccountClaims(ac, token)
	if applied {
		// JetStream may recover streams from disk, and imports fetch their
		// exporters, which may import from this one: both once the claims
		// are in place and applyMu released.
		s.applyJWTJetStream(acc, ac)
		s.wireJWTImports(acc, ac)
		s.rewireImporters(acc)
	}
	return acc
}

// swapAccountClaims registers the account if needed and applies newer
// claims; it reports whether it did.
func (s *Server) swapAccountClaims(ac *jwt.AccountClaims, token string) (*Account, bool) {
	s.jwt.applyMu.Lock()
	defer s.jwt.applyMu.Unlock()
	acc, ok := s.LookupAccount(ac.Subject)
	if !ok {
		fresh := NewAccount(ac.Subject)
		if acc = s.registerAccount(fresh); acc == fresh {
			s.addSystemImports(acc)
		}
	}
	if cur := acc.jwtClaims.Load(); cur != nil && cur.claims.IssuedAt > ac.IssuedAt {
		return acc, false // an older JWT never replaces a newer one
	}
	s.Debugf("Updating account claims: %s/%s", ac.Subject, ac.Name)
	s.applyAccountClaims(acc, ac, token)
	return acc, true
}

// warnPreloadIssues logs, as the reference does at start-up, what is wrong
// with the preloaded account JWTs (such as more imports or exports than
// their limits allow); users of those accounts are refused at CONNECT.
func (s *Server) warnPreloadIssues() {
	preload := s.getOpts().ResolverPreload
	for _, pub := range slices.Sorted(maps.Keys(preload)) {
		ac, err := jwt.DecodeAccountClaims(strings.TrimSpace(preload[pub]))
		if err != nil {
			continue
		}
		vr := jwt.CreateValidationResults()
		ac.Validate(vr)
		if len(vr.Issues) == 0 {
			continue
		}
		s.Warnf("Account [%s] has validation issues:", pub)
		for _, issue := range vr.Issues {
			s.Warnf("  - %s", issue.Description)
		}
	}
}
