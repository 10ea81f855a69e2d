package server

// Messages to MQTT subscribers: a delivery to a subscription of an MQTT
// connection becomes a PUBLISH packet. Plain subscriptions carry messages
// from NATS clients and MQTT QoS 0 publishers at QoS 0; a QoS 1/2
// subscription's consumer delivers the stored messages of MQTT QoS 1/2
// publishers at the lower of both QoS, with a packet identifier that
// maps to the JetStream ack subject (PUBACK, or PUBREC for QoS 2, acks
// it). A redelivery of the same stream sequence reuses its identifier,
// with DUP set.

import (
	"bytes"
	"strings"
)

// mqttHdrPubPrefix is how a stored message's QoS header starts.
var mqttHdrPubPrefix = []byte(mqttHdrPub + ":")

// mqttDeliver writes one message to an MQTT subscriber (deliver's tail
// for MQTT connections).
func (c *client) mqttDeliver(rc *client, sub *subscription, subject string, reply, hdr, payload []byte) bool {
	ms := sub.mqtt
	if ms == nil {
		return false
	}
	qos := byte(0)
	var ack []byte
	if ms.js {
		subject = strings.TrimPrefix(subject, mqttMsgsPrefix)
		qos = min(ms.qos, mqttStoredQoS(hdr))
		ack = reply
		reply = nil
	} else if ms.qos > 0 && mqttStoredQoS(hdr) > 0 {
		return true // its consumer delivers it, with the QoS it was published with
	}
	if ms.wildRoot && len(subject) > 0 && subject[0] == '$' {
		return false
	}
	var age uint32 // seconds stored, taken off the message expiry interval
	if len(ack) > 0 {
		var expired bool
		if age, expired = rc.mqttExpiredDelivery(rc.acc, hdr, ack); expired { // mqtt_expiry.go
			return false
		}
	}
	if ms.noLocal && rc == c {
		return false
	}
	rc.mu.Lock()
	mq := rc.mq
	if rc.closed {
		if len(ack) > 0 {
			// The consumer counts it delivered: given back when the
			// connection's clean-up runs (mqttReturnInflight).
			mq.lost = append(mq.lost, string(ack))
		}
		rc.mu.Unlock()
		return false
	}
	var pi uint16
	dup := false
	if qos > 0 {
		pi, dup = mq.trackOut(sub.subject, ack, qos, true)
		if pi == 0 {
			if len(ack) > 0 {
				mq.deferred = append(mq.deferred, string(ack)) // receive maximum (mqtt_v5.go)
			}
			rc.mu.Unlock()
			return false // no place: the consumer sends it again
		}
	}
	flags := qos << 1
	if dup {
		flags |= mqttPubFlagDup
	}
	mq.tbuf = mqttSubjectToTopic(mq.tbuf[:0], subject)
	var props []byte
	if mq.v5 {
		mq.pbuf = mqttAppendPubProps(mq.pbuf[:0], hdr, reply, ms.subID, age)
		props = mq.pbuf
	}
	mq.obuf = mqttAppendPublishHeader(mq.obuf[:0], flags, mq.tbuf, pi, mq.v5, props, len(payload))
	rc.appendOut(mq.obuf)
	rc.appendOut(payload)
	size := len(mq.obuf) + len(payload)
	slow := rc.checkSlowConsumer()
	if ch := rc.out.stallChan(); ch != nil && c.kind == CLIENT && rc != c {
		c.stall = ch
	}
	rc.mu.Unlock()
	if slow {
		return false
	}
	rc.outMsgs.Add(1)
	rc.outBytes.Add(int64(size))
	c.countOut(size)
	c.addToFlush(rc)
	return true
}

