package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// wsLogin connects a websocket client with CONNECT fields and cookies and
// reports whether the server accepted it.
func wsLogin(t *testing.T, s *server.Server, connect string, cookie string) bool {
	t.Helper()
	var extra []string
	if cookie != "" {
		extra = append(extra, "Cookie: "+cookie)
	}
	w, info := dialWS(t, s, extra...)
	if !strings.Contains(info, `"auth_required":true`) {
		t.Fatalf("INFO without auth_required: %s", info)
	}
	w.sendText("CONNECT " + connect + "\r\nPING\r\n")
	f := w.readFrame()
	switch got := f.text(t); {
	case f.op == 2 && strings.HasPrefix(got, "PONG"):
		return true
	case f.op == 2 && got == "-ERR 'Authorization Violation'\r\n":
		if c, r := w.readFrame().closeStatus(); c != 1008 || r != "Authentication Failure" {
			t.Fatalf("close %d %q", c, r)
		}
		return false
	default:
		t.Fatalf("unexpected answer op %d %q", f.op, got)
	}
	return false
}

// tcpLogin is wsLogin for a plain client.
func tcpLogin(t *testing.T, s *server.Server, connect string) bool {
	t.Helper()
	rc := dialRaw(t, s)
	rc.send("CONNECT " + connect + "\r\nPING\r\n")
	return rc.readLine() == "PONG"
}

// The websocket authorization block replaces the top-level one for
// websocket clients only.
func TestWebsocketAuthorizationOverride(t *testing.T) {
	o := wsOptions()
	o.Username, o.Password = "tcpuser", "tcppass"
	o.Websocket.Username, o.Websocket.Password = "wsuser", "wspass"
	s := RunServer(t, o)
	for _, tc := range []struct {
		connect    string
		ws, plain  bool
		descriptor string
	}{
		{`{"verbose":false,"user":"wsuser","pass":"wspass"}`, true, false, "websocket credentials"},
		{`{"verbose":false,"user":"tcpuser","pass":"tcppass"}`, false, true, "top-level credentials"},
		{`{"verbose":false}`, false, false, "none"},
	} {
		if got := wsLogin(t, s, tc.connect, ""); got != tc.ws {
			t.Fatalf("websocket with %s: accepted=%v", tc.descriptor, got)
		}
		if got := tcpLogin(t, s, tc.connect); got != tc.plain {
			t.Fatalf("tcp with %s: accepted=%v", tc.descriptor, got)
		}
	}

	o2 := wsOptions()
	o2.Websocket.Token = "wstoken"
	s2 := RunServer(t, o2)
	if !wsLogin(t, s2, `{"verbose":false,"auth_token":"wstoken"}`, "") || wsLogin(t, s2, `{"verbose":false,"auth_token":"x"}`, "") {
		t.Fatal("websocket token not applied")
	}
	if !tcpLogin(t, s2, `{"verbose":false}`) {
		t.Fatal("the websocket token applied to a plain client")
	}
}

