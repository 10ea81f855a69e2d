package server

import (
	"sync"
	"time"
)

// closedConn is what remains of a closed connection for /connz.
type closedConn struct {
	cid     uint64
	host    string
	port    int
	start   time.Time
	stop    time.Time
	reason  ClosedState
	opts    ClientOpts
	user    string // authorizedUser
	account string
	// mqttClient is an MQTT connection's client id.
	mqttClient string
	inMsgs     int64
	inBytes    int64
	outMsgs    int64
	outBytes   int64
	rtt        time.Duration
	last       time.Time   // last activity
	pending    int64       // bytes still queued when it closed
	subs       []closedSub // its subscriptions, for connz subs=1|detail
	tls        connTLS     // without peer certificates
	ctype      string      // client type: "nats" or "websocket"
}

// closedSub is what /connz shows of a closed connection's subscription.
type closedSub struct {
	subject, queue, sid string
	msgs, max           int64
}

// closedRing keeps the most recent max_closed_clients closed connections.
// It grows as connections close, so a large limit costs memory only once
// that many connections have closed.
type closedRing struct {
	mu    sync.Mutex
	max   int
	buf   []*closedConn
	next  int // the oldest entry, once buf is full
	total uint64
}

func newClosedRing(n int) *closedRing { return &closedRing{max: max(n, 1)} }

func (r *closedRing) add(cc *closedConn) {
	r.mu.Lock()
	if len(r.buf) < r.max {
		r.buf = append(r.buf, cc)
	} else {
		r.buf[r.next] = cc
		r.next = (r.next + 1) % len(r.buf)
	}
	r.total++
	r.mu.Unlock()
}

// list returns the kept entries, oldest first.
func (r *closedRing) list() []*closedConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*closedConn, 0, len(r.buf))
	for i := range r.buf {
		out = append(out, r.buf[(r.next+i)%len(r.buf)])
	}
	return out
}

func (c *client) snapshot() *closedConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc := &closedConn{
		cid: c.cid, host: c.host, port: c.port, start: c.start, stop: c.stop,
		reason: c.reason, opts: c.opts, user: c.authorizedUser(), rtt: c.lastRTT,
		inMsgs: c.inMsgs.Load(), inBytes: c.inBytes.Load(),
		outMsgs: c.outMsgs.Load(), outBytes: c.outBytes.Load(),
		last: c.lastActivity(), pending: c.out.pb, ctype: c.clientType(),
	}
	if len(c.subs) > 0 {
		cc.subs = make([]closedSub, 0, len(c.subs))
		for _, sub := range c.subs {
			cc.subs = append(cc.subs, closedSub{sub.subject, sub.queue, sub.sid, sub.nm.Load(), sub.max.Load()})
		}
	}
	cc.opts.Password, cc.opts.Token, cc.opts.Sig, cc.opts.JWT = "", "", "", ""
	if c.mq != nil {
		cc.mqttClient = c.mq.clientID
	}
	if c.acc != nil {
		cc.account = c.acc.Name
	}
	return cc
}
