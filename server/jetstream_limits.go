package server

import (
	"sync/atomic"
	"time"
)

// JetStream resource limits as the reference applies them. Server-wide
// (max_memory_store, max_file_store): a stream's max_bytes is reserved at
// create and update time (err 10028 memory, 10047 storage), and a publish
// is refused with err 10023 once the bytes stored of the stream's storage
// type exceed the limit. Per account (accounts { A { jetstream { ... } } }):
// the number of streams (10027), max_bytes required (10113) and capped
// (10122), the account's reservations (10028/10047), and a publish that
// would take the account's bytes of its storage type over the limit
// (10002).

// maxFor is the server limit of a storage type.
func (js *jetStream) maxFor(st StorageType) int64 {
	if st == MemoryStorage {
		return js.maxMem.Load()
	}
	return js.maxStore.Load()
}

// usedAndReserved sums the bytes stored and the max_bytes reserved by the
// streams of storage type typ, leaving out the stream named except in
// account exceptAcc. It reads each store's fast state: O(streams), which is
// what a store-side usage callback will replace.
func (js *jetStream) usedAndReserved(typ StorageType, exceptAcc, except string) (used, reserved uint64) {
	js.mu.RLock()
	defer js.mu.RUnlock()
	var ss StreamState
	for _, ja := range js.accts {
		ja.mu.RLock()
		for name, st := range ja.streams {
			if st.store.Type() != typ || (ja.acc.Name == exceptAcc && name == except) {
				continue
			}
			st.store.FastState(&ss)
			used += ss.Bytes
			if mb := st.cfg().MaxBytes; mb > 0 {
				reserved += uint64(mb)
			}
		}
		ja.mu.RUnlock()
	}
	return used, reserved
}

// checkReservation refuses a config the account's limits do not allow, or
// whose max_bytes does not fit in what the other streams of its storage
// type leave. The caller holds createMu.
func (ja *jsAccount) checkReservation(cfg *StreamConfig) *ApiError {
	if e := ja.checkAccountLimits(cfg); e != nil {
		return e
	}
	if cfg.MaxBytes <= 0 {
		return nil
	}
	_, reserved := ja.js.usedAndReserved(cfg.Storage, ja.acc.Name, cfg.Name)
	if reserved+uint64(cfg.MaxBytes) <= uint64(ja.js.maxFor(cfg.Storage)) {
		return nil
	}
	if cfg.Storage == MemoryStorage {
		return jsError(jsMemoryResourcesExceeded)
	}
	return jsError(jsStorageResourcesExceeded)
}

// jsUsageEstimate keeps, per storage type, an upper bound of the bytes
// stored server-wide without reading every store on every publish: the
// last exact sum plus a generous size of every message stored since.
// Removals only lower the real usage, so the bound never misses the
// limit; when it crosses the limit, the exact sum decides.
type jsUsageEstimate struct {
	exact atomic.Int64 // last exact sum; -1 until first computed
	added atomic.Int64 // upper bound of bytes stored since
}

// jsRecordOverhead over-counts a stored message's framing, so that the
// estimate stays above what the stores report.
const jsRecordOverhead = 64

func (js *jetStream) usageOf(typ StorageType) *jsUsageEstimate {
	if typ == MemoryStorage {
		return &js.memUsage
	}
	return &js.fileUsage
}

// limitsExceeded says why a publish of m must be refused for lack of
// resources, nil if it may be stored.
func (st *stream) limitsExceeded(m *inMsg) *ApiError {
	if st.overLimit() {
		return jsError(jsInsufficientResources)
	}
	if st.ja.overAccountLimit(st.store.Type(), storeMsgSize(st.store.Type(), m.subject, m.hdr, m.msg)) {
		return jsError(jsAccountResourcesExceeded)
	}
	return nil
}

// batchLimitsExceeded is limitsExceeded for an atomic batch, which the
// account's limit must take as a whole.
func (st *stream) batchLimitsExceeded(msgs []storeBatchMsg) *ApiError {
	if st.overLimit() {
		return jsError(jsInsufficientResources)
	}
	typ := st.store.Type()
	var size uint64
	for i := range msgs {
		size += storeMsgSize(typ, msgs[i].subject, msgs[i].hdr, msgs[i].msg)
	}
	if st.ja.overAccountLimit(typ, size) {
		return jsError(jsAccountResourcesExceeded)
	}
	return nil
}

// overLimit reports whether the stream's storage type is already above the
// server's limit, so that a publish must be refused.
func (st *stream) overLimit() bool {
	js, typ := st.ja.js, st.store.Type()
	u, max := js.usageOf(typ), js.maxFor(typ)
	if e := u.exact.Load(); e >= 0 && e+u.added.Load() <= max {
		return false
	}
	since := u.added.Load()
	used, _ := js.usedAndReserved(typ, "", "")
	u.exact.Store(int64(used))
	u.added.Add(-since) // what was stored meanwhile stays counted (twice: safe)
	return int64(used) > max
}

// noteStored adds a stored message to the usage estimates.
func (st *stream) noteStored(subject string, hdr, msg []byte) {
	n := int64(len(subject) + len(hdr) + len(msg) + jsRecordOverhead)
	st.ja.js.usageOf(st.store.Type()).added.Add(n)
	st.ja.usageOf(st.store.Type()).added.Add(n)
}

