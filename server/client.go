package server

import (
	"encoding/json"
	"errors"
	"io"
	"math/bits"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Connection kinds.
const (
	CLIENT = iota
	SYSTEM // a server-internal connection with no socket
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
	nm      atomic.Int64 // messages delivered
	max     atomic.Int64 // auto-unsubscribe after this many; 0 = no limit
	closed  atomic.Bool
}

// outbound is a connection's write queue: chunks filled by publishers under
// the connection's lock and drained by its writer goroutine with one
// vectored write.
type outbound struct {
	chunks [][]byte // full chunks, oldest first
	cur    []byte   // chunk being filled
	pb     int64    // bytes queued, not yet written
	csz    int      // size of the next chunk, adapted to load
	sg     chan struct{}
	mp     int64 // max_pending
	// flushing is set while one goroutine (the writer, or a reader
	// flushing inline) owns the socket for writing.
	flushing bool
	// drained, when not nil, is closed once the queue has drained below
	// half the stall threshold: publishers that outran it wait on it.
	drained chan struct{}
}

// Producer stall: a publisher that fills a receiver's queue past stallAt
// waits, at most maxStall, for the receiver's writer to catch up before it
// reads more. This bounds the memory a fast publisher makes a few slower
// subscribers hold, long before max_pending would cut them off.
const (
	maxStallAt = 1 << 20
	maxStall   = 10 * time.Millisecond
)

// stallAt is the queue size past which publishers are stalled. Lock held.
func (o *outbound) stallAt() int64 { return min(maxStallAt, o.mp/4) }

// stallChan returns the channel to wait on when the queue is over the
// threshold, or nil. Lock held.
func (o *outbound) stallChan() chan struct{} {
	if o.pb <= o.stallAt() {
		return nil
	}
	if o.drained == nil {
		o.drained = make(chan struct{})
	}
	return o.drained
}

type client struct {
	// Set at creation and then read-only.
	cid   uint64
	kind  int
	srv   *Server
	nc    net.Conn
	start time.Time
	host  string
	port  int

	mu         sync.Mutex
	acc        *Account
	opts       ClientOpts
	subs       map[string]*subscription
	out        outbound
	closed     bool
	reason     ClosedState
	stop       time.Time
	pingsOut   int
	lastRTT    time.Duration
	rttStart   time.Time
	authTimer  *time.Timer
	pingTimer  *time.Timer
	writerDone chan struct{}
	tls        clientTLS    // see tls_client.go
	lastActive atomic.Int64 // unix nanos of the last message in or out
	nonce      string       // nkey challenge sent in INFO
	authDone   bool         // CONNECT accepted
	user       string       // authenticated user or nkey
	perms      *clientPerms
	replies    map[string]*respEntry // reply subjects a responder may use
	permGen    atomic.Uint64

	// Owned by the reading goroutine.
	ps           parseState
	pa           pubArg
	pbuf         []byte // control line split across reads
	pmsg         []byte // payload split across reads
	abuf         []byte // copied arguments of a split PUB
	pcd          map[*client]struct{}
	rc           map[string]*SublistResult
	rcGen        uint64
	connected    bool
	authRequired bool
	verbose      bool
	pedantic     bool
	echo         bool
	headers      bool
	noResponders bool
	mpay         int32
	mcl          int32
	msubs        int32
	hdrBuf       []byte   // scratch for no-responder headers
	inlineHeld   [][]byte // scratch for inline flushes of this connection
	inlineBufs   [][]byte
	mbuf         []byte        // scratch for mapped subjects
	stall        chan struct{} // a receiver's queue this reader must wait for
	stallTimer   *time.Timer
	rperms       *clientPerms    // reader's copy of perms
	pcache       map[string]bool // publish decisions
	pcacheGen    uint64

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
	return c.host + ":" + strconv.Itoa(c.port) + " - cid:" + strconv.FormatUint(c.cid, 10)
}

// queueOutbound appends protocol bytes to the write queue. Lock held.
func (c *client) queueOutbound(parts ...[]byte) {
	if c.closed || c.nc == nil {
		return
	}
	for _, p := range parts {
		c.appendOut(p)
	}
}

// appendOut copies p into the current chunk, starting a new chunk when it is
// full. Lock held.
func (c *client) appendOut(p []byte) {
	o := &c.out
	for len(p) > 0 {
		if len(o.cur) == cap(o.cur) {
			if o.cur != nil {
				o.chunks = append(o.chunks, o.cur)
			}
			o.cur = c.newChunk()
		}
		n := copy(o.cur[len(o.cur):cap(o.cur)], p)
		o.cur = o.cur[:len(o.cur)+n]
		p = p[n:]
		o.pb += int64(n)
	}
}

func (c *client) newChunk() []byte {
	if c.out.csz < minOutChunk {
		c.out.csz = minOutChunk
	}
	return getChunk(c.out.csz)
}

// Outbound chunks are powers of two from minOutChunk to maxOutChunk and are
// shared between connections through one pool per size, so that a burst on
// one connection reuses what another drained instead of making garbage.
var chunkPools [8]sync.Pool

func chunkClass(size int) int {
	i := bits.Len(uint(size-1)) - bits.Len(uint(minOutChunk-1))
	return max(0, min(i, len(chunkPools)-1))
}

func getChunk(size int) []byte {
	i := chunkClass(size)
	if b, ok := chunkPools[i].Get().([]byte); ok {
		return b[:0]
	}
	return make([]byte, 0, minOutChunk<<i)
}

func putChunk(b []byte) {
	i := chunkClass(cap(b))
	if cap(b) != minOutChunk<<i {
		return // not one of ours
	}
	chunkPools[i].Put(b[:0]) //nolint:staticcheck // a slice header per 512 B..64 KiB chunk
}

// checkSlowConsumer closes a connection whose queue passed max_pending.
// Lock held; returns true if the connection is now closing.
func (c *client) checkSlowConsumer() bool {
	if c.out.pb <= c.out.mp {
		return false
	}
	c.srv.slowConsumers.Add(1)
	c.srv.Noticef("%s - Slow Consumer Detected: MaxPending of %d Exceeded", c.logPrefix(), c.out.mp)
	c.markClosed(SlowConsumerPendingBytes)
	return true
}

// signalFlush wakes the writer without blocking.
func (c *client) signalFlush() {
	select {
	case c.out.sg <- struct{}{}:
	default:
	}
}

// flushClients flushes every connection this reader queued data for since
// the last call: once per read, not once per message. A small queue whose
// connection is idle is written right here, saving the writer goroutine's
// wake-up on the request/reply path; anything else goes to the writer.
func (c *client) flushClients(inline bool) {
	for r := range c.pcd {
		if !inline || !r.flushInline() {
			r.signalFlush()
		}
		delete(c.pcd, r)
	}
}

// waitStall waits, bounded, for the receiver this reader outran.
func (c *client) waitStall() {
	ch := c.stall
	if ch == nil {
		return
	}
	c.stall = nil
	if c.stallTimer == nil {
		c.stallTimer = time.NewTimer(maxStall)
	} else {
		c.stallTimer.Reset(maxStall)
	}
	select {
	case <-ch:
		c.stallTimer.Stop()
	case <-c.stallTimer.C:
	}
}

// maxInlineFlush bounds what a reader writes for another connection: small
// enough that the socket buffer takes it without blocking. Only short reads
// (maxInlineRead) flush inline: they are requests and replies, where the
// writer's wake-up is latency; long reads are throughput, where the writer
// working in parallel with the reader is worth more.
const (
	maxInlineFlush = 2 * 1024
	maxInlineRead  = 2 * 1024
)

// flushInline writes a small queue on the caller's goroutine. It returns
// false when the writer goroutine must do it instead.
func (c *client) flushInline() bool {
	if c.nc == nil || !c.mu.TryLock() {
		return false
	}
	o := &c.out
	if o.flushing || c.closed || o.pb > maxInlineFlush || !o.hasData() {
		// Nothing queued and open: nothing for the writer to do either.
		idle := !o.hasData() && !c.closed
		c.mu.Unlock()
		return idle
	}
	o.flushing = true
	held := o.take(c.inlineHeld[:0])
	wd := c.srv.writeDeadline()
	nc := c.ioConn()
	c.mu.Unlock()

	bufs := net.Buffers(c.inlineBufs[:0])
	bufs = append(bufs, held...)
	_ = nc.SetWriteDeadline(time.Now().Add(wd))
	n, err := bufs.WriteTo(nc)
	c.afterWrite(held, n, err)
	c.inlineHeld = held[:0]
	if err != nil {
		c.failWrite(err)
	}
	c.mu.Lock()
	o.flushing = false
	wake := o.hasData() || c.closed
	c.mu.Unlock()
	if wake {
		c.signalFlush()
	}
	return true
}

// hasData reports whether anything is queued and not yet taken. Lock held.
func (o *outbound) hasData() bool { return len(o.chunks) > 0 || len(o.cur) > 0 }

// take moves the queued chunks into held. Lock held.
func (o *outbound) take(held [][]byte) [][]byte {
	held = append(held, o.chunks...)
	if len(o.cur) > 0 {
		held = append(held, o.cur)
		o.cur = nil
	}
	o.chunks = o.chunks[:0]
	return held
}

// writeLoop drains the write queue until the connection closes. It never
// writes while an inline flush is under way, so bytes stay in order.
func (c *client) writeLoop() {
	defer close(c.writerDone)
	var bufs net.Buffers
	var held [][]byte
	o := &c.out
	for {
		c.mu.Lock()
		for o.flushing || (!o.hasData() && !c.closed) {
			c.mu.Unlock()
			<-o.sg
			c.mu.Lock()
		}
		closed := c.closed
		held = o.take(held[:0])
		o.flushing = len(held) > 0
		wd := c.srv.writeDeadline()
		nc := c.ioConn() // the TLS connection once the handshake is done
		c.mu.Unlock()

		if len(held) > 0 {
			bufs = append(bufs[:0], held...)
			_ = nc.SetWriteDeadline(time.Now().Add(wd))
			n, err := bufs.WriteTo(nc)
			c.afterWrite(held, n, err)
			c.mu.Lock()
			o.flushing = false
			c.mu.Unlock()
			if err != nil {
				c.failWrite(err)
				closed = true
			}
		}
		if closed {
			// Everything queued before the close was written above.
			nc.Close()
			return
		}
	}
}

// afterWrite accounts for written bytes and recycles chunks.
func (c *client) afterWrite(held [][]byte, n int64, err error) {
	c.mu.Lock()
	c.out.pb -= n
	if c.out.pb < 0 || err != nil {
		c.out.pb = 0
	}
	if c.out.drained != nil && (c.out.pb < c.out.stallAt()/2 || err != nil) {
		close(c.out.drained) // release publishers waiting for this queue
		c.out.drained = nil
	}
	// Adapt the chunk size: a busy connection writes big batches.
	switch {
	case n >= int64(c.out.csz) && c.out.csz < maxOutChunk:
		c.out.csz *= 2
	case n < int64(c.out.csz/4) && c.out.csz > minOutChunk:
		c.out.csz /= 2
	}
	c.mu.Unlock()
	for i, b := range held {
		putChunk(b)
		held[i] = nil
	}
}

// failWrite handles a write error or deadline: a stalled reader is a slow
// consumer, as with the reference.
func (c *client) failWrite(err error) {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.srv.slowConsumers.Add(1)
		c.srv.Noticef("%s - Slow Consumer Detected: WriteDeadline of %v exceeded with %d chunks of %d total bytes.",
			c.logPrefix(), c.srv.writeDeadline(), 1, c.outPending())
		c.closeConnection(SlowConsumerWriteDeadline)
		return
	}
	c.closeConnection(WriteError)
}

