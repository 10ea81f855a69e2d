package test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The warning our JetStream servers log once per JetStream server of the
// reference in their cluster (server/jetstream_cluster_mixed.go).
const mixedWarning = "JetStream cluster with servers of another implementation is not supported yet"

// jsNodes prepares one node per binary; js[i] enables JetStream (with its
// own store) on node i. Every node is named n<i>.
func jsNodes(t *testing.T, bins []string, js []bool) []*node {
	nodes := newNodes(t, bins...)
	for i, n := range nodes {
		n.extra = []string{"--name", "n" + strconv.Itoa(i)}
		if js[i] {
			n.extra = append(n.extra, "--js", "--sd", filepath.Join(t.TempDir(), "n"+strconv.Itoa(i)))
		}
	}
	for _, n := range nodes {
		n.start(t, nodes[0])
	}
	return nodes
}

// apiAnswers sends one $JS.API request from a client of n and returns
// every answer: the first within 10s (a leaderless reference server may
// take seconds to answer), then any other within a quiet second (the
// absence of a second answer can only be awaited). answers waits one
// fixed window instead.
func apiAnswers(t *testing.T, n *node, subject string) []map[string]any {
	t.Helper()
	nc, err := nats.Connect(n.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for wait := 10 * time.Second; ; wait = time.Second {
		m, err := sub.NextMsg(wait)
		if err != nil {
			return out
		}
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("answer %q: %v", m.Data, err)
		}
		out = append(out, v)
	}
}

// apiErrCode is the err_code of an API answer, 0 without an error.
func apiErrCode(v map[string]any) int {
	_, code, _ := apiErr(v)
	return int(code)
}

// waitJetStream waits for the meta group to answer $JS.API.INFO on n
// without an error.
func waitJetStream(t *testing.T, n *node) {
	t.Helper()
	waitFor(t, 30*time.Second, "a JetStream meta leader", func() bool {
		a := apiAnswers(t, n, "$JS.API.INFO")
		return len(a) == 1 && apiErrCode(a[0]) == 0
	})
}

// checkNoCrashBoundedLogs: every node still runs, our servers warn exactly
// once per reference JetStream server, and no node's log runs away.
func checkNoCrashBoundedLogs(t *testing.T, nodes []*node, ours []bool, refJS int) {
	t.Helper()
	for i, n := range nodes {
		select {
		case <-n.p.done:
			t.Fatalf("node %d exited: %v\n%s", i, n.p.err, n.p.output())
		default:
		}
		out := n.p.output()
		if lines := strings.Count(out, "\n"); lines > 300 {
			t.Fatalf("node %d logged %d lines:\n%s", i, lines, out)
		}
		if ours[i] {
			if c := strings.Count(out, mixedWarning); c != refJS {
				t.Fatalf("node %d warned %d times, want %d:\n%s", i, c, refJS, out)
			}
		}
	}
}

// checkStreamVia creates stream name (subjects <name>.>) through a client
// of node h, fills it from a client of every node (the publish acks come
// from the stream) and reads its count back, each request answered once.
func checkStreamVia(t *testing.T, nodes []*node, h int, name string) {
	t.Helper()
	nc, err := nats.Connect(nodes[h].url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.MaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
		t.Fatalf("stream create via node %d: %v", h, err)
	}
	for i, n := range nodes {
		pc, err := nats.Connect(n.url())
		if err != nil {
			t.Fatal(err)
		}
		pjs, _ := pc.JetStream(nats.MaxWait(10 * time.Second))
		waitFor(t, 10*time.Second, "stream interest on node "+strconv.Itoa(i), func() bool {
			_, err := pjs.Publish(name+"."+strconv.Itoa(i), []byte("x"))
			return err == nil
		})
		pc.Close()
	}
	a := apiAnswers(t, nodes[h], "$JS.API.STREAM.INFO."+name)
	if len(a) != 1 || apiErrCode(a[0]) != 0 {
		t.Fatalf("stream info answers: %v", a)
	}
	state, _ := a[0]["state"].(map[string]any)
	if got, _ := state["messages"].(float64); int(got) != len(nodes) {
		t.Fatalf("stream holds %v messages, want %d (one from a client of each server)", got, len(nodes))
	}
}

