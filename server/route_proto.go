package server

import (
	"bytes"
	"encoding/json"
	"net/url"
)

// routeProtocol is the protocol of ROUTER connections: CONNECT and INFO
// to set the route up, PING/PONG, RS+/RS- for remote interest (with the
// account first on pooled routes, and a queue weight for queue groups),
// RMSG/HMSG for routed messages.
type routeProtocol struct{}

var errRouteFirst = &protoErr{close: true, reason: ProtocolViolation, log: "route protocol before CONNECT"}

func (routeProtocol) processOp(c *client, op opCode, args []byte) error {
	if op == opErr {
		// The other server refused us (credentials, say) and closes.
		c.srv.Errorf("%s - Route Error %s", c.logPrefix(), bytes.TrimSpace(args))
		return nil
	}
	if op == opOK {
		return nil
	}
	if op != opConnect && op != opInfo && op != opPing && op != opPong && !c.connected {
		if c.authRequired {
			return errAuthFirst
		}
		return errRouteFirst
	}
	switch op {
	case opRMsg:
		return c.processRoutedMsgArgs(args, false)
	case opHMsg:
		return c.processRoutedMsgArgs(args, true)
	case opRSub, opLSub:
		return c.processRemoteSub(args)
	case opRUnsub, opLUnsub:
		return c.processRemoteUnsub(args)
	case opPing:
		c.sendProto(protoPong)
		return nil
	case opPong:
		c.routePong()
		return nil
	case opConnect:
		return c.processRouteConnect(args)
	case opInfo:
		return c.processRouteInfo(args)
	}
	return errUnknownOp
}

// processRouteConnect checks an accepted route's CONNECT: credentials,
// cluster name, and that it is not ourselves.
func (c *client) processRouteConnect(arg []byte) error {
	s := c.srv
	cs := s.cluster.Load()
	if c.route.solicited || c.connected || cs == nil {
		return errRouteFirst
	}
	var ci routeConnectInfo
	if err := json.Unmarshal(arg, &ci); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processRouteConnect Parse Error: " + err.Error()}
	}
	if !c.routeCredentialsOK(s.getOpts(), &ci) {
		return errAuthFirst
	}
	if ci.Name == s.info.ID {
		c.route.noReconnect.Store(true)
		s.Debugf("%s - Detected route to self, ignoring", c.logPrefix())
		return &protoErr{close: true, reason: DuplicateRoute}
	}
	if !cs.agreeClusterName(c, ci.Cluster, ci.Dynamic) {
		return &protoErr{close: true, reason: ClusterNameConflict}
	}
	c.mu.Lock()
	c.authDone = true
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	c.mu.Unlock()
	c.route.remoteID = ci.Name
	c.connected = true
	return nil
}

// agreeClusterName checks the remote's cluster name against ours: a
// configured name must match; a dynamic one gives way to the other.
func (cs *clusterState) agreeClusterName(c *client, remote string, remoteDynamic bool) bool {
	cs.mu.Lock()
	ours, dyn := cs.name, cs.dynamic
	switch {
	case remote == ours || remote == "":
	case dyn && (!remoteDynamic || remote < ours):
		cs.name = remote
		cs.dynamic = remoteDynamic
	case remoteDynamic:
	default:
		cs.mu.Unlock()
		cs.s.Errorf("%s - Rejecting connection, cluster name %q does not match %q", c.logPrefix(), remote, ours)
		return false
	}
	cs.mu.Unlock()
	return true
}

