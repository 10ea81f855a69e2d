package server

// MQTT's JetStream side, per account: the streams the reference creates
// (same names, subjects and configs, so that a store written by either
// server serves the other), requests to the account's own $JS.API, and the
// replies MQTT waits for.
//
//	$MQTT_msgs    $MQTT.msgs.>     interest  QoS 1/2 messages, one durable consumer per QoS>0 subscription
//	$MQTT_rmsgs   $MQTT.rmsgs.>    limits, 1 per subject   retained messages
//	$MQTT_sess    $MQTT.sess.>     limits, 1 per subject   session records
//	$MQTT_qos2in  $MQTT.qos2.in.>  limits, 1 per subject, discard new per subject
//	$MQTT_out     $MQTT.out.>      interest
//
// Replies come to one internal subscription per account on
// "$MQTT.JSA.<server hash>.>" (mqttAccount.prefix):
//
//	RQ.<n>                 the answer to a synchronous request (request)
//	PA.<cid>.<pi>.<qos>    the PubAck of a QoS 1 PUBLISH ($MQTT_msgs) or QoS 2 one ($MQTT_qos2in): PUBACK or PUBREC to client <cid>
//	NR                     answers nobody waits for

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The MQTT stream names and subject prefixes, as the reference's.
const (
	mqttMsgsStream     = "$MQTT_msgs"
	mqttRetainedStream = "$MQTT_rmsgs"
	mqttSessStream     = "$MQTT_sess"
	mqttQoS2InStream   = "$MQTT_qos2in"
	mqttOutStream      = "$MQTT_out"

	mqttMsgsPrefix     = "$MQTT.msgs."
	mqttRetainedPrefix = "$MQTT.rmsgs."
	mqttSessPrefix     = "$MQTT.sess."
	mqttDeliverPrefix  = "$MQTT.sub."

	// Header names of MQTT's stored and forwarded messages.
	mqttHdrPub     = "Nmqtt-Pub"     // the publisher's QoS, on messages from MQTT QoS 1/2 publishers
	mqttHdrRTopic  = "Nmqtt-RTopic"  // a retained message's MQTT topic
	mqttHdrRFlags  = "Nmqtt-RFlags"  // its PUBLISH flags (QoS << 1 | retain)
	mqttHdrROrigin = "Nmqtt-ROrigin" // the hash of the server that stored it
)

// mqttDomain is the JetStream domain MQTT's streams live in: the mqtt
// block's js_domain, else this server's own JetStream domain.
func mqttDomain(o *Options) string {
	if o.MQTT.JsDomain != "" {
		return o.MQTT.JsDomain
	}
	return o.JetStreamDomain
}

// mqttAPIPrefix is the JetStream API MQTT's requests go to: the account's
// own $JS.API, or "$JS.<js_domain>.API." when js_domain names another
// domain than this server's (a leaf node whose MQTT state lives in its
// hub's JetStream, say), reached over the leaf connection.
func mqttAPIPrefix(o *Options) string {
	if d := o.MQTT.JsDomain; d != "" && d != o.JetStreamDomain {
		return "$JS." + d + ".API."
	}
	return "$JS.API."
}

// mqttSessPrefixFor is the subject prefix of session records, as the
// reference's: "$MQTT.sess.<domain>." in a JetStream domain, else
// "$MQTT.sess.".
func mqttSessPrefixFor(domain string) string {
	if domain == "" {
		return mqttSessPrefix
	}
	return mqttSessPrefix + domain + "."
}

// mqttHashAlphabet is the alphabet of the reference's 8-character hashes
// of server names and client ids.
const mqttHashAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// mqttHash is the reference's short hash: the first 8 bytes of the
// SHA-256 of s, each mapped onto mqttHashAlphabet. Session records live at
// $MQTT.sess.<mqttHash(client id)>.
func mqttHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	var b [8]byte
	for i := range b {
		b[i] = mqttHashAlphabet[int(sum[i])%len(mqttHashAlphabet)]
	}
	return string(b[:])
}

