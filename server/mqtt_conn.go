package server

// MQTT connections: the listener, the connection's state, its reader (MQTT
// frames are length-prefixed, not lines: mqttRead frames them with
// mqttFrame and dispatches whole packets), CONNECT with authentication,
// keep-alive, and what happens when the connection ends (will message,
// clean session).
//
// An MQTT connection is a client of kind CLIENT with c.mq set: its
// subscriptions are ordinary subscriptions in the account's index (so
// routes see them), its publishes go through the same delivery as a NATS
// client's, and deliveries to it are turned into PUBLISH packets
// (mqtt_deliver.go).

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// mqttListener is the running MQTT listener.
type mqttListener struct {
	ln   net.Listener
	port int
	tls  bool
	cur  atomic.Pointer[tls.Config]
}

// mqttConn is the MQTT state of one connection.
type mqttConn struct {
	// Owned by the reading goroutine.
	pending   []byte // a packet split across reads
	connected bool
	v5        bool
	clientID  string // reader writes, under client.mu
	ma        *mqttAccount
	sess      *mqttSession
	will      *mqttWill // copied out of the CONNECT
	pub       mqttPublish
	sbuf      []byte            // subject scratch
	stbuf     []byte            // scratch of a QoS 1/2 message's subject in its stream
	ackbuf    []byte            // scratch of the ack subject of a delivery acknowledged
	abuf      []byte            // scratch of the reply subject its PubAck comes to
	hbuf      []byte            // header scratch
	aliases   map[uint16]string // MQTT 5 topic aliases the client set
	keepAlive time.Duration

	// Guarded by client.mu.
	graceful bool // DISCONNECT received: no will
	willDel  bool // MQTT 5 DISCONNECT 0x04: will anyway
	obuf     []byte
	tbuf     []byte
	pbuf     []byte // a delivery's MQTT 5 properties (hbuf is the reader's)
	nextPI   uint16
	inflight map[uint16]*mqttInflight
	free     []*mqttInflight // records acknowledged, for reuse (newInflight)
	bySeq    map[mqttSeqKey]uint16
	pubrel   map[uint16]struct{}      // QoS 2 out: PUBREL sent, PUBCOMP awaited
	recvMax  int                      // MQTT 5 receive maximum: QoS 1/2 in flight at most, 0 no limit
	inbound  map[uint16]struct{}      // MQTT 5: packet identifiers of QoS 1/2 PUBLISHes not yet PUBACKed/PUBCOMPed
	held     map[uint16]*mqttQoS2Held // incoming QoS 2 messages stored, until PUBREL (mqtt_qos2.go)
	inMax    int                      // MQTT 5: the server's receive maximum, as CONNACK said
	deferred []string                 // ack subjects of deliveries held back by recvMax (mqtt_v5.go)
	lost     []string                 // ack subjects of deliveries after close
	kaTimer  *time.Timer

	// done is closed once the connection's session has ended (mqttClosed).
	done chan struct{}
}

// mqttInflight is a QoS 1/2 message sent to the client and not yet
// acknowledged: the JetStream ack subject that acknowledges it.
type mqttInflight struct {
	ack []byte
	key mqttSeqKey
	qos byte
}

// mqttSeqKey identifies a stored message delivered on one subscription, so
// that a redelivery reuses the packet identifier (with DUP set).
type mqttSeqKey struct {
	deliver string
	seq     uint64
}

