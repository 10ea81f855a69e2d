package test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// Websocket clients on different servers of a cluster exchange messages
// through the routes like any client.
func TestWebsocketAcrossCluster(t *testing.T) {
	servers := runCluster(t, 2, func(_ int, o *server.Options) {
		o.Websocket = server.WebsocketOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoTLS: true, Compression: true}
	})
	waitMesh(t, servers)
	a := wsConnect(t, wsURL(servers[0]), nats.Compression(true))
	b := wsConnect(t, wsURL(servers[1]))
	sub, err := b.SubscribeSync("across")
	if err != nil {
		t.Fatal(err)
	}
	barrier(t, a, b)
	for i := 0; i < 100; i++ {
		if err := a.Publish("across", make([]byte, i*100)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil || len(m.Data) != i*100 {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}
