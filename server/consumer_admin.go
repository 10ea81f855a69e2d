package server

import "time"

// Administrative state of a consumer: its priority group pin and its
// pause. It lives behind a pointer allocated on first use, so that the
// many consumers that never pin nor pause pay 8 bytes for it. Its
// deadlines (the pin's timeout, the end of a pause) join the consumer's
// one timer (rearm) only while they exist; its advisories are queued
// under the consumer's lock and published by the worker after it.

// consumerAdmin is guarded by consumer.mu.
type consumerAdmin struct {
	pin consumerPin
	// pausedUntil is the end of the pause announced (advisory paused:
	// true) whose resumption is still to be announced; zero when none.
	pausedUntil time.Time
	events      []adminEvent
}

// Kinds of administrative advisories.
const (
	admPinned = iota
	admUnpinned
	admPause
)

// adminEvent is an advisory waiting to be published.
type adminEvent struct {
	kind   int
	group  string
	pinID  string
	reason string
	paused bool
	until  time.Time
}

// admin returns c's administrative state, allocating it; c.mu held.
func (c *consumer) admin() *consumerAdmin {
	if c.adm == nil {
		c.adm = &consumerAdmin{}
	}
	return c.adm
}

// adminTick runs on the consumer's worker after delivery: it drops a pin
// that timed out, announces the end of a pause, and publishes the
// advisories queued meanwhile. A dropped pin lets the waiting requests
// compete again, so the consumer runs once more.
func (c *consumer) adminTick(now time.Time) {
	c.mu.Lock()
	a := c.adm
	if a == nil {
		c.mu.Unlock()
		return
	}
	again := false
	if a.pin.id != "" && !now.Before(a.pin.deadline) {
		c.unpin(a.pin.group, unpinReasonTimeout)
		again = c.waiting.len() > 0
	}
	if !a.pausedUntil.IsZero() && !c.paused(now) {
		a.events = append(a.events, adminEvent{kind: admPause, until: a.pausedUntil})
		a.pausedUntil = time.Time{}
	}
	events := a.events
	a.events = nil
	c.mu.Unlock()
	c.publishAdminEvents(events)
	if again {
		c.schedule()
	}
}

// adminDeadline is the earlier of next and c's administrative deadlines
// (zero: none); c.mu held.
func (c *consumer) adminDeadline(next time.Time) time.Time {
	a := c.adm
	if a == nil {
		return next
	}
	if a.pin.id != "" && (next.IsZero() || a.pin.deadline.Before(next)) {
		next = a.pin.deadline
	}
	if !a.pausedUntil.IsZero() && (next.IsZero() || a.pausedUntil.Before(next)) {
		next = a.pausedUntil
	}
	return next
}

// flushAdminEvents publishes the advisories queued by API handlers.
func (c *consumer) flushAdminEvents() {
	c.mu.Lock()
	var events []adminEvent
	if c.adm != nil {
		events, c.adm.events = c.adm.events, nil
	}
	c.mu.Unlock()
	c.publishAdminEvents(events)
}

// addAdminInfo fills ConsumerInfo's pause and priority group fields.
func (c *consumer) addAdminInfo(ci *ConsumerInfo, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused(now) {
		ci.Paused, ci.PauseRemaining = true, c.cfg.PauseUntil.Sub(now)
	}
	ci.PriorityGroups = c.priorityGroupsInfo()
}

// Advisory subjects and types of this file's events.
const (
	jsConsumerPausePrefix    = "$JS.EVENT.ADVISORY.CONSUMER.PAUSE."
	jsConsumerPinnedPrefix   = "$JS.EVENT.ADVISORY.CONSUMER.PINNED."
	jsConsumerUnpinnedPrefix = "$JS.EVENT.ADVISORY.CONSUMER.UNPINNED."
)

// JSConsumerPauseAdvisory is the consumer_pause advisory.
type JSConsumerPauseAdvisory struct {
	TypedEvent
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	Paused     bool      `json:"paused"`
	PauseUntil time.Time `json:"pause_until"`
	Domain     string    `json:"domain,omitempty"`
}

// JSConsumerGroupPinnedAdvisory is the consumer_group_pinned advisory.
type JSConsumerGroupPinnedAdvisory struct {
	TypedEvent
	Account  string `json:"account"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Domain   string `json:"domain,omitempty"`
	Group    string `json:"group"`
	PinnedID string `json:"pinned_id"`
}

// JSConsumerGroupUnpinnedAdvisory is the consumer_group_unpinned advisory.
type JSConsumerGroupUnpinnedAdvisory struct {
	TypedEvent
	Account  string `json:"account"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Domain   string `json:"domain,omitempty"`
	Group    string `json:"group"`
	Reason   string `json:"reason"`
}

// publishAdminEvents publishes advisories, with no lock held.
func (c *consumer) publishAdminEvents(events []adminEvent) {
	ja := c.st.ja
	s, acc, domain := ja.js.srv, ja.acc, ja.js.domain()
	suffix := c.st.name + "." + c.name
	for i := range events {
		ev := &events[i]
		switch ev.kind {
		case admPinned:
			s.publishAdvisory(acc, jsConsumerPinnedPrefix+suffix, &JSConsumerGroupPinnedAdvisory{
				TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_group_pinned"),
				Account:    acc.Name, Stream: c.st.name, Consumer: c.name, Domain: domain,
				Group: ev.group, PinnedID: ev.pinID})
		case admUnpinned:
			s.publishAdvisory(acc, jsConsumerUnpinnedPrefix+suffix, &JSConsumerGroupUnpinnedAdvisory{
				TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_group_unpinned"),
				Account:    acc.Name, Stream: c.st.name, Consumer: c.name, Domain: domain,
				Group: ev.group, Reason: ev.reason})
		case admPause:
			s.publishAdvisory(acc, jsConsumerPausePrefix+suffix, &JSConsumerPauseAdvisory{
				TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_pause"),
				Stream:     c.st.name, Consumer: c.name, Paused: ev.paused,
				PauseUntil: ev.until, Domain: domain})
		}
	}
}
