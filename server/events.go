package server

import (
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// System account subjects, as the reference publishes and answers them.
const (
	DEFAULT_SYSTEM_ACCOUNT = "$SYS"

	connectEventSubj    = "$SYS.ACCOUNT.%s.CONNECT"
	disconnectEventSubj = "$SYS.ACCOUNT.%s.DISCONNECT"
	accConnsEventSubj   = "$SYS.ACCOUNT.%s.SERVER.CONNS"
	accConnsEventOld    = "$SYS.SERVER.ACCOUNT.%s.CONNS"
	authErrorEventSubj  = "$SYS.SERVER.%s.CLIENT.AUTH.ERR"
	serverStatsSubj     = "$SYS.SERVER.%s.STATSZ"
	serverPingReqSubj   = "$SYS.REQ.SERVER.PING"

	// statszInterval is how often STATSZ is published unprompted.
	statszInterval = 10 * time.Second
)

// Advisory type names.
const (
	connectEventType    = "io.nats.server.advisory.v1.client_connect"
	disconnectEventType = "io.nats.server.advisory.v1.client_disconnect"
	accConnsEventType   = "io.nats.server.advisory.v1.account_connections"
)

// ServerInfo identifies the server in every event and reply.
type ServerInfo struct {
	Name         string          `json:"name"`
	Host         string          `json:"host"`
	ID           string          `json:"id"`
	Cluster      string          `json:"cluster,omitempty"`
	Domain       string          `json:"domain,omitempty"`
	Version      string          `json:"ver"`
	Tags         []string        `json:"tags,omitempty"`
	FeatureFlags map[string]bool `json:"feature_flags"`
	JetStream    bool            `json:"jetstream"`
	Flags        uint64          `json:"flags"`
	Seq          uint64          `json:"seq"`
	Time         time.Time       `json:"time"`
}

// ClientInfo describes a client in connect and disconnect events.
type ClientInfo struct {
	Start      *time.Time    `json:"start,omitempty"`
	Host       string        `json:"host,omitempty"`
	ID         uint64        `json:"id,omitempty"`
	Account    string        `json:"acc,omitempty"`
	User       string        `json:"user,omitempty"`
	Name       string        `json:"name,omitempty"`
	Lang       string        `json:"lang,omitempty"`
	Version    string        `json:"ver,omitempty"`
	RTT        time.Duration `json:"rtt,omitempty"`
	Stop       *time.Time    `json:"stop,omitempty"`
	Jwt        string        `json:"jwt,omitempty"`
	IssuerKey  string        `json:"issuer_key,omitempty"`
	NameTag    string        `json:"name_tag,omitempty"`
	Tags       []string      `json:"tags,omitempty"`
	Kind       string        `json:"kind,omitempty"`
	ClientType string        `json:"client_type,omitempty"`
}

// TypedEvent is the header every advisory carries.
type TypedEvent struct {
	Type string    `json:"type"`
	ID   string    `json:"id"`
	Time time.Time `json:"timestamp"`
}

// ConnectEventMsg is published when a client connects.
type ConnectEventMsg struct {
	TypedEvent
	Server ServerInfo `json:"server"`
	Client ClientInfo `json:"client"`
}

// DisconnectEventMsg is published when a client disconnects or fails to
// authenticate.
type DisconnectEventMsg struct {
	TypedEvent
	Server   ServerInfo `json:"server"`
	Client   ClientInfo `json:"client"`
	Sent     MsgBytes   `json:"sent"`
	Received MsgBytes   `json:"received"`
	Reason   string     `json:"reason"`
}

// AccountNumConns reports an account's connection count.
type AccountNumConns struct {
	TypedEvent
	Server ServerInfo `json:"server"`
	AccountStatz
}

// ServerStats is the statsz body.
type ServerStats struct {
	Start            time.Time    `json:"start"`
	Mem              int64        `json:"mem"`
	Cores            int          `json:"cores"`
	CPU              float64      `json:"cpu"`
	Connections      int          `json:"connections"`
	TotalConnections int64        `json:"total_connections"`
	ActiveAccounts   int          `json:"active_accounts"`
	NumSubs          uint32       `json:"subscriptions"`
	Sent             MsgBytes     `json:"sent"`
	Received         MsgBytes     `json:"received"`
	SlowConsumers    int64        `json:"slow_consumers"`
	Routes           []*RouteStat `json:"routes,omitempty"`
	ActiveServers    int          `json:"active_servers"`
	GoMaxProcs       int          `json:"gomaxprocs"`
}

// ServerStatsMsg answers PING and STATSZ.
type ServerStatsMsg struct {
	Server ServerInfo  `json:"server"`
	Stats  ServerStats `json:"statsz"`
}

// ServerAPIResponse wraps the answer to a monitoring request.
type ServerAPIResponse struct {
	Server *ServerInfo `json:"server"`
	Data   any         `json:"data,omitempty"`
	Error  *APIError   `json:"error,omitempty"`
}

// APIError is an error answer.
type APIError struct {
	Code        int    `json:"code"`
	Description string `json:"description,omitempty"`
}

// sysState is the system account's runtime.
type sysState struct {
	acc *Account
	seq atomic.Uint64
	// slow serializes each kind of sysSlowRequests: two reloads, or two CPU
	// profiles, never run at once.
	slow map[string]*sync.Mutex
}

// setupSystemAccount creates the system account and its request handlers.
func (s *Server) setupSystemAccount(o *Options) {
	if o.NoSystemAccount {
		return
	}
	name := o.SystemAccount
	if name == "" {
		name = DEFAULT_SYSTEM_ACCOUNT
	}
	acc, ok := s.LookupAccount(name)
	if !ok {
		acc = s.registerAccount(NewAccount(name))
	}
	s.sys = &sysState{acc: acc, slow: map[string]*sync.Mutex{}}
	for kind := range sysSlowRequests {
		s.sys.slow[kind] = &sync.Mutex{}
	}
	s.addSystemHandlers()
	s.addSystemImportsToAll()
}

// SystemAccount returns the system account, nil if disabled.
func (s *Server) SystemAccount() *Account {
	if s.sys == nil {
		return nil
	}
	return s.sys.acc
}

func (s *Server) serverInfo() ServerInfo {
	o := s.getOpts()
	si := ServerInfo{
		Name: s.info.Name, Host: o.Host, ID: s.info.ID, Version: VERSION, Tags: o.ServerTags,
		FeatureFlags: defaultFeatureFlags(),
		Seq:          s.sys.seq.Add(1), Time: time.Now().UTC(),
	}
	s.jetStreamServerInfo(&si)
	if cs := s.cluster.Load(); cs != nil {
		si.Cluster = cs.clusterName()
	}
	return si
}

func newEvent(typ string) TypedEvent {
	return TypedEvent{Type: typ, ID: randToken(14)[:22], Time: time.Now().UTC()}
}

// hasInterest reports whether anyone listens on subject in the system
// account, so that events nobody reads cost no JSON encoding.
func (s *Server) hasInterest(subject string) bool {
	if s.sys == nil {
		return false
	}
	r := s.sys.acc.sl.Match(subject)
	return len(r.psubs) > 0 || len(r.qsubs) > 0
}

// sendEvent publishes v as JSON on subject in the system account.
func (s *Server) sendEvent(subject string, v any) {
	if !s.hasInterest(subject) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.PublishInternal(s.sys.acc, subject, "", nil, b)
}

func (c *client) clientInfo(withStop bool) ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.start.UTC()
	ci := ClientInfo{Start: &start, Host: c.host, ID: c.cid, User: c.user, Name: c.opts.Name,
		Lang: c.opts.Lang, Version: c.opts.Version, Kind: "Client", ClientType: c.clientType()}
	if c.acc != nil {
		ci.Account, ci.NameTag = c.acc.Name, c.acc.Name
	}
	c.jwtClientInfo(&ci)
	if c.kind == LEAF {
		ci.Kind, ci.ClientType = "Leafnode", ""
		if c.jwt != nil {
			ci.User = c.jwt.user.Subject
		}
	}
	if ci.User == "" {
		ci.User = c.opts.Username
	}
	if withStop {
		ci.RTT = c.lastRTT
		stop := c.stop.UTC()
		ci.Stop = &stop
	}
	return ci
}

