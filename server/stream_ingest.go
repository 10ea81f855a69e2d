package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The publish path. A PUB on a stream subject reaches stream.onPublish on
// the publisher's goroutine, which only copies the message into the
// stream's ingest queue. The stream's own goroutine (ingestLoop) takes
// everything queued as one round: it checks each message's Nats-* headers
// and appends it to the store (processInbound), then commits the round
// with one write (and with sync_interval: always one fsync) and only then
// sends the round's PubAcks (stream_ingest_round.go). A message is thus
// acknowledged only once the store has it durably, and the publisher's
// read loop never waits on disk. This queue is the log a consensus layer
// will later sit in front of.

const (
	jsDefaultMaxBufferedMsgs = 100000
	jsDefaultMaxBufferedSize = 128 << 20

	hdrMsgID                  = "Nats-Msg-Id"
	hdrExpectedStream         = "Nats-Expected-Stream"
	hdrExpectedLastSeq        = "Nats-Expected-Last-Sequence"
	hdrExpectedLastSubjSeq    = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedLastMsgID      = "Nats-Expected-Last-Msg-Id"
	hdrExpectedLastSubjSeqSub = "Nats-Expected-Last-Subject-Sequence-Subject"
)

// inMsg is a queued publish. Its fields are views of one buffer of its
// own (newInMsg), never reused, so they may be kept like any string.
type inMsg struct {
	subject string
	reply   string
	hdr     []byte
	msg     []byte
	marker  bool        // a subject delete marker queued by expiry (stream_ttl.go)
	sourced *sourcedMsg // copied from a mirror's or source's origin (stream_source_run.go)
	op      *replOp     // an API request of a replicated stream (stream_replicate.go)
}

// ingestQueue is the stream's bounded queue of publishes (max_buffered_msgs
// and max_buffered_size as in the reference).
type ingestQueue struct {
	mu     sync.Mutex
	msgs   []*inMsg
	spare  []*inMsg // the previous round's slice, given back for reuse
	size   int
	signal chan struct{}
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once

	// Owned by the ingest goroutine.
	dedupe       map[string]dedupeEntry
	dedupeLog    []dedupeKey
	lastMsgID    string
	dedupeLoaded bool // the window was rebuilt from the store (first batch)
	round        ingestRound
}

type dedupeEntry struct {
	seq uint64
	ts  int64
}

type dedupeKey struct {
	id string
	ts int64
}

// pubAckPrefix is the PubAck up to the sequence: {"stream":..,"domain":..,"seq":
func pubAckPrefix(name, domain string) []byte {
	n, _ := json.Marshal(name)
	b := append([]byte(`{"stream":`), n...)
	if domain != "" {
		d, _ := json.Marshal(domain)
		b = append(append(b, `,"domain":`...), d...)
	}
	return append(b, `,"seq":`...)
}

func (st *stream) startIngest() {
	st.ackPrefix = pubAckPrefix(st.name, st.ja.js.srv.getOpts().JetStreamDomain)
	st.in = &ingestQueue{signal: make(chan struct{}, 1), quit: make(chan struct{}),
		done: make(chan struct{}), dedupe: make(map[string]dedupeEntry)}
	go st.ingestLoop()
}

// rebuildDedupe reloads, for a recovered stream, the Nats-Msg-Id of every
// message still inside the duplicate window and the last message's id, so
// a publisher retrying across a restart still gets "duplicate".
func (st *stream) rebuildDedupe() {
	var ss StreamState
	st.store.FastState(&ss)
	if ss.Msgs == 0 {
		return
	}
	if sm, err := st.store.LoadMsg(ss.LastSeq, nil); err == nil {
		st.in.lastMsgID, _ = headerValue(sm.Hdr, hdrMsgID)
	}
	start := st.seqAtTime(time.Now().Add(-st.cfg().Duplicates))
	var sm StoreMsg
	for seq := start; seq > 0 && seq <= ss.LastSeq; {
		m, next, err := st.store.LoadNextMsg(">", seq, &sm)
		if err != nil {
			return
		}
		if id, ok := headerValue(m.Hdr, hdrMsgID); ok && id != "" {
			id = strings.Clone(id) // a view of sm, which the next load reuses
			st.in.dedupe[id] = dedupeEntry{seq: m.Seq, ts: m.TS}
			st.in.dedupeLog = append(st.in.dedupeLog, dedupeKey{id: id, ts: m.TS})
		}
		seq = max(next, m.Seq+1)
	}
}

