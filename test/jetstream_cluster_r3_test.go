package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// r3Stream creates an R3 file stream named name on subjects name.> through
// nc and returns its jetstream handle.
func r3Stream(t *testing.T, nc *nats.Conn, name string, replicas int) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"},
		Replicas: replicas, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create %s R%d: %v", name, replicas, err)
	}
	return js
}

// streamInfo asks for a stream's info until its leader answers.
func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	var si *jetstream.StreamInfo
	waitFor(t, 20*time.Second, "the info of "+name+" from its leader", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false
		}
		si = s.CachedInfo()
		return si.Cluster != nil && si.Cluster.Leader != ""
	})
	return si
}

// serverNamed returns the running server called name.
func serverNamed(t *testing.T, servers []*server.Server, name string) int {
	t.Helper()
	for i, s := range servers {
		if s.Name() == name && s.Running() {
			return i
		}
	}
	t.Fatalf("no running server %q", name)
	return -1
}

// waitReplicaMsgs waits until every running server stores want messages
// (each replica reports its own store in /jsz).
func waitReplicaMsgs(t *testing.T, servers []*server.Server, want uint64) {
	t.Helper()
	got := make([]uint64, len(servers))
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for i, s := range servers {
			if s.Running() {
				got[i] = s.Jsz(nil).Messages
				ok = ok && got[i] == want
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d messages on every replica: %v", want, got)
		}
		time.Sleep(20 * time.Millisecond) // polling /jsz: nothing to await
	}
}

// asyncPublish publishes n messages without waiting, then collects the
// acks: it returns the payload each acknowledged sequence must hold.
func asyncPublish(t *testing.T, js jetstream.JetStream, subj string, from, n int) map[uint64]string {
	t.Helper()
	futs := make([]jetstream.PubAckFuture, 0, n)
	for i := from; i < from+n; i++ {
		f, err := js.PublishAsync(subj, []byte("msg-"+strconv.Itoa(i)), jetstream.WithMsgID("id-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	acked := make(map[uint64]string, n)
	for _, f := range futs {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				t.Fatalf("%s: duplicate", f.Msg().Data)
			}
			acked[ack.Sequence] = string(f.Msg().Data)
		case err := <-f.Err():
			t.Fatalf("publish %s: %v", f.Msg().Data, err)
		case <-time.After(30 * time.Second):
			t.Fatal("no ack in 30s")
		}
	}
	return acked
}

// readAll reads sequences 1..last through an ordered consumer and checks
// that each acknowledged message is there exactly once, in order.
func readAll(t *testing.T, js jetstream.JetStream, name string, acked map[uint64]string, last uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var cons jetstream.Consumer
	waitFor(t, 20*time.Second, "an ordered consumer on "+name, func() bool {
		var err error
		cons, err = js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{})
		return err == nil
	})
	var want uint64 = 1
	for want <= last {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			if md.Sequence.Stream != want {
				t.Fatalf("read sequence %d, want %d (reordered, lost or duplicated)", md.Sequence.Stream, want)
			}
			if p, ok := acked[want]; ok && p != string(m.Data()) {
				t.Fatalf("sequence %d holds %q, acknowledged as %q", want, m.Data(), p)
			}
			want++
			got++
		}
		if got == 0 {
			t.Fatalf("nothing more to read after sequence %d of %d", want-1, last)
		}
	}
}

