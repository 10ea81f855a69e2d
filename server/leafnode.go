package server

// Leaf nodes: a server (the leaf) connects to another (the hub) and binds
// one of its accounts to the account the hub's credentials give it. Each
// side tells the other the interest of that account (LS+/LS-), every
// subscription counted, whatever connection it came from (clients, routes,
// other leaf nodes) except the leaf connection itself; messages cross as
// LMSG, and are delivered on the other side like a local publish (to
// clients, routes and the other leaf connections), never back where they
// came from.
//
// Locks: leafState.mu guards the listener and the connection set; it is
// never held across I/O nor while taking an account's leafInterest.mu,
// which comes before a leaf connection's client.mu (see README.md).

import (
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// leafState is the server's side of its leaf nodes: accepted and solicited.
type leafState struct {
	s *Server
	// lds is this server's loop detection subject ($LDS.<random>): it is
	// told to every leaf connection, and comes back over one only if the
	// leaf nodes form a cycle.
	lds string

	peerListener
	tls *tls.Config // the listener's, nil without a tls block
	// urlStart is where each remote starts in its URL list: a random
	// place unless no_randomize, so that leaf nodes spread over the hubs.
	urlStart map[*RemoteLeafOpts]int
}

// leafConn is the leaf-specific state of a LEAF connection.
type leafConn struct {
	// Set before the connection's goroutines start.
	solicited bool
	remote    *RemoteLeafOpts // the remote solicited, nil when accepted
	url       *url.URL
	attempt   int       // failed dials before this connection
	tlsConn   *tls.Conn // set when the connection runs over TLS
	ws        *wsConn   // set when it runs over WebSocket (leafnode_ws.go)
	// pre holds the id and nonce of the INFO sent before a TLS handshake;
	// firstInfo the INFO a TLS hub sent before it.
	pre       *client
	firstInfo []byte

	// Owned by the reading goroutine until registered, then read-only.
	remoteID   string
	remoteName string
	// toHub: we are the spoke on this connection (we solicited it without
	// hub: true, or the peer's CONNECT said is_hub). What comes from one
	// hub never goes on to another (leafnode_interest.go, forwards).
	toHub     bool
	connectTo bool // solicited: CONNECT sent
	offered   bool // solicited: compression chosen (leafnode_compress.go)

	// Written by the reading goroutine under client.mu; closing takes it.
	subs map[string]*subscription // the peer's interest, "subject[ queue]"

	// own counts the peer's interest per key, under the bound account's
	// leafInterest.mu, so that what the peer is told never includes what
	// it told us.
	own map[string]int32

	registered atomic.Bool
	// waitBefore is the wait before the next attempt the closing asked
	// for (leafLoopDelay for a loop, leafMinVersionDelay), 0 for the backoff.
	waitBefore atomic.Int64
}

// leafInterest is what an account's leaf connections are told: every
// subscription of the account counted by key ("subject" or "subject
// queue"), and the registered leaf connections bound to the account.
type leafInterest struct {
	mu   sync.Mutex
	refs map[string]int32
	// hubRefs counts the part of refs that came from our hubs (toHub
	// connections): it is not told to them.
	hubRefs map[string]int32
	conns   []*client
}

// newLeafState prepares leaf nodes before accounts are set up, so that the
// interest of every subscription made from then on is counted.
func newLeafState(s *Server, o *Options) (*leafState, error) {
	cfg, err := leafListenerTLS(o)
	if err != nil {
		return nil, err
	}
	for _, r := range o.LeafNode.Remotes {
		if _, err := remoteTLS(r, r.URLs[0]); err != nil {
			return nil, fmtErr("leafnode remote tls: %v", err)
		}
		if r.Credentials != "" {
			if _, _, err := leafCreds(r.Credentials); err != nil {
				return nil, fmtErr("leafnode remote: %v", err)
			}
		}
	}
	ls := &leafState{s: s, lds: "$LDS." + newNonce() + newNonce(), tls: cfg, urlStart: make(map[*RemoteLeafOpts]int)}
	ls.initPeers()
	return ls, nil
}

// startLeafnodes opens the leaf node listener and solicits the remotes.
func (s *Server) startLeafnodes() error {
	ls := s.leafs.Load()
	if ls == nil {
		return nil
	}
	o := s.getOpts()
	for _, r := range o.LeafNode.Remotes {
		if _, ok := s.LookupAccount(leafLocalAccount(r)); !ok {
			return fmtErr("leafnode remote: local account %q does not exist", leafLocalAccount(r))
		}
	}
	for _, u := range o.LeafNode.Users {
		if _, ok := s.LookupAccount(u.Account); u.Account != "" && !ok {
			return fmtErr("leafnode user %q: account %q does not exist", u.Username, u.Account)
		}
	}
	if o.LeafNode.Port != 0 {
		if err := ls.listen(o.LeafNode.Host, o.LeafNode.Port, "leafnode"); err != nil {
			return err
		}
		s.Noticef("Listening for leafnode connections on %s", net.JoinHostPort(o.LeafNode.Host, strconv.Itoa(ls.addr().Port)))
		ls.serve(s, "leafnode ", ls.accept)
	}
	for _, r := range o.LeafNode.Remotes {
		if r.Disabled {
			continue // listed in /varz, never dialed, as the reference
		}
		if !r.NoRandomize && len(r.URLs) > 1 {
			ls.mu.Lock()
			ls.urlStart[r] = rand.IntN(len(r.URLs))
			ls.mu.Unlock()
		}
		ls.solicit(r, 0, 0)
	}
	return nil
}

func leafLocalAccount(r *RemoteLeafOpts) string {
	if r.LocalAccount == "" {
		return DEFAULT_GLOBAL_ACCOUNT
	}
	return r.LocalAccount
}

// stopLeafnodes closes the listener and every leaf connection, and stops
// reconnects.
func (s *Server) stopLeafnodes() {
	if ls := s.leafs.Load(); ls != nil {
		ls.stop()
	}
}

// LeafAddr returns the leaf node listener's address, nil without one.
func (s *Server) LeafAddr() *net.TCPAddr {
	if ls := s.leafs.Load(); ls != nil {
		return ls.addr()
	}
	return nil
}

// NumLeafNodes returns the number of registered leaf connections.
func (s *Server) NumLeafNodes() int {
	return len(s.leafConns())
}

// leafConns returns the registered leaf connections.
func (s *Server) leafConns() []*client {
	ls := s.leafs.Load()
	if ls == nil {
		return nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	out := make([]*client, 0, len(ls.conns))
	for _, c := range ls.conns {
		if c.leaf.registered.Load() {
			out = append(out, c)
		}
	}
	return out
}

// accept takes one accepted connection; false once stopped.
func (ls *leafState) accept(conn net.Conn) bool {
	if ls.tls == nil {
		return ls.createLeaf(conn, &leafConn{}) != nil || !ls.isStopped()
	}
	if !ls.goPeer(func() { ls.acceptTLS(conn) }) {
		conn.Close()
		return false
	}
	return true
}

// createLeaf sets up a leaf connection, accepted or solicited, and starts
// its goroutines. An accepted one is sent our INFO and must CONNECT in
// time; a solicited one waits for the hub's INFO.
func (ls *leafState) createLeaf(conn net.Conn, lc *leafConn) *client {
	s := ls.s
	o := s.getOpts()
	cid := uint64(0)
	if lc.pre != nil {
		cid = lc.pre.cid
	} else {
		cid = s.gcid.Add(1)
	}
	c := newPeerClient(s, cid, conn, LEAF, leafProtocol{}, true)
	c.leaf = lc
	c.ws = lc.ws
	lc.subs = make(map[string]*subscription)
	lc.own = make(map[string]int32)
	c.tls.conn = lc.tlsConn
	if lc.solicited {
		acc, _ := s.LookupAccount(leafLocalAccount(lc.remote))
		c.acc = acc
		c.setPermissions(lc.remote.permissions())
	}
	if !ls.track(c) {
		return nil
	}

	c.mu.Lock()
	if !lc.solicited {
		if lc.pre != nil {
			c.nonce = lc.pre.nonce // INFO went out before the handshake
		} else {
			c.nonce = newNonce()
			info := s.leafInfo(c)
			c.queueOutbound(infoProto(&info))
		}
		c.authRequired = true
		c.authTimer = time.AfterFunc(secondsToDuration(o.LeafNode.AuthTimeout), c.authTimeout)
	}
	c.pingTimer = time.AfterFunc(o.PingInterval, c.pingTimerFired)
	c.mu.Unlock()
	// A peer that never completes the handshake does not hold a
	// connection until pings give up on it.
	time.AfterFunc(secondsToDuration(max(o.LeafNode.AuthTimeout, 2))+time.Second, func() {
		if !lc.registered.Load() {
			c.closeConnection(AuthenticationTimeout)
		}
	})
	if lc.solicited {
		s.Noticef("%s - Leafnode connection created for account: %s ", c.logPrefix(), c.acc.Name)
	} else {
		s.Noticef("%s - Leafnode connection created ", c.logPrefix())
	}
	if lc.solicited && lc.firstInfo == nil {
		// The hub's INFO must come within first_info_timeout: a read error
		// otherwise, as with the reference (processLeafInfo clears it).
		_ = conn.SetReadDeadline(time.Now().Add(lc.remote.FirstInfoTimeout))
	}
	if lc.firstInfo != nil {
		// Before the reader starts, so this is the reading goroutine.
		// errSwitchReader leaves parseRest set: the reader starts inflating.
		if err := c.parse(lc.firstInfo); err != nil && err != errSwitchReader {
			c.handleProtoErr(err)
		}
	}
	go c.writeLoop()
	go c.readLoop()
	return c
}

// solicit connects to a remote in the background, at once for a first
// attempt, after the backoff for a retry, or after delay if set.
func (ls *leafState) solicit(r *RemoteLeafOpts, attempt int, delay time.Duration) {
	ls.goPeer(func() {
		if delay == 0 && attempt > 0 {
			delay = ls.retryDelay(attempt)
		}
		if delay > 0 && !ls.sleep(delay) {
			return
		}
		ls.connect(r, attempt)
	})
}

// retryDelay is the wait before reconnect attempt n: the configured delay
// doubling up to leafReconnectMax, with jitter so that leaf nodes of a
// restarted hub do not come back in lock step.
func (ls *leafState) retryDelay(attempt int) time.Duration {
	d := ls.s.getOpts().LeafNode.ReconnectDelay
	for i := 1; i < attempt && d < leafReconnectMax; i++ {
		d *= 2
	}
	d = min(d, max(leafReconnectMax, ls.s.getOpts().LeafNode.ReconnectDelay))
	return d/2 + rand.N(d/2+1)
}

// connect dials one of the remote's URLs (the next on each attempt, from
// the remote's start); a failure is retried for ever.
func (ls *leafState) connect(r *RemoteLeafOpts, attempt int) {
	s := ls.s
	ls.mu.Lock()
	start := ls.urlStart[r]
	ls.mu.Unlock()
	u := r.URLs[(start+attempt)%len(r.URLs)]
	s.Debugf("Trying to connect as leafnode to remote server on %q", u.Host)
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		s.Errorf("Error trying to connect as leafnode to remote server %q (attempt %d): %v", u.Host, attempt+1, err)
		ls.solicit(r, attempt+1, 0)
		return
	}
	lc := &leafConn{solicited: true, remote: r, url: u, attempt: attempt, toHub: !r.Hub}
	if isWSLeafURL(u) {
		wconn, ws, err := dialLeafWS(conn, r, u)
		if err != nil {
			conn.Close()
			s.Errorf("Error soliciting websocket connection to %q (attempt %d): %v", u.Host, attempt+1, err)
			ls.solicit(r, attempt+1, 0)
			return
		}
		conn, lc.ws = wconn, ws
	} else if cfg, _ := remoteTLS(r, u); cfg != nil {
		tc, info, err := dialLeafTLS(conn, cfg, r, u)
		if err != nil {
			conn.Close()
			s.Errorf("Error trying to connect as leafnode to remote server %q (attempt %d): TLS: %v", u.Host, attempt+1, err)
			ls.solicit(r, attempt+1, 0)
			return
		}
		lc.tlsConn, lc.firstInfo = tc, info
	}
	ls.createLeaf(conn, lc)
}

// removeLeaf finishes closing a leaf connection: its interest leaves the
// account and the remote is solicited again.
func (s *Server) removeLeaf(c *client) {
	ls := s.leafs.Load()
	lc := c.leaf
	c.mu.Lock()
	subs := lc.subs
	lc.subs = nil
	acc, reason := c.acc, c.reason
	c.mu.Unlock()
	c.stopJWT()
	if acc != nil {
		acc.leafed.unregister(c)
		list := make([]*subscription, 0, len(subs))
		for _, sub := range subs {
			sub.closed.Store(true)
			list = append(list, sub)
		}
		s.removeSubsInterest(acc, list)
		s.leafUncounted(c, acc) // events.go: the account's leaf count changed
	}
	if ls == nil {
		return
	}
	ls.mu.Lock()
	delete(ls.conns, c.cid)
	stopped := ls.stopped
	ls.mu.Unlock()
	s.Noticef("%s - Leafnode connection closed: %s", c.logPrefix(), reason)
	if stopped || !lc.solicited {
		return
	}
	attempt := lc.attempt + 1
	if lc.registered.Load() {
		attempt = 1 // it worked: start the backoff again
	}
	ls.solicit(lc.remote, attempt, time.Duration(lc.waitBefore.Load()))
}
