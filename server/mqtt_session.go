package server

// MQTT sessions and subscriptions. A session is what a client id keeps
// between connections: its subscriptions with their QoS, and for each
// QoS 1/2 subscription a durable consumer of $MQTT_msgs whose unacked
// messages are sent again. A persistent session (3.1.1 clean session off,
// MQTT 5 session expiry above 0) is stored as one JSON record per client
// id, the reference's format, in $MQTT_sess at
// "$MQTT.sess.<mqttHash(client id)>" ("$MQTT.sess.<domain>.<hash>" when
// the streams live in a JetStream domain, mqttSessPrefixFor):
//
//	{"origin":"<server hash>","id":"<client id>",
//	 "subs":{"<subject>":<qos>, ...},
//	 "cons":{"<subject>":<consumer config>, ...}}
//
// Subjects are the subscriptions' NATS subjects (mqtt_topic.go); a
// shared subscription (MQTT 5 "$share/<group>/<filter>") is keyed
// "<subject> <group>", a key the reference never writes.

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// mqttSession is a connection's session. Owned by the reading goroutine
// while connected, then by the closing one.
type mqttSession struct {
	hash    string
	persist bool
	expiry  uint32
	subs    map[string]*mqttSessSub
	// Once disconnected (mqtt_timers.go): when, and the will waiting for
	// its delay with the time it is due.
	disconnected time.Time
	will         *mqttWill
	willDue      time.Time
}

// mqttSessSub is one subscription of a session.
type mqttSessSub struct {
	qos   byte
	queue string
	cons  *ConsumerConfig // QoS 1/2 only
}

// mqttSessionRecord is the stored session, in the reference's JSON.
type mqttSessionRecord struct {
	Origin string                     `json:"origin"`
	ID     string                     `json:"id"`
	Clean  bool                       `json:"clean,omitempty"`
	Subs   map[string]byte            `json:"subs"`
	Cons   map[string]*ConsumerConfig `json:"cons,omitempty"`
	// Ours, MQTT 5 sessions only (mqtt_timers.go).
	Expiry       uint32          `json:"expiry,omitempty"`
	Disconnected *time.Time      `json:"disconnected,omitempty"`
	Will         *mqttWillRecord `json:"will,omitempty"`
}

// mqttSub is what a subscription of an MQTT connection delivers: its QoS,
// whether it is a consumer's deliver subject (stored messages with ack
// subjects) and the MQTT 5 options.
type mqttSub struct {
	qos      byte
	js       bool
	noLocal  bool
	rap      bool // retain as published
	subID    int
	wildRoot bool // the filter starts with a wildcard: no '$' topics
}

// mqttStartSession loads or discards the session of the connection's
// client id. It reports whether a stored session was found and kept.
func (c *client) mqttStartSession(clean, persist bool, expiry uint32) (bool, error) {
	mq := c.mq
	ma := mq.ma
	sess := &mqttSession{hash: mqttHash(mq.clientID), persist: persist, expiry: expiry, subs: map[string]*mqttSessSub{}}
	mq.sess = sess
	if clean {
		ma.purgeQoS2(mq.clientID)
	}
	m, err := ma.getMsg(mqttSessStream, ma.sessPrefix+sess.hash, 0, false)
	if err != nil {
		return false, err
	}
	var rec mqttSessionRecord
	if m == nil || json.Unmarshal(m.Data, &rec) != nil || rec.ID != mq.clientID {
		if persist {
			ma.storeSession(mq.clientID, sess)
		}
		return false, nil
	}
	sess.subs = mqttSessionFromRecord(&rec).subs
	if clean {
		ma.deleteSession(sess)
		sess.subs = map[string]*mqttSessSub{}
		if persist {
			ma.storeSession(mq.clientID, sess)
		}
		return false, nil
	}
	switch {
	case !persist:
		// MQTT 5 without expiry: resumed now, gone when the connection ends.
		ma.purgeSessionRecord(sess.hash)
	case rec.Disconnected != nil || rec.Will != nil || rec.Expiry != expiry ||
		(expiry > 0 && rec.Origin != mqttHash(ma.s.Name())):
		// Connected again: no will waits, the expiry is this CONNECT's, and
		// this server owns its timers (mqtt_timers.go).
		ma.storeSession(mq.clientID, sess)
	}
	return true, nil
}

