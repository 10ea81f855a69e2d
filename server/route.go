package server

// Routes: the connections between the servers of one cluster. Each pair of
// servers is joined by a pool of connections (pool_size, 3 by default) plus
// one per pinned account (the system account always, as the reference
// does); an account's interest and messages travel on one of them, chosen
// by hashing its name (route_pool.go), so one busy account does not queue
// behind another. The server that solicited the first connection of a pair
// opens the rest. Interest (RS+/RS-) is told one hop: a server forwards its
// own connections' interest, never what it learnt from a route, and a
// message that came from a route is delivered locally only.
//
// Locks: clusterState.mu guards the remotes and the connection set; it is
// taken after an account's routedInterest.mu and before any client.mu, and
// is never held across I/O (see README.md's lock order).

import (
	"crypto/tls"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// clusterState is the server's side of the cluster.
type clusterState struct {
	s        *Server
	poolSize int
	pinned   map[string]bool // accounts with a connection of their own
	sysAcc   string

	// peerListener.mu also guards the fields below.
	peerListener
	name    string // the cluster's name; dynamic until learnt when not configured
	dynamic bool
	remotes map[string]*routeRemote // by server id
	// satisfied maps a configured route URL to the server found there, so
	// that it is solicited again once that server's connections are gone.
	satisfied map[string]string
	tls       *tls.Config // the cluster's tls block, nil without (route_tls.go)
	// perms are the route permissions (route_auth.go), swapped by reloads.
	perms atomic.Pointer[routePerms]
	// noPool is pool_size -1: one connection per pair for every account,
	// none pinned, no route_pool_size in INFO (as the reference).
	noPool bool
}

// routeRemote is one other server of the cluster and its connections.
type routeRemote struct {
	id, name   string
	pool       []*client
	pinned     map[string]*client
	clientURLs []string // what its clients may connect to (connect_urls)
	routeURL   string   // nats-route://host:port/ of its route listener
	ldm        bool
	info       routeInfo // its latest INFO
	start      time.Time
}

// routeConn is the route-specific state of a ROUTER connection.
type routeConn struct {
	// Set before the connection's goroutines start.
	solicited bool
	url       *url.URL // the URL solicited, nil when accepted
	explicit  bool     // a configured route: retried for ever
	attempt   int      // connect attempts so far (implicit routes give up)
	tlsConn   *tls.Conn

	// Owned by the reading goroutine until registered, then read-only.
	poolIdx  int
	account  string // route_account: the account pinned to it, "" if pooled
	remoteID string
	remote   routeInfo // the remote's INFO
	infoSent bool
	// awaitInfo: an accepted route switched to compression and waits for
	// the solicitor's INFO again, compressed, to register.
	awaitInfo bool

	// Written by the reading goroutine under client.mu; closing takes it.
	subs map[string]remoteSub // remote interest, "acc subject[ queue]"

	// Owned by the reading goroutine.
	lastName []byte // account name of the last RMSG
	perms    bool   // route permissions were configured when it was made

	registered  atomic.Bool
	noReconnect atomic.Bool // closed as a duplicate or a route to self
}

// remoteSub is an interest a route told us about, in its account.
type remoteSub struct {
	sub *subscription
	acc *Account
}

// routeInfo is the INFO exchanged on routes, with the reference's fields.
type routeInfo struct {
	ID            string   `json:"server_id"`
	Name          string   `json:"server_name"`
	Version       string   `json:"version"`
	Proto         int      `json:"proto"`
	GoVersion     string   `json:"go"`
	Host          string   `json:"host"`
	Port          int      `json:"port"`
	Headers       bool     `json:"headers"`
	AuthRequired  bool     `json:"auth_required,omitempty"`
	TLSRequired   bool     `json:"tls_required,omitempty"`
	MaxPayload    int32    `json:"max_payload"`
	JetStream     bool     `json:"jetstream,omitempty"`
	IP            string   `json:"ip,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	Cluster       string   `json:"cluster,omitempty"`
	Dynamic       bool     `json:"cluster_dynamic,omitempty"`
	ConnectURLs   []string `json:"connect_urls,omitempty"`
	LameDuckMode  bool     `json:"ldm,omitempty"`
	Compression   string   `json:"compression,omitempty"`
	RoutePoolSize int      `json:"route_pool_size,omitempty"`
	RoutePoolIdx  int      `json:"route_pool_idx,omitempty"`
	RouteAccount  string   `json:"route_account,omitempty"`
	GossipMode    int      `json:"gossip_mode,omitempty"`
	// Gateways (gateway_interest.go): the server's gateway URL, and
	// gateway_cmd 1 gossip of another cluster's URLs.
	GatewayURL  string   `json:"gateway_url,omitempty"`
	Gateway     string   `json:"gateway,omitempty"`
	GatewayURLs []string `json:"gateway_urls,omitempty"`
	GatewayCmd  int      `json:"gateway_cmd,omitempty"`
	// JSRaft names the Raft protocol of a JetStream server of this
	// implementation, which leaves JetStream false in its route INFO; the
	// reference omits it. On receipt, JetStream is rewritten to mean "a
	// JetStream server of ours" and JSOther "one of another
	// implementation" (classifyJetStream, jetstream_cluster_mixed.go).
	JSRaft  string `json:"js_raft,omitempty"`
	JSOther bool   `json:"-"`
}

// routeConnectInfo is the CONNECT a soliciting server sends.
type routeConnectInfo struct {
	Echo        bool   `json:"echo"`
	Verbose     bool   `json:"verbose"`
	Pedantic    bool   `json:"pedantic"`
	User        string `json:"user,omitempty"`
	Pass        string `json:"pass,omitempty"`
	TLSRequired bool   `json:"tls_required"`
	Headers     bool   `json:"headers"`
	Name        string `json:"name"`
	Cluster     string `json:"cluster"`
	Dynamic     bool   `json:"dynamic,omitempty"`
}

// routeProtoVersion is the route protocol level the reference speaks.
const routeProtoVersion = 3

// gossipOnce marks an INFO that tells about a server to connect to and
// must not be passed on.
const gossipOnce = 2

// newClusterState prepares the cluster before accounts are set up, so that
// the interest of every subscription made from then on is counted.
func newClusterState(s *Server, o *Options) (*clusterState, error) {
	cs := &clusterState{
		s:         s,
		poolSize:  o.Cluster.PoolSize,
		pinned:    make(map[string]bool),
		remotes:   make(map[string]*routeRemote),
		satisfied: make(map[string]string),
		name:      o.Cluster.Name,
	}
	cs.initPeers()
	if cs.name == "" {
		cs.name, cs.dynamic = newNonce()+newNonce(), true
	}
	if cs.poolSize < 0 {
		cs.poolSize, cs.noPool = 1, true
	} else {
		for _, a := range o.Cluster.PinnedAccounts {
			cs.pinned[a] = true
		}
	}
	cs.perms.Store(compileRoutePerms(o.Cluster.Permissions))
	if o.Cluster.TLS != nil {
		cfg, err := GenTLSConfig(o.Cluster.TLS)
		if err != nil {
			return nil, fmtErr("cluster tls: %v", err)
		}
		cs.tls = cfg
	}
	return cs, nil
}

// pinSystemAccount gives the system account a route of its own, as the
// reference does; called once the system account exists.
func (cs *clusterState) pinSystemAccount(name string) {
	if name != "" && !cs.noPool {
		cs.pinned[name] = true
		cs.sysAcc = name
	}
}

// clusterName returns the cluster's current name.
func (cs *clusterState) clusterName() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.name
}

// startCluster opens the route listener and solicits the configured routes.
func (s *Server) startCluster() error {
	cs := s.cluster.Load()
	if cs == nil {
		return nil
	}
	o := s.getOpts()
	s.Noticef("Cluster name is %s", cs.clusterName())
	if o.Cluster.Port != 0 {
		if err := cs.listen(o.Cluster.Host, o.Cluster.Port, "router"); err != nil {
			return err
		}
		s.Noticef("Listening for route connections on %s", net.JoinHostPort(o.Cluster.Host, strconv.Itoa(cs.addr().Port)))
		cs.serve(s, "route ", cs.acceptRoute)
	}
	for _, u := range o.Routes {
		cs.solicit(u, 0, "", true, 0)
	}
	return nil
}

// stopCluster closes the listener and every route, and stops reconnects.
func (s *Server) stopCluster() {
	if cs := s.cluster.Load(); cs != nil {
		cs.stop()
	}
}

// ClusterAddr returns the route listener's address, nil without one.
func (s *Server) ClusterAddr() *net.TCPAddr {
	if cs := s.cluster.Load(); cs != nil {
		return cs.addr()
	}
	return nil
}

// NumRoutes returns the number of registered route connections.
func (s *Server) NumRoutes() int {
	cs := s.cluster.Load()
	if cs == nil {
		return 0
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, r := range cs.remotes {
		n += r.numConns()
	}
	return n
}

// NumRemotes returns how many other servers this one has routes to.
func (s *Server) NumRemotes() int {
	cs := s.cluster.Load()
	if cs == nil {
		return 0
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.remotes)
}

func (r *routeRemote) numConns() int {
	n := len(r.pinned)
	for _, c := range r.pool {
		if c != nil {
			n++
		}
	}
	return n
}

// acceptRoute takes one accepted connection: a TLS one handshakes on a
// goroutine of its own. It returns false once the cluster is stopped.
func (cs *clusterState) acceptRoute(conn net.Conn) bool {
	if cs.tls == nil {
		cs.createRoute(conn, &routeConn{})
		return true
	}
	if !cs.goPeer(func() { cs.acceptTLS(conn) }) {
		conn.Close()
		return false
	}
	return true
}

// createRoute sets up a route connection, accepted or solicited, and starts
// its goroutines. An accepted one is sent our INFO; a solicited one our
// CONNECT, then our INFO once the other side's has arrived.
func (cs *clusterState) createRoute(conn net.Conn, rt *routeConn) *client {
	s := cs.s
	o := s.getOpts()
	c := newPeerClient(s, s.gcid.Add(1), conn, ROUTER, routeProtocol{}, true)
	c.route = rt
	rt.subs = make(map[string]remoteSub)
	rt.perms = cs.perms.Load() != nil
	c.tls.conn = rt.tlsConn
	if !cs.track(c) {
		return nil
	}

	c.mu.Lock()
	if rt.solicited {
		c.queueOutbound(cs.connectProto(rt.url))
		c.connected = true
	} else {
		info := cs.routeInfo(-1, "")
		info.TLSRequired = rt.tlsConn != nil
		if o.Cluster.Username != "" {
			info.AuthRequired = true
			c.authRequired = true
		}
		c.nonce = newNonce()
		info.Nonce = c.nonce
		c.queueOutbound(infoProto(&info))
		if c.authRequired {
			c.authTimer = time.AfterFunc(secondsToDuration(o.Cluster.AuthTimeout), c.authTimeout)
		}
	}
	// The first PING comes soon, as the reference's does: its round trip
	// sets an s2_auto route's compression level.
	c.pingTimer = time.AfterFunc(min(firstRoutePing, routePingInterval(o)), c.pingTimerFired)
	c.mu.Unlock()
	// A peer that never completes the handshake (no INFO, no CONNECT)
	// does not hold a connection until pings give up on it.
	time.AfterFunc(routeHandshakeTimeout(o), func() {
		if !rt.registered.Load() {
			c.closeConnection(AuthenticationTimeout)
		}
	})
	if rt.solicited {
		s.Debugf("%s - Route connect msg sent", c.logPrefix())
	}
	s.Noticef("%s - Route connection created", c.logPrefix())
	go c.writeLoop()
	go c.readLoop()
	return c
}

// firstRoutePing is when a route sends its first PING.
const firstRoutePing = time.Second

// routeHandshakeTimeout bounds a route's handshake: the auth timeout, at
// least 2 s.
func routeHandshakeTimeout(o *Options) time.Duration {
	return max(secondsToDuration(o.Cluster.AuthTimeout), 2*time.Second) + time.Second
}

// infoProto is "INFO <json>\r\n".
func infoProto(v any) []byte {
	b, _ := json.Marshal(v)
	out := make([]byte, 0, len(b)+8)
	return append(append(append(out, "INFO "...), b...), " \r\n"...)
}

// connectProto is the CONNECT a soliciting server sends, with the
// credentials of the route's URL.
func (cs *clusterState) connectProto(u *url.URL) []byte {
	ci := routeConnectInfo{Echo: true, Headers: true, Name: cs.s.info.ID, TLSRequired: cs.tls != nil}
	cs.mu.Lock()
	ci.Cluster, ci.Dynamic = cs.name, cs.dynamic
	cs.mu.Unlock()
	if u != nil && u.User != nil {
		ci.User = u.User.Username()
		ci.Pass, _ = u.User.Password()
	}
	b, _ := json.Marshal(&ci)
	return append(append([]byte("CONNECT "), b...), "\r\n"...)
}

// routeInfo is our INFO for a route connection: idx >= 0 and acc name the
// connection a soliciting server offers (idx -1 for an accepting server).
func (cs *clusterState) routeInfo(idx int, acc string) routeInfo {
	s := cs.s
	o := s.getOpts()
	host, port := cs.advertised(o)
	info := routeInfo{
		ID:         s.info.ID,
		Name:       s.info.Name,
		Version:    VERSION,
		Proto:      routeProtoVersion,
		GoVersion:  s.info.GoVersion,
		Host:       host,
		Port:       port,
		Headers:    !o.NoHeaderSupport,
		MaxPayload: o.MaxPayload,
		// JetStream stays false: js_raft says it instead (see
		// jetstream_cluster_mixed.go).
		// The configured mode; the handshake's INFOs carry the chosen one
		// (route_compress.go).
		Compression:   o.Cluster.Compression.Mode,
		RoutePoolSize: cs.advertisedPoolSize(),
		LameDuckMode:  s.ldm.Load(),
	}
	if s.info.JetStream {
		info.JSRaft = jsRaftProtocol // the reference ignores the field
	}
	cs.mu.Lock()
	info.Cluster, info.Dynamic = cs.name, cs.dynamic
	cs.mu.Unlock()
	if port != 0 {
		info.IP = "nats-route://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
	}
	if !o.Cluster.NoAdvertise {
		info.ConnectURLs = s.ownClientURLs()
	}
	if idx > 0 {
		info.RoutePoolIdx = idx
	}
	if gs := s.gw.Load(); gs != nil {
		info.GatewayURL = gs.ownURL()
	}
	if acc != "" {
		info.RouteAccount = acc
	}
	return info
}

// advertisedPoolSize is route_pool_size in our INFO: none without pooling.
func (cs *clusterState) advertisedPoolSize() int {
	if cs.noPool {
		return 0
	}
	return cs.poolSize
}

// advertised is the host and port other servers should solicit.
func (cs *clusterState) advertised(o *Options) (string, int) {
	cs.mu.Lock()
	host, port := o.Cluster.Host, cs.port
	cs.mu.Unlock()
	if a := o.Cluster.Advertise; a != "" {
		if h, p, err := net.SplitHostPort(a); err == nil {
			n, _ := strconv.Atoi(p)
			return h, n
		}
		return a, port
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = firstLocalIP()
	}
	return host, port
}

// firstLocalIP is the address to advertise for a listener on every
// interface: the first non-loopback one, else loopback.
func firstLocalIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// solicit connects to a route in the background: now for the first attempt
// of a configured route, after a delay for retries.
func (cs *clusterState) solicit(u *url.URL, idx int, acc string, explicit bool, attempt int) {
	cs.goPeer(func() {
		if attempt > 0 && !cs.sleep(cs.retryDelay(attempt)) {
			return
		}
		cs.connectRoute(u, idx, acc, explicit, attempt)
	})
}

// retryDelay is the wait before a reconnect attempt: DEFAULT_ROUTE_CONNECT
// with jitter, doubling up to DEFAULT_ROUTE_CONNECT_MAX with
// connect_backoff, so that servers restarting together do not retry in
// lock step.
func (cs *clusterState) retryDelay(attempt int) time.Duration {
	return jitteredBackoff(DEFAULT_ROUTE_CONNECT, cs.s.getOpts().Cluster.ConnectBackoff, attempt)
}

// jitteredBackoff is the wait before reconnect attempt number attempt
// (from 1): base, or with backoff base doubled per earlier attempt up to
// DEFAULT_ROUTE_CONNECT_MAX; between half and all of it, at random.
func jitteredBackoff(base time.Duration, backoff bool, attempt int) time.Duration {
	d := base
	if backoff {
		for i := 1; i < attempt && d < DEFAULT_ROUTE_CONNECT_MAX; i++ {
			d *= 2
		}
		d = min(d, DEFAULT_ROUTE_CONNECT_MAX)
	}
	return d/2 + rand.N(d/2+1)
}

// connectRoute dials a route; a failure is retried (configured routes for
// ever, implicit ones connect_retries times).
func (cs *clusterState) connectRoute(u *url.URL, idx int, acc string, explicit bool, attempt int) {
	s := cs.s
	if cs.slotFilled(u, idx, acc) {
		return
	}
	s.Debugf("Trying to connect to route on %s (%s)", u.Host, u.Host)
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		attempt++
		if explicit || attempt <= s.getOpts().Cluster.ConnectRetries {
			s.Errorf("Error trying to connect to route (attempt %d): %v", attempt, err)
			cs.solicit(u, idx, acc, explicit, attempt)
		} else {
			s.Debugf("Error trying to connect to route: %v", err)
		}
		return
	}
	rt := &routeConn{solicited: true, url: u, explicit: explicit, attempt: attempt, poolIdx: idx, account: acc}
	if cs.tls != nil {
		tc, err := cs.dialTLS(conn, u)
		if err != nil {
			conn.Close()
			s.Errorf("Error trying to connect to route %s: TLS: %v", u.Host, err)
			if explicit {
				cs.solicit(u, idx, acc, explicit, attempt+1)
			}
			return
		}
		rt.tlsConn = tc
	}
	cs.createRoute(conn, rt)
}

// remoteAt reports whether the route URL leads to a server we have
// routes to, or to ourselves.
func (cs *clusterState) remoteAt(u *url.URL) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	id, ok := cs.satisfied[u.Host]
	if !ok {
		return false
	}
	_, ok = cs.remotes[id]
	return ok || id == cs.s.info.ID
}

// slotFilled reports whether the connection a solicit would make exists
// already (made by the other side, say), or leads to ourselves.
func (cs *clusterState) slotFilled(u *url.URL, idx int, acc string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	id, ok := cs.satisfied[u.Host]
	if !ok {
		return false
	}
	if id == cs.s.info.ID {
		return true
	}
	r := cs.remotes[id]
	if r == nil {
		return false
	}
	if acc != "" {
		return r.pinned[acc] != nil
	}
	return idx < len(r.pool) && r.pool[idx] != nil
}
