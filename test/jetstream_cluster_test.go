package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// runJSCluster starts n clustered JetStream servers (s0..s<n-1>) and waits
// for the meta group to have a leader known to every server.
func runJSCluster(t *testing.T, n int) []*server.Server {
	servers, _ := runJSClusterOpts(t, n)
	return servers
}

// runJSClusterOpts is runJSCluster that also returns each server's options
// (to restart one).
func runJSClusterOpts(t *testing.T, n int) ([]*server.Server, []*server.Options) {
	t.Helper()
	opts := make([]*server.Options, n)
	servers := runCluster(t, n, func(i int, o *server.Options) {
		o.JetStream = true
		o.StoreDir = t.TempDir()
		opts[i] = o
	})
	waitMetaLeader(t, servers)
	return servers, opts
}

// waitMetaLeader waits until every server is a member of the meta group
// and knows its leader, and $JS.API.INFO succeeds through every server.
func waitMetaLeader(t *testing.T, servers []*server.Server) {
	t.Helper()
	// 40 s: a restarted server rejoins through route redials and the
	// meta leader's membership ask, slow while other clusters run.
	waitFor(t, 40*time.Second, "every server in the meta group", func() bool {
		for _, s := range servers {
			m := s.Jsz(nil).Meta
			if m == nil || m.Leader == "" || m.Size != len(servers) {
				return false
			}
		}
		return true
	})
	for _, s := range servers {
		nc := connect(t, s)
		waitFor(t, 20*time.Second, "a meta leader through "+s.Name(), func() bool {
			msg, err := nc.Request("$JS.API.INFO", nil, time.Second)
			return err == nil && !strings.Contains(string(msg.Data), `"error"`)
		})
		nc.Close()
	}
}

// answers counts the replies to one request within wait: in a cluster
// exactly one server answers each request.
func answers(t *testing.T, nc *nats.Conn, subj, body string, wait time.Duration) []map[string]any {
	t.Helper()
	return collectAnswers(t, nc, subj, body, wait, 0)
}

// collectAnswers sends a request and collects its JSON answers until first
// has passed, and (when more is set) then until none came for more.
func collectAnswers(t *testing.T, nc *nats.Conn, subj, body string, first, more time.Duration) []map[string]any {
	t.Helper()
	sub := requestSub(t, nc, subj, body)
	defer sub.Unsubscribe()
	var out []map[string]any
	deadline := time.Now().Add(first)
	for {
		wait := time.Until(deadline)
		if len(out) > 0 && more > 0 {
			wait = more
		}
		msg, err := sub.NextMsg(wait)
		if err != nil {
			return out
		}
		if len(out) == 0 {
			deadline = time.Now().Add(wait)
		}
		var m map[string]any
		if err := json.Unmarshal(msg.Data, &m); err != nil {
			t.Fatalf("%s: bad JSON %q", subj, msg.Data)
		}
		out = append(out, m)
	}
}