// mqttStreamConfigs are the streams' configurations, as JSON requests;
// sessPrefix is the session records' subject prefix (mqttSessPrefixFor).
func mqttStreamConfigs(replicas int, sessPrefix string) map[string]string {
	if replicas <= 0 {
		replicas = 1
	}
	r := strconv.Itoa(replicas)
	return map[string]string{
		mqttMsgsStream:     `{"name":"$MQTT_msgs","subjects":["$MQTT.msgs.>"],"retention":"interest","storage":"file","num_replicas":` + r + `}`,
		mqttRetainedStream: `{"name":"$MQTT_rmsgs","subjects":["$MQTT.rmsgs.>"],"retention":"limits","max_msgs_per_subject":1,"storage":"file","num_replicas":` + r + `}`,
		mqttSessStream:     `{"name":"$MQTT_sess","subjects":["` + sessPrefix + `>"],"retention":"limits","max_msgs_per_subject":1,"storage":"file","num_replicas":` + r + `}`,
		mqttQoS2InStream:   `{"name":"$MQTT_qos2in","subjects":["$MQTT.qos2.in.>"],"retention":"limits","max_msgs_per_subject":1,"discard":"new","discard_new_per_subject":true,"storage":"file","num_replicas":` + r + `}`,
		mqttOutStream:      `{"name":"$MQTT_out","subjects":["$MQTT.out.>"],"retention":"interest","storage":"file","num_replicas":` + r + `}`,
	}
}

// mqttState is the server's MQTT bookkeeping: one mqttAccount per account
// that has had an MQTT client. mu is a leaf.
type mqttState struct {
	mu       sync.Mutex
	accounts map[*Account]*mqttAccount
}

// mqttAccount is MQTT in one account. mu (a leaf) guards the maps; setup
// serializes the streams' creation and the retained messages' load.
type mqttAccount struct {
	s          *Server
	acc        *Account
	prefix     string // "$MQTT.JSA.<server hash>."
	domain     string // the JetStream domain of MQTT's streams, "" for none
	api        string // "$JS.API." or, for another domain's JetStream, "$JS.<domain>.API."
	sessPrefix string // the session records' subject prefix (mqttSessPrefixFor)

	setup      sync.Mutex
	ready      bool
	subscribed bool // the reply subscription, kept when a later step fails

	mu       sync.Mutex
	nreq     uint64
	reqs     map[string]chan []byte
	clients  map[uint64]*client // MQTT connections by cid, for PubAcks
	byID     map[string]*client // MQTT connections by client id (takeover)
	retained map[string]*mqttRetained
	timers   map[string]*mqttTimers // disconnected MQTT 5 client ids (mqtt_v5.go)
}

// mqttRetained is a retained message, kept in memory for SUBSCRIBE and in
// $MQTT_rmsgs for restarts.
type mqttRetained struct {
	topic   string
	qos     byte
	payload []byte
	expiry  uint32    // MQTT 5 message expiry interval, seconds; 0 none
	stored  time.Time // when it was retained, for its expiry
}

