package server

// Incoming QoS 2: "exactly once" from MQTT publishers, across reconnects
// and restarts. As the reference does, a QoS 2 PUBLISH is not delivered
// when it arrives: it is stored in $MQTT_qos2in at
//
//	$MQTT.qos2.in.<client id>.<packet identifier>
//
// with the header block
//
//	NATS/1.0
//	Nmqtt-Pub: <QoS digit><PUBLISH flag nibble in hex>   e.g. "24", "25" retained, "2c" dup (the reference's)
//	Nmqtt-Subject: <NATS subject>                        (the reference's)
//	Nmqtt-Reply: <reply subject>                         (ours: an MQTT 5 response topic)
//	<the MQTT 5 property headers of mqtt_pub.go>         (ours)
//
// and PUBREC goes out once JetStream has it. The stream keeps one message
// per subject and discards new ones, so a PUBLISH sent again (DUP, or
// after a restart) before its PUBREL is refused by the stream and only
// answered with PUBREC again. PUBREL releases it: the stored message is
// read back, delivered (to NATS subscribers and into $MQTT_msgs with
// "Nats-Msg-Id: q2-<its $MQTT_qos2in sequence>", so a crash before the
// removal does not store it twice), removed, and PUBCOMP answers. A PUBREL
// for nothing stored (already released) is answered with PUBCOMP too.
//
// The connection holds each message it stored in memory too (up to
// mqttMaxHeld of them), with its $MQTT_qos2in sequence once the PubAck
// gives it, so that a PUBREL on the same connection releases it without
// reading it back and without waiting in the reader: it is delivered at
// once, its store into $MQTT_msgs answers to "<prefix>Q2.<cid>.<pi>.<seq>",
// which removes it from $MQTT_qos2in, whose answer to
// "<prefix>Q2D.<cid>.<pi>.<seq>" sends PUBCOMP. A PUBREL on another
// connection (after a reconnect or a restart) reads the message back.

import (
	"encoding/json"
	"strconv"
	"strings"
)

const (
	mqttQoS2InPrefix = "$MQTT.qos2.in."
	mqttHdrSubject   = "Nmqtt-Subject"
	mqttHdrReply     = "Nmqtt-Reply"
)

// mqttValidClientID reports whether a client id can be a subject token
// (of $MQTT.qos2.in.<client id>.<pi>): the reference refuses the others
// with CONNACK 2 (identifier rejected).
func mqttValidClientID(id string) bool {
	return !strings.ContainsAny(id, ".*> \t\r\n")
}

// mqttStoreQoS2 stores a QoS 2 PUBLISH in $MQTT_qos2in; the PubAck's
// reply sends PUBREC (mqttAccount.pubAcked). It reports false when the
// stream is missing (deleted under us), for the caller to deliver at once.
func (c *client) mqttStoreQoS2(p *mqttPublish, subject string, reply, hdr []byte) bool {
	mq := c.mq
	b := append([]byte(nil), "NATS/1.0\r\n"...)
	b = appendHeader(b, mqttHdrPub, "2"+strconv.FormatUint(uint64(p.flags&0x0f), 16))
	b = appendHeader(b, mqttHdrSubject, subject)
	if len(reply) > 0 {
		b = appendHeader(b, mqttHdrReply, string(reply))
	}
	b, _ = appendHeaderLinesExcept(b, hdr, func(k string) bool { return k == mqttHdrPub })
	b = append(b, '\r', '\n')
	stored := mqttQoS2InPrefix + mq.clientID + "." + strconv.Itoa(int(p.pi))
	mq.abuf = mq.ma.appendPubAckReply(mq.abuf[:0], c.cid, p.pi, 2)
	held := c.mqttHold(p, b)
	r := c.match(stored)
	defer c.rc.release(r)
	found := c.deliverResult(r, stored, mq.abuf, b, p.payload)
	if !found && held {
		c.mu.Lock()
		delete(mq.held, p.pi)
		c.mu.Unlock()
	}
	return found
}

// mqttQoS2Held is an incoming QoS 2 message held from its store to its
// PUBREL: how to deliver it, and its $MQTT_qos2in sequence (0 until the
// PubAck gives it).
type mqttQoS2Held struct {
	rec     mqttQoS2Record
	payload []byte
	seq     uint64
}

// mqttMaxHeld bounds the QoS 2 messages a connection holds in memory;
// the others are read back on PUBREL.
const mqttMaxHeld = 1024

