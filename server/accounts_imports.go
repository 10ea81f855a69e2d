package server

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// accountMapping is a compiled subject mapping with weighted destinations.
type accountMapping struct {
	src   string
	dests []weightedTransform
}

type weightedTransform struct {
	tr     *subjectTransform
	weight int // percent
}

// mappingState is an account's mappings, swapped whole on reload.
type mappingState struct {
	list []*accountMapping
}

// setMappings compiles and installs mappings; nil clears them.
func (a *Account) setMappings(opts []*MappingOpts) error {
	var ms mappingState
	for _, mo := range opts {
		am := &accountMapping{src: mo.Source}
		for _, d := range mo.Dests {
			tr, err := newSubjectTransform(mo.Source, d.Subject)
			if err != nil {
				return err
			}
			am.dests = append(am.dests, weightedTransform{tr: tr, weight: d.Weight})
		}
		ms.list = append(ms.list, am)
	}
	if len(ms.list) == 0 {
		a.mappings.Store(nil)
		return nil
	}
	a.mappings.Store(&ms)
	return nil
}

// mapSubject applies the first matching mapping to subject, writing the
// result into buf; it returns the subject to route on.
func (a *Account) mapSubject(buf *[]byte, subject string) string {
	ms := a.mappings.Load()
	if ms == nil {
		return subject
	}
	for _, m := range ms.list {
		if !SubjectMatchesFilter(subject, m.src) {
			continue
		}
		tr := m.pick()
		if tr == nil {
			return subject // the unweighted remainder keeps its subject
		}
		*buf = tr.apply((*buf)[:0], subject)
		return bytesToString(*buf)
	}
	return subject
}

// pick chooses a destination by weight; nil for the remainder below 100%.
func (m *accountMapping) pick() *subjectTransform {
	if len(m.dests) == 1 && m.dests[0].weight >= 100 {
		return m.dests[0].tr
	}
	r := mrand.IntN(100)
	for _, d := range m.dests {
		if r < d.weight {
			return d.tr
		}
		r -= d.weight
	}
	return nil
}

// serviceExport is what an account offers, compiled.
type serviceExport struct {
	subject    string
	stream     bool
	accounts   map[string]bool // nil: public
	respType   string
	threshold  time.Duration
	allowTrace bool // traced requests stay traced in the exporting account
}

func (e *serviceExport) allows(acc string) bool {
	return e.accounts == nil || e.accounts[acc]
}

// responseRoute sends a service's responses back to the requesting account.
type responseRoute struct {
	to        *Account
	reply     string
	subject   string // its key in respRoutes.routes
	singleton bool
	expires   int64 // unix nanos; fixed at creation
	slot      int   // position in respRoutes.expiry
}

// respRoutes are the open response routes of an exporting account. Routes
// are kept twice: by subject, for responses, and in a heap by expiry, so
// that dropping the expired ones costs O(log n) each, however many requests
// are still waiting (see responses_expiry.go).
type respRoutes struct {
	mu     sync.Mutex
	routes map[string]*responseRoute
	expiry routeHeap
	prefix string // "_R_.<random>." unique to this account
	once   sync.Once
}

// configureAccounts builds the accounts of the options: mappings, exports,
// and the imports with the internal subscriptions that carry them. Import
// mistakes are reported here, at start-up, with clear errors.
func (s *Server) configureAccounts(o *Options) error {
	if err := s.gacc.setMappings(o.Mappings); err != nil {
		return err
	}
	for _, ao := range o.Accounts {
		if ao.Name == DEFAULT_GLOBAL_ACCOUNT {
			continue
		}
		acc := s.registerAccount(NewAccount(ao.Name))
		if err := acc.setMappings(ao.Mappings); err != nil {
			return fmt.Errorf("account %q: %v", ao.Name, err)
		}
	}
	for _, ao := range o.Accounts {
		acc, _ := s.LookupAccount(ao.Name)
		if ao.Name == DEFAULT_GLOBAL_ACCOUNT {
			acc = s.gacc
		}
		acc.setConfigExports(ao)
	}
	for _, u := range o.Users {
		if u.Account != "" {
			if _, ok := s.LookupAccount(u.Account); !ok {
				return fmt.Errorf("user %q: unknown account %q", u.Username, u.Account)
			}
		}
	}
	if err := checkImportCycles(o); err != nil {
		return err
	}
	for _, ao := range o.Accounts {
		acc, _ := s.LookupAccount(ao.Name)
		for _, im := range ao.Imports {
			if err := s.addImport(acc, im); err != nil {
				return fmt.Errorf("%s: account %q: %v", im.pos, ao.Name, err)
			}
		}
	}
	return nil
}

