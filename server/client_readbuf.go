package server

// readSizer picks the size of a connection's read buffer from its recent
// reads: small while the connection is idle, so that thousands of quiet
// clients cost little, and large when reads fill it.
//
// A read whose messages are queued to other connections stops at
// maxBufSize: the read buffer and the receivers' queues it fills then stay
// in the CPU cache while the receivers' writers drain them. A read that
// reaches no other connection (a publisher nobody listens to, or one whose
// subscribers are internal) only costs the syscall and the copy, so it may
// grow to maxQuietBufSize, which takes a quarter of the syscalls and TCP
// window updates per megabyte of 64 KiB reads.
type readSizer struct {
	shorts int // successive reads that would have fit in a quarter
}

// maxQuietBufSize bounds the read buffer of a connection whose reads
// deliver to no other connection.
const maxQuietBufSize = 256 * 1024

// next returns the buffer for the next read, given that the last read into
// b returned n bytes and whether it queued anything for other connections.
func (r *readSizer) next(b []byte, n int, fanout bool) []byte {
	limit := maxQuietBufSize
	if fanout {
		limit = maxBufSize
	}
	switch {
	case len(b) > limit:
		r.shorts = 0
		return make([]byte, limit)
	case n == len(b) && len(b) < limit:
		r.shorts = 0
		return make([]byte, len(b)*2)
	case n < len(b)/4 && len(b) > minBufSize:
		// A quarter, not a half: reads that vary around half the buffer
		// would otherwise shrink and regrow it, allocating every time.
		if r.shorts++; r.shorts > shortsToShrink {
			r.shorts = 0
			return make([]byte, len(b)/2)
		}
	default:
		r.shorts = 0
	}
	return b
}

// queuedForOthers reports whether this read queued anything for another
// connection. Reader only; call before flushClients empties the set.
func (c *client) queuedForOthers() bool {
	for r := range c.pcd {
		if r != c {
			return true
		}
	}
	return false
}
