package test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// runJSConf starts an in-process server from a config whose "STORE" is
// replaced by a temporary store directory (or by store when given).
func runJSConf(t *testing.T, conf, store string) (*server.Server, string) {
	t.Helper()
	if store == "" {
		store = t.TempDir()
	}
	dir := t.TempDir()
	body := strings.ReplaceAll(conf, "STORE", filepath.ToSlash(store))
	o, err := server.ProcessConfigFile(writeConf(t, dir, "js.conf", body))
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	return RunServer(t, o), store
}

// httpJSON GETs a monitoring path and decodes the JSON answer.
func httpJSON(t *testing.T, s *server.Server, path string) map[string]any {
	t.Helper()
	code, body, _ := get(t, fmt.Sprintf("http://%s%s", s.MonitorAddr(), path))
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || code != 200 {
		t.Fatalf("%s: %d %v %s", path, code, err, body)
	}
	return m
}

// jsErrOf checks that a JSON answer carries the given err_code (0: none).
func jsErrOf(t *testing.T, what string, m map[string]any, errCode float64, desc string) {
	t.Helper()
	_, ec, d := apiErr(m)
	if ec != errCode || (desc != "" && d != desc) {
		t.Fatalf("%s: error %v %q, want %v %q", what, ec, d, errCode, desc)
	}
}

const limitsConf = `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE" }
accounts {
  A { jetstream { max_mem: 1MB, max_file: 2MB, max_streams: 2, max_consumers: 3, max_ack_pending: 4,
                  mem_max_stream_bytes: 512KB, disk_max_stream_bytes: 1MB }, users [{user: a, password: a}] }
  B { jetstream { max_mem: 1MB, max_file: 2MB, max_bytes_required: true }, users [{user: b, password: b}] }
  D { jetstream { max_mem: 1000, max_file: 1000 }, users [{user: d, password: d}] }
}
`

// Per-account limits answer with the reference's errors, in its order, and
// $JS.API.INFO reports the limits and reservations exactly (the sequence
// and the JSON were observed on the reference v2.15.2).
func TestJetStreamAccountLimitsEnforced(t *testing.T) {
	s, _ := runJSConf(t, limitsConf, "")
	a := connect(t, s, nats.UserInfo("a", "a"))
	for _, tc := range []struct {
		subj, body string
		errCode    float64
		desc       string
	}{
		{"$JS.API.STREAM.CREATE.S1", `{"name":"S1"}`, 0, ""},
		{"$JS.API.STREAM.CREATE.S2", `{"name":"S2","max_bytes":2000000}`, 10122, "stream max bytes exceeds account limit max stream bytes"},
		{"$JS.API.STREAM.CREATE.S3", `{"name":"S3","max_bytes":1000}`, 0, ""},
		{"$JS.API.STREAM.CREATE.S4", `{"name":"S4","storage":"memory","max_bytes":600000}`, 10027, "maximum number of streams reached"},
		{"$JS.API.STREAM.CREATE.S3", `{"name":"S3","max_bytes":1000}`, 0, ""},
		{"$JS.API.STREAM.UPDATE.S3", `{"name":"S3","max_bytes":2000000}`, 10122, ""},
	} {
		jsErrOf(t, tc.subj+" "+tc.body, jsReq(t, a, tc.subj, tc.body), tc.errCode, tc.desc)
	}
	info, _ := json.Marshal(jsReq(t, a, "$JS.API.INFO", ""))
	want := `"limits":{"max_ack_pending":4,"max_bytes_required":false,"max_consumers":3,"max_memory":1048576,` +
		`"max_storage":2097152,"max_streams":2,"memory_max_stream_bytes":524288,"storage_max_stream_bytes":1048576}`
	if !strings.Contains(string(info), want) || !strings.Contains(string(info), `"reserved_storage":1000,`) ||
		!strings.Contains(string(info), `"streams":2,`) {
		t.Fatalf("account A info %s", info)
	}
	b := connect(t, s, nats.UserInfo("b", "b"))
	for _, tc := range []struct {
		body    string
		errCode float64
		desc    string
	}{
		{`{"name":"S1"}`, 10113, "account requires a stream config to have max bytes set"},
		{`{"name":"S1","max_bytes":3000000}`, 10047, "insufficient storage resources available"},
		{`{"name":"S1","max_bytes":1000000}`, 0, ""},
		{`{"name":"S2","max_bytes":1500000}`, 10047, ""},
		{`{"name":"M","storage":"memory","max_bytes":2000000}`, 10028, "insufficient memory resources available"},
	} {
		var name struct{ Name string }
		json.Unmarshal([]byte(tc.body), &name)
		jsErrOf(t, tc.body, jsReq(t, b, "$JS.API.STREAM.CREATE."+name.Name, tc.body), tc.errCode, tc.desc)
	}
	if m := jsReq(t, b, "$JS.API.INFO", ""); m["reserved_storage"] != 1e6 ||
		m["limits"].(map[string]any)["max_bytes_required"] != true {
		t.Fatalf("account B info %v", m)
	}
}

