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

// Where a delivery comes from.
const (
	srcNew  = iota // the next stream message after the cursor
	srcRedo        // a redelivery
	srcLast        // deliver last_per_subject's initial list
)

// deliver serves the waiting requests with what is committed.
func (w *consumerWorker) deliver(c *consumer) {
	if w.holdWhilePaused(c, time.Now()) {
		return
	}
	if c.push != nil {
		w.deliverPush(c)
		return
	}
	npKnown := false
	for {
		c.mu.Lock()
		if c.deleted || c.waiting.len() == 0 || c.ackPendingFull() || c.paused(time.Now()) {
			c.mu.Unlock()
			return
		}
		src, seq, from, filters := c.nextSource()
		c.mu.Unlock()
		upTo := c.st.cons.committed.Load()
		if !npKnown {
			w.np, npKnown = c.numPending(), true
		}
		if found, gone := w.loadSource(c, src, seq, from, filters, upTo); gone {
			continue
		} else if !found {
			w.endOfMessages(c, from, upTo)
			return
		}
		if !w.offer(c, src) {
			return
		}
	}
}

// nextSource is what c would deliver next (c.mu held): a redelivery
// first, then deliver last_per_subject's list, then the next message after
// the cursor (from) matching filters.
func (c *consumer) nextSource() (src int, seq, from uint64, filters []string) {
	from, filters = c.state.sseq, c.filters
	if redo := c.nextRedelivery(); redo != 0 {
		return srcRedo, redo, from, filters
	}
	if len(c.state.lps) > 0 {
		return srcLast, c.state.lps[0], from, filters
	}
	return srcNew, 0, from, filters
}

// loadSource loads what nextSource chose into w.sm. gone: a listed message
// was removed meanwhile (dropped from its list; ask again); !found: no
// committed message after from up to upTo.
func (w *consumerWorker) loadSource(c *consumer, src int, seq, from uint64, filters []string, upTo uint64) (found, gone bool) {
	if src == srcNew {
		return c.loadNext(filters, from, upTo, &w.sm), false
	}
	if m, err := c.st.store.LoadMsg(seq, &w.sm); err != nil || m == nil {
		c.messageGone(w, src, seq)
		return false, true
	}
	return true, false
}

// messageGone drops a redelivery or a last-per-subject entry whose
// message was removed meanwhile.
func (c *consumer) messageGone(w *consumerWorker, src int, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.state
	if src == srcLast {
		if len(s.lps) > 0 && s.lps[0] == seq {
			s.lps = s.lps[1:]
		}
		return
	}
	if len(s.rdq) > 0 && s.rdq[0].Stream == seq {
		s.rdq = s.rdq[1:]
	}
	if p, ok := s.pending[seq]; ok {
		w.out = append(w.out, consumerEvent{kind: cevTerm, cseq: p.Sequence, sseq: seq,
			dc: s.deliveryCount(seq), reason: "Unacknowledged message was deleted"})
		delete(s.pending, seq)
		delete(s.redelivered, seq)
		s.dirty = true
		s.raiseFloor()
	}
}

// numPending is how many messages c has still to deliver.
func (c *consumer) numPending() uint64 {
	c.mu.Lock()
	sseq, filters, lps := c.state.sseq, c.filters, len(c.state.lps)
	c.mu.Unlock()
	return uint64(lps) + c.st.filtersPending(filters, sseq)
}

// ackPendingFull reports whether c may not deliver more until acks come;
// c.mu held. A redelivery that is due still goes out, as with the
// reference: it adds nothing to the pending count, and without it a
// consumer at its limit would wait for acks that never come (clients
// rely on it, e.g. nats.py's backoff test with max_ack_pending reached).
func (c *consumer) ackPendingFull() bool {
	return c.cfg.AckPolicy != AckNone && c.cfg.MaxAckPending > 0 &&
		len(c.state.pending) >= c.cfg.MaxAckPending && c.nextRedelivery() == 0
}

// nextRedelivery is the next sequence to deliver again, still pending
// with the delivery it repeats, 0 if none; c.mu held.
func (c *consumer) nextRedelivery() uint64 {
	s := &c.state
	for len(s.rdq) > 0 {
		r := s.rdq[0]
		if p, ok := s.pending[r.Stream]; ok && p.Sequence == r.Consumer {
			return r.Stream
		}
		s.rdq = s.rdq[1:]
	}
	if len(s.rdq) == 0 && cap(s.rdq) > 1024 {
		s.rdq = nil
	}
	return 0
}

// dropRedelivery forgets a redelivery whose message is gone.
func (c *consumer) dropRedelivery(seq uint64) {
	c.mu.Lock()
	s := &c.state
	if len(s.rdq) > 0 && s.rdq[0].Stream == seq {
		s.rdq = s.rdq[1:]
	}
	c.mu.Unlock()
}

