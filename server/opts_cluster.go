package server

import (
	"net"
	"net/url"
	"strconv"
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
	routeCompressionOff         = "off"
	routeCompressionAccept      = "accept"
	defaultRouteCompressionMode = routeCompressionAccept
)

// ClusterOpts is the cluster block: the route listener and how routes are
// made. Routes (the servers to solicit) are Options.Routes.
type ClusterOpts struct {
	Name           string        `json:"name,omitempty"`
	Host           string        `json:"addr,omitempty"`
	Port           int           `json:"cluster_port,omitempty"`
	Username       string        `json:"-"`
	Password       string        `json:"-"`
	AuthTimeout    float64       `json:"auth_timeout,omitempty"`
	Advertise      string        `json:"-"`
	NoAdvertise    bool          `json:"-"`
	ConnectRetries int           `json:"-"`
	ConnectBackoff bool          `json:"-"`
	PoolSize       int           `json:"-"`
	PinnedAccounts []string      `json:"-"`
	Compression    string        `json:"-"` // off or accept
	PingInterval   time.Duration `json:"-"`
	MaxPingsOut    int           `json:"-"`
	WriteDeadline  time.Duration `json:"-"`
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
			c.o.unsupported = append(c.o.unsupported, keyPos(e)+": cluster "+strings.ToLower(key))
		default:
			c.unknownField(e, key)
		}
	}
}

// clusterPoolSize takes pool_size: 1 or more; the reference's -1 (no
// pooling, the old protocol) is not served.
func (c *cfg) clusterPoolSize(e *conf.Value, n int64) {
	switch {
	case n < 0:
		c.o.unsupported = append(c.o.unsupported, keyPos(e)+": cluster pool_size "+strconv.FormatInt(n, 10))
	case n > 256:
		c.errorf(e, "invalid cluster pool_size of %d, must be from 1 to 256 (0 means the default)", n)
	default:
		c.o.Cluster.PoolSize = int(n)
	}
}

// clusterCompression takes the reference's modes; this server does not
// compress, so only off and accept (never asking for compression, and
// answering off to a peer that asks) are served.
func (c *cfg) clusterCompression(k string, e *conf.Value) {
	mode := ""
	switch x := e.V.(type) {
	case bool:
		mode = routeCompressionOff
		if x {
			mode = "s2_auto"
		}
	case string:
		mode = strings.ToLower(x)
	case map[string]*conf.Value:
		if mv, ok := x["mode"]; ok {
			mode, _ = c.str("mode", mv)
			mode = strings.ToLower(mode)
		}
	default:
		c.errorf(e, "field %q: expected a string, boolean or map, got %s", k, typeName(e.V))
		return
	}
	switch mode {
	case "off", "disabled", "":
		c.o.Cluster.Compression = routeCompressionOff
	case "accept":
		c.o.Cluster.Compression = routeCompressionAccept
	case "on", "enabled", "s2_auto", "s2_fast", "s2_better", "s2_best", "s2_uncompressed":
		c.o.unsupported = append(c.o.unsupported, keyPos(e)+": cluster compression "+mode)
	default:
		c.errorf(e, "unknown compression mode %q", mode)
	}
}

// parseClusterAuth reads the cluster's authorization { user, password,
// timeout }: what soliciting servers must present.
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
		case "token", "users", "permissions", "nkey":
			c.o.unsupported = append(c.o.unsupported, keyPos(e)+": cluster authorization "+strings.ToLower(key))
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
	if co.Compression == "" {
		co.Compression = defaultRouteCompressionMode
	}
	if co.AuthTimeout == 0 {
		co.AuthTimeout = DEFAULT_ROUTE_AUTH_TIMEOUT
	}
	if co.PingInterval == 0 {
		co.PingInterval = o.PingInterval
	}
	if co.MaxPingsOut == 0 {
		co.MaxPingsOut = o.MaxPingsOut
	}
	if co.WriteDeadline == 0 {
		co.WriteDeadline = o.WriteDeadline
	}
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
	if co.PoolSize < 0 {
		return fmtErr("cluster pool_size %d: not supported yet by this server", co.PoolSize)
	}
	if co.Name != "" && containsSpace(co.Name) {
		return fmtErr("cluster name cannot contain spaces or new lines")
	}
	switch co.Compression {
	case "", routeCompressionOff, routeCompressionAccept:
	default:
		return fmtErr("cluster compression %q: not supported yet by this server", co.Compression)
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
