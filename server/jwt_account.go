package server

import (
	"sort"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
)

// accountJWT is an account's claims as applied; replaced whole by an
// update (Account.jwtClaims), so readers never lock.
type accountJWT struct {
	claims *jwt.AccountClaims
	token  string
	expiry *time.Timer // closes the account's connections when it expires
	at     time.Time   // when the claims were applied, /accountz's update_time
}

// limit returns a JWT limit as a positive bound, or 0 for none.
func jwtLimit(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return n
}

// applyAccountClaims makes claims the account's own and brings its open
// connections under them: revoked users and users of removed signing keys
// are disconnected, the others get their new permissions and limits.
// applyMu held.
func (s *Server) applyAccountClaims(acc *Account, ac *jwt.AccountClaims, token string) {
	st := &accountJWT{claims: ac, token: token, at: time.Now().UTC()}
	if ac.Expires > 0 {
		until := time.Until(time.Unix(ac.Expires, 0))
		st.expiry = time.AfterFunc(until, func() { s.accountExpired(acc, st) })
	}
	if err := acc.setMappings(jwtMappings(ac.Mappings)); err != nil {
		s.Errorf("Account %s: mappings not applied: %v", acc.Name, err)
	}
	old := acc.jwtClaims.Swap(st)
	if old != nil && old.expiry != nil {
		old.expiry.Stop()
	}
	if old == nil {
		return
	}
	s.limitsGen.Add(1) // readers reload payload and subscription limits
	s.recheckAccountClients(acc, st)
}

// accountExpired disconnects the connections of an account whose JWT
// expired, unless a newer JWT replaced it meanwhile.
func (s *Server) accountExpired(acc *Account, st *accountJWT) {
	if st != nil && acc.jwtClaims.Load() != st {
		return
	}
	for _, c := range acc.connList() {
		s.Debugf("%s - Account Authentication Expired - Account:%s", c.logPrefix(), acc.Name)
		c.closeWithErr("Account Authentication Expired", AuthenticationExpired)
	}
}

// recheckAccountClients applies updated account claims to the account's
// connections, closing those that may no longer connect.
func (s *Server) recheckAccountClients(acc *Account, st *accountJWT) {
	clients := acc.connList()
	// The newest connections go first when the connection limit shrank.
	sort.Slice(clients, func(i, j int) bool { return clients[i].cid < clients[j].cid })
	maxConns := jwtLimit(st.claims.Limits.Conn)
	kept := 0
	for _, c := range clients {
		jc := c.jwtConn()
		if jc == nil {
			continue
		}
		if st.claims.IsClaimRevoked(jc.user) {
			s.Debugf("%s - User Authentication Revoked - Account:%s", c.logPrefix(), acc.Name)
			c.closeWithErr("User Authentication Revoked", Revocation)
			continue
		}
		perms, limits, err := s.userGrants(jc.user, acc, st)
		if err != nil {
			s.Debugf("%s - %v", c.logPrefix(), err)
			c.closeWithErr("Authorization Violation", AuthenticationViolation)
			continue
		}
		if maxConns > 0 && int64(kept) >= maxConns {
			s.Errorf("%s - %s", c.logPrefix(), errMaxAccountConns)
			c.closeWithErr(errMaxAccountConns, MaxAccountConnectionsExceeded)
			continue
		}
		kept++
		jc.limits.Store(&limits)
		c.setPermissions(perms)
	}
}

// connList is the account's clients and leaf connections: JWT users
// both, re-checked when the account's claims change.
func (a *Account) connList() []*client {
	return append(a.clientList(), a.leafed.list()...)
}

// clientList copies the account's connections.
func (a *Account) clientList() []*client {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*client, 0, len(a.clients))
	for c := range a.clients {
		out = append(out, c)
	}
	return out
}

// accountDeleted forgets a deleted account's claims, so that its users can
// no longer connect, and disconnects those connected, as the reference
// does: with the account expiry's error.
func (s *Server) accountDeleted(pub string) {
	acc, ok := s.LookupAccount(pub)
	if !ok {
		return
	}
	s.jwt.applyMu.Lock()
	old := acc.jwtClaims.Swap(nil)
	s.jwt.applyMu.Unlock()
	if old == nil {
		return
	}
	if old.expiry != nil {
		old.expiry.Stop()
	}
	s.removeImportsOf(acc)
	s.accountExpired(acc, nil)
}

// jwtAccountz adds an operator-mode account's JWT, its issuer, name, the
// decoded claims and the claims' imports and exports to its /accountz entry.
func jwtAccountz(a *Account, ai *AccountInfo) {
	st := a.jwtClaims.Load()
	if st == nil {
		return
	}
	ac := st.claims
	ai.Jwt, ai.IssuerKey, ai.Claim, ai.LastUpdate = st.token, ac.Issuer, ac, st.at
	if ac.Name != "" {
		ai.NameTag = ac.Name
	}
	ai.Expired = ac.Expires > 0 && time.Unix(ac.Expires, 0).Before(time.Now())
	for _, ex := range ac.Exports {
		ai.Exports = append(ai.Exports, ExtExport{Subject: string(ex.Subject), Type: ex.Type.String(),
			ResponseType: string(ex.ResponseType)})
	}
	for _, im := range ac.Imports {
		ai.Imports = append(ai.Imports, ExtImport{Subject: string(im.Subject), Account: im.Account,
			LocalSubject: string(im.LocalSubject), Type: im.Type.String(), Share: im.Share})
	}
}

// jwtMappings converts the claims' subject mappings, in subject order so
// that the first match is the same on every server. Destinations for a
// cluster never apply on a server without one, as in the config file.
func jwtMappings(m jwt.Mapping) []*MappingOpts {
	srcs := make([]string, 0, len(m))
	for src := range m {
		srcs = append(srcs, string(src))
	}
	sort.Strings(srcs)
	var out []*MappingOpts
	for _, src := range srcs {
		mo := &MappingOpts{Source: src}
		for _, wm := range m[jwt.Subject(src)] {
			if strings.TrimSpace(wm.Cluster) != "" {
				continue
			}
			mo.Dests = append(mo.Dests, MappingDest{Subject: string(wm.Subject), Weight: int(wm.GetWeight())})
		}
		if len(mo.Dests) > 0 {
			out = append(out, mo)
		}
	}
	return out
}
