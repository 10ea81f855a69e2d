package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// runJS starts an in-process server with JetStream in a temporary store.
func runJS(t *testing.T) (*server.Server, string) {
	t.Helper()
	o := DefaultTestOptions()
	o.JetStream = true
	o.StoreDir = t.TempDir()
	return RunServer(t, o), o.StoreDir
}

// jsReq sends a raw API request and decodes the JSON answer.
func jsReq(t *testing.T, nc *nats.Conn, subj, body string) map[string]any {
	t.Helper()
	msg, err := nc.Request(subj, []byte(body), 2*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		t.Fatalf("%s: bad JSON %q: %v", subj, msg.Data, err)
	}
	return m
}

func apiErr(m map[string]any) (code, errCode float64, desc string) {
	e, _ := m["error"].(map[string]any)
	if e == nil {
		return 0, 0, ""
	}
	code, _ = e["code"].(float64)
	errCode, _ = e["err_code"].(float64)
	desc, _ = e["description"].(string)
	return
}

// Each request is answered with the reference's type, code, err_code and
// description (observed on v2.15.2), in order, on one stream's life.
func TestJetStreamAPIErrorsAndTypes(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	for _, tc := range []struct {
		subj, body, typ string
		code, errCode   float64
		desc            string
	}{
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["foo.>"]}`, "stream_create_response", 0, 0, ""},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["foo.x"]}`, "stream_create_response", 400, 10065, "subjects overlap with an existing stream"},
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["bar"]}`, "stream_create_response", 400, 10058, "stream name already in use with a different configuration"},
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["foo.>"]}`, "stream_create_response", 0, 0, ""},
		{"$JS.API.STREAM.CREATE.X", `{"name":"Y"}`, "stream_create_response", 400, 10056, "stream name in subject does not match request"},
		{"$JS.API.STREAM.CREATE.R", `{"name":"R","num_replicas":3}`, "stream_create_response", 500, 10074, "replicas > 1 not supported in non-clustered mode"},
		{"$JS.API.STREAM.CREATE.R", `{"name":"R","bogus":3}`, "stream_create_response", 400, 10025, `invalid JSON: json: unknown field "bogus"`},
		{"$JS.API.STREAM.CREATE.R", `{bad`, "stream_create_response", 400, 10025, "invalid JSON: invalid character 'b' looking for beginning of object key string at offset 2"},
		{"$JS.API.STREAM.CREATE.R", `{"name":"R","max_age":1000}`, "stream_create_response", 500, 10052, "max age needs to be >= 100ms"},
		{"$JS.API.STREAM.CREATE.R", `{"name":"R","subjects":["r"],"mirror":{"name":"S"}}`, "stream_create_response", 400, 10034, "stream mirrors can not contain subjects"},
		{"$JS.API.STREAM.CREATE.E", ``, "stream_create_response", 400, 10056, "stream name in subject does not match request"},
		{"$JS.API.STREAM.CREATE.E", `{"name":"E","subjects":["a.*","a.b"]}`, "stream_create_response", 500, 10052, `subject "a.*" overlaps with "a.b"`},
		{"$JS.API.STREAM.CREATE.E", `{"name":"E","subjects":[">"]}`, "stream_create_response", 500, 10052, "capturing all subjects requires no-ack to be true"},
		{"$JS.API.STREAM.CREATE.a", `{"name":"a/b"}`, "stream_create_response", 400, 10056, "stream name in subject does not match request"},
		{"$JS.API.STREAM.UPDATE.S", `{"name":"S","subjects":["foo.>"],"retention":"workqueue"}`, "stream_update_response", 500, 10052, "stream configuration update can not change retention policy to/from workqueue"},
		{"$JS.API.STREAM.UPDATE.S", `{"name":"S","subjects":["foo.>"],"storage":"memory"}`, "stream_update_response", 500, 10052, "stream configuration update can not change storage type"},
		{"$JS.API.STREAM.UPDATE.S", `{"name":"S","subjects":["foo.>"],"num_replicas":3}`, "stream_update_response", 500, 10074, "replicas > 1 not supported in non-clustered mode"},
		{"$JS.API.STREAM.UPDATE.Q", `{"name":"Q"}`, "stream_update_response", 404, 10059, "stream not found"},
		{"$JS.API.STREAM.CREATE.a/b", `{"name":"a/b"}`, "stream_create_response", 400, 10128, "Stream name can not contain path separators"},
		{"$JS.API.STREAM.CREATE.a*b", `{"name":"a*b"}`, "stream_create_response", 500, 10052, `stream name is required and can not contain '.', '*', '>', '\', '/'`},
		{"$JS.API.STREAM.INFO.NOPE", ``, "stream_info_response", 404, 10059, "stream not found"},
		{"$JS.API.STREAM.MSG.GET.S", `{"seq":9}`, "stream_msg_get_response", 404, 10037, "no message found"},
		{"$JS.API.STREAM.MSG.GET.S", ``, "stream_msg_get_response", 400, 10003, "bad request"},
		{"$JS.API.STREAM.MSG.GET.S", `{"seq":1,"last_by_subj":"foo.a"}`, "stream_msg_get_response", 400, 10003, "bad request"},
		{"$JS.API.STREAM.MSG.DELETE.S", `{"seq":1}`, "stream_msg_delete_response", 500, 10057, "stream store EOF"},
		{"$JS.API.STREAM.MSG.DELETE.S", `{"seq":0}`, "stream_msg_delete_response", 500, 10057, "no message found"},
		{"$JS.API.STREAM.PURGE.S", `{"seq":1,"keep":1}`, "stream_purge_response", 400, 10003, "bad request"},
		{"$JS.API.STREAM.DELETE.S", `{"x":1}`, "stream_delete_response", 400, 10038, "expected an empty request payload"},
		{"$JS.API.CONSUMER.CREATE.S.C", `{}`, "consumer_create_response", 400, 10056, "stream name in subject does not match request"},
		{"$JS.API.STREAM.DELETE.S", ``, "stream_delete_response", 0, 0, ""},
		{"$JS.API.STREAM.DELETE.S", ``, "stream_delete_response", 404, 10059, "stream not found"},
	} {
		m := jsReq(t, nc, tc.subj, tc.body)
		if m["type"] != "io.nats.jetstream.api.v1."+tc.typ {
			t.Errorf("%s %s: type %v", tc.subj, tc.body, m["type"])
		}
		code, errCode, desc := apiErr(m)
		if code != tc.code || errCode != tc.errCode || desc != tc.desc {
			t.Errorf("%s %s: error %v/%v %q, want %v/%v %q", tc.subj, tc.body, code, errCode, desc, tc.code, tc.errCode, tc.desc)
		}
	}
	m := jsReq(t, nc, "$JS.API.INFO", "")
	api := m["api"].(map[string]any)
	if api["level"] != 5.0 || api["total"] != 31.0 || api["errors"] != 28.0 {
		t.Errorf("api stats %v", api)
	}
}

