package server

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

// What a reload may change in the cluster block, as the reference allows:
// the routes (new ones are solicited, removed ones closed), the route
// credentials (routes that no longer present them are closed), the
// advertising and retry settings, and compression and permissions (every
// route is then made again, negotiating the new mode and sending the
// interest the new permissions allow). Anything else (the listener, the
// name, TLS, the pool, pinned accounts) needs a restart.
var clusterReloadable = map[string]bool{
	"Username": true, "Password": true, "AuthTimeout": true, "NoAdvertise": true,
	"Advertise": true, "ConnectRetries": true, "ConnectBackoff": true,
	"Compression": true, "Permissions": true,
}

// checkReloadCluster refuses a cluster change that cannot apply live.
func checkReloadCluster(cur, next *Options) error {
	if cur.clusterEnabled() != next.clusterEnabled() {
		return fmt.Errorf("config reload not supported for cluster: old=%v, new=%v", cur.clusterEnabled(), next.clusterEnabled())
	}
	cv, nv := reflect.ValueOf(cur.Cluster), reflect.ValueOf(next.Cluster)
	t := cv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if clusterReloadable[f.Name] || reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			continue
		}
		return fmt.Errorf("config reload not supported for cluster %s", strings.ToLower(f.Name))
	}
	return nil
}

// reloadCluster applies a changed cluster block or route list.
func (s *Server) reloadCluster(cur, next *Options) {
	cs := s.cluster.Load()
	if cs == nil {
		return
	}
	if cur.Cluster.Username != next.Cluster.Username || cur.Cluster.Password != next.Cluster.Password {
		// Accepted routes were checked against the old credentials: make
		// them connect again (configured routes come back at once).
		cs.closeRoutes(func(rt *routeConn) bool { return !rt.solicited }, RouteRemoved)
	}
	kept := make(map[string]bool, len(next.Routes))
	for _, u := range next.Routes {
		kept[u.Host] = true
	}
	// Every connection we solicited to a server a removed route led to.
	removed := make(map[string]bool)
	cs.mu.Lock()
	for _, u := range cur.Routes {
		if id, ok := cs.satisfied[u.Host]; ok && !kept[u.Host] {
			removed[id] = true
		}
	}
	cs.mu.Unlock()
	cs.closeRoutes(func(rt *routeConn) bool {
		return rt.solicited && (removed[rt.remoteID] || (rt.explicit && rt.url != nil && !kept[rt.url.Host]))
	}, RouteRemoved)
	had := make(map[string]bool, len(cur.Routes))
	for _, u := range cur.Routes {
		had[u.Host] = true
	}
	for _, u := range next.Routes {
		if !had[u.Host] {
			cs.solicit(u, 0, "", true, 0)
		}
	}
	if cur.Cluster.NoAdvertise != next.Cluster.NoAdvertise {
		s.updateClientConnectURLs()
	}
	compression := !reflect.DeepEqual(cur.Cluster.Compression, next.Cluster.Compression)
	perms := !reflect.DeepEqual(cur.Cluster.Permissions, next.Cluster.Permissions)
	if perms {
		cs.perms.Store(compileRoutePerms(next.Cluster.Permissions))
	}
	if compression || perms {
		cs.remakeRoutes()
	}
}

// remakeRoutes closes every route connection and solicits each one again
// at once (an accepted one at the address its server advertised), so that
// compression is negotiated again and interest told again.
func (cs *clusterState) remakeRoutes() {
	type redial struct {
		u        *url.URL
		idx      int
		acc      string
		explicit bool
	}
	cs.mu.Lock()
	var list []*client
	for _, c := range cs.conns {
		list = append(list, c)
	}
	cs.mu.Unlock()
	var again []redial
	for _, c := range list {
		rt := c.route
		u := rt.url
		if u == nil {
			u, _ = url.Parse(routeURLOf(&rt.remote))
		}
		if u != nil && u.Host != "" {
			again = append(again, redial{u, rt.poolIdx, rt.account, rt.explicit})
		}
		rt.noReconnect.Store(true)
		c.closeConnection(RouteRemoved)
	}
	for _, r := range again {
		cs.solicit(r.u, r.idx, r.acc, r.explicit, 1) // after a retry delay: the closed ones are gone by then
	}
}

// closeRoutes closes, without reconnecting, the route connections (and
// those of the same servers solicited with them) that match.
func (cs *clusterState) closeRoutes(match func(*routeConn) bool, reason ClosedState) {
	cs.mu.Lock()
	var list []*client
	for _, c := range cs.conns {
		if match(c.route) {
			list = append(list, c)
		}
	}
	cs.mu.Unlock()
	for _, c := range list {
		c.route.noReconnect.Store(true)
		if c.route.url != nil {
			cs.forget(c.route.url)
		}
		c.closeConnection(reason)
	}
}

// forget drops what a route URL led to, so that it is not solicited again.
func (cs *clusterState) forget(u *url.URL) {
	cs.mu.Lock()
	delete(cs.satisfied, u.Host)
	cs.mu.Unlock()
}
