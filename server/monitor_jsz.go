package server

import (
	"fmt"
	"net/http"
	"time"
)

// /jsz, $SYS.REQ.SERVER.PING.JSZ and $SYS.REQ.ACCOUNT.<acc>.JSZ, in the
// reference's shapes (observed on v2.15.2): the server's JetStream totals,
// then, on request, one entry per account and per stream.

// JSInfo is the /jsz answer.
type JSInfo struct {
	JSVarzStats                       // the same totals as /varz, first in the reference's field order
	ID             string             `json:"server_id"`
	Now            time.Time          `json:"now"`
	Disabled       bool               `json:"disabled,omitempty"`
	Config         JSVarzConfig       `json:"config"`
	Limits         *JSVarzLimits      `json:"limits,omitempty"`
	Streams        int                `json:"streams"`
	Consumers      int                `json:"consumers"`
	Messages       uint64             `json:"messages"`
	Bytes          uint64             `json:"bytes"`
	Meta           *JSMetaClusterInfo `json:"meta_cluster,omitempty"`
	AccountDetails []*AccountDetail   `json:"account_details,omitempty"`
	Total          int                `json:"total"`
}

// AccountDetail is one account in /jsz. Its reserved_memory and
// reserved_storage are the account's limits, as the reference reports them
// (-1, no limit, shows as the largest uint64).
type AccountDetail struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	JSVarzStats
	Streams []*StreamDetail `json:"stream_detail,omitempty"`
}

// StreamDetail is one stream in /jsz.
type StreamDetail struct {
	Name    string        `json:"name"`
	Created time.Time     `json:"created"`
	Cluster *ClusterInfo  `json:"cluster,omitempty"`
	Config  *StreamConfig `json:"config,omitempty"`
	State   StreamState   `json:"state"`
	// Consumers are the stream's consumers, with ?consumers=true.
	Consumers []*ConsumerInfo `json:"consumer_detail,omitempty"`
}

// JSzOptions are /jsz's query options (and the JSON body of the system
// requests).
type JSzOptions struct {
	Account    string `json:"account,omitempty"`
	Accounts   bool   `json:"accounts,omitempty"`
	Streams    bool   `json:"streams,omitempty"`
	Consumer   bool   `json:"consumer,omitempty"`
	Config     bool   `json:"config,omitempty"`
	LeaderOnly bool   `json:"leader_only,omitempty"`
	Offset     int    `json:"offset,omitempty"`
	Limit      int    `json:"limit,omitempty"`
}

// jszDefaultLimit is how many accounts one /jsz page details.
const jszDefaultLimit = 1024

func (s *Server) handleJsz(w http.ResponseWriter, r *http.Request) {
	opts, err := jszQuery(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, s.Jsz(opts))
}

func jszQuery(r *http.Request) (*JSzOptions, error) {
	o := &JSzOptions{Account: r.URL.Query().Get("acc")}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"accounts", &o.Accounts}, {"streams", &o.Streams}, {"consumers", &o.Consumer},
		{"config", &o.Config}, {"leader-only", &o.LeaderOnly}} {
		v, err := queryBool(r, b.name)
		if err != nil {
			return nil, err
		}
		*b.dst = v
	}
	var err error
	if o.Offset, err = queryInt(r, "offset", 0); err != nil {
		return nil, err
	}
	if o.Limit, err = queryInt(r, "limit", 0); err != nil {
		return nil, err
	}
	return o, nil
}

