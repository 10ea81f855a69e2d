package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// infoOf decodes the JSON of an INFO line.
func infoOf(t *testing.T, line string) map[string]any {
	t.Helper()
	body, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		t.Fatalf("expected INFO, got %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &m); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	return m
}

func TestNoHeaderSupport(t *testing.T) {
	o := DefaultTestOptions()
	o.NoHeaderSupport = true
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	if h := infoOf(t, rc.info)["headers"]; h != false {
		t.Fatalf("INFO headers = %v with no_header_support", h)
	}
	// A client asking for headers anyway does not get them: no_responders
	// needs them, as with the reference.
	rc.send("CONNECT {\"verbose\":false,\"protocol\":1,\"headers\":true,\"no_responders\":true}\r\n")
	rc.expect("-ERR 'no responders requires headers support'")
	rc.expectClosed()
	// HPUB is refused.
	rc = dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"protocol\":0,\"headers\":true}\r\nPING\r\n")
	rc.expect("PONG")
	rc.send("HPUB a 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
	rc.expectClosed()
}

func TestMaxClosedClientsBoundsTheRing(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) { o.MaxClosedClients = 3 })
	var cids []uint64
	for i := 0; i < 5; i++ {
		nc := connect(t, s)
		id, err := nc.GetClientID()
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, id)
		nc.Close()
		// One at a time, so that the ring's order is the closing order: the
		// connection is recorded by its own goroutine after it left the
		// client list, so wait for the record itself.
		waitFor(t, 3*time.Second, fmt.Sprintf("closed connection %d in the ring", id), func() bool {
			return slices.Contains(closedCIDs(t, base), id)
		})
	}
	got := closedCIDs(t, base)
	if fmt.Sprint(got) != fmt.Sprint(cids[2:]) {
		t.Fatalf("closed ring holds %v, want the last three %v", got, cids[2:])
	}
}

// closedCIDs lists the connection ids in /connz's closed ring, by cid; an
// empty ring has no connections list at all.
func closedCIDs(t *testing.T, base string) []uint64 {
	var got []uint64
	for _, c := range closedConns(t, base+"/connz?state=closed&sort=cid") {
		got = append(got, uint64(c["cid"].(float64)))
	}
	return got
}

// closedConns reads the connections of a /connz?state=closed query, none
// when the ring holds nothing that matches (the list is then left out).
func closedConns(t *testing.T, url string) []map[string]any {
	m := getMap(t, url)
	if m["connections"] == nil {
		return nil
	}
	return list(t, m, "connections")
}

func TestProfPortServesPprof(t *testing.T) {
	o := DefaultTestOptions()
	o.ProfPort = server.RANDOM_PORT
	s := RunServer(t, o)
	a := s.ProfilerAddr()
	if a == nil {
		t.Fatal("no profiling listener")
	}
	code, body, _ := get(t, fmt.Sprintf("http://%s/debug/pprof/", a))
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %d %.200q", code, body)
	}
	code, body, _ = get(t, fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", a))
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: %d %.200q", code, body)
	}
	// Only pprof lives there.
	if code, _, _ := get(t, fmt.Sprintf("http://%s/varz", a)); code != http.StatusNotFound {
		t.Fatalf("/varz on the profiling port: %d", code)
	}
}

