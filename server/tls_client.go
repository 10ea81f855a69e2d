package server

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// tlsMode is how a client connection meets TLS, fixed at creation.
type tlsMode uint8

const (
	tlsNone      tlsMode = iota
	tlsAfterInfo         // INFO in clear text, then the client upgrades
	tlsFirst             // handshake before INFO (handshake_first)
	tlsOptional          // allow_non_tls: upgrade only if the client starts one
)

// recordTypeHandshake is the first byte of every TLS ClientHello record; a
// NATS client speaks first with "CONNECT", never with this byte.
const recordTypeHandshake = 0x16

// clientTLS is a connection's TLS state. mode is set before the
// connection's goroutines start and read-only after; the other fields are
// written only by the reading goroutine, under client.mu ("reader writes":
// it may read them without the lock, everyone else takes it).
type clientTLS struct {
	mode  tlsMode
	info  []byte    // INFO line held back until a handshake-first handshake
	conn  *tls.Conn // nil until the handshake completes
	first bool      // the client did the handshake before INFO
	clear bool      // allow_non_tls: the client speaks clear text
}

var errNotPinned = errors.New("certificate not pinned")

// configureClientTLS builds the client listener's TLS configuration from
// the options and sets the INFO fields that announce it.
func (s *Server) configureClientTLS(o *Options) error {
	if o.TLS == nil {
		return nil
	}
	if err := validateClientTLS(o.TLS); err != nil {
		return err
	}
	cfg, err := GenTLSConfig(o.TLS)
	if err != nil {
		return err
	}
	pins, _ := ParsePinnedCerts(o.TLS.PinnedCerts) // validated by GenTLSConfig
	s.ctls.Store(&listenerTLS{cfg: cfg, pins: pins})
	s.mu.Lock()
	s.info.TLSRequired = !o.AllowNonTLS
	s.info.TLSAvailable = o.AllowNonTLS
	s.info.TLSVerify = cfg.ClientAuth == tls.RequireAndVerifyClientCert
	s.mu.Unlock()
	return nil
}

// listenerTLS is the client listener's TLS, replaced whole on reload so
// that new connections take the new certificates while open ones keep theirs.
type listenerTLS struct {
	cfg  *tls.Config
	pins PinnedCertSet
}

// reloadClientTLS applies a changed tls block to new connections.
func (s *Server) reloadClientTLS(o *Options) error {
	if o.TLS == nil {
		s.ctls.Store(nil)
		s.mu.Lock()
		s.info.TLSRequired, s.info.TLSAvailable, s.info.TLSVerify = false, false, false
		s.mu.Unlock()
		return nil
	}
	return s.configureClientTLS(o)
}

// tlsConfig is the client listener's TLS configuration, nil without TLS.
// Routes, gateways and leafnodes build theirs with GenTLSConfig.
func (s *Server) tlsConfig() *tls.Config {
	if t := s.ctls.Load(); t != nil {
		return t.cfg
	}
	return nil
}

// httpsTLSConfig is the configuration of the HTTPS monitoring port: the
// client tls block without client certificate checks, which the reference
// does not apply to monitoring so that browsers can connect.
func (s *Server) httpsTLSConfig() *tls.Config {
	base := s.tlsConfig()
	if base == nil {
		return nil
	}
	cfg := base.Clone()
	cfg.ClientAuth = tls.NoClientCert
	return cfg
}

// logClientTLSMode tells at start-up how clients must connect.
func (s *Server) logClientTLSMode() {
	o := s.getOpts()
	switch {
	case o.TLS == nil:
	case o.AllowNonTLS:
		s.Noticef("TLS available for client connections")
	default:
		s.Noticef("TLS required for client connections")
		if o.TLS.HandshakeFirst && o.TLS.FallbackDelay <= 0 {
			s.Warnf("Clients that are not using \"TLS Handshake First\" option will fail to connect")
		}
	}
}

