package server

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// Route defaults, as the reference's.
const (
	DEFAULT_ROUTE_POOL_SIZE     = 3
	DEFAULT_ROUTE_CONNECT       = time.Second      // first retry of a route
	DEFAULT_ROUTE_CONNECT_MAX   = 30 * time.Second // connect_backoff's ceiling
	DEFAULT_ROUTE_AUTH_TIMEOUT  = 2.0              // seconds
	defaultRouteCompressionMode = CompressionAccept
)

// ClusterOpts is the cluster block: the route listener and how routes are
// made. Routes (the servers to solicit) are Options.Routes.
type ClusterOpts struct {
	Name           string   `json:"name,omitempty"`
	Host           string   `json:"addr,omitempty"`
	Port           int      `json:"cluster_port,omitempty"`
	Username       string   `json:"-"`
	Password       string   `json:"-"`
	AuthTimeout    float64  `json:"auth_timeout,omitempty"`
	Advertise      string   `json:"-"`
	NoAdvertise    bool     `json:"-"`
	ConnectRetries int      `json:"-"`
	ConnectBackoff bool     `json:"-"`
	PoolSize       int      `json:"-"`
	PinnedAccounts []string `json:"-"`
	// Permissions limit what routes import (messages, and the interest
	// sent for them) and export (the remote interest served).
	Permissions   *RoutePermissions `json:"-"`
	Compression   CompressionOpts   `json:"-"`
	PingInterval  time.Duration     `json:"-"`
	MaxPingsOut   int               `json:"-"`
	WriteDeadline time.Duration     `json:"-"`
	// TLS is the cluster's tls block: routes are TLS both ways.
	TLS *TLSConfigOpts `json:"-"`
	// NameSet is true when the name was configured; otherwise the cluster
	// is named by the first server that has a name, as with the reference.
	NameSet bool `json:"-"`
}

// enabled reports whether the options ask for a route listener.
func (o *Options) clusterEnabled() bool {
	return o.Cluster.Port != 0 || len(o.Routes) > 0
}

