package server

// The websocket listener: an HTTP server whose only handler upgrades the
// request (RFC 6455 section 4) and turns the hijacked connection into a
// client connection, kind CLIENT, type "websocket". net/http parses the
// request, so malformed requests are answered as the reference answers
// them (it uses net/http too). Framing is in websocket_frame.go,
// permessage-deflate in websocket_compress.go, the block in
// opts_websocket.go.
//
// Every socket has a deadline until it is a client: handshake_timeout
// covers the TLS handshake, the request and the response (the server's
// read, write and idle timeouts); the client's own timers start after.

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// wsListener is the running websocket listener.
type wsListener struct {
	ln      net.Listener
	srv     *http.Server
	port    int  // the port bound, for INFO and /varz
	tls     bool // wss://
	origins []wsOrigin
	tlsCfg  *tls.Config // under Server.mu once serving (reload replaces it)
	pins    PinnedCertSet
	notAft  *time.Time // the certificate's expiry, for /varz; under Server.mu
	// cur is what the handshake of a new wss connection uses.
	cur atomic.Pointer[tls.Config]
}

// wsAcceptGUID is the constant RFC 6455 appends to the client's key.
const wsAcceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// startWebsocket opens the websocket listener when the block sets a port.
func (s *Server) startWebsocket() error {
	o := s.getOpts().Websocket
	if o.Port == 0 {
		return nil
	}
	host := o.Host
	if host == "" {
		host = DEFAULT_HOST
	}
	port := max(o.Port, 0) // -1: a random port
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("Unable to listen for websocket connections: %v", err)
	}
	wl := &wsListener{ln: l, port: l.Addr().(*net.TCPAddr).Port}
	wl.origins, _ = parseAllowedOrigins(o.AllowedOrigins) // validated
	if o.TLS != nil {
		if err := wl.setTLS(o.TLS); err != nil {
			l.Close()
			return err
		}
		wl.cur.Store(wl.tlsCfg)
		l = tls.NewListener(l, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return wl.cur.Load(), nil
		}})
	}
	timeout := o.HandshakeTimeout
	if timeout == 0 {
		timeout = defaultWSHandshakeTimeout
	}
	wl.srv = &http.Server{
		Handler:           http.HandlerFunc(s.wsUpgradeHandler),
		ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout,
		ErrorLog: log.New(debugLogWriter{s}, "", 0),
	}
	scheme := "ws"
	if wl.tls {
		scheme = "wss"
	}
	s.mu.Lock()
	s.wsl = wl
	s.mu.Unlock()
	s.Noticef("Listening for websocket clients on %s://%s", scheme, net.JoinHostPort(host, strconv.Itoa(wl.port)))
	if !wl.tls {
		s.Warnf("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!")
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = wl.srv.Serve(l)
	}()
	return nil
}

// setTLS builds the wss configuration.
func (wl *wsListener) setTLS(t *TLSConfigOpts) error {
	cfg, err := GenTLSConfig(t)
	if err != nil {
		return err
	}
	wl.tls, wl.tlsCfg = true, cfg
	wl.pins, _ = ParsePinnedCerts(t.PinnedCerts) // validated by GenTLSConfig
	wl.notAft = certNotAfter(cfg)
	return nil
}

// certNotAfter is the expiry of the configuration's certificate.
func certNotAfter(cfg *tls.Config) *time.Time {
	if len(cfg.Certificates) == 0 || cfg.Certificates[0].Leaf == nil {
		return nil
	}
	na := cfg.Certificates[0].Leaf.NotAfter.UTC()
	return &na
}

// stopWebsocket closes the listener (lame duck mode and shutdown); open
// websocket clients are closed with the other clients.
func (s *Server) stopWebsocket() {
	s.mu.Lock()
	wl := s.wsl
	s.mu.Unlock()
	if wl != nil {
		wl.srv.Close()
	}
}

// websocketListener is the running listener, nil without one.
func (s *Server) websocketListener() *wsListener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wsl
}

