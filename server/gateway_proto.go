package server

import (
	"bytes"
	"encoding/json"
)

// gatewayProtocol is the protocol of GATEWAY connections. On an inbound
// connection the other cluster sends CONNECT, INFO and messages (RMSG,
// HMSG, "acc subject [reply | + reply q... | | q...] [hdr] size"); on an
// outbound one it sends INFO (first, then gateway_cmd switches) and its
// cluster's interest: RS+/RS- "acc subject [queue [weight]]", and A+/A-
// "acc" (whole-account interest while an account is optimistic).
type gatewayProtocol struct{}

var errGatewayFirst = &protoErr{close: true, reason: ProtocolViolation, log: "gateway protocol before CONNECT"}

func (gatewayProtocol) processOp(c *client, op opCode, args []byte) error {
	g := c.gw
	switch op {
	case opErr:
		c.srv.Errorf("%s - Gateway Error %s", c.logPrefix(), bytes.TrimSpace(args))
		return nil
	case opOK:
		return nil
	case opPing:
		c.sendProto(protoPong)
		return nil
	case opPong:
		c.processPong()
		return nil
	case opInfo:
		return c.processGatewayInfo(args)
	case opConnect:
		return c.processGatewayConnect(args)
	}
	if !g.registered.Load() {
		if c.authRequired && !g.outbound {
			return errAuthFirst
		}
		return errGatewayFirst
	}
	if g.outbound {
		switch op {
		case opRSub:
			return c.processGatewaySub(args, true)
		case opRUnsub:
			return c.processGatewaySub(args, false)
		case opASub:
			return c.processGatewayAccount(args, true)
		case opAUnsub:
			return c.processGatewayAccount(args, false)
		}
		return errUnknownOp
	}
	switch op {
	case opRMsg:
		return c.processGatewayMsgArgs(args, false)
	case opHMsg:
		return c.processGatewayMsgArgs(args, true)
	}
	return errUnknownOp
}

// processGatewayConnect checks an inbound connection's CONNECT:
// credentials, that it is not our own cluster, and reject_unknown.
func (c *client) processGatewayConnect(arg []byte) error {
	s := c.srv
	gs := s.gw.Load()
	g := c.gw
	if g.outbound || g.connected || gs == nil {
		return errGatewayFirst
	}
	var ci gatewayConnectInfo
	if err := json.Unmarshal(arg, &ci); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processGatewayConnect Parse Error: " + err.Error()}
	}
	o := s.getOpts()
	if !c.gatewayAuthorized(o, &ci) {
		return errAuthFirst
	}
	if ci.Gateway == "" {
		return &protoErr{close: true, reason: ProtocolViolation, log: "gateway CONNECT without a gateway name"}
	}
	if ci.Gateway == gs.name {
		s.Errorf("%s - Gateway connection from same cluster %q rejected", c.logPrefix(), ci.Gateway)
		return &protoErr{close: true, reason: WrongGateway}
	}
	if o.Gateway.RejectUnknown && !gs.configured(ci.Gateway) {
		s.Errorf("%s - Gateway %q not in configuration, rejecting connection", c.logPrefix(), ci.Gateway)
		return &protoErr{close: true, reason: WrongGateway}
	}
	c.mu.Lock()
	c.authDone = true
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	c.mu.Unlock()
	g.remoteName, g.remoteHash, g.remoteID = ci.Gateway, gwHash(ci.Gateway), ci.Name
	g.connected = true
	return nil
}

// configured reports whether the gateways list names the cluster.
func (gs *gatewayState) configured(name string) bool {
	for _, rg := range gs.s.getOpts().Gateway.Gateways {
		if rg.Name == name {
			return true
		}
	}
	return false
}

