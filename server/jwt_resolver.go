package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
)

// accountResolver finds account JWTs by public key. fetch runs on the
// goroutine of the connection that needs the account and holds no lock of
// the server while it waits.
type accountResolver interface {
	fetch(pub string) (string, error)
	// bootstraps reports whether the server may start without the system
	// account's JWT (the directory resolvers, to which it is pushed).
	bootstraps() bool
	// start subscribes the resolver's system requests.
	start(s *Server) error
	stop()
}

func newAccountResolver(o *Options) (accountResolver, error) {
	switch o.Resolver.Type {
	case ResolverMemory:
		return newMemResolver(o.ResolverPreload), nil
	case ResolverURL:
		return newURLResolver(o.Resolver), nil
	case ResolverFull, ResolverCache:
		return newDirResolver(o.Resolver, o.ResolverPreload)
	}
	return nil, errors.New("no account resolver configured")
}

// memResolver holds the preloaded JWTs, updated by claim updates of the
// accounts in use.
type memResolver struct {
	mu   sync.RWMutex
	jwts map[string]string
}

func newMemResolver(preload map[string]string) *memResolver {
	r := &memResolver{jwts: map[string]string{}}
	for k, v := range preload {
		r.jwts[k] = v
	}
	return r
}

func (r *memResolver) fetch(pub string) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if token, ok := r.jwts[pub]; ok {
		return token, nil
	}
	return "", errAccountMissing
}

func (r *memResolver) store(pub, token string) {
	r.mu.Lock()
	r.jwts[pub] = token
	r.mu.Unlock()
}

func (r *memResolver) bootstraps() bool { return false }
func (r *memResolver) stop()            {}

func (r *memResolver) start(s *Server) error {
	return s.serveAccountClaimUpdates(r.store)
}

// urlResolver asks an account server over HTTP (GET <url><pub>) and keeps
// what it got, so that an account is fetched once; claim updates replace
// the kept JWT.
type urlResolver struct {
	url    string
	client *http.Client
	cache  memResolver
}

func newURLResolver(ro ResolverOpts) *urlResolver {
	timeout := ro.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	url := ro.URL
	if !strings.HasSuffix(url, "/") {
		url += "/"
	}
	return &urlResolver{url: url, client: &http.Client{Timeout: timeout},
		cache: memResolver{jwts: map[string]string{}}}
}

func (r *urlResolver) fetch(pub string) (string, error) {
	if token, err := r.cache.fetch(pub); err == nil {
		return token, nil
	}
	u := r.url + pub
	resp, err := r.client.Get(u)
	if err != nil {
		return "", fmt.Errorf("could not fetch <%q>: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("could not fetch <%q>: %v", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWTSize))
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(body))
	r.cache.store(pub, token)
	return token, nil
}

func (r *urlResolver) bootstraps() bool { return false }
func (r *urlResolver) stop()            {}

func (r *urlResolver) start(s *Server) error {
	return s.serveAccountClaimUpdates(r.cache.store)
}

// maxJWTSize bounds a JWT read from an account server or a file.
const maxJWTSize = 1 << 20

// Subjects of the resolvers' requests.
const (
	accClaimsReqSubj    = "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"
	accClaimsOldSubj    = "$SYS.ACCOUNT.*.CLAIMS.UPDATE"
	accLookupReqSubj    = "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP"
	claimsUpdateReqSubj = "$SYS.REQ.CLAIMS.UPDATE"
	claimsListReqSubj   = "$SYS.REQ.CLAIMS.LIST"
	claimsDeleteReqSubj = "$SYS.REQ.CLAIMS.DELETE"
)

// claimsReply answers a claims request: {server, data} or {server, error},
// with the reference's fields.
type claimsReply struct {
	Server *ServerInfo   `json:"server"`
	Data   *claimsResult `json:"data,omitempty"`
	Error  *claimsError  `json:"error,omitempty"`
}

type claimsResult struct {
	Account string `json:"account,omitempty"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type claimsError struct {
	Account     string `json:"account,omitempty"`
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// replyClaims sends a claims answer from the system account.
func (s *Server) replyClaims(reply string, res *claimsResult, cerr *claimsError) {
	if reply == "" || s.sys == nil {
		return
	}
	b, err := json.Marshal(&claimsReply{Server: ptr(s.serverInfo()), Data: res, Error: cerr})
	if err != nil {
		return
	}
	s.PublishInternal(s.sys.acc, reply, "", nil, b)
}

// serveAccountClaimUpdates answers $SYS.REQ.ACCOUNT.<acc>.CLAIMS.UPDATE
// (and the older $SYS.ACCOUNT.<acc>.CLAIMS.UPDATE) for the MEMORY and URL
// resolvers: an account in use takes the new claims, others are skipped.
func (s *Server) serveAccountClaimUpdates(keep func(pub, token string)) error {
	if s.sys == nil {
		return nil
	}
	h := func(subject, reply string, _, msg []byte) {
		pub := subjectToken(2)(subject)
		if strings.HasPrefix(subject, "$SYS.REQ.") {
			pub = subjectToken(3)(subject)
		}
		token := string(msg)
		// An account not in use is skipped before its JWT is looked at, as
		// the reference does (an invalid one is skipped too).
		if _, ok := s.LookupAccount(pub); !ok {
			s.replyClaims(reply, &claimsResult{Account: pub, Code: 200, Message: "jwt update skipped"}, nil)
			return
		}
		ac, err := s.checkClaimUpdate(pub, token)
		if err != nil {
			s.replyClaims(reply, nil, &claimsError{Account: accountOrNA(pub), Code: 500, Description: "jwt update resulted in error - " + err.Error()})
			return
		}
		keep(pub, token)
		s.installAccount(ac, token)
		s.replyClaims(reply, &claimsResult{Account: pub, Code: 200, Message: "jwt updated"}, nil)
	}
	for _, subj := range []string{accClaimsReqSubj, accClaimsOldSubj} {
		if _, err := s.SubscribeInternal(s.sys.acc, subj, "", h); err != nil {
			return err
		}
	}
	return nil
}

func accountOrNA(pub string) string {
	if pub == "" {
		return "n/a"
	}
	return pub
}

// checkClaimUpdate verifies an account JWT pushed for account pub (empty:
// any account).
func (s *Server) checkClaimUpdate(pub, token string) (*jwt.AccountClaims, error) {
	ac, err := s.verifyAccountJWT(token)
	if errors.Is(err, errAccountInvalid) {
		vr := jwt.CreateValidationResults()
		ac.Validate(vr)
		if issues := vr.Errors(); len(issues) > 0 {
			return nil, &claimsInvalidError{pub: ac.Subject, issues: issues}
		}
	}
	if err != nil {
		return nil, err
	}
	if pub != "" && ac.Subject != pub {
		return nil, errors.New("subject does not match jwt content")
	}
	return ac, nil
}

// claimsInvalidError is a pushed account JWT with blocking validation
// issues (such as more imports than its limit), which the full resolver
// refuses in the reference's words.
type claimsInvalidError struct {
	pub    string
	issues []error
}

func (e *claimsInvalidError) Error() string {
	return fmt.Sprintf("jwt validation failed - validation errors: %v", e.issues)
}

// logText is the reference's log line, which names the account.
func (e *claimsInvalidError) logText() string {
	return fmt.Sprintf("jwt validation failed - %s - validation errors: %v", e.pub, e.issues)
}
