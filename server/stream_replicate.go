package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A replicated stream (num_replicas > 1) keeps its messages identical on
// every replica through a Raft group of its own (streamRepl, the group's
// state machine).
//
// Who decides what: the leader's ingest goroutine runs the publish checks
// exactly as a single server does (Nats-Msg-Id, Nats-Expected-*, limits,
// discard) and appends each accepted message to its own store, which
// assigns the sequence and the timestamp. The round's accepted messages,
// with those sequences and timestamps, become one log entry; the round is
// acknowledged only once that entry is committed (a majority has fsynced
// it: the raft node persists before it sends) and applied here. Followers
// store each message at the sequence and time the entry names
// (StoreRawMsg), so replaying the log can never renumber or duplicate a
// message: a message whose sequence the store already holds is skipped.
//
// The one hazard of storing before proposing is a leader whose proposal
// does not commit (it lost the leadership, or crashed): its store holds
// messages the group never agreed on. Two rules remove them. An entry
// applied live that was proposed by another instance (run differs) and
// starts at or below the store's last sequence truncates the store first:
// the log wins. And a leader starts a round only once it has applied an
// entry of its own term, after truncating its store to the last sequence
// the log gave it (applied).
//
// Other changes (purge, message delete, config update, consumer create and
// delete) are the API requests themselves, proposed by the leader's ingest
// goroutine between rounds (so every replica sees them at the same point
// among the messages) and run by every replica's own handler when
// applied; the leader's answer goes to the requester.
//
// Entry format (data of a log entry, little endian):
//
//	kind u8 = 1 (messages): run u64 | count u32 | count records:
//	    seq u64 | ts i64 | ttl i64 | subject len u16 | header len u32 |
//	    payload len u32 | subject | header | payload
//	kind u8 = 2 (API request): run u64 | op u64 | rest len u16 | rest |
//	    request body (rest is the API subject after "$JS.API.")
//	kind u8 = 3 (consumer state): name len u16 | name | ConsumerState JSON
//	kind u8 = 4 (retention removals): stream_replicate_retention.go
//
// run is a random number drawn when the replica started; op numbers an
// API request of that run, so its proposer knows its answer.
//
// Snapshot format (JSON): {"last_seq": N, "consumers": [...]}, the last
// sequence applied and the stream's consumers (stream_replicate_members.go).
type streamRepl struct {
	st    *stream
	c     *jsCluster
	group string
	peers []uint64
	node  *raftNode
	unsub func()
	run   uint64

	// applied is the last stream sequence the log gave this replica.
	applied atomic.Uint64
	// started is set once the node is subscribed: entries applied
	// before come from the log on disk (replays).
	started atomic.Bool
	// catchupTo is the sequence a replica that started behind its own
	// snapshot fetches up to; it does not lead meanwhile.
	catchupTo atomic.Uint64
	// repairRunning is set while the repair goroutine runs; notLeading
	// is when the leadership watch last saw the replica stop leading with
	// a loss to repair (stream_replicate_repair.go).
	repairRunning atomic.Bool
	notLeading    time.Time
	// inAPI is set while the node's goroutine runs an API request's
	// handler: a proposal made then must not wait for itself.
	inAPI atomic.Bool

	// Owned by the ingest goroutine.
	entry    []byte // the round's entry being built
	entryCap int    // the last round's entry size: the next one starts that big
	count    uint32 // messages in it
	lastSeq  uint64 // the last sequence in it
	leadTerm uint64 // term of the last round led

	// Rounds proposed and not answered yet (acker), how many, and whether
	// one failed since the last resynchronization.
	inflight  chan *replRound
	pending   atomic.Int64
	resync    atomic.Bool
	quit      chan struct{}
	ackerDone chan struct{}

	leading bool // as jsCluster.watchStreamLeaders last saw it; owned by it

	rem replRemovals // the leader's retention removals to propose

	opMu   sync.Mutex
	nextOp uint64
	ops    map[uint64]chan any // answers to this run's API requests
}

