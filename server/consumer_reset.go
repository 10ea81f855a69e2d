package server

import "time"

// Resetting a consumer ($JS.API.CONSUMER.RESET): its next message becomes
// the stream sequence asked (by default the one after its ack floor) and
// it forgets every delivery, as the reference does: delivered and ack
// floor become (0, seq-1), nothing is pending or redelivered, and the
// consumer sequence starts again at 1.

// Reasons of err 10204, in the reference's words.
const (
	resetNotAllowed     = "not allowed"
	resetBelowStartSeq  = "below start seq"
	resetBelowStartTime = "below start time"
)

// resetTarget checks a requested sequence against c's deliver policy and
// returns the sequence to restart from; c.mu held. A sequence may be
// chosen only by consumers that deliver from a position: all, by start
// sequence (not below it) and by start time (not below the first message
// of that time).
func (c *consumer) resetTarget(seq uint64) (uint64, string) {
	cfg := &c.cfg
	if seq == 0 {
		return c.state.ackFloor.Stream + 1, ""
	}
	switch cfg.DeliverPolicy {
	case DeliverAll:
	case DeliverByStartSequence:
		if seq < cfg.OptStartSeq {
			return 0, resetBelowStartSeq
		}
	case DeliverByStartTime:
		if cfg.OptStartTime != nil && seq < c.st.firstSeqSince(*cfg.OptStartTime) {
			return 0, resetBelowStartTime
		}
	default:
		return 0, resetNotAllowed
	}
	return seq, ""
}

// firstSeqSince is the first sequence stored at or after t (the next one
// to be stored when there is none).
func (st *stream) firstSeqSince(t time.Time) uint64 {
	if seq := st.seqAtTime(t); seq != 0 {
		return seq
	}
	var ss StreamState
	st.store.FastState(&ss)
	return ss.LastSeq + 1
}

// resetTo restarts c at stream sequence seq; c.mu held.
func (c *consumer) resetTo(seq uint64) {
	s := &c.state
	s.sseq, s.start = seq, seq
	s.delivered = SequencePair{Stream: seq - 1}
	s.ackFloor = s.delivered
	s.pending, s.redelivered, s.rdq, s.lps = nil, nil, nil, nil
	s.due = s.due[:0]
	s.lastDlv, s.lastAck = time.Time{}, time.Time{}
	s.dirty = true
}