// startMQTT opens the MQTT listener when the block sets a port.
func (s *Server) startMQTT() error {
	o := s.getOpts().MQTT
	if o.Port == 0 {
		return nil
	}
	host := o.Host
	if host == "" {
		host = DEFAULT_HOST
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(max(o.Port, 0))))
	if err != nil {
		return fmt.Errorf("Unable to listen for MQTT connections: %v", err)
	}
	ml := &mqttListener{ln: l, port: l.Addr().(*net.TCPAddr).Port}
	scheme := "mqtt"
	if o.TLS != nil {
		cfg, err := GenTLSConfig(o.TLS)
		if err != nil {
			l.Close()
			return err
		}
		ml.tls = true
		ml.cur.Store(cfg)
		l = tls.NewListener(l, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return ml.cur.Load(), nil
		}})
		scheme = "tls"
	}
	s.mu.Lock()
	s.mqttl = ml
	s.mu.Unlock()
	s.Noticef("Listening for MQTT clients on %s://%s", scheme, net.JoinHostPort(host, strconv.Itoa(ml.port)))
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.mqttRestoreAccounts() // mqtt_timers.go
	}()
	go func() {
		defer s.wg.Done()
		stopped := func() bool { return s.isShuttingDown() || s.ldm.Load() }
		s.acceptConns(l, "MQTT ", s.quitCh, stopped, func(conn net.Conn) bool {
			s.createMQTTClient(conn, nil)
			return true
		})
	}()
	return nil
}

// stopMQTT closes the listener and stops the timers of disconnected
// MQTT 5 sessions; open MQTT clients close with the others.
func (s *Server) stopMQTT() {
	s.mu.Lock()
	ml := s.mqttl
	s.mu.Unlock()
	if ml != nil {
		ml.ln.Close()
	}
	s.mqtt.mu.Lock()
	accounts := make([]*mqttAccount, 0, len(s.mqtt.accounts))
	for _, ma := range s.mqtt.accounts {
		accounts = append(accounts, ma)
	}
	s.mqtt.mu.Unlock()
	for _, ma := range accounts {
		ma.stopAllTimers() // mqtt_timers.go
	}
}

// MQTTAddr is the MQTT listener's address, nil without one.
func (s *Server) MQTTAddr() *net.TCPAddr {
	s.mu.Lock()
	ml := s.mqttl
	s.mu.Unlock()
	if ml == nil {
		return nil
	}
	return ml.ln.Addr().(*net.TCPAddr)
}

// mqttAuthTimeout is how long an MQTT client has for TLS and CONNECT.
func mqttAuthTimeout(o *Options) time.Duration {
	if o.MQTT.AuthTimeout > 0 {
		return secondsToDuration(o.MQTT.AuthTimeout)
	}
	return secondsToDuration(o.AuthTimeout)
}

// createMQTTClient sets up an MQTT connection. Until CONNECT is accepted
// the socket has a deadline (the auth timeout), which also bounds a TLS
// handshake; there is no INFO and no NATS PING.
func (s *Server) createMQTTClient(conn net.Conn, ws *wsConn) {
	o := s.getOpts()
	c := &client{
		cid:        s.gcid.Add(1),
		kind:       CLIENT,
		srv:        s,
		nc:         conn,
		start:      time.Now(),
		subs:       make(map[string]*subscription),
		pcd:        make(map[*client]struct{}),
		acc:        s.gacc,
		mpay:       o.MaxPayload,
		mcl:        o.MaxControlLine,
		msubs:      int32(o.MaxSubs),
		writerDone: make(chan struct{}),
		mq:         &mqttConn{done: make(chan struct{})},
		ws:         ws, // MQTT over websocket (mqtt_websocket.go)
	}
	c.echo, c.headers = true, true
	c.pa.hdr = -1
	c.out.sg = make(chan struct{}, 1)
	c.out.mp = o.MaxPending
	c.out.csz = minOutChunk
	if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.host, c.port = addr.IP.String(), addr.Port
	}
	if tc, ok := conn.(*tls.Conn); ok {
		c.tls.conn = tc
	} else if ws != nil {
		c.tls.conn = wsTLSConn(conn)
	}
	c.authRequired = mqttAuthConfigured(o)
	_ = conn.SetDeadline(time.Now().Add(mqttAuthTimeout(o)))

	tooMany, ok := s.registerClient(c, conn)
	if !ok {
		return
	}
	c.mu.Lock()
	if tooMany {
		c.closed, c.reason = true, MaxConnectionsExceeded
		c.mu.Unlock()
		s.Errorf("%s - maximum connections exceeded", c.logPrefix())
		go c.writeLoop()
		return
	}
	if !c.closed {
		c.acc.addClient(c)
	}
	c.mu.Unlock()
	s.Debugf("%s - Client connection created", c.logPrefix())
	go c.writeLoop()
	go c.readLoop()
}

