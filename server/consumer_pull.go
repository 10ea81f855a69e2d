package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// The pull protocol ($JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>): a
// request joins the consumer's waiting queue and is served by the
// consumer's worker as messages are committed.

// JSApiConsumerGetNextRequest is a pull request's JSON body.
type JSApiConsumerGetNextRequest struct {
	Expires   time.Duration `json:"expires,omitempty"`
	Batch     int           `json:"batch,omitempty"`
	MaxBytes  int           `json:"max_bytes,omitempty"`
	NoWait    bool          `json:"no_wait,omitempty"`
	Heartbeat time.Duration `json:"idle_heartbeat,omitempty"`
	Group     string        `json:"group,omitempty"`
	MinPend   int64         `json:"min_pending,omitempty"`
	MinAckP   int64         `json:"min_ack_pending,omitempty"`
	ID        string        `json:"id,omitempty"`
	Priority  int           `json:"priority,omitempty"`
}

// pullRequest is one waiting pull request.
type pullRequest struct {
	reply    string
	batch    int       // messages still wanted
	maxBytes int       // bytes still allowed; 0: no limit
	byteCap  bool      // the request set max_bytes
	expires  time.Time // zero: none
	noWait   bool
	hb       time.Duration
	nextHB   time.Time
	sent     int // messages delivered to it
	prio     pullPriority
}

// pullQueue is a consumer's FIFO of waiting requests.
type pullQueue struct {
	reqs []*pullRequest
}

func (q *pullQueue) len() int { return len(q.reqs) }

func (q *pullQueue) takeAll() []*pullRequest {
	r := q.reqs
	q.reqs = nil
	return r
}

// remove drops the request at i, keeping the order.
func (q *pullQueue) remove(i int) {
	copy(q.reqs[i:], q.reqs[i+1:])
	q.reqs[len(q.reqs)-1] = nil
	q.reqs = q.reqs[:len(q.reqs)-1]
}

// Status lines of the pull protocol, as the reference sends them.
const (
	statusNoMessages      = "404 No Messages"
	statusRequestTimeout  = "408 Request Timeout"
	statusMaxWaiting      = "409 Exceeded MaxWaiting"
	statusConsumerDeleted = "409 Consumer Deleted"
	statusPushBased       = "409 Consumer is push based"
	statusMaxBytesMsg     = "409 Message Size Exceeds MaxBytes"
	statusBatchCompleted  = "409 Batch Completed"
	statusIdleHeartbeat   = "100 Idle Heartbeat"
	statusServerShutdown  = "409 Server Shutdown"
	statusBadRequest      = "400 Bad Request"
)

// jsMsgNextPrefix is the subject prefix of pull requests.
const jsMsgNextPrefix = jsAPIPrefix + "CONSUMER.MSG.NEXT."

// onPullRequest runs on the publisher's goroutine for every MSG.NEXT: it
// checks the request and queues it; the worker delivers.
func (ja *jsAccount) onPullRequest(pub *client, subject, reply string, msg []byte) {
	rest := subject[len(jsMsgNextPrefix):]
	dot := strings.IndexByte(rest, '.')
	if dot <= 0 || strings.IndexByte(rest[dot+1:], '.') >= 0 {
		return
	}
	var c *consumer
	if st := ja.lookupStream(rest[:dot]); st != nil {
		c = st.lookupConsumer(rest[dot+1:])
		if c == nil && !st.answersHere() {
			return // a follower's replica: the leader answers
		}
	}
	if c == nil && ja.js.cluster != nil && ja.lookupStream(rest[:dot]) == nil &&
		ja.js.cluster.fsm.lookup(ja.acc.Name, rest[:dot]) != nil {
		return // the stream lives on another server, which answers
	}
	if c == nil {
		// The reference's consumer is what subscribes to its MSG.NEXT
		// subject: without it the request reaches nobody, and a client
		// that asked for no-responders is told at once (nats.go's Fetch
		// fails fast instead of waiting for its expiry).
		if pub != nil && pub.noResponders {
			pub.sendNoResponders(subject, []byte(reply))
		}
		return
	}
	c.addPullRequest(reply, msg)
}

