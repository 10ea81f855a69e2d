package server

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Membership changes of streams: STREAM.PEER.REMOVE and num_replicas
// changed by STREAM.UPDATE (R1 <-> R3 <-> R5).
//
// The meta leader decides the new peer set and proposes it as an
// `update_stream` entry (the jsMetaEntry JSON with the whole new
// assignment: {"op":"update_stream","sa":{...}}). Every server applies it
// (placementChanged):
//
//   - a server newly placed creates the stream empty and starts its member
//     of the group without bootstrapping it (the assignment's `boot` says
//     who started the group); it receives a snapshot from the leader (the
//     stream group's node snapshots right after adding a member:
//     raftNodeConfig.snapOnAdd) and fetches the messages and consumers it
//     names from its peers (stream_replicate_catchup.go);
//   - a server no longer placed waits until the group has removed it (it
//     may still be needed for a quorum meanwhile), then deletes its copy;
//   - the holder of an R1 stream going replicated reopens the stream as a
//     replicated one and starts a new group with itself alone (`boot`);
//   - the other members take the new num_replicas into their config.
//
// The group's leader then brings the Raft membership in line with the
// assignment, one change at a time through the library's ConfChange
// (reconcileMembers, every tick of jsCluster.watch): first it adds the
// missing members, then hands the leadership over if it is not placed
// any more, then removes the others. A stream scaled down to R1 keeps the
// leader's copy: once the group is the leader alone, it stops the group
// and reopens the stream as an R1 stream.
const jsMetaUpdateStream = "update_stream"

// jsScaleWait bounds how long a scale request waits for the stream to show
// its new peers before answering (clients time out after a few seconds:
// the change goes on after the answer).
const jsScaleWait = 2 * time.Second

// bootPeers are the ids the stream's group was started with.
func (sa *jsStreamAssignment) bootPeers() []uint64 {
	if sa.Boot != nil {
		return sa.Boot
	}
	return sa.PeerIDs
}

// applyStreamUpdate replaces an assignment (meta goroutine).
func (m *jsMeta) applyStreamUpdate(index uint64, sa *jsStreamAssignment) {
	m.mu.Lock()
	old := m.streams[sa.Account][sa.Config.Name]
	if old == nil {
		m.mu.Unlock()
		return // deleted meanwhile
	}
	sa.Created, sa.Reply, sa.Subject = old.Created, "", ""
	m.streams[sa.Account][sa.Config.Name] = sa
	m.mu.Unlock()
	c := m.c
	if c.waitReady() {
		c.placementChanged(old, sa, c.replayed(index))
	}
}

// placementChanged does this server's part of an assignment change.
func (c *jsCluster) placementChanged(old, sa *jsStreamAssignment, replay bool) {
	ja := c.js.lookupAccount(sa.Account)
	if ja == nil {
		return
	}
	here, wasHere := c.placedHere(sa), c.placedHere(old)
	switch {
	case here && !wasHere:
		c.createAssigned(sa, true)
	case wasHere && !here:
		c.leaveStream(ja, sa, replay)
	case here && old.Group == "" && sa.Group != "":
		c.convertToReplicated(ja, sa)
	case here:
		c.takeReplicas(ja, sa)
	}
}

// takeReplicas puts a stream's new num_replicas and placement in its
// config (a replicated stream going R1 keeps its count until its group
// ends: convertToR1).
func (c *jsCluster) takeReplicas(ja *jsAccount, sa *jsStreamAssignment) {
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	st := ja.lookupStream(sa.Config.Name)
	if st == nil {
		return
	}
	cfg := st.cfg()
	n := sa.Config.Replicas
	if st.replicated && n <= 1 {
		n = cfg.Replicas
	}
	if cfg.Replicas == n && samePlacement(cfg.Placement, sa.Config.Placement) {
		return
	}
	cfg.Replicas, cfg.Placement = n, sa.Config.Placement
	if err := st.update(&cfg); err != nil {
		c.s.Warnf("JetStream cluster: stream '%s > %s' num_replicas: %v", ja.acc.Name, st.name, err)
	}
}

