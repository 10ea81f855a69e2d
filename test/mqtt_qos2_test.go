package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// mqttQoS2Publish is a QoS 2 PUBLISH packet (dup sets DUP).
func mqttQoS2Publish(topic string, pi uint16, payload string, dup bool) []byte {
	body := append(mqttRawStr(topic), byte(pi>>8), byte(pi))
	typ := byte(0x34)
	if dup {
		typ |= 0x08
	}
	return mqttRawFrame(typ, append(body, payload...))
}

// expectAck reads one acknowledgement packet of type typ for pi.
func (r *mqttRaw) expectAck(typ byte, pi uint16) {
	r.t.Helper()
	p := r.read(10 * time.Second)
	if p.typ != typ || len(p.body) < 2 || p.body[0] != byte(pi>>8) || p.body[1] != byte(pi) {
		r.t.Fatalf("expected %x for %d, got %x %x", typ, pi, p.typ, p.body)
	}
}

// TestMQTTQoS2ExactlyOnceAcrossRestart: a QoS 2 message acknowledged with
// PUBREC is kept in $MQTT_qos2in, not delivered until PUBREL; after a
// server restart on the same store the client's PUBLISH sent again (DUP)
// only gets PUBREC, its PUBREL delivers the message once (to NATS and to a
// QoS 2 MQTT subscriber) and a second PUBREL only gets PUBCOMP.
func TestMQTTQoS2ExactlyOnceAcrossRestart(t *testing.T) {
	o := mqttOptions(t)
	s := RunServer(t, o)
	r := mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("q2-restart", false, 0, nil, "", "")); code != 0 {
		t.Fatalf("connack %d", code)
	}
	nc := connect(t, s)
	early, _ := nc.SubscribeSync("q2r.>")
	nc.Flush()
	r.send(mqttQoS2Publish("q2r/x", 5, "once only", false))
	r.expectAck(0x50, 5)
	if m, err := early.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("delivered before PUBREL: %q", m.Data)
	}
	js, _ := nc.JetStream()
	si, err := js.StreamInfo("$MQTT_qos2in")
	if err != nil || si.State.Msgs != 1 {
		t.Fatalf("qos2in %+v %v", si, err)
	}
	m, err := js.GetLastMsg("$MQTT_qos2in", "$MQTT.qos2.in.q2-restart.5")
	if err != nil || string(m.Data) != "once only" || m.Header.Get("Nmqtt-Pub") != "24" || m.Header.Get("Nmqtt-Subject") != "q2r.x" {
		t.Fatalf("stored %+v %v", m, err)
	}
	nc.Close()
	r.conn.Close()
	s.Shutdown()
	s.WaitForShutdown()

	o2 := mqttOptions(t)
	o2.StoreDir = o.StoreDir
	s2 := RunServer(t, o2)
	nc2 := connect(t, s2)
	ns, _ := nc2.SubscribeSync("q2r.>")
	nc2.Flush()
	sub := mqttConnect(t, s2, "q2-watch", true)
	ch := mqttCollect(t, sub, "q2r/#", 2)

	r2 := mqttDialRaw(t, s2)
	if present, code := r2.connect(mqttRawConnect("q2-restart", false, 0, nil, "", "")); code != 0 || !present {
		t.Fatalf("connack %d present %v", code, present)
	}
	r2.send(mqttQoS2Publish("q2r/x", 5, "once only", true))
	r2.expectAck(0x50, 5)
	if m, err := ns.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("resent PUBLISH delivered before PUBREL: %q", m.Data)
	}
	r2.send([]byte{0x62, 2, 0, 5})
	r2.expectAck(0x70, 5)
	nm, err := ns.NextMsg(5 * time.Second)
	if err != nil || string(nm.Data) != "once only" || nm.Subject != "q2r.x" || nm.Header.Get("Nmqtt-Pub") != "2" {
		t.Fatalf("nats got %+v %v", nm, err)
	}
	if got := mqttNext(t, ch); got.payload != "once only" || got.qos != 2 || got.topic != "q2r/x" {
		t.Fatalf("mqtt got %+v", got)
	}
	r2.send([]byte{0x62, 2, 0, 5}) // released already: PUBCOMP, nothing delivered
	r2.expectAck(0x70, 5)
	if m, err := ns.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("delivered twice: %q", m.Data)
	}
	mqttNone(t, ch, 300*time.Millisecond)
	js2, _ := nc2.JetStream()
	if si, err := js2.StreamInfo("$MQTT_qos2in"); err != nil || si.State.Msgs != 0 {
		t.Fatalf("qos2in after release %+v %v", si, err)
	}
	// The identifier is free again: a new message with it is delivered.
	r2.send(mqttQoS2Publish("q2r/x", 5, "second", false))
	r2.expectAck(0x50, 5)
	r2.send([]byte{0x62, 2, 0, 5})
	r2.expectAck(0x70, 5)
	if nm, err := ns.NextMsg(5 * time.Second); err != nil || string(nm.Data) != "second" {
		t.Fatalf("nats got %+v %v", nm, err)
	}
}

