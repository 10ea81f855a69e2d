package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// The ack protocol: deliveries carry a reply subject
// $JS.ACK.<stream>.<consumer>.<deliveries>.<sseq>.<cseq>.<ts>.<pending>
// (v1, 9 tokens) or the v2 form with domain and account hash in front (11
// tokens or more). One subscription per account on $JS.ACK.> takes both;
// the publisher's goroutine only parses and queues, the consumer's worker
// applies the acks, saves the state and answers.

// Ack kinds.
const (
	ackAck byte = iota
	ackNak
	ackProgress
	ackNext
	ackTerm
	ackUnknown
)

// ackItem is one acknowledgement waiting for the worker.
type ackItem struct {
	kind   byte
	sseq   uint64
	cseq   uint64
	dc     uint64
	delay  time.Duration
	reply  string // answer once durable; "" for none
	next   []byte // +NXT's pull request
	reason string // +TERM's reason
}

const jsAckPrefix = "$JS.ACK."

// ensureAckSub subscribes the account to $JS.ACK.> once, with its first
// consumer.
func (ja *jsAccount) ensureAckSub() {
	ja.ackOnce.Do(func() {
		unsub, err := ja.js.srv.SubscribeInternal(ja.acc, jsAckPrefix+">", "", ja.onAck)
		if err != nil {
			ja.js.srv.Errorf("JetStream: subscribing to acks: %v", err)
			return
		}
		ja.ackUnsub = unsub
	})
}

// ackTokens are the parsed numbers of an ack reply subject: delivery
// count, stream and consumer sequences, then (not checked) the message's
// timestamp and the consumer's pending count when it went.
type ackTokens struct {
	stream, consumer string
	dc, sseq, cseq   uint64
	ts               int64
	pending          uint64
}

// parseAckSubject reads a v1 or v2 ack subject without allocating.
func parseAckSubject(subject string) (ackTokens, bool) {
	var t ackTokens
	if !strings.HasPrefix(subject, jsAckPrefix) {
		return t, false
	}
	var toks [12]string
	n := 0
	rest := subject[len(jsAckPrefix):]
	for n < len(toks) {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			toks[n] = rest
			n++
			break
		}
		toks[n] = rest[:i]
		n++
		rest = rest[i+1:]
	}
	var nums []string
	switch {
	case n == 7:
		t.stream, t.consumer, nums = toks[0], toks[1], toks[2:7]
	case n >= 9:
		t.stream, t.consumer, nums = toks[2], toks[3], toks[4:9]
	default:
		return t, false
	}
	ts, _ := parseUintToken(nums[3])
	t.ts = int64(ts)
	t.pending, _ = parseUintToken(nums[4])
	var ok1, ok2, ok3 bool
	t.dc, ok1 = parseUintToken(nums[0])
	t.sseq, ok2 = parseUintToken(nums[1])
	t.cseq, ok3 = parseUintToken(nums[2])
	return t, ok1 && ok2 && ok3 && t.stream != "" && t.consumer != ""
}

func parseUintToken(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		if n > (^uint64(0)-uint64(d))/10 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}

// parseAckBody reads an ack body into item.
func parseAckBody(msg []byte, item *ackItem) {
	b := bytes.TrimSpace(msg)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("+ACK")) || bytes.Equal(b, []byte("+OK")):
		item.kind = ackAck
	case bytes.HasPrefix(b, []byte("-NAK")):
		item.kind = ackNak
		item.delay = parseNakDelay(bytes.TrimSpace(b[4:]))
	case bytes.HasPrefix(b, []byte("+WPI")):
		item.kind = ackProgress
	case bytes.HasPrefix(b, []byte("+NXT")):
		item.kind = ackNext
		item.next = bytes.Clone(bytes.TrimSpace(b[4:]))
	case bytes.HasPrefix(b, []byte("+TERM")):
		item.kind = ackTerm
		if r := bytes.TrimSpace(b[5:]); len(r) > 0 {
			item.reason = string(r)
		}
	default:
		item.kind = ackUnknown
	}
}

// parseNakDelay reads -NAK's optional delay: {"delay": ns} or a Go
// duration. A bad one is no delay.
func parseNakDelay(b []byte) time.Duration {
	if len(b) == 0 {
		return 0
	}
	if b[0] == '{' {
		var d struct {
			Delay time.Duration `json:"delay"`
		}
		if json.Unmarshal(b, &d) == nil && d.Delay > 0 {
			return d.Delay
		}
		return 0
	}
	if d, err := time.ParseDuration(string(b)); err == nil && d > 0 {
		return d
	}
	return 0
}

// onAck runs on the publisher's goroutine: parse, queue, wake the worker.
func (ja *jsAccount) onAck(subject, reply string, _, msg []byte) {
	t, ok := parseAckSubject(subject)
	if !ok {
		return
	}
	var c *consumer
	if st := ja.lookupStream(t.stream); st != nil {
		c = st.lookupConsumer(t.consumer)
		if c == nil && !st.answersHere() {
			return // a follower's replica: the leader takes acks
		}
	}
	if c == nil {
		ja.ackNoResponders(subject, reply)
		return
	}
	item := ackItem{sseq: t.sseq, cseq: t.cseq, dc: t.dc}
	parseAckBody(msg, &item)
	if reply != "" && item.kind != ackNext {
		item.reply = strings.Clone(reply)
	}
	if item.kind == ackNext && reply != "" {
		item.reply = strings.Clone(reply) // deliveries go there; no ack-ack
	}
	c.mu.Lock()
	if c.cfg.AckPolicy == AckNone {
		c.mu.Unlock()
		ja.ackNoResponders(subject, reply)
		return
	}
	c.acks = append(c.acks, item)
	c.mu.Unlock()
	c.activeNs.Store(time.Now().UnixNano())
	c.schedule()
}

