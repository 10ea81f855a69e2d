package server

import (
	"os"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/natsforge/nats-server/conf"
)

// JWTOptions configure decentralized security (operator mode): the trusted
// operators, the resolver that finds account JWTs, and auth callout.
type JWTOptions struct {
	// TrustedOperators are the operator JWTs of `operator`; their subjects
	// and signing keys may issue accounts.
	TrustedOperators []*jwt.OperatorClaims `json:"-"`
	// TrustedKeys are `trusted_keys`: operator public keys trusted without
	// an operator JWT.
	TrustedKeys []string `json:"-"`
	// Resolver says where account JWTs come from.
	Resolver ResolverOpts `json:"-"`
	// ResolverPreload are account JWTs by public key (`resolver_preload`).
	ResolverPreload map[string]string `json:"-"`
	// AuthCallout delegates authentication to a service (auth_callout).
	AuthCallout *AuthCalloutOpts `json:"-"`
	// operatorJWTs are the TrustedOperators as written, for /varz.
	operatorJWTs []string
}

// Resolver types.
const (
	ResolverMemory = "MEMORY"
	ResolverURL    = "URL"
	ResolverFull   = "full"
	ResolverCache  = "cache"
)

// ResolverOpts is the `resolver` option: MEMORY, URL(url), or a map for the
// NATS-based resolvers with a directory store.
type ResolverOpts struct {
	Type        string
	URL         string
	Dir         string
	AllowDelete bool
	HardDelete  bool
	Interval    time.Duration // full: how often servers compare their stores
	Timeout     time.Duration // lookups from other servers
	Limit       int           // how many JWTs the store keeps
	TTL         time.Duration // cache: how long a JWT is kept
}

// AuthCalloutOpts is authorization { auth_callout { ... } }.
type AuthCalloutOpts struct {
	Issuer          string   // account public key signing the responses
	Account         string   // where the callout service runs
	AuthUsers       []string // users that bypass the callout (the service's own)
	XKey            string   // curve key to encrypt requests to the service
	AllowedAccounts []string
}

// operatorMode reports whether accounts and users come from JWTs.
func operatorMode(o *Options) bool {
	return len(o.TrustedOperators) > 0 || len(o.TrustedKeys) > 0
}

func parseOperator(c *cfg, k string, v *conf.Value) {
	list, ok := c.strList(k, v)
	if !ok {
		return
	}
	for _, ref := range list {
		oc, token, err := readOperatorJWT(ref)
		if err != nil {
			c.errorf(v, "error parsing operator JWT: %v", err)
			continue
		}
		c.o.TrustedOperators = append(c.o.TrustedOperators, oc)
		c.o.operatorJWTs = append(c.o.operatorJWTs, token)
	}
}

// readOperatorJWT takes an operator JWT inline or from a file, which may be
// decorated as nsc writes it.
func readOperatorJWT(ref string) (*jwt.OperatorClaims, string, error) {
	token := ref
	if !strings.HasPrefix(ref, "eyJ") {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, "", err
		}
		if token, err = jwt.ParseDecoratedJWT(b); err != nil {
			return nil, "", err
		}
	}
	oc, err := jwt.DecodeOperatorClaims(token)
	return oc, token, err
}

func parseTrustedKeys(c *cfg, k string, v *conf.Value) {
	list, ok := c.strList(k, v)
	if !ok {
		return
	}
	for _, key := range list {
		if !nkeys.IsValidPublicOperatorKey(key) {
			c.errorf(v, "trust key %q required to be a valid public operator nkey", key)
			continue
		}
		c.o.TrustedKeys = append(c.o.TrustedKeys, key)
	}
}

const errResolverSyntax = "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])"

func parseResolver(c *cfg, k string, v *conf.Value) {
	switch x := v.V.(type) {
	case string:
		s := strings.TrimSpace(x)
		switch u := strings.ToUpper(s); {
		case u == "MEM" || u == "MEMORY":
			c.o.Resolver = ResolverOpts{Type: ResolverMemory}
			return
		case strings.HasPrefix(u, "URL(") && strings.HasSuffix(u, ")"):
			url := strings.Trim(strings.TrimSpace(s[4:len(s)-1]), "\"'")
			c.o.Resolver = ResolverOpts{Type: ResolverURL, URL: url}
			return
		}
	case map[string]*conf.Value:
		c.parseResolverMap(x, v)
		return
	}
	c.errorf(v, errResolverSyntax)
}