// JetStream on every server of a mixed cluster: core traffic flows every
// way; our servers form their meta group without the reference's and
// serve their clients' JetStream (a stream on ours, filled from clients of
// every server); a client of a reference server gets exactly one answer,
// its own server's, not ours as well. Two reference servers form their own
// meta group beside ours (one cannot: it waits for a majority of the
// cluster, and answers 10008) and serve their clients a stream of theirs.
func TestJetStreamMixedClusterWithReference(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	ref := refBin(t)
	for _, c := range []struct {
		name    string
		bins    []string
		ours    []bool
		refMeta bool // the reference's servers elect their meta leader
	}{
		{"two of ours", []string{serverBin, serverBin, ref}, []bool{true, true, false}, false},
		{"one of ours", []string{serverBin, ref, ref}, []bool{true, false, false}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes := jsNodes(t, c.bins, []bool{true, true, true})
			checkAllPairs(t, nodes)
			checkQueueOnce(t, nodes, 500)
			waitJetStream(t, nodes[0])
			checkStreamVia(t, nodes, 0, "OURS")
			refJS := 0
			for i, n := range nodes {
				if c.ours[i] {
					continue
				}
				refJS++
				if c.refMeta {
					waitJetStream(t, n)
				}
				if a := apiAnswers(t, n, "$JS.API.INFO"); len(a) != 1 {
					t.Fatalf("a client of reference node %d got %d answers: %v", i, len(a), a)
				}
			}
			if c.refMeta {
				checkStreamVia(t, nodes, 1, "REF")
			}
			checkNoCrashBoundedLogs(t, nodes, c.ours, refJS)
		})
	}
}

// JetStream only on our servers: a reference server without JetStream does
// not answer, so its clients' requests are served by our meta group, once.
func TestJetStreamMixedOnlyOursWithReference(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	ref := refBin(t)
	nodes := jsNodes(t, []string{serverBin, serverBin, ref}, []bool{true, true, false})
	checkAllPairs(t, nodes)
	waitJetStream(t, nodes[0])
	a := apiAnswers(t, nodes[2], "$JS.API.INFO")
	if len(a) != 1 || apiErrCode(a[0]) != 0 {
		t.Fatalf("a client of the reference server got answers %v, want one account info", a)
	}
	checkStreamVia(t, nodes, 0, "OURS")
	checkNoCrashBoundedLogs(t, nodes, []bool{true, true, false}, 0)
}

// JetStream only on the reference's servers: it works for their clients,
// with a stream the clients of our server (which has no JetStream) fill
// over the routes. Our server answers no $JS.API request (the reference
// serves them only to its own clients), so its clients see no responders,
// which nats.go reports as JetStream not enabled.
func TestJetStreamMixedOnlyReference(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	ref := refBin(t)
	// Ours is the seed: a reference JetStream seed alone waits for its
	// routes before it says it is ready.
	nodes := jsNodes(t, []string{serverBin, ref, ref}, []bool{false, true, true})
	checkAllPairs(t, nodes)
	waitJetStream(t, nodes[1])
	checkStreamVia(t, nodes, 1, "REF")
	if a := apiAnswers(t, nodes[0], "$JS.API.INFO"); len(a) != 0 {
		t.Fatalf("a client of our server without JetStream got answers %v", a)
	}
	nc, err := nats.Connect(nodes[0].url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream(nats.MaxWait(5 * time.Second))
	if _, err := js.AccountInfo(); err != nats.ErrJetStreamNotEnabled {
		t.Fatalf("account info via our server: %v, want %v", err, nats.ErrJetStreamNotEnabled)
	}
	checkNoCrashBoundedLogs(t, nodes, []bool{true, false, false}, 0)
}
