package server

import (
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Consumers share a small pool of workers: a consumer with something to
// do (a pull request, acks, a committed message it waits for, a timer)
// is queued once and run by one worker at a time, so that no consumer
// needs a goroutine of its own and an idle one costs no CPU.

// consumerWorkers is the pool: a FIFO of consumers to run.
type consumerWorkers struct {
	mu   sync.Mutex
	cond *sync.Cond
	q    []*consumer
	quit bool
	wg   sync.WaitGroup
}

// consumerWorker is one worker's scratch: the client deliveries go out
// through (its pending-flush set wakes each receiver once per run) and
// buffers reused for every message.
type consumerWorker struct {
	c     *client
	match SublistResult
	sm    StoreMsg
	reply []byte
	hdr   []byte // headers_only header block
	// out are the advisories and ack-of-acks of this run, in order; sent
	// once the state is saved (syncs counts the ack-of-acks).
	out    []consumerEvent
	syncs  int
	acked  []uint64 // sequences acknowledged, for retention
	np     uint64   // the consumer's num_pending during deliver
	status []pendingStatus
	pin    string // the pin of the message being offered (consumer_priority.go)
	pinNew bool   // the pin changed while picking: its advisories go first
	pinHdr []byte // a delivery's header with its Nats-Pin-Id
}

// pendingStatus is a status line decided under the consumer's lock and
// sent after it is released.
type pendingStatus struct {
	reply string
	hdr   []byte
}

// consumerWork returns the server's consumer workers, started on first use.
func (js *jetStream) consumerWork() *consumerWorkers {
	js.cworkOnce.Do(func() {
		p := &consumerWorkers{}
		p.cond = sync.NewCond(&p.mu)
		n := min(max(runtime.GOMAXPROCS(0), 2), 16)
		for i := 0; i < n; i++ {
			p.wg.Add(1)
			go p.work(js)
		}
		js.cwork = p
	})
	return js.cwork
}

// stopConsumerWork ends the workers (JetStream shutdown).
func (js *jetStream) stopConsumerWork() {
	js.cworkOnce.Do(func() {}) // none started: none will be
	p := js.cwork
	if p == nil {
		return
	}
	p.mu.Lock()
	p.quit = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *consumerWorkers) push(c *consumer) {
	p.mu.Lock()
	if p.quit {
		p.mu.Unlock()
		return
	}
	p.q = append(p.q, c)
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *consumerWorkers) work(js *jetStream) {
	defer p.wg.Done()
	s := js.srv
	w := &consumerWorker{c: &client{cid: s.gcid.Add(1), kind: SYSTEM, srv: s,
		subs: make(map[string]*subscription), pcd: make(map[*client]struct{}), echo: true, headers: true}}
	w.c.pa.hdr = -1
	for {
		p.mu.Lock()
		for len(p.q) == 0 && !p.quit {
			p.cond.Wait()
		}
		if p.quit {
			p.mu.Unlock()
			return
		}
		c := p.q[0]
		p.q[0] = nil
		p.q = p.q[1:]
		if len(p.q) == 0 {
			p.q = p.q[:0:0]
		}
		p.mu.Unlock()
		w.run(c)
		if !c.sched.CompareAndSwap(1, 0) {
			c.sched.Store(1)
			p.push(c)
		}
	}
}

// schedule queues c for a worker unless it is queued already; a consumer
// being run is run once more.
func (c *consumer) schedule() {
	for {
		switch c.sched.Load() {
		case 0:
			if c.sched.CompareAndSwap(0, 1) {
				if p := c.st.ja.js.consumerWork(); p != nil {
					p.push(c)
				}
				return // nil: JetStream has shut down
			}
		case 1:
			if c.sched.CompareAndSwap(1, 2) {
				return
			}
		default:
			return
		}
	}
}

// run does everything c has to do now.
func (w *consumerWorker) run(c *consumer) {
	if !c.st.answersHere() {
		return // a replicated stream's follower: its consumers stop at once
	}
	now := time.Now()
	w.c.acc = c.st.ja.acc
	w.applyAcks(c, now)
	w.expireRequests(c, now)
	w.deliver(c)
	c.adminTick(now)
	w.retire(c) // before the ack-of-acks: an answered ack has removed its message
	if w.syncs > 0 {
		// Answered acks are durable before their answer goes out.
		_ = c.flushState()
	}
	w.sendOut(c)
	c.maybeFlush(now)
	w.sendStatuses(c)
	if c.inactive(now) {
		c.st.ja.deleteInactive(c)
		return
	}
	c.rearm()
	for rc := range w.c.pcd {
		rc.signalFlush()
		delete(w.c.pcd, rc)
	}
}

// sendOut publishes the run's advisories and ack-of-acks in order.
func (w *consumerWorker) sendOut(c *consumer) {
	for i := range w.out {
		ev := &w.out[i]
		if ev.kind == cevReply {
			c.st.ja.js.srv.PublishInternal(c.st.ja.acc, ev.reply, "", nil, nil)
		} else {
			c.publishEvent(ev)
		}
		w.out[i] = consumerEvent{}
	}
	w.out, w.syncs = w.out[:0], 0
}

func (w *consumerWorker) sendStatuses(c *consumer) {
	for i := range w.status {
		ps := &w.status[i]
		c.st.ja.js.srv.PublishInternal(c.st.ja.acc, ps.reply, "", ps.hdr, nil)
		w.status[i] = pendingStatus{}
	}
	w.status = w.status[:0]
}

// retire tells the stream about acknowledged messages (interest and
// workqueue retention remove them).
func (w *consumerWorker) retire(c *consumer) {
	if len(w.acked) == 0 {
		return
	}
	st := c.st
	if st.cfg().Retention != LimitsPolicy {
		for _, seq := range w.acked {
			if m, err := st.store.LoadMsg(seq, &w.sm); err == nil && m != nil {
				st.consumerAcked(seq, m.Subject)
			}
		}
	}
	w.acked = w.acked[:0]
}

// expireRequests ends the requests whose time is up (408) and sends the
// idle heartbeats that are due.
func (w *consumerWorker) expireRequests(c *consumer, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting.len() > 0 {
		// Requests waiting until now were activity, whether they end
		// now or not (inactive_threshold counts from here).
		c.activeNs.Store(now.UnixNano())
	}
	c.redeliverDue(w, now)
	for i := 0; i < len(c.waiting.reqs); {
		pr := c.waiting.reqs[i]
		if !pr.expires.IsZero() && !now.Before(pr.expires) {
			w.status = append(w.status, pendingStatus{pr.reply,
				appendStatusHeader(nil, statusRequestTimeout, pr.batch, pr.maxBytes)})
			c.waiting.remove(i)
			continue
		}
		if pr.hb > 0 && !now.Before(pr.nextHB) {
			w.status = append(w.status, pendingStatus{pr.reply, c.heartbeatHeader()})
			pr.nextHB = now.Add(pr.hb)
		}
		i++
	}
}

// heartbeatHeader is the 100 Idle Heartbeat status; c.mu held.
func (c *consumer) heartbeatHeader() []byte {
	b := append([]byte(nil), "NATS/1.0 "+statusIdleHeartbeat+"\r\nNats-Last-Consumer: "...)
	b = strconv.AppendUint(b, c.state.delivered.Consumer, 10)
	b = append(b, "\r\nNats-Last-Stream: "...)
	b = strconv.AppendUint(b, c.state.delivered.Stream, 10)
	return append(b, "\r\n\r\n"...)
}

// rearm sets c's one timer to its earliest deadline (a request's expiry
// or heartbeat), or stops it when there is nothing to time.
func (c *consumer) rearm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return
	}
	next := c.flushAt
	if t := c.inactiveAt(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
		next = t
	}
	if !c.replayAt.IsZero() && c.waiting.len() > 0 && (next.IsZero() || c.replayAt.Before(next)) {
		next = c.replayAt
	}
	if c.paused(time.Now()) && c.waiting.len() > 0 && (next.IsZero() || c.cfg.PauseUntil.Before(next)) {
		next = *c.cfg.PauseUntil
	}
	if at := c.state.nextDue(&c.cfg); at != 0 && c.waiting.len() > 0 {
		if t := time.Unix(0, at); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, pr := range c.waiting.reqs {
		if !pr.expires.IsZero() && (next.IsZero() || pr.expires.Before(next)) {
			next = pr.expires
		}
		if pr.hb > 0 && (next.IsZero() || pr.nextHB.Before(next)) {
			next = pr.nextHB
		}
	}
	next = earlier(next, c.pushDeadline())
	next = c.adminDeadline(next)
	if next.IsZero() {
		if c.timer != nil && !c.armedAt.IsZero() {
			c.timer.Stop()
		}
		c.armedAt = time.Time{}
		return
	}
	if next.Equal(c.armedAt) {
		return
	}
	c.armedAt = next
	d := time.Until(next)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
		return
	}
	c.timer.Reset(d)
}

