package server

import (
	"sync"
	"time"
)

// storeDropKind says why a message leaves the store, which decides whether
// the file store must persist the removal.
type storeDropKind uint8

const (
	// storeDropLimit: removed by limits, age or TTL. Not persisted: the same
	// limits remove it again after a restart.
	storeDropLimit storeDropKind = iota
	// storeDropUser: an explicit removal, persisted as a tombstone.
	storeDropUser
	// storeDropErase: an explicit removal that also overwrites the bytes.
	storeDropErase
	// storeDropFloor: removed by a compaction floor persisted separately.
	storeDropFloor
)

// storeBackend is what a storage medium adds to the shared storeCore. All
// methods except storeLockIO and storeCommit run with storeCore.mu held.
type storeBackend interface {
	storePut(seq uint64, subj string, hdr, msg []byte, ts, ttl int64) (uint64, error)
	storeGet(seq uint64, sl *storeSlot, sm *StoreMsg) error
	storeDrop(seq uint64, sl storeSlot, kind storeDropKind) error
	storeSkip(seq uint64, ts int64) error
	storeFloor(seq uint64) error
	storeTruncate(seq uint64) error
	storeSetConfig(cfg *StreamConfig) error
	// storeTicket names the writes made so far; storeCommit(t) returns once
	// they are as durable as the sync policy promises.
	storeTicket() uint64
	storeCommit(t uint64) error
	// storeLockIO excludes the write path for operations that rewrite files;
	// it is taken before storeCore.mu.
	storeLockIO() func()
}

// Accounted size of a message, as the reference reports it in a stream's
// bytes (and so in account usage, max_bytes and discard new): its subject,
// headers and payload plus a fixed overhead per store type. The file store
// counts its record framing, 30 bytes and 4 more when there are headers (the
// reference stores the header length only then); the memory store counts 16.
// Our file records are larger (fsRecMin, always with a header length), so the
// file store's block bookkeeping is kept in these accounted units too, which
// lets a slot's size serve both the stream's and its block's counters.
const (
	storeFileMsgOverhead = 30
	storeFileHdrOverhead = 4
	storeMemMsgOverhead  = 16
)

// storeMsgSize is the accounted size of a message in a store of type typ.
func storeMsgSize(typ StorageType, subj string, hdr, msg []byte) uint64 {
	return storeSizeOf(typ, len(subj)+len(hdr)+len(msg), len(hdr) > 0)
}

// storeSizeOf is the accounted size of a message whose subject, headers and
// payload take n bytes.
func storeSizeOf(typ StorageType, n int, hasHdr bool) uint64 {
	if typ == MemoryStorage {
		return uint64(n + storeMemMsgOverhead)
	}
	if hasHdr {
		n += storeFileHdrOverhead
	}
	return uint64(n + storeFileMsgOverhead)
}

func storeTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// storeCore holds the logic both stores share: sequencing, limits, expiry,
// state and lookups through the storeIndex.
type storeCore struct {
	mu       sync.Mutex
	cfg      StreamConfig
	idx      *storeIndex
	be       storeBackend
	closed   bool
	lost     *LostStreamData
	lostFrom uint64 // lowest sequence found lost (store_repair.go)
	expTimer *time.Timer
	expAt    int64
	ncons    int
	typ      StorageType     // Decides the accounted size of a message.
	expiry   storeExpiryHook // subjects emptied by expiry, for delete markers (stream_ttl.go)
}

func (c *storeCore) init(cfg *StreamConfig, be storeBackend) {
	c.cfg = *cfg
	c.typ = cfg.Storage
	c.idx = newStoreIndex()
	c.be = be
}

// StoreMsg implements StreamStore.
func (c *storeCore) StoreMsg(subj string, hdr, msg []byte, ttl int64) (uint64, int64, error) {
	seq, ts, err := c.appendMsg(subj, hdr, msg, ttl)
	if err != nil {
		return 0, 0, err
	}
	if err := c.commitAppended(); err != nil {
		return 0, 0, err
	}
	return seq, ts, nil
}

