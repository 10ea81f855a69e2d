package server

import (
	"net"
	"net/url"
	"sort"
	"strconv"
)

// Gossip: when a server joins through one of our connections, the other
// servers we have routes to are sent an INFO describing it (its ID and
// route URL, gossip_mode 2: not to be passed on) and solicit it. A seed is
// thus enough for every server to reach every other one.

// gossipNewRemote tells the other servers about the one c leads to: on
// each server's first pooled connection, and on each pinned connection
// with its account named (which is how the reference learns to open the
// pinned connection too).
func (cs *clusterState) gossipNewRemote(c *client) {
	info := c.route.remote
	info.Nonce = ""
	info.RoutePoolIdx, info.RouteAccount = 0, ""
	info.IP = routeURLOf(&c.route.remote)
	if info.IP == "" {
		return
	}
	info.GossipMode = gossipOnce
	type target struct {
		rc  *client
		acc string
	}
	cs.mu.Lock()
	var targets []target
	for id, r := range cs.remotes {
		if id == c.route.remoteID {
			continue
		}
		if rc := r.pool[0]; rc != nil {
			targets = append(targets, target{rc, ""})
		}
		for acc, rc := range r.pinned {
			targets = append(targets, target{rc, acc})
		}
	}
	cs.mu.Unlock()
	for _, t := range targets {
		info.RouteAccount = t.acc
		t.rc.sendFromOther(infoProto(&info))
	}
}

// gossipReceived solicits a server another one told us about, unless we
// know it already or it is us.
func (cs *clusterState) gossipReceived(info *routeInfo) {
	if info.ID == cs.s.info.ID || info.IP == "" || info.RouteAccount != "" {
		return // pinned connections follow the first one (solicitRest)
	}
	cs.mu.Lock()
	_, known := cs.remotes[info.ID]
	cs.mu.Unlock()
	if known {
		return
	}
	u, err := url.Parse(info.IP)
	if err != nil || u.Host == "" {
		return
	}
	cs.s.Debugf("Connecting to implicit route %s", u.Host)
	cs.solicit(u, 0, "", false, 0)
}

// remoteUpdated takes a later INFO of a server we have routes to: its
// client URLs or lame duck mode changed.
func (cs *clusterState) remoteUpdated(c *client, info *routeInfo) {
	cs.mu.Lock()
	r := cs.remotes[c.route.remoteID]
	changed := false
	if r != nil {
		changed = r.ldm != info.LameDuckMode || !equalStrings(r.clientURLs, info.ConnectURLs)
		r.ldm = info.LameDuckMode
		r.clientURLs = info.ConnectURLs
	}
	cs.mu.Unlock()
	if changed {
		cs.s.updateClientConnectURLs()
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ownClientURLs are the host:port clients may reach this server at, as
// other servers will advertise them: client_advertise if set, else the
// client listener, with every interface's address for an unspecified host.
func (s *Server) ownClientURLs() []string {
	s.mu.Lock()
	host, port := s.info.Host, s.info.Port
	s.mu.Unlock()
	if port == 0 {
		return nil
	}
	if s.getOpts().ClientAdvertise == "" && (host == "" || host == "0.0.0.0" || host == "::") {
		var out []string
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
					out = append(out, net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port)))
				}
			}
		}
		if len(out) == 0 {
			out = append(out, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
		return out
	}
	return []string{net.JoinHostPort(host, strconv.Itoa(port))}
}

// updateClientConnectURLs recomputes the connect_urls clients are told
// (ours and every other server's, minus servers in lame duck mode) and
// sends the new INFO to connected clients if it changed.
func (s *Server) updateClientConnectURLs() {
	cs := s.cluster.Load()
	if cs == nil || s.getOpts().Cluster.NoAdvertise {
		return
	}
	own := s.ownClientURLs()
	urls := append([]string(nil), own...)
	seen := make(map[string]bool, len(urls))
	for _, u := range urls {
		seen[u] = true
	}
	cs.mu.Lock()
	for _, r := range cs.remotes {
		if r.ldm {
			continue
		}
		for _, u := range r.clientURLs {
			if !seen[u] {
				seen[u] = true
				urls = append(urls, u)
			}
		}
	}
	cs.mu.Unlock()
	sort.Strings(urls[len(own):])
	s.mu.Lock()
	same := equalStrings(s.info.ConnectURLs, urls)
	if !same {
		s.info.ConnectURLs = urls
	}
	s.mu.Unlock()
	if !same && s.Running() && !s.ldm.Load() {
		s.sendAsyncInfo(s.clientList(), s.asyncInfo(false), false)
	}
}

// sendRouteLameDuck tells the other servers that we are in lame duck mode,
// so that they stop advertising us to their clients.
func (s *Server) sendRouteLameDuck() {
	cs := s.cluster.Load()
	if cs == nil {
		return
	}
	info := cs.routeInfo(-1, "")
	info.LameDuckMode = true
	proto := infoProto(&info)
	cs.mu.Lock()
	var targets []*client
	for _, r := range cs.remotes {
		if rc := r.pool[0]; rc != nil {
			targets = append(targets, rc)
		}
	}
	cs.mu.Unlock()
	for _, rc := range targets {
		rc.sendFromOther(proto)
	}
}

// sendFromOther queues protocol bytes from a goroutine that is not the
// connection's reader, and wakes its writer.
func (c *client) sendFromOther(b []byte) {
	c.mu.Lock()
	c.queueOutbound(b)
	c.mu.Unlock()
	c.signalFlush()
}
