package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	jsAPIPrefix                = "$JS.API."
	jsAPITypePrefix            = "io.nats.jetstream.api.v1."
	jsDefaultRequestQueueLimit = 10000
	jsRequiredAPILevelHeader   = "Nats-Required-Api-Level"
)

// ApiResponse is the envelope of every JetStream API response.
type ApiResponse struct {
	Type  string    `json:"type"`
	Error *ApiError `json:"error,omitempty"`
}

// jsAPIRequest is one request, copied off the publisher's read buffer so a
// worker can handle it later.
type jsAPIRequest struct {
	ja      *jsAccount
	client  *client // the requester, for the audit advisory; may be an internal client
	subject string
	reply   string
	hdr     []byte
	msg     []byte
}

// decode reads the request's JSON body into v, strictly unless the server
// runs with strict: false.
func (r *jsAPIRequest) decode(v any) *ApiError {
	return decodeJSON(r.msg, v, r.ja.js.strict)
}

// decodeRequired is decode for requests whose body is mandatory: an empty
// one is a bad request (10003), as with the reference.
func (r *jsAPIRequest) decodeRequired(v any) *ApiError {
	if isEmptyBody(r.msg) {
		return jsError(jsBadRequest)
	}
	return r.decode(v)
}

// jsAPIPool runs API requests on a fixed set of workers fed by two bounded
// queues: info-class requests (INFO, NAMES, LIST, INFO of streams and
// consumers) wait on their own, lower-priority queue so that listings
// cannot starve creates and deletes. The publisher's read loop only copies
// and enqueues, so stream creation, purges or disk waits never stall core
// messaging. A queue that reaches its limit is emptied at once, as the
// reference does: the dropped requests get no answer, a warning is logged
// and $JS.EVENT.ADVISORY.API.LIMIT_REACHED is published.
type jsAPIPool struct {
	js   *jetStream
	ch   chan *jsAPIRequest
	info chan *jsAPIRequest
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// lastWarn is when each queue's overflow was last logged (unix ns): a
	// flood logs one line a minute, not one per drop.
	lastWarn, lastInfoWarn atomic.Int64
}

// jsAPIWarnInterval spaces the overflow warnings of one queue.
const jsAPIWarnInterval = time.Minute

func newJSAPIPool(js *jetStream, workers int, t JetStreamTuning) *jsAPIPool {
	limit := t.JetStreamRequestQueueLimit
	if limit <= 0 {
		limit = jsDefaultRequestQueueLimit
	}
	infoLimit := t.JetStreamInfoQueueLimit
	if infoLimit <= 0 {
		infoLimit = limit
	}
	p := &jsAPIPool{js: js, ch: make(chan *jsAPIRequest, limit), info: make(chan *jsAPIRequest, infoLimit),
		quit: make(chan struct{})}
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *jsAPIPool) work() {
	defer p.wg.Done()
	for {
		select {
		case r := <-p.ch:
			r.ja.dispatch(r)
			continue
		default:
		}
		select {
		case r := <-p.ch:
			r.ja.dispatch(r)
		case r := <-p.info:
			r.ja.dispatch(r)
		case <-p.quit:
			return
		}
	}
}

func (p *jsAPIPool) stop() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}

// push queues r; a queue that r fills up is emptied (see jsAPIPool).
func (p *jsAPIPool) push(r *jsAPIRequest) {
	q, name, last := p.ch, "", &p.lastWarn
	if isInfoRequest(r.subject) {
		q, name, last = p.info, "info ", &p.lastInfoWarn
	}
	queued := false
	select {
	case q <- r:
		queued = true
	default:
	}
	if queued && len(q) < cap(q) {
		return
	}
	dropped := 0
	if !queued {
		dropped++
	}
	for len(q) > 0 {
		select {
		case <-q:
			dropped++
		default:
		}
	}
	now, prev := time.Now().UnixNano(), last.Load()
	if now-prev >= int64(jsAPIWarnInterval) && last.CompareAndSwap(prev, now) {
		p.js.srv.Warnf("JetStream API %squeue limit reached, dropping %d requests", name, dropped)
	}
	p.js.adviseAPILimitReached(dropped)
}

// isInfoRequest reports whether subject is one of the info-class subjects
// served from the lower-priority queue.
func isInfoRequest(subject string) bool {
	rest := strings.TrimPrefix(subject, jsAPIPrefix)
	switch rest {
	case "INFO", "STREAM.NAMES", "STREAM.LIST":
		return true
	}
	return strings.HasPrefix(rest, "STREAM.INFO.") || strings.HasPrefix(rest, "CONSUMER.INFO.") ||
		strings.HasPrefix(rest, "CONSUMER.NAMES.") || strings.HasPrefix(rest, "CONSUMER.LIST.")
}

