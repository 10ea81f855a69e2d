package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// JSAPIStats counts JetStream API calls.
type JSAPIStats struct {
	Level  int    `json:"level"`
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}

// Accountz is the /accountz answer: the account names, or one account's
// detail with acc=<name>.
type Accountz struct {
	ID            string       `json:"server_id"`
	Now           time.Time    `json:"now"`
	SystemAccount string       `json:"system_account,omitempty"`
	Accounts      []string     `json:"accounts,omitempty"`
	Account       *AccountInfo `json:"account_detail,omitempty"`
}

// AccountInfo is one account's detail in /accountz.
type AccountInfo struct {
	AccountName string        `json:"account_name"`
	LastUpdate  time.Time     `json:"update_time,omitempty"`
	IsSystem    bool          `json:"is_system,omitempty"`
	Expired     bool          `json:"expired"`
	Complete    bool          `json:"complete"`
	JetStream   bool          `json:"jetstream_enabled"`
	LeafCnt     int           `json:"leafnode_connections"`
	ClientCnt   int           `json:"client_connections"`
	SubCnt      uint32        `json:"subscriptions"`
	Exports     []ExtExport   `json:"exports,omitempty"`
	Imports     []ExtImport   `json:"imports,omitempty"`
	Jwt         string        `json:"jwt,omitempty"`
	IssuerKey   string        `json:"issuer_key,omitempty"`
	NameTag     string        `json:"name_tag,omitempty"`
	Claim       any           `json:"decoded_jwt,omitempty"`
	Sublist     *SublistStats `json:"sublist_stats,omitempty"`
}

