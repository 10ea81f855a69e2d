package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Leaf connections over TLS, as the reference makes them (observed on
// v2.15.2): the hub sends its INFO in clear text ("tls_required":true),
// the leaf then starts the TLS handshake, and CONNECT and everything after
// travel inside it. With handshake_first in the hub's tls block and the
// remote's, the handshake comes first and the INFO inside it. A hub with a leafnodes tls block accepts only TLS; a
// remote uses TLS with a tls block or a tls:// URL (the system's roots
// then, unless the block names a CA).

// leafTLSTimeout is a tls block's handshake timeout, 2 s by default.
func leafTLSTimeout(t *TLSConfigOpts) time.Duration {
	if t != nil && t.Timeout > 0 {
		return secondsToDuration(t.Timeout)
	}
	return 2 * time.Second
}

// leafListenerTLS builds the listener's TLS configuration, nil without a
// tls block.
func leafListenerTLS(o *Options) (*tls.Config, error) {
	t := o.LeafNode.TLS
	if t == nil {
		return nil, nil
	}
	if t.HandshakeFirst && t.FallbackDelay > 0 {
		return nil, errors.New("leafnode tls: handshake_first with a fallback delay is not supported yet")
	}
	cfg, err := GenTLSConfig(t)
	if err != nil {
		return nil, fmtErr("leafnode tls: %v", err)
	}
	if len(cfg.Certificates) == 0 {
		return nil, errors.New("leafnode tls: missing 'cert_file' in TLS configuration")
	}
	return cfg, nil
}

// remoteTLS is the TLS client configuration of a remote, nil when it
// does not use TLS.
func remoteTLS(r *RemoteLeafOpts, u *url.URL) (*tls.Config, error) {
	if r.TLS == nil {
		if u.Scheme != "tls" && u.Scheme != "wss" {
			return nil, nil
		}
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	return GenTLSConfig(r.TLS)
}

// acceptTLS runs an accepted leaf's handshake on a goroutine of its own,
// so that a slow peer does not hold the listener.
func (ls *leafState) acceptTLS(conn net.Conn) {
	s := ls.s
	t := s.getOpts().LeafNode.TLS
	_ = conn.SetDeadline(time.Now().Add(leafTLSTimeout(t)))
	var pre *client
	if !t.HandshakeFirst { // handshake_first: INFO goes inside TLS, after it
		pre = &client{cid: s.gcid.Add(1), nonce: newNonce()}
		info := s.leafInfo(pre)
		if _, err := conn.Write(infoProto(&info)); err != nil {
			conn.Close()
			return
		}
	}
	tc := tls.Server(conn, ls.tls)
	if err := tc.Handshake(); err != nil {
		s.Errorf("%s - TLS leafnode handshake error: %v", conn.RemoteAddr(), err)
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	ls.createLeaf(conn, &leafConn{tlsConn: tc, pre: pre})
}

// dialLeafTLS reads the hub's clear-text INFO, then handshakes as the
// TLS client; it returns the INFO line for the connection to process.
// With the remote's tls handshake_first it handshakes at once and the
// INFO comes inside TLS (nil is returned for it).
func dialLeafTLS(conn net.Conn, cfg *tls.Config, r *RemoteLeafOpts, u *url.URL) (*tls.Conn, []byte, error) {
	_ = conn.SetDeadline(time.Now().Add(leafTLSTimeout(r.TLS)))
	var info []byte
	if r.TLS == nil || !r.TLS.HandshakeFirst {
		var err error
		if info, err = readInfoLine(conn); err != nil {
			return nil, nil, err
		}
	}
	cfg = cfg.Clone()
	if host, _, err := net.SplitHostPort(u.Host); err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return tc, info, nil
}

// maxLeafInfo bounds the clear-text INFO a TLS hub sends first.
const maxLeafInfo = 64 << 10

// readInfoLine reads one line, byte by byte so that nothing of the TLS
// handshake after it is consumed, and checks it is an INFO.
func readInfoLine(conn net.Conn) ([]byte, error) {
	line := make([]byte, 0, 1024)
	var b [1]byte
	for len(line) < maxLeafInfo {
		if _, err := conn.Read(b[:]); err != nil {
			return nil, err
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			if !bytes.HasPrefix(line, []byte("INFO ")) {
				return nil, fmt.Errorf("expected INFO from the hub, got %q", bytes.TrimSpace(line))
			}
			return line, nil
		}
	}
	return nil, errors.New("hub INFO too long")
}
