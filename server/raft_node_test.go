package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// raftTestFSM records what it applies, in order.
type raftTestFSM struct {
	mu   sync.Mutex
	vals []string
}

func (f *raftTestFSM) Apply(_ uint64, data []byte) {
	f.mu.Lock()
	f.vals = append(f.vals, string(data))
	f.mu.Unlock()
}

func (f *raftTestFSM) Snapshot() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return json.Marshal(f.vals)
}

func (f *raftTestFSM) Restore(data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals = nil
	return json.Unmarshal(data, &f.vals)
}

func (f *raftTestFSM) values() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.vals)
}

// raftTestNet is an in-process network: messages are encoded and decoded
// as on the wire, and nodes may be cut off.
type raftTestNet struct {
	mu    sync.Mutex
	nodes map[uint64]*raftNode
	down  map[uint64]bool
}

func (tn *raftTestNet) Send(_ string, msgs []*pb.Message) {
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		tn.mu.Lock()
		to, from := tn.nodes[m.GetTo()], m.GetFrom()
		cut := tn.down[m.GetTo()] || tn.down[from]
		tn.mu.Unlock()
		if to == nil || cut {
			continue
		}
		dm := &pb.Message{}
		if err := proto.Unmarshal(b, dm); err != nil {
			panic(err)
		}
		to.Step(dm)
	}
}

// raftTestCluster is n nodes with their logs in dirs of their own.
type raftTestCluster struct {
	t    *testing.T
	net  *raftTestNet
	dir  string
	ids  []uint64
	fsms map[uint64]*raftTestFSM
	snap uint64
	// crypt is the encryption the nodes (re)start with.
	crypt raftCrypt
	// fs is the nodes' file system (nil: the OS) and tick their tick
	// (0: 10 ms); set by newRaftTestClusterFS.
	fs   storeFS
	tick time.Duration
	// onLost, if set, is what a node whose log was lost calls (onLostLog).
	onLost func(id uint64)
}

func newRaftTestCluster(t *testing.T, n int, snapEvery uint64) *raftTestCluster {
	t.Helper()
	return newRaftTestClusterCrypt(t, n, snapEvery, raftCrypt{})
}

// newRaftTestClusterCrypt starts n nodes whose logs are encrypted with rc.
func newRaftTestClusterCrypt(t *testing.T, n int, snapEvery uint64, rc raftCrypt) *raftTestCluster {
	t.Helper()
	return startRaftTestCluster(&raftTestCluster{t: t, dir: t.TempDir(), snap: snapEvery, crypt: rc}, n)
}

// newRaftTestClusterFS starts n nodes on fs with the given tick.
func newRaftTestClusterFS(t *testing.T, n int, fs storeFS, tick time.Duration) *raftTestCluster {
	t.Helper()
	return startRaftTestCluster(&raftTestCluster{t: t, dir: t.TempDir(), fs: fs, tick: tick}, n)
}

func startRaftTestCluster(c *raftTestCluster, n int) *raftTestCluster {
	t := c.t
	t.Helper()
	c.net = &raftTestNet{nodes: map[uint64]*raftNode{}, down: map[uint64]bool{}}
	c.fsms = map[uint64]*raftTestFSM{}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	for _, id := range c.ids {
		c.start(id)
	}
	t.Cleanup(func() {
		for _, id := range c.ids {
			c.stop(id)
		}
	})
	return c
}

func (c *raftTestCluster) start(id uint64) {
	c.t.Helper()
	fsm := &raftTestFSM{}
	tick := c.tick
	if tick == 0 {
		tick = 10 * time.Millisecond
	}
	var onLost func()
	if c.onLost != nil {
		onLost = func() { c.onLost(id) }
	}
	n, err := startRaftNode(raftNodeConfig{id: id, group: "G", peers: c.ids,
		dir: filepath.Join(c.dir, fmt.Sprint(id)), fs: c.fs, fsm: fsm, transport: c.net,
		tick: tick, snapEvery: c.snap, crypt: c.crypt, onLostLog: onLost})
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.net.mu.Lock()
	c.net.nodes[id] = n
	c.fsms[id] = fsm
	delete(c.net.down, id)
	c.net.mu.Unlock()
}

func (c *raftTestCluster) stop(id uint64) {
	c.net.mu.Lock()
	n := c.net.nodes[id]
	delete(c.net.nodes, id)
	c.net.mu.Unlock()
	if n != nil {
		n.Stop()
	}
}

