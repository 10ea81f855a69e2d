package server

import (
	"strconv"
)

// routeInterestChanged counts a local interest change in acc and tells the
// routes that carry acc when the count crosses zero (plain subscriptions)
// or on every change (queue groups, whose weight is their member count).
// Remote interest (from routes) is never passed on: one hop. A stream
// import's subscription (in the exporter's account) is told like a
// client's: a publisher's server routes the message in the exporter's
// account to the importers' servers, whose import delivers it to their own
// subscribers only (publishLocal), so that the importer's server alone
// carries it across, as the reference does (with less precision: the
// reference tells its importers' subscriptions, mapped into the exporter's
// account). A service import's is not told: the request crosses the import
// on the requester's server and is routed in the exporter's account; the
// responses' subscription (a prefix of this server's own) is told.
func (cs *clusterState) routeInterestChanged(acc *Account, sub *subscription, delta int32) {
	if (sub.imp != nil && sub.imp.service) || (sub.client != nil && sub.client.kind == ROUTER) {
		return
	}
	ri := &acc.routed
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.refs == nil {
		ri.refs = make(map[string]int32)
	}
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
	if (!plus && !minus) || !cs.canImport(sub.subject) {
		// No change to tell, or interest in what the import permissions
		// would drop anyway.
		return
	}
	var buf [8]*client
	cs.mu.Lock()
	conns := cs.accountConns(acc.Name, buf[:0])
	cs.mu.Unlock()
	var lb [256]byte
	for _, rc := range conns {
		line := appendInterestLine(lb[:0], plus, rc.route.account == "", acc.Name, sub.subject, sub.queue, after)
		rc.mu.Lock()
		rc.queueOutbound(line)
		rc.mu.Unlock()
		rc.signalFlush()
	}
}

// appendInterestLine appends RS+ or RS- with the account on pooled routes
// and the queue group with its weight.
func appendInterestLine(b []byte, plus, withAcc bool, acc, subject, queue string, weight int32) []byte {
	if plus {
		b = append(b, "RS+ "...)
	} else {
		b = append(b, "RS- "...)
	}
	if withAcc {
		b = append(append(b, acc...), ' ')
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

// sendInterestSnapshot sends a newly registered route connection the
// interest of every account it carries. It runs after the connection is
// visible to routeInterestChanged and holds each account's routedInterest
// lock while it reads and queues, so a change is either in the snapshot,
// sent after it, or both (RS+ is idempotent): never lost or reordered.
func (cs *clusterState) sendInterestSnapshot(c *client) {
	rt := c.route
	withAcc := rt.account == ""
	var line []byte
	cs.s.accounts.Range(func(_, v any) bool {
		acc := v.(*Account)
		if !cs.carries(rt, acc.Name) {
			return true
		}
		ri := &acc.routed
		ri.mu.Lock()
		c.mu.Lock()
		for key, n := range ri.refs {
			subject, queue := splitInterestKey(key)
			if !cs.canImport(subject) {
				continue
			}
			line = appendInterestLine(line[:0], true, withAcc, acc.Name, subject, queue, n)
			c.queueOutbound(line)
		}
		c.mu.Unlock()
		ri.mu.Unlock()
		return true
	})
	c.signalFlush()
	cs.s.Debugf("%s - Sent local subscriptions to route", c.logPrefix())
}

func splitInterestKey(key string) (subject, queue string) {
	for i := 0; i < len(key); i++ {
		if key[i] == ' ' {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}
