package server

import (
	"net/http"
	"runtime"
	"time"

	"github.com/nats-io/jwt/v2"
)

// Varz is the /varz answer: identity, configuration, limits and counters.
// Fields are in the reference's order with its names and types.
type Varz struct {
	ID                    string                `json:"server_id"`
	Name                  string                `json:"server_name"`
	Version               string                `json:"version"`
	Proto                 int                   `json:"proto"`
	GitCommit             string                `json:"git_commit,omitempty"`
	GoVersion             string                `json:"go"`
	Host                  string                `json:"host"`
	Port                  int                   `json:"port"`
	AuthRequired          bool                  `json:"auth_required,omitempty"`
	TLSRequired           bool                  `json:"tls_required,omitempty"`
	TLSVerify             bool                  `json:"tls_verify,omitempty"`
	IP                    string                `json:"ip,omitempty"`
	ClientConnectURLs     []string              `json:"connect_urls,omitempty"`
	MaxConn               int                   `json:"max_connections"`
	MaxSubs               int                   `json:"max_subscriptions,omitempty"`
	PingInterval          time.Duration         `json:"ping_interval"`
	MaxPingsOut           int                   `json:"ping_max"`
	HTTPHost              string                `json:"http_host"`
	HTTPPort              int                   `json:"http_port"`
	HTTPBasePath          string                `json:"http_base_path"`
	HTTPSPort             int                   `json:"https_port"`
	AuthTimeout           float64               `json:"auth_timeout"`
	MaxControlLine        int32                 `json:"max_control_line"`
	MaxPayload            int                   `json:"max_payload"`
	MaxPending            int64                 `json:"max_pending"`
	Cluster               ClusterOptsVarz       `json:"cluster"`
	Gateway               GatewayOptsVarz       `json:"gateway"`
	LeafNode              LeafNodeOptsVarz      `json:"leaf"`
	MQTT                  MQTTOptsVarz          `json:"mqtt"`
	Websocket             WebsocketOptsVarz     `json:"websocket"`
	JetStream             JetStreamVarz         `json:"jetstream"`
	TLSTimeout            float64               `json:"tls_timeout"`
	WriteDeadline         time.Duration         `json:"write_deadline"`
	Start                 time.Time             `json:"start"`
	Now                   time.Time             `json:"now"`
	Uptime                string                `json:"uptime"`
	Mem                   int64                 `json:"mem"`
	Cores                 int                   `json:"cores"`
	MaxProcs              int                   `json:"gomaxprocs"`
	CPU                   float64               `json:"cpu"`
	Connections           int                   `json:"connections"`
	TotalConnections      uint64                `json:"total_connections"`
	Routes                int                   `json:"routes"`
	Remotes               int                   `json:"remotes"`
	Leafs                 int                   `json:"leafnodes"`
	InMsgs                int64                 `json:"in_msgs"`
	InBytes               int64                 `json:"in_bytes"`
	InClientMsgs          int64                 `json:"in_client_msgs"`
	InClientBytes         int64                 `json:"in_client_bytes"`
	OutMsgs               int64                 `json:"out_msgs"`
	OutBytes              int64                 `json:"out_bytes"`
	OutClientMsgs         int64                 `json:"out_client_msgs"`
	OutClientBytes        int64                 `json:"out_client_bytes"`
	SlowConsumers         int64                 `json:"slow_consumers"`
	StaleConnections      int64                 `json:"stale_connections"`
	StalledClients        int64                 `json:"stalled_clients"`
	Subscriptions         uint32                `json:"subscriptions"`
	HTTPReqStats          map[string]uint64     `json:"http_req_stats"`
	ConfigLoadTime        time.Time             `json:"config_load_time"`
	ConfigDigest          string                `json:"config_digest"`
	Tags                  []string              `json:"tags,omitempty"`
	FeatureFlags          map[string]bool       `json:"feature_flags"`
	TrustedOperatorsJwt   []string              `json:"trusted_operators_jwt,omitempty"`
	TrustedOperatorsClaim []*jwt.OperatorClaims `json:"trusted_operators_claim,omitempty"`
	SystemAccount         string                `json:"system_account,omitempty"`
	SlowConsumersStats    *SlowConsumersStats   `json:"slow_consumer_stats"`
	StaleConnectionStats  *StaleConnectionStats `json:"stale_connection_stats"`
	DiskIOWaitStats       DiskIOWaitStats       `json:"disk_io_wait_stats"`
}

