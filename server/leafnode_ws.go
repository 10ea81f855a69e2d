package server

// Leaf connections over WebSocket, as the reference v2.15.2 makes them
// (observed with a capturing listener and a proxy):
//
//   - a remote with a ws:// or wss:// URL dials the hub's websocket
//     listener (wss: TLS first, before any HTTP) and sends
//
//     GET <url path>/leafnode HTTP/1.1
//     Host: <host:port>
//     User-Agent: Go-http-client/1.1
//     Connection: Upgrade
//     [Nats-No-Masking: true]                  (ws_no_masking)
//     Sec-WebSocket-Key: <16 random bytes, base64>
//     Sec-WebSocket-Version: 13
//     [Sec-Websocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover]  (ws_compression)
//     Upgrade: websocket
//
//     credentials travel in CONNECT, never in HTTP headers;
//   - the hub's websocket listener takes a request whose path ends in
//     "/leafnode" as a leaf connection (refused, "Not configured to accept
//     leaf node connections", without a leafnodes listener), answers 101
//     and sends the leaf INFO in a binary frame;
//   - from then on the leaf protocol runs in binary frames: the leaf's
//     masked unless the hub confirmed Nats-No-Masking, the hub's never;
//     permessage-deflate when both asked for it.
//
// Leaf compression (S2) is not negotiated over WebSocket by this server:
// it answers "off", which the reference accepts.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// wsLeafPath is the path suffix that makes a websocket request a leaf.
const wsLeafPath = "/leafnode"

// isWSLeafURL reports whether a remote URL dials a websocket listener.
func isWSLeafURL(u *url.URL) bool { return u.Scheme == "ws" || u.Scheme == "wss" }

// wsAcceptLeaf turns an upgraded websocket connection into an accepted
// leaf connection.
func (s *Server) wsAcceptLeaf(conn net.Conn, ws *wsConn) {
	ls := s.leafs.Load()
	if ls == nil || s.getOpts().LeafNode.Port == 0 {
		s.Errorf("Not configured to accept leaf node connections")
		conn.Close()
		return
	}
	ls.createLeaf(conn, &leafConn{ws: ws})
}

// dialLeafWS upgrades a dialed connection to a remote's websocket URL:
// TLS for wss, then the HTTP upgrade. It returns the connection to use
// (holding any bytes the hub sent after its answer) and the websocket
// state of the leaf side.
func dialLeafWS(conn net.Conn, r *RemoteLeafOpts, u *url.URL) (net.Conn, *wsConn, error) {
	_ = conn.SetDeadline(time.Now().Add(leafTLSTimeout(r.TLS)))
	if cfg, err := remoteTLS(r, u); err != nil {
		return nil, nil, err
	} else if cfg != nil {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(u.Host); err == nil && cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			return nil, nil, fmt.Errorf("TLS: %v", err)
		}
		conn = tc
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	if _, err := conn.Write(wsLeafRequest(r, u, key)); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	resp.Body.Close()
	ws, err := wsCheckLeafAnswer(resp, r, key)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 {
		pre, _ := br.Peek(n)
		return &prefixConn{Conn: conn, pre: append([]byte(nil), pre...)}, ws, nil
	}
	return conn, ws, nil
}

// wsLeafRequest is the upgrade request, in the reference's header order.
func wsLeafRequest(r *RemoteLeafOpts, u *url.URL, key string) []byte {
	var b strings.Builder
	b.WriteString("GET " + strings.TrimSuffix(u.EscapedPath(), "/") + wsLeafPath + " HTTP/1.1\r\n")
	b.WriteString("Host: " + u.Host + "\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\n")
	if r.Websocket.NoMasking {
		b.WriteString(wsNoMaskingHeader + ": true\r\n")
	}
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n")
	if r.Websocket.Compression {
		b.WriteString("Sec-Websocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	}
	b.WriteString("Upgrade: websocket\r\n\r\n")
	return []byte(b.String())
}

// wsCheckLeafAnswer checks the hub's answer to the upgrade and returns
// what it agreed to.
func wsCheckLeafAnswer(resp *http.Response, r *RemoteLeafOpts, key string) (*wsConn, error) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("expected status %d, got %d", http.StatusSwitchingProtocols, resp.StatusCode)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade") {
		return nil, errors.New("invalid upgrade answer")
	}
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	if resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("invalid websocket accept key")
	}
	return &wsConn{
		client:    true,
		compress:  r.Websocket.Compression && wantsDeflate(resp.Header),
		noMasking: r.Websocket.NoMasking && strings.EqualFold(resp.Header.Get(wsNoMaskingHeader), "true"),
	}, nil
}
