package logger

import (
	"strings"
	"testing"
)

// FuzzParseSyslogURL checks that any remote syslog address either parses to
// a dialable network and address or yields an error, never a panic.
func FuzzParseSyslogURL(f *testing.F) {
	for _, s := range []string{"", "udp://localhost:514", "tcp://10.0.0.1:601", "unix:///dev/log", "foo://x", "udp://", "%zz", "udp://[::1]:514", "unix://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fqn string) {
		network, addr, err := parseSyslogURL(fqn)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "logger: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if network != "udp" && network != "tcp" && network != "unix" {
			t.Fatalf("%q gave network %q", fqn, network)
		}
		if addr == "" {
			t.Fatalf("%q gave an empty address", fqn)
		}
	})
}

// BenchmarkDisabledDebugf measures the cost the server pays for every
// Debugf call site when debug is off.
func BenchmarkDisabledDebugf(b *testing.B) {
	l := NewStdLogger(true, false, false, false, true)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Debugf("client %d sent %s", 7, "PUB")
	}
}

// BenchmarkFileTracef measures an enabled trace line to a file.
func BenchmarkFileTracef(b *testing.B) {
	l, err := NewFileLogger(b.TempDir()+"/b.log", true, true, true, true)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Tracef("<<- [PUB %s %d]", "foo.bar", 5)
	}
}
