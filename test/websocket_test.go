package test

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// wsConnect connects nats.go to url, closed when the test ends.
func wsConnect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// checkExchange sends messages both ways between a websocket client and a
// TCP client, small and large, and a request answered across them.
func checkExchange(t *testing.T, ws, tcp *nats.Conn) {
	t.Helper()
	sizes := []int{0, 1, 64, 65, 1000, 70000, 300000}
	for _, pair := range []struct {
		name     string
		pub, sub *nats.Conn
	}{{"tcp->ws", tcp, ws}, {"ws->tcp", ws, tcp}} {
		sub, err := pair.sub.SubscribeSync("x." + pair.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := pair.sub.Flush(); err != nil {
			t.Fatal(err)
		}
		var sent [][]byte
		for i, n := range sizes {
			// Text that compresses, and a counter so order is checked.
			p := bytes.Repeat([]byte(fmt.Sprintf("m%d-", i)), n/3+1)[:n]
			sent = append(sent, p)
			if err := pair.pub.Publish("x."+pair.name, p); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 500; i++ {
			_ = pair.pub.Publish("x."+pair.name, []byte(strconv.Itoa(i)))
		}
		if err := pair.pub.Flush(); err != nil {
			t.Fatal(err)
		}
		for i, want := range sent {
			m, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: message %d: %v", pair.name, i, err)
			}
			if !bytes.Equal(m.Data, want) {
				t.Fatalf("%s: message %d: got %d bytes, want %d", pair.name, i, len(m.Data), len(want))
			}
		}
		for i := 0; i < 500; i++ {
			m, err := sub.NextMsg(5 * time.Second)
			if err != nil || string(m.Data) != strconv.Itoa(i) {
				t.Fatalf("%s: small message %d: %v %v", pair.name, i, err, m)
			}
		}
	}
	if _, err := ws.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond(append([]byte("re:"), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	_ = ws.Flush()
	resp, err := tcp.Request("svc", []byte("hi"), 5*time.Second)
	if err != nil || string(resp.Data) != "re:hi" {
		t.Fatalf("request across: %v %v", err, resp)
	}
}

func TestWebsocketPubSubWithTCPClient(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compression=%v", compress), func(t *testing.T) {
			o := wsOptions()
			o.Websocket.Compression = true // the client decides
			s := RunServer(t, o)
			ws := wsConnect(t, wsURL(s), nats.Compression(compress))
			tcp := connect(t, s)
			checkExchange(t, ws, tcp)
		})
	}
}

// The server compresses only what the client negotiated, and only frames
// worth it (more than 64 bytes).
func TestWebsocketCompressedFrames(t *testing.T) {
	o := wsOptions()
	o.Websocket.Compression = true
	s := RunServer(t, o)
	w, _ := dialWS(t, s, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	if got := w.resp.Header.Get("Sec-WebSocket-Extensions"); got != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("extensions answered %q", got)
	}
	// A compressed message in two fragments, the first carrying RSV1.
	z := deflate(t, []byte("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPING\r\n"))
	w.send(clientFrame(0x42, z[:5], true), clientFrame(0x80, z[5:], true))
	if f := w.readFrame(); f.rsv1 || f.text(t) != "PONG\r\n" {
		t.Fatalf("small frame: rsv1=%v %q", f.rsv1, f.payload)
	}
	big := strings.Repeat("y", 200)
	w.send(clientFrame(0xc2, deflate(t, []byte("PUB a 200\r\n"+big+"\r\n")), true))
	f := w.readFrame()
	if !f.rsv1 || f.text(t) != "MSG a 1 200\r\n"+big+"\r\n" || len(f.payload) > 100 {
		t.Fatalf("large frame: rsv1=%v len %d %q", f.rsv1, len(f.payload), f.text(t))
	}

	// Without the extension requested nothing is compressed.
	w2, _ := dialWS(t, s)
	if w2.resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatal("extension answered to a client that did not ask")
	}
	w2.sendText("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 200\r\n" + big + "\r\n")
	if f := w2.readFrame(); f.rsv1 || !strings.HasPrefix(string(f.payload), "MSG a 1 200") {
		t.Fatalf("uncompressed client got rsv1=%v %q", f.rsv1, f.payload)
	}
	// A compressed frame from it is a protocol error.
	w2.send(clientFrame(0xc2, z, true))
	w2.expectEOF()
}

