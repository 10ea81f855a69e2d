package test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// mirrorConf has two JetStream accounts: B reaches A's JetStream API under
// $JS.A.API through a service import, as the reference's docs set up
// cross-account mirrors.
const mirrorConf = `
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q }
accounts {
  A { jetstream: enabled, users: [{user: a, password: a}], exports: [{service: "$JS.API.>"}, {stream: "dlv.>"}] }
  B { jetstream: enabled, users: [{user: b, password: b}],
      imports: [{service: {account: A, subject: "$JS.API.>"}, to: "$JS.A.API.>"}, {stream: {account: A, subject: "dlv.>"}}] }
}
`

// runMirrorServer starts an in-process server on mirrorConf and returns it
// with a connection to A and one to B.
func runMirrorServer(t *testing.T) (*server.Server, *nats.Conn, *nats.Conn) {
	t.Helper()
	dir := t.TempDir()
	conf := writeConf(t, dir, "m.conf", fmt.Sprintf(mirrorConf, freePort(t), freePort(t), filepath.Join(dir, "store")))
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s := RunServer(t, o)
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	return s, a, b
}

// jsOK sends an API request that must succeed.
func jsOK(t *testing.T, nc *nats.Conn, subj, body string) map[string]any {
	t.Helper()
	m := jsReq(t, nc, subj, body)
	if _, _, desc := apiErr(m); desc != "" {
		t.Fatalf("%s %s: %s", subj, body, desc)
	}
	return m
}

// rawField returns one top-level field of an API response as sent.
func rawField(t *testing.T, nc *nats.Conn, subj, body, field string) string {
	t.Helper()
	msg, err := nc.Request(subj, []byte(body), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		t.Fatal(err)
	}
	return string(m[field])
}

// rawSource returns the "mirror" object (i < 0) or the i-th source of a
// stream's info, as sent.
func rawSource(t *testing.T, nc *nats.Conn, stream string, i int) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if i < 0 {
		json.Unmarshal([]byte(rawField(t, nc, "$JS.API.STREAM.INFO."+stream, "", "mirror")), &m)
		return m
	}
	var l []map[string]json.RawMessage
	json.Unmarshal([]byte(rawField(t, nc, "$JS.API.STREAM.INFO."+stream, "", "sources")), &l)
	if i >= len(l) {
		t.Fatalf("%s has %d sources", stream, len(l))
	}
	return l[i]
}

// sourceInfo returns the "mirror" object, or the i-th of "sources", of a
// stream's info.
func sourceInfo(t *testing.T, nc *nats.Conn, stream string, i int) map[string]any {
	t.Helper()
	m := jsOK(t, nc, "$JS.API.STREAM.INFO."+stream, "")
	if i < 0 {
		mi, _ := m["mirror"].(map[string]any)
		return mi
	}
	srcs, _ := m["sources"].([]any)
	if i >= len(srcs) {
		t.Fatalf("%s has %d sources: %v", stream, len(srcs), m)
	}
	return srcs[i].(map[string]any)
}

func waitMsgs(t *testing.T, nc *nats.Conn, stream string, n float64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%s to hold %v messages", stream, n), func() bool {
		return streamState(t, nc, stream)["messages"] == n
	})
}

type storedMsg struct {
	Subject string `json:"subject"`
	Seq     uint64 `json:"seq"`
	Hdrs    []byte `json:"hdrs"`
	Data    []byte `json:"data"`
	Time    string `json:"time"`
}

