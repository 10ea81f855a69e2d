package test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/natsforge/nats-server/server"
)

// slowBcrypt returns a bcrypt hash of pw whose check takes at least min on
// this machine (and under the race detector, where bcrypt is much slower),
// and how long one check took.
func slowBcrypt(t *testing.T, pw string, min time.Duration) (string, time.Duration) {
	t.Helper()
	for cost := 4; cost <= 14; cost++ {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = bcrypt.CompareHashAndPassword(h, []byte(pw))
		if took := time.Since(start); took >= min {
			return string(h), took
		}
	}
	t.Fatal("bcrypt never got slow enough")
	return "", 0
}

// TestConnectClosedDuringAuthIsNeverBound closes a connection (its auth
// timer fires) while its CONNECT is still being checked: the check ends
// after the close, and the connection must then not be bound to the user's
// account, announced, or counted there.
func TestConnectClosedDuringAuthIsNeverBound(t *testing.T) {
	hash, took := slowBcrypt(t, "pw", 150*time.Millisecond)
	o := systemOptions()
	o.Users = append(o.Users, &server.User{Username: "slow", Password: hash, Account: "A"})
	o.AuthTimeout = (took / 4).Seconds()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	s, logs := runLoggedServer(t, o)
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	advisories, _ := sys.SubscribeSync("$SYS.ACCOUNT.A.>")
	sys.Flush()
	acc, _ := s.LookupAccount("A")

	// CONNECT goes out before INFO is even read, so that the server reads it
	// at once and is still checking the password when the timer fires.
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(`CONNECT {"user":"slow","pass":"pw","verbose":false}` + "\r\nPING\r\n"))
	c.SetReadDeadline(time.Now().Add(5*time.Second + 2*took))
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("expected INFO, got %q", line)
	}
	if line, _ := br.ReadString('\n'); line != "-ERR 'Authentication Timeout'\r\n" {
		t.Fatalf("expected the auth timeout, got %q", line)
	}
	// The password check finishes after the close, and is refused.
	logs.waitLog(t, "CONNECT after the connection closed", "Authentication Timeout")

	if n := acc.NumConnections(); n != 0 {
		t.Fatalf("account A holds %d connections after its only one closed", n)
	}
	if n := s.NumClients(); n != 1 { // the system user
		t.Fatalf("%d clients", n)
	}
	var az struct {
		Account struct {
			Conns int `json:"client_connections"`
		} `json:"account_detail"`
	}
	getJSON(t, monitorURL(s)+"/accountz?acc=A", &az)
	if az.Account.Conns != 0 {
		t.Fatalf("/accountz counts %d connections in A", az.Account.Conns)
	}
	if m, err := advisories.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("advisory for a connection never bound: %s %s", m.Subject, m.Data)
	}

	// A later connection of the same account is counted and released.
	a := connect(t, s, nats.UserInfo("a", "a"))
	waitFor(t, 2*time.Second, "A's connection counted", func() bool { return acc.NumConnections() == 1 })
	a.Close()
	waitFor(t, 2*time.Second, "A's connection released", func() bool { return acc.NumConnections() == 0 })
}

// TestConnectRacingAuthTimeout runs CONNECTs whose password check takes
// about as long as the auth timeout, several at once, so that closing and
// binding interleave every which way (run it with -race): whatever the
// outcome, the account counts exactly the connections that were accepted.
func TestConnectRacingAuthTimeout(t *testing.T) {
	hash, took := slowBcrypt(t, "pw", 50*time.Millisecond)
	o := systemOptions()
	o.Users = append(o.Users, &server.User{Username: "slow", Password: hash, Account: "A"})
	o.AuthTimeout = (3 * took).Seconds() // n checks share two or so cores
	s, logs := runLoggedServer(t, o)
	acc, _ := s.LookupAccount("A")

	const n = 6
	type outcome struct {
		conn net.Conn
		cid  uint64
		line string
	}
	results := make(chan outcome, n)
	for i := 0; i < n; i++ {
		go func() {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				results <- outcome{line: err.Error()}
				return
			}
			c.Write([]byte(`CONNECT {"user":"slow","pass":"pw","verbose":false}` + "\r\nPING\r\n"))
			c.SetReadDeadline(time.Now().Add(10*time.Second + 4*n*took))
			br := bufio.NewReader(c)
			info, _ := br.ReadString('\n')
			line, _ := br.ReadString('\n')
			results <- outcome{conn: c, cid: infoCID(t, info), line: strings.TrimSpace(line)}
		}()
	}
	accepted := 0
	var conns []net.Conn
	for i := 0; i < n; i++ {
		r := <-results
		if r.conn == nil {
			t.Fatal(r.line)
		}
		conns = append(conns, r.conn)
		switch r.line {
		case "PONG":
			accepted++
		case "-ERR 'Authentication Timeout'":
			// Its check ends after the close and is refused.
			logs.waitLog(t, "cid:"+strconv.FormatUint(r.cid, 10)+" - CONNECT after the connection closed")
		default:
			t.Fatalf("cid %d: %q", r.cid, r.line)
		}
	}
	if got := acc.NumConnections(); got != accepted {
		t.Fatalf("account A counts %d connections, %d were accepted", got, accepted)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 5*time.Second, "every connection released", func() bool {
		return acc.NumConnections() == 0 && s.NumClients() == 0
	})
}

