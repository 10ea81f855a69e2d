package server

// The write side of a connection: its queue of pooled chunks, the writer
// goroutine that drains it with vectored writes, the inline flush a reader
// may do for a small queue, and the producer stall that bounds how far a
// publisher may run ahead of a receiver. Locking is described in README.md
// under "Writing to a connection".

import (
	"math/bits"
	"net"
	"slices"
	"sync"
	"time"
)

// outbound is a connection's write queue: chunks filled by publishers under
// the connection's lock and drained by its writer goroutine with one
// vectored write.
type outbound struct {
	chunks [][]byte // full chunks, oldest first
	cur    []byte   // chunk being filled
	pb     int64    // bytes queued, not yet written
	csz    int      // size of the next chunk, adapted to load
	sg     chan struct{}
	mp     int64 // max_pending
	// flushing is set while one goroutine (the writer, or a reader
	// flushing inline) owns the socket for writing.
	flushing bool
	// drained, when not nil, is closed once the queue has drained below
	// half the stall threshold: publishers that outran it wait on it.
	drained chan struct{}
	// inlineVec is the inline flusher's, used while it owns flushing.
	inlineVec vectorWriter
	// z compresses a route's batches once compression was negotiated;
	// the first plainHead chunks were queued before and go out in clear
	// (route_compress.go). Compressed queues are never flushed inline.
	z         *routeCompressor
	plainHead int
}

// vectorWriter holds a vectored write's buffer list across writes.
// net.Buffers.WriteTo consumes the slice it is given and makes a local
// net.Buffers escape to the heap: building each write's list afresh would
// allocate on every write.
type vectorWriter struct {
	base net.Buffers // keeps the backing array
	cur  net.Buffers // what WriteTo consumes
}

// load sets the list to held and returns it, ready for WriteTo.
func (w *vectorWriter) load(held [][]byte) *net.Buffers {
	w.base = append(w.base[:0], held...)
	w.cur = w.base
	return &w.cur
}

// Producer stall: a publisher that fills a receiver's queue past stallAt
// waits, at most maxStall, for the receiver's writer to catch up before it
// reads more. This bounds the memory a fast publisher makes a few slower
// subscribers hold, long before max_pending would cut them off.
const (
	maxStallAt = 1 << 20
	maxStall   = 10 * time.Millisecond
)

// stallAt is the queue size past which publishers are stalled. Lock held.
func (o *outbound) stallAt() int64 { return min(maxStallAt, o.mp/4) }

// stallChan returns the channel to wait on when the queue is over the
// threshold, or nil. Lock held.
func (o *outbound) stallChan() chan struct{} {
	if o.pb <= o.stallAt() {
		return nil
	}
	if o.drained == nil {
		o.drained = make(chan struct{})
	}
	return o.drained
}

// queueOutbound appends protocol bytes to the write queue. Lock held.
func (c *client) queueOutbound(parts ...[]byte) {
	if c.closed || c.nc == nil {
		return
	}
	for _, p := range parts {
		c.appendOut(p)
	}
}

// appendOut copies p into the current chunk, starting a new chunk when it is
// full. Lock held.
func (c *client) appendOut(p []byte) {
	o := &c.out
	for len(p) > 0 {
		if len(o.cur) == cap(o.cur) {
			if o.cur != nil {
				o.chunks = append(o.chunks, o.cur)
			}
			o.cur = c.newChunk()
		}
		n := copy(o.cur[len(o.cur):cap(o.cur)], p)
		o.cur = o.cur[:len(o.cur)+n]
		p = p[n:]
		o.pb += int64(n)
	}
}

func (c *client) newChunk() []byte {
	if c.out.csz < minOutChunk {
		c.out.csz = minOutChunk
	}
	return getChunk(c.out.csz)
}

// Outbound chunks are powers of two from minOutChunk to maxOutChunk and are
// shared between connections through one pool per size, so that a burst on
// one connection reuses what another drained instead of making garbage.
var chunkPools [8]sync.Pool

func chunkClass(size int) int {
	i := bits.Len(uint(size-1)) - bits.Len(uint(minOutChunk-1))
	return max(0, min(i, len(chunkPools)-1))
}

// chunkBoxes holds empty *[]byte boxes. Chunks travel through chunkPools
// in boxes because putting a bare slice in a sync.Pool allocates its header
// every time: one allocation per write on the request/reply path.
var chunkBoxes sync.Pool

func getChunk(size int) []byte {
	i := chunkClass(size)
	if box, ok := chunkPools[i].Get().(*[]byte); ok {
		b := *box
		*box = nil
		chunkBoxes.Put(box)
		return b[:0]
	}
	return make([]byte, 0, minOutChunk<<i)
}

func putChunk(b []byte) {
	i := chunkClass(cap(b))
	if cap(b) != minOutChunk<<i {
		return // not one of ours
	}
	box, _ := chunkBoxes.Get().(*[]byte)
	if box == nil {
		box = new([]byte)
	}
	*box = b[:0]
	chunkPools[i].Put(box)
}

