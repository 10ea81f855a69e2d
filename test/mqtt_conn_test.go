package test

import (
	"crypto/tls"
	"encoding/json"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// TestMQTTAuth: users of the top-level block with the MQTT password, a
// token given as the password, the mqtt block's own user, no_auth_user,
// and CONNACK 5 (not authorized) for wrong credentials, as the reference.
func TestMQTTAuth(t *testing.T) {
	o := mqttOptions(t)
	o.Users = []*server.User{{Username: "alice", Password: "pw"}, {Username: "anon", Password: "x"}}
	o.MQTT.NoAuthUser = "anon"
	s := RunServer(t, o)
	for _, tc := range []struct {
		user, pass string
		code       byte
	}{
		{"alice", "pw", 0}, {"alice", "bad", 5}, {"bob", "pw", 5}, {"", "", 0},
	} {
		r := mqttDialRaw(t, s)
		if _, code := r.connect(mqttRawConnect("auth-"+tc.user+tc.pass, true, 0, nil, tc.user, tc.pass)); code != tc.code {
			t.Fatalf("%q/%q: CONNACK %d, want %d", tc.user, tc.pass, code, tc.code)
		}
		if tc.code != 0 {
			r.expectClosed(3 * time.Second)
		}
	}

	o2 := mqttOptions(t)
	o2.MQTT.Token = "sesame"
	s2 := RunServer(t, o2)
	r := mqttDialRaw(t, s2)
	if _, code := r.connect(mqttRawConnect("tok", true, 0, nil, "", "sesame")); code != 0 {
		t.Fatalf("token as password: CONNACK %d", code)
	}
	r = mqttDialRaw(t, s2)
	if _, code := r.connect(mqttRawConnect("tok2", true, 0, nil, "", "wrong")); code != 5 {
		t.Fatalf("wrong token: CONNACK %d", code)
	}
}

// TestMQTTConnectRules: an unsupported protocol level gets CONNACK 1, an
// empty client id with clean session off CONNACK 2, a first packet other
// than CONNECT closes, and a client silent past 1.5 keep-alives is closed.
func TestMQTTConnectRules(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	r := mqttDialRaw(t, s)
	body := append(mqttRawStr("MQTT"), 3, 2, 0, 0)
	r.send(mqttRawFrame(0x10, append(body, mqttRawStr("old")...)))
	if p := r.read(3 * time.Second); p.typ != 0x20 || p.body[1] != 1 {
		t.Fatalf("level 3: %x %x", p.typ, p.body)
	}
	r.expectClosed(3 * time.Second)

	r = mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("", false, 0, nil, "", "")); code != 2 {
		t.Fatalf("empty id, persistent: CONNACK %d", code)
	}
	r = mqttDialRaw(t, s)
	r.send([]byte{0xc0, 0}) // PINGREQ before CONNECT
	r.expectClosed(3 * time.Second)

	r = mqttDialRaw(t, s)
	if _, code := r.connect(mqttRawConnect("ka", true, 1, nil, "", "")); code != 0 {
		t.Fatalf("CONNACK %d", code)
	}
	r.send([]byte{0xc0, 0})
	if p := r.read(3 * time.Second); p.typ != 0xd0 {
		t.Fatalf("PINGRESP: %x", p.typ)
	}
	start := time.Now()
	r.expectClosed(5 * time.Second)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %v, before 1.5 keep-alives", d)
	}
}

// TestMQTTSessionTakeover: a second connection with the same client id
// replaces the first, which is closed.
func TestMQTTSessionTakeover(t *testing.T) {
	s := RunServer(t, mqttOptions(t))
	r1 := mqttDialRaw(t, s)
	r1.connect(mqttRawConnect("same", false, 0, nil, "", ""))
	r1.subscribe(1, "take/over", 1)
	r2 := mqttDialRaw(t, s)
	if present, code := r2.connect(mqttRawConnect("same", false, 0, nil, "", "")); code != 0 || !present {
		t.Fatalf("takeover: present %v code %d", present, code)
	}
	r1.expectClosed(5 * time.Second)
	pub := mqttConnect(t, s, "take-pub", true)
	mqttWait(t, pub.Publish("take/over", 1, false, "to the new one"), "publish")
	if p := r2.read(5 * time.Second).publish(t); p.payload != "to the new one" {
		t.Fatalf("got %+v", p)
	}
}