func (c *raftTestCluster) node(id uint64) *raftNode {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.net.nodes[id]
}

// leader waits for the running nodes to agree on one leader other than
// not (0: any), and returns it.
func (c *raftTestCluster) leader(not uint64) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		c.net.mu.Lock()
		for id, n := range c.net.nodes {
			if c.net.down[id] {
				continue
			}
			l := n.Leader()
			if l == 0 || (lead != 0 && l != lead) {
				agree = false
			}
			lead = l
		}
		c.net.mu.Unlock()
		if agree && lead != 0 && lead != not && c.node(lead) != nil {
			return lead
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader")
	return 0
}

// propose proposes on the current leader, retrying through elections.
func (c *raftTestCluster) propose(val string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := c.node(c.leader(0))
		if n == nil {
			continue
		}
		if err := n.ProposeWait([]byte(val), 2*time.Second); err == nil {
			return
		}
	}
	c.t.Fatalf("proposal %q never committed", val)
}

// waitApplied waits until node id applied want exactly.
func (c *raftTestCluster) waitApplied(id uint64, want []string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		c.net.mu.Lock()
		fsm := c.fsms[id]
		c.net.mu.Unlock()
		got = fsm.values()
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("node %d applied %d values, want %d (first diff in %v...)", id, len(got), len(want), got[:min(len(got), 5)])
}

func seqVals(prefix string, from, to int) []string {
	var v []string
	for i := from; i < to; i++ {
		v = append(v, fmt.Sprintf("%s%d", prefix, i))
	}
	return v
}

func TestRaftElectionAndReplication(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newRaftTestCluster(t, size, 0)
			lead := c.leader(0)
			n := c.node(lead)
			want := seqVals("v", 0, 200)
			var chans []<-chan error
			for _, v := range want {
				chans = append(chans, n.Propose([]byte(v)))
			}
			for i, ch := range chans {
				if err := <-ch; err != nil {
					t.Fatalf("proposal %d: %v", i, err)
				}
			}
			for _, id := range c.ids {
				c.waitApplied(id, want)
			}
			// A follower refuses proposals: only the leader orders the log.
			for _, id := range c.ids {
				if id != lead {
					if err := c.node(id).ProposeWait([]byte("x"), time.Second); err != errRaftNotLead {
						t.Fatalf("follower proposal: %v, want %v", err, errRaftNotLead)
					}
					break
				}
			}
		})
	}
}

func TestRaftFollowerRestartCatchesUp(t *testing.T) {
	c := newRaftTestCluster(t, 3, 0)
	lead := c.leader(0)
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	for _, v := range seqVals("a", 0, 20) {
		c.propose(v)
	}
	c.waitApplied(follower, seqVals("a", 0, 20))
	c.stop(follower)
	for _, v := range seqVals("a", 20, 60) {
		c.propose(v)
	}
	c.start(follower)
	// The restarted node replays its own log, then gets the rest.
	c.waitApplied(follower, seqVals("a", 0, 60))
}

func TestRaftLeaderKillReelects(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newRaftTestCluster(t, size, 0)
			want := seqVals("k", 0, 30)
			for _, v := range want {
				c.propose(v)
			}
			old := c.leader(0)
			c.stop(old)
			lead := c.leader(old)
			if lead == old {
				t.Fatalf("the stopped leader still leads")
			}
			more := seqVals("k", 30, 50)
			for _, v := range more {
				c.propose(v)
			}
			want = append(want, more...)
			for _, id := range c.ids {
				if id != old {
					c.waitApplied(id, want)
				}
			}
			// The old leader comes back as a follower with every entry.
			c.start(old)
			c.waitApplied(old, want)
		})
	}
}

func TestRaftSnapshotCatchUp(t *testing.T) {
	c := newRaftTestCluster(t, 3, 16)
	lead := c.leader(0)
	lag := c.ids[0]
	if lag == lead {
		lag = c.ids[1]
	}
	c.net.mu.Lock()
	c.net.down[lag] = true
	c.net.mu.Unlock()
	want := seqVals("s", 0, 100)
	for _, v := range want {
		c.propose(v)
	}
	// Far behind the leader's compacted log, the follower gets a snapshot.
	c.net.mu.Lock()
	delete(c.net.down, lag)
	c.net.mu.Unlock()
	c.waitApplied(lag, want)
	if _, err := os.Stat(filepath.Join(c.dir, fmt.Sprint(lag), "snap")); err != nil {
		t.Fatalf("the lagging follower caught up without a snapshot: %v", err)
	}
	// And it restarts from its snapshot plus the log after it.
	c.stop(lag)
	c.start(lag)
	c.waitApplied(lag, want)
}