const (
	replEntryMsgs     = 1
	replEntryAPI      = 2
	replEntryConsumer = 3

	replMsgHdr    = 1 + 8 + 4
	replRecordHdr = 8 + 8 + 8 + 2 + 4 + 4

	// replProposeTimeout bounds how long a round or request waits for
	// its entry to commit.
	replProposeTimeout = 10 * time.Second
	// replMaxInflight bounds the rounds queued for the acker: with none,
	// two rounds are in flight at most (the acker's and the one proposed
	// and waiting to be handed over), so that a round grows with what
	// arrives while its predecessor commits: fewer, larger entries, one
	// fsync each per replica (measured: more in flight was slower).
	replMaxInflight = 0
	// replLeadWait bounds how long a new leader's first round waits for
	// the entries of earlier terms to apply.
	replLeadWait = 5 * time.Second
)

// replEntryCapMax bounds the size a round's entry starts with.
const replEntryCapMax = 1 << 20

var errReplMalformed = errors.New("malformed replicated stream entry")

func newStreamRepl(st *stream, c *jsCluster, group string, peers []uint64) *streamRepl {
	return &streamRepl{st: st, c: c, group: group, peers: peers, run: rand.Uint64(),
		ops: make(map[uint64]chan any), inflight: make(chan *replRound, replMaxInflight),
		quit: make(chan struct{}), ackerDone: make(chan struct{})}
}

// stop ends the acker (the rounds in flight stay unanswered: their
// publishers time out and retry).
func (r *streamRepl) stop() {
	close(r.quit)
	<-r.ackerDone
}

// record adds a message the leader just stored to the round's entry.
func (r *streamRepl) record(subject string, hdr, msg []byte, seq uint64, ts, ttl int64) {
	if r.count == 0 {
		if r.entry == nil {
			// Sized like the last round's, so that it is not regrown
			// (and copied) a dozen times while it fills.
			r.entry = make([]byte, 0, r.entryCap)
		}
		r.entry = append(r.entry[:0], replEntryMsgs)
		r.entry = binary.LittleEndian.AppendUint64(r.entry, r.run)
		r.entry = binary.LittleEndian.AppendUint32(r.entry, 0)
	}
	r.count++
	r.lastSeq = seq
	b := r.entry
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(ts))
	b = binary.LittleEndian.AppendUint64(b, uint64(ttl))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(subject)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hdr)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, subject...)
	b = append(b, hdr...)
	r.entry = append(b, msg...)
}

// replRound is a round handed to the acker: its proposal's outcome, its
// answers and the last sequence it stored.
type replRound struct {
	done    <-chan error // nil: nothing proposed
	replies []queuedReply
	failed  *ApiError
	lastSeq uint64
}

// commitRound proposes the round's messages without waiting and hands
// its answers to the acker, which sends them once the entry is committed
// and applied here: rounds are pipelined, and the raft node persists and
// sends the entries of several rounds at once.
func (r *streamRepl) commitRound(round *ingestRound, failed *ApiError) {
	rr := &replRound{failed: failed}
	if failed != nil {
		r.resync.Store(true) // the store may hold what was not proposed
	}
	if r.count > 0 {
		binary.LittleEndian.PutUint32(r.entry[9:], r.count)
		r.count = 0
		if failed == nil {
			rr.done = r.node.Propose(r.entry)
			rr.lastSeq = r.lastSeq
		}
		r.entryCap = min(len(r.entry), replEntryCapMax)
		r.entry = nil // the node holds it now
	}
	if len(round.replies) == 0 && rr.done == nil {
		return
	}
	rr.replies = slices.Clone(round.replies)
	clear(round.replies)
	r.pending.Add(1)
	select {
	case r.inflight <- rr:
	case <-r.quit:
		r.pending.Add(-1)
	}
}

