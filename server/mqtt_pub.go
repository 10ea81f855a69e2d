package server

// Messages from MQTT publishers. Every PUBLISH goes to the NATS subject
// of its topic, as a NATS client's PUB would, with the header
// "Nmqtt-Pub:<qos>". QoS 1/2 messages are also stored in $MQTT_msgs at
// "$MQTT.msgs.<subject>", from which the consumers of QoS 1/2 MQTT
// subscriptions deliver them; the PUBACK (QoS 1) or PUBREC (QoS 2) goes
// out once JetStream stored the message. A retained message is stored in
// $MQTT_rmsgs (mqtt_jetstream.go).
//
// MQTT 5 properties travel as NATS headers and back:
//
//	user property <name>: <value>   header "<name>: <value>"
//	response topic                  the message's reply subject
//	correlation data                header "Nmqtt-Corr: <base64>"
//	content type                    header "Nmqtt-Ctype: <type>"
//	payload format indicator 1      header "Nmqtt-Fmt: 1"
//	message expiry interval         header "Nmqtt-Exp: <seconds>" (enforced: mqtt_expiry.go)

import (
	"encoding/base64"
	"strconv"
)

// Header names of MQTT 5 properties.
const (
	mqttHdrCorr  = "Nmqtt-Corr"
	mqttHdrCtype = "Nmqtt-Ctype"
	mqttHdrFmt   = "Nmqtt-Fmt"
	mqttHdrExp   = "Nmqtt-Exp"
)

// mqttPublish handles a PUBLISH from the client.
func (c *client) mqttPublish(flags byte, body []byte) error {
	mq := c.mq
	p := &mq.pub
	if err := mqttParsePublish(flags, body, mq.v5, p); err != nil {
		return mqttErr("%v", err)
	}
	topic, err := c.mqttPubTopic(p)
	if err != nil {
		return err
	}
	qos := p.qos()
	subj, err := mqttTopicToSubject(mq.sbuf[:0], topic, false)
	mq.sbuf = subj
	if err != nil {
		return mqttErr("invalid topic %q: %v", topic, err)
	}
	subject := bytesToString(subj)
	if qos > 0 && mq.v5 && !c.mqttInboundStart(p.pi) {
		return c.mqttReceiveMaximumExceeded() // mqtt_v5.go
	}
	c.pend.inMsgs++
	c.pend.inBytes += int64(len(p.payload))
	if !c.canPublish(subject) {
		c.srv.Errorf("%s - mqtt: Publish Violation - %q", c.logPrefix(), subject)
		if qos > 0 {
			c.mqttAckIn(mqttPacketPubAck+(qos-1)*0x10, p.pi, mqttV5Only(mq.v5, 0x87))
		}
		return nil
	}
	var reply []byte
	if mq.v5 && len(p.props.responseTopic) > 0 {
		r, err := mqttTopicToSubject(nil, p.props.responseTopic, false)
		if err != nil {
			return mqttErr("invalid response topic %q: %v", p.props.responseTopic, err)
		}
		reply = r
	}
	hdr := c.mqttPubHeader(qos, p)
	if c.acc != nil {
		subject = c.acc.mapSubject(&c.mbuf, subject)
		if qos == 2 && c.mqttStoreQoS2(p, subject, reply, hdr) {
			return nil // delivered on PUBREL (mqtt_qos2.go)
		}
		r := c.match(subject)
		c.deliverResult(r, subject, reply, hdr, p.payload)
		c.rc.release(r)
	}
	if p.retain() {
		mq.ma.retain(subject, string(topic), qos, p.payload, p.props.messageExpiry)
	}
	if qos == 0 {
		return nil
	}
	// Stored; the PubAck's reply sends PUBACK/PUBREC (mqttAccount.pubAcked).
	// Both subjects are built in the connection's scratch: the stream and
	// the match cache copy what they keep.
	mq.stbuf = append(append(mq.stbuf[:0], mqttMsgsPrefix...), subject...)
	stored := bytesToString(mq.stbuf)
	if qos == 2 {
		mq.abuf = append(append(mq.abuf[:0], mq.ma.prefix...), "NR"...) // no $MQTT_qos2in: PUBREC below
	} else {
		mq.abuf = mq.ma.appendPubAckReply(mq.abuf[:0], c.cid, p.pi, qos)
	}
	r := c.match(stored)
	found := c.deliverResult(r, stored, mq.abuf, hdr, p.payload)
	c.rc.release(r)
	if !found || qos == 2 {
		// No $MQTT_msgs or $MQTT_qos2in (deleted under us): acknowledge
		// all the same, NATS subscribers got it.
		c.mqttAckIn(mqttPacketPubAck+(qos-1)*0x10, p.pi, 0)
	}
	return nil
}

// mqttV5Only is code for MQTT 5 and 0 (no reason code) for 3.1.1.
func mqttV5Only(v5 bool, code byte) byte {
	if v5 {
		return code
	}
	return 0
}

