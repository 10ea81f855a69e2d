package test

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/natsforge/nats-server/server"
)

// mqttOptions are loopback options with JetStream in a temporary store and
// an MQTT listener on a random port.
func mqttOptions(t testing.TB) *server.Options {
	o := DefaultTestOptions()
	o.ServerName = "mqtt-test"
	o.JetStream = true
	o.StoreDir = t.TempDir()
	o.MQTT = server.MQTTOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT}
	return o
}

// mqttURL is the tcp:// URL of the server's MQTT listener.
func mqttURL(s *server.Server) string {
	return fmt.Sprintf("tcp://%s", s.MQTTAddr())
}

// mqttConnect connects a paho MQTT 3.1.1 client, disconnected at the end
// of the test.
func mqttConnect(t testing.TB, s *server.Server, id string, clean bool, tune ...func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(mqttURL(s)).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetProtocolVersion(4)
	for _, f := range tune {
		f(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect %q: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// mqttWait waits for a paho token and fails on its error.
func mqttWait(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mqttMsg is a received MQTT message.
type mqttMsg struct {
	topic    string
	payload  string
	qos      byte
	retained bool
	dup      bool
}

// mqttCollect subscribes and returns the channel messages arrive on.
func mqttCollect(t testing.TB, c mqtt.Client, filter string, qos byte) chan mqttMsg {
	t.Helper()
	ch := make(chan mqttMsg, 1000)
	mqttWait(t, c.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) {
		ch <- mqttMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained(), m.Duplicate()}
	}), "subscribe "+filter)
	return ch
}

// mqttNext waits for the next message on ch.
func mqttNext(t testing.TB, ch chan mqttMsg) mqttMsg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no MQTT message")
	}
	return mqttMsg{}
}

// mqttNone checks that nothing arrives on ch for a short while.
func mqttNone(t testing.TB, ch chan mqttMsg, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected MQTT message %+v", m)
	case <-time.After(d):
	}
}