// The reference's exact StreamInfo fields for a new stream, and the paged
// NAMES/LIST answers.
func TestJetStreamAPIStreamInfoShape(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	m := jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S"}`)
	cfg := m["config"].(map[string]any)
	want := map[string]any{"name": "S", "retention": "limits", "max_consumers": -1.0, "max_msgs": -1.0,
		"max_bytes": -1.0, "max_age": 0.0, "max_msgs_per_subject": -1.0, "max_msg_size": -1.0, "discard": "old",
		"storage": "file", "num_replicas": 1.0, "duplicate_window": 120e9, "compression": "none",
		"allow_direct": false, "mirror_direct": false, "sealed": false, "deny_delete": false, "deny_purge": false,
		"allow_rollup_hdrs": false, "allow_msg_ttl": false}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("config %s = %v, want %v", k, cfg[k], v)
		}
	}
	if subj, _ := json.Marshal(cfg["subjects"]); string(subj) != `["S"]` {
		t.Errorf("subjects %s", subj)
	}
	md := cfg["metadata"].(map[string]any)
	if md["_nats.req.level"] != "0" || md["_nats.level"] != "5" || md["_nats.ver"] == nil {
		t.Errorf("metadata %v", md)
	}
	st := m["state"].(map[string]any)
	if st["messages"] != 0.0 || st["first_seq"] != 0.0 || st["last_seq"] != 0.0 || m["did_create"] != true {
		t.Errorf("state %v did_create %v", st, m["did_create"])
	}
	if m["cluster"] != nil {
		t.Errorf("create answers without cluster, as the reference: %v", m["cluster"])
	}
	if c := jsReq(t, nc, "$JS.API.STREAM.INFO.S", "")["cluster"].(map[string]any); c["leader"] != s.Name() {
		t.Errorf("cluster %v", c)
	}
	jsReq(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A","subjects":["a.*"],"storage":"memory"}`)
	n := jsReq(t, nc, "$JS.API.STREAM.NAMES", "")
	if b, _ := json.Marshal(n["streams"]); string(b) != `["A","S"]` || n["total"] != 2.0 || n["limit"] != 1024.0 {
		t.Errorf("names %v", n)
	}
	if n := jsReq(t, nc, "$JS.API.STREAM.NAMES", `{"offset":5}`); n["offset"] != 2.0 || n["streams"] != nil {
		t.Errorf("names past the end: %v", n)
	}
	n = jsReq(t, nc, "$JS.API.STREAM.NAMES", `{"subject":"a.b"}`)
	if b, _ := json.Marshal(n["streams"]); string(b) != `["A"]` {
		t.Errorf("names filtered %v", n)
	}
	l := jsReq(t, nc, "$JS.API.STREAM.LIST", `{"offset":1}`)
	if l["total"] != 2.0 || l["offset"] != 1.0 || l["limit"] != 256.0 || len(l["streams"].([]any)) != 1 {
		t.Errorf("list %v", l)
	}
}