// checkSlowConsumer closes a connection whose queue passed max_pending.
// Lock held; returns true if the connection is now closing.
func (c *client) checkSlowConsumer() bool {
	if c.out.pb <= c.out.mp {
		return false
	}
	c.srv.slowConsumers.Add(1)
	c.srv.Noticef("%s - Slow Consumer Detected: MaxPending of %d Exceeded", c.logPrefix(), c.out.mp)
	c.markClosed(SlowConsumerPendingBytes)
	return true
}

// signalFlush wakes the writer without blocking.
func (c *client) signalFlush() {
	select {
	case c.out.sg <- struct{}{}:
	default:
	}
}

// flushClients flushes every connection this reader queued data for since
// the last call: once per read, not once per message. A small queue whose
// connection is idle is written right here, saving the writer goroutine's
// wake-up on the request/reply path; anything else goes to the writer.
func (c *client) flushClients(inline bool) {
	for r := range c.pcd {
		if !inline || !r.flushInline() {
			r.signalFlush()
		}
		delete(c.pcd, r)
	}
}

// waitStall waits, bounded, for the receiver this reader outran.
func (c *client) waitStall() {
	ch := c.stall
	if ch == nil {
		return
	}
	c.stall = nil
	if c.stallTimer == nil {
		c.stallTimer = time.NewTimer(maxStall)
	} else {
		c.stallTimer.Reset(maxStall)
	}
	select {
	case <-ch:
		c.stallTimer.Stop()
	case <-c.stallTimer.C:
	}
}

// maxInlineFlush bounds what a reader writes for another connection: small
// enough that the socket buffer takes it without blocking. Only short reads
// (maxInlineRead) flush inline: they are requests and replies, where the
// writer's wake-up is latency; long reads are throughput, where the writer
// working in parallel with the reader is worth more.
const (
	maxInlineFlush = 2 * 1024
	maxInlineRead  = 2 * 1024
)

// writeDeadline is the connection's: the cluster, gateway or leafnodes
// block's for routes, gateways and leaf connections when it sets one,
// else the server's.
func (c *client) writeDeadline() time.Duration {
	o := c.srv.getOpts()
	switch {
	case c.kind == ROUTER && o.Cluster.WriteDeadline > 0:
		return o.Cluster.WriteDeadline
	case c.kind == GATEWAY && o.Gateway.WriteDeadline > 0:
		return o.Gateway.WriteDeadline
	case c.kind == LEAF && o.LeafNode.WriteDeadline > 0:
		return o.LeafNode.WriteDeadline
	}
	return o.WriteDeadline
}

// inlineWriteDeadline bounds how long a publisher may block writing another
// connection's queue, whose kernel buffer may be full because its reader is
// slow: what the socket did not take by then goes back to the receiver's
// writer, which waits for it under write_deadline. A receiver that merely
// reads late is not a slow consumer.
const inlineWriteDeadline = time.Millisecond

// flushInline writes a small queue on the caller's goroutine. It returns
// false when the writer goroutine must do it instead.
func (c *client) flushInline() bool {
	if c.nc == nil || c.ws != nil || !c.mu.TryLock() {
		// A websocket queue is framed by its writer, which alone may
		// leave a frame half written.
		return false
	}
	o := &c.out
	// Plain sockets only: a TLS write that times out leaves the session
	// unusable, and nothing is written inline while a handshake may start.
	if o.flushing || c.closed || o.pb > maxInlineFlush || !o.hasData() || c.tls.conn != nil || c.tlsPending() || o.z != nil {
		// Nothing queued and open: nothing for the writer to do either.
		idle := !o.hasData() && !c.closed
		c.mu.Unlock()
		return idle
	}
	o.flushing = true
	held := o.take(c.inlineHeld[:0])
	nc := c.nc
	c.mu.Unlock()

	bufs := o.inlineVec.load(held)
	_ = nc.SetWriteDeadline(time.Now().Add(inlineWriteDeadline))
	n, err := bufs.WriteTo(nc)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.requeueUnwritten(held, n)
	} else {
		if err != nil {
			c.failWrite(err, held, n)
		}
		c.afterWrite(held, n, err)
	}
	c.inlineHeld = held[:0]
	c.mu.Lock()
	o.flushing = false
	wake := o.hasData() || c.closed
	c.mu.Unlock()
	if wake {
		c.signalFlush()
	}
	return true
}

// requeueUnwritten puts what a timed-out inline write left unwritten back at
// the front of the queue, before anything queued since, and recycles the
// chunks it wrote in full.
func (c *client) requeueUnwritten(held [][]byte, n int64) {
	written := n
	rest := held[:0] // filled in place: never ahead of the loop
	for _, b := range held {
		if n >= int64(len(b)) {
			n -= int64(len(b))
			putChunk(b)
			continue
		}
		rest = append(rest, b[n:])
		n = 0
	}
	c.mu.Lock()
	c.out.pb -= written
	c.out.chunks = slices.Insert(c.out.chunks, 0, rest...)
	if c.out.z != nil {
		// Queued before a switch to compression that came meanwhile.
		c.out.plainHead += len(rest)
	}
	c.mu.Unlock()
	clear(held)
}

