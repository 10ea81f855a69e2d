package server

import (
	"bytes"
	"testing"
)

// mqttDecodeAll runs every decoder on the packets framed in data, as the
// reader would, for both protocol levels.
func mqttDecodeAll(data []byte) {
	for len(data) > 0 {
		typ, body, n, err := mqttFrame(data, 1<<20)
		if err != nil || n == 0 {
			return
		}
		data = data[n:]
		for _, v5 := range []bool{false, true} {
			var p mqttPublish
			switch typ & 0xf0 {
			case mqttPacketConnect:
				_, _ = mqttParseConnect(body)
			case mqttPacketPublish:
				_ = mqttParsePublish(typ&0x0f, body, v5, &p)
			case mqttPacketSubscribe, mqttPacketUnsubscribe:
				_, _, _, _ = mqttParseSubscribe(body, v5, typ&0xf0 == mqttPacketSubscribe)
			case mqttPacketDisconnect:
				_, _, _ = mqttParseDisconnect(body, v5)
			default:
				_, _, _ = mqttParseAck(body, v5)
			}
		}
	}
}

// FuzzMQTTPacket feeds arbitrary bytes to the packet framer and decoders:
// no input may panic or make them read out of bounds, and a topic that
// maps to a subject maps back to itself.
func FuzzMQTTPacket(f *testing.F) {
	f.Add([]byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"))
	f.Add([]byte("\x10\x0d\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00"))
	f.Add([]byte("\x30\x07\x00\x03a/bhi"))
	f.Add([]byte("\x32\x09\x00\x03a/b\x00\x01hi"))
	f.Add([]byte("\x82\x08\x00\x01\x00\x03a/#\x01"))
	f.Add([]byte("\xa2\x07\x00\x01\x00\x03a/+"))
	f.Add([]byte("\x40\x02\x00\x01\xc0\x00\xe0\x00"))
	f.Add([]byte("\x30\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mqttDecodeAll(data)
		subj, err := mqttTopicToSubject(nil, data, false)
		if err != nil {
			return
		}
		if back := mqttSubjectToTopic(nil, string(subj)); !bytes.Equal(back, data) {
			t.Fatalf("topic %q -> subject %q -> topic %q", data, subj, back)
		}
	})
}

// TestMQTTTopicMapping checks the reference's mapping both ways.
func TestMQTTTopicMapping(t *testing.T) {
	for _, tc := range []struct{ topic, subject string }{
		{"a/b", "a.b"}, {"/a", "/.a"}, {"a//b", "a./.b"}, {"a/", "a./"},
		{"a.b/c", "a//b.c"}, {"foo", "foo"}, {"/", "/./"},
	} {
		subj, err := mqttTopicToSubject(nil, []byte(tc.topic), false)
		if err != nil || string(subj) != tc.subject {
			t.Fatalf("%q -> %q, %v; want %q", tc.topic, subj, err, tc.subject)
		}
		if back := mqttSubjectToTopic(nil, tc.subject); string(back) != tc.topic {
			t.Fatalf("%q -> %q; want %q", tc.subject, back, tc.topic)
		}
	}
	for _, tc := range []struct {
		filter string
		subs   []string
	}{
		{"a/+/c", []string{"a.*.c"}}, {"#", []string{">"}}, {"a/#", []string{"a.>", "a"}}, {"+/#", []string{"*.>", "*"}},
	} {
		subs, err := mqttFilterSubjects([]byte(tc.filter))
		if err != nil || len(subs) != len(tc.subs) || subs[0] != tc.subs[0] || subs[len(subs)-1] != tc.subs[len(tc.subs)-1] {
			t.Fatalf("%q -> %q, %v; want %q", tc.filter, subs, err, tc.subs)
		}
	}
	for _, bad := range []string{"a/#/b", "a b", "a/b#", "", "a/*", "a/>"} {
		if _, err := mqttFilterSubjects([]byte(bad)); err == nil {
			t.Fatalf("filter %q accepted", bad)
		}
	}
	if h := mqttHash("probe1"); h != "L55JGOMK" { // as the reference names probe1's session
		t.Fatalf("hash %q", h)
	}
}

// TestMQTTPacketDecode checks the decoders on well-formed and malformed
// packets.
func TestMQTTPacketDecode(t *testing.T) {
	cp, err := mqttParseConnect([]byte("\x00\x04MQTT\x04\xc2\x00\x3c\x00\x02id\x00\x01u\x00\x02pw"))
	if err != nil || cp.level != 4 || string(cp.clientID) != "id" || string(cp.username) != "u" || string(cp.password) != "pw" || cp.keepAlive != 60 {
		t.Fatalf("connect %+v %v", cp, err)
	}
	if _, err := mqttParseConnect([]byte("\x00\x04MQTT\x03\x02\x00\x3c\x00\x00")); err != errMQTTBadLevel {
		t.Fatalf("level 3: %v", err)
	}
	if _, err := mqttParseConnect([]byte("\x00\x04MQTT\x04\x03\x00\x3c\x00\x00")); err == nil {
		t.Fatal("reserved flag accepted")
	}
	var p mqttPublish
	if err := mqttParsePublish(0x02, []byte("\x00\x01a\x00\x07hello"), false, &p); err != nil || p.pi != 7 || string(p.payload) != "hello" || p.qos() != 1 {
		t.Fatalf("publish %+v %v", p, err)
	}
	if err := mqttParsePublish(0x06, []byte("\x00\x01a\x00\x07"), false, &p); err == nil {
		t.Fatal("qos 3 accepted")
	}
	// MQTT 5: properties with a topic alias and a user property.
	if err := mqttParsePublish(0x00, []byte("\x00\x01a\x0a\x23\x00\x02\x26\x00\x01k\x00\x01vX"), true, &p); err != nil ||
		p.props.topicAlias != 2 || len(p.props.user) != 1 || string(p.payload) != "X" {
		t.Fatalf("v5 publish %+v %v", p, err)
	}
	if _, _, _, n, _ := mqttFrameN([]byte("\x30\x80")); n != 0 {
		t.Fatal("partial length framed")
	}
	if _, _, _, err := mqttFrame([]byte("\x30\xff\xff\xff\xff\x01"), 1<<20); err == nil {
		t.Fatal("5-byte length accepted")
	}
}

func mqttFrameN(b []byte) (byte, []byte, int, int, error) {
	typ, body, n, err := mqttFrame(b, 1<<20)
	return typ, body, 0, n, err
}
