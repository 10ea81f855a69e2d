package server

import (
	"encoding/binary"
	"time"

	"github.com/minio/highwayhash"
)

// Atomic batches in the stores. StoreBatch appends every message of a
// committed batch under one hold of storeCore.mu, so no reader or writer
// sees part of it, and makes it all-or-nothing on disk too:
//
//   - the file store puts the whole batch in one block (rotating first if
//     it would not fit, letting that block grow past its size if the batch
//     is larger than a block), so it is one pending range, one write, and in
//     encrypted or compressed blocks one frame;
//   - every record of the batch but the last carries fsFlagOpen in the
//     record's flag byte ("more of this batch follows"). Recovery holds back
//     such a run of records until the record that closes it (any record
//     without the flag) is read; a run still open at the end of the last
//     block was cut by a crash and is truncated, so none of the batch is
//     recovered (fsBatchRun, used by scanBlock).
//
// Once the last record is on disk the batch is whole, and the flags no
// longer matter: compaction may copy or drop them freely, since every later
// record also closes the run.

// fsFlagOpen marks a record followed by more records of the same batch.
const fsFlagOpen = 1

// storeBatchMsg is one message of a batch handed to StoreBatch.
type storeBatchMsg struct {
	subject string
	hdr     []byte
	msg     []byte
	ttl     int64
}

// batchStore is implemented by both stores (through storeCore).
type batchStore interface {
	// StoreBatch stores msgs atomically with consecutive sequences and one
	// timestamp, returning the first sequence and that timestamp.
	StoreBatch(msgs []storeBatchMsg) (uint64, int64, error)
}

// storeBatchMarker is implemented by backends that must mark a batch's
// records so that recovery can tell a whole batch from a cut one.
type storeBatchMarker interface {
	beginBatchLocked(total uint64) (fsBatchMark, error)
	endBatchLocked(m fsBatchMark)
}

// StoreBatch implements batchStore.
func (c *storeCore) StoreBatch(msgs []storeBatchMsg) (uint64, int64, error) {
	if len(msgs) == 0 {
		return 0, 0, nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, 0, ErrStoreClosed
	}
	first, ts := c.idx.last+1, time.Now().UnixNano()
	err := c.checkBatchDiscardNewLocked(msgs)
	marker, marks := c.be.(storeBatchMarker)
	var mark fsBatchMark
	if err == nil && marks {
		mark, err = marker.beginBatchLocked(batchRecordsLen(msgs))
	}
	stored := 0
	for i := 0; err == nil && i < len(msgs); i++ {
		m := &msgs[i]
		if err = c.storeLocked(m.subject, m.hdr, m.msg, first+uint64(i), ts, m.ttl); err == nil {
			stored++
		}
	}
	if marks && mark.active {
		marker.endBatchLocked(mark)
	}
	if err != nil {
		// Only an I/O failure gets here (limits were checked first): take
		// back what was indexed; the records left in an open run are dropped
		// by recovery, or deleted by these tombstones.
		for i := 0; i < stored; i++ {
			c.dropLocked(first+uint64(i), storeDropUser)
		}
	}
	t := c.be.storeTicket()
	c.mu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	if err := c.be.storeCommit(t); err != nil {
		return 0, 0, err
	}
	return first, ts, nil
}

func batchRecordsLen(msgs []storeBatchMsg) uint64 {
	var n uint64
	for i := range msgs {
		n += uint64(fsRecordLen(msgs[i].subject, msgs[i].hdr, msgs[i].msg))
	}
	return n
}

// checkBatchDiscardNewLocked applies discard new to the batch as a whole,
// so that a batch is refused before any of it is stored.
func (c *storeCore) checkBatchDiscardNewLocked(msgs []storeBatchMsg) error {
	cfg := &c.cfg
	if cfg.Discard != DiscardNew {
		return nil
	}
	x := c.idx
	var bytes uint64
	perSubj := make(map[string]uint64)
	for i := range msgs {
		m := &msgs[i]
		bytes += storeMsgSize(c.typ, m.subject, m.hdr, m.msg)
		perSubj[m.subject]++
	}
	if cfg.MaxMsgs > 0 && x.msgs+uint64(len(msgs)) > uint64(cfg.MaxMsgs) {
		return ErrMaxMsgs
	}
	if cfg.MaxBytes > 0 && x.bytes+bytes > uint64(cfg.MaxBytes) {
		return ErrMaxBytes
	}
	if cfg.DiscardNewPer && cfg.MaxMsgsPer > 0 {
		for subj, n := range perSubj {
			var have uint64
			if id, ok := x.subjIDs[subj]; ok {
				have = x.subjs[id].msgs
			}
			if have+n > uint64(cfg.MaxMsgsPer) {
				return ErrMaxMsgsPerSubject
			}
		}
	}
	return nil
}

