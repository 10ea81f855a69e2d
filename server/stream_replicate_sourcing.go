package server

import "errors"

// Mirrors and sources on replicated streams.
//
// Only the leader copies: its copies (stream_source_run.go) start when it
// starts leading, from the position its own store gives (recoverPos), and
// stop when it stops. What they copy goes through the ingest goroutine like
// a publish, so a round's copied messages are recorded in the round's log
// entry (a mirror's at the origin's sequence and time, a source's at the
// stream's next sequence) and every replica stores them at those
// sequences; the copies' positions live in the stored messages themselves
// (a mirror's last sequence, a source's Nats-Stream-Source header), so a
// new leader resumes where the group's log ends.
//
// The origin is read from this server's copy of it (a replica of a
// replicated origin is as good as its leader, a little behind): a copy
// whose origin has no replica on the leader's server waits for it, as a
// single server's copy does for an origin on another server.

// errNotLeading fails a copied batch a replica no longer leading refused.
var errNotLeading = errors.New("not the stream's leader")

// leadSourcing starts the copies of a replicated stream whose replica
// starts leading, and stops them when it stops.
func (st *stream) leadSourcing(lead bool) {
	if cfg := st.cfg(); len(cfg.originsOf()) == 0 {
		return
	}
	st.src.mu.Lock()
	running := len(st.src.runs) > 0
	st.src.mu.Unlock()
	switch {
	case lead && !running:
		st.startSourcing()
	case !lead && running:
		st.haltSourcing()
	}
}

// haltSourcing stops the copies without closing the stream to its own
// readers (it still serves as an origin).
func (st *stream) haltSourcing() {
	st.src.mu.Lock()
	runs := st.src.runs
	st.src.runs = nil
	st.src.mu.Unlock()
	for _, r := range runs {
		r.stop()
	}
}

// storeProduced stores a message that does not take the publish path's
// appendMsg (a sourced one, a schedule's, one of a fast batch) at the
// stream's next sequence; a replicated stream's leader records it in the
// round for its followers.
func (st *stream) storeProduced(subject string, hdr, msg []byte, ttl int64) (uint64, int64, error) {
	if st.replicated {
		return st.appendMsg(subject, hdr, msg, ttl)
	}
	return st.store.StoreMsg(subject, hdr, msg, ttl)
}

// storeCopyAt stores a mirrored message at its origin's sequence and time,
// recorded in the round on a replicated stream's leader.
func (st *stream) storeCopyAt(subject string, hdr, msg []byte, seq uint64, ts int64) error {
	if !st.replicated {
		return st.store.StoreRawMsg(subject, hdr, msg, seq, ts, 0)
	}
	var err error
	if a, ok := st.store.(storeAppender); ok {
		err = a.appendRawMsg(subject, hdr, msg, seq, ts, 0)
	} else {
		err = st.store.StoreRawMsg(subject, hdr, msg, seq, ts, 0)
	}
	if err == nil {
		st.repl.Load().record(subject, hdr, msg, seq, ts, 0)
	}
	return err
}

// refuseCopied fails a copied message of a refused round: the rest of its
// batch is not stored either (no gap), and the copy waiting for the batch
// gets the error.
func refuseCopied(m *inMsg) {
	sm := m.sourced
	if sm == nil {
		return
	}
	sm.run.batchErr = errNotLeading
	if sm.last {
		sm.run.stored <- errNotLeading
	}
}
