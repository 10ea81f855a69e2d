package server

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Connection kinds: each peer type has its own protocol handler
// (protoHandler, proto.go) and its own rules for interest (interest.go).
const (
	CLIENT  = iota
	SYSTEM  // a server-internal connection with no socket
	ROUTER  // a route to another server of the cluster (route.go)
	GATEWAY // a gateway to another cluster (gateway.go)
	LEAF    // a leaf node connection, either side (leafnode.go)
)

// ClientOpts is the JSON body of CONNECT.
type ClientOpts struct {
	Echo         bool   `json:"echo"`
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	TLSRequired  bool   `json:"tls_required"`
	Nkey         string `json:"nkey,omitempty"`
	JWT          string `json:"jwt,omitempty"`
	Sig          string `json:"sig,omitempty"`
	Token        string `json:"auth_token,omitempty"`
	Username     string `json:"user,omitempty"`
	Password     string `json:"pass,omitempty"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	Protocol     int    `json:"protocol"`
	Account      string `json:"account,omitempty"`
	AccountNew   bool   `json:"new_account,omitempty"`
	Headers      bool   `json:"headers,omitempty"`
	NoResponders bool   `json:"no_responders,omitempty"`
}

// Before CONNECT, and for fields CONNECT leaves out, a connection is verbose
// and pedantic, as with the reference.
var defaultClientOpts = ClientOpts{Verbose: true, Pedantic: true, Echo: true}

// msgHandler is the delivery callback of a server-internal subscription. It
// runs on the publisher's goroutine and must not keep the slices.
type msgHandler func(sub *subscription, c *client, acc *Account, subject, reply string, hdr, msg []byte)

type subscription struct {
	client  *client
	subject string
	queue   string
	sid     string
	icb     msgHandler
	imp     *importRoute // set on the internal subscription carrying an import
	mqtt    *mqttSub     // set on the subscriptions of MQTT connections (mqtt_session.go)
	nm      atomic.Int64 // messages delivered
	max     atomic.Int64 // auto-unsubscribe after this many; 0 = no limit
	closed  atomic.Bool
}

type client struct {
	// Set at creation and then read-only.
	cid        uint64
	kind       int
	srv        *Server
	nc         net.Conn
	start      time.Time
	host       string
	port       int
	nonce      string // nkey challenge sent in INFO
	writerDone chan struct{}
	proto      protoHandler // the kind's protocol (proto.go)
	route      *routeConn   // ROUTER only (route.go)
	leaf       *leafConn    // LEAF only (leafnode.go)
	gw         *gwConn      // GATEWAY only (gateway.go)

	// Guarded by mu: read and written under it. Fields marked "reader
	// writes" are written only by the reading goroutine (under mu), which
	// may therefore read them without it; every other goroutine locks.
	mu        sync.Mutex
	acc       *Account   // reader writes (bindAccount)
	opts      ClientOpts // reader writes (CONNECT)
	headers   bool       // reader writes (CONNECT); read by publishers
	subs      map[string]*subscription
	out       outbound
	closed    bool
	reason    ClosedState
	stop      time.Time
	pingsOut  int
	lastRTT   time.Duration
	rttStart  time.Time
	authTimer *time.Timer
	pingTimer *time.Timer
	tls       clientTLS // see tls_client.go
	ws        *wsConn   // websocket state, nil for plain connections; set at creation
	mq        *mqttConn // MQTT state, nil for other connections; set at creation (mqtt_conn.go)
	authDone  bool      // CONNECT accepted
	user      string    // authenticated user or nkey
	perms     *clientPerms
	jwt       *jwtConn              // reader writes: a user JWT's claims and limits (jwt_auth.go)
	replies   map[string]*respEntry // reply subjects a responder may use

	lastActive atomic.Int64 // unix nanos of the last message in or out
	permGen    atomic.Uint64

	// Owned by the reading goroutine.
	ps           parseState
	pa           pubArg
	pbuf         []byte // control line split across reads
	pmsg         []byte // payload split across reads
	abuf         []byte // copied arguments of a split PUB
	parseRest    []byte // what a parse ended by errSwitchReader left unread
	localOnly    bool   // an internal publisher whose messages stay on this server
	pcd          map[*client]struct{}
	rc           *connMatchCache
	connected    bool
	infoSent     bool // the INFO that follows the first PONG after CONNECT
	authRequired bool
	verbose      bool
	pedantic     bool
	echo         bool
	noResponders bool
	mpay         int32
	mcl          int32
	msubs        int32
	limitsGen    uint64   // Server.limitsGen that mpay, mcl and msubs match
	hdrBuf       []byte   // scratch for no-responder headers
	inlineHeld   [][]byte // scratch for inline flushes of this connection
	mbuf         []byte   // scratch for mapped subjects
	// pushSubject is set by a consumer worker's client while it delivers a
	// consumer's message: the message travels on this subject (the deliver
	// subject, or a pull request's reply) but shows the stream's subject,
	// and imports and response routes carry it on.
	pushSubject string
	stall       chan struct{} // a receiver's queue this reader must wait for
	stallTimer  *time.Timer
	rperms      *clientPerms    // reader's copy of perms
	pcache      map[string]bool // publish decisions
	pcacheGen   uint64
	pend        pendingStats // counts not yet in the atomics below

	inMsgs   atomic.Int64
	inBytes  atomic.Int64
	outMsgs  atomic.Int64
	outBytes atomic.Int64
}

// bytesToString views b as a string without copying. The caller must not let
// the string outlive the bytes' current contents.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (c *client) logPrefix() string {
	tag := " - cid:"
	if c.ws != nil && c.mq != nil {
		tag = " - mid_ws:" // MQTT over websocket, as the reference tags it
	} else if c.kind == LEAF && c.ws != nil {
		tag = " - lid_ws:" // as the reference tags websocket leaf nodes
	} else if c.ws != nil {
		tag = " - wid:" // as the reference tags websocket clients
	} else if c.mq != nil {
		tag = " - mid:" // and MQTT clients
	} else if c.kind == ROUTER {
		tag = " - rid:"
	} else if c.kind == LEAF {
		tag = " - lid:"
	} else if c.kind == GATEWAY {
		tag = " - gid:"
	}
	return c.host + ":" + strconv.Itoa(c.port) + tag + strconv.FormatUint(c.cid, 10)
}

// readLoop reads and parses until the connection ends.
func (c *client) readLoop() {
	s := c.srv
	nc := c.ioConn() // a route's TLS connection is ready before its reader starts
	if c.tls.mode != tlsNone {
		var ok bool
		if nc, ok = c.tlsUpgrade(); !ok {
			return
		}
	}
	b := make([]byte, startBufSize)
	var sizer readSizer
	var rd io.Reader = nc // a route's inflater once it compresses
	if c.parseRest != nil {
		// A TLS leaf's first INFO, parsed before, switched to compression.
		rd, c.parseRest = newRouteInflater(rd, c.parseRest), nil
	}
	for {
		n, err := rd.Read(b)
		fanout := false
		if n > 0 {
			c.lastActive.Store(time.Now().UnixNano())
			if g := s.limitsGen.Load(); g != c.limitsGen {
				c.loadLimits(g) // a reload changed them
			}
			var perr error
			if c.ws != nil {
				perr = c.wsRead(b[:n])
			} else if c.mq != nil {
				perr = c.mqttRead(b[:n])
			} else {
				perr = c.parse(b[:n])
				if perr == errSwitchReader {
					rd, perr = newRouteInflater(rd, c.parseRest), nil
					c.parseRest = nil
				}
			}
			c.flushStats()
			if perr != nil {
				c.flushClients(false)
				c.handleProtoErr(perr)
				return
			}
			fanout = c.queuedForOthers()
			c.flushClients(n <= maxInlineRead)
			c.waitStall()
		}
		if err != nil {
			// A clean EOF is the client closing; anything else (a reset, say)
			// is reported as a read error, as the reference does.
			reason := ClientClosed
			if !errors.Is(err, io.EOF) {
				reason = ReadError
			}
			c.closeConnection(reason)
			return
		}
		b = sizer.next(b, n, fanout)
		if s.isShuttingDown() {
			return
		}
	}
}

// handleProtoErr reports a parse or protocol error and closes if it must.
func (c *client) handleProtoErr(err error) {
	pe, ok := err.(*protoErr)
	if !ok {
		c.closeConnection(ProtocolViolation)
		return
	}
	if pe.msg != "" {
		c.sendErr(pe.msg)
	}
	if pe.log != "" {
		c.srv.Errorf("%s - %s", c.logPrefix(), pe.log)
	}
	if pe.close {
		c.closeConnection(pe.reason)
	}
}

// sendErr queues "-ERR 'msg'" and wakes the writer.
func (c *client) sendErr(msg string) {
	if c.mq != nil {
		return // MQTT has no error text; the caller closes or ignores
	}
	c.mu.Lock()
	c.queueOutbound([]byte("-ERR '" + msg + "'\r\n"))
	c.mu.Unlock()
	c.addToFlush(c)
	if c.tracing() {
		c.traceOut("-ERR '" + msg + "'")
	}
}

// closeWithErr sends -ERR 'msg' and closes; safe from any goroutine.
func (c *client) closeWithErr(msg string, reason ClosedState) {
	c.mu.Lock()
	c.queueOutbound([]byte("-ERR '" + msg + "'\r\n"))
	c.markClosed(reason)
	c.mu.Unlock()
}

// sendProto queues raw protocol bytes to this client.
func (c *client) sendProto(b []byte) {
	c.mu.Lock()
	c.queueOutbound(b)
	c.mu.Unlock()
	c.addToFlush(c)
}

var (
	protoOK   = []byte("+OK\r\n")
	protoPing = []byte("PING\r\n")
	protoPong = []byte("PONG\r\n")
)

func (c *client) sendOK() { c.sendProto(protoOK) }

// addToFlush records r as needing a flush when this reader's batch ends.
// From goroutines that are not a connection's reader, it flushes at once,
// unless they keep a pending set of their own (a stream's ingest round).
func (c *client) addToFlush(r *client) {
	if c.pcd == nil {
		r.signalFlush()
		return
	}
	c.pcd[r] = struct{}{}
}

func (c *client) processPing() {
	c.sendProto(protoPong)
	if c.connected && !c.infoSent {
		c.infoSent = true
		c.sendConnectInfo()
	}
}

func (c *client) processPong() {
	c.mu.Lock()
	c.pingsOut = 0
	if !c.rttStart.IsZero() {
		c.lastRTT = time.Since(c.rttStart)
		c.rttStart = time.Time{}
	}
	c.mu.Unlock()
}

func (c *client) processConnect(arg []byte) error {
	opts := defaultClientOpts
	if err := json.Unmarshal(arg, &opts); err != nil {
		return &protoErr{close: true, reason: ProtocolViolation, log: "processConnect Parse Error: " + err.Error()}
	}
	if c.ws != nil {
		c.ws.applyCookies(&opts)
	}
	if opts.Protocol < 0 || opts.Protocol > PROTO {
		return errBadClientProto
	}
	if c.srv.getOpts().NoHeaderSupport {
		opts.Headers = false // INFO said headers:false
	}
	if opts.NoResponders && !opts.Headers {
		return errNoRespNoHdr
	}
	s := c.srv
	// The first RTT is INFO to CONNECT, so /connz shows one at once, as the
	// reference does.
	c.mu.Lock()
	closed := c.closed
	if c.lastRTT == 0 {
		c.lastRTT = time.Since(c.start)
	}
	c.mu.Unlock()
	if closed {
		return c.connectAfterClose()
	}
	if err := c.authenticateConnect(&opts); err != nil {
		return err
	}
	s.sendConnectEvent(c)
	c.connected = true
	c.verbose = opts.Verbose
	c.pedantic = opts.Pedantic
	c.echo = opts.Echo
	c.noResponders = opts.NoResponders
	if c.verbose {
		c.sendOK()
	}
	return nil
}

// maxConnectRechecks bounds how often a CONNECT is checked again because
// reloads keep changing the options while its credentials are checked.
const maxConnectRechecks = 3

// authenticateConnect checks the credentials of a first CONNECT and accepts
// it. Checking takes time (bcrypt): the auth timer, a shutdown or a reload
// may close the connection meanwhile, and a reload may change who may
// connect. Accepting happens under the lock closing takes, and only if the
// options checked against are still current (a reload stores its options
// before it re-checks accepted connections), so a closed connection is
// never bound, announced or counted, and no reload is missed.
func (c *client) authenticateConnect(opts *ClientOpts) error {
	s := c.srv
	if !c.authRequired || c.connected {
		if !c.acceptConnect(opts, nil, nil) {
			return c.connectAfterClose()
		}
		return nil
	}
	checked := s.getOpts()
	res, ok := s.checkAuthentication(c, opts)
	for try := 0; ok; try++ {
		switch {
		case c.acceptConnect(opts, res, checked):
			return nil
		case c.isClosed():
			return c.connectAfterClose()
		case try == maxConnectRechecks:
			ok = false
		default:
			checked = s.getOpts()
			res, ok = s.authenticateClient(checked, c, opts, c.nonce)
		}
	}
	return c.connectRefused(opts)
}

// connectRefused records a CONNECT whose credentials were refused.
func (c *client) connectRefused(opts *ClientOpts) error {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.opts = *opts
		c.opts.Password, c.opts.Token, c.opts.Sig, c.opts.JWT = "", "", "", ""
		c.reason, c.stop = AuthenticationViolation, time.Now()
	}
	c.mu.Unlock()
	if closed {
		return c.connectAfterClose()
	}
	c.srv.sendDisconnectEvent(c, true)
	return errAuthFirst
}

// acceptConnect records an accepted CONNECT, with its user, permissions and
// account, unless the connection is closed or the options its credentials
// were checked against (checked; nil when none were) are no longer current.
func (c *client) acceptConnect(opts *ClientOpts, res *authResult, checked *Options) bool {
	var acc *Account
	var perms *clientPerms
	if res != nil {
		acc = c.srv.userAccount(res.acc)
		perms = compilePermissions(res.perms)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || (checked != nil && c.srv.getOpts() != checked) {
		return false
	}
	c.opts = *opts
	c.headers = opts.Headers
	c.authDone = true
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	if res != nil {
		c.user = res.user
		c.perms = perms
		c.permGen.Add(1)
		c.bindAccount(acc)
		if res.jwt != nil {
			c.startJWT(res.jwt)
			c.loadLimits(c.srv.limitsGen.Load()) // now with the JWT's limits
		}
	}
	return true
}

// isClosed reports whether the connection is closing or closed.
func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// errClosedConn stops the parser on a connection already closed: there is
// nothing to send and no reason to record.
var errClosedConn = &protoErr{close: true, reason: ClientClosed}

// connectAfterClose ends the processing of a CONNECT that came too late.
func (c *client) connectAfterClose() error {
	c.srv.Debugf("%s - CONNECT after the connection closed (%s), ignored", c.logPrefix(), c.closedReason())
	return errClosedConn
}

// userAccount is the registered account named by an authenticated user,
// nil for the global account or an unknown name.
func (s *Server) userAccount(name string) *Account {
	if name == "" || name == DEFAULT_GLOBAL_ACCOUNT {
		return nil
	}
	acc, _ := s.LookupAccount(name)
	return acc
}

func (c *client) processSub(args []byte) error {
	var a [3][]byte
	n := splitArgs(args, a[:])
	// One copy of the arguments backs subject, queue and sid.
	str := string(args)
	sub := &subscription{client: c}
	switch n {
	case 2:
		sub.subject, sub.sid = argString(str, args, a[0]), argString(str, args, a[1])
	case 3:
		sub.subject, sub.queue, sub.sid = argString(str, args, a[0]), argString(str, args, a[1]), argString(str, args, a[2])
	default:
		return argErr("processSub", args)
	}
	if !IsValidSubject(sub.subject) || (sub.queue != "" && !validQueueName(sub.queue)) {
		c.sendErr("Invalid Subject")
		return nil
	}
	if !c.canSubscribe(sub.subject, sub.queue) {
		c.subViolation(sub)
		return nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if c.msubs > 0 && len(c.subs) >= int(c.msubs) {
		c.mu.Unlock()
		c.sendErr("maximum subscriptions exceeded")
		c.srv.Errorf("%s - %q - maximum subscriptions exceeded", c.logPrefix(), c.acc.Name+"/user:"+c.opts.Username)
		return nil
	}
	acc := c.acc
	if _, dup := c.subs[sub.sid]; dup {
		// The reference keeps the first subscription for a reused sid.
		c.mu.Unlock()
		if c.verbose {
			c.sendOK()
		}
		return nil
	}
	c.subs[sub.sid] = sub
	c.mu.Unlock()
	if err := c.srv.addSubInterest(acc, sub); err != nil {
		c.mu.Lock()
		delete(c.subs, sub.sid)
		c.mu.Unlock()
		c.sendErr("Invalid Subject")
		return nil
	}
	if c.verbose {
		c.sendOK()
	}
	return nil
}

// argString returns the part of str, a copy of line, that arg (a slice of
// line) covers.
func argString(str string, line, arg []byte) string {
	off := cap(line) - cap(arg)
	return str[off : off+len(arg)]
}

// bindAccount moves a freshly authenticated connection into acc (nil:
// stay). It has no subscriptions yet, so nothing moves with it. Lock held,
// connection open: removeClient reads the account under the same lock
// after closing, so the connection leaves whichever account it is in.
func (c *client) bindAccount(acc *Account) {
	if acc == nil || acc == c.acc {
		return
	}
	if c.acc != nil {
		c.acc.removeClient(c)
	}
	c.acc = acc
	acc.addClient(c)
	c.rc = nil
}

// account is the connection's account; safe from any goroutine.
func (c *client) account() *Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acc
}

func validQueueName(q string) bool {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return len(q) > 0
}

func (c *client) processUnsub(args []byte) error {
	var a [2][]byte
	n := splitArgs(args, a[:])
	max := -1
	switch n {
	case 1:
	case 2:
		if max = parseSize(a[1]); max < 0 {
			return argErr("processUnsub", args)
		}
	default:
		return argErr("processUnsub", args)
	}
	c.mu.Lock()
	sub := c.subs[bytesToString(a[0])]
	var remove bool
	if sub != nil {
		if max > 0 && sub.nm.Load() < int64(max) {
			sub.max.Store(int64(max))
		} else {
			remove = true
			delete(c.subs, sub.sid)
		}
	}
	acc := c.acc
	c.mu.Unlock()
	if remove {
		sub.closed.Store(true)
		c.srv.removeSubInterest(acc, sub)
	}
	if c.verbose {
		c.sendOK()
	}
	return nil
}

// unsubscribeAfterMax removes a subscription that reached its limit.
func (c *client) unsubscribeAfterMax(sub *subscription) {
	if !sub.closed.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	if c.subs[sub.sid] == sub {
		delete(c.subs, sub.sid)
	}
	acc := c.acc
	c.mu.Unlock()
	if acc != nil {
		c.srv.removeSubInterest(acc, sub)
	}
}

// markClosed flags the connection as closing and wakes its writer, which
// flushes what is queued (an -ERR, typically) and then closes the socket.
// Lock held. The rest of the clean-up runs in closeConnection.
func (c *client) markClosed(reason ClosedState) {
	if c.closed {
		return
	}
	if c.ws != nil {
		c.wsOnClose(reason) // the close frame follows what is queued
	}
	c.closed = true
	c.reason = reason
	c.stop = time.Now()
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	if c.out.sg != nil {
		select {
		case c.out.sg <- struct{}{}:
		default:
		}
	}
	go c.srv.removeClient(c)
}

// closeConnection closes the connection for reason, once.
func (c *client) closeConnection(reason ClosedState) {
	c.mu.Lock()
	c.markClosed(reason)
	c.mu.Unlock()
}

// releaseSubs removes all subscriptions from the account's index.
func (c *client) releaseSubs() {
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		sub.closed.Store(true)
		subs = append(subs, sub)
	}
	c.subs = nil
	acc := c.acc
	c.mu.Unlock()
	if acc != nil {
		c.srv.removeSubsInterest(acc, subs)
	}
}

// pingTimerFired sends a PING, or closes a connection that left too many
// unanswered.
func (c *client) pingTimerFired() {
	s := c.srv
	opts := s.getOpts()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.tlsPending() {
		// A PING now would go out in clear text in the middle of the
		// handshake; the TLS timeout bounds how long this can last.
		c.pingTimer.Reset(opts.PingInterval)
		c.mu.Unlock()
		return
	}
	interval, maxOut := opts.PingInterval, opts.MaxPingsOut
	if c.kind == ROUTER {
		interval, maxOut = opts.routePings()
	}
	if c.pingsOut+1 > maxOut {
		s.staleConnections.Add(1)
		c.queueOutbound([]byte("-ERR 'Stale Connection'\r\n"))
		c.markClosed(StaleConnection)
		c.mu.Unlock()
		s.Debugf("%s - Stale Client Connection - Closing", c.logPrefix())
		return
	}
	c.pingsOut++
	c.rttStart = time.Now()
	c.queueOutbound(protoPing)
	c.pingTimer.Reset(interval)
	c.mu.Unlock()
	c.signalFlush()
}

// tlsPending reports whether a TLS handshake may still be under way: the
// connection uses TLS, or may (allow_non_tls), and has neither finished the
// handshake nor shown itself a clear-text client. Every such state ends
// within the TLS timeout (tlsUpgrade). Lock held.
func (c *client) tlsPending() bool {
	return c.tls.mode != tlsNone && c.tls.conn == nil && !c.tls.clear && !c.authDone
}

// startAuthTimer gives a connection that must authenticate the auth
// timeout to send its CONNECT. As with the reference, a TLS connection's
// time starts once its handshake (or allow_non_tls's wait for one) is over;
// the TLS timeout bounds that part. Lock held.
func (c *client) startAuthTimer() {
	if !c.authRequired || c.closed || c.authDone || c.authTimer != nil {
		return
	}
	d := secondsToDuration(c.srv.getOpts().AuthTimeout)
	if c.ws != nil {
		d = wsAuthTimeout(c.srv.getOpts())
	}
	c.authTimer = time.AfterFunc(d, c.authTimeout)
}

// authTimeout closes a connection that did not authenticate in time.
func (c *client) authTimeout() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.authTimer == nil {
		return
	}
	c.queueOutbound([]byte("-ERR 'Authentication Timeout'\r\n"))
	c.markClosed(AuthenticationTimeout)
	c.srv.Errorf("%s - Authentication Timeout", c.logPrefix())
}

// tracing is one atomic load, so that -V can be toggled by a reload.
func (c *client) tracing() bool { return c.srv.logging.trace.Load() }

// traceIn traces a received control line, CONNECT secrets redacted.
func (c *client) traceIn(line []byte) {
	c.srv.Tracef("%s - <<- [%s]", c.logPrefix(), traceLine(line))
}

// traceInMsg traces a received message body, cut to max_traced_msg_len.
// Empty bodies are not traced, as with the reference.
func (c *client) traceInMsg(msg []byte) {
	if len(msg) == 0 {
		return
	}
	c.srv.Tracef("%s - <<- %s", c.logPrefix(), tracePayload(msg, c.srv.getOpts().MaxTracedMsgLen))
}

func (c *client) traceOut(s string) {
	c.srv.Tracef("%s - ->> [%s]", c.logPrefix(), s)
}
