package server

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/s2"
	"github.com/minio/highwayhash"
)

// Block index format (msgs/<id>.idx), written when a block is sealed,
// rewritten or the store stops. The file is an fsSeal blob (encrypted with a
// key derived from the stream key and the block's salt when the block is)
// of the S2-compressed body:
//
//	"NFX2"
//	u32 block id, 16-byte block salt, u64 block file size, u32 logical size
//	uvarint subject count, then each subject as uvarint length + bytes
//	uvarint record count, then per record: u8 kind (with fsIdxHdrFlag set
//	on a message that has headers), uvarint seq, uvarint offset, uvarint
//	length, varint timestamp, varint ttl, and for messages uvarint subject
//	number
//	u64 HighwayHash-64 of everything above
//
// An index is trusted only if the block file still has the size and salt it
// names; otherwise the block is scanned record by record, which is how the
// tail written since the last index is verified.
//
// Version 2 ("NFX2") added fsIdxHdrFlag: a message's accounted size depends
// on whether it has headers (storeSizeOf), which its length alone does not
// tell. A version 1 index ("NFX1") is not read: its block is scanned once,
// which counts every message exactly, and the index is written anew.
const (
	fsIdxMagic    = "NFX2"
	fsIdxMagicV1  = "NFX1"
	fsIdxHdrFlag  = 0x80
	fsIdxKindMask = 0x7f
)

var (
	errFsStaleIdx = errors.New("stale block index")
	errFsOldIdx   = errors.New("index of an older format")
)

type fsIdxRec struct {
	kind   uint8
	hasHdr bool
	seq    uint64
	off    uint32
	rlen   uint32
	ts     int64
	ttl    int64
	subj   string
}

func (fs *FileStore) idxPath(id uint32) string {
	return filepath.Join(fs.mdir, strconv.FormatUint(uint64(id), 10)+".idx")
}

func (fs *FileStore) idxKey(h *fsBlkHeader) []byte {
	key := fs.streamKeyFor(h.keyGen)
	if h.cipher == NoCipher || key == nil {
		return nil
	}
	return fsDerive(key, "idx:"+string(h.salt[:]))
}

// writeIdxLocked saves b's index; the block's content must be whole.
func (fs *FileStore) writeIdxLocked(b *fsBlock) error {
	if err := fs.writeErr(); err != nil {
		return err // An index of content that may not be on disk would lie.
	}
	if err := fs.loadBlockLocked(b); err != nil {
		return err
	}
	body := []byte(fsIdxMagic)
	body = binary.LittleEndian.AppendUint32(body, b.id)
	body = append(body, b.hdr.salt[:]...)
	body = binary.LittleEndian.AppendUint64(body, uint64(b.fileSize))
	body = binary.LittleEndian.AppendUint32(body, b.plainLen)
	subjNum := make(map[string]uint64)
	var subjs []string
	var recs []byte
	var n uint64
	var r fsRec
	for p := 0; p < int(b.plainLen); p += r.rlen {
		if fsParseRecord(b.plain[p:b.plainLen], fs.hkey, &r) != nil {
			fs.sys.Remove(fs.idxPath(b.id))
			return errFsBadRecord
		}
		n++
		kind := r.kind
		if kind == fsKindMsg && len(r.hdr) > 0 {
			kind |= fsIdxHdrFlag
		}
		recs = append(recs, kind)
		recs = binary.AppendUvarint(recs, r.seq)
		recs = binary.AppendUvarint(recs, uint64(p))
		recs = binary.AppendUvarint(recs, uint64(r.rlen))
		recs = binary.AppendVarint(recs, r.ts)
		recs = binary.AppendVarint(recs, r.ttl)
		if r.kind == fsKindMsg {
			num, ok := subjNum[string(r.subj)]
			if !ok {
				num = uint64(len(subjs))
				subjNum[string(r.subj)] = num
				subjs = append(subjs, string(r.subj))
			}
			recs = binary.AppendUvarint(recs, num)
		}
	}
	body = binary.AppendUvarint(body, uint64(len(subjs)))
	for _, s := range subjs {
		body = binary.AppendUvarint(body, uint64(len(s)))
		body = append(body, s...)
	}
	body = binary.AppendUvarint(body, n)
	body = append(body, recs...)
	body = binary.LittleEndian.AppendUint64(body, highwayhash.Sum64(body, fs.hkey))
	c := b.hdr.cipher
	if fs.skey == nil {
		c = NoCipher
	}
	blob, err := fsSeal(c, fs.idxKey(&b.hdr), s2.Encode(nil, body), []byte("idx"))
	if err != nil {
		return err
	}
	return fsWriteFileSync(fs.sys, fs.idxPath(b.id), blob)
}

