package server

// storeGet reads seq from its block's decoded content, loading and
// verifying the block if it is not cached.
func (fs *FileStore) storeGet(seq uint64, sl *storeSlot, sm *StoreMsg) error {
	b := fs.bmap[uint32(sl.loc>>32)]
	if b == nil {
		return ErrStoreCorrupt
	}
	if err := fs.loadBlockLocked(b); err != nil {
		return ErrStoreCorrupt
	}
	off := uint32(sl.loc)
	var r fsRec
	if uint64(off) >= uint64(len(b.plain)) || fsParseRecord(b.plain[off:], fs.hkey, &r) != nil ||
		r.kind != fsKindMsg || r.seq != seq {
		fs.logf("corrupt message %d in block %d", seq, b.id)
		return ErrStoreCorrupt
	}
	// The index holds the subject as a string already: no allocation.
	subj := fs.idx.subjs[sl.subj].name
	if subj != string(r.subj) {
		return ErrStoreCorrupt
	}
	sm.copyFrom(subj, r.hdr, r.msg, seq, r.ts, r.ttl)
	return nil
}

// loadBlockLocked makes b's decoded content available.
func (fs *FileStore) loadBlockLocked(b *fsBlock) error {
	fs.useClock++
	b.lastUse = fs.useClock
	if b.plain != nil {
		return nil
	}
	data, err := fs.sys.ReadFile(b.path)
	if err != nil {
		return err
	}
	d, err := fsDecodeBlock(data, fs.blockAEAD)
	if err != nil {
		fs.logf("block %d unreadable: %v", b.id, err)
		return err
	}
	if d.bad > 0 {
		fs.logf("block %d: %d corrupt frames", b.id, d.bad)
	}
	plain := d.plain
	if uint32(len(plain)) < b.plainLen {
		plain = append(plain, make([]byte, int(b.plainLen)-len(plain))...)
	}
	if !d.hdr.framed() {
		// Copy so that the cache does not pin the file buffer's header.
		plain = append([]byte(nil), plain...)
	}
	b.plain = plain
	fs.cached += int64(len(plain))
	// Never b itself: its caller is about to read it, even when blocks
	// that cannot be evicted (active, not yet written) fill the budget.
	fs.evictExceptLocked(b)
	return nil
}

// evictLocked drops decoded content of the least recently used blocks that
// have nothing pending, until the cache fits its budget.
func (fs *FileStore) evictLocked() { fs.evictExceptLocked(nil) }

func (fs *FileStore) evictExceptLocked(keep *fsBlock) {
	for fs.cached > fs.fcfg.CacheSize {
		var victim *fsBlock
		for _, b := range fs.blks {
			if b == keep || b.plain == nil || b == fs.active || b.written.Load() < b.plainLen || b.f != nil {
				continue
			}
			if victim == nil || b.lastUse < victim.lastUse {
				victim = b
			}
		}
		if victim == nil {
			return
		}
		fs.cached -= int64(len(victim.plain))
		victim.plain = nil
	}
}
