package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
)

// BenchmarkMQTTPublish runs the same MQTT workload against our binary and
// the reference's, side by side: one paho publisher at QoS 0, 1 or 2 (QoS
// 1 waits for every PUBACK, QoS 2 for every PUBCOMP, at most 1000 in
// flight) and one NATS subscriber
// that must receive them all. Compare the msgs/s of the pairs, for example
// with -benchtime=50000x -count=3.
func BenchmarkMQTTPublish(b *testing.B) {
	bins := []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}}
	for _, qos := range []byte{0, 1, 2} {
		for _, bin := range bins {
			if bin.path == "" {
				continue
			}
			b.Run(fmt.Sprintf("qos=%d/%s", qos, bin.name), func(b *testing.B) {
				benchMQTTBinary(b, bin.path, qos)
			})
		}
	}
}

// startMQTTBinary runs bin with JetStream and an MQTT listener and returns
// its NATS and MQTT addresses; the process is killed by pid at the end.
func startMQTTBinary(b *testing.B, bin string) (natsURL, mqttURL string) {
	b.Helper()
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	dir := b.TempDir()
	conf := filepath.Join(dir, "mqtt.conf")
	body := fmt.Sprintf("server_name: bench\nlisten: \"127.0.0.1:%d\"\njetstream { store_dir: %q }\nmqtt { listen: \"127.0.0.1:%d\" }\n",
		ports[0], filepath.ToSlash(filepath.Join(dir, "js")), ports[1])
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[1]), time.Second)
		if err == nil {
			c.Close()
			return fmt.Sprintf("nats://127.0.0.1:%d", ports[0]), fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not listen: %v", bin, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func benchMQTTBinary(b *testing.B, bin string, qos byte) {
	natsURL, url := startMQTTBinary(b, bin)
	sub, err := nats.Connect(natsURL, nats.NoReconnect())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var got atomic.Int64
	n := int64(b.N)
	done := make(chan struct{})
	s, err := sub.Subscribe("bench.mqtt", func(*nats.Msg) {
		if got.Add(1) == n {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	_ = s.SetPendingLimits(-1, -1)
	_ = sub.Flush()
	pub := mqttBenchClient(b, url, "bench-pub")
	mqttBenchRun(b, pub, qos, qos == 0, &got, done, sub)
}

// mqttBenchRun publishes b.N messages of 128 bytes at qos on bench/mqtt,
// at most 1000 waiting for their acknowledgement and, with ahead set, at
// most 5000 ahead of the receiver (a QoS 0 publisher is not slowed down
// by acknowledgements), and reports msgs/s once got reached b.N (done
// closed). mon is the NATS connection waitWindow reports on.
func mqttBenchRun(b *testing.B, pub mqtt.Client, qos byte, ahead bool, got *atomic.Int64, done chan struct{}, mon *nats.Conn) {
	n := int64(b.N)
	payload := make([]byte, 128)
	const window = 1000
	toks := make([]mqtt.Token, 0, window)
	wait := func() {
		for _, t := range toks {
			if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
				b.Fatalf("publish: %v", t.Error())
			}
		}
		toks = toks[:0]
	}
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	for i := int64(0); i < n; i++ {
		if ahead {
			waitWindow(b, got, i-5000, mon)
		}
		toks = append(toks, pub.Publish("bench/mqtt", qos, false, payload))
		if len(toks) == window {
			wait()
		}
	}
	wait()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("received %d of %d", got.Load(), n)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkMQTTPubSub is BenchmarkMQTTPublish with an MQTT subscriber
// (paho, clean session, subscribed at the publisher's QoS) in place of the
// NATS one: what MQTT clients see end to end, the stored QoS 1/2 messages
// delivered by the subscription's consumer and acknowledged by PUBACK
// (QoS 2: PUBREC/PUBREL/PUBCOMP).
func BenchmarkMQTTPubSub(b *testing.B) {
	bins := []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}}
	for _, qos := range []byte{0, 1} {
		for _, bin := range bins {
			if bin.path == "" {
				continue
			}
			b.Run(fmt.Sprintf("qos=%d/%s", qos, bin.name), func(b *testing.B) {
				benchMQTTPubSub(b, bin.path, qos)
			})
		}
	}
}

// mqttBenchClient connects a paho 3.1.1 client with a clean session.
func mqttBenchClient(b *testing.B, url, id string) mqtt.Client {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetProtocolVersion(4).SetWriteTimeout(10 * time.Second).SetOrderMatters(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s: %v", id, tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(0) })
	return c
}

func benchMQTTPubSub(b *testing.B, bin string, qos byte) {
	natsURL, url := startMQTTBinary(b, bin)
	mon, err := nats.Connect(natsURL, nats.NoReconnect()) // for waitWindow's report only
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close()
	var got atomic.Int64
	n := int64(b.N)
	done := make(chan struct{})
	sub := mqttBenchClient(b, url, "bench-sub")
	if tok := sub.Subscribe("bench/mqtt", qos, func(mqtt.Client, mqtt.Message) {
		if got.Add(1) == n {
			close(done)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := mqttBenchClient(b, url, "bench-pub")
	mqttBenchRun(b, pub, qos, true, &got, done, mon)
}