// mqttSessionFromRecord is the session a stored record describes.
func mqttSessionFromRecord(rec *mqttSessionRecord) *mqttSession {
	sess := &mqttSession{hash: mqttHash(rec.ID), persist: true, expiry: rec.Expiry, subs: map[string]*mqttSessSub{}}
	for subj, qos := range rec.Subs {
		ss := &mqttSessSub{qos: qos, cons: rec.Cons[subj]}
		if i := strings.IndexByte(subj, ' '); i > 0 {
			ss.queue = subj[i+1:]
		}
		sess.subs[subj] = ss
	}
	return sess
}

// mqttResumeSession subscribes again to a resumed session's subscriptions.
func (c *client) mqttResumeSession() error {
	sess := c.mq.sess
	for key, ss := range sess.subs {
		subject, _, _ := strings.Cut(key, " ")
		if err := c.mqttSubscribeSubject(key, subject, ss, nil); err != nil {
			c.srv.Warnf("%s - unable to restore MQTT subscription on %q: %v", c.logPrefix(), subject, err)
		}
	}
	return nil
}

// storeSession writes the session record (persistent sessions only) and
// waits for JetStream to have it, so that SUBACK (or CONNACK) goes out
// only once the session would survive a restart or a takeover.
func (ma *mqttAccount) storeSession(clientID string, sess *mqttSession) {
	if !sess.persist {
		return
	}
	rec := mqttSessionRecord{Origin: mqttHash(ma.s.Name()), ID: clientID, Subs: map[string]byte{}, Cons: map[string]*ConsumerConfig{},
		Expiry: sess.expiry}
	if !sess.disconnected.IsZero() {
		t := sess.disconnected.UTC()
		rec.Disconnected = &t
		if sess.will != nil {
			rec.Will = willRecord(sess.will, sess.willDue)
		}
	}
	for k, ss := range sess.subs {
		rec.Subs[k] = ss.qos
		if ss.cons != nil {
			rec.Cons[k] = ss.cons
		}
	}
	b, _ := json.Marshal(&rec)
	if err := ma.apiCall(ma.sessPrefix+sess.hash, b, nil); err != nil {
		ma.s.Warnf("MQTT: unable to store the session of %q: %v", clientID, err)
	}
}

// purgeSessionRecord removes a stored session record.
func (ma *mqttAccount) purgeSessionRecord(hash string) {
	req, _ := json.Marshal(map[string]string{"filter": ma.sessPrefix + hash})
	_ = ma.apiCall("$JS.API.STREAM.PURGE."+mqttSessStream, req, nil)
}

// deleteSession removes a session's consumers and its record.
func (ma *mqttAccount) deleteSession(sess *mqttSession) {
	for _, ss := range sess.subs {
		ma.releaseConsumer(ss)
	}
	ma.purgeSessionRecord(sess.hash)
}

func (ma *mqttAccount) deleteConsumer(name string) {
	_ = ma.apiCall("$JS.API.CONSUMER.DELETE."+mqttMsgsStream+"."+name, nil, nil)
}

// mqttEndSession ends the session with the connection: a session that
// does not persist loses its consumers, record and unreleased QoS 2
// messages (at shutdown they are left to their inactive threshold,
// JetStream stopping too).
func (c *client) mqttEndSession(shutdown bool) {
	sess := c.mq.sess
	if sess == nil || shutdown {
		return
	}
	if sess.persist && !(c.mq.v5 && sess.expiry == 0) {
		return
	}
	// Not persistent, or an MQTT 5 DISCONNECT set its expiry to 0.
	c.mq.ma.deleteSession(sess)
	c.mq.ma.purgeQoS2(c.mq.clientID)
}

