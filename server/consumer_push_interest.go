package server

import (
	"sync"
	"sync/atomic"
)

// Push consumers deliver only while their deliver subject has interest in
// the account. Rather than polling the subject index, a push consumer
// watches its deliver subject here: every change of the account's index
// passes through interestChanged (interest.go), which calls
// deliverWatchers.changed, and the consumers whose deliver subject the
// changed subscription matches are scheduled. Their worker then asks the
// index what the interest is now (pushState.bound), so a watcher never
// needs to know whether the change added or removed interest.

// deliverWatchers are an account's push consumers by deliver subject (a
// literal: wildcards are refused at create). The zero value is ready.
type deliverWatchers struct {
	n  atomic.Int32 // consumers watching: the index's changes skip the lock at 0
	mu sync.Mutex   // guards bySubject; leaf but for consumerWorkers.mu (schedule)
	// bySubject holds the watchers of each deliver subject.
	bySubject map[string][]*consumer
}

// watch starts telling c about changes of interest in subject.
func (dw *deliverWatchers) watch(subject string, c *consumer) {
	dw.mu.Lock()
	if dw.bySubject == nil {
		dw.bySubject = make(map[string][]*consumer)
	}
	dw.bySubject[subject] = append(dw.bySubject[subject], c)
	dw.mu.Unlock()
	dw.n.Add(1)
}

// unwatch stops telling c about subject; a consumer not watching is fine.
func (dw *deliverWatchers) unwatch(subject string, c *consumer) {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	list := dw.bySubject[subject]
	for i, o := range list {
		if o != c {
			continue
		}
		last := len(list) - 1
		list[i] = list[last]
		list[last] = nil
		if last == 0 {
			delete(dw.bySubject, subject)
		} else {
			dw.bySubject[subject] = list[:last]
		}
		dw.n.Add(-1)
		return
	}
}

// changed schedules the consumers whose deliver subject a subscription on
// subject (literal or wildcard) covers. Runs on whatever goroutine changed
// the index, after the change; scheduling only queues, so it never waits.
func (dw *deliverWatchers) changed(subject string) {
	if dw.n.Load() == 0 {
		return
	}
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if !subjectHasWildcard(subject) {
		for _, c := range dw.bySubject[subject] {
			c.schedule()
		}
		return
	}
	// A wildcard subscription: every watched subject it matches. Watched
	// subjects are few next to subscriptions, and wildcard changes rarer.
	for d, list := range dw.bySubject {
		if SubjectMatchesFilter(d, subject) {
			for _, c := range list {
				c.schedule()
			}
		}
	}
}

// deliverInterest reports whether r, the index's answer for a deliver
// subject, holds interest for a consumer with deliver group group: any
// plain subscriber without a group, members of that queue group with one
// (as the reference: other subscribers then receive too, but do not count).
func deliverInterest(r *SublistResult, group string) bool {
	if group == "" {
		return len(r.psubs) > 0
	}
	for _, qs := range r.qsubs {
		if len(qs) > 0 && qs[0].queue == group {
			return true
		}
	}
	return false
}
