package server

import (
	"crypto/tls"
	"net"
	"net/url"
	"time"
)

// Routes over TLS (the cluster block's tls), as the reference does them:
// the TLS handshake comes first, the soliciting server as the TLS client
// presenting the same certificate (so verify checks both ways); INFO and
// CONNECT then travel inside it.

// routeTLSTimeout is the cluster tls block's handshake timeout.
func routeTLSTimeout(o *Options) time.Duration {
	if t := o.Cluster.TLS; t != nil && t.Timeout > 0 {
		return secondsToDuration(t.Timeout)
	}
	return 2 * time.Second
}

// acceptTLS runs an accepted route's handshake on a goroutine of its own,
// so that a slow peer does not hold the listener.
func (cs *clusterState) acceptTLS(conn net.Conn) {
	s := cs.s
	_ = conn.SetDeadline(time.Now().Add(routeTLSTimeout(s.getOpts())))
	tc := tls.Server(conn, cs.tls)
	if err := tc.Handshake(); err != nil {
		s.Errorf("%s - TLS route handshake error: %v", conn.RemoteAddr(), err)
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	cs.createRoute(conn, &routeConn{tlsConn: tc})
}

// dialTLS handshakes a solicited route as the TLS client.
func (cs *clusterState) dialTLS(conn net.Conn, u *url.URL) (*tls.Conn, error) {
	_ = conn.SetDeadline(time.Now().Add(routeTLSTimeout(cs.s.getOpts())))
	cfg := cs.tls.Clone()
	if host, _, err := net.SplitHostPort(u.Host); err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return tc, nil
}
