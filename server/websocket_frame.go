package server

// WebSocket framing (RFC 6455 section 5) for client connections, and for
// leaf connections on either side (a soliciting leaf is the websocket
// client: it masks what it writes unless the hub agreed to no masking).
//
// Reading: the reading goroutine decodes frames in place in its read
// buffer. Payload bytes are unmasked where they lie and handed to the NATS
// parser as they arrive, so a frame split across reads, or a read holding
// many frames, costs no copy. Only control frames (at most 125 bytes) and
// compressed messages (which must be whole to inflate) are assembled.
//
// Writing: the write queue holds plain NATS protocol; the writer wraps each
// batch it takes in frames when it writes, so the frames are written from
// the same pooled chunks without copying (server frames are not masked).
// Pongs and the close frame are kept apart under client.mu: a pong goes
// out before the batch, the close frame after the last batch.

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"unicode/utf8"
)

const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA

	wsFinalBit = 0x80
	wsRsv1Bit  = 0x40 // the message is compressed (RFC 7692)
	wsRsv23    = 0x30
	wsMaskBit  = 0x80

	wsMaxControlPayload = 125
	wsMaxHeader         = 14
	// wsMaxMessageLimit caps the size of a frame the server writes and of
	// an inflated message it reads, as clients do (8 x max_payload, at most
	// 64 MiB).
	wsMaxMessageLimit = 64 << 20
)

// Close status codes (RFC 6455 section 7.4.1).
const (
	wsCloseNormal        = 1000
	wsCloseGoingAway     = 1001
	wsCloseProtocolError = 1002
	wsCloseInvalidData   = 1007
	wsClosePolicy        = 1008
	wsCloseTooBig        = 1009
	wsCloseInternal      = 1011
)

// wsConn is a connection's websocket state.
type wsConn struct {
	// Set at the upgrade, read-only after.
	compress  bool // permessage-deflate negotiated
	noMasking bool // the client sends unmasked frames (Nats-No-Masking)
	client    bool // we are the websocket client (a soliciting leaf)
	creds     wsCreds

	// Owned by the reading goroutine.
	r wsReader

	// Guarded by client.mu.
	pong      []byte // the pong answering the latest ping, framed
	closeMsg  []byte // the close frame, once decided; written last
	closeDone bool   // closeMsg was decided (it may be empty: no frame)

	// Owned by whoever holds outbound.flushing (the writer goroutine:
	// websocket connections are never flushed inline).
	w wsWriter
}

// wsReader is the decoder's state between reads.
type wsReader struct {
	hdr     [wsMaxHeader]byte
	hlen    int // header bytes kept from the previous read
	inFrame bool
	op      byte  // opcode of the current frame
	fin     bool  // the current frame ends its message
	rem     int64 // payload bytes of the current frame still to come
	masked  bool
	key     [4]byte
	kpos    int
	open    bool // a data message waits for its final frame
	deflate bool // the open message is compressed
	ctrl    []byte
	inflate wsInflater
}

// wsHeaderLen is the size of a frame header given its first two bytes.
func wsHeaderLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&wsMaskBit != 0 {
		n += 4
	}
	return n
}

// wsRead decodes one read's worth of frames and parses their payload.
func (c *client) wsRead(buf []byte) error {
	r := &c.ws.r
	for len(buf) > 0 {
		if !r.inFrame {
			var err error
			if buf, err = c.wsReadHeader(buf); err != nil {
				return err
			}
			if !r.inFrame {
				return nil // the header continues in the next read
			}
			if r.rem == 0 {
				if err := c.wsFrameDone(); err != nil {
					return err
				}
			}
			continue
		}
		n := min(int64(len(buf)), r.rem)
		p := buf[:n]
		buf = buf[n:]
		if r.masked {
			r.kpos = wsUnmask(p, r.key, r.kpos)
		}
		r.rem -= n
		if err := c.wsPayload(p); err != nil {
			return err
		}
		if r.rem == 0 {
			if err := c.wsFrameDone(); err != nil {
				return err
			}
		}
	}
	return nil
}

// wsReadHeader consumes a frame header from buf, keeping a partial one for
// the next read, and starts the frame once it is whole.
func (c *client) wsReadHeader(buf []byte) ([]byte, error) {
	r := &c.ws.r
	if r.hlen == 0 && len(buf) >= 2 {
		if n := wsHeaderLen(buf[0], buf[1]); len(buf) >= n {
			return buf[n:], c.wsStartFrame(buf[:n])
		}
	}
	for {
		need := 2
		if r.hlen >= 2 {
			need = wsHeaderLen(r.hdr[0], r.hdr[1])
		}
		if r.hlen == need {
			r.hlen = 0
			return buf, c.wsStartFrame(r.hdr[:need])
		}
		if len(buf) == 0 {
			return buf, nil
		}
		n := copy(r.hdr[r.hlen:need], buf)
		r.hlen += n
		buf = buf[n:]
	}
}