// endOfMessages: nothing more to deliver below upTo. The cursor moves
// past what was searched, no_wait requests end with 404, and the others
// wait for the next commit. A no_wait request with expires is the
// reference's "wait for at least one": it waits (ending with 408 at
// expiry) until it got a message, and only then ends with 404.
func (w *consumerWorker) endOfMessages(c *consumer, from, upTo uint64) {
	c.mu.Lock()
	if from <= upTo+1 && c.state.sseq == from {
		c.state.sseq = upTo + 1
	}
	for i := 0; i < len(c.waiting.reqs); {
		pr := c.waiting.reqs[i]
		if pr.noWait && (pr.expires.IsZero() || pr.sent > 0) {
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
// it and someone still listens on its reply subject. It returns false
// when delivery must pause (replay pacing).
func (w *consumerWorker) offer(c *consumer, src int) bool {
	m := &w.sm
	c.mu.Lock()
	if c.deleted || c.waiting.len() == 0 {
		c.mu.Unlock()
		return true
	}
	now := time.Now()
	if src == srcNew && c.cfg.ReplayPolicy == ReplayOriginal && !c.replayDue(m.TS, now) {
		c.mu.Unlock()
		return false
	}
	if !c.pickRequest(w, w.np, now) {
		c.mu.Unlock()
		return w.priorityStalled(c)
	}
	pr := c.waiting.reqs[0]
	res := c.st.ja.acc.sl.MatchOnce(pr.reply, &w.match)
	if len(res.psubs) == 0 && len(res.qsubs) == 0 {
		c.waiting.remove(0) // the requester is gone: no delivery into the void
		c.mu.Unlock()
		return true
	}
	hdr, body, size := w.frame(c, src)
	if pr.maxBytes > 0 && size > pr.maxBytes {
		if src != srcRedo {
			w.np++
		}
		c.waiting.remove(0)
		c.mu.Unlock()
		c.sendStatus(pr.reply, statusMaxBytesMsg, pr.batch, pr.maxBytes)
		return true
	}
	c.advance(src, m.Seq)
	c.state.recordDelivery(&c.cfg, m.Seq, now, src == srcRedo)
	if c.cfg.AckPolicy == AckNone {
		w.acked = append(w.acked, m.Seq) // delivered is done, for retention
	}
	done := c.served(pr, size, now)
	c.mu.Unlock()
	w.c.pushSubject = pr.reply // a response route across an import forwards on it
	w.c.deliverResultAs(res, pr.reply, m.Subject, w.reply, w.deliveryHeader(c, hdr), body)
	w.c.pushSubject = ""
	if done && pr.byteCap {
		// The count was met before the bytes: said after the message.
		c.sendStatus(pr.reply, statusBatchCompleted, 0, pr.maxBytes)
	}
	return true
}

// advance moves past the message being delivered; c.mu held.
func (c *consumer) advance(src int, seq uint64) {
	s := &c.state
	switch src {
	case srcNew:
		s.sseq = seq + 1
	case srcRedo:
		s.rdq = s.rdq[1:]
	case srcLast:
		s.lps = s.lps[1:]
		if len(s.lps) == 0 {
			s.lps = nil
		}
	}
}

// served counts a delivery against the head request, which then goes
// to the back of the queue (requests take turns, one message each, as
// with the reference) or leaves it when its batch is complete, which it
// reports; c.mu held.
func (c *consumer) served(pr *pullRequest, size int, now time.Time) bool {
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
		c.waiting.reqs = append(c.waiting.reqs, pr)
		return false
	}
	return true
}

// replayDue paces replay_policy original: messages go out as far apart as
// they were stored, counted from the first one delivered. When ts is not
// due yet, the timer is set for it; c.mu held.
func (c *consumer) replayDue(ts int64, now time.Time) bool {
	if c.replayWall.IsZero() {
		c.replayWall, c.replayTS = now, ts
		return true
	}
	due := c.replayWall.Add(time.Duration(ts - c.replayTS))
	if !now.Before(due) {
		return true
	}
	c.replayAt = due
	return false
}

// frame prepares the loaded message's delivery: the pending count it
// reports, its ack reply subject (in w.reply) and, for a headers-only
// consumer, the header without the body. size is what the delivery counts
// against max_bytes and rate limits. c.mu is held.
func (w *consumerWorker) frame(c *consumer, src int) (hdr, body []byte, size int) {
	m := &w.sm
	if src != srcRedo && w.np > 0 {
		w.np--
	}
	dc := c.state.deliveryCount(m.Seq)
	if src == srcRedo {
		dc++
	}
	w.reply = c.appendAckReply(w.reply[:0], dc, m.Seq, c.state.delivered.Consumer+1, m.TS, w.np)
	hdr, body = m.Hdr, m.Msg
	if c.cfg.HeadersOnly {
		w.hdr = appendMsgSizeHeader(w.hdr[:0], m.Hdr, len(m.Msg))
		hdr, body = w.hdr, nil
	}
	return hdr, body, len(m.Subject) + len(w.reply) + len(hdr) + len(body)
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

// appendMsgSizeHeader is headers_only's header block: the stored headers
// (or an empty block) with Nats-Msg-Size: <payload length> added.
func appendMsgSizeHeader(b, hdr []byte, size int) []byte {
	if len(hdr) >= 4 && string(hdr[len(hdr)-4:]) == "\r\n\r\n" {
		b = append(b, hdr[:len(hdr)-2]...)
	} else {
		b = append(b, "NATS/1.0\r\n"...)
	}
	b = append(b, "Nats-Msg-Size: "...)
	b = strconv.AppendInt(b, int64(size), 10)
	return append(b, "\r\n\r\n"...)
}

// paused reports whether pause_until holds deliveries back at now; c.mu
// held. The timer wakes the consumer when the pause ends.
func (c *consumer) paused(now time.Time) bool {
	return c.cfg.PauseUntil != nil && now.Before(*c.cfg.PauseUntil)
}
