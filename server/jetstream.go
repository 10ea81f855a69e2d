package server

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// jetStream is the server's JetStream subsystem: the API worker pool and
// the JetStream-enabled accounts with their streams. Built once in Start
// before clients connect; the pointer on Server never changes afterwards.
type jetStream struct {
	srv      *Server
	storeDir string // <store_dir>/jetstream
	// maxMem and maxStore are the server's limits; a reload may raise them.
	maxMem   atomic.Int64
	maxStore atomic.Int64
	strict   bool
	// Each stream's ingest queue bound (max_buffered_msgs/size).
	maxBufferedMsgs int
	maxBufferedSize int
	limits          atomic.Pointer[JSLimitOpts] // the limits block; swapped by a reload
	uniqueTag       string

	api   *jsAPIPool
	mu    sync.RWMutex // guards accounts
	accts map[string]*jsAccount
	// disabled are the accounts without JetStream, answered with err 10039.
	disabled []*jsAccount

	apiTotal  atomic.Uint64
	apiErrors atomic.Uint64

	atomicInflight atomic.Int64 // open atomic batches, all streams (stream_batch.go)
	fastInflight   atomic.Int64 // open fast batches, all streams (stream_fastbatch.go)

	origins originEvents // streams created, for mirrors and sources waiting on one

	cworkOnce sync.Once        // starts the consumer workers (consumer_work.go)
	cwork     *consumerWorkers // nil until the first consumer runs

	memUsage  jsUsageEstimate // see jetstream_limits.go
	fileUsage jsUsageEstimate

	// cluster is clustered JetStream (jetstream_cluster.go), nil on a
	// single server; set before the accounts' APIs subscribe.
	cluster *jsCluster
}

// jsAccount is one JetStream-enabled account and its streams.
type jsAccount struct {
	js    *jetStream
	acc   *Account
	unsub func()
	// disabled: JetStream is off for this account; every request gets err 10039.
	disabled bool

	createMu sync.Mutex   // serialises create, update and delete of streams
	mu       sync.RWMutex // guards streams; leaf
	streams  map[string]*stream
	// ackOnce subscribes $JS.ACK.> with the first consumer (consumer_ack.go).
	ackOnce  sync.Once
	ackUnsub func()
	// fcOnce subscribes $JS.FC.> with the first flow-controlled push
	// consumer (consumer_push_fc.go).
	fcOnce  sync.Once
	fcUnsub func()

	apiTotal  atomic.Uint64
	apiErrors atomic.Uint64

	// limits are the account's JetStream limits (-1: none); swapped whole
	// by a reload.
	limits    atomic.Pointer[JetStreamAccountLimits]
	memUsage  jsUsageEstimate // see jetstream_limits.go
	fileUsage jsUsageEstimate
}

// jsStreamsDefaultReserve is the reference's fallback when the machine's
// memory or free disk cannot be read.
const (
	jsFallbackMaxMemory = 256 << 20
	jsFallbackMaxStore  = 1 << 40
)

// startJetStream enables JetStream for the global account and for every
// account configured with it, recovering their file streams.
func (s *Server) startJetStream() error {
	o := s.getOpts()
	start := time.Now()
	s.Noticef("Starting JetStream")
	js := &jetStream{srv: s, storeDir: filepath.Join(o.JetStreamStoreDir(), "jetstream"),
		strict: !o.NoJetStreamStrict,
		accts:  make(map[string]*jsAccount)}
	js.setTuning(o.JetStreamTuning)
	js.memUsage.exact.Store(-1)
	js.fileUsage.exact.Store(-1)
	names, err := s.jetStreamAccountNames(o)
	if err != nil {
		return err
	}
	if o.StoreDir == "" {
		s.Warnf("Temporary storage directory used, data could be lost on system reboot")
	}
	if err := fsMkdirAll(osFS{}, js.storeDir); err != nil {
		return fmt.Errorf("could not create storage directory - %v", err)
	}
	mem, store := js.storeLimits(o)
	js.maxMem.Store(mem)
	js.maxStore.Store(store)
	js.logBanner()
	js.api = newJSAPIPool(js, min(runtime.GOMAXPROCS(0), 16), o.JetStreamTuning)
	if o.clusterEnabled() {
		if err := js.startCluster(); err != nil {
			js.api.stop()
			return err
		}
	}
	s.js.Store(js)
	for _, name := range names {
		acc, ok := s.LookupAccount(name)
		if !ok {
			continue
		}
		if err := js.enableAccount(acc); err != nil {
			js.shutdown()
			return err
		}
	}
	js.answerDisabledAccounts()
	if js.cluster != nil {
		close(js.cluster.ready) // the meta log may now place streams here
	}
	s.mu.Lock()
	s.info.JetStream, s.info.Domain = true, o.JetStreamDomain
	s.mu.Unlock()
	js.origins.fire() // copies recovered before their origins look again, now warning
	s.Noticef("Took %v to start JetStream", time.Since(start))
	return nil
}

