package server

// MQTT 5 session expiry and will delay, across restarts. When the
// connection of a persistent MQTT 5 session ends, its session expiry
// interval starts (the session is removed once it passes) and a will with
// a delay interval waits for it (at most until the session ends); both
// stop when the client id connects again. The timers live in the account
// (mqttAccount.timers, keyed by client id); what they need survives a
// restart in the session record (mqtt_session.go), in fields the
// reference does not write and ignores when it reads the record:
//
//	"expiry": <session expiry interval, seconds; 4294967295 never>
//	"disconnected": "<RFC 3339 time its last connection ended>"
//	"will": {"topic": "<MQTT topic>", "payload": "<base64>", "qos": <0-2>,
//	         "retain": <bool>, "hdr": "<base64 NATS header of its properties>",
//	         "reply": "<response topic as a subject>", "expiry": <message expiry>,
//	         "due": "<RFC 3339 time it is published>"}
//
// "disconnected" and "will" are written when the connection ends and
// removed when the session is resumed. A server with peers (cluster,
// gateway, leaf nodes: its MQTT state may be shared) carries on only the
// records it wrote ("origin", the hash of its server_name), and a session
// resumed on another server than the one that wrote its record is written
// again, so that a restart of the first does not remove a session now
// connected elsewhere. When the account's MQTT state is
// set up after a restart (at start for the accounts whose $MQTT_sess is
// in this server's JetStream, else at their first MQTT connection), the
// records are read back: a session whose interval has passed is removed,
// the others get the timer of what remains; a session that was connected
// when the server stopped counts as disconnected at the restart. A will
// whose time passed while the server was down is published at once, late
// rather than lost (and before its session is removed); one still waiting
// gets the timer of what remains. A will whose delay reaches the end of
// its session is published by the session's expiry, just before the
// removal, so that nothing stores the record after it is gone.

import (
	"encoding/json"
	"strconv"
	"time"
)

// mqttTimers are the pending timers of one disconnected client id.
type mqttTimers struct {
	expiry *time.Timer // removes the session (publishing a will left to it)
	will   *time.Timer // publishes the delayed will
	sess   *mqttSession
	// pending is the will not published yet: taken, under mqttAccount.mu,
	// by whichever timer publishes it.
	pending *mqttWill
}

// mqttWillRecord is a delayed will in the session record (see above).
type mqttWillRecord struct {
	Topic   string    `json:"topic"`
	Payload []byte    `json:"payload,omitempty"`
	QoS     byte      `json:"qos,omitempty"`
	Retain  bool      `json:"retain,omitempty"`
	Header  []byte    `json:"hdr,omitempty"`
	Reply   string    `json:"reply,omitempty"`
	Expiry  uint32    `json:"expiry,omitempty"`
	Due     time.Time `json:"due"`
}

// stopTimers cancels what waits for a client id that connects again:
// its session is resumed and its delayed will is not published.
func (ma *mqttAccount) stopTimers(clientID string) {
	ma.mu.Lock()
	t := ma.timers[clientID]
	delete(ma.timers, clientID)
	ma.mu.Unlock()
	if t == nil {
		return
	}
	if t.expiry != nil {
		t.expiry.Stop()
	}
	if t.will != nil {
		t.will.Stop()
	}
}

// stopAllTimers stops every timer of the account, the server stopping.
func (ma *mqttAccount) stopAllTimers() {
	ma.mu.Lock()
	ids := make([]string, 0, len(ma.timers))
	for id := range ma.timers {
		ids = append(ids, id)
	}
	ma.mu.Unlock()
	for _, id := range ids {
		ma.stopTimers(id)
	}
}

// timersFor returns the timers of a client id, created. Lock held.
func (ma *mqttAccount) timersFor(clientID string, sess *mqttSession) *mqttTimers {
	if ma.timers == nil {
		ma.timers = map[string]*mqttTimers{}
	}
	t := ma.timers[clientID]
	if t == nil {
		t = &mqttTimers{}
		ma.timers[clientID] = t
	}
	t.sess = sess
	return t
}

// connected reports whether a connection holds the client id now.
func (ma *mqttAccount) connected(clientID string) bool {
	ma.mu.Lock()
	defer ma.mu.Unlock()
	return ma.byID[clientID] != nil
}

