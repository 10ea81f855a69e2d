package server

import (
	"encoding/json"
	"sort"
	"sync"
)

// Account connection limits across a cluster, as the reference counts them
// (observed on v2.15.2). Every server publishes its count of an account's
// connections whenever it changes, on $SYS.ACCOUNT.<acc>.SERVER.CONNS (the
// account_connections advisory of events.go, whose "conns" are clients and
// "leafnodes" leaf connections), and keeps the last count each other server
// published (jwtState.remote). The JWT's limits then hold for the whole
// cluster:
//
//   - a client is refused when the account's local clients and leaf
//     connections with the other servers' clients reach limits.conn;
//   - a leaf node is refused when the local leaf connections with the other
//     servers' leaf connections reach limits.leaf (limits.conn is not
//     checked for it);
//   - when another server's count takes the account over a limit, the
//     newest local connections over it are closed, with the error a refused
//     one gets. Both sides of a crossing count may close some, as with the
//     reference.
//
// A server whose account gets its first local connection asks the others
// for their counts ($SYS.REQ.ACCOUNT.<acc>.CONNS, answered on
// $SYS._INBOX_.<server id>). Only counts of servers it has routes to are
// kept, and a server's are forgotten when its last route closes.

const (
	accConnsEventAll = "$SYS.ACCOUNT.*.SERVER.CONNS"
	accConnsReqSubj  = "$SYS.REQ.ACCOUNT.%s.CONNS"
	sysInboxSubj     = "$SYS._INBOX_.%s"
)

// errMaxAccountConns is what a connection refused or closed for its
// account's connection or leaf node limit is told.
const errMaxAccountConns = "maximum account active connections exceeded"

// remoteConns is the last count of each account's connections each other
// server published: by account name, then server ID. Kept for accounts
// this server has not loaded yet, so that their first connection here is
// checked against them. Its lock is a leaf.
type remoteConns struct {
	mu    sync.Mutex
	byAcc map[string]map[string]remoteCount
}

type remoteCount struct{ conns, leafs int }

// set records a server's count of an account's connections; a server with
// none is dropped.
func (r *remoteConns) set(acc, id string, conns, leafs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	servers := r.byAcc[acc]
	if conns <= 0 && leafs <= 0 {
		delete(servers, id)
		if len(servers) == 0 {
			delete(r.byAcc, acc)
		}
		return
	}
	if servers == nil {
		if r.byAcc == nil {
			r.byAcc = make(map[string]map[string]remoteCount)
		}
		servers = make(map[string]remoteCount)
		r.byAcc[acc] = servers
	}
	servers[id] = remoteCount{conns, leafs}
}

// forget drops a server that is gone.
func (r *remoteConns) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for acc, servers := range r.byAcc {
		delete(servers, id)
		if len(servers) == 0 {
			delete(r.byAcc, acc)
		}
	}
}

// totals sums the other servers' clients and leaf connections of acc.
func (r *remoteConns) totals(acc string) (conns, leafs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.byAcc[acc] {
		conns += n.conns
		leafs += n.leafs
	}
	return conns, leafs
}

// remoteTotals is the other servers' clients and leaf connections of acc.
func (s *Server) remoteTotals(acc *Account) (conns, leafs int) {
	if s.jwt == nil {
		return 0, 0
	}
	return s.jwt.remote.totals(acc.Name)
}

// clientLimitReached reports whether a new client would take acc over max
// connections (0: no limit): its local clients and leaf connections with
// the other servers' clients.
func (s *Server) clientLimitReached(acc *Account, max int64) bool {
	if max <= 0 {
		return false
	}
	rc, _ := s.remoteTotals(acc)
	return int64(acc.NumConnections()+acc.leafed.count()+rc) >= max
}

// leafLimitReached is clientLimitReached for a new leaf connection and
// the account's leaf node limit: local and remote leaf connections.
func (s *Server) leafLimitReached(acc *Account, max int64) bool {
	if max <= 0 {
		return false
	}
	_, rl := s.remoteTotals(acc)
	return int64(acc.leafed.count()+rl) >= max
}

// subscribeRemoteConns listens to the other servers' counts: their
// advisories and their answers to our requests. Operator mode only: other
// accounts have no connection limits.
func (s *Server) subscribeRemoteConns() {
	if s.sys == nil || s.jwt == nil {
		return
	}
	for _, subj := range []string{accConnsEventAll, subjf(sysInboxSubj, s.info.ID)} {
		if _, err := s.SubscribeInternal(s.sys.acc, subj, "", s.remoteConnsUpdate); err != nil {
			s.Errorf("Error subscribing to %s: %v", subj, err)
		}
	}
}