// mqttAccountFor returns acc's MQTT state with its streams in place,
// creating them (and loading the retained messages) on first use.
func (s *Server) mqttAccountFor(acc *Account) (*mqttAccount, error) {
	s.mqtt.mu.Lock()
	if s.mqtt.accounts == nil {
		s.mqtt.accounts = map[*Account]*mqttAccount{}
	}
	ma := s.mqtt.accounts[acc]
	if ma == nil {
		o := s.getOpts()
		domain := mqttDomain(o)
		ma = &mqttAccount{
			s: s, acc: acc,
			prefix:     "$MQTT.JSA." + mqttHash(s.Name()) + ".",
			domain:     domain,
			api:        mqttAPIPrefix(o),
			sessPrefix: mqttSessPrefixFor(domain),
			reqs:       map[string]chan []byte{},
			clients:    map[uint64]*client{},
			byID:       map[string]*client{},
			retained:   map[string]*mqttRetained{},
		}
		s.mqtt.accounts[acc] = ma
	}
	s.mqtt.mu.Unlock()
	ma.setup.Lock()
	defer ma.setup.Unlock()
	if ma.ready {
		return ma, nil
	}
	if !ma.subscribed {
		if _, err := s.subscribeInternal(acc, ma.prefix+">", "", ma.onReply, nil); err != nil {
			return nil, err
		}
		// Before the load: a message retained meanwhile is not missed.
		if _, err := s.SubscribeInternal(acc, mqttRetainedPrefix+">", "", ma.onRetained); err != nil {
			return nil, err
		}
		ma.subscribed = true
	}
	if err := ma.createStreams(); err != nil {
		return nil, err
	}
	if err := ma.loadRetained(); err != nil {
		return nil, err
	}
	if err := ma.restoreTimers(); err != nil { // mqtt_timers.go
		return nil, err
	}
	ma.ready = true
	return ma, nil
}

// onReply dispatches the answers to MQTT's own requests and publishes.
func (ma *mqttAccount) onReply(_ *subscription, _ *client, _ *Account, subject, _ string, _, msg []byte) {
	rest, ok := strings.CutPrefix(subject, ma.prefix)
	if !ok {
		return
	}
	switch {
	case strings.HasPrefix(rest, "RQ."):
		ma.mu.Lock()
		ch := ma.reqs[rest[3:]]
		delete(ma.reqs, rest[3:])
		ma.mu.Unlock()
		if ch != nil {
			ch <- append([]byte(nil), msg...)
		}
	case strings.HasPrefix(rest, "PA."):
		ma.pubAcked(rest[3:], msg)
	case strings.HasPrefix(rest, "Q2."):
		ma.releasedStored(rest[3:], msg) // mqtt_qos2.go
	case strings.HasPrefix(rest, "Q2D."):
		ma.releasedRemoved(rest[4:], msg)
	}
}

// mqttParseIDs parses the "<a>.<b>.<c>" of a reply subject's tail.
func mqttParseIDs(args string) (a, b, c uint64, ok bool) {
	as, rest, _ := strings.Cut(args, ".")
	bs, cs, found := strings.Cut(rest, ".")
	var err1, err2, err3 error
	a, err1 = strconv.ParseUint(as, 10, 64)
	b, err2 = strconv.ParseUint(bs, 10, 64)
	c, err3 = strconv.ParseUint(cs, 10, 64)
	return a, b, c, found && err1 == nil && err2 == nil && err3 == nil
}

// appendPubAckReply appends the reply subject of a QoS 1/2 PUBLISH's
// store, "<prefix>PA.<cid>.<pi>.<qos>", answered by pubAcked.
func (ma *mqttAccount) appendPubAckReply(b []byte, cid uint64, pi uint16, qos byte) []byte {
	b = append(b, ma.prefix...)
	b = append(b, "PA."...)
	b = strconv.AppendUint(b, cid, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(pi), 10)
	return append(b, '.', '0'+qos)
}

// pubAcked answers a QoS 1 or 2 PUBLISH once JetStream stored it; args
// is "<cid>.<pi>.<qos>" (appendPubAckReply).
func (ma *mqttAccount) pubAcked(args string, msg []byte) {
	cid, pi, qos, ok := mqttParseIDs(args)
	if !ok || pi > 0xffff || (qos != 1 && qos != 2) {
		return
	}
	c := ma.client(cid)
	if c == nil {
		return
	}
	var reason byte
	if jsonHasError(msg) && !(qos == 2 && mqttAlreadyStored(msg)) {
		reason = 0x80 // unspecified error (MQTT 5); 3.1.1 has no negative ack
		if !c.mq.v5 {
			return
		}
	}
	typ := byte(mqttPacketPubAck)
	if qos == 2 {
		typ = mqttPacketPubRec
		c.mqttHeldStored(uint16(pi), msg) // before PUBREC: its PUBREL may follow at once
	}
	c.mqttSendAck(typ, uint16(pi), reason)
}