// ackNoResponders answers an ack request that the reference would route to
// nobody (it subscribes to the acks of existing consumers that take acks
// only) with the 503 no-responders status.
func (ja *jsAccount) ackNoResponders(subject, reply string) {
	if reply == "" {
		return
	}
	hdr := append(append([]byte("NATS/1.0 503\r\nNats-Subject: "), subject...), "\r\n\r\n"...)
	ja.js.srv.PublishInternal(ja.acc, reply, "", hdr, nil)
}

// applyAcks applies the queued acknowledgements.
func (w *consumerWorker) applyAcks(c *consumer, now time.Time) {
	c.mu.Lock()
	acks := c.acks
	c.acks, c.spareAck = c.spareAck[:0], nil
	var nexts []ackItem
	for i := range acks {
		a := &acks[i]
		c.applyAck(w, a, now)
		if a.kind == ackNext {
			nexts = append(nexts, *a)
		}
		*a = ackItem{}
	}
	if c.spareAck == nil {
		c.spareAck = acks[:0]
	}
	c.mu.Unlock()
	for _, a := range nexts {
		if a.reply != "" {
			c.addPullRequest(a.reply, a.next)
		}
	}
}

// applyAck applies one acknowledgement and queues what it reports, in the
// reference's order; c.mu held.
func (c *consumer) applyAck(w *consumerWorker, a *ackItem, now time.Time) {
	s := &c.state
	p := s.pending[a.sseq]
	if p != nil && p.Sequence != a.cseq && a.kind != ackAck && a.kind != ackTerm && a.kind != ackNext {
		p = nil // a NAK or progress for an older delivery of this message
	}
	switch a.kind {
	case ackAck, ackNext:
		if p != nil && c.sampled() {
			w.out = append(w.out, consumerEvent{kind: cevAckMetric, cseq: p.Sequence, sseq: a.sseq,
				dc: s.deliveryCount(a.sseq), ackTime: now.UnixNano() - p.Timestamp})
		}
		c.ack(w, a.sseq, now)
		w.ackReply(a.reply)
	case ackTerm:
		dc := s.deliveryCount(a.sseq)
		had := p != nil
		if had {
			c.ack(w, a.sseq, now)
		}
		w.ackReply(a.reply)
		if had {
			w.out = append(w.out, consumerEvent{kind: cevTerm, cseq: a.cseq, sseq: a.sseq, dc: dc, reason: a.reason})
		}
	case ackNak:
		if p != nil {
			w.out = append(w.out, consumerEvent{kind: cevNak, cseq: a.cseq, sseq: a.sseq, dc: s.deliveryCount(a.sseq)})
			c.nak(w, a, p, now)
		}
		w.ackReply(a.reply)
	case ackProgress:
		if p != nil {
			p.Timestamp = now.UnixNano()
			s.timeDelivery(&c.cfg, a.sseq, p)
		}
		w.ackReply(a.reply)
	default:
		w.ackReply(a.reply)
	}
}

// ack acknowledges seq (and, under ack all, everything below); c.mu held.
func (c *consumer) ack(w *consumerWorker, seq uint64, now time.Time) {
	s := &c.state
	switch c.cfg.AckPolicy {
	case AckAll:
		w.acked = s.ackUpTo(seq, now, w.acked)
	case AckExplicit:
		if s.ackOne(seq, now) {
			w.acked = append(w.acked, seq)
		}
	}
}

// nak sends p of a.sseq again: now, or after the NAK's delay; c.mu held.
func (c *consumer) nak(w *consumerWorker, a *ackItem, p *Pending, now time.Time) {
	s := &c.state
	if a.delay > 0 {
		// Due again delay from now: the deadline is the delivery time plus
		// the ack wait, so the delivery time moves.
		p.Timestamp = now.Add(a.delay - ackWaitFor(&c.cfg, s.deliveryCount(a.sseq))).UnixNano()
		s.timeDelivery(&c.cfg, a.sseq, p)
		return
	}
	c.markRedeliver(w, a.sseq, p)
}

// ackReply queues an ack-of-ack, sent once the state is saved.
func (w *consumerWorker) ackReply(r string) {
	if r != "" {
		w.out = append(w.out, consumerEvent{kind: cevReply, reply: r})
		w.syncs++
	}
}

// markRedeliver queues pending delivery p of seq to go out again, unless
// it reached max_deliver: then it leaves the pending set (the ack floor
// stays below it, as with the reference) and is reported. c.mu held.
func (c *consumer) markRedeliver(w *consumerWorker, seq uint64, p *Pending) {
	s := &c.state
	if c.cfg.MaxDeliver > 0 && s.deliveryCount(seq) >= uint64(c.cfg.MaxDeliver) {
		delete(s.pending, seq)
		s.dirty = true
		w.out = append(w.out, consumerEvent{kind: cevMaxDeliver, cseq: p.Sequence, sseq: seq, dc: s.deliveryCount(seq)})
		return
	}
	s.rdq = append(s.rdq, SequencePair{Consumer: p.Sequence, Stream: seq})
}

// redeliverDue queues the deliveries whose ack wait is over; c.mu held.
func (c *consumer) redeliverDue(w *consumerWorker, now time.Time) {
	s := &c.state
	for {
		seq, ok := s.popDue(&c.cfg, now.UnixNano())
		if !ok {
			return
		}
		if p, ok := s.pending[seq]; ok {
			c.markRedeliver(w, seq, p)
		}
	}
}