func (s *Server) handleAccountz(w http.ResponseWriter, r *http.Request) {
	az, err := s.accountz(r.URL.Query().Get("acc"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, az)
}

// accountz lists the accounts, or details one when name is given.
func (s *Server) accountz(name string) (*Accountz, error) {
	az := &Accountz{ID: s.info.ID, Now: time.Now().UTC()}
	if sa := s.SystemAccount(); sa != nil {
		az.SystemAccount = sa.Name
	}
	if name == "" {
		az.Accounts = []string{}
		for _, a := range s.sortedAccounts() {
			az.Accounts = append(az.Accounts, a.Name)
		}
		return az, nil
	}
	a, ok := s.LookupAccount(name)
	if !ok {
		return nil, fmt.Errorf("Account %s does not exist", name)
	}
	st := a.sl.Stats()
	s.mu.Lock()
	updated := s.configTime.UTC()
	s.mu.Unlock()
	az.Account = &AccountInfo{
		AccountName: a.Name, LastUpdate: updated, Complete: true,
		ClientCnt: a.NumConnections(), SubCnt: st.NumSubs, NameTag: a.Name, Sublist: st,
	}
	az.Account.Exports, az.Account.Imports = configuredExportsImports(s.getOpts(), a.Name)
	az.Account.Imports = append(az.Account.Imports, s.systemImportsInfo(a)...)
	if a == s.SystemAccount() {
		az.Account.IsSystem = true
		az.Account.Exports = append(az.Account.Exports, systemExports...)
	}
	s.jetStreamAccountz(a, az.Account) // monitor_jsz.go
	jwtAccountz(a, az.Account)         // jwt_account.go
	return az, nil
}

// configuredExportsImports describes the exports (services, then streams)
// and imports an account was configured with, as /accountz shows them.
func configuredExportsImports(o *Options, name string) (exports []ExtExport, imports []ExtImport) {
	for _, ao := range o.Accounts {
		if ao.Name != name {
			continue
		}
		for _, stream := range []bool{false, true} {
			for _, ex := range ao.Exports {
				if (ex.Stream != "") == stream {
					exports = append(exports, extExport(ex))
				}
			}
		}
		for _, im := range ao.Imports {
			imports = append(imports, extImport(im))
		}
	}
	return exports, imports
}

func extExport(ex *ExportOpts) ExtExport {
	if ex.Stream != "" {
		return ExtExport{Subject: ex.Stream, Type: "stream", Approved: ex.Accounts}
	}
	rt := "Singleton"
	switch ex.ResponseType {
	case "stream":
		rt = "Streamed"
	case "chunked":
		rt = "Chunked"
	}
	return ExtExport{Subject: ex.Service, Type: "service", ResponseType: rt, Approved: ex.Accounts}
}

func extImport(im *ImportOpts) ExtImport {
	if im.Stream != "" {
		local := im.Stream
		switch {
		case im.Prefix != "":
			local = im.Prefix + "." + im.Stream
		case im.To != "":
			local = im.To
		}
		return ExtImport{Subject: im.Stream, Account: im.Account, LocalSubject: local, Type: "stream"}
	}
	local := im.Service
	if im.To != "" {
		local = im.To
	}
	return ExtImport{Subject: im.Service, Account: im.Account, To: local, LocalSubject: local, Type: "service"}
}

// accClosedStats accumulates the traffic of an account's closed
// connections. Live connections are summed from their own counters when
// /accstatz is asked, so the message path pays nothing for accounts.
type accClosedStats struct {
	inMsgs, inBytes, outMsgs, outBytes atomic.Int64
}

func (st *accClosedStats) add(cc *closedConn) {
	st.inMsgs.Add(cc.inMsgs)
	st.inBytes.Add(cc.inBytes)
	st.outMsgs.Add(cc.outMsgs)
	st.outBytes.Add(cc.outBytes)
}

// Accstatz is the /accstatz answer.
type Accstatz struct {
	ID       string          `json:"server_id"`
	Now      time.Time       `json:"now"`
	Accounts []*AccountStatz `json:"account_statz"`
}

// AccountStatz is one account's traffic.
type AccountStatz struct {
	Account       string    `json:"acc"`
	Name          string    `json:"name"`
	Conns         int       `json:"conns"`
	LeafNodes     int       `json:"leafnodes"`
	TotalConns    int       `json:"total_conns"`
	NumSubs       uint32    `json:"num_subscriptions"`
	Sent          DataStats `json:"sent"`
	Received      DataStats `json:"received"`
	SlowConsumers int64     `json:"slow_consumers"`
}

// DataStats counts messages and bytes, split by where they went.
type DataStats struct {
	MsgBytes
	Gateways MsgBytes `json:"gateways"`
	Routes   MsgBytes `json:"routes"`
	Leafs    MsgBytes `json:"leafs"`
}

// MsgBytes is a message count and its byte total.
type MsgBytes struct {
	Msgs  int64 `json:"msgs"`
	Bytes int64 `json:"bytes"`
}

// accountStatz sums an account's live and closed connection counters.
// "sent" is what the server sent to the account's clients, "received" what
// it received from them.
func (a *Account) accountStatz() *AccountStatz {
	a.mu.Lock()
	clients := make([]*client, 0, len(a.clients))
	for c := range a.clients {
		clients = append(clients, c)
	}
	a.mu.Unlock()
	st := &AccountStatz{Account: a.Name, Name: a.Name, Conns: len(clients), TotalConns: len(clients), NumSubs: a.sl.Count()}
	st.Received.Msgs, st.Received.Bytes = a.closedStats.inMsgs.Load(), a.closedStats.inBytes.Load()
	st.Sent.Msgs, st.Sent.Bytes = a.closedStats.outMsgs.Load(), a.closedStats.outBytes.Load()
	for _, c := range clients {
		st.Received.Msgs += c.inMsgs.Load()
		st.Received.Bytes += c.inBytes.Load()
		st.Sent.Msgs += c.outMsgs.Load()
		st.Sent.Bytes += c.outBytes.Load()
	}
	return st
}

// handleAccstatz lists accounts with connections, all of them with
// unused=1, or those named in accs=a,b.
func (s *Server) handleAccstatz(w http.ResponseWriter, r *http.Request) {
	unused, err := queryBool(r, "unused")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	var names map[string]bool
	if v := r.URL.Query().Get("accs"); v != "" {
		names = make(map[string]bool)
		for _, n := range strings.Split(v, ",") {
			names[strings.TrimSpace(n)] = true
		}
	}
	az := &Accstatz{ID: s.info.ID, Now: time.Now().UTC(), Accounts: []*AccountStatz{}}
	for _, a := range s.sortedAccounts() {
		if names != nil && !names[a.Name] {
			continue
		}
		st := a.accountStatz()
		if st.Conns == 0 && !unused && names == nil {
			continue
		}
		az.Accounts = append(az.Accounts, st)
	}
	writeJSON(w, r, http.StatusOK, az)
}
