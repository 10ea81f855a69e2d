package server

import (
	"encoding/json"
)

// Interest across gateways. Sender side (an outbound connection): each
// account starts optimistic, every message is sent unless the remote said
// it has no interest in the subject (RS-) or the account (A-); once the
// remote switches the account (gateway_cmd 2, its RS+ list, gateway_cmd 3)
// only subjects it listed are sent. Queue groups are always told (RS+ with
// the queue) and a message names the groups it is to serve there.
//
// Receiver side (inbound connections): like the reference v2.15 (gateway_iom
// in its INFO), this server puts every account in interest-only mode as soon
// as an inbound connection registers, and any account it meets later when
// the first message of it arrives, so it never sends per-subject RS- and
// the optimistic phase lasts only until the list arrives. An RMSG for an
// account this server does not have is answered with A-.

// Modes of an account on an outbound connection.
const (
	gwOptimistic = iota
	gwTransitioning
	gwInterestOnly
)

// gwAccInterest is a remote cluster's interest in one account.
type gwAccInterest struct {
	mode  int
	noAcc bool                     // A-: nothing of the account is wanted
	ni    map[string]struct{}      // optimistic: subjects without interest
	sl    *Sublist                 // RS+ subjects (interest-only) and queue groups
	subs  map[string]*subscription // by "subject[ queue]"
}

func (g *gwConn) accLocked(acc string) *gwAccInterest {
	if g.accs == nil {
		g.accs = make(map[string]*gwAccInterest)
	}
	ai := g.accs[acc]
	if ai == nil {
		ai = &gwAccInterest{sl: NewSublist(), subs: make(map[string]*subscription)}
		g.accs[acc] = ai
	}
	return ai
}

// remoteInterest applies RS+ / RS-.
func (g *gwConn) remoteInterest(acc string, subject, queue []byte, plus bool) {
	key := string(subject)
	if len(queue) > 0 {
		key += " " + string(queue)
	}
	g.imu.Lock()
	defer g.imu.Unlock()
	ai := g.accLocked(acc)
	if len(queue) == 0 && ai.mode == gwOptimistic {
		if plus {
			delete(ai.ni, key)
		} else {
			if ai.ni == nil {
				ai.ni = make(map[string]struct{})
			}
			ai.ni[key] = struct{}{}
		}
		return
	}
	sub, ok := ai.subs[key]
	switch {
	case plus && !ok:
		sub = &subscription{subject: string(subject), queue: string(queue), sid: key}
		if ai.sl.Insert(sub) == nil {
			ai.subs[key] = sub
		}
	case !plus && ok:
		delete(ai.subs, key)
		ai.sl.Remove(sub)
	}
}

// accountInterest applies A+ / A-.
func (g *gwConn) accountInterest(acc string, plus bool) {
	g.imu.Lock()
	g.accLocked(acc).noAcc = !plus
	g.imu.Unlock()
}

// switchMode applies gateway_cmd 2 (start) and 3 (complete) for acc.
func (g *gwConn) switchMode(acc string, start bool) {
	g.imu.Lock()
	ai := g.accLocked(acc)
	if start {
		ai.mode, ai.ni, ai.noAcc = gwTransitioning, nil, false
	} else {
		ai.mode = gwInterestOnly
	}
	g.imu.Unlock()
}