// processGatewayInfo handles an INFO: on an outbound connection the
// handshake's, then interest-only switches (gateway_cmd); on an inbound
// one the remote's INFO after its CONNECT.
func (c *client) processGatewayInfo(arg []byte) error {
	s := c.srv
	gs := s.gw.Load()
	g := c.gw
	if gs == nil {
		return errGatewayFirst
	}
	var info gatewayInfo
	if err := json.Unmarshal(arg, &info); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processGatewayInfo Parse Error: " + err.Error()}
	}
	if g.registered.Load() {
		if g.outbound {
			c.processGatewayCmd(&info)
		}
		return nil
	}
	if !g.outbound {
		if !g.connected || info.ID != g.remoteID {
			return errGatewayFirst
		}
		g.remote = info
		gs.registerInbound(c)
		return nil
	}
	if info.ID == s.info.ID || info.Gateway == gs.name {
		g.noReconnect = true
		s.Debugf("%s - Detected gateway to self, ignoring", c.logPrefix())
		return &protoErr{close: true, reason: DuplicateRoute}
	}
	if info.Gateway != g.remoteName {
		g.noReconnect = true
		s.Errorf("%s - Connected to gateway %q, expected %q, closing", c.logPrefix(), info.Gateway, g.remoteName)
		return &protoErr{close: true, reason: WrongGateway}
	}
	g.remoteID, g.remoteHash, g.remote = info.ID, gwHash(info.Gateway), info
	ours := gs.info()
	c.mu.Lock()
	c.queueOutbound(gs.connectProto(g.url, g.tlsConn != nil), infoProto(&ours))
	c.mu.Unlock()
	c.addToFlush(c)
	s.Debugf("%s - Gateway connect protocol sent to %q", c.logPrefix(), g.remoteName)
	if !gs.registerOutbound(c) {
		g.noReconnect = true
		return &protoErr{close: true, reason: DuplicateRoute}
	}
	s.Noticef("%s - Outbound gateway connection to %q (%s) registered", c.logPrefix(), g.remoteName, g.remoteID)
	return nil
}

// processGatewaySub handles RS+ / RS- on an outbound connection: the
// remote cluster's interest in an account.
func (c *client) processGatewaySub(args []byte, plus bool) error {
	var a [5][]byte
	n := splitArgs(args, a[:])
	if n < 2 || n > 4 || (!plus && n > 3) {
		if plus {
			return argErr("processGatewayRSub", args)
		}
		return argErr("processGatewayRUnsub", args)
	}
	var queue []byte
	if n >= 3 {
		queue = a[2]
	}
	c.gw.remoteInterest(string(a[0]), a[1], queue, plus)
	return nil
}

// processGatewayAccount handles A+ / A-: the remote cluster's interest in a
// whole account while that account is optimistic.
func (c *client) processGatewayAccount(args []byte, plus bool) error {
	var a [2][]byte
	if n := splitArgs(args, a[:]); n != 1 {
		return argErr("processGatewayAccount", args)
	}
	c.gw.accountInterest(string(a[0]), plus)
	return nil
}

// processGatewayCmd applies an interest-only switch of an account.
func (c *client) processGatewayCmd(info *gatewayInfo) {
	switch info.Cmd {
	case gwCmdAllSubsStart, gwCmdAllSubsComplete:
		acc := string(info.CmdPayload)
		start := info.Cmd == gwCmdAllSubsStart
		c.gw.switchMode(acc, start)
		if start {
			c.srv.Debugf("%s - Gateway %q: switching account %q to Interest-Only mode", c.logPrefix(), c.gw.remoteName, acc)
		} else {
			c.srv.Debugf("%s - Gateway %q: switching account %q to Interest-Only mode complete", c.logPrefix(), c.gw.remoteName, acc)
		}
	case 0:
		// A later INFO of the remote: more of its cluster's URLs.
		if len(info.GatewayURLs) > 0 {
			gs := c.srv.gw.Load()
			gs.mu.Lock()
			if r := gs.remotes[c.gw.remoteName]; r != nil {
				gs.learnURLsLocked(r, info.GatewayURLs)
			}
			gs.mu.Unlock()
		}
	}
}

// processGatewayMsgArgs parses RMSG/HMSG on an inbound connection: always
// with the account first, then as on routes.
func (c *client) processGatewayMsgArgs(args []byte, withHdr bool) error {
	var a [16][]byte
	n := splitArgs(args, a[:])
	var list [][]byte
	if n > len(a) {
		list = bytes.Fields(args)
	} else {
		list = a[:n]
	}
	if len(list) < 1 {
		return argErr("processGatewayMsgArgs", args)
	}
	pa := &c.pa
	pa.acc = list[0]
	return c.setPeerMsgArgs(list[1:], args, withHdr, "processGatewayMsgArgs")
}