// StoreRawMsg implements StreamStore.
func (c *storeCore) StoreRawMsg(subj string, hdr, msg []byte, seq uint64, ts, ttl int64) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrStoreClosed
	}
	var err error
	if seq <= c.idx.last {
		err = ErrStoreSequenceMismatch
	} else if seq > storeMaxSeq {
		err = ErrStoreBadSequence
	} else {
		err = c.storeLocked(subj, hdr, msg, seq, ts, ttl)
	}
	t := c.be.storeTicket()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.be.storeCommit(t)
}

func (c *storeCore) storeLocked(subj string, hdr, msg []byte, seq uint64, ts, ttl int64) error {
	if !IsValidSubject(subj) || len(subj) > 0xffff { // wildcards are stored as literal tokens, as the reference does
		return ErrStoreInvalidSubject
	}
	if c.cfg.MaxMsgSize > 0 && len(hdr)+len(msg) > int(c.cfg.MaxMsgSize) {
		return ErrStoreMsgTooLarge
	}
	if fsRecordLen(subj, hdr, msg) > fsRecMaxSize {
		return ErrStoreMsgTooLarge
	}
	size := storeMsgSize(c.typ, subj, hdr, msg)
	if err := c.idx.checkDiscardNew(&c.cfg, subj, size); err != nil {
		return err
	}
	if ttl < 0 {
		ttl = -1 // never: exempt from max_age
	}
	if seq > storeMaxSeq || (c.idx.msgs > 0 && seq-c.idx.last > storeMaxSlotGap) {
		return ErrStoreBadSequence
	}
	loc, err := c.be.storePut(seq, subj, hdr, msg, ts, ttl)
	if err != nil {
		return err
	}
	if err := c.idx.add(seq, subj, ts, uint32(size), loc, ttl); err != nil {
		return err
	}
	c.enforceLimitsLocked(c.idx.subjIDs[subj])
	if ttl > 0 || c.cfg.MaxAge > 0 {
		c.armExpiryLocked()
	}
	return nil
}

// enforceLimitsLocked removes what the limits no longer allow after a store
// to subject id (0: check every subject).
func (c *storeCore) enforceLimitsLocked(id uint32) {
	if id == 0 {
		for _, seq := range c.idx.overPerSubject(c.cfg.MaxMsgsPer) {
			c.dropLocked(seq, storeDropLimit)
		}
	}
	for {
		seq, ok := c.idx.limitVictim(&c.cfg, id)
		if !ok {
			return
		}
		if !c.dropLocked(seq, storeDropLimit) {
			return
		}
	}
}

func (c *storeCore) dropLocked(seq uint64, kind storeDropKind) bool {
	sl, ok := c.idx.remove(seq)
	if !ok {
		return false
	}
	if err := c.be.storeDrop(seq, sl, kind); err != nil {
		return false
	}
	return true
}

func (c *storeCore) armExpiryLocked() {
	if c.closed {
		return
	}
	next, ok := c.idx.nextExpiry(int64(c.cfg.MaxAge))
	if !ok {
		return
	}
	if c.expTimer != nil && c.expAt != 0 && c.expAt <= next {
		return
	}
	c.expAt = next
	d := time.Duration(next - time.Now().UnixNano())
	if c.expTimer == nil {
		c.expTimer = time.AfterFunc(d, c.expire)
	} else {
		c.expTimer.Reset(d)
	}
}

func (c *storeCore) expire() {
	unlock := c.be.storeLockIO()
	c.mu.Lock()
	c.expAt = 0
	if c.closed {
		c.mu.Unlock()
		unlock()
		return
	}
	for _, seq := range c.idx.expired(time.Now().UnixNano(), int64(c.cfg.MaxAge)) {
		c.noteExpiringLocked(seq)
		c.dropLocked(seq, storeDropLimit)
	}
	c.armExpiryLocked()
	t := c.be.storeTicket()
	c.mu.Unlock()
	unlock()
	_ = c.be.storeCommit(t)
	c.flushExpiry()
}

// SkipMsg implements StreamStore.
func (c *storeCore) SkipMsg() uint64 {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0
	}
	seq := c.idx.last + 1
	ts := time.Now().UnixNano()
	if seq > storeMaxSeq {
		c.mu.Unlock()
		return 0
	}
	if c.be.storeSkip(seq, ts) == nil {
		c.idx.skipTo(seq, ts)
	}
	t := c.be.storeTicket()
	c.mu.Unlock()
	_ = c.be.storeCommit(t)
	return seq
}

