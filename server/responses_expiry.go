package server

import "container/heap"

// routeHeap orders response routes by expiry, soonest first; each route
// knows its slot so that an answered singleton leaves in O(log n) too.
type routeHeap []*responseRoute

func (h routeHeap) Len() int           { return len(h) }
func (h routeHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h routeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].slot, h[j].slot = i, j
}

func (h *routeHeap) Push(x any) {
	r := x.(*responseRoute)
	r.slot = len(*h)
	*h = append(*h, r)
}

func (h *routeHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// addLocked opens a route. rr.mu held.
func (rr *respRoutes) addLocked(r *responseRoute) {
	rr.routes[r.subject] = r
	heap.Push(&rr.expiry, r)
}

// removeLocked closes an open route. rr.mu held.
func (rr *respRoutes) removeLocked(r *responseRoute) {
	delete(rr.routes, r.subject)
	heap.Remove(&rr.expiry, r.slot)
}

// expireLocked closes every route whose time ran out before now (unix
// nanos): O(log n) per route closed, nothing for the ones still open.
// rr.mu held.
func (rr *respRoutes) expireLocked(now int64) {
	for len(rr.expiry) > 0 && rr.expiry[0].expires < now {
		r := heap.Pop(&rr.expiry).(*responseRoute)
		delete(rr.routes, r.subject)
	}
	if len(rr.expiry) == 0 && cap(rr.expiry) > 1024 {
		// A burst of abandoned requests is over: give its memory back.
		rr.expiry = nil
	}
}