// A publish that would take the account over its byte limit gets err
// 10002; the usage INFO reports is what the stores hold, also after a
// restart.
func TestJetStreamAccountLimitPublishAndRestart(t *testing.T) {
	s, store := runJSConf(t, limitsConf, "")
	d := connect(t, s, nats.UserInfo("d", "d"))
	for _, st := range []string{`{"name":"M","storage":"memory"}`, `{"name":"F"}`} {
		var cfg struct{ Name string }
		json.Unmarshal([]byte(st), &cfg)
		jsErrOf(t, st, jsReq(t, d, "$JS.API.STREAM.CREATE."+cfg.Name, st), 0, "")
	}
	payload := strings.Repeat("x", 250)
	for _, subj := range []string{"M", "F"} {
		for i := 1; i <= 4; i++ {
			m := jsReq(t, d, subj, payload)
			// 250 bytes plus the store's framing: three fit in 1000, the fourth does not.
			if i < 4 {
				jsErrOf(t, subj, m, 0, "")
			} else {
				jsErrOf(t, subj, m, 10002, "resource limits exceeded for account")
			}
		}
	}
	before := jsReq(t, d, "$JS.API.INFO", "")
	if before["memory"].(float64) == 0 || before["memory"].(float64) > 1000 || before["storage"].(float64) > 1000 {
		t.Fatalf("usage %v", before)
	}
	s.Shutdown()
	s.WaitForShutdown()
	s2, _ := runJSConf(t, limitsConf, store)
	d2 := connect(t, s2, nats.UserInfo("d", "d"))
	after := jsReq(t, d2, "$JS.API.INFO", "")
	if after["storage"] != before["storage"] || after["streams"] != 1.0 || after["memory"] != 0.0 {
		t.Fatalf("after restart %v, before %v", after, before)
	}
	jsErrOf(t, "F after restart", jsReq(t, d2, "F", payload), 10002, "")
}

// Without accounts other than the system one, the global account has
// JetStream; with accounts configured only those that enable it do, as with
// the reference. JetStream on the system account stops the server.
func TestJetStreamWhichAccountsAreEnabled(t *testing.T) {
	s, _ := runJSConf(t, `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE" }
authorization { users [{user: t, password: t}] }
accounts { A { users [{user: a, password: a}] }, SYS { users [{user: s, password: s}] } }
system_account: SYS
`, "")
	for _, u := range []string{"t", "a"} {
		nc := connect(t, s, nats.UserInfo(u, u))
		jsErrOf(t, u, jsReq(t, nc, "$JS.API.INFO", ""), 10039, "JetStream not enabled for account")
	}
	s2, _ := runJSConf(t, `listen: 127.0.0.1:-1
jetstream { store_dir: "STORE" }
authorization { users [{user: t, password: t}] }
accounts { SYS { users [{user: s, password: s}] } }
system_account: SYS
`, "")
	nc := connect(t, s2, nats.UserInfo("t", "t"))
	m := jsReq(t, nc, "$JS.API.INFO", "")
	jsErrOf(t, "global", m, 0, "")
	if l := m["limits"].(map[string]any); l["max_memory"] != -1.0 || l["max_streams"] != -1.0 {
		t.Fatalf("global limits %v", l)
	}
	dir := t.TempDir()
	o, err := server.ProcessConfigFile(writeConf(t, dir, "sys.conf", "listen: 127.0.0.1:-1\njetstream { store_dir: \""+
		filepath.ToSlash(dir)+"\" }\naccounts { SYS { jetstream: enabled, users [{user: s, password: s}] } }\nsystem_account: SYS\n"))
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s3, err := server.NewServer(o)
	if err == nil {
		err = s3.StartAndCheck()
		s3.Shutdown()
	}
	if err == nil || !strings.Contains(err.Error(), "Not allowed to enable JetStream on the system account") {
		t.Fatalf("system account: %v", err)
	}
}

