package server

// Gateways join clusters into a supercluster. Each server keeps one
// outbound connection to every other cluster (to any of its servers), on
// which it sends messages, and accepts inbound connections from the other
// clusters' servers, on which it receives messages and tells the sender
// which interest this whole cluster has (RS+/RS- per account, in
// interest-only mode: gateway_cmd 2 starts an account's list, 3 ends it).
// A message goes to a cluster at most once; the receiving server delivers
// it to its own subscribers and forwards it on its routes, never to
// another gateway (one hop). Reply subjects are prefixed with
// `_GR_.<cluster hash>.<server hash>.` so that the answer can find the
// requester's server (gateway_deliver.go).
//
// Locks: an account's gateway interest counts (routedInterest.mu, in
// gatewayState.refs) before gatewayState.mu before a gateway connection's
// client.mu or gwConn.imu (its remote interest); gatewayState.mu is never
// held across I/O.

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// gatewayState is the server's side of the supercluster.
type gatewayState struct {
	s       *Server
	name    string // our cluster's gateway name
	hash    string // gwHash(name): the cluster token of _GR_ replies
	srvHash string // gwHash(server id): the server token

	// peerListener.mu also guards the fields below.
	peerListener
	url      string               // our advertised host:port
	remotes  map[string]*gwRemote // other clusters, by gateway name
	inbound  map[uint64]*client   // registered inbound connections
	peerURLs map[string]string    // our cluster's gateway URLs by server id (routes tell)

	// outs is the registered outbound connections, replaced whole on every
	// change, so the message path reads it without a lock.
	outs atomic.Pointer[[]*client]
	// refs is, per account name, the interest told to inbound connections
	// (*routedInterest: counts per "subject[ queue]").
	refs sync.Map
	// tls is the gateway block's TLS and the gateways list's (gateway_tls.go).
	tls atomic.Pointer[gatewayTLS]
}

// gwRemote is another cluster: where to reach it and our connection to it.
type gwRemote struct {
	name       string
	implicit   bool       // learnt, not configured: retried connect_retries times
	urls       []*url.URL // configured first, then learnt from its INFO
	out        *client    // the registered outbound connection
	soliciting bool
	reached    bool // an outbound connection was registered once: failures are reconnect errors
}

// gwConn is the gateway-specific state of a GATEWAY connection.
type gwConn struct {
	// Set before the connection's goroutines start.
	outbound bool
	url      *url.URL  // the URL solicited, nil when accepted
	tlsConn  *tls.Conn // set when the connection runs over TLS

	// Owned by the reading goroutine until registered, then read-only.
	remoteName string // the other cluster's gateway name
	remoteHash string // gwHash(remoteName)
	remoteID   string
	remote     gatewayInfo
	connected  bool // inbound: its CONNECT was accepted
	// noReconnect: the URL led to ourselves or to the wrong cluster.
	noReconnect bool

	registered atomic.Bool

	// imu guards accs (outbound: the remote's interest per account) and
	// told (inbound: accounts sent in interest-only mode, and A- sent).
	imu  sync.RWMutex
	accs map[string]*gwAccInterest
	told map[string]bool // true: interest-only list sent; false: A- sent

	// Owned by the reading goroutine (inbound): the last RMSG's account.
	lastName []byte
}