func (js *jetStream) logBanner() {
	s := js.srv
	for _, l := range []string{
		"    _ ___ _____ ___ _____ ___ ___   _   __  __",
		" _ | | __|_   _/ __|_   _| _ \\ __| /_\\ |  \\/  |",
		"| || | _|  | | \\__ \\ | | |   / _| / _ \\| |\\/| |",
		" \\__/|___| |_| |___/ |_| |_|_\\___/_/ \\_\\_|  |_|",
		"",
		"         https://docs.nats.io/jetstream",
		"",
		"---------------- JETSTREAM ----------------",
	} {
		s.Noticef("%s", l)
	}
	if js.strict {
		s.Noticef("  Strict:          %t", js.strict) // the reference leaves it out when off
	}
	s.Noticef("  Max Memory:      %s", friendlyBytes(js.maxMem.Load()))
	s.Noticef("  Max Storage:     %s", friendlyBytes(js.maxStore.Load()))
	s.Noticef("  Store Directory: %q", js.storeDir)
	o := s.getOpts()
	if o.JetStreamDomain != "" {
		s.Noticef("  Domain:          %s", o.JetStreamDomain)
	}
	if o.JetStreamKey != "" {
		name := "ChaCha20-Poly1305"
		if c, _ := ParseStoreCipher(o.JetStreamCipher); c == AES {
			name = "AES-GCM"
		}
		s.Noticef("  Encryption:      %s", name)
	}
	s.Noticef("  API Level:       %d", JSApiLevel)
	s.Noticef("-------------------------------------------")
}

// friendlyBytes writes n in binary units with two decimals, as the
// reference's banner does ("17.66 GB").
func friendlyBytes(n int64) string {
	f := float64(n)
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	exp, div := 0, float64(unit)
	for f/div >= unit && exp < 5 {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %cB", f/div, "KMGTPE"[exp])
}

// enableAccount subscribes the account's API and recovers its streams.
func (js *jetStream) enableAccount(acc *Account) error {
	ja := &jsAccount{js: js, acc: acc, streams: make(map[string]*stream)}
	ja.setLimits(js.srv.getOpts().JetStreamAccountLimits)
	ja.memUsage.exact.Store(-1)
	ja.fileUsage.exact.Store(-1)
	if err := ja.recoverStreams(); err != nil {
		return err
	}
	unsub, err := ja.subscribeAPI(jsAPIPrefix + ">")
	if err != nil {
		ja.stopStreams()
		return err
	}
	ja.unsub = unsub
	if d := js.srv.getOpts().JetStreamDomain; d != "" {
		// $JS.<domain>.API.> reaches the same handlers (onAPIRequest maps it).
		unsubDomain, err := ja.subscribeAPI("$JS." + d + ".API.>")
		if err != nil {
			unsub()
			ja.stopStreams()
			return err
		}
		ja.unsub = func() { unsub(); unsubDomain() }
	}
	js.mu.Lock()
	js.accts[acc.Name] = ja
	js.mu.Unlock()
	return nil
}

// answerDisabledAccounts subscribes the API in every other account (not
// the system account) so that a request there is answered with err 10039,
// as the reference does, rather than timing out.
func (js *jetStream) answerDisabledAccounts() {
	sys := js.srv.SystemAccount()
	js.srv.accounts.Range(func(_, v any) bool {
		acc := v.(*Account)
		if acc == sys || js.lookupAccount(acc.Name) != nil {
			return true
		}
		ja := &jsAccount{js: js, acc: acc, disabled: true}
		if unsub, err := ja.subscribeAPI(jsAPIPrefix + ">"); err == nil {
			ja.unsub = unsub
			js.mu.Lock()
			js.disabled = append(js.disabled, ja)
			js.mu.Unlock()
		}
		return true
	})
}

// lookupAccount returns the account's JetStream state, nil if not enabled.
func (js *jetStream) lookupAccount(name string) *jsAccount {
	js.mu.RLock()
	defer js.mu.RUnlock()
	return js.accts[name]
}

func (js *jetStream) accounts() []*jsAccount {
	js.mu.RLock()
	defer js.mu.RUnlock()
	return js.accountsLocked()
}

func (js *jetStream) accountsLocked() []*jsAccount {
	out := make([]*jsAccount, 0, len(js.accts))
	for _, ja := range js.accts {
		out = append(out, ja)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].acc.Name < out[j].acc.Name })
	return out
}

