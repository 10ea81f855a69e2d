package server

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Flow control of push consumers (flow_control): the consumer counts the
// bytes it delivers (subject, ack reply, headers and body of each
// message). Once half its window is out it sends a "100 FlowControl
// Request" to the deliver subject with a reply subject
// $JS.FC.<stream>.<consumer>.<4 base62 chars>; once the whole window is
// out it stops until the client answers there. An answer releases what
// was out when the request went and doubles the window (slow start, from
// 2 MiB up to 32 MiB), as the reference does. Under ack policy
// flow_control the answer's Nats-Last-Stream header also acknowledges
// every delivery up to that stream sequence.

const (
	fcWindowStart       = 2 << 20
	fcWindowMax         = 32 << 20
	jsFlowControlPrefix = "$JS.FC."
)

// fcRequestHeader is the flow-control request's status line.
var fcRequestHeader = []byte("NATS/1.0 100 FlowControl Request\r\n\r\n")

// flowControl is a push consumer's flow-control window; guarded by
// consumer.mu.
type flowControl struct {
	prefix string // "$JS.FC.<stream>.<consumer>."
	out    int    // bytes delivered and not yet released by an answer
	window int
	// outstanding is the reply subject of the request awaiting its answer,
	// and atRequest what was out when it went.
	outstanding string
	atRequest   int
	// ackTo is the stream sequence an answer acknowledged up to (ack policy
	// flow_control), for the worker to apply.
	ackTo uint64
}

func (fc *flowControl) init(stream, consumer string) {
	fc.prefix = jsFlowControlPrefix + stream + "." + consumer + "."
	fc.window = fcWindowStart
}

// stalled reports whether delivery must wait for the outstanding answer.
func (fc *flowControl) stalled() bool {
	return fc.outstanding != "" && fc.out >= fc.window
}

// delivered counts a message of size bytes and returns the reply subject
// of a request to send now, "" for none.
func (fc *flowControl) delivered(size int) string {
	fc.out += size
	if fc.outstanding != "" || fc.out < fc.window/2 {
		return ""
	}
	return fc.request()
}

// request starts a request unless one is outstanding and returns its
// reply subject ("" when one was outstanding).
func (fc *flowControl) request() string {
	if fc.outstanding != "" {
		return ""
	}
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var id [4]byte
	for i := range id {
		id[i] = digits[rand.IntN(len(digits))]
	}
	fc.outstanding = fc.prefix + string(id[:])
	fc.atRequest = fc.out
	return fc.outstanding
}

// answered releases what was out at the request and widens the window.
func (fc *flowControl) answered() {
	fc.out = max(fc.out-fc.atRequest, 0)
	fc.outstanding, fc.atRequest = "", 0
	fc.window = min(fc.window*2, fcWindowMax)
}

// ensureFlowControlSub subscribes the account to $JS.FC.> once.
func (ja *jsAccount) ensureFlowControlSub() {
	ja.fcOnce.Do(func() {
		unsub, err := ja.js.srv.SubscribeInternal(ja.acc, jsFlowControlPrefix+">", "", ja.onFlowControl)
		if err != nil {
			ja.js.srv.Errorf("JetStream: subscribing to flow control: %v", err)
			return
		}
		ja.fcUnsub = unsub
	})
}

// onFlowControl takes an answer to a flow-control request, v1
// ($JS.FC.<s>.<c>.<id>) or v2 ($JS.FC.<domain>.<acc hash>.<s>.<c>.<id>),
// on the publisher's goroutine.
func (ja *jsAccount) onFlowControl(subject, _ string, hdr, _ []byte) {
	var toks [6]string
	n := 0
	for rest := subject[len(jsFlowControlPrefix):]; n < len(toks); n++ {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			toks[n] = rest
			n++
			break
		}
		toks[n], rest = rest[:i], rest[i+1:]
	}
	var stream, name string
	switch n {
	case 3:
		stream, name = toks[0], toks[1]
	case 5:
		stream, name = toks[2], toks[3]
	default:
		return
	}
	st := ja.lookupStream(stream)
	if st == nil {
		return
	}
	if c := st.lookupConsumer(name); c != nil {
		c.flowControlAnswered(subject, hdr)
	}
}

// flowControlAnswered applies an answer to the outstanding request; an
// answer to any other subject is ignored.
func (c *consumer) flowControlAnswered(subject string, hdr []byte) {
	c.mu.Lock()
	p := c.push
	if p == nil || p.fc.outstanding == "" || p.fc.outstanding != subject {
		c.mu.Unlock()
		return
	}
	p.fc.answered()
	if c.cfg.AckPolicy == AckFlowControl {
		if v, ok := headerValue(hdr, hdrLastStream); ok {
			if seq, err := strconv.ParseUint(v, 10, 64); err == nil && seq > p.fc.ackTo {
				p.fc.ackTo = seq
			}
		}
	}
	c.mu.Unlock()
	c.schedule()
}
