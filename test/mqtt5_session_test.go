package test

import (
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"
)

// mqttRawConnect5 is an MQTT 5 CONNECT with keep-alive 0 and the
// properties given (encoded, shorter than 128 bytes).
func mqttRawConnect5(id string, clean bool, props ...byte) []byte {
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	body := append(mqttRawStr("MQTT"), 5, flags, 0, 0, byte(len(props)))
	body = append(body, props...)
	return mqttRawFrame(0x10, append(body, mqttRawStr(id)...))
}

// connect5 sends an MQTT 5 CONNECT and expects CONNACK success.
func (r *mqttRaw) connect5(connect []byte) {
	r.t.Helper()
	r.send(connect)
	if p := r.read(5 * time.Second); p.typ != 0x20 || len(p.body) < 2 || p.body[1] != 0 {
		r.t.Fatalf("connack %x %x", p.typ, p.body)
	}
}

// subscribe5 subscribes one filter on an MQTT 5 connection and expects
// the QoS granted.
func (r *mqttRaw) subscribe5(filter string, qos byte) {
	r.t.Helper()
	sub := append([]byte{0, 1, 0}, mqttRawStr(filter)...)
	r.send(mqttRawFrame(0x82, append(sub, qos)))
	if p := r.read(5 * time.Second); p.typ != 0x90 || p.body[len(p.body)-1] != qos {
		r.t.Fatalf("suback %x %x", p.typ, p.body)
	}
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
	r.connect5(mqttRawConnect5("v5-auth", true))
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
// delay passes, not when the connection drops, with its properties as a
// PUBLISH's (a user property as a header: paho.golang v0.23 sends no other
// will property); a client that connects again within the delay cancels
// it.
func TestMQTT5WillDelay(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("wd.>")
	nc.Flush()
	expiry, delay := uint32(60), uint32(2)
	will := func(id, topic string) *paho.Connect {
		return &paho.Connect{ClientID: id, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
			WillMessage:    &paho.WillMessage{Topic: topic, Payload: []byte("gone " + id)},
			WillProperties: &paho.WillProperties{WillDelayInterval: &delay, User: paho.UserProperties{{Key: "why", Value: "dropped"}}}}
	}
	wc, _, err := mqtt5Connect(t, s, will("v5-will", "wd/late"))
	if err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	wc.conn.Close()
	m, err := ns.NextMsg(10 * time.Second)
	if err != nil || m.Subject != "wd.late" || string(m.Data) != "gone v5-will" || m.Header.Get("why") != "dropped" {
		t.Fatalf("will %+v %v", m, err)
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

// mqttRawPublish5 parses an MQTT 5 PUBLISH (QoS 1/2: with an identifier).
func mqttRawPublish5(t testing.TB, p mqttRawPacket) (pi uint16, payload string) {
	t.Helper()
	if p.typ&0xf0 != 0x30 || p.typ&0x06 == 0 {
		t.Fatalf("expected a QoS 1/2 PUBLISH, got %x %x", p.typ, p.body)
	}
	n := int(p.body[0])<<8 | int(p.body[1])
	rest := p.body[2+n:]
	pi = uint16(rest[0])<<8 | uint16(rest[1])
	rest = rest[2:]
	plen, shift, i := 0, 0, 0
	for ; ; i++ {
		plen |= int(rest[i]&0x7f) << shift
		shift += 7
		if rest[i]&0x80 == 0 {
			break
		}
	}
	return pi, string(rest[i+1+plen:])
}

// TestMQTT5ReceiveMaximum: a client with receive maximum 2 never has more
// than 2 QoS 1 messages unacknowledged; each PUBACK lets the next one come
// at once, and all arrive.
func TestMQTT5ReceiveMaximum(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	r := mqttDialRaw(t, s)
	r.connect5(mqttRawConnect5("v5-rmax", true, 0x21, 0, 2)) // receive maximum 2
	r.subscribe5("rm/#", 1)
	pub := mqttConnect(t, s, "rmax-pub", true)
	const total = 6
	for i := range total {
		mqttWait(t, pub.Publish("rm/x", 1, false, string(rune('a'+i))), "publish")
	}
	got := map[string]bool{}
	var unacked []uint16
	readOne := func() {
		t.Helper()
		pi, payload := mqttRawPublish5(t, r.read(10*time.Second))
		got[payload] = true
		unacked = append(unacked, pi)
	}
	readOne()
	readOne()
	if extra, err := r.tryRead(700 * time.Millisecond); err == nil {
		t.Fatalf("a third message in flight: %x %x", extra.typ, extra.body)
	}
	for len(got) < total {
		pi := unacked[0]
		unacked = unacked[1:]
		r.send(mqttRawFrame(0x40, []byte{byte(pi >> 8), byte(pi)}))
		readOne()
		if len(unacked) > 2 {
			t.Fatalf("%d in flight", len(unacked))
		}
	}
	if len(got) != total {
		t.Fatalf("got %v", got)
	}
}

// TestMQTT5MessageExpiry: a stored QoS 1 message and a retained message
// whose expiry interval has passed are not delivered (the stored one is
// acknowledged away); ones still valid arrive with what remains of their
// interval.
func TestMQTT5MessageExpiry(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	js, _ := nc.JetStream()
	expiry := uint32(300)
	away := &paho.Connect{ClientID: "v5-away", Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	sc, _, err := mqtt5Connect(t, s, away)
	if err != nil {
		t.Fatal(err)
	}
	sc.subscribe(t, paho.SubscribeOptions{Topic: "mx/+", QoS: 1})
	_ = sc.c.Disconnect(&paho.Disconnect{})

	pub, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-mxpub", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	short, long := uint32(1), uint32(100)
	pub.publish(t, &paho.Publish{Topic: "mx/short", QoS: 1, Payload: []byte("stale"), Properties: &paho.PublishProperties{MessageExpiry: &short}})
	pub.publish(t, &paho.Publish{Topic: "mx/long", QoS: 1, Payload: []byte("fresh"), Properties: &paho.PublishProperties{MessageExpiry: &long}})
	pub.publish(t, &paho.Publish{Topic: "mr/short", QoS: 1, Retain: true, Payload: []byte("stale retained"), Properties: &paho.PublishProperties{MessageExpiry: &short}})
	pub.publish(t, &paho.Publish{Topic: "mr/long", QoS: 1, Retain: true, Payload: []byte("fresh retained"), Properties: &paho.PublishProperties{MessageExpiry: &long}})
	time.Sleep(2100 * time.Millisecond) // the short interval must pass: nothing to await

	back, ca, err := mqtt5Connect(t, s, away)
	if err != nil || !ca.SessionPresent {
		t.Fatalf("reconnect: %v", err)
	}
	p := back.next(t)
	if string(p.Payload) != "fresh" || p.Properties == nil || p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry > 98 || *p.Properties.MessageExpiry < 90 {
		t.Fatalf("fresh message %q %+v", p.Payload, p.Properties)
	}
	select {
	case p := <-back.got:
		t.Fatalf("expired message delivered: %q", p.Payload)
	case <-time.After(500 * time.Millisecond):
	}
	waitFor(t, 10*time.Second, "expired message acknowledged away", func() bool {
		si, err := js.StreamInfo("$MQTT_msgs")
		return err == nil && si.State.Msgs == 0
	})

	rs, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-ret", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	rs.subscribe(t, paho.SubscribeOptions{Topic: "mr/+", QoS: 1})
	p = rs.next(t)
	if string(p.Payload) != "fresh retained" || !p.Retain || p.Properties == nil || p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry > 98 {
		t.Fatalf("retained %q %+v", p.Payload, p.Properties)
	}
	select {
	case p := <-rs.got:
		t.Fatalf("expired retained message delivered: %q", p.Payload)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestMQTT5WillProperties: a will's content type and response topic (sent
// by hand: paho.golang does not send them) reach NATS as the header
// Nmqtt-Ctype and the reply subject.
func TestMQTT5WillProperties(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("wp.>")
	nc.Flush()
	props := append([]byte{0x03}, mqttRawStr("text/plain")...)
	props = append(props, 0x08)
	props = append(props, mqttRawStr("wp/reply")...)
	body := append(mqttRawStr("MQTT"), 5, 0x02|0x04, 0, 0, 0) // clean start, will at QoS 0
	body = append(body, mqttRawStr("v5-willprops")...)
	body = append(append(body, byte(len(props))), props...)
	body = append(body, mqttRawStr("wp/gone")...)
	body = append(body, mqttRawStr("bye")...)
	r := mqttDialRaw(t, s)
	r.connect5(mqttRawFrame(0x10, body))
	r.conn.Close()
	m, err := ns.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "wp.gone" || string(m.Data) != "bye" || m.Reply != "wp.reply" || m.Header.Get("Nmqtt-Ctype") != "text/plain" {
		t.Fatalf("will %+v %v", m, err)
	}
}

// mqttRawPublish5 frames an MQTT 5 PUBLISH (no properties) of qos with
// packet identifier pi; dup sets the DUP flag.
func mqttRawPublishFrame5(topic string, qos byte, pi uint16, dup bool, payload string) []byte {
	flags := qos << 1
	if dup {
		flags |= 0x08
	}
	body := append(mqttRawStr(topic), byte(pi>>8), byte(pi), 0)
	return mqttRawFrame(0x30|flags, append(body, payload...))
}

// TestMQTT5ReceiveMaximumInbound: CONNACK gives the server's receive
// maximum (max_ack_pending, here 2); a client may have that many QoS 1/2
// PUBLISHes unacknowledged (a QoS 2 one until PUBCOMP, a PUBLISH sent
// again takes no second place, each PUBACK/PUBCOMP frees one) and one
// more is DISCONNECT 0x93 "Receive Maximum exceeded" and the end of the
// connection.
func TestMQTT5ReceiveMaximumInbound(t *testing.T) {
	o := mqttOptions(t)
	o.MQTT.MaxAckPending = 2
	s := RunServer(t, o)
	_, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "rmax-in-paho", CleanStart: true})
	if err != nil || ca.Properties == nil || ca.Properties.ReceiveMaximum == nil || *ca.Properties.ReceiveMaximum != 2 {
		t.Fatalf("connack %v %+v", err, ca)
	}

	// Within the limit: QoS 1 one after another, QoS 2 freed by PUBCOMP.
	r := mqttDialRaw(t, s)
	r.connect5(mqttRawConnect5("rmax-in-ok", true))
	for pi := uint16(1); pi <= 5; pi++ {
		r.send(mqttRawPublishFrame5("rmax/in", 1, pi, false, "q1"))
		r.expectAck(0x40, pi)
	}
	r.send(mqttRawPublishFrame5("rmax/in", 2, 11, false, "a"))
	r.expectAck(0x50, 11)
	r.send(mqttRawPublishFrame5("rmax/in", 2, 12, false, "b"))
	r.expectAck(0x50, 12)
	r.send(mqttRawPublishFrame5("rmax/in", 2, 12, true, "b")) // sent again
	r.expectAck(0x50, 12)
	r.send(mqttRawFrame(0x62, []byte{0, 11}))
	r.expectAck(0x70, 11)
	r.send(mqttRawPublishFrame5("rmax/in", 2, 13, false, "c"))
	r.expectAck(0x50, 13)

	// Three QoS 2 PUBLISHes unreleased: the third is one too many.
	r2 := mqttDialRaw(t, s)
	r2.connect5(mqttRawConnect5("rmax-in-over", true))
	r2.send(mqttRawPublishFrame5("rmax/in", 2, 1, false, "a"))
	r2.expectAck(0x50, 1)
	r2.send(mqttRawPublishFrame5("rmax/in", 2, 2, false, "b"))
	r2.expectAck(0x50, 2)
	r2.send(mqttRawPublishFrame5("rmax/in", 2, 3, false, "c"))
	p := r2.read(10 * time.Second)
	if p.typ != 0xe0 || len(p.body) < 1 || p.body[0] != 0x93 || !strings.Contains(string(p.body), "Receive Maximum exceeded") {
		t.Fatalf("expected DISCONNECT 0x93, got %x %q", p.typ, p.body)
	}
	r2.expectClosed(5 * time.Second)
}
