package server

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Replicated streams in a cluster: placement on num_replicas servers by
// the meta leader, one Raft group per stream (stream_replicate.go), the
// API answered by the group's leader, and the `cluster` block of their
// infos.

// replicatedUnsupported names the first setting of c that replicated
// streams do not support yet ("" if none): they replicate publishes (file
// or memory storage, any retention, TTLs and delete markers, roll-ups,
// republish, counters, schedules, atomic and fast batches), mirrors and
// sources, and API changes (stream_replicate*.go).
func replicatedUnsupported(c *StreamConfig) string {
	switch {
	case c.PersistMode == PersistAsync:
		return "async persist mode"
	}
	return ""
}

// replGroupDir is where a stream group's log lives.
func (c *jsCluster) replGroupDir(group string) string {
	return filepath.Join(filepath.Dir(c.js.storeDir), "jetstream_cluster", group)
}

// newReplGroupName names a new stream's Raft group: unique, so that a
// stream deleted and created again never meets its predecessor's log.
func newReplGroupName() string {
	return "S-" + raftPeerName(rand.Uint64()) + raftPeerName(rand.Uint64())
}

// startStreamGroup starts this server's member of a replicated stream's
// group (once). The first peer of the assignment campaigns at once, so a
// new stream gets a leader without waiting for an election timeout.
func (c *jsCluster) startStreamGroup(st *stream, sa *jsStreamAssignment) error {
	if st.repl.Load() != nil || sa.Group == "" {
		return nil
	}
	ids := sa.PeerIDs
	if len(ids) != len(sa.Peers) {
		return fmtErr("the assignment of stream %q lists %d peers and %d ids", sa.Config.Name, len(sa.Peers), len(ids))
	}
	for i, id := range ids {
		if raftPeerName(id) != sa.Peers[i] {
			return fmtErr("bad peer %q in the assignment of stream %q", sa.Peers[i], sa.Config.Name)
		}
	}
	r := newStreamRepl(st, c, sa.Group, ids)
	// Before the log's replay, which stores again what the cut removed.
	if err := r.cutBeforeLoss(); err != nil {
		return err
	}
	ids = sa.bootPeers() // the members a new log starts the group with
	if !slices.Contains(ids, c.self) {
		ids = nil // added after the group started: joins it (no bootstrap)
	}
	if _, err := os.Stat(c.replGroupDir(sa.Group)); os.IsNotExist(err) {
		// A new group starts from the store as it is: empty for a new
		// stream or member, an R1 stream's messages when it becomes
		// replicated (jetstream_cluster_scale.go), which a new leader
		// must not take for uncommitted ones.
		var ss StreamState
		st.store.FastState(&ss)
		r.applied.Store(ss.LastSeq)
	}
	// The stream's log is sealed like the meta group's when the store is
	// encrypted: it holds the messages themselves.
	crypt, err := raftCryptFromOptions(c.s.getOpts())
	if err != nil {
		return err
	}
	n, _, err := c.startGroupNode(raftNodeConfig{id: c.self, group: sa.Group, peers: ids,
		dir: c.replGroupDir(sa.Group), fsm: r, transport: c.tr, tick: 50 * time.Millisecond,
		snapEvery: 4096, snapOnAdd: true, crypt: crypt, changed: c.replChanged,
		onLostLog: c.rejoinAsker(sa.Group)}, "stream '"+sa.Account+" > "+sa.Config.Name+"'")
	if err != nil {
		return err
	}
	r.node = n
	unsubCU, err := r.serveCatchup()
	if err != nil {
		n.Stop()
		return err
	}
	unsubRaft, err := c.tr.subscribe(sa.Group, n)
	var unsubRJ func()
	if err == nil {
		if unsubRJ, err = c.serveRejoin(sa.Group, n); err != nil {
			unsubRaft()
		}
	}
	if err != nil {
		unsubCU()
		n.Stop()
		return err
	}
	r.unsub = func() { unsubRaft(); unsubCU(); unsubRJ() }
	r.started.Store(true)
	go r.acker()
	if r.catchupTo.Load() != 0 {
		r.startRepair(0)
	}
	st.repl.Store(r)
	c.replMu.Lock()
	c.repls[sa.Group] = r
	c.replMu.Unlock()
	c.groups.add(c.s.SystemAccount().Name, n)
	if len(sa.Peers) > 0 && sa.Peers[0] == raftPeerName(c.self) {
		if v := n.View(); v != nil && v.term <= 1 {
			_ = n.Campaign()
		}
	}
	return nil
}

