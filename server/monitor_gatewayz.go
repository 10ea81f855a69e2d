package server

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// Gatewayz is the /gatewayz answer, with the reference's fields; without
// gateways only the server id, the time and two empty maps.
type Gatewayz struct {
	ID               string                       `json:"server_id"`
	Now              time.Time                    `json:"now"`
	Name             string                       `json:"name,omitempty"`
	Host             string                       `json:"host,omitempty"`
	Port             int                          `json:"port,omitempty"`
	OutboundGateways map[string]*RemoteGatewayz   `json:"outbound_gateways"`
	InboundGateways  map[string][]*RemoteGatewayz `json:"inbound_gateways"`
}

// RemoteGatewayz is one gateway connection in /gatewayz.
type RemoteGatewayz struct {
	IsConfigured bool               `json:"configured"`
	Connection   *ConnInfo          `json:"connection,omitempty"`
	Accounts     []*AccountGatewayz `json:"accounts,omitempty"`
}

// AccountGatewayz is an account's interest mode on a gateway connection.
type AccountGatewayz struct {
	Name                  string   `json:"name"`
	InterestMode          string   `json:"interest_mode"`
	NoInterestCount       int      `json:"no_interest_count,omitempty"`
	InterestOnlyThreshold int      `json:"interest_only_threshold,omitempty"`
	TotalSubscriptions    int      `json:"num_subs,omitempty"`
	Subs                  []string `json:"subscriptions_list,omitempty"`
}

// GatewayzOptions are /gatewayz's query options (gw_name, accs, acc_name,
// subs) and the JSON body of $SYS.REQ.SERVER.PING.GATEWAYZ.
type GatewayzOptions struct {
	Name        string `json:"gateway_name"`
	Accounts    bool   `json:"accounts"`
	AccountName string `json:"account_name"`
	AccountSubs bool   `json:"subscriptions"`
}

// gwInterestOnlyThreshold is the reference's count of no-interest subjects
// after which it switches an account to interest-only mode; shown as is.
const gwInterestOnlyThreshold = 1000

func gatewayzOptsOf(body []byte) *GatewayzOptions {
	var o GatewayzOptions
	if len(body) > 0 {
		_ = json.Unmarshal(body, &o)
	}
	return &o
}

var gwModeNames = [...]string{gwOptimistic: "Optimistic", gwTransitioning: "Transitioning", gwInterestOnly: "Interest-Only"}

func (s *Server) gatewayz(opts *GatewayzOptions) *Gatewayz {
	gz := &Gatewayz{ID: s.info.ID, Now: time.Now().UTC(),
		OutboundGateways: map[string]*RemoteGatewayz{}, InboundGateways: map[string][]*RemoteGatewayz{}}
	gs := s.gw.Load()
	if gs == nil {
		return gz
	}
	gz.Name = gs.name
	gs.mu.Lock()
	host, port := gs.url, gs.port
	var outs, ins []*client
	for _, r := range gs.remotes {
		if r.out != nil {
			outs = append(outs, r.out)
		}
	}
	for _, c := range gs.inbound {
		ins = append(ins, c)
	}
	gs.mu.Unlock()
	gz.Host, gz.Port = hostOf(host), port
	accs := opts.Accounts || opts.AccountName != ""
	for _, c := range outs {
		g := c.gw
		if opts.Name != "" && g.remoteName != opts.Name {
			continue
		}
		rg := &RemoteGatewayz{IsConfigured: gs.configured(g.remoteName), Connection: c.gatewayConnInfo(g.numRemoteSubs())}
		if accs {
			rg.Accounts = g.outboundAccounts(opts)
		}
		gz.OutboundGateways[g.remoteName] = rg
	}
	sort.Slice(ins, func(i, j int) bool { return ins[i].cid < ins[j].cid })
	for _, c := range ins {
		g := c.gw
		if opts.Name != "" && g.remoteName != opts.Name {
			continue
		}
		// The reference shows inbound connections as not configured,
		// whatever the gateways list says.
		rg := &RemoteGatewayz{Connection: c.gatewayConnInfo(0)}
		if accs {
			rg.Accounts = g.inboundAccounts(opts)
		}
		gz.InboundGateways[g.remoteName] = append(gz.InboundGateways[g.remoteName], rg)
	}
	return gz
}

func hostOf(hostPort string) string {
	for i := len(hostPort) - 1; i >= 0; i-- {
		if hostPort[i] == ':' {
			return hostPort[:i]
		}
	}
	return hostPort
}

// gatewayConnInfo is the connection part of a /gatewayz entry.
func (c *client) gatewayConnInfo(subs int) *ConnInfo {
	ti := c.tlsInfo(false) // takes the lock itself
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.lastActivity()
	ci := &ConnInfo{
		Cid: c.cid, Kind: "Gateway", IP: c.host, Port: c.port,
		Start: c.start.UTC(), LastActivity: last.UTC(), RTT: fmtRTT(c.lastRTT),
		Uptime: fmtUptime(now.Sub(c.start)), Idle: fmtUptime(now.Sub(last)),
		Pending: int(c.out.pb),
		InMsgs:  c.inMsgs.Load(), OutMsgs: c.outMsgs.Load(),
		InBytes: c.inBytes.Load(), OutBytes: c.outBytes.Load(),
		NumSubs: uint32(subs), Name: c.gw.remoteID,
	}
	ci.setTLS(ti)
	return ci
}

