package server

import "testing"

// TestMQTTHotPathAllocs: a QoS 1 PUBLISH's PubAck reply subject built
// and answered, and a QoS 1 delivery tracked and acknowledged, allocate
// nothing once the connection's buffers and records exist.
func TestMQTTHotPathAllocs(t *testing.T) {
	ma := &mqttAccount{prefix: "$MQTT.JSA.abcdefgh.", clients: map[uint64]*client{}}
	buf := make([]byte, 0, 128)
	answer := []byte(`{"stream":"$MQTT_msgs","seq":1}`)
	if n := testing.AllocsPerRun(1000, func() {
		buf = ma.appendPubAckReply(buf[:0], 12345, 678, 1)
		ma.pubAcked(string(buf[len(ma.prefix)+3:]), answer)
	}); n != 0 {
		t.Fatalf("PubAck reply: %v allocations per message", n)
	}
	if got := string(buf); got != "$MQTT.JSA.abcdefgh.PA.12345.678.1" {
		t.Fatalf("PubAck reply %q", got)
	}

	mq := &mqttConn{}
	ack := []byte("$JS.ACK.$MQTT_msgs.consumer.1.100.100.1700000000000000000.0")
	cycle := func() {
		pi, _ := mq.trackOut("$MQTT.sub.x", ack, 1, false)
		inf := mq.inflight[pi]
		delete(mq.inflight, pi)
		delete(mq.bySeq, inf.key)
		mq.free = append(mq.free, inf)
	}
	cycle() // the maps and the first record
	if n := testing.AllocsPerRun(1000, cycle); n != 0 {
		t.Fatalf("delivery in flight: %v allocations per message", n)
	}
}