// stopStreamGroup stops the stream's member of its group; remove also
// deletes its log (the stream is being deleted).
func (c *jsCluster) stopStreamGroup(st *stream, remove bool) {
	r := st.repl.Load()
	if r == nil {
		return
	}
	c.replMu.Lock()
	delete(c.repls, r.group)
	c.replMu.Unlock()
	c.groups.remove(c.s.SystemAccount().Name, r.group)
	c.announced.Delete(r)
	r.unsub()
	r.node.Stop()
	r.stop()
	if remove {
		if err := os.RemoveAll(c.replGroupDir(r.group)); err != nil {
			c.s.Warnf("JetStream cluster: removing the log of stream '%s > %s': %v", st.ja.acc.Name, st.name, err)
		}
	}
}

// replList is a copy of this server's stream groups.
func (c *jsCluster) replList() []*streamRepl {
	c.replMu.Lock()
	defer c.replMu.Unlock()
	rs := make([]*streamRepl, 0, len(c.repls))
	for _, r := range c.repls {
		rs = append(rs, r)
	}
	return rs
}

// stopStreamGroups stops every stream group of this server (shutdown).
func (c *jsCluster) stopStreamGroups() {
	for _, r := range c.replList() {
		c.stopStreamGroup(r.st, false)
	}
}

// watchStreams runs watchStreamLeaders when a stream group's leadership
// changes, and every 250 ms in case a signal was coalesced with another.
func (c *jsCluster) watchStreams() {
	defer c.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		case <-c.replChanged:
		}
		c.watchStreamLeaders()
	}
}

// watchStreamLeaders follows the leadership of this server's stream groups:
// only the leader subscribes to the stream's subjects (syncLeaderSubs); a
// replica that becomes leader starts the stream's consumers from their
// replicated state; one that stops leading stops them.
func (c *jsCluster) watchStreamLeaders() {
	for _, r := range c.replList() {
		r.checkRepair()
		r.st.syncLeaderSubs()
		lead := r.node.LeaderReady() && !r.repairing()
		if lead && c.reconcileMembers(r) {
			continue // the group ended (scaled down to R1)
		}
		if lead == r.leading {
			continue
		}
		r.leading = lead
		st := r.st
		if lead {
			c.s.Noticef("JetStream cluster new stream leader for '%s > %s'", st.ja.acc.Name, st.name)
			st.recoverConsumers()
			st.sweepRetained()
			st.leadSourcing(true)
			st.startSchedules() // the timetable, from the store
			c.adviseStreamLeader(r)
		} else {
			c.adviseQuorumLost(r) // names the consumers: before they stop
			st.deactivateConsumers()
			st.leadSourcing(false)
		}
	}
}

// syncLeaderSubs subscribes a replicated stream to its subjects while this
// replica leads its group and unsubscribes it otherwise: followers never
// receive the publishes (each would cross a route to be dropped). It
// subscribes as soon as the node leads, before it is ready to take
// publishes: those queue meanwhile (beginLeading waits), so the only gap
// where no replica answers is the election itself.
func (st *stream) syncLeaderSubs() {
	want := st.answersHere()
	st.mu.RLock()
	have := st.subs != nil
	st.mu.RUnlock()
	if want == have {
		return
	}
	if err := st.subscribe(); err != nil {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s': subscribing as leader: %v", st.ja.acc.Name, st.name, err)
	}
}

// settled tells whether a new group has a leader and, if it is this
// replica, whether every member acknowledged its first entry (so that the
// create's answer shows the replicas current, as the reference's does).
func (r *streamRepl) settled() bool {
	v := r.node.View()
	if v == nil || v.leader == 0 {
		return false
	}
	if v.leader != r.c.self {
		return true
	}
	for _, p := range v.peers {
		if !p.current {
			return false
		}
	}
	return true
}

