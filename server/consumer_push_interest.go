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
	// imports are the stream imports into this account: a change of
	// interest here may bind or unbind an exporter's push consumer whose
	// deliveries the import carries.
	imports []carriedImport
}

// carriedImport is a stream import into the account: its route and the
// subject it takes in the exporter.
type carriedImport struct {
	ir   *importRoute
	from string
}

// maxImportHops bounds how many stream imports in a row interest is
// followed through (import cycles are refused, this is a safety net).
const maxImportHops = 4

// addImport records a stream import into the account.
func (dw *deliverWatchers) addImport(ir *importRoute, from string) {
	dw.mu.Lock()
	dw.imports = append(dw.imports, carriedImport{ir: ir, from: from})
	dw.mu.Unlock()
}

// removeImport forgets a stream import into the account.
func (dw *deliverWatchers) removeImport(ir *importRoute) {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	for i, ci := range dw.imports {
		if ci.ir == ir {
			// A new slice: changed reads the old one without the lock.
			dw.imports = append(append([]carriedImport(nil), dw.imports[:i]...), dw.imports[i+1:]...)
			return
		}
	}
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
	dw.mu.Lock()
	imports := dw.imports
	dw.mu.Unlock()
	for _, ci := range imports {
		ci.ir.exporter.deliverSubs.changedVia(ci, subject)
	}
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

// changedVia schedules the consumers of this (exporting) account whose
// deliveries ci carries to a subject that a changed subscription of the
// importing account covers.
func (dw *deliverWatchers) changedVia(ci carriedImport, subject string) {
	if dw.n.Load() == 0 {
		return
	}
	dw.mu.Lock()
	defer dw.mu.Unlock()
	for d, list := range dw.bySubject {
		if SubjectMatchesFilter(d, ci.from) && SubjectMatchesFilter(ci.ir.target(d), subject) {
			for _, c := range list {
				c.schedule()
			}
		}
	}
}

// deliverInterest reports whether r, the index's answer for deliver
// subject subject, holds interest for a consumer with deliver group group:
// any plain subscriber without a group, members of that queue group with
// one (as the reference: other subscribers then receive too, but do not
// count).
func deliverInterest(subject string, r *SublistResult, group string) bool {
	if group == "" {
		return plainInterest(subject, r, 0)
	}
	for _, qs := range r.qsubs {
		if len(qs) > 0 && qs[0].queue == group {
			return true
		}
	}
	return false
}

// plainInterest reports whether r holds a plain subscriber of subject. A
// stream import's subscription counts only if the importing account has one
// for what the subject becomes there, as with the reference: the import
// alone does not bind a push consumer.
func plainInterest(subject string, r *SublistResult, hops int) bool {
	for _, sub := range r.psubs {
		ir := sub.imp
		if ir == nil || ir.service || ir.response {
			return true
		}
		if hops < maxImportHops {
			t := ir.target(subject)
			if plainInterest(t, ir.importer.sl.Match(t), hops+1) {
				return true
			}
		}
	}
	return false
}