// parsePullRequest reads a request body: empty is one message, a number is
// a batch, anything else the JSON request.
func parsePullRequest(msg []byte) (JSApiConsumerGetNextRequest, string) {
	var req JSApiConsumerGetNextRequest
	b := bytes.TrimSpace(msg)
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &req); err != nil {
			return req, statusBadRequest + " - " + err.Error()
		}
	} else if n, err := strconv.Atoi(string(b)); err == nil {
		req.Batch = n // anything else (empty too) asks for one message
	}
	if req.Batch <= 0 {
		req.Batch = 1
	}
	return req, ""
}

// addPullRequest checks one request against c's limits and queues it.
func (c *consumer) addPullRequest(reply string, msg []byte) {
	req, bad := parsePullRequest(msg)
	c.activeNs.Store(time.Now().UnixNano())
	c.mu.Lock()
	status := bad
	if status == "" {
		status = c.checkPullRequest(&req)
	}
	if status == "" && c.waiting.len() >= c.cfg.MaxWaiting && c.cfg.MaxWaiting > 0 {
		status = statusMaxWaiting
		if req.Heartbeat > 0 {
			status = "-" // suppressed, as the reference does
		}
	}
	if status != "" {
		c.mu.Unlock()
		if status != "-" {
			c.sendStatus(reply, status, 0, 0)
		}
		return
	}
	pr := &pullRequest{reply: strings.Clone(reply), batch: req.Batch, maxBytes: req.MaxBytes, byteCap: req.MaxBytes > 0,
		noWait: req.NoWait, hb: req.Heartbeat}
	now := time.Now()
	if req.Expires > 0 {
		pr.expires = now.Add(req.Expires)
	}
	if pr.hb > 0 {
		pr.nextHB = now.Add(pr.hb)
	}
	c.admitPriority(pr, &req, now)
	c.waiting.reqs = append(c.waiting.reqs, pr)
	c.mu.Unlock()
	c.schedule()
}

// checkPullRequest applies the consumer's request limits; c.mu held.
func (c *consumer) checkPullRequest(req *JSApiConsumerGetNextRequest) string {
	cfg := &c.cfg
	switch {
	case !c.isPull():
		return statusPushBased
	case req.Heartbeat > 0 && req.Expires > 0 && req.Heartbeat*2 > req.Expires:
		return statusBadRequest + " - heartbeat value too large"
	case cfg.MaxRequestBatch > 0 && req.Batch > cfg.MaxRequestBatch:
		return "409 Exceeded MaxRequestBatch of " + strconv.Itoa(cfg.MaxRequestBatch)
	case cfg.MaxRequestExpires > 0 && req.Expires > cfg.MaxRequestExpires:
		return "409 Exceeded MaxRequestExpires of " + cfg.MaxRequestExpires.String()
	case cfg.MaxRequestMaxBytes > 0 && req.MaxBytes > cfg.MaxRequestMaxBytes:
		return "409 Exceeded MaxRequestMaxBytes of " + strconv.Itoa(cfg.MaxRequestMaxBytes)
	}
	return c.checkPriorityRequest(req)
}

// sendStatus answers reply with a header-only status message; requests
// that were waiting carry what they still wanted.
func (c *consumer) sendStatus(reply, status string, pendMsgs, pendBytes int) {
	hdr := appendStatusHeader(nil, status, pendMsgs, pendBytes)
	c.st.ja.js.srv.PublishInternal(c.st.ja.acc, reply, "", hdr, nil)
}

// appendStatusHeader builds "NATS/1.0 <status>" with the pending counts
// for the statuses that carry them.
func appendStatusHeader(b []byte, status string, pendMsgs, pendBytes int) []byte {
	b = append(b, "NATS/1.0 "...)
	b = append(b, status...)
	b = append(b, "\r\n"...)
	if pendMsgs > 0 || pendBytes > 0 || status == statusRequestTimeout || status == statusBatchCompleted {
		b = append(b, "Nats-Pending-Messages: "...)
		b = strconv.AppendInt(b, int64(pendMsgs), 10)
		b = append(b, "\r\nNats-Pending-Bytes: "...)
		b = strconv.AppendInt(b, int64(pendBytes), 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// pruneWaiting drops the waiting requests nobody listens for any more and
// returns how many remain; c.mu held.
func (c *consumer) pruneWaiting() int {
	sl := c.st.ja.acc.sl
	var scratch SublistResult
	for i := 0; i < len(c.waiting.reqs); {
		r := sl.MatchOnce(c.waiting.reqs[i].reply, &scratch)
		if len(r.psubs) == 0 && len(r.qsubs) == 0 {
			c.waiting.remove(i)
			continue
		}
		i++
	}
	return c.waiting.len()
}