// A minority cut off cannot commit; what the majority committed survives
// the minority's return and its stale leadership.
func TestRaftPartitionNoCommittedLoss(t *testing.T) {
	c := newRaftTestCluster(t, 5, 0)
	want := seqVals("p", 0, 10)
	for _, v := range want {
		c.propose(v)
	}
	old := c.leader(0)
	c.net.mu.Lock()
	c.net.down[old] = true
	c.net.mu.Unlock()
	if err := c.node(old).ProposeWait([]byte("lost"), 500*time.Millisecond); err == nil {
		t.Fatalf("an isolated leader committed a proposal")
	}
	more := seqVals("p", 10, 20)
	for _, v := range more {
		c.propose(v)
	}
	want = append(want, more...)
	c.net.mu.Lock()
	delete(c.net.down, old)
	c.net.mu.Unlock()
	for _, id := range c.ids {
		c.waitApplied(id, want)
	}
}

// A leader sends its appends before its own fsync: while the leader's
// fsync is held, both followers persist the new entry. The proposal is
// answered only after the fsync returns, and then everywhere applied.
func TestRaftLeaderAppendsBeforeItsFsync(t *testing.T) {
	m := newMemFS()
	c := newRaftTestClusterFS(t, 3, m, 50*time.Millisecond)
	c.propose("a")
	lead := c.leader(0)
	for _, id := range c.ids {
		c.waitApplied(id, []string{"a"})
	}
	var followers []*raftNode
	for _, id := range c.ids {
		if id != lead {
			followers = append(followers, c.node(id))
		}
	}
	base := followers[0].View().lastIndex
	leadDir := filepath.Join(c.dir, fmt.Sprint(lead)) + string(filepath.Separator)
	hold := make(chan struct{})
	var held atomic.Bool
	m.setFault(func(op, name string) error {
		if op == "sync" && strings.HasPrefix(name, leadDir) {
			held.Store(true)
			<-hold
		}
		return nil
	})
	done := c.node(lead).Propose([]byte("b"))
	deadline := time.Now().Add(5 * time.Second)
	for !held.Load() || followers[0].View().lastIndex <= base || followers[1].View().lastIndex <= base {
		if time.Now().After(deadline) {
			close(hold)
			t.Fatalf("followers did not get the entry while the leader's fsync was held (held %v)", held.Load())
		}
		time.Sleep(time.Millisecond) // polling the nodes' views: nothing to await
	}
	select {
	case err := <-done:
		close(hold)
		t.Fatalf("answered before the leader's fsync returned: %v", err)
	default:
	}
	m.setFault(nil)
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		c.waitApplied(id, []string{"a", "b"})
	}
}

// The answers that promise a persisted entry or vote wait for the fsync;
// everything else may go first, in its order.
func TestRaftSplitReadyMessages(t *testing.T) {
	types := []pb.MessageType{pb.MsgApp, pb.MsgAppResp, pb.MsgHeartbeat, pb.MsgVoteResp,
		pb.MsgVote, pb.MsgPreVoteResp, pb.MsgHeartbeatResp, pb.MsgSnap}
	var msgs []*pb.Message
	for _, ty := range types {
		msgs = append(msgs, &pb.Message{Type: ty.Enum()})
	}
	early, late := splitReadyMessages(msgs, nil)
	kinds := func(ms []*pb.Message) (out []pb.MessageType) {
		for _, m := range ms {
			out = append(out, m.GetType())
		}
		return out
	}
	if got, want := kinds(early), []pb.MessageType{pb.MsgApp, pb.MsgHeartbeat, pb.MsgVote, pb.MsgHeartbeatResp, pb.MsgSnap}; !slices.Equal(got, want) {
		t.Fatalf("early %v, want %v", got, want)
	}
	if got, want := kinds(late), []pb.MessageType{pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp}; !slices.Equal(got, want) {
		t.Fatalf("late %v, want %v", got, want)
	}
}
