package server

// The MQTT packet codec (MQTT 3.1.1, OASIS standard, and MQTT 5.0): pure
// functions from bytes to packets and back, no connection state. Every
// packet is a fixed header (type in the high nibble, flags in the low
// one), a remaining length (a variable byte integer of at most 4 bytes),
// then a body whose layout depends on the type; MQTT 5 adds properties
// (a length, then identifier/value pairs) to most bodies.

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// MQTT packet types (fixed header, high nibble).
const (
	mqttPacketConnect     = 0x10
	mqttPacketConnAck     = 0x20
	mqttPacketPublish     = 0x30
	mqttPacketPubAck      = 0x40
	mqttPacketPubRec      = 0x50
	mqttPacketPubRel      = 0x60
	mqttPacketPubComp     = 0x70
	mqttPacketSubscribe   = 0x80
	mqttPacketSubAck      = 0x90
	mqttPacketUnsubscribe = 0xa0
	mqttPacketUnsubAck    = 0xb0
	mqttPacketPingReq     = 0xc0
	mqttPacketPingResp    = 0xd0
	mqttPacketDisconnect  = 0xe0
	mqttPacketAuth        = 0xf0
)

// PUBLISH flags (fixed header, low nibble).
const (
	mqttPubFlagRetain = 0x01
	mqttPubFlagQoS    = 0x06
	mqttPubFlagDup    = 0x08
)

// CONNECT flags.
const (
	mqttConnFlagClean    = 0x02
	mqttConnFlagWill     = 0x04
	mqttConnFlagWillQoS  = 0x18
	mqttConnFlagRetain   = 0x20
	mqttConnFlagPassword = 0x40
	mqttConnFlagUsername = 0x80
	mqttConnFlagReserved = 0x01
)

// MQTT 3.1.1 CONNACK return codes.
const (
	mqttConnAckAccepted          = 0
	mqttConnAckBadProtocol       = 1
	mqttConnAckIDRejected        = 2
	mqttConnAckServerUnavailable = 3
	mqttConnAckBadCredentials    = 4
	mqttConnAckNotAuthorized     = 5
)

// mqttMaxRemainingLength is the largest length a 4-byte variable byte
// integer encodes.
const mqttMaxRemainingLength = 268435455

var (
	errMQTTMalformed      = errors.New("malformed packet")
	errMQTTLengthTooLarge = errors.New("remaining length too large")
	errMQTTBadUTF8        = errors.New("invalid UTF-8 string")
	errMQTTProtocolName   = errors.New("invalid protocol name")
	errMQTTReservedFlag   = errors.New("connect reserved flag must be 0")
)

// mqttFrame splits one packet off buf: its first byte, its body and the
// bytes it used. n == 0 means buf does not hold a whole packet yet.
// Bodies longer than max are refused before they are buffered.
func mqttFrame(buf []byte, max int) (typ byte, body []byte, n int, err error) {
	if len(buf) < 2 {
		return 0, nil, 0, nil
	}
	length, m := 0, 0
	for shift := 0; ; shift += 7 {
		if 1+m >= len(buf) {
			return 0, nil, 0, nil
		}
		b := buf[1+m]
		m++
		length |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if m == 4 {
			return 0, nil, 0, errMQTTMalformed
		}
	}
	if length > max {
		return 0, nil, 0, errMQTTLengthTooLarge
	}
	total := 1 + m + length
	if len(buf) < total {
		return 0, nil, 0, nil
	}
	return buf[0], buf[1+m : total], total, nil
}

// mqttDecoder reads the fields of one packet body in order; the first
// error sticks and every later read returns zero values.
type mqttDecoder struct {
	b   []byte
	err error
}

func (d *mqttDecoder) fail() { d.err, d.b = errMQTTMalformed, nil }

func (d *mqttDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *mqttDecoder) uint16() uint16 {
	if len(d.b) < 2 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *mqttDecoder) uint32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// varInt reads a variable byte integer (MQTT 5 lengths and identifiers).
func (d *mqttDecoder) varInt() int {
	v := 0
	for i := 0; i < 4; i++ {
		b := d.byte()
		if d.err != nil {
			return 0
		}
		v |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v
		}
	}
	d.fail()
	return 0
}

