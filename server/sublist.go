package server

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Sublist errors.
var (
	ErrInvalidSubject = errors.New("sublist: invalid subject")
	ErrNotFound       = errors.New("sublist: no matches found")
)

// slCacheMax bounds the shared match cache; past it, slCacheSweep entries
// are dropped at once.
const (
	slCacheMax   = 1024
	slCacheSweep = 256
)

// SublistResult is what a publish needs: the plain subscribers and, per queue
// group, the members to choose one from. Results are shared between callers
// through the cache and must be treated as read-only, except stale.
type SublistResult struct {
	psubs []*subscription
	qsubs [][]*subscription
	// cached: the result is (or was) in the shared match cache, which sets
	// stale once a subscription change may alter it or it leaves the cache.
	// Otherwise it is current while the index generation is still gen.
	cached bool
	stale  atomic.Bool
	gen    uint64
}

// Current reports whether r still answers for the subject it was matched
// against in s, so that a holder of r outside the cache (a connection's own
// cache) may use it without asking s again. It takes no lock.
func (r *SublistResult) Current(s *Sublist) bool {
	if r.cached {
		return !r.stale.Load()
	}
	return r.gen == s.gen.Load()
}

// emptyResult is returned by uncached lookups with no interest, so that they
// do not allocate; its generation is never current.
var emptyResult = &SublistResult{gen: ^uint64(0)}

// Sublist is the subject index of one account: a trie of tokens with "*" and
// ">" children, plus a cache of match results (see matchCache). Readers of
// the trie hold the read lock only; a change drops the cache entries it can
// affect and bumps a generation, so that a result computed before a change
// is never cached after it.
type Sublist struct {
	mu    sync.RWMutex
	root  *slLevel
	cache *matchCache // nil: no shared cache (no_sublist_cache)
	count uint32
	gen   atomic.Uint64

	// statistics, for /subsz
	matches   atomic.Uint64
	cacheHits atomic.Uint64
	inserts   uint64
	removes   uint64
}

type slLevel struct {
	nodes map[string]*slNode
	pwc   *slNode
	fwc   *slNode
}

type slNode struct {
	next  *slLevel // nil for a leaf
	psubs subSet
	qsubs map[string]*subSet
}

func newLevel() *slLevel { return &slLevel{nodes: make(map[string]*slNode)} }

// NewSublist returns an empty subject index with a match cache.
func NewSublist() *Sublist {
	return &Sublist{root: newLevel(), cache: newMatchCache()}
}

// NewSublistNoCache returns an empty subject index that walks the trie on
// every match, as no_sublist_cache asks.
func NewSublistNoCache() *Sublist {
	return &Sublist{root: newLevel()}
}

