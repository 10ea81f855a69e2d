package server

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Placement of a stream's replicas (create, scale up, peer removal): the
// online members of the meta group, in the stream's `placement.cluster`
// (ours: a cluster spans no gateways here), carrying every tag of
// `placement.tags`, and, with `unique_tag` in the jetstream block, on
// servers whose values of that tag differ (unless the placement's tags
// name that tag themselves, as the reference, observed on v2.15.2, then
// places on servers sharing it). Among those, the servers with the
// fewest streams first. Tags compare lower-cased, as the reference's.
//
// A server's tags are its own (server_tags); the meta leader asks the
// candidates when a placement needs them:
//
//	request  $JSC.F.TAGS.<peer name>   (system account, empty body)
//	answer   {"tags":["az:z0", ...]}   (lower-cased)
//
// A server that does not answer within jsTagsWait is not a candidate.
const (
	jsTagsSubject = "$JSC.F.TAGS."
	jsTagsWait    = 500 * time.Millisecond
)

type jsTagsAnswer struct {
	Tags []string `json:"tags"`
}

// subscribeClusterRequests answers the requests other servers of the
// meta group make of this one: its group id and its tags.
func (c *jsCluster) subscribeClusterRequests(sys *Account) (func(), error) {
	unsubGID, err := c.subscribeGroupID(sys)
	if err != nil {
		return nil, err
	}
	unsubTags, err := c.s.SubscribeInternal(sys, jsTagsSubject+raftPeerName(c.self), "", func(_, reply string, _, _ []byte) {
		if reply == "" {
			return
		}
		b, _ := json.Marshal(&jsTagsAnswer{Tags: c.ownTags()})
		c.s.PublishInternal(sys, reply, "", nil, b)
	})
	if err != nil {
		unsubGID()
		return nil, err
	}
	return func() { unsubGID(); unsubTags() }, nil
}

// ownTags are this server's tags, lower-cased.
func (c *jsCluster) ownTags() []string { return lowerTags(c.s.getOpts().ServerTags) }

// lowerTags is tags trimmed and lower-cased, as placement compares them
// and /varz shows them (nil for none).
func lowerTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = strings.ToLower(strings.TrimSpace(t))
	}
	return out
}

// serverTags asks the servers with ids for their tags, all at once.
func (c *jsCluster) serverTags(ids []uint64) map[uint64][]string {
	out := make(map[uint64][]string, len(ids))
	byName := make(map[string]uint64, len(ids))
	for _, id := range ids {
		if id == c.self {
			out[id] = c.ownTags()
		} else {
			byName[raftPeerName(id)] = id
		}
	}
	if len(byName) == 0 {
		return out
	}
	sys := c.s.SystemAccount()
	inbox := "$JSC.F.TAGSR." + randToken(8) + "."
	var mu sync.Mutex
	done := make(chan struct{})
	pending := len(byName)
	unsub, err := c.s.SubscribeInternal(sys, inbox+"*", "", func(subj, _ string, _, msg []byte) {
		var a jsTagsAnswer
		if json.Unmarshal(msg, &a) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		id, ok := byName[strings.TrimPrefix(subj, inbox)]
		if _, seen := out[id]; !ok || seen || pending == 0 {
			return
		}
		out[id] = a.Tags
		if pending--; pending == 0 {
			close(done)
		}
	})
	if err != nil {
		return out
	}
	defer unsub()
	for name := range byName {
		c.s.PublishInternal(sys, jsTagsSubject+name, inbox+name, nil, nil)
	}
	select {
	case <-done:
	case <-time.After(jsTagsWait):
	case <-c.quit:
	}
	mu.Lock()
	defer mu.Unlock()
	pending = 0 // late answers are dropped
	return out
}

