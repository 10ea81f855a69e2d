package server

import "strings"

// Ingest rounds: group commit on the publish path. The ingest goroutine
// takes everything queued, appends each accepted message to the store
// without waiting (storeAppender), then commits once and only then answers
// every publisher of the round. With sync_interval: always that is one
// fsync per round, however many publishers and messages it holds; without,
// one write. An answer is never sent before the commit covering the round
// returned: not a PubAck, not a duplicate's PubAck (its original may be in
// this very round), not even an error (so answers keep their order). When
// the commit fails, every publisher of the round gets err 10077 instead of
// its PubAck, and the round's Nats-Msg-Id bookkeeping is undone, so that a
// retry is stored rather than called a duplicate of a message that never
// became durable. The store itself turns read-only on a write error.
//
// Streams commit independently: each store has its own files, so one
// fsync per stream per round is the least there can be, and the streams'
// ingest goroutines run their fsyncs concurrently.

// ingestRound is the state of the current round. Owned by the ingest
// goroutine.
type ingestRound struct {
	replies []queuedReply
	// Undo information for the Nats-Msg-Id window: batches and schedules
	// (which commit on their own) may update it in the same round.
	prevLastID string      // lastMsgID before the round
	lastSet    string      // the lastMsgID this round set last
	added      []dedupeKey // ids this round entered, in log order
	ackSender              // sending the answers
}

// queuedReply is one answer held back until the round is committed: a
// PubAck (err nil) or an error.
type queuedReply struct {
	reply   string
	seq     uint64
	dup     bool
	counter bool   // a counter's PubAck, with val
	val     string // the counter's total
	err     *ApiError
	batch   *batchAck // an atomic batch's commit (replicated streams)
}

// takeIngest takes every queued message, leaving the spare slice in place.
func (st *stream) takeIngest() []*inMsg {
	q := st.in
	q.mu.Lock()
	batch := q.msgs
	q.msgs, q.spare, q.size = q.spare, nil, 0
	q.mu.Unlock()
	return batch
}

// ingestSpareMax bounds the slice kept for reuse (64 KiB): a burst's
// larger one goes to the garbage collector.
const ingestSpareMax = 8192

