package test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// wsOptions are loopback options with a websocket listener on a random
// port without TLS, as nats.js's test launcher starts servers.
func wsOptions() *server.Options {
	o := DefaultTestOptions()
	o.Websocket = server.WebsocketOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoTLS: true}
	return o
}

// wsURL is the ws:// URL of the server's websocket listener.
func wsURL(s *server.Server) string {
	return "ws://" + s.WebsocketAddr().String()
}

// wsRaw is a websocket connection driven by hand: frames in, frames out.
type wsRaw struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// wsUpgradeRequest is a valid upgrade request with extra header lines.
func wsUpgradeRequest(extra ...string) string {
	return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		strings.Join(append(extra, ""), "\r\n") + "\r\n"
}

// dialWSRequest sends req on a new connection and reads the HTTP answer.
func dialWSRequest(t testing.TB, s *server.Server, req string) *wsRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.WebsocketAddr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	w := &wsRaw{t: t, conn: c, br: bufio.NewReader(c)}
	w.resp, err = http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return w
}

// dialWS upgrades a connection and reads the INFO frame.
func dialWS(t testing.TB, s *server.Server, extra ...string) (*wsRaw, string) {
	t.Helper()
	w := dialWSRequest(t, s, wsUpgradeRequest(extra...))
	if w.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %s", w.resp.Status)
	}
	f := w.readFrame()
	if info := f.text(t); f.op != 2 || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("first frame: op %d %q", f.op, info)
	}
	return w, f.text(t)
}

// wsFrame is a frame as the client reads it.
type wsFrame struct {
	fin, rsv1 bool
	op        byte
	payload   []byte
}

// closeStatus is a close frame's status code and reason.
func (f wsFrame) closeStatus() (int, string) {
	if f.op != 8 || len(f.payload) < 2 {
		return 0, ""
	}
	return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
}

// text is a data frame's payload, inflated when compressed.
func (f wsFrame) text(t testing.TB) string {
	if !f.rsv1 {
		return string(f.payload)
	}
	r := flate.NewReader(io.MultiReader(bytes.NewReader(f.payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return string(b)
}

// readFrame reads one frame; server frames must not be masked.
func (w *wsRaw) readFrame() wsFrame {
	w.t.Helper()
	f, err := w.tryReadFrame()
	if err != nil {
		w.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (w *wsRaw) tryReadFrame() (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return wsFrame{}, err
	}
	if h[1]&0x80 != 0 {
		return wsFrame{}, fmt.Errorf("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(w.br, p); err != nil {
		return wsFrame{}, err
	}
	return wsFrame{fin: h[0]&0x80 != 0, rsv1: h[0]&0x40 != 0, op: h[0] & 0x0f, payload: p}, nil
}

// readUntil reads frames until one has op, returning the data read before
// it (inflated) and that frame.
func (w *wsRaw) readUntil(op byte) (string, wsFrame) {
	w.t.Helper()
	var data strings.Builder
	for i := 0; i < 1000; i++ {
		f := w.readFrame()
		if f.op == op {
			return data.String(), f
		}
		data.WriteString(f.text(w.t))
	}
	w.t.Fatalf("no frame with opcode %d", op)
	return "", wsFrame{}
}

// readData reads data frames until their text contains want.
func (w *wsRaw) readData(want string) string {
	w.t.Helper()
	var data strings.Builder
	for i := 0; i < 1000 && !strings.Contains(data.String(), want); i++ {
		f := w.readFrame()
		if f.op != 1 && f.op != 2 {
			w.t.Fatalf("frame with opcode %d (%q) while waiting for %q in %q", f.op, f.payload, want, data.String())
		}
		data.WriteString(f.text(w.t))
	}
	if !strings.Contains(data.String(), want) {
		w.t.Fatalf("never got %q", want)
	}
	return data.String()
}

// expectEOF checks that the server closed the connection.
func (w *wsRaw) expectEOF() {
	w.t.Helper()
	if f, err := w.tryReadFrame(); err == nil {
		w.t.Fatalf("expected the connection closed, got frame op %d %q", f.op, f.payload)
	}
}

// clientFrame builds a frame as a client sends it: masked unless told.
func clientFrame(b0 byte, payload []byte, masked bool) []byte {
	var out []byte
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, b0, mbit|byte(n))
	case n < 1<<16:
		out = append(out, b0, mbit|126, byte(n>>8), byte(n))
	default:
		out = append(out, b0, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// send writes frames.
func (w *wsRaw) send(frames ...[]byte) {
	w.t.Helper()
	if _, err := w.conn.Write(bytes.Join(frames, nil)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// sendText sends NATS protocol in one masked binary frame.
func (w *wsRaw) sendText(s string) { w.send(clientFrame(0x82, []byte(s), true)) }

// deflate compresses p as a permessage-deflate message payload.
func deflate(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(p)
	_ = fw.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}
