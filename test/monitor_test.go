package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// runMonitored starts a server with HTTP monitoring on an ephemeral port.
func runMonitored(t *testing.T, tweak func(o *server.Options)) (*server.Server, string) {
	t.Helper()
	o := DefaultTestOptions()
	o.HTTPHost = "127.0.0.1"
	o.HTTPPort = server.RANDOM_PORT
	if tweak != nil {
		tweak(o)
	}
	s := RunServer(t, o)
	a := s.MonitorAddr()
	if a == nil {
		t.Fatal("no monitoring listener")
	}
	return s, fmt.Sprintf("http://%s%s", a.String(), strings.TrimRight(o.HTTPBasePath, "/"))
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// getMap fetches a JSON endpoint that must answer 200 and decodes it
// generically, so that field names are checked as tools see them.
func getMap(t *testing.T, url string) map[string]any {
	t.Helper()
	code, body, hdr := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content type %q", url, ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return m
}

func num(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %q missing or not a number: %v", key, m[key])
	}
	return int64(v)
}

func list(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := m[key].([]any)
	if !ok {
		t.Fatalf("field %q missing or not a list: %v", key, m[key])
	}
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		out[i] = x.(map[string]any)
	}
	return out
}

// waitField polls a JSON endpoint until key reaches want.
func waitField(t *testing.T, url, key string, want int64) map[string]any {
	t.Helper()
	var m map[string]any
	waitFor(t, 3*time.Second, fmt.Sprintf("%s %s=%d (last %v)", url, key, want, func() any {
		if m == nil {
			return nil
		}
		return m[key]
	}()), func() bool {
		m = getMap(t, url)
		v, _ := m[key].(float64)
		return int64(v) == want
	})
	return m
}

