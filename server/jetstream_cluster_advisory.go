package server

import "encoding/json"

// Cluster advisories, as the reference publishes them (observed on
// v2.15.2): in the asset's account, and again in the system account with
// `account` set and the same id (not twice when the account is the system
// account's). A replicated stream's leader publishes them, so each goes
// out once per cluster; the stream and consumer action advisories of a
// replicated stream are likewise its leader's (advisesHere).
const (
	jsStreamLeaderElectedPrefix   = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."
	jsStreamQuorumLostPrefix      = "$JS.EVENT.ADVISORY.STREAM.QUORUM_LOST."
	jsConsumerLeaderElectedPrefix = "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED."
	jsConsumerQuorumLostPrefix    = "$JS.EVENT.ADVISORY.CONSUMER.QUORUM_LOST."
	jsDomainLeaderElected         = "$JS.EVENT.ADVISORY.DOMAIN.LEADER_ELECTED"
)

// JSDomainLeaderElectedAdvisory is domain_leader_elected, published in the
// system account by a new meta leader; leader is its peer name.
type JSDomainLeaderElectedAdvisory struct {
	TypedEvent
	Leader   string      `json:"leader"`
	Replicas []*PeerInfo `json:"replicas"`
	Cluster  string      `json:"cluster"`
	Domain   string      `json:"domain,omitempty"`
}

// JSConsumerQuorumLostAdvisory is consumer_quorum_lost.
type JSConsumerQuorumLostAdvisory struct {
	TypedEvent
	Account  string      `json:"account,omitempty"`
	Stream   string      `json:"stream"`
	Consumer string      `json:"consumer"`
	Replicas []*PeerInfo `json:"replicas"`
	Domain   string      `json:"domain,omitempty"`
}

// adviseMetaLeader announces that this server leads the meta group.
func (c *jsCluster) adviseMetaLeader() {
	v := c.meta.View()
	if v == nil || !c.s.hasInterest(jsDomainLeaderElected) {
		return
	}
	c.s.publishAdvisory(c.s.SystemAccount(), jsDomainLeaderElected, &JSDomainLeaderElectedAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "domain_leader_elected"),
		Leader:     raftPeerName(c.self), Replicas: c.peerInfos(v, 0), Cluster: c.name, Domain: c.js.domain()})
}

// JSStreamLeaderElectedAdvisory is stream_leader_elected.
type JSStreamLeaderElectedAdvisory struct {
	TypedEvent
	Account  string      `json:"account,omitempty"`
	Stream   string      `json:"stream"`
	Leader   string      `json:"leader"`
	Replicas []*PeerInfo `json:"replicas"`
	Domain   string      `json:"domain,omitempty"`
}

// JSStreamQuorumLostAdvisory is stream_quorum_lost.
type JSStreamQuorumLostAdvisory struct {
	TypedEvent
	Account  string      `json:"account,omitempty"`
	Stream   string      `json:"stream"`
	Replicas []*PeerInfo `json:"replicas"`
	Domain   string      `json:"domain,omitempty"`
}

// JSConsumerLeaderElectedAdvisory is consumer_leader_elected.
type JSConsumerLeaderElectedAdvisory struct {
	TypedEvent
	Account  string      `json:"account,omitempty"`
	Stream   string      `json:"stream"`
	Consumer string      `json:"consumer"`
	Leader   string      `json:"leader"`
	Replicas []*PeerInfo `json:"replicas"`
	Domain   string      `json:"domain,omitempty"`
}

// advisesHere tells whether this server publishes the stream's
// advisories: a replicated stream's leader only.
func (st *stream) advisesHere() bool {
	return !st.replicated || st.answersHere()
}

// publishBoth publishes an advisory in ja's account, then in the system
// account with setAccount applied.
func (c *jsCluster) publishBoth(ja *jsAccount, subject string, ev any, setAccount func()) {
	c.s.publishAdvisory(ja.acc, subject, ev)
	sys := c.s.SystemAccount()
	if sys == nil || sys == ja.acc || !accountHasInterest(sys, subject) {
		return
	}
	setAccount()
	if b, err := json.Marshal(ev); err == nil {
		c.s.PublishInternal(sys, subject, "", nil, b)
	}
}