// initClientTLS fixes how a new connection meets TLS. It reports whether
// INFO goes out now, in clear text; otherwise the reader sends it after the
// handshake.
func (s *Server) initClientTLS(c *client, info []byte) bool {
	o := s.getOpts()
	switch {
	case s.tlsConfig() == nil:
		return true
	case o.AllowNonTLS:
		c.tls.mode = tlsOptional
	case o.TLS.HandshakeFirst:
		c.tls.mode, c.tls.info = tlsFirst, info
		return false
	default:
		c.tls.mode = tlsAfterInfo
	}
	return true
}

// ioConn is the connection to read and write protocol on. Lock held.
func (c *client) ioConn() net.Conn {
	if c.tls.conn != nil {
		return c.tls.conn
	}
	return c.nc
}

// tlsConnState is what monitoring shows of a connection's TLS (connz
// tls_version, tls_cipher_suite, tls_peer_certs, tls_first): the handshake's
// state and whether the client did it before INFO. ok is false without TLS.
func (c *client) tlsConnState() (st tls.ConnectionState, first, ok bool) {
	c.mu.Lock()
	tc := c.tls.conn
	first = c.tls.first
	c.mu.Unlock()
	if tc == nil {
		return st, false, false
	}
	return tc.ConnectionState(), first, true
}

// TLSPeerCert is a client certificate as /connz shows it.
type TLSPeerCert struct {
	Subject          string `json:"subject,omitempty"`
	SubjectPKISha256 string `json:"spki_sha256,omitempty"`
	CertSha256       string `json:"cert_sha256,omitempty"`
}

// connTLS is what /connz shows of a connection's TLS once its handshake is
// done, whichever way it was reached: after INFO, handshake first, or an
// allow_non_tls upgrade. Zero without TLS.
type connTLS struct {
	version string
	cipher  string
	first   bool
	peers   []*TLSPeerCert
}

// tlsInfo describes the connection's TLS for /connz; peer certificates only
// when asked (closed connections do not keep them, as with the reference).
// It takes the client's lock itself.
func (c *client) tlsInfo(withPeers bool) connTLS {
	st, first, ok := c.tlsConnState()
	if !ok {
		return connTLS{}
	}
	ti := connTLS{
		version: strings.TrimPrefix(tls.VersionName(st.Version), "TLS "),
		cipher:  tls.CipherSuiteName(st.CipherSuite),
		first:   first,
	}
	if withPeers {
		for _, cert := range st.PeerCertificates {
			spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
			sum := sha256.Sum256(cert.Raw)
			ti.peers = append(ti.peers, &TLSPeerCert{Subject: cert.Subject.String(),
				SubjectPKISha256: hex.EncodeToString(spki[:]), CertSha256: hex.EncodeToString(sum[:])})
		}
	}
	return ti
}

// tlsUpgrade runs on the reading goroutine before it reads any protocol:
// it does the handshake the connection's mode asks for and returns the
// connection to read from, or false when the connection was closed.
func (c *client) tlsUpgrade() (net.Conn, bool) {
	s := c.srv
	t := s.getOpts().TLS
	var conn net.Conn = c.nc
	switch c.tls.mode {
	case tlsOptional:
		// A ClientHello comes at once or not at all: after the TLS timeout
		// the client is taken for a clear-text one that is slow to CONNECT,
		// and pings (or the auth timer) bound it from then on, as with the
		// reference.
		b, err := c.peekByte(TLSTimeout(t))
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.tlsSettled(true)
			return c.nc, true
		case err != nil:
			c.closeConnection(ClientClosed)
			return nil, false
		}
		conn = &prefixConn{Conn: c.nc, pre: []byte{b}}
		if b != recordTypeHandshake {
			c.tlsSettled(true)
			return conn, true // a client behind a TLS-terminating proxy
		}
	case tlsFirst:
		if t.FallbackDelay > 0 {
			b, err := c.peekByte(t.FallbackDelay)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				// No ClientHello in time: an older client waiting for INFO.
				c.sendHeldInfo(false)
			case err != nil:
				c.closeConnection(ClientClosed)
				return nil, false
			default:
				conn = &prefixConn{Conn: c.nc, pre: []byte{b}}
			}
		}
	}
	tc, err := c.tlsHandshake(conn, TLSTimeout(t))
	if err != nil {
		c.tlsFailed(err)
		return nil, false
	}
	c.mu.Lock()
	c.tls.conn = tc
	c.mu.Unlock()
	c.tlsSettled(false)
	if c.tls.info != nil {
		c.sendHeldInfo(true)
	}
	return tc, true
}

