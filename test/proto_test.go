package test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

func TestInfoFields(t *testing.T) {
	s := RunServer(t, nil)
	rc := dialRaw(t, s)
	if !strings.HasSuffix(rc.info, "} ") {
		t.Fatalf("INFO line should end with '} ' before CRLF: %q", rc.info)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.info, "INFO ")), &info); err != nil {
		t.Fatal(err)
	}
	if info["version"] != "2.15.2" || info["proto"] != float64(1) || info["headers"] != true {
		t.Fatalf("bad identity fields: %v", info)
	}
	if info["max_payload"] != float64(1024*1024) {
		t.Fatalf("max_payload %v", info["max_payload"])
	}
	id, _ := info["server_id"].(string)
	if len(id) != 56 || id[0] != 'N' {
		t.Fatalf("server_id should be a server nkey: %q", id)
	}
	if info["server_name"] != id {
		t.Fatalf("server_name should default to the id")
	}
	if info["client_ip"] != "127.0.0.1" || info["client_id"] == nil {
		t.Fatalf("client fields missing: %v", info)
	}
	if info["port"] != float64(s.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("port %v, listening on %v", info["port"], s.Addr())
	}
	if _, ok := info["auth_required"]; ok {
		t.Fatal("auth_required must be absent without auth")
	}
}

// protoCase is a raw exchange: what we send after INFO, the lines we expect,
// and whether the server then closes the connection.
type protoCase struct {
	name   string
	send   string
	expect []string
	closed bool
}

// These exchanges were recorded from the reference server.
var protoCases = []protoCase{
	{"unknown op", "FOO\r\n", []string{"-ERR 'Unknown Protocol Operation'"}, true},
	{"verbose", "CONNECT {\"verbose\":true}\r\nPING\r\n", []string{"+OK", "PONG"}, false},
	{"defaults are verbose", "CONNECT {}\r\nPING\r\n", []string{"+OK", "PONG"}, false},
	{"pub missing size", "CONNECT {\"verbose\":false}\r\nPUB foo\r\n", nil, true},
	{"pub bad size", "CONNECT {\"verbose\":false}\r\nPUB foo x\r\n", nil, true},
	{"pub negative size", "CONNECT {\"verbose\":false}\r\nPUB foo -1\r\n", nil, true},
	{"max payload", "CONNECT {\"verbose\":false}\r\nPUB foo 2000000\r\n", []string{"-ERR 'Maximum Payload Violation'"}, true},
	{"max control line", "CONNECT {\"verbose\":false}\r\nSUB " + strings.Repeat("a", 5000) + " 1\r\n", []string{"-ERR 'maximum control line exceeded'"}, true},
	{"invalid subject", "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo..bar 1\r\nPING\r\n", []string{"-ERR 'Invalid Subject'", "PONG"}, false},
	{"pedantic publish", "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB foo.* 2\r\nhi\r\nPING\r\n", []string{"-ERR 'Invalid Publish Subject'", "PONG"}, false},
	{"non-pedantic wildcard publish", "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n", []string{"MSG foo.* 1 2", "hi", "PONG"}, false},
	{"bad payload end", "CONNECT {\"verbose\":false}\r\nPUB foo 2\r\nhiX\r\n", []string{"-ERR 'Unknown Protocol Operation'"}, true},
	{"sub without args", "CONNECT {\"verbose\":false}\r\nSUB\r\n", []string{"-ERR 'Unknown Protocol Operation'"}, true},
	{"sub too many args", "CONNECT {\"verbose\":false}\r\nSUB a b c d\r\n", nil, true},
	{"unsub without args", "CONNECT {\"verbose\":false}\r\nUNSUB\r\n", []string{"-ERR 'Unknown Protocol Operation'"}, true},
	{"unsub unknown sid", "CONNECT {}\r\nUNSUB 99\r\nPING\r\n", []string{"+OK", "+OK", "PONG"}, false},
	{"bad connect json", "CONNECT {bad\r\n", nil, true},
	{"hpub", "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n", []string{"HMSG foo 1 12 14", "NATS/1.0", "", "hi", "PONG"}, false},
	{"hpub with reply", "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nHPUB foo bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n", []string{"HMSG foo 1 bar 12 14", "NATS/1.0", "", "hi", "PONG"}, false},
	{"hpub without headers", "CONNECT {\"verbose\":false}\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", nil, true},
	{"hpub header larger than total", "CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB foo 20 14\r\n", nil, true},
	{"no responders", "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB r 1\r\nPUB nob r 0\r\n\r\nPING\r\n", []string{"HMSG r 1 35 35", "NATS/1.0 503", "Nats-Subject: nob", "", "", "PONG"}, false},
	{"no responders needs headers", "CONNECT {\"no_responders\":true}\r\n", []string{"-ERR 'no responders requires headers support'"}, true},
	{"ping before connect", "PING\r\n", []string{"PONG"}, false},
	{"lower case ops", "connect {\"verbose\":false}\r\nsub foo 1\r\npub foo 2\r\nhi\r\nping\r\n", []string{"MSG foo 1 2", "hi", "PONG"}, false},
	{"tabs and spaces", "CONNECT {\"verbose\":false}\r\nSUB\tfoo \t 1\r\nPUB\tfoo\t2\r\nhi\r\nPUB foo  bar   2\r\nhi\r\nPING\r\n", []string{"MSG foo 1 2", "hi", "MSG foo 1 bar 2", "hi", "PONG"}, false},
	{"bare LF", "CONNECT {\"verbose\":false}\nPING\n", []string{"PONG"}, false},
	{"MSG from client", "CONNECT {\"verbose\":false}\r\nMSG foo 1 2\r\nhi\r\n", []string{"-ERR 'Unknown Protocol Operation'"}, true},
	{"echo off", "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n", []string{"PONG"}, false},
	{"unsub max", "CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n", []string{"MSG foo 1 1", "a", "MSG foo 1 1", "b", "PONG"}, false},
	{"verbose acks before delivery", "CONNECT {}\r\nSUB foo q 1\r\nPUB foo 1\r\na\r\nPING\r\n", []string{"+OK", "+OK", "+OK", "MSG foo 1 1", "a", "PONG"}, false},
	{"reused sid keeps first", "CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n", []string{"MSG foo 1 1", "a", "PONG"}, false},
	{"empty line", "CONNECT {\"verbose\":false}\r\n\r\n", []string{"-ERR 'Unknown Protocol Operation'"}, true},
	{"protocol too new", "CONNECT {\"protocol\":5}\r\n", []string{"-ERR 'invalid client protocol'"}, true},
	{"zero length payload", "CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 0\r\n\r\nPING\r\n", []string{"MSG foo 1 0", "", "PONG"}, false},
}

