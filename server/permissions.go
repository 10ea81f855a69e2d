package server

import (
	"strings"
	"time"
)

// permSet is one direction of a user's permissions, compiled into subject
// indexes so that wildcards in both the rule and the subject are handled by
// the same matching code as delivery.
type permSet struct {
	allow *Sublist // nil: everything allowed unless denied
	deny  *Sublist
}

// clientPerms are a connection's compiled permissions.
type clientPerms struct {
	pub  *permSet
	sub  *permSet
	resp *ResponsePermission
	conf *Permissions // as configured, for $SYS.REQ.USER.INFO
}

// maxPermCache bounds the per-connection cache of publish decisions.
const maxPermCache = 128

func compileSubjectPermission(sp *SubjectPermission) *permSet {
	if sp == nil || (len(sp.Allow) == 0 && len(sp.Deny) == 0) {
		return nil
	}
	ps := &permSet{}
	add := func(list []string) *Sublist {
		if len(list) == 0 {
			return nil
		}
		sl := NewSublist()
		for _, entry := range list {
			subj, queue, _ := strings.Cut(strings.TrimSpace(entry), " ")
			_ = sl.Insert(&subscription{subject: subj, queue: strings.TrimSpace(queue)})
		}
		return sl
	}
	ps.allow = add(sp.Allow)
	ps.deny = add(sp.Deny)
	return ps
}

func compilePermissions(p *Permissions) *clientPerms {
	if p == nil {
		return nil
	}
	cp := &clientPerms{pub: compileSubjectPermission(p.Publish), sub: compileSubjectPermission(p.Subscribe), resp: p.Response, conf: p}
	if cp.pub == nil && cp.sub == nil && cp.resp == nil {
		return nil
	}
	if cp.resp != nil && cp.pub == nil {
		// allow_responses alone means: publish only responses.
		cp.pub = &permSet{allow: NewSublist()}
	}
	return cp
}

// setPermissions installs permissions; safe from any goroutine. The reader
// notices the new generation and drops its decision cache.
func (c *client) setPermissions(p *Permissions) {
	cp := compilePermissions(p)
	c.mu.Lock()
	c.perms = cp
	c.mu.Unlock()
	c.permGen.Add(1)
}

// canPublish reports whether this connection may publish to subject. Called
// by the reader only; decisions are cached per subject.
func (c *client) canPublish(subject string) bool {
	if gen := c.permGen.Load(); gen != c.pcacheGen {
		c.mu.Lock()
		c.rperms = c.perms
		c.mu.Unlock()
		c.pcache = nil
		c.pcacheGen = gen
	}
	p := c.rperms
	if p == nil || p.pub == nil {
		return true
	}
	if ok, found := c.pcache[subject]; found {
		if ok {
			return true
		}
		return c.isAllowedResponse(subject)
	}
	ok := p.pub.allows(subject)
	if c.pcache == nil || len(c.pcache) >= maxPermCache {
		c.pcache = make(map[string]bool)
	}
	c.pcache[strings.Clone(subject)] = ok
	if ok {
		return true
	}
	return c.isAllowedResponse(subject)
}

// allows checks a literal subject against allow and deny rules.
func (ps *permSet) allows(subject string) bool {
	if ps.allow != nil {
		r := ps.allow.Match(subject)
		if len(r.psubs) == 0 && len(r.qsubs) == 0 {
			return false
		}
	}
	if ps.deny != nil {
		r := ps.deny.Match(subject)
		if len(r.psubs) > 0 {
			return false
		}
	}
	return true
}

// canSubscribe checks a subscription subject (which may hold wildcards) and
// optional queue group.
func (c *client) canSubscribe(subject, queue string) bool {
	c.mu.Lock()
	p := c.perms
	c.mu.Unlock()
	if p == nil || p.sub == nil {
		return true
	}
	ps := p.sub
	if ps.allow != nil && !queueAllowed(ps.allow.Match(subject), queue, true) {
		return false
	}
	if ps.deny != nil && queueAllowed(ps.deny.Match(subject), queue, false) {
		return false
	}
	return true
}

// queueAllowed reports whether a match result has a rule for this queue:
// a plain rule covers every queue group; a "subject queue" rule only that
// group (the rule's queue may be a wildcard pattern). For allow rules a plain
// subscription needs a plain rule.
func queueAllowed(r *SublistResult, queue string, allowList bool) bool {
	if len(r.psubs) > 0 {
		return true
	}
	if queue == "" {
		return false
	}
	for _, group := range r.qsubs {
		if len(group) > 0 && SubjectMatchesFilter(queue, group[0].queue) {
			return true
		}
	}
	return false
}

// deliveryDenied reports whether a wildcard subscription must not receive a
// message on subject because the subscriber's deny rules cover it.
func (c *client) deliveryDenied(subject string) bool {
	p := c.perms // receiver's lock held
	if p == nil || p.sub == nil || p.sub.deny == nil {
		return false
	}
	r := p.sub.deny.Match(subject)
	return len(r.psubs) > 0
}

// Response permissions: a responder may publish to the reply subject of a
// request it received, a limited number of times within a time window.

type respEntry struct {
	n       int
	expires time.Time
}

// trackReply remembers a reply subject delivered to this connection. Lock held.
func (c *client) trackReply(reply []byte) {
	if c.replies == nil {
		c.replies = make(map[string]*respEntry)
	}
	if len(c.replies) > 10000 {
		now := time.Now()
		for k, e := range c.replies {
			if now.After(e.expires) {
				delete(c.replies, k)
			}
		}
	}
	c.replies[string(reply)] = &respEntry{expires: time.Now().Add(c.perms.resp.Expires)}
}

// isAllowedResponse consumes one response allowance for subject.
func (c *client) isAllowedResponse(subject string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.perms == nil || c.perms.resp == nil {
		return false
	}
	e := c.replies[subject]
	if e == nil {
		return false
	}
	if time.Now().After(e.expires) {
		delete(c.replies, subject)
		return false
	}
	e.n++
	if c.perms.resp.MaxMsgs > 0 && e.n >= c.perms.resp.MaxMsgs {
		delete(c.replies, subject)
	}
	return true
}

// pubViolation reports a denied publish the reference's way: the
// connection stays open.
func (c *client) pubViolation(subject string) {
	c.sendErr("Permissions Violation for Publish to \"" + subject + "\"")
	c.srv.Errorf("%s - %s - Publish Violation - Subject %q", c.logPrefix(), c.userDesc(), subject)
}

func (c *client) subViolation(sub *subscription) {
	if sub.queue != "" {
		c.sendErr("Permissions Violation for Subscription to \"" + sub.subject + "\" using queue \"" + sub.queue + "\"")
		c.srv.Errorf("%s - %s - Subscription Violation - Subject %q, Queue: %q, SID %s", c.logPrefix(), c.userDesc(), sub.subject, sub.queue, sub.sid)
		return
	}
	c.sendErr("Permissions Violation for Subscription to \"" + sub.subject + "\"")
	c.srv.Errorf("%s - %s - Subscription Violation - Subject %q, SID %s", c.logPrefix(), c.userDesc(), sub.subject, sub.sid)
}

// userDesc is the "$G/user:name" tag the reference logs.
func (c *client) userDesc() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	acc := DEFAULT_GLOBAL_ACCOUNT
	if c.acc != nil {
		acc = c.acc.Name
	}
	return "\"" + acc + "/user:" + c.user + "\""
}
