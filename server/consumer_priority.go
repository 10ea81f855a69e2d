package server

import (
	"slices"
	"time"
)

// Priority groups (priority_policy overflow, pinned_client, prioritized):
// which waiting pull request a message goes to. A consumer without a
// priority policy passes one branch and serves its queue head first.
//
// As the reference does (observed on v2.15.2), a pinned_client consumer
// has one pin whatever the number of its groups: the first request
// without an id that a message is given to gets a new pin id, sent in
// the Nats-Pin-Id header of every delivery; requests without an id then
// wait, requests with another id are refused (423). The pin is dropped
// priority_timeout after the last request that carried it, or by
// CONSUMER.UNPIN, and the next message goes to a new pin.

// pullPriority is what a pull request asks of a priority group.
type pullPriority struct {
	group         string
	pinID         string
	minPending    int64
	minAckPending int64
	priority      int
}

// consumerPin is a pinned_client consumer's current pin.
type consumerPin struct {
	id       string
	group    string    // the group of the request given the pin, for advisories
	at       time.Time // when it was given (ConsumerInfo.pinned_ts)
	deadline time.Time // priority_timeout after the last request with the pin
}

// Status lines of the priority group rules, as the reference sends them.
const (
	statusNotOverflow     = statusBadRequest + " - Not a Overflow Priority consumer"
	statusNotPinned       = statusBadRequest + " - Not a Pinned Client Priority consumer"
	statusBadPriority     = statusBadRequest + " - Priority must be between 0 and 9"
	statusGroupMissing    = statusBadRequest + " - Priority Group missing"
	statusInvalidGroup    = statusBadRequest + " - Invalid Priority Group"
	statusPinIDMismatch   = "423 Nats-Pin-Id mismatch"
	statusWrongPinID      = "423 Nats-Wrong-Pin-Id"
	jsPinIDHeader         = "Nats-Pin-Id"
	priorityMaxLevel      = 9
	unpinReasonAdmin      = "admin"
	unpinReasonTimeout    = "timeout"
	defaultPriorityTimout = 2 * time.Minute
)

// checkPriorityRequest applies the priority group rules to a pull
// request, after the request limits and in the reference's order; c.mu
// held.
func (c *consumer) checkPriorityRequest(req *JSApiConsumerGetNextRequest) string {
	policy := c.cfg.PriorityPolicy
	switch {
	case (req.MinPend > 0 || req.MinAckP > 0) && policy != PriorityOverflow:
		return statusNotOverflow
	case req.ID != "" && policy != PriorityPinnedClient:
		return statusNotPinned
	case req.Priority < 0 || req.Priority > priorityMaxLevel:
		return statusBadPriority
	case policy == PriorityNone:
		return ""
	case req.Group == "":
		return statusGroupMissing
	case !slices.Contains(c.cfg.PriorityGroups, req.Group):
		return statusInvalidGroup
	case req.ID != "" && c.adm != nil && c.adm.pin.id != "" && req.ID != c.adm.pin.id:
		return statusPinIDMismatch
	}
	return ""
}

// admitPriority records a checked request's priority fields on pr; a
// request from the pinned client keeps the pin for another
// priority_timeout. c.mu held.
func (c *consumer) admitPriority(pr *pullRequest, req *JSApiConsumerGetNextRequest, now time.Time) {
	if c.cfg.PriorityPolicy == PriorityNone {
		return
	}
	pr.prio = pullPriority{group: req.Group, pinID: req.ID, minPending: req.MinPend,
		minAckPending: req.MinAckP, priority: req.Priority}
	if req.ID != "" && c.adm != nil && req.ID == c.adm.pin.id {
		c.adm.pin.deadline = now.Add(c.priorityTimeout())
	}
}

func (c *consumer) priorityTimeout() time.Duration {
	if c.cfg.PriorityTimeout > 0 {
		return c.cfg.PriorityTimeout
	}
	return defaultPriorityTimout
}

// pickRequest brings to the head of the waiting queue the request the
// message about to be offered goes to under c's priority policy, and
// reports false when no waiting request may take it now. pending is the
// consumer's num_pending before this delivery. c.mu held.
func (c *consumer) pickRequest(w *consumerWorker, pending uint64, now time.Time) bool {
	w.pin = ""
	i := 0
	switch c.cfg.PriorityPolicy {
	case PriorityNone:
		return true
	case PriorityOverflow:
		i = c.pickOverflow(w, pending)
	case PriorityPinnedClient:
		i = c.pickPinned(w, now)
	case PriorityPrioritized:
		i = c.pickPrioritized()
	}
	if i < 0 {
		return false
	}
	c.waiting.toFront(i)
	return true
}

// pickOverflow: the first request whose minimums the consumer reaches
// (either of them when both are set; requests without any always).
// A no_wait request without expiry that may not be served now ends with
// 404, as with the reference.
func (c *consumer) pickOverflow(w *consumerWorker, pending uint64) int {
	ackPending := int64(len(c.state.pending))
	for i := 0; i < len(c.waiting.reqs); {
		p := &c.waiting.reqs[i].prio
		if (p.minPending <= 0 && p.minAckPending <= 0) ||
			(p.minPending > 0 && int64(pending) >= p.minPending) ||
			(p.minAckPending > 0 && ackPending >= p.minAckPending) {
			return i
		}
		if c.endNoWait(w, i) {
			continue
		}
		i++
	}
	return -1
}

