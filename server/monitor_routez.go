package server

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// Routez is the /routez answer, with the reference's fields.
type Routez struct {
	ID        string             `json:"server_id"`
	Name      string             `json:"server_name"`
	Now       time.Time          `json:"now"`
	Import    *SubjectPermission `json:"import,omitempty"`
	Export    *SubjectPermission `json:"export,omitempty"`
	NumRoutes int                `json:"num_routes"`
	Routes    []*RouteInfo       `json:"routes"`
}

// RouteInfo is one route connection in /routez.
type RouteInfo struct {
	Rid          uint64      `json:"rid"`
	RemoteID     string      `json:"remote_id"`
	RemoteName   string      `json:"remote_name"`
	DidSolicit   bool        `json:"did_solicit"`
	IsConfigured bool        `json:"is_configured"`
	IP           string      `json:"ip"`
	Port         int         `json:"port"`
	Start        time.Time   `json:"start"`
	LastActivity time.Time   `json:"last_activity"`
	RTT          string      `json:"rtt,omitempty"`
	Uptime       string      `json:"uptime"`
	Idle         string      `json:"idle"`
	Pending      int         `json:"pending_size"`
	InMsgs       int64       `json:"in_msgs"`
	OutMsgs      int64       `json:"out_msgs"`
	InBytes      int64       `json:"in_bytes"`
	OutBytes     int64       `json:"out_bytes"`
	NumSubs      uint32      `json:"subscriptions"`
	Subs         []string    `json:"subscriptions_list,omitempty"`
	SubsDetail   []SubDetail `json:"subscriptions_list_detail,omitempty"`
	Account      string      `json:"account,omitempty"`
	Compression  string      `json:"compression,omitempty"`
}

// RoutezOptions are /routez's query options.
type RoutezOptions struct {
	Subscriptions       bool `json:"subscriptions"`
	SubscriptionsDetail bool `json:"subscriptions_detail"`
}

// routezOptsOf reads the options of a $SYS.REQ.SERVER.PING.ROUTEZ body.
func routezOptsOf(body []byte) RoutezOptions {
	var o RoutezOptions
	if len(body) > 0 {
		_ = json.Unmarshal(body, &o)
	}
	return o
}

// routez lists the registered route connections, by rid.
func (s *Server) routez(opts RoutezOptions) *Routez {
	rz := &Routez{ID: s.info.ID, Name: s.info.Name, Now: time.Now().UTC(), Routes: []*RouteInfo{}}
	cs := s.cluster.Load()
	if cs == nil {
		return rz
	}
	if rp := cs.perms.Load(); rp != nil {
		rz.Import, rz.Export = rp.conf.Import, rp.conf.Export
	}
	cs.mu.Lock()
	var conns []*client
	for _, r := range cs.remotes {
		for _, c := range r.pool {
			if c != nil {
				conns = append(conns, c)
			}
		}
		for _, c := range r.pinned {
			conns = append(conns, c)
		}
	}
	cs.mu.Unlock()
	for _, c := range conns {
		rz.Routes = append(rz.Routes, c.routeInfoz(rz.Now, opts))
	}
	sort.Slice(rz.Routes, func(i, j int) bool { return rz.Routes[i].Rid < rz.Routes[j].Rid })
	rz.NumRoutes = len(rz.Routes)
	return rz
}

// routeInfoz is one route's /routez entry.
func (c *client) routeInfoz(now time.Time, opts RoutezOptions) *RouteInfo {
	rt := c.route
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.lastActivity()
	ri := &RouteInfo{
		Rid: c.cid, RemoteID: rt.remoteID, RemoteName: rt.remote.Name,
		DidSolicit: rt.solicited, IsConfigured: rt.explicit,
		IP: c.host, Port: c.port, Start: c.start.UTC(), LastActivity: last.UTC(),
		RTT: fmtRTT(c.lastRTT), Uptime: fmtUptime(now.Sub(c.start)), Idle: fmtUptime(now.Sub(last)),
		Pending: int(c.out.pb),
		InMsgs:  c.inMsgs.Load(), OutMsgs: c.outMsgs.Load(),
		InBytes: c.inBytes.Load(), OutBytes: c.outBytes.Load(),
		NumSubs: uint32(len(rt.subs)), Account: rt.account, Compression: c.routeCompression(),
	}
	if opts.Subscriptions || opts.SubscriptionsDetail {
		for _, rs := range rt.subs {
			sub := rs.sub
			if opts.SubscriptionsDetail {
				ri.SubsDetail = append(ri.SubsDetail, SubDetail{Subject: sub.subject, Queue: sub.queue,
					Sid: sub.sid, Msgs: sub.nm.Load(), Cid: c.cid, Account: rs.acc.Name})
			} else {
				ri.Subs = append(ri.Subs, sub.subject)
			}
		}
	}
	return ri
}

func (s *Server) handleRoutez(w http.ResponseWriter, r *http.Request) {
	var opts RoutezOptions
	switch r.URL.Query().Get("subs") {
	case "1", "true":
		opts.Subscriptions = true
	case "detail":
		opts.SubscriptionsDetail = true
	}
	writeJSON(w, r, http.StatusOK, s.routez(opts))
}

// clusterVarz fills /varz's cluster section and route counts.
func (s *Server) clusterVarz(v *Varz) {
	cs := s.cluster.Load()
	if cs == nil {
		return
	}
	o := s.getOpts()
	v.Cluster = ClusterOptsVarz{Name: cs.clusterName(), Host: o.Cluster.Host, AuthTimeout: o.Cluster.AuthTimeout,
		TLSTimeout: 2, PoolSize: o.Cluster.PoolSize}
	if a := s.ClusterAddr(); a != nil {
		v.Cluster.Port = a.Port
	}
	for _, u := range o.Routes {
		v.Cluster.URLs = append(v.Cluster.URLs, u.Host)
	}
	v.Routes, v.Remotes = s.NumRoutes(), s.NumRemotes()
	// Messages routed in and out are not client messages.
	var in, inB, out, outB int64
	cs.mu.Lock()
	for _, c := range cs.conns {
		in, inB = in+c.inMsgs.Load(), inB+c.inBytes.Load()
		out, outB = out+c.outMsgs.Load(), outB+c.outBytes.Load()
	}
	cs.mu.Unlock()
	v.InClientMsgs, v.InClientBytes = max(0, v.InMsgs-in), max(0, v.InBytes-inB)
	v.OutClientMsgs, v.OutClientBytes = max(0, v.OutMsgs-out), max(0, v.OutBytes-outB)
}

// RouteStat is one route in STATSZ.
type RouteStat struct {
	ID       uint64   `json:"rid"`
	Name     string   `json:"name,omitempty"`
	Sent     MsgBytes `json:"sent"`
	Received MsgBytes `json:"received"`
	Pending  int      `json:"pending"`
}

// routeStats lists the registered routes for STATSZ, by rid.
func (s *Server) routeStats() []*RouteStat {
	rz := s.routez(RoutezOptions{})
	out := make([]*RouteStat, 0, len(rz.Routes))
	for _, r := range rz.Routes {
		out = append(out, &RouteStat{ID: r.Rid, Name: r.RemoteName, Pending: r.Pending,
			Sent: MsgBytes{Msgs: r.OutMsgs, Bytes: r.OutBytes}, Received: MsgBytes{Msgs: r.InMsgs, Bytes: r.InBytes}})
	}
	return out
}