// RoutesFromStr parses a comma separated list of route URLs.
func RoutesFromStr(list string) []*url.URL {
	var out []*url.URL
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if u, err := url.Parse(r); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// parseRouteURLs checks every route URL, so that -routes and the config
// file refuse the same things.
func parseRouteURLs(list []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(list))
	for _, r := range list {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || u.Host == "" {
			return nil, fmtErr("error parsing route url [%q]", r)
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmtErr("error parsing route url [%q]: %v", r, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// parseCluster reads cluster { ... }.
func parseCluster(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	co := &c.o.Cluster
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "name":
			if co.Name, ok = c.str(key, e); ok {
				co.NameSet = co.Name != ""
				if containsSpace(co.Name) {
					c.errorf(e, "cluster name cannot contain spaces or new lines")
				}
			}
		case "listen":
			c.hostPort(key, e, &co.Host, &co.Port)
		case "host", "net":
			co.Host, _ = c.str(key, e)
		case "port":
			if n, ok := c.int64(key, e); ok && c.inBound(e, "cluster port", n, false, portNumber) {
				co.Port = int(n)
			}
		case "advertise", "cluster_advertise":
			co.Advertise, _ = c.str(key, e)
		case "no_advertise":
			co.NoAdvertise, _ = c.bool(key, e)
		case "routes":
			if list, ok := c.strList(key, e); ok {
				urls, err := parseRouteURLs(list)
				if err != nil {
					c.errorf(e, "%v", err)
				}
				c.o.Routes = urls
			}
		case "authorization":
			c.parseClusterAuth(key, e)
		case "connect_retries":
			if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, notNegative) {
				co.ConnectRetries = int(n)
			}
		case "connect_backoff":
			co.ConnectBackoff, _ = c.bool(key, e)
		case "pool_size":
			if n, ok := c.int64(key, e); ok {
				c.clusterPoolSize(e, n)
			}
		case "accounts", "pinned_accounts":
			co.PinnedAccounts, _ = c.strList(key, e)
		case "compression":
			c.clusterCompression(key, e)
		case "ping_interval":
			if d, ok := c.duration(key, e); ok && c.inBound(e, "cluster ping_interval", int64(d), true, shortestTimer) {
				co.PingInterval = d
			}
		case "ping_max":
			if n, ok := c.int64(key, e); ok && c.inBound(e, "cluster ping_max", n, false, notNegative) {
				co.MaxPingsOut = int(n)
			}
		case "write_deadline":
			if d, ok := c.duration(key, e); ok && c.inBound(e, "cluster write_deadline", int64(d), true, shortestTimer) {
				co.WriteDeadline = d
			}
		case "tls":
			co.TLS = c.parseTLS(key, e)
		case "permissions":
			c.routePermissions(key, e)
		default:
			c.unknownField(e, key)
		}
	}
}

// clusterPoolSize takes pool_size: 1 to 256, or -1 for no pooling (one
// connection per pair of servers carrying every account, as the reference's
// routes before pools).
func (c *cfg) clusterPoolSize(e *conf.Value, n int64) {
	if n < -1 || n > 256 {
		c.errorf(e, "invalid cluster pool_size of %d, must be from 1 to 256, or -1 for no pooling (0 means the default)", n)
		return
	}
	c.o.Cluster.PoolSize = int(n)
}

// routePermissions reads permissions { import, export } (publish and
// subscribe are taken for them, as the reference does).
func (c *cfg) routePermissions(k string, e *conf.Value) {
	p := c.parsePermissions(k, e)
	if p == nil {
		return
	}
	c.o.Cluster.Permissions = &RoutePermissions{Import: p.Publish, Export: p.Subscribe}
}

// clusterCompression reads the cluster block's compression.
func (c *cfg) clusterCompression(k string, e *conf.Value) {
	c.compressionOpts(k, e, &c.o.Cluster.Compression)
}

// compressionOpts reads compression (the cluster's, the leafnodes
// block's or a remote's): a boolean (true is s2_fast), a mode, or
// { mode, rtt_thresholds }, with the reference's errors.
func (c *cfg) compressionOpts(k string, e *conf.Value, co *CompressionOpts) {
	switch x := e.V.(type) {
	case bool:
		co.Mode = CompressionOff
		if x {
			co.Mode = CompressionS2Fast
		}
	case string:
		co.Mode = x
	case map[string]*conf.Value:
		for _, key := range sortedKeys(x) {
			v := x[key]
			switch strings.ToLower(key) {
			case "mode":
				co.Mode, _ = c.str(key, v)
			case "rtt_thresholds", "thresholds", "rtts", "rtt":
				c.rttThresholds(key, v, co)
			default:
				c.unknownField(v, key)
			}
		}
	default:
		c.errorf(e, "field %q should be a boolean or a structure, got %s", k, typeName(e.V))
		return
	}
	mode, err := compressionMode(co.Mode)
	if err != nil {
		c.errorf(e, "%v", err)
		return
	}
	co.Mode = mode
	if err := checkRTTThresholds(co); err != nil {
		c.errorf(e, "%v", err)
	}
}

// rttThresholds reads s2_auto's thresholds: durations ("10ms").
func (c *cfg) rttThresholds(k string, v *conf.Value, co *CompressionOpts) {
	list, ok := v.V.([]*conf.Value)
	if !ok {
		c.errorf(v, "field %q: expected an array of durations, got %s", k, typeName(v.V))
		return
	}
	out := make([]time.Duration, 0, len(list))
	for _, e := range list {
		d, ok := c.duration(k, e)
		if !ok {
			return
		}
		out = append(out, d)
	}
	co.RTTThresholds = out
}

// compressionMode is the canonical name of a configured mode.
func compressionMode(m string) (string, error) {
	switch strings.ToLower(m) {
	case "", "off", "disabled", "false":
		if m == "" {
			return "", nil
		}
		return CompressionOff, nil
	case "on", "enabled", "true", CompressionS2Fast:
		return CompressionS2Fast, nil
	case CompressionAccept:
		return CompressionAccept, nil
	case CompressionS2Auto:
		return CompressionS2Auto, nil
	case CompressionS2Better:
		return CompressionS2Better, nil
	case CompressionS2Best:
		return CompressionS2Best, nil
	}
	return "", fmtErr("unsupported compression mode %q", m)
}

// checkRTTThresholds checks s2_auto's thresholds as the reference does:
// at least one above zero, ascending; none given means the defaults.
func checkRTTThresholds(co *CompressionOpts) error {
	if co.Mode != CompressionS2Auto {
		return nil
	}
	if co.RTTThresholds == nil {
		co.RTTThresholds = slices.Clone(defaultRTTThresholds)
		return nil
	}
	var last time.Duration
	positive := false
	for _, t := range co.RTTThresholds {
		if t < 0 {
			positive = false
			break
		}
		if t == 0 {
			continue
		}
		if t < last {
			return fmtErr("RTT threshold values %v should be in ascending order", co.RTTThresholds)
		}
		last, positive = t, true
	}
	if !positive {
		return fmtErr("compression mode %q requires at least one RTT threshold", co.Mode)
	}
	return nil
}

// parseClusterAuth reads the cluster's authorization { user, password,
// timeout }: what soliciting servers must present. Tokens and user lists
// are refused, and permissions taken as the route permissions with a
// deprecation warning, in the reference's words.
func (c *cfg) parseClusterAuth(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	co := &c.o.Cluster
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "user", "username":
			co.Username, _ = c.str(key, e)
		case "pass", "password":
			co.Password, _ = c.str(key, e)
		case "timeout":
			switch x := e.V.(type) {
			case int64:
				co.AuthTimeout = float64(x)
			case float64:
				co.AuthTimeout = x
			default:
				c.errorf(e, "field %q: expected a number of seconds, got %s", key, typeName(e.V))
			}
		case "token":
			c.errorf(v, "Cluster authorization does not support tokens")
		case "users":
			c.errorf(v, "Cluster authorization does not allow multiple users")
		case "permissions":
			c.warnf(v, "invalid use of field %q: setting \"permissions\" within cluster authorization block is deprecated", k)
			if co.Permissions == nil {
				c.routePermissions(key, e)
			}
		default:
			c.unknownField(e, key)
		}
	}
}