func (c *client) outPending() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.pb
}

// readLoop reads and parses until the connection ends.
func (c *client) readLoop() {
	s := c.srv
	nc := c.nc
	if c.tls.mode != tlsNone {
		var ok bool
		if nc, ok = c.tlsUpgrade(); !ok {
			return
		}
	}
	b := make([]byte, startBufSize)
	shorts := 0
	for {
		n, err := nc.Read(b)
		if n > 0 {
			c.lastActive.Store(time.Now().UnixNano())
			if perr := c.parse(b[:n]); perr != nil {
				c.flushClients(false)
				c.handleProtoErr(perr)
				return
			}
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
		// Grow when a read fills the buffer; shrink after short reads.
		switch {
		case n == len(b) && len(b) < maxBufSize:
			b = make([]byte, len(b)*2)
			shorts = 0
		case n < len(b)/2 && len(b) > minBufSize:
			if shorts++; shorts > shortsToShrink {
				b = make([]byte, len(b)/2)
				shorts = 0
			}
		default:
			shorts = 0
		}
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
// From goroutines that are not a connection's reader, it flushes at once.
func (c *client) addToFlush(r *client) {
	if c.pcd == nil || c.kind != CLIENT {
		r.signalFlush()
		return
	}
	c.pcd[r] = struct{}{}
}

func (c *client) processPing() {
	c.sendProto(protoPong)
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
	if opts.Protocol < 0 || opts.Protocol > PROTO {
		return errBadClientProto
	}
	if opts.NoResponders && !opts.Headers {
		return errNoRespNoHdr
	}
	s := c.srv
	// The first RTT is INFO to CONNECT, so /connz shows one at once, as the
	// reference does.
	c.mu.Lock()
	if c.lastRTT == 0 {
		c.lastRTT = time.Since(c.start)
	}
	c.mu.Unlock()
	var res *authResult
	if c.authRequired && !c.connected {
		var ok bool
		if res, ok = s.checkAuthentication(c, &opts); !ok {
			c.mu.Lock()
			c.opts = opts
			c.opts.Password, c.opts.Token, c.opts.Sig, c.opts.JWT = "", "", "", ""
			c.reason, c.stop = AuthenticationViolation, time.Now()
			c.mu.Unlock()
			s.sendDisconnectEvent(c, true)
			return errAuthFirst
		}
	}
	c.mu.Lock()
	c.opts = opts
	c.authDone = true
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	c.mu.Unlock()
	if res != nil {
		c.bindAccount(res.acc)
		c.mu.Lock()
		c.user = res.user
		c.mu.Unlock()
		c.setPermissions(res.perms)
	}
	s.sendConnectEvent(c)
	c.connected = true
	c.verbose = opts.Verbose
	c.pedantic = opts.Pedantic
	c.echo = opts.Echo
	c.headers = opts.Headers
	c.noResponders = opts.NoResponders
	if c.verbose {
		c.sendOK()
	}
	return nil
}

func (c *client) processSub(args []byte) error {
	var a [3][]byte
	n := splitArgs(args, a[:])
	sub := &subscription{client: c}
	switch n {
	case 2:
		sub.subject, sub.sid = string(a[0]), string(a[1])
	case 3:
		sub.subject, sub.queue, sub.sid = string(a[0]), string(a[1]), string(a[2])
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
	if err := acc.sl.Insert(sub); err != nil {
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

// bindAccount moves a freshly authenticated connection into its user's
// account. It has no subscriptions yet, so nothing moves with it.
func (c *client) bindAccount(name string) {
	if name == "" || name == DEFAULT_GLOBAL_ACCOUNT {
		return
	}
	acc, ok := c.srv.LookupAccount(name)
	if !ok {
		return
	}
	c.mu.Lock()
	old := c.acc
	c.acc = acc
	c.mu.Unlock()
	if old != nil {
		old.removeClient(c)
	}
	acc.addClient(c)
	c.rc = nil
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
		_ = acc.sl.Remove(sub)
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
		_ = acc.sl.Remove(sub)
	}
}

// markClosed flags the connection as closing and wakes its writer, which
// flushes what is queued (an -ERR, typically) and then closes the socket.
// Lock held. The rest of the clean-up runs in closeConnection.
func (c *client) markClosed(reason ClosedState) {
	if c.closed {
		return
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
		acc.sl.RemoveBatch(subs)
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
	if c.pingsOut+1 > opts.MaxPingsOut {
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
	c.pingTimer.Reset(opts.PingInterval)
	c.mu.Unlock()
	c.signalFlush()
}

// tlsPending reports whether a TLS handshake may still be under way: the
// connection uses TLS, or may (allow_non_tls), and has neither finished the
// handshake nor sent CONNECT in clear text. Lock held.
func (c *client) tlsPending() bool {
	return c.tls.mode != tlsNone && c.tls.conn == nil && !c.authDone
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
