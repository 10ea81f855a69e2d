package server

import (
	"crypto/subtle"
)

// Route authorization and permissions, as the reference's (observed on
// v2.15.2). An accepting server with cluster credentials checks the
// soliciting server's CONNECT; a refusal is logged "authentication error"
// (with ` - User "<name>"` when one was given), answered -ERR
// 'Authorization Violation' and closed as "Authentication Failure", which
// the solicitor logs as "Route Error 'Authorization Violation'".
//
// Permissions { import, export } apply to every route connection: import
// limits the messages taken from routes and the interest sent to them (no
// RS+ for what would be dropped), export limits the remote interest
// served (an RS+ outside it is ignored, so nothing is sent for it).

// RoutePermissions are the cluster's permissions: import is what routes may
// bring in, export what they may take out.
type RoutePermissions struct {
	Import *SubjectPermission `json:"import"`
	Export *SubjectPermission `json:"export"`
}

// routePerms are the compiled route permissions; nil sets allow all.
type routePerms struct {
	imp, exp *permSet
	conf     *RoutePermissions
}

func compileRoutePerms(p *RoutePermissions) *routePerms {
	if p == nil {
		return nil
	}
	rp := &routePerms{imp: compileSubjectPermission(p.Import), exp: compileSubjectPermission(p.Export), conf: p}
	if rp.imp == nil && rp.exp == nil {
		return nil
	}
	return rp
}

// canImport reports whether messages on subject (a subscription's subject
// when asked for interest) may come in from routes.
func (cs *clusterState) canImport(subject string) bool {
	rp := cs.perms.Load()
	return rp == nil || rp.imp == nil || rp.imp.allows(subject)
}

// canExport reports whether a remote interest in subject is served.
func (cs *clusterState) canExport(subject string) bool {
	rp := cs.perms.Load()
	return rp == nil || rp.exp == nil || rp.exp.allows(subject)
}

// routeCredentialsOK checks an accepted route's CONNECT credentials against
// the cluster's authorization, logging a refusal as the reference does.
func (c *client) routeCredentialsOK(o *Options, ci *routeConnectInfo) bool {
	return o.Cluster.Username == "" || c.peerCredentialsOK(o.Cluster.Username, o.Cluster.Password, ci.User, ci.Pass)
}

// peerCredentialsOK checks the user and password a route or gateway
// CONNECT gave against the configured ones (the password may be bcrypt),
// logging a refusal as the reference does.
func (c *client) peerCredentialsOK(wantUser, wantPass, user, pass string) bool {
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(wantUser)) == 1
	if okUser && comparePasswords(wantPass, pass) {
		return true
	}
	c.logAuthError(user)
	return false
}

// logAuthError logs a refused peer in the reference's words.
func (c *client) logAuthError(user string) {
	if user != "" {
		c.srv.Errorf("%s - authentication error - User %q", c.logPrefix(), user)
	} else {
		c.srv.Errorf("%s - authentication error", c.logPrefix())
	}
}