// processRouteInfo handles an INFO: the handshake's, or later an update
// of the remote (ldm, connect_urls) or gossip about a server to solicit.
func (c *client) processRouteInfo(arg []byte) error {
	s := c.srv
	cs := s.cluster.Load()
	if cs == nil {
		return errRouteFirst
	}
	var info routeInfo
	if err := json.Unmarshal(arg, &info); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processRouteInfo Parse Error: " + err.Error()}
	}
	info.classifyJetStream()
	rt := c.route
	if info.GatewayCmd == gwCmdGossip {
		if gs := s.gw.Load(); gs != nil {
			gs.gossipFromRoute(info.Gateway, info.GatewayURLs)
		}
		return nil
	}
	if gs := s.gw.Load(); gs != nil {
		gs.peerGatewayURL(info.ID, info.GatewayURL)
	}
	if rt.registered.Load() {
		if info.ID != rt.remoteID {
			cs.gossipReceived(&info)
			return nil
		}
		cs.remoteUpdated(c, &info)
		return nil
	}
	if info.ID == s.info.ID {
		rt.noReconnect.Store(true)
		if rt.url != nil {
			cs.markSelf(rt.url)
		}
		s.Debugf("%s - Detected route to self, ignoring", c.logPrefix())
		return &protoErr{close: true, reason: DuplicateRoute}
	}
	if rt.solicited && info.TLSRequired && cs.tls == nil {
		s.Errorf("%s - Route at %s requires TLS, which the cluster block does not configure", c.logPrefix(), c.host)
		return &protoErr{close: true, reason: TLSHandshakeError}
	}
	if rt.solicited {
		if !cs.agreeClusterName(c, info.Cluster, info.Dynamic) {
			rt.noReconnect.Store(true)
			return &protoErr{close: true, reason: ClusterNameConflict}
		}
		rt.remoteID = info.ID
	} else {
		if !c.connected || info.ID != rt.remoteID {
			return errRouteFirst
		}
		rt.poolIdx, rt.account = info.RoutePoolIdx, info.RouteAccount
	}
	if info.RoutePoolSize != 0 && rt.account == "" && info.RoutePoolSize != cs.poolSize {
		s.Errorf("%s - Mismatch route pool size: ours %d, theirs %d", c.logPrefix(), cs.poolSize, info.RoutePoolSize)
		rt.noReconnect.Store(true)
		return &protoErr{close: true, reason: ProtocolViolation}
	}
	rt.remote = info
	if rt.awaitInfo {
		// The soliciting server's compressed INFO: the reference names the
		// pool index in this one only.
		rt.awaitInfo = false
		s.registerRoute(cs, c)
		return nil
	}
	if !c.answerRouteInfo(cs, &info) {
		s.registerRoute(cs, c)
		return nil
	}
	if rt.solicited {
		s.registerRoute(cs, c)
	} else {
		rt.awaitInfo = true
	}
	return errSwitchReader
}

// registerRoute adds a route whose handshake is complete and, on the
// first connection to its server, tells it the gateways we know.
func (s *Server) registerRoute(cs *clusterState, c *client) {
	cs.register(c)
	rt := c.route
	if gs := s.gw.Load(); gs != nil && rt.account == "" && rt.poolIdx == 0 {
		gs.gossipRemotesTo(c)
	}
}

// answerRouteInfo answers the handshake's INFO and, when both sides
// compress, switches the writer (see route_compress.go for the exchange).
// It reports whether the peer's bytes after this INFO are compressed.
func (c *client) answerRouteInfo(cs *clusterState, info *routeInfo) bool {
	rt := c.route
	co := cs.s.getOpts().Cluster.Compression
	choice := compressionChoice(co.Mode, info.Compression)
	var ours routeInfo
	if rt.solicited {
		ours = cs.routeInfo(rt.poolIdx, rt.account)
	} else {
		ours = cs.routeInfo(-1, "")
	}
	ours.Compression = choice
	proto := infoProto(&ours)
	c.mu.Lock()
	if rt.solicited {
		c.queueOutbound(proto) // in clear: it tells the choice
	}
	if choice != CompressionOff {
		c.startCompression(newRouteCompressor(choice, co.RTTThresholds))
		c.queueOutbound(proto)
	}
	if rt.solicited {
		c.queueOutbound(protoPing)
	}
	c.mu.Unlock()
	c.addToFlush(c)
	return choice != CompressionOff
}

// routePong takes a PONG: the round trip it ends may change an s2_auto
// route's compression level.
func (c *client) routePong() {
	c.processPong()
	c.mu.Lock()
	z, rtt := c.out.z, c.lastRTT
	c.mu.Unlock()
	if z != nil {
		z.rttMeasured(rtt)
	}
}

// markSelf remembers a configured route URL that leads back to us.
func (cs *clusterState) markSelf(u *url.URL) {
	cs.mu.Lock()
	cs.satisfied[u.Host] = cs.s.info.ID
	cs.mu.Unlock()
}

