package test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// advisoryCounter counts the advisories a subscription received, by
// subject, remembering the last body of each.
type advisoryCounter struct {
	sub    *nats.Subscription
	counts map[string]int
	last   map[string]map[string]any
}

func countAdvisories(t *testing.T, nc *nats.Conn, subj string) *advisoryCounter {
	t.Helper()
	sub, err := nc.SubscribeSync(subj)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &advisoryCounter{sub: sub, counts: map[string]int{}, last: map[string]map[string]any{}}
}

// expect checks the counts of the subjects in want.
func (a *advisoryCounter) expect(t *testing.T, want map[string]int) {
	t.Helper()
	for subj, n := range want {
		if a.counts[subj] != n {
			t.Fatalf("%s: %d, want %d (all: %v)", subj, a.counts[subj], n, a.counts)
		}
	}
}

// drain reads what arrived until nothing more comes for quiet.
func (a *advisoryCounter) drain(t *testing.T, quiet time.Duration) {
	t.Helper()
	for {
		m, err := a.sub.NextMsg(quiet)
		if err != nil {
			return
		}
		var body map[string]any
		if err := json.Unmarshal(m.Data, &body); err != nil {
			t.Fatalf("%s: %q", m.Subject, m.Data)
		}
		a.counts[m.Subject]++
		a.last[m.Subject] = body
	}
}

// A replicated stream's advisories go out once per cluster, from its
// leader: created, updated, deleted, consumer created, and the leader
// elections of the stream and its consumers (after the create and after a
// stepdown), these also in the system account with `account` set.
func TestJetStreamClusterAdvisoriesOnce(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers, _ := runRaftzClusterOpts(t)
	nc := connect(t, servers[0])
	sys := connect(t, servers[1], nats.UserInfo("sys", "sys"))
	acc := countAdvisories(t, nc, "$JS.EVENT.ADVISORY.>")
	sysAdv := countAdvisories(t, sys, "$JS.EVENT.ADVISORY.*.LEADER_ELECTED.>")
	js := r3Stream(t, nc, "ADV", 3)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(ctx, "ADV", jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatal(err)
	}
	acc.drain(t, time.Second)
	acc.expect(t, map[string]int{
		"$JS.EVENT.ADVISORY.STREAM.CREATED.ADV":            1,
		"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV":     1,
		"$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.D":        1,
		"$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.ADV.D": 1,
	})
	lead := acc.last["$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV"]
	if reps, _ := lead["replicas"].([]any); len(reps) != 3 || lead["leader"] == "" ||
		lead["type"] != "io.nats.jetstream.advisory.v1.stream_leader_elected" || lead["account"] != nil {
		t.Fatalf("stream_leader_elected: %v", lead)
	}

	if got := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.ADV", ""); got["success"] != true {
		t.Fatalf("stepdown: %v", got)
	}
	waitFor(t, 20*time.Second, "a new leader", func() bool { return streamInfo(t, js, "ADV").Cluster.Leader != lead["leader"] })
	si := streamInfo(t, js, "ADV")
	cfg := si.Config
	cfg.MaxMsgs = 10
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "ADV"); err != nil {
		t.Fatal(err)
	}
	acc.drain(t, time.Second)
	acc.expect(t, map[string]int{
		"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV":     2,
		"$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.ADV.D": 2,
		"$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV":            1,
		"$JS.EVENT.ADVISORY.STREAM.DELETED.ADV":            1,
		"$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.D":        1,
	})
	if l := acc.last["$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV"]; l["leader"] != si.Cluster.Leader {
		t.Fatalf("the second election names %v, the stream's leader is %s", l["leader"], si.Cluster.Leader)
	}
	// The system account's copies: the same events with the account.
	sysAdv.drain(t, 500*time.Millisecond)
	for subj, n := range sysAdv.counts {
		if !strings.HasSuffix(subj, ".ADV") && !strings.HasSuffix(subj, ".ADV.D") || n != 2 {
			t.Fatalf("system account: %v", sysAdv.counts)
		}
		if sysAdv.last[subj]["account"] != "$G" || sysAdv.last[subj]["id"] != acc.last[subj]["id"] {
			t.Fatalf("system copy %v of %v", sysAdv.last[subj], acc.last[subj])
		}
	}
	if len(sysAdv.counts) != 2 {
		t.Fatalf("system account: %v", sysAdv.counts)
	}

	// A new meta leader announces itself in the system account by its
	// peer name, with every member.
	dom, err := sys.SubscribeSync("$JS.EVENT.ADVISORY.DOMAIN.LEADER_ELECTED")
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := one(t, nc, "$JS.API.META.LEADER.STEPDOWN", ""); got["success"] != true {
		t.Fatalf("meta stepdown: %v", got)
	}
	dm, err := dom.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no domain_leader_elected: %v", err)
	}
	var de map[string]any
	if err := json.Unmarshal(dm.Data, &de); err != nil || de["type"] != "io.nats.jetstream.advisory.v1.domain_leader_elected" ||
		de["cluster"] != "rc" || len(de["leader"].(string)) != 8 || len(de["replicas"].([]any)) != 3 {
		t.Fatalf("domain_leader_elected: %s", dm.Data)
	}

	// The leader of a stream whose other replicas go away loses its
	// quorum and says so, for its consumers too.
	r3Stream(t, nc, "QL", 3)
	if _, err := js.CreateOrUpdateConsumer(ctx, "QL", jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatal(err)
	}
	si = streamInfo(t, js, "QL")
	leader := serverNamed(t, servers, si.Cluster.Leader)
	ncl := connect(t, servers[leader])
	lost, err := ncl.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.QUORUM_LOST.QL")
	if err != nil {
		t.Fatal(err)
	}
	clost, err := ncl.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.QUORUM_LOST.QL.D")
	if err != nil {
		t.Fatal(err)
	}
	if err := ncl.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		if i != leader {
			s.Shutdown()
		}
	}
	m, err := lost.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no quorum lost advisory: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev["type"] != "io.nats.jetstream.advisory.v1.stream_quorum_lost" || ev["stream"] != "QL" {
		t.Fatalf("quorum lost: %s", m.Data)
	}
	if m, err = clost.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(m.Data), `.consumer_quorum_lost","`) {
		t.Fatalf("no consumer quorum lost advisory: %v", err)
	}
}