// mqttNewConsumer creates the durable consumer of a QoS 1/2 subscription
// on subject, configured as the reference's. A shared subscription's
// group (MQTT 5) has one consumer for all its members, named after the
// group and subject (mqttSharedName) and delivering to the group, so that
// each message goes to one member and, unacknowledged, comes again to
// whichever member the queue group picks.
func (c *client) mqttNewConsumer(subject, group string) (*ConsumerConfig, error) {
	mq := c.mq
	mo := c.srv.getOpts().MQTT
	name, deliver := "", ""
	if group != "" {
		name = mqttSharedName(group, subject)
		deliver = mqttDeliverPrefix + name
		var info struct {
			Config *ConsumerConfig `json:"config"`
		}
		if mq.ma.apiCall("$JS.API.CONSUMER.INFO."+mqttMsgsStream+"."+name, nil, &info) == nil && info.Config != nil {
			return info.Config, nil // another member made it
		}
	} else {
		nuid := randToken(14)
		name, deliver = mq.sess.hash+"_"+nuid, mqttDeliverPrefix+nuid
	}
	cfg := map[string]any{
		"durable_name":    name,
		"deliver_policy":  "new",
		"ack_policy":      "explicit",
		"ack_wait":        mo.ackWait(),
		"filter_subject":  mqttMsgsPrefix + subject,
		"replay_policy":   "instant",
		"max_ack_pending": mo.maxAckPending(),
		"deliver_subject": deliver,
	}
	if group != "" {
		cfg["deliver_group"] = group
	}
	if mo.ConsumerMemoryStorage {
		cfg["mem_storage"] = true
	}
	switch {
	case mo.ConsumerInactiveThreshold > 0:
		cfg["inactive_threshold"] = mo.ConsumerInactiveThreshold
	case !mq.sess.persist && group == "":
		// Removed when the connection ends; this only covers a crash.
		cfg["inactive_threshold"] = time.Hour
	}
	b, _ := json.Marshal(map[string]any{"stream_name": mqttMsgsStream, "config": cfg})
	var resp struct {
		Config *ConsumerConfig `json:"config"`
	}
	if err := mq.ma.apiCall("$JS.API.CONSUMER.CREATE."+mqttMsgsStream+"."+name, b, &resp); err != nil {
		return nil, err
	}
	return resp.Config, nil
}

// mqttSharedName is the durable name of a shared subscription's consumer:
// "sh_" and the hashes of its group and subject.
func mqttSharedName(group, subject string) string {
	return "sh_" + mqttHash(group) + mqttHash(subject)
}

// mqttEnsureConsumer checks that a resumed subscription's consumer still
// exists, creating it again when it does not.
func (c *client) mqttEnsureConsumer(subject string, ss *mqttSessSub) error {
	if ss.cons != nil {
		err := c.mq.ma.apiCall("$JS.API.CONSUMER.INFO."+mqttMsgsStream+"."+ss.cons.Durable, nil, nil)
		if err == nil {
			return nil
		}
	}
	cfg, err := c.mqttNewConsumer(subject, ss.queue)
	if err != nil {
		return err
	}
	ss.cons = cfg
	return nil
}

// releaseConsumer deletes the consumer of a subscription that ends,
// unless it is a shared subscription's and other members still listen.
// The caller has removed its own subscriptions first.
func (ma *mqttAccount) releaseConsumer(ss *mqttSessSub) {
	if ss.cons == nil {
		return
	}
	if ss.queue != "" && ma.hasInterest(ss.cons.DeliverSubject) {
		return
	}
	ma.deleteConsumer(ss.cons.Durable)
}

