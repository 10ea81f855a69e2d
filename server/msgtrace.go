package server

// Message tracing (ADR-41). A published message whose headers hold
// `Nats-Trace-Dest: <subject>` (or, in an account with msg_trace, a sampled
// W3C `traceparent`) is routed by the traced path below instead of the plain
// one: each step it takes is recorded as an event (ingress, subject mapping,
// service import, stream export, egress to each subscriber) and, once the
// message is routed, one JSON document listing them is published on the
// destination subject in the publisher's account. `Nats-Trace-Only: true`
// records the same events without delivering the message.
//
// A message without headers never reaches this file; one with headers pays
// one scan of its header block for the destination key.

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"
)

// Header names of message tracing.
const (
	MsgTraceDest      = "Nats-Trace-Dest"
	MsgTraceOnly      = "Nats-Trace-Only"
	traceParentHeader = "traceparent"
	// traceDisabledDest replaces the destination of a request crossing a
	// service import whose export does not allow tracing, so that the
	// exporting account neither traces it nor learns where traces go.
	traceDisabledDest = "trace disabled"
)

// Event types.
const (
	MsgTraceIngressType        = "in"
	MsgTraceSubjectMappingType = "sm"
	MsgTraceStreamExportType   = "se"
	MsgTraceServiceImportType  = "si"
	MsgTraceEgressType         = "eg"
)

// Egress errors, in the reference's words.
const (
	errTraceNoEcho     = "Not delivered because of no echo"
	errTraceSubDenied  = "Not delivered because subscription denies this subject"
	maxTraceImportHops = 8 // imports followed before a trace stops following
)

// MsgTraceEvent is the document published on the trace destination.
type MsgTraceEvent struct {
	Server  ServerInfo      `json:"server"`
	Request MsgTraceRequest `json:"request"`
	Hops    int             `json:"hops,omitempty"` // remote servers forwarded to
	Events  []any           `json:"events"`
}

// MsgTraceRequest describes the traced message.
type MsgTraceRequest struct {
	Header  map[string][]string `json:"header,omitempty"`
	MsgSize int                 `json:"msgsize,omitempty"`
}

// MsgTraceIngress is how the message entered the server.
type MsgTraceIngress struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"ts"`
	Kind      int       `json:"kind"`
	CID       uint64    `json:"cid"`
	Name      string    `json:"name,omitempty"`
	Account   string    `json:"acc"`
	Subject   string    `json:"subj"`
	Error     string    `json:"error,omitempty"`
}

// MsgTraceSubjectMapping is a mapping that changed the subject.
type MsgTraceSubjectMapping struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"ts"`
	MappedTo  string    `json:"to"`
}

// MsgTraceStreamExport is a stream import carrying the message into Account.
type MsgTraceStreamExport struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"ts"`
	Account   string    `json:"acc"`
	To        string    `json:"to"`
}

// MsgTraceServiceImport is a service import carrying the message into Account.
type MsgTraceServiceImport struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"ts"`
	Account   string    `json:"acc"`
	From      string    `json:"from"`
	To        string    `json:"to"`
}

