package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options configures a server. The zero value plus setBaselineOptions gives
// the reference's defaults; embedders usually set Host, Port (RANDOM_PORT
// for an ephemeral one) and whatever they need, then call NewServer.
type Options struct {
	ConfigFile      string        `json:"-"`
	ServerName      string        `json:"server_name,omitempty"`
	Host            string        `json:"addr"`
	Port            int           `json:"port"`
	ClientAdvertise string        `json:"-"`
	Trace           bool          `json:"-"`
	Debug           bool          `json:"-"`
	TraceVerbose    bool          `json:"-"`
	NoLog           bool          `json:"-"`
	NoSigs          bool          `json:"-"`
	Logtime         bool          `json:"-"`
	LogtimeUTC      bool          `json:"-"`
	MaxConn         int           `json:"max_connections"`
	MaxSubs         int           `json:"max_subscriptions,omitempty"`
	MaxPending      int64         `json:"max_pending"`
	MaxControlLine  int32         `json:"max_control_line"`
	MaxPayload      int32         `json:"max_payload"`
	PingInterval    time.Duration `json:"ping_interval"`
	MaxPingsOut     int           `json:"ping_max"`
	WriteDeadline   time.Duration `json:"write_deadline"`
	HTTPHost        string        `json:"http_host"`
	HTTPPort        int           `json:"http_port"`
	HTTPSPort       int           `json:"https_port"`
	HTTPBasePath    string        `json:"http_base_path"`
	Username        string        `json:"-"`
	Password        string        `json:"-"`
	Authorization   string        `json:"-"`
	AuthTimeout     float64       `json:"auth_timeout"`
	Users           []*User       `json:"-"`
	Nkeys           []*NkeyUser   `json:"-"`
	NoAuthUser      string        `json:"-"`
	// Permissions applied to users that have none of their own.
	DefaultPermissions *Permissions `json:"-"`
	// TLS for client connections, and for the HTTPS monitoring port.
	TLS *TLSConfigOpts `json:"-"`
	// AllowNonTLS lets clients skip TLS when TLS is configured, as behind a
	// TLS-terminating proxy; INFO then says tls_available.
	AllowNonTLS           bool     `json:"-"`
	ServerTags            []string `json:"-"`
	NoSublistCache        bool     `json:"-"`
	NoHeaderSupport       bool     `json:"-"`
	ConnectErrorReports   int      `json:"-"`
	ReconnectErrorReports int      `json:"-"`
	MaxClosedClients      int      `json:"-"`
	ProfPort              int      `json:"-"`
	SystemAccount         string   `json:"-"`
	NoSystemAccount       bool     `json:"-"`

	// Cluster is the cluster block; Routes the servers it solicits
	// (opts_cluster.go).
	Cluster ClusterOpts `json:"cluster,omitempty"`
	Routes  []*url.URL  `json:"-"`
	// Gateway is the gateway block (opts_gateway.go).
	Gateway GatewayOpts `json:"gateway,omitempty"`
	// Operator mode and auth callout (opts_jwt.go).
	JWTOptions
	// Websocket is the websocket { } block (opts_websocket.go).
	Websocket WebsocketOpts `json:"-"`
	// LeafNode is the leafnodes { } block (opts_leafnode.go).
	LeafNode LeafNodeOpts `json:"-"`
	// MQTT is the mqtt { } block (opts_mqtt.go).
	MQTT MQTTOpts `json:"-"`

	// Accounts and their imports, exports and mappings; Mappings are the
	// top-level ones, for the global account.
	Accounts []*AccountOpts `json:"-"`
	Mappings []*MappingOpts `json:"-"`

	// JetStream store settings (the jetstream { } block).
	JetStreamMaxMemory       int64         `json:"-"`
	JetStreamMaxStore        int64         `json:"-"`
	JetStreamDomain          string        `json:"-"`
	JetStreamCipher          string        `json:"-"`
	JetStreamKey             string        `json:"-"`
	JetStreamPrevKey         string        `json:"-"`
	JetStreamSyncInterval    time.Duration `json:"-"`
	JetStreamSyncAlways      bool          `json:"-"`
	JetStreamEncryptExisting bool          `json:"-"`
	// JetStreamRotateStreamKeys (rotate_stream_keys) turns a prev_key
	// change into a full rotation of every stream key (see FileStoreConfig).
	JetStreamRotateStreamKeys bool `json:"-"`
	// The rest of the jetstream block and the accounts' jetstream limits
	// (jetstream_opts.go).
	JetStreamTuning
	// JetStreamAccounts are the accounts with jetstream enabled in the
	// accounts block; the global account always has it with JetStream on.
	JetStreamAccounts []string `json:"-"`

	// cmdLine and cmdSet are the command-line options and the flags that
	// were given, re-applied over the file on every reload.
	cmdLine *Options
	cmdSet  map[string]bool
	// configDigest is the sha256 of the config file, for the start-up log.
	configDigest string
	// configWarnings are non-fatal findings in the config file; -t fails on them.
	configWarnings  []error
	PidFile         string `json:"-"`
	PortsFileDir    string `json:"-"`
	LogFile         string `json:"-"`
	LogSizeLimit    int64  `json:"-"`
	LogMaxFiles     int64  `json:"-"`
	Syslog          bool   `json:"-"`
	RemoteSyslog    string `json:"-"`
	MaxTracedMsgLen int    `json:"-"`

	LameDuckDuration    time.Duration `json:"-"`
	LameDuckGracePeriod time.Duration `json:"-"`

	// JetStream settings; the JetStream API arrives in its own issue.
	JetStream bool   `json:"jetstream"`
	StoreDir  string `json:"-"`

	// CheckConfig is -t: load and validate the configuration, then exit.
	CheckConfig bool `json:"-"`

	// Features parsed and validated but not yet served; a config that
	// enables one is refused at start-up rather than silently ignored.
	unsupported []string
}