// An R3 stream: acknowledged publishes are stored on every replica; the
// leader's server goes away, a new leader has every acknowledged message
// exactly once and in order and takes publishes (Nats-Msg-Id still
// deduplicated); the server comes back and catches up.
func TestJetStreamClusterR3LeaderFailover(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, opts := runJSClusterOpts(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "ORDERS", 3)
	si := streamInfo(t, js, "ORDERS")
	if si.Config.Replicas != 3 || len(si.Cluster.Replicas) != 2 || si.Cluster.Name != "rc" {
		t.Fatalf("cluster block %+v", si.Cluster)
	}
	const n = 3000
	acked := asyncPublish(t, js, "ORDERS.new", 0, n)
	if len(acked) != n {
		t.Fatalf("%d distinct sequences acknowledged of %d", len(acked), n)
	}
	waitReplicaMsgs(t, servers, n)

	lead := serverNamed(t, servers, si.Cluster.Leader)
	// The others' routes lead to the seed's port: it comes back on it.
	opts[lead].Cluster.Port = servers[lead].ClusterAddr().Port
	servers[lead].Shutdown()
	servers[lead].WaitForShutdown()
	alive := servers[(lead+1)%3]
	nc2 := connect(t, alive)
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	var si2 *jetstream.StreamInfo
	waitFor(t, 20*time.Second, "a new leader", func() bool {
		si2 = streamInfo(t, js2, "ORDERS")
		return si2.Cluster.Leader != si.Cluster.Leader
	})
	if si2.State.Msgs != n || si2.State.LastSeq != n {
		t.Fatalf("new leader's state %+v", si2.State)
	}
	readAll(t, js2, "ORDERS", acked, n)

	// A retry of an acknowledged publish is still a duplicate.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var ack *jetstream.PubAck
	waitFor(t, 10*time.Second, "a publish under the new leader", func() bool {
		ack, err = js2.Publish(ctx, "ORDERS.new", []byte("msg-7"), jetstream.WithMsgID("id-7"))
		return err == nil
	})
	if !ack.Duplicate || ack.Sequence != 8 {
		t.Fatalf("retry of id-7: %+v", ack)
	}
	more := asyncPublish(t, js2, "ORDERS.new", n, 500)
	for k, v := range more {
		acked[k] = v
	}

	// The old leader returns and catches up from the others.
	servers[lead] = RunServer(t, opts[lead])
	waitReplicaMsgs(t, servers, n+500)
	readAll(t, js2, "ORDERS", acked, n+500)
}

// Purge, message delete and config updates of an R3 stream reach every
// replica; the answers are the leader's, one per request.
func TestJetStreamClusterR3AdminThroughGroup(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[1])
	js := r3Stream(t, nc, "ADM", 3)
	acked := asyncPublish(t, js, "ADM.a", 0, 100)
	if len(acked) != 100 {
		t.Fatal("acks")
	}
	waitReplicaMsgs(t, servers, 100)

	if m := one(t, nc, "$JS.API.STREAM.MSG.DELETE.ADM", `{"seq":5}`); m["success"] != true {
		t.Fatalf("delete: %v", m)
	}
	waitReplicaMsgs(t, servers, 99)
	m := one(t, nc, "$JS.API.STREAM.PURGE.ADM", `{"keep":10}`)
	if m["success"] != true || m["purged"] != float64(89) {
		t.Fatalf("purge: %v", m)
	}
	waitReplicaMsgs(t, servers, 10)
	m = one(t, nc, "$JS.API.STREAM.UPDATE.ADM", `{"name":"ADM","subjects":["ADM.>"],"num_replicas":3,"max_msgs":4}`)
	if cfg, _ := m["config"].(map[string]any); cfg == nil || cfg["max_msgs"] != float64(4) {
		t.Fatalf("update: %v", m)
	}
	waitReplicaMsgs(t, servers, 4)
	// num_replicas changes alone (jetstream_cluster_scale_test.go).
	m = one(t, nc, "$JS.API.STREAM.UPDATE.ADM", `{"name":"ADM","subjects":["ADM.>"],"num_replicas":1,"max_msgs":5}`)
	if _, ec, desc := apiErr(m); ec != 10052 || !strings.Contains(desc, "not supported yet") {
		t.Fatalf("update to R1 with max_msgs: %v", m)
	}
	m = one(t, nc, "$JS.API.STREAM.MSG.DELETE.ADM", `{"seq":5}`)
	if _, ec, _ := apiErr(m); ec == 0 {
		t.Fatalf("delete of a purged sequence: %v", m)
	}
	m = one(t, nc, "$JS.API.CONSUMER.CREATE.ADM.C5", `{"stream_name":"ADM","config":{"name":"C5","num_replicas":5,"ack_policy":"explicit"}}`)
	if _, ec, _ := apiErr(m); ec != 10126 {
		t.Fatalf("consumer with more replicas than its stream: %v", m)
	}
	// Names and list come from the meta leader, with the cluster block.
	m = one(t, nc, "$JS.API.STREAM.LIST", "")
	list, _ := m["streams"].([]any)
	if len(list) != 1 {
		t.Fatalf("list: %v", m)
	}
	cl, _ := list[0].(map[string]any)["cluster"].(map[string]any)
	if reps, _ := cl["replicas"].([]any); cl["leader"] == nil || len(reps) != 2 {
		t.Fatalf("list's cluster block: %v", cl)
	}
	// Deleting the stream removes it from every replica.
	if m := one(t, nc, "$JS.API.STREAM.DELETE.ADM", ""); m["success"] != true {
		t.Fatalf("delete stream: %v", m)
	}
	waitFor(t, 10*time.Second, "the stream gone from every replica", func() bool {
		for _, s := range servers {
			if s.Jsz(nil).Streams != 0 {
				return false
			}
		}
		return true
	})
}