// binary reads two-byte-length-prefixed bytes; the result views the body.
func (d *mqttDecoder) binary() []byte {
	n := int(d.uint16())
	if d.err != nil || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// str reads a UTF-8 string; the spec forbids U+0000 and invalid UTF-8.
func (d *mqttDecoder) str() []byte {
	v := d.binary()
	if d.err == nil && !mqttValidUTF8(v) {
		d.err, d.b = errMQTTBadUTF8, nil
	}
	return v
}

func mqttValidUTF8(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return false
		}
	}
	return utf8.Valid(b)
}

// MQTT 5 property identifiers.
const (
	mqttPropPayloadFormat      = 0x01
	mqttPropMessageExpiry      = 0x02
	mqttPropContentType        = 0x03
	mqttPropResponseTopic      = 0x08
	mqttPropCorrelationData    = 0x09
	mqttPropSubscriptionID     = 0x0b
	mqttPropSessionExpiry      = 0x11
	mqttPropAssignedClientID   = 0x12
	mqttPropServerKeepAlive    = 0x13
	mqttPropAuthMethod         = 0x15
	mqttPropAuthData           = 0x16
	mqttPropRequestProblemInfo = 0x17
	mqttPropWillDelay          = 0x18
	mqttPropRequestRespInfo    = 0x19
	mqttPropResponseInfo       = 0x1a
	mqttPropServerReference    = 0x1c
	mqttPropReasonString       = 0x1f
	mqttPropReceiveMaximum     = 0x21
	mqttPropTopicAliasMaximum  = 0x22
	mqttPropTopicAlias         = 0x23
	mqttPropMaximumQoS         = 0x24
	mqttPropRetainAvailable    = 0x25
	mqttPropUserProperty       = 0x26
	mqttPropMaximumPacketSize  = 0x27
	mqttPropWildcardSubAvail   = 0x28
	mqttPropSubIDAvailable     = 0x29
	mqttPropSharedSubAvailable = 0x2a
)

// mqttProps are the MQTT 5 properties a packet carried, viewing the body.
// has records which ones were present (bit i for identifier i).
type mqttProps struct {
	has             uint64
	payloadFormat   byte
	messageExpiry   uint32
	contentType     []byte
	responseTopic   []byte
	correlationData []byte
	subscriptionID  int
	sessionExpiry   uint32
	receiveMaximum  uint16
	topicAliasMax   uint16
	topicAlias      uint16
	maxPacketSize   uint32
	willDelay       uint32
	authMethod      []byte
	reasonString    []byte
	user            [][2][]byte // name, value
}

func (p *mqttProps) present(id byte) bool { return p.has&(1<<id) != 0 }

// props reads a property list; a property given twice (other than user
// properties and subscription identifiers) or unknown is malformed.
func (d *mqttDecoder) props(p *mqttProps) {
	n := d.varInt()
	if d.err != nil || n > len(d.b) {
		d.fail()
		return
	}
	pd := mqttDecoder{b: d.b[:n]}
	d.b = d.b[n:]
	for len(pd.b) > 0 && pd.err == nil {
		id := pd.byte()
		if id >= 64 || (p.present(id) && id != mqttPropUserProperty) {
			d.fail()
			return
		}
		p.has |= 1 << id
		switch id {
		case mqttPropPayloadFormat, mqttPropRequestProblemInfo, mqttPropRequestRespInfo,
			mqttPropMaximumQoS, mqttPropRetainAvailable, mqttPropWildcardSubAvail,
			mqttPropSubIDAvailable, mqttPropSharedSubAvailable:
			v := pd.byte()
			if id == mqttPropPayloadFormat {
				p.payloadFormat = v
			}
		case mqttPropMessageExpiry:
			p.messageExpiry = pd.uint32()
		case mqttPropSessionExpiry:
			p.sessionExpiry = pd.uint32()
		case mqttPropWillDelay:
			p.willDelay = pd.uint32()
		case mqttPropMaximumPacketSize:
			p.maxPacketSize = pd.uint32()
		case mqttPropContentType:
			p.contentType = pd.str()
		case mqttPropResponseTopic:
			p.responseTopic = pd.str()
		case mqttPropCorrelationData:
			p.correlationData = pd.binary()
		case mqttPropAuthMethod:
			p.authMethod = pd.str()
		case mqttPropAuthData, mqttPropAssignedClientID, mqttPropResponseInfo, mqttPropServerReference:
			pd.binary()
		case mqttPropReasonString:
			p.reasonString = pd.str()
		case mqttPropSubscriptionID:
			p.subscriptionID = pd.varInt()
		case mqttPropServerKeepAlive:
			pd.uint16()
		case mqttPropReceiveMaximum:
			p.receiveMaximum = pd.uint16()
		case mqttPropTopicAliasMaximum:
			p.topicAliasMax = pd.uint16()
		case mqttPropTopicAlias:
			p.topicAlias = pd.uint16()
		case mqttPropUserProperty:
			k := pd.str()
			v := pd.str()
			p.user = append(p.user, [2][]byte{k, v})
		default:
			d.fail()
			return
		}
	}
	if pd.err != nil {
		d.err, d.b = pd.err, nil
	}
}

