package server

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Atomic batch publish (allow_atomic). A publisher sends messages carrying
// Nats-Batch-Id and Nats-Batch-Sequence 1..n; the one with
// Nats-Batch-Commit ("1": commit including it, "eob": commit without it)
// stores the whole batch at once or none of it. Everything here runs on the
// stream's ingest goroutine (processInbound calls processBatch first), which
// owns streamBatches; staged messages live in memory until the commit, and
// the store writes a committed batch atomically (store_batch.go).
//
// Replies, as the reference gives them (observed on v2.15.2): each staged
// message gets an empty reply; the commit gets the PubAck with "batch" and
// "count"; the checks of the messages' headers (expected sequences, msg ids)
// run at the commit, whose reply carries the first failure. A new batch
// beyond the in-flight limits is dropped silently unless it is a commit.

const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"

	jsBatchMaxIDLen             = 64
	jsBatchMaxInflightPerStream = 50
	jsBatchMaxInflightTotal     = 1000
	jsBatchMaxMsgs              = 1000
	jsBatchMaxStagedBytes       = jsDefaultMaxBufferedSize // per stream, all open batches

	jsAdvisoryBatchAbandoned = "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED."
	jsBatchAbandonedType     = "io.nats.jetstream.advisory.v1.stream_batch_abandoned"
)

// jsBatchTimeout is how long an open batch may stay idle (a variable so
// that a test can shorten it).
var jsBatchTimeout = 10 * time.Second

// Error identifiers of the batch and schedule features.
const (
	jsAtomicDisabled       = "JSAtomicPublishDisabledErr"
	jsAtomicMissingSeq     = "JSAtomicPublishMissingSeqErr"
	jsAtomicIncomplete     = "JSAtomicPublishIncompleteBatchErr"
	jsAtomicUnsupportedHdr = "JSAtomicPublishUnsupportedHeaderBatchErr"
	jsAtomicInvalidID      = "JSAtomicPublishInvalidBatchIDErr"
	jsAtomicTooLarge       = "JSAtomicPublishTooLargeBatchErrF"
	jsAtomicInvalidCommit  = "JSAtomicPublishInvalidBatchCommitErr"
	jsAtomicDuplicateMsgID = "JSAtomicPublishContainsDuplicateMessageErr"
	jsAtomicTooManyInfl    = "JSAtomicPublishTooManyInflight"
	jsWrongLastSeqConst    = "JSStreamWrongLastSequenceConstantErr"
)

// atomicBatch is one batch being staged.
type atomicBatch struct {
	id       string
	msgs     []*inMsg
	size     int // bytes staged
	deadline time.Time
}

// streamBatches is the stream's in-flight batches; owned by the ingest
// goroutine.
type streamBatches struct {
	open    map[string]*atomicBatch
	staged  int                   // bytes staged by all open batches
	fast    map[string]*fastBatch // stream_fastbatch.go
	timer   *time.Timer
	armedAt time.Time
}

// batchSweepMsg, queued by the batch timer, makes the ingest goroutine
// expire idle batches.
var batchSweepMsg = &inMsg{}

// processBatch takes the messages that belong to a batch (and the sweep
// tick); it returns false for an ordinary publish.
func (st *stream) processBatch(m *inMsg) bool {
	if m == batchSweepMsg {
		st.sweepBatches(time.Now())
		return true
	}
	if len(m.hdr) == 0 {
		return false
	}
	id, ok := headerValue(m.hdr, hdrBatchID)
	if !ok {
		return false
	}
	st.onAtomicBatchMsg(m, id)
	return true
}

// batchHeaders is what a batch message says about its batch.
type batchHeaders struct {
	seq       uint64
	commit    string
	hasCommit bool
}