func TestWebsocketTLS(t *testing.T) {
	env := newTLSEnv(t)
	o := wsOptions()
	o.Websocket.NoTLS = false
	o.Websocket.TLS = &server.TLSConfigOpts{CertFile: env.srv.certFile, KeyFile: env.srv.keyFile}
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	s := RunServer(t, o)
	url := "wss://" + s.WebsocketAddr().String()
	ws := wsConnect(t, url, nats.Secure(env.clientTLS()), nats.Compression(true))
	checkExchange(t, ws, connect(t, s))

	var cz server.Connz
	getJSON(t, monitorURL(s)+"/connz", &cz)
	var found bool
	for _, c := range cz.Conns {
		if c.Type == "websocket" {
			found = c.TLSVersion != "" && c.TLSCipher != "" && c.Kind == "Client"
		}
	}
	if !found {
		t.Fatalf("no websocket client with TLS in /connz: %+v", cz.Conns)
	}
	var v server.Varz
	getJSON(t, monitorURL(s)+"/varz", &v)
	if v.Websocket.TLSCertNotAfter == nil || v.Websocket.NoTLS {
		t.Fatalf("varz websocket: %+v", v.Websocket)
	}
	// Plain text on a wss listener does not get through.
	if _, err := nats.Connect("ws://"+s.WebsocketAddr().String(), nats.Timeout(time.Second)); err == nil {
		t.Fatal("ws:// connected to a wss listener")
	}
}