func TestProtocolExchanges(t *testing.T) {
	s := RunServer(t, nil)
	for _, tc := range protoCases {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			rc.send(tc.send)
			for _, want := range tc.expect {
				rc.expect(want)
			}
			if tc.closed {
				rc.expectClosed()
			} else {
				// Still open: a PING must be answered.
				rc.send("PING\r\n")
				rc.expect("PONG")
			}
		})
	}
}

// Every exchange must give the same answer however the bytes are split.
func TestProtocolSplitAtEveryByte(t *testing.T) {
	s := RunServer(t, nil)
	// Each round uses its own subjects: a queue group member of an earlier
	// round may still be registered while its connection closes.
	for i := 1; i < 120; i++ {
		msg := fmt.Sprintf("CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB f%03d.* q 1\r\nPUB f%03d.bar reply 5\r\nhello\r\nHPUB f%03d.baz 12 17\r\nNATS/1.0\r\n\r\nworld\r\nPING\r\n", i, i, i)
		want := []string{fmt.Sprintf("MSG f%03d.bar 1 reply 5", i), "hello", fmt.Sprintf("HMSG f%03d.baz 1 12 17", i), "NATS/1.0", "", "world", "PONG"}
		rc := dialRaw(t, s)
		// Two writes with TCP_NODELAY arrive as two segments on loopback,
		// so the server reads the parts separately.
		rc.send(msg[:i])
		rc.send(msg[i:])
		for _, w := range want {
			if got := rc.readLine(); got != w {
				t.Fatalf("split at %d (%q|%q): got %q, want %q", i, msg[:i], msg[i:], got, w)
			}
		}
		rc.conn.Close()
	}
}

// The same, a byte per write, which forces every state to be split.
func TestProtocolOneBytePerWrite(t *testing.T) {
	s := RunServer(t, nil)
	msg := "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo.* 1\r\nPUB foo.bar reply 5\r\nhello\r\nHPUB foo.baz 12 17\r\nNATS/1.0\r\n\r\nworld\r\nPING\r\n"
	rc := dialRaw(t, s)
	for i := 0; i < len(msg); i++ {
		rc.send(msg[i : i+1])
	}
	for _, w := range []string{"MSG foo.bar 1 reply 5", "hello", "HMSG foo.baz 1 12 17", "NATS/1.0", "", "world", "PONG"} {
		rc.expect(w)
	}
}

