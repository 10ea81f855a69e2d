package server

import (
	"net/http"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
)

// RaftzPath is the Raft groups' monitoring endpoint.
const RaftzPath = "/raftz"

// RaftzStatus is the /raftz answer: the groups this server is a member of,
// by account, then group name, in the reference's JSON.
type RaftzStatus map[string]map[string]*RaftzGroup

// RaftzGroup is one group as this member sees it.
type RaftzGroup struct {
	ID            string                     `json:"id"`
	State         string                     `json:"state"`
	Size          int                        `json:"size"`
	QuorumNeeded  int                        `json:"quorum_needed"`
	Committed     uint64                     `json:"committed"`
	Applied       uint64                     `json:"applied"`
	Leader        string                     `json:"leader,omitempty"`
	LeaderSince   *time.Time                 `json:"leader_since,omitempty"`
	EverHadLeader bool                       `json:"ever_had_leader"`
	Term          uint64                     `json:"term"`
	Vote          string                     `json:"voted_for,omitempty"`
	PTerm         uint64                     `json:"pterm"`
	PIndex        uint64                     `json:"pindex"`
	SystemAcc     bool                       `json:"system_account"`
	TrafficAcc    string                     `json:"traffic_account"`
	IPQPropLen    int                        `json:"ipq_proposal_len"`
	IPQEntryLen   int                        `json:"ipq_entry_len"`
	IPQRespLen    int                        `json:"ipq_resp_len"`
	IPQApplyLen   int                        `json:"ipq_apply_len"`
	WAL           StreamState                `json:"wal"`
	Peers         map[string]*RaftzGroupPeer `json:"peers"`
}

// RaftzGroupPeer is another member of the group: the last index it is
// known to have (leader only) and when we last heard from it.
type RaftzGroupPeer struct {
	Name                string `json:"name"`
	Known               bool   `json:"known"`
	LastReplicatedIndex uint64 `json:"last_replicated_index,omitempty"`
	LastSeen            string `json:"last_seen,omitempty"`
}

// RaftzOptions filter /raftz (query `acc` and `group`; in the system
// request `account` and `group`). The account defaults to the system
// account, where the meta group lives.
type RaftzOptions struct {
	AccountFilter string `json:"account"`
	GroupFilter   string `json:"group"`
}

// raftGroups registers the Raft groups this server is a member of, by
// account and group name, for /raftz. A group's creator adds it when it
// starts and removes it when it stops. The zero value is ready; mu is a
// leaf.
type raftGroups struct {
	mu sync.Mutex
	m  map[string]map[string]*raftNode
}

func (g *raftGroups) add(account string, n *raftNode) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[string]map[string]*raftNode)
	}
	if g.m[account] == nil {
		g.m[account] = make(map[string]*raftNode)
	}
	g.m[account][n.group] = n
}

func (g *raftGroups) remove(account, group string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m[account], group)
	if len(g.m[account]) == 0 {
		delete(g.m, account)
	}
}

// find returns the nodes of account (all if group is ""), and whether any
// group is registered at all.
func (g *raftGroups) find(account, group string) ([]*raftNode, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*raftNode
	for name, n := range g.m[account] {
		if group == "" || name == group {
			out = append(out, n)
		}
	}
	return out, len(g.m) > 0
}

// Raftz describes the groups matching opts; nil when this server is a
// member of no group at all.
func (s *Server) Raftz(opts *RaftzOptions) *RaftzStatus {
	js := s.js.Load()
	if js == nil || js.cluster == nil {
		return nil
	}
	c := js.cluster
	var o RaftzOptions
	if opts != nil {
		o = *opts
	}
	sysName := ""
	if sys := s.SystemAccount(); sys != nil {
		sysName = sys.Name
	}
	if o.AccountFilter == "" {
		o.AccountFilter = sysName
	}
	nodes, any := c.groups.find(o.AccountFilter, o.GroupFilter)
	if !any {
		return nil
	}
	st := RaftzStatus{}
	for _, n := range nodes {
		if st[o.AccountFilter] == nil {
			st[o.AccountFilter] = map[string]*RaftzGroup{}
		}
		st[o.AccountFilter][n.group] = c.raftzGroup(n, sysName)
	}
	return &st
}

// raftzGroup describes one member's view of its group.
func (c *jsCluster) raftzGroup(n *raftNode, sysName string) *RaftzGroup {
	v := n.View()
	g := &RaftzGroup{ID: raftPeerName(n.id), State: "CLOSED", SystemAcc: true, TrafficAcc: sysName,
		Peers: map[string]*RaftzGroupPeer{}}
	if v == nil {
		return g
	}
	if !n.stopped() {
		g.State = raftzState(v.state)
	}
	g.Size, g.QuorumNeeded = len(v.voters), len(v.voters)/2+1
	g.Committed, g.Applied, g.Term = v.commit, v.applied, v.term
	g.EverHadLeader, g.PTerm, g.PIndex = v.everLeader, v.lastTerm, v.lastIndex
	g.IPQPropLen = v.queued
	if v.leader != 0 {
		g.Leader = raftPeerName(v.leader)
	}
	if !v.leaderSince.IsZero() {
		t := v.leaderSince.UTC()
		g.LeaderSince = &t
	}
	if v.vote != 0 {
		g.Vote = raftPeerName(v.vote)
	}
	g.WAL = StreamState{FirstSeq: v.firstIndex, LastSeq: v.lastIndex, Bytes: uint64(v.walBytes), LastTime: v.lastWrite.UTC()}
	if v.lastIndex >= v.firstIndex {
		g.WAL.Msgs = v.lastIndex - v.firstIndex + 1
	}
	c.raftzPeers(g, n, v)
	return g
}

// raftzPeers fills the members other than n: the leader knows how far each
// got and when it last answered; a follower only hears from its leader.
func (c *jsCluster) raftzPeers(g *RaftzGroup, n *raftNode, v *raftView) {
	byID := make(map[uint64]raftPeerView, len(v.peers))
	for _, p := range v.peers {
		byID[p.id] = p
	}
	for _, id := range v.voters {
		if id == n.id {
			continue
		}
		name := n.PeerName(id)
		if name == "" {
			name = c.peerName(id)
		}
		p := &RaftzGroupPeer{Name: name, Known: true}
		seen := time.Time{}
		if pv, ok := byID[id]; ok && v.state == raft.StateLeader {
			p.LastReplicatedIndex, seen = pv.match, pv.active
		} else if id == v.leader {
			seen = v.leaderSeen
		}
		if !seen.IsZero() {
			p.LastSeen = time.Since(seen).String()
		}
		g.Peers[raftPeerName(id)] = p
	}
}

// raftzState names a member's role as the reference does.
func raftzState(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "LEADER"
	case raft.StateCandidate, raft.StatePreCandidate:
		return "CANDIDATE"
	}
	return "FOLLOWER"
}

// handleRaftz serves /raftz?acc=&group=; a server in no group answers 404
// "No Raft nodes registered", as the reference.
func (s *Server) handleRaftz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st := s.Raftz(&RaftzOptions{AccountFilter: q.Get("acc"), GroupFilter: q.Get("group")})
	if st == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("No Raft nodes registered"))
		return
	}
	writeJSON(w, r, http.StatusOK, st)
}

// sysRaftz answers $SYS.REQ.SERVER.PING.RAFTZ and $SYS.REQ.SERVER.<id>.RAFTZ:
// the same view, `{}` from a server in no group.
func sysRaftz(s *Server, r *sysRequest) (any, error) {
	var opts RaftzOptions
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	if st := s.Raftz(&opts); st != nil {
		return st, nil
	}
	return map[string]any{}, nil
}
