package test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestPubSub(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	sub, err := nc.SubscribeSync("foo")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	if err := nc.Publish("foo", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "hello" || m.Subject != "foo" {
		t.Fatalf("got %q on %q", m.Data, m.Subject)
	}
}

func TestWildcards(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	star, _ := nc.SubscribeSync("a.*.c")
	full, _ := nc.SubscribeSync("a.>")
	nc.Flush()
	for _, subj := range []string{"a.b.c", "a.x.c", "a.b", "a.b.c.d", "b.b.c"} {
		nc.Publish(subj, []byte(subj))
	}
	nc.Flush()
	expectSubjects(t, star, "a.b.c", "a.x.c")
	expectSubjects(t, full, "a.b.c", "a.x.c", "a.b", "a.b.c.d")
}

func expectSubjects(t *testing.T, sub *nats.Subscription, subjects ...string) {
	t.Helper()
	for _, want := range subjects {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if m.Subject != want {
			t.Fatalf("got %q, want %q", m.Subject, want)
		}
	}
	if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("unexpected extra message on %q", m.Subject)
	}
}

func TestQueueGroupDistribution(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	const members, total = 4, 4000
	var counts [members]atomic.Int64
	var all atomic.Int64
	done := make(chan struct{})
	for i := 0; i < members; i++ {
		i := i
		c := connect(t, s)
		c.QueueSubscribe("work", "q", func(*nats.Msg) {
			counts[i].Add(1)
			if all.Add(1) == total {
				close(done)
			}
		})
		c.Flush()
	}
	// A plain subscriber beside the group gets every message.
	plain, _ := nc.SubscribeSync("work")
	nc.Flush()
	for i := 0; i < total; i++ {
		nc.Publish("work", []byte("x"))
	}
	nc.Flush()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("queue received %d of %d", all.Load(), total)
	}
	for i := range counts {
		// Random choice: each member gets about a quarter; 15% is far
		// beyond any plausible deviation (sigma is about 27 messages).
		if n := counts[i].Load(); n < total/members*85/100 || n > total/members*115/100 {
			t.Fatalf("member %d got %d of %d: not evenly distributed", i, n, total)
		}
	}
	if n, _, _ := plain.Pending(); n != total {
		waitFor(t, 2*time.Second, "plain subscriber", func() bool { n, _, _ := plain.Pending(); return n == total })
	}
	// And exactly once per group: no extra deliveries arrive later.
	nc.Flush()
	if all.Load() != total {
		t.Fatalf("queue group got %d deliveries, want exactly %d", all.Load(), total)
	}
}

func TestRequestReply(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	nc.Subscribe("svc", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	nc.Flush()
	for i := 0; i < 100; i++ {
		req := fmt.Sprintf("q%d", i)
		m, err := nc.Request("svc", []byte(req), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != "re:"+req {
			t.Fatalf("got %q", m.Data)
		}
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync("h")
	nc.Flush()
	m := nats.NewMsg("h")
	m.Header.Set("X-One", "1")
	m.Header.Add("X-Multi", "a")
	m.Header.Add("X-Multi", "b")
	m.Data = []byte("body")
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("X-One") != "1" || len(got.Header.Values("X-Multi")) != 2 || string(got.Data) != "body" {
		t.Fatalf("headers not intact: %v %q", got.Header, got.Data)
	}
}

func TestNoResponders(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	start := time.Now()
	_, err := nc.Request("nobody.home", []byte("x"), 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("expected no responders, got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("no-responders answer should be immediate, not a timeout")
	}
}

func TestAutoUnsubscribe(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	before := s.GlobalAccount().Sublist().Count() // the system imports' subscriptions
	sub, _ := nc.SubscribeSync("n")
	sub.AutoUnsubscribe(3)
	nc.Flush()
	for i := 0; i < 10; i++ {
		nc.Publish("n", []byte("x"))
	}
	nc.Flush()
	for i := 0; i < 3; i++ {
		if _, err := sub.NextMsg(2 * time.Second); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	waitFor(t, 2*time.Second, "subscription removal", func() bool { return s.GlobalAccount().Sublist().Count() == before })
}

func TestEchoOff(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s, nats.NoEcho())
	other := connect(t, s)
	self, _ := nc.SubscribeSync("e")
	theirs, _ := other.SubscribeSync("e")
	nc.Flush()
	other.Flush()
	nc.Publish("e", []byte("x"))
	nc.Flush()
	if _, err := theirs.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("other connection should receive: %v", err)
	}
	if _, err := self.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("echo off: own message delivered")
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	before := s.GlobalAccount().Sublist().Count() // the system imports' subscriptions
	sub, _ := nc.SubscribeSync("u")
	nc.Flush()
	if s.GlobalAccount().Sublist().Count() != before+1 {
		t.Fatalf("subs %d", s.GlobalAccount().Sublist().Count())
	}
	sub.Unsubscribe()
	nc.Flush()
	if s.GlobalAccount().Sublist().Count() != before {
		t.Fatalf("subs after unsubscribe %d", s.GlobalAccount().Sublist().Count())
	}
}

func TestManyConcurrentPublishers(t *testing.T) {
	s := RunServer(t, nil)
	sub := connect(t, s)
	const pubs, each = 8, 2000
	var got atomic.Int64
	done := make(chan struct{})
	sub.Subscribe("load.*", func(*nats.Msg) {
		if got.Add(1) == pubs*each {
			close(done)
		}
	})
	sub.Flush()
	var wg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		nc := connect(t, s)
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				nc.Publish(fmt.Sprintf("load.%d", p), []byte("payload"))
			}
			nc.Flush()
		}(p)
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("received %d of %d", got.Load(), pubs*each)
	}
}

func TestLargePayload(t *testing.T) {
	s := RunServer(t, nil)
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync("big")
	nc.Flush()
	data := make([]byte, 1024*1024)
	for i := range data {
		data[i] = byte(i)
	}
	nc.Publish("big", data)
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		if m.Data[i] != data[i] {
			t.Fatalf("payload differs at %d", i)
		}
	}
}

func TestMaxPayloadRejectedByClient(t *testing.T) {
	o := DefaultTestOptions()
	o.MaxPayload = 1024
	s := RunServer(t, o)
	nc := connect(t, s)
	if nc.MaxPayload() != 1024 {
		t.Fatalf("client sees max payload %d", nc.MaxPayload())
	}
	if err := nc.Publish("x", make([]byte, 2048)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("expected ErrMaxPayload, got %v", err)
	}
}