// TestMQTTConfig: the mqtt block from a config file, with the
// reference's refusals.
func TestMQTTConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "mqtt.conf")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	o, err := server.ProcessConfigFile(write(`
		server_name: m1
		jetstream { store_dir: "` + filepath.ToSlash(dir) + `" }
		mqtt { listen: "127.0.0.1:-1", ack_wait: "5s", max_ack_pending: 100, authorization { user: u, password: p, timeout: 3 } }`))
	if err != nil {
		t.Fatal(err)
	}
	if o.MQTT.Port != -1 || o.MQTT.AckWait != 5*time.Second || o.MQTT.MaxAckPending != 100 || o.MQTT.Username != "u" || o.MQTT.AuthTimeout != 3 {
		t.Fatalf("parsed %+v", o.MQTT)
	}
	for _, tc := range []struct{ conf, want string }{
		{`mqtt { port: -1 }`, "mqtt requires JetStream to be enabled if running in standalone mode"},
		{`jetstream: true
		  mqtt { port: -1, max_ack_pending: 70000 }`, "invalid value 70000, should in [0..65535] range"},
		{`jetstream: true
		  mqtt { port: -1, ack_wait: "-1s" }`, "ack wait must be a positive value"},
		{`jetstream: true
		  mqtt { port: -1, bogus: 1 }`, `unknown field "bogus"`},
	} {
		o, err := server.ProcessConfigFile(write(tc.conf))
		if err == nil {
			_, err = server.NewServer(o)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want %q", tc.conf, err, tc.want)
		}
	}
	// Without JetStream of its own, a leaf node reaches its hub's, as with
	// the reference: accepted, js_domain naming the hub's domain.
	o, err = server.ProcessConfigFile(write(`
		leafnodes { remotes [ { url: "nats://127.0.0.1:1" } ] }
		mqtt { port: -1, js_domain: hub }`))
	if err == nil {
		_, err = server.NewServer(o)
	}
	if err != nil || o.MQTT.JsDomain != "hub" {
		t.Fatalf("leaf node with mqtt js_domain: %v %+v", err, o.MQTT)
	}
}

// TestMQTTMonitoring: /varz has the mqtt block with the bound port, /connz
// lists MQTT connections with type "mqtt" and their client id in
// mqtt_client, as the reference.
func TestMQTTMonitoring(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) {
		m := mqttOptions(t)
		o.ServerName, o.JetStream, o.StoreDir, o.MQTT = m.ServerName, true, m.StoreDir, m.MQTT
	})
	mqttConnect(t, s, "watched-client", true)
	_, body, _ := get(t, base+"/varz")
	var v struct {
		MQTT struct {
			Host       string  `json:"host"`
			Port       int     `json:"port"`
			TLSTimeout float64 `json:"tls_timeout"`
		} `json:"mqtt"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.MQTT.Port != s.MQTTAddr().Port || v.MQTT.Host != "127.0.0.1" || v.MQTT.TLSTimeout != 2 {
		t.Fatalf("varz mqtt %+v %v", v.MQTT, err)
	}
	_, body, _ = get(t, base+"/connz")
	var cz struct {
		Conns []struct {
			Type       string `json:"type"`
			MQTTClient string `json:"mqtt_client"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(body), &cz); err != nil || len(cz.Conns) != 1 || cz.Conns[0].Type != "mqtt" || cz.Conns[0].MQTTClient != "watched-client" {
		t.Fatalf("connz %s %v", body, err)
	}
}

// TestMQTTTLS: the mqtt block's tls serves MQTT over TLS (paho with
// ssl://), /connz shows the TLS version, and a plain client gets nothing.
func TestMQTTTLS(t *testing.T) {
	ca := newTestCA(t, "mqtt")
	cert := ca.serverCert(t)
	o := mqttOptions(t)
	o.MQTT.TLS = &server.TLSConfigOpts{CertFile: cert.certFile, KeyFile: cert.keyFile}
	s := RunServer(t, o)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("ssl://" + s.MQTTAddr().String()).SetClientID("tls-client").
		SetTLSConfig(&tls.Config{RootCAs: ca.pool(), ServerName: "127.0.0.1"}).SetAutoReconnect(false).SetConnectRetry(false))
	mqttWait(t, c.Connect(), "tls connect")
	defer c.Disconnect(50)
	nc := connect(t, s)
	ns, _ := nc.SubscribeSync("secure.topic")
	nc.Flush()
	mqttWait(t, c.Publish("secure/topic", 1, false, "over tls"), "publish")
	if m, err := ns.NextMsg(5 * time.Second); err != nil || string(m.Data) != "over tls" {
		t.Fatalf("nats got %v %v", m, err)
	}
	r := mqttDialRaw(t, s)
	r.send(mqttRawConnect("plain", true, 0, nil, "", ""))
	if p, err := r.tryRead(3 * time.Second); err == nil && p.typ == 0x20 {
		t.Fatalf("plain client got CONNACK over a TLS listener")
	}
}
