package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// modelMatch counts the subscriptions of subs matching the literal subject.
func modelMatch(subs []*subscription, subject string) []string {
	var out []string
	for _, s := range subs {
		if SubjectMatchesFilter(subject, s.subject) {
			if s.queue != "" {
				out = append(out, s.queue+":"+s.subject)
			} else {
				out = append(out, s.subject)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkCacheTree verifies that the token tree and the results map of the
// cache hold the same entries.
func checkCacheTree(t *testing.T, mc *matchCache) {
	t.Helper()
	if mc.tree == nil {
		return
	}
	seen := 0
	var walk func(l *cacheLevel, path string)
	walk = func(l *cacheLevel, path string) {
		if l.result != nil {
			seen++
			if l.subject != path || mc.results[path] != l.result {
				t.Fatalf("tree entry %q (path %q) disagrees with the map", l.subject, path)
			}
		}
		for tok, n := range l.next {
			if n.result == nil && len(n.next) == 0 {
				t.Fatalf("empty level %q left under %q", tok, path)
			}
			p := tok
			if l != mc.tree {
				p = path + "." + tok
			}
			walk(n, p)
		}
	}
	walk(mc.tree, "")
	if seen != len(mc.results) {
		t.Fatalf("tree holds %d entries, map %d", seen, len(mc.results))
	}
}

// Random subscription changes interleaved with matches: every match agrees
// with a brute-force model, and a result held outside the cache (as a
// connection holds it) is reported current only while it is still right.
func TestSublistSelectiveInvalidation(t *testing.T) {
	toks := []string{"a", "b", "c"}
	pattern := func(rng *rand.Rand) string {
		n := 1 + rng.IntN(3)
		subj := ""
		for i := 0; i < n; i++ {
			tok := toks[rng.IntN(len(toks))]
			switch r := rng.IntN(10); {
			case r < 2:
				tok = "*"
			case r < 3 && i == n-1:
				tok = ">"
			}
			if i > 0 {
				subj += "."
			}
			subj += tok
		}
		return subj
	}
	literal := func(rng *rand.Rand) string {
		n := 1 + rng.IntN(4)
		subj := toks[rng.IntN(len(toks))]
		for i := 1; i < n; i++ {
			subj += "." + toks[rng.IntN(len(toks))]
		}
		return subj
	}
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		sl := NewSublist()
		var subs []*subscription
		held := map[string]*SublistResult{}
		for step := 0; step < 2000; step++ {
			switch op := rng.IntN(10); {
			case op < 3:
				queue := ""
				if rng.IntN(4) == 0 {
					queue = "q"
				}
				s := newSub(pattern(rng), queue)
				if err := sl.Insert(s); err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
			case op < 5 && len(subs) > 0:
				i := rng.IntN(len(subs))
				if err := sl.Remove(subs[i]); err != nil {
					t.Fatal(err)
				}
				subs = slices.Delete(subs, i, i+1)
			default:
				subj := literal(rng)
				want := fmt.Sprint(modelMatch(subs, subj))
				if r, ok := held[subj]; ok && r.Current(sl) {
					if got := fmt.Sprint(resultSubjects(r)); got != want {
						t.Fatalf("seed %d step %d: held result for %q is current but says %s, model %s", seed, step, subj, got, want)
					}
				}
				r := sl.Match(subj)
				if got := fmt.Sprint(resultSubjects(r)); got != want {
					t.Fatalf("seed %d step %d: Match(%q) = %s, model %s", seed, step, subj, got, want)
				}
				held[subj] = r
			}
		}
		checkCacheTree(t, sl.cache)
	}
}

// A change must leave the entries it cannot affect in the cache: that is
// what keeps a publisher's hits when others subscribe and unsubscribe.
func TestSublistInvalidationKeepsUnrelated(t *testing.T) {
	sl := NewSublist()
	sl.Insert(newSub("orders.*", ""))
	keep := sl.Match("orders.new")
	other := sl.Match("prices.eur")
	lit := newSub("prices.usd", "")
	wild := newSub("prices.*.x", "")
	for _, s := range []*subscription{lit, wild} {
		sl.Insert(s)
		sl.Remove(s)
	}
	if !keep.Current(sl) || !other.Current(sl) {
		t.Fatalf("unrelated entries dropped: orders.new %v, prices.eur %v", keep.Current(sl), other.Current(sl))
	}
	// A pattern that matches drops exactly that entry.
	sl.Insert(newSub("prices.>", ""))
	if other.Current(sl) || !keep.Current(sl) {
		t.Fatalf("prices.> must drop prices.eur only: %v %v", other.Current(sl), keep.Current(sl))
	}
	if n := len(sl.Match("prices.eur").psubs); n != 1 {
		t.Fatalf("prices.eur has %d subscribers after prices.>", n)
	}
	checkCacheTree(t, sl.cache)
}

// Entries pushed out of a full cache are no longer current for their holders,
// since later changes would not reach them.
func TestSublistEvictedResultsNotCurrent(t *testing.T) {
	sl := NewSublist()
	sl.Insert(newSub("s.*", ""))
	first := sl.Match("s.0")
	evicted := false
	for i := 1; i <= 16*slCacheMax && !evicted; i++ {
		sl.Match(fmt.Sprintf("s.%d", i))
		_, cached := sl.cache.get("s.0")
		if cached != first.Current(sl) {
			t.Fatalf("after %d matches: in cache %v, current %v", i, cached, first.Current(sl))
		}
		evicted = !cached
	}
	if !evicted {
		t.Fatal("s.0 never left the cache")
	}
	checkCacheTree(t, sl.cache)
}

// Without the shared cache, results are current until any change.
func TestSublistNoCache(t *testing.T) {
	sl := NewSublistNoCache()
	sl.Insert(newSub("a.b", ""))
	r := sl.Match("a.b")
	if len(r.psubs) != 1 || !r.Current(sl) {
		t.Fatalf("match %d, current %v", len(r.psubs), r.Current(sl))
	}
	if sl.Match("a.b") == r {
		t.Fatal("a second match must walk the trie again")
	}
	if st := sl.Stats(); st.NumCache != 0 || st.CacheHitRate != 0 || st.NumMatches != 2 {
		t.Fatalf("stats %+v", st)
	}
	sl.Insert(newSub("x", ""))
	if r.Current(sl) {
		t.Fatal("result still current after a change")
	}
	if e := sl.Match("nothing"); e.Current(sl) || len(e.psubs) != 0 {
		t.Fatal("a miss must not be current")
	}
}

// Matching a cached subject allocates nothing, and neither does the
// currency check a connection makes before using a held result.
func TestSublistCachedMatchNoAlloc(t *testing.T) {
	sl := NewSublist()
	sl.Insert(newSub("a.*", ""))
	subj := string([]byte("a.b"))
	r := sl.Match(subj)
	if n := testing.AllocsPerRun(100, func() {
		if sl.Match(subj) != r || !r.Current(sl) {
			t.Fatal("cached result changed")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per cached match", n)
	}
}

// A publisher's own match cache survives subscription changes that cannot
// affect its subject: publishing between unrelated SUB/UNSUB pairs (literal
// and wildcard) allocates nothing, where a cleared cache would copy the
// subject again. A change that does affect the subject is seen by the very
// next publish.
func TestConnectionCacheSurvivesUnrelatedChurn(t *testing.T) {
	h := newParseHarness(t)
	sl := NewSublist()
	h.s.gacc.sl = sl
	h.c.acc = h.s.gacc
	if err := h.feed([]byte("CONNECT {\"verbose\":false}\r\n")); err != nil {
		t.Fatal(err)
	}
	var plain, wild int
	h.s.SubscribeInternal(h.s.gacc, "orders.new", "", func(string, string, []byte, []byte) { plain++ })
	var churn []*subscription
	for _, subj := range []string{"prices.usd", "prices.*.x", "orders.new.>"} {
		kept, toggled := newSub(subj, ""), newSub(subj, "")
		sl.Insert(kept)
		churn = append(churn, toggled)
	}
	batch := []byte("PUB orders.new 5\r\nhello\r\n")
	h.c.parse(batch)
	allocs := testing.AllocsPerRun(100, func() {
		for _, sub := range churn {
			sl.Insert(sub)
			sl.Remove(sub)
		}
		if err := h.c.parse(batch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per publish after unrelated changes: the connection's cache was dropped", allocs)
	}
	h.s.SubscribeInternal(h.s.gacc, "orders.*", "", func(string, string, []byte, []byte) { wild++ })
	before := plain
	h.c.parse(batch)
	if plain != before+1 || wild != 1 {
		t.Fatalf("after subscribing orders.*: plain got %d, wildcard %d", plain-before, wild)
	}
}

// The token tree exists only while wildcard changes need it: built by the
// first one, given up once the cache turned over without one, and rebuilt
// (with every entry) by the next.
func TestSublistCacheTreeOnDemand(t *testing.T) {
	sl := NewSublist()
	sl.Insert(newSub("s.*", ""))
	sl.Match("s.1")
	if sl.cache.tree != nil {
		t.Fatal("tree built without a wildcard change")
	}
	sl.Insert(newSub("x.*", ""))
	if sl.cache.tree == nil {
		t.Fatal("a wildcard change must build the tree")
	}
	checkCacheTree(t, sl.cache)
	for i := 0; i < 2*slCacheMax; i++ {
		sl.Match(fmt.Sprintf("m.%d", i))
	}
	if sl.cache.tree != nil {
		t.Fatal("tree kept although the cache turned over without a wildcard change")
	}
	held := sl.Match("s.5")
	other := sl.Match("q.5")
	sl.Insert(newSub("s.>", ""))
	if held.Current(sl) || !other.Current(sl) {
		t.Fatalf("after s.>: s.5 current %v (want false), q.5 current %v (want true)", held.Current(sl), other.Current(sl))
	}
	if n := len(sl.Match("s.5").psubs); n != 2 {
		t.Fatalf("s.5 has %d subscribers, want 2", n)
	}
	checkCacheTree(t, sl.cache)
}