// STREAM.LEADER.STEPDOWN moves the leadership (to the preferred server if
// named) and answers as the reference does.
func TestJetStreamClusterR3Stepdown(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[2])
	// One answer, from the leader, with its replicas current.
	m := one(t, nc, "$JS.API.STREAM.CREATE.SD", `{"name":"SD","subjects":["SD.>"],"num_replicas":3}`)
	cl, _ := m["cluster"].(map[string]any)
	reps, _ := cl["replicas"].([]any)
	if m["did_create"] != true || cl["raft_group"] == nil || cl["leader_since"] == nil || cl["traffic_account"] != "$SYS" || len(reps) != 2 {
		t.Fatalf("create: %v", m)
	}
	for _, r := range reps {
		if r.(map[string]any)["current"] != true {
			t.Fatalf("create's replicas: %v", reps)
		}
	}
	js, _ := jetstream.New(nc)
	old := streamInfo(t, js, "SD").Cluster.Leader
	m = one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.SD", "")
	if m["success"] != true || m["type"] != "io.nats.jetstream.api.v1.stream_leader_stepdown_response" {
		t.Fatalf("stepdown: %v", m)
	}
	waitFor(t, 10*time.Second, "a new stream leader", func() bool { return streamInfo(t, js, "SD").Cluster.Leader != old })
	m = one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.SD", `{"placement":{"preferred":"nope"}}`)
	if _, ec, desc := apiErr(m); ec != 10005 || desc != `preferred server "nope" not known` {
		t.Fatalf("unknown preferred: %v", m)
	}
	m = one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.SD", fmt.Sprintf(`{"placement":{"preferred":%q}}`, old))
	if m["success"] != true {
		t.Fatalf("preferred stepdown: %v", m)
	}
	waitFor(t, 10*time.Second, "the preferred leader", func() bool { return streamInfo(t, js, "SD").Cluster.Leader == old })
	m = one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.NOPE", "")
	if _, ec, _ := apiErr(m); ec != 10059 {
		t.Fatalf("unknown stream: %v", m)
	}
}

