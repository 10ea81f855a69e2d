package server

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"time"
)

// The directory resolvers between the servers of a cluster, as the
// reference does it (observed on v2.15.2):
//
// Lookup: a server without an account's JWT asks everyone with
// $SYS.REQ.ACCOUNT.<pub>.CLAIMS.LOOKUP (empty body, reply
// $SYS._INBOX.<base62Hash(server name)>.<8 random base62>). A full resolver
// answers with the JWT, or with an empty message when it has none; a cache
// does not answer. The asker takes the first valid JWT (and stores it); it
// gives up with "account jwt not found" once every other server it has a
// route to answered empty, or with "fetching jwt timed out" after
// `timeout` (1.9 s by default, also when alone).
//
// Sync (full only): every `interval` (2 min by default) each server sends
// $SYS.REQ.CLAIMS.PACK, whose body is its store digest (32 bytes: the XOR
// of the SHA-256 of every stored JWT), to the queue group "responder" of
// the other servers. The one that gets it answers with an empty message if
// its digest is the same; otherwise with one message `<pub>|<jwt>` per
// stored JWT, then an empty one. The asker keeps what is newer than what it
// has (by issue time). Deletes are not carried: a server that missed one
// keeps the account, but its packs do not bring a deleted account back
// to the others.
//
// The requests go out and are answered through an internal client without
// echo, so a server never answers itself: its queue member is skipped and
// the request goes to another server's, as with the reference.

const (
	claimsPackReqSubj = "$SYS.REQ.CLAIMS.PACK"
	claimsPackQueue   = "responder"
	sysInboxPrefix    = "$SYS._INBOX."
)

var (
	errJWTNotFound     = errors.New("account jwt not found")
	errJWTFetchTimeout = errors.New("fetching jwt timed out")
)

// resolverCluster is a directory resolver's side of the cluster.
type resolverCluster struct {
	s  *Server
	r  *dirResolver
	ic *client // echo off: its requests never reach its own subscriptions
	// inbox is $SYS._INBOX.<hash of the server name>. and packReply the
	// inbox of this server's pack requests.
	inbox     string
	packReply string

	mu      sync.Mutex
	waiting map[string]chan []byte // lookups by reply subject
}

func newResolverCluster(s *Server, r *dirResolver) *resolverCluster {
	name := s.Name()
	if name == "" {
		name = s.ID()
	}
	inbox := sysInboxPrefix + base62Hash(name) + "."
	return &resolverCluster{s: s, r: r, ic: s.newInternalClient(s.sys.acc, false), inbox: inbox,
		packReply: inbox + jsRandomID()[:8], waiting: map[string]chan []byte{}}
}

// start subscribes the inbox; a full resolver also answers lookups and
// packs and syncs every interval.
func (cl *resolverCluster) start() error {
	if err := cl.subscribe(cl.inbox+"*", "", cl.onInbox); err != nil {
		return err
	}
	if cl.r.opts.Type != ResolverFull {
		return nil
	}
	if err := cl.subscribe(accLookupReqSubj, "", cl.onLookup); err != nil {
		return err
	}
	if err := cl.subscribe(claimsPackReqSubj, claimsPackQueue, cl.onPackRequest); err != nil {
		return err
	}
	cl.s.wg.Add(1)
	go cl.syncLoop()
	return nil
}

func (cl *resolverCluster) subscribe(subject, queue string, h func(subject, reply string, msg []byte)) error {
	_, err := cl.s.subscribeInternalAs(cl.ic, cl.s.sys.acc, subject, queue,
		func(_ *subscription, _ *client, _ *Account, subj, reply string, _, msg []byte) { h(subj, reply, msg) }, nil)
	return err
}

func (cl *resolverCluster) publish(subject, reply string, msg []byte) {
	cl.s.publishInternalAs(cl.ic, cl.s.sys.acc, subject, reply, nil, msg)
}

// onLookup answers another server's (or a system user's) lookup from the
// index: the JWT, or an empty message.
func (cl *resolverCluster) onLookup(subject, reply string, _ []byte) {
	if reply == "" {
		return
	}
	pub := subjectToken(3)(subject)
	token, ok := cl.r.stored(pub)
	if !ok {
		cl.s.Debugf("DirResolver - Could not find account %q", pub)
	}
	cl.publish(reply, "", []byte(token))
}

// onInbox routes an answer to the lookup waiting for it, or to the merge of
// this server's pack request.
func (cl *resolverCluster) onInbox(subject, _ string, msg []byte) {
	if subject == cl.packReply {
		entry := string(msg)
		if !cl.r.work.post(func() { cl.merge(entry) }) {
			cl.s.Warnf("DirResolver - Pack entry dropped: too many pending requests")
		}
		return
	}
	cl.mu.Lock()
	ch := cl.waiting[subject]
	cl.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- bytes.Clone(msg):
	default: // more answers than servers: the lookup is decided already
	}
}