// mqttStoredQoS is the QoS an MQTT publisher stored a message with (the
// Nmqtt-Pub header), 0 for any other message.
func mqttStoredQoS(hdr []byte) byte {
	if len(hdr) == 0 {
		return 0
	}
	i := bytes.Index(hdr, mqttHdrPubPrefix)
	if i < 0 {
		return 0
	}
	v := bytes.TrimLeft(hdr[i+len(mqttHdrPubPrefix):], " ")
	if len(v) > 0 && (v[0] == '1' || v[0] == '2') {
		return v[0] - '0'
	}
	return 0
}

// mqttAppendPublishHeader appends a PUBLISH's fixed header, topic, packet
// identifier and (MQTT 5) properties for a payload of n bytes.
func mqttAppendPublishHeader(b []byte, flags byte, topic []byte, pi uint16, v5 bool, props []byte, n int) []byte {
	rl := 2 + len(topic) + n
	if pi != 0 {
		rl += 2
	}
	if v5 {
		rl += mqttVarIntLen(len(props)) + len(props)
	}
	b = append(b, mqttPacketPublish|flags)
	b = mqttAppendVarInt(b, rl)
	b = mqttAppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	if pi != 0 {
		b = mqttAppendUint16(b, pi)
	}
	if v5 {
		b = mqttAppendVarInt(b, len(props))
		b = append(b, props...)
	}
	return b
}

func mqttVarIntLen(n int) int {
	l := 1
	for n >= 128 {
		n >>= 7
		l++
	}
	return l
}

// trackOut gives a QoS 1/2 delivery its packet identifier: the one its
// stream sequence already has (a redelivery: dup), else a free one (0
// when all are taken, or, limited, when the client's receive maximum is
// reached). Lock held.
func (mq *mqttConn) trackOut(deliver string, ack []byte, qos byte, limited bool) (pi uint16, dup bool) {
	var key mqttSeqKey
	if len(ack) > 0 {
		key = mqttSeqKey{deliver: deliver, seq: mqttAckStreamSeq(ack)}
		if pi, ok := mq.bySeq[key]; ok {
			if inf := mq.inflight[pi]; inf != nil {
				inf.ack = append(inf.ack[:0], ack...)
				return pi, true
			}
		}
	}
	if limited && mq.full() {
		return 0, false
	}
	if mq.inflight == nil {
		mq.inflight = map[uint16]*mqttInflight{}
		mq.bySeq = map[mqttSeqKey]uint16{}
	}
	for range 0xffff {
		mq.nextPI++
		if mq.nextPI == 0 {
			mq.nextPI = 1
		}
		if _, used := mq.inflight[mq.nextPI]; used {
			continue
		}
		if _, used := mq.pubrel[mq.nextPI]; used {
			continue
		}
		pi = mq.nextPI
		mq.inflight[pi] = mq.newInflight(ack, key, qos)
		if key.seq != 0 {
			mq.bySeq[key] = pi
		}
		return pi, false
	}
	return 0, false
}

// newInflight records a delivery in flight, reusing a record its
// acknowledgement freed, so that a steady flow allocates nothing (the
// ack subject is copied: it views the delivery's buffer). Lock held.
func (mq *mqttConn) newInflight(ack []byte, key mqttSeqKey, qos byte) *mqttInflight {
	var inf *mqttInflight
	if n := len(mq.free); n > 0 {
		inf = mq.free[n-1]
		mq.free = mq.free[:n-1]
	} else {
		inf = &mqttInflight{}
	}
	inf.ack = append(inf.ack[:0], ack...)
	inf.key, inf.qos = key, qos
	return inf
}

// mqttAckStreamSeq is the stream sequence of a v1 ack subject,
// $JS.ACK.<stream>.<consumer>.<deliveries>.<stream seq>.<consumer seq>.<ts>.<pending>.
func mqttAckStreamSeq(ack []byte) uint64 {
	tok := 0
	var seq uint64
	for _, ch := range ack {
		if ch == '.' {
			tok++
			continue
		}
		if tok == 5 {
			if ch < '0' || ch > '9' {
				return 0
			}
			seq = seq*10 + uint64(ch-'0')
		}
	}
	return seq
}