// TestMQTTQoS2CleanSessionAndClientIDs: a clean session drops the QoS 2
// messages its client id never released, and client ids that cannot be a
// subject token are refused with CONNACK 2, as the reference does.
func TestMQTTQoS2CleanSessionAndClientIDs(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	r := mqttDialRaw(t, s)
	r.connect(mqttRawConnect("q2-clean", false, 0, nil, "", ""))
	r.send(mqttQoS2Publish("q2c/x", 9, "dropped", false))
	r.expectAck(0x50, 9)
	r.send([]byte{0xe0, 0})
	r.expectClosed(5 * time.Second)

	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("q2c.>")
	nc.Flush()
	r2 := mqttDialRaw(t, s)
	if _, code := r2.connect(mqttRawConnect("q2-clean", true, 0, nil, "", "")); code != 0 {
		t.Fatalf("connack %d", code)
	}
	r2.send([]byte{0x62, 2, 0, 9})
	r2.expectAck(0x70, 9)
	if m, err := ns.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("discarded session's message delivered: %q", m.Data)
	}
	js, _ := nc.JetStream()
	if _, err := js.GetLastMsg("$MQTT_qos2in", "$MQTT.qos2.in.q2-clean.9"); err != nats.ErrMsgNotFound {
		t.Fatalf("record kept: %v", err)
	}
	for _, id := range []string{"a.b", "a*", "a>", "a b"} {
		rr := mqttDialRaw(t, s)
		if _, code := rr.connect(mqttRawConnect(id, true, 0, nil, "", "")); code != 2 {
			t.Fatalf("client id %q: connack %d, want 2", id, code)
		}
	}
}

// TestMQTTQoS2ReleasedOnSameConnection: QoS 2 messages released on the
// connection that published them (without a restart between) are
// delivered once each, to NATS and to a QoS 2 MQTT subscriber, only after
// their PUBREL, and each PUBCOMP comes once its message is gone from
// $MQTT_qos2in; a PUBREL sent again gets PUBCOMP and delivers nothing.
func TestMQTTQoS2ReleasedOnSameConnection(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("q2s.>")
	nc.Flush()
	js, _ := nc.JetStream()
	sub := mqttCollect(t, mqttConnect(t, s, "q2s-sub", true), "q2s/#", 2)
	r := mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("q2s-pub", true, 0, nil, "", "")); code != 0 {
		t.Fatalf("connack %d", code)
	}
	const n = 5
	var burst []byte
	for pi := uint16(1); pi <= n; pi++ {
		burst = append(burst, mqttQoS2Publish("q2s/x", pi, fmt.Sprintf("m%d", pi), false)...)
	}
	r.send(burst)
	for pi := uint16(1); pi <= n; pi++ {
		r.expectAck(0x50, pi)
	}
	if m, err := ns.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("delivered before PUBREL: %q", m.Data)
	}
	burst = burst[:0]
	for pi := uint16(1); pi <= n; pi++ {
		burst = append(burst, 0x62, 2, 0, byte(pi))
	}
	r.send(burst)
	comps := map[uint16]bool{}
	for range n {
		p := r.read(10 * time.Second)
		if p.typ != 0x70 || len(p.body) != 2 {
			t.Fatalf("expected PUBCOMP, got %x %x", p.typ, p.body)
		}
		comps[uint16(p.body[0])<<8|uint16(p.body[1])] = true
	}
	if si, err := js.StreamInfo("$MQTT_qos2in"); len(comps) != n || err != nil || si.State.Msgs != 0 {
		t.Fatalf("PUBCOMPs %v, qos2in after them %+v %v", comps, si, err)
	}
	natsGot, mqttGot := map[string]int{}, map[string]int{}
	for range n {
		m, err := ns.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		natsGot[string(m.Data)]++
		mm := mqttNext(t, sub)
		if mm.qos != 2 {
			t.Fatalf("MQTT subscriber got %+v", mm)
		}
		mqttGot[mm.payload]++
	}
	for pi := 1; pi <= n; pi++ {
		p := fmt.Sprintf("m%d", pi)
		if natsGot[p] != 1 || mqttGot[p] != 1 {
			t.Fatalf("%s: NATS %v, MQTT %v", p, natsGot, mqttGot)
		}
	}
	r.send([]byte{0x62, 2, 0, 3})
	r.expectAck(0x70, 3)
	if m, err := ns.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("PUBREL sent again delivered %q", m.Data)
	}
	mqttNone(t, sub, 100*time.Millisecond)
}
