package test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// closePayload is a close frame's payload: status and reason.
func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// Fragmented messages, control frames between fragments, text frames, a
// header split across writes and many frames in one write all carry the
// same protocol as one binary frame would.
func TestWebsocketFragmentedAndControlFrames(t *testing.T) {
	s := RunServer(t, wsOptions())
	w, _ := dialWS(t, s)
	w.sendText("CONNECT {\"verbose\":false}\r\nSUB a 1\r\n")

	// PUB split over three fragments, a ping between the first two; the
	// first fragment is a text frame.
	w.send(clientFrame(0x01, []byte("PUB a 5\r\nhe"), true), clientFrame(0x89, []byte("are you there"), true),
		clientFrame(0x00, []byte("ll"), true), clientFrame(0x80, []byte("o\r\nPING\r\n"), true))
	f := w.readFrame()
	if f.op != 0xA || string(f.payload) != "are you there" {
		t.Fatalf("pong: op %d %q", f.op, f.payload)
	}
	if got := w.readData("PONG\r\n"); got != "MSG a 1 5\r\nhello\r\nPONG\r\n" {
		t.Fatalf("got %q", got)
	}

	// A frame sent one byte at a time, 16-bit length and all.
	long := "PUB a 200\r\n" + strings.Repeat("z", 200) + "\r\nPING\r\n"
	for _, b := range clientFrame(0x82, []byte(long), true) {
		w.send([]byte{b})
	}
	if got := w.readData("PONG\r\n"); got != "MSG a 1 200\r\n"+strings.Repeat("z", 200)+"\r\nPONG\r\n" {
		t.Fatalf("byte by byte: %q", got)
	}

	// Many frames, empty ones and an unsolicited pong included, in one write.
	var frames [][]byte
	for i := 0; i < 50; i++ {
		frames = append(frames, clientFrame(0x82, nil, true), clientFrame(0x8A, []byte("x"), true),
			clientFrame(0x82, []byte("PUB a 1\r\n"), true), clientFrame(0x82, []byte("!\r\n"), true))
	}
	frames = append(frames, clientFrame(0x82, []byte("PING\r\n"), true))
	w.send(frames...)
	if got := w.readData("PONG\r\n"); got != strings.Repeat("MSG a 1 1\r\n!\r\n", 50)+"PONG\r\n" {
		t.Fatalf("batched frames: %q", got)
	}
}

// The client's close frame is echoed and the connection closed as
// "Client Closed".
func TestWebsocketClientClose(t *testing.T) {
	o := wsOptions()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	s := RunServer(t, o)
	for _, p := range [][]byte{closePayload(1000, "bye"), nil, closePayload(4000, "custom")} {
		w, _ := dialWS(t, s)
		w.sendText("CONNECT {\"verbose\":false}\r\n")
		w.send(clientFrame(0x88, p, true))
		f := w.readFrame()
		if f.op != 8 || string(f.payload) != string(p) {
			t.Fatalf("close echo: op %d %q, sent %q", f.op, f.payload, p)
		}
		w.expectEOF()
	}
	waitFor(t, 5*time.Second, "closed connections", func() bool {
		var cz server.Connz
		getJSON(t, monitorURL(s)+"/connz?state=closed", &cz)
		for _, c := range cz.Conns {
			if c.Reason != "Client Closed" || c.Type != "websocket" {
				t.Fatalf("closed %+v", c)
			}
		}
		return len(cz.Conns) == 3
	})
}

// Framing errors close the connection as a read error; some with a close
// frame whose status and reason the reference sends, some without.
func TestWebsocketFrameErrors(t *testing.T) {
	s, l := runLoggedServer(t, wsOptions())
	for _, tc := range []struct {
		name   string
		frames [][]byte
		status int // 0: no close frame
		msg    string
	}{
		{"unmasked", [][]byte{clientFrame(0x82, []byte("PING\r\n"), false)}, 0, "mask bit missing"},
		{"rsv1 without deflate", [][]byte{clientFrame(0xc2, []byte("x"), true)}, 0, "compressed frame received without negotiated permessage-deflate"},
		{"rsv2", [][]byte{clientFrame(0xa2, []byte("x"), true)}, 0, "RSV2 and RSV3 must be clear"},
		{"opcode 3", [][]byte{clientFrame(0x83, []byte("x"), true)}, 1002, "unknown opcode 3"},
		{"opcode 11", [][]byte{clientFrame(0x8b, nil, true)}, 1002, "unknown opcode 11"},
		{"fragmented ping", [][]byte{clientFrame(0x09, []byte("x"), true)}, 1002, "control frame does not have final bit set"},
		{"long ping", [][]byte{clientFrame(0x89, make([]byte, 126), true)}, 0, "control frame length bigger than maximum allowed of 125 bytes"},
		{"lone continuation", [][]byte{clientFrame(0x80, []byte("x"), true)}, 1002, "invalid continuation frame"},
		{"message in message", [][]byte{clientFrame(0x02, []byte("PI"), true), clientFrame(0x82, []byte("NG\r\n"), true)},
			1002, "new message started before final frame for previous message was received"},
		{"close of 1 byte", [][]byte{clientFrame(0x88, []byte{3}, true)}, 0, "close frame payload cannot be 1 byte"},
		{"close code 999", [][]byte{clientFrame(0x88, closePayload(999, ""), true)}, 0, "invalid close status code 999"},
		{"close code 1005", [][]byte{clientFrame(0x88, closePayload(1005, ""), true)}, 0, "invalid close status code 1005"},
		{"close reason not utf8", [][]byte{clientFrame(0x88, closePayload(1000, "\xff\xfe"), true)}, 1007, "invalid utf8 body in close frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := dialWS(t, s)
			w.sendText("CONNECT {\"verbose\":false}\r\n")
			w.send(tc.frames...)
			if tc.status != 0 {
				f := w.readFrame()
				if code, reason := f.closeStatus(); code != tc.status || reason != tc.msg {
					t.Fatalf("close frame op %d: %d %q", f.op, code, reason)
				}
			}
			w.expectEOF()
			l.waitLog(t, "[ERR]", "wid:", "read error: "+tc.msg)
		})
	}
}