// gatewayInfo is the INFO exchanged on gateways, with the reference's
// fields and order. gateway_cmd 1 gossips a cluster's URLs (on routes),
// 2 and 3 start and end an account's interest-only list
// (gateway_cmd_payload is the account's name, base64 as JSON bytes).
type gatewayInfo struct {
	ID           string   `json:"server_id"`
	Name         string   `json:"server_name"`
	Version      string   `json:"version"`
	Proto        int      `json:"proto"`
	GoVersion    string   `json:"go"`
	Host         string   `json:"host"`
	Port         int      `json:"port"`
	Headers      bool     `json:"headers"`
	AuthRequired bool     `json:"auth_required,omitempty"`
	TLSRequired  bool     `json:"tls_required,omitempty"`
	TLSVerify    bool     `json:"tls_verify,omitempty"`
	MaxPayload   int32    `json:"max_payload"`
	Gateway      string   `json:"gateway,omitempty"`
	GatewayURLs  []string `json:"gateway_urls,omitempty"`
	GatewayURL   string   `json:"gateway_url,omitempty"`
	Cmd          int      `json:"gateway_cmd,omitempty"`
	CmdPayload   []byte   `json:"gateway_cmd_payload,omitempty"`
	NRP          bool     `json:"gateway_nrp,omitempty"`
	IOM          bool     `json:"gateway_iom,omitempty"`
}

// gatewayConnectInfo is the CONNECT a soliciting server sends.
type gatewayConnectInfo struct {
	Echo        bool   `json:"echo"`
	Verbose     bool   `json:"verbose"`
	Pedantic    bool   `json:"pedantic"`
	User        string `json:"user,omitempty"`
	Pass        string `json:"pass,omitempty"`
	TLSRequired bool   `json:"tls_required"`
	Headers     bool   `json:"headers"`
	Name        string `json:"name"`
	Cluster     string `json:"cluster"`
	Gateway     string `json:"gateway"`
}

// gateway_cmd values, as the reference's.
const (
	gwCmdGossip          = 1
	gwCmdAllSubsStart    = 2
	gwCmdAllSubsComplete = 3
)

const gwHashDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// gwHash is the reference's 6-character token for a name in _GR_ replies:
// the first six bytes of its SHA-256, each modulo 62 as a digit or letter.
func gwHash(name string) string {
	h := sha256.Sum256([]byte(name))
	var b [6]byte
	for i := range b {
		b[i] = gwHashDigits[int(h[i]%62)]
	}
	return string(b[:])
}

// newGatewayState prepares the gateways before accounts are set up, so that
// the interest of every subscription made from then on is counted.
func newGatewayState(s *Server, o *Options) *gatewayState {
	gs := &gatewayState{
		s:        s,
		name:     o.Gateway.Name,
		hash:     gwHash(o.Gateway.Name),
		srvHash:  gwHash(s.info.ID),
		remotes:  make(map[string]*gwRemote),
		inbound:  make(map[uint64]*client),
		peerURLs: make(map[string]string),
	}
	gs.initPeers()
	for _, rg := range o.Gateway.Gateways {
		if rg.Name == gs.name {
			continue // our own cluster may be listed, as with the reference
		}
		gs.remotes[rg.Name] = &gwRemote{name: rg.Name, urls: slices.Clone(rg.URLs)}
	}
	return gs
}

// startGateways opens the gateway listener and solicits the configured
// gateways.
func (s *Server) startGateways() error {
	gs := s.gw.Load()
	if gs == nil {
		return nil
	}
	o := s.getOpts()
	s.Noticef("Gateway name is %s", gs.name)
	if err := gs.listen(o.Gateway.Host, o.Gateway.Port, "gateway"); err != nil {
		return err
	}
	gs.mu.Lock()
	gs.url = gs.advertisedLocked(o)
	gs.peerURLs[s.info.ID] = gs.url
	remotes := make([]*gwRemote, 0, len(gs.remotes))
	for _, r := range gs.remotes {
		remotes = append(remotes, r)
	}
	gs.mu.Unlock()
	s.Noticef("Listening for gateways connections on %s", net.JoinHostPort(o.Gateway.Host, strconv.Itoa(gs.port)))
	s.Noticef("Address for gateway %q is %s", gs.name, gs.url)
	gs.serve(s, "gateway ", func(conn net.Conn) bool {
		return gs.accept(conn) || !gs.isStopped()
	})
	for _, r := range remotes {
		gs.solicit(r, 0)
	}
	return nil
}