// mqttHold keeps a QoS 2 message being stored (stored, its header in
// $MQTT_qos2in) for its PUBREL; false when it is not kept (too many, or
// the packet identifier already holds one: a PUBLISH sent again).
func (c *client) mqttHold(p *mqttPublish, stored []byte) bool {
	rec, ok := mqttParseQoS2Record(stored)
	if !ok {
		return false
	}
	h := &mqttQoS2Held{rec: rec, payload: append([]byte(nil), p.payload...)}
	c.mu.Lock()
	defer c.mu.Unlock()
	mq := c.mq
	if _, dup := mq.held[p.pi]; dup || len(mq.held) >= mqttMaxHeld {
		return false
	}
	if mq.held == nil {
		mq.held = map[uint16]*mqttQoS2Held{}
	}
	mq.held[p.pi] = h
	return true
}

// mqttHeldStored records the $MQTT_qos2in sequence of a held message from
// its PubAck; a store that failed leaves it to be read back.
func (c *client) mqttHeldStored(pi uint16, msg []byte) {
	var ack struct {
		Seq uint64 `json:"seq"`
	}
	if jsonHasError(msg) || json.Unmarshal(msg, &ack) != nil {
		ack.Seq = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.mq.held[pi]; h != nil {
		if ack.Seq == 0 {
			delete(c.mq.held, pi)
		} else {
			h.seq = ack.Seq
		}
	}
}

// mqttTakeHeld takes the held message of a PUBREL, nil when it is not
// held with its sequence.
func (c *client) mqttTakeHeld(pi uint16) *mqttQoS2Held {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.mq.held[pi]
	delete(c.mq.held, pi)
	if h == nil || h.seq == 0 {
		return nil
	}
	return h
}

// mqttReleaseHeld releases a held message without waiting: delivered
// now, stored into $MQTT_msgs, then removed and PUBCOMP (releasedStored,
// releasedRemoved).
func (c *client) mqttReleaseHeld(pi uint16, h *mqttQoS2Held) {
	ma := c.mq.ma
	c.mqttDeliverRecord(&h.rec, h.payload)
	ids := strconv.FormatUint(c.cid, 10) + "." + strconv.Itoa(int(pi)) + "." + strconv.FormatUint(h.seq, 10)
	if !ma.hasInterest(mqttMsgsPrefix + h.rec.subject) {
		ma.removeReleased(ids, h.seq)
		return
	}
	stored := setHeader(h.rec.hdr, "Nats-Msg-Id", "q2-"+strconv.FormatUint(h.seq, 10))
	ma.s.PublishInternal(ma.acc, mqttMsgsPrefix+h.rec.subject, ma.prefix+"Q2."+ids, stored, h.payload)
}

// releasedStored answers the store of a released message into
// $MQTT_msgs ("<cid>.<pi>.<seq>"): it is removed from $MQTT_qos2in. A
// failed store sends no PUBCOMP: the client's PUBREL comes again.
func (ma *mqttAccount) releasedStored(ids string, msg []byte) {
	_, _, seq, ok := mqttParseIDs(ids)
	if !ok {
		return
	}
	if jsonHasError(msg) {
		ma.s.Warnf("MQTT: unable to store the released QoS 2 message %s: %s", ids, msg)
		return
	}
	ma.removeReleased(ids, seq)
}

// removeReleased removes a released message from $MQTT_qos2in, as the
// reference (no_erase), answered to releasedRemoved.
func (ma *mqttAccount) removeReleased(ids string, seq uint64) {
	req := []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `,"no_erase":true}`)
	ma.s.PublishInternal(ma.acc, ma.api+"STREAM.MSG.DELETE."+mqttQoS2InStream, ma.prefix+"Q2D."+ids, nil, req)
}

// releasedRemoved sends PUBCOMP once a released message is removed.
func (ma *mqttAccount) releasedRemoved(ids string, msg []byte) {
	cid, pi, _, ok := mqttParseIDs(ids)
	if !ok || pi > 0xffff {
		return
	}
	if jsonHasError(msg) {
		ma.s.Warnf("MQTT: unable to remove the released QoS 2 message %s: %s", ids, msg)
		return
	}
	if c := ma.client(cid); c != nil {
		c.mqttSendAck(mqttPacketPubComp, uint16(pi), 0)
	}
}

