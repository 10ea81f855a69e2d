package server

import (
	"strconv"
	"time"
)

// Delivery: the worker takes the head of the waiting queue and sends it
// the next message (a redelivery first), one at a time, with the
// consumer's lock held only to pick and to record. The destination is a
// subject: a pull request's reply here, a push consumer's deliver subject
// later.

// deliver serves the waiting requests with what is committed.
func (w *consumerWorker) deliver(c *consumer) {
	if c.push != nil {
		w.deliverPush(c)
		return
	}
	var np uint64
	npKnown := false
	for {
		c.mu.Lock()
		if c.deleted || c.waiting.len() == 0 || c.ackPendingFull() {
			c.mu.Unlock()
			return
		}
		redo, from, filters := c.nextRedelivery(), c.state.sseq, c.filters
		c.mu.Unlock()
		upTo := c.st.cons.committed.Load()
		var ok bool
		if redo != 0 {
			m, err := c.st.store.LoadMsg(redo, &w.sm)
			ok = err == nil && m != nil
			if !ok {
				c.dropRedelivery(redo)
				continue
			}
		} else {
			if !npKnown {
				np, npKnown = c.st.filtersPending(filters, from), true
			}
			ok = c.loadNext(filters, from, upTo, &w.sm)
		}
		if !ok {
			w.endOfMessages(c, from, upTo)
			return
		}
		if redo == 0 && np > 0 {
			np--
		}
		w.offer(c, redo != 0, np)
	}
}

// ackPendingFull reports whether c may not deliver more until acks come;
// c.mu held.
func (c *consumer) ackPendingFull() bool {
	return c.cfg.AckPolicy != AckNone && c.cfg.MaxAckPending > 0 && len(c.state.pending) >= c.cfg.MaxAckPending
}

// nextRedelivery is the next NAKed sequence still pending, 0 if none;
// c.mu held.
func (c *consumer) nextRedelivery() uint64 {
	s := &c.state
	for len(s.rdq) > 0 {
		seq := s.rdq[0]
		if _, ok := s.pending[seq]; ok {
			return seq
		}
		s.rdq = s.rdq[1:]
	}
	return 0
}

func (c *consumer) dropRedelivery(seq uint64) {
	c.mu.Lock()
	s := &c.state
	if len(s.rdq) > 0 && s.rdq[0] == seq {
		s.rdq = s.rdq[1:]
	}
	c.mu.Unlock()
}

// endOfMessages: nothing more to deliver below upTo. The cursor moves
// past what was searched, no_wait requests end with 404, and the others
// wait for the next commit.
func (w *consumerWorker) endOfMessages(c *consumer, from, upTo uint64) {
	c.mu.Lock()
	if from <= upTo+1 && c.state.sseq == from {
		c.state.sseq = upTo + 1
	}
	for i := 0; i < len(c.waiting.reqs); {
		pr := c.waiting.reqs[i]
		if pr.noWait {
			w.status = append(w.status, pendingStatus{pr.reply, appendStatusHeader(nil, statusNoMessages, 0, 0)})
			c.waiting.remove(i)
			continue
		}
		i++
	}
	waiting := c.waiting.len() > 0 && !c.deleted
	c.mu.Unlock()
	if waiting {
		c.waitCommit(upTo)
	}
}

// offer sends the loaded message to the head request, if it still wants
// it and someone still listens on its reply subject.
func (w *consumerWorker) offer(c *consumer, redelivery bool, np uint64) {
	m := &w.sm
	c.mu.Lock()
	if c.deleted || c.waiting.len() == 0 {
		c.mu.Unlock()
		return
	}
	pr := c.waiting.reqs[0]
	res := c.st.ja.acc.sl.MatchOnce(pr.reply, &w.match)
	if len(res.psubs) == 0 && len(res.qsubs) == 0 {
		c.waiting.remove(0) // the requester is gone: no delivery into the void
		c.mu.Unlock()
		return
	}
	now := time.Now()
	dc := c.state.deliveryCount(m.Seq)
	if redelivery {
		dc++
	}
	w.reply = c.appendAckReply(w.reply[:0], dc, m.Seq, c.state.delivered.Consumer+1, m.TS, np)
	size := len(m.Subject) + len(w.reply) + len(m.Hdr) + len(m.Msg)
	if pr.maxBytes > 0 && size > pr.maxBytes {
		w.status = append(w.status, pendingStatus{pr.reply,
			appendStatusHeader(nil, statusMaxBytesMsg, pr.batch, pr.maxBytes)})
		c.waiting.remove(0)
		c.mu.Unlock()
		return
	}
	if !redelivery {
		c.state.sseq = m.Seq + 1
	} else {
		c.state.rdq = c.state.rdq[1:]
	}
	c.state.recordDelivery(m.Seq, now, c.cfg.AckPolicy, redelivery)
	pr.batch--
	pr.sent++
	if pr.maxBytes > 0 {
		pr.maxBytes -= size
	}
	if pr.hb > 0 {
		pr.nextHB = now.Add(pr.hb)
	}
	c.waiting.remove(0)
	if pr.batch > 0 {
		// Requests take turns, one message each, as with the reference.
		c.waiting.reqs = append(c.waiting.reqs, pr)
	}
	c.mu.Unlock()
	w.c.deliverResult(res, m.Subject, w.reply, m.Hdr, m.Msg)
}

// appendAckReply builds the v1 ack reply subject:
// $JS.ACK.<stream>.<consumer>.<deliveries>.<stream seq>.<consumer seq>.<ts>.<pending>.
func (c *consumer) appendAckReply(b []byte, dc, sseq, cseq uint64, ts int64, np uint64) []byte {
	b = append(b, c.ackPrefix...)
	b = strconv.AppendUint(b, dc, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, sseq, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, cseq, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '.')
	return strconv.AppendUint(b, np, 10)
}