// pickPinned: the pinned client's request or, with no pin, the first
// request without an id, which gets a new pin. Requests with an id that
// is not the pin end with 423 Nats-Wrong-Pin-Id.
func (c *consumer) pickPinned(w *consumerWorker, now time.Time) int {
	a := c.admin()
	n := len(a.events)
	c.pinTimedOut(now)
	i := c.findPinned(w, a, now)
	w.pinNew = len(a.events) > n
	return i
}

func (c *consumer) findPinned(w *consumerWorker, a *consumerAdmin, now time.Time) int {
	for i := 0; i < len(c.waiting.reqs); {
		pr := c.waiting.reqs[i]
		id := pr.prio.pinID
		switch {
		case id != "" && id == a.pin.id:
			w.pin = id
			return i
		case id != "":
			w.status = append(w.status, pendingStatus{pr.reply,
				appendStatusHeader(nil, statusWrongPinID, pr.batch, pr.maxBytes)})
			c.waiting.remove(i)
			continue
		case a.pin.id == "":
			// The request given the pin is the pinned client's: the
			// rest of its batch is served under it.
			c.newPin(pr.prio.group, now)
			pr.prio.pinID, w.pin = a.pin.id, a.pin.id
			return i
		}
		if c.endNoWait(w, i) {
			continue
		}
		i++
	}
	return -1
}

// pickPrioritized: the first of the requests with the lowest priority
// value. Served requests go to the back of the queue, so requests of one
// priority take turns.
func (c *consumer) pickPrioritized() int {
	best := -1
	for i, pr := range c.waiting.reqs {
		if best < 0 || pr.prio.priority < c.waiting.reqs[best].prio.priority {
			best = i
		}
	}
	return best
}

// endNoWait ends the no_wait request at i, which may not be served now,
// with 404 unless it has an expiry; it reports whether it did. c.mu held.
func (c *consumer) endNoWait(w *consumerWorker, i int) bool {
	pr := c.waiting.reqs[i]
	if !pr.noWait || !pr.expires.IsZero() {
		return false
	}
	w.status = append(w.status, pendingStatus{pr.reply, appendStatusHeader(nil, statusNoMessages, 0, 0)})
	c.waiting.remove(i)
	return true
}

// toFront moves the request at i to the head of the queue, keeping the
// order of the others.
func (q *pullQueue) toFront(i int) {
	if i == 0 {
		return
	}
	pr := q.reqs[i]
	copy(q.reqs[1:i+1], q.reqs[:i])
	q.reqs[0] = pr
}

// newPin pins the consumer to a new id; c.mu held.
func (c *consumer) newPin(group string, now time.Time) {
	a := c.admin()
	a.pin = consumerPin{id: jsRandomID(), group: group, at: now, deadline: now.Add(c.priorityTimeout())}
	a.events = append(a.events, adminEvent{kind: admPinned, group: group, pinID: a.pin.id})
}

// unpin drops the pin, if any, with an UNPINNED advisory for group and
// reason; c.mu held.
func (c *consumer) unpin(group, reason string) {
	a := c.admin()
	a.pin = consumerPin{}
	a.events = append(a.events, adminEvent{kind: admUnpinned, group: group, reason: reason})
}

// pinTimedOut drops a pin whose client sent no request for
// priority_timeout; c.mu held.
func (c *consumer) pinTimedOut(now time.Time) {
	if a := c.adm; a != nil && a.pin.id != "" && !now.Before(a.pin.deadline) {
		c.unpin(a.pin.group, unpinReasonTimeout)
	}
}

// appendPinHeader is hdr with the Nats-Pin-Id header added, built in dst.
func appendPinHeader(dst, hdr []byte, pin string) []byte {
	return appendHeaderTo(dst, hdr, jsPinIDHeader, pin)
}

// deliveryHeader is the header a delivery goes out with: the stored one,
// with the pin of a pinned_client consumer; called with no lock held.
func (w *consumerWorker) deliveryHeader(c *consumer, hdr []byte) []byte {
	if w.pin == "" {
		return hdr
	}
	if w.pinNew {
		// The advisories of the pin go out before its first message.
		w.pinNew = false
		c.flushAdminEvents()
	}
	w.pinHdr = appendPinHeader(w.pinHdr[:0], hdr, w.pin)
	return w.pinHdr
}

// priorityGroupsInfo is ConsumerInfo.priority_groups: as the reference
// reports it, one entry, the first group, with the consumer's pin.
func (c *consumer) priorityGroupsInfo() []PriorityGroupState {
	if c.cfg.PriorityPolicy == PriorityNone || len(c.cfg.PriorityGroups) == 0 {
		return nil
	}
	pg := PriorityGroupState{Group: c.cfg.PriorityGroups[0]}
	if a := c.adm; a != nil && a.pin.id != "" {
		pg.PinnedClientID, pg.PinnedTS = a.pin.id, a.pin.at.UTC()
	}
	return []PriorityGroupState{pg}
}

// priorityStalled: no waiting request may take the message offered.
// The consumer waits for the next commit (new messages may reach an
// overflow minimum), unless its num_pending moved since it was counted,
// in which case the worker tries again at once. No lock held.
func (w *consumerWorker) priorityStalled(c *consumer) bool {
	seen := c.st.cons.committed.Load()
	if np := c.numPending(); np != w.np {
		w.np = np
		return true
	}
	c.waitCommit(seen)
	return false
}
