package server

// MQTT 5 behaviour beyond properties: enhanced authentication (refused:
// CONNACK 0x8C "bad authentication method" for a CONNECT naming an
// authentication method, DISCONNECT 0x82 "protocol error" for an AUTH
// packet), the session expiry interval (a disconnected session's state is
// removed once it passes), the will delay interval (the will waits, and
// is dropped when the client id connects again first), the client's
// receive maximum (at most that many QoS 1/2 deliveries unacknowledged:
// one more is held back, its ack subject kept, and given back to its
// consumer with a NAK, so that it comes again at once, each time an
// acknowledgement frees a place), the server's receive maximum
// (max_ack_pending, said in CONNACK: a client with more QoS 1/2 PUBLISHes
// unacknowledged gets DISCONNECT 0x93) and the server's DISCONNECT.
//
// The session expiry and will delay timers are in mqtt_timers.go.

// MQTT 5 reason codes this file sends.
const (
	mqttReasonProtocolError = 0x82
	mqttReasonBadAuthMethod = 0x8c
)

// mqttNeverExpires is the session expiry interval meaning "never".
const mqttNeverExpires = 0xffffffff

// mqttRefuseAuthMethod refuses a CONNECT asking for enhanced
// authentication, with a reason string saying why.
func (c *client) mqttRefuseAuthMethod(method []byte) error {
	reason := "enhanced authentication not supported yet"
	props := mqttAppendString([]byte{mqttPropReasonString}, reason)
	c.mqttConnAck(false, mqttReasonBadAuthMethod, props)
	return &protoErr{close: true, reason: AuthenticationViolation, log: reason + " (method " + string(method) + ")"}
}

// mqttAuthPacket answers an AUTH packet: without enhanced authentication
// any AUTH is a protocol error (MQTT 5 section 4.12), and in 3.1.1 the
// packet type is reserved.
func (c *client) mqttAuthPacket() error {
	if !c.mq.v5 {
		return mqttErr("unsupported packet type %d", mqttPacketAuth>>4)
	}
	c.mqttSendDisconnect(mqttReasonProtocolError, "AUTH without an authentication method: enhanced authentication not supported yet")
	return mqttErr("AUTH packet received: enhanced authentication not supported yet")
}

// mqttSendDisconnect queues an MQTT 5 DISCONNECT with a reason code and
// string; the caller closes the connection.
func (c *client) mqttSendDisconnect(code byte, reason string) {
	props := mqttAppendString([]byte{mqttPropReasonString}, reason)
	body := append([]byte{code}, mqttAppendVarInt(nil, len(props))...)
	body = append(body, props...)
	b := append([]byte{mqttPacketDisconnect}, mqttAppendVarInt(nil, len(body))...)
	c.mqttSend(append(b, body...))
}

// mqttSetReceiveMaximum applies the CONNECT's receive maximum; 0 is a
// protocol error (MQTT 5 section 3.1.2.11.3).
func (c *client) mqttSetReceiveMaximum(p *mqttProps) error {
	if !c.mq.v5 || !p.present(mqttPropReceiveMaximum) {
		return nil
	}
	if p.receiveMaximum == 0 {
		return mqttErr("receive maximum of 0")
	}
	c.mu.Lock()
	c.mq.recvMax = int(p.receiveMaximum)
	c.mu.Unlock()
	return nil
}

// full reports whether the client's receive maximum leaves no place for
// one more QoS 1/2 delivery (a QoS 2 one counts until PUBCOMP). Lock held.
func (mq *mqttConn) full() bool {
	return mq.recvMax > 0 && len(mq.inflight)+len(mq.pubrel) >= mq.recvMax
}

// mqttSendDeferred gives one delivery held back by the receive maximum
// back to its consumer, an acknowledgement having freed a place.
func (c *client) mqttSendDeferred() {
	c.mu.Lock()
	mq := c.mq
	if len(mq.deferred) == 0 || mq.full() {
		c.mu.Unlock()
		return
	}
	ack := mq.deferred[0]
	mq.deferred = mq.deferred[1:]
	acc := c.acc
	c.mu.Unlock()
	c.srv.PublishInternal(acc, ack, "", nil, mqttNak)
}

// mqttWillProps turns a will's MQTT 5 properties into what its PUBLISH's
// would be (mqtt_pub.go): the NATS header, the reply subject of its
// response topic, its message expiry; all copied, as the properties view
// the CONNECT's bytes.
func (c *client) mqttWillProps(w *mqttWill) error {
	p := mqttPublish{flags: w.qos << 1, props: w.props}
	w.hdr = append([]byte(nil), c.mqttPubHeader(w.qos, &p)...)
	w.expiry = w.props.messageExpiry
	if len(w.props.responseTopic) > 0 {
		r, err := mqttTopicToSubject(nil, w.props.responseTopic, false)
		if err != nil {
			return mqttErr("invalid will response topic %q: %v", w.props.responseTopic, err)
		}
		w.reply = r
	}
	return nil
}

// mqttReasonReceiveMaxExceeded is DISCONNECT's reason for a client that
// has more QoS 1/2 PUBLISHes unacknowledged than the server's receive
// maximum allows (MQTT 5 section 3.3.4).
const mqttReasonReceiveMaxExceeded = 0x93

// mqttInboundStart counts a QoS 1/2 PUBLISH of an MQTT 5 client until
// its PUBACK (QoS 1) or PUBCOMP (QoS 2) goes out; false when that would
// exceed the server's receive maximum. A PUBLISH sent again with a packet
// identifier still counted takes no second place.
func (c *client) mqttInboundStart(pi uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	mq := c.mq
	if _, again := mq.inbound[pi]; again {
		return true
	}
	if mq.inMax > 0 && len(mq.inbound) >= mq.inMax {
		return false
	}
	if mq.inbound == nil {
		mq.inbound = make(map[uint16]struct{}, min(mq.inMax, 64))
	}
	mq.inbound[pi] = struct{}{}
	return true
}

// mqttReceiveMaximumExceeded sends DISCONNECT 0x93 and closes.
func (c *client) mqttReceiveMaximumExceeded() error {
	c.mqttSendDisconnect(mqttReasonReceiveMaxExceeded, "Receive Maximum exceeded")
	return mqttErr("receive maximum of %d exceeded", c.mq.inMax)
}
