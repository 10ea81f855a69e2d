package server

import (
	"math/rand/v2"
	"strconv"
)

// gwReplyPrefix starts a reply subject mapped for a gateway:
// "_GR_.<cluster hash>.<server hash>.<reply>", each hash gwHash's six
// characters, so gwReplyPrefixLen bytes precede the original reply.
const (
	gwReplyPrefix    = "_GR_."
	gwReplyPrefixLen = len(gwReplyPrefix) + 6 + 1 + 6 + 1
)

// isGWReply reports whether subject carries a gateway reply prefix.
func isGWReply(subject string) bool {
	return len(subject) > gwReplyPrefixLen && subject[0] == '_' && string(subject[:len(gwReplyPrefix)]) == gwReplyPrefix &&
		subject[gwReplyPrefixLen-8] == '.' && subject[gwReplyPrefixLen-1] == '.'
}

// clientReply is the reply a client sees: without a gateway prefix, as the
// reference delivers it. Internal subscribers keep the prefix, so that their
// answer (published to it) goes straight back to the requester's cluster.
func clientReply(rc *client, reply []byte) []byte {
	if rc != nil && rc.kind == CLIENT && isGWReply(bytesToString(reply)) {
		return reply[gwReplyPrefixLen:]
	}
	return reply
}

// sendToGateways sends a message published in this cluster to each other
// cluster that wants it (gateway_interest.go), once, naming the queue groups
// it is to serve there: groups with a member in this cluster (in r) are
// served here, and each other group by the first cluster that has it. A
// subject with a gateway reply prefix goes to the cluster it names only.
func (c *client) sendToGateways(gs *gatewayState, r *SublistResult, subject string, reply, hdr, payload []byte) bool {
	outs := gs.outs.Load()
	if outs == nil || len(*outs) == 0 || c.acc == nil {
		return false
	}
	if isGWReply(subject) {
		return c.sendGatewayReply(gs, *outs, subject, hdr, payload)
	}
	var sb, qb [4]string
	served := sb[:0]
	for _, qs := range r.qsubs {
		if len(qs) > 0 {
			served = append(served, qs[0].queue)
		}
	}
	sent := false
	for _, oc := range *outs {
		plain, qs := oc.gw.wants(c.acc.Name, subject, served, qb[:0])
		if !plain && len(qs) == 0 {
			continue
		}
		served = append(served, qs...)
		c.sendGatewayMsg(gs, oc, subject, reply, qs, hdr, payload, true)
		sent = true
	}
	return sent
}

// sendGatewayReply sends an answer addressed with a gateway prefix to the
// cluster whose hash it names, whatever that cluster's interest.
func (c *client) sendGatewayReply(gs *gatewayState, outs []*client, subject string, hdr, payload []byte) bool {
	hash := subject[len(gwReplyPrefix) : len(gwReplyPrefix)+6]
	for _, oc := range outs {
		if oc.gw.remoteHash == hash {
			c.sendGatewayMsg(gs, oc, subject, nil, nil, hdr, payload, false)
			return true
		}
	}
	return false
}

// sendGatewayMsg writes RMSG (HMSG with headers) on an outbound connection:
// "RMSG <acc> <subject> [reply | + reply q... | | q...] [hdr] <size>". The
// reply gets our prefix, "_GR_.<our cluster hash>.<our server hash>.".
func (c *client) sendGatewayMsg(gs *gatewayState, oc *client, subject string, reply []byte, qs []string, hdr, payload []byte, mapReply bool) {
	var lb [320]byte
	b := lb[:0]
	if hdr != nil {
		b = append(b, "HMSG "...)
	} else {
		b = append(b, "RMSG "...)
	}
	b = append(append(b, c.acc.Name...), ' ')
	b = append(append(b, subject...), ' ')
	if len(qs) > 0 {
		if len(reply) > 0 {
			b = append(b, "+ "...)
		} else {
			b = append(b, "| "...)
		}
	}
	if len(reply) > 0 {
		if mapReply && !isGWReply(bytesToString(reply)) {
			b = append(append(append(append(append(b, gwReplyPrefix...), gs.hash...), '.'), gs.srvHash...), '.')
		}
		b = append(append(b, reply...), ' ')
	}
	for _, q := range qs {
		b = append(append(b, q...), ' ')
	}
	size := len(payload) + len(hdr)
	if hdr != nil {
		b = append(strconv.AppendInt(b, int64(len(hdr)), 10), ' ')
	}
	b = append(strconv.AppendInt(b, int64(size), 10), '\r', '\n')
	oc.mu.Lock()
	if oc.closed {
		oc.mu.Unlock()
		return
	}
	oc.appendOut(b)
	if hdr != nil {
		oc.appendOut(hdr)
	}
	oc.appendOut(payload)
	oc.appendOut(crlf)
	slow := oc.checkSlowConsumer()
	if ch := oc.out.stallChan(); ch != nil && c.kind == CLIENT {
		c.stall = ch
	}
	oc.mu.Unlock()
	if slow {
		return
	}
	if oc.tracing() {
		oc.traceOut(string(b[:len(b)-2]))
	}
	oc.outMsgs.Add(1)
	oc.outBytes.Add(int64(size))
	c.countOut(size)
	c.addToFlush(oc)
}

