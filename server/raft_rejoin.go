package server

import (
	"math"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A member that starts with an empty log may be a new member, or one that
// lost its disk or had a corrupt log moved aside. In the latter cases it may
// have voted and acknowledged entries before it lost them; were it to vote
// at once, it could elect a candidate that lacks entries committed with its
// own forgotten acknowledgement (the others would then be rolled back to
// that candidate's log), or vote twice in one term. So a member that starts
// with an empty log grants no vote (vote and pre-vote requests are dropped,
// as a lost message would be) until it has caught up: until it has applied
// what the first leader it heard from had committed then, or it leads.
//
// The exception is a group that never committed more than its initial
// configuration (a candidate whose log holds only the bootstrap entries,
// all of term 1): a new group elects its first leader from new members.

// raftHoldUnknown: votes are held and no leader was heard from yet.
const raftHoldUnknown = math.MaxUint64

// holdVotes makes a node that starts with an empty log hold its votes;
// bootLen is how many entries its bootstrap writes.
func (n *raftNode) holdVotes(bootLen int) {
	n.holdTo = raftHoldUnknown
	n.bootLen = uint64(max(bootLen, 1))
}

// admit tells whether a message from a peer may be stepped; it learns, from
// the first leader's append or snapshot, how far a holding node must catch
// up. Runs on the node's goroutine.
func (n *raftNode) admit(m *pb.Message) bool {
	if n.holdTo == 0 {
		if m.GetType() == pb.MsgHeartbeat {
			n.clampHeartbeat(m)
		}
		return true
	}
	switch m.GetType() {
	case pb.MsgVote, pb.MsgPreVote:
		return m.GetIndex() <= n.bootLen && m.GetLogTerm() <= 1
	case pb.MsgApp:
		if n.holdTo == raftHoldUnknown {
			n.holdTo = max(m.GetCommit(), 1)
		}
	case pb.MsgHeartbeat:
		n.clampHeartbeat(m)
	case pb.MsgSnap:
		if n.holdTo == raftHoldUnknown {
			n.holdTo = max(m.GetSnapshot().GetMetadata().GetIndex(), 1)
		}
	}
	return true
}

// releaseHold ends the hold once the node caught up (or leads: a majority
// found its log up to date). Runs on the node's goroutine.
func (n *raftNode) releaseHold() {
	if n.holdTo == 0 {
		return
	}
	if n.leader.Load() == n.id || (n.holdTo != raftHoldUnknown && n.applied >= n.holdTo) {
		n.holdTo = 0
	}
}

// A member whose log was lost still counts, in the leader's eyes, as having
// stored what it had acknowledged: the library never sends a member entries
// below what it acknowledged, and a heartbeat naming a commit beyond the
// member's log would make the library panic. So a member that sees such a
// heartbeat clamps it and asks the leader (onLostLog) to remove it from the
// group and add it again, which makes the leader forget its progress and
// send it everything anew (ReaddPeer).

// raftLostAskEvery bounds how often a member with a lost log asks.
const raftLostAskEvery = time.Second

// clampHeartbeat keeps a heartbeat's commit within the member's log, and
// asks for a re-add when it was beyond it. Runs on the node's goroutine.
func (n *raftNode) clampHeartbeat(m *pb.Message) {
	last, err := n.store.LastIndex()
	if err != nil || m.GetCommit() <= last {
		return
	}
	m.Commit = proto.Uint64(last)
	if n.onLostLog != nil && time.Since(n.lostAsked) >= raftLostAskEvery {
		n.lostAsked = time.Now()
		go n.onLostLog()
	}
}

// ReaddPeer, on the leader, removes member id and adds it again (a member
// not in the group is added). It does nothing elsewhere, or while a re-add
// of id is under way.
func (n *raftNode) ReaddPeer(id uint64) error {
	var err error
	if derr := n.do(func() {
		if n.leader.Load() != n.id || id == n.id || n.readding[id] {
			return
		}
		change := pb.ConfChangeAddNode
		if _, ok := n.rn.Status().Config.Voters.IDs()[id]; ok {
			change = pb.ConfChangeRemoveNode
			n.readding[id] = true
		}
		err = n.rn.ProposeConfChange(&pb.ConfChange{Type: change.Enum(), NodeId: proto.Uint64(id),
			Context: []byte(n.PeerName(id))})
		if err != nil {
			delete(n.readding, id)
		}
	}); derr != nil {
		return derr
	}
	return err
}

// noteReadd queues the add that follows a re-add's removal once applied.
func (n *raftNode) noteReadd(cc pb.ConfChangeI) {
	for _, ch := range cc.AsV2().GetChanges() {
		if id := ch.GetNodeId(); ch.GetType() == pb.ConfChangeRemoveNode && n.readding[id] {
			delete(n.readding, id)
			n.readdNext = append(n.readdNext, id)
		}
	}
}

// proposeReadds proposes the queued adds; after Advance, since the
// library takes one membership change at a time and the removal counts as
// pending until then.
func (n *raftNode) proposeReadds() {
	for _, id := range n.readdNext {
		if n.leader.Load() == n.id {
			_ = n.rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(),
				NodeId: proto.Uint64(id), Context: []byte(n.PeerName(id))})
		}
	}
	n.readdNext = n.readdNext[:0]
}
