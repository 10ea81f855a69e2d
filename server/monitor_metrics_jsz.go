package server

import (
	"encoding/json"
	"time"
)

// The JetStream, leaf node and gateway series of /metrics, and the
// $SYS.REQ.SERVER.PING.METRICS request.

// jsMetricLabels are the labels every JetStream series carries, sorted,
// without server_id.
type jsMetricLabels struct {
	cluster, domain, serverName, metaLeader, isMetaLeader string
}

// jszMetrics writes the exporter's -jsz families (namespace "jetstream"):
// the server's totals, then per account, stream and consumer by level.
func (s *Server) jszMetrics(sc *metricsScratch, ns string, v *Varz, lvl int) {
	w := &sc.w
	opts := &JSzOptions{Accounts: lvl >= jszAccounts, Streams: lvl >= jszStreams,
		Consumer: lvl >= jszConsumers, Config: lvl >= jszConsumers}
	jz := s.Jsz(opts)
	jl := jsMetricLabels{cluster: v.Cluster.Name, domain: jz.Config.Domain, serverName: v.Name, isMetaLeader: "false"}
	if lvl >= jszAccounts {
		jsAccountMetrics(sc, ns, jl, jz.AccountDetails)
	}
	if lvl >= jszConsumers {
		jsConsumerMetrics(sc, ns, jl, jz.AccountDetails)
	}
	server := []struct {
		name, help string
		v          float64
	}{
		{"server_jetstream_disabled", "JetStream disabled or not", b2f(jz.Disabled)},
		{"server_max_memory", "JetStream Max Memory", float64(jz.Config.MaxMemory)},
		{"server_max_storage", "JetStream Max Storage", float64(jz.Config.MaxStore)},
		{"server_total_consumers", "Total number of consumers in JetStream", float64(jz.Consumers)},
		{"server_total_message_bytes", "Total number of bytes stored in JetStream", float64(jz.Bytes)},
		{"server_total_messages", "Total number of stored messages in JetStream", float64(jz.Messages)},
		{"server_total_streams", "Total number of streams in JetStream", float64(jz.Streams)},
	}
	for _, m := range server {
		w.family(ns, m.name, m.help, promGauge)
		w.sample(m.v, "cluster", jl.cluster, "domain", jl.domain, "is_meta_leader", jl.isMetaLeader,
			"meta_leader", jl.metaLeader, "server_name", jl.serverName)
	}
	if lvl >= jszStreams {
		jsStreamMetrics(sc, ns, jl, jz.AccountDetails, lvl >= jszConsumers)
	}
}

func jsAccountMetrics(sc *metricsScratch, ns string, jl jsMetricLabels, accs []*AccountDetail) {
	w := &sc.w
	fams := []struct {
		name, help string
		get        func(a *AccountDetail) float64
	}{
		{"account_max_memory", "JetStream Account Max Memory in bytes", func(a *AccountDetail) float64 { return float64(a.ReservedMemory) }},
		{"account_max_storage", "JetStream Account Max Storage in bytes", func(a *AccountDetail) float64 { return float64(a.ReservedStore) }},
		{"account_memory_used", "Total number of bytes used by JetStream memory", func(a *AccountDetail) float64 { return float64(a.Memory) }},
		{"account_storage_used", "Total number of bytes used by JetStream storage", func(a *AccountDetail) float64 { return float64(a.Store) }},
	}
	for _, f := range fams {
		if len(accs) == 0 {
			return
		}
		w.family(ns, f.name, f.help, promGauge)
		for _, a := range accs {
			w.sample(f.get(a), "account", a.Name, "account_id", a.ID, "account_name", a.Name, "cluster", jl.cluster,
				"domain", jl.domain, "is_meta_leader", jl.isMetaLeader, "meta_leader", jl.metaLeader, "server_name", jl.serverName)
		}
	}
}

// streamLeader is the stream's (or consumer's) leader as /jsz names it.
func streamLeader(ci *ClusterInfo) string {
	if ci == nil {
		return ""
	}
	return ci.Leader
}

