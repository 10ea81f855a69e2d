package server

// What a store tells the replication layer about data it lost to
// corruption. A single-copy stream can only report the loss; a replica of a
// replicated stream cuts its store back to just before the first lost
// sequence and fetches everything after it again, from its own Raft log or
// from its peers (stream_replicate_repair.go). One sequence is enough for
// that: everything after it is fetched again, so a loss whose exact
// sequences are unknown (the end of a block cut short, a block whose header
// is unreadable) is repaired as well as one between two intact messages.

// storeLossReporter is implemented by the stores (storeCore): the lowest
// sequence found lost since the store opened or since the last clearLost,
// 0 if none.
type storeLossReporter interface {
	lostFromSeq() uint64
	clearLostFrom(seq uint64)
}

// noteLostFrom records that data from seq on may be lost. Holds c.mu (or
// runs during recovery, before the store is shared).
func (c *storeCore) noteLostFrom(seq uint64) {
	if seq > 0 && (c.lostFrom == 0 || seq < c.lostFrom) {
		c.lostFrom = seq
	}
}

func (c *storeCore) lostFromSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostFrom
}

// clearLostFrom forgets the losses from seq on, once they were repaired;
// a loss found meanwhile below seq stays.
func (c *storeCore) clearLostFrom(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lostFrom >= seq {
		c.lostFrom = 0
	}
}

// storeLostFrom is st's lowest lost sequence (0: none, or a store that
// does not tell).
func storeLostFrom(s StreamStore) uint64 {
	if lr, ok := s.(storeLossReporter); ok {
		return lr.lostFromSeq()
	}
	return 0
}
