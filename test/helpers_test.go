package test

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// DefaultTestOptions are loopback, an ephemeral port, no signals, no log.
func DefaultTestOptions() *server.Options {
	return &server.Options{
		Host:   "127.0.0.1",
		Port:   server.RANDOM_PORT,
		NoLog:  true,
		NoSigs: true,
	}
}

// RunServer starts a server with opts through the embedding API and stops it
// when the test ends.
func RunServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	if opts == nil {
		opts = DefaultTestOptions()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	go s.Start()
	// 20 s: under make test's parallel cluster tests a start took over 5.
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connect returns a nats.go connection closed at the end of the test.
func connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// rawConn is a plain TCP connection speaking the protocol by hand.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	info string
}

// dialRaw connects and reads the INFO line.
func dialRaw(t testing.TB, s *server.Server) *rawConn {
	t.Helper()
	return dialRawAddr(t, s.Addr().String())
}

// dialRawAddr connects to any listener of ours (clients, gateways) and
// reads its INFO line.
func dialRawAddr(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, conn: c, br: bufio.NewReader(c)}
	rc.info = rc.readLine()
	if !strings.HasPrefix(rc.info, "INFO ") {
		t.Fatalf("expected INFO, got %q", rc.info)
	}
	return rc
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.conn.Write([]byte(s)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// readLine returns the next line without its CRLF, failing after 2 s.
func (rc *rawConn) readLine() string {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := rc.br.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimRight(line, "\r\n")
}

// expect reads the next line and checks it.
func (rc *rawConn) expect(want string) {
	rc.t.Helper()
	if got := rc.readLine(); got != want {
		rc.t.Fatalf("expected %q, got %q", want, got)
	}
}

// expectClosed waits for the server to close the connection.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var buf [256]byte
	for {
		n, err := rc.br.Read(buf[:])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				rc.t.Fatalf("connection was not closed")
			}
			return
		}
		if n > 0 && !bytes.Contains(buf[:n], []byte("PING")) {
			rc.t.Fatalf("unexpected data before close: %q", buf[:n])
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
