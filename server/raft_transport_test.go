package server

import (
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// raftTestServers starts n clustered servers (no JetStream) on loopback.
func raftTestServers(t *testing.T, n int) []*Server {
	t.Helper()
	var servers []*Server
	for i := 0; i < n; i++ {
		o := &Options{Host: "127.0.0.1", Port: RANDOM_PORT, NoLog: true, NoSigs: true,
			ServerName: fmt.Sprintf("r%d", i)}
		o.Cluster.Name = "raft"
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = RANDOM_PORT
		if i > 0 {
			u, _ := url.Parse("nats-route://" + servers[0].ClusterAddr().String())
			o.Routes = []*url.URL{u}
		}
		s, err := NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(5 * time.Second) {
			t.Fatal("server not ready")
		}
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range servers {
		for s.NumRemotes() != n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("no full mesh")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return servers
}

// A group whose members live on three servers elects a leader and
// replicates through the routes.
func TestRaftOverRoutes(t *testing.T) {
	servers := raftTestServers(t, 3)
	var ids []uint64
	for _, s := range servers {
		ids = append(ids, raftPeerID(s.Name()))
	}
	dir := t.TempDir()
	var nodes []*raftNode
	var fsms []*raftTestFSM
	for i, s := range servers {
		tr := &raftRouteTransport{s: s, sys: s.SystemAccount()}
		fsm := &raftTestFSM{}
		n, err := startRaftNode(raftNodeConfig{id: ids[i], group: "T", peers: ids,
			dir: filepath.Join(dir, s.Name()), fsm: fsm, transport: tr, tick: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		unsub, err := tr.subscribe("T", n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unsub(); n.Stop() })
		nodes = append(nodes, n)
		fsms = append(fsms, fsm)
	}
	var lead *raftNode
	deadline := time.Now().Add(10 * time.Second)
	for lead == nil && time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.IsLeader() {
				lead = n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if lead == nil {
		t.Fatal("no leader over the routes")
	}
	want := seqVals("r", 0, 50)
	for _, v := range want {
		if err := lead.ProposeWait([]byte(v), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for i, fsm := range fsms {
		deadline := time.Now().Add(10 * time.Second)
		for len(fsm.values()) != len(want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := fsm.values(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("server %d applied %v", i, got)
		}
	}
}

func TestRaftPeerNames(t *testing.T) {
	a, b := raftPeerID("n1"), raftPeerID("n2")
	if a == b || a == 0 || raftPeerID("n1") != a {
		t.Fatalf("peer ids %x %x", a, b)
	}
	if n := raftPeerName(a); len(n) != 8 || n == raftPeerName(b) {
		t.Fatalf("peer names %q %q", n, raftPeerName(b))
	}
	if s := raftSubject("_meta_", a); s != "$NRG.F._meta_."+raftPeerName(a) {
		t.Fatalf("subject %q", s)
	}
}

// FuzzRaftMessageDecode: what arrives on a member's subject.
func FuzzRaftMessageDecode(f *testing.F) {
	b, _ := proto.Marshal(&pb.Message{Type: pb.MsgApp.Enum(), To: proto.Uint64(1), From: proto.Uint64(2),
		Entries: []*pb.Entry{{Index: proto.Uint64(1), Data: []byte("x")}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeRaftMessage(data)
	})
}
