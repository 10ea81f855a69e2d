package server

import "time"

// Pausing a consumer (pause_until, $JS.API.CONSUMER.PAUSE): while paused
// it delivers nothing (pull requests wait, a no_wait request gets 404),
// and the end of the pause is a deadline of its one timer, armed only
// while paused. pause_until is part of the stored configuration, so a
// pause outlives a restart; create and update keep the existing value.

// holdWhilePaused is the worker's check before delivering: a paused
// consumer ends its no_wait requests without expiry (404 No Messages, as
// the reference) and delivers nothing.
func (w *consumerWorker) holdWhilePaused(c *consumer, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused(now) {
		return false
	}
	for i := 0; i < len(c.waiting.reqs); {
		if !c.endNoWait(w, i) {
			i++
		}
	}
	return true
}

// setPause pauses c until until (nil or zero: resume) and queues the
// PAUSE advisory when the stored value changes, as the reference does.
// c.mu held.
func (c *consumer) setPause(until *time.Time, now time.Time) bool {
	if until != nil && until.IsZero() {
		until = nil
	}
	old := c.cfg.PauseUntil
	if (old == nil && until == nil) || (old != nil && until != nil && old.Equal(*until)) {
		return false
	}
	c.cfg.PauseUntil = until
	a := c.admin()
	ev := adminEvent{kind: admPause, paused: c.paused(now)}
	if until != nil {
		ev.until = *until
	}
	a.events = append(a.events, ev)
	a.pausedUntil = time.Time{}
	if ev.paused {
		a.pausedUntil = *until
	}
	return true
}

// announcePause queues the advisory of a consumer created or updated
// while paused (the reference sends one each time) and arms the end of
// the pause; c.mu held.
func (c *consumer) announcePause(now time.Time) {
	if !c.paused(now) {
		return
	}
	a := c.admin()
	a.events = append(a.events, adminEvent{kind: admPause, paused: true, until: *c.cfg.PauseUntil})
	a.pausedUntil = *c.cfg.PauseUntil
}

// adminCreated runs after a consumer's creation or update was answered
// for: a paused consumer says so and times the end of its pause.
func (c *consumer) adminCreated() {
	c.mu.Lock()
	c.announcePause(time.Now())
	c.mu.Unlock()
	c.flushAdminEvents()
	c.rearm()
}

// adminRecovered times the end of the pause of a consumer recovered at
// start-up (its advisory went out before the restart).
func (c *consumer) adminRecovered() {
	c.mu.Lock()
	paused := c.paused(time.Now())
	if paused {
		c.admin().pausedUntil = *c.cfg.PauseUntil
	}
	c.mu.Unlock()
	if paused {
		c.rearm()
	}
}