// advertisedLocked is the host:port other clusters should solicit.
func (gs *gatewayState) advertisedLocked(o *Options) string {
	if a := o.Gateway.Advertise; a != "" {
		return a
	}
	host := o.Gateway.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = firstLocalIP()
	}
	return net.JoinHostPort(host, strconv.Itoa(gs.port))
}

// stopGateways closes the listener and every gateway connection.
func (s *Server) stopGateways() {
	if gs := s.gw.Load(); gs != nil {
		gs.stop()
	}
}

// GatewayAddr returns the gateway listener's address, nil without one.
func (s *Server) GatewayAddr() *net.TCPAddr {
	if gs := s.gw.Load(); gs != nil {
		return gs.addr()
	}
	return nil
}

// NumOutboundGateways returns how many clusters this server sends to.
func (s *Server) NumOutboundGateways() int {
	gs := s.gw.Load()
	if gs == nil {
		return 0
	}
	if outs := gs.outs.Load(); outs != nil {
		return len(*outs)
	}
	return 0
}

// NumInboundGateways returns the number of registered inbound gateway
// connections.
func (s *Server) NumInboundGateways() int {
	gs := s.gw.Load()
	if gs == nil {
		return 0
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return len(gs.inbound)
}

// createGateway sets up a gateway connection and starts its goroutines. An
// accepted one is sent our INFO; a solicited one waits for the other side's
// INFO and answers with CONNECT and INFO (gateway_proto.go).
func (gs *gatewayState) createGateway(conn net.Conn, g *gwConn) *client {
	s := gs.s
	o := s.getOpts()
	c := newPeerClient(s, s.gcid.Add(1), conn, GATEWAY, gatewayProtocol{}, false)
	c.gw = g
	if !gs.track(c) {
		return nil
	}

	c.mu.Lock()
	c.tls.conn = g.tlsConn
	if g.outbound {
		s.Noticef("%s - Creating outbound gateway connection to %q", c.logPrefix(), g.remoteName)
	} else {
		s.Noticef("%s - Processing inbound gateway connection", c.logPrefix())
		info := gs.info()
		if o.Gateway.Username != "" {
			info.AuthRequired = true
			c.authRequired = true
		}
		c.queueOutbound(infoProto(&info))
		if c.authRequired {
			c.authTimer = time.AfterFunc(secondsToDuration(o.Gateway.AuthTimeout), c.authTimeout)
		}
	}
	c.pingTimer = time.AfterFunc(o.PingInterval, c.pingTimerFired)
	c.mu.Unlock()
	// A peer that never completes the handshake does not hold a connection.
	time.AfterFunc(max(secondsToDuration(o.Gateway.AuthTimeout), 2*time.Second)+time.Second, func() {
		if !g.registered.Load() {
			c.closeConnection(AuthenticationTimeout)
		}
	})
	go c.writeLoop()
	go c.readLoop()
	return c
}

// info is our gateway INFO: the cluster's gateway URLs, reply prefix
// (nrp) and interest-only mode from the start (iom), as the reference.
func (gs *gatewayState) info() gatewayInfo {
	s := gs.s
	o := s.getOpts()
	gs.mu.Lock()
	url := gs.url
	urls := make([]string, 0, len(gs.peerURLs))
	for _, u := range gs.peerURLs {
		urls = append(urls, u)
	}
	gs.mu.Unlock()
	slices.Sort(urls)
	host, port := url, 0
	if h, p, err := net.SplitHostPort(url); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	tlsOn := gs.tls.Load().server != nil
	return gatewayInfo{
		ID: s.info.ID, Name: s.info.Name, Version: VERSION, Proto: routeProtoVersion,
		Host: host, Port: port, Headers: !o.NoHeaderSupport, TLSRequired: tlsOn, TLSVerify: tlsOn,
		MaxPayload: o.MaxPayload, Gateway: gs.name, GatewayURLs: urls, GatewayURL: url, NRP: true, IOM: true,
	}
}

// connectProto is the CONNECT a soliciting server sends, with the
// credentials of the URL solicited.
func (gs *gatewayState) connectProto(u *url.URL, overTLS bool) []byte {
	ci := gatewayConnectInfo{Name: gs.s.info.ID, Gateway: gs.name, TLSRequired: overTLS}
	if u != nil && u.User != nil {
		ci.User = u.User.Username()
		ci.Pass, _ = u.User.Password()
	}
	b, _ := json.Marshal(&ci)
	return append(append([]byte("CONNECT "), b...), "\r\n"...)
}

// solicit connects to a remote cluster in the background, after a delay
// for retries; one attempt at a time per remote.
func (gs *gatewayState) solicit(r *gwRemote, attempt int) {
	gs.solicitAfter(r, attempt, attempt)
}

// solicitAfter makes attempt number failures+1 after the retry delay that
// follows wait failed attempts (none for 0). A lost connection's cluster
// is solicited with wait 1 and failures 0: its attempts are counted from
// 1 again, as the reference counts them.
func (gs *gatewayState) solicitAfter(r *gwRemote, wait, failures int) {
	gs.mu.Lock()
	if gs.stopped || r.soliciting || r.out != nil {
		gs.mu.Unlock()
		return
	}
	r.soliciting = true
	gs.wg.Add(1)
	gs.mu.Unlock()
	go func() {
		defer gs.wg.Done()
		if wait > 0 && !gs.sleep(jitteredBackoff(DEFAULT_GATEWAY_CONNECT, gs.s.getOpts().Gateway.ConnectBackoff, wait)) {
			return
		}
		gs.connectRemote(r, failures+1)
	}()
}

// connectRemote dials one of the remote's URLs at random; failures are
// retried (configured gateways for ever, implicit ones connect_retries
// times).
func (gs *gatewayState) connectRemote(r *gwRemote, attempt int) {
	gs.mu.Lock()
	urls := slices.Clone(r.urls)
	gs.mu.Unlock()
	kind := "explicit"
	if r.implicit {
		kind = "implicit"
	}
	info, fail := gs.attemptLoggers(r, attempt)
	var conn net.Conn
	var u *url.URL
	for _, i := range rand.Perm(len(urls)) {
		u = urls[i]
		info("Connecting to %s gateway %q (%s) at %s (attempt %d)", kind, r.name, u.Host, u.Host, attempt)
		var err error
		if conn, err = net.DialTimeout("tcp", u.Host, 2*time.Second); err == nil {
			break
		}
		fail("Error connecting to %s gateway %q (%s) at %s (attempt %d): %v", kind, r.name, u.Host, u.Host, attempt, err)
	}
	gs.mu.Lock()
	r.soliciting = false
	gs.mu.Unlock()
	if conn == nil {
		gs.retry(r, attempt)
		return
	}
	tc, err := gs.dialTLS(conn, r.name, u)
	if err != nil {
		conn.Close()
		fail("Error connecting to %s gateway %q (%s) at %s (attempt %d): TLS: %v", kind, r.name, u.Host, u.Host, attempt, err)
		gs.retry(r, attempt)
		return
	}
	gs.createGateway(conn, &gwConn{outbound: true, url: u, remoteName: r.name, tlsConn: tc})
}

// attemptLoggers are the log functions of a connect attempt, as the
// reference logs them: notice and error for the first attempt and every
// connect_error_reports-th (reconnect_error_reports-th once the cluster
// was reached), debug for the others.
func (gs *gatewayState) attemptLoggers(r *gwRemote, attempt int) (info, fail func(string, ...any)) {
	s := gs.s
	gs.mu.Lock()
	reached := r.reached
	gs.mu.Unlock()
	if every := s.getOpts().errorReports(reached); attempt == 1 || attempt%every == 0 {
		return s.Noticef, s.Errorf
	}
	return s.Debugf, s.Debugf
}

// retry solicits a remote again after a failed attempt: configured
// gateways for ever, implicit ones connect_retries times.
func (gs *gatewayState) retry(r *gwRemote, attempt int) {
	if !r.implicit || attempt <= gs.s.getOpts().Gateway.ConnectRetries {
		gs.solicit(r, attempt)
	}
}

// registerOutbound makes c the connection to its cluster, unless another
// got there first.
func (gs *gatewayState) registerOutbound(c *client) bool {
	g := c.gw
	gs.mu.Lock()
	r := gs.remotes[g.remoteName]
	if r == nil {
		r = &gwRemote{name: g.remoteName, implicit: true}
		gs.remotes[g.remoteName] = r
	}
	if r.out != nil && r.out != c {
		gs.mu.Unlock()
		return false
	}
	r.out = c
	r.reached = true
	gs.learnURLsLocked(r, g.remote.GatewayURLs)
	gs.rebuildOutsLocked()
	gs.mu.Unlock()
	g.registered.Store(true)
	return true
}

// learnURLsLocked adds a cluster's gateway URLs to what we may solicit.
func (gs *gatewayState) learnURLsLocked(r *gwRemote, urls []string) {
	for _, hp := range urls {
		known := false
		for _, u := range r.urls {
			if u.Host == hp {
				known = true
				break
			}
		}
		if !known {
			r.urls = append(r.urls, &url.URL{Scheme: "nats", Host: hp})
		}
	}
}

func (gs *gatewayState) rebuildOutsLocked() {
	outs := make([]*client, 0, len(gs.remotes))
	for _, r := range gs.remotes {
		if r.out != nil {
			outs = append(outs, r.out)
		}
	}
	gs.outs.Store(&outs)
}

// registerInbound records an inbound connection, learns its cluster (an
// implicit gateway to solicit, gossiped to our routes) and sends it our
// interest.
func (gs *gatewayState) registerInbound(c *client) {
	g := c.gw
	s := gs.s
	gs.mu.Lock()
	gs.inbound[c.cid] = c
	r := gs.remotes[g.remoteName]
	if r == nil {
		r = &gwRemote{name: g.remoteName, implicit: true}
		gs.remotes[g.remoteName] = r
	}
	gs.learnURLsLocked(r, g.remote.GatewayURLs)
	gs.mu.Unlock()
	g.registered.Store(true)
	s.Noticef("%s - Inbound gateway connection from %q (%s) registered", c.logPrefix(), g.remoteName, g.remoteID)
	gs.sendAllInterest(c)
	// Every time, not only for a cluster new to us: a route peer may have
	// given up soliciting it (implicit gateways are retried
	// connect_retries times) before that cluster was up.
	gs.gossipToRoutes(g.remoteName, g.remote.GatewayURLs)
	gs.solicit(r, 0)
}

// removeGateway forgets a closed gateway connection; a lost outbound one
// is solicited again.
func (s *Server) removeGateway(c *client) {
	gs := s.gw.Load()
	if gs == nil {
		return
	}
	g := c.gw
	gs.mu.Lock()
	delete(gs.conns, c.cid)
	delete(gs.inbound, c.cid)
	var r *gwRemote
	if g.outbound {
		r = gs.remotes[g.remoteName]
		if r != nil && r.out == c {
			r.out = nil
			gs.rebuildOutsLocked()
		}
		if r != nil && (r.out != nil || g.noReconnect) {
			r = nil // another connection serves it, or it must not be retried
		}
	}
	stopped := gs.stopped
	gs.mu.Unlock()
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	if g.registered.Load() {
		dir := "Inbound"
		if g.outbound {
			dir = "Outbound"
		}
		s.Noticef("%s - %s gateway connection to %q (%s) closed: %s", c.logPrefix(), dir, g.remoteName, g.remoteID, reason)
	}
	if r != nil && !stopped {
		gs.solicitAfter(r, 1, 0)
	}
}

// ownURL is our advertised gateway host:port ("" before the listener).
func (gs *gatewayState) ownURL() string {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.url
}