// wsStartFrame checks a complete header and sets up the frame it starts.
func (c *client) wsStartFrame(h []byte) error {
	r := &c.ws.r
	b0, b1 := h[0], h[1]
	op, fin := b0&0x0f, b0&wsFinalBit != 0
	switch {
	case b0&wsRsv23 != 0:
		return c.wsFail(0, "RSV2 and RSV3 must be clear")
	case b0&wsRsv1Bit != 0 && !c.ws.compress:
		return c.wsFail(0, "compressed frame received without negotiated permessage-deflate")
	case b1&wsMaskBit == 0 && !c.ws.noMasking && !c.ws.client:
		return c.wsFail(0, "mask bit missing")
	}
	size, pos := int64(b1&0x7f), 2
	switch size {
	case 126:
		size, pos = int64(binary.BigEndian.Uint16(h[2:])), 4
	case 127:
		u := binary.BigEndian.Uint64(h[2:])
		if u>>63 != 0 {
			return c.wsFail(wsCloseProtocolError, "invalid frame length")
		}
		size, pos = int64(u), 10
	}
	if err := c.wsCheckOpcode(op, fin, b0&wsRsv1Bit != 0, size); err != nil {
		return err
	}
	r.op, r.fin, r.rem, r.inFrame = op, fin, size, true
	r.masked = b1&wsMaskBit != 0
	if r.masked {
		copy(r.key[:], h[pos:pos+4])
		r.kpos = 0
	}
	r.ctrl = r.ctrl[:0]
	return nil
}

// wsCheckOpcode applies the rules of fragmentation and control frames.
func (c *client) wsCheckOpcode(op byte, fin, rsv1 bool, size int64) error {
	r := &c.ws.r
	switch op {
	case wsPing, wsPong, wsClose:
		if !fin {
			return c.wsFail(wsCloseProtocolError, "control frame does not have final bit set")
		}
		if size > wsMaxControlPayload {
			return c.wsFail(0, "control frame length bigger than maximum allowed of 125 bytes")
		}
	case wsText, wsBinary:
		if r.open {
			return c.wsFail(wsCloseProtocolError, "new message started before final frame for previous message was received")
		}
		r.open, r.deflate = !fin, rsv1
	case wsContinuation:
		if !r.open {
			return c.wsFail(wsCloseProtocolError, "invalid continuation frame")
		}
		r.open = !fin
	default:
		return c.wsFail(wsCloseProtocolError, "unknown opcode "+strconv.Itoa(int(op)))
	}
	return nil
}

// wsPayload takes unmasked payload bytes of the current frame.
func (c *client) wsPayload(p []byte) error {
	r := &c.ws.r
	switch {
	case r.op >= wsClose:
		r.ctrl = append(r.ctrl, p...)
		return nil
	case r.deflate:
		if !r.inflate.add(p, c.wsMessageLimit()) {
			return c.wsFail(0, "maximum payload exceeded")
		}
		return nil
	}
	return c.wsParse(p)
}

// wsFrameDone acts on a frame whose payload is complete.
func (c *client) wsFrameDone() error {
	r := &c.ws.r
	r.inFrame = false
	switch r.op {
	case wsPing:
		c.wsQueuePong(r.ctrl)
		return nil
	case wsPong:
		return nil
	case wsClose:
		return c.wsClientClose(r.ctrl)
	}
	if !r.fin || !r.deflate {
		return nil
	}
	r.deflate = false
	msg, err := r.inflate.inflate(c.wsMessageLimit())
	if err != nil {
		return c.wsFail(0, err.Error())
	}
	return c.wsParse(msg)
}

// wsMessageLimit bounds an inflated message: 8 x max_payload, at most
// wsMaxMessageLimit, as clients bound the frames they read.
func (c *client) wsMessageLimit() int { return wsLimit(c.mpay) }

func wsLimit(maxPayload int32) int {
	return int(max(1, min(int64(maxPayload)*8, wsMaxMessageLimit)))
}

// wsParse hands NATS protocol bytes to the parser. Its syntax errors end a
// websocket connection as a read error without an -ERR, as with the
// reference; errors that send an -ERR keep it, followed by a close frame.
func (c *client) wsParse(p []byte) error {
	if c.mq != nil {
		return c.mqttRead(p) // MQTT over websocket (mqtt_websocket.go)
	}
	err := c.parse(p)
	if err == nil {
		return nil
	}
	pe, ok := err.(*protoErr)
	if ok && pe.close && pe.reason == ProtocolViolation && (pe.msg == "" || pe == errUnknownOp) {
		return &protoErr{close: true, reason: ReadError, log: "read error: " + pe.Error()}
	}
	return err
}

