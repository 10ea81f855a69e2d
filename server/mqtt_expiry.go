package server

// MQTT 5 message expiry. A PUBLISH's message expiry interval travels as
// the header "Nmqtt-Exp: <seconds>" (mqtt_pub.go). A message delivered
// at once goes out with the interval as received; a stored one (a QoS 1/2
// message of $MQTT_msgs, a retained message) is aged by the time since it
// was stored: once the interval has passed it is not delivered (a
// consumer's delivery is acknowledged, a retained message dropped), and
// otherwise the interval forwarded is what remains (MQTT 5 section
// 3.3.2.3.3). A message's storage time is the timestamp of its ack
// subject ($JS.ACK...<timestamp>.<pending>) or, for a retained message,
// the stream's time.

import (
	"strconv"
	"time"
)

// mqttExpiry is a message's expiry interval (the Nmqtt-Exp header), 0
// when it has none.
func mqttExpiry(hdr []byte) uint32 {
	if len(hdr) == 0 {
		return 0
	}
	v, ok := headerValue(hdr, mqttHdrExp)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// mqttAckTime is the storage time of a v1 ack subject's message,
// $JS.ACK.<stream>.<consumer>.<deliveries>.<stream seq>.<consumer seq>.<ts>.<pending>.
func mqttAckTime(ack []byte) time.Time {
	tok := 0
	var ns int64
	for _, ch := range ack {
		if ch == '.' {
			tok++
			continue
		}
		if tok == 7 {
			if ch < '0' || ch > '9' {
				return time.Time{}
			}
			ns = ns*10 + int64(ch-'0')
		}
	}
	return time.Unix(0, ns)
}

// mqttRemaining is what is left of an expiry interval of exp seconds for
// a message stored at stored; expired is true once nothing is.
func mqttRemaining(exp uint32, stored time.Time) (left uint32, expired bool) {
	if exp == 0 || stored.IsZero() {
		return exp, false
	}
	age := time.Since(stored)
	if age < 0 {
		age = 0
	}
	if age >= time.Duration(exp)*time.Second {
		return 0, true
	}
	return exp - uint32(age/time.Second), false
}

// mqttExpiredDelivery reports whether a consumer's delivery has outlived
// its expiry interval, acknowledging it so that it is not sent again; it
// returns the seconds it has been stored otherwise, to subtract from the
// interval forwarded. The acknowledgement is published from its own
// goroutine: this runs inside the consumer's delivery.
func (c *client) mqttExpiredDelivery(acc *Account, hdr, ack []byte) (age uint32, expired bool) {
	exp := mqttExpiry(hdr)
	if exp == 0 {
		return 0, false
	}
	left, expired := mqttRemaining(exp, mqttAckTime(ack))
	if expired {
		subject := string(ack)
		go c.srv.PublishInternal(acc, subject, "", nil, nil)
		return 0, true
	}
	return exp - left, false
}
