package test

import (
	"net/url"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// /gatewayz and /varz's gateway section show the connections with the
// reference's fields: the outbound one configured, the inbound one not,
// each account in interest-only mode with accs=1, gw_name filtering.
func TestGatewayMonitoring(t *testing.T) {
	sa := RunServer(t, gatewayOptions("a", "A"))
	var sb *server.Server
	sb, base := runMonitored(t, func(o *server.Options) {
		*o = *gatewayOptions("b", "B")
		o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
		o.Gateway.Gateways = []*server.RemoteGatewayOpts{{Name: "A", URLs: []*url.URL{gatewayURL(t, sa)}}}
	})
	waitFor(t, 5*time.Second, "gateways", func() bool {
		return sb.NumOutboundGateways() == 1 && sb.NumInboundGateways() == 1
	})
	gz := getMap(t, base+"/gatewayz?accs=1")
	if gz["name"] != "B" || gz["server_id"] != sb.ID() || int(gz["port"].(float64)) != sb.GatewayAddr().Port {
		t.Fatalf("gatewayz header: %v", gz)
	}
	out := gz["outbound_gateways"].(map[string]any)["A"].(map[string]any)
	conn := out["connection"].(map[string]any)
	if out["configured"] != true || conn["kind"] != "Gateway" || conn["name"] != sa.ID() || conn["subscriptions"] == nil {
		t.Fatalf("outbound entry: %v", out)
	}
	accs := out["accounts"].([]any)
	if len(accs) == 0 || accs[0].(map[string]any)["interest_mode"] != "Interest-Only" {
		t.Fatalf("outbound accounts: %v", accs)
	}
	in := gz["inbound_gateways"].(map[string]any)["A"].([]any)
	if len(in) != 1 || in[0].(map[string]any)["configured"] != false {
		t.Fatalf("inbound entries: %v", in)
	}
	if got := getMap(t, base+"/gatewayz?gw_name=Z")["outbound_gateways"].(map[string]any); len(got) != 0 {
		t.Fatalf("gw_name filter kept %v", got)
	}
	if _, ok := getMap(t, base+"/gatewayz")["outbound_gateways"].(map[string]any)["A"].(map[string]any)["accounts"]; ok {
		t.Fatal("accounts listed without accs=1")
	}
	if code, _, _ := get(t, base+"/gatewayz?accs=maybe"); code != 400 {
		t.Fatalf("bad accs: status %d", code)
	}
	v := getMap(t, base+"/varz")["gateway"].(map[string]any)
	gws, _ := v["gateways"].([]any)
	if v["name"] != "B" || len(gws) != 1 || gws[0].(map[string]any)["name"] != "A" {
		t.Fatalf("varz gateway: %v", v)
	}
}
