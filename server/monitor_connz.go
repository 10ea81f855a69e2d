package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Connz is the /connz answer.
type Connz struct {
	ID       string      `json:"server_id"`
	Now      time.Time   `json:"now"`
	NumConns int         `json:"num_connections"`
	Total    int         `json:"total"`
	Offset   int         `json:"offset"`
	Limit    int         `json:"limit"`
	Conns    []*ConnInfo `json:"connections"`
}

// ConnInfo describes one connection, open or closed, in the reference's
// field order.
type ConnInfo struct {
	Cid            uint64         `json:"cid"`
	Kind           string         `json:"kind,omitempty"`
	Type           string         `json:"type,omitempty"`
	IP             string         `json:"ip"`
	Port           int            `json:"port"`
	Start          time.Time      `json:"start"`
	LastActivity   time.Time      `json:"last_activity"`
	Stop           *time.Time     `json:"stop,omitempty"`
	Reason         string         `json:"reason,omitempty"`
	RTT            string         `json:"rtt,omitempty"`
	Uptime         string         `json:"uptime"`
	Idle           string         `json:"idle"`
	Pending        int            `json:"pending_bytes"`
	InMsgs         int64          `json:"in_msgs"`
	OutMsgs        int64          `json:"out_msgs"`
	InBytes        int64          `json:"in_bytes"`
	OutBytes       int64          `json:"out_bytes"`
	Stalls         int64          `json:"stalls,omitempty"`
	NumSubs        uint32         `json:"subscriptions"`
	Name           string         `json:"name,omitempty"`
	Lang           string         `json:"lang,omitempty"`
	Version        string         `json:"version,omitempty"`
	TLSVersion     string         `json:"tls_version,omitempty"`
	TLSCipher      string         `json:"tls_cipher_suite,omitempty"`
	TLSPeerCerts   []*TLSPeerCert `json:"tls_peer_certs,omitempty"`
	TLSFirst       bool           `json:"tls_first,omitempty"`
	AuthorizedUser string         `json:"authorized_user,omitempty"`
	Account        string         `json:"account,omitempty"`
	Subs           []string       `json:"subscriptions_list,omitempty"`
	SubsDetail     []SubDetail    `json:"subscriptions_list_detail,omitempty"`
	Jwt            string         `json:"jwt,omitempty"`
	IssuerKey      string         `json:"issuer_key,omitempty"`
	NameTag        string         `json:"name_tag,omitempty"`
	Tags           []string       `json:"tags,omitempty"`
	MQTTClient     string         `json:"mqtt_client,omitempty"`

	// sort keys not rendered as such
	stop time.Time
	rtt  time.Duration
}

// SubDetail is one subscription in connz subs=detail and subsz subs=1.
type SubDetail struct {
	Account    string `json:"account,omitempty"`
	AccountTag string `json:"account_tag,omitempty"`
	Subject    string `json:"subject"`
	Queue      string `json:"qgroup,omitempty"`
	Sid        string `json:"sid"`
	Msgs       int64  `json:"msgs"`
	Max        int64  `json:"max,omitempty"`
	Cid        uint64 `json:"cid"`
}

// ConnState selects open, closed or all connections in /connz.
type ConnState int

// Connection states accepted by /connz?state=.
const (
	ConnOpen ConnState = iota
	ConnClosed
	ConnAll
)

// SortOpt is a /connz sort key, spelled as in the query.
type SortOpt string

// The sort keys /connz accepts, as the reference names them.
const (
	ByCid      SortOpt = "cid"
	ByStart    SortOpt = "start"
	BySubs     SortOpt = "subs"
	ByPending  SortOpt = "pending"
	ByOutMsgs  SortOpt = "msgs_to"
	ByInMsgs   SortOpt = "msgs_from"
	ByOutBytes SortOpt = "bytes_to"
	ByInBytes  SortOpt = "bytes_from"
	ByLast     SortOpt = "last"
	ByIdle     SortOpt = "idle"
	ByUptime   SortOpt = "uptime"
	ByStop     SortOpt = "stop"
	ByReason   SortOpt = "reason"
	ByRTT      SortOpt = "rtt"
)

