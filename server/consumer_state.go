package server

import "time"

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
	// rdq are the pending deliveries to send again (NAK), oldest first.
	rdq []uint64
	// dirty: changed since last saved.
	dirty bool
}

// restore loads what was saved.
func (s *consumerState) restore(saved *ConsumerState) {
	s.delivered, s.ackFloor = saved.Delivered, saved.AckFloor
	s.pending, s.redelivered = saved.Pending, saved.Redelivered
	if s.start == 0 {
		s.start = saved.AckFloor.Stream + 1
	}
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
func (s *consumerState) recordDelivery(seq uint64, now time.Time, policy AckPolicy, redelivery bool) uint64 {
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
	if policy == AckNone {
		s.ackFloor = s.delivered
		return cseq
	}
	if s.pending == nil {
		s.pending = make(map[uint64]*Pending)
	}
	if p, ok := s.pending[seq]; ok {
		p.Sequence, p.Timestamp = cseq, now.UnixNano()
	} else {
		s.pending[seq] = &Pending{Sequence: cseq, Timestamp: now.UnixNano()}
	}
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

// flushState saves c's state if it changed.
func (c *consumer) flushState() error {
	c.mu.Lock()
	if !c.state.dirty {
		c.mu.Unlock()
		return nil
	}
	snap := c.state.snapshot()
	c.state.dirty = false
	c.mu.Unlock()
	err := c.store.Update(snap)
	if err != nil {
		c.mu.Lock()
		c.state.dirty = true
		c.mu.Unlock()
		c.st.ja.js.srv.Warnf("JetStream consumer '%s > %s > %s': saving state: %v",
			c.st.ja.acc.Name, c.st.name, c.name, err)
	}
	return err
}