// client is the MQTT connection with id cid, nil when it is gone.
func (ma *mqttAccount) client(cid uint64) *client {
	ma.mu.Lock()
	defer ma.mu.Unlock()
	return ma.clients[cid]
}

// mqttAlreadyStored reports whether a store into $MQTT_qos2in failed
// because the packet identifier has a message there already: a PUBLISH
// sent again before its PUBREL, answered with PUBREC all the same.
func mqttAlreadyStored(msg []byte) bool {
	return strings.Contains(bytesToString(msg), ErrMaxMsgsPerSubject.Error())
}

// jsonHasError reports whether a JetStream answer is an error.
func jsonHasError(msg []byte) bool {
	return strings.Contains(bytesToString(msg), `"error"`)
}

// hasInterest reports whether anything (a stream) subscribes to subject.
func (ma *mqttAccount) hasInterest(subject string) bool {
	r := ma.acc.sl.Match(subject)
	return len(r.psubs) > 0 || len(r.qsubs) > 0
}

// errMQTTNoStream is a store into a stream that does not exist.
var errMQTTNoStream = errors.New("no stream for the subject")

// errMQTTTimeout is a JetStream request that got no answer in time.
var errMQTTTimeout = errors.New("timeout waiting for JetStream")

// request sends a JetStream API request as the account and waits for
// its answer, at most the mqtt block's js_api_timeout.
func (ma *mqttAccount) request(subject string, hdr, body []byte) ([]byte, error) {
	ma.mu.Lock()
	ma.nreq++
	id := strconv.FormatUint(ma.nreq, 10)
	ch := make(chan []byte, 1)
	ma.reqs[id] = ch
	ma.mu.Unlock()
	ma.s.PublishInternal(ma.acc, subject, ma.prefix+"RQ."+id, hdr, body)
	t := time.NewTimer(ma.s.getOpts().MQTT.apiTimeout())
	defer t.Stop()
	select {
	case b := <-ch:
		return b, nil
	case <-t.C:
		ma.mu.Lock()
		delete(ma.reqs, id)
		ma.mu.Unlock()
		return nil, errMQTTTimeout
	}
}

// apiCall is request with the answer's error decoded.
func (ma *mqttAccount) apiCall(subject string, body []byte, out any) error {
	return ma.apiCallMsg(subject, nil, body, out)
}

