package server

import (
	"reflect"
	"strings"
	"time"
)

// Consumer API: CONSUMER.CREATE (legacy, named, filtered), DURABLE.CREATE,
// INFO, DELETE, NAMES and LIST. MSG.NEXT never reaches a worker: the
// publisher's goroutine hands it to the consumer (consumer_pull.go).

// Catalogue identifiers the consumer API raises.
const (
	jscNotFound    = "JSConsumerNotFoundErr"
	jscStoreFailed = "JSConsumerStoreFailedErrF"
)

// JSApiConsumerCreateResponse answers every create form.
type JSApiConsumerCreateResponse struct {
	ApiResponse
	*ConsumerInfo
	hdr []byte // the answer's header block, if any (see respHeader)
}

// respHeader is the header block the answer goes with: a direct
// consumer's names the origin, Nats-Stream-Identity, as the reference's
// does (observed on v2.15.2), so a copy in another domain notices an
// origin recreated under the same name.
func (r *JSApiConsumerCreateResponse) respHeader() []byte { return r.hdr }

// JSApiConsumerInfoResponse answers CONSUMER.INFO.
type JSApiConsumerInfoResponse struct {
	ApiResponse
	*ConsumerInfo
}

// JSApiConsumerNamesResponse answers CONSUMER.NAMES.
type JSApiConsumerNamesResponse struct {
	ApiResponse
	Total     int      `json:"total"`
	Offset    int      `json:"offset"`
	Limit     int      `json:"limit"`
	Consumers []string `json:"consumers"`
}

// JSApiConsumerListResponse answers CONSUMER.LIST.
type JSApiConsumerListResponse struct {
	ApiResponse
	Total     int             `json:"total"`
	Offset    int             `json:"offset"`
	Limit     int             `json:"limit"`
	Consumers []*ConsumerInfo `json:"consumers"`
	Missing   []string        `json:"missing,omitempty"`
}

// apiConsumerCreate serves $JS.API.CONSUMER.CREATE.<s>[.<c>[.<filter>]].
func (ja *jsAccount) apiConsumerCreate(r *jsAPIRequest, args []string) any {
	a := &consumerCreateArgs{stream: args[0]}
	if len(args) > 1 {
		a.name = args[1]
	}
	if len(args) > 2 {
		a.filter = strings.Join(args[2:], ".")
	}
	return ja.createConsumer(r, a)
}

// apiDurableCreate serves $JS.API.CONSUMER.DURABLE.CREATE.<s>.<durable>.
func (ja *jsAccount) apiDurableCreate(r *jsAPIRequest, args []string) any {
	if len(args) != 3 || args[0] != "CREATE" {
		return nil // other forms go unanswered, as on the reference (never 10016)
	}
	return ja.createConsumer(r, &consumerCreateArgs{stream: args[1], name: args[2], durableAPI: true})
}

func createErr(e *ApiError) *JSApiConsumerCreateResponse {
	return &JSApiConsumerCreateResponse{ApiResponse: ApiResponse{Error: e}}
}

// createConsumer creates or updates a consumer as the request says.
func (ja *jsAccount) createConsumer(r *jsAPIRequest, a *consumerCreateArgs) any {
	var req CreateConsumerRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return createErr(e)
		}
	}
	if req.Stream != a.stream {
		return createErr(jsError(jsStreamMismatch))
	}
	a.req = &req
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	st := ja.lookupStream(a.stream)
	if st == nil {
		return createErr(jsError(jsStreamNotFound))
	}
	existing := st.lookupConsumer(consumerRequestedName(a))
	var existingCfg *ConsumerConfig
	if existing != nil {
		cfg := existing.config()
		existingCfg = &cfg
	}
	others := st.otherConfigs(existing)
	// The check answers the action (10148, 10149) after validation, as the reference.
	a.accountConsumers = ja.consumerCount()
	cfg, e := ja.checkConsumerCreate(st, a, existingCfg, others)
	if e != nil {
		return createErr(e)
	}
	if existing != nil {
		return ja.updateConsumer(existing, cfg)
	}
	// The legacy ephemeral form names the consumer in a.name only: its
	// configuration is reported without a name, as the reference does.
	name := cfg.Name
	if name == "" {
		name = a.name
	}
	if cfg.Direct && cfg.Sourcing && name != "" {
		// A copy's consumer: every create is a new one, its name the
		// copy's plus a random suffix, as the reference names it.
		name += "-" + jsRandomID()[:8]
		cfg.Name = name
	}
	c, e := st.createConsumer(name, cfg)
	if e != nil {
		return createErr(e)
	}
	ja.adviseConsumer(st.name, c.name, jsActionCreate)
	c.adminCreated()
	resp := &JSApiConsumerCreateResponse{ConsumerInfo: c.info(true)}
	if cfg.Direct {
		hdr := appendHeader([]byte("NATS/1.0\r\n"), jsStreamIdentityHeader, streamIdentity(st.created))
		resp.hdr = append(hdr, "\r\n"...)
	}
	return resp
}