// processMsg delivers a message from another cluster: to this server's
// subscribers and, on the routes, to the rest of the cluster (it came to
// this server only); queue groups only if the sender named them. Nothing
// goes back to a gateway (one hop).
func (gatewayProtocol) processMsg(c *client, msg []byte) {
	c.pend.inMsgs++
	c.pend.inBytes += int64(len(msg))
	if c.tracing() {
		c.traceInMsg(msg)
	}
	acc := c.gatewayAccount()
	if acc == nil {
		return
	}
	var hdr []byte
	payload := msg
	if c.pa.hdr >= 0 {
		hdr, payload = msg[:c.pa.hdr], msg[c.pa.hdr:]
	}
	subject := bytesToString(c.pa.subject)
	if isGWReply(subject) {
		gs := c.srv.gw.Load()
		if subject[len(gwReplyPrefix):len(gwReplyPrefix)+6] != gs.hash {
			return // an answer for another cluster: not ours to route
		}
		// An answer to a request of this cluster: the requester's interest
		// is known here (locally or on a route), so it is delivered as the
		// subject it was published to.
		subject = subject[gwReplyPrefixLen:]
	}
	r := c.match(subject)
	c.deliverFromGateway(r, subject, c.pa.reply, hdr, payload)
	c.rc.release(r)
}

// gatewayAccount is the account of the RMSG being read, looked up when it
// changes; an unknown account is answered with A-, and an account met for
// the first time on this connection is switched to interest-only mode.
func (c *client) gatewayAccount() *Account {
	g := c.gw
	name := c.pa.acc
	if c.acc != nil && string(name) == string(g.lastName) {
		return c.acc
	}
	gs := c.srv.gw.Load()
	acc, ok := c.srv.LookupAccount(string(name))
	if !ok {
		gs.noAccount(c, string(name))
		return nil
	}
	g.lastName = append(g.lastName[:0], name...)
	c.mu.Lock()
	c.acc = acc
	c.mu.Unlock()
	c.rc = nil // the match cache was for the previous account
	g.imu.RLock()
	told := g.told[acc.Name]
	g.imu.RUnlock()
	if !told {
		gs.sendAccountInterest(c, acc.Name)
		c.signalFlush()
	}
	return acc
}

// deliverFromGateway delivers to every plain subscription of this cluster
// (local ones directly, other servers' once per route) and, for each queue
// group the sender named, to one member, preferring this server's.
func (c *client) deliverFromGateway(r *SublistResult, subject string, reply, hdr, payload []byte) {
	var fan routeFanout
	for _, sub := range r.psubs {
		if sub.client != nil && sub.client.kind == ROUTER {
			fan.addPlain(sub)
			continue
		}
		c.deliver(sub, subject, reply, hdr, payload)
	}
	if len(c.pa.queues) > 0 {
		for _, qs := range r.qsubs {
			if len(qs) == 0 || !queueNamed(c.pa.queues, qs[0].queue) {
				continue
			}
			c.deliverGatewayQueue(qs, &fan, subject, reply, hdr, payload)
		}
	}
	if fan.n > 0 {
		c.sendRouted(&fan, c.acc, subject, reply, hdr, payload)
	}
}

func (c *client) deliverGatewayQueue(qs []*subscription, fan *routeFanout, subject string, reply, hdr, payload []byte) {
	n := len(qs)
	start := 0
	if n > 1 {
		start = rand.IntN(n)
	}
	var remote *subscription
	for i := 0; i < n; i++ {
		sub := qs[(start+i)%n]
		if sub.client != nil && sub.client.kind == ROUTER {
			if remote == nil {
				remote = sub
			}
			continue
		}
		if c.deliver(sub, subject, reply, hdr, payload) {
			return
		}
	}
	if remote != nil {
		fan.addQueue(remote)
	}
}
