package server

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
)

// routeFanout collects, while a local message is delivered, the routes it
// must also go to: once per route connection, with the queue groups that
// server is to serve. It lives on the publisher's stack.
type routeFanout struct {
	n    int
	t    [4]routeTarget
	more []routeTarget
}

type routeTarget struct {
	rc     *client
	plain  bool
	q0     string
	queues []string // beyond q0
}

func (f *routeFanout) target(rc *client) *routeTarget {
	for i := 0; i < f.n && i < len(f.t); i++ {
		if f.t[i].rc == rc {
			return &f.t[i]
		}
	}
	for i := range f.more {
		if f.more[i].rc == rc {
			return &f.more[i]
		}
	}
	if f.n < len(f.t) {
		f.t[f.n] = routeTarget{rc: rc}
		f.n++
		return &f.t[f.n-1]
	}
	f.more = append(f.more, routeTarget{rc: rc})
	f.n++
	return &f.more[len(f.more)-1]
}

// addPlain records a remote plain interest.
func (f *routeFanout) addPlain(sub *subscription) {
	f.target(sub.client).plain = true
}

// addQueue records that a remote server's member of queue serves it.
func (f *routeFanout) addQueue(sub *subscription) {
	t := f.target(sub.client)
	if t.q0 == "" {
		t.q0 = sub.queue
		return
	}
	t.queues = append(t.queues, sub.queue)
}

// sendRouted writes the message once to each collected route: RMSG, or
// HMSG with headers, naming the account on pooled routes and, when queue
// groups are to be served there, "+ reply q..." or "| q...".
func (c *client) sendRouted(f *routeFanout, acc *Account, subject string, reply, hdr, payload []byte) {
	for i := 0; i < f.n; i++ {
		var t *routeTarget
		if i < len(f.t) {
			t = &f.t[i]
		} else {
			t = &f.more[i-len(f.t)]
		}
		c.sendRoutedTo(t, acc.Name, subject, reply, hdr, payload)
	}
}

// routeOne sends a message to one remote subscription met outside
// deliverResult (the traced path): its account is the one the route
// subscription was registered in, the first word of its sid.
func (c *client) routeOne(sub *subscription, subject string, reply, hdr, payload []byte) bool {
	if !c.forwards(sub.client) {
		return false
	}
	accName, _, _ := strings.Cut(sub.sid, " ")
	t := routeTarget{rc: sub.client, plain: sub.queue == "", q0: sub.queue}
	c.sendRoutedTo(&t, accName, subject, reply, hdr, payload)
	return true
}

func (c *client) sendRoutedTo(t *routeTarget, accName string, subject string, reply, hdr, payload []byte) {
	rc := t.rc
	var lb [256]byte
	b := lb[:0]
	if hdr != nil {
		b = append(b, "HMSG "...)
	} else if rc.kind == LEAF {
		b = append(b, "LMSG "...)
	} else {
		b = append(b, "RMSG "...)
	}
	if rc.kind == ROUTER && rc.route.account == "" {
		b = append(append(b, accName...), ' ')
	}
	b = append(append(b, subject...), ' ')
	if t.q0 != "" {
		if len(reply) > 0 {
			b = append(append(append(b, "+ "...), reply...), ' ')
		} else {
			b = append(b, "| "...)
		}
		b = append(append(b, t.q0...), ' ')
		for _, q := range t.queues {
			b = append(append(b, q...), ' ')
		}
	} else if len(reply) > 0 {
		b = append(append(b, reply...), ' ')
	}
	size := len(payload) + len(hdr)
	if hdr != nil {
		b = append(strconv.AppendInt(b, int64(len(hdr)), 10), ' ')
	}
	b = append(strconv.AppendInt(b, int64(size), 10), '\r', '\n')
	c.sendPeerMsg(rc, subject, b, hdr, payload)
}

// sendPeerMsg queues a routed message (its RMSG/HMSG line, headers and
// payload) on a route, gateway or leaf connection rc; a leaf connection
// takes only what its permissions let it subscribe to.
func (c *client) sendPeerMsg(rc *client, subject string, line, hdr, payload []byte) {
	size := len(payload) + len(hdr)
	rc.mu.Lock()
	if rc.closed || (rc.perms != nil && rc.kind == LEAF && !rc.leafMaySubscribe(subject)) {
		rc.mu.Unlock()
		return
	}
	rc.appendOut(line)
	if hdr != nil {
		rc.appendOut(hdr)
	}
	rc.appendOut(payload)
	rc.appendOut(crlf)
	slow := rc.checkSlowConsumer()
	if ch := rc.out.stallChan(); ch != nil && c.kind == CLIENT {
		// A publisher faster than the peer waits for it after its read,
		// as for any receiver, rather than growing its queue unbounded.
		c.stall = ch
	}
	rc.mu.Unlock()
	if slow {
		return
	}
	if rc.tracing() {
		rc.traceOut(string(line[:len(line)-2]))
	}
	rc.outMsgs.Add(1)
	rc.outBytes.Add(int64(size))
	c.countOut(size)
	c.addToFlush(rc)
}