// ConnzOptions are the /connz query options.
type ConnzOptions struct {
	Sort          SortOpt
	Username      bool // auth: show authorized user and account
	Subscriptions bool
	SubsDetail    bool
	Offset        int
	Limit         int
	CID           uint64
	State         ConnState
	User          string
	Account       string
}

// DefaultConnListSize is the default /connz page size.
const DefaultConnListSize = 1024

// connSorters orders connections for each key; ties fall back to cid so
// that paging is stable. As observed on the reference: counters and rtt
// sort largest first, last and stop most recent first, idle most idle
// first, uptime shortest first, cid, start and reason ascending.
var connSorters = map[SortOpt]func(a, b *ConnInfo) int{
	ByCid:      func(a, b *ConnInfo) int { return cmp.Compare(a.Cid, b.Cid) },
	ByStart:    func(a, b *ConnInfo) int { return a.Start.Compare(b.Start) },
	BySubs:     func(a, b *ConnInfo) int { return cmp.Compare(b.NumSubs, a.NumSubs) },
	ByPending:  func(a, b *ConnInfo) int { return cmp.Compare(b.Pending, a.Pending) },
	ByOutMsgs:  func(a, b *ConnInfo) int { return cmp.Compare(b.OutMsgs, a.OutMsgs) },
	ByInMsgs:   func(a, b *ConnInfo) int { return cmp.Compare(b.InMsgs, a.InMsgs) },
	ByOutBytes: func(a, b *ConnInfo) int { return cmp.Compare(b.OutBytes, a.OutBytes) },
	ByInBytes:  func(a, b *ConnInfo) int { return cmp.Compare(b.InBytes, a.InBytes) },
	ByLast:     func(a, b *ConnInfo) int { return b.LastActivity.Compare(a.LastActivity) },
	ByIdle:     func(a, b *ConnInfo) int { return a.LastActivity.Compare(b.LastActivity) },
	ByUptime: func(a, b *ConnInfo) int {
		return cmp.Compare(a.endTime().Sub(a.Start), b.endTime().Sub(b.Start))
	},
	ByStop:   func(a, b *ConnInfo) int { return b.stop.Compare(a.stop) },
	ByReason: func(a, b *ConnInfo) int { return strings.Compare(a.Reason, b.Reason) },
	ByRTT:    func(a, b *ConnInfo) int { return cmp.Compare(b.rtt, a.rtt) },
}

// endTime is when the connection's uptime stops counting.
func (ci *ConnInfo) endTime() time.Time {
	if ci.Stop != nil {
		return ci.stop
	}
	return time.Now()
}

// parseConnzOptions reads the query, answering the reference's error texts.
func parseConnzOptions(r *http.Request) (*ConnzOptions, error) {
	q := r.URL.Query()
	o := &ConnzOptions{Sort: SortOpt(q.Get("sort")), User: q.Get("user"), Account: q.Get("acc")}
	var err error
	if o.Username, err = queryBool(r, "auth"); err != nil {
		return nil, err
	}
	if q.Get("subs") == "detail" {
		o.Subscriptions, o.SubsDetail = true, true
	} else if o.Subscriptions, err = queryBool(r, "subs"); err != nil {
		return nil, err
	}
	if o.Offset, err = queryInt(r, "offset", 0); err != nil {
		return nil, err
	}
	if o.Limit, err = queryInt(r, "limit", 0); err != nil {
		return nil, err
	}
	cid, err := queryInt(r, "cid", 0)
	if err != nil {
		return nil, err
	}
	if cid > 0 {
		o.CID = uint64(cid)
	}
	switch st := strings.ToLower(q.Get("state")); st {
	case "", "open":
		o.State = ConnOpen
	case "closed":
		o.State = ConnClosed
	case "any", "all":
		o.State = ConnAll
	default:
		return nil, fmt.Errorf("Error decoding state for %s", q.Get("state"))
	}
	return o, nil
}