// SkipMsgs implements StreamStore.
func (c *storeCore) SkipMsgs(seq, num uint64) error {
	c.mu.Lock()
	if seq != c.idx.last+1 || num == 0 {
		c.mu.Unlock()
		return ErrStoreSequenceMismatch
	}
	if (c.idx.msgs > 0 && num > storeMaxSlotGap) || num > storeMaxSeq-c.idx.last {
		c.mu.Unlock()
		return ErrStoreBadSequence
	}
	ts := time.Now().UnixNano()
	last := seq + num - 1
	err := c.be.storeSkip(last, ts)
	if err == nil {
		c.idx.skipTo(last, ts)
	}
	t := c.be.storeTicket()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.be.storeCommit(t)
}

// loadLocked reads seq, dropping and recording it as lost if corrupt.
func (c *storeCore) loadLocked(seq uint64, sm *StoreMsg) (*StoreMsg, error) {
	sl := c.idx.slot(seq)
	if sl == nil {
		if seq > c.idx.last {
			return nil, ErrStoreEOF
		}
		return nil, ErrStoreMsgNotFound
	}
	if sm == nil {
		sm = new(StoreMsg)
	}
	if err := c.be.storeGet(seq, sl, sm); err != nil {
		if err == ErrStoreCorrupt {
			c.markLostLocked(seq)
		}
		return nil, err
	}
	return sm, nil
}

func (c *storeCore) markLostLocked(seq uint64) {
	sl, ok := c.idx.remove(seq)
	if !ok {
		return
	}
	if c.lost == nil {
		c.lost = &LostStreamData{}
	}
	c.lost.Msgs = append(c.lost.Msgs, seq)
	c.lost.Bytes += uint64(sl.size)
	c.noteLostFrom(seq)
}

// LoadMsg implements StreamStore.
func (c *storeCore) LoadMsg(seq uint64, sm *StoreMsg) (*StoreMsg, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrStoreClosed
	}
	return c.loadLocked(seq, sm)
}

// LoadLastMsg implements StreamStore.
func (c *storeCore) LoadLastMsg(subj string, sm *StoreMsg) (*StoreMsg, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrStoreClosed
	}
	for {
		seq, ok := c.idx.lastMatch(subj)
		if !ok {
			return nil, ErrStoreMsgNotFound
		}
		m, err := c.loadLocked(seq, sm)
		if err != ErrStoreCorrupt {
			return m, err
		}
	}
}

// LoadNextMsg implements StreamStore.
func (c *storeCore) LoadNextMsg(filter string, start uint64, sm *StoreMsg) (*StoreMsg, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, 0, ErrStoreClosed
	}
	for {
		seq, ok := c.idx.nextMatch(filter, start)
		if !ok {
			return nil, c.idx.last, ErrStoreEOF
		}
		m, err := c.loadLocked(seq, sm)
		if err != ErrStoreCorrupt {
			return m, seq, err
		}
		start = seq + 1
	}
}

// RemoveMsg implements StreamStore.
func (c *storeCore) RemoveMsg(seq uint64) (bool, error) { return c.removeMsg(seq, storeDropUser) }

// EraseMsg implements StreamStore.
func (c *storeCore) EraseMsg(seq uint64) (bool, error) { return c.removeMsg(seq, storeDropErase) }

func (c *storeCore) removeMsg(seq uint64, kind storeDropKind) (bool, error) {
	// Only erasure rewrites files; a plain removal appends a tombstone.
	unlock := storeNoUnlock
	if kind == storeDropErase {
		unlock = c.be.storeLockIO()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		unlock()
		return false, ErrStoreClosed
	}
	sl, ok := c.idx.remove(seq)
	var err error
	if ok {
		err = c.be.storeDrop(seq, sl, kind)
	}
	t := c.be.storeTicket()
	c.mu.Unlock()
	unlock()
	if err != nil {
		return false, err
	}
	if !ok {
		return false, nil
	}
	return true, c.be.storeCommit(t)
}

// Purge implements StreamStore.
func (c *storeCore) Purge() (uint64, error) { return c.compact(0, true) }

// Compact implements StreamStore.
func (c *storeCore) Compact(seq uint64) (uint64, error) { return c.compact(seq, false) }