// mqttConnect is a decoded CONNECT.
type mqttConnect struct {
	level     byte // 4: MQTT 3.1.1, 5: MQTT 5
	flags     byte
	keepAlive uint16
	props     mqttProps
	clientID  []byte
	will      *mqttWill
	username  []byte
	password  []byte
}

// mqttWill is the will message of a CONNECT, published when the
// connection ends without a DISCONNECT.
type mqttWill struct {
	topic   []byte
	payload []byte
	qos     byte
	retain  bool
	props   mqttProps
	delay   uint32 // MQTT 5 will delay interval, seconds
	hdr     []byte // MQTT 5: the NATS header of its properties (mqttWillProps)
	reply   []byte // MQTT 5: its response topic as a subject
	expiry  uint32 // MQTT 5 message expiry interval, seconds
}

// mqttParseConnect decodes a CONNECT body. A protocol level other than 4
// or 5 is returned with errMQTTBadLevel, so the caller can answer it.
func mqttParseConnect(body []byte) (*mqttConnect, error) {
	d := mqttDecoder{b: body}
	name := d.str()
	level := d.byte()
	if d.err != nil {
		return nil, d.err
	}
	if string(name) != "MQTT" {
		return nil, errMQTTProtocolName
	}
	if level != 4 && level != 5 {
		return &mqttConnect{level: level}, errMQTTBadLevel
	}
	cp := &mqttConnect{level: level}
	cp.flags = d.byte()
	cp.keepAlive = d.uint16()
	if d.err == nil && cp.flags&mqttConnFlagReserved != 0 {
		return nil, errMQTTReservedFlag
	}
	if level == 5 {
		d.props(&cp.props)
	}
	cp.clientID = d.str()
	if cp.flags&mqttConnFlagWill != 0 {
		w := &mqttWill{qos: (cp.flags & mqttConnFlagWillQoS) >> 3, retain: cp.flags&mqttConnFlagRetain != 0}
		if level == 5 {
			d.props(&w.props)
		}
		w.topic = d.str()
		w.payload = d.binary()
		if w.qos > 2 {
			return nil, errMQTTMalformed
		}
		cp.will = w
	} else if cp.flags&(mqttConnFlagWillQoS|mqttConnFlagRetain) != 0 {
		return nil, errMQTTMalformed
	}
	if cp.flags&mqttConnFlagUsername != 0 {
		cp.username = d.str()
	}
	if cp.flags&mqttConnFlagPassword != 0 {
		cp.password = d.binary()
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errMQTTMalformed
	}
	return cp, nil
}

var errMQTTBadLevel = errors.New("unsupported protocol level")

// mqttPublish is a decoded PUBLISH; topic and payload view the body.
type mqttPublish struct {
	flags   byte
	topic   []byte
	pi      uint16
	props   mqttProps
	payload []byte
}

func (p *mqttPublish) qos() byte    { return (p.flags & mqttPubFlagQoS) >> 1 }
func (p *mqttPublish) retain() bool { return p.flags&mqttPubFlagRetain != 0 }