// remoteConnsUpdate records another server's count of an account's
// connections and closes local ones the account no longer has room for.
// Only servers routed to count: a count that arrives after the route
// closed, or from another cluster through a gateway, would never be
// forgotten.
func (s *Server) remoteConnsUpdate(_, _ string, _, msg []byte) {
	acc, id, conns, leafs, ok := decodeRemoteConns(msg)
	if !ok || id == s.info.ID || !s.routedTo(id) {
		return
	}
	s.jwt.remote.set(acc, id, conns, leafs)
	if a, ok := s.LookupAccount(acc); ok && a != s.SystemAccount() {
		s.enforceClusterLimits(a)
	}
}

// decodeRemoteConns reads an account_connections advisory (or an answer
// to the CONNS request, the same JSON): the account, the server and its
// counts, negative ones taken as none and huge ones capped, so that sums
// cannot wrap.
func decodeRemoteConns(msg []byte) (acc, id string, conns, leafs int, ok bool) {
	var ev AccountNumConns
	if err := json.Unmarshal(msg, &ev); err != nil || ev.Server.ID == "" || ev.Account == "" {
		return "", "", 0, 0, false
	}
	return ev.Account, ev.Server.ID, min(max(ev.Conns, 0), maxRemoteCount), min(max(ev.LeafNodes, 0), maxRemoteCount), true
}

// maxRemoteCount caps one server's count: far above any real one.
const maxRemoteCount = 1 << 24

// routedTo reports whether this server has a route to server id.
func (s *Server) routedTo(id string) bool {
	cs := s.cluster.Load()
	if cs == nil {
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.remotes[id] != nil
}

// enforceClusterLimits closes the newest local connections over the
// account's JWT limits, the other servers' counts included.
func (s *Server) enforceClusterLimits(acc *Account) {
	st := acc.jwtClaims.Load()
	if st == nil {
		return
	}
	rc, rl := s.remoteTotals(acc)
	if max := jwtLimit(st.claims.Limits.Conn); max > 0 {
		local := openConns(acc.connList())
		s.closeNewest(local, len(local)+rc-int(max))
	}
	if max := jwtLimit(st.claims.Limits.LeafNodeConn); max > 0 {
		local := openConns(acc.leafed.list())
		s.closeNewest(local, len(local)+rl-int(max))
	}
}

// openConns keeps the connections not already closing: one closed by an
// earlier update is still listed until its removal, and must not be
// counted again.
func openConns(list []*client) []*client {
	out := list[:0]
	for _, c := range list {
		if !c.isClosed() {
			out = append(out, c)
		}
	}
	return out
}

// closeNewest closes the n most recent connections of list, the reference's
// choice when an account is over its limit.
func (s *Server) closeNewest(list []*client, n int) {
	if n <= 0 {
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i].cid > list[j].cid })
	for _, c := range list[:min(n, len(list))] {
		s.Errorf("%s - %s", c.logPrefix(), errMaxAccountConns)
		c.closeWithErr(errMaxAccountConns, MaxAccountConnectionsExceeded)
	}
}

// accConnsRequest asks the other servers for their count of an account's
// connections, as the reference's request reads.
type accConnsRequest struct {
	Server  ServerInfo `json:"server"`
	Account string     `json:"acc"`
}

// askRemoteConns asks the other servers for their counts when a limited
// account gets its first local connection: counts published before this
// server had it are not repeated.
func (s *Server) askRemoteConns(acc *Account) {
	if s.sys == nil || s.jwt == nil || acc == nil || acc == s.sys.acc {
		return
	}
	st := acc.jwtClaims.Load()
	if st == nil || (jwtLimit(st.claims.Limits.Conn) == 0 && jwtLimit(st.claims.Limits.LeafNodeConn) == 0) {
		return
	}
	if acc.NumConnections()+acc.leafed.count() != 1 {
		return
	}
	subj := subjf(accConnsReqSubj, acc.Name)
	if !s.hasInterest(subj) {
		return
	}
	b, err := json.Marshal(&accConnsRequest{Server: s.serverInfo(), Account: acc.Name})
	if err != nil {
		return
	}
	s.PublishInternal(s.sys.acc, subj, subjf(sysInboxSubj, s.info.ID), nil, b)
}

// forgetRemoteConns drops the counts of a server no longer routed to.
func (s *Server) forgetRemoteConns(id string) {
	if s.jwt != nil {
		s.jwt.remote.forget(id)
	}
}
