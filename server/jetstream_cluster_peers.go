package server

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// Membership of the meta group beyond joining (jetstream_cluster.go):
// $JS.API.SERVER.REMOVE, the set of removed servers that the meta leader
// must not add back, their re-admission, and a removed server's reaction.
//
// A removal is two steps on the meta leader: a `remove_peer` entry, then
// the Raft membership change. The entry comes first so that the removed
// server, still a voter, applies it (a server cut off by the membership
// change alone may never learn of it) and disables JetStream, as the
// reference does ("JetStream being DISABLED, our server was removed from
// the cluster"). Every member records the removed peer with the server id
// its route had then (`removed` in the meta snapshot). The meta leader
// proposes `readmit_peer` once that server is gone from the routes or came
// back under another server id (a restart): it is then added like any new
// server, and catches up from the leader.
//
// Entry formats (the jsMetaEntry JSON, without `sa`):
//
//	{"op":"remove_peer","peer":"<peer name>","server_id":"<server id or empty>"}
//	{"op":"readmit_peer","peer":"<peer name>"}

const (
	jsMetaRemovePeer  = "remove_peer"
	jsMetaReadmitPeer = "readmit_peer"
	// jsOfflineDelay is how long an "offline" error waits, so that a
	// healthy answer (from a leader we do not see) comes first.
	jsOfflineDelay = 500 * time.Millisecond
)

// Catalogue identifiers raised by this file.
const (
	jsStreamOffline                     = "JSStreamOfflineErr"
	jsClusterServerNotMember            = "JSClusterServerNotMemberErr"
	jsClusterServerMemberChangeInflight = "JSClusterServerMemberChangeInflightErr"
)

var clusterPeerErrorIDs = []string{jsStreamOffline, jsClusterServerNotMember, jsClusterServerMemberChangeInflight}

// JSApiMetaServerRemoveRequest is SERVER.REMOVE's body: the server by name,
// or by peer id, which takes precedence.
type JSApiMetaServerRemoveRequest struct {
	Server string `json:"peer"`
	Peer   string `json:"peer_id,omitempty"`
}

// subscribeSystemAPI serves the system account's JetStream API subjects
// (SERVER.REMOVE); the system account has no JetStream of its own.
func (c *jsCluster) subscribeSystemAPI(sys *Account) error {
	js := c.js
	ja := &jsAccount{js: js, acc: sys, disabled: true}
	unsub, err := ja.subscribeAPI(jsAPIPrefix + "SERVER.REMOVE")
	if err != nil {
		return err
	}
	ja.unsub = unsub
	js.mu.Lock()
	js.disabled = append(js.disabled, ja) // unsubscribed at shutdown with them
	js.mu.Unlock()
	return nil
}

// applyPeerOp applies remove_peer and readmit_peer; false for other ops.
func (m *jsMeta) applyPeerOp(index uint64, e *jsMetaEntry) bool {
	switch e.Op {
	case jsMetaRemovePeer:
		m.mu.Lock()
		if m.removed == nil {
			m.removed = make(map[string]string)
		}
		m.removed[e.Peer] = e.ServerID
		m.mu.Unlock()
		c := m.c
		if e.Peer == raftPeerName(c.self) {
			go func() {
				if !c.replayed(index) {
					c.removedFromCluster()
				}
			}()
		}
		return true
	case jsMetaGroupIDOp:
		m.mu.Lock()
		if m.groupID == "" {
			m.groupID = e.GroupID // the first proposal wins
		}
		m.mu.Unlock()
		return true
	case jsMetaReadmitPeer:
		m.mu.Lock()
		delete(m.removed, e.Peer)
		m.mu.Unlock()
		return true
	}
	return false
}

// replayed tells whether the meta entry at index was replayed from the log
// at start-up rather than new. It waits for start-up to finish: c.meta is
// set by then (the node applies entries before startCluster sets it). No
// node (a test's state machine) counts as a replay: nothing to act on.
func (c *jsCluster) replayed(index uint64) bool {
	if !c.waitReady() {
		return true
	}
	return c.meta == nil || c.meta.Replayed(index)
}

// removedPeers returns the removed peers and their server ids then.
func (m *jsMeta) removedPeers() map[string]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.removed)
}

