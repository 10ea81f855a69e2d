package test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// A publisher that outruns a subscriber is held back once the subscriber's
// queue passes 1 MiB, instead of piling the whole burst into server memory.
func TestFastProducerStalledByQueue(t *testing.T) {
	s := RunServer(t, nil)
	sub := dialRaw(t, s)
	sub.conn.(*net.TCPConn).SetReadBuffer(4096)
	sub.send("CONNECT {\"verbose\":false}\r\nSUB burst 1\r\nPING\r\n")
	sub.expect("PONG")

	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\n")
	msg := []byte("PUB burst 1024\r\n" + strings.Repeat("x", 1024) + "\r\n")
	chunk := bytes.Repeat(msg, 64) // about 66 KB per write
	const total = 320              // about 21 MB in all
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			pub.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := pub.conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	// Without the stall the server reads the whole burst in well under a
	// second and queues it all for the subscriber that never reads.
	var maxPending int
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		cz, err := s.Connz(&server.ConnzOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range cz.Conns {
			maxPending = max(maxPending, ci.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if maxPending > 8<<20 {
		t.Fatalf("subscriber queue grew to %d bytes: the publisher was not held back", maxPending)
	}
	if maxPending < 1<<20 {
		t.Fatalf("queue only reached %d bytes: the test did not overrun the subscriber", maxPending)
	}
	pub.conn.Close()
	<-done
}