// setConfigExports gives a config-file account its tracing and exports.
// Only before anyone reads them: at start-up, or for an account a reload
// adds.
func (acc *Account) setConfigExports(ao *AccountOpts) {
	acc.trace = accountTrace{dest: ao.TraceDest, sampling: ao.TraceSampling}
	for _, ex := range ao.Exports {
		se := &serviceExport{subject: ex.Stream + ex.Service, stream: ex.Stream != "",
			respType: ex.ResponseType, threshold: ex.ResponseThreshold, allowTrace: ex.AllowTrace}
		if len(ex.Accounts) > 0 {
			se.accounts = map[string]bool{}
			for _, n := range ex.Accounts {
				se.accounts[n] = true
			}
		}
		if se.respType == "" || se.respType == "single" {
			se.respType = "singleton"
		}
		if se.threshold == 0 {
			se.threshold = DEFAULT_RESPONSE_THRESHOLD
		}
		acc.exports = append(acc.exports, se)
	}
}

// findExport returns the export of from that covers subject for acc.
func (from *Account) findExport(subject string, stream bool, acc string) (*serviceExport, error) {
	found := false
	for _, e := range from.exports {
		if e.stream != stream || !subjectIsSubsetOf(subject, e.subject) {
			continue
		}
		found = true
		if e.allows(acc) {
			return e, nil
		}
	}
	kind := "service"
	if stream {
		kind = "stream"
	}
	if found {
		return nil, fmt.Errorf("%s import of %q not authorized: account %q is not among the accounts the export allows", kind, subject, acc)
	}
	return nil, fmt.Errorf("%s import of %q: account %q does not export it", kind, subject, from.Name)
}

// subjectIsSubsetOf reports whether every subject matching sub also
// matches of.
func subjectIsSubsetOf(sub, of string) bool {
	st, ot := strings.Split(sub, "."), strings.Split(of, ".")
	for i, o := range ot {
		if o == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		switch {
		case o == "*":
			if st[i] == ">" {
				return false
			}
		case o != st[i]:
			return false
		}
	}
	return len(st) == len(ot)
}

// addImport wires one import with internal subscriptions.
func (s *Server) addImport(acc *Account, im *ImportOpts) error {
	from, ok := s.LookupAccount(im.Account)
	if !ok {
		return fmt.Errorf("%s: unknown account %q", im.describe(), im.Account)
	}
	if im.Stream != "" {
		if _, err := from.findExport(im.Stream, true, acc.Name); err != nil {
			return err
		}
		return s.addStreamImport(acc, from, im)
	}
	se, err := from.findExport(im.Service, false, acc.Name)
	if err != nil {
		return err
	}
	return s.addServiceImport(acc, from, im, se)
}

// importRoute is one compiled import. The internal subscription carrying it
// points here, so that a traced message can follow the import (msgtrace.go).
type importRoute struct {
	importer, exporter *Account
	service            bool
	// transform rewrites the subject for the destination account: a stream
	// import's 'to', or a service import's local subject back to the export.
	transform  *subjectTransform
	prefix     string         // stream imports: local prefix
	export     *serviceExport // service imports: response type and threshold
	allowTrace bool           // traced messages stay traced past the boundary
	response   bool           // the exporter's response routes back to requesters
}

// destination is the account the import delivers into.
func (ir *importRoute) destination() *Account {
	if ir.service {
		return ir.exporter
	}
	return ir.importer
}

