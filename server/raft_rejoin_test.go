package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A member that lost its whole log comes back empty: the leader's
// heartbeats name a commit beyond its log (the library would panic), it
// asks to be re-added, and it gets every entry again; the others keep
// theirs.
func TestRaftLostLogRejoins(t *testing.T) {
	c := newRaftTestCluster(t, 3, 0)
	c.onLost = func(id uint64) {
		if n := c.node(c.leader(0)); n != nil {
			_ = n.ReaddPeer(id)
		}
	}
	want := seqVals("r", 0, 30)
	for _, v := range want {
		c.propose(v)
	}
	lead := c.leader(0)
	victim := c.ids[0]
	if victim == lead {
		victim = c.ids[1]
	}
	c.waitApplied(victim, want)
	c.stop(victim)
	if err := os.RemoveAll(filepath.Join(c.dir, fmt.Sprint(victim))); err != nil {
		t.Fatal(err)
	}
	c.start(victim)
	more := seqVals("r", 30, 40)
	for _, v := range more {
		c.propose(v)
	}
	want = append(want, more...)
	for _, id := range c.ids {
		c.waitApplied(id, want)
	}
}

// A member that started with an empty log grants no vote to a candidate
// with more than the bootstrap entries until it has applied what the first
// leader it heard from had committed.
func TestRaftEmptyLogHoldsVotes(t *testing.T) {
	n := &raftNode{id: 9, store: raft.NewMemoryStorage()}
	n.holdVotes(3)
	vote := func(typ pb.MessageType, index, logTerm uint64) *pb.Message {
		return &pb.Message{Type: typ.Enum(), Index: proto.Uint64(index), LogTerm: proto.Uint64(logTerm)}
	}
	if n.admit(vote(pb.MsgVote, 10, 2)) || n.admit(vote(pb.MsgPreVote, 4, 2)) {
		t.Fatal("a held member admitted a vote request for a candidate with entries")
	}
	if !n.admit(vote(pb.MsgVote, 3, 1)) || !n.admit(vote(pb.MsgPreVote, 3, 1)) {
		t.Fatal("a new group's first election was refused")
	}
	n.admit(&pb.Message{Type: pb.MsgApp.Enum(), Commit: proto.Uint64(7)})
	n.applied = 6
	n.releaseHold()
	if n.admit(vote(pb.MsgVote, 10, 2)) {
		t.Fatal("the hold ended before the member caught up")
	}
	n.applied = 7
	n.releaseHold()
	if !n.admit(vote(pb.MsgVote, 10, 2)) {
		t.Fatal("the hold did not end once caught up")
	}
	// A heartbeat naming a commit beyond the log is clamped.
	hb := &pb.Message{Type: pb.MsgHeartbeat.Enum(), Commit: proto.Uint64(40)}
	n.admit(hb)
	if hb.GetCommit() != 0 {
		t.Fatalf("heartbeat commit %d beyond an empty log", hb.GetCommit())
	}
}