// parseBatchHeaders reads Nats-Batch-Sequence and Nats-Batch-Commit.
func parseBatchHeaders(hdr []byte) (batchHeaders, string) {
	var bh batchHeaders
	v, ok := headerValue(hdr, hdrBatchSeq)
	n, err := strconv.ParseUint(v, 10, 64)
	if !ok || err != nil || n == 0 {
		return bh, jsAtomicMissingSeq
	}
	bh.seq = n
	bh.commit, bh.hasCommit = headerValue(hdr, hdrBatchCommit)
	if bh.hasCommit && bh.commit != "1" && bh.commit != "eob" {
		return bh, jsAtomicInvalidCommit
	}
	return bh, ""
}

// onAtomicBatchMsg stages one message of batch id, committing on the last.
func (st *stream) onAtomicBatchMsg(m *inMsg, id string) {
	if !st.cfg().AllowAtomic {
		st.abandonBatch(id, "")
		st.sendPubErr(m.reply, jsError(jsAtomicDisabled))
		return
	}
	if id == "" || len(id) > jsBatchMaxIDLen {
		st.sendPubErr(m.reply, jsError(jsAtomicInvalidID))
		return
	}
	if apiLevelTooHigh(m.hdr) {
		// Refused even as the first message, with the advisory all the same.
		st.abandonBatch(id, "")
		st.batchAbandonedAdvisory(id, "unsupported")
		st.sendPubErr(m.reply, jsError(jsRequiredAPILevel))
		return
	}
	bh, bad := parseBatchHeaders(m.hdr)
	if bad != "" {
		// As the reference: a message without a sequence leaves its batch
		// open; a bad commit value drops it, without an advisory.
		if bad == jsAtomicInvalidCommit {
			st.abandonBatch(id, "")
		}
		st.sendPubErr(m.reply, jsError(bad))
		return
	}
	if bh.seq > jsBatchMaxMsgs {
		st.abandonBatch(id, "large")
		st.sendPubErr(m.reply, jsError(jsAtomicTooLarge, jsBatchMaxMsgs))
		return
	}
	b, e := st.batchFor(id, bh)
	if b == nil {
		if e != nil {
			st.sendPubErr(m.reply, e)
		}
		return
	}
	n := len(m.hdr) + len(m.msg)
	if st.batches.staged+n > jsBatchMaxStagedBytes {
		// Staged batches live in memory: bound them as the ingest queue is.
		st.abandonBatch(id, "large")
		st.sendPubErr(m.reply, jsError(jsAtomicTooLarge, len(b.msgs)))
		return
	}
	b.size += n
	st.batches.staged += n
	if !bh.hasCommit {
		b.msgs = append(b.msgs, m)
		b.deadline = time.Now().Add(jsBatchTimeout)
		st.armBatchTimer(b.deadline)
		if m.reply != "" {
			st.ja.js.srv.PublishInternal(st.ja.acc, m.reply, "", nil, nil)
		}
		return
	}
	if bh.commit == "1" {
		b.msgs = append(b.msgs, m)
	} else {
		last := b.msgs[len(b.msgs)-1]
		last.hdr = setHeader(last.hdr, hdrBatchCommit, "1")
	}
	st.closeBatch(b)
	st.commitBatch(b, m.reply)
}

// batchFor finds the open batch a message continues, or opens a new one at
// sequence 1. A nil batch with a nil error means the message is dropped
// without a reply (in-flight limit on a message that is not a commit).
func (st *stream) batchFor(id string, bh batchHeaders) (*atomicBatch, *ApiError) {
	bs := &st.batches
	b := bs.open[id]
	if b != nil {
		if bh.seq != uint64(len(b.msgs))+1 {
			st.abandonBatch(id, "incomplete")
			return nil, jsError(jsAtomicIncomplete)
		}
		return b, nil
	}
	if bh.seq != 1 || bh.commit == "eob" {
		return nil, jsError(jsAtomicIncomplete)
	}
	if !st.reserveBatch() {
		if bh.hasCommit {
			return nil, jsError(jsAtomicTooManyInfl)
		}
		return nil, nil
	}
	if bs.open == nil {
		bs.open = make(map[string]*atomicBatch)
	}
	b = &atomicBatch{id: strings.Clone(id)}
	bs.open[b.id] = b
	return b, nil
}

