package server

import (
	"fmt"
	"strings"
	"testing"
)

// leafHarness is a server with leaf nodes (not started), an internal
// subscriber on ">" in $G and a socket-less, registered leaf connection
// bound to $G whose parser we drive directly.
type leafHarness struct {
	s   *Server
	c   *client
	got []delivery
}

func newLeafHarness(t testing.TB) *leafHarness {
	t.Helper()
	o := &Options{NoLog: true, NoSigs: true, LeafNode: LeafNodeOpts{Port: RANDOM_PORT}}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	h := &leafHarness{s: s}
	if _, err := s.SubscribeInternal(s.gacc, ">", "", func(subject, reply string, hdr, msg []byte) {
		h.got = append(h.got, delivery{strings.Clone(subject), strings.Clone(reply), string(hdr), string(msg)})
	}); err != nil {
		t.Fatal(err)
	}
	lc := &leafConn{subs: map[string]*subscription{}, own: map[string]int32{}}
	h.c = &client{srv: s, kind: LEAF, proto: leafProtocol{}, leaf: lc, acc: s.gacc,
		subs: map[string]*subscription{}, pcd: map[*client]struct{}{}, headers: true, echo: true,
		mpay: s.getOpts().MaxPayload, mcl: s.getOpts().MaxControlLine}
	h.c.pa.hdr = -1
	h.c.connected = true
	lc.registered.Store(true)
	return h
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
	for cut := 0; cut <= len(in); cut += 7 {
		h.got = nil
		for _, part := range []string{in[:cut], in[cut:]} {
			buf := []byte(part)
			if err := h.c.parse(buf); err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			for i := range buf {
				buf[i] = '#'
			}
		}
		want := []delivery{{"foo", "", "", "hi"}, {"foo", "reply", "", "hi"}, {"foo", "reply", "", "hi"},
			{"foo", "", "", "hi"}, {"foo", "", "NATS/1.0\r\n\r\n", "hi"}, {"foo", "r", "NATS/1.0\r\n\r\n", "hi"}}
		if len(h.got) != len(want) {
			t.Fatalf("cut %d: got %d deliveries %q", cut, len(h.got), h.got)
		}
		for i := range want {
			if h.got[i] != want[i] {
				t.Fatalf("cut %d: delivery %d = %q, want %q", cut, i, h.got[i], want[i])
			}
		}
	}
	if n := len(h.c.leaf.subs); n != 1 {
		t.Fatalf("leaf interest: %d entries, want the queue group only", n)
	}
	if got := h.c.leaf.own["a.b q"]; got != 1 {
		t.Fatalf("own count of the queue group: %d", got)
	}
	for _, bad := range []string{"LMSG\r\n", "LMSG foo\r\n", "LMSG foo x\r\n", "LMSG foo + r 2\r\n",
		"HMSG foo 5 2\r\n", "LS+\r\n", "LS+ a b\r\n", "LS+ a b c d\r\n", "LS- a b c\r\n", "FOO\r\n"} {
		h := newLeafHarness(t)
		if err := h.c.parse([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
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
		h := newLeafHarness(t)
		defer h.s.Shutdown()
		k := int(cut) % (len(in) + 1)
		for _, part := range [][]byte{append([]byte(nil), in[:k]...), append([]byte(nil), in[k:]...)} {
			if err := h.c.parse(part); err != nil {
				if _, ok := err.(*protoErr); !ok {
					t.Fatalf("error of type %T: %v", err, err)
				}
				return
			}
		}
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
