package test

import (
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// TestHealthzAsSoonAsClientsAreAccepted starts servers over and over and
// probes them the moment the client port listens: a server that accepts
// clients is running, and /healthz says so.
func TestHealthzAsSoonAsClientsAreAccepted(t *testing.T) {
	for i := 0; i < 20; i++ {
		o := DefaultTestOptions()
		o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		var addr net.Addr
		deadline := time.Now().Add(5 * time.Second)
		for addr = s.Addr(); addr == nil; addr = s.Addr() {
			if time.Now().After(deadline) {
				t.Fatal("the client port never listened")
			}
		}
		running := s.Running()
		resp, err := http.Get(monitorURL(s) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.Shutdown()
		if !running || resp.StatusCode != http.StatusOK {
			t.Fatalf("start %d: listening on %s, Running() %v, /healthz %s", i, addr, running, resp.Status)
		}
	}
}

// TestBinaryHealthzWhenPortOpens is the Kubernetes view: a probe sent as
// soon as the client port takes a TCP connection is answered 200.
func TestBinaryHealthzWhenPortOpens(t *testing.T) {
	for i := 0; i < 3; i++ {
		port, mport := freePort(t), freePort(t)
		p := startBin(t, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport))
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client port never opened: %s", p.output())
			}
			time.Sleep(time.Millisecond)
		}
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(mport) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.waitExit(5 * time.Second)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("run %d: /healthz %s right after the client port opened", i, resp.Status)
		}
	}
}