// leaveStream deletes this server's copy of a stream it is no longer
// placed on, once its group no longer counts it (at once on a replay:
// the change is long done). A server placed again meanwhile keeps it.
func (c *jsCluster) leaveStream(ja *jsAccount, sa *jsStreamAssignment, replay bool) {
	st := ja.lookupStream(sa.Config.Name)
	if st == nil {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if r := st.repl.Load(); r != nil && !replay {
			c.waitUntil(jsRemovalWait, func() bool {
				v := r.node.View()
				return r.node.stopped() || (v != nil && !slices.Contains(v.voters, c.self))
			})
		}
		if cur := c.fsm.lookup(sa.Account, sa.Config.Name); cur != nil && c.placedHere(cur) {
			return
		}
		c.stopStreamGroup(st, true)
		ja.createMu.Lock()
		defer ja.createMu.Unlock()
		if ja.lookupStream(sa.Config.Name) != st {
			return
		}
		if err := ja.deleteStream(st); err != nil {
			c.s.Warnf("JetStream cluster: removing the copy of stream '%s > %s': %v", ja.acc.Name, st.name, err)
			return
		}
		c.s.Noticef("JetStream cluster: stream '%s > %s' moved off this server", ja.acc.Name, st.name)
	}()
}

// jsRemovalWait bounds how long a replica no longer placed waits for its
// group to remove it (a removed member may never hear of its removal).
const jsRemovalWait = 20 * time.Second

// reopenStream stops a stream and opens it again from its store with cfg
// (a stream's replication is fixed for the life of its object). The caller
// holds ja.createMu.
func (c *jsCluster) reopenStream(ja *jsAccount, st *stream, cfg *StreamConfig) (*stream, error) {
	ja.mu.Lock()
	delete(ja.streams, st.name)
	ja.mu.Unlock()
	st.stop()
	return ja.addStream(cfg, st.created)
}

// convertToReplicated turns the R1 stream held here into the first member
// of its new group; the others join as the leader adds them.
func (c *jsCluster) convertToReplicated(ja *jsAccount, sa *jsStreamAssignment) {
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	st := ja.lookupStream(sa.Config.Name)
	if st == nil {
		return
	}
	var err error
	if !st.replicated {
		cfg := st.cfg()
		cfg.Replicas = sa.Config.Replicas
		st, err = c.reopenStream(ja, st, &cfg)
	}
	// Replicated already: a restart recovered it so, and replays the
	// change (startStreamGroup starts a group once).
	if err == nil {
		err = c.startStreamGroup(st, sa)
	}
	if err != nil {
		c.s.Warnf("JetStream cluster: replicating stream '%s > %s': %v", ja.acc.Name, sa.Config.Name, err)
	}
}

// convertToR1 ends the group of a stream scaled down to R1 once the leader
// (this server) is its only member, and reopens the stream unreplicated.
func (c *jsCluster) convertToR1(st *stream) {
	ja := st.ja
	c.stopStreamGroup(st, true)
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if ja.lookupStream(st.name) != st {
		return
	}
	cfg := st.cfg()
	cfg.Replicas = 1
	if _, err := c.reopenStream(ja, st, &cfg); err != nil {
		c.s.Warnf("JetStream cluster: stream '%s > %s' to R1: %v", ja.acc.Name, st.name, err)
		return
	}
	c.s.Noticef("JetStream cluster: stream '%s > %s' is R1 on this server", ja.acc.Name, st.name)
}

// jsMemberChange is the last membership change a group's leader proposed,
// to wait for it before proposing the next (the library takes one at a
// time and drops others).
type jsMemberChange struct {
	at     time.Time
	voters []uint64
}

// jsMemberRetry is how long a proposed change may stay unapplied before
// it is proposed again.
const jsMemberRetry = 2 * time.Second

