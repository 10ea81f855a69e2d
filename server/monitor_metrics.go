package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// /metrics: the server's state in the Prometheus text format, under the
// names, types, HELP texts and labels prometheus-nats-exporter publishes
// (observed on its v0.20.2 output), so that dashboards and alert rules
// written for the exporter work without it. Values come from the same
// snapshots as the JSON endpoints (Varz, Subsz, routez, Jsz, ...); the
// connection series are read from each client's atomics under its own
// lock, one client at a time, into a pooled buffer.

// MetricsPath is the monitoring path of the Prometheus endpoint.
const MetricsPath = "/metrics"

// metricsContentType is the text exposition format's content type.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// MetricsOptions choose the series of one scrape. The zero value is the
// default scrape: /varz, the /connz totals, /routez, /subsz, /healthz,
// /leafz, /gatewayz and the server's JetStream totals.
type MetricsOptions struct {
	// ConnzDetailed adds one series per connection (the exporter's -connz_detailed).
	ConnzDetailed bool `json:"connz_detailed,omitempty"`
	// Accstatz adds the per-account traffic series (the exporter's -accstatz).
	Accstatz bool `json:"accstatz,omitempty"`
	// Jsz is "server" (the default), "none", "accounts", "streams",
	// "consumers" or "all" (the exporter's -jsz).
	Jsz string `json:"jsz,omitempty"`
	// ServerLabel picks the server_id label's value: "id" (the default,
	// the server's public key), "name" or "url" (the scraped URL, the
	// exporter's default; over $SYS there is none and the id is used).
	ServerLabel string `json:"server_label,omitempty"`
	// Prefix replaces both namespaces, gnatsd and jetstream (the exporter's -prefix).
	Prefix string `json:"prefix,omitempty"`
}

// jsz levels, each including the ones before it.
const (
	jszNone = iota
	jszServer
	jszAccounts
	jszStreams
	jszConsumers
)

var jszLevels = map[string]int{"": jszServer, "server": jszServer, "none": jszNone, "accounts": jszAccounts,
	"streams": jszStreams, "consumers": jszConsumers, "all": jszConsumers}

// check validates the options and returns the jsz level.
func (o *MetricsOptions) check() (int, error) {
	lvl, ok := jszLevels[o.Jsz]
	if !ok {
		return 0, fmt.Errorf("invalid jsz filter %q: use none, server, accounts, streams, consumers or all", o.Jsz)
	}
	switch o.ServerLabel {
	case "", "id", "name", "url":
	default:
		return 0, fmt.Errorf("invalid server_label %q: use id, name or url", o.ServerLabel)
	}
	if o.Prefix != "" && !validMetricPrefix(o.Prefix) {
		return 0, fmt.Errorf("invalid prefix %q: letters, digits and underscores, not starting with a digit", o.Prefix)
	}
	return lvl, nil
}

func validMetricPrefix(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// metricsScratch is what a scrape reuses from the last one: the output
// and the connection snapshot.
type metricsScratch struct {
	w       promWriter
	clients []*client
	conns   []connSample
	labels  []string
}

var metricsPool = sync.Pool{New: func() any { return new(metricsScratch) }}

// handleMetrics answers GET /metrics.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := MetricsOptions{Jsz: q.Get("jsz"), ServerLabel: q.Get("server_label"), Prefix: q.Get("prefix")}
	var err error
	if o.ConnzDetailed, err = queryBool(r, "connz_detailed"); err != nil {
		badRequest(w, err.Error())
		return
	}
	if o.Accstatz, err = queryBool(r, "accstatz"); err != nil {
		badRequest(w, err.Error())
		return
	}
	url := "http://" + r.Host
	if r.TLS != nil {
		url = "https://" + r.Host
	}
	sc := metricsPool.Get().(*metricsScratch)
	defer metricsPool.Put(sc)
	if err := s.writeMetrics(sc, &o, url); err != nil {
		badRequest(w, err.Error())
		return
	}
	w.Header().Set("Content-Type", metricsContentType)
	w.Write(sc.w.b)
}