// answersHere tells whether this server answers for the stream: always for
// a single replica, only on the group's leader for a replicated one.
func (st *stream) answersHere() bool {
	if !st.replicated {
		return true
	}
	r := st.repl.Load()
	return r != nil && r.isLeader() && !r.repairing()
}

// deactivateConsumers stops the consumers of a replica that does not lead:
// their state stays in the store, where the leader's replicated state is
// written (applyConsumerState).
func (st *stream) deactivateConsumers() {
	for _, c := range st.consumerList() {
		_ = c.flushState()
		st.unregisterConsumer(c)
		c.halt(false)
		_ = c.store.Stop()
	}
}

// deleteStoredConsumer removes a consumer that does not run here from the
// store.
func (st *stream) deleteStoredConsumer(name string) {
	ns, ok := st.store.(consumerNamesStore)
	if !ok || !slices.Contains(ns.ConsumerNames(), name) {
		return
	}
	if o, err := st.store.ConsumerStore(name); err == nil {
		_ = o.Delete()
	}
}

// replicateConsumerState proposes a consumer's saved state to the stream's
// group and waits for it to commit: the followers' copies are what a new
// leader starts from, so a state saved before an ack is answered
// (ack-of-ack) must be on a majority first.
func (st *stream) replicateConsumerState(name string, cs *ConsumerState) error {
	r := st.repl.Load()
	if r == nil || !r.isLeader() {
		return nil
	}
	data, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	b := make([]byte, 0, 3+len(name)+len(data))
	b = append(b, replEntryConsumer)
	b = append(b, byte(len(name)), byte(len(name)>>8))
	b = append(append(b, name...), data...)
	if r.inAPI.Load() {
		// On the node's own goroutine: not even the proposal queue may
		// be waited for.
		go r.node.Propose(b)
		return nil
	}
	return r.node.ProposeWait(b, replProposeTimeout)
}

// applyConsumerState writes a consumer's replicated state into this
// replica's store, unless the consumer runs here (the leader saved it).
func (r *streamRepl) applyConsumerState(data []byte) error {
	name, cs, err := decodeReplConsumer(data)
	if err != nil {
		return err
	}
	st := r.st
	if st.lookupConsumer(name) != nil {
		return nil
	}
	ns, ok := st.store.(consumerNamesStore)
	if !ok || !slices.Contains(ns.ConsumerNames(), name) {
		return nil // deleted meanwhile
	}
	o, err := st.store.ConsumerStore(name)
	if err != nil {
		return err
	}
	defer o.Stop()
	return o.Update(cs)
}

// decodeReplConsumer splits a consumer state entry.
func decodeReplConsumer(data []byte) (string, *ConsumerState, error) {
	if len(data) < 3 || data[0] != replEntryConsumer {
		return "", nil, errReplMalformed
	}
	n := int(data[1]) | int(data[2])<<8
	if len(data) < 3+n || n == 0 {
		return "", nil, errReplMalformed
	}
	var cs ConsumerState
	if err := json.Unmarshal(data[3+n:], &cs); err != nil {
		return "", nil, err
	}
	return string(data[3 : 3+n]), &cs, nil
}

// dispatchReplicated answers a request about a replicated stream stored
// here: only the group's leader answers; changes go through the group.
func (c *jsCluster) dispatchReplicated(ja *jsAccount, r *jsAPIRequest, h jsAPIHandler, rest string, args []string, st *stream) {
	repl := st.repl.Load()
	if repl != nil && strings.HasPrefix(rest, "DIRECT.GET.") {
		if !repl.repairing() && c.directGetHere(r, repl) {
			h.fn(ja, r, args) // answers itself
		}
		return
	}
	if repl == nil || !repl.isLeader() || repl.repairing() {
		return
	}
	var resp any
	if replicatedOp(rest) {
		resp = repl.proposeAPI(rest, r.msg)
	} else if resp = h.fn(ja, r, args); repl.repairing() {
		// The read found corruption here: no answer (not even "not
		// found"); a healthy replica answers the retry once it leads.
		return
	}
	if resp == nil {
		return
	}
	c.addClusterInfo(resp, st)
	if cr, ok := resp.(*JSApiStreamCreateResponse); ok && strings.HasPrefix(rest, "STREAM.CREATE.") && cr.Error == nil {
		cr.DidCreate = false
	}
	ja.respond(r, h, resp)
}

