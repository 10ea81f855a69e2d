package server

import (
	"strconv"
	"time"
)

// Idle heartbeats of push consumers (idle_heartbeat): while the deliver
// subject has interest and nothing went to it for idle_heartbeat, a
// "100 Idle Heartbeat" status tells the client where the consumer is, and
// while a flow-control request awaits its answer, on which subject
// (Nats-Consumer-Stalled), so that a client that missed the request can
// answer it. The consumer's one timer is armed for the next heartbeat
// only while the consumer is bound (pushDeadline).

// pushHeartbeat sends a heartbeat when one is due, and under ack policy
// flow_control a flow-control request after it while acks are pending.
func (w *consumerWorker) pushHeartbeat(c *consumer, res *SublistResult, now time.Time) {
	c.mu.Lock()
	p := c.push
	hb := c.cfg.Heartbeat
	if hb <= 0 || c.deleted || !p.bound || now.Sub(p.lastOut) < hb {
		c.mu.Unlock()
		return
	}
	p.lastOut = now
	w.hdr = c.appendPushHeartbeat(w.hdr[:0])
	var fcReply string
	if c.cfg.AckPolicy == AckFlowControl && len(c.state.pending) > 0 {
		fcReply = p.fc.request()
	}
	subject := p.subject
	c.mu.Unlock()
	w.c.deliverResult(res, subject, nil, w.hdr, nil)
	if fcReply != "" {
		w.c.deliverResult(res, subject, []byte(fcReply), fcRequestHeader, nil)
	}
}

// appendPushHeartbeat builds the heartbeat status: the last consumer
// sequence delivered and the last stream sequence the consumer has
// passed (its filters may have skipped messages after its last
// delivery, as the reference reports); c.mu held.
func (c *consumer) appendPushHeartbeat(b []byte) []byte {
	b = append(b, "NATS/1.0 "+statusIdleHeartbeat+"\r\nNats-Last-Consumer: "...)
	b = strconv.AppendUint(b, c.state.delivered.Consumer, 10)
	b = append(b, "\r\nNats-Last-Stream: "...)
	last := c.state.delivered.Stream
	if c.state.sseq > 0 {
		last = max(last, c.state.sseq-1)
	}
	b = strconv.AppendUint(b, last, 10)
	b = append(b, "\r\n"...)
	if c.push.fc.outstanding != "" {
		b = append(b, "Nats-Consumer-Stalled: "...)
		b = append(b, c.push.fc.outstanding...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}