// mqttReleaseQoS2 handles PUBREL: the stored message is delivered and
// removed, then PUBCOMP. When JetStream cannot be reached no PUBCOMP is
// sent, so that the client sends PUBREL again (after reconnecting).
func (c *client) mqttReleaseQoS2(pi uint16) {
	if h := c.mqttTakeHeld(pi); h != nil {
		c.mqttReleaseHeld(pi, h)
		return
	}
	mq := c.mq
	ma := mq.ma
	m, err := ma.getMsg(mqttQoS2InStream, mqttQoS2InPrefix+mq.clientID+"."+strconv.Itoa(int(pi)), 0, false)
	if err != nil {
		c.srv.Warnf("%s - mqtt: unable to read the QoS 2 message %d: %v", c.logPrefix(), pi, err)
		return
	}
	if m != nil {
		if err := c.mqttDeliverReleased(m); err != nil {
			c.srv.Warnf("%s - mqtt: unable to release the QoS 2 message %d: %v", c.logPrefix(), pi, err)
			return
		}
	}
	c.mqttAckIn(mqttPacketPubComp, pi, 0)
}

// mqttDeliverReleased delivers a message read back from $MQTT_qos2in as
// its PUBLISH would have been, then removes it.
func (c *client) mqttDeliverReleased(m *storedMsg) error {
	ma := c.mq.ma
	rec, ok := mqttParseQoS2Record(m.Header)
	if !ok {
		return ma.deleteMsg(mqttQoS2InStream, m.Seq) // not ours to deliver
	}
	c.mqttDeliverRecord(&rec, m.Data)
	stored := setHeader(rec.hdr, "Nats-Msg-Id", "q2-"+strconv.FormatUint(m.Seq, 10))
	if err := ma.apiCallMsg(mqttMsgsPrefix+rec.subject, stored, m.Data, nil); err != nil && err != errMQTTNoStream {
		return err
	}
	return ma.deleteMsg(mqttQoS2InStream, m.Seq)
}

// mqttDeliverRecord delivers a released message to NATS subscribers
// (and plain MQTT ones) and retains it if it was published retained.
func (c *client) mqttDeliverRecord(rec *mqttQoS2Record, data []byte) {
	r := c.match(rec.subject)
	c.deliverResult(r, rec.subject, []byte(rec.reply), rec.hdr, data)
	c.rc.release(r)
	if rec.flags&mqttPubFlagRetain != 0 {
		c.mq.ma.retain(rec.subject, string(mqttSubjectToTopic(nil, rec.subject)), 2, data, mqttExpiry(rec.hdr))
	}
}

// mqttQoS2Record is a $MQTT_qos2in message's header decoded: where and
// how to deliver it, and the header to deliver it with.
type mqttQoS2Record struct {
	subject string
	reply   string
	flags   byte   // the PUBLISH flag nibble
	hdr     []byte // Nmqtt-Pub: 2 and the MQTT 5 property headers
}

// mqttParseQoS2Record decodes a stored QoS 2 message's header (written by
// mqttStoreQoS2 or by the reference); ok is false without a valid subject.
func mqttParseQoS2Record(stored []byte) (rec mqttQoS2Record, ok bool) {
	subject, _ := headerValue(stored, mqttHdrSubject)
	if !IsValidLiteralSubject(subject) {
		return rec, false
	}
	rec.subject = strings.Clone(subject)
	if v, _ := headerValue(stored, mqttHdrPub); len(v) == 2 {
		if n, err := strconv.ParseUint(v[1:], 16, 8); err == nil {
			rec.flags = byte(n)
		}
	}
	if reply, _ := headerValue(stored, mqttHdrReply); IsValidSubject(reply) {
		rec.reply = strings.Clone(reply)
	}
	hdr := append([]byte(nil), "NATS/1.0\r\n"+mqttHdrPub+":2\r\n"...)
	hdr, _ = appendHeaderLinesExcept(hdr, stored, func(k string) bool {
		return k == mqttHdrPub || k == mqttHdrSubject || k == mqttHdrReply
	})
	rec.hdr = append(hdr, '\r', '\n')
	return rec, true
}

// deleteMsg removes one message of stream, as the reference removes a
// released QoS 2 message (no_erase: a removal, not a secure erase).
func (ma *mqttAccount) deleteMsg(stream string, seq uint64) error {
	req, _ := json.Marshal(map[string]any{"seq": seq, "no_erase": true})
	return ma.apiCall("$JS.API.STREAM.MSG.DELETE."+stream, req, nil)
}

// purgeQoS2 removes the QoS 2 messages a client id stored and never
// released, when its session is discarded.
func (ma *mqttAccount) purgeQoS2(clientID string) {
	req, _ := json.Marshal(map[string]string{"filter": mqttQoS2InPrefix + clientID + ".>"})
	_ = ma.apiCall("$JS.API.STREAM.PURGE."+mqttQoS2InStream, req, nil)
}