func jsStreamMetrics(sc *metricsScratch, ns string, jl jsMetricLabels, accs []*AccountDetail, withConfig bool) {
	w := &sc.w
	fams := []struct {
		name, help string
		get        func(sd *StreamDetail) float64
		config     bool
	}{
		{"stream_consumer_count", "Total number of consumers from a stream", func(sd *StreamDetail) float64 { return float64(sd.State.Consumers) }, false},
		{"stream_first_seq", "First sequence from a stream", func(sd *StreamDetail) float64 { return float64(sd.State.FirstSeq) }, false},
		{"stream_last_seq", "Last sequence from a stream", func(sd *StreamDetail) float64 { return float64(sd.State.LastSeq) }, false},
		{"stream_limit_bytes", "The maximum configured storage limit (in bytes) for a JetStream stream. A value of -1 indicates no limit.",
			func(sd *StreamDetail) float64 { return float64(sd.Config.MaxBytes) }, true},
		{"stream_limit_messages", "The maximum number of messages allowed in a JetStream stream as per its configuration. A value of -1 indicates no limit.",
			func(sd *StreamDetail) float64 { return float64(sd.Config.MaxMsgs) }, true},
		{"stream_subject_count", "Total number of subjects in a stream", func(sd *StreamDetail) float64 { return float64(sd.State.NumSubjects) }, false},
		{"stream_total_bytes", "Total stored bytes from a stream", func(sd *StreamDetail) float64 { return float64(sd.State.Bytes) }, false},
		{"stream_total_messages", "Total number of messages from a stream", func(sd *StreamDetail) float64 { return float64(sd.State.Msgs) }, false},
	}
	for _, f := range fams {
		if (f.config && !withConfig) || !hasStreams(accs) {
			continue
		}
		w.family(ns, f.name, f.help, promGauge)
		for _, a := range accs {
			for _, sd := range a.Streams {
				if f.config && sd.Config == nil {
					continue
				}
				leader := streamLeader(sd.Cluster)
				w.sample(f.get(sd), "account", a.Name, "account_id", a.ID, "account_name", a.Name, "cluster", jl.cluster,
					"domain", jl.domain, "is_meta_leader", jl.isMetaLeader, "is_stream_leader", boolLabel(leader == jl.serverName),
					"meta_leader", jl.metaLeader, "server_name", jl.serverName, "stream_leader", leader,
					"stream_name", sd.Name, "stream_raft_group", "")
			}
		}
	}
}

func hasStreams(accs []*AccountDetail) bool {
	for _, a := range accs {
		if len(a.Streams) > 0 {
			return true
		}
	}
	return false
}

