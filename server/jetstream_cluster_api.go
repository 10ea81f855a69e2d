package server

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// Clustered API: every server of the cluster receives every $JS.API
// request of an account (each subscribes $JS.API.> in it and routes carry
// the interest), and exactly one answers, as the reference's contract says:
//
//   - account- and placement-level requests (INFO, STREAM.CREATE of a new
//     stream, STREAM.DELETE, STREAM.NAMES, STREAM.LIST, META.LEADER.STEPDOWN,
//     STREAM.PEER.REMOVE, a STREAM.UPDATE changing num_replicas or the
//     placement, and requests of accounts without JetStream) by the meta
//     leader;
//   - requests about a stream (its info, update, purge, messages, direct
//     gets, its consumers, a create of an existing stream) by the server
//     the stream lives on; the others stay silent; a stream assigned nowhere
//     is answered "not found" by the meta leader;
//   - while the meta group has no leader, what the meta leader would answer
//     gets err 10008 (JetStream system temporarily unavailable).
//
// Creates and deletes go through the meta log: the server a stream is
// placed on answers its create when it applies the entry, the meta leader
// a delete once its entry is committed (jetstream_cluster_meta.go).

// jsMetaProposeTimeout bounds how long an API worker waits for an entry.
const jsMetaProposeTimeout = 5 * time.Second

// clusterDispatch answers r in clustered mode, or stays silent.
func (c *jsCluster) dispatch(ja *jsAccount, r *jsAPIRequest, rest string) {
	if fromOtherJSImplementation(r.client) {
		return // its server answers it (jetstream_cluster_mixed.go)
	}
	if rest == "META.LEADER.STEPDOWN" {
		c.metaOnly(ja, r, jsAPIHandler{respType: "meta_leader_stepdown_response"}, c.apiMetaStepdown)
		return
	}
	if rest == "SERVER.REMOVE" {
		if ja.acc == c.s.SystemAccount() {
			c.metaOnly(ja, r, jsAPIHandler{respType: "meta_server_remove_response"}, c.apiServerRemove)
		}
		return
	}
	h, args, ok := lookupAPIHandler(rest)
	if !ok {
		return
	}
	if ja.disabled || (apiLevelTooHigh(r.hdr) && h.respType != "") {
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any {
			if ja.disabled {
				return &ApiResponse{Error: jsError(jsNotEnabledForAccount)}
			}
			return &ApiResponse{Error: jsError(jsRequiredAPILevel)}
		})
		return
	}
	switch rest {
	case "INFO":
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any { return ja.apiAccountInfo(r, args) })
		return
	case "STREAM.NAMES":
		c.metaOnly(ja, r, h, c.apiStreamNames)
		return
	case "STREAM.LIST":
		c.metaOnly(ja, r, h, c.apiStreamList)
		return
	}
	if strings.HasPrefix(rest, "CONSUMER.LEADER.STEPDOWN.") {
		c.consumerLeaderStepdown(ja, r, strings.TrimPrefix(rest, "CONSUMER.LEADER.STEPDOWN."))
		return
	}
	if strings.HasPrefix(rest, "STREAM.LEADER.STEPDOWN.") {
		c.streamLeaderStepdown(ja, r, strings.TrimPrefix(rest, "STREAM.LEADER.STEPDOWN."))
		return
	}
	stream := args[0]
	if strings.HasPrefix(rest, "CONSUMER.DURABLE.CREATE.") && len(args) > 1 {
		stream = args[1] // CONSUMER.DURABLE's arguments start with CREATE
	}
	if strings.HasPrefix(rest, "STREAM.PEER.REMOVE.") {
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any { return c.apiStreamPeerRemove(ja, r, stream) })
		return
	}
	if strings.HasPrefix(rest, "STREAM.UPDATE.") && c.regroupRequested(ja, stream, r.msg) {
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any { return c.apiStreamScale(ja, r, stream) })
		return
	}
	if strings.HasPrefix(rest, "STREAM.DELETE.") {
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any { return c.apiStreamDelete(ja, r, stream) })
		return
	}
	if st := ja.lookupStream(stream); st != nil && st.replicated {
		c.dispatchReplicated(ja, r, h, rest, args, st)
		return
	}
	if ja.lookupStream(stream) != nil {
		// Ours: the single-server handlers answer, with the cluster block.
		if resp := h.fn(ja, r, args); resp != nil {
			c.addClusterInfo(resp, nil)
			c.addAlternates(ja.acc.Name, resp)
			if cr, ok := resp.(*JSApiStreamCreateResponse); ok && strings.HasPrefix(rest, "STREAM.CREATE.") && cr.Error == nil {
				cr.DidCreate = false // the existing stream, as the reference's leader answers
			}
			ja.respond(r, h, resp)
		}
		return
	}
	if sa := c.fsm.lookup(ja.acc.Name, stream); sa != nil {
		// Lives elsewhere: its server answers, unless it is offline.
		c.answerOffline(ja, r, h, rest, sa)
		return
	}
	switch {
	case strings.HasPrefix(rest, "STREAM.CREATE"):
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any { return c.apiStreamCreate(ja, r, stream) })
	case strings.HasPrefix(rest, "STREAM.RESTORE"):
		c.metaOnly(ja, r, h, func(*jsAccount, *jsAPIRequest) any {
			return errResponse(jsError(jsClusterNoPeers, "stream restore in clustered mode is not supported yet"))
		})
	case strings.HasPrefix(rest, "STREAM.INFO.") && c.meta.Leader() == 0 && c.isMember():
		// As the reference: an info request waits jsOfflineDelay for a
		// leader that may know the stream before saying 10008.
		time.AfterFunc(jsOfflineDelay, func() { ja.respond(r, h, errResponse(jsError(jsClusterNotAvail))) })
	default:
		// Assigned nowhere: the meta leader says what a single server
		// would (not found), so that the request is answered once.
		c.metaOnly(ja, r, h, func(ja *jsAccount, r *jsAPIRequest) any { return h.fn(ja, r, args) })
	}
}

