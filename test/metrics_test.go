package test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/natsforge/nats-server/server"
)

// scrape fetches a /metrics URL and parses it strictly: any line the text
// format does not allow, a family repeated, or a sample before its TYPE
// fails the test.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	return parseMetrics(t, resp.Body)
}

func parseMetrics(t testing.TB, r interface{ Read([]byte) (int, error) }) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return fams
}

// labelsOf returns a sample's labels as a map.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func labelNames(m *dto.Metric) []string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	return names
}

// value returns the value of the family's sample whose labels include want.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.GetMetric() {
		l := labelsOf(m)
		ok := true
		for k, v := range want {
			if l[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		default:
			return m.GetUntyped().GetValue()
		}
	}
	t.Fatalf("family %s has no sample with labels %v", name, want)
	return 0
}

func runMetricsJS(t *testing.T) (*server.Server, string) {
	return runMonitored(t, func(o *server.Options) {
		o.JetStream = true
		o.StoreDir = t.TempDir()
		o.ServerName = "metrics-srv"
	})
}

// TestMetricsExporterShape checks the families, types, HELP texts and
// label sets against prometheus-nats-exporter's output as observed
// (v0.20.2 with -varz -connz_detailed -routez -subz -healthz -accstatz
// -jsz=all -leafz): a dashboard written for the exporter finds every series.
func TestMetricsExporterShape(t *testing.T) {
	s, base := runMetricsJS(t)
	nc := connect(t, s, nats.Name("shape-client"))
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := js.Publish("orders.new", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.AddConsumer("ORDERS", &nats.ConsumerConfig{Durable: "shipping", AckPolicy: nats.AckExplicitPolicy, Description: "ships"}); err != nil {
		t.Fatal(err)
	}
	sub, err := js.PullSubscribe("orders.>", "shipping")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := sub.Fetch(2, nats.MaxWait(2*time.Second)); err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %v %d", err, len(msgs))
	}
	fams := scrape(t, base+"/metrics?connz_detailed=1&accstatz=true&jsz=all")

	type want struct{ typ, help string }
	expect := map[string]want{
		"gnatsd_varz_in_msgs":                      {"GAUGE", "in_msgs"},
		"gnatsd_varz_max_payload":                  {"GAUGE", "max_payload"},
		"gnatsd_varz_jetstream_stats_api_total":    {"GAUGE", "jetstream_stats_api_total"},
		"gnatsd_varz_http_req_stats_metrics":       {"GAUGE", "http_req_stats_metrics"},
		"gnatsd_varz_version":                      {"GAUGE", "version"},
		"gnatsd_connz_in_msgs":                     {"COUNTER", "in_msgs"},
		"gnatsd_connz_total":                       {"GAUGE", "total"},
		"gnatsd_connz_rtt":                         {"GAUGE", "response time latency in microseconds"},
		"gnatsd_connz_start":                       {"UNTYPED", "epoch time at which the connection was started"},
		"gnatsd_connz_last_activity":               {"UNTYPED", "epoch time at which the last activity was registred"},
		"gnatsd_connz_uptime":                      {"UNTYPED", "uptime duration in milliseconds"},
		"gnatsd_connz_idle":                        {"GAUGE", "idle time duration in milliseconds"},
		"gnatsd_healthz_status":                    {"GAUGE", "status"},
		"gnatsd_healthz_status_value":              {"GAUGE", "status"},
		"gnatsd_routez_num_routes":                 {"GAUGE", "num_routes"},
		"gnatsd_subsz_num_subscriptions":           {"GAUGE", "num_subscriptions"},
		"gnatsd_leafz_conn_nodes_total":            {"GAUGE", "nodes_total"},
		"gnatsd_accstatz_received_messages":        {"GAUGE", "received_messages"},
		"jetstream_server_total_streams":           {"GAUGE", "Total number of streams in JetStream"},
		"jetstream_account_storage_used":           {"GAUGE", "Total number of bytes used by JetStream storage"},
		"jetstream_stream_total_messages":          {"GAUGE", "Total number of messages from a stream"},
		"jetstream_stream_limit_messages":          {"GAUGE", "The maximum number of messages allowed in a JetStream stream as per its configuration. A value of -1 indicates no limit."},
		"jetstream_consumer_num_pending":           {"GAUGE", "Number of pending messages from a consumer"},
		"jetstream_consumer_num_ack_pending":       {"GAUGE", "Number of pending acks from a consumer"},
		"jetstream_consumer_last_delivery_seconds": {"GAUGE", "Seconds since last message delivery to consumer"},
	}
	for name, w := range expect {
		f := fams[name]
		if f == nil {
			t.Errorf("missing family %s", name)
			continue
		}
		if f.GetType().String() != w.typ || f.GetHelp() != w.help {
			t.Errorf("%s: type %s help %q, want %s %q", name, f.GetType(), f.GetHelp(), w.typ, w.help)
		}
	}

	// Label sets, exactly as the exporter labels each kind of series.
	labelSets := map[string][]string{
		"gnatsd_varz_in_msgs":         {"server_id"},
		"gnatsd_varz_server_name":     {"server_id", "value"},
		"gnatsd_healthz_status_value": {"server_id", "value"},
		"gnatsd_connz_rtt": {"account", "account_id", "cid", "ip", "kind", "lang", "name", "name_tag", "port",
			"server_id", "tls_cipher_suite", "tls_version", "type", "version"},
		"gnatsd_accstatz_sent_bytes":     {"account", "account_id", "account_name", "server_id"},
		"jetstream_server_max_memory":    {"cluster", "domain", "is_meta_leader", "meta_leader", "server_id", "server_name"},
		"jetstream_account_max_storage":  {"account", "account_id", "account_name", "cluster", "domain", "is_meta_leader", "meta_leader", "server_id", "server_name"},
		"jetstream_stream_total_bytes":   {"account", "account_id", "account_name", "cluster", "domain", "is_meta_leader", "is_stream_leader", "meta_leader", "server_id", "server_name", "stream_leader", "stream_name", "stream_raft_group"},
		"jetstream_consumer_num_pending": {"account", "account_id", "account_name", "cluster", "consumer_desc", "consumer_leader", "consumer_name", "domain", "is_consumer_leader", "is_meta_leader", "is_stream_leader", "meta_leader", "server_id", "server_name", "stream_leader", "stream_name", "stream_raft_group"},
	}
	for name, set := range labelSets {
		f := fams[name]
		if f == nil {
			t.Errorf("missing family %s", name)
			continue
		}
		for _, m := range f.GetMetric() {
			if got := labelNames(m); !slices.Equal(got, set) {
				t.Errorf("%s labels %v, want %v", name, got, set)
			}
		}
	}

	id := s.ID()
	if v := value(t, fams, "gnatsd_varz_version", map[string]string{"server_id": id, "value": server.VERSION}); v != 1 {
		t.Errorf("version label gauge %v", v)
	}
	if v := value(t, fams, "gnatsd_varz_server_name", map[string]string{"value": "metrics-srv"}); v != 1 {
		t.Errorf("server_name label gauge %v", v)
	}
	if v := value(t, fams, "gnatsd_healthz_status", nil); v != 0 {
		t.Errorf("healthz_status %v, want 0 (ok)", v)
	}
	if v := value(t, fams, "jetstream_server_total_streams", map[string]string{"server_name": "metrics-srv"}); v != 1 {
		t.Errorf("total_streams %v", v)
	}
	if v := value(t, fams, "jetstream_stream_total_messages", map[string]string{"stream_name": "ORDERS"}); v != 5 {
		t.Errorf("stream messages %v", v)
	}
	if v := value(t, fams, "jetstream_stream_limit_messages", map[string]string{"stream_name": "ORDERS"}); v != -1 {
		t.Errorf("limit_messages %v, want -1", v)
	}
	cons := map[string]string{"consumer_name": "shipping", "stream_name": "ORDERS", "consumer_desc": "ships"}
	if v := value(t, fams, "jetstream_consumer_num_pending", cons); v != 3 {
		t.Errorf("consumer num_pending %v, want 3", v)
	}
	if v := value(t, fams, "jetstream_consumer_num_ack_pending", cons); v != 2 {
		t.Errorf("consumer num_ack_pending %v, want 2", v)
	}
	if v := value(t, fams, "jetstream_consumer_delivered_stream_seq", cons); v != 2 {
		t.Errorf("delivered_stream_seq %v, want 2", v)
	}
	// The global account's connections carry account="" and the name in name_tag.
	cid := fmt.Sprint(mustClientID(t, nc))
	l := map[string]string{"cid": cid, "name": "shape-client", "account": "", "name_tag": "$G", "kind": "Client", "type": "nats", "lang": "go"}
	if v := value(t, fams, "gnatsd_connz_subscriptions", l); v < 1 {
		t.Errorf("connection subscriptions %v", v)
	}
}

