package server

import (
	"cmp"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// jsCluster is clustered JetStream on this server: its member of the
// cluster's meta group (a raftNode whose state machine is jsMeta), which
// orders every stream assignment, and the raft transport over the routes.
//
// Membership: a server with an empty meta log does not start a group by
// itself. It waits jsMetaSettle for the meta leader to add it; if no leader
// appears, the JetStream servers its routes know have not changed for half
// that time, and it has the smallest peer id among them, it bootstraps a
// one-member group. The meta leader adds every
// JetStream server its routes connect to (one membership change at a time).
// A server with a meta log resumes its membership.
//
// Known limit: two groups of servers that start apart (no route between
// them during the settle time) bootstrap two meta groups that never merge;
// the meta leader does not add a server of another group, and warns
// (mayAdd, jetstream_cluster_peers.go).
type jsCluster struct {
	js   *jetStream
	s    *Server
	name string // the cluster's name
	self uint64 // our raft peer id
	tr   *raftRouteTransport
	meta *raftNode
	fsm  *jsMeta
	// rejoined: the meta log was corrupt and started empty
	// (jetstream_cluster_rejoin.go); set before watch starts.
	rejoined bool
	// groups are the Raft groups this server is a member of (/raftz).
	groups raftGroups

	unsub func()
	// replMu guards repls, this server's members of stream groups by
	// group name; leaf.
	replMu sync.Mutex
	repls  map[string]*streamRepl
	// replChanged is signalled by the stream groups' nodes when their
	// leadership changes (watchStreams).
	replChanged chan struct{}
	// createMu serialises the meta leader's stream creates, so that two
	// creates of one name or of overlapping subjects are checked in turn,
	// and its assignment changes (jetstream_cluster_scale.go).
	createMu sync.Mutex
	// removeMu: one SERVER.REMOVE at a time.
	removeMu sync.Mutex
	// asked and warned: when each server was last asked for its group id,
	// and those of another group warned about; owned by watch.
	asked  map[uint64]time.Time
	warned map[uint64]bool
	quit   chan struct{}
	wg     sync.WaitGroup
	// ready is closed once JetStream has enabled its accounts and
	// recovered their streams: the meta log replayed at start-up must not
	// create or delete a stream before (nil: ready).
	ready chan struct{}
	// changes are the membership changes the stream groups led here
	// proposed last (jetstream_cluster_scale.go); owned by watch.
	changes map[string]*jsMemberChange
	// announced are the stream groups whose leadership this server
	// announced (jetstream_cluster_advisory.go).
	announced sync.Map // *streamRepl -> bool
	// mixed remembers the servers of another implementation warned about
	// (jetstream_cluster_mixed.go).
	mixed jsMixedWarned
}

const (
	jsMetaGroup  = "_meta_"
	jsMetaSettle = 2 * time.Second
)

// startJetStreamCluster joins the meta group; called by startJetStream when
// a cluster is configured.
func (js *jetStream) startCluster() error {
	s := js.srv
	o := s.getOpts()
	sys := s.SystemAccount()
	if sys == nil {
		return fmtErr("jetstream cluster requires the system account")
	}
	c := &jsCluster{js: js, s: s, name: o.Cluster.Name, self: raftPeerID(s.Name()),
		tr: &raftRouteTransport{s: s, sys: sys}, quit: make(chan struct{}), ready: make(chan struct{}),
		asked: make(map[uint64]time.Time), warned: make(map[uint64]bool),
		repls: make(map[string]*streamRepl), replChanged: make(chan struct{}, 1),
		changes: make(map[string]*jsMemberChange)}
	c.fsm = newJSMeta(c)
	s.Noticef("Starting JetStream cluster")
	crypt, err := raftCryptFromOptions(o)
	if err != nil {
		return err
	}
	n, rejoined, err := c.startGroupNode(raftNodeConfig{id: c.self, group: jsMetaGroup,
		dir: filepath.Join(filepath.Dir(js.storeDir), "jetstream_cluster", jsMetaGroup),
		fsm: c.fsm, transport: c.tr, tick: 50 * time.Millisecond, crypt: crypt,
		onLostLog: c.rejoinAsker(jsMetaGroup)}, "the meta group")
	if err != nil {
		return fmtErr("could not start the JetStream meta group: %v", err)
	}
	// A member whose meta log was lost to corruption belongs to a group:
	// it must never bootstrap one of its own.
	c.rejoined = rejoined
	n.SetPeerName(c.self, s.Name())
	c.meta = n
	c.groups.add(sys.Name, n)
	if c.unsub, err = c.tr.subscribe(jsMetaGroup, n); err != nil {
		n.Stop()
		return err
	}
	js.cluster = c
	unsubGID, err := c.subscribeClusterRequests(sys)
	if err == nil {
		err = c.subscribeSystemAPI(sys)
	}
	var unsubRJ func()
	if err == nil {
		unsubRJ, err = c.serveRejoin(jsMetaGroup, n)
	}
	if err != nil {
		c.unsub()
		n.Stop()
		return err
	}
	unsubRaft := c.unsub
	c.unsub = func() { unsubRaft(); unsubGID(); unsubRJ() }
	c.wg.Add(2)
	go c.watch()
	go c.watchStreams()
	return nil
}

// waitReady waits for start-up to finish; false if stopped before.
func (c *jsCluster) waitReady() bool {
	if c.ready == nil {
		return true
	}
	select {
	case <-c.ready:
		return true
	case <-c.quit:
		return false
	}
}

// stop leaves the meta group (its log stays).
func (c *jsCluster) stop() {
	close(c.quit)
	c.wg.Wait()
	c.stopStreamGroups()
	c.unsub()
	c.meta.Stop()
}

// watch bootstraps or joins the meta group, then, while leading, adds the
// JetStream servers the routes know; it logs leader changes.
func (c *jsCluster) watch() {
	defer c.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	var lastLeader uint64
	warned := false
	var seen []uint64 // the JetStream peers at the last tick, sorted
	stable := time.Now()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		peers := c.routePeers()
		c.mixed.warnNew(c.s)
		if ids := sortedPeerIDs(peers); !slices.Equal(ids, seen) {
			seen, stable = ids, time.Now() // the mesh is still forming
		}
		lead := c.meta.Leader()
		if lead != lastLeader {
			lastLeader = lead
			if lead != 0 {
				c.s.Noticef("JetStream cluster new metadata leader: %s/%s", c.peerName(lead), c.name)
			}
			if lead == c.self {
				c.adviseMetaLeader()
			}
		}
		switch {
		case lead == c.self:
			c.ensureGroupID()
			c.readmitReturned()
			c.addMissingPeers(peers)
		case lead == 0 && time.Since(start) > jsMetaSettle && time.Since(stable) > jsMetaSettle/2:
			if c.mayBootstrap(peers) {
				c.s.Noticef("JetStream cluster bootstrapping")
				if err := c.meta.BootstrapSelf(c.s.Name()); err != nil {
					c.s.Debugf("JetStream cluster bootstrap: %v", err)
				}
				start = time.Now().Add(time.Duration(rand.IntN(1000)) * time.Millisecond)
			} else if !warned {
				warned = true
				c.s.Warnf("JetStream has not established contact with a meta leader")
			}
		}
	}
}

