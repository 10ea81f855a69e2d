package server

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func newSub(subject, queue string) *subscription {
	return &subscription{subject: subject, queue: queue}
}

func resultSubjects(r *SublistResult) []string {
	var out []string
	for _, s := range r.psubs {
		out = append(out, s.subject)
	}
	for _, q := range r.qsubs {
		for _, s := range q {
			out = append(out, s.queue+":"+s.subject)
		}
	}
	sort.Strings(out)
	return out
}

func TestSublistMatch(t *testing.T) {
	sl := NewSublist()
	for _, s := range []string{"a", "a.b", "a.*", "a.>", "*.b", ">", "a.b.c", "*.*.c", "x.>"} {
		if err := sl.Insert(newSub(s, "")); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string][]string{
		"a":     {">", "a"},
		"a.b":   {"*.b", ">", "a.*", "a.>", "a.b"},
		"a.b.c": {"*.*.c", ">", "a.>", "a.b.c"},
		"x":     {">"},
		"x.y":   {">", "x.>"},
		"q.b":   {"*.b", ">"},
	}
	for subj, want := range cases {
		got := resultSubjects(sl.Match(subj))
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Match(%q) = %v, want %v", subj, got, want)
		}
	}
	if sl.Count() != 9 {
		t.Fatalf("count %d", sl.Count())
	}
}

func TestSublistInvalid(t *testing.T) {
	sl := NewSublist()
	for _, s := range []string{"", "a..b", "a.>.b", ".a", "a."} {
		if err := sl.Insert(newSub(s, "")); err != ErrInvalidSubject {
			t.Errorf("Insert(%q) = %v", s, err)
		}
	}
}

func TestSublistQueues(t *testing.T) {
	sl := NewSublist()
	q1a, q1b, q2 := newSub("foo", "g1"), newSub("foo.*", "g1"), newSub("foo", "g2")
	for _, s := range []*subscription{q1a, q1b, q2, newSub("foo", "")} {
		sl.Insert(s)
	}
	r := sl.Match("foo")
	if len(r.psubs) != 1 || len(r.qsubs) != 2 {
		t.Fatalf("psubs %d qgroups %d", len(r.psubs), len(r.qsubs))
	}
	// A group spread over several subjects is one group in the result.
	r = sl.Match("foo.x")
	if len(r.qsubs) != 1 || len(r.qsubs[0]) != 1 {
		t.Fatalf("foo.x groups %v", resultSubjects(r))
	}
}

func TestSublistRemoveAndCache(t *testing.T) {
	sl := NewSublist()
	a, w := newSub("a.b", ""), newSub("a.*", "")
	sl.Insert(a)
	if n := len(sl.Match("a.b").psubs); n != 1 {
		t.Fatalf("got %d", n)
	}
	// The cached result must be invalidated by a wildcard insert.
	sl.Insert(w)
	if n := len(sl.Match("a.b").psubs); n != 2 {
		t.Fatalf("after insert got %d", n)
	}
	if err := sl.Remove(w); err != nil {
		t.Fatal(err)
	}
	if n := len(sl.Match("a.b").psubs); n != 1 {
		t.Fatalf("after remove got %d", n)
	}
	if err := sl.Remove(w); err != ErrNotFound {
		t.Fatalf("second remove: %v", err)
	}
	sl.Remove(a)
	if sl.Count() != 0 || !sl.root.empty() {
		t.Fatal("trie not pruned after removing everything")
	}
	if r := sl.Match("a.b"); len(r.psubs)+len(r.qsubs) != 0 {
		t.Fatalf("expected no interest, got %v", resultSubjects(r))
	}
}

func TestSublistCacheBounded(t *testing.T) {
	sl := NewSublist()
	sl.Insert(newSub(">", ""))
	for i := 0; i < slCacheMax*3; i++ {
		sl.Match(fmt.Sprintf("s.%d", i))
	}
	if n := sl.cache.len(); n > slCacheMax {
		t.Fatalf("cache grew to %d", n)
	}
}

// Concurrent inserts, removes and matches must always agree with a model
// once the writers are done, and never race (run with -race).
func TestSublistConcurrent(t *testing.T) {
	sl := NewSublist()
	const writers, perWriter = 4, 300
	stable := newSub("c.stable", "")
	sl.Insert(stable)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readerErr error
	var rmu sync.Mutex
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res := sl.Match("c.stable")
				found := false
				for _, s := range res.psubs {
					if s == stable {
						found = true
					}
				}
				if !found {
					rmu.Lock()
					readerErr = fmt.Errorf("stable subscription missing from a match")
					rmu.Unlock()
				}
			}
		}()
	}
	var ww sync.WaitGroup
	kept := make([][]*subscription, writers)
	for w := 0; w < writers; w++ {
		ww.Add(1)
		go func(w int) {
			defer ww.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var mine []*subscription
			for i := 0; i < perWriter; i++ {
				subj := []string{"c.*", "c.>", "c.stable", fmt.Sprintf("c.%d", i%7)}[rng.IntN(4)]
				s := newSub(subj, "")
				sl.Insert(s)
				mine = append(mine, s)
				if rng.IntN(2) == 0 {
					j := rng.IntN(len(mine))
					sl.Remove(mine[j])
					mine = append(mine[:j], mine[j+1:]...)
				}
			}
			kept[w] = mine
		}(w)
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	// Compare the final state with a brute-force model.
	all := []*subscription{stable}
	for _, k := range kept {
		all = append(all, k...)
	}
	for _, subj := range []string{"c.stable", "c.1", "c.6", "c.x"} {
		want := 0
		for _, s := range all {
			if SubjectMatchesFilter(subj, s.subject) {
				want++
			}
		}
		if got := len(sl.Match(subj).psubs); got != want {
			t.Fatalf("Match(%q) = %d subs, model says %d", subj, got, want)
		}
	}
	if int(sl.Count()) != len(all) {
		t.Fatalf("count %d, model %d", sl.Count(), len(all))
	}
}

func BenchmarkSublistMatchCached(b *testing.B) {
	sl := NewSublist()
	for i := 0; i < 1000; i++ {
		sl.Insert(newSub(fmt.Sprintf("a.%d.b", i), ""))
		sl.Insert(newSub(fmt.Sprintf("a.*.c%d", i), ""))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sl.Match("a.500.b")
	}
}

func BenchmarkSublistMatchUncached(b *testing.B) {
	sl := NewSublist()
	subjects := make([]string, 50000)
	for i := range subjects {
		sl.Insert(newSub(fmt.Sprintf("a.%d.b", i), ""))
		sl.Insert(newSub(fmt.Sprintf("a.*.c%d", i), ""))
		subjects[i] = fmt.Sprintf("a.%d.b", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sl.Match(subjects[i%len(subjects)])
	}
}
