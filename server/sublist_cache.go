package server

// matchCache holds recent match results of a Sublist by literal subject.
//
// A subscription change must drop exactly the entries whose result it can
// alter: for a literal subscription subject that is the one entry of the
// same subject, for a wildcard one every entry the pattern matches. To find
// the latter without visiting every entry, the cached subjects are also kept
// as a tree of tokens; a pattern walks only the branches its literal tokens
// select. The tree costs allocations on every miss, so it is built only when
// a wildcard change needs it and given up once the whole cache has turned
// over without one: publishers to many subjects pay for it only while
// wildcard subscriptions churn. Dropped entries are marked stale so that
// copies held outside the cache (a connection's own cache) are looked up
// again. All methods run under the Sublist's write lock, except get (read
// lock).
type matchCache struct {
	results map[string]*SublistResult
	tree    *cacheLevel // nil while no wildcard change needed it
	// additions since the last wildcard change, to give the tree up
	sinceWildcard int
}

// cacheLevel is one token position of the cached subjects.
type cacheLevel struct {
	next map[string]*cacheLevel
	// The cached subject that ends here, if any; it is the results key, so
	// keeping it here costs no copy.
	subject string
	result  *SublistResult
}

func newMatchCache() *matchCache {
	return &matchCache{results: make(map[string]*SublistResult)}
}

func (mc *matchCache) len() int { return len(mc.results) }

func (mc *matchCache) get(subject string) (*SublistResult, bool) {
	r, ok := mc.results[subject]
	return r, ok
}

// add caches r for subject, which is not cached yet and which the caller
// owns (not a view of a buffer).
func (mc *matchCache) add(subject string, r *SublistResult) {
	if len(mc.results) >= slCacheMax {
		mc.evict(slCacheSweep)
	}
	mc.results[subject] = r
	if mc.tree == nil {
		return
	}
	if mc.sinceWildcard++; mc.sinceWildcard > slCacheMax {
		mc.tree = nil
		return
	}
	mc.tree.insert(subject, r)
}

// insert records the cached subject and its result below l.
func (l *cacheLevel) insert(subject string, r *SublistResult) {
	forEachToken(subject, func(tok string) {
		n := l.next[tok]
		if n == nil {
			if l.next == nil {
				l.next = make(map[string]*cacheLevel)
			}
			n = &cacheLevel{}
			l.next[tok] = n
		}
		l = n
	})
	l.subject, l.result = subject, r
}

// evict drops n arbitrary entries: a full cache means the working set is
// larger than the cache, where exact LRU order would not help much.
func (mc *matchCache) evict(n int) {
	for subject := range mc.results {
		if n == 0 {
			return
		}
		mc.drop(subject)
		n--
	}
}

// drop removes the entry of a literal subject, if cached.
func (mc *matchCache) drop(subject string) {
	r, ok := mc.results[subject]
	if !ok {
		return
	}
	r.stale.Store(true)
	delete(mc.results, subject)
	if mc.tree != nil {
		mc.tree.remove(subject, 0)
	}
}

// remove clears the entry for subject[start:] below l and prunes levels
// left empty; it reports whether l itself is now empty.
func (l *cacheLevel) remove(subject string, start int) bool {
	if start > len(subject) {
		l.subject, l.result = "", nil
		return len(l.next) == 0
	}
	end := indexByteFrom(subject, tsep, start)
	if n := l.next[subject[start:end]]; n != nil && n.remove(subject, end+1) {
		delete(l.next, subject[start:end])
	}
	return l.result == nil && len(l.next) == 0
}

// dropMatching removes every entry whose subject the wildcard pattern
// matches.
func (mc *matchCache) dropMatching(pattern string) {
	if mc.tree == nil {
		mc.tree = &cacheLevel{}
		for subject, r := range mc.results {
			mc.tree.insert(subject, r)
		}
	}
	mc.sinceWildcard = 0
	mc.tree.dropMatching(mc, pattern, 0)
}

// dropMatching visits the levels below l that pattern[start:] selects and
// drops their entries; it reports whether l is left empty.
func (l *cacheLevel) dropMatching(mc *matchCache, pattern string, start int) bool {
	if start > len(pattern) {
		l.dropEntry(mc)
		return len(l.next) == 0
	}
	end := indexByteFrom(pattern, tsep, start)
	switch tok := pattern[start:end]; tok {
	case ">":
		for k, n := range l.next {
			n.dropAll(mc)
			delete(l.next, k)
		}
	case "*":
		for k, n := range l.next {
			if n.dropMatching(mc, pattern, end+1) {
				delete(l.next, k)
			}
		}
	default:
		if n := l.next[tok]; n != nil && n.dropMatching(mc, pattern, end+1) {
			delete(l.next, tok)
		}
	}
	return l.result == nil && len(l.next) == 0
}

// dropAll drops the entries of l and everything below it.
func (l *cacheLevel) dropAll(mc *matchCache) {
	l.dropEntry(mc)
	for _, n := range l.next {
		n.dropAll(mc)
	}
}

func (l *cacheLevel) dropEntry(mc *matchCache) {
	if l.result == nil {
		return
	}
	l.result.stale.Store(true)
	delete(mc.results, l.subject)
	l.subject, l.result = "", nil
}