// WebsocketAddr is the websocket listener's address, nil without one.
func (s *Server) WebsocketAddr() *net.TCPAddr {
	if wl := s.websocketListener(); wl != nil {
		return wl.ln.Addr().(*net.TCPAddr)
	}
	return nil
}

// wsHandshakeError is a refused upgrade: the HTTP status and what is logged.
type wsHandshakeError struct {
	status int
	msg    string
}

func (e *wsHandshakeError) Error() string { return e.msg }

func wsRefuse(status int, msg string) error { return &wsHandshakeError{status, msg} }

// wsUpgradeHandler answers every request on the websocket port.
func (s *Server) wsUpgradeHandler(w http.ResponseWriter, r *http.Request) {
	if s.isShuttingDown() || s.ldm.Load() {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	wl := s.websocketListener()
	up, err := s.wsCheckUpgrade(wl, r)
	if err != nil {
		var he *wsHandshakeError
		if errors.As(err, &he) {
			w.Header().Set("Sec-Websocket-Version", "13")
			http.Error(w, http.StatusText(he.status), he.status)
		}
		s.Errorf("%s - websocket handshake error: %v", r.RemoteAddr, err)
		return
	}
	conn, err := s.wsHijack(w, wl, up)
	if err != nil {
		s.Errorf("%s - websocket handshake error: %v", r.RemoteAddr, err)
		return
	}
	if up.mqtt {
		s.createMQTTClient(conn, up.ws)
		return
	}
	if strings.HasSuffix(r.URL.Path, wsLeafPath) {
		s.wsAcceptLeaf(conn, up.ws)
		return
	}
	s.createClientConn(conn, up.ws)
}

// wsUpgrade is an accepted request: the client's key and what it asked for.
type wsUpgrade struct {
	key  string
	ws   *wsConn
	mqtt bool // an MQTT connection (mqtt_websocket.go)
}

// wsCheckUpgrade validates the upgrade request, in the reference's order
// and words.
func (s *Server) wsCheckUpgrade(wl *wsListener, r *http.Request) (*wsUpgrade, error) {
	o := &s.getOpts().Websocket
	switch {
	case r.Method != http.MethodGet:
		return nil, wsRefuse(http.StatusMethodNotAllowed, "request method must be GET")
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return nil, wsRefuse(http.StatusBadRequest, "invalid value for header 'Upgrade'")
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return nil, wsRefuse(http.StatusBadRequest, "invalid value for header 'Connection'")
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if key == "" {
		return nil, wsRefuse(http.StatusBadRequest, "key missing")
	}
	if !headerHasToken(r.Header, "Sec-Websocket-Version", "13") {
		return nil, wsRefuse(http.StatusBadRequest, "invalid version")
	}
	if err := checkOrigin(o, wl, r); err != nil {
		return nil, wsRefuse(http.StatusForbidden, "origin not allowed: "+err.Error())
	}
	ws := &wsConn{
		compress:  o.Compression && wantsDeflate(r.Header),
		noMasking: strings.EqualFold(r.Header.Get(wsNoMaskingHeader), "true"),
	}
	ws.creds = wsCookieCreds(o, r)
	mqtt, err := s.wsWantsMQTT(r) // mqtt_websocket.go
	if err != nil {
		return nil, err
	}
	return &wsUpgrade{key: key, ws: ws, mqtt: mqtt}, nil
}

// wsNoMaskingHeader lets a peer that trusts the connection (the
// reference's leaf nodes) send unmasked frames; the server confirms it.
const wsNoMaskingHeader = "Nats-No-Masking"

// headerHasToken reports whether a comma-separated header holds token,
// ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wantsDeflate reports whether the client offers permessage-deflate; its
// parameters do not matter, as the answer asks for no context takeover
// both ways, which every client must accept.
func wantsDeflate(h http.Header) bool {
	for _, v := range h.Values("Sec-Websocket-Extensions") {
		for _, ext := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.EqualFold(strings.TrimSpace(name), "permessage-deflate") {
				return true
			}
		}
	}
	return false
}

// checkOrigin applies same_origin and allowed_origins to a request that
// has an Origin header (browsers send one; other clients usually not).
func checkOrigin(o *WebsocketOpts, wl *wsListener, r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || (!o.SameOrigin && len(wl.origins) == 0) {
		return nil
	}
	u, err := url.ParseRequestURI(origin)
	if err != nil {
		return err
	}
	got := originOf(u)
	if o.SameOrigin {
		scheme := "http"
		if wl.tls {
			scheme = "https"
		}
		want := originOf(&url.URL{Scheme: scheme, Host: r.Host})
		if got != want {
			return errors.New("not same origin")
		}
	}
	if len(wl.origins) == 0 {
		return nil
	}
	for _, allowed := range wl.origins {
		if got == allowed {
			return nil
		}
	}
	return errors.New("not in the allowed list")
}

// wsHijack takes the connection from net/http, checks pinned_certs, writes
// the 101 answer and returns the connection, with any bytes the client sent
// after its request, ready for the client's goroutines.
func (s *Server) wsHijack(w http.ResponseWriter, wl *wsListener, up *wsUpgrade) (net.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, errors.New("connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*tls.Conn); ok && wl.pins != nil && !pinned(tc, wl.pins) {
		conn.Close()
		return nil, errNotPinned
	}
	if _, err := conn.Write(wsAcceptResponse(&s.getOpts().Websocket, up)); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{}) // the client's own deadlines apply from now on
	if n := brw.Reader.Buffered(); n > 0 {
		pre, _ := brw.Reader.Peek(n)
		return &prefixConn{Conn: conn, pre: append([]byte(nil), pre...)}, nil
	}
	return conn, nil
}