// mqttSubscribeSubject adds the subscriptions of one session entry: the
// subject itself (messages from NATS and QoS 0 publishers) and, for QoS
// 1/2, the deliver subject of its consumer. A consumer is created when
// ss has none (new) or lost its own (resumed).
func (c *client) mqttSubscribeSubject(key, subject string, ss *mqttSessSub, opts *mqttSub) error {
	resumed := opts == nil
	if resumed {
		opts = &mqttSub{}
	}
	ms := *opts
	ms.qos = ss.qos
	ms.wildRoot = len(subject) > 0 && (subject[0] == '*' || subject[0] == '>')
	c.mqttRemoveSubs(key)
	if err := c.mqttAddSub(&subscription{client: c, subject: subject, queue: ss.queue, sid: key, mqtt: &ms}); err != nil {
		return err
	}
	if ss.qos == 0 {
		return nil
	}
	if err := c.mqttEnsureConsumer(subject, ss); err != nil {
		return err
	}
	js := ms
	js.js = true
	if err := c.mqttAddSub(&subscription{client: c, subject: ss.cons.DeliverSubject, queue: ss.queue, sid: key + " js", mqtt: &js}); err != nil {
		return err
	}
	if resumed && ss.queue == "" { // a group's pending messages may be with other members
		c.mq.ma.nakPending(ss.cons.Durable)
	}
	return nil
}

// nakPending makes the unacknowledged deliveries of a resumed session's
// consumer due at once: MQTT sends them again when the session resumes
// (3.1.1 section 4.4), not ack_wait later. The consumer's pending set is
// read under its lock; the NAKs go through its ack subjects.
func (ma *mqttAccount) nakPending(name string) {
	js := ma.s.js.Load()
	if js == nil {
		return
	}
	ja := js.lookupAccount(ma.acc.Name)
	if ja == nil {
		return
	}
	cons, apiErr := ja.lookupConsumer(mqttMsgsStream, name)
	if apiErr != nil {
		return
	}
	cons.mu.Lock()
	pairs := make([]SequencePair, 0, len(cons.state.pending))
	for seq, p := range cons.state.pending {
		pairs = append(pairs, SequencePair{Consumer: p.Sequence, Stream: seq})
	}
	cons.mu.Unlock()
	for _, sp := range pairs {
		ack := "$JS.ACK." + mqttMsgsStream + "." + name + ".1." + strconv.FormatUint(sp.Stream, 10) + "." +
			strconv.FormatUint(sp.Consumer, 10) + ".0.0"
		ma.s.PublishInternal(ma.acc, ack, "", nil, mqttNak)
	}
}

// mqttAddSub inserts one subscription of the connection.
func (c *client) mqttAddSub(sub *subscription) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.subs[sub.sid] = sub
	acc := c.acc
	c.mu.Unlock()
	if err := c.srv.addSubInterest(acc, sub); err != nil {
		c.mu.Lock()
		delete(c.subs, sub.sid)
		c.mu.Unlock()
		return err
	}
	return nil
}

// mqttRemoveSubs removes the subscriptions of a session entry.
func (c *client) mqttRemoveSubs(key string) {
	for _, sid := range [2]string{key, key + " js"} {
		c.mu.Lock()
		sub := c.subs[sid]
		delete(c.subs, sid)
		acc := c.acc
		c.mu.Unlock()
		if sub != nil {
			sub.closed.Store(true)
			c.srv.removeSubInterest(acc, sub)
		}
	}
}

// mqttSubscribe handles SUBSCRIBE (sub) and UNSUBSCRIBE.
func (c *client) mqttSubscribe(sub bool, body []byte) error {
	mq := c.mq
	pi, props, filters, err := mqttParseSubscribe(body, mq.v5, sub)
	if err != nil {
		return mqttErr("%v", err)
	}
	codes := make([]byte, 0, len(filters))
	var granted []mqttGranted
	for _, f := range filters {
		if !sub {
			codes = append(codes, c.mqttUnsubscribeFilter(string(f.filter)))
			continue
		}
		code, subjects := c.mqttSubscribeFilter(f, props.subscriptionID)
		codes = append(codes, code)
		if code <= 2 {
			granted = append(granted, mqttGranted{f, code, subjects})
		}
	}
	mq.ma.storeSession(mq.clientID, mq.sess)
	typ := byte(mqttPacketSubAck)
	if !sub {
		typ = mqttPacketUnsubAck
	}
	b := []byte{typ}
	rl := 2 + len(codes)
	if mq.v5 {
		rl++ // empty properties
	} else if !sub {
		codes = codes[:0]
		rl = 2
	}
	b = mqttAppendVarInt(b, rl)
	b = mqttAppendUint16(b, pi)
	if mq.v5 {
		b = append(b, 0)
	}
	b = append(b, codes...)
	c.mqttSend(b)
	for _, g := range granted {
		c.mqttSendRetained(g)
	}
	return nil
}

