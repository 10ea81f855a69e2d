package test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errCode is the err_code of an API answer (0: none).
func errCode(m map[string]any) float64 {
	if e, ok := m["error"].(map[string]any); ok {
		code, _ := e["err_code"].(float64)
		return code
	}
	return 0
}

// consumerLeader asks for a consumer's info until its leader answers and
// returns the leader's name.
func consumerLeader(t *testing.T, js jetstream.JetStream, stream, name string) string {
	t.Helper()
	var lead string
	waitFor(t, 20*time.Second, "the info of consumer "+name, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return false
		}
		ci := c.CachedInfo()
		if ci.Cluster != nil {
			lead = ci.Cluster.Leader
		}
		return lead != ""
	})
	return lead
}

// durableAcked creates durable D on stream and double-acks its first n
// messages.
func durableAcked(t *testing.T, js jetstream.JetStream, stream string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// durableNext waits for durable D's next message and returns its stream
// sequence.
func durableNext(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	var m jetstream.Msg
	waitFor(t, 20*time.Second, "the durable's next message", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, stream, "D")
		if err != nil {
			return false
		}
		m, err = c.Next(jetstream.FetchMaxWait(2 * time.Second))
		return err == nil
	})
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md.Sequence.Stream
}

// CONSUMER.LEADER.STEPDOWN on an R3 stream: one success answer, the
// consumer's leader moves to another replica and the consumer goes on
// from its acknowledged state; the reference's errors and its answers for
// an R1 stream (its consumer's and its own) and a body that is not JSON.
func TestJetStreamClusterConsumerStepdown(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "CS", 3)
	asyncPublish(t, js, "CS.a", 0, 10)
	durableAcked(t, js, "CS", 4)
	before := consumerLeader(t, js, "CS", "D")
	got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", "")
	if got["success"] != true || got["type"] != "io.nats.jetstream.api.v1.consumer_leader_stepdown_response" {
		t.Fatalf("stepdown answered %v", got)
	}
	var after string
	waitFor(t, 20*time.Second, "a new consumer leader", func() bool {
		after = consumerLeader(t, js, "CS", "D")
		return after != before
	})
	// The consumer resumes after what was acknowledged.
	if seq := durableNext(t, js, "CS"); seq != 5 {
		t.Fatalf("after the stepdown the consumer delivered sequence %d, want 5", seq)
	}

	// The preferred server, then errors as the reference's.
	before = after
	for _, s := range servers {
		if s.Name() != before {
			got = one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", `{"placement":{"preferred":"`+s.Name()+`"}}`)
			if got["success"] != true {
				t.Fatalf("stepdown to %s answered %v", s.Name(), got)
			}
			waitFor(t, 20*time.Second, "leader "+s.Name(), func() bool { return consumerLeader(t, js, "CS", "D") == s.Name() })
			break
		}
	}
	for subj, want := range map[string]float64{
		"$JS.API.CONSUMER.LEADER.STEPDOWN.CS.NOPE": 10014,
		"$JS.API.CONSUMER.LEADER.STEPDOWN.NOPE.D":  10059,
	} {
		if got := one(t, nc, subj, ""); errCode(got) != want {
			t.Fatalf("%s answered %v, want %v", subj, got, want)
		}
	}
	if got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", `{"placement":{"preferred":"s9"}}`); errCode(got) != 10005 {
		t.Fatalf("an unknown preferred server answered %v", got)
	}
	if got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.CS.D", `garbage`); got["success"] != true {
		t.Fatalf("a body that is not JSON answered %v (the reference ignores it)", got)
	}
	// Three servers: none is left to replace a peer, nothing changes.
	if got := one(t, nc, "$JS.API.STREAM.PEER.REMOVE.CS", `{"peer":"`+servers[0].Name()+`"}`); errCode(got) != 10075 {
		t.Fatalf("PEER.REMOVE without a spare server answered %v, want 10075", got)
	}
	if si := waitReplicas(t, js, "CS", 3, 10); !slices.Contains(replicaNames(si), servers[0].Name()) {
		t.Fatalf("a refused removal changed the peers: %+v", si.Cluster)
	}
	// An R1 stream's consumer: success, as the reference.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ONE", Subjects: []string{"one"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "ONE", jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatal(err)
	}
	if got := one(t, nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.ONE.D", ""); got["success"] != true {
		t.Fatalf("an R1 consumer's stepdown answered %v", got)
	}
	if got := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.ONE", ""); got["success"] != true {
		t.Fatalf("an R1 stream's stepdown answered %v", got)
	}
}