// The binary takes --profile like the reference, logs its line and lists
// the port in the ports file.
func TestBinaryProfileFlag(t *testing.T) {
	dir := t.TempDir()
	p := startBin(t, "-a", "127.0.0.1", "-p", "-1", "--profile", "-1", "--ports_file_dir", dir)
	p.waitOutput("Server is ready")
	m := regexp.MustCompile(`profiling port: (\d+)`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no profiling port line:\n%s", p.output())
	}
	code, _, _ := get(t, "http://127.0.0.1:"+m[1]+"/debug/pprof/")
	if code != http.StatusOK {
		t.Fatalf("pprof index: %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
	if len(files) != 1 {
		t.Fatalf("ports files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), `"profile":["http://127.0.0.1:`+m[1]+`"]`) {
		t.Fatalf("ports file lacks the profiling port: %s", b)
	}
}

// A cluster listening on port -1 names its route port in the ports file,
// as the reference's does (nats.js's test launcher forms clusters with it),
// and the port is the one routes connect to.
func TestPortsFileClusterPort(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConf(t, dir, "c.conf", fmt.Sprintf(
		"listen: 127.0.0.1:-1\nports_file_dir: %q\ncluster { name: C1, listen: 127.0.0.1:-1 }\n", dir))
	p := startBin(t, "-c", cfg)
	p.waitOutput("Server is ready")
	m := regexp.MustCompile(`Listening for route connections on 127.0.0.1:(\d+)`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no route listener line:\n%s", p.output())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
	if len(files) != 1 {
		t.Fatalf("ports files: %v", files)
	}
	var ports map[string][]string
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &ports); err != nil {
		t.Fatalf("ports file %s: %v", b, err)
	}
	if want := "nats://127.0.0.1:" + m[1]; len(ports["cluster"]) != 1 || ports["cluster"][0] != want {
		t.Fatalf("ports file cluster = %v, want [%s] (%s)", ports["cluster"], want, b)
	}
	if rc := dialRawAddr(t, "127.0.0.1:"+m[1]); !strings.Contains(rc.info, `"cluster":"C1"`) {
		t.Fatalf("route port INFO %s", rc.info)
	}
}

func TestClientAdvertise(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "a.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nclient_advertise: \"example.com:5000\"\n", port))
	s := runConfigServer(t, cfg)
	info := infoOf(t, dialRaw(t, s).info)
	if info["host"] != "example.com" || info["port"] != float64(5000) {
		t.Fatalf("INFO host/port = %v/%v, want example.com/5000", info["host"], info["port"])
	}
	connect(t, s) // ClientURL still names the listener
	// Without a port, the listen port is advertised; a reload applies it.
	writeConf(t, dir, "a.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nclient_advertise: other.example\n", port))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	info = infoOf(t, dialRaw(t, s).info)
	if info["host"] != "other.example" || info["port"] != float64(port) {
		t.Fatalf("after reload INFO host/port = %v/%v, want other.example/%d", info["host"], info["port"], port)
	}
}

