package server

import (
	"math/big"
	"testing"
	"time"
)

// Nats-TTL, Nats-Incr and Nats-Rollup values from anywhere: no panic, a
// TTL within bounds, an increment that is an integer, a known roll-up.
func FuzzMsgFeatureHeaders(f *testing.F) {
	for _, s := range []string{"5s", "never", "NEVER", "10", "00", "99999999999999999999", "-1", "1.5s",
		"+5", "-0", "abc", "sub", "All", "", " 1 ", "2562047h47m16.854775807s"} {
		f.Add(s)
	}
	cfg := &StreamConfig{AllowMsgTTL: true, AllowMsgCounter: true, AllowRollup: true}
	f.Fuzz(func(t *testing.T, v string) {
		if ttl, ok := parseMsgTTL(v); ok && ttl != msgTTLNever && (ttl < 0 || ttl > jsMaxMsgTTL || (ttl > 0 && ttl < time.Second)) {
			t.Fatalf("TTL %q parsed as %v", v, ttl)
		}
		hdr := setHeader([]byte("NATS/1.0\r\n\r\n"), hdrIncr, v)
		incr, e := readIncr(cfg, &inMsg{hdr: hdr})
		if e == nil && incr != nil {
			if _, ok := new(big.Int).SetString(incr.String(), 10); !ok {
				t.Fatalf("increment %q read as %v", v, incr)
			}
		}
		if kind, e := checkRollup(cfg, setHeader([]byte("NATS/1.0\r\n\r\n"), hdrRollup, v)); e == nil && kind > rollupStream {
			t.Fatalf("roll-up %q read as %d", v, kind)
		}
	})
}

// The reference's Nats-TTL forms, one by one.
func TestParseMsgTTL(t *testing.T) {
	for _, c := range []struct {
		v   string
		ttl time.Duration
		ok  bool
	}{
		{"5s", 5 * time.Second, true}, {"never", msgTTLNever, true}, {"Never", msgTTLNever, true},
		{"10", 10 * time.Second, true}, {"00", 0, true}, {"1000ms", time.Second, true},
		{"9223372036854775807", jsMaxMsgTTL, true}, {"99999999999999999999", jsMaxMsgTTL, true},
		{"999ms", 0, false}, {"0", 0, false}, {"-1", 0, false}, {"+5", 0, false},
		{"9223372036854775808", 0, false}, {"18446744073709551615", 0, false}, {"5S", 0, false},
	} {
		ttl, ok := parseMsgTTL(c.v)
		if ok != c.ok || (ok && ttl != c.ttl) {
			t.Errorf("%q: %v %v, want %v %v", c.v, ttl, ok, c.ttl, c.ok)
		}
	}
}