// mqttVarz is the mqtt block of /varz.
func (s *Server) mqttVarz(o *Options) MQTTOptsVarz {
	mo := &o.MQTT
	if mo.Port == 0 {
		return MQTTOptsVarz{}
	}
	v := MQTTOptsVarz{
		Host: mo.Host, Port: mo.Port, NoAuthUser: mo.NoAuthUser, AuthTimeout: mo.AuthTimeout,
		TLSTimeout: TLSTimeout(mo.TLS).Seconds(), JsDomain: mo.JsDomain, AckWait: mo.AckWait, MaxAckPending: mo.MaxAckPending,
	}
	if addr := s.MQTTAddr(); addr != nil {
		v.Port = addr.Port
	}
	if mo.TLS != nil {
		v.TLSMap = mo.TLS.Map
		v.TLSPinnedCerts = mo.TLS.PinnedCerts
		s.mu.Lock()
		if s.mqttl != nil {
			if cfg := s.mqttl.cur.Load(); cfg != nil {
				v.TLSCertNotAfter = certNotAfter(cfg)
			}
		}
		s.mu.Unlock()
	}
	return v
}

// mqttErr closes the connection for a protocol error, logged with text.
func mqttErr(format string, a ...any) error {
	return &protoErr{close: true, reason: ProtocolViolation, log: fmt.Sprintf(format, a...)}
}

// mqttRead frames and handles the MQTT packets in b; a packet split across
// reads waits in mq.pending.
func (c *client) mqttRead(b []byte) error {
	mq := c.mq
	buf := b
	if len(mq.pending) > 0 {
		mq.pending = append(mq.pending, b...)
		buf = mq.pending
	}
	maxLen := int(c.mpay) + 65536
	for len(buf) > 0 {
		typ, body, n, err := mqttFrame(buf, maxLen)
		if err != nil {
			return mqttErr("%v", err)
		}
		if n == 0 {
			break
		}
		if err := c.mqttPacket(typ, body); err != nil {
			return err
		}
		buf = buf[n:]
	}
	switch {
	case len(buf) == 0:
		mq.pending = mq.pending[:0]
	case len(mq.pending) > 0:
		mq.pending = mq.pending[:copy(mq.pending, buf)]
	default:
		mq.pending = append(mq.pending[:0], buf...)
	}
	return nil
}

// mqttPacket handles one packet.
func (c *client) mqttPacket(typ byte, body []byte) error {
	mq := c.mq
	kind, flags := typ&0xf0, typ&0x0f
	if kind == mqttPacketConnect {
		if mq.connected {
			return mqttErr("second CONNECT packet")
		}
		return c.mqttConnect(body)
	}
	if !mq.connected {
		return mqttErr("first packet should be a CONNECT")
	}
	switch kind {
	case mqttPacketPublish:
		return c.mqttPublish(flags, body)
	case mqttPacketPubAck, mqttPacketPubRec, mqttPacketPubRel, mqttPacketPubComp:
		if (kind == mqttPacketPubRel) != (flags == 0x02) || (kind != mqttPacketPubRel && flags != 0) {
			return mqttErr("invalid flags for packet type %d", kind>>4)
		}
		pi, reason, err := mqttParseAck(body, mq.v5)
		if err != nil {
			return mqttErr("%v", err)
		}
		c.mqttAck(kind, pi, reason)
	case mqttPacketSubscribe, mqttPacketUnsubscribe:
		if flags != 0x02 {
			return mqttErr("invalid flags for packet type %d", kind>>4)
		}
		return c.mqttSubscribe(kind == mqttPacketSubscribe, body)
	case mqttPacketAuth:
		return c.mqttAuthPacket()
	case mqttPacketPingReq:
		c.mqttSend([]byte{mqttPacketPingResp, 0})
	case mqttPacketDisconnect:
		reason, props, err := mqttParseDisconnect(body, mq.v5)
		if err != nil {
			return mqttErr("%v", err)
		}
		if mq.v5 && props.present(mqttPropSessionExpiry) && mq.sess != nil {
			mq.sess.expiry = props.sessionExpiry
		}
		c.mu.Lock()
		c.mq.graceful = true
		c.mq.willDel = reason == 0x04
		c.mu.Unlock()
		c.closeConnection(ClientClosed)
		return errClosedConn
	default:
		return mqttErr("unsupported packet type %d", kind>>4)
	}
	return nil
}

