package server

import (
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// val wraps a parsed value as the conf package hands it over.
func val(v any) *conf.Value {
	switch x := v.(type) {
	case []string:
		arr := make([]*conf.Value, len(x))
		for i, s := range x {
			arr[i] = &conf.Value{V: s, File: "t.conf", Line: 1, Col: 1}
		}
		return &conf.Value{V: arr, File: "t.conf", Line: 1, Col: 1}
	case map[string]any:
		m := make(map[string]*conf.Value, len(x))
		for k, e := range x {
			m[k] = val(e)
		}
		return &conf.Value{V: m, File: "t.conf", Line: 1, Col: 1}
	}
	return &conf.Value{V: v, File: "t.conf", Line: 1, Col: 1}
}

// parseTLSEntries runs the tls block handler over entries, as the file
// loader does, returning the options and every error message.
func parseTLSEntries(entries map[string]any) (*Options, string) {
	c := &cfg{o: &Options{}}
	topLevelOptions["tls"](c, "tls", val(entries))
	var msgs []string
	for _, e := range c.errs {
		msgs = append(msgs, e.Error())
	}
	return c.o, strings.Join(msgs, "\n")
}

func TestParseTLSBlock(t *testing.T) {
	o, errs := parseTLSEntries(map[string]any{
		"cert_file": "c.pem", "key_file": "k.pem", "ca_file": "ca.pem", "verify_and_map": true,
		"timeout": 0.5, "min_version": "1.3", "cipher_suites": []string{"TLS_AES_128_GCM_SHA256"},
		"curve_preferences": []string{"X25519"}, "pinned_certs": []string{strings.Repeat("ab", 32)},
		"handshake_first": "auto", "insecure": true,
	})
	if errs != "" {
		t.Fatal(errs)
	}
	tc := o.TLS
	if tc == nil || !tc.Map || !tc.Verify || tc.Timeout != 0.5 || tc.MinVersion != "1.3" || !tc.Insecure ||
		!tc.HandshakeFirst || tc.FallbackDelay != 50*time.Millisecond || len(tc.PinnedCerts) != 1 {
		t.Fatalf("parsed %+v", tc)
	}
	if len(o.unsupported) != 0 {
		t.Fatalf("a served tls block is marked unsupported: %v", o.unsupported)
	}
}

// The reference's words for each mistake, observed with nats-server -t.
func TestParseTLSBlockErrors(t *testing.T) {
	cases := []struct {
		entries map[string]any
		want    string
	}{
		{map[string]any{"min_version": "1.1"}, "error parsing tls config: unsupported TLS version: TLS 1.1"},
		{map[string]any{"min_version": "2.0"}, "error parsing tls config: unknown version: 2.0"},
		{map[string]any{"cipher_suites": []string{"bogus"}}, "unrecognized cipher bogus"},
		{map[string]any{"cipher_suites": []string{}}, "'cipher_suites' cannot be empty"},
		{map[string]any{"curve_preferences": []string{"bogus"}}, "unrecognized curve preference bogus"},
		{map[string]any{"pinned_certs": []string{"abc"}}, "error parsing tls config, 'pinned_certs' key abc does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"},
		{map[string]any{"handshake_first": "bogus"}, `field "handshake_first"'s value "bogus" is invalid`},
		{map[string]any{"handshake_first": int64(5)}, `field "handshake_first" should be a boolean or a string, got`},
		{map[string]any{"allow_non_tls": true}, `error parsing tls config, unknown field "allow_non_tls"`},
	}
	for _, tc := range cases {
		if _, errs := parseTLSEntries(tc.entries); !strings.Contains(errs, tc.want) {
			t.Errorf("%v: errors %q, want %q", tc.entries, errs, tc.want)
		}
	}
}

func TestParseHandshakeFirstForms(t *testing.T) {
	for in, want := range map[any]struct {
		on    bool
		delay time.Duration
	}{
		true: {true, 0}, false: {false, 0}, "true": {true, 0}, "off": {false, 0},
		"auto": {true, 50 * time.Millisecond}, "auto_fallback": {true, 50 * time.Millisecond},
		"300ms": {true, 300 * time.Millisecond}, "-1s": {true, 0},
	} {
		o, errs := parseTLSEntries(map[string]any{"handshake_first": in})
		if errs != "" || o.TLS.HandshakeFirst != want.on || o.TLS.FallbackDelay != want.delay {
			t.Errorf("%v: got %v/%v %q, want %v/%v", in, o.TLS.HandshakeFirst, o.TLS.FallbackDelay, errs, want.on, want.delay)
		}
	}
}

// allow_non_tls is a top-level option in the reference, beside the tls block.
func TestAllowNonTLSTopLevel(t *testing.T) {
	c := &cfg{o: &Options{}}
	topLevelOptions["allow_non_tls"](c, "allow_non_tls", val(true))
	if !c.o.AllowNonTLS || len(c.errs) != 0 {
		t.Fatalf("allow_non_tls: %v %v", c.o.AllowNonTLS, c.errs)
	}
}