// sendConnectEvent announces an authenticated client.
func (s *Server) sendConnectEvent(c *client) {
	if s.sys == nil {
		return
	}
	// The account's new count first, as the reference orders them.
	s.askRemoteConns(c.account())
	s.sendAccountConns(c.account())
	ci := c.clientInfo(false)
	if subj := subjf(connectEventSubj, ci.Account); s.hasInterest(subj) {
		s.sendEvent(subj, &ConnectEventMsg{
			TypedEvent: newEvent(connectEventType), Server: s.serverInfo(), Client: ci})
	}
}

// sendDisconnectEvent announces a closed client, or an authentication
// failure on the server's AUTH.ERR subject.
func (s *Server) sendDisconnectEvent(c *client, authFailure bool) {
	if s.sys == nil {
		return
	}
	if !authFailure {
		s.sendAccountConns(c.account()) // first, as the reference orders them
	}
	if !s.hasInterest(subjf(disconnectEventSubj, c.accountName())) && !(authFailure && s.hasInterest(subjf(authErrorEventSubj, s.info.ID))) {
		return
	}
	ci := c.clientInfo(true)
	ev := &DisconnectEventMsg{TypedEvent: newEvent(disconnectEventType), Server: s.serverInfo(), Client: ci,
		// As the client sees it: what it sent, what it received.
		Sent:     MsgBytes{Msgs: c.inMsgs.Load(), Bytes: c.inBytes.Load()},
		Received: MsgBytes{Msgs: c.outMsgs.Load(), Bytes: c.outBytes.Load()},
		Reason:   c.closedReason().String()}
	if authFailure {
		s.sendEvent(subjf(authErrorEventSubj, s.info.ID), ev)
	}
	s.sendEvent(subjf(disconnectEventSubj, ci.Account), ev)
}