func (c *consumer) onTimer() {
	c.mu.Lock()
	c.armedAt, c.replayAt = time.Time{}, time.Time{}
	c.mu.Unlock()
	c.schedule()
}

// inactiveAt is when c is deleted for inactivity (inactive_threshold): the
// threshold after its last activity, while no request waits; zero when it
// is not to be timed. c.mu held.
func (c *consumer) inactiveAt() time.Time {
	if c.cfg.InactiveThreshold <= 0 {
		return time.Time{}
	}
	if c.waiting.len() > 0 || c.pushActive() {
		c.activeNs.Store(time.Now().UnixNano()) // a waiting request or a bound push consumer is activity
		return time.Time{}
	}
	return time.Unix(0, c.activeNs.Load()).Add(c.cfg.InactiveThreshold)
}

// inactive reports whether c's inactivity deadline has passed.
func (c *consumer) inactive(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.inactiveAt()
	return !c.deleted && !t.IsZero() && !now.Before(t)
}

// deleteInactive deletes a consumer left inactive, as a delete request
// would, unless it became active meanwhile.
func (ja *jsAccount) deleteInactive(c *consumer) {
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if !c.inactive(time.Now()) || c.st.lookupConsumer(c.name) != c {
		c.rearm()
		return
	}
	if err := c.st.deleteConsumer(c); err != nil {
		ja.js.srv.Warnf("JetStream consumer '%s > %s > %s': deleting inactive consumer: %v",
			ja.acc.Name, c.st.name, c.name, err)
	}
	ja.adviseConsumer(c.st.name, c.name, jsActionDelete)
}