// acker answers the rounds in order as their entries commit; a failed
// one makes the next round resynchronize (beginLeading).
func (r *streamRepl) acker() {
	defer close(r.ackerDone)
	var a ackSender
	st := r.st
	for {
		var rr *replRound
		select {
		case rr = <-r.inflight:
		case <-r.quit:
			return
		}
		failed := rr.failed
		if rr.done != nil {
			t := time.NewTimer(replProposeTimeout)
			select {
			case err := <-rr.done:
				if err != nil {
					failed = jsError(jsClusterNotAvail)
				}
			case <-t.C:
				failed = jsError(jsClusterNotAvail)
			case <-r.quit:
				t.Stop()
				return
			}
			t.Stop()
			if failed != nil {
				r.resync.Store(true)
			} else {
				st.consumersCommittedTo(rr.lastSeq)
			}
		}
		st.sendReplies(&a, rr.replies, failed)
		r.pending.Add(-1)
	}
}

// beginLeading is called by the ingest goroutine before a round: it
// reports whether this replica may take publishes now (it leads and is
// current). A new term, or a round that failed, first waits for the rounds
// in flight, cuts from the store whatever the log did not give it, and
// resets the duplicate window, which is rebuilt from the store.
func (r *streamRepl) beginLeading() bool {
	if !r.node.IsLeader() || r.repairing() {
		return false
	}
	if !r.waitFor(r.node.LeaderReady) {
		return false
	}
	term := r.node.term.Load()
	if term == r.leadTerm && !r.resync.Load() {
		return true
	}
	if !r.waitFor(func() bool { return r.pending.Load() == 0 }) {
		return false
	}
	r.leadTerm = term
	r.resync.Store(false)
	st := r.st
	q := st.in
	clear(q.dedupe)
	q.dedupeLog, q.lastMsgID, q.dedupeLoaded = q.dedupeLog[:0], "", false
	var ss StreamState
	st.store.FastState(&ss)
	if a := r.applied.Load(); ss.LastSeq > a {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': dropping sequences %d to %d, never committed",
			st.ja.acc.Name, st.name, a+1, ss.LastSeq)
		if err := st.store.Truncate(a); err != nil {
			return false
		}
	}
	return true
}

// waitFor waits (replLeadWait at most, while leading) until cond holds.
func (r *streamRepl) waitFor(cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.Now().Add(replLeadWait)
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) || !r.node.IsLeader() {
			return false
		}
		<-t.C
	}
	return true
}

// Apply runs on the node's goroutine, in log order.
func (r *streamRepl) Apply(index uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	var err error
	switch data[0] {
	case replEntryMsgs:
		err = r.applyMsgs(data, !r.started.Load() || r.node.Replayed(index))
	case replEntryAPI:
		err = r.applyAPI(data)
	case replEntryConsumer:
		err = r.applyConsumerState(data)
	case replEntryRemove:
		err = r.applyRemovals(data)
	default:
		err = errReplMalformed
	}
	if err != nil {
		r.st.ja.js.srv.Warnf("JetStream stream '%s > %s': entry %d not applied: %v",
			r.st.ja.acc.Name, r.st.name, index, err)
	}
}

// replRecord is one message of a messages entry; its slices view the entry.
type replRecord struct {
	seq      uint64
	ts, ttl  int64
	subject  string
	hdr, msg []byte
}

// decodeReplMsgs calls fn for each record of a messages entry.
func decodeReplMsgs(data []byte, fn func(*replRecord) error) (run uint64, err error) {
	if len(data) < replMsgHdr || data[0] != replEntryMsgs {
		return 0, errReplMalformed
	}
	run = binary.LittleEndian.Uint64(data[1:])
	n := binary.LittleEndian.Uint32(data[9:])
	p := data[replMsgHdr:]
	var rec replRecord
	for i := uint32(0); i < n; i++ {
		if len(p) < replRecordHdr {
			return run, errReplMalformed
		}
		rec.seq = binary.LittleEndian.Uint64(p)
		rec.ts = int64(binary.LittleEndian.Uint64(p[8:]))
		rec.ttl = int64(binary.LittleEndian.Uint64(p[16:]))
		ls := int(binary.LittleEndian.Uint16(p[24:]))
		lh := int(binary.LittleEndian.Uint32(p[26:]))
		lm := int(binary.LittleEndian.Uint32(p[30:]))
		p = p[replRecordHdr:]
		if lh < 0 || lm < 0 || len(p) < ls+lh+lm || rec.seq == 0 {
			return run, errReplMalformed
		}
		rec.subject = string(p[:ls])
		rec.hdr, rec.msg = nil, p[ls+lh:ls+lh+lm]
		if lh > 0 {
			rec.hdr = p[ls : ls+lh]
		}
		p = p[ls+lh+lm:]
		if err := fn(&rec); err != nil {
			return run, err
		}
	}
	if len(p) != 0 {
		return run, errReplMalformed
	}
	return run, nil
}

