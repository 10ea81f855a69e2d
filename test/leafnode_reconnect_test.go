package test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// acceptTimes accepts on l until it closes, closing each connection at
// once (a hub that goes away before INFO), and records when each came.
type acceptTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (a *acceptTimes) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		a.times = append(a.times, time.Now())
		a.mu.Unlock()
		c.Close()
	}
}

func (a *acceptTimes) snapshot() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times...)
}

// A remote that keeps failing is retried after reconnect, then twice as
// long each time (with jitter: between half and all of it); once a
// connection has registered, the next failure starts from reconnect again.
func TestLeafReconnectBackoff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var at acceptTimes
	go at.serve(l)
	const base = 100 * time.Millisecond
	leaf := leafOf(t, l.Addr().(*net.TCPAddr).Port, "", "", func(o *server.Options) { o.LeafNode.ReconnectDelay = base })
	waitFor(t, 20*time.Second, "five attempts", func() bool { return len(at.snapshot()) >= 5 })
	times := at.snapshot()
	for i := 1; i < 5; i++ {
		d := base << (i - 1)
		if gap := times[i].Sub(times[i-1]); gap < d/2-20*time.Millisecond {
			t.Fatalf("attempt %d came %v after the previous one, want at least %v (backoff %v)", i+1, gap, d/2, d)
		}
	}
	if times[4].Sub(times[3]) <= times[1].Sub(times[0]) {
		t.Fatalf("no backoff: gaps %v", gapsOf(times))
	}
	l.Close()

	// A hub on that port: the leaf registers, then the hub goes; the
	// first retry comes within the base delay (plus scheduling), not
	// after the backoff reached so far.
	hub := leafHub(t, func(o *server.Options) { o.LeafNode.Port = l.Addr().(*net.TCPAddr).Port })
	waitLeafs(t, 1, hub, leaf)
	hub.Shutdown()
	l2, err := net.Listen("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	var again acceptTimes
	go again.serve(l2)
	down := time.Now()
	waitFor(t, 20*time.Second, "a retry after the hub went", func() bool { return len(again.snapshot()) >= 1 })
	// Without the reset the next retry would wait 1.6 s at least (attempt 7:
	// 3.2 s, jittered).
	if gap := again.snapshot()[0].Sub(down); gap > time.Second {
		t.Fatalf("first retry after a registered connection came %v later (backoff not reset)", gap)
	}
}

func gapsOf(times []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(times); i++ {
		out = append(out, times[i].Sub(times[i-1]))
	}
	return out
}

// A disabled remote is never dialed; no_randomize dials the URLs in
// their order (a first URL that fails, then the hub).
func TestLeafRemoteDisabledAndNoRandomize(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var at acceptTimes
	go at.serve(l)
	hub := leafHub(t, nil)
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "leaf.conf", fmt.Sprintf(`
port: -1
leafnodes { reconnect: "50ms", remotes [
  { url: "nats://%s", disabled: true }
  { urls: ["nats://%s", "nats://127.0.0.1:%d"], no_randomize: true }
] }`, l.Addr(), l.Addr(), hub.LeafAddr().Port)))
	if err != nil {
		t.Fatal(err)
	}
	if !o.LeafNode.Remotes[0].Disabled || !o.LeafNode.Remotes[1].NoRandomize {
		t.Fatalf("parsed %+v %+v", o.LeafNode.Remotes[0], o.LeafNode.Remotes[1])
	}
	o.NoLog, o.NoSigs = true, true
	leaf := RunServer(t, o)
	waitLeafs(t, 1, hub, leaf)
	// The second remote tried its first URL first, once; the disabled one
	// never dialed.
	if n := len(at.snapshot()); n != 1 {
		t.Fatalf("the failing listener was dialed %d times, want 1 (no_randomize's first URL, no disabled remote)", n)
	}
}

// A hub that accepts but never sends INFO: the leaf gives up after
// first_info_timeout (1 s by default), as the reference does.
func TestLeafFirstInfoTimeout(t *testing.T) {
	for _, tc := range []struct {
		conf string
		want time.Duration
	}{{`, first_info_timeout: "300ms"`, 300 * time.Millisecond}, {"", time.Second}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "leaf.conf", fmt.Sprintf(
			"port: -1\nleafnodes { remotes [ { url: \"nats://%s\" %s } ] }\n", l.Addr(), tc.conf)))
		if err != nil {
			t.Fatal(err)
		}
		o.NoLog, o.NoSigs = true, true
		RunServer(t, o)
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.SetReadDeadline(start.Add(10 * time.Second))
		_, err = io.ReadAll(c) // the leaf sends nothing before INFO, then closes
		took := time.Since(start)
		c.Close()
		if err != nil || took < tc.want-50*time.Millisecond || took > tc.want+2*time.Second {
			t.Fatalf("%q: closed after %v (%v), want about %v", tc.conf, took, err, tc.want)
		}
	}
}
