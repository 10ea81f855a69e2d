package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/jwt/v2"
)

// The directory resolvers' system requests. Every server of a cluster
// subscribes them in the system account, whose interest crosses routes, so
// a push, a delete or a list sent to one server reaches all of them and
// each answers, as with the reference. Writes are handed to the resolver's
// worker; lookups and lists are answered from the index in memory.

func (r *dirResolver) start(s *Server) error {
	if s.sys == nil {
		return nil
	}
	r.work.start(s)
	r.cluster = newResolverCluster(s, r)
	sys := s.sys.acc
	subs := []struct {
		subj string
		h    func(subject, reply string, hdr, msg []byte)
	}{
		{claimsUpdateReqSubj, func(_, reply string, _, msg []byte) { r.postUpdate(s, "", reply, msg) }},
		{accClaimsReqSubj, func(subj, reply string, _, msg []byte) { r.postUpdate(s, subjectToken(3)(subj), reply, msg) }},
		{accClaimsOldSubj, func(subj, reply string, _, msg []byte) { r.postUpdate(s, subjectToken(2)(subj), reply, msg) }},
		{claimsListReqSubj, func(_, reply string, _, _ []byte) { r.replyList(s, reply) }},
		{claimsDeleteReqSubj, func(_, reply string, _, msg []byte) { r.postDelete(s, reply, msg) }},
	}
	for _, sub := range subs {
		if _, err := s.SubscribeInternal(sys, sub.subj, "", sub.h); err != nil {
			return err
		}
	}
	return r.cluster.start()
}

// postUpdate hands a pushed JWT to the worker.
func (r *dirResolver) postUpdate(s *Server, pub, reply string, msg []byte) {
	// The subject and reply view the publisher's buffer: the worker gets copies.
	token, pub, reply := strings.TrimSpace(string(msg)), strings.Clone(pub), strings.Clone(reply)
	if !r.work.post(func() { r.update(s, pub, reply, token) }) {
		s.Warnf("DirResolver - Update for account %q dropped: too many pending requests", accountOrNA(pub))
	}
}

func (r *dirResolver) postDelete(s *Server, reply string, msg []byte) {
	token, reply := strings.TrimSpace(string(msg)), strings.Clone(reply)
	if !r.work.post(func() { r.delete(s, reply, token) }) {
		s.Warnf("DirResolver - Delete request dropped: too many pending requests")
	}
}

// update stores a pushed account JWT and applies it to the account if it
// is in use. A cache takes only updates of the accounts it holds.
func (r *dirResolver) update(s *Server, pub, reply, token string) {
	ac, err := s.checkClaimUpdate(pub, token)
	if err == nil {
		pub = ac.Subject
		if r.opts.Type == ResolverCache && !r.has(pub) {
			s.Debugf("jwt update cache skipped - %s", pub)
			s.replyClaims(reply, &claimsResult{Account: pub, Code: 200, Message: "jwt update cache skipped"}, nil)
			return
		}
		_, err = r.save(pub, token)
	} else if ac, derr := jwt.DecodeAccountClaims(token); pub == "" && derr == nil {
		pub = ac.Subject
	}
	var invalid *claimsInvalidError
	if errors.As(err, &invalid) {
		s.Errorf("%s", invalid.logText())
		s.replyClaims(reply, nil, &claimsError{Account: accountOrNA(pub), Code: 500, Description: invalid.Error()})
		return
	}
	if err != nil {
		s.Errorf("DirResolver - Update for account %q resulted in error %v", accountOrNA(pub), err)
		s.replyClaims(reply, nil, &claimsError{Account: accountOrNA(pub), Code: 500,
			Description: "jwt update resulted in error - " + err.Error()})
		return
	}
	s.Debugf("jwt updated - %s", pub)
	if _, ok := s.LookupAccount(pub); ok {
		s.installAccount(ac, token)
	}
	s.replyClaims(reply, &claimsResult{Account: pub, Code: 200, Message: "jwt updated"}, nil)
}

func (r *dirResolver) has(pub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.jwts[pub]
	return ok
}

// replyList answers {"data": [public keys], "server": {...}}.
func (r *dirResolver) replyList(s *Server, reply string) {
	if reply == "" {
		return
	}
	b, err := json.Marshal(&struct {
		Data   []string    `json:"data"`
		Server *ServerInfo `json:"server"`
	}{r.list(), ptr(s.serverInfo())})
	if err == nil {
		s.PublishInternal(s.sys.acc, reply, "", nil, b)
	}
}

// delete removes the accounts an operator-signed request lists
// (data.accounts), when allow_delete is set, and disconnects their users.
func (r *dirResolver) delete(s *Server, reply, token string) {
	gc, err := jwt.DecodeGeneric(token)
	requester := ""
	if gc != nil {
		requester = gc.Subject // the reference names the subject
	}
	switch {
	case err != nil:
	case gc.Subject != gc.Issuer:
		err = errors.New("not self signed")
	case !s.jwt.isTrusted(gc.Issuer):
		err = errors.New("not trusted")
	case !r.opts.AllowDelete || r.opts.Type != ResolverFull:
		err = errors.New("delete must be enabled in server config")
	}
	if err != nil {
		text := fmt.Sprintf("delete accounts request by %s failed - %v", requester, err)
		s.Errorf("%s", text)
		s.replyClaims(reply, nil, &claimsError{Code: 500, Description: text})
		return
	}
	list, _ := gc.Data["accounts"].([]any)
	n := 0
	for _, v := range list {
		if pub, ok := v.(string); ok && r.remove(pub) {
			n++
			s.accountDeleted(pub)
		}
	}
	text := fmt.Sprintf("deleted %d accounts", n)
	s.Debugf("%s", text)
	s.replyClaims(reply, &claimsResult{Code: 200, Message: text}, nil)
}
