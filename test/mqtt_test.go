package test

import (
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
	if err != nil || m.Subject != "a.b.c" || string(m.Data) != "from mqtt" {
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