// Without a cluster the stepdown needs clustering, as the reference says.
func TestJetStreamConsumerStepdownNeedsCluster(t *testing.T) {
	opts := DefaultTestOptions()
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	s := RunServer(t, opts)
	nc := connect(t, s)
	msg, err := nc.Request("$JS.API.CONSUMER.LEADER.STEPDOWN.S.C", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"io.nats.jetstream.api.v1.consumer_leader_stepdown_response","error":{"code":503,"err_code":10010,"description":"JetStream clustering support required"}}`; string(msg.Data) != want {
		t.Fatalf("got %s\nwant %s", msg.Data, want)
	}
}

// replicaNames is the stream's leader and replicas as its info shows them.
func replicaNames(si *jetstream.StreamInfo) []string {
	names := []string{si.Cluster.Leader}
	for _, p := range si.Cluster.Replicas {
		names = append(names, p.Name)
	}
	return names
}

// waitReplicas waits until the stream's info shows n servers (leader and
// replicas) all current, with every message, and returns the info.
func waitReplicas(t *testing.T, js jetstream.JetStream, name string, n int, msgs uint64) *jetstream.StreamInfo {
	t.Helper()
	var si *jetstream.StreamInfo
	waitFor(t, 60*time.Second, "stream "+name+" on its new peers", func() bool {
		si = streamInfo(t, js, name)

		if si.Config.Replicas != n || len(si.Cluster.Replicas) != n-1 || si.State.Msgs != msgs {
			return false
		}
		for _, p := range si.Cluster.Replicas {
			if !p.Current {
				return false
			}
		}
		return true
	})
	return si
}

// updateReplicas changes num_replicas through STREAM.UPDATE.
func updateReplicas(t *testing.T, js jetstream.JetStream, name string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Replicas = n
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("update %s to R%d: %v", name, n, err)
	}
}

// num_replicas by stream update on five servers: R1 -> R3 -> R5 -> R3 ->
// R1, publishing at each step; every acknowledged message is readable at
// each step, a durable consumer keeps its place, and the servers left out
// drop their copies.
func TestJetStreamClusterScaleReplicas(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 5)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "SC", 1)
	acked := asyncPublish(t, js, "SC.a", 0, 100)
	durableAcked(t, js, "SC", 10)
	total := 100
	for _, n := range []int{3, 5, 3, 1} {
		updateReplicas(t, js, "SC", n)
		si := waitReplicas(t, js, "SC", n, uint64(total))
		if n > 1 && si.Cluster.RaftGroup == "" {
			t.Fatalf("R%d without a raft group: %+v", n, si.Cluster)
		}
		for k, v := range asyncPublish(t, js, "SC.a", total, 50) {
			acked[k] = v
		}
		total += 50
		readAll(t, js, "SC", acked, uint64(total))
		// Only the stream's servers store it, each with every message.
		hosts := replicaNames(streamInfo(t, js, "SC"))
		waitFor(t, 30*time.Second, "every message on the stream's servers only", func() bool {
			for _, s := range servers {
				jsz := s.Jsz(nil)
				if (jsz.Streams > 0) != slices.Contains(hosts, s.Name()) || (jsz.Streams > 0 && jsz.Messages != uint64(total)) {
					return false
				}
			}
			return true
		})
	}
	// The durable consumer resumes after its acknowledged messages.
	if seq := durableNext(t, js, "SC"); seq != 11 {
		t.Fatalf("the durable delivered sequence %d after scaling, want 11", seq)
	}
}

// STREAM.PEER.REMOVE on five servers: the peer leaves, another server
// takes its place with every message; the leader itself can be removed;
// the reference's errors.
func TestJetStreamClusterStreamPeerRemove(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 5)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "PR", 3)
	acked := asyncPublish(t, js, "PR.a", 0, 200)
	si := waitReplicas(t, js, "PR", 3, 200)
	for body, want := range map[string]float64{``: 10003, `{}`: 10003, `{"peer":"nope"}`: 10040, `junk`: 10025} {
		if got := one(t, nc, "$JS.API.STREAM.PEER.REMOVE.PR", body); errCode(got) != want {
			t.Fatalf("PEER.REMOVE %q answered %v, want %v", body, got, want)
		}
	}
	if got := one(t, nc, "$JS.API.STREAM.PEER.REMOVE.NOPE", `{"peer":"s1"}`); errCode(got) != 10059 {
		t.Fatalf("PEER.REMOVE of an unknown stream answered %v", got)
	}
	for _, victim := range []string{si.Cluster.Replicas[0].Name, si.Cluster.Leader} {
		got := answers(t, nc, "$JS.API.STREAM.PEER.REMOVE.PR", `{"peer":"`+victim+`"}`, 6*time.Second)
		if len(got) != 1 || got[0]["success"] != true {
			t.Fatalf("removing %s answered %v", victim, got)
		}
		waitFor(t, 60*time.Second, victim+" replaced", func() bool {
			si = waitReplicas(t, js, "PR", 3, 200)
			return !slices.Contains(replicaNames(si), victim)
		})
		readAll(t, js, "PR", acked, 200)
	}
	// A replica whose server is down is replaced as well.
	var victim string
	for _, p := range si.Cluster.Replicas {
		if p.Name != servers[0].Name() {
			victim = p.Name
		}
	}
	down := serverNamed(t, servers, victim)
	servers[down].Shutdown()
	servers[down].WaitForShutdown()
	var got []map[string]any
	// Asked again while the meta group elects a leader (the server may
	// have led it): no answer comes meanwhile.
	waitFor(t, 30*time.Second, "an answer to removing "+victim, func() bool {
		got = answers(t, nc, "$JS.API.STREAM.PEER.REMOVE.PR", `{"peer":"`+victim+`"}`, 6*time.Second)
		return len(got) > 0 && errCode(got[0]) != 10008
	})
	if len(got) != 1 || got[0]["success"] != true {
		t.Fatalf("removing %s (down) answered %v", victim, got)
	}
	waitFor(t, 60*time.Second, victim+" (down) replaced", func() bool {
		si = waitReplicas(t, js, "PR", 3, 200)
		return !slices.Contains(replicaNames(si), victim)
	})
	readAll(t, js, "PR", acked, 200)
}

// A stream made replicated from R1 survives every server restarting, one
// at a time (the meta log replays the change): the group is back with all
// its messages and takes more.
func TestJetStreamClusterScaleSurvivesRestarts(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, opts := runJSClusterOpts(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "RS", 1)
	acked := asyncPublish(t, js, "RS.a", 0, 50)
	updateReplicas(t, js, "RS", 3)
	waitReplicas(t, js, "RS", 3, 50)
	for i := range servers {
		opts[i].Cluster.Port = servers[i].ClusterAddr().Port
		servers[i].Shutdown()
		servers[i].WaitForShutdown()
		servers[i] = RunServer(t, opts[i])
		waitMetaLeader(t, servers)
		nc2 := connect(t, servers[(i+1)%3])
		js2, err := jetstream.New(nc2)
		if err != nil {
			t.Fatal(err)
		}
		waitReplicas(t, js2, "RS", 3, uint64(50+10*i))
		for k, v := range asyncPublish(t, js2, "RS.a", 50+10*i, 10) {
			acked[k] = v
		}
	}
	js3, err := jetstream.New(connect(t, servers[2]))
	if err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, js3, "RS", 3, 80)
	readAll(t, js3, "RS", acked, 80)
}

// New members fetch more than max_payload of messages in several answers
// (one answer that large would close the route it crosses).
func TestJetStreamClusterScaleLargeCatchup(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "BIG", 1)
	body := strings.Repeat("x", 1024)
	futs := make([]jetstream.PubAckFuture, 0, 3000)
	for range 3000 {
		f, err := js.PublishAsync("BIG.a", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("no ack in 30s")
		}
	}
	updateReplicas(t, js, "BIG", 3)
	waitReplicas(t, js, "BIG", 3, 3000)
	waitReplicaMsgs(t, servers, 3000)
}