// monitorURL is the http:// address of a server's monitoring port.
func monitorURL(s *server.Server) string { return "http://" + s.MonitorAddr().String() }

// getJSON fetches a monitoring endpoint and decodes its JSON.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// TestIdleSocketBeforeConnectIsClosed connects sockets that never send a
// CONNECT under every TLS and auth combination: each is closed within a
// bounded time, the bound the reference applies (see lifecycleBound).
func TestIdleSocketBeforeConnectIsClosed(t *testing.T) {
	env := newTLSEnv(t)
	const ping = 50 * time.Millisecond
	base := func(tlsOn bool) *server.Options {
		o := DefaultTestOptions()
		if tlsOn {
			o = env.opts()
			o.TLS.Timeout = 0.2
		}
		o.PingInterval, o.MaxPingsOut = ping, 1
		return o
	}
	cases := []struct {
		name  string
		opts  func() *server.Options
		send  string // bytes the client sends before going silent
		final string // last line before the close, "" for none
	}{
		{"plain no auth", func() *server.Options { return base(false) }, "", "-ERR 'Stale Connection'"},
		{"plain partial CONNECT", func() *server.Options { return base(false) }, "CONN", "-ERR 'Stale Connection'"},
		{"plain auth", func() *server.Options {
			o := base(false)
			o.Username, o.Password, o.AuthTimeout = "u", "p", 0.2
			o.PingInterval = time.Second
			return o
		}, "", "-ERR 'Authentication Timeout'"},
		{"tls required", func() *server.Options { return base(true) }, "", ""},
		{"tls handshake first", func() *server.Options {
			o := base(true)
			o.TLS.HandshakeFirst = true
			return o
		}, "", ""},
		{"tls handshake first with fallback", func() *server.Options {
			o := base(true)
			o.TLS.HandshakeFirst, o.TLS.FallbackDelay = true, 50*time.Millisecond
			return o
		}, "", ""},
		{"allow_non_tls no auth", func() *server.Options {
			o := base(true)
			o.AllowNonTLS = true
			return o
		}, "", "-ERR 'Stale Connection'"},
		{"allow_non_tls partial CONNECT", func() *server.Options {
			o := base(true)
			o.AllowNonTLS = true
			return o
		}, "CONN", "-ERR 'Stale Connection'"},
		{"allow_non_tls auth", func() *server.Options {
			o := base(true)
			o.AllowNonTLS = true
			o.Username, o.Password, o.AuthTimeout = "u", "p", 0.3
			o.PingInterval = time.Second
			return o
		}, "", "-ERR 'Authentication Timeout'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := RunServer(t, tc.opts())
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.send != "" {
				c.Write([]byte(tc.send))
			}
			start := time.Now()
			c.SetReadDeadline(start.Add(3 * time.Second))
			var last string
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatalf("socket still open after %v (last line %q)", time.Since(start), last)
					}
					break
				}
				last = strings.TrimRight(line, "\r\n")
			}
			if tc.final != "" && last != tc.final {
				t.Fatalf("last line %q, want %q", last, tc.final)
			}
			waitFor(t, 2*time.Second, "the connection to be released", func() bool { return s.NumClients() == 0 })
		})
	}
}

