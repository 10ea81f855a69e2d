package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// dirResolver is the NATS-based resolver: account JWTs are kept as
// <dir>/<pub>.jwt and pushed, looked up, listed and deleted through system
// requests. The `full` type keeps every account (refusing new ones past
// `limit`); `cache` keeps at most `limit`, dropping the least recently
// written, and forgets a JWT after `ttl`. Between servers of a cluster the
// stores would be compared every `interval`; that needs routes, so a single
// server only serves its own store.
type dirResolver struct {
	opts ResolverOpts
	mu   sync.Mutex // serializes writes to the directory
}

// Defaults of the directory resolvers, as the reference's.
const (
	defaultResolverLimit = 1000
	jwtFileSuffix        = ".jwt"
	jwtDeletedSuffix     = ".jwt.deleted"
)

func newDirResolver(ro ResolverOpts, preload map[string]string) (*dirResolver, error) {
	if ro.Limit <= 0 {
		ro.Limit = defaultResolverLimit
	}
	if err := os.MkdirAll(ro.Dir, 0o750); err != nil {
		return nil, err
	}
	r := &dirResolver{opts: ro}
	for pub, token := range preload {
		if _, err := os.Stat(r.path(pub)); err == nil {
			continue // what was pushed since wins over the preload
		}
		if err := r.save(pub, token); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *dirResolver) path(pub string) string { return filepath.Join(r.opts.Dir, pub+jwtFileSuffix) }

func (r *dirResolver) bootstraps() bool { return true }
func (r *dirResolver) stop()            {}

func (r *dirResolver) fetch(pub string) (string, error) {
	if !nkeys.IsValidPublicAccountKey(pub) {
		return "", errAccountMissing
	}
	p := r.path(pub)
	fi, err := os.Stat(p)
	if err != nil {
		return "", errAccountMissing
	}
	if r.opts.Type == ResolverCache && r.opts.TTL > 0 && time.Since(fi.ModTime()) > r.opts.TTL {
		return "", errAccountMissing
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// save writes a JWT unless a newer one is stored; a full store refuses an
// account past its limit, a cache drops its oldest entry.
func (r *dirResolver) save(pub, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.path(pub)
	if old, err := os.ReadFile(p); err == nil {
		if oc, err := jwt.DecodeAccountClaims(strings.TrimSpace(string(old))); err == nil {
			if nc, err := jwt.DecodeAccountClaims(token); err == nil && oc.IssuedAt > nc.IssuedAt {
				return errors.New("jwt is older than the one stored")
			}
		}
	} else if names := r.listLocked(); len(names) >= r.opts.Limit {
		if r.opts.Type == ResolverFull {
			return errors.New("jwt store is full")
		}
		r.evictOldestLocked(names)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (r *dirResolver) evictOldestLocked(names []string) {
	var oldest string
	var when time.Time
	for _, n := range names {
		if fi, err := os.Stat(r.path(n)); err == nil && (oldest == "" || fi.ModTime().Before(when)) {
			oldest, when = n, fi.ModTime()
		}
	}
	if oldest != "" {
		os.Remove(r.path(oldest))
	}
}

// list returns the public keys of the stored accounts, sorted.
func (r *dirResolver) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked()
}

func (r *dirResolver) listLocked() []string {
	entries, _ := os.ReadDir(r.opts.Dir)
	out := []string{}
	for _, e := range entries {
		name := e.Name()
		if pub, ok := strings.CutSuffix(name, jwtFileSuffix); ok && !e.IsDir() && nkeys.IsValidPublicAccountKey(pub) {
			out = append(out, pub)
		}
	}
	sort.Strings(out)
	return out
}

// remove deletes an account's JWT, keeping it as .jwt.deleted unless
// hard_delete is set.
func (r *dirResolver) remove(pub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.path(pub)
	if _, err := os.Stat(p); err != nil {
		return false
	}
	if r.opts.HardDelete {
		return os.Remove(p) == nil
	}
	return os.Rename(p, filepath.Join(r.opts.Dir, pub+jwtDeletedSuffix)) == nil
}

func (r *dirResolver) start(s *Server) error {
	if s.sys == nil {
		return nil
	}
	sys := s.sys.acc
	subs := []struct {
		subj string
		h    func(subject, reply string, hdr, msg []byte)
	}{
		{claimsUpdateReqSubj, func(_, reply string, _, msg []byte) { r.update(s, "", reply, msg) }},
		{accClaimsReqSubj, func(subj, reply string, _, msg []byte) { r.update(s, subjectToken(3)(subj), reply, msg) }},
		{accClaimsOldSubj, func(subj, reply string, _, msg []byte) { r.update(s, subjectToken(2)(subj), reply, msg) }},
		{accLookupReqSubj, func(subj, reply string, _, _ []byte) { r.lookup(s, subjectToken(3)(subj), reply) }},
		{claimsListReqSubj, func(_, reply string, _, _ []byte) { r.replyList(s, reply) }},
		{claimsDeleteReqSubj, func(_, reply string, _, msg []byte) { r.delete(s, reply, msg) }},
	}
	for _, sub := range subs {
		if _, err := s.SubscribeInternal(sys, sub.subj, "", sub.h); err != nil {
			return err
		}
	}
	return nil
}

// update stores a pushed account JWT and applies it to the account if it
// is in use.
func (r *dirResolver) update(s *Server, pub, reply string, msg []byte) {
	token := strings.TrimSpace(string(msg))
	ac, err := s.checkClaimUpdate(pub, token)
	if err == nil {
		pub = ac.Subject
		err = r.save(pub, token)
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
	if _, ok := s.LookupAccount(pub); ok {
		s.installAccount(ac, token)
	}
	s.replyClaims(reply, &claimsResult{Account: pub, Code: 200, Message: "jwt updated"}, nil)
}

// lookup answers with the stored JWT itself; an account we do not have
// gets no answer, so that another server of the cluster may give it.
func (r *dirResolver) lookup(s *Server, pub, reply string) {
	token, err := r.fetch(pub)
	if err != nil || reply == "" {
		return
	}
	s.PublishInternal(s.sys.acc, reply, "", nil, []byte(token))
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
func (r *dirResolver) delete(s *Server, reply string, msg []byte) {
	gc, err := jwt.DecodeGeneric(strings.TrimSpace(string(msg)))
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
