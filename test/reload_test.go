package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// runConfigServer starts an in-process server from a config file.
func runConfigServer(t *testing.T, path string) *server.Server {
	t.Helper()
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	return RunServer(t, o)
}

func TestReloadUsers(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	body := func(users string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization { users: [%s] }\n", port, users)
	}
	cfg := writeConf(t, dir, "r.conf", body(`{user: alice, password: a}, {user: bob, password: b}`))
	s := runConfigServer(t, cfg)
	closed := make(chan struct{})
	connect(t, s, nats.UserInfo("bob", "b"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("carol", "c")); err == nil {
		t.Fatal("carol is not configured yet")
	}
	writeConf(t, dir, "r.conf", body(`{user: alice, password: a}, {user: carol, password: c}`))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	connect(t, s, nats.UserInfo("carol", "c"))
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("bob was removed: his connection must be closed")
	}
	connect(t, s, nats.UserInfo("alice", "a"))
}

// The removed user is told why, in the reference's words, before the close.
func TestReloadRemovedUserGetsError(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	body := func(users string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization { users: [%s] }\n", port, users)
	}
	cfg := writeConf(t, dir, "r.conf", body(`{user: alice, password: a}, {user: bob, password: b}`))
	s := runConfigServer(t, cfg)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"b\"}\r\nPING\r\n")
	rc.expect("PONG")
	writeConf(t, dir, "r.conf", body(`{user: alice, password: a}`))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	rc.expect("-ERR 'Authorization Violation'")
	rc.expectClosed()
}

// A reload that denies a subject a connection subscribed to removes that
// subscription with the reference's -ERR naming it and its sid; the
// connection and its other subscriptions stay.
func TestReloadDropsDeniedSubscriptions(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	body := func(perms string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization { users: [{user: a, password: a%s}] }\n", port, perms)
	}
	cfg := writeConf(t, dir, "r.conf", body(""))
	s := runConfigServer(t, cfg)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB _INBOX.abc 1\r\nSUB q 2\r\nSUB _INBOX.g grp 3\r\nPING\r\n")
	rc.expect("PONG")
	writeConf(t, dir, "r.conf", body(`, permissions: { subscribe: { deny: "_INBOX.>" } }`))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	got := []string{rc.readLine(), rc.readLine()}
	slices.Sort(got)
	want := []string{
		`-ERR 'Permissions Violation for Subscription to "_INBOX.abc" (sid "1")'`,
		`-ERR 'Permissions Violation for Subscription to "_INBOX.g" using queue "grp" (sid "3")'`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after the reload: %q, want %q", got, want)
	}
	nc := connect(t, s, nats.UserInfo("a", "a"))
	nc.Publish("_INBOX.abc", []byte("gone"))
	nc.Publish("q", []byte("kept"))
	flushed(t, nc)
	rc.expect("MSG q 2 4")
}

func TestReloadRefusesPortChange(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 1000\n", port+1))
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("config reload not supported for Port: old=%d, new=%d", port, port+1)) {
		t.Fatalf("expected the reference's refusal, got %v", err)
	}
	// Nothing was applied: max_payload is unchanged and the server serves.
	nc := connect(t, s)
	if nc.MaxPayload() != 1024*1024 {
		t.Fatalf("a refused reload must apply nothing; max_payload is %d", nc.MaxPayload())
	}
}

func TestReloadBrokenFileKeepsRunning(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	writeConf(t, dir, "r.conf", "listen: 127.0.0.1:1\nfoo {\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "r.conf:") {
		t.Fatalf("expected a positioned syntax error, got %v", err)
	}
	connect(t, s)
}

func TestReloadLimitsAndMappings(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 2KB\nmappings { old: new }\n", port))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, s)
	if nc.MaxPayload() != 2048 {
		t.Fatalf("new connections should see max_payload 2048, got %d", nc.MaxPayload())
	}
	sub, _ := nc.SubscribeSync("new")
	nc.Flush()
	nc.Publish("old", []byte("x"))
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("mapping added by reload not applied: %v", err)
	}
}

func TestReloadWithoutConfigFile(t *testing.T) {
	s := RunServer(t, nil)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "can only reload config when a file is provided") {
		t.Fatalf("got %v", err)
	}
}

// The routes inherit the top-level write_deadline and ping settings; a
// reload changing those is not a change of the cluster block (the
// reference reloads them, it once was refused as "cluster writedeadline").
func TestReloadTopLevelTimersWithCluster(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := "listen: 127.0.0.1:%d\nwrite_deadline: %q\nping_interval: %q\ncluster { name: c, listen: 127.0.0.1:-1 }\n"
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf(conf, port, "10s", "2m"))
	s := runConfigServer(t, cfg)
	writeConf(t, dir, "r.conf", fmt.Sprintf(conf, port, "20s", "1m"))
	if err := s.Reload(); err != nil {
		t.Fatalf("reload of top-level timers on a clustered server: %v", err)
	}
	if v := s.Varz(); v.WriteDeadline != 20*time.Second || v.PingInterval != time.Minute {
		t.Fatalf("after reload: write_deadline %v, ping_interval %v", v.WriteDeadline, v.PingInterval)
	}
}