func (ja *jsAccount) usageOf(typ StorageType) *jsUsageEstimate {
	if typ == MemoryStorage {
		return &ja.memUsage
	}
	return &ja.fileUsage
}

// accountLimit is the account's byte limit of a storage type (-1: none).
func (ja *jsAccount) accountLimit(typ StorageType) int64 {
	if typ == MemoryStorage {
		return ja.limits.Load().MaxMemory
	}
	return ja.limits.Load().MaxStore
}

// overAccountLimit reports whether storing size more bytes of type typ
// would take the account over its limit. Far from the limit it decides on
// the estimate; near it, on the exact sum of the account's stores.
func (ja *jsAccount) overAccountLimit(typ StorageType, size uint64) bool {
	max := ja.accountLimit(typ)
	if max < 0 {
		return false
	}
	u := ja.usageOf(typ)
	if e := u.exact.Load(); e >= 0 && e+u.added.Load()+int64(size) <= max {
		return false
	}
	since := u.added.Load()
	used, _ := ja.usedAndReserved(typ, "")
	u.exact.Store(int64(used))
	u.added.Add(-since)
	return int64(used+size) > max
}

// usedAndReserved sums the account's bytes stored and max_bytes reserved
// in streams of type typ, leaving out the stream named except.
func (ja *jsAccount) usedAndReserved(typ StorageType, except string) (used, reserved uint64) {
	var ss StreamState
	for _, st := range ja.streamList() {
		if st.store.Type() != typ || st.name == except {
			continue
		}
		st.store.FastState(&ss)
		used += ss.Bytes
		if mb := st.cfg().MaxBytes; mb > 0 {
			reserved += uint64(mb)
		}
	}
	return used, reserved
}

// checkAccountLimits applies the account's limits to a stream config, in
// the reference's order. The caller holds createMu, so the stream count
// and reservations cannot change meanwhile.
func (ja *jsAccount) checkAccountLimits(cfg *StreamConfig) *ApiError {
	l := ja.limits.Load()
	isNew := ja.lookupStream(cfg.Name) == nil
	if isNew && l.MaxStreams > 0 && len(ja.streamList()) >= l.MaxStreams {
		return jsError(jsMaximumStreamsLimit)
	}
	if l.MaxBytesRequired && cfg.MaxBytes <= 0 {
		return jsError(jsStreamMaxBytesRequired)
	}
	maxStream := l.StoreMaxStreamBytes
	if cfg.Storage == MemoryStorage {
		maxStream = l.MemoryMaxStreamBytes
	}
	if maxStream > 0 && cfg.MaxBytes > maxStream {
		return jsError(jsStreamMaxStreamBytes)
	}
	max := ja.accountLimit(cfg.Storage)
	if max < 0 {
		return nil
	}
	_, reserved := ja.usedAndReserved(cfg.Storage, cfg.Name)
	if max == 0 || (cfg.MaxBytes > 0 && reserved+uint64(cfg.MaxBytes) > uint64(max)) {
		if cfg.Storage == MemoryStorage {
			return jsError(jsMemoryResourcesExceeded)
		}
		return jsError(jsStorageResourcesExceeded)
	}
	return nil
}

// streamConfigLimits are the server settings a stream config is read and
// checked against: strict decoding and the limits block's duplicate_window.
type streamConfigLimits struct {
	strict        bool
	maxDuplicates time.Duration
	clustered     bool // num_replicas > 1 is possible
}

func (js *jetStream) configLimits() streamConfigLimits {
	return streamConfigLimits{strict: js.strict, maxDuplicates: js.limits.Load().Duplicates,
		clustered: js.cluster != nil}
}

// defaults gives a config without a duplicate window the server's cap when
// that is below the usual default (and max_age below both, as usual).
func (l streamConfigLimits) defaults(c *StreamConfig) {
	if c.Duplicates != 0 || l.maxDuplicates <= 0 || l.maxDuplicates >= jsDefaultDuplicates {
		return
	}
	c.Duplicates = l.maxDuplicates
	if c.MaxAge > 0 && c.MaxAge < c.Duplicates {
		c.Duplicates = c.MaxAge
	}
}

// check applies the server's own rules: a placement without a preferred
// server (an empty one is dropped, as the reference does), and a duplicate
// window within the server's cap.
func (l streamConfigLimits) check(c *StreamConfig) *ApiError {
	if c.Replicas > 1 {
		if !l.clustered {
			return jsError(jsStreamReplicasNotSupp)
		}
		if f := replicatedUnsupported(c); f != "" {
			return jsError(jsStreamInvalidConfig, f+" on replicated streams is not supported yet")
		}
	}
	if p := c.Placement; p != nil {
		if p.Preferred != "" {
			return jsError(jsStreamInvalidConfig, "preferred server not permitted in placement")
		}
		if p.Cluster == "" && p.Tags == nil {
			c.Placement = nil
		}
	}
	if l.maxDuplicates > 0 && c.Duplicates > l.maxDuplicates {
		return jsError(jsStreamInvalidConfig,
			"duplicates window can not be larger then server limit of "+l.maxDuplicates.String())
	}
	return nil
}
