package server

import (
	"math/rand/v2"
	"strconv"
)

// processMsg routes a complete PUB or HPUB payload to every interested
// subscription of the publisher's account.
func (c *client) processMsg(msg []byte) {
	c.pend.inMsgs++
	c.pend.inBytes += int64(len(msg))
	if c.tracing() {
		c.traceInMsg(msg)
	}
	var hdr []byte
	payload := msg
	if c.pa.hdr >= 0 {
		hdr, payload = msg[:c.pa.hdr], msg[c.pa.hdr:]
		if c.traceMsg(hdr, payload) { // msgtrace.go
			return
		}
	}
	if c.verbose {
		// The reference acknowledges before it routes.
		c.sendOK()
	}
	subject := bytesToString(c.pa.subject)
	if !c.canPublish(subject) {
		c.pubViolation(subject)
		return
	}
	if c.acc != nil {
		subject = c.acc.mapSubject(&c.mbuf, subject)
		r := c.match(subject)
		found := c.deliverResult(r, subject, c.pa.reply, hdr, payload)
		if !found && len(c.pa.reply) > 0 && c.noResponders {
			c.sendNoResponders(subject, c.pa.reply)
		}
		c.rc.release(r)
	}
}

// match returns who is interested in subject, from the connection's own
// cache (connMatchCache) so that a publisher repeating subjects takes no
// shared lock at all, and a subject published once costs no allocation. The
// result must be given back with c.rc.release once delivered.
func (c *client) match(subject string) *SublistResult {
	sl := c.acc.sl
	mc := c.rc
	if mc == nil {
		mc = newConnMatchCache()
		c.rc = mc
	}
	if mc.last.subject == subject && mc.last.result.Current(sl) {
		return mc.last.result
	}
	e, ok := mc.results[subject]
	if ok && e.result.Current(sl) {
		mc.last = e
		return e.result
	}
	if !ok && !mc.lent && mc.firstSight(subject) {
		r := sl.MatchOnce(subject, &mc.scratch)
		mc.lent = r == &mc.scratch
		return r
	}
	r := sl.Match(subject)
	mc.add(subject, r)
	return r
}

// deliverResult delivers to every plain subscription and to one member of
// each queue group, preferring this server's members to other servers';
// remote interest is collected and sent once per route at the end
// (route_deliver.go). It reports whether anyone received the message.
func (c *client) deliverResult(r *SublistResult, subject string, reply, hdr, payload []byte) bool {
	found := false
	var fan routeFanout
	for _, sub := range r.psubs {
		if sub.client != nil && sub.client.kind >= ROUTER {
			if c.forwards(sub.client) {
				fan.addPlain(sub)
			}
			continue
		}
		if c.deliver(sub, subject, reply, hdr, payload) {
			found = true
		}
	}
	for _, qs := range r.qsubs {
		if (c.kind == LEAF || c.kind == GATEWAY) && (len(qs) == 0 || !queueNamed(c.pa.queues, qs[0].queue)) {
			continue // the sender chose where its queue groups are served
		}
		if c.deliverQueue(qs, &fan, subject, reply, hdr, payload) {
			found = true
		}
	}
	if fan.n > 0 {
		c.sendRouted(&fan, c.acc, subject, reply, hdr, payload)
		found = true
	}
	if gs := c.srv.gw.Load(); gs != nil && c.kind != ROUTER && c.kind != GATEWAY {
		if c.sendToGateways(gs, r, subject, reply, hdr, payload) {
			found = true
		}
	}
	return found
}

// forwards reports whether a message read from c goes on to the peer
// connection rc (a route or a leaf node): never back where it came from,
// not from one route to another (one hop), not from one hub to another.
func (c *client) forwards(rc *client) bool {
	if rc == c {
		return false
	}
	if rc.kind == ROUTER {
		// One hop; and what crossed a stream import here is carried to
		// other servers by their own importers, not by us.
		return c.kind != ROUTER && !c.localOnly
	}
	// A spoke does not pass what one of its hubs sent on to another.
	return rc.kind != LEAF || c.kind != LEAF || !c.leaf.toHub || !rc.leaf.toHub
}

// deliverQueue gives the message to one member of a queue group: a local
// one if any takes it, else the first remote one met (noted in fan).
func (c *client) deliverQueue(qs []*subscription, fan *routeFanout, subject string, reply, hdr, payload []byte) bool {
	n := len(qs)
	if n == 0 {
		return false
	}
	start := 0
	if n > 1 {
		start = rand.IntN(n)
	}
	var remote *subscription
	for i := 0; i < n; i++ {
		sub := qs[(start+i)%n]
		if sub.client != nil && sub.client.kind >= ROUTER {
			if remote == nil && c.forwards(sub.client) {
				remote = sub
			}
			continue
		}
		if c.deliver(sub, subject, reply, hdr, payload) {
			return true
		}
	}
	if remote != nil {
		fan.addQueue(remote)
		return true
	}
	return false
}