// mqttAck handles PUBACK, PUBREC, PUBREL and PUBCOMP from the client.
func (c *client) mqttAck(kind byte, pi uint16, _ byte) {
	mq := c.mq
	switch kind {
	case mqttPacketPubRel: // QoS 2 in: the client releases its message
		c.mqttReleaseQoS2(pi)
		return
	case mqttPacketPubComp:
		c.mu.Lock()
		delete(mq.pubrel, pi)
		c.mu.Unlock()
		c.mqttSendDeferred()
		return
	}
	c.mu.Lock()
	mq.ackbuf = mq.ackbuf[:0]
	if inf := mq.inflight[pi]; inf != nil {
		delete(mq.inflight, pi)
		if inf.key.seq != 0 {
			delete(mq.bySeq, inf.key)
		}
		mq.ackbuf = append(mq.ackbuf, inf.ack...)
		mq.free = append(mq.free, inf)
	}
	if kind == mqttPacketPubRec {
		if mq.pubrel == nil {
			mq.pubrel = map[uint16]struct{}{}
		}
		mq.pubrel[pi] = struct{}{}
	}
	c.mu.Unlock()
	if len(mq.ackbuf) > 0 {
		c.mqttPublishAck(bytesToString(mq.ackbuf), nil)
	}
	if kind == mqttPacketPubRec {
		var b [5]byte
		c.mqttSend(mqttAppendAck(b[:0], mqttPacketPubRel, pi, 0))
		return
	}
	c.mqttSendDeferred()
}

// mqttReturnInflight gives the consumers back the stored messages this
// connection had not acknowledged, once its subscriptions are gone: a
// NAK makes them due at once, for the session's next connection rather
// than after ack_wait (MQTT 3.1.1 section 4.4).
func (c *client) mqttReturnInflight() {
	c.mu.Lock()
	acks := append(c.mq.lost, c.mq.deferred...)
	for _, inf := range c.mq.inflight {
		if len(inf.ack) > 0 {
			acks = append(acks, string(inf.ack))
		}
	}
	c.mq.lost, c.mq.deferred, c.mq.inflight, c.mq.bySeq, c.mq.free = nil, nil, nil, nil, nil
	acc := c.acc
	c.mu.Unlock()
	for _, ack := range acks {
		c.srv.PublishInternal(acc, ack, "", nil, mqttNak)
	}
}

var mqttNak = []byte("-NAK")

// mqttPublishAck acknowledges a stored message (nil payload: ACK) from
// the connection's reader, as the connection itself, as a NATS client
// acknowledges: through its own match cache, so that an ack subject seen
// once takes no shared lock and costs no allocation.
func (c *client) mqttPublishAck(ack string, payload []byte) {
	r := c.match(ack)
	c.deliverResult(r, ack, nil, nil, payload)
	c.rc.release(r)
}

// mqttSendRetained sends the retained messages a new subscription
// matches, flagged retained, at the lower of both QoS.
func (c *client) mqttSendRetained(g mqttGranted) {
	mq := c.mq
	if mq.v5 && (g.f.opts>>4)&3 == 2 { // retain handling: do not send
		return
	}
	for _, r := range mq.ma.retainedMatching(g.subjects) {
		left, expired := mqttRemaining(r.expiry, r.stored)
		if expired {
			continue
		}
		qos := min(g.qos, r.qos)
		c.mu.Lock()
		var pi uint16
		if qos > 0 {
			pi, _ = mq.trackOut("", nil, qos, false)
		}
		var props []byte
		if mq.v5 {
			props = []byte{}
			if left > 0 {
				props = append(props, mqttPropMessageExpiry, byte(left>>24), byte(left>>16), byte(left>>8), byte(left))
			}
		}
		b := mqttAppendPublishHeader(nil, qos<<1|mqttPubFlagRetain, []byte(r.topic), pi, mq.v5, props, len(r.payload))
		c.queueOutbound(b, r.payload)
		c.mu.Unlock()
		c.addToFlush(c)
	}
}
