package server

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/minio/highwayhash"
)

func storeNowNano() int64 { return time.Now().UnixNano() }

// storeDrop accounts a removed message. Explicit removals are persisted as
// tombstones appended to the active block; erasures also overwrite the
// record where it lies. Blocks left mostly empty are compacted later by the
// writer (housekeepLocked).
func (fs *FileStore) storeDrop(seq uint64, sl storeSlot, kind storeDropKind) error {
	b := fs.unaccount(sl)
	if b != nil && (b.live == 0 || (b.sealed && b.liveB < b.physB/2)) {
		fs.housekeep = true
	}
	switch kind {
	case storeDropUser:
		_, _, err := fs.appendRecordLocked(fsKindTomb, seq, storeNowNano(), 0, "", nil, nil)
		return err
	case storeDropErase:
		if b == nil {
			return nil
		}
		return fs.eraseLocked(b, uint32(sl.loc), seq)
	}
	return nil
}

// eraseLocked overwrites the record at off with an erased record of the same
// length and random content. Clear blocks are overwritten in place; framed
// blocks are rewritten whole, since their bytes cannot be patched. Holds
// wmu and mu.
func (fs *FileStore) eraseLocked(b *fsBlock, off uint32, seq uint64) error {
	if err := fs.flushHeldLocked(false); err != nil {
		return err
	}
	if err := fs.loadBlockLocked(b); err != nil {
		return err
	}
	rec := b.plain[off:]
	n := int(binary.LittleEndian.Uint32(rec))
	if n < fsRecMin || n > len(rec) {
		return ErrStoreCorrupt
	}
	rec = rec[:n]
	size := fsMsgSize(n, binary.LittleEndian.Uint32(rec[32:]) > 0)
	_, _ = rand.Read(rec[fsRecHdr : n-fsRecHash])
	rec[4] = fsKindErased
	binary.LittleEndian.PutUint16(rec[6:], 0)
	binary.LittleEndian.PutUint32(rec[32:], 0)
	binary.LittleEndian.PutUint64(rec[24:], 0)
	binary.LittleEndian.PutUint64(rec[n-fsRecHash:], highwayhash.Sum64(rec[:n-fsRecHash], fs.hkey))
	b.phys--
	b.physB -= size
	if !b.hdr.framed() {
		f := b.f
		if f == nil {
			var err error
			if f, err = fs.sys.OpenFile(b.path, os.O_RDWR, 0); err != nil {
				return err
			}
			defer f.Close()
		}
		if _, err := f.WriteAt(rec, int64(fsBlkHdrSize)+int64(off)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	} else if err := fs.rewriteBlockLocked(b, b.plain, b.hdr.compressed); err != nil {
		return err
	}
	if b.sealed {
		return fs.writeIdxLocked(b)
	}
	fs.sys.Remove(fs.idxPath(b.id))
	return nil
}

// rewriteBlockLocked replaces b's file with plain encoded in the current
// cipher (so rewrites also encrypt old clear blocks), compressed if asked,
// through a temp file, fsync and rename. Holds wmu and mu.
func (fs *FileStore) rewriteBlockLocked(b *fsBlock, plain []byte, compress bool) error {
	if err := fs.writeErr(); err != nil {
		return err // After a failed write the cached content may not match the file.
	}
	h := fsBlkHeader{cipher: fs.newBlockCipher(), compressed: compress, salt: fsNewSalt()}
	if h.cipher != NoCipher {
		h.keyGen = fs.kgen
	}
	aead, err := fs.blockAEAD(&h)
	if err != nil {
		return err
	}
	data, err := fsEncodeBlock(&h, plain, aead)
	if err != nil {
		return err
	}
	werr := fsWriteFileSync(fs.sys, b.path, data)
	if werr != nil && !errors.Is(werr, errFsDirSync) {
		return werr // Nothing replaced: the block is as it was.
	}
	// The new file is in place (if its directory sync failed, whether a
	// crash keeps it is unknown: the store turns read-only below).
	active := b.f != nil
	if active {
		b.f.Close()
		b.f = nil
	}
	b.hdr, b.aead = h, aead
	b.fileSize = int64(len(data))
	fs.cached += int64(len(plain) - len(b.plain))
	b.plain = plain
	b.plainLen = uint32(len(plain))
	b.written.Store(b.plainLen)
	if active && werr == nil {
		f, err := fs.sys.OpenFile(b.path, os.O_RDWR, 0o640)
		if err != nil {
			werr = err
		}
		b.f = f
	}
	if werr != nil {
		// An active block without its file would be recreated empty.
		fs.setWriteErr(werr)
		return fmt.Errorf("%w: %w", errFsAdopted, werr)
	}
	return nil
}

// errFsAdopted: rewriteBlockLocked replaced the block's file and content
// (callers must move their index entries) but failed afterwards, leaving
// the store read-only.
var errFsAdopted = errors.New("block rewritten")

// housekeepLocked removes empty blocks from the front and compacts sealed
// blocks that are mostly deleted. Holds wmu and mu.
func (fs *FileStore) housekeepLocked() {
	if !fs.housekeep {
		return
	}
	fs.housekeep = false
	for len(fs.blks) > 0 && fs.blks[0] != fs.active && fs.blks[0].live == 0 && fs.blks[0].written.Load() == fs.blks[0].plainLen {
		if err := fs.keepMaxSeqLocked(fs.blks[0]); err != nil {
			fs.logf("removing block %d: %v", fs.blks[0].id, err)
			break
		}
		fs.removeBlockLocked(fs.blks[0])
	}
	for _, b := range fs.blks {
		if b.sealed && b.f == nil && b.liveB < b.physB/2 && b.phys > 0 {
			if err := fs.compactBlockLocked(b); err != nil {
				fs.logf("compacting block %d: %v", b.id, err)
			}
		}
	}
	fs.evictLocked()
}

// keepMaxSeqLocked makes sure that removing b does not lose the stream's
// last sequence: if no other block speaks for a sequence as high, a skip
// record is made durable first. Holds wmu and mu.
func (fs *FileStore) keepMaxSeqLocked(b *fsBlock) error {
	for _, o := range fs.blks {
		if o != b && o.maxSeq >= b.maxSeq {
			return nil
		}
	}
	if _, _, err := fs.appendRecordLocked(fsKindSkip, b.maxSeq, storeNowNano(), 0, "", nil, nil); err != nil {
		return err
	}
	return fs.flushHeldLocked(true)
}

func (fs *FileStore) removeBlockLocked(b *fsBlock) {
	fs.sys.Remove(b.path)
	fs.sys.Remove(fs.idxPath(b.id))
	if err := fs.sys.SyncDir(fs.mdir); err != nil {
		// The block may come back after a crash, after the tombstones that
		// covered it were compacted away: write nothing more.
		fs.setWriteErr(err)
	}
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	fs.cached -= int64(len(b.plain))
	b.plain = nil
	delete(fs.bmap, b.id)
	for i, x := range fs.blks {
		if x == b {
			fs.blks = append(fs.blks[:i], fs.blks[i+1:]...)
			break
		}
	}
}

// compactBlockLocked rewrites b with its live messages and the markers
// that may still matter (tombstones for earlier blocks, skips, floors),
// moving the index entries of the messages it keeps.
func (fs *FileStore) compactBlockLocked(b *fsBlock) error {
	if err := fs.loadBlockLocked(b); err != nil {
		return err
	}
	// liveB is in accounted units, which leave out part of each record.
	out := make([]byte, 0, b.liveB+uint64(b.live)*fsRecMin+1024)
	var r fsRec
	type move struct {
		seq uint64
		off uint32
	}
	var moves []move
	nb := fsBlock{}
	for p := 0; p < int(b.plainLen); p += r.rlen {
		if fsParseRecord(b.plain[p:b.plainLen], fs.hkey, &r) != nil {
			return ErrStoreCorrupt // Keep the block as is; reads report it.
		}
		keep := false
		switch r.kind {
		case fsKindMsg:
			sl := fs.idx.slot(r.seq)
			keep = sl != nil && sl.loc == uint64(b.id)<<32|uint64(p)
		case fsKindTomb:
			keep = fs.tombNeededLocked(b, r.seq)
		case fsKindSkip, fsKindFloor:
			keep = true
		}
		if !keep {
			continue
		}
		nb.nrec++
		if r.kind == fsKindMsg {
			moves = append(moves, move{r.seq, uint32(len(out))})
			nb.phys++
			nb.physB += fsRecSize(&r)
			if nb.first == 0 {
				nb.first = r.seq
			}
			nb.last = r.seq
		}
		out = append(out, b.plain[p:p+r.rlen]...)
	}
	out = fsAppendRecord(out, fs.hkey, fsKindEnd, b.maxSeq, storeNowNano(), int64(nb.nrec), "", nil, nil)
	rerr := fs.rewriteBlockLocked(b, out, b.hdr.compressed || fs.cfg.Compression == S2Compression)
	if rerr != nil && !errors.Is(rerr, errFsAdopted) {
		return rerr
	}
	b.nrec, b.hasEnd = nb.nrec+1, true
	for _, m := range moves {
		fs.idx.slot(m.seq).loc = uint64(b.id)<<32 | uint64(m.off)
	}
	b.phys, b.physB, b.live, b.liveB = nb.phys, nb.physB, nb.phys, nb.physB
	b.first, b.last = nb.first, nb.last
	if rerr != nil {
		return rerr
	}
	return fs.writeIdxLocked(b)
}

// tombNeededLocked reports whether a tombstone for seq held by b must be
// kept: only while an earlier block may still hold the removed record, that
// is one whose range covers seq and which holds removed records at all.
func (fs *FileStore) tombNeededLocked(b *fsBlock, seq uint64) bool {
	for _, x := range fs.blks {
		if x == b {
			return false
		}
		if x.first != 0 && x.first <= seq && seq <= x.last {
			return x.phys > x.live
		}
	}
	return false
}

// storeFloor persists that every sequence below seq is gone: a floor record
// made durable first, then the blocks wholly below it are deleted. Holds
// wmu and mu.
func (fs *FileStore) storeFloor(seq uint64) error {
	if fs.active != nil && fs.active.first != 0 && fs.active.first < seq {
		// The active block holds messages below the floor: start a new one
		// so the old one can go once empty.
		if _, err := fs.newBlockLocked(); err != nil {
			return err
		}
	}
	if _, _, err := fs.appendRecordLocked(fsKindFloor, seq, storeNowNano(), 0, "", nil, nil); err != nil {
		return err
	}
	if err := fs.flushHeldLocked(true); err != nil {
		return err
	}
	for len(fs.blks) > 1 && fs.blks[0] != fs.active && fs.blks[0].maxSeq < seq {
		fs.removeBlockLocked(fs.blks[0])
	}
	fs.housekeep = true
	fs.housekeepLocked()
	return nil
}

// storeTruncate cuts every record that speaks for a sequence above seq,
// then re-records as tombstones the removals that lived in the cut part.
// Holds wmu and mu.
func (fs *FileStore) storeTruncate(seq uint64) error {
	if err := fs.flushHeldLocked(false); err != nil {
		return err
	}
	i := 0
	for i < len(fs.blks) && fs.blks[i].maxSeq <= seq {
		i++
	}
	for len(fs.blks) > i+1 {
		fs.removeBlockLocked(fs.blks[len(fs.blks)-1])
	}
	if i < len(fs.blks) {
		if err := fs.cutBlockLocked(fs.blks[i], seq); err != nil {
			return err
		}
	}
	fs.active = nil
	if n := len(fs.blks); n > 0 && !fs.blks[n-1].hdr.compressed && fs.blks[n-1].hdr.cipher == fs.newBlockCipher() {
		last := fs.blks[n-1]
		if last.f == nil {
			f, err := fs.sys.OpenFile(last.path, os.O_RDWR, 0o640)
			if err != nil {
				return err
			}
			last.f = f
		}
		last.sealed = false
		fs.active = last
		fs.sys.Remove(fs.idxPath(last.id))
	}
	if err := fs.retombLocked(); err != nil {
		return err
	}
	// The cut may have taken the records that spoke for seq (a floor in a
	// removed block): say it again.
	if _, _, err := fs.appendRecordLocked(fsKindSkip, seq, storeNowNano(), 0, "", nil, nil); err != nil {
		return err
	}
	return fs.flushHeldLocked(true)
}

func fsRecEffect(r *fsRec) uint64 {
	if r.kind == fsKindFloor {
		if r.seq == 0 {
			return 0
		}
		return r.seq - 1
	}
	if r.kind == fsKindTomb {
		return 0
	}
	return r.seq
}

func (fs *FileStore) cutBlockLocked(b *fsBlock, seq uint64) (err error) {
	if err := fs.loadBlockLocked(b); err != nil {
		return err
	}
	var r fsRec
	p := 0
	for p < int(b.plainLen) && fsParseRecord(b.plain[p:b.plainLen], fs.hkey, &r) == nil && fsRecEffect(&r) <= seq {
		p += r.rlen
	}
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	// The block becomes the active one again, so its end record goes.
	kept := make([]byte, 0, p)
	for q := 0; q < p; q += r.rlen {
		_ = fsParseRecord(b.plain[q:p], fs.hkey, &r)
		if r.kind != fsKindEnd {
			kept = append(kept, b.plain[q:q+r.rlen]...)
		}
	}
	rerr := fs.rewriteBlockLocked(b, kept, false)
	if rerr != nil && !errors.Is(rerr, errFsAdopted) {
		return rerr
	}
	defer func() {
		if rerr != nil {
			err = rerr
		}
	}()
	p = len(kept)
	b.first, b.last, b.maxSeq, b.phys, b.live, b.physB, b.liveB = 0, 0, 0, 0, 0, 0, 0
	b.nrec, b.hasEnd = 0, false
	for q := 0; q < p; q += r.rlen {
		_ = fsParseRecord(b.plain[q:p], fs.hkey, &r)
		b.nrec++
		switch r.kind {
		case fsKindMsg:
			b.phys++
			b.physB += fsRecSize(&r)
			if b.first == 0 {
				b.first = r.seq
			}
			b.last = r.seq
			if sl := fs.idx.slot(r.seq); sl != nil && sl.loc == uint64(b.id)<<32|uint64(q) {
				b.live++
				b.liveB += fsRecSize(&r)
			}
		}
		b.maxSeq = max(b.maxSeq, fsRecEffect(&r))
	}
	return nil
}

// retombLocked writes a tombstone for every message still in a block but
// no longer in the stream, since the tombstones that removed it may have
// been cut by a truncation.
func (fs *FileStore) retombLocked() error {
	for _, b := range fs.blks {
		if b.live == b.phys {
			continue
		}
		if err := fs.loadBlockLocked(b); err != nil {
			continue
		}
		var r fsRec
		for p := 0; p < int(b.plainLen); p += r.rlen {
			if fsParseRecord(b.plain[p:b.plainLen], fs.hkey, &r) != nil {
				break
			}
			if r.kind != fsKindMsg {
				continue
			}
			if sl := fs.idx.slot(r.seq); sl == nil || sl.loc != uint64(b.id)<<32|uint64(p) {
				if _, _, err := fs.appendRecordLocked(fsKindTomb, r.seq, storeNowNano(), 0, "", nil, nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
