package server

import (
	"encoding/json"
	"strings"
)

// sysRequestHandler answers one kind of monitoring request. acc is the
// account named in $SYS.REQ.ACCOUNT.<acc>.<kind>, empty for server-wide
// requests; body is the request's JSON options, possibly empty.
type sysRequestHandler func(s *Server, body []byte, acc string) (any, error)

// sysServerRequests are the kinds answered under $SYS.REQ.SERVER.PING.<kind>
// and $SYS.REQ.SERVER.<id>.<kind>. The monitoring endpoints register the
// rest (VARZ, CONNZ, ...) in registerMonitorRequests.
var sysServerRequests = map[string]sysRequestHandler{
	"HEALTHZ": func(s *Server, _ []byte, _ string) (any, error) { return s.healthStatus(), nil },
}

// sysAccountRequests are the kinds answered under $SYS.REQ.ACCOUNT.<acc>.<kind>.
var sysAccountRequests = map[string]sysRequestHandler{
	"CONNS": func(s *Server, _ []byte, name string) (any, error) {
		acc, ok := s.LookupAccount(name)
		if !ok {
			return nil, fmtErr("account %q not found", name)
		}
		// Answered bare, as the account connections advisory itself.
		return rawReply{s.accountConns(acc)}, nil
	},
}

// addSystemHandlers subscribes the system account to the requests the
// server answers.
func (s *Server) addSystemHandlers() {
	acc := s.sys.acc
	statsz := func(_, reply string, _, _ []byte) {
		if reply != "" {
			s.sendReply(reply, &ServerStatsMsg{Server: s.serverInfo(), Stats: s.statsz()})
		}
	}
	_, _ = s.SubscribeInternal(acc, serverPingReqSubj, "", statsz)
	_, _ = s.SubscribeInternal(acc, serverPingReqSubj+".STATSZ", "", statsz)
	_, _ = s.SubscribeInternal(acc, "$SYS.REQ.SERVER."+s.info.ID+".STATSZ", "", statsz)
	_, _ = s.SubscribeInternal(acc, serverPingReqSubj+".IDZ", "", func(_, reply string, _, _ []byte) {
		if reply != "" {
			si := s.serverInfo()
			s.sendReply(reply, map[string]string{"name": si.Name, "host": si.Host, "id": si.ID})
		}
	})
	server := func(subject, reply string, _, msg []byte) {
		kind := subject[strings.LastIndexByte(subject, '.')+1:]
		s.answerSysRequest(sysServerRequests, kind, reply, msg, "")
	}
	_, _ = s.SubscribeInternal(acc, serverPingReqSubj+".*", "", func(subject, reply string, hdr, msg []byte) {
		if k := subject[len(serverPingReqSubj)+1:]; k != "STATSZ" && k != "IDZ" {
			server(subject, reply, hdr, msg)
		}
	})
	_, _ = s.SubscribeInternal(acc, "$SYS.REQ.SERVER."+s.info.ID+".*", "", func(subject, reply string, hdr, msg []byte) {
		if !strings.HasSuffix(subject, ".STATSZ") {
			server(subject, reply, hdr, msg)
		}
	})
	_, _ = s.SubscribeInternal(acc, accountReqSubj, "", func(subject, reply string, _, msg []byte) {
		toks := strings.Split(subject, ".")
		s.answerSysRequest(sysAccountRequests, toks[4], reply, msg, toks[3])
	})
	_, _ = s.subscribeInternalFrom(acc, userInfoReqSubj, func(c *client, reply string) {
		s.sendReply(reply, &ServerAPIResponse{Server: ptr(s.serverInfo()), Data: c.userInfo()})
	})
}

func ptr[T any](v T) *T { return &v }

// rawReply is a handler result sent as is, without the {server, data} envelope.
type rawReply struct{ v any }

// answerSysRequest runs a handler and replies with the reference's
// {server, data} or {server, error} envelope.
func (s *Server) answerSysRequest(table map[string]sysRequestHandler, kind, reply string, body []byte, acc string) {
	h, ok := table[kind]
	if !ok || reply == "" {
		return
	}
	si := s.serverInfo()
	data, err := h(s, body, acc)
	if raw, ok := data.(rawReply); ok && err == nil {
		s.sendReply(reply, raw.v)
		return
	}
	resp := &ServerAPIResponse{Server: &si, Data: data}
	if err != nil {
		resp.Data = nil
		resp.Error = &APIError{Code: 400, Description: err.Error()}
	}
	s.sendReply(reply, resp)
}

// sendReply publishes a JSON answer in the system account.
func (s *Server) sendReply(reply string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.PublishInternal(s.sys.acc, reply, "", nil, b)
}

