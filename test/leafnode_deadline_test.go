package test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// A hub that stops reading: the leaf's writes block, and the leafnodes
// write_deadline (here 300 ms, far below the server's 10 s) closes the
// connection as a slow consumer.
func TestLeafWriteDeadline(t *testing.T) {
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "wd.conf", `leafnodes { write_deadline: "300ms" }`))
	if err != nil || o.LeafNode.WriteDeadline != 300*time.Millisecond {
		t.Fatalf("parsed %v %v", err, o.LeafNode.WriteDeadline)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	leaf := leafOf(t, l.Addr().(*net.TCPAddr).Port, "", "", func(o *server.Options) {
		o.LeafNode.WriteDeadline = 300 * time.Millisecond
		o.LeafNode.ReconnectDelay = time.Hour // one connection to watch
	})
	hub, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	hub.SetDeadline(time.Now().Add(10 * time.Second))
	info := `INFO {"server_id":"NFAKEHUB","server_name":"fake","version":"2.15.2","proto":3,"headers":true,"auth_required":true,"max_payload":1048576,"nonce":"abc","compression":"off","client_id":1}` + " \r\n"
	hub.Write([]byte(info))
	br := bufio.NewReader(hub)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "CONNECT ") {
		t.Fatalf("expected CONNECT, got %q %v", line, err)
	}
	hub.Write([]byte(strings.Replace(info, `"nonce":"abc"`, `"connect_info":true`, 1) + "LS+ big\r\n"))
	waitLeafs(t, 1, leaf)
	waitLeafSub(t, leaf, "big") // the fake hub's interest
	// From now on the hub reads nothing: 32 MB fill the socket buffers.
	nc := connect(t, leaf)
	payload := make([]byte, 512<<10)
	start := time.Now()
	for i := 0; i < 64; i++ {
		nc.Publish("big", payload)
	}
	flushed(t, nc)
	waitFor(t, 8*time.Second, "the leaf connection closed by its write deadline", func() bool { return leaf.NumLeafNodes() == 0 })
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("closed after %v: the 300 ms write deadline was not applied", took)
	}
}
