package server

import "time"

// Push consumers (deliver_subject set): the consumer's worker publishes
// the stream's committed messages to the deliver subject while, and only
// while, that subject has interest in the account (with deliver_group:
// members of that queue group). An unbound push consumer is not woken by
// commits and arms no timer; a change of interest in its deliver subject
// (consumer_push_interest.go) schedules it. Flow control is in
// consumer_push_fc.go, idle heartbeats in consumer_heartbeat.go.

// pushRunMax bounds the messages one worker run sends for one consumer, so
// that a consumer with a backlog takes turns with the others.
const pushRunMax = 256

// pushState is a push consumer's delivery state; guarded by consumer.mu.
type pushState struct {
	subject string // deliver subject
	group   string // deliver group; "" for none
	bound   bool   // the deliver subject had interest at the worker's last look
	watched bool   // registered with the account's deliverWatchers
	// lastOut is when the deliver subject last got a message or a status:
	// idle heartbeats count from it.
	lastOut time.Time
	// rateNext is when rate_limit_bps lets the next message go; rateWait
	// is set while delivery waits for it.
	rateNext time.Time
	rateWait bool
	fc       flowControl
}

// newPushState returns the push state of consumer name for cfg, nil for a
// pull consumer. The name is the registered one: an ephemeral created
// without a name has none in cfg, and its flow-control replies must still
// name it for the answers to find it.
func newPushState(st *stream, name string, cfg *ConsumerConfig) *pushState {
	if cfg.DeliverSubject == "" {
		return nil
	}
	p := &pushState{subject: cfg.DeliverSubject, group: cfg.DeliverGroup}
	p.fc.init(st.name, name)
	return p
}

// startPush begins watching the deliver subject (the consumer was just
// registered) and has the worker look at its interest at once.
func (c *consumer) startPush() {
	c.mu.Lock()
	p := c.push
	if p == nil || p.watched || c.deleted {
		c.mu.Unlock()
		return
	}
	p.watched = true
	subject, fc := p.subject, c.cfg.FlowControl
	c.mu.Unlock()
	c.st.ja.acc.deliverSubs.watch(subject, c)
	if fc {
		c.st.ja.ensureFlowControlSub()
	}
	c.schedule()
}

// stopPush stops watching the deliver subject (delete, stop); c.mu held.
func (c *consumer) stopPush() {
	p := c.push
	if p == nil || !p.watched {
		return
	}
	p.watched, p.bound = false, false
	c.st.ja.acc.deliverSubs.unwatch(p.subject, c)
}

// pushReconfigured applies an update's deliver subject and group; c.mu
// held. Moving to another subject watches it instead of the old one.
func (c *consumer) pushReconfigured() {
	p := c.push
	if p == nil {
		return
	}
	p.group = c.cfg.DeliverGroup
	if c.cfg.DeliverSubject == p.subject {
		return
	}
	if c.cfg.DeliverSubject == "" {
		c.stopPush() // push to pull is refused at create; never deliver to ""
		return
	}
	watched := p.watched
	c.stopPush()
	p.subject = c.cfg.DeliverSubject
	if watched {
		p.watched = true
		c.st.ja.acc.deliverSubs.watch(p.subject, c)
	}
}

// pushActive reports whether c is a push consumer bound at the worker's
// last look: it is active for inactive_threshold. c.mu held.
func (c *consumer) pushActive() bool { return c.push != nil && c.push.bound }

// pushBound reports whether c's deliver subject has interest now (push_bound).
func (c *consumer) pushBound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.push
	if p == nil || c.deleted {
		return false
	}
	return deliverInterest(p.subject, c.st.ja.acc.sl.Match(p.subject), p.group)
}

// deliverPush is the push consumer's part of a worker run: it looks at
// the deliver subject's interest, applies flow-control acks, sends what
// may go now and an idle heartbeat when one is due.
func (w *consumerWorker) deliverPush(c *consumer) {
	now := time.Now()
	c.mu.Lock()
	p := c.push
	res := c.st.ja.acc.sl.Match(p.subject)
	wasBound := p.bound
	p.bound = !c.deleted && p.watched && deliverInterest(p.subject, res, p.group)
	if p.bound && !wasBound {
		p.lastOut = now // heartbeats count from the binding
	}
	if p.bound != wasBound {
		c.activeNs.Store(now.UnixNano()) // inactive_threshold counts from the unbinding
	}
	bound := p.bound
	if p.fc.ackTo > 0 {
		w.acked = c.state.ackUpTo(p.fc.ackTo, now, w.acked)
		p.fc.ackTo = 0
	}
	c.mu.Unlock()
	if !bound {
		return
	}
	w.pushMessages(c, res)
	w.pushHeartbeat(c, res, time.Now())
}

