package server

import (
	"fmt"
	"strings"
	"testing"
)

// delivery is one message as an internal subscriber saw it.
type delivery struct {
	subject, reply, hdr, msg string
}

// parseHarness is a server with an internal subscriber on ">" and a
// socket-less client whose parser we drive directly.
type parseHarness struct {
	s   *Server
	c   *client
	got []delivery
}

func newParseHarness(t testing.TB) *parseHarness {
	t.Helper()
	h := newHarnessServer(t, &Options{})
	h.c = h.newClient()
	return h
}

// newHarnessServer builds a server (not started) from o with the
// harness's internal subscriber on ">" in $G; the caller adds the client.
func newHarnessServer(t testing.TB, o *Options) *parseHarness {
	t.Helper()
	o.NoLog, o.NoSigs = true, true
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	h := &parseHarness{s: s}
	_, err = s.SubscribeInternal(s.gacc, ">", "", func(subject, reply string, hdr, msg []byte) {
		// The arguments are only valid during the call: copy them.
		h.got = append(h.got, delivery{strings.Clone(subject), strings.Clone(reply), string(hdr), string(msg)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *parseHarness) newClient() *client {
	o := h.s.getOpts()
	c := &client{
		srv: h.s, kind: CLIENT, acc: h.s.gacc, opts: defaultClientOpts,
		subs: make(map[string]*subscription), pcd: make(map[*client]struct{}),
		mpay: o.MaxPayload, mcl: o.MaxControlLine, echo: true,
	}
	c.pa.hdr = -1
	return c
}

// feed parses chunks in order, stopping at the first error.
func (h *parseHarness) feed(chunks ...[]byte) error {
	for _, ch := range chunks {
		// Reuse of the read buffer between reads must not corrupt state:
		// give the parser a copy and scribble over it afterwards.
		buf := append([]byte(nil), ch...)
		err := h.c.parse(buf)
		for i := range buf {
			buf[i] = '#'
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const splitInput = "CONNECT {\"verbose\":false,\"headers\":true}\r\n" +
	"PUB foo 5\r\nhello\r\n" +
	"pub foo.bar reply.to 3\r\nabc\r\n" +
	"HPUB h.1 12 17\r\nNATS/1.0\r\n\r\nworld\r\n" +
	"HPUB h.2 r 18 18\r\nNATS/1.0\r\nK: v\r\n\r\n\r\n" +
	"SUB x 1\r\nUNSUB 1\r\nPING\r\nPONG\r\n" +
	"PUB  spaced \t 0\r\n\r\n"

var splitWant = []delivery{
	{"foo", "", "", "hello"},
	{"foo.bar", "reply.to", "", "abc"},
	{"h.1", "", "NATS/1.0\r\n\r\n", "world"},
	{"h.2", "r", "NATS/1.0\r\nK: v\r\n\r\n", ""},
	{"spaced", "", "", ""},
}

func checkDeliveries(t *testing.T, got, want []delivery, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d deliveries %v, want %d", what, len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: delivery %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func TestParseWhole(t *testing.T) {
	h := newParseHarness(t)
	if err := h.feed([]byte(splitInput)); err != nil {
		t.Fatal(err)
	}
	checkDeliveries(t, h.got, splitWant, "whole")
}

func TestParseSplitAtEveryByte(t *testing.T) {
	in := []byte(splitInput)
	for i := 1; i < len(in); i++ {
		h := newParseHarness(t)
		if err := h.feed(in[:i], in[i:]); err != nil {
			t.Fatalf("split at %d: %v", i, err)
		}
		checkDeliveries(t, h.got, splitWant, fmt.Sprintf("split at %d", i))
	}
}

func TestParseOneBytePerRead(t *testing.T) {
	h := newParseHarness(t)
	in := []byte(splitInput)
	chunks := make([][]byte, len(in))
	for i := range in {
		chunks[i] = in[i : i+1]
	}
	if err := h.feed(chunks...); err != nil {
		t.Fatal(err)
	}
	checkDeliveries(t, h.got, splitWant, "byte per read")
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in  string
		err *protoErr
	}{
		{"FOO\r\n", errUnknownOp},
		{"\r\n", errUnknownOp},
		{"PUB\r\n", errUnknownOp},
		{"PUB foo 2\r\nabcd\r\n", errUnknownOp},
		{"PUB foo 9999999\r\n", errMaxPayload},
		{"SUB " + strings.Repeat("x", 5000), errMaxCtrlLine},
		{"SUB " + strings.Repeat("x", 5000) + " 1\r\n", errMaxCtrlLine},
		{"CONNECT {\"protocol\":2}\r\n", errBadClientProto},
		{"CONNECT {\"no_responders\":true}\r\n", errNoRespNoHdr},
	}
	for _, tc := range cases {
		h := newParseHarness(t)
		err := h.feed([]byte(tc.in))
		if err != tc.err {
			t.Errorf("%q: got %v, want %v", tc.in, err, tc.err)
		}
	}
	// Malformed arguments close without an -ERR text.
	for _, in := range []string{"PUB foo\r\n", "PUB a b c 1\r\n", "SUB a b c d\r\n", "UNSUB 1 x\r\n", "CONNECT {\r\n", "HPUB foo 1\r\n"} {
		h := newParseHarness(t)
		err := h.feed([]byte(in))
		pe, ok := err.(*protoErr)
		if !ok || !pe.close || pe.msg != "" {
			t.Errorf("%q: want a silent close, got %#v", in, err)
		}
	}
}

func TestParseNoAllocsPerMessage(t *testing.T) {
	h := newParseHarness(t)
	h.s.gacc.sl = NewSublist() // no subscribers: measure the parser alone
	h.c.acc = h.s.gacc
	if err := h.feed([]byte("CONNECT {\"verbose\":false}\r\n")); err != nil {
		t.Fatal(err)
	}
	batch := []byte(strings.Repeat("PUB foo.bar 5\r\nhello\r\n", 100))
	h.c.parse(batch) // warm the caches
	allocs := testing.AllocsPerRun(100, func() {
		if err := h.c.parse(batch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("parser allocates %.1f times per 100 messages", allocs)
	}
}

func BenchmarkParsePub16(b *testing.B) {
	h := newParseHarness(b)
	h.s.gacc.sl = NewSublist()
	h.c.acc = h.s.gacc
	h.feed([]byte("CONNECT {\"verbose\":false}\r\n"))
	batch := []byte(strings.Repeat("PUB foo.bar 16\r\n0123456789abcdef\r\n", 100))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.c.parse(batch)
	}
}

// BenchmarkParsePub1KiB parses a 64 KiB read of 1 KiB PUBs nobody
// subscribes to, as one fast publisher's reader does.
func BenchmarkParsePub1KiB(b *testing.B) {
	h := newParseHarness(b)
	h.s.gacc.sl = NewSublist()
	h.c.acc = h.s.gacc
	h.feed([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"))
	msg := "PUB bench.pub 1024\r\n" + strings.Repeat("x", 1024) + "\r\n"
	batch := []byte(strings.Repeat(msg, 64*1024/len(msg)))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.c.parse(batch)
	}
}

func FuzzParser(f *testing.F) {
	f.Add([]byte(splitInput), uint16(7))
	f.Add([]byte("PUB foo 2\r\nhi\r\n"), uint16(3))
	f.Add([]byte("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), uint16(20))
	f.Add([]byte("SUB foo q 1\r\nUNSUB 1 5\r\n"), uint16(1))
	f.Add([]byte("CONNECT {\"verbose\":false}\r\n"), uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, at uint16) {
		whole := newParseHarness(t)
		errWhole := whole.feed(in)
		split := newParseHarness(t)
		cut := int(at) % (len(in) + 1)
		errSplit := split.feed(in[:cut], in[cut:])
		// Splitting must never change the outcome.
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole err %v, split at %d err %v", errWhole, cut, errSplit)
		}
		checkDeliveries(t, split.got, whole.got, "fuzz split")
	})
}

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string // the words that fit in out
		n    int      // len(out)+1 when there are more words than room
	}{
		{"", nil, 0},
		{" \t ", nil, 0},
		{"a", []string{"a"}, 1},
		{" foo.bar 5", []string{"foo.bar", "5"}, 2},
		{"\tfoo \t reply\t\t12  ", []string{"foo", "reply", "12"}, 3},
		{"a b c", []string{"a", "b", "c"}, 3},
		{"a b c d", nil, 3},
		{" a b c d ", nil, 3},
	}
	for _, tc := range cases {
		var out [2][]byte
		n := splitArgs([]byte(tc.in), out[:])
		if n != tc.n {
			t.Errorf("%q: %d words, want %d", tc.in, n, tc.n)
			continue
		}
		for i := 0; i < len(tc.want) && i < len(out); i++ {
			if string(out[i]) != tc.want[i] {
				t.Errorf("%q: word %d is %q, want %q", tc.in, i, out[i], tc.want[i])
			}
		}
	}
}