// target returns the subject in the destination account. A request also
// takes the exporter's mappings, as with the reference; a stream does not
// take the importer's.
func (ir *importRoute) target(subject string) string {
	switch {
	case ir.transform != nil:
		subject = string(ir.transform.apply(nil, subject))
	case ir.prefix != "":
		subject = ir.prefix + "." + subject
	}
	if ir.service && ir.exporter.mappings.Load() != nil {
		var buf []byte
		subject = ir.exporter.mapSubject(&buf, subject) // buf is ours alone: no copy needed
	}
	return subject
}

// forward delivers one message across the import, opening a response
// route for a request to a service.
func (ir *importRoute) forward(s *Server, subject, reply string, hdr, msg []byte) {
	target := ir.target(subject)
	if !ir.service {
		s.publishLocal(ir.importer, target, reply, hdr, msg)
		return
	}
	newReply := ""
	if reply != "" {
		newReply = ir.exporter.addResponseRoute(s, ir.importer, reply, ir.export)
	}
	s.PublishInternal(ir.exporter, target, newReply, hdr, msg)
}

// forwardPush carries a push consumer's delivery across a stream import
// as the reference does: routed in the importer on the imported deliver
// subject, shown with the stream's subject (a KV watcher in the importing
// account reads its keys from it).
func (ir *importRoute) forwardPush(s *Server, deliverSubject, shown, reply string, hdr, msg []byte) {
	ic := s.internalClient(ir.importer)
	r := ir.importer.sl.Match(ir.target(deliverSubject))
	var rb []byte
	if reply != "" {
		rb = []byte(reply)
	}
	ic.deliverResult(r, shown, rb, hdr, msg)
}

// subscribeImport registers the internal subscription carrying ir, in the
// account where the messages to carry are published.
func (s *Server) subscribeImport(ir *importRoute, subject string) error {
	in := ir.exporter
	if ir.service {
		in = ir.importer
	}
	_, err := s.subscribeInternal(in, subject, "", func(_ *subscription, pub *client, _ *Account, subj, reply string, hdr, msg []byte) {
		if pub != nil && pub.pushSubject != "" && !ir.service {
			ir.forwardPush(s, pub.pushSubject, subj, reply, hdr, msg)
			return
		}
		if ir.service && pub != nil && pub.kind == CLIENT {
			hdr = requestInfoHeader(pub, ir.importer, hdr)
		}
		ir.forward(s, subj, reply, hdr, msg)
	}, ir)
	if err == nil && !ir.service {
		ir.importer.deliverSubs.addImport(ir, subject)
	}
	return err
}

// requestInfoHeader is a client's request header with the line the
// reference adds when a request crosses a service import (observed on
// v2.15.2): Nats-Request-Info: {"acc":"<requesting account>","rtt":<the
// client's round trip in ns>}, after the request's own headers.
func requestInfoHeader(pub *client, importer *Account, hdr []byte) []byte {
	pub.mu.Lock()
	rtt := pub.lastRTT
	pub.mu.Unlock()
	v := `{"acc":` + strconv.Quote(importer.Name) + `,"rtt":` + strconv.FormatInt(int64(rtt), 10) + `}`
	return appendHeaderTo(make([]byte, 0, len(hdr)+len(v)+48), hdr, "Nats-Request-Info", v)
}

// addStreamImport subscribes in the exporter and republishes into the
// importer, under a prefix or a mapped subject.
func (s *Server) addStreamImport(acc, from *Account, im *ImportOpts) error {
	ir := &importRoute{importer: acc, exporter: from, prefix: im.Prefix, allowTrace: im.AllowTrace}
	if im.To != "" {
		var err error
		if ir.transform, err = newSubjectTransform(im.Stream, im.To); err != nil {
			return err
		}
	}
	return s.subscribeImport(ir, im.Stream)
}

// addServiceImport subscribes in the importer on the local subject and
// forwards requests into the exporter, routing the responses back.
func (s *Server) addServiceImport(acc, from *Account, im *ImportOpts, se *serviceExport) error {
	local := im.Service
	if im.To != "" {
		local = im.To
	}
	ir := &importRoute{importer: acc, exporter: from, service: true, export: se, allowTrace: se.allowTrace}
	if local != im.Service {
		var err error
		if ir.transform, err = newSubjectTransform(local, im.Service); err != nil {
			return fmt.Errorf("service import 'to' %q does not fit %q: %v", local, im.Service, err)
		}
	}
	return s.subscribeImport(ir, local)
}

