package server

import "strconv"

// leafInterestChanged counts an interest change in acc and tells each leaf
// connection bound to acc when the count of the interest it did not bring
// itself crosses zero (plain subscriptions) or changes (queue groups, whose
// weight is their member count). Unlike routes, every subscription counts
// (clients, imports, routes, other leaf connections): a leaf node is the
// whole account to the other side.
func (li *leafInterest) changed(s *Server, sub *subscription, delta int32) {
	if !s.leafShares(sub.subject) {
		return
	}
	key := sub.subject
	if sub.queue != "" {
		key = sub.subject + " " + sub.queue
	}
	var from *client
	if sub.client != nil && sub.client.kind == LEAF {
		from = sub.client
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	if li.refs == nil {
		li.refs, li.hubRefs = make(map[string]int32), make(map[string]int32)
	}
	before, after := addRef(li.refs, key, delta)
	hubBefore, hubAfter := li.hubRefs[key], li.hubRefs[key]
	if from != nil {
		addRef(from.leaf.own, key, delta)
		if from.leaf.toHub {
			hubBefore, hubAfter = addRef(li.hubRefs, key, delta)
		}
	}
	var lb [256]byte
	for _, lc := range li.conns {
		if lc == from {
			continue
		}
		// What a connection is told leaves out its own interest, and for a
		// hub that of every hub.
		eb, ea := lc.leaf.own[key], lc.leaf.own[key]
		if lc.leaf.toHub {
			eb, ea = hubBefore, hubAfter
		}
		ob, oa := before-eb, after-ea
		plus := oa > 0 && (ob <= 0 || sub.queue != "")
		minus := oa <= 0 && ob > 0
		if !plus && !minus {
			continue
		}
		line := appendLeafInterestLine(lb[:0], plus, sub.subject, sub.queue, oa)
		lc.mu.Lock()
		if lc.leafMayPublish(sub.subject) {
			lc.queueOutbound(line)
		}
		lc.mu.Unlock()
		lc.signalFlush()
	}
}

// addRef adds delta to m[key] (never below zero, deleted at zero) and
// returns the count before and after.
func addRef(m map[string]int32, key string, delta int32) (before, after int32) {
	before = m[key]
	after = max(before+delta, 0)
	if after == 0 {
		delete(m, key)
	} else {
		m[key] = after
	}
	return before, after
}

// register makes c a leaf connection of the account and sends it the
// account's interest, under the same lock as changes, so that none is
// lost, doubled or reordered.
func (li *leafInterest) register(c *client) {
	li.mu.Lock()
	li.conns = append(li.conns, c)
	var line []byte
	c.mu.Lock()
	if ls := c.srv.leafs.Load(); ls != nil {
		line = appendLeafInterestLine(line, true, ls.lds, "", 0)
		c.queueOutbound(line)
	}
	for key, n := range li.refs {
		if c.leaf.toHub {
			n -= li.hubRefs[key]
		} else {
			n -= c.leaf.own[key]
		}
		if n <= 0 {
			continue
		}
		subject, queue := splitInterestKey(key)
		if !c.leafMayPublish(subject) {
			continue
		}
		line = appendLeafInterestLine(line[:0], true, subject, queue, n)
		c.queueOutbound(line)
	}
	c.mu.Unlock()
	li.mu.Unlock()
	c.signalFlush()
}

// leafMayPublish reports whether the peer of leaf connection c may send
// messages on subject, so whether it is told our interest in it. Called
// under c.mu.
func (c *client) leafMayPublish(subject string) bool {
	return c.perms == nil || c.perms.pub == nil || c.perms.pub.allows(subject)
}

// leafMaySubscribe reports whether the peer of leaf connection c may
// receive messages on subject. Called under c.mu.
func (c *client) leafMaySubscribe(subject string) bool {
	return c.perms.sub == nil || c.perms.sub.allows(subject)
}

// count is the number of leaf connections bound to the account.
func (li *leafInterest) count() int {
	li.mu.Lock()
	defer li.mu.Unlock()
	return len(li.conns)
}

// list copies the account's leaf connections.
func (li *leafInterest) list() []*client {
	li.mu.Lock()
	defer li.mu.Unlock()
	return append([]*client(nil), li.conns...)
}

// unregister takes c out of the account's leaf connections.
func (li *leafInterest) unregister(c *client) {
	li.mu.Lock()
	for i, lc := range li.conns {
		if lc == c {
			li.conns = append(li.conns[:i], li.conns[i+1:]...)
			break
		}
	}
	li.mu.Unlock()
}

// registerLeaf makes a leaf connection visible: to the account's interest
// (with a snapshot of it) and to monitoring.
func (s *Server) registerLeaf(c *client) {
	c.leaf.registered.Store(true)
	c.acc.leafed.register(c)
	s.Debugf("%s - Sent local subscriptions to leafnode", c.logPrefix())
	s.leafCounted(c) // events.go
}

// appendLeafInterestLine appends LS+ or LS- with the queue group and, for
// LS+, its weight.
func appendLeafInterestLine(b []byte, plus bool, subject, queue string, weight int32) []byte {
	if plus {
		b = append(b, "LS+ "...)
	} else {
		b = append(b, "LS- "...)
	}
	b = append(b, subject...)
	if queue != "" {
		b = append(append(b, ' '), queue...)
		if plus {
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(weight), 10)
		}
	}
	return append(b, '\r', '\n')
}