// subscribeAPI subscribes subject ($JS.API.> or its domain form) to the
// account's API, keeping the requesting client for the audit advisory.
func (ja *jsAccount) subscribeAPI(subject string) (func(), error) {
	sub, err := ja.js.srv.subscribeInternal(ja.acc, subject, "",
		func(_ *subscription, c *client, _ *Account, subj, reply string, hdr, msg []byte) {
			ja.onAPIRequest(c, subj, reply, hdr, msg)
		}, nil)
	if err != nil {
		return nil, err
	}
	return func() { sub.client.unsubscribeAfterMax(sub) }, nil
}

// onAPIRequest runs on the publisher's goroutine: copy and enqueue only.
func (ja *jsAccount) onAPIRequest(c *client, subject, reply string, hdr, msg []byte) {
	if !strings.HasPrefix(subject, jsAPIPrefix) {
		// $JS.<domain>.API.<rest> is served as $JS.API.<rest>; its $KV.>
		// and $OBJ.> forms are the buckets' own subjects, as the
		// reference maps them.
		if i := strings.Index(subject, ".API."); i > 0 {
			rest := subject[i+len(".API."):]
			if strings.HasPrefix(rest, "$KV.") || strings.HasPrefix(rest, "$OBJ.") {
				ja.js.srv.PublishInternal(ja.acc, rest, reply, hdr, msg)
				return
			}
			subject = jsAPIPrefix + rest
		}
	}
	if reply == "" {
		return // nobody to answer, as with the reference
	}
	if strings.HasPrefix(subject, jsMsgNextPrefix) {
		ja.onPullRequest(c, subject, reply, msg) // served by the consumer, not a worker
		return
	}
	r := &jsAPIRequest{ja: ja, client: c, subject: strings.Clone(subject), reply: strings.Clone(reply),
		hdr: bytes.Clone(hdr), msg: bytes.Clone(msg)}
	ja.js.api.push(r)
}

// jsAPIHandler answers one API subject; tokens are the subject's tokens
// after the handler's own (e.g. the stream name).
type jsAPIHandler struct {
	respType string
	args     int // tokens after the prefix; -1: any number (at least one)
	fn       func(ja *jsAccount, r *jsAPIRequest, args []string) any
}

// jsAPIHandlers maps a subject (after "$JS.API.", without its arguments)
// to its handler.
var jsAPIHandlers map[string]jsAPIHandler

func init() {
	jsAPIHandlers = map[string]jsAPIHandler{
		"INFO":               {"account_info_response", 0, (*jsAccount).apiAccountInfo},
		"STREAM.CREATE":      {"stream_create_response", 1, (*jsAccount).apiStreamCreate},
		"STREAM.UPDATE":      {"stream_update_response", 1, (*jsAccount).apiStreamUpdate},
		"STREAM.INFO":        {"stream_info_response", 1, (*jsAccount).apiStreamInfo},
		"STREAM.NAMES":       {"stream_names_response", 0, (*jsAccount).apiStreamNames},
		"STREAM.LIST":        {"stream_list_response", 0, (*jsAccount).apiStreamList},
		"STREAM.DELETE":      {"stream_delete_response", 1, (*jsAccount).apiStreamDelete},
		"STREAM.PURGE":       {"stream_purge_response", 1, (*jsAccount).apiStreamPurge},
		"STREAM.MSG.GET":     {"stream_msg_get_response", 1, (*jsAccount).apiMsgGet},
		"STREAM.MSG.DELETE":  {"stream_msg_delete_response", 1, (*jsAccount).apiMsgDelete},
		"STREAM.SNAPSHOT":    {"stream_snapshot_response", 1, (*jsAccount).apiStreamSnapshot},
		"STREAM.RESTORE":     {"stream_restore_response", 1, (*jsAccount).apiStreamRestore},
		"CONSUMER.CREATE":    {"consumer_create_response", -1, (*jsAccount).apiConsumerCreate},
		"CONSUMER.DURABLE":   {"consumer_create_response", -1, (*jsAccount).apiDurableCreate},
		"CONSUMER.INFO":      {"consumer_info_response", -1, (*jsAccount).apiConsumerInfo},
		"CONSUMER.NAMES":     {"consumer_names_response", -1, (*jsAccount).apiConsumerNames},
		"CONSUMER.LIST":      {"consumer_list_response", -1, (*jsAccount).apiConsumerList},
		"CONSUMER.DELETE":    {"consumer_delete_response", -1, (*jsAccount).apiConsumerDelete},
		"CONSUMER.PAUSE":     {"", -1, (*jsAccount).apiConsumerPause}, // answers itself
		"CONSUMER.UNPIN":     {"consumer_unpin_response", -1, (*jsAccount).apiConsumerUnpin},
		"CONSUMER.MSG.NEXT":  {"consumer_getnext_response", -1, apiConsumerNotSupported},
		"CONSUMER.RESET":     {"", -1, (*jsAccount).apiConsumerReset}, // answers itself
		"CONSUMER.LEADER":    {"consumer_leader_stepdown_response", -1, apiClusterRequired},
		"STREAM.LEADER":      {"stream_leader_stepdown_response", -1, apiClusterRequired},
		"DIRECT.GET":         {"", -1, (*jsAccount).apiDirectGet},
		"STREAM.PEER.REMOVE": {"stream_remove_peer_response", -1, apiClusterRequired},
	}
}

