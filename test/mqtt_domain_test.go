package test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// mqttDomainLeaf runs a leaf node without JetStream of the hub whose mqtt
// block says js_domain: hub, and waits for the hub's JetStream API to be
// reachable through it.
func mqttDomainLeaf(t *testing.T, hub *server.Server) *server.Server {
	t.Helper()
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.ServerName = "mqtt-leaf"
		o.MQTT = server.MQTTOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT, JsDomain: "hub"}
	})
	waitLeafs(t, 1, hub, leaf)
	waitLeafSub(t, leaf, "$JS.hub.API.>")
	return leaf
}

// TestMQTTJsDomainOnLeaf: a leaf node without JetStream serves MQTT with
// its state in the hub's JetStream domain (mqtt js_domain: hub), as the
// reference does: the streams are created in the hub, the session record
// is stored at $MQTT.sess.hub.<hash> (the reference's subject in a
// domain), and after the leaf restarts (it has no store of its own) the
// persistent session is present with the QoS 1 messages published while
// it was away, and a new subscriber gets the retained message.
func TestMQTTJsDomainOnLeaf(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, t.TempDir(), "hub"
	})
	leaf := mqttDomainLeaf(t, hub)

	sub := mqttConnect(t, leaf, "dom-sub", false)
	mqttWait(t, sub.Subscribe("dom/+", 1, nil), "subscribe")
	sub.Disconnect(50)
	pub := mqttConnect(t, leaf, "dom-pub", true)
	mqttWait(t, pub.Publish("dom/r", 1, true, "kept"), "publish retained")
	mqttWait(t, pub.Publish("dom/x", 1, false, "while away"), "publish")
	pub.Disconnect(50)

	js, err := connect(t, hub).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	si, err := js.StreamInfo("$MQTT_sess", &nats.StreamInfoRequest{SubjectsFilter: ">"})
	if err != nil {
		t.Fatalf("session stream in the hub: %v", err)
	}
	if len(si.Config.Subjects) != 1 || si.Config.Subjects[0] != "$MQTT.sess.hub.>" {
		t.Fatalf("session stream subjects %v", si.Config.Subjects)
	}
	found := false
	for subj := range si.State.Subjects {
		found = found || strings.HasPrefix(subj, "$MQTT.sess.hub.")
	}
	if !found {
		t.Fatalf("no session record in the hub: %v", si.State.Subjects)
	}
	if m, err := js.GetLastMsg("$MQTT_rmsgs", "$MQTT.rmsgs.dom.r"); err != nil || string(m.Data) != "kept" {
		t.Fatalf("retained message in the hub: %v %v", m, err)
	}

	leaf.Shutdown()
	leaf.WaitForShutdown()
	leaf = mqttDomainLeaf(t, hub)
	got := make(chan mqttMsg, 10)
	mqttConnect(t, leaf, "dom-sub", false, func(o *mqtt.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			got <- mqttMsg{topic: m.Topic(), payload: string(m.Payload()), qos: m.Qos(), retained: m.Retained()}
		})
	})
	away := map[string]string{}
	for range 2 {
		m := mqttNext(t, got)
		if m.qos != 1 {
			t.Fatalf("resumed session got %+v", m)
		}
		away[m.topic] = m.payload
	}
	if away["dom/x"] != "while away" || away["dom/r"] != "kept" {
		t.Fatalf("resumed session got %v", away)
	}
	fresh := mqttCollect(t, mqttConnect(t, leaf, "dom-new", true), "dom/#", 1)
	if m := mqttNext(t, fresh); m.topic != "dom/r" || m.payload != "kept" || !m.retained {
		t.Fatalf("retained after restart: %+v", m)
	}
}

