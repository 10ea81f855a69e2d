package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Copies across domains. A mirror or source whose external api prefix
// leads off this server (another JetStream domain, reached through a leaf
// node) cannot read its origin's store: it has the origin's server create
// a direct push consumer and stores what that delivers, taking the
// deliveries, flow control and gap checks of durable sourcing
// (stream_source_consumer.go). Where the copy stands stays in its own
// store as for every copy, so each new consumer starts right after it.
//
// On the wire, as the reference (observed on v2.15.2):
//
//   - The copy subscribes to a fresh deliver subject <deliver>.M.<8 base62
//     chars> (a mirror) or <deliver>.S.<8 chars> (a source), where
//     <deliver> is external.deliver, "$JS" when empty, and to a fresh
//     reply subject $JSC.R.<8 chars>.
//   - It publishes a CreateConsumerRequest to <api>.CONSUMER.CREATE.<origin>,
//     or <api>.CONSUMER.CREATE.<origin>.<name>.<filter> for a source with
//     one filter, with the header Nats-Required-Api-Level: 4 (a mirror) or
//     Nats-Required-Api-Level: 5 and Nats-Stream-Identity (a source; the
//     origin identity it knows, "" at first). The config: name
//     JS_MIRROR_<h> or JS_SRC_<h> (h: 8 base62 chars hashing our account,
//     stream and the copy's index name; the origin's server appends
//     -<8 random chars>), deliver_policy all (or by_start_sequence at the
//     position + 1, or the copy's opt_start_seq/opt_start_time), ack none,
//     ack_wait 22h, max_deliver 1, replay instant, flow_control,
//     idle_heartbeat 1s, inactive_threshold 10s, num_replicas 0, direct,
//     sourcing, the source's filter(s), and metadata _nats.mirror.* (or
//     _nats.src.*) acc, domain and stream naming the copy.
//   - The answer's Nats-Stream-Identity names the origin; an error answer
//     shows as the copy's error and the create is tried again later.
//   - Deliveries come with their $JS.ACK reply (sequences, pending). A
//     flow-control request, and a heartbeat's Nats-Consumer-Stalled, are
//     answered once what preceded them is stored, with Nats-Last-Consumer
//     and Nats-Last-Stream.
//   - A gap in the consumer sequences, or silence for durableSilence (five
//     heartbeats), has the copy create a new consumer on a new deliver
//     subject; the old one ends by its inactive threshold.

const (
	externalCreateWait = 5 * time.Second
	externalHeartbeat  = time.Second
	externalInactive   = 10 * time.Second
	externalAckWait    = 22 * time.Hour
)

// isExternalOrigin reports whether src's origin is reached only through
// its api prefix, off this server. Called without the stream's locks: it
// reads the account's subject index.
func (st *stream) isExternalOrigin(src *StreamSource) bool {
	if src.External == nil || src.External.APIPrefix == "" || src.Consumer != nil {
		return false
	}
	_, local := st.ja.originAccount(src.External, src.Name)
	return !local
}

// runExternal is the run of a copy across domains: until it stops, create
// a consumer on the origin and follow its deliveries.
func (r *sourceRun) runExternal() {
	for {
		deliver := r.externalDeliverSubject()
		unsub, err := r.st.ja.js.srv.SubscribeInternal(r.st.ja.acc, deliver, "", r.onDelivery)
		if err != nil {
			r.st.ja.js.srv.Warnf("JetStream %s of '%s > %s': subscribing to %q: %v",
				r.kind(), r.st.ja.acc.Name, r.st.name, deliver, err)
			<-r.quit
			return
		}
		r.dur.mu.Lock()
		r.dur.queue = nil // what the previous consumer still had in flight
		r.dur.mu.Unlock()
		ok := r.createExternal(deliver)
		stop := false
		if ok {
			stop = r.followDurable(0)
		} else {
			select {
			case <-r.quit:
				stop = true
			case <-time.After(sourceRetryDelay):
			}
		}
		unsub()
		if stop {
			return
		}
	}
}

// externalDeliverSubject is a fresh deliver subject for the next consumer.
func (r *sourceRun) externalDeliverSubject() string {
	pre := strings.TrimSuffix(r.cfg.External.DeliverPrefix, ".")
	if pre == "" {
		pre = "$JS"
	}
	kind := ".S."
	if r.mirror {
		kind = ".M."
	}
	return pre + kind + jsRandomID()[:8]
}

// externalCreateAnswer is what the copy reads of a consumer create answer.
type externalCreateAnswer struct {
	Error *ApiError `json:"error"`
	Name  string    `json:"name"`
}