// reconcileMembers brings a led group's members in line with the stream's
// assignment, one change per call (watch goroutine); true if it ended the
// group (the stream is R1 now).
func (c *jsCluster) reconcileMembers(r *streamRepl) bool {
	st := r.st
	sa := c.fsm.lookup(st.ja.acc.Name, st.name)
	v := r.node.View()
	if sa == nil || v == nil || len(sa.PeerIDs) == 0 || (sa.Group != "" && sa.Group != r.group) {
		return false
	}
	target := sa.PeerIDs
	if sameIDs(v.voters, target) {
		delete(c.changes, r.group)
		if sa.Group == "" {
			c.convertToR1(st)
			return true
		}
		return false
	}
	if last := c.changes[r.group]; last != nil && slices.Equal(last.voters, v.voters) && time.Since(last.at) < jsMemberRetry {
		return false // the last change is not applied yet
	}
	c.changes[r.group] = &jsMemberChange{at: time.Now(), voters: v.voters}
	for _, id := range target {
		if !slices.Contains(v.voters, id) {
			_ = r.node.ProposeAddPeer(id, c.peerName(id))
			return false
		}
	}
	if !slices.Contains(target, c.self) {
		// Every member placed is in: one of them leads the removals.
		c.handOverTo(r, target)
		return false
	}
	for _, id := range v.voters {
		if !slices.Contains(target, id) {
			_ = r.node.ProposeRemovePeer(id)
			return false
		}
	}
	return false
}

// handOverTo hands a group's leadership to a connected member of target.
func (c *jsCluster) handOverTo(r *streamRepl, target []uint64) {
	online := c.routePeers()
	for _, id := range target {
		if _, ok := online[id]; ok {
			for _, cons := range r.st.consumerList() {
				_ = cons.flushState()
			}
			_ = r.node.TransferLeadership(id)
			return
		}
	}
}

func sameIDs(a, b []uint64) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(id uint64) bool { return !slices.Contains(b, id) })
}

// cloneAssignment copies an assignment for a change (no request reply).
func cloneAssignment(sa *jsStreamAssignment) *jsStreamAssignment {
	n := *sa
	n.Peers, n.PeerIDs, n.Boot = slices.Clone(sa.Peers), slices.Clone(sa.PeerIDs), slices.Clone(sa.bootPeers())
	n.Reply, n.Subject = "", ""
	return &n
}

// proposeAssignment proposes an assignment change and waits for it.
func (c *jsCluster) proposeAssignment(sa *jsStreamAssignment) *ApiError {
	data, _ := json.Marshal(&jsMetaEntry{Op: jsMetaUpdateStream, SA: sa})
	if err := c.meta.ProposeWait(data, jsMetaProposeTimeout); err != nil {
		c.s.Warnf("JetStream cluster: proposing stream '%s > %s': %v", sa.Account, sa.Config.Name, err)
		return jsError(jsClusterNotAvail)
	}
	return nil
}

// jsApiStreamRemovePeerRequest is STREAM.PEER.REMOVE's body: the server.
type jsApiStreamRemovePeerRequest struct {
	Peer string `json:"peer"`
}

// apiStreamPeerRemove replaces a stream's member by another server (meta
// leader). As the reference (observed on v2.15.2): without a body or a
// peer 10003, a server not in the stream 10040, no server to replace it
// 10075 (nothing changes). An R1 stream's only peer is not moved (the
// reference moves it and its messages are lost).
func (c *jsCluster) apiStreamPeerRemove(ja *jsAccount, r *jsAPIRequest, name string) any {
	var req jsApiStreamRemovePeerRequest
	if e := r.decodeRequired(&req); e != nil {
		return errResponse(e)
	}
	if req.Peer == "" {
		return errResponse(jsError(jsBadRequest))
	}
	// One assignment change at a time, from the assignment as it is.
	c.createMu.Lock()
	defer c.createMu.Unlock()
	sa := c.fsm.lookup(ja.acc.Name, name)
	if sa == nil {
		return errResponse(jsError(jsStreamNotFound))
	}
	i := slices.IndexFunc(sa.Peers, func(p string) bool { return c.peerNameByString(p) == req.Peer })
	if i < 0 {
		return errResponse(jsError(jsClusterPeerNotMember))
	}
	if len(sa.Peers) == 1 {
		return errResponse(jsError(jsClusterNoPeers, "moving the only peer of an R1 stream is not supported yet"))
	}
	stay := slices.Delete(slices.Clone(sa.Peers), i, i+1)
	ids, e := c.placeAmong(1, sa.Peers, stay, sa.Config.Placement)
	if e != nil {
		return errResponse(jsError(jsPeerRemap))
	}
	nsa := cloneAssignment(sa)
	nsa.Peers[i], nsa.PeerIDs[i] = raftPeerName(ids[0]), ids[0]
	if e := c.proposeAssignment(nsa); e != nil {
		return errResponse(e)
	}
	return &JSApiSuccessResponse{Success: true}
}

