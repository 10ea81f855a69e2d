package server

import (
	"encoding/binary"
	"errors"
	"os"
	"time"
)

// startGroupNode starts a member of a Raft group (the meta group or a
// stream's). A log that fails its checksums where no crash could have left
// it (raftLog's recovery) is never used: it is moved aside, next to where
// it was (kept for inspection, never read again), and the member starts
// with an empty log, rejoining the group from its peers. It holds its votes
// until it has caught up (raft_rejoin.go), so its lost acknowledgements
// cannot elect a leader that lacks what they committed. rejoined reports
// that it did.
func (c *jsCluster) startGroupNode(cfg raftNodeConfig, what string) (n *raftNode, rejoined bool, err error) {
	n, err = startRaftNode(cfg)
	if err == nil || !errors.Is(err, errRaftLogCorrupt) {
		return n, false, err
	}
	aside := cfg.dir + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000")
	c.s.Errorf("JetStream cluster: the log of %s is corrupt (%v): moved to %s, rejoining the group from its peers",
		what, err, aside)
	if rerr := os.Rename(cfg.dir, aside); rerr != nil {
		return nil, false, err
	}
	n, err = startRaftNode(cfg)
	return n, err == nil, err
}

// A member whose log was lost asks its group's leader to re-add it
// (raft_rejoin.go). Wire format: published in the system account on
//
//	$JSC.RJ.<group>
//
// with an 8-byte little-endian body, the asking member's Raft id, and no
// reply subject. The group's leader removes that member and adds it again
// (raftNode.ReaddPeer); the others ignore it.
const replRejoinPrefix = "$JSC.RJ."

// rejoinAsker is a member's onLostLog for group.
func (c *jsCluster) rejoinAsker(group string) func() {
	body := binary.LittleEndian.AppendUint64(nil, c.self)
	return func() { c.s.PublishInternal(c.tr.sys, replRejoinPrefix+group, "", nil, body) }
}

// serveRejoin subscribes the member n of group to the re-add requests.
func (c *jsCluster) serveRejoin(group string, n *raftNode) (func(), error) {
	return c.s.SubscribeInternal(c.tr.sys, replRejoinPrefix+group, "", func(_, _ string, _, msg []byte) {
		if len(msg) != 8 || !n.IsLeader() {
			return
		}
		id := binary.LittleEndian.Uint64(msg)
		go func() {
			if err := n.ReaddPeer(id); err != nil {
				c.s.Warnf("JetStream cluster: re-adding %s to group %s: %v", c.peerName(id), group, err)
			} else {
				c.s.Noticef("JetStream cluster: %s lost its log of group %s: removed and added again", c.peerName(id), group)
			}
		}()
	})
}