// streamLeaderStepdown hands a replicated stream's leadership to another
// replica (STREAM.LEADER.STEPDOWN.<stream>), answered by the leader.
func (c *jsCluster) streamLeaderStepdown(ja *jsAccount, r *jsAPIRequest, name string) {
	h := jsAPIHandler{respType: "stream_leader_stepdown_response"}
	st := ja.lookupStream(name)
	if st == nil {
		if c.fsm.lookup(ja.acc.Name, name) == nil {
			c.metaOnly(ja, r, h, func(*jsAccount, *jsAPIRequest) any { return errResponse(jsError(jsStreamNotFound)) })
		}
		return
	}
	if !st.answersHere() {
		return
	}
	if !st.replicated {
		// The reference answers success and the stream stays where it
		// is (observed on v2.15.2).
		ja.respond(r, h, &JSApiSuccessResponse{Success: true})
		return
	}
	var req JSApiLeaderStepDownRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			ja.respond(r, h, errResponse(e))
			return
		}
	}
	if e := c.handOverStream(st, req.Placement); e != nil {
		ja.respond(r, h, errResponse(e))
		return
	}
	ja.respond(r, h, &JSApiSuccessResponse{Success: true})
}

// handOverStream hands a replicated stream's leadership (and with it its
// consumers) to the replica the placement prefers, or the most current.
func (c *jsCluster) handOverStream(st *stream, p *Placement) *ApiError {
	repl := st.repl.Load()
	for _, cons := range st.consumerList() {
		_ = cons.flushState() // replicated while still leading
	}
	to, e := c.stepdownTarget(repl.node, p)
	if e == nil {
		if err := repl.node.TransferLeadership(to); err != nil {
			e = jsError(jsClusterNoPeers, err.Error())
		}
	}
	return e
}

// stepdownTarget picks the member a leader hands over to: the preferred
// server of the placement, else the most current connected member (with
// the placement's tags, if it names any).
func (c *jsCluster) stepdownTarget(n *raftNode, p *Placement) (uint64, *ApiError) {
	noPeer := jsError(jsClusterNoPeers, "no replacement peer connected")
	v := n.View()
	if v == nil {
		return 0, noPeer
	}
	online := c.routePeers()
	allowed := v.voters
	if p != nil {
		if p.Cluster != "" && p.Cluster != c.name {
			return 0, noPeer
		}
		if len(p.Tags) > 0 {
			// Only members with every tag (jetstream_cluster_placement.go).
			allowed = c.placementKeeps(slices.DeleteFunc(slices.Clone(v.voters), func(id uint64) bool { return id == c.self }), p)
		}
		if p.Preferred != "" {
			if p.Preferred == c.s.Name() {
				return 0, jsError(jsClusterNoPeers, "preferred server \""+p.Preferred+"\" is already leader")
			}
			for _, id := range v.voters {
				if online[id] == p.Preferred {
					return id, nil
				}
			}
			return 0, jsError(jsClusterNoPeers, "preferred server \""+p.Preferred+"\" not known")
		}
	}
	// The most up-to-date connected member (the library brings it up to
	// date before handing over).
	var best raftPeerView
	for _, pv := range v.peers {
		if _, ok := online[pv.id]; ok && pv.id != c.self && slices.Contains(allowed, pv.id) && (best.id == 0 || pv.match > best.match) {
			best = pv
		}
	}
	if best.id == 0 {
		return 0, noPeer
	}
	return best.id, nil
}

// replClusterInfo is the `cluster` block of a replicated stream's info, as
// its leader sees the group.
func (c *jsCluster) replClusterInfo(st *stream) *ClusterInfo {
	ci := &ClusterInfo{Name: c.name}
	r := st.repl.Load()
	if r == nil {
		return ci
	}
	ci.RaftGroup = r.group
	v := r.node.View()
	if v == nil {
		return ci
	}
	if v.leader != 0 {
		ci.Leader = c.peerName(v.leader)
		since := r.node.LeaderSince().UTC()
		ci.LeaderSince = &since
	}
	ci.SystemAccount, ci.TrafficAccount = true, c.tr.sys.Name
	ci.Replicas = c.peerInfos(v, v.leader)
	return ci
}