// Every numeric option is range-checked where it is written; what the
// reference accepts and chokes on (a negative ping_interval closes every
// client, a negative max_closed_clients panics) is refused.
func TestConfigRangesChecked(t *testing.T) {
	cases := []struct{ line, want string }{
		{`ping_interval: "-1s"`, `c.conf:2:1: invalid ping_interval of -1s, must be at least 1ms`},
		{`ping_interval: "10us"`, `invalid ping_interval of 10µs`},
		{`write_deadline: "-1s"`, `c.conf:2:1: invalid write_deadline of -1s`},
		{`lame_duck_duration: "-5s"`, `invalid lame_duck_duration of -5s, must not be negative`},
		{`lame_duck_grace_period: "-5s"`, `invalid lame_duck_grace_period of -5s`},
		{`ping_max: -1`, `invalid ping_max of -1, must not be negative`},
		{`max_payload: -1`, `invalid max_payload of -1`},
		{`max_payload: 2GB`, `invalid max_payload of 2147483648, must be from 1 to 2147483647`},
		{`max_control_line: -1`, `invalid max_control_line of -1`},
		{`max_pending: -1`, `invalid max_pending of -1`},
		{`max_connections: -1`, `invalid max_connections of -1`},
		{`max_conn: -2`, `invalid max_conn of -2`},
		{`max_subscriptions: -2`, `invalid max_subscriptions of -2, must be -1 or 0 (no limit), or more`},
		{`max_closed_clients: -1`, `invalid max_closed_clients of -1`},
		{`max_traced_msg_len: -1`, `invalid max_traced_msg_len of -1`},
		{`log_size_limit: -1`, `invalid log_size_limit of -1`},
		{`logfile_max_num: -1`, `invalid logfile_max_num of -1`},
		{`connect_error_reports: -1`, `invalid connect_error_reports of -1`},
		{`port: 70000`, `invalid port of 70000, must be a port from 0 to 65535, or -1 for a random one`},
		{`http_port: -2`, `invalid http_port of -2`},
		{`prof_port: 65536`, `invalid prof_port of 65536`},
		{`listen: "127.0.0.1:70000"`, `c.conf:2:1: invalid listen port of 70000`},
		{`http: 99999`, `invalid http port of 99999`},
		{`client_advertise: "a:b:c"`, `c.conf:2:1: invalid client_advertise "a:b:c"`},
		{`client_advertise: "nats://x:4222"`, `invalid client_advertise "nats://x:4222"`},
		{`client_advertise: "x:-5"`, `invalid client_advertise "x:-5": port must be from 0 to 65535`},
		{`client_advertise: ":5000"`, `invalid client_advertise ":5000": expected host or host:port`},
		{`authorization { timeout: -1 }`, `invalid authorization timeout of -1`},
		{`tls { timeout: "-2s" }`, `invalid tls timeout of -2`},
		{`authorization { users: [{user: a, password: b, permissions: {allow_responses: {max: -1}}}] }`, `invalid allow_responses max of -1`},
		{`authorization { users: [{user: a, password: b, permissions: {allow_responses: {expires: "-1s"}}}] }`, `invalid allow_responses expires of -1s`},
		{`jetstream { max_mem: -2 }`, `invalid max_mem of -2, must be -1 (no limit) or more`},
		{`jetstream { sync_interval: "-1s" }`, `invalid sync_interval of -1s`},
	}
	dir := t.TempDir()
	for _, c := range cases {
		cfg := writeConf(t, dir, "c.conf", "port: 4222\n"+c.line+"\n")
		_, err := server.ProcessConfigFile(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "c.conf:2:") {
			t.Errorf("%s: got %v, want ...%s...", c.line, err, c.want)
		}
	}
	for _, ok := range []string{"max_subscriptions: -1", "ping_interval: \"0s\"", "prof_port: -1", "port: -1", "client_advertise: \"[::1]:5000\"", "max_payload: 1"} {
		cfg := writeConf(t, dir, "c.conf", "port: 4222\n"+ok+"\n")
		if _, err := server.ProcessConfigFile(cfg); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// Options built in code (and from flags) get the same checks.
func TestOptionRangesCheckedWhenEmbedding(t *testing.T) {
	cases := []struct {
		tweak func(o *server.Options)
		want  string
	}{
		{func(o *server.Options) { o.PingInterval = -time.Second }, "invalid ping_interval of -1s"},
		{func(o *server.Options) { o.WriteDeadline = -time.Second }, "invalid write_deadline of -1s"},
		{func(o *server.Options) { o.MaxClosedClients = -1 }, "invalid max_closed_clients of -1"},
		{func(o *server.Options) { o.ClientAdvertise = "a:b:c" }, `invalid client_advertise "a:b:c"`},
		{func(o *server.Options) { o.LameDuckGracePeriod = 3 * time.Minute },
			"lame duck grace period (3m0s) should be strictly lower than lame duck duration (2m0s)"},
	}
	for _, c := range cases {
		o := DefaultTestOptions()
		c.tweak(o)
		if _, err := server.NewServer(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
	out, code := runBin(t, "-a", "127.0.0.1", "-p", "70000")
	if code != 1 || !strings.Contains(out, "invalid port of 70000") {
		t.Fatalf("-p 70000: %d %q", code, out)
	}
}

// nats.py's launcher looks for "Parse error" in the output of a server given
// a broken file; the position stays ours.
func TestBinaryParseErrorWording(t *testing.T) {
	bad := writeConf(t, t.TempDir(), "bad.conf", "port: 4222\nfoo {\n  bar: 1\n")
	for _, args := range [][]string{{"-t", "-c", bad}, {"-c", bad}} {
		out, code := runBin(t, args...)
		want := bad + ":4:1: Parse error on line 4: 'unexpected end of file in the map opened at 2:5'"
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("%v: %d %q, want %q", args, code, out, want)
		}
	}
}

// reloadConn is a raw connection that announced protocol 1, so it accepts
// asynchronous INFO; the INFO that follows the first PONG (the account it
// is bound to) has been read.
func reloadConn(t *testing.T, s *server.Server) *rawConn {
	t.Helper()
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
	rc.expect("PONG")
	if info := infoOf(t, rc.readLine()); info["connect_info"] != true {
		t.Fatalf("expected the INFO that follows CONNECT, got %v", info)
	}
	return rc
}

func TestReloadMaxPayloadReachesOpenConnections(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 1000\n", port))
	s := runConfigServer(t, cfg)
	rc := reloadConn(t, s)
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 100\n", port))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if mp := infoOf(t, rc.readLine())["max_payload"]; mp != float64(100) {
		t.Fatalf("INFO after reload: max_payload %v, want 100", mp)
	}
	rc.send("PUB a 200\r\n" + strings.Repeat("x", 200) + "\r\n")
	rc.expect("-ERR 'Maximum Payload Violation'")
	rc.expectClosed()
}

func TestReloadControlLineAndSubscriptionLimitsReachOpenConnections(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	long, subs := reloadConn(t, s), reloadConn(t, s)
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nmax_control_line: 100\nmax_subscriptions: 1\n", port))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	subs.send("SUB a 1\r\nSUB b 2\r\nPING\r\n")
	subs.expect("-ERR 'maximum subscriptions exceeded'")
	subs.expect("PONG")
	long.send("SUB " + strings.Repeat("a", 150) + " 1\r\n")
	long.expect("-ERR 'maximum control line exceeded'")
	long.expectClosed()
}

func TestReloadMaxConnectionsClosesTheNewest(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	oldest := reloadConn(t, s)
	newer := []*rawConn{reloadConn(t, s), reloadConn(t, s)}
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nmax_connections: 1\n", port))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, rc := range newer {
		rc.expect("-ERR 'maximum connections exceeded'")
		rc.expectClosed()
	}
	oldest.send("PING\r\n")
	oldest.expect("PONG")
}

// A reload with a value out of range is refused whole, with its position.
func TestReloadOutOfRangeAppliesNothing(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nping_interval: \"-1s\"\nmax_payload: 100\n", port))
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "r.conf:2:1: invalid ping_interval of -1s") {
		t.Fatalf("got %v", err)
	}
	nc := connect(t, s, nats.NoReconnect())
	if nc.MaxPayload() != 1024*1024 {
		t.Fatalf("a refused reload applied max_payload: %d", nc.MaxPayload())
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("clients must not be closed as stale: %v", err)
	}
}