// tlsHandshake completes the server side of the handshake within timeout and
// applies pinned_certs.
func (c *client) tlsHandshake(conn net.Conn, timeout time.Duration) (*tls.Conn, error) {
	s := c.srv
	s.Debugf("%s - Starting TLS client connection handshake", c.logPrefix())
	ct := s.ctls.Load()
	if ct == nil {
		return nil, errors.New("TLS is no longer configured")
	}
	tc := tls.Server(conn, ct.cfg)
	// A read deadline only: the writer owns the write deadline.
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	err := tc.Handshake()
	_ = c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, err
	}
	st := tc.ConnectionState()
	if ct.pins != nil {
		if len(st.PeerCertificates) == 0 {
			s.Debugf("%s - Failed pinned cert test as client did not provide a certificate", c.logPrefix())
			return nil, errNotPinned
		}
		key := CertPinKey(st.PeerCertificates[0])
		if _, ok := ct.pins[key]; !ok {
			s.Debugf("%s - Failed pinned cert test for key id: %s", c.logPrefix(), key)
			return nil, errNotPinned
		}
	}
	s.Debugf("%s - TLS handshake complete", c.logPrefix())
	s.Debugf("%s - TLS version %s, cipher suite %s", c.logPrefix(),
		strings.TrimPrefix(tls.VersionName(st.Version), "TLS "), tls.CipherSuiteName(st.CipherSuite))
	return tc, nil
}

// tlsFailed logs a failed handshake with the peer's address and closes. A
// client too slow to handshake is routine (port scanners, health checks)
// and logged at debug level, as with the reference.
func (c *client) tlsFailed(err error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return // closed for another reason, e.g. shutdown, which we caused
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.srv.Debugf("%s - TLS handshake error: %v", c.logPrefix(), err)
	} else {
		c.srv.Errorf("%s - TLS handshake error: %s", c.logPrefix(), describeTLSError(err))
	}
	c.closeConnection(TLSHandshakeError)
}

// describeTLSError names the refused certificate, as the reference does:
// "<reason> (<subject> SHA-256: <fingerprint of the DER>)".
func describeTLSError(err error) string {
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || len(cve.UnverifiedCertificates) == 0 {
		return err.Error()
	}
	leaf := cve.UnverifiedCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	return fmt.Sprintf("%v (%s SHA-256: %x)", err, leaf.Subject, sum)
}

// tlsSettled ends the TLS phase: the handshake is done, or an allow_non_tls
// client will not do one (clear). The connection's time to authenticate
// starts now; a clear-text client, which no handshake can be under way for
// any more, gets its first PING a full interval from now.
func (c *client) tlsSettled(clear bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startAuthTimer()
	if !clear {
		return
	}
	c.tls.clear = true
	if c.pingTimer != nil && !c.closed {
		c.pingTimer.Reset(c.srv.getOpts().PingInterval)
	}
}

// sendHeldInfo queues the INFO held back by handshake_first, now over TLS
// (first) or in clear text after the fallback delay.
func (c *client) sendHeldInfo(first bool) {
	c.mu.Lock()
	c.queueOutbound([]byte("INFO "), c.tls.info, []byte(" \r\n"))
	c.tls.info = nil
	c.tls.first = first
	c.mu.Unlock()
	c.signalFlush()
}

// peekByte reads the client's first byte, waiting at most d.
func (c *client) peekByte(d time.Duration) (byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	defer c.nc.SetReadDeadline(time.Time{})
	var b [1]byte
	for {
		n, err := c.nc.Read(b[:])
		if n == 1 {
			return b[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// prefixConn replays bytes already read from a connection before reading
// more from it.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