// Unknown API subjects are left unanswered, as the reference does; INFO
// advertises JetStream.
func TestJetStreamAPIUnknownSubjectAndInfo(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	if _, err := nc.Request("$JS.API.NOPE", nil, 300*time.Millisecond); err != nats.ErrTimeout {
		t.Fatalf("unknown subject: %v, want a timeout", err)
	}
	rc := dialRaw(t, s)
	if !strings.Contains(rc.info, `"jetstream":true`) || !strings.Contains(rc.info, `"api_lvl":5`) {
		t.Fatalf("INFO %s", rc.info)
	}
	m := jsReq(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S"}`)
	if _, _, d := apiErr(m); d != "" {
		t.Fatal(d)
	}
	hdr := nats.Header{"Nats-Required-Api-Level": []string{"6"}}
	msg, err := nc.RequestMsg(&nats.Msg{Subject: "$JS.API.INFO", Header: hdr}, 2*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), `"err_code":10185`) {
		t.Fatalf("api level: %v %s", err, msg.Data)
	}
}

// jetstream {} without store_dir and accounts with jetstream enabled.
func TestJetStreamConfigEnablesAccounts(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir, "js.conf", "listen: 127.0.0.1:-1\njetstream { store_dir: \""+filepath.ToSlash(dir)+
		"\" }\naccounts { A { jetstream: enabled, users: [{user: a, password: a}] }, B { users: [{user: b, password: b}] } }\n")
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s := RunServer(t, o)
	a := connect(t, s, nats.UserInfo("a", "a"))
	if m := jsReq(t, a, "$JS.API.STREAM.CREATE.S", `{"name":"S"}`); m["error"] != nil {
		t.Fatalf("account A: %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "A", "streams", "S", "meta.inf")); err != nil {
		t.Fatalf("stream layout: %v", err)
	}
	b := connect(t, s, nats.UserInfo("b", "b"))
	if m := jsReq(t, b, "$JS.API.INFO", ""); m["type"] != "io.nats.jetstream.api.v1.account_info_response" {
		t.Fatalf("account B: %v", m)
	} else if code, ec, d := apiErr(m); code != 503 || ec != 10039 || d != "JetStream not enabled for account" {
		t.Fatalf("account B: %v", m)
	}
	for _, bad := range []string{"jetstream { tpm { keys_file: x } }", "jetstream { limits { batch { max_msgs: 3 } } }"} {
		o, err := server.ProcessConfigFile(writeConf(t, dir, "bad.conf", bad))
		if err == nil {
			_, err = server.NewServer(o)
		}
		if err == nil || !strings.Contains(err.Error(), "not supported yet") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// The create response, byte for byte as the reference v2.15.2 sends it
// (observed), apart from the two timestamps.
func TestJetStreamAPIExactCreateJSON(t *testing.T) {
	s, _ := runJS(t)
	nc := connect(t, s)
	msg, err := nc.Request("$JS.API.STREAM.CREATE.S", []byte(`{"name":"S","description":"d","no_ack":true,"first_seq":5,`+
		`"discard_new_per_subject":true,"discard":"new","max_msgs_per_subject":2}`), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`"(created|ts)":"[^"]+"`).ReplaceAllString(string(msg.Data), `"$1":"T"`)
	want := `{"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"S","description":"d","subjects":["S"],` +
		`"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":2,` +
		`"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":1,"no_ack":true,"duplicate_window":120000000000,` +
		`"compression":"none","first_seq":5,"allow_direct":false,"mirror_direct":false,"discard_new_per_subject":true,` +
		`"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},` +
		`"allow_msg_ttl":false,"metadata":{"_nats.level":"5","_nats.req.level":"0","_nats.ver":"2.15.2"}},"created":"T",` +
		`"state":{"messages":0,"bytes":0,"first_seq":5,"first_ts":"0001-01-01T00:00:00Z","last_seq":4,` +
		`"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"ts":"T","did_create":true}`
	if got != want {
		t.Fatalf("create response\n got %s\nwant %s", got, want)
	}
}

// /jsz and /varz report JetStream with its configuration and totals.
func TestJetStreamMonitoring(t *testing.T) {
	o := DefaultTestOptions()
	o.JetStream, o.StoreDir, o.HTTPHost, o.HTTPPort = true, t.TempDir(), "127.0.0.1", -1
	o.JetStreamMaxMemory = 1 << 20
	s := RunServer(t, o)
	nc := connect(t, s)
	jsReq(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A"}`)
	if _, err := nc.Request("A", []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	get := func(path string) map[string]any {
		resp, err := http.Get(fmt.Sprintf("http://%s%s", s.MonitorAddr(), path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	jsz := get("/jsz")
	cfg := jsz["config"].(map[string]any)
	if jsz["disabled"] != nil || jsz["streams"] != 1.0 || jsz["messages"] != 1.0 || jsz["accounts"] != 1.0 ||
		cfg["max_memory"] != float64(1<<20) || cfg["store_dir"] != filepath.Join(o.StoreDir, "jetstream") || cfg["strict"] != true {
		t.Fatalf("jsz %v", jsz)
	}
	if api := jsz["api"].(map[string]any); api["level"] != 5.0 || api["total"] != 1.0 {
		t.Fatalf("jsz api %v", api)
	}
	v := get("/varz")["jetstream"].(map[string]any)
	if v["config"].(map[string]any)["max_memory"] != float64(1<<20) || v["stats"].(map[string]any)["accounts"] != 1.0 ||
		v["limits"].(map[string]any)["default_max_consumers"] != 1000.0 {
		t.Fatalf("varz jetstream %v", v)
	}
}