// Connz returns the connections selected by opts (nil for the defaults).
func (s *Server) Connz(opts *ConnzOptions) (*Connz, error) {
	if opts == nil {
		opts = &ConnzOptions{}
	}
	if opts.Sort == "" {
		opts.Sort = ByCid
	}
	less, ok := connSorters[opts.Sort]
	if !ok {
		return nil, fmt.Errorf("invalid sorting option: %s", opts.Sort)
	}
	if (opts.Sort == ByStop || opts.Sort == ByReason) && opts.State == ConnOpen {
		return nil, fmt.Errorf("sort by %s only valid on closed connections", opts.Sort)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultConnListSize
	}
	if opts.CID > 0 {
		limit = 1
	}
	now := time.Now().UTC()
	cz := &Connz{ID: s.info.ID, Now: now, Limit: limit}
	var list []*ConnInfo
	if opts.State != ConnClosed {
		list = s.openConnInfos(opts, now)
	}
	if opts.State != ConnOpen {
		list = append(list, s.closedConnInfos(opts)...)
	}
	slices.SortStableFunc(list, func(a, b *ConnInfo) int {
		if c := less(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.Cid, b.Cid)
	})
	cz.Total = len(list)
	lo, hi := pageBounds(opts.Offset, limit, len(list))
	cz.Offset = lo
	cz.Conns = list[lo:hi]
	cz.NumConns = len(cz.Conns)
	return cz, nil
}

// openConnInfos snapshots the open connections matching opts. The server
// lock is held only to copy the client list; each client is then read
// under its own lock, one at a time.
func (s *Server) openConnInfos(opts *ConnzOptions, now time.Time) []*ConnInfo {
	s.mu.Lock()
	clients := make([]*client, 0, len(s.clients))
	for cid, c := range s.clients {
		if opts.CID == 0 || cid == opts.CID {
			clients = append(clients, c)
		}
	}
	s.mu.Unlock()
	list := make([]*ConnInfo, 0, len(clients))
	for _, c := range clients {
		if ci := c.connInfo(opts, now); ci != nil {
			ci.setTLS(c.tlsInfo(true))
			list = append(list, ci)
		}
	}
	return list
}

// lastActivity is the time of the last message in or out, else the start.
func (c *client) lastActivity() time.Time {
	if n := c.lastActive.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return c.start
}

// connInfo describes an open connection, nil if opts filter it out.
func (c *client) connInfo(opts *ConnzOptions, now time.Time) *ConnInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	acc := ""
	if c.acc != nil {
		acc = c.acc.Name
	}
	if (opts.User != "" && c.authorizedUser() != opts.User) || (opts.Account != "" && acc != opts.Account) {
		return nil
	}
	last := c.lastActivity()
	ci := &ConnInfo{
		Cid: c.cid, Kind: "Client", Type: c.clientType(), IP: c.host, Port: c.port,
		Start: c.start.UTC(), LastActivity: last.UTC(), rtt: c.lastRTT, RTT: fmtRTT(c.lastRTT),
		Uptime: fmtUptime(now.Sub(c.start)), Idle: fmtUptime(now.Sub(last)),
		Pending: int(c.out.pb),
		InMsgs:  c.inMsgs.Load(), OutMsgs: c.outMsgs.Load(),
		InBytes: c.inBytes.Load(), OutBytes: c.outBytes.Load(),
		NumSubs: uint32(len(c.subs)),
		Name:    c.opts.Name, Lang: c.opts.Lang, Version: c.opts.Version,
	}
	if c.mq != nil {
		ci.MQTTClient = c.mq.clientID // reader writes, under c.mu
	}
	if opts.Username {
		ci.AuthorizedUser = c.authorizedUser()
		if acc != DEFAULT_GLOBAL_ACCOUNT {
			ci.Account = acc
		}
		ci.NameTag = acc
		var tag string
		if ci.Jwt, ci.IssuerKey, ci.Tags, tag = c.jwtIdentity(); tag != "" {
			ci.NameTag = tag
		}
	}
	if opts.Subscriptions {
		subs := make([]closedSub, 0, len(c.subs))
		for _, sub := range c.subs {
			subs = append(subs, closedSub{sub.subject, sub.queue, sub.sid, sub.nm.Load(), sub.max.Load()})
		}
		ci.setSubs(subs, opts.SubsDetail)
		ci.tagSubs(opts.Username, acc)
	}
	return ci
}