// mqttGranted is a filter just subscribed, for its retained messages.
type mqttGranted struct {
	f        mqttFilter
	qos      byte
	subjects []string
}

// mqttShared splits an MQTT 5 shared subscription "$share/<group>/<filter>".
func mqttShared(filter string) (group, rest string, ok bool) {
	after, found := strings.CutPrefix(filter, "$share/")
	if !found {
		return "", filter, false
	}
	group, rest, ok = strings.Cut(after, "/")
	if !ok || group == "" || rest == "" || strings.ContainsAny(group, "+#") {
		return "", "", true
	}
	return group, rest, true
}

// mqttSubscribeFilter subscribes one filter, returning the granted QoS or
// a failure code (0x80; MQTT 5 more precise ones).
func (c *client) mqttSubscribeFilter(f mqttFilter, subID int) (byte, []string) {
	mq := c.mq
	filter := string(f.filter)
	group, filter, shared := mqttShared(filter)
	if shared && (!mq.v5 || filter == "") {
		return mqttSubFailure(mq.v5, 0x8f), nil // topic filter invalid
	}
	subjects, err := mqttFilterSubjects([]byte(filter))
	if err != nil {
		return mqttSubFailure(mq.v5, 0x8f), nil
	}
	for _, subj := range subjects {
		if !c.canSubscribe(subj, group) {
			c.srv.Errorf("%s - mqtt: Subscription Violation - %q", c.logPrefix(), subj)
			return mqttSubFailure(mq.v5, 0x87), nil
		}
	}
	qos := min(f.qos, 2)
	opts := &mqttSub{noLocal: f.opts&0x04 != 0, rap: f.opts&0x08 != 0, subID: subID}
	for _, subj := range subjects {
		key := subj
		if group != "" {
			key += " " + group
		}
		ss := &mqttSessSub{qos: qos, queue: group}
		if old := mq.sess.subs[key]; old != nil && old.cons != nil {
			if old.qos > 0 && qos > 0 {
				ss.cons = old.cons
			} else {
				c.mqttRemoveSubs(key)
				mq.ma.releaseConsumer(old)
			}
		}
		if err := c.mqttSubscribeSubject(key, subj, ss, opts); err != nil {
			c.srv.Errorf("%s - mqtt: unable to subscribe to %q: %v", c.logPrefix(), subj, err)
			return mqttSubFailure(mq.v5, 0x80), nil
		}
		mq.sess.subs[key] = ss
	}
	if group != "" {
		return qos, nil // shared subscriptions get no retained messages
	}
	return qos, subjects
}

// mqttSubFailure is SUBACK's failure code: 0x80 in 3.1.1, code in 5.
func mqttSubFailure(v5 bool, code byte) byte {
	if v5 {
		return code
	}
	return 0x80
}

// mqttUnsubscribeFilter removes one filter's subscriptions and consumers;
// the MQTT 5 reason code says whether there was one.
func (c *client) mqttUnsubscribeFilter(filter string) byte {
	mq := c.mq
	group, filter, _ := mqttShared(filter)
	subjects, err := mqttFilterSubjects([]byte(filter))
	if err != nil {
		return 0x8f
	}
	code := byte(0x11) // no subscription existed
	for _, subj := range subjects {
		key := subj
		if group != "" {
			key += " " + group
		}
		ss := mq.sess.subs[key]
		if ss == nil {
			continue
		}
		code = 0
		c.mqttRemoveSubs(key)
		mq.ma.releaseConsumer(ss)
		delete(mq.sess.subs, key)
	}
	return code
}