// metaOnly answers with fn on the meta leader; with no meta leader known
// every member answers 10008 (a server not yet a member stays silent: the
// group may well have a leader); followers stay silent.
func (c *jsCluster) metaOnly(ja *jsAccount, r *jsAPIRequest, h jsAPIHandler, fn func(*jsAccount, *jsAPIRequest) any) {
	switch {
	case c.meta.Leader() == 0:
		if c.isMember() {
			ja.respond(r, h, errResponse(jsError(jsClusterNotAvail)))
		}
	case c.isMetaLeader():
		if resp := fn(ja, r); resp != nil {
			ja.respond(r, h, resp)
		}
	}
}

// addClusterInfo puts the cluster block in the info answers of a stream
// that lives here (st, if replicated: as its group's leader sees it).
func (c *jsCluster) addClusterInfo(resp any, st *stream) {
	var si *StreamInfo
	switch v := resp.(type) {
	case *JSApiStreamInfoResponse:
		si = v.StreamInfo
	case *JSApiStreamCreateResponse:
		si = v.StreamInfo
	}
	if si == nil {
		return
	}
	if st != nil && st.replicated {
		si.Cluster = c.replClusterInfo(st)
		return
	}
	si.Cluster = &ClusterInfo{Name: c.name, Leader: c.s.Name()}
}

// addAlternates puts the alternates in a stream info answer.
func (c *jsCluster) addAlternates(acc string, resp any) {
	if ir, ok := resp.(*JSApiStreamInfoResponse); ok && ir.StreamInfo != nil {
		ir.Alternates = c.alternates(acc, ir.Config.Name)
	}
}

