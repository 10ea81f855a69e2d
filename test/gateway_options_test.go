package test

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// The gateway block's remaining keys, accepted and refused as the
// reference.
func TestGatewayOptionsConfig(t *testing.T) {
	checkConfigErrors(t, []configCase{
		{`gateway { name: A, port: -1, send_qsub_interest_only_for_all_accounts: true }`, `unknown field "send_qsub_interest_only_for_all_accounts"`},
		{`gateway { name: A, port: -1, write_deadline: "abc" }`, `invalid duration "abc"`},
		{`gateway { name: A, port: -1, connect_backoff: "yes" }`, `connect_backoff`},
	})
	o, err := server.ProcessConfigFile(writeConf(t, t.TempDir(), "ok.conf",
		`gateway { name: A, port: -1, connect_backoff: true, write_deadline: "250ms", connect_retries: 4 }`))
	if err != nil {
		t.Fatal(err)
	}
	if !o.Gateway.ConnectBackoff || o.Gateway.WriteDeadline != 250*time.Millisecond || o.Gateway.ConnectRetries != 4 {
		t.Fatalf("gateway options: %+v", o.Gateway)
	}
}

// With connect_backoff the wait between attempts to reach a cluster
// doubles (1 s, 2 s, 4 s, with jitter down to half): the fourth attempt
// comes at least 2 s after the third, where without it the waits stay
// at most 1 s.
func TestGatewayConnectBackoff(t *testing.T) {
	o := gatewayOptions("a", "A")
	o.Gateway.ConnectBackoff = true
	o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "Z", URLs: []*url.URL{{Scheme: "nats", Host: deadAddr(t)}}}}
	_, l := runLoggedServer(t, o)
	waitFor(t, 10*time.Second, "third attempt", func() bool { return l.find("gateway \"Z\"", "(attempt 3)") != "" })
	third := time.Now()
	waitFor(t, 15*time.Second, "fourth attempt", func() bool { return l.find("gateway \"Z\"", "(attempt 4)") != "" })
	if gap := time.Since(third); gap < 1900*time.Millisecond {
		t.Fatalf("fourth attempt %v after the third, want at least 2s with connect_backoff", gap)
	}
}

// configCase is a configuration and a part of the error refusing it.
type configCase struct{ conf, want string }

// checkConfigErrors expects each configuration to be refused, when parsed
// or when a server is made from it, with an error holding want.
func checkConfigErrors(t *testing.T, cases []configCase) {
	t.Helper()
	dir := t.TempDir()
	for _, tc := range cases {
		o, err := server.ProcessConfigFile(writeConf(t, dir, "case.conf", tc.conf))
		if err == nil {
			_, err = server.NewServer(o)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.conf, err, tc.want)
		}
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// The gateway block's write_deadline bounds writes on gateway connections:
// a cluster that stops reading is cut as a slow consumer once it passes,
// not after the server's 10 s.
func TestGatewayWriteDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := gatewayOptions("a", "A")
	o.Gateway.WriteDeadline = 200 * time.Millisecond
	o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "Z", URLs: []*url.URL{{Scheme: "nats", Host: l.Addr().String()}}}}
	sa, logs := runLoggedServer(t, o)
	// A fake cluster Z: its INFO, then it never reads again.
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := conn.Write([]byte(`INFO {"server_id":"ZZZ","server_name":"z","version":"2.15.2","proto":1,"go":"","host":"127.0.0.1","port":1,"headers":true,"max_payload":1048576,"gateway":"Z","gateway_urls":[],"gateway_url":"127.0.0.1:1"}` + "\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "outbound to Z", func() bool { return sa.NumOutboundGateways() == 1 })
	nc := connect(t, sa)
	payload := make([]byte, 64<<10)
	start := time.Now()
	waitFor(t, 10*time.Second, "slow consumer by write deadline", func() bool {
		for i := 0; i < 16; i++ {
			nc.Publish("flood", payload) // Z's account is optimistic: everything goes
		}
		nc.Flush()
		return logs.find("Slow Consumer Detected: WriteDeadline of 200ms exceeded") != ""
	})
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("cut after %v: the server's write_deadline applied, not the gateway's", d)
	}
}

// Failed connect attempts are logged as the reference logs them: the
// first, then every connect_error_reports-th, at error level, the others
// at debug; once the cluster was reached, every reconnect_error_reports-th
// (each one by default).
func TestGatewayConnectErrorReports(t *testing.T) {
	o := gatewayOptions("a", "A")
	o.ConnectErrorReports = 2
	o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "Z", URLs: []*url.URL{{Scheme: "nats", Host: deadAddr(t)}}}}
	_, l := runLoggedServer(t, o)
	waitFor(t, 10*time.Second, "third attempt", func() bool { return l.find("Error connecting", "(attempt 3)") != "" })
	if l.find("[ERR]", "(attempt 1)") == "" || l.find("[ERR]", "(attempt 2)") == "" || l.find("[ERR]", "(attempt 3)") != "" {
		t.Fatalf("attempts 1 and 2 must be errors, 3 debug: %q %q %q",
			l.find("(attempt 1)"), l.find("(attempt 2)"), l.find("Error connecting", "(attempt 3)"))
	}

	sa := RunServer(t, gatewayOptions("r", "R"))
	ob := gatewayOptions("b", "B")
	ob.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "R", URLs: []*url.URL{gatewayURL(t, sa)}}}
	sb, lb := runLoggedServer(t, ob)
	waitFor(t, 5*time.Second, "B reaches R", func() bool { return sb.NumOutboundGateways() == 1 })
	mark := lb.find("Outbound gateway connection to \"R\"")
	sa.Shutdown()
	// Counted from 1 again, each one an error.
	waitFor(t, 10*time.Second, "reconnect errors", func() bool { return lb.find("[ERR]", "gateway \"R\"", "(attempt 2)") != "" })
	if again := lb.findAfter(mark, "Connecting to explicit gateway \"R\""); !strings.Contains(again, "[INF]") || !strings.Contains(again, "(attempt 1)") {
		t.Fatalf("first reconnect attempt logged as %q, want notice of attempt 1", again)
	}
}
