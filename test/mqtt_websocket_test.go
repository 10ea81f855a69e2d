package test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/natsforge/nats-server/server"
)

// mqttWSOptions are mqttOptions with a websocket listener too.
func mqttWSOptions(t testing.TB) *server.Options {
	o := mqttOptions(t)
	o.Websocket = server.WebsocketOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoTLS: true}
	return o
}

// mqttWSConnect connects paho (3.1.1) to ws://<websocket listener>/mqtt.
func mqttWSConnect(t testing.TB, s *server.Server, id string, tune ...func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	return mqttConnect(t, s, id, true, append([]func(*mqtt.ClientOptions){func(o *mqtt.ClientOptions) {
		o.Servers = nil
		o.AddBroker(wsURL(s) + "/mqtt")
	}}, tune...)...)
}

// mqttWSRequest is an upgrade request for path offering the subprotocol
// mqtt, as MQTT clients send it.
func mqttWSRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
}

// TestMQTTOverWebsocket: paho over ws://host:port/mqtt publishes at QoS 0
// and 1 to a NATS subscriber and to an MQTT client on the TCP listener,
// and receives from both, at QoS 0 and 1; /connz shows it as an MQTT
// client.
func TestMQTTOverWebsocket(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) {
		m := mqttWSOptions(t)
		o.ServerName, o.JetStream, o.StoreDir, o.MQTT, o.Websocket = m.ServerName, true, m.StoreDir, m.MQTT, m.Websocket
	})
	ws := mqttWSConnect(t, s, "over-ws")
	tcp := mqttConnect(t, s, "over-tcp", true)
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("ws.>")
	nc.Flush()
	fromWS := mqttCollect(t, tcp, "ws/#", 1)

	for qos := byte(0); qos <= 1; qos++ {
		payload := "from ws qos " + string('0'+qos)
		mqttWait(t, ws.Publish("ws/up", qos, false, payload), "ws publish")
		m, err := ns.NextMsg(5 * time.Second)
		if err != nil || string(m.Data) != payload || m.Subject != "ws.up" || m.Header.Get("Nmqtt-Pub") != string('0'+qos) {
			t.Fatalf("nats got %+v %v", m, err)
		}
		if got := mqttNext(t, fromWS); got.payload != payload || got.qos != qos || got.topic != "ws/up" {
			t.Fatalf("tcp client got %+v", got)
		}
	}

	toWS := mqttCollect(t, ws, "down/+", 1)
	nc.Publish("down.nats", []byte("from nats"))
	if got := mqttNext(t, toWS); got.payload != "from nats" || got.qos != 0 || got.topic != "down/nats" {
		t.Fatalf("ws client got %+v", got)
	}
	mqttWait(t, tcp.Publish("down/tcp", 1, false, "from tcp"), "tcp publish")
	if got := mqttNext(t, toWS); got.payload != "from tcp" || got.qos != 1 || got.topic != "down/tcp" {
		t.Fatalf("ws client got %+v", got)
	}

	_, body, _ := get(t, base+"/connz")
	var cz struct {
		Conns []struct {
			Type       string `json:"type"`
			MQTTClient string `json:"mqtt_client"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(body), &cz); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cz.Conns {
		found = found || (c.MQTTClient == "over-ws" && c.Type == "mqtt")
	}
	if !found {
		t.Fatalf("connz %s", body)
	}
}

// TestMQTTOverWebsocketHandshake: the path /mqtt is MQTT, answered with
// the subprotocol "mqtt" (what the reference answers), packets may span
// websocket messages, other paths stay NATS, MQTT credentials (not the
// websocket block's) apply, and without an mqtt block /mqtt is a 404.
func TestMQTTOverWebsocketHandshake(t *testing.T) {
	o := mqttWSOptions(t)
	o.MQTT.Username, o.MQTT.Password = "mq", "mqpass"
	o.Websocket.Username, o.Websocket.Password = "wsu", "wspass"
	s := RunServer(t, o)

	w := dialWSRequest(t, s, mqttWSRequest("/mqtt?x=1"))
	if w.resp.StatusCode != http.StatusSwitchingProtocols || w.resp.Header.Get("Sec-Websocket-Protocol") != "mqtt" {
		t.Fatalf("upgrade %s %v", w.resp.Status, w.resp.Header)
	}
	connect := mqttRawConnect("raw-ws", true, 0, nil, "mq", "mqpass")
	w.send(clientFrame(0x82, connect[:5], true), clientFrame(0x82, connect[5:], true)) // one packet, two messages
	if f := w.readFrame(); f.op != 2 || string(f.payload) != "\x20\x02\x00\x00" {
		t.Fatalf("connack frame op %d %x", f.op, f.payload)
	}
	ping := []byte{0xc0, 0}
	w.send(clientFrame(0x82, append(append([]byte{}, ping...), ping...), true)) // two packets, one message
	if got := w.readData("\xd0\x00\xd0\x00"); got != "\xd0\x00\xd0\x00" {
		t.Fatalf("pingresps %x", got)
	}

	bad := dialWSRequest(t, s, mqttWSRequest("/mqtt"))
	bad.send(clientFrame(0x82, mqttRawConnect("raw-ws2", true, 0, nil, "wsu", "wspass"), true))
	if f := bad.readFrame(); f.op != 2 || string(f.payload) != "\x20\x02\x00\x05" {
		t.Fatalf("websocket credentials over MQTT: frame op %d %x", f.op, f.payload)
	}

	n := dialWSRequest(t, s, mqttWSRequest("/other"))
	if n.resp.Header.Get("Sec-Websocket-Protocol") != "" {
		t.Fatalf("NATS upgrade named a subprotocol: %v", n.resp.Header)
	}
	if f := n.readFrame(); f.op != 2 || string(f.payload[:5]) != "INFO " {
		t.Fatalf("NATS path: frame op %d %q", f.op, f.payload)
	}

	s2 := RunServer(t, wsOptions())
	if r := dialWSRequest(t, s2, mqttWSRequest("/mqtt")); r.resp.StatusCode != http.StatusNotFound {
		t.Fatalf("without mqtt: %s", r.resp.Status)
	}
}

// TestMQTTOverWebsocketConnectionType: a user allowed connection type
// MQTT_WS logs in over ws://.../mqtt and is refused on the MQTT TCP
// listener (CONNACK 5); a user allowed MQTT only is refused over websocket.
func TestMQTTOverWebsocketConnectionType(t *testing.T) {
	o := mqttWSOptions(t)
	o.Users = []*server.User{
		{Username: "wsonly", Password: "pw", AllowedConnectionTypes: map[string]struct{}{"MQTT_WS": {}}},
		{Username: "tcponly", Password: "pw", AllowedConnectionTypes: map[string]struct{}{"MQTT": {}}},
	}
	s := RunServer(t, o)
	login := func(path, user string) byte {
		w := dialWSRequest(t, s, mqttWSRequest(path))
		w.send(clientFrame(0x82, mqttRawConnect("ct-"+user, true, 0, nil, user, "pw"), true))
		f := w.readFrame()
		if f.op != 2 || len(f.payload) != 4 || f.payload[0] != 0x20 {
			t.Fatalf("%s: frame op %d %x", user, f.op, f.payload)
		}
		return f.payload[3]
	}
	if code := login("/mqtt", "wsonly"); code != 0 {
		t.Fatalf("MQTT_WS user over websocket: CONNACK %d", code)
	}
	if code := login("/mqtt", "tcponly"); code != 5 {
		t.Fatalf("MQTT user over websocket: CONNACK %d, want 5", code)
	}
	r := mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("ct-tcp", true, 0, nil, "wsonly", "pw")); code != 5 {
		t.Fatalf("MQTT_WS user over TCP: CONNACK %d, want 5", code)
	}
	r2 := mqttDialRaw(t, s)
	if _, code := r2.connect(mqttRawConnect("ct-tcp2", true, 0, nil, "tcponly", "pw")); code != 0 {
		t.Fatalf("MQTT user over TCP: CONNACK %d", code)
	}
}