// getMsg loads a stored message with MSG.GET.
func getMsg(t *testing.T, nc *nats.Conn, stream string, seq uint64) *storedMsg {
	t.Helper()
	msg, err := nc.Request("$JS.API.STREAM.MSG.GET."+stream, []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Message *storedMsg `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Message == nil {
		t.Fatalf("%s seq %d: %s", stream, seq, msg.Data)
	}
	return r.Message
}

func pub(t *testing.T, nc *nats.Conn, subj, data string, hdr ...string) {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte(data)
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := nc.RequestMsg(m, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(resp.Data), "error") {
		t.Fatalf("publish %s: %s", subj, resp.Data)
	}
}

// Config errors come back with the reference's code, err_code and text
// (each observed on v2.15.2 with the same requests).
func TestJetStreamMirrorConfigErrors(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.OL", `{"name":"OL","subjects":["ol"],"max_msg_size":100}`)
	for _, tc := range []struct {
		body    string
		code    float64
		errCode float64
		desc    string
	}{
		{`"subjects":["v1"],"mirror":{"name":"O"}`, 400, 10034, "stream mirrors can not contain subjects"},
		{`"mirror":{"name":"O"},"sources":[{"name":"S"}]`, 400, 10031, "stream mirrors can not also contain other sources"},
		{`"mirror":{"name":"O"},"first_seq":5`, 400, 10143, "stream mirrors can not have first sequence configured"},
		{`"mirror":{"name":"O.x"}`, 400, 10142, "mirrored stream name is invalid"},
		{`"mirror":{"name":""}`, 400, 10142, "mirrored stream name is invalid"},
		{`"mirror":{"name":"O","filter_subject":"o.1","subject_transforms":[{"src":"o.2","dest":"x"}]}`, 400, 10150, "mirror with multiple subject transforms cannot also have a single subject filter"},
		{`"mirror":{"name":"O","subject_transforms":[{"src":"o..","dest":"x"}]}`, 400, 10151, "mirror transform source: invalid subject o.."},
		{`"mirror":{"name":"O","subject_transforms":[{"src":"o.*","dest":"x.$2"}]}`, 400, 10154, "mirror transform: invalid mapping destination: wildcard index out of range in $2: [2]"},
		{`"mirror":{"name":"O","subject_transforms":[{"src":"o.*","dest":"x"},{"src":"o.>","dest":"y"}]}`, 400, 10152, "mirror subject filters can not overlap"},
		{`"mirror":{"name":"O","subject_transforms":[{"src":"o.*","dest":"x"},{"src":"p.>","dest":"y"}]}`, 400, 10154, "mirror transform: invalid subject"},
		{`"mirror":{"name":"O","filter_subject":"o.*.."}`, 500, 10049, "subject filter 'o.*..' for the mirror invalid subject"},
		{`"mirror":{"name":"V"}`, 500, 10052, "detected cycle"},
		{`"mirror":{"name":"OL"},"max_msg_size":10`, 400, 10030, "stream mirror must have max message size >= source"},
		{`"mirror":{"name":"O"},"sealed":true`, 500, 10052, "stream configuration for create can not be sealed"},
		{`"sources":[{"name":"O.x"}]`, 400, 10141, "sourced stream name is invalid"},
		{`"sources":[{"name":"O"},{"name":"O"}]`, 400, 10140, "duplicate source configuration detected"},
		{`"sources":[{"name":"O","filter_subject":"o.1"},{"name":"O","filter_subject":"o.1"}]`, 400, 10140, "duplicate source configuration detected"},
		{`"sources":[{"name":"O","opt_start_seq":2},{"name":"O","opt_start_seq":3}]`, 400, 10140, "duplicate source configuration detected"},
		{`"sources":[{"name":"O","filter_subject":"o.1","subject_transforms":[{"src":"o.2","dest":"x"}]}]`, 400, 10144, "source with multiple subject transforms cannot also have a single subject filter"},
		{`"sources":[{"name":"O","subject_transforms":[{"src":"o..","dest":"x"}]}]`, 400, 10145, "source transform source: invalid subject o.."},
		{`"sources":[{"name":"O","subject_transforms":[{"src":"o.*","dest":"x.$2"}]}]`, 400, 10146, "source transform: invalid mapping destination: wildcard index out of range in $2: [2]"},
		{`"sources":[{"name":"O","subject_transforms":[{"src":"o.*","dest":"x"},{"src":"o.>","dest":"y"}]}]`, 400, 10146, "source transform: invalid subject"},
		{`"sources":[{"name":"O","subject_transforms":[{"src":"o.1","dest":"x"},{"src":"o.1","dest":"y"}]}]`, 400, 10147, "source filters can not overlap"},
		{`"sources":[{"name":"O","subject_transforms":[{"src":"","dest":"x.y"}]}]`, 400, 10146, "source transform: invalid subject"},
		{`"sources":[{"name":"O","subject_transforms":[{"src":"o.1","dest":"x..y"}]}]`, 400, 10146, "source transform: invalid mapping destination: invalid transform"},
		{`"sources":[{"name":"O","filter_subject":"o.*.."}]`, 500, 10049, "subject filter 'o.*..' for the source: invalid subject"},
		{`"sources":[{"name":"O","external":{"api":"$JS.A.API","deliver":"d.*"}}]`, 400, 10024, "stream external delivery prefix d.* must not contain wildcards"},
		{`"sources":[{"name":"O","external":{"api":"$JS.*.API","deliver":"d.x"}}]`, 500, 10052, `stream external api prefix "$JS.*.API" must be a valid subject without wildcards`},
		{`"sources":[{"name":"O","external":{"api":"$JS.API","deliver":"d.x"}}]`, 400, 10021, "stream external api prefix $JS.API must not overlap with $JS.API"},
		{`"sources":[{"name":"V"}]`, 500, 10052, "detected cycle"},
		{`"sources":[{"name":"OL"}],"max_msg_size":10`, 400, 10046, "stream source must have max message size >= target"},
		{`"subjects":["o.>"],"sources":[{"name":"O"}]`, 400, 10065, "subjects overlap with an existing stream"},
		{`"mirror":{"name":"O","filter_subject":"o.1","consumer":{"name":"c","deliver_subject":"x"}}`, 400, 10213, "stream mirror consumer config is invalid"},
		{`"mirror":{"name":"O"},"allow_msg_counter":true`, 400, 10173, "stream mirrors can not also calculate counters"},
		{`"mirror":{"name":"O"},"subject_delete_marker_ttl":1000000000`, 500, 10052, "subject delete markers forbidden on mirrors"},
		{`"mirror":{"name":"O"},"allow_atomic":true`, 400, 10198, "stream mirrors can not also use atomic publishing"},
		{`"mirror":{"name":"O"},"allow_batched":true`, 400, 10209, "stream mirrors can not also use batch publishing"},
		{`"mirror":{"name":"O"},"allow_msg_schedules":true`, 400, 10186, "stream mirrors can not also schedule messages"},
		{`"sources":[{"name":"O"}],"allow_msg_schedules":true`, 400, 10187, "stream source can not also schedule messages"},
	} {
		m := jsReq(t, a, "$JS.API.STREAM.CREATE.V", `{"name":"V",`+tc.body+`}`)
		if code, ec, desc := apiErr(m); code != tc.code || ec != tc.errCode || desc != tc.desc {
			t.Errorf("%s: got %v %v %q, want %v %v %q", tc.body, code, ec, desc, tc.code, tc.errCode, tc.desc)
		}
	}
	// A cycle through another stream, found on update as the reference does.
	jsOK(t, a, "$JS.API.STREAM.CREATE.C1", `{"name":"C1","sources":[{"name":"O"}]}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.C2", `{"name":"C2","mirror":{"name":"C1"}}`)
	if e := rawField(t, a, "$JS.API.STREAM.UPDATE.C1", `{"name":"C1","sources":[{"name":"O"},{"name":"C2"}]}`, "error"); e != `{"code":500,"err_code":10052,"description":"detected cycle"}` {
		t.Fatalf("cycle: %s", e)
	}
	// Accepted as the reference accepts them.
	for i, body := range []string{
		`"sources":[{"name":"O","filter_subject":"o.1"},{"name":"O","filter_subject":">"}]`,
		`"sources":[{"name":"O","subject_transforms":[{"src":"o.*.*","dest":"x.$2.$1"}]}]`,
		`"sources":[{"name":"O","external":{"api":"$JS.A.API"}},{"name":"O","external":{"api":"$JS.B.API"}}]`,
		`"mirror":{"name":"O","external":{"api":"$JS.API.FOO","deliver":"d.x"}}`,
		`"mirror":{"name":"O","subject_transforms":[{"src":"","dest":""}]}`,
		`"mirror":{"name":"O"},"max_msg_size":10`,
		`"mirror":{"name":"OL"},"max_msg_size":-1`,
	} {
		name := fmt.Sprintf("OK%d", i)
		jsOK(t, a, "$JS.API.STREAM.CREATE."+name, `{"name":"`+name+`",`+body+`}`)
	}
}

// A mirror's config is fixed: changing or adding one is refused (10055);
// removing it promotes the stream, which then takes the default subject and
// duplicate window. Sources may change.
func TestJetStreamMirrorUpdateRules(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.P", `{"name":"P","subjects":["p"]}`)
	cfg := jsOK(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"}}`)["config"].(map[string]any)
	if _, ok := cfg["subjects"]; ok || cfg["duplicate_window"] != nil {
		t.Fatalf("a mirror has no default subjects nor duplicate window: %v", cfg)
	}
	want := `{"code":400,"err_code":10055,"description":"stream mirror configuration can not be updated"}`
	for _, body := range []string{`{"name":"M","mirror":{"name":"O","filter_subject":"o.1"}}`, `{"name":"M","mirror":{"name":"P"}}`} {
		if e := rawField(t, a, "$JS.API.STREAM.UPDATE.M", body, "error"); e != want {
			t.Fatalf("update %s: %s", body, e)
		}
	}
	jsOK(t, a, "$JS.API.STREAM.CREATE.S", `{"name":"S","sources":[{"name":"O"}]}`)
	if e := rawField(t, a, "$JS.API.STREAM.UPDATE.S", `{"name":"S","mirror":{"name":"O"}}`, "error"); e != want {
		t.Fatalf("adding a mirror: %s", e)
	}
	pub(t, a, "o.1", "one")
	waitMsgs(t, a, "M", 1)
	cfg = jsOK(t, a, "$JS.API.STREAM.UPDATE.M", `{"name":"M"}`)["config"].(map[string]any)
	if fmt.Sprint(cfg["subjects"]) != "[M]" || cfg["duplicate_window"] != float64(2*time.Minute) {
		t.Fatalf("promoted: %v", cfg)
	}
	pub(t, a, "o.2", "two")
	pub(t, a, "M", "own")
	waitMsgs(t, a, "M", 2) // its own message, and no more copies
	if got := getMsg(t, a, "M", 2); got.Subject != "M" {
		t.Fatalf("after promotion: %+v", got)
	}
	// Sources may be added: the new one copies, the old one carries on.
	jsOK(t, a, "$JS.API.STREAM.UPDATE.S", `{"name":"S","sources":[{"name":"O"},{"name":"P"}]}`)
	pub(t, a, "p", "pee")
	waitMsgs(t, a, "S", 3)
}

// A mirror copies the origin message for message, with the origin's
// sequences and times, follows new messages as they come, and reports
// lag and active as the reference does.
func TestJetStreamMirrorFollowsOrigin(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	for i := 1; i <= 5; i++ {
		pub(t, a, fmt.Sprintf("o.%d", i), fmt.Sprintf("m%d", i), "Nats-Msg-Id", fmt.Sprintf("id%d", i))
	}
	if got := rawField(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"}}`, "mirror"); got != `{"name":"O","lag":0,"active":-1}` {
		t.Fatalf("create response mirror: %s", got)
	}
	waitMsgs(t, a, "M", 5)
	for seq := uint64(1); seq <= 5; seq++ {
		o, c := getMsg(t, a, "O", seq), getMsg(t, a, "M", seq)
		if o.Subject != c.Subject || string(o.Hdrs) != string(c.Hdrs) || string(o.Data) != string(c.Data) || o.Time != c.Time {
			t.Fatalf("seq %d: origin %+v mirror %+v", seq, o, c)
		}
	}
	mi := sourceInfo(t, a, "M", -1)
	if act, _ := mi["active"].(float64); mi["lag"] != 0.0 || act <= 0 || act > float64(time.Second) || len(mi) != 3 {
		t.Fatalf("mirror info: %v", mi)
	}
	// New messages are copied as they arrive.
	pub(t, a, "o.6", "m6")
	waitMsgs(t, a, "M", 6)

	// Filters, transforms and a start sequence: sequences stay the origin's.
	jsOK(t, a, "$JS.API.STREAM.CREATE.F", `{"name":"F","mirror":{"name":"O","filter_subject":"o.3"}}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.T", `{"name":"T","mirror":{"name":"O","opt_start_seq":4,"subject_transforms":[{"src":"o.*","dest":"m.$1"}]}}`)
	waitMsgs(t, a, "F", 1)
	waitMsgs(t, a, "T", 3)
	if st := streamState(t, a, "F"); st["first_seq"] != 3.0 || st["last_seq"] != 3.0 {
		t.Fatalf("filtered mirror: %v", st)
	}
	if fi, _ := json.Marshal(sourceInfo(t, a, "F", -1)["filter_subject"]); string(fi) != `"o.3"` {
		t.Fatalf("filtered mirror info: %s", fi)
	}
	if got := getMsg(t, a, "T", 5); got.Subject != "m.5" || string(got.Data) != "m5" {
		t.Fatalf("transformed: %+v", got)
	}
	if st := streamState(t, a, "T"); st["first_seq"] != 4.0 {
		t.Fatalf("start sequence: %v", st)
	}
	// A start time takes the first message stored at or after it.
	at := getMsg(t, a, "O", 3).Time
	jsOK(t, a, "$JS.API.STREAM.CREATE.ST", `{"name":"ST","mirror":{"name":"O","opt_start_time":"`+at+`"}}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.SS", `{"name":"SS","sources":[{"name":"O","opt_start_seq":5}]}`)
	waitMsgs(t, a, "ST", 4)
	waitMsgs(t, a, "SS", 2)
	if st := streamState(t, a, "ST"); st["first_seq"] != 3.0 {
		t.Fatalf("start time: %v", st)
	}
	if got := getMsg(t, a, "SS", 1); string(got.Data) != "m5" {
		t.Fatalf("source start sequence: %+v", got)
	}
}

// Purges and deletes on the origin leave gaps in the mirror at the same
// sequences; a mirror never refills them.
func TestJetStreamMirrorOriginGaps(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	for i := 1; i <= 4; i++ {
		pub(t, a, "o.x", fmt.Sprint(i))
	}
	jsOK(t, a, "$JS.API.STREAM.PURGE.O", `{"seq":3}`) // 1 and 2 gone
	jsOK(t, a, "$JS.API.STREAM.MSG.DELETE.O", `{"seq":4}`)
	pub(t, a, "o.x", "5")
	pub(t, a, "o.x", "6")
	jsOK(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"}}`)
	waitMsgs(t, a, "M", 3)
	st := jsOK(t, a, "$JS.API.STREAM.INFO.M", `{"deleted_details":true}`)["state"].(map[string]any)
	if st["first_seq"] != 3.0 || st["last_seq"] != 6.0 || fmt.Sprint(st["deleted"]) != "[4]" {
		t.Fatalf("mirror state: %v", st)
	}
	// A later purge of the origin does not reach the mirror; what follows is
	// copied at the origin's sequences.
	jsOK(t, a, "$JS.API.STREAM.PURGE.O", "")
	pub(t, a, "o.x", "7")
	waitMsgs(t, a, "M", 4)
	if got := getMsg(t, a, "M", 7); string(got.Data) != "7" {
		t.Fatalf("after purge: %+v", got)
	}
}

// Sourced messages carry Nats-Stream-Source as the reference writes it;
// clients may not send it; a source of a source rewrites it; messages are
// deduplicated by Nats-Msg-Id within the duplicate window.
func TestJetStreamSourcesHeadersAndDedupe(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	info := jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	created, _ := time.Parse(time.RFC3339Nano, info["created"].(string))
	ident := identity(created)
	for i := 1; i <= 4; i++ {
		pub(t, a, fmt.Sprintf("o.%d", i), fmt.Sprintf("m%d", i), "Nats-Msg-Id", fmt.Sprintf("id%d", i))
	}
	jsOK(t, a, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"],"sources":[{"name":"O","filter_subject":"o.2"},{"name":"O","subject_transforms":[{"src":"o.4","dest":"t.4"}]}]}`)
	waitMsgs(t, a, "S", 2)
	want := map[string]string{
		"o.2": "NATS/1.0\r\nNats-Msg-Id: id2\r\nNats-Stream-Source: O 2 o.2 > o.2 " + ident + "\r\n\r\n",
		"t.4": "NATS/1.0\r\nNats-Msg-Id: id4\r\nNats-Stream-Source: O 4 o.4 t.4 o.4 " + ident + "\r\n\r\n",
	}
	for seq := uint64(1); seq <= 2; seq++ {
		got := getMsg(t, a, "S", seq)
		if string(got.Hdrs) != want[got.Subject] {
			t.Fatalf("seq %d %s: %q", seq, got.Subject, got.Hdrs)
		}
	}
	waitFor(t, 5*time.Second, "source info", func() bool {
		src := sourceInfo(t, a, "S", 0)
		return src["seq"] == 2.0 && src["lag"] == 0.0 && src["filter_subject"] == "o.2"
	})

	// Only the server writes the header.
	resp, err := a.RequestMsg(&nats.Msg{Subject: "s.x", Header: nats.Header{"Nats-Stream-Source": {"O 1 > > o.1"}}}, 2*time.Second)
	if err != nil || string(resp.Data) != `{"error":{"code":400,"err_code":10227,"description":"message stream source header is not allowed"},"stream":"S","seq":0}` {
		t.Fatalf("client header: %s %v", resp.Data, err)
	}

	// A source of S rewrites the header with its own origin.
	info = jsOK(t, a, "$JS.API.STREAM.CREATE.S2", `{"name":"S2","sources":[{"name":"S"}]}`)
	if _, ok := info["config"].(map[string]any)["duplicate_window"]; ok {
		t.Fatalf("a sourcing stream has no default duplicate window: %v", info["config"])
	}
	waitMsgs(t, a, "S2", 2)
	sInfo := jsOK(t, a, "$JS.API.STREAM.INFO.S", "")
	sCreated, _ := time.Parse(time.RFC3339Nano, sInfo["created"].(string))
	// S's two sources run side by side: its first message is either.
	first := getMsg(t, a, "S", 1)
	id := map[string]string{"o.2": "id2", "t.4": "id4"}[first.Subject]
	if got := getMsg(t, a, "S2", 1); string(got.Hdrs) != "NATS/1.0\r\nNats-Msg-Id: "+id+"\r\nNats-Stream-Source: S 1 > > "+first.Subject+" "+identity(sCreated)+"\r\n\r\n" {
		t.Fatalf("source of a source: %q", got.Hdrs)
	}

	// Two sources of the same messages, deduplicated by their ids.
	jsOK(t, a, "$JS.API.STREAM.CREATE.P", `{"name":"P","subjects":["p.>"]}`)
	for i := 1; i <= 4; i++ {
		pub(t, a, fmt.Sprintf("p.%d", i), "dup", "Nats-Msg-Id", fmt.Sprintf("id%d", i))
	}
	jsOK(t, a, "$JS.API.STREAM.CREATE.D", `{"name":"D","duplicate_window":60000000000,"sources":[{"name":"O"},{"name":"P"}]}`)
	waitFor(t, 5*time.Second, "both sources copied", func() bool {
		return sourceInfo(t, a, "D", 0)["seq"] == 4.0 && sourceInfo(t, a, "D", 1)["seq"] == 4.0
	})
	if n := streamState(t, a, "D")["messages"]; n != 4.0 {
		t.Fatalf("deduplicated: %v messages", n)
	}
}

// identity is the reference's Nats-Stream-Identity of a creation time.
func identity(created time.Time) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(created.UTC().Format(time.RFC3339Nano)))
	b := make([]byte, 8)
	for i := range b {
		b[i] = digits[int(sum[i])%62]
	}
	return string(b)
}

// An origin in another account is reached through the api prefix's
// service import; an origin that is off this server shows as not active,
// as the reference shows an unreachable one.
func TestJetStreamMirrorExternalAccount(t *testing.T) {
	_, a, b := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	pub(t, a, "o.1", "one")
	jsOK(t, b, "$JS.API.STREAM.CREATE.BM", `{"name":"BM","mirror":{"name":"O","external":{"api":"$JS.A.API","deliver":"dlv.bm"}}}`)
	jsOK(t, b, "$JS.API.STREAM.CREATE.BS", `{"name":"BS","sources":[{"name":"O","external":{"api":"$JS.A.API","deliver":"dlv.bs"}}]}`)
	pub(t, a, "o.2", "two")
	waitMsgs(t, b, "BM", 2)
	waitMsgs(t, b, "BS", 2)
	info := jsOK(t, a, "$JS.API.STREAM.INFO.O", "")
	created, _ := time.Parse(time.RFC3339Nano, info["created"].(string))
	if got := getMsg(t, b, "BS", 2); string(got.Hdrs) != "NATS/1.0\r\nNats-Stream-Source: O:z0zeNTHp 2 > > o.2 "+identity(created)+"\r\n\r\n" {
		t.Fatalf("external source header: %q", got.Hdrs)
	}
	if ext := string(rawSource(t, b, "BM", -1)["external"]); ext != `{"api":"$JS.A.API","deliver":"dlv.bm"}` {
		t.Fatalf("external in info: %s", ext)
	}
	// B's own $JS.API has no stream O: without the prefix it is not found.
	jsOK(t, b, "$JS.API.STREAM.CREATE.BL", `{"name":"BL","mirror":{"name":"O"}}`)
	waitFor(t, 5*time.Second, "not found", func() bool {
		return string(rawSource(t, b, "BL", -1)["error"]) == `{"code":404,"err_code":10059,"description":"stream not found"}`
	})
	// A prefix leading nowhere on this server: inactive, no error, no hang.
	jsOK(t, a, "$JS.API.STREAM.CREATE.R", `{"name":"R","mirror":{"name":"O","external":{"api":"$JS.far.API","deliver":"x.y"}}}`)
	if got := rawField(t, a, "$JS.API.STREAM.INFO.R", "", "mirror"); got != `{"name":"O","external":{"api":"$JS.far.API","deliver":"x.y"},"lag":0,"active":-1}` {
		t.Fatalf("remote origin: %s", got)
	}
}

// A missing origin is reported (err 10059) until it is created, and then
// copied; deleting either stream stops the copy cleanly, and nothing of it
// is left running.
func TestJetStreamMirrorOriginLifecycle(t *testing.T) {
	s, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"}}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.S", `{"name":"S","sources":[{"name":"O"}]}`)
	notFound := `{"code":404,"err_code":10059,"description":"stream not found"}`
	waitFor(t, 5*time.Second, "origin reported missing", func() bool {
		return string(rawSource(t, a, "M", -1)["error"]) == notFound
	})
	waitFor(t, 5*time.Second, "source of a missing origin", func() bool {
		return rawField(t, a, "$JS.API.STREAM.INFO.S", "", "sources") == `[{"name":"O","lag":0,"active":-1,"error":`+notFound+`}]`
	})
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	pub(t, a, "o.1", "one")
	waitMsgs(t, a, "M", 1)
	waitMsgs(t, a, "S", 1)
	if mi := sourceInfo(t, a, "M", -1); mi["error"] != nil {
		t.Fatalf("error stays: %v", mi)
	}
	// The origin goes away, then comes back under the same name.
	jsOK(t, a, "$JS.API.STREAM.DELETE.O", "")
	waitFor(t, 5*time.Second, "origin gone", func() bool { return sourceInfo(t, a, "M", -1)["error"] != nil })
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	pub(t, a, "o.1", "a")
	pub(t, a, "o.2", "b")
	waitMsgs(t, a, "S", 3) // a source takes the new origin from its start
	waitMsgs(t, a, "M", 2) // a mirror goes on after the sequences it has
	// Deleting the copies stops their goroutines.
	jsOK(t, a, "$JS.API.STREAM.DELETE.M", "")
	jsOK(t, a, "$JS.API.STREAM.DELETE.S", "")
	waitFor(t, 5*time.Second, "copies stopped", func() bool {
		return !strings.Contains(stacks(t, s), "sourceRun")
	})
	pub(t, a, "o.3", "c")
}

// stacks returns the server's goroutine stacks from /stacksz.
func stacks(t *testing.T, s *server.Server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.MonitorAddr().String() + "/stacksz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// With nothing to copy, a copy sleeps: no goroutine of it is runnable.
func TestJetStreamMirrorIdleSleeps(t *testing.T) {
	s, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o.>"]}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"}}`)
	pub(t, a, "o.1", "one")
	waitMsgs(t, a, "M", 1)
	waitFor(t, 5*time.Second, "the copy asleep in select", func() bool {
		for _, g := range strings.Split(stacks(t, s), "\n\n") {
			if strings.Contains(g, "sourceRun).follow") {
				return strings.Contains(g, "[select]")
			}
		}
		return false
	})
}

// Through the built binary: origin, mirror and source on file storage,
// killed with SIGKILL while copying, come back with every origin message
// exactly once in the mirror and in the source.
func TestJetStreamMirrorBinaryKill9(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := writeConf(t, dir, "js.conf", fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n",
		port, filepath.Join(dir, "store")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, js := startJSBin(t, conf, port)
	mk := func(cfg jetstream.StreamConfig) {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	mk(jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	// Recovered before its origin (names in order): no warning for it.
	mk(jetstream.StreamConfig{Name: "ZO", Subjects: []string{"zo"}})
	mk(jetstream.StreamConfig{Name: "AM", Mirror: &jetstream.StreamSource{Name: "ZO"}})
	mk(jetstream.StreamConfig{Name: "NM", Mirror: &jetstream.StreamSource{Name: "NOPE"}})
	const n = 10000
	for i := 1; i <= n; i++ {
		if _, err := js.PublishAsync(fmt.Sprintf("o.%d", i%7), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i%5000 == 0 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	mk(jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}})
	mk(jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "O", FilterSubject: "o.*"}}})
	var before uint64
	waitFor(t, 10*time.Second, "the copies under way", func() bool {
		st, err := js.Stream(ctx, "S")
		before = st.CachedInfo().State.Msgs
		return err == nil && before > 1000
	})
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(5 * time.Second)
	t.Logf("killed with %d of %d copied to S", before, n)

	p, js = startJSBin(t, conf, port)
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.waitExit(5 * time.Second) }()
	warning := "JetStream error response for create mirror consumer: stream not found (10059)"
	p.waitOutput(warning)
	if c := strings.Count(p.output(), warning); c != 1 {
		t.Fatalf("%d missing-origin warnings after restart:\n%s", c, p.output())
	}
	for _, name := range []string{"M", "S"} {
		waitFor(t, 10*time.Second, name+" caught up", func() bool {
			st, err := js.Stream(ctx, name)
			return err == nil && st.CachedInfo().State.Msgs == n
		})
	}
	checkCopies(ctx, t, js, n)
}

// checkCopies checks that M holds origin sequences 1..n and that S holds
// each origin sequence exactly once, in order.
func checkCopies(ctx context.Context, t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	m, _ := js.Stream(ctx, "M")
	if st := m.CachedInfo().State; st.FirstSeq != 1 || st.LastSeq != n {
		t.Fatalf("mirror: %+v", st)
	}
	s, _ := js.Stream(ctx, "S")
	if st := s.CachedInfo().State; st.LastSeq != n || st.Msgs != n {
		t.Fatalf("source: %+v", st)
	}
	for seq := uint64(1); seq <= n; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(msg.Header.Get("Nats-Stream-Source"))
		if len(f) < 2 || f[1] != fmt.Sprint(seq) || string(msg.Data) != fmt.Sprint(seq) {
			t.Fatalf("source seq %d: %v %q", seq, f, msg.Data)
		}
	}
}

// With a domain, nats.go's Domain field on a source (external api
// $JS.<domain>.API) reaches this server's own streams; another domain is
// off this server.
func TestJetStreamMirrorDomain(t *testing.T) {
	o := DefaultTestOptions()
	o.JetStream, o.StoreDir, o.JetStreamDomain = true, t.TempDir(), "HUB"
	s := RunServer(t, o)
	nc := connect(t, s)
	js, err := jetstream.NewWithDomain(nc, "HUB")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "O", Subjects: []string{"o"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "o", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for name, domain := range map[string]string{"M": "HUB", "F": "LEAF"} {
		cfg := jetstream.StreamConfig{Name: name, Mirror: &jetstream.StreamSource{Name: "O", Domain: domain}}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	waitMsgs(t, nc, "M", 1)
	if got := rawField(t, nc, "$JS.API.STREAM.INFO.F", "", "mirror"); got != `{"name":"O","external":{"api":"$JS.LEAF.API","deliver":""},"lag":0,"active":-1}` {
		t.Fatalf("other domain: %s", got)
	}
	if n := streamState(t, nc, "F")["messages"]; n != 0.0 {
		t.Fatalf("copied from another domain: %v", n)
	}
}

// Messages an atomic batch commits reach the copies too, without their
// batch headers (as the reference strips them).
func TestJetStreamMirrorAtomicBatchOrigin(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o"],"allow_atomic":true}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"}}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.S", `{"name":"S","sources":[{"name":"O"}]}`)
	waitFor(t, 5*time.Second, "copies connected", func() bool {
		return sourceInfo(t, a, "M", -1)["active"] != -1.0 && sourceInfo(t, a, "S", 0)["active"] != -1.0
	})
	m := nats.NewMsg("o")
	m.Header.Set("Nats-Batch-Id", "b1")
	m.Header.Set("Nats-Batch-Sequence", "1")
	if err := a.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	pub(t, a, "o", "two", "Nats-Batch-Id", "b1", "Nats-Batch-Sequence", "2", "Nats-Batch-Commit", "1")
	waitMsgs(t, a, "M", 2)
	waitMsgs(t, a, "S", 2)
	if got := getMsg(t, a, "M", 2); len(got.Hdrs) != 0 || string(got.Data) != "two" {
		t.Fatalf("mirrored batch message: %q %q", got.Hdrs, got.Data)
	}
	if got := getMsg(t, a, "S", 2); strings.Contains(string(got.Hdrs), "Nats-Batch") {
		t.Fatalf("sourced batch message: %q", got.Hdrs)
	}
}

// A counter stream sourcing counter streams adds up their totals, with
// Nats-Incr rewritten to the increment and Nats-Counter-Sources recording
// what each origin subject last said (as the reference writes them).
func TestJetStreamSourcesCounters(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	info := jsOK(t, a, "$JS.API.STREAM.CREATE.CO", `{"name":"CO","subjects":["co.>"],"allow_msg_counter":true}`)
	created, _ := time.Parse(time.RFC3339Nano, info["created"].(string))
	jsOK(t, a, "$JS.API.STREAM.CREATE.CO2", `{"name":"CO2","subjects":["cq.>"],"allow_msg_counter":true}`)
	pub(t, a, "co.a", "", "Nats-Incr", "5")
	pub(t, a, "co.a", "", "Nats-Incr", "3")
	pub(t, a, "cq.a", "", "Nats-Incr", "100")
	jsOK(t, a, "$JS.API.STREAM.CREATE.CC", `{"name":"CC","subjects":["cc.>"],"allow_msg_counter":true,"sources":[`+
		`{"name":"CO","subject_transforms":[{"src":"co.>","dest":"cc.>"}]},{"name":"CO2","subject_transforms":[{"src":"cq.>","dest":"cc.>"}]}]}`)
	waitMsgs(t, a, "CC", 3)
	if got := getMsg(t, a, "CC", 3); string(got.Data) != `{"val":"108"}` ||
		!strings.HasSuffix(string(got.Hdrs), "\r\nNats-Counter-Sources: {\"CO\":{\"co.a\":\"8\"},\"CO2\":{\"cq.a\":\"100\"}}\r\n\r\n") {
		t.Fatalf("total: %q %q", got.Hdrs, got.Data)
	}
	pub(t, a, "co.a", "", "Nats-Incr", "-1")
	waitMsgs(t, a, "CC", 4)
	want := "NATS/1.0\r\nNats-Incr: -1\r\nNats-Stream-Source: CO 3 co.> cc.> co.a " + identity(created) +
		"\r\nNats-Counter-Sources: {\"CO\":{\"co.a\":\"7\"},\"CO2\":{\"cq.a\":\"100\"}}\r\n\r\n"
	if got := getMsg(t, a, "CC", 4); string(got.Hdrs) != want || string(got.Data) != `{"val":"107"}` {
		t.Fatalf("decrement: %q %q", got.Hdrs, got.Data)
	}
}

// A mirror of an origin with allow_direct gets mirror_direct and answers
// direct gets addressed to the origin; mirror_direct needs a mirror.
func TestJetStreamMirrorDirect(t *testing.T) {
	_, a, _ := runMirrorServer(t)
	jsOK(t, a, "$JS.API.STREAM.CREATE.DO", `{"name":"DO","subjects":["do"],"allow_direct":true}`)
	jsOK(t, a, "$JS.API.STREAM.CREATE.O", `{"name":"O","subjects":["o"]}`)
	pub(t, a, "do", "hello")
	cfg := jsOK(t, a, "$JS.API.STREAM.CREATE.DM", `{"name":"DM","mirror":{"name":"DO"}}`)["config"].(map[string]any)
	if cfg["mirror_direct"] != true || cfg["allow_direct"] != false {
		t.Fatalf("mirror of a direct origin: %v", cfg)
	}
	cfg = jsOK(t, a, "$JS.API.STREAM.CREATE.M", `{"name":"M","mirror":{"name":"O"},"mirror_direct":true}`)["config"].(map[string]any)
	if cfg["mirror_direct"] != false {
		t.Fatalf("mirror of an origin without direct: %v", cfg)
	}
	if e := rawField(t, a, "$JS.API.STREAM.CREATE.X", `{"name":"X","subjects":["x"],"mirror_direct":true}`, "error"); e != `{"code":500,"err_code":10052,"description":"stream has no mirror but does have mirror direct"}` {
		t.Fatalf("mirror_direct without a mirror: %s", e)
	}
	waitMsgs(t, a, "DM", 1)
	jsOK(t, a, "$JS.API.STREAM.DELETE.DO", "")
	msg, err := a.Request("$JS.API.DIRECT.GET.DO", []byte(`{"seq":1}`), 2*time.Second)
	if err != nil || string(msg.Data) != "hello" || msg.Header.Get("Nats-Stream") != "DM" {
		t.Fatalf("direct get through the mirror: %v %+v", err, msg)
	}
}
