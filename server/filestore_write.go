package server

import (
	"crypto/cipher"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// The write path. A store appends its record to the active block's cached
// content and to the pending list under storeCore.mu, then calls
// storeCommit. The first committer to take wmu becomes the leader: it takes
// every pending range, writes each block's share with one write (one frame
// when encrypted) and, with SyncAlways, one fsync; writers that queued on
// wmu meanwhile find their data already durable or lead the next batch.
// That is the group commit: fsyncs are shared by all concurrent writers.

func (fs *FileStore) blockAEAD(h *fsBlkHeader) (cipher.AEAD, error) {
	if h.cipher == NoCipher {
		return nil, nil
	}
	key := fs.streamKeyFor(h.keyGen)
	if key == nil {
		return nil, errFsNoKey
	}
	return fsNewAEAD(h.cipher, fsDerive(key, "block:"+string(h.salt[:])))
}

func (fs *FileStore) blockPath(id uint32) string {
	return filepath.Join(fs.mdir, fmt.Sprintf("%d.blk", id))
}

// newBlockLocked starts a new active block; its file is created by the
// writer so that creation I/O happens outside storeCore.mu.
func (fs *FileStore) newBlockLocked() (*fsBlock, error) {
	fs.nextID++
	h := fsBlkHeader{cipher: NoCipher, salt: fsNewSalt()}
	if fs.skey != nil {
		h.cipher, h.keyGen = fs.cipher, fs.kgen
	}
	aead, err := fs.blockAEAD(&h)
	if err != nil {
		return nil, err
	}
	// Small at first so that idle streams cost little; grown by doubling up
	// to the block size (see growBlockLocked).
	b := &fsBlock{id: fs.nextID, hdr: h, aead: aead, path: fs.blockPath(fs.nextID),
		plain: make([]byte, 0, min(fs.fcfg.BlockSize+fsRecMin, fsInitialBlockCap))}
	fs.useClock++
	b.lastUse = fs.useClock
	fs.blks = append(fs.blks, b)
	fs.bmap[b.id] = b
	if fs.active != nil {
		fs.sealActiveLocked()
	}
	fs.active = b
	return b, nil
}

// sealActiveLocked ends the active block with an end record and queues it
// for sealing by the writer.
func (fs *FileStore) sealActiveLocked() {
	b := fs.active
	if b.plainLen > 0 {
		fs.appendToBlockLocked(b, fsKindEnd, b.maxSeq, storeNowNano(), int64(b.nrec), "", nil, nil)
	}
	b.sealed = true
	fs.toSeal = append(fs.toSeal, b)
	fs.active = nil
}

// appendRecordLocked adds one record to the active block, rotating first
// if it would overflow, and returns its block and offset.
func (fs *FileStore) appendRecordLocked(kind uint8, seq uint64, ts, ttl int64, subj string, hdr, msg []byte) (*fsBlock, uint32, error) {
	if e := fs.werr.Load(); e != nil {
		return nil, 0, *e
	}
	n := fsRecordLen(subj, hdr, msg)
	b := fs.active
	if b == nil || (b.plainLen > 0 && uint64(b.plainLen)+uint64(n) > uint64(fs.fcfg.BlockSize)) {
		var err error
		if b, err = fs.newBlockLocked(); err != nil {
			return nil, 0, err
		}
	}
	return b, fs.appendToBlockLocked(b, kind, seq, ts, ttl, subj, hdr, msg), nil
}

// appendToBlockLocked appends a record to b and queues it for writing.
func (fs *FileStore) appendToBlockLocked(b *fsBlock, kind uint8, seq uint64, ts, ttl int64, subj string, hdr, msg []byte) uint32 {
	n := fsRecordLen(subj, hdr, msg)
	off := b.plainLen
	if cap(b.plain)-len(b.plain) < n {
		fs.growBlockLocked(b, n)
	}
	b.plain = fsAppendRecord(b.plain, fs.hkey, kind, seq, ts, ttl, subj, hdr, msg)
	b.plainLen += uint32(n)
	fs.cached += int64(n)
	if k := len(fs.pend); k > 0 && fs.pend[k-1].b == b && fs.pend[k-1].to == off {
		fs.pend[k-1].to = b.plainLen
	} else {
		fs.pend = append(fs.pend, fsPend{b: b, from: off, to: b.plainLen})
	}
	fs.pendEnd += uint64(n)
	switch kind {
	case fsKindMsg:
		b.addMsg(seq, storeMsgSize(FileStorage, subj, hdr, msg))
	case fsKindSkip:
		b.maxSeq = max(b.maxSeq, seq)
	case fsKindFloor:
		b.maxSeq = max(b.maxSeq, seq-1)
	}
	b.nrec++
	return off
}

// fsInitialBlockCap is the starting capacity of an active block's buffer.
const fsInitialBlockCap = 64 << 10

// growBlockLocked doubles b's buffer, never past what the block can hold
// (plus its end record), so a full block is not copied one extra time.
func (fs *FileStore) growBlockLocked(b *fsBlock, n int) {
	need := len(b.plain) + n
	c := max(2*cap(b.plain), need)
	if limit := int(fs.fcfg.BlockSize) + fsRecMin; c > limit {
		c = max(limit, need+fsRecMin)
	}
	nb := make([]byte, len(b.plain), c)
	copy(nb, b.plain)
	b.plain = nb
}

func (fs *FileStore) storePut(seq uint64, subj string, hdr, msg []byte, ts, ttl int64) (uint64, error) {
	b, off, err := fs.appendRecordLocked(fsKindMsg, seq, ts, ttl, subj, hdr, msg)
	if err != nil {
		return 0, err
	}
	return uint64(b.id)<<32 | uint64(off), nil
}

func (fs *FileStore) storeSkip(seq uint64, ts int64) error {
	_, _, err := fs.appendRecordLocked(fsKindSkip, seq, ts, 0, "", nil, nil)
	return err
}

func (fs *FileStore) storeTicket() uint64 { return fs.pendEnd }

func (fs *FileStore) storeLockIO() func() {
	fs.wmu.Lock()
	return fs.unlockIO
}

func (fs *FileStore) writeErr() error {
	if e := fs.werr.Load(); e != nil {
		return *e
	}
	return nil
}

func (fs *FileStore) storeCommit(t uint64) error {
	if fs.done.Load() >= t {
		return fs.writeErr()
	}
	// One leader at a time; the others wait on the condition and are all
	// woken when a batch completes, so the ones it covered return together
	// instead of passing a mutex along one by one.
	fs.cmu.Lock()
	for fs.done.Load() < t {
		if fs.flushing {
			fs.ccond.Wait()
			continue
		}
		fs.flushing = true
		fs.cmu.Unlock()
		err := fs.leadFlush(t)
		fs.cmu.Lock()
		fs.flushing = false
		fs.ccond.Broadcast()
		if err != nil {
			fs.cmu.Unlock()
			return err
		}
	}
	fs.cmu.Unlock()
	return fs.writeErr()
}

// leadFlush writes (and with SyncAlways fsyncs) everything pending.
func (fs *FileStore) leadFlush(t uint64) error {
	if fs.fcfg.SyncAlways {
		// Writers woken by the previous batch get to append to this one.
		runtime.Gosched()
	}
	fs.wmu.Lock()
	defer fs.wmu.Unlock()
	if fs.done.Load() >= t {
		return nil
	}
	fs.mu.Lock()
	pend, end, seal := fs.takePendLocked()
	hk := fs.housekeep
	fs.mu.Unlock()
	err := fs.writePend(pend, fs.fcfg.SyncAlways)
	fs.spare = pend[:0]
	fs.done.Store(end)
	if len(seal) > 0 || hk {
		fs.mu.Lock()
		fs.sealBlocksLocked(seal)
		fs.housekeepLocked()
		fs.mu.Unlock()
	}
	return err
}

func (fs *FileStore) takePendLocked() ([]fsPend, uint64, []*fsBlock) {
	pend := fs.pend
	for i := range pend {
		// Captured under mu: appenders may replace b.plain meanwhile, but
		// never change bytes already appended.
		pend[i].data = pend[i].b.plain[pend[i].from:pend[i].to]
	}
	fs.pend = fs.spare[:0]
	fs.spare = nil
	seal := fs.toSeal
	fs.toSeal = nil
	return pend, fs.pendEnd, seal
}

// flushHeldLocked writes everything pending while holding both wmu and
// storeCore.mu, for operations that rewrite files.
func (fs *FileStore) flushHeldLocked(sync bool) error {
	pend, end, seal := fs.takePendLocked()
	err := fs.writePend(pend, sync || fs.fcfg.SyncAlways)
	fs.spare = pend[:0]
	fs.done.Store(end)
	fs.sealBlocksLocked(seal)
	if sync {
		for _, b := range fs.blks {
			if b.f != nil && b.dirty {
				if serr := fs.syncBlock(b); serr != nil && err == nil {
					err = serr
				}
				b.dirty = false
			}
		}
	}
	return err
}

// writePend writes pending ranges to their block files. Runs under wmu.
func (fs *FileStore) writePend(pend []fsPend, sync bool) error {
	// After a failed write the file's end is uncertain: writing more would
	// put records where recovery does not expect them.
	if err := fs.writeErr(); err != nil {
		return err
	}
	var err error
	for i, p := range pend {
		if err = fs.writeRange(p); err != nil {
			break
		}
		if sync && (i == len(pend)-1 || pend[i+1].b != p.b) {
			if err = fs.syncBlock(p.b); err != nil {
				break
			}
			p.b.dirty = false
		}
	}
	if err != nil {
		fs.setWriteErr(err)
	}
	return err
}

// syncBlock fsyncs b's file (open, held wmu), counting it.
func (fs *FileStore) syncBlock(b *fsBlock) error {
	fs.syncs.Add(1)
	return b.f.Sync()
}

// setWriteErr is separate so that the error escapes only when there is one.
func (fs *FileStore) setWriteErr(err error) {
	fs.werr.CompareAndSwap(nil, &err)
	fs.logf("write failed, store is now read-only: %v", err)
}

func (fs *FileStore) writeRange(p fsPend) error {
	b := p.b
	if b.f == nil {
		if err := fs.createBlockFile(b); err != nil {
			return err
		}
	}
	data := p.data
	if b.hdr.framed() {
		fs.scratch, fs.zscratch = fsAppendFrame(fs.scratch[:0], data, uint64(p.from), b.hdr.compressed, b.aead, fs.zscratch)
		data = fs.scratch
	}
	if _, err := b.f.WriteAt(data, b.fileSize); err != nil {
		return err
	}
	b.fileSize += int64(len(data))
	b.written.Store(p.to)
	b.dirty = true
	return nil
}

func (fs *FileStore) createBlockFile(b *fsBlock) error {
	f, err := fs.sys.OpenFile(b.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	hdr := b.hdr.encode()
	if _, err := f.WriteAt(hdr, 0); err != nil {
		f.Close()
		return err
	}
	// The header and the directory entry are made durable once, here, so
	// later fsyncs of the block need only cover its data.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := fs.sys.SyncDir(fs.mdir); err != nil {
		f.Close()
		return err
	}
	b.f = f
	b.fileSize = int64(len(hdr))
	return nil
}

// sealBlocksLocked finishes blocks that stopped taking writes: fsync,
// compress if configured, save the index, close. Holds wmu and mu.
func (fs *FileStore) sealBlocksLocked(seal []*fsBlock) {
	for _, b := range seal {
		if b.f == nil {
			continue
		}
		if err := fs.syncBlock(b); err != nil {
			fs.setWriteErr(err)
		}
		b.f.Close()
		b.f = nil
		b.dirty = false
		if fs.werr.Load() != nil {
			continue // Its content may not all be on disk: recovery decides.
		}
		if fs.cfg.Compression == S2Compression && !b.hdr.compressed {
			if err := fs.rewriteBlockLocked(b, b.plain, true); err != nil {
				fs.logf("compressing block %d: %v", b.id, err)
			}
		}
		if err := fs.writeIdxLocked(b); err != nil {
			fs.logf("writing index of block %d: %v", b.id, err)
		}
	}
	fs.evictLocked()
}

// syncAll writes and fsyncs everything stored so far (a replicated stream
// before its group's log drops entries: stream_replicate.go).
func (fs *FileStore) syncAll() error {
	fs.wmu.Lock()
	defer fs.wmu.Unlock()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return ErrStoreClosed
	}
	return fs.flushHeldLocked(true)
}

// syncLoop fsyncs written data every SyncInterval.
func (fs *FileStore) syncLoop() {
	defer fs.bg.Done()
	t := time.NewTicker(fs.fcfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-fs.stopCh:
			return
		case <-t.C:
		}
		fs.wmu.Lock()
		fs.mu.Lock()
		if !fs.closed {
			_ = fs.flushHeldLocked(true)
			fs.housekeepLocked()
		}
		fs.mu.Unlock()
		fs.wmu.Unlock()
	}
}

// addMsg counts a live message record at seq in the block, as both the
// write path and recovery see one; n is its accounted size (fsMsgSize).
func (b *fsBlock) addMsg(seq, n uint64) {
	if b.first == 0 {
		b.first = seq
	}
	b.last = seq
	b.phys++
	b.live++
	b.physB += n
	b.liveB += n
	b.maxSeq = max(b.maxSeq, seq)
}