// mqttExpires reports whether a session's end waits for a timer: a
// persistent MQTT 5 session with a finite expiry interval.
func mqttExpires(sess *mqttSession) bool {
	return sess != nil && sess.persist && sess.expiry != 0 && sess.expiry != mqttNeverExpires
}

// mqttWillDelay is how long the will of a connection that just ended
// waits: its delay interval, at most until the session ends (at once for
// a session that ends with the connection).
func (c *client) mqttWillDelay() time.Duration {
	mq := c.mq
	if !mq.v5 || mq.will == nil || mq.will.delay == 0 || mq.sess == nil || !mq.sess.persist {
		return 0
	}
	d := mq.will.delay
	if mq.sess.expiry != mqttNeverExpires {
		d = min(d, mq.sess.expiry)
	}
	return time.Duration(d) * time.Second
}

// mqttDisconnected starts what follows the end of a connection whose
// will is due (publish set): the will, at once or after its delay, and
// the session's expiry; both are written into the session record first,
// for a restart to carry on.
func (c *client) mqttDisconnected(publish bool) {
	mq := c.mq
	ma, id, sess := mq.ma, mq.clientID, mq.sess
	var d time.Duration
	if publish {
		if d = c.mqttWillDelay(); d == 0 {
			ma.publishWill(mq.will)
		}
	}
	if !mq.v5 || sess == nil || !sess.persist || (d == 0 && !mqttExpires(sess)) {
		return
	}
	now := time.Now()
	sess.disconnected = now
	if d > 0 {
		sess.will, sess.willDue = mq.will, now.Add(d)
	}
	ma.storeSession(id, sess)
	ma.startTimers(id, sess, now)
}

// startTimers starts the will and expiry timers of a disconnected
// session, its expiry counted from since.
func (ma *mqttAccount) startTimers(id string, sess *mqttSession, since time.Time) {
	expires := mqttExpires(sess)
	var left time.Duration
	if expires {
		left = time.Until(since.Add(time.Duration(sess.expiry) * time.Second))
	}
	ma.mu.Lock()
	defer ma.mu.Unlock()
	t := ma.timersFor(id, sess)
	t.pending = sess.will
	if sess.will != nil && (!expires || sess.willDue.Before(since.Add(time.Duration(sess.expiry)*time.Second))) {
		t.will = time.AfterFunc(max(time.Until(sess.willDue), 0), func() { ma.willDue(id) })
	}
	if expires {
		t.expiry = time.AfterFunc(max(left, 0), func() { ma.sessionExpired(id) })
	}
}

// willDue publishes a delayed will, unless the client id connected again
// or the session's expiry took it, and removes it from the record.
func (ma *mqttAccount) willDue(id string) {
	ma.mu.Lock()
	t := ma.timers[id]
	var w *mqttWill
	var sess *mqttSession
	if t != nil && ma.byID[id] == nil {
		w, sess = t.pending, t.sess
		t.will, t.pending = nil, nil
	}
	ma.mu.Unlock()
	if w == nil {
		return
	}
	ma.publishWill(w)
	sess.will = nil // the timers' own copy of the session
	ma.storeSession(id, sess)
}

// sessionExpired removes a session whose expiry interval passed, its
// client id still away, publishing its will first when that waited as
// long as the session.
func (ma *mqttAccount) sessionExpired(id string) {
	ma.mu.Lock()
	t := ma.timers[id]
	fire := t != nil && t.expiry != nil && ma.byID[id] == nil
	var w *mqttWill
	var sess *mqttSession
	if fire {
		delete(ma.timers, id)
		sess, w = t.sess, t.pending
		if t.will != nil {
			t.will.Stop() // not run: its will is published below
		}
	}
	ma.mu.Unlock()
	if !fire {
		return
	}
	if w != nil {
		ma.publishWill(w)
	}
	ma.deleteSession(sess)
	ma.purgeQoS2(id)
}

// publishWill publishes a will message as its PUBLISH would have been.
func (ma *mqttAccount) publishWill(w *mqttWill) {
	subj, err := mqttTopicToSubject(nil, w.topic, false)
	if err != nil {
		return
	}
	subject := string(subj)
	hdr := w.hdr // MQTT 5: with its properties (mqttWillProps)
	if hdr == nil {
		hdr = []byte("NATS/1.0\r\n" + mqttHdrPub + ":" + strconv.Itoa(int(w.qos)) + "\r\n\r\n")
	}
	ma.s.PublishInternal(ma.acc, subject, string(w.reply), hdr, w.payload)
	if w.qos > 0 {
		ma.publishNoReply(mqttMsgsPrefix+subject, hdr, w.payload)
	}
	if w.retain {
		ma.retain(subject, string(w.topic), w.qos, w.payload, w.expiry)
	}
}