// lookupAPIHandler splits subject (after "$JS.API.") into a handler and
// its arguments. The longest registered prefix wins.
func lookupAPIHandler(rest string) (jsAPIHandler, []string, bool) {
	toks := strings.Split(rest, ".")
	for n := min(len(toks), 3); n > 0; n-- {
		h, ok := jsAPIHandlers[strings.Join(toks[:n], ".")]
		if !ok {
			continue
		}
		args := toks[n:]
		if (h.args >= 0 && len(args) != h.args) || (h.args < 0 && len(args) == 0) {
			return h, nil, false
		}
		return h, args, true
	}
	return jsAPIHandler{}, nil, false
}

// dispatch runs on an API worker.
func (ja *jsAccount) dispatch(r *jsAPIRequest) {
	if c := ja.js.cluster; c != nil {
		c.dispatch(ja, r, strings.TrimPrefix(r.subject, jsAPIPrefix))
		return
	}
	h, args, ok := lookupAPIHandler(strings.TrimPrefix(r.subject, jsAPIPrefix))
	if !ok {
		// The reference leaves subjects no handler serves unanswered
		// (observed on v2.15.2 for a client of the global account).
		return
	}
	var resp any
	switch {
	case ja.disabled:
		resp = &ApiResponse{Error: jsError(jsNotEnabledForAccount)}
	case apiLevelTooHigh(r.hdr) && h.respType != "":
		// Handlers without a response type (direct get) answer in status
		// lines, also for this check.
		resp = &ApiResponse{Error: jsError(jsRequiredAPILevel)}
	default:
		resp = h.fn(ja, r, args)
	}
	if resp == nil {
		return // answered by the handler itself (direct get)
	}
	ja.respond(r, h, resp)
}

// apiLevelTooHigh checks Nats-Required-Api-Level: above ours, or not an
// integer, the request is refused.
func apiLevelTooHigh(hdr []byte) bool {
	v, ok := headerValue(hdr, jsRequiredAPILevelHeader)
	if !ok {
		return false
	}
	n := 0
	for _, c := range []byte(v) {
		if c < '0' || c > '9' || n > JSApiLevel {
			return true
		}
		n = n*10 + int(c-'0')
	}
	return v == "" || n > JSApiLevel
}

// respond stamps the response type, counts the call, publishes the reply
// into the requester's account and audits it.
func (ja *jsAccount) respond(r *jsAPIRequest, h jsAPIHandler, resp any) {
	env := apiEnvelope(resp)
	if env != nil {
		env.Type = jsAPITypePrefix + h.respType
	}
	data, err := json.Marshal(resp)
	if err != nil {
		ja.js.srv.Errorf("JetStream API: encoding a %s: %v", h.respType, err)
		return
	}
	ja.apiTotal.Add(1)
	ja.js.apiTotal.Add(1)
	if env != nil && env.Error != nil {
		ja.apiErrors.Add(1)
		ja.js.apiErrors.Add(1)
	}
	var hdr []byte
	if h, ok := resp.(interface{ respHeader() []byte }); ok {
		hdr = h.respHeader()
	}
	ja.js.srv.PublishInternal(ja.acc, r.reply, "", hdr, data)
	if h.respType != "stream_msg_get_response" { // not audited, as with the reference
		ja.auditAPI(r, data)
	}
}

// jsResponse is implemented by every response type through its embedded
// ApiResponse.
type jsResponse interface{ envelope() *ApiResponse }

func (r *ApiResponse) envelope() *ApiResponse { return r }

func apiEnvelope(resp any) *ApiResponse {
	if r, ok := resp.(jsResponse); ok {
		return r.envelope()
	}
	return nil
}

// errResponse is a bare error answer.
func errResponse(e *ApiError) *ApiResponse { return &ApiResponse{Error: e} }

// decodeAPIRequest decodes a JSON body strictly (unknown fields are
// errors), in the reference's words.
func decodeAPIRequest(body []byte, v any) *ApiError {
	return decodeJSON(body, v, true)
}

