package test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkTLSPubSub measures 128-byte messages from one TLS publisher to
// one TLS subscriber through the server; compare with BenchmarkPlainPubSub.
func BenchmarkTLSPubSub(b *testing.B) {
	e := newTLSEnv(b)
	s, _ := runLoggedServer(b, e.opts())
	benchNatsPubSub(b, connect(b, s, nats.Secure(e.clientTLS())), connect(b, s, nats.Secure(e.clientTLS())))
}

func BenchmarkPlainPubSub(b *testing.B) {
	s := RunServer(b, nil)
	benchNatsPubSub(b, connect(b, s), connect(b, s))
}

func benchNatsPubSub(b *testing.B, pub, sub *nats.Conn) {
	msg := make([]byte, 128)
	got := make(chan struct{})
	n := 0
	sub.Subscribe("bench", func(*nats.Msg) {
		if n++; n == b.N {
			close(got)
		}
	})
	sub.Flush()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pub.Publish("bench", msg)
	}
	pub.Flush()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d", n, b.N)
	}
}

// BenchmarkTLSConnect measures a nats.go connect: TCP, INFO, handshake,
// CONNECT and PING/PONG.
func BenchmarkTLSConnect(b *testing.B) {
	e := newTLSEnv(b)
	s, _ := runLoggedServer(b, e.opts())
	cfg := e.clientTLS()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nc, err := nats.Connect(s.ClientURL(), nats.Secure(cfg))
		if err != nil {
			b.Fatal(err)
		}
		nc.Close()
	}
}
