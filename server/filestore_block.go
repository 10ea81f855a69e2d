package server

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"

	"github.com/klauspost/compress/s2"
	"github.com/minio/highwayhash"
)

// Message block file format (msgs/<id>.blk). A block starts with a 32-byte
// header, all integers little-endian:
//
//	0   4  magic "NFB1"
//	4   1  cipher: 0 none, 1 ChaCha20-Poly1305, 2 AES-256-GCM
//	5   1  flags: bit 0 compressed (S2)
//	6   1  key generation: which of the stream's keys (see writeStreamKey)
//	       the block's key derives from; 0 in stores written before key
//	       rotation existed and in clear blocks
//	7   1  reserved, 0
//	8   16 salt: random per file version; the block's key is derived from
//	       the stream key and this salt, so a rewrite never reuses a key
//	24  8  HighwayHash-64 of bytes [0, 24)
//
// The block's logical content is a sequence of records (fsAppendRecord).
// When the block is neither encrypted nor compressed the content follows the
// header as is, so a record at logical offset o is at file offset 32+o and
// can be overwritten in place. Otherwise the content is carried in frames:
//
//	0   4  body length
//	4   8  logical offset of the frame's content
//	12  4  length of the frame's plaintext content
//	16  .. body: the content, S2-compressed if the block is compressed, then
//	       sealed if encrypted as 12-byte random nonce + AEAD ciphertext,
//	       with the 16 header bytes as additional data
//
// The active block is appended one frame per write batch (whole records);
// a rewritten block is cut into frames of at most fsFrameTarget content
// bytes, and the logical offset in each frame lets decoding resume after a
// bad one. A frame whose tag fails is still decrypted (both ciphers are
// counter mode, so a flipped bit stays one flipped bit) and its records are
// kept only if their own hashes verify: a flipped bit in the ciphertext
// loses the record it hits, not the frame (fsAEAD.openUnverified).
const (
	fsBlkHdrSize   = 32
	fsFrameHdr     = 16
	fsFrameTarget  = 64 << 10
	fsFlagCompress = 1
)

var fsBlkMagic = []byte("NFB1")

var errFsBadHeader = errors.New("invalid block header")

type fsBlkHeader struct {
	cipher     StoreCipher
	compressed bool
	keyGen     uint8
	salt       [16]byte
}

func (h *fsBlkHeader) encode() []byte {
	b := make([]byte, fsBlkHdrSize)
	copy(b, fsBlkMagic)
	b[4] = byte(h.cipher)
	if h.compressed {
		b[5] = fsFlagCompress
	}
	b[6] = h.keyGen
	copy(b[8:24], h.salt[:])
	binary.LittleEndian.PutUint64(b[24:], highwayhash.Sum64(b[:24], fsHdrKey))
	return b
}

// fsHdrKey keys header checksums; headers carry no secret, only a salt.
var fsHdrKey = make([]byte, 32)

func fsParseBlkHeader(b []byte) (fsBlkHeader, error) {
	var h fsBlkHeader
	if len(b) < fsBlkHdrSize || string(b[:4]) != string(fsBlkMagic) {
		return h, errFsBadHeader
	}
	if binary.LittleEndian.Uint64(b[24:]) != highwayhash.Sum64(b[:24], fsHdrKey) {
		return h, errFsBadHeader
	}
	if b[4] > byte(AES) || b[5]&^fsFlagCompress != 0 {
		return h, errFsBadHeader
	}
	h.cipher = StoreCipher(b[4])
	h.compressed = b[5]&fsFlagCompress != 0
	h.keyGen = b[6]
	copy(h.salt[:], b[8:24])
	return h, nil
}

func fsNewSalt() (s [16]byte) {
	_, _ = rand.Read(s[:])
	return s
}

// framed reports whether the block's content is carried in frames.
func (h *fsBlkHeader) framed() bool { return h.cipher != NoCipher || h.compressed }

// fsAppendFrame appends one frame holding chunk (logical offset off) to dst.
// aead is nil for a clear block; scratch is reused for compression.
func fsAppendFrame(dst []byte, chunk []byte, off uint64, compress bool, aead cipher.AEAD, scratch []byte) ([]byte, []byte) {
	body := chunk
	if compress {
		scratch = s2.Encode(scratch[:cap(scratch)], chunk)
		body = scratch
	}
	start := len(dst)
	blen := len(body)
	if aead != nil {
		blen += fsNonceSize + aead.Overhead()
	}
	dst = append(dst, make([]byte, fsFrameHdr)...)
	binary.LittleEndian.PutUint32(dst[start:], uint32(blen))
	binary.LittleEndian.PutUint64(dst[start+4:], off)
	binary.LittleEndian.PutUint32(dst[start+12:], uint32(len(chunk)))
	if aead == nil {
		return append(dst, body...), scratch
	}
	dst = append(dst, make([]byte, fsNonceSize)...)
	nonce := dst[len(dst)-fsNonceSize:]
	_, _ = rand.Read(nonce)
	ad := dst[start : start+fsFrameHdr]
	return aead.Seal(dst, nonce, body, ad), scratch
}

// errFsUnverified: a frame was decrypted although its tag did not verify
// (see fsAEAD.openUnverified); its records must each pass their hash.
var errFsUnverified = errors.New("frame authentication failed")