// stopIngest stores what is queued, then ends the ingest goroutine.
func (st *stream) stopIngest() {
	st.in.once.Do(func() { close(st.in.quit) })
	<-st.in.done
}

// onPublish runs on the publisher's goroutine with no lock held; its
// arguments are valid only during the call.
func (st *stream) onPublish(subject, reply string, hdr, msg []byte) {
	if st.replicated {
		// Only the group's leader takes publishes; every replica sees them.
		if r := st.repl.Load(); r == nil || !r.isLeader() {
			return
		}
	}
	q := st.in
	q.mu.Lock()
	if js := st.ja.js; len(q.msgs) >= js.maxBufferedMsgs || q.size+len(msg)+len(hdr) > js.maxBufferedSize {
		q.mu.Unlock()
		st.sendPubErr(reply, jsError(jsStreamIngestFull))
		return
	}
	// One copy, into one buffer (newInMsg); the queue's slice is reused.
	q.msgs = append(q.msgs, newInMsg(subject, reply, hdr, msg))
	q.size += len(msg) + len(hdr)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// newInMsg copies a publish into one buffer of its own.
func newInMsg(subject, reply string, hdr, msg []byte) *inMsg {
	ls, lr, lh := len(subject), len(reply), len(hdr)
	buf := make([]byte, ls+lr+lh+len(msg))
	copy(buf, subject)
	copy(buf[ls:], reply)
	copy(buf[ls+lr:], hdr)
	copy(buf[ls+lr+lh:], msg)
	m := &inMsg{subject: bytesToString(buf[:ls]), reply: bytesToString(buf[ls : ls+lr]),
		msg: buf[ls+lr+lh : len(buf) : len(buf)]}
	if lh > 0 {
		m.hdr = buf[ls+lr : ls+lr+lh : ls+lr+lh]
	}
	return m
}

func (st *stream) ingestLoop() {
	q := st.in
	defer close(q.done)
	for {
		select {
		case <-q.signal:
			st.drainIngest()
		case <-q.quit:
			st.drainIngest()
			return
		}
	}
}

// drainIngest runs rounds until the queue is empty: everything queued is
// stored, committed once, then acknowledged (see stream_ingest_round.go).
func (st *stream) drainIngest() {
	q := st.in
	for {
		batch := st.takeIngest()
		if len(batch) == 0 {
			if st.replicated {
				st.proposeRemovals()
			}
			return
		}
		repl := st.repl.Load()
		if st.replicated && (repl == nil || !repl.beginLeading()) {
			st.refuseRound(batch)
			continue
		}
		if !q.dedupeLoaded {
			// Deferred to the first publish so that start-up does not read
			// every message of the duplicate window.
			q.dedupeLoaded = true
			st.rebuildDedupe()
		}
		st.beginRound()
		for _, m := range batch {
			if m.op != nil {
				// Between rounds, so that every replica applies it at
				// the same point among the messages.
				st.commitRound()
				st.beginRound()
				repl.runOp(m.op)
				continue
			}
			st.processInbound(m)
		}
		st.commitRound()
		if st.replicated {
			st.proposeRemovals() // after the entry storing what they remove
		}
		st.giveBackIngest(batch)
	}
}

// processInbound checks and stores one message and queues its answer,
// which commitRound sends once the round is durable.
func (st *stream) processInbound(m *inMsg) {
	if m.marker {
		st.storeMarker(m)
		return
	}
	if m.sourced != nil {
		st.storeSourced(m)
		return
	}
	if subj := st.storedSubject(m.subject); subj != m.subject {
		m.subject = subj // only then: schedule ticks are inMsgs shared by every stream
	}
	if st.preprocessInbound(m) {
		return
	}
	cfg := st.cfg()
	if cfg.Sealed {
		st.queuePubErr(m.reply, jsError(jsStreamSealed))
		return
	}
	if cfg.MaxMsgSize >= 0 && len(m.hdr)+len(m.msg) > int(cfg.MaxMsgSize) {
		st.queuePubErr(m.reply, jsError(jsStreamMessageExceeds))
		return
	}
	var feat msgFeatures
	if e := st.checkFeaturesEarly(&cfg, m, &feat); e != nil {
		st.queuePubErr(m.reply, e)
		return
	}
	msgID := ""
	if len(m.hdr) > 0 {
		if e := st.checkExpected(m); e != nil {
			st.queuePubErr(m.reply, e)
			return
		}
		msgID, _ = headerValue(m.hdr, hdrMsgID)
		if msgID != "" {
			if seq, dup := st.isDuplicate(msgID, cfg.Duplicates); dup {
				st.queuePubAck(m.reply, seq, true)
				return
			}
		}
	}
	if e := st.checkFeatures(&cfg, m, &feat); e != nil {
		st.queuePubErr(m.reply, e)
		return
	}
	if e := st.limitsExceeded(m); e != nil {
		st.queuePubErr(m.reply, e)
		return
	}
	last := st.lastSeqBefore(m.subject)
	seq, ts, err := st.storeInbound(&cfg, m, &feat)
	if err != nil {
		st.queuePubErr(m.reply, jsError(jsStreamStoreFailed, err))
		return
	}
	st.noteStored(m.subject, m.hdr, m.msg)
	st.afterStore(m, &feat, seq)
	st.republish(m.subject, m.hdr, m.msg, seq, last, ts)
	st.afterStored(m, seq)
	st.notifyAppend()
	st.rememberMsgID(msgID, seq, ts)
	if !cfg.NoAck {
		st.queueFeatureAck(m.reply, seq, &feat)
	}
}

// checkExpected applies the Nats-Expected-* headers.
func (st *stream) checkExpected(m *inMsg) *ApiError {
	if v, ok := headerValue(m.hdr, hdrExpectedStream); ok && v != st.name {
		return jsError(jsStreamNotMatch)
	}
	if v, ok := headerValue(m.hdr, hdrExpectedLastSeq); ok {
		var ss StreamState
		st.store.FastState(&ss)
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n != ss.LastSeq {
			return jsError(jsStreamWrongLastSeq, ss.LastSeq)
		}
	}
	v, ok := headerValue(m.hdr, hdrExpectedLastSubjSeq)
	if s, has := headerValue(m.hdr, hdrExpectedLastSubjSeqSub); !ok && has && s != "" {
		return jsError(jsExpectedLastSubjSeqMissing)
	}
	if ok {
		subj := m.subject
		if s, ok := headerValue(m.hdr, hdrExpectedLastSubjSeqSub); ok && s != "" {
			subj = s
		}
		var last uint64
		if sm, err := st.store.LoadLastMsg(subj, nil); err == nil {
			last = sm.Seq
		}
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n != last {
			return jsError(jsStreamWrongLastSeq, last)
		}
	}
	if v, ok := headerValue(m.hdr, hdrExpectedLastMsgID); ok && v != st.in.lastMsgID {
		return jsError(jsStreamWrongLastMsgID, st.in.lastMsgID)
	}
	return checkSourceHeader(m.hdr)
}

// isDuplicate looks msgID up in the duplicate window, first expiring the
// ids that left it (they were logged in arrival order).
func (st *stream) isDuplicate(msgID string, window time.Duration) (uint64, bool) {
	q := st.in
	cutoff := time.Now().UnixNano() - int64(window)
	n := 0
	for n < len(q.dedupeLog) && q.dedupeLog[n].ts < cutoff {
		k := q.dedupeLog[n]
		if e, ok := q.dedupe[k.id]; ok && e.ts == k.ts {
			delete(q.dedupe, k.id)
		}
		n++
	}
	if n > 0 {
		q.dedupeLog = append(q.dedupeLog[:0], q.dedupeLog[n:]...)
	}
	e, ok := q.dedupe[msgID]
	return e.seq, ok
}

// sendPubAck answers {"stream":..,"domain":..,"seq":N[,"duplicate": true]}
// at once, from any goroutine. The ingest round uses queuePubAck instead.
func (st *stream) sendPubAck(reply string, seq uint64, dup bool) {
	if reply == "" {
		return
	}
	b := st.appendPubAck(make([]byte, 0, len(st.ackPrefix)+40), seq, dup)
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", nil, b)
}

func (st *stream) appendPubAck(b []byte, seq uint64, dup bool) []byte {
	b = append(b, st.ackPrefix...)
	b = strconv.AppendUint(b, seq, 10)
	if dup {
		b = append(b, `,"duplicate": true`...)
	}
	return append(b, '}')
}

// pubAckError is the PubAck carrying an error.
type pubAckError struct {
	Error  *ApiError `json:"error"`
	Stream string    `json:"stream"`
	Seq    uint64    `json:"seq"`
}

func (st *stream) sendPubErr(reply string, e *ApiError) {
	if reply == "" {
		return
	}
	data, _ := json.Marshal(&pubAckError{Error: e, Stream: st.name})
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", nil, data)
}
