package server

import (
	"testing"
	"time"
)

func TestParseServiceSignal(t *testing.T) {
	cases := []struct {
		arg  string
		name string
		code uint32
	}{
		{"stop", "nats-server", 1},
		{"quit=nats-a", "nats-a", 1},
		{"term", "nats-server", 1},
		{"reload=nats b", "nats b", 6},
		{"reopen", "nats-server", 128},
		{"ldm=edge", "edge", 129},
	}
	for _, c := range cases {
		name, code, err := parseServiceSignal(c.arg)
		if err != nil || name != c.name || code != c.code {
			t.Errorf("parseServiceSignal(%q) = %q, %d, %v; want %q, %d", c.arg, name, code, err, c.name, c.code)
		}
	}
	if _, _, err := parseServiceSignal("bogus=x"); err == nil || err.Error() != `unknown signal "bogus"` {
		t.Fatalf("bad command: %v", err)
	}
	if _, _, err := parseServiceSignal(""); err == nil {
		t.Fatal("empty argument must fail")
	}
}

func TestStartupDelay(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "NATS_STARTUP_DELAY" {
				return v
			}
			return ""
		}
	}
	if d, err := startupDelay(env("")); err != nil || d != 10*time.Second {
		t.Fatalf("default: %v %v", d, err)
	}
	if d, err := startupDelay(env("45s")); err != nil || d != 45*time.Second {
		t.Fatalf("45s: %v %v", d, err)
	}
	for _, bad := range []string{"soon", "-3s", "0"} {
		if d, err := startupDelay(env(bad)); err == nil || d != 10*time.Second {
			t.Fatalf("%q: %v %v", bad, d, err)
		}
	}
	if !runAsPlainProcess(func(string) string { return "1" }) || runAsPlainProcess(func(string) string { return "" }) {
		t.Fatal("NATS_DOCKERIZED")
	}
}

func TestServiceName(t *testing.T) {
	if currentServiceName() != "nats-server" {
		t.Fatalf("default %q", currentServiceName())
	}
	SetServiceName("nats-edge")
	defer SetServiceName("")
	if currentServiceName() != "nats-edge" {
		t.Fatalf("set %q", currentServiceName())
	}
}
