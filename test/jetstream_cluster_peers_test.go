package test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// metaSize is the meta group's size as s sees it (0: no JetStream).
func metaSize(s *server.Server) int {
	if !s.JetStreamEnabled() {
		return 0
	}
	if m := s.Jsz(nil).Meta; m != nil {
		return m.Size
	}
	return 0
}

// removeServer asks for a removal, answered once it is applied.
func removeServer(t *testing.T, sys *nats.Conn, body string) map[string]any {
	t.Helper()
	got := answers(t, sys, "$JS.API.SERVER.REMOVE", body, 8*time.Second)
	if len(got) != 1 {
		t.Fatalf("SERVER.REMOVE %s: %d answers: %v", body, len(got), got)
	}
	return got[0]
}

// SERVER.REMOVE: the reference's errors, removal by name (the removed
// server disables JetStream and is not added back while it runs), its
// return after a restart, removal of the meta leader by peer id.
func TestJetStreamClusterServerRemove(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, opts := runRaftzClusterOpts(t)
	sys := connect(t, servers[0], nats.UserInfo("sys", "sys"))
	for body, want := range map[string]float64{``: 10003, `{}`: 10003, `{"peer":"nope"}`: 10044,
		`{"peer_id":"zzzzzzzz"}`: 10044, `{"bad`: 10025, `{"peer":"s1","x":1}`: 10025} {
		m := one(t, sys, "$JS.API.SERVER.REMOVE", body)
		if _, ec, _ := apiErr(m); float64(ec) != want || m["type"] != "io.nats.jetstream.api.v1.meta_server_remove_response" {
			t.Errorf("%q: %v", body, m)
		}
	}
	// Another account gets no answer (a system-account request).
	if got := answers(t, connect(t, servers[0]), "$JS.API.SERVER.REMOVE", `{"peer":"s2"}`, 700*time.Millisecond); len(got) != 0 {
		t.Fatalf("from $G: %v", got)
	}
	if m := removeServer(t, sys, `{"peer":"s2"}`); m["success"] != true {
		t.Fatalf("remove s2: %v", m)
	}
	waitFor(t, 15*time.Second, "s2 out of the meta group, its JetStream disabled", func() bool {
		return metaSize(servers[0]) == 2 && metaSize(servers[1]) == 2 && !servers[2].JetStreamEnabled()
	})
	// Still connected, it is not added back (several leader ticks).
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := metaSize(servers[0]); n != 2 {
			t.Fatalf("meta size %d after the removal", n)
		}
	}
	if _, ec, _ := apiErr(one(t, sys, "$JS.API.SERVER.REMOVE", `{"peer":"s2"}`)); ec != 10044 {
		t.Fatal("a removed server is still a member")
	}
	// Restarted, it is a new process and joins again.
	servers[2].Shutdown()
	servers[2].WaitForShutdown()
	servers[2] = RunServer(t, opts[2])
	waitMetaLeader(t, servers)
	// The meta leader removes itself, named by peer id.
	var leader *server.Server
	var peer string
	waitFor(t, 10*time.Second, "a meta leader", func() bool {
		for _, s := range servers {
			if m := s.Jsz(nil).Meta; m != nil && m.Leader == s.Name() {
				leader, peer = s, m.Peer
				return true
			}
		}
		return false
	})
	if m := removeServer(t, sys, `{"peer_id":"`+peer+`"}`); m["success"] != true {
		t.Fatalf("remove the leader %s: %v", leader.Name(), m)
	}
	var rest []*server.Server
	for _, s := range servers {
		if s != leader {
			rest = append(rest, s)
		}
	}
	waitFor(t, 15*time.Second, "a new leader of the two others", func() bool {
		for _, s := range rest {
			m := s.Jsz(nil).Meta
			if m == nil || m.Size != 2 || m.Leader == "" || m.Leader == leader.Name() {
				return false
			}
		}
		return !leader.JetStreamEnabled()
	})
	nc := connect(t, rest[0])
	if m := one(t, nc, "$JS.API.STREAM.CREATE.AFTER", `{"name":"AFTER"}`); m["did_create"] != true {
		t.Fatalf("create after removals: %v", m)
	}
}

// A stream whose server is down: the meta leader says 10118 (stream is
// offline) to its info request, after the reference's 500 ms; without a
// meta leader the member says 10008 after the same delay.
func TestJetStreamClusterStreamOffline(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	m := one(t, nc, "$JS.API.STREAM.CREATE.OFF", `{"name":"OFF","subjects":["off"]}`)
	host := m["cluster"].(map[string]any)["leader"].(string)
	var down *server.Server
	var up []*server.Server
	for _, s := range servers {
		if s.Name() == host {
			down = s
		} else {
			up = append(up, s)
		}
	}
	down.Shutdown()
	down.WaitForShutdown()
	nc = connect(t, up[0])
	waitFor(t, 20*time.Second, "10118 from the meta leader", func() bool {
		start := time.Now()
		got := answers(t, nc, "$JS.API.STREAM.INFO.OFF", "", 1500*time.Millisecond)
		if len(got) != 1 {
			return false
		}
		_, ec, desc := apiErr(got[0])
		if ec == 10118 && (desc != "stream is offline" || time.Since(start) < 500*time.Millisecond) {
			t.Fatalf("%v after %v", got[0], time.Since(start))
		}
		return ec == 10118
	})
	// Without a quorum, an info request gets 10008 after the same delay,
	// for that stream and for one that does not exist.
	up[1].Shutdown()
	up[1].WaitForShutdown()
	for _, name := range []string{"OFF", "NOPE"} {
		waitFor(t, 20*time.Second, "10008 for "+name+" without a meta leader", func() bool {
			start := time.Now()
			got := answers(t, nc, "$JS.API.STREAM.INFO."+name, "", 1500*time.Millisecond)
			if len(got) != 1 {
				return false
			}
			_, ec, _ := apiErr(got[0])
			if ec == 10008 && time.Since(start) < 500*time.Millisecond {
				t.Fatalf("%s: 10008 before the delay", name)
			}
			return ec == 10008
		})
	}
}
