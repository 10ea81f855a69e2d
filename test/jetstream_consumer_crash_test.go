package test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// kill -9 of the binary while a durable consumer is being worked: no
// message acknowledged with an answer (AckSync) comes back, and every
// message not acknowledged does. With a key, the consumer's files hold no
// plain text of its config.
func TestJetStreamConsumerBinaryKill9(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	store := filepath.Join(dir, "store")
	conf := jsConf(t, dir, port, fmt.Sprintf("store_dir: %q, key: \"consumer-key\"", store))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, js := startJSBin(t, conf, port)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 1; i <= n; i++ {
		if _, err := js.Publish(ctx, "s", []byte(fmt.Sprintf("plain-message-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "SECRETDURABLE",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 500 * time.Millisecond, FilterSubject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	b, err := c.Fetch(120, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for m := range b.Messages() {
		i++
		switch {
		case i%3 == 0:
			m.Ack() // not answered: may come back
		case i%3 == 1:
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			acked[string(m.Data())] = true
		}
	}
	if i != 120 {
		t.Fatalf("fetched %d", i)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(5 * time.Second)
	if at := fsPlaintextAt(store, "SECRETDURABLE", "ack_policy", "plain-message-17"); at != "" {
		t.Fatal("plain text in the encrypted store:", at)
	}

	p, js = startJSBin(t, conf, port)
	c, err = js.Consumer(ctx, "S", "SECRETDURABLE")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for round := 0; round < 10; round++ {
		b, err := c.Fetch(100, jetstream.FetchMaxWait(700*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range b.Messages() {
			got++
			if acked[string(m.Data())] {
				t.Fatalf("%s was acknowledged with an answer before the crash, delivered again", m.Data())
			}
			seen[string(m.Data())] = true
			m.DoubleAck(ctx)
		}
		if got == 0 {
			break // nothing left, not even after an ack wait
		}
	}
	for i := 1; i <= n; i++ {
		k := fmt.Sprintf("plain-message-%d", i)
		if !acked[k] && !seen[k] {
			// An unanswered ack may have been saved: only m%3==0 may be missing.
			if idx := i; idx > 120 || idx%3 != 0 {
				t.Fatalf("%s lost", k)
			}
		}
	}
	stopBin(t, p)
}
