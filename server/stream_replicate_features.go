package server

import (
	"strconv"
	"strings"
)

// Per-message features of replicated streams (what KV buckets need).
//
// Each feature is decided once, by the leader, and reaches the followers
// in a form they replay without deciding anything:
//
//   - Roll-ups (Nats-Rollup: sub|all, a KV purge): the leader checked the header
//     (allow_rollup_hdrs, deny_purge) before storing the message, so a
//     replica that stores a message carrying the header purges what it
//     replaces exactly as the leader did: the purge depends only on the
//     sequence and the subject, the same on every replica.
//   - Limits (max_msgs, max_msgs_per_subject, max_bytes, discard new and
//     discard new per subject): discard new refuses on the leader, which
//     proposes nothing; discard old removes by sequence inside the store,
//     identically wherever the same messages are stored in the same order.
//   - Per-message TTL and max_age: the record carries the leader's
//     timestamp and TTL, so every replica's store expires the same message
//     at the same wall-clock time (give or take the clocks' skew); what
//     expires is a function of the stored data, not of the replica.
//   - Subject delete markers are new messages (new sequences), so only the
//     leader writes them: its store's expiry queues them on the ingest
//     goroutine, which stores them in a round like a publish and so
//     replicates them; a follower's expiry queues them too, but its ingest
//     goroutine refuses every round (beginLeading). A leader that dies
//     between an expiry and its marker's commit leaves that one subject
//     without a marker; the message itself is gone on every replica.
//   - Counters (Nats-Incr): the leader adds the increment to the total its
//     store holds (the log's, once beginLeading cut what it did not
//     commit) and stores the new total as the message's body, which the
//     followers store as it is.
//   - Schedules: only the leader keeps the timetable (loaded from the store
//     when it starts leading) and fires; a produced message is stored in a
//     round like a publish, and the removals that go with it (its roll-up,
//     the one-shot schedule a "Nats-Schedule-Next: purge" message ends) are
//     replayed from its headers by every replica (replayRemovals).
//   - Atomic batches: the leader stages and checks them and stores a
//     committed batch at once; its messages join the round's entry (one
//     entry: every replica stores all of them or, until the log replays,
//     none) and the commit is answered once the entry is committed. A
//     roll-up in a batch removes only what came before the batch
//     (rollupBound).
//   - Fast batches: the leader stores each message in a round like a
//     publish; the flow-control acks go out as they are due, the commit's
//     answer (which tells the publisher the batch is stored) once the
//     round is committed (ackBatch).
//   - Direct gets (allow_direct) are answered by replicas too, as the
//     reference's are (every replica subscribes them in queue group
//     "_sys_"): the replica the requester is connected to answers (it may
//     lag the leader by the commits in flight, or more while it catches up
//     after a restart), and the leader answers for requesters connected to
//     servers without a replica (directGetHere).

// replayRemovals removes what a replicated message at m.seq removed on the
// leader: what its Nats-Rollup header replaces (the leader accepted the
// header), and the schedule a "Nats-Schedule-Next: purge" message ends.
// Copies (a mirror's messages, a source's) removed nothing on the leader.
func (st *stream) replayRemovals(m *replRecord) {
	if len(m.hdr) == 0 {
		return
	}
	rollup, hasRollup := headerValue(m.hdr, hdrRollup)
	next, _ := headerValue(m.hdr, hdrScheduleNext)
	if !hasRollup && next != scheduleNextPurge {
		return
	}
	if _, copied := headerValue(m.hdr, hdrStreamSource); copied {
		return
	}
	cfg := st.cfg()
	if cfg.Mirror != nil {
		return
	}
	if hasRollup {
		before := rollupBound(m)
		switch {
		case strings.EqualFold(rollup, rollupSubject):
			st.applyRollup(rollupSub, m.subject, before)
		case strings.EqualFold(rollup, rollupAll):
			st.applyRollup(rollupStream, m.subject, before)
		}
	}
	if next == scheduleNextPurge && cfg.AllowMsgSchedules {
		if subj, ok := headerValue(m.hdr, hdrScheduler); ok && subj != "" {
			if _, err := st.store.PurgeEx(subj, 0, 0); err != nil {
				st.ja.js.srv.Warnf("JetStream stream '%s > %s': ending schedule %q: %v", st.ja.acc.Name, st.name, subj, err)
			}
		}
	}
}

// rollupBound is the sequence a replicated roll-up removes what is below:
// its own, or for a message of an atomic batch (Nats-Batch-Sequence k,
// stored at consecutive sequences) the batch's first, as the leader's
// commit removed only what was stored before the batch.
func rollupBound(m *replRecord) uint64 {
	v, ok := headerValue(m.hdr, hdrBatchSeq)
	if !ok {
		return m.seq
	}
	k, err := strconv.ParseUint(v, 10, 64)
	if err != nil || k == 0 || k > m.seq {
		return m.seq
	}
	return m.seq - (k - 1)
}

// recordBatch records a committed atomic batch in a replicated stream's
// round: its messages become part of the round's entry, so every replica
// stores the whole batch from one entry.
func (st *stream) recordBatch(msgs []storeBatchMsg, first uint64, ts int64) {
	if !st.replicated {
		return
	}
	r := st.repl.Load()
	for i := range msgs {
		m := &msgs[i]
		r.record(m.subject, m.hdr, m.msg, first+uint64(i), ts, m.ttl)
	}
}

// batchAck is the answer of a batch's commit.
type batchAck struct {
	id    string
	count int
}

// ackBatch answers a batch's commit (atomic or fast): at once on a single
// server (the store wrote it durably), once the round's entry is committed
// on a replicated stream.
func (st *stream) ackBatch(reply string, seq uint64, id string, count int) {
	if !st.replicated {
		st.sendBatchAck(reply, seq, id, count)
		return
	}
	if reply != "" {
		st.in.round.replies = append(st.in.round.replies, queuedReply{reply: reply, seq: seq,
			batch: &batchAck{id: id, count: count}})
	}
}

// directGetHere tells whether this server answers a direct get of a
// replicated stream, so that exactly one server does: every server of the
// cluster receives the request. A request that entered the cluster here
// (from a client, leaf node or gateway of this server) is answered by this
// replica; one routed from another server is answered by the leader only
// if that server holds no replica (else that replica answered it).
func (c *jsCluster) directGetHere(r *jsAPIRequest, repl *streamRepl) bool {
	from := r.client
	if from == nil || from.kind != ROUTER || from.route == nil {
		return true
	}
	if !repl.isLeader() {
		return false
	}
	origin := raftPeerID(from.route.remote.Name)
	for _, p := range repl.peers {
		if p == origin {
			return false
		}
	}
	return true
}
