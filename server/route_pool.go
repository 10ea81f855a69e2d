package server

import (
	"net"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// poolIndex is the pooled connection an account's traffic uses: its
// name's FNV-1a hash modulo the pool size, which is how the reference
// picks it too, so both sides of a mixed pair agree.
func (cs *clusterState) poolIndex(name string) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int(h % uint32(cs.poolSize))
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// carries reports whether route connection rt is the one for account
// name: its pinned connection, or the pooled connection of its index.
func (cs *clusterState) carries(rt *routeConn, name string) bool {
	if cs.pinned[name] {
		return rt.account == name
	}
	return rt.account == "" && rt.poolIdx == cs.poolIndex(name)
}

// accountConns appends to buf the connection that carries account name to
// each remote server. Lock held.
func (cs *clusterState) accountConns(name string, buf []*client) []*client {
	pinned := cs.pinned[name]
	idx := 0
	if !pinned {
		idx = cs.poolIndex(name)
	}
	for _, r := range cs.remotes {
		var c *client
		if pinned {
			c = r.pinned[name]
		} else if idx < len(r.pool) {
			c = r.pool[idx]
		}
		if c != nil {
			buf = append(buf, c)
		}
	}
	return buf
}

// register makes a route connection that finished its handshake the one
// for its slot (pool index or pinned account) of its remote server. When
// both servers solicited the same slot at once, both keep the connection
// solicited by the server with the smaller ID, so they agree without
// talking. The new connection then gets our interest for its accounts; a
// new server is told to our clients and gossiped to the other servers.
func (cs *clusterState) register(c *client) {
	s := cs.s
	rt := c.route
	cs.mu.Lock()
	if cs.stopped {
		cs.mu.Unlock()
		c.closeConnection(ServerShutdown)
		return
	}
	r := cs.remotes[rt.remoteID]
	isNew := r == nil
	if isNew {
		r = &routeRemote{id: rt.remoteID, pool: make([]*client, cs.poolSize), pinned: make(map[string]*client), start: time.Now()}
		cs.remotes[rt.remoteID] = r
	}
	r.name, r.info, r.ldm = rt.remote.Name, rt.remote, rt.remote.LameDuckMode
	r.clientURLs = rt.remote.ConnectURLs
	r.routeURL = routeURLOf(&rt.remote)
	if rt.poolIdx < 0 || rt.poolIdx >= len(r.pool) {
		if isNew {
			delete(cs.remotes, rt.remoteID)
		}
		cs.mu.Unlock()
		rt.noReconnect.Store(true)
		c.closeConnection(ProtocolViolation)
		return
	}
	old, keep := cs.claimSlot(r, c)
	if !keep {
		cs.mu.Unlock()
		rt.noReconnect.Store(true)
		s.Debugf("%s - Duplicate route to %q, closing", c.logPrefix(), rt.remoteID)
		c.closeConnection(DuplicateRoute)
		return
	}
	rt.registered.Store(true)
	if rt.url != nil {
		cs.satisfied[rt.url.Host] = rt.remoteID
	}
	if u, err := url.Parse(r.routeURL); err == nil && u.Host != "" {
		cs.satisfied[u.Host] = rt.remoteID
	}
	cs.mu.Unlock()
	if old != nil {
		old.route.noReconnect.Store(true)
		old.closeConnection(DuplicateRoute)
	}
	if rt.account != "" {
		s.Debugf("%s - Registering remote route %q for account %q", c.logPrefix(), rt.remoteID, rt.account)
	} else {
		s.Debugf("%s - Registering remote route %q", c.logPrefix(), rt.remoteID)
	}
	cs.sendInterestSnapshot(c)
	if isNew {
		s.updateClientConnectURLs()
		cs.gossipNewRemote(c)
	}
	if rt.solicited && rt.poolIdx == 0 && rt.account == "" {
		cs.solicitRest(r, rt.url)
	}
}

// claimSlot puts c into its slot of r, or decides it is the duplicate.
// It returns the connection c replaced, and whether c is kept. Lock held.
func (cs *clusterState) claimSlot(r *routeRemote, c *client) (*client, bool) {
	rt := c.route
	var cur *client
	if rt.account != "" {
		cur = r.pinned[rt.account]
	} else {
		cur = r.pool[rt.poolIdx]
	}
	if cur != nil && cur != c && !cs.keepNew(cur, c) {
		return nil, false
	}
	if rt.account != "" {
		r.pinned[rt.account] = c
	} else {
		r.pool[rt.poolIdx] = c
	}
	if cur == c {
		cur = nil
	}
	return cur, true
}

// keepNew decides between two connections for one slot: the one solicited
// by the smaller server ID wins; between two from the same side, the newer.
func (cs *clusterState) keepNew(cur, next *client) bool {
	solicitor := func(c *client) string {
		if c.route.solicited {
			return cs.s.info.ID
		}
		return c.route.remoteID
	}
	a, b := solicitor(cur), solicitor(next)
	if a == b {
		return true
	}
	return b < a
}

// solicitRest opens the other pooled connections and the pinned accounts'
// connections to a server whose first connection we solicited.
func (cs *clusterState) solicitRest(r *routeRemote, u *url.URL) {
	cs.mu.Lock()
	var idxs []int
	for i := 1; i < len(r.pool); i++ {
		if r.pool[i] == nil {
			idxs = append(idxs, i)
		}
	}
	var accs []string
	for a := range cs.pinned {
		if r.pinned[a] == nil {
			accs = append(accs, a)
		}
	}
	cs.mu.Unlock()
	sort.Strings(accs)
	for _, a := range accs {
		cs.solicit(u, 0, a, false, 0)
	}
	for _, i := range idxs {
		cs.solicit(u, i, "", false, 0)
	}
}

// routeURLOf is the URL to solicit a server at, from its INFO.
func routeURLOf(info *routeInfo) string {
	if info.IP != "" {
		return info.IP
	}
	if info.Port == 0 {
		return ""
	}
	return "nats-route://" + joinHostPort(info.Host, info.Port) + "/"
}

// removeRoute finishes closing a route connection: its remote interest
// leaves the accounts, its slot is freed, and a server with no connection
// left is forgotten (and solicited again if it is a configured route).
func (s *Server) removeRoute(c *client) {
	cs := s.cluster.Load()
	rt := c.route
	c.mu.Lock()
	subs := rt.subs
	rt.subs = nil
	reason := c.reason
	c.mu.Unlock()
	byAcc := make(map[*Account][]*subscription)
	for _, rs := range subs {
		rs.sub.closed.Store(true)
		byAcc[rs.acc] = append(byAcc[rs.acc], rs.sub)
	}
	for acc, list := range byAcc {
		s.removeSubsInterest(acc, list)
	}
	if cs == nil {
		return
	}
	cs.mu.Lock()
	delete(cs.conns, c.cid)
	var gone *routeRemote
	if r := cs.remotes[rt.remoteID]; r != nil && rt.registered.Load() {
		if rt.account != "" && r.pinned[rt.account] == c {
			delete(r.pinned, rt.account)
		} else if rt.account == "" && r.pool[rt.poolIdx] == c {
			r.pool[rt.poolIdx] = nil
		}
		if r.numConns() == 0 {
			delete(cs.remotes, rt.remoteID)
			gone = r
		}
	}
	stopped := cs.stopped
	cs.mu.Unlock()
	s.Noticef("%s - Router connection closed: %s", c.logPrefix(), reason)
	if stopped {
		return
	}
	if gone != nil {
		s.forgetRemoteConns(gone.id)
		s.updateClientConnectURLs()
		cs.resolicitConfigured(gone.id, rt.url)
	}
	cs.reconnect(c)
}

// reconnect solicits a closed route connection again when it should be:
// configured routes always, the other connections of a server while it
// is still there, implicit routes connect_retries times.
func (cs *clusterState) reconnect(c *client) {
	rt := c.route
	if !rt.solicited || rt.noReconnect.Load() || rt.url == nil {
		return
	}
	switch {
	case rt.explicit:
		cs.solicit(rt.url, rt.poolIdx, rt.account, true, 1)
	case rt.poolIdx != 0 || rt.account != "":
		if cs.remoteAt(rt.url) {
			cs.solicit(rt.url, rt.poolIdx, rt.account, false, 1)
		}
	case rt.attempt < cs.s.getOpts().Cluster.ConnectRetries:
		cs.solicit(rt.url, 0, "", false, rt.attempt+1)
	}
}

// resolicitConfigured solicits again the configured routes that led to a
// server now gone, except skip, which reconnects on its own.
func (cs *clusterState) resolicitConfigured(id string, skip *url.URL) {
	cs.mu.Lock()
	var hosts []string
	for h, sid := range cs.satisfied {
		if sid == id {
			hosts = append(hosts, h)
			delete(cs.satisfied, h)
		}
	}
	cs.mu.Unlock()
	for _, u := range cs.s.getOpts().Routes {
		if skip != nil && u.Host == skip.Host {
			continue
		}
		for _, h := range hosts {
			if u.Host == h {
				cs.solicit(u, 0, "", true, 1)
			}
		}
	}
}