// placeAmong picks n online members, none in exclude (peer names), that
// satisfy placement p; keep are the stream's members staying, whose
// unique_tag values are taken. The reference's errors: 10005 "no suitable
// peers for placement" with what failed.
func (c *jsCluster) placeAmong(n int, exclude, keep []string, p *Placement) ([]uint64, *ApiError) {
	noPeers := func(why string) *ApiError { return jsError(jsClusterNoPeers, "no suitable peers for placement"+why) }
	if p != nil && p.Cluster != "" && p.Cluster != c.name {
		return nil, noPeers("")
	}
	var cands []uint64
	for _, id := range c.onlinePeers() {
		if !slices.Contains(exclude, raftPeerName(id)) {
			cands = append(cands, id)
		}
	}
	var want []string
	if p != nil {
		want = lowerTags(p.Tags)
	}
	unique := c.js.uniqueTag
	if unique != "" && slices.ContainsFunc(want, func(t string) bool { return strings.HasPrefix(t, unique+":") }) {
		unique = ""
	}
	var tags map[uint64][]string
	var keepIDs []uint64
	if len(want) > 0 || unique != "" {
		for _, peer := range keep {
			keepIDs = append(keepIDs, c.peerIDByName(peer))
		}
		tags = c.serverTags(append(slices.Clone(cands), keepIDs...))
	}
	if len(want) > 0 {
		var e *ApiError
		if cands, e = c.withTags(cands, tags, want, n); e != nil {
			return nil, e
		}
	}
	if len(cands) < n {
		return nil, noPeers("")
	}
	c.leastLoadedFirst(cands)
	if unique == "" {
		return cands[:n], nil
	}
	used := make(map[string]bool)
	for _, id := range keepIDs {
		used[tagValue(tags[id], unique)] = true
	}
	var pick []uint64
	for _, id := range cands {
		if v := tagValue(tags[id], unique); v != "" && !used[v] && len(pick) < n {
			used[v] = true
			pick = append(pick, id)
		}
	}
	if len(pick) < n {
		return nil, noPeers(", server tag not unique")
	}
	return pick, nil
}

// withTags keeps the candidates carrying every wanted tag; fewer than n
// is the reference's error naming, for each server in name order, the
// first wanted tag it lacks.
func (c *jsCluster) withTags(cands []uint64, tags map[uint64][]string, want []string, n int) ([]uint64, *ApiError) {
	slices.SortFunc(cands, func(a, b uint64) int { return cmp.Compare(c.peerName(a), c.peerName(b)) })
	var keep []uint64
	var missing []string
	for _, id := range cands {
		i := slices.IndexFunc(want, func(t string) bool { return !slices.Contains(tags[id], t) })
		if _, answered := tags[id]; !answered {
			continue
		}
		if i < 0 {
			keep = append(keep, id)
		} else if !slices.Contains(missing, want[i]) {
			missing = append(missing, want[i])
		}
	}
	if len(keep) >= n {
		return keep, nil
	}
	if len(missing) == 0 {
		missing = want
	}
	return nil, jsError(jsClusterNoPeers, "no suitable peers for placement, tags not matched ['"+strings.Join(missing, "', '")+"']")
}

// leastLoadedFirst orders servers by the streams placed on them, ties at
// random.
func (c *jsCluster) leastLoadedFirst(ids []uint64) {
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	counts := make(map[uint64]int, len(ids))
	for _, id := range ids {
		counts[id] = c.fsm.countOn(raftPeerName(id))
	}
	slices.SortStableFunc(ids, func(a, b uint64) int { return counts[a] - counts[b] })
}

// tagValue is the value of the tag named key ("key:value") in tags.
func tagValue(tags []string, key string) string {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, key+":"); ok {
			return v
		}
	}
	return ""
}

// placementKeeps returns the servers of ids (in order) that placement p
// allows to keep a replica: in its cluster, with every tag it names.
func (c *jsCluster) placementKeeps(ids []uint64, p *Placement) []uint64 {
	if p == nil {
		return ids
	}
	if p.Cluster != "" && p.Cluster != c.name {
		return nil
	}
	if len(p.Tags) == 0 {
		return ids
	}
	tags := c.serverTags(ids)
	var out []uint64
	for _, id := range ids {
		if !slices.ContainsFunc(p.Tags, func(t string) bool {
			return !slices.Contains(tags[id], strings.ToLower(strings.TrimSpace(t)))
		}) {
			out = append(out, id)
		}
	}
	return out
}
