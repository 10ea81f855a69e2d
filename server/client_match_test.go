package server

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// newMatchHarness is a parse harness whose account index is fresh (without
// the harness's own ">" subscriber) and whose client has sent CONNECT.
func newMatchHarness(t *testing.T) (*parseHarness, *Sublist) {
	t.Helper()
	h := newParseHarness(t)
	sl := NewSublist()
	h.s.gacc.sl = sl
	h.c.acc = h.s.gacc
	if err := h.feed([]byte("CONNECT {\"verbose\":false}\r\n")); err != nil {
		t.Fatal(err)
	}
	return h, sl
}

// subscribeCount subscribes an internal subscriber that counts its messages.
func subscribeCount(t *testing.T, h *parseHarness, subject, queue string, n *int) func() {
	t.Helper()
	unsub, err := h.s.SubscribeInternal(h.s.gacc, subject, queue, func(string, string, []byte, []byte) { *n++ })
	if err != nil {
		t.Fatal(err)
	}
	return unsub
}

// Replies to fresh reply subjects, as a responder sends them, allocate
// nothing and leave the shared cache alone: its entries for subjects that
// repeat stay current.
func TestConnectionCacheOneOffSubjectsNoAlloc(t *testing.T) {
	h, sl := newMatchHarness(t)
	var replies, other int
	subscribeCount(t, h, "_INBOX.r.*", "", &replies)
	subscribeCount(t, h, "svc.a", "", &other)
	held := sl.Match("svc.a")
	cached := sl.Stats().NumCache

	const n = 4 * slCacheMax
	batches := make([][]byte, n+1)
	for i := range batches {
		// Also a request that reaches nobody, as one does while its
		// responder restarts.
		id := strconv.Itoa(i)
		batches[i] = []byte("PUB _INBOX.r." + id + " 2\r\nok\r\nPUB gone." + id + " 2\r\nok\r\n")
	}
	h.c.parse(batches[n]) // the connection's cache is made on first use
	i := 0
	allocs := testing.AllocsPerRun(n-1, func() {
		if err := h.c.parse(batches[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per reply to a fresh subject", allocs)
	}
	if replies != i+1 {
		t.Fatalf("%d replies delivered, want %d", replies, i+1)
	}
	if got := sl.Stats().NumCache; got != cached {
		t.Fatalf("shared cache went from %d to %d entries", cached, got)
	}
	if !held.Current(sl) {
		t.Fatal("one-off subjects pushed a repeated subject out of the shared cache")
	}
}

// A publisher repeating subjects is served by its own cache from the second
// publish of each on: no allocation, no lookup in the shared index.
func TestConnectionCacheRepeatedSubjectsHit(t *testing.T) {
	h, sl := newMatchHarness(t)
	var a, b int
	subscribeCount(t, h, "svc.a", "", &a)
	subscribeCount(t, h, "svc.*", "", &b)
	batch := []byte("PUB svc.a 2\r\nok\r\nPUB svc.b 2\r\nok\r\nPUB svc.b 2\r\nok\r\n")
	// Three rounds cache both subjects even when their fingerprints share
	// a slot of the first-miss memory (1 in 128 with the random seed): svc.b's
	// first sight then overwrites svc.a's, which is cached a round later.
	for range 3 {
		h.c.parse(batch)
	}
	matches := sl.Stats().NumMatches
	if allocs := testing.AllocsPerRun(100, func() {
		if err := h.c.parse(batch); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%.2f allocations per batch of repeated subjects", allocs)
	}
	if got := sl.Stats().NumMatches; got != matches {
		t.Fatalf("%d lookups in the shared index for subjects already matched", got-matches)
	}
	// AllocsPerRun runs once more to warm up.
	if a != 104 || b != 3*104 {
		t.Fatalf("deliveries: svc.a %d, svc.* %d", a, b)
	}
}

// A subscription change made after a publisher's last-subject hit is seen by
// its very next publish, whether the change adds or removes interest.
func TestConnectionCacheLastSubjectSeesChanges(t *testing.T) {
	h, _ := newMatchHarness(t)
	batch := []byte("PUB orders.new 2\r\nok\r\n")
	var lit, wild, queued int
	subscribeCount(t, h, "orders.new", "", &lit)
	for range 3 {
		h.c.parse(batch)
	}
	publish := func(step string, wantLit, wantWild, wantQueued int) {
		t.Helper()
		lit, wild, queued = 0, 0, 0
		h.c.parse(batch)
		if lit != wantLit || wild != wantWild || queued != wantQueued {
			t.Fatalf("%s: literal %d, wildcard %d, queue %d; want %d %d %d",
				step, lit, wild, queued, wantLit, wantWild, wantQueued)
		}
	}
	unsubWild := subscribeCount(t, h, "orders.*", "", &wild)
	publish("after SUB orders.*", 1, 1, 0)
	unsubQueue := subscribeCount(t, h, "orders.>", "q", &queued)
	publish("after SUB orders.> q", 1, 1, 1)
	unsubWild()
	publish("after UNSUB orders.*", 1, 0, 1)
	unsubQueue()
	publish("after UNSUB orders.> q", 1, 0, 0)
	var lit2 int
	subscribeCount(t, h, "orders.new", "", &lit2)
	publish("after a second SUB orders.new", 1, 0, 0)
	if lit2 != 1 {
		t.Fatalf("second literal subscriber got %d", lit2)
	}
}

// Random subscription changes interleaved with publishes of repeated and of
// fresh subjects: every publish reaches exactly the plain subscribers that
// match it and one member of each matching queue group, whichever way the
// connection's cache answered.
func TestConnectionCacheMatchesModel(t *testing.T) {
	toks := []string{"a", "b"}
	for seed := uint64(0); seed < 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		h, _ := newMatchHarness(t)
		type modelSub struct {
			sub   *subscription
			unsub func()
			got   *int
		}
		var subs []modelSub
		for step := 0; step < 1500; step++ {
			switch op := rng.IntN(10); {
			case op < 2:
				subj := toks[rng.IntN(2)] + "." + []string{"a", "b", "*", ">"}[rng.IntN(4)]
				queue := ""
				if rng.IntN(3) == 0 {
					queue = "q" + strconv.Itoa(rng.IntN(2))
				}
				got := new(int)
				unsub := subscribeCount(t, h, subj, queue, got)
				subs = append(subs, modelSub{&subscription{subject: subj, queue: queue}, unsub, got})
			case op < 4 && len(subs) > 0:
				i := rng.IntN(len(subs))
				subs[i].unsub()
				subs = append(subs[:i], subs[i+1:]...)
			default:
				subj := toks[rng.IntN(2)] + "." + toks[rng.IntN(2)]
				if rng.IntN(2) == 0 {
					subj += "." + strconv.Itoa(step) // never published again
				}
				for _, s := range subs {
					*s.got = 0
				}
				h.c.parse([]byte("PUB " + subj + " 0\r\n\r\n"))
				groups := map[string]int{}
				for _, s := range subs {
					match := SubjectMatchesFilter(subj, s.sub.subject)
					switch {
					case s.sub.queue != "" && match:
						groups[s.sub.queue] += *s.got
					case *s.got != btoi(match):
						t.Fatalf("seed %d step %d: %q got %d messages on %q", seed, step, s.sub.subject, *s.got, subj)
					}
				}
				for q, n := range groups {
					if n != 1 {
						t.Fatalf("seed %d step %d: queue %s got %d messages on %q", seed, step, q, n, subj)
					}
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Results of one-off subjects are never current: if one were kept, a later
// change would not reach it.
func TestSublistMatchOnceNeverCurrent(t *testing.T) {
	sl := NewSublist()
	sl.Insert(newSub("r.*", ""))
	// Whatever the scratch held before (here: a generation that is current).
	scratch := SublistResult{gen: sl.gen.Load()}
	r := sl.MatchOnce("r.1", &scratch)
	if r != &scratch || fmt.Sprint(resultSubjects(r)) != "[r.*]" || r.Current(sl) {
		t.Fatalf("MatchOnce: scratch %v, %v, current %v", r == &scratch, resultSubjects(r), r.Current(sl))
	}
	if sl.Stats().NumCache != 0 {
		t.Fatal("MatchOnce cached its miss")
	}
	cached := sl.Match("r.2")
	if sl.MatchOnce("r.2", &scratch) != cached {
		t.Fatal("MatchOnce must use a cached result")
	}
	if e := sl.MatchOnce("x", &scratch); len(e.psubs) != 0 || e.Current(sl) {
		t.Fatal("a miss must be empty and not current")
	}
}