// wsFail ends the connection for a framing error: logged as a read error,
// with a close frame carrying status and msg when status is not 0.
func (c *client) wsFail(status int, msg string) error {
	c.mu.Lock()
	if status != 0 {
		c.wsSetClose(status, msg)
	} else {
		c.ws.closeDone = true // no close frame, as with the reference
	}
	c.mu.Unlock()
	return &protoErr{close: true, reason: ReadError, log: "read error: " + msg}
}

// wsQueuePong answers a ping with its payload; only the latest ping is
// answered, which RFC 6455 allows and which bounds what a flood can queue.
func (c *client) wsQueuePong(payload []byte) {
	c.mu.Lock()
	c.ws.pong = wsAppendFrame(c.ws.pong[:0], wsPong, payload)
	c.mu.Unlock()
	c.addToFlush(c)
}

// wsClientClose answers the client's close frame by echoing it, and closes.
func (c *client) wsClientClose(p []byte) error {
	if len(p) == 1 {
		return c.wsFail(0, "close frame payload cannot be 1 byte")
	}
	if len(p) >= 2 {
		if code := int(binary.BigEndian.Uint16(p)); !wsValidCloseCode(code) {
			return c.wsFail(0, "invalid close status code "+strconv.Itoa(code))
		}
		if !utf8.Valid(p[2:]) {
			return c.wsFail(wsCloseInvalidData, "invalid utf8 body in close frame")
		}
	}
	c.mu.Lock()
	if !c.ws.closeDone {
		c.ws.closeMsg = wsAppendFrame(c.ws.closeMsg[:0], wsClose, p)
		c.ws.closeDone = true
	}
	c.mu.Unlock()
	return errClosedConn
}

// wsValidCloseCode reports whether a peer may send code (RFC 6455 7.4).
func wsValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// wsSetClose decides the close frame, once. Lock held.
func (c *client) wsSetClose(status int, reason string) {
	if c.ws.closeDone {
		return
	}
	c.ws.closeDone = true
	if len(reason) > wsMaxControlPayload-2 {
		reason = reason[:wsMaxControlPayload-2]
	}
	var p [wsMaxControlPayload]byte
	binary.BigEndian.PutUint16(p[:], uint16(status))
	n := 2 + copy(p[2:], reason)
	c.ws.closeMsg = wsAppendFrame(c.ws.closeMsg[:0], wsClose, p[:n])
}

// wsCloseStatus is the close status the reference sends when it closes a
// websocket connection for reason; 0 sends no close frame (the connection
// is broken or the client too slow to read one).
func wsCloseStatus(reason ClosedState) int {
	switch reason {
	case ClientClosed:
		return wsCloseNormal
	case ServerShutdown, StaleConnection:
		return wsCloseGoingAway
	case AuthenticationTimeout, AuthenticationViolation, AuthenticationExpired, MaxConnectionsExceeded,
		MaxControlLineExceeded, MaxSubscriptionsExceeded, Revocation, MissingAccount, Kicked:
		return wsClosePolicy
	case MaxPayloadExceeded:
		return wsCloseTooBig
	case BadClientProtocolVersion, ProtocolViolation, ParseError:
		return wsCloseProtocolError
	case SlowConsumerPendingBytes, SlowConsumerWriteDeadline, WriteError, ReadError, TLSHandshakeError:
		return 0
	}
	return wsCloseInternal
}

// wsOnClose decides the close frame of a connection the server closes for
// reason, before the writer's last batch. Lock held.
func (c *client) wsOnClose(reason ClosedState) {
	if status := wsCloseStatus(reason); status != 0 {
		c.wsSetClose(status, reason.String())
	} else {
		c.ws.closeDone = true
	}
}

// wsAppendFrame appends a complete unmasked frame (FIN set) to b.
func wsAppendFrame(b []byte, op byte, payload []byte) []byte {
	b = wsAppendHeader(b, op|wsFinalBit, len(payload))
	return append(b, payload...)
}

// wsAppendHeader appends an unmasked frame header with first byte b0.
func wsAppendHeader(b []byte, b0 byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, b0, byte(n))
	case n <= 0xffff:
		return append(b, b0, 126, byte(n>>8), byte(n))
	}
	b = append(b, b0, 127)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// wsUnmask XORs p with the masking key, starting at key position pos, and
// returns the position after p. Eight bytes at a time: this runs over every
// byte a websocket client sends.
func wsUnmask(p []byte, key [4]byte, pos int) int {
	var k [8]byte
	for i := range k {
		k[i] = key[(pos+i)&3]
	}
	k64 := binary.LittleEndian.Uint64(k[:])
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= k[i&7]
	}
	return (pos + len(p)) & 3
}

