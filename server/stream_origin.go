package server

import (
	"crypto/sha256"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The origin seam. A mirror or a source (stream_source.go) copies messages
// from an origin stream by pulling them, in sequence order, through an
// originReader. Today the only implementation is localOrigin: the origin
// lives on this server, in the same account or in another one reached
// through the api prefix's service import, and is read straight from its
// store. A remote implementation over the consumer protocol (an ordered
// consumer on the origin, through a leaf node or a gateway) plugs in here
// once consumers exist: resolveOrigin is where it would be chosen.

// originReader is what a mirror or source needs from its origin.
type originReader interface {
	// next loads into sm the first message at or after seq whose subject
	// matches filter (">" for any); ErrStoreEOF when there is none yet.
	next(filter string, seq uint64, sm *StoreMsg) (*StoreMsg, error)
	// state is the origin's first and last sequence and message count.
	state() (first, last, msgs uint64)
	// seqAtTime is the first sequence stored at or after t (0: none yet).
	seqAtTime(t time.Time) uint64
	// identity is the origin's Nats-Stream-Identity (its creation time).
	identity() string
	// watch has ch signalled (without blocking) after every append to the
	// origin and when it stops; the returned function undoes it.
	watch(ch chan struct{}) func()
	// alive reports whether the origin is still the stream first resolved:
	// not stopped, deleted or replaced.
	alive() bool
}

// localOrigin reads an origin stream of this server from its store.
type localOrigin struct {
	st *stream
}

func (o localOrigin) next(filter string, seq uint64, sm *StoreMsg) (*StoreMsg, error) {
	m, _, err := o.st.store.LoadNextMsg(filter, seq, sm)
	return m, err
}

func (o localOrigin) state() (first, last, msgs uint64) {
	var ss StreamState
	o.st.store.FastState(&ss)
	return ss.FirstSeq, ss.LastSeq, ss.Msgs
}

func (o localOrigin) seqAtTime(t time.Time) uint64 { return o.st.seqAtTime(t) }

func (o localOrigin) identity() string { return streamIdentity(o.st.created) }

func (o localOrigin) watch(ch chan struct{}) func() { return o.st.src.addWatcher(ch) }

func (o localOrigin) alive() bool {
	return !o.st.src.closed.Load() && o.st.ja.lookupStream(o.st.name) == o.st
}

// streamIdentity is the 8-character base62 hash of a stream's creation
// time that the reference puts in Nats-Stream-Source (and, for consumers,
// Nats-Stream-Identity): SHA-256 of the RFC 3339 time, first 8 bytes mod 62.
func streamIdentity(created time.Time) string {
	return base62Hash(created.UTC().Format(time.RFC3339Nano))
}

// base62Hash is the reference's short hash of a string, also used for the
// api prefix in an external source's index name.
func base62Hash(s string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(s))
	var b [8]byte
	for i := range b {
		b[i] = digits[int(sum[i])%len(digits)]
	}
	return string(b[:])
}

// originAccount finds the JetStream account an origin lives in: this one
// when there is no api prefix or it is this server's own domain prefix,
// otherwise the account whose $JS.API the prefix reaches through one of
// this account's service imports. ok is false when the prefix leads off
// this server (or to an account without JetStream): a remote origin.
func (ja *jsAccount) originAccount(ext *ExternalStream, name string) (*jsAccount, bool) {
	if ext == nil || ext.APIPrefix == "" {
		return ja, true
	}
	api := strings.TrimSuffix(ext.APIPrefix, ".")
	if d := ja.js.srv.getOpts().JetStreamDomain; d != "" && api == "$JS."+d+".API" {
		return ja, true
	}
	probe := api + ".STREAM.INFO." + name
	r := ja.acc.sl.Match(probe)
	for _, sub := range r.psubs {
		imp := sub.imp
		if imp == nil || !imp.service || imp.exporter == nil {
			continue
		}
		target := probe
		if imp.transform != nil {
			target = string(imp.transform.apply(nil, probe))
		}
		if !strings.HasSuffix(target, ".STREAM.INFO."+name) || !isLocalAPISubject(ja.js, target) {
			continue
		}
		if oja := ja.js.lookupAccount(imp.exporter.Name); oja != nil {
			return oja, true
		}
	}
	return nil, false
}

// isLocalAPISubject reports whether subject is answered by this server's
// JetStream API: $JS.API.> or $JS.<our domain>.API.>.
func isLocalAPISubject(js *jetStream, subject string) bool {
	if strings.HasPrefix(subject, jsAPIPrefix) {
		return true
	}
	d := js.srv.getOpts().JetStreamDomain
	return d != "" && strings.HasPrefix(subject, "$JS."+d+".API.")
}

// resolveOrigin finds src's origin. It returns the reader, or the error to
// report (stream not found), or neither when the origin is remote.
func (ja *jsAccount) resolveOrigin(src *StreamSource) (originReader, *ApiError) {
	oja, ok := ja.originAccount(src.External, src.Name)
	if !ok {
		return nil, nil
	}
	ost := oja.lookupStream(src.Name)
	if ost == nil {
		return nil, jsError(jsStreamNotFound)
	}
	if ost.src.closed.Load() {
		return nil, nil // stopping with the server: nothing to report
	}
	return localOrigin{st: ost}, nil
}

// streamSourcing is a stream's part in mirroring and sourcing: the copies
// it runs from its origins, and the readers watching it as an origin.
type streamSourcing struct {
	closed atomic.Bool // the stream stopped: readers must let go

	mu       sync.Mutex // guards runs and watchers; leaf
	runs     []*sourceRun
	watchers []chan struct{}
	nwatch   atomic.Int64 // len(watchers), read without the lock on append
}

// addWatcher registers ch for appends; see originReader.watch.
func (ss *streamSourcing) addWatcher(ch chan struct{}) func() {
	ss.mu.Lock()
	ss.watchers = append(ss.watchers, ch)
	ss.nwatch.Store(int64(len(ss.watchers)))
	ss.mu.Unlock()
	return func() {
		ss.mu.Lock()
		for i, c := range ss.watchers {
			if c == ch {
				ss.watchers = append(ss.watchers[:i], ss.watchers[i+1:]...)
				break
			}
		}
		ss.nwatch.Store(int64(len(ss.watchers)))
		ss.mu.Unlock()
	}
}

// notifyAppend wakes the readers copying from this stream. Every path
// that appends to a stream calls it after the store; with nobody watching
// it costs one atomic load.
func (st *stream) notifyAppend() {
	ss := &st.src
	if ss.nwatch.Load() == 0 {
		return
	}
	ss.mu.Lock()
	for _, ch := range ss.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	ss.mu.Unlock()
}

// originEvents wakes the copies waiting for an origin that does not exist
// yet: every stream created (or recovered) on the server fires it.
type originEvents struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next stream creation.
func (e *originEvents) wait() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	return e.ch
}

func (e *originEvents) fire() {
	e.mu.Lock()
	if e.ch != nil {
		close(e.ch)
		e.ch = nil
	}
	e.mu.Unlock()
}