// wsTLSConn is the TLS connection under a hijacked connection, nil for ws://.
func wsTLSConn(conn net.Conn) *tls.Conn {
	if pc, ok := conn.(*prefixConn); ok {
		conn = pc.Conn
	}
	tc, _ := conn.(*tls.Conn)
	return tc
}

// pinned reports whether the client's certificate is one of pins.
func pinned(tc *tls.Conn, pins PinnedCertSet) bool {
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return false
	}
	_, ok := pins[CertPinKey(certs[0])]
	return ok
}

// wsAcceptResponse is the 101 answer, headers in the reference's order.
func wsAcceptResponse(o *WebsocketOpts, up *wsUpgrade) []byte {
	sum := sha1.Sum([]byte(up.key + wsAcceptGUID))
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	b.WriteString(base64.StdEncoding.EncodeToString(sum[:]))
	b.WriteString("\r\n")
	if up.ws.compress {
		b.WriteString("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	}
	if up.ws.noMasking {
		b.WriteString(wsNoMaskingHeader + ": true\r\n")
	}
	if up.mqtt {
		b.WriteString(mqttWSProtocolHeader)
	}
	for _, name := range sortedHeaderNames(o.Headers) {
		b.WriteString(name + ": " + o.Headers[name] + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

func sortedHeaderNames(h map[string]string) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// wsCreds are credentials from the upgrade request's cookies.
type wsCreds struct {
	jwt, user, pass, token string
}

func wsCookieCreds(o *WebsocketOpts, r *http.Request) wsCreds {
	get := func(name string) string {
		if name == "" {
			return ""
		}
		if c, err := r.Cookie(name); err == nil {
			return c.Value
		}
		return ""
	}
	return wsCreds{jwt: get(o.JWTCookie), user: get(o.UsernameCookie), pass: get(o.PasswordCookie), token: get(o.TokenCookie)}
}

// applyCookies fills the CONNECT fields the client left empty from the
// upgrade's cookies, each on its own, as the reference does.
func (ws *wsConn) applyCookies(co *ClientOpts) {
	if co.JWT == "" {
		co.JWT = ws.creds.jwt
	}
	if co.Username == "" {
		co.Username = ws.creds.user
	}
	if co.Password == "" {
		co.Password = ws.creds.pass
	}
	if co.Token == "" {
		co.Token = ws.creds.token
	}
}

// wsInfo adapts the INFO a websocket client gets: the websocket listener's
// address, its TLS and its authorization.
func (s *Server) wsInfo(info *Info) {
	o := s.getOpts()
	if wl := s.websocketListener(); wl != nil {
		info.Port = wl.port
		info.TLSRequired, info.TLSAvailable = wl.tls, wl.tls
		if cfg := wl.cur.Load(); cfg != nil {
			info.TLSVerify = cfg.ClientAuth == tls.RequireAndVerifyClientCert
		}
	}
	info.Host = o.Websocket.Host
	if info.Host == "" {
		info.Host = DEFAULT_HOST
	}
	info.AuthRequired = wsAuthConfigured(o)
}

// wsAuthConfigured reports whether websocket clients must authenticate.
func wsAuthConfigured(o *Options) bool {
	return o.Websocket.Username != "" || o.Websocket.Token != "" || authConfigured(o)
}

// wsAuthTimeout is how long a websocket client has to authenticate.
func wsAuthTimeout(o *Options) time.Duration {
	if o.Websocket.AuthTimeout > 0 {
		return secondsToDuration(o.Websocket.AuthTimeout)
	}
	return secondsToDuration(o.AuthTimeout)
}

// wsAuthenticate checks a websocket client's credentials: against the
// websocket authorization when it names a user or token, otherwise as any
// client, with the websocket no_auth_user and connection type WEBSOCKET.
func wsAuthenticate(o *Options, c *client, co *ClientOpts, nonce string) (*authResult, bool) {
	ws := &o.Websocket
	switch {
	case ws.Username != "":
		if co.Username == ws.Username && comparePasswords(ws.Password, co.Password) {
			return &authResult{user: co.Username, perms: o.DefaultPermissions}, true
		}
		return nil, false
	case ws.Token != "":
		if comparePasswords(ws.Token, co.Token) {
			return &authResult{perms: o.DefaultPermissions}, true
		}
		return nil, false
	case ws.TLS != nil && ws.TLS.Map && len(o.Users) > 0:
		return wsCertAuth(o, c, co)
	}
	noAuth := ws.NoAuthUser
	if noAuth == "" {
		noAuth = o.NoAuthUser
	}
	return authenticateAs(o, co, nonce, ConnectionTypeWebsocket, noAuth)
}

// wsCertAuth is verify_and_map on the websocket listener: the client's
// certificate names the user; a CONNECT naming one is refused.
func wsCertAuth(o *Options, c *client, co *ClientOpts) (*authResult, bool) {
	u := findCertUser(c.peerCert(), o.Users, nil)
	if u == nil || co.Username != "" || !allowsConn(u.AllowedConnectionTypes, ConnectionTypeWebsocket) {
		return nil, false
	}
	return &authResult{user: u.Username, perms: userPerms(o, u.Permissions), acc: u.Account}, true
}

// wsCheckAuthentication is checkAuthentication for websocket clients,
// logging a failure without any secret.
func (s *Server) wsCheckAuthentication(c *client, co *ClientOpts) (*authResult, bool) {
	res, ok := wsAuthenticate(s.getOpts(), c, co, c.nonce)
	if ok {
		return res, true
	}
	s.logAuthFailure(c, co)
	return nil, false
}

// wsVarz is the websocket block of /varz.
func (s *Server) wsVarz(o *Options) WebsocketOptsVarz {
	ws := &o.Websocket
	if ws.Port == 0 {
		return WebsocketOptsVarz{}
	}
	v := WebsocketOptsVarz{
		Host: ws.Host, Port: ws.Port, Advertise: ws.Advertise, NoAuthUser: ws.NoAuthUser,
		HandshakeTimeout: ws.HandshakeTimeout, AuthTimeout: ws.AuthTimeout,
		NoTLS: ws.NoTLS && ws.TLS == nil, SameOrigin: ws.SameOrigin,
		AllowedOrigins: ws.AllowedOrigins, Compression: ws.Compression,
	}
	if v.Host == "" {
		v.Host = DEFAULT_HOST
	}
	if ws.TLS != nil {
		v.TLSMap, v.TLSPinnedCerts = ws.TLS.Map, ws.TLS.PinnedCerts
	}
	if wl := s.websocketListener(); wl != nil {
		s.mu.Lock()
		v.Port, v.TLSCertNotAfter = wl.port, wl.notAft
		s.mu.Unlock()
	}
	return v
}

// wsURL is the websocket URL tools find in the ports file.
func (s *Server) wsURL() string {
	wl := s.websocketListener()
	if wl == nil {
		return ""
	}
	host := s.getOpts().Websocket.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "ws://"
	if wl.tls {
		scheme = "wss://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(wl.port))
}

// connType is the connection's type for allowed_connection_types.
func (c *client) connType() string {
	switch {
	case c.kind == LEAF:
		return ConnectionTypeLeafnode
	case c.mq != nil && c.ws != nil:
		return ConnectionTypeMqttWS
	case c.mq != nil:
		return ConnectionTypeMqtt
	case c.ws != nil:
		return ConnectionTypeWebsocket
	}
	return ConnectionTypeStandard
}

// clientType is the connection's type in /connz and events.
func (c *client) clientType() string {
	switch {
	case c.mq != nil:
		return "mqtt"
	case c.ws != nil:
		return "websocket"
	}
	return "nats"
}

// checkReloadWebsocket allows a reload to change the websocket block's
// certificate files only (cert_file, key_file, ca_file, or their contents),
// as the reference does, and loads them before anything is applied.
func checkReloadWebsocket(cur, next *Options) error {
	a, b := cur.Websocket, next.Websocket
	if reflect.DeepEqual(a, b) {
		return nil
	}
	if a.TLS != nil && b.TLS != nil {
		ta, tb := *a.TLS, *b.TLS
		ta.CertFile, ta.KeyFile, ta.CaFile, ta.filesDigest = tb.CertFile, tb.KeyFile, tb.CaFile, tb.filesDigest
		a.TLS = &ta
		if reflect.DeepEqual(a, b) {
			_, err := GenTLSConfig(b.TLS)
			return err
		}
	}
	return fmt.Errorf("config reload not supported for Websocket: old=%v, new=%v", cur.Websocket, next.Websocket)
}

// reloadWebsocketTLS gives new wss connections the reloaded certificates;
// open ones keep their session.
func (s *Server) reloadWebsocketTLS(o *Options) {
	wl := s.websocketListener()
	if wl == nil || o.Websocket.TLS == nil {
		return
	}
	cfg, err := GenTLSConfig(o.Websocket.TLS)
	if err != nil {
		s.Errorf("Error reloading websocket TLS: %v", err) // checked before: not expected
		return
	}
	s.mu.Lock()
	wl.tlsCfg = cfg
	wl.notAft = certNotAfter(cfg)
	s.mu.Unlock()
	wl.cur.Store(cfg)
}

// wsAsyncInfo turns an INFO line for plain clients into the one websocket
// clients get: the websocket listener's address, TLS and authorization.
// connect_urls name nats:// addresses a websocket client cannot use, so
// they are left out.
func (s *Server) wsAsyncInfo(proto []byte) []byte {
	var info Info
	body := bytes.TrimSuffix(bytes.TrimPrefix(proto, []byte("INFO ")), []byte(" \r\n"))
	if err := json.Unmarshal(body, &info); err != nil {
		return proto
	}
	s.wsInfo(&info)
	info.ConnectURLs = nil
	b, err := json.Marshal(&info)
	if err != nil {
		return proto
	}
	return append(append([]byte("INFO "), b...), " \r\n"...)
}