func TestMonitorVarzCounters(t *testing.T) {
	s, base := runMonitored(t, nil)
	// The system account's own subscriptions are counted, as with the
	// reference; measure from them.
	sysSubs := num(t, getMap(t, base+"/varz"), "subscriptions")
	sub := connect(t, s, nats.Name("sub"))
	pub := connect(t, s, nats.Name("pub"))
	got := make(chan *nats.Msg, 10)
	if _, err := sub.ChanSubscribe("foo", got); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe("bar.*", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	for i := 0; i < 3; i++ {
		pub.Publish("foo", []byte("hello"))
	}
	pub.Publish("nobody", []byte("1234567890"))
	pub.Flush()
	for i := 0; i < 3; i++ {
		<-got
	}
	v := waitField(t, base+"/varz", "out_msgs", 3)
	want := map[string]int64{
		"in_msgs": 4, "in_bytes": 25, "out_msgs": 3, "out_bytes": 15,
		"in_client_msgs": 4, "in_client_bytes": 25, "out_client_msgs": 3, "out_client_bytes": 15,
		"connections": 2, "total_connections": 2, "subscriptions": sysSubs + 2,
		"slow_consumers": 0, "max_payload": 1 << 20, "max_connections": 65536,
		"ping_interval": int64(2 * time.Minute), "write_deadline": int64(10 * time.Second),
	}
	for k, w := range want {
		if g := num(t, v, k); g != w {
			t.Errorf("varz %s = %d, want %d", k, g, w)
		}
	}
	if v["server_id"] != s.ID() || v["version"] != server.VERSION {
		t.Errorf("identity: %v %v", v["server_id"], v["version"])
	}
	if num(t, v, "port") != int64(s.Addr().(*net.TCPAddr).Port) {
		t.Errorf("port %v", v["port"])
	}
	if num(t, v, "http_port") != int64(s.MonitorAddr().Port) {
		t.Errorf("http_port %v, want %d", v["http_port"], s.MonitorAddr().Port)
	}
	for _, k := range []string{"cluster", "gateway", "leaf", "mqtt", "websocket", "jetstream"} {
		if b, ok := v[k].(map[string]any); !ok || len(b) != 0 {
			t.Errorf("varz %s = %v, want {}", k, v[k])
		}
	}
	if num(t, v, "mem") <= 0 || num(t, v, "cores") <= 0 {
		t.Errorf("mem/cores not reported: %v %v", v["mem"], v["cores"])
	}
	start, err := time.Parse(time.RFC3339Nano, v["start"].(string))
	if err != nil || time.Since(start) > time.Minute {
		t.Errorf("start %v: %v", v["start"], err)
	}
	if up, _ := v["uptime"].(string); !strings.HasSuffix(up, "s") {
		t.Errorf("uptime %q", up)
	}
	stats := v["http_req_stats"].(map[string]any)
	if stats["/varz"].(float64) < 1 {
		t.Errorf("http_req_stats %v", stats)
	}
	sc := v["slow_consumer_stats"].(map[string]any)
	if _, ok := sc["clients"]; !ok {
		t.Errorf("slow_consumer_stats %v", sc)
	}

	// A closed connection leaves connections but not total_connections.
	pub.Close()
	v = waitField(t, base+"/varz", "connections", 1)
	if num(t, v, "total_connections") != 2 {
		t.Errorf("total_connections %v", v["total_connections"])
	}
}

func TestMonitorConnzSortPaging(t *testing.T) {
	s, base := runMonitored(t, nil)
	// Three receivers get 1, 3 and 2 messages; they subscribe 1, 3 and 2 times.
	counts := []int{1, 3, 2}
	var ncs []*nats.Conn
	for i, n := range counts {
		nc := connect(t, s, nats.Name(fmt.Sprintf("c%d", i)))
		for j := 0; j < n; j++ {
			if _, err := nc.Subscribe(fmt.Sprintf("s%d.%d", i, j), func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
		}
		nc.Flush()
		ncs = append(ncs, nc)
	}
	pub := ncs[0]
	for i, n := range counts {
		for j := 0; j < n; j++ {
			pub.Publish(fmt.Sprintf("s%d.%d", i, j), []byte("xy"))
		}
	}
	pub.Flush()
	waitField(t, base+"/varz", "out_msgs", 6)

	cz := getMap(t, base+"/connz")
	if num(t, cz, "num_connections") != 3 || num(t, cz, "total") != 3 || num(t, cz, "limit") != 1024 {
		t.Fatalf("connz header: %v", cz)
	}
	conns := list(t, cz, "connections")
	for i, c := range conns {
		if rtt, err := time.ParseDuration(fmt.Sprint(c["rtt"])); err != nil || rtt <= 0 {
			t.Errorf("conn %d rtt %v: %v", i, c["rtt"], err)
		}
		if c["name"] != fmt.Sprintf("c%d", i) || c["kind"] != "Client" || c["type"] != "nats" || c["lang"] != "go" {
			t.Errorf("conn %d: %v", i, c)
		}
		if num(t, c, "subscriptions") != int64(counts[i]) || num(t, c, "out_msgs") != int64(counts[i]) ||
			num(t, c, "out_bytes") != 2*int64(counts[i]) {
			t.Errorf("conn %d counters: %v", i, c)
		}
	}
	if num(t, conns[0], "in_msgs") != 6 || num(t, conns[0], "in_bytes") != 12 {
		t.Errorf("publisher in counters: %v", conns[0])
	}

	names := func(q string) string {
		var out []string
		for _, c := range list(t, getMap(t, base+"/connz?"+q), "connections") {
			out = append(out, c["name"].(string))
		}
		return strings.Join(out, ",")
	}
	cases := map[string]string{
		"sort=cid":                   "c0,c1,c2",
		"sort=start":                 "c0,c1,c2",
		"sort=uptime":                "c2,c1,c0",
		"sort=subs":                  "c1,c2,c0",
		"sort=msgs_to":               "c1,c2,c0",
		"sort=bytes_to":              "c1,c2,c0",
		"sort=msgs_from":             "c0,c1,c2",
		"sort=bytes_from":            "c0,c1,c2",
		"sort=subs&limit=1&offset=1": "c2",
		"sort=subs&offset=2":         "c0",
		"offset=5":                   "",
	}
	for q, want := range cases {
		if got := names(q); got != want {
			t.Errorf("connz?%s = %q, want %q", q, got, want)
		}
	}
	for _, q := range []string{"sort=last", "sort=idle", "sort=rtt", "sort=pending"} {
		if got := names(q); len(strings.Split(got, ",")) != 3 {
			t.Errorf("connz?%s = %q", q, got)
		}
	}

	cid := num(t, conns[1], "cid")
	one := getMap(t, fmt.Sprintf("%s/connz?cid=%d&subs=1", base, cid))
	cl := list(t, one, "connections")
	if len(cl) != 1 || num(t, cl[0], "cid") != cid || num(t, one, "limit") != 1 {
		t.Fatalf("cid filter: %v", one)
	}
	subs := cl[0]["subscriptions_list"].([]any)
	if len(subs) != 3 || subs[0] != "s1.0" || subs[2] != "s1.2" {
		t.Errorf("subscriptions_list %v", subs)
	}
	det := getMap(t, fmt.Sprintf("%s/connz?cid=%d&subs=detail", base, cid))
	d := list(t, list(t, det, "connections")[0], "subscriptions_list_detail")
	if len(d) != 3 || d[1]["subject"] != "s1.1" || num(t, d[1], "msgs") != 1 || num(t, d[1], "cid") != cid {
		t.Errorf("subscriptions_list_detail %v", d)
	}

	bad := map[string]string{
		"sort=bogus":  "invalid sorting option: bogus",
		"sort=stop":   "sort by stop only valid on closed connections",
		"sort=reason": "sort by reason only valid on closed connections",
		"limit=abc":   "Error decoding int for 'limit'",
		"state=weird": "Error decoding state for weird",
		"subs=maybe":  "Error decoding boolean for 'subs'",
	}
	for q, want := range bad {
		code, body, _ := get(t, base+"/connz?"+q)
		if code != http.StatusBadRequest || !strings.HasPrefix(body, want) || strings.HasSuffix(body, "\n") {
			t.Errorf("connz?%s: %d %q, want 400 %q", q, code, body, want)
		}
	}
}

func TestMonitorConnzClosedReasons(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) {
		o.Username, o.Password = "u", "p"
		o.MaxPayload = 1024
		o.PingInterval = 50 * time.Millisecond
		o.MaxPingsOut = 1
	})
	nc := connect(t, s, nats.UserInfo("u", "p"), nats.Name("leaver"))
	if _, err := nc.Subscribe("a.b", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	nc.Publish("a.b", []byte("hi"))
	nc.Flush()
	nc.Close()

	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("u", "wrong"), nats.NoReconnect()); err == nil {
		t.Fatal("bad password accepted")
	}

	big := dialRaw(t, s)
	big.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\",\"name\":\"big\"}\r\nPUB x 2000\r\n")
	big.expect("-ERR 'Maximum Payload Violation'")
	big.expectClosed()

	// Never answers PING: with a 50ms interval it goes stale quickly.
	stale := dialRaw(t, s)
	stale.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\",\"name\":\"stale\"}\r\n")

	// Linger 0 makes Close send a reset instead of a clean FIN.
	reset := dialRaw(t, s)
	reset.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\",\"name\":\"reset\"}\r\nPING\r\n")
	reset.expect("PONG")
	reset.conn.(*net.TCPConn).SetLinger(0)
	reset.conn.Close()

	cz := waitField(t, base+"/connz?state=closed&auth=true&subs=1", "total", 5)
	reasons := map[string]map[string]any{}
	for _, c := range list(t, cz, "connections") {
		reasons[c["reason"].(string)] = c
		if _, ok := c["stop"].(string); !ok {
			t.Errorf("closed conn without stop: %v", c)
		}
	}
	for _, r := range []string{"Client Closed", "Read Error", "Authentication Failure", "Maximum Message Payload Exceeded", "Stale Connection"} {
		if reasons[r] == nil {
			t.Errorf("no closed connection with reason %q in %v", r, cz)
		}
	}
	if c := reasons["Client Closed"]; c != nil {
		if c["name"] != "leaver" || c["authorized_user"] != "u" || num(t, c, "in_msgs") != 1 || num(t, c, "out_msgs") != 1 {
			t.Errorf("closed client: %v", c)
		}
		if l, _ := c["subscriptions_list"].([]any); len(l) != 1 || l[0] != "a.b" {
			t.Errorf("closed subs: %v", c["subscriptions_list"])
		}
	}
	if open := getMap(t, base+"/connz"); num(t, open, "total") != 0 {
		t.Errorf("open connections left: %v", open)
	}
	all := getMap(t, base+"/connz?state=all")
	if num(t, all, "total") != 5 {
		t.Errorf("state=all total %v", all["total"])
	}
	bystop := list(t, getMap(t, base+"/connz?state=closed&sort=stop"), "connections")
	for i := 1; i < len(bystop); i++ {
		if bystop[i-1]["stop"].(string) < bystop[i]["stop"].(string) {
			t.Errorf("sort=stop not most recent first: %v", bystop)
		}
	}
	v := getMap(t, base+"/varz")
	if num(t, v, "stale_connections") != 1 {
		t.Errorf("stale_connections %v", v["stale_connections"])
	}
	if u := getMap(t, base+"/connz?state=closed&user=nobody"); num(t, u, "total") != 0 {
		t.Errorf("user filter: %v", u)
	}
}

