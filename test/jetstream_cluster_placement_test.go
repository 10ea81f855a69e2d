package test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// errDesc is the description of an API answer's error ("" if none).
func errDesc(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		d, _ := e["description"].(string)
		return d
	}
	return ""
}

// Placement by tags and unique_tag on five servers tagged az:z0..z2 and
// n:<index>, with unique_tag az: the reference's placements and errors
// (observed on v2.15.2).
func TestJetStreamClusterPlacementTags(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runCluster(t, 5, func(i int, o *server.Options) {
		o.JetStream = true
		o.StoreDir = t.TempDir()
		o.ServerTags = []string{"az:z" + strconv.Itoa(i%3), "N:" + strconv.Itoa(i)}
		o.JetStreamUniqueTag = "az"
	})
	waitMetaLeader(t, servers)
	nc := connect(t, servers[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string, replicas int, placement string) map[string]any {
		body := `{"name":"` + name + `","subjects":["` + name + `"],"num_replicas":` + strconv.Itoa(replicas)
		if placement != "" {
			body += `,"placement":` + placement
		}
		got := answers(t, nc, "$JS.API.STREAM.CREATE."+name, body+"}", 2*time.Second)
		if len(got) != 1 {
			t.Fatalf("create %s: %d answers %v", name, len(got), got)
		}
		return got[0]
	}
	// Tags match whatever their case; an R1 stream lands on the one server.
	if got := create("T1", 1, `{"tags":["n:2"]}`); errDesc(got) != "" {
		t.Fatalf("T1: %v", got)
	}
	if si := streamInfo(t, js, "T1"); si.Cluster.Leader != "s2" {
		t.Fatalf("T1 placed on %s, want s2", si.Cluster.Leader)
	}
	for _, c := range []struct {
		name, placement string
		replicas        int
		want            string
	}{
		{"T2", `{"tags":["n:2"]}`, 3, "no suitable peers for placement, tags not matched ['n:2']"},
		{"T3", `{"tags":["x","y"]}`, 1, "no suitable peers for placement, tags not matched ['x']"},
		{"T4", `{"cluster":"NOPE"}`, 1, "no suitable peers for placement"},
		{"U5", ``, 5, "no suitable peers for placement, server tag not unique"},
		{"U4", ``, 4, "no suitable peers for placement, server tag not unique"},
	} {
		got := create(c.name, c.replicas, c.placement)
		if errCode(got) != 10005 || errDesc(got) != c.want {
			t.Fatalf("%s: %v, want 10005 %q", c.name, got, c.want)
		}
	}
	// unique_tag: an R3 stream spans the three zones.
	if got := create("U3", 3, ""); errDesc(got) != "" {
		t.Fatalf("U3: %v", got)
	}
	zones := map[int]bool{}
	for _, name := range replicaNames(waitReplicas(t, js, "U3", 3, 0)) {
		i := slices.IndexFunc(servers, func(s *server.Server) bool { return s.Name() == name })
		zones[i%3] = true
	}
	if len(zones) != 3 {
		t.Fatalf("U3 placed in %d zones, want 3", len(zones))
	}
	// A stepdown with tags hands over to the replica that has them.
	si := streamInfo(t, js, "U3")
	to := si.Cluster.Replicas[0].Name
	if got := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.U3", `{"placement":{"tags":["n:`+to[1:]+`"]}}`); got["success"] != true {
		t.Fatalf("stepdown to %s by tag: %v", to, got)
	}
	waitFor(t, 20*time.Second, "leader "+to, func() bool { return streamInfo(t, js, "U3").Cluster.Leader == to })
	if got := one(t, nc, "$JS.API.STREAM.LEADER.STEPDOWN.U3", `{"placement":{"tags":["n:9"]}}`); errDesc(got) != "no replacement peer connected" {
		t.Fatalf("stepdown to no tagged replica: %v", got)
	}
	// Placement tags naming the unique tag place in one zone.
	if got := create("Z0", 2, `{"tags":["az:z0"]}`); errDesc(got) != "" {
		t.Fatalf("Z0: %v", got)
	}
	names := replicaNames(waitReplicas(t, js, "Z0", 2, 0))
	slices.Sort(names)
	if !slices.Equal(names, []string{"s0", "s3"}) {
		t.Fatalf("Z0 placed on %v, want s0 and s3", names)
	}
	// Changing the placement moves the stream, every message with it.
	acked := asyncPublish(t, js, "Z0", 0, 20)
	moved := answers(t, nc, "$JS.API.STREAM.UPDATE.Z0", `{"name":"Z0","subjects":["Z0"],"num_replicas":2,"placement":{"tags":["az:z1"]}}`, 15*time.Second)
	if len(moved) != 1 || errDesc(moved[0]) != "" {
		t.Fatalf("moving Z0: %v", moved)
	}
	waitFor(t, 60*time.Second, "Z0 on s1 and s4", func() bool {
		names = replicaNames(waitReplicas(t, js, "Z0", 2, 20))
		slices.Sort(names)
		return slices.Equal(names, []string{"s1", "s4"})
	})
	readAll(t, js, "Z0", acked, 20)
	waitFor(t, 30*time.Second, "Z0's old copies gone", func() bool {
		return servers[0].Jsz(nil).Messages == 0 && servers[3].Jsz(nil).Messages == 0
	})
	// An R1 stream keeps its server: a placement it still satisfies is
	// taken, one that would move it is refused.
	if got := one(t, nc, "$JS.API.STREAM.UPDATE.T1", `{"name":"T1","subjects":["T1"],"placement":{"tags":["n:2","az:z2"]}}`); errDesc(got) != "" {
		t.Fatalf("T1 placement kept: %v", got)
	}
	if got := one(t, nc, "$JS.API.STREAM.UPDATE.T1", `{"name":"T1","subjects":["T1"],"placement":{"tags":["n:3"]}}`); errCode(got) != 10052 {
		t.Fatalf("T1 moved: %v", got)
	}
	// Scaling past the zones is refused, nothing changes.
	got := one(t, nc, "$JS.API.STREAM.UPDATE.U3", `{"name":"U3","subjects":["U3"],"num_replicas":5}`)
	if errCode(got) != 10005 || errDesc(got) != "no suitable peers for placement, server tag not unique" {
		t.Fatalf("U3 to R5: %v", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if s, err := js.Stream(ctx, "U3"); err != nil || s.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("U3 after a refused scale: %v", err)
	}
}
