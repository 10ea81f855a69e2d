package server

import (
	"cmp"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// Gateway defaults, as the reference's.
const (
	// A failed connect attempt is logged (beyond the first) every
	// connect_error_reports attempts, every reconnect_error_reports once
	// the peer was reached.
	DEFAULT_CONNECT_ERROR_REPORTS   = 3600
	DEFAULT_RECONNECT_ERROR_REPORTS = 1

	DEFAULT_GATEWAY_CONNECT      = time.Second // wait before a gateway reconnect
	DEFAULT_GATEWAY_AUTH_TIMEOUT = 2.0         // seconds
)

// GatewayOpts is the gateway block: this cluster's name in the
// supercluster, the gateway listener, and the other clusters to solicit.
type GatewayOpts struct {
	Name           string               `json:"name"`
	Host           string               `json:"addr,omitempty"`
	Port           int                  `json:"port,omitempty"`
	Username       string               `json:"-"`
	Password       string               `json:"-"`
	AuthTimeout    float64              `json:"auth_timeout,omitempty"`
	Advertise      string               `json:"advertise,omitempty"`
	ConnectRetries int                  `json:"connect_retries,omitempty"`
	Gateways       []*RemoteGatewayOpts `json:"gateways,omitempty"`
	RejectUnknown  bool                 `json:"reject_unknown,omitempty"`
	// TLS is the gateway block's tls: accepted connections handshake as
	// the TLS server, solicited ones as its client (gateway_tls.go).
	TLS *TLSConfigOpts `json:"-"`
	// ConnectBackoff doubles the wait between attempts to reach a
	// cluster, from 1 s up to 30 s, instead of a steady 1 s.
	ConnectBackoff bool `json:"-"`
	// WriteDeadline bounds a write on a gateway connection (the
	// top-level write_deadline when zero).
	WriteDeadline time.Duration `json:"-"`
}

// String names the block without its credentials (a refused reload
// prints the options).
func (g GatewayOpts) String() string { return "gateway " + g.Name }

// RemoteGatewayOpts is one entry of the gateways list: a cluster and the
// URLs of some of its servers.
type RemoteGatewayOpts struct {
	Name string     `json:"name"`
	URLs []*url.URL `json:"urls,omitempty"`
	// TLS is the entry's own tls block, for connections to that cluster;
	// without one they use the gateway block's.
	TLS *TLSConfigOpts `json:"-"`
}

// errorReports is how often a failed connect attempt is logged:
// reconnect_error_reports after the peer was reached, else
// connect_error_reports, each with the reference's default.
func (o *Options) errorReports(reconnect bool) int {
	if reconnect {
		return cmp.Or(o.ReconnectErrorReports, DEFAULT_RECONNECT_ERROR_REPORTS)
	}
	return cmp.Or(o.ConnectErrorReports, DEFAULT_CONNECT_ERROR_REPORTS)
}

// gatewayEnabled reports whether the options ask for gateways.
func (o *Options) gatewayEnabled() bool {
	return o.Gateway.Name != "" || o.Gateway.Port != 0 || len(o.Gateway.Gateways) > 0
}

// parseGateway reads the gateway block.
func parseGateway(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	g := &c.o.Gateway
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "name":
			if g.Name, ok = c.str(key, e); ok && containsSpace(g.Name) {
				c.errorf(e, "gateway name cannot contain spaces")
			}
		case "listen":
			c.hostPort(key, e, &g.Host, &g.Port)
		case "host", "net":
			g.Host, _ = c.str(key, e)
		case "port":
			if n, ok := c.int64(key, e); ok && c.inBound(e, "gateway port", n, false, portNumber) {
				g.Port = int(n)
			}
		case "advertise":
			g.Advertise, _ = c.str(key, e)
		case "connect_retries":
			if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, notNegative) {
				g.ConnectRetries = int(n)
			}
		case "reject_unknown", "reject_unknown_cluster":
			g.RejectUnknown, _ = c.bool(key, e)
		case "connect_backoff":
			g.ConnectBackoff, _ = c.bool(key, e)
		case "write_deadline":
			if d, ok := c.duration(key, e); ok && c.inBound(e, "gateway write_deadline", int64(d), true, shortestTimer) {
				g.WriteDeadline = d
			}
		case "authorization":
			c.parseGatewayAuth(key, e)
		case "gateways":
			c.parseRemoteGateways(key, e)
		case "tls":
			g.TLS = c.parseGatewayTLS(key, e)
		default:
			c.unknownField(e, key)
		}
	}
}

