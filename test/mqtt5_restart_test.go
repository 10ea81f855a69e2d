package test

import (
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// mqttRestart stops s and runs a server again on the same options (the
// same JetStream store).
func mqttRestart(t *testing.T, s *server.Server, o *server.Options) *server.Server {
	t.Helper()
	s.Shutdown()
	s.WaitForShutdown()
	return RunServer(t, o)
}

// mqttSessions is how many session records $MQTT_sess holds.
func mqttSessions(t *testing.T, js nats.JetStreamContext) uint64 {
	t.Helper()
	si, err := js.StreamInfo("$MQTT_sess")
	if err != nil {
		t.Fatalf("session stream: %v", err)
	}
	return si.State.Msgs
}

// mqttSessionRecord is the stored session record of a client id, "" for
// none.
func mqttSessionRecord(t *testing.T, js nats.JetStreamContext, id string) string {
	t.Helper()
	si, err := js.StreamInfo("$MQTT_sess", &nats.StreamInfoRequest{SubjectsFilter: ">"})
	if err != nil {
		t.Fatalf("session stream: %v", err)
	}
	for subj := range si.State.Subjects {
		if m, err := js.GetLastMsg("$MQTT_sess", subj); err == nil && strings.Contains(string(m.Data), `"id":"`+id+`"`) {
			return string(m.Data)
		}
	}
	return ""
}

// waitRecordHas waits until the session record of id contains what.
func waitRecordHas(t *testing.T, js nats.JetStreamContext, id, what string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the session record of "+id+" with "+what, func() bool {
		return strings.Contains(mqttSessionRecord(t, js, id), what)
	})
}

// mqtt5Persistent connects an MQTT 5 client id with a session expiry
// interval and, when filter is set, subscribes it at QoS 1; it reports
// whether CONNACK said the session was present.
func mqtt5Persistent(t *testing.T, s *server.Server, id string, expiry uint32, filter string) (*mqtt5Client, bool) {
	t.Helper()
	mc, ca, err := mqtt5Connect(t, s, &paho.Connect{ClientID: id, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	if filter != "" {
		mc.subscribe(t, paho.SubscribeOptions{Topic: filter, QoS: 1})
	}
	return mc, ca.SessionPresent
}

// TestMQTT5SessionExpiryAcrossRestart: the session expiry interval of a
// disconnected MQTT 5 session is kept in its record, so a restart does not
// make it immortal. A session whose interval passed while the server was
// down is removed at start (record and consumer) without any client
// connecting; one with a long interval stays; one still connected when
// the server stopped counts as disconnected at the restart and is removed
// once its interval passes after it.
func TestMQTT5SessionExpiryAcrossRestart(t *testing.T) {
	o := mqttOptions(t)
	s := RunServer(t, o)
	gone, _ := mqtt5Persistent(t, s, "exp-down", 3, "expdown/+")
	kept, _ := mqtt5Persistent(t, s, "exp-keep", 3600, "expkeep/+")
	mqtt5Persistent(t, s, "exp-conn", 5, "expconn/+")
	_ = gone.c.Disconnect(&paho.Disconnect{})
	_ = kept.c.Disconnect(&paho.Disconnect{})
	left := time.Now()
	js, err := connect(t, s).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	waitRecordHas(t, js, "exp-down", `"disconnected":`)
	waitRecordHas(t, js, "exp-keep", `"disconnected":`)
	if n := mqttSessions(t, js); n != 3 {
		t.Fatalf("%d session records before the restart", n)
	}

	s.Shutdown()
	s.WaitForShutdown()
	// The server is down while exp-down's interval (3 s) passes.
	time.Sleep(time.Until(left.Add(3500 * time.Millisecond)))
	s = RunServer(t, o)
	restarted := time.Now()
	js, err = connect(t, s).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the session that expired while down removed", func() bool {
		si, err := js.StreamInfo("$MQTT_msgs")
		return err == nil && si.State.Consumers == 2 && mqttSessions(t, js) == 2
	})
	if since := time.Since(restarted); since >= 3*time.Second {
		t.Fatalf("the session that expired while down was removed %v after the start: its interval was counted again", since)
	}
	waitFor(t, 15*time.Second, "the session connected at the stop removed 5 s after the restart", func() bool {
		si, err := js.StreamInfo("$MQTT_msgs")
		return err == nil && si.State.Consumers == 1 && mqttSessions(t, js) == 1
	})
	if _, present := mqtt5Persistent(t, s, "exp-down", 60, ""); present {
		t.Fatal("expired session present")
	}
	if _, present := mqtt5Persistent(t, s, "exp-keep", 3600, ""); !present {
		t.Fatal("session with a long interval lost across the restart")
	}
}

// TestMQTT5WillDelayAcrossRestart: a will waiting for its delay is kept in
// its session record. One whose delay passes while the server is down is
// published (retained here, so that it can be seen) when the server
// starts again, without any client connecting; one whose delay has not
// passed at the restart is published once it does, not before; one whose
// client id connects again after the restart and before its delay is
// never published.
func TestMQTT5WillDelayAcrossRestart(t *testing.T) {
	o := mqttOptions(t)
	s := RunServer(t, o)
	expiry := uint32(3600)
	will := func(id string, delay uint32) *paho.Connect {
		return &paho.Connect{ClientID: id, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
			WillMessage:    &paho.WillMessage{Topic: "wr/" + id, Payload: []byte("gone " + id), Retain: true, QoS: 1},
			WillProperties: &paho.WillProperties{WillDelayInterval: &delay}}
	}
	var dropped time.Time
	for _, w := range []struct {
		id    string
		delay uint32
	}{{"down", 3}, {"late", 8}, {"back", 8}} {
		mc, _, err := mqtt5Connect(t, s, will(w.id, w.delay))
		if err != nil {
			t.Fatal(err)
		}
		mc.conn.Close()
		dropped = time.Now()
	}
	js, err := connect(t, s).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"down", "late", "back"} {
		waitRecordHas(t, js, id, `"will":{"topic":"wr/`+id+`"`)
		if _, err := js.GetLastMsg("$MQTT_rmsgs", "$MQTT.rmsgs.wr."+id); err != nats.ErrMsgNotFound {
			t.Fatalf("will of %s published before the restart: %v", id, err)
		}
	}

	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(time.Until(dropped.Add(3500 * time.Millisecond))) // "down"'s delay passes
	s = RunServer(t, o)
	js, err = connect(t, s).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	retained := func(id string) *nats.RawStreamMsg {
		m, err := js.GetLastMsg("$MQTT_rmsgs", "$MQTT.rmsgs.wr."+id)
		if err != nil {
			return nil
		}
		return m
	}
	waitFor(t, 10*time.Second, "the will due while down published at the restart", func() bool { return retained("down") != nil })
	if time.Since(dropped) < 7*time.Second && retained("late") != nil {
		t.Fatal("a will published before its delay")
	}
	if _, present := mqtt5Persistent(t, s, "back", expiry, ""); !present {
		t.Fatal("session of the will cancelled not present")
	}
	waitFor(t, 20*time.Second, "the will due after the restart published", func() bool { return retained("late") != nil })
	if m := retained("late"); string(m.Data) != "gone late" || m.Time.Before(dropped.Add(7*time.Second)) {
		t.Fatalf("late will %q stored at %v, dropped at %v", m.Data, m.Time, dropped)
	}
	if m := retained("back"); m != nil {
		t.Fatalf("the will of a client that came back published: %q", m.Data)
	}
}
