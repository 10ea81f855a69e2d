package server

import (
	"bytes"
	"testing"
)

// FuzzMQTTStoredHeaders feeds arbitrary header blocks (a $MQTT_qos2in
// record may be written by the reference, a $MQTT_msgs message by any
// NATS client) and ack subjects to the decoders of stored MQTT messages:
// none may panic, a record decoded has a literal subject, and the header
// it delivers with is a well-formed block without the storage headers.
func FuzzMQTTStoredHeaders(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nNmqtt-Pub: 24\r\nNmqtt-Subject: a.b\r\n\r\n"), []byte("$JS.ACK.$MQTT_msgs.c.1.2.3.1700000000000000000.0"))
	f.Add([]byte("NATS/1.0\r\nNmqtt-Pub: 2c\r\nNmqtt-Subject: a.b\r\nNmqtt-Reply: r.x\r\nNmqtt-Exp: 60\r\nk: v\r\n\r\n"), []byte("$JS.ACK.s.c.1.2.3.x.0"))
	f.Add([]byte("NATS/1.0\r\nNmqtt-Subject: a.*\r\nNmqtt-Exp: 99999999999\r\n\r\n"), []byte(""))
	f.Add([]byte("NATS/1.0\r\nNmqtt-Pub:\r\n\r\n"), []byte("...."))
	f.Fuzz(func(t *testing.T, hdr, ack []byte) {
		mqttExpiry(hdr)
		mqttStoredQoS(hdr)
		mqttAckTime(ack)
		mqttAckStreamSeq(ack)
		rec, ok := mqttParseQoS2Record(hdr)
		if !ok {
			return
		}
		if !IsValidLiteralSubject(rec.subject) {
			t.Fatalf("subject %q", rec.subject)
		}
		if !bytes.HasPrefix(rec.hdr, []byte("NATS/1.0\r\nNmqtt-Pub:2\r\n")) || !bytes.HasSuffix(rec.hdr, []byte("\r\n\r\n")) {
			t.Fatalf("header %q", rec.hdr)
		}
		if _, found := headerValue(rec.hdr, mqttHdrSubject); found {
			t.Fatalf("storage header kept: %q", rec.hdr)
		}
	})
}
