package server

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// jsMeta is the meta group's replicated state: where every stream lives.
// Every server applies the same entries in the same order; the servers a
// stream is placed on create (or delete) it when its entry is applied.
//
// Entry format (the data of a meta log entry, JSON):
//
//	{"op":"add_stream"|"del_stream", "sa":<jsStreamAssignment>}
//
// Snapshot format (JSON): {"streams":[<jsStreamAssignment>...]}, sorted by
// account and name.
type jsMeta struct {
	c  *jsCluster
	mu sync.RWMutex // leaf
	// streams by account, then name.
	streams map[string]map[string]*jsStreamAssignment
	// removed are the peers SERVER.REMOVE took out, with the server id
	// each had then (jetstream_cluster_peers.go).
	removed map[string]string
	// groupID tells this meta group from others (jetstream_cluster_peers.go).
	groupID string
}

// jsStreamAssignment places one stream: its config and its peers (peer
// names, raftPeerName). Reply and Subject are the create request, answered
// by the stream's server when the entry is applied (not on a replay after
// a restart).
type jsStreamAssignment struct {
	Account string        `json:"account"`
	Config  *StreamConfig `json:"config"`
	Peers   []string      `json:"peers"`
	Group   string        `json:"group,omitempty"` // the Raft group of a replicated stream
	// PeerIDs are the Raft ids of Peers (a peer name keeps only 48 bits
	// of its id): a replica restarting replays its assignment before it
	// knows the other members.
	PeerIDs []uint64  `json:"peer_ids,omitempty"`
	Created time.Time `json:"created"`
	Reply   string    `json:"reply,omitempty"`
	Subject string    `json:"subject,omitempty"`
}

type jsMetaEntry struct {
	Op string              `json:"op"`
	SA *jsStreamAssignment `json:"sa,omitempty"`
	// Peer and ServerID are the server of a membership entry.
	Peer     string `json:"peer,omitempty"`
	ServerID string `json:"server_id,omitempty"`
	GroupID  string `json:"group_id,omitempty"`
}

const (
	jsMetaAddStream = "add_stream"
	jsMetaDelStream = "del_stream"
)

func newJSMeta(c *jsCluster) *jsMeta {
	return &jsMeta{c: c, streams: make(map[string]map[string]*jsStreamAssignment)}
}

// Apply runs on the meta node's goroutine.
func (m *jsMeta) Apply(index uint64, data []byte) {
	var e jsMetaEntry
	err := json.Unmarshal(data, &e)
	if err == nil && e.SA == nil && m.applyPeerOp(index, &e) {
		return
	}
	if err != nil || e.SA == nil || e.SA.Config == nil {
		m.c.s.Warnf("JetStream cluster: skipping a malformed meta entry at %d: %v", index, err)
		return
	}
	switch e.Op {
	case jsMetaAddStream:
		m.mu.Lock()
		accs := m.streams[e.SA.Account]
		if accs == nil {
			accs = make(map[string]*jsStreamAssignment)
			m.streams[e.SA.Account] = accs
		}
		if _, dup := accs[e.SA.Config.Name]; dup {
			m.mu.Unlock()
			return // a second create proposed before the first applied
		}
		accs[e.SA.Config.Name] = e.SA
		m.mu.Unlock()
		if m.c.placedHere(e.SA) && m.c.waitReady() {
			m.c.createAssigned(e.SA, m.c.replayed(index))
		}
	case jsMetaDelStream:
		m.mu.Lock()
		sa := m.streams[e.SA.Account][e.SA.Config.Name]
		delete(m.streams[e.SA.Account], e.SA.Config.Name)
		m.mu.Unlock()
		if sa != nil && m.c.placedHere(sa) && m.c.waitReady() {
			m.c.deleteAssigned(sa)
		}
	}
}

type jsMetaSnapshot struct {
	Streams []*jsStreamAssignment `json:"streams"`
	Removed map[string]string     `json:"removed,omitempty"`
	GroupID string                `json:"group_id,omitempty"`
}

