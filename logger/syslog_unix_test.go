//go:build !windows

package logger

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func listenUnixgram(t *testing.T, path string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func shortSockPath(t *testing.T) string {
	// Unix socket paths are limited to ~104 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "lg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

func TestRemoteSyslogUnixReconnects(t *testing.T) {
	path := shortSockPath(t)
	pc := listenUnixgram(t, path)
	l, err := NewRemoteSysLogger("unix://"+path, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	logAll(l)
	checkRemote(t, readPackets(t, pc, len(wantSyslog)), facilityRemote)

	// A restarted collector gets a new socket at the same path.
	pc.Close()
	os.Remove(path)
	pc = listenUnixgram(t, path)
	defer pc.Close()
	logAll(l)
	checkRemote(t, readPackets(t, pc, len(wantSyslog)), facilityRemote)
}

func TestLocalSysLogger(t *testing.T) {
	path := shortSockPath(t)
	pc := listenUnixgram(t, path)
	defer pc.Close()
	old := localSyslogPaths
	localSyslogPaths = []string{filepath.Join(filepath.Dir(path), "missing"), path}
	defer func() { localSyslogPaths = old }()

	l, err := NewSysLogger(false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Noticef("hello %s", "local")
	l.Debugf("hidden")
	l.Tracef("trace %s", "on")
	got := readPackets(t, pc, 2)
	re := regexp.MustCompile(`^<(\d+)>[A-Z][a-z]{2} [ 0-9]\d \d{2}:\d{2}:\d{2} nats-server\[\d+\]: (.*)\n$`)
	want := []struct{ pri, msg string }{{"29", "hello local"}, {"29", "trace on"}}
	for i, w := range want {
		m := re.FindStringSubmatch(got[i])
		if m == nil || m[1] != w.pri || m[2] != w.msg {
			t.Fatalf("message %q, want <%s> %q", got[i], w.pri, w.msg)
		}
	}
}

func TestLocalSysLoggerMissing(t *testing.T) {
	old := localSyslogPaths
	localSyslogPaths = []string{filepath.Join(t.TempDir(), "none")}
	defer func() { localSyslogPaths = old }()
	if _, err := NewSysLogger(false, false); err == nil {
		t.Fatal("expected an error without a syslog socket")
	}
}