// Catalogue identifiers raised by this file.
const (
	jsClusterPeerNotMember = "JSClusterPeerNotMemberErr"
	jsPeerRemap            = "JSPeerRemapErr"
)

// jsPlacementRequest is what of an update request decides the placement.
type jsPlacementRequest struct {
	Replicas  int        `json:"num_replicas"`
	Placement *Placement `json:"placement"`
}

// regroupRequested tells whether an update request changes num_replicas
// or the placement.
func (c *jsCluster) regroupRequested(ja *jsAccount, name string, body []byte) bool {
	sa := c.fsm.lookup(ja.acc.Name, name)
	var req jsPlacementRequest
	if sa == nil || json.Unmarshal(body, &req) != nil {
		return false
	}
	return max(req.Replicas, 1) != max(sa.Config.Replicas, 1) || !samePlacement(req.Placement, sa.Config.Placement)
}

// samePlacement compares placements (nil and empty alike).
func samePlacement(a, b *Placement) bool {
	var zero Placement
	if a == nil {
		a = &zero
	}
	if b == nil {
		b = &zero
	}
	return a.Cluster == b.Cluster && a.Preferred == b.Preferred && slices.Equal(a.Tags, b.Tags)
}

// apiStreamScale changes a stream's num_replicas or placement (meta
// leader): the members keep the current leader and the servers the
// placement still allows, drop others (down) or add the least loaded
// servers (up, or to replace those the placement no longer allows). It
// answers with the stream's info once the stream shows its new peers (or
// jsScaleWait passed).
func (c *jsCluster) apiStreamScale(ja *jsAccount, r *jsAPIRequest, name string) any {
	sa := c.fsm.lookup(ja.acc.Name, name)
	if sa == nil {
		return errResponse(jsError(jsStreamNotFound))
	}
	si := c.gatherInfos(ja, []*jsStreamAssignment{sa})[name]
	if si == nil {
		return errResponse(jsError(jsStreamOffline))
	}
	cur := si.Config
	var want jsPlacementRequest
	_ = json.Unmarshal(r.msg, &want)
	old := cur
	// The changes checked here; the rest as any update.
	old.Replicas, old.Placement = max(want.Replicas, 1), want.Placement
	cfg, e := decodeStreamConfig(r.msg, name, &old, ja.js.configLimits())
	if e != nil {
		return errResponse(e)
	}
	if !sameButPlacement(&cur, cfg) {
		return errResponse(jsError(jsStreamInvalidConfig, "changing num_replicas or placement together with other settings is not supported yet"))
	}
	// One assignment change at a time, from the assignment as it is.
	c.createMu.Lock()
	if sa = c.fsm.lookup(ja.acc.Name, name); sa == nil {
		c.createMu.Unlock()
		return errResponse(jsError(jsStreamNotFound))
	}
	nsa, e := c.scaledAssignment(sa, cfg, si)
	if e == nil {
		e = c.proposeAssignment(nsa)
	}
	c.createMu.Unlock()
	if e != nil {
		return errResponse(e)
	}
	return c.scaledInfo(ja, nsa, si)
}