// mqttParsePublish decodes a PUBLISH body into p (reused by the reader, so
// that publishing allocates nothing).
func mqttParsePublish(flags byte, body []byte, v5 bool, p *mqttPublish) error {
	d := mqttDecoder{b: body}
	p.flags = flags
	if p.qos() == 3 {
		return errMQTTMalformed
	}
	p.topic = d.str()
	p.pi = 0
	if p.qos() > 0 {
		p.pi = d.uint16()
		if d.err == nil && p.pi == 0 {
			return errMQTTMalformed
		}
	}
	p.props = mqttProps{user: p.props.user[:0]}
	if v5 {
		d.props(&p.props)
	}
	if d.err != nil {
		return d.err
	}
	p.payload = d.b
	return nil
}

// mqttFilter is one topic filter of a SUBSCRIBE.
type mqttFilter struct {
	filter []byte
	qos    byte
	opts   byte // MQTT 5 subscription options (no local, retain as published, retain handling)
}

// mqttParseSubscribe decodes SUBSCRIBE (sub) or UNSUBSCRIBE bodies: a
// packet identifier, properties (MQTT 5) and at least one filter.
func mqttParseSubscribe(body []byte, v5, sub bool) (pi uint16, props mqttProps, filters []mqttFilter, err error) {
	d := mqttDecoder{b: body}
	pi = d.uint16()
	if d.err == nil && pi == 0 {
		return 0, props, nil, errMQTTMalformed
	}
	if v5 {
		d.props(&props)
	}
	for d.err == nil && len(d.b) > 0 {
		f := mqttFilter{filter: d.str()}
		if sub {
			o := d.byte()
			f.qos, f.opts = o&0x03, o&^0x03
			if f.qos == 3 || (!v5 && f.opts != 0) || (v5 && o&0xc0 != 0) || (v5 && (o>>4)&3 == 3) {
				return 0, props, nil, errMQTTMalformed
			}
		}
		filters = append(filters, f)
	}
	if d.err != nil {
		return 0, props, nil, d.err
	}
	if len(filters) == 0 {
		return 0, props, nil, errMQTTMalformed
	}
	return pi, props, filters, nil
}

// mqttParseAck decodes PUBACK, PUBREC, PUBREL and PUBCOMP: the packet
// identifier, then in MQTT 5 an optional reason code and properties.
func mqttParseAck(body []byte, v5 bool) (pi uint16, reason byte, err error) {
	d := mqttDecoder{b: body}
	pi = d.uint16()
	if v5 && len(d.b) > 0 {
		reason = d.byte()
		if len(d.b) > 0 {
			var p mqttProps
			d.props(&p)
		}
	}
	if d.err != nil || pi == 0 {
		return 0, 0, errMQTTMalformed
	}
	return pi, reason, nil
}

// mqttParseDisconnect decodes an MQTT 5 DISCONNECT (3.1.1's is empty).
func mqttParseDisconnect(body []byte, v5 bool) (reason byte, props mqttProps, err error) {
	if !v5 {
		if len(body) != 0 {
			return 0, props, errMQTTMalformed
		}
		return 0, props, nil
	}
	d := mqttDecoder{b: body}
	if len(d.b) > 0 {
		reason = d.byte()
	}
	if len(d.b) > 0 {
		d.props(&props)
	}
	return reason, props, d.err
}

// Encoding. Packets are appended to a caller's buffer.

// mqttAppendVarInt appends a variable byte integer.
func mqttAppendVarInt(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func mqttAppendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func mqttAppendString(b []byte, s string) []byte {
	b = mqttAppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// mqttAppendAck appends a PUBACK/PUBREC/PUBREL/PUBCOMP (PUBREL carries the
// required flags 0010); a non-zero MQTT 5 reason code follows the
// identifier.
func mqttAppendAck(b []byte, typ byte, pi uint16, reason byte) []byte {
	if typ == mqttPacketPubRel {
		typ |= 0x02
	}
	if reason != 0 {
		return append(b, typ, 3, byte(pi>>8), byte(pi), reason)
	}
	return append(b, typ, 2, byte(pi>>8), byte(pi))
}
