package test

import (
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// TestLameDuckSpreadsClosesOverDuration drives lame duck mode through the
// embedding API with short durations, to check the timing precisely.
func TestLameDuckSpreadsClosesOverDuration(t *testing.T) {
	opts := DefaultTestOptions()
	opts.LameDuckDuration = 1500 * time.Millisecond
	opts.LameDuckGracePeriod = 300 * time.Millisecond
	s := RunServer(t, opts)
	const n = 10
	var mu sync.Mutex
	var closedAt []time.Time
	ldm := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		connect(t, s, nats.NoReconnect(),
			nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }),
			nats.ClosedHandler(func(*nats.Conn) {
				mu.Lock()
				closedAt = append(closedAt, time.Now())
				mu.Unlock()
			}))
	}
	addr := s.Addr().String()
	start := time.Now()
	done := make(chan struct{})
	go func() { s.LameDuckShutdown(); close(done) }()
	for i := 0; i < n; i++ {
		select {
		case <-ldm:
		case <-time.After(2 * time.Second):
			t.Fatalf("%d of %d clients told of lame duck mode", i, n)
		}
	}
	waitFor(t, 2*time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("LameDuckShutdown did not return")
	}
	if s.Running() {
		t.Fatal("still running after lame duck mode")
	}
	waitFor(t, 2*time.Second, "no clients left", func() bool { return s.NumClients() == 0 })
	waitFor(t, 2*time.Second, "all close callbacks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closedAt) == n
	})
	mu.Lock()
	defer mu.Unlock()
	first, last := closedAt[0], closedAt[0]
	for _, at := range closedAt {
		if at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if d := first.Sub(start); d < opts.LameDuckGracePeriod {
		t.Fatalf("first client closed after %v, inside the grace period", d)
	}
	if d := last.Sub(start); d > opts.LameDuckDuration+500*time.Millisecond {
		t.Fatalf("last client closed after %v, duration %v", d, opts.LameDuckDuration)
	}
	// Spread, not all at once: 10 clients over 1.2s are ~120ms apart.
	if spread := last.Sub(first); spread < 700*time.Millisecond {
		t.Fatalf("closes spread over %v only", spread)
	}
}

// With nobody connected there is nothing to wait for.
func TestLameDuckWithoutClientsStopsAtOnce(t *testing.T) {
	opts := DefaultTestOptions()
	opts.LameDuckGracePeriod = 5 * time.Second
	s := RunServer(t, opts)
	start := time.Now()
	s.LameDuckShutdown()
	if d := time.Since(start); d > 2*time.Second || s.Running() {
		t.Fatalf("took %v, running %v", d, s.Running())
	}
}

// Shutdown during the grace period ends lame duck mode early.
func TestLameDuckInterruptedByShutdown(t *testing.T) {
	opts := DefaultTestOptions()
	opts.LameDuckGracePeriod = 10 * time.Second
	s := RunServer(t, opts)
	connect(t, s, nats.NoReconnect())
	done := make(chan struct{})
	go func() { s.LameDuckShutdown(); close(done) }()
	waitFor(t, 2*time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	s.Shutdown()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("lame duck kept waiting after Shutdown")
	}
}

// The lame duck INFO names each client by its own client_id and
// client_ip, as the reference's does.
func TestLameDuckInfoNamesEachClient(t *testing.T) {
	opts := DefaultTestOptions()
	opts.LameDuckDuration, opts.LameDuckGracePeriod = 2*time.Second, time.Second
	s := RunServer(t, opts)
	raws := []*rawConn{dialRaw(t, s), dialRaw(t, s)}
	for _, rc := range raws {
		rc.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
		for rc.readLine() != "PONG" { // CONNECT processed: protocol 1 known
		}
	}
	go s.LameDuckShutdown()
	for i, rc := range raws {
		var first server.Info
		if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.info, "INFO ")), &first); err != nil {
			t.Fatal(err)
		}
		for {
			line := rc.readLine()
			if !strings.Contains(line, `"ldm":true`) {
				continue
			}
			var info server.Info
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
				t.Fatalf("client %d: lame duck INFO %q: %v", i, line, err)
			}
			if info.CID != first.CID || info.ClientIP != "127.0.0.1" {
				t.Fatalf("client %d: lame duck INFO has client_id %d client_ip %q, want %d, 127.0.0.1", i, info.CID, info.ClientIP, first.CID)
			}
			break
		}
	}
}