// mqttConnectURL connects a paho 3.1.1 client to url, trying again until
// the server can reach its JetStream (CONNACK "server unavailable" while
// the leaf connection is being set up), at most 30 s.
func mqttConnectURL(t *testing.T, url, id string, clean bool, got chan mqttMsg) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).SetProtocolVersion(4)
	if got != nil {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			got <- mqttMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained(), m.Duplicate()}
		})
	}
	var c mqtt.Client
	waitFor(t, 30*time.Second, "MQTT connect to "+url, func() bool {
		c = mqtt.NewClient(o)
		tok := c.Connect()
		return tok.WaitTimeout(15*time.Second) && tok.Error() == nil
	})
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// TestMQTTJsDomainWithReference: a reference hub (JetStream domain hub)
// keeps the MQTT state of a leaf node (mqtt js_domain: hub) that is in
// turn the reference's and ours on the same configuration: a persistent
// session created by the reference leaf is resumed by ours with the QoS 1
// message stored meanwhile, ours adds a subscription to it, and the
// reference leaf resumes that with the next message, and sees the
// retained message ours stored.
func TestMQTTJsDomainWithReference(t *testing.T) {
	ref := refBin(t)
	dir := t.TempDir()
	hubPort, hubLeafPort, leafPort, mqttPort := freePort(t), freePort(t), freePort(t), freePort(t)
	hubConf := writeConf(t, dir, "hub.conf", fmt.Sprintf(
		"server_name: hub\nlisten: \"127.0.0.1:%d\"\nleafnodes { listen: \"127.0.0.1:%d\" }\njetstream { domain: hub, store_dir: %q }\n",
		hubPort, hubLeafPort, filepath.ToSlash(filepath.Join(dir, "hub"))))
	leafConf := writeConf(t, dir, "leaf.conf", fmt.Sprintf(
		"server_name: leaf\nlisten: \"127.0.0.1:%d\"\nleafnodes { remotes [ { url: \"nats://127.0.0.1:%d\" } ], reconnect: \"100ms\" }\nmqtt { listen: \"127.0.0.1:%d\", js_domain: hub }\n",
		leafPort, hubLeafPort, mqttPort))
	startBinAt(t, ref, "-c", hubConf).waitOutput("Server is ready")
	url := fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort)
	runLeaf := func(bin string) *proc {
		p := startBinAt(t, bin, "-c", leafConf)
		p.waitOutput("Leafnode connection created")
		return p
	}
	stop := func(p *proc) {
		_ = p.cmd.Process.Kill()
		p.waitExit(10 * time.Second)
	}

	leaf := runLeaf(ref)
	mqttWait(t, mqttConnectURL(t, url, "xdom-sub", false, nil).Subscribe("xdom/a", 1, nil), "subscribe on the reference")
	stop(leaf)

	leaf = runLeaf(serverBin)
	pub := mqttConnectURL(t, url, "xdom-pub", true, nil)
	mqttWait(t, pub.Publish("xdom/a", 1, false, "one"), "publish on ours")
	mqttWait(t, pub.Publish("xdom/r", 1, true, "kept by ours"), "publish retained on ours")
	got := make(chan mqttMsg, 10)
	sub := mqttConnectURL(t, url, "xdom-sub", false, got)
	if m := mqttNext(t, got); m.topic != "xdom/a" || m.payload != "one" || m.qos != 1 {
		t.Fatalf("ours resuming the reference's session got %+v", m)
	}
	mqttWait(t, sub.Subscribe("xdom/b", 1, nil), "subscribe on ours")
	sub.Disconnect(50)
	// An MQTT 5 session of ours, dropped with a delayed will: its record
	// has our fields (expiry, disconnected, will), which the reference
	// must read past.
	expiry, delay := uint32(3600), uint32(3600)
	v5, _, err := mqtt5ConnectAddr(t, fmt.Sprintf("127.0.0.1:%d", mqttPort), &paho.Connect{ClientID: "xdom-v5",
		Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
		WillMessage:    &paho.WillMessage{Topic: "xdom/will", Payload: []byte("late")},
		WillProperties: &paho.WillProperties{WillDelayInterval: &delay}})
	if err != nil {
		t.Fatal(err)
	}
	v5.subscribe(t, paho.SubscribeOptions{Topic: "xdom/c", QoS: 1})
	v5.conn.Close()
	hc := dialNATS(t, hubPort)
	hjs, _ := hc.JetStream(nats.Domain("hub"))
	waitFor(t, 10*time.Second, "the dropped MQTT 5 session's record with its will", func() bool {
		m, err := hjs.GetLastMsg("$MQTT_sess", "$MQTT.sess.hub.>")
		return err == nil && strings.Contains(string(m.Data), `"id":"xdom-v5"`) &&
			strings.Contains(string(m.Data), `"disconnected":`) && strings.Contains(string(m.Data), `"will":{"topic":"xdom/will"`)
	})
	stop(leaf)

	runLeaf(ref)
	pub = mqttConnectURL(t, url, "xdom-pub", true, nil)
	mqttWait(t, pub.Publish("xdom/b", 1, false, "two"), "publish on the reference")
	got = make(chan mqttMsg, 10)
	mqttConnectURL(t, url, "xdom-sub", false, got)
	if m := mqttNext(t, got); m.topic != "xdom/b" || m.payload != "two" || m.qos != 1 {
		t.Fatalf("the reference resuming ours's session got %+v", m)
	}
	mqttWait(t, pub.Publish("xdom/c", 1, false, "three"), "publish on the reference")
	got = make(chan mqttMsg, 10)
	mqttConnectURL(t, url, "xdom-v5", false, got)
	if m := mqttNext(t, got); m.topic != "xdom/c" || m.payload != "three" {
		t.Fatalf("the reference resuming ours's MQTT 5 session got %+v", m)
	}
	fresh := make(chan mqttMsg, 10)
	mqttWait(t, mqttConnectURL(t, url, "xdom-new", true, nil).Subscribe("xdom/r", 1, func(_ mqtt.Client, m mqtt.Message) {
		fresh <- mqttMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained(), m.Duplicate()}
	}), "subscribe retained on the reference")
	if m := mqttNext(t, fresh); m.payload != "kept by ours" || !m.retained {
		t.Fatalf("the reference's retained from ours: %+v", m)
	}
}