// readIdx loads the index of b if it matches the block file.
func (fs *FileStore) readIdx(b *fsBlock, size int64) ([]fsIdxRec, uint32, error) {
	blob, err := fs.sys.ReadFile(fs.idxPath(b.id))
	if err != nil {
		return nil, 0, err
	}
	z, _, err := fsOpen(blob, fs.idxKey(&b.hdr), []byte("idx"))
	if err != nil {
		return nil, 0, err
	}
	body, err := s2.Decode(nil, z)
	if err == nil && len(body) >= 4 && string(body[:4]) == fsIdxMagicV1 {
		return nil, 0, errFsOldIdx
	}
	if err != nil || len(body) < len(fsIdxMagic)+40 || string(body[:4]) != fsIdxMagic {
		return nil, 0, errFsStaleIdx
	}
	end := len(body) - 8
	if binary.LittleEndian.Uint64(body[end:]) != highwayhash.Sum64(body[:end], fs.hkey) {
		return nil, 0, errFsStaleIdx
	}
	p := body[4:end]
	if binary.LittleEndian.Uint32(p) != b.id || string(p[4:20]) != string(b.hdr.salt[:]) ||
		int64(binary.LittleEndian.Uint64(p[20:])) != size {
		return nil, 0, errFsStaleIdx
	}
	plainLen := binary.LittleEndian.Uint32(p[28:])
	r := storeVarReader{b: p[32:]}
	ns := r.uvarint()
	if r.err || ns > uint64(len(r.b)) {
		return nil, 0, errFsStaleIdx
	}
	subjs := make([]string, ns)
	for i := range subjs {
		l := r.uvarint()
		if r.err || l > uint64(len(r.b)) {
			return nil, 0, errFsStaleIdx
		}
		subjs[i] = string(r.b[:l])
		r.b = r.b[l:]
	}
	nr := r.uvarint()
	if r.err || nr > uint64(len(r.b)) {
		return nil, 0, errFsStaleIdx
	}
	recs := make([]fsIdxRec, nr)
	for i := range recs {
		if len(r.b) == 0 {
			return nil, 0, errFsStaleIdx
		}
		x := &recs[i]
		x.kind, x.hasHdr = r.b[0]&fsIdxKindMask, r.b[0]&fsIdxHdrFlag != 0
		r.b = r.b[1:]
		if x.hasHdr && x.kind != fsKindMsg {
			return nil, 0, errFsStaleIdx
		}
		x.seq, x.off, x.rlen = r.uvarint(), uint32(r.uvarint()), uint32(r.uvarint())
		x.ts, x.ttl = r.varint(), r.varint()
		if x.kind == fsKindMsg {
			num := r.uvarint()
			if num >= ns {
				return nil, 0, errFsStaleIdx
			}
			x.subj = subjs[num]
		}
		if r.err || uint64(x.off)+uint64(x.rlen) > uint64(plainLen) {
			return nil, 0, errFsStaleIdx
		}
	}
	if len(r.b) != 0 {
		return nil, 0, errFsStaleIdx
	}
	return recs, plainLen, nil
}