// A protocol error inside the frames ends the connection as a read error
// without an -ERR, as with the reference; errors the reference reports
// with an -ERR are followed by a close frame with their status.
func TestWebsocketProtocolErrors(t *testing.T) {
	o := wsOptions()
	o.MaxControlLine = 100
	s, l := runLoggedServer(t, o)
	w, _ := dialWS(t, s)
	w.sendText("CONNECT {\"verbose\":false}\r\nFOO\r\n")
	w.expectEOF()
	l.waitLog(t, "[ERR]", "read error: Unknown Protocol Operation")

	for _, tc := range []struct {
		send, err string
		status    int
		reason    string
	}{
		{"CONNECT {\"protocol\":5}\r\n", "-ERR 'invalid client protocol'\r\n", 1002, "Bad Client Protocol Version"},
		{"CONNECT {}\r\nSUB " + strings.Repeat("a", 200) + " 1\r\n", "+OK\r\n-ERR 'maximum control line exceeded'\r\n", 1008, "Maximum Control Line Exceeded"},
	} {
		w, _ := dialWS(t, s)
		w.sendText(tc.send)
		data, f := w.readUntil(8)
		if code, reason := f.closeStatus(); data != tc.err || code != tc.status || reason != tc.reason {
			t.Fatalf("%q: got %q then close %d %q", tc.send, data, code, reason)
		}
		w.expectEOF()
	}
}

// Connections the server closes get the reference's close status: 1008 for
// authentication, 1001 for a stale connection and for shutdown.
func TestWebsocketServerCloseStatus(t *testing.T) {
	o := wsOptions()
	o.Username, o.Password = "u", "p"
	o.AuthTimeout = 0.3
	o.PingInterval, o.MaxPingsOut = 200*time.Millisecond, 1
	o.MaxConn = 3
	s := RunServer(t, o)
	expectClose := func(w *wsRaw, wantErr string, code int, reason string) {
		t.Helper()
		data, f := w.readUntil(8)
		if c, r := f.closeStatus(); !strings.HasSuffix(data, wantErr) || c != code || r != reason {
			t.Fatalf("got %q then close %d %q; want %q, %d %q", data, c, r, wantErr, code, reason)
		}
		w.expectEOF()
	}
	w, _ := dialWS(t, s)
	w.sendText("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"bad\"}\r\n")
	expectClose(w, "-ERR 'Authorization Violation'\r\n", 1008, "Authentication Failure")

	w, _ = dialWS(t, s)
	expectClose(w, "-ERR 'Authentication Timeout'\r\n", 1008, "Authentication Timeout")

	w, _ = dialWS(t, s)
	w.sendText("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n")
	expectClose(w, "-ERR 'Stale Connection'\r\n", 1001, "Stale Connection")

	// The connections closed above leave the count asynchronously; the
	// three below must all fit under max_connections.
	waitFor(t, 5*time.Second, "closed websocket connections to leave", func() bool { return s.NumClients() == 0 })
	var open []*wsRaw
	for i := 0; i < 3; i++ {
		w, _ := dialWS(t, s)
		w.sendText("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n")
		open = append(open, w)
	}
	w = dialWSRequest(t, s, wsUpgradeRequest()) // INFO and -ERR may share a frame
	expectClose(w, "-ERR 'maximum connections exceeded'\r\n", 1008, "Maximum Connections Exceeded")

	go s.Shutdown()
	for _, w := range open {
		// Answer pings until the shutdown's close frame arrives.
		for i := 0; ; i++ {
			f := w.readFrame()
			if f.op == 8 {
				if c, r := f.closeStatus(); c != 1001 || r != "Server Shutdown" {
					t.Fatalf("shutdown close %d %q", c, r)
				}
				break
			}
			if i > 100 {
				t.Fatal("no close frame at shutdown")
			}
		}
	}
}

// Lame duck mode tells websocket clients (INFO with ldm) and closes them
// with 1001; nats.go reconnecting elsewhere relies on it.
func TestWebsocketLameDuck(t *testing.T) {
	o := wsOptions()
	o.LameDuckDuration, o.LameDuckGracePeriod = time.Second, 100*time.Millisecond
	s := RunServer(t, o)
	ldm := make(chan struct{}, 1)
	nc := wsConnect(t, wsURL(s), nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }), nats.NoReconnect())
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	raw, _ := dialWS(t, s)
	raw.sendText("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
	raw.readData("PONG")
	go s.LameDuckShutdown()
	// The INFO names the websocket listener, not the client port.
	info := raw.readData(`"ldm":true`)
	if !strings.Contains(info, fmt.Sprintf(`"port":%d,`, s.WebsocketAddr().Port)) {
		t.Fatalf("lame duck INFO to a websocket client: %s", info)
	}
	for _, ch := range []chan struct{}{ldm, closed} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("lame duck not seen by the websocket client")
		}
	}
	if _, err := nats.Connect(wsURL(s), nats.Timeout(500*time.Millisecond)); err == nil {
		t.Fatal("websocket listener still accepts in lame duck mode")
	}
}
