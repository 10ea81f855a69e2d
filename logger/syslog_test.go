package logger

import (
	"bufio"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wantSyslog lists, per call of logAll with debug and trace on, the
// priority and message expected at facility 0.
type syslogMsg struct {
	pri int
	msg string
}

var wantSyslog = []syslogMsg{
	{5, "notice 1"}, {4, "warn two"}, {3, "error 3"}, {7, "debug 4"}, {5, "trace 5"},
}

var remoteRe = regexp.MustCompile(`^<(\d+)>(\S+) (\S+) nats-server\[` + strconv.Itoa(os.Getpid()) + `\]: (.*)\n$`)

func checkRemote(t *testing.T, got []string, facility int) {
	t.Helper()
	checkRemoteMsgs(t, got, facility, wantSyslog)
}

func checkRemoteMsgs(t *testing.T, got []string, facility int, wantSyslog []syslogMsg) {
	t.Helper()
	if len(got) != len(wantSyslog) {
		t.Fatalf("got %d messages %q, want %d", len(got), got, len(wantSyslog))
	}
	for i, w := range wantSyslog {
		m := remoteRe.FindStringSubmatch(got[i])
		if m == nil {
			t.Fatalf("message %q malformed", got[i])
		}
		if m[1] != strconv.Itoa(facility+w.pri) || m[4] != w.msg {
			t.Errorf("message %q: want priority %d and text %q", got[i], facility+w.pri, w.msg)
		}
		if _, err := time.Parse(time.RFC3339, m[2]); err != nil {
			t.Errorf("bad timestamp in %q: %v", got[i], err)
		}
	}
}

func readPackets(t *testing.T, c net.PacketConn, n int) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(out) < n {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(out), err)
		}
		out = append(out, string(buf[:k]))
	}
	return out
}

func TestRemoteSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := NewRemoteSysLogger("udp://"+pc.LocalAddr().String(), true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	logAll(l)
	checkRemote(t, readPackets(t, pc, len(wantSyslog)), facilityRemote)
}

func TestRemoteSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l, err := NewRemoteSysLogger("tcp://"+ln.Addr().String(), true, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logAll(l)
	l.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, line)
	}
	// trace is off, so its message must be absent.
	checkRemoteMsgs(t, got, facilityRemote, wantSyslog[:len(wantSyslog)-1])
}

func TestRemoteSyslogBadAddresses(t *testing.T) {
	for _, fqn := range []string{"foo://127.0.0.1:1", "udp://", "unix://", "127.0.0.1:514", "udp://127.0.0.1", "tcp://127.0.0.1:1", "%zz"} {
		if l, err := NewRemoteSysLogger(fqn, false, false); err == nil {
			l.Close()
			t.Errorf("%q: expected an error", fqn)
		} else if !strings.HasPrefix(err.Error(), "logger: ") {
			t.Errorf("%q: error %q lacks context", fqn, err)
		}
	}
}

func TestParseSyslogURLDefault(t *testing.T) {
	n, a, err := parseSyslogURL("")
	if err != nil || n != "udp" || a != "localhost:514" {
		t.Fatalf("got %q %q %v", n, a, err)
	}
}
