package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

func TestConfigFullFile(t *testing.T) {
	o, err := server.ProcessConfigFile("configs/full.conf")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"server_name", o.ServerName, "edge-1"},
		{"host", o.Host, "127.0.0.1"},
		{"port", o.Port, 4333},
		{"http", fmt.Sprint(o.HTTPHost, ":", o.HTTPPort), "127.0.0.1:8333"},
		{"max_connections", o.MaxConn, 1000},
		{"max_subscriptions", o.MaxSubs, 500},
		{"max_payload", o.MaxPayload, int32(2 * 1024 * 1024)},
		{"max_pending", o.MaxPending, int64(32 * 1024 * 1024)},
		{"max_control_line", o.MaxControlLine, int32(8 * 1024)},
		{"ping_interval", o.PingInterval, 30 * time.Second},
		{"ping_max", o.MaxPingsOut, 3},
		{"write_deadline", o.WriteDeadline, 5 * time.Second},
		{"lame_duck_duration", o.LameDuckDuration, time.Minute},
		{"lame_duck_grace_period", o.LameDuckGracePeriod, 5 * time.Second},
		{"logtime_utc", o.LogtimeUTC, true},
		{"log_file", o.LogFile, "/tmp/nats-edge.log"},
		{"log_size_limit", o.LogSizeLimit, int64(10 * 1024 * 1024)},
		{"logfile_max_num", o.LogMaxFiles, int64(5)},
		{"max_traced_msg_len", o.MaxTracedMsgLen, 256},
		{"pid_file", o.PidFile, "/tmp/nats-edge.pid"},
		{"server_tags", strings.Join(o.ServerTags, ","), "region:eu,tier:edge"},
		{"auth timeout", o.AuthTimeout, 3.0},
		{"users", len(o.Users), 3},
		{"nkeys", len(o.Nkeys), 1},
		{"no_auth_user", o.NoAuthUser, "guest"},
		{"variable from include", o.Users[0].Password, "$2a$11$J2nrmtqNFjweb1rTLeYoS.UlNNAAQr9JSF/bXdSuYZPLYikz27IrO"},
		{"guest publish", strings.Join(o.Users[1].Permissions.Publish.Allow, ","), "public.>"},
		{"guest queue permission", o.Users[1].Permissions.Subscribe.Allow[1], "work.* workers"},
		{"svc responses", fmt.Sprint(o.Users[2].Permissions.Response.MaxMsgs, o.Users[2].Permissions.Response.Expires), "2 30s"},
		{"default permissions", o.DefaultPermissions.Publish.Deny[0], "admin.>"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestConfigErrorsAllReportedWithPositions(t *testing.T) {
	_, err := server.ProcessConfigFile("configs/errors.conf")
	if err == nil {
		t.Fatal("expected errors")
	}
	msg := err.Error()
	for _, want := range []string{
		`configs/errors.conf:2:1: unknown field "foo"`,
		`configs/errors.conf:3:1: field "max_payload": expected an integer, got string "big"`,
		`configs/errors.conf:5:`, `unknown field "pasword"`,
		`configs/errors.conf:7:1: error parsing write_deadline: time: invalid duration "soon"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestConfigUnsupportedFeaturesRefused(t *testing.T) {
	o, err := server.ProcessConfigFile("configs/unsupported.conf")
	if err != nil {
		t.Fatalf("the file is valid and must parse: %v", err)
	}
	if o.StoreDir != "/tmp/js" || o.JetStreamCipher != "chachapoly" || !o.JetStreamSyncAlways || o.JetStreamMaxStore != 10*1024*1024*1024 {
		t.Fatalf("jetstream block not parsed: %+v", o)
	}
	_, err = server.NewServer(o)
	if err == nil || !strings.Contains(err.Error(), "not supported yet") || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("expected a clear refusal, got %v", err)
	}
}

func writeConf(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBinaryConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeConf(t, dir, "good.conf", "port: 4444\nmax_payload: 1MB\n")
	out, code := runBin(t, "-t", "-c", good)
	if code != 0 || !strings.Contains(out, "configuration file "+good+" is valid") {
		t.Fatalf("-t good: %d %q", code, out)
	}
	bad := writeConf(t, dir, "bad.conf", "port: 4444\nbogus: 1\n")
	out, code = runBin(t, "-t", "-c", bad)
	if code != 1 || !strings.Contains(out, bad+`:2:1: unknown field "bogus"`) {
		t.Fatalf("-t bad: %d %q", code, out)
	}
	// A plain number for a duration works but is a warning, and -t fails on it.
	warn := writeConf(t, dir, "warn.conf", "ping_interval: 5\n")
	out, code = runBin(t, "-t", "-c", warn)
	if code != 1 || !strings.Contains(out, `invalid use of field "ping_interval": ping_interval should be converted to a duration`) {
		t.Fatalf("-t warn: %d %q", code, out)
	}
	out, code = runBin(t, "-c", filepath.Join(dir, "missing.conf"))
	if code != 1 || !strings.Contains(out, "no such file or directory") {
		t.Fatalf("missing file: %d %q", code, out)
	}
}

func TestBinaryFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	filePort, flagPort := freePort(t), freePort(t)
	cfg := writeConf(t, dir, "s.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nserver_name: from-file\n", filePort))
	p := startBin(t, "-c", cfg, "-p", strconv.Itoa(flagPort))
	p.waitOutput("Server is ready")
	if !strings.Contains(p.output(), fmt.Sprintf("Listening for client connections on 127.0.0.1:%d", flagPort)) {
		t.Fatalf("the -p flag should win over the file:\n%s", p.output())
	}
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", flagPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.ConnectedServerName() != "from-file" {
		t.Fatalf("server_name from the file was lost: %q", nc.ConnectedServerName())
	}
	if !strings.Contains(p.output(), "Using configuration file: "+cfg+" (sha256:") {
		t.Fatalf("start-up should name the file:\n%s", p.output())
	}
}

func TestConfigAuthEnforcedFromFile(t *testing.T) {
	o, err := server.ProcessConfigFile("configs/full.conf")
	if err != nil {
		t.Fatal(err)
	}
	o.Host, o.Port, o.HTTPPort, o.LogFile, o.PidFile = "127.0.0.1", server.RANDOM_PORT, 0, "", ""
	o.NoLog, o.NoSigs = true, true
	// bcrypt at cost 11 is slow under the race detector: seconds, more than
	// the default auth timeout.
	o.AuthTimeout = 60
	s := RunServer(t, o)
	connect(t, s, nats.UserInfo("admin", "adminpw"), nats.Timeout(20*time.Second))
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("admin", "wrong"), nats.Timeout(20*time.Second)); err == nil {
		t.Fatal("bcrypt password from a variable must be enforced")
	}
	// No credentials: the no_auth_user guest, with its permissions.
	errs := make(chan error, 1)
	guest := connect(t, s, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	guest.Publish("admin.reset", nil)
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `Permissions Violation for Publish to "admin.reset"`) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("guest must not publish outside public.>")
	}
}