// wants reports whether the remote is to get a message on subject in acc:
// for its plain interest, and which of its queue groups (not in served,
// the groups this cluster serves itself or another gateway got) it should
// serve, appended to qs.
func (g *gwConn) wants(acc, subject string, served, qs []string) (bool, []string) {
	g.imu.RLock()
	defer g.imu.RUnlock()
	ai := g.accs[acc]
	if ai == nil {
		return true, qs
	}
	plain := false
	switch ai.mode {
	case gwOptimistic:
		_, no := ai.ni[subject]
		plain = !ai.noAcc && !no
	case gwTransitioning:
		plain = !ai.noAcc
	}
	if len(ai.subs) == 0 {
		return plain, qs
	}
	r := ai.sl.Match(subject)
	if len(r.psubs) > 0 {
		plain = true
	}
	for _, q := range r.qsubs {
		if len(q) == 0 {
			continue
		}
		name := q[0].queue
		if !containsStr(served, name) && !containsStr(qs, name) {
			qs = append(qs, name)
		}
	}
	return plain, qs
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// accRefs is what inbound connections were told of acc's interest.
func (gs *gatewayState) accRefs(acc string) *routedInterest {
	if v, ok := gs.refs.Load(acc); ok {
		return v.(*routedInterest)
	}
	v, _ := gs.refs.LoadOrStore(acc, &routedInterest{refs: make(map[string]int32)})
	return v.(*routedInterest)
}

// gwInterestChanged counts an interest change of this cluster (local
// connections and routes: a remote cluster sends to one server of ours,
// which must know the whole cluster's interest) and tells the inbound
// connections when a subject's count crosses zero, or on every change of
// a queue group (RS+ with its weight). Interest learnt from gateways never
// enters an account's index. Imports are left out as for routes.
func (gs *gatewayState) interestChanged(acc *Account, sub *subscription, delta int32) {
	if sub.imp != nil && !sub.imp.response {
		return
	}
	if sub.client != nil && sub.client.kind == GATEWAY {
		return
	}
	ri := gs.accRefs(acc.Name)
	ri.mu.Lock()
	defer ri.mu.Unlock()
	key := sub.subject
	if sub.queue != "" {
		key = sub.subject + " " + sub.queue
	}
	before := ri.refs[key]
	after := before + delta
	if after <= 0 {
		delete(ri.refs, key)
		after = 0
	} else {
		ri.refs[key] = after
	}
	plus := after > 0 && (before == 0 || sub.queue != "")
	minus := after == 0 && before > 0
	if !plus && !minus {
		return
	}
	gs.mu.Lock()
	if len(gs.inbound) == 0 {
		gs.mu.Unlock()
		return
	}
	conns := make([]*client, 0, len(gs.inbound))
	for _, c := range gs.inbound {
		conns = append(conns, c)
	}
	gs.mu.Unlock()
	var lb [256]byte
	line := appendInterestLine(lb[:0], plus, true, acc.Name, sub.subject, sub.queue, after)
	for _, c := range conns {
		c.mu.Lock()
		c.queueOutbound(line)
		c.mu.Unlock()
		c.signalFlush()
	}
}

// sendAllInterest sends a newly registered inbound connection every
// account's interest in interest-only mode. It runs after the connection
// is visible to interestChanged and holds each account's count lock while
// it reads and queues, so no change is lost or reordered.
func (gs *gatewayState) sendAllInterest(c *client) {
	gs.s.accounts.Range(func(_, v any) bool {
		gs.sendAccountInterest(c, v.(*Account).Name)
		return true
	})
	c.signalFlush()
}

// sendAccountInterest switches acc to interest-only mode toward one inbound
// connection: gateway_cmd 2, an RS+ per subject and queue group, gateway_cmd 3.
func (gs *gatewayState) sendAccountInterest(c *client, acc string) {
	g := c.gw
	ri := gs.accRefs(acc)
	ri.mu.Lock()
	defer ri.mu.Unlock()
	g.imu.Lock()
	if g.told == nil {
		g.told = make(map[string]bool)
	}
	done := g.told[acc]
	g.told[acc] = true
	g.imu.Unlock()
	if done {
		return
	}
	gs.s.Debugf("%s - Gateway %q: switching account %q to Interest-Only mode", c.logPrefix(), g.remoteName, acc)
	var line []byte
	c.mu.Lock()
	c.queueOutbound(gs.cmdProto(gwCmdAllSubsStart, acc))
	for key, n := range ri.refs {
		subject, queue := splitInterestKey(key)
		line = appendInterestLine(line[:0], true, true, acc, subject, queue, n)
		c.queueOutbound(line)
	}
	c.queueOutbound(gs.cmdProto(gwCmdAllSubsComplete, acc))
	c.mu.Unlock()
	gs.s.Debugf("%s - Gateway %q: switching account %q to Interest-Only mode complete", c.logPrefix(), g.remoteName, acc)
}

// cmdProto is an INFO carrying only a gateway_cmd for an account.
func (gs *gatewayState) cmdProto(cmd int, acc string) []byte {
	info := gatewayInfo{Gateway: gs.name, Cmd: cmd, CmdPayload: []byte(acc)}
	b, _ := json.Marshal(&info)
	out := make([]byte, 0, len(b)+8)
	return append(append(append(out, "INFO "...), b...), "\r\n"...)
}

// noAccount answers an RMSG for an account this server does not have with
// A-, once per account and connection.
func (gs *gatewayState) noAccount(c *client, acc string) {
	g := c.gw
	g.imu.Lock()
	if g.told == nil {
		g.told = make(map[string]bool)
	}
	_, done := g.told[acc]
	if !done {
		g.told[acc] = false
	}
	g.imu.Unlock()
	if done {
		return
	}
	c.mu.Lock()
	c.queueOutbound([]byte("A- " + acc + "\r\n"))
	c.mu.Unlock()
	c.signalFlush()
}

// gossipRemotesTo tells a new route about every cluster we know the URLs
// of, so a server that joins after a gateway connected solicits it too.
func (gs *gatewayState) gossipRemotesTo(rc *client) {
	gs.mu.Lock()
	var protos [][]byte
	for name, r := range gs.remotes {
		if len(r.urls) == 0 {
			continue
		}
		urls := make([]string, 0, len(r.urls))
		for _, u := range r.urls {
			urls = append(urls, u.Host)
		}
		protos = append(protos, gs.gossipProto(name, urls))
	}
	gs.mu.Unlock()
	if len(protos) == 0 {
		return
	}
	rc.mu.Lock()
	rc.queueOutbound(protos...)
	rc.mu.Unlock()
	rc.signalFlush()
}

func (gs *gatewayState) gossipProto(name string, urls []string) []byte {
	info := gatewayInfo{ID: "GW" + gs.s.info.ID, Name: gs.s.info.Name, Gateway: name, GatewayURLs: urls, Cmd: gwCmdGossip}
	b, _ := json.Marshal(&info)
	return append(append([]byte("INFO "), b...), "\r\n"...)
}

// gossipToRoutes tells the other servers of our cluster about a cluster
// that connected to us (gateway_cmd 1 on a route, as the reference), so
// they solicit it too.
func (gs *gatewayState) gossipToRoutes(name string, urls []string) {
	cs := gs.s.cluster.Load()
	if cs == nil || len(urls) == 0 {
		return
	}
	proto := gs.gossipProto(name, urls)
	cs.mu.Lock()
	conns := make([]*client, 0, len(cs.remotes))
	for _, r := range cs.remotes {
		for _, rc := range r.pool {
			if rc != nil {
				conns = append(conns, rc)
				break
			}
		}
	}
	cs.mu.Unlock()
	for _, rc := range conns {
		rc.mu.Lock()
		rc.queueOutbound(proto)
		rc.mu.Unlock()
		rc.signalFlush()
	}
}

// gossipFromRoute takes a gateway_cmd 1 INFO received on a route: a
// cluster to solicit.
func (gs *gatewayState) gossipFromRoute(name string, urls []string) {
	if name == "" || name == gs.name || len(urls) == 0 {
		return
	}
	gs.mu.Lock()
	r := gs.remotes[name]
	if r == nil {
		r = &gwRemote{name: name, implicit: true}
		gs.remotes[name] = r
	}
	gs.learnURLsLocked(r, urls)
	gs.mu.Unlock()
	gs.solicit(r, 0)
}

// peerGatewayURL records the gateway URL a route's INFO advertises, for the
// gateway_urls of our INFO.
func (gs *gatewayState) peerGatewayURL(id, u string) {
	if u == "" {
		return
	}
	gs.mu.Lock()
	gs.peerURLs[id] = u
	gs.mu.Unlock()
}