// A durable pull consumer of an R3 stream moves with the leadership: what
// was acknowledged (ack-of-ack) is not delivered again by the new leader.
func TestJetStreamClusterR3ConsumerFailover(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "WQ", 3)
	asyncPublish(t, js, "WQ.a", 0, 50)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, "WQ", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	fetchAck := func(c jetstream.Consumer, n int, first uint64) {
		t.Helper()
		batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := first
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if md.Sequence.Stream != want {
				t.Fatalf("delivered sequence %d, want %d", md.Sequence.Stream, want)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			want++
		}
		if want != first+uint64(n) {
			t.Fatalf("fetched up to %d, want %d", want-1, first+uint64(n)-1)
		}
	}
	fetchAck(cons, 20, 1)
	lead := serverNamed(t, servers, streamInfo(t, js, "WQ").Cluster.Leader)
	servers[lead].Shutdown()
	servers[lead].WaitForShutdown()
	nc2 := connect(t, servers[(lead+1)%3])
	js2, _ := jetstream.New(nc2)
	var c2 jetstream.Consumer
	waitFor(t, 20*time.Second, "the consumer under the new leader", func() bool {
		ictx, icancel := context.WithTimeout(ctx, time.Second)
		defer icancel()
		c2, err = js2.Consumer(ictx, "WQ", "D")
		if err != nil {
			return false
		}
		ci := c2.CachedInfo()
		return ci.Cluster != nil && ci.Cluster.Leader != servers[lead].Name()
	})
	if ci := c2.CachedInfo(); ci.AckFloor.Stream != 20 || ci.Delivered.Stream != 20 {
		t.Fatalf("consumer state after failover: delivered %+v ack floor %+v", ci.Delivered, ci.AckFloor)
	}
	fetchAck(c2, 10, 21)
	// The consumer's config is on every replica: deleting it works on the
	// new leader and removes it everywhere.
	if err := js2.DeleteConsumer(ctx, "WQ", "D"); err != nil {
		t.Fatal(err)
	}
	if _, err := js2.Consumer(ctx, "WQ", "D"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// r3Proc is one server of a cluster of built binaries.
type r3Proc struct {
	name, conf string
	port       int
	p          *proc
}

// The same with processes of the built binary and kill -9: every
// acknowledged message survives the leader's death, and the killed server,
// started again, catches up and can lead with every message.
func TestJetStreamClusterR3BinaryKill9(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	dir := t.TempDir()
	nodes := make([]*r3Proc, 3)
	cports := make([]int, 3)
	for i := range nodes {
		nodes[i] = &r3Proc{name: fmt.Sprintf("b%d", i), port: freePort(t)}
		cports[i] = freePort(t)
	}
	routes := fmt.Sprintf("nats-route://127.0.0.1:%d, nats-route://127.0.0.1:%d, nats-route://127.0.0.1:%d", cports[0], cports[1], cports[2])
	for i, n := range nodes {
		n.conf = filepath.Join(dir, n.name+".conf")
		cfg := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\ncluster { name: kc, listen: 127.0.0.1:%d, routes: [%s] }\n",
			n.name, n.port, filepath.Join(dir, n.name), cports[i], routes)
		if err := os.WriteFile(n.conf, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		n.p = startBin(t, "-c", n.conf)
	}
	for _, n := range nodes {
		n.p.waitOutput("Server is ready")
	}
	url := func(n *r3Proc) string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }
	nc, err := nats.Connect(url(nodes[0]), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, 30*time.Second, "an R3 stream created", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "K9", Subjects: []string{"k9.>"}, Replicas: 3})
		return err == nil
	})
	const n = 2000
	acked := asyncPublish(t, js, "k9.x", 0, n)
	lead := streamInfo(t, js, "K9").Cluster.Leader
	var victim *r3Proc
	for _, nd := range nodes {
		if nd.name == lead {
			victim = nd
		}
	}
	if err := victim.p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	victim.p.waitExit(10 * time.Second)
	other := nodes[0]
	if other == victim {
		other = nodes[1]
	}
	nc2, err := nats.Connect(url(other))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	waitFor(t, 20*time.Second, "a new leader", func() bool { return streamInfo(t, js2, "K9").Cluster.Leader != lead })
	readAll(t, js2, "K9", acked, n)
	more := asyncPublish(t, js2, "k9.x", n, 200)
	for k, v := range more {
		acked[k] = v
	}

	victim.p = startBin(t, "-c", victim.conf)
	victim.p.waitOutput("Server is ready")
	// Once current again, it takes the leadership and serves everything.
	waitFor(t, 30*time.Second, "the restarted server leading", func() bool {
		got := answers(t, nc2, "$JS.API.STREAM.LEADER.STEPDOWN.K9", fmt.Sprintf(`{"placement":{"preferred":%q}}`, victim.name), time.Second)
		if len(got) == 1 && got[0]["success"] == true {
			return waitLeader(t, js2, "K9", victim.name)
		}
		return streamInfo(t, js2, "K9").Cluster.Leader == victim.name
	})
	si := streamInfo(t, js2, "K9")
	if si.State.Msgs != n+200 || si.State.LastSeq != n+200 {
		t.Fatalf("restarted leader's state %+v", si.State)
	}
	readAll(t, js2, "K9", acked, n+200)
}

// waitLeader waits a little for name to lead the stream.
func waitLeader(t *testing.T, js jetstream.JetStream, stream, name string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if streamInfo(t, js, stream).Cluster.Leader == name {
			return true
		}
		time.Sleep(50 * time.Millisecond) // polling STREAM.INFO: nothing to await
	}
	return false
}