// mqttPubTopic resolves an MQTT 5 topic alias: a topic with an alias sets
// it, an empty topic uses it.
func (c *client) mqttPubTopic(p *mqttPublish) ([]byte, error) {
	mq := c.mq
	if !mq.v5 || !p.props.present(mqttPropTopicAlias) {
		if len(p.topic) == 0 {
			return nil, mqttErr("empty topic")
		}
		return p.topic, nil
	}
	alias := p.props.topicAlias
	if alias == 0 || alias > mqttMaxTopicAlias {
		return nil, mqttErr("topic alias %d out of range", alias)
	}
	if len(p.topic) > 0 {
		if mq.aliases == nil {
			mq.aliases = map[uint16]string{}
		}
		mq.aliases[alias] = string(p.topic)
		return p.topic, nil
	}
	t, ok := mq.aliases[alias]
	if !ok {
		return nil, mqttErr("unknown topic alias %d", alias)
	}
	return []byte(t), nil
}

// mqttPubHeader builds the NATS header of a PUBLISH in mq.hbuf: the
// publisher's QoS (Nmqtt-Pub, on every message, as the reference) and the
// MQTT 5 properties.
func (c *client) mqttPubHeader(qos byte, p *mqttPublish) []byte {
	mq := c.mq
	pr := &p.props
	b := append(mq.hbuf[:0], "NATS/1.0\r\n"...)
	b = append(b, mqttHdrPub...)
	b = append(b, ':', '0'+qos, '\r', '\n')
	for _, kv := range pr.user {
		if mqttHeaderSafe(kv[0], true) && mqttHeaderSafe(kv[1], false) {
			b = mqttAppendHeader(b, string(kv[0]), kv[1])
		}
	}
	if len(pr.correlationData) > 0 {
		b = mqttAppendHeader(b, mqttHdrCorr, []byte(base64.StdEncoding.EncodeToString(pr.correlationData)))
	}
	if len(pr.contentType) > 0 && mqttHeaderSafe(pr.contentType, false) {
		b = mqttAppendHeader(b, mqttHdrCtype, pr.contentType)
	}
	if pr.payloadFormat == 1 {
		b = mqttAppendHeader(b, mqttHdrFmt, []byte("1"))
	}
	if pr.present(mqttPropMessageExpiry) {
		b = mqttAppendHeader(b, mqttHdrExp, strconv.AppendUint(nil, uint64(pr.messageExpiry), 10))
	}
	b = append(b, '\r', '\n')
	mq.hbuf = b
	return b
}

func mqttAppendHeader(b []byte, k string, v []byte) []byte {
	b = append(b, k...)
	b = append(b, ':', ' ')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// mqttHeaderSafe reports whether s can be a header name (name set) or
// value: no line breaks, and for names no ':' or spaces.
func mqttHeaderSafe(s []byte, name bool) bool {
	if name && len(s) == 0 {
		return false
	}
	for _, ch := range s {
		if ch == '\r' || ch == '\n' || (name && (ch == ':' || ch == ' ' || ch == '\t')) {
			return false
		}
	}
	return true
}

// mqttAppendPubProps appends the MQTT 5 properties of a delivery: the
// reply subject as response topic, headers as user properties (the
// Nmqtt-* ones back as their properties; Nats-* and the status line are
// NATS's own) and the subscription identifier. A message stored for age
// seconds forwards what remains of its expiry interval.
func mqttAppendPubProps(b []byte, hdr, reply []byte, subID int, age uint32) []byte {
	if len(reply) > 0 {
		b = append(b, mqttPropResponseTopic)
		t := mqttSubjectToTopic(nil, bytesToString(reply))
		b = mqttAppendString(b, bytesToString(t))
	}
	rest := headerLines(hdr)
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			break
		}
		rest = next
		switch ks := bytesToString(k); {
		case ks == mqttHdrCorr:
			if d, err := base64.StdEncoding.DecodeString(bytesToString(v)); err == nil {
				b = append(b, mqttPropCorrelationData)
				b = mqttAppendUint16(b, uint16(len(d)))
				b = append(b, d...)
			}
		case ks == mqttHdrCtype:
			b = append(b, mqttPropContentType)
			b = mqttAppendString(b, bytesToString(v))
		case ks == mqttHdrFmt:
			b = append(b, mqttPropPayloadFormat, 1)
		case ks == mqttHdrExp:
			if n, err := strconv.ParseUint(bytesToString(v), 10, 32); err == nil && n > uint64(age) {
				n -= uint64(age) // what remains (mqtt_expiry.go)
				b = append(b, mqttPropMessageExpiry, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			}
		case len(ks) > 6 && (ks[:6] == "Nmqtt-" || ks[:5] == "Nats-"):
		default:
			if len(k) <= 0xffff && len(v) <= 0xffff && mqttValidUTF8(k) && mqttValidUTF8(v) {
				b = append(b, mqttPropUserProperty)
				b = mqttAppendString(b, ks)
				b = mqttAppendString(b, bytesToString(v))
			}
		}
	}
	if subID > 0 {
		b = append(b, mqttPropSubscriptionID)
		b = mqttAppendVarInt(b, subID)
	}
	return b
}
