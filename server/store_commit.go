package server

import "time"

// Deferred commits. StoreMsg is appendMsg followed by commitAppended: the
// message is in the index (readable) at once and durable, as far as the
// sync policy promises, once a commit covering it returns. A writer with
// many messages in hand (a stream's ingest round) appends them all and
// commits once: one write, and with sync_interval: always one fsync, for
// the whole round. Nothing may be acknowledged before that commit returned.

// storeAppender is implemented by both stores (through storeCore).
type storeAppender interface {
	// appendMsg is StoreMsg without waiting for durability.
	appendMsg(subj string, hdr, msg []byte, ttl int64) (uint64, int64, error)
	// appendRawMsg is StoreRawMsg without waiting for durability.
	appendRawMsg(subj string, hdr, msg []byte, seq uint64, ts, ttl int64) error
	// commitAppended returns once everything appended so far is durable,
	// or with the write error that prevented it.
	commitAppended() error
}

var (
	_ storeAppender = (*FileStore)(nil)
	_ storeAppender = (*MemStore)(nil)
)

func (c *storeCore) appendMsg(subj string, hdr, msg []byte, ttl int64) (uint64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, 0, ErrStoreClosed
	}
	seq, ts := c.idx.last+1, time.Now().UnixNano()
	if err := c.storeLocked(subj, hdr, msg, seq, ts, ttl); err != nil {
		return 0, 0, err
	}
	return seq, ts, nil
}

func (c *storeCore) appendRawMsg(subj string, hdr, msg []byte, seq uint64, ts, ttl int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrStoreClosed
	case seq <= c.idx.last:
		return ErrStoreSequenceMismatch
	case seq > storeMaxSeq:
		return ErrStoreBadSequence
	}
	return c.storeLocked(subj, hdr, msg, seq, ts, ttl)
}

func (c *storeCore) commitAppended() error {
	c.mu.Lock()
	t := c.be.storeTicket()
	c.mu.Unlock()
	return c.be.storeCommit(t)
}