// addResponseRoute returns a fresh reply subject in the exporting account
// that forwards to reply in the requesting account.
func (from *Account) addResponseRoute(s *Server, to *Account, reply string, se *serviceExport) string {
	rr := &from.resp
	rr.once.Do(func() {
		rr.routes = make(map[string]*responseRoute)
		rr.prefix = "_R_." + randToken(6) + "."
		_, _ = s.subscribeInternal(from, rr.prefix+">", "", func(_ *subscription, pub *client, _ *Account, subject, reply string, hdr, msg []byte) {
			if pub != nil && pub.pushSubject != "" {
				// A consumer's delivery to a pull request's reply: it goes
				// on with the stream's subject and its ack reply.
				from.forwardDelivery(s, pub.pushSubject, subject, reply, hdr, msg)
				return
			}
			from.forwardResponse(s, subject, hdr, msg)
		}, &importRoute{exporter: from, response: true})
	})
	now := time.Now().UnixNano()
	// reply views the requester's read buffer: keep a copy.
	route := &responseRoute{to: to, reply: strings.Clone(reply), subject: rr.prefix + randToken(10),
		singleton: se.respType == "singleton", expires: now + int64(se.threshold)}
	rr.mu.Lock()
	rr.expireLocked(now)
	rr.addLocked(route)
	rr.mu.Unlock()
	return route.subject
}

// forwardResponse sends a response back across the import, unless its
// route is unknown or expired.
func (from *Account) forwardResponse(s *Server, subject string, hdr, msg []byte) {
	if route := from.resp.take(subject); route != nil {
		s.PublishInternal(route.to, route.reply, "", hdr, msg)
	}
}

// forwardDelivery sends a consumer's message, addressed to the response
// route subject, back across the import: routed on the requester's reply,
// shown with the stream's subject and keeping its ack reply, as the
// reference does.
func (from *Account) forwardDelivery(s *Server, subject, shown, reply string, hdr, msg []byte) {
	route := from.resp.take(subject)
	if route == nil {
		return
	}
	ic := s.internalClient(route.to)
	var rb []byte
	if reply != "" {
		rb = []byte(reply)
	}
	ic.deliverResult(route.to.sl.Match(route.reply), shown, rb, hdr, msg)
}

// take returns the live route of subject (nil for none), removing a
// singleton's.
func (rr *respRoutes) take(subject string) *responseRoute {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.expireLocked(time.Now().UnixNano())
	route := rr.routes[subject]
	if route != nil && route.singleton {
		rr.removeLocked(route)
	}
	return route
}

var tokenEncoding = base32.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").WithPadding(base32.NoPadding)

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return tokenEncoding.EncodeToString(b)
}

// checkImportCycles refuses stream imports that would send messages round
// in a loop between accounts.
func checkImportCycles(o *Options) error {
	imports := map[string][]*ImportOpts{}
	for _, a := range o.Accounts {
		for _, im := range a.Imports {
			if im.Stream != "" {
				imports[a.Name] = append(imports[a.Name], im)
			}
		}
	}
	// Messages flow from im.Account into the importer. Following the flow
	// backwards from an account, reaching it again with a colliding subject
	// is a cycle.
	var visit func(start, cur, subject string, depth int) error
	visit = func(start, cur, subject string, depth int) error {
		if depth > len(o.Accounts) {
			return nil
		}
		for _, im := range imports[cur] {
			if !subjectsCollide(subject, im.Stream) {
				continue
			}
			if im.Account == start {
				return fmt.Errorf("%s: stream import of %q from account %q forms a cycle", im.pos, im.Stream, im.Account)
			}
			if err := visit(start, im.Account, im.Stream, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range o.Accounts {
		for _, im := range imports[a.Name] {
			if im.Account == a.Name {
				return fmt.Errorf("%s: account %q can not import from itself", im.pos, a.Name)
			}
			if err := visit(a.Name, im.Account, im.Stream, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
