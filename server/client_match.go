package server

import "hash/maphash"

// connSeenSlots is the number of subjects a connection remembers having
// missed once (see connMatchCache.firstSight).
const connSeenSlots = 128

// seenSeed keys the fingerprints of connMatchCache.seen.
var seenSeed = maphash.MakeSeed()

// connMatchCache is a publisher's own cache of match results, owned by its
// reading goroutine (client.rc). A result is used only while it is
// current: a subscription change marks stale exactly the results it alters.
//
// A subject is cached only when it is missed a second time: the first miss
// is matched without caching here or in the account's shared cache, so
// subjects published once (the reply subject of each request) neither
// allocate nor push out the entries of subjects that repeat.
type connMatchCache struct {
	results map[string]connMatch
	// last is the entry used last: a publisher repeating one subject
	// finds it with a comparison instead of hashing the subject.
	last connMatch
	// seen holds fingerprints of subjects missed once, one slot per hash.
	seen [connSeenSlots]uint32
	// scratch holds a one-off subject's result while it is delivered.
	scratch SublistResult
	lent    bool // scratch is in use
}

// connMatch is a cached subject, owned (not a view of the read buffer), and
// its result.
type connMatch struct {
	subject string
	result  *SublistResult
}

func newConnMatchCache() *connMatchCache {
	// emptyResult is never current, so last needs no check for nil.
	return &connMatchCache{
		results: make(map[string]connMatch),
		last:    connMatch{result: emptyResult},
	}
}

// firstSight reports whether subject was not missed recently, and
// remembers it if so. A repeated subject is forgotten, as it is about to be
// cached. A fingerprint collision can only make a first sight look like a
// second, which costs what every miss cost before.
func (mc *connMatchCache) firstSight(subject string) bool {
	h := maphash.String(seenSeed, subject)
	slot := &mc.seen[h%connSeenSlots]
	fp := uint32(h>>32) | 1 // never 0, the empty slot
	if *slot == fp {
		*slot = 0
		return false
	}
	*slot = fp
	return true
}

// add caches r for subject, a view of the read buffer.
func (mc *connMatchCache) add(subject string, r *SublistResult) {
	if len(mc.results) >= maxResultCache {
		clear(mc.results)
	}
	// A fresh key even when refreshing an entry: assigning to an existing
	// key stores the new key.
	e := connMatch{subject: string([]byte(subject)), result: r}
	mc.results[e.subject] = e
	mc.last = e
}

// release ends the delivery of r: a scratch result is cleared, so that it
// keeps no subscription alive, and may be lent again.
func (mc *connMatchCache) release(r *SublistResult) {
	if mc == nil || r != &mc.scratch {
		return
	}
	clear(mc.scratch.psubs)
	clear(mc.scratch.qsubs)
	mc.lent = false
}