// waitUntil polls cond until it holds or d passes (or the cluster stops);
// it returns cond's last value.
func (c *jsCluster) waitUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond() && time.Now().Before(deadline); {
		select {
		case <-c.quit:
			return cond()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return cond()
}

// removedFromCluster disables JetStream on a server removed from the meta
// group (its streams stop being served here), as the reference does.
//
// It first waits (a while) for the membership change that follows the
// entry: a leader removing itself must still propose it, and a follower's
// acknowledgement may be needed for its quorum.
func (c *jsCluster) removedFromCluster() {
	s := c.s
	wait := 2 * time.Second
	if c.isMetaLeader() {
		wait = jsMetaProposeTimeout + time.Second
	}
	c.waitUntil(wait, func() bool { return !c.isMember() })
	s.Errorf("JetStream being DISABLED, our server was removed from the cluster")
	js := s.js.Load()
	if js == nil || js.cluster != c || !s.js.CompareAndSwap(js, nil) {
		return
	}
	s.Noticef("Initiating JetStream Shutdown...")
	js.shutdown()
	s.Noticef("JetStream Shutdown")
}

// routeServerIDs maps the peer names of the JetStream servers connected by
// routes to their server ids.
func (c *jsCluster) routeServerIDs() map[string]string {
	out := make(map[string]string)
	c.eachRouteJS(func(name, sid string) { out[raftPeerName(raftPeerID(name))] = sid })
	return out
}

// eachRouteJS calls fn with the name and server id of every JetStream
// server connected by routes (under the cluster's lock: fn must not block).
func (c *jsCluster) eachRouteJS(fn func(name, sid string)) {
	cs := c.s.cluster.Load()
	if cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for sid, r := range cs.remotes {
		if r.info.JetStream && r.name != "" {
			fn(r.name, sid)
		}
	}
}

// readmitReturned proposes readmit_peer for a removed server that left the
// routes or came back as another process (meta leader only, one a tick).
func (c *jsCluster) readmitReturned() {
	removed := c.fsm.removedPeers()
	if len(removed) == 0 {
		return
	}
	now := c.routeServerIDs()
	for peer, sid := range removed {
		if cur, ok := now[peer]; ok && cur == sid {
			continue
		}
		data, _ := json.Marshal(&jsMetaEntry{Op: jsMetaReadmitPeer, Peer: peer})
		c.meta.Propose(data)
		return
	}
}

// isRemoved tells whether the meta group removed the peer with id.
func (c *jsCluster) isRemoved(id uint64) bool {
	m := c.fsm
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.removed[raftPeerName(id)]
	return ok
}

// apiServerRemove removes a server from the meta group and answers once
// the removal is applied (meta leader, system account only).
func (c *jsCluster) apiServerRemove(_ *jsAccount, r *jsAPIRequest) any {
	var req JSApiMetaServerRemoveRequest
	if e := r.decodeRequired(&req); e != nil {
		return errResponse(e)
	}
	if req.Server == "" && req.Peer == "" {
		return errResponse(jsError(jsBadRequest))
	}
	id, ok := c.memberByRequest(&req)
	if !ok {
		return errResponse(jsError(jsClusterServerNotMember))
	}
	if !c.removeMu.TryLock() {
		return errResponse(jsError(jsClusterServerMemberChangeInflight))
	}
	defer c.removeMu.Unlock()
	peer := raftPeerName(id)
	sid := c.routeServerIDs()[peer]
	if id == c.self {
		sid = c.s.ID()
	}
	data, _ := json.Marshal(&jsMetaEntry{Op: jsMetaRemovePeer, Peer: peer, ServerID: sid})
	if err := c.meta.ProposeWait(data, jsMetaProposeTimeout); err != nil {
		return errResponse(jsError(jsClusterNotAvail))
	}
	if err := c.meta.ProposeRemovePeer(id); err != nil {
		return errResponse(jsError(jsClusterNotAvail))
	}
	removed := func() bool {
		v := c.meta.View()
		return v != nil && !slices.Contains(v.voters, id)
	}
	// A leader that removed itself may see its JetStream stop (quit)
	// right after: the view tells.
	if c.waitUntil(jsMetaProposeTimeout, removed) {
		c.s.Noticef("JetStream cluster: server %s (%s) removed from the meta group", c.peerName(id), peer)
		return &JSApiSuccessResponse{Success: true}
	}
	// The library takes one membership change at a time: another one
	// (a server being added) was still in flight.
	return errResponse(jsError(jsClusterServerMemberChangeInflight))
}

// memberByRequest finds the voter a removal names: by peer id first, else
// by server name.
func (c *jsCluster) memberByRequest(req *JSApiMetaServerRemoveRequest) (uint64, bool) {
	v := c.meta.View()
	if v == nil {
		return 0, false
	}
	for _, id := range v.voters {
		if req.Peer != "" {
			if raftPeerName(id) == req.Peer {
				return id, true
			}
			continue
		}
		if c.peerName(id) == req.Server {
			return id, true
		}
	}
	return 0, false
}

// answerOffline answers a request about a stream placed on a server that
// is not connected (a connected one answers itself), after jsOfflineDelay,
// as the reference: with no meta leader the members say 10008; the meta
// leader says 10118 for an info request (others stay unanswered, as with
// the reference).
func (c *jsCluster) answerOffline(ja *jsAccount, r *jsAPIRequest, h jsAPIHandler, rest string, sa *jsStreamAssignment) {
	if len(sa.Peers) == 0 || c.peerOnline(sa.Peers[0]) {
		return // its server answers
	}
	var e *ApiError
	switch {
	case c.meta.Leader() == 0 && c.isMember():
		e = jsError(jsClusterNotAvail)
	case c.isMetaLeader() && strings.HasPrefix(rest, "STREAM.INFO."):
		e = jsError(jsStreamOffline)
	default:
		return
	}
	time.AfterFunc(jsOfflineDelay, func() { ja.respond(r, h, errResponse(e)) })
}

// peerOnline tells whether the server with peer name peer is this one or
// connected by a route, and not removed (a removed server runs without
// JetStream).
func (c *jsCluster) peerOnline(peer string) bool {
	if peer == raftPeerName(c.self) {
		return true
	}
	if _, removed := c.fsm.removedPeers()[peer]; removed {
		return false
	}
	_, ok := c.routeServerIDs()[peer]
	return ok
}

// Meta group identity. Servers that started without routes between them
// each bootstrap a group of their own, with the same group name; once
// routed, either leader would add the other as a member, and Raft cannot
// tell two logs apart whose entries happen to share index and term. So
// the first leader of a group proposes a random group id
// ({"op":"group_id","group_id":"<id>"}, kept in the meta snapshot), and
// before adding a server the meta leader asks it for its group:
//
//	request  $JSC.F.GID.<peer name>   (system account, empty body)
//	answer   {"group_id":"<id or empty>","fresh":<log empty>}
//
// A fresh server, or one of this group (a removed member coming back), is
// added; a server of another group is not: both leaders warn, and the
// operator restarts one side's servers without their jetstream_cluster
// directory. A server that does not answer is asked again later.
const (
	jsMetaGroupIDOp  = "group_id"
	jsGroupIDSubject = "$JSC.F.GID."
	jsGroupAskWait   = 500 * time.Millisecond
	jsGroupAskAgain  = 5 * time.Second
)

// jsGroupIDAnswer is a server's answer to the group id request.
type jsGroupIDAnswer struct {
	GroupID string `json:"group_id"`
	Fresh   bool   `json:"fresh"`
}

// subscribeGroupID answers the group id request for this server.
func (c *jsCluster) subscribeGroupID(sys *Account) (func(), error) {
	return c.s.SubscribeInternal(sys, jsGroupIDSubject+raftPeerName(c.self), "", func(_, reply string, _, _ []byte) {
		if reply == "" {
			return
		}
		v := c.meta.View()
		ans := jsGroupIDAnswer{GroupID: c.fsm.groupIDOf(), Fresh: v != nil && len(v.voters) == 0 && v.term == 0}
		b, _ := json.Marshal(&ans)
		c.s.PublishInternal(c.s.SystemAccount(), reply, "", nil, b)
	})
}

// groupIDOf is the meta group's id ("" before its entry is applied).
func (m *jsMeta) groupIDOf() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.groupID
}