// consumerRequestedName is the name a create request refers to, "" when
// the server is to choose one.
func consumerRequestedName(a *consumerCreateArgs) string {
	switch {
	case a.name != "": // the subject's name wins over the body's, as the reference
		return a.name
	case a.req.Config.Name != "":
		return a.req.Config.Name
	}
	return a.req.Config.Durable
}

// createConsumer opens the consumer's store, positions it and registers it.
func (st *stream) createConsumer(name string, cfg *ConsumerConfig) (*consumer, *ApiError) {
	var cs ConsumerStore = &consumerMemStore{}
	if !cfg.MemoryStorage && !cfg.Direct { // a direct consumer is not kept over a restart
		var err error
		if cs, err = st.store.ConsumerStore(name); err != nil {
			return nil, jsError(jscStoreFailed, err)
		}
	}
	c := st.newConsumer(name, cfg, time.Now().UTC(), cs)
	start := st.consumerStartSeq(cfg)
	c.state.sseq = start
	if cfg.DeliverPolicy == DeliverLastPerSubject {
		lps, upTo := st.lastPerSubject(c.filters)
		c.state.lps, c.state.sseq, start = lps, upTo+1, upTo+1
		if len(lps) > 0 {
			start = lps[0]
		}
	}
	c.state.start = start
	c.state.delivered.Stream, c.state.ackFloor.Stream = start-1, start-1
	c.state.dirty = true
	if err := c.saveMeta(); err != nil {
		_ = cs.Delete()
		return nil, jsError(jscStoreFailed, err)
	}
	if err := c.flushState(); err != nil {
		_ = cs.Delete()
		return nil, jsError(jscStoreFailed, err)
	}
	st.registerConsumer(c)
	c.rearm() // times inactive_threshold from now
	return c, nil
}

// updateConsumer applies a checked configuration to an existing consumer.
func (ja *jsAccount) updateConsumer(c *consumer, cfg *ConsumerConfig) any {
	c.st.configChanged(c, cfg)
	c.mu.Lock()
	changed := !consumerConfigEqual(&c.cfg, cfg)
	c.cfg = *cfg
	c.filters, c.sample = consumerFilters(cfg), sampleFrequency(cfg.SampleFrequency)
	c.state.rebuildDue(cfg)
	c.pushReconfigured()
	c.mu.Unlock()
	if changed {
		if err := c.saveMeta(); err != nil {
			return createErr(jsError(jscStoreFailed, err))
		}
		c.schedule()
	}
	c.adminCreated()
	return &JSApiConsumerCreateResponse{ConsumerInfo: c.info(true)}
}

func consumerConfigEqual(a, b *ConsumerConfig) bool { return reflect.DeepEqual(a, b) }

// apiConsumerInfo serves $JS.API.CONSUMER.INFO.<s>.<c>.
func (ja *jsAccount) apiConsumerInfo(r *jsAPIRequest, args []string) any {
	if len(args) != 2 {
		return nil
	}
	if !isEmptyBody(r.msg) {
		return &JSApiConsumerInfoResponse{ApiResponse: ApiResponse{Error: jsError(jsNotEmptyRequest)}}
	}
	c, e := ja.lookupConsumer(args[0], args[1])
	if e != nil {
		return &JSApiConsumerInfoResponse{ApiResponse: ApiResponse{Error: e}}
	}
	return &JSApiConsumerInfoResponse{ConsumerInfo: c.info(true)}
}

func (ja *jsAccount) lookupConsumer(stream, name string) (*consumer, *ApiError) {
	st := ja.lookupStream(stream)
	if st == nil {
		return nil, jsError(jsStreamNotFound)
	}
	c := st.lookupConsumer(name)
	if c == nil {
		return nil, jsError(jscNotFound)
	}
	return c, nil
}

