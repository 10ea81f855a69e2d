package server

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// JetStreamStoreDir is where file streams live: store_dir from the
// jetstream block, else a "nats" folder in the system's temporary directory,
// as with the reference.
func (o *Options) JetStreamStoreDir() string {
	if o.StoreDir != "" {
		return o.StoreDir
	}
	return filepath.Join(os.TempDir(), "nats")
}

// StreamFileStoreConfig is the file store configuration the jetstream block
// gives one stream of an account: its directory
// <store_dir>/jetstream/<account>/streams/<stream> (the reference's layout),
// the sync policy, and the encryption settings (cipher, key, prev_key,
// encrypt_existing). The JetStream API opens every file stream with it.
func (o *Options) StreamFileStoreConfig(account, stream string) (FileStoreConfig, error) {
	fc := FileStoreConfig{
		Dir:             filepath.Join(o.JetStreamStoreDir(), "jetstream", account, "streams", stream),
		SyncInterval:    o.JetStreamSyncInterval,
		SyncAlways:      o.JetStreamSyncAlways,
		EncryptExisting: o.JetStreamEncryptExisting,
	}
	if o.JetStreamKey == "" {
		return fc, nil
	}
	cipher, err := ParseStoreCipher(o.JetStreamCipher)
	if err != nil {
		return fc, err
	}
	fc.Cipher, fc.Key = cipher, []byte(o.JetStreamKey)
	if o.JetStreamPrevKey != "" {
		fc.PrevKey = []byte(o.JetStreamPrevKey)
	}
	fc.RotateStreamKey = o.JetStreamRotateStreamKeys
	return fc, nil
}

// JetStreamTuning holds the jetstream block's keys beyond the store
// settings, and the accounts' JetStream limits. Zero values mean the
// reference's defaults.
type JetStreamTuning struct {
	// JetStreamUniqueTag is unique_tag, lower-cased as the reference does;
	// shown in /jsz and /varz (placement by tag needs a cluster).
	JetStreamUniqueTag string `json:"-"`
	// NoJetStreamStrict is strict: false: API requests may carry fields
	// this server does not know.
	NoJetStreamStrict bool `json:"-"`
	// StreamMaxBufferedMsgs and StreamMaxBufferedSize bound each
	// stream's ingest queue (100,000 messages and 128 MiB by default).
	StreamMaxBufferedMsgs int   `json:"-"`
	StreamMaxBufferedSize int64 `json:"-"`
	// JetStreamRequestQueueLimit and JetStreamInfoQueueLimit bound the API
	// queues (10,000 each by default; the info queue defaults to the other).
	JetStreamRequestQueueLimit int `json:"-"`
	JetStreamInfoQueueLimit    int `json:"-"`
	// JetStreamLimits is the limits sub-block.
	JetStreamLimits JSLimitOpts `json:"-"`
	// JetStreamAccountLimits are the limits of accounts { A { jetstream { ... } } },
	// by account name; an account enabled without a map has none here.
	JetStreamAccountLimits map[string]JetStreamAccountLimits `json:"-"`
}

// JSLimitOpts is the jetstream block's limits sub-block: server-wide caps
// on what streams and consumers may ask for (0: no cap).
type JSLimitOpts struct {
	MaxRequestBatch int           `json:"max_request_batch,omitempty"`
	MaxAckPending   int           `json:"max_ack_pending,omitempty"`
	MaxHAAssets     int           `json:"max_ha_assets,omitempty"`
	Duplicates      time.Duration `json:"max_duplicate_window,omitempty"`
}

// JetStreamAccountLimits are one account's JetStream limits; -1 means no
// limit, as in $JS.API.INFO.
type JetStreamAccountLimits struct {
	MaxMemory            int64
	MaxStore             int64
	MaxStreams           int
	MaxConsumers         int
	MaxAckPending        int
	MemoryMaxStreamBytes int64
	StoreMaxStreamBytes  int64
	MaxBytesRequired     bool
	// tier is the account JWT's tier these limits come from ("R1"), ""
	// when they are not tiered: $JS.API.INFO then shows them under tiers.
	tier string
}

// unlimitedAccount is what an account enabled without limits gets.
func unlimitedAccount() JetStreamAccountLimits {
	return JetStreamAccountLimits{MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1,
		MaxAckPending: -1, MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1}
}

// jsCountLimit is the range of the jetstream block's counts and sizes.
var jsCountLimit = bound{0, math.MaxInt32, true, "must not be negative (0 means the default)"}