// Metrics returns one scrape in the text format; url is the server_id
// label's value when opts asks for "url".
func (s *Server) Metrics(opts *MetricsOptions, url string) ([]byte, error) {
	if opts == nil {
		opts = &MetricsOptions{}
	}
	sc := metricsPool.Get().(*metricsScratch)
	defer metricsPool.Put(sc)
	if err := s.writeMetrics(sc, opts, url); err != nil {
		return nil, err
	}
	return slices.Clone(sc.w.b), nil
}

// writeMetrics fills sc.w with every family opts asks for.
func (s *Server) writeMetrics(sc *metricsScratch, o *MetricsOptions, url string) error {
	lvl, err := o.check()
	if err != nil {
		return err
	}
	core, jsNS := "gnatsd", "jetstream"
	if o.Prefix != "" {
		core, jsNS = o.Prefix, o.Prefix
	}
	v := s.Varz()
	w := &sc.w
	w.b = w.b[:0]
	switch o.ServerLabel {
	case "name":
		w.serverID = v.Name
	case "url":
		w.serverID = url
	default:
		w.serverID = v.ID
	}
	if o.Accstatz {
		s.accstatzMetrics(w, core)
	}
	s.connzMetrics(sc, core, o.ConnzDetailed)
	s.gatewayzMetrics(w, core)
	healthzMetrics(w, core, s.healthStatus())
	s.leafzMetrics(w, core)
	rz := s.routez(RoutezOptions{})
	w.gauge(core, "routez_num_routes", "num_routes", float64(rz.NumRoutes))
	w.labelGauge(core, "routez_server_id", "server_id", rz.ID)
	w.labelGauge(core, "routez_server_name", "server_name", rz.Name)
	subszMetrics(w, core, s.Subsz(nil))
	varzMetrics(w, core, v)
	if lvl > jszNone {
		s.jszMetrics(sc, jsNS, v, lvl)
	}
	return nil
}

// varzMetric is one /varz field, flattened as the exporter names it: a
// number, or a string written as a label gauge.
type varzMetric struct {
	name  string
	get   func(v *Varz) float64
	label func(v *Varz) string // a string field; "" leaves it out, as /varz omits it
	skip  func(v *Varz) bool   // the field is absent from /varz (omitempty, or its block is)
}

func noJS(v *Varz) bool { return v.JetStream.Config == nil }

// httpReqStats marks where the per-endpoint request counts go in name order.
const httpReqStats = "http_req_stats"