// alternates lists the stream and the streams of its account that mirror
// it (by name), as the reference's stream info does in clustered mode;
// none when nothing mirrors it.
func (c *jsCluster) alternates(acc, stream string) []StreamAlternate {
	var mirrors []string
	for _, sa := range c.fsm.accountStreams(acc) {
		if m := sa.Config.Mirror; m != nil && m.External == nil && m.Name == stream {
			mirrors = append(mirrors, sa.Config.Name)
		}
	}
	if len(mirrors) == 0 {
		return nil
	}
	slices.Sort(mirrors)
	domain := c.s.getOpts().JetStreamDomain
	alts := []StreamAlternate{{Name: stream, Domain: domain, Cluster: c.name}}
	for _, name := range mirrors {
		alts = append(alts, StreamAlternate{Name: name, Domain: domain, Cluster: c.name})
	}
	return alts
}

// apiStreamCreate checks a new stream's config, places it and proposes its
// assignment; the placed server answers when it applies it.
func (c *jsCluster) apiStreamCreate(ja *jsAccount, r *jsAPIRequest, name string) any {
	cfg, e := decodeStreamConfig(r.msg, name, nil, ja.js.configLimits())
	if e != nil {
		return errResponse(e)
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	if c.fsm.lookup(ja.acc.Name, name) != nil {
		return nil // created meanwhile: its server answers the request
	}
	for _, sa := range c.fsm.accountStreams(ja.acc.Name) {
		if subjectsOverlap(sa.Config.Subjects, cfg.Subjects) {
			return errResponse(jsError(jsStreamSubjectOverlap))
		}
	}
	if e := ja.checkReservation(cfg); e != nil {
		return errResponse(e)
	}
	ids, e := c.placeAmong(max(cfg.Replicas, 1), nil, nil, cfg.Placement)
	if e != nil {
		return errResponse(e)
	}
	peers := make([]string, len(ids))
	for i, id := range ids {
		peers[i] = raftPeerName(id)
	}
	group := ""
	if cfg.Replicas > 1 {
		group = newReplGroupName()
	} else {
		ids = nil // an R1 assignment names its server only
	}
	cfg.Created = nil
	sa := &jsStreamAssignment{Account: ja.acc.Name, Config: cfg, Peers: peers, PeerIDs: ids, Group: group,
		Created: time.Now().UTC(), Reply: r.reply, Subject: r.subject}
	data, _ := json.Marshal(&jsMetaEntry{Op: jsMetaAddStream, SA: sa})
	if err := c.meta.ProposeWait(data, jsMetaProposeTimeout); err != nil {
		c.s.Warnf("JetStream cluster: proposing stream '%s > %s': %v", ja.acc.Name, name, err)
		return errResponse(jsError(jsClusterNotAvail))
	}
	return nil
}

func subjectsOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if subjectsCollide(x, y) {
				return true
			}
		}
	}
	return false
}

// apiStreamDelete proposes a stream's removal and answers once it is
// committed; the stream's server deletes it when it applies the entry.
func (c *jsCluster) apiStreamDelete(ja *jsAccount, r *jsAPIRequest, name string) any {
	if !isEmptyBody(r.msg) {
		return errResponse(jsError(jsNotEmptyRequest))
	}
	sa := c.fsm.lookup(ja.acc.Name, name)
	if sa == nil {
		return errResponse(jsError(jsStreamNotFound))
	}
	req := *sa
	req.Reply, req.Subject = "", ""
	data, _ := json.Marshal(&jsMetaEntry{Op: jsMetaDelStream, SA: &req})
	if err := c.meta.ProposeWait(data, jsMetaProposeTimeout); err != nil {
		return errResponse(jsError(jsClusterNotAvail))
	}
	return &JSApiSuccessResponse{Success: true}
}

// assignedPage is one page of an account's assignments, filtered by
// subject, with the total and the offset used.
func (c *jsCluster) assignedPage(ja *jsAccount, r *jsAPIRequest, limit int) ([]*jsStreamAssignment, int, int, *ApiError) {
	var req jsPagedRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return nil, 0, 0, e
		}
	}
	var all []*jsStreamAssignment
	for _, sa := range c.fsm.accountStreams(ja.acc.Name) {
		if req.Subject == "" || subjectsOverlap(sa.Config.Subjects, []string{req.Subject}) {
			all = append(all, sa)
		}
	}
	total, off := len(all), min(max(req.Offset, 0), len(all))
	return all[off:min(off+limit, total)], total, off, nil
}

