package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Durable sourcing (a mirror or source with `consumer`): instead of reading
// the origin's store, the copy takes what a push consumer, created on the
// origin beforehand with ack policy flow_control, delivers to its deliver
// subject. The consumer keeps the origin's side of the position (it is
// acknowledged by the copy's flow-control answers, so interest and
// workqueue origins release what was copied); the copy keeps its own in
// what it stored, as any source does.
//
// On the wire, as the reference (observed on v2.15.2): the copy subscribes
// to the deliver subject, then sends <api>.CONSUMER.RESET.<stream>.<consumer>
// with an empty body (back to the ack floor) and the headers
// Nats-Required-Api-Level: 5 and Nats-Stream-Identity (the origin identity
// it knows, "" at first), replying to $JSC.R.<8 base62 chars>. The answer's
// Nats-Stream-Identity names the origin; its config must have ack policy
// flow_control (else the copy shows err 10217, 10214 for a mirror, and
// tries again). Deliveries at or below what the copy already stored are
// skipped. A flow-control request, and a heartbeat's
// Nats-Consumer-Stalled, are answered once everything delivered before
// them is stored, with Nats-Last-Stream: <last origin sequence stored>,
// which acknowledges it. A gap in the consumer sequences (a delivery or a
// heartbeat's Nats-Last-Consumer past the last delivery seen), or silence
// for durableSilence, resets the consumer again.

const (
	durableResetWait = 2 * time.Second
	durableSilence   = 5 * time.Second
	jsResetReplyPfx  = "$JSC.R."

	hdrLastConsumer    = "Nats-Last-Consumer"
	hdrLastStream      = "Nats-Last-Stream"
	hdrConsumerStalled = "Nats-Consumer-Stalled"
)

// durableCopy is the state of a durable copy that the subscriptions' callbacks
// share with the run goroutine.
type durableCopy struct {
	mu      sync.Mutex // leaf
	queue   []durableDelivery
	reset   chan durableDelivery // the RESET answer (buffered 1)
	contact time.Time            // last delivery or heartbeat
	pending uint64               // the last delivery's pending count (lag)
}

// durableDelivery is a copy of one message on the deliver subject (or of
// the RESET answer).
type durableDelivery struct {
	subject, reply string
	hdr, msg       []byte
}

// onDelivery queues a message of the deliver subject for the run
// (publisher's goroutine: copy and return).
func (r *sourceRun) onDelivery(subject, reply string, hdr, msg []byte) {
	d := r.dur
	now := time.Now()
	d.mu.Lock()
	d.queue = append(d.queue, durableDelivery{subject: strings.Clone(subject), reply: strings.Clone(reply),
		hdr: append([]byte(nil), hdr...), msg: append([]byte(nil), msg...)})
	d.contact = now
	d.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *sourceRun) onResetAnswer(_, _ string, hdr, msg []byte) {
	a := durableDelivery{hdr: append([]byte(nil), hdr...), msg: append([]byte(nil), msg...)}
	select {
	case r.dur.reset <- a:
	default:
	}
}

// runDurable is the run of a durable copy: until it stops, reset the
// consumer and follow its deliveries.
func (r *sourceRun) runDurable() {
	s, acc := r.st.ja.js.srv, r.st.ja.acc
	unsub, err := s.SubscribeInternal(acc, r.cfg.Consumer.DeliverSubject, "", r.onDelivery)
	if err != nil {
		s.Warnf("JetStream %s of '%s > %s': subscribing to %q: %v", r.kind(), acc.Name, r.st.name, r.cfg.Consumer.DeliverSubject, err)
		<-r.quit
		return
	}
	defer unsub()
	inbox := jsResetReplyPfx + jsRandomID()[:8]
	unsubR, err := s.SubscribeInternal(acc, inbox, "", r.onResetAnswer)
	if err != nil {
		<-r.quit
		return
	}
	defer unsubR()
	for {
		created := r.st.ja.js.origins.wait()
		lastC, ok := r.resetConsumer(inbox)
		if !ok {
			// Again later, or as soon as a stream appears (at start-up the
			// origin may not be recovered yet).
			select {
			case <-r.quit:
				return
			case <-created:
				continue
			case <-time.After(sourceRetryDelay):
				continue
			}
		}
		if r.followDurable(lastC) {
			return
		}
	}
}

// resetAnswer is what the copy reads of a RESET answer.
type resetAnswer struct {
	Error     *ApiError      `json:"error"`
	Config    ConsumerConfig `json:"config"`
	Delivered SequenceInfo   `json:"delivered"`
}

