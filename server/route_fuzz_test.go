package server

import (
	"strings"
	"testing"
)

// routeHarness is a clustered server (not started) with an internal
// subscriber on ">" in $G and a socket-less route connection whose parser
// we drive directly.
type routeHarness struct {
	s   *Server
	c   *client
	got []delivery
}

func newRouteHarness(t testing.TB) *routeHarness {
	t.Helper()
	o := &Options{NoLog: true, NoSigs: true, Cluster: ClusterOpts{Name: "f", Port: RANDOM_PORT}}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	h := &routeHarness{s: s}
	if _, err := s.SubscribeInternal(s.gacc, ">", "", func(subject, reply string, hdr, msg []byte) {
		h.got = append(h.got, delivery{strings.Clone(subject), strings.Clone(reply), string(hdr), string(msg)})
	}); err != nil {
		t.Fatal(err)
	}
	h.c = &client{srv: s, kind: ROUTER, proto: routeProtocol{}, route: &routeConn{subs: map[string]remoteSub{}},
		subs: map[string]*subscription{}, pcd: map[*client]struct{}{}, headers: true, echo: true,
		mpay: s.getOpts().MaxPayload, mcl: s.getOpts().MaxControlLine}
	h.c.pa.hdr = -1
	h.c.connected = true // as after an accepted CONNECT
	return h
}

func TestRouteParseMessageForms(t *testing.T) {
	h := newRouteHarness(t)
	in := "RMSG $G foo 2\r\nhi\r\n" +
		"RMSG $G foo reply 2\r\nhi\r\n" +
		"RMSG $G foo + reply q1 q2 2\r\nhi\r\n" +
		"RMSG $G foo | q1 2\r\nhi\r\n" +
		"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
		"HMSG $G foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
		"RMSG NOPE foo 2\r\nhi\r\n" + // an unknown account is dropped
		"RS+ $G a.b\r\nRS+ $G a.b q 3\r\nRS- $G a.b\r\nPING\r\n"
	// Every split point must give the same result.
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
	if n := len(h.c.route.subs); n != 1 {
		t.Fatalf("remote interest: %d entries, want the queue group only", n)
	}
	for _, bad := range []string{"RMSG\r\n", "RMSG $G\r\n", "RMSG $G foo x\r\n", "RMSG $G foo + r 2\r\n",
		"HMSG $G foo 5 2\r\n", "RS+\r\n", "RS+ $G a b c d\r\n", "FOO\r\n"} {
		h := newRouteHarness(t)
		if err := h.c.parse([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// FuzzRouteParser feeds arbitrary bytes, split in two reads, to a route
// connection: no input may panic, and every error is a protocol error.
func FuzzRouteParser(f *testing.F) {
	for _, seed := range []string{
		"RMSG $G foo 2\r\nhi\r\n",
		"RMSG $G foo + reply q1 q2 2\r\nhi\r\n",
		"RMSG $G foo | q1 2\r\nhi\r\n",
		"HMSG $G foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"RS+ $G a.b q 3\r\nRS- $G a.b q\r\nRS+ $G >\r\n",
		"LS+ $G foo\r\nPING\r\nPONG\r\n-ERR 'x'\r\n+OK\r\n",
		"INFO {\"server_id\":\"S\",\"route_pool_size\":3}\r\n",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		h := newRouteHarness(t)
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