// apiConsumerDelete serves $JS.API.CONSUMER.DELETE.<s>.<c>.
func (ja *jsAccount) apiConsumerDelete(r *jsAPIRequest, args []string) any {
	if len(args) != 2 {
		return nil
	}
	if !isEmptyBody(r.msg) {
		return errResponse(jsError(jsNotEmptyRequest))
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	c, e := ja.lookupConsumer(args[0], args[1])
	if e != nil {
		return errResponse(e)
	}
	if err := c.st.deleteConsumer(c); err != nil {
		return errResponse(jsError(jsStreamGeneral, err))
	}
	ja.adviseConsumer(c.st.name, c.name, jsActionDelete)
	return &JSApiSuccessResponse{Success: true}
}

// pagedConsumers returns the page of a stream's consumers from offset.
func (ja *jsAccount) pagedConsumers(r *jsAPIRequest, stream string, limit int) ([]*consumer, int, int, *ApiError) {
	var req jsPagedRequest
	if hasJSONBody(r.msg) {
		if e := r.decode(&req); e != nil {
			return nil, 0, 0, e
		}
	}
	st := ja.lookupStream(stream)
	if st == nil {
		return nil, 0, 0, jsError(jsStreamNotFound)
	}
	all := st.listedConsumers()
	total, off := len(all), max(req.Offset, 0)
	off = min(off, total)
	return all[off:min(off+limit, total)], total, off, nil
}

// apiConsumerNames serves $JS.API.CONSUMER.NAMES.<s>.
func (ja *jsAccount) apiConsumerNames(r *jsAPIRequest, args []string) any {
	if len(args) != 1 {
		return nil
	}
	page, total, off, e := ja.pagedConsumers(r, args[0], 1024)
	if e != nil {
		// Paged even on errors, as the reference answers.
		return &JSApiConsumerNamesResponse{ApiResponse: ApiResponse{Error: e}, Consumers: []string{}}
	}
	resp := &JSApiConsumerNamesResponse{Total: total, Offset: off, Limit: 1024, Consumers: []string{}}
	for _, c := range page {
		resp.Consumers = append(resp.Consumers, c.name)
	}
	return resp
}

// apiConsumerList serves $JS.API.CONSUMER.LIST.<s>.
func (ja *jsAccount) apiConsumerList(r *jsAPIRequest, args []string) any {
	if len(args) != 1 {
		return nil
	}
	page, total, off, e := ja.pagedConsumers(r, args[0], 256)
	if e != nil {
		return &JSApiConsumerListResponse{ApiResponse: ApiResponse{Error: e}, Consumers: []*ConsumerInfo{}}
	}
	resp := &JSApiConsumerListResponse{Total: total, Offset: off, Limit: 256, Consumers: []*ConsumerInfo{}}
	for _, c := range page {
		resp.Consumers = append(resp.Consumers, c.info(false))
	}
	return resp
}

// info is c's ConsumerInfo; withMeta adds the server's version and API
// level to the metadata (not in LIST, as the reference answers).
func (c *consumer) info(withMeta bool) *ConsumerInfo {
	c.mu.Lock()
	cfg := c.cfg
	s := &c.state
	ci := &ConsumerInfo{Stream: c.st.name, Name: c.name, Created: c.created,
		Delivered:     SequenceInfo{Consumer: s.delivered.Consumer, Stream: s.delivered.Stream},
		AckFloor:      SequenceInfo{Consumer: s.ackFloor.Consumer, Stream: s.ackFloor.Stream},
		NumAckPending: len(s.pending), NumRedelivered: len(s.redelivered),
		NumWaiting: c.pruneWaiting()}
	if !s.lastDlv.IsZero() {
		t := s.lastDlv.UTC()
		ci.Delivered.Last = &t
	}
	if !s.lastAck.IsZero() {
		t := s.lastAck.UTC()
		ci.AckFloor.Last = &t
	}
	sseq, filters, lps := s.sseq, c.filters, len(s.lps)
	c.mu.Unlock()
	ci.NumPending = uint64(lps) + c.st.filtersPending(filters, sseq)
	ci.PushBound = c.pushBound()
	if cl := c.st.ja.js.cluster; cl != nil {
		// A consumer lives with its stream, on this server (the stream
		// group's leader if replicated).
		ci.Cluster = &ClusterInfo{Name: cl.name, Leader: cl.s.Name()}
		if c.st.replicated {
			ci.Cluster = cl.replClusterInfo(c.st)
		}
	}
	md := metadataForReply(cfg.Metadata, withMeta)
	if _, ok := md["_nats.req.level"]; !ok {
		md["_nats.req.level"] = "0"
	}
	cfg.Metadata = md
	ci.Config = &cfg
	now := time.Now()
	c.addAdminInfo(ci, now)
	ci.TimeStamp = now.UTC()
	return ci
}
