package test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// directLast asks the server nc is connected to for the last message of
// subj in stream (a direct get: in a cluster the local replica answers) and
// returns how many servers answered and the first answer.
func directLast(t *testing.T, nc *nats.Conn, stream, subj string) (int, *nats.Msg) {
	t.Helper()
	sub := requestSub(t, nc, "$JS.API.DIRECT.GET."+stream+"."+subj, "")
	defer sub.Unsubscribe()
	first, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("direct get of %s on %s: %v", subj, nc.ConnectedServerName(), err)
	}
	n := 1
	// Exactly one server answers: a second answer would follow the first
	// within a few route hops.
	for {
		if _, err := sub.NextMsg(500 * time.Millisecond); err != nil {
			return n, first
		}
		n++
	}
}

// stopServer shuts the server called name down and returns its index and
// a JetStream handle through the next server.
func stopServer(t *testing.T, servers []*server.Server, name string) (int, jetstream.JetStream) {
	t.Helper()
	i := serverNamed(t, servers, name)
	servers[i].Shutdown()
	servers[i].WaitForShutdown()
	js, err := jetstream.New(connect(t, servers[(i+1)%len(servers)]))
	if err != nil {
		t.Fatal(err)
	}
	return i, js
}

// kvHistory returns the values (operation for deletes) of key's history.
func kvHistory(t *testing.T, kv jetstream.KeyValue, key string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	h, err := kv.History(ctx, key)
	if err != nil {
		t.Fatalf("history of %s: %v", key, err)
	}
	var out []string
	for _, e := range h {
		if e.Operation() != jetstream.KeyValuePut {
			out = append(out, e.Operation().String())
		} else {
			out = append(out, string(e.Value()))
		}
	}
	return out
}

// openKV returns a KeyValue handle on bucket once its stream has a leader.
func openKV(t *testing.T, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	var kv jetstream.KeyValue
	waitFor(t, 20*time.Second, "bucket "+bucket+" through "+bucket, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var err error
		kv, err = js.KeyValue(ctx, bucket)
		return err == nil
	})
	return kv
}

