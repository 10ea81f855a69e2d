package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestMQTT5SharedSubscriptionQoS1: QoS 1 messages to a shared
// subscription go to one member each, granted and delivered at QoS 1; a
// message a member received and did not acknowledge goes to another
// member once the first one's connection is lost; the group's consumer
// goes with its last member.
func TestMQTT5SharedSubscriptionQoS1(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	js, _ := nc.JetStream()
	a, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "sq-a", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "sq-b", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	a.subscribe(t, paho.SubscribeOptions{Topic: "$share/g1/sq/+", QoS: 1})
	b.subscribe(t, paho.SubscribeOptions{Topic: "$share/g1/sq/+", QoS: 1})
	pub := mqttConnect(t, s, "sq-pub", true)
	const n = 20
	for i := range n {
		mqttWait(t, pub.Publish("sq/x", 1, false, fmt.Sprint(i)), "publish")
	}
	seen := map[string]bool{}
	for len(seen) < n {
		var p *paho.Publish
		select {
		case p = <-a.got:
		case p = <-b.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d", len(seen), n)
		}
		if seen[string(p.Payload)] || p.QoS != 1 {
			t.Fatalf("message %q again or at QoS %d", p.Payload, p.QoS)
		}
		seen[string(p.Payload)] = true
	}
	select {
	case p := <-a.got:
		t.Fatalf("extra message %q", p.Payload)
	case p := <-b.got:
		t.Fatalf("extra message %q", p.Payload)
	case <-time.After(300 * time.Millisecond):
	}

	// Redelivery: a raw member receives and does not acknowledge.
	r := mqttDialRaw(t, s)
	r.connect5(mqttRawConnect5("sq-raw", true))
	r.subscribe5("$share/g2/rd/+", 1)
	mqttWait(t, pub.Publish("rd/x", 1, false, "handled once"), "publish")
	if _, payload := mqttRawPublish5(t, r.read(5*time.Second)); payload != "handled once" {
		t.Fatalf("raw member got %q", payload)
	}
	b.subscribe(t, paho.SubscribeOptions{Topic: "$share/g2/rd/+", QoS: 1})
	r.conn.Close()
	select {
	case p := <-b.got:
		if string(p.Payload) != "handled once" || p.QoS != 1 {
			t.Fatalf("redelivered %q qos %d", p.Payload, p.QoS)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not redelivered to the other member")
	}

	countShared := func() int {
		n := 0
		for name := range js.ConsumerNames("$MQTT_msgs") {
			if len(name) > 3 && name[:3] == "sh_" {
				n++
			}
		}
		return n
	}
	if got := countShared(); got != 2 {
		t.Fatalf("%d group consumers, want 2", got)
	}
	_ = a.c.Disconnect(&paho.Disconnect{})
	_ = b.c.Disconnect(&paho.Disconnect{})
	waitFor(t, 10*time.Second, "group consumers removed with the last members", func() bool { return countShared() == 0 })
}
