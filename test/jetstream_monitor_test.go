package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const monitorConf = `listen: 127.0.0.1:-1
http: 127.0.0.1:-1
server_name: mon
jetstream { store_dir: "STORE", domain: hub }
accounts {
  D { jetstream { max_mem: 1000, max_file: 1000 }, users [{user: d, password: d}] }
  E { jetstream: enabled, users [{user: e, password: e}] }
  SYS { users [{user: s, password: s}] }
}
system_account: SYS
`

// compact drops the indentation of monitoring JSON and blanks the times.
func compact(t *testing.T, body string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(body)); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return regexp.MustCompile(`"(now|created|first_ts|last_ts|time)":"[^"]+"`).ReplaceAllString(b.String(), `"$1":"T"`)
}

// /jsz with each option answers the reference's shapes (observed on
// v2.15.2): account details only when asked (accounts, streams, consumers
// or acc=), streams with streams or consumers, their config with config,
// paged with offset/limit; an account's reserved figures are its limits.
func TestJetStreamJszOptions(t *testing.T) {
	s, _ := runJSConf(t, monitorConf, "")
	d := connect(t, s, nats.UserInfo("d", "d"))
	jsReq(t, d, "$JS.API.STREAM.CREATE.M", `{"name":"M","storage":"memory"}`)
	jsReq(t, d, "M", "hello")
	base := fmt.Sprintf("http://%s/jsz", s.MonitorAddr())
	page := func(q string) string {
		code, body, _ := get(t, base+q)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		return compact(t, body)
	}
	plain := page("")
	if strings.Contains(plain, "account_details") || !strings.Contains(plain, `"accounts":2,`) ||
		!strings.Contains(plain, `"config":{"max_memory":`) || !strings.Contains(plain, `"domain":"hub","strict":true}`) ||
		!strings.HasSuffix(plain, `"streams":1,"consumers":0,"messages":1,"bytes":22,"total":2}`) {
		t.Fatalf("/jsz %s", plain)
	}
	dDetail := `{"name":"D","id":"D","memory":22,"storage":0,"reserved_memory":1000,"reserved_storage":1000,` +
		`"accounts":0,"ha_assets":0,"api":{"level":0,"total":1,"errors":0}`
	eDetail := `{"name":"E","id":"E","memory":0,"storage":0,"reserved_memory":18446744073709551615,` +
		`"reserved_storage":18446744073709551615,"accounts":0,"ha_assets":0,"api":{"level":0,"total":0,"errors":0}}`
	stream := `"stream_detail":[{"name":"M","created":"T","cluster":{"leader":"mon"},%s"state":{"messages":1,"bytes":22,` +
		`"first_seq":1,"first_ts":"T","last_seq":1,"last_ts":"T","num_subjects":1,"consumer_count":0}}]}`
	for _, tc := range []struct{ q, details string }{
		{"?accounts=true", `[` + dDetail + `},` + eDetail + `]`},
		{"?acc=D", `[` + dDetail + `}]`},
		{"?acc=NOPE", ``},
		{"?accounts=true&offset=1&limit=1", `[` + eDetail + `]`},
		{"?accounts=true&offset=2", ``},
		{"?acc=D&streams=true", `[` + dDetail + `,` + fmt.Sprintf(stream, "") + `]`},
		{"?acc=D&consumers=true", `[` + dDetail + `,` + fmt.Sprintf(stream, "") + `]`},
		{"?config=true", ``},
		{"?leader-only=true", ``},
	} {
		got := page(tc.q)
		want := `"bytes":22,"total":2}`
		if tc.details != "" {
			want = `"bytes":22,"account_details":` + tc.details + `,"total":2}`
		}
		if !strings.HasSuffix(got, want) {
			t.Errorf("/jsz%s\n got %s\nwant suffix %s", tc.q, got, want)
		}
	}
	cfg := page("?acc=D&streams=true&config=true")
	if !strings.Contains(cfg, `"cluster":{"leader":"mon"},"config":{"name":"M","subjects":["M"],`) ||
		!strings.Contains(cfg, `"metadata":{"_nats.req.level":"0"}},"state":`) {
		t.Fatalf("/jsz with config %s", cfg)
	}
	if code, body, _ := get(t, base+"?accounts=xx"); code != 400 ||
		body != `Error decoding boolean for 'accounts': strconv.ParseBool: parsing "xx": invalid syntax` {
		t.Fatalf("bad option: %d %q", code, body)
	}
}