// reserveBatch counts a new batch against the stream's and the server's
// in-flight limits.
func (st *stream) reserveBatch() bool {
	if len(st.batches.open) >= jsBatchMaxInflightPerStream {
		return false
	}
	js := st.ja.js
	if js.atomicInflight.Add(1) > jsBatchMaxInflightTotal {
		js.atomicInflight.Add(-1)
		return false
	}
	return true
}

// closeBatch forgets b and releases its in-flight slot.
func (st *stream) closeBatch(b *atomicBatch) {
	if st.batches.open[b.id] != b {
		return
	}
	delete(st.batches.open, b.id)
	st.batches.staged -= b.size
	st.ja.js.atomicInflight.Add(-1)
}

// abandonBatch drops the open batch id, if any, with an advisory giving
// reason (none when reason is empty).
func (st *stream) abandonBatch(id, reason string) {
	b := st.batches.open[id]
	if b == nil {
		return
	}
	st.closeBatch(b)
	if reason != "" {
		st.batchAbandonedAdvisory(b.id, reason)
	}
}

// dropBatches releases every open batch once ingest has stopped.
func (st *stream) dropBatches() {
	bs := &st.batches
	if bs.timer != nil {
		bs.timer.Stop()
	}
	for _, b := range bs.open {
		st.closeBatch(b)
	}
	for _, fb := range bs.fast {
		st.closeFastBatch(fb)
	}
}

// armBatchTimer makes sure a sweep runs by deadline. One timer per stream,
// armed only while batches are open.
func (st *stream) armBatchTimer(deadline time.Time) {
	bs := &st.batches
	if !bs.armedAt.IsZero() && !bs.armedAt.After(deadline) {
		return
	}
	bs.armedAt = deadline
	d := time.Until(deadline)
	if bs.timer == nil {
		bs.timer = time.AfterFunc(d, st.queueBatchSweep)
		return
	}
	bs.timer.Reset(d)
}

// queueBatchSweep runs on the timer's goroutine: it only queues the tick.
func (st *stream) queueBatchSweep() { st.queueIngestTick(batchSweepMsg) }

// sweepBatches abandons the batches idle past their deadline and re-arms
// the timer for the next one.
func (st *stream) sweepBatches(now time.Time) {
	bs := &st.batches
	bs.armedAt = time.Time{}
	next := st.sweepFastBatches(now)
	for id, b := range bs.open {
		if !b.deadline.After(now) {
			st.abandonBatch(id, "timeout")
			continue
		}
		if next.IsZero() || b.deadline.Before(next) {
			next = b.deadline
		}
	}
	if !next.IsZero() {
		st.armBatchTimer(next)
	}
}

// commitBatch checks every message of b as the reference does at commit
// time, then stores them all at once and acknowledges the commit.
func (st *stream) commitBatch(b *atomicBatch, reply string) {
	cfg := st.cfg()
	if cfg.Sealed {
		st.sendPubErr(reply, jsError(jsStreamSealed))
		return
	}
	msgs, rollups, e := st.prepareBatch(b, &cfg)
	if e != nil {
		st.sendPubErr(reply, e)
		return
	}
	if e := st.batchLimitsExceeded(msgs); e != nil {
		st.sendPubErr(reply, e)
		return
	}
	bstore, ok := st.store.(batchStore)
	if !ok {
		st.sendPubErr(reply, jsError(jsAtomicDisabled))
		return
	}
	prev := st.batchPrevSeqs(msgs)
	first, ts, err := bstore.StoreBatch(msgs)
	if err != nil {
		st.sendPubErr(reply, jsError(jsStreamStoreFailed, err))
		return
	}
	st.noteBatchStored(b, first, ts)
	st.recordBatch(msgs, first, ts)
	for _, r := range rollups {
		st.applyRollup(r.kind, r.subject, first)
	}
	st.republishBatch(msgs, prev, first, ts)
	st.notifyAppend()
	if !cfg.NoAck {
		st.ackBatch(reply, first+uint64(len(msgs))-1, b.id, len(msgs))
	}
}