// nats.js's launcher starts servers with websocket { port: -1, no_tls: true }:
// the port bound is logged, reported in /varz and in the ports file.
func TestWebsocketRandomPortReported(t *testing.T) {
	dir := t.TempDir()
	o := wsOptions()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	o.PortsFileDir = dir
	s, l := runLoggedServer(t, o)
	port := s.WebsocketAddr().Port
	if port <= 0 {
		t.Fatalf("port %d", port)
	}
	l.waitLog(t, "[INF]", "Listening for websocket clients on ws://127.0.0.1:"+strconv.Itoa(port))
	l.waitLog(t, "[WRN]", "Websocket not configured with TLS. DO NOT USE IN PRODUCTION!")
	var v server.Varz
	getJSON(t, monitorURL(s)+"/varz", &v)
	if v.Websocket.Port != port || v.Websocket.Host != "127.0.0.1" || !v.Websocket.NoTLS {
		t.Fatalf("varz websocket: %+v", v.Websocket)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
	if len(files) != 1 {
		t.Fatalf("ports files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	var ports struct{ Websocket []string }
	if err := json.Unmarshal(b, &ports); err != nil || len(ports.Websocket) != 1 || ports.Websocket[0] != wsURL(s) {
		t.Fatalf("ports file %s: %v", b, err)
	}
	// INFO names the websocket listener's address.
	_, info := dialWS(t, s)
	if !strings.Contains(info, `"port":`+strconv.Itoa(port)+",") {
		t.Fatalf("INFO %s", info)
	}
}

func TestWebsocketConnzAndVarz(t *testing.T) {
	o := wsOptions()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	o.Websocket.Compression = true
	o.Websocket.SameOrigin = true
	o.Websocket.AllowedOrigins = []string{"http://a.example"}
	o.Websocket.HandshakeTimeout = 3 * time.Second
	o.Websocket.Advertise = "ws.example:9999"
	s := RunServer(t, o)
	ws := wsConnect(t, wsURL(s), nats.Name("browser"))
	connect(t, s, nats.Name("plain"))
	var cz server.Connz
	getJSON(t, monitorURL(s)+"/connz", &cz)
	types := map[string]string{}
	for _, c := range cz.Conns {
		types[c.Name] = c.Kind + "/" + c.Type
	}
	if types["browser"] != "Client/websocket" || types["plain"] != "Client/nats" {
		t.Fatalf("connz kinds: %v", types)
	}
	ws.Close()
	waitFor(t, 5*time.Second, "closed websocket client", func() bool {
		var closed server.Connz
		getJSON(t, monitorURL(s)+"/connz?state=closed", &closed)
		return len(closed.Conns) == 1 && closed.Conns[0].Type == "websocket" && closed.Conns[0].Reason == "Client Closed"
	})
	var raw map[string]json.RawMessage
	getJSON(t, monitorURL(s)+"/varz", &raw)
	want := fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"advertise":"ws.example:9999","handshake_timeout":3000000000,`+
		`"no_tls":true,"same_origin":true,"allowed_origins":["http://a.example"],"compression":true}`, s.WebsocketAddr().Port)
	var got bytes.Buffer
	_ = json.Compact(&got, raw["websocket"])
	if got.String() != want {
		t.Fatalf("varz websocket:\n got %s\nwant %s", got.String(), want)
	}
}

// A payload over max_payload gets the -ERR, then close status 1009.
func TestWebsocketMaxPayload(t *testing.T) {
	o := wsOptions()
	o.MaxPayload = 1000
	s := RunServer(t, o)
	w, info := dialWS(t, s)
	if !strings.Contains(info, `"max_payload":1000`) {
		t.Fatalf("INFO %s", info)
	}
	w.sendText("CONNECT {\"verbose\":false}\r\nPUB a 1001\r\n")
	data, f := w.readUntil(8)
	if data != "-ERR 'Maximum Payload Violation'\r\n" {
		t.Fatalf("before close: %q", data)
	}
	if code, reason := f.closeStatus(); code != 1009 || reason != "Maximum Message Payload Exceeded" {
		t.Fatalf("close %d %q", code, reason)
	}
	w.expectEOF()
}

// verify_and_map on the wss listener logs a client in as the user its
// certificate names; pinned_certs refuses certificates not listed.
func TestWebsocketTLSVerifyAndMapAndPins(t *testing.T) {
	env := newTLSEnv(t)
	alice := env.ca.clientCert(t, "alice", pkix.Name{CommonName: "alice"}, []string{"alice@example.com"}, nil)
	bob := env.ca.clientCert(t, "bob", pkix.Name{CommonName: "bob"}, nil, nil)
	o := wsOptions()
	o.Websocket.NoTLS = false
	o.Websocket.TLS = &server.TLSConfigOpts{CertFile: env.srv.certFile, KeyFile: env.srv.keyFile, CaFile: env.ca.file,
		Verify: true, Map: true}
	// The mapped user's permissions show that the certificate chose it.
	o.Users = []*server.User{{Username: "alice@example.com",
		Permissions: &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{"alice.>"}}}}}
	s := RunServer(t, o)
	url := "wss://" + s.WebsocketAddr().String()
	denied := make(chan error, 1)
	nc := wsConnect(t, url, nats.Secure(env.clientTLS(alice)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err }))
	_ = nc.Publish("alice.ok", nil)
	_ = nc.Publish("other", nil)
	select {
	case err := <-denied:
		if !strings.Contains(err.Error(), `Permissions Violation for Publish to "other"`) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the mapped user's permissions do not apply")
	}
	if _, err := nats.Connect(url, nats.Secure(env.clientTLS(bob)), nats.Timeout(time.Second)); err == nil {
		t.Fatal("a certificate naming no user logged in")
	}
	if _, err := nats.Connect(url, nats.Secure(env.clientTLS()), nats.Timeout(time.Second)); err == nil {
		t.Fatal("no client certificate accepted with verify")
	}

	o2 := wsOptions()
	o2.Websocket.NoTLS = false
	o2.Websocket.TLS = &server.TLSConfigOpts{CertFile: env.srv.certFile, KeyFile: env.srv.keyFile, CaFile: env.ca.file,
		Verify: true, PinnedCerts: []string{server.CertPinKey(alice.leaf)}}
	s2 := RunServer(t, o2)
	url2 := "wss://" + s2.WebsocketAddr().String()
	wsConnect(t, url2, nats.Secure(env.clientTLS(alice)))
	if _, err := nats.Connect(url2, nats.Secure(env.clientTLS(bob)), nats.Timeout(time.Second)); err == nil {
		t.Fatal("a certificate not pinned was accepted")
	}
}
