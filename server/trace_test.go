package server

import (
	"strings"
	"testing"
)

func TestTraceLineRedactsConnectSecrets(t *testing.T) {
	cases := []struct{ in, want string }{
		{`CONNECT {"verbose":false,"user":"u","pass":"secret","auth_token":"tok","sig":"SIG","jwt":"JWT","nkey":"NK"}`,
			`CONNECT {"verbose":false,"user":"u","pass":"[REDACTED]","auth_token":"[REDACTED]","sig":"[REDACTED]","jwt":"[REDACTED]","nkey":"[REDACTED]"}`},
		// Seen from the reference: spaces around the colon, repeated keys,
		// and a value cut at an escaped quote.
		{`connect { "pass" : "a\"b", "pass":"second"}`, `connect { "pass" : "[REDACTED]"b", "pass":"[REDACTED]"}`},
		{`CONNECT {"pass":""}`, `CONNECT {"pass":"[REDACTED]"}`},
		{`CONNECT {"pass":123,"user":"pass"}`, `CONNECT {"pass":123,"user":"pass"}`},
		{`CONNECT {"pass":"unterminated`, `CONNECT {"pass":"unterminated`},
		{`PUB pass 3`, `PUB pass 3`},
		{`SUB "pass":"x" 1`, `SUB "pass":"x" 1`},
	}
	for _, c := range cases {
		if got := traceLine([]byte(c.in)); got != c.want {
			t.Errorf("traceLine(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestTracePayloadTruncates(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"hello world", 5, `MSG_PAYLOAD: ["hello..."]`},
		{"abc", 3, `MSG_PAYLOAD: ["abc"]`},
		{"abcd", 3, `MSG_PAYLOAD: ["abc..."]`},
		{"hello world", 0, `MSG_PAYLOAD: ["hello world"]`},
		{"q\"\x01\xffb\n", 0, `MSG_PAYLOAD: ["q\"\x01\xffb\n"]`},
	}
	for _, c := range cases {
		if got := tracePayload([]byte(c.in), c.max); got != c.want {
			t.Errorf("tracePayload(%q, %d) = %s, want %s", c.in, c.max, got, c.want)
		}
	}
}

func FuzzRedactSecrets(f *testing.F) {
	f.Add(`CONNECT {"pass":"secret","auth_token":"t"}`)
	f.Add(`CONNECT {"pass" : "a\"b"}`)
	f.Add(`CONNECT {"jwt":"`)
	f.Fuzz(func(t *testing.T, s string) {
		out := string(redactSecrets([]byte(s)))
		// A well-formed secret value must never survive.
		for _, field := range redactedFields {
			marker := `"` + field + `":"SECRETVALUE"`
			if strings.Contains(s, marker) && strings.Contains(out, marker) {
				t.Fatalf("%s not redacted in %q", field, out)
			}
		}
		if !strings.Contains(s, `"`) && out != s {
			t.Fatalf("changed a line without quotes: %q -> %q", s, out)
		}
	})
}