func (g *gwConn) numRemoteSubs() int {
	g.imu.RLock()
	defer g.imu.RUnlock()
	n := 0
	for _, ai := range g.accs {
		n += len(ai.subs)
	}
	return n
}

// outboundAccounts is the remote's interest per account, as we track it.
func (g *gwConn) outboundAccounts(opts *GatewayzOptions) []*AccountGatewayz {
	g.imu.RLock()
	defer g.imu.RUnlock()
	var out []*AccountGatewayz
	for name, ai := range g.accs {
		if opts.AccountName != "" && name != opts.AccountName {
			continue
		}
		a := &AccountGatewayz{Name: name, InterestMode: gwModeNames[ai.mode], NoInterestCount: len(ai.ni),
			InterestOnlyThreshold: gwInterestOnlyThreshold, TotalSubscriptions: len(ai.subs)}
		if opts.AccountSubs {
			for key := range ai.subs {
				a.Subs = append(a.Subs, key)
			}
			sort.Strings(a.Subs)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// inboundAccounts lists the accounts this server switched to interest-only
// mode toward the connection.
func (g *gwConn) inboundAccounts(opts *GatewayzOptions) []*AccountGatewayz {
	g.imu.RLock()
	defer g.imu.RUnlock()
	var out []*AccountGatewayz
	for name, iom := range g.told {
		if !iom || (opts.AccountName != "" && name != opts.AccountName) {
			continue
		}
		out = append(out, &AccountGatewayz{Name: name, InterestMode: gwModeNames[gwInterestOnly],
			InterestOnlyThreshold: gwInterestOnlyThreshold})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) handleGatewayz(w http.ResponseWriter, r *http.Request) {
	opts := &GatewayzOptions{Name: r.URL.Query().Get("gw_name"), AccountName: r.URL.Query().Get("acc_name")}
	var err error
	if opts.Accounts, err = queryBool(r, "accs"); err == nil {
		opts.AccountSubs, err = queryBool(r, "subs")
	}
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, s.gatewayz(opts))
}

// GatewayOptsVarz is the gateway block of /varz.
type GatewayOptsVarz struct {
	Name           string                  `json:"name,omitempty"`
	Host           string                  `json:"host,omitempty"`
	Port           int                     `json:"port,omitempty"`
	AuthTimeout    float64                 `json:"auth_timeout,omitempty"`
	TLSTimeout     float64                 `json:"tls_timeout,omitempty"`
	TLSRequired    bool                    `json:"tls_required,omitempty"`
	TLSVerify      bool                    `json:"tls_verify,omitempty"`
	Advertise      string                  `json:"advertise,omitempty"`
	ConnectRetries int                     `json:"connect_retries,omitempty"`
	RejectUnknown  bool                    `json:"reject_unknown,omitempty"`
	Gateways       []RemoteGatewayOptsVarz `json:"gateways,omitempty"`
	// TLSCertNotAfter is the expiry of the gateway block's certificate.
	TLSCertNotAfter *time.Time `json:"tls_cert_not_after,omitempty"`
}

// RemoteGatewayOptsVarz is a cluster in /varz's gateway block, with the
// URLs known for it.
type RemoteGatewayOptsVarz struct {
	Name string   `json:"name"`
	URLs []string `json:"urls,omitempty"`
}

// gatewayVarz fills /varz's gateway section; gateway messages are not
// client messages.
func (s *Server) gatewayVarz(v *Varz) {
	gs := s.gw.Load()
	if gs == nil {
		return
	}
	o := s.getOpts()
	v.Gateway = GatewayOptsVarz{Name: gs.name, Host: o.Gateway.Host, AuthTimeout: o.Gateway.AuthTimeout,
		Advertise: o.Gateway.Advertise, ConnectRetries: o.Gateway.ConnectRetries, RejectUnknown: o.Gateway.RejectUnknown}
	gs.gatewayVarzTLS(o, &v.Gateway)
	var in, inB, out, outB int64
	gs.mu.Lock()
	v.Gateway.Port = gs.port
	for name, r := range gs.remotes {
		rv := RemoteGatewayOptsVarz{Name: name}
		for _, u := range r.urls {
			rv.URLs = append(rv.URLs, u.Host)
		}
		sort.Strings(rv.URLs)
		v.Gateway.Gateways = append(v.Gateway.Gateways, rv)
	}
	for _, c := range gs.conns {
		in, inB = in+c.inMsgs.Load(), inB+c.inBytes.Load()
		out, outB = out+c.outMsgs.Load(), outB+c.outBytes.Load()
	}
	gs.mu.Unlock()
	sort.Slice(v.Gateway.Gateways, func(i, j int) bool { return v.Gateway.Gateways[i].Name < v.Gateway.Gateways[j].Name })
	v.InClientMsgs, v.InClientBytes = max(0, v.InClientMsgs-in), max(0, v.InClientBytes-inB)
	v.OutClientMsgs, v.OutClientBytes = max(0, v.OutClientMsgs-out), max(0, v.OutClientBytes-outB)
}