// processRemoteSub handles RS+ [account] subject [queue weight].
func (c *client) processRemoteSub(args []byte) error {
	var a [4][]byte
	n := splitArgs(args, a[:])
	rt := c.route
	acc, rest := c.routeArgAccount(a[:], n)
	if rest == nil {
		return argErr("processRemoteSub", args)
	}
	// A queue group's weight (its member count there) changes nothing
	// here: a publisher prefers its own server's members, then takes one
	// remote group per server.
	subject, queue := rest[0], []byte(nil)
	switch len(rest) {
	case 1:
	case 2, 3:
		queue = rest[1]
	default:
		return argErr("processRemoteSub", args)
	}
	if acc == nil || !c.srv.cluster.Load().canExport(bytesToString(subject)) {
		// An account this server does not have, or interest the cluster's
		// export permissions do not serve.
		return nil
	}
	key := remoteSubKey(acc.Name, subject, queue)
	c.mu.Lock()
	_, dup := rt.subs[key]
	c.mu.Unlock()
	if dup {
		return nil
	}
	sub := &subscription{client: c, subject: string(subject), queue: string(queue), sid: key}
	if err := c.srv.addSubInterest(acc, sub); err != nil {
		return nil
	}
	// Closing takes the map under the lock after setting closed: a
	// subscription that comes too late removes itself.
	c.mu.Lock()
	closed := c.closed
	if !closed {
		rt.subs[key] = remoteSub{sub, acc}
	}
	c.mu.Unlock()
	if closed {
		c.srv.removeSubInterest(acc, sub)
	}
	return nil
}

// processRemoteUnsub handles RS- [account] subject [queue].
func (c *client) processRemoteUnsub(args []byte) error {
	var a [4][]byte
	n := splitArgs(args, a[:])
	acc, rest := c.routeArgAccount(a[:], n)
	if rest == nil || len(rest) > 2 {
		return argErr("processRemoteUnsub", args)
	}
	if acc == nil {
		return nil
	}
	var queue []byte
	if len(rest) == 2 {
		queue = rest[1]
	}
	key := remoteSubKey(acc.Name, rest[0], queue)
	c.mu.Lock()
	rs, ok := c.route.subs[key]
	delete(c.route.subs, key)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	rs.sub.closed.Store(true)
	c.srv.removeSubInterest(acc, rs.sub)
	return nil
}

// routeArgAccount splits an RS+/RS- argument list into its account (the
// first argument on a pooled route, the pinned account otherwise) and the
// rest. rest is nil when the list is malformed; the account is nil when
// this server does not know it.
func (c *client) routeArgAccount(a [][]byte, n int) (*Account, [][]byte) {
	if n > len(a) {
		return nil, nil
	}
	name := c.route.account
	args := a[:n]
	if name == "" {
		if n < 2 {
			return nil, nil
		}
		name, args = string(a[0]), a[1:n]
	} else if n < 1 {
		return nil, nil
	}
	return c.srv.accountForRoute(name), args
}

func remoteSubKey(acc string, subject, queue []byte) string {
	k := make([]byte, 0, len(acc)+len(subject)+len(queue)+2)
	k = append(append(append(k, acc...), ' '), subject...)
	if len(queue) > 0 {
		k = append(append(k, ' '), queue...)
	}
	return string(k)
}

// processRoutedMsgArgs parses RMSG/HMSG: [account] subject [reply] size,
// or with queue groups [account] subject + reply q... size and
// [account] subject | q... size; HMSG has the header size before the size.
func (c *client) processRoutedMsgArgs(args []byte, withHdr bool) error {
	var a [16][]byte
	n := splitArgs(args, a[:])
	if n > len(a) {
		return c.processRoutedMsgArgsSlow(args, withHdr)
	}
	return c.setRoutedMsgArgs(a[:n], args, withHdr, c.route.account == "")
}

// processRoutedMsgArgsSlow handles an RMSG naming many queue groups.
func (c *client) processRoutedMsgArgsSlow(args []byte, withHdr bool) error {
	a := bytes.Fields(args)
	return c.setRoutedMsgArgs(a, args, withHdr, c.route.account == "")
}

// setRoutedMsgArgs sets c.pa from the split arguments of RMSG/LMSG/HMSG;
// withAcc when the account comes first (pooled routes).
func (c *client) setRoutedMsgArgs(a [][]byte, args []byte, withHdr, withAcc bool) error {
	c.pa.acc = nil
	if withAcc {
		if len(a) < 1 {
			return argErr("processRoutedMsgArgs", args)
		}
		c.pa.acc, a = a[0], a[1:]
	}
	return c.setPeerMsgArgs(a, args, withHdr, "processRoutedMsgArgs")
}

// spanOf is the part of line from the start of first to the end of last,
// both sub-slices of line.
func spanOf(line, first, last []byte) []byte {
	start := cap(line) - cap(first)
	end := cap(line) - cap(last) + len(last)
	return line[start:end]
}