// sameButPlacement tells whether two configs differ only in num_replicas
// and placement (and the server's version metadata).
func sameButPlacement(a, b *StreamConfig) bool {
	x, y := *a, *b
	x.Replicas, y.Replicas = 0, 0
	x.Placement, y.Placement = nil, nil
	x.Created, y.Created = nil, nil
	x.Metadata, y.Metadata = userMetadata(a.Metadata), userMetadata(b.Metadata)
	return reflect.DeepEqual(x, y)
}

// userMetadata drops the server's `_nats.` keys (nil when none remain).
func userMetadata(m map[string]string) map[string]string {
	out := maps.Clone(m)
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, "_nats.") })
	if len(out) == 0 {
		return nil
	}
	return out
}

// scaledAssignment is sa with cfg.Replicas members: the leader first.
func (c *jsCluster) scaledAssignment(sa *jsStreamAssignment, cfg *StreamConfig, si *StreamInfo) (*jsStreamAssignment, *ApiError) {
	n := max(cfg.Replicas, 1)
	ids := slices.Clone(sa.PeerIDs)
	if len(ids) == 0 {
		for _, p := range sa.Peers {
			ids = append(ids, c.peerIDByName(p))
		}
	}
	if si.Cluster != nil && si.Cluster.Leader != "" {
		lead := raftPeerID(si.Cluster.Leader)
		if i := slices.Index(ids, lead); i > 0 {
			ids[0], ids[i] = ids[i], ids[0]
		}
	}
	if !samePlacement(cfg.Placement, sa.Config.Placement) {
		ids = c.placementKeeps(ids, cfg.Placement)
		if n == 1 && len(sa.Peers) == 1 && len(ids) == 0 {
			return nil, jsError(jsStreamInvalidConfig, "moving an R1 stream to another server is not supported yet")
		}
	}
	if len(ids) > n {
		ids = ids[:n]
	}
	if add := n - len(ids); add > 0 {
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = raftPeerName(id)
		}
		more, e := c.placeAmong(add, append(names, sa.Peers...), names, cfg.Placement)
		if e != nil {
			return nil, e
		}
		ids = append(ids, more...)
	}
	nsa := cloneAssignment(sa)
	nsa.Config = cfg
	nsa.PeerIDs = ids
	nsa.Peers = make([]string, len(ids))
	for i, id := range ids {
		nsa.Peers[i] = raftPeerName(id)
	}
	switch {
	case n == 1:
		nsa.Group, nsa.Boot = "", nil
	case sa.Group == "":
		nsa.Group, nsa.Boot = newReplGroupName(), ids[:1]
	}
	return nsa, nil
}

// peerIDByName finds the id of a member by its peer name (0 if unknown).
func (c *jsCluster) peerIDByName(peer string) uint64 {
	if peer == raftPeerName(c.self) {
		return c.self
	}
	if v := c.meta.View(); v != nil {
		for _, id := range v.voters {
			if raftPeerName(id) == peer {
				return id
			}
		}
	}
	return 0
}

// scaledInfo waits for the stream to show its new peers and returns its
// info as the update's answer.
func (c *jsCluster) scaledInfo(ja *jsAccount, sa *jsStreamAssignment, last *StreamInfo) any {
	var want []string
	for _, p := range sa.Peers {
		want = append(want, c.peerNameByString(p))
	}
	c.waitUntil(jsScaleWait, func() bool {
		si := c.gatherInfos(ja, []*jsStreamAssignment{sa})[sa.Config.Name]
		if si == nil {
			return false
		}
		last = si
		if si.Config.Replicas != sa.Config.Replicas || si.Cluster == nil || si.Cluster.Leader == "" {
			return false
		}
		have := []string{si.Cluster.Leader}
		for _, p := range si.Cluster.Replicas {
			have = append(have, p.Name)
		}
		return len(have) == len(want) && !slices.ContainsFunc(have, func(n string) bool { return !slices.Contains(want, n) })
	})
	if last.Config.Replicas != sa.Config.Replicas {
		// Still under way: the answer shows the config asked for, as the
		// reference's (whose replicas are those of the moment too).
		si := *last
		si.Config = *sa.Config
		last = &si
	}
	return &JSApiStreamCreateResponse{StreamInfo: last}
}
