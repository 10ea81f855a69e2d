package server

import (
	"encoding/json"
	"errors"
	"strings"
)

// A request to the system account is answered by a handler looked up by its
// kind, the last token of the subject. Handlers run on the requester's
// reading goroutine with no lock held (they are internal subscription
// callbacks), except the slow ones, which get their own goroutine.

// sysRequest is one request to the server's monitoring handlers.
type sysRequest struct {
	body     []byte  // JSON options, possibly empty
	acc      string  // the account the request is about: named by the subject, or the importer
	client   *client // the requester, for handlers that answer about it; nil when not shared
	encoding string  // compression of the answer the requester accepts, "" for none
}

// sysRequestHandler answers one kind of request with the data of the
// {server, data} envelope, or an error.
type sysRequestHandler func(s *Server, r *sysRequest) (any, error)

// errNoReply makes a handler stay silent, as the reference does for account
// statistics of accounts without connections: requesters gather answers
// from every server of a cluster until a timeout, so silence means "none".
var errNoReply = errors.New("no reply")

// requestError is a request whose options could not be decoded: code 400.
// Every other handler error is answered with code 500, as the reference does.
type requestError struct{ error }

// rawReply is a handler result sent as is, without the {server, data} envelope.
type rawReply struct{ v any }

// sysServerRequests are answered under $SYS.REQ.SERVER.PING.<kind> and
// $SYS.REQ.SERVER.<id>.<kind>; sysDirectRequests, which act on one server,
// under the second only; sysAccountRequests under $SYS.REQ.ACCOUNT.<acc>.<kind>.
// Each kind is its own subscription, so that an unknown kind gets
// no-responders at once instead of a timeout.
var (
	sysServerRequests  = map[string]sysRequestHandler{}
	sysDirectRequests  = map[string]sysRequestHandler{}
	sysAccountRequests = map[string]sysRequestHandler{}
)

// sysSlowRequests may block (a CPU profile) or change the server under the
// requester (a reload): they run on their own goroutine.
var sysSlowRequests = map[string]bool{"RELOAD": true, "PROFILEZ": true}

// sysPlainReplies are never compressed, whatever the requester accepts; nor
// are raw answers (STATSZ, IDZ, CONNS, DEBUG.SUBSCRIBERS). So the reference does.
var sysPlainReplies = map[string]bool{"KICK": true, "USERINFO": true}

// sysUnfiltered kinds are answered whatever server filter the request carries.
var sysUnfiltered = map[string]bool{"IDZ": true, "USERINFO": true, "SUBSCRIBERS": true, "KICK": true, "RELOAD": true}

const (
	sysReqServerPrefix  = "$SYS.REQ.SERVER."
	sysReqAccountPrefix = "$SYS.REQ.ACCOUNT."
	accountPingStatz    = "$SYS.REQ.ACCOUNT.PING.STATZ"
	userInfoByAccount   = "$SYS.REQ.USER.*.INFO"
	debugSubscribers    = "$SYS.DEBUG.SUBSCRIBERS"
)

// addSystemHandlers subscribes the system account to the requests the
// server answers.
func (s *Server) addSystemHandlers() {
	sys := s.sys.acc
	none := func(string) string { return "" }
	s.serveSysSubject(sys, serverPingReqSubj, "STATSZ", sysServerRequests["STATSZ"], none, false)
	for kind, h := range sysServerRequests {
		s.serveSysSubject(sys, serverPingReqSubj+"."+kind, kind, h, none, false)
		s.serveSysSubject(sys, sysReqServerPrefix+s.info.ID+"."+kind, kind, h, none, false)
	}
	for kind, h := range sysDirectRequests {
		s.serveSysSubject(sys, sysReqServerPrefix+s.info.ID+"."+kind, kind, h, none, false)
	}
	for kind, h := range sysAccountRequests {
		s.serveSysSubject(sys, sysReqAccountPrefix+"*."+kind, kind, h, subjectToken(3), false)
	}
	s.serveSysSubject(sys, accountPingStatz, "STATZ", sysStatz, none, false)
	s.serveSysSubject(sys, userInfoByAccount, "USERINFO", sysUserInfo, subjectToken(3), false)
	s.serveSysSubject(sys, debugSubscribers, "SUBSCRIBERS", sysDebugSubscribers, func(string) string { return sys.Name }, false)
	s.addSystemImports(sys)
}