// parseRemoteGateways reads the gateways list: {name, url or urls}.
func (c *cfg) parseRemoteGateways(k string, v *conf.Value) {
	list, ok := v.V.([]*conf.Value)
	if !ok {
		c.errorf(v, "field %q: expected an array, got %s", k, typeName(v.V))
		return
	}
	for _, item := range list {
		m, ok := c.mapOf(k, item)
		if !ok {
			continue
		}
		rg := &RemoteGatewayOpts{}
		for _, key := range sortedKeys(m) {
			e := m[key]
			switch strings.ToLower(key) {
			case "name":
				rg.Name, _ = c.str(key, e)
			case "url":
				if s, ok := c.str(key, e); ok {
					c.addGatewayURL(rg, e, s)
				}
			case "urls":
				if l, ok := c.strList(key, e); ok {
					for _, s := range l {
						c.addGatewayURL(rg, e, s)
					}
				}
			case "tls":
				rg.TLS = c.parseGatewayTLS(key, e)
			default:
				c.unknownField(e, key)
			}
		}
		c.o.Gateway.Gateways = append(c.o.Gateway.Gateways, rg)
	}
}

func (c *cfg) addGatewayURL(rg *RemoteGatewayOpts, e *conf.Value, s string) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		c.errorf(e, "error parsing gateway url [%q]", s)
		return
	}
	rg.URLs = append(rg.URLs, u)
}

// validateGateway checks the gateway block with the reference's words.
func validateGateway(o *Options) error {
	g := &o.Gateway
	if !o.gatewayEnabled() {
		return nil
	}
	if g.Name == "" {
		return fmtErr("gateway has no name")
	}
	if containsSpace(g.Name) {
		return fmtErr("gateway name cannot contain spaces")
	}
	if g.Port == 0 {
		return fmtErr("gateway %q has no port specified (select -1 for random port)", g.Name)
	}
	if o.Cluster.Name != "" && o.Cluster.Name != g.Name {
		return fmtErr("cluster name conflicts between cluster and gateway definitions")
	}
	for i, rg := range g.Gateways {
		if rg.Name == "" {
			return fmtErr("gateway in the list %d has no name", i)
		}
		if len(rg.URLs) == 0 {
			return fmtErr("gateway %q has no URL", rg.Name)
		}
	}
	if g.Advertise != "" {
		if _, _, err := net.SplitHostPort(g.Advertise); err != nil {
			return fmtErr("gateway advertise %q: %v", g.Advertise, err)
		}
	}
	return validateGatewayTLS(g)
}

// setGatewayDefaults fills the gateway block's unset fields; a cluster
// without a name of its own takes the gateway's, as with the reference.
func setGatewayDefaults(o *Options) {
	g := &o.Gateway
	if !o.gatewayEnabled() {
		return
	}
	if g.Host == "" {
		g.Host = DEFAULT_HOST
	}
	if g.AuthTimeout == 0 {
		// As the reference: with TLS, the handshake's time plus a second.
		g.AuthTimeout = DEFAULT_GATEWAY_AUTH_TIMEOUT
		if g.TLS != nil {
			g.AuthTimeout = gatewayTLSTimeout(g.TLS).Seconds() + 1
		}
	}
	if o.clusterEnabled() && o.Cluster.Name == "" && g.Name != "" {
		o.Cluster.Name = g.Name
		o.Cluster.NameSet = true
	}
}
