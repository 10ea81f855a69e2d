package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// leafProtocol is the protocol of LEAF connections, as the reference
// speaks it (observed on v2.15.2, compression off; with compression the
// leaf answers the first INFO with an INFO of its own, leafnode_compress.go):
//
//	hub  -> leaf  INFO {..., "nonce", "compression":"off", "leafnode_urls"}
//	leaf -> hub   CONNECT {"version","user","pass","server_id","name","headers",
//	              "compress_mode":"off","remote_account","protocol":3}
//	hub  -> leaf  INFO {..., "connect_info":true, "remote_account"}
//	both          LS+ subject [queue weight] / LS- subject [queue]
//	both          LMSG subject [reply] size, LMSG subject + reply q... size,
//	              LMSG subject | q... size; HMSG the same with the header size
//	              before the size; PING/PONG
//
// An LMSG naming queue groups is for those groups (and every plain
// subscription); one naming none is for plain subscriptions only, since
// the sender chose where its queue groups are served.
type leafProtocol struct{}

var errLeafFirst = &protoErr{close: true, reason: ProtocolViolation, log: "leafnode protocol before CONNECT"}

func (leafProtocol) processOp(c *client, op opCode, args []byte) error {
	switch op {
	case opErr:
		text := bytes.TrimSpace(args)
		c.srv.Errorf("%s - Leafnode Error %s", c.logPrefix(), text)
		switch {
		case bytes.Contains(text, []byte("Loop detected")):
			c.leaf.waitBefore.Store(int64(leafLoopDelay))
			c.srv.Errorf("%s - %s", c.logPrefix(), bytes.Trim(text, "'"))
		case bytes.Contains(text, []byte(leafMinVersionText)):
			c.leaf.waitBefore.Store(int64(leafMinVersionDelay))
			c.srv.Errorf("%s - Leafnode connection dropped due to minimum version requirement. Delaying attempt to reconnect for %v",
				c.logPrefix(), leafMinVersionDelay)
		}
		return nil
	case opOK:
		return nil
	case opPing:
		c.sendProto(protoPong)
		return nil
	case opPong:
		c.routePong() // s2_auto's level follows the round trip
		return nil
	case opInfo:
		return c.processLeafInfo(args)
	case opConnect:
		return c.processLeafConnect(args)
	}
	if !c.leaf.registered.Load() {
		if c.authRequired && !c.connected {
			return errAuthFirst
		}
		return errLeafFirst
	}
	switch op {
	case opLMsg, opRMsg:
		return c.processLeafMsgArgs(args, false)
	case opHMsg:
		return c.processLeafMsgArgs(args, true)
	case opLSub:
		return c.processLeafSub(args)
	case opLUnsub:
		return c.processLeafUnsub(args)
	}
	return errUnknownOp
}

