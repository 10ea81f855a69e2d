package test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// runRaftzCluster is a 3-server JetStream cluster with monitoring and a
// system account user (sys/sys); anonymous clients are user a in $G.
func runRaftzCluster(t *testing.T) []*server.Server {
	servers, _ := runRaftzClusterOpts(t)
	return servers
}

// runRaftzClusterOpts is runRaftzCluster with each server's options.
func runRaftzClusterOpts(t *testing.T) ([]*server.Server, []*server.Options) {
	opts := make([]*server.Options, 3)
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		opts[i] = o
		o.JetStream = true
		o.StoreDir = t.TempDir()
		o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
		o.Accounts = []*server.AccountOpts{{Name: "SYS"}}
		o.SystemAccount = "SYS"
		o.Users = []*server.User{{Username: "sys", Password: "sys", Account: "SYS"}, {Username: "a", Password: "a"}}
		o.NoAuthUser = "a"
	})
	waitMetaLeader(t, servers)
	return servers, opts
}

// metaRaftz is the meta group's entry in a /raftz answer.
func metaRaftz(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	sys, _ := m["SYS"].(map[string]any)
	g, _ := sys["_meta_"].(map[string]any)
	if g == nil {
		t.Fatalf("no SYS > _meta_ in %v", m)
	}
	return g
}

// /raftz shows the meta group on every member in the reference's fields:
// one leader they agree on, the quorum, indexes, the WAL and the peers.
func TestRaftzMetaGroup(t *testing.T) {
	servers := runRaftzCluster(t)
	nc := connect(t, servers[0])
	one(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A"}`) // a few more entries
	var groups []map[string]any
	waitFor(t, 10*time.Second, "every member applied the same commit under one leader", func() bool {
		groups = groups[:0]
		for _, s := range servers {
			groups = append(groups, metaRaftz(t, getMap(t, monitorURL(s)+"/raftz")))
		}
		for _, g := range groups {
			if g["leader"] != groups[0]["leader"] || g["committed"] != groups[0]["committed"] || g["applied"] != g["committed"] {
				return false
			}
		}
		return true
	})
	leaders := 0
	for i, g := range groups {
		for _, k := range []string{"id", "state", "size", "quorum_needed", "committed", "applied", "leader", "ever_had_leader",
			"term", "pterm", "pindex", "system_account", "traffic_account", "ipq_proposal_len", "ipq_entry_len",
			"ipq_resp_len", "ipq_apply_len", "wal", "peers"} {
			if _, ok := g[k]; !ok {
				t.Errorf("%s: no %q in %v", servers[i].Name(), k, g)
			}
		}
		if g["size"] != float64(3) || g["quorum_needed"] != float64(2) || g["ever_had_leader"] != true ||
			g["system_account"] != true || g["traffic_account"] != "SYS" || g["term"].(float64) < 1 {
			t.Errorf("%s: %v", servers[i].Name(), g)
		}
		wal := g["wal"].(map[string]any)
		if wal["last_seq"].(float64) < g["committed"].(float64) || wal["bytes"].(float64) == 0 {
			t.Errorf("%s: wal %v with committed %v", servers[i].Name(), wal, g["committed"])
		}
		peers := g["peers"].(map[string]any)
		if len(peers) != 2 || peers[g["id"].(string)] != nil {
			t.Errorf("%s: peers %v", servers[i].Name(), peers)
		}
		for id, p := range peers {
			p := p.(map[string]any)
			if p["known"] != true || !strings.HasPrefix(p["name"].(string), "s") || len(id) != 8 {
				t.Errorf("%s: peer %s %v", servers[i].Name(), id, p)
			}
		}
		switch g["state"] {
		case "LEADER":
			leaders++
			if g["leader"] != g["id"] || g["leader_since"] == nil {
				t.Errorf("leader %s: %v", servers[i].Name(), g)
			}
			for id, p := range peers {
				if p.(map[string]any)["last_replicated_index"] == nil {
					t.Errorf("leader %s: no last_replicated_index for %s", servers[i].Name(), id)
				}
			}
		case "FOLLOWER":
			if g["leader_since"] != nil || peers[g["leader"].(string)] == nil {
				t.Errorf("follower %s: %v", servers[i].Name(), g)
			}
		default:
			t.Errorf("%s: state %v", servers[i].Name(), g["state"])
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
	base := monitorURL(servers[0])
	for _, q := range []string{"?acc=nope", "?group=nope", "?acc=SYS&group=nope"} {
		if m := getMap(t, base+"/raftz"+q); len(m) != 0 {
			t.Errorf("%s: %v", q, m)
		}
	}
	if m := getMap(t, base+"/raftz?acc=SYS&group=_meta_"); metaRaftz(t, m)["id"] != groups[0]["id"] {
		t.Errorf("filtered: %v", m)
	}
	if _, index, _ := get(t, base+"/"); !strings.Contains(index, "href=./raftz>Raft Groups") {
		t.Errorf("index does not link /raftz:\n%s", index)
	}
}

// $SYS.REQ.SERVER.PING.RAFTZ gets every member's view; the direct form
// one server's; filters and bad JSON as the reference answers them.
func TestRaftzSystemRequests(t *testing.T) {
	servers := runRaftzCluster(t)
	sys := connect(t, servers[1], nats.UserInfo("sys", "sys"))
	inbox := nats.NewInbox()
	sub, err := sys.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.PublishRequest("$SYS.REQ.SERVER.PING.RAFTZ", inbox, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 3 {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%d answers: %v", len(seen), err)
		}
		var r apiReply
		var data map[string]any
		if json.Unmarshal(msg.Data, &r) != nil || json.Unmarshal(r.Data, &data) != nil {
			t.Fatalf("answer %s", msg.Data)
		}
		if metaRaftz(t, data)["size"] != float64(3) {
			t.Fatalf("%s: %s", r.Server.Name, r.Data)
		}
		seen[r.Server.Name] = true
	}
	direct := "$SYS.REQ.SERVER." + servers[2].ID() + ".RAFTZ"
	var data map[string]any
	if r := request(t, sys, direct, `{"account":"SYS","group":"_meta_"}`, &data); r.Server.ID != servers[2].ID() || metaRaftz(t, data) == nil {
		t.Fatalf("direct: %+v", r)
	}
	if r := request(t, sys, direct, `{"account":"nope"}`, nil); string(r.Data) != "{}" {
		t.Fatalf("unknown account: %s", r.Data)
	}
	if r := request(t, sys, direct, `{"bad`, nil); r.Error == nil || r.Error.Code != 400 {
		t.Fatalf("bad JSON: %+v", r)
	}
}

// A server in no Raft group answers /raftz 404 in plain text.
func TestRaftzNoGroups(t *testing.T) {
	o := DefaultTestOptions()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	o.JetStream, o.StoreDir = true, t.TempDir()
	s := RunServer(t, o)
	code, body, _ := get(t, monitorURL(s)+"/raftz")
	if code != http.StatusNotFound || body != "No Raft nodes registered" {
		t.Fatalf("%d %q", code, body)
	}
}