// applyMsgs stores an entry's messages at their sequences (see the type's
// comment for when the store is truncated first).
func (r *streamRepl) applyMsgs(data []byte, replay bool) error {
	if deferred, err := r.deferWhileRepairing(data); deferred {
		return err
	}
	st := r.st
	var ss StreamState
	st.store.FastState(&ss)
	last, first, stored := ss.LastSeq, true, false
	run, err := decodeReplMsgs(data, func(m *replRecord) error {
		if first {
			first = false
			if binary.LittleEndian.Uint64(data[1:]) != r.run && !replay && last >= m.seq {
				if err := st.store.Truncate(m.seq - 1); err != nil {
					return err
				}
				last = m.seq - 1
			}
		}
		if m.seq > last {
			if err := st.storeRaw(m); err != nil {
				return err
			}
			last, stored = m.seq, true
		}
		r.applied.Store(m.seq)
		return nil
	})
	if a, ok := st.store.(storeAppender); ok && stored {
		if cerr := a.commitAppended(); err == nil {
			err = cerr
		}
	}
	if err == nil && run != r.run {
		st.consumersCommitted() // what a new leader's consumers start from
		st.notifyAppend()
	}
	return err
}

// storeRaw appends a replicated message at its sequence and time; the
// caller commits (one write for the whole entry).
func (st *stream) storeRaw(m *replRecord) error {
	var err error
	if a, ok := st.store.(storeAppender); ok {
		err = a.appendRawMsg(m.subject, m.hdr, m.msg, m.seq, m.ts, m.ttl)
	} else {
		err = st.store.StoreRawMsg(m.subject, m.hdr, m.msg, m.seq, m.ts, m.ttl)
	}
	if err == nil {
		st.noteStored(m.subject, m.hdr, m.msg)
		st.replayRemovals(m)
	}
	return err
}

// replOp is an API request a replicated stream's leader proposes through
// the ingest queue, and where the answer goes.
type replOp struct {
	rest string // the API subject after "$JS.API."
	body []byte
	done chan any
}

// proposeAPI queues an API request for the group and waits for the
// answer the leader's handler gave when it applied it (nil: no answer).
func (r *streamRepl) proposeAPI(rest string, body []byte) any {
	op := &replOp{rest: rest, body: body, done: make(chan any, 1)}
	q := r.st.in
	q.mu.Lock()
	q.msgs = append(q.msgs, &inMsg{op: op})
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	t := time.NewTimer(replProposeTimeout + time.Second)
	defer t.Stop()
	select {
	case resp := <-op.done:
		return resp
	case <-t.C:
		return errResponse(jsError(jsClusterNotAvail))
	}
}

// runOp proposes an API request (on the ingest goroutine, between rounds)
// and hands its answer to the waiting worker.
func (r *streamRepl) runOp(op *replOp) {
	r.opMu.Lock()
	r.nextOp++
	id := r.nextOp
	r.ops[id] = op.done
	r.opMu.Unlock()
	b := make([]byte, 0, 1+8+8+2+len(op.rest)+len(op.body))
	b = append(b, replEntryAPI)
	b = binary.LittleEndian.AppendUint64(b, r.run)
	b = binary.LittleEndian.AppendUint64(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(op.rest)))
	b = append(append(b, op.rest...), op.body...)
	if err := r.node.ProposeWait(b, replProposeTimeout); err != nil {
		r.opMu.Lock()
		delete(r.ops, id)
		r.opMu.Unlock()
		op.done <- errResponse(jsError(jsClusterNotAvail))
	}
}