// deliver writes one message to one subscription. It returns false when the
// subscription did not take it (closed, our own with echo off, over its max).
func (c *client) deliver(sub *subscription, subject string, reply, hdr, payload []byte) bool {
	if sub.closed.Load() {
		return false
	}
	rc := sub.client
	if rc == c && !c.echo {
		return false
	}
	if rc != nil && rc.kind >= ROUTER {
		// Remote interest met outside deliverResult (the traced path, a
		// routed message for a leaf node): an RMSG or LMSG, never a
		// client's MSG, goes on a route or a leaf connection.
		return c.routeOne(sub, subject, reply, hdr, payload)
	}
	reply = clientReply(rc, reply) // gateway_deliver.go
	if max := sub.max.Load(); max > 0 {
		n := sub.nm.Add(1)
		if n > max {
			return false
		}
		if n == max && rc != nil {
			defer rc.unsubscribeAfterMax(sub)
		}
	} else {
		sub.nm.Add(1)
	}
	if sub.icb != nil {
		// The callback may report the counters (a system request for
		// varz, say): they must include what this read has done so far.
		c.flushStats()
		sub.icb(sub, c, c.acc, subject, bytesToString(reply), hdr, payload)
		return true
	}
	if rc.mq != nil {
		return c.mqttDeliver(rc, sub, subject, reply, hdr, payload) // mqtt_deliver.go
	}
	size := len(payload)
	rc.mu.Lock()
	if rc.closed {
		rc.mu.Unlock()
		return false
	}
	if rc.perms != nil {
		if subjectHasWildcard(sub.subject) && rc.deliveryDenied(subject) {
			rc.mu.Unlock()
			return false
		}
		if len(reply) > 0 && rc.perms.resp != nil {
			rc.trackReply(reply)
		}
	}
	if len(hdr) > 0 && rc.headers {
		size += len(hdr)
	} else {
		hdr = nil
	}
	// Build the MSG/HMSG line on the stack and copy it once.
	var lb [256]byte
	line := appendMsgLine(lb[:0], subject, sub.sid, reply, hdr, size)
	rc.appendOut(line)
	if hdr != nil {
		rc.appendOut(hdr)
	}
	rc.appendOut(payload)
	rc.appendOut(crlf)
	slow := rc.checkSlowConsumer()
	if ch := rc.out.stallChan(); ch != nil && c.kind == CLIENT && rc != c {
		c.stall = ch
	}
	rc.mu.Unlock()
	if slow {
		return false
	}
	if rc.tracing() {
		rc.traceOutMsg(subject, sub.sid, reply, hdr, payload)
	}
	rc.outMsgs.Add(1)
	rc.outBytes.Add(int64(size))
	c.countOut(size)
	c.addToFlush(rc)
	return true
}

// pendingStats are a reader's message counts not yet added to the shared
// atomic counters: adding once per read instead of once per message keeps
// the publish path free of atomic operations on cache lines every reader
// writes, which cost more than parsing a small message.
type pendingStats struct {
	inMsgs, inBytes, outMsgs, outBytes int64
}

// countOut counts a delivery in the server totals: batched on a
// connection's reader, at once from any other goroutine (internal clients
// publish concurrently).
func (c *client) countOut(size int) {
	if c.pcd == nil || c.kind == SYSTEM {
		c.srv.outMsgs.Add(1)
		c.srv.outBytes.Add(int64(size))
		return
	}
	c.pend.outMsgs++
	c.pend.outBytes += int64(size)
}

// flushStats publishes the reader's pending counts. Other goroutines may
// call it (an internal client delivering to an internal subscriber): they
// never have counts pending, and it then only reads.
func (c *client) flushStats() {
	p := &c.pend
	if p.inMsgs == 0 && p.outMsgs == 0 {
		return
	}
	if p.inMsgs != 0 {
		c.inMsgs.Add(p.inMsgs)
		c.inBytes.Add(p.inBytes)
		c.srv.inMsgs.Add(p.inMsgs)
		c.srv.inBytes.Add(p.inBytes)
	}
	if p.outMsgs != 0 {
		c.srv.outMsgs.Add(p.outMsgs)
		c.srv.outBytes.Add(p.outBytes)
	}
	*p = pendingStats{}
}

var crlf = []byte("\r\n")

// appendMsgLine appends "MSG <subject> <sid> [reply] <size>\r\n", or the
// HMSG form with the header length when hdr is not nil.
func appendMsgLine(b []byte, subject, sid string, reply, hdr []byte, size int) []byte {
	if hdr != nil {
		b = append(b, "HMSG "...)
	} else {
		b = append(b, "MSG "...)
	}
	b = append(b, subject...)
	b = append(b, ' ')
	b = append(b, sid...)
	b = append(b, ' ')
	if len(reply) > 0 {
		b = append(b, reply...)
		b = append(b, ' ')
	}
	if hdr != nil {
		b = strconv.AppendInt(b, int64(len(hdr)), 10)
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, int64(size), 10)
	return append(b, '\r', '\n')
}

// sendNoResponders answers a request that reached nobody with a 503 status
// message on the requester's own reply subscription.
func (c *client) sendNoResponders(subject string, reply []byte) {
	r := c.acc.sl.Match(bytesToString(reply))
	for _, sub := range r.psubs {
		if sub.client != c {
			continue
		}
		c.hdrBuf = append(c.hdrBuf[:0], "NATS/1.0 503\r\nNats-Subject: "...)
		c.hdrBuf = append(c.hdrBuf, subject...)
		c.hdrBuf = append(c.hdrBuf, "\r\n\r\n"...)
		echo := c.echo
		c.echo = true // the status is for us even with echo off
		c.deliver(sub, bytesToString(reply), nil, c.hdrBuf, nil)
		c.echo = echo
		return
	}
}
