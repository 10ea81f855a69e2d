package server

import "sync/atomic"

// Server-wide JetStream resource limits (max_memory_store, max_file_store),
// as the reference applies them: a stream's max_bytes is reserved at create
// and update time (err 10028 memory, 10047 storage), and a publish is
// refused with err 10023 once the bytes stored of the stream's storage type
// exceed the limit.

// maxFor is the server limit of a storage type.
func (js *jetStream) maxFor(st StorageType) int64 {
	if st == MemoryStorage {
		return js.maxMem
	}
	return js.maxStore
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

// checkReservation refuses a config whose max_bytes does not fit in what
// the other streams of its storage type leave.
func (ja *jsAccount) checkReservation(cfg *StreamConfig) *ApiError {
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

// noteStored adds a stored message to the usage estimate.
func (st *stream) noteStored(subject string, hdr, msg []byte) {
	st.ja.js.usageOf(st.store.Type()).added.Add(int64(len(subject) + len(hdr) + len(msg) + jsRecordOverhead))
}