// mqttSend queues a packet from the connection's reader.
func (c *client) mqttSend(b []byte) {
	c.mu.Lock()
	c.queueOutbound(b)
	c.mu.Unlock()
	c.addToFlush(c)
}

// mqttSendAck queues an acknowledgement of an incoming PUBLISH from any
// goroutine (mqttAckIn from the reader).
func (c *client) mqttSendAck(typ byte, pi uint16, reason byte) {
	c.mu.Lock()
	c.mqttQueueAck(typ, pi, reason)
	c.mu.Unlock()
	c.signalFlush()
}

// mqttAckIn queues an acknowledgement of an incoming PUBLISH from the
// connection's reader.
func (c *client) mqttAckIn(typ byte, pi uint16, reason byte) {
	c.mu.Lock()
	c.mqttQueueAck(typ, pi, reason)
	c.mu.Unlock()
	c.addToFlush(c)
}

// mqttQueueAck queues PUBACK, PUBREC or PUBCOMP for an incoming PUBLISH;
// the one that ends its flow frees its place under the server's receive
// maximum (mqtt_v5.go). Lock held.
func (c *client) mqttQueueAck(typ byte, pi uint16, reason byte) {
	var b [5]byte
	c.queueOutbound(mqttAppendAck(b[:0], typ, pi, reason))
	if typ != mqttPacketPubRec || reason >= 0x80 {
		delete(c.mq.inbound, pi)
	}
}

// mqttAuthConfigured reports whether MQTT clients must authenticate.
func mqttAuthConfigured(o *Options) bool {
	return o.MQTT.Username != "" || o.MQTT.Token != "" || authConfigured(o)
}

// mqttAuthenticate checks an MQTT client's credentials: against the mqtt
// authorization when it names a user or token, else as any client with
// the mqtt no_auth_user and connection type MQTT.
func mqttAuthenticate(o *Options, c *client, co *ClientOpts) (*authResult, bool) {
	mo := &o.MQTT
	switch {
	case mo.Username != "":
		if co.Username == mo.Username && comparePasswords(mo.Password, co.Password) {
			return &authResult{user: co.Username, perms: o.DefaultPermissions}, true
		}
		return nil, false
	case mo.Token != "":
		if comparePasswords(mo.Token, co.Token) {
			return &authResult{perms: o.DefaultPermissions}, true
		}
		return nil, false
	}
	noAuth := mo.NoAuthUser
	if noAuth == "" {
		noAuth = o.NoAuthUser
	}
	return authenticateAs(o, co, "", c.connType(), noAuth)
}

// mqttCheckAuthentication is checkAuthentication for MQTT clients.
func (s *Server) mqttCheckAuthentication(c *client, co *ClientOpts) (*authResult, bool) {
	if res, ok := mqttAuthenticate(s.getOpts(), c, co); ok {
		return res, true
	}
	s.logAuthFailure(c, co)
	return nil, false
}

// mqttConnAck sends CONNACK; for MQTT 5 the 3.1.1 codes become reason
// codes and props (already encoded) follow.
func (c *client) mqttConnAck(present bool, code byte, props []byte) {
	var b []byte
	flags := byte(0)
	if present {
		flags = 1
	}
	if c.mq.v5 {
		code = mqttV5ConnAckCode(code)
		body := append([]byte{flags, code}, mqttAppendVarInt(nil, len(props))...)
		body = append(body, props...)
		b = append([]byte{mqttPacketConnAck}, mqttAppendVarInt(nil, len(body))...)
		b = append(b, body...)
	} else {
		b = []byte{mqttPacketConnAck, 2, flags, code}
	}
	c.mqttSend(b)
}