// hasData reports whether anything is queued and not yet taken. Lock held.
func (o *outbound) hasData() bool { return len(o.chunks) > 0 || len(o.cur) > 0 }

// takeBatch is take for the writer: while a switch to compression is
// pending, the chunks queued before it alone, in clear; then everything,
// with the compressor to use (nil for clear text). Lock held.
func (o *outbound) takeBatch(held [][]byte) ([][]byte, *routeCompressor) {
	if o.plainHead > 0 {
		held = append(held, o.chunks[:o.plainHead]...)
		o.chunks = append(o.chunks[:0], o.chunks[o.plainHead:]...)
		o.plainHead = 0
		return held, nil
	}
	return o.take(held), o.z
}

// take moves the queued chunks into held. Lock held.
func (o *outbound) take(held [][]byte) [][]byte {
	held = append(held, o.chunks...)
	if len(o.cur) > 0 {
		held = append(held, o.cur)
		o.cur = nil
	}
	o.chunks = o.chunks[:0]
	return held
}

// writeLoop drains the write queue until the connection closes. It never
// writes while an inline flush is under way, so bytes stay in order.
func (c *client) writeLoop() {
	defer close(c.writerDone)
	var vec vectorWriter
	var held [][]byte
	o := &c.out
	for {
		c.mu.Lock()
		for o.flushing || (!o.hasData() && !c.closed && !c.wsControlPending()) {
			c.mu.Unlock()
			<-o.sg
			c.mu.Lock()
		}
		closed := c.closed
		var z *routeCompressor
		held, z = o.takeBatch(held[:0])
		ctrl := c.ws != nil && c.wsTakeControl(closed)
		o.flushing = len(held) > 0 || ctrl
		wd := c.writeDeadline()
		nc := c.ioConn() // the TLS connection once the handshake is done
		c.mu.Unlock()

		if len(held) > 0 || ctrl {
			out := held
			if c.ws != nil {
				out = c.wsFrames(held)
			} else if z != nil && len(held) > 0 {
				out = z.compress(held)
			}
			bufs := vec.load(out)
			_ = nc.SetWriteDeadline(time.Now().Add(wd))
			n, err := bufs.WriteTo(nc)
			if c.ws != nil {
				n = wsPayloadWritten(held, n, err)
			} else if z != nil {
				n = compressedWritten(held, err)
			}
			if err != nil {
				c.failWrite(err, held, n)
			}
			c.afterWrite(held, n, err)
			c.mu.Lock()
			o.flushing = false
			c.mu.Unlock()
			if err != nil {
				closed = true
			}
		}
		if closed {
			// Everything queued before the close was written above.
			nc.Close()
			return
		}
	}
}

// compressedWritten is what a compressed write took off the queue: all of
// it, or nothing when it failed (the connection closes then).
func compressedWritten(held [][]byte, err error) int64 {
	if err != nil {
		return 0
	}
	var n int64
	for _, b := range held {
		n += int64(len(b))
	}
	return n
}

// afterWrite accounts for written bytes and recycles chunks.
func (c *client) afterWrite(held [][]byte, n int64, err error) {
	c.mu.Lock()
	c.out.pb -= n
	if c.out.pb < 0 || err != nil {
		c.out.pb = 0
	}
	if c.out.drained != nil && (c.out.pb < c.out.stallAt()/2 || err != nil) {
		close(c.out.drained) // release publishers waiting for this queue
		c.out.drained = nil
	}
	// Adapt the chunk size: a busy connection writes big batches.
	switch {
	case n >= int64(c.out.csz) && c.out.csz < maxOutChunk:
		c.out.csz *= 2
	case n < int64(c.out.csz/4) && c.out.csz > minOutChunk:
		c.out.csz /= 2
	}
	c.mu.Unlock()
	for i, b := range held {
		putChunk(b)
		held[i] = nil
	}
}

// failWrite handles a write error or deadline: a stalled reader is a slow
// consumer, as with the reference, logged with what was still pending when
// the deadline hit. held and n are the write that failed; call it before
// afterWrite, which forgets the queue.
func (c *client) failWrite(err error, held [][]byte, n int64) {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		chunks, bytes := c.unwritten(held, n)
		c.srv.slowConsumers.Add(1)
		c.srv.Noticef("%s - Slow Consumer Detected: WriteDeadline of %v exceeded with %d chunks of %d total bytes.",
			c.logPrefix(), c.writeDeadline(), chunks, bytes)
		c.closeConnection(SlowConsumerWriteDeadline)
		return
	}
	c.closeConnection(WriteError)
}

// unwritten counts the chunks and bytes still pending after a write of held
// that wrote n bytes: its unwritten part and whatever was queued since.
func (c *client) unwritten(held [][]byte, n int64) (chunks int, bytes int64) {
	for _, b := range held {
		if n >= int64(len(b)) {
			n -= int64(len(b))
			continue
		}
		chunks++
		bytes += int64(len(b)) - n
		n = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	chunks += len(c.out.chunks)
	if len(c.out.cur) > 0 {
		chunks++
	}
	for _, b := range c.out.chunks {
		bytes += int64(len(b))
	}
	return chunks, bytes + int64(len(c.out.cur))
}