func TestReloadMovesPortsFile(t *testing.T) {
	dir, a, b := t.TempDir(), t.TempDir(), t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nports_file_dir: %q\n", port, a))
	s := runConfigServer(t, cfg)
	if files, _ := filepath.Glob(filepath.Join(a, "*.ports")); len(files) != 1 {
		t.Fatalf("ports file in %s: %v", a, files)
	}
	writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\nports_file_dir: %q\n", port, b))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(a, "*.ports")); len(files) != 0 {
		t.Fatalf("old ports file left behind: %v", files)
	}
	if files, _ := filepath.Glob(filepath.Join(b, "*.ports")); len(files) != 1 {
		t.Fatalf("no ports file in the new directory %s: %v", b, files)
	}
}

// Options that cannot change at run time are refused by a reload, as with
// the reference, rather than logged and ignored.
func TestReloadRefusesStartupOnlyOptions(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n", port))
	s := runConfigServer(t, cfg)
	for line, field := range map[string]string{
		"max_closed_clients: 5":   "MaxClosedClients",
		"no_header_support: true": "NoHeaderSupport",
		"prof_port: -1":           "ProfPort",
	} {
		writeConf(t, dir, "r.conf", fmt.Sprintf("listen: 127.0.0.1:%d\n%s\n", port, line))
		if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "config reload not supported for "+field) {
			t.Errorf("%s: got %v", line, err)
		}
	}
}

// Lame duck mode reads INFO while reloads rewrite it; the race detector
// checks that both hold the server lock.
func TestLameDuckInfoWhileReloading(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	body := func(host string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nclient_advertise: %s\nlame_duck_grace_period: \"200ms\"\nlame_duck_duration: \"400ms\"\n", port, host)
	}
	cfg := writeConf(t, dir, "r.conf", body("a.example"))
	s := runConfigServer(t, cfg)
	rc := reloadConn(t, s)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if os.WriteFile(cfg, []byte(body(fmt.Sprintf("h%d.example", i))), 0o644) == nil {
				_ = s.Reload()
			}
		}
	}()
	go s.LameDuckShutdown()
	if info := infoOf(t, rc.readLine()); info["ldm"] != true {
		t.Fatalf("expected the lame duck INFO, got %v", info)
	}
	wg.Wait()
	s.WaitForShutdown()
}

