package server

import (
	"encoding/binary"
	"sync"
)

// Interest and workqueue retention on replicated streams.
//
// Only the leader runs consumers, so only the leader knows when a message
// is no longer needed (every interested consumer acknowledged it, or no
// consumer is interested at all). It decides, removes the message from its
// own store and proposes the removal; every replica applies the removal
// entry at its point in the log, so all of them remove the same messages
// and none decides anything. The proposals are made by the stream's ingest
// goroutine between rounds, so a removal always follows the entry that
// stored the message it removes (a message refused for lack of interest
// is stored, replicated and removed in the next entry: its sequence is
// used on every replica, as a single server's SkipMsg uses it).
//
// A leader that loses its leadership before a removal commits leaves the
// message on the others; the next leader removes, when it starts leading,
// whatever its consumers' replicated state says nobody needs
// (sweepRetained). Followers never run the retention themselves: their
// consumers are stopped, and the store updates they apply (a consumer
// deleted, a stream switched to interest) leave the removals to the
// leader's entries.
//
// Entry format (data of a log entry, little endian):
//
//	kind u8 = 4 (removals): count u32 | count × seq u64
const (
	replEntryRemove = 4

	// replRemoveMax bounds the sequences of one removals entry.
	replRemoveMax = 8192
)

// replRemovals collects the leader's removals until the ingest goroutine
// proposes them.
type replRemovals struct {
	mu   sync.Mutex // leaf
	seqs []uint64
}

// removeRetained removes a message retention no longer keeps: at once on a
// single server; on a replicated stream's leader from its store now and
// from the others' through the group. A follower removes nothing.
func (st *stream) removeRetained(seq uint64) {
	var r *streamRepl
	if st.replicated {
		if r = st.repl.Load(); r == nil || !r.isLeader() {
			return
		}
	}
	if _, err := st.store.RemoveMsg(seq); err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': removing sequence %d no consumer needs: %v",
			st.ja.acc.Name, st.name, seq, err)
		return
	}
	if r == nil {
		return
	}
	r.rem.mu.Lock()
	r.rem.seqs = append(r.rem.seqs, seq)
	r.rem.mu.Unlock()
	q := st.in
	select {
	case q.signal <- struct{}{}: // the ingest goroutine proposes it
	default:
	}
}

// proposeRemovals proposes the removals collected since the last call;
// called by the ingest goroutine after a round's proposal. A replica that
// no longer leads drops them (its successor sweeps).
func (st *stream) proposeRemovals() {
	r := st.repl.Load()
	if r == nil {
		return
	}
	r.rem.mu.Lock()
	seqs := r.rem.seqs
	r.rem.seqs = nil
	r.rem.mu.Unlock()
	if len(seqs) == 0 || !r.isLeader() {
		return
	}
	for len(seqs) > 0 {
		n := min(len(seqs), replRemoveMax)
		b := make([]byte, 0, 5+8*n)
		b = append(b, replEntryRemove)
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		for _, seq := range seqs[:n] {
			b = binary.LittleEndian.AppendUint64(b, seq)
		}
		r.node.Propose(b) // its outcome is not waited for: see sweepRetained
		seqs = seqs[n:]
	}
}

// decodeReplRemovals calls fn for each sequence of a removals entry.
func decodeReplRemovals(data []byte, fn func(seq uint64)) error {
	if len(data) < 5 || data[0] != replEntryRemove {
		return errReplMalformed
	}
	n := binary.LittleEndian.Uint32(data[1:])
	if uint64(len(data)-5) != 8*uint64(n) {
		return errReplMalformed
	}
	for p := data[5:]; len(p) > 0; p = p[8:] {
		fn(binary.LittleEndian.Uint64(p))
	}
	return nil
}

// applyRemovals removes an entry's sequences from this replica's store
// (the leader's are gone already; a sequence never stored here is skipped).
func (r *streamRepl) applyRemovals(data []byte) error {
	st := r.st
	applied := r.applied.Load()
	return decodeReplRemovals(data, func(seq uint64) {
		if seq <= applied {
			_, _ = st.store.RemoveMsg(seq) // not found: removed already
		}
	})
}

// sweepRetained is run by a replica that starts leading an interest or
// workqueue stream: it removes what its consumers' state says nobody needs
// (removals its predecessor decided and did not get committed). A
// workqueue keeps what no consumer took yet: only what an interested
// consumer acknowledged goes.
func (st *stream) sweepRetained() {
	switch st.cfg().Retention {
	case InterestPolicy:
		st.dropUnneeded()
	case WorkQueuePolicy:
		if st.retention.empty() {
			return
		}
		st.removeWhere(func(seq uint64, subject string) bool {
			return st.retention.interested(subject) && !st.retention.needed(seq, subject)
		})
	}
}
