package server

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkResponseRoutes is one service request through an import while
// n earlier requests are still waiting for a response (their responders
// never answered): a new route is opened and the oldest waiting one gets its
// answer, so n stays steady. The cost per request must not grow with n.
func BenchmarkResponseRoutes(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoLog: true, NoSigs: true})
			if err != nil {
				b.Fatal(err)
			}
			from := s.registerAccount(NewAccount("EXP"))
			se := &serviceExport{subject: "svc", respType: "singleton", threshold: time.Hour}
			open := make([]string, 0, n+b.N)
			for i := 0; i < n; i++ {
				open = append(open, from.addResponseRoute(s, s.gacc, "_INBOX.x", se))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				open = append(open, from.addResponseRoute(s, s.gacc, "_INBOX.x", se))
				from.forwardResponse(s, open[i], nil, nil)
			}
		})
	}
}

// Routes opened, answered and expired in random order against a model: the
// map and the heap always hold the same routes, the heap stays ordered, and
// expiring at time now closes exactly the routes that ran out before now.
func TestResponseRoutesExpireInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rr := &respRoutes{routes: map[string]*responseRoute{}}
	model := map[string]int64{}
	now := int64(1_000)
	for step := 0; step < 20_000; step++ {
		switch op := rng.IntN(10); {
		case op < 5:
			r := &responseRoute{subject: fmt.Sprint("r", step), expires: now + rng.Int64N(500)}
			rr.addLocked(r)
			model[r.subject] = r.expires
		case op < 7 && len(rr.routes) > 0:
			// A singleton answered: any open route may leave.
			r := rr.expiry[rng.IntN(len(rr.expiry))]
			rr.removeLocked(r)
			delete(model, r.subject)
		default:
			now += rng.Int64N(100)
			rr.expireLocked(now)
			for k, exp := range model {
				if exp < now {
					delete(model, k)
				}
			}
		}
		if len(rr.routes) != len(model) || len(rr.expiry) != len(model) {
			t.Fatalf("step %d: map %d heap %d model %d", step, len(rr.routes), len(rr.expiry), len(model))
		}
		for i, r := range rr.expiry {
			if r.slot != i || rr.routes[r.subject] != r || model[r.subject] != r.expires {
				t.Fatalf("step %d: route %q at %d (slot %d) disagrees", step, r.subject, i, r.slot)
			}
			if p := (i - 1) / 2; i > 0 && rr.expiry[p].expires > r.expires {
				t.Fatalf("step %d: heap order broken at %d", step, i)
			}
		}
	}
}

// Past its threshold a route is closed by the next request, whatever the
// number of routes: nothing waits for a size to be reached.
func TestResponseRoutesClosedAfterThreshold(t *testing.T) {
	s, err := NewServer(&Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	from := s.registerAccount(NewAccount("EXP"))
	short := &serviceExport{subject: "svc", respType: "stream", threshold: time.Millisecond}
	long := &serviceExport{subject: "svc", respType: "stream", threshold: time.Hour}
	var expiring []string
	for i := 0; i < 10; i++ {
		expiring = append(expiring, from.addResponseRoute(s, s.gacc, "_INBOX.a", short))
	}
	kept := from.addResponseRoute(s, s.gacc, "_INBOX.b", long)
	deadline := time.Now().Add(5 * time.Second)
	for {
		from.addResponseRoute(s, s.gacc, "_INBOX.c", long)
		from.resp.mu.Lock()
		open := 0
		for _, subj := range expiring {
			if from.resp.routes[subj] != nil {
				open++
			}
		}
		ok := from.resp.routes[kept] != nil
		from.resp.mu.Unlock()
		if !ok {
			t.Fatal("a route within its threshold was closed")
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d routes still open long after a 1ms threshold", open)
		}
		time.Sleep(time.Millisecond)
	}
}