// Snapshot runs on the meta node's goroutine.
func (m *jsMeta) Snapshot() ([]byte, error) {
	m.mu.RLock()
	snap := jsMetaSnapshot{Streams: []*jsStreamAssignment{}, Removed: maps.Clone(m.removed), GroupID: m.groupID}
	for _, accs := range m.streams {
		for _, sa := range accs {
			c := *sa
			c.Reply, c.Subject = "", ""
			snap.Streams = append(snap.Streams, &c)
		}
	}
	m.mu.RUnlock()
	sort.Slice(snap.Streams, func(i, j int) bool {
		a, b := snap.Streams[i], snap.Streams[j]
		return a.Account < b.Account || (a.Account == b.Account && a.Config.Name < b.Config.Name)
	})
	return json.Marshal(&snap)
}

// Restore replaces the assignments with a snapshot's. A stream stored here
// that the snapshot does not name is left alone (and logged): metadata
// never deletes data by omission.
func (m *jsMeta) Restore(data []byte) error {
	var snap jsMetaSnapshot
	if len(data) > 0 {
		if err := json.Unmarshal(data, &snap); err != nil {
			return err
		}
	}
	streams := make(map[string]map[string]*jsStreamAssignment)
	for _, sa := range snap.Streams {
		if sa == nil || sa.Config == nil {
			continue
		}
		if streams[sa.Account] == nil {
			streams[sa.Account] = make(map[string]*jsStreamAssignment)
		}
		streams[sa.Account][sa.Config.Name] = sa
	}
	m.mu.Lock()
	m.streams = streams
	m.removed = snap.Removed
	m.groupID = snap.GroupID
	m.mu.Unlock()
	for _, sa := range snap.Streams {
		if sa != nil && sa.Config != nil && m.c.placedHere(sa) && m.c.waitReady() {
			m.c.createAssigned(sa, true)
		}
	}
	return nil
}

// lookup returns a stream's assignment (nil if none).
func (m *jsMeta) lookup(account, name string) *jsStreamAssignment {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.streams[account][name]
}

// accountStreams returns an account's assignments sorted by name.
func (m *jsMeta) accountStreams(account string) []*jsStreamAssignment {
	m.mu.RLock()
	out := make([]*jsStreamAssignment, 0, len(m.streams[account]))
	for _, sa := range m.streams[account] {
		out = append(out, sa)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Config.Name < out[j].Config.Name })
	return out
}

// countOn counts the streams placed on peer (for placement).
func (m *jsMeta) countOn(peer string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, accs := range m.streams {
		for _, sa := range accs {
			if slices.Contains(sa.Peers, peer) {
				n++
			}
		}
	}
	return n
}

// placedHere tells whether sa has a replica on this server.
func (c *jsCluster) placedHere(sa *jsStreamAssignment) bool {
	return slices.Contains(sa.Peers, raftPeerName(c.self))
}

