package server

import (
	"sync"
	"time"
)

// Retention bookkeeping for interest and workqueue streams.
//
// Under limits retention only the limits remove messages. Under interest
// and workqueue retention a message also goes once every consumer
// interested in its subject has acknowledged it; under interest a message
// no consumer is interested in is not kept at all (the publish is still
// acknowledged with its sequence), and switching a stream to interest
// drops what nobody needs. Consumers (part 2) report to the stream
// through the seam below; workqueue uniqueness (one consumer per subject)
// is theirs to enforce when they are created.

// RetentionConsumer is what the retention bookkeeping asks of a consumer.
// Both methods are called with no stream lock held and must not block.
type RetentionConsumer interface {
	// Interested reports whether the consumer's filters match subject.
	Interested(subject string) bool
	// Acked reports whether the consumer is done with seq: acknowledged,
	// or below the point where the consumer started.
	Acked(seq uint64) bool
}

// streamRetention holds the consumers of an interest or workqueue stream.
type streamRetention struct {
	mu        sync.RWMutex // leaf
	consumers map[string]RetentionConsumer
}

// addRetentionConsumer registers a consumer under its name.
func (st *stream) addRetentionConsumer(name string, c RetentionConsumer) {
	r := &st.retention
	r.mu.Lock()
	if r.consumers == nil {
		r.consumers = make(map[string]RetentionConsumer)
	}
	r.consumers[name] = c
	r.mu.Unlock()
}

// removeRetentionConsumer forgets a consumer; on an interest stream the
// messages only it still needed go.
func (st *stream) removeRetentionConsumer(name string) {
	r := &st.retention
	r.mu.Lock()
	delete(r.consumers, name)
	r.mu.Unlock()
	if st.cfg().Retention == InterestPolicy {
		st.dropUnneeded()
	}
}

// consumerAcked is called by a consumer once it acknowledged seq (whose
// subject it delivered): the message goes if no interested consumer still
// needs it.
func (st *stream) consumerAcked(seq uint64, subject string) {
	if st.cfg().Retention == LimitsPolicy {
		return
	}
	if st.retention.needed(seq, subject) {
		return
	}
	st.removeRetained(seq)
}

// interested reports whether any consumer wants subject.
func (r *streamRetention) interested(subject string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range r.consumers {
		if c.Interested(subject) {
			return true
		}
	}
	return false
}

// needed reports whether an interested consumer has not acknowledged seq.
func (r *streamRetention) needed(seq uint64, subject string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range r.consumers {
		if c.Interested(subject) && !c.Acked(seq) {
			return true
		}
	}
	return false
}

func (r *streamRetention) empty() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.consumers) == 0
}

// storeInbound stores a checked message. Under interest retention with no
// consumer interested in its subject only its sequence is used, as the
// reference keeps nothing of it.
func (st *stream) storeInbound(cfg *StreamConfig, m *inMsg, f *msgFeatures) (uint64, int64, error) {
	if cfg.Retention == InterestPolicy && !st.retention.interested(m.subject) {
		if st.replicated {
			// Stored and removed through the group (stream_replicate_retention.go).
			seq, ts, err := st.appendMsg(m.subject, m.hdr, m.msg, int64(f.ttl.ttl))
			if err == nil {
				st.removeRetained(seq)
			}
			return seq, ts, err
		}
		seq := st.store.SkipMsg()
		if seq == 0 {
			return 0, 0, ErrStoreClosed
		}
		return seq, time.Now().UnixNano(), nil
	}
	return st.appendMsg(m.subject, m.hdr, m.msg, int64(f.ttl.ttl))
}

// retentionUpdated drops what nobody needs when a stream becomes interest.
func (st *stream) retentionUpdated(old, cfg *StreamConfig) {
	if cfg.Retention == InterestPolicy && old.Retention != InterestPolicy {
		st.dropUnneeded()
	}
}

// dropUnneeded removes every message no consumer still needs: all of them
// (sequences kept) when a single server's stream has no consumer, else one
// by one.
func (st *stream) dropUnneeded() {
	if !st.answersHere() {
		return // a follower: the leader's removals come through the group
	}
	if st.retention.empty() && !st.replicated {
		if _, err := st.store.Purge(); err != nil {
			st.ja.js.srv.Warnf("JetStream stream '%s > %s': purge without interest: %v", st.ja.acc.Name, st.name, err)
		}
		return
	}
	st.removeWhere(func(seq uint64, subject string) bool { return !st.retention.needed(seq, subject) })
}

// removeWhere removes (removeRetained) every stored message drop selects.
func (st *stream) removeWhere(drop func(seq uint64, subject string) bool) {
	var sm StoreMsg
	for seq := uint64(1); ; {
		m, _, err := st.store.LoadNextMsg(">", seq, &sm)
		if err != nil {
			return
		}
		if drop(m.Seq, m.Subject) {
			st.removeRetained(m.Seq)
		}
		seq = m.Seq + 1
	}
}