func mustClientID(t testing.TB, nc *nats.Conn) uint64 {
	t.Helper()
	id, err := nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMetricsMatchVarz scrapes /varz and /metrics with no traffic between
// them: every counter and setting is the same number.
func TestMetricsMatchVarz(t *testing.T) {
	s, base := runMetricsJS(t)
	sub := connect(t, s)
	if _, err := sub.SubscribeSync("foo"); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	pub := connect(t, s)
	for i := 0; i < 50; i++ {
		pub.Publish("foo", []byte("hello"))
	}
	pub.Flush()
	waitFor(t, 2*time.Second, "delivery", func() bool {
		return num(t, getMap(t, base+"/varz"), "out_msgs") >= 50
	})
	v := getMap(t, base+"/varz")
	fams := scrape(t, base+"/metrics")
	for _, k := range []string{"in_msgs", "out_msgs", "in_bytes", "out_bytes", "in_client_msgs", "out_client_bytes",
		"connections", "total_connections", "subscriptions", "slow_consumers", "max_payload", "max_connections",
		"ping_interval", "write_deadline", "port", "http_port", "routes", "leafnodes", "gomaxprocs", "cores"} {
		if got, want := value(t, fams, "gnatsd_varz_"+k, nil), float64(num(t, v, k)); got != want {
			t.Errorf("gnatsd_varz_%s = %v, /varz %s = %v", k, got, k, want)
		}
	}
	js := v["jetstream"].(map[string]any)["config"].(map[string]any)
	if got, want := value(t, fams, "gnatsd_varz_jetstream_config_max_memory", nil), float64(num(t, js, "max_memory")); got != want {
		t.Errorf("jetstream max_memory %v, /varz %v", got, want)
	}
	start, _ := time.Parse(time.RFC3339Nano, v["start"].(string))
	if got := value(t, fams, "gnatsd_varz_start", nil); got != float64(start.UnixMilli()) {
		t.Errorf("start %v, want epoch ms %d", got, start.UnixMilli())
	}
	cz := getMap(t, base+"/connz")
	if got, want := value(t, fams, "gnatsd_connz_total", nil), float64(num(t, cz, "total")); got != want {
		t.Errorf("connz_total %v, /connz %v", got, want)
	}
	sz := getMap(t, base+"/subsz")
	if got, want := value(t, fams, "gnatsd_subsz_num_subscriptions", nil), float64(num(t, sz, "num_subscriptions")); got != want {
		t.Errorf("subsz num_subscriptions %v, /subsz %v", got, want)
	}
}

// TestMetricsCountersRise publishes between two scrapes: the server's and
// the publishing connection's counters rise by what was sent.
func TestMetricsCountersRise(t *testing.T) {
	s, base := runMonitored(t, nil)
	sub := connect(t, s)
	ss, _ := sub.SubscribeSync("rise")
	sub.Flush()
	pub := connect(t, s, nats.Name("riser"))
	cid := fmt.Sprint(mustClientID(t, pub))
	url := base + "/metrics?connz_detailed=true"
	before := scrape(t, url)
	const n = 200
	for i := 0; i < n; i++ {
		pub.Publish("rise", []byte("0123456789"))
	}
	pub.Flush()
	for i := 0; i < n; i++ {
		if _, err := ss.NextMsg(2 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	after := scrape(t, url)
	rise := func(name string, l map[string]string) float64 {
		return value(t, after, name, l) - value(t, before, name, l)
	}
	if d := rise("gnatsd_varz_in_msgs", nil); d != n {
		t.Errorf("varz in_msgs rose by %v, want %d", d, n)
	}
	if d := rise("gnatsd_varz_out_msgs", nil); d != n {
		t.Errorf("varz out_msgs rose by %v, want %d", d, n)
	}
	if d := rise("gnatsd_connz_in_msgs", map[string]string{"cid": cid}); d != n {
		t.Errorf("publisher's in_msgs rose by %v, want %d", d, n)
	}
	if d := rise("gnatsd_connz_in_bytes", map[string]string{"cid": cid}); d != n*10 {
		t.Errorf("publisher's in_bytes rose by %v, want %d", d, n*10)
	}
	if d := rise("gnatsd_varz_http_req_stats_metrics", nil); d != 1 {
		t.Errorf("http_req_stats_metrics rose by %v, want 1", d)
	}
	if value(t, after, "gnatsd_connz_rtt", map[string]string{"cid": cid}) <= 0 {
		t.Error("publisher's rtt not reported")
	}
}

// TestMetricsConnzDetailedOption: per-connection series only when asked,
// one per open connection, and the totals either way.
func TestMetricsConnzDetailedOption(t *testing.T) {
	s, base := runMonitored(t, nil)
	for i := 0; i < 3; i++ {
		connect(t, s, nats.Name(fmt.Sprintf("c%d", i)))
	}
	plain := scrape(t, base+"/metrics")
	if f := plain["gnatsd_connz_in_msgs"]; f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("without connz_detailed want one total sample, got %v", f)
	}
	for _, name := range []string{"gnatsd_connz_rtt", "gnatsd_connz_start", "gnatsd_connz_uptime", "gnatsd_accstatz_sent_bytes", "jetstream_stream_total_bytes"} {
		if plain[name] != nil {
			t.Errorf("%s present without its option", name)
		}
	}
	if v := value(t, plain, "gnatsd_connz_num_connections", nil); v != 3 {
		t.Errorf("num_connections %v", v)
	}
	det := scrape(t, base+"/metrics?connz_detailed=1")
	f := det["gnatsd_connz_in_msgs"]
	if f == nil || len(f.GetMetric()) != 4 {
		t.Fatalf("with connz_detailed want 1 total + 3 connections, got %d", len(f.GetMetric()))
	}
	names := map[string]bool{}
	for _, m := range det["gnatsd_connz_start"].GetMetric() {
		names[labelsOf(m)["name"]] = true
		if got := m.GetUntyped().GetValue(); got < float64(time.Now().Add(-time.Minute).UnixMilli()) {
			t.Errorf("start %v is not a recent epoch in ms", got)
		}
	}
	if !names["c0"] || !names["c1"] || !names["c2"] {
		t.Errorf("connection names %v", names)
	}
}

// TestMetricsOptions: the server_id label choice, the prefix, and bad
// options refused with a 400 and a reason.
func TestMetricsOptions(t *testing.T) {
	s, base := runMetricsJS(t)
	byName := scrape(t, base+"/metrics?server_label=name")
	if value(t, byName, "gnatsd_varz_connections", map[string]string{"server_id": "metrics-srv"}) != 0 {
		t.Error("connections not 0")
	}
	byURL := scrape(t, base+"/metrics?server_label=url")
	value(t, byURL, "gnatsd_varz_connections", map[string]string{"server_id": base})
	byID := scrape(t, base+"/metrics")
	value(t, byID, "gnatsd_varz_connections", map[string]string{"server_id": s.ID()})
	pre := scrape(t, base+"/metrics?prefix=nats&jsz=none")
	if pre["nats_varz_in_msgs"] == nil || pre["gnatsd_varz_in_msgs"] != nil || pre["nats_server_total_streams"] != nil {
		t.Error("prefix=nats&jsz=none: want nats_varz_* and no JetStream series")
	}
	pre = scrape(t, base+"/metrics?prefix=nats")
	if pre["nats_server_total_streams"] == nil {
		t.Error("prefix=nats replaces the jetstream namespace too")
	}
	for q, want := range map[string]string{
		"connz_detailed=maybe": "Error decoding boolean for 'connz_detailed'",
		"accstatz=2x":          "Error decoding boolean for 'accstatz'",
		"jsz=everything":       `invalid jsz filter "everything"`,
		"server_label=host":    `invalid server_label "host"`,
		"prefix=9bad":          `invalid prefix "9bad"`,
		"prefix=a-b":           `invalid prefix "a-b"`,
	} {
		code, body, _ := get(t, base+"/metrics?"+q)
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q, want 400 with %q", q, code, body, want)
		}
	}
}

// TestMetricsSystemRequest scrapes over $SYS.REQ.SERVER.PING.METRICS and
// $SYS.REQ.SERVER.<id>.METRICS: the envelope names the server, the text
// parses and its counters are the server's.
func TestMetricsSystemRequest(t *testing.T) {
	o := systemOptions()
	o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	s := RunServer(t, o)
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	for _, subj := range []string{"$SYS.REQ.SERVER.PING.METRICS", "$SYS.REQ.SERVER." + s.ID() + ".METRICS"} {
		m, err := sys.Request(subj, []byte(`{"connz_detailed":true,"accstatz":true}`), 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		var reply struct {
			Server struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"server"`
			Data struct {
				ContentType string `json:"content_type"`
				Metrics     string `json:"metrics"`
			} `json:"data"`
		}
		if err := json.Unmarshal(m.Data, &reply); err != nil {
			t.Fatalf("%s: %v", m.Data, err)
		}
		if reply.Server.ID != s.ID() || reply.Data.ContentType != "text/plain; version=0.0.4; charset=utf-8" {
			t.Fatalf("envelope %+v", reply.Server)
		}
		fams := parseMetrics(t, strings.NewReader(reply.Data.Metrics))
		if v := value(t, fams, "gnatsd_varz_connections", map[string]string{"server_id": s.ID()}); v != 1 {
			t.Errorf("connections %v, want the sys connection", v)
		}
		if v := value(t, fams, "gnatsd_accstatz_current_connections", map[string]string{"account": "SYS"}); v != 1 {
			t.Errorf("SYS current_connections %v", v)
		}
		if fams["gnatsd_connz_rtt"] == nil {
			t.Error("connz_detailed asked over $SYS but no per-connection series")
		}
	}
	m, err := sys.Request("$SYS.REQ.SERVER.PING.METRICS", []byte(`{"jsz":"bogus"}`), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var bad struct {
		Error struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &bad); err != nil || bad.Error.Code != 400 || !strings.Contains(bad.Error.Description, "invalid jsz filter") {
		t.Errorf("bad options answer %s", m.Data)
	}
}

// rawClients opens n plain protocol connections and waits until the
// server counts them.
func rawClients(tb testing.TB, s *server.Server, n int) {
	tb.Helper()
	addr := strings.TrimPrefix(s.ClientURL(), "nats://")
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte("CONNECT {\"verbose\":false,\"name\":\"bench" + strconv.Itoa(i) + "\"}\r\nSUB x 1\r\n")); err != nil {
			tb.Fatal(err)
		}
	}
	waitFor(tb, 10*time.Second, "connections", func() bool { return s.NumClients() >= n })
}

// TestMetricsScrapeAllocsPerConnection: a scrape's allocations do not grow
// with the number of connections, with or without per-connection series.
func TestMetricsScrapeAllocsPerConnection(t *testing.T) {
	s, _ := runMonitored(t, nil)
	allocs := func(opts *server.MetricsOptions) float64 {
		s.Metrics(opts, "") // warm the pooled buffers
		return testing.AllocsPerRun(20, func() {
			if _, err := s.Metrics(opts, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
	rawClients(t, s, 10)
	few, fewDet := allocs(nil), allocs(&server.MetricsOptions{ConnzDetailed: true})
	rawClients(t, s, 300)
	many, manyDet := allocs(nil), allocs(&server.MetricsOptions{ConnzDetailed: true})
	t.Logf("allocs per scrape: 10 conns %v (detailed %v), 310 conns %v (detailed %v)", few, fewDet, many, manyDet)
	// A little slack for the map and sort work of /varz, nothing per connection.
	if many > few+5 || manyDet > fewDet+5 {
		t.Errorf("allocations grow with connections: %v -> %v, detailed %v -> %v", few, many, fewDet, manyDet)
	}
}

// BenchmarkMetricsScrape1000Conns is one scrape of a server with 1000
// connections, with and without the per-connection series.
func BenchmarkMetricsScrape1000Conns(b *testing.B) {
	o := DefaultTestOptions()
	s := RunServer(b, o)
	rawClients(b, s, 1000)
	for _, bc := range []struct {
		name string
		opts *server.MetricsOptions
	}{{"default", nil}, {"connz_detailed", &server.MetricsOptions{ConnzDetailed: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := s.Metrics(bc.opts, "")
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