// wsWriter frames a write batch. Its buffers are reused from write to
// write, so framing allocates nothing in steady state.
type wsWriter struct {
	hdrs  []byte   // frame headers of this write
	out   [][]byte // what is written: headers, payload pieces, control frames
	ctrl  []byte   // pong and close frames taken from under the lock
	zbuf  []byte   // compressed payloads of this write
	pong  int      // ctrl[:pong] is the pong, ctrl[pong:] the close frame
	limit int      // largest frame payload
	mask  bool     // frames are masked (we are the client)
}

// wsTakeControl moves the pending pong, and when the connection is closed
// its close frame, to the writer. Lock held.
func (c *client) wsTakeControl(closed bool) bool {
	ws := c.ws
	w := &ws.w
	w.mask = ws.client && !ws.noMasking
	w.ctrl = w.appendControl(w.ctrl[:0], ws.pong)
	w.pong = len(w.ctrl)
	ws.pong = ws.pong[:0]
	if closed && len(ws.closeMsg) > 0 {
		w.ctrl = w.appendControl(w.ctrl, ws.closeMsg)
		ws.closeMsg = ws.closeMsg[:0]
	}
	// Not c.mpay: the reader owns it. A reload may change max_payload.
	w.limit = wsLimit(c.srv.getOpts().MaxPayload)
	return len(w.ctrl) > 0
}

// wsControlPending reports whether a pong waits to be written. Lock held.
func (c *client) wsControlPending() bool { return c.ws != nil && len(c.ws.pong) > 0 }

// wsFrames returns the buffers to write for held: the pong, held in
// frames of at most the frame limit (compressed when negotiated and worth
// it), then the close frame.
func (c *client) wsFrames(held [][]byte) [][]byte {
	w := &c.ws.w
	w.out, w.hdrs, w.zbuf = w.out[:0], w.hdrs[:0], w.zbuf[:0]
	if w.pong > 0 {
		w.out = append(w.out, w.ctrl[:w.pong])
	}
	total := 0
	for _, b := range held {
		total += len(b)
	}
	for off := 0; off < total; {
		n := min(total-off, w.limit)
		if c.ws.compress && n > wsCompressThreshold {
			n = min(n, w.limit-w.limit/16) // room for deflate's overhead
			w.compressPiece(held, off, n)
		} else {
			w.plainPiece(held, off, n)
		}
		off += n
	}
	if len(w.ctrl) > w.pong {
		w.out = append(w.out, w.ctrl[w.pong:])
	}
	return w.out
}

// plainPiece adds a frame of held's bytes [off, off+n) without copying
// (a client masks them in place: the writer owns the chunks it took).
func (w *wsWriter) plainPiece(held [][]byte, off, n int) {
	start := len(w.hdrs)
	var key [4]byte
	w.hdrs, key = w.appendHeader(w.hdrs, wsBinary|wsFinalBit, n)
	// A header is never recycled as a chunk: its capacity is its length.
	w.out = append(w.out, w.hdrs[start:len(w.hdrs):len(w.hdrs)])
	pos := 0
	forRange(held, off, n, func(p []byte) {
		if w.mask {
			pos = wsUnmask(p, key, pos)
		}
		w.out = append(w.out, p)
	})
}

// appendHeader appends a frame header, masked with a new key (returned)
// when w masks.
func (w *wsWriter) appendHeader(b []byte, b0 byte, n int) ([]byte, [4]byte) {
	var key [4]byte
	start := len(b)
	b = wsAppendHeader(b, b0, n)
	if !w.mask {
		return b, key
	}
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	b[start+1] |= wsMaskBit
	return append(b, key[:]...), key
}

// appendControl appends a complete unmasked control frame to b, masked
// when w masks.
func (w *wsWriter) appendControl(b, frame []byte) []byte {
	if len(frame) == 0 {
		return b
	}
	if !w.mask {
		return append(b, frame...)
	}
	h := wsHeaderLen(frame[0], frame[1])
	b, key := w.appendHeader(b, frame[0], len(frame)-h)
	start := len(b)
	b = append(b, frame[h:]...)
	wsUnmask(b[start:], key, 0)
	return b
}

// forRange calls f with the pieces of held that cover [off, off+n).
func forRange(held [][]byte, off, n int, f func([]byte)) {
	for _, b := range held {
		if n == 0 {
			return
		}
		if off >= len(b) {
			off -= len(b)
			continue
		}
		p := b[off:min(len(b), off+n)]
		off = 0
		n -= len(p)
		f(p)
	}
}

// wsPayloadWritten converts what a framed write wrote into the queued
// bytes it consumed: all of held when it succeeded. After an error the
// connection is closing and the figure only feeds a log line.
func wsPayloadWritten(held [][]byte, n int64, err error) int64 {
	var total int64
	for _, b := range held {
		total += int64(len(b))
	}
	if err == nil || n > total {
		return total
	}
	return n
}
