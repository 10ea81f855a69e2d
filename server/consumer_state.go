package server

import (
	"container/heap"
	"sync"
	"time"
)

// consumerState is a consumer's position and its unacknowledged
// deliveries. Guarded by consumer.mu.
type consumerState struct {
	sseq      uint64       // next stream sequence to look at
	start     uint64       // the first stream sequence the consumer considered
	delivered SequencePair // last delivery (consumer sequence = deliveries made)
	ackFloor  SequencePair // everything at or below is acknowledged
	lastDlv   time.Time    // time of the last delivery
	lastAck   time.Time    // time of the last acknowledgement
	// pending holds the unacknowledged deliveries by stream sequence.
	pending map[uint64]*Pending
	// redelivered counts deliveries beyond the first, by stream sequence.
	redelivered map[uint64]uint64
	// rdq are the pending deliveries to send again (NAK, ack wait over),
	// in the order they became due.
	rdq []SequencePair // stream sequence and the delivery it repeats
	// lps is deliver last_per_subject's list of first deliveries, in
	// order, delivered before the cursor (sseq, past them) moves on.
	lps []uint64
	// due orders the pending deliveries by ack deadline (stale entries are
	// skipped when they surface), for the consumer's one timer.
	due dueHeap
	// dirty: changed since last saved.
	dirty bool
}

// restore loads what was saved and times the pending deliveries again.
func (s *consumerState) restore(cfg *ConsumerConfig, saved *ConsumerState) {
	s.delivered, s.ackFloor = saved.Delivered, saved.AckFloor
	s.pending, s.redelivered = saved.Pending, saved.Redelivered
	if s.start == 0 {
		s.start = saved.AckFloor.Stream + 1
	}
	s.sseq = max(s.sseq, saved.Delivered.Stream+1)
	s.rebuildDue(cfg)
}

// snapshot is the state to save.
func (s *consumerState) snapshot() *ConsumerState {
	out := &ConsumerState{Delivered: s.delivered, AckFloor: s.ackFloor}
	if len(s.pending) > 0 {
		out.Pending = make(map[uint64]*Pending, len(s.pending))
		for k, p := range s.pending {
			cp := *p
			out.Pending[k] = &cp
		}
	}
	if len(s.redelivered) > 0 {
		out.Redelivered = make(map[uint64]uint64, len(s.redelivered))
		for k, v := range s.redelivered {
			out.Redelivered[k] = v
		}
	}
	return out
}

// acked reports whether seq needs nothing more from this consumer.
func (s *consumerState) acked(seq uint64) bool {
	if seq < s.start || seq <= s.ackFloor.Stream {
		return true
	}
	if seq > s.delivered.Stream {
		return false
	}
	_, p := s.pending[seq]
	return !p
}

// deliveryCount is how many times seq has been delivered, counting the
// one about to be made when next is set.
func (s *consumerState) deliveryCount(seq uint64) uint64 {
	return 1 + s.redelivered[seq]
}

// recordDelivery notes a first delivery of seq (or a redelivery) at now.
func (s *consumerState) recordDelivery(cfg *ConsumerConfig, seq uint64, now time.Time, redelivery bool) uint64 {
	s.delivered.Consumer++
	cseq := s.delivered.Consumer
	if seq > s.delivered.Stream {
		s.delivered.Stream = seq
	}
	s.lastDlv = now
	s.dirty = true
	if redelivery {
		if s.redelivered == nil {
			s.redelivered = make(map[uint64]uint64)
		}
		s.redelivered[seq]++
	}
	if cfg.AckPolicy == AckNone {
		s.ackFloor = s.delivered
		return cseq
	}
	if s.pending == nil {
		s.pending = make(map[uint64]*Pending)
	}
	p, ok := s.pending[seq]
	if ok {
		p.Sequence, p.Timestamp = cseq, now.UnixNano()
	} else {
		p = &Pending{Sequence: cseq, Timestamp: now.UnixNano()}
		s.pending[seq] = p
	}
	s.timeDelivery(cfg, seq, p)
	return cseq
}

// ackOne acknowledges one delivery; false if it was not pending.
func (s *consumerState) ackOne(seq uint64, now time.Time) bool {
	p, ok := s.pending[seq]
	if !ok {
		return false
	}
	delete(s.pending, seq)
	delete(s.redelivered, seq)
	s.lastAck, s.dirty = now, true
	if p.Sequence == s.ackFloor.Consumer+1 || seq == s.ackFloor.Stream+1 {
		s.raiseFloor()
	}
	return true
}

// ackUpTo acknowledges every pending delivery at or below seq (ack all);
// it returns the stream sequences acknowledged, appended to out.
func (s *consumerState) ackUpTo(seq uint64, now time.Time, out []uint64) []uint64 {
	for k := range s.pending {
		if k <= seq {
			delete(s.pending, k)
			delete(s.redelivered, k)
			out = append(out, k)
		}
	}
	if len(out) > 0 {
		s.lastAck, s.dirty = now, true
		s.raiseFloor()
	}
	return out
}

// raiseFloor moves the ack floor up to just below the oldest pending
// delivery, or to the last delivery when nothing is pending.
func (s *consumerState) raiseFloor() {
	if len(s.pending) == 0 {
		s.ackFloor = s.delivered
		return
	}
	low, lowP := uint64(0), (*Pending)(nil)
	for k, p := range s.pending {
		if lowP == nil || k < low {
			low, lowP = k, p
		}
	}
	if low-1 > s.ackFloor.Stream {
		s.ackFloor.Stream = low - 1
	}
	if lowP.Sequence-1 > s.ackFloor.Consumer {
		s.ackFloor.Consumer = lowP.Sequence - 1
	}
}