// A replica away while its group compacted the log gets a snapshot when it
// returns and fetches the messages it lacks from its peers: it can then
// lead with every message.
func TestJetStreamClusterR3CatchupFromSnapshot(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, opts := runJSClusterOpts(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "CU", 3)
	lead := streamInfo(t, js, "CU").Cluster.Leader
	away := -1
	for i, s := range servers {
		if s.Name() != lead && i != 0 {
			away = i
		}
	}
	opts[away].Cluster.Port = servers[away].ClusterAddr().Port
	servers[away].Shutdown()
	servers[away].WaitForShutdown()
	// One entry per publish: more than the log keeps (4096 between
	// snapshots, half of them kept).
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	const n = 5000
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, "CU.x", []byte("m-"+strconv.Itoa(i+1))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	servers[away] = RunServer(t, opts[away])
	waitReplicaMsgs(t, servers, n)
	want := make(map[uint64]string, n)
	for i := 1; i <= n; i++ {
		want[uint64(i)] = "m-" + strconv.Itoa(i)
	}
	name := servers[away].Name()
	waitFor(t, 30*time.Second, "the caught-up server leading", func() bool {
		got := answers(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.CU", fmt.Sprintf(`{"placement":{"preferred":%q}}`, name), time.Second)
		if len(got) == 1 && got[0]["success"] == true {
			return waitLeader(t, js, "CU", name)
		}
		return streamInfo(t, js, "CU").Cluster.Leader == name
	})
	readAll(t, js, "CU", want, n)
}

// An R5 stream on five servers keeps working with two of them gone.
func TestJetStreamClusterR5TwoDown(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 5)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "FIVE", 5)
	if si := streamInfo(t, js, "FIVE"); len(si.Cluster.Replicas) != 4 {
		t.Fatalf("R5 cluster block %+v", si.Cluster)
	}
	acked := asyncPublish(t, js, "FIVE.a", 0, 500)
	waitReplicaMsgs(t, servers, 500)
	for _, i := range []int{3, 4} {
		servers[i].Shutdown()
		servers[i].WaitForShutdown()
	}
	// Publishes reach only a leader: wait for one among the three left.
	waitFor(t, 20*time.Second, "a leader among the servers up", func() bool {
		l := streamInfo(t, js, "FIVE").Cluster.Leader
		return l != servers[3].Name() && l != servers[4].Name()
	})
	more := asyncPublish(t, js, "FIVE.a", 500, 500)
	for k, v := range more {
		acked[k] = v
	}
	waitReplicaMsgs(t, servers, 1000)
	readAll(t, js, "FIVE", acked, 1000)
}

// Only an R3 stream's leader subscribes to the stream's subjects: each
// server sees one subscription for them, the leader's own (the others see
// the route's interest, sid "<account> <subject>"), so publishes never
// reach the followers. After a stepdown the new leader holds it, and
// publishing goes on.
func TestJetStreamClusterR3OnlyLeaderSubscribes(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "LS", 3)
	onlyLeader := func(leader string) bool {
		for _, s := range servers {
			sz := s.Subsz(&server.SubszOptions{Subscriptions: true, Account: "$G", Test: "LS.x"})
			if sz.Total != 1 {
				return false
			}
			routed := sz.Subs[0].Sid == "$G LS.>"
			if routed == (s.Name() == leader) {
				return false
			}
		}
		return true
	}
	lead := streamInfo(t, js, "LS").Cluster.Leader
	waitFor(t, 10*time.Second, "only "+lead+" subscribed", func() bool { return onlyLeader(lead) })
	if _, err := js.Publish(t.Context(), "LS.x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if m := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.LS", ""); m["success"] != true {
		t.Fatalf("stepdown: %v", m)
	}
	waitFor(t, 10*time.Second, "a new stream leader", func() bool { return streamInfo(t, js, "LS").Cluster.Leader != lead })
	lead = streamInfo(t, js, "LS").Cluster.Leader
	waitFor(t, 10*time.Second, "only "+lead+" subscribed", func() bool { return onlyLeader(lead) })
	ack, err := js.Publish(t.Context(), "LS.x", []byte("2"))
	if err != nil || ack.Sequence != 2 {
		t.Fatalf("publish after stepdown: %v %v", ack, err)
	}
}