// ClusterOptsVarz is the cluster block of /varz ({} without a cluster, as
// the reference renders it); filled in monitor_routez.go.
type ClusterOptsVarz struct {
	Name        string   `json:"name,omitempty"`
	Host        string   `json:"addr,omitempty"`
	Port        int      `json:"cluster_port,omitempty"`
	AuthTimeout float64  `json:"auth_timeout,omitempty"`
	URLs        []string `json:"urls,omitempty"`
	TLSTimeout  float64  `json:"tls_timeout,omitempty"`
	PoolSize    int      `json:"pool_size,omitempty"`
}

// MQTTOptsVarz is the mqtt block of /varz, in the reference's field
// order; empty without an MQTT listener.
type MQTTOptsVarz struct {
	Host            string        `json:"host,omitempty"`
	Port            int           `json:"port,omitempty"`
	NoAuthUser      string        `json:"no_auth_user,omitempty"`
	AuthTimeout     float64       `json:"auth_timeout,omitempty"`
	TLSMap          bool          `json:"tls_map,omitempty"`
	TLSTimeout      float64       `json:"tls_timeout,omitempty"`
	TLSPinnedCerts  []string      `json:"tls_pinned_certs,omitempty"`
	JsDomain        string        `json:"js_domain,omitempty"`
	AckWait         time.Duration `json:"ack_wait,omitempty"`
	MaxAckPending   uint16        `json:"max_ack_pending,omitempty"`
	TLSCertNotAfter *time.Time    `json:"tls_cert_not_after,omitempty"`
}

// WebsocketOptsVarz is the websocket block of /varz, in the reference's
// field order; empty without a websocket listener.
type WebsocketOptsVarz struct {
	Host             string        `json:"host,omitempty"`
	Port             int           `json:"port,omitempty"`
	Advertise        string        `json:"advertise,omitempty"`
	NoAuthUser       string        `json:"no_auth_user,omitempty"`
	JWTCookie        string        `json:"jwt_cookie,omitempty"`
	HandshakeTimeout time.Duration `json:"handshake_timeout,omitempty"`
	AuthTimeout      float64       `json:"auth_timeout,omitempty"`
	NoTLS            bool          `json:"no_tls,omitempty"`
	TLSMap           bool          `json:"tls_map,omitempty"`
	TLSPinnedCerts   []string      `json:"tls_pinned_certs,omitempty"`
	SameOrigin       bool          `json:"same_origin,omitempty"`
	AllowedOrigins   []string      `json:"allowed_origins,omitempty"`
	Compression      bool          `json:"compression,omitempty"`
	TLSCertNotAfter  *time.Time    `json:"tls_cert_not_after,omitempty"`
}

// JetStreamVarz is the jetstream block of /varz, empty while JetStream is off.
type JetStreamVarz struct {
	Config *JSVarzConfig      `json:"config,omitempty"`
	Stats  *JSVarzStats       `json:"stats,omitempty"`
	Meta   *JSMetaClusterInfo `json:"meta,omitempty"`
	Limits *JSVarzLimits      `json:"limits,omitempty"`
}

// JSVarzConfig is the JetStream configuration in /varz.
type JSVarzConfig struct {
	MaxMemory    int64         `json:"max_memory"`
	MaxStore     int64         `json:"max_storage"`
	StoreDir     string        `json:"store_dir,omitempty"`
	SyncInterval time.Duration `json:"sync_interval,omitempty"`
	SyncAlways   bool          `json:"sync_always,omitempty"`
	Domain       string        `json:"domain,omitempty"`
	UniqueTag    string        `json:"unique_tag,omitempty"`
	Strict       bool          `json:"strict,omitempty"`
}

// JSVarzStats is JetStream's usage in /varz.
type JSVarzStats struct {
	Memory         uint64     `json:"memory"`
	Store          uint64     `json:"storage"`
	ReservedMemory uint64     `json:"reserved_memory"`
	ReservedStore  uint64     `json:"reserved_storage"`
	Accounts       int        `json:"accounts"`
	HAAssets       int        `json:"ha_assets"`
	API            JSAPIStats `json:"api"`
}

// JSVarzLimits is the server-wide JetStream limits block of /varz.
type JSVarzLimits struct {
	JSLimitOpts             // the jetstream block's limits
	DefaultMaxConsumers int `json:"default_max_consumers,omitempty"`
}

// SlowConsumersStats splits slow consumers by connection kind.
type SlowConsumersStats struct {
	Clients  uint64 `json:"clients"`
	Routes   uint64 `json:"routes"`
	Gateways uint64 `json:"gateways"`
	Leafs    uint64 `json:"leafs"`
}