// shutdown stops the API workers, then every stream (flushing its store).
func (js *jetStream) shutdown() {
	js.mu.RLock()
	all := append(js.accountsLocked(), js.disabled...)
	js.mu.RUnlock()
	for _, ja := range all {
		if ja.unsub != nil {
			ja.unsub()
		}
	}
	if js.cluster != nil {
		// First, so that API workers waiting on a meta proposal return.
		js.cluster.stop()
	}
	js.api.stop()
	for _, ja := range js.accounts() {
		ja.stopStreams()
	}
	js.stopConsumerWork()
}

// stopJetStream is called by Shutdown once clients are gone.
func (s *Server) stopJetStream() {
	if js := s.js.Load(); js != nil {
		js.shutdown()
	}
}

// JetStreamEnabled reports whether JetStream runs on this server.
func (s *Server) JetStreamEnabled() bool { return s.js.Load() != nil }

// usage sums the account's stored bytes by storage type.
func (ja *jsAccount) usage() (mem, store uint64, streams int) {
	for _, st := range ja.streamList() {
		var ss StreamState
		st.store.FastState(&ss)
		if st.cfg().Storage == MemoryStorage {
			mem += ss.Bytes
		} else {
			store += ss.Bytes
		}
		streams++
	}
	return mem, store, streams
}

// jsVarz is the jetstream section of /varz with JetStream on.
func (s *Server) jsVarz() JetStreamVarz {
	js := s.js.Load()
	if js == nil {
		return JetStreamVarz{}
	}
	o := s.getOpts()
	sync := o.JetStreamSyncInterval
	if sync <= 0 {
		sync = fsDefaultSyncInterval
	}
	v := JetStreamVarz{
		Config: &JSVarzConfig{MaxMemory: js.maxMem.Load(), MaxStore: js.maxStore.Load(), StoreDir: js.storeDir,
			SyncInterval: sync, SyncAlways: o.JetStreamSyncAlways, Strict: js.strict, Domain: o.JetStreamDomain,
			UniqueTag: js.uniqueTag},
		Stats:  &JSVarzStats{API: JSAPIStats{Level: JSApiLevel, Total: js.apiTotal.Load(), Errors: js.apiErrors.Load()}},
		Limits: &JSVarzLimits{JSLimitOpts: *js.limits.Load(), DefaultMaxConsumers: 1000},
	}
	for _, ja := range js.accounts() {
		mem, store, _ := ja.usage()
		v.Stats.Memory += mem
		v.Stats.Store += store
		v.Stats.Accounts++
	}
	if js.cluster != nil {
		v.Meta = js.cluster.metaInfo()
	}
	_, v.Stats.ReservedMemory = js.usedAndReserved(MemoryStorage, "", "")
	_, v.Stats.ReservedStore = js.usedAndReserved(FileStorage, "", "")
	return v
}

// jsServerInfoFlags are the capability bits the reference sets in the
// server block of system messages when JetStream runs (observed: 7).
const jsServerInfoFlags = 7

// jetStreamServerInfo marks system messages of a server running JetStream,
// with its domain.
func (s *Server) jetStreamServerInfo(si *ServerInfo) {
	js := s.js.Load()
	if js == nil {
		return
	}
	si.JetStream, si.Flags, si.Domain = true, jsServerInfoFlags, js.domain()
}