// The system requests for JSZ: PING and by server id take the /jsz options
// as JSON; ACCOUNT.<acc>.JSZ answers the account's entry. System messages
// of a JetStream server say so, with the domain.
func TestJetStreamJszSystemRequests(t *testing.T) {
	s, _ := runJSConf(t, monitorConf, "")
	d := connect(t, s, nats.UserInfo("d", "d"))
	jsReq(t, d, "$JS.API.STREAM.CREATE.M", `{"name":"M","storage":"memory"}`)
	sys := connect(t, s, nats.UserInfo("s", "s"))
	req := func(subj, body string) map[string]any {
		msg, err := sys.Request(subj, []byte(body), 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		var m map[string]any
		json.Unmarshal(msg.Data, &m)
		if srv := m["server"].(map[string]any); srv["jetstream"] != true || srv["flags"] != 7.0 || srv["domain"] != "hub" {
			t.Fatalf("%s server %v", subj, srv)
		}
		return m
	}
	m := req("$SYS.REQ.SERVER.PING.JSZ", `{"account":"D","streams":true}`)
	det := m["data"].(map[string]any)["account_details"].([]any)
	if len(det) != 1 || det[0].(map[string]any)["stream_detail"] == nil {
		t.Fatalf("PING.JSZ %v", m["data"])
	}
	if m := req("$SYS.REQ.SERVER."+s.ID()+".JSZ", ""); m["data"].(map[string]any)["account_details"] != nil ||
		m["data"].(map[string]any)["streams"] != 1.0 {
		t.Fatalf("SERVER.<id>.JSZ %v", m["data"])
	}
	acc := req("$SYS.REQ.ACCOUNT.D.JSZ", "")["data"].(map[string]any)
	if acc["name"] != "D" || acc["reserved_memory"] != 1000.0 || acc["stream_detail"] != nil {
		t.Fatalf("ACCOUNT.D.JSZ %v", acc)
	}
	if e := req("$SYS.REQ.ACCOUNT.NOPE.JSZ", "")["error"].(map[string]any); e["code"] != 500.0 ||
		e["description"] != `account "NOPE" not found` {
		t.Fatalf("ACCOUNT.NOPE.JSZ %v", e)
	}
}

// /accountz shows which accounts have JetStream, with the $JS.API.> service
// they import from the system account.
func TestJetStreamAccountz(t *testing.T) {
	s, _ := runJSConf(t, monitorConf, "")
	acc := httpJSON(t, s, "/accountz?acc=D")["account_detail"].(map[string]any)
	found := false
	for _, im := range acc["imports"].([]any) {
		m := im.(map[string]any)
		if m["subject"] == "$JS.API.>" && m["account"] == "SYS" && m["share"] == true && m["to"] == "$JS.API.>" {
			found = true
		}
	}
	if acc["jetstream_enabled"] != true || !found {
		t.Fatalf("accountz D %v", acc)
	}
	if sys := httpJSON(t, s, "/accountz?acc=SYS")["account_detail"].(map[string]any); sys["jetstream_enabled"] != false ||
		!strings.Contains(fmt.Sprint(sys["exports"]), "$JS.API.>") {
		t.Fatalf("accountz SYS %v", sys)
	}
	for _, q := range []string{"?js-enabled-only=true", "?js-server-only=true"} {
		if code, body, _ := get(t, fmt.Sprintf("http://%s/healthz%s", s.MonitorAddr(), q)); code != 200 || body != `{"status":"ok"}` {
			t.Fatalf("healthz%s: %d %s", q, code, body)
		}
	}
}