// willRecord and willFromRecord convert a delayed will to and from its
// place in the session record.
func willRecord(w *mqttWill, due time.Time) *mqttWillRecord {
	return &mqttWillRecord{Topic: string(w.topic), Payload: w.payload, QoS: w.qos, Retain: w.retain,
		Header: w.hdr, Reply: string(w.reply), Expiry: w.expiry, Due: due.UTC()}
}

// willFromRecord trusts nothing of a record anyone with access to the
// stream may have written: the QoS is at most 2, the header is rebuilt
// as a well-formed block of its lines, a reply that is no subject is
// dropped (a topic that is none is dropped by publishWill).
func willFromRecord(r *mqttWillRecord) *mqttWill {
	w := &mqttWill{topic: []byte(r.Topic), payload: r.Payload, qos: min(r.QoS, 2), retain: r.Retain, expiry: r.Expiry}
	if len(r.Header) > 0 {
		hdr, _ := appendHeaderLinesExcept([]byte("NATS/1.0\r\n"), r.Header, func(string) bool { return false })
		w.hdr = append(hdr, '\r', '\n')
	}
	if IsValidSubject(r.Reply) {
		w.reply = []byte(r.Reply)
	}
	return w
}

// mqttRestoreAccounts sets up, at start, the MQTT state of the accounts
// whose $MQTT_sess is in this server's JetStream, so that the timers of
// their sessions carry on without waiting for a connection.
func (s *Server) mqttRestoreAccounts() {
	js := s.js.Load()
	if js == nil || mqttAPIPrefix(s.getOpts()) != "$JS.API." {
		return
	}
	for _, ja := range js.accounts() {
		if ja.lookupStream(mqttSessStream) == nil || s.isShuttingDown() {
			continue
		}
		if _, err := s.mqttAccountFor(ja.acc); err != nil {
			s.Warnf("MQTT: unable to restore the sessions of account %q: %v", ja.acc.Name, err)
		}
	}
}

// restoreTimers reads the account's session records back after a start
// (see above): expired sessions are removed, the others and their
// delayed wills get timers. Called while the account is set up, before
// any connection of it is served.
func (ma *mqttAccount) restoreTimers() error {
	seq, started := uint64(1), time.Now()
	mine := mqttHash(ma.s.Name())
	alone := mqttStandalone(ma.s.getOpts())
	for n := 0; n < 10_000_000; n++ {
		m, err := ma.getMsg(mqttSessStream, ma.sessPrefix+">", seq, true)
		if err != nil || m == nil {
			return err
		}
		seq = m.Seq + 1
		var rec mqttSessionRecord
		if json.Unmarshal(m.Data, &rec) != nil || rec.Expiry == 0 || rec.ID == "" {
			continue // the reference's or MQTT 3.1.1: no timers
		}
		if !alone && rec.Origin != mine {
			continue // another server's session: its client may be connected there
		}
		ma.restoreSession(&rec, started)
	}
	return nil
}

// restoreSession carries on the timers of one stored MQTT 5 session.
func (ma *mqttAccount) restoreSession(rec *mqttSessionRecord, started time.Time) {
	sess := mqttSessionFromRecord(rec)
	since := started
	if rec.Disconnected != nil {
		since = *rec.Disconnected
	}
	if rec.Will != nil {
		sess.will, sess.willDue = willFromRecord(rec.Will), rec.Will.Due
	}
	expired := mqttExpires(sess) && !started.Before(since.Add(time.Duration(sess.expiry)*time.Second))
	if sess.will != nil && (expired || !sess.willDue.After(started)) {
		ma.publishWill(sess.will) // due while the server was down
		sess.will = nil
		if !expired {
			ma.storeSession(rec.ID, sess)
		}
	}
	if expired {
		ma.deleteSession(sess)
		ma.purgeQoS2(rec.ID)
		return
	}
	ma.startTimers(rec.ID, sess, since)
}
