package server

// The set-up the three peer kinds (routes, leaf nodes, gateways) share: a
// listener with its accept goroutine, the set of every connection of the
// kind (registered or not, so shutdown closes half-made ones too), the quit
// channel that stops reconnects and the wait group of their goroutines; and
// the construction of a peer connection's *client.
//
// Locks: peerListener.mu is the embedding state's lock (clusterState.mu,
// leafState.mu, gatewayState.mu): it also guards that state's own fields,
// and is never held across I/O.

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// peerListener is embedded in clusterState, leafState and gatewayState.
type peerListener struct {
	mu       sync.Mutex
	listener net.Listener
	port     int                // bound port
	conns    map[uint64]*client // every connection of the kind, registered or not
	quit     chan struct{}      // closed by stop
	wg       sync.WaitGroup     // the accept loop, handshakes, reconnects
	stopped  bool
}

// initPeers makes the connection set and the quit channel.
func (pl *peerListener) initPeers() {
	pl.conns = make(map[uint64]*client)
	pl.quit = make(chan struct{})
}

// listen binds host:port (RANDOM_PORT: any); what names the kind in the
// reference's error text ("router", "leafnode", "gateway").
func (pl *peerListener) listen(host string, port int, what string) error {
	p := port
	if p == RANDOM_PORT {
		p = 0
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
	if err != nil {
		return fmtErr("Error listening on %s port: %d - %v", what, port, err)
	}
	pl.mu.Lock()
	pl.listener = l
	pl.port = l.Addr().(*net.TCPAddr).Port
	pl.mu.Unlock()
	return nil
}

// serve accepts on the listener in the background until stop; handle
// returns false to end the loop.
func (pl *peerListener) serve(s *Server, kind string, handle func(net.Conn) bool) {
	pl.mu.Lock()
	l := pl.listener
	pl.mu.Unlock()
	pl.wg.Add(1)
	go func() {
		defer pl.wg.Done()
		s.acceptConns(l, kind, pl.quit, pl.isStopped, handle)
	}()
}

// isStopped reports whether stop was called.
func (pl *peerListener) isStopped() bool {
	select {
	case <-pl.quit:
		return true
	default:
		return false
	}
}

// sleep waits d or until stop; false if stopped.
func (pl *peerListener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-pl.quit:
		return false
	}
}

// goPeer runs f on a goroutine that stop waits for; false (f not run) once
// stopped.
func (pl *peerListener) goPeer(f func()) bool {
	pl.mu.Lock()
	if pl.stopped {
		pl.mu.Unlock()
		return false
	}
	pl.wg.Add(1)
	pl.mu.Unlock()
	go func() {
		defer pl.wg.Done()
		f()
	}()
	return true
}

// track adds c to the connection set; once stopped it closes c's socket
// and returns false.
func (pl *peerListener) track(c *client) bool {
	pl.mu.Lock()
	if pl.stopped {
		pl.mu.Unlock()
		c.nc.Close()
		return false
	}
	pl.conns[c.cid] = c
	pl.mu.Unlock()
	return true
}

// stop closes the listener and every connection, stops reconnects and
// waits for the goroutines; later calls do nothing.
func (pl *peerListener) stop() {
	pl.mu.Lock()
	if pl.stopped {
		pl.mu.Unlock()
		return
	}
	pl.stopped = true
	close(pl.quit)
	if pl.listener != nil {
		pl.listener.Close()
	}
	conns := make([]*client, 0, len(pl.conns))
	for _, c := range pl.conns {
		conns = append(conns, c)
	}
	pl.mu.Unlock()
	closeAtShutdown(conns)
	pl.wg.Wait()
}

// addr is the listener's address, nil without one.
func (pl *peerListener) addr() *net.TCPAddr {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.listener == nil {
		return nil
	}
	return pl.listener.Addr().(*net.TCPAddr)
}

// newPeerClient is a route's, leaf's or gateway's *client before its
// handshake: headers on, the server's payload and control line limits, an
// outbound queue that turns slow consumer only past 64 MiB (or max_pending
// if higher). echo is the peer's CONNECT echo (routes and leaf nodes).
func newPeerClient(s *Server, cid uint64, conn net.Conn, kind int, proto protoHandler, echo bool) *client {
	o := s.getOpts()
	c := &client{
		cid:        cid,
		kind:       kind,
		srv:        s,
		nc:         conn,
		start:      time.Now(),
		subs:       make(map[string]*subscription),
		pcd:        make(map[*client]struct{}),
		opts:       ClientOpts{Headers: true, Echo: echo},
		headers:    true,
		mpay:       o.MaxPayload,
		mcl:        o.MaxControlLine,
		writerDone: make(chan struct{}),
		proto:      proto,
	}
	c.echo = echo
	c.pa.hdr = -1
	c.out.sg = make(chan struct{}, 1)
	c.out.mp = max(o.MaxPending, 64<<20)
	c.out.csz = minOutChunk
	if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.host, c.port = addr.IP.String(), addr.Port
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return c
}