// varzTable are the exporter's /varz series, by name.
var varzTable = func() []varzMetric {
	js := func(f func(c *JSVarzConfig, st *JSVarzStats) float64) func(v *Varz) float64 {
		return func(v *Varz) float64 { return f(v.JetStream.Config, v.JetStream.Stats) }
	}
	m := []varzMetric{
		{name: "auth_timeout", get: func(v *Varz) float64 { return v.AuthTimeout }},
		{name: "cluster_name", label: func(v *Varz) string { return v.Cluster.Name }},
		{name: "cluster_pool_size", get: func(v *Varz) float64 { return float64(v.Cluster.PoolSize) }, skip: func(v *Varz) bool { return v.Cluster.PoolSize == 0 }},
		{name: "config_load_time", get: func(v *Varz) float64 { return epochMillis(v.ConfigLoadTime) }},
		{name: "connections", get: func(v *Varz) float64 { return float64(v.Connections) }},
		{name: "cores", get: func(v *Varz) float64 { return float64(v.Cores) }},
		{name: "cpu", get: func(v *Varz) float64 { return v.CPU }},
		{name: "disk_io_wait_stats_max_wait_time", get: func(v *Varz) float64 { return float64(v.DiskIOWaitStats.MaxWaitTime) }},
		{name: "disk_io_wait_stats_wait_time", get: func(v *Varz) float64 { return float64(v.DiskIOWaitStats.WaitTime) }},
		{name: "disk_io_wait_stats_waiters", get: func(v *Varz) float64 { return float64(v.DiskIOWaitStats.Waiters) }},
		{name: "disk_io_wait_stats_waits", get: func(v *Varz) float64 { return float64(v.DiskIOWaitStats.Waits) }},
		{name: "gomaxprocs", get: func(v *Varz) float64 { return float64(v.MaxProcs) }},
		{name: "http_port", get: func(v *Varz) float64 { return float64(v.HTTPPort) }},
		{name: httpReqStats},
		{name: "https_port", get: func(v *Varz) float64 { return float64(v.HTTPSPort) }},
		{name: "in_bytes", get: func(v *Varz) float64 { return float64(v.InBytes) }},
		{name: "in_client_bytes", get: func(v *Varz) float64 { return float64(v.InClientBytes) }},
		{name: "in_client_msgs", get: func(v *Varz) float64 { return float64(v.InClientMsgs) }},
		{name: "in_msgs", get: func(v *Varz) float64 { return float64(v.InMsgs) }},
		{name: "jetstream_config_max_memory", get: js(func(c *JSVarzConfig, _ *JSVarzStats) float64 { return float64(c.MaxMemory) }), skip: noJS},
		{name: "jetstream_config_max_storage", get: js(func(c *JSVarzConfig, _ *JSVarzStats) float64 { return float64(c.MaxStore) }), skip: noJS},
		{name: "jetstream_config_sync_interval", get: js(func(c *JSVarzConfig, _ *JSVarzStats) float64 { return float64(c.SyncInterval) }), skip: noJS},
		{name: "jetstream_stats_accounts", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.Accounts) }), skip: noJS},
		{name: "jetstream_stats_api_errors", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.API.Errors) }), skip: noJS},
		{name: "jetstream_stats_api_level", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.API.Level) }), skip: noJS},
		{name: "jetstream_stats_api_total", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.API.Total) }), skip: noJS},
		{name: "jetstream_stats_ha_assets", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.HAAssets) }), skip: noJS},
		{name: "jetstream_stats_memory", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.Memory) }), skip: noJS},
		{name: "jetstream_stats_reserved_memory", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.ReservedMemory) }), skip: noJS},
		{name: "jetstream_stats_reserved_storage", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.ReservedStore) }), skip: noJS},
		{name: "jetstream_stats_storage", get: js(func(_ *JSVarzConfig, st *JSVarzStats) float64 { return float64(st.Store) }), skip: noJS},
		{name: "leafnodes", get: func(v *Varz) float64 { return float64(v.Leafs) }},
		{name: "max_connections", get: func(v *Varz) float64 { return float64(v.MaxConn) }},
		{name: "max_control_line", get: func(v *Varz) float64 { return float64(v.MaxControlLine) }},
		{name: "max_payload", get: func(v *Varz) float64 { return float64(v.MaxPayload) }},
		{name: "max_pending", get: func(v *Varz) float64 { return float64(v.MaxPending) }},
		{name: "mem", get: func(v *Varz) float64 { return float64(v.Mem) }},
		{name: "out_bytes", get: func(v *Varz) float64 { return float64(v.OutBytes) }},
		{name: "out_client_bytes", get: func(v *Varz) float64 { return float64(v.OutClientBytes) }},
		{name: "out_client_msgs", get: func(v *Varz) float64 { return float64(v.OutClientMsgs) }},
		{name: "out_msgs", get: func(v *Varz) float64 { return float64(v.OutMsgs) }},
		{name: "ping_interval", get: func(v *Varz) float64 { return float64(v.PingInterval) }},
		{name: "ping_max", get: func(v *Varz) float64 { return float64(v.MaxPingsOut) }},
		{name: "port", get: func(v *Varz) float64 { return float64(v.Port) }},
		{name: "proto", get: func(v *Varz) float64 { return float64(v.Proto) }},
		{name: "remotes", get: func(v *Varz) float64 { return float64(v.Remotes) }},
		{name: "routes", get: func(v *Varz) float64 { return float64(v.Routes) }},
		{name: "server_id", label: func(v *Varz) string { return v.ID }},
		{name: "server_name", label: func(v *Varz) string { return v.Name }},
		{name: "slow_consumer_stats_clients", get: func(v *Varz) float64 { return float64(v.SlowConsumersStats.Clients) }},
		{name: "slow_consumer_stats_gateways", get: func(v *Varz) float64 { return float64(v.SlowConsumersStats.Gateways) }},
		{name: "slow_consumer_stats_leafs", get: func(v *Varz) float64 { return float64(v.SlowConsumersStats.Leafs) }},
		{name: "slow_consumer_stats_routes", get: func(v *Varz) float64 { return float64(v.SlowConsumersStats.Routes) }},
		{name: "slow_consumers", get: func(v *Varz) float64 { return float64(v.SlowConsumers) }},
		{name: "stale_connection_stats_clients", get: func(v *Varz) float64 { return float64(v.StaleConnectionStats.Clients) }},
		{name: "stale_connection_stats_gateways", get: func(v *Varz) float64 { return float64(v.StaleConnectionStats.Gateways) }},
		{name: "stale_connection_stats_leafs", get: func(v *Varz) float64 { return float64(v.StaleConnectionStats.Leafs) }},
		{name: "stale_connection_stats_routes", get: func(v *Varz) float64 { return float64(v.StaleConnectionStats.Routes) }},
		{name: "stale_connections", get: func(v *Varz) float64 { return float64(v.StaleConnections) }},
		{name: "stalled_clients", get: func(v *Varz) float64 { return float64(v.StalledClients) }},
		{name: "start", get: func(v *Varz) float64 { return epochMillis(v.Start) }},
		{name: "subscriptions", get: func(v *Varz) float64 { return float64(v.Subscriptions) }},
		{name: "tls_timeout", get: func(v *Varz) float64 { return v.TLSTimeout }},
		{name: "total_connections", get: func(v *Varz) float64 { return float64(v.TotalConnections) }},
		{name: "version", label: func(v *Varz) string { return v.Version }},
		{name: "write_deadline", get: func(v *Varz) float64 { return float64(v.WriteDeadline) }},
	}
	sort.Slice(m, func(i, j int) bool { return m[i].name < m[j].name })
	return m
}()