// A KV bucket with replicas 3: put, get, create, delete, purge, history
// (max_msgs_per_subject), watch; roll-ups and limits apply identically on
// every replica, each replica answers direct gets (exactly one answer per
// request) and the values survive the loss of the leader's server.
func TestJetStreamClusterR3KV(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, _ := runJSClusterOpts(t, 3)
	nc := connect(t, servers[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", History: 3, Replicas: 3})
	if err != nil {
		t.Fatalf("create R3 bucket: %v", err)
	}
	si := streamInfo(t, js, "KV_CFG")
	if c := si.Config; c.Replicas != 3 || !c.AllowRollup || !c.AllowDirect || !c.DenyDelete || c.MaxMsgsPerSubject != 3 || c.Discard != jetstream.DiscardNew {
		t.Fatalf("bucket's stream config %+v", c)
	}
	// The leader's server: its answers are current the moment a put is
	// acknowledged (a follower's may lag by a commit).
	ncl := connect(t, servers[serverNamed(t, servers, si.Cluster.Leader)])
	jsl, _ := jetstream.New(ncl)
	kvl := openKV(t, jsl, "CFG")
	for i := 1; i <= 5; i++ {
		if _, err := kv.PutString(ctx, "a", "a"+strconv.Itoa(i)); err != nil {
			t.Fatalf("put a: %v", err)
		}
	}
	if _, err := kv.PutString(ctx, "b", "b1"); err != nil {
		t.Fatal(err)
	}
	if e, err := kvl.Get(ctx, "a"); err != nil || string(e.Value()) != "a5" || e.Revision() != 5 {
		t.Fatalf("get a: %v %v", e, err)
	}
	if _, err := kv.Create(ctx, "b", []byte("again")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create of an existing key: %v", err)
	}
	if got := kvHistory(t, kvl, "a"); len(got) != 3 || got[0] != "a3" || got[2] != "a5" {
		t.Fatalf("history of a (3 kept): %v", got)
	}
	// 3 of a, 1 of b on every replica: max_msgs_per_subject on followers.
	waitReplicaMsgs(t, servers, 4)

	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := kvl.Get(ctx, "a"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("get of a deleted key: %v", err)
	}
	// A purge is a roll-up of the key: every replica keeps its marker only.
	if err := kv.Purge(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := kvHistory(t, kvl, "b"); len(got) != 1 || got[0] != "KeyValuePurgeOp" {
		t.Fatalf("history of b after purge: %v", got)
	}
	waitReplicaMsgs(t, servers, 4) // a: a4, a5, DEL (3 kept); b: PURGE

	// deny_delete: messages of a bucket cannot be deleted through the API.
	m := one(t, nc, "$JS.API.STREAM.MSG.DELETE.KV_CFG", `{"seq":6}`)
	if _, ec, _ := apiErr(m); ec != 10057 {
		t.Fatalf("delete from a deny_delete stream: %v", m)
	}

	// A watcher sees the current values, then an update.
	w, err := kvl.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	seen := map[string]string{}
	for e := range w.Updates() {
		if e == nil {
			break // caught up
		}
		seen[e.Key()] = e.Operation().String()
	}
	if seen["a"] != "KeyValueDeleteOp" || seen["b"] != "KeyValuePurgeOp" {
		t.Fatalf("watch's initial values: %v", seen)
	}
	if _, err := kv.PutString(ctx, "c", "c1"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.Updates():
		if e == nil || e.Key() != "c" || string(e.Value()) != "c1" {
			t.Fatalf("watched update: %v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no update in 10s")
	}
	waitReplicaMsgs(t, servers, 5)

	// Every replica answers direct gets of its own clients, once.
	for _, s := range servers {
		c := connect(t, s)
		n, msg := directLast(t, c, "KV_CFG", "$KV.CFG.c")
		if n != 1 || string(msg.Data) != "c1" || msg.Header.Get("Nats-Sequence") != "9" {
			t.Fatalf("direct get through %s: %d answers, %q %v", s.Name(), n, msg.Data, msg.Header)
		}
		c.Close()
	}

	// The leader's server goes: the new leader has the same values.
	old := si.Cluster.Leader
	ncl.Close()
	_, js2 := stopServer(t, servers, old)
	waitFor(t, 30*time.Second, "a new leader of KV_CFG", func() bool {
		return streamInfo(t, js2, "KV_CFG").Cluster.Leader != old
	})
	kv2 := openKV(t, js2, "CFG")
	if e, err := kv2.Get(ctx, "c"); err != nil || string(e.Value()) != "c1" || e.Revision() != 9 {
		t.Fatalf("get c after failover: %v %v", e, err)
	}
	if _, err := kv2.Get(ctx, "a"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("get a after failover: %v", err)
	}
	if got := kvHistory(t, kv2, "b"); len(got) != 1 {
		t.Fatalf("history of b after failover: %v", got)
	}
	rev, err := kv2.Update(ctx, "c", []byte("c2"), 9)
	if err != nil || rev != 10 {
		t.Fatalf("update under the new leader: %d %v", rev, err)
	}
}

// Per-key TTLs and limit markers on an R3 bucket: the key expires on every
// replica and the marker the leader writes is the same message (same
// sequence) on every replica, itself removed when its TTL passes.
func TestJetStreamClusterR3KVTTL(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[1])
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "TTL", Replicas: 3, LimitMarkerTTL: 5 * time.Second})
	if err != nil {
		t.Fatalf("create R3 bucket with markers: %v", err)
	}
	if c := streamInfo(t, js, "KV_TTL").Config; !c.AllowMsgTTL || c.SubjectDeleteMarkerTTL != 5*time.Second {
		t.Fatalf("bucket's config %+v", c)
	}
	if _, err := kv.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatalf("create with a TTL: %v", err)
	}
	if _, err := kv.PutString(ctx, "stay", "x"); err != nil {
		t.Fatal(err)
	}
	clients := make([]*nats.Conn, len(servers))
	for i, s := range servers {
		clients[i] = connect(t, s)
	}
	// Each replica expires k and holds the leader's marker at sequence 3.
	for i, c := range clients {
		waitFor(t, 20*time.Second, "the marker of k on "+servers[i].Name(), func() bool {
			_, msg := directLast(t, c, "KV_TTL", "$KV.TTL.k")
			if msg.Header.Get("Nats-Marker-Reason") != "MaxAge" {
				return false
			}
			if msg.Header.Get("Nats-Sequence") != "3" || msg.Header.Get("Nats-TTL") != "5s" {
				t.Fatalf("marker on %s: %v", servers[i].Name(), msg.Header)
			}
			return true
		})
	}
	// Then the marker goes too, everywhere; the other key stays.
	waitReplicaMsgs(t, servers, 1)
	for i, c := range clients {
		_, msg := directLast(t, c, "KV_TTL", "$KV.TTL.stay")
		if string(msg.Data) != "x" {
			t.Fatalf("stay on %s: %q %v", servers[i].Name(), msg.Data, msg.Header)
		}
	}
}