// mqttV5ConnAckCode maps a 3.1.1 return code to its MQTT 5 reason code.
func mqttV5ConnAckCode(code byte) byte {
	switch code {
	case mqttConnAckBadProtocol:
		return 0x84
	case mqttConnAckIDRejected:
		return 0x85
	case mqttConnAckServerUnavailable:
		return 0x88
	case mqttConnAckBadCredentials:
		return 0x86
	case mqttConnAckNotAuthorized:
		return 0x87
	}
	return code
}

// mqttRefuse answers a CONNECT with an error code and closes.
func (c *client) mqttRefuse(code byte, reason ClosedState, log string) error {
	c.mqttConnAck(false, code, nil)
	return &protoErr{close: true, reason: reason, log: log}
}

// mqttConnect handles CONNECT: protocol level, client id, credentials,
// the account's MQTT streams, takeover of a connection with the same
// client id, the session, CONNACK, keep-alive.
func (c *client) mqttConnect(body []byte) error {
	s, mq := c.srv, c.mq
	cp, err := mqttParseConnect(body)
	if err == errMQTTBadLevel {
		c.mqttConnAck(false, mqttConnAckBadProtocol, nil)
		return &protoErr{close: true, reason: ProtocolViolation, log: fmt.Sprintf("unsupported MQTT protocol level %d", cp.level)}
	}
	if err != nil {
		return mqttErr("%v", err)
	}
	mq.v5 = cp.level == 5
	if mq.v5 && cp.props.present(mqttPropAuthMethod) {
		return c.mqttRefuseAuthMethod(cp.props.authMethod) // mqtt_v5.go
	}
	clean := cp.flags&mqttConnFlagClean != 0
	var assigned string
	id := string(cp.clientID)
	if id == "" {
		if !clean && !mq.v5 {
			return c.mqttRefuse(mqttConnAckIDRejected, ProtocolViolation, "client id is empty and clean session is false")
		}
		id = randToken(16)
		assigned = id
	}
	if !mqttValidClientID(id) {
		return c.mqttRefuse(mqttConnAckIDRejected, ProtocolViolation, fmt.Sprintf("invalid character in client ID %q", id))
	}
	c.mu.Lock()
	mq.clientID = id // read by monitoring under the lock
	c.mu.Unlock()
	co := ClientOpts{Username: string(cp.username), Password: string(cp.password)}
	if co.Username == "" {
		co.Token = co.Password
	}
	if err := c.authenticateConnect(&co); err != nil {
		if err == errAuthFirst {
			return c.mqttRefuse(mqttConnAckNotAuthorized, AuthenticationViolation, "unable to connect: authentication error")
		}
		return err
	}
	if cp.will != nil {
		w := *cp.will
		w.topic = append([]byte(nil), w.topic...)
		w.payload = append([]byte(nil), w.payload...)
		w.delay = cp.will.props.willDelay
		if mq.v5 {
			if err := c.mqttWillProps(&w); err != nil {
				return err
			}
		}
		w.props = mqttProps{} // viewed the CONNECT's bytes
		subj, err := mqttTopicToSubject(nil, w.topic, false)
		if err != nil || !c.canPublish(string(subj)) {
			return c.mqttRefuse(mqttConnAckNotAuthorized, AuthenticationViolation, "not authorized to publish the will message on "+string(w.topic))
		}
		mq.will = &w
	}
	ma, err := s.mqttAccountFor(c.acc)
	if err != nil {
		s.Errorf("%s - unable to start MQTT for account %q: %v", c.logPrefix(), c.acc.Name, err)
		return c.mqttRefuse(mqttConnAckServerUnavailable, ServerShutdown, "")
	}
	mq.ma = ma
	if old := ma.register(c, mq.clientID); old != nil && old != c {
		s.Warnf("%s - Replacing old client %q since both have the same client ID %q", c.logPrefix(), old.logPrefix(), mq.clientID)
		old.closeConnection(DuplicateClientID)
		old.mqttWaitClosed()
	}
	ma.stopTimers(mq.clientID)
	persist := !clean
	if mq.v5 {
		persist = cp.props.sessionExpiry > 0
	}
	present, err := c.mqttStartSession(clean, persist, cp.props.sessionExpiry)
	if err != nil {
		s.Errorf("%s - unable to load the MQTT session of %q: %v", c.logPrefix(), mq.clientID, err)
		return c.mqttRefuse(mqttConnAckServerUnavailable, ServerShutdown, "")
	}
	if err := c.mqttSetReceiveMaximum(&cp.props); err != nil {
		return err
	}
	mq.keepAlive = time.Duration(cp.keepAlive) * time.Second
	mq.connected = true
	_ = c.nc.SetDeadline(time.Time{})
	c.mqttConnAck(present, mqttConnAckAccepted, c.mqttConnAckProps(assigned))
	c.mqttStartKeepAlive()
	s.sendConnectEvent(c)
	return c.mqttResumeSession()
}