// setClusterDefaults fills the cluster block's unset fields.
func setClusterDefaults(o *Options) {
	co := &o.Cluster
	if !o.clusterEnabled() {
		return
	}
	if co.Host == "" {
		co.Host = DEFAULT_HOST
	}
	if co.PoolSize == 0 {
		co.PoolSize = DEFAULT_ROUTE_POOL_SIZE
	}
	if co.Compression.Mode == "" {
		co.Compression.Mode = defaultRouteCompressionMode
	}
	if co.AuthTimeout == 0 {
		co.AuthTimeout = DEFAULT_ROUTE_AUTH_TIMEOUT
	}
}

// routePings returns the routes' ping interval and the pings they may
// leave unanswered: the cluster block's, else the top-level ones. They are
// resolved here rather than copied at start-up, so that a reload of the
// top-level values is not seen as a change of the cluster block.
func (o *Options) routePings() (time.Duration, int) {
	interval, maxOut := o.Cluster.PingInterval, o.Cluster.MaxPingsOut
	if interval == 0 {
		interval = o.PingInterval
	}
	if maxOut == 0 {
		maxOut = o.MaxPingsOut
	}
	return interval, maxOut
}

// routePingInterval is routePings' interval.
func routePingInterval(o *Options) time.Duration {
	interval, _ := o.routePings()
	return interval
}

// validateCluster checks the cluster options, in the reference's words
// where it has them.
func validateCluster(o *Options) error {
	co := &o.Cluster
	if !o.clusterEnabled() {
		return nil
	}
	if co.Port < -1 || co.Port > 65535 {
		return fmtErr("invalid cluster port %d, must be a port from 0 to 65535, or -1 for a random one", co.Port)
	}
	if o.JetStream {
		// Clustered JetStream names its peers by server name, within one
		// cluster (jetstream_cluster.go).
		if o.ServerName == "" {
			return fmtErr("jetstream cluster requires `server_name` to be set")
		}
		if co.Name == "" {
			return fmtErr("jetstream cluster requires `cluster.name` to be set")
		}
	}
	if co.PoolSize < -1 || co.PoolSize > 256 {
		return fmtErr("invalid cluster pool_size of %d, must be from 1 to 256, or -1 for no pooling", co.PoolSize)
	}
	if co.Name != "" && containsSpace(co.Name) {
		return fmtErr("cluster name cannot contain spaces or new lines")
	}
	mode, err := compressionMode(co.Compression.Mode)
	if err != nil {
		return err
	}
	co.Compression.Mode = mode
	if err := checkRTTThresholds(&co.Compression); err != nil {
		return err
	}
	for _, u := range o.Routes {
		if u == nil || u.Host == "" {
			return fmtErr("error parsing route url: missing host")
		}
	}
	if co.Advertise != "" {
		if _, _, err := net.SplitHostPort(co.Advertise); err != nil {
			if strings.ContainsAny(co.Advertise, "/ \t") {
				return fmtErr("invalid cluster advertise %q", co.Advertise)
			}
		}
	}
	return nil
}