// fsBatchMark remembers where a batch starts in the file store.
type fsBatchMark struct {
	active    bool
	blk       *fsBlock
	start     uint32
	blockSize uint32
}

// fsMaxBatchBytes bounds a batch's records so that its block's offsets
// stay within 32 bits.
const fsMaxBatchBytes = 1 << 30

// beginBatchLocked makes room for total bytes of records in one block.
func (fs *FileStore) beginBatchLocked(total uint64) (fsBatchMark, error) {
	if total > fsMaxBatchBytes {
		return fsBatchMark{}, ErrStoreMsgTooLarge
	}
	if e := fs.werr.Load(); e != nil {
		return fsBatchMark{}, *e
	}
	b := fs.active
	if b != nil && b.plainLen > 0 && uint64(b.plainLen)+total > uint64(fs.fcfg.BlockSize) {
		var err error
		if b, err = fs.newBlockLocked(); err != nil {
			return fsBatchMark{}, err
		}
	}
	m := fsBatchMark{active: true, blk: b, blockSize: fs.fcfg.BlockSize}
	if b != nil {
		m.start = b.plainLen
	}
	// No rotation inside the batch: the block may grow past its size once.
	if need := uint64(m.start) + total; need > uint64(fs.fcfg.BlockSize) {
		fs.fcfg.BlockSize = uint32(need)
	}
	return m, nil
}

// endBatchLocked restores the block size and flags every record of the
// batch but the last as open.
func (fs *FileStore) endBatchLocked(m fsBatchMark) {
	fs.fcfg.BlockSize = m.blockSize
	b := fs.active
	if b == nil {
		return
	}
	start := m.start
	if b != m.blk {
		start = 0 // The batch opened a new block.
	}
	fsMarkOpenRun(b.plain[start:b.plainLen], fs.hkey)
}

// fsMarkOpenRun sets fsFlagOpen on every message record of recs except the
// last one, re-sealing each record's hash.
func fsMarkOpenRun(recs []byte, hkey []byte) {
	var offs []int
	var r fsRec
	for p := 0; p < len(recs); p += r.rlen {
		if fsParseRecord(recs[p:], hkey, &r) != nil {
			return
		}
		if r.kind == fsKindMsg {
			offs = append(offs, p)
		}
	}
	for i := 0; i+1 < len(offs); i++ {
		rec := recs[offs[i]:]
		n := int(binary.LittleEndian.Uint32(rec))
		rec[5] |= fsFlagOpen
		binary.LittleEndian.PutUint64(rec[n-fsRecHash:], highwayhash.Sum64(rec[:n-fsRecHash], hkey))
	}
}

// fsBatchRun holds back the records of a batch during a block scan until
// the record that closes the batch is read.
type fsBatchRun struct {
	start int // Offset of the first held record; -1 when none.
	held  []fsHeldRec
}

type fsHeldRec struct {
	kind    uint8
	seq     uint64
	off     uint32
	size    uint64 // Accounted, fsRecSize.
	ts, ttl int64
	subj    string
}

func newFsBatchRun() fsBatchRun { return fsBatchRun{start: -1} }

// add replays r (read at offset p of b), or holds it while its batch is open.
func (run *fsBatchRun) add(fs *FileStore, b *fsBlock, r *fsRec, p int) {
	if r.flags&fsFlagOpen != 0 {
		if run.start < 0 {
			run.start = p
		}
		run.held = append(run.held, fsHeldRec{kind: r.kind, seq: r.seq, off: uint32(p), size: fsRecSize(r),
			ts: r.ts, ttl: r.ttl, subj: string(r.subj)})
		return
	}
	run.flush(fs, b)
	fs.replayRec(b, r.kind, r.seq, uint32(p), fsRecSize(r), r.ts, r.ttl, string(r.subj))
}

func (run *fsBatchRun) flush(fs *FileStore, b *fsBlock) {
	for _, h := range run.held {
		fs.replayRec(b, h.kind, h.seq, h.off, h.size, h.ts, h.ttl, h.subj)
	}
	run.held, run.start = run.held[:0], -1
}

// finish ends the scan of b's content plain: a batch still open at the end
// of the last clear block was cut by a crash, and is truncated away. It
// returns the content to keep.
func (run *fsBatchRun) finish(fs *FileStore, b *fsBlock, plain []byte, last bool) ([]byte, error) {
	if run.start < 0 {
		return plain, nil
	}
	if !last || b.hdr.framed() {
		// A batch never spans blocks and is one frame: this is damage, not
		// a cut batch; keep what is readable.
		run.flush(fs, b)
		return plain, nil
	}
	fs.logf("block %d: incomplete atomic batch of %d records at byte %d truncated", b.id, len(run.held), run.start)
	if err := fs.truncateFile(b, int64(fsBlkHdrSize+run.start)); err != nil {
		return plain, err
	}
	plain = plain[:run.start]
	run.held, run.start = run.held[:0], -1
	return plain, nil
}
