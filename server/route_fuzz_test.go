package server

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// newRouteHarness is a clustered server with a route connection to drive.
func newRouteHarness(t testing.TB) *parseHarness {
	o := &Options{Cluster: ClusterOpts{Name: "f", Port: RANDOM_PORT}}
	return newPeerHarness(t, o, ROUTER, routeProtocol{}, func(s *Server, c *client) {
		c.route = &routeConn{subs: map[string]remoteSub{}}
		c.echo = true
		c.connected = true // as after an accepted CONNECT
	})
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
	h.expectAtEveryCut(t, in, []delivery{{"foo", "", "", "hi"}, {"foo", "reply", "", "hi"}, {"foo", "reply", "", "hi"},
		{"foo", "", "", "hi"}, {"foo", "", "NATS/1.0\r\n\r\n", "hi"}, {"foo", "r", "NATS/1.0\r\n\r\n", "hi"}})
	if n := len(h.c.route.subs); n != 1 {
		t.Fatalf("remote interest: %d entries, want the queue group only", n)
	}
	expectRejected(t, "", []string{"RMSG\r\n", "RMSG $G\r\n", "RMSG $G foo x\r\n", "RMSG $G foo + r 2\r\n",
		"HMSG $G foo 5 2\r\n", "RS+\r\n", "RS+ $G a b c d\r\n", "FOO\r\n"}, func() *parseHarness { return newRouteHarness(t) })
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
		newRouteHarness(t).parseFuzzInput(t, in, cut)
	})
}

// inflateAndParse reads in through a routeInflater in reads of at most
// step bytes and parses what comes out; it stops at the first error.
func inflateAndParse(h *parseHarness, in []byte, step int) error {
	z := newRouteInflater(bytes.NewReader(in), nil)
	buf := make([]byte, max(step, 1))
	for i := 0; i < 1<<16; i++ {
		n, err := z.Read(buf)
		if n > 0 {
			if perr := h.c.parse(buf[:n]); perr != nil {
				return perr
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

// What a compressor writes at every level, batch after batch, reads back
// through the inflater as the same protocol.
func TestRouteCompressedStreamRoundTrip(t *testing.T) {
	proto := "RMSG $G foo 2\r\nhi\r\nRMSG $G foo reply 5\r\nhello\r\nHMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
	for level := levelUncompressed; level <= levelBest; level++ {
		z := newRouteCompressor(levelNames[level], nil)
		var wire []byte
		for b := 0; b < 3; b++ {
			for _, out := range z.compress([][]byte{[]byte(proto[:20]), []byte(proto[20:])}) {
				wire = append(wire, out...)
			}
		}
		if !bytes.HasPrefix(wire, []byte(s2Magic)) {
			t.Fatalf("%s: the stream does not start with the S2 identifier", levelNames[level])
		}
		h := newRouteHarness(t)
		if err := inflateAndParse(h, wire, 7); err != nil {
			t.Fatalf("%s: %v", levelNames[level], err)
		}
		if len(h.got) != 9 || h.got[8].msg != "hi" || h.got[7].reply != "reply" {
			t.Fatalf("%s: %d deliveries %q", levelNames[level], len(h.got), h.got)
		}
		h.s.Shutdown()
	}
	// A peer that answers in clear after the switch (an -ERR) is read as is.
	h := newRouteHarness(t)
	defer h.s.Shutdown()
	if err := inflateAndParse(h, []byte("RMSG $G foo 2\r\nhi\r\n"), 4); err != nil || len(h.got) != 1 {
		t.Fatalf("clear text after the switch: %v, %d deliveries", err, len(h.got))
	}
}

// FuzzRouteCompressedStream feeds arbitrary bytes to a route reading a
// compressed stream: no input may panic or loop, whatever the S2 framing.
func FuzzRouteCompressedStream(f *testing.F) {
	z := newRouteCompressor(CompressionS2Fast, nil)
	good := append([]byte(nil), z.compress([][]byte{[]byte("RMSG $G foo 2\r\nhi\r\nRS+ $G a.b\r\n")})[0]...)
	f.Add(good, uint8(5))
	f.Add([]byte(s2Magic+"\x01\x05\x00\x00\x00\x00\x00\x00x"), uint8(3))
	f.Add([]byte("\xff\x06\x00\x00S2sTwO\x00\xff\xff\xff"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		h := newRouteHarness(t)
		defer h.s.Shutdown()
		_ = inflateAndParse(h, in, int(step))
	})
}

// The writer's compression of a batch reuses its encoder and buffer: no
// allocation per batch once warm.
func BenchmarkRouteCompressBatch(b *testing.B) {
	batch := [][]byte{bytes.Repeat([]byte("RMSG $G bench.routed 128\r\n"+strings.Repeat("x", 128)+"\r\n"), 200)}
	for _, mode := range []string{CompressionS2Fast, CompressionS2Best, CompressionS2Uncompressed} {
		b.Run(mode, func(b *testing.B) {
			z := newRouteCompressor(mode, nil)
			z.compress(batch)
			b.ReportAllocs()
			b.SetBytes(int64(len(batch[0])))
			for i := 0; i < b.N; i++ {
				z.compress(batch)
			}
		})
	}
}