// requestSub sends a request to subj with a reply inbox of its own and
// returns the inbox's subscription, to count the answers.
func requestSub(t *testing.T, nc *nats.Conn, subj, body string) *nats.Subscription {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(subj, inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return sub
}

// one asserts that exactly one server answered and returns the answer.
// The first answer may take a while under load (a replicated create waits
// for its replicas); a second one would follow it within a few hops.
func one(t *testing.T, nc *nats.Conn, subj, body string) map[string]any {
	t.Helper()
	got := collectAnswers(t, nc, subj, body, 15*time.Second, 700*time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("%s: %d answers, want exactly 1: %v", subj, len(got), got)
	}
	return got[0]
}

func TestJetStreamClusterR1StreamsAcrossServers(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	ncs := make([]*nats.Conn, len(servers))
	for i, s := range servers {
		ncs[i] = connect(t, s)
	}
	// Streams created through different servers spread over the cluster.
	hosts := map[string]bool{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("S%d", i)
		m := one(t, ncs[i], "$JS.API.STREAM.CREATE."+name, fmt.Sprintf(`{"name":%q,"subjects":["%s.>"]}`, name, strings.ToLower(name)))
		if _, _, desc := apiErr(m); desc != "" || m["did_create"] != true {
			t.Fatalf("create %s: %v", name, m)
		}
		cl, _ := m["cluster"].(map[string]any)
		if cl == nil || cl["name"] != "rc" || cl["leader"] == nil {
			t.Fatalf("create %s: cluster block %v", name, m["cluster"])
		}
		hosts[cl["leader"].(string)] = true
	}
	if len(hosts) != 3 {
		t.Fatalf("three R1 streams placed on %v, want one per server", hosts)
	}
	// Publishes from every server reach the stream wherever it lives.
	for i, nc := range ncs {
		for j := 0; j < 3; j++ {
			msg, err := nc.Request(fmt.Sprintf("s%d.x", j), []byte("hi"), 2*time.Second)
			if err != nil || !strings.Contains(string(msg.Data), fmt.Sprintf(`"stream":"S%d"`, j)) {
				t.Fatalf("publish from server %d to S%d: %v %s", i, j, err, msgData(msg))
			}
		}
	}
	// Info, names and list from any server (one answer each: counted
	// through the first).
	for i, nc := range ncs {
		one := one
		if i > 0 {
			one = func(t *testing.T, nc *nats.Conn, subj, body string) map[string]any { return jsReq(t, nc, subj, body) }
		}
		m := one(t, nc, "$JS.API.STREAM.INFO.S1", "")
		st, _ := m["state"].(map[string]any)
		if st == nil || st["messages"] != float64(3) {
			t.Fatalf("S1 info: %v", m)
		}
		if m := one(t, nc, "$JS.API.STREAM.NAMES", ""); fmt.Sprint(m["streams"]) != "[S0 S1 S2]" {
			t.Fatalf("names: %v", m)
		}
		m = one(t, nc, "$JS.API.STREAM.LIST", "")
		if list, _ := m["streams"].([]any); len(list) != 3 || m["missing"] != nil {
			t.Fatalf("list: %v", m)
		}
		if m := one(t, nc, "$JS.API.INFO", ""); m["error"] != nil {
			t.Fatalf("account info: %v", m)
		}
	}
	// Unknown streams are "not found" once; a name taken is refused.
	if _, ec, _ := apiErr(one(t, ncs[0], "$JS.API.STREAM.INFO.NOPE", "")); ec != 10059 {
		t.Fatalf("unknown stream: err %v", ec)
	}
	if _, ec, _ := apiErr(one(t, ncs[1], "$JS.API.STREAM.CREATE.S0", `{"name":"S0","subjects":["other"]}`)); ec != 10058 {
		t.Fatalf("create with another config: err %v", ec)
	}
	if _, ec, _ := apiErr(one(t, ncs[1], "$JS.API.STREAM.CREATE.X", `{"name":"X","subjects":["s0.y"]}`)); ec != 10065 {
		t.Fatalf("overlapping subjects across servers: err %v", ec)
	}
	// Consumers live with their stream and serve clients of every server.
	for i, nc := range ncs {
		js, _ := jetstream.New(nc)
		ctx := t.Context()
		c, err := js.CreateOrUpdateConsumer(ctx, "S2", jetstream.ConsumerConfig{Durable: fmt.Sprintf("D%d", i), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("consumer through server %d: %v", i, err)
		}
		if ci := c.CachedInfo(); ci.Cluster == nil || ci.Cluster.Name != "rc" || ci.Cluster.Leader == "" {
			t.Fatalf("consumer info cluster block: %+v", ci.Cluster)
		}
		batch, err := c.Fetch(3, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack through server %d: %v", i, err)
			}
			n++
		}
		if n != 3 {
			t.Fatalf("fetch through server %d: %d messages, want 3", i, n)
		}
	}
	// A push consumer's deliver subject subscribed on another server.
	for i, nc := range ncs {
		inbox := nats.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		m := one(t, nc, "$JS.API.CONSUMER.CREATE.S2.P"+fmt.Sprint(i), fmt.Sprintf(`{"stream_name":"S2","config":{"durable_name":"P%d","deliver_subject":%q,"ack_policy":"explicit"}}`, i, inbox))
		if m["error"] != nil {
			t.Fatalf("push consumer: %v", m)
		}
		for j := 0; j < 3; j++ {
			msg, err := sub.NextMsg(3 * time.Second)
			if err != nil || msg.Subject != "s2.x" || !strings.HasPrefix(msg.Reply, "$JS.ACK.S2.P") {
				t.Fatalf("push delivery %d through server %d: %v %+v", j, i, err, msg)
			}
		}
		sub.Unsubscribe()
	}
	refusedInCluster(t, ncs[1])
	// Delete through any server; the stream is gone everywhere.
	if m := one(t, ncs[2], "$JS.API.STREAM.DELETE.S0", ""); m["success"] != true {
		t.Fatalf("delete: %v", m)
	}
	if m := one(t, ncs[0], "$JS.API.STREAM.NAMES", ""); fmt.Sprint(m["streams"]) != "[S1 S2]" {
		t.Fatalf("names after delete: %v", m)
	}
	if _, err := ncs[1].Request("s0.x", nil, 300*time.Millisecond); err == nil {
		t.Fatalf("a deleted stream still acknowledges")
	}
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// refusedInCluster checks what this slice refuses in clustered mode.
func refusedInCluster(t *testing.T, nc *nats.Conn) {
	m := one(t, nc, "$JS.API.STREAM.CREATE.R3", `{"name":"R3","subjects":["R3"],"num_replicas":3,"persist_mode":"async"}`)
	if _, ec, desc := apiErr(m); ec != 10052 || desc != "async persist mode is not supported on replicated streams" {
		t.Fatalf("R3 async persist create (refused as by the reference): %v", m)
	}
	m = one(t, nc, "$JS.API.STREAM.CREATE.R5", `{"name":"R5","num_replicas":5}`)
	if _, ec, desc := apiErr(m); ec != 10005 || desc != "no suitable peers for placement" {
		t.Fatalf("R5 create on 3 servers: %v", m)
	}
	m = one(t, nc, "$JS.API.STREAM.CREATE.P", `{"name":"P","placement":{"cluster":"elsewhere"}}`)
	if _, ec, _ := apiErr(m); ec != 10005 {
		t.Fatalf("placement in another cluster: %v", m)
	}
}

func TestJetStreamClusterMetaStepdown(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[1])
	leader := func() string {
		var name string
		waitFor(t, 10*time.Second, "a meta leader in /jsz", func() bool {
			for _, s := range servers {
				jsz := s.Jsz(nil)
				if jsz.Meta == nil || jsz.Meta.Leader == "" {
					return false
				}
				if name != "" && jsz.Meta.Leader != name {
					return false
				}
				name = jsz.Meta.Leader
			}
			return true
		})
		return name
	}
	old := leader()
	if m := one(t, nc, "$JS.API.META.LEADER.STEPDOWN", ""); m["success"] != true {
		t.Fatalf("stepdown: %v", m)
	}
	waitFor(t, 10*time.Second, "a new meta leader", func() bool { return leader() != old })
	// The group keeps working under its new leader.
	if m := one(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A"}`); m["did_create"] != true {
		t.Fatalf("create after stepdown: %v", m)
	}
}

// A server restarted keeps its streams and the cluster's assignments; a
// stream deleted while its server was down is gone when it returns.
func TestJetStreamClusterRestartKeepsStreams(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, opts := runJSClusterOpts(t, 3)
	nc := connect(t, servers[0])
	host := map[string]string{}
	for i := 0; i < 4; i++ {
		m := one(t, nc, fmt.Sprintf("$JS.API.STREAM.CREATE.K%d", i), fmt.Sprintf(`{"name":"K%d","subjects":["k%d"]}`, i, i))
		host[fmt.Sprintf("K%d", i)] = m["cluster"].(map[string]any)["leader"].(string)
		if _, err := nc.Request(fmt.Sprintf("k%d", i), []byte("v"), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Restart the last server with the same store and name; one of its
	// streams is deleted while it is down.
	old := servers[2]
	var gone string
	for name, h := range host {
		if h == old.Name() {
			gone = name
		}
	}
	if gone == "" {
		t.Fatalf("no stream on %s: %v", old.Name(), host)
	}
	old.Shutdown()
	old.WaitForShutdown()
	waitFor(t, 10*time.Second, "the delete of a stream whose server is down", func() bool {
		got := answers(t, nc, "$JS.API.STREAM.DELETE."+gone, "", 500*time.Millisecond)
		return len(got) == 1 && got[0]["success"] == true
	})
	servers[2] = RunServer(t, opts[2])
	waitMetaLeader(t, servers)
	nc2 := connect(t, servers[2])
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("K%d", i)
		var m map[string]any
		waitFor(t, 10*time.Second, "stream info after restart", func() bool {
			got := answers(t, nc2, "$JS.API.STREAM.INFO."+name, "", 500*time.Millisecond)
			if len(got) != 1 {
				return false
			}
			m = got[0]
			_, ec, _ := apiErr(m)
			return (name == gone) == (ec == 10059)
		})
		if name == gone {
			continue
		}
		if st, _ := m["state"].(map[string]any); st["messages"] != float64(1) {
			t.Fatalf("%s after restart: %v", name, m)
		}
	}
	if jsz := servers[2].Jsz(nil); jsz.Streams != countHosted(host, servers[2].Name())-1 {
		t.Fatalf("the restarted server holds %d streams", jsz.Streams)
	}
}

func countHosted(host map[string]string, name string) int {
	n := 0
	for _, h := range host {
		if h == name {
			n++
		}
	}
	return n
}

// metaLeaderIndex is the index of the server leading the meta group.
func metaLeaderIndex(t *testing.T, servers []*server.Server) int {
	t.Helper()
	idx := -1
	waitFor(t, 10*time.Second, "the meta leader", func() bool {
		for i, s := range servers {
			if s.Running() {
				if m := s.Jsz(nil).Meta; m != nil && m.Leader == s.Name() {
					idx = i
					return true
				}
			}
		}
		return false
	})
	return idx
}

// The meta leader's server goes: the others elect a new leader and keep
// placing streams on the servers still up; with only one server of three
// left, the meta group has no leader and says so (10008).
func TestJetStreamClusterMetaLeaderLoss(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	lead := metaLeaderIndex(t, servers)
	servers[lead].Shutdown()
	servers[lead].WaitForShutdown()
	var rest []*server.Server
	for i, s := range servers {
		if i != lead {
			rest = append(rest, s)
		}
	}
	nc := connect(t, rest[0])
	var m map[string]any
	waitFor(t, 15*time.Second, "a create under a new meta leader", func() bool {
		got := answers(t, nc, "$JS.API.STREAM.CREATE.AFTER", `{"name":"AFTER"}`, time.Second)
		if len(got) == 1 && got[0]["did_create"] == true {
			m = got[0]
			return true
		}
		return false
	})
	if cl, _ := m["cluster"].(map[string]any); cl["leader"] == servers[lead].Name() {
		t.Fatalf("a stream was placed on the server that is down: %v", cl)
	}
	rest[1].Shutdown()
	rest[1].WaitForShutdown()
	waitFor(t, 15*time.Second, "err 10008 without a quorum", func() bool {
		got := answers(t, nc, "$JS.API.INFO", "", 500*time.Millisecond)
		if len(got) != 1 {
			return false
		}
		_, ec, _ := apiErr(got[0])
		return ec == 10008
	})
}

// KV buckets (R1) work from every server of the cluster.
func TestJetStreamClusterKV(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	ctx := t.Context()
	js0, _ := jetstream.New(connect(t, servers[0]))
	kv0, err := js0.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B", History: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv0.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		js, _ := jetstream.New(connect(t, s))
		kv, err := js.KeyValue(ctx, "B")
		if err != nil {
			t.Fatalf("bucket through server %d: %v", i, err)
		}
		if _, err := kv.Put(ctx, "k", []byte(fmt.Sprint("v", i+2))); err != nil {
			t.Fatalf("put through server %d: %v", i, err)
		}
		e, err := kv.Get(ctx, "k")
		if err != nil || string(e.Value()) != fmt.Sprint("v", i+2) {
			t.Fatalf("get through server %d: %v %v", i, e, err)
		}
	}
}

// In clustered mode a stream's info lists it and its mirrors as alternates
// (the reference's shape: name and cluster, the stream first); a stream
// nothing mirrors, and the mirror itself, list none.
func TestJetStreamClusterStreamInfoAlternates(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runJSCluster(t, 3)
	nc := connect(t, servers[0])
	if m := jsReq(t, nc, "$JS.API.STREAM.CREATE.TEST", `{"name":"TEST","subjects":["foo"]}`); m["error"] != nil {
		t.Fatalf("create TEST: %v", m)
	}
	if m := jsReq(t, nc, "$JS.API.STREAM.INFO.TEST", ""); m["alternates"] != nil {
		t.Fatalf("alternates without a mirror: %v", m["alternates"])
	}
	if m := jsReq(t, nc, "$JS.API.STREAM.CREATE.MIRROR", `{"name":"MIRROR","mirror":{"name":"TEST"}}`); m["error"] != nil {
		t.Fatalf("create MIRROR: %v", m)
	}
	m := jsReq(t, nc, "$JS.API.STREAM.INFO.TEST", "")
	b, _ := json.Marshal(m["alternates"])
	if want := `[{"cluster":"rc","name":"TEST"},{"cluster":"rc","name":"MIRROR"}]`; string(b) != want {
		t.Fatalf("TEST alternates %s, want %s", b, want)
	}
	if m := jsReq(t, nc, "$JS.API.STREAM.INFO.MIRROR", ""); m["alternates"] != nil {
		t.Fatalf("the mirror lists alternates: %v", m["alternates"])
	}
}

// A new cluster gathers its members into the meta group as soon as its
// first leader has applied the group's id: the members join within a few
// ticks of the election (they used to wait for the 5 s ask-again delay,
// so an R3 create right after start-up got 10005 for seconds where the
// reference's cluster is ready at once).
func TestJetStreamClusterMetaGathersMembersQuickly(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		o.JetStream, o.StoreDir = true, t.TempDir()
	})
	waitFor(t, 30*time.Second, "a meta leader", func() bool {
		for _, s := range servers {
			if m := s.Jsz(nil).Meta; m != nil && m.Leader != "" {
				return true
			}
		}
		return false
	})
	elected := time.Now()
	waitFor(t, 30*time.Second, "three members in the meta group", func() bool {
		for _, s := range servers {
			if m := s.Jsz(nil).Meta; m != nil && m.Leader == s.Name() {
				return m.Size == 3
			}
		}
		return false
	})
	if took := time.Since(elected); took > 4800*time.Millisecond {
		t.Fatalf("the meta group took %v after its election to gather its three members", took)
	}
}