// groupReplicas lists every member of a group (its leader included), as
// the reference's leader advisories do.
func (c *jsCluster) groupReplicas(r *streamRepl) []*PeerInfo {
	v := r.node.View()
	if v == nil {
		return []*PeerInfo{}
	}
	return c.peerInfos(v, 0)
}

// adviseStreamLeader announces that this server leads the stream now, and
// leads its consumers with it. A consumer created from now on is
// announced on its creation (announceCreated).
func (c *jsCluster) adviseStreamLeader(r *streamRepl) {
	c.announced.Store(r, true)
	st, ja := r.st, r.st.ja
	subj := jsStreamLeaderElectedPrefix + st.name
	if accountHasInterest(ja.acc, subj) || c.s.hasInterest(subj) {
		ev := &JSStreamLeaderElectedAdvisory{TypedEvent: newEvent(jsAdvisoryPrefix + "stream_leader_elected"),
			Stream: st.name, Leader: c.s.Name(), Replicas: c.groupReplicas(r), Domain: ja.js.domain()}
		c.publishBoth(ja, subj, ev, func() { ev.Account = ja.acc.Name })
	}
	for _, cons := range st.consumerList() {
		c.adviseConsumerLeader(st, cons.name)
	}
}

// announceCreated announces the leader of a consumer just created on a
// replicated stream, unless the stream's leadership is not announced yet
// (its announcement will name the consumer).
func (c *jsCluster) announceCreated(st *stream, name string) {
	if r := st.repl.Load(); r != nil {
		if _, ok := c.announced.Load(r); ok {
			c.adviseConsumerLeader(st, name)
		}
	}
}

// adviseConsumerLeader announces the leader of a replicated stream's
// consumer (the stream's leader).
func (c *jsCluster) adviseConsumerLeader(st *stream, name string) {
	r := st.repl.Load()
	ja := st.ja
	subj := jsConsumerLeaderElectedPrefix + st.name + "." + name
	if r == nil || !(accountHasInterest(ja.acc, subj) || c.s.hasInterest(subj)) {
		return
	}
	ev := &JSConsumerLeaderElectedAdvisory{TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_leader_elected"),
		Stream: st.name, Consumer: name, Leader: c.s.Name(), Replicas: c.groupReplicas(r), Domain: ja.js.domain()}
	c.publishBoth(ja, subj, ev, func() { ev.Account = ja.acc.Name })
}

// adviseQuorumLost announces that a stream's leader stepped down without
// a majority of its group reachable.
func (c *jsCluster) adviseQuorumLost(r *streamRepl) {
	c.announced.Delete(r)
	v := r.node.View()
	if v == nil {
		return
	}
	online := c.routePeers()
	reachable := 0
	for _, id := range v.voters {
		if _, ok := online[id]; ok || id == c.self {
			reachable++
		}
	}
	if reachable > len(v.voters)/2 {
		return // a handover, not a loss
	}
	st, ja := r.st, r.st.ja
	reps := c.groupReplicas(r)
	ev := &JSStreamQuorumLostAdvisory{TypedEvent: newEvent(jsAdvisoryPrefix + "stream_quorum_lost"),
		Stream: st.name, Replicas: reps, Domain: ja.js.domain()}
	c.publishBoth(ja, jsStreamQuorumLostPrefix+st.name, ev, func() { ev.Account = ja.acc.Name })
	for _, cons := range st.consumerList() {
		cev := &JSConsumerQuorumLostAdvisory{TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_quorum_lost"),
			Stream: st.name, Consumer: cons.name, Replicas: reps, Domain: ja.js.domain()}
		c.publishBoth(ja, jsConsumerQuorumLostPrefix+st.name+"."+cons.name, cev, func() { cev.Account = ja.acc.Name })
	}
}
