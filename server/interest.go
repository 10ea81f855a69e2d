package server

import "sync"

// Interest changes: every subscription of a local connection (clients,
// internal subscribers, imports) enters and leaves an account's subject
// index through addSubInterest / removeSubInterest / removeSubsInterest,
// and only there. After the index changed, each peer kind that propagates
// interest is told (interestChanged): routes today (routedInterest below
// and route_interest.go), gateways (gateway_interest.go); leaf nodes
// register the same way.
// A peer's own remote subscriptions go through the same functions, so each
// kind decides from sub.client.kind what it forwards (routes: one hop,
// never what came from a route).

// addSubInterest inserts sub into acc's index and propagates it.
func (s *Server) addSubInterest(acc *Account, sub *subscription) error {
	if err := acc.sl.Insert(sub); err != nil {
		return err
	}
	s.interestChanged(acc, sub, 1)
	return nil
}

// removeSubInterest removes sub from acc's index and propagates the
// removal, once: a subscription removed twice (an UNSUB racing its max) is
// propagated only by the removal that found it.
func (s *Server) removeSubInterest(acc *Account, sub *subscription) {
	if acc.sl.Remove(sub) != nil {
		return
	}
	s.interestChanged(acc, sub, -1)
}

// removeSubsInterest removes a closing connection's subscriptions under
// one index lock, then propagates each removal.
func (s *Server) removeSubsInterest(acc *Account, subs []*subscription) {
	for _, sub := range acc.sl.RemoveBatch(subs) {
		s.interestChanged(acc, sub, -1)
	}
}

// interestChanged tells every peer kind that propagates interest.
func (s *Server) interestChanged(acc *Account, sub *subscription, delta int32) {
	acc.deliverSubs.changed(sub.subject)
	if cs := s.cluster.Load(); cs != nil {
		cs.routeInterestChanged(acc, sub, delta)
	}
	if s.leafs.Load() != nil {
		acc.leafed.changed(s, sub, delta)
	}
	if gs := s.gw.Load(); gs != nil {
		gs.interestChanged(acc, sub, delta)
	}
}

// routedInterest is what an account's routes have been told: a count per
// subject for plain subscriptions (RS+ on the first, RS- after the last)
// and per subject and queue for queue groups (RS+ with the weight on every
// change, RS- at zero). mu is held while the change is queued on the
// routes, so the routes see an account's changes in the order they were
// counted; it is taken before any route's client.mu (see the lock order).
type routedInterest struct {
	mu   sync.Mutex
	refs map[string]int32 // "subject" or "subject queue"
}
