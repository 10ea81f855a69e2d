package server

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

// overLimit reports whether the stream's storage type is already above the
// server's limit, so that a publish must be refused.
func (st *stream) overLimit() bool {
	typ := st.store.Type()
	used, _ := st.ja.js.usedAndReserved(typ, "", "")
	return used > uint64(st.ja.js.maxFor(typ))
}