func TestMonitorSlowConsumerReason(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) {
		o.MaxPending = 64 * 1024
		o.MaxPayload = 64 * 1024
	})
	slow := dialRaw(t, s)
	slow.send("CONNECT {\"verbose\":false,\"name\":\"slow\"}\r\nSUB big 1\r\nPING\r\n")
	slow.expect("PONG")
	pub := connect(t, s)
	payload := make([]byte, 32*1024)
	for i := 0; i < 2000; i++ {
		if pub.Publish("big", payload) != nil {
			break
		}
	}
	pub.Flush()
	cz := waitField(t, base+"/connz?state=closed", "total", 1)
	c := list(t, cz, "connections")[0]
	if c["name"] != "slow" || !strings.HasPrefix(c["reason"].(string), "Slow Consumer") {
		t.Errorf("slow consumer closed as %v", c)
	}
	if v := getMap(t, base+"/varz"); num(t, v, "slow_consumers") != 1 {
		t.Errorf("slow_consumers %v", v["slow_consumers"])
	}
}

func TestMonitorSubsz(t *testing.T) {
	s, base := runMonitored(t, nil)
	sysSubs := num(t, getMap(t, base+"/subsz"), "num_subscriptions")
	sysInserts := num(t, getMap(t, base+"/subsz"), "num_inserts")
	// The global account's own internal subscriptions (its system imports)
	// come first in its listing.
	gSubs := int(num(t, getMap(t, base+"/subsz?acc=%24G"), "num_subscriptions"))
	nc := connect(t, s)
	for _, subj := range []string{"foo", "foo.*", "bar.>", "baz"} {
		if _, err := nc.Subscribe(subj, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.QueueSubscribe("foo", "workers", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	nc.Publish("foo", []byte("x"))
	nc.Flush()
	sz := waitField(t, base+"/subsz", "num_subscriptions", sysSubs+5)
	if num(t, sz, "num_inserts") != sysInserts+5 || num(t, sz, "num_matches") < 1 || num(t, sz, "total") != 0 {
		t.Errorf("subsz stats: %v", sz)
	}
	if _, ok := sz["subscriptions_list"]; ok {
		t.Errorf("list without subs=1: %v", sz)
	}
	// Listing the global account leaves the system account's out.
	all := getMap(t, base+"/subsz?subs=1&acc=%24G")
	if num(t, all, "total") != int64(gSubs+5) || len(list(t, all, "subscriptions_list")) != gSubs+5 {
		t.Fatalf("subs=1: %v", all)
	}
	first := list(t, all, "subscriptions_list")[gSubs]
	if first["account"] != "$G" || first["subject"] != "foo" || first["sid"] != "1" || num(t, first, "msgs") != 1 {
		t.Errorf("first sub: %v", first)
	}
	tst := getMap(t, base+"/subsz?subs=1&test=foo.bar")
	if l := list(t, tst, "subscriptions_list"); len(l) != 1 || l[0]["subject"] != "foo.*" {
		t.Errorf("test=foo.bar: %v", tst)
	}
	tst = getMap(t, base+"/subsz?subs=1&test=foo")
	var q int
	for _, x := range list(t, tst, "subscriptions_list") {
		if x["qgroup"] == "workers" {
			q++
		}
	}
	if num(t, tst, "total") != 2 || q != 1 {
		t.Errorf("test=foo: %v", tst)
	}
	page := getMap(t, base+fmt.Sprintf("/subsz?subs=1&acc=%%24G&limit=2&offset=%d", gSubs+3))
	if l := list(t, page, "subscriptions_list"); len(l) != 2 || num(t, page, "offset") != int64(gSubs+3) || l[0]["sid"] != "4" {
		t.Errorf("paging: %v", page)
	}
	if none := getMap(t, base+"/subsz?acc=nope"); num(t, none, "num_subscriptions") != 0 {
		t.Errorf("acc=nope: %v", none)
	}
	code, body, _ := get(t, base+"/subsz?test=foo.*")
	if code != http.StatusBadRequest || !strings.Contains(body, "invalid test subject") {
		t.Errorf("wildcard test: %d %s", code, body)
	}
}

func TestMonitorHealthzAndMisc(t *testing.T) {
	_, base := runMonitored(t, nil)
	for _, q := range []string{"", "?js-enabled-only=true", "?js-server-only=1"} {
		code, body, _ := get(t, base+"/healthz"+q)
		if code != http.StatusOK || body != `{"status":"ok"}` {
			t.Errorf("healthz%s: %d %s", q, code, body)
		}
	}
	if code, _, _ := get(t, base+"/healthz?js-enabled-only=maybe"); code != http.StatusBadRequest {
		t.Errorf("bad healthz option: %d", code)
	}
	_, body, hdr := get(t, base+"/")
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("index content type %q", hdr.Get("Content-Type"))
	}
	for _, l := range []string{"varz", "connz", "subsz", "routez", "gatewayz", "leafz", "accountz", "accstatz", "jsz", "healthz"} {
		if !strings.Contains(body, "href=./"+l+">") {
			t.Errorf("index does not link %s", l)
		}
	}
	if _, body, _ := get(t, base+"/stacksz"); !strings.Contains(body, "goroutine ") {
		t.Errorf("stacksz: %.100s", body)
	}
	if code, _, _ := get(t, base+"/nosuch"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	stats := getMap(t, base+"/varz")["http_req_stats"].(map[string]any)
	if stats["/"] != 1.0 || stats["/healthz"] != 4.0 || stats["/stacksz"] != 1.0 {
		t.Errorf("http_req_stats %v", stats)
	}
	// The reference ignores the JSONP callback: the answer stays plain JSON.
	if _, body, _ := get(t, base+"/varz?callback=cb"); !strings.HasPrefix(body, "{") {
		t.Errorf("callback wrapped the answer: %.20s", body)
	}
}

func TestMonitorFeatureOffEndpoints(t *testing.T) {
	s, base := runMonitored(t, nil)
	keys := func(m map[string]any) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	want := map[string]string{
		"/routez":   "now,num_routes,routes,server_id,server_name",
		"/gatewayz": "inbound_gateways,now,outbound_gateways,server_id",
		"/leafz":    "leafnodes,leafs,now,server_id",
		"/jsz":      "accounts,api,bytes,config,consumers,disabled,ha_assets,memory,messages,now,reserved_memory,reserved_storage,server_id,storage,streams,total",
	}
	for p, w := range want {
		m := getMap(t, base+p)
		if got := keys(m); got != w {
			t.Errorf("%s keys %s, want %s", p, got, w)
		}
		if m["server_id"] != s.ID() {
			t.Errorf("%s server_id %v", p, m["server_id"])
		}
	}
	if r := getMap(t, base+"/routez"); len(r["routes"].([]any)) != 0 || num(t, r, "num_routes") != 0 {
		t.Errorf("routez %v", r)
	}
	if j := getMap(t, base+"/jsz"); j["disabled"] != true {
		t.Errorf("jsz %v", j)
	}
}

func TestMonitorAccounts(t *testing.T) {
	s, base := runMonitored(t, nil)
	a := connect(t, s)
	b := connect(t, s)
	if _, err := a.Subscribe("x", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	a.Flush()
	b.Publish("x", []byte("12345"))
	b.Flush()
	waitField(t, base+"/varz", "out_msgs", 1)
	az := getMap(t, base+"/accountz")
	if l, _ := az["accounts"].([]any); len(l) != 2 || l[0] != "$G" || l[1] != "$SYS" || az["system_account"] != "$SYS" {
		t.Errorf("accountz %v", az)
	}
	det := getMap(t, base+"/accountz?acc=$G")["account_detail"].(map[string]any)
	// One client subscription and the four system imports.
	if det["account_name"] != "$G" || num(t, det, "client_connections") != 2 || num(t, det, "subscriptions") != 1+4 {
		t.Errorf("account_detail %v", det)
	}
	if code, body, _ := get(t, base+"/accountz?acc=nope"); code != http.StatusBadRequest || !strings.Contains(body, "Account nope does not exist") {
		t.Errorf("unknown account: %d %s", code, body)
	}
	st := list(t, getMap(t, base+"/accstatz"), "account_statz")
	if len(st) != 1 || st[0]["acc"] != "$G" || num(t, st[0], "conns") != 2 {
		// Only accounts with connections are listed without unused=1.
		t.Fatalf("accstatz %v", st)
	}
	sent, recv := st[0]["sent"].(map[string]any), st[0]["received"].(map[string]any)
	if num(t, sent, "msgs") != 1 || num(t, sent, "bytes") != 5 || num(t, recv, "msgs") != 1 || num(t, recv, "bytes") != 5 {
		t.Errorf("accstatz traffic sent=%v received=%v", sent, recv)
	}
	// Traffic of closed connections stays counted.
	b.Close()
	a.Close()
	waitField(t, base+"/varz", "connections", 0)
	if l := list(t, getMap(t, base+"/accstatz"), "account_statz"); len(l) != 0 {
		t.Errorf("idle account listed without unused=1: %v", l)
	}
	st = list(t, getMap(t, base+"/accstatz?unused=1"), "account_statz")
	if len(st) != 2 || st[0]["acc"] != "$G" || st[1]["acc"] != "$SYS" || num(t, st[0]["received"].(map[string]any), "msgs") != 1 || num(t, st[0]["sent"].(map[string]any), "bytes") != 5 {
		t.Errorf("accstatz after close %v", st)
	}
}

func TestMonitorBasePath(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) { o.HTTPBasePath = "/mon/" })
	if !strings.HasSuffix(base, "/mon") {
		t.Fatalf("base %s", base)
	}
	v := getMap(t, base+"/varz")
	if v["http_base_path"] != "/mon/" {
		t.Errorf("http_base_path %v", v["http_base_path"])
	}
	if code, _, _ := get(t, fmt.Sprintf("http://%s/varz", s.MonitorAddr())); code != http.StatusNotFound {
		t.Errorf("endpoint answered outside the base path: %d", code)
	}
}

func TestMonitorHTTPSNeedsTLS(t *testing.T) {
	o := DefaultTestOptions()
	o.HTTPSPort = server.RANDOM_PORT
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	err = s.StartAndCheck()
	if err == nil {
		s.Shutdown()
		t.Fatal("https monitoring started without a certificate")
	}
	if !strings.Contains(err.Error(), "needs a tls block") {
		t.Errorf("error %v", err)
	}
}

func TestMonitorHTTPS(t *testing.T) {
	e := newTLSEnv(t)
	o := e.opts()
	o.HTTPSPort = server.RANDOM_PORT
	s := RunServer(t, o)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: e.clientTLS()}}
	resp, err := hc.Get(fmt.Sprintf("https://%s/varz", s.MonitorAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v["server_id"] != s.ID() || num(t, v, "https_port") != int64(s.MonitorAddr().Port) {
		t.Fatalf("varz over https: %v", v)
	}
	// Plain HTTP on the HTTPS port gets no JSON.
	if code, _, err := getNoFail(fmt.Sprintf("http://%s/varz", s.MonitorAddr())); err == nil && code == http.StatusOK {
		t.Fatal("plain http answered on the https port")
	}
}

func getNoFail(url string) (int, string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	return resp.StatusCode, "", nil
}

// /varz lists server_tags lower-cased, as the reference does, and leaves
// the field out when there are none.
func TestMonitorVarzTags(t *testing.T) {
	_, base := runMonitored(t, func(o *server.Options) { o.ServerTags = []string{"ID:Foo", "az:1"} })
	if got := fmt.Sprint(getMap(t, base+"/varz")["tags"]); got != "[id:foo az:1]" {
		t.Fatalf("varz tags %s", got)
	}
	_, base = runMonitored(t, nil)
	if _, ok := getMap(t, base+"/varz")["tags"]; ok {
		t.Fatal("varz shows tags for a server without any")
	}
}