// pushMessages sends committed messages while c may: bound, below its
// ack pending limit, not stalled on flow control, within its rate. The
// choice of message is the pull loop's (deliver): a redelivery first,
// then deliver last_per_subject's list, then the next after the cursor.
func (w *consumerWorker) pushMessages(c *consumer, res *SublistResult) {
	npKnown := false
	for n := 0; ; n++ {
		if n == pushRunMax {
			c.schedule() // the rest after the others' turn
			return
		}
		c.mu.Lock()
		if !c.pushMayDeliver(time.Now()) {
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
			c.pushCaughtUp(from, upTo)
			return
		}
		if !w.offerPush(c, res, src) {
			return
		}
	}
}

// pushMayDeliver reports whether c may send a message now; c.mu held.
func (c *consumer) pushMayDeliver(now time.Time) bool {
	p := c.push
	if c.deleted || !p.bound || c.ackPendingFull() || p.fc.stalled() {
		return false
	}
	if now.Before(p.rateNext) {
		p.rateWait = true
		return false
	}
	p.rateWait = false
	return true
}

// pushCaughtUp: nothing more below upTo. The cursor moves past what was
// searched and c waits for the next commit, if it is still bound.
func (c *consumer) pushCaughtUp(from, upTo uint64) {
	c.mu.Lock()
	if from <= upTo+1 && c.state.sseq == from {
		c.state.sseq = upTo + 1
	}
	bound := c.push.bound && !c.deleted
	c.mu.Unlock()
	if bound {
		c.waitCommit(upTo)
	}
}

// offerPush sends the loaded message to the deliver subject and records
// it; a flow-control request follows when the window's half is reached.
// It returns false when delivery must pause (replay pacing).
func (w *consumerWorker) offerPush(c *consumer, res *SublistResult, src int) bool {
	m := &w.sm
	now := time.Now()
	c.mu.Lock()
	p := c.push
	if c.deleted || !p.bound {
		c.mu.Unlock()
		return false
	}
	if src == srcNew && c.cfg.ReplayPolicy == ReplayOriginal && !c.replayDue(m.TS, now) {
		c.mu.Unlock()
		return false
	}
	hdr, msg, size := w.frame(c, src)
	c.advance(src, m.Seq)
	c.state.recordDelivery(&c.cfg, m.Seq, now, src == srcRedo)
	p.lastOut = now
	p.paceRate(c.cfg.RateLimit, size, now)
	var fcReply string
	if c.cfg.FlowControl {
		fcReply = p.fc.delivered(size)
	}
	subject := p.subject
	c.mu.Unlock()
	w.c.pushSubject = subject
	w.c.deliverResultAs(res, subject, m.Subject, w.reply, hdr, msg)
	w.c.pushSubject = ""
	if fcReply != "" {
		w.c.deliverResult(res, subject, []byte(fcReply), fcRequestHeader, nil)
	}
	return true
}

// paceRate spaces messages so that rate_limit_bps (bits per second) holds
// on average: the next message may go once this one's bits have had
// their time.
func (p *pushState) paceRate(bps uint64, size int, now time.Time) {
	if bps == 0 {
		return
	}
	if p.rateNext.Before(now) {
		p.rateNext = now
	}
	p.rateNext = p.rateNext.Add(time.Duration(float64(size*8) / float64(bps) * float64(time.Second)))
}

// pushDeadline is when c's timer must run the worker for push delivery
// (a heartbeat, a paced message, a redelivery), zero for never; c.mu held.
func (c *consumer) pushDeadline() time.Time {
	p := c.push
	if p == nil || !p.bound || c.deleted {
		return time.Time{}
	}
	var next time.Time
	if c.cfg.Heartbeat > 0 {
		next = p.lastOut.Add(c.cfg.Heartbeat)
	}
	if p.rateWait {
		next = earlier(next, p.rateNext)
	}
	if at := c.state.nextDue(&c.cfg); at != 0 {
		next = earlier(next, time.Unix(0, at)) // ack wait: redeliveries
	}
	return earlier(next, c.replayAt)
}

// earlier returns the earlier of two deadlines, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