// batchRollup is a roll-up asked for by a message of an atomic batch. As
// with the reference, it removes what was stored before the batch, never
// the batch's own messages.
type batchRollup struct {
	kind    rollupKind
	subject string
}

// prepareBatch checks every message of b at commit and turns them into
// the store's batch, with their TTLs and the roll-ups they ask for.
func (st *stream) prepareBatch(b *atomicBatch, cfg *StreamConfig) ([]storeBatchMsg, []batchRollup, *ApiError) {
	ids := make(map[string]struct{})
	msgs := make([]storeBatchMsg, len(b.msgs))
	var rollups []batchRollup
	var totals map[string]*big.Int // running counter totals, for counter streams only
	if cfg.AllowMsgCounter {
		totals = make(map[string]*big.Int)
	}
	for i, m := range b.msgs {
		m.hdr = deleteHeader(m.hdr, jsRequiredAPILevelHeader)
		if e := st.checkBatchMsg(m, i, cfg, ids); e != nil {
			return nil, nil, e
		}
		ttl, e := st.batchMsgTTL(cfg, m)
		if e != nil {
			return nil, nil, e
		}
		if e := st.addToBatchCounter(cfg, m, totals); e != nil {
			return nil, nil, e
		}
		kind, e := checkRollup(cfg, m.hdr)
		if e != nil {
			return nil, nil, e
		}
		if kind != rollupNone {
			rollups = append(rollups, batchRollup{kind: kind, subject: m.subject})
		}
		msgs[i] = storeBatchMsg{subject: m.subject, hdr: m.hdr, msg: m.msg, ttl: ttl}
	}
	return msgs, rollups, nil
}

// checkBatchMsg applies the per-message checks to message i of a batch.
func (st *stream) checkBatchMsg(m *inMsg, i int, cfg *StreamConfig, ids map[string]struct{}) *ApiError {
	if cfg.MaxMsgSize >= 0 && len(m.hdr)+len(m.msg) > int(cfg.MaxMsgSize) {
		return jsError(jsStreamMessageExceeds)
	}
	if len(m.hdr) == 0 {
		return nil
	}
	if e := checkSourceHeader(m.hdr); e != nil {
		return e
	}
	if _, ok := headerValue(m.hdr, hdrExpectedLastMsgID); ok {
		return jsError(jsAtomicUnsupportedHdr, hdrExpectedLastMsgID)
	}
	if i == 0 {
		if e := st.checkExpected(m); e != nil {
			return e
		}
	} else {
		_, els := headerValue(m.hdr, hdrExpectedLastSeq)
		_, elss := headerValue(m.hdr, hdrExpectedLastSubjSeq)
		if els || elss {
			return jsError(jsWrongLastSeqConst)
		}
		if v, ok := headerValue(m.hdr, hdrExpectedStream); ok && v != st.name {
			return jsError(jsStreamNotMatch)
		}
	}
	if id, ok := headerValue(m.hdr, hdrMsgID); ok && id != "" {
		if _, seen := ids[id]; seen {
			return jsError(jsAtomicDuplicateMsgID)
		}
		if _, dup := st.isDuplicate(id, cfg.Duplicates); dup {
			return jsError(jsAtomicDuplicateMsgID)
		}
		ids[id] = struct{}{}
	}
	return nil
}

