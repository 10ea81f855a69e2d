package server

// permessage-deflate (RFC 7692) without context takeover in either
// direction, the only form the reference negotiates: every message is
// compressed on its own, so compressors and decompressors are shared by
// all connections through pools instead of each connection keeping one
// (hundreds of KiB) for its lifetime.

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// wsCompressThreshold: payloads up to this size go out uncompressed, as
// with the reference; deflate's framing would outweigh what it saves.
const wsCompressThreshold = 64

// wsDeflateTail ends a message's compressed data: the 4 bytes of the sync
// flush that the sender strips (RFC 7692 7.2.2), then an empty final stored
// block so that the reader sees the end of the stream.
var wsDeflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

var (
	wsCompressors = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, flate.BestSpeed)
		return w
	}}
	wsDecompressors sync.Pool
)

// appendSink is an io.Writer appending to a slice.
type appendSink struct{ b []byte }

func (s *appendSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// compressPiece adds a compressed frame of held's bytes [off, off+n).
func (w *wsWriter) compressPiece(held [][]byte, off, n int) {
	fw := wsCompressors.Get().(*flate.Writer)
	start := len(w.zbuf)
	sink := appendSink{b: w.zbuf}
	fw.Reset(&sink)
	forRange(held, off, n, func(p []byte) { _, _ = fw.Write(p) })
	_ = fw.Flush()
	wsCompressors.Put(fw)
	w.zbuf = sink.b
	// Strip the sync flush's 00 00 ff ff, which the reader adds back.
	end := len(w.zbuf) - 4
	hs := len(w.hdrs)
	var key [4]byte
	w.hdrs, key = w.appendHeader(w.hdrs, wsBinary|wsFinalBit|wsRsv1Bit, end-start)
	if w.mask {
		wsUnmask(w.zbuf[start:end], key, 0)
	}
	w.out = append(w.out, w.hdrs[hs:len(w.hdrs):len(w.hdrs)], w.zbuf[start:end:end])
	w.zbuf = w.zbuf[:end]
}

// wsInflater assembles a compressed message and inflates it.
type wsInflater struct {
	in  []byte // compressed message so far
	out []byte // the last inflated message, reused
	src bytes.Reader
}

// add appends compressed payload; false once the message grows past limit
// (compressed data that large would inflate past it too, or is hostile).
func (f *wsInflater) add(p []byte, limit int) bool {
	if len(f.in)+len(p) > limit {
		return false
	}
	f.in = append(f.in, p...)
	return true
}

var errWSInflate = errors.New("maximum payload exceeded")

// inflate returns the message's inflated bytes, valid until the next call;
// a message that inflates past limit is refused.
func (f *wsInflater) inflate(limit int) ([]byte, error) {
	f.in = append(f.in, wsDeflateTail...)
	f.src.Reset(f.in)
	var fr io.ReadCloser
	if v := wsDecompressors.Get(); v != nil {
		fr = v.(io.ReadCloser)
		_ = fr.(flate.Resetter).Reset(&f.src, nil)
	} else {
		fr = flate.NewReader(&f.src)
	}
	out, err := readLimited(fr, f.out[:0], limit)
	wsDecompressors.Put(fr)
	f.in = f.in[:0]
	if cap(f.in) > maxBufSize {
		f.in = nil // a large message is rare: do not keep its memory
	}
	f.out = out
	if cap(f.out) > maxBufSize {
		f.out = nil
	}
	return out, err
}

// readLimited reads r to its end into b, failing past limit bytes.
func readLimited(r io.Reader, b []byte, limit int) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > limit {
			return b, errWSInflate
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, errors.New("invalid compressed message: " + err.Error())
		}
	}
}