// subscribeInternalFrom is SubscribeInternal for handlers that need to know
// which client sent the request.
func (s *Server) subscribeInternalFrom(acc *Account, subject string, cb func(c *client, reply string)) (func(), error) {
	ic := s.internalClient(acc)
	sub := &subscription{client: ic, subject: subject,
		icb: func(_ *subscription, c *client, _ *Account, _, reply string, _, _ []byte) {
			if reply != "" {
				cb(c, strings.Clone(reply))
			}
		}}
	ic.mu.Lock()
	sub.sid = "i" + itoa(s.gcid.Add(1))
	ic.subs[sub.sid] = sub
	ic.mu.Unlock()
	if err := acc.sl.Insert(sub); err != nil {
		return nil, err
	}
	return func() { ic.unsubscribeAfterMax(sub) }, nil
}

// UserInfo answers $SYS.REQ.USER.INFO.
type UserInfo struct {
	UserID      string       `json:"user"`
	Account     string       `json:"account"`
	AccountName string       `json:"account_name"`
	Permissions *Permissions `json:"permissions,omitempty"`
}

func (c *client) userInfo() *UserInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ui := &UserInfo{UserID: c.user}
	if ui.UserID == "" {
		ui.UserID = c.opts.Username
	}
	if c.acc != nil {
		ui.Account, ui.AccountName = c.acc.Name, c.acc.Name
	}
	return ui
}

// connzRequest is the JSON body of a CONNZ request, as the nats CLI sends it.
type connzRequest struct {
	Sort          SortOpt   `json:"sort"`
	Username      bool      `json:"auth"`
	Subscriptions bool      `json:"subscriptions"`
	SubsDetail    bool      `json:"subscriptions_detail"`
	Offset        int       `json:"offset"`
	Limit         int       `json:"limit"`
	CID           uint64    `json:"cid"`
	State         ConnState `json:"state"`
	User          string    `json:"user"`
	Account       string    `json:"acc"`
}

// subszRequest is the JSON body of a SUBSZ request.
type subszRequest struct {
	Offset        int    `json:"offset"`
	Limit         int    `json:"limit"`
	Subscriptions bool   `json:"subscriptions"`
	Account       string `json:"account"`
	Test          string `json:"test"`
}

func decodeRequest(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	return json.Unmarshal(body, v)
}

func sysConnz(s *Server, body []byte, acc string) (any, error) {
	var r connzRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, err
	}
	if acc != "" {
		r.Account = acc
	}
	return s.Connz(&ConnzOptions{Sort: r.Sort, Username: r.Username, Subscriptions: r.Subscriptions,
		SubsDetail: r.SubsDetail, Offset: r.Offset, Limit: r.Limit, CID: r.CID, State: r.State,
		User: r.User, Account: r.Account})
}

func sysSubsz(s *Server, body []byte, acc string) (any, error) {
	var r subszRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, err
	}
	if acc != "" {
		r.Account = acc
	}
	return s.Subsz(&SubszOptions{Offset: r.Offset, Limit: r.Limit, Subscriptions: r.Subscriptions,
		Account: r.Account, Test: r.Test}), nil
}

// registerMonitorRequests makes the monitoring snapshots answerable over
// the system account, as the reference's $SYS.REQ.SERVER.PING.<X> are.
func init() {
	sysServerRequests["VARZ"] = func(s *Server, _ []byte, _ string) (any, error) { return s.Varz(), nil }
	sysServerRequests["CONNZ"] = sysConnz
	sysServerRequests["SUBSZ"] = sysSubsz
	sysServerRequests["ROUTEZ"] = func(s *Server, _ []byte, _ string) (any, error) { return s.routez(), nil }
	sysServerRequests["GATEWAYZ"] = func(s *Server, _ []byte, _ string) (any, error) { return s.gatewayz(), nil }
	sysServerRequests["LEAFZ"] = func(s *Server, _ []byte, _ string) (any, error) { return s.leafz(), nil }
	sysServerRequests["JSZ"] = func(s *Server, _ []byte, _ string) (any, error) { return s.jsz(), nil }
	sysServerRequests["ACCOUNTZ"] = func(s *Server, body []byte, _ string) (any, error) {
		var r struct {
			Account string `json:"account"`
		}
		if err := decodeRequest(body, &r); err != nil {
			return nil, err
		}
		return s.accountz(r.Account)
	}
	sysAccountRequests["CONNZ"] = sysConnz
	sysAccountRequests["SUBSZ"] = sysSubsz
	sysAccountRequests["INFO"] = func(s *Server, _ []byte, acc string) (any, error) {
		az, err := s.accountz(acc)
		if err != nil {
			return nil, err
		}
		return az.Account, nil
	}
}