// createAssigned creates a stream placed here, starts its member of the
// stream's group if replicated, and answers its create request unless the
// entry is a replay (the assignment's first peer answers). A stream
// already stored here (a restart) is kept as recovered.
func (c *jsCluster) createAssigned(sa *jsStreamAssignment, replay bool) {
	ja := c.js.lookupAccount(sa.Account)
	if ja == nil {
		c.s.Warnf("JetStream cluster: stream '%s > %s' assigned here, but the account has no JetStream", sa.Account, sa.Config.Name)
		return
	}
	ja.createMu.Lock()
	st := ja.lookupStream(sa.Config.Name)
	var resp any
	if st == nil {
		cfg := *sa.Config
		created := sa.Created
		cfg.Created = &created
		var err error
		if st, err = ja.addStream(&cfg, created); err != nil {
			c.s.Warnf("JetStream cluster: creating stream '%s > %s': %v", sa.Account, sa.Config.Name, err)
			resp = errResponse(jsError(jsStreamCreate, err))
		} else {
			ja.adviseStream(cfg.Name, jsActionCreate)
		}
	}
	if st != nil && st.replicated {
		if err := c.startStreamGroup(st, sa); err != nil {
			c.s.Warnf("JetStream cluster: starting the group of stream '%s > %s': %v", sa.Account, sa.Config.Name, err)
			resp = errResponse(jsError(jsStreamCreate, err))
		}
	}
	ja.createMu.Unlock()
	if replay || sa.Reply == "" || len(sa.Peers) == 0 {
		return
	}
	first := sa.Peers[0] == raftPeerName(c.self)
	if resp != nil || !st.replicated {
		if first {
			c.answerCreate(ja, sa, st, resp)
		}
		return
	}
	// The group's leader answers, once its replicas are current, so that
	// the answer shows them; the first peer does if none has by the
	// deadline. Off the meta goroutine.
	go func() {
		deadline := time.Now().Add(jsMetaProposeTimeout)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for time.Now().Before(deadline) {
			if r := st.repl.Load(); r == nil || (r.isLeader() && r.settled()) {
				break
			}
			<-t.C
		}
		if r := st.repl.Load(); (r != nil && r.isLeader()) || (first && time.Now().After(deadline)) {
			c.answerCreate(ja, sa, st, nil)
		}
	}()
}

// answerCreate answers a create request with the stream's info (resp nil)
// or with resp.
func (c *jsCluster) answerCreate(ja *jsAccount, sa *jsStreamAssignment, st *stream, resp any) {
	if resp == nil {
		cr := &JSApiStreamCreateResponse{StreamInfo: st.createdInfo(), DidCreate: true}
		cr.Cluster = c.streamClusterInfo(sa)
		if st.replicated {
			cr.Cluster = c.replClusterInfo(st)
		}
		resp = cr
	}
	ja.respond(&jsAPIRequest{ja: ja, subject: sa.Subject, reply: sa.Reply}, jsAPIHandlers["STREAM.CREATE"], resp)
}

// deleteAssigned deletes a stream placed here (the meta leader answered
// the request once the entry was committed, so a stream whose server is
// down is deleted when it comes back and replays the entry).
func (c *jsCluster) deleteAssigned(sa *jsStreamAssignment) {
	ja := c.js.lookupAccount(sa.Account)
	if ja == nil {
		return
	}
	if st := ja.lookupStream(sa.Config.Name); st != nil {
		// Before createMu: the group's goroutine may be applying an API
		// request that takes it.
		c.stopStreamGroup(st, true)
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	st := ja.lookupStream(sa.Config.Name)
	if st == nil {
		return
	}
	if err := ja.deleteStream(st); err != nil {
		c.s.Warnf("JetStream cluster: deleting stream '%s > %s': %v", sa.Account, sa.Config.Name, err)
		return
	}
	ja.adviseStream(st.name, jsActionDelete)
}

// streamClusterInfo is the `cluster` block of an R1 stream's info: the
// cluster's name and the server it lives on, as the reference answers.
func (c *jsCluster) streamClusterInfo(sa *jsStreamAssignment) *ClusterInfo {
	ci := &ClusterInfo{Name: c.name}
	if len(sa.Peers) > 0 {
		ci.Leader = c.peerNameByString(sa.Peers[0])
	}
	return ci
}

// peerNameByString maps a peer name (raftPeerName) to its server's name.
func (c *jsCluster) peerNameByString(peer string) string {
	for id, name := range c.routePeers() {
		if raftPeerName(id) == peer {
			return name
		}
	}
	if peer == raftPeerName(c.self) {
		return c.s.Name()
	}
	if v := c.meta.View(); v != nil {
		for _, id := range v.voters {
			if raftPeerName(id) == peer {
				return c.peerName(id)
			}
		}
	}
	return peer
}