// applyAPI runs a proposed API request with this replica's own handler;
// the proposer's answer goes to its requester.
func (r *streamRepl) applyAPI(data []byte) error {
	run, id, rest, body, err := decodeReplAPI(data)
	if err != nil {
		return err
	}
	h, args, _ := lookupAPIHandler(rest)
	ja := r.st.ja
	var resp any
	if strings.HasPrefix(rest, "CONSUMER.DELETE.") && !r.isLeader() {
		// Not running here: its stored state goes.
		if len(args) == 2 {
			r.st.deleteStoredConsumer(args[1])
		}
	} else {
		r.inAPI.Store(true)
		resp = h.fn(ja, &jsAPIRequest{ja: ja, subject: jsAPIPrefix + rest, msg: body}, args)
		r.inAPI.Store(false)
	}
	if strings.HasPrefix(rest, "CONSUMER.") && !r.isLeader() {
		r.st.deactivateConsumers()
	}
	if run != r.run {
		return nil
	}
	r.opMu.Lock()
	ch := r.ops[id]
	delete(r.ops, id)
	r.opMu.Unlock()
	if ch != nil {
		ch <- resp
	}
	return nil
}

// decodeReplAPI splits an API request entry; the request must be one that
// goes through the group (replicatedOp) and name a handler.
func decodeReplAPI(data []byte) (run, id uint64, rest string, body []byte, err error) {
	if len(data) < 19 || data[0] != replEntryAPI {
		return 0, 0, "", nil, errReplMalformed
	}
	run = binary.LittleEndian.Uint64(data[1:])
	id = binary.LittleEndian.Uint64(data[9:])
	n := int(binary.LittleEndian.Uint16(data[17:]))
	if len(data) < 19+n {
		return 0, 0, "", nil, errReplMalformed
	}
	rest, body = string(data[19:19+n]), data[19+n:]
	if _, _, ok := lookupAPIHandler(rest); !ok || !replicatedOp(rest) {
		return 0, 0, "", nil, errReplMalformed
	}
	return run, id, rest, body, nil
}

// replicatedOp lists the API requests that change a replicated stream and
// therefore go through its group.
func replicatedOp(rest string) bool {
	for _, p := range []string{"STREAM.PURGE.", "STREAM.MSG.DELETE.", "STREAM.UPDATE.",
		"CONSUMER.CREATE.", "CONSUMER.DURABLE.CREATE.", "CONSUMER.DELETE."} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

func (r *streamRepl) isLeader() bool { return r.node != nil && r.node.IsLeader() }

type replSnapshot struct {
	LastSeq   uint64             `json:"last_seq"`
	Consumers []replSnapConsumer `json:"consumers,omitempty"` // stream_replicate_members.go
}

// Snapshot runs on the node's goroutine: the messages themselves are in
// the store, so the snapshot only says how far the log got. The log drops
// the entries it covers, so the store is fsynced first: what the log
// acknowledged stays durable somewhere.
func (r *streamRepl) Snapshot() ([]byte, error) {
	if fs, ok := r.st.store.(*FileStore); ok {
		if err := fs.syncAll(); err != nil {
			return nil, err
		}
	}
	return json.Marshal(&replSnapshot{LastSeq: r.applied.Load(), Consumers: r.st.snapConsumers()})
}

// Restore takes a snapshot's position. A replica whose store is behind it
// fetches the missing messages from a peer (stream_replicate_catchup.go).
func (r *streamRepl) Restore(data []byte) error {
	var snap replSnapshot
	if len(data) > 0 {
		if err := json.Unmarshal(data, &snap); err != nil {
			return err
		}
	}
	var ss StreamState
	r.st.store.FastState(&ss)
	if ss.LastSeq < snap.LastSeq {
		// Fetched from the peers (stream_replicate_repair.go); at start-up
		// (the store lost what it had not fsynced) once they can be asked
		// (startStreamGroup).
		r.raiseCatchup(snap.LastSeq)
		if r.started.Load() {
			r.startRepair(0)
		}
	}
	r.applied.Store(snap.LastSeq)
	return r.st.restoreConsumers(snap.Consumers)
}
