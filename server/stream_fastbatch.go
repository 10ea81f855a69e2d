package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Fast batch publish (allow_batched, API level 4). Unlike an atomic batch,
// a fast batch is stored as it arrives; what it adds is flow control and
// one PubAck for the whole batch. It is selected by the publish's reply
// subject, "<prefix>.<batch id>.<flow>.<gap mode>.<batch seq>.<op>.$FI":
// op 0 starts (seq 1), 1 appends, 2 commits with this message, 3 commits
// without it (end-of-batch marker), 4 pings. The server answers on the
// message's reply subject (observed on v2.15.2):
//
//	{"type":"ack","seq":<batch seq stored>,"msgs":<ack every N>}
//	{"type":"gap","last_seq":<expected>,"seq":<received>}
//	{"type":"err","seq":<batch seq>,"error":{...}}
//
// and the commit gets the PubAck with "batch" and "count". A gap is skipped
// in mode "ok"; in mode "fail" the batch is committed up to it. Runs on the
// ingest goroutine like everything else that writes the stream.

const (
	fastBatchSuffix             = ".$FI"
	fastBatchMaxInflightStream  = 1000
	fastBatchMaxInflightTotal   = 50000
	fastBatchDefaultFlow        = 10
	fastBatchMaxFlow            = 65535
	fastBatchMaxAckEvery        = 500
	jsFastBatchDisabled         = "JSBatchPublishDisabledErr"
	jsFastBatchInvalidPattern   = "JSBatchPublishInvalidPatternErr"
	jsFastBatchInvalidID        = "JSBatchPublishInvalidBatchIDErr"
	jsFastBatchUnknownID        = "JSBatchPublishUnknownBatchIDErr"
	jsFastBatchTooManyInflight  = "JSBatchPublishTooManyInflight"
	fastOpStart, fastOpAppend   = 0, 1
	fastOpCommit, fastOpEOB     = 2, 3
	fastOpPing                  = 4
	fastBatchGapOK, fastGapFail = "ok", "fail"
)

// fastBatchReply is a parsed fast batch reply subject.
type fastBatchReply struct {
	id      string
	flow    int
	gapFail bool
	seq     uint64
	op      int
}

// parseFastBatchReply parses the reply subject; the error names the
// catalogue entry for a malformed one.
func parseFastBatchReply(reply string) (fastBatchReply, string) {
	var r fastBatchReply
	toks := strings.Split(strings.TrimSuffix(reply, fastBatchSuffix), ".")
	if len(toks) < 6 { // At least one prefix token.
		return r, jsFastBatchInvalidPattern
	}
	toks = toks[len(toks)-5:]
	flow, err1 := strconv.Atoi(toks[1])
	seq, err2 := strconv.ParseUint(toks[3], 10, 64)
	op, err3 := strconv.Atoi(toks[4])
	if err1 != nil || err2 != nil || err3 != nil || seq == 0 || op < fastOpStart || op > fastOpPing ||
		(toks[2] != fastBatchGapOK && toks[2] != fastGapFail) {
		return r, jsFastBatchInvalidPattern
	}
	if (op == fastOpStart && seq != 1) || (op == fastOpAppend && seq == 1) || (op == fastOpEOB && seq == 1) {
		return r, jsFastBatchInvalidPattern
	}
	if toks[0] == "" || len(toks[0]) > jsBatchMaxIDLen {
		return r, jsFastBatchInvalidID
	}
	if flow <= 0 {
		flow = fastBatchDefaultFlow
	}
	r = fastBatchReply{id: toks[0], flow: min(flow, fastBatchMaxFlow), gapFail: toks[2] == fastGapFail, seq: seq, op: op}
	return r, ""
}

// fastBatch is one fast batch in progress.
type fastBatch struct {
	id       string
	next     uint64 // batch sequence expected next
	stored   uint64 // last batch sequence stored
	acked    uint64 // batch sequence of the last flow ack
	every    int    // ack every this many messages
	flow     int
	lastAck  []byte
	deadline time.Time
}

// processFastBatch takes the publishes whose reply names a fast batch.
func (st *stream) processFastBatch(m *inMsg) bool {
	if !strings.HasSuffix(m.reply, fastBatchSuffix) {
		return false
	}
	if !st.cfg().AllowBatched {
		st.sendPubErr(m.reply, jsError(jsFastBatchDisabled))
		return true
	}
	r, bad := parseFastBatchReply(m.reply)
	if bad != "" {
		st.sendPubErr(m.reply, jsError(bad))
		return true
	}
	bs := &st.batches
	fb := bs.fast[r.id]
	if fb == nil {
		if r.seq != 1 {
			st.sendPubErr(m.reply, jsError(jsFastBatchUnknownID))
			return true
		}
		if fb = st.openFastBatch(r); fb == nil {
			st.sendPubErr(m.reply, jsError(jsFastBatchTooManyInflight))
			return true
		}
		if r.op != fastOpCommit {
			st.sendFastAck(m.reply, fb)
		}
	}
	fb.deadline = time.Now().Add(jsBatchTimeout)
	st.armBatchTimer(fb.deadline)
	st.fastBatchMsg(m, fb, r)
	return true
}

func (st *stream) openFastBatch(r fastBatchReply) *fastBatch {
	bs := &st.batches
	if len(bs.fast) >= fastBatchMaxInflightStream {
		return nil
	}
	js := st.ja.js
	if js.fastInflight.Add(1) > fastBatchMaxInflightTotal {
		js.fastInflight.Add(-1)
		return nil
	}
	every := min(fastBatchMaxAckEvery, r.flow)
	if len(bs.fast) > 0 {
		every = 1 // Others share the stream: ack often so that they pace.
	}
	if bs.fast == nil {
		bs.fast = make(map[string]*fastBatch)
	}
	fb := &fastBatch{id: strings.Clone(r.id), next: 1, every: every, flow: r.flow}
	bs.fast[fb.id] = fb
	return fb
}