// apiCallMsg is apiCall for a message with headers, such as a publish to
// a stream waiting for its PubAck. Nobody answers a subject no stream
// holds: that is errMQTTNoStream at once rather than a timeout.
func (ma *mqttAccount) apiCallMsg(subject string, hdr, body []byte, out any) error {
	if api, ok := strings.CutPrefix(subject, "$JS.API."); ok {
		subject = ma.api + api // another domain's JetStream (mqttAPIPrefix)
	} else if !ma.hasInterest(subject) {
		return errMQTTNoStream
	}
	b, err := ma.request(subject, hdr, body)
	if err != nil {
		return err
	}
	var e struct {
		Error *ApiError `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil {
		return e.Error
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// mqttStreamReplicas is the replicas of the MQTT streams: stream_replicas,
// or by default the JetStream cluster's size up to 3 (1 standalone), as
// the reference chooses.
func (s *Server) mqttStreamReplicas() int {
	if n := s.getOpts().MQTT.StreamReplicas; n > 0 {
		return n
	}
	js := s.js.Load()
	if js == nil || js.cluster == nil {
		return 1
	}
	if v := js.cluster.meta.View(); v != nil {
		return min(max(len(v.voters), 1), 3)
	}
	return 1
}

// createStreams creates the MQTT streams that do not exist yet.
func (ma *mqttAccount) createStreams() error {
	replicas := ma.s.mqttStreamReplicas()
	created := false
	for _, name := range []string{mqttSessStream, mqttMsgsStream, mqttRetainedStream, mqttQoS2InStream, mqttOutStream} {
		err := ma.apiCall("$JS.API.STREAM.INFO."+name, nil, nil)
		var ae *ApiError
		if err == nil {
			continue
		}
		if !errors.As(err, &ae) || ae.ErrCode != 10059 { // stream not found
			return fmt.Errorf("unable to check stream %q: %v", name, err)
		}
		if !created {
			in := ""
			if ma.domain != "" {
				in = fmt.Sprintf(" in domain %q", ma.domain)
			}
			ma.s.Noticef("Creating MQTT streams/consumers with replicas %d for account %q%s", replicas, ma.acc.Name, in)
			created = true
		}
		cfg := mqttStreamConfigs(replicas, ma.sessPrefix)[name]
		if err := ma.apiCall("$JS.API.STREAM.CREATE."+name, []byte(cfg), nil); err != nil {
			return fmt.Errorf("create stream %q: %v", name, err)
		}
	}
	return nil
}

// storedMsg is a message as STREAM.MSG.GET answers it.
type storedMsg struct {
	Subject string    `json:"subject"`
	Seq     uint64    `json:"seq"`
	Header  []byte    `json:"hdrs,omitempty"`
	Data    []byte    `json:"data,omitempty"`
	Time    time.Time `json:"time"`
}

// getMsg reads one message of stream: the last on subject, or with next
// set the first at or after seq on subject. A missing one is (nil, nil).
func (ma *mqttAccount) getMsg(stream, subject string, seq uint64, next bool) (*storedMsg, error) {
	var req []byte
	if next {
		req, _ = json.Marshal(map[string]any{"seq": seq, "next_by_subj": subject})
	} else {
		req, _ = json.Marshal(map[string]any{"last_by_subj": subject})
	}
	var resp struct {
		Message *storedMsg `json:"message"`
	}
	err := ma.apiCall("$JS.API.STREAM.MSG.GET."+stream, req, &resp)
	var ae *ApiError
	if errors.As(err, &ae) && ae.ErrCode == 10037 { // no message found
		return nil, nil
	}
	return resp.Message, err
}

// loadRetained reads $MQTT_rmsgs into memory, once per account.
func (ma *mqttAccount) loadRetained() error {
	seq := uint64(1)
	for n := 0; n < 10_000_000; n++ {
		m, err := ma.getMsg(mqttRetainedStream, mqttRetainedPrefix+">", seq, true)
		if err != nil || m == nil {
			return err
		}
		seq = m.Seq + 1
		if len(m.Data) == 0 {
			continue // removed (see retain)
		}
		subject := strings.TrimPrefix(m.Subject, mqttRetainedPrefix)
		topic, _ := headerValue(m.Header, mqttHdrRTopic)
		if topic == "" {
			topic = string(mqttSubjectToTopic(nil, subject))
		}
		fv, _ := headerValue(m.Header, mqttHdrRFlags)
		flags, _ := strconv.Atoi(fv)
		ma.mu.Lock()
		ma.retained[subject] = &mqttRetained{topic: topic, qos: byte(flags>>1) & 3, payload: m.Data, expiry: mqttExpiry(m.Header), stored: m.Time}
		ma.mu.Unlock()
	}
	return nil
}

// onRetained keeps this server's copy of the retained messages in step
// with what other servers retain: each store is published on
// $MQTT.rmsgs.<subject> with the storing server's hash in Nmqtt-ROrigin
// (retain), which routes, gateways and leaf nodes carry here. Our own are
// in memory already.
func (ma *mqttAccount) onRetained(subject, _ string, hdr, msg []byte) {
	if origin, _ := headerValue(hdr, mqttHdrROrigin); origin == "" || origin == mqttHash(ma.s.Name()) {
		return
	}
	// Owned copies: subject, hdr and msg are views of a read buffer.
	subject = strings.Clone(strings.TrimPrefix(subject, mqttRetainedPrefix))
	ma.mu.Lock()
	defer ma.mu.Unlock()
	if len(msg) == 0 {
		delete(ma.retained, subject) // a removal (see retain)
		return
	}
	topic, _ := headerValue(hdr, mqttHdrRTopic)
	topic = strings.Clone(topic)
	if topic == "" {
		topic = string(mqttSubjectToTopic(nil, subject))
	}
	fv, _ := headerValue(hdr, mqttHdrRFlags)
	flags, _ := strconv.Atoi(fv)
	ma.retained[subject] = &mqttRetained{topic: topic, qos: byte(flags>>1) & 3,
		payload: append([]byte(nil), msg...), expiry: mqttExpiry(hdr), stored: time.Now()}
}

// publishNoReply publishes into the account for a stream, answers unread.
func (ma *mqttAccount) publishNoReply(subject string, hdr, msg []byte) {
	ma.s.PublishInternal(ma.acc, subject, ma.prefix+"NR", hdr, msg)
}

// retain stores or (empty payload) removes the retained message of a
// subject (with its MQTT 5 message expiry interval, 0 for none), in memory at once and in $MQTT_rmsgs. A removal is stored as
// an empty message, which replaces the last one (one per subject) in
// order with the stores before it, where a purge request would race them.
func (ma *mqttAccount) retain(subject, topic string, qos byte, payload []byte, expiry uint32) {
	ma.mu.Lock()
	if len(payload) == 0 {
		delete(ma.retained, subject)
	} else {
		ma.retained[subject] = &mqttRetained{topic: topic, qos: qos, payload: append([]byte(nil), payload...), expiry: expiry, stored: time.Now()}
	}
	ma.mu.Unlock()
	hdr := "NATS/1.0\r\n" + mqttHdrRTopic + ":" + topic + "\r\n" + mqttHdrRFlags + ":" +
		strconv.Itoa(int(qos)<<1|1) + "\r\n" + mqttHdrROrigin + ":" + mqttHash(ma.s.Name()) + "\r\n"
	if expiry > 0 {
		hdr += mqttHdrExp + ": " + strconv.FormatUint(uint64(expiry), 10) + "\r\n" // ours (mqtt_expiry.go)
	}
	hdr += "\r\n"
	ma.publishNoReply(mqttRetainedPrefix+subject, []byte(hdr), payload)
}

// retainedMatching are the retained messages whose subjects match one of
// the subscription's subjects.
func (ma *mqttAccount) retainedMatching(subjects []string) []*mqttRetained {
	ma.mu.Lock()
	defer ma.mu.Unlock()
	var out []*mqttRetained
	for subj, r := range ma.retained {
		for _, f := range subjects {
			if SubjectMatchesFilter(subj, f) && !mqttHiddenFromWildcard(f, subj) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// mqttHiddenFromWildcard: topics starting with '$' are not matched by
// filters starting with a wildcard (MQTT 3.1.1 section 4.7.2).
func mqttHiddenFromWildcard(filter, subject string) bool {
	return len(subject) > 0 && subject[0] == '$' && len(filter) > 0 && (filter[0] == '*' || filter[0] == '>')
}

// register and unregister track an MQTT connection for PubAcks and
// takeover; register returns the connection it replaces.
func (ma *mqttAccount) register(c *client, clientID string) *client {
	ma.mu.Lock()
	defer ma.mu.Unlock()
	old := ma.byID[clientID]
	ma.byID[clientID] = c
	ma.clients[c.cid] = c
	return old
}

func (ma *mqttAccount) unregister(c *client, clientID string) {
	ma.mu.Lock()
	defer ma.mu.Unlock()
	delete(ma.clients, c.cid)
	if ma.byID[clientID] == c {
		delete(ma.byID, clientID)
	}
}
