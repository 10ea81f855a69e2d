package test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// sysAcctOptions: accounts A and SYS (the system account), with user a in
// A, a user with permissions (p), a user with subscribe permissions only
// (q), and sys; monitoring on.
func sysAcctOptions(o *server.Options) {
	o.ServerName = "sysacct"
	o.Accounts = []*server.AccountOpts{{Name: "SYS"}, {Name: "A"}}
	o.SystemAccount = "SYS"
	o.Users = []*server.User{
		{Username: "sys", Password: "sys", Account: "SYS"},
		{Username: "a", Password: "a", Account: "A"},
		{Username: "p", Password: "p", Account: "A", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"$SYS.REQ.>", "foo"}, Deny: []string{"foo.bar"}},
			Subscribe: &server.SubjectPermission{Deny: []string{"bar"}},
			Response:  &server.ResponsePermission{MaxMsgs: 3, Expires: 5 * time.Second},
		}},
		{Username: "q", Password: "q", Account: "A", Permissions: &server.Permissions{
			Subscribe: &server.SubjectPermission{Deny: []string{"y"}},
		}},
	}
}

// apiReply is the {server, data, error} envelope of system answers.
type apiReply struct {
	Server server.ServerInfo `json:"server"`
	Data   json.RawMessage   `json:"data"`
	Error  *server.APIError  `json:"error"`
}

// request sends a request and decodes the envelope, data into v if given.
func request(t *testing.T, nc *nats.Conn, subject, body string, v any) *apiReply {
	t.Helper()
	m, err := nc.Request(subject, []byte(body), 2*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	var r apiReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("%s: %v: %s", subject, err, m.Data)
	}
	if v != nil && r.Data != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("%s data: %v: %s", subject, err, r.Data)
		}
	}
	return &r
}

// expectSilence checks that requests (subject, body pairs) are received
// (no no-responders) but deliberately left unanswered. They are sent at
// once and awaited together, since only a timeout can show silence.
func expectSilence(t *testing.T, nc *nats.Conn, subjectBody ...string) {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox + ".*")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for i := 0; i+1 < len(subjectBody); i += 2 {
		m := nats.NewMsg(subjectBody[i])
		m.Reply, m.Data = fmt.Sprintf("%s.%d", inbox, i), []byte(subjectBody[i+1])
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		i, _ := strconv.Atoi(m.Subject[len(inbox)+1:])
		t.Errorf("%s %s: want no answer, got %q %q", subjectBody[i], subjectBody[i+1], m.Header, m.Data)
	} else if !errors.Is(err, nats.ErrTimeout) {
		t.Fatal(err)
	}
}

func TestSystemImportsServeOrdinaryAccounts(t *testing.T) {
	s, _ := runMonitored(t, sysAcctOptions)
	connect(t, s, nats.UserInfo("sys", "sys"))
	a := connect(t, s, nats.UserInfo("a", "a"))
	p := connect(t, s, nats.UserInfo("p", "p"))
	q := connect(t, s, nats.UserInfo("q", "q"))

	var ui server.UserInfo
	request(t, a, "$SYS.REQ.USER.INFO", "", &ui)
	if ui.UserID != "a" || ui.Account != "A" || ui.AccountName != "A" || ui.Permissions != nil {
		t.Errorf("user info of a: %+v", ui)
	}
	ui = server.UserInfo{}
	r := request(t, p, "$SYS.REQ.USER.INFO", "", &ui)
	want := `{"publish":{"allow":["$SYS.REQ.\u003e","foo"],"deny":["foo.bar"]},"subscribe":{"deny":["bar"]},"responses":{"max":3,"ttl":5000000000}}`
	if perms, _ := json.Marshal(ui.Permissions); ui.UserID != "p" || string(perms) != want {
		t.Errorf("user info of p: %s", r.Data)
	}
	// Both lists are shown once a user has permissions, empty if unset.
	r = request(t, q, "$SYS.REQ.USER.INFO", "", nil)
	if !strings.Contains(string(r.Data), `"permissions":{"publish":{},"subscribe":{"deny":["y"]}}`) {
		t.Errorf("user info of q: %s", r.Data)
	}

	// Connections: only the requester's account, whichever subject it uses.
	for _, subj := range []string{"$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"} {
		var cz server.Connz
		r := request(t, a, subj, `{"acc":"SYS"}`, &cz)
		if r.Server.ID != s.ID() || cz.NumConns != 3 || len(cz.Conns) != 3 {
			t.Errorf("%s: %s", subj, r.Data)
		}
	}
	var st server.Accstatz
	request(t, a, "$SYS.REQ.ACCOUNT.PING.STATZ", `{"accounts":["SYS"],"include_unused":true}`, &st)
	if len(st.Accounts) != 1 || st.Accounts[0].Account != "A" || st.Accounts[0].Conns != 3 ||
		st.Accounts[0].NumSubs < 4 || st.Accounts[0].Received.Msgs == 0 {
		t.Errorf("statz for A: %+v", st.Accounts)
	}
	// What the system account keeps for itself stays out of reach.
	if _, err := a.Request("$SYS.REQ.SERVER.PING.VARZ", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("VARZ from an ordinary account: %v", err)
	}
}