func (c *cfg) parseResolverMap(m map[string]*conf.Value, v *conf.Value) {
	r := ResolverOpts{}
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "type":
			s, _ := c.str(key, e)
			r.Type = strings.ToLower(s)
		case "dir":
			r.Dir, _ = c.str(key, e)
		case "allow_delete":
			r.AllowDelete, _ = c.bool(key, e)
		case "hard_delete":
			r.HardDelete, _ = c.bool(key, e)
		case "interval":
			r.Interval, _ = c.duration(key, e)
		case "timeout":
			r.Timeout, _ = c.duration(key, e)
		case "ttl":
			r.TTL, _ = c.duration(key, e)
		case "limit":
			n, _ := c.int64(key, e)
			r.Limit = int(n)
		default:
			c.unknownField(e, key)
		}
	}
	if r.Type != ResolverFull && r.Type != ResolverCache {
		c.errorf(v, errResolverSyntax)
		return
	}
	if msgs := resolverOptionConflicts(r, m); len(msgs) > 0 {
		for _, msg := range msgs {
			c.errorf(v, "%s", msg)
		}
		return
	}
	if r.Dir == "" {
		c.errorf(v, "mkdir : no such file or directory")
		return
	}
	c.o.Resolver = r
}

// resolverOptionConflicts are the reference's refusals of the options the
// resolver type does not take.
func resolverOptionConflicts(r ResolverOpts, m map[string]*conf.Value) []string {
	has := func(key string) bool {
		for k := range m {
			if strings.EqualFold(k, key) {
				return true
			}
		}
		return false
	}
	var out []string
	add := func(cond bool, msg string) {
		if cond {
			out = append(out, msg)
		}
	}
	cache, full := r.Type == ResolverCache, r.Type == ResolverFull
	add(cache && has("interval"), "CACHE does not accept sync")
	add(cache && has("allow_delete"), "CACHE does not accept allow_delete")
	add(cache && has("hard_delete"), "CACHE does not accept hard_delete")
	add(full && has("ttl"), "FULL does not accept ttl")
	add(full && r.HardDelete && !r.AllowDelete, "hard_delete has no effect without delete")
	return out
}

func parseResolverPreload(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	if c.o.ResolverPreload == nil {
		c.o.ResolverPreload = map[string]string{}
	}
	for _, key := range sortedKeys(m) {
		token, ok := c.str(key, m[key])
		if !ok {
			continue
		}
		ac, err := jwt.DecodeAccountClaims(token)
		if err != nil || ac.Subject != key {
			c.errorf(m[key], "invalid account JWT")
			continue
		}
		c.o.ResolverPreload[key] = token
	}
}

// parseAuthCallout reads authorization { auth_callout { issuer, account,
// auth_users, xkey, allowed_accounts } }.
func (c *cfg) parseAuthCallout(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	ac := &AuthCalloutOpts{}
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "issuer":
			ac.Issuer, _ = c.str(key, e)
			if !nkeys.IsValidPublicAccountKey(ac.Issuer) {
				c.errorf(e, "Expected callout user to be a valid public account nkey, got %q", ac.Issuer)
			}
		case "account", "acc":
			ac.Account, _ = c.str(key, e)
		case "auth_users", "users":
			ac.AuthUsers, _ = c.strList(key, e)
		case "xkey", "key":
			ac.XKey, _ = c.str(key, e)
			if ac.XKey != "" && !nkeys.IsValidPublicCurveKey(ac.XKey) {
				c.errorf(e, "Expected callout xkey to be a valid public xkey, got %q", ac.XKey)
			}
		case "allowed_accounts":
			ac.AllowedAccounts, _ = c.strList(key, e)
		default:
			c.unknownField(e, key)
		}
	}
	if ac.Issuer == "" {
		c.errorf(v, "Expected callout user to be a valid public account nkey, got %q", "")
	}
	c.o.AuthCallout = ac
}

// validateOperatorOptions refuses, in the reference's words, what operator
// mode does not allow.
func validateOperatorOptions(o *Options) error {
	if !operatorMode(o) {
		if o.Resolver.Type != "" || len(o.ResolverPreload) > 0 {
			return nil // the reference ignores a resolver without operator
		}
		return validateConfigCallout(o)
	}
	switch {
	case len(o.Accounts) > 0:
		return fmtErr("operators do not allow Accounts to be configured directly")
	case len(o.Users) > 0 || len(o.Nkeys) > 0:
		return fmtErr("operators do not allow users to be configured directly")
	case o.NoAuthUser != "":
		return fmtErr("no_auth_user not compatible with Trusted Operator")
	case o.AuthCallout != nil:
		return fmtErr("operators do not allow authorization callouts to be configured directly")
	}
	for _, op := range o.TrustedOperators {
		if op.SystemAccount == "" {
			continue
		}
		if o.SystemAccount != "" && o.SystemAccount != op.SystemAccount {
			return fmtErr("system_account in config and operator JWT must be identical")
		}
	}
	if o.Resolver.Type == "" {
		return fmtErr("operator mode needs a resolver: MEMORY, URL(url) or a full or cache resolver with a dir")
	}
	return nil
}