// noteBatchStored does for each stored message what processInbound does
// for one: usage, duplicate window, last msg id.
func (st *stream) noteBatchStored(b *atomicBatch, first uint64, ts int64) {
	q := st.in
	for i, m := range b.msgs {
		st.noteStored(m.subject, m.hdr, m.msg)
		id, _ := headerValue(m.hdr, hdrMsgID)
		q.lastMsgID = strings.Clone(id)
		if id != "" {
			q.dedupe[q.lastMsgID] = dedupeEntry{seq: first + uint64(i), ts: ts}
			q.dedupeLog = append(q.dedupeLog, dedupeKey{id: q.lastMsgID, ts: ts})
		}
	}
}

// sendBatchAck answers a commit: {"stream":..,"seq":N,"batch":"id","count":n}.
func (st *stream) sendBatchAck(reply string, seq uint64, id string, count int) {
	if reply == "" {
		return
	}
	b := make([]byte, 0, len(st.ackPrefix)+len(id)+48)
	b = append(b, st.ackPrefix...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"batch":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, '}')
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", nil, b)
}

// batchAbandonedAdvisory is the reference's stream_batch_abandoned event.
type batchAbandonedAdvisory struct {
	TypedEvent
	Stream string `json:"stream"`
	Domain string `json:"domain,omitempty"`
	Batch  string `json:"batch"`
	Reason string `json:"reason"`
}

func (st *stream) batchAbandonedAdvisory(id, reason string) {
	subj := jsAdvisoryBatchAbandoned + st.name
	adv := &batchAbandonedAdvisory{TypedEvent: newEvent(jsBatchAbandonedType), Stream: st.name,
		Domain: st.ja.js.srv.getOpts().JetStreamDomain, Batch: id, Reason: reason}
	data, err := json.Marshal(adv)
	if err != nil {
		return
	}
	st.ja.js.srv.PublishInternal(st.ja.acc, subj, "", nil, data)
}

// deleteHeader returns hdr without the lines of key (hdr itself when it has
// none).
func deleteHeader(hdr []byte, key string) []byte {
	if _, ok := headerValue(hdr, key); !ok {
		return hdr
	}
	out := make([]byte, 0, len(hdr))
	out = append(out, hdr[:len(hdr)-len(headerLines(hdr))]...)
	return append(appendHeaderLinesWithout(out, hdr, key), "\r\n"...)
}

// applyBatchScheduleDefaults adjusts a create/update config as the
// reference does: schedules need subject roll-ups, which they enable (an
// error in pedantic mode), clearing deny_purge.
func applyBatchScheduleDefaults(c *StreamConfig, pedantic bool) *ApiError {
	if !c.AllowMsgSchedules || c.AllowRollup {
		return nil
	}
	if c.Discard == DiscardNew {
		return jsError(jsStreamInvalidConfig, "message scheduling cannot use discard new")
	}
	if pedantic {
		return jsError(jsStreamInvalidConfig, "message scheduling cannot be set if roll-ups are disabled")
	}
	c.AllowRollup, c.DenyPurge = true, false
	return nil
}

// checkBatchScheduleConfig validates the batch and schedule fields.
func checkBatchScheduleConfig(c *StreamConfig) *ApiError {
	if c.AllowMsgSchedules && c.Discard == DiscardNew {
		return jsError(jsStreamInvalidConfig, "message scheduling cannot use discard new")
	}
	return nil
}

// checkBatchScheduleUpdate: schedules, once allowed, stay allowed.
func checkBatchScheduleUpdate(old, c *StreamConfig) *ApiError {
	if old.AllowMsgSchedules && !c.AllowMsgSchedules {
		return jsError(jsStreamInvalidConfig, "message schedules can not be disabled")
	}
	return nil
}

// batchScheduleReqLevel is the API level these features require (stored
// as _nats.req.level): 2 for atomic batches and schedules, 4 for fast
// batches.
func batchScheduleReqLevel(c *StreamConfig) int {
	switch {
	case c.AllowBatched:
		return 4
	case c.AllowAtomic || c.AllowMsgSchedules:
		return 2
	}
	return 0
}