// parseJetStreamTuning reads a jetstream block key that parseJetStreamMap
// does not know; keys of features this server does not serve are refused
// with "not supported yet" (after their value is checked).
func (c *cfg) parseJetStreamTuning(key string, e *conf.Value) {
	t := &c.o.JetStreamTuning
	switch strings.ToLower(key) {
	case "unique_tag":
		if s, ok := c.str(key, e); ok {
			t.JetStreamUniqueTag = strings.ToLower(strings.TrimSpace(s))
		}
	case "strict":
		if b, ok := c.bool(key, e); ok {
			t.NoJetStreamStrict = !b
		}
	case "max_buffered_msgs":
		c.jsCount(key, e, &t.StreamMaxBufferedMsgs)
	case "max_buffered_size":
		if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, notNegative) {
			t.StreamMaxBufferedSize = n
		}
	case "request_queue_limit":
		c.jsCount(key, e, &t.JetStreamRequestQueueLimit)
	case "info_queue_limit":
		c.jsCount(key, e, &t.JetStreamInfoQueueLimit)
	case "limits":
		c.parseJetStreamLimits(key, e)
	case "max_concurrent_io":
		if n, ok := c.int64(key, e); ok && (n < 4 || n > 8192) {
			c.errorf(e, "Expected an absolute size for %q between 4 and 8192, got %d", key, n)
			return
		}
		c.o.unsupported = append(c.o.unsupported, keyPos(e)+": jetstream "+key)
	case "extension_hint", "max_outstanding_catchup", "max_catchup", "meta_compact", "meta_compact_size",
		"meta_compact_sync", "tpm":
		// Clustering and TPM key storage are not built.
		c.o.unsupported = append(c.o.unsupported, keyPos(e)+": jetstream "+key)
	default:
		c.unknownField(e, key)
	}
}

func (c *cfg) jsCount(key string, e *conf.Value, dst *int) {
	if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, jsCountLimit) {
		*dst = int(n)
	}
}

// parseJetStreamLimits reads the limits sub-block.
func (c *cfg) parseJetStreamLimits(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	l := &c.o.JetStreamLimits
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "max_request_batch":
			c.jsCount(key, e, &l.MaxRequestBatch)
		case "max_ack_pending":
			c.jsCount(key, e, &l.MaxAckPending)
		case "max_ha_assets":
			c.jsCount(key, e, &l.MaxHAAssets)
		case "duplicate_window":
			if d, ok := c.duration(key, e); ok && c.inBound(e, key, int64(d), true, notNegative) {
				l.Duplicates = d
			}
		case "batch":
			// Atomic and fast batch publishing have their own limits,
			// served with those features.
			if _, ok := c.mapOf(key, e); ok {
				c.o.unsupported = append(c.o.unsupported, keyPos(e)+": jetstream limits batch")
			}
		default:
			c.unknownField(e, key)
		}
	}
}

// parseAccountJetStreamLimits reads accounts { A { jetstream { ... } } }
// under the reference's key names and aliases; unset limits are -1. It
// reports whether JetStream is enabled for the account.
func (c *cfg) parseAccountJetStreamLimits(account string, m map[string]*conf.Value) bool {
	l := unlimitedAccount()
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "max_memory", "max_mem", "mem", "memory":
			c.accountLimit(key, e, &l.MaxMemory)
		case "max_store", "max_file", "max_disk", "store", "disk":
			c.accountLimit(key, e, &l.MaxStore)
		case "max_streams", "streams":
			c.accountCount(key, e, &l.MaxStreams)
		case "max_consumers", "consumers":
			c.accountCount(key, e, &l.MaxConsumers)
		case "max_ack_pending":
			c.accountCount(key, e, &l.MaxAckPending)
		case "mem_max_stream_bytes", "memory_max_stream_bytes":
			c.accountLimit(key, e, &l.MemoryMaxStreamBytes)
		case "disk_max_stream_bytes", "store_max_stream_bytes":
			c.accountLimit(key, e, &l.StoreMaxStreamBytes)
		case "max_bytes_required", "max_stream_bytes", "max_bytes":
			l.MaxBytesRequired, _ = c.bool(key, e)
		case "cluster_traffic":
			if s, ok := c.str(key, e); ok && s != "system" && s != "owner" {
				c.errorf(e, "Expected either 'system' or 'owner' string value for %q, got %v", key, s)
			} else if s == "owner" {
				c.o.unsupported = append(c.o.unsupported, keyPos(e)+": cluster_traffic owner in account "+account)
			}
		default:
			c.unknownField(e, key)
		}
	}
	if c.o.JetStreamAccountLimits == nil {
		c.o.JetStreamAccountLimits = make(map[string]JetStreamAccountLimits)
	}
	c.o.JetStreamAccountLimits[account] = l
	return true
}

func (c *cfg) accountLimit(key string, e *conf.Value, dst *int64) {
	if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, storeLimit) {
		*dst = n
	}
}

// accountCount reads a count limit; 0 is kept as written (the reference
// reports it as 0 and, for counts, applies no limit).
func (c *cfg) accountCount(key string, e *conf.Value, dst *int) {
	if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, storeLimit) {
		*dst = int(min(n, math.MaxInt32))
	}
}

