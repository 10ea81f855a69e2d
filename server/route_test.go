package server

import (
	"testing"
	"time"
)

// Reconnect delays: a second with jitter, doubling up to 30 s with
// connect_backoff, never zero, so that restarting servers do not retry in
// lock step nor spin.
func TestRouteRetryDelay(t *testing.T) {
	s, err := NewServer(&Options{NoLog: true, NoSigs: true, Cluster: ClusterOpts{Port: RANDOM_PORT}})
	if err != nil {
		t.Fatal(err)
	}
	cs := s.cluster.Load()
	for attempt := 1; attempt < 10; attempt++ {
		for i := 0; i < 50; i++ {
			if d := cs.retryDelay(attempt); d < DEFAULT_ROUTE_CONNECT/2 || d > DEFAULT_ROUTE_CONNECT {
				t.Fatalf("attempt %d without backoff: %v", attempt, d)
			}
		}
	}
	o := s.getOpts().Clone()
	o.Cluster.ConnectBackoff = true
	s.opts.Store(o)
	want := DEFAULT_ROUTE_CONNECT
	for attempt := 1; attempt < 10; attempt++ {
		d := cs.retryDelay(attempt)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d with backoff: %v, want within [%v, %v]", attempt, d, want/2, want)
		}
		want = min(want*2, DEFAULT_ROUTE_CONNECT_MAX)
	}
	if want != 30*time.Second {
		t.Fatalf("backoff ceiling %v", want)
	}
}

// The pool index is the reference's: FNV-1a of the account name modulo
// the pool size (observed on the reference: $G on index 2 of 3, B on 0,
// ACC on 1).
func TestRoutePoolIndex(t *testing.T) {
	cs := &clusterState{poolSize: 3}
	for name, want := range map[string]int{"$G": 2, "A": 0, "B": 0, "ACC": 1} {
		if got := cs.poolIndex(name); got != want {
			t.Errorf("poolIndex(%q) = %d, want %d", name, got, want)
		}
	}
}
