package server

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// lameDuckMaxInterval caps the pause between two evictions, as the
// reference's spacing does: with few clients and a long duration there is
// no point keeping the last ones for minutes.
const lameDuckMaxInterval = time.Second

// lameDuckMinInterval is the shortest pause worth a timer; with more clients
// than the duration has milliseconds, several are closed per tick.
const lameDuckMinInterval = time.Millisecond

// LameDuckShutdown stops accepting clients, tells the connected ones (INFO
// with "ldm":true) so that they can reconnect elsewhere, waits
// lame_duck_grace_period, then closes them spread over the rest of
// lame_duck_duration and shuts the server down. It returns once the server is
// down; calling it again, or during Shutdown, does nothing.
func (s *Server) LameDuckShutdown() { s.lameDuck() }

// lameDuck runs lame duck mode; it reports false, at once, when lame duck
// mode or a shutdown was already under way, so that a repeated SIGUSR2 does
// not end the process early.
func (s *Server) lameDuck() bool {
	if s.isShuttingDown() || !s.ldm.CompareAndSwap(false, true) {
		return false
	}
	o := s.getOpts()
	s.Noticef("Entering lame duck mode, stop accepting new clients")
	s.mu.Lock()
	if s.listener != nil {
		s.listener.Close()
	}
	s.mu.Unlock()
	s.sendRouteLameDuck()
	s.stopWebsocket()
	clients := s.clientList()
	if len(clients) == 0 {
		s.Shutdown()
		return true
	}
	s.sendLameDuckInfo(clients)
	if !s.pause(o.LameDuckGracePeriod) {
		return true
	}
	s.Noticef("Closing existing clients")
	// Connections may have gone (or, accepted just before the listener
	// closed, arrived) during the grace period.
	clients = s.clientList()
	spread := o.LameDuckDuration - o.LameDuckGracePeriod
	interval, batch := lameDuckPacing(spread, len(clients))
	for i, c := range clients {
		if i > 0 && i%batch == 0 && !s.pause(interval) {
			return true
		}
		c.closeConnection(ServerShutdown)
	}
	s.Shutdown()
	return true
}

// lameDuckPacing spreads n evictions over d: one batch of clients every
// interval, the interval capped at lameDuckMaxInterval and no shorter than
// lameDuckMinInterval.
func lameDuckPacing(d time.Duration, n int) (interval time.Duration, batch int) {
	if n <= 0 {
		return 0, 1
	}
	if d < 0 {
		d = 0
	}
	interval = d / time.Duration(n)
	batch = 1
	if interval > lameDuckMaxInterval {
		interval = lameDuckMaxInterval
	}
	if interval < lameDuckMinInterval {
		if interval <= 0 {
			return 0, n
		}
		batch = int((lameDuckMinInterval + interval - 1) / interval)
		interval = lameDuckMinInterval
	}
	return interval, batch
}

// pause waits d unless the server shuts down meanwhile (another signal, an
// embedder's Shutdown); it reports whether lame duck mode should go on.
func (s *Server) pause(d time.Duration) bool {
	if d <= 0 {
		return !s.isShuttingDown()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return !s.isShuttingDown()
	case <-s.quitCh:
		return false
	}
}

// clientList copies the open connections so that they can be worked on
// without the server lock.
func (s *Server) clientList() []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		list = append(list, c)
	}
	return list
}

// sendLameDuckInfo sends the INFO with "ldm":true; unlike the other async
// INFOs it names each client's address too (client_ip), as the reference's
// does.
func (s *Server) sendLameDuckInfo(clients []*client) {
	s.sendAsyncInfo(clients, s.asyncInfo(true), true)
}

// asyncInfo is an INFO line for connected clients, built from the server's
// INFO under the lock that reload writes it under. Its client_id is
// cidPlaceholder: sendAsyncInfo puts each client's own id there, as the
// reference does (clients such as nats.c read their id from every INFO).
func (s *Server) asyncInfo(ldm bool) []byte {
	s.mu.Lock()
	info := s.info
	s.mu.Unlock()
	info.LameDuckMode = ldm
	info.CID = cidPlaceholder
	b, err := json.Marshal(&info)
	if err != nil {
		return nil
	}
	proto := make([]byte, 0, len(b)+8)
	return append(append(append(proto, "INFO "...), b...), " \r\n"...)
}

// cidPlaceholder stands for the client_id in a shared async INFO line; no
// real client id reaches it.
const cidPlaceholder = math.MaxUint64

// splitAtCID cuts an INFO line around the placeholder client_id digits, so
// that each client's id can be written between the two halves.
func splitAtCID(proto []byte) (head, tail []byte) {
	digits := strconv.AppendUint(nil, cidPlaceholder, 10)
	i := bytes.Index(proto, digits)
	if i < 0 {
		return proto, nil
	}
	return proto[:i], proto[i+len(digits):]
}

// clientIdentity appends c's client_id value and, with withIP, its
// client_ip field: what goes in place of the placeholder. Lock held.
func clientIdentity(b []byte, c *client, withIP bool) []byte {
	b = strconv.AppendUint(b, c.cid, 10)
	if withIP && c.host != "" {
		b = append(b, `,"client_ip":`...)
		b = strconv.AppendQuote(b, c.host)
	}
	return b
}

// sendAsyncInfo sends an INFO to the clients that said in CONNECT
// (protocol >= 1) that they understand asynchronous INFO, as the reference
// does; older clients would take it for a protocol error. withIP adds each
// client's client_ip beside its client_id.
func (s *Server) sendAsyncInfo(clients []*client, proto []byte, withIP bool) {
	if proto == nil {
		return
	}
	head, tail := splitAtCID(proto)
	var wsHead, wsTail []byte
	var id []byte
	for _, c := range clients {
		h, t := head, tail
		if c.ws != nil {
			if wsHead == nil {
				wsHead, wsTail = splitAtCID(s.wsAsyncInfo(proto))
			}
			h, t = wsHead, wsTail
		}
		c.mu.Lock()
		send := c.opts.Protocol >= 1 && !c.closed
		if send {
			if t == nil {
				c.queueOutbound(h)
			} else {
				id = clientIdentity(id[:0], c, withIP)
				c.queueOutbound(h, id, t)
			}
		}
		c.mu.Unlock()
		if send {
			c.signalFlush()
		}
	}
}
