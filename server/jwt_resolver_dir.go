package server

import (
	"crypto/sha256"
	"errors"
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
// <dir>/<pub>.jwt (the token as pushed, nothing else) and pushed, looked
// up, listed and deleted through system requests. The `full` type keeps
// every account (refusing new ones past `limit`) and syncs with the other
// full resolvers of the cluster (jwt_resolver_cluster.go); `cache` keeps at
// most `limit`, dropping the least recently written, forgets a JWT after
// `ttl`, and takes what it lacks from the cluster's full resolvers.
//
// The directory is read once at start-up into an index in memory, which is
// what requests are answered from: only the resolver's worker (pushes,
// deletes, merges) and a connection waiting for its own account write the
// disk, never the goroutine that delivered a request.
type dirResolver struct {
	opts ResolverOpts
	mu   sync.Mutex // guards jwts and hash; serializes the directory's writes
	jwts map[string]*storedJWT
	// hash is the XOR of the SHA-256 of every stored JWT, the reference's
	// store digest, which the cluster sync compares.
	hash [sha256.Size]byte

	work    jwtWorker
	cluster *resolverCluster // nil without a system account
}

// storedJWT is one account's JWT with its issue time and when it was saved
// (a cache's age).
type storedJWT struct {
	token string
	iat   int64
	saved time.Time
}

// Defaults of the directory resolvers, as the reference's.
const (
	defaultResolverLimit    = 1000
	defaultResolverInterval = 2 * time.Minute
	defaultResolverTimeout  = 1900 * time.Millisecond
	jwtFileSuffix           = ".jwt"
	jwtDeletedSuffix        = ".jwt.deleted"
)

var errJWTOlder = errors.New("jwt is older than the one stored")

func newDirResolver(ro ResolverOpts, preload map[string]string) (*dirResolver, error) {
	if ro.Limit <= 0 {
		ro.Limit = defaultResolverLimit
	}
	if ro.Interval <= 0 {
		ro.Interval = defaultResolverInterval
	}
	if ro.Timeout <= 0 {
		ro.Timeout = defaultResolverTimeout
	}
	if err := os.MkdirAll(ro.Dir, 0o750); err != nil {
		return nil, err
	}
	r := &dirResolver{opts: ro, jwts: map[string]*storedJWT{}}
	r.load()
	for pub, token := range preload {
		if _, ok := r.jwts[pub]; ok {
			continue // what was pushed since wins over the preload
		}
		if _, err := r.save(pub, token); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// load reads the directory into the index.
func (r *dirResolver) load() {
	entries, _ := os.ReadDir(r.opts.Dir)
	for _, e := range entries {
		pub, ok := strings.CutSuffix(e.Name(), jwtFileSuffix)
		if !ok || e.IsDir() || !nkeys.IsValidPublicAccountKey(pub) {
			continue
		}
		b, err := os.ReadFile(r.path(pub))
		fi, serr := e.Info()
		if err != nil || serr != nil {
			continue
		}
		token := strings.TrimSpace(string(b))
		r.putLocked(pub, &storedJWT{token: token, iat: jwtIssuedAt(token), saved: fi.ModTime()})
	}
}

func jwtIssuedAt(token string) int64 {
	if ac, err := jwt.DecodeAccountClaims(token); err == nil {
		return ac.IssuedAt
	}
	return 0
}

func (r *dirResolver) path(pub string) string { return filepath.Join(r.opts.Dir, pub+jwtFileSuffix) }

func (r *dirResolver) bootstraps() bool { return true }

func (r *dirResolver) stop() { r.work.stop() }

// stored returns the JWT kept for pub, if any (and, in a cache, not older
// than its ttl).
func (r *dirResolver) stored(pub string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.jwts[pub]
	if !ok {
		return "", false
	}
	if r.opts.Type == ResolverCache && r.opts.TTL > 0 && time.Since(e.saved) > r.opts.TTL {
		return "", false
	}
	return e.token, true
}

// fetch returns the stored JWT, or asks the cluster for it (the caller,
// a connection waiting for its account, waits up to `timeout`).
func (r *dirResolver) fetch(pub string) (string, error) {
	if !nkeys.IsValidPublicAccountKey(pub) {
		return "", errAccountMissing
	}
	if token, ok := r.stored(pub); ok {
		return token, nil
	}
	return r.cluster.lookup(pub)
}

// xorHash folds one JWT into the store digest (adding and removing alike).
func xorHash(h *[sha256.Size]byte, token string) {
	sum := sha256.Sum256([]byte(token))
	for i := range h {
		h[i] ^= sum[i]
	}
}

func (r *dirResolver) putLocked(pub string, e *storedJWT) {
	if old, ok := r.jwts[pub]; ok {
		xorHash(&r.hash, old.token)
	}
	r.jwts[pub] = e
	xorHash(&r.hash, e.token)
}

func (r *dirResolver) dropLocked(pub string) {
	if old, ok := r.jwts[pub]; ok {
		xorHash(&r.hash, old.token)
		delete(r.jwts, pub)
	}
}

// digest returns the store digest.
func (r *dirResolver) digest() [sha256.Size]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hash
}

// save writes a JWT unless the same or a newer one is stored; it reports
// whether it wrote. A full store refuses an account past its limit, a cache
// drops its oldest entry.
func (r *dirResolver) save(pub, token string) (bool, error) {
	iat := jwtIssuedAt(token)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.jwts[pub]; ok {
		if old.token == token {
			return false, nil
		}
		if old.iat > iat {
			return false, errJWTOlder
		}
	} else if len(r.jwts) >= r.opts.Limit {
		if r.opts.Type == ResolverFull {
			return false, errors.New("jwt store is full")
		}
		r.evictOldestLocked()
	}
	p := r.path(pub)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o640); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return false, err
	}
	r.putLocked(pub, &storedJWT{token: token, iat: iat, saved: time.Now()})
	return true, nil
}