// lookup asks the cluster for an account's JWT and stores what it gets. A
// resolver without a system account (or before it started) has no one to
// ask; the system account's own JWT is not asked for while bootstrapping.
func (cl *resolverCluster) lookup(pub string) (string, error) {
	if cl == nil || (cl.s.jwt.bootstrapping && cl.s.sys.acc.Name == pub) {
		return "", errAccountMissing
	}
	reply := cl.inbox + jsRandomID()[:8]
	ch := make(chan []byte, 32)
	cl.mu.Lock()
	cl.waiting[reply] = ch
	cl.mu.Unlock()
	defer func() {
		cl.mu.Lock()
		delete(cl.waiting, reply)
		cl.mu.Unlock()
	}()
	others := cl.s.NumRemotes()
	cl.publish("$SYS.REQ.ACCOUNT."+pub+".CLAIMS.LOOKUP", reply, nil)
	timer := time.NewTimer(cl.r.opts.Timeout)
	defer timer.Stop()
	for empty := 0; ; {
		select {
		case msg := <-ch:
			if token, ok := cl.accept(pub, msg); ok {
				return token, nil
			}
			if empty++; others > 0 && empty >= others {
				return "", errJWTNotFound
			}
		case <-timer.C:
			return "", errJWTFetchTimeout
		case <-cl.s.quitCh:
			return "", errJWTFetchTimeout
		}
	}
}

// accept checks a JWT another server gave for pub and stores it.
func (cl *resolverCluster) accept(pub string, msg []byte) (string, bool) {
	token := strings.TrimSpace(string(msg))
	if token == "" {
		return "", false
	}
	if _, err := cl.s.checkClaimUpdate(pub, token); err != nil {
		cl.s.Warnf("DirResolver - Lookup of account %q answered with an invalid JWT: %v", pub, err)
		return "", false
	}
	if _, err := cl.r.save(pub, token); err != nil && !errors.Is(err, errJWTOlder) {
		cl.s.Warnf("DirResolver - Could not store account %q: %v", pub, err)
	}
	if stored, ok := cl.r.stored(pub); ok {
		return stored, true // a newer one may have been pushed meanwhile
	}
	return token, true
}

// syncLoop sends this server's digest every interval.
func (cl *resolverCluster) syncLoop() {
	defer cl.s.wg.Done()
	t := time.NewTicker(cl.r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h := cl.r.digest()
			cl.s.Debugf("DirResolver - Checking store state: %x", h)
			cl.publish(claimsPackReqSubj, cl.packReply, h[:])
		case <-cl.r.work.quit:
			return
		case <-cl.s.quitCh:
			return
		}
	}
}

// onPackRequest answers another server's digest: empty when it is ours,
// else our whole store then an empty message.
func (cl *resolverCluster) onPackRequest(_, reply string, msg []byte) {
	if reply == "" {
		return
	}
	mine := cl.r.digest()
	if bytes.Equal(msg, mine[:]) {
		cl.s.Debugf("DirResolver - Pack request matches hash %x", mine)
		cl.publish(reply, "", nil)
		return
	}
	var line []byte
	for pub, token := range cl.r.entries() {
		line = append(append(append(line[:0], pub...), '|'), token...)
		cl.publish(reply, "", line)
	}
	cl.publish(reply, "", nil)
	cl.s.Debugf("DirResolver - Pack request hash %x - finished responding with hash %x", msg, mine)
}

// merge takes one message of a pack (on the resolver's worker): a JWT
// newer than ours is stored and applied, the empty message ends the pack.
func (cl *resolverCluster) merge(msg string) {
	s, r := cl.s, cl.r
	if msg == "" {
		s.Debugf("DirResolver - Merging finished and resulting in: %x", r.digest())
		return
	}
	before := r.digest()
	for _, line := range strings.Split(msg, "\n") {
		pub, token, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		ac, err := s.checkClaimUpdate(pub, token)
		if err != nil {
			s.Warnf("DirResolver - Merging account %q failed: %v", pub, err)
			continue
		}
		if r.deletedSince(pub, ac.IssuedAt) {
			continue
		}
		saved, err := r.save(pub, token)
		if err != nil && !errors.Is(err, errJWTOlder) {
			s.Warnf("DirResolver - Merging account %q failed: %v", pub, err)
			continue
		}
		if _, inUse := s.LookupAccount(pub); saved && inUse {
			s.installAccount(ac, token)
		}
	}
	s.Debugf("DirResolver - Merging succeeded and changed %x to %x", before, r.digest())
}
