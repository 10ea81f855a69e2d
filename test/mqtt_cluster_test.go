package test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsforge/nats-server/server"
)

// MQTT in a 3-server JetStream cluster: the MQTT streams are created with
// replicas 3 by default (the cluster's size, as the reference does); a
// retained message and a persistent session with a message queued for it
// survive the loss of the server that led the streams.
func TestMQTTClusterR3Streams(t *testing.T) {
	t.Parallel() // a cluster test mostly waits (elections, settling): run it beside others
	servers := runCluster(t, 3, func(i int, o *server.Options) {
		o.JetStream = true
		o.StoreDir = t.TempDir()
		o.MQTT = server.MQTTOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT}
	})
	waitMetaLeader(t, servers)

	dev := mqttConnect(t, servers[0], "dev1", false)
	got := mqttCollect(t, dev, "foo/#", 1)
	mqttWait(t, dev.Publish("foo/ret", 1, true, "kept"), "publish retained")
	if m := mqttNext(t, got); m.topic != "foo/ret" || m.payload != "kept" {
		t.Fatalf("own retained message %+v", m)
	}
	dev.Disconnect(50)

	nc := connect(t, servers[0])
	js, _ := jetstream.New(nc)
	for _, name := range []string{"$MQTT_sess", "$MQTT_msgs", "$MQTT_rmsgs", "$MQTT_qos2in", "$MQTT_out"} {
		if si := streamInfo(t, js, name); si.Config.Replicas != 3 || len(si.Cluster.Replicas) != 2 {
			t.Fatalf("%s: replicas %d, cluster %+v", name, si.Config.Replicas, si.Cluster)
		}
	}
	// A message for the disconnected persistent session.
	pub := mqttConnect(t, servers[1], "pub", true)
	mqttWait(t, pub.Publish("foo/q", 1, false, "queued"), "publish for the session")
	pub.Disconnect(50)

	// The server leading the session's messages goes away.
	lead := serverNamed(t, servers, streamInfo(t, js, "$MQTT_msgs").Cluster.Leader)
	nc.Close()
	servers[lead].Shutdown()
	servers[lead].WaitForShutdown()
	alive := servers[(lead+1)%3]

	// The session resumes on another server and gets the queued message.
	queued := make(chan mqttMsg, 10)
	o := mqtt.NewClientOptions().AddBroker(mqttURL(alive)).SetClientID("dev1").SetCleanSession(false).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			queued <- mqttMsg{topic: m.Topic(), payload: string(m.Payload()), qos: m.Qos()}
		})
	var dev2 mqtt.Client
	waitFor(t, 30*time.Second, "dev1's session resumed on "+alive.Name(), func() bool {
		dev2 = mqtt.NewClient(o)
		tok := dev2.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return false
		}
		if !tok.(*mqtt.ConnectToken).SessionPresent() {
			t.Fatal("CONNACK without the session present")
		}
		return true
	})
	t.Cleanup(func() { dev2.Disconnect(50) })
	if m := mqttNext(t, queued); m.topic != "foo/q" || m.payload != "queued" || m.qos != 1 {
		t.Fatalf("queued message %+v", m)
	}

	// A new subscriber on the survivors gets the retained message.
	reader := mqttConnect(t, servers[(lead+2)%3], "reader", true)
	if m := mqttNext(t, mqttCollect(t, reader, "foo/ret", 1)); m.payload != "kept" || !m.retained {
		t.Fatalf("retained after failover %+v", m)
	}
	// The streams still take writes: a retained update is stored and
	// reaches a new reader on the same server and, through the other
	// server's own copy of the retained messages (kept in step as they are
	// stored), one on the other survivor, whose MQTT started before it.
	mqttWait(t, reader.Publish("foo/ret", 1, true, "kept2"), "retained update")
	r2 := mqttConnect(t, servers[(lead+2)%3], "reader2", true)
	if m := mqttNext(t, mqttCollect(t, r2, "foo/ret", 1)); m.payload != "kept2" {
		t.Fatalf("retained update %+v", m)
	}
	waitFor(t, 10*time.Second, "the update retained on "+alive.Name(), func() bool {
		r3 := mqttConnect(t, alive, "reader3", true)
		defer r3.Disconnect(50)
		m := mqttNext(t, mqttCollect(t, r3, "foo/ret", 1))
		return m.payload == "kept2"
	})
	// A removal (empty retained payload) reaches the other copy too.
	mqttWait(t, reader.Publish("foo/ret", 1, true, ""), "retained removal")
	waitFor(t, 10*time.Second, "the removal on "+alive.Name(), func() bool {
		r4 := mqttConnect(t, alive, "reader4", true)
		defer r4.Disconnect(50)
		got := mqttCollect(t, r4, "foo/ret", 1)
		select {
		case m := <-got:
			return m.payload == ""
		case <-time.After(300 * time.Millisecond):
			return true
		}
	})
}

// stream_replicas is accepted in the config; a standalone server refuses
// streams above 1 replica when MQTT creates them, so the client's CONNECT
// fails (the reference's 10074 in the log). consumer_replicas only warns,
// in the reference's words.
func TestMQTTStreamReplicasStandalone(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir, "mqtt.conf", `
		listen: "127.0.0.1:-1"
		jetstream { store_dir: "`+filepath.ToSlash(dir)+`" }
		mqtt { listen: "127.0.0.1:-1", stream_replicas: 3, consumer_replicas: 3 }`)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if o.MQTT.StreamReplicas != 3 {
		t.Fatalf("stream_replicas %d", o.MQTT.StreamReplicas)
	}
	warned := false
	for _, w := range o.ConfigWarnings() {
		warned = warned || strings.Contains(w.Error(), `invalid use of field "consumer_replicas": consumer replicas setting ignored in this server version`)
	}
	if !warned {
		t.Fatalf("warnings %v", o.ConfigWarnings())
	}
	s := RunServer(t, o)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mqttURL(s)).SetClientID("x").SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetProtocolVersion(4))
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() == nil {
		t.Fatalf("connect with R3 streams on a standalone server: %v", tok.Error())
	}
}