// fsOpenFrame decodes the frame at the start of b, returning its logical
// offset, content and total length. Sizes are checked before anything is
// allocated: a clear frame's content is as long as its body, a compressed
// one is at most fsFrameTarget. With unverified, a frame whose tag fails is
// still decrypted and returned with errFsUnverified.
func fsOpenFrame(b []byte, compress bool, aead cipher.AEAD, unverified bool) (uint64, []byte, int, error) {
	if len(b) < fsFrameHdr {
		return 0, nil, 0, errFsBadRecord
	}
	blen := int(binary.LittleEndian.Uint32(b))
	off := binary.LittleEndian.Uint64(b[4:])
	plen := int(binary.LittleEndian.Uint32(b[12:]))
	if blen > len(b)-fsFrameHdr {
		return 0, nil, 0, errFsBadRecord
	}
	body := b[fsFrameHdr : fsFrameHdr+blen]
	clear := blen
	if aead != nil {
		clear -= fsNonceSize + aead.Overhead()
	}
	if clear < 0 || (compress && plen > fsFrameTarget) || (!compress && plen != clear) {
		return 0, nil, 0, errFsBadRecord
	}
	var ferr error
	if aead != nil {
		var err error
		sealed := body[fsNonceSize:]
		body, err = aead.Open(nil, body[:fsNonceSize], sealed, b[:fsFrameHdr])
		if err != nil {
			ra, ok := aead.(*fsAEAD)
			if !unverified || !ok {
				return 0, nil, 0, err
			}
			if body = ra.openUnverified(b[fsFrameHdr:fsFrameHdr+fsNonceSize], sealed); body == nil {
				return 0, nil, 0, err
			}
			ferr = errFsUnverified
		}
	}
	if compress {
		n, err := s2.DecodedLen(body)
		if err != nil || n != plen {
			return 0, nil, 0, errFsBadRecord
		}
		body, err = s2.Decode(nil, body)
		if err != nil {
			return 0, nil, 0, err
		}
	}
	if len(body) != plen {
		return 0, nil, 0, errFsBadRecord
	}
	return off, body, fsFrameHdr + blen, ferr
}

// fsFrameGap bounds how much content frames occupying gap file bytes can
// hold, so a corrupt offset cannot make decoding allocate without bound.
func fsFrameGap(gap int, compress bool) uint64 {
	if compress {
		return uint64(gap/fsFrameHdr+1) * fsFrameTarget
	}
	return uint64(gap)
}

// fsDecoded is a decoded block: its logical content (zeros where a frame
// was lost) and, if the file ends in a torn or corrupt frame with nothing
// valid after it, the file offset where valid data ends.
type fsDecoded struct {
	hdr    fsBlkHeader
	plain  []byte
	tornAt int // -1 when the file ends cleanly.
	bad    int // Number of frames that failed.
}

// fsDecodeBlock decodes a whole block file. keyFor returns the AEAD for an
// encrypted header.
func fsDecodeBlock(file []byte, keyFor func(h *fsBlkHeader) (cipher.AEAD, error)) (*fsDecoded, error) {
	h, err := fsParseBlkHeader(file)
	if err != nil {
		return nil, err
	}
	d := &fsDecoded{hdr: h, tornAt: -1}
	if !h.framed() {
		d.plain = file[fsBlkHdrSize:]
		return d, nil
	}
	var aead cipher.AEAD
	if h.cipher != NoCipher {
		if aead, err = keyFor(&h); err != nil {
			return nil, err
		}
	}
	goodEnd := fsBlkHdrSize // File offset after the last good frame.
	for p := fsBlkHdrSize; p < len(file); {
		off, chunk, n, err := fsOpenFrame(file[p:], h.compressed, aead, true)
		unverified := err == errFsUnverified
		if unverified {
			// Its content is used (records are checked by their hashes)
			// only if its length is right: the next frame must follow.
			d.bad++
			if p+n == len(file) || fsFrameAt(file, p+n, h.compressed, aead) {
				err = nil
			}
		}
		if err == nil && off >= uint64(len(d.plain)) && off-uint64(len(d.plain)) <= fsFrameGap(p-goodEnd, h.compressed) {
			if gap := int(off) - len(d.plain); gap > 0 {
				d.plain = append(d.plain, make([]byte, gap)...)
			}
			d.plain = append(d.plain, chunk...)
			p += n
			goodEnd = p
			continue
		}
		if !unverified {
			d.bad++
		}
		q := fsResyncFrame(file, p, h.compressed, aead)
		if q < 0 {
			d.tornAt = p
			break
		}
		p = q
	}
	return d, nil
}

func fsResyncFrame(file []byte, from int, compress bool, aead cipher.AEAD) int {
	for q := from + 1; q+fsFrameHdr <= len(file); q++ {
		blen := int(binary.LittleEndian.Uint32(file[q:]))
		if blen > len(file)-q-fsFrameHdr {
			continue
		}
		if fsFrameAt(file, q, compress, aead) {
			return q
		}
	}
	return -1
}

// fsFrameAt reports whether a frame that verifies starts at file[q:].
func fsFrameAt(file []byte, q int, compress bool, aead cipher.AEAD) bool {
	_, _, _, err := fsOpenFrame(file[q:], compress, aead, false)
	return err == nil
}

// fsEncodeBlock encodes plain as a complete block file with header h, in
// frames of at most fsFrameTarget content bytes.
func fsEncodeBlock(h *fsBlkHeader, plain []byte, aead cipher.AEAD) ([]byte, error) {
	out := h.encode()
	if !h.framed() {
		return append(out, plain...), nil
	}
	var scratch []byte
	for p := 0; p < len(plain); p += fsFrameTarget {
		end := min(p+fsFrameTarget, len(plain))
		out, scratch = fsAppendFrame(out, plain[p:end], uint64(p), h.compressed, aead, scratch)
	}
	return out, nil
}
