package test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// mqtt5Client is a paho.golang MQTT 5 client with its received messages.
type mqtt5Client struct {
	c    *paho.Client
	conn net.Conn
	got  chan *paho.Publish
}

// mqtt5Connect connects an MQTT 5 client; cp may set session options.
func mqtt5Connect(t testing.TB, s *server.Server, cp *paho.Connect) (*mqtt5Client, *paho.Connack, error) {
	t.Helper()
	return mqtt5ConnectAddr(t, s.MQTTAddr().String(), cp)
}

// mqtt5ConnectAddr is mqtt5Connect to the MQTT listener at addr.
func mqtt5ConnectAddr(t testing.TB, addr string, cp *paho.Connect) (*mqtt5Client, *paho.Connack, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mc := &mqtt5Client{conn: conn, got: make(chan *paho.Publish, 1000)}
	mc.c = paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { mc.got <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ca, err := mc.c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { _ = mc.c.Disconnect(&paho.Disconnect{}) })
	}
	return mc, ca, err
}

func (mc *mqtt5Client) subscribe(t testing.TB, opts ...paho.SubscribeOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := mc.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	for i, r := range sa.Reasons {
		if r > 2 {
			t.Fatalf("subscription %d refused: %#x", i, r)
		}
	}
}

func (mc *mqtt5Client) publish(t testing.TB, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mc.c.Publish(ctx, p); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (mc *mqtt5Client) next(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case p := <-mc.got:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no MQTT 5 message")
	}
	return nil
}

// TestMQTT5PropertiesAndHeaders: user properties become NATS headers and
// headers user properties; the response topic is the NATS reply subject
// both ways, so a NATS request is answered by an MQTT 5 responder.
func TestMQTT5PropertiesAndHeaders(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("v5.in")
	nc.Flush()
	mc, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-props", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	mc.publish(t, &paho.Publish{Topic: "v5/in", QoS: 1, Payload: []byte("hi"), Properties: &paho.PublishProperties{
		User: paho.UserProperties{{Key: "color", Value: "blue"}}, ResponseTopic: "v5/answer", CorrelationData: []byte("c-1"), ContentType: "text/plain",
	}})
	m, err := ns.NextMsg(5 * time.Second)
	if err != nil || m.Header.Get("color") != "blue" || m.Reply != "v5.answer" || string(m.Data) != "hi" || m.Header.Get("Nmqtt-Pub") != "1" {
		t.Fatalf("nats got %+v %v", m, err)
	}

	// NATS -> MQTT 5: headers and reply arrive as properties.
	mc.subscribe(t, paho.SubscribeOptions{Topic: "v5/out/#", QoS: 0})
	hm := nats.NewMsg("v5.out.x")
	hm.Header.Set("Trace", "abc")
	hm.Reply = "back.to.me"
	hm.Data = []byte("with headers")
	if err := nc.PublishMsg(hm); err != nil {
		t.Fatal(err)
	}
	p := mc.next(t)
	if p.Topic != "v5/out/x" || string(p.Payload) != "with headers" || p.Properties.ResponseTopic != "back/to/me" || p.Properties.User.Get("Trace") != "abc" {
		t.Fatalf("mqtt 5 got %+v %+v", p, p.Properties)
	}

	// Request/response: a NATS request answered by the MQTT 5 client.
	mc.subscribe(t, paho.SubscribeOptions{Topic: "svc/echo", QoS: 0})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case req := <-mc.got:
			mc.publish(t, &paho.Publish{Topic: req.Properties.ResponseTopic, Payload: append([]byte("echo: "), req.Payload...)})
		case <-time.After(5 * time.Second):
		}
	}()
	resp, err := nc.Request("svc.echo", []byte("ping"), 5*time.Second)
	if err != nil || string(resp.Data) != "echo: ping" {
		t.Fatalf("request: %v %v", resp, err)
	}
	<-done
}

// TestMQTT5SharedSubscription: "$share/<group>/<filter>" subscribers form a
// queue group: each message goes to one of them.
func TestMQTT5SharedSubscription(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	a, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "share-a", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "share-b", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	a.subscribe(t, paho.SubscribeOptions{Topic: "$share/workers/jobs/+", QoS: 0})
	b.subscribe(t, paho.SubscribeOptions{Topic: "$share/workers/jobs/+", QoS: 0})
	nc := connect(t, s)
	const n = 40
	for i := 0; i < n; i++ {
		nc.Publish("jobs.x", []byte("job"))
	}
	nc.Flush()
	total := 0
	for total < n {
		select {
		case <-a.got:
		case <-b.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d", total, n)
		}
		total++
	}
	select {
	case <-a.got:
		t.Fatal("a message went to both members")
	case <-b.got:
		t.Fatal("a message went to both members")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestMQTT5TopicAliasAndSessionExpiry: a topic alias set by one PUBLISH
// names the topic of the next; a session with an expiry interval keeps
// its QoS 1 subscription across a reconnect (session present).
func TestMQTT5TopicAliasAndSessionExpiry(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("alias.>")
	nc.Flush()
	mc, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-alias", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Properties == nil || ca.Properties.TopicAliasMaximum == nil || *ca.Properties.TopicAliasMaximum == 0 {
		t.Fatalf("CONNACK properties %+v", ca.Properties)
	}
	alias := uint16(3)
	mc.publish(t, &paho.Publish{Topic: "alias/one", Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	mc.publish(t, &paho.Publish{Topic: "", Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	for _, want := range []string{"1", "2"} {
		m, err := ns.NextMsg(5 * time.Second)
		if err != nil || m.Subject != "alias.one" || string(m.Data) != want {
			t.Fatalf("alias: %v %v", m, err)
		}
	}

	expiry := uint32(300)
	sc, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-sess", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil || ca.SessionPresent {
		t.Fatalf("first connect: %v present %v", err, ca != nil && ca.SessionPresent)
	}
	sc.subscribe(t, paho.SubscribeOptions{Topic: "keep/+", QoS: 1})
	_ = sc.c.Disconnect(&paho.Disconnect{})
	waitFor(t, 5*time.Second, "session gone", func() bool { return s.NumClients() == 2 })
	mc.publish(t, &paho.Publish{Topic: "keep/me", QoS: 1, Payload: []byte("kept for you")})
	sc2, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-sess", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil || !ca.SessionPresent {
		t.Fatalf("reconnect: %v present %v", err, ca != nil && ca.SessionPresent)
	}
	if p := sc2.next(t); p.Topic != "keep/me" || string(p.Payload) != "kept for you" || p.QoS != 1 {
		t.Fatalf("after reconnect %+v", p)
	}
}

// TestMQTT5ReasonCodes: wrong credentials get CONNACK reason 0x87.
func TestMQTT5ReasonCodes(t *testing.T) {
	o := mqttOptions(t)
	o.MQTT.Username, o.MQTT.Password = "u", "p"
	s := RunServer(t, o)
	_, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-bad", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("wrong")})
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Fatalf("bad credentials: %v %+v", err, ca)
	}
	if _, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: "v5-good", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}); err != nil || ca.ReasonCode != 0 {
		t.Fatalf("good credentials: %v %+v", err, ca)
	}
}