// r3Cluster starts a 3-server cluster and creates cfg's stream (on
// <name>.> unless cfg has subjects or copies, with replicas 3) through a
// client of the server at i.
func r3Cluster(t *testing.T, i int, cfg jetstream.StreamConfig) ([]*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[i])
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if len(cfg.Subjects) == 0 && cfg.Mirror == nil && len(cfg.Sources) == 0 {
		cfg.Subjects = []string{cfg.Name + ".>"}
	}
	cfg.Replicas = 3
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatalf("create %s R3: %v", cfg.Name, err)
	}
	return servers, nc, js
}

// fetchSeqs fetches n messages and returns their stream sequences.
func fetchSeqs(t *testing.T, c jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	if len(out) != n {
		t.Fatalf("fetched %d messages, want %d", len(out), n)
	}
	return out
}

func streamSeq(t *testing.T, m jetstream.Msg) uint64 {
	t.Helper()
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md.Sequence.Stream
}

// A workqueue stream with replicas 3: a new leader keeps the messages no
// consumer took; acknowledged messages are removed on every replica; after
// a stepdown the new leader has exactly the unacknowledged ones and
// delivers them again.
func TestJetStreamClusterR3WorkQueue(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, nc, js := r3Cluster(t, 0, jetstream.StreamConfig{Name: "JOBS", Retention: jetstream.WorkQueuePolicy})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	asyncPublish(t, js, "JOBS.a", 0, 10)
	// A new leader keeps what no consumer took yet.
	first := streamInfo(t, js, "JOBS").Cluster.Leader
	if m := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.JOBS", ""); m["success"] != true {
		t.Fatalf("stepdown: %v", m)
	}
	waitFor(t, 20*time.Second, "a new leader of JOBS", func() bool {
		si := streamInfo(t, js, "JOBS")
		return si.Cluster.Leader != first && si.State.Msgs == 10
	})
	cons, err := js.CreateOrUpdateConsumer(ctx, "JOBS", jetstream.ConsumerConfig{Durable: "W",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range fetchSeqs(t, cons, 10) {
		if streamSeq(t, m) != uint64(i+1) {
			t.Fatalf("delivery %d is sequence %d", i, streamSeq(t, m))
		}
		if i%2 == 0 { // 1, 3, 5, 7, 9
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitReplicaMsgs(t, servers, 5)

	old := streamInfo(t, js, "JOBS").Cluster.Leader
	if m := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.JOBS", ""); m["success"] != true {
		t.Fatalf("stepdown: %v", m)
	}
	var si *jetstream.StreamInfo
	waitFor(t, 20*time.Second, "a new leader of JOBS", func() bool {
		si = streamInfo(t, js, "JOBS")
		return si.Cluster.Leader != old
	})
	if si.State.Msgs != 5 || si.State.FirstSeq != 2 || si.State.LastSeq != 10 || si.State.NumDeleted != 4 {
		t.Fatalf("new leader's state %+v", si.State)
	}
	var c2 jetstream.Consumer
	waitFor(t, 20*time.Second, "the consumer under the new leader", func() bool {
		ictx, icancel := context.WithTimeout(ctx, time.Second)
		defer icancel()
		c2, err = js.Consumer(ictx, "JOBS", "W")
		return err == nil
	})
	// The unacknowledged ones come again (ack wait), and only they.
	for i, m := range fetchSeqs(t, c2, 5) {
		if want := uint64(2 * (i + 1)); streamSeq(t, m) != want {
			t.Fatalf("redelivery %d is sequence %d, want %d", i, streamSeq(t, m), want)
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicaMsgs(t, servers, 0)
}

// An interest stream with replicas 3: a message nobody is interested in
// takes its sequence and is kept nowhere; one is removed from every
// replica once every interested consumer acknowledged it, and deleting a
// consumer removes what only it still needed.
func TestJetStreamClusterR3Interest(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, _, js := r3Cluster(t, 2, jetstream.StreamConfig{Name: "EV", Retention: jetstream.InterestPolicy})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	acked := asyncPublish(t, js, "EV.a", 0, 3)
	if len(acked) != 3 {
		t.Fatalf("acks %v", acked)
	}
	waitReplicaMsgs(t, servers, 0)
	if si := streamInfo(t, js, "EV"); si.State.LastSeq != 3 || si.State.Msgs != 0 {
		t.Fatalf("state without interest %+v", si.State)
	}
	cfg := jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy}
	cfg.Durable = "A"
	ca, err := js.CreateOrUpdateConsumer(ctx, "EV", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Durable = "B"
	cb, err := js.CreateOrUpdateConsumer(ctx, "EV", cfg)
	if err != nil {
		t.Fatal(err)
	}
	asyncPublish(t, js, "EV.a", 3, 4)
	waitReplicaMsgs(t, servers, 4)
	for _, m := range fetchSeqs(t, ca, 4) {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range fetchSeqs(t, cb, 2) {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicaMsgs(t, servers, 2) // 6 and 7: B has not acknowledged them
	if err := js.DeleteConsumer(ctx, "EV", "B"); err != nil {
		t.Fatal(err)
	}
	waitReplicaMsgs(t, servers, 0)
}

// A memory stream with replicas 3 and republish: only the leader
// republishes, once per message; the stream and its durable consumer
// survive the loss of the leader's server, and that server, started again
// with an empty memory store, gets every message back from the group.
func TestJetStreamClusterR3MemoryRepublish(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, opts := runJSClusterOpts(t, 3)
	nc := connect(t, servers[0])
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rp, err := nc.SubscribeSync("RP.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MEM", Subjects: []string{"MEM.>"}, Replicas: 3,
		Storage: jetstream.MemoryStorage, RePublish: &jetstream.RePublish{Source: "MEM.>", Destination: "RP.>"}}); err != nil {
		t.Fatalf("create memory R3 with republish: %v", err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "MEM", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	acked := asyncPublish(t, js, "MEM.a", 0, 100)
	waitReplicaMsgs(t, servers, 100)
	countRepublished := func(want int) {
		t.Helper()
		for i := 0; i < want; i++ {
			m, err := rp.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("republished %d of %d: %v", i, want, err)
			}
			if m.Subject != "RP.a" || m.Header.Get("Nats-Stream") != "MEM" {
				t.Fatalf("republished %s %v", m.Subject, m.Header)
			}
		}
		if m, err := rp.NextMsg(500 * time.Millisecond); err == nil {
			t.Fatalf("republished more than once: %s %v", m.Subject, m.Header)
		}
	}
	countRepublished(100)

	si := streamInfo(t, js, "MEM")
	if si.Config.Storage != jetstream.MemoryStorage {
		t.Fatalf("config %+v", si.Config)
	}
	lead := serverNamed(t, servers, si.Cluster.Leader)
	opts[lead].Cluster.Port = servers[lead].ClusterAddr().Port
	_, js2 := stopServer(t, servers, si.Cluster.Leader)
	var si2 *jetstream.StreamInfo
	waitFor(t, 20*time.Second, "a new leader of MEM", func() bool {
		si2 = streamInfo(t, js2, "MEM")
		return si2.Cluster.Leader != si.Cluster.Leader
	})
	if si2.State.Msgs != 100 {
		t.Fatalf("new leader's state %+v", si2.State)
	}
	readAll(t, js2, "MEM", acked, 100)
	waitFor(t, 20*time.Second, "the durable under the new leader", func() bool {
		ictx, icancel := context.WithTimeout(ctx, time.Second)
		defer icancel()
		_, err := js2.Consumer(ictx, "MEM", "D")
		return err == nil
	})
	asyncPublish(t, js2, "MEM.a", 100, 10)
	countRepublished(10)

	servers[lead] = RunServer(t, opts[lead])
	waitReplicaMsgs(t, servers, 110)
}

// An R3 mirror and an R3 source of an R3 stream: the leaders copy, every
// replica stores the copies at the same sequences, and after the server
// leading the copies goes away the new leaders carry on without a gap or
// a duplicate.
func TestJetStreamClusterR3MirrorAndSource(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	js := r3Stream(t, nc, "ORIG", 3)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MIR", Replicas: 3,
		Mirror: &jetstream.StreamSource{Name: "ORIG"}}); err != nil {
		t.Fatalf("create R3 mirror: %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SRC", Replicas: 3,
		Sources: []*jetstream.StreamSource{{Name: "ORIG", FilterSubject: "ORIG.b"}}}); err != nil {
		t.Fatalf("create R3 source: %v", err)
	}
	asyncPublish(t, js, "ORIG.a", 0, 60)
	asyncPublish(t, js, "ORIG.b", 60, 40)
	// ORIG 100, MIR 100, SRC 40 on every replica.
	waitReplicaMsgs(t, servers, 240)

	mir := streamInfo(t, js, "MIR")
	_, js2 := stopServer(t, servers, mir.Cluster.Leader)
	waitFor(t, 30*time.Second, "new leaders of ORIG, MIR and SRC", func() bool {
		for _, name := range []string{"ORIG", "MIR", "SRC"} {
			if l := streamInfo(t, js2, name).Cluster.Leader; l == "" || l == mir.Cluster.Leader {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "publishes under ORIG's new leader", func() bool {
		_, err := js2.Publish(ctx, "ORIG.b", []byte("after"))
		return err == nil
	})
	asyncPublish(t, js2, "ORIG.b", 100, 9)
	waitFor(t, 30*time.Second, "the copies caught up", func() bool {
		m, s := streamInfo(t, js2, "MIR").State, streamInfo(t, js2, "SRC").State
		return m.LastSeq == 110 && s.Msgs == 50
	})
	if s := streamInfo(t, js2, "SRC").State; s.LastSeq != 50 || s.Msgs != 50 {
		t.Fatalf("source's state after failover %+v (a gap or a duplicate)", s)
	}
	if m := streamInfo(t, js2, "MIR").State; m.Msgs != 110 || m.FirstSeq != 1 {
		t.Fatalf("mirror's state after failover %+v", m)
	}
	// Every surviving replica holds the same copies.
	waitReplicaMsgs(t, servers, 270)
}

// counterAdd publishes an increment and returns the total the PubAck says.
func counterAdd(t *testing.T, nc *nats.Conn, subj, incr string) string {
	t.Helper()
	msg := nats.NewMsg(subj)
	msg.Header.Set("Nats-Incr", incr)
	var val string
	waitFor(t, 20*time.Second, "a PubAck for "+incr, func() bool {
		resp, err := nc.RequestMsg(msg, 2*time.Second)
		if err != nil {
			return false
		}
		var ack struct {
			Val   string         `json:"val"`
			Error map[string]any `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Error != nil {
			t.Fatalf("increment %s: %s", incr, resp.Data)
		}
		val = ack.Val
		return true
	})
	return val
}

// Counters on an R3 stream: the leader stores each new total, the
// followers the same message, and a new leader adds to the last total.
func TestJetStreamClusterR3Counter(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, nc, js := r3Cluster(t, 1, jetstream.StreamConfig{Name: "CNT", Subjects: []string{"cnt.>"}, AllowMsgCounter: true})
	if v := counterAdd(t, nc, "cnt.a", "5"); v != "5" {
		t.Fatalf("total %s", v)
	}
	if v := counterAdd(t, nc, "cnt.a", "-2"); v != "3" {
		t.Fatalf("total %s", v)
	}
	waitReplicaMsgs(t, servers, 2)
	old := streamInfo(t, js, "CNT").Cluster.Leader
	if m := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.CNT", ""); m["success"] != true {
		t.Fatalf("stepdown: %v", m)
	}
	waitFor(t, 20*time.Second, "a new leader of CNT", func() bool { return streamInfo(t, js, "CNT").Cluster.Leader != old })
	if v := counterAdd(t, nc, "cnt.a", "100000000000000000000"); v != "100000000000000000003" {
		t.Fatalf("total under the new leader %s", v)
	}
	waitReplicaMsgs(t, servers, 3)
}

// scheduleMsg publishes a schedule on subj producing on target.
func scheduleMsg(t *testing.T, js jetstream.JetStream, subj, pattern, target string) {
	t.Helper()
	msg := nats.NewMsg(subj)
	msg.Header.Set("Nats-Schedule", pattern)
	msg.Header.Set("Nats-Schedule-Target", target)
	msg.Data = []byte("tick")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("schedule %s: %v", pattern, err)
	}
}

// Message schedules on an R3 stream: a one-shot schedule fires once and is
// removed on every replica; a repeating one keeps firing under a new
// leader after a stepdown, from the timetable the new leader loads.
func TestJetStreamClusterR3Schedules(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, nc, js := r3Cluster(t, 0, jetstream.StreamConfig{Name: "SCH", Subjects: []string{"sch.>"}, AllowMsgSchedules: true})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	scheduleMsg(t, js, "sch.once", "@at "+at, "sch.out.once")
	s, _ := js.Stream(ctx, "SCH")
	var m *jetstream.RawStreamMsg
	waitFor(t, 20*time.Second, "the one-shot schedule firing", func() bool {
		var err error
		m, err = s.GetLastMsgForSubject(ctx, "sch.out.once")
		return err == nil
	})
	if m.Header.Get("Nats-Scheduler") != "sch.once" || m.Header.Get("Nats-Schedule-Next") != "purge" || m.Sequence != 2 {
		t.Fatalf("produced one-shot message %d %v", m.Sequence, m.Header)
	}
	// The schedule goes, its produced message stays: one message everywhere.
	waitReplicaMsgs(t, servers, 1)

	scheduleMsg(t, js, "sch.every", "@every 1s", "sch.out.every")
	produced := func() uint64 {
		ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
		defer icancel()
		si, err := s.Info(ictx, jetstream.WithSubjectFilter("sch.out.every"))
		if err != nil {
			return 0
		}
		return si.State.Subjects["sch.out.every"]
	}
	waitFor(t, 20*time.Second, "a repeating schedule firing", func() bool { return produced() >= 1 })
	old := streamInfo(t, js, "SCH").Cluster.Leader
	if m := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.SCH", ""); m["success"] != true {
		t.Fatalf("stepdown: %v", m)
	}
	waitFor(t, 20*time.Second, "a new leader of SCH", func() bool { return streamInfo(t, js, "SCH").Cluster.Leader != old })
	n := produced()
	waitFor(t, 20*time.Second, "the schedule firing under the new leader", func() bool { return produced() >= n+2 })
}

// Direct gets of an R3 bucket in a 4-server cluster: a client of the
// server without a replica is answered by the leader, a client of a
// replica by that replica, even one left without a leader; each request
// gets exactly one answer.
func TestJetStreamClusterR3DirectGetReplicas(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 4)
	nc := connect(t, servers[0])
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "D4", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	si := streamInfo(t, js, "KV_D4")
	members := map[string]bool{si.Cluster.Leader: true}
	for _, r := range si.Cluster.Replicas {
		members[r.Name] = true
	}
	if len(members) != 3 {
		t.Fatalf("cluster block %+v", si.Cluster)
	}
	for _, s := range servers {
		c := connect(t, s)
		var n int
		var msg *nats.Msg
		waitFor(t, 10*time.Second, "k through "+s.Name(), func() bool {
			n, msg = directLast(t, c, "KV_D4", "$KV.D4.k")
			return string(msg.Data) == "v1" // a replica may lag the leader by a commit
		})
		if n != 1 {
			t.Fatalf("direct get through %s (replica: %v): %d answers", s.Name(), members[s.Name()], n)
		}
		c.Close()
	}
	// Replicas answer by themselves: with the leader and another replica
	// gone (no quorum, no leader), the last one still serves its clients.
	var last *server.Server
	for _, s := range servers {
		switch {
		case s.Name() == si.Cluster.Leader || (members[s.Name()] && last != nil):
			s.Shutdown()
		case members[s.Name()]:
			last = s
		}
	}
	n, msg := directLast(t, connect(t, last), "KV_D4", "$KV.D4.k")
	if n != 1 || string(msg.Data) != "v1" {
		t.Fatalf("direct get from the last replica %s: %d answers, %q %v", last.Name(), n, msg.Data, msg.Header)
	}
}

// An atomic batch on an R3 stream: the commit is answered once the group
// committed it, every replica stores the whole batch, and a roll-up inside
// the batch removes on every replica only what came before the batch.
func TestJetStreamClusterR3AtomicBatch(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, nc, js := r3Cluster(t, 2, jetstream.StreamConfig{Name: "BAT", Subjects: []string{"bat.>"},
		AllowAtomicPublish: true, AllowRollup: true})
	asyncPublish(t, js, "bat.x", 0, 2)
	batchMsg := func(subj string, seq int, extra ...string) *nats.Msg {
		m := nats.NewMsg(subj)
		m.Header.Set("Nats-Batch-Id", "b1")
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(seq))
		for i := 0; i+1 < len(extra); i += 2 {
			m.Header.Set(extra[i], extra[i+1])
		}
		m.Data = []byte("part-" + strconv.Itoa(seq))
		return m
	}
	for i, m := range []*nats.Msg{batchMsg("bat.x", 1), batchMsg("bat.x", 2, "Nats-Rollup", "sub")} {
		if _, err := nc.RequestMsg(m, 10*time.Second); err != nil {
			t.Fatalf("staging message %d: %v", i+1, err)
		}
	}
	resp, err := nc.RequestMsg(batchMsg("bat.z", 3, "Nats-Batch-Commit", "1"), 15*time.Second)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	var ack struct {
		Seq   uint64 `json:"seq"`
		Batch string `json:"batch"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Seq != 5 || ack.Batch != "b1" || ack.Count != 3 {
		t.Fatalf("commit's answer %s", resp.Data)
	}
	// The two messages before the batch went, the batch's own stay.
	waitReplicaMsgs(t, servers, 3)
	if si := streamInfo(t, js, "BAT"); si.State.FirstSeq != 3 || si.State.LastSeq != 5 {
		t.Fatalf("state %+v", si.State)
	}
}

// A fast batch on an R3 stream: flow acks as on one server, the commit
// answered once committed, every message on every replica.
func TestJetStreamClusterR3FastBatch(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, nc, js := r3Cluster(t, 1, jetstream.StreamConfig{Name: "FB", Subjects: []string{"fb.>"}, AllowBatchPublish: true})
	streamInfo(t, js, "FB")
	sub, err := nc.SubscribeSync("rp.>")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"rp.x.B1.10.ok.1.0.$FI", "rp.x.B1.10.ok.2.1.$FI", "rp.x.B1.10.ok.3.1.$FI", "rp.x.B1.10.ok.4.2.$FI"} {
		fastPub(t, nc, "fb.a", r)
	}
	for i, want := range []string{`rp.x.B1.10.ok.1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`rp.x.B1.10.ok.4.2.$FI {"stream":"FB","seq":4,"batch":"B1","count":4}`} {
		m, err := sub.NextMsg(15 * time.Second)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if got := m.Subject + " " + string(m.Data); got != want {
			t.Fatalf("reply %d: %s, want %s", i, got, want)
		}
	}
	waitReplicaMsgs(t, servers, 4)
}