// consumerFlushInterval bounds how long a change (a delivery, an ack
// without ack-of-ack) stays unsaved: changes within it are saved in one
// write.
const consumerFlushInterval = time.Second

// maybeFlush saves c's state once its flush deadline passed, and sets the
// deadline on the first change after a save.
func (c *consumer) maybeFlush(now time.Time) {
	c.mu.Lock()
	dirty := c.state.dirty
	due := dirty && !c.flushAt.IsZero() && !now.Before(c.flushAt)
	if dirty && c.flushAt.IsZero() {
		c.flushAt = now.Add(consumerFlushInterval)
	}
	c.mu.Unlock()
	if due {
		_ = c.flushState()
	}
}

// flushState saves c's state if it changed.
func (c *consumer) flushState() error {
	c.mu.Lock()
	if !c.state.dirty || c.deleted {
		c.mu.Unlock()
		return nil // stopped consumers were saved by stopConsumers
	}
	snap := c.state.snapshot()
	c.state.dirty, c.flushAt = false, time.Time{}
	c.mu.Unlock()
	err := c.store.Update(snap)
	if err == nil && c.st.replicated {
		err = c.st.replicateConsumerState(c.name, snap)
	}
	if err != nil {
		c.mu.Lock()
		c.state.dirty = true
		c.mu.Unlock()
		c.st.ja.js.srv.Warnf("JetStream consumer '%s > %s > %s': saving state: %v",
			c.st.ja.acc.Name, c.st.name, c.name, err)
	}
	return err
}

// dueEntry is one pending delivery's ack deadline.
type dueEntry struct {
	at   int64  // unix ns
	seq  uint64 // stream sequence
	cseq uint64 // the delivery it times
}

// dueHeap is a min-heap of deadlines.
type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// ackWaitFor is how long delivery number dc waits for its ack: the
// backoff step for it, else ack_wait.
func ackWaitFor(cfg *ConsumerConfig, dc uint64) time.Duration {
	if n := len(cfg.BackOff); n > 0 {
		return cfg.BackOff[min(int(dc)-1, n-1)]
	}
	return cfg.AckWait
}

// deadline is when pending delivery p of seq is due again.
func (s *consumerState) deadline(cfg *ConsumerConfig, seq uint64, p *Pending) int64 {
	return p.Timestamp + int64(ackWaitFor(cfg, s.deliveryCount(seq)))
}

// timeDelivery enters p's deadline in the heap. Ack policy flow_control
// has no ack wait (its acks come with flow-control answers): nothing is
// redelivered.
func (s *consumerState) timeDelivery(cfg *ConsumerConfig, seq uint64, p *Pending) {
	if cfg.AckPolicy == AckFlowControl {
		return
	}
	heap.Push(&s.due, dueEntry{at: s.deadline(cfg, seq, p), seq: seq, cseq: p.Sequence})
}

// rebuildDue times every pending delivery (after recovery or a config
// change).
func (s *consumerState) rebuildDue(cfg *ConsumerConfig) {
	s.due = s.due[:0]
	if cfg.AckPolicy == AckFlowControl {
		return // no ack wait: see timeDelivery
	}
	for seq, p := range s.pending {
		s.due = append(s.due, dueEntry{at: s.deadline(cfg, seq, p), seq: seq, cseq: p.Sequence})
	}
	heap.Init(&s.due)
}

// nextDue is the earliest live deadline (0 if none), dropping stale
// entries on the way.
func (s *consumerState) nextDue(cfg *ConsumerConfig) int64 {
	for len(s.due) > 0 {
		e := s.due[0]
		if p, ok := s.pending[e.seq]; ok && p.Sequence == e.cseq && s.deadline(cfg, e.seq, p) == e.at {
			return e.at
		}
		heap.Pop(&s.due)
	}
	return 0
}

// popDue returns the next delivery due at or before now, if any.
func (s *consumerState) popDue(cfg *ConsumerConfig, now int64) (uint64, bool) {
	at := s.nextDue(cfg)
	if at == 0 || at > now {
		return 0, false
	}
	e := heap.Pop(&s.due).(dueEntry)
	return e.seq, true
}

// consumerMemStore keeps a mem_storage consumer's state in memory (on a
// file stream too): nothing of it reaches the disk or outlives the server.
type consumerMemStore struct {
	mu  sync.Mutex
	enc []byte
}

// Update implements ConsumerStore.
func (m *consumerMemStore) Update(st *ConsumerState) error {
	if err := storeCheckConsumerState(st); err != nil {
		return err
	}
	enc := storeEncodeConsumerState(st)
	m.mu.Lock()
	m.enc = enc
	m.mu.Unlock()
	return nil
}

// State implements ConsumerStore.
func (m *consumerMemStore) State() (*ConsumerState, error) {
	m.mu.Lock()
	enc := m.enc
	m.mu.Unlock()
	if enc == nil {
		return &ConsumerState{}, nil
	}
	return storeDecodeConsumerState(enc)
}

// Stop implements ConsumerStore.
func (m *consumerMemStore) Stop() error { return nil }

// Delete implements ConsumerStore.
func (m *consumerMemStore) Delete() error { return nil }
