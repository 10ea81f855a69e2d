package test

import (
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestMQTTQoS0BothWays: MQTT publishes reach NATS subscribers on the
// mapped subject, NATS publishes reach MQTT subscribers on the mapped
// topic, wildcards included.
func TestMQTTQoS0BothWays(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	mc := mqttConnect(t, s, "qos0", true)

	ns, err := nc.SubscribeSync("a.b.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	mqttWait(t, mc.Publish("a/b/c", 0, false, "from mqtt"), "publish")
	m, err := ns.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "a.b.c" || string(m.Data) != "from mqtt" || m.Header.Get("Nmqtt-Pub") != "0" {
		t.Fatalf("nats got %v %v", m, err)
	}

	ch := mqttCollect(t, mc, "x/+/z/#", 0)
	for _, subj := range []string{"x.y.z", "x.y.z.w", "x.y.q"} {
		if err := nc.Publish(subj, []byte("from nats "+subj)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	got := mqttNext(t, ch)
	if got.topic != "x/y/z" || got.payload != "from nats x.y.z" || got.qos != 0 {
		t.Fatalf("mqtt got %+v", got)
	}
	got = mqttNext(t, ch)
	if got.topic != "x/y/z/w" {
		t.Fatalf("mqtt got %+v", got)
	}
	mqttNone(t, ch, 100*time.Millisecond)
	_ = nats.ErrTimeout
}

// TestMQTTQoS1StoredAndAcked: a QoS 1 publish is stored in $MQTT_msgs
// (the reference's stream) before PUBACK, reaches a QoS 1 MQTT subscriber
// at QoS 1 and a NATS subscriber with the Nmqtt-Pub header.
func TestMQTTQoS1StoredAndAcked(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	sub := mqttConnect(t, s, "sub1", true)
	ch := mqttCollect(t, sub, "q/1", 1)
	ns, _ := nc.SubscribeSync("q.1")
	nc.Flush()
	pub := mqttConnect(t, s, "pub1", true)
	mqttWait(t, pub.Publish("q/1", 1, false, "one"), "publish qos1")
	got := mqttNext(t, ch)
	if got.topic != "q/1" || got.payload != "one" || got.qos != 1 || got.dup {
		t.Fatalf("mqtt got %+v", got)
	}
	mqttNone(t, ch, 100*time.Millisecond) // not twice (plain and stored)
	m, err := ns.NextMsg(5 * time.Second)
	if err != nil || m.Header.Get("Nmqtt-Pub") != "1" || string(m.Data) != "one" {
		t.Fatalf("nats got %v %v", m, err)
	}
	js, _ := nc.JetStream()
	for _, name := range []string{"$MQTT_msgs", "$MQTT_rmsgs", "$MQTT_sess", "$MQTT_qos2in", "$MQTT_out"} {
		if _, err := js.StreamInfo(name); err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
	}
	si, _ := js.StreamInfo("$MQTT_msgs")
	if si.Config.Retention != nats.InterestPolicy || si.Config.Subjects[0] != "$MQTT.msgs.>" || si.State.Consumers != 1 {
		t.Fatalf("$MQTT_msgs: %+v %+v", si.Config, si.State)
	}
}

// TestMQTTQoS1RedeliveryWithDup: a QoS 1 message left unacknowledged is
// sent again after ack_wait with DUP set and the same packet identifier;
// once acknowledged it is not sent again.
func TestMQTTQoS1RedeliveryWithDup(t *testing.T) {
	o := mqttOptions(t)
	o.MQTT.AckWait = 300 * time.Millisecond
	s := RunServer(t, o)
	r := mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("raw-sub", true, 0, nil, "", "")); code != 0 {
		t.Fatalf("connack %d", code)
	}
	if q := r.subscribe(1, "redo/+", 1); q != 1 {
		t.Fatalf("granted %d", q)
	}
	pub := mqttConnect(t, s, "redo-pub", true)
	mqttWait(t, pub.Publish("redo/x", 1, false, "again"), "publish")
	first := r.read(5 * time.Second).publish(t)
	if first.topic != "redo/x" || first.payload != "again" || first.flags != 0x02 || first.pi == 0 {
		t.Fatalf("first delivery %+v", first)
	}
	second := r.read(5 * time.Second).publish(t)
	if second.flags != 0x0a || second.pi != first.pi || second.payload != "again" {
		t.Fatalf("redelivery %+v, first %+v", second, first)
	}
	r.send([]byte{0x40, 2, byte(second.pi >> 8), byte(second.pi)})
	if p, err := r.tryRead(time.Second); err == nil {
		t.Fatalf("sent again after PUBACK: %x %x", p.typ, p.body)
	}
}

// TestMQTTQoS2BothWays: QoS 2 in (PUBLISH, PUBREC, PUBREL, PUBCOMP, a
// duplicate PUBLISH not delivered twice) and out (PUBREC answered with
// PUBREL, PUBCOMP ends it), with paho on the other side.
func TestMQTTQoS2BothWays(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	sub := mqttConnect(t, s, "q2-sub", true)
	ch := mqttCollect(t, sub, "q2/#", 2)

	r := mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("q2-raw", true, 0, nil, "", "")); code != 0 {
		t.Fatalf("connack %d", code)
	}
	pubBody := append(mqttRawStr("q2/in"), 0, 9)
	pubBody = append(pubBody, "exactly once"...)
	r.send(mqttRawFrame(0x34, pubBody))
	if p := r.read(5 * time.Second); p.typ != 0x50 || p.body[1] != 9 {
		t.Fatalf("expected PUBREC 9, got %x %x", p.typ, p.body)
	}
	r.send(mqttRawFrame(0x3c, pubBody)) // DUP before PUBREL: not delivered again
	if p := r.read(5 * time.Second); p.typ != 0x50 || p.body[1] != 9 {
		t.Fatalf("expected PUBREC 9 again, got %x %x", p.typ, p.body)
	}
	r.send([]byte{0x62, 2, 0, 9})
	if p := r.read(5 * time.Second); p.typ != 0x70 || p.body[1] != 9 {
		t.Fatalf("expected PUBCOMP 9, got %x %x", p.typ, p.body)
	}
	got := mqttNext(t, ch)
	if got.topic != "q2/in" || got.payload != "exactly once" || got.qos != 2 {
		t.Fatalf("paho got %+v", got)
	}
	mqttNone(t, ch, 200*time.Millisecond)

	// Out: the raw client subscribes at QoS 2, paho publishes at QoS 2.
	if q := r.subscribe(2, "q2out", 2); q != 2 {
		t.Fatalf("granted %d", q)
	}
	mqttWait(t, sub.Publish("q2out", 2, false, "to raw"), "publish qos2")
	p := r.read(5 * time.Second).publish(t)
	if p.flags != 0x04 || p.payload != "to raw" {
		t.Fatalf("qos2 delivery %+v", p)
	}
	r.send([]byte{0x50, 2, byte(p.pi >> 8), byte(p.pi)})
	if rel := r.read(5 * time.Second); rel.typ != 0x62 || rel.body[1] != byte(p.pi) {
		t.Fatalf("expected PUBREL, got %x %x", rel.typ, rel.body)
	}
	r.send([]byte{0x70, 2, byte(p.pi >> 8), byte(p.pi)})
	if extra, err := r.tryRead(500 * time.Millisecond); err == nil {
		t.Fatalf("unexpected packet %x %x", extra.typ, extra.body)
	}
}

// TestMQTTWillOnAbruptDisconnect: the will message goes out when the
// connection drops without DISCONNECT, and not after a DISCONNECT.
func TestMQTTWillOnAbruptDisconnect(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("will.>")
	nc.Flush()
	sub := mqttConnect(t, s, "will-watch", true)
	ch := mqttCollect(t, sub, "will/#", 1)

	r := mqttDialRaw(t, s)
	r.connect(mqttRawConnect("willer", true, 0, &[3]string{"will/gone", "bye", ""}, "", ""))
	r.conn.Close()
	got := mqttNext(t, ch)
	if got.topic != "will/gone" || got.payload != "bye" || got.qos != 1 {
		t.Fatalf("will %+v", got)
	}
	if m, err := ns.NextMsg(5 * time.Second); err != nil || m.Subject != "will.gone" {
		t.Fatalf("nats will %v %v", m, err)
	}

	r2 := mqttDialRaw(t, s)
	r2.connect(mqttRawConnect("polite", true, 0, &[3]string{"will/polite", "no", ""}, "", ""))
	r2.send([]byte{0xe0, 0})
	r2.expectClosed(5 * time.Second)
	mqttNone(t, ch, 300*time.Millisecond)
}

// TestMQTTRetainedSurvivesRestart: a retained message is delivered, flagged
// retained, to later subscribers, also after a restart on the same store;
// an empty retained message removes it.
func TestMQTTRetainedSurvivesRestart(t *testing.T) {
	o := mqttOptions(t)
	s := RunServer(t, o)
	pub := mqttConnect(t, s, "ret-pub", true)
	mqttWait(t, pub.Publish("ret/a", 1, true, "kept"), "publish retained")
	mqttWait(t, pub.Publish("ret/b", 0, true, "kept b"), "publish retained")
	mqttWait(t, pub.Publish("ret/b", 1, true, ""), "clear retained")
	sub := mqttConnect(t, s, "ret-sub", true)
	ch := mqttCollect(t, sub, "ret/+", 1)
	got := mqttNext(t, ch)
	if got.topic != "ret/a" || got.payload != "kept" || !got.retained || got.qos != 1 {
		t.Fatalf("retained %+v", got)
	}
	mqttNone(t, ch, 200*time.Millisecond)
	pub.Disconnect(0)
	sub.Disconnect(0)
	s.Shutdown()

	o2 := mqttOptions(t)
	o2.StoreDir = o.StoreDir
	s2 := RunServer(t, o2)
	sub2 := mqttConnect(t, s2, "ret-sub2", true)
	ch2 := mqttCollect(t, sub2, "ret/#", 0)
	got = mqttNext(t, ch2)
	if got.topic != "ret/a" || got.payload != "kept" || !got.retained || got.qos != 0 {
		t.Fatalf("retained after restart %+v", got)
	}
	mqttNone(t, ch2, 200*time.Millisecond)
}

// TestMQTTPersistentSessionReconnectAndRestart: a session with clean
// session off keeps its subscriptions across a reconnect and a server
// restart, and QoS 1 messages published while it was away arrive.
func TestMQTTPersistentSessionReconnectAndRestart(t *testing.T) {
	o := mqttOptions(t)
	s := RunServer(t, o)
	c1 := mqttConnect(t, s, "persist", false)
	mqttWait(t, c1.Subscribe("p/+", 1, nil), "subscribe")
	c1.Disconnect(50)

	pub := mqttConnect(t, s, "p-pub", true)
	mqttWait(t, pub.Publish("p/1", 1, false, "while away"), "publish")

	ch := make(chan mqttMsg, 10)
	handler := func(o *mqtt.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			ch <- mqttMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained(), m.Duplicate()}
		})
	}
	c2 := mqttConnect(t, s, "persist", false, handler)
	if got := mqttNext(t, ch); got.topic != "p/1" || got.payload != "while away" || got.qos != 1 {
		t.Fatalf("after reconnect %+v", got)
	}
	// paho sends PUBACK after the handler returns: wait for it to be
	// processed (the interest stream then drops the message), else the
	// message is rightly sent again after the restart.
	nc := connect(t, s)
	js, _ := nc.JetStream()
	waitFor(t, 10*time.Second, "p/1 acknowledged", func() bool {
		si, err := js.StreamInfo("$MQTT_msgs")
		return err == nil && si.State.Msgs == 0
	})
	nc.Close()
	c2.Disconnect(50)
	mqttWait(t, pub.Publish("p/2", 1, false, "before restart"), "publish")
	pub.Disconnect(50)
	s.Shutdown()

	o2 := mqttOptions(t)
	o2.StoreDir = o.StoreDir
	s2 := RunServer(t, o2)
	c3 := mqttConnect(t, s2, "persist", false, handler)
	got := mqttNext(t, ch)
	if got.topic != "p/2" || got.payload != "before restart" {
		t.Fatalf("after restart %+v", got)
	}
	// The subscription itself survived: a new message arrives too.
	pub2 := mqttConnect(t, s2, "p-pub2", true)
	mqttWait(t, pub2.Publish("p/3", 1, false, "after restart"), "publish")
	if got := mqttNext(t, ch); got.payload != "after restart" {
		t.Fatalf("new message %+v", got)
	}
	_ = c3
}