func sortedPeerIDs(peers map[uint64]string) []uint64 {
	ids := make([]uint64, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// mayBootstrap: an empty log, and the smallest id of the JetStream servers
// connected.
func (c *jsCluster) mayBootstrap(peers map[uint64]string) bool {
	v := c.meta.View()
	if v == nil || len(v.voters) > 0 || v.term > 0 || c.rejoined {
		return false
	}
	for id := range peers {
		if id < c.self {
			return false
		}
	}
	return true
}

// addMissingPeers proposes the first connected JetStream server that is not
// a member yet.
func (c *jsCluster) addMissingPeers(peers map[uint64]string) {
	v := c.meta.View()
	if v == nil {
		return
	}
	ids := make([]uint64, 0, len(peers))
	for id := range peers {
		if !slices.Contains(v.voters, id) && !c.isRemoved(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	for _, id := range ids {
		if c.mayAdd(id, peers[id]) {
			c.meta.ProposeAddPeer(id, peers[id])
			return
		}
	}
}

// routePeers are the JetStream servers connected by routes, by peer id.
func (c *jsCluster) routePeers() map[uint64]string {
	out := make(map[uint64]string)
	c.eachRouteJS(func(name, _ string) { out[raftPeerID(name)] = name })
	for id, name := range out {
		c.meta.SetPeerName(id, name)
	}
	return out
}

// peerName is a member's server name, or its peer id if unknown.
func (c *jsCluster) peerName(id uint64) string {
	if name := c.meta.PeerName(id); name != "" {
		return name
	}
	return raftPeerName(id)
}

// isMember tells whether this server is a voter of the meta group.
func (c *jsCluster) isMember() bool {
	v := c.meta.View()
	return v != nil && slices.Contains(v.voters, c.self)
}

// isMetaLeader tells whether this server leads the meta group.
func (c *jsCluster) isMetaLeader() bool { return c.meta.IsLeader() }

// onlinePeers are the members of the meta group that we can reach now
// (ourselves included), sorted: the candidates for placing a stream.
func (c *jsCluster) onlinePeers() []uint64 {
	peers := c.routePeers()
	v := c.meta.View()
	out := []uint64{c.self}
	if v == nil {
		return out
	}
	for _, id := range v.voters {
		if _, ok := peers[id]; ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// JSMetaClusterInfo is the meta group in /jsz (`meta_cluster`) and /varz
// (`jetstream.meta`), as the reference shows it.
type JSMetaClusterInfo struct {
	Name       string      `json:"name,omitempty"`
	Leader     string      `json:"leader,omitempty"`
	Peer       string      `json:"peer,omitempty"`
	Replicas   []*PeerInfo `json:"replicas,omitempty"`
	Size       int         `json:"cluster_size"`
	QuorumNeed int         `json:"quorum_needed"`
	Pending    int         `json:"pending"`
}

// PeerInfo is one member of a group as its leader sees it.
type PeerInfo struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
	Peer    string        `json:"peer"`
}

// metaInfo describes the meta group for monitoring.
func (c *jsCluster) metaInfo() *JSMetaClusterInfo {
	v := c.meta.View()
	mi := &JSMetaClusterInfo{Name: c.name}
	if v == nil {
		return mi
	}
	mi.Size = len(v.voters)
	mi.QuorumNeed = mi.Size/2 + 1
	if v.leader != 0 {
		mi.Leader = c.peerName(v.leader)
		mi.Peer = raftPeerName(v.leader)
	}
	mi.Replicas = c.peerInfos(v, c.self)
	return mi
}

// peerInfos lists the members of a group but skip, with what the leader
// knows of each (followers know nothing and show only names).
func (c *jsCluster) peerInfos(v *raftView, skip uint64) []*PeerInfo {
	byID := make(map[uint64]raftPeerView, len(v.peers))
	for _, p := range v.peers {
		byID[p.id] = p
	}
	online := c.routePeers()
	var out []*PeerInfo
	for _, id := range v.voters {
		if id == skip {
			continue
		}
		pi := &PeerInfo{Name: c.peerName(id), Peer: raftPeerName(id)}
		if p, ok := byID[id]; ok {
			pi.Current = p.current
			if p.match < v.commit {
				pi.Lag = v.commit - p.match
			}
			if !p.active.IsZero() {
				pi.Active = time.Since(p.active)
			}
		}
		if _, ok := online[id]; !ok && id != c.self {
			pi.Offline = true
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b *PeerInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