// Count returns the number of subscriptions held.
func (s *Sublist) Count() uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// Insert adds a subscription.
func (s *Sublist) Insert(sub *subscription) error {
	subj := sub.subject
	if !IsValidSubject(subj) {
		return ErrInvalidSubject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.root.child(subj, 0)
	if sub.queue == "" {
		n.psubs.add(sub)
	} else {
		if n.qsubs == nil {
			n.qsubs = make(map[string]*subSet)
		}
		q := n.qsubs[sub.queue]
		if q == nil {
			q = &subSet{}
			n.qsubs[sub.queue] = q
		}
		q.add(sub)
	}
	s.count++
	s.inserts++
	s.invalidate(subj)
	return nil
}

// child returns the node of subj[start:] below l, creating the path. Levels
// are made only on the way down, so that leaves, the most numerous nodes,
// carry none.
func (l *slLevel) child(subj string, start int) *slNode {
	for {
		end := indexByteFrom(subj, tsep, start)
		n := l.node(subj[start:end], true)
		if end == len(subj) {
			return n
		}
		if n.next == nil {
			n.next = newLevel()
		}
		l, start = n.next, end+1
	}
}

// node returns the node for tok in l, creating it when asked.
func (l *slLevel) node(tok string, create bool) *slNode {
	switch tok {
	case "*":
		if l.pwc == nil && create {
			l.pwc = &slNode{}
		}
		return l.pwc
	case ">":
		if l.fwc == nil && create {
			l.fwc = &slNode{}
		}
		return l.fwc
	}
	n := l.nodes[tok]
	if n == nil && create {
		n = &slNode{}
		l.nodes[tok] = n
	}
	return n
}

func (l *slLevel) empty() bool {
	return len(l.nodes) == 0 && l.pwc == nil && l.fwc == nil
}

func (n *slNode) empty() bool {
	return n.psubs.len() == 0 && len(n.qsubs) == 0 && (n.next == nil || n.next.empty())
}

// forEachToken calls fn for every token of subj without allocating.
func forEachToken(subj string, fn func(tok string)) {
	start := 0
	for i := 0; i < len(subj); i++ {
		if subj[i] == tsep {
			fn(subj[start:i])
			start = i + 1
		}
	}
	fn(subj[start:])
}

// Remove deletes a subscription; ErrNotFound if it was not there.
func (s *Sublist) Remove(sub *subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(sub)
}

// RemoveBatch deletes many subscriptions under one lock, as a closing
// connection does. It returns those it found, in subs' backing array.
func (s *Sublist) RemoveBatch(subs []*subscription) []*subscription {
	if len(subs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := subs[:0]
	for _, sub := range subs {
		if s.removeLocked(sub) == nil {
			removed = append(removed, sub)
		}
	}
	return removed
}

type slPathEntry struct {
	l   *slLevel
	n   *slNode
	tok string
}

func (s *Sublist) removeLocked(sub *subscription) error {
	// Remember the path down so that emptied nodes can be pruned on the way up.
	var buf [16]slPathEntry
	path := buf[:0]
	l := s.root
	var n *slNode
	ok := true
	forEachToken(sub.subject, func(tok string) {
		if !ok || l == nil {
			ok = false
			return
		}
		if n = l.node(tok, false); n == nil {
			ok = false
			return
		}
		path = append(path, slPathEntry{l, n, tok})
		l = n.next
	})
	if !ok || n == nil || !n.removeSub(sub) {
		return ErrNotFound
	}
	s.count--
	s.removes++
	s.invalidate(sub.subject)
	for i := len(path) - 1; i >= 0; i-- {
		e := path[i]
		if !e.n.empty() {
			break
		}
		switch e.tok {
		case "*":
			e.l.pwc = nil
		case ">":
			e.l.fwc = nil
		default:
			delete(e.l.nodes, e.tok)
		}
	}
	return nil
}

func (n *slNode) removeSub(sub *subscription) bool {
	if sub.queue == "" {
		return n.psubs.remove(sub)
	}
	q := n.qsubs[sub.queue]
	if q == nil || !q.remove(sub) {
		return false
	}
	if q.len() == 0 {
		delete(n.qsubs, sub.queue)
	}
	return true
}

// invalidate drops the cached results that a change of a subscription on
// subj can affect, and bumps the generation. Write lock held.
func (s *Sublist) invalidate(subj string) {
	s.gen.Add(1)
	if s.cache == nil || s.cache.len() == 0 {
		return
	}
	if subjectHasWildcard(subj) {
		s.cache.dropMatching(subj)
	} else {
		s.cache.drop(subj)
	}
}

// Match returns the subscriptions interested in the literal subject.
func (s *Sublist) Match(subject string) *SublistResult {
	s.matches.Add(1)
	s.mu.RLock()
	if s.cache != nil {
		if r, ok := s.cache.get(subject); ok {
			s.mu.RUnlock()
			s.cacheHits.Add(1)
			return r
		}
	}
	gen := s.gen.Load()
	r := s.collect(subject, nil)
	s.mu.RUnlock()
	if s.cache == nil {
		if r != emptyResult {
			r.gen = gen
		}
		return r
	}
	if r == emptyResult {
		// Cached misses need an entry of their own to be marked stale.
		r = &SublistResult{}
	}
	r.cached = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.cache.get(subject); ok {
		return prev
	}
	if s.gen.Load() != gen {
		// A change raced with the walk: r may be out of date already.
		r.stale.Store(true)
		return r
	}
	// The key must not alias a caller's buffer.
	s.cache.add(string([]byte(subject)), r)
	return r
}

// MatchOnce is Match for a subject that will likely never be matched again,
// such as the reply subject of a request: a cached result is used, but a
// miss is neither cached, which would only push out entries that repeat, nor
// allocated: it is collected into scratch, overwriting it. Such a result is
// never current; it may be used until scratch is reused, and not kept.
func (s *Sublist) MatchOnce(subject string, scratch *SublistResult) *SublistResult {
	s.matches.Add(1)
	s.mu.RLock()
	if s.cache != nil {
		if r, ok := s.cache.get(subject); ok {
			s.mu.RUnlock()
			s.cacheHits.Add(1)
			return r
		}
	}
	scratch.psubs, scratch.qsubs = scratch.psubs[:0], scratch.qsubs[:0]
	scratch.cached, scratch.gen = false, ^uint64(0)
	r := s.collect(subject, scratch)
	s.mu.RUnlock()
	return r
}

// collect walks the trie for a literal subject, appending to dst or, when
// dst is nil, to a result of its own. Caller holds the read lock.
func (s *Sublist) collect(subject string, dst *SublistResult) *SublistResult {
	r := dst
	var qidx map[string]int
	found := false
	add := func(n *slNode) {
		if n == nil || (n.psubs.len() == 0 && len(n.qsubs) == 0) {
			return
		}
		found = true
		if r == nil {
			r = &SublistResult{}
		}
		r.psubs = n.psubs.appendTo(r.psubs)
		for q, members := range n.qsubs {
			if qidx == nil {
				qidx = make(map[string]int)
			}
			i, ok := qidx[q]
			if !ok {
				i = len(r.qsubs)
				qidx[q] = i
				r.qsubs = append(r.qsubs, nil)
			}
			r.qsubs[i] = members.appendTo(r.qsubs[i])
		}
	}
	matchLevel(s.root, subject, 0, add)
	if !found {
		return emptyResult
	}
	return r
}

// matchLevel visits every node matching subject[start:] below l.
func matchLevel(l *slLevel, subject string, start int, add func(*slNode)) {
	for l != nil {
		end := indexByteFrom(subject, tsep, start)
		tok := subject[start:end]
		last := end == len(subject)
		if l.fwc != nil {
			add(l.fwc)
		}
		if l.pwc != nil {
			if last {
				add(l.pwc)
			} else {
				matchLevel(l.pwc.next, subject, end+1, add)
			}
		}
		n := l.nodes[tok]
		if n == nil {
			return
		}
		if last {
			add(n)
			return
		}
		l = n.next
		start = end + 1
	}
}

// All appends every subscription to subs.
func (s *Sublist) All(subs []*subscription) []*subscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var walk func(l *slLevel)
	collectNode := func(n *slNode) {
		subs = n.psubs.appendTo(subs)
		for _, q := range n.qsubs {
			subs = q.appendTo(subs)
		}
		if n.next != nil {
			walk(n.next)
		}
	}
	walk = func(l *slLevel) {
		for _, n := range l.nodes {
			collectNode(n)
		}
		if l.pwc != nil {
			collectNode(l.pwc)
		}
		if l.fwc != nil {
			collectNode(l.fwc)
		}
	}
	walk(s.root)
	return subs
}

// SublistStats are the index statistics the monitoring endpoints report.
type SublistStats struct {
	NumSubs      uint32  `json:"num_subscriptions"`
	NumCache     uint32  `json:"num_cache"`
	NumInserts   uint64  `json:"num_inserts"`
	NumRemoves   uint64  `json:"num_removes"`
	NumMatches   uint64  `json:"num_matches"`
	CacheHitRate float64 `json:"cache_hit_rate"`
	MaxFanout    uint32  `json:"max_fanout"`
	AvgFanout    float64 `json:"avg_fanout"`
}

// Stats returns a snapshot of the index statistics.
func (s *Sublist) Stats() *SublistStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var cached map[string]*SublistResult
	if s.cache != nil {
		cached = s.cache.results
	}
	st := &SublistStats{
		NumSubs:    s.count,
		NumCache:   uint32(len(cached)),
		NumInserts: s.inserts,
		NumRemoves: s.removes,
		NumMatches: s.matches.Load(),
	}
	if st.NumMatches > 0 {
		st.CacheHitRate = float64(s.cacheHits.Load()) / float64(st.NumMatches)
	}
	var total uint64
	for _, r := range cached {
		f := uint32(len(r.psubs) + len(r.qsubs))
		total += uint64(f)
		if f > st.MaxFanout {
			st.MaxFanout = f
		}
	}
	if len(cached) > 0 {
		st.AvgFanout = float64(total) / float64(len(cached))
	}
	return st
}

