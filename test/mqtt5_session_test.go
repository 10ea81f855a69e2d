package test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"
)

// mqttRawConnect5 is an MQTT 5 CONNECT body without properties.
func mqttRawConnect5(id string, clean bool) []byte {
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	body := append(mqttRawStr("MQTT"), 5, flags, 0, 0, 0) // keep-alive 0, no properties
	return mqttRawFrame(0x10, append(body, mqttRawStr(id)...))
}

// TestMQTT5EnhancedAuthRefused: a CONNECT naming an authentication method
// gets CONNACK 0x8C (bad authentication method) with a reason string, and
// an AUTH packet on a connection gets DISCONNECT 0x82 (protocol error)
// and the connection closed.
func TestMQTT5EnhancedAuthRefused(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	_, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-scram", CleanStart: true, Properties: &paho.ConnectProperties{AuthMethod: "SCRAM-SHA-1"}})
	if err == nil || ca == nil || ca.ReasonCode != 0x8c || ca.Properties == nil || ca.Properties.ReasonString != "enhanced authentication not supported yet" {
		t.Fatalf("auth method: %v %+v", err, ca)
	}

	r := mqttDialRaw(t, s)
	r.send(mqttRawConnect5("v5-auth", true))
	if p := r.read(5 * time.Second); p.typ != 0x20 || p.body[1] != 0 {
		t.Fatalf("connack %x %x", p.typ, p.body)
	}
	r.send([]byte{0xf0, 0})
	if p := r.read(5 * time.Second); p.typ != 0xe0 || len(p.body) < 1 || p.body[0] != 0x82 {
		t.Fatalf("expected DISCONNECT 0x82, got %x %x", p.typ, p.body)
	}
	r.expectClosed(5 * time.Second)
}

// TestMQTT5SessionExpiry: a disconnected session with an expiry interval
// loses its subscriptions, consumer and record once the interval passes;
// one that reconnects in time keeps them.
func TestMQTT5SessionExpiry(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	js, _ := nc.JetStream()
	short := uint32(1)
	sc, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-expire", Properties: &paho.ConnectProperties{SessionExpiryInterval: &short}})
	if err != nil {
		t.Fatal(err)
	}
	sc.subscribe(t, paho.SubscribeOptions{Topic: "exp/+", QoS: 1})
	if ci, err := js.StreamInfo("$MQTT_msgs"); err != nil || ci.State.Consumers != 1 {
		t.Fatalf("consumer %v %v", ci, err)
	}
	_ = sc.c.Disconnect(&paho.Disconnect{})
	waitFor(t, 10*time.Second, "session expired", func() bool {
		si, err := js.StreamInfo("$MQTT_msgs")
		_, gerr := js.GetLastMsg("$MQTT_sess", "$MQTT.sess.>")
		return err == nil && si.State.Consumers == 0 && gerr == nats.ErrMsgNotFound
	})
	_, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-expire", Properties: &paho.ConnectProperties{SessionExpiryInterval: &short}})
	if err != nil || ca.SessionPresent {
		t.Fatalf("after expiry: %v present %v", err, ca != nil && ca.SessionPresent)
	}

	long := uint32(3)
	lc, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-back", Properties: &paho.ConnectProperties{SessionExpiryInterval: &long}})
	if err != nil {
		t.Fatal(err)
	}
	lc.subscribe(t, paho.SubscribeOptions{Topic: "back/+", QoS: 1})
	_ = lc.c.Disconnect(&paho.Disconnect{})
	_, ca, err = mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-back", Properties: &paho.ConnectProperties{SessionExpiryInterval: &long}})
	if err != nil || !ca.SessionPresent {
		t.Fatalf("back in time: %v present %v", err, ca != nil && ca.SessionPresent)
	}
	// Its timer was stopped: still there after the interval.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if si, err := js.StreamInfo("$MQTT_msgs"); err != nil || si.State.Consumers != 1 {
			t.Fatalf("resumed session lost its consumer: %v %v", si, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestMQTT5WillDelay: a will with a delay interval is published once the
// delay passes, not when the connection drops; a client that connects
// again within the delay cancels it.
func TestMQTT5WillDelay(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("wd.>")
	nc.Flush()
	expiry, delay := uint32(60), uint32(2)
	will := func(id, topic string) *paho.Connect {
		return &paho.Connect{ClientID: id, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
			WillMessage: &paho.WillMessage{Topic: topic, Payload: []byte("gone " + id)}, WillProperties: &paho.WillProperties{WillDelayInterval: &delay}}
	}
	wc, _, err := mqtt5Connect(t, s, will("v5-will", "wd/late"))
	if err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	wc.conn.Close()
	m, err := ns.NextMsg(10 * time.Second)
	if err != nil || m.Subject != "wd.late" || string(m.Data) != "gone v5-will" {
		t.Fatalf("will %v %v", m, err)
	}
	if waited := time.Since(dropped); waited < 1500*time.Millisecond {
		t.Fatalf("will published after %v, before its delay", waited)
	}

	bc, _, err := mqtt5Connect(t, s, will("v5-back", "wd/cancelled"))
	if err != nil {
		t.Fatal(err)
	}
	bc.conn.Close()
	if _, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-back", Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
		t.Fatal(err)
	}
	if m, err := ns.NextMsg(3 * time.Second); err == nil {
		t.Fatalf("cancelled will published: %s %q", m.Subject, m.Data)
	}
}
