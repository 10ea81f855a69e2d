package server

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"sync"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Raft messages travel between servers as ordinary messages of the system
// account, which crosses every route on the account's pinned connection.
//
// Wire format: a message from one member of group G to the member with
// peer name P is published on
//
//	$NRG.F.<G>.<P>
//
// without reply subject or headers; its payload is the raftpb.Message in
// protobuf encoding (go.etcd.io/raft/v3/raftpb). Each member subscribes to
// its own subject, so a message crosses exactly one route. The `F` token
// keeps these subjects apart from the reference server's `$NRG.<kind>.*`
// ones: the two Raft protocols do not interoperate, and a mixed cluster
// must not feed one the other's messages.
const raftSubjectPrefix = "$NRG.F."

// raftPeerID is the Raft node id of the server named name in every group it
// joins: derived from the name, so that every server computes the same id
// for a peer it only knows by name, and stable across restarts.
func raftPeerID(name string) uint64 {
	h := sha256.Sum256([]byte(name))
	id := binary.BigEndian.Uint64(h[:8])
	if id == 0 {
		id = 1 // 0 means "none" to the library
	}
	return id
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// raftPeerName is the 8-character name of a peer id, as `peer` in
// ClusterInfo and PeerInfo and in the transport's subjects.
func raftPeerName(id uint64) string {
	var b [8]byte
	for i := range b {
		b[i] = base62Digits[id%62]
		id /= 62
	}
	return string(b[:])
}

// raftSubject is where a message for peer to of group goes.
func raftSubject(group string, to uint64) string {
	var sb strings.Builder
	sb.Grow(len(raftSubjectPrefix) + len(group) + 9)
	sb.WriteString(raftSubjectPrefix)
	sb.WriteString(group)
	sb.WriteByte('.')
	sb.WriteString(raftPeerName(to))
	return sb.String()
}

// raftRouteTransport sends a group's messages through the system account.
type raftRouteTransport struct {
	s   *Server
	sys *Account
	// senders holds idle raftSenders: each Send, made by one node's
	// goroutine, takes one for its duration.
	senders sync.Pool
}

// raftSender is what one Send needs: an internal client whose pending set
// collects the routes written to, and a buffer to encode into (the routes
// copy the bytes into their queues).
type raftSender struct {
	ic  *client
	buf []byte
}

// Send publishes each message to its member's subject; a member that is
// not connected simply does not get it, which Raft retries. Each route is
// then flushed once, by the node's goroutine itself when little is queued
// (an answer, a heartbeat, a small append: no wake-up of the route's
// writer on the commit path), else by its writer.
func (t *raftRouteTransport) Send(group string, msgs []*pb.Message) {
	sd, _ := t.senders.Get().(*raftSender)
	if sd == nil {
		sd = &raftSender{ic: t.s.newInternalClient(t.sys, true)}
		sd.ic.pcd = make(map[*client]struct{})
	}
	for _, m := range msgs {
		b, err := proto.MarshalOptions{}.MarshalAppend(sd.buf[:0], m)
		if err != nil {
			continue
		}
		sd.buf = b
		t.s.publishInternalAs(sd.ic, t.sys, raftSubject(group, m.GetTo()), "", nil, b)
	}
	sd.ic.flushClients(true)
	if cap(sd.buf) > raftSendBufMax {
		sd.buf = nil // a snapshot's or a burst's buffer is not kept
	}
	t.senders.Put(sd)
}

// raftSendBufMax bounds the encoding buffer a raftSender keeps.
const raftSendBufMax = 1 << 20

// subscribeRaft makes n receive its group's messages addressed to it.
func (t *raftRouteTransport) subscribe(group string, n *raftNode) (func(), error) {
	return t.s.SubscribeInternal(t.sys, raftSubject(group, n.id), "", func(_, _ string, _, msg []byte) {
		m, err := decodeRaftMessage(msg)
		if err != nil || m.GetTo() != n.id {
			return
		}
		n.Step(m)
	})
}

// decodeRaftMessage decodes a message off the wire (the bytes are copied:
// the caller's buffer is reused). Local message types, which only a node
// may give itself, are refused.
func decodeRaftMessage(b []byte) (*pb.Message, error) {
	m := &pb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, err
	}
	switch m.GetType() {
	case pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum,
		pb.MsgStorageAppend, pb.MsgStorageAppendResp, pb.MsgStorageApply, pb.MsgStorageApplyResp:
		return nil, errRaftLocalMsg
	}
	return m, nil
}

var errRaftLocalMsg = errors.New("local raft message type on the wire")