// Cookies of the upgrade request stand in for CONNECT fields left empty,
// each on its own; websocket no_auth_user and allowed_connection_types
// apply to websocket clients.
func TestWebsocketCookiesAndUsers(t *testing.T) {
	o := wsOptions()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	o.Users = []*server.User{
		{Username: "u1", Password: "p1"},
		{Username: "u2", Password: "p2"},
		{Username: "plain", Password: "p", AllowedConnectionTypes: map[string]struct{}{server.ConnectionTypeStandard: {}}},
		{Username: "web", Password: "p", AllowedConnectionTypes: map[string]struct{}{server.ConnectionTypeWebsocket: {}}},
	}
	o.Websocket.NoAuthUser = "u2"
	o.Websocket.UsernameCookie, o.Websocket.PasswordCookie, o.Websocket.TokenCookie = "uc", "pc", "tc"
	s := RunServer(t, o)
	for _, tc := range []struct {
		connect, cookie string
		want            bool
	}{
		{`{"verbose":false}`, "", true}, // no_auth_user u2
		{`{"verbose":false}`, "uc=u1; pc=p1", true},
		{`{"verbose":false,"user":"u1"}`, "pc=p1", true},
		{`{"verbose":false}`, "uc=u1; pc=bad", false},
		{`{"verbose":false,"user":"u1","pass":"p1"}`, "uc=u1; pc=bad", true}, // CONNECT wins
		{`{"verbose":false}`, "uc=u1", false},
		{`{"verbose":false,"user":"plain","pass":"p"}`, "", false},
		{`{"verbose":false,"user":"web","pass":"p"}`, "", true},
	} {
		if got := wsLogin(t, s, tc.connect, tc.cookie); got != tc.want {
			t.Fatalf("CONNECT %s cookie %q: accepted=%v", tc.connect, tc.cookie, got)
		}
	}
	if tcpLogin(t, s, `{"verbose":false}`) || tcpLogin(t, s, `{"verbose":false,"user":"web","pass":"p"}`) ||
		!tcpLogin(t, s, `{"verbose":false,"user":"plain","pass":"p"}`) {
		t.Fatal("websocket settings leaked to plain clients")
	}
	// The cookie's user is who /connz shows.
	w, _ := dialWS(t, s, "Cookie: uc=u1; pc=p1")
	w.sendText("CONNECT {\"verbose\":false,\"name\":\"cookie\"}\r\nPING\r\n")
	w.readData("PONG")
	var cz server.Connz
	getJSON(t, monitorURL(s)+"/connz?auth=1", &cz)
	for _, c := range cz.Conns {
		if c.Name == "cookie" && c.AuthorizedUser != "u1" {
			t.Fatalf("connz user %q", c.AuthorizedUser)
		}
	}
	// nats.go sends no cookies; with credentials in the URL it logs in.
	nc := wsConnect(t, "ws://web:p@"+s.WebsocketAddr().String())
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// The websocket authorization timeout applies to websocket clients.
func TestWebsocketAuthTimeout(t *testing.T) {
	o := wsOptions()
	o.Username, o.Password = "u", "p"
	o.AuthTimeout = 30
	o.Websocket.AuthTimeout = 0.2
	s := RunServer(t, o)
	w, _ := dialWS(t, s)
	start := time.Now()
	data, f := w.readUntil(8)
	if c, _ := f.closeStatus(); data != "-ERR 'Authentication Timeout'\r\n" || c != 1008 || time.Since(start) > 5*time.Second {
		t.Fatalf("got %q, close %d after %v", data, c, time.Since(start))
	}
}

// The websocket block from a config file: options, refusals in the
// reference's words, and reload refusing any change.
func TestWebsocketConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir, "ws.conf", `
listen: "127.0.0.1:-1"
authorization { users: [ {user: u1, password: p1} ] }
websocket {
  listen: "127.0.0.1:-1"
  no_tls: true
  compression: true
  no_auth_user: u1
  handshake_timeout: "5s"
  headers { "X-Frame-Options": "deny" }
  authorization { timeout: 1.5 }
}
`)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	ws := o.Websocket
	if ws.Host != "127.0.0.1" || ws.Port != -1 || !ws.NoTLS || !ws.Compression || ws.NoAuthUser != "u1" ||
		ws.HandshakeTimeout != 5*time.Second || ws.Headers["X-Frame-Options"] != "deny" || ws.AuthTimeout != 1.5 {
		t.Fatalf("parsed %+v", ws)
	}
	o.NoLog, o.NoSigs = true, true
	s := RunServer(t, o)
	w, _ := dialWS(t, s)
	if w.resp.Header.Get("X-Frame-Options") != "deny" {
		t.Fatalf("headers %v", w.resp.Header)
	}
	w.sendText("CONNECT {\"verbose\":false}\r\nPING\r\n")
	w.readData("PONG")

	// Reload: the websocket block cannot change.
	b, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, []byte(strings.Replace(string(b), "compression: true", "compression: false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "config reload not supported for Websocket") {
		t.Fatalf("reload: %v", err)
	}
}

func TestWebsocketConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct{ body, want string }{
		{`websocket { port: -1 }`, "websocket requires TLS configuration"},
		{`websocket { port: -1, no_tls: true, allowed_origins: ["nohttp"] }`, `unable to parse allowed origin: parse "nohttp": invalid URI for request`},
		{`websocket { port: -1, no_tls: true, allowed_origins: ["ftp://a.com"] }`, `unable to parse allowed origin "ftp://a.com": allowed origins must be absolute URLs with http or https scheme`},
		{`websocket { port: -1, no_tls: true, no_auth_user: zz }`, `no_auth_user: "zz" present, but users/nkeys are not defined`},
		{"authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, no_auth_user: zz }", `no_auth_user: "zz" not present as user or nkey in authorization block or account configuration`},
		{"authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, authorization { user: x, password: y } }", "websocket authentication username not compatible with presence of users/nkeys"},
		{"authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, authorization { token: t } }", "websocket authentication token not compatible with presence of users/nkeys"},
		{`websocket { port: -1, no_tls: true, headers { "Sec-WebSocket-Protocol": x } }`, `websocket: invalid header "Sec-WebSocket-Protocol", "Sec-WebSocket-" prefix not allowed`},
		{`websocket { port: -1, no_tls: true, headers { "Connection": x } }`, `websocket: invalid header "Connection" not allowed`},
		{`websocket { port: -1, no_tls: true, jwt_cookie: jc }`, `trusted operators or trusted keys configuration is required for JWT authentication via cookie "jc"`},
		{`websocket { port: -1, no_tls: true, tls { cert_file: "` + cert + `", key_file: "` + cert + `" } }`, "missing.pem"},
	} {
		conf := writeConf(t, dir, "bad.conf", tc.body+"\n")
		o, err := server.ProcessConfigFile(conf)
		if err == nil {
			o.NoLog, o.NoSigs = true, true
			_, err = server.NewServer(o)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s:\n got %v\nwant %s", tc.body, err, tc.want)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`websocket { port: 70000 }`, "invalid websocket port of 70000"},
		{`websocket { handshake_timeout: "-1s" }`, "invalid websocket handshake_timeout of -1s, must not be negative"},
		{`websocket { authorization { users: [] } }`, `unknown field "users"`},
		{`websocket { bogus: 1 }`, `unknown field "bogus"`},
		{`websocket { headers: "x" }`, "error parsing headers: unsupported type string"},
		{`websocket { headers { a: 5 } }`, "error parsing header key a: unsupported type int64"},
		{`websocket { compression: "yes" }`, `field "compression": expected a boolean`},
	} {
		conf := writeConf(t, dir, "bad.conf", tc.body+"\n")
		if _, err := server.ProcessConfigFile(conf); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s:\n got %v\nwant %s", tc.body, err, tc.want)
		}
	}
	// A block without a port is inert, as with the reference.
	conf := writeConf(t, dir, "inert.conf", "websocket { host: 127.0.0.1 }\n")
	o, err := server.ProcessConfigFile(conf)
	if err == nil {
		o.NoLog, o.NoSigs, o.Port = true, true, -1
		_, err = server.NewServer(o)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// nats.go recognises ws:// URLs in a server list and reconnects to them.
func TestWebsocketReconnect(t *testing.T) {
	o := wsOptions()
	s := RunServer(t, o)
	url := wsURL(s)
	disconnected := make(chan struct{}, 1)
	nc := wsConnect(t, url, nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnected <- struct{}{} }),
		nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1))
	// Restart the server on the same port: the client reconnects over websocket.
	s.Shutdown()
	select {
	case <-disconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
	}
	o.Websocket.Port = s.WebsocketAddr().Port
	s2 := RunServer(t, o)
	waitFor(t, 10*time.Second, "reconnect", func() bool { return nc.IsConnected() })
	if nc.ConnectedUrl() != wsURL(s2) {
		t.Fatalf("reconnected to %s", nc.ConnectedUrl())
	}
}

// A reload may renew the wss certificates (new connections get them, as
// with the reference) but change nothing else in the websocket block.
func TestWebsocketReloadTLS(t *testing.T) {
	dir := t.TempDir()
	first, second := newTLSEnv(t), newTLSEnv(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(e *tlsEnv) {
		for src, dst := range map[string]string{e.srv.certFile: certFile, e.srv.keyFile: keyFile} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)
	body := `listen: "127.0.0.1:-1"
websocket { listen: "127.0.0.1:-1", compression: true, tls { cert_file: "` + certFile + `", key_file: "` + keyFile + `" } }
`
	conf := writeConf(t, dir, "wss.conf", body)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s := RunServer(t, o)
	url := "wss://" + s.WebsocketAddr().String()
	old := wsConnect(t, url, nats.Secure(first.clientTLS()))
	if _, err := nats.Connect(url, nats.Secure(second.clientTLS()), nats.Timeout(time.Second)); err == nil {
		t.Fatal("second CA trusted before the reload")
	}
	install(second)
	if err := s.Reload(); err != nil {
		t.Fatalf("reload of renewed certificates: %v", err)
	}
	wsConnect(t, url, nats.Secure(second.clientTLS()))
	if _, err := nats.Connect(url, nats.Secure(first.clientTLS()), nats.Timeout(time.Second)); err == nil {
		t.Fatal("old certificate still served after the reload")
	}
	if err := old.Flush(); err != nil {
		t.Fatalf("open connection lost its session: %v", err)
	}
	writeConf(t, dir, "wss.conf", strings.Replace(body, "compression: true", "compression: false", 1))
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "config reload not supported for Websocket") {
		t.Fatalf("reload changing compression: %v", err)
	}
}
