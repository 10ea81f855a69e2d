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
	kind  byte
	sseq  uint64
	cseq  uint64
	dc    uint64
	delay time.Duration
	reply string // answer once durable; "" for none
	next  []byte // +NXT's pull request
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

// ackTokens are the parsed numbers of an ack reply subject.
type ackTokens struct {
	stream, consumer string
	dc, sseq, cseq   uint64
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
		t.stream, t.consumer, nums = toks[0], toks[1], toks[2:5]
	case n >= 9:
		t.stream, t.consumer, nums = toks[2], toks[3], toks[4:7]
	default:
		return t, false
	}
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
	st := ja.lookupStream(t.stream)
	if st == nil {
		return
	}
	c := st.lookupConsumer(t.consumer)
	if c == nil {
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
	c.activeNs.Store(time.Now().UnixNano())
	c.mu.Lock()
	c.acks = append(c.acks, item)
	c.mu.Unlock()
	c.schedule()
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
		} else if a.reply != "" {
			w.replies = append(w.replies, a.reply)
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

// applyAck applies one acknowledgement; c.mu held.
func (c *consumer) applyAck(w *consumerWorker, a *ackItem, now time.Time) {
	s := &c.state
	switch a.kind {
	case ackAck, ackNext, ackTerm:
		switch c.cfg.AckPolicy {
		case AckAll:
			w.acked = s.ackUpTo(a.sseq, now, w.acked)
		case AckExplicit:
			if s.ackOne(a.sseq, now) {
				w.acked = append(w.acked, a.sseq)
			}
		}
	case ackNak:
		if _, ok := s.pending[a.sseq]; ok {
			s.rdq = append(s.rdq, a.sseq)
		}
	case ackProgress:
		if p, ok := s.pending[a.sseq]; ok {
			p.Timestamp = now.UnixNano()
		}
	}
}