// processMsg delivers a routed message to this server's own subscribers:
// every plain subscription, and one member of each queue group the sender
// named. Nothing goes back to a route (one hop).
func (routeProtocol) processMsg(c *client, msg []byte) {
	hdr, payload := c.readPeerMsg(msg)
	if c.routedAccount() == nil {
		return
	}
	if c.route.perms && !c.srv.cluster.Load().canImport(bytesToString(c.pa.subject)) {
		return
	}
	subject := bytesToString(c.pa.subject)
	r := c.match(subject)
	if shown, reply, ok := splitDeliverReply(c.pa.reply); ok {
		c.deliverRouted(r, shown, reply, hdr, payload)
	} else {
		c.deliverRouted(r, subject, c.pa.reply, hdr, payload)
	}
	c.rc.release(r)
}

// A JetStream consumer delivers a message to the subscribers of a
// destination (a pull request's reply subject) while showing it under the
// stream's subject. Across a route, as the reference does (observed on
// v2.15.2), the RMSG goes to the destination and its reply is
// "<ack reply>@<stream subject>"; the receiving server delivers it to the
// destination's subscribers as <stream subject> with <ack reply>. Only
// replies that are consumer acks ($JS.ACK.) or empty (ack none) are split,
// so an ordinary reply subject containing '@' is never mangled.
func splitDeliverReply(reply []byte) (string, []byte, bool) {
	at := bytes.IndexByte(reply, '@')
	if at < 0 || (at > 0 && !bytes.HasPrefix(reply, []byte(jsAckPrefix))) || at == len(reply)-1 {
		return "", nil, false
	}
	return string(reply[at+1:]), reply[:at], true
}

// deliverResultAs delivers to res, matched for dest, a message shown as
// subject: local subscribers get it as subject, routes and leaf
// connections as dest with the reply form splitDeliverReply reads (the
// reference sends a leaf node the same LMSG form, observed on v2.15.2).
func (c *client) deliverResultAs(res *SublistResult, dest, subject string, reply, hdr, payload []byte) bool {
	found := false
	var fan routeFanout
	for _, sub := range res.psubs {
		if rc := sub.client; rc != nil && (rc.kind == ROUTER || rc.kind == LEAF) {
			if c.forwards(rc) {
				fan.addPlain(sub)
			}
			continue
		}
		if c.deliver(sub, subject, reply, hdr, payload) {
			found = true
		}
	}
	for _, qs := range res.qsubs {
		if c.deliverQueue(qs, &fan, subject, reply, hdr, payload) {
			found = true
		}
	}
	if fan.n > 0 {
		var buf [256]byte
		r := append(append(append(buf[:0], reply...), '@'), subject...)
		c.sendRouted(&fan, c.acc, dest, r, hdr, payload)
		found = true
	}
	return found
}

// readPeerMsg counts and traces a message read from a route or a leaf
// connection and splits it into headers (nil without) and payload.
func (c *client) readPeerMsg(msg []byte) (hdr, payload []byte) {
	c.pend.inMsgs++
	c.pend.inBytes += int64(len(msg))
	if c.tracing() {
		c.traceInMsg(msg)
	}
	if c.pa.hdr >= 0 {
		return msg[:c.pa.hdr], msg[c.pa.hdr:]
	}
	return nil, msg
}

// routedAccount is the account of the routed message being read: the
// pinned account, or the one the RMSG names (the last one is kept, so a
// route busy with one account looks it up once). The connection's account
// is switched to it, under its lock, so that matching and internal
// subscribers see it.
func (c *client) routedAccount() *Account {
	name := c.pa.acc
	if c.route.account != "" {
		if c.acc != nil {
			return c.acc
		}
		name = []byte(c.route.account)
	}
	if c.acc != nil && string(name) == string(c.route.lastName) {
		return c.acc
	}
	acc, ok := c.srv.LookupAccount(string(name))
	if !ok {
		return nil
	}
	c.route.lastName = append(c.route.lastName[:0], name...)
	c.mu.Lock()
	c.acc = acc
	c.mu.Unlock()
	c.rc = nil // the match cache was for the previous account
	return acc
}

// deliverRouted delivers to local subscriptions only: plain ones, and for
// each queue group named in the RMSG one local member.
func (c *client) deliverRouted(r *SublistResult, subject string, reply, hdr, payload []byte) {
	for _, sub := range r.psubs {
		if sub.client != nil && sub.client.kind == ROUTER {
			continue
		}
		c.deliver(sub, subject, reply, hdr, payload)
	}
	if len(c.pa.queues) == 0 {
		return
	}
	for _, qs := range r.qsubs {
		if len(qs) == 0 || !queueNamed(c.pa.queues, qs[0].queue) {
			continue
		}
		n := len(qs)
		start := 0
		if n > 1 {
			start = rand.IntN(n)
		}
		for i := 0; i < n; i++ {
			sub := qs[(start+i)%n]
			if sub.client != nil && sub.client.kind == ROUTER {
				continue
			}
			if c.deliver(sub, subject, reply, hdr, payload) {
				break
			}
		}
	}
}

// queueNamed reports whether q is one of the space separated names.
func queueNamed(list []byte, q string) bool {
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != ' ' {
			i++
		}
		if string(list[:i]) == q {
			return true
		}
		if i == len(list) {
			return false
		}
		list = list[i+1:]
	}
	return false
}