// validateJetStreamTuning checks the same ranges for options built in code.
func validateJetStreamTuning(o *Options) error {
	t := &o.JetStreamTuning
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"max_buffered_msgs", int64(t.StreamMaxBufferedMsgs)},
		{"max_buffered_size", t.StreamMaxBufferedSize},
		{"request_queue_limit", int64(t.JetStreamRequestQueueLimit)},
		{"info_queue_limit", int64(t.JetStreamInfoQueueLimit)},
		{"max_request_batch", int64(t.JetStreamLimits.MaxRequestBatch)},
		{"max_ack_pending", int64(t.JetStreamLimits.MaxAckPending)},
		{"max_ha_assets", int64(t.JetStreamLimits.MaxHAAssets)},
		{"duplicate_window", int64(t.JetStreamLimits.Duplicates)},
	} {
		if n.v < 0 {
			return fmtErr("%s", refusal(n.name, n.v, n.name == "duplicate_window", notNegative))
		}
	}
	return nil
}

// jetStreamAccountNames lists the accounts JetStream serves, as the
// reference picks them: the global account when no account other than the
// system account is configured, else the accounts with jetstream enabled.
// JetStream on the system account is refused.
func (s *Server) jetStreamAccountNames(o *Options) ([]string, error) {
	if operatorMode(o) {
		return nil, nil // account JWTs enable it (jwt_jetstream.go)
	}
	sys := o.SystemAccount
	if sys == "" {
		if sa := s.SystemAccount(); sa != nil {
			sys = sa.Name
		}
	}
	others := 0
	for _, a := range o.Accounts {
		if a.Name != sys {
			others++
		}
	}
	for _, name := range o.JetStreamAccounts {
		if name == sys {
			return nil, errors.New("Not allowed to enable JetStream on the system account")
		}
	}
	if others == 0 {
		return []string{DEFAULT_GLOBAL_ACCOUNT}, nil
	}
	return o.JetStreamAccounts, nil
}

// setTuning copies the tuning options JetStream reads at run time.
func (js *jetStream) setTuning(t JetStreamTuning) {
	js.maxBufferedMsgs, js.maxBufferedSize = jsDefaultMaxBufferedMsgs, jsDefaultMaxBufferedSize
	if t.StreamMaxBufferedMsgs > 0 {
		js.maxBufferedMsgs = t.StreamMaxBufferedMsgs
	}
	if t.StreamMaxBufferedSize > 0 {
		js.maxBufferedSize = int(min(t.StreamMaxBufferedSize, math.MaxInt))
	}
	js.limits.Store(&t.JetStreamLimits)
	js.uniqueTag = t.JetStreamUniqueTag
}

// reloadJetStream applies a reload's new limits block, account limits and
// raised server limits (checkReloadJetStream refused lower ones); the other
// JetStream options cannot change at run time (diffOptions refuses them, as
// the reference does).
func (s *Server) reloadJetStream(cur, next *Options) {
	js := s.js.Load()
	if js == nil {
		return
	}
	lim := next.JetStreamLimits
	js.limits.Store(&lim)
	if cur.JetStreamMaxMemory != next.JetStreamMaxMemory || cur.JetStreamMaxStore != next.JetStreamMaxStore {
		mem, store := js.storeLimits(next)
		js.maxMem.Store(mem)
		js.maxStore.Store(store)
	}
	for _, ja := range js.accounts() {
		ja.setLimits(next.JetStreamAccountLimits)
	}
}

// setLimits takes the account's limits from the configured ones (none
// configured: no limits).
func (ja *jsAccount) setLimits(all map[string]JetStreamAccountLimits) {
	l := unlimitedAccount()
	if configured, ok := all[ja.acc.Name]; ok {
		l = configured
	}
	ja.limits.Store(&l)
}

// storeLimits are the server's memory and storage limits the options ask
// for: max_memory_store and max_file_store, or the machine's defaults.
func (js *jetStream) storeLimits(o *Options) (mem, store int64) {
	mem, store = o.JetStreamMaxMemory, o.JetStreamMaxStore
	if mem <= 0 {
		mem = jsDefaultMaxMemory()
	}
	if store <= 0 {
		store = jsDefaultMaxStore(js.storeDir)
	}
	return mem, store
}

// checkReloadJetStream refuses a reload that lowers the server's JetStream
// limits, as the reference does; raising them is applied live.
func (s *Server) checkReloadJetStream(cur, next *Options) error {
	js := s.js.Load()
	if js == nil || (cur.JetStreamMaxMemory == next.JetStreamMaxMemory && cur.JetStreamMaxStore == next.JetStreamMaxStore) {
		return nil
	}
	mem, store := js.storeLimits(next)
	if mem < js.maxMem.Load() || store < js.maxStore.Load() {
		return errors.New("config reload not supported for decreasing jetstream max memory and store")
	}
	return nil
}