// TestMQTTJsDomainSessionOnAnotherLeaf: two leaf nodes keep their MQTT
// state in the same hub. An MQTT 5 session with a short expiry interval
// connected on one is not removed by the other, which reads the session
// records back when its first MQTT client connects: their timers are the
// business of the server that wrote them.
func TestMQTTJsDomainSessionOnAnotherLeaf(t *testing.T) {
	hub := leafHub(t, func(o *server.Options) {
		o.JetStream, o.StoreDir, o.JetStreamDomain = true, t.TempDir(), "hub"
	})
	leafA := mqttDomainLeaf(t, hub)
	leafB := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.ServerName = "mqtt-leaf-b"
		o.MQTT = server.MQTTOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT, JsDomain: "hub"}
	})
	waitLeafs(t, 2, hub)
	waitLeafSub(t, leafB, "$JS.hub.API.>")

	expiry := uint32(2)
	onB, _, err := mqtt5Connect(t, leafB, &paho.Connect{ClientID: "shared", Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		t.Fatal(err)
	}
	onB.subscribe(t, paho.SubscribeOptions{Topic: "sh/x", QoS: 1})
	pub := mqttConnect(t, leafA, "shared-pub", true) // leaf A reads the records now
	time.Sleep(3 * time.Second)                      // longer than the session's interval
	js, err := connect(t, hub).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if si, err := js.StreamInfo("$MQTT_msgs"); err != nil || si.State.Consumers != 1 {
		t.Fatalf("the connected session's consumer: %v %v", si, err)
	}
	mqttWait(t, pub.Publish("sh/x", 1, false, "still here"), "publish on A")
	if m := onB.next(t); string(m.Payload) != "still here" {
		t.Fatalf("session on B got %q", m.Payload)
	}
}
