package server

import (
	"strings"
	"time"
)

// Per-account requests: $SYS.REQ.ACCOUNT.<acc>.<kind>, $SYS.REQ.ACCOUNT.PING.STATZ,
// $SYS.REQ.USER.<acc>.INFO and $SYS.DEBUG.SUBSCRIBERS. Ordinary accounts
// reach some of them through the system imports (events_imports.go), with
// <acc> their own name.

func init() {
	sysAccountRequests["CONNS"] = sysAccountConns
	sysAccountRequests["CONNZ"] = sysConnz
	sysAccountRequests["SUBSZ"] = sysSubsz
	sysAccountRequests["INFO"] = sysAccountInfo
	sysAccountRequests["STATZ"] = func(s *Server, r *sysRequest) (any, error) {
		if r.acc == "PING" {
			return nil, errNoReply // answered by the $SYS.REQ.ACCOUNT.PING.STATZ handler
		}
		return sysStatz(s, r)
	}
	sysAccountRequests["LEAFZ"] = func(s *Server, _ *sysRequest) (any, error) { return s.leafz(), nil }
	sysAccountRequests["JSZ"] = sysAccountJsz
}

// sysAccountConns answers with the account connections advisory, only for
// an account that has connections.
func sysAccountConns(s *Server, r *sysRequest) (any, error) {
	acc, ok := s.LookupAccount(r.acc)
	if !ok || acc.NumConnections() == 0 {
		return nil, errNoReply
	}
	return rawReply{s.accountConns(acc)}, nil
}

func sysAccountInfo(s *Server, r *sysRequest) (any, error) {
	az, err := s.accountz(r.acc)
	if err != nil {
		return (*AccountInfo)(nil), err
	}
	return az.Account, nil
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

// sysConnz answers CONNZ; per account (and for every ordinary account,
// whatever it asks) the connections of that account only.
func sysConnz(s *Server, r *sysRequest) (any, error) {
	var q connzRequest
	if err := decodeRequest(r.body, &q); err != nil {
		return nil, err
	}
	if r.acc != "" {
		if _, ok := s.LookupAccount(r.acc); !ok {
			// The reference's answer for an account it does not know.
			return &Connz{Now: time.Now().UTC(), Limit: DefaultConnListSize}, nil
		}
		q.Account = r.acc
	}
	return s.Connz(&ConnzOptions{Sort: q.Sort, Username: q.Username, Subscriptions: q.Subscriptions,
		SubsDetail: q.SubsDetail, Offset: q.Offset, Limit: q.Limit, CID: q.CID, State: q.State,
		User: q.User, Account: q.Account})
}

// subszRequest is the JSON body of a SUBSZ request.
type subszRequest struct {
	Offset        int    `json:"offset"`
	Limit         int    `json:"limit"`
	Subscriptions bool   `json:"subscriptions"`
	Account       string `json:"account"`
	Test          string `json:"test"`
}

func sysSubsz(s *Server, r *sysRequest) (any, error) {
	var q subszRequest
	if err := decodeRequest(r.body, &q); err != nil {
		return nil, err
	}
	if r.acc != "" {
		q.Account = r.acc
	}
	return s.Subsz(&SubszOptions{Offset: q.Offset, Limit: q.Limit, Subscriptions: q.Subscriptions,
		Account: q.Account, Test: q.Test}), nil
}

// statzRequest is the JSON body of a STATZ request.
type statzRequest struct {
	Accounts      []string `json:"accounts"`
	IncludeUnused bool     `json:"include_unused"`
}

// sysStatz answers account statistics: of the account named by the subject,
// or of the accounts asked for, or of all. Accounts without connections
// are left out unless include_unused; with nothing left to report the
// server stays silent, as the reference does.
func sysStatz(s *Server, r *sysRequest) (any, error) {
	var q statzRequest
	if err := decodeRequest(r.body, &q); err != nil {
		return nil, err
	}
	if r.acc != "" {
		q.Accounts = []string{r.acc}
	}
	az := &Accstatz{ID: s.info.ID, Now: time.Now().UTC(), Accounts: []*AccountStatz{}}
	for _, a := range s.statzAccounts(q.Accounts) {
		if st := a.accountStatz(); st.Conns > 0 || q.IncludeUnused {
			az.Accounts = append(az.Accounts, st)
		}
	}
	if len(az.Accounts) == 0 && !q.IncludeUnused {
		return nil, errNoReply
	}
	return az, nil
}

// statzAccounts returns the named accounts that exist, or all of them.
func (s *Server) statzAccounts(names []string) []*Account {
	if len(names) == 0 {
		return s.sortedAccounts()
	}
	var accs []*Account
	for _, n := range names {
		if a, ok := s.LookupAccount(n); ok {
			accs = append(accs, a)
		}
	}
	return accs
}

// UserInfo answers $SYS.REQ.USER.INFO.
type UserInfo struct {
	UserID      string       `json:"user"`
	Account     string       `json:"account"`
	AccountName string       `json:"account_name,omitempty"`
	Permissions *Permissions `json:"permissions,omitempty"`
}

// sysUserInfo describes the requester; a request that did not come through
// an import sharing the requester's identity gets an empty answer.
func sysUserInfo(_ *Server, r *sysRequest) (any, error) {
	if r.client == nil {
		return &UserInfo{}, nil
	}
	return r.client.userInfo(), nil
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
	if c.perms != nil && c.perms.conf != nil {
		// Both lists are always shown, empty when not configured.
		p := *c.perms.conf
		if p.Publish == nil {
			p.Publish = &SubjectPermission{}
		}
		if p.Subscribe == nil {
			p.Subscribe = &SubjectPermission{}
		}
		ui.Permissions = &p
	}
	return ui
}

// sysDebugSubscribers counts the client subscriptions of the account that a
// message on a subject (wildcards allowed) could reach, only those of a
// queue group if its name follows the subject. The answer is a bare number.
func sysDebugSubscribers(s *Server, r *sysRequest) (any, error) {
	acc, ok := s.LookupAccount(r.acc)
	if !ok {
		return nil, errNoReply
	}
	subject, queue, _ := strings.Cut(strings.TrimSpace(string(r.body)), " ")
	n := 0
	if subject != "" && IsValidSubject(subject) {
		for _, sub := range acc.sl.All(nil) {
			if sub.icb == nil && (queue == "" || sub.queue == queue) && subjectsCollide(sub.subject, subject) {
				n++
			}
		}
	}
	return rawReply{n}, nil
}
