package server

import (
	"sync"
	"sync/atomic"
)

// DEFAULT_GLOBAL_ACCOUNT is the account of every user that names none.
const DEFAULT_GLOBAL_ACCOUNT = "$G"

// Account is an isolated subject space with its own subject index. Every
// connection, including server-internal ones, belongs to exactly one.
type Account struct {
	Name string
	sl   *Sublist

	mu      sync.Mutex
	clients map[*client]struct{}
	ic      *client // internal client for server-side subscriptions
	icLocal *client // the same, publishing to this server's subscribers only

	mappings    atomic.Pointer[mappingState]
	exports     []*serviceExport // set at start-up, read-only after
	resp        respRoutes
	closedStats accClosedStats             // traffic of its closed connections, for /accstatz
	trace       accountTrace               // msg_trace, set at start-up (see msgtrace.go)
	routed      routedInterest             // what routes were told (interest.go)
	leafed      leafInterest               // what leaf connections were told (leafnode_interest.go)
	jwtClaims   atomic.Pointer[accountJWT] // operator mode: its claims (jwt_account.go)

	// deliverSubs: push consumers watching their deliver subject's interest
	// (consumer_push_interest.go).
	deliverSubs deliverWatchers
}

// NewAccount returns an empty account.
func NewAccount(name string) *Account {
	return &Account{Name: name, sl: NewSublist(), clients: make(map[*client]struct{})}
}

// NumConnections returns the number of client connections bound to it.
func (a *Account) NumConnections() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.clients)
}

// Sublist returns the account's subject index.
func (a *Account) Sublist() *Sublist { return a.sl }

func (a *Account) addClient(c *client) {
	a.mu.Lock()
	a.clients[c] = struct{}{}
	a.mu.Unlock()
}

func (a *Account) removeClient(c *client) {
	a.mu.Lock()
	delete(a.clients, c)
	a.mu.Unlock()
}

// LookupAccount returns a registered account by name.
func (s *Server) LookupAccount(name string) (*Account, bool) {
	v, ok := s.accounts.Load(name)
	if !ok {
		return nil, false
	}
	return v.(*Account), true
}

// GlobalAccount returns the default account $G.
func (s *Server) GlobalAccount() *Account { return s.gacc }

// registerAccount adds acc, or returns the one already registered by name.
func (s *Server) registerAccount(acc *Account) *Account {
	if s.getOpts().NoSublistCache {
		acc.sl = NewSublistNoCache() // acc is new: nothing to move
	}
	v, _ := s.accounts.LoadOrStore(acc.Name, acc)
	return v.(*Account)
}

// internalClient returns the account's socket-less client, creating it.
func (s *Server) internalClient(acc *Account) *client {
	acc.mu.Lock()
	defer acc.mu.Unlock()
	if acc.ic == nil {
		acc.ic = s.newInternalClient(acc, true)
	}
	return acc.ic
}

// newInternalClient makes a socket-less client in acc. Without echo, its
// own subscriptions do not get what it publishes (a server's request to its
// peers is not answered by itself).
func (s *Server) newInternalClient(acc *Account, echo bool) *client {
	ic := &client{
		cid:     s.gcid.Add(1),
		kind:    SYSTEM,
		srv:     s,
		acc:     acc,
		subs:    make(map[string]*subscription),
		echo:    echo,
		headers: true,
	}
	ic.pa.hdr = -1
	return ic
}

// SubscribeInternal registers a server-side subscription on acc: cb runs on
// the publisher's goroutine for each matching message, with no socket in
// between. The slices and strings passed to cb are only valid during the call.
func (s *Server) SubscribeInternal(acc *Account, subject, queue string, cb func(subject, reply string, hdr, msg []byte)) (func(), error) {
	sub, err := s.subscribeInternal(acc, subject, queue, func(_ *subscription, _ *client, _ *Account, subj, reply string, hdr, msg []byte) {
		cb(subj, reply, hdr, msg)
	}, nil)
	if err != nil {
		return nil, err
	}
	return func() { sub.client.unsubscribeAfterMax(sub) }, nil
}

// subscribeInternal registers an internal subscription with its handler;
// imp marks the subscription that carries an import.
func (s *Server) subscribeInternal(acc *Account, subject, queue string, icb msgHandler, imp *importRoute) (*subscription, error) {
	return s.subscribeInternalAs(s.internalClient(acc), acc, subject, queue, icb, imp)
}

// subscribeInternalAs registers an internal subscription of ic, a client of
// acc (newInternalClient).
func (s *Server) subscribeInternalAs(ic *client, acc *Account, subject, queue string, icb msgHandler, imp *importRoute) (*subscription, error) {
	sub := &subscription{client: ic, subject: subject, queue: queue, icb: icb, imp: imp}
	ic.mu.Lock()
	sub.sid = "i" + itoa(s.gcid.Add(1))
	ic.subs[sub.sid] = sub
	ic.mu.Unlock()
	if err := s.addSubInterest(acc, sub); err != nil {
		ic.mu.Lock()
		delete(ic.subs, sub.sid)
		ic.mu.Unlock()
		return nil, err
	}
	return sub, nil
}

// PublishInternal publishes a message into acc as the server, delivered to
// client and internal subscribers alike. Safe for concurrent use: the
// internal client's fields used on this path are read-only, and its
// receivers are woken at once rather than batched.
// publishLocal is PublishInternal to this server's subscribers only: what
// crosses a stream import reaches other servers in the exporter's account,
// through the import's own routed interest (route_interest.go).
func (s *Server) publishLocal(acc *Account, subject, reply string, hdr, msg []byte) {
	acc.mu.Lock()
	ic := acc.icLocal
	if ic == nil {
		ic = &client{cid: s.gcid.Add(1), kind: SYSTEM, srv: s, acc: acc, subs: make(map[string]*subscription),
			echo: true, headers: true, localOnly: true}
		ic.pa.hdr = -1
		acc.icLocal = ic
	}
	acc.mu.Unlock()
	var rb []byte
	if reply != "" {
		rb = []byte(reply)
	}
	ic.deliverResult(acc.sl.Match(subject), subject, rb, hdr, msg)
}

func (s *Server) PublishInternal(acc *Account, subject, reply string, hdr, msg []byte) {
	s.publishInternalAs(s.internalClient(acc), acc, subject, reply, hdr, msg)
}

// publishInternalAs publishes as ic, a client of acc (newInternalClient).
func (s *Server) publishInternalAs(ic *client, acc *Account, subject, reply string, hdr, msg []byte) {
	r := acc.sl.Match(subject)
	var rb []byte
	if reply != "" {
		rb = []byte(reply)
	}
	ic.deliverResult(r, subject, rb, hdr, msg)
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