func (st *stream) closeFastBatch(fb *fastBatch) {
	if st.batches.fast[fb.id] != fb {
		return
	}
	delete(st.batches.fast, fb.id)
	st.ja.js.fastInflight.Add(-1)
}

// fastBatchMsg handles one message of fb: gaps, ping, store, commit.
func (st *stream) fastBatchMsg(m *inMsg, fb *fastBatch, r fastBatchReply) {
	if r.op == fastOpPing {
		st.ja.js.srv.PublishInternal(st.ja.acc, m.reply, "", nil, fb.lastAck)
		return
	}
	if r.seq != fb.next {
		if r.seq < fb.next {
			return // A duplicate of something already handled.
		}
		gap := []byte(`{"type":"gap","last_seq":` + strconv.FormatUint(fb.next, 10) + `,"seq":` + strconv.FormatUint(r.seq, 10) + `}`)
		st.ja.js.srv.PublishInternal(st.ja.acc, m.reply, "", nil, gap)
		if r.gapFail {
			st.closeFastBatch(fb)
			st.ackBatch(m.reply, st.lastSeq(), fb.id, int(fb.stored))
			return
		}
	}
	fb.next = r.seq + 1
	if r.op == fastOpEOB {
		st.closeFastBatch(fb)
		st.ackBatch(m.reply, st.lastSeq(), fb.id, int(r.seq-1))
		return
	}
	seq, e := st.storeFastMsg(m)
	if e != nil {
		st.sendFastErr(m.reply, r.seq, e)
	} else {
		fb.stored = r.seq
	}
	if r.op == fastOpCommit {
		st.closeFastBatch(fb)
		if e != nil {
			// As the reference: the error, then the commit of what was stored.
			seq, r.seq = st.lastSeq(), fb.stored
		}
		st.ackBatch(m.reply, seq, fb.id, int(r.seq))
		return
	}
	if fb.stored >= fb.acked+uint64(fb.every) {
		fb.acked = fb.stored
		fb.every = min(2*fb.every, fb.flow, fastBatchMaxAckEvery)
		st.sendFastAck(m.reply, fb)
	}
}

// storeFastMsg checks and stores one message as processInbound does.
func (st *stream) storeFastMsg(m *inMsg) (uint64, *ApiError) {
	cfg := st.cfg()
	if cfg.Sealed {
		return 0, jsError(jsStreamSealed)
	}
	if cfg.MaxMsgSize >= 0 && len(m.hdr)+len(m.msg) > int(cfg.MaxMsgSize) {
		return 0, jsError(jsStreamMessageExceeds)
	}
	ttl, e := st.batchMsgTTL(&cfg, m)
	if e != nil {
		return 0, e
	}
	msgID := ""
	if len(m.hdr) > 0 {
		if e := st.checkExpected(m); e != nil {
			return 0, e
		}
		if e := st.checkScheduleHeaders(m); e != nil {
			return 0, e
		}
		msgID, _ = headerValue(m.hdr, hdrMsgID)
		if msgID != "" {
			if seq, dup := st.isDuplicate(msgID, cfg.Duplicates); dup {
				return seq, nil
			}
		}
	}
	if e := st.limitsExceeded(m); e != nil {
		return 0, e
	}
	last := st.lastSeqBefore(m.subject)
	seq, ts, err := st.storeProduced(m.subject, m.hdr, m.msg, ttl)
	if err != nil {
		return 0, jsError(jsStreamStoreFailed, err)
	}
	st.noteStored(m.subject, m.hdr, m.msg)
	st.republish(m.subject, m.hdr, m.msg, seq, last, ts)
	st.afterStored(m, seq)
	st.notifyAppend()
	st.in.lastMsgID = msgID
	if msgID != "" {
		st.in.dedupe[msgID] = dedupeEntry{seq: seq, ts: ts}
		st.in.dedupeLog = append(st.in.dedupeLog, dedupeKey{id: msgID, ts: ts})
	}
	return seq, nil
}

func (st *stream) lastSeq() uint64 {
	var ss StreamState
	st.store.FastState(&ss)
	return ss.LastSeq
}

func (st *stream) sendFastAck(reply string, fb *fastBatch) {
	fb.lastAck = []byte(`{"type":"ack","seq":` + strconv.FormatUint(fb.acked, 10) + `,"msgs":` + strconv.Itoa(fb.every) + `}`)
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", nil, fb.lastAck)
}

func (st *stream) sendFastErr(reply string, seq uint64, e *ApiError) {
	data, _ := jsonMarshalFastErr(seq, e)
	st.ja.js.srv.PublishInternal(st.ja.acc, reply, "", nil, data)
}

// sweepFastBatches forgets fast batches idle past their deadline (what
// they stored stays); it returns the earliest deadline left.
func (st *stream) sweepFastBatches(now time.Time) time.Time {
	var next time.Time
	for _, fb := range st.batches.fast {
		if !fb.deadline.After(now) {
			st.closeFastBatch(fb)
			continue
		}
		if next.IsZero() || fb.deadline.Before(next) {
			next = fb.deadline
		}
	}
	return next
}

// fastBatchErr is the flow message reporting a message that was not stored.
type fastBatchErr struct {
	Type  string    `json:"type"`
	Seq   uint64    `json:"seq"`
	Error *ApiError `json:"error"`
}

func jsonMarshalFastErr(seq uint64, e *ApiError) ([]byte, error) {
	return json.Marshal(&fastBatchErr{Type: "err", Seq: seq, Error: e})
}