// setTLS fills the TLS fields.
func (ci *ConnInfo) setTLS(t connTLS) {
	ci.TLSVersion, ci.TLSCipher, ci.TLSPeerCerts, ci.TLSFirst = t.version, t.cipher, t.peers, t.first
}

// setSubs fills the subscription list, ordered by sid for stable output.
func (ci *ConnInfo) setSubs(subs []closedSub, detail bool) {
	if len(subs) == 0 {
		return
	}
	slices.SortFunc(subs, func(a, b closedSub) int {
		if c := cmp.Compare(len(a.sid), len(b.sid)); c != 0 {
			return c
		}
		return strings.Compare(a.sid, b.sid)
	})
	if !detail {
		ci.Subs = make([]string, len(subs))
		for i, sub := range subs {
			ci.Subs[i] = sub.subject
		}
		return
	}
	ci.SubsDetail = make([]SubDetail, len(subs))
	for i, sub := range subs {
		ci.SubsDetail[i] = SubDetail{Subject: sub.subject, Queue: sub.queue, Sid: sub.sid, Msgs: sub.msgs, Max: sub.max, Cid: ci.Cid}
	}
}

// tagSubs names the account on each detailed subscription when auth
// details were asked for, as the reference does.
func (ci *ConnInfo) tagSubs(auth bool, acc string) {
	if !auth {
		return
	}
	for i := range ci.SubsDetail {
		ci.SubsDetail[i].Account, ci.SubsDetail[i].AccountTag = acc, acc
	}
}

// closedConnInfos describes the kept closed connections matching opts.
func (s *Server) closedConnInfos(opts *ConnzOptions) []*ConnInfo {
	closed := s.closed.list()
	list := make([]*ConnInfo, 0, len(closed))
	for _, cc := range closed {
		if (opts.CID != 0 && cc.cid != opts.CID) || (opts.User != "" && cc.user != opts.User) ||
			(opts.Account != "" && cc.account != opts.Account) {
			continue
		}
		stop := cc.stop.UTC()
		ci := &ConnInfo{
			Cid: cc.cid, Kind: "Client", Type: cc.ctype, IP: cc.host, Port: cc.port,
			Start: cc.start.UTC(), LastActivity: cc.last.UTC(), Stop: &stop, stop: stop,
			Reason: cc.reason.String(), rtt: cc.rtt, RTT: fmtRTT(cc.rtt),
			Uptime: fmtUptime(cc.stop.Sub(cc.start)), Idle: fmtUptime(cc.stop.Sub(cc.last)),
			Pending: int(cc.pending),
			InMsgs:  cc.inMsgs, OutMsgs: cc.outMsgs, InBytes: cc.inBytes, OutBytes: cc.outBytes,
			Name: cc.opts.Name, Lang: cc.opts.Lang, Version: cc.opts.Version, MQTTClient: cc.mqttClient,
		}
		ci.setTLS(cc.tls)
		if opts.Username {
			ci.AuthorizedUser = cc.user
			if cc.account != DEFAULT_GLOBAL_ACCOUNT {
				ci.Account = cc.account
			}
		}
		if opts.Subscriptions {
			ci.setSubs(slices.Clone(cc.subs), opts.SubsDetail)
			ci.tagSubs(opts.Username, cc.account)
		}
		list = append(list, ci)
	}
	return list
}

// fmtRTT renders a round-trip time, empty before the first PONG.
func fmtRTT(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d > time.Millisecond {
		return d.String()
	}
	return d.Round(time.Microsecond).String()
}

func (s *Server) handleConnz(w http.ResponseWriter, r *http.Request) {
	opts, err := parseConnzOptions(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	cz, err := s.Connz(opts)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, cz)
}

// authorizedUser is what /connz shows as authorized_user, as the reference
// does: the user, nkey or user JWT a connection authenticated as (also when
// by no_auth_user or a certificate), "[REDACTED]" for a token. Called with
// c.mu held.
func (c *client) authorizedUser() string {
	switch {
	case c.user != "":
		return c.user
	case c.opts.Token != "":
		return "[REDACTED]"
	}
	return c.opts.Username
}