// subjectToken returns a function picking the i-th token of a subject.
func subjectToken(i int) func(string) string {
	return func(subject string) string {
		for n := i; n > 0; n-- {
			dot := strings.IndexByte(subject, '.')
			if dot < 0 {
				return ""
			}
			subject = subject[dot+1:]
		}
		if dot := strings.IndexByte(subject, '.'); dot >= 0 {
			return subject[:dot]
		}
		return subject
	}
}

// serveSysSubject answers requests published on subject in acc with h. accOf
// names the account a request is about from its subject; with share, the
// handler learns which client sent the request. Answers go back into acc.
func (s *Server) serveSysSubject(acc *Account, subject, kind string, h sysRequestHandler, accOf func(string) string, share bool) {
	ic := s.internalClient(acc)
	sub := &subscription{client: ic, subject: subject,
		icb: func(_ *subscription, c *client, _ *Account, subj, reply string, hdr, msg []byte) {
			r := &sysRequest{body: msg, acc: accOf(subj)}
			if share {
				r.client = c
			}
			if len(hdr) > 0 && !sysPlainReplies[kind] {
				r.encoding = acceptedEncoding(hdr)
			}
			s.answerSysRequest(acc, reply, kind, h, r)
		}}
	ic.mu.Lock()
	sub.sid = "i" + itoa(s.gcid.Add(1))
	ic.subs[sub.sid] = sub
	ic.mu.Unlock()
	_ = s.addSubInterest(acc, sub)
}

// answerSysRequest runs a handler and replies into acc with the
// reference's {server, data} or {server, error} envelope.
func (s *Server) answerSysRequest(acc *Account, reply, kind string, h sysRequestHandler, r *sysRequest) {
	_, acts := sysDirectRequests[kind]
	if reply == "" && !acts {
		return
	}
	if !sysUnfiltered[kind] && !s.matchesFilter(r.body) {
		return // asked of other servers only
	}
	if sysSlowRequests[kind] {
		// The body, the account token and the reply view the publisher's
		// read buffer.
		r.body, r.acc, reply = append([]byte(nil), r.body...), strings.Clone(r.acc), strings.Clone(reply)
		go func() {
			mu := s.sys.slow[kind]
			mu.Lock()
			data, err := h(s, r)
			mu.Unlock()
			s.sendAPIResponse(acc, reply, r.encoding, data, err)
		}()
		return
	}
	data, err := h(s, r)
	s.sendAPIResponse(acc, reply, r.encoding, data, err)
}

func (s *Server) sendAPIResponse(acc *Account, reply, encoding string, data any, err error) {
	if reply == "" || errors.Is(err, errNoReply) {
		return
	}
	if raw, ok := data.(rawReply); ok && err == nil {
		s.sendReply(acc, reply, "", raw.v)
		return
	}
	// A handler that failed may still return a typed nil, which the
	// reference shows as "data": null; an untyped nil leaves data out.
	resp := &ServerAPIResponse{Server: ptr(s.serverInfo()), Data: data}
	if err != nil {
		code := 500
		var re requestError
		if errors.As(err, &re) {
			code = 400
		}
		resp.Error = &APIError{Code: code, Description: err.Error()}
	}
	s.sendReply(acc, reply, encoding, resp)
}

func ptr[T any](v T) *T { return &v }

// sendReply publishes a JSON answer into acc, compressed if encoding says so.
func (s *Server) sendReply(acc *Account, reply, encoding string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	hdr, b := encodeReply(encoding, b)
	s.PublishInternal(acc, reply, "", hdr, b)
}

// eventFilter picks the servers that answer a request sent to all of them
// (the nats CLI's --name, --host, --cluster, --tags options).
type eventFilter struct {
	Name    string   `json:"server_name"`
	Host    string   `json:"host"`
	Cluster string   `json:"cluster"`
	Domain  string   `json:"domain"`
	Tags    []string `json:"tags"`
}

// matchesFilter reports whether this server is among those a request's
// filter names: names, hosts and clusters by substring, every tag present.
func (s *Server) matchesFilter(body []byte) bool {
	if len(body) == 0 || body[0] != '{' {
		return true
	}
	var f eventFilter
	if json.Unmarshal(body, &f) != nil {
		return true // the handler reports the bad request
	}
	o := s.getOpts()
	if !strings.Contains(s.info.Name, f.Name) || !strings.Contains(o.Host, f.Host) ||
		f.Cluster != "" || f.Domain != "" {
		return false
	}
	for _, want := range f.Tags {
		found := false
		for _, tag := range o.ServerTags {
			found = found || strings.EqualFold(tag, want)
		}
		if !found {
			return false
		}
	}
	return true
}

// decodeRequest reads a request's JSON options; none is fine.
func decodeRequest(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return requestError{err}
	}
	return nil
}