// sendConnectInfo tells a client that understands asynchronous INFO
// (protocol >= 1) which account it is bound to, and whether that is the
// system account (nats.go's IsSystemAccount, shown by `nats account info`).
// The reference sends it after the PONG answering the first PING after
// CONNECT, where clients expect nothing but that PONG before.
func (c *client) sendConnectInfo() {
	s := c.srv
	s.mu.Lock()
	info := s.info
	s.mu.Unlock()
	c.mu.Lock()
	acc, proto := c.acc, c.opts.Protocol
	c.mu.Unlock()
	if proto < 1 || acc == nil {
		return
	}
	if c.ws != nil {
		s.wsInfo(&info)
	}
	info.CID, info.ClientIP = c.cid, c.host
	info.ConnectInfo, info.Account = true, acc.Name
	info.IsSystemAcc = acc == s.SystemAccount()
	b, err := json.Marshal(&info)
	if err != nil {
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.queueOutbound([]byte("INFO "), b, []byte(" \r\n"))
	}
	c.mu.Unlock()
}

func (c *client) closedReason() ClosedState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

func (s *Server) sendAccountConns(acc *Account) {
	if acc == nil || s.sys == nil || acc == s.sys.acc {
		return
	}
	oldSubj, newSubj := subjf(accConnsEventOld, acc.Name), subjf(accConnsEventSubj, acc.Name)
	if !s.hasInterest(oldSubj) && !s.hasInterest(newSubj) {
		return
	}
	ev := s.accountConns(acc)
	s.sendEvent(oldSubj, ev)
	s.sendEvent(newSubj, ev)
}

func subjf(format, token string) string { return strings.Replace(format, "%s", token, 1) }

// statsz builds the server statistics.
func (s *Server) statsz() ServerStats {
	st := ServerStats{
		Start: s.start.UTC(), Cores: runtime.NumCPU(), GoMaxProcs: runtime.GOMAXPROCS(0),
		Connections: s.NumClients(), TotalConnections: s.totalConnections.Load(),
		NumSubs:       s.NumSubscriptions(),
		Sent:          MsgBytes{Msgs: s.outMsgs.Load(), Bytes: s.outBytes.Load()},
		Received:      MsgBytes{Msgs: s.inMsgs.Load(), Bytes: s.inBytes.Load()},
		SlowConsumers: s.slowConsumers.Load(), ActiveServers: 1 + s.NumRemotes(),
	}
	st.Mem, st.CPU = processUsage(s.start)
	st.Routes = s.routeStats()
	s.accounts.Range(func(_, v any) bool {
		if v.(*Account).NumConnections() > 0 {
			st.ActiveAccounts++
		}
		return true
	})
	return st
}

// statszLoop publishes STATSZ periodically until shutdown.
func (s *Server) statszLoop() {
	defer s.wg.Done()
	t := time.NewTicker(statszInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.sendEvent(subjf(serverStatsSubj, s.info.ID), &ServerStatsMsg{Server: s.serverInfo(), Stats: s.statsz()})
		case <-s.quitCh:
			return
		}
	}
}

func (c *client) accountName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acc == nil {
		return DEFAULT_GLOBAL_ACCOUNT
	}
	return c.acc.Name
}

// accountConns is the account connections advisory, with the account's
// traffic as /accstatz counts it.
func (s *Server) accountConns(acc *Account) *AccountNumConns {
	return &AccountNumConns{TypedEvent: newEvent(accConnsEventType), Server: s.serverInfo(),
		AccountStatz: *acc.accountStatz()}
}

// leafCounted publishes the account's new count when a leaf connection
// joins it, after asking the other servers for theirs if it is the
// account's first connection here; an accepted leaf is announced as the
// reference does, with a connect advisory of kind Leafnode.
func (s *Server) leafCounted(c *client) {
	if !c.leaf.solicited {
		s.sendConnectEvent(c)
		return
	}
	s.askRemoteConns(c.acc)
	s.sendAccountConns(c.acc)
}

// leafUncounted is leafCounted for a leaf connection that closed: the
// disconnect advisory of an accepted leaf, the account's new count.
func (s *Server) leafUncounted(c *client, acc *Account) {
	if !c.leaf.solicited && c.leaf.registered.Load() {
		s.sendDisconnectEvent(c, false)
		return
	}
	s.sendAccountConns(acc)
}
