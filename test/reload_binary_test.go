//go:build !windows

package test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Reload through real SIGHUP and -sl reload on the built binary.
func TestBinaryReloadWithSignals(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	conf := func(extra string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization { users: [ {user: alice, password: a} %s ] }\n", port, extra)
	}
	cfg := writeConf(t, dir, "s.conf", conf(""))
	p := startBin(t, "-c", cfg)
	p.waitOutput("Server is ready")
	pid := p.cmd.Process.Pid

	// A new user is accepted after SIGHUP, and debug switches on.
	if _, err := nats.Connect(url, nats.UserInfo("bob", "b")); err == nil {
		t.Fatal("bob is not configured yet")
	}
	writeConf(t, dir, "s.conf", conf(", {user: bob, password: b}")+"debug: true\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitOutput("Reloaded: authorization users")
	p.waitOutput("Reloaded: debug = true")
	p.waitOutput("Reloaded server configuration (sha256:")
	closed := make(chan struct{})
	bob, err := nats.Connect(url, nats.UserInfo("bob", "b"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("bob after reload: %v", err)
	}
	defer bob.Close()
	p.waitOutput("[DBG]") // debug lines now appear

	// Removing bob through -sl reload=<pid> closes his connection.
	writeConf(t, dir, "s.conf", conf("")+"debug: true\n")
	if out, code := runBin(t, "-sl", fmt.Sprintf("reload=%d", pid)); code != 0 {
		t.Fatalf("-sl reload: %d %s", code, out)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("removed user still connected")
	}

	// The log line of that reload may follow bob's close: wait for it,
	// so the count below is of applied reloads only.
	waitFor(t, 5*time.Second, "second reload logged", func() bool {
		return strings.Count(p.output(), "Reloaded server configuration") >= 2
	})

	// A port change is refused and logged; the server keeps serving.
	before := strings.Count(p.output(), "Reloaded server configuration")
	writeConf(t, dir, "s.conf", strings.Replace(conf(""), fmt.Sprint(port), fmt.Sprint(port+1), 1))
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitOutput(fmt.Sprintf("[ERR] Failed to reload server configuration: config reload not supported for Port: old=%d, new=%d", port, port+1))

	// So is a broken file.
	writeConf(t, dir, "s.conf", "listen: 127.0.0.1:1\nauthorization {\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "syntax error logged", func() bool {
		return strings.Count(p.output(), "Failed to reload server configuration") >= 2
	})
	if strings.Count(p.output(), "Reloaded server configuration") != before {
		t.Fatal("a refused reload must not apply anything")
	}
	nc, err := nats.Connect(url, nats.UserInfo("alice", "a"))
	if err != nil {
		t.Fatalf("server must keep running on the old config: %v", err)
	}
	nc.Close()
}
