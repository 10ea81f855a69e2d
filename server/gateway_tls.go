package server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// Gateways over TLS, as the reference v2.15.2 makes them (observed): the
// TLS handshake comes first, before any INFO, the soliciting server as the
// TLS client presenting the same certificate. A gateway listener with TLS
// always requires and verifies the other cluster's certificate, whatever
// `verify` says (its INFO and /varz then say "tls_verify":true). A
// connection to another cluster uses that entry's own tls block if the
// gateways list gives one, else the gateway block's; implicit gateways use
// the gateway block's. INFO, CONNECT ("tls_required":true) and everything
// after travel inside TLS.

// gatewayTLS is the TLS state of the gateway block, built at start and
// replaced whole by a reload.
type gatewayTLS struct {
	server  *gatewayTLSSide            // the gateway block's, nil without a tls block
	remotes map[string]*gatewayTLSSide // per cluster: an entry's own tls block
}

// gatewayTLSSide is one tls block: its configuration, pins and timeout.
type gatewayTLSSide struct {
	cfg     *tls.Config
	pins    PinnedCertSet
	timeout time.Duration
}

// parseGatewayTLS reads a gateway tls block, fingerprinting its files so
// that a reload notices certificates renewed in place.
func (c *cfg) parseGatewayTLS(k string, v *conf.Value) *TLSConfigOpts {
	t := c.parseTLS(k, v)
	if t != nil {
		t.filesDigest = digestTLSFiles(t)
	}
	return t
}

// gatewayTLSTimeout is a tls block's handshake timeout, 2 s by default.
func gatewayTLSTimeout(t *TLSConfigOpts) time.Duration {
	return TLSTimeout(t)
}

// validateGatewayTLS refuses what gateway TLS does not do yet and reports
// unreadable certificates at start, as the reference does.
func validateGatewayTLS(g *GatewayOpts) error {
	_, err := newGatewayTLS(g)
	return err
}

// checkGatewayTLSOpts refuses the tls options this server does not apply
// to gateways.
func checkGatewayTLSOpts(t *TLSConfigOpts) error {
	if t.CheckKnownURLs {
		return errors.New("verify_cert_and_check_known_urls: not supported yet for gateways")
	}
	return tlsOptsNotServed(t)
}

// newGatewayTLSSide builds one tls block.
func newGatewayTLSSide(t *TLSConfigOpts) (*gatewayTLSSide, error) {
	if err := checkGatewayTLSOpts(t); err != nil {
		return nil, err
	}
	cfg, err := GenTLSConfig(t)
	if err != nil {
		return nil, err
	}
	pins, _ := ParsePinnedCerts(t.PinnedCerts) // checked by GenTLSConfig
	return &gatewayTLSSide{cfg: cfg, pins: pins, timeout: gatewayTLSTimeout(t)}, nil
}

// newGatewayTLS builds the TLS configurations of the gateway block and of
// the gateways list's tls blocks.
func newGatewayTLS(g *GatewayOpts) (*gatewayTLS, error) {
	gt := &gatewayTLS{remotes: make(map[string]*gatewayTLSSide)}
	if g.TLS != nil {
		side, err := newGatewayTLSSide(g.TLS)
		if err != nil {
			return nil, fmtErr("gateway tls: %v", err)
		}
		// The reference verifies the other cluster's certificate always.
		side.cfg.ClientAuth = tls.RequireAndVerifyClientCert
		gt.server = side
	}
	for _, rg := range g.Gateways {
		if rg.TLS == nil {
			continue
		}
		side, err := newGatewayTLSSide(rg.TLS)
		if err != nil {
			return nil, fmtErr("gateway %q tls: %v", rg.Name, err)
		}
		gt.remotes[rg.Name] = side
	}
	return gt, nil
}

// loadTLS builds the gateways' TLS from the options.
func (gs *gatewayState) loadTLS(o *Options) error {
	gt, err := newGatewayTLS(&o.Gateway)
	if err != nil {
		return err
	}
	gs.tls.Store(gt)
	return nil
}

// clientSide is the tls block to solicit a cluster with, nil for a plain
// connection.
func (gt *gatewayTLS) clientSide(name string) *gatewayTLSSide {
	if side := gt.remotes[name]; side != nil {
		return side
	}
	return gt.server
}

// handshake runs a TLS handshake within the block's timeout and applies
// its pinned_certs to the peer's certificate.
func (side *gatewayTLSSide) handshake(conn net.Conn, tc *tls.Conn) error {
	_ = conn.SetDeadline(time.Now().Add(side.timeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Time{})
	if side.pins == nil {
		return nil
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("peer did not provide a certificate")
	}
	if _, ok := side.pins[CertPinKey(certs[0])]; !ok {
		return errors.New("peer certificate not in pinned_certs")
	}
	return nil
}

// accept takes one accepted connection: a TLS one handshakes on a
// goroutine of its own. It returns false once gateways are stopped.
func (gs *gatewayState) accept(conn net.Conn) bool {
	side := gs.tls.Load().server
	if side == nil {
		return gs.createGateway(conn, &gwConn{}) != nil
	}
	if !gs.goPeer(func() { gs.acceptTLS(conn, side) }) {
		conn.Close()
		return false
	}
	return true
}

// acceptTLS runs an accepted gateway's handshake, as the TLS server.
func (gs *gatewayState) acceptTLS(conn net.Conn, side *gatewayTLSSide) {
	s := gs.s
	prefix := conn.RemoteAddr().String()
	s.Debugf("%s - Starting TLS gateway server handshake", prefix)
	tc := tls.Server(conn, side.cfg)
	if err := side.handshake(conn, tc); err != nil {
		s.Errorf("%s - TLS gateway handshake error: %v", prefix, err)
		conn.Close()
		return
	}
	logTLSDone(s, prefix, tc)
	gs.createGateway(conn, &gwConn{tlsConn: tc})
}

// dialTLS handshakes a solicited connection to the cluster as the TLS
// client; nil, nil when the cluster is solicited in clear.
func (gs *gatewayState) dialTLS(conn net.Conn, name string, u *url.URL) (*tls.Conn, error) {
	side := gs.tls.Load().clientSide(name)
	if side == nil {
		return nil, nil
	}
	s := gs.s
	s.Debugf("%s - Starting TLS gateway client handshake", u.Host)
	cfg := side.cfg.Clone()
	if host, _, err := net.SplitHostPort(u.Host); err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := side.handshake(conn, tc); err != nil {
		return nil, err
	}
	logTLSDone(s, u.Host, tc)
	return tc, nil
}

func logTLSDone(s *Server, prefix string, tc *tls.Conn) {
	st := tc.ConnectionState()
	s.Debugf("%s - TLS handshake complete", prefix)
	s.Debugf("%s - TLS version %s, cipher suite %s", prefix,
		strings.TrimPrefix(tls.VersionName(st.Version), "TLS "), tls.CipherSuiteName(st.CipherSuite))
}

// gatewayVarzTLS fills /varz's gateway TLS fields.
func (gs *gatewayState) gatewayVarzTLS(o *Options, v *GatewayOptsVarz) {
	v.TLSTimeout = gatewayTLSTimeout(o.Gateway.TLS).Seconds()
	if side := gs.tls.Load().server; side != nil {
		v.TLSRequired, v.TLSVerify = true, true
		v.TLSCertNotAfter = certNotAfter(side.cfg)
	}
}