// decodeJSON decodes a request body; strict refuses unknown fields.
func decodeJSON(body []byte, v any, strict bool) *ApiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return jsError(jsInvalidJSON, fmt.Sprintf("%v at offset %d", err, se.Offset))
		}
		return jsError(jsInvalidJSON, err)
	}
	return nil
}

// isEmptyBody reports whether a body counts as empty: nothing, or a JSON
// empty object.
func isEmptyBody(body []byte) bool {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && len(m) == 0
}

// hasJSONBody reports whether an optional body is to be parsed: it starts
// with '{' or '['.
func hasJSONBody(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// JSApiAccountLimits are an account's JetStream limits (-1: unlimited).
type JSApiAccountLimits struct {
	MaxMemory            int64 `json:"max_memory"`
	MaxStore             int64 `json:"max_storage"`
	MaxStreams           int   `json:"max_streams"`
	MaxConsumers         int   `json:"max_consumers"`
	MaxAckPending        int   `json:"max_ack_pending"`
	MemoryMaxStreamBytes int64 `json:"memory_max_stream_bytes"`
	StoreMaxStreamBytes  int64 `json:"storage_max_stream_bytes"`
	MaxBytesRequired     bool  `json:"max_bytes_required"`
}

// JSApiAccountInfoResponse answers $JS.API.INFO.
type JSApiAccountInfoResponse struct {
	ApiResponse
	Memory         uint64               `json:"memory"`
	Store          uint64               `json:"storage"`
	ReservedMemory uint64               `json:"reserved_memory"`
	ReservedStore  uint64               `json:"reserved_storage"`
	Streams        int                  `json:"streams"`
	Consumers      int                  `json:"consumers"`
	Limits         JSApiAccountLimits   `json:"limits"`
	Domain         string               `json:"domain,omitempty"`
	API            JSAPIStats           `json:"api"`
	Tiers          map[string]JSApiTier `json:"tiers,omitempty"`
}

// JSApiTier is one tier's usage and limits in $JS.API.INFO (accounts whose
// JWT has tiered limits; a single server has R1 only).
type JSApiTier struct {
	Memory         uint64             `json:"memory"`
	Store          uint64             `json:"storage"`
	ReservedMemory uint64             `json:"reserved_memory"`
	ReservedStore  uint64             `json:"reserved_storage"`
	Streams        int                `json:"streams"`
	Consumers      int                `json:"consumers"`
	Limits         JSApiAccountLimits `json:"limits"`
}

func (ja *jsAccount) apiAccountInfo(_ *jsAPIRequest, _ []string) any {
	mem, store, streams := ja.usage()
	consumers := 0
	for _, st := range ja.streamList() {
		consumers += st.numConsumers()
	}
	_, resMem := ja.usedAndReserved(MemoryStorage, "")
	_, resStore := ja.usedAndReserved(FileStorage, "")
	l := ja.limits.Load()
	r := &JSApiAccountInfoResponse{
		Memory: mem, Store: store, ReservedMemory: resMem, ReservedStore: resStore, Streams: streams,
		Consumers: consumers,
		Domain:    ja.js.domain(),
		API:       JSAPIStats{Level: JSApiLevel, Total: ja.apiTotal.Load(), Errors: ja.apiErrors.Load()},
	}
	if l.tier == "" {
		r.Limits = l.apiLimits()
		return r
	}
	// Tiered limits show under their tier, the account-wide ones as zeros
	// (observed on v2.15.2).
	r.Tiers = map[string]JSApiTier{l.tier: {Memory: mem, Store: store, ReservedMemory: resMem,
		ReservedStore: resStore, Streams: streams, Consumers: consumers, Limits: l.apiLimits()}}
	return r
}

// apiLimits is how $JS.API.INFO shows the limits.
func (l JetStreamAccountLimits) apiLimits() JSApiAccountLimits {
	return JSApiAccountLimits{MaxMemory: l.MaxMemory, MaxStore: l.MaxStore, MaxStreams: l.MaxStreams,
		MaxConsumers: l.MaxConsumers, MaxAckPending: l.MaxAckPending, MemoryMaxStreamBytes: l.MemoryMaxStreamBytes,
		StoreMaxStreamBytes: l.StoreMaxStreamBytes, MaxBytesRequired: l.MaxBytesRequired}
}

// apiConsumerNotSupported answers every consumer subject until consumers
// are built (JetStream part 2).
func apiConsumerNotSupported(_ *jsAccount, _ *jsAPIRequest, _ []string) any {
	return errResponse(jsError(jsConsumerCreate, "consumers are not supported yet"))
}

// apiClusterRequired answers the clustered-only subjects.
func apiClusterRequired(_ *jsAccount, _ *jsAPIRequest, _ []string) any {
	return errResponse(jsError(jsClusterRequired))
}
