package server

import (
	"reflect"
	"strings"
	"testing"
)

func TestHeaderLookups(t *testing.T) {
	hdr := []byte("NATS/1.0\r\nNats-Trace-Dest:   trace.sp  \r\nbogus line\r\nX: 1\r\nX: 2\r\nTraceparent: 00-a-b-01\r\n\r\n")
	if v, ok := headerValue(hdr, "Nats-Trace-Dest"); !ok || v != "trace.sp" {
		t.Fatalf("dest %q %v", v, ok)
	}
	if v, ok := headerValue(hdr, "X"); !ok || v != "1" {
		t.Fatalf("first value %q", v)
	}
	if _, ok := headerValue(hdr, "nats-trace-dest"); ok {
		t.Fatal("exact lookup matched another case")
	}
	if _, ok := headerValue(hdr, "bogus line"); ok {
		t.Fatal("a line without a colon is no header")
	}
	if v, ok := headerValueFold(hdr, "traceparent"); !ok || v != "00-a-b-01" {
		t.Fatalf("fold %q", v)
	}
	want := map[string][]string{"Nats-Trace-Dest": {"trace.sp"}, "X": {"1", "2"}, "Traceparent": {"00-a-b-01"}}
	if got := parseHeaders(hdr); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseHeaders %v", got)
	}
	// A status line with text, and nothing after the blank line.
	if _, ok := headerValue([]byte("NATS/1.0 503\r\n\r\nX: 1\r\n"), "X"); ok {
		t.Fatal("read past the end of the block")
	}
}

func TestSetHeader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"NATS/1.0\r\nA: 1\r\nNats-Trace-Dest: x\r\nB: 2\r\n\r\n", "NATS/1.0\r\nA: 1\r\nB: 2\r\nNats-Trace-Dest: v\r\n\r\n"},
		{"NATS/1.0\r\nNats-Trace-Dest: x\r\nNats-Trace-Dest: y\r\n\r\n", "NATS/1.0\r\nNats-Trace-Dest: v\r\n\r\n"},
		{"NATS/1.0\r\n\r\n", "NATS/1.0\r\nNats-Trace-Dest: v\r\n\r\n"},
		{"", "NATS/1.0\r\nNats-Trace-Dest: v\r\n\r\n"},
	} {
		if got := string(setHeader([]byte(c.in), MsgTraceDest, "v")); got != c.want {
			t.Errorf("%q: got %q", c.in, got)
		}
	}
}

func TestTraceParentSampled(t *testing.T) {
	for v, want := range map[string]bool{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01": true,
		"zz-yy-xx-01": true, "00-a-b-03": true, "00-a-b-11": true, " 00-a-b-01 ": true,
		"00-a-b-00": false, "00-a-b-1": false, "00-a-b-0001": false, "00-a-b-c-01": false,
		"00-a-b-01-": false, "garbage-01": false, "00-a-b-0g": false, "00-a-b-g1": false,
	} {
		hdr := []byte("NATS/1.0\r\ntraceparent: " + v + "\r\n\r\n")
		if got := traceParentSampled(hdr); got != want {
			t.Errorf("%q: got %v", v, got)
		}
	}
}

// FuzzMsgTraceHeaders: the header readers never panic, agree with each
// other, and a rewritten block reads back the value written.
func FuzzMsgTraceHeaders(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nNats-Trace-Dest: trace.inbox\r\nNats-Trace-Only: true\r\n\r\n"))
	f.Add([]byte("NATS/1.0 503\r\ntraceparent: 00-a-b-01\r\nAccept-Encoding: gzip\r\n\r\n"))
	f.Add([]byte("NATS/1.0\r\n:\r\n\n\r\nX"))
	f.Add([]byte("NATS/1.0"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		all := parseHeaders(hdr)
		v, ok := headerValue(hdr, MsgTraceDest)
		if vs := all[MsgTraceDest]; ok != (len(vs) > 0) || (ok && vs[0] != v) {
			t.Fatalf("headerValue %q %v, parseHeaders %q", v, ok, vs)
		}
		traceParentSampled(hdr)
		acceptedEncoding(hdr)
		out := setHeader(hdr, MsgTraceDest, "dest.v")
		if v, ok := headerValue(out, MsgTraceDest); !ok || v != "dest.v" {
			t.Fatalf("after setHeader: %q %v in %q", v, ok, out)
		}
		if got := parseHeaders(out)[MsgTraceDest]; len(got) != 1 {
			t.Fatalf("setHeader left %q", got)
		}
	})
}

// An HPUB that asks for no trace pays a header scan and allocates nothing.
func TestUntracedHPubNoAllocs(t *testing.T) {
	h := newParseHarness(t)
	h.s.gacc.sl = NewSublist()
	h.c.acc = h.s.gacc
	h.c.acc.trace = accountTrace{dest: "acc.trace", sampling: 100} // the traceparent check runs too
	if err := h.feed([]byte("CONNECT {\"verbose\":false,\"headers\":true}\r\n")); err != nil {
		t.Fatal(err)
	}
	batch := []byte(strings.Repeat(hpub16, 100))
	h.c.parse(batch)
	allocs := testing.AllocsPerRun(100, func() {
		if err := h.c.parse(batch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("untraced HPUB allocates %.1f times per 100 messages", allocs)
	}
}

const hpub16 = "HPUB foo.bar 37 53\r\nNATS/1.0\r\nX-App: 1\r\nTrace-Id: abc\r\n\r\n0123456789abcdef\r\n"

func BenchmarkParseHPub16(b *testing.B) {
	h := newParseHarness(b)
	h.s.gacc.sl = NewSublist()
	h.c.acc = h.s.gacc
	h.feed([]byte("CONNECT {\"verbose\":false,\"headers\":true}\r\n"))
	batch := []byte(strings.Repeat(hpub16, 100))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.c.parse(batch)
	}
}

// BenchmarkHPubUntracedCheck is all an HPUB without a trace header pays for
// tracing: the scan of its header block, with and without msg_trace.
func BenchmarkHPubUntracedCheck(b *testing.B) {
	h := newParseHarness(b)
	hdr := []byte(hpub16[len("HPUB foo.bar 37 53\r\n") : len(hpub16)-len("0123456789abcdef\r\n")])
	for _, acc := range []accountTrace{{}, {dest: "acc.trace", sampling: 100}} {
		b.Run("msg_trace="+acc.dest, func(b *testing.B) {
			h.c.acc.trace = acc
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if h.c.traceMsg(hdr, nil) {
					b.Fatal("traced")
				}
			}
		})
	}
}