// resetConsumer sends the RESET and waits for its answer. It returns the
// consumer sequence the consumer restarts after, and false when there was
// no usable answer (missing consumer, wrong ack policy, stopping).
func (r *sourceRun) resetConsumer(inbox string) (uint64, bool) {
	select {
	case <-r.dur.reset: // a late answer to an earlier request
	default:
	}
	api := jsAPIPrefix[:len(jsAPIPrefix)-1]
	if r.cfg.External != nil && r.cfg.External.APIPrefix != "" {
		api = strings.TrimSuffix(r.cfg.External.APIPrefix, ".")
	}
	hdr := appendHeader([]byte("NATS/1.0\r\n"), jsRequiredAPILevelHeader, "5")
	hdr = appendHeader(hdr, jsStreamIdentityHeader, r.ident)
	hdr = append(hdr, "\r\n"...)
	s := r.st.ja.js.srv
	s.PublishInternal(r.st.ja.acc, api+".CONSUMER.RESET."+r.cfg.Name+"."+r.cfg.Consumer.Name, inbox, hdr, nil)
	var a durableDelivery
	select {
	case <-r.quit:
		return 0, false
	case <-time.After(durableResetWait):
		return 0, false
	case a = <-r.dur.reset:
	}
	var ans resetAnswer
	if err := json.Unmarshal(a.msg, &ans); err != nil || ans.Error != nil {
		return 0, false
	}
	if ans.Config.AckPolicy != AckFlowControl {
		errs := sourceErrsOf
		if r.mirror {
			errs = mirrorErrs
		}
		r.setErr(jsError(errs.consumerAck))
		return 0, false
	}
	r.setErr(nil)
	if id, _ := headerValue(a.hdr, jsStreamIdentityHeader); id != "" && id != r.ident {
		if r.ident != "" && !r.mirror {
			r.setPos(0) // the origin was recreated: a source takes it from its start
		}
		r.ident = id
	}
	return ans.Delivered.Consumer, true
}

func (r *sourceRun) setErr(e *ApiError) {
	r.mu.Lock()
	r.err = e
	r.mu.Unlock()
}

// followDurable stores what the consumer delivers until the run stops
// (true) or the consumer must be reset (false). lastC is the consumer
// sequence the reset left.
func (r *sourceRun) followDurable(lastC uint64) bool {
	silence := time.NewTimer(durableSilence)
	defer silence.Stop()
	for {
		r.dur.mu.Lock()
		q := r.dur.queue
		r.dur.queue = nil
		r.dur.mu.Unlock()
		if len(q) > 0 {
			var gap bool
			if lastC, gap = r.takeDeliveries(q, lastC); gap {
				return false
			}
			silence.Reset(durableSilence)
			continue
		}
		select {
		case <-r.quit:
			return true
		case <-r.wake:
		case <-silence.C:
			return false
		}
	}
}

// takeDeliveries stores the data messages of q in order and answers the
// flow-control requests among them once what preceded each is stored. It
// returns the last consumer sequence seen, and gap when one went missing.
func (r *sourceRun) takeDeliveries(q []durableDelivery, lastC uint64) (uint64, bool) {
	batch := make([]*inMsg, 0, 16)
	var batchTop uint64
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		batch[len(batch)-1].sourced.last = true
		err := r.storeBatch(batch, batchTop)
		batch = batch[:0]
		if err != nil {
			r.logStoreError(err)
			select { // the reset that follows redelivers: not at once
			case <-r.quit:
			case <-time.After(sourceRetryDelay):
			}
		}
		return err == nil
	}
	for i := range q {
		m := &q[i]
		if t, ok := parseAckSubject(m.reply); ok {
			if lastC != 0 && t.cseq > lastC+1 {
				flush()
				return lastC, true
			}
			lastC = t.cseq
			r.dur.mu.Lock()
			r.dur.pending = t.pending
			r.dur.mu.Unlock()
			if t.sseq <= r.getPos() || t.sseq <= batchTop {
				continue
			}
			sm := StoreMsg{Subject: m.subject, Hdr: m.hdr, Msg: m.msg, Seq: t.sseq, TS: t.ts}
			if in := r.translate(&sm, r.ident); in != nil {
				batch = append(batch, in)
			}
			batchTop = t.sseq
			if len(batch) >= sourceBatchMsgs && !flush() {
				return lastC, true
			}
			continue
		}
		if !isStatusHeader(m.hdr, "100") {
			continue
		}
		if !flush() {
			return lastC, true
		}
		if batchTop > r.getPos() {
			r.setPos(batchTop) // what the filters passed over counts as copied
		}
		fc := m.reply // a flow-control request
		if m.reply == "" {
			if v, ok := headerValue(m.hdr, hdrLastConsumer); ok {
				if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > lastC {
					return lastC, true
				}
			}
			fc, _ = headerValue(m.hdr, hdrConsumerStalled)
		}
		if fc != "" {
			r.st.ja.js.srv.PublishInternal(r.st.ja.acc, fc, "", r.flowControlAnswer(lastC), nil)
		}
	}
	if !flush() {
		return lastC, true
	}
	if batchTop > r.getPos() {
		r.setPos(batchTop)
	}
	return lastC, false
}

// isStatusHeader reports whether hdr starts with the status line of code.
func isStatusHeader(hdr []byte, code string) bool {
	const pre = "NATS/1.0 "
	return len(hdr) > len(pre)+len(code) && string(hdr[:len(pre)]) == pre && string(hdr[len(pre):len(pre)+len(code)]) == code
}

// durableInfo fills the copy's StreamSourceInfo: active since the last
// delivery or heartbeat (-1 before any), lag from the last delivery's
// pending count.
func (r *sourceRun) durableInfo(si *StreamSourceInfo) {
	r.dur.mu.Lock()
	contact, pending := r.dur.contact, r.dur.pending
	r.dur.mu.Unlock()
	if !contact.IsZero() {
		si.Active = max(time.Since(contact), 1)
		si.Lag = pending
	}
}