func jsConsumerMetrics(sc *metricsScratch, ns string, jl jsMetricLabels, accs []*AccountDetail) {
	w := &sc.w
	now := time.Now()
	since := func(t *time.Time) (float64, bool) {
		if t == nil {
			return 0, false
		}
		return now.Sub(*t).Seconds(), true
	}
	always := func(v float64) (float64, bool) { return v, true }
	fams := []struct {
		name, help string
		get        func(ci *ConsumerInfo) (float64, bool)
	}{
		{"consumer_ack_floor_consumer_seq", "Number of ack floor consumer seq from a consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.AckFloor.Consumer)) }},
		{"consumer_ack_floor_stream_seq", "Number of ack floor stream seq from a consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.AckFloor.Stream)) }},
		{"consumer_delivered_consumer_seq", "Latest sequence number of a stream consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.Delivered.Consumer)) }},
		{"consumer_delivered_stream_seq", "Latest sequence number of a stream", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.Delivered.Stream)) }},
		{"consumer_last_ack_seconds", "Seconds since last ack from consumer", func(ci *ConsumerInfo) (float64, bool) { return since(ci.AckFloor.Last) }},
		{"consumer_last_delivery_seconds", "Seconds since last message delivery to consumer", func(ci *ConsumerInfo) (float64, bool) { return since(ci.Delivered.Last) }},
		{"consumer_num_ack_pending", "Number of pending acks from a consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.NumAckPending)) }},
		{"consumer_num_pending", "Number of pending messages from a consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.NumPending)) }},
		{"consumer_num_redelivered", "Number of redelivered messages from a consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.NumRedelivered)) }},
		{"consumer_num_waiting", "Number of inflight fetch requests from a pull consumer", func(ci *ConsumerInfo) (float64, bool) { return always(float64(ci.NumWaiting)) }},
	}
	for _, f := range fams {
		started := false
		for _, a := range accs {
			for _, sd := range a.Streams {
				sLeader := streamLeader(sd.Cluster)
				for _, ci := range sd.Consumers {
					v, ok := f.get(ci)
					if !ok {
						continue
					}
					if !started {
						w.family(ns, f.name, f.help, promGauge)
						started = true
					}
					desc := ""
					if ci.Config != nil {
						desc = ci.Config.Description
					}
					cLeader := streamLeader(ci.Cluster)
					if cLeader == "" {
						cLeader = sLeader
					}
					w.sample(v, "account", a.Name, "account_id", a.ID, "account_name", a.Name, "cluster", jl.cluster,
						"consumer_desc", desc, "consumer_leader", cLeader, "consumer_name", ci.Name, "domain", jl.domain,
						"is_consumer_leader", boolLabel(cLeader == jl.serverName), "is_meta_leader", jl.isMetaLeader,
						"is_stream_leader", boolLabel(sLeader == jl.serverName), "meta_leader", jl.metaLeader,
						"server_name", jl.serverName, "stream_leader", sLeader, "stream_name", sd.Name, "stream_raft_group", "")
				}
			}
		}
	}
}

// jsonRows reads v (a monitoring answer's list or map of entries, whatever
// its Go type) back from its JSON, so that the leaf node and gateway series
// follow what /leafz and /gatewayz report without this file knowing their
// types. Those lists are short: a scrape pays this once per link.
func jsonRows[T any](v any) T {
	var out T
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// jsonNum, jsonStr read a field of a decoded JSON object.
func jsonNum(m map[string]any, k string) float64 {
	f, _ := m[k].(float64)
	return f
}

func jsonStr(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return formatJSONNumber(v)
	}
	return ""
}

func formatJSONNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// jsonMicros reads a duration string ("146µs", "1.2ms") as microseconds.
func jsonMicros(m map[string]any, k string) float64 {
	d, err := time.ParseDuration(jsonStr(m, k))
	if err != nil {
		return 0
	}
	return float64(d.Microseconds())
}

// jsonTime reads an RFC 3339 time.
func jsonTime(m map[string]any, k string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, jsonStr(m, k))
	return t
}

// leafzMetrics writes the /leafz families: the number of leaf node
// connections, and per connection its traffic, labelled by account, ip,
// port and remote name.
func (s *Server) leafzMetrics(w *promWriter, ns string) {
	lz := s.leafz()
	leafs := jsonRows[[]map[string]any](lz.Leafs)
	per := func(name, help, typ, field string) {
		if len(leafs) == 0 {
			return
		}
		w.family(ns, name, help, typ)
		for _, l := range leafs {
			v := 1.0
			switch field {
			case "rtt":
				v = jsonMicros(l, field)
			case "":
			default:
				v = jsonNum(l, field)
			}
			acc := jsonStr(l, "account")
			w.sample(v, "account", acc, "account_id", acc, "ip", jsonStr(l, "ip"), "name", jsonStr(l, "name"), "port", jsonStr(l, "port"))
		}
	}
	per("leafz_conn_in_bytes", "in_bytes", promCounter, "in_bytes")
	per("leafz_conn_in_msgs", "in_msgs", promCounter, "in_msgs")
	w.gauge(ns, "leafz_conn_nodes_total", "nodes_total", float64(lz.NumLeafs))
	per("leafz_conn_out_bytes", "out_bytes", promCounter, "out_bytes")
	per("leafz_conn_out_msgs", "out_msgs", promCounter, "out_msgs")
	per("leafz_conn_rtt", "rtt in microseconds", promGauge, "rtt")
	per("leafz_conn_subscriptions_total", "subscriptions", promGauge, "subscriptions")
	per("leafz_info", "leaf node connection", promGauge, "")
}

// gatewayRow is one gateway connection of /gatewayz.
type gatewayRow struct {
	remote string
	conn   map[string]any
	conf   bool
}

// gatewayzMetrics writes one set of series per gateway connection,
// outbound then inbound; nothing without gateways, as the exporter.
func (s *Server) gatewayzMetrics(w *promWriter, ns string) {
	type entry struct {
		Configured bool           `json:"configured"`
		Conn       map[string]any `json:"connection"`
	}
	gz := jsonRows[struct {
		Name string             `json:"name"`
		Out  map[string]entry   `json:"outbound_gateways"`
		In   map[string][]entry `json:"inbound_gateways"`
	}](s.gatewayz(&GatewayzOptions{}))
	var out, in []gatewayRow
	for name, e := range gz.Out {
		out = append(out, gatewayRow{name, e.Conn, e.Configured})
	}
	for name, es := range gz.In {
		for _, e := range es {
			in = append(in, gatewayRow{name, e.Conn, e.Configured})
		}
	}
	gatewayRows(w, ns, "inbound_gateway", gz.Name, in)
	gatewayRows(w, ns, "outbound_gateway", gz.Name, out)
}

func gatewayRows(w *promWriter, ns, dir, local string, rows []gatewayRow) {
	if len(rows) == 0 {
		return
	}
	now := time.Now()
	fams := []struct {
		name string
		get  func(r gatewayRow) float64
	}{
		{"configured", func(r gatewayRow) float64 { return b2f(r.conf) }},
		{"conn_idle_seconds", func(r gatewayRow) float64 { return now.Sub(jsonTime(r.conn, "last_activity")).Seconds() }},
		{"conn_in_bytes", func(r gatewayRow) float64 { return jsonNum(r.conn, "in_bytes") }},
		{"conn_in_msgs", func(r gatewayRow) float64 { return jsonNum(r.conn, "in_msgs") }},
		{"conn_last_activity_seconds", func(r gatewayRow) float64 { return float64(jsonTime(r.conn, "last_activity").Unix()) }},
		{"conn_out_bytes", func(r gatewayRow) float64 { return jsonNum(r.conn, "out_bytes") }},
		{"conn_out_msgs", func(r gatewayRow) float64 { return jsonNum(r.conn, "out_msgs") }},
		{"conn_pending_bytes", func(r gatewayRow) float64 { return jsonNum(r.conn, "pending_bytes") }},
		{"conn_rtt", func(r gatewayRow) float64 { return jsonMicros(r.conn, "rtt") }},
		{"conn_start_time_seconds", func(r gatewayRow) float64 { return float64(jsonTime(r.conn, "start").Unix()) }},
		{"conn_subscriptions", func(r gatewayRow) float64 { return jsonNum(r.conn, "subscriptions") }},
		{"conn_uptime_seconds", func(r gatewayRow) float64 { return now.Sub(jsonTime(r.conn, "start")).Seconds() }},
	}
	for _, f := range fams {
		w.family(ns, "gatewayz_"+dir+"_"+f.name, dir+" "+f.name, promGauge)
		for _, r := range rows {
			w.sample(f.get(r), "cid", jsonStr(r.conn, "cid"), "gateway_name", local, "remote_gateway_name", r.remote)
		}
	}
}

// MetricsReply is the data of a $SYS.REQ.SERVER.PING.METRICS answer, in
// the usual {"server": {...}, "data": {...}} envelope:
//
//	{"content_type": "text/plain; version=0.0.4; charset=utf-8",
//	 "metrics": "# HELP gnatsd_varz_in_msgs in_msgs\n..."}
//
// metrics is exactly what GET /metrics answers for the same options (the
// request's JSON body: MetricsOptions), with server_id the server's id
// unless server_label is "name". Each server of a cluster answers the PING
// form, so one request scrapes them all.
type MetricsReply struct {
	ContentType string `json:"content_type"`
	Metrics     string `json:"metrics"`
}

// sysMetrics answers $SYS.REQ.SERVER.PING.METRICS and $SYS.REQ.SERVER.<id>.METRICS.
func sysMetrics(s *Server, r *sysRequest) (any, error) {
	var opts MetricsOptions
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	if _, err := opts.check(); err != nil {
		return nil, requestError{err}
	}
	b, err := s.Metrics(&opts, s.info.ID)
	if err != nil {
		return nil, requestError{err}
	}
	return &MetricsReply{ContentType: metricsContentType, Metrics: string(b)}, nil
}

func init() {
	sysServerRequests["METRICS"] = sysMetrics
}