// Clone returns a copy of the options.
func (o *Options) Clone() *Options {
	if o == nil {
		return &Options{}
	}
	c := *o
	c.unsupported = append([]string(nil), o.unsupported...)
	return &c
}

// setBaselineOptions fills every unset field with the reference's default.
func setBaselineOptions(o *Options) {
	if o.Host == "" {
		o.Host = DEFAULT_HOST
	}
	if o.Port == 0 {
		o.Port = DEFAULT_PORT
	} else if o.Port == RANDOM_PORT {
		o.Port = 0
	}
	if o.MaxConn == 0 {
		o.MaxConn = DEFAULT_MAX_CONNECTIONS
	}
	if o.PingInterval == 0 {
		o.PingInterval = DEFAULT_PING_INTERVAL
	}
	if o.MaxPingsOut == 0 {
		o.MaxPingsOut = DEFAULT_PING_MAX_OUT
	}
	if o.AuthTimeout == 0 {
		o.AuthTimeout = defaultAuthTimeout(o)
	}
	if o.MaxControlLine == 0 {
		o.MaxControlLine = MAX_CONTROL_LINE_SIZE
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = MAX_PAYLOAD_SIZE
	}
	if o.MaxPending == 0 {
		o.MaxPending = MAX_PENDING_SIZE
	}
	if o.WriteDeadline == 0 {
		o.WriteDeadline = DEFAULT_WRITE_DEADLINE
	}
	if o.LameDuckDuration == 0 {
		o.LameDuckDuration = DEFAULT_LAME_DUCK_DURATION
	}
	if o.LameDuckGracePeriod == 0 {
		o.LameDuckGracePeriod = DEFAULT_LAME_DUCK_GRACE_PERIOD
	}
	if o.MaxClosedClients == 0 {
		o.MaxClosedClients = DEFAULT_MAX_CLOSED_CLIENTS
	}
	if o.HTTPHost == "" {
		o.HTTPHost = o.Host
	}
	setGatewayDefaults(o)
	setClusterDefaults(o)
	setLeafDefaults(o)
	setOperatorDefaults(o)
}

// validateOptions reports settings that cannot work together, with the
// reference's wording.
func validateOptions(o *Options) error {
	if err := validateRanges(o); err != nil {
		return err
	}
	if _, _, err := parseClientAdvertise(o.ClientAdvertise); err != nil {
		return err
	}
	if int64(o.MaxPayload) > o.MaxPending {
		return fmtErr("max_payload (%d) cannot be higher than max_pending (%d)", o.MaxPayload, o.MaxPending)
	}
	if o.ServerName != "" && containsSpace(o.ServerName) {
		return fmtErr("server name %q cannot contain spaces", o.ServerName)
	}
	if err := validateJetStreamTuning(o); err != nil {
		return err
	}
	if err := validateCluster(o); err != nil {
		return err
	}
	if err := validateGateway(o); err != nil {
		return err
	}
	if err := validateOperatorOptions(o); err != nil {
		return err
	}
	if err := validateWebsocket(o); err != nil {
		return err
	}
	if err := validateLeafnodes(o); err != nil {
		return err
	}
	if err := validateMQTT(o); err != nil {
		return err
	}
	if len(o.unsupported) > 0 {
		return fmtErr("%s: not supported yet by this server", o.unsupported[0])
	}
	return nil
}

func containsSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' {
			return true
		}
	}
	return false
}

// parseClientAdvertise reads client_advertise: "host" or "host:port", the
// address clients are told to use (INFO's host and port, and the
// connect_urls other servers will gossip). Port 0, or none, means the
// listen port. An empty value advertises the listen address.
func parseClientAdvertise(adv string) (host string, port int, err error) {
	if adv == "" {
		return "", 0, nil
	}
	host, ps, err := net.SplitHostPort(adv)
	if err != nil {
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			return "", 0, fmt.Errorf("invalid client_advertise %q: %v", adv, err)
		}
		host, ps = adv, ""
	}
	if host == "" || strings.ContainsAny(host, "/ \t") {
		return "", 0, fmt.Errorf("invalid client_advertise %q: expected host or host:port", adv)
	}
	if ps != "" {
		if port, err = strconv.Atoi(ps); err != nil || port < 0 || port > 65535 {
			return "", 0, fmt.Errorf("invalid client_advertise %q: port must be from 0 to 65535", adv)
		}
	}
	return host, port, nil
}

// setInfoHostPort puts into INFO the address clients should use:
// client_advertise if set, else the listen host and the port actually
// bound. The options were validated. Server lock held.
func (s *Server) setInfoHostPort(o *Options, listenPort int) {
	s.info.Host, s.info.Port = o.Host, listenPort
	host, port, _ := parseClientAdvertise(o.ClientAdvertise)
	if host == "" {
		return
	}
	s.info.Host = host
	if port != 0 {
		s.info.Port = port
	}
}
