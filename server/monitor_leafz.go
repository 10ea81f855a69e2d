package server

import (
	"net/http"
	"sort"
	"time"
)

// Leafz is the /leafz answer, in the reference's shape.
type Leafz struct {
	ID       string      `json:"server_id"`
	Now      time.Time   `json:"now"`
	NumLeafs int         `json:"leafnodes"`
	Leafs    []*LeafInfo `json:"leafs"`
}

// LeafInfo is one leaf connection in /leafz.
type LeafInfo struct {
	ID          uint64   `json:"id"`
	Name        string   `json:"name"`
	IsSpoke     bool     `json:"is_spoke"`
	Account     string   `json:"account"`
	IP          string   `json:"ip"`
	Port        int      `json:"port"`
	RTT         string   `json:"rtt,omitempty"`
	InMsgs      int64    `json:"in_msgs"`
	OutMsgs     int64    `json:"out_msgs"`
	InBytes     int64    `json:"in_bytes"`
	OutBytes    int64    `json:"out_bytes"`
	NumSubs     uint32   `json:"subscriptions"`
	Subs        []string `json:"subscriptions_list,omitempty"`
	Compression string   `json:"compression,omitempty"`
}

// LeafzOptions are /leafz's query options: subs lists each connection's
// subscriptions, acc keeps the connections bound to one account.
type LeafzOptions struct {
	Subscriptions bool   `json:"subscriptions"`
	Account       string `json:"account"`
}

// LeafNodeOptsVarz is the leaf block of /varz: the listener's settings
// and the remotes solicited.
type LeafNodeOptsVarz struct {
	Host        string               `json:"host,omitempty"`
	Port        int                  `json:"port,omitempty"`
	AuthTimeout float64              `json:"auth_timeout,omitempty"`
	TLSTimeout  float64              `json:"tls_timeout,omitempty"`
	Remotes     []RemoteLeafOptsVarz `json:"remotes,omitempty"`
}

// RemoteLeafOptsVarz is one remote in /varz.
type RemoteLeafOptsVarz struct {
	LocalAccount string   `json:"local_account,omitempty"`
	URLs         []string `json:"urls,omitempty"`
}

func (s *Server) leafz() *Leafz { return s.Leafz(LeafzOptions{}) }

// Leafz returns the leaf connections, ordered by connection id.
func (s *Server) Leafz(opts LeafzOptions) *Leafz {
	conns := s.leafConns()
	sort.Slice(conns, func(i, j int) bool { return conns[i].cid < conns[j].cid })
	z := &Leafz{ID: s.info.ID, Now: time.Now().UTC(), Leafs: []*LeafInfo{}}
	for _, c := range conns {
		li := leafInfoOf(c, opts.Subscriptions)
		if opts.Account != "" && li.Account != opts.Account {
			continue
		}
		z.Leafs = append(z.Leafs, li)
	}
	z.NumLeafs = len(z.Leafs)
	return z
}

func leafInfoOf(c *client, withSubs bool) *LeafInfo {
	lc := c.leaf
	c.mu.Lock()
	defer c.mu.Unlock()
	li := &LeafInfo{
		ID: c.cid, Name: lc.remoteName, IsSpoke: lc.toHub, IP: c.host, Port: c.port,
		RTT:    fmtRTT(c.lastRTT),
		InMsgs: c.inMsgs.Load(), OutMsgs: c.outMsgs.Load(), InBytes: c.inBytes.Load(), OutBytes: c.outBytes.Load(),
		NumSubs: uint32(len(lc.subs)), Compression: c.routeCompression(),
	}
	if c.acc != nil {
		li.Account = c.acc.Name
	}
	if withSubs {
		for _, sub := range lc.subs {
			li.Subs = append(li.Subs, sub.subject)
		}
	}
	return li
}

func (s *Server) handleLeafz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	subs, err := queryBool(r, "subs")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, s.Leafz(LeafzOptions{Subscriptions: subs, Account: q.Get("acc")}))
}

// leafVarz fills /varz's leaf block and leaf connection count.
func (s *Server) leafVarz(v *Varz, o *Options) {
	if !o.leafEnabled() {
		return
	}
	lo := &o.LeafNode
	if lo.Port != 0 {
		v.LeafNode.Host = lo.Host
		v.LeafNode.Port = lo.Port
		if a := s.LeafAddr(); a != nil {
			v.LeafNode.Port = a.Port
		}
		v.LeafNode.AuthTimeout = lo.AuthTimeout
		v.LeafNode.TLSTimeout = DEFAULT_LEAF_TLS_TIMEOUT
	}
	for _, r := range lo.Remotes {
		rv := RemoteLeafOptsVarz{LocalAccount: leafLocalAccount(r)}
		for _, u := range r.URLs {
			rv.URLs = append(rv.URLs, u.Host)
		}
		v.LeafNode.Remotes = append(v.LeafNode.Remotes, rv)
	}
	v.Leafs = s.NumLeafNodes()
}