// mqttConnAckProps are the MQTT 5 CONNACK properties: what this server
// supports and, for an empty client id, the one assigned.
func (c *client) mqttConnAckProps(assigned string) []byte {
	if !c.mq.v5 {
		return nil
	}
	var p []byte
	if assigned != "" {
		p = append(p, mqttPropAssignedClientID)
		p = mqttAppendString(p, assigned)
	}
	p = append(p, mqttPropTopicAliasMaximum)
	p = mqttAppendUint16(p, mqttMaxTopicAlias)
	c.mq.inMax = c.srv.getOpts().MQTT.maxAckPending()
	p = append(p, mqttPropReceiveMaximum)
	p = mqttAppendUint16(p, uint16(c.mq.inMax))
	p = append(p, mqttPropSubIDAvailable, 0)
	p = append(p, mqttPropMaximumPacketSize)
	n := uint32(c.mpay) + 65536
	p = append(p, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return p
}

// mqttMaxTopicAlias is how many topic aliases a client may set.
const mqttMaxTopicAlias = 128

// mqttStartKeepAlive closes the connection when nothing arrives within one
// and a half times the keep-alive, as MQTT 3.1.1 section 3.1.2.10 says.
func (c *client) mqttStartKeepAlive() {
	ka := c.mq.keepAlive
	if ka <= 0 {
		return
	}
	limit := ka * 3 / 2
	var check func()
	check = func() {
		idle := time.Since(time.Unix(0, c.lastActive.Load()))
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		if idle >= limit {
			c.srv.Debugf("%s - Client connection closed: keep alive deadline", c.logPrefix())
			c.srv.staleConnections.Add(1)
			c.markClosed(StaleConnection)
			return
		}
		c.mq.kaTimer.Reset(limit - idle)
	}
	c.mu.Lock()
	c.mq.kaTimer = time.AfterFunc(limit, check)
	c.mu.Unlock()
}

// mqttWaitClosed waits, bounded, for a replaced connection's clean-up, so
// that its session is not torn down under its successor.
func (c *client) mqttWaitClosed() {
	t := time.NewTimer(c.srv.getOpts().MQTT.apiTimeout())
	defer t.Stop()
	select {
	case <-c.mq.done:
	case <-t.C:
	}
}

// mqttClosed runs when an MQTT connection is removed: the will message
// unless it ended with DISCONNECT, then the session's end.
func (c *client) mqttClosed() {
	mq := c.mq
	defer close(mq.done)
	c.mu.Lock()
	graceful, willAnyway, reason := mq.graceful, mq.willDel, c.reason
	if mq.kaTimer != nil {
		mq.kaTimer.Stop()
	}
	c.mu.Unlock()
	if mq.ma == nil {
		return
	}
	c.releaseSubs()
	c.mqttReturnInflight()
	c.mqttEndSession(reason == ServerShutdown)
	mq.ma.unregister(c, mq.clientID)
	if reason == ServerShutdown {
		return
	}
	c.mqttDisconnected(mq.will != nil && (!graceful || willAnyway)) // mqtt_timers.go
}