func (c *storeCore) compact(seq uint64, all bool) (uint64, error) {
	unlock := c.be.storeLockIO()
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrStoreClosed
	}
	if all {
		seq = c.idx.last + 1
	}
	if seq == 0 || seq > storeMaxSeq {
		return 0, ErrStoreBadSequence
	}
	var purged uint64
	c.idx.liveRange(c.idx.first, seq-1, func(s uint64, _ *storeSlot) bool {
		purged++
		return true
	})
	for c.idx.msgs > 0 && c.idx.first < seq {
		c.dropLocked(c.idx.first, storeDropFloor)
	}
	if seq > c.idx.last+1 {
		c.idx.skipTo(seq-1, c.idx.lastTs)
	}
	if c.idx.msgs == 0 {
		c.idx.first = c.idx.last + 1
	}
	return purged, c.be.storeFloor(seq)
}

// PurgeEx implements StreamStore.
func (c *storeCore) PurgeEx(subject string, seq, keep uint64) (uint64, error) {
	if storeFilterAll(subject) && keep == 0 {
		if seq == 0 {
			return c.Purge()
		}
		return c.Compact(seq)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrStoreClosed
	}
	victims := c.idx.purgeVictims(subject, seq, keep)
	var n uint64
	for _, v := range victims {
		if c.dropLocked(v, storeDropUser) {
			n++
		}
	}
	t := c.be.storeTicket()
	c.mu.Unlock()
	return n, c.be.storeCommit(t)
}

// Truncate implements StreamStore.
func (c *storeCore) Truncate(seq uint64) error {
	unlock := c.be.storeLockIO()
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	if seq > c.idx.last {
		return ErrStoreBadSequence
	}
	if seq == c.idx.last {
		return nil
	}
	for c.idx.msgs > 0 {
		last, _ := c.idx.lastMatch("")
		if last <= seq {
			break
		}
		c.idx.remove(last)
	}
	x := c.idx
	x.last = seq
	if x.msgs == 0 {
		x.slots, x.base, x.first = x.slots[:0], seq+1, seq+1
	} else if n := seq - x.base + 1; n < uint64(len(x.slots)) {
		// Skips do not extend the slots, so they may already end earlier.
		x.slots = x.slots[:n]
		x.lastTs = x.slots[n-1].ts
	}
	return c.be.storeTruncate(seq)
}

// State implements StreamStore.
func (c *storeCore) State() StreamState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st StreamState
	c.fastStateLocked(&st)
	st.Deleted = c.idx.deleted()
	return st
}

// FastState implements StreamStore.
func (c *storeCore) FastState(st *StreamState) {
	c.mu.Lock()
	c.fastStateLocked(st)
	c.mu.Unlock()
}

func (c *storeCore) fastStateLocked(st *StreamState) {
	c.idx.fastState(st)
	st.Consumers = c.ncons
	st.Lost = nil
	if c.lost != nil {
		st.Lost = &LostStreamData{Msgs: append([]uint64(nil), c.lost.Msgs...), Bytes: c.lost.Bytes}
	}
}

// SubjectsState implements StreamStore.
func (c *storeCore) SubjectsState(filter string) map[string]SimpleState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idx.subjectsState(filter)
}

// SubjectsTotals implements StreamStore.
func (c *storeCore) SubjectsTotals(filter string) map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idx.subjectsTotals(filter)
}

// UpdateConfig implements StreamStore.
func (c *storeCore) UpdateConfig(cfg *StreamConfig) error {
	unlock := c.be.storeLockIO()
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	nc := *cfg
	nc.Storage = c.cfg.Storage
	if err := c.be.storeSetConfig(&nc); err != nil {
		return err
	}
	c.cfg = nc
	c.enforceLimitsLocked(0)
	for _, seq := range c.idx.expired(time.Now().UnixNano(), int64(c.cfg.MaxAge)) {
		c.noteExpiringLocked(seq)
		c.dropLocked(seq, storeDropLimit)
	}
	c.expAt = 0
	c.armExpiryLocked()
	return nil
}

// stopCore marks the core closed and stops its timer.
func (c *storeCore) stopCoreLocked() {
	c.closed = true
	if c.expTimer != nil {
		c.expTimer.Stop()
	}
}