// ensureGroupID proposes a group id while the group has none (leader).
func (c *jsCluster) ensureGroupID() {
	if c.fsm.groupIDOf() != "" {
		return
	}
	data, _ := json.Marshal(&jsMetaEntry{Op: jsMetaGroupIDOp, GroupID: randToken(16)})
	c.meta.Propose(data)
}

// mayAdd tells whether the meta leader may add the server with id: it is
// fresh or of this group. A server of another group is warned about once.
func (c *jsCluster) mayAdd(id uint64, name string) bool {
	mine := c.fsm.groupIDOf()
	if mine == "" {
		// Our group id is proposed but not applied yet (a new leader's
		// first tick): ask at the next tick, not jsGroupAskAgain later,
		// or a new cluster takes seconds to gather its members.
		return false
	}
	if t, ok := c.asked[id]; ok && time.Since(t) < jsGroupAskAgain {
		return false
	}
	ans, ok := c.askGroupID(id)
	switch {
	case !ok:
		c.asked[id] = time.Now()
		return false
	case ans.Fresh || ans.GroupID == mine:
		delete(c.asked, id)
		return true
	}
	c.asked[id] = time.Now()
	if !c.warned[id] {
		c.warned[id] = true
		c.s.Warnf("JetStream cluster: server %s is routed to us but belongs to another meta group (servers started without routes "+
			"between them): groups do not merge; stop the servers of one group, remove their jetstream_cluster directories and restart them to join the other", name)
	}
	return false
}

// askGroupID asks the server with id for its meta group id.
func (c *jsCluster) askGroupID(id uint64) (jsGroupIDAnswer, bool) {
	sys := c.s.SystemAccount()
	inbox := "$JSC.F.GIDR." + randToken(8)
	ch := make(chan jsGroupIDAnswer, 1)
	unsub, err := c.s.SubscribeInternal(sys, inbox, "", func(_, _ string, _, msg []byte) {
		var a jsGroupIDAnswer
		if json.Unmarshal(msg, &a) == nil {
			select {
			case ch <- a:
			default:
			}
		}
	})
	if err != nil {
		return jsGroupIDAnswer{}, false
	}
	defer unsub()
	c.s.PublishInternal(sys, jsGroupIDSubject+raftPeerName(id), inbox, nil, nil)
	select {
	case a := <-ch:
		return a, true
	case <-time.After(jsGroupAskWait):
		return jsGroupIDAnswer{}, false
	case <-c.quit:
		return jsGroupIDAnswer{}, false
	}
}
