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
	r := c.match(stored)
	defer c.rc.release(r)
	return c.deliverResult(r, stored, mq.abuf, b, p.payload)
}

// mqttReleaseQoS2 handles PUBREL: the stored message is delivered and
// removed, then PUBCOMP. When JetStream cannot be reached no PUBCOMP is
// sent, so that the client sends PUBREL again (after reconnecting).
func (c *client) mqttReleaseQoS2(pi uint16) {
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
	r := c.match(rec.subject)
	c.deliverResult(r, rec.subject, []byte(rec.reply), rec.hdr, m.Data)
	c.rc.release(r)
	if rec.flags&mqttPubFlagRetain != 0 {
		ma.retain(rec.subject, string(mqttSubjectToTopic(nil, rec.subject)), 2, m.Data, mqttExpiry(rec.hdr))
	}
	stored := setHeader(rec.hdr, "Nats-Msg-Id", "q2-"+strconv.FormatUint(m.Seq, 10))
	if err := ma.apiCallMsg(mqttMsgsPrefix+rec.subject, stored, m.Data, nil); err != nil && err != errMQTTNoStream {
		return err
	}
	return ma.deleteMsg(mqttQoS2InStream, m.Seq)
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