func (c *jsCluster) apiStreamNames(ja *jsAccount, r *jsAPIRequest) any {
	page, total, off, e := c.assignedPage(ja, r, 1024)
	if e != nil {
		return errResponse(e)
	}
	resp := &JSApiStreamNamesResponse{Total: total, Offset: off, Limit: 1024}
	for _, sa := range page {
		resp.Streams = append(resp.Streams, sa.Config.Name)
	}
	return resp
}

// apiStreamList gathers the page's infos: its own streams' directly, the
// others' by asking their servers (STREAM.INFO in the account); those that
// do not answer in time are listed under `missing`.
func (c *jsCluster) apiStreamList(ja *jsAccount, r *jsAPIRequest) any {
	page, total, off, e := c.assignedPage(ja, r, 256)
	if e != nil {
		return errResponse(e)
	}
	resp := &JSApiStreamListResponse{Total: total, Offset: off, Limit: 256, Streams: []*StreamInfo{}}
	infos := c.gatherInfos(ja, page)
	for _, sa := range page {
		if si := infos[sa.Config.Name]; si != nil {
			resp.Streams = append(resp.Streams, si)
		} else {
			resp.Missing = append(resp.Missing, sa.Config.Name)
		}
	}
	return resp
}

// gatherInfos returns the infos of the streams of page, asking remote
// servers for theirs (at most 2 s).
func (c *jsCluster) gatherInfos(ja *jsAccount, page []*jsStreamAssignment) map[string]*StreamInfo {
	out := make(map[string]*StreamInfo, len(page))
	var remote []string
	for _, sa := range page {
		if st := ja.lookupStream(sa.Config.Name); st != nil && st.answersHere() {
			si := st.info(false, false)
			si.Cluster = &ClusterInfo{Name: c.name, Leader: c.s.Name()}
			if st.replicated {
				si.Cluster = c.replClusterInfo(st)
			}
			out[sa.Config.Name] = si
		} else {
			remote = append(remote, sa.Config.Name)
		}
	}
	if len(remote) == 0 {
		return out
	}
	inbox := "$JSC.F.SI." + randToken(8) + "."
	var mu sync.Mutex
	done := make(chan struct{})
	pending := len(remote)
	unsub, err := c.s.SubscribeInternal(ja.acc, inbox+"*", "", func(subj, _ string, _, msg []byte) {
		var resp JSApiStreamInfoResponse
		if json.Unmarshal(msg, &resp) != nil || resp.StreamInfo == nil || resp.Error != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		name := strings.TrimPrefix(subj, inbox)
		if out[name] == nil && pending > 0 {
			// LIST shows the stored metadata only, as a local list does.
			delete(resp.StreamInfo.Config.Metadata, "_nats.ver")
			delete(resp.StreamInfo.Config.Metadata, "_nats.level")
			out[name] = resp.StreamInfo
			if pending--; pending == 0 {
				close(done)
			}
		}
	})
	if err != nil {
		return out
	}
	defer unsub()
	for _, name := range remote {
		c.s.PublishInternal(ja.acc, jsAPIPrefix+"STREAM.INFO."+name, inbox+name, nil, nil)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	pending = 0 // late answers are dropped
	return out
}

// JSApiLeaderStepDownRequest optionally asks for a new leader's placement.
type JSApiLeaderStepDownRequest struct {
	Placement *Placement `json:"placement,omitempty"`
}

// apiMetaStepdown hands the meta leadership to another member.
func (c *jsCluster) apiMetaStepdown(ja *jsAccount, r *jsAPIRequest) any {
	var req JSApiLeaderStepDownRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return errResponse(e)
		}
	}
	to, e := c.stepdownTarget(c.meta, req.Placement)
	if e != nil {
		return errResponse(e)
	}
	if err := c.meta.TransferLeadership(to); err != nil {
		return errResponse(jsError(jsClusterNoPeers, err.Error()))
	}
	return &JSApiSuccessResponse{Success: true}
}