func TestAccountzShowsSystemImportsAndExports(t *testing.T) {
	_, base := runMonitored(t, sysAcctOptions)
	imports := func(acc string) []string {
		det := getMap(t, base+"/accountz?acc="+acc)["account_detail"].(map[string]any)
		if _, ok := det["is_system"]; ok {
			t.Errorf("%s: is_system shown on an ordinary account", acc)
		}
		var out []string
		for _, im := range list(t, det, "imports") {
			out = append(out, fmt.Sprintf("%v %v %v %v %v %v %v %v", im["subject"], im["account"], im["to"],
				im["local_subject"], im["type"], im["invalid"], im["share"], im["tracking"]))
		}
		sort.Strings(out)
		return out
	}
	want := []string{
		"$SYS.REQ.ACCOUNT.%[1]s.CONNZ SYS $SYS.REQ.ACCOUNT.PING.CONNZ $SYS.REQ.ACCOUNT.PING.CONNZ service false false false",
		"$SYS.REQ.ACCOUNT.%[1]s.CONNZ SYS $SYS.REQ.SERVER.PING.CONNZ $SYS.REQ.SERVER.PING.CONNZ service false false false",
		"$SYS.REQ.ACCOUNT.%[1]s.STATZ SYS $SYS.REQ.ACCOUNT.PING.STATZ $SYS.REQ.ACCOUNT.PING.STATZ service false false false",
		"$SYS.REQ.USER.%[1]s.INFO SYS $SYS.REQ.USER.INFO $SYS.REQ.USER.INFO service false true false",
	}
	for _, acc := range []string{"A", "$G"} {
		var w []string
		for _, l := range want {
			w = append(w, fmt.Sprintf(l, acc))
		}
		if got := imports(acc); !reflect.DeepEqual(got, w) {
			t.Errorf("%s imports:\n%s\nwant\n%s", acc, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}

	det := getMap(t, base+"/accountz?acc=SYS")["account_detail"].(map[string]any)
	if det["is_system"] != true {
		t.Errorf("SYS: is_system %v", det["is_system"])
	}
	exports, _ := json.Marshal(det["exports"])
	wantExports := `[{"response_type":"Streamed","subject":"$SYS.REQ.ACCOUNT.*.CONNZ","type":"service"},` +
		`{"response_type":"Streamed","subject":"$SYS.REQ.ACCOUNT.*.STATZ","type":"service"},` +
		`{"response_type":"Singleton","subject":"$SYS.DEBUG.SUBSCRIBERS","type":"service"},` +
		`{"response_type":"Singleton","subject":"$SYS.REQ.USER.*.INFO","type":"service"}]`
	if string(exports) != wantExports {
		t.Errorf("SYS exports %s", exports)
	}
	sysImports, _ := json.Marshal(det["imports"])
	wantImports := `[{"account":"SYS","invalid":false,"local_subject":"$SYS.REQ.USER.INFO","share":true,` +
		`"subject":"$SYS.REQ.USER.SYS.INFO","to":"$SYS.REQ.USER.INFO","tracking":false,"type":"service"}]`
	if string(sysImports) != wantImports {
		t.Errorf("SYS imports %s", sysImports)
	}
}

func TestAccountStatzRequests(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	accounts := func(body string) []string {
		var st server.Accstatz
		request(t, sys, "$SYS.REQ.ACCOUNT.PING.STATZ", body, &st)
		var names []string
		for _, a := range st.Accounts {
			names = append(names, a.Account)
		}
		return names
	}
	if got := accounts(""); !reflect.DeepEqual(got, []string{"SYS"}) {
		t.Errorf("accounts in use: %v", got)
	}
	if got := accounts(`{"include_unused":true}`); !reflect.DeepEqual(got, []string{"$G", "A", "SYS"}) {
		t.Errorf("include_unused: %v", got)
	}
	if got := accounts(`{"accounts":["A","NOPE"],"include_unused":true}`); !reflect.DeepEqual(got, []string{"A"}) {
		t.Errorf("named accounts: %v", got)
	}
	// Nothing to report: silence, so that cluster-wide gathering ends at its timeout.
	expectSilence(t, sys, "$SYS.REQ.ACCOUNT.PING.STATZ", `{"accounts":["A","NOPE"]}`,
		"$SYS.REQ.ACCOUNT.A.STATZ", "", "$SYS.REQ.ACCOUNT.A.CONNS", "")
	var st server.Accstatz
	request(t, sys, "$SYS.REQ.ACCOUNT.A.STATZ", `{"include_unused":true}`, &st)
	if len(st.Accounts) != 1 || st.Accounts[0].Account != "A" || st.Accounts[0].Conns != 0 {
		t.Errorf("A.STATZ include_unused: %+v", st.Accounts)
	}
	if r := request(t, sys, "$SYS.REQ.ACCOUNT.PING.STATZ", "{bad", nil); r.Error == nil || r.Error.Code != 400 {
		t.Errorf("bad options: %+v", r.Error)
	}
	r := request(t, sys, "$SYS.REQ.ACCOUNT.NOPE.INFO", "", nil)
	if r.Error == nil || r.Error.Code != 500 || r.Error.Description != "Account NOPE does not exist" || string(r.Data) != "null" {
		t.Errorf("INFO of an unknown account: %+v %s", r.Error, r.Data)
	}
}

// optionsWith applies tweak to the default test options.
func optionsWith(tweak func(*server.Options)) *server.Options {
	o := DefaultTestOptions()
	tweak(o)
	return o
}

func TestUnknownSystemRequestsGetNoResponders(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	for _, subj := range []string{"$SYS.REQ.SERVER.PING.NOSUCH", "$SYS.REQ.SERVER." + s.ID() + ".NOSUCH",
		"$SYS.REQ.ACCOUNT.A.NOSUCH", "$SYS.REQ.SERVER.PING.KICK"} {
		start := time.Now()
		if _, err := sys.Request(subj, nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("%s: %v after %v", subj, err, time.Since(start))
		}
	}
}

func TestServerRequests(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	direct := "$SYS.REQ.SERVER." + s.ID() + "."
	for _, kind := range []string{"IPQUEUESZ", "RAFTZ"} {
		for _, subj := range []string{"$SYS.REQ.SERVER.PING." + kind, direct + kind} {
			if r := request(t, sys, subj, "", nil); r.Error != nil || string(r.Data) != "{}" || r.Server.ID != s.ID() {
				t.Errorf("%s: %s %+v", subj, r.Data, r.Error)
			}
		}
	}
	var ev struct {
		MemStats struct{ HeapAlloc uint64 } `json:"memstats"`
		Cmdline  []string                   `json:"cmdline"`
	}
	if request(t, sys, "$SYS.REQ.SERVER.PING.EXPVARZ", "", &ev); ev.MemStats.HeapAlloc == 0 || len(ev.Cmdline) == 0 {
		t.Errorf("EXPVARZ: %+v", ev)
	}
	for body, want := range map[string]string{
		``:                                   "Profile name not specified",
		`{"name":"bogus"}`:                   `Profile "bogus" not found`,
		`{"name":"cpu"}`:                     "Duration 0s should be between 0s and 15s",
		`{"name":"cpu","duration":-5}`:       "Duration -5ns should be between 0s and 15s",
		`{"name":"goroutine","debug":0}`:     "",
		`{"name":"cpu","duration":50000000}`: "",
	} {
		var pz struct {
			Profile []byte  `json:"profile"`
			Error   *string `json:"error"`
		}
		r := request(t, sys, direct+"PROFILEZ", body, &pz)
		if r.Error != nil || pz.Error == nil || *pz.Error != want || (want == "") != (len(pz.Profile) > 2 && pz.Profile[0] == 0x1f) {
			t.Errorf("PROFILEZ %s: %.200s", body, r.Data)
		}
	}
	// A profile with debug > 0 is text.
	var pz struct{ Profile string }
	request(t, sys, direct+"PROFILEZ", `{"name":"goroutine","debug":1}`, &pz)
	if txt, _ := base64.StdEncoding.DecodeString(pz.Profile); !strings.HasPrefix(string(txt), "goroutine profile") {
		t.Errorf("text profile: %.80s", pz.Profile)
	}
}

func TestKickRequest(t *testing.T) {
	s, base := runMonitored(t, sysAcctOptions)
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	closed := make(chan struct{})
	a := connect(t, s, nats.UserInfo("a", "a"), nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	cid, err := a.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	kick := "$SYS.REQ.SERVER." + s.ID() + ".KICK"
	r := request(t, sys, kick, fmt.Sprintf(`{"cid":%d}`, cid), nil)
	if r.Error != nil || r.Data != nil || r.Server.ID != s.ID() {
		t.Fatalf("kick: %+v %s", r.Error, r.Data)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("kicked client still connected")
	}
	// The closed connection is recorded by the goroutine that removes it,
	// which may run after the client saw its socket close.
	var c []map[string]any
	waitFor(t, 5*time.Second, "the kicked connection in /connz?state=closed", func() bool {
		c = closedConns(t, fmt.Sprintf("%s/connz?state=closed&cid=%d", base, cid))
		return len(c) > 0
	})
	if len(c) != 1 || c[0]["reason"] != "Kicked" {
		t.Errorf("closed connection: %v", c)
	}
	r = request(t, sys, kick, `{"cid":999999}`, nil)
	if r.Error == nil || r.Error.Code != 500 || r.Error.Description != "no such client or leafnode id" || r.Data != nil {
		t.Errorf("kick unknown: %+v %s", r.Error, r.Data)
	}
	// A request that cannot be read is logged, not answered, as with the reference.
	expectSilence(t, sys, kick, "")
}

func TestReloadRequest(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := func(extra string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\nsystem_account: SYS\naccounts {\n"+
			"  A { users [{user: a, password: a}%s] }\n  SYS { users [{user: sys, password: sys}] }\n}\n", port, extra)
	}
	cfg := writeConf(t, dir, "s.conf", conf(""))
	s := runConfigServer(t, cfg)
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	reload := "$SYS.REQ.SERVER." + s.ID() + ".RELOAD"
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("b", "b")); err == nil {
		t.Fatal("b is not configured yet")
	}
	writeConf(t, dir, "s.conf", conf(", {user: b, password: b}"))
	if r := request(t, sys, reload, "", nil); r.Error != nil || r.Data != nil || r.Server.ID != s.ID() {
		t.Fatalf("reload: %+v %s", r.Error, r.Data)
	}
	connect(t, s, nats.UserInfo("b", "b"))

	writeConf(t, dir, "s.conf", conf("")+"no_such_option: 1\n")
	if r := request(t, sys, reload, "", nil); r.Error == nil || r.Error.Code != 500 || !strings.Contains(r.Error.Description, "no_such_option") {
		t.Errorf("reload of a broken file: %+v", r.Error)
	}
	if r := request(t, sys, reload, "not json", nil); r.Error == nil || r.Error.Code != 400 {
		t.Errorf("reload with bad options: %+v", r.Error)
	}
}

// The advisory counts as the client sees it: "sent" is what it published,
// "received" what was delivered to it (observed on the reference).
func TestDisconnectAdvisoryCounters(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	disc, _ := sys.SubscribeSync("$SYS.ACCOUNT.A.DISCONNECT")
	sys.Flush()
	a1, err := nats.Connect(s.ClientURL(), nats.UserInfo("a", "a"))
	if err != nil {
		t.Fatal(err)
	}
	a2 := connect(t, s, nats.UserInfo("a", "a"))
	in, _ := a1.SubscribeSync("foo")
	a1.Flush()
	for i := 0; i < 3; i++ {
		a1.Publish("bar", []byte("0123456789"))
	}
	a1.Flush()
	for i := 0; i < 2; i++ {
		a2.Publish("foo", []byte("abcdefg"))
	}
	a2.Flush()
	for i := 0; i < 2; i++ {
		if _, err := in.NextMsg(2 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	a1.Close()
	var de server.DisconnectEventMsg
	nextJSON(t, disc, &de)
	if de.Sent != (server.MsgBytes{Msgs: 3, Bytes: 30}) || de.Received != (server.MsgBytes{Msgs: 2, Bytes: 14}) {
		t.Errorf("sent %+v received %+v", de.Sent, de.Received)
	}
}

func TestDebugSubscribers(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	other := connect(t, s, nats.UserInfo("sys", "sys"))
	other.SubscribeSync("foo")
	other.QueueSubscribeSync("foo", "q")
	other.SubscribeSync("bar.*")
	other.Flush()
	for body, want := range map[string]string{"foo": "2", "foo q": "1", "foo r": "0", "bar.x": "1", "*": "2", "baz": "0"} {
		m, err := sys.Request("$SYS.DEBUG.SUBSCRIBERS", []byte(body), 2*time.Second)
		if err != nil || string(m.Data) != want {
			t.Errorf("%q: %v %q, want %s", body, err, m.Data, want)
		}
	}
}

func TestAccountzShowsConfiguredImportsExports(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConf(t, dir, "ie.conf", fmt.Sprintf(`listen: 127.0.0.1:%d
http: 127.0.0.1:%d
accounts {
  E { users [{user: e, password: e}]
      exports [ {stream: "ev.>"}, {service: "svc.*", accounts: [I], response_type: stream}, {service: "single"}, {stream: "priv", accounts: [I]} ] }
  I { users [{user: i, password: i}]
      imports [ {stream: {account: E, subject: "ev.>"}, prefix: "pfx"}, {service: {account: E, subject: "svc.a"}, to: "local.a"},
                {service: {account: E, subject: "single"}}, {stream: {account: E, subject: "priv"}, to: "mine"} ] }
}
`, freePort(t), freePort(t)))
	s := runConfigServer(t, cfg)
	base := "http://" + s.MonitorAddr().String()
	detail := func(acc, key string) string {
		b, _ := json.Marshal(getMap(t, base+"/accountz?acc="+acc)["account_detail"].(map[string]any)[key])
		return string(b)
	}
	// As the reference shows them: services first, then streams.
	wantExports := `[{"approved_accounts":["I"],"response_type":"Streamed","subject":"svc.*","type":"service"},` +
		`{"response_type":"Singleton","subject":"single","type":"service"},` +
		`{"subject":"ev.\u003e","type":"stream"},{"approved_accounts":["I"],"subject":"priv","type":"stream"}]`
	if got := detail("E", "exports"); got != wantExports {
		t.Errorf("exports\n%s\nwant\n%s", got, wantExports)
	}
	got := detail("I", "imports")
	for _, want := range []string{
		`{"account":"E","invalid":false,"local_subject":"pfx.ev.\u003e","share":false,"subject":"ev.\u003e","tracking":false,"type":"stream"}`,
		`{"account":"E","invalid":false,"local_subject":"local.a","share":false,"subject":"svc.a","to":"local.a","tracking":false,"type":"service"}`,
		`{"account":"E","invalid":false,"local_subject":"single","share":false,"subject":"single","to":"single","tracking":false,"type":"service"}`,
		`{"account":"E","invalid":false,"local_subject":"mine","share":false,"subject":"priv","tracking":false,"type":"stream"}`,
		`"subject":"$SYS.REQ.USER.I.INFO"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("imports lack %s:\n%s", want, got)
		}
	}
}

// After the PONG that answers the first PING after CONNECT, a client of
// protocol 1 learns its account and whether it is the system account.
func TestConnectInfoNamesAccount(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	for _, tc := range []struct{ user, acc, sys string }{{"sys", "SYS", `,"acc_is_sys":true`}, {"a", "A", ""}} {
		rc := dialRaw(t, s)
		rc.send(fmt.Sprintf(`CONNECT {"user":%q,"pass":%q,"protocol":1,"verbose":false}`+"\r\nPING\r\nPING\r\n", tc.user, tc.user))
		rc.expect("PONG")
		info := rc.readLine()
		want := fmt.Sprintf(`"connect_info":true,"remote_account":%q%s,"api_lvl"`, tc.acc, tc.sys)
		if !strings.HasPrefix(info, "INFO ") || !strings.Contains(info, want) {
			t.Errorf("%s: %s, want %s", tc.user, info, want)
		}
		rc.expect("PONG") // once only
	}
	// Protocol 0 clients do not expect asynchronous INFO.
	rc := dialRaw(t, s)
	rc.send(`CONNECT {"user":"a","pass":"a","protocol":0,"verbose":false}` + "\r\nPING\r\nPING\r\n")
	rc.expect("PONG")
	rc.expect("PONG")

	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	a := connect(t, s, nats.UserInfo("a", "a"))
	waitFor(t, 2*time.Second, "nats.go to see the system account", sys.IsSystemAccount)
	if a.IsSystemAccount() {
		t.Error("a is not in the system account")
	}
}

// Requesters may ask for monitoring answers compressed, as the nats CLI does.
func TestCompressedAnswers(t *testing.T) {
	s := RunServer(t, optionsWith(sysAcctOptions))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	a := connect(t, s, nats.UserInfo("a", "a"))
	ask := func(nc *nats.Conn, subject, accept string) (string, []byte) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Header.Set("Accept-Encoding", accept)
		r, err := nc.RequestMsg(m, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		enc := r.Header.Get("Content-Encoding")
		var rd io.Reader = bytes.NewReader(r.Data)
		switch enc {
		case "gzip":
			if rd, err = gzip.NewReader(rd); err != nil {
				t.Fatalf("%s: %v", subject, err)
			}
		case "snappy":
			rd = s2.NewReader(rd)
		}
		b, err := io.ReadAll(rd)
		if err != nil || !json.Valid(b) {
			t.Fatalf("%s %s: %v %q", subject, enc, err, b)
		}
		return enc, b
	}
	for accept, want := range map[string]string{"gzip": "gzip", "snappy": "snappy", "GZIP, snappy": "snappy", "br": "identity"} {
		if enc, b := ask(sys, "$SYS.REQ.SERVER.PING.VARZ", accept); enc != want || !strings.Contains(string(b), s.ID()) {
			t.Errorf("VARZ accepting %s: %s %.80s", accept, enc, b)
		}
		if enc, _ := ask(a, "$SYS.REQ.SERVER.PING.CONNZ", accept); enc != want {
			t.Errorf("CONNZ through the import accepting %s: %s", accept, enc)
		}
	}
	// As the reference: these are always plain.
	for _, subj := range []string{"$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.STATSZ", "$SYS.REQ.SERVER.PING.IDZ", "$SYS.REQ.USER.INFO"} {
		if enc, _ := ask(sys, subj, "gzip"); enc != "" {
			t.Errorf("%s compressed: %s", subj, enc)
		}
	}
}

// A request for all servers may name which of them should answer.
func TestSystemRequestServerFilter(t *testing.T) {
	s := RunServer(t, optionsWith(func(o *server.Options) {
		sysAcctOptions(o)
		o.ServerTags = []string{"blue", "az:1"}
	}))
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	for _, f := range []string{`{"server_name":"sysac"}`, `{"host":"127.0"}`, `{"tags":["BLUE","az:1"]}`, `{"cluster":""}`} {
		if r := request(t, sys, "$SYS.REQ.SERVER.PING.VARZ", f, nil); r.Server.ID != s.ID() {
			t.Errorf("%s: %+v", f, r)
		}
	}
	var silent []string
	for _, f := range []string{`{"server_name":"other"}`, `{"host":"10."}`, `{"tags":["blue","red"]}`, `{"cluster":"c1"}`, `{"server_name":"SYSACCT"}`} {
		silent = append(silent, "$SYS.REQ.SERVER.PING.VARZ", f, "$SYS.REQ.SERVER."+s.ID()+".CONNZ", f,
			"$SYS.REQ.ACCOUNT.SYS.CONNZ", f, "$SYS.REQ.ACCOUNT.PING.STATZ", f)
	}
	expectSilence(t, sys, silent...)
	if m, err := sys.Request("$SYS.REQ.SERVER.PING.IDZ", []byte(`{"server_name":"other"}`), 2*time.Second); err != nil || !strings.Contains(string(m.Data), s.ID()) {
		t.Errorf("IDZ answers any filter: %v", err)
	}
}