// Jsz is the /jsz answer for opts (nil: the totals only).
func (s *Server) Jsz(opts *JSzOptions) *JSInfo {
	js := s.js.Load()
	if js == nil {
		return &JSInfo{ID: s.info.ID, Now: time.Now().UTC(), Disabled: true}
	}
	if opts == nil {
		opts = &JSzOptions{}
	}
	v := s.jsVarz()
	info := &JSInfo{JSVarzStats: *v.Stats, ID: s.info.ID, Now: time.Now().UTC(), Config: *v.Config, Limits: v.Limits,
		Meta: v.Meta}
	accts := js.accounts()
	for _, ja := range accts {
		for _, st := range ja.streamList() {
			var ss StreamState
			st.store.FastState(&ss)
			info.Streams++
			info.Consumers += st.numConsumers()
			info.Messages += ss.Msgs
			info.Bytes += ss.Bytes
		}
	}
	info.Total = len(accts)
	if opts.Account == "" && !opts.Accounts && !opts.Streams && !opts.Consumer {
		return info
	}
	if opts.Account != "" {
		ja := js.lookupAccount(opts.Account)
		if ja == nil {
			return info
		}
		accts = []*jsAccount{ja}
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = jszDefaultLimit
	}
	from, to := pageBounds(opts.Offset, limit, len(accts))
	for _, ja := range accts[from:to] {
		info.AccountDetails = append(info.AccountDetails, ja.detail(opts))
	}
	return info
}

// detail is the account's /jsz entry.
func (ja *jsAccount) detail(opts *JSzOptions) *AccountDetail {
	mem, store, _ := ja.usage()
	lim := ja.limits.Load()
	d := &AccountDetail{Name: ja.acc.Name, ID: ja.acc.Name, JSVarzStats: JSVarzStats{
		Memory: mem, Store: store,
		ReservedMemory: uint64(lim.MaxMemory), ReservedStore: uint64(lim.MaxStore),
		API: JSAPIStats{Total: ja.apiTotal.Load(), Errors: ja.apiErrors.Load()},
	}}
	if !opts.Streams && !opts.Consumer {
		return d
	}
	for _, st := range ja.streamList() {
		si := st.info(false, true)
		sd := &StreamDetail{Name: st.name, Created: si.Created, Cluster: si.Cluster, State: si.State}
		if opts.Config {
			sd.Config = &si.Config
		}
		if opts.Consumer {
			sd.Consumers = st.consumerInfos(opts.Config)
		}
		d.Streams = append(d.Streams, sd)
	}
	return d
}

// sysJsz answers $SYS.REQ.SERVER.PING.JSZ and $SYS.REQ.SERVER.<id>.JSZ.
func sysJsz(s *Server, r *sysRequest) (any, error) {
	var opts JSzOptions
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	return s.Jsz(&opts), nil
}

// sysAccountJsz answers $SYS.REQ.ACCOUNT.<acc>.JSZ with the account's entry.
func sysAccountJsz(s *Server, r *sysRequest) (any, error) {
	var opts JSzOptions
	if err := decodeRequest(r.body, &opts); err != nil {
		return nil, err
	}
	js := s.js.Load()
	if js == nil {
		return (*AccountDetail)(nil), fmt.Errorf("jetstream not enabled")
	}
	ja := js.lookupAccount(r.acc)
	if ja == nil {
		return (*AccountDetail)(nil), fmt.Errorf("account %q not found", r.acc)
	}
	return ja.detail(&opts), nil
}

// jetStreamAccountz adds JetStream to an account's /accountz detail as the
// reference shows it: enabled or not, and the $JS.API.> service the system
// account exports to every JetStream account.
func (s *Server) jetStreamAccountz(a *Account, ai *AccountInfo) {
	js := s.js.Load()
	sys := s.SystemAccount()
	if js == nil || sys == nil {
		return
	}
	const api = jsAPIPrefix + ">"
	if a == sys {
		ai.Exports = append(ai.Exports, ExtExport{Subject: api, Type: "service", ResponseType: "Singleton"})
		return
	}
	if js.lookupAccount(a.Name) == nil {
		return
	}
	ai.JetStream = true
	ai.Imports = append(ai.Imports, ExtImport{Subject: api, Account: sys.Name, To: api, LocalSubject: api,
		Type: "service", Share: true})
}