// leafInfoMsg is the INFO a hub sends its leaf nodes, with the
// reference's fields in its order.
type leafInfoMsg struct {
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
	TLSVerify     bool     `json:"tls_verify,omitempty"`
	MaxPayload    int32    `json:"max_payload"`
	JetStream     bool     `json:"jetstream,omitempty"`
	IP            string   `json:"ip,omitempty"`
	ClientID      uint64   `json:"client_id,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	Cluster       string   `json:"cluster,omitempty"`
	Domain        string   `json:"domain,omitempty"`
	Compression   string   `json:"compression,omitempty"`
	ConnectInfo   bool     `json:"connect_info,omitempty"`
	RemoteAccount string   `json:"remote_account,omitempty"`
	APILevel      int      `json:"api_lvl,omitempty"`
	InfoOnConnect bool     `json:"info_on_connect,omitempty"`
	LeafNodeURLs  []string `json:"leafnode_urls,omitempty"`
}

// leafConnectInfo is the CONNECT a leaf sends its hub.
type leafConnectInfo struct {
	Version       string `json:"version,omitempty"`
	Nkey          string `json:"nkey,omitempty"`
	JWT           string `json:"jwt,omitempty"`
	Sig           string `json:"sig,omitempty"`
	User          string `json:"user,omitempty"`
	Pass          string `json:"pass,omitempty"`
	Token         string `json:"auth_token,omitempty"`
	ID            string `json:"server_id,omitempty"`
	Domain        string `json:"domain,omitempty"`
	Name          string `json:"name,omitempty"`
	Hub           bool   `json:"is_hub,omitempty"`
	Cluster       string `json:"cluster,omitempty"`
	Headers       bool   `json:"headers,omitempty"`
	JetStream     bool   `json:"jetstream,omitempty"`
	Compression   string `json:"compress_mode,omitempty"`
	RemoteAccount string `json:"remote_account,omitempty"`
	Proto         int    `json:"protocol,omitempty"`
}

// leafProtoVersion is the leaf protocol level the reference speaks.
const leafProtoVersion = 3

// leafInfo is our INFO for an accepted leaf connection.
func (s *Server) leafInfo(c *client) leafInfoMsg {
	o := s.getOpts()
	host, port := s.leafAdvertised(o)
	info := leafInfoMsg{
		ID:            s.info.ID,
		Name:          s.info.Name,
		Version:       VERSION,
		Proto:         leafProtoVersion,
		GoVersion:     s.info.GoVersion,
		Host:          host,
		Port:          port,
		Headers:       !o.NoHeaderSupport,
		AuthRequired:  true,
		MaxPayload:    o.MaxPayload,
		JetStream:     s.info.JetStream,
		ClientID:      c.cid,
		Nonce:         c.nonce,
		Compression:   o.LeafNode.Compression.Mode,
		APILevel:      JSApiLevel,
		InfoOnConnect: true,
	}
	if c.leaf != nil && c.leaf.ws != nil {
		info.Compression = CompressionOff // not over WebSocket (leafnode_compress.go)
	}
	if t := o.LeafNode.TLS; t != nil {
		info.TLSRequired, info.TLSVerify = true, t.Verify
	}
	if port != 0 {
		info.IP = net.JoinHostPort(host, strconv.Itoa(port))
		if !o.LeafNode.NoAdvertise {
			info.LeafNodeURLs = []string{info.IP}
		}
	}
	if cs := s.cluster.Load(); cs != nil {
		info.Cluster = cs.clusterName()
	}
	return info
}

// leafAdvertised is the host and port leaf nodes are told to connect to.
func (s *Server) leafAdvertised(o *Options) (string, int) {
	port := 0
	if ls := s.leafs.Load(); ls != nil {
		ls.mu.Lock()
		port = ls.port
		ls.mu.Unlock()
	}
	host := o.LeafNode.Host
	if a := o.LeafNode.Advertise; a != "" {
		if h, p, err := parseClientAdvertise(a); err == nil {
			if p == 0 {
				p = port
			}
			return h, p
		}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = firstLocalIP()
	}
	return host, port
}

// processLeafInfo handles an INFO: on a solicited connection the hub's
// first one is answered with CONNECT, the one after CONNECT registers the
// connection; later ones (and a leaf's on an accepted connection) only
// update what we know.
func (c *client) processLeafInfo(arg []byte) error {
	var info leafInfoMsg
	if err := json.Unmarshal(arg, &info); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processLeafInfo Parse Error: " + err.Error()}
	}
	lc := c.leaf
	if !lc.solicited {
		if !c.connected && c.leafAcceptCompression(&info) {
			return errSwitchReader
		}
		return nil
	}
	if lc.registered.Load() {
		return nil
	}
	s := c.srv
	if !lc.connectTo {
		_ = c.nc.SetReadDeadline(time.Time{}) // first_info_timeout met
		if info.ID == s.info.ID {
			s.Warnf("%s - Detected leafnode connection to self, ignoring", c.logPrefix())
			return &protoErr{close: true, reason: ProtocolViolation}
		}
		if info.TLSRequired && lc.tlsConn == nil && lc.ws == nil {
			s.Errorf("%s - Leafnode remote %s requires TLS: use a tls:// URL or a tls block", c.logPrefix(), lc.url.Host)
			return &protoErr{close: true, reason: TLSHandshakeError}
		}
		if !lc.offered {
			lc.offered = true
			if c.leafOfferCompression(&info) {
				return errSwitchReader // the hub's INFO comes again, compressed
			}
		}
		lc.remoteID, lc.remoteName = info.ID, info.Name
		lc.connectTo = true
		connect, err := s.leafConnectProto(lc, c.acc.Name, info.Nonce, c.leafCompressMode())
		if err != nil {
			s.Errorf("%s - Leafnode remote credentials: %v", c.logPrefix(), err)
			return &protoErr{close: true, reason: AuthenticationViolation}
		}
		c.sendProto(connect)
		return nil
	}
	c.mu.Lock()
	c.authDone = true
	c.mu.Unlock()
	c.connected = true
	s.registerLeaf(c)
	return nil
}

// leafConnectProto is the CONNECT a leaf sends, with the credentials of
// the remote's URL.
func (s *Server) leafConnectProto(lc *leafConn, localAcc, nonce, compress string) ([]byte, error) {
	o := s.getOpts()
	ci := leafConnectInfo{
		Version:       VERSION,
		ID:            s.info.ID,
		Name:          s.info.Name,
		Headers:       !o.NoHeaderSupport,
		Hub:           lc.remote.Hub,
		Compression:   compress,
		RemoteAccount: localAcc,
		Proto:         leafProtoVersion,
	}
	if u := lc.url; u != nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			ci.User, ci.Pass = u.User.Username(), p
		} else {
			ci.Token = u.User.Username()
		}
	}
	if lc.remote.Credentials != "" {
		if err := signLeafConnect(&ci, lc.remote.Credentials, nonce); err != nil {
			return nil, err
		}
	}
	if lc.remote.Nkey != "" {
		if err := signLeafNkey(&ci, lc.remote.Nkey, nonce); err != nil {
			return nil, err
		}
	}
	b, _ := json.Marshal(&ci)
	return append(append([]byte("CONNECT "), b...), "\r\n"...), nil
}

// processLeafConnect checks an accepted leaf's CONNECT, binds the
// connection to the account its credentials give, answers with INFO and
// registers it.
func (c *client) processLeafConnect(arg []byte) error {
	s := c.srv
	lc := c.leaf
	if lc.solicited || c.connected {
		return errLeafFirst
	}
	var ci leafConnectInfo
	if err := json.Unmarshal(arg, &ci); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processLeafConnect Parse Error: " + err.Error()}
	}
	accName, perms, ok := s.leafAuthenticate(c, &ci)
	if !ok {
		if c.isClosed() { // refused with an error of its own (jwt_leaf.go)
			return errClosedConn
		}
		switch {
		case s.jwt != nil: // authJWT logged why
		case ci.User != "":
			s.Errorf("%s - authentication error - User %q", c.logPrefix(), ci.User)
		default:
			s.Errorf("%s - authentication error", c.logPrefix())
		}
		return errAuthFirst
	}
	acc, found := s.LookupAccount(accName)
	if !found {
		s.Errorf("%s - account %q not found", c.logPrefix(), accName)
		return errAuthFirst
	}
	if ci.ID == s.info.ID {
		s.Warnf("%s - Detected leafnode connection to self, ignoring", c.logPrefix())
		return &protoErr{close: true, reason: ProtocolViolation}
	}
	if min := s.getOpts().LeafNode.MinVersion; min != "" && !versionAtLeast(ci.Version, min) {
		return &protoErr{msg: fmt.Sprintf("%s %q", leafMinVersionText, min), close: true, reason: MinimumVersionRequired}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.acc = acc
	c.authDone = true
	c.opts.Name, c.opts.Version = ci.Name, ci.Version // for its advisories
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	c.mu.Unlock()
	c.setPermissions(perms)
	lc.remoteID, lc.remoteName = ci.ID, ci.Name
	lc.toHub = ci.Hub // the leaf said it is the hub: we are its spoke
	c.connected = true
	info := s.leafInfo(c)
	info.Nonce = ""
	info.Compression = ""
	info.ConnectInfo = true
	info.RemoteAccount = acc.Name
	c.sendProto(infoProto(&info))
	s.registerLeaf(c)
	return nil
}

// leafAuthenticate checks an accepted leaf's credentials against the
// leafnodes authorization block or, without one, the server's users, and
// returns the account to bind and the user's permissions.
func (s *Server) leafAuthenticate(c *client, ci *leafConnectInfo) (string, *Permissions, bool) {
	o := s.getOpts()
	lo := &o.LeafNode
	def := lo.Account
	if def == "" {
		def = DEFAULT_GLOBAL_ACCOUNT
	}
	switch {
	case len(lo.Users) > 0:
		for _, u := range lo.Users {
			if subtle.ConstantTimeCompare([]byte(u.Username), []byte(ci.User)) == 1 && comparePasswords(u.Password, ci.Pass) {
				if u.Account != "" {
					return u.Account, u.Permissions, true
				}
				return def, u.Permissions, true
			}
		}
		return "", nil, false
	case lo.Username != "":
		okUser := subtle.ConstantTimeCompare([]byte(ci.User), []byte(lo.Username)) == 1
		return def, nil, okUser && comparePasswords(lo.Password, ci.Pass)
	case lo.Token != "":
		return def, nil, comparePasswords(lo.Token, ci.Token)
	case lo.Nkey != "":
		return def, nil, ci.Nkey == lo.Nkey && verifyNonce(ci.Nkey, c.nonce, ci.Sig)
	case s.jwt != nil:
		co := ClientOpts{Nkey: ci.Nkey, JWT: ci.JWT, Sig: ci.Sig}
		res, ok := s.authLeafJWTConnect(c, &co) // jwt_leaf.go
		if !ok {
			return "", nil, false
		}
		return res.acc, res.perms, true
	case authConfigured(o):
		co := ClientOpts{Username: ci.User, Password: ci.Pass, Token: ci.Token, Nkey: ci.Nkey, Sig: ci.Sig, JWT: ci.JWT}
		res, ok := authenticateAs(o, &co, c.nonce, ConnectionTypeLeafnode, "")
		if !ok {
			return "", nil, false
		}
		if res.acc != "" {
			return res.acc, res.perms, true
		}
		return def, res.perms, true
	}
	return def, nil, true
}

// processLeafSub handles LS+ subject [queue weight].
func (c *client) processLeafSub(args []byte) error {
	var a [4][]byte
	n := splitArgs(args, a[:])
	if n < 1 || n > 3 || n == 2 {
		return argErr("processLeafSub", args)
	}
	subject := a[0]
	var queue []byte
	if n == 3 {
		queue = a[1]
	}
	if !c.srv.leafShares(bytesToString(subject)) {
		return nil
	}
	if ls := c.srv.leafs.Load(); ls != nil && string(subject) == ls.lds {
		return c.leafLoopDetected()
	}
	if !c.canSubscribe(bytesToString(subject), bytesToString(queue)) {
		c.srv.Debugf("%s - leafnode subscription to %q not allowed, ignored", c.logPrefix(), subject)
		return nil
	}
	if !IsValidSubject(bytesToString(subject)) {
		c.srv.Debugf("%s - invalid leafnode subscription subject %q", c.logPrefix(), subject)
		return nil
	}
	key := string(subject)
	if len(queue) > 0 {
		key += " " + string(queue)
	}
	lc := c.leaf
	c.mu.Lock()
	_, dup := lc.subs[key]
	acc := c.acc
	c.mu.Unlock()
	if dup || acc == nil {
		return nil
	}
	sub := &subscription{client: c, subject: string(subject), queue: string(queue), sid: key}
	if err := c.srv.addSubInterest(acc, sub); err != nil {
		return nil
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		lc.subs[key] = sub
	}
	c.mu.Unlock()
	if closed {
		c.srv.removeSubInterest(acc, sub)
	}
	return nil
}

// leafMinVersionText starts the error a hub sends a leaf older than its
// min_version; the leaf then waits leafMinVersionDelay, as the reference.
const (
	leafMinVersionText  = "connection rejected since minimum version required is"
	leafMinVersionDelay = 5 * time.Second
)

// leafLoopDelay is how long a leaf waits before connecting again after
// a loop was detected, as the reference.
const leafLoopDelay = 30 * time.Second

// leafLoopDetected closes a connection that brought back our own loop
// detection subject: the leaf nodes form a cycle. The other side is told
// why (and waits leafLoopDelay before it connects again), as the
// reference does.
func (c *client) leafLoopDetected() error {
	msg := fmt.Sprintf("Loop detected for leafnode account=%q. Delaying attempt to reconnect for %v", c.acc.Name, leafLoopDelay)
	c.srv.Errorf("%s - %s", c.logPrefix(), msg)
	c.leaf.waitBefore.Store(int64(leafLoopDelay))
	return &protoErr{msg: msg, close: true, reason: ProtocolViolation}
}

// processLeafUnsub handles LS- subject [queue].
func (c *client) processLeafUnsub(args []byte) error {
	var a [3][]byte
	n := splitArgs(args, a[:])
	if n < 1 || n > 2 {
		return argErr("processLeafUnsub", args)
	}
	key := string(a[0])
	if n == 2 {
		key += " " + string(a[1])
	}
	c.mu.Lock()
	sub, ok := c.leaf.subs[key]
	delete(c.leaf.subs, key)
	acc := c.acc
	c.mu.Unlock()
	if !ok {
		return nil
	}
	sub.closed.Store(true)
	c.srv.removeSubInterest(acc, sub)
	return nil
}

// processLeafMsgArgs parses LMSG/HMSG: the routed forms without account.
func (c *client) processLeafMsgArgs(args []byte, withHdr bool) error {
	var a [16][]byte
	n := splitArgs(args, a[:])
	if n > len(a) {
		return c.setRoutedMsgArgs(bytes.Fields(args), args, withHdr, false)
	}
	return c.setRoutedMsgArgs(a[:n], args, withHdr, false)
}

// leafShares reports whether interest in subject crosses a leaf
// connection. A server with JetStream answers its own `$JS.API.>` and
// neither tells nor takes that interest: the other side's JetStream is
// reached through its domain (`$JS.<domain>.API.>`, which crosses).
//
// The configuration says whether this server runs JetStream: s.info is
// written under s.mu when JetStream finishes starting, while streams
// recovered before that already subscribe (their copies' deliver subjects).
func (s *Server) leafShares(subject string) bool {
	if len(subject) < 4 || subject[:4] != "$JS." || !s.getOpts().JetStream {
		return true
	}
	return !strings.HasPrefix(subject, "$JS.API.") && subject != "$JS.>"
}

// processMsg delivers a message from the other side as a publish in the
// bound account: to local subscribers, routes and the other leaf
// connections (deliverResult), queue groups only if the LMSG names them.
func (leafProtocol) processMsg(c *client, msg []byte) {
	hdr, payload := c.readPeerMsg(msg)
	if c.acc == nil {
		return
	}
	subject := bytesToString(c.pa.subject)
	if !c.canPublish(subject) {
		c.srv.Debugf("%s - leafnode message on %q not allowed, dropped", c.logPrefix(), subject)
		return
	}
	r := c.match(subject)
	if shown, reply, ok := splitDeliverReply(c.pa.reply); ok {
		// A consumer's delivery: shown under the stream's subject.
		c.deliverResultAs(r, subject, shown, reply, hdr, payload)
	} else {
		c.deliverResult(r, subject, c.pa.reply, hdr, payload)
	}
	c.rc.release(r)
}