func (r *dirResolver) evictOldestLocked() {
	var oldest string
	var when time.Time
	for pub, e := range r.jwts {
		if oldest == "" || e.saved.Before(when) {
			oldest, when = pub, e.saved
		}
	}
	if oldest != "" {
		os.Remove(r.path(oldest))
		r.dropLocked(oldest)
	}
}

// list returns the public keys of the stored accounts, sorted.
func (r *dirResolver) list() []string {
	r.mu.Lock()
	out := make([]string, 0, len(r.jwts))
	for pub := range r.jwts {
		out = append(out, pub)
	}
	r.mu.Unlock()
	sort.Strings(out)
	return out
}

// entries returns the stored JWTs by public key, for a pack.
func (r *dirResolver) entries() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.jwts))
	for pub, e := range r.jwts {
		out[pub] = e.token
	}
	return out
}

// remove deletes an account's JWT, keeping it as .jwt.deleted unless
// hard_delete is set.
func (r *dirResolver) remove(pub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.jwts[pub]; !ok {
		return false
	}
	p := r.path(pub)
	var err error
	if r.opts.HardDelete {
		err = os.Remove(p)
	} else {
		err = os.Rename(p, filepath.Join(r.opts.Dir, pub+jwtDeletedSuffix))
	}
	if err != nil && !os.IsNotExist(err) {
		return false
	}
	r.dropLocked(pub)
	return true
}

// deletedSince reports whether pub was deleted here with a JWT issued at or
// after iat: a pack from a server that missed the delete does not bring it
// back.
func (r *dirResolver) deletedSince(pub string, iat int64) bool {
	b, err := os.ReadFile(filepath.Join(r.opts.Dir, pub+jwtDeletedSuffix))
	return err == nil && jwtIssuedAt(strings.TrimSpace(string(b))) >= iat
}

// jwtWorker runs the resolver's writes and claim applications one at a time
// on a goroutine of its own, in the order requests arrived, so that the
// goroutine delivering a request (a client's or a route's reader) never
// waits for the disk or for a fetch.
type jwtWorker struct {
	mu      sync.Mutex
	queue   []func()
	wake    chan struct{}
	quit    chan struct{}
	stopped bool
}

// maxJWTWork bounds the queue; past it requests are dropped (and logged),
// the periodic sync repairing what a full resolver missed.
const maxJWTWork = 10000

func (w *jwtWorker) start(s *Server) {
	w.wake = make(chan struct{}, 1)
	w.quit = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-w.wake:
			case <-w.quit:
				return
			case <-s.quitCh:
				return
			}
			for {
				w.mu.Lock()
				if len(w.queue) == 0 {
					w.mu.Unlock()
					break
				}
				f := w.queue[0]
				w.queue[0] = nil
				w.queue = w.queue[1:]
				w.mu.Unlock()
				f()
			}
		}
	}()
}

// post queues f; it reports false if the queue is full or stopped.
func (w *jwtWorker) post(f func()) bool {
	w.mu.Lock()
	if w.stopped || w.wake == nil || len(w.queue) >= maxJWTWork {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, f)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

func (w *jwtWorker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.quit == nil {
		return
	}
	w.stopped = true
	close(w.quit)
}
