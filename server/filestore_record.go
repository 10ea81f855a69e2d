package server

import (
	"encoding/binary"
	"errors"

	"github.com/minio/highwayhash"
)

// Record format. Every entry of a message block (and of a snapshot) is one
// record, all integers little-endian:
//
//	off  size  field
//	0    4     rlen: length of the whole record, this field and hash included
//	4    1     kind: 1 message, 2 tombstone, 3 skip, 4 floor, 5 erased,
//	           6 end (last record of a sealed block: sequence is the block's
//	           highest, TTL field the number of records before it, so a
//	           block cut at a record boundary is still detected)
//	5    1     flags: 0, or fsFlagOpen on a record followed by more of the
//	           same atomic batch (store_batch.go)
//	6    2     subject length
//	8    8     sequence (for a tombstone: the removed sequence; for a floor:
//	           every sequence below it is removed; for a skip: the last
//	           sequence used)
//	16   8     timestamp, Unix nanoseconds
//	24   8     per-message TTL in nanoseconds, 0 for none
//	32   4     header length
//	36   ...   subject, headers, payload
//	rlen-8 8   HighwayHash-64 of bytes [0, rlen-8), keyed per stream
//
// The payload length is rlen - 44 - subject length - header length. An erased
// record keeps its length and sequence and has its content replaced by
// random bytes, so an in-place overwrite never moves other records.
const (
	fsRecHdr     = 36
	fsRecHash    = 8
	fsRecMin     = fsRecHdr + fsRecHash
	fsRecMaxSize = 64<<20 + 64<<10 // NATS payloads are at most 64 MiB.

	fsKindMsg    = 1
	fsKindTomb   = 2
	fsKindSkip   = 3
	fsKindFloor  = 4
	fsKindErased = 5
	fsKindEnd    = 6
)

var errFsBadRecord = errors.New("invalid record")

// fsRec is a parsed record; its slices alias the parsed buffer.
type fsRec struct {
	kind  uint8
	flags uint8
	seq   uint64
	ts    int64
	ttl   int64
	subj  []byte
	hdr   []byte
	msg   []byte
	rlen  int
}

func fsRecordLen(subj string, hdr, msg []byte) int {
	return fsRecMin + len(subj) + len(hdr) + len(msg)
}

// fsMsgSize is the accounted size (storeSizeOf) of a message record of rlen
// bytes: the unit of a block's liveB and physB, so that a slot's size can be
// taken off its block as it is off the stream.
func fsMsgSize(rlen int, hasHdr bool) uint64 {
	return storeSizeOf(FileStorage, rlen-fsRecMin, hasHdr)
}

// fsRecSize is fsMsgSize of a parsed message record.
func fsRecSize(r *fsRec) uint64 { return fsMsgSize(r.rlen, len(r.hdr) > 0) }

// fsAppendRecord appends one framed record to dst; it allocates only when
// dst must grow.
func fsAppendRecord(dst []byte, hkey []byte, kind uint8, seq uint64, ts, ttl int64, subj string, hdr, msg []byte) []byte {
	n := fsRecordLen(subj, hdr, msg)
	start := len(dst)
	if cap(dst)-start < n {
		nd := make([]byte, start, 2*cap(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:start+n]
	b := dst[start:]
	binary.LittleEndian.PutUint32(b[0:], uint32(n))
	b[4], b[5] = kind, 0
	binary.LittleEndian.PutUint16(b[6:], uint16(len(subj)))
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(ts))
	binary.LittleEndian.PutUint64(b[24:], uint64(ttl))
	binary.LittleEndian.PutUint32(b[32:], uint32(len(hdr)))
	p := fsRecHdr
	p += copy(b[p:], subj)
	p += copy(b[p:], hdr)
	p += copy(b[p:], msg)
	binary.LittleEndian.PutUint64(b[p:], highwayhash.Sum64(b[:p], hkey))
	return dst
}

// fsParseRecord parses and verifies the record at the start of b.
func fsParseRecord(b []byte, hkey []byte, r *fsRec) error {
	if len(b) < fsRecMin {
		return errFsBadRecord
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < fsRecMin || n > len(b) || n > fsRecMaxSize {
		return errFsBadRecord
	}
	kind := b[4]
	if kind < fsKindMsg || kind > fsKindEnd || b[5]&^fsFlagOpen != 0 {
		return errFsBadRecord
	}
	slen := int(binary.LittleEndian.Uint16(b[6:]))
	hlen := int(binary.LittleEndian.Uint32(b[32:]))
	if slen > n-fsRecMin || hlen > n-fsRecMin-slen {
		return errFsBadRecord
	}
	body := n - fsRecHash
	if binary.LittleEndian.Uint64(b[body:]) != highwayhash.Sum64(b[:body], hkey) {
		return errFsBadRecord
	}
	r.kind = kind
	r.flags = b[5]
	r.rlen = n
	r.seq = binary.LittleEndian.Uint64(b[8:])
	r.ts = int64(binary.LittleEndian.Uint64(b[16:]))
	r.ttl = int64(binary.LittleEndian.Uint64(b[24:]))
	p := fsRecHdr
	r.subj = b[p : p+slen]
	p += slen
	r.hdr = b[p : p+hlen : p+hlen]
	p += hlen
	r.msg = b[p:body:body]
	return nil
}

// fsRecPlausible is a cheap pre-check used while resynchronising after a
// corrupt record, before paying for the hash.
func fsRecPlausible(b []byte) bool {
	if len(b) < fsRecMin {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < fsRecMin || n > len(b) || b[4] < fsKindMsg || b[4] > fsKindEnd || b[5]&^fsFlagOpen != 0 {
		return false
	}
	slen := int(binary.LittleEndian.Uint16(b[6:]))
	hlen := int(binary.LittleEndian.Uint32(b[32:]))
	return slen <= n-fsRecMin && hlen <= n-fsRecMin-slen
}

// fsResyncRecord finds the next offset after from where a valid record
// starts, or -1.
func fsResyncRecord(b []byte, from int, hkey []byte) int {
	var r fsRec
	for p := from + 1; p+fsRecMin <= len(b); p++ {
		if fsRecPlausible(b[p:]) && fsParseRecord(b[p:], hkey, &r) == nil {
			return p
		}
	}
	return -1
}