// giveBackIngest returns a processed round's slice for reuse, emptied so
// that it pins no message buffer.
func (st *stream) giveBackIngest(batch []*inMsg) {
	clear(batch)
	if cap(batch) > ingestSpareMax {
		return
	}
	q := st.in
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

func (st *stream) beginRound() {
	r := &st.in.round
	r.replies = r.replies[:0]
	r.prevLastID, r.lastSet = st.in.lastMsgID, st.in.lastMsgID
	clear(r.added)
	r.added = r.added[:0]
	// A burst's large slices are not kept for good.
	if cap(r.replies) > ingestSpareMax {
		r.replies = nil
	}
	if cap(r.added) > ingestSpareMax {
		r.added = nil
	}
}

// appendMsg stores a message without waiting for durability; commitRound
// waits once for all of them.
func (st *stream) appendMsg(subject string, hdr, msg []byte, ttl int64) (uint64, int64, error) {
	var seq uint64
	var ts int64
	var err error
	if a, ok := st.store.(storeAppender); ok {
		seq, ts, err = a.appendMsg(subject, hdr, msg, ttl)
	} else {
		seq, ts, err = st.store.StoreMsg(subject, hdr, msg, ttl)
	}
	if err == nil && st.replicated {
		st.repl.Load().record(subject, hdr, msg, seq, ts, ttl)
	}
	return seq, ts, err
}

// rememberMsgID records the last message's id and enters a non-empty one
// in the duplicate window. The id is copied: the window outlives the
// message's buffer by minutes.
func (st *stream) rememberMsgID(msgID string, seq uint64, ts int64) {
	q := st.in
	if msgID != "" {
		msgID = strings.Clone(msgID)
		q.dedupe[msgID] = dedupeEntry{seq: seq, ts: ts}
		q.dedupeLog = append(q.dedupeLog, dedupeKey{id: msgID, ts: ts})
		q.round.added = append(q.round.added, dedupeKey{id: msgID, ts: ts})
	}
	q.lastMsgID, q.round.lastSet = msgID, msgID
}

// queuePubAck holds a PubAck ({"stream":..,"seq":N[,"duplicate": true]})
// until the round is committed.
func (st *stream) queuePubAck(reply string, seq uint64, dup bool) {
	if reply != "" {
		st.in.round.replies = append(st.in.round.replies, queuedReply{reply: reply, seq: seq, dup: dup})
	}
}

// queueFeatureAck is queuePubAck for a message with features: a counter's
// PubAck carries its total.
func (st *stream) queueFeatureAck(reply string, seq uint64, f *msgFeatures) {
	if reply != "" && f.incr != nil {
		st.in.round.replies = append(st.in.round.replies, queuedReply{reply: reply, seq: seq, counter: true, val: f.val})
		return
	}
	st.queuePubAck(reply, seq, false)
}

// queuePubErr holds an error answer until the round is committed.
func (st *stream) queuePubErr(reply string, e *ApiError) {
	if reply != "" {
		st.in.round.replies = append(st.in.round.replies, queuedReply{reply: reply, err: e})
	}
}

// commitRound makes the round durable, then answers its publishers.
func (st *stream) commitRound() {
	r := &st.in.round
	var failed *ApiError
	if a, ok := st.store.(storeAppender); ok {
		if err := a.commitAppended(); err != nil {
			failed = jsError(jsStreamStoreFailed, err)
			st.undoRoundMsgIDs()
		}
	}
	if st.replicated {
		// Answered once the group committed the round (stream_replicate.go).
		st.repl.Load().commitRound(r, failed)
		return
	}
	if failed == nil {
		st.consumersCommitted()
	}
	st.sendReplies(&r.ackSender, r.replies, failed)
}

// ackSender is what sending a round's answers needs: a client of the
// stream's own whose pending set collects the receivers, so each is woken
// once per round and gets the round's PubAcks in one write; and scratch
// for the match and body. Owned by the goroutine that answers.
type ackSender struct {
	ackc   *client
	match  SublistResult
	ackBuf []byte
}

// sendReplies sends a round's answers (failed, if not nil, replaces every
// PubAck) and clears them.
func (st *stream) sendReplies(a *ackSender, replies []queuedReply, failed *ApiError) {
	if len(replies) == 0 {
		return
	}
	if a.ackc == nil {
		a.ackc = st.newAckClient()
	}
	for i := range replies {
		q := &replies[i]
		switch {
		case q.err != nil:
			st.sendPubErr(q.reply, q.err)
		case failed != nil:
			st.sendPubErr(q.reply, failed)
		case q.batch != nil:
			st.sendBatchAck(q.reply, q.seq, q.batch.id, q.batch.count)
		default:
			st.deliverPubAck(a, q)
		}
		*q = queuedReply{}
	}
	// A receiver with little queued (a publisher waiting for its acks) is
	// written to right here: its writer's wake-up is off the ack path.
	a.ackc.flushClients(true)
}

// refuseRound drops a round a replicated stream may not take (it is not
// the leader, or not current yet): publishers hear nothing, as from a
// server that is not the leader, and retry; API requests get 10008.
func (st *stream) refuseRound(batch []*inMsg) {
	for _, m := range batch {
		if m.op != nil {
			m.op.done <- errResponse(jsError(jsClusterNotAvail))
		}
		refuseCopied(m)
	}
	st.giveBackIngest(batch)
}

// newAckClient is the internal client a stream's ingest goroutine sends
// PubAcks from (see ingestRound.ackc).
func (st *stream) newAckClient() *client {
	s := st.ja.js.srv
	c := &client{cid: s.gcid.Add(1), kind: SYSTEM, srv: s, acc: st.ja.acc,
		subs: make(map[string]*subscription), pcd: make(map[*client]struct{}), echo: true, headers: true}
	c.pa.hdr = -1
	return c
}

// undoRoundMsgIDs forgets the ids this round entered in the duplicate
// window and, unless a batch set it since, restores the last message's id
// from before the round. Runs only after a failed commit.
func (st *stream) undoRoundMsgIDs() {
	q, r := st.in, &st.in.round
	for _, k := range r.added {
		if e, ok := q.dedupe[k.id]; ok && e.ts == k.ts {
			delete(q.dedupe, k.id)
		}
	}
	// The round's ids are in the log in order, among the newest entries.
	kept, j := q.dedupeLog[:0], 0
	for _, k := range q.dedupeLog {
		if j < len(r.added) && k == r.added[j] {
			j++
			continue
		}
		kept = append(kept, k)
	}
	clear(q.dedupeLog[len(kept):])
	q.dedupeLog = kept
	if q.lastMsgID == r.lastSet {
		q.lastMsgID = r.prevLastID
	}
	r.added = r.added[:0]
}

// deliverPubAck is sendPubAck without its allocations, for the ingest
// goroutine: the body is built in the round's buffer, and the reply
// subject, unique per publish, is matched without entering the subject
// cache (MatchOnce into the round's scratch).
func (st *stream) deliverPubAck(a *ackSender, q *queuedReply) {
	var b []byte
	if q.counter {
		b = st.appendPubAckVal(a.ackBuf[:0], q.seq, q.val)
	} else {
		b = st.appendPubAck(a.ackBuf[:0], q.seq, q.dup)
	}
	a.ackBuf = b
	res := st.ja.acc.sl.MatchOnce(q.reply, &a.match)
	a.ackc.deliverResult(res, q.reply, nil, nil, b)
}