// strict: false lets unknown fields through; the limits block caps the
// duplicate window (a default under the cap, an explicit one above it
// refused); unique_tag and the limits show in /varz; max_buffered_size
// bounds the ingest queue (err 10167).
func TestJetStreamConfigTuningKeys(t *testing.T) {
	s, _ := runJSConf(t, `listen: 127.0.0.1:-1
http: 127.0.0.1:-1
jetstream { store_dir: "STORE", strict: false, unique_tag: "AZ", max_buffered_size: 1, request_queue_limit: 100,
            info_queue_limit: 50, max_buffered_msgs: 5,
            limits { max_ack_pending: 10, max_ha_assets: 2, max_request_batch: 5, duplicate_window: "1m" } }
`, "")
	nc := connect(t, s)
	jsErrOf(t, "bogus field", jsReq(t, nc, "$JS.API.STREAM.CREATE.T", `{"name":"T","bogus":1}`), 0, "")
	jsErrOf(t, "bad JSON", jsReq(t, nc, "$JS.API.STREAM.CREATE.T", `{"name":`), 10025, "")
	m := jsReq(t, nc, "$JS.API.STREAM.CREATE.U", `{"name":"U"}`)
	if d := m["config"].(map[string]any)["duplicate_window"]; d != 60e9 {
		t.Fatalf("default duplicate window %v", d)
	}
	jsErrOf(t, "window", jsReq(t, nc, "$JS.API.STREAM.CREATE.V", `{"name":"V","duplicate_window":120000000000}`),
		10052, "duplicates window can not be larger then server limit of 1m0s")
	jsErrOf(t, "ingest", jsReq(t, nc, "U", "more than a byte"), 10167, "")
	v := httpJSON(t, s, "/varz")["jetstream"].(map[string]any)
	cfg, lim := v["config"].(map[string]any), v["limits"].(map[string]any)
	if cfg["unique_tag"] != "az" || cfg["strict"] != nil || lim["max_ack_pending"] != 10.0 || lim["max_ha_assets"] != 2.0 ||
		lim["max_request_batch"] != 5.0 || lim["max_duplicate_window"] != 60e9 || lim["default_max_consumers"] != 1000.0 {
		t.Fatalf("varz jetstream %v", v)
	}
}

// Keys of features not built are refused, values out of range are
// refused with their position, and the account keys are checked.
func TestJetStreamConfigKeysRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ conf, want string }{
		{"jetstream { tpm { keys_file: x } }", "not supported yet"},
		{"jetstream { max_outstanding_catchup: 1MB }", "not supported yet"},
		{"jetstream { limits { batch { max_msgs: 3 } } }", "not supported yet"},
		{"jetstream { max_concurrent_io: 1 }", `Expected an absolute size for "max_concurrent_io" between 4 and 8192, got 1`},
		{"jetstream { request_queue_limit: -1 }", "invalid request_queue_limit of -1"},
		{"jetstream { limits { duplicate_window: \"-1s\" } }", "invalid duplicate_window of -1s"},
		{"jetstream { limits { foo: 1 } }", `unknown field "foo"`},
		{"jetstream { strict: 5 }", "expected a boolean"},
		{"accounts { A { jetstream { bogus: 1 } } }", `unknown field "bogus"`},
		{"accounts { A { jetstream { max_mem: -5 } } }", "invalid max_mem of -5"},
		{"accounts { A { jetstream { cluster_traffic: owner } } }", "not supported yet"},
	} {
		o, err := server.ProcessConfigFile(writeConf(t, dir, "bad.conf", tc.conf))
		if err == nil {
			_, err = server.NewServer(o)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.conf, err, tc.want)
		}
	}
}

// --js_domain sets the domain from the command line: PubAcks and INFO carry
// it and $JS.<domain>.API.> is served.
func TestJetStreamBinaryDomainFlag(t *testing.T) {
	port := freePort(t)
	p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir(), "--js_domain", "hub")
	p.waitOutput("Server is ready")
	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := jsReq(t, nc, "$JS.hub.API.INFO", "")
	if m["domain"] != "hub" {
		t.Fatalf("info %v", m)
	}
	jsReq(t, nc, "$JS.hub.API.STREAM.CREATE.S", `{"name":"S"}`)
	msg, err := nc.Request("S", []byte("x"), 2*time.Second)
	if err != nil || string(msg.Data) != `{"stream":"S","domain":"hub","seq":1}` {
		t.Fatalf("puback %v %s", err, msg.Data)
	}
}

// With a domain, $JS.<domain>.API.> reaches the API, and its $KV.> and
// $OBJ.> forms reach the buckets' subjects, as the reference maps them.
func TestJetStreamDomainMapping(t *testing.T) {
	s, _ := runJSConf(t, "listen: 127.0.0.1:-1\njetstream { store_dir: \"STORE\", domain: hub }\n", "")
	nc := connect(t, s)
	jsErrOf(t, "create", jsReq(t, nc, "$JS.hub.API.STREAM.CREATE.KV_b", `{"name":"KV_b","subjects":["$KV.b.>"]}`), 0, "")
	msg, err := nc.Request("$JS.hub.API.$KV.b.k", []byte("v"), 2*time.Second)
	if err != nil || string(msg.Data) != `{"stream":"KV_b","domain":"hub","seq":1}` {
		t.Fatalf("kv put through the domain: %v %s", err, msg.Data)
	}
	if m := jsReq(t, nc, "$JS.hub.API.STREAM.INFO.KV_b", ""); m["state"].(map[string]any)["messages"] != 1.0 {
		t.Fatalf("info through the domain %v", m)
	}
	if _, err := nc.Request("$JS.other.API.INFO", nil, 200*time.Millisecond); err != nats.ErrNoResponders {
		t.Fatalf("another domain: %v", err)
	}
}