// recover rebuilds the in-memory state from the block files.
func (fs *FileStore) recover() error {
	ents, err := fs.sys.ReadDir(fs.mdir)
	if err != nil {
		return err
	}
	var ids []uint32
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			fs.sys.Remove(filepath.Join(fs.mdir, name))
			continue
		}
		if id, ok := strings.CutSuffix(name, ".blk"); ok {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil && n > 0 {
				ids = append(ids, uint32(n))
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if fs.cfg.FirstSeq > 1 && len(ids) == 0 {
		fs.idx.skipTo(fs.cfg.FirstSeq-1, 0)
	}
	for i, id := range ids {
		fs.nextID = id
		if err := fs.recoverBlock(id, i == len(ids)-1); err != nil {
			return err
		}
		if i == 0 {
			fs.presizeIndex(ids[1:])
		}
	}
	fs.wmu.Lock()
	defer fs.wmu.Unlock()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n := len(fs.blks); n > 0 {
		last := fs.blks[n-1]
		reuse := !last.hdr.compressed && last.hdr.cipher == fs.newBlockCipher() && last.plainLen < fs.fcfg.BlockSize && !last.hasEnd &&
			(last.hdr.cipher == NoCipher || last.hdr.keyGen == fs.kgen)
		if reuse || (!last.hasEnd && !last.hdr.compressed) {
			if err := fs.reopenActive(last); err != nil {
				return err
			}
		}
		if !reuse && fs.active != nil {
			// Not appendable any more: end it so that it reads as complete.
			fs.sealActiveLocked()
			if err := fs.flushHeldLocked(true); err != nil {
				return err
			}
		}
	}
	for _, b := range fs.blks {
		if b != fs.active {
			b.sealed = true
		}
	}
	fs.enforceLimitsLocked(0)
	for _, seq := range fs.idx.expired(storeNowNano(), int64(fs.cfg.MaxAge)) {
		fs.noteExpiringLocked(seq) // markers for what expired while down
		fs.dropLocked(seq, storeDropLimit)
	}
	fs.armExpiryLocked()
	fs.evictLocked()
	return nil
}

// presizeIndex sizes the sequence index for the blocks still to recover,
// from the sequences per byte of the first one: growing it block by block
// copied a million-message index many times over.
func (fs *FileStore) presizeIndex(rest []uint32) {
	if len(fs.blks) != 1 || fs.blks[0].fileSize <= 0 || len(rest) == 0 {
		return
	}
	var bytes int64
	for _, id := range rest {
		if _, size, err := fs.sys.ReadHead(fs.blockPath(id), 0); err == nil {
			bytes += size
		}
	}
	// Bounded by the most messages those bytes can hold.
	perByte := float64(len(fs.idx.slots)) / float64(fs.blks[0].fileSize)
	fs.idx.presize(int(min(perByte*float64(bytes)*1.05, float64(bytes/fsRecMin))))
}

func (fs *FileStore) newBlockCipher() StoreCipher {
	if fs.skey == nil {
		return NoCipher
	}
	return fs.cipher
}

func (fs *FileStore) reopenActive(b *fsBlock) error {
	if err := fs.loadBlockLocked(b); err != nil {
		return nil // Unreadable: leave it sealed, write a new block.
	}
	f, err := fs.sys.OpenFile(b.path, os.O_RDWR, 0o640)
	if err != nil {
		return err
	}
	b.f = f
	b.written.Store(b.plainLen)
	fs.active = b
	// Its index will be stale as soon as it is appended to.
	fs.sys.Remove(fs.idxPath(b.id))
	return nil
}

// recoverBlock adds block id to the store, from its index when valid, else
// by scanning it.
func (fs *FileStore) recoverBlock(id uint32, last bool) error {
	b := &fsBlock{id: id, path: fs.blockPath(id)}
	fs.blockFrom = fs.idx.last + 1
	// The header and the size decide whether the index is valid; the
	// content is read only when the block must be scanned.
	head, size, err := fs.sys.ReadHead(b.path, fsBlkHdrSize)
	if err != nil {
		return err
	}
	h, herr := fsParseBlkHeader(head)
	if herr != nil {
		fs.logf("block %d has a corrupt header, its messages are lost", id)
		fs.noteLostFrom(fs.idx.last + 1)
		fs.sys.Rename(b.path, b.path+".corrupt")
		return nil
	}
	b.hdr = h
	if b.aead, err = fs.blockAEAD(&h); err != nil {
		return fsDecryptErr(err)
	}
	b.fileSize = size
	fs.blks = append(fs.blks, b)
	fs.bmap[id] = b
	recs, plainLen, err := fs.readIdx(b, b.fileSize)
	if err != nil && !os.IsNotExist(err) {
		fs.logf("index of block %d unusable (%v): scanning the block", id, err)
	}
	if err == nil {
		b.plainLen = plainLen
		b.written.Store(plainLen)
		for i := range recs {
			x := &recs[i]
			fs.replayRec(b, x.kind, x.seq, x.off, fsMsgSize(int(x.rlen), x.hasHdr), x.ts, x.ttl, x.subj)
		}
		return nil
	}
	data, err := fs.sys.ReadFile(b.path)
	if err != nil {
		return err
	}
	b.fileSize = int64(len(data))
	return fs.scanBlock(b, data, last)
}

// scanBlock verifies every record of a block, truncating a torn tail of the
// last block and reporting corrupt records elsewhere as lost.
func (fs *FileStore) scanBlock(b *fsBlock, data []byte, last bool) error {
	d, err := fsDecodeBlock(data, fs.blockAEAD)
	if err != nil {
		return fsDecryptErr(err)
	}
	plain := append([]byte(nil), d.plain...)
	if d.tornAt >= 0 && last {
		fs.logf("block %d: torn tail at byte %d truncated", b.id, d.tornAt)
		if err := fs.truncateFile(b, int64(d.tornAt)); err != nil {
			return err
		}
	}
	var r fsRec
	var prevSeq uint64
	run := newFsBatchRun()
	p := 0
	for p < len(plain) {
		if fsParseRecord(plain[p:], fs.hkey, &r) == nil {
			run.add(fs, b, &r, p)
			if r.kind == fsKindMsg {
				prevSeq = r.seq
			}
			p += r.rlen
			continue
		}
		q := fsResyncRecord(plain, p, fs.hkey)
		if q < 0 {
			if last && !b.hdr.framed() {
				fs.logf("block %d: torn tail at record offset %d truncated", b.id, p)
				if err := fs.truncateFile(b, int64(fsBlkHdrSize+p)); err != nil {
					return err
				}
			} else {
				fs.lostRegion(b, prevSeq, 0, uint64(len(plain)-p))
			}
			plain = plain[:p]
			break
		}
		var next fsRec
		_ = fsParseRecord(plain[q:], fs.hkey, &next)
		fs.lostRegion(b, prevSeq, next.seq, uint64(q-p))
		p = q
	}
	if plain, err = run.finish(fs, b, plain, last); err != nil {
		return err
	}
	if d.tornAt >= 0 && !last {
		fs.lostRegion(b, prevSeq, 0, uint64(len(data)-d.tornAt))
	} else if !last && !b.hasEnd {
		fs.logf("block %d was cut short: its end record is missing", b.id)
		fs.lostRegion(b, prevSeq, 0, 0)
	} else if d.bad > 0 {
		fs.logf("block %d: %d corrupt frames skipped", b.id, d.bad)
	}
	b.plainLen = uint32(len(plain))
	b.written.Store(b.plainLen)
	b.plain = plain
	fs.cached += int64(len(plain))
	if !last {
		b.sealed = true
		if err := fs.writeIdxLocked(b); err != nil {
			fs.logf("block %d index not saved: %v", b.id, err)
		}
	}
	return nil
}

func (fs *FileStore) truncateFile(b *fsBlock, size int64) error {
	if err := fs.sys.Truncate(b.path, size); err != nil {
		return err
	}
	b.fileSize = size
	return nil
}

// lostRegion records a corrupt region between two valid messages.
func (fs *FileStore) lostRegion(b *fsBlock, prev, next uint64, bytes uint64) {
	fs.logf("block %d: corrupt data after sequence %d (%d bytes) skipped", b.id, prev, bytes)
	if fs.lost == nil {
		fs.lost = &LostStreamData{}
	}
	fs.lost.Bytes += bytes
	if prev > 0 {
		fs.noteLostFrom(prev + 1)
	} else {
		fs.noteLostFrom(fs.blockFrom)
	}
	if next > prev+1 {
		for s := prev + 1; s < next && len(fs.lost.Msgs) < 1<<16; s++ {
			fs.lost.Msgs = append(fs.lost.Msgs, s)
		}
	}
}

// replayRec applies one record found in a block to the in-memory state;
// size is a message's accounted size (fsMsgSize).
func (fs *FileStore) replayRec(b *fsBlock, kind uint8, seq uint64, off uint32, size uint64, ts, ttl int64, subj string) {
	b.nrec++
	if seq > storeMaxSeq {
		fs.logf("block %d: record with impossible sequence %d ignored", b.id, seq)
		return
	}
	b.hasEnd = false
	switch kind {
	case fsKindEnd:
		if ttl != int64(b.nrec-1) {
			fs.logf("block %d: end record counts %d records, found %d", b.id, ttl, b.nrec-1)
			fs.lostRegion(b, 0, 0, 0)
		}
		b.hasEnd = true
		// It carries the block's highest sequence, which compaction may
		// have removed the record of.
		fs.idx.skipTo(seq, ts)
		b.maxSeq = max(b.maxSeq, seq)
	case fsKindMsg:
		if seq <= fs.idx.last || fs.idx.add(seq, subj, ts, uint32(size), uint64(b.id)<<32|uint64(off), ttl) != nil {
			b.phys++
			b.physB += size
			return
		}
		b.addMsg(seq, size)
	case fsKindTomb:
		if sl, ok := fs.idx.remove(seq); ok {
			fs.unaccount(sl)
		}
	case fsKindSkip, fsKindErased:
		fs.idx.skipTo(seq, ts)
		b.maxSeq = max(b.maxSeq, seq)
	case fsKindFloor:
		for fs.idx.msgs > 0 && fs.idx.first < seq {
			if sl, ok := fs.idx.remove(fs.idx.first); ok {
				fs.unaccount(sl)
			}
		}
		if seq > 0 {
			fs.idx.skipTo(seq-1, ts)
			b.maxSeq = max(b.maxSeq, seq-1)
		}
	}
}

// unaccount updates the owning block's counters for a removed message. A
// slot's size is the message's accounted size, the unit of liveB and physB.
func (fs *FileStore) unaccount(sl storeSlot) *fsBlock {
	b := fs.bmap[uint32(sl.loc>>32)]
	if b != nil {
		b.live--
		b.liveB -= uint64(sl.size)
	}
	return b
}