// TestAllowNonTLSPingsOnlyAfterTheTLSWindow: with allow_non_tls, the
// server waits the TLS timeout for a ClientHello before it treats a silent
// client as clear text, and only then starts pinging it, as the reference
// does (first PING at tls timeout + ping_interval).
func TestAllowNonTLSPingsOnlyAfterTheTLSWindow(t *testing.T) {
	env := newTLSEnv(t)
	o := env.opts()
	o.AllowNonTLS, o.TLS.Timeout = true, 0.3
	o.PingInterval, o.MaxPingsOut = 100*time.Millisecond, 1
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	start := time.Now()
	rc.expect("PING")
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("PING after %v, inside the TLS window", took)
	}
	// A client that answers is a clear-text client like any other.
	rc.send("PONG\r\nCONNECT {\"verbose\":false}\r\nPING\r\n")
	rc.expect("PONG")
}

// TestReconnectOptionsWhileReceiving: a client may send CONNECT again while
// others publish to it; the options publishers read (headers support) are
// changed under the receiver's lock. Meaningful under the race detector.
func TestReconnectOptionsWhileReceiving(t *testing.T) {
	s := RunServer(t, nil)
	recv := dialRaw(t, s)
	recv.send("CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB h 1\r\nPING\r\n")
	recv.expect("PONG")
	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false,\"headers\":true}\r\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			pub.conn.Write([]byte("HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"))
		}
	}()
	for i := 0; i < 200; i++ {
		h := i%2 == 0
		recv.conn.Write([]byte(`CONNECT {"verbose":false,"headers":` + strconv.FormatBool(h) + "}\r\n"))
	}
	<-done
	pub.send("PING\r\n") // every message is queued for recv once this returns
	pub.expect("PONG")
	// Whatever the interleaving, every message arrived whole, with or
	// without its headers, and the connection is still in sync.
	recv.send("PING\r\n")
	got := 0
	for {
		line := recv.readLine()
		if line == "PONG" {
			break
		}
		switch {
		case line == "HMSG h 1 12 14":
			recv.expect("NATS/1.0")
			recv.expect("")
			recv.expect("hi")
		case line == "MSG h 1 2":
			recv.expect("hi")
		default:
			t.Fatalf("unexpected %q", line)
		}
		got++
	}
	if got != 200 {
		t.Fatalf("%d messages for 200 published", got)
	}
}

// TestAuthTimeoutStartsAfterTheTLSHandshake: as with the reference, a TLS
// client's time to authenticate counts from the end of its handshake, which
// the TLS timeout bounds on its own.
func TestAuthTimeoutStartsAfterTheTLSHandshake(t *testing.T) {
	env := newTLSEnv(t)
	o := env.opts()
	o.TLS.Timeout = 2
	o.Username, o.Password, o.AuthTimeout = "u", "p", 0.4
	s := RunServer(t, o)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := readLineRaw(c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a slow client, well inside the TLS timeout
	tc := tls.Client(c, env.clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	handshaken := time.Now()
	line, _ := bufio.NewReader(tc).ReadString('\n')
	if line != "-ERR 'Authentication Timeout'\r\n" {
		t.Fatalf("got %q", line)
	}
	if d := time.Since(handshaken); d < 300*time.Millisecond {
		t.Fatalf("timed out %v after the handshake: the auth timeout counted the handshake", d)
	}
}

// TestReloadDuringConnectIsNotMissed removes a user by reload while that
// user's CONNECT is being checked: the connection must not be accepted on
// the options the reload replaced.
func TestReloadDuringConnectIsNotMissed(t *testing.T) {
	hash, took := slowBcrypt(t, "pw", 150*time.Millisecond)
	dir := t.TempDir()
	port := freePort(t)
	body := func(users string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization { timeout: 60, users: [%s] }\n", port, users)
	}
	cfg := writeConf(t, dir, "r.conf", body(`{user: a, password: a}, {user: slow, password: "`+hash+`"}`))
	s := runConfigServer(t, cfg)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(`CONNECT {"user":"slow","pass":"pw","verbose":false}` + "\r\nPING\r\n"))
	// The reload lands while the password is checked (or before: the answer
	// must be the same).
	writeConf(t, dir, "r.conf", body(`{user: a, password: a}`))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10*time.Second + 4*took))
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("expected INFO, got %q", line)
	}
	if line, _ := br.ReadString('\n'); line != "-ERR 'Authorization Violation'\r\n" {
		t.Fatalf("a user removed by reload was accepted: %q", line)
	}
}