// createExternal asks the origin's server for a consumer delivering to
// deliver from the copy's position on, and waits for the answer. It
// reports whether the consumer now delivers.
func (r *sourceRun) createExternal(deliver string) bool {
	s, acc := r.st.ja.js.srv, r.st.ja.acc
	inbox := jsResetReplyPfx + jsRandomID()[:8]
	answers := make(chan durableDelivery, 1)
	unsub, err := s.SubscribeInternal(acc, inbox, "", func(_, _ string, hdr, msg []byte) {
		select {
		case answers <- durableDelivery{hdr: append([]byte(nil), hdr...), msg: append([]byte(nil), msg...)}:
		default:
		}
	})
	if err != nil {
		return false
	}
	defer unsub()
	subject, hdr, body := r.externalCreateRequest(deliver)
	s.PublishInternal(acc, subject, inbox, hdr, body)
	var a durableDelivery
	select {
	case <-r.quit:
		return false
	case <-time.After(externalCreateWait):
		return false
	case a = <-answers:
	}
	var ans externalCreateAnswer
	if err := json.Unmarshal(a.msg, &ans); err != nil {
		return false
	}
	if ans.Error != nil {
		r.externalRefused(ans.Error)
		return false
	}
	r.setErr(nil)
	if id, _ := headerValue(a.hdr, jsStreamIdentityHeader); id != "" && id != r.ident {
		known := r.ident
		r.ident = id
		if known != "" && !r.mirror && r.getPos() > 0 {
			// The origin was recreated: a source takes it from its start,
			// through a consumer that starts there.
			r.setPos(0)
			return false
		}
	}
	return true
}

// externalRefused records the origin's refusal, logged once per error as
// the reference logs it.
func (r *sourceRun) externalRefused(e *ApiError) {
	r.mu.Lock()
	same := r.err != nil && r.err.ErrCode == e.ErrCode
	r.err = e
	r.mu.Unlock()
	if !same {
		r.st.ja.js.srv.Warnf("JetStream error response for create %s consumer: %s (%d)", r.kind(), e.Description, e.ErrCode)
	}
}

// externalCreateRequest is the subject, header and body of the consumer
// create request (see the top of this file).
func (r *sourceRun) externalCreateRequest(deliver string) (string, []byte, []byte) {
	s := r.st.ja.js.srv
	api := strings.TrimSuffix(r.cfg.External.APIPrefix, ".")
	accName := r.st.ja.acc.Name
	kind, meta := "JS_SRC_", "_nats.src."
	if r.mirror {
		kind, meta = "JS_MIRROR_", "_nats.mirror."
	}
	cfg := ConsumerConfig{
		Name:          kind + base62Hash(accName+" "+r.st.name+" "+r.iname),
		DeliverPolicy: DeliverAll, AckPolicy: AckNone, AckWait: externalAckWait, MaxDeliver: 1,
		ReplayPolicy: ReplayInstant, FlowControl: true, DeliverSubject: deliver,
		Heartbeat: externalHeartbeat, InactiveThreshold: externalInactive, Direct: true, Sourcing: true,
		Metadata: map[string]string{meta + "acc": accName, meta + "stream": r.st.name},
	}
	if d := s.getOpts().JetStreamDomain; d != "" {
		cfg.Metadata[meta+"domain"] = d
	}
	switch pos := r.getPos(); {
	case pos > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = DeliverByStartSequence, pos+1
	case r.cfg.OptStartSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = DeliverByStartSequence, r.cfg.OptStartSeq
	case r.cfg.OptStartTime != nil:
		cfg.DeliverPolicy, cfg.OptStartTime = DeliverByStartTime, r.cfg.OptStartTime
	}
	subject := api + ".CONSUMER.CREATE." + r.cfg.Name
	if r.filter != ">" {
		cfg.FilterSubject = r.filter
		subject += "." + cfg.Name + "." + r.filter
	} else if len(r.xforms) > 1 {
		for _, x := range r.xforms {
			cfg.FilterSubjects = append(cfg.FilterSubjects, x.filter)
		}
	}
	body, _ := json.Marshal(&CreateConsumerRequest{Stream: r.cfg.Name, Config: cfg})
	hdr := []byte("NATS/1.0\r\n")
	if r.mirror {
		hdr = appendHeader(hdr, jsRequiredAPILevelHeader, "4")
	} else {
		hdr = appendHeader(hdr, jsRequiredAPILevelHeader, "5")
		hdr = appendHeader(hdr, jsStreamIdentityHeader, r.ident)
	}
	return subject, append(hdr, "\r\n"...), body
}

// flowControlAnswer is the header answering a flow-control request: the
// last origin sequence stored and, for a copy across domains, the last
// consumer sequence seen.
func (r *sourceRun) flowControlAnswer(lastC uint64) []byte {
	hdr := []byte("NATS/1.0\r\n")
	if r.cfg.Consumer == nil {
		hdr = appendHeader(hdr, hdrLastConsumer, strconv.FormatUint(lastC, 10))
	}
	hdr = appendHeader(hdr, hdrLastStream, strconv.FormatUint(r.getPos(), 10))
	return append(hdr, "\r\n"...)
}