// StaleConnectionStats splits stale connections by connection kind.
type StaleConnectionStats struct {
	Clients  uint64 `json:"clients"`
	Routes   uint64 `json:"routes"`
	Gateways uint64 `json:"gateways"`
	Leafs    uint64 `json:"leafs"`
}

// DiskIOWaitStats reports waits on disk I/O; all zero without JetStream.
type DiskIOWaitStats struct {
	Waiters     int64 `json:"waiters"`
	Waits       int64 `json:"waits"`
	WaitTime    int64 `json:"wait_time"`
	MaxWaitTime int64 `json:"max_wait_time"`
}

// The reference's JetStream feature flags with their v2.15.2 defaults;
// reported so that tools reading them find the same keys.
func defaultFeatureFlags() map[string]bool {
	return map[string]bool{
		"js_ack_fc_v2":         false,
		"js_api_reply_v2":      false,
		"js_raft_delete_range": true,
		"js_snapshot_sources":  false,
	}
}

// Varz returns a snapshot of the server's state. The counters are atomics
// read without stopping the message path.
func (s *Server) Varz() *Varz {
	o := s.getOpts()
	now := time.Now().UTC()
	mem, cpu := processUsage(s.start)
	s.mu.Lock()
	info := s.info
	nconns := len(s.clients)
	cfgTime := s.configTime
	s.mu.Unlock()
	httpPort, httpsPort := o.HTTPPort, o.HTTPSPort
	if a := s.MonitorAddr(); a != nil && o.HTTPPort != 0 {
		httpPort = a.Port
	} else if a != nil && o.HTTPSPort != 0 {
		httpsPort = a.Port
	}
	v := &Varz{
		ID: info.ID, Name: info.Name, Version: info.Version, Proto: info.Proto,
		GitCommit: info.GitCommit, GoVersion: info.GoVersion, Host: info.Host, Port: info.Port,
		AuthRequired: info.AuthRequired, TLSRequired: info.TLSRequired, TLSVerify: info.TLSVerify,
		IP: info.IP, ClientConnectURLs: info.ConnectURLs,
		MaxConn: o.MaxConn, MaxSubs: o.MaxSubs, PingInterval: o.PingInterval, MaxPingsOut: o.MaxPingsOut,
		HTTPHost: o.HTTPHost, HTTPPort: httpPort, HTTPBasePath: o.HTTPBasePath, HTTPSPort: httpsPort,
		AuthTimeout: o.AuthTimeout, MaxControlLine: o.MaxControlLine, MaxPayload: int(o.MaxPayload),
		MaxPending: o.MaxPending, TLSTimeout: 2, WriteDeadline: o.WriteDeadline,
		Start: s.start.UTC(), Now: now, Uptime: fmtUptime(now.Sub(s.start)),
		Mem: mem, Cores: runtime.NumCPU(), MaxProcs: runtime.GOMAXPROCS(0), CPU: cpu,
		Connections:      nconns,
		TotalConnections: uint64(s.totalConnections.Load()),
		InMsgs:           s.inMsgs.Load(), InBytes: s.inBytes.Load(),
		OutMsgs: s.outMsgs.Load(), OutBytes: s.outBytes.Load(),
		SlowConsumers:    s.slowConsumers.Load(),
		StaleConnections: s.staleConnections.Load(),
		Subscriptions:    s.NumSubscriptions(),
		JetStream:        s.jsVarz(),
		Websocket:        s.wsVarz(o),
		MQTT:             s.mqttVarz(o),
		HTTPReqStats:     s.monitorStats(),
		ConfigLoadTime:   cfgTime.UTC(),
		FeatureFlags:     defaultFeatureFlags(),
		Tags:             lowerTags(o.ServerTags), // lower-cased, as the reference shows them
	}
	// Only clients exist yet, so every message is a client message.
	v.InClientMsgs, v.InClientBytes = v.InMsgs, v.InBytes
	v.OutClientMsgs, v.OutClientBytes = v.OutMsgs, v.OutBytes
	if sa := s.SystemAccount(); sa != nil {
		v.SystemAccount = sa.Name
	}
	v.TrustedOperatorsJwt, v.TrustedOperatorsClaim = o.operatorJWTs, o.TrustedOperators
	s.clusterVarz(v)
	s.leafVarz(v, o)
	s.gatewayVarz(v) // monitor_gatewayz.go
	v.SlowConsumersStats = &SlowConsumersStats{Clients: uint64(v.SlowConsumers)}
	v.StaleConnectionStats = &StaleConnectionStats{Clients: uint64(v.StaleConnections)}
	return v
}

func (s *Server) handleVarz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, s.Varz())
}

func runtimeUsage() (int64, float64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys), 0
}