func TestHeadersStrippedForClientsWithoutHeaders(t *testing.T) {
	s := RunServer(t, nil)
	sub := dialRaw(t, s)
	sub.send("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
	sub.expect("PONG")
	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB foo 17 19\r\nNATS/1.0\r\nA:b\r\n\r\nhi\r\nPING\r\n")
	pub.expect("PONG")
	sub.expect("MSG foo 1 2")
	sub.expect("hi")
}

func TestMaxConnections(t *testing.T) {
	o := DefaultTestOptions()
	o.MaxConn = 1
	s := RunServer(t, o)
	first := dialRaw(t, s)
	first.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
	first.expect("PONG")
	second := dialRaw(t, s)
	second.expect("-ERR 'maximum connections exceeded'")
	second.expectClosed()
}

func TestMaxSubscriptions(t *testing.T) {
	o := DefaultTestOptions()
	o.MaxSubs = 2
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n")
	rc.expect("-ERR 'maximum subscriptions exceeded'")
	rc.expect("PONG")
}

func TestMaxPayloadOption(t *testing.T) {
	o := DefaultTestOptions()
	o.MaxPayload = 100
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	if !strings.Contains(rc.info, `"max_payload":100`) {
		t.Fatalf("INFO should carry max_payload 100: %s", rc.info)
	}
	rc.send("CONNECT {\"verbose\":false}\r\nPUB foo 100\r\n" + strings.Repeat("x", 100) + "\r\nPING\r\n")
	rc.expect("PONG")
	rc.send("PUB foo 101\r\n")
	rc.expect("-ERR 'Maximum Payload Violation'")
	rc.expectClosed()
}

func TestStaleConnection(t *testing.T) {
	o := DefaultTestOptions()
	o.PingInterval = 50 * time.Millisecond
	o.MaxPingsOut = 2
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false}\r\n")
	rc.expect("PING")
	rc.expect("PING")
	rc.expect("-ERR 'Stale Connection'")
	rc.expectClosed()
}

func TestPingsAnsweredKeepConnection(t *testing.T) {
	o := DefaultTestOptions()
	o.PingInterval = 30 * time.Millisecond
	o.MaxPingsOut = 1
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false}\r\n")
	for i := 0; i < 5; i++ {
		rc.expect("PING")
		rc.send("PONG\r\n")
	}
}

func TestAuthRequiredBeforeConnect(t *testing.T) {
	o := DefaultTestOptions()
	o.Username, o.Password = "a", "b"
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	if !strings.Contains(rc.info, `"auth_required":true`) {
		t.Fatalf("INFO should say auth_required: %s", rc.info)
	}
	rc.send("PUB foo 2\r\nhi\r\n")
	rc.expect("-ERR 'Authorization Violation'")
	rc.expectClosed()

	bad := dialRaw(t, s)
	bad.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"x\"}\r\n")
	bad.expect("-ERR 'Authorization Violation'")
	bad.expectClosed()

	good := dialRaw(t, s)
	good.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\nPING\r\n")
	good.expect("PONG")
}

func TestAuthenticationTimeout(t *testing.T) {
	o := DefaultTestOptions()
	o.Authorization = "secret"
	o.AuthTimeout = 0.1
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	rc.expect("-ERR 'Authentication Timeout'")
	rc.expectClosed()
}

func TestSlowConsumerClosed(t *testing.T) {
	o := DefaultTestOptions()
	o.MaxPending = 64 * 1024
	o.MaxPayload = 32 * 1024
	s := RunServer(t, o)
	slow := dialRaw(t, s)
	slow.send("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
	slow.expect("PONG")
	// The slow reader never reads; the publisher floods it.
	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\n")
	payload := strings.Repeat("x", 30*1024)
	deadline := time.Now().Add(10 * time.Second)
	for s.NumClients() == 2 && time.Now().Before(deadline) {
		pub.send("PUB foo 30720\r\n" + payload + "\r\n")
	}
	if s.NumClients() != 1 {
		t.Fatalf("slow consumer was not closed")
	}
	pub.send("PING\r\n")
	for {
		if l := pub.readLine(); l == "PONG" {
			break
		}
	}
}

func TestServerOptionsValidation(t *testing.T) {
	o := DefaultTestOptions()
	o.MaxPending = 100
	if _, err := server.NewServer(o); err == nil || !strings.Contains(err.Error(), "max_payload (1048576) cannot be higher than max_pending (100)") {
		t.Fatalf("expected the reference's max_payload error, got %v", err)
	}
}