// MsgTraceEgress is a delivery to one subscription, or why it did not happen.
type MsgTraceEgress struct {
	Type         string    `json:"type"`
	Timestamp    time.Time `json:"ts"`
	Kind         int       `json:"kind"`
	CID          uint64    `json:"cid"`
	Name         string    `json:"name,omitempty"`
	Hop          string    `json:"hop,omitempty"` // routes, gateways and leafnodes only
	Account      string    `json:"acc,omitempty"`
	Subscription string    `json:"sub,omitempty"`
	Queue        string    `json:"queue,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// accountTrace is an account's msg_trace: where the traces of messages with
// a sampled traceparent go, and which percentage of them is traced.
type accountTrace struct {
	dest     string
	sampling int
}

// msgTrace is one message being traced; it lives for one processMsg call.
type msgTrace struct {
	srv        *Server
	acc        *Account // the publisher's: the trace is published there
	dest       string
	fromHeader bool // Nats-Trace-Dest, rather than traceparent, asked for it
	only       bool // Nats-Trace-Only: record, do not deliver
	encoding   string
	event      MsgTraceEvent
}

var traceDestKey = []byte("\n" + MsgTraceDest + ":")

// traceMsg routes an HPUB that asks for a trace and reports whether it did;
// false leaves the message to the plain path.
func (c *client) traceMsg(hdr, payload []byte) bool {
	acc := c.acc
	if acc == nil {
		return false
	}
	hasDest := bytes.Contains(hdr, traceDestKey)
	if !hasDest && acc.trace.dest == "" {
		return false
	}
	t := newMsgTrace(c.srv, acc, hdr, hasDest)
	if t == nil {
		return false
	}
	if c.verbose {
		c.sendOK()
	}
	if t.fromHeader && !c.canPublish(t.dest) {
		c.pubViolation(t.dest)
		return true
	}
	t.event.Request = MsgTraceRequest{Header: parseHeaders(hdr), MsgSize: len(hdr) + len(payload)}
	subject := bytesToString(c.pa.subject)
	in := &MsgTraceIngress{Type: MsgTraceIngressType, Timestamp: traceNow(), Kind: c.kind, CID: c.cid,
		Name: c.connName(), Account: acc.Name, Subject: strings.Clone(subject)}
	t.add(in)
	if !c.canPublish(subject) {
		in.Error = "Permissions Violation for Publish to \"" + subject + "\""
		c.pubViolation(subject)
		t.send()
		return true
	}
	mapped := acc.mapSubject(&c.mbuf, subject)
	if mapped != subject {
		t.add(&MsgTraceSubjectMapping{Type: MsgTraceSubjectMappingType, Timestamp: traceNow(), MappedTo: strings.Clone(mapped)})
	}
	found := t.deliver(c, acc, mapped, c.pa.reply, hdr, payload, 0)
	if !found && len(c.pa.reply) > 0 && c.noResponders {
		c.sendNoResponders(mapped, c.pa.reply)
	}
	t.send()
	return true
}

// newMsgTrace returns the trace hdr asks for in acc, nil for none: a
// Nats-Trace-Dest header naming a valid subject, or else a sampled
// traceparent in an account with msg_trace. A Nats-Trace-Dest that is not a
// valid subject disables tracing, as "trace disabled" must. hasDest says
// whether the destination key appears in hdr at all.
func newMsgTrace(s *Server, acc *Account, hdr []byte, hasDest bool) *msgTrace {
	if hasDest {
		if dest, ok := headerValue(hdr, MsgTraceDest); ok {
			return newHeaderTrace(s, acc, hdr, dest)
		}
	}
	if acc.trace.dest == "" || !traceParentSampled(hdr) {
		return nil
	}
	if acc.trace.sampling < 100 && rand.IntN(100) >= acc.trace.sampling {
		return nil
	}
	return &msgTrace{srv: s, acc: acc, dest: acc.trace.dest, encoding: acceptedEncoding(hdr)}
}

// newHeaderTrace is the trace a Nats-Trace-Dest header asks for.
func newHeaderTrace(s *Server, acc *Account, hdr []byte, dest string) *msgTrace {
	if !IsValidLiteralSubject(dest) {
		return nil
	}
	t := &msgTrace{srv: s, acc: acc, dest: strings.Clone(dest), fromHeader: true, encoding: acceptedEncoding(hdr)}
	if only, ok := headerValue(hdr, MsgTraceOnly); ok {
		t.only = only == "1" || strings.EqualFold(only, "true") || strings.EqualFold(only, "on")
	}
	return t
}

// connName is the name the client gave in CONNECT.
func (c *client) connName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opts.Name
}

func hasSubscribers(r *SublistResult) bool { return len(r.psubs) > 0 || len(r.qsubs) > 0 }

func traceNow() time.Time { return time.Now().UTC() }

func (t *msgTrace) add(e any) { t.event.Events = append(t.event.Events, e) }

// deliver routes the message in acc as deliverResult does, recording an
// egress per subscription reached; pub is the publishing connection, or the
// account's internal client past an import.
func (t *msgTrace) deliver(pub *client, acc *Account, subject string, reply, hdr, payload []byte, depth int) bool {
	r := acc.sl.Match(subject)
	found := false
	for _, sub := range r.psubs {
		if t.deliverSub(pub, acc, sub, subject, reply, hdr, payload, depth) {
			found = true
		}
	}
	for _, qs := range r.qsubs {
		n := len(qs)
		if n == 0 {
			continue
		}
		start := rand.IntN(n)
		for i := 0; i < n; i++ {
			if t.deliverSub(pub, acc, qs[(start+i)%n], subject, reply, hdr, payload, depth) {
				found = true
				break
			}
		}
	}
	return found
}

// deliverSub delivers to one subscription, or follows the import it
// carries, and records what happened.
func (t *msgTrace) deliverSub(pub *client, acc *Account, sub *subscription, subject string, reply, hdr, payload []byte, depth int) bool {
	if sub.closed.Load() {
		return false
	}
	if sub.imp != nil {
		return t.crossImport(sub.imp, subject, reply, hdr, payload, depth)
	}
	if sub.icb != nil {
		// The server's own handlers (system requests) are no egress for
		// the reference: it records none.
		return !t.only && pub.deliver(sub, subject, reply, hdr, payload)
	}
	rc := sub.client
	if rc == pub && !pub.echo {
		t.egress(rc, acc, sub, errTraceNoEcho)
		return false
	}
	if subjectHasWildcard(sub.subject) && rc.subDenies(subject) {
		t.egress(rc, acc, sub, errTraceSubDenied)
		return false
	}
	if !t.only && !pub.deliver(sub, subject, reply, hdr, payload) {
		return false
	}
	t.egress(rc, acc, sub, "")
	return true
}

// subDenies reports whether the receiver's subscribe permissions deny subject.
func (c *client) subDenies(subject string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.perms != nil && c.deliveryDenied(subject)
}

func (t *msgTrace) egress(rc *client, acc *Account, sub *subscription, errText string) {
	eg := &MsgTraceEgress{Type: MsgTraceEgressType, Timestamp: traceNow(), Kind: rc.kind, CID: rc.cid,
		Name: rc.connName(), Subscription: sub.subject, Queue: sub.queue, Error: errText}
	if acc != t.acc {
		eg.Account = acc.Name
	}
	t.add(eg)
}

// crossImport records the message crossing an import and, if the import
// allows tracing, keeps tracing it in the destination account; otherwise the
// message goes on untraced (a request with its destination disabled), or
// nowhere when only tracing.
func (t *msgTrace) crossImport(ir *importRoute, subject string, reply, hdr, payload []byte, depth int) bool {
	if ir.response {
		return t.crossResponse(ir.exporter, subject, hdr, payload)
	}
	dst := ir.destination()
	target := ir.target(subject)
	if !ir.service && !hasSubscribers(dst.sl.Match(target)) {
		// The reference carries a stream only while the importer has
		// interest in it, so without any it records no crossing.
		return false
	}
	// target may view the read buffer; the event keeps its own copy.
	to := strings.Clone(target)
	if ir.service {
		t.add(&MsgTraceServiceImport{Type: MsgTraceServiceImportType, Timestamp: traceNow(), Account: dst.Name,
			From: strings.Clone(subject), To: to})
	} else {
		t.add(&MsgTraceStreamExport{Type: MsgTraceStreamExportType, Timestamp: traceNow(), Account: dst.Name, To: to})
	}
	if !ir.allowTrace || depth >= maxTraceImportHops {
		if t.only {
			return false
		}
		if ir.service && t.fromHeader {
			hdr = setHeader(hdr, MsgTraceDest, traceDisabledDest)
		}
		ir.forward(t.srv, subject, bytesToString(reply), hdr, payload)
		return true
	}
	if ir.service && !t.only {
		if len(reply) > 0 {
			reply = []byte(ir.exporter.addResponseRoute(t.srv, ir.importer, string(reply), ir.export))
		}
		if _, ok := headerValue(hdr, MsgTraceDest); ok {
			hdr = setHeader(hdr, MsgTraceDest, deadResponseSubject(t.srv, ir))
		}
	}
	return t.deliver(t.srv.internalClient(dst), dst, target, reply, hdr, payload, depth+1)
}

// deadResponseSubject is the trace destination the exporter sees past an
// import that allows tracing. The reference gives a subject in the
// exporter's response space that leads nowhere (publishing to it reaches no
// one), so that the exporter learns nothing of the importer's destination:
// a route name whose route is dropped at once does the same.
func deadResponseSubject(s *Server, ir *importRoute) string {
	subj := ir.exporter.addResponseRoute(s, ir.importer, "", ir.export)
	rr := &ir.exporter.resp
	rr.mu.Lock()
	if route := rr.routes[subj]; route != nil {
		rr.removeLocked(route)
	}
	rr.mu.Unlock()
	return subj
}

// crossResponse records a response going back to the requesting account
// through a route of from, as a service import that never allows tracing.
func (t *msgTrace) crossResponse(from *Account, subject string, hdr, payload []byte) bool {
	from.resp.mu.Lock()
	route := from.resp.routes[subject]
	from.resp.mu.Unlock()
	if route == nil || time.Now().UnixNano() > route.expires {
		return false
	}
	t.add(&MsgTraceServiceImport{Type: MsgTraceServiceImportType, Timestamp: traceNow(), Account: route.to.Name,
		From: strings.Clone(subject), To: route.reply})
	if t.only {
		return false
	}
	if t.fromHeader {
		hdr = setHeader(hdr, MsgTraceDest, traceDisabledDest)
	}
	from.forwardResponse(t.srv, subject, hdr, payload)
	return true
}

// send publishes the trace document on the destination, compressed if the
// message asked for it with Accept-Encoding.
func (t *msgTrace) send() {
	s := t.srv
	if s.sys != nil {
		t.event.Server = s.serverInfo()
	} else {
		o := s.getOpts()
		t.event.Server = ServerInfo{Name: s.info.Name, Host: o.Host, ID: s.info.ID, Version: VERSION,
			Tags: o.ServerTags, FeatureFlags: defaultFeatureFlags(), Time: traceNow()}
	}
	body, err := json.Marshal(&t.event)
	if err != nil {
		s.Errorf("Message trace to %q: %v", t.dest, err)
		return
	}
	hdr, body := encodeReply(t.encoding, body)
	s.PublishInternal(t.acc, t.dest, "", hdr, body)
}

// traceParentSampled reports whether hdr has a W3C traceparent
// (version-traceid-parentid-flags, key in any case) whose flags, two hex
// digits, have the sampled bit.
func traceParentSampled(hdr []byte) bool {
	v, ok := headerValueFold(hdr, traceParentHeader)
	if !ok {
		return false
	}
	if strings.Count(v, "-") != 3 {
		return false
	}
	flags := v[strings.LastIndexByte(v, '-')+1:]
	if len(flags) != 2 {
		return false
	}
	lo, ok := hexDigit(flags[1])
	if _, hiOK := hexDigit(flags[0]); !ok || !hiOK {
		return false
	}
	return lo&1 == 1
}

func hexDigit(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
