package server

import (
	"fmt"
	"testing"
)

// newLeafHarness is a server with leaf nodes and a registered leaf
// connection bound to $G to drive.
func newLeafHarness(t testing.TB) *parseHarness {
	o := &Options{LeafNode: LeafNodeOpts{Port: RANDOM_PORT}}
	return newPeerHarness(t, o, LEAF, leafProtocol{}, func(s *Server, c *client) {
		c.leaf = &leafConn{subs: map[string]*subscription{}, own: map[string]int32{}}
		c.acc, c.echo, c.connected = s.gacc, true, true
		c.leaf.registered.Store(true)
	})
}

// The LMSG forms the reference sends (observed on v2.15.2), split at
// every point, deliver the same messages; LS+/LS- keep one entry per
// subject and queue.
func TestLeafParseMessageForms(t *testing.T) {
	h := newLeafHarness(t)
	in := "LMSG foo 2\r\nhi\r\n" +
		"LMSG foo reply 2\r\nhi\r\n" +
		"LMSG foo + reply q1 q2 2\r\nhi\r\n" +
		"LMSG foo | q1 2\r\nhi\r\n" +
		"HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
		"HMSG foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
		"LS+ a.b\r\nLS+ a.b q 3\r\nLS+ a.b q 4\r\nLS- a.b\r\nPING\r\n"
	h.expectAtEveryCut(t, in, []delivery{{"foo", "", "", "hi"}, {"foo", "reply", "", "hi"}, {"foo", "reply", "", "hi"},
		{"foo", "", "", "hi"}, {"foo", "", "NATS/1.0\r\n\r\n", "hi"}, {"foo", "r", "NATS/1.0\r\n\r\n", "hi"}})
	if n := len(h.c.leaf.subs); n != 1 {
		t.Fatalf("leaf interest: %d entries, want the queue group only", n)
	}
	if got := h.c.leaf.own["a.b q"]; got != 1 {
		t.Fatalf("own count of the queue group: %d", got)
	}
	expectRejected(t, "", []string{"LMSG\r\n", "LMSG foo\r\n", "LMSG foo x\r\n", "LMSG foo + r 2\r\n",
		"HMSG foo 5 2\r\n", "LS+\r\n", "LS+ a b\r\n", "LS+ a b c d\r\n", "LS- a b c\r\n", "FOO\r\n"},
		func() *parseHarness { return newLeafHarness(t) })
}

// FuzzLeafParser feeds arbitrary bytes, split in two reads, to a leaf
// connection: no input may panic, and every error is a protocol error.
func FuzzLeafParser(f *testing.F) {
	for _, seed := range []string{
		"LMSG foo 2\r\nhi\r\n",
		"LMSG foo + reply q1 q2 2\r\nhi\r\n",
		"LMSG foo | q1 2\r\nhi\r\n",
		"HMSG foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"LS+ a.b q 3\r\nLS- a.b q\r\nLS+ >\r\n",
		"PING\r\nPONG\r\n-ERR 'x'\r\n+OK\r\n",
		"INFO {\"server_id\":\"S\",\"connect_info\":true}\r\n",
		"CONNECT {\"server_id\":\"S\"}\r\n",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		newLeafHarness(t).parseFuzzInput(t, in, cut)
	})
}

// FuzzLeafVersion checks the version parser a hub applies to a leaf's
// CONNECT (min_version): never a panic, parsed versions print back to an
// equal version, and a version is at least itself.
func FuzzLeafVersion(f *testing.F) {
	for _, s := range []string{"2.15.2", "v2.8.0", "2.10.0-beta.1", "1.2", "a.b.c", "2.-1.0", "+1.2.3", "99999999999999999999.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := parseSemver(v)
		if !ok {
			if versionAtLeast(v, "0.0.0") {
				t.Fatalf("%q does not parse but counts as a version", v)
			}
			return
		}
		back := fmt.Sprintf("%d.%d.%d", p[0], p[1], p[2])
		if q, ok := parseSemver(back); !ok || q != p || !versionAtLeast(v, back) || !versionAtLeast(back, v) {
			t.Fatalf("%q parsed as %v, printed %q", v, p, back)
		}
	})
}