// allowed_connection_types is enforced: a user restricted to connection
// types other than STANDARD cannot log in as a client.
func TestAllowedConnectionTypes(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConf(t, dir, "u.conf", fmt.Sprintf(`listen: 127.0.0.1:%d
authorization { users: [
  {user: ws, password: p, allowed_connection_types: ["WEBSOCKET", "MQTT"]}
  {user: std, password: p, allowed_connection_types: ["standard"]}
  {user: any, password: p}
] }
`, port))
	s := runConfigServer(t, cfg)
	for user, want := range map[string]string{"ws": "-ERR 'Authorization Violation'", "std": "PONG", "any": "PONG"} {
		rc := dialRaw(t, s)
		rc.send(fmt.Sprintf("CONNECT {\"verbose\":false,\"user\":%q,\"pass\":\"p\"}\r\nPING\r\n", user))
		rc.expect(want)
	}
	bad := writeConf(t, dir, "bad.conf", "authorization { users: [\n  {user: a, password: b, allowed_connection_types: [\"BOGUS\", \"websocket\"]}\n] }\n")
	if _, err := server.ProcessConfigFile(bad); err == nil || !strings.Contains(err.Error(), `bad.conf:2:`) ||
		!strings.Contains(err.Error(), `invalid connection types ["BOGUS"]`) {
		t.Fatalf("got %v", err)
	}
}

// An account's default_permissions apply to its users that have none.
func TestAccountDefaultPermissions(t *testing.T) {
	port := freePort(t)
	cfg := writeConf(t, t.TempDir(), "a.conf", fmt.Sprintf(`listen: 127.0.0.1:%d
accounts { A {
  users: [{user: a, password: p}, {user: b, password: p, permissions: {publish: "y"}}]
  default_permissions: { publish: "x" }
} }
`, port))
	s := runConfigServer(t, cfg)
	a, b := dialRaw(t, s), dialRaw(t, s)
	a.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"p\"}\r\nPUB y 1\r\nx\r\nPUB x 1\r\nx\r\nPING\r\n")
	a.expect("-ERR 'Permissions Violation for Publish to \"y\"'")
	a.expect("PONG")
	b.send("CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"p\"}\r\nPUB x 1\r\nx\r\nPUB y 1\r\nx\r\nPING\r\n")
	b.expect("-ERR 'Permissions Violation for Publish to \"x\"'")
	b.expect("PONG")
}

// Account settings whose enforcement is not built are refused, not ignored.
func TestAccountOptionsNotServedAreRefused(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"accounts { A { limits: { max_payload: 10 } } }":                           "a.conf:1:16: limits in account A: not supported yet",
		"accounts { A { jetstream: { max_mem: 1 } } }":                             "",
		"accounts { A { jetstream: enabled } }":                                    "",
		"accounts { A { limits: { max_pending: 10 } } }":                           `a.conf:1:26: Unknown field "max_pending" parsing account limits`,
		"accounts { A { max_payload: 10 } }":                                       `a.conf:1:16: unknown field "max_payload"`,
		`accounts { A { nkey: "bogus" } }`:                                         `a.conf:1:16: Not a valid public nkey for an account: "bogus"`,
		"accounts { A { users: [{user: a, password: b}] } }\n":                     "",
		`accounts { A { exports: [{stream: "x.*", account_token_position: 2}] } }`: "account_token_position: not supported yet",
		`accounts { A { exports: [{service: "x", response_threshold: "-1s"}] } }`:  "invalid response_threshold of -1s",
		"accounts { A { jetstream: disabled } }":                                   "",
	} {
		cfg := writeConf(t, dir, "a.conf", body)
		o, err := server.ProcessConfigFile(cfg)
		if err == nil {
			o.NoLog, o.NoSigs = true, true
			_, err = server.NewServer(o)
		}
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}

// copyFile replaces dst with src's contents, as a certificate renewal does.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A certificate renewed in place (same file names) is loaded by a reload,
// as with the reference; a broken one refuses the reload.
func TestReloadPicksUpRenewedCertificate(t *testing.T) {
	one, two := newTLSEnv(t), newTLSEnv(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, one.srv.certFile, cert)
	copyFile(t, one.srv.keyFile, key)
	cfg := writeConf(t, dir, "tls.conf", fmt.Sprintf("listen: 127.0.0.1:%d\ntls { cert_file: %q, key_file: %q }\n",
		freePort(t), cert, key))
	s := runConfigServer(t, cfg)
	connect(t, s, nats.Secure(one.clientTLS()))

	copyFile(t, two.srv.certFile, cert)
	copyFile(t, two.srv.keyFile, key)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	connect(t, s, nats.Secure(two.clientTLS()))
	if nc, err := nats.Connect(s.ClientURL(), nats.Secure(one.clientTLS())); err == nil {
		nc.Close()
		t.Fatal("the renewed certificate was not loaded")
	}

	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("a reload with a broken certificate must be refused")
	}
	connect(t, s, nats.Secure(two.clientTLS()))
}
