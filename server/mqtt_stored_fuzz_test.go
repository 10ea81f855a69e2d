package server

import (
	"bytes"
	"encoding/json"
	"strings"
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

// FuzzMQTTSessionRecord feeds arbitrary session records ($MQTT_sess may
// be written by the reference or by any client with access to it) to
// what reads them back after a restart: none may panic, and a delayed
// will read from one has a QoS of at most 2, a well-formed header block
// and a reply that is a subject.
func FuzzMQTTSessionRecord(f *testing.F) {
	f.Add([]byte(`{"origin":"ZLMV550B","id":"c1","subs":{"a.*":1,"b.> grp":0},"cons":{"a.*":{"durable_name":"x"}}}`))
	f.Add([]byte(`{"origin":"o","id":"c2","subs":{},"expiry":60,"disconnected":"2026-01-02T03:04:05Z",` +
		`"will":{"topic":"w/t","payload":"aGk=","qos":7,"retain":true,"hdr":"TkFUUy8xLjANCms6IHYNCg0K","reply":"r.*","expiry":5,"due":"2026-01-02T03:05:05Z"}}`))
	f.Add([]byte(`{"id":"c3","expiry":4294967295,"will":{"topic":"","hdr":"Ym9ndXM=","reply":"a..b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec mqttSessionRecord
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		sess := mqttSessionFromRecord(&rec)
		for key, ss := range sess.subs {
			if ss.queue != "" && !strings.HasSuffix(key, " "+ss.queue) {
				t.Fatalf("queue %q of %q", ss.queue, key)
			}
		}
		if rec.Will == nil {
			return
		}
		w := willFromRecord(rec.Will)
		if w.qos > 2 {
			t.Fatalf("qos %d", w.qos)
		}
		if w.hdr != nil && (!bytes.HasPrefix(w.hdr, []byte("NATS/1.0\r\n")) || !bytes.HasSuffix(w.hdr, []byte("\r\n\r\n"))) {
			t.Fatalf("header %q", w.hdr)
		}
		if len(w.reply) > 0 && !IsValidSubject(string(w.reply)) {
			t.Fatalf("reply %q", w.reply)
		}
	})
}