// varzMetrics writes the /varz families: every numeric field as a gauge
// whose HELP is the flattened field name, the request counts per endpoint,
// and the identity strings as label gauges.
func varzMetrics(w *promWriter, ns string, v *Varz) {
	for _, m := range varzTable {
		switch {
		case m.name == httpReqStats:
			httpReqStatsMetrics(w, ns, v.HTTPReqStats)
		case m.label != nil:
			if l := m.label(v); l != "" {
				w.labelGauge(ns, "varz_"+m.name, m.name, l)
			}
		case m.skip == nil || !m.skip(v):
			w.family(ns, "varz_"+m.name, m.name, promGauge)
			w.sample(m.get(v))
		}
	}
}

// httpReqStatsMetrics writes one gauge per monitoring path requested so
// far, named after the path ("/varz" is http_req_stats_varz).
func httpReqStatsMetrics(w *promWriter, ns string, stats map[string]uint64) {
	paths := make([]string, 0, len(stats))
	for p := range stats {
		if metricPathName(p) != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		name := "http_req_stats_" + metricPathName(p)
		w.family(ns, "varz_"+name, name, promGauge)
		w.sample(float64(stats[p]))
	}
}

// metricPathName turns a monitoring path into a metric name part:
// "/debug/vars" is "debug_vars"; the index "/" has none.
func metricPathName(p string) string {
	p = strings.Trim(p, "/")
	return strings.Map(func(r rune) rune {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, p)
}

func subszMetrics(w *promWriter, ns string, sz *Subsz) {
	st := sz.SublistStats
	w.gauge(ns, "subsz_avg_fanout", "avg_fanout", st.AvgFanout)
	w.gauge(ns, "subsz_cache_hit_rate", "cache_hit_rate", st.CacheHitRate)
	w.gauge(ns, "subsz_limit", "limit", float64(sz.Limit))
	w.gauge(ns, "subsz_max_fanout", "max_fanout", float64(st.MaxFanout))
	w.gauge(ns, "subsz_num_cache", "num_cache", float64(st.NumCache))
	w.gauge(ns, "subsz_num_inserts", "num_inserts", float64(st.NumInserts))
	w.gauge(ns, "subsz_num_matches", "num_matches", float64(st.NumMatches))
	w.gauge(ns, "subsz_num_removes", "num_removes", float64(st.NumRemoves))
	w.gauge(ns, "subsz_num_subscriptions", "num_subscriptions", float64(st.NumSubs))
	w.gauge(ns, "subsz_offset", "offset", float64(sz.Offset))
	w.labelGauge(ns, "subsz_server_id", "server_id", sz.ID)
	w.gauge(ns, "subsz_total", "total", float64(sz.Total))
}

// healthzMetrics writes the exporter's two health series: status is 0 when
// healthy (so the exporter defines it), status_value is 1 for the status
// the server reports.
func healthzMetrics(w *promWriter, ns string, hs HealthStatus) {
	w.gauge(ns, "healthz_status", "status", b2f(hs.Status != "ok"))
	w.family(ns, "healthz_status_value", "status", promGauge)
	w.sample(b2f(hs.Status == "ok"), "value", hs.Status)
}

// accstatzMetrics writes every account's traffic, as /accstatz?unused=1.
func (s *Server) accstatzMetrics(w *promWriter, ns string) {
	var stats []*AccountStatz
	for _, a := range s.sortedAccounts() {
		stats = append(stats, a.accountStatz())
	}
	fams := []struct {
		name string
		get  func(st *AccountStatz) float64
	}{
		{"current_connections", func(st *AccountStatz) float64 { return float64(st.Conns) }},
		{"leaf_nodes", func(st *AccountStatz) float64 { return float64(st.LeafNodes) }},
		{"received_bytes", func(st *AccountStatz) float64 { return float64(st.Received.Bytes) }},
		{"received_messages", func(st *AccountStatz) float64 { return float64(st.Received.Msgs) }},
		{"sent_bytes", func(st *AccountStatz) float64 { return float64(st.Sent.Bytes) }},
		{"sent_messages", func(st *AccountStatz) float64 { return float64(st.Sent.Msgs) }},
		{"slow_consumers", func(st *AccountStatz) float64 { return float64(st.SlowConsumers) }},
		{"subscriptions", func(st *AccountStatz) float64 { return float64(st.NumSubs) }},
		{"total_connections", func(st *AccountStatz) float64 { return float64(st.TotalConns) }},
	}
	for _, f := range fams {
		w.family(ns, "accstatz_"+f.name, f.name, promGauge)
		for _, st := range stats {
			w.sample(f.get(st), "account", st.Account, "account_id", st.Account, "account_name", st.Name)
		}
	}
}

// connSample is what the connection series need of one client, copied
// under its lock. Its strings are the client's own, not copies.
type connSample struct {
	cid                                uint64
	ctype, host                        string
	port                               int
	name, lang, version, acc           string
	tlsVersion, tlsCipher              string
	start, last                        time.Time
	rtt                                time.Duration
	pending                            int64
	subs                               int
	inMsgs, inBytes, outMsgs, outBytes int64
}

// snapshotConns fills sc.conns with the first DefaultConnListSize open
// connections by cid, the page /connz returns by default, and returns how
// many there are in all.
func (s *Server) snapshotConns(sc *metricsScratch, detailed bool) int {
	s.mu.Lock()
	sc.clients = sc.clients[:0]
	for _, c := range s.clients {
		sc.clients = append(sc.clients, c)
	}
	s.mu.Unlock()
	total := len(sc.clients)
	if total > DefaultConnListSize {
		slices.SortFunc(sc.clients, func(a, b *client) int { return cmp.Compare(a.cid, b.cid) })
		sc.clients = sc.clients[:DefaultConnListSize]
	}
	sc.conns = sc.conns[:0]
	for _, c := range sc.clients {
		sc.conns = append(sc.conns, c.metricsSample(detailed))
	}
	clear(sc.clients[:cap(sc.clients)]) // keep no closed client alive in the pool
	slices.SortFunc(sc.conns, func(a, b connSample) int { return cmp.Compare(a.cid, b.cid) })
	return total
}

func (c *client) metricsSample(detailed bool) connSample {
	cs := connSample{cid: c.cid, inMsgs: c.inMsgs.Load(), inBytes: c.inBytes.Load(),
		outMsgs: c.outMsgs.Load(), outBytes: c.outBytes.Load()}
	c.mu.Lock()
	cs.pending, cs.subs = c.out.pb, len(c.subs)
	if detailed {
		cs.ctype, cs.host, cs.port, cs.start, cs.last, cs.rtt = c.clientType(), c.host, c.port, c.start, c.lastActivity(), c.lastRTT
		cs.name, cs.lang, cs.version = c.opts.Name, c.opts.Lang, c.opts.Version
		if c.acc != nil {
			cs.acc = c.acc.Name
		}
	}
	c.mu.Unlock()
	if detailed {
		t := c.tlsInfo(false)
		cs.tlsVersion, cs.tlsCipher = t.version, t.cipher
	}
	return cs
}

// connzMetrics writes the /connz families: the page's totals, and with
// detailed one sample per connection labelled as the exporter labels it
// (account is empty for the global account, whose name is in name_tag).
func (s *Server) connzMetrics(sc *metricsScratch, ns string, detailed bool) {
	total := s.snapshotConns(sc, detailed)
	w := &sc.w
	now := time.Now()
	sum := func(f func(cs *connSample) float64) float64 {
		var t float64
		for i := range sc.conns {
			t += f(&sc.conns[i])
		}
		return t
	}
	fams := []struct {
		name, help, typ string
		get             func(cs *connSample) float64
		total           bool // has a total sample before the per-connection ones
	}{
		{"idle", "idle time duration in milliseconds", promGauge, func(cs *connSample) float64 { return wholeSecondsMillis(now.Sub(cs.last)) }, false},
		{"in_bytes", "in_bytes", promCounter, func(cs *connSample) float64 { return float64(cs.inBytes) }, true},
		{"in_msgs", "in_msgs", promCounter, func(cs *connSample) float64 { return float64(cs.inMsgs) }, true},
		{"last_activity", "epoch time at which the last activity was registred", promUntyped, func(cs *connSample) float64 { return epochMillis(cs.last) }, false},
		{"limit", "limit", promGauge, nil, true},
		{"num_connections", "num_connections", promGauge, nil, true},
		{"offset", "offset", promGauge, nil, true},
		{"out_bytes", "out_bytes", promCounter, func(cs *connSample) float64 { return float64(cs.outBytes) }, true},
		{"out_msgs", "out_msgs", promCounter, func(cs *connSample) float64 { return float64(cs.outMsgs) }, true},
		{"pending_bytes", "pending_bytes", promGauge, func(cs *connSample) float64 { return float64(cs.pending) }, true},
		{"rtt", "response time latency in microseconds", promGauge, func(cs *connSample) float64 { return float64(cs.rtt.Microseconds()) }, false},
		{"start", "epoch time at which the connection was started", promUntyped, func(cs *connSample) float64 { return epochMillis(cs.start) }, false},
		{"subscriptions", "subscriptions", promGauge, func(cs *connSample) float64 { return float64(cs.subs) }, true},
		{"total", "total", promGauge, nil, true},
		{"uptime", "uptime duration in milliseconds", promUntyped, func(cs *connSample) float64 { return wholeSecondsMillis(now.Sub(cs.start)) }, false},
	}
	for _, f := range fams {
		perConn := detailed && f.get != nil && len(sc.conns) > 0
		if !f.total && !perConn {
			continue
		}
		w.family(ns, "connz_"+f.name, f.help, f.typ)
		switch f.name {
		case "limit":
			w.sample(DefaultConnListSize)
		case "num_connections":
			w.sample(float64(len(sc.conns)))
		case "offset":
			w.sample(0)
		case "total":
			w.sample(float64(total))
		default:
			if f.total {
				w.sample(sum(f.get))
			}
		}
		if !perConn {
			continue
		}
		for i := range sc.conns {
			cs := &sc.conns[i]
			w.connSample(f.get(cs), cs)
		}
	}
}
