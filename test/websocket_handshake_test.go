package test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Bad upgrade requests are answered as the reference answers them: the
// status, the Sec-Websocket-Version header and the status text as body; and
// the refusal is logged with the reference's reason.
func TestWebsocketBadHandshakes(t *testing.T) {
	s, l := runLoggedServer(t, wsOptions())
	valid := wsUpgradeRequest()
	for _, tc := range []struct {
		name, req string
		status    int
		log       string
	}{
		{"method", strings.Replace(valid, "GET", "POST", 1), 405, "request method must be GET"},
		{"no upgrade", strings.Replace(valid, "Upgrade: websocket\r\n", "", 1), 400, "invalid value for header 'Upgrade'"},
		{"wrong upgrade", strings.Replace(valid, "Upgrade: websocket", "Upgrade: h2c", 1), 400, "invalid value for header 'Upgrade'"},
		{"no connection", strings.Replace(valid, "Connection: Upgrade\r\n", "", 1), 400, "invalid value for header 'Connection'"},
		{"no key", strings.Replace(valid, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), 400, "key missing"},
		{"version 12", strings.Replace(valid, "Version: 13", "Version: 12", 1), 400, "invalid version"},
		{"no version", strings.Replace(valid, "Sec-WebSocket-Version: 13\r\n", "", 1), 400, "invalid version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWSRequest(t, s, tc.req)
			if w.resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d", w.resp.Status, tc.status)
			}
			if v := w.resp.Header.Get("Sec-Websocket-Version"); v != "13" {
				t.Fatalf("Sec-Websocket-Version %q", v)
			}
			body, _ := io.ReadAll(io.LimitReader(w.resp.Body, 100))
			if string(body) != http.StatusText(tc.status)+"\n" {
				t.Fatalf("body %q", body)
			}
			l.waitLog(t, "[ERR]", "websocket handshake error: "+tc.log)
		})
	}
	// Not HTTP at all: net/http's own answer.
	w := dialWSRequest(t, s, "HELLO\r\n\r\n")
	if w.resp.StatusCode != 400 {
		t.Fatalf("garbage answered %s", w.resp.Status)
	}
	// Header values are matched as comma-separated tokens, in any case, and
	// the path does not matter.
	req := strings.NewReplacer("GET / ", "GET /some/path?x=1 ", "Connection: Upgrade", "Connection: keep-alive, UPGRADE",
		"Upgrade: websocket", "Upgrade: WebSocket").Replace(valid)
	if w := dialWSRequest(t, s, req); w.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("token headers answered %s", w.resp.Status)
	}
}

// The accept key is RFC 6455's example answer, and configured headers are
// added to the upgrade response.
func TestWebsocketUpgradeResponse(t *testing.T) {
	o := wsOptions()
	o.Websocket.Headers = map[string]string{"X-Served-By": "natsforge", "Cache-Control": "no-store"}
	s := RunServer(t, o)
	w, info := dialWS(t, s, "Sec-WebSocket-Extensions: permessage-deflate")
	h := w.resp.Header
	if h.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" || h.Get("Upgrade") != "websocket" || h.Get("Connection") != "Upgrade" {
		t.Fatalf("response headers %v", h)
	}
	if h.Get("X-Served-By") != "natsforge" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("configured headers missing: %v", h)
	}
	// compression is off: the offer is not taken up.
	if h.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatalf("extension answered without compression configured: %v", h)
	}
	if strings.Contains(info, "tls_required") || strings.Contains(info, "auth_required") {
		t.Fatalf("INFO %s", info)
	}
}

// same_origin and allowed_origins refuse browsers from elsewhere with 403;
// requests without an Origin header are not checked.
func TestWebsocketOrigins(t *testing.T) {
	for _, tc := range []struct {
		name    string
		same    bool
		allowed []string
		host    string
		origin  string
		want    int
		log     string
	}{
		{"same ok", true, nil, "localhost", "http://localhost", 101, ""},
		{"same with port", true, nil, "localhost:8080", "http://localhost:8080", 101, ""},
		{"same case", true, nil, "LOCALHOST", "http://localhost", 101, ""},
		{"no origin", true, nil, "localhost", "", 101, ""},
		{"same port differs", true, nil, "localhost:8080", "http://localhost", 403, "not same origin"},
		{"same scheme differs", true, nil, "localhost:443", "https://localhost", 403, "not same origin"},
		{"same other host", true, nil, "localhost", "http://other", 403, "not same origin"},
		{"same bad origin", true, nil, "localhost", "null", 403, `parse "null": invalid URI for request`},
		{"allowed", false, []string{"http://a.com", "https://b.com:8443"}, "x", "http://a.com:80", 101, ""},
		{"allowed port", false, []string{"http://a.com", "https://b.com:8443"}, "x", "https://b.com:8443", 101, ""},
		{"allowed path ignored", false, []string{"http://a.com"}, "x", "http://a.com/p?q", 101, ""},
		{"allowed case", false, []string{"http://A.com"}, "x", "http://a.COM", 101, ""},
		{"not allowed scheme", false, []string{"http://a.com"}, "x", "https://a.com", 403, "not in the allowed list"},
		{"not allowed port", false, []string{"https://b.com:8443"}, "x", "https://b.com", 403, "not in the allowed list"},
		{"both: same fails first", true, []string{"http://a.com"}, "x", "http://a.com", 403, "not same origin"},
		{"both: list fails", true, []string{"http://a.com"}, "y", "http://y", 403, "not in the allowed list"},
		{"both ok", true, []string{"http://a.com"}, "a.com", "http://a.com", 101, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := wsOptions()
			o.Websocket.SameOrigin, o.Websocket.AllowedOrigins = tc.same, tc.allowed
			s, l := runLoggedServer(t, o)
			req := strings.Replace(wsUpgradeRequest(), "Host: 127.0.0.1", "Host: "+tc.host, 1)
			if tc.origin != "" {
				req = strings.Replace(req, "\r\n\r\n", "\r\nOrigin: "+tc.origin+"\r\n\r\n", 1)
			}
			w := dialWSRequest(t, s, req)
			if w.resp.StatusCode != tc.want {
				t.Fatalf("status %s, want %d", w.resp.Status, tc.want)
			}
			if tc.want == 403 {
				l.waitLog(t, "[ERR]", "websocket handshake error: origin not allowed: "+tc.log)
			}
		})
	}
}

// A socket that does not complete its upgrade within handshake_timeout is
// closed: silent, or stuck half way through its request.
func TestWebsocketHandshakeTimeout(t *testing.T) {
	o := wsOptions()
	o.Websocket.HandshakeTimeout = 200 * time.Millisecond
	s := RunServer(t, o)
	for _, partial := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.Dial("tcp", s.WebsocketAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, partial)
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(c)
		if ne, ok := err.(net.Error); (ok && ne.Timeout()) || time.Since(start) > 3*time.Second {
			t.Fatalf("request %q: not closed after the handshake timeout (%v)", partial, err)
		}
	}
}