// subSetListMax is the size up to which a subSet is a plain list.
const subSetListMax = 8

// subSet holds the subscriptions of one trie node (or one queue group of
// it): a short list while small, since most subjects have one or a few
// subscribers, and a map past subSetListMax, so that removing one of many
// subscribers to a subject does not scan them all.
type subSet struct {
	list []*subscription
	set  map[*subscription]struct{}
}

func (ss *subSet) len() int {
	if ss.set != nil {
		return len(ss.set)
	}
	return len(ss.list)
}

func (ss *subSet) add(sub *subscription) {
	switch {
	case ss.set != nil:
		ss.set[sub] = struct{}{}
	case len(ss.list) < subSetListMax:
		ss.list = append(ss.list, sub)
	default:
		ss.set = make(map[*subscription]struct{}, 2*subSetListMax)
		for _, x := range ss.list {
			ss.set[x] = struct{}{}
		}
		ss.set[sub] = struct{}{}
		ss.list = nil
	}
}

// remove reports whether sub was there. A set that became a map stays one,
// so that a size hovering at the limit does not convert back and forth.
func (ss *subSet) remove(sub *subscription) bool {
	if ss.set != nil {
		if _, ok := ss.set[sub]; !ok {
			return false
		}
		delete(ss.set, sub)
		return true
	}
	for i, x := range ss.list {
		if x == sub {
			last := len(ss.list) - 1
			ss.list[i], ss.list[last] = ss.list[last], nil
			ss.list = ss.list[:last]
			return true
		}
	}
	return false
}

func (ss *subSet) appendTo(dst []*subscription) []*subscription {
	if ss.set == nil {
		return append(dst, ss.list...)
	}
	for sub := range ss.set {
		dst = append(dst, sub)
	}
	return dst
}