// A placement is accepted and kept on a server without a cluster (an empty
// one dropped), a preferred server refused, replicas above 1 refused, as
// the reference answers (observed on v2.15.2).
func TestJetStreamPlacementAndReplicas(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	for _, tc := range []struct {
		body, placement string
		errCode         float64
		desc            string
	}{
		{`{"name":"P1","placement":{"cluster":"c1","tags":["x"]}}`, `{"cluster":"c1","tags":["x"]}`, 0, ""},
		{`{"name":"P2","placement":{}}`, `null`, 0, ""},
		{`{"name":"P3","placement":{"cluster":"","tags":[]}}`, `{}`, 0, ""},
		{`{"name":"P4","placement":{"preferred":"x"}}`, ``, 10052, "preferred server not permitted in placement"},
		{`{"name":"P5","num_replicas":3,"placement":{"cluster":"c1"}}`, ``, 10074, "replicas > 1 not supported in non-clustered mode"},
	} {
		var cfg struct{ Name string }
		json.Unmarshal([]byte(tc.body), &cfg)
		m := jsReq(t, nc, "$JS.API.STREAM.CREATE."+cfg.Name, tc.body)
		jsErrOf(t, tc.body, m, tc.errCode, tc.desc)
		if tc.errCode == 0 {
			if p, _ := json.Marshal(m["config"].(map[string]any)["placement"]); string(p) != tc.placement {
				t.Errorf("%s: placement %s", tc.body, p)
			}
		}
	}
}

// A reload applies new account limits and a new limits block at once, and
// refuses the JetStream keys the reference cannot reload either, naming
// them as it does.
func TestJetStreamReloadLimits(t *testing.T) {
	dir, store := t.TempDir(), t.TempDir()
	conf := func(buffered, streams int, window string) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q, max_buffered_msgs: %d, limits { duplicate_window: %q } }\n"+
			"accounts { A { jetstream { max_streams: %d }, users [{user: a, password: a}] } }\n",
			filepath.ToSlash(store), buffered, window, streams)
	}
	path := writeConf(t, dir, "js.conf", conf(10, 1, "1m"))
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s := RunServer(t, o)
	nc := connect(t, s, nats.UserInfo("a", "a"))
	jsErrOf(t, "S1", jsReq(t, nc, "$JS.API.STREAM.CREATE.S1", `{"name":"S1"}`), 0, "")
	jsErrOf(t, "S2", jsReq(t, nc, "$JS.API.STREAM.CREATE.S2", `{"name":"S2"}`), 10027, "")
	writeConf(t, dir, "js.conf", conf(10, 2, "2m"))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	m := jsReq(t, nc, "$JS.API.STREAM.CREATE.S2", `{"name":"S2"}`)
	jsErrOf(t, "S2 after reload", m, 0, "")
	if d := m["config"].(map[string]any)["duplicate_window"]; d != 120e9 {
		t.Fatalf("window after reload %v", d)
	}
	if l := jsReq(t, nc, "$JS.API.INFO", "")["limits"].(map[string]any); l["max_streams"] != 2.0 {
		t.Fatalf("limits after reload %v", l)
	}
	writeConf(t, dir, "js.conf", conf(20, 2, "2m"))
	if err := s.Reload(); err == nil || err.Error() != "config reload not supported for StreamMaxBufferedMsgs: old=10, new=20" {
		t.Fatalf("reload of max_buffered_msgs: %v", err)
	}
}

// A reload may raise max_memory_store/max_file_store, applied at once, and
// is refused when it would lower them, as with the reference.
func TestJetStreamReloadServerLimits(t *testing.T) {
	dir, store := t.TempDir(), t.TempDir()
	conf := func(file string) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q, max_file_store: %s }\n", filepath.ToSlash(store), file)
	}
	path := writeConf(t, dir, "js.conf", conf("1MB"))
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s := RunServer(t, o)
	nc := connect(t, s)
	jsErrOf(t, "over 1MB", jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","max_bytes":1500000}`), 10047, "")
	writeConf(t, dir, "js.conf", conf("2MB"))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	jsErrOf(t, "after raising", jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","max_bytes":1500000}`), 0, "")
	writeConf(t, dir, "js.conf", conf("1MB"))
	if err := s.Reload(); err == nil || err.Error() != "config reload not supported for decreasing jetstream max memory and store" {
		t.Fatalf("lowering: %v", err)
	}
}
